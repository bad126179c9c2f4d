#!/usr/bin/env bash
# push --dry-run plans what the real push does: a folder an earlier folder of the same run creates
# counts for the folders after it. alice has "Sent" and "Sent Items", bob has neither: the push
# creates "Sent" and "Sent Items" joins it (a well-known Sent name, push.md "Folder names"); the
# dry run must say so too, and list the creation once (it said "Sent Items" -> "Sent Items").
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed append --folder 'Sent' --seed 9 --count 2
seed append --folder 'Sent Items' --seed 9 --count 3 --first 2
cfg=$T/config.yaml
{
	echo "accounts:"
	acct_yaml alice
	acct_yaml bob user=bob password_file="$DC/pass-bob"
} | cfg_write "$cfg"

mk -c "$cfg" sync alice
expect_rc 0 "sync of alice"
mk -c "$cfg" push alice bob --dry-run
expect_rc 0 "push --dry-run"
check 'grep -q "folder \"Sent Items\" -> \"Sent\": would append 3 " "$MK_OUT"' \
	"--dry-run maps Sent Items elsewhere than the push will: $(grep 'Sent Items' "$MK_OUT")"
check '[ "$(grep -c "would create folder \"Sent\"" "$MK_OUT")" -eq 1 ]' "--dry-run does not list the creation of Sent once"
grep -o '^folder "[^"]*" -> "[^"]*"' "$MK_OUT" | sort >"$T/plan"

mk -c "$cfg" -v push alice bob
expect_rc 0 "push"
grep -o 'folder "[^"]*" -> "[^"]*"' "$MK_ERR" | sort >"$T/done"
check 'cmp -s "$T/plan" "$T/done"' "the dry run's folder map differs from the push's: $(diff "$T/plan" "$T/done" | tr '\n' ' ')"
check 'grep -q "folder \"Sent Items\" -> \"Sent\": appended 3 " "$MK_ERR"' "Sent Items did not go to Sent"
t_pass
