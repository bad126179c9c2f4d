#!/usr/bin/env bash
# A target folder that takes no new keywords (PERMANENTFLAGS without \*, as Exchange Online) and
# does not list $Forwarded: the Maildir letter P ($Forwarded, a keyword for IMAP, not a system
# flag) is left out of the APPEND and reported with the other keywords it drops, as push.md
# "What is copied" says; before, it was sent all the same and the target dropped it without a word
# (or, a stricter server, refused the message on every push). A target that lists $Forwarded gets
# it. The second push does nothing either way.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed append --folder INBOX --seed 81 --count 3
dadm flags replace -u alice '\Seen $Forwarded' mailbox INBOX uid 1
dadm flags replace -u alice '\Seen' mailbox INBOX uid 2
dadm flags replace -u alice '$Forwarded Custom1' mailbox INBOX uid 3
SRC="127.0.0.1:$IMAP_PORT:alice:$DC/pass-alice"
pf=$(fake_pass)
push_fake_up nofwd --caps "UIDPLUS LITERAL+ MULTIAPPEND" --permflags '(\Answered \Flagged \Deleted \Seen \Draft)'
push_fake_up fwd --caps "UIDPLUS LITERAL+ MULTIAPPEND" --permflags '(\Answered \Flagged \Deleted \Seen \Draft $Forwarded)'
cfg=$T/config.yaml
{
	echo "accounts:"
	acct_yaml alice
	acct_yaml nofwd port="$PORT_nofwd" tls=none password_file="$pf"
	acct_yaml fwd port="$PORT_fwd" tls=none password_file="$pf"
} | cfg_write "$cfg"
A=$T/mail/alice
mk -c "$cfg" sync alice
expect_rc 0 "sync"

mk -c "$cfg" -v push alice nofwd
expect_rc 0 "push into a folder without \\* or \$Forwarded"
check 'grep -q "folder \"INBOX\": the target folder takes no new keywords.*: 2 messages pushed without their keywords .*\$Forwarded" "$MK_ERR"' \
	"\$Forwarded dropped without a word: $(grep -m1 'keywords' "$MK_ERR")"
check '! grep -q "Forwarded" "$T/nofwd.log"' "\$Forwarded sent to a folder that does not take it: $(grep -m1 Forwarded "$T/nofwd.log")"
mk -c "$cfg" -v push alice nofwd
expect_rc 0 "second push into the folder without \$Forwarded"
check 'grep -q "0 messages appended (0 bytes), 0 already there, 0 flag updates" "$MK_ERR"' \
	"the second push did something: $(grep -m1 'push alice -> nofwd: [0-9]* folders' "$MK_ERR")"
# a dry run plans what a push does: nothing. EXAMINE's PERMANENTFLAGS () says nothing of keywords,
# so the dry run takes what the last push's SELECT said from the push state; before, it planned
# adding the dropped keywords on every run ("1 flag updates" here, 41 into a Courier with
# IMAP_KEYWORDS=0), which no push ever does
mk -c "$cfg" -v push alice nofwd --dry-run
expect_rc 0 "dry run after the pushes into the folder without \$Forwarded"
check 'grep -q "0 messages to append (0 bytes), [0-9]* already there, 0 flag updates" "$MK_ERR"' \
	"the dry run plans flag updates no push makes: $(grep 'flags UID\|(dry run)' "$MK_OUT" "$MK_ERR" | head -n 3)"
check '! grep -q "flags UID" "$MK_OUT"' "the dry run lists flag updates: $(grep -m2 'flags UID' "$MK_OUT")"
check '! grep -q "messages pushed without their keywords" "$MK_ERR"' \
	"the dry run says it pushed: $(grep -m1 'without their keywords' "$MK_ERR")"

mk -c "$cfg" -v push alice fwd
expect_rc 0 "push into a folder that lists \$Forwarded"
check 'grep -q "keywords Custom1$" "$MK_ERR"' "\$Forwarded reported dropped where it is listed: $(grep -m1 'keywords' "$MK_ERR")"
check 'grep -q "Forwarded" "$T/fwd.log"' "\$Forwarded not sent where PERMANENTFLAGS lists it"
mc --state "$T/fwd.json" --keywords-only '$Forwarded'
t_pass
