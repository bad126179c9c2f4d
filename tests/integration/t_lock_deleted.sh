#!/usr/bin/env bash
# The lock outlives its file: while a run holds the account's lock, its lock file (even the
# whole .mailkeep directory) is removed; a second run then makes a new lock file, and must
# still find the account locked (the run also holds a flock on the account directory) and
# exit 3 without touching the mirror; so must a push from the account (which reads the mirror the
# run writes). The first run ends as if nothing happened: exact.
# The first run is held up by the server's slow EXAMINE of A (fakeimap.py slow-examine, on its
# second run: until the test removes $FAKE_LOG.hold, so a loaded machine cannot end it early).
. "$(dirname "$0")/lib.sh"
t_begin
pf=$(fake_pass)
fake_up slow-examine
root=$T/root
cfg=$T/c.yaml
{ echo "accounts:"; acct_yaml fake root="$root" port="$FAKE_PORT" tls=none user=u password_file="$pf" \
	timeout=30 max_connections=1
  acct_yaml tgt root="$T/root2" port="$FAKE_PORT" tls=none user=u password_file="$pf" timeout=10; } |
	cfg_write "$cfg"
mk -c "$cfg" sync fake
expect_rc 0 "first sync"
A=$root/fake
check '[ -f "$A/.mailkeep/lock" ]' "no lock file after the first sync"

: >"$FAKE_LOG.hold"
"$MAILKEEP" -c "$cfg" sync fake </dev/null >"$T/slow.out" 2>"$T/slow.err" &
pid=$!
wait_for '! flock -n -s "$A/.mailkeep/lock" true 2>/dev/null' # 2 s were short for a loaded machine
check '! flock -n -s "$A/.mailkeep/lock" true' "the slow run did not take the lock"
rm -rf "$A/.mailkeep"
inode_list "$A" >"$T/inodes0"
mk -c "$cfg" push fake tgt
expect_rc 3 "push while a sync holds the lock, its lock file removed"
check 'grep -q "another mailkeep run holds" "$MK_ERR"' "no lock message from push: $(mk_err_line)"
mk -c "$cfg" sync fake
expect_rc 3 "sync while the first run holds the lock, its lock file removed"
check 'grep -q "another mailkeep run holds $A (its lock file was removed)" "$MK_ERR"' \
	"lock message does not name the account directory: $(mk_err_line)"
inode_list "$A" >"$T/inodes1"
inode_expect "$T/inodes0" "$T/inodes1"
check 'kill -0 "$pid" 2>/dev/null' "the first run ended before the second one was checked (the test proves nothing)"
rm -f "$FAKE_LOG.hold"

wait "$pid"
rc=$?
check '[ "$rc" = 0 ]' "the first run exited $rc: $(tail -n 2 "$T/slow.err")"
mk -c "$cfg" sync fake
expect_rc 0 "sync after the first run"
CHECKS=$((CHECKS + 1))
python3 "$COMPARE_PY" "$A" --host 127.0.0.1 --port "$FAKE_PORT" --user u --password-file "$pf" \
	>"$T/compare.out" 2>&1 || fail "mirror not exact: $(head -n 1 "$T/compare.out")"
t_pass
