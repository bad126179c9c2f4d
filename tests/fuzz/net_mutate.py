#!/usr/bin/env python3
"""net_mutate.py -- black-box mutation fuzzing of mailkeep's IMAP client against a real Dovecot.

A TCP proxy sits between mailkeep (`tls: none`, the proxy's port) and the plain port of a Dovecot
from tests/fixture/dovecot.sh (seeded with tests/fixture/seed.py: 7 folders, non-ASCII names,
~45 messages, flags and keywords). Each iteration picks a seed, one or two mutations of the
server->client stream (sometimes of the client->server one), runs `mailkeep sync` (or `push`) with
a short `timeout:` under an outer wall-clock bound, and checks invariants:

  * no sanitizer report, no death by signal, exit status 0..5 (docs/mailkeep.1, EXIT STATUS);
  * run time <= 3 x timeout (+ the clean run's time), else "slow";
  * nothing created next to the mirror root (listing of its parent) nor in /tmp (/tmp is shared
    with other test runs: only new names a hostile server could have chosen are reported);
  * files 0600, directories 0700 in the mirror; no password (nor its AUTH PLAIN base64) in
    stdout/stderr; the --json report of the mutated sync is valid JSON;
  * exit 0 after a structural mutation => the mirror is exact (compare.py), unless the mutation
    was a state lie (inserted EXPUNGE/FETCH/VANISHED/EXISTS, duplicated line): then it is noted;
  * structural iterations: no local message removed that the server still has, a clean run
    afterwards exits 0, the mirror is exact (compare.py) and no file is left in a tmp/; lie
    iterations: the mirror is deleted afterwards;
  * push (mailkeep push fz tgt, tgt = user bob through the proxy): a clean push afterwards exits
    0, the target holds no two messages with the same Message-ID and size in a folder, and after
    an emptied target exactly as many messages as the mirror;
  * noted only: raw control bytes in the output, exit 1 for an account-level failure.

Mutation classes (each logged with the byte offset of the stream where it fired):
  structural: close, rst, stall, insert (garbage line / untagged response / wrong tagged),
              dup_line, litsize, onebyte, cr_nolf, nul, longline, c2s_close, c2s_dup
  lie:        flip, ins_byte, del_byte, number
  --compress only, on a COMPRESS=DEFLATE connection (the proxy inflates both directions, applies the
  mutations above to the plain streams and deflates again, a sync flush per piece; offsets count
  inflated bytes):
  structural: ztrunc (the deflate bytes of a piece cut mid-block, then close), zfinish (the stream
              ended with Z_FINISH early, then close or more data), zbomb (17 MB..1 GB of one byte
              inside a response line: ~1000:1; peak RSS checked against --rss-limit)
  lie:        zflip (one bit of the deflate bytes: raw deflate has no checksum)

Usage:
  net_mutate.py [--duration SECONDS] [--seed N] [--iterations N] [--push-share F]
                [--binary PATH] [--workdir DIR] [--timeout S] [--keep]
                [--fixture-args "ARGS"] [--exact-share F] [--change-share F]
                [--compress [--compress-share F] [--zmut-share F] [--rss-limit MB]]
  net_mutate.py --smoke              fixed seed 1, 25 random iterations, then the pinned
                                     reproducers of the failures found so far (PINNED): about 60 s
                                     with the ASan build, exit 1 on failure: suitable for a test
  net_mutate.py --replay JSON        one iteration with a given mutation list (after the usual
                                     calibration: a fresh mirror, then one push to bob), e.g.
       --replay '{"start":"empty","muts":[{"cls":"litsize","off":5000,"delta":-3}]}'
       --replay '{"cmd":"push","drop_push_state":true,"force_reset":false,
                  "muts":[{"cls":"del_byte","off":0,"match":"^\\* \\d+ EXISTS","pos":0}]}'
     keys: seed (the iteration seed, for the random choices not pinned), start (empty|exact),
     cmd (sync|push), force_reset / drop_push_state (push: empty bob first / forget the push
     state), muts: [{cls, off, conn, and pinned choices: match (regex the line must match),
     pos, bit, byte (flip/ins_byte/del_byte), idx, new (number), line (insert), delta (litsize:
     an integer or huge|zero|u32|neg), len (longline)}], fixture (the fixture options, used when
     --fixture-args is not given), changes (start exact: the server changes to make first, as logged,
     e.g. ["append 2 INBOX seed=3", "flags add \\Seen Archive/2024:4", "expunge R&D:2"]; without
     it they are drawn from the seed); the log.jsonl line of an iteration holds these fields.
     compress: true runs the iteration with `compress: true` accounts (and implies --compress); the
     compression-level mutations pin zpos/bit (zflip), cut (ztrunc), then (zfinish: close|more),
     len/pos/byte (zbomb).

--duration   seconds of fuzzing (default 600)
--seed       master seed (default: time based); iteration i uses seed*100000+i
--binary     mailkeep binary (default build/san/mailkeep, else ./mailkeep)
--fixture-args  options for tests/fixture/dovecot.sh up (write --fixture-args=--no-qresync: with a
             space argparse takes a lone "--no-qresync" for an option), e.g. --no-qresync (CONDSTORE only),
             "--no-condstore" (neither: full FLAGS fetches, STATUS), "--layout maildir++" ('.' as the
             hierarchy delimiter); logged with every iteration (key fixture)
--exact-share   share of sync iterations starting from an exact mirror (default 0.6)
--change-share  share of those where the server changes first (default 0.7)
--compress   the fixture with --compress (imap_zlib); a share (--compress-share, default 0.8) of the
             iterations use accounts with `compress: true` (logged: "compress": true, and "zconns",
             the connections that went compressed: 0 when no folder was opened), a share of those
             (--zmut-share, default 0.35) gets a compression-level mutation; the other random choices
             of a seed stay those of a run without --compress. Compressed iterations fail when the
             mutated run's peak RSS (wait4) is above --rss-limit MB (default 1024). The proxy's own
             trouble (a stream that does not inflate) is noted as "proxy: ..."
--workdir    where the Dovecot, mirrors and logs live (default: a mktemp dir under /tmp, removed
             at the end unless --keep or a failure was found)
Every iteration is appended as a JSON line to WORKDIR/log.jsonl; failures are also printed and
their mailkeep output kept in WORKDIR/fail-<iter>/. Exit status: 0 no failure, 1 failures.
Python 3 standard library only.
"""
import argparse
import base64
import imaplib
import json
import shlex
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
FIXTURE = os.path.join(REPO, "tests", "fixture", "dovecot.sh")
SEED_PY = os.path.join(REPO, "tests", "fixture", "seed.py")
COMPARE_PY = os.path.join(REPO, "tests", "integration", "compare.py")

STRUCTURAL = ["close", "rst", "stall", "insert", "dup_line", "litsize", "onebyte", "cr_nolf", "nul",
              "longline", "c2s_close", "c2s_dup"]
LIE = ["flip", "ins_byte", "del_byte", "number"]
# compression-level mutations, only on a COMPRESS=DEFLATE connection (--compress): a bit flipped in the
# deflate bytes (raw deflate has no checksum: the client may decode wrong data without knowing, a lie),
# the compressed stream cut mid-block then closed, the stream ended (Z_FINISH) early, a decompression
# bomb (megabytes of one byte inside a response line, ~1000:1)
Z_STRUCT = ["ztrunc", "zfinish", "zbomb"]
Z_LIE = ["zflip"]
Z_MUTS = Z_STRUCT + Z_LIE
STATE_LIES = ("EXPUNGE", "FETCH", "VANISHED", "EXISTS", "RECENT")
BIG_NUMBERS = [b"0", b"4294967295", b"4294967296", b"9223372036854775808", b"18446744073709551615",
               b"18446744073709551616", b"-1", b"-4294967295", b"9" * 40, b"00000000000000000001"]
UNTAGGED = [b"* 3 EXPUNGE", b"* 1 EXPUNGE", b"* 99 FETCH (FLAGS (\\Seen))", b"* 1 FETCH (FLAGS (\\Deleted))",
            b"* BYE going away", b"* OK [ALERT] hello \x1b[31mred", b"* CAPABILITY IMAP4rev1",
            b"* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED", b'* LIST () "/" "../x"',
            b'* LIST () "/" "/tmp/mkfz_abs"', b'* LIST () "/" "a/../../mkfz_up"', b"* VANISHED 1:*",
            b"* VANISHED (EARLIER) 1:4294967295", b"* 0 EXISTS", b"* 4294967295 EXISTS",
            b"* 5 RECENT", b"* OK [UIDVALIDITY 1] x", b"* OK [HIGHESTMODSEQ 1] x",
            b"* OK [UIDNEXT 0] x", b"* NO [ALERT] x", b"* BAD x", b"+ go ahead",
            b"* FLAGS ()", b"* 1 FETCH (UID 4294967295 FLAGS ())", b"* ENABLED QRESYNC",
            b"* STATUS INBOX (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 1)", b"* SEARCH 1 2 3",
            b"* ESEARCH (TAG \"zz\") UID ALL 1:*", b"* 1 FETCH (UID 1 BODY[] {5}\r\nhello)",
            b"* 1 FETCH (UID 1 BODY[] {99999999999}", b"* LIST (\\Noselect) \"/\" \"..\""]


# Pinned mutations of the failures this campaign found, replayed by --smoke after its random part:
# a body literal announced 14 bytes too long swallows ")\r\n* 2 FETCH (" so that the next message's
# items parse as the first one's (exit 0, a corrupt body kept for good, a message missing); a
# SELECT without a usable EXISTS made push take a target folder for empty and append it all again.
PINNED = [
    {"start": "empty", "muts": [{"cls": "litsize", "off": 0, "match": r"FETCH \(UID 1 ", "delta": 14}]},
    {"start": "empty", "muts": [{"cls": "litsize", "off": 0, "match": r"FETCH \(UID 3 ", "delta": -9}]},
    {"cmd": "push", "drop_push_state": True, "force_reset": False, "kind": "structural",
     "muts": [{"cls": "number", "off": 0, "match": r"^\* \d+ EXISTS", "idx": 0, "new": "-4294967295"}]},
    # push lookups on the target: a header FETCH ("* 1 FETCH+ (UID 1 ...") or a SEARCH ("* SEARCH\xb5 1")
    # renamed on the way was ignored, the message taken for absent and appended a second time
    {"cmd": "push", "drop_push_state": True, "force_reset": False, "kind": "structural",
     "muts": [{"cls": "ins_byte", "off": 0, "match": r"FETCH \(UID \d+ .*BODY\[HEADER\]", "pos": 9, "byte": 43}]},
    {"cmd": "push", "drop_push_state": True, "force_reset": False, "kind": "structural",
     "muts": [{"cls": "ins_byte", "off": 0, "match": r"^\* SEARCH \d", "pos": 8, "byte": 181}]},
    # a candidate's RFC822.SIZE damaged on the way (616 -> 0) matched no message: taken for absent, appended again
    {"cmd": "push", "drop_push_state": True, "force_reset": False, "kind": "structural",
     "muts": [{"cls": "number", "off": 0, "match": r"FETCH \(UID \d+ RFC822.SIZE \d+ .*BODY\[HEADER\]", "idx": 2,
               "new": "0"}]},
    # the target's first LIST line with its delimiter damaged ("/" -> "?"): taken as the target's
    # delimiter over NAMESPACE's, nested folders were created as "Archive?2024" and filled again
    {"cmd": "push", "force_reset": True, "kind": "lie",
     "muts": [{"cls": "flip", "off": 0, "conn": 0, "match": r'^\* LIST \([^)]*\) "/" &ZeVnLIqe-', "pos": 25,
               "bit": 4}]},
]


def now():
    return time.monotonic()


# ---------------------------------------------------------------- the mutating proxy

class Mut:
    """One mutation of a connection's stream. fired: the offset where it took effect (None: never)."""

    def __init__(self, d, rng):
        self.d = dict(d)
        self.cls = d["cls"]
        self.off = int(d["off"])
        self.conn = int(d.get("conn", 0))
        self.rng = rng
        self.fired = None


class Splitter:
    """Cuts the server->client stream into units: ('line', bytes) ending in CRLF (a literal size
    at its end announces a literal), ('lit', bytes) literal payload pieces, ('raw', bytes)."""

    def __init__(self, conn=None):
        self.buf = b""
        self.lit = 0
        self.conn = conn
        self.inf = None  # the server's deflate stream, once it answered OK to COMPRESS DEFLATE

    def feed(self, data):
        if self.inf is not None:
            data = self.inf.decompress(data)  # zlib.error: the caller gives up the connection
        self.buf += data
        out = []
        while self.buf:
            if self.lit:
                n = min(self.lit, len(self.buf))
                out.append(("lit", self.buf[:n]))
                self.buf = self.buf[n:]
                self.lit -= n
                continue
            i = self.buf.find(b"\r\n")
            if i < 0:
                if len(self.buf) > 1 << 20:
                    out.append(("raw", self.buf))
                    self.buf = b""
                break
            line = self.buf[:i + 2]
            self.buf = self.buf[i + 2:]
            m = re.search(rb"\{(\d+)\+?\}\r\n$", line)
            if m:
                self.lit = int(m.group(1))
            out.append(("line", line))
            c = self.conn
            if c is not None and self.inf is None and c.ztag and re.match(re.escape(c.ztag) + rb" (?i:OK)(?=[ \r])", line):
                # RFC 4978: the server compresses from the byte after this CRLF on; what is left of
                # this read is already compressed. From now on the proxy deflates towards the server.
                self.inf = zlib.decompressobj(-15)
                c.s_def = zlib.compressobj(6, zlib.DEFLATED, -15)
                rest, self.buf = self.buf, b""
                self.buf = self.inf.decompress(rest)
        return out


class Conn:
    def __init__(self, proxy, idx, cli, up):
        self.proxy, self.idx, self.cli, self.up = proxy, idx, cli, up
        self.dead = threading.Event()
        self.lock = threading.Lock()
        # COMPRESS=DEFLATE: the two sides switch independently (a mutated OK line can make the client
        # see another answer than the server gave): the proxy translates between them
        self.ztag = None   # the tag of the client's COMPRESS DEFLATE
        self.s_def = None  # compressor towards the server (set by s2c when the server said OK)
        self.c_def = None  # compressor towards the client (set when the OK line went to the client)
        self.c_inf = None  # inflater of the client's stream

    def up_send(self, data):
        if self.s_def is not None and data:
            data = self.s_def.compress(data) + self.s_def.flush(zlib.Z_SYNC_FLUSH)
        self.up.sendall(data)

    def kill(self, rst=False):
        with self.lock:
            if self.dead.is_set():
                return
            self.dead.set()
            if rst:
                try:
                    self.cli.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                except OSError:
                    pass
            for s in (self.cli, self.up):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                try:
                    s.close()
                except OSError:
                    pass


class Proxy:
    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.muts = []
        self.conns = []
        self.bytes = []  # server->client bytes per connection
        self.line_offs = []  # offsets of the response lines of connection 0 (not literal payloads)
        self.lock = threading.Lock()
        self.stall_max = 30
        self.secret = b""
        self.zconns = 0  # connections where the client was switched to compression
        self.notes = []  # what the proxy could not handle (e.g. a client stream that does not inflate)
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def reset(self, muts):
        self.close_all()
        with self.lock:
            self.muts = muts
            self.conns = []
            self.bytes = []
            self.line_offs = []
            self.zconns = 0
            self.notes = []

    def close_all(self):
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            c.kill()

    def accept_loop(self):
        while True:
            try:
                cli, _ = self.ls.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
                up.settimeout(None)
            except OSError:
                cli.close()
                continue
            for s in (cli, up):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                c = Conn(self, len(self.conns), cli, up)
                self.conns.append(c)
                self.bytes.append(0)
                muts = [m for m in self.muts if m.conn == c.idx]
            threading.Thread(target=self.s2c, args=(c, [m for m in muts if not m.cls.startswith("c2s")]),
                             daemon=True).start()
            threading.Thread(target=self.c2s, args=(c, [m for m in muts if m.cls.startswith("c2s")]),
                             daemon=True).start()

    # client -> server
    @staticmethod
    def command_lines(data, st):
        """(start, end) of the complete client lines in DATA that hold no literal bytes and
        announce none: whole commands without literals, which a duplicate repeats as a command.
        ST carries the literal state across pieces: [bytes of literal left, line start or None,
        the partial line so far]."""
        out, pos = [], 0
        while pos < len(data):
            if st[0]:
                take = min(st[0], len(data) - pos)
                pos += take
                st[0] -= take
                st[1] = None
                continue
            i = data.find(b"\r\n", pos)
            if i < 0:
                st[2] += data[pos:]
                st[1] = None  # a line split over pieces is not offered
                break
            m = re.search(rb"\{(\d+)\+?\}\r\n$", st[2][-32:] + data[pos:i + 2])
            if m:
                st[0] = int(m.group(1))
            elif st[1] is not None and not st[2]:
                out.append((st[1], i + 2))
            pos = i + 2
            st[1], st[2] = pos, b""
        if st[1] is not None and st[1] >= len(data):
            st[1] = 0  # the next piece starts a line
        elif st[1] is not None:
            st[1] = None
        return out

    def c2s(self, c, muts):
        off = 0
        buf = b""
        lit = [0, 0, b""]
        try:
            while not c.dead.is_set():
                data = c.cli.recv(65536)
                if not data:
                    break
                if c.c_inf is not None:
                    try:
                        data = c.c_inf.decompress(data)
                    except zlib.error as e:
                        self.notes.append(f"conn {c.idx}: the client's compressed stream does not inflate: {e}")
                        break
                    if not data:
                        continue
                out = data
                lines = self.command_lines(data, lit)
                for m in muts:
                    if m.fired is not None:
                        continue
                    if m.cls == "c2s_close" and off <= m.off < off + len(data):
                        m.fired = m.off
                        c.up_send(data[:m.off - off])
                        c.kill()
                        return
                    if m.cls == "c2s_dup" and off + len(data) > m.off:
                        # duplicate the first whole command line (no literal in or after it) that
                        # ends after the offset; a line inside a message's literal is not a
                        # command: repeating it damages the message, a lie no protocol can catch
                        for start, end in lines:
                            if end > m.off - off:
                                m.fired = off + start
                                out = data[:end] + data[start:end] + data[end:]
                                break
                buf = (buf + data)[-4096:]
                if c.s_def is None:
                    mz = re.search(rb"(?:^|\n)([!-~]+) COMPRESS DEFLATE\r\n", out, re.I)
                    if mz:
                        c.ztag = mz.group(1)
                c.up_send(out)
                off += len(data)
        except OSError:
            pass
        c.kill()

    # server -> client
    def s2c(self, c, muts):
        sp = Splitter(c)
        off = 0  # offset in the original stream (inflated, on a compressed connection)
        st = {"onebyte": 0, "flip": None, "bol": True}  # bol: the client is at the start of a line
        try:
            while not c.dead.is_set():
                data = c.up.recv(65536)
                if not data:
                    break
                try:
                    units = sp.feed(data)
                except zlib.error as e:
                    self.notes.append(f"conn {c.idx}: the server's compressed stream does not inflate: {e}")
                    break
                for kind, unit in units:
                    if kind == "line" and c.idx == 0 and len(self.line_offs) < 100000:
                        self.line_offs.append(off)
                    r = self.mutate_unit(c, muts, kind, unit, off)
                    off += len(unit)
                    for piece in r:
                        if piece == "STALL":
                            c.dead.wait(self.stall_max)
                            c.kill()
                            return
                        if piece in ("CLOSE", "RST"):
                            c.kill(rst=(piece == "RST"))
                            return
                        if piece == "ONEBYTE":
                            st["onebyte"] = 200_000
                            continue
                        if isinstance(piece, tuple):
                            if self.zaction(c, piece, st):
                                c.kill()
                                return
                            continue
                        self.send_cli(c, piece, st)
        except OSError:
            pass
        c.kill()

    def send_cli(self, c, piece, st):
        """One piece of the (mutated) plain stream to the client: deflated (with a sync flush, as a
        server does per response) once the client was told OK to its COMPRESS DEFLATE."""
        if not piece:
            return
        switch = (c.c_def is None and c.ztag is not None and st["bol"] and piece.endswith(b"\r\n")
                  and re.match(re.escape(c.ztag) + rb" (?i:OK)(?=[ \r])", piece))
        wire = piece
        if c.c_def is not None:
            wire = c.c_def.compress(piece) + c.c_def.flush(zlib.Z_SYNC_FLUSH)
            if st["flip"] is not None:  # zflip: one bit of these deflate bytes
                m, st["flip"] = st["flip"], None
                r_pos, r_bit = m.rng.randrange(len(wire)), m.rng.randrange(8)
                p = min(m.d.get("zpos", r_pos), len(wire) - 1)
                bit = m.d.get("bit", r_bit)
                m.d.update(zpos=p, bit=bit)
                b = bytearray(wire)
                b[p] ^= 1 << bit
                wire = bytes(b)
        if switch:  # this line itself goes uncompressed; the client's next bytes are compressed
            c.c_inf = zlib.decompressobj(-15)
            c.c_def = zlib.compressobj(6, zlib.DEFLATED, -15)
            with self.lock:
                self.zconns += 1
        if st["onebyte"] > 0:
            for i in range(len(wire)):
                c.cli.sendall(wire[i:i + 1])
                st["onebyte"] -= 1
                if st["onebyte"] <= 0:
                    c.cli.sendall(wire[i + 1:])
                    break
        else:
            c.cli.sendall(wire)
        st["bol"] = piece.endswith(b"\n")
        with self.lock:
            self.bytes[c.idx] += len(piece)

    def zaction(self, c, piece, st):
        """A compression-level mutation (c.c_def is set). -> True: close the connection now."""
        act, m = piece[0], piece[1]
        if act == "ZFLIP":
            st["flip"] = m
            return False
        if act == "ZTRUNC":
            wire = c.c_def.compress(piece[2]) + c.c_def.flush(zlib.Z_SYNC_FLUSH)
            # a cut before the final empty stored block of the sync flush (00 00 ff ff): mid-block
            r_cut = m.rng.randrange(1, max(2, len(wire) - 4))
            cut = max(1, min(m.d.get("cut", r_cut), len(wire) - 1))
            m.d["cut"] = cut
            c.cli.sendall(wire[:cut])
            return True
        if act == "ZFINISH":
            c.cli.sendall(c.c_def.flush(zlib.Z_FINISH))
            if m.d["then"] == "close":
                return True
            c.c_def = zlib.compressobj(6, zlib.DEFLATED, -15)  # and more data after the end of the stream
            return False
        if act == "ZBOMB":
            n, byte = piece[2], piece[3]
            chunk = bytes([byte]) * (1 << 20)
            while n > 0 and not c.dead.is_set():
                take = chunk[:n]
                c.cli.sendall(c.c_def.compress(take))
                n -= len(take)
            c.cli.sendall(c.c_def.flush(zlib.Z_SYNC_FLUSH))
            return False
        raise ValueError(act)

    def mutate_unit(self, c, muts, kind, unit, off):
        """-> list of bytes pieces and the actions STALL / CLOSE / RST / ONEBYTE."""
        out = [unit]
        end = off + len(unit)
        for m in muts:
            if m.fired is not None or end <= m.off:
                continue
            rng = m.rng
            if m.cls in Z_MUTS:
                if c.c_def is None:
                    continue  # not (yet) compressed towards the client
                if m.cls == "zbomb":
                    if kind != "line":
                        continue
                    r_len = rng.choice([17 << 20, 100_000_000, 100_000_000, 1_000_000_000])
                    r_pos, r_byte = rng.randrange(max(1, len(unit) - 2)), rng.choice([65, 32, 0, 255, 40])
                    n = m.d.get("len", r_len)
                    p = min(m.d.get("pos", r_pos), len(unit) - 2)
                    byte = m.d.get("byte", r_byte)
                    m.d.update(len=n, pos=p, byte=byte, line=unit[:120].decode("latin-1"))
                    m.fired = off
                    return [unit[:p], ("ZBOMB", m, n, byte), unit[p:]]
                k = m.off - off if m.off >= off else 0
                m.fired = off + k
                if m.cls == "ztrunc":
                    return [unit[:k], ("ZTRUNC", m, unit[k:])]
                if m.cls == "zfinish":
                    m.d.setdefault("then", rng.choice(["close", "more"]))
                    return [unit[:k], ("ZFINISH", m), unit[k:]]
                return [unit[:k], ("ZFLIP", m), unit[k:]]
            if m.cls in ("close", "rst", "stall", "onebyte"):
                k = m.off - off if m.off >= off else 0
                m.fired = off + k
                act = {"close": "CLOSE", "rst": "RST", "stall": "STALL", "onebyte": "ONEBYTE"}[m.cls]
                return [unit[:k], act, unit[k:]] if m.cls == "onebyte" else [unit[:k], act]
            if kind != "line":
                continue
            line = unit
            if m.d.get("match") and not re.search(m.d["match"].encode("latin-1"), line):
                continue  # replays: only a line matching this regex
            body = line[:-2]
            if m.cls == "insert":
                ins = m.d.get("line")
                if ins is None:
                    ins = self.random_line(rng, line)
                    m.d["line"] = ins.decode("latin-1")
                else:
                    ins = ins.encode("latin-1")
                m.fired = off
                out = [ins + b"\r\n", line]
            elif m.cls == "dup_line":
                m.fired = off
                out = [line, line]
            elif m.cls == "litsize":
                mm = re.search(rb"\{(\d+)(\+?)\}\r\n$", line)
                if not mm:
                    continue
                n = int(mm.group(1))
                d = m.d.get("delta")
                if d is None:
                    d = rng.choice([-1, 1, -2, 2, -rng.randint(3, 200), rng.randint(3, 200), "huge", "huge",
                                    "zero", "u32", "neg"])
                    m.d["delta"] = d
                new = {"huge": b"99999999999", "zero": b"0", "u32": b"4294967296", "neg": b"-5"}.get(d) \
                    if isinstance(d, str) else str(max(0, n + d)).encode()
                m.fired = off
                out = [line[:mm.start()] + b"{" + new + mm.group(2) + b"}\r\n"]
            elif m.cls == "cr_nolf":
                m.fired = off
                if rng.random() < 0.5:
                    out = [body + b"\r"]
                else:
                    p = rng.randint(0, len(body))
                    out = [body[:p] + b"\r" + body[p:] + b"\r\n"]
            elif m.cls == "nul":
                m.fired = off
                p = rng.randint(0, len(body))
                out = [body[:p] + b"\x00" + body[p:] + b"\r\n"]
            elif m.cls == "longline":
                m.fired = off
                n = m.d.get("len") or rng.randint(1, 20) * 1_000_000
                m.d["len"] = n
                chunk = (b"A" * 1023 + b" ") * 1024
                pieces = []
                while n > 0:
                    pieces.append(chunk[:n])
                    n -= len(chunk)
                out = pieces + [line]
            elif m.cls == "flip":
                m.fired = off
                r_pos, r_bit = rng.randrange(len(line)), rng.randrange(8)  # drawn always: replays keep the sequence
                p = min(m.d.get("pos", r_pos), len(line) - 1)
                bit = m.d.get("bit", r_bit)
                b = bytearray(line)
                b[p] ^= 1 << bit
                m.d.update(pos=p, bit=bit, line=line[:120].decode("latin-1"))
                out = [bytes(b)]
            elif m.cls == "ins_byte":
                m.fired = off
                r_pos, r_byte = rng.randrange(len(line)), rng.randrange(256)
                p = min(m.d.get("pos", r_pos), len(line))
                byte = m.d.get("byte", r_byte)
                m.d.update(pos=p, byte=byte, line=line[:120].decode("latin-1"))
                out = [line[:p] + bytes([byte]) + line[p:]]
            elif m.cls == "del_byte":
                m.fired = off
                r_pos = rng.randrange(len(line))
                p = min(m.d.get("pos", r_pos), len(line) - 1)
                m.d.update(pos=p, line=line[:120].decode("latin-1"))
                out = [line[:p] + line[p + 1:]]
            elif m.cls == "number":
                nums = list(re.finditer(rb"(?<![A-Za-z0-9.])\d+(?![A-Za-z0-9])", body))
                if not nums:
                    continue
                r_k, r_new = rng.randrange(len(nums)), rng.choice(BIG_NUMBERS)
                k = m.d.get("idx", r_k)
                pick = nums[min(k, len(nums) - 1)]
                new = m.d["new"].encode() if "new" in m.d else r_new
                m.d["idx"] = k
                m.fired = off
                m.d["line"] = body[:120].decode("latin-1")
                m.d["orig"] = pick.group(0).decode()
                m.d["new"] = new.decode()
                out = [body[:pick.start()] + new + body[pick.end():] + b"\r\n"]
            break
        return out

    def random_line(self, rng, line):
        r = rng.random()
        tag = line.split(b" ", 1)[0]
        if r < 0.55:
            return rng.choice(UNTAGGED)
        if r < 0.7 and tag not in (b"*", b"+"):
            return rng.choice([tag + b" OK done", tag + b" NO nope", tag + b" BAD bad", b"ZZZ9 OK stray"])
        if r < 0.85:
            return bytes(rng.randrange(32, 127) for _ in range(rng.randint(1, 80)))
        return bytes(rng.randrange(1, 256) for _ in range(rng.randint(1, 200))).replace(b"\r\n", b"??")


# ---------------------------------------------------------------- the campaign

class Campaign:
    def __init__(self, a):
        self.a = a
        self.work = a.workdir or tempfile.mkdtemp(prefix="mkfz.", dir="/tmp")
        os.makedirs(self.work, exist_ok=True)
        self.bin = os.path.abspath(a.binary)
        self.timeout = a.timeout
        self.log = open(os.path.join(self.work, "log.jsonl"), "a")
        self.failures = []
        self.stats = {}
        self.next_index = 5000
        self.dc = os.path.join(self.work, "dc")
        self.box = os.path.join(self.work, "box")  # the parent of the mirror root
        self.root = os.path.join(self.box, "root")
        self.acct = os.path.join(self.root, "fz")
        self.clean_time = {"empty": 3.0, "exact": 1.0}

    # ---- fixture
    def sh(self, *cmd, check=True, timeout=120, **kw):
        r = subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, **kw)
        if check and r.returncode != 0:
            raise RuntimeError(f"{cmd[:3]} failed: {r.stdout[-400:]!r}")
        return r

    def up(self):
        fargs = shlex.split(self.a.fixture_args or "")
        if self.a.compress and "--compress" not in fargs:
            fargs.append("--compress")
        self.sh("bash", FIXTURE, "up", self.dc, *fargs)
        self.env = {}
        for line in open(os.path.join(self.dc, "env")):
            if "=" in line and not line.startswith("#"):
                k, v = line.rstrip("\n").split("=", 1)
                self.env[k] = shlex.split(v)[0] if v else ""
        self.sh("python3", SEED_PY, "populate", os.path.join(self.dc, "env"), "--seed", "7", "--count", "7",
                "--big", "1", "--big-size", "60000:150000")
        self.delim = self.env.get("DELIM", "/") or "/"
        self.secrets = [self.env["IMAP_PASS"], self.env["IMAP_PASS2"]]
        for u, p in (("alice", self.env["IMAP_PASS"]), ("bob", self.env["IMAP_PASS2"])):
            self.secrets.append(base64.b64encode(f"\0{u}\0{p}".encode()).decode())
        self.proxy = Proxy(int(self.env["IMAP_PORT"]))
        self.proxy.stall_max = 4 * self.timeout + 10
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        self.cfg = os.path.join(self.work, "fz.yaml")
        with open(self.cfg, "w") as f:
            f.write("accounts:\n")
            for name, user, root, port in (("fz", "alice", self.root, self.proxy.port),
                                           ("tgt", "bob", os.path.join(self.work, "tgtroot"), self.proxy.port)):
                f.write(f'  - name: {name}\n    root: "{root}"\n    host: 127.0.0.1\n    port: {port}\n'
                        f'    tls: none\n    user: {user}\n    password_file: "{self.dc}/pass-{user}"\n'
                        f'    timeout: {self.timeout}\n    max_connections: 1\n')
        self.cfg2 = os.path.join(self.work, "fz2.yaml")  # two connections
        with open(self.cfg) as f:
            open(self.cfg2, "w").write(f.read().replace("max_connections: 1", "max_connections: 2"))
        # --compress: the same accounts with COMPRESS=DEFLATE
        self.cfgz, self.cfgz2 = os.path.join(self.work, "fzz.yaml"), os.path.join(self.work, "fzz2.yaml")
        for src, dst in ((self.cfg, self.cfgz), (self.cfg2, self.cfgz2)):
            with open(src) as f:
                open(dst, "w").write(f.read().replace("    max_connections:", "    compress: true\n    max_connections:"))
        self.cur_cfg = self.cfg

    def down(self):
        try:
            self.proxy.close_all()
        except Exception:
            pass
        self.sh("bash", FIXTURE, "down", self.dc, check=False)

    # ---- mailkeep
    def run_mk(self, args, cfg=None, bound=None):
        bound = bound or (8 * self.timeout + 40)
        t0 = now()
        p = subprocess.Popen([self.bin, "-c", cfg or self.cur_cfg] + args, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.box,
                             env=dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
                                      UBSAN_OPTIONS="print_stacktrace=1"), start_new_session=True)
        # read the pipes in threads and reap with wait4: the child's own peak RSS (self.last_rss_mb)
        hung = [False]
        got = {}

        def drain(name, f):
            got[name] = f.read()
            f.close()

        def kill():
            hung[0] = True
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
        rd = [threading.Thread(target=drain, args=(k, f), daemon=True) for k, f in (("out", p.stdout), ("err", p.stderr))]
        for t in rd:
            t.start()
        timer = threading.Timer(bound, kill)
        timer.start()
        _, status, ru = os.wait4(p.pid, 0)
        timer.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)
        for t in rd:
            t.join()
        self.last_rss_mb = round(ru.ru_maxrss / 1024)
        return p.returncode, got.get("out", b""), got.get("err", b""), now() - t0, hung[0]

    def compare(self):
        r = subprocess.run(["python3", COMPARE_PY, self.acct, "--host", "127.0.0.1", "--port", self.env["IMAP_PORT"],
                            "--user", "alice", "--password-file", os.path.join(self.dc, "pass-alice")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        return r.returncode == 0, r.stdout.decode("utf-8", "replace")[:600]

    # ---- server changes between iterations
    def dadm(self, *args):
        return self.sh("doveadm", "-c", self.env["DOVECOT_CONF"], *args, check=False, timeout=60)

    def srv(self, folder):
        """a folder name as logged ('/' separated) -> the server's (doveadm, UTF-8) name"""
        return folder.replace("/", self.delim)

    def append_msgs(self, folder, n, seed):
        self.sh("python3", SEED_PY, "append", os.path.join(self.dc, "env"), "--folder", folder,
                "--seed", str(seed), "--count", str(n), "--first", str(self.next_index),
                "--big", "0", check=False)
        self.next_index += n

    def change_server(self, rng):
        did = []
        for _ in range(rng.randint(1, 3)):
            k = rng.random()
            folder = rng.choice(["INBOX", "Archive", "Archive/2024", "Geschäftlich", "R&D", "日本語"])
            if k < 0.4:
                n = rng.randint(1, 3)
                s = rng.randint(1, 9)
                self.append_msgs(folder, n, s)
                did.append(f"append {n} {folder} seed={s}")
                continue
            r = self.dadm("search", "-u", "alice", "mailbox", self.srv(folder), "ALL")
            uids = [ln.split()[1] for ln in r.stdout.decode("utf-8", "replace").splitlines() if len(ln.split()) == 2]
            if not uids:
                continue
            uid = rng.choice(uids)
            if k < 0.7:
                fl = rng.choice(["\\Seen", "\\Flagged", "\\Answered", "$Forwarded", "ProjectX", "\\Deleted"])
                op = rng.choice(["add", "remove"])
                self.dadm("flags", op, "-u", "alice", fl, "mailbox", self.srv(folder), "uid", uid)
                did.append(f"flags {op} {fl} {folder}:{uid}")
            elif len(uids) > 3:
                self.dadm("expunge", "-u", "alice", "mailbox", self.srv(folder), "uid", uid)
                did.append(f"expunge {folder}:{uid}")
        return did

    def apply_changes(self, changes):
        """replays: the server changes as logged by change_server"""
        for c in changes:
            w = c.split(" ")
            if w[0] == "append":
                self.append_msgs(w[2], int(w[1]), int(w[3].split("=", 1)[1]) if len(w) > 3 else 1)
            elif w[0] == "flags":
                folder, uid = w[3].rsplit(":", 1)
                self.dadm("flags", w[1], "-u", "alice", w[2], "mailbox", self.srv(folder), "uid", uid)
            elif w[0] == "expunge":
                folder, uid = w[1].rsplit(":", 1)
                self.dadm("expunge", "-u", "alice", "mailbox", self.srv(folder), "uid", uid)
            else:
                raise ValueError(f"unknown server change {c!r}")
        return list(changes)

    # ---- invariants
    def listing(self, d):
        out = set()
        for dp, dn, fn in os.walk(d):
            if os.path.abspath(dp).startswith(self.root):
                dn[:] = []
                continue
            for n in dn + fn:
                out.add(os.path.join(dp, n))
        return out

    def tmp_names(self):
        try:
            return set(os.listdir("/tmp"))
        except OSError:
            return set()

    def modes(self):
        bad = []
        if not os.path.isdir(self.acct):
            return bad
        for dp, dn, fn in os.walk(self.acct):
            for n in dn:
                p = os.path.join(dp, n)
                st = os.lstat(p)
                if (st.st_mode & 0o7777) != 0o700 and not os.path.islink(p):
                    bad.append(f"{os.path.relpath(p, self.acct)} {oct(st.st_mode & 0o7777)}")
            for n in fn:
                p = os.path.join(dp, n)
                st = os.lstat(p)
                if (st.st_mode & 0o7777) != 0o600:
                    bad.append(f"{os.path.relpath(p, self.acct)} {oct(st.st_mode & 0o7777)}")
        return bad[:5]

    def msg_keys(self):
        keys = set()
        for dp, dn, fn in os.walk(self.acct):
            if os.path.basename(dp) in ("cur", "new"):
                rel = os.path.relpath(os.path.dirname(dp), self.acct)
                keys |= {(rel, f.split(":2,")[0]) for f in fn if ",U=" in f}
        return keys

    def tmp_leftovers(self):
        left = []
        for dp, dn, fn in os.walk(self.acct):
            if os.path.basename(dp) == "tmp":
                left += [os.path.join(os.path.relpath(dp, self.acct), f) for f in fn]
        return left[:5]

    def check_run(self, what, rc, out, err, secs, hung, problems, notes):
        text = err.decode("utf-8", "replace")
        if hung:
            problems.append(f"{what}: hang, killed after {secs:.0f} s")
        if re.search(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:", text):
            m = re.search(r".*(ERROR: \w+Sanitizer.*|runtime error:.*)", text)
            problems.append(f"{what}: sanitizer: {(m.group(1) if m else '?')[:200]}")
        if rc is not None and rc < 0 and not hung:
            problems.append(f"{what}: killed by signal {-rc}")
        elif rc is not None and rc > 5 and not hung:
            problems.append(f"{what}: exit {rc} (not 0..5)")
        for s in self.secrets:
            if s and (s.encode() in out or s.encode() in err):
                problems.append(f"{what}: a password appears in the output")
        if re.search(r"[\x01-\x08\x0b-\x1f\x7f]", text + out.decode("utf-8", "replace")):
            notes.append(f"{what}: raw control byte in the output")

    def record(self, it):
        blobs = {k: it.pop(k) for k in ("out", "err", "clean_err") if k in it}
        self.log.write(json.dumps(it, ensure_ascii=False) + "\n")
        self.log.flush()
        for m in it["muts"]:
            k = m["cls"] + ("" if m.get("fired") is not None else "(not fired)")
            self.stats[k] = self.stats.get(k, 0) + 1
        if it["problems"]:
            self.failures.append(it)
            d = os.path.join(self.work, f"fail-{it['iter']}")
            os.makedirs(d, exist_ok=True)
            for k, v in blobs.items():
                open(os.path.join(d, k), "wb").write(v)
            print(f"FAIL iter {it['iter']} seed {it['seed']}: {json.dumps(it, ensure_ascii=False)[:1500]}", flush=True)

    # ---- an iteration
    def choose(self, rng, est, lines):
        lie = rng.random() < 0.3
        n = 2 if rng.random() < 0.2 else 1
        muts = []
        for _ in range(n):
            cls = rng.choice(LIE if lie else STRUCTURAL)
            if cls in ("c2s_close", "c2s_dup"):
                off = rng.randrange(0, 600)
            elif rng.random() < 0.3:
                off = rng.randrange(0, 2500)  # greeting, capabilities, login, LIST
            else:
                off = rng.randrange(0, max(1, est))
                if lines and (cls not in ("close", "rst", "stall", "onebyte") or rng.random() < 0.5):
                    # a response line picked uniformly (byte offsets mostly land in big literals);
                    # cuts and stalls a few bytes into it (inside "* 5 FETCH (UID ...", a literal size)
                    off = rng.choice(lines)
                    if cls in ("close", "rst", "stall"):
                        off += rng.randrange(0, 60)
            d = {"cls": cls, "off": off}
            if rng.random() < 0.1:
                d["conn"] = 1
            muts.append(d)
        return ("lie" if lie else "structural"), muts

    def ensure_start(self, start, rng, it, changes=None):
        if start == "empty":
            shutil.rmtree(self.acct, ignore_errors=True)
            return True
        if not os.path.isdir(self.acct) or not self.exact_known:
            self.proxy.reset([])
            rc, out, err, secs, hung = self.run_mk(["sync", "fz"])
            self.check_run("setup", rc, out, err, secs, hung, it["problems"], it["notes"])
            if rc != 0:
                it["problems"].append(f"setup clean sync exit {rc}: {err.decode('utf-8', 'replace')[-300:]}")
                return False
        if changes is not None:
            it["changes"] = self.apply_changes(changes)
        else:
            it["changes"] = self.change_server(rng) if rng.random() < self.a.change_share else []
        return True

    def iteration(self, i, seed, forced=None):
        rng = random.Random(seed)
        it = {"iter": i, "seed": seed, "problems": [], "notes": []}
        if self.a.fixture_args:
            it["fixture"] = self.a.fixture_args
        if forced:
            start = forced.get("start", "empty")
            kind = forced.get("kind", "lie" if any(m["cls"] in LIE + Z_LIE for m in forced["muts"][:1])
                              or any(m["cls"] in Z_LIE for m in forced["muts"]) else "structural")
            muts = forced["muts"]
            cmd = forced.get("cmd", "sync")
        else:
            cmd = "push" if rng.random() < self.a.push_share else "sync"
            start = "empty" if rng.random() < 1 - self.a.exact_share else "exact"
            est = self.stream_est[start if cmd == "sync" else "push"]
            kind, muts = self.choose(rng, est, self.line_est[start] if cmd == "sync" else self.line_est["push"])
        zc = bool(forced.get("compress")) if forced else False
        if self.a.compress and not forced:
            # drawn from their own generator: the other choices of a seed stay those of a run without --compress
            zr = random.Random(f"{seed}/z")
            zc = zr.random() < self.a.compress_share
            if zc and zr.random() < self.a.zmut_share:
                lines = self.line_est[start] if cmd == "sync" else self.line_est["push"]
                zcls = zr.choice(Z_MUTS)
                off = zr.choice(lines) if lines and zr.random() < 0.5 else zr.randrange(0, max(1, est))
                d = {"cls": zcls, "off": off}
                if zr.random() < 0.1 and cmd == "sync":
                    d["conn"] = 1
                muts = [d] if zr.random() < 0.5 else muts + [d]
                if zcls in Z_LIE:
                    kind = "lie"
        if zc:
            it["compress"] = True
        self.cur_cfg = self.cfgz if zc else self.cfg
        it.update(kind=kind, start=start, cmd=cmd)
        if cmd == "push":
            if forced:
                for k in ("force_reset", "drop_push_state"):
                    if k in forced:
                        it[k] = forced[k]
            return self.push_iteration(it, rng, muts)
        if not self.ensure_start(start, rng, it, forced.get("changes") if forced else None):
            it["muts"] = muts
            self.record(it)
            return
        objs = [Mut(d, random.Random(f"{seed}/{k}")) for k, d in enumerate(muts)]
        if any(m.conn == 1 for m in objs):
            cfg = self.cfgz2 if zc else self.cfg2
        else:
            cfg = self.cur_cfg
        before_box, before_tmp = self.listing(self.box), self.tmp_names()
        keys_pre = self.msg_keys()
        self.proxy.reset(objs)
        rc, out, err, secs, hung = self.run_mk(["-v", "--json", "sync", "fz"], cfg=cfg)
        keys_mut = self.msg_keys()
        self.proxy.close_all()
        it["muts"] = [dict(m.d, fired=m.fired) for m in objs]
        it.update(rc=rc, secs=round(secs, 2))
        self.check_z(it, zc)
        self.check_run("mutated run", rc, out, err, secs, hung, it["problems"], it["notes"])
        if secs > 3 * self.timeout + self.clean_time[start] and not hung:
            it["problems"].append(f"slow: {secs:.1f} s with timeout {self.timeout}")
        self.check_outside(before_box, before_tmp, it)
        bad = self.modes()
        if bad:
            it["problems"].append(f"modes: {bad}")
        it["err_tail"] = "\n".join(ln for ln in err.decode("utf-8", "replace").splitlines()
                                    if "error" in ln or "warning" in ln)[-300:]
        fired = any(m.fired is not None for m in objs)
        etext = err.decode("utf-8", "replace")
        if not hung and rc is not None and 0 <= rc <= 5:
            try:
                doc = json.loads(out.decode("utf-8"))
                assert any(a.get("name") == "fz" for a in doc["accounts"]), "no account fz"
            except Exception as e:  # noqa: BLE001 - any defect of the report
                it["problems"].append(f"--json report not valid: {type(e).__name__}: {str(e)[:150]}")
        if rc == 1 and "error: account fz:" in etext and 'folder "' not in etext and "folder " not in etext:
            # one account, failed as a whole (no folder named): docs/mailkeep.1 says 4
            it["notes"].append("exit 1 for an account-level failure of the only account")
        if kind == "structural":
            if rc == 0 and fired:
                ok, why = self.compare()
                if not ok:
                    lie_ins = any(m.cls in ("insert", "dup_line") and any(w in str(m.d.get("line", "")) + "DUP"
                                                                           for w in STATE_LIES) for m in objs)
                    if lie_ins or any(m.cls == "dup_line" for m in objs):
                        it["notes"].append(f"exit 0 after a state lie, mirror not exact: {why[:200]}")
                    else:
                        it["problems"].append(f"suspicious exit 0: mirror not exact: {why[:300]}")
            if all(m.cls == "onebyte" for m in objs) and rc != 0 and fired:
                it["problems"].append(f"1-byte chunks alone gave exit {rc}")
            # convergence
            self.proxy.reset([])
            before_box, before_tmp = self.listing(self.box), self.tmp_names()
            rc2, out2, err2, secs2, hung2 = self.run_mk(["sync", "fz"])
            self.check_run("clean run", rc2, out2, err2, secs2, hung2, it["problems"], it["notes"])
            self.check_outside(before_box, before_tmp, it)
            it["clean_rc"] = rc2
            if rc2 != 0:
                it["problems"].append(f"clean run exit {rc2}: {err2.decode('utf-8', 'replace')[-300:]}")
                it["clean_err"] = err2
            # a message the mutated run removed locally must be one the server no longer has
            lost = sorted((keys_pre - keys_mut) - (keys_pre - self.msg_keys()))
            if lost:
                lie_ins = any(any(w in str(m.d.get("line", "")) for w in STATE_LIES) or m.cls == "dup_line"
                              for m in objs)
                (it["notes"] if lie_ins else it["problems"]).append(
                    f"local messages removed by the mutated run although the server still has them: "
                    f"{len(lost)}: {lost[:3]}")
            ok, why = self.compare()
            if not ok:
                it["problems"].append(f"no convergence: {why[:400]}")
                self.exact_known = False
            else:
                self.exact_known = True
            left = self.tmp_leftovers()
            if left:
                it["problems"].append(f"files left in tmp/ after a clean run: {left}")
            bad = self.modes()
            if bad:
                it["problems"].append(f"modes after the clean run: {bad}")
        else:
            shutil.rmtree(self.acct, ignore_errors=True)
            self.exact_known = False
        if it["problems"]:
            it["out"], it["err"] = out, err
        self.record(it)

    def check_z(self, it, zc):
        """after the mutated run: how many connections were compressed, the proxy's own troubles,
        and (compressed iterations) the peak RSS against --rss-limit"""
        if zc:
            it["zconns"] = self.proxy.zconns
            it["rss_mb"] = self.last_rss_mb
            if self.last_rss_mb > self.a.rss_limit:
                it["problems"].append(f"memory: peak RSS {self.last_rss_mb} MB > {self.a.rss_limit} MB")
            if self.proxy.zconns:
                self.stats["compressed iterations"] = self.stats.get("compressed iterations", 0) + 1
        for n in self.proxy.notes[:3]:
            it["notes"].append(f"proxy: {n}")

    def check_outside(self, before_box, before_tmp, it):
        after = self.listing(self.box)
        new = sorted(p for p in after - before_box if not os.path.basename(p).startswith("fail-")
                     and not p.startswith(os.path.join(self.work, "tgtroot")))
        if new:
            it["problems"].append(f"created outside the mirror root: {new[:5]}")
        newtmp = sorted(self.tmp_names() - before_tmp)
        # /tmp is shared with other test runs: report only names a hostile server could have chosen
        sus = [n for n in newtmp if re.search(r"mkfz_|^x$|^\.\.|^(cur|new|tmp|INBOX|\.mailkeep.*)$", n)]
        if sus:
            it["problems"].append(f"new names in /tmp: {sus[:5]}")
        for p in ("/tmp/mkfz_abs", "/mkfz_up", "/tmp/mkfz_up", os.path.join(self.box, "x"),
                  os.path.join(self.work, "x"), os.path.join(self.work, "mkfz_up")):
            if os.path.exists(p):
                it["problems"].append(f"created {p}")

    # ---- push
    def reset_bob(self):
        self.dadm("expunge", "-u", "bob", "mailbox", "*", "all")
        shutil.rmtree(os.path.join(self.acct, ".mailkeep", "push"), ignore_errors=True)

    def bob_count(self):
        """-> (messages on bob, [duplicates (folder, Message-ID, size)])"""
        c = imaplib.IMAP4("127.0.0.1", int(self.env["IMAP_PORT"]), timeout=30)
        c.login("bob", self.env["IMAP_PASS2"])
        typ, data = c.list()
        total = 0
        dups = []
        for line in data:
            m = re.match(rb'\(([^)]*)\) "(.)" (.*)$', line)
            if not m or b"\\Noselect" in m.group(1):
                continue
            name = m.group(3)
            q = name if name.startswith(b'"') else b'"' + name + b'"'
            typ, st = c.select(q, readonly=True)
            n = int(st[0])
            total += n
            if n:
                typ, data = c.fetch("1:*", "(RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
                seen = {}
                for item in data:
                    if isinstance(item, tuple):
                        key = (re.search(rb"RFC822.SIZE (\d+)", item[0]).group(1), item[1].strip())
                        seen[key] = seen.get(key, 0) + 1
                dups += [(name.decode("latin-1"), k[1].decode("latin-1"), int(k[0])) for k, v in seen.items() if v > 1]
        c.logout()
        return total, dups

    def mirror_count(self):
        n = 0
        for dp, dn, fn in os.walk(self.acct):
            if "/.mailkeep" in dp:
                continue
            if os.path.basename(dp) in ("cur", "new"):
                n += sum(1 for f in fn if ",U=" in f)
        return n

    def push_iteration(self, it, rng, muts):
        if not self.exact_known or not os.path.isdir(self.acct):
            self.proxy.reset([])
            rc, out, err, secs, hung = self.run_mk(["sync", "fz"])
            self.check_run("setup", rc, out, err, secs, hung, it["problems"], it["notes"])
            self.exact_known = rc == 0
        reset = it.pop("force_reset", None)
        if reset is None:
            reset = rng.random() < 0.5
        if it.pop("drop_push_state", False):  # as when the mirror was deleted and synced again
            shutil.rmtree(os.path.join(self.acct, ".mailkeep", "push"), ignore_errors=True)
            it["start"] = "push-state-dropped"
        if reset:  # empty bob's folders and forget the push state: the push has APPENDs to do
            self.reset_bob()
            it["start"] = "bob-emptied"
        objs = [Mut(dict(d, conn=0), random.Random(f"{it['seed']}/{k}")) for k, d in enumerate(muts)]
        self.proxy.reset(objs)
        rc, out, err, secs, hung = self.run_mk(["push", "fz", "tgt"])
        self.proxy.close_all()
        it["muts"] = [dict(m.d, fired=m.fired) for m in objs]
        it.update(rc=rc, secs=round(secs, 2))
        self.check_z(it, it.get("compress", False))
        self.check_run("mutated push", rc, out, err, secs, hung, it["problems"], it["notes"])
        if secs > 3 * self.timeout + 3 and not hung:
            it["problems"].append(f"slow push: {secs:.1f} s")
        it["err_tail"] = err.decode("utf-8", "replace")[-300:]
        self.proxy.reset([])
        rc2, out2, err2, secs2, hung2 = self.run_mk(["push", "fz", "tgt"])
        self.check_run("clean push", rc2, out2, err2, secs2, hung2, it["problems"], it["notes"])
        it["clean_rc"] = rc2
        if rc2 != 0:
            it["problems"].append(f"clean push exit {rc2}: {err2.decode('utf-8', 'replace')[-300:]}")
            it["clean_err"] = err2
        else:
            want, (got, dups) = self.mirror_count(), self.bob_count()
            if dups:
                it["problems"].append(f"push: duplicates on the target: {dups[:3]}")
            if reset and want != got:
                it["problems"].append(f"push: target has {got} messages, the mirror {want}")
            if dups or (reset and want != got):
                self.reset_bob()
        if it["problems"]:
            it["out"], it["err"] = out, err
        self.record(it)

    # ---- driver
    def calibrate(self):
        self.exact_known = False
        shutil.rmtree(self.acct, ignore_errors=True)
        self.stream_est = {}
        self.line_est = {}
        for start in ("empty", "exact"):
            self.proxy.reset([])
            rc, out, err, secs, hung = self.run_mk(["sync", "fz"])
            if rc != 0:
                raise RuntimeError(f"calibration sync exit {rc}: {err[-500:]!r}")
            self.stream_est[start] = max(2000, sum(self.proxy.bytes))
            self.line_est[start] = list(self.proxy.line_offs)
            self.clean_time[start] = secs
        self.change_server(random.Random(1))
        self.proxy.reset([])
        rc, out, err, secs, hung = self.run_mk(["sync", "fz"])
        self.stream_est["exact"] = max(self.stream_est["exact"], sum(self.proxy.bytes))
        self.line_est["exact"] += self.proxy.line_offs
        self.proxy.reset([])
        self.reset_bob()
        rc, out, err, secs, hung = self.run_mk(["push", "fz", "tgt"])
        if rc != 0:
            raise RuntimeError(f"calibration push exit {rc}: {err[-500:]!r}")
        self.line_est["push"] = list(self.proxy.line_offs)
        self.stream_est["push"] = max(2000, sum(self.proxy.bytes))
        ok, why = self.compare()
        if not ok:
            raise RuntimeError(f"calibration: not exact: {why}")
        if self.a.compress:
            self.cur_cfg = self.cfgz
            shutil.rmtree(self.acct, ignore_errors=True)  # unchanged folders are not opened: no COMPRESS
            self.proxy.reset([])
            rc, out, err, secs, hung = self.run_mk(["sync", "fz"])
            if rc != 0 or not self.proxy.zconns or self.proxy.notes:
                raise RuntimeError(f"calibration: compressed sync exit {rc}, {self.proxy.zconns} compressed "
                                   f"connections, proxy notes {self.proxy.notes[:2]}: {err[-500:]!r}")
            self.proxy.reset([])
            self.reset_bob()
            rc, out, err, secs, hung = self.run_mk(["push", "fz", "tgt"])
            if rc != 0 or not self.proxy.zconns:
                raise RuntimeError(f"calibration: compressed push exit {rc}: {err[-500:]!r}")
            ok, why = self.compare()
            if not ok:
                raise RuntimeError(f"calibration: compressed: not exact: {why}")
            self.cur_cfg = self.cfg
        self.exact_known = True
        print(f"calibrated: stream sizes {self.stream_est}, clean times "
              f"{ {k: round(v, 2) for k, v in self.clean_time.items()} }", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--iterations", type=int, default=0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--binary")
    ap.add_argument("--workdir")
    ap.add_argument("--timeout", type=int, default=3)
    ap.add_argument("--push-share", type=float, default=0.0)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--replay")
    ap.add_argument("--fixture-args", default=None)
    ap.add_argument("--exact-share", type=float, default=0.6)
    ap.add_argument("--change-share", type=float, default=0.7)
    ap.add_argument("--compress", action="store_true")
    ap.add_argument("--compress-share", type=float, default=0.8)
    ap.add_argument("--zmut-share", type=float, default=0.35)
    ap.add_argument("--rss-limit", type=int, default=1024)
    a = ap.parse_args()
    if a.replay and a.fixture_args is None:
        a.fixture_args = json.loads(a.replay).get("fixture")
    if a.replay and json.loads(a.replay).get("compress"):
        a.compress = True
    if not a.binary:
        for b in (os.path.join(REPO, "build", "san", "mailkeep"), os.path.join(REPO, "mailkeep")):
            if os.access(b, os.X_OK):
                a.binary = b
                break
        else:
            sys.exit("net_mutate.py: no mailkeep binary: run make SAN=1 (or make), or give --binary")
    if a.smoke:
        a.seed, a.iterations, a.duration, a.push_share = 1, 25, 120, 0.2
    if a.seed is None:
        a.seed = int(time.time()) % 100000
    c = Campaign(a)
    print(f"net_mutate: workdir {c.work}, binary {a.binary}, seed {a.seed}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        c.up()
        c.calibrate()
        t_end = now() + a.duration
        if a.replay:
            forced = json.loads(a.replay)
            c.iteration(0, int(forced.get("seed", a.seed * 100000)), forced=forced)
        else:
            i = 0
            while now() < t_end and (not a.iterations or i < a.iterations):
                c.iteration(i, a.seed * 100000 + i)
                i += 1
                if i % 20 == 0:
                    print(f"{i} iterations, {len(c.failures)} failures, {c.stats}", flush=True)
            if a.smoke:
                for forced in PINNED:
                    c.iteration(i, a.seed * 100000 + i, forced=forced)
                    i += 1
        print(f"done: {sum(1 for _ in open(os.path.join(c.work, 'log.jsonl')))} iterations logged, "
              f"{len(c.failures)} failures; per class: {json.dumps(c.stats, sort_keys=True)}", flush=True)
    finally:
        c.down()
        if not a.keep and not c.failures and not a.workdir:
            shutil.rmtree(c.work, ignore_errors=True)
    sys.exit(1 if c.failures else 0)


if __name__ == "__main__":
    main()
