#!/usr/bin/env bash
# What is at snapshot_repo before the first snapshot (no server: `mailkeep snapshot`): an empty
# directory the user made (mkdir ~/Mail/personal.git) receives the repository, keeping its mode,
# also behind a symbolic link, which stays (every snapshot failed: "could not find repository");
# a directory with other files is refused, exit 5, with a message that says what snapshot_repo
# must be, and nothing is written into it. The repository is made in <snapshot_repo>.init first
# and renamed into place: what a killed run left there is removed, but only if it holds the mark
# mailkeep writes there first (it removed whatever was there: the whole mirror of an account named
# "a.git.init" beside "a"; then whatever had git's shape: another account's repository).
. "$(dirname "$0")/lib.sh"
t_begin
# an empty directory, made with mode 0700
snap_mirror empty "$T/empty/a.git"
mkdir -m 700 "$T/empty/a.git"
mk -c "$T/empty.yaml" snapshot
expect_rc 0 "snapshot into an empty directory"
check 'snap_committed "$T/empty/a.git"' "no commit in the empty directory made beforehand"
check '[ "$(stat -c %a "$T/empty/a.git")" = 700 ]' "the directory's mode became $(stat -c %a "$T/empty/a.git")"
check '[ ! -e "$T/empty/a.git.init" ]' "a leftover a.git.init"
mk -c "$T/empty.yaml" snapshot
expect_rc 0 "second snapshot"

# a symbolic link to an empty directory elsewhere: the repository goes there, the link stays
snap_mirror link "$T/link/a.git"
mkdir "$T/elsewhere"
ln -s "$T/elsewhere" "$T/link/a.git"
mk -c "$T/link.yaml" snapshot
expect_rc 0 "snapshot into a link to an empty directory"
check '[ -L "$T/link/a.git" ]' "the symbolic link was replaced"
check 'snap_committed "$T/elsewhere"' "no commit in the link's target"

# a directory with a file of the user's: refused, untouched
snap_mirror full "$T/full/a.git"
mkdir "$T/full/a.git"
echo mine >"$T/full/a.git/notes.txt"
mk -c "$T/full.yaml" snapshot
expect_rc 5 "snapshot into a directory with other files"
check 'grep -q "not a git repository, and not empty" "$MK_ERR"' "no clear refusal: $(mk_err_line)"
check '[ "$(ls -A "$T/full/a.git")" = notes.txt ]' "something was written into it: $(ls -A "$T/full/a.git" | tr '\n' ' ')"
check '[ ! -e "$T/full/a.git.init" ]' "a leftover a.git.init"

# <repo>.init is another account's mirror: left alone, the snapshot refused
snap_mirror init "$T/init/a.git"
mkdir -p "$T/init/a.git.init/INBOX/cur" "$T/init/a.git.init/INBOX/new" "$T/init/a.git.init/INBOX/tmp"
echo other >"$T/init/a.git.init/INBOX/cur/1700000000.2_2.host,U=2:2,S"
mk -c "$T/init.yaml" snapshot
expect_rc 5 "snapshot with another account's mirror at a.git.init"
check 'grep -q "a.git.init: in the way" "$MK_ERR"' "no clear refusal: $(mk_err_line)"
check '[ -f "$T/init/a.git.init/INBOX/cur/1700000000.2_2.host,U=2:2,S" ]' "the mirror at a.git.init was removed"
check '[ ! -e "$T/init/a.git" ]' "a repository was made"

# a repository at a.git.init (another account's snapshots, or the user's own): git's shape is no
# licence, it is left alone (it was removed, history and all, as a killed run's)
rm -rf "$T/init/a.git.init"
git init -q --bare "$T/init/a.git.init"
rm -rf "$T/init/a.git.init/branches" # libgit2 makes none
echo '#!/bin/sh' >"$T/init/a.git.init/hooks/pre-receive"
mk -c "$T/init.yaml" snapshot
expect_rc 5 "snapshot with a repository at a.git.init"
check '[ -f "$T/init/a.git.init/hooks/pre-receive" ] && [ -f "$T/init/a.git.init/HEAD" ]' "the repository at a.git.init was removed"
# a lone file of that name that is not a beginning of the mark, or a FIFO of that name: not ours
for odd in notes fifo; do
	rm -rf "$T/init/a.git.init"
	mkdir -p "$T/init/a.git.init"
	if [ $odd = fifo ]; then mkfifo "$T/init/a.git.init/mailkeep-init"; else echo "my notes" >"$T/init/a.git.init/mailkeep-init"; fi
	MK_TIMEOUT=20 mk -c "$T/init.yaml" snapshot
	expect_rc 5 "snapshot with a.git.init holding a $odd named mailkeep-init"
	check '[ -e "$T/init/a.git.init/mailkeep-init" ]' "the $odd was removed"
done
# what a run killed while making the repository leaves (marked as mailkeep's, or killed before
# or while it wrote the mark): removed, the repository made
for left in marked empty markonly; do
	rm -rf "$T/init/a.git.init" "$T/init/a.git"
	mkdir -p "$T/init/a.git.init"
	case $left in
	marked)
		mkdir -p "$T/init/a.git.init/objects/info" "$T/init/a.git.init/refs/heads" "$T/init/a.git.init/hooks"
		echo 'ref: refs/heads/main' >"$T/init/a.git.init/HEAD"
		: >"$T/init/a.git.init/config.lock"
		echo "$T/init/a.git" >"$T/init/a.git.init/mailkeep-init" ;;
	markonly) printf '%s' "$T/init" >"$T/init/a.git.init/mailkeep-init" ;;
	esac
	mk -c "$T/init.yaml" snapshot
	expect_rc 0 "snapshot after a killed run's a.git.init ($left)"
	check 'snap_committed "$T/init/a.git"' "no commit ($left)"
	check '[ ! -e "$T/init/a.git.init" ]' "the killed run's a.git.init left ($left)"
	check '[ ! -e "$T/init/a.git/mailkeep-init" ]' "the mark left in the repository ($left)"
done
# a read-only empty directory made beforehand: the mode is put back after the rename, so a run
# killed before it leaves nothing that cannot be removed; the group stays too
snap_mirror ro "$T/ro/a.git"
mkdir -m 550 "$T/ro/a.git"
chgrp daemon "$T/ro/a.git"
mk -c "$T/ro.yaml" snapshot
expect_rc 0 "snapshot into a read-only empty directory"
check 'snap_committed "$T/ro/a.git"' "no commit in the read-only directory"
check '[ "$(stat -c %a:%G "$T/ro/a.git")" = 550:daemon ]' "mode and group became $(stat -c %a:%G "$T/ro/a.git")"
# a repository made by hand (git init --bare, as for a mount point): its HEAD names master, which
# has no commit; the restoring recipe's `git log` (docs/snapshots.md) said "your current branch
# 'master' does not have any commits yet": HEAD is pointed at the snapshots' branch. A HEAD that
# names a branch with commits, or a commit, is the user's and stays.
snap_mirror hand "$T/hand/a.git"
git -c init.defaultBranch=master init -q --bare "$T/hand/a.git"
mk -c "$T/hand.yaml" snapshot
expect_rc 0 "snapshot into a repository made by git init --bare"
check 'git --git-dir="$T/hand/a.git" log --oneline >/dev/null 2>&1' "git log fails: $(git --git-dir="$T/hand/a.git" log --oneline 2>&1 | head -n 1)"
check '[ "$(git --git-dir="$T/hand/a.git" symbolic-ref HEAD)" = refs/heads/main ]' "HEAD names $(git --git-dir="$T/hand/a.git" symbolic-ref HEAD)"
# killed while it moved HEAD (strace: at the rename of HEAD.lock): the next run removes the lock and
# moves HEAD
snap_mirror hand3 "$T/hand3/a.git"
git -c init.defaultBranch=master init -q --bare "$T/hand3/a.git"
mk_strace -o "$T/hand3.tr" -e trace=rename -- -c "$T/hand3.yaml" snapshot
n=$(grep -E '^[0-9]+ +rename\(' "$T/hand3.tr" | grep -n 'HEAD.lock' | cut -d: -f1)
check '[ -n "$n" ]' "no rename of HEAD.lock: $(cat "$T/hand3.tr")"
snap_mirror hand3 "$T/hand3/a.git"
rm -rf "$T/hand3/a.git"
git -c init.defaultBranch=master init -q --bare "$T/hand3/a.git"
mk_strace -o /dev/null -e trace=rename -e inject="rename:signal=KILL:when=$n" -- -c "$T/hand3.yaml" snapshot
check '[ -e "$T/hand3/a.git/HEAD.lock" ]' "the run killed while it moved HEAD left no HEAD.lock"
mk -c "$T/hand3.yaml" snapshot
expect_rc 0 "snapshot after a run killed while it moved HEAD"
check '[ ! -e "$T/hand3/a.git/HEAD.lock" ]' "HEAD.lock stayed"
check 'git --git-dir="$T/hand3/a.git" log --oneline >/dev/null 2>&1' "git log fails after the killed run"
snap_mirror hand2 "$T/hand2/a.git"
git init -q --bare "$T/hand2/a.git"
git -c user.name=t -c user.email=t@example.invalid --git-dir="$T/hand2/a.git" commit-tree -m mine "$(git --git-dir="$T/hand2/a.git" mktree </dev/null)" >"$T/hand2.c"
git --git-dir="$T/hand2/a.git" update-ref refs/heads/mine "$(cat "$T/hand2.c")"
git --git-dir="$T/hand2/a.git" symbolic-ref HEAD refs/heads/mine
mk -c "$T/hand2.yaml" snapshot
expect_rc 0 "snapshot into a repository whose HEAD names a branch of the user's"
check '[ "$(git --git-dir="$T/hand2/a.git" symbolic-ref HEAD)" = refs/heads/mine ]' "the user's HEAD was moved"
git --git-dir="$T/hand2/a.git" update-ref --no-deref HEAD "$(cat "$T/hand2.c")"
printf 'Subject: y\n\nbody\n' >"$T/hand2/a/INBOX/cur/1700000001.1_2.host,U=2:2,S"
mk -c "$T/hand2.yaml" snapshot
expect_rc 0 "snapshot into a repository with a detached HEAD"
check '[ "$(git --git-dir="$T/hand2/a.git" rev-parse HEAD)" = "$(cat "$T/hand2.c")" ]' "the detached HEAD was moved"
# a path whose parents do not exist yet (snapshot_repo: ~/backup/mail/a.git): made, as before
# the repository was made in <snapshot_repo>.init (libgit2 made them; then every run failed, exit 5,
# "a.git.init: No such file or directory")
snap_mirror deep "$T/deep/x/y z/a.git"
mk -c "$T/deep.yaml" snapshot
expect_rc 0 "snapshot into a path whose parents do not exist"
check 'snap_committed "$T/deep/x/y z/a.git"' "no commit in the repository under parents made for it"
check '[ "$(stat -c %a "$T/deep/x")" = 700 ]' "a parent made with mode $(stat -c %a "$T/deep/x")"
# a repository of the user's whose branch main has commits of theirs: a file named like a folder of
# the mirror (INBOX, and Lists/x above Lists/x/y) or like its cur/ (Sent/cur) gives way to the
# folder (every snapshot failed, exit 5, "D/F conflict when updating tree", "cannot replace 'blob'
# with 'tree'"); their other files stay
snap_mirror df "$T/df/a.git"
mkdir -p "$T/df/a/Lists/x/y/cur" "$T/df/a/Lists/x/y/new" "$T/df/a/Lists/x/y/tmp"
mkdir -p "$T/df/a/Sent/cur" "$T/df/a/Sent/new" "$T/df/a/Sent/tmp"
printf 'Subject: z\n\nbody\n' >"$T/df/a/Lists/x/y/cur/1700000002.1_3.host,U=3:2,S"
git init -q --bare "$T/df/a.git"
# the user's own commits need an identity: git guesses none on a host name without a dot
DG() { git -c user.name=t -c user.email=t@example.invalid --git-dir="$T/df/a.git" "$@"; }
b=$(echo mine | DG hash-object -w --stdin)
lt=$(printf '100644 blob %s\tx\n' "$b" | DG mktree)
st=$(printf '100644 blob %s\tcur\n' "$b" | DG mktree)
t=$(printf '100644 blob %s\tINBOX\n100644 blob %s\tREADME\n040000 tree %s\tLists\n040000 tree %s\tSent\n' \
	"$b" "$b" "$lt" "$st" | DG mktree)
DG update-ref refs/heads/main "$(DG commit-tree -m mine "$t")"
mk -c "$T/df.yaml" snapshot
expect_rc 0 "snapshot over a branch of the user's with files where the mirror has folders"
check 'snap_committed "$T/df/a.git"' "no commit over the user's branch"
check 'DG cat-file -e "main:Lists/x/y/cur/1700000002.1_3.host,U=3:2,S"' "Lists/x/y not committed"
check 'DG cat-file -e "main:Sent/cur/.mailkeep-keep"' "Sent/cur not committed"
check '[ "$(DG show main:README)" = mine ]' "the user's README was dropped"
check '[ "$(DG rev-list --count main)" = 2 ]' "not one commit over the user's"
mk -c "$T/df.yaml" snapshot
expect_rc 0 "second snapshot over the user's branch"
t_pass
