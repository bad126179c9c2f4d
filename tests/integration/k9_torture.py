#!/usr/bin/env python3
"""k9_torture.py: the helpers of tests/integration/t_kill9_torture.sh.

  k9_torture.py run [--delay-us N | --fs-event REGEX --nth K --watch DIR ...] [--timeout S]
                    [--group] [--stdout F] [--stderr F] -- CMD ARGS...
      Starts CMD and SIGKILLs it (its pid only, as `kill -9 PID` would: children it forked live
      on; with --group its whole process group, CMD started in a new session) either N microseconds after it started, or at the K-th inotify event below the watched
      directories (recursively; new directories are watched as they appear) whose text
      "EVENT /full/path" matches REGEX (EVENT: CREATE DELETE MOVED_FROM MOVED_TO CLOSE_WRITE
      MODIFY). Prints one line: "killed after N us", "killed at K-th event: EVENT PATH (N us)" or
      "completed (exit R) after N us"; exits with CMD's status (137 when killed).
  k9_torture.py msgids ACCT --host H --port P --user U --password-file F
      No Message-ID more often in a mirror folder than in the server folder (duplicates).
  k9_torture.py tree GIT_DIR ACCT
      HEAD's tree of the bare snapshot repository equals the mirror: the same message files
      (cur/ and new/ of every folder) with the same bytes (blob ids), nothing else but the
      .mailkeep-keep placeholders. Also reports the refs/objects litter a killed libgit2 leaves.
  k9_torture.py mutate ENV [--user U] --seed S --seq N [--noexpunge]
      One to three random server changes in one session: flags added or removed (UID STORE),
      messages expunged (UID EXPUNGE), new messages from tests/fixture/seed.py (seed 5000+N,
      sometimes a big one, sometimes in a new folder K9/newN).
  k9_torture.py reader ACCT --seed S [--n N] [--log F]
      Acts as a mail reader on N random message files of the mirror: changes the flags in the
      name, moves a file to new/, deletes one, or copies one (a second file of one UID).
Exit 0 when fine, 1 with the differences on stdout, 2 on a usage or connection error.
"""
import argparse
import ctypes
import hashlib
import imaplib
import os
import random
import re
import select
import signal
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # compare.py and seed.py are imported: no __pycache__ in the tree

IN_MODIFY, IN_CLOSE_WRITE, IN_MOVED_FROM, IN_MOVED_TO = 0x2, 0x8, 0x40, 0x80
IN_CREATE, IN_DELETE, IN_Q_OVERFLOW, IN_ISDIR = 0x100, 0x200, 0x4000, 0x40000000
EVENTS = [(IN_CREATE, "CREATE"), (IN_DELETE, "DELETE"), (IN_MOVED_FROM, "MOVED_FROM"),
          (IN_MOVED_TO, "MOVED_TO"), (IN_CLOSE_WRITE, "CLOSE_WRITE"), (IN_MODIFY, "MODIFY")]
WATCH_MASK = IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE


class Inotify:
    def __init__(self):
        self.libc = ctypes.CDLL("libc.so.6", use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.wd = {}

    def add(self, path):
        wd = self.libc.inotify_add_watch(self.fd, os.fsencode(path), WATCH_MASK)
        if wd >= 0:
            self.wd[wd] = path
        return wd

    def add_tree(self, top):
        for d, subs, _ in os.walk(top):
            self.add(d)

    def read(self):
        """-> [(mask, full path)]"""
        out = []
        try:
            data = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return out
        i = 0
        while i + 16 <= len(data):
            wd, mask, _cookie, ln = struct.unpack_from("iIII", data, i)
            name = data[i + 16:i + 16 + ln].split(b"\0", 1)[0]
            i += 16 + ln
            base = self.wd.get(wd)
            if base is None:
                continue
            path = os.path.join(base, os.fsdecode(name)) if name else base
            out.append((mask, path))
        return out


def cmd_run(a):
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        print("run: no command", file=sys.stderr)
        return 2
    ino = None
    rx = None
    if a.fs_event:
        rx = re.compile(a.fs_event)
        ino = Inotify()
        for w in a.watch:
            if os.path.isdir(w):
                ino.add_tree(w)
    out = open(a.stdout, "wb") if a.stdout else subprocess.DEVNULL
    err = open(a.stderr, "wb") if a.stderr else subprocess.DEVNULL
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=a.group)

    def kill():
        if a.group:
            os.killpg(p.pid, signal.SIGKILL)  # the process and every process it forked
        else:
            p.send_signal(signal.SIGKILL)
    us = lambda: int((time.monotonic() - t0) * 1e6)
    how = None
    deadline = t0 + a.timeout
    if a.delay_us is not None:
        end = t0 + a.delay_us / 1e6
        while True:
            left = end - time.monotonic()
            if left <= 0 or p.poll() is not None:
                break
            time.sleep(min(left, 0.002) if left > 0.0005 else 0)
        if p.poll() is None:
            kill()
            how = f"killed after {us()} us"
    elif ino is not None:
        seen = 0
        while how is None and p.poll() is None and time.monotonic() < deadline:
            r, _, _ = select.select([ino.fd], [], [], 0.02)
            if not r:
                continue
            for mask, path in ino.read():
                if mask & IN_Q_OVERFLOW:
                    continue
                if mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO):
                    ino.add_tree(path)
                for bit, nm in EVENTS:
                    if mask & bit and rx.search(f"{nm} {path}"):
                        seen += 1
                        if seen >= a.nth and p.poll() is None:
                            kill()
                            how = f"killed at event {seen}: {nm} {path} ({us()} us)"
                        break
                if how:
                    break
    try:
        rc = p.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
        how = f"killed: timeout after {us()} us"
    if how is None or rc != -signal.SIGKILL:
        how = f"completed (exit {rc}) after {us()} us"
    print(how)
    sys.stdout.flush()
    return 128 + (-rc) if rc < 0 else rc


# ---------------------------------------------------------------- checks

def server_login(a):
    with open(a.password_file, encoding="utf-8") as f:
        pw = f.readline().rstrip("\r\n")
    c = imaplib.IMAP4(a.host, a.port, timeout=60)
    c.login(a.user, pw)
    return c


MSGID_RE = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.I | re.M)


def msgid_of(head):
    m = MSGID_RE.search(head)
    return m.group(1).strip() if m else None


def cmd_msgids(a):
    import compare  # the oracle's name mapping
    c = server_login(a)
    bad = []
    try:
        typ, data = c.list('""', "*")
        for flags, delim, name in compare.parse_list(data):
            if "\\noselect" in flags or "\\nonexistent" in flags:
                continue
            lpath = compare.local_path(compare.mutf7_decode(name), delim)
            cur = os.path.join(a.acct, lpath, "cur")
            if not os.path.isdir(cur):
                continue
            typ, _ = c.select(compare.imap_quote(name), readonly=True)
            srv = {}
            typ, data = c.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            for m, lits in compare.group_fetch(data or []):
                if lits:
                    k = msgid_of(lits[0])
                    if k:
                        srv[k] = srv.get(k, 0) + 1
            loc = {}
            for sub in ("cur", "new"):
                d = os.path.join(a.acct, lpath, sub)
                for f in os.listdir(d) if os.path.isdir(d) else []:
                    try:
                        with open(os.path.join(d, f), "rb") as fh:
                            head = fh.read(1 << 16).split(b"\n\n", 1)[0]
                    except OSError:
                        continue
                    k = msgid_of(head)
                    if k:
                        loc.setdefault(k, []).append(f"{sub}/{f}")
            for k, fs in sorted(loc.items()):
                if len(fs) > max(1, srv.get(k, 0)):
                    bad.append(f"folder {lpath!r}: Message-ID {k.decode(errors='replace')} {len(fs)} times "
                               f"(server {srv.get(k, 0)}): {fs[:4]}")
    finally:
        try:
            c.logout()
        except Exception:
            pass
    for b in bad[:20]:
        print(b)
    return 1 if bad else 0


def blob_id(path):
    with open(path, "rb") as f:
        data = f.read()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def cmd_tree(a):
    bad = []
    try:
        out = subprocess.run(["git", "--git-dir", a.git_dir, "ls-tree", "-r", "-z", "HEAD"],
                             check=True, capture_output=True).stdout
    except subprocess.CalledProcessError as e:
        print(f"git ls-tree HEAD failed: {e.stderr.decode(errors='replace').strip()}")
        return 1
    tree = {}
    for rec in out.split(b"\0"):
        if not rec:
            continue
        meta, path = rec.split(b"\t", 1)
        _mode, typ, oid = meta.split(b" ")
        tree[os.fsdecode(path)] = oid.decode()
    disk = {}
    for d, subs, files in os.walk(a.acct):
        rel = os.path.relpath(d, a.acct)
        if rel == ".mailkeep" or rel.startswith(".mailkeep/"):
            subs[:] = []
            continue
        if os.path.basename(d) in ("cur", "new"):
            for f in files:
                if not f.startswith("."):
                    disk[os.path.join(rel, f)] = os.path.join(d, f)
    for p in sorted(set(tree) | set(disk)):
        if p.endswith("/.mailkeep-keep"):
            continue
        if p not in disk:
            bad.append(f"in HEAD, not in the mirror: {p}")
        elif p not in tree:
            bad.append(f"in the mirror, not in HEAD: {p}")
        elif tree[p] != blob_id(disk[p]):
            bad.append(f"{p}: blob {tree[p][:12]} differs from the file")
    for p in sorted(tree):
        if not p.endswith("/.mailkeep-keep") and not re.search(r"/(cur|new)/[^/]+$", p):
            bad.append(f"unexpected path in HEAD: {p}")
    for b in bad[:20]:
        print(b)
    if len(bad) > 20:
        print(f"... {len(bad) - 20} more")
    return 1 if bad else 0


def cmd_reader(a):
    rnd = random.Random(a.seed)
    files = []
    for d, subs, fs in os.walk(a.acct):
        if os.path.relpath(d, a.acct).split(os.sep)[0] == ".mailkeep":
            subs[:] = []
            continue
        if os.path.basename(d) == "cur":
            files += [os.path.join(d, f) for f in fs if ",U=" in f]
    rnd.shuffle(files)
    log = []
    for p in files[:a.n]:
        d, f = os.path.split(p)
        folder = os.path.dirname(d)
        base, _, fl = f.partition(":2,")
        act = rnd.choice(["flags", "flags", "new", "delete", "copy"])
        try:
            if act == "flags":
                letters = set(fl)
                letters ^= {rnd.choice("SFR")}
                nf = f"{base}:2,{''.join(sorted(letters))}"
                os.rename(p, os.path.join(d, nf))
                log.append(f"rename {f} -> {nf}")
            elif act == "new":
                os.rename(p, os.path.join(folder, "new", base))
                log.append(f"move {f} -> new/{base}")
            elif act == "delete":
                os.unlink(p)
                log.append(f"delete {f}")
            else:
                q = os.path.join(folder, "new", base)
                with open(p, "rb") as src, open(q, "wb") as dst:
                    dst.write(src.read())
                os.chmod(q, 0o600)
                st = os.stat(p)
                os.utime(q, (st.st_mtime, st.st_mtime))
                log.append(f"copy {f} -> new/{base}")
        except OSError as e:
            log.append(f"{act} {f}: {e}")
    if a.log:
        with open(a.log, "a", encoding="utf-8") as fh:
            for x in log:
                fh.write(x + "\n")
    print("; ".join(log))
    return 0


FOLDERS = ["INBOX", "Archive", "Archive/2024", "Geschäftlich", "日本語", "R&D"]
FLAGS = ["\\Seen", "\\Flagged", "\\Answered", "$Forwarded", "ProjectX", "\\Draft", "$label1"]


def cmd_mutate(a):
    sys.path.insert(0, os.path.join(HERE, "..", "fixture"))
    import seed  # the fixture's deterministic messages
    env = seed.load_env(a.env)
    delim = env.get("DELIM", "/")
    rnd = random.Random(a.seed)
    c = seed.connect(env, a.user)
    did = []
    try:
        for _ in range(rnd.randint(1, 3)):
            f = rnd.choice(FOLDERS)
            q = seed.imap_quote(seed.server_name(f, delim))
            lo = rnd.randint(1, 14)
            uids = f"{lo}:{lo + rnd.randint(0, 2)}"
            op = rnd.randrange(7)
            if op <= 2 or (op == 3 and a.noexpunge):
                if c.select(q)[0] != "OK":
                    continue
                sign = "-" if op == 2 else "+"
                fl = rnd.choice(FLAGS[:3] + ["ProjectX"]) if sign == "-" else rnd.choice(FLAGS)
                c.uid("STORE", uids, sign + "FLAGS.SILENT", "(" + fl + ")")
                did.append(f"flags {sign}{fl} {f} {uids}")
            elif op == 3:
                if c.select(q)[0] != "OK":
                    continue
                c.uid("STORE", uids, "+FLAGS.SILENT", "(\\Deleted)")
                c.uid("EXPUNGE", uids)
                did.append(f"expunge {f} {uids}")
            else:
                a.seq += 1
                if rnd.randrange(100) < 8:
                    f = f"K9/new{a.seq}"
                    q = seed.imap_quote(seed.server_name(f, delim))
                    seed.ensure_folder(c, q)
                n = rnd.randint(1, 4)
                big = rnd.randrange(100) < 20
                for i in range(n + big):
                    msg, flags, idate, _ = seed.make_message(5000 + a.seq, f, i, big=i == n,
                                                             big_size=(150_000, 500_000))
                    seed.append(c, q, msg, flags, idate)
                did.append(f"append {n}{' + 1 big' if big else ''} to {f}")
    finally:
        c.logout()
    print("; ".join(did))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="sub", required=True)
    p = sub.add_parser("run")
    p.add_argument("--delay-us", type=int)
    p.add_argument("--fs-event")
    p.add_argument("--nth", type=int, default=1)
    p.add_argument("--watch", action="append", default=[])
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--group", action="store_true")
    p.add_argument("--stdout")
    p.add_argument("--stderr")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    p = sub.add_parser("msgids")
    p.add_argument("acct")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password-file", required=True)
    p = sub.add_parser("mutate")
    p.add_argument("env")
    p.add_argument("--user", default="alice")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--seq", type=int, default=0)
    p.add_argument("--noexpunge", action="store_true")
    p = sub.add_parser("tree")
    p.add_argument("git_dir")
    p.add_argument("acct")
    p = sub.add_parser("reader")
    p.add_argument("acct")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--n", type=int, default=3)
    p.add_argument("--log")
    a = ap.parse_args()
    try:
        return {"run": cmd_run, "msgids": cmd_msgids, "tree": cmd_tree, "reader": cmd_reader,
                "mutate": cmd_mutate}[a.sub](a)
    except (OSError, imaplib.IMAP4.error) as e:
        print(f"k9_torture.py {a.sub}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
