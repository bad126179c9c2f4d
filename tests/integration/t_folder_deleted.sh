#!/usr/bin/env bash
# A folder deleted on the server: its local copy (the messages) is kept untouched, a warning names it, and the
# rest of the mirror stays exact; a folder renamed on the server: the new name is mirrored and the
# old copy is kept; the deleted folder created again (a new UIDVALIDITY): mirrored anew, the old
# copy moved intact to .mailkeep/uidvalidity-<old>/; a folder deleted while it has children (it stays
# listed as \Noselect): kept and warned about like a deleted one; a folder renamed away and back
# (the same UIDVALIDITY, so unchanged by STATUS): its state no longer says it is gone, and warned about again
# when it is deleted for good.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 7 --count 4 --big 0
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice; } | cfg_write "$cfg"
A=$T/mail/alice

mk -c "$cfg" sync
expect_rc 0 "initial sync"
exact "$A"
snap() { (cd "$A/$1" && find . -type f ! -name .mailkeep-state -print0 | sort -z | xargs -0r sha256sum); }
snap 'R&D' >"$T/rd.before"
snap '日本語' >"$T/jp.before"

dadm mailbox delete -u alice 'R&D'
dadm mailbox rename -u alice '日本語' 'Umbenannt'

mk -c "$cfg" sync
expect_rc 0 "sync after the server deleted a folder"
check 'grep -qF "R&D" "$MK_ERR"' "no warning naming the deleted folder R&D on stderr"
snap 'R&D' >"$T/rd.after"
check 'cmp -s "$T/rd.before" "$T/rd.after"' "the local copy of the deleted folder changed"
snap '日本語' >"$T/jp.after"
check 'cmp -s "$T/jp.before" "$T/jp.after"' "the local copy of the renamed folder changed"
exact "$A" --ignore-local 'R&D' '日本語'
check '[ -d "$A/Umbenannt/cur" ]' "the renamed folder was not mirrored"

mk -c "$cfg" sync
expect_rc 0 "second sync"
snap 'R&D' >"$T/rd.after2"
check 'cmp -s "$T/rd.before" "$T/rd.after2"' "the local copy of the deleted folder changed on the next run"
# status reads only the states' headers (the orphaned line), not their message lines
mk -c "$cfg" status
expect_rc 0 "status with a folder gone from the server"
check 'grep -q "folders: .*(some no longer on the server)" "$MK_OUT"' "status does not say a folder is gone: $(grep folders: "$MK_OUT")"
# (both gone folders' message lines damaged: status still finds them gone)
cp -p "$A/R&D/.mailkeep-state" "$T/rd.state"
cp -p "$A/日本語/.mailkeep-state" "$T/jp.state"
printf 'm garbage\n' >>"$A/R&D/.mailkeep-state"
printf 'm garbage\n' >>"$A/日本語/.mailkeep-state"
mk -c "$cfg" status
check 'grep -q "(some no longer on the server)" "$MK_OUT"' "status missed the gone folders once their message lines were damaged"
# (states written before the "messages" count line existed: the header alone
# cannot tell, status reads them whole, as before)
sed '/^messages /d' "$T/rd.state" >"$A/R&D/.mailkeep-state"
sed '/^messages /d' "$T/jp.state" >"$A/日本語/.mailkeep-state"
check '! grep -q "^messages " "$A/R&D/.mailkeep-state" && grep -q "^orphaned 1" "$A/R&D/.mailkeep-state"' "the older state file is not as expected"
mk -c "$cfg" status
check 'grep -q "(some no longer on the server)" "$MK_OUT"' "status missed the gone folders in states without a count line"
cp -p "$T/rd.state" "$A/R&D/.mailkeep-state"
cp -p "$T/jp.state" "$A/日本語/.mailkeep-state"

old_uv=$(ls "$A/R&D/cur" | head -n 1 | sed 's/^[0-9]*\.\([0-9]*\)_.*/\1/')
check '[ -n "$old_uv" ]' "cannot tell the old UIDVALIDITY of R&D"
seed append --folder 'R&D' --seed 71 --count 3 --first 0
new_uv=$(dadm_out mailbox status -u alice uidvalidity 'R&D' | sed 's/.*uidvalidity=//')
check '[ "$new_uv" != "$old_uv" ]' "Dovecot gave the recreated folder the same UIDVALIDITY"
mk -c "$cfg" sync
expect_rc 0 "sync after the folder was created again"
exact "$A" --ignore-local '日本語'
check '[ -d "$A/.mailkeep/uidvalidity-$old_uv/R&D/cur" ]' "the old copy of R&D is not at .mailkeep/uidvalidity-$old_uv/R&D"
(cd "$A/.mailkeep/uidvalidity-$old_uv/R&D" && find . -type f ! -name .mailkeep-state -print0 | sort -z | xargs -0r sha256sum) >"$T/rd.moved"
check 'cmp -s "$T/rd.before" "$T/rd.moved"' "the moved old copy of R&D is not byte-identical"

snap Archive >"$T/ar.before"
dadm mailbox delete -u alice Archive
dadm_out mailbox list -u alice >"$T/list"
check 'grep -qx "Archive/2024" "$T/list"' "the child Archive/2024 went with its parent"
mk -c "$cfg" sync
expect_rc 0 "sync after a folder with children was deleted"
check 'grep -F "Archive" "$MK_ERR" | grep -qv "Archive/"' "no warning naming the deleted parent Archive: $(mk_err_line)"
check '[ -d "$A/Archive/2024/cur" ]' "the child folder's copy is gone"
check 'grep -q "^orphaned 1" "$A/Archive/.mailkeep-state"' "the state of Archive is not marked orphaned"

dadm mailbox rename -u alice Umbenannt Away
mk -c "$cfg" sync
expect_rc 0 "sync after Umbenannt was renamed away"
check 'grep -q "^orphaned 1" "$A/Umbenannt/.mailkeep-state"' "the state of Umbenannt is not marked orphaned"
dadm mailbox rename -u alice Away Umbenannt
mk -c "$cfg" sync
expect_rc 0 "sync after Umbenannt was renamed back"
check 'grep -q "^orphaned 0" "$A/Umbenannt/.mailkeep-state"' "Umbenannt is back on the server, its state says it is gone"
dadm mailbox delete -u alice Umbenannt
mk -c "$cfg" sync
expect_rc 0 "sync after Umbenannt was deleted"
check 'grep -q "warning: .*folder Umbenannt no longer exists" "$MK_ERR"' "no warning that Umbenannt was deleted: $(mk_err_line)"
t_pass
