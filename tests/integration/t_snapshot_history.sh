#!/usr/bin/env bash
# Git snapshots as a user recovering mail with plain git meets them, over a history of runs: one
# commit per changing run (none for a no-op run) on the configured branch, each commit's tree byte
# for byte the mirror as it was after its run (checked with git archive against copies saved after
# each run), through new mail, flag changes, expunges, a folder deleted and one renamed on the
# server, a UIDVALIDITY change, odd folder names (spaces, leading dot, '%', non-ASCII, GIT~1), a
# `git gc` by the user, the branch reset by the user, the snapshot state and the repository
# deleted; a ref lock held by the user's git is not broken; a non-bare repository is refused.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 7 --count 4 --big 0
cfg=$T/config.yaml
B=mail-history
{ echo "accounts:"; acct_yaml alice snapshot=true snapshot_branch=$B; } | cfg_write "$cfg"
A=$T/mail/alice
R=$T/mail/alice.git
G() { git -c core.quotepath=off --git-dir="$R" "$@"; }
ncommits() { G rev-list --count "$B" 2>/dev/null || echo 0; }

# save N: the mirror as mail readers see it (no state files, no .mailkeep/), with empty cur/new/tmp
save() {
	mkdir -p "$T/saved/$1"
	(cd "$A" && tar -c --exclude=./.mailkeep --exclude=.mailkeep-state .) | tar -x -C "$T/saved/$1"
	G rev-parse "$B" >"$T/saved/$1.commit"
}
# tree_is COMMIT N: the commit's tree, extracted with git archive, is byte for byte saved copy N
tree_is() {
	CHECKS=$((CHECKS + 1))
	local x=$T/x.$2
	rm -rf "$x" && mkdir "$x"
	G archive "$1" | tar -x -C "$x" || fail "git archive $1 failed"
	find "$x" -name .mailkeep-keep -type f -size 0 -delete
	diff -r "$x" "$T/saved/$2" >"$T/diff.out" 2>&1 ||
		fail "commit $1 is not the mirror after run $2: $(head -n 3 "$T/diff.out" | tr '\n' ' ')"
	rm -rf "$x"
}
fsck_clean() {
	CHECKS=$((CHECKS + 1))
	# hasDotgit: the folder GIT~1 (a warning that --strict makes an error; see docs/snapshots.md)
	G -c fsck.hasDotgit=ignore fsck --strict --full --no-dangling >"$T/fsck.out" 2>&1 ||
		fail "git fsck --strict: $(head -n 3 "$T/fsck.out" | tr '\n' ' ')"
}
sync_ok() {
	mk -c "$cfg" sync
	expect_rc 0 "$1"
}

# run 1: the first mirror; run 2: nothing changed, no commit
sync_ok "run 1"
save 1
check '[ "$(ncommits)" -eq 1 ]' "run 1: expected 1 commit on $B, got $(ncommits)"
check '! G rev-parse -q --verify refs/heads/main >/dev/null' "a commit on main although snapshot_branch is $B"
sync_ok "run 2 (no change)"
check '[ "$(ncommits)" -eq 1 ]' "a no-change run made a commit"

# run 3: flags, an expunge, new mail, folders with odd names
dadm flags add -u alice '\Flagged' mailbox INBOX uid 1:2
dadm flags remove -u alice '\Seen' mailbox Archive all
dadm expunge -u alice mailbox INBOX uid 3
seed append --folder INBOX --count 2 --first 100
for f in "with space" ".hidden" "100%" "Ünïcödé ✓" "GIT~1"; do seed append --folder "$f" --count 1 --first 1; done
sync_ok "run 3 (changes, odd names)"
save 3
check '[ "$(ncommits)" -eq 2 ]' "run 3: expected 2 commits, got $(ncommits)"
check '[ -d "$A/%2Ehidden/cur" ] && [ -d "$A/100%25/cur" ] && [ -d "$A/GIT~1/cur" ]' "odd names not escaped as documented"
fsck_clean

# the user packs the repository between runs; run 4: a folder deleted and one renamed on the server
G gc -q || fail "git gc failed"
check '[ "$(G count-objects -v | sed -n "s/^count: //p")" -le 2 ]' "git gc did not pack the objects"
dadm mailbox delete -u alice 'R&D'
dadm mailbox rename -u alice 'Archive/2024' 'Archive/Year2024'
sync_ok "run 4 (folders deleted and renamed)"
save 4
check '[ "$(ncommits)" -eq 3 ]' "run 4: expected 3 commits, got $(ncommits)"
check '[ "$(G rev-list --objects "$B" ^"$B~1" | wc -l)" -lt 20 ]' "run 4 after git gc did not commit incrementally"

# run 5: a UIDVALIDITY change moves INBOX aside (into .mailkeep/, which is not committed)
dadm mailbox update -u alice --uid-validity 777 INBOX
sync_ok "run 5 (UIDVALIDITY change)"
save 5
check '[ "$(ncommits)" -eq 4 ]' "run 5: expected 4 commits, got $(ncommits)"
check '[ -z "$(G ls-tree -r --name-only "$B" | grep -v "/\.mailkeep-keep$" | grep -v "^[^/].*/\(cur\|new\)/[^/]*$")" ]' \
	"the tree holds something else than message files and placeholders"

# every commit is its run's mirror, byte for byte; only regular 100644 blobs; fsck clean
i=0
for run in 5 4 3 1; do
	check '[ "$(G rev-parse "$B~$i")" = "$(cat "$T/saved/$run.commit")" ]' "commit $B~$i is not run $run's"
	tree_is "$B~$i" "$run"
	i=$((i + 1))
done
check '[ "$(G ls-tree -r "$B" | cut -d" " -f1 | sort -u)" = 100644 ]' "modes other than 100644 in the tree"
fsck_clean
mk -c "$cfg" log
expect_rc 0 "mailkeep log"
check '[ "$(grep -c "mailkeep: alice:" "$MK_OUT")" -eq 4 ]' "mailkeep log does not list 4 snapshots"

# a branch lock held by the user's git (a transaction between prepare and commit) is not broken
coproc UR { G update-ref --stdin 2>&1; }
urpid=$UR_PID
printf 'start\nupdate refs/heads/%s %s %s\nprepare\n' "$B" "$(G rev-parse "$B~1")" "$(G rev-parse "$B")" >&"${UR[1]}"
read -r -t 10 l1 <&"${UR[0]}"
read -r -t 10 l2 <&"${UR[0]}"
check '[ "$l2" = "prepare: ok" ] && [ -f "$R/refs/heads/$B.lock" ]' "git update-ref did not take the lock: $l1 / $l2"
seed append --folder INBOX --count 1 --first 200
mk -c "$cfg" sync
expect_rc 5 "sync while the user's git holds the branch lock"
check '[ -f "$R/refs/heads/$B.lock" ]' "mailkeep removed the lock held by the user's git"
echo commit >&"${UR[1]}"
read -r -t 10 l3 <&"${UR[0]}"
exec {UR[1]}>&-
wait "$urpid" 2>/dev/null
check '[ "$l3" = "commit: ok" ]' "the user's git update-ref failed: $l3"
check '[ "$(ncommits)" -eq 3 ]' "the user's reset of the branch was lost"
# the user's reset (to run 4's commit) and the missed change are both taken up by the next run
sync_ok "run 6 (after the user's reset)"
save 6
check '[ "$(ncommits)" -eq 4 ] && [ "$(G rev-parse "$B~1")" = "$(cat "$T/saved/4.commit")" ]' "run 6 is not on top of the reset branch"
tree_is "$B" 6

# the snapshot state lost: no commit when nothing changed; the repository deleted: recreated, one commit
rm -f "$A/.mailkeep/snapshot-state"
sync_ok "run 7 (state lost)"
check '[ "$(ncommits)" -eq 4 ]' "a lost snapshot state made a commit"
rm -rf "$R"
dadm flags add -u alice '\Answered' mailbox 'with space' all
sync_ok "run 8 (repository deleted)"
save 8
check '[ "$(ncommits)" -eq 1 ]' "the recreated repository does not have exactly 1 commit"
check '[ "$(G rev-parse --is-bare-repository)" = true ]' "the recreated repository is not bare"
tree_is "$B" 8

# kill -9 during snapshots, then a clean run: no lock left, fsck clean, the tree is the mirror
dadm flags remove -u alice '\Flagged' mailbox INBOX all
seed append --folder Archive --count 3 --first 300
sync_ok "run 9"
for i in 1 2 3 4; do
	rm -f "$A/.mailkeep/snapshot-state"
	"$MAILKEEP" -c "$cfg" snapshot >/dev/null 2>&1 &
	pid=$!
	sleep "0.0$((RANDOM % 9 + 1))"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
done
mk -c "$cfg" snapshot
expect_rc 0 "snapshot after kills"
save 9
tree_is "$B" 9
check '[ -z "$(find "$R/refs" -name "*.lock")" ] && [ ! -e "$A/.mailkeep/snapshot-committing" ]' "lock files left"
fsck_clean

# a non-bare repository (the .git of a checkout) is refused; its branch, index and files untouched
W=$T/work
git init -q -b "$B" "$W" && echo notes >"$W/notes.txt" && git -C "$W" add notes.txt &&
	git -C "$W" -c user.name=u -c user.email=u@example.org commit -qm user || fail "git init of $W failed"
h0=$(git -C "$W" rev-parse HEAD)
{ echo "accounts:"; acct_yaml alice snapshot=true snapshot_branch=$B snapshot_repo="$W/.git"; } | cfg_write "$T/work.yaml"
mk -c "$T/work.yaml" snapshot
expect_rc 5 "snapshot into the .git of a checkout"
check 'grep -q "work tree" "$MK_ERR"' "no clear refusal: $(mk_err_line)"
check '[ "$(git -C "$W" rev-parse HEAD)" = "$h0" ] && [ -z "$(git -C "$W" status --porcelain)" ]' "the user's checkout changed"
mk -c "$cfg" status
check 'grep -q "snapshot failed" "$MK_OUT"; [ $? -ne 0 ]' "status reports a failed snapshot after a good run"
t_pass
