#!/usr/bin/env python3
"""push_fake.py: a small in-memory IMAP server, the *target* of `mailkeep push` in
tests/integration/t_push_migrate.sh, for what a real Dovecot cannot be made to do.

  push_fake.py --port-file F --state F [--log F] [--caps "UIDPLUS LITERAL+ MULTIAPPEND ..."]
               [--permflags "(\\Seen ...)"] [--limit N] [--quota N] [--drop-append K]
               [--trycreate-once] [--search-size-lf] [--add-final-crlf] [--fold-case] [--lifetime S]

It keeps its folders across connections (one process, many mailkeep runs) and writes them, after
every change, to --state as JSON: {folder: {"uidvalidity", "uidnext", "subscribed",
"messages": [[uid, sha256 of the bytes, internaldate epoch, sorted flags], ...]}} plus
"violations": protocol errors of the client (literal bytes sent before the "+" of a
synchronizing literal, a non-synchronizing literal the capabilities do not allow, a command sent
while a synchronizing literal waits).

  --caps          capabilities after IMAP4rev1 (default: none: no UIDPLUS, no LITERAL+, no
                  MULTIAPPEND, no NAMESPACE).
  --ns-prefix P   the personal namespace prefix NAMESPACE answers (default "")
  --delim C       hierarchy delimiter (default '.'); NIL: a flat server (NAMESPACE and LIST say NIL,
                  a name holding '.' or '/' is one folder)
  --permflags     the PERMANENTFLAGS list sent by SELECT (default with \\*); keywords not in it
                  are dropped silently by APPEND and STORE, as RFC 3501 §6.3.1 allows a server.
  --limit N       APPEND of a message larger than N bytes: NO [LIMIT] (and MULTIAPPEND as a whole)
  --quota N       APPEND beyond N bytes in total: NO [OVERQUOTA]
  --drop-append K the K-th APPEND'ed message (1-based, counted over the process lifetime): the
                  connection is closed after half of its literal has been read; nothing stored
  --trycreate-once the first APPEND answers NO [TRYCREATE] and deletes that folder
  --search-flood N every SEARCH answer names UID 1 N more times (a hostile server: memory must
                  not follow it)
  --fold-case     folder names compared without regard to case (INBOX aside), as Exchange and
                  Gmail do: CREATE "work" when "Work" exists is NO [ALREADYEXISTS], SELECT "work"
                  selects "Work"
  --search-size-lf SEARCH LARGER/SMALLER compare the size of the message with its CRLFs stored as
                  LF, not its RFC822.SIZE (as Courier-IMAP does: it keeps LF line ends on disk)
  --add-final-crlf APPEND stores a message that does not end with CRLF with one added (Courier-IMAP)
  --cont-wait F   the "+" of a synchronizing literal over 1 MB waits until file F exists (at most
                  30 s; a test changes the client's message meanwhile)
  --cont-first    reads ahead: when the next APPEND (synchronizing literal) is already there, its
                  "+" goes out before this APPEND's OK
"""
import argparse
import base64
import datetime
import hashlib
import json
import os
import re
import select
import socket
import threading
import time

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
SYSTEM = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"]


class Drop(Exception):
    pass


class Store:
    def __init__(self, a):
        self.a = a
        self.lock = threading.RLock()
        self.folders = {}
        self.uv = 1000
        self.violations = []
        self.appends = 0
        self.trycreate_done = False
        self.create("INBOX")

    def create(self, name):
        self.uv += 1
        self.folders[name] = {"uidvalidity": self.uv, "uidnext": 1, "subscribed": False, "messages": []}

    def total(self):
        return sum(len(m["data"]) for f in self.folders.values() for m in f["messages"])

    def save(self):
        out = {"violations": self.violations, "appends": self.appends, "folders": {}}
        for name, f in self.folders.items():
            out["folders"][name] = {
                "uidvalidity": f["uidvalidity"], "uidnext": f["uidnext"], "subscribed": f["subscribed"],
                "messages": [[m["uid"], hashlib.sha256(m.get("orig", m["data"])).hexdigest(), m["date"], sorted(m["flags"])]
                             for m in f["messages"]]}
        tmp = self.a.state + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(out, fh)
        os.replace(tmp, self.a.state)


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def fmt_date(t):
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return f'{d.day:02d}-{MONTHS[d.month - 1]}-{d.year} {d.hour:02d}:{d.minute:02d}:{d.second:02d} +0000'


def parse_date(s):
    return int(datetime.datetime.strptime(s, "%d-%b-%Y %H:%M:%S %z").timestamp())


def parse_set(s, maxv):
    out = []
    for part in s.split(","):
        a, _, b = part.partition(":")
        lo = maxv if a == "*" else int(a)
        hi = lo if not b else (maxv if b == "*" else int(b))
        out.append((min(lo, hi), max(lo, hi)))
    return lambda x: any(lo <= x <= hi for lo, hi in out)


def header_of(data):
    i = data.find(b"\r\n\r\n")
    return data if i < 0 else data[:i + 4]


def header_field(data, name):
    hdr = header_of(data).decode("latin-1")
    hdr = re.sub(r"\r\n[ \t]", " ", hdr)
    for line in hdr.split("\r\n"):
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return None


class Conn:
    def __init__(self, store, sock, a, n):
        self.s, self.sock, self.a, self.n = store, sock, a, n
        self.buf = b""
        self.cont_sent = False
        self.sel = None
        self.caps = a.caps.split()

    def log(self, msg):
        if self.a.log:
            with open(self.a.log, "a", encoding="utf-8") as f:
                f.write(f"{self.n}: {msg}\n")

    def send(self, s):
        if isinstance(s, str):
            s = s.encode("utf-8", "surrogateescape")
        self.sock.sendall(s)

    def fill(self):
        d = self.sock.recv(1 << 20)
        if not d:
            raise Drop()
        self.buf += d

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def pending_input(self):
        if self.buf:
            return True
        r, _, _ = select.select([self.sock], [], [], 0)
        if not r:
            return False
        try:  # readable at the end of the stream too (a client killed while it waits for the "+")
            return bool(self.sock.recv(1, socket.MSG_PEEK))
        except OSError:
            return False

    def literal(self, n, sync, drop_half=False):
        if sync and self.cont_sent:
            self.cont_sent = False  # its "+" went before the previous APPEND's OK (--cont-first)
        elif sync:
            if self.a.cont_wait and n > 1_000_000:
                self.log(f"waiting for {self.a.cont_wait} before the + of a {n}-byte literal")
                t0 = time.time()
                while not os.path.exists(self.a.cont_wait) and time.time() - t0 < 30:
                    time.sleep(0.02)
            time.sleep(0.02)
            if self.pending_input():
                self.violation("literal bytes (or a command) sent before the continuation request")
            self.send("+ go ahead\r\n")
        elif "LITERAL+" not in self.caps and not ("LITERAL-" in self.caps and n <= 4096):
            self.violation(f"non-synchronizing literal of {n} bytes without LITERAL+")
        want = n // 2 if drop_half else n
        while len(self.buf) < want:
            try:
                self.fill()
            except Drop:
                self.log(f"the client closed the connection after {len(self.buf)} of {n} literal bytes")
                raise
        if drop_half:
            self.log(f"dropping the connection in the middle of a {n}-byte literal")
            raise Drop()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def violation(self, what):
        self.log("VIOLATION " + what)
        with self.s.lock:
            self.s.violations.append(what)
            self.s.save()

    def read_command(self):
        """(tag, words, literals) of one command line; APPEND reads its literals itself"""
        ln = self.line().decode("utf-8", "surrogateescape")
        self.log("C: " + ln[:200])
        return ln

    def run(self):
        self.send("* OK push_fake ready\r\n")
        try:
            while True:
                ln = self.read_command()
                tag, _, rest = ln.partition(" ")
                cmd, _, args = rest.partition(" ")
                cmd = cmd.upper()
                if cmd == "UID":
                    sub, _, args = args.partition(" ")
                    cmd = "UID " + sub.upper()
                h = getattr(self, "c_" + cmd.replace(" ", "_"), None)
                if not h:
                    self.send(f"{tag} BAD unknown command\r\n")
                    continue
                with self.s.lock:
                    r = h(tag, args, ln)
                if r == "bye":
                    return
        except (Drop, OSError):
            pass
        finally:
            self.sock.close()

    # ---- commands ----
    def c_CAPABILITY(self, tag, args, ln):
        self.send("* CAPABILITY IMAP4rev1 " + " ".join(self.caps) + "\r\n" + f"{tag} OK done\r\n")

    def c_LOGIN(self, tag, args, ln):
        self.send(f"{tag} OK [CAPABILITY IMAP4rev1 {' '.join(self.caps)}] logged in\r\n")

    def c_NOOP(self, tag, args, ln):
        self.send(f"{tag} OK noop\r\n")

    def c_ID(self, tag, args, ln):
        self.send(f'* ID NIL\r\n{tag} OK id\r\n')

    def c_ENABLE(self, tag, args, ln):
        self.send(f"{tag} OK enabled nothing\r\n")

    def c_LOGOUT(self, tag, args, ln):
        self.send(f"* BYE bye\r\n{tag} OK bye\r\n")
        return "bye"

    def c_NAMESPACE(self, tag, args, ln):
        if "NAMESPACE" not in self.caps:
            self.send(f"{tag} BAD no NAMESPACE\r\n")
            return
        prefix = self.a.ns_prefix
        self.send(f'* NAMESPACE (({quote(prefix)} {self.delim_wire()})) NIL NIL\r\n{tag} OK ns\r\n')

    def delim_wire(self):
        return "NIL" if self.a.delim == "NIL" else quote(self.a.delim)

    def mbox_arg(self, args):
        args = args.strip()
        if args.startswith('"'):
            m = re.match(r'"((?:[^"\\]|\\.)*)"', args)
            return re.sub(r"\\(.)", r"\1", m.group(1)), args[m.end():].strip()
        w, _, rest = args.partition(" ")
        return w, rest

    def norm(self, name):
        if name.upper() == "INBOX":
            return "INBOX"
        if getattr(self.a, "fold_case", False):  # Exchange, Gmail: "work" is the folder "Work"
            for n in self.s.folders:
                if n.lower() == name.lower():
                    return n
        return name

    def c_LIST(self, tag, args, ln):
        out = []
        names = set(self.s.folders)
        parents = set()
        for n in names if self.a.delim != "NIL" else ():
            parts = n.split(self.a.delim)
            for k in range(1, len(parts)):
                parents.add(self.a.delim.join(parts[:k]))
        for n in sorted(names | parents):
            fl = "\\HasNoChildren" if not any(x.startswith(n + self.a.delim) for x in names) else "\\HasChildren"
            if n not in names:
                fl = "\\Noselect " + fl
            if self.a.delim == "NIL":
                fl = "\\HasNoChildren"
            out.append(f'* LIST ({fl}) {self.delim_wire()} {quote(n)}\r\n')
        self.send("".join(out) + f"{tag} OK list\r\n")

    def c_LSUB(self, tag, args, ln):
        self.c_LIST(tag, args, ln)

    def c_CREATE(self, tag, args, ln):
        name, _ = self.mbox_arg(args)
        name = self.norm(name)
        if name in self.s.folders:
            self.send(f"{tag} NO [ALREADYEXISTS] exists\r\n")
            return
        self.s.create(name)
        self.s.save()
        self.send(f"{tag} OK created\r\n")

    def c_SUBSCRIBE(self, tag, args, ln):
        name, _ = self.mbox_arg(args)
        name = self.norm(name)
        if name in self.s.folders:
            self.s.folders[name]["subscribed"] = True
            self.s.save()
        self.send(f"{tag} OK subscribed\r\n")

    def c_STATUS(self, tag, args, ln):
        name, _ = self.mbox_arg(args)
        f = self.s.folders.get(self.norm(name))
        if not f:
            self.send(f"{tag} NO [NONEXISTENT] no such folder\r\n")
            return
        self.send(f'* STATUS {quote(name)} (MESSAGES {len(f["messages"])} UIDNEXT {f["uidnext"]} '
                  f'UIDVALIDITY {f["uidvalidity"]})\r\n{tag} OK status\r\n')

    def c_SELECT(self, tag, args, ln, ro=False):
        name, _ = self.mbox_arg(args)
        name = self.norm(name)
        f = self.s.folders.get(name)
        if not f:
            self.sel = None
            self.send(f"{tag} NO [NONEXISTENT] no such folder\r\n")
            return
        self.sel = name
        self.send(f"* FLAGS ({' '.join(SYSTEM)})\r\n* OK [PERMANENTFLAGS {self.a.permflags}] flags\r\n"
                  f"* {len(f['messages'])} EXISTS\r\n* 0 RECENT\r\n"
                  f"* OK [UIDVALIDITY {f['uidvalidity']}] uv\r\n* OK [UIDNEXT {f['uidnext']}] next\r\n"
                  f"{tag} OK [{'READ-ONLY' if ro else 'READ-WRITE'}] selected\r\n")

    def c_EXAMINE(self, tag, args, ln):
        self.c_SELECT(tag, args, ln, ro=True)

    def keep_flags(self, flags):
        allowed = self.a.permflags.strip("()").split()
        if "\\*" in allowed:
            return [f for f in flags if f.lower() != "\\recent"]
        low = {x.lower() for x in allowed}
        return [f for f in flags if f.lower() in low]

    def c_APPEND(self, tag, args, ln):
        name, rest = self.mbox_arg(args)
        name = self.norm(name)
        msgs = []
        line = rest
        while True:
            m = re.match(r'\s*(?:\(([^)]*)\))?\s*(?:"([^"]*)")?\s*\{(\d+)(\+?)\}$', line)
            if not m:
                self.send(f"{tag} BAD syntax\r\n")
                return
            n, sync = int(m.group(3)), m.group(4) != "+"
            self.s.appends += 1
            drop = self.a.drop_append and self.s.appends == self.a.drop_append
            data = self.literal(n, sync, drop_half=drop)
            msgs.append((m.group(1).split() if m.group(1) else [], m.group(2), data))
            nxt = self.line().decode("utf-8", "surrogateescape")
            if nxt.strip() == "":
                break
            if "MULTIAPPEND" not in self.caps:
                self.violation("MULTIAPPEND without the capability")
            line = nxt
        f = self.s.folders.get(name)
        if self.a.trycreate_once and not self.s.trycreate_done and f is not None and name != "INBOX":
            self.s.trycreate_done = True
            del self.s.folders[name]
            self.s.save()
            self.send(f"{tag} NO [TRYCREATE] Mailbox doesn't exist: {name}\r\n")
            return
        if f is None:
            self.send(f"{tag} NO [TRYCREATE] Mailbox doesn't exist: {name}\r\n")
            return
        for _, _, data in msgs:
            if self.a.limit and len(data) > self.a.limit:
                self.send(f"{tag} NO [LIMIT] Mail size is too large\r\n")
                return
        if self.a.quota and self.s.total() + sum(len(d) for _, _, d in msgs) > self.a.quota:
            self.send(f"{tag} NO [OVERQUOTA] Quota exceeded (mailbox for user is full)\r\n")
            return
        uids = []
        for flags, date, data in msgs:
            if getattr(self.a, "add_final_crlf", False) and not data.endswith(b"\r\n"):
                data += b"\r\n"
            uid = f["uidnext"]
            f["uidnext"] += 1
            f["messages"].append({"uid": uid, "flags": set(self.keep_flags(flags)),
                                  "date": parse_date(date) if date else int(time.time()), "data": data})
            uids.append(uid)
        self.s.save()
        code = ""
        if "UIDPLUS" in self.caps:
            code = f"[APPENDUID {f['uidvalidity']} {','.join(map(str, uids))}] "
        if self.sel == name:
            self.send(f"* {len(f['messages'])} EXISTS\r\n")
        if self.a.cont_first:
            # a server that reads ahead: the next APPEND's "+" before this one's OK
            time.sleep(0.02)
            if self.pending_input():
                nxt = self.line()
                self.buf = nxt + b"\r\n" + self.buf
                if re.search(rb"APPEND .*\{\d+\}$", nxt):
                    self.log("continuation sent before the previous APPEND's OK")
                    self.send("+ go ahead\r\n")
                    self.cont_sent = True
        self.send(f"{tag} OK {code}append done\r\n")

    def cur(self):
        return self.s.folders.get(self.sel) if self.sel else None

    def c_UID_SEARCH(self, tag, args, ln):
        f = self.cur()
        if f is None:
            self.send(f"{tag} NO not selected\r\n")
            return
        toks = re.findall(r'"(?:[^"\\]|\\.)*"|\S+', args)
        res = []
        for m in f["messages"]:
            size = len(m["data"])
            if getattr(self.a, "search_size_lf", False):
                size -= m["data"].count(b"\r\n")
            ok, i = True, 0
            while i < len(toks):
                t = toks[i].upper()
                if t == "ALL":
                    i += 1
                elif t == "HEADER":
                    field, val = toks[i + 1], toks[i + 2]
                    val = re.sub(r"\\(.)", r"\1", val[1:-1]) if val.startswith('"') else val
                    hv = header_field(m["data"], field.strip('"'))
                    ok = ok and hv is not None and val.lower() in hv.lower()
                    i += 3
                elif t == "LARGER":
                    ok = ok and size > int(toks[i + 1])
                    i += 2
                elif t == "SMALLER":
                    ok = ok and size < int(toks[i + 1])
                    i += 2
                else:
                    self.send(f"{tag} BAD search key {t}\r\n")
                    return
            if ok:
                res.append(str(m["uid"]))
        flood = self.a.search_flood
        while flood > 0: # in lines of up to 10000 numbers
            k = min(flood, 10000)
            self.send("* SEARCH" + " 1" * k + "\r\n")
            flood -= k
        self.send(f"* SEARCH {' '.join(res)}\r\n{tag} OK search\r\n")

    def c_UID_FETCH(self, tag, args, ln):
        f = self.cur()
        if f is None:
            self.send(f"{tag} NO not selected\r\n")
            return
        seq, _, items = args.partition(" ")
        maxuid = f["messages"][-1]["uid"] if f["messages"] else 0
        inset = parse_set(seq, maxuid)
        up = items.upper()
        for k, m in enumerate(f["messages"], 1):
            if not inset(m["uid"]):
                continue
            parts = [f"UID {m['uid']}"]
            if "RFC822.SIZE" in up:
                parts.append(f"RFC822.SIZE {len(m['data'])}")
            if "INTERNALDATE" in up:
                parts.append(f'INTERNALDATE "{fmt_date(m["date"])}"')
            if "FLAGS" in up:
                parts.append(f"FLAGS ({' '.join(sorted(m['flags']))})")
            out = f"* {k} FETCH (" + " ".join(parts)
            if "BODY.PEEK[HEADER]" in up:
                h = header_of(m["data"])
                self.send(out.encode() + b" BODY[HEADER] {%d}\r\n" % len(h) + h + b")\r\n")
            elif "BODY.PEEK[]" in up:
                self.send(out.encode() + b" BODY[] {%d}\r\n" % len(m["data"]) + m["data"] + b")\r\n")
            else:
                self.send(out + ")\r\n")
        self.send(f"{tag} OK fetch\r\n")

    def c_UID_STORE(self, tag, args, ln):
        f = self.cur()
        m = re.match(r"(\S+) ([+-]?)FLAGS(\.SILENT)? \(([^)]*)\)", args, re.I)
        if f is None or not m:
            self.send(f"{tag} BAD store\r\n")
            return
        maxuid = f["messages"][-1]["uid"] if f["messages"] else 0
        inset = parse_set(m.group(1), maxuid)
        flags = self.keep_flags(m.group(4).split())
        for msg in f["messages"]:
            if not inset(msg["uid"]):
                continue
            if m.group(2) == "+":
                msg["flags"] |= set(flags)
            elif m.group(2) == "-":
                msg["flags"] -= set(flags)
            else:
                msg["flags"] = set(flags)
        self.s.save()
        self.send(f"{tag} OK store\r\n")

    def c_UID_EXPUNGE(self, tag, args, ln):
        f = self.cur()
        if f is None or "UIDPLUS" not in self.caps:
            self.send(f"{tag} BAD no\r\n")
            return
        maxuid = f["messages"][-1]["uid"] if f["messages"] else 0
        inset = parse_set(args.strip(), maxuid)
        f["messages"] = [m for m in f["messages"] if not (inset(m["uid"]) and "\\Deleted" in m["flags"])]
        self.s.save()
        self.send(f"{tag} OK expunged\r\n")

    def c_CLOSE(self, tag, args, ln):
        self.violation("CLOSE sent (expunges \\Deleted messages)")
        self.sel = None
        self.send(f"{tag} OK closed\r\n")

    def c_EXPUNGE(self, tag, args, ln):
        self.violation("EXPUNGE sent")
        self.send(f"{tag} OK expunged\r\n")

    def c_UNSELECT(self, tag, args, ln):
        self.sel = None
        self.send(f"{tag} OK unselected\r\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--log")
    ap.add_argument("--caps", default="")
    ap.add_argument("--delim", default=".")
    ap.add_argument("--ns-prefix", default="")
    ap.add_argument("--permflags", default="(\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--quota", type=int, default=0)
    ap.add_argument("--drop-append", type=int, default=0)
    ap.add_argument("--trycreate-once", action="store_true")
    ap.add_argument("--cont-first", action="store_true")
    ap.add_argument("--cont-wait")
    ap.add_argument("--search-flood", type=int, default=0)
    ap.add_argument("--search-size-lf", action="store_true")
    ap.add_argument("--add-final-crlf", action="store_true")
    ap.add_argument("--fold-case", action="store_true")
    ap.add_argument("--lifetime", type=float, default=300)
    a = ap.parse_args()
    store = Store(a)
    store.save()
    serve(a, store, Conn)


def serve(a, store, conn_cls):
    """Listen on 127.0.0.1 (the port to a.port_file), one conn_cls thread per connection, for
    a.lifetime seconds."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.5)
    with open(a.port_file + ".tmp", "w") as f:
        f.write(f"{srv.getsockname()[1]}\n")
    os.replace(a.port_file + ".tmp", a.port_file)
    end = time.monotonic() + a.lifetime
    n = 0
    while time.monotonic() < end:
        try:
            s, _ = srv.accept()
        except socket.timeout:
            continue
        n += 1
        threading.Thread(target=conn_cls(store, s, a, n).run, daemon=True).start()


if __name__ == "__main__":
    main()
