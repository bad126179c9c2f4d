#!/usr/bin/env bash
# kill -9 at various instants of a sync of a bigger mailbox (~1 MB messages), with server changes
# in between: after every kill, every message file present is complete and exact (no torn file in
# cur/, no UID twice); the lock does not stay held; a final run gives an exact mirror, tmp/ empty.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 12 --count 4 --big 24 --big-size 700000:1200000
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice; } | cfg_write "$cfg"
A=$T/mail/alice
probe=$T/probe.yaml
{ echo "accounts:"; acct_yaml alice root="$T/probe"; } | cfg_write "$probe"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
t0=$(now_ms)
mk -c "$probe" sync
expect_rc 0 "probe sync"
dur=$(($(now_ms) - t0))
rm -rf "$T/probe"
t_log "a full sync takes ${dur} ms"
[ $dur -ge 20 ] || dur=20

partial() {
	CHECKS=$((CHECKS + 1))
	[ -d "$A" ] || return 0
	python3 "$COMPARE_PY" "$A" --host "$IMAP_HOST" --port "$IMAP_PORT" --user "$IMAP_USER" \
		--password-file "$DC/pass-alice" --partial >"$T/compare.out" 2>&1 ||
		fail "after kill $1: $(head -n 1 "$T/compare.out")"
}

killed=0
# each run resumes where the killed one stopped: kill early (a fraction of a full sync), and from
# the fifth run on give it new work first
fractions=(3 8 12 6 15 10 20 8)
for i in 0 1 2 3 4 5 6 7; do
	if [ $i -ge 4 ]; then
		# new work for the run that gets killed: server changes and more big mail
		dadm flags add -u alice '\Flagged' mailbox INBOX uid $((i - 2))
		dadm expunge -u alice mailbox Archive uid $((i - 3))
		seed append --folder INBOX --seed $((120 + i)) --count 1 --big 3 --big-size 700000:1200000
	fi
	delay=$((dur * fractions[i] / 100 + RANDOM % (dur / 10 + 1)))
	"$MAILKEEP" -c "$cfg" sync </dev/null >"$T/kill.$i.out" 2>"$T/kill.$i.err" &
	pid=$!
	sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
	if kill -KILL "$pid" 2>/dev/null; then
		wait "$pid" 2>/dev/null
		rc=$?
		[ $rc -eq 137 ] && killed=$((killed + 1))
		t_log "kill $i after ${delay} ms: exit $rc"
	else
		wait "$pid"
		rc=$?
		t_log "kill $i after ${delay} ms: the run had already ended with exit $rc"
		[ $rc -eq 0 ] || fail "run $i ended on its own with exit $rc: $(tail -n 1 "$T/kill.$i.err")"
	fi
	partial $i
done
t_log "$killed runs were killed mid-way"
check '[ $killed -ge 4 ]' "only $killed of 8 runs were still going when killed (the sync is too fast for this test)"

mk -c "$cfg" sync
expect_rc 0 "final sync after the kills"
exact "$A"
check '[ -z "$(tmp_files "$A")" ]' "files left in tmp/"
inode_list "$A" >"$T/inodes0"
mk -c "$cfg" sync
expect_rc 0 "no-op sync"
inode_list "$A" >"$T/inodes1"
inode_expect "$T/inodes0" "$T/inodes1"
t_pass
