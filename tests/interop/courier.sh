#!/usr/bin/env bash
# Interoperability check against a real Courier-IMAP (not part of `make check`).
#
#   tests/interop/courier.sh [MAILKEEP]     (default: ./mailkeep of this tree)
#
# Needs root and the Debian packages courier-imap + courier-authdaemon (apt-get install -y
# courier-imap; the package's own services may stay stopped). courier-imap conflicts with
# dovecot-imapd, which apt then removes: `apt-get install dovecot-imapd` (or make deps) after.
# Where dovecot-imapd must stay: install courier-base courier-authdaemon gamin (no conflict),
# unpack courier-imap (apt-get download courier-imap; dpkg-deb -x courier-imap_*.deb DIR) and set
# COURIER_ROOT=DIR: imaplogin, imapd and the imapd/imapd-ssl settings are then taken from there
# (checked this way on 2026-12-02, beside Dovecot 2.3.19). It creates the system user
# mailkeep-courier (authpam; its Maildir lives in a temp dir, new password each run),
# starts authdaemond if it is not running, and two couriertcpd on free loopback ports: plain IMAP
# and IMAPS (self-signed certificate from openssl). Then: seed (courier_seed.py), sync over both,
# compare.py (bytes, flags, mtimes, modes, nothing extra), change the server (flags, expunges,
# appends, CREATE, DELETE, RENAME), sync + compare again, a third sync that changes nothing,
# verify and status; folders no client ever SELECTed (below). Everything it started is stopped
# on exit; MK_KEEP=1 keeps the temp dir.
#
# Run 2026-12-05 (COURIER_ROOT, Courier-IMAP 5.0.13+1.0.16-3+b6 beside Dovecot 2.3.19): at e25a245
# all checks passed, but the never-SELECTed folder then checked (two messages of the same size
# delivered in the same second) was moved aside and downloaded again on every run, never re-keyed
# ("the file of UID 2 has the date and size of another"): the check only looked for a new
# UIDVALIDITY. Measured: EXAMINE moves new/ to cur/ but writes no courierimapuiddb, so every
# session gives such a folder a new UIDVALIDITY (time - 10^9) and UIDs 1..n in the same order,
# INTERNALDATE the files' mtime; one SELECT makes it stay. Folder Fresh (four messages of
# different sizes, in new/ and cur/ with flags) is now re-keyed on every run, same inodes, nothing
# downloaded; one more delivered was a move aside and a download of all five before 095149e, now
# the four are re-keyed and the fifth downloaded. compare.py --uidvalidity-varies checks such a
# folder (its own session sees yet another UIDVALIDITY).
set -u
set -o pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
MK=${1:-$repo/mailkeep}
COMPARE=$repo/tests/integration/compare.py
SEED=$here/courier_seed.py
USER_NAME=mailkeep-courier
AUTHPID=/run/courier/authdaemon/pid
CR=${COURIER_ROOT:-}   # an unpacked courier-imap package ("" = the installed one)

[ "$(id -u)" = 0 ] || { echo "courier.sh: must run as root (system user, authdaemond)" >&2; exit 2; }
[ -x /usr/sbin/couriertcpd ] && [ -x "$CR/usr/lib/courier/courier/imaplogin" ] ||
	{ echo "courier.sh: courier-imap is not installed (apt-get install -y courier-imap, or COURIER_ROOT)" >&2; exit 2; }
[ -x "$MK" ] || { echo "courier.sh: no mailkeep binary at $MK (run make)" >&2; exit 2; }

T=$(mktemp -d /tmp/mailkeep-courier.XXXXXX)
chmod 755 "$T"
started_auth=0
failures=0
cleanup() {
	local p
	push_into_cleanup
	for p in "$T/imapd.pid" "$T/imapd-ssl.pid" "$T/imapd-fs.pid" "$T/imapd-pp.pid"; do
		[ -s "$p" ] && /usr/sbin/courierlogger -pid="$p" -stop
	done
	# imapd starts gam_server (FAM) as the mail user; it outlives the server
	for p in $(pgrep -u "$USER_NAME" -x gam_server); do kill "$p"; done
	[ $started_auth = 1 ] && /usr/sbin/authdaemond stop
	if [ "${MK_KEEP:-0}" = 1 ]; then echo "# kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
ok() { printf 'ok: %s\n' "$*"; }
REPO=$repo
# shellcheck source=push_into.sh
. "$here/push_into.sh"
say() { printf '# %s\n' "$*"; }
bad() { printf 'FAIL: %s\n' "$*"; failures=$((failures + 1)); }

# --- server --------------------------------------------------------------------------------------
# the home is not used: imapd gets the Maildir as an absolute path
id "$USER_NAME" >/dev/null 2>&1 || useradd -r -M -d / -s /usr/sbin/nologin "$USER_NAME" || exit 2
[ -d "$(getent passwd "$USER_NAME" | cut -d: -f6)" ] || usermod -d / "$USER_NAME" || exit 2 # imaplogin cds there
MAILDIR=$T/mail/Maildir
mkdir "$T/mail" && chown "$USER_NAME:" "$T/mail" || exit 2
su -s /bin/sh "$USER_NAME" -c "maildirmake '$MAILDIR'" || exit 2
PASS=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
echo "$USER_NAME:$PASS" | chpasswd || exit 2
(umask 077 && printf '%s\n' "$PASS" >"$T/pass")
if ! { [ -s $AUTHPID ] && kill -0 "$(cat $AUTHPID)" 2>/dev/null; }; then
	/usr/sbin/authdaemond start && started_auth=1
fi
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null || exit 2
(umask 077 && cat "$T/key.pem" "$T/cert.pem" >"$T/imapd.pem")
read -r PORT SPORT < <(python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
# the package's settings (capabilities, keywords on), with our certificate and no TLS cache
cat >"$T/env.sh" <<EOF
set -a
. "$CR/etc/courier/imapd"
. "$CR/etc/courier/imapd-ssl"
TLS_CERTFILE=$T/imapd.pem
TLS_CACHEFILE=
IMAP_STARTTLS=NO
EOF
tcpd="/usr/sbin/couriertcpd -address=127.0.0.1 -maxprocs=40 -maxperip=40 -nodnslookup -noidentlookup"
login="$CR/usr/lib/courier/courier/imaplogin $CR/usr/bin/imapd $MAILDIR"
env -i /bin/sh -c ". '$T/env.sh'; /usr/sbin/courierlogger -pid='$T/imapd.pid' -start -name=mk-courier $tcpd $PORT $login"
env -i /bin/sh -c ". '$T/env.sh'; IMAP_TLS=1; /usr/sbin/courierlogger -pid='$T/imapd-ssl.pid' -start -name=mk-courier-ssl \
	$tcpd $SPORT /usr/bin/couriertls -server -tcpd $login"
for _ in $(seq 50); do
	(exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/$SPORT) 2>/dev/null && break
	sleep 0.1
done
say "Courier-IMAP on 127.0.0.1:$PORT (plain) and :$SPORT (IMAPS), user $USER_NAME, mail in $MAILDIR"

# --- seed, sync, compare -------------------------------------------------------------------------
python3 "$SEED" seed 127.0.0.1 "$PORT" "$USER_NAME" "$T/pass" || exit 1
cat >"$T/mk.yaml" <<EOF
accounts:
  - name: courier
    root: $T/mirror
    host: 127.0.0.1
    port: $PORT
    tls: none
    user: $USER_NAME
    password_file: $T/pass
  - name: courier-tls
    root: $T/mirror
    host: 127.0.0.1
    port: $SPORT
    tls: implicit
    ca_file: $T/cert.pem
    user: $USER_NAME
    password_file: $T/pass
EOF
# run NAME ARGS...: mailkeep, output in $T/NAME.out/.err, exit code in $rc
run() {
	local n=$1
	shift
	"$MK" -c "$T/mk.yaml" "$@" >"$T/$n.out" 2>"$T/$n.err"
	rc=$?
	say "mailkeep $*: exit $rc, $(tail -n 1 "$T/$n.err")"
}
# cmp_mirror ACCOUNT PORT TLS [compare.py options]
cmp_mirror() {
	local acct=$1 port=$2 tls=$3
	shift 3
	python3 "$COMPARE" "$T/mirror/$acct" --host 127.0.0.1 --port "$port" --user "$USER_NAME" \
		--password-file "$T/pass" --tls "$tls" --cafile "$T/cert.pem" "$@" >"$T/cmp.out" 2>&1 ||
		{ bad "$acct mirror differs from the server:"; head -n 20 "$T/cmp.out"; return; }
	say "$(tail -n 1 "$T/cmp.out")"
}

run sync1 -v sync courier
[ $rc = 0 ] || bad "first sync: exit $rc: $(head -n 3 "$T/sync1.err")"
grep -q 'folder "INBOX.Archive.2024" (full): 8 new' "$T/sync1.err" || bad "-v does not say INBOX.Archive.2024 used the full path"
cmp_mirror courier "$PORT" none
[ -d "$T/mirror/courier/INBOX/Archive/2024/cur" ] && [ -d "$T/mirror/courier/INBOX/Geschäftlich/cur" ] ||
	bad "INBOX.Archive.2024 / INBOX.Gesch&AOQ-ftlich not at INBOX/Archive/2024 / INBOX/Geschäftlich"
grep -qx 'prefix INBOX' "$T/mirror/courier/.mailkeep/namespace" || bad ".mailkeep/namespace does not record INBOX"
run sync-tls sync courier-tls
[ $rc = 0 ] || bad "sync over IMAPS: exit $rc: $(head -n 3 "$T/sync-tls.err")"
cmp_mirror courier-tls "$SPORT" implicit

python3 "$SEED" mutate 127.0.0.1 "$PORT" "$USER_NAME" "$T/pass" || exit 1
run sync2 -v sync courier
[ $rc = 0 ] || bad "sync after the changes: exit $rc"
grep -q 'folder "INBOX" (full): 4 new, 9 flag changes, 2 removed' "$T/sync2.err" || bad "INBOX changes not as expected: $(grep '"INBOX"' "$T/sync2.err")"
grep -q 'INBOX/R&D no longer exists' "$T/sync2.err" || bad "no warning about the deleted INBOX.R&-D"
# deleted and renamed-away folders stay as local copies (design.md)
cmp_mirror courier "$PORT" none --ignore-local 'INBOX/R&D' 'INBOX/Sent'

run sync3 sync courier
[ $rc = 0 ] || bad "third sync: exit $rc"
"$MK" -c "$T/mk.yaml" --json sync courier >"$T/sync4.json" 2>/dev/null || bad "fourth sync (--json) failed"
python3 - "$T/sync4.json" <<'EOF' || bad "a sync with nothing changed on the server changed something: $(head -c 400 "$T/sync4.json")"
import json, sys
a = json.load(open(sys.argv[1]))["accounts"][0]
sys.exit(0 if a["status"] == "ok" and a["new"] == a["flag_changes"] == a["removed"] == 0 else 1)
EOF
cmp_mirror courier "$PORT" none --ignore-local 'INBOX/R&D' 'INBOX/Sent'
run verify verify
[ $rc = 0 ] || bad "verify: exit $rc: $(head -n 3 "$T/verify.out")"
run status status
[ $rc = 0 ] && grep -q 'some no longer on the server' "$T/status.out" || bad "status: exit $rc or no mention of the gone folders"

# --- folders no client ever SELECTed (made by maildirmake, mail delivered into new/ and cur/ as
# an MDA does): Courier keeps no courierimapuiddb for them, and EXAMINE (mailkeep's read-only
# open, compare.py's too) does not write one, so each session gives them a new UIDVALIDITY (the
# time in seconds, less 10^9) and UIDs 1..n again. One SELECT (any mail client opening it) writes
# the file: from then on its UIDVALIDITY stays. (providers.md, checked 2026-12-05)
# uid_inodes DIR: "UID inode" of each file in DIR/cur, by UID
uid_inodes() {
	local f u
	for f in "$1"/cur/*; do
		u=${f##*,U=}
		echo "${u%%:*} $(stat -c %i "$f")"
	done | sort -n
}
# deliver FOLDER SUB NAME BODY: a message written straight into the Maildir as the mail user
deliver() {
	su -s /bin/sh "$USER_NAME" -c "printf 'From: mda@example.test\nSubject: %s\n\n%s\n' '$3' '$4' \
		>'$MAILDIR/.$1/tmp/$3' && mv '$MAILDIR/.$1/tmp/$3' '$MAILDIR/.$1/$2/$3'" || bad "deliver $3 into .$1/$2"
}
FRESH=(--ignore-local 'INBOX/R&D' 'INBOX/Sent' --uidvalidity-varies INBOX/Fresh)
# Fresh: four messages of different sizes, two in new/, two in cur/ with flags: re-keyed on every
# run (same messages, new UIDVALIDITY), the files kept (same inodes), nothing downloaded again
su -s /bin/sh "$USER_NAME" -c "maildirmake -f Fresh '$MAILDIR'" || bad "maildirmake -f Fresh"
deliver Fresh new 1700000101.M1P1.mk a
deliver Fresh cur 1700000102.M2P2.mk:2,S bb
deliver Fresh cur 1700000103.M3P3.mk:2,FS ccc
deliver Fresh new 1700000104.M4P4.mk dddd
run fresh1 -v sync courier
[ $rc = 0 ] && grep -q 'folder "INBOX.Fresh" (full): 4 new' "$T/fresh1.err" ||
	bad "Fresh: first sync: exit $rc: $(grep Fresh "$T/fresh1.err")"
[ -e "$MAILDIR/.Fresh/courierimapuiddb" ] &&
	bad "Fresh: EXAMINE wrote courierimapuiddb (Courier keeps the UIDVALIDITY now? update providers.md)"
uid_inodes "$T/mirror/courier/INBOX/Fresh" >"$T/fresh1.ino"
uv1=$(sed -n 's/^uidvalidity //p' "$T/mirror/courier/INBOX/Fresh/.mailkeep-state")
cmp_mirror courier "$PORT" none "${FRESH[@]}"
sleep 2 # the UIDVALIDITY is the time in seconds
run fresh2 -v sync courier
uv2=$(sed -n 's/^uidvalidity //p' "$T/mirror/courier/INBOX/Fresh/.mailkeep-state")
say "Fresh: UIDVALIDITY $uv1, then $uv2; $(grep 'INBOX.Fresh' "$T/fresh2.err" | head -n 1)"
[ "$uv1" != "$uv2" ] || say "Fresh: Courier kept the UIDVALIDITY after an EXAMINE (update providers.md)"
[ $rc = 0 ] && grep -Eq 'folder "INBOX.Fresh": (re-keyed 4 messages|unchanged)' "$T/fresh2.err" &&
	! grep -q 'INBOX.Fresh.*moved aside' "$T/fresh2.err" ||
	bad "Fresh: second sync did not re-key: exit $rc: $(grep Fresh "$T/fresh2.err")"
grep -q 'folder "INBOX.Fresh" (full): [1-9]' "$T/fresh2.err" && bad "Fresh: second sync downloaded again"
uid_inodes "$T/mirror/courier/INBOX/Fresh" >"$T/fresh2.ino"
cmp -s "$T/fresh1.ino" "$T/fresh2.ino" || bad "Fresh: other files after the re-key: $(diff "$T/fresh1.ino" "$T/fresh2.ino" | tr '\n' ' ')"
ls -d "$T"/mirror/courier/.mailkeep/uidvalidity-*/INBOX/Fresh 2>/dev/null && bad "Fresh: an old copy moved aside"
cmp_mirror courier "$PORT" none "${FRESH[@]}"
# one more delivered: the four re-keyed (same inodes), the fifth downloaded
deliver Fresh new 1700000105.M5P5.mk eeeee
sleep 2
run fresh3 -v sync courier
[ $rc = 0 ] && grep -q 'folder "INBOX.Fresh" (full): 1 new' "$T/fresh3.err" &&
	! grep -q 'INBOX.Fresh.*moved aside' "$T/fresh3.err" ||
	bad "Fresh: one more delivered: exit $rc: $(grep Fresh "$T/fresh3.err" | tr '\n' ' ')"
uid_inodes "$T/mirror/courier/INBOX/Fresh" >"$T/fresh3.ino"
head -n 4 "$T/fresh3.ino" | cmp -s "$T/fresh1.ino" - && [ "$(wc -l <"$T/fresh3.ino")" = 5 ] ||
	bad "Fresh: one more delivered: the files are not the four kept and one new: $(tr '\n' ' ' <"$T/fresh3.ino")"
ls -d "$T"/mirror/courier/.mailkeep/uidvalidity-*/INBOX/Fresh 2>/dev/null && bad "Fresh: an old copy moved aside"
cmp_mirror courier "$PORT" none "${FRESH[@]}"

# Delivered: two messages of the same size delivered in the same second: which is which cannot
# be told from a listing (same INTERNALDATE and RFC822.SIZE), so no re-key: each run moves the old
# copy aside and downloads the folder again, until a SELECT makes the UIDVALIDITY stay
su -s /bin/sh "$USER_NAME" -c "maildirmake -f Delivered '$MAILDIR'" || bad "maildirmake -f Delivered"
deliver Delivered new 1700000001.M1P1.mk 'delivered 1' body
deliver Delivered new 1700000002.M2P2.mk 'delivered 2' body
touch -d @1700000000 "$MAILDIR"/.Delivered/new/*
run sync5 -v sync courier
[ $rc = 0 ] && grep -q 'folder "INBOX.Delivered" (full): 2 new' "$T/sync5.err" || bad "never-SELECTed folder: first sync: exit $rc"
sleep 2
run sync6 -v sync courier
grep -q '"INBOX.Delivered": UIDVALIDITY changed' "$T/sync6.err" && grep -q 'has the date and size of another' "$T/sync6.err" ||
	bad "Delivered: not moved aside for two messages of the same date and size: $(grep Delivered "$T/sync6.err" | tr '\n' ' ')"
python3 -c 'import imaplib, sys
c = imaplib.IMAP4("127.0.0.1", int(sys.argv[1])); c.login(sys.argv[2], open(sys.argv[3]).read().strip())
assert c.select("INBOX.Delivered")[0] == "OK"; c.logout()' "$PORT" "$USER_NAME" "$T/pass" || bad "SELECT INBOX.Delivered"
run sync7 -v sync courier
sleep 2
run sync8 -v sync courier
[ $rc = 0 ] && ! grep -q 'Delivered.*UIDVALIDITY' "$T/sync8.err" && grep -q 'INBOX.Delivered" (full): 0 new' "$T/sync8.err" ||
	bad "SELECTed once, INBOX.Delivered still changes: $(grep Delivered "$T/sync8.err")"
cmp_mirror courier "$PORT" none "${FRESH[@]}"

# --- push INTO Courier (push_into.sh): a '/' Dovecot and a '.' one, each into a Maildir of its own.
# Courier adds CRLF to a message APPENDed without a final line end (seed.py makes such messages):
# push_check.py compares them with it added.
PI_CMP_OPTS=(--final-crlf)
for n in fs pp; do
	md=$T/mail-$n/Maildir
	mkdir "$T/mail-$n" && chown "$USER_NAME:" "$T/mail-$n" && su -s /bin/sh "$USER_NAME" -c "maildirmake '$md'" || exit 2
	p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	env -i /bin/sh -c ". '$T/env.sh'; /usr/sbin/courierlogger -pid='$T/imapd-$n.pid' -start -name=mk-courier-$n \
		$tcpd $p $CR/usr/lib/courier/courier/imaplogin $CR/usr/bin/imapd $md"
	for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.1; done
	opts=()
	[ $n = pp ] && opts=(--layout maildir++)
	push_into "$n-to-courier" "  - name: target
    host: 127.0.0.1
    port: $p
    tls: none
    user: $USER_NAME
    password_file: $T/pass
    root: $T/target-$n" "127.0.0.1:$p:$USER_NAME:$T/pass" . INBOX "${opts[@]}"
done

if [ $failures = 0 ]; then echo "courier.sh: all checks passed"; else echo "courier.sh: $failures check(s) failed"; fi
[ $failures = 0 ]
