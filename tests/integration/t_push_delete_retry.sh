#!/usr/bin/env bash
# push --delete whose UID STORE is refused: the entries of the messages to delete stay in the
# push state (a failed folder still saves it), so the next --delete deletes them (before, they
# were dropped first: the message stayed on the target for good).
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
t_pass
