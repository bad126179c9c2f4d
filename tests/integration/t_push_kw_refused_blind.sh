#!/usr/bin/env bash
# A message whose APPEND a target without UIDPLUS refused for its keywords (push_hostile.py
# kw-long-no, as Dovecot refuses one over 50 bytes) is sent again without them; when the search
# after the batch then cannot find it (search-blind: an index behind the folder), it is recorded
# without target UID. Its push-state entry must record what the target got: no keywords. Before,
# it recorded the keywords the second APPEND left out, the long one included, as if set.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed append --folder INBOX --seed 84 --count 2
dadm flags replace -u alice 'Short1 \Flagged' mailbox INBOX uid 1
d=$T/tgt
mkdir -p "$d"
echo "kw-long-no search-blind" >"$d/modes"
push_hostile_up "$d" "LITERAL+"
push_hostile_mirror tgt
K60=$(printf 'Long%056d' 0)
st=$(grep -rl '^m 1 ' "$A" --include=.mailkeep-state | head -n 1)
[ -n "$st" ] || fail "no mirror state for INBOX"
sed -i "s/^\(m 1 .*\)\$/\1 $K60/" "$st"
mk -c "$cfg" -v push alice tgt
expect_rc 0 "push of a message with a keyword the target refuses, not found after"
check 'grep -q "message UID 1 refused by the target with its keywords .*; sent again without them" "$MK_ERR"' \
	"no warning for the keyword refused: $(grep -m1 'UID 1' "$MK_ERR")"
check 'grep -q "message UID 1 was appended but cannot be found" "$MK_ERR"' \
	"message 1 was not recorded without target UID: $(grep -m1 'UID 1' "$MK_ERR")"
ps=$A/.mailkeep/push/tgt/INBOX/.push-state
check '[ -f "$ps" ] && grep -Eq "^m [0-9]+ 1 0 " "$ps"' "no entry without target UID for message 1: $(cat "$ps" 2>/dev/null)"
check '! grep -Eq "^m [0-9]+ 1 .*(Long|Short1)" "$ps"' \
	"message 1 recorded with the keywords its APPEND did not carry: $(grep -E '^m [0-9]+ 1 ' "$ps")"
t_pass
