#!/usr/bin/env bash
# Without CONDSTORE every folder is listed in full, and a folder with nothing to fetch sends the next
# folder's EXAMINE and listing ahead. A folder whose state holds no message (an empty folder) asks
# the INTERNALDATEs with its listing (the state cannot tell its files); the listing sent ahead asks
# them too, so it is used: an empty folder costs a no-op run one round trip, as any other folder
# (before: the listing sent ahead was dropped and sent again, two round trips per empty folder).
. "$(dirname "$0")/lib.sh"
t_begin
path_account full 7 3
rts() { grep -o '[0-9]* round trips' "$MK_ERR" | cut -d' ' -f1; }
mk -c "$cfg" -v sync
expect_rc 0 "no-op sync"
r0=$(rts)
for i in 1 2 3 4 5; do dadm mailbox create -u alice "Empty$i"; done
mk -c "$cfg" sync
expect_rc 0 "sync of the new empty folders"
check '[ -f "$A/Empty3/.mailkeep-state" ]' "no state for the empty folder"
mk -c "$cfg" -v sync
expect_rc 0 "no-op sync with empty folders"
r1=$(rts)
check '[ -n "$r0" ] && [ -n "$r1" ] && [ "$r1" -le $((r0 + 5)) ]' \
	"a no-op run took $r1 round trips with 5 empty folders more, $r0 without"
exact "$A"
t_pass
