#!/usr/bin/env bash
# A Dovecot with ACLs and a shared namespace (tests/fixture/dovecot.sh --shared): bob shares his INBOX
# (lookup read) and Archive/2024 (lookup read write-seen) with alice, and Archive with the lookup right
# only. alice's LIST then has "shared" (\Noselect), "shared/bob" (bob's INBOX), "shared/bob/Archive"
# (listed, EXAMINE refused: NO [NOPERM]) and "shared/bob/Archive/2024". The readable shared folders
# are mirrored exactly, also after bob's changes, a run killed mid-way and a right taken back (a
# folder gone: warning, copy kept); the refused one fails with the server's refusal (exit 1) and gets
# no Maildir: the directory that its child's path makes stays a plain parent, no cur/, no state
# (before: an empty Maildir without a state, which verify let pass and push sent as a folder).
# The public namespace "Public/" (folders made by hand with their dovecot-acl files): alice may write
# News, News/Local, Lists and Hidden/Inner, bob may read all but Lists; Hidden (lookup only) is listed
# \Noselect. Both mirror what they may read, exactly, through alice's changes there.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up --shared
seed populate --seed 31 --count 5 --big 2
seed populate --user bob --seed 32 --count 6 --big 2
dadm acl set -u bob INBOX user=alice lookup read
dadm acl set -u bob Archive/2024 user=alice lookup read write-seen
dadm acl set -u bob Archive user=alice lookup
PUB=$DC/mail/public
for b in News News/Local Lists Hidden/Inner; do mkdir -p "$PUB/$b/cur" "$PUB/$b/new" "$PUB/$b/tmp"; done
printf 'user=alice lrwstipekxa\nanyone lr\n' >"$PUB/News/dovecot-acl"
cp "$PUB/News/dovecot-acl" "$PUB/News/Local/dovecot-acl"
cp "$PUB/News/dovecot-acl" "$PUB/Hidden/Inner/dovecot-acl"
printf 'user=alice lrwstipekxa\n' >"$PUB/Lists/dovecot-acl"
printf 'anyone l\n' >"$PUB/Hidden/dovecot-acl"
chown -R "$(stat -c %u:%g "$DC/mail")" "$PUB"
for b in News News/Local Lists Hidden/Inner; do seed append --folder "Public/$b" --seed 33 --count 5; done
cfg=$T/config.yaml
cfg_alice_bob "$cfg"
A=$T/mail/alice
refused=shared/bob/Archive

mk -c "$cfg" sync alice
expect_rc 1 "first sync (a shared folder alice may only see)"
check 'grep -q "folder \"shared/bob/Archive\": .*NOPERM" "$MK_ERR"' "the refusal is not named: $(mk_err_line)"
check '[ -d "$A/shared/bob/Archive/2024/cur" ]' "shared/bob/Archive/2024 is not mirrored"
check '[ -d "$A/shared/bob/cur" ]' "shared/bob (bob's INBOX) is not mirrored"
check '[ ! -e "$A/shared/cur" ]' "the \\Noselect \"shared\" got a Maildir"
check '[ ! -e "$A/$refused/cur" ] && [ ! -e "$A/$refused/.mailkeep-state" ]' \
	"an empty Maildir was made for $refused, which EXAMINE refused"
exact "$A" --folders-excluded "$refused"
mk -c "$cfg" sync alice
expect_rc 1 "second sync"
check '[ ! -e "$A/$refused/cur" ]' "an empty Maildir was made for $refused on the second run"
mk -c "$cfg" push alice bob --dry-run
check '! grep -q "would create folder \"shared/bob/Archive\"$" "$MK_OUT"' \
	"push would create $refused from an empty Maildir: $(grep -m1 'shared/bob/Archive"' "$MK_OUT")"

mk -c "$cfg" sync bob
expect_rc 0 "bob's first sync (public folders)"
exact "$T/mail/bob" --bob
check '[ -d "$T/mail/bob/Public/Hidden/Inner/cur" ] && [ ! -e "$T/mail/bob/Public/Hidden/cur" ] && [ ! -e "$T/mail/bob/Public/Lists" ]' \
	"bob's public folders are not as his rights say"

# bob changes his folders, alice the public ones (flags, expunges, new mail): both exact each time
for i in 1 2 3; do
	dadm flags add -u alice "\\Flagged Kw$i" mailbox Public/News uid "$i"
	dadm flags remove -u alice '\Seen' mailbox Public/Hidden/Inner uid 1:*
	dadm expunge -u alice mailbox Public/News/Local uid "$i"
	seed append --folder Public/News --seed $((40 + i)) --count 2 --first $((10 * i))
	mk -c "$cfg" sync bob
	expect_rc 0 "bob's sync after alice's changes to Public, round $i"
	exact "$T/mail/bob" --bob
	dadm flags add -u bob "\\Answered Kw$i" mailbox INBOX uid "$i:$((i + 2))"
	dadm flags remove -u bob '\Seen' mailbox Archive/2024 uid "$i"
	dadm expunge -u bob mailbox INBOX uid "$((i + 3))"
	dadm expunge -u bob mailbox Archive/2024 uid "$((i + 4))"
	seed append --user bob --folder INBOX --seed $((50 + i)) --count 3 --first $((10 * i))
	seed append --user bob --folder Archive/2024 --seed $((60 + i)) --count 2 --first $((10 * i))
	mk -c "$cfg" sync alice
	expect_rc 1 "sync after bob's changes, round $i"
	exact "$A" --folders-excluded "$refused"
done

# a run killed mid-way, with bob's new big mail to fetch
seed append --user bob --folder INBOX --seed 77 --count 2 --big 8 --big-size 2000000:3000000
"$MAILKEEP" -c "$cfg" sync alice </dev/null >"$T/kill.out" 2>"$T/kill.err" &
pid=$!
sleep 0.05
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
rc=$?
t_log "killed run: exit $rc"
check '[ $rc -eq 137 ]' "the run was not killed mid-way (exit $rc): too fast for this test"
mk -c "$cfg" sync alice
expect_rc 1 "sync after the kill"
exact "$A" --folders-excluded "$refused"
check '[ -z "$(tmp_files "$A")" ]' "files left in tmp/"

# bob takes back alice's rights to Archive/2024: gone from her LIST, her copy kept, a warning
n=$(ls "$A/shared/bob/Archive/2024/cur" | wc -l)
dadm acl delete -u bob Archive/2024 user=alice
mk -c "$cfg" sync alice
expect_rc 1 "sync after a right was taken back"
check 'grep -q "shared/bob/Archive/2024 no longer exists" "$MK_ERR"' "no warning for the folder no longer shared: $(mk_err_line)"
check '[ "$(ls "$A/shared/bob/Archive/2024/cur" | wc -l)" -eq "$n" ]' "the copy of the folder no longer shared changed"
exact "$A" --folders-excluded "$refused" --ignore-local shared/bob/Archive/2024
t_pass
