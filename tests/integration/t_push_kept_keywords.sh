#!/usr/bin/env bash
# With deletions: keep a message gone from the source server keeps its file in the mirror, and no
# line in the folder's sync state, which is where push reads keywords from: its keywords are not
# known, and push keeps those its target copy has (as in a keywords-capped folder), while the
# messages the state describes still get their keywords mirrored exactly. Before, push took the
# kept message for one without keywords and removed from bob's copy every keyword it had.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed append --folder INBOX --seed 71 --count 3
dadm flags add -u alice Keep1 mailbox INBOX uid 1
dadm flags add -u alice Gone2 mailbox INBOX uid 2
cfg=$T/config.yaml
cfg_alice_bob "$cfg" deletions=keep
A=$T/mail/alice
mk -c "$cfg" sync alice
expect_rc 0 "sync"
mk -c "$cfg" push alice bob
expect_rc 0 "first push"
ps=$A/.mailkeep/push/bob/INBOX/.push-state
tgt() { awk -v u="$1" '$1 == "m" && $3 == u { print $4 }' "$ps"; }
t1=$(tgt 1)
t2=$(tgt 2)
[ -n "$t1" ] && [ -n "$t2" ] || fail "no push state entries for UIDs 1 and 2: $(cat "$ps")"
fl=$(bob_flags INBOX "$t1")
grep -q Keep1 <<<"$fl" || fail "the first push did not set Keep1: $fl"
grep -q Gone2 <<<"$(bob_flags INBOX "$t2")" || fail "the first push did not set Gone2: $(bob_flags INBOX "$t2")"

# UID 1 expunged on alice (its file kept), UID 2 loses Gone2
dadm expunge -u alice mailbox INBOX uid 1
dadm flags remove -u alice Gone2 mailbox INBOX uid 2
mk -c "$cfg" sync alice
expect_rc 0 "sync of the expunge and the flag change"
check '[ -n "$(ls "$A/INBOX/cur" | grep "U=1:")" ]' "UID 1's file was not kept"
check '! grep -q "^m 1 " "$A/INBOX/.mailkeep-state"' "the state still has a line for UID 1"
mk -c "$cfg" -v push alice bob
expect_rc 0 "push after the expunge"
fl=$(bob_flags INBOX "$t1")
check 'grep -q Keep1 <<<"$fl"' "push removed the keywords of a kept message from bob's copy: $fl"
fl=$(bob_flags INBOX "$t2")
check '! grep -q Gone2 <<<"$fl"' "Gone2, removed on alice, stayed on bob: $fl"
mk -c "$cfg" -v push alice bob
expect_rc 0 "second push"
check 'grep -q " 0 flag updates" "$MK_ERR"' \
	"the second push updated flags again: $(grep -m1 'push alice -> bob: [0-9]* folders' "$MK_ERR")"
t_pass
