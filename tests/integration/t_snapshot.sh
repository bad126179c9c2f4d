#!/usr/bin/env bash
# Git snapshots: a commit per changing run whose tree is exactly the mirror (same bytes), no commit
# for a no-op run, flag changes as renames with no new blob, expunges as deletions, `git fsck`
# clean, an older commit restorable with plain git, snapshot failures with exit 5 and catch-up.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 3 --count 5 --big 1
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice snapshot=true; } | cfg_write "$cfg"
A=$T/mail/alice
R=$T/mail/alice.git
G() { git -c core.quotepath=off --git-dir="$R" "$@"; }

fsck_clean() {
	CHECKS=$((CHECKS + 1))
	G fsck --full --no-progress >"$T/fsck.out" 2>&1 || fail "git fsck failed: $(head -n 3 "$T/fsck.out" | tr '\n' ' ')"
	grep -qiE 'error|missing|broken|corrupt' "$T/fsck.out" && fail "git fsck: $(head -n 2 "$T/fsck.out" | tr '\n' ' ')"
	return 0
}

# tree_matches: HEAD's message files are exactly the mirror's, with identical bytes
tree_matches() {
	CHECKS=$((CHECKS + 1))
	G ls-tree -r --name-only HEAD | grep -v '/\.mailkeep-keep$' | sort >"$T/tree.list"
	msg_files "$A" >"$T/mirror.list"
	diff -q "$T/tree.list" "$T/mirror.list" >/dev/null ||
		fail "snapshot tree differs from the mirror: $(diff "$T/tree.list" "$T/mirror.list" | head -n 3 | tr '\n' ' ')"
	local p
	while IFS= read -r p; do
		G cat-file blob "HEAD:$p" | cmp -s - "$A/$p" || fail "blob of $p differs from the file"
	done <"$T/mirror.list"
	# every folder has cur/ new/ tmp/ in a checkout
	local d
	for d in INBOX Archive/2024 Empty; do
		G cat-file -e "HEAD:$d/tmp/.mailkeep-keep" 2>/dev/null || fail "no $d/tmp placeholder in the tree"
		G cat-file -e "HEAD:$d/new/.mailkeep-keep" 2>/dev/null || fail "no $d/new placeholder in the tree"
	done
}

mk -c "$cfg" --json sync
expect_rc 0 "first sync with snapshot: true"
exact "$A"
check 'grep -q "\"snapshot\": \"ok\"" "$MK_OUT"' "--json does not say snapshot ok: $(grep -o '"snapshot": "[a-z]*"' "$MK_OUT")"
check '[ -f "$R/HEAD" ] && [ ! -e "$R/.git" ] && [ "$(G rev-parse --is-bare-repository)" = true ]' "no bare repository at $R"
check '[ ! -e "$A/.git" ]' "a .git inside the mirror"
check '[ "$(G rev-list --count main)" -eq 1 ]' "expected 1 commit after the first run"
tree_matches
fsck_clean
G log -1 --format=%B main >"$T/msg1"
check 'grep -q "alice" "$T/msg1" && grep -qE "INBOX: [0-9]+ new" "$T/msg1"' "commit message lacks account or per-folder counts: $(head -c 200 "$T/msg1")"
check 'G ls-tree -r --name-only HEAD | grep -q "\.mailkeep-state"; [ $? -ne 0 ]' "state files are in the snapshot"

# a no-change run adds no commit
mk -c "$cfg" sync
expect_rc 0 "no-op sync"
check '[ "$(G rev-list --count main)" -eq 1 ]' "a no-op run made a commit"

# flag changes, one expunge, one new message
dadm flags add -u alice '\Flagged' mailbox INBOX uid 1:3
dadm flags remove -u alice '\Seen' mailbox Archive all
dadm expunge -u alice mailbox INBOX uid 4
seed append --folder INBOX --count 1 --first 500
mk -c "$cfg" sync
expect_rc 0 "sync after changes"
exact "$A"
check '[ "$(G rev-list --count main)" -eq 2 ]' "expected a second commit"
tree_matches
fsck_clean
G diff --name-status -M100% HEAD~1 HEAD >"$T/ns"
check '[ "$(grep -c "^R100" "$T/ns")" -ge 3 ]' "flag changes are not renames: $(head -n 3 "$T/ns" | tr '\n' ' ')"
check '[ "$(grep -c "^D" "$T/ns")" -eq 1 ]' "expected one deletion: $(grep '^D' "$T/ns" | tr '\n' ' ')"
check '[ "$(grep -c "^A" "$T/ns")" -eq 1 ]' "expected one addition: $(grep '^A' "$T/ns" | tr '\n' ' ')"
# the only new blob is the new message's body
G rev-list --objects HEAD ^HEAD~1 | while read -r oid _; do G cat-file -t "$oid"; done | grep -c blob >"$T/nblobs" || true
check '[ "$(cat "$T/nblobs")" -eq 1 ]' "expected 1 new blob, got $(cat "$T/nblobs")"

# restore the first commit with plain git: a Maildir with the message count of that time
n1=$(G ls-tree -r --name-only HEAD~1 | grep -vc '/\.mailkeep-keep$')
mkdir "$T/restore"
G --work-tree="$T/restore" checkout HEAD~1 -- . 2>"$T/co.err" || fail "git checkout failed: $(cat "$T/co.err")"
check '[ "$(msg_files "$T/restore" | grep -vc "/\.mailkeep-keep$")" -eq "$n1" ]' "restored tree does not have $n1 messages"
check '[ -d "$T/restore/INBOX/new" ] && [ -d "$T/restore/INBOX/tmp" ] && [ -d "$T/restore/Empty/cur" ]' "restored tree is not a Maildir"

# mailkeep log lists both snapshots
mk -c "$cfg" log
expect_rc 0 "mailkeep log"
check '[ "$(grep -c "alice" "$MK_OUT")" -eq 2 ]' "mailkeep log does not list 2 snapshots: $(head -c 300 "$MK_OUT")"
# with another account that has no snapshots (left out, not named): the same two lines, no
# "NAME (REPOSITORY):" heading, which is for a listing of several accounts
{ echo "accounts:"; acct_yaml alice snapshot=true; acct_yaml bob user=bob password_file="$DC/pass-bob"; } |
	cfg_write "$T/two.yaml"
mk -c "$T/two.yaml" log
expect_rc 0 "mailkeep log, one of two accounts with snapshots"
check '[ "$(wc -l <"$MK_OUT")" -eq 2 ] && ! grep -q "^alice (" "$MK_OUT"' \
	"mailkeep log of one account with snapshots is not its 2 lines: $(head -c 300 "$MK_OUT")"

# snapshot failure: exit 5, the mirror stays exact, the next good run catches up
{ echo "accounts:"; acct_yaml alice snapshot=true snapshot_repo="$T/notadir/repo.git"; } | cfg_write "$T/bad.yaml"
echo "plain file" >"$T/notadir"
dadm flags replace -u alice '\Deleted' mailbox INBOX uid 1
mk -c "$T/bad.yaml" --json sync
expect_rc 5 "sync with an unusable snapshot repository"
check 'grep -qi "snapshot" "$MK_ERR"' "no snapshot error message: $(mk_err_line)"
check 'grep -q "\"snapshot\": \"failed\"" "$MK_OUT"' "--json does not say snapshot failed: $(grep -o '"snapshot": "[a-z]*"' "$MK_OUT")"
check 'grep -q "^snapshot failed" "$A/.mailkeep/last-run"' "last-run does not record the failed snapshot"
exact "$A"
# an account that fails before its snapshot: nothing was attempted, --json says skipped
{ echo "accounts:"; acct_yaml alice snapshot=true port=1; } | cfg_write "$T/down.yaml"
mk -c "$T/down.yaml" --json sync
expect_rc 4 "sync with the server unreachable"
check 'grep -q "\"snapshot\": \"skipped\"" "$MK_OUT"' "--json for a failed account does not say snapshot skipped: $(grep -o '"snapshot": "[a-z]*"' "$MK_OUT")"
mk -c "$cfg" sync
expect_rc 0 "sync after the failed snapshot"
check '[ "$(G rev-list --count main)" -eq 3 ]' "the missed change was not committed"
tree_matches
fsck_clean

# kill -9 during snapshots of a fresh repository, then a clean run: fsck clean, tree = mirror
rm -rf "$R" "$A/.mailkeep/snapshot-state"
for i in 1 2 3 4 5; do
	"$MAILKEEP" -c "$cfg" snapshot >/dev/null 2>&1 &
	pid=$!
	sleep "0.0$((RANDOM % 9 + 1))"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	[ -d "$R" ] && fsck_clean
done
mk -c "$cfg" snapshot
expect_rc 0 "snapshot after kills"
tree_matches
fsck_clean

# core.protectNTFS is set before the new repository is renamed into place (a later write takes
# config.lock, and a run killed then left every later snapshot failing on the stale lock: seen once
# in the loop above); in a repository where it is still on and config.lock is held (the user's git,
# or a run of an older version killed there), snapshots go on, with a warning
check '[ "$(G config --bool core.protectNTFS)" = false ]' "the new repository still has core.protectNTFS on"
G config core.protectNTFS true
: >"$R/config.lock"
mk -c "$cfg" snapshot
expect_rc 0 "snapshot with config.lock held"
check 'grep -q "protectNTFS stays on" "$MK_ERR"' "no warning about core.protectNTFS: $(mk_err_line)"
rm -f "$R/config.lock"
mk -c "$cfg" snapshot
expect_rc 0 "snapshot with config.lock gone"
check '[ "$(G config --bool core.protectNTFS)" = false ]' "core.protectNTFS not turned off once config.lock was gone"
tree_matches
fsck_clean

# the snapshot's objects are durable before the branch names them: libgit2 does not fsync, and a
# branch renamed into place first pointed, after a power cut, at empty object files (every later
# snapshot failed on them). With strace: a syncfs (or fsync) after the last object is linked or
# renamed into objects/ and before refs/heads/main.lock is renamed to refs/heads/main.
seed append --folder INBOX --count 1 --first 600
ASAN_OPTIONS=detect_leaks=0 strace -f -qq -o "$T/durable.trace" -e trace=link,linkat,rename,renameat,renameat2,syncfs,fsync,fdatasync \
	"$MAILKEEP" -c "$cfg" sync >"$T/durable.out" 2>&1
rc=$?
check '[ "$rc" -eq 0 ]' "sync under strace failed: $(tail -n 2 "$T/durable.out" | tr '\n' ' ')"
awk '/(link|rename).*\.git\/objects\/..\// { obj = NR; synced = 0 }
	/(syncfs|fsync|fdatasync)\(/ && obj && !/= -1/ { synced = 1 }
	/rename.*refs\/heads\/main\.lock/ { ref = NR; ok = synced }
	END { exit !(obj && ref > obj && ok) }' "$T/durable.trace"
rc=$?
check '[ "$rc" -eq 0 ]' "no sync between the last object written and the branch moved: $(grep -E 'objects/|refs/heads|sync' "$T/durable.trace" | tail -n 4 | tr '\n' ' ')"
tree_matches
fsck_clean
t_pass
