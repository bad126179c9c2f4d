#!/usr/bin/env bash
# A server that breaks mid-message (a literal announcing more bytes than it sends then closing or
# going silent, a literal announcing fewer bytes than it sends, a TCP reset, an absurd literal
# size): mailkeep exits 1 without crashing, names the folder, keeps no torn or wrong message, and
# the other folders are still synced exactly.
. "$(dirname "$0")/lib.sh"
t_begin
pf=$(fake_pass)

for sc in literal-short-close literal-long reset-mid huge-literal literal-short-hang; do
	fake_up "$sc"
	root=$T/root-$sc
	cfg=$T/$sc.yaml
	{ echo "accounts:"; acct_yaml fake root="$root" port="$FAKE_PORT" tls=none user=u password_file="$pf" timeout=3; } |
		cfg_write "$cfg"
	t0=$(date +%s)
	mk -c "$cfg" sync
	expect_rc 1 "$sc"
	check '[ $(($(date +%s) - t0)) -lt 60 ]' "$sc: the run took too long"
	check 'grep -qF Bad "$MK_ERR"' "$sc: the error does not name the folder Bad: $(mk_err_line)"
	check 'grep -qF fake "$MK_ERR"' "$sc: the error does not name the account: $(mk_err_line)"
	CHECKS=$((CHECKS + 1))
	python3 "$COMPARE_PY" "$root/fake" --host 127.0.0.1 --port "$FAKE_PORT" --user u --password-file "$pf" \
		--ignore-local Bad >"$T/compare.out" 2>&1 ||
		fail "$sc: the other folders are not exact: $(head -n 1 "$T/compare.out")"
	# whatever is in Bad/ must be right
	for f in "$root/fake/Bad"/cur/* "$root/fake/Bad"/new/*; do
		[ -f "$f" ] || continue
		uid=${f##*,U=}
		uid=${uid%%:*}
		python3 "$FAKEIMAP_PY" --scenario "$sc" --print Bad "$uid" | sed 's/\r$//' >"$T/expected"
		check 'cmp -s "$f" "$T/expected"' "$sc: Bad holds a wrong file for UID $uid: ${f##*/}"
	done
	check '[ -z "$(tmp_files "$root/fake")" ]' "$sc: files left in tmp/"
	bg_kill "$FAKE_PID"
done
t_pass
