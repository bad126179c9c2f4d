#!/usr/bin/env python3
"""hostile_matrix.py --scenario NAME --port-file FILE [--log FILE] [--lifetime S] [--cert-dir DIR] [--cert C]
   hostile_matrix.py --list
   hostile_matrix.py --manifest baseline|evolved

A scripted IMAP server for t_hostile_matrix.sh: a well-behaved baseline (RFC 3501, with CONDSTORE,
QRESYNC, ESEARCH, LIST-STATUS, ENABLE, SASL-IR as RFC 7162/4731/5819/5161/4959 describe them) and
many named misbehaviours, each a small variation of it. Python 3 standard library only.

One scenario per process. It listens on 127.0.0.1 (a free port, written to --port-file once
listening), serves any number of connections (a thread each) and exits by itself after --lifetime
seconds (default 300) or on SIGTERM. Plain TCP, except the tls-* and starttls-* scenarios, which use
the certificates t_hostile_matrix.sh makes in --cert-dir (server.pem/.key signed by ca.pem for
127.0.0.1; wrong.pem for another host name; self.pem self-signed; expired.pem...; --cert C serves
C.pem/C.key instead of the scenario's, as t_security.sh does for host-name cases). Any user name and
password are accepted. Every client line is appended to --log as "C<conn>: <repr>", notable events
as "S<conn>: ...".

The mailbox (delimiter "/"): INBOX (UIDs 1 2 4), A (1 2), Bad (1 3 5 9; 9 is a one-line message
without CRLF), Z (2 7), Empty (no message). Misbehaviours concern Bad (most often its UID 1, the
message the `evolved` server expunges) unless they concern the whole connection.

Two helper servers are not misbehaviours: `baseline` (the reference the mirror is compared with)
and `evolved` (the same mailbox later: in every folder the lowest UID expunged, the next one's
\\Seen toggled, one new message; Empty gets one; every HIGHESTMODSEQ higher). A run against
`evolved` after any scenario must give an exact mirror.

Helpers for the pre-run of some scenarios: `baseline+hms` (every HIGHESTMODSEQ one higher),
`uid-max` (Bad also holds UID 4294967295) and `huge-uidnext` (Bad's STATUS says UIDNEXT 4000000000,
its EXAMINE none).

--list prints one line per scenario, tab-separated, for the shell:
  name  rc  named  pre  flags  bound  xfail  doc
  rc     the exit codes allowed ("0 1"; docs/mailkeep.1, EXIT STATUS)
  named  what the error output must contain, after a '"', when the exit code is not 0 ("-": nothing)
  pre    the server a first sync runs against before the scenario ("-": none)
  flags  comma-separated: same (the scenario's messages are the baseline's, so exit 0 means an exact
         mirror of the baseline, and any file of Bad must be the baseline's), nogood (the account as
         a whole is refused: the good folders are not checked), remove (local files may go away
         legitimately), noclienthello / nologin (the server must see no TLS ClientHello / no
         credentials), noc1 (no C1 control, 8-bit CSI or bidi override may reach the error output
         raw), tls=implicit|starttls, maxconn=N, must=FOLDER:UID (mirrored when exit 0),
         kept=FOLDER:UID[+UID...] (mirrored whatever the exit code),
         noorphan (no folder may be called gone), noaside (no folder moved aside),
         nodir=FOLDER (FOLDER may have no directory in the mirror: it was never opened),
         nonsrec (no namespace may be recorded in .mailkeep/namespace), maxrss=MB (the run's peak
         memory at most MB, measured with GNU time, not under ASan), compress (the account says
         `compress: true`), maxerr=N (the error output of the run at most N lines)
  bound  the seconds the run may take at most (the test's timeout is 2 s)
  xfail  why the scenario is known to fail ("-": it passes)
--manifest prints the exact mirror of `baseline` or `evolved` as t_hostile_matrix.sh lists one.
"""
import base64
import argparse
import os
import re
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import warnings
import zlib

from fakeimap import ParseError, tokenize  # the command tokenizer of the other scripted server

# ---------------------------------------------------------------- the mailbox

FLAG_SETS = [["\\Seen"], [], ["\\Flagged", "\\Answered"], ["\\Seen", "$Forwarded", "Keyword1"],
             ["\\Draft"], ["\\Deleted", "\\Seen"], ["\\Seen", "\\Flagged"]]
FOLDERS = [(b"INBOX", 1101, [1, 2, 4]), (b"A", 1202, [1, 2]), (b"Bad", 1303, [1, 3, 5, 9]),
           (b"Z", 1404, [2, 7]), (b"Empty", 1505, [])]
GOOD = ["INBOX", "A", "Z", "Empty"]
U32 = 4294967295


class Msg:
    def __init__(self, uid, flags, date, body, modseq):
        self.uid, self.flags, self.date, self.body, self.modseq = uid, list(flags), date, body, modseq

    def copy(self):
        return Msg(self.uid, self.flags, self.date, self.body, self.modseq)


class Folder:
    def __init__(self, name, uidvalidity, msgs, attrs=None):
        self.name = name
        self.uidvalidity = uidvalidity
        self.msgs = msgs
        self.attrs = attrs if attrs is not None else ["\\HasNoChildren"]
        self.expunged = []  # [(uid, modseq)]
        self.uidnext = (msgs[-1].uid + 1) if msgs else 1
        self.hms = max([m.modseq for m in msgs] + [1])

    @property
    def selectable(self):
        return not any(a.lower() in ("\\noselect", "\\nonexistent") for a in self.attrs)

    def copy(self):
        f = Folder(self.name, self.uidvalidity, [m.copy() for m in self.msgs], list(self.attrs))
        f.expunged = list(self.expunged)
        f.uidnext, f.hms = self.uidnext, self.hms
        return f


def make_body(folder, uid, tag=""):
    if folder == b"Bad" and uid == 9:
        return b"X-Tiny: a one-line message without a line end"
    name = folder.decode("latin-1").encode("unicode_escape").decode("ascii")
    lines = [f"Message-ID: <{uid}.{len(folder)}.{tag}@hostile.mailkeep.test>",
             "From: Hostile <h@example.test>", "To: Alice <alice@example.test>",
             f"Subject: message {uid} in {name}{tag}", "Date: Fri, 01 Mar 2024 10:00:00 +0100", ""]
    for i in range(8 + uid % 7):
        lines.append(f"line {i} of {uid} in {name} " + "z" * (i * 3 % 40) + ("\r" if i == 3 else ""))
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def make_date(uid, k):
    return f"{1 + (uid + k) % 27:02d}-{['Jan', 'Mar', 'Jul', 'Dec'][uid % 4]}-2024 " \
           f"{(uid * 5) % 24:02d}:{(uid * 7) % 60:02d}:{k % 60:02d} {'+0100' if uid % 2 else '-0730'}"


def baseline_folders():
    out = []
    modseq = 10
    for k, (name, uv, uids) in enumerate(FOLDERS):
        msgs = []
        for i, uid in enumerate(uids):
            msgs.append(Msg(uid, FLAG_SETS[(i + k) % len(FLAG_SETS)], make_date(uid, k), make_body(name, uid),
                            modseq))
            modseq += 1
        out.append(Folder(name, uv, msgs))
    return out


def new_message(f, modseq):
    """The message that arrives next in folder f (the same in every scenario and in `evolved`)."""
    uid = f.uidnext
    return Msg(uid, ["\\Flagged"], make_date(uid, 3), make_body(f.name, uid, " (new)"), modseq)


def evolved_folders():
    out = []
    for f in baseline_folders():
        f = f.copy()
        m0 = f.hms + 100
        if f.msgs:
            gone = f.msgs.pop(0)
            f.expunged.append((gone.uid, m0 + 1))
        if f.msgs:
            m = f.msgs[0]
            m.flags = [x for x in m.flags if x != "\\Seen"] if "\\Seen" in m.flags else m.flags + ["\\Seen"]
            m.modseq = m0 + 2
        f.msgs.append(new_message(f, m0 + 3))
        f.uidnext += 1
        f.hms = m0 + 3
        out.append(f)
    return out


def bump_hms(folders):
    for f in folders:
        f.hms += 1
    return folders


def folder_by(folders, name):
    for f in folders:
        if f.name == name:
            return f
    return None


# ---------------------------------------------------------------- protocol helpers

class Drop(Exception):
    """End this connection (after whatever the scenario did to it)."""


def parse_set(s, star):
    """Sequence set -> list of (lo, hi); '*' is star."""
    out = []
    for part in s.split(b","):
        a, _, b = part.partition(b":")
        b = b or a
        lo = star if a == b"*" else int(a)
        hi = star if b == b"*" else int(b)
        out.append((min(lo, hi), max(lo, hi)))
    return out


def in_set(ranges, x):
    return any(lo <= x <= hi for lo, hi in ranges)


def uidset(uids):
    uids = sorted(uids)
    out, i = [], 0
    while i < len(uids):
        j = i
        while j + 1 < len(uids) and uids[j + 1] == uids[j] + 1:
            j += 1
        out.append(b"%d" % uids[i] if i == j else b"%d:%d" % (uids[i], uids[j]))
        i = j + 1
    return b",".join(out)


def quote(name):
    if re.search(rb'[\x00-\x1f\x7f\x80-\xff]', name):
        return b"{%d}\r\n" % len(name) + name
    return b'"' + name.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def flags_of(m):
    return b"(" + " ".join(m.flags).encode() + b")"


BASE_CAPS = ["IMAP4rev1", "SASL-IR", "ID", "ENABLE", "UNSELECT", "NAMESPACE", "UIDPLUS", "LITERAL+",
             "CONDSTORE", "QRESYNC", "ESEARCH", "LIST-STATUS", "AUTH=PLAIN"]


# ---------------------------------------------------------------- the well-behaved server

class Base:
    """The baseline. Scenarios subclass it and override a hook or two."""
    meta = {}
    caps_add = []
    caps_del = []
    delim = b"/"
    tls = None          # None, "implicit", "starttls"
    cert = "server"
    tls_max = None      # None, or the newest ssl.TLSVersion the server speaks (an old server)

    def __init__(self, srv):
        self.srv = srv
        self.state = {}
        self.lock = threading.Lock()

    # -- data
    def make_folders(self):
        return baseline_folders()

    def folders(self, c):
        return self.srv.data

    def count(self, key):
        """A per-server counter (thread-safe): 1, 2, 3..."""
        with self.lock:
            self.state[key] = self.state.get(key, 0) + 1
            return self.state[key]

    # -- connection
    def caps(self, c):
        caps = [x for x in BASE_CAPS + self.caps_add if x not in self.caps_del]
        if self.tls == "starttls" and not c.tls_on:
            caps.append("STARTTLS")
        if c.authed:
            caps = [x for x in caps if not x.startswith("AUTH=") and x != "STARTTLS"]
        return " ".join(caps).encode()

    def greet(self, c):
        c.send(b"* OK [CAPABILITY " + self.caps(c) + b"] hostile_matrix ready\r\n")

    def command(self, c, tag, verb, args, uid):
        """Return True when the scenario handled the command itself."""
        return False

    login_caps = True  # the login's OK carries [CAPABILITY ...]; without, the client asks CAPABILITY

    def login_ok(self, c, tag):
        c.authed = True
        if self.login_caps:
            c.send(tag + b" OK [CAPABILITY " + self.caps(c) + b"] logged in\r\n")
        else:
            c.ok(tag, b"logged in")

    def enable(self, c, tag, args):
        names = [a.upper() for a in args if isinstance(a, bytes)]
        ok = [n for n in names if n.decode(errors="replace") in self.caps(c).decode().split()]
        if b"QRESYNC" in ok:
            c.qresync = True
            c.condstore = True
        if b"CONDSTORE" in ok:
            c.condstore = True
        c.send(b"* ENABLED" + b"".join(b" " + n for n in ok) + b"\r\n")
        c.ok(tag, b"ENABLE completed")

    # -- LIST / STATUS
    def list_entries(self, c):
        """-> [(attrs bytes, delimiter wire bytes, name wire bytes, Folder or None)]"""
        out = []
        for f in self.folders(c):
            out.append((" ".join(f.attrs).encode(), quote(self.delim), quote(f.name), f))
        return out

    def status_values(self, c, f):
        return {b"MESSAGES": len(f.msgs), b"UIDNEXT": f.uidnext, b"UIDVALIDITY": f.uidvalidity,
                b"UNSEEN": sum(1 for m in f.msgs if "\\Seen" not in m.flags), b"RECENT": 0,
                b"HIGHESTMODSEQ": f.hms}

    def status_line(self, c, f, items, wire_name=None):
        vals = self.status_values(c, f)
        out = [b"%s %d" % (it, vals[it]) for it in items if it in vals]
        return b"* STATUS " + (wire_name or quote(f.name)) + b" (" + b" ".join(out) + b")\r\n"

    def list_status(self, c, f, items, wire_name):
        if f is None or not f.selectable:
            return b""
        return self.status_line(c, f, items, wire_name)

    def do_namespace(self, c, tag):
        c.send(b'* NAMESPACE (("" "' + self.delim + b'")) NIL NIL\r\n')
        c.ok(tag, b"NAMESPACE completed")

    def do_list(self, c, tag, args):
        if args and isinstance(args[0], list):
            args = args[1:]
        items = None
        if len(args) >= 4 and isinstance(args[2], bytes) and args[2].upper() == b"RETURN":
            ret = args[3]
            for i, r in enumerate(ret):
                if isinstance(r, bytes) and r.upper() == b"STATUS" and i + 1 < len(ret):
                    items = [x.upper() for x in ret[i + 1]]
        out = []
        for attrs, delim, name, f in self.list_entries(c):
            out.append(b"* LIST (" + attrs + b") " + delim + b" " + name + b"\r\n")
            if items is not None:
                out.append(self.list_status(c, f, items, name))
        c.send(b"".join(out))
        c.ok(tag, b"LIST completed")

    def do_status(self, c, tag, args):
        f = c.folder(args[0]) if args else None
        if f is None or not f.selectable:
            c.send(tag + b" NO [NONEXISTENT] no such mailbox\r\n")
            return
        items = [x.upper() for x in args[1]] if len(args) > 1 and isinstance(args[1], list) else []
        c.send(self.status_line(c, f, items))
        c.ok(tag, b"STATUS completed")

    # -- EXAMINE
    def examine_lines(self, c, f, qresync):
        """The untagged answer to EXAMINE, as a list of lines (scenarios edit it)."""
        lines = [b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded Keyword1)\r\n",
                 b"* OK [PERMANENTFLAGS ()] read-only\r\n",
                 b"* %d EXISTS\r\n" % len(f.msgs), b"* 0 RECENT\r\n",
                 b"* OK [UIDVALIDITY %d] UIDs valid\r\n" % f.uidvalidity,
                 b"* OK [UIDNEXT %d] predicted next UID\r\n" % f.uidnext,
                 b"* OK [HIGHESTMODSEQ %d] highest\r\n" % f.hms]
        if qresync is not None:
            uv, since = qresync
            if uv == f.uidvalidity:
                gone = [u for u, ms in f.expunged if ms > since]
                if gone:
                    lines.append(b"* VANISHED (EARLIER) " + uidset(gone) + b"\r\n")
                for seq, m in enumerate(f.msgs, 1):
                    if m.modseq > since:
                        lines.append(b"* %d FETCH (UID %d FLAGS %s MODSEQ (%d))\r\n" % (seq, m.uid, flags_of(m),
                                                                                     m.modseq))
        return lines

    def examine_tagged(self, c, tag, f):
        return tag + b" OK [READ-ONLY] EXAMINE completed\r\n"

    def do_examine(self, c, tag, verb, args):
        f = c.folder(args[0]) if args else None
        c.sel = None
        if f is None or not f.selectable:
            c.send(tag + b" NO [NONEXISTENT] no such mailbox\r\n")
            return
        qresync = None
        if len(args) > 1 and isinstance(args[1], list):
            p = args[1]
            if p and isinstance(p[0], bytes) and p[0].upper() == b"CONDSTORE":
                c.condstore = True
            elif len(p) >= 2 and isinstance(p[0], bytes) and p[0].upper() == b"QRESYNC":
                if not c.qresync:
                    c.send(tag + b" BAD QRESYNC is not enabled\r\n")
                    return
                q = p[1]
                qresync = (int(q[0]), int(q[1]))
        c.sel = f
        c.send(b"".join(self.examine_lines(c, f, qresync)))
        c.send(self.examine_tagged(c, tag, f))

    # -- FETCH / SEARCH
    def fetch_parts(self, c, f, seq, m, items, uidcmd):
        """-> (head parts [bytes], body bytes or None, body item name)"""
        parts, body, bname = [], None, b"BODY[]"
        if uidcmd and b"UID" not in items:
            items = [b"UID"] + items
        for it in items:
            if it == b"UID":
                parts.append(b"UID %d" % m.uid)
            elif it == b"FLAGS":
                parts.append(b"FLAGS " + flags_of(m))
            elif it == b"INTERNALDATE":
                parts.append(b'INTERNALDATE "' + m.date.encode() + b'"')
            elif it == b"RFC822.SIZE":
                parts.append(b"RFC822.SIZE %d" % len(m.body))
            elif it == b"MODSEQ":
                parts.append(b"MODSEQ (%d)" % m.modseq)
            elif it in (b"BODY.PEEK[]", b"BODY[]", b"RFC822"):
                body = m.body
                bname = b"RFC822" if it == b"RFC822" else b"BODY[]"
            elif it == b"X-GM-MSGID":
                parts.append(b"X-GM-MSGID %d" % (1700000000000000000 + m.uid * 1000 + sum(f.name)))
            else:
                parts.append(it + b" NIL")
        if c.condstore and b"MODSEQ" not in items and c.changedsince is not None:
            parts.append(b"MODSEQ (%d)" % m.modseq)
        return parts, body, bname

    def fetch_one(self, c, f, seq, m, items, uidcmd):
        """Send the FETCH response for one message (scenarios override)."""
        parts, body, bname = self.fetch_parts(c, f, seq, m, items, uidcmd)
        c.send(self.fetch_bytes(seq, parts, body, bname))

    def fetch_replacing(self, c, f, seq, m, items, uidcmd, name, item):
        """fetch_one, Bad UID 1's item that starts with name (b"FLAGS") sent as item instead"""
        parts, body, bname = self.fetch_parts(c, f, seq, m, items, uidcmd)
        if is_bad(f) and m.uid == 1:
            parts = [item if p.startswith(name) else p for p in parts]
        c.send(self.fetch_bytes(seq, parts, body, bname))

    def fetch_changed(self, c, f, seq, m, items, uidcmd, **attrs):
        """Base's fetch_one, Bad UID 1 sent as a copy of it with attrs (date=..., uid=...) set"""
        if is_bad(f) and m.uid == 1:
            m = m.copy()
            for k, v in attrs.items():
                setattr(m, k, v)
        Base.fetch_one(self, c, f, seq, m, items, uidcmd)

    def fetch_then(self, c, f, seq, m, items, uidcmd, line):
        """Base's fetch_one, then line after each of Bad's FETCH responses"""
        Base.fetch_one(self, c, f, seq, m, items, uidcmd)
        if is_bad(f):
            c.send(line)

    @staticmethod
    def fetch_bytes(seq, parts, body, bname=b"BODY[]"):
        out = b"* %d FETCH (" % seq + b" ".join(parts)
        if body is not None:
            out += (b" " if parts else b"") + bname + b" {%d}\r\n" % len(body) + body
        return out + b")\r\n"

    def fetch_done(self, c, tag, f):
        c.ok(tag, b"FETCH completed")

    def do_fetch(self, c, tag, args, uidcmd):
        f = c.sel
        if f is None or len(args) < 2:
            c.send(tag + b" BAD no mailbox selected\r\n")
            return
        items = args[1] if isinstance(args[1], list) else [args[1]]
        items = [it.upper() for it in items if isinstance(it, bytes)]
        exp = []
        for it in items:
            exp += {b"ALL": [b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE"],
                    b"FAST": [b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE"]}.get(it, [it])
        changedsince = None
        if len(args) > 2 and isinstance(args[2], list):
            mods = args[2]
            for i, x in enumerate(mods):
                if isinstance(x, bytes) and x.upper() == b"CHANGEDSINCE" and i + 1 < len(mods):
                    changedsince = int(mods[i + 1])
                    c.condstore = True
        c.changedsince = changedsince
        star = (f.msgs[-1].uid if uidcmd else len(f.msgs)) if f.msgs else (U32 if uidcmd else 0)
        try:
            ranges = parse_set(args[0], star)
        except ValueError:
            c.send(tag + b" BAD bad sequence set\r\n")
            return
        for seq, m in enumerate(f.msgs, 1):
            if not in_set(ranges, m.uid if uidcmd else seq):
                continue
            if changedsince is not None and m.modseq <= changedsince:
                continue
            self.fetch_one(c, f, seq, m, exp, uidcmd)
        c.changedsince = None
        self.fetch_done(c, tag, f)

    def search_result(self, c, tag, f, uidcmd, esearch):
        nums = [m.uid if uidcmd else i for i, m in enumerate(f.msgs, 1)]
        if esearch:
            c.send(b'* ESEARCH (TAG "' + tag + b'")' + (b" UID" if uidcmd else b"") +
                   ((b" ALL " + uidset(nums)) if nums else b"") + b"\r\n")
        else:
            c.send(b"* SEARCH" + b"".join(b" %d" % x for x in nums) + b"\r\n")

    def search_replacing(self, c, tag, f, uidcmd, esearch, line):
        """Base's search_result, the answer for Bad the line given instead"""
        if is_bad(f):
            c.send(line)
        else:
            Base.search_result(self, c, tag, f, uidcmd, esearch)

    def do_search(self, c, tag, args, uidcmd):
        f = c.sel
        if f is None:
            c.send(tag + b" BAD no mailbox selected\r\n")
            return
        esearch = False
        if len(args) >= 2 and isinstance(args[0], bytes) and args[0].upper() == b"RETURN":
            esearch = True
            args = args[2:]
        crit = [a.upper() for a in args if isinstance(a, bytes)]
        if crit != [b"ALL"]:
            c.send(tag + b" BAD only ALL here\r\n")
            return
        self.search_result(c, tag, f, uidcmd, esearch)
        c.ok(tag, b"SEARCH completed")

    # -- dispatch
    def dispatch(self, c, tag, verb, args, uidcmd):
        if self.command(c, tag, verb, args, uidcmd):
            return
        if verb == b"CAPABILITY":
            c.send(b"* CAPABILITY " + self.caps(c) + b"\r\n")
            c.ok(tag, b"CAPABILITY completed")
        elif verb == b"NOOP":
            c.ok(tag, b"NOOP completed")
        elif verb == b"LOGOUT":
            c.send(b"* BYE logging out\r\n")
            c.ok(tag, b"LOGOUT completed")
            raise Drop
        elif verb == b"STARTTLS":
            self.starttls(c, tag)
        elif verb == b"LOGIN":
            c.log("LOGIN received")
            self.login_ok(c, tag)
        elif verb == b"AUTHENTICATE":
            c.log("AUTHENTICATE received")
            if len(args) < 2:
                c.send(b"+ \r\n")
                c.log(f"auth data {c.readline()!r}")
            self.login_ok(c, tag)
        elif not c.authed:
            c.send(tag + b" BAD log in first\r\n")
        elif verb == b"ENABLE":
            self.enable(c, tag, args)
        elif verb == b"COMPRESS":
            self.compress(c, tag, args)
        elif verb == b"ID":
            c.send(b'* ID ("name" "hostile_matrix")\r\n')
            c.ok(tag, b"ID completed")
        elif verb == b"NAMESPACE":
            self.do_namespace(c, tag)
        elif verb in (b"LIST", b"LSUB"):
            self.do_list(c, tag, args)
        elif verb == b"STATUS":
            self.do_status(c, tag, args)
        elif verb in (b"SELECT", b"EXAMINE"):
            if verb == b"SELECT":
                c.log("SELECT (read-write) used")
            self.do_examine(c, tag, verb, args)
        elif verb in (b"CLOSE", b"UNSELECT"):
            c.sel = None
            c.ok(tag, verb + b" completed")
        elif verb == b"FETCH":
            self.do_fetch(c, tag, args, uidcmd)
        elif verb == b"SEARCH":
            self.do_search(c, tag, args, uidcmd)
        else:
            c.log(f"unsupported command {verb!r}")
            c.send(tag + b" BAD unsupported command\r\n")

    def compress(self, c, tag, args):
        """RFC 4978: OK, then both directions are raw DEFLATE from the byte after its CRLF."""
        if "COMPRESS=DEFLATE" not in self.caps(c).decode().split() or c.zout:
            c.send(tag + b" BAD COMPRESS not available\r\n")
            return
        if not (args and isinstance(args[0], bytes) and args[0].upper() == b"DEFLATE"):
            c.send(tag + b" BAD unknown mechanism\r\n")
            return
        c.ok(tag, b"DEFLATE active")
        c.start_compress()

    def starttls(self, c, tag):
        if self.tls != "starttls" or c.tls_on:
            c.send(tag + b" BAD STARTTLS not available\r\n")
            return
        c.send(tag + b" OK Begin TLS negotiation now\r\n")
        c.start_tls(self.cert)


SCENARIOS = {}


def sc(name, rc="1", named="Bad", pre="-", flags="", bound=20, xfail="", doc=""):
    """Register a scenario class under name with what the test expects of mailkeep."""
    def deco(cls):
        cls.meta = {"rc": rc, "named": named, "pre": pre, "flags": flags, "bound": bound, "xfail": xfail,
                    "doc": doc or (cls.__doc__ or "").strip().split("\n")[0]}
        SCENARIOS[name] = cls
        return cls
    return deco


def is_bad(f):
    return f is not None and f.name == b"Bad"


def size_estimates(parts, m):
    """FETCH parts with RFC822.SIZE a third of the body (Exchange's estimates)"""
    return [re.sub(rb"^RFC822\.SIZE \d+$", lambda x: b"RFC822.SIZE %d" % (len(m.body) // 3), p) for p in parts]


def swallow_next(sc, c, f, seq, m, items, uidcmd, hold):
    """fetch_one of a scenario whose Bad message (hold(), asked only for a body of Bad) is sent only
    with the next body, its literal announcing its length plus that whole answer but its closing
    parenthesis: taken in"""
    parts, body, bname = sc.fetch_parts(c, f, seq, m, items, uidcmd)
    if is_bad(f) and body is not None and hold():
        sc.held = (seq, parts, body)
        return
    out = sc.fetch_bytes(seq, parts, body, bname)
    if is_bad(f) and body is not None and sc.held:
        hseq, hparts, hbody = sc.held
        sc.held = None
        out = (b"* %d FETCH (" % hseq + b" ".join(hparts) + b" BODY[] {%d}\r\n" % (len(hbody) + len(out)) +
               hbody + b")\r\n" + out)
    c.send(out)


# ---------------------------------------------------------------- the connection

class Conn(threading.Thread):
    def __init__(self, srv, sock, cid):
        super().__init__(daemon=True)
        self.srv, self.s, self.cid = srv, sock, cid
        self.b = srv.behaviour
        self.buf = b""
        self.sel = None
        self.authed = False
        self.qresync = False
        self.condstore = False
        self.changedsince = None
        self.tls_on = False
        self.zin = self.zout = None  # COMPRESS=DEFLATE (RFC 4978) once active

    def log(self, what):
        self.srv.log(f"S{self.cid}: {what}")

    def send(self, data):
        if data:
            if self.zout:
                data = self.zout.compress(data) + self.zout.flush(zlib.Z_SYNC_FLUSH)
            self.s.sendall(data)

    def send_raw(self, data):
        """Bytes as they are, past the compressor (to damage a compressed stream)."""
        self.s.sendall(data)

    def start_compress(self):
        self.zin = zlib.decompressobj(-15)
        self.zout = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.log("compression on")

    def recv(self):
        """What the client sent next (inflated once compression is on); b"" at the end."""
        while True:
            chunk = self.s.recv(65536)
            if not chunk or not self.zin:
                return chunk
            try:
                data = self.zin.decompress(chunk)
            except zlib.error as e:
                self.log(f"client's compressed stream damaged: {e}")
                raise Drop
            if data:
                return data

    def ok(self, tag, text=b"done"):
        self.send(tag + b" OK " + text + b"\r\n")

    def folder(self, name):
        if isinstance(name, bytes) and name.upper() == b"INBOX":
            name = b"INBOX"
        for f in self.b.folders(self):
            if f.name == name:
                return f
        return None

    # -- misbehaviour helpers
    def close_now(self):
        self.log("closing the connection")
        raise Drop

    def reset(self):
        self.log("resetting the connection")
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raise Drop

    def stall(self):
        """Say nothing more; read and drop what the client sends until it goes or the lifetime ends."""
        self.log("stalling")
        self.s.settimeout(max(1.0, self.srv.deadline - time.monotonic()))
        try:
            while self.recv():
                pass
        except (OSError, ValueError):
            pass
        raise Drop

    def drip(self, data, every=0.4, then_stall=True):
        """Send data one byte at a time, one byte every `every` seconds, as long as the client listens."""
        self.log(f"dripping {len(data)} bytes")
        for i in range(len(data)):
            if time.monotonic() > self.srv.deadline:
                break
            try:
                self.s.sendall(data[i:i + 1])
            except OSError:
                self.log(f"client gone after {i} dripped bytes")
                raise Drop
            time.sleep(every)
        if then_stall:
            self.stall()

    # -- reading
    def readline(self):
        while b"\n" not in self.buf:
            chunk = self.recv()
            if not chunk:
                raise Drop
            self.buf += chunk
            if len(self.buf) > 1 << 20:
                raise Drop
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def readexact(self, k):
        while len(self.buf) < k:
            chunk = self.recv()
            if not chunk:
                raise Drop
            self.buf += chunk
        out, self.buf = self.buf[:k], self.buf[k:]
        return out

    def read_command(self):
        data = b""
        while True:
            line = self.readline()
            self.srv.log(f"C{self.cid}: {line[:300]!r}")
            data += line + b"\r\n"
            m = re.search(rb"\{(\d+)(\+?)\}$", line)
            if not m:
                return data
            k = int(m.group(1))
            if k > 1 << 20:
                raise Drop
            if not m.group(2):
                self.send(b"+ go ahead\r\n")
            data += self.readexact(k)

    def start_tls(self, which):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        d = self.srv.cert_dir
        ctx.load_cert_chain(os.path.join(d, which + ".pem"), os.path.join(d, which + ".key"))
        if self.b.tls_max is not None:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            with warnings.catch_warnings():  # TLS 1.0 and 1.1 are deprecated: that is the point
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = ssl.TLSVersion.TLSv1
                ctx.maximum_version = self.b.tls_max
        self.s.settimeout(10)
        if self.buf:
            self.log(f"{len(self.buf)} bytes buffered before the TLS handshake")
        try:
            self.s = ctx.wrap_socket(self.s, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.log(f"TLS handshake failed: {e}")
            raise Drop
        self.s.settimeout(self.srv.lifetime)
        self.tls_on = True
        self.log("TLS established")

    def run(self):
        try:
            if self.b.tls == "implicit":
                self.start_tls(self.b.cert)
            self.b.greet(self)
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
                uidcmd = False
                if verb == b"UID" and args and isinstance(args[0], bytes):
                    verb, args, uidcmd = args[0].upper(), args[1:], True
                self.b.dispatch(self, tag, verb, args, uidcmd)
        except (Drop, EOFError, ConnectionError, OSError, ValueError, IndexError) as e:
            if not isinstance(e, Drop):
                self.log(f"connection ended: {e!r}")
        finally:
            try:
                self.s.close()
            except OSError:
                pass


class Server:
    def __init__(self, a):
        cls = SCENARIOS.get(a.scenario) or HELPERS.get(a.scenario)
        if cls is None:
            raise SystemExit(f"hostile_matrix.py: unknown scenario {a.scenario}")
        self.name = a.scenario
        self.lifetime = a.lifetime
        self.deadline = time.monotonic() + a.lifetime
        self.cert_dir = a.cert_dir or "."
        self.lock = threading.Lock()
        self.logf = open(a.log, "a", encoding="utf-8") if a.log else None
        self.behaviour = cls(self)
        if a.cert:
            self.behaviour.cert = a.cert
        self.data = self.behaviour.make_folders()

    def log(self, line):
        if self.logf:
            with self.lock:
                self.logf.write(line + "\n")
                self.logf.flush()

    def serve(self, port_file):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", 0))
        ls.listen(32)
        ls.settimeout(0.3)
        tmp = port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{ls.getsockname()[1]}\n")
        os.rename(tmp, port_file)
        self.log(f"S: listening on {ls.getsockname()[1]}, scenario {self.name}")
        cid = 0
        while time.monotonic() < self.deadline:
            try:
                s, _ = ls.accept()
            except socket.timeout:
                continue
            cid += 1
            s.settimeout(max(1.0, self.deadline - time.monotonic()))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.log(f"S{cid}: connection")
            Conn(self, s, cid).start()
        self.log("S: lifetime over")


# ---------------------------------------------------------------- helper servers

class Evolved(Base):
    def make_folders(self):
        return evolved_folders()


class BaselineHms(Base):
    def make_folders(self):
        return bump_hms(baseline_folders())


HELPERS = {"baseline": Base, "evolved": Evolved, "baseline+hms": BaselineHms}


# ---------------------------------------------------------------- scenarios
# Conventions: rc is what mailkeep may exit with (docs/mailkeep.1, EXIT STATUS): 0, 1 (a folder
# failed, the others done), 4 (nothing could be done: connection, TLS, login). `named` must
# appear in the error output when the exit code is not 0.

class HmsBump(Base):
    """Base of the scenarios run after a first sync: every HIGHESTMODSEQ one higher than the
    first sync saw, so that every folder is examined (QRESYNC path) and nothing else changed."""
    def make_folders(self):
        return bump_hms(baseline_folders())


PRE = "baseline"


@sc("baseline-check", rc="0", named="-", flags="same", doc="the well-behaved server")
class _(Base):
    pass


@sc("baseline-incremental", rc="0", named="-", pre=PRE, flags="same",
    doc="the well-behaved server after a first sync (QRESYNC path everywhere)")
class _(HmsBump):
    pass


# ---- greeting

@sc("greet-bye", rc="4", named="-", flags="nogood")
class _(Base):
    """greeting is an untagged BYE"""
    def greet(self, c):
        c.send(b"* BYE [UNAVAILABLE] go away\r\n")
        c.close_now()


@sc("greet-garbage", rc="4", named="-", flags="nogood")
class _(Base):
    """an HTTP server instead of IMAP"""
    def greet(self, c):
        c.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        c.stall()


@sc("greet-none", rc="4", named="-", flags="nogood", bound=15)
class _(Base):
    """accepts the connection and never says anything"""
    def greet(self, c):
        c.stall()


@sc("greet-close", rc="4", named="-", flags="nogood")
class _(Base):
    """closes at once"""
    def greet(self, c):
        c.close_now()


@sc("greet-reset", rc="4", named="-", flags="nogood")
class _(Base):
    """resets at once"""
    def greet(self, c):
        c.reset()


@sc("greet-nul", rc="0 4", named="-", flags="nogood")
class _(Base):
    """NUL bytes in the greeting text"""
    def greet(self, c):
        c.send(b"* OK hostile\x00\x00matrix ready\r\n")


@sc("greet-overlong", rc="4", named="-", flags="nogood")
class _(Base):
    """a greeting line of 17 MiB"""
    def greet(self, c):
        chunk = b"x" * (1 << 20)
        c.send(b"* OK ")
        for _ in range(17):
            c.send(chunk)
        c.send(b"\r\n")
        c.stall()


@sc("greet-cr-only", rc="4", named="-", flags="nogood", bound=15)
class _(Base):
    """the greeting ends with a bare CR, then silence"""
    def greet(self, c):
        c.send(b"* OK [CAPABILITY " + self.caps(c) + b"] ready\r")
        c.stall()


@sc("greet-continuation", rc="4", named="-", flags="nogood")
class _(Base):
    """the greeting is a continuation request"""
    def greet(self, c):
        c.send(b"+ hello\r\n")
        c.stall()


@sc("greet-tagged", rc="4", named="-", flags="nogood")
class _(Base):
    """the greeting is a tagged OK"""
    def greet(self, c):
        c.send(b"a1 OK hello\r\n")
        c.stall()


@sc("greet-drip", rc="4", named="-", flags="nogood", bound=8)
class _(Base):
    """the greeting arrives one byte every 0.4 s, forever (the timeout must stop it)"""
    def greet(self, c):
        c.drip(b"* OK " + b"slow" * 1000 + b"\r\n", 0.4)


@sc("greet-preauth", rc="0", named="-", flags="same")
class _(Base):
    """PREAUTH greeting (tls: none): no login needed"""
    def greet(self, c):
        c.authed = True
        c.send(b"* PREAUTH [CAPABILITY " + self.caps(c) + b"] you are in\r\n")


@sc("greet-no-caps", rc="0", named="-", flags="same")
class _(Base):
    """a greeting without capabilities"""
    def greet(self, c):
        c.send(b"* OK ready\r\n")


# ---- capabilities, login, ENABLE

@sc("caps-empty", rc="0", named="-", flags="same")
class _(Base):
    """CAPABILITY says nothing at all (not even IMAP4rev1): LOGIN, no extensions"""
    def caps(self, c):
        return b""

    def greet(self, c):
        c.send(b"* OK ready\r\n")


@sc("caps-garbage", rc="0 4", named="-", flags="nogood")
class _(Base):
    """CAPABILITY with brackets, parens and 8-bit garbage"""
    def greet(self, c):
        c.send(b"* OK ready\r\n")

    def command(self, c, tag, verb, args, uid):
        if verb == b"CAPABILITY":
            c.send(b"* CAPABILITY IMAP4rev1 ] [ \xff\xfe AUTH=PLAIN (\r\n")
            c.ok(tag)
            return True
        return False


@sc("login-close", rc="4", named="-", flags="nogood")
class _(Base):
    """the server closes when the credentials arrive"""
    def login_ok(self, c, tag):
        c.close_now()


@sc("login-bye", rc="4", named="-", flags="nogood")
class _(Base):
    """untagged BYE and close in answer to the login"""
    def login_ok(self, c, tag):
        c.send(b"* BYE [ALERT] no more\r\n")
        c.close_now()


@sc("login-no", rc="4", named="-", flags="nogood")
class _(Base):
    """login refused"""
    def login_ok(self, c, tag):
        c.send(tag + b" NO [AUTHENTICATIONFAILED] no\r\n")


@sc("login-stall", rc="4", named="-", flags="nogood", bound=15)
class _(Base):
    """no answer to the login"""
    def login_ok(self, c, tag):
        c.stall()


@sc("login-wrong-tag", rc="4", named="-", flags="nogood")
class _(Base):
    """the login's completion carries another tag"""
    def login_ok(self, c, tag):
        c.authed = True
        c.send(b"zz9 OK logged in\r\n")


@sc("login-continuation", rc="4", named="-", flags="nogood")
class _(Base):
    """a continuation request after AUTHENTICATE PLAIN with its initial response"""
    def login_ok(self, c, tag):
        c.send(b"+ \r\n")
        c.stall()


@sc("login-drip", rc="4", named="-", flags="nogood", bound=8)
class _(Base):
    """the login's answer arrives one byte every 0.4 s"""
    def login_ok(self, c, tag):
        c.drip(b"* OK " + b"z" * 2000 + b"\r\n" + tag + b" OK done\r\n", 0.4)


@sc("auth-plain-bad", rc="0 4", named="-", flags="same",
    doc="AUTH=PLAIN advertised but AUTHENTICATE PLAIN answered BAD (LOGIN works)")
class _(Base):
    def command(self, c, tag, verb, args, uid):
        if verb == b"AUTHENTICATE":
            c.send(tag + b" BAD unknown mechanism\r\n")
            return True
        return False


@sc("auth-untagged-first", rc="0", named="-", flags="same",
    doc="no SASL-IR: AUTHENTICATE PLAIN answered by an untagged OK [ALERT] before its continuation request")
class _(Base):
    caps_del = ["SASL-IR"]

    def command(self, c, tag, verb, args, uid):
        if verb == b"AUTHENTICATE":
            c.send(b"* OK [ALERT] maintenance tonight at 23:00\r\n+ \r\n")
            c.log(f"auth data {c.readline()!r}")
            self.login_ok(c, tag)
            return True
        return False


@sc("login-caps-shrink", rc="0", named="-", flags="same")
class _(Base):
    """after login the capabilities shrink to IMAP4rev1 (no CONDSTORE, QRESYNC, LIST-STATUS)"""
    login_caps = False

    def caps(self, c):
        return b"IMAP4rev1" if c.authed else super().caps(c)


@sc("enable-bad", rc="0", named="-", pre=PRE, flags="same")
class _(HmsBump):
    """QRESYNC advertised, ENABLE QRESYNC answered BAD"""
    def enable(self, c, tag, args):
        c.send(tag + b" BAD ENABLE is broken today\r\n")


@sc("enable-ignored", rc="0", named="-", pre=PRE, flags="same")
class _(HmsBump):
    """ENABLE QRESYNC answered OK with an empty * ENABLED: QRESYNC is not on, EXAMINE (QRESYNC ...) is BAD"""
    def enable(self, c, tag, args):
        c.send(b"* ENABLED\r\n")
        c.ok(tag, b"nothing enabled")


@sc("enable-garbage", rc="0 1 4", named="-", flags="nogood")
class _(Base):
    """the answer to ENABLE holds an unbalanced list"""
    def enable(self, c, tag, args):
        c.send(b"* ENABLED (QRESYNC\r\n")
        c.ok(tag)


@sc("enable-bye", rc="4", named="-", flags="nogood")
class _(Base):
    """BYE and close in answer to ENABLE"""
    def enable(self, c, tag, args):
        c.send(b"* BYE no extensions for you\r\n")
        c.close_now()


@sc("capability-bye", rc="4", named="-", flags="nogood")
class _(Base):
    """BYE and close in answer to the CAPABILITY after login"""
    login_caps = False

    def command(self, c, tag, verb, args, uid):
        if verb == b"CAPABILITY" and c.authed:
            c.send(b"* BYE not now\r\n")
            c.close_now()
        return False


@sc("qresync-examine-bad", rc="0 1", named="Bad", pre=PRE, flags="same")
class _(HmsBump):
    """ENABLE QRESYNC works, but every EXAMINE with QRESYNC parameters is refused (capability lie)"""
    def do_examine(self, c, tag, verb, args):
        if len(args) > 1 and isinstance(args[1], list) and args[1] and args[1][0].upper() == b"QRESYNC":
            c.send(tag + b" BAD QRESYNC parameters not supported\r\n")
            return
        super().do_examine(c, tag, verb, args)


@sc("condstore-examine-bad", rc="0 1", named="Bad", flags="same")
class _(Base):
    """CONDSTORE advertised (no QRESYNC) but EXAMINE (CONDSTORE) is refused"""
    caps_del = ["QRESYNC"]

    def do_examine(self, c, tag, verb, args):
        if len(args) > 1 and isinstance(args[1], list):
            c.send(tag + b" BAD no parameters please\r\n")
            return
        super().do_examine(c, tag, verb, args)


@sc("capability-midfetch", rc="0", named="-", flags="same")
class _(Base):
    """an untagged CAPABILITY with nothing in it during a FETCH"""
    def fetch_done(self, c, tag, f):
        c.send(b"* CAPABILITY\r\n")
        super().fetch_done(c, tag, f)


# ---- LIST

@sc("namespace-no", rc="0", named="-", flags="same,nonsrec")
class _(Base):
    """NAMESPACE advertised but refused (NO) at the end of the run: nothing recorded, exit 0"""
    def do_namespace(self, c, tag):
        c.send(tag + b" NO [SERVERBUG] no namespaces today\r\n")


@sc("namespace-bye", rc="0", named="-", flags="same,nonsrec")
class _(Base):
    """BYE and close instead of the NAMESPACE answer: the folders are synced, nothing recorded"""
    def do_namespace(self, c, tag):
        c.send(b"* BYE going away\r\n")
        c.close_now()


@sc("namespace-stall", rc="0", named="-", flags="same,nonsrec", bound=15)
class _(Base):
    """no answer to NAMESPACE: the timeout, then exit 0 with the folders synced"""
    def do_namespace(self, c, tag):
        c.stall()


@sc("namespace-hostile", rc="0", named="-", flags="same")
class _(Base):
    """a personal prefix of "../../x/" (and a huge second one): recorded escaped, nothing outside"""
    def do_namespace(self, c, tag):
        c.send(b'* NAMESPACE (("../../x/" "/")("' + b"y" * 5000 + b'/" "/")) NIL NIL\r\n')
        c.ok(tag, b"NAMESPACE completed")


@sc("namespace-garbage", rc="0", named="-", flags="same,nonsrec")
class _(Base):
    """NAMESPACE answered with wrong types and an unterminated list"""
    def do_namespace(self, c, tag):
        c.send(b"* NAMESPACE ((42 NIL) (\r\n")
        c.ok(tag, b"NAMESPACE completed")


@sc("list-no", rc="4", named="-", flags="nogood")
class _(Base):
    """LIST refused"""
    def do_list(self, c, tag, args):
        c.send(tag + b" NO [SERVERBUG] cannot list\r\n")


@sc("list-bye", rc="4", named="-", flags="nogood")
class _(Base):
    """BYE and close in the middle of LIST"""
    def do_list(self, c, tag, args):
        c.send(b'* LIST (\\HasNoChildren) "/" "INBOX"\r\n* BYE shutting down\r\n')
        c.close_now()


@sc("list-stall", rc="4", named="-", flags="nogood", bound=15)
class _(Base):
    """no answer to LIST"""
    def do_list(self, c, tag, args):
        c.stall()


@sc("list-drip", rc="4", named="-", flags="nogood", bound=8)
class _(Base):
    """the LIST answer arrives one byte every 0.4 s"""
    def do_list(self, c, tag, args):
        c.drip(b'* LIST (\\HasNoChildren) "/" "INBOX"\r\n' * 50, 0.4)


@sc("list-empty", rc="0", named="-", pre=PRE, flags="same",
    doc="LIST answers nothing (after a first sync): every local folder is kept")
class _(Base):
    def list_entries(self, c):
        return []


@sc("list-malformed-entries", rc="1", named="-", flags="same")
class _(Base):
    """LIST lines of the wrong shape beside the good ones (ignored, and the run says so: exit 1)"""
    def list_entries(self, c):
        return [(b"", b'"/"', b"(x)", None), (b"\\HasNoChildren", b"(nested)", b'"Wrong"', None)] + \
            super().list_entries(c)

    def do_list(self, c, tag, args):
        c.send(b'* LIST "notalist" "/" "Ghost"\r\n* LIST\r\n* LIST ()\r\n')
        super().do_list(c, tag, args)


@sc("list-unbalanced", rc="1 4", named="-", flags="nogood")
class _(Base):
    """a LIST line with an unbalanced parenthesis"""
    def do_list(self, c, tag, args):
        c.send(b'* LIST (\\HasNoChildren "/" "Bad"\r\n')
        super().do_list(c, tag, args)


def named_folders(names, delim=b"/"):
    class Named(Base):
        pass
    Named.delim = delim

    def make_folders(self):
        base = baseline_folders()
        for i, n in enumerate(names):
            attrs = ["\\Noselect", "\\HasChildren"] if n.startswith(b"!") else None
            n = n.lstrip(b"!")
            if attrs:
                base.append(Folder(n, 0, [], attrs))
            else:
                base.append(Folder(n, 7000 + i, [Msg(3, ["\\Seen"], make_date(3, i), make_body(n, 3), 5)]))
        return base
    Named.make_folders = make_folders
    return Named


@sc("list-name-dotdot", rc="0 1", named="-", doc='"..", "../mkhm_esc", "a/../../mkhm_esc2", "x/.." (delimiter /)')
class _(named_folders([b"..", b"../mkhm_esc", b"!a", b"!a/..", b"!a/../..", b"a/../../mkhm_esc2", b"!x",
                       b"x/.."])):
    pass


@sc("list-name-absolute", rc="0 1", named="-", doc='"/mkhm_abs", "/tmp/mkhm_abs2", "//mkhm_abs3"')
class _(named_folders([b"/mkhm_abs", b"/tmp/mkhm_abs2", b"//mkhm_abs3", b"!/tmp", b"!/"])):
    pass


@sc("list-name-dot-delim", rc="0 1", named="-", doc='delimiter ".": "..", "...mkhm", "mkhm/../../x", "cur.new"')
class _(named_folders([b"..", b"...mkhm", b"mkhm/../../x", b"cur.new", b"!cur"], b".")):
    pass


@sc("list-name-backslash-delim", rc="0 1", named="-", doc='delimiter "\\\\": "..\\\\..\\\\mkhm", "a/b\\\\..\\\\c"')
class _(named_folders([b"..\\..\\mkhm", b"a/b\\..\\c", b"!..", b"!..\\..", b"!a/b", b"!a/b\\.."], b"\\")):
    pass


@sc("list-name-nul", rc="0 1", named="-", doc="a folder name with a NUL byte (sent as a literal)")
class _(named_folders([b"mk\x00hm/../../x"])):
    pass


@sc("list-name-crlf", rc="0 1", named="-", doc="a folder name with CR LF in it (a literal)")
class _(named_folders([b"mk\r\nhm", b"line\nbreak"])):
    pass


@sc("list-name-ctl", rc="0 1", named="-",
    doc="a folder name with control bytes and an ANSI escape (must not reach the terminal raw)")
class _(named_folders([b"ctl\x01\x1b[31mRED\x1b[0m\x7f"])):
    pass


@sc("list-name-mutf7-bad", rc="1", named="mkhm&Jjo", doc='invalid modified UTF-7: "mkhm&Jjo" (unterminated), "mkhm&@@-"')
class _(named_folders([b"mkhm&Jjo", b"mkhm&@@-", b"mkhm&AGE"])):
    pass


@sc("list-name-mutf7-ctl", rc="0 1", named="-",
    doc="valid modified UTF-7 that decodes to control characters: ESC [31m, CR, LF, DEL")
class _(named_folders([b"mkhm&ABsAWwAzADEAbQ-RED", b"mk&AA0ACg-hm", b"mk&AH8-hm"])):
    pass


@sc("list-name-c1", rc="0 1", named="-", flags="noc1",
    doc="raw 8-bit folder names holding C1 controls: an 8-bit CSI (0x9b) and U+009B CSI in UTF-8")
class _(named_folders([b"mkhm\x9b31mred", b"mkhm\xc2\x9b31mred", b"mkhm\xc2\x9d0;title\xc2\x9c"])):
    pass


@sc("list-name-bidi", rc="1", named="-", flags="noc1",
    doc="modified UTF-7 names decoding to U+202E (right-to-left override) and U+2066 (isolate), their "
        "EXAMINE refused: the error lines name them with \\u escapes, never the raw characters")
class _(named_folders([b"mk&IC4-evil", b"mk&IGY-evil2"])):
    def do_examine(self, c, tag, verb, args):
        if args and isinstance(args[0], bytes) and args[0].startswith(b"mk&I"):
            c.sel = None
            c.send(tag + b" NO [SERVERBUG] broken\r\n")
            return
        return super().do_examine(c, tag, verb, args)


@sc("list-names-huge", rc="1", named="-", flags="same,maxrss=50,maxerr=40", bound=40,
    doc="LIST names 8 selectable folders of 2 MiB each as literals: left out (no file system takes such a "
        "path), each costing neither its size in memory nor in error output")
class _(Base):
    BIG = [(b"\\HasNoChildren", quote(b"/"), b"{%d}\r\n" % (2 << 20) + (b"%02d" % i) + b"x" * ((2 << 20) - 2), None)
           for i in range(8)]

    def list_entries(self, c):
        return super().list_entries(c) + self.BIG


@sc("examine-junk-literal", rc="0 1", named="-", flags="same,maxrss=40", bound=40,
    doc="every EXAMINE answer carries an unasked FETCH item with a 24 MiB literal: held once while it is "
        "read, not twice (the read buffer and the response)")
class _(Base):
    JUNK = b"* 1 FETCH (X-JUNK {%d}\r\n" % (24 << 20) + b"x" * (24 << 20) + b")\r\n"

    def examine_lines(self, c, f, qresync):
        return [self.JUNK] + super().examine_lines(c, f, qresync)


@sc("list-name-dot", rc="0 1", named="-", doc='".", "./mkhm_esc", "a/./../../mkhm_esc2", "/etc/mkhm_esc" (delimiter /)')
class _(named_folders([b".", b"./mkhm_esc", b"!a", b"!a/.", b"!a/./..", b"a/./../../mkhm_esc2", b"!/etc",
                       b"/etc/mkhm_esc"])):
    pass


@sc("list-name-mutf7-path", rc="0 1", named="-",
    doc='modified UTF-7 for "/", "." and NUL: "&AC8-..&AC8-mkhm_esc", "&AC4ALg-", "..&AC8-mkhm_esc2", "mkhm&AAA-x"')
class _(named_folders([b"&AC8-..&AC8-mkhm_esc", b"&AC4ALg-", b"&AC4-&AC4-", b"..&AC8-mkhm_esc2", b"mkhm&AAA-x",
                       b"&AC8-tmp&AC8-mkhm_abs2", b"x&AC8-..&AC8-..&AC8-mkhm_esc"])):
    pass


@sc("list-delim-letter", rc="0 1", named="-",
    doc='an 8-bit, a NUL-free but odd delimiter "%" with "%2E%2E%mkhm_esc" and "..%..%mkhm_esc2"')
class _(named_folders([b"%2E%2E%mkhm_esc", b"..%..%mkhm_esc2", b"!..", b"!..%..", b"a%b"], delim=b"%")):
    pass


@sc("list-name-mailkeep", rc="0 1", named="-",
    doc='names aimed at mailkeep\'s own files: ".mailkeep", ".mailkeep/lock", "x/.mailkeep-state", "%2Emailkeep"')
class _(named_folders([b".mailkeep", b"!.mailkeep", b".mailkeep/lock", b".mailkeep/uidvalidity-1303",
                       b"!x", b"x/.mailkeep-state", b"%2Emailkeep", b"Bad2/cur", b"!Bad2"])):
    pass


@sc("list-name-8bit", rc="0 1", named="-", doc="a raw UTF-8 (not modified UTF-7) folder name")
class _(named_folders(["Caf\u00e9 r\u00e9sum\u00e9".encode()])):
    pass


@sc("list-name-long", rc="1", named="LLLLLLLLLL", doc="a 300-byte folder name")
class _(named_folders([b"L" * 300])):
    pass


@sc("list-name-deep", rc="0 1", named="-", doc="a 70-level hierarchy")
class _(named_folders([b"!" + b"/".join([b"d"] * k) for k in range(1, 70)] + [b"/".join([b"d"] * 70)])):
    pass


@sc("list-name-empty", rc="0 1", named="-", doc='the empty name "" and a name of one delimiter "/"')
class _(named_folders([b"", b"/"])):
    pass


@sc("list-name-quote", rc="0", named="-", doc='a name with a double quote and a backslash: mk"hm\\\\x')
class _(named_folders([b'mk"hm\\x'])):
    pass


@sc("list-quoted-nul", rc="1", named="-", flags="same")
class _(Base):
    """a LIST line whose quoted name holds a raw NUL byte, beside the good ones"""
    def do_list(self, c, tag, args):
        c.send(b'* LIST (\\HasNoChildren) "/" "mk\x00hm"\r\n')
        super().do_list(c, tag, args)


@sc("list-quoted-crlf", rc="1", named="-", flags="same")
class _(Base):
    """a LIST line whose quoted name holds a raw CR LF (so: two broken lines), beside the good ones"""
    def do_list(self, c, tag, args):
        c.send(b'* LIST (\\HasNoChildren) "/" "mk\r\nhm"\r\n')
        super().do_list(c, tag, args)


@sc("list-unparsable-known", rc="1", named="-", pre=PRE, flags="same,noorphan")
class _(Base):
    """an already mirrored folder (Bad) listed in a line that does not parse: not called gone"""
    def list_entries(self, c):
        return [(a, d, b'"Bad\x00"' if is_bad(f) else n, f) for a, d, n, f in super().list_entries(c)]


@sc("list-delim-literal", rc="0 1", named="-", flags="same", doc="a delimiter sent as a literal NUL byte")
class _(named_folders([b"mk/hm"])):
    def list_entries(self, c):
        return [(a, b"{1}\r\n\x00" if f is not None and f.name == b"mk/hm" else d, n, f)
                for a, d, n, f in super().list_entries(c)]


@sc("list-name-inbox-twice", rc="0 1", named="-", flags="same", doc='INBOX listed twice, once as "inbox"')
class _(Base):
    def list_entries(self, c):
        e = super().list_entries(c)
        return e + [(b"\\HasNoChildren", b'"/"', b'"inbox"', folder_by(self.folders(c), b"INBOX"))]


@sc("list-delim-nil", rc="0", named="-", doc='delimiter NIL (flat namespace) with "mk/hm" in a name')
class _(named_folders([b"mk/hm", b"../mkhm_esc"])):
    def list_entries(self, c):
        return [(a, b"NIL", n, f) for a, d, n, f in super().list_entries(c)]


@sc("list-delim-long", rc="0 1", named="-", flags="same", doc='a delimiter of two characters for Bad')
class _(Base):
    def list_entries(self, c):
        return [(a, b'"//"' if is_bad(f) else d, n, f) for a, d, n, f in super().list_entries(c)]


@sc("list-many", rc="0", named="-", bound=30, doc="500 empty selectable folders")
class _(Base):
    def make_folders(self):
        return baseline_folders() + [Folder(b"many/%04d" % i, 9000 + i, []) for i in range(500)] + \
            [Folder(b"many", 1, [], ["\\Noselect", "\\HasChildren"])]


@sc("flood-list-repeated", rc="4", named="-", flags="nogood,maxrss=80", bound=20,
    doc="LIST names Bad a million times more (before the fix: ~200 MB per million, one error line each)")
class _(Base):
    def do_list(self, c, tag, args):
        chunk = b'* LIST () "/" Bad\r\n' * 10000
        try:
            for _ in range(100):
                c.send(chunk)
        except OSError:
            raise Drop
        return super().do_list(c, tag, args)


@sc("flood-list-malformed", rc="1", named="-", flags="same,maxerr=100", bound=20,
    doc="LIST: 200000 lines of the wrong shape and 200000 that do not parse before the good ones (one warning each: 400000 lines of output)")
class _(Base):
    def do_list(self, c, tag, args):
        try:
            for _ in range(20):
                c.send(b"* LIST ()\r\n" * 10000)
                c.send(b'* LIST (\\HasNoChildren "/" "Ghost\r\n' * 10000)
        except OSError:
            raise Drop
        return super().do_list(c, tag, args)


@sc("list-status-ghosts", rc="0", named="-", flags="same", bound=10,
    doc="LIST-STATUS: 80000 \\Noselect folders, then 80000 STATUS answers for an unlisted Ghost "
        "(before the fix: each matched against every folder listed, 47 s of CPU)")
class _(Base):
    def do_list(self, c, tag, args):
        if len(args) >= 3 and isinstance(args[2], bytes) and args[2].upper() == b"RETURN":
            out = [b'* LIST (\\Noselect) "/" g%07d\r\n' % i for i in range(80000)]
            out += [b"* STATUS Ghost (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 3 HIGHESTMODSEQ 4)\r\n"] * 80000
            c.send(b"".join(out))
        return super().do_list(c, tag, args)


@sc("list-status-unlisted", rc="0", named="-", pre=PRE, flags="same",
    doc="LIST-STATUS answers for folders not listed (Ghost, a NUL name) and for Bad before its LIST line")
class _(HmsBump):
    def do_list(self, c, tag, args):
        bad = folder_by(self.folders(c), b"Bad")
        c.send(b"* STATUS Ghost (MESSAGES 9 UIDNEXT 99 UIDVALIDITY 1303 HIGHESTMODSEQ 3)\r\n"
               b"* STATUS {5}\r\nGh\x00st (MESSAGES 1)\r\n" +
               self.status_line(c, bad, [b"MESSAGES", b"UIDNEXT", b"UIDVALIDITY", b"HIGHESTMODSEQ"]))
        super().do_list(c, tag, args)


@sc("list-status-bogus", rc="0 1", named="-", flags="same")
class _(Base):
    """LIST-STATUS: Bad's STATUS has a non-numeric MESSAGES"""
    def list_status(self, c, f, items, wire_name):
        if is_bad(f):
            return b"* STATUS " + wire_name + b" (MESSAGES lots UIDNEXT 10 UIDVALIDITY 1303)\r\n"
        return super().list_status(c, f, items, wire_name)


@sc("list-status-huge", rc="0", named="-", pre=PRE, flags="same",
    doc="LIST-STATUS values beyond 32 and 64 bits for Bad")
class _(HmsBump):
    def list_status(self, c, f, items, wire_name):
        if is_bad(f):
            return b"* STATUS " + wire_name + b" (MESSAGES 4294967296 UIDNEXT 99999999999 UIDVALIDITY 1303 " \
                b"HIGHESTMODSEQ 18446744073709551615)\r\n"
        return super().list_status(c, f, items, wire_name)


@sc("list-status-absent", rc="0", named="-", pre=PRE, flags="same",
    doc="after a first sync: LIST-STATUS advertised, the LIST answer has no STATUS at all")
class _(HmsBump):
    def list_status(self, c, f, items, wire_name):
        return b""


@sc("list-status-refused", rc="0", named="-", flags="same", doc="LIST ... RETURN (STATUS ...) answered BAD")
class _(Base):
    def do_list(self, c, tag, args):
        if len(args) > 2:
            c.send(tag + b" BAD RETURN not supported after all\r\n")
            return
        super().do_list(c, tag, args)


# ---- STATUS (plain STATUS path: LIST-STATUS not offered, a first sync made state)

class StatusBase(HmsBump):
    caps_del = ["LIST-STATUS"]

    def status_bad(self, c, tag, f, items):
        return False

    def do_status(self, c, tag, args):
        f = c.folder(args[0]) if args else None
        items = [x.upper() for x in args[1]] if len(args) > 1 and isinstance(args[1], list) else []
        if is_bad(f) and self.status_bad(c, tag, f, items):
            return
        super().do_status(c, tag, args)


@sc("status-nonnumeric", rc="0", named="-", pre=PRE, flags="same")
class _(StatusBase):
    """STATUS Bad answers MESSAGES x"""
    def status_bad(self, c, tag, f, items):
        c.send(b"* STATUS Bad (MESSAGES x UIDNEXT 10)\r\n")
        c.ok(tag)
        return True


@sc("status-huge", rc="0", named="-", pre=PRE, flags="same")
class _(StatusBase):
    """STATUS Bad with values beyond 32/64 bits"""
    def status_bad(self, c, tag, f, items):
        c.send(b"* STATUS Bad (MESSAGES 4294967296 UIDNEXT 4294967296 UIDVALIDITY 4294967296 "
               b"HIGHESTMODSEQ 18446744073709551615)\r\n")
        c.ok(tag)
        return True


@sc("status-negative", rc="0", named="-", pre=PRE, flags="same")
class _(StatusBase):
    """STATUS Bad with negative values"""
    def status_bad(self, c, tag, f, items):
        c.send(b"* STATUS Bad (MESSAGES -1 UIDNEXT -5 UIDVALIDITY -1303 HIGHESTMODSEQ -1)\r\n")
        c.ok(tag)
        return True


@sc("status-no", rc="0", named="-", pre=PRE, flags="same")
class _(StatusBase):
    """STATUS Bad refused"""
    def status_bad(self, c, tag, f, items):
        c.send(tag + b" NO [SERVERBUG] not today\r\n")
        return True


@sc("status-missing", rc="0", named="-", pre=PRE, flags="same")
class _(StatusBase):
    """STATUS Bad completes without its untagged STATUS"""
    def status_bad(self, c, tag, f, items):
        c.ok(tag)
        return True


@sc("status-bye", rc="0", named="-", pre=PRE, flags="same")
class _(StatusBase):
    """BYE and close at STATUS Bad (the first connection); the next connections behave"""
    def status_bad(self, c, tag, f, items):
        if c.cid == 1:
            c.send(b"* BYE going down\r\n")
            c.close_now()
        return False


@sc("status-stall", rc="0", named="-", pre=PRE, flags="same", bound=15)
class _(StatusBase):
    """no answer to STATUS Bad on the first connection"""
    def status_bad(self, c, tag, f, items):
        if c.cid == 1:
            c.stall()
        return False


@sc("status-foreign-name", rc="0 1", named="-", pre=PRE, flags="must=Bad:10")
class _(StatusBase):
    """Bad has a new message (UID 10); after STATUS Bad's true answer comes an untagged STATUS for
    another mailbox carrying the values Bad had before"""
    def make_folders(self):
        fs = baseline_folders()
        bad = folder_by(fs, b"Bad")
        self.old = (bad.uidvalidity, bad.uidnext, len(bad.msgs), bad.hms)
        bad.msgs.append(new_message(bad, bad.hms + 1))
        bad.uidnext, bad.hms = 11, bad.hms + 1
        return fs

    def status_bad(self, c, tag, f, items):
        c.send(self.status_line(c, f, items))
        c.send(b"* STATUS Other (UIDVALIDITY %d UIDNEXT %d MESSAGES %d HIGHESTMODSEQ %d)\r\n" % self.old)
        c.ok(tag)
        return True


# ---- EXAMINE

class BadExamine(Base):
    def examine_bad(self, c, tag, f, lines):
        """Return the lines to send (the tagged answer follows), or None when handled."""
        return lines

    def do_examine(self, c, tag, verb, args):
        f = c.folder(args[0]) if args else None
        if not is_bad(f):
            return super().do_examine(c, tag, verb, args)
        c.sel = f
        q = None
        if len(args) > 1 and isinstance(args[1], list) and len(args[1]) >= 2 and args[1][0].upper() == b"QRESYNC":
            q = (int(args[1][1][0]), int(args[1][1][1]))
        lines = self.examine_bad(c, tag, f, self.examine_lines(c, f, q))
        if lines is None:
            return
        c.send(b"".join(lines))
        c.send(self.examine_tagged(c, tag, f))


def replace_line(lines, pattern, new):
    return [new if re.search(pattern, ln) else ln for ln in lines]


class Without59(Base):
    """Bad's FETCH answers leave out UIDs 5 and 9: every answer, or (listing_only) those without a body"""
    listing_only = False

    def fetch_one(self, c, f, seq, m, items, uidcmd):
        if is_bad(f) and m.uid in (5, 9) and not (self.listing_only and b"BODY.PEEK[]" in items):
            return
        super().fetch_one(c, f, seq, m, items, uidcmd)


@sc("examine-no", rc="1", flags="nodir=Bad")
class _(BadExamine):
    """EXAMINE Bad refused with NO (as Cyrus refuses a folder with the lookup right only): no empty Maildir"""
    def examine_bad(self, c, tag, f, lines):
        c.sel = None
        c.send(tag + b" NO [SERVERBUG] Bad is broken\r\n")


@sc("examine-no-8bit", rc="1", doc="EXAMINE Bad refused with a text of invalid UTF-8 and ANSI escapes")
class _(BadExamine):
    def examine_bad(self, c, tag, f, lines):
        c.sel = None
        c.send(tag + b" NO [SERVERBUG] \xff\xfe\xc3 broken \x1b[2J\x1b[31mred done\r\n")


@sc("examine-bad", rc="1")
class _(BadExamine):
    """EXAMINE Bad answered BAD"""
    def examine_bad(self, c, tag, f, lines):
        c.sel = None
        c.send(tag + b" BAD what\r\n")


@sc("examine-bye", rc="1")
class _(BadExamine):
    """BYE and close at EXAMINE Bad"""
    def examine_bad(self, c, tag, f, lines):
        c.send(b"* BYE enough\r\n")
        c.close_now()


@sc("examine-reset", rc="1")
class _(BadExamine):
    """TCP reset at EXAMINE Bad"""
    def examine_bad(self, c, tag, f, lines):
        c.reset()


@sc("examine-stall", rc="1", bound=15)
class _(BadExamine):
    """no answer to EXAMINE Bad"""
    def examine_bad(self, c, tag, f, lines):
        c.stall()


@sc("examine-drip", rc="1", bound=10)
class _(BadExamine):
    """EXAMINE Bad's answer arrives one byte every 0.4 s"""
    def examine_bad(self, c, tag, f, lines):
        c.drip(b"".join(lines) * 20, 0.4)


@sc("examine-bye-continue", rc="0", named="-", flags="same")
class _(BadExamine):
    """an untagged BYE inside EXAMINE Bad's answer, and then everything goes on normally"""
    def examine_bad(self, c, tag, f, lines):
        return [b"* BYE maybe later\r\n"] + lines


@sc("uidvalidity-missing", rc="1")
class _(BadExamine):
    """EXAMINE Bad without UIDVALIDITY"""
    def examine_bad(self, c, tag, f, lines):
        return [ln for ln in lines if b"UIDVALIDITY" not in ln]


@sc("uidvalidity-0", rc="1")
class _(BadExamine):
    """UIDVALIDITY 0"""
    def examine_bad(self, c, tag, f, lines):
        return replace_line(lines, rb"UIDVALIDITY", b"* OK [UIDVALIDITY 0] zero\r\n")


@sc("uidvalidity-2p32", rc="1")
class _(BadExamine):
    """UIDVALIDITY 4294967296"""
    def examine_bad(self, c, tag, f, lines):
        return replace_line(lines, rb"UIDVALIDITY", b"* OK [UIDVALIDITY 4294967296] big\r\n")


@sc("uidvalidity-text", rc="1")
class _(BadExamine):
    """UIDVALIDITY not a number"""
    def examine_bad(self, c, tag, f, lines):
        return replace_line(lines, rb"UIDVALIDITY", b"* OK [UIDVALIDITY 12ab] text\r\n")


@sc("uidvalidity-twice", rc="0 1", named="Bad", flags="same",
    doc="two different UIDVALIDITY codes in EXAMINE Bad's answer (the first is the right one)")
class _(BadExamine):
    def examine_bad(self, c, tag, f, lines):
        i = next(k for k, ln in enumerate(lines) if b"UIDVALIDITY" in ln)
        return lines[:i + 1] + [b"* OK [UIDVALIDITY 31337] second thoughts\r\n"] + lines[i + 1:]


@sc("uidvalidity-per-connection", rc="0", named="-", pre=PRE,
    doc="Bad's UIDVALIDITY differs on every connection (after a first sync), its messages the same: "
        "re-keyed (renamed, nothing downloaded again)")
class _(HmsBump):
    def folders(self, c):
        if not hasattr(c, "my_folders"):
            c.my_folders = [f.copy() for f in self.srv.data]
            folder_by(c.my_folders, b"Bad").uidvalidity = 5000 + self.count("conn")
        return c.my_folders


@sc("uidvalidity-empty-per-connection", rc="0", named="-", pre=PRE, flags="noaside",
    doc="Empty's UIDVALIDITY differs on every connection (Courier, for a folder that never held a message): "
        "adopted, nothing moved aside")
class _(HmsBump):
    def folders(self, c):
        if not hasattr(c, "my_folders"):
            c.my_folders = [f.copy() for f in self.srv.data]
            folder_by(c.my_folders, b"Empty").uidvalidity = 7000 + self.count("conn")
        return c.my_folders


@sc("uidvalidity-midfetch", rc="0 1", named="Bad", flags="same")
class _(Base):
    """an untagged OK [UIDVALIDITY 4242] between Bad's FETCH responses"""
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        self.fetch_then(c, f, seq, m, items, uidcmd, b"* OK [UIDVALIDITY 4242] changed my mind\r\n")


@sc("uidnext-2p32", rc="1")
class _(BadExamine):
    """[UIDNEXT 4294967296] for Bad"""
    def examine_bad(self, c, tag, f, lines):
        return replace_line(lines, rb"UIDNEXT", b"* OK [UIDNEXT 4294967296] big\r\n")


@sc("uidnext-0", rc="0", named="-", flags="same")
class _(BadExamine):
    """[UIDNEXT 0] for Bad"""
    def examine_bad(self, c, tag, f, lines):
        return replace_line(lines, rb"UIDNEXT", b"* OK [UIDNEXT 0] zero\r\n")

@sc("uidnext-missing", rc="0", named="-", flags="same", doc="EXAMINE Bad without UIDNEXT (RFC 2060 servers)")
class _(BadExamine):
    def examine_bad(self, c, tag, f, lines):
        return [ln for ln in lines if b"UIDNEXT" not in ln]


@sc("exists-huge", rc="1")
class _(BadExamine):
    """* 4294967295 EXISTS for Bad"""
    def examine_bad(self, c, tag, f, lines):
        return replace_line(lines, rb"EXISTS", b"* 4294967295 EXISTS\r\n")


@sc("exists-2p32", rc="1")
class _(BadExamine):
    """* 4294967296 EXISTS for Bad"""
    def examine_bad(self, c, tag, f, lines):
        return replace_line(lines, rb"EXISTS", b"* 4294967296 EXISTS\r\n")


@sc("exists-zero", rc="1", pre=PRE)
class _(BadExamine, HmsBump):
    """* 0 EXISTS for Bad (after a first sync) though its FETCH lists every message"""
    def examine_bad(self, c, tag, f, lines):
        return replace_line(lines, rb"EXISTS", b"* 0 EXISTS\r\n")


@sc("exists-missing", rc="1", pre=PRE)
class _(BadExamine, HmsBump, Without59):
    """after a first sync: Bad's EXAMINE has no EXISTS (and LIST-STATUS says it has 2 messages, so it
    comes after A and Z, which have 2); its FETCH lists only 2 of its 4 messages"""
    def examine_bad(self, c, tag, f, lines):
        return [ln for ln in lines if b"EXISTS" not in ln]

    def list_status(self, c, f, items, wire_name):
        if is_bad(f):
            return self.status_line(c, f, items, wire_name).replace(b"MESSAGES 4", b"MESSAGES 2")
        return super().list_status(c, f, items, wire_name)


@sc("expunge-storm", rc="1 0", pre=PRE, flags="same")
class _(BadExamine, HmsBump):
    """after a first sync: EXAMINE Bad says 4 EXISTS and then 9 EXPUNGEs (nothing is expunged)"""
    def examine_bad(self, c, tag, f, lines):
        return lines + [b"* 1 EXPUNGE\r\n"] * 9


@sc("throttle-then-ok", rc="0", named="-", flags="same", bound=15)
class _(BadExamine):
    """EXAMINE Bad: NO [THROTTLED] twice (1 s, 2 s of back-off), then it works"""
    def examine_bad(self, c, tag, f, lines):
        if self.count("throttle") <= 2:
            c.sel = None
            c.send(tag + b" NO [THROTTLED] slow down\r\n")
            return None
        return lines


@sc("throttle-forever", rc="1", flags="nogood", bound=10)
class _(Base):
    """every EXAMINE answered NO [THROTTLED] (5 folders)"""
    def do_examine(self, c, tag, verb, args):
        c.sel = None
        c.send(tag + b" NO [THROTTLED] slow down\r\n")


@sc("throttle-hint-60s", rc="1", bound=10)
class _(BadExamine):
    """EXAMINE Bad: NO [THROTTLED] Suggested Backoff Time: 60000 milliseconds, every time"""
    def examine_bad(self, c, tag, f, lines):
        c.sel = None
        c.send(tag + b" NO [THROTTLED] Suggested Backoff Time: 60000 milliseconds\r\n")


@sc("examine-wrong-tag", rc="1")
class _(BadExamine):
    """EXAMINE Bad completes with another tag"""
    def examine_tagged(self, c, tag, f):
        return (b"x" + tag + b" OK done\r\n") if is_bad(f) else super().examine_tagged(c, tag, f)


@sc("examine-missing-tagged", rc="1", bound=15)
class _(BadExamine):
    """EXAMINE Bad never completes (the commands behind it are answered)"""
    def examine_tagged(self, c, tag, f):
        return b"" if is_bad(f) else super().examine_tagged(c, tag, f)


@sc("examine-untagged-ok", rc="1", bound=15)
class _(BadExamine):
    """EXAMINE Bad's completion comes untagged"""
    def examine_tagged(self, c, tag, f):
        return b"* OK [READ-ONLY] EXAMINE completed\r\n" if is_bad(f) else super().examine_tagged(c, tag, f)


@sc("examine-read-write", rc="0", named="-", flags="same")
class _(BadExamine):
    """EXAMINE Bad answered [READ-WRITE]"""
    def examine_tagged(self, c, tag, f):
        return tag + b" OK [READ-WRITE] selected\r\n"


@sc("examine-tagged-preauth", rc="1")
class _(BadExamine):
    """EXAMINE Bad completes with a tagged PREAUTH"""
    def examine_tagged(self, c, tag, f):
        return (tag + b" PREAUTH what\r\n") if is_bad(f) else super().examine_tagged(c, tag, f)


@sc("examine-lowercase", rc="0", named="-", flags="same")
class _(BadExamine):
    """lower-case response names and status: "* 4 exists", "a3 ok" """
    def examine_bad(self, c, tag, f, lines):
        return [ln.replace(b"EXISTS", b"exists").replace(b"* OK", b"* ok") for ln in lines]

    def examine_tagged(self, c, tag, f):
        return tag + b" ok [read-only] done\r\n"


# ---- incremental paths (after a first sync)

@sc("highestmodseq-0", rc="0", named="-", flags="same")
class _(BadExamine):
    """[HIGHESTMODSEQ 0] for Bad"""
    def examine_bad(self, c, tag, f, lines):
        return replace_line(lines, rb"HIGHESTMODSEQ", b"* OK [HIGHESTMODSEQ 0] zero\r\n")


@sc("highestmodseq-max", rc="0", named="-", flags="same")
class _(BadExamine):
    """[HIGHESTMODSEQ 18446744073709551615] for Bad (the evolved server's is back to normal)"""
    def examine_bad(self, c, tag, f, lines):
        return replace_line(lines, rb"HIGHESTMODSEQ", b"* OK [HIGHESTMODSEQ 18446744073709551615] max\r\n")


@sc("highestmodseq-2p64", rc="1")
class _(BadExamine):
    """[HIGHESTMODSEQ 18446744073709551616]"""
    def examine_bad(self, c, tag, f, lines):
        return replace_line(lines, rb"HIGHESTMODSEQ", b"* OK [HIGHESTMODSEQ 18446744073709551616] over\r\n")


@sc("highestmodseq-text", rc="1")
class _(BadExamine):
    """[HIGHESTMODSEQ abc]"""
    def examine_bad(self, c, tag, f, lines):
        return replace_line(lines, rb"HIGHESTMODSEQ", b"* OK [HIGHESTMODSEQ abc] text\r\n")


@sc("nomodseq", rc="0", named="-", pre=PRE, flags="same")
class _(BadExamine, HmsBump):
    """after a first sync: [NOMODSEQ] instead of HIGHESTMODSEQ for Bad"""
    def examine_bad(self, c, tag, f, lines):
        return replace_line(lines, rb"HIGHESTMODSEQ", b"* OK [NOMODSEQ] none\r\n")


@sc("vanished-all-earlier", rc="0", named="-", pre=PRE, flags="same")
class _(BadExamine, HmsBump):
    """after a first sync: VANISHED (EARLIER) 1:4294967295 while all 4 messages exist"""
    def examine_bad(self, c, tag, f, lines):
        return lines + [b"* VANISHED (EARLIER) 1:4294967295\r\n"]


@sc("vanished-all-now", rc="0 1", named="Bad", pre=PRE, flags="remove",
    doc="after a first sync: EXAMINE Bad says 4 EXISTS then VANISHED 1:4294967295 (all expunged now)")
class _(BadExamine, HmsBump):
    def examine_bad(self, c, tag, f, lines):
        return lines + [b"* VANISHED 1:4294967295\r\n"]


@sc("vanished-malformed", rc="1", pre=PRE)
class _(BadExamine, HmsBump):
    """after a first sync: VANISHED (EARLIER) 1:x"""
    def examine_bad(self, c, tag, f, lines):
        return lines + [b"* VANISHED (EARLIER) 1:x\r\n"]


@sc("vanished-zero", rc="1", pre=PRE)
class _(BadExamine, HmsBump):
    """after a first sync: VANISHED (EARLIER) 0:3"""
    def examine_bad(self, c, tag, f, lines):
        return lines + [b"* VANISHED (EARLIER) 0:3\r\n"]


@sc("vanished-2p32", rc="1", pre=PRE)
class _(BadExamine, HmsBump):
    """after a first sync: VANISHED (EARLIER) 1:4294967296"""
    def examine_bad(self, c, tag, f, lines):
        return lines + [b"* VANISHED (EARLIER) 1:4294967296\r\n"]


@sc("vanished-reversed", rc="0", named="-", pre=PRE, flags="same")
class _(BadExamine, HmsBump):
    """after a first sync: VANISHED (EARLIER) 9:5 although 5 and 9 exist"""
    def examine_bad(self, c, tag, f, lines):
        return lines + [b"* VANISHED (EARLIER) 9:5\r\n"]


@sc("vanished-long", rc="0", named="-", pre=PRE, flags="same")
class _(BadExamine, HmsBump):
    """after a first sync: VANISHED (EARLIER) with 100000 single UIDs never seen"""
    def examine_bad(self, c, tag, f, lines):
        return lines + [b"* VANISHED (EARLIER) " + b",".join(b"%d" % u for u in range(100, 200100, 2)) + b"\r\n"]


@sc("qresync-unasked-fetch", rc="0", named="-", pre=PRE, flags="same")
class _(BadExamine, HmsBump):
    """after a first sync: EXAMINE (QRESYNC) also reports FLAGS of UIDs that do not exist"""
    def examine_bad(self, c, tag, f, lines):
        return lines + [b"* 9 FETCH (UID 77 FLAGS (\\Seen) MODSEQ (99))\r\n",
                        b"* 1 FETCH (UID 4294967295 FLAGS () MODSEQ (98))\r\n"]


class CondstoreBump(HmsBump):
    caps_del = ["QRESYNC"]


@sc("condstore-esearch-all", rc="0", named="-", pre=PRE, flags="same")
class _(CondstoreBump):
    """CONDSTORE path after a first sync: ESEARCH ALL 1:4294967295 for Bad"""
    def search_result(self, c, tag, f, uidcmd, esearch):
        self.search_replacing(c, tag, f, uidcmd, esearch, b'* ESEARCH (TAG "' + tag + b'") UID ALL 1:4294967295\r\n')


@sc("condstore-search-zero", rc="1", pre=PRE)
class _(CondstoreBump):
    """CONDSTORE path after a first sync: * ESEARCH ... ALL 0:4 for Bad"""
    def search_result(self, c, tag, f, uidcmd, esearch):
        self.search_replacing(c, tag, f, uidcmd, esearch, b'* ESEARCH (TAG "' + tag + b'") UID ALL 0:4\r\n')


@sc("condstore-search-garbage", rc="1", pre=PRE)
class _(CondstoreBump):
    """CONDSTORE path after a first sync: plain SEARCH with words for Bad"""
    caps_del = ["QRESYNC", "ESEARCH"]

    def search_result(self, c, tag, f, uidcmd, esearch):
        self.search_replacing(c, tag, f, uidcmd, esearch, b"* SEARCH 1 two 3\r\n")


@sc("condstore-esearch-othertag", rc="0", named="-", pre=PRE, flags="same")
class _(CondstoreBump):
    """CONDSTORE path after a first sync: Bad's ESEARCH carries another command's TAG
    (listing UID 1 alone), the answer to ours none: not counted, so a full FETCH"""
    def search_result(self, c, tag, f, uidcmd, esearch):
        self.search_replacing(c, tag, f, uidcmd, esearch, b'* ESEARCH (TAG "x' + tag + b'") UID ALL 1\r\n')


@sc("condstore-esearch-nouid", rc="0", named="-", pre=PRE, flags="same")
class _(CondstoreBump):
    """CONDSTORE path after a first sync: Bad's ESEARCH without the UID marker (message
    numbers 1:4, not UIDs): not counted, so a full FETCH"""
    def search_result(self, c, tag, f, uidcmd, esearch):
        self.search_replacing(c, tag, f, uidcmd, esearch, b'* ESEARCH (TAG "' + tag + b'") ALL 1:4\r\n')


@sc("condstore-changedsince-ignored", rc="0", named="-", pre=PRE, flags="same")
class _(CondstoreBump):
    """CONDSTORE path after a first sync: the server ignores CHANGEDSINCE and sends every message"""
    def do_fetch(self, c, tag, args, uidcmd):
        super().do_fetch(c, tag, args[:2], uidcmd)


class UidMax(Base):
    """Bad has a fifth message with UID 4294967295 (the largest UID there is)."""
    def make_folders(self):
        fs = baseline_folders()
        bad = folder_by(fs, b"Bad")
        bad.msgs.append(Msg(U32, ["\\Seen"], make_date(11, 2), make_body(b"Bad", 11), bad.hms + 1))
        bad.hms += 1
        bad.uidnext = U32
        return fs


HELPERS["uid-max"] = UidMax


@sc("fetch-uid-max", rc="0", named="-",
    doc="Bad holds UID 4294967295 (legal): mirrored; then the evolved server (where it is gone)")
class _(UidMax):
    pass


@sc("uid-max-incremental", rc="0", named="-", pre="uid-max")
class _(UidMax):
    """after a first sync of a Bad holding UID 4294967295: only HIGHESTMODSEQ moved (QRESYNC path)"""
    def make_folders(self):
        return bump_hms(super().make_folders())


@sc("uid-max-incremental-condstore", rc="0", named="-", pre="uid-max")
class _(UidMax):
    """as uid-max-incremental, without QRESYNC"""
    caps_del = ["QRESYNC"]

    def make_folders(self):
        return bump_hms(super().make_folders())


# ---- new mail after a first sync: the download of Bad's new UID 10 rides behind EXAMINE (and the
# next folder's EXAMINE is sent ahead of time): the same misbehaviours in that pipeline

class NewMail(Base):
    """baseline + Bad UID 10 (new), every HIGHESTMODSEQ higher"""
    def make_folders(self):
        fs = bump_hms(baseline_folders())
        bad = folder_by(fs, b"Bad")
        bad.msgs.append(new_message(bad, bad.hms + 1))
        bad.uidnext, bad.hms = 11, bad.hms + 1
        return fs


class NewMailPoison(NewMail):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        parts, body, bname = self.fetch_parts(c, f, seq, m, items, uidcmd)
        if is_bad(f) and m.uid == 10 and body is not None:
            return self.poison(c, seq, parts, body)
        c.send(self.fetch_bytes(seq, parts, body, bname))

    def head(self, seq, parts):
        return b"* %d FETCH (" % seq + b" ".join(parts) + b" "


@sc("newmail-baseline", rc="0", named="-", pre=PRE, flags="must=Bad:10",
    doc="after a first sync, Bad has a new message (fetched behind EXAMINE)")
class _(NewMail):
    pass


@sc("newmail-literal-swallows-next", rc="1", pre=PRE)
class _(NewMail):
    """after a first sync, Bad has new UIDs 10 and 11, fetched behind EXAMINE (CONDSTORE: no lookahead,
    Bad stays selected): UID 10's literal takes UID 11's answer in (literal-swallows-next there); UID
    11, asked again, comes back whole: UID 10's body is still not kept, the folder fails"""
    caps_del = ["QRESYNC"]
    held = None

    def make_folders(self):
        fs = super().make_folders()
        bad = folder_by(fs, b"Bad")
        bad.msgs.append(new_message(bad, bad.hms + 1))
        bad.uidnext, bad.hms = 12, bad.hms + 1
        return fs

    def fetch_one(self, c, f, seq, m, items, uidcmd):
        swallow_next(self, c, f, seq, m, items, uidcmd, lambda: m.uid == 10 and self.count("held") == 1)


@sc("newmail-literal-short-close", rc="1", pre=PRE)
class _(NewMailPoison):
    """after a first sync: the new message's body announces 5000 bytes more than it sends, then close"""
    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b"BODY[] {%d}\r\n" % (len(body) + 5000) + body)
        time.sleep(0.1)
        c.close_now()


@sc("newmail-literal-long", rc="1", pre=PRE)
class _(NewMailPoison):
    """after a first sync: the new message's body announces half of what it sends"""
    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b"BODY[] {%d}\r\n" % (len(body) // 2) + body + b")\r\n")


@sc("newmail-stall", rc="1", pre=PRE, bound=15)
class _(NewMailPoison):
    """after a first sync: silence instead of the new message"""
    def poison(self, c, seq, parts, body):
        c.stall()


@sc("newmail-bye", rc="1", pre=PRE)
class _(NewMailPoison):
    """after a first sync: BYE and close instead of the new message"""
    def poison(self, c, seq, parts, body):
        c.send(b"* BYE later\r\n")
        c.close_now()


@sc("newmail-extra-bodies", rc="0", named="-", pre=PRE, flags="must=Bad:10",
    doc="after a first sync: with the new message come bodies of UIDs 1 and 3 (present) and 77 (none)")
class _(NewMailPoison):
    def poison(self, c, seq, parts, body):
        bad = folder_by(self.srv.data, b"Bad")
        for k, m in enumerate(bad.msgs[:2], 1):
            p2, b2, _ = self.fetch_parts(c, bad, k, m, [b"UID", b"FLAGS", b"INTERNALDATE", b"BODY.PEEK[]"], True)
            c.send(self.fetch_bytes(k, p2, b2[:-5] + b"XXXX\n"))
        c.send(self.fetch_bytes(9, [b"UID 77", b"FLAGS ()", b'INTERNALDATE "01-Jan-2024 00:00:00 +0000"'], body))
        c.send(self.fetch_bytes(seq, parts, body))


@sc("newmail-uidvalidity-mismatch", rc="0", named="-", pre=PRE, flags="must=Bad:10",
    doc="after a first sync: LIST-STATUS gives Bad's old UIDVALIDITY and a new UIDNEXT, EXAMINE another "
        "UIDVALIDITY (the folder is moved aside and mirrored anew)")
class _(NewMail, BadExamine):
    def examine_bad(self, c, tag, f, lines):
        return replace_line(lines, rb"UIDVALIDITY", b"* OK [UIDVALIDITY 7777] new\r\n")

    def fetch_one(self, c, f, seq, m, items, uidcmd):
        super().fetch_one(c, f, seq, m, items, uidcmd)


@sc("lookahead-next-bye", rc="1", named="A", pre=PRE,
    doc="after a first sync: the EXAMINE sent ahead for the folder after Bad (A) gets BYE and close")
class _(NewMail):
    def do_examine(self, c, tag, verb, args):
        f = c.folder(args[0]) if args else None
        if f is not None and f.name == b"A":
            c.send(b"* BYE not this one\r\n")
            c.close_now()
        super().do_examine(c, tag, verb, args)


@sc("lookahead-next-garbage", rc="1", named="A", pre=PRE,
    doc="after a first sync: the EXAMINE sent ahead for A is answered with a garbage line")
class _(NewMail):
    def do_examine(self, c, tag, verb, args):
        f = c.folder(args[0]) if args else None
        if f is not None and f.name == b"A" and self.count("garbage") == 1:
            c.send(b"* 2 FETCH (UID 1 FLAGS (\\Seen)\r\n")
        super().do_examine(c, tag, verb, args)


# ---- FETCH: bodies and the items around them (Bad UID 1 unless said otherwise)

class Poison(Base):
    """fetch_one for Bad's UID 1 when its body is asked for goes to poison()."""
    uid = 1

    def fetch_one(self, c, f, seq, m, items, uidcmd):
        parts, body, bname = self.fetch_parts(c, f, seq, m, items, uidcmd)
        if is_bad(f) and m.uid == self.uid and body is not None:
            return self.poison(c, seq, parts, body)
        c.send(self.fetch_bytes(seq, parts, body, bname))

    def head(self, seq, parts):
        return b"* %d FETCH (" % seq + b" ".join(parts) + b" "


@sc("literal-short-close", rc="1")
class _(Poison):
    """BODY[] announces 5000 bytes more than it sends, then the server closes"""
    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b"BODY[] {%d}\r\n" % (len(body) + 5000) + body)
        time.sleep(0.1)
        c.close_now()


@sc("literal-short-stall", rc="1", bound=15)
class _(Poison):
    """BODY[] announces more than it sends, then silence"""
    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b"BODY[] {%d}\r\n" % (len(body) + 5000) + body)
        c.stall()


@sc("literal-long", rc="1")
class _(Poison):
    """BODY[] announces half of what it sends"""
    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b"BODY[] {%d}\r\n" % (len(body) // 2) + body + b")\r\n")


@sc("literal-swallows-next", rc="1")
class _(Base):
    """UID 1's BODY[] announces its length plus the next answer's (UID 2's whole FETCH but its
    closing parenthesis): the literal takes that answer in and what follows still parses; UID 2
    seems gone, UID 1's body is not of its RFC822.SIZE: not kept, the folder fails"""
    held = None

    def fetch_one(self, c, f, seq, m, items, uidcmd):
        swallow_next(self, c, f, seq, m, items, uidcmd, lambda: m.uid == 1)


@sc("literal-swallows-next-flagged", rc="1", flags="same")
class _(Base):
    """as literal-swallows-next, after an unsolicited FETCH (UID 3 FLAGS ...) at the start of the
    download (another client touched UID 3's flags): it is no answer to the download, so UID 3 still
    seems gone and UID 1's body (with UID 3's answer in it) is not kept"""
    held = None

    def fetch_one(self, c, f, seq, m, items, uidcmd):
        if is_bad(f) and m.uid == 1 and any(it.startswith(b"BODY") for it in items):
            m3 = [x for x in f.msgs if x.uid == 3][0]
            c.send(b"* 2 FETCH (UID 3 FLAGS " + flags_of(m3) + b")\r\n")
        swallow_next(self, c, f, seq, m, items, uidcmd, lambda: m.uid == 1)


@sc("literal-huge", rc="1")
class _(Poison):
    """BODY[] {99999999999999}"""
    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b"BODY[] {99999999999999}\r\n" + body)
        time.sleep(0.2)
        c.close_now()


@sc("literal-2p64", rc="1")
class _(Poison):
    """BODY[] {18446744073709551617}"""
    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b"BODY[] {18446744073709551617}\r\n" + body)
        c.stall()


@sc("literal-negative", rc="1")
class _(Poison):
    """BODY[] {-5}"""
    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b"BODY[] {-5}\r\n" + body + b")\r\n")


@sc("literal-text", rc="1")
class _(Poison):
    """BODY[] {abc}"""
    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b"BODY[] {abc}\r\n" + body + b")\r\n")


@sc("literal-plus", rc="0 1", named="Bad", flags="same")
class _(Poison):
    """BODY[] {N+} (a non-synchronizing literal marker from the server)"""
    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b"BODY[] {%d+}\r\n" % len(body) + body + b")\r\n")


@sc("literal-reset", rc="1")
class _(Poison):
    """TCP reset halfway through the body"""
    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b"BODY[] {%d}\r\n" % len(body) + body[:len(body) // 2])
        time.sleep(0.1)
        c.reset()


@sc("literal-drip", rc="1", bound=10)
class _(Poison):
    """the body arrives one byte every 0.3 s (3 KB: 15 minutes)"""
    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b"BODY[] {%d}\r\n" % (len(body) * 10))
        c.drip(body * 10, 0.3)


@sc("literal-30m-close", rc="1", bound=30)
class _(Poison):
    """a complete 30 MiB body, then the connection closes before ")" """
    def poison(self, c, seq, parts, body):
        big = (b"y" * 998 + b"\r\n") * (30 * 1024 * 1024 // 1000)
        c.send(self.head(seq, parts) + b"BODY[] {%d}\r\n" % len(big))
        for i in range(0, len(big), 1 << 20):
            c.send(big[i:i + (1 << 20)])
        time.sleep(0.2)
        c.close_now()


@sc("literal-70m-item", rc="1", bound=30)
class _(Poison):
    """a 70 MB literal in an unknown FETCH item (not the body)"""
    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b"X-JUNK {70000000}\r\n")
        try:
            for _ in range(70):
                c.send(b"j" * 1000000)
        except OSError:
            raise Drop
        c.send(b" BODY[] {%d}\r\n" % len(body) + body + b")\r\n")


@sc("unsolicited-after-literal", rc="1")
class _(Poison):
    """an untagged response between the body literal and its ")" """
    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b"BODY[] {%d}\r\n" % len(body) + body +
               b"\r\n* 4 EXISTS\r\n FLAGS (\\Seen))\r\n")


@sc("unsolicited-between", rc="0", named="-", flags="same")
class _(Base):
    """untagged RECENT, OK [ALERT], NO, BAD, FLAGS, FETCH (FLAGS) without UID between Bad's FETCHes"""
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        super().fetch_one(c, f, seq, m, items, uidcmd)
        if is_bad(f):
            c.send(b"* 3 RECENT\r\n* OK [ALERT] hello\r\n* NO warning\r\n* BAD odd\r\n"
                   b"* FLAGS (\\Seen)\r\n* 2 FETCH (FLAGS (\\Deleted))\r\n* OK [UNSEEN 1] x\r\n")


@sc("fetch-unasked-uid", rc="0", named="-", flags="same")
class _(Base):
    """with Bad's bodies comes a FETCH with a body for UID 7, which does not exist"""
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        super().fetch_one(c, f, seq, m, items, uidcmd)
        if is_bad(f) and m.uid == 1 and b"BODY.PEEK[]" in items:
            x = Msg(7, ["\\Seen"], make_date(7, 0), make_body(b"Bad", 7, " (phantom)"), 1)
            c.send(self.fetch_bytes(2, [b"UID 7", b"FLAGS (\\Seen)", b'INTERNALDATE "' + x.date.encode() + b'"'],
                                    x.body))


@sc("fetch-unasked-flags", rc="0 1", named="Bad", flags="same")
class _(Base):
    """the FLAGS listing of Bad also has UID 7, which the bodies fetch then lacks"""
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        super().fetch_one(c, f, seq, m, items, uidcmd)
        if is_bad(f) and m.uid == 1 and b"BODY.PEEK[]" not in items:
            c.send(b"* 2 FETCH (UID 7 FLAGS (\\Seen))\r\n")


@sc("expunge-during-download", rc="0 1", named="Bad",
    doc="while Bad's bodies are sent, * 3 EXPUNGE (UID 5) and no body for UID 5")
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        if is_bad(f) and b"BODY.PEEK[]" in items:
            if m.uid == 5:
                c.send(b"* 3 EXPUNGE\r\n")
                return
            if m.uid == 9:
                seq -= 1
        super().fetch_one(c, f, seq, m, items, uidcmd)


@sc("fetch-duplicate-body", rc="0", named="-", flags="same")
class _(Poison):
    """UID 1's body twice in a row, the second copy different"""
    def poison(self, c, seq, parts, body):
        c.send(self.fetch_bytes(seq, parts, body))
        c.send(self.fetch_bytes(seq, parts, body[:-10] + b"TAMPERED\r\n"))


@sc("fetch-duplicate-uid", rc="0 1", named="Bad", flags="same")
class _(Base):
    """the FLAGS listing of Bad has UID 3 twice (as the 2nd and 3rd message) and lacks UID 5"""
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        if is_bad(f) and m.uid == 5 and b"BODY.PEEK[]" not in items:
            m = f.msgs[1]
        super().fetch_one(c, f, seq, m, items, uidcmd)


@sc("fetch-uid-0", rc="1")
class _(Base):
    """Bad's FLAGS listing says UID 0"""
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        self.fetch_changed(c, f, seq, m, items, uidcmd, uid=0)


@sc("fetch-uid-2p32", rc="1")
class _(Base):
    """Bad's FLAGS listing says UID 4294967296"""
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        self.fetch_changed(c, f, seq, m, items, uidcmd, uid=U32 + 1)


@sc("fetch-uid-negative", rc="1")
class _(Base):
    """Bad's FLAGS listing says UID -1"""
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        self.fetch_replacing(c, f, seq, m, items, uidcmd, b"UID ", b"UID -1")


@sc("fetch-seq-2p32", rc="1")
class _(Base):
    """* 4294967296 FETCH for Bad"""
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        if is_bad(f):
            seq = U32 + 1
        super().fetch_one(c, f, seq, m, items, uidcmd)


@sc("fetch-seq-0", rc="0 1", named="Bad", flags="same")
class _(Base):
    """* 0 FETCH for every message of Bad"""
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        super().fetch_one(c, f, 0 if is_bad(f) else seq, m, items, uidcmd)


@sc("fetch-flags-weird", rc="0", named="-", flags="",
    doc=r"FLAGS (\Seen\Seen foo/bar a:b $Junk \Flagged .. ../x \\ *) for Bad UID 1")
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        self.fetch_replacing(c, f, seq, m, items, uidcmd, b"FLAGS",
                             b"FLAGS (\\Seen\\Seen foo/bar a:b $Junk \\Flagged .. ../x \\\\ * %% \\Recent)")


@sc("fetch-flags-backslash", rc="0", named="-", flags="",
    doc=r"FLAGS (\Seen a\b $Label) for Bad UID 1: a\b, no atom (RFC 3501 §9), is dropped (test_imap_fetch.c: what is kept)")
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        self.fetch_replacing(c, f, seq, m, items, uidcmd, b"FLAGS", b"FLAGS (\\Seen a\\b $Label)")


@sc("fetch-flags-ctl", rc="0 1", named="Bad", doc="FLAGS with a control byte and an 8-bit byte for Bad UID 1")
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        self.fetch_replacing(c, f, seq, m, items, uidcmd, b"FLAGS", b"FLAGS (\\Seen k\x01w \xe9t\xe9)")


@sc("fetch-flags-10000", rc="0", named="-", flags="same", doc="10000 keywords on Bad UID 1")
class _(Base):
    kw = b" ".join(b"$kw%05d" % i for i in range(10000))

    def fetch_one(self, c, f, seq, m, items, uidcmd):
        self.fetch_replacing(c, f, seq, m, items, uidcmd, b"FLAGS",
                             b"FLAGS " + flags_of(m)[:-1] + b" " + self.kw + b")")


@sc("flood-fetch-keywords", rc="0", named="-", flags="to=10,same,maxerr=50", bound=40,
    doc="Bad's FLAGS listing repeats UID 1 20000 times with 600 more keywords (5 KB, beyond the 4 KB "
        "kept) before its true answer (one warning each: 20000 lines of output)")
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        if is_bad(f) and m.uid == 1 and not any(it.startswith(b"BODY") for it in items):
            kw = b" ".join(b"$kw%05d" % i for i in range(600))
            c.send((b"* %d FETCH (UID 1 FLAGS (%s))\r\n" % (seq, kw)) * 20000)
        super().fetch_one(c, f, seq, m, items, uidcmd)


# Floods: answers that repeat UIDs without end must cost memory in proportion to the mailbox, not
# to the bytes sent (before the fix: 3 million repeated FETCH lines ~ 160 MB, 10 million VANISHED or
# SEARCH UIDs ~ 120-160 MB, growing without bound).
@sc("flood-fetch-repeated", rc="0 1", named="-", flags="to=10,same,maxrss=80", bound=40,
    doc="Bad's FLAGS listing repeats UIDs 1 and 3 (alternately) three million times (110 MB): "
        "exact, or Bad failed when the repeats beyond 65536 take more than 5 timeouts (10 s; a slow build)")
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        super().fetch_one(c, f, seq, m, items, uidcmd)
        if is_bad(f) and m.uid == 3 and b"BODY.PEEK[]" not in items:
            two = b"".join(self.fetch_bytes(seq, self.fetch_parts(c, f, seq, f.msgs[seq - 1], items, uidcmd)[0], None)
                           for seq in (1, 2))
            chunk = two * 5000
            for _ in range(300):
                c.send(chunk)


@sc("flood-fetch-distinct", rc="1", flags="to=10,maxrss=80", bound=40,
    doc="Bad's FLAGS listing (4 EXISTS) goes on with three million other UIDs")
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        super().fetch_one(c, f, seq, m, items, uidcmd)
        if is_bad(f) and m.uid == 1 and b"BODY.PEEK[]" not in items:
            try:
                for base in range(1000, 3001000, 10000):
                    c.send(b"".join(b"* 1 FETCH (UID %d FLAGS ())\r\n" % (base + i) for i in range(10000)))
            except OSError:
                raise Drop


@sc("flood-vanished-repeated", rc="0", named="-", pre=PRE, flags="to=10,same,maxrss=80", bound=40,
    doc="after a first sync: VANISHED (EARLIER) 1,2,1,2,... ten million times over 20 lines")
class _(BadExamine, HmsBump):
    def examine_bad(self, c, tag, f, lines):
        line = b"* VANISHED (EARLIER) " + b",".join([b"1,2"] * 250000) + b"\r\n"
        for _ in range(20):
            c.send(line)
        return lines


@sc("flood-search-repeated", rc="0", named="-", pre=PRE, flags="to=10,same,maxrss=80", bound=40,
    doc="CONDSTORE path after a first sync: SEARCH 1 3 1 3 ... ten million times for Bad")
class _(CondstoreBump):
    caps_del = ["QRESYNC", "ESEARCH"]

    def search_result(self, c, tag, f, uidcmd, esearch):
        if is_bad(f):
            line = b"* SEARCH" + b" 1 3" * 250000 + b"\r\n"
            for _ in range(20):
                c.send(line)
        super().search_result(c, tag, f, uidcmd, esearch)


@sc("fetch-flags-not-list", rc="1")
class _(Base):
    """FLAGS \\Seen (no parentheses) for Bad UID 1"""
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        self.fetch_replacing(c, f, seq, m, items, uidcmd, b"FLAGS", b"FLAGS \\Seen")


@sc("fetch-flags-nested", rc="0 1", named="Bad", doc="FLAGS ((\\Seen) {3}abc NIL) for Bad UID 1")
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        self.fetch_replacing(c, f, seq, m, items, uidcmd, b"FLAGS", b"FLAGS ((\\Seen) {3}\r\nabc NIL)")


@sc("fetch-deep-nesting", rc="1", doc="an item nested 100 lists deep in Bad's FETCH")
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        parts, body, bname = self.fetch_parts(c, f, seq, m, items, uidcmd)
        if is_bad(f) and m.uid == 1:
            parts = parts + [b"X-DEEP " + b"(" * 100 + b"x" + b")" * 100]
        c.send(self.fetch_bytes(seq, parts, body, bname))


@sc("fetch-many-values", rc="1", doc="1.1 million values in one FETCH response of Bad")
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        parts, body, bname = self.fetch_parts(c, f, seq, m, items, uidcmd)
        if is_bad(f) and m.uid == 1:
            parts = parts + [b"X-MANY (" + b"a " * 1100000 + b")"]
        c.send(self.fetch_bytes(seq, parts, body, bname))


@sc("internaldate-bad", rc="1", doc='INTERNALDATE "32-Foo-2024 25:61:61 +9999"')
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        self.fetch_changed(c, f, seq, m, items, uidcmd, date="32-Foo-2024 25:61:61 +9999")


@sc("internaldate-atom", rc="1", doc="INTERNALDATE 1700000000 (an atom)")
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        self.fetch_replacing(c, f, seq, m, items, uidcmd, b"INTERNALDATE", b"INTERNALDATE 1700000000")


@sc("internaldate-9999", rc="0", named="-", doc='INTERNALDATE "31-Dec-9999 23:59:59 -2359"')
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        self.fetch_changed(c, f, seq, m, items, uidcmd, date="31-Dec-9999 23:59:59 -2359")


@sc("internaldate-1900", rc="0", named="-", doc='INTERNALDATE "01-Jan-1900 00:00:00 +0000" (before 1970)')
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        self.fetch_changed(c, f, seq, m, items, uidcmd, date="01-Jan-1900 00:00:00 +0000")


class NoDate(Base):
    """Bad UID 3's answers come without INTERNALDATE (with body_only, those that hold its body)"""
    body_only = False

    def fetch_one(self, c, f, seq, m, items, uidcmd):
        parts, body, bname = self.fetch_parts(c, f, seq, m, items, uidcmd)
        if is_bad(f) and m.uid == 3 and (body is not None or not self.body_only):
            parts = [p for p in parts if not p.startswith(b"INTERNALDATE")]
        c.send(self.fetch_bytes(seq, parts, body, bname))


@sc("internaldate-missing", rc="0 1", named="Bad", flags="same")
class _(NoDate):
    """Bad UID 3's body comes without INTERNALDATE"""


@sc("internaldate-missing-rest", rc="1", named="Bad", flags="same,kept=Bad:1+5+9",
    doc="Bad UID 3's body comes without INTERNALDATE, every time: not stored (no file dated \"now\"), "
        "the folder fails, and the rest of it is mirrored all the same")
class _(NoDate):
    body_only = True


class SplitUid3(Base):
    """Bad UID 3's answers to a FETCH of its body are responses(), each (items, body or None), sent in turn"""
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        parts, body, bname = self.fetch_parts(c, f, seq, m, items, uidcmd)
        if is_bad(f) and m.uid == 3 and body is not None:
            for p, b in self.responses(m, parts, body):
                c.send(self.fetch_bytes(seq, p, b, bname))
            return
        c.send(self.fetch_bytes(seq, parts, body, bname))


@sc("fetch-split", rc="0", named="-", flags="same")
class _(SplitUid3):
    """Bad UID 3's body FETCH comes as two responses: UID and BODY[] first, FLAGS and INTERNALDATE after
    (RFC 3501 7.4.2): the body waits in tmp/ for its INTERNALDATE"""
    def responses(self, m, parts, body):
        return [([b"UID 3"], body), (parts, None)]

@sc("fetch-split-body-last", rc="0", named="-", flags="same",
    doc="Bad UID 3's body FETCH comes as two responses: UID, FLAGS, INTERNALDATE and RFC822.SIZE "
        "first, UID and BODY[] after (RFC 3501 7.4.2 lets a server split a message's items)")
class _(SplitUid3):
    def responses(self, m, parts, body):
        return [(parts, None), ([b"UID 3"], body)]


@sc("fetch-split-size-empty", rc="1", named="Bad", flags="same,kept=Bad:1+5+9",
    doc="Bad UID 3's body FETCH comes as two responses: UID, FLAGS, INTERNALDATE and RFC822.SIZE first, "
        "then UID and BODY[] {0} (a message the server cannot read, as body-empty-literal): the size "
        "of the first answer counts, no empty file is stored, the folder fails")
class _(SplitUid3):
    def responses(self, m, parts, body):
        return [(parts, None), ([b"UID 3"], b"")]


@sc("fetch-split-size-after-empty", rc="1", named="Bad", flags="same,kept=Bad:1+5+9",
    doc="Bad UID 3's body FETCH: UID, FLAGS, INTERNALDATE and BODY[] {0} first, then UID and its true "
        "RFC822.SIZE apart: the empty body waits for the end of its command, and is not stored")
class _(SplitUid3):
    def responses(self, m, parts, body):
        return [([p for p in parts if not p.startswith(b"RFC822.SIZE")], b""),
                ([b"UID 3", b"RFC822.SIZE %d" % len(m.body)], None)]


@sc("fetch-split-date-after-size", rc="0", named="-", flags="same",
    doc="Bad UID 3's body FETCH comes as three responses: UID and RFC822.SIZE, then UID and BODY[], "
        "then UID, FLAGS and INTERNALDATE: the body is stored with the date of the last")
class _(SplitUid3):
    def responses(self, m, parts, body):
        return [([p for p in parts if p.startswith((b"UID", b"RFC822.SIZE"))], None), ([b"UID 3"], body),
                ([p for p in parts if not p.startswith(b"RFC822.SIZE")], None)]


@sc("fetch-body-alone", rc="1", named="Bad", flags="same,kept=Bad:1+5+9",
    doc="Bad UID 3's body FETCH is answered with UID and BODY[] alone, no FLAGS, INTERNALDATE or "
        "RFC822.SIZE in any response: not stored (no file dated \"now\"), the folder fails, the rest kept")
class _(SplitUid3):
    def responses(self, m, parts, body):
        return [([b"UID 3"], body)]


@sc("rfc822size-bogus", rc="0", named="-", flags="same", doc="RFC822.SIZE -5 and 10^25 on Bad's messages")
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        parts, body, bname = self.fetch_parts(c, f, seq, m, items, uidcmd)
        if is_bad(f):
            parts = parts + [b"RFC822.SIZE -5", b"RFC822.SIZE 10000000000000000000000000"]
        c.send(self.fetch_bytes(seq, parts, body, bname))


@sc("modseq-text", rc="1", pre=PRE, doc="MODSEQ (abc) in the QRESYNC FETCH of Bad")
class _(BadExamine, HmsBump):
    def examine_bad(self, c, tag, f, lines):
        return lines + [b"* 2 FETCH (UID 3 FLAGS (\\Seen) MODSEQ (abc))\r\n"]


@sc("modseq-not-list", rc="1", pre=PRE, doc="MODSEQ 99 (no parentheses) in the QRESYNC FETCH of Bad")
class _(BadExamine, HmsBump):
    def examine_bad(self, c, tag, f, lines):
        return lines + [b"* 2 FETCH (UID 3 FLAGS (\\Seen) MODSEQ 99)\r\n"]


@sc("fetch-nul", rc="1", doc="a NUL byte in a FETCH line (outside literals)")
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        parts, body, bname = self.fetch_parts(c, f, seq, m, items, uidcmd)
        if is_bad(f) and m.uid == 1:
            parts = parts + [b"X-NUL a\x00b"]
        c.send(self.fetch_bytes(seq, parts, body, bname))


@sc("fetch-overlong-line", rc="1", bound=30, doc="a 17 MiB FETCH line for Bad UID 1")
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        parts, body, bname = self.fetch_parts(c, f, seq, m, items, uidcmd)
        if is_bad(f) and m.uid == 1:
            c.send(b"* %d FETCH (" % seq + b" ".join(parts) + b" X-LONG ")
            try:
                for _ in range(17):
                    c.send(b"q" * (1 << 20))
            except OSError:
                raise Drop
            c.send(b")\r\n")
            return
        c.send(self.fetch_bytes(seq, parts, body, bname))


@sc("rfc822size-estimate", rc="0", named="-", flags="same",
    doc="RFC822.SIZE a third of the body on Bad's messages, every time (Exchange's estimates): mirrored")
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        parts, body, bname = self.fetch_parts(c, f, seq, m, items, uidcmd)
        if is_bad(f):
            parts = size_estimates(parts, m)
        c.send(self.fetch_bytes(seq, parts, body, bname))


@sc("rfc822size-estimate-drop", rc="1",
    doc="RFC822.SIZE a third of the body on Bad's messages, Bad has 600 more (UIDs 10-609), and each "
        "connection closes after its 520th body of Bad: what its first UID FETCH (500 UIDs) answered "
        "whole is kept (t_odd_size_resume: the next run ends the mirror)")
class _(Base):
    def make_folders(self):
        fs = super().make_folders()
        bad = folder_by(fs, b"Bad")
        for _i in range(600):
            bad.msgs.append(new_message(bad, bad.hms + 1))
            bad.uidnext, bad.hms = bad.uidnext + 1, bad.hms + 1
        return fs

    def fetch_one(self, c, f, seq, m, items, uidcmd):
        parts, body, bname = self.fetch_parts(c, f, seq, m, items, uidcmd)
        if is_bad(f):
            parts = size_estimates(parts, m)
        c.send(self.fetch_bytes(seq, parts, body, bname))
        if is_bad(f) and body is not None:
            c.bad_bodies = getattr(c, "bad_bodies", 0) + 1
            if c.bad_bodies == 520:
                time.sleep(0.2)
                c.close_now()


@sc("rfc822size-estimate-vanish", rc="1",
    doc="RFC822.SIZE a third of the body on Bad's messages, and UID 3 not answered the first time "
        "(as if expunged meanwhile): the run does not keep those bodies, Bad fails; the next run mirrors them")
class _(Base):
    skipped = False

    def fetch_one(self, c, f, seq, m, items, uidcmd):
        parts, body, bname = self.fetch_parts(c, f, seq, m, items, uidcmd)
        if is_bad(f):
            if m.uid == 3 and body is not None and not self.skipped:
                self.skipped = True
                return
            parts = size_estimates(parts, m)
        c.send(self.fetch_bytes(seq, parts, body, bname))


@sc("fetch-garbage-item", rc="1", doc="* 1 FETCH garbage (no list) for Bad")
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        if is_bad(f) and m.uid == 1:
            c.send(b"* 1 FETCH garbage here\r\n")
        super().fetch_one(c, f, seq, m, items, uidcmd)


@sc("continuation-midfetch", rc="1", doc="a continuation request (+) between Bad's FETCH responses")
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        self.fetch_then(c, f, seq, m, items, uidcmd, b"+ more please\r\n")


@sc("text-brace", rc="1", doc='an untagged OK whose text ends in "{12}" (not a literal) between FETCHes')
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        self.fetch_then(c, f, seq, m, items, uidcmd, b"* OK [ALERT] see the manual {12}\r\n")


@sc("garbage-line", rc="1", doc="a line of words with no tag syntax between Bad's FETCHes")
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        self.fetch_then(c, f, seq, m, items, uidcmd, b"hello there, this is not IMAP\r\n")


@sc("garbage-binary", rc="1", doc="a line of binary bytes between Bad's FETCHes")
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        self.fetch_then(c, f, seq, m, items, uidcmd, bytes(range(1, 256)).replace(b"\n", b"") + b"\r\n")


@sc("garbage-nul-line", rc="1", doc="* OK with NUL bytes in its text between Bad's FETCHes")
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        self.fetch_then(c, f, seq, m, items, uidcmd, b"* OK \x00\x00\x00\r\n")


@sc("garbage-empty-line", rc="1", doc="an empty line between Bad's FETCHes")
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        self.fetch_then(c, f, seq, m, items, uidcmd, b"\r\n")


@sc("bare-lf", rc="0", named="-", flags="same", doc="every line from the server ends with a bare LF")
class _(Base):
    def greet(self, c):
        orig = c.send

        def send(data):
            orig(data if b"}\r\n" in data or b"}\n" in data else data.replace(b"\r\n", b"\n"))
        c.send = send
        super().greet(c)

    @staticmethod
    def fetch_bytes(seq, parts, body, bname=b"BODY[]"):
        out = b"* %d FETCH (" % seq + b" ".join(parts)
        if body is not None:
            out += (b" " if parts else b"") + bname + b" {%d}\n" % len(body) + body
        return out + b")\n"


@sc("fetch-missing-tagged", rc="1", bound=15, doc="Bad's body FETCH never completes")
class _(Base):
    def fetch_done(self, c, tag, f):
        if is_bad(f) and getattr(c, "state_body", False):
            c.stall()
        super().fetch_done(c, tag, f)

    def fetch_one(self, c, f, seq, m, items, uidcmd):
        c.state_body = b"BODY.PEEK[]" in items
        super().fetch_one(c, f, seq, m, items, uidcmd)


@sc("fetch-wrong-tag", rc="1", doc="Bad's FETCHes complete with another tag")
class _(Base):
    def fetch_done(self, c, tag, f):
        c.send((b"b" + tag if is_bad(f) else tag) + b" OK done\r\n")


@sc("fetch-tag-twice", rc="1", doc="Bad's first FETCH completes twice")
class _(Base):
    def fetch_done(self, c, tag, f):
        super().fetch_done(c, tag, f)
        if is_bad(f) and self.count(f"twice{c.cid}") == 1:
            super().fetch_done(c, tag, f)


@sc("fetch-bye", rc="1", doc="BYE and close in the middle of Bad's bodies")
class _(Poison):
    def poison(self, c, seq, parts, body):
        c.send(b"* BYE shutting down\r\n")
        c.close_now()


@sc("fetch-bye-continue", rc="0", named="-", flags="same", doc="an untagged BYE among Bad's bodies, then all goes on")
class _(Poison):
    def poison(self, c, seq, parts, body):
        c.send(b"* BYE you may stay\r\n" + self.fetch_bytes(seq, parts, body))


@sc("body-quoted", rc="0 1", named="Bad", flags="same")
class _(Poison):
    """Bad UID 9's body (one line) as a quoted string"""
    uid = 9

    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b'BODY[] "' + body + b'")\r\n')


@sc("body-nil", rc="0 1", named="Bad", doc="BODY[] NIL for Bad UID 1")
class _(Poison):
    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b"BODY[] NIL)\r\n")


@sc("body-nil-expunged", rc="0", named="-",
    doc="BODY[] NIL for Bad UID 1, then its EXPUNGE: how Dovecot answers for a message another "
        "session expunged (RFC 2180 4.1.3): it vanished, not a failure")
class _(Poison):
    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b"BODY[] NIL)\r\n* %d EXPUNGE\r\n" % seq)


@sc("throttle-then-bodyless", rc="0 1", named="Bad", flags="same",
    doc="first EXAMINE of Bad: BAD [LIMIT] with a 1 ms back-off hint (the plain EXAMINE then works); "
        "the first body of Bad UID 1: BODY[] NIL. The folder, handed to the end-of-run commit, "
        "must not be retried for the throttling (its retry once cleaned tmp/ under the commit)")
class _(Poison):
    def do_examine(self, c, tag, verb, args):
        f = c.folder(args[0]) if args else None
        if is_bad(f) and self.count("exbad") == 1:
            c.sel = None
            c.send(tag + b" BAD [LIMIT] Suggested Backoff Time: 1 milliseconds\r\n")
            return
        return super().do_examine(c, tag, verb, args)

    def poison(self, c, seq, parts, body):
        if self.count("nil") == 1:
            c.send(self.head(seq, parts) + b"BODY[] NIL)\r\n")
        else:
            c.send(self.fetch_bytes(seq, parts, body))


@sc("body-missing", rc="0 1", named="Bad", doc="Bad UID 1's FETCH without BODY[]")
class _(Poison):
    def poison(self, c, seq, parts, body):
        c.send(b"* %d FETCH (" % seq + b" ".join(parts) + b")\r\n")


@sc("body-flags-only", rc="1", named="Bad",
    doc="Bad UID 1's body FETCH answered with UID and FLAGS alone, every time: not a message that "
        "vanished (the folder fails, exit 1, and is not mirrored as if whole)")
class _(Poison):
    def poison(self, c, seq, parts, body):
        keep = [p for p in parts if p.startswith(b"UID ") or p.startswith(b"FLAGS ")]
        c.send(b"* %d FETCH (" % seq + b" ".join(keep) + b")\r\n")


class RefuseOne(Base):
    """every UID FETCH of a body of Bad that asks for UID self.uid is answered NO alone, nothing sent"""
    uid = 1
    text = b"NO FETCH Server error while fetching messages"

    def refuses(self, f, ranges):
        return in_set(ranges, self.uid) and any(m.uid == self.uid for m in f.msgs)

    def do_fetch(self, c, tag, args, uidcmd):
        f = c.sel
        items = args[1] if len(args) > 1 and isinstance(args[1], list) else args[1:2]
        if is_bad(f) and uidcmd and any(isinstance(it, bytes) and it.upper() == b"BODY.PEEK[]" for it in items):
            try:
                ranges = parse_set(args[0], f.msgs[-1].uid if f.msgs else U32)
            except ValueError:
                ranges = []
            if self.refuses(f, ranges):
                c.log(f"refused {args[0]!r}")
                c.send(tag + b" " + self.text + b"\r\n")
                return
        return super().do_fetch(c, tag, args, uidcmd)


@sc("fetch-no-one-message", rc="1", named="Bad", flags="same,kept=Bad:3+5+9",
    doc="every UID FETCH of Bad's bodies that asks for UID 1 is answered NO and nothing else (Yahoo's "
        "\"FETCH Server error while fetching messages\" for a message it cannot read): UIDs 3, 5 and 9 "
        "are mirrored all the same, asked for one at a time")
class _(RefuseOne):
    pass

@sc("literal-swallows-next-refused", rc="1", named="Bad", flags="same,kept=Bad:1+5+9",
    doc="UID 3's BODY[] takes UID 5's answer in (as literal-swallows-next) and the UID FETCH that "
        "brought them is answered NO: UID 5, not brought, is asked for again alone and comes back, but "
        "UID 3's body, which holds UID 5's answer, is not kept (the folder fails, asked again next run)")
class _(Base):
    held = None
    many = False
    swallowed = False

    def do_fetch(self, c, tag, args, uidcmd):
        self.many = len(args) > 0 and isinstance(args[0], bytes) and (b":" in args[0] or b"," in args[0])
        self.swallowed = False
        return super().do_fetch(c, tag, args, uidcmd)

    def fetch_one(self, c, f, seq, m, items, uidcmd):
        had = self.held is not None
        swallow_next(self, c, f, seq, m, items, uidcmd, lambda: m.uid == 3 and self.many)
        if had and self.held is None:
            self.swallowed = True

    def fetch_done(self, c, tag, f):
        if is_bad(f) and self.swallowed:
            c.log("refused the command that swallowed")
            c.send(tag + b" NO FETCH Server error while fetching messages\r\n")
            return
        super().fetch_done(c, tag, f)


@sc("fetch-no-expunged", rc="0", named="-", flags="kept=Bad:3+5+9",
    doc="Bad UID 1 expunged by another session while the bodies are fetched: the UID FETCH that asks "
        "for it gets its EXPUNGE and NO [EXPUNGEISSUED] (RFC 5530): the rest mirrored, UID 1 vanished, "
        "no failure")
class _(RefuseOne):
    def do_fetch(self, c, tag, args, uidcmd):
        f = c.sel
        items = args[1] if len(args) > 1 and isinstance(args[1], list) else args[1:2]
        if is_bad(f) and uidcmd and any(isinstance(it, bytes) and it.upper() == b"BODY.PEEK[]" for it in items):
            with self.lock:
                gone = [i for i, m in enumerate(f.msgs) if m.uid == self.uid]
                if gone and in_set(parse_set(args[0], f.msgs[-1].uid), self.uid):
                    del f.msgs[gone[0]]
                    c.send(b"* %d EXPUNGE\r\n" % (gone[0] + 1) + tag +
                           b" NO [EXPUNGEISSUED] Some of the requested messages no longer exist\r\n")
                    return
        return Base.do_fetch(self, c, tag, args, uidcmd)


class RefuseMany(RefuseOne):
    """RefuseOne whose Bad holds self.extra more messages, UIDs 100 and up"""
    extra = 0

    def make_folders(self):
        fs = super().make_folders()
        bad = folder_by(fs, b"Bad")
        bad.uidnext = 100
        for _k in range(self.extra):
            bad.hms += 1
            bad.msgs.append(new_message(bad, bad.hms))
            bad.uidnext += 1
        return fs


RUN_LO, RUN_HI = 110, 129  # fetch-no-run: the unreadable messages, 20 in a row


@sc("fetch-no-run", rc="1", named="Bad",
    flags="kept=Bad:" + "+".join(str(u) for u in [1, 3, 5, 9] + list(range(100, RUN_LO)) +
                                 list(range(RUN_HI + 1, 140))),
    doc="Bad holds 40 more messages, UIDs 100-139, and every UID FETCH of its bodies that asks for one "
        "of UIDs 110-129 (20 unreadable messages in a row) is answered NO and nothing else: the "
        "commands are split until the readable ones come back, so UIDs 130-139, after the 20, are "
        "mirrored too (they waited for a next run that met the same 20 first)")
class _(RefuseMany):
    extra = 40

    def refuses(self, f, ranges):
        return any(in_set(ranges, u) for u in range(RUN_LO, RUN_HI + 1))


SCATTERED = [u for u in range(100, 500) if u % 20 == 7]  # fetch-no-scattered: 20 unreadable messages


@sc("fetch-no-scattered", rc="1", named="Bad",
    flags="kept=Bad:" + "+".join(str(u) for u in [1, 3, 5, 9] + [u for u in range(100, 500) if u not in SCATTERED]),
    doc="Bad holds 400 more messages, UIDs 100-499, and every UID FETCH of its bodies that asks for one of "
        "20 scattered among them is answered NO and nothing else: every readable one is mirrored in one "
        "run (a budget of refusals per folder spent before the single UIDs held some back on every run)")
class _(RefuseMany):
    extra = 400

    def refuses(self, f, ranges):
        return any(in_set(ranges, u) for u in SCATTERED)


@sc("fetch-no-all-big", rc="1", named="Bad", flags="maxerr=12", bound=20,
    doc="Bad holds 5000 more messages and every UID FETCH of its bodies is answered NO (a NO about the "
        "folder, not one message): the commands asked again in smaller ones stop after 64 refused in a "
        "row, not one per message; the folder fails, the rest mirrored")
class _(RefuseMany):
    extra = 5000

    def refuses(self, f, ranges):
        n = self.count("refusals")
        if n > 64 + 4:  # 64 in a row, then what was in flight; else a traceback fails it
            raise RuntimeError(f"refused command {n}: more than the budget")
        return True


@sc("fetch-unavailable-one-message", rc="1", named="Bad", flags="same,kept=Bad:3+5+9", bound=15,
    doc="every UID FETCH of Bad's bodies that asks for UID 1 is answered NO [UNAVAILABLE] (a throttling "
        "code, RFC 5530) and nothing else, run after run: after the waits for a throttling server, "
        "the last try takes it for a message the server cannot read, and UIDs 3, 5 and 9 are mirrored")
class _(RefuseOne):
    text = b"NO [UNAVAILABLE] Server error while fetching messages"


@sc("fetch-unavailable-two-folders", rc="1", named="Bad", flags="nogood,kept=Bad:3+5+9,kept=A:2", bound=15,
    doc="as fetch-unavailable-one-message, for UID 1 of A and of Bad: the second folder gets its last "
        "try at once, though the run has waited all it may for a throttling server by then")
class _(RefuseOne):
    text = b"NO [UNAVAILABLE] Server error while fetching messages"

    def refuses(self, f, ranges):
        return in_set(ranges, 1) and any(m.uid == 1 for m in f.msgs)

    def do_fetch(self, c, tag, args, uidcmd):
        f = c.sel
        if f is not None and f.name == b"A" and uidcmd:
            items = args[1] if len(args) > 1 and isinstance(args[1], list) else args[1:2]
            if any(isinstance(it, bytes) and it.upper() == b"BODY.PEEK[]" for it in items):
                try:
                    ranges = parse_set(args[0], f.msgs[-1].uid)
                except ValueError:
                    ranges = []
                if self.refuses(f, ranges):
                    c.send(tag + b" " + self.text + b"\r\n")
                    return
        return super().do_fetch(c, tag, args, uidcmd)


@sc("fetch-no-expunged-again", rc="0", named="-", flags="kept=Bad:3+5+9",
    doc="Bad UID 1 expunged by another session while the bodies are fetched: each UID FETCH of bodies "
        "that names it brings the others and is answered NO [EXPUNGEISSUED] (the first after the "
        "EXPUNGE): refused alone with that code, it vanished; no failure")
class _(Base):
    gone = False
    refuse = False

    def do_fetch(self, c, tag, args, uidcmd):
        f = c.sel
        items = args[1] if len(args) > 1 and isinstance(args[1], list) else args[1:2]
        self.refuse = False
        if is_bad(f) and uidcmd and any(isinstance(it, bytes) and it.upper() == b"BODY.PEEK[]" for it in items):
            with self.lock:
                try:
                    self.refuse = in_set(parse_set(args[0], U32), 1)
                except ValueError:
                    pass
                gone = [i for i, m in enumerate(f.msgs) if m.uid == 1]
                if self.refuse and gone:
                    del f.msgs[gone[0]]
                    c.send(b"* %d EXPUNGE\r\n" % (gone[0] + 1))
        return super().do_fetch(c, tag, args, uidcmd)

    def fetch_done(self, c, tag, f):
        if self.refuse:
            c.log("refused with EXPUNGEISSUED")
            c.send(tag + b" NO [EXPUNGEISSUED] Some of the requested messages no longer exist\r\n")
            return
        super().fetch_done(c, tag, f)


@sc("newmail-fetch-no-one-message", rc="1", named="Bad", pre=PRE, flags="kept=Bad:11",
    doc="after a first sync, Bad has new UIDs 10 and 11, fetched behind EXAMINE; every UID FETCH of "
        "bodies that asks for UID 10 is answered NO alone: UID 11 is mirrored all the same")
class _(RefuseOne, NewMail):
    uid = 10

    def make_folders(self):
        fs = super().make_folders()
        bad = folder_by(fs, b"Bad")
        bad.msgs.append(new_message(bad, bad.hms + 1))
        bad.uidnext, bad.hms = 12, bad.hms + 1
        return fs

@sc("body-empty-literal", rc="1", named="Bad", flags="same,kept=Bad:3+5+9",
    doc="BODY[] {0} for Bad UID 1 with its true RFC822.SIZE (a message the server cannot read): not "
        "stored as an empty file that would stand for it for good; the folder fails, the rest mirrored")
class _(Poison):
    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b"BODY[] {0}\r\n)\r\n")


@sc("body-empty-quoted", rc="1", named="Bad", flags="same,kept=Bad:3+5+9",
    doc='BODY[] "" for Bad UID 1 with its true RFC822.SIZE: as body-empty-literal')
class _(Poison):
    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b'BODY[] "")\r\n')

@sc("list-name-mutf7-amp", rc="0", named="-",
    doc='modified UTF-7 with "&-" (a literal "&"), accents and CJK: "Tom &- Jerry", "R&AOk-sum&AOk-", '
        '"&ZeVnLIqe-/&-&-"')
class _(named_folders([b"Tom &- Jerry", b"R&AOk-sum&AOk-", b"!&ZeVnLIqe-", b"&ZeVnLIqe-/&-&-"])):
    pass


@sc("status-no-uidnext", rc="0", named="-", pre=PRE, flags="must=Bad:10",
    doc="after a first sync, Bad has a new message; no LIST-STATUS, and STATUS answers carry no UIDNEXT "
        "(as old Exchange)")
class _(NewMail):
    caps_del = ["LIST-STATUS"]

    def status_values(self, c, f):
        v = super().status_values(c, f)
        del v[b"UIDNEXT"]
        return v


@sc("uidnext-missing-newmail", rc="0", named="-", pre=PRE, flags="must=Bad:10",
    doc="after a first sync, Bad has a new message; no UIDNEXT anywhere (EXAMINE, STATUS; no LIST-STATUS)")
class _(NewMail):
    caps_del = ["LIST-STATUS"]

    def status_values(self, c, f):
        v = super().status_values(c, f)
        del v[b"UIDNEXT"]
        return v

    def examine_lines(self, c, f, qresync):
        return [ln for ln in super().examine_lines(c, f, qresync) if b"UIDNEXT" not in ln]


@sc("empty-fetch-bad", rc="0", named="-", flags="same",
    doc='UID FETCH 1:* in the folder Empty (no message) answered "BAD Invalid sequence set"')
class _(Base):
    def do_fetch(self, c, tag, args, uidcmd):
        if c.sel is not None and not c.sel.msgs:
            c.send(tag + b" BAD Invalid sequence set\r\n")
            return
        return super().do_fetch(c, tag, args, uidcmd)


@sc("internaldate-space-day", rc="0", named="-",
    doc='INTERNALDATE " 4-DEC-2024 10:00:60 +1400" (a space-padded day, an upper-case month, a leap second)')
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        self.fetch_changed(c, f, seq, m, items, uidcmd, date=" 4-DEC-2024 10:00:60 +1400")


@sc("body-origin", rc="0", named="-", flags="same", doc="BODY[]<0> {n}")
class _(Poison):
    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b"BODY[]<0> {%d}\r\n" % len(body) + body + b")\r\n")


@sc("body-binary-name", rc="0", named="-", flags="same", doc="BINARY[] {n} in answer to BODY.PEEK[]")
class _(Poison):
    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b"BINARY[] {%d}\r\n" % len(body) + body + b")\r\n")


@sc("body-first", rc="0", named="-", flags="same", doc="BODY[] before UID, FLAGS and INTERNALDATE")
class _(Poison):
    def poison(self, c, seq, parts, body):
        c.send(b"* %d FETCH (BODY[] {%d}\r\n" % (seq, len(body)) + body + b" " + b" ".join(parts) + b")\r\n")


@sc("body-twice-items", rc="0", named="-", flags="same", doc="two BODY[] items in one FETCH response (the second bigger)")
class _(Poison):
    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b"BODY[] {%d}\r\n" % len(body) + body +
               b" BODY[] {%d}\r\n" % (len(body) * 2) + body * 2 + b")\r\n")


# ---- Gmail (X-GM-EXT-1: mailkeep stores one copy per X-GM-MSGID)

class Gmail(Base):
    caps_add = ["X-GM-EXT-1"]


@sc("gmail-baseline", rc="0", named="-", flags="same", doc="X-GM-EXT-1 with distinct X-GM-MSGIDs")
class _(Gmail):
    pass


@sc("gmail-msgid-text", rc="1", doc="X-GM-MSGID abc for Bad UID 1")
class _(Gmail):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        self.fetch_replacing(c, f, seq, m, items, uidcmd, b"X-GM-MSGID", b"X-GM-MSGID abc")


@sc("gmail-msgid-collision", rc="0", named="-", flags="same",
    doc="a reused X-GM-MSGID: the stored file's size (LF) does not match RFC822.SIZE (CRLF), so it is downloaded")
class _(Gmail):
    """UID 1 of every folder has the same X-GM-MSGID, though the messages differ"""
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        parts, body, bname = self.fetch_parts(c, f, seq, m, items, uidcmd)
        if m.uid == 1:
            parts = [b"X-GM-MSGID 1234567890123" if p.startswith(b"X-GM-MSGID") else p for p in parts]
        c.send(self.fetch_bytes(seq, parts, body, bname))


# ---- TLS

@sc("tls-ok", rc="0", named="-", flags="same,tls=implicit", doc="implicit TLS with a good certificate")
class _(Base):
    tls = "implicit"


@sc("tls-selfsigned", rc="4", named="-", flags="nogood,nologin,tls=implicit", doc="a self-signed certificate")
class _(Base):
    tls = "implicit"
    cert = "self"


@sc("tls-wronghost", rc="4", named="-", flags="nogood,nologin,tls=implicit", doc="a certificate for another host")
class _(Base):
    tls = "implicit"
    cert = "wrong"


@sc("tls-expired", rc="4", named="-", flags="nogood,nologin,tls=implicit", doc="an expired certificate")
class _(Base):
    tls = "implicit"
    cert = "expired"


@sc("tls-plaintext", rc="4", named="-", flags="nogood,nologin,tls=implicit", doc="plain IMAP on the TLS port")
class _(Base):
    def greet(self, c):
        c.send(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] plain text\r\n")
        c.stall()


@sc("tls-stall", rc="4", named="-", flags="nogood,nologin,tls=implicit", bound=15, doc="no ServerHello")
class _(Base):
    def greet(self, c):
        c.stall()


@sc("tls-notyet", rc="4", named="-", flags="nogood,nologin,tls=implicit", doc="a certificate not valid before 2099")
class _(Base):
    tls = "implicit"
    cert = "notyet"


@sc("tls-untrusted-ca", rc="4", named="-", flags="nogood,nologin,tls=implicit",
    doc="a certificate for 127.0.0.1 signed by a CA that is not the ca_file's")
class _(Base):
    tls = "implicit"
    cert = "untrusted"


@sc("tls-chain-ok", rc="0", named="-", flags="same,tls=implicit",
    doc="a certificate signed by an intermediate CA, sent with the intermediate")
class _(Base):
    tls = "implicit"
    cert = "chain"


@sc("tls-chain-incomplete", rc="4", named="-", flags="nogood,nologin,tls=implicit",
    doc="a certificate signed by an intermediate CA, sent without the intermediate")
class _(Base):
    tls = "implicit"
    cert = "nochain"


@sc("tls-dns-san-only", rc="4", named="-", flags="nogood,nologin,tls=implicit",
    doc="a certificate with only DNS:localhost in its subjectAltName, for host 127.0.0.1")
class _(Base):
    tls = "implicit"
    cert = "dnsonly"


@sc("tls-cn-only", rc="4", named="-", flags="nogood,nologin,tls=implicit",
    doc="a certificate with CN=127.0.0.1 and no subjectAltName (an address never matches a CN)")
class _(Base):
    tls = "implicit"
    cert = "cnonly"


@sc("tls-client-eku", rc="4", named="-", flags="nogood,nologin,tls=implicit",
    doc="a certificate for 127.0.0.1 whose extended key usage is clientAuth only")
class _(Base):
    tls = "implicit"
    cert = "clienteku"


@sc("tls-old-protocol", rc="4", named="-", flags="nogood,nologin,tls=implicit",
    doc="a server that speaks TLS 1.0 and 1.1 only")
class _(Base):
    tls = "implicit"
    tls_max = ssl.TLSVersion.TLSv1_1


class StartTLS(Base):
    tls = "starttls"

    @staticmethod
    def hello_then_close(c):
        """After injected bytes: log whether the client's next byte (within 5 s) starts a TLS
        handshake, then close"""
        c.s.settimeout(5)
        try:
            first = c.s.recv(1)
        except OSError:
            first = b""
        if first[:1] == b"\x16":
            c.log("ClientHello received: the client started TLS after the injected bytes")
        c.close_now()


@sc("starttls-ok", rc="0", named="-", flags="same,tls=starttls", doc="STARTTLS with a good certificate")
class _(StartTLS):
    pass


@sc("starttls-inject", rc="4", named="-", flags="nogood,nologin,noclienthello,tls=starttls",
    doc="STARTTLS: OK and an injected response in the same packet (must be refused before the handshake)")
class _(StartTLS):
    def starttls(self, c, tag):
        c.send(tag + b" OK Begin TLS negotiation now\r\n* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\r\n")
        self.hello_then_close(c)


@sc("starttls-inject-split", rc="4", named="-", flags="nogood,nologin,tls=starttls",
    doc="STARTTLS: OK, then injected plain text in a second packet, then a real handshake")
class _(StartTLS):
    def starttls(self, c, tag):
        c.send(tag + b" OK Begin TLS negotiation now\r\n")
        time.sleep(0.05)
        c.send(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN LOGINDISABLED] injected\r\n")
        c.start_tls(self.cert)


@sc("starttls-inject-tagged", rc="4", named="-", flags="nogood,nologin,noclienthello,tls=starttls",
    doc="STARTTLS: untagged response, then OK and a tagged answer to a command not sent yet, in one packet")
class _(StartTLS):
    def starttls(self, c, tag):
        c.send(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] before\r\n" + tag + b" OK Begin TLS now\r\n"
               b"a3 OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] Logged in\r\n")
        self.hello_then_close(c)


@sc("starttls-missing", rc="4", named="-", flags="nogood,nologin,tls=starttls", doc="tls: starttls, no STARTTLS offered")
class _(Base):
    pass


@sc("starttls-wronghost", rc="4", named="-", flags="nogood,nologin,tls=starttls", doc="STARTTLS, wrong host certificate")
class _(StartTLS):
    cert = "wrong"


@sc("starttls-preauth", rc="4", named="-", flags="nogood,tls=starttls", doc="tls: starttls and a PREAUTH greeting")
class _(StartTLS):
    def greet(self, c):
        c.authed = True
        c.send(b"* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] in\r\n")


@sc("starttls-no", rc="4", named="-", flags="nogood,nologin,tls=starttls", doc="STARTTLS offered, answered NO")
class _(StartTLS):
    def starttls(self, c, tag):
        c.send(tag + b" NO [UNAVAILABLE] TLS is broken today\r\n")


@sc("starttls-bad", rc="4", named="-", flags="nogood,nologin,tls=starttls", doc="STARTTLS offered, answered BAD")
class _(StartTLS):
    def starttls(self, c, tag):
        c.send(tag + b" BAD unknown command\r\n")


@sc("starttls-drop", rc="4", named="-", flags="nogood,nologin,tls=starttls",
    doc="STARTTLS answered OK, then the connection closed before the handshake (no plain-text fallback)")
class _(StartTLS):
    def starttls(self, c, tag):
        c.send(tag + b" OK Begin TLS negotiation now\r\n")
        c.close_now()


@sc("starttls-bye", rc="4", named="-", flags="nogood,nologin,tls=starttls",
    doc="STARTTLS answered with an untagged BYE, then closed")
class _(StartTLS):
    def starttls(self, c, tag):
        c.send(b"* BYE [UNAVAILABLE] no TLS today\r\n")
        c.close_now()


@sc("starttls-old-protocol", rc="4", named="-", flags="nogood,nologin,tls=starttls",
    doc="STARTTLS into TLS 1.0/1.1 only")
class _(StartTLS):
    tls_max = ssl.TLSVersion.TLSv1_1


class CapsAfterTLS(StartTLS):
    """Before TLS: AUTH=PLAIN and SASL-IR (an attacker's offer); after it: LOGINDISABLED and no mechanism
    mailkeep knows, so that a client keeping what it read in clear text logs in and one that reads the
    capabilities again does not."""
    def caps(self, c):
        if c.tls_on:
            return b"IMAP4rev1 LOGINDISABLED AUTH=GSSAPI"
        return b"IMAP4rev1 STARTTLS AUTH=PLAIN SASL-IR"


@sc("starttls-caps-before", rc="4", named="-", flags="nogood,nologin,tls=starttls",
    doc="STARTTLS: AUTH=PLAIN offered in clear text only; after TLS LOGINDISABLED and no known mechanism")
class _(CapsAfterTLS):
    pass


@sc("starttls-caps-in-ok", rc="4", named="-", flags="nogood,nologin,tls=starttls",
    doc="STARTTLS: the OK to STARTTLS carries [CAPABILITY ... AUTH=PLAIN]; after TLS LOGINDISABLED only")
class _(CapsAfterTLS):
    def starttls(self, c, tag):
        c.send(tag + b" OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] Begin TLS negotiation now\r\n")
        c.start_tls(self.cert)


@sc("starttls-caps-learnt", rc="0", named="-", flags="same,tls=starttls",
    doc="STARTTLS: LOGINDISABLED and no mechanism in clear text; after TLS the usual capabilities")
class _(StartTLS):
    def caps(self, c):
        if not c.tls_on:
            return b"IMAP4rev1 STARTTLS LOGINDISABLED"
        return super().caps(c)


@sc("starttls-greeting-bye", rc="4", named="-", flags="nogood,nologin,tls=starttls",
    doc="tls: starttls and a BYE greeting")
class _(StartTLS):
    def greet(self, c):
        c.send(b"* BYE [UNAVAILABLE] maintenance\r\n")
        c.close_now()


# ---- server text aimed at the terminal

ESCAPES = (b"\x1b]0;pwned\x07\x1b[2J\x1b[31mred \xc2\x9b31mC1-CSI \x9b32m8bit-CSI \xc2\x9d0;t\xc2\x9c "
           b"\xe2\x80\xaeRLO tail")


@sc("login-no-escapes", rc="4", named="-", flags="nogood,noc1",
    doc="login refused with an [ALERT] holding OSC, CSI, C1 controls (UTF-8 and 8-bit) and an RLO")
class _(Base):
    def login_ok(self, c, tag):
        c.send(tag + b" NO [ALERT] " + ESCAPES + b"\r\n")


@sc("greet-bye-escapes", rc="4", named="-", flags="nogood,noc1",
    doc="a BYE greeting whose text holds OSC, CSI and C1 controls")
class _(Base):
    def greet(self, c):
        c.send(b"* BYE " + ESCAPES + b"\r\n")
        c.close_now()


@sc("alert-escapes", rc="0", named="-", flags="same,noc1",
    doc="untagged OK [ALERT] and NO with escapes in the greeting, after login and between Bad's FETCHes")
class _(Base):
    def greet(self, c):
        c.send(b"* OK [ALERT] " + ESCAPES + b"\r\n")
        super().greet(c)

    def login_ok(self, c, tag):
        c.send(b"* OK [ALERT] " + ESCAPES + b"\r\n* NO " + ESCAPES + b"\r\n")
        super().login_ok(c, tag)


@sc("examine-no-escapes", rc="1", flags="noc1", doc="EXAMINE Bad refused with OSC, CSI and C1 controls")
class _(BadExamine):
    def examine_bad(self, c, tag, f, lines):
        c.sel = None
        c.send(tag + b" NO [ALERT] " + ESCAPES + b"\r\n")


# ---- threads: the same misbehaviours on two connections

@sc("two-conns-reset", rc="1", flags="maxconn=2", doc="max_connections 2: a reset at EXAMINE Bad on whichever connection")
class _(BadExamine):
    def examine_bad(self, c, tag, f, lines):
        c.reset()


@sc("two-conns-login-fails", rc="0", named="-", flags="same,maxconn=2",
    doc="max_connections 2: the second connection's login is refused")
class _(Base):
    def login_ok(self, c, tag):
        if self.count("login") >= 2:
            c.send(tag + b" NO [LIMIT] too many connections\r\n")
            return
        super().login_ok(c, tag)


# ---- COMPRESS=DEFLATE (RFC 4978; the account says compress: true)

class Compressing(Base):
    caps_add = ["COMPRESS=DEFLATE"]


@sc("compress-ok", rc="0", named="-", flags="same,compress,maxconn=2",
    doc="COMPRESS=DEFLATE on both connections; a compressed untagged OK rides in the packet of the tagged OK")
class _(Compressing):
    def compress(self, c, tag, args):
        c.start_compress()
        z = c.zout
        c.send_raw(tag + b" OK DEFLATE active\r\n" + z.compress(b"* OK now compressed\r\n") +
                   z.flush(zlib.Z_SYNC_FLUSH))


@sc("compress-refused", rc="0", named="-", flags="same,compress",
    doc="COMPRESS=DEFLATE offered, COMPRESS answered NO: the run goes on uncompressed")
class _(Compressing):
    def compress(self, c, tag, args):
        c.send(tag + b" NO [COMPRESSIONACTIVE] not today\r\n")


@sc("compress-garbage", rc="1", flags="same,compress",
    doc="compression on, then EXAMINE Bad is answered with bytes that are not DEFLATE")
class _(Compressing):
    def command(self, c, tag, verb, args, uid):
        if c.zout and verb == b"EXAMINE" and args and args[0] == b"Bad":
            c.send_raw(b"* OK [UIDVALIDITY 1303] plain text in a compressed stream\r\n" * 50)
            c.stall()
        return False


@sc("compress-bomb", rc="1", flags="same,compress,maxrss=80", bound=30,
    doc="compressed, EXAMINE Bad is answered with a 200 MiB line (200 KiB on the wire)")
class _(Compressing):
    def command(self, c, tag, verb, args, uid):
        if c.zout and verb == b"EXAMINE" and args and args[0] == b"Bad":
            c.send(b"* OK ")
            chunk = b"x" * (1 << 20)
            try:
                for _ in range(200):
                    c.send(chunk)
            except OSError:
                raise Drop
            c.stall()
        return False


class CompressedBadFetch(Compressing):
    """Bad's UID 1 FETCH answer goes out through damage() (plain bytes in, the scenario sends)."""
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        if is_bad(f) and m.uid == 1:
            parts, body, bname = self.fetch_parts(c, f, seq, m, items, uidcmd)
            self.damage(c, self.fetch_bytes(seq, parts, body, bname))
        super().fetch_one(c, f, seq, m, items, uidcmd)


@sc("compress-end", rc="1", flags="same,compress",
    doc="compressed, the server ends its DEFLATE stream (a final block) in the middle of Bad's FETCH")
class _(CompressedBadFetch):
    def damage(self, c, data):
        c.send_raw(c.zout.compress(data[:len(data) // 2]) + c.zout.flush(zlib.Z_FINISH))
        c.stall()


@sc("compress-stall", rc="1", flags="same,compress", bound=15,
    doc="compressed, half of a flushed DEFLATE block of Bad's body, then silence (the connection kept open)")
class _(CompressedBadFetch):
    def damage(self, c, data):
        z = c.zout.compress(data) + c.zout.flush(zlib.Z_SYNC_FLUSH)
        c.send_raw(z[:len(z) // 2])
        c.stall()


@sc("compress-cut", rc="1", flags="same,compress",
    doc="compressed, the connection is reset in the middle of a DEFLATE block of Bad's body")
class _(CompressedBadFetch):
    def damage(self, c, data):
        z = c.zout.compress(data) + c.zout.flush(zlib.Z_SYNC_FLUSH)
        c.send_raw(z[:len(z) // 2])
        c.reset()


# ---- more hostile behaviours: keep-alive floods, out-of-order completions, ESEARCH correlators,
# consistent lies, delimiters that differ per line, body items that are not the whole message,
# password echoes, odd capabilities

class Keepalive(Base):
    def keepalive_forever(self, c):
        """Untagged OK lines of more than 1 KiB, two a second, until the lifetime ends: never
        silent for long, never a completion."""
        line = b"* OK still working " + b"." * 1100 + b"\r\n"
        c.log("keep-alive flood")
        try:
            while time.monotonic() < self.srv.deadline:
                c.send(line)
                time.sleep(0.5)
        except OSError:
            pass
        raise Drop


@sc("keepalive-fetch-forever", rc="1", bound=15,
    doc="Bad's FETCH never completes: untagged OK lines of 1.1 KB twice a second instead, forever")
class _(Keepalive):
    def fetch_done(self, c, tag, f):
        if is_bad(f):
            self.keepalive_forever(c)
        super().fetch_done(c, tag, f)


@sc("keepalive-login-forever", rc="4", named="-", flags="nogood", bound=15,
    doc="the login never completes: untagged OK lines of 1.1 KB twice a second instead, forever")
class _(Keepalive):
    def login_ok(self, c, tag):
        self.keepalive_forever(c)


@sc("flood-fetch-forever", rc="1", bound=30,
    doc="Bad's FLAGS listing repeats UIDs 1 and 3 without end (5000 lines every 0.5 s), never completes")
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        super().fetch_one(c, f, seq, m, items, uidcmd)
        if is_bad(f) and m.uid == 3 and b"BODY.PEEK[]" not in items:
            two = b"".join(self.fetch_bytes(k, self.fetch_parts(c, f, k, f.msgs[k - 1], items, uidcmd)[0], None)
                           for k in (1, 2))
            c.log("endless FETCH flood")
            try:
                while time.monotonic() < self.srv.deadline:
                    c.send(two * 2500)
                    time.sleep(0.5)
            except OSError:
                pass
            raise Drop


@sc("condstore-search-done-first", rc="0", named="-", pre=PRE, flags="same",
    doc="CONDSTORE path after a first sync: Bad's pipelined UID SEARCH completes before the UID FETCH "
        "CHANGEDSINCE sent ahead of it (RFC 3501 5.5 allows completions in any order)")
class _(CondstoreBump):
    def do_fetch(self, c, tag, args, uidcmd):
        if is_bad(c.sel) and len(args) > 2 and isinstance(args[2], list):
            c.held = tag
        super().do_fetch(c, tag, args, uidcmd)

    def fetch_done(self, c, tag, f):
        if getattr(c, "held", None) == tag:
            return
        super().fetch_done(c, tag, f)

    def do_search(self, c, tag, args, uidcmd):
        super().do_search(c, tag, args, uidcmd)
        held = getattr(c, "held", None)
        if held:
            c.held = None
            c.ok(held, b"FETCH completed")


@sc("condstore-esearch-foreign-tag", rc="0", named="-", pre=PRE, flags="same",
    doc="CONDSTORE path after a first sync: beside Bad's ESEARCH, another one correlated to a tag never "
        "sent, naming UIDs Bad does not hold (RFC 4731: not this command's)")
class _(CondstoreBump):
    def search_result(self, c, tag, f, uidcmd, esearch):
        if is_bad(f):
            c.send(b'* ESEARCH (TAG "zz' + tag + b'") UID ALL 2,4,6:8,11\r\n')
        super().search_result(c, tag, f, uidcmd, esearch)


@sc("condstore-esearch-no-tag", rc="0", named="-", pre=PRE, flags="same",
    doc="CONDSTORE path after a first sync: Bad's ESEARCH has no TAG correlator")
class _(CondstoreBump):
    def search_result(self, c, tag, f, uidcmd, esearch):
        self.search_replacing(c, tag, f, uidcmd, esearch,
                              b"* ESEARCH UID ALL " + uidset([m.uid for m in f.msgs]) + b"\r\n")


@sc("condstore-esearch-swap", rc="0 1", pre=PRE, flags="remove",
    doc="CONDSTORE path after a first sync: Bad's ESEARCH ALL 1,3,5,77 (9 left out, 77 never seen): "
        "as many UIDs as EXISTS says")
class _(CondstoreBump):
    def search_result(self, c, tag, f, uidcmd, esearch):
        self.search_replacing(c, tag, f, uidcmd, esearch, b'* ESEARCH (TAG "' + tag + b'") UID ALL 1,3,5,77\r\n')


@sc("qresync-phantom-swap", rc="0 1", pre=PRE, flags="remove",
    doc="after a first sync: EXAMINE (QRESYNC) of Bad says UID 9 vanished and reports FLAGS of a UID 77 "
        "that does not exist (the count still matches EXISTS)")
class _(BadExamine, HmsBump):
    def examine_bad(self, c, tag, f, lines):
        return lines + [b"* VANISHED (EARLIER) 9\r\n", b"* 4 FETCH (UID 77 FLAGS (\\Seen) MODSEQ (99))\r\n"]


@sc("newmail-exists-midlisting", rc="0", named="-",
    doc="a message arrives in Bad while its FLAGS listing is sent: * 5 EXISTS inside the FETCH "
        "(RFC 3501 allows EXISTS at any time); the new UID 10 is not in that listing")
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        super().fetch_one(c, f, seq, m, items, uidcmd)
        if is_bad(f) and m.uid == 9 and b"BODY.PEEK[]" not in items and f.uidnext == 10:
            f.msgs.append(new_message(f, f.hms + 1))
            f.uidnext, f.hms = 11, f.hms + 1
            c.send(b"* %d EXISTS\r\n" % len(f.msgs))

@sc("newmail-exists-middownload", rc="0", named="-", flags="same",
    doc="a message arrives in Bad while its bodies are sent: * 5 EXISTS and an unasked FETCH (UID 10 FLAGS) "
        "between them (Yahoo, Exchange); the new message is the next run's")
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        super().fetch_one(c, f, seq, m, items, uidcmd)
        if is_bad(f) and m.uid == 3 and b"BODY.PEEK[]" in items and f.uidnext == 10:
            f.msgs.append(new_message(f, f.hms + 1))
            f.uidnext, f.hms = 11, f.hms + 1
            c.send(b"* %d EXISTS\r\n* %d FETCH (UID 10 FLAGS (\\Flagged))\r\n" % (len(f.msgs), len(f.msgs)))


@sc("highestmodseq-back", rc="0", named="-", pre=PRE, flags="same",
    doc="after a first sync: Bad's HIGHESTMODSEQ (LIST-STATUS and EXAMINE) is 5, below the one recorded")
class _(HmsBump):
    def make_folders(self):
        fs = super().make_folders()
        folder_by(fs, b"Bad").hms = 5
        return fs


@sc("uidnext-below", rc="0", named="-", pre=PRE, flags="same",
    doc="after a first sync: Bad's UIDNEXT (LIST-STATUS and EXAMINE) is 2, below UIDs it holds")
class _(HmsBump):
    def make_folders(self):
        fs = super().make_folders()
        folder_by(fs, b"Bad").uidnext = 2
        return fs


@sc("uidnext-below-newmail", rc="0", named="-", pre=PRE, flags="must=Bad:10",
    doc="after a first sync: Bad has a new UID 10, but says UIDNEXT 4 (below UIDs it holds)")
class _(NewMail):
    def make_folders(self):
        fs = super().make_folders()
        folder_by(fs, b"Bad").uidnext = 4
        return fs


@sc("list-delim-mixed", rc="0 1", named="-",
    doc='a delimiter that changes from line to line: "p/q" listed with "/", "p.q" with "." (the same '
        'directory), "r.s" with "." and "r/t" with "/"')
class _(named_folders([b"!p", b"p/q", b"p.q", b"!r", b"r.s", b"r/t"])):
    def list_entries(self, c):
        return [(a, b'"."' if f is not None and f.name in (b"p.q", b"r.s") else d, n, f)
                for a, d, n, f in super().list_entries(c)]


@sc("list-delim-bad-dot", rc="0 1", named="-", flags="same",
    doc='Bad is listed with delimiter "." while every other line says "/"; "Y.sub" with "." too')
class _(named_folders([b"!Y", b"Y.sub"])):
    def list_entries(self, c):
        return [(a, b'"."' if f is not None and f.name in (b"Bad", b"Y", b"Y.sub") else d, n, f)
                for a, d, n, f in super().list_entries(c)]


@sc("list-name-case-pair", rc="0", named="-", flags="same",
    doc='names that differ only in case: "Foo" and "foo", and "bad" (another folder than Bad)')
class _(named_folders([b"Foo", b"foo", b"bad", b"a"])):
    pass


@sc("list-name-pathmax", rc="0 1", named="-",
    doc="a hierarchy 24 levels deep of 200-byte names (a path of 4.8 KB, beyond PATH_MAX)")
class _(named_folders([b"!" + b"/".join([b"P" * 200] * k) for k in range(1, 24)] + [b"/".join([b"P" * 200] * 24)])):
    pass


@sc("list-name-255", rc="0", named="-", doc="a folder name of 255 bytes (NAME_MAX exactly) and one of 254")
class _(named_folders([b"N" * 255, b"M" * 254])):
    pass


@sc("list-status-other-name", rc="0", named="-", pre=PRE, flags="must=Bad:10",
    doc="after a first sync (Bad has a new UID 10): LIST-STATUS labels Bad's numbers \"A\" and A's \"Bad\"")
class _(NewMail):
    def list_status(self, c, f, items, wire_name):
        if f is not None and f.name in (b"A", b"Bad"):
            return self.status_line(c, f, items, b'"Bad"' if f.name == b"A" else b'"A"')
        return super().list_status(c, f, items, wire_name)


@sc("body-partial-origin", rc="1", named="Bad", flags="same",
    doc="BODY[]<100> {n}: Bad UID 1's body from its 100th byte on, in answer to BODY.PEEK[]")
class _(Poison):
    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b"BODY[]<100> {%d}\r\n" % (len(body) - 100) + body[100:] + b")\r\n")


@sc("body-header-only", rc="1", named="Bad", flags="same",
    doc="BODY[HEADER] {n} (the header alone) instead of BODY[] for Bad UID 1")
class _(Poison):
    def poison(self, c, seq, parts, body):
        h = body[:body.index(b"\r\n\r\n") + 4]
        c.send(self.head(seq, parts) + b"BODY[HEADER] {%d}\r\n" % len(h) + h + b")\r\n")


@sc("body-rfc822-text", rc="1", named="Bad", flags="same",
    doc="RFC822.TEXT {n} (the text without its header) instead of BODY[] for Bad UID 1")
class _(Poison):
    def poison(self, c, seq, parts, body):
        t = body[body.index(b"\r\n\r\n") + 4:]
        c.send(self.head(seq, parts) + b"RFC822.TEXT {%d}\r\n" % len(t) + t + b")\r\n")


@sc("body-partial-short", rc="1", named="Bad", flags="same",
    doc="BODY[]<0> {50}: the first 50 bytes of Bad UID 1 as a partial answer nobody asked for, RFC822.SIZE true")
class _(Poison):
    def poison(self, c, seq, parts, body):
        parts = [p for p in parts if not p.startswith(b"RFC822.SIZE")]
        c.send(self.head(seq, parts) + b"RFC822.SIZE %d BODY[]<0> {50}\r\n" % len(body) + body[:50] + b")\r\n")


@sc("body-partial-nosize", rc="1", named="Bad", flags="same",
    doc="BODY[]<0> {50}: the first 50 bytes of Bad UID 1, and no RFC822.SIZE although it was asked for")
class _(Poison):
    def poison(self, c, seq, parts, body):
        parts = [p for p in parts if not p.startswith(b"RFC822.SIZE")]
        c.send(self.head(seq, parts) + b"BODY[]<0> {50}\r\n" + body[:50] + b")\r\n")


@sc("body-partial-quoted", rc="1", named="Bad", flags="same",
    doc='BODY[]<0> "..." : the first 40 bytes of Bad UID 1 as a quoted string, RFC822.SIZE true')
class _(Poison):
    def poison(self, c, seq, parts, body):
        q = body[:40].replace(b"\r", b"").replace(b"\n", b" ").replace(b"\\", b"").replace(b'"', b"")
        c.send(self.head(seq, parts) + b'BODY[]<0> "%s")\r\n' % q)


@sc("body-partial-repeated", rc="1", named="Bad", flags="same",
    doc="Bad UID 1 answered three times with BODY[]<0> {50}: one UID, named once in the error")
class _(Poison):
    def poison(self, c, seq, parts, body):
        for _ in range(3):
            c.send(self.head(seq, parts) + b"BODY[]<0> {50}\r\n" + body[:50] + b")\r\n")


@sc("body-literal8", rc="0 1", named="Bad", flags="same",
    doc="BINARY[] ~{n} (a literal8, RFC 3516) for Bad UID 1")
class _(Poison):
    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b"BINARY[] ~{%d}\r\n" % len(body) + body + b")\r\n")


@sc("internaldate-tz-9999", rc="0 1", named="Bad", doc='INTERNALDATE "01-Mar-2024 10:00:00 +9999" (a zone out of range)')
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        self.fetch_changed(c, f, seq, m, items, uidcmd, date="01-Mar-2024 10:00:00 +9999")


@sc("internaldate-year0", rc="0 1", named="Bad", doc='INTERNALDATE "01-Jan-0000 00:00:00 +0000"')
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        self.fetch_changed(c, f, seq, m, items, uidcmd, date="01-Jan-0000 00:00:00 +0000")


@sc("internaldate-feb30", rc="0 1", named="Bad", doc='INTERNALDATE "30-Feb-2024 25:00:00 +0000"')
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        self.fetch_changed(c, f, seq, m, items, uidcmd, date="30-Feb-2024 25:00:00 +0000")


@sc("caps-100k", rc="0", named="-", flags="same",
    doc="the greeting's and every CAPABILITY list hold 100000 more entries and a 100 KB atom")
class _(Base):
    def caps(self, c):
        return super().caps(c) + b"".join(b" X-JUNK%d" % i for i in range(100000)) + b" X" + b"Y" * 100000


@sc("answer-twice", rc="0 1 4", named="-", flags="nogood",
    doc="every command after the login completes twice (the same tagged OK again)")
class _(Base):
    def greet(self, c):
        orig = c.ok

        def ok(tag, text=b"done"):
            orig(tag, text)
            orig(tag, text)
        c.ok = ok
        super().greet(c)


@sc("enable-unasked", rc="0", named="-", pre=PRE, flags="same",
    doc="after a first sync: CONDSTORE without ENABLE or QRESYNC, yet an untagged * ENABLED QRESYNC "
        "after the login; EXAMINE (QRESYNC ...) is BAD")
class _(HmsBump):
    caps_del = ["QRESYNC", "ENABLE"]

    def login_ok(self, c, tag):
        c.send(b"* ENABLED QRESYNC CONDSTORE UTF8=ACCEPT\r\n")
        super().login_ok(c, tag)


@sc("tls-preauth", rc="0", named="-", flags="same,tls=implicit", doc="implicit TLS and a PREAUTH greeting")
class _(Base):
    tls = "implicit"

    def greet(self, c):
        c.authed = True
        c.send(b"* PREAUTH [CAPABILITY " + self.caps(c) + b"] you are in\r\n")


@sc("login-no-echo-plain", rc="4", named="-", flags="nogood",
    doc="AUTHENTICATE PLAIN refused with a text that echoes the client's initial response (base64 credentials)")
class _(Base):
    def login_ok(self, c, tag):
        c.send(tag + b" NO [AUTHENTICATIONFAILED] bad credentials " + getattr(c, "echo", b"?") + b"\r\n")

    def command(self, c, tag, verb, args, uid):
        if verb == b"AUTHENTICATE" and len(args) >= 2 and isinstance(args[1], bytes):
            c.echo = args[1]
        return False


@sc("login-no-echo-login", rc="4", named="-", flags="nogood",
    doc="LOGIN refused with a text that echoes the password it was sent")
class _(Base):
    caps_del = ["AUTH=PLAIN", "SASL-IR"]

    def command(self, c, tag, verb, args, uid):
        if verb == b"LOGIN" and len(args) >= 2 and isinstance(args[1], bytes):
            c.send(tag + b" NO [AUTHENTICATIONFAILED] wrong password: " + args[1] + b"\r\n")
            return True
        return False


@sc("login-no-echo-cut", rc="4", named="-", flags="nogood",
    doc="LOGIN refused with a text that echoes the password cut short, and its end")
class _(Base):
    caps_del = ["AUTH=PLAIN", "SASL-IR"]

    def command(self, c, tag, verb, args, uid):
        if verb == b"LOGIN" and len(args) >= 2 and isinstance(args[1], bytes):
            pw = args[1]
            c.send(tag + b" NO [AUTHENTICATIONFAILED] wrong password: " + pw[:len(pw) * 2 // 3] +
                   b"... (ending " + pw[len(pw) // 3:] + b")\r\n")
            return True
        return False


@sc("login-no-echo-plain-cut", rc="4", named="-", flags="nogood",
    doc="AUTHENTICATE PLAIN refused with a text that echoes its base64 cut short")
class _(Base):
    def login_ok(self, c, tag):
        echo = getattr(c, "echo", b"?")
        c.send(tag + b" NO [AUTHENTICATIONFAILED] bad credentials " + echo[:len(echo) * 2 // 3] + b"...\r\n")

    def command(self, c, tag, verb, args, uid):
        if verb == b"AUTHENTICATE" and len(args) >= 2 and isinstance(args[1], bytes):
            c.echo = args[1]
        return False


@sc("login-unparsable-echo-login", rc="4", named="-", flags="nogood",
    doc="LOGIN answered by a line that does not parse (status NOPE) echoing the password")
class _(Base):
    caps_del = ["AUTH=PLAIN", "SASL-IR"]

    def command(self, c, tag, verb, args, uid):
        if verb == b"LOGIN" and len(args) >= 2 and isinstance(args[1], bytes):
            c.send(tag + b" NOPE " + args[1] + b"\r\n")
            return True
        return False


@sc("login-unparsable-echo-plain", rc="4", named="-", flags="nogood",
    doc="AUTHENTICATE PLAIN answered by a line that does not parse (status NOPE) echoing its base64")
class _(Base):
    def command(self, c, tag, verb, args, uid):
        if verb == b"AUTHENTICATE" and len(args) >= 2 and isinstance(args[1], bytes):
            c.send(tag + b" NOPE " + args[1] + b"\r\n")
            return True
        return False


class EchoAfterLogin(Base):
    """Accepts the login and keeps the password it carried (LOGIN's argument or
    AUTHENTICATE PLAIN's), to echo it in a later answer."""
    def command(self, c, tag, verb, args, uid):
        if verb == b"AUTHENTICATE" and len(args) >= 2 and isinstance(args[1], bytes):
            try:
                c.echo = base64.b64decode(args[1]).split(b"\0")[2]
            except (ValueError, IndexError):
                c.echo = b"?"
        elif verb == b"LOGIN" and len(args) >= 2 and isinstance(args[1], bytes):
            c.echo = args[1]
        return False


@sc("login-caps-echo", rc="4", named="-", flags="nogood",
    doc="the login is accepted without capabilities; the CAPABILITY that follows is answered by a line "
        "that does not parse, echoing the password")
class _(EchoAfterLogin):
    login_caps = False

    def command(self, c, tag, verb, args, uid):
        if verb == b"CAPABILITY" and c.authed:
            c.send(b" [" + getattr(c, "echo", b"?") + b"] is what you sent\r\n")
            return True
        return super().command(c, tag, verb, args, uid)


@sc("login-list-echo", rc="4", named="-", flags="nogood",
    doc="the login is accepted; LIST is refused with a text (and a code) echoing the password")
class _(EchoAfterLogin):
    def command(self, c, tag, verb, args, uid):
        if verb == b"LIST" and c.authed:
            pw = getattr(c, "echo", b"?")
            c.send(tag + b" NO [" + pw + b"] not for " + pw + b"\r\n")
            return True
        return super().command(c, tag, verb, args, uid)


@sc("list-name-password", rc="1", named="-",
    doc="after login, LIST also names a folder after the password and one holding it (x/<password>/y): "
        "both left out with a warning that does not show them, never in the output or the --json report")
class _(EchoAfterLogin):
    def list_entries(self, c):
        pw = getattr(c, "echo", b"")
        extra = [(b"\\HasNoChildren", quote(b"/"), quote(n), None) for n in (pw, b"x/" + pw + b"/y")] if pw else []
        return super().list_entries(c) + extra


class GoneExamine(BadExamine):
    """Bad listed, without a STATUS in the LIST answer, and its EXAMINE refused (answer)"""
    answer = b""

    def list_status(self, c, f, items, wire_name):
        return b"" if is_bad(f) else super().list_status(c, f, items, wire_name)

    def examine_bad(self, c, tag, f, lines):
        c.sel = None
        c.send(tag + b" NO " + self.answer + b"\r\n")


@sc("examine-nonexistent", rc="0", named="-", flags="nodir=Bad",
    doc="Bad listed, without a STATUS in the LIST answer, and EXAMINE refused with NO [NONEXISTENT] "
        "(RFC 5530): gone, not an error")
class _(GoneExamine):
    answer = b"[NONEXISTENT] no such mailbox"


@sc("examine-doesnt-exist", rc="0", named="-", flags="nodir=Bad",
    doc="Bad listed, without a STATUS in the LIST answer, and EXAMINE refused with a NO saying it "
        "doesn't exist, no code (Dovecot's Maildir++ with a deleted parent, QRESYNC given): gone")
class _(GoneExamine):
    answer = b"Mailbox doesn't exist: Bad"


@sc("logout-stall", rc="0", named="-", flags="same", bound=10, doc="LOGOUT is never answered (and the socket stays open)")
class _(Base):
    def command(self, c, tag, verb, args, uid):
        if verb == b"LOGOUT":
            c.stall()
        return False


@sc("throttle-hint-overflow", rc="1", bound=10,
    doc="EXAMINE Bad: NO [THROTTLED] Suggested Backoff Time: 99999999999999999999999 milliseconds, every time")
class _(BadExamine):
    def examine_bad(self, c, tag, f, lines):
        c.sel = None
        c.send(tag + b" NO [THROTTLED] Suggested Backoff Time:99999999999999999999999\r\n")



@sc("list-status-uidnext-max", rc="0", named="-", pre=PRE, flags="same",
    doc="after a first sync: LIST-STATUS says UIDNEXT 4294967295 for Bad (EXAMINE the truth): the new "
        "UIDs asked for behind EXAMINE are 10:4294967294, and none comes")
class _(HmsBump):
    def list_status(self, c, f, items, wire_name):
        if is_bad(f):
            return self.status_line(c, f, items, wire_name).replace(b"UIDNEXT 10", b"UIDNEXT 4294967295")
        return super().list_status(c, f, items, wire_name)


@sc("fetch-order-reversed", rc="0", named="-", flags="same",
    doc="Bad's FETCH responses (FLAGS listing and bodies) come in descending UID order")
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        if not is_bad(f):
            return super().fetch_one(c, f, seq, m, items, uidcmd)
        parts, body, bname = self.fetch_parts(c, f, seq, m, items, uidcmd)
        c.rev = getattr(c, "rev", []) + [self.fetch_bytes(seq, parts, body, bname)]

    def fetch_done(self, c, tag, f):
        c.send(b"".join(reversed(getattr(c, "rev", []))))
        c.rev = []
        super().fetch_done(c, tag, f)


# ---- untagged data that is not a command's answer, without end; bodies where they do not belong

class Flood(Base):
    def flood_forever(self, c, line, times=100):
        """line, `times` copies twice a second (more than 1 KiB: no drip), until the lifetime ends."""
        c.log("untagged flood")
        try:
            while time.monotonic() < self.srv.deadline:
                c.send(line * times)
                time.sleep(0.5)
        except OSError:
            pass
        raise Drop


class FloodAfterBodies(Flood):
    """Bad's body FETCH never completes: `line` (`times` copies) twice a second instead."""
    line, times = b"", 1

    def fetch_one(self, c, f, seq, m, items, uidcmd):
        c.bodies = b"BODY.PEEK[]" in items
        super().fetch_one(c, f, seq, m, items, uidcmd)

    def fetch_done(self, c, tag, f):
        if is_bad(f) and c.bodies:
            self.flood_forever(c, self.line, self.times)
        super().fetch_done(c, tag, f)


@sc("keepalive-exists-forever", rc="1", bound=15,
    doc="Bad's body FETCH never completes: \"* 4 EXISTS\" lines (100 twice a second) instead, forever")
class _(FloodAfterBodies):
    line, times = b"* 4 EXISTS\r\n", 100


@sc("keepalive-flags-examine-forever", rc="1", bound=15,
    doc="EXAMINE Bad never completes: \"* FLAGS (...)\" lines of 1.1 KB twice a second instead, forever")
class _(Flood, BadExamine):
    def examine_bad(self, c, tag, f, lines):
        c.send(b"".join(lines))
        self.flood_forever(c, b"* FLAGS (\\Seen " + b"k" * 1100 + b")\r\n", 1)


@sc("keepalive-capability-login-forever", rc="4", named="-", flags="nogood", bound=15,
    doc="the login never completes: untagged CAPABILITY lines of 1.1 KB twice a second instead, forever")
class _(Flood):
    def login_ok(self, c, tag):
        self.flood_forever(c, b"* CAPABILITY IMAP4rev1 " + b"X" * 1100 + b"\r\n", 1)


@sc("keepalive-list-fetch-forever", rc="1", bound=15,
    doc="Bad's body FETCH never completes: untagged LIST lines of 1.1 KB twice a second instead, forever")
class _(FloodAfterBodies):
    line = b'* LIST () "/" "' + b"L" * 1100 + b'"\r\n'


@sc("body-nested-item", rc="0 1", named="Bad", flags="same",
    doc="Bad UID 1's FETCH holds X-JUNK (BODY[] {5} hello) before its true BODY[]: not the body")
class _(Poison):
    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b"X-JUNK (BODY[] {5}\r\nhello) BODY[] {%d}\r\n" % len(body) + body + b")\r\n")


@sc("body-nouid-first", rc="0", named="-", flags="same",
    doc="before Bad UID 1's body, a FETCH without UID with another BODY[] (a phantom message)")
class _(Poison):
    def poison(self, c, seq, parts, body):
        fake = make_body(b"Bad", 1, " (phantom)")
        c.send(b"* %d FETCH (FLAGS (\\Seen) BODY[] {%d}\r\n" % (seq, len(fake)) + fake + b")\r\n")
        c.send(self.head(seq, parts) + b"BODY[] {%d}\r\n" % len(body) + body + b")\r\n")


@sc("body-in-status-line", rc="0 1", named="Bad", flags="same",
    doc="between Bad's bodies, an untagged OK whose text ends in BODY[] and a literal")
class _(Base):
    def fetch_one(self, c, f, seq, m, items, uidcmd):
        super().fetch_one(c, f, seq, m, items, uidcmd)
        if is_bad(f) and b"BODY.PEEK[]" in items:
            fake = make_body(b"Bad", m.uid, " (phantom)")
            c.send(b"* OK BODY[] {%d}\r\n" % len(fake) + fake + b"\r\n")


@sc("tls-close-notify-midliteral", rc="1", flags="tls=implicit",
    doc="implicit TLS: a TLS close_notify halfway through Bad UID 1's body, then the close")
class _(Poison):
    tls = "implicit"

    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b"BODY[] {%d}\r\n" % len(body) + body[:len(body) // 2])
        time.sleep(0.1)
        try:
            c.s = c.s.unwrap()
        except (ssl.SSLError, OSError):
            pass
        c.close_now()


@sc("tls-stall-midliteral", rc="1", flags="tls=implicit", bound=15,
    doc="implicit TLS: half of Bad UID 1's body, then silence (the connection kept open)")
class _(Poison):
    tls = "implicit"

    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b"BODY[] {%d}\r\n" % len(body) + body[:len(body) // 2])
        c.stall()


@sc("starttls-stall", rc="4", named="-", flags="nogood,nologin,tls=starttls", bound=15,
    doc="STARTTLS answered OK, then no ServerHello: the client's ClientHello read and dropped")
class _(StartTLS):
    def starttls(self, c, tag):
        c.send(tag + b" OK Begin TLS negotiation now\r\n")
        c.stall()


@sc("keepalive-bye-fetch-forever", rc="1", bound=15,
    doc="Bad's body FETCH never completes: untagged BYE lines of 1.1 KB twice a second, the connection kept open")
class _(FloodAfterBodies):
    line = b"* BYE not really " + b"." * 1100 + b"\r\n"


@sc("keepalive-list-unparsable-forever", rc="4", named="-", flags="nogood", bound=15,
    doc="LIST never completes: LIST lines that do not parse (1.1 KB, twice a second) instead, forever")
class _(Flood):
    def do_list(self, c, tag, args):
        self.flood_forever(c, b'* LIST (\\HasNoChildren "/" "' + b"U" * 1100 + b'\r\n', 1)


@sc("fetch-listing-short", rc="0 1", named="Bad", pre=PRE, flags="same",
    doc="no CONDSTORE, after a first sync: Bad's FLAGS listing lacks UID 5 though EXISTS says 4")
class _(Base):
    caps_del = ["CONDSTORE", "QRESYNC"]

    def fetch_one(self, c, f, seq, m, items, uidcmd):
        if is_bad(f) and m.uid == 5:
            return
        super().fetch_one(c, f, seq, m, items, uidcmd)


@sc("exists-back-midlisting", rc="1", pre=PRE, flags="same",
    doc="no CONDSTORE, after a first sync: * 2 EXISTS (no EXPUNGE: RFC 3501 7.3.1 forbids it) in Bad's FLAGS "
        "listing, which then lacks UIDs 5 and 9: nothing removed, Bad fails")
class _(Without59):
    caps_del = ["CONDSTORE", "QRESYNC"]

    def fetch_one(self, c, f, seq, m, items, uidcmd):
        super().fetch_one(c, f, seq, m, items, uidcmd)
        if is_bad(f) and m.uid == 3:
            c.send(b"* 2 EXISTS\r\n")


@sc("exists-back-examine", rc="1", pre=PRE, flags="same",
    doc="no CONDSTORE, after a first sync: EXAMINE Bad says * 4 EXISTS, then * 2 EXISTS (no EXPUNGE); "
        "its FLAGS listing lacks UIDs 5 and 9: nothing removed, Bad fails")
class _(BadExamine, Without59):
    caps_del = ["CONDSTORE", "QRESYNC"]

    def examine_bad(self, c, tag, f, lines):
        return lines + [b"* 2 EXISTS\r\n"]


@sc("expunge-out-of-range", rc="1", pre=PRE, flags="same",
    doc="no CONDSTORE, after a first sync: EXAMINE Bad says * 4 EXISTS, then * 9 EXPUNGE twice (no message 9: "
        "RFC 3501 7.4.1); its FLAGS listing lacks UIDs 5 and 9: nothing removed, Bad fails")
class _(BadExamine, Without59):
    caps_del = ["CONDSTORE", "QRESYNC"]

    def examine_bad(self, c, tag, f, lines):
        return lines + [b"* 9 EXPUNGE\r\n"] * 2


@sc("vanished-unknown-now", rc="0 1", pre=PRE, flags="same",
    doc="after a first sync: EXAMINE (QRESYNC) of Bad says VANISHED 100:101 (not EARLIER: expunged now, "
        "but above its UIDNEXT, never given); a FLAGS listing would lack UIDs 5 and 9: nothing removed")
class _(BadExamine, HmsBump, Without59):
    listing_only = True

    def examine_bad(self, c, tag, f, lines):
        return lines + [b"* VANISHED 100:101\r\n"]


@sc("vanished-repeated-now", rc="0 1", pre=PRE, flags="remove,kept=Bad:1+3+9",
    doc="after a first sync: EXAMINE (QRESYNC) of Bad says VANISHED 5,5 (not EARLIER: UID 5 expunged now, "
        "named twice); a FLAGS listing would also lack UID 9: 9 is not removed")
class _(BadExamine, HmsBump, Without59):
    listing_only = True

    def examine_bad(self, c, tag, f, lines):
        return lines + [b"* VANISHED 5,5\r\n"]


@sc("login-caps-shrink-incremental", rc="0", named="-", pre=PRE, flags="same",
    doc="after a first sync (QRESYNC state): after login the capabilities shrink to IMAP4rev1")
class _(HmsBump):
    login_caps = False

    def caps(self, c):
        return b"IMAP4rev1" if c.authed else super().caps(c)


@sc("list-name-escape-long", rc="1", named="%%%%%%%%%%",
    doc="a folder name of 100 \"%\" (300 bytes once escaped, beyond NAME_MAX)")
class _(named_folders([b"%" * 100])):
    pass


@sc("list-bad-nonexistent", rc="0", named="-", pre=PRE, flags="same,noaside",
    doc="after a first sync: Bad listed with \\NonExistent (EXAMINE says NO): called gone, its copy kept")
class _(HmsBump):
    def make_folders(self):
        out = super().make_folders()
        folder_by(out, b"Bad").attrs = ["\\NonExistent"]
        return out


@sc("body-partial-then-whole", rc="0 1", named="Bad", flags="same",
    doc="Bad UID 1 answered with BODY[]<0> {50} (the first 50 bytes), then again whole in the same FETCH")
class _(Poison):
    def poison(self, c, seq, parts, body):
        c.send(self.head(seq, parts) + b"BODY[]<0> {50}\r\n" + body[:50] + b")\r\n")
        c.send(self.head(seq, parts) + b"BODY[] {%d}\r\n" % len(body) + body + b")\r\n")


class QresyncIgnored(HmsBump):
    def make_folders(self):
        fs = super().make_folders()
        return [folder_by(evolved_folders(), b"Bad") if is_bad(f) else f for f in fs]

    def examine_lines(self, c, f, qresync):
        return super().examine_lines(c, f, None if is_bad(f) else qresync)


@sc("qresync-ignored-swap", rc="0", named="-", pre=PRE, flags="remove,must=Bad:10",
    doc="after a first sync, Bad is the evolved server's (UID 1 expunged, UID 3's \\Seen toggled, a new UID "
        "10: as many messages as before) but its EXAMINE (QRESYNC) reports no change at all (QRESYNC "
        "advertised, not done): the new UIDNEXT unexplained means a full fetch")
class _(QresyncIgnored):
    pass


@sc("qresync-ignored-swap-no-uidnext", rc="0", named="-", pre=PRE, flags="remove,must=Bad:10",
    doc="qresync-ignored-swap with an EXAMINE of Bad without UIDNEXT (as RFC 2060 servers answer): "
        "LIST-STATUS's UIDNEXT tells that UIDs were given since")
class _(QresyncIgnored):
    def examine_lines(self, c, f, qresync):
        lines = super().examine_lines(c, f, qresync)
        return [ln for ln in lines if not (is_bad(f) and b"UIDNEXT" in ln)]


class HugeUidnext(Base):
    """Bad's EXAMINE gives no UIDNEXT (as RFC 2060 servers answer) and its STATUS one far too high"""
    def status_values(self, c, f):
        vals = super().status_values(c, f)
        if is_bad(f):
            vals[b"UIDNEXT"] = 4000000000
        return vals

    def examine_lines(self, c, f, qresync):
        lines = super().examine_lines(c, f, qresync)
        return [ln for ln in lines if not (is_bad(f) and b"UIDNEXT" in ln)]


HELPERS["huge-uidnext"] = HugeUidnext


@sc("qresync-ignored-swap-after-huge-uidnext", rc="0", named="-", pre="huge-uidnext",
    flags="remove,must=Bad:10",
    doc="qresync-ignored-swap-no-uidnext after a first sync against a Bad whose STATUS said UIDNEXT "
        "4000000000 (recorded): the UIDNEXT now below the state's cannot tell which UIDs are new, and "
        "UIDNEXT never goes back: a full fetch")
class _(QresyncIgnored):
    def examine_lines(self, c, f, qresync):
        lines = super().examine_lines(c, f, qresync)
        return [ln for ln in lines if not (is_bad(f) and b"UIDNEXT" in ln)]


class QresyncBadEvolved(HmsBump):
    """after a first sync: Bad is the evolved server's (UID 1 expunged, UID 3's \\Seen toggled, a new UID
    10), the others the baseline's with HIGHESTMODSEQ bumped; edit() changes the FETCH line of Bad's
    EXAMINE (QRESYNC) answer that reports UID 3"""
    def make_folders(self):
        fs = super().make_folders()
        return [folder_by(evolved_folders(), b"Bad") if is_bad(f) else f for f in fs]

    def examine_lines(self, c, f, qresync):
        lines = super().examine_lines(c, f, qresync)
        return [self.edit(ln) if is_bad(f) and ln.startswith(b"* 1 FETCH (UID 3 ") else ln for ln in lines]


@sc("qresync-fetch-without-uid", rc="0", named="-", pre=PRE, flags="remove,must=Bad:10",
    doc="after a first sync, Bad is the evolved server's; its EXAMINE (QRESYNC) reports UID 3's \\Seen "
        "toggled in a FETCH without the UID (RFC 7162 requires it): a change that cannot be placed means a "
        "full fetch")
class _(QresyncBadEvolved):
    def edit(self, ln):
        return ln.replace(b"UID 3 ", b"")


@sc("qresync-fetch-without-flags", rc="0", named="-", pre=PRE, flags="remove,must=Bad:10",
    doc="after a first sync, Bad is the evolved server's; its EXAMINE (QRESYNC) reports UID 3's change "
        "with its UID and MODSEQ but no FLAGS: a change that cannot be applied means a full fetch")
class _(QresyncBadEvolved):
    def edit(self, ln):
        return re.sub(rb"FLAGS \([^)]*\) ", b"", ln)


@sc("condstore-fetch-without-flags", rc="0", named="-", pre=PRE, flags="remove,must=Bad:10",
    doc="CONDSTORE path after a first sync, Bad is the evolved server's; the UID FETCH CHANGEDSINCE "
        "answers UID 3 (\\Seen toggled) with its UID and MODSEQ but no FLAGS: a change that cannot be "
        "applied means a full fetch")
class _(QresyncBadEvolved):
    caps_del = ["QRESYNC"]

    def fetch_one(self, c, f, seq, m, items, uidcmd):
        parts, body, bname = self.fetch_parts(c, f, seq, m, items, uidcmd)
        if is_bad(f) and m.uid == 3 and c.changedsince is not None:
            parts = [p for p in parts if not p.startswith(b"FLAGS")]
        c.send(self.fetch_bytes(seq, parts, body, bname))


@sc("condstore-unsolicited-modseq", rc="0", named="-", pre=PRE, flags="remove,must=Bad:10",
    doc="CONDSTORE path after a first sync, Bad is the evolved server's; amid the UID FETCH CHANGEDSINCE "
        "answer comes another client's change as Dovecot reports one of the MODSEQ alone (imap-sync.c "
        "imap_sync_send_modseq): UID and a MODSEQ above the HIGHESTMODSEQ EXAMINE gave, no FLAGS. The "
        "next run's CHANGEDSINCE reports it: no full fetch, which Bad refuses")
class _(QresyncBadEvolved):
    caps_del = ["QRESYNC"]

    def fetch_one(self, c, f, seq, m, items, uidcmd):
        Base.fetch_one(self, c, f, seq, m, items, uidcmd)
        if is_bad(f) and c.changedsince is not None and seq == 1:
            c.send(b"* 2 FETCH (UID %d MODSEQ (%d))\r\n" % (f.msgs[1].uid, f.hms + 1))

    def do_fetch(self, c, tag, args, uidcmd):
        if is_bad(c.sel) and args and args[0] == b"1:*" and not (len(args) > 2 and isinstance(args[2], list)):
            c.send(tag + b" NO full listing refused\r\n")
            return
        Base.do_fetch(self, c, tag, args, uidcmd)


# ---------------------------------------------------------------- manifest

LETTERS = {"\\draft": "D", "\\flagged": "F", "$forwarded": "P", "\\answered": "R", "\\seen": "S",
           "\\deleted": "T"}


def manifest(folders):
    """The exact mirror of these folders (simple names only), as t_hostile_matrix.sh's manifest()
    lists a mirror: "D <dir> <mode>" and "F <file> <sha256 of the LF form> <mtime> <mode>"."""
    import datetime
    import hashlib
    out = []
    for f in folders:
        n = f.name.decode()
        for d in (n, n + "/cur", n + "/new", n + "/tmp"):
            out.append(f"D {d} 700")
        for m in f.msgs:
            epoch = int(datetime.datetime.strptime(m.date, "%d-%b-%Y %H:%M:%S %z").timestamp())
            letters = "".join(sorted({LETTERS[x.lower()] for x in m.flags if x.lower() in LETTERS}))
            sha = hashlib.sha256(m.body.replace(b"\r\n", b"\n")).hexdigest()
            out.append(f"F {n}/cur/{epoch}.{f.uidvalidity}_{m.uid}.mailkeep,U={m.uid}:2,{letters} {sha} {epoch} 600")
    return sorted(out)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario")
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--lifetime", type=float, default=300)
    ap.add_argument("--cert-dir")
    ap.add_argument("--cert", help="serve <cert-dir>/CERT.pem and .key instead of the scenario's certificate")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--manifest", metavar="SERVER", help="print the exact mirror of baseline or evolved")
    a = ap.parse_args()
    if a.manifest:
        print("\n".join(manifest(HELPERS[a.manifest](None).make_folders())))
        return 0
    if a.list:
        for name, cls in SCENARIOS.items():
            m = cls.meta
            print("\t".join([name, m["rc"], m["named"], m["pre"], m["flags"] or "-", str(m["bound"]),
                             m["xfail"] or "-", m["doc"].replace("\t", " ").replace("\n", " ") or "-"]))
        return 0
    if not a.scenario or not a.port_file:
        ap.error("--scenario and --port-file are required")
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    Server(a).serve(a.port_file)
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
