#!/usr/bin/env bash
# A folder whose state file is refused (damaged: a known header line after the message lines, a
# file cut in a line, one cut in its header) is rebuilt from its files and the server's dates:
# nothing lost, no message downloaded again, the mirror exact, the next run unchanged. The refusals
# are the state loader's (src/state.c); no mailkeep version wrote such a file.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 12 --count 6 --big 1 --folders "INBOX,Archive"
cfg=$T/config.yaml
cfg_alice_bob "$cfg"
A=$T/mail/alice
mk -c "$cfg" sync alice
expect_rc 0 "first sync"
inode_list "$A" >"$T/inodes0"
n=0
for damage in header-after-messages cut-in-message-line cut-in-header; do
	n=$((n + 1))
	st=$A/INBOX/.mailkeep-state
	case $damage in
	header-after-messages) printf 'uidnext 1\n' >>"$st" ;;
	cut-in-message-line) truncate -s -3 "$st" ;;
	cut-in-header) { head -n 2 "$st" && printf 'uidnext 9'; } >"$T/st" && cat "$T/st" >"$st" ;;
	esac
	# a change of cur/ by someone else: the folder is listed, its state read whole
	: >"$A/INBOX/cur/.x" && rm "$A/INBOX/cur/.x"
	mk -c "$cfg" -v sync alice
	expect_rc 0 "sync with the state damaged ($damage)"
	check 'grep -q "rebuilding the state from the files" "$MK_ERR"' "$damage: the state was not refused: $(mk_err_line)"
	check 'grep -q " 0 new" "$MK_ERR" && ! grep -qE "[1-9][0-9]* new" "$MK_ERR"' \
		"$damage: messages downloaded again: $(grep -m1 'INBOX' "$MK_ERR")"
	inode_list "$A" >"$T/inodes$n"
	inode_expect "$T/inodes0" "$T/inodes$n"
	exact "$A"
	mk -c "$cfg" -v sync alice
	expect_rc 0 "rerun after $damage"
	check 'grep -q "folder \"INBOX\": unchanged" "$MK_ERR"' "$damage: the rerun did not find INBOX unchanged: $(grep -m1 INBOX "$MK_ERR")"
done
t_pass
