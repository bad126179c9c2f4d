#!/usr/bin/env bash
# A move aside resumed with a part made again in the folder since the killed run (a mail reader's file
# in INBOX/cur/): the rest goes to uidvalidity-<old>.1/ (split, nothing lost). A run killed once that
# second move is done (the state's rename into .1) and before the first directory is finished must
# not leave that one unfinished for good: no run looks into an old copy whose folder is empty again.
# Before, the first directory was finished (mark removed, tmp/ cleaned) only after the second move,
# and its .mailkeep-moving and the killed run's partial download in its tmp/ stayed there for good.
. "$(dirname "$0")/lib.sh"
t_begin
uv_setup --inbox
preload_shims crash_inject
uv_first_sync
uv_get uv INBOX
printf 'partial\n' >"$A/INBOX/tmp/1796000000.4242_1.mailkeep.part"
# new mail and the first message expunged: not the messages of the state, so moved aside (not
# re-keyed, as new mail alone is)
seed append --folder INBOX --seed 62 --count 1
dadm expunge -u alice mailbox INBOX 1
dadm mailbox update -u alice --uid-validity 777 INBOX
old=$A/.mailkeep/uidvalidity-$uv/INBOX
rm -rf "$T/save" && cp -a "$A" "$T/save"
inj_sync 0 "" "$T/count1.log"
k=$(grep -m1 -E "^[0-9]+ rename[a-z0-9]* $old/cur$" "$T/count1.log" | cut -d' ' -f1)
check '[ -n "$k" ]' "cannot find the rename of INBOX/cur in the shim's log"
rm -rf "$A" && cp -a "$T/save" "$A"
inj_sync "$k" after
check '[ "$INJ_RC" = 137 ] && [ -e "$old/.mailkeep-moving" ] && [ -d "$old/cur" ]' \
	"the first run was not killed with cur/ moved and the mark left ($INJ_RC)"
# a mail reader's file in the folder's cur/ made again before the next run
mkdir -p "$A/INBOX/cur" && printf 'From: r\n\nreader\n' >"$A/INBOX/cur/1700000000.reader:2,S"
rm -rf "$T/save2" && cp -a "$A" "$T/save2"
inj_sync 0 "" "$T/count2.log"
check '[ "$INJ_RC" = 0 ]' "the counting run failed ($INJ_RC): $(head -n 2 "$T/inj.err")"
k=$(grep -m1 -E "^[0-9]+ rename[a-z0-9]* $A/.mailkeep/uidvalidity-$uv.1/INBOX/\.mailkeep-state$" "$T/count2.log" | cut -d' ' -f1)
check '[ -n "$k" ]' "cannot find the state's rename in the shim's log"
rm -rf "$A" && cp -a "$T/save2" "$A"
inj_sync "$k" after
check '[ "$INJ_RC" = 137 ] && [ -e "$A/.mailkeep/uidvalidity-$uv.1/INBOX/.mailkeep-state" ]' \
	"the second run was not killed with the state moved into the split's second copy ($INJ_RC)"
mk -c "$cfg" sync
expect_rc 0 "the run after the kills"
exact "$A" --folders-excluded "${others[@]}"
check '[ ! -e "$old/.mailkeep-moving" ]' "the move's mark is left in the first old copy"
check '[ -z "$(tmp_files "$old")" ]' "left in the first old copy's tmp/: $(tmp_files "$old" | head -n 1)"
check '[ -e "$A/.mailkeep/uidvalidity-$uv.1/INBOX/cur/1700000000.reader:2,S" ]' "the reader's file is not in the second copy"
t_pass
