#!/usr/bin/env bash
# push: one UID STORE of a flag update refused by the target must fail only the messages of that
# STORE. The others' STOREs were done: their push-state entries take the mirror's flags, so a flag
# changed on the target afterwards (a message marked unread there) is kept by the next push, as
# push.md says ("flags set on the target in the meantime are kept"). Before, a refusal failed every
# change in flight: the entries of the STOREs the target had done kept their old flags, and the next
# push sent those STOREs again, undoing the change made on the target.
# Target: push_hostile.py (store-no:1 refuses the first UID STORE only).
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed append --folder INBOX --seed 91 --count 2
dadm flags replace -u alice '\Answered' mailbox INBOX uid 1:2
d=$T/tgt
mkdir -p "$d"
: >"$d/modes"
push_hostile_up "$d" "UIDPLUS LITERAL+"
push_hostile_mirror tgt
mk -c "$cfg" push alice tgt
expect_rc 0 "first push"

# target_flags: "UID FLAGS" of each message of the target's INBOX, by its Subject
target() {
	python3 - "$PORT" "$@" <<'PY'
import imaplib, re, sys
M = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
M.login("x", "y")
M.select("INBOX")
if len(sys.argv) > 2:  # UID STORE args
    typ, d = M.uid("STORE", sys.argv[2], sys.argv[3], sys.argv[4])
    assert typ == "OK", d
typ, d = M.uid("FETCH", "1:*", "(UID FLAGS)")
for line in d:
    if isinstance(line, bytes) and b"UID" in line:
        print(line.decode())
PY
}
# two different changes: two STOREs ("+\Flagged" sorts before "+\Seen": the first, refused)
dadm flags add -u alice '\Flagged' mailbox INBOX uid 1
dadm flags add -u alice '\Seen' mailbox INBOX uid 2
mk -c "$cfg" sync alice
expect_rc 0 "sync after the flag changes"
echo "store-no:1" >"$d/modes"
mk -c "$cfg" -v push alice tgt
expect_rc 1 "push with one STORE refused"
check 'grep -q "flags not updated" "$MK_ERR"' "no error for the refused STORE"
check 'grep -q "1 flag updates, 0 deleted, 0 skipped, 1 failed" "$MK_ERR"' \
	"the STORE done not counted as a flag update: $(grep -m1 'push alice -> tgt: [0-9]* folders' "$MK_ERR")"
: >"$d/modes"
seen=$(target | grep -F '\Seen' | sed -n 's/.*UID \([0-9]*\).*/\1/p')
[ -n "$seen" ] || fail "the STORE not refused did not reach the target: $(target | tr '\n' ' ')"
# marked unread on the target
target "$seen" -FLAGS.SILENT '(\Seen)' >/dev/null || fail "cannot change a flag on the target"
mk -c "$cfg" -v push alice tgt
expect_rc 0 "push after the refusal"
check 'grep -q "1 flag updates, 0 deleted, 0 skipped, 0 failed" "$MK_ERR"' \
	"not only the refused change sent again: $(grep -m1 'push alice -> tgt: [0-9]* folders' "$MK_ERR")"
flags=$(target)
check '! grep -F "UID $seen " <<<"$flags" | grep -qF "\\Seen"' \
	"the \\Seen removed on the target was set again: $(tr '\n' ' ' <<<"$flags")"
check '[ "$(grep -cF "\\Flagged" <<<"$flags")" = 1 ]' "the refused \\Flagged not set by the next push: $(tr '\n' ' ' <<<"$flags")"
mk -c "$cfg" -v push alice tgt
expect_rc 0 "third push"
check 'grep -q "0 messages appended (0 bytes), 0 already there, 0 flag updates" "$MK_ERR"' \
	"the third push did something: $(grep -m1 'push alice -> tgt: [0-9]* folders' "$MK_ERR")"

# One change of one message is two STOREs, +FLAGS and -FLAGS: the first refused, the second done.
# Its entry records the half done, so the next push sends only the other: a flag set again on the
# target meanwhile stays. Before, the entry kept its old flags and the next push removed it again.
dadm flags remove -u alice '\Answered' mailbox INBOX uid 1
dadm flags add -u alice '\Draft' mailbox INBOX uid 1
mk -c "$cfg" sync alice
expect_rc 0 "sync after a flag added and one removed"
echo "store-no:2" >"$d/modes" # the count is the server's: one refused above
mk -c "$cfg" -v push alice tgt
expect_rc 1 "push with the +FLAGS refused, the -FLAGS done"
: >"$d/modes"
fl=$(target | grep -F '\Flagged' | sed -n 's/.*UID \([0-9]*\).*/\1/p')
[ -n "$fl" ] || fail "no \\Flagged message on the target: $(target | tr '\n' ' ')"
check '! target | grep -F "UID $fl " | grep -qF "\Answered"' "the -FLAGS (\\Answered) not done: $(target | tr '\n' ' ')"
target "$fl" +FLAGS.SILENT '(\Answered)' >/dev/null || fail "cannot change a flag on the target"
mk -c "$cfg" -v push alice tgt
expect_rc 0 "push after the half refusal"
flags=$(target)
check 'grep -F "UID $fl " <<<"$flags" | grep -qF "\Answered"' \
	"the \\Answered set again on the target was removed: $(tr '\n' ' ' <<<"$flags")"
check 'grep -F "UID $fl " <<<"$flags" | grep -qF "\Draft"' "the refused \\Draft not set: $(tr '\n' ' ' <<<"$flags")"
t_pass
