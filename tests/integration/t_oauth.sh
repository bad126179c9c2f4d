#!/usr/bin/env bash
# auth: xoauth2 and oauthbearer log in with the token printed by token_command (the fixture's
# Dovecot checks the bearer token against its passdb), mirror exactly, and never print the token;
# a wrong token fails with exit 4 without leaking it.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 9 --count 3 --big 0
tok=$(cat "$DC/pass-alice")
for mech in xoauth2 oauthbearer; do
	cfg=$T/$mech.yaml
	{ echo "accounts:"; acct_yaml "o$mech" password_file=- token_command="cat $DC/pass-alice" auth="$mech"; } |
		cfg_write "$cfg"
	mk -c "$cfg" -vv sync
	expect_rc 0 "sync with auth: $mech"
	check '! grep -qF -- "$tok" "$MK_OUT" "$MK_ERR"' "$mech: the token appears in the output"
	check 'grep -q "AUTHENTICATE\|credentials hidden" "$MK_ERR"' "$mech: no trace of the login in -vv output"
	exact "$T/mail/o$mech"
done
{ echo "accounts:"; acct_yaml bad password_file=- token_command="echo not-the-token-$$" auth=oauthbearer; } |
	cfg_write "$T/bad.yaml"
mk -c "$T/bad.yaml" sync
expect_rc 4 "a wrong token"
check '! grep -qF "not-the-token-$$" "$MK_OUT" "$MK_ERR"' "the wrong token appears in the output"
check 'grep -qi "login failed\|authenticat" "$MK_ERR"' "no login failure message: $(mk_err_line)"
t_pass
