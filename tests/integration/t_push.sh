#!/usr/bin/env bash
# mailkeep push: alice's server -> sync -> mirror -> push -> bob. Every message arrives on bob
# byte-identical with its flags and INTERNALDATE; a second push adds nothing; new mail and flag
# changes travel with the next sync + push, nothing else; --delete; a message the target refuses;
# kill -9 at random instants, then a final push: no duplicate, none missing; a target server with
# '.' as delimiter (maildir++), non-ASCII names, push_map and a name that needs it.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 5 --count 8 --big 2
seed append --folder 'Sent Items' --seed 5 --count 3
# messages without Message-ID (matched by a digest of their headers), one of them twice
python3 - "$DC/env" <<'PY' >>"$T/seed.log" 2>&1 || fail "appending messages without Message-ID failed"
import dcimap
c = dcimap.login()
same = b"From: x@example.test\r\nSubject: no id\r\n\r\nthe same text\r\n"
for msg, date in [(same, '"01-Mar-2024 10:00:00 +0000"'), (same, '"01-Mar-2024 10:00:00 +0000"'),
                  (b"From: y@example.test\r\nSubject: other\r\n\r\nbody\r\n", '"02-Mar-2024 11:00:00 +0100"')]:
    typ, data = c.append("INBOX", "(\\Seen)", date, msg)
    assert typ == "OK", data
c.logout()
PY
cfg=$T/config.yaml
cfg_alice_bob "$cfg"
A=$T/mail/alice
SRC="$IMAP_HOST:$IMAP_PORT:alice:$DC/pass-alice"
DST="$IMAP_HOST:$IMAP_PORT:bob:$DC/pass-bob"

# bob_count: messages in all of bob's folders
bob_count() { doveadm -c "$DOVECOT_CONF" search -u bob all 2>/dev/null | wc -l; }

mk -c "$cfg" sync alice
expect_rc 0 "sync of alice"
exact "$A"
# bob already has a "Sent": alice's "Sent Items" goes there (the fixture shows no SPECIAL-USE
# attributes, so the well-known names decide)
dadm mailbox create -u bob Sent
# and two of alice's INBOX messages, as from an earlier copy: found, not appended again
seed append --user bob --folder INBOX --seed 5 --first 0 --count 2

# --dry-run lists and changes nothing
mk -c "$cfg" -v push alice bob --dry-run
expect_rc 0 "push --dry-run"
check 'grep -q "(dry run): [0-9]* folders ([1-9][0-9]* to create, 0 failed)" "$MK_ERR"' \
	"push --dry-run -v does not count the folders to create: $(grep '(dry run)' "$MK_ERR")"
check 'grep -q "would create folder \"Archive/2024\"" "$MK_OUT"' "--dry-run does not list the folders to create"
check 'grep -q "folder \"INBOX\" -> \"INBOX\": would append 10 .*, 2 already there" "$MK_OUT"' \
	"--dry-run does not count INBOX's messages: $(grep INBOX "$MK_OUT")"
check 'grep -q "folder \"Sent Items\" -> \"Sent\": would append 3 " "$MK_OUT"' "--dry-run does not map Sent Items to Sent"
check '[ "$(bob_count)" -eq 2 ]' "--dry-run appended messages"
check '[ ! -e "$A/.mailkeep/push" ]' "--dry-run wrote push state"

# the first push copies everything
mk -c "$cfg" -v push alice bob
expect_rc 0 "first push"
check 'grep -q "push alice -> bob: 8 folders (6 created, 0 failed), 54 messages appended ([0-9]* bytes), 2 already there" "$MK_ERR"' \
	"first push summary wrong: $(grep -m1 'push alice -> bob: [0-9]* folders' "$MK_ERR")"
pc compare --src "$SRC" --dst "$DST" --map "Sent Items=Sent"
check '! grep -rq "^p " "$A/.mailkeep/push/bob"' "pending entries left in the push state"
check '[ "$(stat -c %a "$A/.mailkeep/push/bob/INBOX/.push-state")" = 600 ]' "push state not 0600"

# a second push adds nothing and changes nothing
pc dump --dst "$DST" "$T/bob0.json"
mk -c "$cfg" -v push alice bob
expect_rc 0 "second push"
check 'grep -q "0 messages appended (0 bytes), 0 already there, 0 flag updates" "$MK_ERR"' "second push did something"
pc since --dst "$DST" "$T/bob0.json"

# new mail and flag changes on alice: sync + push bring exactly those
dadm flags add -u alice '\Flagged \Seen' mailbox INBOX uid 2
dadm flags remove -u alice '\Seen \Answered' mailbox INBOX uid 1
dadm flags add -u alice 'SomeKeyword' mailbox '日本語' uid 2
dadm flags remove -u alice 'ProjectX' mailbox Archive uid 1
dadm flags add -u alice '$Forwarded' mailbox 'Sent Items' uid 3
seed append --folder INBOX --seed 51 --count 3
seed append --folder 'Neu/Unterordner' --seed 52 --count 2
# a flag set on bob meanwhile stays: push adds and removes what changed on alice only
dadm flags add -u bob '$Important' mailbox INBOX uid 2
mk -c "$cfg" sync alice
expect_rc 0 "second sync of alice"
pc dump --dst "$DST" "$T/bob1.json"
mk -c "$cfg" -v push alice bob
expect_rc 0 "push of new mail and flag changes"
check 'grep -q "5 messages appended" "$MK_ERR"' "push of the changes: $(grep -m1 'push alice -> bob: [0-9]* folders' "$MK_ERR")"
check 'grep -q "5 flag updates" "$MK_ERR"' "push of the changes did not update 5 messages' flags"
pc since --dst "$DST" "$T/bob1.json" --new 5
check 'doveadm -c "$DOVECOT_CONF" fetch -u bob flags mailbox INBOX uid 2 | grep -q "Important"' \
	"a flag set on the target was removed"
dadm flags remove -u bob '$Important' mailbox INBOX uid 2
pc compare --src "$SRC" --dst "$DST" --map "Sent Items=Sent"

# deletions: kept on the target, unless --delete
dadm expunge -u alice mailbox INBOX uid 4
dadm expunge -u alice mailbox Archive uid 2
mk -c "$cfg" sync alice
expect_rc 0 "sync after expunges"
pc dump --dst "$DST" "$T/bob2.json"
mk -c "$cfg" push alice bob
expect_rc 0 "push without --delete"
pc since --dst "$DST" "$T/bob2.json"
# a dry run says what it would delete, in its -v lines too, and deletes nothing
mk -c "$cfg" -v push alice bob --delete --dry-run
expect_rc 0 "push --delete --dry-run"
check 'grep -q "(dry run): .* 2 to delete" "$MK_ERR" && ! grep -q " deleted" "$MK_ERR"' \
	"push --delete --dry-run -v does not say 2 to delete, or says deleted: $(grep -m1 ' deleted' "$MK_ERR")"
pc since --dst "$DST" "$T/bob2.json"
mk -c "$cfg" -v push alice bob --delete
expect_rc 0 "push --delete"
check 'grep -q "2 deleted" "$MK_ERR"' "push --delete did not delete 2 messages"
pc since --dst "$DST" "$T/bob2.json" --gone 2
pc compare --src "$SRC" --dst "$DST" --map "Sent Items=Sent"

# a message the target refuses (Dovecot refuses an empty one) is reported; the rest goes on
seed append --folder 'R&D' --seed 53 --count 1
mk -c "$cfg" sync alice
uv=$(sed -n 's/^uidvalidity //p' "$A/R&D/.mailkeep-state")
: >"$A/R&D/cur/1700000000.${uv}_999.mailkeep,U=999:2,S"
touch -d @1700000000 "$A/R&D/cur/1700000000.${uv}_999.mailkeep,U=999:2,S"
mk -c "$cfg" push alice bob
expect_rc 1 "push with a refused message"
check 'grep -q "folder \"R&D\": message UID 999 refused by the target" "$MK_ERR"' \
	"the refused message is not reported by folder and UID: $(mk_err_line)"
rm -f "$A/R&D/cur/1700000000.${uv}_999.mailkeep,U=999:2,S"
pc compare --src "$SRC" --dst "$DST" --map "Sent Items=Sent"

# kill -9 at random instants during a bigger push, several times; then a final push. The instants
# are fractions of a full push, measured into alice's account on a second server (dc2, maildir++).
seed append --folder Bulk --seed 60 --count 1200 --big 6 --big-size 100000:400000
mk -c "$cfg" sync alice
expect_rc 0 "sync of the bulk folder"
S1_CONF=$DOVECOT_CONF
dc_up --dir "$T/dc2" --layout maildir++
S2_PORT=$IMAP_PORT S2_IMAPS=$IMAPS_PORT S2_CA=$CA_FILE
# shellcheck disable=SC1091
. "$DC/env"
DOVECOT_CONF=$S1_CONF
probe=$T/probe.yaml
{
	echo "accounts:"
	acct_yaml alice
	acct_yaml probe user=alice port="$S2_IMAPS" ca_file="$S2_CA" password_file="$T/dc2/pass-alice"
} | cfg_write "$probe"
now_ms() { echo $(($(date +%s%N) / 1000000)); }
t0=$(now_ms)
mk -c "$probe" push alice probe
expect_rc 0 "probe push"
dur=$(($(now_ms) - t0))
t_log "a full push takes ${dur} ms"
[ $dur -ge 50 ] || dur=50
kills=0
fractions=(5 10 8 15 10 20 12 25)
for i in 0 1 2 3 4 5 6 7; do
	if [ $i -ge 4 ]; then
		# new work for the run that gets killed: new mail and flag changes
		seed append --folder Bulk --seed $((61 + i)) --count 150
		dadm flags add -u alice '\Answered' mailbox Bulk uid $((i * 7))
		mk -c "$cfg" sync alice
		expect_rc 0 "sync before kill $i"
	fi
	delay=$((dur * fractions[i] / 100 + RANDOM % (dur / 10 + 1)))
	"$MAILKEEP" -c "$cfg" push alice bob </dev/null >"$T/kill.$i.out" 2>&1 &
	pid=$!
	sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
	if kill -KILL "$pid" 2>/dev/null; then
		wait "$pid" 2>/dev/null
		[ $? -eq 137 ] && kills=$((kills + 1))
		t_log "kill $i after ${delay} ms: $(grep -c '^p ' "$A/.mailkeep/push/bob/Bulk/.push-state" 2>/dev/null) pending"
	else
		wait "$pid"
		rc=$?
		t_log "kill $i after ${delay} ms: the push had already ended with exit $rc"
		[ $rc -eq 0 ] || fail "push $i ended on its own with exit $rc: $(tail -n 1 "$T/kill.$i.out")"
	fi
	bob_idle # the killed push's session may still store an APPEND it had sent in full
	pc compare --src "$SRC" --dst "$DST" --map "Sent Items=Sent" --partial
done
check '[ $kills -ge 3 ]' "the push was killed mid-way only $kills times"
mk -c "$cfg" -v push alice bob
expect_rc 0 "final push after kills"
pc compare --src "$SRC" --dst "$DST" --map "Sent Items=Sent"
check '! grep -rq "^p " "$A/.mailkeep/push/bob"' "pending entries left after the final push"

# a lost push state (bulk lookup) and a damaged one: found, nothing appended twice
rm -rf "$A/.mailkeep/push/bob/Bulk"
echo garbage >"$A/.mailkeep/push/bob/INBOX/.push-state"
mk -c "$cfg" -v push alice bob
expect_rc 0 "push after losing the push state"
check 'grep -q "folder \"Bulk\" -> \"Bulk\": appended 0 (0 bytes), 1806 already there" "$MK_ERR"' \
	"the lost state was not rebuilt from the target: $(grep -m1 'folder "Bulk"' "$MK_ERR")"
check 'grep -q "INBOX/.push-state: .*looked up on the target" "$MK_ERR"' "the damaged state is not reported"
check 'grep -q "push alice -> bob: .* 0 messages appended" "$MK_ERR"' "messages appended again after losing the state"
pc compare --src "$SRC" --dst "$DST" --map "Sent Items=Sent"

# the second server, with '.' as hierarchy delimiter (maildir++), as the target of bob2
S2_PASS=$T/dc2/pass-bob
seed append --folder 'v1.2 notes' --seed 70 --count 2
mk -c "$cfg" sync alice
expect_rc 0 "sync with a dotted folder name"
cfg2=$T/config2.yaml
{
	echo "accounts:"
	acct_yaml alice
	acct_yaml bob2 user=bob port="$S2_IMAPS" ca_file="$S2_CA" password_file="$S2_PASS"
} | cfg_write "$cfg2"
DST2="$IMAP_HOST:$S2_PORT:bob:$S2_PASS"
mk -c "$cfg2" push alice bob2
expect_rc 1 "push into maildir++ with a '.' in a folder name"
check 'grep -q "v1.2 notes.*hierarchy delimiter" "$MK_ERR"' "the dotted folder is not reported: $(mk_err_line)"
{
	echo "accounts:"
	acct_yaml alice raw='push_map:' raw='  "v1.2 notes": "Notes/v1,2"' raw='  "R&D": "Forschung"'
	acct_yaml bob2 user=bob port="$S2_IMAPS" ca_file="$S2_CA" password_file="$S2_PASS"
} | cfg_write "$cfg2"
mk -c "$cfg2" -v push alice bob2
expect_rc 0 "push into maildir++ with push_map"
pc compare --src "$SRC" --dst "$DST2" --map "v1.2 notes=Notes/v1,2" --map "R&D=Forschung" --dst-extra "R&D"
check 'doveadm -c "$T/dc2/dovecot.conf" mailbox list -u bob | grep -qx "Archive.2024"' \
	"Archive/2024 is not Archive.2024 on the maildir++ server"
check 'doveadm -c "$T/dc2/dovecot.conf" mailbox list -u bob | grep -qx "日本語"' "日本語 missing on the maildir++ server"
mk -c "$cfg2" push alice bob2
expect_rc 0 "second push into maildir++"
pc compare --src "$SRC" --dst "$DST2" --map "v1.2 notes=Notes/v1,2" --map "R&D=Forschung" --dst-extra "R&D"

# usage and locks
mk -c "$cfg" push alice
expect_rc 2 "push with one account"
mk -c "$cfg" push alice nobody
expect_rc 2 "push to an unknown account"
mk -c "$cfg" push alice alice
expect_rc 2 "push to itself"
exec 9>"$A/.mailkeep/lock"
flock -n 9 || fail "could not take alice's lock for the test"
mk -c "$cfg" push alice bob
expect_rc 3 "push while the source is locked"
exec 9>&-
t_pass
