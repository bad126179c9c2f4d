#!/usr/bin/env bash
# Git snapshots while a mail reader changes flags in the mirror (mutt, notmuch's synchronize_flags:
# renames in cur/): every commit holds every message exactly once. A file renamed while readdir()
# ran was listed under neither name (or both), and the commit left the message out and counted it
# "removed" (23 of 77 commits with bursts of 300 renames in a folder of 2000); a new message
# renamed between the listing and its hashing (first snapshots: every file is read) was left out.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
N=2000
seed populate --seed 31 --count 2 --big 0 --folders INBOX
seed append --folder INBOX --seed 32 --count $((N - 2)) --first 100
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice snapshot=true; } | cfg_write "$cfg"
A=$T/mail/alice
R=$T/mail/alice.git
G() { git --git-dir="$R" "$@"; }
mk -c "$cfg" sync
expect_rc 0 "first sync with a snapshot"
check '[ "$(msg_files "$A" | grep -c "^INBOX/cur/")" -eq "$N" ]' "the mirror does not hold $N messages"

# the reader: bursts of 300 flag changes (S <-> FS), a pause of 0.2 s between them
cat >"$T/reader.py" <<'PY'
import os, random, sys, time
d, seconds = sys.argv[1], float(sys.argv[2])
names = {n.split(":2,")[0]: n for n in os.listdir(d) if not n.startswith(".")}
keys = sorted(names)
rnd = random.Random(5)
end = time.time() + seconds
while time.time() < end:
    for _ in range(300):
        k = rnd.choice(keys)
        old = names[k]
        base, flags = old.split(":2,")
        flags = flags.replace("F", "") if "F" in flags else "".join(sorted(flags + "F"))
        os.rename(os.path.join(d, old), os.path.join(d, base + ":2," + flags))
        names[k] = base + ":2," + flags
    time.sleep(0.2)
PY
python3 "$T/reader.py" "$A/INBOX/cur" 12 &
reader=$!
runs=0
while kill -0 "$reader" 2>/dev/null; do
	"$MAILKEEP" -c "$cfg" snapshot >/dev/null 2>>"$T/snap.err" || fail "mailkeep snapshot failed: $(tail -n 1 "$T/snap.err")"
	runs=$((runs + 1))
done
wait "$reader" || fail "the reader failed"
t_log "$runs snapshots while the reader ran"
check '[ "$runs" -ge 10 ]' "only $runs snapshots while the reader ran"

# all_once: every commit holds N entries in INBOX/cur, N distinct base names, nothing counted removed
all_once() {
	local bad=0 c n b
	for c in $(G rev-list main); do
		G ls-tree --name-only "$c:INBOX/cur" | grep -v '^\.mailkeep-keep$' >"$T/entries"
		n=$(wc -l <"$T/entries")
		b=$(sed 's/:2,.*//' "$T/entries" | sort -u | wc -l)
		if [ "$n" -ne "$N" ] || [ "$b" -ne "$N" ]; then
			bad=$((bad + 1))
			t_log "commit $c: $n entries, $b messages: $(G log -1 --format=%s "$c")"
		fi
	done
	check '[ "$bad" -eq 0 ]' "$1: $bad of $(G rev-list --count main) commits do not hold each of the $N messages once"
	check '! G log --format=%s main | grep -v ", 0 removed$"' "$1: a commit counts messages removed: $(G log --format=%s main | grep -v ', 0 removed$' | head -n 1)"
}
all_once "incremental snapshots"

# first snapshots (every file read and hashed) while the reader runs: a message renamed between
# the listing and its hashing is taken under its new name (it was left out of the commit)
python3 "$T/reader.py" "$A/INBOX/cur" 8 &
reader=$!
firsts=0
while kill -0 "$reader" 2>/dev/null; do
	rm -rf "$R.$firsts"
	mv "$R" "$R.$firsts"
	rm -f "$A/.mailkeep/snapshot-state"
	"$MAILKEEP" -c "$cfg" snapshot >/dev/null 2>>"$T/snap.err" || fail "mailkeep snapshot failed: $(tail -n 1 "$T/snap.err")"
	firsts=$((firsts + 1))
	all_once "first snapshot $firsts"
done
wait "$reader" || fail "the reader failed"
t_log "$firsts first snapshots while the reader ran"

# the reader gone: one more snapshot is the mirror exactly, and a sync finds nothing to do
mk -c "$cfg" snapshot
expect_rc 0 "snapshot after the reader"
G ls-tree -r --name-only main | grep -v '/\.mailkeep-keep$' | sort >"$T/tree.list"
msg_files "$A" >"$T/mirror.list"
check 'diff -q "$T/tree.list" "$T/mirror.list" >/dev/null' "the tree is not the mirror: $(diff "$T/tree.list" "$T/mirror.list" | head -n 3 | tr '\n' ' ')"
G fsck --full --no-progress >"$T/fsck.out" 2>&1 || fail "git fsck: $(head -n 2 "$T/fsck.out" | tr '\n' ' ')"
t_pass
