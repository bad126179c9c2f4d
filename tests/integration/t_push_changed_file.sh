#!/usr/bin/env bash
# A big message is read from its file again as its APPEND literal goes out (t_push_big): a file
# cut or grown in place between its scan and its send (the literal's size is on the wire already)
# closes the connection before the literal is complete: the target stores no cut or padded
# message, and mailkeep writes nothing more on that connection (its LOGOUT would have become the
# literal's last bytes). The folder fails; the next push sends the file as it then is, once.
# The target: push_fake.py without LITERAL+, holding the "+" of a big literal until the test has
# changed the file.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed append --folder INBOX --seed 3 --count 2
seed append --folder INBOX --seed 4 --count 0 --big 1 --big-size 3000000:3000000
pf=$(fake_pass)
push_fake_up fake --caps "UIDPLUS" --cont-wait "$T/go"
cfg=$T/config.yaml
{
	echo "accounts:"
	acct_yaml alice
	acct_yaml fake port="$PORT_fake" tls=none password_file="$pf"
} | cfg_write "$cfg"
A=$T/mail/alice
mk -c "$cfg" sync alice
expect_rc 0 "sync"
big=$(find "$A/INBOX/cur" -type f -size +2M | head -n 1)
[ -n "$big" ] || fail "no big message in the mirror"
cp -p "$big" "$T/big.orig"
fake_msgs() { push_fake_msgs fake | wc -l; }
fake_sha() { push_fake_msgs fake | tr '\n' ' '; }
crlf_sha() { python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read().replace(b"\n", b"\r\n")).hexdigest())' "$1"; }

for change in cut grow; do
	rm -f "$T/go"
	: >"$T/fake.log"
	"$MAILKEEP" -c "$cfg" push alice fake </dev/null >"$T/push.out" 2>"$T/push.err" &
	pid=$!
	k=0
	while ! grep -q "waiting for $T/go" "$T/fake.log" && [ $k -lt 600 ]; do sleep 0.05; k=$((k + 1)); done
	check 'grep -q "waiting for" "$T/fake.log"' "($change) the push never reached the big APPEND"
	if [ "$change" = cut ]; then
		truncate -s -1000 "$big"
	else
		printf 'more bytes\n' >>"$big"
	fi
	touch "$T/go"
	wait "$pid"
	rc=$?
	check '[ "$rc" -ne 0 ]' "($change) the push exited 0 though its message changed as it was sent"
	check 'grep -q "the message changed while it was sent" "$T/push.err"' \
		"($change) not reported: $(grep -m1 -i 'error' "$T/push.err")"
	log_wait "the client closed the connection after" "$T/fake.log"
	check 'grep -q "the client closed the connection after" "$T/fake.log"' \
		"($change) the connection was not closed within the literal: $(tail -n 3 "$T/fake.log" | tr '\n' ' ')"
	check '! grep -q VIOLATION "$T/fake.log"' "($change) $(grep -m1 VIOLATION "$T/fake.log")"
	check '! grep -q "$(crlf_sha "$big")" <<<"$(fake_sha)"' "($change) the changed message was stored"
	check '[ "$(fake_msgs)" -le 2 ]' "($change) the target holds $(fake_msgs) messages"
	cp -p "$T/big.orig" "$big"
done

# the file as it was: the next push sends it, once, byte for byte
touch "$T/go"
mk -c "$cfg" push alice fake
expect_rc 0 "push of the restored file"
check '[ "$(fake_msgs)" -eq 3 ]' "the target holds $(fake_msgs) messages, not 3"
check 'grep -q "$(crlf_sha "$big")" <<<"$(fake_sha)"' "the big message is not there byte for byte"
mk -c "$cfg" push alice fake
expect_rc 0 "a second push"
check '[ "$(fake_msgs)" -eq 3 ]' "the second push changed the count: $(fake_msgs)"
t_pass
