#!/usr/bin/env bash
# SNI (RFC 6066 §3): a host name is sent as the TLS server name, so that a server with one address
# for many names (a hosting provider's IMAP front) picks the right certificate; an address is
# never sent (the RFC forbids it), over IPv4 and IPv6. The certificate is verified either way:
# the run gets as far as the greeting (a BYE here), not a certificate error. The valid hosts that
# are not the name as sent or checked: an absolute name ("localhost.") is sent and checked without
# its final dot, an IPv6 address with a zone ("::1%lo") as the address, never sent (both were sent
# as they are and never matched a certificate; resolve_shim.c resolves them here).
. "$(dirname "$0")/lib.sh"
t_begin
C=$T/certs
mkdir -p "$C"
(
	cd "$C" || exit 1
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3 -subj /CN=sni-ca
	openssl req -newkey rsa:2048 -nodes -keyout s.key -out s.csr -subj /CN=localhost
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n' >ext
	openssl x509 -req -in s.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out s.pem -days 2 -extfile ext
) >"$T/openssl.log" 2>&1 || fail "openssl could not make the certificates: $(tail -n 1 "$T/openssl.log")"

# the TLS server: logs each connection's server name (None: none sent), answers with a BYE
cat >"$T/sni_server.py" <<'PY'
import os, socket, ssl, sys
addr, port_file, log, certs = sys.argv[1:5]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.path.join(certs, "s.pem"), os.path.join(certs, "s.key"))
def note(sock, name, _ctx):
    with open(log, "a") as f:
        f.write(f"{name!r}\n")
ctx.sni_callback = note
ls = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
ls.bind((addr, 0))
ls.listen(5)
ls.settimeout(60)
with open(port_file + ".tmp", "w") as f:
    f.write(str(ls.getsockname()[1]))
os.rename(port_file + ".tmp", port_file)
while True:
    c, _ = ls.accept()
    try:
        s = ctx.wrap_socket(c, server_side=True)
        s.sendall(b"* BYE sni test over\r\n")
        s.close()
    except (ssl.SSLError, OSError):
        c.close()
PY

# sni_server ADDR NAME: that server on ADDR; its port in $T/port-NAME, its log $T/sni-NAME
sni_server() {
	rm -f "$T/port-$2"
	bg_start python3 "$T/sni_server.py" "$1" "$T/port-$2" "$T/sni-$2" "$C"
	local n=0
	while [ ! -s "$T/port-$2" ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
	[ -s "$T/port-$2" ] || fail "the TLS server on $1 did not start"
}
sni_server 127.0.0.1 v4
have_v6=0
if python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
	sni_server ::1 v6
	have_v6=1
fi
(umask 077 && echo "sni-secret-$$" >"$T/pass")
_SECRETS+=("sni-secret-$$")

preload_shims resolve_shim

# HOST LOG EXPECTED_SNI
cases=("localhost v4 'localhost'" "127.0.0.1 v4 None" "localhost. v4 'localhost'" "LocalHost. v4 'LocalHost'")
[ $have_v6 = 1 ] && cases+=("::1 v6 None" "::1%lo v6 None")
for c in "${cases[@]}"; do
	read -r host log want <<<"$c"
	: >"$T/sni-$log"
	cfg=$T/sni.yaml
	{ echo "accounts:"; acct_yaml sni root="$T/mail" host="$host" port="$(cat "$T/port-$log")" tls=implicit \
		ca_file="$C/ca.pem" user=u password_file="$T/pass" timeout=10; } | cfg_write "$cfg"
	case $host in
	*.|*%*) LD_PRELOAD=$PRELOAD mk -c "$cfg" sync ;;
	*) mk -c "$cfg" sync ;;
	esac
	expect_rc 4 "host $host: a BYE greeting"
	check 'grep -qF "sni test over" "$MK_ERR"' "host $host: the greeting was not reached: $(mk_err_line)"
	check '[ "$(cat "$T/sni-$log")" = "$want" ]' "host $host: server name sent $(cat "$T/sni-$log"), not $want"
done
t_pass
