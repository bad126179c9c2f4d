#!/usr/bin/env bash
# A folder whose messages each carry their own keyword set: past 1 MiB of distinct sets
# (KWSET_CAP, docs/design.md "Message files") the keywords of further messages are not kept, with
# one warning naming the account and the folder; the run exits 0 and the mirror is exact (every
# file, every flag); the state records every message, those within the cap with their keywords,
# and push carries them. Before, each message's keywords were held in full, in the state, the
# server's view and push: memory grew with the mailbox (152 MB for 20,000 messages of 3.9 KB).
# The state of such a folder says so (keywords-capped), until a run gets every message's keywords
# whole from the server; push then never removes a keyword from a target copy, as the state's
# missing keyword is no removal on the source (before, it removed keywords the source server has),
# while system flags stay exact and a folder within the cap (Small) still gets its removals.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
N=800
seed append --folder INBOX --seed 93 --count $N
seed append --folder Small --seed 94 --count 2
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
dadm flags remove -u alice '\Flagged' mailbox INBOX uid $N # for the push below
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
	check '[ "$(grep -c "^keywords-capped 1\$" "$st")" = 1 ]' "sync $run: the state does not say it is capped"
	check '! grep -q "^keywords-capped" "$A/Small/.mailkeep-state"' "sync $run: Small's state says it is capped"
done
# status and verify read a capped state as any other
mk -c "$cfg" status alice
expect_rc 0 "status of a capped folder"
mk -c "$cfg" verify alice
expect_rc 0 "verify of a capped folder"

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

# As if an earlier push had set on bob UID N's keyword B0_ (alice's server has it, the capped state
# not) and \Flagged (which alice's UID N lacks), and Small's UID 1 the keyword Gone1, which the
# mirror no longer has: their push states say so, and bob's copies have them
ps=$A/.mailkeep/push/bob
tgt_uid() { awk -v u="$2" '$1 == "m" && $3 == u { print $4 }' "$1"; }
tn=$(tgt_uid "$ps/INBOX/.push-state" $N)
ts=$(tgt_uid "$ps/Small/.push-state" 1)
[ -n "$tn" ] && [ -n "$ts" ] || fail "no push state entries for INBOX UID $N and Small UID 1"
KB0=B0_$(printf 'x%.0s' $(seq 1 47))
set_entry() { # FILE UID FLAGS KEYWORDS: the entry of source UID in FILE set to those
	awk -v u="$2" -v f="$3" -v k="$4" '$1 == "m" && $3 == u { $5 = f; NF = 5; $0 = $0 " " k } { print }' \
		"$1" >"$1.new" && mv "$1.new" "$1"
}
set_entry "$ps/INBOX/.push-state" $N F "$KB0"
set_entry "$ps/Small/.push-state" 1 "$(awk '$1 == "m" && $3 == 1 { print $5 }' "$ps/Small/.push-state")" Gone1
grep -q "^m [0-9]* $N $tn F $KB0\$" "$ps/INBOX/.push-state" || fail "cannot edit INBOX's push state"
grep -q "^m [0-9]* 1 $ts .* Gone1\$" "$ps/Small/.push-state" || fail "cannot edit Small's push state"
dadm flags add -u bob "\\Flagged $KB0" mailbox INBOX uid "$tn"
dadm flags add -u bob Gone1 mailbox Small uid "$ts"
mk -c "$cfg" -v push alice bob
expect_rc 0 "push over the copies with keywords"
fl=$(bob_flags INBOX "$tn")
check 'grep -q "$KB0" <<<"$fl"' "a keyword alice's server has was removed from bob's copy of UID $N: $fl"
check '! grep -q "Flagged" <<<"$fl"' "bob's copy of UID $N kept \\Flagged, which alice's lacks: $fl"
fl=$(bob_flags Small "$ts")
check '! grep -q "Gone1" <<<"$fl"' "Gone1, removed in the mirror of Small, stayed on bob: $fl"
mk -c "$cfg" -v push alice bob
expect_rc 0 "second push"
check 'grep -q "0 messages appended (0 bytes), 0 already there, 0 flag updates" "$MK_ERR"' \
	"the second push did something: $(grep -m1 'push alice -> bob: [0-9]* folders' "$MK_ERR")"

# a run that gets only some messages' keywords from the server keeps the state capped; one that gets
# every message's (here: all flags and keywords cleared on alice's server) does not, and push then
# removes again what the mirror lacks
dadm flags add -u alice '\Seen' mailbox INBOX uid 2
mk -c "$cfg" sync alice
expect_rc 0 "sync of one flag change"
check 'grep -q "^keywords-capped 1\$" "$st"' "a sync of one message's change uncapped the state"
python3 - "$DC/env" <<'PY' >>"$T/seed.log" 2>&1 || fail "clearing alice's flags failed"
import dcimap
c = dcimap.login()
assert c.select("INBOX")[0] == "OK"
typ, data = c.uid("STORE", "1:*", "FLAGS.SILENT", "()")
assert typ == "OK", data
c.logout()
PY
mk -c "$cfg" sync alice
expect_rc 0 "sync of every message's change"
check '! grep -q "^keywords-capped" "$st"' "the state stayed capped when every message's keywords came from the server"
check '[ "$(grep -c "keyword sets pass" "$MK_ERR")" = 0 ]' "a warning about the keywords without any kept"
exact "$A"
mk -c "$cfg" push alice bob
expect_rc 0 "push after the cap is gone"
fl=$(bob_flags INBOX "$tn")
check '! grep -q "$KB0" <<<"$fl"' "push did not remove the keyword alice's server dropped: $fl"
t_pass
