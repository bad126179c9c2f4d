#!/usr/bin/env bash
# A mail reader's rename that lands while mailkeep is itself renaming many files of the same folder
# (a loop spanning several ticks of the clock that stamps directory times): the times read after
# the loop cannot tell the reader's change from mailkeep's own, so the folder's directory is
# compared with its new state before the state is trusted (docs/design.md, "State"). The reader
# sets T on every message of Archive but one, then, as soon as mailkeep's first rename back is
# seen, sets F on the one left. The run after must find it and end exact (before: the state was
# trusted, the folder "unchanged" run after run, the reader's F kept for up to a day).
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed append --folder Archive --seed 71 --count 1000 --big 0
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice max_connections=1; } | cfg_write "$cfg"
A=$T/mail/alice
mk -c "$cfg" sync
expect_rc 0 "initial sync"
exact "$A"
# the initial mirror's renames spanned many ticks: its directories were compared with the states,
# found equal, and the states trusted: a run with no change examines no folder
mk -c "$cfg" -v sync
expect_rc 0 "sync with no change"
check '! grep -q "(QRESYNC)\|(CONDSTORE)\|(full)" "$MK_ERR"' "a run with no change examined a folder: $(grep -m1 "(QRESYNC)\|(full)" "$MK_ERR")"
check '[ "$(grep -c ": unchanged" "$MK_ERR")" -eq 2 ]' "a run with no change: not every folder unchanged: $(grep -c ": unchanged" "$MK_ERR")"

for round in 1 2 3; do
	python3 - "$A/Archive/cur" "$MAILKEEP" "$cfg" >"$T/reader.out" 2>&1 <<'EOF' || fail "reader: $(tail -n 2 "$T/reader.out")"
import os, subprocess, sys
d, mk, cfg = sys.argv[1:4]
def with_flag(name, letter):
    base, info = name.rsplit(":2,", 1)
    return base + ":2," + "".join(sorted(set(info + letter)))
names = sorted(n for n in os.listdir(d) if "T" not in n.rsplit(":2,", 1)[1] and "F" not in n.rsplit(":2,", 1)[1])
victim, bulk = names[-1], names[:-1]
for n in bulk:
    os.rename(os.path.join(d, n), os.path.join(d, with_flag(n, "T")))
p = subprocess.Popen([mk, "-c", cfg, "-q", "sync"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
while not os.path.exists(os.path.join(d, bulk[0])) and p.poll() is None:
    pass
os.rename(os.path.join(d, victim), os.path.join(d, with_flag(victim, "F")))
print("reader's rename", "during" if p.poll() is None else "after", "the run")
sys.exit(0 if p.wait() == 0 else 1)
EOF
	mk -c "$cfg" -v sync
	expect_rc 0 "sync after the reader's rename (round $round, $(cat "$T/reader.out"))"
	exact "$A"
done
t_pass
