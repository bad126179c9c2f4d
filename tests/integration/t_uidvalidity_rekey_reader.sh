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
mk -c "$cfg" sync
expect_rc 0 "the run after the kill"
check '[ -z "$(find "$A/INBOX" -type f -name "*.${old}_*")" ]' \
	"a file is left under the old UIDVALIDITY: $(find "$A/INBOX" -type f -name "*.${old}_*" | head -n 1)"
check '[ ! -e "$A/INBOX/.mailkeep-rekey" ]' "the record is left"
check '[ -z "$(find "$A/.mailkeep" -maxdepth 1 -name "uidvalidity-*")" ]' "moved aside"
check '[ -n "$(find "$A/INBOX/cur" -inum "$ino")" ]' "the reader's file (inode $ino) is gone"
check '[ "$(find "$A/INBOX/cur" -type f | wc -l)" = "${#names[@]}" ]' \
	"INBOX holds $(find "$A/INBOX/cur" -type f | wc -l) files, not ${#names[@]}"
exact "$A" --folders-excluded "${others[@]}"
t_pass
