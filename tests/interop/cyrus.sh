#!/usr/bin/env bash
# Interoperability check of mailkeep against a real Cyrus IMAP (not part of `make check`).
#
#   tests/interop/cyrus.sh [--sep no|yes] [--keep]
#
# Needs root and the Debian packages cyrus-imapd sasl2-bin openssl python3 (the system service
# itself may stay stopped: this starts a private master with -C/-M on two free loopback ports, its
# config, spool and sasldb in a temp dir). cyrus-imapd conflicts with every other imap-server
# (dovecot-imapd, courier-imap): where those must stay, install cyrus-common only, unpack imapd
# (apt-get download cyrus-imapd; dpkg-deb -x *.deb DIR) and set CYRUS_IMAPD=DIR/usr/lib/cyrus/bin/imapd.
# --sep is imapd.conf's unixhierarchysep: no gives the
# delimiter "." and folders under "INBOX.", yes gives "/" (altnamespace stays off either way).
# Steps: seed alice over IMAP (tests/fixture/seed.py), sync over IMAPS with ca_file, compare with
# tests/integration/compare.py; change flags, expunge, append, create/delete/rename folders and
# recreate one (new UIDVALIDITY), sync and compare again; a no-change run must EXAMINE nothing;
# verify; a folder bob shares with alice with the lookup right only. Exit 0 when every check passes.
set -u
set -o pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MK=$REPO/mailkeep
SEED="python3 $REPO/tests/fixture/seed.py"
COMPARE="python3 $REPO/tests/integration/compare.py"
SEP=no
KEEP=0
while [ $# -gt 0 ]; do
	case $1 in
	--sep) SEP=$2; shift ;;
	--keep) KEEP=1 ;;
	*) echo "usage: $0 [--sep no|yes] [--keep]" >&2; exit 2 ;;
	esac
	shift
done
[ "$(id -u)" = 0 ] || { echo "cyrus.sh: needs root (the Cyrus master drops to user cyrus)" >&2; exit 2; }
IMAPD=${CYRUS_IMAPD:-/usr/lib/cyrus/bin/imapd}
[ -x /usr/lib/cyrus/bin/master ] && [ -x "$IMAPD" ] ||
	{ echo "cyrus.sh: apt-get install cyrus-imapd sasl2-bin (or see CYRUS_IMAPD above)" >&2; exit 2; }
[ -x "$MK" ] || { echo "cyrus.sh: build mailkeep first (make)" >&2; exit 2; }

T=$(mktemp -d /tmp/mk-cyrus.XXXXXX)
chmod 755 "$T"
FAILS=0
cleanup() {
	[ -f "$T/master.pid" ] && kill "$(cat "$T/master.pid")" 2>/dev/null
	sleep 1
	if [ "$KEEP" = 1 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
ok() { echo "ok   - $*"; }
bad() { echo "FAIL - $*"; FAILS=$((FAILS + 1)); }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

PORT=$(free_port)
SPORT=$(free_port)
PREFIX=INBOX.
DELIM=.
if [ "$SEP" = yes ]; then PREFIX=INBOX/; DELIM=/; fi

# ---------------------------------------------------------------- server
mkdir -p "$T"/{conf,spool,run/proc,run/lock,run/socket,sieve,mk}
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	-keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
cat >"$T/imapd.conf" <<EOF
configdirectory: $T/conf
defaultpartition: default
partition-default: $T/spool
proc_path: $T/run/proc
mboxname_lockpath: $T/run/lock
lmtpsocket: $T/run/socket/lmtp
idlesocket: $T/run/socket/idle
notifysocket: $T/run/socket/notify
sievedir: $T/sieve
admins: cyradmin
altnamespace: no
unixhierarchysep: $SEP
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: $T/sasldb2
sasl_mech_list: PLAIN LOGIN
tls_server_cert: $T/cert.pem
tls_server_key: $T/key.pem
umask: 077
syslog_prefix: cyrus-mk
EOF
cat >"$T/cyrus.conf" <<EOF
START {
  recover cmd="ctl_cyrusdb -C $T/imapd.conf -r"
}
SERVICES {
  imap  cmd="$IMAPD -C $T/imapd.conf" listen="127.0.0.1:$PORT" prefork=0
  imaps cmd="$IMAPD -s -C $T/imapd.conf" listen="127.0.0.1:$SPORT" prefork=0
}
EVENTS {
}
EOF
for u in cyradmin alice bob carol; do
	printf 'pw-%s-1\n' "$u" | saslpasswd2 -p -c -f "$T/sasldb2" "$u"
done
chown -R cyrus:mail "$T"
/usr/lib/cyrus/bin/master -C "$T/imapd.conf" -M "$T/cyrus.conf" -p "$T/master.pid" -d
for _ in $(seq 50); do
	python3 -c "import imaplib; imaplib.IMAP4('127.0.0.1', $PORT).logout()" 2>/dev/null && break
	sleep 0.2
done

# imap USER 'python statements on c (a logged-in imaplib.IMAP4)'
imap() {
	python3 - "$1" "$PORT" "$2" <<'EOF'
import imaplib, sys
user, port, code = sys.argv[1], int(sys.argv[2]), sys.argv[3]
c = imaplib.IMAP4("127.0.0.1", port)
c.login(user, "pw-%s-1" % user)
def ok(r):
    if r[0] != "OK":
        sys.exit("imap %s: %r" % (user, r))
    return r[1]
exec(code)
c.logout()
EOF
}
imap cyradmin "
for u in ('alice', 'bob', 'carol'):
    ok(c.create('user${DELIM}' + u))
" || exit 1

for u in alice bob; do
	cat >"$T/env-$u" <<EOF
IMAP_HOST=127.0.0.1
IMAP_PORT=$PORT
IMAP_USER=$u
IMAP_PASS=pw-$u-1
DELIM=$DELIM
PREFIX=$PREFIX
EOF
done
printf 'pw-alice-1\n' >"$T/pw"
printf 'pw-carol-1\n' >"$T/pw-carol"
chmod 600 "$T/pw" "$T/pw-carol"
cat >"$T/mk.yaml" <<EOF
accounts:
  - name: cyrus
    host: 127.0.0.1
    port: $SPORT
    tls: implicit
    ca_file: $T/cert.pem
    user: alice
    password_file: $T/pw
    root: $T/mk
  - name: carol
    host: 127.0.0.1
    port: $PORT
    tls: none
    user: carol
    password_file: $T/pw-carol
    root: $T/mk
EOF

sync_run() { # sync_run LABEL: runs mailkeep -v sync, output in $T/out.LABEL
	"$MK" -c "$T/mk.yaml" -v sync cyrus >"$T/out.$1" 2>&1
	local rc=$?
	if [ $rc = 0 ]; then ok "$1: sync exit 0"; else bad "$1: sync exit $rc"; sed 's/^/    /' "$T/out.$1"; fi
}
compare() { # compare LABEL [compare.py options]
	local label=$1; shift
	if $COMPARE "$T/mk/cyrus" --host 127.0.0.1 --port "$SPORT" --tls implicit --cafile "$T/cert.pem" \
		--user alice --password-file "$T/pw" "$@" >"$T/cmp.$label" 2>&1; then
		ok "$label: mirror exact"
	else
		bad "$label: mirror differs"; sed 's/^/    /' "$T/cmp.$label" | head -40
	fi
}

# ---------------------------------------------------------------- initial
FOLDERS="INBOX,Archive,Archive/2024,Geschäftlich,日本語,R&D,With Space,Sent,Trash,Empty"
$SEED populate "$T/env-alice" --seed 7 --count 12 --big 2 --folders "$FOLDERS" || exit 1
sync_run initial
compare initial

# ---------------------------------------------------------------- changes
P=$PREFIX
imap alice "
ok(c.select('INBOX'))
ok(c.uid('STORE', '1:4', '+FLAGS', r'(\Seen \Flagged \$Forwarded)'))
ok(c.uid('STORE', '5:6', '-FLAGS', r'(\Seen \Draft)'))
ok(c.uid('STORE', '7', '+FLAGS', r'(\Deleted)'))
ok(c.expunge())
ok(c.select('${P}Archive'))
ok(c.uid('STORE', '2:3', '+FLAGS', r'(\Deleted)'))
ok(c.uid('EXPUNGE', '2:3'))
ok(c.create('\"${P}New Folder\"'))
ok(c.delete('${P}Trash'))
ok(c.rename('${P}Sent', '\"${P}Sent Items\"'))
ok(c.delete('${P}R&-D'))
ok(c.create('${P}R&-D'))
" || exit 1
$SEED append "$T/env-alice" --folder "New Folder" --seed 8 --count 3
$SEED append "$T/env-alice" --folder "R&D" --seed 9 --count 4
$SEED append "$T/env-alice" --folder INBOX --seed 10 --count 2 --first 50
sync_run changed
compare changed --ignore-local INBOX/Sent INBOX/Trash  # deleted: local copy kept
if grep -q '"INBOX" (QRESYNC)' "$T/out.changed"; then ok "changed: -v names QRESYNC"; else bad "changed: no QRESYNC in -v"; fi
grep -q 'uidvalidity' "$T/out.changed" && ok "changed: UIDVALIDITY change reported" ||
	bad "changed: no UIDVALIDITY change in -v"

sync_run nochange
if grep -qi 'EXAMINE\|QRESYNC\|CONDSTORE\|full' "$T/out.nochange"; then
	bad "nochange: a folder was opened"; sed 's/^/    /' "$T/out.nochange"
else
	ok "nochange: no folder opened"
fi
"$MK" -c "$T/mk.yaml" verify cyrus >"$T/out.verify" 2>&1 && ok "verify exit 0" || { bad "verify"; cat "$T/out.verify"; }
"$MK" -c "$T/mk.yaml" status cyrus >"$T/out.status" 2>&1 && ok "status exit 0" || { bad "status"; cat "$T/out.status"; }

# ---------------------------------------------------------------- push (Cyrus to Cyrus)
# The mirror still holds Sent and Trash (deleted on the server, local copy kept): Trash is pushed
# too, and "Sent Items" goes to the Sent folder Sent made (a well-known name, see docs/push.md).
for run in 1 2; do
	"$MK" -c "$T/mk.yaml" -v push cyrus carol >"$T/out.push$run" 2>&1 && ok "push $run: exit 0" ||
		{ bad "push $run: exit $?"; sed 's/^/    /' "$T/out.push$run"; }
done
python3 "$REPO/tests/integration/push_check.py" compare --src "127.0.0.1:$PORT:alice:$T/pw" \
	--dst "127.0.0.1:$PORT:carol:$T/pw-carol" --map "INBOX/Sent Items=INBOX/Sent" \
	--dst-extra INBOX/Trash >"$T/cmp.push" 2>&1 && ok "push: target equals source" ||
	{ bad "push: target differs"; sed 's/^/    /' "$T/cmp.push" | head -20; }
grep -q ' 0 messages appended' "$T/out.push2" && ok "push 2: nothing appended" ||
	{ bad "push 2 appended again"; tail -3 "$T/out.push2"; }

# ---------------------------------------------------------------- lookup-only shared folder
imap bob "
ok(c.create('${P}Shared'))
ok(c.setacl('${P}Shared', 'alice', 'l'))
" || exit 1
"$MK" -c "$T/mk.yaml" -v sync cyrus >"$T/out.shared" 2>&1
echo "# shared folder with right 'l' only: sync exit $?"
grep -i 'shared\|error\|fail' "$T/out.shared" | sed 's/^/    /'
# Cyrus: LIST shows it (LIST-STATUS even gives a STATUS), EXAMINE gets "NO Permission denied"
grep -q 'Permission denied' "$T/out.shared" && ok "shared: EXAMINE refusal quoted" || bad "shared: no refusal"
[ ! -e "$T/mk/cyrus/user" ] && ok "shared: no empty Maildir for it" || bad "shared: empty Maildir made for it"

echo "# $FAILS failure(s); unixhierarchysep: $SEP"
[ "$FAILS" = 0 ]
