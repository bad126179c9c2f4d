#!/usr/bin/env bash
# Interoperability check of mailkeep against a real Cyrus IMAP (not part of `make check`).
#
#   tests/interop/cyrus.sh [--sep no|yes] [--suppress "QRESYNC ..."] [--keep]
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
# verify; a folder deleted and made again with the same messages and one more (re-keyed: same
# inodes, only the new one downloaded); a folder bob shares with alice with the lookup right only.
# Exit 0 when every check passes.
# Run 2026-12-05 (CYRUS_IMAPD, Cyrus IMAP 3.6.1-4+deb12u5 beside Dovecot 2.3.19): at e25a245
# --sep no (64 checks) and --sep yes (65) passed; the re-key step, added with 095149e, passes
# (--sep no: 69 checks; 12 messages re-keyed, 1 new).
set -u
set -o pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MK=$REPO/mailkeep
SEED="python3 $REPO/tests/fixture/seed.py"
COMPARE="python3 $REPO/tests/integration/compare.py"
SEP=no
KEEP=0
SUPPRESS=""
while [ $# -gt 0 ]; do
	case $1 in
	--sep) SEP=$2; shift ;;
	--keep) KEEP=1 ;;
	--suppress) SUPPRESS=$2; shift ;;
	*) echo "usage: $0 [--sep no|yes] [--suppress CAPS] [--keep]" >&2; exit 2 ;;
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
	push_into_cleanup
	[ -f "$T/master.pid" ] && kill "$(cat "$T/master.pid")" 2>/dev/null
	sleep 1
	if [ "$KEEP" = 1 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
# shellcheck source=push_into.sh
. "$REPO/tests/interop/push_into.sh"
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
[ -n "$SUPPRESS" ] && echo "suppress_capabilities: $SUPPRESS" >>"$T/imapd.conf"
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
for u in cyradmin alice bob carol dave erin frank gina; do
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
for u in ('alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina'):
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
QP=QRESYNC
case " $SUPPRESS " in *" QRESYNC "*) QP=CONDSTORE ;; esac
if grep -q "\"INBOX\" ($QP)" "$T/out.changed"; then ok "changed: -v names $QP"; else bad "changed: no $QP in -v"; fi
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

# ---------------------------------------------------------------- re-key
# "With Space" deleted and made again with the same messages (bytes, INTERNALDATEs, flags: a
# migration by upload) and one more: a new UIDVALIDITY, the mirrored messages re-keyed (same
# inodes, nothing downloaded again, nothing moved aside), the new one downloaded beside them
WS="$T/mk/cyrus/INBOX/With Space"
find "$WS/cur" -type f -printf '%i\n' | sort >"$T/ws.ino0"
n_ws=$(wc -l <"$T/ws.ino0")
imap alice "
import re
box = '\"${P}With Space\"'
ok(c.select(box, readonly=True))
msgs = []
for u in ok(c.uid('SEARCH', 'ALL'))[0].split():
    meta = ok(c.uid('FETCH', u, '(FLAGS INTERNALDATE)'))[0].decode()
    fl = [f for f in re.search(r'FLAGS \(([^)]*)\)', meta).group(1).split() if f != '\\\\Recent']
    body = ok(c.uid('FETCH', u, '(BODY.PEEK[])'))[0][1]
    msgs.append(('(' + ' '.join(fl) + ')', re.search(r'INTERNALDATE (\"[^\"]+\")', meta).group(1), body))
ok(c.close())
ok(c.delete(box))
ok(c.create(box))
for fl, date, body in msgs:
    ok(c.append(box, fl, date, body))
ok(c.append(box, None, None, b'From: new@example.test\r\nSubject: after the move\r\n\r\nnew\r\n'))
" || bad "With Space: deleted and made again"
sync_run rekey
compare rekey --ignore-local INBOX/Sent INBOX/Trash
grep -q "folder \"${P}With Space\": re-keyed $n_ws messages" "$T/out.rekey" && ok "rekey: re-keyed $n_ws messages" ||
	bad "rekey: not re-keyed: $(grep -m 2 "${P}With Space" "$T/out.rekey" | tr '\n' ' ')"
grep -Eq "folder \"${P}With Space\" \(.*\): 1 new" "$T/out.rekey" && ok "rekey: the new message downloaded, no other" ||
	bad "rekey: not 1 new: $(grep "${P}With Space\" (" "$T/out.rekey")"
find "$WS/cur" -type f -printf '%i\n' | sort >"$T/ws.ino1"
[ -z "$(comm -23 "$T/ws.ino0" "$T/ws.ino1")" ] && [ "$(wc -l <"$T/ws.ino1")" = $((n_ws + 1)) ] &&
	ok "rekey: the $n_ws files kept (same inodes), one new" || bad "rekey: other files: $(tr '\n' ' ' <"$T/ws.ino1")"
ls -d "$T"/mk/cyrus/.mailkeep/uidvalidity-*/INBOX/"With Space" 2>/dev/null && bad "rekey: moved aside"

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

# ---------------------------------------------------------------- push INTO Cyrus from Dovecot
# (tests/interop/push_into.sh) a '/' Dovecot into dave, a '.' one (Maildir++) into erin
for pair in "fs dave" "pp erin"; do
	set -- $pair
	printf 'pw-%s-1\n' "$2" >"$T/pw-$2"
	chmod 600 "$T/pw-$2"
	opts=()
	[ "$1" = pp ] && opts=(--layout maildir++)
	push_into "$1-to-$2" "  - name: target
    host: 127.0.0.1
    port: $SPORT
    tls: implicit
    ca_file: $T/cert.pem
    user: $2
    password_file: $T/pw-$2
    root: $T/mk-$2" "127.0.0.1:$PORT:$2:$T/pw-$2" "$DELIM" INBOX "${opts[@]}"
done

# ---------------------------------------------------------------- sync rounds (CONDSTORE/QRESYNC)
# frank: rounds of flag changes (keywords too), expunges (the highest UID, UIDs never mirrored,
# every message of a folder), appends, STOREs that change nothing but the MODSEQ, and Cyrus's
# delayed expunge purged (cyr_expire -X 0: the expunged records are gone, VANISHED then comes from
# Cyrus's deletedmodseq); after each, the mirror must be exact (compare.py --keywords) and a second
# sync must change nothing and open no folder. --suppress QRESYNC runs them on the CONDSTORE path.
printf 'pw-frank-1\n' >"$T/pw-frank"
chmod 600 "$T/pw-frank"
sed 's/^IMAP_USER=.*/IMAP_USER=frank/; s/^IMAP_PASS=.*/IMAP_PASS=pw-frank-1/' "$T/env-alice" >"$T/env-frank"
cat >"$T/qr.yaml" <<EOF
accounts:
  - name: frank
    host: 127.0.0.1
    port: $SPORT
    tls: implicit
    ca_file: $T/cert.pem
    user: frank
    password_file: $T/pw-frank
    root: $T/mk
EOF
$SEED populate "$T/env-frank" --seed 31 --count 25 --big 1 --folders "INBOX,Lists,Lists/Dev,Ünïcode,Small" \
	>>"$T/seed.log" 2>&1 || bad "seed frank: $(tail -n 1 "$T/seed.log")"
round() { # round LABEL EXPECTED_PATH: sync -v, compare --keywords, a second sync that does nothing
	local label=$1 want=$2 rc
	"$MK" -c "$T/qr.yaml" -v sync frank >"$T/out.r$label" 2>&1
	rc=$?
	[ $rc = 0 ] && ok "round $label: sync exit 0" ||
		{ bad "round $label: sync exit $rc"; sed 's/^/    /' "$T/out.r$label" | tail -n 5; }
	if [ -n "$want" ] && ! grep -q "($want)" "$T/out.r$label"; then
		bad "round $label: no folder took the $want path"; grep 'folder "' "$T/out.r$label" | sed 's/^/    /'
	fi
	if $COMPARE "$T/mk/frank" --host 127.0.0.1 --port "$SPORT" --tls implicit --cafile "$T/cert.pem" \
		--user frank --password-file "$T/pw-frank" --keywords >"$T/cmp.r$label" 2>&1; then
		ok "round $label: mirror exact (keywords too)"
	else
		bad "round $label: mirror differs"; sed 's/^/    /' "$T/cmp.r$label" | head -20
	fi
	"$MK" -c "$T/qr.yaml" -v sync frank >"$T/out.r$label.again" 2>&1
	if grep -q ' 0 new (0 bytes), 0 flag changes, 0 removed' "$T/out.r$label.again" &&
		! grep 'folder "' "$T/out.r$label.again" | grep -qv ': unchanged$'; then
		ok "round $label: second sync does nothing"
	else
		bad "round $label: second sync:"; sed 's/^/    /' "$T/out.r$label.again" | tail -n 6
	fi
}
purge() {
	runuser -u cyrus -- /usr/lib/cyrus/bin/cyr_expire -C "$T/imapd.conf" -X 0 -D 0 >>"$T/expire.log" 2>&1 ||
		bad "cyr_expire: $(tail -n 1 "$T/expire.log")"
}
round 0 ""
imap frank "
ok(c.select('INBOX'))
ok(c.uid('STORE', '1:5', '+FLAGS', r'(\Flagged Keyword1 \$Junk)'))
ok(c.uid('STORE', '6:10', '-FLAGS', r'(\Seen ProjectX)'))
ok(c.uid('STORE', '11', 'FLAGS', r'(\Deleted)'))
ok(c.select('${P}Lists${DELIM}Dev'))
ok(c.uid('STORE', '1:*', '+FLAGS', r'(\Answered)'))
" || bad "round 1 changes"
round 1 "$QP"
imap frank "
ok(c.select('INBOX'))
ok(c.uid('STORE', '2', '-FLAGS', r'(Keyword1)'))
ok(c.uid('STORE', '3', '+FLAGS', r'(Keyword1)'))
ok(c.uid('STORE', '4', '+FLAGS', r'(\Deleted)'))
ok(c.uid('EXPUNGE', '4'))
r = ok(c.uid('SEARCH', 'ALL'))[0].split()
ok(c.uid('STORE', r[-1], '+FLAGS', r'(\Deleted)'))
ok(c.uid('EXPUNGE', r[-1]))
ok(c.select('${P}Small'))
ok(c.store('1:*', '+FLAGS', r'(\Deleted)'))
ok(c.expunge())
" || bad "round 2 changes"
round 2 "$QP"
# appended and expunged between two syncs: UIDs the mirror never had; flags set and unset again
$SEED append "$T/env-frank" --folder Lists --seed 32 --count 6 --first 100 >>"$T/seed.log" 2>&1
imap frank "
ok(c.select('${P}Lists'))
r = ok(c.uid('SEARCH', 'ALL'))[0].split()
gone = b','.join(r[-6:-3])
ok(c.uid('STORE', gone, '+FLAGS', r'(\Deleted)'))
ok(c.uid('EXPUNGE', gone))
ok(c.uid('STORE', r[0], '+FLAGS', r'(\Seen)'))
ok(c.uid('STORE', r[0], '-FLAGS', r'(\Seen)'))
ok(c.uid('STORE', r[1], '+FLAGS', r'(\Seen)'))
ok(c.uid('STORE', r[1], '-FLAGS', r'(\Seen)'))
ok(c.uid('STORE', r[1], '+FLAGS', r'(\Seen)'))
" || bad "round 3 changes"
round 3 "$QP"
# Cyrus's delayed expunge purged: the expunged records (and their MODSEQs) are gone
imap frank "
ok(c.select('${P}&ANw-n&AO8-code'))
ok(c.uid('STORE', '2:6', '+FLAGS', r'(\Deleted)'))
ok(c.uid('EXPUNGE', '2:6'))
ok(c.uid('STORE', '8', '+FLAGS', r'(\$Forwarded NewKw)'))
ok(c.select('INBOX'))
ok(c.uid('STORE', '12:14', '+FLAGS', r'(\Deleted)'))
ok(c.uid('EXPUNGE', '12:13'))
" || bad "round 4 changes"
purge
round 4 "$QP"
# expunges mirrored, then purged, then one flag change: nothing vanished since the mirror's MODSEQ
imap frank "
ok(c.select('${P}Lists'))
ok(c.uid('STORE', '1:3', '+FLAGS', r'(\Deleted)'))
ok(c.uid('EXPUNGE', '1:3'))
" || bad "round 5 changes"
round 5 "$QP"
purge
imap frank "
ok(c.select('${P}Lists'))
ok(c.uid('STORE', '4', '+FLAGS', r'(\Flagged)'))
" || bad "round 6 changes"
round 6 "$QP"

# ---------------------------------------------------------------- push FROM Cyrus into Dovecot
# gina's folders hold the other server's delimiter in a name ('/' with unixhierarchysep no, into a
# '/' Dovecot; '.' with yes, into a '.' (Maildir++) one), non-ASCII and a space: that folder must
# fail naming the delimiter, then push_map renames it; the INBOX. prefix is taken off.
printf 'pw-gina-1\n' >"$T/pw-gina"
chmod 600 "$T/pw-gina"
sed 's/^IMAP_USER=.*/IMAP_USER=gina/; s/^IMAP_PASS=.*/IMAP_PASS=pw-gina-1/' "$T/env-alice" >"$T/env-gina"
if [ "$SEP" = no ]; then ODD="a/b c"; DCOPT=(); else ODD="v1.2 x"; DCOPT=(--layout maildir++); fi
imap gina "ok(c.create('\"${P}$ODD\"'))" >"$T/odd.out" 2>&1 && odd_ok=1 || odd_ok=0
echo "# Cyrus (unixhierarchysep $SEP): CREATE \"${P}$ODD\": $([ $odd_ok = 1 ] && echo OK || tail -n 1 "$T/odd.out")"
$SEED populate "$T/env-gina" --seed 41 --count 4 --big 0 --folders "INBOX,Ärger,Ärger/Sub Dir,With Space" \
	>>"$T/seed.log" 2>&1 || bad "seed gina: $(tail -n 1 "$T/seed.log")"
if [ $odd_ok = 1 ]; then
	imap gina "
import time
for i in range(3):
    ok(c.append('\"${P}$ODD\"', r'(\Seen Kw$SEP)', '\"01-Feb-2024 10:0%d:00 +0100\"' % i,
                b'From: g@example.test\r\nSubject: odd %d\r\nMessage-ID: <odd.%d@example.test>\r\n\r\nbody\r\n' % (i, i)))
" || bad "append to $ODD"
fi
dovecot_up "$T/dc-rev" "${DCOPT[@]}" >"$T/dc-rev.log" 2>&1 || bad "Dovecot fixture: $(tail -n 1 "$T/dc-rev.log")"
_DC_STARTED+=("$T/dc-rev")
RPORT=$(. "$T/dc-rev/env"; echo "$IMAP_PORT")
cat >"$T/rev.yaml" <<EOF
accounts:
  - name: gina
    host: 127.0.0.1
    port: $PORT
    tls: none
    user: gina
    password_file: $T/pw-gina
    root: $T/mk
  - name: dcrev
    host: 127.0.0.1
    port: $RPORT
    tls: none
    user: alice
    password_file: $T/dc-rev/pass-alice
    root: $T/mk
EOF
"$MK" -c "$T/rev.yaml" sync gina >"$T/out.rev-sync" 2>&1 && ok "gina: sync exit 0" || bad "gina: sync: $(tail -n 2 "$T/out.rev-sync")"
$COMPARE "$T/mk/gina" --port "$PORT" --tls none --user gina --password-file "$T/pw-gina" --keywords >"$T/cmp.gina" 2>&1 &&
	ok "gina: mirror exact" || { bad "gina: mirror differs"; head -n 10 "$T/cmp.gina"; }
"$MK" -c "$T/rev.yaml" -v push gina dcrev >"$T/out.rev1" 2>&1
rc=$?
if [ $odd_ok = 1 ]; then
	if [ $rc = 1 ] && grep "hierarchy delimiter" "$T/out.rev1" | grep -qF "$ODD"; then
		ok "push gina -> Dovecot: '$ODD' fails naming the delimiter (exit 1)"
	else
		bad "push gina -> Dovecot with '$ODD': exit $rc"; grep -v '^mailkeep: push gina -> dcrev: folder' "$T/out.rev1" | head -n 5
	fi
	python3 - "$T/rev.yaml" "${ODD//\//%2F}" <<'EOF'
import sys
path, odd = sys.argv[1], sys.argv[2]
s = open(path, encoding="utf-8").read()
s = s.replace("    root: ", '    push_map:\n      "INBOX/%s": "Odd"\n    root: ' % odd, 1)
open(path, "w", encoding="utf-8").write(s)
EOF
	"$MK" -c "$T/rev.yaml" -v push gina dcrev >"$T/out.rev2" 2>&1
	rc=$?
fi
[ $rc = 0 ] && ok "push gina -> Dovecot: exit 0" || { bad "push gina -> Dovecot: exit $rc"; tail -n 5 "$T/out.rev2"; }
# push_check names levels with '/', so the odd name is not given to it: the folder is checked by hand
python3 "$REPO/tests/integration/push_check.py" compare --src "127.0.0.1:$PORT:gina:$T/pw-gina" \
	--dst "127.0.0.1:$RPORT:alice:$T/dc-rev/pass-alice" --strip INBOX --exclude "INBOX/$ODD" --dst-extra Odd \
	>"$T/cmp.rev" 2>&1 && ok "push gina -> Dovecot: target equals source" ||
	{ bad "push gina -> Dovecot: target differs"; head -n 10 "$T/cmp.rev"; }
if [ $odd_ok = 1 ]; then
	n=$(doveadm -c "$T/dc-rev/dovecot.conf" search -u alice mailbox Odd all 2>/dev/null | wc -l)
	kw=$(doveadm -c "$T/dc-rev/dovecot.conf" fetch -u alice flags mailbox Odd all 2>/dev/null | grep -c "Kw$SEP")
	[ "$n" = 3 ] && [ "$kw" = 3 ] && ok "'$ODD' pushed as Odd: 3 messages with their keyword" ||
		bad "'$ODD' pushed as Odd: $n messages, $kw with Kw$SEP"
fi

echo "# $FAILS failure(s); unixhierarchysep: $SEP"
[ "$FAILS" = 0 ]
