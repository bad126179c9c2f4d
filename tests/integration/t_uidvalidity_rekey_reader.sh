#!/usr/bin/env bash
# A killed re-key (its record left, no file renamed yet) finished by the next run after a mail reader
# changed the flags of a file still under its old name: the file is renamed to the new UIDVALIDITY
# and UID as the others (same inode), none is left under the old UIDVALIDITY, the mirror exact.
. "$(dirname "$0")/lib.sh"
t_begin
uv_setup --inbox
uv_first_sync
uv_killed_rekey 2
# a reader flags the first message meanwhile: its name changes, its inode stays
f=${names[0]}
flags=${f##*:2,}
[ "$flags" = F ] && nf=S || nf=F
mv "$A/INBOX/cur/$f" "$A/INBOX/cur/${f%:2,*}:2,$nf"
ino=$(stat -c %i "$A/INBOX/cur/${f%:2,*}:2,$nf")
uv_rekey_finished
check '[ -n "$(find "$A/INBOX/cur" -inum "$ino")" ]' "the reader's file (inode $ino) is gone"
t_pass
