#!/usr/bin/env bash
# A server that lists one folder twice in the same LIST (INBOX again as "inbox", "Dup" twice, the
# second line with \Sent; Cyrus has listed shared folders twice): each is one folder, mirrored once,
# exit 0. It was taken for two folders mapping to one directory, the second failed on every run.
. "$(dirname "$0")/lib.sh"
t_begin
pf=$(fake_pass)
fake_up names-twice
root=$T/root
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml fake root="$root" port="$FAKE_PORT" tls=none user=u password_file="$pf" timeout=20; } |
	cfg_write "$cfg"
mk -c "$cfg" sync
expect_rc 0 "sync of a server listing folders twice"
check '! grep -q "same directory" "$MK_ERR"' "a folder listed twice was taken for two: $(mk_err_line)"
for p in INBOX Dup Good; do
	check '[ "$(ls "$root/fake/$p/cur" | wc -l)" -eq 2 ]' "$p: not mirrored with its 2 messages"
done
check '[ "$(find "$root/fake" -name cur | wc -l)" -eq 3 ]' "other folders mirrored: $(find "$root/fake" -name cur)"
CHECKS=$((CHECKS + 1))
python3 "$COMPARE_PY" "$root/fake" --host 127.0.0.1 --port "$FAKE_PORT" --user u --password-file "$pf" \
	>"$T/compare.out" 2>&1 || fail "mirror not exact: $(head -n 1 "$T/compare.out")"

inode_list "$root/fake" >"$T/inodes0"
mk -c "$cfg" sync
expect_rc 0 "second sync"
inode_list "$root/fake" >"$T/inodes1"
inode_expect "$T/inodes0" "$T/inodes1"
bg_kill "$FAKE_PID"
t_pass
