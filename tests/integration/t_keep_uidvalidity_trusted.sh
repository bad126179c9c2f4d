#!/usr/bin/env bash
# deletions: keep, a folder whose messages were all expunged on the server (their files kept, the
# state holding no message), and then a new UIDVALIDITY for it. Its old files must move intact to
# .mailkeep/uidvalidity-<old>/ as for any folder whose UIDVALIDITY changed (docs/design.md). A
# folder read from its state (its directory times unchanged) has a view without the kept files,
# which are not in the state: before, that empty view was taken for "nothing of the old
# UIDVALIDITY to keep", the new one adopted silently, and the old files stayed in cur/ among the
# new UIDVALIDITY's messages, with no warning (a folder that was listed moved them aside).
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 4 --count 3 --big 0
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice deletions=keep max_connections=1; } | cfg_write "$cfg"
A=$T/mail/alice
mk -c "$cfg" sync
expect_rc 0 "initial sync"
old=$(dadm_out mailbox status -u alice uidvalidity Archive | sed 's/.*uidvalidity=//')
check '[ -n "$old" ]' "cannot read Archive's UIDVALIDITY with doveadm"
n_old=$(ls "$A/Archive/cur" | wc -l)
check '[ "$n_old" -gt 0 ]' "Archive mirrored no message"
(cd "$A/Archive/cur" && ls | sort | xargs sha256sum) >"$T/kept.before"
dadm expunge -u alice mailbox Archive all
mk -c "$cfg" sync
expect_rc 0 "sync after the expunge"
exact "$A" --allow-extra-uids
check '[ "$(ls "$A/Archive/cur" | wc -l)" -eq "$n_old" ]' "deletions: keep did not keep Archive's files"

dadm mailbox update -u alice --uid-validity 777 Archive
seed append --folder Archive --seed 61 --count 1
mk -c "$cfg" -vv sync
expect_rc 0 "sync after the UIDVALIDITY change"
check 'grep -q "Archive: state loaded (0 messages, files as recorded)" "$MK_ERR"' \
	"Archive was not read from its state (the case this test is about)"
exact "$A" --allow-extra-uids
check '! ls "$A/Archive/cur" | grep -q "\.${old}_"' \
	"Archive/cur still holds files of the old UIDVALIDITY: $(ls "$A/Archive/cur" | grep "\.${old}_" | head -n 1)"
aside=$A/.mailkeep/uidvalidity-$old/Archive
check '[ -d "$aside/cur" ]' "no old copy at .mailkeep/uidvalidity-$old/Archive"
check '(cd "$aside/cur" && ls | sort | xargs sha256sum) | cmp -s - "$T/kept.before"' \
	"the old copy does not hold the kept files byte for byte"
check 'grep -q "folder \"Archive\": UIDVALIDITY changed" "$MK_ERR"' "no warning that Archive's UIDVALIDITY changed"
mk -c "$cfg" sync
expect_rc 0 "sync after"
exact "$A" --allow-extra-uids
t_pass
