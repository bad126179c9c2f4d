#!/usr/bin/env bash
# password_env and password_command work and never show the password; a group/world-readable
# password file and a failing password command make the account fail with a message naming it.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 16 --count 2 --big 0

export MK_TEST_PW=$IMAP_PASS
cfg=$T/config.yaml
{
	echo "accounts:"
	acct_yaml viaenv password_file=- password_env=MK_TEST_PW
	acct_yaml viacmd password_file=- password_command="cat '$DC/pass-alice'"
} | cfg_write "$cfg"
mk -c "$cfg" -v sync
expect_rc 0 "password_env and password_command"
exact "$T/mail/viaenv"
exact "$T/mail/viacmd"

cp "$DC/pass-alice" "$T/pass-open"
chmod 0644 "$T/pass-open"
cfg=$T/open.yaml
{ echo "accounts:"; acct_yaml openfile password_file="$T/pass-open"; } | cfg_write "$cfg"
mk -c "$cfg" sync
check '[ $MK_RC -eq 4 ] || [ $MK_RC -eq 2 ]' "a world-readable password file: exit $MK_RC, expected 4 (or 2)"
check 'grep -qF openfile "$MK_ERR" || grep -qF "$T/pass-open" "$MK_ERR"' \
	"the error names neither the account nor the file: $(mk_err_line)"

cfg=$T/cmdfail.yaml
{ echo "accounts:"; acct_yaml cmdfail password_file=- password_command="exit 3"; } | cfg_write "$cfg"
mk -c "$cfg" sync
expect_rc 4 "a failing password command"
check 'grep -qF cmdfail "$MK_ERR"' "the error does not name the account: $(mk_err_line)"

unset MK_TEST_PW
cfg=$T/noenv.yaml
{ echo "accounts:"; acct_yaml noenv password_file=- password_env=MK_TEST_PW_UNSET; } | cfg_write "$cfg"
mk -c "$cfg" sync
expect_rc 4 "an unset password variable"
check 'grep -qF noenv "$MK_ERR"' "the error does not name the account: $(mk_err_line)"
t_pass
