#!/usr/bin/env bash
# A mail reader's change that lands between mailkeep's reading of a folder and its renames and
# removals: the folder is read again, never acted on from a listing that no longer holds. The
# reader renames a message to set a flag by link + unlink (the listing sees both names: the
# planner keeps the server's name and would remove the other, the only file left); the
# server's slow EXAMINE answer (fakeimap.py slow-examine: held until the test removes
# $FAKE_LOG.hold) lets the unlink land after the listing, made as soon as -vv says A is listed
# (a fixed sleep was outlasted on a loaded machine). The run must end exact, the message kept (not
# removed and downloaded again).
. "$(dirname "$0")/lib.sh"
t_begin
pf=$(fake_pass)
fake_up slow-examine
root=$T/root
cfg=$T/c.yaml
{ echo "accounts:"; acct_yaml fake root="$root" port="$FAKE_PORT" tls=none user=u password_file="$pf" \
	timeout=10 max_connections=1; } | cfg_write "$cfg"
mk -c "$cfg" sync
expect_rc 0 "first sync"
x=$(file_for "$root/fake" A 2)
check '[ -n "$x" ] && [ -f "$x" ]' "no file of A UID 2 after the first sync"
fl=${x##*:2,}
case $fl in *F*) y=${x%:2,*}:2,${fl/F/} ;; *) y=${x%:2,*}:2,F$fl ;; esac
ino=$(stat -c %i "$x")
ln "$x" "$y"                  # the reader's rename, half done: both names are listed
: >"$FAKE_LOG.hold"
"$MAILKEEP" -c "$cfg" -vv sync >"$T/race.out" 2>"$T/race.err" &
pid=$!
log_wait ': A: [0-9]* files' "$T/race.err" # listed as its EXAMINE goes out; the answer waits for the hold
check 'grep -q ": A: [0-9]* files" "$T/race.err"' "A was never listed: $(tail -n 2 "$T/race.err")"
rm -f "$x"                    # the rename completed: only the reader's name is left
rm -f "$FAKE_LOG.hold"
wait "$pid"
rc=$?
check '[ "$rc" = 0 ]' "the sync during the reader's change exited $rc: $(grep -m 2 'error' "$T/race.err")"
check 'grep -q "changed while it was being synced" "$T/race.err"' "the change during the run was not noticed"
now=$(file_for "$root/fake" A 2)
check '[ -n "$now" ] && [ "$(printf "%s\n" "$now" | wc -l)" = 1 ]' "A UID 2: not one file: [$now]"
check '[ "$now" = "$x" ]' "A UID 2 not back under the server's flags: $now"
check '[ "$(stat -c %i "$now" 2>/dev/null)" = "$ino" ]' "A UID 2 was removed and downloaded again"
CHECKS=$((CHECKS + 1))
python3 "$COMPARE_PY" "$root/fake" --host 127.0.0.1 --port "$FAKE_PORT" --user u --password-file "$pf" \
	>"$T/compare.out" 2>&1 || fail "mirror not exact: $(head -n 1 "$T/compare.out")"
t_pass
