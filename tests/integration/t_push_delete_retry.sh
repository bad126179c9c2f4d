#!/usr/bin/env bash
# push --delete whose UID STORE is refused: the entries of the messages to delete stay in the
# push state (a failed folder still saves it), so the next --delete deletes them (before, they
# were dropped first: the message stayed on the target for good).
# Then a slow UID EXPUNGE (one EXPUNGE response per message, 0.7 s apart, 7 s in all against a 1 s
# timeout): waited for, since each answer is progress; and one that repeats "* 1 EXPUNGE" without
# end: the push fails within its bound (more answers than UIDs are not progress), and the next
# --delete ends exact.
. "$(dirname "$0")/lib.sh"
t_begin
HOSTILE=$LIB_DIR/push_hostile.py
dc_up
seed populate --seed 41 --count 3 --big 0 --folders "INBOX"
PF=$(fake_pass)
d=$T/h; mkdir -p "$d"; : >"$d/modes"
bg_start python3 "$HOSTILE" --mode-file "$d/modes" --port-file "$d/port" --state "$d/state.json" \
	--log "$d/server.log" --lifetime 300 --caps "UIDPLUS LITERAL+"
k=0; while [ ! -s "$d/port" ] && [ $k -lt 100 ]; do sleep 0.05; k=$((k + 1)); done
{
	echo "accounts:"
	acct_yaml alice
	acct_yaml tgt port="$(cat "$d/port")" tls=none password_file="$PF" timeout=5
} | cfg_write "$T/config.yaml"
mk -c "$T/config.yaml" sync alice
expect_rc 0 sync
mk -c "$T/config.yaml" -v push alice tgt
expect_rc 0 "honest push"
A=$T/mail/alice
pst=$A/.mailkeep/push/tgt/INBOX/.push-state
check '[ "$(grep -c "^m " "$pst")" = 3 ]' "not 3 entries after the first push"
f=$(ls "$A/INBOX/cur" | head -n 1)
rm "$A/INBOX/cur/$f"
echo store-no >"$d/modes"
mk -c "$T/config.yaml" -v push alice tgt --delete
check '[ "$MK_RC" != 0 ]' "the refused --delete exited 0"
check '[ "$(grep -c "^m " "$pst")" = 3 ]' "the failed --delete dropped entries: $(grep -c '^m ' "$pst") left"
: >"$d/modes"
mk -c "$T/config.yaml" -v push alice tgt --delete
expect_rc 0 "honest --delete"
check 'grep -q "1 deleted" "$MK_ERR"' "the honest --delete did not delete: $(grep 'folder "INBOX"' "$MK_ERR")"
n=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(len(s["folders"]["INBOX"]["messages"]))' "$d/state.json")
check '[ "$n" = 2 ]' "the target INBOX holds $n messages, the mirror 2"

# the slow and the endless UID EXPUNGE, with a 1 s timeout (no progress for 5 s fails a command)
seed append --folder Slow --seed 43 --count 14
{
	echo "accounts:"
	acct_yaml alice
	acct_yaml tgt port="$(cat "$d/port")" tls=none password_file="$PF" timeout=1
} | cfg_write "$T/config1.yaml"
mk -c "$T/config1.yaml" sync alice
expect_rc 0 "sync of Slow"
mk -c "$T/config1.yaml" push alice tgt
expect_rc 0 "push of Slow"
target_count() {
	python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(len(s["folders"]["Slow"]["messages"]))' "$d/state.json"
}
check '[ "$(target_count)" = 14 ]' "the target Slow holds $(target_count) messages, not 14"
ls "$A/Slow/cur" | head -n 10 | while read -r f; do rm "$A/Slow/cur/$f"; done
echo expunge-slow >"$d/modes"
t0=$(date +%s)
MK_TIMEOUT=40 mk -c "$T/config1.yaml" -v push alice tgt --delete
expect_rc 0 "--delete against a slow UID EXPUNGE"
check '[ $(($(date +%s) - t0)) -ge 6 ]' "the slow UID EXPUNGE took under 6 s: the mode did not work"
check 'grep -q "10 deleted" "$MK_ERR"' "not 10 deleted: $(grep 'folder "Slow"' "$MK_ERR")"
check '[ "$(target_count)" = 4 ]' "the target Slow holds $(target_count) messages, the mirror 4"
ls "$A/Slow/cur" | head -n 2 | while read -r f; do rm "$A/Slow/cur/$f"; done
echo expunge-endless >"$d/modes"
t0=$(date +%s)
MK_TIMEOUT=40 mk -c "$T/config1.yaml" -v push alice tgt --delete
check '[ "$MK_RC" = 1 ] || [ "$MK_RC" = 4 ]' "--delete against an endless UID EXPUNGE: exit $MK_RC ($(tail -n 1 "$MK_ERR"))"
check '[ $(($(date +%s) - t0)) -le 20 ]' "the endless UID EXPUNGE held the push $(($(date +%s) - t0)) s"
: >"$d/modes"
mk -c "$T/config1.yaml" -v push alice tgt --delete
expect_rc 0 "honest --delete after the endless one"
check '[ "$(target_count)" = 2 ]' "the target Slow holds $(target_count) messages, the mirror 2"
mk -c "$T/config1.yaml" -v push alice tgt --delete
expect_rc 0 "a second honest --delete"
check 'grep -q "0 messages appended (0 bytes), 0 already there, 0 flag updates" "$MK_ERR"' \
	"a second honest --delete did something: $(grep -m1 'push .* folders' "$MK_ERR")"
t_pass
