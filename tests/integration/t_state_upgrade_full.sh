#!/usr/bin/env bash
# States written before the folder line, on a mirror whose file system is full: a no-change run
# cannot rewrite them with the line, yet every folder is unchanged: the run succeeds (a warning
# says the state was not rewritten), no folder is counted both unchanged and failed, and once
# there is room the next run writes the line and the run after rewrites nothing. Needs root (a
# small tmpfs).
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 9 --count 4 --big 0
cfg=$T/config.yaml
small_fs 4m
{ echo "accounts:"; acct_yaml alice root="$M/mail"; } | cfg_write "$cfg"
A=$M/mail/alice
mk -c "$cfg" sync
expect_rc 0 "initial sync"
mk -c "$cfg" sync
expect_rc 0 "second sync"
n=$(find "$A" -name .mailkeep-state | wc -l)

# the control: states with the line, the disk full, a no-change run
fill_fs "$M"
mk -c "$cfg" sync
expect_rc 0 "no-change run on a full disk"
rm -f "$M/filler"

# older states (no folder line), the disk full
find "$A" -name .mailkeep-state -exec sed -i '/^folder /d' {} +
fill_fs "$M"
mk -c "$cfg" -v sync
t_log "full: rc $MK_RC: $(grep -E "folders \(|error" "$MK_ERR" | head -n 3)"
expect_rc 0 "no-change run over older states on a full disk"
check '! grep -q "unchanged, [1-9][0-9]* failed" "$MK_ERR"' "folders counted unchanged and failed: $(grep "folders (" "$MK_ERR")"
m=$(find "$A" -name .mailkeep-state -exec grep -l "^folder " {} + | wc -l)
check '[ "$m" = 0 ]' "$m states rewritten on a full disk"
rm -f "$M/filler"

mk -c "$cfg" sync
expect_rc 0 "with room again"
m=$(find "$A" -name .mailkeep-state -exec grep -l "^folder " {} + | wc -l)
check '[ "$m" = "$n" ]' "$m of $n states got the folder line"
find "$A" -name .mailkeep-state -printf '%p %T@\n' | sort >"$T/st0"
mk -c "$cfg" sync
expect_rc 0 "the no-change run after"
find "$A" -name .mailkeep-state -printf '%p %T@\n' | sort >"$T/st1"
check 'cmp -s "$T/st0" "$T/st1"' "a no-change run rewrote states: $(diff "$T/st0" "$T/st1" | head -n 2)"
exact "$A"

t_pass
