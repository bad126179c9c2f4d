#!/usr/bin/env bash
# push --dry-run plans what the real push does, folder by folder:
#  - a folder an earlier folder of the same run creates counts for the folders after it: alice has
#    "Sent" and "Sent Items", bob has neither; the push creates "Sent" and "Sent Items" joins it (a
#    well-known Sent name, push.md "Folder names"); the dry run said "Sent Items" -> "Sent Items";
#  - a target level that is \Noselect (a parent deleted while it had a child), with two source
#    folders mapped to it (push_map): made a folder once, as the real push does (CREATE for the
#    first, the second joins it); the dry run listed its creation twice.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed append --folder 'Sent' --seed 9 --count 2
seed append --folder 'Sent Items' --seed 9 --count 3 --first 2
seed append --folder 'Old' --seed 3 --count 2
seed append --folder 'Older' --seed 4 --count 2
seed append --folder 'Arch' --user bob --seed 5 --count 1
seed append --folder 'Arch/Kid' --user bob --seed 6 --count 1
dadm mailbox delete -u bob Arch
dadm_out mailbox list -u bob >"$T/list"
check 'grep -qx "Arch/Kid" "$T/list"' "the child Arch/Kid went with its parent"
cfg=$T/config.yaml
cfg_alice_bob "$cfg" raw='push_map:' raw='  "Old": "Arch"' raw='  "Older": "Arch"'

mk -c "$cfg" sync alice
expect_rc 0 "sync of alice"
mk -c "$cfg" push alice bob --dry-run
expect_rc 0 "push --dry-run"
check 'grep -q "folder \"Sent Items\" -> \"Sent\": would append 3 " "$MK_OUT"' \
	"--dry-run maps Sent Items elsewhere than the push will: $(grep 'Sent Items' "$MK_OUT")"
for f in Sent Arch; do
	check '[ "$(grep -c "would create folder \"$f\"" "$MK_OUT")" -eq 1 ]' \
		"--dry-run does not list the creation of $f once: $(grep -c "would create folder \"$f\"" "$MK_OUT")"
done
check 'grep -q "folder \"Older\" -> \"Arch\": would append 2 " "$MK_OUT"' "--dry-run: $(grep Older "$MK_OUT")"
grep -o '^folder "[^"]*" -> "[^"]*"' "$MK_OUT" | sort >"$T/plan"
# -v repeated after the arguments, as after any other command (-vvv too): a trace, the same plan
mk -c "$cfg" push alice bob --dry-run -vvv
expect_rc 0 "push --dry-run -vvv"
check 'grep -q "C: .* EXAMINE" "$MK_ERR"' "push --dry-run -vvv gives no protocol trace: $(mk_err_line)"
check 'cmp -s "$T/plan" <(grep -o "^folder \"[^\"]*\" -> \"[^\"]*\"" "$MK_OUT" | sort)' "push --dry-run -vvv plans otherwise"

mk -c "$cfg" -v push alice bob
expect_rc 0 "push"
grep -o 'folder "[^"]*" -> "[^"]*"' "$MK_ERR" | sort >"$T/done"
check 'cmp -s "$T/plan" "$T/done"' "the dry run's folder map differs from the push's: $(diff "$T/plan" "$T/done" | tr '\n' ' ')"
check 'grep -q "folder \"Sent Items\" -> \"Sent\": appended 3 " "$MK_ERR"' "Sent Items did not go to Sent"
check '[ "$(grep -c "\"Arch\" (new)" "$MK_ERR")" -eq 1 ]' "the push did not create Arch once: $(grep Arch "$MK_ERR" | tr '\n' ' ')"
t_pass
