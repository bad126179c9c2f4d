#!/usr/bin/env python3
"""push_hostile.py: push_fake.py (the in-memory IMAP target of `mailkeep push`) with misbehaviours
that can be switched on and off while the server runs, for tests/integration/t_push_hostile.sh.

  push_hostile.py --mode-file F [every push_fake.py option]

F holds the active misbehaviours, words separated by blanks; a word MODE:N is used at most N times
(counted over the server's lifetime). It is read again before every command (capability lies and
uv-change: at every connection), so a test turns a misbehaviour off by emptying F: the folders and
messages stay (the honest run after a hostile one sees the same server state). Protocol violations
of the client are only recorded while F is empty (a lying server provokes them).

  caps-literalplus-lie   LITERAL+ announced, but an APPEND with a non-synchronizing literal is
                         answered BAD at once and its bytes are read as commands (an old server)
  caps-uidplus-lie       UIDPLUS announced, no APPENDUID, UID EXPUNGE answered BAD
  caps-multiappend-lie   MULTIAPPEND announced; an APPEND of several messages is answered BAD
  multiappend-partial    an APPEND of several messages stores the first one, then answers NO
                         (not all-or-nothing as RFC 3502 requires)
  uv-change              every folder's UIDVALIDITY changes at each connection (UIDs kept)
  select-no-uv / select-no-exists   SELECT/EXAMINE without UIDVALIDITY / without EXISTS
  select-bye             SELECT answered "* BYE" and the connection closed
  exists-huge            SELECT says "* 4000000000 EXISTS"
  stall-select / stall-append   no answer at all (the connection stays open)
  select-permflags-flood  SELECT's answer begins with 300 "* OK [PERMANENTFLAGS (...)]" lines of
                         1 MB of keywords each (sent at once: 300 MB in a few seconds)
  drip-select            the SELECT answer one byte every 0.3 s
  keepalive-append       the APPEND answered by "* OK still working" every 0.3 s, never completed
  keepalive-append-big / keepalive-create-big   the APPEND / the CREATE answered by "* OK" lines of
                         1.1 KB every 0.3 s (more than the 1024 bytes a timeout's wait needs), never
                         completed
  append-no / append-bad APPEND answered NO / BAD (nothing stored)
  append-bye             "* BYE" and the connection closed after the literal (nothing stored)
  append-reset-mid       the connection closed in the middle of the literal (nothing stored)
  append-stored-reset    the message(s) stored, then the connection closed without the tagged OK
  append-reset-after-ok  the tagged OK sent, then the connection closed
  append-reset-after-ok-noid   the same, only after (the last of) a message without Message-ID
  append-ok-nostore      OK (with APPENDUID when UIDPLUS) but nothing stored: a lying server
  append-rewrite         the message stored with a header added in front ("X-Stored-By:"), as some
                         servers do: its size and header differ from what was sent (the state file
                         records the hash of what was sent, for migrate_check.py)
  append-stored-no       the message(s) stored (EXISTS told), then a tagged NO, and nothing else
  append-hook            the file "hook" beside the mode file run (as a program, waited for) after
                         the message(s) of an APPEND are stored and before its tagged answer
  append-forged-no       the message(s) stored, then a tagged NO, then the real tagged OK for the
                         same tag (a damaged stream: the NO was not the server's answer)
  appenduid-uv / appenduid-zero / appenduid-garbage / appenduid-huge   APPENDUID with another
                         UIDVALIDITY / UID 0 / "x y" / a UID beyond 2^32
  appenduid-dup          APPENDUID always names UID 1 (already used, and repeated)
  store-no               UID STORE answered NO
  store-noperm           UID STORE answered NO [NOPERM] (a passing cause, not the keywords')
  store-throttled        UID STORE answered NO [THROTTLED] (throttling: not the keywords')
  kw-long-no             an APPEND with a keyword over 50 bytes (any of its messages) and a UID STORE
                         of one answered NO [CANNOT] Keyword length too long, as Dovecot does
  search-ghost           SEARCH answers name one more UID that does not exist
  search-huge            SEARCH answers name 4294967296
  search-none            SEARCH completed without its untagged SEARCH response
  search-blind           SEARCH answered with no UID (a search index behind the folder)
  append-no-exists       no EXISTS after an APPEND to the selected folder (RFC 3501: SHOULD)
  search-no              SEARCH answered NO (with others in flight: they are still answered)
  search-flood-endless   untagged SEARCH responses without end (with exists-huge: no bound by EXISTS)
  search-empty-endless   untagged SEARCH responses naming no UID (300 twice a second) without end
  fetch-other-uid        FETCH responses name UID+1000 instead of the UID asked for
  fetch-no               UID FETCH answered NO
  fetch-unsolicited      a UID FETCH without BODY.PEEK[HEADER] is also answered with an unsolicited
                         "* 1 FETCH (UID u FLAGS (...))" for the folder's first message when it was not
                         asked for (another client changed its flags: RFC 3501 §7.4.2, with its UID
                         during a UID command, §6.4.8)
  fetch-flags-other-uid  the answers of a UID FETCH without BODY.PEEK[HEADER] name UID+1000 instead of
                         the UID asked for (damaged on the way)
  fetch-drop-first       the first answer of a UID FETCH without BODY.PEEK[HEADER] left out (damaged)
  fetch-flags-noflags    the answers of a UID FETCH without BODY.PEEK[HEADER] without their FLAGS
                         (damaged on the way)
  fetch-no-header / fetch-no-size / fetch-no-flags   an item missing from FETCH responses
  fetch-size-lie         RFC822.SIZE one more than the truth
  fetch-size-swap        the RFC822.SIZEs of the answers to one UID FETCH rotated: each message given
                         the next one's (sizes of other messages looked up, damaged on the way)
  create-no              CREATE answered NO
  create-exists-plain    CREATE of a folder that exists (with --fold-case: under another case) answered
                         a plain NO, without [ALREADYEXISTS] (RFC 5530 makes the code a SHOULD)
  append-ok-unknown-tag  after the APPEND's OK, "zz9 BAD ..." (a tag never sent: a line of a message
                         taken for a command after a damaged literal)
  expunge-slow           UID EXPUNGE answered by one "* n EXPUNGE" per message it removes, 0.7 s apart,
                         each after 40 "* OK expunging" lines (more than the 1024 bytes a timeout's
                         wait needs), then OK: a slow server, longer than 5 x a 1 s timeout in all
  expunge-endless        UID EXPUNGE removes its messages, then answers "* 1 EXPUNGE" 100 times every
                         0.3 s without end (a server repeating itself: more answers than its UIDs)
  list-hostile           LIST also names "../x" (\\Sent), "/etc" (\\Drafts), names with control
                         characters and CR LF (literals) (\\Junk, \\Archive); none exists
"""
import argparse
import os
import re
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import push_fake as pf  # noqa: E402


class HStore(pf.Store):
    def __init__(self, a):
        self.used = {}
        super().__init__(a)

    def modes(self):
        try:
            with open(self.a.mode_file, encoding="utf-8") as f:
                words = f.read().split()
        except OSError:
            words = []
        out = {}
        for w in words:
            name, _, n = w.partition(":")
            out[name] = int(n) if n else None
        return out


class HConn(pf.Conn):
    def __init__(self, store, sock, a, n):
        super().__init__(store, sock, a, n)
        self.real_caps = list(self.caps)
        self.cur_modes = {}

    # ---- modes ----
    def refresh(self):
        self.cur_modes = self.s.modes()

    def on(self, mode):
        """whether MODE is active now; counts one use when it is limited"""
        if mode not in self.cur_modes:
            return False
        limit = self.cur_modes[mode]
        if limit is not None:
            with self.s.lock:
                used = self.s.used.get(mode, 0)
                if used >= limit:
                    return False
                self.s.used[mode] = used + 1
        self.log(f"MISBEHAVE {mode}")
        return True

    def violation(self, what):
        if self.cur_modes:
            self.log("(violation while misbehaving, not recorded) " + what)
            return
        super().violation(what)

    def wait_peer(self, secs):
        """hold the connection (store lock released) until the peer closes it or secs pass"""
        self.s.lock.release()
        try:
            end = time.monotonic() + secs
            while time.monotonic() < end:
                r, _, _ = select.select([self.sock], [], [], 0.2)
                if r:
                    d = self.sock.recv(65536)
                    if not d:
                        raise pf.Drop()
                    self.buf += d
        finally:
            self.s.lock.acquire()

    def announced(self):
        caps = list(self.real_caps)
        for mode, cap in (("caps-literalplus-lie", "LITERAL+"), ("caps-uidplus-lie", "UIDPLUS"),
                          ("caps-multiappend-lie", "MULTIAPPEND")):
            if mode in self.cur_modes and cap not in caps:
                caps.append(cap)
        return " ".join(caps)

    def read_command(self):
        ln = super().read_command()
        self.refresh()
        return ln

    def run(self):
        self.refresh()
        if "uv-change" in self.cur_modes:
            with self.s.lock:
                for f in self.s.folders.values():
                    f["uidvalidity"] += 1000
                self.s.save()
            self.log("MISBEHAVE uv-change")
        super().run()

    def captured(self, fn, *args):
        """the bytes FN would send, not sent"""
        out = []
        real = self.send
        self.send = lambda s: out.append(s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s)
        try:
            fn(*args)
        finally:
            self.send = real
        return b"".join(out)

    # ---- commands ----
    def c_CAPABILITY(self, tag, args, ln):
        self.send(f"* CAPABILITY IMAP4rev1 {self.announced()}\r\n{tag} OK done\r\n")

    def c_LOGIN(self, tag, args, ln):
        self.send(f"{tag} OK [CAPABILITY IMAP4rev1 {self.announced()}] logged in\r\n")

    def keepalive_forever(self, line):
        """send line every 0.3 s (store lock released) until the peer goes away"""
        self.s.lock.release()
        try:
            while True:
                self.send(line)
                time.sleep(0.3)
        finally:
            self.s.lock.acquire()

    def c_CREATE(self, tag, args, ln):
        if self.on("keepalive-create-big"):
            self.keepalive_forever("* OK " + "x" * 1100 + "\r\n")
        if self.on("create-no"):
            self.send(f"{tag} NO [CANNOT] you may not create folders here\r\n")
            return
        if self.norm(self.mbox_arg(args)[0]) in self.s.folders and self.on("create-exists-plain"):
            self.send(f"{tag} NO Mailbox already exists\r\n")
            return
        super().c_CREATE(tag, args, ln)

    def c_LIST(self, tag, args, ln):
        out = self.captured(super().c_LIST, tag, args, ln)
        if self.on("list-hostile"):
            extra = (b'* LIST (\\HasNoChildren \\Sent) "." "../x"\r\n'
                     b'* LIST (\\HasNoChildren \\Drafts) "." "/etc"\r\n'
                     b'* LIST (\\HasNoChildren \\Junk) "." {12}\r\nJunk\x1b[31m\x07\x01x\r\n'
                     b'* LIST (\\HasNoChildren \\Archive) "." {20}\r\nArc\r\nm 1 1 1 -\r\nhive\r\n'
                     b'* LIST (\\HasNoChildren) "." "INBOX.."\r\n'
                     b'* LIST (\\HasNoChildren) NIL "."\r\n')
            i = out.rfind(b"\r\n", 0, len(out) - 2)
            out = out[:i + 2] + extra + out[i + 2:]
        self.send(out)

    def c_SELECT(self, tag, args, ln, ro=False):
        if self.on("stall-select"):
            self.wait_peer(3600)
            return
        if self.on("select-bye"):
            self.send("* BYE going away\r\n")
            raise pf.Drop()
        out = self.captured(super().c_SELECT, tag, args, ln, ro)
        if self.on("select-no-uv"):
            out = re.sub(rb"\* OK \[UIDVALIDITY \d+\][^\r]*\r\n", b"", out)
        if self.on("select-no-exists"):
            out = re.sub(rb"\* \d+ EXISTS\r\n", b"", out)
        if self.on("exists-huge"):
            out = re.sub(rb"\* \d+ EXISTS\r\n", b"* 4000000000 EXISTS\r\n", out)
        if self.on("select-permflags-flood"):
            line = b"* OK [PERMANENTFLAGS (" + b" ".join(b"$kw%06d" % i for i in range(110000)) + \
                b" \\*)] flood\r\n"
            for _ in range(300):
                self.send(line)
        if self.on("drip-select"):
            for k in range(len(out)):
                self.send(out[k:k + 1])
                self.wait_peer(0.3)
            return
        self.send(out)

    def c_EXAMINE(self, tag, args, ln):
        self.c_SELECT(tag, args, ln, ro=True)

    def c_APPEND(self, tag, args, ln):
        name, rest = self.mbox_arg(args)
        name = self.norm(name)
        msgs = []
        line = rest
        while True:
            m = re.match(r'\s*(?:\(([^)]*)\))?\s*(?:"([^"]*)")?\s*\{(\d+)(\+?)\}$', line)
            if not m:
                self.send(f"{tag} BAD syntax\r\n")
                return
            n, sync = int(m.group(3)), m.group(4) != "+"
            if not sync and "LITERAL+" not in self.real_caps and self.on("caps-literalplus-lie"):
                # an old server: the command line is wrong, the literal's lines are commands
                self.send(f"{tag} BAD invalid literal\r\n")
                return
            self.s.appends += 1
            data = self.literal(n, sync, drop_half=self.on("append-reset-mid"))
            msgs.append((m.group(1).split() if m.group(1) else [], m.group(2), data))
            nxt = self.line().decode("utf-8", "surrogateescape")
            if nxt.strip() == "":
                break
            line = nxt
        f = self.s.folders.get(name)
        if f is None:
            self.send(f"{tag} NO [TRYCREATE] Mailbox doesn't exist: {name}\r\n")
            return
        if self.on("stall-append"):
            self.wait_peer(3600)
            return
        if self.on("keepalive-append-big"):
            self.keepalive_forever("* OK " + "x" * 1100 + "\r\n")
        if self.on("keepalive-append"):
            self.s.lock.release()
            try:
                while True:
                    self.send("* OK still working\r\n")
                    time.sleep(0.3)
            finally:
                self.s.lock.acquire()
        if len(msgs) > 1 and "MULTIAPPEND" not in self.real_caps and self.on("caps-multiappend-lie"):
            self.send(f"{tag} BAD MULTIAPPEND not supported\r\n")
            return
        if any(len(k) > 50 and not k.startswith("\\") for m in msgs for k in m[0]) and self.on("kw-long-no"):
            self.send(f"{tag} NO [CANNOT] Keyword length too long\r\n")
            return
        if self.on("append-no"):
            self.send(f"{tag} NO the server refuses this message\r\n")
            return
        if self.on("append-bad"):
            self.send(f"{tag} BAD what was that\r\n")
            return
        if self.on("append-bye"):
            self.send("* BYE shutting down\r\n")
            raise pf.Drop()
        partial = len(msgs) > 1 and self.on("multiappend-partial")
        nostore = self.on("append-ok-nostore")
        rewrite = self.on("append-rewrite")
        uids = []
        for k, (flags, date, data) in enumerate(msgs):
            if partial and k > 0:
                break
            uid = f["uidnext"]
            f["uidnext"] += 1
            if not nostore:
                m = {"uid": uid, "flags": set(self.keep_flags(flags)),
                     "date": pf.parse_date(date) if date else int(time.time()), "data": data}
                if rewrite:
                    m["orig"], m["data"] = data, b"X-Stored-By: push_hostile\r\n" + data
                f["messages"].append(m)
            uids.append(uid)
        self.s.save()
        if partial:
            self.send(f"{tag} NO [SERVERBUG] could not store message 2\r\n")
            return
        if self.on("append-stored-reset"):
            raise pf.Drop()
        code = ""
        if "UIDPLUS" in self.real_caps:
            uv, us = f["uidvalidity"], ",".join(map(str, uids))
            if self.on("appenduid-uv"):
                uv += 7
            if self.on("appenduid-zero"):
                us = ",".join("0" for _ in uids)
            if self.on("appenduid-dup"):
                us = ",".join("1" for _ in uids)
            if self.on("appenduid-huge"):
                us = ",".join("99999999999" for _ in uids)
            code = f"[APPENDUID {uv} {us}] "
            if self.on("appenduid-garbage"):
                code = "[APPENDUID x y] "
        if self.sel == name and not self.on("append-no-exists"):
            self.send(f"* {len(f['messages'])} EXISTS\r\n")
        if self.on("append-hook"):
            subprocess.run([os.path.join(os.path.dirname(os.path.abspath(self.a.mode_file)), "hook")],
                           check=False, timeout=30)
        if self.on("append-stored-no"):
            self.send(f"{tag} NO [SERVERBUG] could not store the message\r\n")
            return
        if self.on("append-forged-no"):
            self.send(f"{tag} NO [SERVERBUG] not stored\r\n")
        self.send(f"{tag} OK {code}append done\r\n")
        if self.on("append-reset-after-ok"):
            raise pf.Drop()
        if self.on("append-ok-unknown-tag"):
            self.send("zz9 BAD Error in IMAP command: Unknown command\r\n")
        if not re.search(rb"(?im)^message-id:", msgs[-1][2].split(b"\r\n\r\n", 1)[0]) and \
                self.on("append-reset-after-ok-noid"):
            raise pf.Drop()

    def c_UID_SEARCH(self, tag, args, ln):
        if self.on("search-no"):
            self.send(f"{tag} NO [UNAVAILABLE] search backend busy\r\n")
            return
        out = self.captured(super().c_UID_SEARCH, tag, args, ln)
        f = self.cur()
        if f is not None and self.on("search-flood-endless"):
            self.s.lock.release()
            try:
                while True:
                    self.send("* SEARCH" + " 1" * 10000 + "\r\n")
            finally:
                self.s.lock.acquire()
        if f is not None and self.on("search-empty-endless"):
            self.s.lock.release()
            try:
                while True:
                    self.send("* SEARCH\r\n" * 300)
                    time.sleep(0.5)
            finally:
                self.s.lock.acquire()
        if f is not None and self.on("search-ghost"):
            out = re.sub(rb"\* SEARCH([^\r]*)\r\n", lambda m: b"* SEARCH%s %d\r\n" % (m.group(1), f["uidnext"] + 100), out)
        if f is not None and self.on("search-huge"):
            out = re.sub(rb"\* SEARCH([^\r]*)\r\n", lambda m: b"* SEARCH%s 4294967296\r\n" % m.group(1), out)
        if self.on("search-none"):
            out = re.sub(rb"\* SEARCH[^\r]*\r\n", b"", out)
        if self.on("search-blind"):
            out = re.sub(rb"\* SEARCH[^\r]*\r\n", b"* SEARCH\r\n", out)
        self.send(out)

    def c_UID_FETCH(self, tag, args, ln):
        if self.on("fetch-no"):
            self.send(f"{tag} NO [UNAVAILABLE] fetch backend busy\r\n")
            return
        out = self.captured(super().c_UID_FETCH, tag, args, ln)
        if f"(UID {self.first_uid()} " not in out.decode("utf-8", "surrogateescape") and \
                "BODY.PEEK[HEADER]" not in args.upper() and self.first_uid() and self.on("fetch-unsolicited"):
            out = f"* 1 FETCH (UID {self.first_uid()} FLAGS (\\Seen))\r\n".encode() + out
        if "BODY.PEEK[HEADER]" not in args.upper() and b" FETCH " in out and self.on("fetch-flags-other-uid"):
            out = re.sub(rb"\(UID (\d+) ", lambda m: b"(UID %d " % (int(m.group(1)) + 1000), out)
        if "BODY.PEEK[HEADER]" not in args.upper() and b" FETCH " in out and self.on("fetch-flags-noflags"):
            out = re.sub(rb" FLAGS \([^)]*\)", b"", out)
        if "BODY.PEEK[HEADER]" not in args.upper() and self.on("fetch-drop-first"):
            out = re.sub(rb"\* \d+ FETCH [^\r]*\r\n", b"", out, count=1)
        if "BODY.PEEK[HEADER]" in args.upper():
            if self.on("fetch-other-uid"):
                out = re.sub(rb"\(UID (\d+) ", lambda m: b"(UID %d " % (int(m.group(1)) + 1000), out)
            if self.on("fetch-no-size"):
                out = re.sub(rb" RFC822\.SIZE \d+", b"", out)
            if self.on("fetch-size-lie"):
                out = re.sub(rb" RFC822\.SIZE (\d+)", lambda m: b" RFC822.SIZE %d" % (int(m.group(1)) + 1), out)
            if self.on("fetch-size-swap"):
                sizes = re.findall(rb" RFC822\.SIZE (\d+)", out)
                it = iter(sizes[1:] + sizes[:1])
                out = re.sub(rb" RFC822\.SIZE \d+", lambda m: b" RFC822.SIZE " + next(it), out)
            if self.on("fetch-no-flags"):
                out = re.sub(rb" FLAGS \([^)]*\)", b"", out)
            if self.on("fetch-no-header"):
                out = self.without_headers(out)
        self.send(out)

    def first_uid(self):
        f = self.cur()
        return f["messages"][0]["uid"] if f and f["messages"] else 0

    @staticmethod
    def without_headers(out):
        """FETCH responses with their BODY[HEADER] item (and its literal) taken out"""
        res, pos = [], 0
        for m in re.finditer(rb" BODY\[HEADER\] \{(\d+)\}\r\n", out):
            if m.start() < pos:
                continue
            res.append(out[pos:m.start()])
            pos = m.end() + int(m.group(1))
        res.append(out[pos:])
        return b"".join(res)

    def c_UID_STORE(self, tag, args, ln):
        if self.on("store-no"):
            self.send(f"{tag} NO [CANNOT] flags are read-only today\r\n")
            return
        if self.on("store-noperm"):
            self.send(f"{tag} NO [NOPERM] no permission to change flags\r\n")
            return
        if self.on("store-throttled"):
            self.send(f"{tag} NO [THROTTLED] Too many commands, slow down\r\n")
            return
        m = re.search(r"\(([^)]*)\)", args)
        if m and any(len(k) > 50 and not k.startswith("\\") for k in m.group(1).split()) and \
                self.on("kw-long-no"):
            self.send(f"{tag} NO [CANNOT] Keyword length too long\r\n")
            return
        super().c_UID_STORE(tag, args, ln)

    def c_UID_EXPUNGE(self, tag, args, ln):
        if "UIDPLUS" not in self.real_caps and "caps-uidplus-lie" in self.cur_modes:
            self.send(f"{tag} BAD unknown command\r\n")
            return
        slow, endless = self.on("expunge-slow"), self.on("expunge-endless")
        if not (slow or endless) or "UIDPLUS" not in self.caps:
            super().c_UID_EXPUNGE(tag, args, ln)
            return
        f = self.cur()
        maxuid = f["messages"][-1]["uid"] if f["messages"] else 0
        inset = pf.parse_set(args.strip(), maxuid)
        gone = [i + 1 for i, m in enumerate(f["messages"]) if inset(m["uid"]) and "\\Deleted" in m["flags"]]
        f["messages"] = [m for m in f["messages"] if not (inset(m["uid"]) and "\\Deleted" in m["flags"])]
        self.s.save()
        self.s.lock.release()
        try:
            if endless:
                while True:
                    self.send("* 1 EXPUNGE\r\n" * 100)
                    time.sleep(0.3)
            # sequence numbers shift down as each message goes: the last first keeps them right
            for seq in reversed(gone):
                time.sleep(0.7)
                self.send("* OK expunging, please wait\r\n" * 40 + f"* {seq} EXPUNGE\r\n")
        finally:
            self.s.lock.acquire()
        self.send(f"{tag} OK expunged\r\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode-file", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--log")
    ap.add_argument("--caps", default="")
    ap.add_argument("--delim", default=".")
    ap.add_argument("--ns-prefix", default="")
    ap.add_argument("--permflags", default="(\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)")
    ap.add_argument("--lifetime", type=float, default=300)
    ap.add_argument("--fold-case", action="store_true")
    a = ap.parse_args()
    # push_fake.py's own misbehaviours, off
    a.limit = a.quota = a.drop_append = a.search_flood = 0
    a.trycreate_once = a.cont_first = False
    a.cont_wait = None
    store = HStore(a)
    store.save()
    pf.serve(a, store, HConn)


if __name__ == "__main__":
    main()
