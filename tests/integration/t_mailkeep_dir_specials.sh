#!/usr/bin/env bash
# What lives in an account's .mailkeep is mailkeep's, and is never followed or waited on:
# - last-run made a FIFO: every sync hung for ever at its end (holding the account lock), and
#   `status` too; now both go on (sync warns), and a last-run chmod'ed 0644 is made 0600 again;
#   a last-run that cannot be written (ENOSPC) is a warning naming the error, not a silent stale record;
# - .mailkeep/gmail (the Gmail store) made a link to a directory outside the mirror: new messages
#   were linked into it and its prune deleted the files there whose names start with a digit (a
#   planted 2023-photo.jpg went); now the link is not followed, nothing outside is touched;
# - a sync in which a folder failed commits a snapshot that says it is partial.
. "$(dirname "$0")/lib.sh"
t_begin
pf=$(fake_pass)

# 1. last-run a FIFO, then a file opened to others
fake_up literal-short-close
root=$T/root
acct=$root/fake
cfg=$T/c.yaml
{ echo "accounts:"; acct_yaml fake root="$root" port="$FAKE_PORT" tls=none user=u password_file="$pf" timeout=10 snapshot=true; } |
	cfg_write "$cfg"
mk -c "$cfg" sync
expect_rc 1 "first sync (folder Bad fails)"
# the snapshot of a partial run says so
check 'git --git-dir="$acct.git" log -1 --format=%B | grep -q "^partial: 1 folder failed in this run"' \
	"the snapshot of a run with a failed folder does not say it is partial: $(git --git-dir="$acct.git" log -1 --format=%s 2>&1)"
check 'git --git-dir="$acct.git" log -1 --format=%s | grep -q "(partial)$"' "no (partial) in the subject"
rm -f "$acct/.mailkeep/last-run"
mkfifo "$acct/.mailkeep/last-run"
timeout 60 "$MAILKEEP" -c "$cfg" sync </dev/null >"$T/s.out" 2>"$T/s.err"
rc=$?
check '[ "$rc" -ne 124 ]' "sync hung on a FIFO last-run"
check '[ "$rc" -eq 1 ]' "sync with a FIFO last-run exited $rc"
check 'grep -q "last-run: not a regular file" "$T/s.err"' "no warning for the FIFO: $(tail -n 1 "$T/s.err")"
timeout 30 "$MAILKEEP" -c "$cfg" status </dev/null >"$T/st.out" 2>"$T/st.err"
rc=$?
check '[ "$rc" -ne 124 ]' "status hung on a FIFO last-run"
check 'grep -q "last run:  unknown (its record is not a regular file)" "$T/st.out"' "status: $(grep 'last run' "$T/st.out")"
rm -f "$acct/.mailkeep/last-run"
mk -c "$cfg" sync
chmod 0644 "$acct/.mailkeep/last-run"
mk -c "$cfg" sync
check '[ "$(stat -c %a "$acct/.mailkeep/last-run")" = 600 ]' "last-run left $(stat -c %a "$acct/.mailkeep/last-run")"
if command -v strace >/dev/null; then
	cp "$acct/.mailkeep/last-run" "$T/last-run.before"
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		strace -f -o /dev/null -e trace=pwrite64 -e inject=pwrite64:error=ENOSPC \
		"$MAILKEEP" -c "$cfg" sync </dev/null >"$T/s.out" 2>"$T/s.err"
	rc=$?
	check '[ "$rc" -eq 1 ]' "sync with an unwritable last-run exited $rc (the folder Bad fails: 1)"
	check 'grep -q "last-run: the record of this run is not kept: No space left on device" "$T/s.err"' \
		"no warning for the last-run that could not be written: $(tail -n 1 "$T/s.err")"
	check 'cmp -s "$T/last-run.before" "$acct/.mailkeep/last-run"' "the last-run record changed although its write failed"
fi
bg_kill "$FAKE_PID"

# 2. the Gmail store a link to outside the mirror
fake_up gmail
root=$T/groot
acct=$root/fake
store=$acct/.mailkeep/gmail
{ echo "accounts:"; acct_yaml fake root="$root" port="$FAKE_PORT" tls=none user=u password_file="$pf" timeout=10; } |
	cfg_write "$cfg"
mk -c "$cfg" sync
expect_rc 0 "first Gmail sync"
OUT=$T/outside
mkdir -p "$OUT"
echo precious >"$OUT/2023-photo.jpg"
echo precious2 >"$OUT/1700000000000000007"
cp -a "$store/." "$OUT/"
ls "$OUT" | sort >"$T/out0"
rm -rf "$store"
ln -s "$OUT" "$store"
touch "$FAKE_LOG.on" "$FAKE_LOG.on3"
mk -c "$cfg" sync
check '[ -f "$OUT/2023-photo.jpg" ] && [ -f "$OUT/1700000000000000007" ]' "a file outside the mirror was deleted"
check 'ls "$OUT" | sort | cmp -s - "$T/out0"' "the directory outside changed: $(ls "$OUT" | sort | comm -3 - "$T/out0" | head -n 3 | tr '\n' ' ')"
check '[ -L "$store" ]' "the link was replaced"
bg_kill "$FAKE_PID"
t_pass
