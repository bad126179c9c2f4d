#!/usr/bin/env python3
"""k9_strace.py: the helpers of tests/integration/t_kill9_strace.sh (kill -9 at the N-th syscall).

  k9_strace.py points TRACE [--sample K] [--sample-mutating M] [--seed S] [--all] [--mutating]
                     [--net-writes]
      TRACE is `strace -f -qq -o TRACE` of a whole run. Every syscall entry of it, in order, gets a
      global number G; the same call in a later run of the same work is reached by strace's
      per-process counter: the k-th call of that name by that thread. Prints the chosen points,
      one a line: "G NAME K PHASE" (PHASE: what the run was doing, from the last file path or
      network call before it). --all: every syscall of the run (the exhaustive mode); else
      --sample K points, one drawn in each of K equal slices of the run (so that every phase is
      hit: connect, login, LIST, EXAMINE, downloads, renames, state writes, the snapshot), M more
      drawn the same way among the calls that change the file system, and with --mutating every
      call that changes the file system (rename, unlink, mkdir, link,
      openat with O_CREAT, fsync, syncfs, utimensat, fchmod, ftruncate, the first write of a
      file after another such call: a file's later writes only add to it); with --net-writes
      every write to a socket too (write, writev, sendto, sendmsg: each command or literal a
      push sends).
      A point on a call whose count depends on timing (read, recvfrom, poll, futex ...) or on
      a call of another thread moves to the next other call of the main thread: the same
      instant for the files. The first line is
      "# N syscalls, M threads".
  k9_strace.py kill --name NAME --k K --trace F [--timeout S] [--stdout F] [--stderr F] -- CMD...
      Runs CMD under strace, SIGKILLed on entering the K-th NAME call of one of its threads (the
      call does not happen). Prints "killed before NAME #K: <the call>" or "completed (exit R)
      with N NAME calls"; exits with CMD's status (137 when killed).
Exit 2 on a usage error.
"""
import argparse
import os
import random
import re
import subprocess
import sys

LINE_RE = re.compile(r"^(\d+) +([a-z_0-9]+)\((.*)$")
PATH_RE = re.compile(r'"((?:[^"\\]|\\.)*)"')
MUTATING = {"rename", "renameat", "renameat2", "unlink", "unlinkat", "mkdir", "mkdirat", "link",
            "linkat", "symlink", "symlinkat", "fsync", "fdatasync", "syncfs", "utimensat", "fchmod",
            "fchmodat", "chmod", "ftruncate", "rmdir", "pwrite64", "futimens"}
# calls whose number depends on timing (how the server's bytes arrive, locks): a point on one moves
# to the next other call of its thread, the same instant for the files
VOLATILE = {"recvfrom", "recvmsg", "read", "poll", "ppoll", "select", "pselect6", "futex", "epoll_wait",
            "clock_nanosleep", "nanosleep", "sched_yield", "rt_sigtimedwait"}


def parse(path):
    """[(pid, name, args)] of every syscall entry (resumed halves skipped)"""
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = LINE_RE.match(line)
            if m:
                out.append((int(m.group(1)), m.group(2), m.group(3)))
    return out


def cmd_points(a):
    calls = parse(a.trace)
    if not calls:
        print("# 0 syscalls, 0 threads")
        return 1
    count = {}
    fd_kind = {}  # fd -> "file" | "sock" (from openat/socket results), per process (threads share)
    fd_path = {}
    last_mut = None
    rows = []
    net = set()  # indexes of the writes to a socket
    phase = "start"
    for g, (pid, name, args) in enumerate(calls, 1):
        key = (pid, name)
        count[key] = count.get(key, 0) + 1
        res = args.rsplit(") = ", 1)[-1].split()[0] if ") = " in args else "?"
        mut = name in MUTATING
        p = PATH_RE.search(args)
        if name in ("openat", "open"):
            if p:
                phase = "open " + p.group(1)[-60:]
            if res.isdigit():
                fd_kind[res] = "file"
                fd_path[res] = p.group(1)[-60:] if p else "?"
            mut = "O_CREAT" in args or "O_TRUNC" in args
        elif name == "socket" and res.isdigit():
            fd_kind[res] = "sock"
        elif name == "connect":
            phase = "connect"
        elif name in ("write", "writev"):
            fd = args.split(",", 1)[0]
            mut = fd_kind.get(fd) == "file"
            if mut:
                # the writes of one file after its first: the same state of the files, more of it
                mut = last_mut != ("write", fd)
                phase = "write " + fd_path.get(fd, "?")
            elif fd_kind.get(fd) == "sock":
                phase = "net after " + phase.split("after ")[-1]
                net.add(g - 1)
        elif name in ("sendto", "sendmsg") and fd_kind.get(args.split(",", 1)[0]) == "sock":
            phase = "net after " + phase.split("after ")[-1]
            net.add(g - 1)
        elif name in ("read", "recvfrom") and fd_kind.get(args.split(",", 1)[0]) != "file":
            phase = "net after " + phase.split("after ")[-1]
        elif p and name in MUTATING:
            phase = name + " " + p.group(1)[-60:]
        if mut:
            last_mut = (name, args.split(",", 1)[0])
        vol = name in VOLATILE and not (name == "read" and fd_kind.get(args.split(",", 1)[0]) == "file")
        rows.append((g, name, count[key], phase, mut, pid, vol))
    n = len(rows)
    pick = set()
    rnd = random.Random(a.seed)

    def strata(idx, k):
        k = min(k, len(idx))
        for i in range(k):
            lo, hi = i * len(idx) // k, max(i * len(idx) // k, (i + 1) * len(idx) // k - 1)
            pick.add(idx[rnd.randint(lo, hi)])

    if a.all:
        pick = set(range(n))
    else:
        strata(list(range(n)), max(1, a.sample))
        strata([i for i, r in enumerate(rows) if r[4]], a.sample_mutating)
        if a.mutating:
            pick |= {i for i, r in enumerate(rows) if r[4]}
        if a.net_writes:
            pick |= net
    # a volatile call, or one of another thread (a counter there is reached at another instant,
    # or first by the main thread's own calls): the next stable call of the main thread
    main = calls[0][0]
    moved = set()
    for i in pick:
        j = i
        while j < n and (rows[j][6] or rows[j][5] != main):
            j += 1
        if j < n:
            moved.add(j)
    pick = moved
    print(f"# {n} syscalls, {len({c[0] for c in calls})} threads")
    for i in sorted(pick):
        g, name, k, phase = rows[i][:4]
        print(f"{g} {name} {k} {phase}")
    return 0


def cmd_kill(a):
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        print("kill: no command", file=sys.stderr)
        return 2
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
    st = ["strace", "-f", "-qq", "-o", a.trace, "-e", "trace=" + a.name,
          "-e", f"inject={a.name}:signal=KILL:when={a.k}"]
    with open(a.stdout or os.devnull, "wb") as so, open(a.stderr or os.devnull, "wb") as se:
        try:
            rc = subprocess.run(["timeout", "-k", "5", str(a.timeout)] + st + cmd, stdin=subprocess.DEVNULL,
                                stdout=so, stderr=se, env=env).returncode
        except OSError as e:
            print(f"kill: cannot run strace: {e}", file=sys.stderr)
            return 2
    with open(a.trace, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    killed = [ln for ln in lines if "killed by SIGKILL" in ln]
    if killed and rc != 137:
        rc = 137  # strace exits with the status of its first child
    if rc == 137:
        last = [ln for ln in lines if ln.endswith("= ?") or "<unfinished" in ln]
        print(f"killed before {a.name} #{a.k}: {(last[-1] if last else '?')[:200]}")
    else:
        n = sum(1 for ln in lines if LINE_RE.match(ln) and "resumed>" not in ln)
        print(f"completed (exit {rc}) with {n} {a.name} calls")
    return rc


def main():
    ap = argparse.ArgumentParser(prog="k9_strace.py")
    sub = ap.add_subparsers(dest="cmd_name", required=True)
    p = sub.add_parser("points")
    p.add_argument("trace")
    p.add_argument("--sample", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--sample-mutating", type=int, default=0)
    p.add_argument("--all", action="store_true")
    p.add_argument("--mutating", action="store_true")
    p.add_argument("--net-writes", action="store_true")
    p = sub.add_parser("kill")
    p.add_argument("--name", required=True)
    p.add_argument("--k", type=int, required=True)
    p.add_argument("--trace", required=True)
    p.add_argument("--timeout", type=int, default=120)
    p.add_argument("--stdout")
    p.add_argument("--stderr")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if a.cmd_name == "points":
        return cmd_points(a)
    return cmd_kill(a)


if __name__ == "__main__":
    sys.exit(main())
