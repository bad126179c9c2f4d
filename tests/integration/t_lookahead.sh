#!/usr/bin/env bash
# A connection sends the next folder's EXAMINE right behind the current one's (one round trip less
# per changed folder). A folder that then needs one more command (here: a message a mail reader
# deleted, fetched again) is never served by the other mailbox: it is synced again without
# look-ahead, and the end is exact with no duplicate. On the CONDSTORE-only path (where a server may
# run the FETCH CHANGEDSINCE, the SEARCH and the download side by side) the next EXAMINE goes out
# only once the folder has nothing more to ask; the end is exact there too.
. "$(dirname "$0")/lib.sh"
t_begin
for mode in qresync condstore; do
	path_account $mode 7 6

	# new mail everywhere: every folder is examined, each with its download behind it
	i=0
	for f in INBOX Archive Archive/2024 'Geschäftlich' '日本語' 'R&D'; do
		i=$((i + 1))
		seed append --folder "$f" --seed $((70 + i)) --count 2
	done
	mk -c "$cfg" -vv sync
	expect_rc 0 "$mode: sync of new mail"
	[ $mode = condstore ] ||
		check 'grep -q "EXAMINE sent ahead" "$MK_ERR"' "$mode: no EXAMINE was sent ahead"
	check '! grep -q "this one again" "$MK_ERR"' "$mode: a folder was synced twice without need"
	exact "$A"

	# a reader deletes a message in every folder but the last: each of those needs a UID FETCH of
	# its own after the next folder's EXAMINE is on the wire
	seed append --folder INBOX --seed 90 --count 1
	for f in INBOX Archive 'Geschäftlich'; do
		old=$(find "$A/$f/cur" -type f -name '*,U=3:*' | head -n 1)
		check '[ -n "$old" ]' "$mode: no local file of UID 3 in $f"
		rm -f "$old"
	done
	mk -c "$cfg" -vv sync
	expect_rc 0 "$mode: sync after local deletions"
	[ $mode = condstore ] ||
		check 'grep -q "this one again" "$MK_ERR"' "$mode: no folder was synced again (look-ahead not exercised?)"
	check '! grep -q "error" "$MK_ERR"' "$mode: errors: $(grep error "$MK_ERR" | head -n 3)"
	exact "$A"
	for f in INBOX Archive 'Geschäftlich'; do
		n=$(find "$A/$f/cur" -type f -name '*,U=3:*' | wc -l)
		check '[ "$n" -eq 1 ]' "$mode: $f has $n files of UID 3 (lost or duplicated)"
	done
	# and a plain rerun changes nothing
	mk -c "$cfg" sync
	expect_rc 0 "$mode: no-op rerun"
	exact "$A"
	dc_down
done
t_pass
