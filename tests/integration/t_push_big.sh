#!/usr/bin/env bash
# mailkeep push of big messages: a message is read from its file as its APPEND literal goes out,
# never held whole in memory (a 40 MB message took ~100 MB: the file, then its CRLF form). The
# target gets every message byte for byte with its flags and date; the peak RSS of the push stays
# far below the message's size, with MULTIAPPEND (Dovecot) and with single APPENDs behind
# synchronizing literals (a server without LITERAL+: the wait for "+" then the file read); kill -9
# while the big literal is on the wire, then a push again: the message in doubt is looked up by
# its key (read from the file, not from memory) and is there once.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed append --folder INBOX --seed 7 --count 4
seed append --folder INBOX --seed 8 --count 2 --big 2 --big-size 40000000:42000000
seed append --folder Archive --seed 9 --count 1 --big 1 --big-size 20000000:20000000
cfg=$T/config.yaml
cfg_alice_bob "$cfg"
A=$T/mail/alice
SRC="$IMAP_HOST:$IMAP_PORT:alice:$DC/pass-alice"
DST="$IMAP_HOST:$IMAP_PORT:bob:$DC/pass-bob"
bob_count() { doveadm -c "$DOVECOT_CONF" search -u bob all 2>/dev/null | wc -l; }
alice_count() { doveadm -c "$DOVECOT_CONF" search -u alice all 2>/dev/null | wc -l; }
SAN=0
ldd "$MAILKEEP" 2>/dev/null | grep -q libasan && SAN=1
# push_rss ARGS...: mailkeep ARGS under /usr/bin/time; its peak RSS (KiB) in $RSS
push_rss() {
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f '%M' -o "$T/rss" "$MAILKEEP" "$@" </dev/null >"$T/out" 2>"$T/err"
		MK_RC=$?
		RSS=$(tail -n 1 "$T/rss")
	else
		"$MAILKEEP" "$@" </dev/null >"$T/out" 2>"$T/err"
		MK_RC=$?
		RSS=0
	fi
	MK_ERR=$T/err MK_OUT=$T/out
}

mk -c "$cfg" sync alice
expect_rc 0 "sync of alice"
exact "$A"
big=$(find "$A/INBOX/cur" -type f -size +39M | head -n 1)
check '[ -n "$big" ]' "no 40 MB message in the mirror"

# 1. MULTIAPPEND with LITERAL+ (Dovecot): every message there, memory far below 40 MB
push_rss -c "$cfg" -v push alice bob
expect_rc 0 "first push"
pc compare --src "$SRC" --dst "$DST"
check '[ "$(bob_count)" -eq "$(alice_count)" ]' "bob has $(bob_count) messages, alice $(alice_count)"
t_log "push of 2 x 40 MB + 20 MB: peak RSS $RSS KiB"
if [ "$SAN" -eq 0 ] && [ "$RSS" -gt 0 ]; then
	check '[ "$RSS" -lt 24576 ]' "push of 40 MB messages took $RSS KiB (the message was held in memory)"
fi

# 2. a push into a server without LITERAL+ (synchronizing literals, one APPEND at a time) and
# without MULTIAPPEND: the same bytes, the same bound
S1_CONF=$DOVECOT_CONF
dc_up --dir "$T/dc2" --imap4rev1
S2_PORT=$IMAP_PORT S2_IMAPS=$IMAPS_PORT S2_CA=$CA_FILE
# shellcheck disable=SC1091
. "$DC/env"
DOVECOT_CONF=$S1_CONF
probe=$T/probe.yaml
{
	echo "accounts:"
	acct_yaml alice
	acct_yaml plain user=bob port="$S2_IMAPS" ca_file="$S2_CA" password_file="$T/dc2/pass-bob"
} | cfg_write "$probe"
push_rss -c "$probe" push alice plain
expect_rc 0 "push into an IMAP4rev1-only server"
pc compare --src "$SRC" --dst "$IMAP_HOST:$S2_PORT:bob:$T/dc2/pass-bob"
t_log "push without LITERAL+: peak RSS $RSS KiB"
if [ "$SAN" -eq 0 ] && [ "$RSS" -gt 0 ]; then
	check '[ "$RSS" -lt 24576 ]' "push without LITERAL+ took $RSS KiB"
fi

# 3. kill -9 while a big message's APPEND is on its way (its entry is in doubt in the push
# state), then a push again: there once, byte for byte
seed append --folder INBOX --seed 10 --count 1 --big 1 --big-size 45000000:45000000
mk -c "$cfg" sync alice
expect_rc 0 "sync of the new big message"
state=$A/.mailkeep/push/bob/INBOX/.push-state
before=$(bob_count)
"$MAILKEEP" -c "$cfg" push alice bob </dev/null >"$T/kill.out" 2>&1 &
pid=$!
for _ in $(seq 1 2000); do
	grep -q '^p ' "$state" 2>/dev/null && break
	sleep 0.005
done
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
bob_idle # the killed push's session may still store the APPEND if it was sent in full
t_log "killed with $(($(bob_count) - before)) of 1 message appended; state in doubt: $(grep -c '^p ' "$state")"
mk -c "$cfg" push alice bob
expect_rc 0 "push after kill -9"
pc compare --src "$SRC" --dst "$DST"
check '[ "$(bob_count)" -eq "$(alice_count)" ]' "bob has $(bob_count) messages after the kill and a push, alice $(alice_count)"
check '! grep -q "^p " "$state"' "an entry left in doubt"
t_pass
