#!/usr/bin/env bash
# Nothing can be synced -> exit 4: wrong password (the message names the account, no password is
# printed), no ca_file for the fixture's private CA (a certificate message), connection refused.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 8 --count 2 --big 0
wrong=$T/pass-wrong
(umask 077 && echo "Wr0ngPassw0rd-$RANDOM-xyz" >"$wrong")
_SECRETS+=("$(cat "$wrong")")

cfg=$T/wrongpw.yaml
{ echo "accounts:"; acct_yaml acctwrongpw password_file="$wrong"; } | cfg_write "$cfg"
mk -c "$cfg" sync
expect_rc 4 "wrong password"
check 'grep -qF acctwrongpw "$MK_ERR"' "the error does not name the account: $(mk_err_line)"
check '[ -z "$(cur_files "$T/mail")" ]' "messages were written despite the failed login"
mk -c "$cfg" -v sync
expect_rc 4 "wrong password, -v"

cfg=$T/noca.yaml
{ echo "accounts:"; acct_yaml acctnoca ca_file=-; } | cfg_write "$cfg"
mk -c "$cfg" sync
expect_rc 4 "implicit TLS without ca_file (private CA)"
check 'grep -qiE "certif|verif" "$MK_ERR"' "no certificate message: $(mk_err_line)"
check 'grep -qF acctnoca "$MK_ERR"' "the certificate error does not name the account"

cfg=$T/noca-starttls.yaml
{ echo "accounts:"; acct_yaml acctnocast tls=starttls ca_file=-; } | cfg_write "$cfg"
mk -c "$cfg" sync
expect_rc 4 "STARTTLS without ca_file (private CA)"
check 'grep -qiE "certif|verif" "$MK_ERR"' "no certificate message for STARTTLS: $(mk_err_line)"

# a certificate for another name: connect by "localhost" works (SAN DNS:localhost) ...
cfg=$T/localhost.yaml
{ echo "accounts:"; acct_yaml acctlocalhost host=localhost; } | cfg_write "$cfg"
mk -c "$cfg" sync
expect_rc 0 "implicit TLS to localhost (in the SANs)"

# ... nothing listens on a freshly released port
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cfg=$T/refused.yaml
{ echo "accounts:"; acct_yaml acctrefused port="$port" timeout=5; } | cfg_write "$cfg"
mk -c "$cfg" sync
expect_rc 4 "connection refused"
check 'grep -qF acctrefused "$MK_ERR"' "the connection error does not name the account"
t_pass
