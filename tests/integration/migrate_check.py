#!/usr/bin/env python3
"""migrate_check.py: the oracle of t_push_migrate.sh for targets that are push_fake.py servers
(push_check.py compares two IMAP accounts; this one compares a source IMAP account with the JSON
state push_fake.py writes).

  migrate_check.py --src HOST:PORT:USER:PASSFILE --state FILE [--map SRC=DST ...]
                   [--exclude SRC ...] [--keywords-only KW,KW] [--larger-missing N] [--partial]
  migrate_check.py --state FILE --list [FOLDER]

Every selectable source folder must be on the target (its --map name, else its own name; levels
joined with the target's '.', modified UTF-7) with the same messages as a multiset of (SHA-256 of
the bytes, INTERNALDATE, flags): nothing missing, nothing twice, byte for byte.
  --keywords-only   the target keeps only these keywords (PERMANENTFLAGS without \\*): the
                    source's other keywords are expected to be missing
  --larger-missing  messages larger than N bytes are expected to be missing (refused with [LIMIT])
  --partial         an interrupted push: no message more often than on the source; flags ignored
  --final-crlf      the target added CRLF to messages without one (push_fake.py --add-final-crlf)
Also fails on any protocol violation the server recorded. Exit 0 when all holds, 1 otherwise.
--list prints the SHA-256 of every message on the target (of FOLDER only, named as above), one a line.
"""
import argparse
import json
import os
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from push_check import Account, mutf7_decode  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src")
    ap.add_argument("--list", nargs="?", const="", metavar="FOLDER")
    ap.add_argument("--state", required=True)
    ap.add_argument("--delim", default=".")
    ap.add_argument("--map", action="append", default=[])
    ap.add_argument("--exclude", action="append", default=[])
    ap.add_argument("--keywords-only")
    ap.add_argument("--larger-missing", type=int, default=0)
    ap.add_argument("--partial", action="store_true")
    ap.add_argument("--final-crlf", action="store_true")
    a = ap.parse_args()
    with open(a.state, encoding="utf-8") as f:
        st = json.load(f)
    problems = [f"protocol violation: {v}" for v in st["violations"]]
    dst = {"/".join(mutf7_decode(k).split(a.delim)): v for k, v in st["folders"].items()}
    if a.list is not None:
        for name, v in dst.items():
            for m in v["messages"] if a.list in ("", name) else []:
                print(m[1])
        return
    if a.src is None:
        ap.error("--src is required without --list")
    src = Account(a.src, a.final_crlf)
    maps = dict(m.split("=", 1) for m in a.map)
    keep = None if a.keywords_only is None else {k.lower() for k in a.keywords_only.split(",") if k}
    used = set()
    for name, wire in src.folders():
        if name in a.exclude:
            continue
        tname = maps.get(name, name)
        msgs = src.messages(wire)
        sizes = {}
        if a.larger_missing:
            typ, data = src.c.uid("FETCH", "1:*", "(UID RFC822.SIZE)") if msgs else ("OK", [])
            for item in data:
                s = item.decode() if isinstance(item, bytes) else ""
                if "RFC822.SIZE" in s:
                    uid = int(s.split("UID ")[1].split()[0].rstrip(")"))
                    sizes[uid] = int(s.split("RFC822.SIZE ")[1].split()[0].rstrip(")"))
        want = []
        for uid, (h, d, fl) in msgs.items():
            if a.larger_missing and sizes.get(uid, 0) > a.larger_missing:
                continue
            if keep is not None:
                fl = [x for x in fl if x.startswith("\\") or x.lower() in keep or x == "$Forwarded"]
            want.append((h, d, tuple(sorted(fl))))
        if tname not in dst:
            if not a.partial:
                problems.append(f"folder {name!r}: target folder {tname!r} missing")
            continue
        used.add(tname)
        got = [(h, d, tuple(sorted(fl))) for _u, h, d, fl in dst[tname]["messages"]]
        if a.partial:
            sc, dc = Counter((h, d) for h, d, _ in want), Counter((h, d) for h, d, _ in got)
            over = [k for k, n in dc.items() if n > sc[k]]
            if over:
                problems.append(f"folder {name!r}: {len(over)} messages more often on the target than on the source")
        elif sorted(want) != sorted(got):
            missing = [m for m in want if m not in got]
            extra = [m for m in got if m not in want]
            problems.append(f"folder {name!r} -> {tname!r}: {len(want)} expected, {len(got)} on the target; "
                            f"missing e.g. {missing[:1]}, unexpected e.g. {extra[:1]}")
        if not a.partial and not dst[tname]["subscribed"] and tname != "INBOX":
            problems.append(f"target folder {tname!r} not subscribed")
    for tname, v in dst.items():
        if tname not in used and v["messages"]:
            problems.append(f"target folder {tname!r} holds {len(v['messages'])} messages no source folder maps to")
    src.close()
    for p in problems[:20]:
        print(p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
