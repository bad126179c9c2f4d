#!/usr/bin/env bash
# Two configuration files (other account names, other roots, the user spelt "bob" and "Bob", the
# server reached directly and through a relay) that push one mirror's mail into one target user:
# their <root>/TARGET/.mailkeep/push.lock files differ, so before, both pushes ran at once, each
# appending what the other's lookup had not seen: duplicates. Now every push also takes
# $HOME/.local/state/mailkeep/push-<sha256 of the lowercased user>.lock:
#  - held by flock(1): both pushes exit 3, naming the target account and that file, nothing appended
#  - held by a real push (paused by the relay before the server's greeting): the other one exits 3
#    and appends nothing; the first completes, the second then finds every message there: the
#    target holds each message once
#  - the lock's directory 0700, its file 0600; a directory of another user refused (exit 4); a home
#    where it cannot be made: a warning, and the push runs on push.lock alone
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 24 --count 5 --big 1
SRC="$IMAP_HOST:$IMAP_PORT:alice:$DC/pass-alice"
DST="$IMAP_HOST:$IMAP_PORT:bob:$DC/pass-bob"
LK_DIR=$HOME/.local/state/mailkeep
LK=$LK_DIR/push-$(printf %s bob | sha256sum | cut -d' ' -f1).lock
bob_count() { doveadm -c "$DOVECOT_CONF" search -u bob all 2>/dev/null | wc -l; }

# a relay in front of the IMAPS port that holds the server's bytes back while $PAUSE exists
PAUSE=$T/pause
bg_start python3 "$LIB_DIR/pause_proxy.py" "$T/proxy.port" "$IMAPS_PORT" "$PAUSE" 240
wait_for '[ -s "$T/proxy.port" ]' 10 || fail "pause_proxy.py did not start"
PPORT=$(cat "$T/proxy.port")

one=$T/one.yaml two=$T/two.yaml
{
	echo "accounts:"
	acct_yaml alice root="$T/mail-one"
	acct_yaml bob root="$T/mail-one" user=bob password_file="$DC/pass-bob" port="$PPORT"
} | cfg_write "$one"
{
	echo "accounts:"
	acct_yaml mine root="$T/mail-two"
	acct_yaml backup root="$T/mail-two" user=Bob password_file="$DC/pass-bob"
} | cfg_write "$two"
mk -c "$one" sync alice
expect_rc 0 "sync alice (one.yaml)"
mk -c "$two" sync mine
expect_rc 0 "sync mine (two.yaml)"
N=$(doveadm -c "$DOVECOT_CONF" search -u alice all 2>/dev/null | wc -l)
check '[ "$N" -gt 5 ]' "the source holds $N messages"

# 1. the user's lock held by flock(1)
mkdir -p -m 700 "$LK_DIR"
exec 9>"$LK"
flock -n 9 || fail "flock of $LK"
mk -c "$two" push mine backup
expect_rc 3 "push (two.yaml) with the user's lock held by flock"
check 'grep -q "account backup .*another mailkeep run holds $LK" "$MK_ERR"' \
	"the message does not name the target account and $LK: $(mk_err_line)"
mk -c "$one" push alice bob
expect_rc 3 "push (one.yaml) with the user's lock held by flock"
check '[ "$(bob_count)" -eq 0 ]' "a push with the user's lock held appended $(bob_count) messages"
exec 9>&-

# 2. held by a push paused before the server's greeting
touch "$PAUSE"
"$MAILKEEP" -c "$one" push alice bob </dev/null >"$T/p1.out" 2>"$T/p1.err" &
p1=$!
_BG_PIDS+=("$p1")
# held: /proc/locks has an flock of its inode (flock(1) as a probe would take it, racing the push)
ino=$(stat -c %i "$LK")
wait_for 'grep -Eq "FLOCK +ADVISORY +WRITE +$p1 +[0-9a-f]+:[0-9a-f]+:$ino " /proc/locks' 10 ||
	fail "the paused push (one.yaml) does not hold $LK: $(cat "$T/p1.err")"
mk -c "$two" push mine backup
expect_rc 3 "push (two.yaml) while a push (one.yaml) into the same user runs"
check 'grep -q "another mailkeep run holds $LK" "$MK_ERR"' "the message does not name $LK: $(mk_err_line)"
check '[ "$(bob_count)" -eq 0 ]' "the refused push appended $(bob_count) messages"
rm -f "$PAUSE"
wait "$p1"
rc1=$?
check '[ $rc1 -eq 0 ]' "the first push exited $rc1: $(tail -n 1 "$T/p1.err")"
check '[ "$(bob_count)" -eq "$N" ]' "after the first push bob holds $(bob_count) messages, not $N"
mk -c "$two" -v push mine backup
expect_rc 0 "push (two.yaml) after the first one ended"
check 'grep -q "push mine -> backup: .* 0 messages appended (0 bytes), $N already there" "$MK_ERR"' \
	"the second push appended: $(grep 'push mine' "$MK_ERR")"
pc compare --src "$SRC" --dst "$DST"

# 3. private; a directory of another user refused; one that cannot be made: push.lock alone
check '[ "$(stat -c %a "$LK_DIR")" = 700 ] && [ "$(stat -c %a "$LK")" = 600 ]' \
	"lock directory $(stat -c %a "$LK_DIR"), lock file $(stat -c %a "$LK") (expected 700, 600)"
chmod 755 "$LK_DIR"
mk -c "$one" push alice bob
expect_rc 0 "push with the lock directory 0755"
check '[ "$(stat -c %a "$LK_DIR")" = 700 ]' "the lock directory stayed $(stat -c %a "$LK_DIR")"
if [ "$(id -u)" -eq 0 ]; then # chown needs root
	chown 4242 "$LK_DIR"
	mk -c "$one" push alice bob
	expect_rc 4 "push with the lock directory of uid 4242"
	check 'grep -q "$LK_DIR belongs to (uid 4242)" "$MK_ERR"' "not refused as another user's: $(mk_err_line)"
	chown 0 "$LK_DIR"
	# root given another user's HOME (sudo -E) where the lock directory is not made yet: refused
	# before anything is made there; it made ~/.local/state/mailkeep root's and 0700, which then
	# refused every push of that user (exit 4)
	OH=$T/other-home
	mkdir -m 755 "$OH" && chown 4242 "$OH"
	HOME=$OH mk -c "$one" push alice bob
	expect_rc 4 "push as root with the HOME of uid 4242"
	check '[ ! -e "$OH/.local" ]' "root made $(find "$OH" -printf '%u %m %p\n' | tail -n 1) in the home of uid 4242"
	check 'grep -q "$OH belongs to (uid 4242), not root" "$MK_ERR"' "not refused as another user's home: $(mk_err_line)"
fi
HOME=/proc/self mk -c "$two" push mine backup
expect_rc 0 "push with a home where the lock directory cannot be made"
check 'grep -q "warning: account backup: the lock of pushes into user \"Bob\" cannot be kept" "$MK_ERR"' \
	"no warning for the lock not kept: $(mk_err_line)"
pc compare --src "$SRC" --dst "$DST"
t_pass
