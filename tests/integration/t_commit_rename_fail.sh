#!/usr/bin/env bash
# The end-of-run commit cannot rename a new message from tmp/ into cur/ (EIO, injected with strace):
# that folder keeps its previous state, the run exits 1 naming the error, tmp/ is left empty (the
# message that stayed there removed, the one renamed kept), and the next run ends exact with no
# duplicate: nothing lost, nothing twice. Then every syncfs fails (EIO): nothing is renamed into
# cur/, no state changes, tmp/ is left empty, exit 1; the next run ends exact.
. "$(dirname "$0")/lib.sh"
t_begin
command -v strace >/dev/null || fail "strace is not installed (make deps)"
path_account qresync 29 4
state0=$(cat "$A/INBOX/.mailkeep-state")
seed append --folder INBOX --seed 291 --count 2
# one connection, no flag change: the run's first renames are the commit's two (tmp/ -> cur/)
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	strace -f -o "$T/strace.out" -e trace=rename -e inject=rename:error=EIO:when=1 \
	"$MAILKEEP" -c "$cfg" sync >"$T/fail.out" 2>"$T/fail.err"
rc=$?
check '[ $rc -eq 1 ]' "a run whose commit could not rename a message exited $rc, expected 1: $(tail -n 2 "$T/fail.err")"
check 'grep -q "/INBOX/cur/.*: rename: Input/output error" "$T/fail.err"' "the failed rename was not named: $(head -n 3 "$T/fail.err")"
check 'grep -q "could not be made durable" "$T/fail.err"' "the uncommitted folder was not reported: $(tail -n 2 "$T/fail.err")"
n_fail=$(grep -c '^[0-9]* *rename(.*/INBOX/tmp/.*= -1 EIO' "$T/strace.out")
n_ok=$(grep -c '^[0-9]* *rename(.*/INBOX/tmp/.*/INBOX/cur/.*= 0$' "$T/strace.out")
check '[ "$n_fail" -eq 1 ] && [ "$n_ok" -eq 1 ]' "expected one failed and one done rename from tmp/, got $n_fail and $n_ok"
check '[ "$(cat "$A/INBOX/.mailkeep-state")" = "$state0" ]' "INBOX's state changed although its commit failed"
check '[ -z "$(ls -A "$A/INBOX/tmp")" ]' "files left in tmp/: $(ls -A "$A/INBOX/tmp" | head -n 3)"
check '[ ! -e "$A/INBOX/.mailkeep-state.tmp" ]' "the uncommitted .tmp state was left"
check '[ "$(ls "$A/INBOX/cur" | wc -l)" -eq 5 ]' "cur/ should hold the 4 old messages and the one renamed: $(ls "$A/INBOX/cur" | wc -l)"
mk -c "$cfg" sync
expect_rc 0 "the run after the failed commit"
exact "$A"
check '[ "$(ls "$A/INBOX/cur" | wc -l)" -eq 6 ]' "after the next run cur/ should hold 6 files: $(ls "$A/INBOX/cur" | wc -l)"

# every syncfs fails: the new message is never renamed, the flag change stays undone in the state
seed append --folder INBOX --seed 292 --count 1
dadm flags add -u alice '\Flagged' mailbox INBOX uid 1
state1=$(cat "$A/INBOX/.mailkeep-state")
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	strace -f -o /dev/null -e trace=syncfs -e inject=syncfs:error=EIO \
	"$MAILKEEP" -c "$cfg" sync >"$T/fail2.out" 2>"$T/fail2.err"
rc=$?
check '[ $rc -eq 1 ]' "a run whose syncs failed exited $rc, expected 1: $(tail -n 2 "$T/fail2.err")"
check 'grep -q "could not be made durable.*Input/output error" "$T/fail2.err"' "the failed sync was not reported: $(tail -n 2 "$T/fail2.err")"
check '[ "$(cat "$A/INBOX/.mailkeep-state")" = "$state1" ]' "INBOX's state changed although its sync failed"
check '[ -z "$(ls -A "$A/INBOX/tmp")" ]' "files left in tmp/ after the failed sync: $(ls -A "$A/INBOX/tmp" | head -n 3)"
check '[ "$(ls "$A/INBOX/cur" | wc -l)" -eq 6 ]' "a message was renamed into cur/ without a sync: $(ls "$A/INBOX/cur" | wc -l) files"
mk -c "$cfg" sync
expect_rc 0 "the run after the failed syncs"
exact "$A"
check '[ "$(ls "$A/INBOX/cur" | wc -l)" -eq 7 ]' "after the next run cur/ should hold 7 files: $(ls "$A/INBOX/cur" | wc -l)"
t_pass
