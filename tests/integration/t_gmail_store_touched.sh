#!/usr/bin/env bash
# Gmail dedupe: a message linked from the store (.mailkeep/gmail/<X-GM-MSGID>) into a folder is
# named with its INTERNALDATE, as every message. The store file is a hard link of the message's
# copies in other folders: a reader that touches one of them (its mtime changed, nothing else; put
# back when that folder is next listed) changes the store's mtime too. Before, a copy linked then
# was named with that mtime: a name not of the message's INTERNALDATE, recorded in the state, never
# put right by later runs (compare.py: not exact, run after run). Now it is named with the
# INTERNALDATE the server gives with its X-GM-MSGID, and the store's mtime is set back to it.
. "$(dirname "$0")/lib.sh"
t_begin
gmail_up
mk -c "$cfg" sync
expect_rc 0 "first sync from the fake Gmail"
exact_fake "$acct" "after the first sync"
m2=$((base + 2))
inbox=$(grep -l "^Message-ID: <gm-$m2@" "$acct"/INBOX/cur/*)
victim=$(grep -l "^Message-ID: <gm-$m2@" "$acct"/Work/cur/*)
check '[ -n "$victim" ] && [ -n "$inbox" ]' "M2 not found in Work/cur and INBOX/cur"
# a reader touches INBOX's copy (the store's and Work's inode), and Work's copy is deleted
touch -d '2001-02-03 04:05:06' "$inbox"
rm -f "$victim"
mk -c "$cfg" sync
expect_rc 0 "sync after touching M2 in INBOX and deleting it in Work"
restored=$(grep -l "^Message-ID: <gm-$m2@" "$acct"/Work/cur/* | head -n 1)
check '[ -n "$restored" ]' "M2 was not restored in Work"
check '[ "$(basename "$restored")" = "$(basename "$victim")" ]' \
	"M2 restored in Work as $(basename "$restored"), not under its name $(basename "$victim")"
# the link's mtime is the shared inode's: set back for every copy
exact_fake "$acct" "after the restore"
for k in 1 2; do
	mk -c "$cfg" sync
	expect_rc 0 "sync $k after"
	exact_fake "$acct" "sync $k after the restore"
done
t_pass
