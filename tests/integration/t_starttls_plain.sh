#!/usr/bin/env bash
# The STARTTLS (with ca_file) and tls: none paths give exact mirrors; two accounts in one config,
# `sync NAME` syncs only that account.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 2 --count 5 --big 1
cfg=$T/config.yaml
{
	echo "accounts:"
	acct_yaml viastarttls tls=starttls
	acct_yaml viaplain tls=none
} | cfg_write "$cfg"

mk -c "$cfg" sync viastarttls
expect_rc 0 "sync viastarttls"
exact "$T/mail/viastarttls"
check '[ ! -e "$T/mail/viaplain" ]' "sync viastarttls also created the viaplain mirror"

mk -c "$cfg" sync
expect_rc 0 "sync of both accounts"
exact "$T/mail/viastarttls"
exact "$T/mail/viaplain"
check 'diff -r "$T/mail/viastarttls" "$T/mail/viaplain" -x .mailkeep -x .mailkeep-state >/dev/null' \
	"the STARTTLS and plain mirrors differ"
t_pass
