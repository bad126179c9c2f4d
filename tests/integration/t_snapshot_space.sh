#!/usr/bin/env bash
# Git snapshots of folders whose names start with a space: " Lead" beside "Lead". The snapshot
# state (.mailkeep/snapshot-state, "f CTIME CTIME FOLDER") was read with sscanf's " %n", which ate
# the folder's leading spaces: " Lead" read as a second "Lead"; the next snapshot dropped the real
# Lead from its tree, or, with "  Lead" too, every later snapshot failed ("duplicate entries given
# for update", exit 5).
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 41 --count 2 --big 0 --folders INBOX
for f in "Lead" " Lead" "  Lead"; do
	dadm mailbox create -u alice "$f"
	seed append --folder "$f" --seed 42 --count 2 --first 10
done
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice snapshot=true; } | cfg_write "$cfg"
A=$T/mail/alice
R=$T/mail/alice.git
G() { git -c core.quotepath=off --git-dir="$R" "$@"; }
tree_is_mirror() {
	G ls-tree -r --name-only main | grep -v '/\.mailkeep-keep$' | sort >"$T/tree.list"
	msg_files "$A" >"$T/mirror.list"
	check 'diff -q "$T/tree.list" "$T/mirror.list" >/dev/null' "$1: the tree is not the mirror: $(diff "$T/tree.list" "$T/mirror.list" | head -n 4 | tr '\n' ' ')"
}

mk -c "$cfg" sync
expect_rc 0 "first sync"
for f in "Lead" " Lead" "  Lead"; do
	check '[ "$(msg_files "$A" | grep -c "^$f/cur/")" -eq 2 ]' "folder '$f' does not hold 2 messages in the mirror"
done
tree_is_mirror "first snapshot"

# new mail elsewhere: an incremental snapshot, which reads the recorded state
seed append --folder INBOX --seed 43 --count 1 --first 500
mk -c "$cfg" sync
expect_rc 0 "sync after new mail in INBOX (a duplicate \"Lead\" failed it: duplicate entries given for update)"
tree_is_mirror "second snapshot"
check '[ "$(G rev-list --count main)" -eq 2 ]' "expected 2 commits, got $(G rev-list --count main)"
check 'G log -1 --format=%s main | grep -q ": 1 new, 0 flag changes, 0 removed$"' "the second commit is not one new message: $(G log -1 --format=%s main)"

# and new mail in a folder with a leading space
seed append --folder " Lead" --seed 44 --count 1 --first 500
mk -c "$cfg" sync
expect_rc 0 "sync after new mail in ' Lead'"
tree_is_mirror "third snapshot"
G fsck --full --no-progress >"$T/fsck.out" 2>&1 || fail "git fsck: $(head -n 2 "$T/fsck.out" | tr '\n' ' ')"
t_pass
