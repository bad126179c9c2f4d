#!/usr/bin/env bash
# Git snapshots of mirrors made on disk (no server: `mailkeep snapshot`): the memory of a first
# snapshot does not grow with the number of messages of the mirror, only with its largest folder
# (it held a path and a tree update for every message until the commit: ~175 bytes a message);
# and two files of one base name in a folder (a message and a copy of it with other flags) are
# both committed with their own bytes, whatever order the directory lists them in (the new one
# listed first made every snapshot fail: "duplicate entries given for update").
. "$(dirname "$0")/lib.sh"
t_begin
cfg_for() { # cfg_for ROOT: a config whose account "a" has its mirror in ROOT/a
	{
		echo "accounts:"
		acct_yaml a root="$1" snapshot=true password_file=/dev/null
	} | cfg_write "$T/$(basename "$1").yaml"
}
# mirror ROOT FOLDERS PER: FOLDERS folders of PER small messages each
mirror() {
	python3 - "$1" "$2" "$3" <<'EOF'
import os, sys
root, nf, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for f in range(nf):
    d = os.path.join(root, "a", "F%04d" % f)
    for s in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(d, s), exist_ok=True)
    for u in range(1, per + 1):
        name = "%d.%d_%d.host,U=%d:2,S" % (1700000000 + u, f, u, u)
        with open(os.path.join(d, "cur", name), "w") as fp:
            fp.write("Subject: %d/%d\n\nbody %d\n" % (f, u, u))
EOF
}
peak_kib() { # peak_kib CFG: peak RSS of `mailkeep -c CFG snapshot`, in KiB
	/usr/bin/time -f '%M' -o "$T/rss" "$MAILKEEP" -c "$1" snapshot >"$T/snap.out" 2>"$T/snap.err" ||
		fail "mailkeep snapshot failed: $(head -n 2 "$T/snap.err" | tr '\n' ' ')"
	tail -n 1 "$T/rss"
}

# memory: 200 messages against 30,000 in folders of 200 (not with a sanitizer: its
# quarantine keeps freed memory)
# (grep -q would stop reading at the match: ldd's SIGPIPE then fails the pipeline under pipefail)
if ldd "$MAILKEEP" 2>/dev/null | grep libasan >/dev/null; then
	t_log "sanitizer build: memory not measured"
elif [ -x /usr/bin/time ]; then
	mirror "$T/small" 1 200
	mirror "$T/large" 150 200
	cfg_for "$T/small"
	cfg_for "$T/large"
	small=$(peak_kib "$T/small.yaml")
	large=$(peak_kib "$T/large.yaml")
	n=$(git --git-dir="$T/large/a.git" ls-tree -r --name-only main | grep -vc '/\.mailkeep-keep$')
	check '[ "$n" -eq 30000 ]' "the first snapshot holds $n messages, not 30000"
	t_log "peak RSS: 200 messages $small KiB, 30000 messages $large KiB"
	check '[ $((large - small)) -lt 1024 ]' \
		"the snapshot of 30000 messages took $((large - small)) KiB more than that of 200 ($small KiB)"
else
	t_log "no /usr/bin/time: memory not measured"
fi

# two files of one base name, the new one listed before or after the old one
R=$T/dup
cfg_for "$R"
G() { git --git-dir="$R/a.git" "$@"; }
C=$R/a/INBOX/cur
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
	rm -rf "$R"
	mkdir -p "$C" "$R/a/INBOX/new" "$R/a/INBOX/tmp"
	b="170000000$i.M1P1.host,U=$i"
	printf 'Subject: original\n\n%s\n' "$i" >"$C/$b:2,S"
	mk -c "$R.yaml" snapshot
	expect_rc 0 "first snapshot ($i)"
	printf 'Subject: a copy, other bytes\n\n%s\n' "$i" >"$C/$b:2,FS"
	mk -c "$R.yaml" snapshot
	expect_rc 0 "snapshot with two files of one base name, listed $(ls -f "$C" | grep -v '^\.' | tr '\n' ' ')"
	for f in "$b:2,S" "$b:2,FS"; do
		CHECKS=$((CHECKS + 1))
		G cat-file blob "main:INBOX/cur/$f" 2>/dev/null | cmp -s - "$C/$f" ||
			fail "the snapshot of $f is not its bytes (listed $(ls -f "$C" | grep -v '^\.' | tr '\n' ' '))"
	done
	check '[ "$(G ls-tree --name-only main:INBOX/cur | grep -vc "^\.")" -eq 2 ]' "expected 2 messages in the tree"
	# the copy removed again: the original stays, with its blob
	rm -f "$C/$b:2,FS"
	mk -c "$R.yaml" snapshot
	expect_rc 0 "snapshot after the copy was removed ($i)"
	check '[ "$(G ls-tree --name-only main:INBOX/cur | grep -vc "^\.")" -eq 1 ]' "expected 1 message in the tree"
	G cat-file blob "main:INBOX/cur/$b:2,S" 2>/dev/null | cmp -s - "$C/$b:2,S" || fail "the original's blob changed"
done
G fsck --full --strict --no-progress >"$T/fsck.out" 2>&1 || fail "git fsck: $(head -n 2 "$T/fsck.out" | tr '\n' ' ')"
t_pass
