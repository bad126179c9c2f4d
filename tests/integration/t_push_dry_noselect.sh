#!/usr/bin/env bash
# push --dry-run over a target level that is \Noselect (a parent deleted while it had a child):
# two source folders mapped to it (push_map) make it a folder once, as the real push does (CREATE
# for the first, the second joins it); the dry run listed its creation twice and counted two.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed append --folder 'Old' --seed 3 --count 2
seed append --folder 'Older' --seed 4 --count 2
seed append --folder 'Arch' --user bob --seed 5 --count 1
seed append --folder 'Arch/Kid' --user bob --seed 6 --count 1
dadm mailbox delete -u bob Arch
dadm_out mailbox list -u bob >"$T/list"
check 'grep -qx "Arch/Kid" "$T/list"' "the child Arch/Kid went with its parent"
cfg=$T/config.yaml
{
	echo "accounts:"
	acct_yaml alice raw='push_map:' raw='  "Old": "Arch"' raw='  "Older": "Arch"'
	acct_yaml bob user=bob password_file="$DC/pass-bob"
} | cfg_write "$cfg"

mk -c "$cfg" sync alice
expect_rc 0 "sync of alice"
mk -c "$cfg" push alice bob --dry-run
expect_rc 0 "push --dry-run"
check '[ "$(grep -c "would create folder \"Arch\"" "$MK_OUT")" -eq 1 ]' \
	"--dry-run does not list the creation of Arch once: $(grep -c 'would create folder "Arch"' "$MK_OUT")"
check 'grep -q "folder \"Older\" -> \"Arch\": would append 2 " "$MK_OUT"' "--dry-run: $(grep Older "$MK_OUT")"
mk -c "$cfg" -v push alice bob
expect_rc 0 "push"
check '[ "$(grep -c "\"Arch\" (new)" "$MK_ERR")" -eq 1 ]' "the push did not create Arch once: $(grep Arch "$MK_ERR" | tr '\n' ' ')"
t_pass
