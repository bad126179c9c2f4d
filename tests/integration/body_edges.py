#!/usr/bin/env python3
"""body_edges.py: nasty message contents for tests/integration/t_body_edges.sh, put on a real server
byte for byte (imaplib's APPEND rewrites line ends, so this speaks IMAP itself), and an oracle that
compares the mirror, and a pushed copy, with what the server returns.

  body_edges.py seed ENV [--user U]
      Creates the folders Edges, Sizes, Big, Flags, Dates, Kw and APPENDs the messages below.
  body_edges.py change ENV STEP
      Flag changes, keyword changes, expunges and new messages on alice (STEP 1 or 2).
  body_edges.py mirror ENV ACCT_DIR
      For every message of every folder of alice: the file <folder>/cur/*,U=<uid>:2,<letters> is
      exactly BODY[] with CRLF turned into LF, and that file with LF turned back into CRLF is BODY[]
      again (the rule push relies on); the letters are the sorted DFPRST of the flags; the mtime is
      the INTERNALDATE; files 0600, directories 0700; the keywords of the state's m line are the
      server's (case-insensitively, \\Recent never); no other message file.
  body_edges.py push ENV SRC_USER DST_USER
      Every folder of SRC_USER holds on DST_USER the same messages: a multiset of (BODY[], flags
      and keywords without \\Recent, INTERNALDATE). Dates before 1970: see true_date().
Exit 0 when everything holds; else each difference on stdout and exit 1.
"""
import hashlib
import os
import re
import shlex
import socket
import stat
import sys
import time

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
FLAG_LETTERS = {"\\draft": "D", "\\flagged": "F", "$forwarded": "P", "\\answered": "R", "\\seen": "S",
                "\\deleted": "T"}
FOLDERS = ["Edges", "Sizes", "Big", "Flags", "Dates", "Kw"]
H = b"From: Edge <edge@example.test>\r\nTo: x@example.test\r\nSubject: %s\r\nMessage-ID: <%s@edges.test>\r\n\r\n"


def load_env(path):
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                k, v = line.rstrip("\n").split("=", 1)
                parts = shlex.split(v)
                env[k] = parts[0] if parts else ""
    return env


def q(s):
    if isinstance(s, str):
        s = s.encode()
    return b'"' + s.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


class Raw:
    """A minimal IMAP client: synchronizing literals out, literals kept as bytes in."""

    def __init__(self, env, user):
        self.s = socket.create_connection((env["IMAP_HOST"], int(env["IMAP_PORT"])), timeout=120)
        self.buf = b""
        self.tag = 0
        self.readline()
        pw = env["IMAP_PASS"] if user == env["IMAP_USER"] else env["IMAP_PASS2"]
        self.cmd(b"LOGIN " + q(user) + b" " + q(pw))

    def fill(self):
        d = self.s.recv(1 << 20)
        if not d:
            raise EOFError("connection closed by the server")
        self.buf += d

    def readline(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i + 2], self.buf[i + 2:]
                return line
            self.fill()

    def readn(self, n):
        while len(self.buf) < n:
            self.fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def response(self):
        text, lits = b"", []
        while True:
            line = self.readline()
            text += line
            m = re.search(rb"\{(\d+)\}\r\n$", line)
            if not m:
                return text, lits
            lits.append(self.readn(int(m.group(1))))

    def cmd(self, c, literal=None, ok=True):
        self.tag += 1
        t = b"e%d" % self.tag
        self.s.sendall(t + b" " + c + b"\r\n")
        untagged = []
        while True:
            text, lits = self.response()
            if text.startswith(b"+"):
                self.s.sendall(literal + b"\r\n")
                continue
            if text.startswith(t + b" "):
                if ok and not text.startswith(t + b" OK"):
                    raise RuntimeError(f"{c[:80]!r}: {text!r}")
                return text, untagged
            untagged.append((text, lits))

    def append(self, box, flags, date, msg):
        c = b"APPEND " + q(box) + b" (" + flags.encode() + b")"
        if date:
            c += b' "' + date.encode() + b'"'
        c += b" {%d}" % len(msg)
        text, _ = self.cmd(c, msg)
        m = re.search(rb"APPENDUID \d+ (\d+)", text)
        return int(m.group(1))

    def folders(self):
        _, unt = self.cmd(b'LIST "" "*"')
        out = []
        for text, lits in unt:
            m = re.match(rb'^\* LIST \(([^)]*)\) (?:"[^"]*"|NIL) (.*)\r\n$', text)
            if not m or b"\\noselect" in m.group(1).lower():
                continue
            name = lits[0] if lits else m.group(2)
            if name.startswith(b'"'):
                name = name[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
            out.append(name.decode())
        return out

    def messages(self, box):
        """-> {uid: (flags list without \\Recent, internaldate epoch, body bytes)}"""
        self.cmd(b"EXAMINE " + q(box))
        _, unt = self.cmd(b"UID FETCH 1:* (UID FLAGS INTERNALDATE BODY.PEEK[])")
        out = {}
        for text, lits in unt:
            if b" FETCH " not in text:
                continue
            uid = int(re.search(rb"\bUID (\d+)", text).group(1))
            fl = re.search(rb"\bFLAGS \(([^)]*)\)", text).group(1).decode().split()
            dt = re.search(rb'\bINTERNALDATE "([^"]+)"', text).group(1).decode()
            out[uid] = ([f for f in fl if f.lower() != "\\recent"], parse_date(dt), lits[-1])
        return out

    def close(self):
        try:
            self.cmd(b"LOGOUT", ok=False)
        except Exception:
            pass
        self.s.close()


def parse_date(s):
    """IMAP date-time -> epoch, without the platform's time functions (any year)."""
    m = re.match(r"^ ?(\d{1,2})-(\w{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$", s)
    d, mon, y, hh, mm, ss, sign, zh, zm = m.groups()
    y, mo, d = int(y), MONTHS.index(mon) + 1, int(d)
    # days from civil (proleptic Gregorian)
    y2 = y - (mo <= 2)
    era = (y2 if y2 >= 0 else y2 - 399) // 400
    yoe = y2 - era * 400
    doy = (153 * (mo + (-3 if mo > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    off = (int(zh) * 3600 + int(zm) * 60) * (1 if sign == "+" else -1)
    return days * 86400 + int(hh) * 3600 + int(mm) * 60 + int(ss) - off


# ---------------------------------------------------------------- the messages

def crlf_at(boundary, total, tag):
    """A message of `total` bytes whose CRLF straddles offset `boundary` (CR at boundary-1)."""
    head = H % (b"crlf across %d in %d" % (boundary, total), tag.encode())
    body = bytearray(b"x" * (total - len(head)))
    for pos in range(len(head) + 75, total - 2, 77):
        body[pos - len(head):pos - len(head) + 2] = b"\r\n"
    i = boundary - 1 - len(head)
    if 0 <= i < len(body) - 1:
        body[i:i + 2] = b"\r\n"
    body[-2:] = b"\r\n"
    msg = head + bytes(body)
    assert len(msg) == total
    return msg


def edges():
    """[(name, flags, date, bytes)] for the folder Edges."""
    h = lambda name: H % (name.encode(), name.encode())  # noqa: E731
    imapish = (b"* 1 FETCH (UID 1 BODY[] {5}\r\nhello)\r\n" b"a1 OK done\r\n" b")\r\n" b"+ go ahead\r\n"
               b"{100}\r\n" b"* BYE\r\n" b"\r\n)\r\n" b"~{3}\r\n" b"e9 OK LOGOUT\r\n")
    return [
        ("lf-only", "", None, b"From: a@example.test\nSubject: lf only\n\nline 1\nline 2\n"),
        ("cr-only", "", None, b"From: a@example.test\rSubject: cr only\r\rline 1\rline 2\r"),
        ("mixed", "\\Seen", None, h("mixed") + b"crlf\r\nlf\ncrlf\r\nlf\n\n\r\nend\n"),
        ("cr-cr-lf", "", None, h("cr-cr-lf") + b"a\r\r\nb\r\r\n\r\r\n"),
        ("lf-cr", "", None, h("lf-cr") + b"a\n\rb\n\r\rc\r\n"),
        ("bare-cr-inside", "", None, h("bare-cr-inside") + b"a\rb\r\nc\r\rd\r\n\r"),
        ("nul", "", None, h("nul") + b"a\x00b\r\n\x00\r\n\x00"),
        ("8bit-header", "\\Seen", None,
         b"From: J\xc3\xb6rg \xff\xfe <j@example.test>\r\nSubject: \xe4\xf6\xfc \x80\x81 \xc3\r\n"
         b"X-Raw: \x01\x02\x1b[31m\x7f\r\n\r\nbody \xe9\xff\r\n"),
        ("no-trailing-newline", "", None, h("no-trailing-newline") + b"last line without newline"),
        ("single-byte", "", None, b"x"),
        ("single-newline", "", None, b"\r\n"),
        ("header-only", "", None, b"Subject: only a header\r\n"),
        ("header-no-newline", "", None, b"Subject: only a header, no newline"),
        ("header-then-blank", "", None, b"Subject: header and a blank line\r\n\r\n"),
        ("long-line-1MB", "", None, h("long-line-1MB") + b"y" * (1 << 20)),
        ("long-header-100k", "", None, b"Subject: " + b"z" * 100000 + b"\r\nFrom: a@example.test\r\n\r\nbody\r\n"),
        ("imap-lookalike", "\\Flagged", None, h("imap-lookalike") + imapish),
        ("imap-lookalike-end", "", None, h("imap-lookalike-end") + b"body\r\n)\r\n"),
        ("mbox-from", "", None,
         b"From someone@example.test Mon Jan  1 00:00:00 2024\r\nFrom: a@example.test\r\nSubject: mbox\r\n\r\n"
         b"From the start of a line\r\n>From quoted\r\n\r\nFrom \r\nFrom\r\n"),
        ("dot-lines", "", None, h("dot-lines") + b".\r\n..\r\n.\r\n\r\n.\r\n"),
        ("only-crlfs", "", None, b"\r\n\r\n\r\n\r\n"),
        ("trailing-cr-crlf", "", None, h("trailing-cr-crlf") + b"end\r\r\n"),
    ]


def sizes():
    out = []
    for n in (4095, 4096, 4097, 8192, 16384, 65534, 65535, 65536, 65537, 65538, 131072, 131073):
        out.append((f"size-{n}", "", None, crlf_at(n, n, f"size-{n}")))
    for b in (4096, 8192, 16384, 32768, 65536, 131072, 262144):
        out.append((f"split-{b}", "", None, crlf_at(b, b + 4096 + 1, f"split-{b}")))
    # a CR at a boundary that is not followed by LF
    m = bytearray(crlf_at(65536, 70000, "bare-cr-65536"))
    m[65535:65537] = b"\rq"
    out.append(("bare-cr-65536", "", None, bytes(m)))
    return out


def big():
    line = b"0123456789" * 7 + b"abcdefg\r\n"
    n = (20 << 20) // len(line)
    return [("big-20MB", "\\Seen", None, H % (b"twenty megabytes", b"big20") + line * n)]


def flags():
    names = ["\\Draft", "\\Flagged", "$Forwarded", "\\Answered", "\\Seen", "\\Deleted"]
    out = []
    for mask in range(64):
        fl = " ".join(names[i] for i in range(6) if mask & (1 << i))
        out.append((f"flags-{mask}", fl, None, H % (b"flags %d" % mask, b"flags%d" % mask) + b"body\r\n"))
    return out


def dates():
    ds = ["01-Jan-1970 00:00:00 +0000", "01-Jan-1970 10:00:00 +1000", "15-Jun-2023 12:00:00 -1200",
          "15-Jun-2023 12:00:00 +1400", "15-Jun-2023 12:00:00 +0530", " 5-Feb-2024 01:02:03 -0930",
          "29-Feb-2024 23:59:59 +0000", "31-Dec-1999 23:59:60 +0000", "19-Jan-2038 03:14:07 +0000",
          # before 1970: Dovecot keeps INTERNALDATE as an unsigned 32-bit number, so these come back
          # from the server as dates after 2038 (1960 -> 2096): files dated after 2038
          "01-Jan-1960 00:00:00 +0000", "01-Jan-1969 00:00:00 +0000"]
    return [(f"date-{i}", "", d, H % (b"date " + d.encode(), b"date%d" % i) + b"dated\r\n")
            for i, d in enumerate(ds)]


KEYWORDS = ["$Label1", "foo.bar", "a+b", "~x", "!#&'", "[x", "a[b", "$MDNSent", "Ab-_=;:<>?@^`|",
            "/slash", ",comma", "a:2,S", "x" * 50, "MixedCase", "$Forwarded", "$Junk", "NonJunk"]


def kw():
    out = [(f"kw-{i}", k, None, H % (b"keyword " + k.encode(), b"kw%d" % i) + b"body\r\n")
           for i, k in enumerate(KEYWORDS)]
    out.append(("kw-all", "\\Seen " + " ".join(KEYWORDS), None, H % (b"all keywords", b"kwall") + b"body\r\n"))
    many = " ".join(f"kw{i:02d}" for i in range(50))
    out.append(("kw-50", "\\Flagged " + many, None, H % (b"fifty keywords", b"kw50") + b"body\r\n"))
    return out


CONTENT = {"Edges": edges, "Sizes": sizes, "Big": big, "Flags": flags, "Dates": dates, "Kw": kw}


def cmd_seed(env, user):
    c = Raw(env, user)
    for box in FOLDERS:
        c.cmd(b"CREATE " + q(box), ok=False)
        for name, fl, date, msg in CONTENT[box]():
            c.append(box, fl, date, msg)
    c.close()


def cmd_change(env, step):
    c = Raw(env, env["IMAP_USER"])
    if step == "1":
        c.cmd(b"SELECT Edges")
        c.cmd(b"UID STORE 1:5 +FLAGS (\\Seen [y)")
        c.cmd(b"UID STORE 3 -FLAGS (\\Seen)")
        c.cmd(b"UID STORE 7 +FLAGS (\\Answered \\Draft $Forwarded)")
        c.cmd(b"UID STORE 15 FLAGS (\\Deleted)")
        c.cmd(b"UID EXPUNGE 15")  # the 1 MB line
        c.cmd(b"UID STORE 17,20 +FLAGS (\\Deleted \\Flagged)")
        c.cmd(b"UID EXPUNGE 20")
        c.cmd(b"SELECT Sizes")
        c.cmd(b"UID STORE 7 +FLAGS (\\Deleted)")
        c.cmd(b"UID EXPUNGE 7")  # the 65535 bytes one
        c.cmd(b"UID STORE 8:10 +FLAGS (\\Flagged a[b)")
        c.cmd(b"SELECT Flags")
        c.cmd(b"UID STORE 1:64 FLAGS (\\Seen)")
        c.cmd(b"UID STORE 64 -FLAGS (\\Seen)")
        c.cmd(b"SELECT Kw")
        c.cmd(b"UID STORE 1:3 -FLAGS ($Label1 foo.bar a+b)")
        c.cmd(b"UID STORE 6 +FLAGS (\\Seen)")
        c.cmd(b"UID STORE 18 -FLAGS ([x a[b)")
        c.append("Edges", "\\Seen [z", None, H % (b"new after change", b"new1") + b"new\rbody\r\n\r")
    else:
        c.cmd(b"SELECT Flags")
        c.cmd(b"UID STORE 1:64 -FLAGS (\\Seen)")
        c.cmd(b"UID STORE 1:32 +FLAGS (\\Draft \\Deleted)")
        c.cmd(b"SELECT Edges")
        c.cmd(b"UID STORE 1:* +FLAGS (\\Answered)")
        c.cmd(b"UID STORE 1:* -FLAGS ([y)")
        c.append("Sizes", "", None, crlf_at(65536, 65537, "late-65537"))
    c.close()


# ---------------------------------------------------------------- the oracles

def true_date(d):
    """Dovecot keeps INTERNALDATE in its index as an unsigned 32-bit number: a date before 1970 is
    sent as it is by the first FETCH that reads it from the file, later as that number (1960 ->
    2096). A date more than a day ahead is such a number: the real one is 2^32 earlier (the
    server never takes a date in the future: APPEND makes it "now")."""
    return d - (1 << 32) if d > time.time() + 86400 else d


def letters(fl):
    return "".join(sorted({FLAG_LETTERS[f.lower()] for f in fl if f.lower() in FLAG_LETTERS}))


def keywords(fl):
    return sorted(f.lower() for f in fl if not f.startswith("\\") and f.lower() not in FLAG_LETTERS)


def state_keywords(path):
    out = {}
    try:
        lines = open(path, "rb").read().decode("utf-8", "surrogateescape").split("\n")
    except OSError:
        return None
    for ln in lines:
        if ln.startswith("m "):
            p = ln.split(" ")
            out[int(p[1])] = sorted(k.lower() for k in p[4:] if k)  # m uid letters date kw...
    return out


def cmd_mirror(env, acct):
    diffs = []
    c = Raw(env, env["IMAP_USER"])
    for box in c.folders():
        fdir = os.path.join(acct, box)
        msgs = c.messages(box)
        if not os.path.isdir(os.path.join(fdir, "cur")):
            diffs.append(f"{box}: no {fdir}/cur")
            continue
        for d in (fdir, *(os.path.join(fdir, s) for s in ("cur", "new", "tmp"))):
            if stat.S_IMODE(os.stat(d).st_mode) != 0o700:
                diffs.append(f"{d}: mode {stat.S_IMODE(os.stat(d).st_mode):o}")
        files = {}
        for sub in ("cur", "new"):
            for f in os.listdir(os.path.join(fdir, sub)):
                m = re.search(r",U=(\d+):2,([A-Za-z]*)$", f)
                if not m:
                    diffs.append(f"{box}: unexpected file {sub}/{f}")
                    continue
                files.setdefault(int(m.group(1)), []).append((sub, f, m.group(2)))
        skw = state_keywords(os.path.join(fdir, ".mailkeep-state")) or {}
        for uid in sorted(set(msgs) | set(files)):
            where = f"{box} UID {uid}"
            if uid not in files:
                diffs.append(f"{where}: no file")
                continue
            if uid not in msgs:
                diffs.append(f"{where}: file {files[uid]} for a message the server does not have")
                continue
            if len(files[uid]) != 1:
                diffs.append(f"{where}: {len(files[uid])} files")
                continue
            sub, name, lt = files[uid][0]
            fl, date, body = msgs[uid]
            path = os.path.join(fdir, sub, name)
            data = open(path, "rb").read()
            st = os.stat(path)
            want = body.replace(b"\r\n", b"\n")
            if data != want:
                i = next((k for k in range(min(len(data), len(want))) if data[k] != want[k]),
                         min(len(data), len(want)))
                diffs.append(f"{where}: {len(data)} bytes, expected {len(want)}; first difference at {i}: "
                             f"{data[max(0, i - 8):i + 8]!r} vs {want[max(0, i - 8):i + 8]!r}")
            elif data.replace(b"\n", b"\r\n") != body:
                diffs.append(f"{where}: LF -> CRLF of the file is not the server's BODY[] (push would differ)")
            if sub != "cur":
                diffs.append(f"{where}: in {sub}/")
            if lt != letters(fl):
                diffs.append(f"{where}: letters {lt!r}, flags {fl} want {letters(fl)!r}")
            # the name carries the INTERNALDATE, 0 for one before 1970 (never a leading '-')
            if not any(name.startswith(f"{max(d, 0)}.") for d in (date, true_date(date))):
                diffs.append(f"{where}: name {name} does not start with the INTERNALDATE {date}")
            if st.st_mtime_ns not in (date * 10**9, true_date(date) * 10**9):
                diffs.append(f"{where}: mtime {st.st_mtime_ns / 1e9:.0f}, INTERNALDATE {date}")
            if stat.S_IMODE(st.st_mode) != 0o600:
                diffs.append(f"{where}: mode {stat.S_IMODE(st.st_mode):o}")
            if skw.get(uid, []) != keywords(fl):
                diffs.append(f"{where}: state keywords {skw.get(uid)}, server {keywords(fl)}")
    c.close()
    return diffs


def cmd_push(env, src, dst):
    diffs = []
    a, b = Raw(env, src), Raw(env, dst)
    dst_folders = set(b.folders())
    for box in a.folders():
        if box not in dst_folders:
            diffs.append(f"{box}: missing on {dst}")
            continue
        want, got = [], []
        for msgs, out in ((a.messages(box), want), (b.messages(box), got)):
            for fl, date, body in msgs.values():
                out.append((hashlib.sha256(body).hexdigest()[:16], len(body),
                            true_date(date),
                            " ".join(sorted(f.lower() for f in fl))))
        for x in sorted(set(want) | set(got)):
            nw, ng = want.count(x), got.count(x)
            if nw != ng:
                diffs.append(f"{box}: (sha {x[0]}, {x[1]} bytes, date {x[2]}, flags {x[3]!r}): "
                             f"{nw} on {src}, {ng} on {dst}")
    a.close()
    b.close()
    return diffs


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    sub, env = argv[1], load_env(argv[2])
    if sub == "seed":
        cmd_seed(env, argv[4] if len(argv) > 4 and argv[3] == "--user" else env["IMAP_USER"])
        return 0
    if sub == "change":
        cmd_change(env, argv[3])
        return 0
    if sub == "mirror":
        diffs = cmd_mirror(env, argv[3])
    elif sub == "push":
        diffs = cmd_push(env, argv[3], argv[4])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for d in diffs[:40]:
        print(d)
    if len(diffs) > 40:
        print(f"... {len(diffs) - 40} more")
    if not diffs:
        print(f"body_edges.py {sub}: no difference")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
