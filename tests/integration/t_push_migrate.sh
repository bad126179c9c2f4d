#!/usr/bin/env bash
# mailkeep push as a migration between providers meets it (t_push.sh covers the basics):
#  - a '/' server (LAYOUT=fs) pushed to a '.' server with the personal namespace "INBOX." (Courier
#    style), whose folder list already has "INBOX.Zed.Sub" (so "INBOX.Zed" is \Noselect) when
#    the source has a folder Zed; a name holding '.' (push_map), non-ASCII names, INBOX/Sub, a
#    folder named like a parent of another, messages with one Message-ID and two bodies, without
#    Message-ID, keywords, a message > 10 MB; --dry-run after a push plans nothing;
#  - the reverse: a '.' server pushed to a '/' one, the source's "INBOX." prefix taken off;
#  - kill -9 at random instants in a push of a few hundred messages, then a rerun: each message
#    exactly once, flags and dates right; then flag changes, expunges and new mail, with and
#    without --delete; a second target from the same mirror;
#  - 5000 messages: pipelined/batched APPENDs (round trips from the -v summary);
#  - push_fake.py targets: no UIDPLUS/LITERAL+/MULTIAPPEND (synchronizing literals, UIDs learnt by
#    SEARCH), PERMANENTFLAGS without \* (keywords reported, those listed kept), NO [LIMIT],
#    a connection dropped in the middle of an APPEND literal (rerun: no duplicate).
. "$(dirname "$0")/lib.sh"
t_begin

# ---- the old provider: '/' delimiter
dc_up
S1=$DC S1_CONF=$DOVECOT_CONF
seed populate --seed 31 --count 5 --big 1 --folders "INBOX,Archive,Archive/2024,日本語,R&D"
python3 "$LIB_DIR/migrate_seed.py" "$DC/env" --dotted --big-mb 11 >>"$T/seed.log" 2>&1 ||
	fail "migrate_seed.py failed: $(tail -n 1 "$T/seed.log")"
seed append --folder Zed --seed 32 --count 2
seed append --folder INBOX/Sub --seed 33 --count 2
seed append --folder Bulk --seed 34 --count 300
SRC="127.0.0.1:$IMAP_PORT:alice:$S1/pass-alice"

# ---- the new provider: '.' delimiter, personal namespace "INBOX." (set in its configuration)
dc_up --dir "$T/dc2" --layout maildir++
S2=$T/dc2 S2_CONF=$DOVECOT_CONF S2_PORT=$IMAP_PORT S2_IMAPS=$IMAPS_PORT S2_CA=$CA_FILE
sed -i 's/^  prefix = *$/  prefix = INBOX./' "$S2_CONF" # "prefix = " since the fixture took --prefix
doveadm -c "$S2_CONF" reload >>"$T/doveadm.log" 2>&1 || fail "doveadm reload failed"
sleep 0.5
doveadm -c "$S2_CONF" mailbox create -u bob INBOX.Zed.Sub >>"$T/doveadm.log" 2>&1 ||
	fail "could not create INBOX.Zed.Sub on the target"
# shellcheck disable=SC1091
. "$S1/env"
DST2="127.0.0.1:$S2_PORT:bob:$S2/pass-bob"
# push_check.py names the target's folders with '/' between levels: "INBOX/Archive"
PFX_MAP=()
for f in Archive 日本語 R\&D Zed Parent Café Big Bulk; do PFX_MAP+=(--map "$f=INBOX/$f"); done
PFX_MAP+=(--map "a.b=INBOX/a,b" --map "INBOX/Sub=INBOX/Sub")

cfg=$T/config.yaml
{
	echo "accounts:"
	acct_yaml alice raw='push_map:' raw='  "a.b": "a,b"'
	acct_yaml new user=bob port="$S2_IMAPS" ca_file="$S2_CA" password_file="$S2/pass-bob"
	acct_yaml bob user=bob password_file="$S1/pass-bob"
} | cfg_write "$cfg"
A=$T/mail/alice

summary() { grep -m1 "push alice -> $1.*[0-9]* folders" "$MK_ERR"; }

mk -c "$cfg" sync alice
expect_rc 0 "sync of the old account"
exact "$A"

# ---- '/' -> '.' with the INBOX. namespace
mk -c "$cfg" -v push alice new
expect_rc 0 "push into the INBOX. namespace (a \\Noselect INBOX.Zed, fixed by 03-noselect-target-parent)"
pc compare --src "$SRC" --dst "$DST2" "${PFX_MAP[@]}"
check 'doveadm -c "$S2_CONF" mailbox list -u bob | grep -qx "INBOX.Café.Ünïcødé"' "Café/Ünïcødé is not INBOX.Café.Ünïcødé"
check 'doveadm -c "$S2_CONF" mailbox list -u bob | grep -qx "INBOX.Sub"' "INBOX/Sub is not INBOX.Sub"
check 'doveadm -c "$S2_CONF" mailbox list -u bob -s | grep -qx "INBOX.Zed"' "INBOX.Zed not subscribed"
# the 11 MB message, byte for byte (push_check compares SHA-256 of BODY[]), and its date
check 'doveadm -c "$S2_CONF" fetch -u bob "size.physical date.received" mailbox INBOX.Big all | grep -q "date.received: 2021-09-09"' \
	"the big message lost its INTERNALDATE"
# a dry run now has nothing to do: no flag update invented from EXAMINE's empty PERMANENTFLAGS
mk -c "$cfg" -v push alice new --dry-run
expect_rc 0 "dry run after the push"
check 'grep -q "0 messages to append (0 bytes), 0 already there, 0 flag updates" "$MK_ERR"' \
	"the dry run plans work a real run does not do (02-dry-run-keywords): $(summary new)"
mk -c "$cfg" -v push alice new
expect_rc 0 "second push"
check 'grep -q "0 messages appended (0 bytes), 0 already there, 0 flag updates, 0 deleted" "$MK_ERR"' \
	"second push did something: $(summary new)"
rt=$(summary new | sed -n 's/.* \([0-9]*\) round trips.*/\1/p')
t_log "a push with nothing to do: $rt round trips for $(find "$A" -name cur -type d | wc -l) folders"

# ---- kill -9 at random instants while 300 + 150 messages go to a fresh folder of the target
doveadm -c "$S2_CONF" mailbox delete -u bob INBOX.Bulk >>"$T/doveadm.log" 2>&1 || fail "could not delete INBOX.Bulk"
seed append --folder Bulk --seed 35 --count 150
dadm expunge -u alice mailbox Bulk uid 21:25
mk -c "$cfg" sync alice
expect_rc 0 "sync before the kills"
kills=0
for i in 1 2 3 4 5 6; do
	"$MAILKEEP" -c "$cfg" push alice new </dev/null >"$T/kill.$i.out" 2>&1 &
	pid=$!
	sleep "0.$((RANDOM % 4))$((RANDOM % 10))"
	if kill -KILL "$pid" 2>/dev/null; then
		wait "$pid" 2>/dev/null
		kills=$((kills + 1))
	else
		wait "$pid" || fail "push $i ended with exit $?: $(tail -n 1 "$T/kill.$i.out")"
	fi
	DOVECOT_CONF=$S2_CONF bob_idle # the killed push's session may still store an APPEND sent in full
	pc compare --src "$SRC" --dst "$DST2" "${PFX_MAP[@]}" --partial
	if [ $i = 3 ]; then # the mirror changes between two interrupted pushes
		dadm flags add -u alice '\Flagged $Label1' mailbox Bulk uid 1:20
		dadm flags remove -u alice '\Seen' mailbox Bulk uid 26:60
		seed append --folder Bulk --seed 36 --count 20
		mk -c "$cfg" sync alice
		expect_rc 0 "sync between the kills"
	fi
done
t_log "$kills of 6 pushes killed"
mk -c "$cfg" -v push alice new
expect_rc 0 "push after the kills"
pc compare --src "$SRC" --dst "$DST2" "${PFX_MAP[@]}"
check '! grep -rq "^p " "$A/.mailkeep/push/new"' "pending entries left after the final push"
# expunged on the source after they were pushed: kept on the target without --delete
dadm expunge -u alice mailbox Bulk uid 30:34
mk -c "$cfg" sync alice
pc dump --dst "$DST2" "$T/new1.json"
mk -c "$cfg" -v push alice new
expect_rc 0 "push without --delete"
pc since --dst "$DST2" "$T/new1.json"
mk -c "$cfg" -v push alice new --delete
expect_rc 0 "push --delete"
check 'grep -q " 5 deleted" "$MK_ERR"' "push --delete: $(summary new)"
pc since --dst "$DST2" "$T/new1.json" --gone 5
pc compare --src "$SRC" --dst "$DST2" "${PFX_MAP[@]}"

# ---- 5000 messages: written into the old server's Maildir directly (APPENDing them takes minutes)
mkdir -p "$S1/mail/alice/Huge/cur" "$S1/mail/alice/Huge/new" "$S1/mail/alice/Huge/tmp"
python3 - "$S1/mail/alice/Huge/cur" <<'PY' || fail "could not write the 5000 messages"
import os, sys
d = sys.argv[1]
for i in range(5000):
    body = f"From: bulk{i % 97}@example.test\nTo: alice@example.test\nSubject: huge {i}\nMessage-ID: <huge.{i}@example.test>\nDate: Tue, 5 Mar 2024 10:00:00 +0000\n\n" + ("line of text %d\n" % i) * (5 + i % 40)
    p = os.path.join(d, f"{1600000000 + i}.M{i}P1.mkit:2,{'S' if i % 3 else ''}")
    with open(p, "w") as f:
        f.write(body)
    os.utime(p, (1600000000 + i * 60, 1600000000 + i * 60))
PY
chown -R "$(stat -c %u:%g "$S1/mail/alice")" "$S1/mail/alice/Huge"
mk -c "$cfg" sync alice
expect_rc 0 "sync of 5000 messages"
t0=${EPOCHREALTIME/./}
mk -c "$cfg" -v push alice new
expect_rc 0 "push of 5000 messages"
ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
rt=$(summary new | sed -n 's/.* \([0-9]*\) round trips.*/\1/p')
t_log "5000 messages pushed in $ms ms, $rt round trips: $(summary new)"
check 'grep -q "5000 messages appended" "$MK_ERR"' "not 5000 appended: $(summary new)"
check '[ "$rt" -lt 300 ]' "5000 messages took $rt round trips (one per message?)"
pc compare --src "$SRC" --dst "$DST2" "${PFX_MAP[@]}" --map "Huge=INBOX/Huge"

# ---- a second target from the same mirror: bob on the old server (the reverse direction below)
mk -c "$cfg" push alice bob
expect_rc 0 "push to a second target"
pc compare --src "$SRC" --dst "127.0.0.1:$IMAP_PORT:bob:$S1/pass-bob" --map "a.b=a,b"
check '[ -e "$A/.mailkeep/push/new/INBOX/.push-state" ] && [ -e "$A/.mailkeep/push/bob/INBOX/.push-state" ]' \
	"the two targets do not have push states of their own"

# ---- the reverse: the new provider's mirror ('.', namespace INBOX.) pushed to a third, '/' server
S1_ENV=$S1/env
dc_up --dir "$T/dc3"
S3=$T/dc3 S3_CONF=$DOVECOT_CONF S3_PORT=$IMAP_PORT S3_IMAPS=$IMAPS_PORT S3_CA=$CA_FILE
# shellcheck disable=SC1091
. "$S1_ENV"
cfg2=$T/config2.yaml
{
	echo "accounts:"
	acct_yaml newbob user=bob port="$S2_IMAPS" ca_file="$S2_CA" password_file="$S2/pass-bob" \
		raw='folders:' raw='  exclude: ["INBOX/Huge", "INBOX/Bulk", "INBOX/Big"]'
	acct_yaml third port="$S3_IMAPS" ca_file="$S3_CA" password_file="$S3/pass-alice"
} | cfg_write "$cfg2"
mk -c "$cfg2" sync newbob
expect_rc 0 "sync of the '.' account"
mk -c "$cfg2" -v push newbob third
expect_rc 0 "push from '.' to '/'"
pc compare --src "$DST2" --dst "127.0.0.1:$S3_PORT:alice:$S3/pass-alice" --exclude INBOX/Huge --exclude INBOX/Bulk \
	--exclude INBOX/Big --strip INBOX
# the source's namespace prefix (recorded by sync) is taken off, as imapsync does: INBOX.Archive.2024
# becomes Archive/2024; INBOX stays INBOX
check 'grep -qx "prefix INBOX" "$T/mail/newbob/.mailkeep/namespace"' "sync did not record the INBOX. namespace"
check 'doveadm -c "$S3_CONF" mailbox list -u alice | grep -qx "Archive/2024"' "INBOX.Archive.2024 is not Archive/2024"
check '! doveadm -c "$S3_CONF" mailbox list -u alice | grep -q "^INBOX/"' "a folder kept the source's INBOX. prefix"

# ---- push_fake.py targets
pf=$(fake_pass)
# a small mirror for them: everything but Bulk, Huge and Big
push_fake_up plain --caps ""
push_fake_up kwless --caps "UIDPLUS LITERAL+ MULTIAPPEND" --permflags '(\Answered \Flagged \Deleted \Seen \Draft $Forwarded $Junk)'
push_fake_up limit --caps "UIDPLUS LITERAL+ MULTIAPPEND" --limit 6000
push_fake_up drop --caps "UIDPLUS LITERAL+" --drop-append 6
push_fake_up dropsync --caps "NAMESPACE" --ns-prefix "INBOX." --drop-append 4
push_fake_up trycreate --caps "UIDPLUS LITERAL+ MULTIAPPEND" --trycreate-once
push_fake_up early --caps "UIDPLUS" --cont-first
push_fake_up flood --caps "" --search-flood 300000
cfg3=$T/config3.yaml
{
	echo "accounts:"
	acct_yaml alice raw='folders:' raw='  exclude: ["Bulk", "Huge", "Big"]' raw='push_map:' raw='  "a.b": "a,b"'
	for n in plain kwless limit drop dropsync trycreate early flood; do
		p=PORT_$n
		acct_yaml "$n" port="${!p}" tls=none password_file="$pf"
	done
} | cfg_write "$cfg3"
FMAP=(--map "a.b=a,b" --exclude Bulk --exclude Huge --exclude Big)
rm -rf "$A/Bulk" "$A/Huge" "$A/Big" # what the exclude would have kept out of a mirror made with it

# no UIDPLUS, no LITERAL+, no MULTIAPPEND: synchronizing literals, target UIDs learnt by SEARCH
mk -c "$cfg3" -v push alice plain
expect_rc 0 "push without UIDPLUS/LITERAL+"
mc --state "$T/plain.json" "${FMAP[@]}"
# each synchronizing literal costs one round trip (its "+"), not two: the earlier APPENDs'
# answers are read while it waits
rt=$(summary plain | sed -n 's/.* \([0-9]*\) round trips.*/\1/p')
nm=$(summary plain | sed -n 's/.* \([0-9]*\) messages appended.*/\1/p')
t_log "without LITERAL+: $nm messages appended in $rt round trips: $(summary plain)"
nf=$(summary plain | sed -n 's/.* -> plain: \([0-9]*\) folders.*/\1/p')
check '[ -n "$rt" ] && [ "$rt" -le $((nm + 7 * nf)) ]' \
	"without LITERAL+, $nm messages in $nf folders took $rt round trips (two per message?)"
# a server that reads ahead sends the next APPEND's "+" before the previous APPEND's OK
mk -c "$cfg3" -v push alice early
expect_rc 0 "push to a server that sends a continuation before the previous OK"
mc --state "$T/early.json" "${FMAP[@]}"
check 'grep -q "continuation sent before the previous APPEND" "$T/early.log"' \
	"the early continuation was never exercised"
mk -c "$cfg3" -v push alice plain
expect_rc 0 "second push without UIDPLUS"
check 'grep -q "0 messages appended (0 bytes), 0 already there, 0 flag updates" "$MK_ERR"' \
	"second push without UIDPLUS did something: $(summary plain)"
# flag changes reach it too (UIDs learnt by SEARCH are used for STORE)
dadm flags add -u alice '\Answered' mailbox INBOX all
mk -c "$cfg3" sync alice
mk -c "$cfg3" -v push alice plain
expect_rc 0 "push of flag changes without UIDPLUS"
mc --state "$T/plain.json" "${FMAP[@]}"

# a target whose SEARCH answers name UIDs without end: each folder fails, named (the connection
# is dropped, at most 3 reconnects); messages appended before that make it partial: exit 1
# (4 is for nothing pushed at all); memory does not follow the server
mk -c "$cfg3" -v push alice flood
expect_rc 1 "push to a server flooding SEARCH answers"
check 'grep -q "SEARCH response with more UIDs than the mailbox holds" "$MK_ERR"' \
	"the SEARCH flood is not reported: $(mk_err_line)"

# PERMANENTFLAGS without \*: the keywords it lists are kept, the others reported by name
mk -c "$cfg3" -v push alice kwless
expect_rc 0 "push into a folder without \\*"
check 'grep -q "folder \"INBOX\": .*keywords.*Custom1" "$MK_ERR"' \
	"keywords dropped without a word (01-keywords-permanentflags): $(mk_err_line)"
check 'grep -q "folder \"Café/Ünïcødé\": .*keywords Custom1$" "$MK_ERR"' \
	"\$Junk, listed in PERMANENTFLAGS, is reported dropped: $(grep -m1 Café "$MK_ERR")"
mc --state "$T/kwless.json" "${FMAP[@]}" --keywords-only '$Junk'
mk -c "$cfg3" -v push alice kwless
expect_rc 0 "second push into a folder without \\*"
check 'grep -q "0 messages appended (0 bytes), 0 already there, 0 flag updates" "$MK_ERR"' \
	"second push without \\* did something: $(summary kwless)"

# NO [LIMIT] for messages over 6000 bytes: each named, the others pushed, exit 1, and again
for k in 1 2; do
	mk -c "$cfg3" push alice limit
	expect_rc 1 "push $k with messages over the target's limit"
	check 'grep -q "folder \"INBOX\": message UID [0-9]* refused by the target: \[LIMIT\]" "$MK_ERR"' \
		"the refused message is not named: $(mk_err_line)"
	mc --state "$T/limit.json" "${FMAP[@]}" --larger-missing 6000
done

# the connection dropped in the middle of an APPEND literal (LITERAL+ and synchronizing): exit 1,
# then a rerun completes the copy without a duplicate
# (dropsync: a NAMESPACE "INBOX." target without UIDPLUS and LITERAL+)
DSMAP=(--exclude Bulk --exclude Huge --exclude Big --map "a.b=INBOX/a,b")
for f in Archive Archive/2024 日本語 R\&D Zed Parent Parent/Child Café/Ünïcødé; do DSMAP+=(--map "$f=INBOX/$f"); done
for n in drop dropsync; do
	m=FMAP
	[ $n = dropsync ] && m=DSMAP
	m="$m[@]"
	mk -c "$cfg3" push alice $n
	expect_rc 1 "push $n with the connection dropped mid-literal"
	check 'grep -q "connection closed" "$MK_ERR"' "$n: the dropped connection is not reported: $(mk_err_line)"
	mc --state "$T/$n.json" "${!m}" --partial
	mk -c "$cfg3" push alice $n
	expect_rc 0 "push $n after the dropped connection"
	mc --state "$T/$n.json" "${!m}"
done

# a folder deleted on the target during the push (APPEND answers NO [TRYCREATE]): that folder
# stops, said once; the next push creates it again and completes the copy
mk -c "$cfg3" push alice trycreate
expect_rc 1 "push with a folder deleted on the target"
check 'grep -qE "no longer exists on the target|refused by the target: \[TRYCREATE\]" "$MK_ERR"' \
	"the deleted target folder is not reported: $(mk_err_line)"
check '[ "$(grep -c "refused by the target" "$MK_ERR")" -le 1 ]' \
	"each message of the deleted folder has its own error line: $(grep -c "refused by the target" "$MK_ERR")"
mk -c "$cfg3" push alice trycreate
expect_rc 0 "push after the target folder was deleted"
mc --state "$T/trycreate.json" "${FMAP[@]}"

# a sync holds the account lock: the push waits for nobody and says so
exec 9>"$A/.mailkeep/lock"
flock -n 9 || fail "could not take alice's lock"
mk -c "$cfg3" push alice plain
expect_rc 3 "push while a sync holds the lock"
exec 9>&-
t_pass
