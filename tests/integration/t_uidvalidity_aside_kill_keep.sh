#!/usr/bin/env bash
# deletions: keep, a folder whose messages were all expunged on the server (their files kept, the
# state holding no message), then a new UIDVALIDITY, and the run that moves the old copy aside killed
# just after it removed the move's mark: the state alone is left in the folder. The next run must
# finish the move (the state into the old copy) and say that the UIDVALIDITY changed, as for a folder
# with messages in its state (t_uidvalidity_aside_kill). Before, the state's 0 messages and the folder's
# empty cur/ and new/ were taken for "nothing of the old UIDVALIDITY to keep": the new UIDVALIDITY was
# adopted silently, the old copy left without its state, and no warning ever told of it.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 4 --count 3 --big 0
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice deletions=keep max_connections=1 "raw=folders: {include: [Archive]}"; } |
	cfg_write "$cfg"
A=$T/mail/alice
preload_shims crash_inject
mk -c "$cfg" sync
expect_rc 0 "initial sync"
uv_get old Archive
n_old=$(ls "$A/Archive/cur" | wc -l)
check '[ "$n_old" -gt 0 ]' "Archive mirrored no message"
(cd "$A/Archive/cur" && ls | sort | xargs sha256sum) >"$T/kept.before"
dadm expunge -u alice mailbox Archive all
mk -c "$cfg" sync
expect_rc 0 "sync after the expunge"
check '[ "$(ls "$A/Archive/cur" | wc -l)" -eq "$n_old" ]' "deletions: keep did not keep Archive's files"
dadm mailbox update -u alice --uid-validity 777 Archive
rm -rf "$T/save" && cp -a "$A" "$T/save"

inj_sync 0 "" "$T/count.log"
check '[ "$INJ_RC" = 0 ]' "the counting run failed ($INJ_RC): $(head -n 2 "$T/inj.err")"
aside=$A/.mailkeep/uidvalidity-$old/Archive
k=$(grep -m1 -E "^[0-9]+ unlink[a-z]* $aside/\.mailkeep-moving$" "$T/count.log" | cut -d' ' -f1)
check '[ -n "$k" ]' "cannot find the removal of the move's mark in the shim's log"
rm -rf "$A" && cp -a "$T/save" "$A"
inj_sync "$k" after
check '[ "$INJ_RC" = 137 ]' "the run was not killed at call $k ($INJ_RC)"
check '[ -e "$A/Archive/.mailkeep-state" ] && [ ! -e "$aside/.mailkeep-state" ]' \
	"the killed run did not leave the state alone in the folder (the case this test is about)"
mk -c "$cfg" sync
expect_rc 0 "the run after the kill"
check '[ -e "$aside/.mailkeep-state" ]' "the old copy was left without its state"
check 'grep -q "folder \"Archive\": UIDVALIDITY changed" "$MK_ERR"' \
	"no run said that Archive's UIDVALIDITY changed (its old copy kept unannounced)"
check '(cd "$aside/cur" && ls | sort | xargs sha256sum) | cmp -s - "$T/kept.before"' \
	"the old copy does not hold the kept files byte for byte"
check '[ ! -e "$A/.mailkeep/uidvalidity-$old.1" ]' "the old copy was split"
mk -c "$cfg" sync
expect_rc 0 "sync after"
t_pass
