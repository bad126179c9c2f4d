#!/usr/bin/env bash
# Connections as a server sees them (sessions counted in Dovecot's rawlog), max_connections 2: a second
# one only when two selected folders need the server; a run with nothing to do, with one changed
# folder, or with changes only in excluded folders logs in once; max_connections 1 never twice.
# A server that refuses the second login (mail_max_userip_connections = 1) gets everything over the
# first: reported, exit 0, exact.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up --rawlog
seed populate --seed 61 --count 5 --big 0
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice max_connections=2; } | cfg_write "$cfg"
A=$T/mail/alice
# alice's logins so far: the rawlog files of her sessions, made before the login is answered. The
# log's "Login: user=<alice>" lines were counted before: Dovecot's log process writes them, on a
# loaded machine after mailkeep (or the compare.py of the previous check) has exited.
logins() { find "$DC/rawlog/$IMAP_USER" -name '*.in' | wc -l; }

# run LABEL WANT_LOGINS: a -vv sync, exact afterwards
run() {
	local label=$1 want=$2 before
	before=$(logins)
	mk -c "$cfg" -vv sync
	expect_rc 0 "$label"
	local got=$(($(logins) - before)) # before exact, which logs in itself
	check '[ "$got" -eq "$want" ]' "$label: $got logins, expected $want"
	exact "$A"
}

run "initial mirror" 2
run "nothing changed" 1
seed append --folder Archive --seed 62 --count 1
run "one folder changed" 1
seed append --folder INBOX --seed 63 --count 1
seed append --folder '日本語' --seed 64 --count 1
run "two folders changed" 2
run "nothing changed again" 1

# excluded folders do not count: only INBOX is mirrored, and two other folders changed
cfg_x=$T/only-inbox.yaml
{ echo "accounts:"; acct_yaml alice max_connections=2 raw='folders:' raw='  include: ["INBOX"]'; } |
	cfg_write "$cfg_x"
mk -c "$cfg_x" sync
expect_rc 0 "sync of INBOX alone"
seed append --folder Archive --seed 65 --count 1
seed append --folder 'R&D' --seed 66 --count 1
before=$(logins)
mk -c "$cfg_x" -vv sync
expect_rc 0 "INBOX alone, other folders changed"
got=$(($(logins) - before))
check '[ "$got" -eq 1 ]' "changes in excluded folders opened a second connection ($got logins)"

# max_connections 1: never a second connection
cfg1=$T/one.yaml
{ echo "accounts:"; acct_yaml alice max_connections=1; } | cfg_write "$cfg1"
seed append --folder INBOX --seed 67 --count 1
seed append --folder Archive/2024 --seed 68 --count 1
before=$(logins)
mk -c "$cfg1" -vv sync
expect_rc 0 "max_connections 1"
got=$(($(logins) - before))
check '[ "$got" -eq 1 ]' "max_connections 1: $got logins"
exact "$A"

# a server that allows one connection per user and address: the early login is refused
sed -i 's/^mail_max_userip_connections = .*/mail_max_userip_connections = 1/' "$DOVECOT_CONF"
doveadm -c "$DOVECOT_CONF" reload >>"$T/doveadm.log" 2>&1 || fail "doveadm reload failed"
sleep 0.5
seed append --folder INBOX --seed 69 --count 2
seed append --folder 'Geschäftlich' --seed 70 --count 2
mk -c "$cfg" -vv sync
expect_rc 0 "one connection allowed"
check 'grep -q "extra connection not opened" "$MK_ERR"' "the refused second login was not reported"
exact "$A"
t_pass
