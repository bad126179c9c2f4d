#!/usr/bin/env bash
# What an operator does to a running sync, beyond kill -9:
#  1. Ctrl-Z (SIGSTOP) for longer than the account's timeout while mailkeep waits for the server,
#     then fg (SIGCONT): the run goes on and ends well (it failed the folder as "a stalled or
#     dripping server", exit 1).
#  2. SIGTERM, SIGINT or SIGHUP while a password_command runs under cron (no terminal: the command
#     is in its own process group): the run ends at once by that signal and takes the command
#     with it, also with --jobs 2 (the command ran on, orphaned, holding cron's stderr pipe).
#  3. SIGTERM to a --jobs 2 run in the middle of a download: the account processes end with it,
#     the next run finds no lock held and is exact.
#  4. Commands beside a sync held in the middle of its run: another sync, a --json sync, snapshot
#     and push of that account find the lock (3, one line naming the lock, valid JSON); status and
#     verify run without it; the held sync then ends well and the mirror is exact.
#  5. status with an empty last-run record (a run killed just after creating it) does not show a
#     run of 1970-01-01.
#  6. A folder state that cannot be written at the end of the run: every line on stderr names the
#     account (the commit's errors named only a path).
#  7. A first run on a full disk (root: a small tmpfs): a valid --json report; status then shows
#     no run of 1970-01-01 from the last-run record created but never written.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 61 --count 4 --big 0
seed populate --seed 62 --count 2 --big 0 --user bob --folders INBOX,Bobs
seed append --user bob --folder Big --seed 63 --count 20 --big 60 --big-size 300000:700000
A=$T/mail/alice
B=$T/mail/bob

# mk_bg ARGS...: start mailkeep in the background as cron or a terminal would (SIGINT not ignored,
# as it is for a background job of a script); pid in $BG_PID, output in $T/bg.out and $T/bg.err
mk_bg() {
	bg_start python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$MAILKEEP" "$@" </dev/null >"$T/bg.out" 2>"$T/bg.err"
}
# wait_rc PID SECONDS: the exit status of PID in $rc (124 after SECONDS: then it is killed)
wait_rc() {
	local n=0
	while kill -0 "$1" 2>/dev/null && [ $n -lt $(($2 * 20)) ]; do sleep 0.05; n=$((n + 1)); done
	if kill -0 "$1" 2>/dev/null; then
		kill -KILL "$1"
		wait "$1" 2>/dev/null
		rc=124
		return
	fi
	wait "$1"
	rc=$?
	if grep -qE 'Sanitizer|runtime error:' "$T/bg.err"; then
		fail "sanitizer report: $(grep -m1 -E 'Sanitizer|runtime error:' "$T/bg.err")"
	fi
}
proxy_up() { # a pause_proxy.py in front of the fixture's IMAPS port: $PPORT, $PAUSE
	PAUSE=$T/pause
	rm -f "$PAUSE" "$T/proxy.port"
	bg_start python3 "$LIB_DIR/pause_proxy.py" "$T/proxy.port" "$IMAPS_PORT" "$PAUSE" 240 "$@"
	wait_for '[ -s "$T/proxy.port" ]' 10 || fail "pause_proxy.py did not start"
	PPORT=$(cat "$T/proxy.port")
}

# --- 1. stopped longer than the timeout while waiting for the server ---
proxy_up 8000
{ echo "accounts:"; acct_yaml alice port="$PPORT" timeout=2 max_connections=1; } | cfg_write "$T/stop.yaml"
mk_bg -c "$T/stop.yaml" sync
p=$BG_PID
wait_for '[ -e "$PAUSE" ]' 30 || fail "part 1: the sync never got 8000 bytes through the proxy"
sleep 0.5 # waiting in poll() for the rest of a response
kill -STOP "$p"
rm -f "$PAUSE"
sleep 4 # the server's answer arrives meanwhile
kill -CONT "$p"
wait_rc "$p" 60
t_log "stopped for 4 s with timeout 2: exit $rc: $(head -c 300 "$T/bg.err")"
check '[ $rc -eq 0 ]' "part 1: a run stopped for 4 s (timeout 2) exited $rc: $(head -n 1 "$T/bg.err")"
check '! grep -q "stalled" "$T/bg.err"' "part 1: a stopped run blamed the server: $(head -n 1 "$T/bg.err")"
exact "$A"

# --- 2. a signal while the password_command runs, without a terminal ---
pwcmd="echo \$\$ >'$T/pwgroup'; sleep 50; cat '$DC/pass-alice'"
{
	echo "accounts:"
	acct_yaml alice password_file=- password_command="$pwcmd"
	acct_yaml bob user=bob password_file="$DC/pass-bob"
} | cfg_write "$T/pw.yaml"
for run in "TERM" "INT" "HUP" "TERM --jobs 2" "INT --jobs 2"; do
	sig=${run%% *}
	jobs=()
	[ "$run" = "$sig" ] || read -r -a jobs <<<"${run#* }"
	rm -f "$T/pwgroup"
	mk_bg -c "$T/pw.yaml" "${jobs[@]}" sync
	p=$BG_PID
	wait_for '[ -s "$T/pwgroup" ]' 30 || fail "part 2 ($run): the password_command did not start"
	group=$(cat "$T/pwgroup")
	sleep 0.2
	kill -"$sig" "$p"
	wait_rc "$p" 10
	wait_for '! pgrep -g "$group" >/dev/null' # up to 20 s: a loaded machine may reap them late
	left=$(pgrep -g "$group" | paste -sd, -)
	[ -z "$left" ] || left=$(ps -o pid=,args= -p "$left" | tr -s ' \n' ' ')
	[ -z "$left" ] || kill -KILL -- -"$group" 2>/dev/null
	want=$((128 + $(kill -l "$sig")))
	t_log "SIG$sig ($run) during the password_command: exit $rc; left running: ${left:-nothing}"
	check '[ $rc -eq $want ]' "part 2 ($run): exit $rc, expected $want (ended by SIG$sig)"
	check '[ -z "$left" ]' "part 2 ($run): the password_command was left running: $left"
done
mk -c "$T/pw.yaml" sync bob
expect_rc 0 "part 2: bob after the signals"
exact "$B" --bob

# --- 3. SIGTERM to a --jobs run in the middle of a download ---
cfg=$T/config.yaml
cfg_alice_bob "$cfg"
rm -rf "$B"
mk_bg -c "$cfg" --jobs 2 sync
p=$BG_PID
wait_for '[ -n "$(tmp_files "$B/Big")" ]' 60 || fail "part 3: no download in Big/tmp"
kids=$(pgrep -P "$p" | tr '\n' ' ')
kill -TERM "$p"
wait_rc "$p" 10
check '[ $rc -eq 143 ]' "part 3: --jobs 2 ended by SIGTERM exited $rc"
alive=""
for k in $kids; do
	wait_for '[ ! -e /proc/$k ] || grep -q "^State:.*Z" /proc/$k/status' || alive="$alive $k"
done
check '[ -z "$alive" ]' "part 3: account processes left running after the run ended:$alive"
mk -c "$cfg" sync
expect_rc 0 "part 3: the next run (found a lock held?)"
check '[ -z "$(tmp_files "$B")" ]' "part 3: files left in tmp/: $(tmp_files "$B" | head -n 2)"
exact "$A"
exact "$B" --bob

# --- 4. commands beside a sync held in the middle of its run ---
proxy_up 8000
{
	echo "accounts:"
	acct_yaml alice port="$PPORT" snapshot=true
	acct_yaml bob user=bob password_file="$DC/pass-bob"
} | cfg_write "$T/held.yaml"
seed append --folder INBOX --seed 64 --count 3
rm -rf "$A"
mk_bg -c "$T/held.yaml" sync alice
p=$BG_PID
wait_for '[ -e "$PAUSE" ]' 30 || fail "part 4: the sync never got 8000 bytes through the proxy"
json_ok() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1])); sys.exit(0 if d["exit_code"] == int(sys.argv[2]) else 1)' "$1" "$2" 2>/dev/null
}
for c in "sync alice" "sync" "snapshot alice" "push alice bob --dry-run"; do
	# shellcheck disable=SC2086
	mk -c "$T/held.yaml" $c
	expect_rc 3 "part 4: $c beside a running sync"
	check '[ "$(wc -l <"$MK_ERR")" -eq 1 ] && grep -q "alice.*another mailkeep run holds.*lock" "$MK_ERR"' \
		"part 4: $c: not one line naming the held lock: $(head -c 300 "$MK_ERR")"
done
exact "$B" --bob
mk -c "$T/held.yaml" --json sync alice
expect_rc 3 "part 4: --json sync beside a running sync"
check 'json_ok "$MK_OUT" 3' "part 4: --json beside a running sync: $(head -c 200 "$MK_OUT")"
mk -c "$T/held.yaml" status alice
expect_rc 0 "part 4: status beside a running sync"
mk -c "$T/held.yaml" verify alice
check '[ $MK_RC -eq 0 ] || [ $MK_RC -eq 1 ]' "part 4: verify beside a running sync exited $MK_RC"
rm -f "$PAUSE"
wait_rc "$p" 60
check '[ $rc -eq 0 ]' "part 4: the held sync exited $rc: $(head -n 1 "$T/bg.err")"
exact "$A"
mk -c "$T/held.yaml" sync alice
expect_rc 0 "part 4: sync after"
exact "$A"

# --- 5. status of a run whose record was created but never written (killed then, or a full disk) ---
: >"$A/.mailkeep/last-run"
mk -c "$cfg" status alice
expect_rc 0 "part 5: status with an empty last-run record"
check '! grep -q 1970 "$MK_OUT" && grep -q "last run:  unknown" "$MK_OUT"' \
	"part 5: an empty last-run record shown as a run: $(grep "last run" "$MK_OUT")"

# --- 6. a state that cannot be written in the final commit: every line on stderr names its account
# (the commit's errors named only a path), --json stays valid and calls that folder failed (it said
# "ok" while folders_failed counted it), the next run is exact ---
seed append --folder INBOX --seed 65 --count 2
mkdir "$A/INBOX/.mailkeep-state.tmp"
touch "$A/INBOX/.mailkeep-state.tmp/x"
mk -c "$cfg" --json sync
expect_rc 1 "part 6: sync with a state that cannot be written"
check 'python3 -m json.tool "$MK_OUT" >/dev/null 2>&1' "part 6: --json is not JSON: $(head -c 200 "$MK_OUT")"
st=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
a = [x for x in d["accounts"] if x["name"] == "alice"][0]
f = [x for x in a["folder_list"] if x["path"] == "INBOX"][0]
others = [x["status"] for x in a["folder_list"] if x["path"] != "INBOX"]
print(f["status"], "error" in f, a["folders_failed"], ",".join(sorted(set(others))))' "$MK_OUT" 2>&1)
check '[ "$st" = "failed True 1 ok" ]' "part 6: --json INBOX status, error, folders_failed, others: $st"
bad=$(grep -v "^mailkeep: \(error\|warning\): account \(alice\|bob\)[: ]" "$MK_ERR" | head -n 1)
check '[ -z "$bad" ]' "part 6: an error line names no account: $bad"
rm -rf "$A/INBOX/.mailkeep-state.tmp"
mk -c "$cfg" sync
expect_rc 0 "part 6: sync after"
exact "$A"

# --- 7. a first run on a full disk (root only: a small tmpfs): a valid --json report, and status
# shows no made-up run of 1970 from the record created but never written ---
small_fs 300k
fill_fs "$M"
{ echo "accounts:"; acct_yaml alice root="$M/mail"; } | cfg_write "$T/full.yaml"
mk -c "$T/full.yaml" --json sync
check '[ $MK_RC -eq 1 ] || [ $MK_RC -eq 4 ]' "part 7: exit $MK_RC on a full disk"
check 'python3 -m json.tool "$MK_OUT" >/dev/null 2>&1' "part 7: --json on a full disk is not JSON: $(head -c 200 "$MK_OUT")"
check 'grep -q "No space left on device" "$MK_ERR"' "part 7: the full disk not said: $(mk_err_line)"
mk -c "$T/full.yaml" status
check '! grep -q 1970 "$MK_OUT"' "part 7: status after a full disk shows a made-up run: $(grep -m1 "last run" "$MK_OUT")"
rm -f "$M/filler"
mk -c "$T/full.yaml" sync
expect_rc 0 "part 7: sync once there is room"
exact "$M/mail/alice"
t_pass
