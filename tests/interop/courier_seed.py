#!/usr/bin/env python3
"""courier_seed.py seed|mutate HOST PORT USER PASSWORD_FILE

Fills a Courier-IMAP account over IMAP (folders below "INBOX." with "." as the delimiter), or
changes it the way a mail client would, for tests/interop/courier.sh. Deterministic: the same
command on the same server state does the same thing.

seed    INBOX and INBOX.Archive, INBOX.Archive.2024, INBOX.Gesch&AOQ-ftlich, "INBOX.Sent Items",
        INBOX.Sent, INBOX.Trash, INBOX.R&-D, INBOX.Empty; ~60 messages (CRLF, 8-bit, base64
        attachments, a long line, no final newline), the five system flags and keywords,
        explicit INTERNALDATEs in several time zones.
mutate  flag changes, expunges (some \\Deleted messages stay), appends, CREATE INBOX.New,
        DELETE INBOX.R&-D, RENAME INBOX.Sent -> INBOX.Sent.Old-Sent (a folder moving down a level).
"""
import imaplib
import sys

FOLDERS = ["INBOX.Archive", "INBOX.Archive.2024", "INBOX.Gesch&AOQ-ftlich", '"INBOX.Sent Items"',
           "INBOX.Sent", "INBOX.Trash", "INBOX.R&-D", "INBOX.Empty"]
FLAGSETS = ["", "\\Seen", "\\Seen \\Answered", "\\Flagged", "\\Draft", "\\Seen \\Deleted",
            "\\Seen $Forwarded", "$Junk Work", "\\Seen \\Answered \\Flagged \\Draft \\Deleted"]
ZONES = ["+0000", "+0200", "-0500", "+0530", "-1100", "+1400"]


def message(i, folder):
    """A message of one of six shapes, chosen by i; CRLF line ends as on the wire."""
    kind = i % 6
    hdr = (f"From: Jörg Tester <joerg{i}@example.org>\r\nTo: a@example.com\r\n"
           f"Subject: message {i} in {folder}\r\nMessage-ID: <m{i}.{len(folder)}@example.org>\r\n"
           f"Date: Mon, 1 Jan 2024 10:{i % 60:02d}:00 +0000\r\nMIME-Version: 1.0\r\n")
    if kind == 0:
        return (hdr + "Content-Type: text/plain; charset=us-ascii\r\n\r\nplain line\r\nsecond line\r\n").encode()
    if kind == 1:
        return (hdr + "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                "Grüße aus Köln — Привет — 日本語\r\n").encode()
    if kind == 2:
        blob = bytes(range(256)) * 40
        import base64
        b64 = base64.encodebytes(blob).replace(b"\n", b"\r\n")
        return (hdr.encode() + b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
                b"Content-Type: text/plain\r\n\r\nsee attachment\r\n--b1\r\n"
                b'Content-Type: application/octet-stream; name="x.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
                + b64 + b"--b1--\r\n")
    if kind == 3:
        return (hdr + "Content-Type: text/plain\r\n\r\n" + "x" * 5000 + "\r\n").encode()
    if kind == 4:
        return hdr.encode() + b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\ncaf\xe9 na\xefve\r\nno final newline"
    return (hdr + "Content-Type: text/plain\r\n\r\n" + "".join(f"line {n}\r\n" for n in range(300))).encode()


def internaldate(i):
    return f'"{1 + i % 28:02d}-{["Jan", "Mar", "Jun", "Sep", "Dec"][i % 5]}-{2019 + i % 6} ' \
           f'{i % 24:02d}:{(7 * i) % 60:02d}:{(13 * i) % 60:02d} {ZONES[i % len(ZONES)]}"'


def ok(res, what):
    typ, data = res
    if typ != "OK":
        sys.exit(f"courier_seed: {what}: {typ} {data}")
    return data


def append(m, folder, i):
    flags = FLAGSETS[i % len(FLAGSETS)]
    ok(m.append(folder, f"({flags})", internaldate(i), message(i, folder)), f"APPEND {folder} #{i}")


def seed(m):
    for f in FOLDERS:
        ok(m.create(f), f"CREATE {f}")
    n = 0
    for f, count in [("INBOX", 20), ("INBOX.Archive", 8), ("INBOX.Archive.2024", 8),
                     ("INBOX.Gesch&AOQ-ftlich", 6), ('"INBOX.Sent Items"', 5), ("INBOX.Sent", 6),
                     ("INBOX.Trash", 4), ("INBOX.R&-D", 3)]:
        for _ in range(count):
            append(m, f, n)
            n += 1


def mutate(m):
    ok(m.select("INBOX"), "SELECT INBOX")
    ok(m.uid("STORE", "1:5", "+FLAGS", "(\\Seen \\Flagged)"), "STORE +FLAGS")
    ok(m.uid("STORE", "6:8", "-FLAGS", "(\\Seen \\Answered \\Draft)"), "STORE -FLAGS")
    ok(m.uid("STORE", "9", "+FLAGS", "($Forwarded)"), "STORE $Forwarded")
    ok(m.uid("STORE", "10:12", "+FLAGS", "(\\Deleted)"), "STORE \\Deleted")
    ok(m.uid("EXPUNGE", "10:11"), "UID EXPUNGE")          # UID 12 stays, \Deleted (T)
    for i in range(100, 104):
        append(m, "INBOX", i)
    ok(m.select("INBOX.Archive.2024"), "SELECT INBOX.Archive.2024")
    ok(m.uid("STORE", "1:*", "+FLAGS", "(\\Deleted)"), "STORE all \\Deleted")
    ok(m.expunge(), "EXPUNGE")                            # the folder is now empty
    ok(m.close(), "CLOSE")
    ok(m.create("INBOX.New"), "CREATE INBOX.New")
    for i in range(110, 113):
        append(m, "INBOX.New", i)
    ok(m.delete("INBOX.R&-D"), "DELETE INBOX.R&-D")   # Courier refuses to delete its Trash
    ok(m.rename("INBOX.Sent", '"INBOX.Sent Items.Old-Sent"'), "RENAME INBOX.Sent")
    m.logout()


def main():
    if len(sys.argv) != 6 or sys.argv[1] not in ("seed", "mutate"):
        sys.exit(__doc__)
    cmd, host, port, user, pwfile = sys.argv[1:]
    m = imaplib.IMAP4(host, int(port))
    with open(pwfile) as fh:
        ok(m.login(user, fh.readline().strip()), "LOGIN")
    seed(m) if cmd == "seed" else mutate(m)


if __name__ == "__main__":
    main()
