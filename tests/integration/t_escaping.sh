#!/usr/bin/env bash
# Folder names that a real Dovecot accepts but a file system path must not take as they are:
# "100%", ".hidden", "Tmp", "NEW/sub", and names with quotes, backslashes, '*', spaces, dots and
# children of INBOX; all mirrored at their escaped paths, exact, and stable on the next run.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
i=0
for f in '100%' '.hidden' 'Tmp' 'NEW/sub' 'quote"d' 'back\slash' '*star' 'a b' 'x.y' 'INBOX/child'; do
	i=$((i + 1))
	seed append --folder "$f" --seed $((170 + i)) --count 2 --first 0
done
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice; } | cfg_write "$cfg"
A=$T/mail/alice

mk -c "$cfg" sync
expect_rc 0 "sync"
exact "$A"
for p in '100%25' '%2Ehidden' '%54mp' '%4EEW/sub' 'quote"d' 'back\slash' '*star' 'a b' 'x.y' 'INBOX/child'; do
	check '[ -d "$A/$p/cur" ] && [ "$(ls "$A/$p/cur" | wc -l)" -eq 2 ]' "no maildir with 2 messages at the escaped path $p"
done
check '[ ! -e "$A/.hidden" ] && [ ! -e "$A/Tmp" ] && [ ! -e "$A/100%" ]' "a folder was mirrored under its raw name"

inode_list "$A" >"$T/inodes0"
mk -c "$cfg" sync
expect_rc 0 "no-op sync"
inode_list "$A" >"$T/inodes1"
inode_expect "$T/inodes0" "$T/inodes1"
t_pass
