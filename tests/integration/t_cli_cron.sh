#!/usr/bin/env bash
# The cron user and the person at a terminal, as mailkeep(1) promises them: a run that goes well
# prints nothing (also with stdin, stdout or stderr closed); every situation of EXIT STATUS gives its
# code (config and usage errors 2, a held lock 3 quickly and touching nothing, every account failing
# 4 whatever the cause, one of two failing 1); --json is one valid document on stdout in every case,
# usage errors included; a report that cannot be written fails the run; SIGTERM/SIGINT/SIGHUP in
# the middle of a first download end the run at once and the next run is exact with tmp/ empty; on
# a terminal a warning never continues the progress line.
. "$(dirname "$0")/lib.sh"
t_begin
command -v script >/dev/null || fail "script(1) is missing (bsdutils)"
dc_up
seed populate --seed 21 --count 4 --big 0
seed populate --seed 22 --count 2 --big 0 --user bob --folders INBOX,Bobs
seed append --user bob --folder Big --seed 23 --count 20 --big 60 --big-size 300000:700000
cfg=$T/config.yaml
cfg_alice_bob "$cfg"
A=$T/mail/alice
B=$T/mail/bob

json_ok() { # json_ok FILE CODE: FILE is one JSON document whose exit_code is CODE
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d["exit_code"] == int(sys.argv[2]) and d["command"] == "sync" else 1)' "$1" "$2" 2>/dev/null
}
quiet() { [ ! -s "$MK_OUT" ] && [ ! -s "$MK_ERR" ]; }

# --- cron: silence when all is well, also with the standard descriptors closed ---
mk -c "$cfg" sync
expect_rc 0 "first sync"
check quiet "a good first sync printed something: $(head -c 200 "$MK_ERR")"
exact "$A"
exact "$B" --bob
mk -c "$cfg" sync
expect_rc 0 "second sync"
check quiet "a good second sync printed something: $(head -c 200 "$MK_ERR")"
timeout 60 "$MAILKEEP" -c "$cfg" sync <&- >&- 2>&-
rc=$?
check '[ $rc -eq 0 ]' "sync with stdin, stdout and stderr closed exited $rc"
# stderr closed: what is logged must not land in a file mailkeep opens (the --jobs result file, the lock)
seed append --folder INBOX --seed 24 --count 2
timeout 60 "$MAILKEEP" -c "$cfg" -v --jobs 2 --json sync </dev/null >"$T/closed.json" 2>&-
rc=$?
check '[ $rc -eq 0 ]' "--jobs 2 with stderr closed exited $rc"
check 'json_ok "$T/closed.json" 0' "--json with stderr closed is not a valid report: $(head -c 300 "$T/closed.json")"
check '! grep -q "mailkeep" "$A/.mailkeep/lock" "$B/.mailkeep/lock"' "log text written into a lock file"
exact "$A"

# --- usage and configuration errors: 2, a JSON report, nothing else on stdout ---
# (a --shard number past 2^32 wrapped, in sscanf's %u: 0/4294967297 ran as 0/1, every account)
for args in "sync nosuch" "sync --bogus" "--bogus sync" "-j 0 sync" "sync --jobs=65" "--shard 3/2 sync" \
	"sync --jobs=+2" "--shard +1/2 sync" "--shard 1/+2 sync" "--shard -1/2 sync" \
	"--shard 0/4294967297 sync" "--shard 4294967296/2 sync"; do
	# shellcheck disable=SC2086
	mk -c "$cfg" $args
	expect_rc 2 "mailkeep $args"
	check '[ ! -s "$MK_OUT" ] && [ -s "$MK_ERR" ]' "mailkeep $args: no message on stderr, or output on stdout"
	# shellcheck disable=SC2086
	mk -c "$cfg" --json $args
	expect_rc 2 "mailkeep --json $args"
	check 'json_ok "$MK_OUT" 2' "mailkeep --json $args: not one JSON report with exit_code 2: $(head -c 200 "$MK_OUT")"
done
# a value with a blank before it (strtol and sscanf skip it) is refused too
for v in "--jobs= 2" "--shard= 1/2" "--shard=1/ 2"; do
	mk -c "$cfg" "$v" sync
	expect_rc 2 "mailkeep '$v' sync"
done
# commands that print text refuse --json rather than print text where a script expects JSON
for args in "--json status" "status --json" "--json verify" "log --json" "--json check" "snapshot --json" "--json help" "help --json"; do
	# shellcheck disable=SC2086
	mk -c "$cfg" $args
	expect_rc 2 "mailkeep $args"
	check '[ ! -s "$MK_OUT" ] && grep -q "^mailkeep: [a-z]*: --json applies to sync only" "$MK_ERR"' \
		"mailkeep $args: $(head -c 200 "$MK_OUT") / $(mk_err_line)"
done
mk -c "$T/missing.yaml" --json sync
expect_rc 2 "missing configuration file"
check 'json_ok "$MK_OUT" 2' "missing configuration: no JSON report"
printf 'accounts: [\n' >"$T/broken.yaml"
mk -c "$T/broken.yaml" sync
expect_rc 2 "invalid configuration"
check 'grep -qE "broken.yaml:[0-9]+:[0-9]+:" "$MK_ERR"' "invalid configuration not reported as FILE:LINE:COL: $(mk_err_line)"
(cd "$T" && timeout 30 "$MAILKEEP" -c config.yaml check >"$T/rel.out" 2>&1)
check 'grep -q "configuration OK" "$T/rel.out"' "-c with a relative path: $(head -c 200 "$T/rel.out")"
mk -c "$cfg" frobnicate
expect_rc 2 "unknown command"
mk -c "$cfg" --help
expect_rc 0 "--help"
mk -c "$cfg" --account alice --help
expect_rc 0 "--account alice --help"
check '! grep -q "ACCOUNT...].*validate" "$MK_OUT"' "--help runs the check line into its description"
for c in sync check status verify snapshot log push; do
	check 'grep -qE "^  $c( |$)" "$MK_OUT"' "--help does not list $c"
done
# the default configuration path: $XDG_CONFIG_HOME when absolute, else $HOME/.config
mkdir -p "$T/xdg/mailkeep" "$T/home/.config/mailkeep"
cp "$cfg" "$T/xdg/mailkeep/config.yaml"
sed 's/name: alice/name: homealice/' "$cfg" >"$T/home/.config/mailkeep/config.yaml"
out=$(HOME=$T/home XDG_CONFIG_HOME=$T/xdg timeout 30 "$MAILKEEP" check 2>&1)
check '[ "${out%%:*}" = "$T/xdg/mailkeep/config.yaml" ]' "XDG_CONFIG_HOME not used: $out"
out=$(HOME=$T/home XDG_CONFIG_HOME=relative timeout 30 "$MAILKEEP" check 2>&1)
check '[ "${out%%:*}" = "$T/home/.config/mailkeep/config.yaml" ]' "relative XDG_CONFIG_HOME not ignored: $out"
out=$(env -u XDG_CONFIG_HOME HOME=$T/home timeout 30 "$MAILKEEP" check 2>&1)
check '[ "${out%%:*}" = "$T/home/.config/mailkeep/config.yaml" ]' "HOME not used: $out"

# --- every account failing: 4, whatever the cause; one of two: 1 ---
silent_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
bg_start python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); time.sleep(200)' "$silent_port"
sleep 0.3
(umask 077 && echo "Wrong-$RANDOM-pw" >"$T/pass-wrong")
_SECRETS+=("$(cat "$T/pass-wrong")")
i=0
for spec in "port=1" "port=$silent_port timeout=2" "port=$IMAP_PORT" "password_file=- password_command=false" \
	"password_file=$T/pass-wrong" "password_file=$T/no-such-file" "ca_file=/etc/ssl/certs/ca-certificates.crt"; do
	i=$((i + 1))
	# shellcheck disable=SC2086
	{ echo "accounts:"; acct_yaml "bad$i" root="$T/badmail" $spec; } | cfg_write "$T/bad$i.yaml"
	t0=$(date +%s)
	mk -c "$T/bad$i.yaml" --json sync
	expect_rc 4 "account failing with $spec"
	check 'json_ok "$MK_OUT" 4' "$spec: no JSON report with exit_code 4"
	check 'grep -q "error: account.*bad$i" "$MK_ERR"' "$spec: the error does not name the account: $(mk_err_line)"
	# no hang and no retry loop: 60 s, not 15 (a run against the silent server, 3 s on its own,
	# took 17 s beside the suite on a loaded machine)
	check '[ $(($(date +%s) - t0)) -lt 60 ]' "$spec: the failing run took $(($(date +%s) - t0)) s"
	check '[ -z "$(cur_files "$T/badmail")" ]' "$spec: a failing account has messages"
done
{ echo "accounts:"; acct_yaml alice; acct_yaml downacct port=1; } | cfg_write "$T/half.yaml"
mk -c "$T/half.yaml" sync
expect_rc 1 "one good and one unreachable account"
mk -c "$T/half.yaml" --jobs 2 sync
expect_rc 1 "one good and one unreachable account, --jobs 2"
mk -c "$T/bad1.yaml" check --connect
expect_rc 4 "check --connect with the server unreachable"
# status and verify on a never-synced account: 1 with a message, no network used
{ echo "accounts:"; acct_yaml never root="$T/nevermail" port=1; } | cfg_write "$T/never.yaml"
mk -c "$T/never.yaml" status
expect_rc 1 "status of a never-synced account"
check 'grep -q "never" "$MK_ERR"' "status of a never-synced account says nothing: $(mk_err_line)"
mk -c "$T/never.yaml" verify
expect_rc 1 "verify of a never-synced account"
mk -c "$T/never.yaml" snapshot never
expect_rc 5 "snapshot of a never-synced account"
check 'grep -q "^mailkeep: error: account never: snapshot failed: no mirror at $T/nevermail/never" "$MK_ERR"' \
	"snapshot of a never-synced account: $(mk_err_line)"
check '[ ! -e "$T/nevermail" ]' "status, verify or snapshot created the mirror"
# after a first sync that failed (the account's directory and lock exist, no folder): still no mirror
{ echo "accounts:"; acct_yaml downacct root="$T/downmail" port=1; } | cfg_write "$T/down.yaml"
mk -c "$T/down.yaml" sync
expect_rc 4 "first sync of an unreachable account"
mk -c "$T/down.yaml" status
expect_rc 1 "status after a failed first sync"
check 'grep -q "no mirror" "$MK_ERR"' "status after a failed first sync: $(mk_err_line)"
mk -c "$T/down.yaml" verify
expect_rc 1 "verify after a failed first sync"
# --jobs: the account processes share stderr (a pipe under cron, systemd or `2>&1 | logger`);
# each message must reach it as one whole line, else lines of two accounts run into each
# other ("mailkeep: mailkeep: error: account a3: ..." then a line without its prefix)
{
	echo "accounts:"
	for i in $(seq 1 16); do acct_yaml "down$i" root="$T/downmail" port=1; done
} | cfg_write "$T/down16.yaml"
for i in 1 2 3 4 5; do
	MK_RUNS=$((MK_RUNS + 1))
	timeout -k 5 "$MK_TIMEOUT" "$MAILKEEP" -c "$T/down16.yaml" --jobs 16 sync </dev/null 2>&1 >/dev/null |
		cat >"$T/jobs-lines.$i"
	check '[ "$(grep -c . "$T/jobs-lines.$i")" -eq 16 ] &&
		! grep -vqE "^mailkeep: error: account down[0-9]+: 127\.0\.0\.1:1: cannot connect: Connection refused$" "$T/jobs-lines.$i"' \
		"--jobs 16 run $i: stderr lines not whole: $(grep -vE "^mailkeep: error: account down[0-9]+: 127" "$T/jobs-lines.$i" | head -n 2)"
done

# --- a held lock: 3, within seconds, nothing touched; others synced ---
lock=$A/.mailkeep/lock
bg_start python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "a"); fcntl.flock(f, fcntl.LOCK_EX); time.sleep(200)' "$lock"
holder=$BG_PID
wait_for '! flock -n -x "$lock" true 2>/dev/null'
check '! flock -n -x "$lock" true' "the holder did not take alice's lock"
seed append --folder INBOX --seed 25 --count 2
seed append --user bob --folder INBOX --seed 26 --count 1
inode_list "$A" >"$T/in0"
t0=$(date +%s%N)
mk -c "$cfg" --json sync
ms=$((($(date +%s%N) - t0) / 1000000))
expect_rc 3 "sync with alice's lock held"
# a run that waited for the lock would wait for the holder's 200 s; 4 s was short for a loaded
# machine, with bob synced in the same run
check '[ $ms -lt 60000 ]' "the locked run took $ms ms"
check 'json_ok "$MK_OUT" 3' "locked run: no JSON report with exit_code 3"
check 'grep -q "\"locked\"" "$MK_OUT"' "the JSON report does not say locked"
check 'grep -q "alice" "$MK_ERR" && grep -q "lock" "$MK_ERR"' "the lock message names neither account nor lock: $(mk_err_line)"
inode_list "$A" >"$T/in1"
inode_expect "$T/in0" "$T/in1"
exact "$B" --bob
# the lock is found before the password is asked for (a password_command may prompt)
{ echo "accounts:"; acct_yaml alice password_file=- password_command="touch '$T/pw-asked'; cat '$DC/pass-alice'"; } |
	cfg_write "$T/pwcmd.yaml"
mk -c "$T/pwcmd.yaml" sync
expect_rc 3 "locked sync with a password_command"
check '[ ! -e "$T/pw-asked" ]' "a locked run ran the password_command"
mk -c "$cfg" --jobs 2 sync
expect_rc 3 "--jobs 2 with alice's lock held"
mk -c "$T/half.yaml" sync
expect_rc 1 "one account locked and one unreachable"
bg_kill "$holder"
mk -c "$cfg" sync
expect_rc 0 "sync after the lock went"
exact "$A"

# --- a report that cannot be written fails the run ---
if [ -w /dev/full ]; then
	timeout 60 "$MAILKEEP" -c "$cfg" --json sync </dev/null >/dev/full 2>"$T/full.err"
	rc=$?
	check '[ $rc -eq 1 ]' "--json sync >/dev/full exited $rc"
	check 'grep -q "standard output" "$T/full.err"' "the lost report is not reported: $(head -c 200 "$T/full.err")"
fi
# a reader that goes away early is no error, and the run is not cut short
timeout 60 "$MAILKEEP" -c "$cfg" -vv sync 2>&1 </dev/null | head -n 1 >/dev/null
rc=${PIPESTATUS[0]}
check '[ $rc -eq 0 ]' "sync -vv | head -1 exited $rc"
# ... whichever command, and whatever errno the run's later calls left (the pipe itself is asked)
for c in status help "--json sync"; do
	# shellcheck disable=SC2086
	timeout 60 "$MAILKEEP" -c "$cfg" $c </dev/null 2>"$T/gone.err" | (exec 0<&-; sleep 0.3)
	rc=${PIPESTATUS[0]}
	check '[ $rc -eq 0 ] && ! grep -q "standard output" "$T/gone.err"' "$c into a closed pipe exited $rc: $(head -c 200 "$T/gone.err")"
done

# --- signals in the middle of a first download: prompt, consistent, the rerun is exact ---
for sig in TERM INT HUP; do
	rm -rf "$B"
	res=$(python3 - "$MAILKEEP" "$cfg" "$B" "$sig" <<'PY'
import glob, os, signal, subprocess, sys, time
mk, cfg, acct, sig = sys.argv[1:5]
p = subprocess.Popen([mk, "-c", cfg, "sync", "bob"], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
t_end = time.time() + 60
while time.time() < t_end and p.poll() is None and len(glob.glob(acct + "/Big/tmp/*")) < 3:
    time.sleep(0.002)
t0 = time.time()
p.send_signal(getattr(signal, "SIG" + sig))
try:
    rc = p.wait(10)
except subprocess.TimeoutExpired:
    p.kill(); rc = p.wait()
print(rc, int((time.time() - t0) * 1000))
PY
)
	rc=${res% *}
	ms=${res#* }
	t_log "SIG$sig: exit $rc after $ms ms"
	check '[ "$rc" -eq 0 ] || [ "$rc" -lt 0 ]' "SIG$sig: exit $rc (neither done nor killed by the signal)"
	check '[ "$ms" -lt 2000 ]' "SIG$sig: the run took $ms ms to end"
	mk -c "$cfg" sync bob
	expect_rc 0 "sync after SIG$sig"
	check '[ -z "$(tmp_files "$B")" ]' "files left in tmp/ after the rerun (SIG$sig): $(tmp_files "$B" | head -n 2)"
	exact "$B" --bob
done

# --- a terminal: progress, a summary, and a warning on a line of its own ---
dadm mailbox create -u alice Doomed
mk -c "$cfg" sync alice
expect_rc 0 "sync with a new folder"
dadm mailbox delete -u alice Doomed
seed append --folder Archive --seed 27 --count 3
timeout 120 script -qec "$MAILKEEP -c $cfg sync alice" /dev/null >"$T/tty.out" 2>&1
check 'grep -q "messages" "$T/tty.out"' "no progress line on a terminal"
check 'grep -qE "alice: [0-9]+ new" "$T/tty.out"' "no summary on a terminal"
check 'grep -q "warning:.*Doomed" "$T/tty.out"' "no warning for the deleted folder: $(head -c 300 "$T/tty.out")"
check '! tr "\r" "\n" <"$T/tty.out" | sed "s/^\x1b\[K//" | grep -q ".mailkeep: warning"' \
	"a warning continues the progress line: $(tr '\r' '\n' <"$T/tty.out" | grep -m1 '.mailkeep: warning' | cat -v)"
# redirected, the same run leaves no terminal codes in the log file
seed append --folder Archive --seed 28 --count 2
mk -c "$cfg" sync alice
expect_rc 0 "sync into a log file"
check '! grep -q $'"'"'\r'"'"' "$MK_ERR" "$MK_OUT"' "terminal codes in a redirected log"
timeout 120 script -qec "$MAILKEEP -c $cfg -q sync alice" /dev/null >"$T/tty-q.out" 2>&1
check '[ ! -s "$T/tty-q.out" ]' "-q printed on a terminal: $(head -c 200 "$T/tty-q.out" | cat -v)"
exact "$A" --ignore-local Doomed
t_pass
