#!/usr/bin/env bash
# t_push_keyword_refused on the paths Dovecot does not take: a target without UIDPLUS and without
# MULTIAPPEND (the APPENDs pipelined, their target UIDs found by a search), refusing a keyword over
# 50 bytes as Dovecot does (push_hostile.py kw-long-no): the message is sent again without its
# keywords, the ones the target takes follow by a flag update, exit 0, the next push does nothing.
# A UID STORE refused for a passing cause ([NOPERM], store-noperm) is not taken as a refusal of
# its keywords: an error (exit 1), and the keywords are sent by the next push, not dropped; nor is
# one refused for throttling ([THROTTLED], store-throttled).
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed append --folder INBOX --seed 84 --count 3
dadm flags replace -u alice 'Short1 \Flagged' mailbox INBOX uid 1
d=$T/tgt
mkdir -p "$d"
echo "kw-long-no" >"$d/modes"
push_hostile_up "$d" "LITERAL+"
push_hostile_mirror tgt
K60=$(printf 'Long%056d' 0)
st=$(grep -rl '^m 1 ' "$A" --include=.mailkeep-state | head -n 1)
[ -n "$st" ] || fail "no mirror state for INBOX"
sed -i "s/^\(m 1 .*\)\$/\1 $K60/" "$st"
target() {
	python3 - "$PORT" <<'PY'
import imaplib, sys
M = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
M.login("x", "y")
M.select("INBOX")
typ, d = M.uid("FETCH", "1:*", "(UID FLAGS)")
for line in d:
    if isinstance(line, bytes) and b"UID" in line:
        print(line.decode())
PY
}
last() { grep -m1 'push alice -> tgt: [0-9]* folders' "$MK_ERR"; }

mk -c "$cfg" -v push alice tgt
expect_rc 0 "push of a message with a keyword the target refuses"
check 'grep -q "message UID 1 refused by the target with its keywords .*; sent again without them" "$MK_ERR"' \
	"no warning for the keyword refused: $(grep -m1 'UID 1' "$MK_ERR")"
check 'grep -q "3 messages appended" "$MK_ERR"' "not every message pushed: $(last)"
fl=$(target)
check '[ "$(wc -l <<<"$fl")" = 3 ]' "the target does not hold 3 messages: $(tr '\n' ' ' <<<"$fl")"
check 'grep -q "Short1" <<<"$fl"' "Short1 not on the target: $(tr '\n' ' ' <<<"$fl")"
check '! grep -q "Long" <<<"$fl"' "the long keyword on the target: $(tr '\n' ' ' <<<"$fl")"
mk -c "$cfg" -v push alice tgt
expect_rc 0 "second push"
check 'grep -q "0 messages appended (0 bytes), 0 already there, 0 flag updates" "$MK_ERR"' \
	"the second push did something: $(last)"

# a flag update with the long keyword and another, refused for a passing cause first
sed -i "s/^\(m 2 .*\)\$/\1 $K60 Short2/" "$st"
echo "kw-long-no store-noperm:3" >"$d/modes"
mk -c "$cfg" -v push alice tgt
expect_rc 1 "push with the STOREs refused [NOPERM]"
check 'grep -q "flags not updated" "$MK_ERR"' "no error for the STORE refused [NOPERM]"
check '! grep -q "not sent again" "$MK_ERR"' "keywords dropped for a [NOPERM]: $(grep -m1 'not sent again' "$MK_ERR")"
# nor one refused for throttling ([THROTTLED], no keyword named): before, taken for a refusal of
# its keywords, which were then recorded as set and never sent (exit 0)
echo "store-throttled:4" >"$d/modes"
mk -c "$cfg" -v push alice tgt
expect_rc 1 "push with the STOREs refused [THROTTLED]"
check '! grep -q "not sent again" "$MK_ERR"' "keywords dropped for a [THROTTLED]: $(grep -m1 'not sent again' "$MK_ERR")"
echo "kw-long-no" >"$d/modes"
mk -c "$cfg" -v push alice tgt
expect_rc 0 "push with the long keyword refused"
check 'grep -q "message UID 2: the target refused to set the keywords '"$K60"'" "$MK_ERR"' \
	"no warning for the keyword refused by the STORE: $(grep -m1 'UID 2' "$MK_ERR")"
fl=$(target)
check 'grep -q "Short2" <<<"$fl"' "Short2 not set on the target: $(tr '\n' ' ' <<<"$fl")"
mk -c "$cfg" -v push alice tgt
expect_rc 0 "push after the refused keyword"
check 'grep -q "0 messages appended (0 bytes), 0 already there, 0 flag updates" "$MK_ERR"' \
	"the push after the update did something: $(last)"

# one long keyword added to two messages: one UID STORE for both, refused; the warning names both
# (before: "message UID 1 and others")
K61=$(printf 'Long%056d' 1)
sed -i "s/^\(m [13] .*\)\$/\1 $K61/" "$st"
mk -c "$cfg" -v push alice tgt
expect_rc 0 "push of a long keyword added to two messages"
check 'grep -Eq "messages UID (1, 3|3, 1): the target refused to set the keywords '"$K61"'" "$MK_ERR"' \
	"the warning does not name both messages: $(grep -m1 'refused to set' "$MK_ERR")"
t_pass
