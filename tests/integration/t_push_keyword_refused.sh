#!/usr/bin/env bash
# push to a target that cannot take one of a message's keywords: Dovecot refuses a keyword longer
# than 50 bytes (mail_max_keyword_length; its APPEND is answered NO [CANNOT] Keyword length too
# long), and a source (another server, a hand) may have one. Before, that message's APPEND was
# refused on every push, exit 1 forever: the message never migrated. Now it is sent once more
# without its keywords (flags and date kept), with a warning, exit 0; the keywords the target
# takes follow by a flag update, each keyword the target refuses alone is recorded as set and not
# sent again. The same for a keyword the mirror gets later (UID STORE +FLAGS refused): the other
# keywords and flags still go, and the next push does nothing.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed append --folder INBOX --seed 83 --count 3
dadm flags replace -u alice 'Short1 \Flagged' mailbox INBOX uid 1
cfg_alice_bob "$T/config.yaml"
cfg=$T/config.yaml
A=$T/mail/alice
mk -c "$cfg" sync alice
expect_rc 0 "sync"
K60=$(printf 'Long%056d' 0)
[ ${#K60} = 60 ] || fail "the keyword is not 60 bytes"
# Dovecot's default limit, confirmed: it refuses the keyword itself
if doveadm -c "$DOVECOT_CONF" flags add -u bob "$K60" mailbox INBOX uid 1 >>"$T/doveadm.log" 2>&1; then
	fail "Dovecot took a 60-byte keyword (its limit is not 50?)"
fi
st=$(grep -rl '^m 1 ' "$A" --include=.mailkeep-state | head -n 1)
[ -n "$st" ] || fail "no mirror state for INBOX"
# the source gave message 1 a 60-byte keyword (as a server with a larger limit does)
sed -i "s/^\(m 1 .*\)\$/\1 $K60/" "$st"
grep -q "^m 1 .* $K60\$" "$st" || fail "cannot add the keyword: $(grep '^m 1 ' "$st")"
bobflags() { doveadm -c "$DOVECOT_CONF" fetch -u bob flags mailbox INBOX 2>>"$T/doveadm.log" | grep '^flags:'; }

mk -c "$cfg" -v push alice bob
expect_rc 0 "push of a message with a keyword the target refuses"
check 'grep -q "message UID 1 refused by the target with its keywords .*; sent again without them" "$MK_ERR"' \
	"no warning for the keyword refused: $(grep -m1 'UID 1' "$MK_ERR")"
check 'grep -q "3 messages appended" "$MK_ERR"' \
	"not every message pushed: $(grep -m1 'push alice -> bob: [0-9]* folders' "$MK_ERR")"
fl=$(bobflags)
check '[ "$(wc -l <<<"$fl")" = 3 ]' "bob's INBOX does not hold 3 messages: $(tr '\n' ' ' <<<"$fl")"
check 'grep -q "Flagged.*Short1\|Short1.*Flagged" <<<"$fl"' "message 1 lost its flag or Short1 on bob: $(tr '\n' ' ' <<<"$fl")"
mk -c "$cfg" -v push alice bob
expect_rc 0 "second push"
check 'grep -q "0 messages appended (0 bytes), 0 already there, 0 flag updates" "$MK_ERR"' \
	"the second push did something: $(grep -m1 'push alice -> bob: [0-9]* folders' "$MK_ERR")"
check '! grep -q "refused" "$MK_ERR"' "the second push was refused something: $(grep -m1 refused "$MK_ERR")"

# a keyword added in the mirror later: a flag update with it and another keyword
sed -i "s/^\(m 2 .*\)\$/\1 $K60 Short2/" "$st"
mk -c "$cfg" -v push alice bob
expect_rc 0 "push of a flag update with a keyword the target refuses"
check 'grep -q "message UID 2: the target refused to set the keywords '"$K60"'" "$MK_ERR"' \
	"no warning for the keyword refused by the STORE: $(grep -m1 'UID 2' "$MK_ERR")"
fl=$(bobflags)
check 'grep -q "Short2" <<<"$fl"' "Short2 not set on bob: $(tr '\n' ' ' <<<"$fl")"
mk -c "$cfg" -v push alice bob
expect_rc 0 "push after the refused keyword"
check 'grep -q "0 messages appended (0 bytes), 0 already there, 0 flag updates" "$MK_ERR"' \
	"the push after the update did something: $(grep -m1 'push alice -> bob: [0-9]* folders' "$MK_ERR")"
check '! grep -q "refused" "$MK_ERR"' "the last push was refused something: $(grep -m1 refused "$MK_ERR")"
t_pass
