#!/usr/bin/env bash
# kill -9 at the N-th syscall of a run, for N over the whole run, then a rerun that must end exact.
# For each scenario a probe run under `strace -f` lists every syscall of it; k9_strace.py picks the
# points (one in each of K equal slices of the run, so every phase is hit: connect, login, LIST,
# EXAMINE, downloads cut mid-body, renames, state writes, the git snapshot) and each point is
# reached again by strace's per-thread counter (the k-th call of that name), from the scenario's
# starting mirror copied back (sync only reads the server: it stays as it is).
# Scenarios, each on the three flag paths (QRESYNC, CONDSTORE only, neither), max_connections 1:
#   initial   the first mirror of 6 folders, 49 messages, one of 2-3 MB
#   snapinit  the same with `snapshot: true` (the repository made, the first commit)
#   incr      flags changed, messages expunged, new ones appended (one big) since the settled
#             mirror; and a reader's change in it (a file renamed to other flags, one moved from cur/
#             to new/, one deleted)
#   snapshot  incr with `snapshot: true` (its repository copied back too)
#   keep      incr with `deletions: keep`
# Some points (K9S_RERUN_EVERY) kill the rerun too, at a random call; a third run then must end exact.
# After the good run: exit 0; compare.py exact (bytes, flags in names, mtime = INTERNALDATE, 0600
# files and 0700 directories, each UID once; --allow-extra-uids with keep); no Message-ID twice;
# nothing in tmp/, no *.tmp/.part/.lock, no .mailkeep-moving mark, every file 0600 and directory
# 0700 under the account (the states too); with snapshots `git fsck --full` clean, HEAD's tree =
# the mirror, snapshot-state = HEAD, no lock, no snapshot-committing mark; a no-op run then
# changes no file and makes no commit.
#   K9S_POINTS=K       points per scenario and path, and K more among the calls that change the
#                      file system (default 1: about 3 minutes in all)
#   K9S_ALL=1          every syscall of every run (the exhaustive mode: many hours)
#   K9S_MUTATING=1     the K points plus every call that changes the file system
#   K9S_MODES="qresync condstore full"   K9S_SCENARIOS="initial snapinit incr snapshot keep"
#   K9S_SEED=S         the random seed of the points (default 1)
#   K9S_RERUN_EVERY=E  also kill the rerun of every E-th point (default 3; 0: never)
#   K9S_SAVE=DIR       keep the mirror and the logs of each failed point there
#   K9S_CONNS=C        max_connections (default 1; with more the threads' counters race: the
#                      kill lands near the point, not on it)
. "$(dirname "$0")/lib.sh"
t_begin
command -v strace >/dev/null || fail "strace is not installed (make deps)"
command -v git >/dev/null || fail "git is not installed"
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
[ -x "$PY" ] || PY=python3
K9S=$LIB_DIR/k9_strace.py
K9=$LIB_DIR/k9_torture.py
P=${K9S_POINTS:-1}
SEED=${K9S_SEED:-1}
RERUN_EVERY=${K9S_RERUN_EVERY:-3}
MODES=${K9S_MODES:-qresync condstore full}
SCENARIOS=${K9S_SCENARIOS:-initial snapinit incr snapshot keep}
RANDOM=$SEED
FAILS=0 POINTS=0 KILLED=0
FAILED_LIST=$T/failures
: >"$FAILED_LIST"
t_log "K9S_POINTS=$P K9S_SEED=$SEED K9S_ALL=${K9S_ALL:-0} K9S_MUTATING=${K9S_MUTATING:-0} modes: $MODES; scenarios: $SCENARIOS"

problem() {
	PT_PROBLEMS+="${PT_PROBLEMS:+ | }$*"
	t_log "  PROBLEM: $*"
}

G() { git -c core.quotepath=off --git-dir="$R" "$@"; }

# verify: the checks of a good run's outcome (problems recorded, not fatal)
verify() {
	local opts=() l
	[ "$SC" = keep ] && opts=(--allow-extra-uids)
	CHECKS=$((CHECKS + 5))
	"$PY" "$K9" msgids "$A" --host "$IMAP_HOST" --port "$IMAP_PORT" --user "$IMAP_USER" \
		--password-file "$DC/pass-alice" >"$T/msgids.out" 2>&1 ||
		problem "duplicate Message-IDs: $(head -n 2 "$T/msgids.out" | tr '\n' ' ')"
	if ! "$PY" "$COMPARE_PY" "$A" --host "$IMAP_HOST" --port "$IMAP_PORT" --user "$IMAP_USER" \
		--password-file "$DC/pass-alice" "${opts[@]}" >"$T/compare.out" 2>&1; then
		sed 's/^/#     /' "$T/compare.out" | head -n 8 >&2
		problem "compare.py: $(head -n 3 "$T/compare.out" | tr '\n' ' ' | cut -c1-400)"
	fi
	l=$(tmp_files "$A" | head -n 3 | tr '\n' ' ')
	[ -z "$l" ] || problem "files left in tmp/: $l"
	l=$(cd "$A" && find . \( -name '*.tmp' -o -name '*.part' -o -name '*.lock' -o -name '*.mailkeep-link' \
		-o -name '.mailkeep-moving*' \) -print | head -n 3 | tr '\n' ' ')
	[ -z "$l" ] || problem "temporary files or marks left: $l"
	l=$(cd "$A" && find . \( -type f ! -perm 0600 -o -type d ! -perm 0700 \) -printf '%m %p\n' | head -n 3 | tr '\n' ' ')
	[ -z "$l" ] || problem "modes: $l"
	[ -n "$R" ] || return 0
	CHECKS=$((CHECKS + 3))
	if ! G fsck --full --no-progress --no-dangling >"$T/fsck.out" 2>&1; then
		problem "git fsck failed: $(head -n 3 "$T/fsck.out" | tr '\n' ' ')"
	fi
	"$PY" "$K9" tree "$R" "$A" >"$T/tree.out" 2>&1 ||
		problem "snapshot HEAD differs from the mirror: $(head -n 3 "$T/tree.out" | tr '\n' ' ')"
	local st head
	head=$(G rev-parse -q --verify HEAD 2>/dev/null)
	st=$(sed -n 's/^commit //p' "$A/.mailkeep/snapshot-state" 2>/dev/null)
	[ "$st" = "$head" ] || problem "snapshot-state records ${st:-nothing}, HEAD is ${head:-nothing}"
	l=$(cd "$R" && find . -name '*.lock' -print | head -n 3 | tr '\n' ' ')
	[ -z "$l" ] || problem "lock files left in the snapshot repository: $l"
	[ ! -e "$R.init" ] || problem "$R.init left behind"
	[ ! -e "$A/.mailkeep/snapshot-committing" ] || problem "the mark .mailkeep/snapshot-committing left behind"
}

# noop: the run after a good one changes no file and makes no commit
noop() {
	local h0="" h1=""
	[ -n "$R" ] && h0=$(G rev-parse -q --verify HEAD 2>/dev/null)
	inode_list "$A" >"$T/ino0"
	mk -c "$cfg" sync
	[ "$MK_RC" -eq 0 ] || problem "the no-op run: exit $MK_RC: $(mk_err_line)"
	inode_list "$A" >"$T/ino1"
	CHECKS=$((CHECKS + 1))
	cmp -s "$T/ino0" "$T/ino1" || problem "the no-op run changed files: $(diff "$T/ino0" "$T/ino1" | grep '^[<>]' | head -n 4 | tr '\n' ' ')"
	if [ -n "$R" ]; then
		h1=$(G rev-parse -q --verify HEAD 2>/dev/null)
		[ "$h0" = "$h1" ] || problem "the no-op run made a snapshot commit"
	fi
}

# restore: the scenario's starting point (no mirror, or the base copied back)
restore() {
	rm -rf "$A" "${R:-$A.nogit}" "${R:-$A.nogit}.init"
	case $SC in initial | snapinit) return 0 ;; esac
	cp -a "$BASE/acct" "$A"
	[ -z "$R" ] || cp -a "$BASE/git" "$R"
}

# one_point NAME K PHASE: kill before the K-th NAME call, rerun (maybe killed too), check
KN=0
one_point() {
	local name=$1 k=$2 phase=$3 what rc
	POINTS=$((POINTS + 1)) KN=$((KN + 1))
	PT_PROBLEMS=""
	restore
	what=$("$PY" "$K9S" kill --name "$name" --k "$k" --trace "$T/kill.trace" --stdout "$T/k$KN.out" \
		--stderr "$T/k$KN.err" --timeout "$MK_TIMEOUT" -- "$MAILKEEP" -c "$cfg" -v sync)
	rc=$?
	local desc="$MODE/$SC: kill before $name #$k ($phase): $what"
	if [ $rc -eq 137 ]; then
		KILLED=$((KILLED + 1))
	elif [ $rc -ne 0 ]; then
		problem "the run meant to be killed ended with exit $rc: $(grep -v '^$' "$T/k$KN.err" | tail -n 1 | cut -c1-200)"
	fi
	grep -qE 'AddressSanitizer|runtime error:' "$T/k$KN.err" && problem "sanitizer report in the killed run"
	if [ "$RERUN_EVERY" -gt 0 ] && [ $((POINTS % RERUN_EVERY)) -eq 0 ]; then
		# the rerun killed in turn, at a random call of a kind it makes
		local names=() n2 k2 w2
		for n2 in read write openat rename renameat unlink unlinkat fsync close newfstatat mkdir utimensat; do
			[ "${CNT[$n2]:-0}" -gt 0 ] && names+=("$n2")
		done
		n2=${names[RANDOM % ${#names[@]}]}
		k2=$((1 + RANDOM % CNT[$n2]))
		w2=$("$PY" "$K9S" kill --name "$n2" --k "$k2" --trace "$T/kill2.trace" --stdout "$T/k$KN.2.out" \
			--stderr "$T/k$KN.2.err" --timeout "$MK_TIMEOUT" -- "$MAILKEEP" -c "$cfg" -v sync)
		desc+="; rerun killed before $n2 #$k2: $w2"
	fi
	mk -c "$cfg" -v sync
	[ "$MK_RC" -eq 0 ] || problem "rerun exit $MK_RC: $(grep -E 'error|warn' "$MK_ERR" | head -n 2 | tr '\n' ' ' | cut -c1-300)"
	verify
	[ -z "$PT_PROBLEMS" ] && noop
	t_log "point $POINTS $desc${PT_PROBLEMS:+ => FAILED}"
	if [ -n "$PT_PROBLEMS" ]; then
		FAILS=$((FAILS + 1))
		printf 'point %s %s\n    => %s\n' "$POINTS" "$desc" "$PT_PROBLEMS" >>"$FAILED_LIST"
		if [ -n "${K9S_SAVE:-}" ]; then
			local d=$K9S_SAVE/point$POINTS
			mkdir -p "$d" && cp -a "$A" "$d/mirror" 2>/dev/null
			cp "$T/k$KN".* "$T/kill.trace" "$MK_ERR" "$T/compare.out" "$d/" 2>/dev/null
		fi
	fi
}

# scenario: probe run (whole, traced), then the points
scenario() {
	restore
	timeout -k 5 "$MK_TIMEOUT" strace -f -qq -o "$T/probe.trace" "$MAILKEEP" -c "$cfg" sync \
		</dev/null >"$T/probe.out" 2>"$T/probe.err"
	local rc=$?
	[ $rc -eq 0 ] || fail "$MODE/$SC: the probe run exited $rc: $(tail -n 1 "$T/probe.err")"
	# how many calls of each name the run makes (for the rerun's kill)
	declare -gA CNT=()
	local n c
	while read -r c n; do CNT[$n]=$c; done < <(awk '$2 ~ /^[a-z_0-9]+\(/ && !/resumed>/ { sub(/\(.*/, "", $2); print $2 }' "$T/probe.trace" | sort | uniq -c)
	local opts=(--sample "$P" --sample-mutating "$P" --seed $((SEED + POINTS)))
	[ "${K9S_ALL:-0}" = 1 ] && opts+=(--all)
	[ "${K9S_MUTATING:-0}" = 1 ] && opts+=(--mutating)
	"$PY" "$K9S" points "$T/probe.trace" "${opts[@]}" >"$T/points" || fail "$MODE/$SC: no syscalls in the probe run"
	t_log "$MODE/$SC: $(head -n 1 "$T/points" | cut -c3-), $(($(wc -l <"$T/points") - 1)) points"
	local g name k phase
	while read -r g name k phase; do
		[ "$g" = "#" ] && continue
		one_point "$name" "$k" "#$g $phase"
	done <"$T/points"
}

for MODE in $MODES; do
	case $MODE in
	qresync) DC=$T/dc-q; dc_up ;;
	condstore) DC=$T/dc-c; dc_up --no-qresync ;;
	full) DC=$T/dc-f; dc_up --no-condstore ;;
	*) fail "unknown mode $MODE" ;;
	esac
	seed populate --seed 61 --count 8 --big 1 --big-size 2000000:3000000
	root=$T/m-$MODE
	mkdir -p "$root"
	for SC in initial snapinit incr snapshot keep; do
		extra=()
		R=""
		case $SC in
		snapshot | snapinit) extra=(snapshot=true); R=$root/$SC.git ;;
		keep) extra=(deletions=keep) ;;
		esac
		{ echo "accounts:"; acct_yaml "$SC" root="$root" max_connections="${K9S_CONNS:-1}" "${extra[@]}"; } | cfg_write "$T/$MODE-$SC.yaml"
		case $SC in initial | snapinit) continue ;; esac
		# the settled mirror the incremental scenarios start from, with a reader's changes
		mk -c "$T/$MODE-$SC.yaml" sync
		expect_rc 0 "$MODE/$SC: first mirror"
		"$PY" - "$root/$SC" <<'PY' || fail "reader changes"
import os, sys
acct = sys.argv[1]
cur = os.path.join(acct, "INBOX", "cur")
fs = sorted(os.listdir(cur))
base, _, fl = fs[0].partition(":2,")
os.rename(os.path.join(cur, fs[0]), os.path.join(cur, base + ":2," + "".join(sorted(set(fl) ^ {"F"}))))
b1 = fs[1].partition(":2,")[0]
os.rename(os.path.join(cur, fs[1]), os.path.join(acct, "INBOX", "new", b1))
os.unlink(os.path.join(cur, fs[2]))
arch = os.path.join(acct, "Archive", "cur")
a0 = sorted(os.listdir(arch))[0]
os.rename(os.path.join(arch, a0), os.path.join(arch, a0.partition(":2,")[0] + ":2,"))
PY
		mkdir -p "$T/base-$MODE-$SC"
		cp -a "$root/$SC" "$T/base-$MODE-$SC/acct"
		[ -z "$R" ] || cp -a "$R" "$T/base-$MODE-$SC/git"
	done
	# the server's changes since the settled mirrors
	dadm flags add -u alice '\Flagged' mailbox INBOX uid 4
	dadm flags remove -u alice '\Seen' mailbox INBOX uid 5:6
	dadm flags add -u alice '\Answered $Forwarded' mailbox Archive uid 2
	dadm expunge -u alice mailbox INBOX uid 7
	dadm expunge -u alice mailbox Archive uid 3
	dadm expunge -u alice mailbox 'R&D' uid 1:2
	seed append --folder INBOX --seed 62 --count 3 --big 1 --big-size 1500000:2000000
	seed append --folder Archive/2024 --seed 63 --count 2
	seed append --folder K9S/fresh --seed 64 --count 2
	for SC in $SCENARIOS; do
		cfg=$T/$MODE-$SC.yaml A=$root/$SC BASE=$T/base-$MODE-$SC
		R=""
		case $SC in snapshot | snapinit) R=$root/$SC.git ;; esac
		scenario
	done
	dc_down "$DC"
done

t_log "$POINTS points ($KILLED runs killed), $FAILS failed"
if [ "$FAILS" -gt 0 ]; then
	sed 's/^/# /' "$FAILED_LIST" >&2
	fail "$FAILS of $POINTS kill points failed: $(head -n 2 "$FAILED_LIST" | tr '\n' ' ')"
fi
check '[ $KILLED -ge $((POINTS / 2)) ]' "only $KILLED of $POINTS runs were killed (the points miss the runs)"
t_pass
