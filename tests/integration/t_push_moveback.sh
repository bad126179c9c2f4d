#!/usr/bin/env bash
# A message moved out of INBOX and back on the source (same bytes and date, new UID); the push
# that appends its new copy is killed after the APPEND (simulated: its entry made 'p' again);
# then push --delete must leave the target with the mirror's messages once each. Before, the
# lookup of the new copy took over the old entry's target message (meant for a renumbered
# folder), so --delete removed nothing and the copy appended stayed twice for good.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 41 --count 3 --big 0 --folders "INBOX"
cfg=$T/config.yaml
cfg_alice_bob "$cfg"
A=$T/mail/alice
S=$A/.mailkeep/push/bob/INBOX/.push-state
bob_inbox() { doveadm -c "$DOVECOT_CONF" fetch -u bob 'uid hdr.message-id' mailbox INBOX all 2>/dev/null | paste -sd' '; }
mk -c "$cfg" sync alice; expect_rc 0 sync
mk -c "$cfg" push alice bob; expect_rc 0 push1
dadm mailbox create -u alice Other
dadm move -u alice Other mailbox INBOX uid 1
dadm move -u alice INBOX mailbox Other all
mk -c "$cfg" sync alice; expect_rc 0 sync2
mk -c "$cfg" push alice bob; expect_rc 0 "push2 (no --delete)"
# the kill after the APPEND of the new copy, before the state was written again
nu=$(awk '/^m /{print $3}' "$S" | sort -n | tail -n 1)
uv=$(awk '/^m /{print $2; exit}' "$S")
sed -i "s/^m $uv $nu .*/p $uv $nu/" "$S"
mk -c "$cfg" -v push alice bob --delete; expect_rc 0 "push3 --delete"
n_bob=$(doveadm -c "$DOVECOT_CONF" search -u bob mailbox INBOX all 2>/dev/null | wc -l)
n_mir=$(ls "$A/INBOX/cur" | wc -l)
check '[ "$n_bob" = "$n_mir" ]' "bob INBOX holds $n_bob messages, the mirror $n_mir: $(bob_inbox)"
dups=$(doveadm -c "$DOVECOT_CONF" fetch -u bob 'hdr.message-id' mailbox INBOX all 2>/dev/null | grep -i '^hdr.message-id' | sort | uniq -d)
check '[ -z "$dups" ]' "a message twice on the target: $dups"
t_pass
