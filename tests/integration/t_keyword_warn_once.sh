#!/usr/bin/env bash
# A message's keywords that are not kept are warned about once a run, not once a FETCH that shows its
# flags: on a first sync the listing of the flags and the download both did, two warnings for the
# same message. With a non-atom keyword (hostile_matrix.py fetch-flags-backslash: "a\b" on UID 1 of
# Bad), and with more keywords than the 4096 bytes kept on 12 messages of a real Dovecot: each warned
# about once, the first 10 of a folder, then one line for the rest.
. "$(dirname "$0")/lib.sh"
t_begin
pf=$(fake_pass)
hm_up fetch-flags-backslash hm.log --lifetime 120
cfg=$T/c.yaml
{ echo "accounts:"; acct_yaml hm root="$T/hm" port="$HM_PORT" tls=none ca_file=- user=u password_file="$pf" \
	timeout=10; } | cfg_write "$cfg"
mk -c "$cfg" sync
expect_rc 0 "first sync of the hostile server"
n=$(grep -c 'folder "Bad": UID 1: 1 keywords that are not IMAP atoms are not kept ("a\\b")' "$MK_ERR")
check '[ "$n" = 1 ]' "the non-atom keyword of UID 1 warned about $n times, not once: $(grep -m1 'not IMAP atoms' "$MK_ERR")"
bg_kill "$HM_PID"

dc_up
seed populate --seed 41 --count 12 --big 0 --folders Archive
kws=$(for i in $(seq 1 100); do printf 'Kw%03d_%s ' "$i" "$(printf 'x%.0s' $(seq 1 40))"; done)
dadm flags add -u alice "${kws% }" mailbox Archive all
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice; } | cfg_write "$cfg"
mk -c "$cfg" sync
expect_rc 0 "first sync of the Dovecot"
grep -o 'folder "Archive": UID [0-9]*: [0-9]* keywords beyond' "$MK_ERR" | sort >"$T/warned"
check '[ "$(wc -l <"$T/warned")" = 10 ]' "$(wc -l <"$T/warned") keyword warnings, not 10: $(head -n 3 "$T/warned" | tr '\n' ' ')"
check '[ -z "$(uniq -d "$T/warned")" ]' "a message warned about twice: $(uniq -d "$T/warned" | head -n 1)"
n=$(grep -c 'folder "Archive": keywords not kept of more messages; not shown' "$MK_ERR")
check '[ "$n" = 1 ]' "the line for the messages not shown came $n times, not once"
exact "$T/mail/alice"
t_pass
