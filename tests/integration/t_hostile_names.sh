#!/usr/bin/env bash
# A hostile server's folder names ("../x", "..", "a/../../b", "/abs", ".hidden", "cur" with "/" as
# delimiter; "a/b", "..", "x..y", "cur.tmp", "100%", a control character with ".") all land inside
# <root>/NAME, escaped as the contract says, and nothing is created anywhere else. Names too long
# for the file system (a 300-byte component, a hierarchy over PATH_MAX) fail alone, without a crash.
. "$(dirname "$0")/lib.sh"
t_begin
pf=$(fake_pass)

for sc in names-slash names-dot names-long; do
	fake_up "$sc"
	box=$T/box-$sc
	root=$box/l1/l2/l3/root
	mkdir -p "$box/cwd" "$box/l1/l2/l3"
	cfg=$T/$sc.yaml
	{ echo "accounts:"; acct_yaml fake root="$root" port="$FAKE_PORT" tls=none user=u password_file="$pf" timeout=20; } |
		cfg_write "$cfg"
	before_abs=$(ls -d /abs /x /b /hidden /etc/x 2>/dev/null | tr '\n' ' ')
	find "$box" | sort >"$T/box.before"

	cd "$box/cwd" || fail "cd"
	mk -c "$cfg" sync
	cd "$T" || fail "cd"
	if [ "$sc" = names-slash ]; then
		expect_rc 0 "sync of $sc"
	else
		check '[ $MK_RC -eq 0 ] || [ $MK_RC -eq 1 ]' "sync of $sc: exit $MK_RC, expected 0 or 1: $(mk_err_line)"
	fi
	after_abs=$(ls -d /abs /x /b /hidden /etc/x 2>/dev/null | tr '\n' ' ')
	check '[ "$before_abs" = "$after_abs" ]' "$sc: something was created at the file system root: $after_abs"
	find "$box" | grep -v "^$root/fake\(/\|$\)" | grep -vx "$root" | sort >"$T/box.after"
	check 'cmp -s "$T/box.before" "$T/box.after"' \
		"$sc: created outside <root>/fake: $(comm -13 "$T/box.before" "$T/box.after" | head -n 3 | tr '\n' ' ')"

	if [ "$sc" = names-slash ]; then
		for p in '%2E./x' '%2E.' 'a/%2E./%2E./b' '%/abs' '%2Ehidden' '%63ur' Good INBOX; do
			check '[ -d "$root/fake/$p/cur" ]' "$sc: no maildir at the escaped path $p"
		done
		ignore=()
	elif [ "$sc" = names-long ]; then
		check '[ -d "$root/fake/Good/cur" ] && [ -d "$root/fake/INBOX/cur" ]' "$sc: Good or INBOX not mirrored"
		check 'grep -qF LLLLLLLLLL "$MK_ERR" || [ -d "$root/fake/$(printf "L%.0s" $(seq 300))" ]' \
			"$sc: the 300-byte folder name is neither mirrored nor reported"
		ignore=(--ignore-local "$(printf 'L%.0s' $(seq 300))" "$(printf 'D%.0s' $(seq 250))")
	else
		for p in 'a%2Fb' '%/%/%' '%/hidden' 'x/%/y' '%63ur/%74mp' '100%25' '%/%/%2Fetc' Good INBOX; do
			check '[ -d "$root/fake/$p/cur" ]' "$sc: no maildir at the escaped path $p"
		done
		# a control character is not valid modified UTF-7: mirrored as ctl%01x or refused
		ignore=(--ignore-local 'ctl%01x')
	fi
	CHECKS=$((CHECKS + 1))
	python3 "$COMPARE_PY" "$root/fake" --host 127.0.0.1 --port "$FAKE_PORT" --user u --password-file "$pf" \
		"${ignore[@]}" >"$T/compare.out" 2>&1 || fail "$sc: mirror not exact: $(head -n 1 "$T/compare.out")"

	inode_list "$root/fake" >"$T/inodes0"
	cd "$box/cwd" || fail "cd"
	mk -c "$cfg" sync
	cd "$T" || fail "cd"
	check '[ $MK_RC -eq 0 ] || [ $MK_RC -eq 1 ]' "second sync of $sc: exit $MK_RC: $(mk_err_line)"
	inode_list "$root/fake" >"$T/inodes1"
	inode_expect "$T/inodes0" "$T/inodes1"
	check '! grep -q "SELECT (read-write)" "$FAKE_LOG"' "$sc: mailkeep used SELECT instead of EXAMINE"
	bg_kill "$FAKE_PID"
done
t_pass
