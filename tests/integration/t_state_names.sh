#!/usr/bin/env bash
# A folder whose directories did not change since the last run is read from its state (every
# file's name is recorded) instead of listing cur/ (docs/design.md, "Reading a folder without
# listing it"). On every path (QRESYNC, CONDSTORE only, neither) the end is exact. A state whose
# names are wrong all the same (a reader's change the directory times cannot show: simulated by
# forging the state's directory times) is caught by the first rename or removal that finds no
# file: the folder is then read and the end is exact, no duplicate. A reader's ordinary change makes the folder read
# at once. A version 1 state (no names) is read and rewritten with names.
. "$(dirname "$0")/lib.sh"
t_begin
# forge_times FOLDER: make the state's directory times those of FOLDER's cur/ and new/ now, as if
# a reader's change had come in the same clock tick as mailkeep's last one (the times cannot be
# put back by hand: they are change times)
forge_times() {
	local c n
	c=$(stat -c %.9Z "$A/$1/cur" | tr -d .) && n=$(stat -c %.9Z "$A/$1/new" | tr -d .) ||
		fail "stat $A/$1"
	sed -i "s/^dirmtime .*/dirmtime $c $n/" "$A/$1/.mailkeep-state" || fail "sed $A/$1/.mailkeep-state"
}
# uid_file FOLDER UID: the single file of UID in FOLDER/cur
uid_file() {
	local f
	f=$(file_for "$A" "$1" "$2")
	check '[ -n "$f" ] && [ "$(printf "%s\n" "$f" | wc -l)" -eq 1 ]' "$mode: not one file of UID $2 in $1"
	printf '%s\n' "$f"
}
for mode in qresync condstore full; do
	path_account $mode 11 6
	check 'head -n 1 "$A/INBOX/.mailkeep-state" | grep -qx "mailkeep-state 2"' "$mode: state is not version 2"
	check '! grep -qE "^m [0-9]+ [^ ]+ -( |$)" "$A"/*/.mailkeep-state' "$mode: a message without its name date"

	# server changes only: the changed folders are read from their states
	dadm flags add -u alice '\Flagged' mailbox INBOX uid 2
	dadm expunge -u alice mailbox Archive uid 1
	seed append --folder INBOX --seed 111 --count 2
	mk -c "$cfg" -vv sync
	expect_rc 0 "$mode: sync of server changes"
	check 'grep -q "INBOX: state loaded (.*files as recorded)" "$MK_ERR"' "$mode: INBOX was listed, not read from its state"
	check 'grep -q "Archive: state loaded (.*files as recorded)" "$MK_ERR"' "$mode: Archive was listed, not read from its state"
	check '! grep -q "reading the folder" "$MK_ERR"' "$mode: a recorded name was wrong"
	exact "$A"

	# a reader renames one file and deletes another, and the directory times are put back: the
	# state's names are wrong. The server then changes the first and expunges the second.
	f3=$(uid_file INBOX 3)
	mv "$f3" "${f3%%:2,*}:2,T"
	f4=$(uid_file INBOX 4)
	rm -f "$f4"
	forge_times INBOX
	dadm flags add -u alice '\Answered' mailbox INBOX uid 3
	dadm expunge -u alice mailbox INBOX uid 4
	mk -c "$cfg" -vv sync
	expect_rc 0 "$mode: sync with wrong recorded names"
	check 'grep -q "INBOX.*reading the folder" "$MK_ERR"' "$mode: the wrong name went unnoticed"
	exact "$A"
	check '[ "$(find "$A/INBOX/cur" -name "*,U=3:*" | wc -l)" -eq 1 ]' "$mode: UID 3 lost or duplicated"

	# the same with a removal that finds no file (a message the server expunged, deleted locally)
	f5=$(uid_file INBOX 5)
	rm -f "$f5"
	forge_times INBOX
	dadm expunge -u alice mailbox INBOX uid 5
	dadm flags add -u alice '\Draft' mailbox INBOX uid 6
	mk -c "$cfg" sync
	expect_rc 0 "$mode: sync after a removal that found nothing"
	exact "$A"

	# an ordinary reader change (times not put back): the folder is listed at once
	f6=$(uid_file Archive 2)
	mv "$f6" "${f6%%:2,*}:2,S"
	dadm flags add -u alice '\Flagged' mailbox Archive uid 3
	mk -c "$cfg" -vv sync
	expect_rc 0 "$mode: sync after a reader's rename"
	check '! grep -q "Archive: state loaded (.*files as recorded)" "$MK_ERR"' "$mode: Archive read from a stale state"
	exact "$A"

	# a version 1 state (before names were recorded) is read, then rewritten with names
	for s in "$A"/*/.mailkeep-state; do
		sed -E '1s/ 2$/ 1/; s/^(m [0-9]+ [^ ]+) [^ ]+/\1/' "$s" >"$s.v1" && cat "$s.v1" >"$s" && rm "$s.v1"
	done
	seed append --folder 'R&D' --seed 112 --count 1
	mk -c "$cfg" sync
	expect_rc 0 "$mode: sync from version 1 states"
	exact "$A"
	check 'head -n 1 "$A/R&D/.mailkeep-state" | grep -qx "mailkeep-state 2"' "$mode: R&D state not rewritten"
	check '! grep -qE "^m [0-9]+ [^ ]+ -( |$)" "$A/R&D/.mailkeep-state"' "$mode: R&D state without names"
	dc_down
done
t_pass
