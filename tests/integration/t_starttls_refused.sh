#!/usr/bin/env bash
# tls: starttls against a server that does not offer STARTTLS, or refuses it, is refused before any
# credential is sent; LOGINDISABLED is honoured; implicit TLS against a plain server fails cleanly.
# All exit 4, and the fake server's log shows no LOGIN/AUTHENTICATE and no password.
. "$(dirname "$0")/lib.sh"
t_begin
pf=$(fake_pass)
pw=$(cat "$pf")

for case in "no-starttls starttls" "starttls-refused starttls" "logindisabled none" "no-starttls implicit"; do
	read -r sc tls <<<"$case"
	fake_up "$sc"
	cfg=$T/$sc-$tls.yaml
	{ echo "accounts:"; acct_yaml fake root="$T/root" port="$FAKE_PORT" tls="$tls" user=u password_file="$pf" timeout=5; } |
		cfg_write "$cfg"
	mk -c "$cfg" sync
	expect_rc 4 "$sc with tls: $tls"
	check '! grep -qE "LOGIN received|AUTHENTICATE received" "$FAKE_LOG"' "$sc with tls: $tls: credentials were sent"
	check '! grep -qF -- "$pw" "$FAKE_LOG"' "$sc with tls: $tls: the password reached the server"
	check 'grep -qF fake "$MK_ERR"' "$sc with tls: $tls: the error does not name the account: $(mk_err_line)"
	check '[ -z "$(cur_files "$T/root")" ]' "$sc: messages were written"
	bg_kill "$FAKE_PID"
done
t_pass
