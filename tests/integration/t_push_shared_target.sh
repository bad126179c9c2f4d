#!/usr/bin/env bash
# Two mirror folders pushed into one target folder ("Sent" and "Sent Items" -> Sent), the same
# message in both: push --delete after it left one of them must not delete the target's copy,
# which the other folder's push state also holds (before, it was deleted: the mirror still had
# the message, the target not, for good).
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
python3 - "$DC/env" <<'PY' >>"$T/seed.log" 2>&1 || fail "append failed"
import dcimap
c = dcimap.login()
same = b"From: x@example.test\r\nMessage-ID: <same@x>\r\nSubject: sent\r\n\r\nthe same text\r\n"
for f in ("Sent", "Sent Items"):
    c.create('"%s"' % f)
    typ, data = c.append('"%s"' % f, "(\\Seen)", '"01-Mar-2024 10:00:00 +0000"', same)
    assert typ == "OK", data
    typ, data = c.append('"%s"' % f, "(\\Seen)", '"01-Mar-2024 10:00:00 +0000"', b"From: y@x\r\nSubject: other " + f.encode() + b"\r\n\r\nb\r\n")
c.logout()
PY
cfg=$T/config.yaml
cfg_alice_bob "$cfg"
A=$T/mail/alice
bob_sent() { doveadm -c "$DOVECOT_CONF" search -u bob mailbox Sent all 2>/dev/null | wc -l; }
mk -c "$cfg" sync alice
expect_rc 0 "sync"
mk -c "$cfg" -v push alice bob
expect_rc 0 "push"
same() { doveadm -c "$DOVECOT_CONF" search -u bob mailbox Sent header message-id same@x 2>/dev/null | wc -l; }
check '[ "$(same)" -ge 1 ]' "the shared message is not on the target after the first push"
dadm expunge -u alice mailbox Sent uid 1
mk -c "$cfg" sync alice
expect_rc 0 "sync 2"
mk -c "$cfg" -v push alice bob --delete
expect_rc 0 "push --delete"
check '[ "$(same)" -ge 1 ]' "push --delete removed the message that Sent Items still has: bob Sent holds $(bob_sent)"
check 'doveadm -c "$DOVECOT_CONF" search -u bob mailbox Sent header subject "other Sent" | grep -q .' \
	"the other messages of Sent are gone"
t_pass
