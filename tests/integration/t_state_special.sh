#!/usr/bin/env bash
# A folder's .mailkeep-state that is not a regular file: a FIFO made the run hang for ever in
# open() (no timeout applies there: a cron run held the account's lock until killed), and a
# symbolic link was followed for reading (a file outside the mirror, /dev/zero). Neither is read:
# the run warns, rebuilds the state from the files and the server, and replaces it with a private
# regular file; the mirror stays exact and nothing outside it changes.
. "$(dirname "$0")/lib.sh"
t_begin
pf=$(fake_pass)
hm_up baseline hm.log --lifetime 120
cfg=$T/c.yaml
{ echo "accounts:"; acct_yaml st root="$T/mail" port="$HM_PORT" tls=none ca_file=- user=u password_file="$pf" \
	timeout=5; } | cfg_write "$cfg"
A=$T/mail/st
mk -c "$cfg" sync
expect_rc 0 "first sync"
cp "$A/A/.mailkeep-state" "$T/state.A"

OUT=$T/outside
mkdir -p "$OUT"
cp "$T/state.A" "$OUT/victim"
for kind in fifo link-outside link-zero; do
	rm -f "$A/A/.mailkeep-state"
	case $kind in
	fifo) mkfifo -m 600 "$A/A/.mailkeep-state" ;;
	link-outside) ln -s "$OUT/victim" "$A/A/.mailkeep-state" ;;
	link-zero) ln -s /dev/zero "$A/A/.mailkeep-state" ;;
	esac
	before=$(cd "$OUT" && find . -printf '%p %s %T@\n' | sort)
	MK_TIMEOUT=30 mk -c "$cfg" sync
	check '[ $MK_RC -ne 124 ] && [ $MK_RC -ne 137 ]' "state a $kind: the run hung (killed after 30 s)"
	expect_rc 0 "state a $kind"
	check 'grep -qF "rebuilding the state" "$MK_ERR"' "state a $kind: no warning: $(mk_err_line)"
	check '[ -f "$A/A/.mailkeep-state" ] && [ ! -L "$A/A/.mailkeep-state" ]' \
		"state a $kind: not replaced by a regular file"
	check '[ "$(stat -c %a "$A/A/.mailkeep-state")" = 600 ]' "state a $kind: the new state is not 0600"
	after=$(cd "$OUT" && find . -printf '%p %s %T@\n' | sort)
	check '[ "$before" = "$after" ]' "state a $kind: something outside the mirror changed"
	check 'cmp -s "$OUT/victim" "$T/state.A"' "state a $kind: the file outside was changed"
	CHECKS=$((CHECKS + 1))
	python3 "$COMPARE_PY" "$A" --host 127.0.0.1 --port "$HM_PORT" --user u --password-file "$pf" >"$T/compare.out" 2>&1 ||
		fail "state a $kind: mirror not exact: $(head -n 1 "$T/compare.out")"
done
t_pass
