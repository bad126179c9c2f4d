#!/usr/bin/env python3
"""migrate_seed.py ENV [--user U]: the awkward messages and folders of a migration, APPENDed to the
source account of tests/integration/t_push_migrate.sh (folder names in UTF-8 with '/' between
levels, converted to the server's delimiter and modified UTF-7):
  INBOX        two messages with the same Message-ID and headers, bodies of the same size that
               differ; two without Message-ID, identical (same date); one with keywords
  Parent       a message; Parent/Child a message (a folder named like a parent of another)
  Café/Ünïcødé a message with keywords $Junk and Custom1
  a.b          a message (a name holding the '.' delimiter) -- only with --dotted
  Big          one message of --big-mb MiB (default 0: none)
"""
import argparse
import imaplib
import shlex
import sys

sys.path.insert(0, __import__("os").path.join(__import__("os").path.dirname(__file__), "..", "fixture"))
from seed import mutf7_encode  # noqa: E402


def env_of(path):
    env = {}
    for line in open(path, encoding="utf-8"):
        if "=" in line and not line.startswith("#"):
            k, v = line.rstrip("\n").split("=", 1)
            env[k] = shlex.split(v)[0] if v else ""
    return env


def msg(subject, body, mid=None, extra=""):
    h = f"From: Migr <m@example.test>\r\nTo: you@example.test\r\nSubject: {subject}\r\n"
    if mid:
        h += f"Message-ID: {mid}\r\n"
    h += extra + "Date: Mon, 4 Mar 2024 10:00:00 +0000\r\n"
    return (h + "\r\n" + body).encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("env")
    ap.add_argument("--user")
    ap.add_argument("--dotted", action="store_true")
    ap.add_argument("--big-mb", type=int, default=0)
    a = ap.parse_args()
    env = env_of(a.env)
    c = imaplib.IMAP4(env["IMAP_HOST"], int(env["IMAP_PORT"]))
    user = a.user or env["IMAP_USER"]
    c.login(user, env["IMAP_PASS"] if user == env["IMAP_USER"] else env["IMAP_PASS2"])
    typ, data = c.list('""', '""')
    delim = data[0].decode().split('"')[1] if data and data[0] else "/"

    def wire(name):
        return '"' + mutf7_encode(name).replace("/", delim).replace("\\", "\\\\").replace('"', '\\"') + '"'

    def put(folder, flags, date, data):
        if folder != "INBOX":
            c.create(wire(folder))
        typ, r = c.append(wire(folder), flags, f'"{date}"', data)
        assert typ == "OK", (folder, r)

    same_id = "<same-id@example.test>"
    put("INBOX", "(\\Seen)", "01-Mar-2024 10:00:00 +0000", msg("dup id", "body AAAA\r\n", same_id))
    put("INBOX", "(\\Flagged)", "01-Mar-2024 10:00:00 +0000", msg("dup id", "body BBBB\r\n", same_id))
    put("INBOX", "(\\Seen)", "02-Mar-2024 09:00:00 +0100", msg("no id", "no message-id here\r\n"))
    put("INBOX", "(\\Seen)", "02-Mar-2024 09:00:00 +0100", msg("no id", "no message-id here\r\n"))
    put("INBOX", "(\\Answered $Forwarded Custom1 $Label2)", "03-Mar-2024 23:59:59 -0500",
        msg("keywords", "with keywords\r\n", "<kw@example.test>"))
    put("Parent", "()", "05-Jan-2023 12:00:00 +0000", msg("parent", "in the parent\r\n", "<p@example.test>"))
    put("Parent/Child", "(\\Seen)", "06-Jan-2023 12:00:00 +0000", msg("child", "in the child\r\n", "<c@example.test>"))
    put("Café/Ünïcødé", "(\\Seen $Junk Custom1)", "07-Feb-2022 08:30:00 +0200",
        msg("unicode folder", "bonjour\r\n", "<u@example.test>"))
    if a.dotted:
        put("a.b", "()", "08-Feb-2022 08:30:00 +0000", msg("dotted", "dotted folder\r\n", "<d@example.test>"))
    if a.big_mb:
        line = b"x" * 76 + b"\r\n"
        body = line * (a.big_mb * 1024 * 1024 // len(line) + 1)
        put("Big", "(\\Seen)", "09-Sep-2021 09:09:09 +0000", msg("big", "", "<big@example.test>") + body)
    c.logout()


if __name__ == "__main__":
    main()
