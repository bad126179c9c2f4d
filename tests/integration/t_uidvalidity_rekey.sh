#!/usr/bin/env bash
# A folder whose UIDVALIDITY changed while its messages stayed (Courier's folder no client SELECTed,
# a server's index rebuilt) is re-keyed: its files renamed to the new UIDVALIDITY and UIDs (same
# inodes: bytes, mtimes and modes kept), nothing downloaded, nothing moved aside, no record left;
# a flag changed on the server meanwhile is applied by the same run. A folder with one message
# that differs (same count) is moved aside as before. A folder with one message more (delivered
# before the UIDVALIDITY changed) is re-keyed, the new message downloaded beside the kept files.
. "$(dirname "$0")/lib.sh"
t_begin
uv_setup
# keywords on INBOX's messages: the re-keyed state keeps them (and its table is its own)
dadm flags add -u alice '$label1 NonJunk' mailbox INBOX all
uv_first_sync
inode_list "$A" >"$T/inodes0"
modes() { (cd "$1" && find cur -type f -printf '%i %m %T@\n' | sort); }
modes "$A/INBOX" >"$T/inbox.modes0"
modes "$A/Archive/2024" >"$T/sub.modes0"
uv_get old_inbox INBOX
uv_get old_sub Archive/2024
n_inbox=$(find "$A/INBOX/cur" -type f | wc -l)
n_sub=$(find "$A/Archive/2024/cur" -type f | wc -l)
check '[ "$n_inbox" -gt 1 ] && [ "$n_sub" -gt 1 ]' "the seed left INBOX or Archive/2024 with fewer than 2 messages"

# INBOX: the same UIDs under another UIDVALIDITY (and a flag changed on one message);
# Archive/2024: renumbered by Dovecot, its uid list and indexes deleted while no session has it
# open (new UIDVALIDITY, UIDs from 1)
dadm mailbox update -u alice --uid-validity 777 INBOX
check '[ "$(file_for "$A" INBOX 1 | sed "s/.*:2,//")" != DR ]' "INBOX UID 1 has the flags DR already"
dadm flags replace -u alice '\Draft \Answered' mailbox INBOX uid 1
uv_renumber Archive/2024
uv_get new_sub Archive/2024
check '[ "$new_sub" != "$old_sub" ]' "Dovecot kept Archive/2024's UIDVALIDITY ($new_sub)"

mk -v -c "$cfg" sync
expect_rc 0 "sync after the UIDVALIDITY changes"
exact "$A"
check 'grep -q "account alice: folder \"INBOX\": re-keyed $n_inbox messages to UIDVALIDITY 777" "$MK_ERR"' \
	"INBOX not re-keyed: $(grep -m1 INBOX "$MK_ERR")"
check 'grep -q "account alice: folder \"Archive/2024\": re-keyed $n_sub messages to UIDVALIDITY $new_sub" "$MK_ERR"' \
	"Archive/2024 not re-keyed: $(grep -m1 Archive/2024 "$MK_ERR")"
check 'grep -q "folder \"INBOX\" (full): 0 new, 1 flag changes" "$MK_ERR"' \
	"INBOX: not 0 new and the flag applied: $(grep 'folder "INBOX" (' "$MK_ERR")"
check 'grep -q "folder \"Archive/2024\" (full): 0 new, 0 flag changes" "$MK_ERR"' \
	"Archive/2024: not 0 new: $(grep 'folder "Archive/2024" (' "$MK_ERR")"
check '[ -z "$(find "$A/.mailkeep" -maxdepth 1 -name "uidvalidity-*")" ]' \
	"moved aside: $(find "$A/.mailkeep" -maxdepth 1 -name 'uidvalidity-*')"
check '[ -z "$(find "$A" -name ".mailkeep-rekey*")" ]' "a re-key record is left: $(find "$A" -name '.mailkeep-rekey*')"
check '! ls "$A/INBOX/cur" | grep -q "\.${old_inbox}_"' "INBOX/cur still has files of the old UIDVALIDITY"
check '[ "$(ls "$A/INBOX/cur" | grep -c "\.777_")" = "$n_inbox" ]' "INBOX/cur: not every file of UIDVALIDITY 777"
check '[ "$(ls "$A/Archive/2024/cur" | grep -c "\.${new_sub}_")" = "$n_sub" ]' \
	"Archive/2024/cur: not every file of UIDVALIDITY $new_sub"
check 'grep -q "^uidvalidity 777$" "$A/INBOX/.mailkeep-state"' "INBOX's state is not of UIDVALIDITY 777"
# (UID 1's were replaced by the flags above)
check '[ "$(grep -c "^m .* \$label1 NonJunk$" "$A/INBOX/.mailkeep-state")" = "$((n_inbox - 1))" ]' \
	"INBOX's re-keyed state lost the keywords: $(grep '^m ' "$A/INBOX/.mailkeep-state" | head -n 2)"
# the same inodes, modes and mtimes: renamed, not written again
modes "$A/INBOX" >"$T/inbox.modes1"
modes "$A/Archive/2024" >"$T/sub.modes1"
check 'cmp -s "$T/inbox.modes0" "$T/inbox.modes1"' "INBOX's files: other inodes, modes or mtimes"
check 'cmp -s "$T/sub.modes0" "$T/sub.modes1"' "Archive/2024's files: other inodes, modes or mtimes"

mk -v -c "$cfg" sync
expect_rc 0 "the run after"
exact "$A"
check '! grep -q "re-keyed" "$MK_ERR"' "re-keyed again"
check '! grep -E "folder \"(INBOX|Archive/2024)\".*[1-9][0-9]* new" "$MK_ERR"' "downloaded on the run after"

# One message differs (expunged, another appended: the same count): moved aside as before
inode_list "$A" >"$T/inodes1"
dadm expunge -u alice mailbox INBOX uid 2
seed append --folder INBOX --seed 61 --count 1
dadm mailbox update -u alice --uid-validity 778 INBOX
mk -v -c "$cfg" sync
expect_rc 0 "sync after a UIDVALIDITY change with one message replaced"
exact "$A"
check '! grep -q "re-keyed" "$MK_ERR"' "re-keyed though a message differs"
check 'grep -q "folder \"INBOX\": UIDVALIDITY 777 to 778, not the same messages" "$MK_ERR"' \
	"no reason given for the move aside: $(grep -m1 INBOX "$MK_ERR")"
check '[ -d "$A/.mailkeep/uidvalidity-777/INBOX/cur" ]' "INBOX not moved aside"
check '[ "$(ls "$A/.mailkeep/uidvalidity-777/INBOX/cur" | wc -l)" = "$n_inbox" ]' "the old copy is not whole"
# One more delivered, then a new UIDVALIDITY (Courier's folder no client SELECTed, mail delivered
# into it between two runs): the state's messages re-keyed (same inodes), the new one downloaded
modes "$A/INBOX" >"$T/inbox.modes2"
n2=$(wc -l <"$T/inbox.modes2")
seed append --folder INBOX --seed 62 --count 1
dadm mailbox update -u alice --uid-validity 779 INBOX
mk -v -c "$cfg" sync
expect_rc 0 "sync after one message delivered and a UIDVALIDITY change"
exact "$A"
check 'grep -q "folder \"INBOX\": re-keyed $n2 messages to UIDVALIDITY 779 (was 778)" "$MK_ERR"' \
	"INBOX not re-keyed with one message more: $(grep -m1 'folder "INBOX"' "$MK_ERR")"
check 'grep -q "folder \"INBOX\" (full): 1 new" "$MK_ERR"' "INBOX: not 1 new: $(grep 'folder "INBOX" (' "$MK_ERR")"
check '[ ! -e "$A/.mailkeep/uidvalidity-778" ]' "moved aside with one message more"
modes "$A/INBOX" >"$T/inbox.modes3"
check '[ -z "$(comm -23 "$T/inbox.modes2" "$T/inbox.modes3")" ] && [ "$(wc -l <"$T/inbox.modes3")" = $((n2 + 1)) ]' \
	"INBOX's files: not the $n2 kept (same inodes, modes, mtimes) and one new"
t_pass
