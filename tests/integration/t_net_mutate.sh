#!/usr/bin/env bash
# Randomised damage to a real Dovecot's answers, through a proxy (tests/fuzz/net_mutate.py
# --smoke): 25 seeded mutations (connections closed or reset mid-message, stalls, garbage and
# unsolicited responses, lying literal sizes, NULs, 1-20 MB lines, lies about numbers) and the
# pinned reproducers of what the campaign found (a body literal announced too long gave exit 0
# and a corrupted message; a SELECT without EXISTS made push append everything again). Each run
# must end without a crash or sanitizer report, within its time bound, with a documented exit
# status, no file outside the mirror, private modes, no password in the output, and a clean run
# afterwards must leave the mirror exact (push: no duplicate on the target).
. "$(dirname "$0")/lib.sh"
t_begin
need_dovecot
_DC_DIRS+=("$T/fz/dc") # stopped by the EXIT trap if the run is cut short
python3 "$REPO/tests/fuzz/net_mutate.py" --smoke --binary "$MAILKEEP" --workdir "$T/fz" >"$T/fz.out" 2>&1
rc=$?
tail -n 5 "$T/fz.out" | while IFS= read -r l; do t_log "$l"; done
check '[ $rc = 0 ]' "net_mutate --smoke: $(grep -m 1 -i "fail" "$T/fz.out" || tail -n 1 "$T/fz.out")"
t_pass
