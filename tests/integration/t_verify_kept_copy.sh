#!/usr/bin/env bash
# verify on the kept copy of a folder deleted on the server (its state says "orphaned 1"): a file
# a mail reader changed there (flags added by a rename) is printed as a note ("... (a kept copy of
# a folder no longer on the server: no sync changes it)"), not counted as a problem: verify exits
# 0, also after another sync (which leaves the copy alone); a difference in a folder still on the
# server is still a problem (exit 1), and the note stays a note next to it. verify -q leaves the
# notes out (errors only): nothing printed when the kept copy's notes are all there is.
# before: the difference was a problem: every later verify exited 1, and no sync could repair it.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 23 --count 3 --big 0 --folders "INBOX,Archive,R&D"
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice; } | cfg_write "$cfg"
A=$T/mail/alice
mk -c "$cfg" sync
expect_rc 0 "initial sync"
exact "$A"
dadm mailbox delete -u alice 'R&D'
mk -c "$cfg" sync
expect_rc 0 "sync after the server deleted R&D"
check 'grep -q "^orphaned 1" "$A/R&D/.mailkeep-state"' "the state of R&D is not marked orphaned"
mk -c "$cfg" verify
expect_rc 0 "verify of the untouched kept copy"

# a reader marks a message of the kept copy as seen
f=""
for g in "$A/R&D"/cur/*; do case ${g##*:2,} in *S*) ;; *) f=$g; break ;; esac; done
check '[ -n "$f" ]' "no message without \\Seen in R&D"
fl=$(printf '%sS' "${f##*:2,}" | fold -w1 | sort | tr -d '\n')
mv "$f" "${f%:2,*}:2,$fl" || fail "cannot rename $f"
for run in 1 2; do
	mk -c "$cfg" verify
	expect_rc 0 "verify $run of the kept copy a reader changed"
	check 'grep -q "^R&D: note: .*flags.*(a kept copy of a folder no longer on the server: no sync changes it)$" "$MK_OUT"' \
		"verify $run: the change is not a note: $(tr '\n' ' ' <"$MK_OUT")"
	check 'grep -q "account alice: 0 problems" "$MK_OUT"' "verify $run counts problems: $(tr '\n' ' ' <"$MK_OUT")"
	mk -c "$cfg" -q verify
	expect_rc 0 "verify -q $run of the kept copy a reader changed"
	check '[ ! -s "$MK_OUT" ]' "verify -q $run printed the kept copy's note: $(tr '\n' ' ' <"$MK_OUT")"
	mk -c "$cfg" sync
	expect_rc 0 "sync $run after the reader's change"
	check '[ -e "${f%:2,*}:2,$fl" ]' "sync $run changed the kept copy"
done

# a reader's change in a folder still on the server is a problem (the next sync repairs it)
g=$(ls "$A/Archive/cur" | head -n 1)
mv "$A/Archive/cur/$g" "$A/Archive/cur/${g%%:2,*}:2,FRST"
mk -c "$cfg" verify
expect_rc 1 "verify with a changed file in a live folder"
check 'grep -q "^Archive: .*flags \"FRST\"" "$MK_OUT"' "the live folder's change is not reported: $(tr '\n' ' ' <"$MK_OUT")"
check 'grep -q "account alice: 1 problems\?$" "$MK_OUT"' "not exactly 1 problem: $(tr '\n' ' ' <"$MK_OUT")"
check 'grep -q "^R&D: note: " "$MK_OUT"' "the kept copy's note is gone: $(tr '\n' ' ' <"$MK_OUT")"
mk -c "$cfg" sync
expect_rc 0 "sync repairing the live folder"
mk -c "$cfg" verify
expect_rc 0 "verify after the repair"
t_pass
