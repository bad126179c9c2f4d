#!/usr/bin/env bash
# On a terminal a sync shows a progress line and a summary; without one (cron) it prints nothing;
# -q silences the summary even on a terminal.
. "$(dirname "$0")/lib.sh"
t_begin
command -v script >/dev/null || fail "script(1) is missing (bsdutils)"
dc_up
seed populate --seed 7 --count 5 --big 0
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice; } | cfg_write "$cfg"

# under a pseudo-terminal
timeout 120 script -qec "$MAILKEEP -c $cfg sync" /dev/null >"$T/tty.out" 2>&1
rc=$?
check '[ $rc -eq 0 ]' "sync under a pty exited $rc"
check 'grep -q "messages" "$T/tty.out"' "no progress line on a terminal: $(head -c 300 "$T/tty.out")"
check 'grep -qE "alice: [0-9]+ new" "$T/tty.out"' "no summary on a terminal: $(head -c 300 "$T/tty.out")"
exact "$T/mail/alice"

# no terminal: silent
dadm flags replace -u alice '\Draft \Deleted' mailbox INBOX uid 1
mk -c "$cfg" sync
expect_rc 0 "sync without a terminal"
check '[ ! -s "$MK_OUT" ] && [ ! -s "$MK_ERR" ]' "output without a terminal: $(head -c 200 "$MK_ERR")"

# -q on a terminal: silent
timeout 120 script -qec "$MAILKEEP -c $cfg -q sync" /dev/null >"$T/tty-q.out" 2>&1
check '[ ! -s "$T/tty-q.out" ]' "-q printed on a terminal: $(head -c 200 "$T/tty-q.out")"
t_pass
