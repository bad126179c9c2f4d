#!/usr/bin/env bash
# A killed re-key (its record left, no file renamed yet) finished by the next run after a mail reader
# made copies of files still under their old names (the same message under two names differing in
# flags, one of them in new/): with `deletions: keep`, which keeps a file of another UIDVALIDITY
# for good, no copy may stay under the old UIDVALIDITY; each UID ends in one file, the mirror exact.
. "$(dirname "$0")/lib.sh"
t_begin
uv_setup --inbox --keep
uv_first_sync
uv_killed_rekey 3
other_flags() { case $1 in F) echo S ;; *) echo F ;; esac; }
# the first message: its file kept under its name, a copy under other flags
f=${names[0]}
cp -p "$A/INBOX/cur/$f" "$A/INBOX/cur/${f%:2,*}:2,$(other_flags "${f##*:2,}")"
# the second: its file renamed with other flags, a copy with yet others
f=${names[1]}
nf=$(other_flags "${f##*:2,}")
mv "$A/INBOX/cur/$f" "$A/INBOX/cur/${f%:2,*}:2,$nf"
cp -p "$A/INBOX/cur/${f%:2,*}:2,$nf" "$A/INBOX/cur/${f%:2,*}:2,${nf}T"
# the third: a copy in new/ (no info), its file kept
f=${names[2]}
cp -p "$A/INBOX/cur/$f" "$A/INBOX/new/${f%:2,*}"
uv_rekey_finished
mk -c "$cfg" sync
expect_rc 0 "the run after"
exact "$A" --folders-excluded "${others[@]}"
t_pass
