#!/usr/bin/env bash
# Server changes between runs: flag changes rename files in place (same inode), expunges remove
# them (deletions: mirror), new mail adds files; nothing else is touched; the result is exact.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 3 --count 6 --big 1
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice; } | cfg_write "$cfg"
A=$T/mail/alice

mk -c "$cfg" sync
expect_rc 0 "initial sync"
exact "$A"
inode_list "$A" >"$T/inodes0"

# flags (UIDs from seed.py: 1 has every flag, 2 none, 3 \Deleted \Seen, 4.. random)
dadm flags add -u alice '\Flagged \Seen' mailbox INBOX uid 2
dadm flags remove -u alice '\Seen \Answered' mailbox INBOX uid 1
dadm flags add -u alice '$Forwarded' mailbox Archive uid 2
dadm flags remove -u alice '\Deleted' mailbox 'Geschäftlich' uid 3
dadm flags add -u alice 'SomeKeyword' mailbox '日本語' uid 2
dadm flags add -u alice '\Draft' mailbox 'R&D' uid 1
# expunges
dadm expunge -u alice mailbox INBOX uid 4
dadm expunge -u alice mailbox Archive/2024 uid 1
dadm expunge -u alice mailbox Archive/2024 uid 6
# new mail
seed append --folder INBOX --seed 31 --count 3
seed append --folder Empty --seed 31 --count 1
seed append --folder 'R&D' --seed 31 --count 2
seed append --folder 'Neu/Unterordner' --seed 32 --count 2   # new folders on the server

mk -c "$cfg" sync
expect_rc 0 "incremental sync"
exact "$A"
inode_list "$A" >"$T/inodes1"
# a keyword-only change leaves the name alone; R&D uid 1 already had \Draft (index 0: every flag)
inode_expect "$T/inodes0" "$T/inodes1" \
	"renamed INBOX 2" "renamed INBOX 1" "renamed Archive 2" "renamed Geschäftlich 3" \
	"gone INBOX 4" "gone Archive/2024 1" "gone Archive/2024 6" \
	"new INBOX *" "new Empty *" "new R&D *" "new Neu/Unterordner *"
check '[ "$(find "$A/INBOX/cur" -type f | wc -l)" -eq 9 ]' "INBOX/cur does not hold 9 messages"
check '[ "$(find "$A/Neu/Unterordner/cur" -type f | wc -l)" -eq 2 ]' "the new folder Neu/Unterordner is not mirrored"

# and once more with no change: nothing moves
mk -c "$cfg" sync
expect_rc 0 "no-op sync"
inode_list "$A" >"$T/inodes2"
inode_expect "$T/inodes1" "$T/inodes2"
exact "$A"

# a flag change and an expunge of the last message, then new mail at a higher UID
dadm flags replace -u alice '\Answered' mailbox INBOX all
dadm expunge -u alice mailbox 'R&D' all
mk -c "$cfg" sync
expect_rc 0 "sync after bulk flag change"
exact "$A"
inode_list "$A" >"$T/inodes3"
inode_expect "$T/inodes2" "$T/inodes3" "renamed INBOX *" "gone R&D *"
t_pass
