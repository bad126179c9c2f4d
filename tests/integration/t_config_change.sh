#!/usr/bin/env bash
# The configuration changes between runs, as in an account's life. Each time the mirror ends exact
# against the mailbox the configuration names now, nothing is downloaded again that is on disk,
# and a change that would mix two mailboxes is refused with a clear error:
#  1. user of an account changed: refused (exit 4), the mirror untouched; a new account name
#     mirrors the other mailbox; the same user under another host name is the same mailbox: the
#     run goes on, nothing downloaded again, the new name recorded;
#  2. a mirrored folder excluded (its copy left as it is), then included again (brought up to date);
#  3. deletions: keep switched to mirror: the kept messages go at the next run (also from states
#     without the kept line, as an older version wrote them);
#  4. max_connections, tls and port changed: nothing downloaded again;
#  5. snapshot turned off and on, snapshot_repo and snapshot_branch changed: each commit's tree is
#     the mirror;
#  6. account renamed and root changed, the mirror moved along: nothing downloaded again;
#  7. push target pointed at another user on another server: refused, nothing taken for pushed;
#     after removing the push state, the next push copies everything; the same target under
#     another host name: nothing appended again.
# Alice's and Bob's folders are made in the same second by the fixture, so they have the same
# UIDVALIDITY (forced here for the folders that matter) and the same UIDs: only a record of the
# mailbox tells their messages apart.
. "$(dirname "$0")/lib.sh"
t_begin
DC=$T/dc1
dc_up
D1=$DC
seed populate --seed 21 --count 4 --big 0
seed populate --user bob --seed 22 --count 4 --big 0
for f in INBOX Archive Archive/2024 Geschäftlich 日本語 'R&D'; do
	uv=$(dadm_out mailbox status -u alice uidvalidity "$f" | sed 's/.*uidvalidity=//')
	dadm mailbox update -u bob --uid-validity "$uv" "$f"
done
cfg=$T/config.yaml
A=$T/mail/acct
conf() { { echo "accounts:"; acct_yaml acct "$@"; } | cfg_write "$cfg"; }
# tree_is_mirror REPO BRANCH WHAT: the branch's tree holds exactly the mirror's message files
tree_is_mirror() {
	git --git-dir="$1" ls-tree -r -z --name-only "$2" | tr '\0' '\n' | grep -v '/\.mailkeep-keep$' |
		LC_ALL=C sort >"$T/tree"
	msg_files "$A" | LC_ALL=C sort >"$T/files"
	check 'cmp -s "$T/tree" "$T/files"' "$3: the snapshot is not the mirror: $(diff "$T/tree" "$T/files" | head -n 3 | tr '\n' ' ')"
}

# ---- 1. another user, another host
conf
mk -c "$cfg" sync
expect_rc 0 "part 1: first sync (alice)"
exact "$A"
check '[ -f "$A/.mailkeep/server" ] && [ "$(stat -c %a "$A/.mailkeep/server")" = 600 ]' \
	"part 1: the mailbox of the mirror is not recorded (0600) in .mailkeep/server"
inode_list "$A" >"$T/i1"
conf user=bob password_file="$DC/pass-bob"
mk -c "$cfg" sync
expect_rc 4 "part 1: the account now names bob"
check 'grep -q "is of user \"alice\" on 127.0.0.1, not user \"bob\" on 127.0.0.1" "$MK_ERR" && grep -qF "$A/.mailkeep/server" "$MK_ERR"' \
	"part 1: the error does not name both mailboxes and the record: $(mk_err_line)"
inode_list "$A" >"$T/i1b"
inode_expect "$T/i1" "$T/i1b"
exact "$A"
{ echo "accounts:"; acct_yaml acct-bob user=bob password_file="$DC/pass-bob"; } | cfg_write "$cfg"
mk -c "$cfg" sync
expect_rc 0 "part 1: bob under a name of his own"
exact "$T/mail/acct-bob" --bob
# the same user under another name of its server: the same mailbox
conf host=localhost
mk -c "$cfg" -v sync
expect_rc 0 "part 1: the account now names host localhost"
check 'grep -q "made from host 127.0.0.1, now localhost: taken for the same mailbox" "$MK_ERR"' \
	"part 1: -v does not say the host changed: $(mk_err_line)"
exact "$A"
inode_list "$A" >"$T/i1c"
inode_expect "$T/i1" "$T/i1c"
check 'grep -qx "host localhost" "$A/.mailkeep/server"' "part 1: the new host is not recorded"
conf
mk -c "$cfg" sync
expect_rc 0 "part 1: back to 127.0.0.1"
check '[ ! -s "$MK_ERR" ]' "part 1: a quiet run printed: $(mk_err_line)"

# ---- 2. a folder excluded, then included again
inode_list "$A" >"$T/i2"
conf raw='folders:' raw='  exclude: ["Archive*"]'
seed append --folder Archive --seed 30 --count 2 --first 10
dadm expunge -u alice mailbox Archive uid 1
dadm flags add -u alice '\Flagged' mailbox Archive/2024 uid 2
mk -c "$cfg" sync
expect_rc 0 "part 2: Archive* excluded"
check '! grep -q "no longer exists" "$MK_ERR"' "part 2: an excluded folder was called gone: $(mk_err_line)"
exact "$A" --ignore-local Archive
inode_list "$A" >"$T/i2b"
inode_expect "$T/i2" "$T/i2b"
conf
mk -c "$cfg" sync
expect_rc 0 "part 2: Archive* included again"
exact "$A"
inode_list "$A" >"$T/i2c"
inode_expect "$T/i2" "$T/i2c" "gone Archive 1" "new Archive *" "renamed Archive/2024 2"

# ---- 3. deletions: keep, then mirror
conf deletions=keep
dadm expunge -u alice mailbox INBOX uid 1
dadm expunge -u alice mailbox 'R&D' uid 2
mk -c "$cfg" sync
expect_rc 0 "part 3: deletions: keep"
exact "$A" --allow-extra-uids
check '[ -n "$(file_for "$A" INBOX 1)" ] && [ -n "$(file_for "$A" "R&D" 2)" ]' "part 3: keep removed a message"
conf deletions=mirror
mk -c "$cfg" sync
expect_rc 0 "part 3: deletions: mirror again"
exact "$A"
conf deletions=keep
mk -c "$cfg" sync
expect_rc 0 "part 3: deletions: keep once more"
exact "$A"
# the same with states of a version before the kept line: unknown, so read as kept once
dadm expunge -u alice mailbox INBOX uid 2
mk -c "$cfg" sync
expect_rc 0 "part 3: deletions: keep, older states"
check '[ -n "$(file_for "$A" INBOX 2)" ]' "part 3: keep removed a message"
find "$A" -name .mailkeep-state -exec sed -i '/^kept /d' {} +
conf deletions=mirror
mk -c "$cfg" sync
expect_rc 0 "part 3: deletions: mirror after older states"
exact "$A"
conf deletions=keep

# ---- 4. connections and transport
inode_list "$A" >"$T/i4"
n=40
for v in max_connections=1 max_connections=4 tls=starttls tls=none tls=implicit; do
	conf "$v"
	seed append --folder INBOX --seed 32 --count 1 --first $n
	n=$((n + 1))
	mk -c "$cfg" sync
	expect_rc 0 "part 4: $v"
	exact "$A"
done
inode_list "$A" >"$T/i4b"
inode_expect "$T/i4" "$T/i4b" "new INBOX *"

# ---- 5. snapshots turned off and on, another repository, another branch
conf snapshot=true
mk -c "$cfg" sync
expect_rc 0 "part 5: snapshot on"
tree_is_mirror "$A.git" main "part 5: first snapshot"
conf snapshot=false
seed append --folder INBOX --seed 33 --count 2 --first 50
dadm expunge -u alice mailbox Archive uid 2
dadm flags add -u alice '\Seen' mailbox Archive/2024 uid 1
mk -c "$cfg" sync
expect_rc 0 "part 5: snapshot off"
conf snapshot=true
mk -c "$cfg" sync
expect_rc 0 "part 5: snapshot on again, nothing new on the server"
tree_is_mirror "$A.git" main "part 5: snapshot on again"
conf snapshot=true snapshot_repo="$T/other.git"
mk -c "$cfg" sync
expect_rc 0 "part 5: another repository"
tree_is_mirror "$T/other.git" main "part 5: another repository"
seed append --folder Archive --seed 34 --count 1 --first 60
mk -c "$cfg" sync
expect_rc 0 "part 5: another repository, new mail"
conf snapshot=true
mk -c "$cfg" sync
expect_rc 0 "part 5: the first repository again"
tree_is_mirror "$A.git" main "part 5: the first repository again"
conf snapshot=true snapshot_branch=other
mk -c "$cfg" sync
expect_rc 0 "part 5: another branch"
tree_is_mirror "$A.git" other "part 5: another branch"

# ---- 6. account renamed, root changed, the mirror moved along
inode_list "$A" >"$T/i6"
mv "$A" "$T/mail/renamed"
A=$T/mail/renamed
{ echo "accounts:"; acct_yaml renamed; } | cfg_write "$cfg"
mk -c "$cfg" sync
expect_rc 0 "part 6: account renamed"
exact "$A"
inode_list "$A" >"$T/i6b"
inode_expect "$T/i6" "$T/i6b"
mkdir -m 700 "$T/root2"
mv "$A" "$T/root2/renamed"
A=$T/root2/renamed
{ echo "accounts:"; acct_yaml renamed root="$T/root2"; } | cfg_write "$cfg"
mk -c "$cfg" sync
expect_rc 0 "part 6: root changed"
exact "$A"
inode_list "$A" >"$T/i6c"
inode_expect "$T/i6" "$T/i6c"

# ---- 7. push target pointed at another user on another server, its folders of the same UIDVALIDITY
P1=$IMAP_PORT
P1S=$IMAPS_PORT
CA1=$CA_FILE
pconf() { # TARGET-HOST TARGET-PORT TARGET-CA TARGET-PASSWORD-FILE
	{
		echo "accounts:"
		acct_yaml renamed root="$T/root2" port="$P1S" ca_file="$CA1" password_file="$D1/pass-alice"
		acct_yaml tgt user="$5" host="$1" port="$2" ca_file="$3" password_file="$4"
	} | cfg_write "$cfg"
}
pconf 127.0.0.1 "$P1S" "$CA1" "$D1/pass-bob" bob
mk -c "$cfg" push renamed tgt
expect_rc 0 "part 7: first push"
DC=$T/dc2
dc_up
D2=$DC
dadm mailbox create -u alice Archive
for f in INBOX Archive; do
	uv=$(doveadm -c "$D1/dovecot.conf" mailbox status -u bob uidvalidity "$f" | sed 's/.*uidvalidity=//')
	dadm mailbox update -u alice --uid-validity "$uv" "$f"
done
pconf localhost "$IMAPS_PORT" "$CA_FILE" "$D2/pass-alice" alice
mk -c "$cfg" push renamed tgt
expect_rc 4 "part 7: the target now names another user on another server"
check 'grep -q "records what was pushed to user \"bob\" on 127.0.0.1, not user \"alice\" on localhost" "$MK_ERR"' \
	"part 7: the error does not name both targets: $(mk_err_line)"
check '[ "$(dadm_out mailbox status -u alice messages INBOX)" = "INBOX messages=0" ]' "part 7: the refused push changed the target"
rm -r "$A/.mailkeep/push/tgt"
mk -c "$cfg" push renamed tgt
expect_rc 0 "part 7: push after removing the state"
PC_WHAT="part 7: the new target is not the source" pc compare --src "127.0.0.1:$P1:alice:$D1/pass-alice" \
	--dst "127.0.0.1:$IMAP_PORT:alice:$D2/pass-alice"
# the same target under another host name: the same mailbox, nothing appended again
pconf 127.0.0.1 "$IMAPS_PORT" "$CA_FILE" "$D2/pass-alice" alice
mk -c "$cfg" -v push renamed tgt
expect_rc 0 "part 7: the same target as 127.0.0.1"
check 'grep -q "0 messages appended (0 bytes), 0 already there" "$MK_ERR"' \
	"part 7: the target under another host name got messages again: $(grep -m1 'push .* folders' "$MK_ERR")"
check 'grep -q "the target was host localhost, now 127.0.0.1: taken for the same mailbox" "$MK_ERR"' \
	"part 7: -v does not say the target's host changed"
t_pass
