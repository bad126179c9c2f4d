#!/usr/bin/env bash
# Message contents at their edges, put on a real Dovecot byte for byte (body_edges.py: bare LF, bare
# CR, mixed, CR CR LF, NUL, 8-bit headers, no final newline, one byte, a header alone, a 1 MB line,
# CRLF across 4 KiB and 64 KiB offsets, IMAP look-alike literals, mbox "From " lines, 20 MB), every
# combination of \Draft \Flagged $Forwarded \Answered \Seen \Deleted, odd dates and time zones
# (before 1970 too), odd keywords ("[x", "a[b", "!#&'"...) and 50 keywords on one message.
# Each file is BODY[] with CRLF -> LF, named with the sorted DFPRST letters, dated INTERNALDATE,
# 0600 in 0700 directories; flag changes rename, expunges remove; a push to bob gives messages equal
# to alice's (bytes, flags, keywords, INTERNALDATE); notmuch and mblaze read every file.
. "$(dirname "$0")/lib.sh"
t_begin
EDGES=$LIB_DIR/body_edges.py
dc_up
python3 "$EDGES" seed "$DC/env" >"$T/seed.out" 2>&1 || fail "seeding the edge messages failed: $(tail -n 1 "$T/seed.out")"
cfg=$T/config.yaml
cfg_alice_bob "$cfg"
A=$T/mail/alice

# edges WHAT ARGS...: body_edges.py mirror|push, failing the test on a difference
edges() {
	local what=$1
	shift
	CHECKS=$((CHECKS + 1))
	if ! python3 "$EDGES" "$@" >"$T/edges.out" 2>&1; then
		sed 's/^/#   /' "$T/edges.out" | head -n 20 >&2
		fail "$what: $(head -n 1 "$T/edges.out")"
	fi
}

# the first sync: before anything else has read the messages' dates (see true_date() in body_edges.py)
mk -c "$cfg" sync alice
expect_rc 0 "first sync"
edges "first sync: mirror differs from the server" mirror "$DC/env" "$A"
# compare.py as well; Dates excepted: Dovecot sends its dates before 1970 as they are only once
exact "$A" --ignore-local Dates
check '[ "$(find "$A" -path "$A/.mailkeep" -prune -o -type f -path "*/cur/*" ! -perm 0600 -print | wc -l)" -eq 0 ]' \
	"a message file is not 0600"
f=$(file_for "$A" Dates 10)
check '[ -n "$f" ] && [ "$(stat -c %Y "$f")" -lt 0 ]' "the message dated 1960 has mtime $(stat -c %Y "$f" 2>/dev/null)"
check 'grep -q "^m 6 - [0-9-]* \[x$" "$A/Kw/.mailkeep-state"' "the keyword [x is not in Kw's state"
check 'grep -q "^m 19 F [0-9]* kw00 kw01 .* kw49$" "$A/Kw/.mailkeep-state"' "the 50 keywords are not all in Kw's state"
big=$(file_for "$A" Big 1)
check '[ -n "$big" ] && [ "$(stat -c %s "$big")" -gt 20000000 ]' "the 20 MB message is not there whole"

# nothing changed: nothing moves
inode_list "$A" >"$T/inodes0"
mk -c "$cfg" sync alice
expect_rc 0 "no-op sync"
inode_list "$A" >"$T/inodes1"
inode_expect "$T/inodes0" "$T/inodes1"

# flag and keyword changes, expunges, a new message: renames and removals only
python3 "$EDGES" change "$DC/env" 1 >"$T/change.out" 2>&1 || fail "changes on alice failed: $(tail -n 1 "$T/change.out")"
mk -c "$cfg" sync alice
expect_rc 0 "sync after changes"
edges "sync after changes: mirror differs from the server" mirror "$DC/env" "$A"
inode_list "$A" >"$T/inodes2"
inode_expect "$T/inodes1" "$T/inodes2" "renamed Edges *" "gone Edges 15" "gone Edges 20" "new Edges 23" \
	"gone Sizes 7" "renamed Sizes *" "renamed Flags *" "renamed Kw 6"
check '[ -z "$(file_for "$A" Edges 15)" ] && [ -n "$(file_for "$A" Edges 17)" ]' "expunges not mirrored"

# push to bob: the same messages, bytes, flags, keywords and dates
mk -c "$cfg" -v push alice bob
expect_rc 0 "push"
check 'grep -q "push alice -> bob: 7 folders (6 created, 0 failed), 135 messages appended" "$MK_ERR"' \
	"push summary: $(grep -m1 'push alice -> bob: [0-9]* folders' "$MK_ERR")"
edges "push: bob differs from alice" push "$DC/env" alice bob

# more changes: sync and push carry them, nothing is appended twice
python3 "$EDGES" change "$DC/env" 2 >"$T/change.out" 2>&1 || fail "changes on alice failed: $(tail -n 1 "$T/change.out")"
mk -c "$cfg" sync alice
expect_rc 0 "second sync after changes"
edges "second sync after changes: mirror differs from the server" mirror "$DC/env" "$A"
mk -c "$cfg" -v push alice bob
expect_rc 0 "second push"
check 'grep -q "push alice -> bob: .* 1 messages appended .* 0 failed" "$MK_ERR"' \
	"second push summary: $(grep -m1 'push alice -> bob: [0-9]* folders' "$MK_ERR")"
edges "second push: bob differs from alice" push "$DC/env" alice bob
mk -c "$cfg" -v push alice bob
expect_rc 0 "third push"
check 'grep -q "0 messages appended (0 bytes), 0 already there, 0 flag updates" "$MK_ERR"' "a third push did something"
# the push state lost: every message is found on bob by its header digest and size (no Message-ID,
# no header end, identical bodies with other dates...), none is appended again
rm -rf "$A/.mailkeep/push/bob"
mk -c "$cfg" -v push alice bob
expect_rc 0 "push without push state"
check 'grep -q "push alice -> bob: .* 0 messages appended (0 bytes), 136 already there, 0 flag updates" "$MK_ERR"' \
	"push without push state: $(grep -m1 'push alice -> bob: [0-9]* folders' "$MK_ERR")"
edges "push without push state: bob differs from alice" push "$DC/env" alice bob

# mail readers read every file
total=$(find "$A" -path "$A/.mailkeep" -prune -o -type f -path '*/cur/*' -print | wc -l)
if command -v notmuch >/dev/null; then
	export NOTMUCH_CONFIG=$T/notmuch-config
	printf '[database]\npath=%s\n[new]\ntags=unread;\nignore=.mailkeep-state;.mailkeep\n[maildir]\nsynchronize_flags=true\n' \
		"$A" >"$NOTMUCH_CONFIG"
	notmuch new >"$T/nm.out" 2>&1 || fail "notmuch new failed: $(tail -n 2 "$T/nm.out")"
	# what notmuch (GMime) does not take for mail: "x", "\n", "\n\n\n\n" and a file that starts
	# with an mbox "From " line; the mirror holds exactly what the server has there
	skipped=$(sed -n 's/^Note: Ignoring non-mail file: .*\/\([^/]*\)\/cur\/.*,U=\([0-9]*\):2,.*/\1 \2/p' "$T/nm.out" | sort | tr '\n' ' ')
	check '[ "$skipped" = "Edges 10 Edges 11 Edges 19 Edges 21 " ]' "notmuch skipped other files: $skipped"
	nm=$(notmuch count --output=files '*')
	check '[ "$nm" -eq $((total - 4)) ]' "notmuch indexed $nm files, the mirror has $total"
fi
if command -v mlist >/dev/null; then
	n=0
	for d in "$A"/*/; do n=$((n + $(mlist "$d" | wc -l))); done
	check '[ "$n" -eq "$total" ]' "mblaze lists $n messages, the mirror has $total"
	for u in 1 2 10 13 18 19; do
		f=$(file_for "$A" Edges $u)
		[ -n "$f" ] || continue
		mshow -t "$f" >/dev/null 2>"$T/mshow.err" || fail "mshow -t cannot read Edges UID $u: $(head -n 1 "$T/mshow.err")"
	done
fi
if command -v neomutt >/dev/null && command -v script >/dev/null; then
	# neomutt opens each folder (on a pseudo-terminal) and counts all its messages and the flagged ones.
	# Its folder is the mirror: with the default, ~/Mail, missing, it asks whether to create it and
	# waits for an answer (a machine without /root/Mail failed the test after 30 s)
	printf '%s\n' "set folder=$A" "set mbox_type=Maildir" >"$T/neomuttrc"
	for d in Edges Sizes Kw; do
		n=$(find "$A/$d/cur" -type f | wc -l)
		nf=$(find "$A/$d/cur" -type f -name '*:2,*F*' | wc -l)
		TERM=xterm timeout 30 script -qec "stty cols 250 rows 60; neomutt -n -F '$T/neomuttrc' -R -f '$A/$d' -e 'push <quit>'" /dev/null \
			</dev/null >"$T/neomutt.$d" 2>&1 || fail "neomutt could not open $d: $(tail -c 200 "$T/neomutt.$d")"
		st=$(grep -ao '\[Msgs:[^]]*\]' "$T/neomutt.$d" | tail -n 1)
		got_n=$(sed -n 's/.*Msgs:\([0-9]*\).*/\1/p' <<<"$st")
		got_f=$(sed -n 's/.*Flag:\([0-9]*\).*/\1/p' <<<"$st")
		check '[ "$got_n" = "$n" ] && [ "${got_f:-0}" = "$nf" ]' "neomutt shows $st for $d: $n messages, $nf flagged expected"
	done
fi
t_pass
