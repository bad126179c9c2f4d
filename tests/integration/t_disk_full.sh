#!/usr/bin/env bash
# A mirror on a full file system: the run fails with a clear error naming the cause, leaves no
# partial message in cur/ or new/ and no state recording a message that is not there (verify
# passes), and once there is room again the next run ends exact. Needs root (a small tmpfs).
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 8 --count 8 --big 3 --big-size 200000:300000
cfg=$T/config.yaml
small_fs 600k
{ echo "accounts:"; acct_yaml alice root="$M/mail"; } | cfg_write "$cfg"
A=$M/mail/alice

mk -c "$cfg" sync
t_log "full: rc $MK_RC: $(head -c 600 "$MK_ERR")"
check '[ "$MK_RC" = 1 ] || [ "$MK_RC" = 4 ]' "sync on a full file system: exit $MK_RC, expected 1 or 4"
check 'grep -q "No space left on device" "$MK_ERR"' "the error does not say the disk is full: $(head -n 3 "$MK_ERR")"
find "$A" -path "$A/*/tmp/*" -type f >"$T/tmpfiles" 2>/dev/null
find "$A" \( -path '*/cur/*' -o -path '*/new/*' \) -type f -size 0 >"$T/empty" 2>/dev/null
check '[ ! -s "$T/empty" ]' "empty message files after ENOSPC: $(head -n 3 "$T/empty")"
# files renamed into cur/ whose state could not be written are fine (the next run adopts them);
# a state recording a message that has no file, or two copies of one, is not
mk -c "$cfg" verify
t_log "verify after ENOSPC: rc $MK_RC: $(grep -c . "$MK_OUT") lines"
check '! grep -E "is recorded but has no file|copies|cannot be read" "$MK_OUT"' \
	"state or files wrong after ENOSPC: $(grep -E "recorded but|copies|cannot be read" "$MK_OUT" | head -n 3)"

mount -o remount,size=50m "$M"
mk -c "$cfg" sync
expect_rc 0 "sync with room again"
exact "$A"
check '[ -z "$(find "$A" -path "$A/*/tmp/*" -type f)" ]' "files left in tmp/: $(find "$A" -path "$A/*/tmp/*" -type f | head -n 3)"

# an incremental run that finds the disk full: new mail, flag changes, an expunge; then the git
# snapshot's repository on the same full file system (exit 5 once the mirror is done)
dadm flags add -u alice '\Flagged' mailbox INBOX uid 1
dadm expunge -u alice mailbox Archive uid 2
seed append --folder INBOX --seed 81 --count 2 --big 2
{ echo "accounts:"; acct_yaml alice root="$M/mail" snapshot=true; } | cfg_write "$cfg"
fill_fs "$M" 40
mk -c "$cfg" sync
t_log "incremental on a full disk: rc $MK_RC: $(head -c 400 "$MK_ERR")"
check '[ "$MK_RC" != 0 ]' "incremental sync on a full disk exited 0"
check 'grep -q "No space left on device" "$MK_ERR"' "the error does not say the disk is full: $(head -n 3 "$MK_ERR")"
mk -c "$cfg" verify
check '! grep -E "is recorded but has no file|copies|cannot be read" "$MK_OUT"' \
	"state or files wrong after ENOSPC: $(grep -E "recorded but|copies|cannot be read" "$MK_OUT" | head -n 3)"
rm -f "$M/filler"
mk -c "$cfg" sync
expect_rc 0 "incremental sync with room again"
exact "$A"
check '[ -z "$(find "$A" -path "$A/*/tmp/*" -type f)" ]' "files left in tmp/: $(find "$A" -path "$A/*/tmp/*" -type f | head -n 3)"
check 'git --git-dir="$M/mail/alice.git" log --oneline >/dev/null' "no snapshot repository"

# the mirror syncs, but the snapshot repository's file system is full: exit 5, and the next run
# with room commits the changes
R=$T/repofs
mkdir -p "$R"
mount -t tmpfs -o size=2m,mode=0700 tmpfs "$R" || fail "cannot mount a second tmpfs"
trap 'rc=$?; umount "$M" "$R" 2>/dev/null; (exit $rc); t_cleanup' EXIT
{ echo "accounts:"; acct_yaml alice root="$M/mail" snapshot=true snapshot_repo="$R/alice.git"; } | cfg_write "$cfg"
mk -c "$cfg" sync
expect_rc 0 "first snapshot into the second file system"
seed append --folder Archive --seed 83 --count 2 --big 1
fill_fs "$R" 4
mk -c "$cfg" sync
t_log "snapshot on a full disk: rc $MK_RC: $(head -c 400 "$MK_ERR")"
expect_rc 5 "sync with the repository on a full file system"
check 'grep -q "No space left on device" "$MK_ERR"' "the snapshot error does not say the disk is full: $(head -n 3 "$MK_ERR")"
exact "$A"
rm -f "$R/filler"
mk -c "$cfg" sync
expect_rc 0 "sync with room again after a failed snapshot"
exact "$A"
git --git-dir="$R/alice.git" fsck --no-progress >"$T/fsck.out" 2>&1
frc=$? # not $? inside check: its own CHECKS=... has set it to 0 by then
check '[ $frc = 0 ]' "git fsck failed: $(head -n 3 "$T/fsck.out")"
rm -rf "$T/restore"; mkdir -m 700 "$T/restore"
git --git-dir="$R/alice.git" archive HEAD | tar -x -C "$T/restore"
diff -r -x .mailkeep -x .mailkeep-state -x .mailkeep-keep -x tmp "$T/restore" "$A" >"$T/diff" 2>&1
drc=$?
check '[ $drc = 0 ]' "the last snapshot differs from the mirror: $(head -n 3 "$T/diff")"
t_pass
