#!/usr/bin/env bash
# A push after a re-key (the source folder's UIDVALIDITY changed, its messages kept, its files
# renamed by sync): the target gets no second copy of any message, also with --delete (push sees
# a renumbered source folder and looks its messages up on the target, as after a move aside); after
# a re-key with mail delivered since, that mail alone is appended.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 41 --count 4 --big 0 --folders "INBOX"
cfg=$T/config.yaml
cfg_alice_bob "$cfg"
A=$T/mail/alice
bob_count() { doveadm -c "$DOVECOT_CONF" search -u bob mailbox INBOX all 2>/dev/null | wc -l; }
mk -c "$cfg" sync alice; expect_rc 0 sync
mk -c "$cfg" push alice bob; expect_rc 0 push1
n_mir=$(ls "$A/INBOX/cur" | wc -l)
check '[ "$(bob_count)" = "$n_mir" ]' "push1: bob's INBOX holds $(bob_count) messages, the mirror $n_mir"
dadm mailbox update -u alice --uid-validity 777 INBOX
mk -v -c "$cfg" sync alice; expect_rc 0 "sync after the UIDVALIDITY change"
check 'grep -q "re-keyed $n_mir messages to UIDVALIDITY 777" "$MK_ERR"' "not re-keyed: $(grep -m1 INBOX "$MK_ERR")"
for what in push2 push3; do
	if [ "$what" = push2 ]; then mk -c "$cfg" push alice bob; else mk -c "$cfg" push alice bob --delete; fi
	expect_rc 0 "$what"
	check '[ "$(bob_count)" = "$n_mir" ]' "$what: bob's INBOX holds $(bob_count) messages, the mirror $n_mir"
	dups=$(doveadm -c "$DOVECOT_CONF" fetch -u bob 'hdr.message-id' mailbox INBOX all 2>/dev/null | grep -i '^hdr.message-id' | sort | uniq -d)
	check '[ -z "$dups" ]' "$what: a message twice on the target: $dups"
done
# one message delivered, then another UIDVALIDITY: re-keyed with the new one downloaded; the push
# appends that one alone
seed append --folder INBOX --seed 42 --count 1
dadm mailbox update -u alice --uid-validity 778 INBOX
mk -v -c "$cfg" sync alice; expect_rc 0 "sync after a delivery and a UIDVALIDITY change"
check 'grep -q "re-keyed $n_mir messages to UIDVALIDITY 778" "$MK_ERR"' "not re-keyed: $(grep -m1 INBOX "$MK_ERR")"
n_mir=$((n_mir + 1))
check '[ "$(ls "$A/INBOX/cur" | wc -l)" = "$n_mir" ]' "the mirror holds $(ls "$A/INBOX/cur" | wc -l) messages, not $n_mir"
mk -c "$cfg" push alice bob --delete; expect_rc 0 push4
check '[ "$(bob_count)" = "$n_mir" ]' "push4: bob's INBOX holds $(bob_count) messages, the mirror $n_mir"
dups=$(doveadm -c "$DOVECOT_CONF" fetch -u bob 'hdr.message-id' mailbox INBOX all 2>/dev/null | grep -i '^hdr.message-id' | sort | uniq -d)
check '[ -z "$dups" ]' "push4: a message twice on the target: $dups"
t_pass
