#!/usr/bin/env bash
# Gmail dedupe: against a fake Gmail (X-GM-EXT-1, six messages in label folders, All Mail holding
# them all) mailkeep downloads each X-GM-MSGID once and hard-links it into every folder that holds
# it and into the store .mailkeep/gmail/<msgid>; a copy deleted locally comes back as a link, a new
# message is downloaded once, an expunge in one label leaves the other copies; with
# gmail_dedupe: false every folder downloads its own copy; a message that leaves every folder
# leaves the store. The mirrors stay exact throughout.
. "$(dirname "$0")/lib.sh"
t_begin
gmail_up # awk compares X-GM-MSGIDs as strings ($1 "" == m "")

# sync_counted CFG: mailkeep -c CFG sync; BODIES = whole bodies the server sent during the run,
# BODY_LOG = the server's log lines for them
sync_counted() {
	local n0
	n0=$(wc -l <"$FAKE_LOG")
	mk -c "$1" sync
	BODY_LOG=$(tail -n "+$((n0 + 1))" "$FAKE_LOG" | grep ': body ' || true)
	BODIES=$(printf '%s' "$BODY_LOG" | grep -c . || true)
}

# inventory ACCT_DIR: "msgid inode path" of every message file under */cur (path relative to
# ACCT_DIR, the store left out); the msgid is read from the Message-ID fakeimap.py gives M<k>
inventory() {
	(cd "$1" && find . -path ./.mailkeep -prune -o -type f -path '*/cur/*' -printf '%i %P\n' | sort -k2 |
		while read -r ino p; do
			printf '%s %s %s\n' "$(sed -n '1s/^Message-ID: <gm-\([0-9]*\)@.*/\1/p' "$p")" "$ino" "$p"
		done)
}

# copies_of MSGID FOLDER: the inodes of the files of MSGID in FOLDER/cur of $acct
copies_of() {
	inventory "$acct" |
		awk -v m="$1" -v f="$2/cur/" '$1 "" == m "" && index(substr($0, length($1 $2) + 3), f) == 1 { print $2 }'
}

# deduped WHAT N: the mirror holds N distinct messages, each with one inode for all its copies,
# and the store holds exactly one entry per message, named by its msgid, linked to its copies
deduped() {
	local what=$1 n=$2 inv split inodes msgids listed m ino bad=""
	inv=$(inventory "$acct")
	split=$(printf '%s\n' "$inv" | awk '{ print $1, $2 }' | sort -u | awk '{ print $1 }' | uniq -d | head -n 1)
	ino=$(printf '%s\n' "$inv" | grep "^$split " | cut -d' ' -f2 | sort -u | tr '\n' ' ')
	check '[ -z "$split" ]' "$what: the copies of msgid $split are not hard links of one file (inodes $ino)"
	inodes=$(printf '%s\n' "$inv" | awk '{ print $2 }' | sort -u | wc -l)
	check '[ "$inodes" -eq "$n" ]' "$what: $inodes distinct inodes under */cur, expected $n"
	msgids=$(printf '%s\n' "$inv" | awk '{ print $1 }' | sort -u | tr '\n' ' ')
	check '[ -d "$store" ]' "$what: no store directory $store"
	listed=$(ls -A "$store" | sort | tr '\n' ' ')
	check '[ "$listed" = "$msgids" ]' "$what: the store holds [$listed], the mirror's messages are [$msgids]"
	for m in $msgids; do
		ino=$(printf '%s\n' "$inv" | awk -v m="$m" '$1 "" == m "" { print $2; exit }')
		[ "$(stat -c %i "$store/$m" 2>/dev/null)" = "$ino" ] || bad="$bad $m"
	done
	check '[ -z "$bad" ]' "$what: store entries not linked to the mirror's copies:$bad"
}

# a. first sync: exact
sync_counted "$cfg"
expect_rc 0 "first sync from the fake Gmail"
exact_fake "$acct" "after the first sync"
# b. each message downloaded once
check '[ "$BODIES" -eq 6 ]' "first sync downloaded $BODIES bodies, expected 6 (one per X-GM-MSGID, not one per folder)"
# c. copies are hard links of one file per message, and of the store entry
deduped "after the first sync" 6
m2=$((base + 2))
n=$(inventory "$acct" | awk -v m="$m2" '$1 "" == m ""' | wc -l)
check '[ "$n" -eq 4 ]' "M2 has $n copies, expected 4 (INBOX, All Mail, Work, Personal)"

# d. a second sync downloads and changes nothing
inode_list "$acct" >"$T/inodes.1"
ls -Ai "$store" >"$T/store.1"
sync_counted "$cfg"
expect_rc 0 "second sync"
check '[ "$BODIES" -eq 0 ]' "second sync downloaded $BODIES bodies: $(printf '%s' "$BODY_LOG" | head -n 3 | tr '\n' ';')"
inode_list "$acct" >"$T/inodes.2"
inode_expect "$T/inodes.1" "$T/inodes.2"
ls -Ai "$store" >"$T/store.2"
check 'cmp -s "$T/store.1" "$T/store.2"' \
	"second sync changed the store: $(diff "$T/store.1" "$T/store.2" | head -n 3 | tr '\n' ' ')"
exact_fake "$acct" "after the second sync"

# e. a copy deleted locally is restored as a link, without a download
m2_inbox=$(copies_of "$m2" INBOX)
w=$(ls "$acct"/Work/cur/*)
victim=$(grep -l "^Message-ID: <gm-$m2@" "$acct"/Work/cur/*)
check '[ -n "$victim" ] && [ -n "$m2_inbox" ]' "M2 not found in Work/cur and INBOX/cur: $w"
rm -f "$victim"
sync_counted "$cfg"
expect_rc 0 "sync after deleting M2 in Work"
check '[ "$BODIES" -eq 0 ]' "restoring M2 in Work downloaded $BODIES bodies, expected a link from the store"
m2_work=$(copies_of "$m2" Work)
check '[ -n "$m2_work" ]' "M2 was not restored in Work"
check '[ "$m2_work" = "$m2_inbox" ]' "M2 restored in Work with inode $m2_work, not a link of INBOX's ($m2_inbox)"
exact_fake "$acct" "after restoring M2"
deduped "after restoring M2" 6

# f. stage 2: M7 new in INBOX and All Mail, M5 expunged from Work only
touch "$FAKE_LOG.on"
m5=$((base + 5))
m7=$((base + 7))
sync_counted "$cfg"
expect_rc 0 "sync after M7 arrived and M5 left Work"
check '[ "$BODIES" -eq 1 ] && printf "%s" "$BODY_LOG" | grep -q " msgid $m7\$"' \
	"M7 was not downloaded exactly once ($BODIES bodies: $(printf '%s' "$BODY_LOG" | head -n 3 | tr '\n' ';'))"
m7_inbox=$(copies_of "$m7" INBOX)
m7_all=$(copies_of "$m7" "[Gmail]/All Mail")
check '[ -n "$m7_inbox" ] && [ -n "$m7_all" ]' "M7 missing in INBOX ($m7_inbox) or All Mail ($m7_all)"
check '[ "$m7_inbox" = "$m7_all" ]' "M7 in INBOX (inode $m7_inbox) and All Mail (inode $m7_all) are not one file"
check '[ -z "$(copies_of "$m5" Work)" ]' "M5 still in Work after its expunge there"
check '[ -n "$(copies_of "$m5" "[Gmail]/All Mail")" ]' "M5 removed from All Mail, where the server still has it"
exact_fake "$acct" "after stage 2"
deduped "after stage 2" 7

# g. gmail_dedupe: false: one download and one inode per folder and message, no store
root2=$T/root2
cfg2=$T/c2.yaml
{ echo "accounts:"; acct_yaml plain root="$root2" port="$FAKE_PORT" tls=none user=u password_file="$pf" timeout=10 \
	gmail_dedupe=false; } | cfg_write "$cfg2"
sync_counted "$cfg2"
expect_rc 0 "sync with gmail_dedupe: false"
exact_fake "$root2/plain" "with gmail_dedupe: false"
pairs=$(msg_files "$root2/plain" | wc -l)
check '[ "$pairs" -eq 15 ]' "gmail_dedupe: false: $pairs message files, expected 15 (folder-message pairs in stage 2)"
check '[ "$BODIES" -eq "$pairs" ]' "gmail_dedupe: false: $BODIES bodies downloaded, expected one per folder and message ($pairs)"
check '[ ! -e "$root2/plain/.mailkeep/gmail" ]' "gmail_dedupe: false: a store $root2/plain/.mailkeep/gmail was made"
inodes=$(inventory "$root2/plain" | awk '{ print $2 }' | sort -u | wc -l)
check '[ "$inodes" -eq "$pairs" ]' "gmail_dedupe: false: $inodes distinct inodes for $pairs files (copies are linked)"

# h. stage 3: M6 leaves every folder (All Mail and Personal): its store entry goes too
touch "$FAKE_LOG.on3"
m6=$((base + 6))
check '[ -e "$store/$m6" ]' "M6 not in the store before stage 3"
sync_counted "$cfg"
expect_rc 0 "sync after M6 left every folder"
check '[ "$BODIES" -eq 0 ]' "stage 3 downloaded $BODIES bodies"
check '[ -z "$(copies_of "$m6" Personal)" ] && [ -z "$(copies_of "$m6" "[Gmail]/All Mail")" ]' "M6 still in a folder"
check '[ ! -e "$store/$m6" ]' "M6 is still in the store after leaving every folder"
check '[ -e "$store/$m5" ] && [ -e "$store/$m7" ]' "the store lost M5 or M7, which All Mail still holds"
exact_fake "$acct" "after stage 3"
t_pass
