#!/usr/bin/env bash
# The end-of-run commit cannot rename a new message from tmp/ into cur/ (EIO, injected with strace):
# that folder keeps its previous state, the run exits 1 naming the error, tmp/ is left empty (the
# message that stayed there removed, the one renamed kept), and the next run ends exact with no
# duplicate: nothing lost, nothing twice. Then every syncfs fails (EIO): nothing is renamed into
# cur/, no state changes, tmp/ is left empty, exit 1; the next run ends exact. Then only the last
# syncfs fails (the one after the states were renamed into place): the run says so and exits 1
# instead of a silent success, the states stay, the next run changes no file.
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

# the last syncfs fails: the run's early one (in a thread of its own: strace counts calls per
# thread), then the commit's three in the main thread, whose third fails
seed append --folder INBOX --seed 293 --count 1
dadm flags add -u alice '\Answered' mailbox INBOX uid 2
state2=$(cat "$A/INBOX/.mailkeep-state")
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	strace -f -o "$T/strace3.out" -e trace=syncfs -e inject=syncfs:error=EIO:when=3 \
	"$MAILKEEP" -c "$cfg" sync >"$T/fail3.out" 2>"$T/fail3.err"
rc=$?
n_sync=$(grep -c '^[0-9]* *syncfs(' "$T/strace3.out")
check '[ "$n_sync" -eq 4 ] && grep "^[0-9]* *syncfs(" "$T/strace3.out" | tail -n 1 | grep -q "= -1 EIO"' "expected 4 syncfs calls, the last failed: $(grep -c syncfs "$T/strace3.out"): $(tail -n 1 "$T/strace3.out")"
check '[ $rc -eq 1 ]' "a run whose last sync failed exited $rc, expected 1: $(tail -n 2 "$T/fail3.err")"
check 'grep -q "could not be made durable.*syncfs: Input/output error" "$T/fail3.err"' "the failed last sync was not reported: $(tail -n 2 "$T/fail3.err")"
check '[ "$(cat "$A/INBOX/.mailkeep-state")" != "$state2" ]' "INBOX's state should be in place (renamed before the last sync)"
check '[ -z "$(ls -A "$A/INBOX/tmp")" ] && [ ! -e "$A/INBOX/.mailkeep-state.tmp" ]' "files left in tmp/ or a .tmp state: $(ls -A "$A/INBOX/tmp" | head -n 3)"
exact "$A"
inode_list "$A" >"$T/ino3a"
mk -c "$cfg" sync
expect_rc 0 "the run after the failed last sync"
inode_list "$A" >"$T/ino3b"
check 'cmp -s "$T/ino3a" "$T/ino3b"' "the run after the failed last sync changed files: $(diff "$T/ino3a" "$T/ino3b" | head -n 3 | tr '\n' ' ')"
t_pass
