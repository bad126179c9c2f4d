#!/usr/bin/env bash
# A folder the server lists but refuses to open, whose child folder is mirrored (Cyrus: a shared
# folder with the lookup right only, readable children; simulated on Dovecot by making the
# folder's cur/ unreadable to the server). A folder's Maildir is made only once EXAMINE succeeded,
# and only after its state (docs/design.md): its directory, made as the child's parent, must not
# get cur/, new/ and tmp/ on a later run either (before: the second run made them before EXAMINE,
# and left an empty Maildir without a state that no run removed or warned about, and that push
# sent as a folder). Once the server lets it be read, it is mirrored exact.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 7 --count 3 --big 0 --folders INBOX,Team,Team/Docs
cfg=$T/config.yaml
cfg_alice_bob "$cfg"
A=$T/mail/alice
chmod 000 "$MAIL_ROOT/Team/cur"

for run in 1 2 3; do
	mk -c "$cfg" sync alice
	expect_rc 1 "sync $run with Team refused"
	check 'grep -q "folder \"Team\"" "$MK_ERR"' "run $run: no error naming Team: $(mk_err_line)"
	check '[ -d "$A/Team/Docs/cur" ] && [ -s "$A/Team/Docs/.mailkeep-state" ]' "run $run: Team/Docs not mirrored"
	for sub in cur new tmp; do
		check '[ ! -e "$A/Team/$sub" ]' \
			"run $run: Team/$sub made although the server never let Team be opened (no state: $(ls -A "$A/Team" | tr '\n' ' '))"
	done
	exact "$A" --folders-excluded Team
done
# push sends the child only: Team's directory holds no Maildir of its own
mk -c "$cfg" -v push alice bob
expect_rc 0 "push"
check '! grep -q "folder \"Team\"" "$MK_ERR"' "push took Team's directory for a folder: $(grep -m1 'folder "Team"' "$MK_ERR")"

chmod 700 "$MAIL_ROOT/Team/cur"
mk -c "$cfg" sync alice
expect_rc 0 "sync once Team can be read"
exact "$A"
check '[ -s "$A/Team/.mailkeep-state" ]' "Team has no state"
t_pass
