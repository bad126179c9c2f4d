#!/usr/bin/env python3
"""fakeimap.py --scenario NAME --port-file FILE --log FILE [--lifetime SECONDS]
   fakeimap.py --scenario NAME --print FOLDER UID

A scripted, hostile IMAP server for the mailkeep integration tests. Listens on 127.0.0.1 on a free
port (written to --port-file once listening), serves any number of connections (one thread each)
and exits after --lifetime seconds (default 300) or on SIGTERM. Plain TCP only: TLS is never
negotiated. Every line a client sends is appended to --log as "C<conn>: <repr>", and the server's
notable events as "S<conn>: ...", so a test can tell whether LOGIN (or the password) arrived.
Any user name and password are accepted.

Scenarios (the folder names are the raw names on the wire):
  names-slash          delimiter "/": INBOX, "../x", "..", "a/../../b", "/abs", ".hidden", "cur",
                       "Good" (and \\Noselect parents a, a/.., a/../..)
  names-dot            delimiter ".": INBOX, "a/b", "..", ".hidden", "x..y", "cur.tmp", "100%",
                       "../etc", "ctl<0x01>x" (sent as a literal), "Good"
  names-twice          delimiter "/": INBOX listed again as "inbox", "Dup" listed twice (the second
                       time with \\Sent), "Good"
  names-fold           delimiter "/": INBOX, "Foo", "Good"; from stage 2 (<log>.on) "foo" is listed
                       too, before "Foo" (for a mirror taken for one on a file system that ignores case)
  names-long           delimiter "/": a 300-byte name, a 20-level hierarchy of 250-byte names (over
                       PATH_MAX), "Good" and INBOX
  literal-short-close  folders A, Bad, Z: BODY[] of Bad UID 1 announces more bytes than it sends,
                       then the server closes the connection
  literal-short-hang   the same, but the server then says nothing (the client must time out)
  literal-long         BODY[] of Bad UID 1 announces fewer bytes than it sends (protocol garbage)
  reset-mid            BODY[] of Bad UID 1 is cut by a TCP reset halfway through the literal
  huge-literal         BODY[] of Bad UID 1 announces a literal of 99999999999999 bytes
  no-starttls          no STARTTLS capability; STARTTLS gets BAD
  starttls-refused     STARTTLS advertised, but the command gets NO
  logindisabled        LOGINDISABLED advertised, no AUTH= mechanisms; LOGIN gets NO
  throttle             folders A, Bad, Z; the first two EXAMINEs of Bad get "NO [THROTTLED]", the
                       third a BYE with Office 365's "Suggested Backoff Time: 200 milliseconds"
                       hint, then it works
  slow-examine         folders A, Bad, Z; the second EXAMINE of A (over the server's life) waits
                       2 s before it is answered (a mail reader's change lands meanwhile), and
                       then as long as the file <log>.hold exists (60 s at most)
  fetch-no-uid         folders A, Bad, Z; once the file <log>.on exists, FETCH responses in Bad
                       carry no UID (a broken server: the client must not take Bad for empty)
  gmail                X-GM-EXT-1 advertised; INBOX, [Gmail] (\\Noselect), [Gmail]/All Mail (\\All),
                       [Gmail]/Sent Mail (\\Sent), Work, Personal hold copies of six messages M1..M6,
                       each with its own X-GM-MSGID (over 2^32), bytes, INTERNALDATE and flags, the
                       same in every folder (All Mail: all; INBOX: M1 M2 M3; Sent Mail: M4; Work: M2
                       M5; Personal: M6 M2); each folder has its own UIDVALIDITY and UIDs. FETCH
                       answers X-GM-MSGID; every whole body sent is logged as "S<conn>: body
                       <folder> <uid> msgid <msgid>". Once the file <log>.on exists: M7 is new in
                       INBOX and All Mail (new UIDs at the end), M5 is expunged from Work only;
                       once <log>.on3 exists as well: M6 is expunged from All Mail and Personal,
                       so it has left every folder
--print FOLDER UID writes that message's bytes (CRLF line ends) to stdout (gmail: any stage).
"""
import argparse
import os
import re
import signal
import socket
import struct
import sys
import threading
import time

BAD_UID = 1


class Folder:
    def __init__(self, name, messages=2, flags=(), uidvalidity=None, first_uid=1):
        self.name = name  # bytes, raw on the wire
        self.flags = list(flags)
        self.uidvalidity = uidvalidity or (1000 + (sum(name) % 5000))
        self.msgs = []  # [uid, [flags], internaldate, body]
        for i in range(messages):
            uid = first_uid + i * 2  # gaps in UIDs on purpose
            self.msgs.append([uid, FLAG_SETS[(i + len(name)) % len(FLAG_SETS)],
                              f"{1 + (uid % 27):02d}-Mar-2024 1{uid % 10}:0{uid % 6}:42 +0100",
                              make_body(name, uid)])
        self.uidnext = (self.msgs[-1][0] + 1) if self.msgs else first_uid

    @property
    def selectable(self):
        return "\\Noselect" not in self.flags


FLAG_SETS = [["\\Seen"], [], ["\\Flagged", "\\Answered"], ["\\Seen", "$Forwarded", "Keyword1"],
             ["\\Draft"], ["\\Deleted", "\\Seen"]]


def make_body(name, uid):
    shown = name.decode("latin-1").encode("unicode_escape").decode("ascii")
    lines = [
        f"Message-ID: <{uid}.{abs(hash(shown)) % 100000}@fake.mailkeep.test>",
        "From: Fake <fake@example.test>",
        "To: Alice <alice@example.test>",
        f"Subject: message {uid} in {shown}",
        "Date: Fri, 01 Mar 2024 10:00:00 +0100",
        "",
    ]
    for i in range(20 + uid):
        lines.append(f"line {i} of message {uid} in folder {shown} " + "x" * (i % 50))
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


GMAIL_MSGID = 1700000000000000001  # X-GM-MSGID of M<k> is GMAIL_MSGID + k: over 2^32 on purpose
# name, LIST attributes, UIDVALIDITY, first UID, [(message k, the stages it is in)]; UIDs go up by 3
GMAIL_FOLDERS = [
    (b"INBOX", ["\\HasNoChildren"], 601, 11, [(1, "123"), (2, "123"), (3, "123"), (7, "23")]),
    (b"[Gmail]", ["\\Noselect", "\\HasChildren"], None, 1, []),
    (b"[Gmail]/All Mail", ["\\HasNoChildren", "\\All"], 602, 101,
     [(k, "12" if k == 6 else "123") for k in range(1, 7)] + [(7, "23")]),
    (b"[Gmail]/Sent Mail", ["\\HasNoChildren", "\\Sent"], 603, 7, [(4, "123")]),
    (b"Work", ["\\HasNoChildren"], 604, 40, [(2, "123"), (5, "1")]),
    (b"Personal", ["\\HasNoChildren"], 605, 70, [(6, "12"), (2, "123")]),
]


def gmail_message(k):
    """M<k> of the gmail scenario -> [flags, internaldate, body, msgid]: the same in every folder."""
    msgid = GMAIL_MSGID + k
    lines = [
        f"Message-ID: <gm-{msgid}@fake.mailkeep.test>",
        "From: Fake <fake@example.test>",
        "To: Alice <alice@example.test>",
        f"Subject: gmail message M{k}",
        f"Date: {k:02d} Apr 2024 0{k}:1{k}:00 +0200",
        "",
    ]
    for i in range(8 + 5 * k):
        lines.append(f"line {i} of gmail message M{k} " + "y" * (i * k % 45))
    body = ("\r\n".join(lines) + "\r\n").encode("ascii")
    return [list(FLAG_SETS[(k - 1) % 5]), f"{k:02d}-Apr-2024 0{k}:1{k}:0{k} +0200", body, msgid]


def gmail_folders(stage):
    """The gmail scenario's folders as they are in stage 1, 2 or 3."""
    folders = []
    for name, attrs, uv, first, held in GMAIL_FOLDERS:
        f = Folder(name, messages=0, flags=attrs, uidvalidity=uv, first_uid=first)
        seen = [first - 1]  # UIDs that exist or existed by this stage: UIDNEXT never goes down
        for i, (k, stages) in enumerate(held):
            uid = first + 3 * i
            if any(int(s) <= stage for s in stages):
                seen.append(uid)
            if str(stage) in stages:
                f.msgs.append([uid] + gmail_message(k))
        f.uidnext = max(seen) + 1
        folders.append(f)
    return folders


def scenario_setup(name, stage=1):
    """-> (capabilities, delimiter, [Folder]); only the gmail scenario has stages 2 and 3"""
    caps = ["IMAP4rev1", "ID", "ENABLE", "UNSELECT"]
    delim = b"/"
    if name == "gmail":
        return caps + ["X-GM-EXT-1", "AUTH=PLAIN"], delim, gmail_folders(stage)
    if name == "names-slash":
        names = [b"INBOX", b"../x", b"..", b"a/../../b", b"/abs", b".hidden", b"cur", b"Good"]
        parents = [b"a", b"a/..", b"a/../.."]
    elif name == "names-dot":
        delim = b"."
        names = [b"INBOX", b"a/b", b"..", b".hidden", b"x..y", b"cur.tmp", b"100%", b"../etc",
                 b"ctl\x01x", b"Good"]
        parents = [b"x", b"x.", b"cur"]
    elif name == "names-twice":
        names = [b"INBOX", b"Dup", b"Good", b"inbox", b"Dup"]
        parents = []
    elif name == "names-fold":
        names = [b"INBOX", b"Foo", b"Good"] if stage == 1 else [b"INBOX", b"foo", b"Foo", b"Good"]
        parents = []
    elif name == "names-long":
        deep = b"/".join([b"D" * 250] * 20)
        names = [b"INBOX", b"L" * 300, deep, b"Good"]
        parents = [b"/".join([b"D" * 250] * k) for k in range(1, 20)]
    elif name in ("literal-short-close", "literal-short-hang", "literal-long", "reset-mid",
                  "huge-literal", "fetch-no-uid", "throttle", "slow-examine"):
        names = [b"INBOX", b"A", b"Bad", b"Z"]
        parents = []
    elif name in ("no-starttls", "starttls-refused", "logindisabled"):
        names = [b"INBOX"]
        parents = []
    else:
        raise SystemExit(f"fakeimap.py: unknown scenario {name}")
    if name == "starttls-refused":
        caps.append("STARTTLS")
    if name == "logindisabled":
        caps.append("LOGINDISABLED")
    if name not in ("logindisabled",):
        caps.append("AUTH=PLAIN")
    folders = [Folder(p, messages=0, flags=["\\Noselect", "\\HasChildren"]) for p in parents]
    for i, n in enumerate(names):
        if name == "names-twice" and n.upper() in (f.name.upper() for f in folders):  # listed again
            twice = next(f for f in folders if f.name.upper() == n.upper())
            folders.append(Folder(n, messages=0, flags=["\\HasNoChildren", "\\Sent"]))
            folders[-1].msgs, folders[-1].uidvalidity, folders[-1].uidnext = twice.msgs, twice.uidvalidity, twice.uidnext
            continue
        folders.append(Folder(n, messages=3 if n == b"Bad" else 2, first_uid=1 if name == "names-fold" else 1 + i % 3,
                              flags=["\\HasNoChildren"]))
    for f in folders:  # the Bad folder's poisoned message is UID 1
        if f.name == b"Bad":
            f.msgs[0][0] = BAD_UID
    return caps, delim, folders


# ---------------------------------------------------------------- parsing

class ParseError(Exception):
    pass


def tokenize(data):
    """Command bytes (literals inline as {n}\\r\\n<bytes>) -> tokens: bytes or list (parenthesized)."""
    pos = 0
    stack = [[]]
    n = len(data)
    while pos < n:
        c = data[pos:pos + 1]
        if c in (b" ", b"\r", b"\n"):
            pos += 1
        elif c == b"(":
            stack.append([])
            pos += 1
        elif c == b")":
            if len(stack) < 2:
                raise ParseError("unbalanced )")
            inner = stack.pop()
            stack[-1].append(inner)
            pos += 1
        elif c == b'"':
            pos += 1
            out = bytearray()
            while pos < n and data[pos:pos + 1] != b'"':
                if data[pos:pos + 1] == b"\\":
                    pos += 1
                out += data[pos:pos + 1]
                pos += 1
            if pos >= n:
                raise ParseError("unterminated quoted string")
            pos += 1
            stack[-1].append(bytes(out))
        elif c == b"{":
            m = re.compile(rb"\{(\d+)\+?\}\r\n").match(data, pos)
            if not m:
                raise ParseError("bad literal")
            k = int(m.group(1))
            stack[-1].append(data[m.end():m.end() + k])
            pos = m.end() + k
        else:
            start = pos
            depth = 0
            while pos < n:
                ch = data[pos:pos + 1]
                if ch == b"[":
                    depth += 1
                elif ch == b"]":
                    depth -= 1
                elif depth == 0 and ch in (b" ", b"(", b")", b"\r", b"\n"):
                    break
                pos += 1
            stack[-1].append(data[start:pos])
    if len(stack) != 1:
        raise ParseError("unbalanced (")
    return stack[0]


def parse_set(s, maxval):
    """Sequence set -> predicate on numbers. '*' is maxval."""
    ranges = []
    for part in s.split(b","):
        if b":" in part:
            a, b = part.split(b":", 1)
        else:
            a = b = part
        a = maxval if a == b"*" else int(a)
        b = maxval if b == b"*" else int(b)
        ranges.append((min(a, b), max(a, b)))
    return lambda x: any(lo <= x <= hi for lo, hi in ranges)


def quote_name(name):
    if re.search(rb'[\x00-\x1f\x7f"\\\x80-\xff]', name):
        return b"{%d}\r\n" % len(name) + name
    return b'"' + name + b'"'


def glob_match(pattern, name, delim):
    rx = b""
    for ch in pattern:
        c = bytes([ch])
        if c == b"*":
            rx += b".*"
        elif c == b"%":
            rx += b"[^" + re.escape(delim) + b"]*" if delim else b".*"
        else:
            rx += re.escape(c)
    return re.fullmatch(rx, name, re.S) is not None


# ---------------------------------------------------------------- server

class Conn(threading.Thread):
    def __init__(self, srv, sock, cid):
        super().__init__(daemon=True)
        self.srv = srv
        self.s = sock
        self.cid = cid
        self.buf = b""
        self.sel = None
        self.authed = False

    def log(self, what):
        self.srv.log(f"S{self.cid}: {what}")

    def send(self, data):
        self.s.sendall(data)

    def readline(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
            if len(self.buf) > 1 << 20:
                raise ParseError("line too long")
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def readexact(self, k):
        while len(self.buf) < k:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        out, self.buf = self.buf[:k], self.buf[k:]
        return out

    def read_command(self):
        data = b""
        while True:
            line = self.readline()
            self.srv.log(f"C{self.cid}: {line!r}")
            data += line + b"\r\n"
            m = re.search(rb"\{(\d+)(\+?)\}$", line)
            if not m:
                return data
            k = int(m.group(1))
            if k > 1 << 20:
                raise ParseError("literal too big")
            if not m.group(2):
                self.send(b"+ go ahead\r\n")
            lit = self.readexact(k)
            self.srv.log(f"C{self.cid}: literal {lit!r}")
            data += lit

    def caps(self):
        caps = list(self.srv.caps)
        if self.authed:
            caps = [c for c in caps if not c.startswith("AUTH=") and c not in ("STARTTLS", "LOGINDISABLED")]
        return " ".join(caps).encode()

    def run(self):
        try:
            self.send(b"* OK [CAPABILITY " + self.caps() + b"] fakeimap ready\r\n")
            while True:
                data = self.read_command()
                try:
                    toks = tokenize(data)
                except (ParseError, ValueError) as e:
                    self.send(b"* BAD " + str(e).encode() + b"\r\n")
                    continue
                if len(toks) < 2 or not isinstance(toks[0], bytes) or not isinstance(toks[1], bytes):
                    self.send(b"* BAD no tag or command\r\n")
                    continue
                tag, verb, args = toks[0], toks[1].upper(), toks[2:]
                if verb == b"UID" and args and isinstance(args[0], bytes):
                    verb, args, uid = args[0].upper(), args[1:], True
                else:
                    uid = False
                if not self.dispatch(tag, verb, args, uid):
                    break
        except (EOFError, ConnectionError, OSError):
            pass
        except ParseError as e:
            self.log(f"parse error: {e}")
        finally:
            try:
                self.s.close()
            except OSError:
                pass
            self.log("closed")

    def ok(self, tag, text=b"done"):
        self.send(tag + b" OK " + text + b"\r\n")

    def dispatch(self, tag, verb, args, uid):
        sc = self.srv.scenario
        if verb == b"CAPABILITY":
            self.send(b"* CAPABILITY " + self.caps() + b"\r\n")
            self.ok(tag)
        elif verb in (b"NOOP", b"CHECK"):
            self.ok(tag)
        elif verb == b"LOGOUT":
            self.send(b"* BYE see you\r\n")
            self.ok(tag)
            return False
        elif verb == b"STARTTLS":
            self.log("STARTTLS requested")
            if sc == "starttls-refused":
                self.send(tag + b" NO [UNAVAILABLE] TLS is not available today\r\n")
            else:
                self.send(tag + b" BAD unknown command\r\n")
        elif verb == b"LOGIN":
            self.log("LOGIN received")
            if sc == "logindisabled":
                self.send(tag + b" NO [PRIVACYREQUIRED] LOGIN is disabled\r\n")
            else:
                self.authed = True
                self.ok(tag, b"[CAPABILITY " + self.caps() + b"] logged in")
        elif verb == b"AUTHENTICATE":
            self.log("AUTHENTICATE received")
            if sc == "logindisabled":
                self.send(tag + b" NO no mechanisms\r\n")
                return True
            # SASL PLAIN, with or without the initial response
            if len(args) < 2:
                self.send(b"+ \r\n")
                line = self.readline()
                self.srv.log(f"C{self.cid}: {line!r}")
            self.authed = True
            self.ok(tag, b"[CAPABILITY " + self.caps() + b"] logged in")
        elif not self.authed:
            self.send(tag + b" BAD log in first\r\n")
        elif verb == b"ENABLE":
            self.send(b"* ENABLED\r\n")
            self.ok(tag)
        elif verb == b"ID":
            self.send(b'* ID ("name" "fakeimap")\r\n')
            self.ok(tag)
        elif verb == b"NAMESPACE":
            self.send(b'* NAMESPACE (("" "' + self.srv.delim + b'")) NIL NIL\r\n')
            self.ok(tag)
        elif verb in (b"LIST", b"LSUB"):
            self.do_list(tag, verb, args)
        elif verb == b"STATUS":
            self.do_status(tag, args)
        elif verb in (b"SELECT", b"EXAMINE"):
            if verb == b"SELECT":
                self.log("SELECT (read-write) used")
            self.do_select(tag, verb, args)
        elif verb in (b"CLOSE", b"UNSELECT"):
            self.sel = None
            self.ok(tag)
        elif verb == b"FETCH":
            self.do_fetch(tag, args, uid)
        elif verb == b"SEARCH":
            self.do_search(tag, args, uid)
        else:
            self.log(f"unsupported command {verb!r}")
            self.send(tag + b" BAD unsupported command\r\n")
        return True

    def folder(self, name):
        if isinstance(name, bytes) and name.upper() == b"INBOX":
            name = b"INBOX"
        for f in self.srv.folders:
            if f.name == name:
                return f
        return None

    def do_list(self, tag, verb, args):
        if args and isinstance(args[0], list):  # LIST (selection options) ...
            args = args[1:]
        if len(args) < 2:
            self.send(tag + b" BAD LIST needs two arguments\r\n")
            return
        ref, pats = args[0], args[1]
        pats = pats if isinstance(pats, list) else [pats]
        d = self.srv.delim
        for pat in pats:
            if pat == b"":
                self.send(b'* ' + verb + b' (\\Noselect) "' + d + b'" ""\r\n')
                continue
            for f in self.srv.folders:
                if glob_match(ref + pat, f.name, d):
                    fl = " ".join(f.flags).encode()
                    self.send(b"* " + verb + b" (" + fl + b') "' + d + b'" ' + quote_name(f.name) + b"\r\n")
        self.ok(tag)

    def do_status(self, tag, args):
        f = self.folder(args[0]) if args else None
        if f is None or not f.selectable:
            self.send(tag + b" NO no such folder\r\n")
            return
        items = args[1] if len(args) > 1 and isinstance(args[1], list) else []
        vals = {b"MESSAGES": len(f.msgs), b"UIDNEXT": f.uidnext, b"UIDVALIDITY": f.uidvalidity,
                b"UNSEEN": sum(1 for m in f.msgs if "\\Seen" not in m[1]), b"RECENT": 0}
        out = [b"%s %d" % (it.upper(), vals[it.upper()]) for it in items if it.upper() in vals]
        self.send(b"* STATUS " + quote_name(f.name) + b" (" + b" ".join(out) + b")\r\n")
        self.ok(tag)

    def do_select(self, tag, verb, args):
        f = self.folder(args[0]) if args else None
        if f is None or not f.selectable:
            self.sel = None
            self.send(tag + b" NO no such folder\r\n")
            return
        if self.srv.scenario == "slow-examine" and f.name == b"A":
            with self.srv.lock:
                self.srv.examined_a = getattr(self.srv, "examined_a", 0) + 1
                n = self.srv.examined_a
            if n == 2:
                time.sleep(2)
                # a test that needs longer holds it with <log>.hold, removed when done
                hold = (self.srv.logpath or "") + ".hold"
                for _ in range(600):
                    if not self.srv.logpath or not os.path.exists(hold):
                        break
                    time.sleep(0.1)
        if self.srv.scenario == "throttle" and f.name == b"Bad":
            with self.srv.lock:
                self.srv.throttled = getattr(self.srv, "throttled", 0) + 1
                n = self.srv.throttled
            if n <= 2:
                self.sel = None
                self.send(tag + b" NO [THROTTLED] Too many commands, slow down\r\n")
                return
            if n == 3:
                self.send(b"* BYE [UNAVAILABLE] Request is throttled. Suggested Backoff Time: 200 milliseconds\r\n")
                raise EOFError
        self.sel = f
        self.send(b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded Keyword1)\r\n"
                  b"* OK [PERMANENTFLAGS ()] read-only\r\n"
                  b"* %d EXISTS\r\n* 0 RECENT\r\n"
                  b"* OK [UIDVALIDITY %d] UIDs valid\r\n"
                  b"* OK [UIDNEXT %d] next\r\n" % (len(f.msgs), f.uidvalidity, f.uidnext))
        self.ok(tag, b"[READ-ONLY] " + verb + b" completed" if verb == b"EXAMINE"
                else b"[READ-WRITE] SELECT completed")

    def do_search(self, tag, args, uid):
        f = self.sel
        if f is None:
            self.send(tag + b" BAD no folder selected\r\n")
            return
        crit = [a.upper() if isinstance(a, bytes) else a for a in args]
        if crit[:2] == [b"CHARSET", b"US-ASCII"] or crit[:2] == [b"CHARSET", b"UTF-8"]:
            crit = crit[2:]
        maxuid = f.msgs[-1][0] if f.msgs else 0
        sel = list(range(len(f.msgs)))
        i = 0
        while i < len(crit):
            c = crit[i]
            if c == b"ALL":
                i += 1
            elif c == b"UID" and i + 1 < len(crit):
                pred = parse_set(crit[i + 1], maxuid)
                sel = [k for k in sel if pred(f.msgs[k][0])]
                i += 2
            elif isinstance(c, bytes) and re.fullmatch(rb"[0-9*:,]+", c):
                pred = parse_set(c, len(f.msgs))
                sel = [k for k in sel if pred(k + 1)]
                i += 1
            else:
                self.send(tag + b" BAD unsupported search criterion\r\n")
                return
        nums = [f.msgs[k][0] if uid else k + 1 for k in sel]
        self.send(b"* SEARCH" + b"".join(b" %d" % x for x in nums) + b"\r\n")
        self.ok(tag)

    def do_fetch(self, tag, args, uid):
        f = self.sel
        if f is None or len(args) < 2:
            self.send(tag + b" BAD no folder selected or arguments missing\r\n")
            return
        items = args[1] if isinstance(args[1], list) else [args[1]]
        items = [it.upper() for it in items if isinstance(it, bytes)]
        macros = {b"ALL": [b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE"],
                  b"FAST": [b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE"],
                  b"FULL": [b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE"]}
        exp = []
        for it in items:
            exp += macros.get(it, [it])
        if uid and b"UID" not in exp:
            exp.insert(0, b"UID")
        if f.msgs:
            maxv = f.msgs[-1][0] if uid else len(f.msgs)
            pred = parse_set(args[0], maxv)
        else:
            pred = lambda x: False  # noqa: E731
        for seq, m in enumerate(f.msgs, 1):
            if not pred(m[0] if uid else seq):
                continue
            if not self.fetch_one(seq, m, exp):
                raise EOFError
        self.ok(tag)

    def fetch_one(self, seq, m, items):
        muid, mflags, idate, body = m[:4]
        msgid = m[4] if len(m) > 4 else None  # gmail scenario only
        parts = []
        for it in items:
            if it == b"UID":
                parts.append(b"UID %d" % muid)
            elif it == b"FLAGS":
                parts.append(b"FLAGS (" + " ".join(mflags).encode() + b")")
            elif it == b"INTERNALDATE":
                parts.append(b'INTERNALDATE "' + idate.encode() + b'"')
            elif it == b"RFC822.SIZE":
                parts.append(b"RFC822.SIZE %d" % len(body))
            elif it == b"X-GM-MSGID" and msgid is not None:
                parts.append(b"X-GM-MSGID %d" % msgid)
            elif it.startswith(b"BODY") or it in (b"RFC822", b"RFC822.HEADER", b"RFC822.TEXT"):
                mm = re.fullmatch(rb"BODY(?:\.PEEK)?\[([^\]]*)\](?:<(\d+)\.(\d+)>)?", it)
                if it == b"RFC822":
                    sect, name = b"", b"RFC822"
                elif it == b"RFC822.HEADER":
                    sect, name = b"HEADER", b"RFC822.HEADER"
                elif it == b"RFC822.TEXT":
                    sect, name = b"TEXT", b"RFC822.TEXT"
                elif mm:
                    sect, name = mm.group(1).upper(), b"BODY[" + mm.group(1) + b"]"
                else:
                    parts.append(b"BODYSTRUCTURE NIL")
                    continue
                hdr, _, txt = body.partition(b"\r\n\r\n")
                if sect == b"":
                    data = body
                elif sect == b"HEADER" or sect.startswith(b"HEADER.FIELDS"):
                    data = hdr + b"\r\n\r\n"
                elif sect == b"TEXT":
                    data = txt
                else:
                    data = b""
                if mm and mm.group(2) is not None:
                    off, cnt = int(mm.group(2)), int(mm.group(3))
                    data = data[off:off + cnt]
                    name += b"<%d>" % off
                if msgid is not None and sect == b"":
                    self.log(f"body {self.sel.name.decode()} {muid} msgid {msgid}")
                parts.append((name, data, sect == b"" and self.sel.name == b"Bad" and muid == BAD_UID))
            else:
                parts.append(it + b" NIL")
        if self.srv.scenario == "fetch-no-uid" and self.sel.name == b"Bad" and self.srv.stage2():
            parts = [p for p in parts if not (isinstance(p, bytes) and p.startswith(b"UID "))]
        out = b"* %d FETCH (" % seq
        for i, p in enumerate(parts):
            sep = b" " if i else b""
            if isinstance(p, bytes):
                out += sep + p
                continue
            name, data, poisoned = p
            if poisoned:
                self.send(out + sep)
                return self.misbehave(name, data)
            out += sep + name + b" {%d}\r\n" % len(data) + data
        self.send(out + b")\r\n")
        return True

    def misbehave(self, name, data):
        sc = self.srv.scenario
        self.log(f"misbehaving ({sc})")
        half = data[:len(data) // 2]
        if sc == "literal-short-close":
            self.send(name + b" {%d}\r\n" % (len(data) + 5000) + half)
            time.sleep(0.2)
            return False
        if sc == "literal-short-hang":
            self.send(name + b" {%d}\r\n" % (len(data) + 5000) + half)
            self.s.settimeout(self.srv.lifetime)
            try:
                while self.s.recv(4096):
                    pass
            except OSError:
                pass
            return False
        if sc == "literal-long":
            self.send(name + b" {%d}\r\n" % len(half) + data + b")\r\n")
            return True
        if sc == "reset-mid":
            self.send(name + b" {%d}\r\n" % len(data) + half)
            time.sleep(0.1)
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if sc == "huge-literal":
            self.send(name + b" {99999999999999}\r\n" + half)
            time.sleep(0.2)
            return False
        self.send(name + b" {%d}\r\n" % len(data) + data + b")\r\n")
        return True


class Server:
    def __init__(self, a):
        self.scenario = a.scenario
        self.caps, self.delim, self.folders1 = scenario_setup(a.scenario)
        self.folders2 = scenario_setup(a.scenario, 2)[2] if a.scenario in ("gmail", "names-fold") else self.folders1
        self.folders3 = scenario_setup(a.scenario, 3)[2] if a.scenario == "gmail" else self.folders1
        self.lifetime = a.lifetime
        self.lock = threading.Lock()
        self.logf = open(a.log, "a", encoding="utf-8") if a.log else None
        self.logpath = a.log

    def stage2(self):
        """The test switched the scenario to its second stage: the file <log>.on exists."""
        return bool(self.logpath) and os.path.exists(self.logpath + ".on")

    def stage3(self):
        """Third stage (gmail): the file <log>.on3 exists."""
        return bool(self.logpath) and os.path.exists(self.logpath + ".on3")

    @property
    def folders(self):
        if self.stage3():
            return self.folders3
        return self.folders2 if self.stage2() else self.folders1

    def log(self, line):
        if self.logf:
            with self.lock:
                self.logf.write(line + "\n")
                self.logf.flush()

    def serve(self, port_file):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", 0))
        ls.listen(16)
        ls.settimeout(0.5)
        tmp = port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{ls.getsockname()[1]}\n")
        os.rename(tmp, port_file)
        self.log(f"S: listening on {ls.getsockname()[1]}, scenario {self.scenario}")
        deadline = time.monotonic() + self.lifetime
        cid = 0
        while time.monotonic() < deadline:
            try:
                s, _ = ls.accept()
            except socket.timeout:
                continue
            cid += 1
            s.settimeout(self.lifetime)
            self.log(f"S{cid}: connection")
            Conn(self, s, cid).start()
        self.log("S: lifetime over")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--lifetime", type=float, default=300)
    ap.add_argument("--print", nargs=2, metavar=("FOLDER", "UID"))
    a = ap.parse_args()
    if a.print:
        folders = scenario_setup(a.scenario)[2] + scenario_setup(a.scenario, 2)[2]
        name = a.print[0].encode("utf-8", "surrogateescape")
        for f in folders:
            if f.name == name:
                for m in f.msgs:
                    if m[0] == int(a.print[1]):
                        sys.stdout.buffer.write(m[3])
                        return 0
        print("fakeimap.py: no such message", file=sys.stderr)
        return 1
    if not a.port_file:
        ap.error("--port-file is required")
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    Server(a).serve(a.port_file)
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
