#!/usr/bin/env bash
# A server with "." as the hierarchy delimiter (Dovecot's Maildir++ layout): "Archive.2024" is
# mirrored as Archive/2024/, and the mirror is exact, also after changes. Folder patterns write
# levels with '/' there too: exclude "Archive/2024" leaves Archive.2024 out (and check --connect
# prints it as Archive/2024). A deleted folder that has children stays listed but cannot be
# examined: a warning, its copy kept, exit 0 (not a failure on every later run).
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

cfg2=$T/config2.yaml
{ echo "accounts:"; acct_yaml alice root="$T/mail2" raw='folders: {exclude: ["Archive/2024"]}'; } |
	cfg_write "$cfg2"
mk -c "$cfg2" check --connect
expect_rc 0 "check --connect with a '/' pattern"
check 'grep -qxF "  - Archive/2024" "$MK_OUT"' "check --connect does not show Archive/2024 left out: $(head -c 300 "$MK_OUT")"
check 'grep -qxF "  + Archive" "$MK_OUT"' "check --connect does not show Archive selected"
mk -c "$cfg2" check alice --connect # the option after the account name
expect_rc 0 "check alice --connect"
check 'grep -qxF "  - Archive/2024" "$MK_OUT"' "check alice --connect does not list the folders: $(head -c 300 "$MK_OUT")"
mk -c "$cfg2" sync
expect_rc 0 "sync with exclude Archive/2024"
check '[ ! -e "$T/mail2/alice/Archive/2024/cur" ]' "Archive.2024 mirrored although excluded as Archive/2024"
check '[ -d "$T/mail2/alice/Archive/cur" ]' "Archive not mirrored"

n_ar=$(ls "$A/Archive/cur" | wc -l)
dadm mailbox delete -u alice Archive
mk -c "$cfg" sync
expect_rc 0 "sync after Archive (parent of Archive.2024) was deleted"
check 'grep -q "folder \"Archive\" no longer exists" "$MK_ERR"' "no warning naming Archive: $(mk_err_line)"
check '[ "$(ls "$A/Archive/cur" | wc -l)" -eq "$n_ar" ]' "the local copy of Archive changed"
exact "$A" --ignore-local Archive
t_pass
