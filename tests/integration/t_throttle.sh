#!/usr/bin/env bash
# A throttling server ([THROTTLED], then a BYE with a "Suggested Backoff Time") makes mailkeep wait
# and retry the folder, saying so; the run ends exact with exit 0, no message lost.
. "$(dirname "$0")/lib.sh"
t_begin
pf=$(fake_pass)
fake_up throttle
root=$T/root
cfg=$T/c.yaml
{ echo "accounts:"; acct_yaml fake root="$root" port="$FAKE_PORT" tls=none user=u password_file="$pf" timeout=5; } |
	cfg_write "$cfg"
t0=$(date +%s)
mk -c "$cfg" sync
expect_rc 0 "sync through throttling"
check '[ $(($(date +%s) - t0)) -lt 30 ]' "the backoff took too long"
check '[ "$(grep -c "throttling" "$MK_ERR")" -ge 3 ]' "the waits were not reported: $(head -c 300 "$MK_ERR")"
check 'grep -q "Bad" "$MK_ERR"' "the report does not name the folder"
CHECKS=$((CHECKS + 1))
python3 "$COMPARE_PY" "$root/fake" --host 127.0.0.1 --port "$FAKE_PORT" --user u --password-file "$pf" \
	>"$T/compare.out" 2>&1 || fail "mirror not exact: $(head -n 1 "$T/compare.out")"
t_pass
