#!/usr/bin/env bash
# A folder whose messages each carry their own keyword set: past 1 MiB of distinct sets
# (KWSET_CAP, docs/design.md "Message files") the keywords of further messages are not kept, with
# one warning naming the account and the folder; the run exits 0 and the mirror is exact (every
# file, every flag); the state records every message, those within the cap with their keywords,
# and push carries them. Before, each message's keywords were held in full, in the state, the
# server's view and push: memory grew with the mailbox (152 MB for 20,000 messages of 3.9 KB).
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
N=800
seed append --folder INBOX --seed 93 --count $N
# 31 keywords of 50 bytes (Dovecot's longest) per message, A_j or B_j by bit j of the UID: every
# set differs, ~1.6 KB each, so about 650 fit in 1 MiB; the first three carry ordinary ones
python3 - "$DC/env" "$N" <<'PY' >>"$T/seed.log" 2>&1 || fail "storing the keywords failed"
import sys, dcimap
c = dcimap.login()
typ, _ = c.select("INBOX")
assert typ == "OK"
n = int(sys.argv[2])
def kw(t, j):
    s = "%s%d_" % (t, j)
    return s + "x" * (50 - len(s))
for u in range(1, n + 1):
    ks = "Work $label1" if u <= 3 else " ".join(kw("A" if (u >> j) & 1 else "B", j) for j in range(31))
    typ, data = c.uid("STORE", str(u), "+FLAGS.SILENT", "(" + ks + ")")
    assert typ == "OK", data
c.logout()
PY
cfg=$T/config.yaml
cfg_alice_bob "$cfg"
A=$T/mail/alice
st=$A/INBOX/.mailkeep-state

# the first run warns once; the second, with nothing changed, reads no more than the state's header
for run in 1 2; do
	mk -c "$cfg" sync alice
	expect_rc 0 "sync $run of a folder past the keyword cap"
	want=1
	[ $run = 2 ] && want=0
	check '[ "$(grep -c "keyword sets pass" "$MK_ERR")" = $want ]' \
		"sync $run: not $want warning about the keywords: $(grep -c 'keyword sets pass' "$MK_ERR")"
	[ $run = 1 ] && check 'grep -q "account alice: folder \"INBOX\": its distinct keyword sets pass 1024 KiB: the messages past them are recorded without keywords" "$MK_ERR"' \
		"sync $run: the warning does not name the account and folder: $(grep -m1 'keyword' "$MK_ERR")"
	exact "$A"
	check '[ "$(grep -c "^m " "$st")" = $N ]' "sync $run: the state does not list every message: $(grep -c '^m ' "$st")"
	check 'grep -q "^m 1 [A-Z-]* [0-9-]* .*\\\$label1" "$st" && grep -q "^m 1 .*Work" "$st"' \
		"sync $run: UID 1's keywords not in the state: $(grep '^m 1 ' "$st")"
	check 'grep -q "^m $N [A-Z-]* [0-9-]*\$" "$st"' "sync $run: UID $N past the cap recorded with keywords: $(grep "^m $N " "$st" | cut -c1-80)"
	kept=$(grep -c '^m .* A0_\|^m .* B0_' "$st")
	check '[ "$kept" -gt 500 ] && [ "$kept" -lt 700 ]' "sync $run: $kept messages kept their long keywords, not about 650"
done

# push: every message arrives, those with keywords in the state with them
mk -c "$cfg" push alice bob
expect_rc 0 "push of the folder past the keyword cap"
python3 - "$DC/env" "$N" <<'PY' >"$T/bob.out" 2>&1 || fail "bob's INBOX: $(tail -n 1 "$T/bob.out")"
import sys, dcimap
c = dcimap.login(2)
typ, data = c.select("INBOX")
assert typ == "OK" and int(data[0]) == int(sys.argv[2]), ("messages on bob", data)
typ, data = c.uid("SEARCH", None, "KEYWORD", "Work")
assert len(data[0].split()) == 3, ("messages with Work on bob", data)
typ, data = c.uid("SEARCH", None, "OR", "KEYWORD", "A4_" + "x" * 47, "KEYWORD", "B4_" + "x" * 47)
got = len(data[0].split())
assert 500 < got < 700, ("messages with their long keywords on bob", got)
c.logout()
PY
t_pass
