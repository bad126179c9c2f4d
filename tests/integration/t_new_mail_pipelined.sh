#!/usr/bin/env bash
# New mail is downloaded by a UID FETCH sent right behind EXAMINE (one round trip per changed
# folder). The plan still decides: bodies a killed run had already delivered are dropped, a file a
# mail reader deleted is fetched after; the end is exact, with no duplicate, on QRESYNC and on the
# CONDSTORE-only path.
. "$(dirname "$0")/lib.sh"
t_begin
for mode in qresync condstore; do
	path_account $mode 5 5
	cp "$A/INBOX/.mailkeep-state" "$T/state.$mode"

	# a run delivers two new messages, then "dies" before its state: the old state comes back
	seed append --folder INBOX --seed 51 --count 2
	mk -c "$cfg" sync
	expect_rc 0 "$mode: sync with 2 new"
	cp "$T/state.$mode" "$A/INBOX/.mailkeep-state"
	touch "$A/INBOX/cur" # so that the STATUS pre-pass cannot skip it
	# more new mail, and a reader deletes an old message
	seed append --folder INBOX --seed 52 --count 3
	old=$(find "$A/INBOX/cur" -type f -name '*U=2:*' | head -n 1)
	check '[ -n "$old" ]' "$mode: no local file of UID 2"
	rm -f "$old"
	mk -c "$cfg" -vv sync
	expect_rc 0 "$mode: sync after the lost state"
	first_fetch=$(grep -m1 -n 'UID FETCH' "$MK_ERR" | cut -d: -f1)
	examine=$(grep -m1 -n 'EXAMINE "INBOX"' "$MK_ERR" | cut -d: -f1)
	body=$(grep -m1 -n 'UID FETCH [0-9:,]* (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK\[\])' "$MK_ERR" | cut -d: -f1)
	check '[ -n "$examine" ] && [ -n "$body" ] && [ "$body" -le $((examine + 3)) ]' \
		"$mode: the download was not sent with EXAMINE: $(grep -m3 'EXAMINE\|UID FETCH' "$MK_ERR" | tr '\n' '|')"
	check 'grep -q "INBOX.*: 4 new" "$MK_ERR"' \
		"$mode: expected 4 new in INBOX (3 new + the deleted one): $(grep 'INBOX.*new' "$MK_ERR")"
	exact "$A"
	n=$(find "$A/INBOX/cur" -type f | wc -l)
	check '[ "$n" -eq $((5 + 2 + 3)) ]' "$mode: $n files in INBOX/cur, expected 10 (a duplicate?)"
	: "$first_fetch"
	dc_down
done
t_pass
