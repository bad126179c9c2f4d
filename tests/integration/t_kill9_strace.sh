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
#   rekey     a fresh mirror of the server as incr leaves it, then INBOX's UIDVALIDITY changed
#             with its UIDs kept and Archive/2024 renumbered by Dovecot (its uid list and indexes
#             deleted): both re-keyed (the probe must say so), the files renamed, never downloaded
#   pushinit  `mailkeep push --delete` of a settled mirror into bob, an empty target
#   push      the same once bob holds an earlier push and the server changed since (flags,
#             an expunge, new mail, a new folder), the mirror synced
# (rekey and the pushes come last: they change the server, and push restores bob's Maildir too;
# they run on the paths of K9S_LATE_MODES only.)
# Some points (K9S_RERUN_EVERY) kill the rerun too, at a random call; a third run then must end exact.
# After the good run: exit 0; compare.py exact (bytes, flags in names, mtime = INTERNALDATE, 0600
# files and 0700 directories, each UID once; --allow-extra-uids with keep); no Message-ID twice;
# nothing in tmp/, no *.tmp/.part/.lock, no .mailkeep-moving or .mailkeep-rekey mark, every file
# 0600 and directory 0700 under the account (the states too) (lib.sh k9_mirror_check); with
# snapshots `git fsck --full` clean, HEAD's tree = the mirror, snapshot-state = HEAD, no lock, no
# snapshot-committing mark; with rekey the files of the messages the same as the killed run began
# with (inode, mode, mtime: renamed, none downloaded again, none lost) and nothing moved aside; a
# no-op run then changes no file and makes no commit. A push: push_check.py exact (each message
# once, with its flags), nothing in doubt, the new folders subscribed (lib.sh k9_push_check), and
# a push then does nothing.
#   K9S_POINTS=K       points per scenario and path, and K more among the calls that change the
#                      file system (default 1: about 3 minutes in all)
#   K9S_ALL=1          every syscall of every run (the exhaustive mode: many hours)
#   K9S_MUTATING=1     the K points plus every call that changes the file system (and with push
#                      every write to the network: each command, each APPEND's literal)
#   K9S_MODES="qresync condstore full"
#   K9S_SCENARIOS="initial snapinit incr snapshot keep rekey pushinit push"
#   K9S_LATE_MODES="qresync"   the paths that run rekey, pushinit and push (default qresync alone:
#                      the suite stays under 4 minutes; a push sends the same from each)
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
LATE_MODES=${K9S_LATE_MODES:-qresync}
SCENARIOS=${K9S_SCENARIOS:-initial snapinit incr snapshot keep rekey pushinit push}
RANDOM=$SEED
FAILS=0 POINTS=0 KILLED=0
FAILED_LIST=$T/failures
: >"$FAILED_LIST"
t_log "K9S_POINTS=$P K9S_SEED=$SEED K9S_ALL=${K9S_ALL:-0} K9S_MUTATING=${K9S_MUTATING:-0} modes: $MODES; scenarios: $SCENARIOS"

# verify: the checks of a good run's outcome (problems recorded, not fatal)
verify() {
	if [ "$PUSHING" = 1 ]; then
		k9_push_check "$A" bob
		return
	fi
	local opts=() l
	[ "$SC" = keep ] && opts=(--allow-extra-uids)
	k9_mirror_check "$A" "${opts[@]}"
	if [ "$SC" = rekey ]; then
		CHECKS=$((CHECKS + 2))
		msg_inodes "$A" >"$T/rekey.ino1"
		cmp -s "$T/rekey.ino0" "$T/rekey.ino1" ||
			problem "not the files the killed run began with (downloaded again or lost): $(diff "$T/rekey.ino0" "$T/rekey.ino1" | grep '^[<>]' | head -n 4 | tr '\n' ' ')"
		l=$(find "$A/.mailkeep" -maxdepth 1 -name 'uidvalidity-*' | head -n 2 | tr '\n' ' ')
		[ -z "$l" ] || problem "moved aside, not re-keyed: $l"
	fi
	[ -z "$R" ] || k9_git_check
}

# msg_inodes ACCT: "inode mode mtime" of every message file, sorted (the same files, whatever their names)
msg_inodes() {
	(cd "$1" && find . -path ./.mailkeep -prune -o -type f \( -path '*/cur/*' -o -path '*/new/*' \) -printf '%i %m %T@\n' | sort)
}

# noop: the run after a good one changes no file and makes no commit; a push after a good one does nothing
noop() {
	if [ "$PUSHING" = 1 ]; then
		mk -c "$cfg" -v "${RUN[@]}"
		CHECKS=$((CHECKS + 1))
		[ "$MK_RC" -eq 0 ] || problem "the push after: exit $MK_RC: $(mk_err_line)"
		grep -q "push pushsrc -> bob: .* 0 messages appended (0 bytes), 0 already there, 0 flag updates, 0 deleted" "$MK_ERR" ||
			problem "the push after did something: $(grep -m1 'push pushsrc -> bob: [0-9]* folders' "$MK_ERR")"
		return
	fi
	k9_noop_check "${RUN[@]}"
}

# restore: the scenario's starting point (no mirror, or the base copied back; a push's target too)
restore() {
	if [ "$PUSHING" = 1 ]; then
		bob_idle
		rm -rf "$B"
		[ ! -d "$BASE/bob" ] || cp -a "$BASE/bob" "$B"
	fi
	rm -rf "$A" "${R:-$A.nogit}" "${R:-$A.nogit}.init"
	case $SC in initial | snapinit) return 0 ;; esac
	cp -a "$BASE/acct" "$A"
	[ -z "$R" ] || cp -a "$BASE/git" "$R"
	[ "$SC" != rekey ] || msg_inodes "$A" >"$T/rekey.ino0"
}

# one_point NAME K PHASE: kill before the K-th NAME call, rerun (maybe killed too), check
KN=0
one_point() {
	local name=$1 k=$2 phase=$3 what rc
	POINTS=$((POINTS + 1)) KN=$((KN + 1))
	PT_PROBLEMS=""
	restore
	what=$("$PY" "$K9S" kill --name "$name" --k "$k" --trace "$T/kill.trace" --stdout "$T/k$KN.out" \
		--stderr "$T/k$KN.err" --timeout "$MK_TIMEOUT" -- "$MAILKEEP" -c "$cfg" -v "${RUN[@]}")
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
			--stderr "$T/k$KN.2.err" --timeout "$MK_TIMEOUT" -- "$MAILKEEP" -c "$cfg" -v "${RUN[@]}")
		desc+="; rerun killed before $n2 #$k2: $w2"
	fi
	[ "$PUSHING" = 0 ] || bob_idle
	mk -c "$cfg" -v "${RUN[@]}"
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

# scenario: probe run (whole, traced, -v as the killed runs: the same writes), then the points
scenario() {
	restore
	timeout -k 5 "$MK_TIMEOUT" strace -f -qq -o "$T/probe.trace" "$MAILKEEP" -c "$cfg" -v "${RUN[@]}" \
		</dev/null >"$T/probe.out" 2>"$T/probe.err"
	local rc=$?
	[ $rc -eq 0 ] || fail "$MODE/$SC: the probe run exited $rc: $(tail -n 1 "$T/probe.err")"
	if [ "$SC" = rekey ]; then
		grep -q 'folder "INBOX": re-keyed' "$T/probe.err" && grep -q 'folder "Archive/2024": re-keyed' "$T/probe.err" ||
			fail "$MODE/rekey: the probe run did not re-key INBOX and Archive/2024: $(grep -m2 -E 'UIDVALIDITY|re-keyed' "$T/probe.err" | tr '\n' ' ')"
	fi
	# how many calls of each name the run makes (for the rerun's kill)
	declare -gA CNT=()
	local n c
	while read -r c n; do CNT[$n]=$c; done < <(awk '$2 ~ /^[a-z_0-9]+\(/ && !/resumed>/ { sub(/\(.*/, "", $2); print $2 }' "$T/probe.trace" | sort | uniq -c)
	local opts=(--sample "$P" --sample-mutating "$P" --seed $((SEED + POINTS)))
	[ "${K9S_ALL:-0}" = 1 ] && opts+=(--all)
	[ "${K9S_MUTATING:-0}" = 1 ] && opts+=(--mutating)
	[ "${K9S_MUTATING:-0}" = 1 ] && [ "$PUSHING" = 1 ] && opts+=(--net-writes)
	"$PY" "$K9S" points "$T/probe.trace" "${opts[@]}" >"$T/points" || fail "$MODE/$SC: no syscalls in the probe run"
	t_log "$MODE/$SC: $(head -n 1 "$T/points" | cut -c3-), $(($(wc -l <"$T/points") - 1)) points"
	local g name k phase
	while read -r g name k phase; do
		[ "$g" = "#" ] && continue
		one_point "$name" "$k" "#$g $phase"
	done <"$T/points"
}

# rekey_setup: a fresh mirror (no reader's change: the re-key wants the folder exactly the state's
# files) of the server as it is, then INBOX's UIDVALIDITY changed with its UIDs kept and
# Archive/2024 renumbered by Dovecot: its uid list and indexes deleted while no session has it open
# (as in t_uidvalidity_rekey.sh)
rekey_setup() {
	local uv
	{ echo "accounts:"; acct_yaml rekey root="$root" max_connections="${K9S_CONNS:-1}"; } | cfg_write "$cfg"
	rm -rf "$A" "$BASE"
	mk -c "$cfg" sync
	expect_rc 0 "$MODE/rekey: first mirror"
	mkdir -p "$BASE" && cp -a "$A" "$BASE/acct"
	dadm mailbox update -u alice --uid-validity 777 INBOX
	uv_renumber Archive/2024
	uv_get uv Archive/2024 # (read: Dovecot renumbers the folder now)
}

# push_setup: the mirror pushsrc of the server as it is, the push's start: for pushinit an empty bob
# and no push state; for push bob holding a push of that mirror, then the server changed (flags,
# an expunge, new mail, a new folder) and the mirror synced
# shellcheck disable=SC2034 # SRC and DST are read by lib.sh k9_push_check
push_setup() {
	local u
	SRC="$IMAP_HOST:$IMAP_PORT:alice:$DC/pass-alice"
	DST="$IMAP_HOST:$IMAP_PORT:bob:$DC/pass-bob"
	A=$root/pushsrc B=$DC/mail/bob
	{
		echo "accounts:"
		acct_yaml pushsrc root="$root" max_connections="${K9S_CONNS:-1}"
		acct_yaml bob root="$root" user=bob password_file="$DC/pass-bob" tls=none
	} | cfg_write "$cfg"
	bob_idle
	rm -rf "$A" "$BASE" "$B"
	mkdir -p "$BASE"
	mk -c "$cfg" sync pushsrc
	expect_rc 0 "$MODE/$SC: the mirror"
	if [ "$SC" = push ]; then
		mk -c "$cfg" push pushsrc bob --delete
		expect_rc 0 "$MODE/$SC: the first push"
		dadm flags add -u alice '\Flagged $label2' mailbox Archive uid 1
		dadm flags remove -u alice '\Seen' mailbox INBOX uid 1:3
		u=$(dadm_out search -u alice mailbox Archive/2024 all | awk 'NR == 1 { print $2 }')
		[ -n "$u" ] || fail "$MODE/$SC: Archive/2024 is empty"
		dadm expunge -u alice mailbox Archive/2024 uid "$u"
		seed append --folder INBOX --seed 65 --count 2
		seed append --folder K9S/pushed --seed 66 --count 2
		mk -c "$cfg" sync pushsrc
		expect_rc 0 "$MODE/$SC: the mirror synced"
		bob_idle
		cp -a "$B" "$BASE/bob"
	fi
	cp -a "$A" "$BASE/acct"
}

PUSHING=0 RUN=(sync)
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
		case $SC in rekey | pushinit | push)
			case " $LATE_MODES " in *" $MODE "*) ;; *) continue ;; esac ;;
		esac
		cfg=$T/$MODE-$SC.yaml A=$root/$SC BASE=$T/base-$MODE-$SC
		R="" PUSHING=0 RUN=(sync)
		case $SC in
		snapshot | snapinit) R=$root/$SC.git ;;
		rekey) rekey_setup ;;
		pushinit | push) PUSHING=1 RUN=(push pushsrc bob --delete); push_setup ;;
		esac
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
