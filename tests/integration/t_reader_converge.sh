#!/usr/bin/env bash
# Whatever mail readers do to the mirror, the next sync makes it exact again, with no duplicate and
# without downloading again what is still on disk (docs/design.md). Real readers first (mblaze mflag
# and mrefile, notmuch with maildir.synchronize_flags, neomutt) while the server
# changes too (the server wins: it is a mirror); then what a user does by hand (copies under other
# names, hard links, unknown info letters, ":1," info, no info, new/ without info, a symlink, junk in
# tmp/, a name without its U= tag, a message's mtime changed); then the state files and folder directories (deleted,
# truncated, garbage, another folder's state, a folder directory deleted or renamed, an immutable
# cur/); last a reader's change that keeps the directories' modification times (`touch -d`) on a
# folder read from its state. Files without a U= tag are never touched (they are checked to stay,
# then removed by the test so that `exact` can judge the rest).
. "$(dirname "$0")/lib.sh"
t_begin
command -v notmuch >/dev/null || fail "notmuch is not installed (make deps)"
command -v mflag >/dev/null || fail "mblaze is not installed (make deps)"
command -v neomutt >/dev/null || fail "neomutt is not installed (make deps)"
command -v script >/dev/null || fail "script (bsdutils) is not installed (make deps)"
dc_up
seed populate --seed 5 --count 6 --big 0
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice max_connections=1; } | cfg_write "$cfg"
A=$T/mail/alice
ex() { exact "$A" --ignore-local .notmuch "$@"; }
# one_file FOLDER UID: the single file of UID in FOLDER/cur
one_file() {
	local f
	f=$(file_for "$A" "$1" "$2")
	check '[ -n "$f" ] && [ "$(printf "%s\n" "$f" | wc -l)" -eq 1 ]' "not one file of UID $2 in $1"
	printf '%s\n' "$f"
}
# toggle FOLDER UID LETTER: mblaze's mflag sets the flag when the name lacks it, else clears it
toggle() {
	local f info l
	f=$(one_file "$1" "$2")
	info=${f##*:2,}
	l=$(printf '%s' "$3" | tr 'A-Z' 'a-z')
	case $info in *"$3"*) mflag "-$l" "$f" >/dev/null ;; *) mflag "-$3" "$f" >/dev/null ;; esac ||
		fail "mflag on $f"
}
sync_ok() {
	mk -c "$cfg" -vv sync
	expect_rc 0 "$1"
}

sync_ok "initial sync"
ex
inode_list "$A" >"$T/ino0"

# ---- 1: real readers, and the server changes at the same time -------------------------------
toggle INBOX 1 S
toggle INBOX 2 F
toggle INBOX 3 S     # the server expunges it meanwhile
toggle INBOX 4 T
toggle INBOX 5 F     # the server changes its flags meanwhile: the server's flags win
mrefile "$A/Archive" < <(one_file INBOX 6) || fail "mrefile"
refiled=$(find "$A/Archive/cur" "$A/Archive/new" -type f ! -name '*,U=*')
check '[ "$(printf "%s\n" "$refiled" | grep -c .)" -eq 1 ]' "mrefile did not make one file in Archive"
export NOTMUCH_CONFIG=$T/notmuch-config
cat >"$NOTMUCH_CONFIG" <<EOF
[database]
path=$A
[user]
primary_email=alice@example.org
[new]
tags=unread;inbox;
ignore=.mailkeep-state;.mailkeep
[maildir]
synchronize_flags=true
EOF
notmuch new >"$T/nm.out" 2>&1 || fail "notmuch new: $(tail -n 1 "$T/nm.out")"
notmuch tag +flagged -- folder:Geschäftlich || fail "notmuch tag +flagged"
notmuch tag -unread -- folder:Geschäftlich || fail "notmuch tag -unread"
notmuch tag +draft -inbox -- "path:Geschäftlich/cur/$(basename "$(one_file Geschäftlich 2)")" || fail "notmuch tag +draft"
notmuch tag +unread -- folder:'"R&D"' || fail "notmuch tag +unread"
python3 "$SEED_PY" show --seed 99 --index 0 >"$T/inserted.eml" || fail "seed.py show"
notmuch insert --folder=INBOX +inbox <"$T/inserted.eml" || fail "notmuch insert"
inserted=$(find "$A/INBOX/cur" "$A/INBOX/new" -type f ! -name '*,U=*')
check '[ "$(printf "%s\n" "$inserted" | grep -c .)" -eq 1 ]' "notmuch insert did not make one file in INBOX"
dadm flags replace -u alice '\Draft \Flagged' mailbox INBOX uid 5
dadm expunge -u alice mailbox INBOX uid 3
seed append --folder INBOX --seed 77 --count 2
foreign_before=$(stat -c '%i %n' "$refiled" "$inserted")
sync_ok "sync after the readers"
check '[ "$(stat -c "%i %n" "$refiled" "$inserted")" = "$foreign_before" ]' "a file mailkeep did not make was touched"
check 'grep -q "INBOX: note: 1 file" < <("$MAILKEEP" -c "$cfg" verify 2>&1)' "verify does not count the inserted file"
rm -f "$refiled" "$inserted"
ex
inode_list "$A" >"$T/ino1"
# restored names are the very same files; the server's changes are renames; only the refiled
# message (no longer in INBOX) is downloaded again
inode_expect "$T/ino0" "$T/ino1" "renamed INBOX 5" "gone INBOX 3" "new INBOX 7" "new INBOX 8" \
	"rewritten INBOX 6" "renamed R&D *"
mk -c "$cfg" sync
expect_rc 0 "no-op sync after the readers"
inode_list "$A" >"$T/ino1b"
inode_expect "$T/ino1" "$T/ino1b"

# neomutt: read and flag everything in Archive, then delete with and without maildir_trash
cat >"$T/muttrc" <<EOF
set mbox_type=Maildir
set folder=$A
set header_cache=
set mark_old=no
set maildir_trash=yes
set delete=yes
set quit=yes
set wait_key=no
EOF
nm_run() {
	TERM=xterm timeout 30 script -qfec "neomutt -n -F '$T/muttrc' -f '$1' -e 'push \"$2\"'" /dev/null \
		>/dev/null 2>&1 </dev/null || fail "neomutt on $1 failed or hung"
}
nm_run "$A/Archive" '<tag-pattern>~A<enter><tag-prefix><clear-flag>N<tag-prefix><set-flag>!<sync-mailbox><quit>'
nm_run "$A/Archive/2024" '<delete-pattern>~A<enter><sync-mailbox><quit>'
sed -i 's/^set maildir_trash=yes/set maildir_trash=no/' "$T/muttrc"
nm_run "$A/Empty" '<quit>'
nm_run "$A/日本語" '<delete-pattern>~A<enter><sync-mailbox><quit>'
check '[ -z "$(ls "$A/日本語/cur")" ]' "neomutt did not delete the messages of 日本語"
sync_ok "sync after neomutt"
ex
inode_list "$A" >"$T/ino1c"
inode_expect "$T/ino1b" "$T/ino1c" "rewritten 日本語 *"

# ---- 2: by hand -----------------------------------------------------------------------------
inode_list "$A" >"$T/ino2"
for u in 1 2 3 4; do          # a copy with an unknown letter: the original must stay
	f=$(one_file Archive "$u")
	cp -p "$f" "${f%:2,*}:2,Sx"
done
f=$(one_file Archive 5)       # a copy under mailkeep's name with other flags
case ${f##*:2,} in S) other=T ;; *) other=S ;; esac
cp -p "$f" "${f%:2,*}:2,$other"
f=$(one_file Archive 6)       # a hard link under another name
ln "$f" "${f%:2,*}:2,FRSx"
f=$(one_file 'R&D' 1); mv "$f" "$f"a                              # a keyword letter
f=$(one_file 'R&D' 2); mv "$f" "${f%:2,*}:2,Z"                     # an unknown letter, flags lost
f=$(one_file 'R&D' 3); mv "$f" "${f%:2,*}:1,x"                     # another info version
f=$(one_file 'R&D' 4); mv "$f" "${f%:2,*}"                         # no info at all, in cur/
f=$(one_file 'R&D' 5); b=${f##*/}; mv "$f" "$A/R&D/new/${b%:2,*}"  # new/ without info
# (a hard link outside keeps each removed file's inode taken: a download that got the same
# inode number back would look untouched to inode_expect)
f=$(one_file 'R&D' 6); cp -p "$f" "$T/outside"; ln "$f" "$T/hold-rd6"; rm -f "$f"; ln -s "$T/outside" "$f"   # a symlink
printf 'junk\n' >"$A/R&D/tmp/junk1"; printf 'junk\n' >"$A/R&D/tmp/1.2.host"
touch -d '3 days ago' "$A/R&D/tmp/junk1" "$A/R&D/tmp/1.2.host"     # another program's, old
printf 'x\n' >"$A/R&D/tmp/1.3.host"                              # a delivery in progress
printf 'x\n' >"$A/R&D/tmp/9.1.mailkeep.part"                     # an interrupted run's
f=$(one_file INBOX 2); touch -d '2001-02-03 04:05:06' "$f"           # its date changed (put back)
f=$(one_file INBOX 1); b=${f##*/}; stripped=$A/INBOX/cur/${b/,U=1/}  # U= removed: not ours any more
mv "$f" "$stripped"
sync_ok "sync after changes by hand"
check '[ -f "$stripped" ]' "a file without U= was removed"
rm -f "$stripped"
check '[ "$(ls "$A/R&D/tmp")" = 1.3.host ]' "tmp/: old files and ours not removed, or a fresh one of another program removed: $(ls "$A/R&D/tmp" | tr '\n' ' ')"
rm -f "$A/R&D/tmp/1.3.host"
ex
inode_list "$A" >"$T/ino3"
inode_expect "$T/ino2" "$T/ino3" "rewritten R&D 6" "rewritten INBOX 1"
check '[ ! -L "$(one_file "R&D" 6)" ]' "the symlink is still there"
check '! grep -q "R&D.*\"R&D\": .*new" "$MK_ERR" || grep -q "\"R&D\" ([A-Za-z]*): 1 new" "$MK_ERR"' "R&D downloaded more than the symlinked message"

# ---- 3: state files and folder directories ----------------------------------------------------
inode_list "$A" >"$T/ino4"
rm -f "$A/INBOX/.mailkeep-state"
head -c 100 "$A/Archive/.mailkeep-state" >"$T/trunc" && cat "$T/trunc" >"$A/Archive/.mailkeep-state"
head -c 300 /dev/urandom >"$A/R&D/.mailkeep-state"
cp "$A/Geschäftlich/.mailkeep-state" "$A/日本語/.mailkeep-state"
rm -rf "$A/Archive/2024"
mv "$A/Geschäftlich" "$A/Geschäftlich-old"
sync_ok "sync after state and folder damage"
check '! grep -q "UIDVALIDITY changed" "$MK_ERR"' "a copied state was taken for a UIDVALIDITY change: $(grep -m1 UIDVALIDITY "$MK_ERR")"
check '[ -z "$(ls "$A/.mailkeep" | grep uidvalidity-)" ]' "a folder was moved aside"
exact "$A" --ignore-local .notmuch Geschäftlich-old
inode_list "$A" >"$T/ino5"
inode_expect "$T/ino4" "$T/ino5" "rewritten Archive/2024 *" "rewritten Geschäftlich *" "new Geschäftlich-old *"
rm -rf "$A/Geschäftlich-old"

# ---- 4: cur/ that cannot be changed: an error, nothing lost ---------------------------------------
dadm flags add -u alice '\Flagged' mailbox INBOX uid 2
seed append --folder INBOX --seed 78 --count 1
if chattr +i "$A/INBOX/cur" 2>/dev/null; then
	inode_list "$A" >"$T/ino6"
	mk -c "$cfg" sync
	rc=$MK_RC
	chattr -i "$A/INBOX/cur"
	MK_RC=$rc
	expect_rc 1 "sync with an immutable INBOX/cur"
	check 'grep -q "INBOX" "$MK_ERR"' "the error does not name INBOX: $(mk_err_line)"
	inode_list "$A" >"$T/ino7"
	inode_expect "$T/ino6" "$T/ino7"
	sync_ok "sync after cur/ is writable again"
	ex
else
	t_log "chattr +i refused: the immutable cur/ part is skipped"
fi

# ---- 5: a folder read from its state; the reader puts the directory times back -----------------
dadm flags add -u alice '\Flagged' mailbox INBOX uid 4
sync_ok "sync of a server change"
check 'grep -q "INBOX: state loaded (.*files as recorded)" "$MK_ERR"' "INBOX was not read from its state"
ex
inode_list "$A" >"$T/ino8"
t_cur=$(stat -c %.9Y "$A/INBOX/cur")
toggle INBOX 7 F
f=$(one_file INBOX 8); ln "$f" "$T/hold-inbox8"; rm -f "$f"
touch -m -d "@$t_cur" "$A/INBOX/cur" || fail "touch -d"
sync_ok "sync after a change with the times put back"
ex
inode_list "$A" >"$T/ino9"
inode_expect "$T/ino8" "$T/ino9" "rewritten INBOX 8"
# the same without the times put back, in the same second as the run before
toggle INBOX 2 S
sync_ok "sync right after a reader's change"
ex
# and with the server changing the same message
t_cur=$(stat -c %.9Y "$A/INBOX/cur")
toggle INBOX 4 D
touch -m -d "@$t_cur" "$A/INBOX/cur"
dadm flags replace -u alice '\Seen' mailbox INBOX uid 4
sync_ok "sync after a change with the times put back, and the server's"
ex
t_pass
