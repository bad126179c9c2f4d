#!/usr/bin/env bash
# Without QRESYNC, and without CONDSTORE either, the incremental paths still give exact mirrors:
# flag changes rename in place, expunges remove, new mail is added, a no-op run changes nothing;
# the server's rawlog shows that mailkeep did not use what was not advertised.
. "$(dirname "$0")/lib.sh"
t_begin

round() { # FIXTURE-OPTION
	local opt=$1 tag=${1#--}
	DC=$T/dc-$tag
	dc_up "$opt" --rawlog
	seed populate --seed 14 --count 5 --big 1
	rawlog_reset
	local cfg=$T/$tag.yaml A=$T/mail-$tag/alice
	{ echo "accounts:"; acct_yaml alice root="$T/mail-$tag"; } | cfg_write "$cfg"
	local rl=$T/rawlog-$tag.txt
	mk -c "$cfg" sync
	rawlog_keep "$rl"
	expect_rc 0 "$tag: initial sync"
	exact "$A"
	inode_list "$A" >"$T/inodes0"

	dadm flags add -u alice '\Answered' mailbox INBOX uid 2
	dadm flags remove -u alice '\Seen' mailbox Archive uid 1
	dadm expunge -u alice mailbox INBOX uid 3
	dadm expunge -u alice mailbox '日本語' uid 5
	seed append --folder INBOX --seed 141 --count 2
	rawlog_reset
	mk -c "$cfg" sync
	rawlog_keep "$rl"
	expect_rc 0 "$tag: incremental sync"
	exact "$A"
	inode_list "$A" >"$T/inodes1"
	inode_expect "$T/inodes0" "$T/inodes1" "renamed INBOX 2" "renamed Archive 1" "gone INBOX 3" \
		"gone 日本語 5" "new INBOX *"

	mk -c "$cfg" sync
	rawlog_keep "$rl"
	expect_rc 0 "$tag: no-op sync"
	inode_list "$A" >"$T/inodes2"
	inode_expect "$T/inodes1" "$T/inodes2"
	CHECKS=$((CHECKS + 1))
	local used
	if [ "$opt" = --no-condstore ]; then
		used=$(grep -iE 'CONDSTORE|QRESYNC|CHANGEDSINCE|MODSEQ|VANISHED' "$rl" | head -n 1)
	else
		used=$(grep -iE 'QRESYNC|VANISHED' "$rl" | head -n 1)
	fi
	[ -z "$used" ] || fail "$tag: mailkeep used an extension the server did not advertise: $used"
	check 'grep -q "UID FETCH" "$rl"' "$tag: the rawlog shows no UID FETCH (is --rawlog working?)"
	no_writes "$tag" "$rl"
	dc_down "$DC"
}
round --no-qresync
round --no-condstore
t_pass
