#!/usr/bin/env bash
# A folder of the mirror that cannot be read when the snapshot runs (a cur/ or a folder's directory
# without permission, a parent directory that cannot be listed) is not a deleted folder: its
# messages are still in the mirror. The snapshot took an unreadable cur/ for an empty one and a
# folder it could not reach for one deleted: it committed their messages as removed, exit 0, and
# the history said they were gone. Now the snapshot fails (exit 5, the directory named), the branch
# keeps its messages, and once the directory can be read again the next snapshot is the mirror.
# A folder the walk does not reach because a symbolic link stands for it is gone, not unreadable.
# Runs mailkeep as nobody (root reads every directory); skipped when not root.
. "$(dirname "$0")/lib.sh"
t_begin
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
	t_log "not root or no setpriv: cannot run mailkeep as another user; skipped"
	t_pass
fi
chmod 755 "$T"
mkdir "$T/nhome" && chown 65534:65534 "$T/nhome"
R=$T/m
python3 - "$R/a" <<'PY'
import os, sys
for f in ("INBOX", "Other", "Archive/2024"):
    for s in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(sys.argv[1], f, s), exist_ok=True)
    for u in range(1, 4):
        with open(os.path.join(sys.argv[1], f, "cur", "%d.M1P1.host,U=%d:2,S" % (1700000000 + u, u)), "w") as fp:
            fp.write("Subject: %s %d\n\nbody\n" % (f, u))
PY
{
	echo "accounts:"
	acct_yaml a root="$R" snapshot=true password_file=/dev/null
} | cfg_write "$T/c.yaml"
chown -R 65534:65534 "$R"
cat >"$T/as-nobody" <<SH
#!/bin/sh
exec setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=$T/nhome "$MAILKEEP" "\$@"
SH
chmod 755 "$T/as-nobody"
MAILKEEP=$T/as-nobody
G() { git --git-dir="$R/a.git" "$@"; }
# in_tree FOLDER: the number of messages of FOLDER/cur in the branch's tree
in_tree() { G ls-tree --name-only "main:$1/cur" 2>/dev/null | grep -vc '^\.'; }

mk -c "$T/c.yaml" snapshot
expect_rc 0 "first snapshot"
check '[ "$(in_tree Other)" -eq 3 ] && [ "$(in_tree Archive/2024)" -eq 3 ]' "the first snapshot lacks messages"

n=4
# unreadable: a cur/, a folder's directory, a directory above a folder that cannot be listed
for d in Other/cur Other Archive; do
	head=$(G rev-parse main)
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		sh -c "printf 'Subject: new\n\nbody\n' >'$R/a/INBOX/cur/$((1700000000 + n)).M1P1.host,U=$n:2,'"
	chmod 000 "$R/a/$d"
	mk -c "$T/c.yaml" snapshot
	chmod 755 "$R/a/$d"
	expect_rc 5 "a snapshot with $d unreadable"
	check 'grep -q "cannot be read" "$MK_ERR"' "the error does not say what cannot be read: $(mk_err_line)"
	check '[ "$(G rev-parse main)" = "$head" ]' "a commit was made with $d unreadable: $(G log -1 --format=%s main)"
	check '[ "$(in_tree Other)" -eq 3 ] && [ "$(in_tree Archive/2024)" -eq 3 ]' \
		"the branch lost messages of $d: $(G log -1 --format=%s main)"
	# readable again: the next snapshot is the mirror, nothing counted removed
	mk -c "$T/c.yaml" snapshot
	expect_rc 0 "the snapshot once $d can be read"
	check '[ "$(in_tree INBOX)" -eq "$n" ] && [ "$(in_tree Other)" -eq 3 ] && [ "$(in_tree Archive/2024)" -eq 3 ]' \
		"the snapshot is not the mirror: $(G log -1 --format=%s main)"
	check 'G log -1 --format=%s main | grep -q ", 0 removed$"' "messages counted removed: $(G log -1 --format=%s main)"
	n=$((n + 1))
done
# Not unreadable but gone for the walk, which never follows a symbolic link: a folder moved to
# another disk and linked back, a folder replaced by a link looping on itself. Dropped from the
# snapshot as before, exit 0; they made every snapshot of the account fail, exit 5 for good
mv "$R/a/Other" "$T/Other-moved" && ln -s "$T/Other-moved" "$R/a/Other"
mk -c "$T/c.yaml" snapshot
expect_rc 0 "a snapshot with a folder moved elsewhere and linked back"
check '[ "$(in_tree Other)" -eq 0 ]' "the linked folder is in the snapshot"
rm "$R/a/Other" && ln -s Other "$R/a/Other"
mv "$T/Other-moved" "$R/a/Other2"
mk -c "$T/c.yaml" snapshot
expect_rc 0 "a snapshot with a folder replaced by a looping link"
check '[ "$(in_tree Other2)" -eq 3 ]' "the folder moved to Other2 is not in the snapshot"
G fsck --full --no-progress >"$T/fsck.out" 2>&1 || fail "git fsck: $(head -n 2 "$T/fsck.out" | tr '\n' ' ')"
t_pass
