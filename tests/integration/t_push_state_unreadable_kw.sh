#!/usr/bin/env bash
# A mirror folder whose sync state cannot be read: push warns that its keywords are not pushed,
# and then must not take their absence for removals on the source either. Before, the keyword an
# earlier push set on the target copy (the source server still has it) was removed from it.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed append --folder INBOX --seed 83 --count 2
dadm flags replace -u alice '\Seen Custom1' mailbox INBOX uid 1
cfg=$T/config.yaml
cfg_alice_bob "$cfg"
A=$T/mail/alice
bobflags() { dadm_out fetch -u bob flags mailbox INBOX uid "$1" | grep '^flags:'; }
mk -c "$cfg" sync alice
expect_rc 0 "sync"
mk -c "$cfg" push alice bob
expect_rc 0 "first push"
check 'bobflags 1 | grep -q Custom1' "the first push did not set Custom1: $(bobflags 1)"

echo garbage >"$A/INBOX/.mailkeep-state"
mk -c "$cfg" -v push alice bob
expect_rc 0 "push with the sync state unreadable"
check 'grep -q "folder \"INBOX\": .*; keywords are not pushed" "$MK_ERR"' \
	"no warning that the keywords are not pushed: $(grep -m1 INBOX "$MK_ERR")"
check 'bobflags 1 | grep -q Custom1' "a keyword the source has was removed from the target: $(bobflags 1)"
check 'bobflags 1 | grep -q "\\\\Seen"' "\\Seen lost on the target: $(bobflags 1)"
t_pass
