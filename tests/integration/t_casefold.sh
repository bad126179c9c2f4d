#!/usr/bin/env bash
# Folders "Work" and "work" on a server, mirrored onto a file system that ignores case (vfat,
# exFAT, ext4 casefold): one directory for both would mix two folders' messages and states. The
# kernel here cannot mount such a file system, so the account's .mailkeep directory gets a
# case-folded alias (.MAILKEEP, a symbolic link), which is what mailkeep looks at: the second
# folder is skipped with an error naming the first (exit 1), the first is mirrored whole, and
# nothing of the second lands in its directory. Without the alias both are mirrored (exit 0).
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed append --folder Work --seed 301 --count 3 --first 0
seed append --folder work --seed 302 --count 2 --first 0
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice; } | cfg_write "$cfg"
A=$T/mail/alice

mk -c "$cfg" sync
expect_rc 0 "sync on a case-sensitive file system"
exact "$A"
check '[ "$(ls "$A/Work/cur" | wc -l)" -eq 3 ] && [ "$(ls "$A/work/cur" | wc -l)" -eq 2 ]' \
	"Work and work not mirrored as two folders"

rm -rf "$A"
mkdir -p "$A/.mailkeep"
chmod 700 "$A" "$A/.mailkeep"
ln -s .mailkeep "$A/.MAILKEEP"
mk -c "$cfg" sync
expect_rc 1 "sync with a case-folding file system"
check 'grep -qE "folder \"(Work|work)\" maps to the same directory as folder \"(Work|work)\" \(this file system ignores case\); skipped" "$MK_ERR"' \
	"no error naming both folders: $(head -c 600 "$MK_ERR")"
skipped=$(sed -nE 's/.*folder "(Work|work)" maps to the same directory.*/\1/p' "$MK_ERR")
kept=Work; [ "$skipped" = Work ] && kept=work
want=3; [ "$kept" = work ] && want=2
check '[ "$(ls "$A/$kept/cur" | wc -l)" -eq "$want" ]' "$kept not mirrored whole ($want messages)"
check '[ ! -e "$A/$skipped" ]' "a directory was made for the skipped folder $skipped"

mk -c "$cfg" sync
expect_rc 1 "second sync"
check '[ "$(ls "$A/$kept/cur" | wc -l)" -eq "$want" ]' "$kept changed on the second run"
t_pass
