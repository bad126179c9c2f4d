#!/usr/bin/env bash
# A killed re-key (its record left, no file renamed yet) finished by the next run after a mail reader
# killed while it moved a file from new/ to cur/ by link() and unlink() left both links of one message,
# whose names get the same new name (no flags): rename(2) of two links of one file does nothing, so the
# one in new/ must not stay under the old UIDVALIDITY (kept for good with `deletions: keep`).
. "$(dirname "$0")/lib.sh"
t_begin
uv_setup --inbox --keep
uv_first_sync
uv_killed_rekey 2
# the first message: its flags cleared by the reader, then both links of a move new/ -> cur/ left
f=${names[0]}
base=${f%:2,*}
[ "$f" = "$base:2," ] || mv "$A/INBOX/cur/$f" "$A/INBOX/cur/$base:2,"
ln "$A/INBOX/cur/$base:2," "$A/INBOX/new/$base"
uv_rekey_finished
mk -c "$cfg" sync
expect_rc 0 "the run after"
exact "$A" --folders-excluded "${others[@]}"
t_pass
