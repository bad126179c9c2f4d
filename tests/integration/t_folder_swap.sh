#!/usr/bin/env bash
# Two folders with one UIDVALIDITY (RFC 3501 allows it; some servers give every folder the same)
# whose directories are swapped, copied over each other, or whose messages move between them while
# a state is lost: the file names and the states agree with each other, so only the state's record
# of which folder it was written for (and, without a state, the server's INTERNALDATEs against the
# dates the names start with) tells one folder's message from the other's of the same UID; verify
# reports such a state and push refuses the folder until a sync rebuilt it. Each
# time the next sync must end exact (every message's bytes compared), no duplicate, and a folder's
# own files are kept, not downloaded again. (Before: each folder kept the other's messages under
# its UIDs, run after run.)
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 5 --count 6 --big 0
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice max_connections=1; } | cfg_write "$cfg"
A=$T/mail/alice
G=Geschäftlich
R='R&D'
mk -c "$cfg" sync
expect_rc 0 "initial sync"
dadm mailbox update -u alice --uid-validity 4242 "$G"
dadm mailbox update -u alice --uid-validity 4242 "$R"
mk -c "$cfg" sync
expect_rc 0 "sync after the UIDVALIDITY change"
rm -rf "$A/.mailkeep/uidvalidity-"*
exact "$A"
check '[ -n "$(file_for "$A" "$G" 1)" ] && [ -n "$(file_for "$A" "$R" 1)" ]' "UID 1 missing in $G or $R"
check 'grep -q "^folder [0-9a-f]\{16\}$" "$A/$G/.mailkeep-state"' "the state does not name its folder"
settled_save

# ---- the two directories swapped -------------------------------------------------------------------
fresh
mv "$A/$G" "$A/swap"; mv "$A/$R" "$A/$G"; mv "$A/swap" "$A/$R"
# before the next sync: verify says so, push sends neither folder's files as the other's
mk -c "$cfg" verify alice
expect_rc 1 "verify after the swap"
check 'grep -q "another folder" "$MK_OUT" "$MK_ERR"' "verify did not name the swap: $(head -c 300 "$MK_OUT")"
cfg_alice_bob "$T/push.yaml"
mk -c "$T/push.yaml" push alice bob
expect_rc 1 "push after the swap"
check 'grep -q "another folder" "$MK_ERR"' "push did not name the swap: $(mk_err_line)"
for f in "$G" "$R"; do
	n=$(doveadm -c "$DOVECOT_CONF" search -u bob mailbox "$f" all 2>/dev/null | wc -l)
	check '[ "$n" = 0 ]' "push sent $n messages of the swapped mirror into bob's $f"
done
sync_exact "sync after two folders of one UIDVALIDITY swapped"
check 'grep -q "the state is another folder" "$T/first.err"' "the swap was not reported"

# ---- one copied over the other: its own files stay, the other's go ----------------------------------
fresh
inode_list "$A/$G" >"$T/g0"
cp -a "$A/$R/." "$A/$G/"
sync_exact "sync after $R copied over $G"
inode_list "$A/$G" >"$T/g1"
inode_expect "$T/g0" "$T/g1" "renamed . *"

# ---- the state lost and a message of the other folder moved in, beside and instead of the own file --
fresh
rm "$A/$G/.mailkeep-state" "$A/$R/.mailkeep-state"
mv "$(file_for "$A" "$R" 1)" "$A/$G/cur/"
rm "$(file_for "$A" "$R" 2)"
g2=$(file_for "$A" "$G" 2); r2=$(file_for "$T/clean" "$R" 2)
rm "$g2"; cp -p "$r2" "$A/$G/cur/"
inode_list "$A/$G" >"$T/g0"
sync_exact "sync after the states were lost and messages moved between the folders"
inode_list "$A/$G" >"$T/g1"
inode_expect "$T/g0" "$T/g1" "renamed . *" "new . 2"

# ---- states written before the folder line: each gets it on the next run, nothing downloaded ------
fresh
find "$A" -name .mailkeep-state -exec sed -i '/^folder /d' {} +
inode_list "$A" >"$T/a0"
mk -c "$cfg" -v sync
expect_rc 0 "sync over states without the folder line"
check 'grep -q "0 new" "$MK_ERR"' "messages downloaded over older states: $(grep "folders (" "$MK_ERR")"
n=$(find "$A" -name .mailkeep-state | wc -l)
m=$(find "$A" -name .mailkeep-state -exec grep -l "^folder " {} + | wc -l)
check '[ "$n" -gt 5 ] && [ "$n" = "$m" ]' "$m of $n states got the folder line"
inode_list "$A" >"$T/a1"
inode_expect "$T/a0" "$T/a1"
exact "$A"
find "$A" -name .mailkeep-state -printf '%p %T@\n' | sort >"$T/st0"
mk -c "$cfg" -v sync
expect_rc 0 "the no-change run after"
find "$A" -name .mailkeep-state -printf '%p %T@\n' | sort >"$T/st1"
check 'cmp -s "$T/st0" "$T/st1"' "a no-change run rewrote states: $(diff "$T/st0" "$T/st1" | head -n 2)"
t_pass
