#!/usr/bin/env bash
# sync: a folder that fails locally before anything of it is downloaded (its cur/ replaced by a
# symbolic link, which mailkeep refuses to follow) fails alone: the connection stays for the next
# folder. With max_connections 1 and four such folders synced before two good ones (the largest
# folders go first), the run exits 1 naming the four, and the good folders get their new mail
# exactly; once the four are restored, a sync makes the whole mirror exact.
# before: such a local error counted as a network error: each dropped the connection, and after
# MAX_RECONNECTS (3) the good folders failed with "not synced: no connection".
# Then the same four fail in the middle of their download (their tmp/ refuses the new file: a
# read-only bind mount as root, mode 0500 otherwise), which the same connection goes on from: the
# good folders after them must still get their new mail and flag changes. Between them (6 messages
# each, then 5, then 4) an unchanged folder, so that no EXAMINE is sent ahead for a good one.
# before: the failed download's mark stayed on the connection, and every later FETCH response on it
# (the next folder's EXAMINE reporting its new messages) failed that folder with the first one's
# error ("Read-only file system" for a file in Bad1/tmp/ given for Good1 and Good2).
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
BAD="Bad1 Bad2 Bad3 Bad4"
GOOD="Good1 Good2"
i=0
for f in $BAD; do i=$((i + 1)); seed append --folder "$f" --seed $((40 + i)) --count 4; done
for f in $GOOD; do i=$((i + 1)); seed append --folder "$f" --seed $((40 + i)) --count 2; done
seed append --folder Still --seed 49 --count 5 # unchanged in the second part, between the bad and the good ones
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice max_connections=1; } | cfg_write "$cfg"
A=$T/mail/alice
mk -c "$cfg" sync
expect_rc 0 "initial sync"
exact "$A"

for f in $BAD; do
	mv "$A/$f/cur" "$A/$f/cur.real" && ln -s cur.real "$A/$f/cur" || fail "cannot replace $f/cur by a link"
done
i=0
for f in $BAD $GOOD; do i=$((i + 1)); seed append --folder "$f" --seed $((50 + i)) --count 1 --first 10; done
mk -c "$cfg" -v sync
expect_rc 1 "sync with four broken folders"
for f in $BAD; do
	check 'grep -q "error: .*folder \"$f\"" "$MK_ERR"' "the broken folder $f is not reported"
done
check '! grep -q "no connection" "$MK_ERR"' "folders failed for want of a connection: $(grep -m1 'no connection' "$MK_ERR")"
# the good folders: exactly the server's messages, the new one included
for f in $GOOD; do
	n=$(find "$A/$f/cur" -type f | wc -l)
	check '[ "$n" -eq 3 ]' "$f has $n files, not 3 (its new message was not synced)"
done
exact "$A" --ignore-local $BAD

# the broken folders restored: the next sync makes everything exact
for f in $BAD; do
	rm "$A/$f/cur" && mv "$A/$f/cur.real" "$A/$f/cur" || fail "cannot restore $f/cur"
done
mk -c "$cfg" sync
expect_rc 0 "sync after the folders were restored"
exact "$A"

# --- the same four failing in the middle of their download ---
RO_MOUNTS=()
ro_dir() { # ro_dir DIR: DIR refuses new files (unmounted on exit)
	if [ "$(id -u)" -eq 0 ]; then
		mount --bind "$1" "$1" && RO_MOUNTS+=("$1") && mount -o remount,bind,ro "$1" ||
			fail "cannot make $1 read-only"
	else
		chmod 500 "$1" || fail "cannot make $1 read-only"
	fi
}
rw_dir() {
	if [ "$(id -u)" -eq 0 ]; then umount "$1" || fail "cannot unmount $1"; else chmod 700 "$1"; fi
}
trap 'rc=$?; for d in "${RO_MOUNTS[@]}"; do umount "$d" 2>/dev/null; done; (exit $rc); t_cleanup' EXIT
for f in $BAD; do ro_dir "$A/$f/tmp"; done
i=0
for f in $BAD $GOOD; do i=$((i + 1)); seed append --folder "$f" --seed $((60 + i)) --count 1 --first 20; done
# a flag change too: the good folder's EXAMINE (QRESYNC) then answers with a FETCH of its own
for f in $GOOD; do dadm flags add -u alice '\Flagged' mailbox "$f" uid 1; done
mk -c "$cfg" -v sync
expect_rc 1 "sync with four folders whose tmp/ refuses files"
for f in $BAD; do
	check 'grep -q "error: .*folder \"$f\"" "$MK_ERR"' "the folder $f whose download failed is not reported"
done
for f in $GOOD; do
	check '! grep -q "error: .*folder \"$f\"" "$MK_ERR"' "$f failed after another folder's download failed: $(grep -m1 "folder \"$f\"" "$MK_ERR")"
	n=$(find "$A/$f/cur" -type f | wc -l)
	check '[ "$n" -eq 4 ]' "$f has $n files, not 4 (its new message was not synced)"
done
exact "$A" --ignore-local $BAD
for f in $BAD; do rw_dir "$A/$f/tmp"; done
RO_MOUNTS=()
mk -c "$cfg" sync
expect_rc 0 "sync after the tmp/ directories were writable again"
exact "$A"
t_pass
