#!/usr/bin/env bash
# A broken server whose FETCH responses lack UIDs must not make mailkeep take the folder for empty
# and delete the local copy: the folder fails (exit 1), its files stay, the other folders sync.
. "$(dirname "$0")/lib.sh"
t_begin
pf=$(fake_pass)
fake_up fetch-no-uid
root=$T/root
cfg=$T/c.yaml
{ echo "accounts:"; acct_yaml fake root="$root" port="$FAKE_PORT" tls=none user=u password_file="$pf" timeout=5; } |
	cfg_write "$cfg"
mk -c "$cfg" sync
expect_rc 0 "first sync from a well-behaved server"
n=$(ls "$root/fake/Bad/cur" | wc -l)
check '[ "$n" -gt 0 ]' "nothing mirrored in Bad"
touch "$FAKE_LOG.on"
mk -c "$cfg" sync
expect_rc 1 "sync while Bad's FETCH responses lack UIDs"
check 'grep -qF Bad "$MK_ERR"' "the error does not name Bad: $(mk_err_line)"
check '[ "$(ls "$root/fake/Bad/cur" | wc -l)" -eq "$n" ]' "files of Bad were removed"
rm -f "$FAKE_LOG.on"
mk -c "$cfg" sync
expect_rc 0 "sync after the server recovered"
check '[ "$(ls "$root/fake/Bad/cur" | wc -l)" -eq "$n" ]' "Bad changed after recovery"
t_pass
