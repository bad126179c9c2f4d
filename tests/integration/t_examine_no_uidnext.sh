#!/usr/bin/env bash
# A server whose EXAMINE gives no UIDNEXT (RFC 2060 servers; here Dovecot behind a proxy that drops
# the line), with QRESYNC: once the newest message of a folder was expunged, every later run fell
# to a full fetch for good. The state recorded the highest UID + 1 as UIDNEXT, below STATUS's, and
# the check that a QRESYNC answer names the UIDs given since the state (3591e9a) failed each time.
# The state now records STATUS's UIDNEXT; the runs after stay incremental, and the mirror exact.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 3 --count 5 --big 0
python3 "$(dirname "$0")/no_uidnext_proxy.py" "$IMAP_PORT" "$T/pport" &
_BG_PIDS+=($!)
for _ in $(seq 50); do [ -s "$T/pport" ] && break; sleep 0.1; done
cfg=$T/c.yaml
{ echo "accounts:"; acct_yaml alice port="$(cat "$T/pport")" tls=none max_connections=1; } | cfg_write "$cfg"
A=$T/mail/alice
mk -c "$cfg" sync
expect_rc 0 "initial sync"
N=$(dadm_out search -u alice mailbox INBOX all | awk '{print $2}' | sort -n | tail -1)
dadm expunge -u alice mailbox INBOX uid "$N"
mk -c "$cfg" sync -v
expect_rc 0 "sync after the newest message was expunged"
for run in 1 2; do
	mk -c "$cfg" sync -v
	expect_rc 0 "run $run after"
	check '! grep -q "full fetch" "$MK_ERR"' "run $run after the expunge: $(grep "full fetch" "$MK_ERR" | head -n 1)"
done
dadm flags add -u alice '\Flagged' mailbox INBOX uid 1
mk -c "$cfg" sync -v
expect_rc 0 "sync after a flag change"
check '! grep -q "full fetch" "$MK_ERR"' "after a flag change: $(grep "full fetch" "$MK_ERR" | head -n 1)"
exact "$A"
t_pass
