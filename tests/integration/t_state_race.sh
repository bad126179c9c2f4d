#!/usr/bin/env bash
# A mail reader changes a folder while a run is under way (here: renames a message file while the
# end-of-run commit waits in syncfs, made slow with strace's fault injection). The run must not
# record a state that would have the next run take the folder's files from it: right after the run
# the state is either not trusted or names only files that exist (compare.py checks this invariant
# for every state), and the next run, with a server change in the same folder, ends exact.
. "$(dirname "$0")/lib.sh"
t_begin
command -v strace >/dev/null || fail "strace is not installed (make deps)"
path_account qresync 23 6
seed append --folder INBOX --seed 231 --count 1
f2=$(file_for "$A" INBOX 2)
check '[ -n "$f2" ]' "no file of UID 2 in INBOX"
n0=$(ls "$A/INBOX/cur" | wc -l)
# every syncfs waits 1.5 s: the new message is in cur/ after its batch's, the commit's come after
# (LeakSanitizer cannot run under ptrace: off for this one run of a SAN=1 build)
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	strace -f -o /dev/null -e trace=syncfs -e inject=syncfs:delay_enter=1500000 \
	"$MAILKEEP" -c "$cfg" sync >"$T/race.out" 2>"$T/race.err" &
pid=$!
_BG_PIDS+=("$pid")
# the reader's rename once the new message is in cur/ (INBOX done, the commit next): a fixed sleep
# could come before the run had read INBOX (its start under strace on a loaded machine)
wait_for '[ "$(ls "$A/INBOX/cur" | wc -l)" -gt "$n0" ]'
check '[ "$(ls "$A/INBOX/cur" | wc -l)" -gt "$n0" ]' "the new message never reached INBOX/cur: $(tail -n 2 "$T/race.err")"
mv "$f2" "${f2%%:2,*}:2,FT"
wait "$pid"
rc=$?
check '[ $rc -eq 0 ]' "racing run exited $rc: $(tail -n 2 "$T/race.err")"
# interrupted-like check: contents and dates right, flags may be stale; a trusted state must be true
exact "$A" --partial
dadm flags add -u alice '\Answered' mailbox INBOX uid 3
mk -c "$cfg" -vv sync
expect_rc 0 "sync after the race"
check '! grep -q "INBOX: state loaded (.*files as recorded)" "$MK_ERR"' "INBOX read from a state written across a reader's change"
exact "$A"
t_pass
