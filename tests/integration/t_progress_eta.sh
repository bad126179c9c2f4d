#!/usr/bin/env bash
# On a terminal, the progress line's rate and time left are the folder's, counted from when its
# download began: a folder held up 4 s by a slow server (pause_proxy.py in front of the
# fixture) does not make the next one, fast, show a time left of seconds after its first batch.
# Folders synced largest first over one connection: Pfirst (700 messages), Rheld (650, held up),
# Qsecond (600).
# before: the rate and time left of every folder counted from the account's first progress line:
# Qsecond's "257/600 messages" said "ETA 5 s" and more, though it took a fraction of a second.
. "$(dirname "$0")/lib.sh"
t_begin
command -v script >/dev/null || fail "script(1) is missing (bsdutils)"
dc_up
seed append --folder Pfirst --seed 61 --count 700 --big 0
seed append --folder Rheld --seed 63 --count 650 --big 0
seed append --folder Qsecond --seed 62 --count 600 --big 0
PAUSE=$T/pause
bg_start python3 "$LIB_DIR/pause_proxy.py" "$T/proxy.port" "$IMAPS_PORT" "$PAUSE" 240 1400000
n=0
while [ ! -s "$T/proxy.port" ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
[ -s "$T/proxy.port" ] || fail "pause_proxy.py did not start"
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice port="$(cat "$T/proxy.port")" max_connections=1; } |
	cfg_write "$cfg"
# the pause (made by the proxy once 1.4 MB went down, in Rheld's download, after Pfirst's 1.1 MB) lasts 4 s
( n=0; while [ ! -e "$PAUSE" ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n + 1)); done; sleep 4; rm -f "$PAUSE" ) &
releaser=$!
MK_RUNS=$((MK_RUNS + 1))
timeout 120 script -qec "$MAILKEEP -c $cfg sync" /dev/null >"$T/tty.out" 2>&1
rc=$?
wait $releaser
t_log "sync on a terminal: exit $rc"
check '[ $rc -eq 0 ]' "sync on a terminal exited $rc: $(tr '\r' '\n' <"$T/tty.out" | tail -n 2)"
tr '\r' '\n' <"$T/tty.out" | sed 's/^\x1b\[K//' >"$T/lines"
check 'grep -q "^alice: Rheld: " "$T/lines" && grep -q "^alice: Qsecond: " "$T/lines"' \
	"no progress line of each folder: $(head -c 300 "$T/lines")"
# the held-up folder took its time: a test that did not hold it up proves nothing
check 'grep "^alice: " "$T/lines" | tail -n 1 | grep -qE ", [4-9]\.[0-9] s$|, [1-9][0-9]+\.[0-9] s$"' \
	"the run was not held up: $(grep '^alice: [0-9]' "$T/lines")"
bad=$(grep "^alice: Qsecond: " "$T/lines" | grep -E "ETA ([3-9]|[1-9][0-9]+) s" | head -n 1)
check '[ -z "$bad" ]' "the fast folder's time left counts the slow one's: $bad"
exact "$T/mail/alice"
t_pass
