#!/usr/bin/env bash
# `mailkeep status` and `mailkeep verify` read only the mirror: status reports the last run and the
# mirror's size; verify passes on a fresh mirror and lists a deleted, a renamed and a duplicated file;
# with -q it prints problems only (notes left out), nothing for a mirror without one.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 6 --count 4 --big 0
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice; } | cfg_write "$cfg"
A=$T/mail/alice

mk -c "$cfg" status
check '[ $MK_RC -ne 0 ]' "status of a never-synced account succeeded"
mk -c "$cfg" sync
expect_rc 0 "sync"
n=$(msg_files "$A" | wc -l)
mk -c "$cfg" status
expect_rc 0 "status"
check 'grep -q "last run:.*ok" "$MK_OUT"' "status shows no successful last run: $(head -c 300 "$MK_OUT")"
check 'grep -q "messages:  $n," "$MK_OUT"' "status does not count $n messages: $(head -c 300 "$MK_OUT")"
check 'grep -q "folders:   7" "$MK_OUT"' "status does not count 7 folders"

mk -c "$cfg" verify
expect_rc 0 "verify of a fresh mirror"
check 'grep -q "0 problems" "$MK_OUT"' "verify did not report 0 problems"
# another program's file in tmp/ (a delivery in progress) is a note, not a problem: a sync
# leaves it for 36 hours; an interrupted run's file there is a problem the next sync mends
echo "From: x" >"$A/INBOX/tmp/1700000000.M1P1.otherhost"
mkdir "$A/INBOX/tmp/somedir" "$A/INBOX/tmp/x.mailkeep.d" # directories: no delivery, counted by neither
mk -c "$cfg" verify
expect_rc 0 "verify with another program's file in tmp/"
check 'grep -q "^INBOX: note: 1 file(s) in tmp/ not made by mailkeep" "$MK_OUT"' "foreign tmp/ file: $(cat "$MK_OUT")"
# with -q (errors only: cron mails any output) a mirror without a problem prints nothing, notes
# included (before: the notes were printed, exit 0: a mail from cron for a mirror without fault)
echo "From: y" >"$A/Archive/cur/foreign-file"
mk -c "$cfg" -q verify
expect_rc 0 "verify -q with notes only"
check '[ ! -s "$MK_OUT" ] && [ ! -s "$MK_ERR" ]' "verify -q printed notes: $(cat "$MK_OUT" "$MK_ERR" | head -c 300)"
mk -c "$cfg" verify
check 'grep -q "^Archive: note: 1 file(s) not made by mailkeep" "$MK_OUT"' "foreign file in cur/ not noted: $(cat "$MK_OUT")"
rm "$A/Archive/cur/foreign-file"
echo "partial" >"$A/INBOX/tmp/1700000000.1_5.mailkeep,U=5"
mk -c "$cfg" verify
expect_rc 1 "verify with an interrupted run's file in tmp/"
check 'grep -q "^INBOX: 1 file(s) in tmp/ (an interrupted run" "$MK_OUT"' "leftover tmp/ file: $(cat "$MK_OUT")"
mk -c "$cfg" -q verify
expect_rc 1 "verify -q with an interrupted run's file in tmp/"
check 'grep -q "^INBOX: 1 file(s) in tmp/ (an interrupted run" "$MK_OUT" && ! grep -q "note:" "$MK_OUT"' \
	"verify -q: the problem is not printed alone: $(cat "$MK_OUT")"
rm -rf "$A"/INBOX/tmp/*

# no network: verify must work with the server down
inbox=$(ls "$A/INBOX/cur" | head -n 1)
rm "$A/INBOX/cur/$inbox"
arch=$(ls "$A/Archive/cur" | head -n 1)
mv "$A/Archive/cur/$arch" "$A/Archive/cur/${arch%%:2,*}:2,FRST"
g=$(ls "$A/Geschäftlich/cur" | head -n 1)
cp "$A/Geschäftlich/cur/$g" "$A/Geschäftlich/new/${g%%:2,*}"
dc_down
mk -c "$cfg" verify
expect_rc 1 "verify of a tampered mirror"
check 'grep -q "^INBOX: UID .* is recorded but has no file" "$MK_OUT"' "deleted file not reported: $(cat "$MK_OUT")"
check 'grep -q "^Archive: .*flags \"FRST\"" "$MK_OUT"' "renamed file not reported: $(cat "$MK_OUT")"
check 'grep -q "^Geschäftlich: UID .*2 copies" "$MK_OUT"' "duplicate not reported: $(cat "$MK_OUT")"
mk -c "$cfg" status
expect_rc 0 "status without the server"
t_pass
