#!/usr/bin/env python3
"""push_check.py: the oracle of tests/integration/t_push.sh. Compares the folders of a source IMAP
account with those of a target account that `mailkeep push` filled, over plain IMAP (read-only:
EXAMINE, BODY.PEEK):

  push_check.py compare --src HOST:PORT:USER:PASSFILE --dst HOST:PORT:USER:PASSFILE
                        [--map SRC=DST ...] [--exclude SRC ...] [--dst-extra DST ...] [--strip P] [--partial]
                        [--final-crlf]
      Every selectable source folder (decoded, '/' between levels) must exist on the target (under
      its --map name, else the same name with the target's delimiter) and hold the same messages:
      as a multiset of (SHA-256 of BODY[], INTERNALDATE, flags with keywords, without \\Recent).
      So nothing is missing, nothing is duplicated, every message is byte-identical. Target folders
      that no source folder maps to must be empty unless named by --dst-extra.
      --partial (an interrupted push): target folders and messages may be missing, but every
      target message must be a source message, and none may be there more often than on the
      source (no duplicate). Flags are not compared then (they are set after the APPEND).
      --final-crlf: a message that does not end with CRLF is hashed with one added, on both sides
      (Courier-IMAP adds it to a message APPENDed without a final line end).
  push_check.py dump --dst HOST:PORT:USER:PASSFILE FILE
      Writes the target's messages (folder -> uid -> [sha256, date, flags]) as JSON to FILE.
  push_check.py since --dst HOST:PORT:USER:PASSFILE FILE [--new N] [--gone N]
      Compares the target with a dump: every message of the dump is still there under the same UID
      with the same bytes and date (flags may differ), except exactly --gone of them (default 0),
      and exactly --new messages are new (default 0).
Exit 0 when everything holds, else print the differences and exit 1 (2 on usage/connection errors).
"""
import argparse
import base64
import datetime
import hashlib
import imaplib
import json
import re
import sys
from collections import Counter

MAX_REPORT = 30


def mutf7_decode(s):
    out, i = [], 0
    while i < len(s):
        ch = s[i]
        if ch != "&":
            out.append(ch)
            i += 1
            continue
        j = s.index("-", i + 1)
        chunk = s[i + 1:j]
        if chunk == "":
            out.append("&")
        else:
            b64 = chunk.replace(",", "/")
            b64 += "=" * (-len(b64) % 4)
            out.append(base64.b64decode(b64).decode("utf-16-be"))
        i = j + 1
    return "".join(out)


def mutf7_encode(s):
    out, pending = [], []

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


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


LIST_RE = re.compile(rb'^\((?P<flags>[^)]*)\) (?:"(?P<delim>[^"]*)"|NIL) (?P<name>.*)$')


class Account:
    def __init__(self, spec, final_crlf=False):
        self.final_crlf = final_crlf
        host, port, user, passfile = spec.split(":", 3)
        with open(passfile, encoding="utf-8") as f:
            password = f.readline().rstrip("\r\n")
        self.c = imaplib.IMAP4(host, int(port), timeout=60)
        self.c.login(user, password)
        self.delim = "/"

    def folders(self):
        """[(decoded name with '/' between levels, wire name)] of the selectable folders"""
        typ, data = self.c.list('""', '"*"')
        if typ != "OK":
            raise RuntimeError(f"LIST failed: {data}")
        res = []
        items = list(data)
        k = 0
        while k < len(items):
            item = items[k]
            k += 1
            if isinstance(item, tuple):  # name sent as a literal
                line, name = item[0], item[1]
                m = LIST_RE.match(line.rsplit(b" ", 1)[0] + b" x")
                wire = name.decode("ascii")
            else:
                m = LIST_RE.match(item)
                if not m:
                    continue
                wire = m.group("name").decode("ascii")
                if wire.startswith('"'):
                    wire = wire[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            if not m:
                continue
            flags = m.group("flags").decode().lower()
            if m.group("delim"):
                self.delim = m.group("delim").decode()
            if "\\noselect" in flags or "\\nonexistent" in flags:
                continue
            dec = mutf7_decode(wire)
            res.append(("/".join(dec.split(self.delim)) if self.delim != "/" else dec, wire))
        return res

    def messages(self, wire):
        """{uid: (sha256 hex, epoch, sorted flags)}"""
        typ, data = self.c.select(quote(wire), readonly=True)
        if typ != "OK":
            raise RuntimeError(f"EXAMINE {wire}: {data}")
        out = {}
        if int(data[0]) == 0:
            return out
        typ, data = self.c.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])")
        if typ != "OK":
            raise RuntimeError(f"FETCH {wire}: {data}")
        for item in data:
            if not isinstance(item, tuple):
                continue
            meta = item[0].decode("ascii", "replace")
            uid = int(re.search(r"UID (\d+)", meta).group(1))
            flags = re.search(r"FLAGS \(([^)]*)\)", meta).group(1).split()
            flags = sorted(f for f in flags if f.lower() != "\\recent")
            idate = re.search(r'INTERNALDATE "([^"]+)"', meta).group(1)
            epoch = int(datetime.datetime.strptime(idate.strip(), "%d-%b-%Y %H:%M:%S %z").timestamp())
            body = item[1]
            if self.final_crlf and not body.endswith(b"\r\n"):
                body += b"\r\n"
            out[uid] = (hashlib.sha256(body).hexdigest(), epoch, flags)
        return out

    def close(self):
        try:
            self.c.logout()
        except Exception:
            pass


def target_name(src_name, maps, dst_delim, strip=None):
    for s, d in maps:
        if src_name == s or src_name.startswith(s + "/"):
            return d + src_name[len(s):]
    # the source's namespace prefix is taken off (not from what would become INBOX)
    if strip and src_name.startswith(strip + "/") and src_name[len(strip) + 1:].split("/")[0].upper() != "INBOX":
        src_name = src_name[len(strip) + 1:]
    return src_name


def cmd_compare(a):
    src, dst = Account(a.src, a.final_crlf), Account(a.dst, a.final_crlf)
    maps = [m.split("=", 1) for m in a.map]
    problems = []
    dst_folders = {name: wire for name, wire in dst.folders()}
    used = set()
    for name, wire in src.folders():
        if name in a.exclude:
            continue
        tname = target_name(name, maps, dst.delim, a.strip)
        if tname.upper() == "INBOX":
            tname = "INBOX"
        if tname not in dst_folders:
            if not a.partial:
                problems.append(f"folder {name!r}: target folder {tname!r} missing")
            continue
        used.add(tname)
        sm = sorted(src.messages(wire).values())
        dm = sorted(dst.messages(dst_folders[tname]).values())
        if a.partial:
            sc = Counter((h, d) for h, d, _ in sm)
            dc = Counter((h, d) for h, d, _ in dm)
            over = [(k, n, sc[k]) for k, n in dc.items() if n > sc[k]]
            if over:
                problems.append(f"folder {name!r} -> {tname!r}: {len(over)} messages more often on the "
                                f"target than on the source (e.g. {over[0]})")
        elif sm != dm:
            missing = [m for m in sm if m not in dm]
            extra = [m for m in dm if m not in sm]
            problems.append(f"folder {name!r} -> {tname!r}: {len(sm)} messages on the source, {len(dm)} "
                            f"on the target; {len(missing)} not matched on the target "
                            f"(e.g. {missing[:1]}), {len(extra)} unexpected (e.g. {extra[:1]})")
    for tname, wire in dst_folders.items():
        if tname in used or tname in a.dst_extra:
            continue
        n = len(dst.messages(wire))
        if n:
            problems.append(f"target folder {tname!r} holds {n} messages no source folder maps to")
    src.close()
    dst.close()
    return problems


def dump(dst):
    return {name: {str(u): list(v) for u, v in dst.messages(wire).items()} for name, wire in dst.folders()}


def cmd_dump(a):
    dst = Account(a.dst)
    with open(a.file, "w", encoding="utf-8") as f:
        json.dump(dump(dst), f)
    dst.close()
    return []


def cmd_since(a):
    dst = Account(a.dst)
    with open(a.file, encoding="utf-8") as f:
        old = json.load(f)
    now = dump(dst)
    dst.close()
    problems, gone, new = [], 0, 0
    for folder, msgs in old.items():
        cur = now.get(folder, {})
        for uid, (h, d, _fl) in msgs.items():
            if uid not in cur:
                gone += 1
            elif cur[uid][0] != h or cur[uid][1] != d:
                problems.append(f"{folder} UID {uid}: content or date changed")
    for folder, msgs in now.items():
        new += sum(1 for uid in msgs if uid not in old.get(folder, {}))
    if gone != a.gone:
        problems.append(f"{gone} messages of the dump are gone, expected {a.gone}")
    if new != a.new:
        problems.append(f"{new} new messages on the target, expected {a.new}")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("compare")
    p.add_argument("--src", required=True)
    p.add_argument("--dst", required=True)
    p.add_argument("--map", action="append", default=[])
    p.add_argument("--exclude", action="append", default=[])
    p.add_argument("--dst-extra", action="append", default=[])
    p.add_argument("--strip", help="the source's namespace prefix, taken off the names (INBOX)")
    p.add_argument("--partial", action="store_true")
    p.add_argument("--final-crlf", action="store_true")
    p.set_defaults(fn=cmd_compare)
    p = sub.add_parser("dump")
    p.add_argument("--dst", required=True)
    p.add_argument("file")
    p.set_defaults(fn=cmd_dump)
    p = sub.add_parser("since")
    p.add_argument("--dst", required=True)
    p.add_argument("file")
    p.add_argument("--new", type=int, default=0)
    p.add_argument("--gone", type=int, default=0)
    p.set_defaults(fn=cmd_since)
    a = ap.parse_args()
    try:
        problems = a.fn(a)
    except (OSError, imaplib.IMAP4.error, RuntimeError, ValueError) as e:
        print(f"push_check.py: {e}", file=sys.stderr)
        sys.exit(2)
    for p in problems[:MAX_REPORT]:
        print(p)
    if len(problems) > MAX_REPORT:
        print(f"... and {len(problems) - MAX_REPORT} more")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
