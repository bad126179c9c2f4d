#!/usr/bin/env bash
# A folder deleted from the mirror (gone from the server, deleted by hand) leaves the snapshot
# with its messages counted in the commit's summary and listed as a folder line: the summary
# read "0 new, 0 flag changes, 0 removed" for a commit that dropped a whole folder, so that
# `mailkeep log` did not show where mail went. Also in a full comparison (snapshot state lost).
# No server: `mailkeep snapshot` of a mirror made on disk.
. "$(dirname "$0")/lib.sh"
t_begin
R=$T/m/a.git
G() { git --git-dir="$R" "$@"; }
for f in INBOX Old Other; do
	mkdir -p "$T/m/a/$f/cur" "$T/m/a/$f/new" "$T/m/a/$f/tmp"
done
for u in 1 2 3; do printf 'Subject: %s\n\nbody\n' $u >"$T/m/a/Old/cur/1700000000.1_$u.host,U=$u:2,S"; done
printf 'Subject: n\n\nbody\n' >"$T/m/a/Old/new/1700000000.1_4.host,U=4"
printf 'Subject: i\n\nbody\n' >"$T/m/a/INBOX/cur/1700000000.2_1.host,U=1:2,S"
printf 'Subject: o\n\nbody\n' >"$T/m/a/Other/cur/1700000000.3_1.host,U=1:2,S"
{
	echo "accounts:"
	acct_yaml a root="$T/m" snapshot=true password_file=/dev/null
} | cfg_write "$T/c.yaml"
mk -c "$T/c.yaml" snapshot
expect_rc 0 "first snapshot"
rm -rf "$T/m/a/Old"
mk -c "$T/c.yaml" snapshot
expect_rc 0 "snapshot after Old was deleted"
check '[ "$(G rev-list --count main)" -eq 2 ]' "expected a second commit"
check '! G cat-file -e main:Old 2>/dev/null' "Old is still in the tree"
s=$(G log -1 --format=%s main)
check '[ "$s" = "mailkeep: a: 0 new, 0 flag changes, 4 removed" ]' "summary: $s"
check 'G log -1 --format=%b main | grep -qx "Old: 0 new, 0 flag changes, 4 removed (folder gone)"' \
	"no line for Old: $(G log -1 --format=%b main | tr '\n' '|')"
# a full comparison (the state lost) counts it too
G update-ref refs/heads/main main~1
rm -f "$T/m/a/.mailkeep/snapshot-state"
rm -rf "$T/m/a/Other"
mk -c "$T/c.yaml" snapshot
expect_rc 0 "full comparison after Old and Other went"
s=$(G log -1 --format=%s main)
check '[ "$s" = "mailkeep: a: 0 new, 0 flag changes, 5 removed" ]' "summary of the full comparison: $s"
t_pass
