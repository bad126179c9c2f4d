#!/usr/bin/env bash
# A folder whose state is lost (deleted, or refused as damaged) is rebuilt from its files and the
# server's dates (t_state_rejected). One file of another UIDVALIDITY among them (a reader moved a
# message in from another folder, keeping its name) is not a sign that the folder's UIDVALIDITY
# changed: the files of the server's UIDVALIDITY are the folder's own, kept, not downloaded again;
# nothing is moved to .mailkeep/uidvalidity-*, no "UIDVALIDITY changed" warning. (Before: the
# UIDVALIDITY of whichever file had the lowest UID was taken for the folder's: the whole folder
# was moved aside as the old copy of a UIDVALIDITY it never had and downloaded again.) A folder
# whose files are all of another UIDVALIDITY is still moved aside.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 5 --count 5 --big 0 --folders INBOX,Archive,Other
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice max_connections=1; } | cfg_write "$cfg"
A=$T/mail/alice
mk -c "$cfg" sync
expect_rc 0 "initial sync"
exact "$A"

# INBOX: its state lost, its file of UID 1 deleted, Archive's file of UID 1 moved in (name kept)
rm "$A/INBOX/.mailkeep-state"
rm "$(file_for "$A" INBOX 1)"
mv "$(file_for "$A" Archive 1)" "$A/INBOX/cur/"
inode_list "$A/INBOX" | grep -v '_1\.mailkeep' >"$T/inbox.before"
mk -c "$cfg" -v sync
expect_rc 0 "sync after the state was lost"
check '! grep -qi "UIDVALIDITY changed" "$MK_ERR"' "a folder taken for one whose UIDVALIDITY changed: $(grep -m1 -i 'UIDVALIDITY changed' "$MK_ERR")"
check '[ -z "$(ls -A "$A/.mailkeep" | grep uidvalidity-)" ]' "an old copy made: $(ls "$A/.mailkeep")"
inode_list "$A/INBOX" | grep -v '_1\.mailkeep' >"$T/inbox.after"
check 'cmp -s "$T/inbox.before" "$T/inbox.after"' "INBOX's own files were downloaded again: $(diff "$T/inbox.before" "$T/inbox.after" | head -n 4 | tr '\n' ' ')"
check 'grep -q "folder \"INBOX\" (full): 1 new" "$MK_ERR"' "not only UID 1 downloaded: $(grep -m1 'folder "INBOX" (' "$MK_ERR")"
exact "$A"

# Other: state lost and every file renamed to another UIDVALIDITY: an old copy, as before
rm "$A/Other/.mailkeep-state"
for f in "$A/Other/cur/"*; do
	b=${f##*/}
	mv "$f" "$A/Other/cur/$(printf '%s' "$b" | sed 's/^\([0-9]*\)\.[0-9]*_/\1.77_/')"
done
mk -c "$cfg" sync
expect_rc 0 "sync of a folder whose files are all of another UIDVALIDITY"
check '[ -d "$A/.mailkeep/uidvalidity-77/Other/cur" ]' "the files of UIDVALIDITY 77 were not moved aside: $(ls "$A/.mailkeep")"
exact "$A"
mk -c "$cfg" sync
expect_rc 0 "a second sync"
exact "$A"
t_pass
