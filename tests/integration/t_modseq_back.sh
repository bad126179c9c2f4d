#!/usr/bin/env bash
# A server restored from a backup keeps its UIDVALIDITY (Dovecot restores dovecot-uidlist with the
# mail) while its HIGHESTMODSEQ goes back below the state's, and gives the UIDs mailkeep mirrored
# since the backup to other messages (RFC 3501 forbids it; restored servers do it). mailkeep sees
# HIGHESTMODSEQ go back and lists the folder in full; that listing also asks every message's
# INTERNALDATE, and a file whose name starts with another date than the message's is another
# message's (as for a lost state): removed and the message downloaded; the others are kept. On the
# QRESYNC and the CONDSTORE-only paths the mirror ends exact (before: the file of the message the
# backup never had stayed as the new message of its UID, run after run).
. "$(dirname "$0")/lib.sh"
t_begin
ino() { local u; for u in 1 2 3; do stat -c %i "$(file_for "$A" INBOX $u)"; done; }
for mode in qresync condstore; do
	path_account $mode 31 3
	exact "$A"
	cp -a "$MAIL_ROOT" "$T/backup-$mode"
	seed append --folder INBOX --seed 32 --count 2 --first 0
	dadm flags add -u alice '\Flagged' mailbox INBOX uid 1
	dadm flags add -u alice '\Answered' mailbox INBOX uid 2
	mk -c "$cfg" sync
	expect_rc 0 "$mode: sync of UIDs 4 and 5"
	exact "$A"
	hms=$(sed -n 's/^highestmodseq //p' "$A/INBOX/.mailkeep-state")
	# the server restored from the backup, then one new message: UID 4 again, another message
	rm -rf "$MAIL_ROOT"
	cp -a "$T/backup-$mode" "$MAIL_ROOT"
	seed append --folder INBOX --seed 33 --count 1 --first 0
	t_log "$mode: state highestmodseq $hms; server now: $(dadm_out mailbox status -u alice 'highestmodseq uidnext' INBOX)"
	ino >"$T/ino.before"
	mk -c "$cfg" -v sync
	expect_rc 0 "$mode: sync after the restore"
	check 'grep -q "HIGHESTMODSEQ went back" "$MK_ERR"' "$mode: the restore was not noticed: $(mk_err_line)"
	ino >"$T/ino.after"
	check 'cmp -s "$T/ino.before" "$T/ino.after"' "$mode: the messages the backup held were downloaded again"
	exact "$A"
	mk -c "$cfg" sync
	expect_rc 0 "$mode: the next sync"
	exact "$A"
done
t_pass
