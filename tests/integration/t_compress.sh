#!/usr/bin/env bash
# compress: true (COMPRESS=DEFLATE, RFC 4978) against a Dovecot with imap_zlib, on each incremental
# path (QRESYNC, CONDSTORE only, neither): the mirror is exact after the first run and after server
# changes; -v reports fewer bytes over the wire than inflated; a no-change run sends no COMPRESS (no
# round trip spent on it); kill -9 during a compressed download, then a rerun: exact. Without the
# key nothing is compressed; with it, a server that does not offer COMPRESS is mirrored uncompressed.
# push to a target account with compress: true: every message arrives.
. "$(dirname "$0")/lib.sh"
t_begin

# wire_ok WHAT: the -v output of the last run reports compressed connections, fewer bytes on the
# wire than inflated for the biggest one
wire_ok() {
	CHECKS=$((CHECKS + 1))
	local line wire plain
	line=$(grep 'COMPRESS DEFLATE: [0-9]* bytes over the wire for [0-9]*' "$MK_ERR" | sort -t' ' -k5 -n | tail -n 1)
	[ -n "$line" ] || fail "$1: no compressed connection reported: $(tail -n 2 "$MK_ERR")"
	wire=$(sed -E 's/.*DEFLATE: ([0-9]+) bytes over the wire for ([0-9]+).*/\1/' <<<"$line")
	plain=$(sed -E 's/.*DEFLATE: ([0-9]+) bytes over the wire for ([0-9]+).*/\2/' <<<"$line")
	[ "$wire" -lt "$plain" ] || fail "$1: $wire bytes over the wire for $plain inflated"
}

for mode in qresync condstore full; do
	DC=$T/dc-$mode
	case $mode in
	qresync) dc_up --compress ;;
	condstore) dc_up --compress --no-qresync ;;
	full) dc_up --compress --no-condstore ;;
	esac
	seed populate --seed 7 --count 6 --big 2
	cfg=$T/$mode.yaml
	{ echo "accounts:"; acct_yaml "z$mode" compress=true; } | cfg_write "$cfg"
	A=$T/mail/z$mode

	mk -c "$cfg" -v sync
	expect_rc 0 "$mode: first sync"
	exact "$A"
	wire_ok "$mode: first sync"

	dadm flags add -u alice '\Flagged \Seen' mailbox INBOX uid 2
	dadm flags remove -u alice '\Seen' mailbox INBOX uid 1
	dadm expunge -u alice mailbox Archive uid 1
	seed append --folder INBOX --seed 71 --count 3 --big 1
	seed append --folder 'R&D' --seed 72 --count 2
	mk -c "$cfg" -v sync
	expect_rc 0 "$mode: sync after changes"
	exact "$A"
	wire_ok "$mode: sync after changes"

	mk -c "$cfg" -vv sync
	expect_rc 0 "$mode: no-change sync"
	exact "$A"
	if [ $mode = full ]; then
		# without HIGHESTMODSEQ every folder is examined (for flags): compressed
		wire_ok "$mode: no-change sync"
	else
		check '! grep -q "COMPRESS" "$MK_ERR"' "$mode: a no-change run sent COMPRESS: $(grep -m1 COMPRESS "$MK_ERR")"
		check 'grep -q " 2 round trips" "$MK_ERR"' \
			"$mode: no-change run not in 2 round trips: $(grep 'round trips' "$MK_ERR")"
	fi
done

# kill -9 in the middle of a compressed download (QRESYNC server, big messages), then a rerun
DC=$T/dc-qresync
. "$DC/env"
seed append --folder INBOX --seed 73 --count 2 --big 6 --big-size 400000:900000
killed=0
for delay in 0.15 0.3 0.5; do
	"$MAILKEEP" -c "$T/qresync.yaml" sync </dev/null >"$T/kill.out" 2>"$T/kill.err" &
	pid=$!
	sleep "$delay"
	kill -KILL "$pid" 2>/dev/null && killed=$((killed + 1))
	wait "$pid" 2>/dev/null
	seed append --folder Archive --seed 74 --count 1 --big 2 --big-size 400000:900000
done
t_log "$killed runs killed mid-way"
mk -c "$T/qresync.yaml" sync
expect_rc 0 "sync after kill -9"
exact "$T/mail/zqresync"
check '[ -z "$(tmp_files "$T/mail/zqresync")" ]' "files left in tmp/ after the rerun"

# without the key: nothing compressed, same mirror
cfg=$T/plain.yaml
{ echo "accounts:"; acct_yaml zplain; } | cfg_write "$cfg"
mk -c "$cfg" -vv sync
expect_rc 0 "sync without compress"
exact "$T/mail/zplain"
check '! grep -q "COMPRESS" "$MK_ERR"' "COMPRESS sent without compress: true"

# push to bob (compress: true on the target account): every message arrives
cfg=$T/push.yaml
{
	echo "accounts:"
	acct_yaml alice compress=true
	acct_yaml bob user=bob password_file="$DC/pass-bob" compress=true
} | cfg_write "$cfg"
mk -c "$cfg" sync alice
expect_rc 0 "sync of alice"
mk -c "$cfg" -vv push alice bob
expect_rc 0 "compressed push"
check 'grep -q "COMPRESS DEFLATE active" "$MK_ERR"' "push did not compress"
pc compare --src "$IMAP_HOST:$IMAP_PORT:alice:$DC/pass-alice" --dst "$IMAP_HOST:$IMAP_PORT:bob:$DC/pass-bob"

# a server without COMPRESS=DEFLATE: compress: true is a wish, not a requirement
DC=$T/dc-none
dc_up
seed populate --seed 8 --count 3 --big 0
cfg=$T/none.yaml
{ echo "accounts:"; acct_yaml znone compress=true; } | cfg_write "$cfg"
mk -c "$cfg" -vv sync
expect_rc 0 "compress: true, server without COMPRESS"
exact "$T/mail/znone"
check '! grep -q "COMPRESS" "$MK_ERR"' "COMPRESS sent to a server that does not offer it"

t_pass
