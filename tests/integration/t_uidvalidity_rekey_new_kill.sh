#!/usr/bin/env bash
# A folder re-keyed with a message more on the server, whose new UID is below the state's messages'
# (Dovecot renumbering INBOX, its uid list and indexes deleted, a file of an earlier name added), on
# each incremental path (QRESYNC, CONDSTORE alone, neither): the run killed just after the re-key
# (the record removed: the re-keyed state saved with the server's UIDNEXT, the new message not yet
# downloaded), then a run that is not killed downloads it: the mirror exact, the state's messages
# the same files (inodes) as before.
. "$(dirname "$0")/lib.sh"
t_begin
command -v cc >/dev/null || fail "cc is not installed"
SO=$T/crash_inject.so
cc -std=c11 -O2 -Wall -Wextra -Werror -shared -fPIC -o "$SO" "$LIB_DIR/crash_inject.c" -ldl 2>"$T/cc.err" ||
	fail "cannot build the shim: $(head -n 1 "$T/cc.err")"
PRELOAD=$SO
asan=$(ldd "$MAILKEEP" 2>/dev/null | awk '/libasan/ { print $3; exit }')
[ -n "$asan" ] && PRELOAD="$asan $SO"
inodes() { (cd "$1/cur" && find . -type f -printf '%i %m %T@\n' | sort); }

for mode in qresync condstore full; do
	path_account "$mode" 7 6
	inodes "$A/INBOX" >"$T/before"
	n=$(wc -l <"$T/before")
	check '[ "$n" -gt 1 ]' "$mode: INBOX holds fewer than 2 messages"
	# a message more, named before the others (its UID the lowest once Dovecot renumbers)
	srv=$DC/mail/alice
	first=$(cd "$srv/cur" && ls | sort | head -n 1)
	ts=${first%%.*}
	new=$srv/cur/$((ts - 100)).M1P1.interleaved:2,
	{ printf 'Message-ID: <interleaved-%s@example.org>\nSubject: delivered since\n\n' "$mode"
	  printf 'a body of its own\n'; } >"$new"
	rm -f "$srv"/dovecot-uidlist "$srv"/dovecot.index*
	rm -rf "$T/save" && cp -a "$A" "$T/save"

	# unlink calls alone counted: the other folders' calls (unchanged) do not shift the count
	inj() {
		(timeout -k 5 "$MK_TIMEOUT" env MK_INJ_N="$1" MK_INJ_AFTER=1 MK_INJ_ONLY=unlink MK_INJ_LOG="${2:-}" \
			LD_PRELOAD="$PRELOAD" "$MAILKEEP" -v -c "$cfg" sync </dev/null >"$T/inj.out" 2>"$T/inj.err"
		 exit $?) 2>/dev/null
		INJ_RC=$?
	}
	rm -f "$T/count.log"
	inj 0 "$T/count.log"
	check '[ "$INJ_RC" = 0 ]' "$mode: the counting run failed ($INJ_RC): $(head -n 2 "$T/inj.err")"
	check 'grep -q "folder \"INBOX\": re-keyed $n messages" "$T/inj.err"' \
		"$mode: INBOX not re-keyed: $(grep -m1 'folder "INBOX"' "$T/inj.err")"
	check 'grep -q "folder \"INBOX\" (full): 1 new" "$T/inj.err"' \
		"$mode: not 1 new: $(grep 'folder "INBOX" (' "$T/inj.err")"
	k=$(grep -E "^[0-9]+ unlink[a-z]* $A/INBOX/\.mailkeep-rekey$" "$T/count.log" | tail -n 1 | cut -d' ' -f1)
	check '[ -n "$k" ]' "$mode: cannot find the record's removal in the shim's log"

	rm -rf "$A" && cp -a "$T/save" "$A"
	inodes "$A/INBOX" >"$T/before" # the copy's
	inj "$k"
	check '[ "$INJ_RC" = 137 ]' "$mode: the run was not killed at call $k ($INJ_RC): $(head -n 2 "$T/inj.err")"
	check 'grep -q "^uidnext " "$A/INBOX/.mailkeep-state" && [ ! -e "$A/INBOX/.mailkeep-rekey" ]' \
		"$mode: the kill did not come after the re-key"
	check '[ "$(ls "$A/INBOX/cur" | wc -l)" = "$n" ]' "$mode: killed after the re-key, yet the new message is there"
	mk -v -c "$cfg" sync
	expect_rc 0 "$mode: the run after the kill"
	exact "$A"
	check '[ "$(ls "$A/INBOX/cur" | wc -l)" = $((n + 1)) ]' "$mode: INBOX: not the $n messages and the new one"
	check 'grep -rlq "interleaved-$mode@example.org" "$A/INBOX/cur"' "$mode: the new message was not downloaded"
	inodes "$A/INBOX" >"$T/after"
	check '[ -z "$(comm -23 "$T/before" "$T/after")" ]' "$mode: the state's messages are not the same files"
	check '[ -z "$(find "$A/.mailkeep" -maxdepth 1 -name "uidvalidity-*")" ]' "$mode: moved aside"
	dc_down
done
t_pass
