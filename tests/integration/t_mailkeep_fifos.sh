#!/usr/bin/env bash
# No file mailkeep reads from the mirror is waited on: a FIFO (or a link) where the snapshot
# state, a push state, the snapshot's commit mark or a message file should be. Before, a FIFO
# .mailkeep/snapshot-state hung every sync for ever with the account lock held (cron's next
# runs all "locked"); a FIFO .push-state hung every push; a FIFO named as a message in cur/ hung
# `verify` and `push`. Now each run goes on or fails with the file named, within seconds.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 7 --count 3 --big 0 --folders INBOX,Work
cfg=$T/config.yaml
cfg_alice_bob "$cfg" snapshot=true
A=$T/mail/alice
R=$T/mail/alice.git
run() { # run WHAT ARGS...: mailkeep bounded by 60 s; MK_RC
	local what=$1
	shift
	timeout 60 "$MAILKEEP" -c "$cfg" "$@" </dev/null >"$T/run.out" 2>"$T/run.err"
	MK_RC=$?
	check '[ "$MK_RC" -ne 124 ]' "$what hung"
}
mk -c "$cfg" sync alice
expect_rc 0 "first sync"

# 1. the snapshot state a FIFO: a full comparison, and a file again after it
rm -f "$A/.mailkeep/snapshot-state"
mkfifo "$A/.mailkeep/snapshot-state"
seed append --folder INBOX --seed 8 --count 1 --first 100
run "sync with a FIFO snapshot-state" sync alice
check '[ "$MK_RC" -eq 0 ]' "sync with a FIFO snapshot-state exited $MK_RC: $(tail -n 1 "$T/run.err")"
check '[ -f "$A/.mailkeep/snapshot-state" ] && [ ! -p "$A/.mailkeep/snapshot-state" ]' "the snapshot state is still not a file"
n_tree=$(git --git-dir="$R" ls-tree -r --name-only main | grep -vc '/\.mailkeep-keep$')
check '[ "$n_tree" -eq "$(msg_files "$A" | wc -l)" ]' "the snapshot holds $n_tree messages, the mirror $(msg_files "$A" | wc -l)"

# 2. the commit mark a dangling link (a FIFO there is removed as a stale mark)
ln -s "$T/nowhere" "$A/.mailkeep/snapshot-committing"
seed append --folder INBOX --seed 9 --count 1 --first 200
run "sync with a linked commit mark" sync alice
check '[ "$MK_RC" -eq 0 ]' "sync with a linked commit mark exited $MK_RC: $(tail -n 1 "$T/run.err")"
check '[ ! -e "$T/nowhere" ]' "the mark was written through the link"
check '[ "$(git --git-dir="$R" rev-list --count main)" -eq 3 ]' "expected 3 snapshots, got $(git --git-dir="$R" rev-list --count main)"

# 3. a push state a FIFO: that folder fails, named; the other is pushed
mk -c "$cfg" push alice bob
expect_rc 0 "first push"
st=$(find "$A/.mailkeep/push" -path '*INBOX*' -name .push-state | head -n 1)
check '[ -n "$st" ]' "no push state for INBOX"
rm -f "$st"
mkfifo "$st"
run "push with a FIFO push state" push alice bob
check '[ "$MK_RC" -ne 0 ]' "push with a FIFO push state exited 0"
check 'grep -q "push-state: not a regular file" "$T/run.err"' "the FIFO is not named: $(tail -n 1 "$T/run.err")"
rm -f "$st"

# 4. a FIFO named as a message in cur/
mkfifo "$A/Work/cur/1700000000.M1P1.host,U=999:2,S"
run "verify with a FIFO in cur/" verify alice
run "push with a FIFO in cur/" push alice bob
run "sync with a FIFO in cur/" sync alice
run "snapshot with a FIFO in cur/" snapshot alice
t_pass
