#!/usr/bin/env bash
# Racily clean directories (git's name for it): a snapshot records the change times of each
# folder's cur/ and new/ and skips the folders whose times did not move. On kernels before 6.13
# (Debian 12's 6.1) a directory's time moves once a 4 ms tick, on some file systems once a
# second: a mail reader's rename in the same tick as the recorded time, after the listing, left
# the time as recorded, and that message stayed out of every later snapshot until the folder
# changed again. A time that recent is recorded as 0 (read again next run); older ones as they are.
. "$(dirname "$0")/lib.sh"
t_begin
R=$T/m
{ echo "accounts:"; acct_yaml a root="$R" snapshot=true password_file=/dev/null; } | cfg_write "$T/c.yaml"
G() { git --git-dir="$R/a.git" "$@"; }
for f in Old Busy; do
	mkdir -p "$R/a/$f/cur" "$R/a/$f/new" "$R/a/$f/tmp"
	for u in 1 2; do printf 'Subject: %s %s\n\nbody\n' "$f" "$u" >"$R/a/$f/cur/170000000$u.M1P1.host,U=$u:2,"; done
	printf 'Subject: %s 3\n\nbody\n' "$f" >"$R/a/$f/new/1700000003.M1P1.host,U=3"
done
state_of() { # state_of FOLDER: "CUR NEW" as recorded in the snapshot state
	sed -n "s/^f \([-0-9]*\) \([-0-9]*\) $1\$/\1 \2/p" "$R/a/.mailkeep/snapshot-state"
}
tree_is_mirror() {
	G ls-tree -r --name-only main | grep -v '/\.mailkeep-keep$' | sort >"$T/tree.list"
	msg_files "$R/a" >"$T/mirror.list"
	check 'diff -q "$T/tree.list" "$T/mirror.list" >/dev/null' "$1: the tree is not the mirror: $(diff "$T/tree.list" "$T/mirror.list" | head -n 4 | tr '\n' ' ')"
}
sleep 2.2
mv "$R/a/Busy/cur/1700000001.M1P1.host,U=1:2," "$R/a/Busy/cur/1700000001.M1P1.host,U=1:2,S"
mk -c "$T/c.yaml" snapshot
expect_rc 0 "first snapshot"
tree_is_mirror "first snapshot"
read -r oc on <<<"$(state_of Old)"
read -r bc bn <<<"$(state_of Busy)"
check '[ "${oc:-0}" != 0 ] && [ "${on:-0}" != 0 ]' "Old, unchanged for 2 s, was recorded as '$oc $on', not its times"
check '[ "$bc" = 0 ]' "Busy/cur, renamed in just before, was recorded as '$bc', not 0 (racy)"
check '[ "${bn:-0}" != 0 ]' "Busy/new, unchanged for 2 s, was recorded as '$bn', not its time"
expected=$(stat -c %Z "$R/a/Old/cur")
check '[ "${oc%?????????}" = "$expected" ]' "Old/cur recorded as $oc, its ctime is $expected s"

# the next snapshot reads Busy/cur again (nothing to commit) and records its time once it is old
sleep 2.2
mk -c "$T/c.yaml" snapshot
expect_rc 0 "second snapshot"
read -r bc bn <<<"$(state_of Busy)"
check '[ "$bc" != 0 ] && [ "${bc%?????????}" = "$(stat -c %Z "$R/a/Busy/cur")" ]' "Busy/cur recorded as '$bc' after 2 s, not its ctime"
check '[ "$(G rev-list --count main)" -eq 1 ]' "a snapshot with nothing changed made a commit"
tree_is_mirror "second snapshot"
t_pass
