#!/usr/bin/env bash
# A folder new to the mirror whose directory cannot be made (here: its parent in the mirror is a
# symlink, which mailkeep never writes through) fails that folder, named, exit 1; it is never
# reported as synced. The directory is made only after EXAMINE (sync_folder "fresh").
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed append --folder 'Zed/Kid' --seed 5 --count 2
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice; } | cfg_write "$cfg"
A=$T/mail/alice
mkdir -p "$A" "$T/elsewhere"
ln -s "$T/elsewhere" "$A/Zed"

mk -c "$cfg" -v sync
check '[ "$MK_RC" -ne 0 ]' "a folder whose directory could not be made was reported as synced (exit 0): $(grep -F 'Zed' "$MK_ERR" | tr '\n' ' ')"
check 'grep -F "Zed" "$MK_ERR" | grep -qi "not a directory"' "the error is not reported: $(mk_err_line)"
check '[ -z "$(ls -A "$T/elsewhere")" ]' "a write through the symlinked parent"
t_pass
