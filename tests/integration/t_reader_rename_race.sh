#!/usr/bin/env bash
# A mail reader renames a message file (its own flags) in the instant between mailkeep's check that
# the folder did not change since it was read and mailkeep's rename of that same file (the server
# changed its flags): the rename finds no file. The folder is then read again and planned anew, as
# for a change seen before the renames (t_reader_race), not failed (before: "rename: No such file
# or directory", exit 1, with nothing wrong but a reader at work). The rename is held back 3 s
# with strace's fault injection, the reader's rename lands meanwhile; the end is exact, the message
# kept (same inode), not downloaded again. The same for a removal (a message the server expunged)
# whose file the reader renames meanwhile: removed under its new name in the same run.
. "$(dirname "$0")/lib.sh"
t_begin
command -v strace >/dev/null || fail "strace is not installed (make deps)"
path_account qresync 29 4
exact "$A"
dadm flags add -u alice '\Flagged' mailbox INBOX uid 2
x=$(file_for "$A" INBOX 2)
check '[ -n "$x" ]' "no file of INBOX UID 2"
ino=$(stat -c %i "$x")
# reader_mark UID: a reader's change made earlier (\Deleted toggled by hand): the folder is then
# listed, not read from its state
reader_mark() {
	local y fl
	y=$(file_for "$A" INBOX "$1")
	fl=${y##*:2,}
	case $fl in *T*) mv "$y" "${y%%:2,*}:2,${fl/T/}" ;; *) mv "$y" "${y%%:2,*}:2,${fl}T" ;; esac
}
reader_mark 3
# the run's first rename(2) is its plan's rename of INBOX UID 2 (the only folder that changed);
# LeakSanitizer cannot run under ptrace: off for this one run of a SAN=1 build
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	strace -f -o "$T/strace.out" -e trace=rename -e inject=rename:delay_enter=3000000:when=1 \
	"$MAILKEEP" -c "$cfg" -vv sync >"$T/race.out" 2>"$T/race.err" &
pid=$!
_BG_PIDS+=("$pid")
# mailkeep's rename waits 3 s once strace has written its call (a fixed sleep of 1.5 s could
# come before it: the run's start under strace on a loaded machine)
log_wait 'rename(' "$T/strace.out"
check 'grep -q "rename(" "$T/strace.out"' "the run never reached its rename: $(tail -n 2 "$T/race.err")"
mv "$x" "${x%%:2,*}:2,RS"      # the reader's rename
wait "$pid"
rc=$?
check 'grep -m1 "rename(" "$T/strace.out" | grep -q "INBOX/cur/[^\"]*_2\.mailkeep" && grep -q "ENOENT.*(DELAYED)" "$T/strace.out"' \
	"the race did not happen as meant (the held rename is not INBOX UID 2's, or found its file): $(grep -m1 DELAYED "$T/strace.out")"
check '[ $rc -eq 0 ]' "the sync during the reader's rename exited $rc: $(grep -m 1 'error' "$T/race.err")"
check 'grep -q "INBOX: state loaded (4 messages)" "$T/race.err"' "INBOX not listed: $(grep -m1 'INBOX: state loaded' "$T/race.err")"
check 'grep -q "INBOX.*reading the folder" "$T/race.err"' "INBOX was not read again"
now=$(file_for "$A" INBOX 2)
check '[ -n "$now" ] && [ "$(stat -c %i "$now")" = "$ino" ]' "INBOX UID 2 was downloaded again (or is gone): [$now]"
exact "$A"

# The same for a removal: the server expunged UID 4, the reader renames its file while mailkeep's
# unlink of it waits (the run's second unlink(2): the first is of INBOX's .mailkeep-state.tmp).
# Before, "already gone" was taken for done: the renamed file of the expunged message stayed, and
# the state, written with the folder's times after the reader's rename, had the next runs trust it
# (the file stayed until the folder's daily listing).
dadm expunge -u alice mailbox INBOX uid 4
x=$(file_for "$A" INBOX 4)
check '[ -n "$x" ]' "no file of INBOX UID 4"
reader_mark 3
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	strace -f -o "$T/strace2.out" -e trace=unlink -e inject=unlink:delay_enter=3000000:when=2 \
	"$MAILKEEP" -c "$cfg" -vv sync >"$T/race2.out" 2>"$T/race2.err" &
pid=$!
_BG_PIDS+=("$pid")
second_unlink() { grep "unlink(" "$T/strace2.out" 2>/dev/null | sed -n 2p | grep -q .; }
wait_for second_unlink
check second_unlink "the run never reached its second unlink: $(tail -n 2 "$T/race2.err")"
mv "$x" "${x%%:2,*}:2,RS"      # the reader's rename, while mailkeep's unlink waits
wait "$pid"
rc=$?
check 'grep "unlink(" "$T/strace2.out" | sed -n 2p | grep -q "INBOX/cur/[^\"]*_4\.mailkeep" && grep -q "ENOENT.*(DELAYED)" "$T/strace2.out"' \
	"the race did not happen as meant: $(grep -m1 DELAYED "$T/strace2.out")"
check '[ $rc -eq 0 ]' "the sync during the reader's rename exited $rc: $(grep -m 1 'error' "$T/race2.err")"
exact "$A"
mk -c "$cfg" sync
expect_rc 0 "the next sync"
exact "$A"
t_pass
