#!/usr/bin/env bash
# --jobs with more accounts than the process may open files (ulimit -n): every account syncs.
# Each account process used to leave its result file open in the run until the end, so after
# about `ulimit -n` accounts the rest failed with "Too many open files".
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 21 --count 2 --big 0 --folders INBOX,Archive
n=40
cfg=$T/config.yaml
{
	echo "accounts:"
	for i in $(seq 1 $n); do acct_yaml "acct$i" max_connections=1; done
} | cfg_write "$cfg"

# 32 descriptors: plenty for one account (its lock, directories, connection, a result file
# per running account), fewer than the accounts of the run
MK_OUT=$T/mk.out MK_ERR=$T/mk.err
MK_RUNS=$((MK_RUNS + 1))
MK_ARGS_SHOWN="-c $cfg --jobs 4 --json sync (ulimit -n 32)"
(ulimit -n 32 && exec timeout -k 5 "$MK_TIMEOUT" "$MAILKEEP" -c "$cfg" --jobs 4 --json sync) \
	</dev/null >"$MK_OUT" 2>"$MK_ERR"
MK_RC=$?
t_log "mailkeep $MK_ARGS_SHOWN -> exit $MK_RC"
mk_sanity
expect_rc 0 "--jobs 4 over $n accounts with ulimit -n 32"
check '! grep -q "Too many open files" "$MK_ERR"' "ran out of file descriptors: $(mk_err_line)"
python3 - "$MK_OUT" "$n" <<'PY' || fail "JSON report wrong: $(head -c 300 "$MK_OUT")"
import json, sys
d = json.load(open(sys.argv[1]))
accts = d["accounts"]
assert len(accts) == int(sys.argv[2]), len(accts)
bad = [a["name"] for a in accts if a["status"] != "ok" or a["new"] != 4]
assert not bad, bad
PY
exact "$T/mail/acct1"
exact "$T/mail/acct$n"

# An account process killed (here by its own password command) gives no result: the run
# says how it ended, by its signal's name, not a raw wait status ("status 9").
cfg2=$T/killed.yaml
{
	echo "accounts:"
	acct_yaml acct1 max_connections=1
	acct_yaml killed password_file=- password_command="kill -9 \$PPID"
	acct_yaml fds password_file=- password_command="ls -l /proc/self/fd/ >'$T/fds'; cat '$DC/pass-alice'"
} | cfg_write "$cfg2"
mk -c "$cfg2" --jobs 2 sync
expect_rc 1 "--jobs 2 with one account process killed"
check 'grep -q "account killed: account process killed by signal 9 (Killed), no result" "$MK_ERR"' \
	"killed account not named as killed: $(mk_err_line)"
exact "$T/mail/acct1"
exact "$T/mail/fds"
# the result files live in memory and are not inherited by a password command
check '! grep -Eq "deleted|memfd" "$T/fds"' "password command inherited: $(grep -E 'deleted|memfd' "$T/fds")"
t_pass
