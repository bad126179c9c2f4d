#!/usr/bin/env bash
# deletions: keep leaves the files of expunged messages in place (same name, same inode) while
# everything else still follows the server.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 4 --count 5 --big 0
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice deletions=keep; } | cfg_write "$cfg"
A=$T/mail/alice

mk -c "$cfg" sync
expect_rc 0 "initial sync"
exact "$A"
inode_list "$A" >"$T/inodes0"
kept1=$(file_for "$A" INBOX 2)
kept2=$(file_for "$A" Archive 5)
check '[ -n "$kept1" ] && [ -n "$kept2" ]' "INBOX UID 2 or Archive UID 5 missing after the first sync"
sum0=$(cat "$kept1" "$kept2" | sha256sum)

dadm expunge -u alice mailbox INBOX uid 2
dadm expunge -u alice mailbox Archive uid 5
dadm flags add -u alice '\Flagged' mailbox INBOX uid 3
seed append --folder INBOX --seed 41 --count 1

mk -c "$cfg" sync
expect_rc 0 "sync after expunges"
exact "$A" --allow-extra-uids
inode_list "$A" >"$T/inodes1"
inode_expect "$T/inodes0" "$T/inodes1" "renamed INBOX 3" "new INBOX *"
check '[ -f "$kept1" ] && [ -f "$kept2" ]' "an expunged message's file was removed with deletions: keep"
check '[ "$(cat "$kept1" "$kept2" | sha256sum)" = "$sum0" ]' "a kept file changed"

mk -c "$cfg" sync
expect_rc 0 "second sync"
check '[ -f "$kept1" ] && [ -f "$kept2" ]' "the kept files went away on the next run"
inode_list "$A" >"$T/inodes2"
inode_expect "$T/inodes1" "$T/inodes2"
t_pass
