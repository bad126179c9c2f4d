#!/usr/bin/env bash
# Two accounts, one with a wrong password: exit 1 (partial), the good one is exact and the error
# names the bad one; with both right, both mirrors are exact and separate.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 10 --count 4 --big 1
seed populate --seed 11 --count 3 --big 0 --user bob --folders INBOX,Bobs
wrong=$T/pass-wrong
(umask 077 && echo "AlsoWrong-$RANDOM-pw" >"$wrong")
_SECRETS+=("$(cat "$wrong")")

cfg=$T/config.yaml
{
	echo "accounts:"
	acct_yaml goodacct
	acct_yaml badacct user=bob password_file="$wrong"
} | cfg_write "$cfg"
mk -c "$cfg" sync
expect_rc 1 "one good and one failing account"
exact "$T/mail/goodacct"
check 'grep -qF badacct "$MK_ERR"' "the error does not name the failing account: $(mk_err_line)"
check '[ -z "$(cur_files "$T/mail/badacct")" ]' "the failing account has messages"

cfg2=$T/config2.yaml
{
	echo "accounts:"
	acct_yaml goodacct
	acct_yaml bobacct user=bob password_file="$DC/pass-bob" tls=starttls
} | cfg_write "$cfg2"
mk -c "$cfg2" sync
expect_rc 0 "two good accounts"
exact "$T/mail/goodacct"
exact "$T/mail/bobacct" --bob
check '[ -d "$T/mail/bobacct/Bobs/cur" ] && [ ! -e "$T/mail/goodacct/Bobs" ]' "the accounts' mirrors are mixed up"
t_pass
