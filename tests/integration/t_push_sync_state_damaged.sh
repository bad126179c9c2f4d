#!/usr/bin/env bash
# Push over a mirror folder whose sync state cannot be read (damaged): the keywords it holds are
# unknown, so push warns that they are not pushed, and removes none from the target copies (as for
# a keywords-capped state: a keyword missing in the mirror is no removal on the source), while the
# system flags, which the file names carry, stay exact. Before, every keyword an earlier push had
# set was removed from the target ("keywords are not pushed", yet their absence was). Once sync
# has rebuilt the state, push mirrors the keywords exactly again.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed append --folder INBOX --seed 71 --count 3
dadm flags add -u alice 'Keep1 Gone1' mailbox INBOX uid 1
cfg=$T/config.yaml
cfg_alice_bob "$cfg"
A=$T/mail/alice
st=$A/INBOX/.mailkeep-state
mk -c "$cfg" sync alice
expect_rc 0 "sync"
mk -c "$cfg" push alice bob
expect_rc 0 "first push"
ps=$A/.mailkeep/push/bob/INBOX/.push-state
t1=$(awk '$1 == "m" && $3 == 1 { print $4 }' "$ps")
[ -n "$t1" ] || fail "no push state entry for UID 1: $(cat "$ps")"
fl=$(bob_flags INBOX "$t1")
grep -q Keep1 <<<"$fl" && grep -q Gone1 <<<"$fl" || fail "the first push did not set the keywords: $fl"

# alice's UID 1 loses Gone1 and gets \Flagged; synced, then the state damaged (a line that is no
# state line): push cannot tell the keywords, the file name still tells \Flagged
dadm flags remove -u alice Gone1 mailbox INBOX uid 1
dadm flags add -u alice '\Flagged' mailbox INBOX uid 1
mk -c "$cfg" sync alice
expect_rc 0 "sync of the flag change"
printf 'm not-a-uid\n' >>"$st"
mk -c "$cfg" -v push alice bob
expect_rc 0 "push over a damaged sync state"
check 'grep -q "keywords are not pushed" "$MK_ERR"' "no warning about the damaged state: $(cat "$MK_ERR")"
fl=$(bob_flags INBOX "$t1")
check 'grep -q Keep1 <<<"$fl" && grep -q Gone1 <<<"$fl"' \
	"push over a damaged sync state removed keywords alice's server may have from bob's copy: $fl"
check 'grep -q Flagged <<<"$fl"' "the file name's \\Flagged did not reach bob: $fl"
mk -c "$cfg" -v push alice bob
expect_rc 0 "second push over the damaged state"
check 'grep -q " 0 flag updates" "$MK_ERR"' \
	"the second push updated flags again: $(grep -m1 'push alice -> bob: [0-9]* folders' "$MK_ERR")"

# a sync that reads the whole state (a change on alice's server: not skipped as unchanged from the
# header) rebuilds it: push removes what alice's server dropped (Gone1) and keeps the rest
dadm flags add -u alice '\Seen' mailbox INBOX uid 2
mk -c "$cfg" sync alice
expect_rc 0 "sync rebuilding the state"
check 'grep -q "rebuilding the state" "$MK_ERR" && ! grep -q "^m not-a-uid" "$st"' "sync did not rebuild the state"
mk -c "$cfg" push alice bob
expect_rc 0 "push after the state is rebuilt"
fl=$(bob_flags INBOX "$t1")
check '! grep -q Gone1 <<<"$fl" && grep -q Keep1 <<<"$fl" && grep -q Flagged <<<"$fl"' \
	"push after the rebuild did not mirror alice's flags: $fl"
t_pass
