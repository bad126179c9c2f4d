#!/usr/bin/env python3
"""compare.py ROOT/NAME --host H --port P --user U --password-file F [--tls [implicit|starttls|none]]
              [--cafile CA] [--folders-excluded F ...] [--ignore-local PATH ...] [--allow-extra-uids]
              [--dump-state FILE] [--keywords] [--uidvalidity-varies PATH ...]

The oracle of the mailkeep integration tests. Logs in with imaplib and checks that the mirror of
one account (ROOT/NAME) is EXACT for every selectable folder on the server:
  - the folder maps to <ROOT/NAME>/<escaped decoded path>/ with cur/ new/ tmp/;
  - the set of UIDs (U= in the file names) equals the server's, each UID exactly once;
  - each file is named <INTERNALDATE epoch>.<UIDVALIDITY>_<uid>.mailkeep,U=<uid>:2,<flags>
    with flags the sorted subset of DFPRST mapped from the server's flags (keywords ignored);
  - the bytes equal BODY.PEEK[] with CRLF turned into LF; mtime == INTERNALDATE;
  - files are 0600 and directories 0700, new/ and tmp/ are empty, nothing else is there.
Read-only on the server: EXAMINE, STATUS and BODY.PEEK only.

--folders-excluded F   server folder (decoded, '/' as separator) not to check; it must be absent locally
--ignore-local PATH    local folder path (relative to ROOT/NAME, as on disk) to leave alone with all
                       below it, e.g. a folder kept after the server deleted it
--allow-extra-uids     files for UIDs the server no longer has are allowed (deletions: keep); they must
                       still be well-formed
--partial              an interrupted run: folders and UIDs may be missing, tmp/ may hold files and
                       flags may be stale, but every message file present must have the right
                       content, date and mode, and no UID may appear twice
--keywords             also check each message's keywords (its line in the folder's .mailkeep-state)
                       against the server's FLAGS (everything but system flags and $Forwarded)
--uidvalidity-varies PATH
                       local folder path (as for --ignore-local) whose UIDVALIDITY the server changes
                       in every session (Courier's folder no client SELECTed): the names must carry
                       one UIDVALIDITY, the state's, not this session's; the rest is checked by UID
--dump-state FILE      only write the server's state (folders, UIDVALIDITY, UIDs, flags, HIGHESTMODSEQ)
                       as JSON to FILE and exit 0; two dumps compare equal when nothing changed
Exit 0 when exact, else print each difference and exit 1 (2 on a usage or connection error).
"""
import argparse
import base64
import datetime
import imaplib
import json
import os
import time
import re
import ssl
import stat
import sys

FLAG_MAP = {"\\draft": "D", "\\flagged": "F", "$forwarded": "P", "\\answered": "R", "\\seen": "S",
            "\\deleted": "T"}
NAME_RE = re.compile(r"^(-?\d+)\.(\d+)_(\d+)\.mailkeep,U=(\d+):2,([A-Z]*)$")
STATE_FILE = ".mailkeep-state"
MAX_REPORT = 40


# ---------------------------------------------------------------- names

def mutf7_decode(s):
    """RFC 3501 modified UTF-7 -> str. Raises ValueError on malformed input."""
    out = []
    i = 0
    while i < len(s):
        ch = s[i]
        if ch != "&":
            # control characters are not valid modified UTF-7 but pass through (then get escaped)
            if ord(ch) > 0x7E:
                raise ValueError(f"non-ASCII character in modified UTF-7 name {s!r}")
            out.append(ch)
            i += 1
            continue
        j = s.find("-", i + 1)
        if j < 0:
            raise ValueError(f"unterminated shift in {s!r}")
        chunk = s[i + 1:j]
        if chunk == "":
            out.append("&")
        else:
            b64 = chunk.replace(",", "/")
            b64 += "=" * (-len(b64) % 4)
            raw = base64.b64decode(b64, validate=True)
            if len(raw) % 2:
                raise ValueError(f"odd UTF-16 length in {s!r}")
            out.append(raw.decode("utf-16-be"))
        i = j + 1
    return "".join(out)


def mutf7_encode(s):
    out = []
    pending = []

    def flush():
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in s:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def escape_component(c):
    """One hierarchy level of a decoded folder name -> one safe path component (the contract)."""
    if c == "":
        return "%"
    out = []
    for i, ch in enumerate(c):
        o = ord(ch)
        if ch == "%":
            out.append("%25")
        elif ch == "/":
            out.append("%2F")
        elif o < 0x20 or o == 0x7F:
            out.append(f"%{o:02X}")
        elif i == 0 and ch == ".":
            out.append("%2E")
        else:
            out.append(ch)
    s = "".join(out)
    if c.lower() in ("cur", "new", "tmp"):
        s = f"%{ord(c[0]):02X}" + c[1:]
    return s


def split_name(decoded, delim):
    parts = decoded.split(delim) if delim else [decoded]
    if parts[0].upper() == "INBOX":
        parts[0] = "INBOX"
    return parts


def local_path(decoded, delim):
    return "/".join(escape_component(p) for p in split_name(decoded, delim))


def config_name(decoded, delim):
    """The folder name as the config sees it: decoded, '/' as separator."""
    parts = split_name(decoded, delim)
    return "/".join(parts)


# ---------------------------------------------------------------- IMAP

def imap_quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Tok:
    """Tiny tokenizer for LIST lines: atoms, quoted strings, NIL, parenthesized lists, literals."""

    def __init__(self, text, literals):
        self.t = text
        self.i = 0
        self.lits = list(literals)

    def ws(self):
        while self.i < len(self.t) and self.t[self.i:self.i + 1] == b" ":
            self.i += 1

    def item(self):
        self.ws()
        t = self.t
        if self.i >= len(t):
            raise ValueError("unexpected end of LIST line")
        c = t[self.i:self.i + 1]
        if c == b"(":
            self.i += 1
            items = []
            while True:
                self.ws()
                if t[self.i:self.i + 1] == b")":
                    self.i += 1
                    return items
                items.append(self.item())
        if c == b'"':
            self.i += 1
            out = bytearray()
            while self.i < len(t):
                ch = t[self.i:self.i + 1]
                if ch == b"\\":
                    out += t[self.i + 1:self.i + 2]
                    self.i += 2
                elif ch == b'"':
                    self.i += 1
                    return bytes(out)
                else:
                    out += ch
                    self.i += 1
            raise ValueError("unterminated quoted string")
        m = re.compile(rb"\{(\d+)\+?\}$").match(t, self.i)
        if c == b"{" and m:
            self.i = m.end()
            return self.lits.pop(0)
        j = self.i
        while j < len(t) and t[j:j + 1] not in (b" ", b"(", b")"):
            j += 1
        atom = t[self.i:j]
        self.i = j
        return None if atom.upper() == b"NIL" else atom


def parse_list(data):
    """imaplib LIST data -> [(flags lower-case set, delim str or None, name str)]."""
    out = []
    for d in data:
        if d is None or d == b"" or d == b")":
            continue  # b"" is what imaplib leaves after a literal that ends the line
        if isinstance(d, tuple):
            text, lits = d[0], [d[1]]
        else:
            text, lits = d, []
        tk = Tok(text, lits)
        flags = tk.item()
        delim = tk.item()
        name = tk.item()
        out.append(({f.decode().lower() for f in flags}, delim.decode() if delim else None,
                    name.decode("utf-8", "surrogateescape")))
    return out


def group_fetch(data):
    """imaplib FETCH data -> [(meta bytes without literals, [literals])] per message."""
    out = []
    cur = None
    for d in data:
        if d is None:
            continue
        if isinstance(d, tuple):
            head, lit = d
            if cur is not None and not re.match(rb"^\d+ \(", head):
                cur[0].append(head)
                cur[1].append(lit)
            else:
                cur = ([head], [lit])
                out.append(cur)
        else:
            if re.match(rb"^\d+ \(", d):
                cur = ([d], [])
                out.append(cur)
            elif cur is not None:
                cur[0].append(d)
    return [(b" ".join(m), lits) for m, lits in out]


def parse_internaldate(s):
    dt = datetime.datetime.strptime(s.strip(), "%d-%b-%Y %H:%M:%S %z")
    return int(dt.timestamp())


def flags_suffix(flags):
    return "".join(sorted({FLAG_MAP[f.lower()] for f in flags if f.lower() in FLAG_MAP}))


class Server:
    def __init__(self, a):
        self.a = a
        with open(a.password_file, encoding="utf-8") as f:
            password = f.readline().rstrip("\r\n")
        tls = a.tls or "none"
        ctx = None
        if tls != "none":
            ctx = ssl.create_default_context(cafile=a.cafile) if a.cafile else ssl.create_default_context()
        if tls == "implicit":
            self.c = imaplib.IMAP4_SSL(a.host, a.port, ssl_context=ctx, timeout=120)
        else:
            self.c = imaplib.IMAP4(a.host, a.port, timeout=120)
            if tls == "starttls":
                self.c.starttls(ssl_context=ctx)
        if "AUTH=PLAIN" not in self.c.capabilities and "AUTH=CRAM-MD5" in self.c.capabilities:
            self.c.login_cram_md5(a.user, password)  # a fixture started with --auth-mechanisms
        elif "AUTH=PLAIN" not in self.c.capabilities and "AUTH=LOGIN" in self.c.capabilities:
            answers = iter([a.user, password])
            self.c.authenticate("LOGIN", lambda _challenge: next(answers).encode())
        else:
            self.c.login(a.user, password)
        typ, data = self.c.capability()
        words = b" ".join(d for d in data if d).decode("ascii", "replace").split()
        self.caps = {x.upper() for x in words} | {x.upper() for x in self.c.capabilities}

    def ok(self, typ, data, what):
        if typ != "OK":
            raise imaplib.IMAP4.error(f"{what}: {typ} {data}")
        return data

    def folders(self):
        data = self.ok(*self.c.list('""', "*"), "LIST")
        return parse_list(data)

    def examine(self, name):
        typ, data = self.c.select(imap_quote(name), readonly=True)
        self.ok(typ, data, f"EXAMINE {name}")
        uv = self.c.untagged_responses.get("UIDVALIDITY", [None])[-1]
        if uv is None:
            raise imaplib.IMAP4.error(f"EXAMINE {name}: no UIDVALIDITY")
        return int(uv)

    def meta(self):
        """-> {uid: (flags list, epoch)} for the selected folder."""
        typ, data = self.c.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE)")
        self.ok(typ, data, "UID FETCH meta")
        out = {}
        for m, _ in group_fetch(data):
            u = re.search(rb"\bUID (\d+)", m)
            fl = re.search(rb"\bFLAGS \(([^)]*)\)", m)
            dt = re.search(rb'\bINTERNALDATE "([^"]+)"', m)
            if not (u and fl and dt):
                continue
            flags = [f for f in fl.group(1).decode().split() if f.lower() != "\\recent"]
            out[int(u.group(1))] = (flags, parse_internaldate(dt.group(1).decode()))
        return out

    def bodies(self, uids):
        """Yield (uid, bytes) for the UIDs, in batches."""
        uids = sorted(uids)
        for i in range(0, len(uids), 25):
            batch = uids[i:i + 25]
            typ, data = self.c.uid("FETCH", ",".join(map(str, batch)), "(UID BODY.PEEK[])")
            self.ok(typ, data, "UID FETCH BODY.PEEK[]")
            for m, lits in group_fetch(data):
                u = re.search(rb"\bUID (\d+)", m)
                if u and lits:
                    yield int(u.group(1)), lits[0]

    def highestmodseq(self, name):
        if "CONDSTORE" not in self.caps:
            return None
        typ, data = self.c.status(imap_quote(name), "(HIGHESTMODSEQ UIDNEXT MESSAGES)")
        self.ok(typ, data, f"STATUS {name}")
        m = re.search(rb"HIGHESTMODSEQ (\d+)", data[0] or b"")
        return int(m.group(1)) if m else None

    def close(self):
        try:
            self.c.logout()
        except Exception:
            pass


# ---------------------------------------------------------------- comparison

class Diffs:
    def __init__(self):
        self.items = []

    def add(self, where, msg):
        self.items.append(f"{where}: {msg}")


def check_mode(diffs, path, want, what):
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        diffs.add(path, f"is a symlink, expected a {what}")
        return None
    mode = stat.S_IMODE(st.st_mode)
    if mode != want:
        diffs.add(path, f"mode {mode:04o}, expected {want:04o}")
    return st


def check_trusted_state(st_path, fdir, where, diffs):
    """A version 2 state that mailkeep would take the folder's files from (every message dated,
    dirmtime equal to the change times of cur/ and new/, listed within a day) must name files that are
    all in cur/, with new/ empty (docs/design.md, "Reading a folder without listing it"). Holds after
    any run, even an interrupted one."""
    try:
        lines = open(st_path, encoding="utf-8", errors="replace").read().split("\n")
    except OSError:
        return
    if not lines or lines[0] != "mailkeep-state 2":
        return
    hdr, msgs = {}, []
    for ln in lines[1:]:
        if ln.startswith("m "):
            parts = ln.split(" ")
            if len(parts) < 4:
                diffs.add(where, f"state line {ln!r} has no date field")
                return
            msgs.append(parts)
        elif " " in ln:
            k, _, v = ln.partition(" ")
            hdr[k] = v
    try:
        uv = int(hdr.get("uidvalidity", "0"))
        cur_ns, new_ns = (int(x) for x in hdr.get("dirmtime", "0 0").split())
        listed = int(hdr.get("listed", "0"))
    except ValueError:
        diffs.add(where, f"state header unreadable: {hdr}")
        return
    if not uv or not cur_ns or listed <= 0 or time.time() - listed >= 86400 or \
            any(p[3] == "-" for p in msgs):
        return
    try:
        if os.stat(os.path.join(fdir, "cur")).st_ctime_ns != cur_ns or \
                os.stat(os.path.join(fdir, "new")).st_ctime_ns != new_ns:
            return
    except OSError:
        return
    named = set()
    for p in msgs:
        letters = "" if p[2] == "-" else p[2]
        named.add(f"{p[3]}.{uv}_{p[1]}.mailkeep,U={p[1]}:2,{letters}")
    on_disk = set(os.listdir(os.path.join(fdir, "cur")))
    for f in sorted(named - on_disk):
        diffs.add(where, f"trusted state names {f}, which is not in cur/")
    if os.listdir(os.path.join(fdir, "new")):
        diffs.add(where, "trusted state, but new/ is not empty")


def check_keywords(st_path, meta, where, diffs):
    """The state's keywords ("m UID LETTERS DATE [KEYWORD ...]") are the server's, per UID."""
    have = {}
    try:
        for ln in open(st_path, encoding="utf-8", errors="replace").read().split("\n"):
            parts = ln.split(" ")
            if parts[0] == "m" and len(parts) >= 4 and parts[1].isdigit():
                have[int(parts[1])] = sorted(parts[4:])
    except OSError as e:
        diffs.add(where, f"state unreadable for --keywords: {e}")
        return
    for uid, (flags, _) in sorted(meta.items()):
        want = sorted(f for f in flags if not f.startswith("\\") and f.lower() != "$forwarded")
        if uid not in have:
            diffs.add(where, f"UID {uid}: no line in the state")
        elif have[uid] != want:
            diffs.add(where, f"UID {uid}: keywords {have[uid]} in the state, server has {want}")


def state_uv(fdir):
    """The UIDVALIDITY the folder's state records (0: none)."""
    try:
        with open(os.path.join(fdir, STATE_FILE), encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("uidvalidity "):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def compare_folder(srv, name, lpath, acct, a, diffs):
    where = f"folder {lpath!r}"
    uv = srv.examine(name)
    meta = srv.meta()
    fdir = os.path.join(acct, lpath)
    if not os.path.isdir(fdir):
        if not a.partial:
            diffs.add(where, f"missing directory {fdir}")
        return
    for sub in ("cur", "new", "tmp"):
        p = os.path.join(fdir, sub)
        if not os.path.isdir(p) or os.path.islink(p):
            if not a.partial:
                diffs.add(where, f"missing {sub}/")
            continue
        check_mode(diffs, p, 0o700, "directory")
    for sub in ("new",) if a.partial else ("new", "tmp"):
        p = os.path.join(fdir, sub)
        if os.path.isdir(p):
            for f in sorted(os.listdir(p)):
                diffs.add(where, f"file left in {sub}/: {f}")
    st_path = os.path.join(fdir, STATE_FILE)
    if os.path.lexists(st_path):
        check_mode(diffs, st_path, 0o600, "file")
        check_trusted_state(st_path, fdir, where, diffs)

    local = {}  # uid -> [file names]
    cur = os.path.join(fdir, "cur")
    names = sorted(os.listdir(cur)) if os.path.isdir(cur) else []
    for f in names:
        m = NAME_RE.match(f)
        if not m:
            diffs.add(where, f"unexpected file in cur/: {f!r}")
            continue
        if m.group(3) != m.group(4):
            diffs.add(where, f"{f}: UID {m.group(3)} in the name but U={m.group(4)}")
        local.setdefault(int(m.group(4)), []).append(f)
    for uid, fs in sorted(local.items()):
        if len(fs) > 1:
            diffs.add(where, f"UID {uid} present {len(fs)} times: {fs}")

    server_uids = set(meta)
    local_uids = set(local)
    for uid in sorted(server_uids - local_uids):
        if not a.partial:
            diffs.add(where, f"UID {uid} missing locally")
    extra = local_uids - server_uids
    if extra and not (a.allow_extra_uids or a.partial):
        for uid in sorted(extra):
            diffs.add(where, f"UID {uid} not on the server: {local[uid]}")

    for uid in sorted(local_uids):
        for f in local[uid]:
            p = os.path.join(cur, f)
            st = check_mode(diffs, p, 0o600, "file")
            if st is not None and not stat.S_ISREG(st.st_mode):
                diffs.add(where, f"{f}: not a regular file")
            m = NAME_RE.match(f)
            if uid not in meta:
                # kept after an expunge (deletions: keep): still one of this UIDVALIDITY? not required
                if st is not None and int(m.group(1)) != int(st.st_mtime):
                    diffs.add(where, f"{f}: mtime {int(st.st_mtime)} but the name says {m.group(1)}")
                continue
            flags, epoch = meta[uid]
            if int(m.group(1)) != epoch:
                diffs.add(where, f"{f}: date {m.group(1)} in the name, INTERNALDATE is {epoch}")
            if lpath in a.uidvalidity_varies:
                if int(m.group(2)) != state_uv(fdir):
                    diffs.add(where, f"{f}: UIDVALIDITY {m.group(2)} in the name, the state has {state_uv(fdir)}")
            elif int(m.group(2)) != uv:
                diffs.add(where, f"{f}: UIDVALIDITY {m.group(2)} in the name, server has {uv}")
            want = flags_suffix(flags)
            if m.group(5) != want and not a.partial:
                diffs.add(where, f"{f}: flags {m.group(5)!r}, server has {want!r} ({' '.join(flags)})")
            if st is not None and int(st.st_mtime) != epoch:
                diffs.add(where, f"{f}: mtime {int(st.st_mtime)}, INTERNALDATE is {epoch}")

    if a.keywords and not a.partial:
        check_keywords(st_path, meta, where, diffs)

    want_bodies = sorted(u for u in server_uids & local_uids)
    got = set()
    for uid, body in srv.bodies(want_bodies):
        got.add(uid)
        expect = body.replace(b"\r\n", b"\n")
        for f in local[uid]:
            try:
                with open(os.path.join(cur, f), "rb") as fh:
                    data = fh.read()
            except OSError as e:
                diffs.add(where, f"{f}: {e}")
                continue
            if data != expect:
                i = next((k for k in range(min(len(data), len(expect))) if data[k] != expect[k]),
                         min(len(data), len(expect)))
                diffs.add(where, f"{f}: content differs (local {len(data)} bytes, server {len(expect)}"
                                 f" after CRLF->LF, first difference at byte {i})")
    for uid in sorted(set(want_bodies) - got):
        diffs.add(where, f"UID {uid}: the server returned no body")


def walk_local(acct, expected, ignored, diffs, partial=False):
    """Everything under acct that is not an expected folder, an ancestor of one, or ignored."""
    ancestors = set()
    for p in expected | ignored:
        parts = p.split("/")
        for i in range(1, len(parts)):
            ancestors.add("/".join(parts[:i]))
    check_mode(diffs, acct, 0o700, "directory")

    def visit(rel):
        d = os.path.join(acct, rel) if rel else acct
        for e in sorted(os.listdir(d)):
            r = f"{rel}/{e}" if rel else e
            p = os.path.join(d, e)
            if rel == "" and e == ".mailkeep":
                continue
            if r in ignored:
                continue
            is_dir = os.path.isdir(p) and not os.path.islink(p)
            if rel in expected and e in ("cur", "new", "tmp", STATE_FILE):
                continue
            if partial and e.startswith(STATE_FILE):
                continue  # an interrupted run may leave its state file's temporary copy
            if is_dir and (r in expected or r in ancestors):
                if r not in expected:
                    check_mode(diffs, p, 0o700, "directory")
                    if any(os.path.isdir(os.path.join(p, s)) for s in ("cur", "new", "tmp")):
                        diffs.add(f"folder {r!r}", "has cur/new/tmp but is not a mirrored folder")
                else:
                    check_mode(diffs, p, 0o700, "directory")
                visit(r)
                continue
            diffs.add(f"path {r!r}", "extra " + ("directory" if is_dir else "file") + " (no such folder on the server)")

    visit("")


def dump_state(srv, folders, path):
    state = {"capabilities": sorted(srv.caps & {"CONDSTORE", "QRESYNC"}), "folders": {}}
    for flags, delim, name in sorted(folders, key=lambda x: x[2]):
        if "\\noselect" in flags or "\\nonexistent" in flags:
            state["folders"][name] = {"selectable": False}
            continue
        uv = srv.examine(name)
        meta = srv.meta()
        state["folders"][name] = {
            "uidvalidity": uv,
            "highestmodseq": srv.highestmodseq(name),
            "messages": {str(u): [sorted(f.lower() for f in fl), ep] for u, (fl, ep) in sorted(meta.items())},
        }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(state, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("acct", help="ROOT/NAME")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-file", required=True)
    ap.add_argument("--tls", nargs="?", const="implicit", choices=["implicit", "starttls", "none"])
    ap.add_argument("--cafile")
    ap.add_argument("--folders-excluded", nargs="*", default=[])
    ap.add_argument("--ignore-local", nargs="*", default=[])
    ap.add_argument("--allow-extra-uids", action="store_true")
    ap.add_argument("--partial", action="store_true")
    ap.add_argument("--dump-state")
    ap.add_argument("--keywords", action="store_true")
    ap.add_argument("--uidvalidity-varies", nargs="*", default=[])
    a = ap.parse_args()

    try:
        srv = Server(a)
    except (OSError, imaplib.IMAP4.error, ssl.SSLError) as e:
        print(f"compare.py: cannot log in to {a.host}:{a.port}: {e}", file=sys.stderr)
        return 2
    diffs = Diffs()
    try:
        folders = srv.folders()
        if a.dump_state:
            dump_state(srv, folders, a.dump_state)
            return 0
        if not os.path.isdir(a.acct):
            print(f"compare.py: {a.acct}: no such directory", file=sys.stderr)
            return 1
        excluded = set(a.folders_excluded)
        ignored = {p.strip("/") for p in a.ignore_local}
        expected = set()
        n_checked = 0
        for flags, delim, name in sorted(folders, key=lambda x: x[2]):
            if "\\nonexistent" in flags:
                continue
            try:
                decoded = mutf7_decode(name)
            except (ValueError, UnicodeDecodeError) as e:
                diffs.add(f"server folder {name!r}", f"cannot decode: {e}")
                continue
            cname = config_name(decoded, delim)
            lpath = local_path(decoded, delim)
            if "\\noselect" in flags:
                continue
            if cname in excluded:
                if os.path.lexists(os.path.join(a.acct, lpath, "cur")) and lpath not in ignored:
                    diffs.add(f"folder {lpath!r}", "excluded but mirrored")
                continue
            if any(lpath == ig or lpath.startswith(ig + "/") for ig in ignored):
                continue
            expected.add(lpath)
            compare_folder(srv, name, lpath, a.acct, a, diffs)
            n_checked += 1
        walk_local(a.acct, expected, ignored, diffs, a.partial)
    except (OSError, imaplib.IMAP4.error, ssl.SSLError, ValueError) as e:
        print(f"compare.py: server error: {e}", file=sys.stderr)
        return 2
    finally:
        srv.close()
    if diffs.items:
        for d in diffs.items[:MAX_REPORT]:
            print(d if len(d) <= 400 else d[:200] + " ... " + d[-150:])
        if len(diffs.items) > MAX_REPORT:
            print(f"... and {len(diffs.items) - MAX_REPORT} more differences")
        print(f"compare.py: {len(diffs.items)} difference(s) in {a.acct}", file=sys.stderr)
        return 1
    print(f"compare.py: {a.acct} is exact ({n_checked} folders)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
