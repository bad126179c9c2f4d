#!/usr/bin/env bash
# Gmail dedupe turned off on a mirror made with it: the store (.mailkeep/gmail/<X-GM-MSGID>) keeps
# its links of the messages synced before, and a message that then leaves every folder leaves the
# store too, as with dedupe on (mailkeep.yaml(5), gmail_dedupe). Before, the store was pruned only
# while gmail_dedupe was on: after turning it off, every message deleted on the server stayed in
# the store for good, a hidden copy nothing would ever remove.
. "$(dirname "$0")/lib.sh"
t_begin
pf=$(fake_pass)
fake_up gmail
base=1700000000000000001 # X-GM-MSGID of M<k> is base + k (fakeimap.py)
root=$T/root
acct=$root/fake
store=$acct/.mailkeep/gmail
cfg=$T/c.yaml
write_cfg() {
	{ echo "accounts:"; acct_yaml fake root="$root" port="$FAKE_PORT" tls=none user=u password_file="$pf" \
		timeout=10 "$@"; } | cfg_write "$cfg"
}

exact_fake() {
	CHECKS=$((CHECKS + 1))
	if ! python3 "$COMPARE_PY" "$1" --host 127.0.0.1 --port "$FAKE_PORT" --user u --password-file "$pf" \
		>"$T/compare.out" 2>&1; then
		sed 's/^/#   /' "$T/compare.out" | head -n 20 >&2
		fail "$2: mirror $(basename "$1") not exact: $(head -n 1 "$T/compare.out")"
	fi
}

m5=$((base + 5))
m6=$((base + 6))
write_cfg
mk -c "$cfg" sync
expect_rc 0 "first sync, gmail_dedupe on"
exact_fake "$acct" "after the first sync"
check '[ -e "$store/$m6" ] && [ -e "$store/$m5" ]' "M5 or M6 not in the store after the first sync"

# stage 3: M6 leaves every folder (All Mail and Personal), M5 leaves Work only
write_cfg gmail_dedupe=false
touch "$FAKE_LOG.on" "$FAKE_LOG.on3"
mk -c "$cfg" sync
expect_rc 0 "sync with gmail_dedupe: false after M6 left every folder"
exact_fake "$acct" "after stage 3 with gmail_dedupe: false"
check '[ ! -e "$store/$m6" ]' "M6 is still in the store after leaving every folder (gmail_dedupe: false)"
check '[ -e "$store/$m5" ]' "the store lost M5, which All Mail still holds"
t_pass
