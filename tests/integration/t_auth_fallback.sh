#!/usr/bin/env bash
# A server without AUTH=PLAIN: mailkeep falls back to what it offers, CRAM-MD5 (the password never
# crosses the wire, only its HMAC) or the SASL mechanism LOGIN, and mirrors exactly; -vv names the
# mechanism and never shows the password; a wrong password fails with exit 4 and is not shown.
. "$(dirname "$0")/lib.sh"
t_begin
for mech in cram-md5 login; do
	case $mech in
	cram-md5) want="AUTHENTICATE CRAM-MD5" ;;
	login) want="AUTHENTICATE LOGIN" ;;
	esac
	DC=$T/dc-$mech
	dc_up --auth-mechanisms "$mech"
	seed populate --seed 4 --count 3 --big 0
	pw=$(cat "$DC/pass-alice")
	cfg=$T/$mech.yaml
	{ echo "accounts:"; acct_yaml "a$mech"; } | cfg_write "$cfg"
	mk -c "$cfg" -vv sync
	expect_rc 0 "sync with only $mech offered"
	check 'grep -q "login with $want" "$MK_ERR"' "$mech: not used: $(grep -m1 'login with' "$MK_ERR")"
	check '! grep -qF -- "$pw" "$MK_OUT" "$MK_ERR"' "$mech: the password appears in the output"
	exact "$T/mail/a$mech"
	printf 'wrong-%s\n' "$$" >"$T/wrong"
	chmod 600 "$T/wrong"
	{ echo "accounts:"; acct_yaml "b$mech" password_file="$T/wrong"; } | cfg_write "$T/bad.yaml"
	mk -c "$T/bad.yaml" sync
	expect_rc 4 "$mech: a wrong password"
	check 'grep -qi "login failed" "$MK_ERR"' "$mech: no login failure message: $(mk_err_line)"
	check '! grep -qF "wrong-$$" "$MK_OUT" "$MK_ERR"' "$mech: the wrong password appears in the output"
	dc_down
done
t_pass
