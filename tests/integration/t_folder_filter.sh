#!/usr/bin/env bash
# folders: include/exclude globs select what is mirrored ('*' matches across '/', "INBOX" matches
# the inbox case-insensitively); excluded folders are not created locally.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 15 --count 3 --big 0
cfg=$T/config.yaml
{
	echo "accounts:"
	acct_yaml excl raw='folders:' raw='  exclude: ["Archive*", "R&D"]'
	acct_yaml incl raw='folders:' raw='  include: ["inbox", "日本語", "Arch*/20??"]'
} | cfg_write "$cfg"
mk -c "$cfg" sync
expect_rc 0 "sync with folder filters"
exact "$T/mail/excl" --folders-excluded Archive Archive/2024 'R&D'
check '[ ! -e "$T/mail/excl/Archive" ] && [ ! -e "$T/mail/excl/R&D" ]' "excluded folders were created"
exact "$T/mail/incl" --folders-excluded Archive 'R&D' 'Geschäftlich' Empty
check '[ -d "$T/mail/incl/Archive/2024/cur" ] && [ -d "$T/mail/incl/INBOX/cur" ]' "included folders are missing"
check '[ ! -e "$T/mail/incl/Archive/cur" ]' "Archive was mirrored though only Archive/2024 is included"
t_pass
