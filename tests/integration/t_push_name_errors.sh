#!/usr/bin/env bash
# push: a folder whose name cannot be mapped to the target (a level of a '/' source holding the
# target's hierarchy delimiter '.', pushed into a Maildir++ Dovecot) fails alone, with an error
# naming the delimiter; the connection stays, and every other folder (INBOX, z) is pushed whole.
# before: the name error counted as a network error: push logged out and reconnected for each such
# folder, and after MAX_RECONNECTS (3) the later folders failed with "not pushed: no connection".
. "$(dirname "$0")/lib.sh"
t_begin
dc_up --dir "$T/dst" --layout maildir++
check '[ "$DELIM" = . ]' "the target's delimiter is '$DELIM', not '.'"
DST_CONF=$DOVECOT_CONF
DST_PORT=$IMAP_PORT
DST="127.0.0.1:$IMAP_PORT:bob:$T/dst/pass-bob"
dc_up
check '[ "$DELIM" = / ]' "the source's delimiter is '$DELIM', not '/'"
SRC="127.0.0.1:$IMAP_PORT:alice:$DC/pass-alice"
seed populate --seed 61 --count 2 --big 0 --folders "INBOX,a.1,a.2,a.3,a.4,z"
cfg=$T/config.yaml
{
	echo "accounts:"
	acct_yaml src max_connections=1
	acct_yaml dst user=bob port="$DST_PORT" tls=none password_file="$T/dst/pass-bob"
} | cfg_write "$cfg"
mk -c "$cfg" sync src
expect_rc 0 "sync of the source"
exact "$T/mail/src"

mk -c "$cfg" -v push src dst
expect_rc 1 "push with four unmappable folder names"
for n in 1 2 3 4; do
	check 'grep -q "a\.$n.*hierarchy delimiter" "$MK_ERR"' "folder a.$n is not reported as holding the delimiter"
done
check '! grep -q "no connection" "$MK_ERR"' "folders failed for want of a connection: $(grep -m1 'no connection' "$MK_ERR")"
dadm_dst() { doveadm -c "$DST_CONF" "$@" 2>>"$T/doveadm.log"; }
dadm_dst mailbox list -u bob >"$T/dst.list"
check 'grep -qx z "$T/dst.list"' "z was not created on the target: $(tr '\n' ' ' <"$T/dst.list")"
check '! grep -q "^a" "$T/dst.list"' "a folder of a dotted name is on the target: $(tr '\n' ' ' <"$T/dst.list")"
# z and INBOX hold every message of the source (the dotted folders are left out)
pc compare --src "$SRC" --dst "$DST" --exclude a.1 --exclude a.2 --exclude a.3 --exclude a.4
t_pass
