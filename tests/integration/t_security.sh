#!/usr/bin/env bash
# The security promises, as a user would check them (the hostile-server protocol cases, bad
# certificates and STARTTLS tricks among them, are t_hostile_matrix's; this test covers what needs a
# real Dovecot, a host name, or the local file system):
#  1. passwords with quotes, backslashes, spaces, "{5}", non-ASCII, from a file, a variable or a
#     command, over implicit TLS, STARTTLS and tls: none, with AUTHENTICATE PLAIN, CRAM-MD5,
#     AUTHENTICATE LOGIN and the LOGIN command (8-bit ones as literals, synchronizing or LITERAL+):
#     they log in, and neither the password nor its base64 form is in any
#     output (-vv, --json, errors); what the server receives is exactly the user and the password;
#  2. password sources that fail (empty, non-zero exit, a hang, a signal, too long, a line break,
#     a group- or world-readable file, a directory, a FIFO) fail the account (exit 4) quickly,
#     create nothing, and never print the command's output;
#  3. certificate host names: the subjectAltName decides (DNS vs IP, "*.localhost" is not
#     "localhost"); a CN counts only when the certificate has no DNS name in its SAN, and never for
#     an IP address (OpenSSL's rule, as curl and mbsync; docs/design.md); a self-signed certificate
#     without ca_file is refused;
#  4. file modes: every directory 0700 and every file 0600 (git objects 0400) under umask 000, 022
#     and 077, snapshot repository included;
#  5. symbolic links planted in the mirror (a folder, its cur/, .mailkeep, a state's or the
#     snapshot state's .tmp) never make mailkeep write outside the root.
. "$(dirname "$0")/lib.sh"
t_begin
OUT=$T/outside # what no run may touch
mkdir -p "$OUT"

# outside_snapshot FILE: every path, mode, size and mtime under $OUT
outside_snapshot() { (cd "$OUT" && find . -printf '%p %m %s %T@ %l\n' | LC_ALL=C sort) >"$1"; }
# no_group_other DIR WHAT: no file or directory below DIR has a group or other permission bit
no_group_other() {
	local bad
	bad=$(find "$1" -perm /077 ! -type l -printf '%m %P\n' | head -n 3 | tr '\n' ' ')
	check '[ -z "$bad" ]' "$2: group/other permissions: $bad"
}

# ---------------------------------------------------------------- 1. passwords (a real Dovecot)
dc_up --auth-mechanisms "plain login"
seed populate --seed 41 --count 3 --big 0
# carol: what only AUTHENTICATE carries (non-ASCII); dave: ASCII that needs quoting in LOGIN
PW_C='p a"s\s {5} é€ )( x'
PW_D='q"u\o te {5}\\ y'
printf 'carol:{PLAIN}%s::::::\ndave:{PLAIN}%s::::::\n' "$PW_C" "$PW_D" >>"$DC/passwd"
# Dovecot re-reads its passwd-file when it changes: wait (bounded) until dave can log in
PW_D="$PW_D" python3 - "$IMAP_PORT" <<'PY' || fail "Dovecot did not take the new users"
import imaplib, os, sys, time
for _ in range(50):
    try:
        c = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]), timeout=5)
        c.login("dave", os.environ["PW_D"])
        c.logout()
        sys.exit(0)
    except imaplib.IMAP4.error:
        time.sleep(0.2)
sys.exit(1)
PY
for u in carol dave; do
	pw=$PW_C
	[ $u = dave ] && pw=$PW_D
	(umask 077 && printf '%s\n' "$pw" >"$T/pass-$u")
	_SECRETS+=("$pw" "$(printf '\0%s\0%s' "$u" "$pw" | base64 -w0)")
done
_SECRETS+=("$(printf '\0alice\0%s' "$IMAP_PASS" | base64 -w0)")
export MK_SEC_PW=$PW_C

cfg=$T/pw.yaml
{
	echo "accounts:"
	acct_yaml c-file-implicit user=carol password_file="$T/pass-carol"
	acct_yaml c-env-starttls tls=starttls user=carol password_file=- password_env=MK_SEC_PW
	acct_yaml c-cmd-none tls=none user=carol password_file=- password_command="cat '$T/pass-carol'"
	acct_yaml d-login-implicit user=dave password_file="$T/pass-dave" auth=login
	acct_yaml d-login-starttls tls=starttls user=dave password_file="$T/pass-dave" auth=login
} | cfg_write "$cfg"
mk -c "$cfg" -vv --json sync
expect_rc 0 "special passwords, every source and TLS mode, PLAIN and LOGIN"
check 'grep -qF "<credentials hidden>" "$MK_ERR"' "-vv shows no masked login line"
check '! grep -E " C: a[0-9]+ (LOGIN|AUTHENTICATE)" "$MK_ERR" | grep -vqF "<credentials hidden>"' \
	"-vv shows a login command unmasked"
for a in c-file-implicit c-env-starttls c-cmd-none d-login-implicit d-login-starttls; do
	check '[ -d "$T/mail/$a/INBOX/cur" ]' "account $a has no mirror"
done
mk -c "$cfg" -vv check --connect
expect_rc 0 "check --connect with special passwords"

cfg=$T/login8.yaml
{ echo "accounts:"; acct_yaml c-login user=carol password_file="$T/pass-carol" auth=login; } | cfg_write "$cfg"
mk -c "$cfg" -vv sync
expect_rc 0 "auth: login with a non-ASCII password (sent as a literal; Dovecot has LITERAL+)"
check 'grep -qF "login with the LOGIN command" "$MK_ERR"' "-vv does not say the LOGIN command was used"
check '[ -d "$T/mail/c-login/INBOX/cur" ]' "no mirror after a LOGIN with a literal password"

# a server without LITERAL+: each 8-bit argument waits for "+", and arrives exactly
fake_up no-starttls
pw8='pä"ss\ {3}wörd'
_SECRETS+=("$pw8")
(umask 077 && printf '%s\n' "$pw8" >"$T/pass-8")
cfg=$T/login8-sync.yaml
{ echo "accounts:"; acct_yaml c-login8 root="$T/root8" port="$FAKE_PORT" tls=none user='üser' \
	password_file="$T/pass-8" auth=login timeout=5; } | cfg_write "$cfg"
mk -c "$cfg" sync
check 'grep -qF "LOGIN received" "$FAKE_LOG"' "LOGIN with two literals did not reach the fake server: $(mk_err_line)"
CHECKS=$((CHECKS + 1))
got=$(python3 - "$FAKE_LOG" "$pw8" <<'PY'
import ast, sys
lits = [ast.literal_eval(l.split("literal ", 1)[1].strip()) for l in open(sys.argv[1], encoding="utf-8")
        if ": literal " in l]
print("ok" if lits[:2] == ["üser".encode(), sys.argv[2].encode()] else f"literals {lits!r}")
PY
)
[ "$got" = ok ] || fail "LOGIN literals: $got"
check 'grep -qE "LOGIN \{[0-9]+\}" "$FAKE_LOG"' "no synchronizing literal for a server without LITERAL+"
bg_kill "$FAKE_PID"

# every other mechanism of the client, with -vv: only the masked form
for mech in cram-md5 login; do
	DC=$T/dc-$mech
	dc_up --auth-mechanisms "$mech"
	cfg=$T/mech-$mech.yaml
	{ echo "accounts:"; acct_yaml "m-$mech" tls=starttls; } | cfg_write "$cfg"
	mk -c "$cfg" -vv --json sync
	expect_rc 0 "AUTHENTICATE ${mech^^} (the server offers only it)"
	check 'grep -qiF "AUTHENTICATE ${mech^^}" "$MK_ERR"' "-vv does not say AUTHENTICATE ${mech^^} was used"
	_SECRETS+=("$(printf '%s' "$IMAP_PASS" | base64 -w0)")
	mk_sanity
	dc_down "$DC"
done
DC=$T/dc
. "$DC/env"

# ---------------------------------------------------------------- 2. password sources that fail
printf 'x%.0s' $(seq 70000) >"$T/long.txt"
bad_sources=(
	"password_command=true"
	"password_command=exit 3"
	"password_command=echo leaked-by-cmd-$$; exit 1"
	"password_command=sleep 100"
	"password_command=echo ok; sleep 100 &"
	"password_command=kill -9 \$\$"
	"password_command=cat '$T/long.txt'"
	"password_command=printf 'a\\rb\\n'"
	"password_env=MK_SEC_NL"
)
export MK_SEC_NL=$'a\nb'
mkdir -p "$T/pfdir"
mkfifo "$T/pf.fifo"
for m in 640 604 660 644 620; do
	(umask 077 && echo "$IMAP_PASS" >"$T/pf-$m") && chmod "$m" "$T/pf-$m"
	bad_sources+=("password_file=$T/pf-$m")
done
bad_sources+=("password_file=$T/pfdir" "password_file=$T/pf.fifo" "password_file=$T/nonexistent")
k=0
for src in "${bad_sources[@]}"; do
	k=$((k + 1))
	cfg=$T/bad$k.yaml
	{ echo "accounts:"; acct_yaml "bad$k" root="$T/badroot" password_file=- "$src" timeout=2; } | cfg_write "$cfg"
	t0=$SECONDS
	mk -c "$cfg" --json sync
	expect_rc 4 "password source [$src]"
	# a source waited for would take its 100 s; 6 s, the bound before, was short for a loaded machine
	check '[ $((SECONDS - t0)) -le 60 ]' "password source [$src] took $((SECONDS - t0)) s (timeout 2)"
	check 'grep -qF "bad$k" "$MK_ERR"' "[$src]: the error does not name the account: $(mk_err_line)"
	check '[ ! -e "$T/badroot" ]' "[$src]: a failing password source created $T/badroot"
	check '! grep -qF leaked-by-cmd "$MK_ERR" "$MK_OUT"' "[$src]: the command's output was shown"
	case $src in password_file=*/pf-6*)
		check 'grep -qF "chmod 600" "$MK_ERR"' "[$src]: the error does not say chmod 600: $(mk_err_line)" ;;
	esac
done
for m in 600 400; do
	(umask 077 && echo "$IMAP_PASS" >"$T/ok-$m") && chmod "$m" "$T/ok-$m"
	cfg=$T/ok$m.yaml
	{ echo "accounts:"; acct_yaml "ok$m" password_file="$T/ok-$m"; } | cfg_write "$cfg"
	mk -c "$cfg" sync
	expect_rc 0 "a password file of mode $m"
done

# ---------------------------------------------------------------- 3. certificate host names
CERTS=$T/certs
make_certs() {
	local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes) n san
	mkdir -p "$CERTS" && cd "$CERTS" || return 1
	openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 30 -subj "/CN=t_security CA" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" || return 1
	for n in dnsonly iponly cnonly wild wrong; do
		case $n in
		dnsonly) san=DNS:localhost ;;
		iponly) san=IP:127.0.0.1 ;;
		wild) san=DNS:*.localhost ;;
		wrong) san=DNS:localhost.example ;;
		cnonly) san="" ;;
		esac
		printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
			"extendedKeyUsage=serverAuth" ${san:+"subjectAltName=$san"} >$n.ext
		openssl req -new "${ec[@]}" -keyout $n.key -out $n.csr -subj "/CN=localhost" || return 1
		openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile $n.ext \
			-out $n.pem || return 1
	done
	openssl req -x509 "${ec[@]}" -keyout self.key -out self.pem -days 30 -subj "/CN=localhost" \
		-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" || return 1
}
(make_certs) >"$T/certs.log" 2>&1 || fail "openssl failed: $(tail -n 2 "$T/certs.log" | tr '\n' ' ')"
fpw=$(fake_pass)

# hm_cert_up CERT: the well-behaved scripted server over implicit TLS with that certificate
hm_cert_up() { hm_up tls-ok "hm-$1.log" --cert "$1" --cert-dir "$CERTS"; }
# CERT HOST CA_FILE(- for none) EXPECTED_RC
for c in "dnsonly localhost ca 0" "dnsonly 127.0.0.1 ca 4" "iponly 127.0.0.1 ca 0" "iponly localhost ca 0" \
	"cnonly localhost ca 0" "cnonly 127.0.0.1 ca 4" "wild localhost ca 4" "wrong localhost ca 4" \
	"self localhost - 4" "self localhost self 0"; do
	read -r cert host ca want <<<"$c"
	hm_cert_up "$cert"
	cafile=-
	[ "$ca" = - ] || cafile=$CERTS/$ca.pem
	cfg=$T/cert.yaml
	{ echo "accounts:"; acct_yaml tlsname root="$T/certroot" host="$host" port="$HM_PORT" ca_file="$cafile" \
		user=u password_file="$fpw" timeout=5; } | cfg_write "$cfg"
	SSL_CERT_FILE=/nonexistent SSL_CERT_DIR=/nonexistent mk -c "$cfg" sync
	expect_rc "$want" "certificate $cert for host $host (ca_file $ca)"
	if [ "$want" = 4 ]; then
		check 'grep -qiE "certificate (not valid|not trusted)" "$MK_ERR"' "$cert/$host: no certificate message: $(mk_err_line)"
		check '! grep -qE "LOGIN received|AUTHENTICATE received" "$T/hm-$cert.log"' "$cert/$host: credentials sent"
	fi
	bg_kill "$HM_PID"
	rm -rf "$T/certroot"
done

# what the server receives is exactly the user name and the password (no quoting or injection bug)
user_x='u"s\e r{3} ä'
pw_x='p"w\ {5}x'"$(printf '\t')"'é'
user_a='u"s\e r{3}*%'
pw_a='p"w\ {5}) (x'
_SECRETS+=("$pw_x" "$pw_a")
(umask 077 && printf '%s\n' "$pw_x" >"$T/pass-x" && printf '%s\n' "$pw_a" >"$T/pass-a")
for how in plain login; do
	hm_cert_up iponly
	u=$user_x p=$T/pass-x want=$pw_x
	[ $how = login ] && u=$user_a p=$T/pass-a want=$pw_a
	cfg=$T/wire-$how.yaml
	{ echo "accounts:"; acct_yaml "wire-$how" root="$T/wireroot" port="$HM_PORT" ca_file="$CERTS/ca.pem" user="$u" \
		password_file="$p" auth=$how timeout=5; } | cfg_write "$cfg"
	mk -c "$cfg" sync
	expect_rc 0 "login ($how) with a user name and a password full of IMAP syntax"
	bg_kill "$HM_PID"
	CHECKS=$((CHECKS + 1))
	got=$(PYTHONPATH=$LIB_DIR python3 - "$T/hm-iponly.log" "$u" "$want" <<'PY'
import ast, base64, sys
log, user, pw = sys.argv[1:]
from fakeimap import tokenize
for line in open(log, encoding="utf-8"):
    if ": " not in line or not line.split(": ", 1)[0].startswith("C"):
        continue
    raw = ast.literal_eval(line.split(": ", 1)[1].strip())
    toks = tokenize(raw + b"\r\n")
    if len(toks) >= 3 and toks[1].upper() == b"LOGIN":
        got = (toks[2].decode(), toks[3].decode())
    elif len(toks) >= 4 and toks[1].upper() == b"AUTHENTICATE":
        parts = base64.b64decode(toks[3]).split(b"\0")
        got = (parts[1].decode(), parts[2].decode())
    else:
        continue
    print("ok" if got == (user, pw) and len(toks) == 4 else f"the server got {got!r} ({len(toks)} tokens)")
    sys.exit(0)
print("no login in the server log")
PY
	)
	[ "$got" = ok ] || fail "$how: $got"
	rm -f "$T/hm-iponly.log"
done

# ---------------------------------------------------------------- 4. file modes whatever the umask
for um in 000 022 077; do
	cfg=$T/umask$um.yaml
	{ echo "accounts:"; acct_yaml "um$um" root="$T/umroot$um/sub" snapshot=true; } | cfg_write "$cfg"
	(umask $um && mk -c "$cfg" sync && echo "$MK_RC" >"$T/umask.rc")
	MK_RC=$(cat "$T/umask.rc")
	expect_rc 0 "sync with snapshot under umask $um"
	A=$T/umroot$um/sub/um$um
	check '[ -f "$A/.mailkeep/lock" ] && [ -f "$A/.mailkeep/last-run" ] && [ -f "$A/INBOX/.mailkeep-state" ]' \
		"umask $um: lock, last-run or state missing"
	check '[ -f "$T/umroot$um/sub/um$um.git/HEAD" ]' "umask $um: no snapshot repository"
	check '[ -n "$(cur_files "$A")" ]' "umask $um: no message mirrored"
	# the root mailkeep created, the mirror and the git repository: nothing for group or others
	no_group_other "$T/umroot$um/sub" "umask $um"
	bad=$(find "$A" -type f ! -perm 600 -printf '%m %P\n' | head -n 3 | tr '\n' ' ')
	check '[ -z "$bad" ]' "umask $um: mirror files not 0600: $bad"
	bad=$(find "$A" -type d ! -perm 700 -printf '%m %P\n' | head -n 3 | tr '\n' ' ')
	check '[ -z "$bad" ]' "umask $um: mirror directories not 0700: $bad"
done

# ---------------------------------------------------------------- 5. symbolic links in the mirror
cfg=$T/links.yaml
{ echo "accounts:"; acct_yaml links snapshot=true; } | cfg_write "$cfg"
A=$T/mail/links
mk -c "$cfg" sync
expect_rc 0 "first sync (links)"
newmail() { seed append --folder "$1" --seed 77 --count 1 --first $((200 + MK_RUNS)); }

# a folder directory, then a folder's cur/, replaced by a link to a copy outside; new mail there
mv "$A/Archive" "$OUT/Archive" && ln -s "$OUT/Archive" "$A/Archive"
outside_snapshot "$T/out.0"
newmail Archive
mk -c "$cfg" sync
expect_rc 1 "a folder directory that is a symbolic link"
check 'grep -qF "\"Archive\"" "$MK_ERR"' "the error does not name Archive: $(mk_err_line)"
outside_snapshot "$T/out.1"
check 'cmp -s "$T/out.0" "$T/out.1"' "written through the folder link: $(diff "$T/out.0" "$T/out.1" | head -n 2 | tr '\n' ' ')"
rm "$A/Archive" && mv "$OUT/Archive" "$A/Archive"
mk -c "$cfg" sync
expect_rc 0 "the folder back"

mv "$A/INBOX/cur" "$OUT/cur" && ln -s "$OUT/cur" "$A/INBOX/cur"
outside_snapshot "$T/out.0"
newmail INBOX
mk -c "$cfg" sync
expect_rc 1 "a cur/ that is a symbolic link"
outside_snapshot "$T/out.1"
check 'cmp -s "$T/out.0" "$T/out.1"' "written through the cur/ link: $(diff "$T/out.0" "$T/out.1" | head -n 2 | tr '\n' ' ')"
rm "$A/INBOX/cur" && mv "$OUT/cur" "$A/INBOX/cur"

# .mailkeep (lock, last-run, snapshot state, moved-aside folders) a link to a directory outside
mv "$A/.mailkeep" "$OUT/dot-mailkeep" && ln -s "$OUT/dot-mailkeep" "$A/.mailkeep"
outside_snapshot "$T/out.0"
newmail INBOX
mk -c "$cfg" sync
check '[ $MK_RC -ne 0 ]' ".mailkeep a symbolic link: exit 0"
outside_snapshot "$T/out.1"
check 'cmp -s "$T/out.0" "$T/out.1"' "written through the .mailkeep link: $(diff "$T/out.0" "$T/out.1" | head -n 2 | tr '\n' ' ')"
rm "$A/.mailkeep" && mv "$OUT/dot-mailkeep" "$A/.mailkeep"

# a state's .tmp (a folder gone from the server: its state is rewritten) and the snapshot state's
(umask 077 && mkdir -p "$A/Gone/cur" "$A/Gone/new" "$A/Gone/tmp")
cp "$A/Empty/.mailkeep-state" "$A/Gone/.mailkeep-state"
echo precious >"$OUT/victim1"
echo precious >"$OUT/victim2"
ln -s "$OUT/victim1" "$A/Gone/.mailkeep-state.tmp"
ln -s "$OUT/victim2" "$A/.mailkeep/snapshot-state.tmp"
outside_snapshot "$T/out.0"
newmail INBOX
mk -c "$cfg" sync
check '[ $MK_RC -lt 124 ]' "state .tmp links: exit $MK_RC"
outside_snapshot "$T/out.1"
check 'cmp -s "$T/out.0" "$T/out.1"' "written through a .tmp link: $(diff "$T/out.0" "$T/out.1" | head -n 2 | tr '\n' ' ')"
check '[ "$(cat "$OUT/victim1" "$OUT/victim2")" = "$(printf "precious\nprecious")" ]' "a file outside was overwritten"
no_group_other "$A" "after the link cases"
t_pass
