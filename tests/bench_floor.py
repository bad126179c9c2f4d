#!/usr/bin/env python3
"""bench_floor.py SHARED_BENCH_DIR MAILKEEP [ROUNDS] -- the server's own floor beside mbsync and mailkeep,
for `make bench` and docs/performance.md.

Issue 7 sets the no-change and changed targets as ratios to mbsync. Part of every run is the
server's: Dovecot starts a login process per connection, checks the password, opens its indexes
for LIST-STATUS. This measures that part with tests/changed_floor.py (a Python client doing only
what any QRESYNC client must: connect, TLS, LOGIN + ENABLE + LIST-STATUS in one write, then
EXAMINE (QRESYNC) and the new bodies of the changed folders, no disk work), next to mbsync and
mailkeep, as the bench orders them (mbsync, then the floor, then mailkeep):
  no change: ROUNDS rounds on an unchanged server (after both tools' initial mirrors);
  changed:   ROUNDS rounds of `mutate --flags 1 --expunge 0.5 --new 0.5` (new seed each round).
Prints each round and a table of medians: seconds and × mbsync for the floor and mailkeep.
Own throwaway Dovecot (M corpus) in a temp dir, stopped at the end."""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
shared, mk = sys.argv[1], sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
here = os.path.dirname(os.path.realpath(__file__))
tmp = tempfile.mkdtemp(prefix="mailkeep-floor.")
dc = os.path.join(tmp, "dc")


def run(*cmd):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout


def peer(tool):
    args = [os.path.join(shared, "run-peer"), dc, "--tool", tool, "--root", os.path.join(tmp, tool),
            "--tls", "implicit"]
    if tool == "mailkeep":
        args += ["--bin", mk]
    r = json.loads(run(sys.executable, *args).strip().splitlines()[-1])
    if r["rc"] != 0:
        raise SystemExit(f"bench_floor: {tool} failed (rc {r['rc']})")
    return r["seconds"]


def floor():
    out = run(sys.executable, os.path.join(here, "changed_floor.py"), dc, os.path.join(tmp, "rec.json"))
    return float(re.search(r"total ([0-9.]+) ms", out).group(1)) / 1000.0


try:
    run(os.path.join(shared, "dovecot-up"), dc)
    run(os.path.join(shared, "seed-mailbox"), dc, "--size", "M", "--seed", "1")
    run(os.path.join(shared, "raw-fetch"), dc)
    peer("mbsync")
    peer("mailkeep")
    floor()  # records every folder's STATUS values
    rows = {}
    for phase in ("noop", "changed"):
        for i in range(rounds):
            if phase == "changed":
                run(os.path.join(shared, "mutate"), dc, "--seed", str(100 + i), "--flags", "1",
                    "--expunge", "0.5", "--new", "0.5")
            m, f, k = peer("mbsync"), floor(), peer("mailkeep")
            rows.setdefault(phase, []).append((m, f, k))
            print(f"  {phase:<8} round {i + 1}: mbsync {m:.3f} s, floor {f:.3f} s ({f / m:.2f} x), "
                  f"mailkeep {k:.3f} s ({k / m:.2f} x)", flush=True)
    print("| phase | mbsync s | server floor s | floor × mbsync | mailkeep s | mailkeep × mbsync |")
    print("|---|---:|---:|---:|---:|---:|")
    for phase, r in rows.items():
        m, f, k = (statistics.median(x[j] for x in r) for j in range(3))
        print(f"| {phase} (median of {len(r)}) | {m:.3f} | {f:.3f} | {f / m:.2f} | {k:.3f} | {k / m:.2f} |")
finally:
    subprocess.run([os.path.join(shared, "dovecot-down"), dc], stdout=subprocess.DEVNULL)
    subprocess.run(["rm", "-rf", tmp])
