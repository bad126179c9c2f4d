#!/usr/bin/env bash
# Dovecot with "." as hierarchy separator (Maildir++ layout, `separator = .`, no prefix) as the
# source and as the push target at once (t_layout_maildirpp.sh covers one sync round, t_push.sh
# and t_push_migrate.sh a '/' source into a '.' target, and a '.' source with the INBOX. prefix):
#  - sync rounds of flag changes (keywords too), expunges (the highest UID, UIDs never mirrored)
#    and appends over QRESYNC, each exact, the next sync doing nothing;
#  - push into a second Maildir++ Dovecot ('.' to '.'): nested, non-ASCII, space, '&' and '~'
#    names; every message once with its bytes, flags, keywords, date; then the rounds' changes with
#    --delete; kill -9 during a push of 300 messages, then a rerun: no duplicate;
#  - push into a '/' Dovecot from the same mirror: Archive.2024 becomes Archive/2024.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up --dir "$T/dst" --layout maildir++
DST_CONF=$DOVECOT_CONF
DST="127.0.0.1:$IMAP_PORT:bob:$T/dst/pass-bob"
DST_PORT=$IMAP_PORT
dc_up --dir "$T/slash"
SLASH="127.0.0.1:$IMAP_PORT:bob:$T/slash/pass-bob"
SLASH_PORT=$IMAP_PORT
dc_up --layout maildir++
check '[ "$DELIM" = . ]' "the fixture's delimiter is '$DELIM', not '.'"
SRC="127.0.0.1:$IMAP_PORT:alice:$DC/pass-alice"
seed populate --seed 51 --count 6 --big 1 --folders "INBOX,Archive,Archive/2024,Archive/2024/Q1,Geschäftlich,日本語,R&D,With Space,tilde~x,Empty"
cfg=$T/config.yaml
{
	echo "accounts:"
	acct_yaml alice max_connections=1
	acct_yaml dst user=bob port="$DST_PORT" tls=none password_file="$T/dst/pass-bob"
	acct_yaml slash user=bob port="$SLASH_PORT" tls=none password_file="$T/slash/pass-bob"
} | cfg_write "$cfg"
A=$T/mail/alice
round() { # LABEL: sync, exact with keywords, a second sync that does nothing
	mk -c "$cfg" -v sync alice
	expect_rc 0 "sync $1"
	exact "$A" --keywords
	mk -c "$cfg" -v sync alice
	expect_rc 0 "second sync $1"
	check 'grep -q " 0 new (0 bytes), 0 flag changes, 0 removed" "$MK_ERR"' "second sync $1 changed something: $(mk_err_line)"
	check '! grep "folder \"" "$MK_ERR" | grep -qv ": unchanged$"' "second sync $1 opened a folder: $(grep -m1 'folder "' "$MK_ERR")"
}
round initial
mk -c "$cfg" -v push alice dst
expect_rc 0 "push '.' -> '.'"
pc compare --src "$SRC" --dst "$DST"
check 'doveadm -c "$DST_CONF" mailbox list -u bob | grep -qx "Archive.2024.Q1"' "Archive/2024/Q1 is not Archive.2024.Q1 on the target"
mk -c "$cfg" -v push alice slash
expect_rc 0 "push '.' -> '/'"
pc compare --src "$SRC" --dst "$SLASH"

# round 1: flags and keywords, added and removed; a STORE that changes nothing but the MODSEQ
dadm flags add -u alice '\Flagged Kw1 $Junk' mailbox INBOX uid 1:3
dadm flags remove -u alice '\Seen ProjectX' mailbox Archive.2024 uid 1:6
dadm flags add -u alice '\Answered' mailbox 'With Space' uid 2
dadm flags remove -u alice '\Answered' mailbox 'With Space' uid 2
round flags
# round 2: expunges, the highest UID among them; appended and expunged before the next sync
hi=$(dadm_out search -u alice mailbox Archive.2024.Q1 all | awk '{print $2}' | sort -n | tail -n 1)
dadm expunge -u alice mailbox Archive.2024.Q1 uid "$hi"
dadm expunge -u alice mailbox 'Geschäftlich' uid 1:2
seed append --folder "R&D" --seed 52 --count 4 --first 50
r=$(dadm_out search -u alice mailbox 'R&D' all | awk '{print $2}' | sort -n | tail -n 2 | paste -sd,)
dadm expunge -u alice mailbox 'R&D' uid "$r"
seed append --folder "Neu/Unter Ordner" --seed 53 --count 2
round expunges
mk -c "$cfg" -v push alice dst --delete
expect_rc 0 "incremental push --delete '.' -> '.'"
pc compare --src "$SRC" --dst "$DST"

# kill -9 during a push of 300 messages to a new folder, several times; then a rerun
seed append --folder "Bulk.Teil" --seed 54 --count 300
round bulk
kills=0
for i in 1 2 3 4 5; do
	"$MAILKEEP" -c "$cfg" push alice dst </dev/null >"$T/kill.$i.out" 2>&1 &
	pid=$!
	sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
	kill -KILL "$pid" 2>/dev/null && kills=$((kills + 1))
	wait "$pid" 2>/dev/null
	DOVECOT_CONF=$DST_CONF bob_idle # the killed push's session may still store an APPEND sent in full
	pc compare --src "$SRC" --dst "$DST" --partial
done
t_log "$kills of 5 pushes killed"
mk -c "$cfg" -v push alice dst
expect_rc 0 "push after the kills"
pc compare --src "$SRC" --dst "$DST"
check '! grep -rq "^p " "$A/.mailkeep/push/dst"' "pending entries left after the final push"
mk -c "$cfg" -v push alice slash --delete
expect_rc 0 "incremental push '.' -> '/'"
pc compare --src "$SRC" --dst "$SLASH"
t_pass
