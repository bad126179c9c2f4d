#!/usr/bin/env bash
# Dovecot in other realistic configurations than the suite's default (Maildir, LAYOUT=fs, every
# extension), from tests/fixture/dovecot.sh: mdbox and mbox storage (mbox: UIDs and flags kept in
# the file's headers, a folder holds messages or folders), Courier's names ("INBOX." prefix, '.'
# delimiter), a server trimmed to plain IMAP4rev1 (no CONDSTORE, QRESYNC, ESEARCH, UIDPLUS,
# LIST-STATUS, ENABLE, LITERAL+, SPECIAL-USE, MOVE, NAMESPACE), and that one with mbox, mdbox and
# Courier's names. For each: a first mirror, two rounds of server changes (flags and keywords added
# and removed, expunges, new mail, a new folder), then a run killed with SIGKILL mid-way while it
# downloads (what it left is consistent), each followed by a sync that must leave the mirror exact;
# a no-op run changes nothing. Then each is the target of `mailkeep push` from the mirror of a
# default Dovecot: pushes killed mid-way leave no duplicate, a rerun gives every message once
# (push_check.py), a second push appends nothing. (Shared and public namespaces: t_shared_namespace.)
# MK_SERVER_CONFIGS="mbox imap4rev1" picks configurations (default: all).
. "$(dirname "$0")/lib.sh"
t_begin

box() { # the server name of folder $1 ('/' between levels, UTF-8)
	case $1 in INBOX) echo INBOX ;; *) echo "$PREFIX${1//\//$DELIM}" ;; esac
}
# changes ROUND: what another client does to alice's mailbox (doveadm, any storage)
changes() {
	local i=$1
	dadm flags add -u alice "\\Flagged Kw$i" mailbox INBOX uid "$i:$((i + 3))"
	dadm flags remove -u alice '\Seen ProjectX' mailbox "$(box Archive)" uid 1:*
	dadm flags add -u alice '\Answered $Forwarded' mailbox "$(box "R&D")" uid "$((i + 1))"
	dadm expunge -u alice mailbox INBOX uid "$((i + 5))"
	dadm expunge -u alice mailbox "$(box 日本語)" uid "$i:$((i + 1))"
	seed append --folder Geschäftlich --seed $((70 + i)) --count 3 --first $((20 * i))
	seed append --folder "New $i" --seed $((80 + i)) --count 2
}

# round ROUND: changes, one sync, exact
round() {
	changes "$1"
	mk -c "$cfg" sync
	expect_rc 0 "$cf: sync after round $1"
	exact "$A"
}

# the push source: a default Dovecot's mirror (mbox cannot hold Archive beside Archive/2024)
SRC_DC=$T/dc-src
DC=$SRC_DC
dc_up
seed populate --seed 41 --count 40 --big 2 --folders "INBOX,Archive,Work/2024,Geschäftlich,日本語,R&D,With Space,Empty"
SRC="127.0.0.1:$IMAP_PORT:alice:$DC/pass-alice"
SRC_YAML=$(acct_yaml src max_connections=1)
{ echo "accounts:"; echo "$SRC_YAML"; } | cfg_write "$T/src.yaml"
mk -c "$T/src.yaml" sync
expect_rc 0 "sync of the push source"

# push_into: push the source's mirror into bob of this configuration's server
push_into() {
	local pcfg=$T/push-$cf.yaml dst="127.0.0.1:$IMAP_PORT:bob:$DC/pass-bob" kills=0 i pid PC_WHAT=$cf
	{
		echo "accounts:"
		echo "$SRC_YAML"
		acct_yaml "dst-$cf" user=bob password_file="$DC/pass-bob"
	} | cfg_write "$pcfg"
	local opts=() f
	# below the target's INBOX. prefix; mbox ends every message with a line end
	if [ -n "$PREFIX" ]; then
		for f in Archive Work Geschäftlich 日本語 "R&D" "With Space" Empty; do opts+=(--map "$f=INBOX/$f"); done
	fi
	[ "$STORAGE" = mbox ] && opts+=(--final-crlf)
	for i in 1 2; do
		"$MAILKEEP" -c "$pcfg" push src "dst-$cf" </dev/null >"$T/pkill.$i.out" 2>&1 &
		pid=$!
		sleep "0.$((RANDOM % 2))$((RANDOM % 10))"
		kill -KILL "$pid" 2>/dev/null && kills=$((kills + 1))
		wait "$pid" 2>/dev/null
		pc compare --src "$SRC" --dst "$dst" --partial "${opts[@]}"
	done
	t_log "$cf: $kills of 2 pushes killed"
	mk -c "$pcfg" -v push src "dst-$cf"
	expect_rc 0 "$cf: push"
	pc compare --src "$SRC" --dst "$dst" "${opts[@]}"
	mk -c "$pcfg" -v push src "dst-$cf"
	expect_rc 0 "$cf: second push"
	check '! grep "would append\|appended [1-9]" "$MK_ERR"' "$cf: the second push appended: $(mk_err_line)"
	pc compare --src "$SRC" --dst "$dst" "${opts[@]}"
}

one_config() {
	cf=$1
	shift
	DC=$T/dc-$cf
	dc_up "$@"
	local folders=()
	# mbox: a folder holds messages or folders, not both (Archive/2024 beside Archive is refused)
	[ "$STORAGE" = mbox ] && folders=(--folders "INBOX,Archive,Work/2024,Geschäftlich,日本語,R&D,Empty")
	seed populate --seed 21 --count 12 --big 4 --big-size 300000:600000 "${folders[@]}"
	cfg=$T/$cf.yaml
	{ echo "accounts:"; acct_yaml "$cf"; } | cfg_write "$cfg"
	A=$T/mail/$cf
	mk -c "$cfg" sync
	expect_rc 0 "$cf: first sync"
	exact "$A"
	round 1
	round 2
	# a run killed mid-way, with work to do
	changes 3
	seed append --folder INBOX --seed 77 --count 2 --big 6 --big-size 1500000:2500000
	"$MAILKEEP" -c "$cfg" sync </dev/null >"$T/kill-$cf.out" 2>"$T/kill-$cf.err" &
	local pid=$! rc
	sleep 0.05
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rc=$?
	t_log "$cf: killed run: exit $rc"
	check '[ $rc -eq 137 ]' "$cf: the run was not killed mid-way (exit $rc): too fast for this test"
	CHECKS=$((CHECKS + 1))
	python3 "$COMPARE_PY" "$A" --host "$IMAP_HOST" --port "$IMAP_PORT" --user "$IMAP_USER" \
		--password-file "$DC/pass-alice" --partial >"$T/compare.out" 2>&1 ||
		fail "$cf: after the kill: $(head -n 1 "$T/compare.out")"
	mk -c "$cfg" sync
	expect_rc 0 "$cf: sync after the kill"
	exact "$A"
	check '[ -z "$(tmp_files "$A")" ]' "$cf: files left in tmp/"
	inode_list "$A" >"$T/inodes0"
	mk -c "$cfg" -v sync
	expect_rc 0 "$cf: no-op sync"
	inode_list "$A" >"$T/inodes1"
	inode_expect "$T/inodes0" "$T/inodes1"
	# without NAMESPACE push cannot know the target's "INBOX." prefix: every CREATE is refused
	# (exit 1, nothing lost; push_map names the folders), not checked here
	[ "$cf" = prefix-rev1 ] || push_into
	dc_down "$DC"
}

configs=${MK_SERVER_CONFIGS:-mdbox mbox prefix imap4rev1 prefix-rev1 mbox-rev1 mdbox-rev1}
for c in $configs; do
	case $c in
	mdbox) one_config mdbox --storage mdbox ;;
	mbox) one_config mbox --storage mbox ;;
	prefix) one_config prefix --prefix INBOX. ;;
	imap4rev1) one_config imap4rev1 --imap4rev1 ;;
	prefix-rev1) one_config prefix-rev1 --prefix INBOX. --imap4rev1 ;;
	mbox-rev1) one_config mbox-rev1 --storage mbox --imap4rev1 ;;
	mdbox-rev1) one_config mdbox-rev1 --storage mdbox --imap4rev1 ;;
	*) fail "unknown configuration $c" ;;
	esac
done
t_pass
