#!/usr/bin/env bash
# A run killed while it re-keys a folder whose UIDVALIDITY changed (its messages kept), at every call
# from the writing of the record (.mailkeep-rekey) to the fsync after its removal (crash_inject.c),
# then a run that is not killed: the mirror exact, every message the same file as before the change
# (same inode as the copy the killed run began with: nothing downloaded, nothing lost, no duplicate), nothing moved aside, no record left.
. "$(dirname "$0")/lib.sh"
t_begin
uv_setup --inbox
preload_shims crash_inject
uv_first_sync
inodes() { (cd "$1/cur" && find . -type f -printf '%i %m %T@\n' | sort); }
inodes "$A/INBOX" >"$T/before"
check '[ "$(wc -l <"$T/before")" -gt 1 ]' "INBOX holds fewer than 2 messages"
dadm mailbox update -u alice --uid-validity 777 INBOX
rm -rf "$T/save" && cp -a "$A" "$T/save"

inj_sync 0 "" "$T/count.log"
check '[ "$INJ_RC" = 0 ]' "the counting run failed ($INJ_RC): $(head -n 2 "$T/inj.err")"
# from the record's temporary file to its removal, and the two calls after (the fsync of the folder)
first=$(grep -m1 -E "^[0-9]+ open[a-z0-9]* $A/INBOX/\.mailkeep-rekey\.tmp$" "$T/count.log" | cut -d' ' -f1)
last=$(grep -E "^[0-9]+ unlink[a-z]* $A/INBOX/\.mailkeep-rekey$" "$T/count.log" | tail -n 1 | cut -d' ' -f1)
check '[ -n "$first" ] && [ -n "$last" ] && [ "$first" -lt "$last" ]' \
	"cannot find the re-key in the shim's log: first=$first last=$last"

n=0
for ((k = first; k <= last + 2; k++)); do
	for when in before after; do
		rm -rf "$A" && cp -a "$T/save" "$A"
		inodes "$A/INBOX" >"$T/before" # the copy's
		inj_sync "$k" "$when"
		[ "$INJ_RC" = 137 ] || [ "$INJ_RC" = 0 ] || fail "call $k ($when): exit $INJ_RC: $(head -n 2 "$T/inj.err")"
		mk -c "$cfg" sync
		expect_rc 0 "the run after a kill at call $k ($when)"
		exact "$A" --folders-excluded "${others[@]}"
		inodes "$A/INBOX" >"$T/after"
		check 'cmp -s "$T/before" "$T/after"' \
			"kill at call $k ($when): INBOX's files are not those of before: $(diff "$T/before" "$T/after" | head -n 3 | tr '\n' ' ')"
		check '[ -z "$(find "$A" -name ".mailkeep-rekey*")" ]' "kill at call $k ($when): a record is left"
		check '[ -z "$(find "$A/.mailkeep" -maxdepth 1 -name "uidvalidity-*")" ]' "kill at call $k ($when): moved aside"
		check '[ -z "$(tmp_files "$A/INBOX")" ]' "kill at call $k ($when): left in tmp/: $(tmp_files "$A/INBOX" | head -n 1)"
		n=$((n + 1))
	done
done
echo "# $n kills from call $first to $((last + 2))"

# a malformed record: warned about and removed, then the folder re-keyed as usual (the files are
# checked against the server again, not taken from the record)
rm -rf "$A" && cp -a "$T/save" "$A"
inodes "$A/INBOX" >"$T/before"
printf 'mailkeep-rekey 1\nfrom 1\n' >"$A/INBOX/.mailkeep-rekey"
mk -v -c "$cfg" sync
expect_rc 0 "the run with a malformed record"
exact "$A" --folders-excluded "${others[@]}"
check 'grep -q "warning: account alice: folder \"INBOX\": .*\.mailkeep-rekey: malformed header; removed" "$MK_ERR"' \
	"no warning naming the folder and the record: $(grep -m1 rekey "$MK_ERR")"
check '[ ! -e "$A/INBOX/.mailkeep-rekey" ]' "the malformed record is left"
check 'grep -q "re-keyed" "$MK_ERR"' "not re-keyed after the malformed record"
inodes "$A/INBOX" >"$T/after"
check 'cmp -s "$T/before" "$T/after"' "after the malformed record: INBOX's files are not those of before"
t_pass
