#!/usr/bin/env bash
# When a folder's UIDVALIDITY changes, the old cur/new/tmp and state move intact (byte for byte,
# same names) to <root>/NAME/.mailkeep/uidvalidity-<old>/<folder path>/ and the folder is mirrored
# anew; other folders are untouched.
. "$(dirname "$0")/lib.sh"
t_begin
uv_setup --big 1
uv_first_sync
inode_list "$A" >"$T/inodes0"

listing() { # DIR: "sha256 relative-path" of every file in DIR's cur/new/tmp and state
	(cd "$1" && find cur new tmp .mailkeep-state -type f -print0 2>/dev/null | sort -z | xargs -0r sha256sum)
}
uv_get old_inbox INBOX
uv_get old_sub Archive/2024
listing "$A/INBOX" >"$T/inbox.before"
listing "$A/Archive/2024" >"$T/sub.before"

dadm mailbox update -u alice --uid-validity 777 INBOX
dadm mailbox update -u alice --uid-validity 778 Archive/2024
# new mail in both and the first message expunged: not the messages of the state, so moved aside
# (not re-keyed, as the same messages or new mail alone are: t_uidvalidity_rekey)
seed append --folder INBOX --seed 61 --count 1
seed append --folder Archive/2024 --seed 62 --count 1
dadm expunge -u alice mailbox INBOX 1
dadm expunge -u alice mailbox Archive/2024 1

mk -c "$cfg" sync
expect_rc 0 "sync after the UIDVALIDITY change"
exact "$A"
for pair in "INBOX $old_inbox inbox" "Archive/2024 $old_sub sub"; do
	read -r folder uv tag <<<"$pair"
	old=$A/.mailkeep/uidvalidity-$uv/$folder
	check '[ -d "$old/cur" ]' "no old copy at .mailkeep/uidvalidity-$uv/$folder"
	listing "$old" >"$T/$tag.after"
	check 'cmp -s "$T/$tag.before" "$T/$tag.after"' \
		"the old copy of $folder is not byte-identical: $(diff "$T/$tag.before" "$T/$tag.after" | head -n 2 | tr '\n' ' ')"
done
check '! ls "$A/INBOX/cur" | grep -q "\.${old_inbox}_"' "INBOX/cur still has files of the old UIDVALIDITY"
check 'ls "$A/INBOX/cur" | grep -q "\.777_"' "INBOX/cur has no file of the new UIDVALIDITY"
inode_list "$A" >"$T/inodes1"
inode_expect "$T/inodes0" "$T/inodes1" "rewritten INBOX *" "gone INBOX *" "new INBOX *" "rewritten Archive/2024 *" \
	"gone Archive/2024 *" "new Archive/2024 *"

mk -c "$cfg" sync
expect_rc 0 "no-op sync"
exact "$A"
listing "$A/.mailkeep/uidvalidity-$old_inbox/INBOX" >"$T/inbox.after2"
check 'cmp -s "$T/inbox.before" "$T/inbox.after2"' "the old copy changed on the next run"

# A run killed in the middle of moving folders aside: INBOX with its cur/ moved (and cur/ made
# again, empty, since), Archive/2024 with only cur/ and new/ moved. The next run finishes both
# moves in the same directories: no second copy (.1), nothing left behind, the mark gone.
for pair in "INBOX 777 779 inbox" "Archive/2024 778 780 sub"; do
	read -r folder uv nuv tag <<<"$pair"
	listing "$A/$folder" >"$T/$tag.before3"
	mid=$A/.mailkeep/uidvalidity-$uv/$folder
	mkdir -p "$mid"
	: >"$mid/.mailkeep-moving"
	mv "$A/$folder/cur" "$mid/cur"
	if [ "$tag" = inbox ]; then mkdir -m 700 "$A/$folder/cur"; else mv "$A/$folder/new" "$mid/new"; fi
	dadm mailbox update -u alice --uid-validity "$nuv" "$folder"
done
mk -c "$cfg" sync
expect_rc 0 "sync after UIDVALIDITY changes whose moves aside were cut short"
exact "$A"
for pair in "INBOX 777 inbox" "Archive/2024 778 sub"; do
	read -r folder uv tag <<<"$pair"
	mid=$A/.mailkeep/uidvalidity-$uv/$folder
	check '[ ! -e "$A/.mailkeep/uidvalidity-$uv.1" ]' "$folder: a second old copy was made (uidvalidity-$uv.1)"
	check '[ ! -e "$mid/.mailkeep-moving" ]' "$folder: the move's mark is left in $mid"
	listing "$mid" >"$T/$tag.after3"
	check 'cmp -s "$T/$tag.before3" "$T/$tag.after3"' \
		"$folder: the old copy is not the folder as it was: $(diff "$T/$tag.before3" "$T/$tag.after3" | head -n 2 | tr '\n' ' ')"
done
# A killed run's leftover in tmp/ (a partial download, named by mailkeep) and the UIDVALIDITY changed
# before the next run: the old copy keeps no such file, as the folder's own tmp/ would not (before: it
# moved along and stayed there for good, since no run looks into an old copy again); another
# program's recent file in tmp/ (a delivery in progress) moves along and stays.
uv_get uv INBOX
printf 'partial\n' >"$A/INBOX/tmp/1796000000.4242_1.mailkeep.part"
printf 'delivery\n' >"$A/INBOX/tmp/1796000000.M1P2.otherhost"
seed append --folder INBOX --seed 63 --count 1
dadm expunge -u alice mailbox INBOX 1
dadm mailbox update -u alice --uid-validity 781 INBOX
mk -c "$cfg" sync
expect_rc 0 "sync after a killed run's leftover in tmp/ and a UIDVALIDITY change"
exact "$A"
old=$A/.mailkeep/uidvalidity-$uv/INBOX
check '[ -f "$old/tmp/1796000000.M1P2.otherhost" ]' "another program's file in tmp/ is not in the old copy $old"
check '[ -z "$(tmp_files "$A" | grep -E "/tmp/[^/]*\.mailkeep")" ]' "a killed run's leftover kept in an old copy: $(tmp_files "$A" | grep -E "/tmp/[^/]*\.mailkeep" | head -n 1)"
t_pass
