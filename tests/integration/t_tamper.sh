#!/usr/bin/env bash
# What a mail reader does locally (flags changed by renaming, a message moved from cur/ to new/
# with or without its info suffix, a file deleted, a stale file in tmp/) is undone by the next run,
# with no duplicates; untouched messages keep their files.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 5 --count 6 --big 0
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice; } | cfg_write "$cfg"
A=$T/mail/alice

mk -c "$cfg" sync
expect_rc 0 "initial sync"
exact "$A"
inode_list "$A" >"$T/inodes0"

f=$(file_for "$A" INBOX 1); mv "$f" "${f%:2,*}:2,S"                            # flags changed
f=$(file_for "$A" INBOX 2); mv "$f" "${f%:2,*}:2,FRST"                         # flags added
f=$(file_for "$A" INBOX 3); mv "$f" "$A/INBOX/new/"                            # back to new/
f=$(file_for "$A" Archive 4); b=${f##*/}; mv "$f" "$A/Archive/new/${b%:2,*}"   # new/ without info
f=$(file_for "$A" Archive 5); rm -f "$f"                                       # deleted
f=$(file_for "$A" 'Geschäftlich' 6); mv "$f" "${f%:2,*}:2,"                    # all flags dropped
printf 'partial delivery\n' >"$A/INBOX/tmp/1700000000.12345_1.stale"          # left in tmp/ by
touch -d '2 days ago' "$A/INBOX/tmp/1700000000.12345_1.stale"                  # another program
printf 'partial\n' >"$A/Archive/tmp/1700000000.12345_2.mailkeep.part"         # and by mailkeep

mk -c "$cfg" sync
expect_rc 0 "sync after local tampering"
exact "$A"
inode_list "$A" >"$T/inodes1"
# renamed back (same inode, back in cur/ under its right name) or rewritten are both fine for
# the tampered ones; the deleted one comes back; everything else is untouched
python3 - "$T/inodes0" "$T/inodes1" >"$T/tamper.out" <<'PY' || fail "tampering: $(head -n 1 "$T/tamper.out")"
import re, sys
def load(p):
    d = {}
    for line in open(p, encoding="utf-8"):
        ino, path = line.rstrip("\n").split(" ", 1)
        m = re.search(r"^(.*)/(cur|new)/[^/]*,U=(\d+):2,", path)
        if m:
            d[(m.group(1), m.group(3))] = (ino, path)
    return d
b, a = load(sys.argv[1]), load(sys.argv[2])
tampered = {("INBOX", "1"), ("INBOX", "2"), ("INBOX", "3"), ("Archive", "4"), ("Archive", "5"),
            ("Geschäftlich", "6")}
bad = [f"{k[0]} UID {k[1]} changed" for k in b if k not in tampered and b[k] != a.get(k)]
bad += [f"{k[0]} UID {k[1]} missing" for k in b if k not in a]
print("; ".join(bad))
sys.exit(1 if bad else 0)
PY

mk -c "$cfg" sync
expect_rc 0 "no-op sync after the repair"
inode_list "$A" >"$T/inodes2"
inode_expect "$T/inodes1" "$T/inodes2"
t_pass
