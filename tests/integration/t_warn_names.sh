#!/usr/bin/env bash
# A warning names the account and the folder (mailkeep(1), DESCRIPTION): two accounts on one server,
# each with a message whose keywords pass the 4096 bytes kept, in folders of other names, and a
# run of both, also with --jobs 2: each warning about keywords not kept says "account NAME:
# folder "F": UID N". -q leaves them out.
# before: "mailkeep: warning: 127.0.0.1: UID 3: 13 keywords beyond the first 4096 bytes of them are
# not kept", the same server for both accounts: which account's, which folder's message, unknown.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 31 --count 3 --big 0 --folders INBOX,Archive
seed populate --seed 32 --count 3 --big 0 --user bob --folders INBOX,Bobs
cfg=$T/config.yaml
cfg_alice_bob "$cfg"
kws=$(for i in $(seq 1 100); do printf 'Kw%03d_%s ' "$i" "$(printf 'x%.0s' $(seq 1 40))"; done)
kws=${kws% }
dadm flags add -u alice "$kws" mailbox Archive uid 2
dadm flags add -u bob "$kws" mailbox Bobs uid 3
for jobs in 1 2; do
	rm -rf "$T/mail"
	mk -c "$cfg" --jobs "$jobs" sync
	expect_rc 0 "sync --jobs $jobs"
	check '! grep "keywords beyond" "$MK_ERR" | grep -qv "^mailkeep: warning: account [a-z]*: folder "' \
		"--jobs $jobs: a keyword warning names no account and folder: $(grep "keywords beyond" "$MK_ERR" | grep -v ": folder " | head -n 1)"
	check 'grep -q "^mailkeep: warning: account alice: folder \"Archive\": UID 2: [0-9]* keywords beyond" "$MK_ERR"' \
		"--jobs $jobs: alice's warning does not name its account and folder: $(grep -m1 'UID 2' "$MK_ERR")"
	check 'grep -q "^mailkeep: warning: account bob: folder \"Bobs\": UID 3: [0-9]* keywords beyond" "$MK_ERR"' \
		"--jobs $jobs: bob's warning does not name its account and folder: $(grep -m1 'UID 3' "$MK_ERR")"
done
rm -rf "$T/mail"
mk -c "$cfg" -q sync
expect_rc 0 "sync -q"
check '[ ! -s "$MK_ERR" ] && [ ! -s "$MK_OUT" ]' "sync -q printed: $(head -c 200 "$MK_ERR")"
t_pass
