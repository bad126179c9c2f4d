#!/usr/bin/env bash
# A server whose RFC822.SIZE is an estimate (Exchange, hMailServer: every body is held until its
# UID FETCH is answered whole, docs/design.md) and whose connection drops part-way through a
# folder's download, at every run: what the run's completed UID FETCH commands brought is kept, so
# the next run downloads the rest and the mirror converges (bodies held to the end of the whole
# download were all dropped on each failure: the folder was never mirrored).
. "$(dirname "$0")/lib.sh"
t_begin
pf=$(fake_pass)
hm_up rfc822size-estimate-drop hm.log --lifetime 120
root=$T/root
cfg=$T/c.yaml
{ echo "accounts:"; acct_yaml hm root="$root" port="$HM_PORT" tls=none user=u password_file="$pf" \
	timeout=5 max_connections=1; } | cfg_write "$cfg"
bad_files() { find "$root/hm/Bad/cur" -type f 2>/dev/null | wc -l; }

mk -c "$cfg" sync
expect_rc 1 "the run whose connection drops"
check '[ "$(bad_files)" -ge 500 ]' "the first UID FETCH, answered whole, was not kept: $(bad_files) files in Bad"
check '[ -z "$(tmp_files "$root/hm")" ]' "files left in tmp/: $(tmp_files "$root/hm" | head -n 3)"
mk -c "$cfg" sync
expect_rc 0 "the next run"
check '[ "$(bad_files)" -eq 604 ]' "Bad holds $(bad_files) files after the second run, not 604"
# the new messages differ in their UID's digits only: one twice as long holds another answer
sizes=$(find "$root/hm/Bad/cur" -type f -name '*_[1-9][0-9]*.mailkeep*' -exec wc -c {} + | grep -v ' total$' |
	awk 'NR == 1 || $1 < min { min = $1 } $1 > max { max = $1 } END { print min, max }')
check '[ ${sizes#* } -lt $((2 * ${sizes% *})) ]' "Bad's new messages are from ${sizes% *} to ${sizes#* } bytes long"
bg_kill "$HM_PID"
t_pass
