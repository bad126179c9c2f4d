#!/usr/bin/env bash
# Two mirror folders whose names differ only in case ("Work" and "work", two folders on the
# source's Dovecot) pushed to a target that compares folder names without regard to case
# (Exchange, Gmail; push_fake.py --fold-case): both go into its one folder "Work", as "Sent" and
# "Sent Items" go into one "Sent" (t_push_shared_target.sh). A message in both is stored there
# once. push --delete after it left "work" must not delete that copy, which "Work"'s push state
# also holds: before, the push states were compared by the name mailkeep asked for ("work" is
# not "Work"), the copy was deleted, and "Work"'s message was missing on the target for good.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
python3 - "$DC/env" <<'PY' >>"$T/seed.log" 2>&1 || fail "append failed"
import dcimap
c = dcimap.login()
same = b"From: x@example.test\r\nMessage-ID: <same@x>\r\nSubject: in both\r\n\r\nthe same text\r\n"
for f in ("Work", "work"):
    typ, data = c.create(f)
    assert typ == "OK", data
    typ, data = c.append(f, "(\\Seen)", '"01-Mar-2024 10:00:00 +0000"', same)
    assert typ == "OK", data
    typ, data = c.append(f, "(\\Seen)", '"01-Mar-2024 10:00:00 +0000"',
                         b"From: y@x\r\nMessage-ID: <" + f.encode() + b"@x>\r\nSubject: only in " + f.encode() + b"\r\n\r\nb\r\n")
    assert typ == "OK", data
c.logout()
PY
pf=$(fake_pass)
push_fake_up fold --caps "UIDPLUS LITERAL+ MULTIAPPEND" --fold-case
cfg=$T/config.yaml
{
	echo "accounts:"
	acct_yaml alice
	acct_yaml fold port="$PORT_fold" tls=none password_file="$pf"
} | cfg_write "$cfg"
same_sha=$(printf 'From: x@example.test\r\nMessage-ID: <same@x>\r\nSubject: in both\r\n\r\nthe same text\r\n' | sha256sum | cut -d' ' -f1)

mk -c "$cfg" sync alice
expect_rc 0 "sync"
check '[ -d "$T/mail/alice/Work/cur" ] && [ -d "$T/mail/alice/work/cur" ]' "the mirror has not both folders"
mk -c "$cfg" -v push alice fold
expect_rc 0 "push into the case-folding target"
check '[ "$(push_fake_msgs fold Work | wc -l)" -eq 3 ]' "the target's Work holds $(push_fake_msgs fold Work | wc -l) messages, not 3"
check '[ "$(push_fake_msgs fold Work | grep -c "$same_sha")" -eq 1 ]' "the message of both folders is not once in Work"

dadm expunge -u alice mailbox work header message-id same@x
mk -c "$cfg" sync alice
expect_rc 0 "sync after the expunge"
mk -c "$cfg" -v push alice fold --delete
expect_rc 0 "push --delete"
check '[ "$(push_fake_msgs fold Work | grep -c "$same_sha")" -eq 1 ]' \
	"push --delete removed the message that the mirror's Work still has (Work: $(push_fake_msgs fold Work | wc -l) messages)"
check '[ "$(push_fake_msgs fold Work | wc -l)" -eq 3 ]' "the target's Work holds $(push_fake_msgs fold Work | wc -l) messages, not 3"
mk -c "$cfg" -v push alice fold --delete
expect_rc 0 "second push --delete"
check 'grep -q "0 messages appended (0 bytes), 0 already there, 0 flag updates, 0 deleted" "$MK_ERR"' \
	"the second push --delete did something: $(grep -m1 'push alice -> fold: [0-9]* folders' "$MK_ERR")"
t_pass
