#!/usr/bin/env bash
# Local changes to the mirror that t_reader_converge, t_tamper, t_moved_in and t_state_names do not
# make, each on a fresh copy of a settled mirror (cp -a; a sync settles it, so that the folders are
# read from their states as in a frequent run): the next sync must make it exact, no duplicate,
# nothing of the server touched.
#  - a name with two info parts ("...,U=5:2,S:2,F", a reader that added its info to a name that had
#    one): named anew with one (before: kept as it was, run after run; the oracle saw the UID missing);
#  - names with another info separator (";2,S", "!2,S") or more fields after U= (",2,S", ",S=1234:2,S"):
#    named anew, the same file (before: the first two taken for another program's file, the message
#    downloaded again beside it; the others kept for good under a name not mailkeep's);
#  - a file renamed to another UID's name (U= and the UID in the middle changed, its date kept);
#  - cur/ or new/ deleted; every empty directory deleted (find -empty -delete) while the server has
#    new mail for a folder that was empty; the account's .mailkeep deleted;
#  - a message moved into new/ of another folder of another UIDVALIDITY, info dropped;
#  - a folder directory replaced by a symbolic link to another folder: that folder fails (documented),
#    and nothing is written through the link;
#  - tmp/ deleted in a folder with nothing else changed (before: never made again);
#  - modes opened to others (a 0644 message, 0755 folder, cur/ and new/, 0750 tmp/): private again;
#  - a message moved into new/ under a 255-byte name ending ",U=<uid>" (no room for ":2,S"): taken
#    for a copy, removed, the message fetched (before: "rename: File name too long" run after run);
#  - a message's file written again (0644, mtime now) beside a copy of its older name, as a restored
#    backup leaves it: mode and mtime put back in that run (before: not until the daily listing).
# MK_EDGES_KNOWN=1 also runs what still fails (see the end of the file).
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 5 --count 6 --big 0
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice max_connections=1; } | cfg_write "$cfg"
A=$T/mail/alice
mk -c "$cfg" sync
expect_rc 0 "initial sync"
exact "$A"
settled_save

# ---- two info parts ---------------------------------------------------------------------------
fresh
f=$(file_for "$A" INBOX 1); mv "$f" "$f:2,F"
f=$(file_for "$A" INBOX 2); b=${f##*/}; mv "$f" "$A/INBOX/cur/${b%%:2,*}:2,S:2,"
f=$(file_for "$A" Archive 1); b=${f##*/}; mv "$f" "$A/Archive/cur/${b%%:2,*}:1,x:2,S"
ino=$(stat -c %i "$A/Archive/cur/${b%%:2,*}:1,x:2,S")
inode_list "$A" >"$T/ino0"
sync_exact "sync after names with two info parts"
inode_list "$A" >"$T/ino1"
# (inode_list does not see the ":1,x:2,S" name as UID 1's: "new" there, its inode checked here)
inode_expect "$T/ino0" "$T/ino1" "renamed INBOX 1" "renamed INBOX 2" "new Archive 1"
check '[ "$(stat -c %i "$(file_for "$A" Archive 1)")" = "$ino" ]' "Archive UID 1 was downloaded again, not renamed"

# ---- another info separator, more fields after U= ---------------------------------------------------
# mbsync on Windows writes ";2,S", offlineimap's windows-compatible names "!2,S"; Dovecot adds ",S=<size>"
# fields. Each is the same message, named anew (before: ";2," and "!2," were another program's file and
# the message was downloaded again beside it, twice in the mirror; ",2,S" and ",S=..." kept for good in
# a name not mailkeep's, "...,U=1,2,S:2,FS")
fresh
sep_mv() { local f b; f=$(file_for "$A" "$1" "$2"); b=${f##*/}; mv "$f" "$A/$1/$3/${b%%:2,*}$4"; stat -c %i "$A/$1/$3/${b%%:2,*}$4"; }
ino=$(sep_mv INBOX 1 cur ';2,S'; sep_mv INBOX 2 new ';2,'; sep_mv INBOX 3 cur '!2,FS'; sep_mv Archive 1 cur ',2,S'
	sep_mv Archive 2 cur ',S=1234,W=1300:2,RS')
sync_exact "sync after names with another info separator or more fields"
check '[ "$(stat -c %i "$(file_for "$A" INBOX 1)" "$(file_for "$A" INBOX 2)" "$(file_for "$A" INBOX 3)" \
	"$(file_for "$A" Archive 1)" "$(file_for "$A" Archive 2)")" = "$ino" ]' "a message was downloaded again, not renamed"

# ---- a file renamed to another UID's name --------------------------------------------------------
fresh
f=$(file_for "$A" INBOX 3); rm -f "$(file_for "$A" INBOX 4)"; b=${f##*/}
cp -p "$f" "$A/INBOX/cur/$(printf '%s' "$b" | sed 's/_3\.mailkeep,U=3:/_4.mailkeep,U=4:/')"
sync_exact "sync after a file renamed to another UID"

# ---- directories deleted -------------------------------------------------------------------------
fresh
rm -rf "$A/Archive/cur" "$A/R&D/new" "$A/.mailkeep"
sync_exact "sync after cur/, new/ and .mailkeep deleted"
fresh
find "$A" -type d -empty -delete
seed append --folder Empty --seed 62 --count 1
sync_exact "sync after every empty directory was deleted"

# ---- a message moved into new/ of another folder (another UIDVALIDITY) --------------------------------
fresh
f=$(file_for "$A" Geschäftlich 1); b=${f##*/}; mv "$f" "$A/R&D/new/${b%%:2,*}"
sync_exact "sync after a message moved into another folder's new/"

# ---- a folder directory replaced by a symbolic link to another folder -------------------------------
fresh
mv "$A/日本語" "$T/jp-saved"
ln -s "$A/INBOX" "$A/日本語"
inode_list "$A/INBOX" >"$T/inbox0"
mk -c "$cfg" sync
expect_rc 1 "sync with a folder directory that is a symbolic link"
check 'grep -q "日本語" "$MK_ERR"' "the error does not name the folder: $(mk_err_line)"
inode_list "$A/INBOX" >"$T/inbox1"
check 'cmp -s "$T/inbox0" "$T/inbox1"' "INBOX changed through the link"
rm "$A/日本語"
mv "$T/jp-saved" "$A/日本語"
sync_exact "sync with the folder directory back"

# ---- tmp/ deleted in a folder with no other change: made again (before: "missing tmp/" run after run)
fresh
rm -rf "$A/Archive/tmp"
sync_exact "sync after tmp/ deleted"

# ---- modes opened to others: made private again when the folder is next read (here at once: a chmod
# of cur/ changes its time) — 0600 message files, 0700 folder directory, cur/, new/, tmp/
fresh
chmod 644 "$(file_for "$A" Archive 1)"
chmod 755 "$A/Archive/cur" "$A/Archive" "$A/Archive/new"
chmod 750 "$A/Archive/tmp"
sync_exact "sync after modes changed"

# ---- a name too long to take the info its rename needs (NAME_MAX) --------------------------------
fresh
f=$(file_for "$A" INBOX 2); long=$(printf 'x%.0s' $(seq 251)),U=2
mv "$f" "$A/INBOX/new/$long"
sync_exact "sync after a message was moved into new/ under a 255-byte name"

# ---- an older copy restored over the mirror (a backup, or a snapshot checked out with plain git): a
# message's file written again under its name (0644, mtime now) beside a file of its older name. The
# copy is removed and the file's mtime and mode put back in that run (before: the copy kept the run
# from recording the file's date, and the next runs, finding the folder unchanged, left its mode and
# mtime so until the daily listing)
fresh
f=$(file_for "$A" INBOX 3)
old=${f%%:2,*}:2,DT
check '[ -n "$f" ] && [ "$f" != "$old" ]' "no file of INBOX UID 3 to restore over"
cp "$f" "$T/restored"
rm -f "$f"
(umask 022 && cp "$T/restored" "$f" && cp "$T/restored" "$old")
sync_exact "sync after an older copy was restored over the mirror"

if [ "${MK_EDGES_KNOWN:-0}" = 1 ]; then
	# ---- still failing (reported, not fixed) ----
	# c: a message's mtime changed, nothing else: put back only by the daily listing
	fresh
	touch "$(file_for "$A" Archive 2)"
	sync_exact "KNOWN c: sync after a message's mtime changed"
fi
t_pass
