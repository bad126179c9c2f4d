#!/usr/bin/env bash
# A server with "." as the hierarchy delimiter (Dovecot's Maildir++ layout): "Archive.2024" is
# mirrored as Archive/2024/, and the mirror is exact, also after changes.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up --layout maildir++
check '[ "$DELIM" = . ]' "the fixture's delimiter is '$DELIM', not '.'"
seed populate --seed 13 --count 4 --big 1
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice; } | cfg_write "$cfg"
A=$T/mail/alice

mk -c "$cfg" sync
expect_rc 0 "initial sync"
exact "$A"
check '[ -d "$A/Archive/2024/cur" ]' "Archive.2024 is not mirrored as Archive/2024/"
check '[ ! -e "$A/Archive.2024" ]' "Archive.2024 was mirrored under its raw name"

dadm flags add -u alice '\Seen' mailbox Archive.2024 uid 2
dadm expunge -u alice mailbox 'Geschäftlich' uid 1
seed append --folder Archive/2024 --seed 131 --count 2
inode_list "$A" >"$T/inodes0"
mk -c "$cfg" sync
expect_rc 0 "incremental sync"
exact "$A"
inode_list "$A" >"$T/inodes1"
inode_expect "$T/inodes0" "$T/inodes1" "renamed Archive/2024 2" "gone Geschäftlich 1" "new Archive/2024 *"
t_pass
