#!/usr/bin/env python3
"""changed_floor.py DCDIR RECORD.json -- the protocol floor of an incremental run, for
docs/performance.md: what any QRESYNC client must wait for from the server, with no disk work.

One TLS connection to the ../shared/bench Dovecot in DCDIR (its env file): LOGIN, ENABLE QRESYNC
and LIST-STATUS in one write; then, for every folder whose four STATUS values differ from
RECORD.json, EXAMINE (QRESYNC (uidvalidity modseq)) and UID FETCH of the bodies from the old
UIDNEXT on, all pipelined in one write, then LOGOUT. Bodies are read and dropped. RECORD.json is
rewritten with the values seen (a first run, without it, lists every folder's flags). Prints the
milliseconds at which the greeting, the login and LIST-STATUS were answered and all folders done.
Use it as the bench does: mutate, then mbsync, then this, then mailkeep."""
import json, os, re, socket, ssl, sys, time
env = {}
for line in open(sys.argv[1] + "/env"):
    k, _, v = line.strip().partition("=")
    env[k] = v.strip("'\"")
rec_path = sys.argv[2]
rec = json.load(open(rec_path)) if os.path.exists(rec_path) else {}
t0 = time.monotonic()
ctx = ssl.create_default_context(cafile=env["CA_FILE"])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(env["IMAPS_PORT"]))), server_hostname="127.0.0.1")
f = s.makefile("rb")
def readresp(tag):
    out = []
    while True:
        line = f.readline()
        m = re.search(rb"\{(\d+)\}\r\n$", line)
        while m:
            f.read(int(m.group(1)))
            line = f.readline()
            m = re.search(rb"\{(\d+)\}\r\n$", line)
        out.append(line)
        if line.startswith(tag + b" "):
            return out
f.readline()
tg = time.monotonic()
pw = open(sys.argv[1] + "/pass-bench").read().strip()
s.sendall(b'a1 LOGIN bench "%s"\r\na2 ENABLE QRESYNC\r\na3 LIST "" "*" RETURN (STATUS (UIDVALIDITY UIDNEXT MESSAGES HIGHESTMODSEQ))\r\n' % pw.encode())
readresp(b"a1"); tl = time.monotonic(); readresp(b"a2")
lines = readresp(b"a3"); ts = time.monotonic()
cur = {}
for l in lines:
    m = re.match(rb'\* STATUS ("(?:[^"\\]|\\.)*"|\S+) \((.*)\)', l)
    if m:
        vals = dict(re.findall(rb"(UIDVALIDITY|UIDNEXT|MESSAGES|HIGHESTMODSEQ) (\d+)", m.group(2)))
        cur[m.group(1).decode()] = {k.decode(): int(v) for k, v in vals.items()}
cmds = []; n = 0; tags = []
for name, v in cur.items():
    old = rec.get(name)
    if old == v:
        continue
    n += 1
    if old and old["UIDVALIDITY"] == v["UIDVALIDITY"]:
        cmds.append(b"e%d EXAMINE %s (QRESYNC (%d %d))\r\n" % (n, name.encode(), old["UIDVALIDITY"], old["HIGHESTMODSEQ"]))
        cmds.append(b"f%d UID FETCH %d:* (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])\r\n" % (n, old["UIDNEXT"]))
    else:
        cmds.append(b"e%d EXAMINE %s\r\n" % (n, name.encode()))
        cmds.append(b"f%d UID FETCH 1:* (UID FLAGS)\r\n" % n)
    tags.append(b"f%d" % n)
s.sendall(b"".join(cmds) + b"z LOGOUT\r\n")
for t in tags:
    readresp(t)
te = time.monotonic()
json.dump(cur, open(rec_path, "w"))
print("greeting %.1f login %.1f list-status %.1f folders(%d) %.1f total %.1f ms" % ((tg-t0)*1e3, (tl-t0)*1e3, (ts-t0)*1e3, n, (te-t0)*1e3, (te-t0)*1e3))
