#!/usr/bin/env bash
# kill -9 torture: mailkeep killed at many instants, then run again, must end with an exact mirror.
# Kill points: random delays (50 us .. a bit more than the run takes), exact syscall points (strace
# delivers SIGKILL on entering the N-th rename/unlink/openat/syncfs/fsync/link/mkdir/... of the
# run, which then does not happen) and file system events (inotify: a file appears in tmp/, a
# rename into cur/, the state's .tmp appears or is renamed, git objects and ref locks, the push
# state). Sometimes two kills in a row, a mail reader's changes (flags renamed, a file moved to
# new/, deleted, copied) before, between or during the killed runs.
# Phases: QRESYNC server with snapshots and max_connections 2 (initial mirror, then incremental
# after flag changes, expunges, new mail and new folders); push of that mirror to bob, killed, then
# pushed again; CONDSTORE-only server; plain server (no CONDSTORE) with snapshots; --jobs 2 with two
# accounts (the parent process killed, as `kill -9 PID` does).
# After each good rerun: exit 0, compare.py exact (incl. the trusted-state invariant), nothing in
# any tmp/, no .tmp/.part/.lock litter or move/re-key mark, files 0600 and directories 0700, no
# Message-ID twice (lib.sh k9_mirror_check), then a no-op run that changes no file;
# with snapshots `git fsck --full` clean, HEAD's tree = the mirror (bytes), no new commit on the
# no-op run; for push push_check.py exact (each message once), no pending entries, created
# folders subscribed.
#   K9_POINTS=N    kill points in all (default 40, 2-3 min); e.g. K9_POINTS=400 for a long torture
#   K9_SEED=S      the random seed (printed; default 1097, "random" for a new one): the same seed
#                  draws the same points and changes (the delay and inotify points then land where
#                  the timing puts them)
#   K9_MODES=LIST  phases to run, of q,push,c,f,j (default all)
#   K9_PARTIAL=1   also check every killed state with compare.py --partial (slower)
#   K9_SAVE=DIR    copy the mirror and the logs of each failed point there
#   K9_KEEP_GOING=0  stop at the first failed point (default: record it, repair, go on)
. "$(dirname "$0")/lib.sh"
t_begin
command -v strace >/dev/null || fail "strace is not installed (make deps)"
command -v git >/dev/null || fail "git is not installed"
K9=$LIB_DIR/k9_torture.py
# the interpreter itself, not a wrapper (a pyenv shim costs more than half a second per start)
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
[ -x "$PY" ] || PY=python3
PUSH_CHECK=$LIB_DIR/push_check.py
# a fixed seed by default (make check must not draw new points each time); K9_SEED=random draws one
SEED=${K9_SEED:-1097}
[ "$SEED" = random ] && SEED=$(( $(date +%s%N) / 1000 % 1000000 ))
RANDOM=$SEED
P=${K9_POINTS:-40}
MODES=",${K9_MODES:-q,push,c,f,j},"
KEEP_GOING=${K9_KEEP_GOING:-1}
t_log "K9_SEED=$SEED K9_POINTS=$P K9_MODES=${MODES:1:-1}"

n_of() { local n=$((P * $1 / 100)); [ $n -ge 1 ] || n=1; echo $n; }
# random draws set a variable: a subshell, $(...), would draw from a reseeded RANDOM and the
# points would not follow from K9_SEED
rnd() { RND=$(( ((RANDOM << 15) | RANDOM) % $1 )); }
chance() { [ $((RANDOM % 100)) -lt "$1" ]; }
pick() { local a=("$@"); PICK=${a[RANDOM % ${#a[@]}]}; }

POINTS=0 KILLED=0 FAILS=0 PT_DESC="" PT_PROBLEMS="" FORCE_HOW=""
declare -A CAP DUR GIT_LITTER
FAILED_LIST=$T/failures
: >"$FAILED_LIST"

# ---------------------------------------------------------------- the kill

# kill_run HOW CMD...: run CMD and kill it as HOW says (delay:US | sys:SYSCALLS:N | fs:NTH:REGEX).
# gdelay:US kills the process group. Sets KRC (its exit status), KWHAT (what happened), KERR (its stderr file).
KN=0
kill_run() {
	local how=$1 sc n spec
	shift
	KN=$((KN + 1))
	KERR=$T/k$KN.err
	local o=$T/k$KN.out tr=$T/k$KN.trace
	case $how in
	delay:* | gdelay:*)
		local grp=()
		[ "${how%%:*}" = gdelay ] && grp=(--group)
		KWHAT=$("$PY" "$K9" run "${grp[@]}" --delay-us "${how#*:}" --stdout "$o" --stderr "$KERR" -- "$@")
		KRC=$?
		;;
	fs:*)
		spec=${how#fs:}
		KWHAT=$("$PY" "$K9" run --fs-event "${spec#*:}" --nth "${spec%%:*}" --watch "$WATCH" \
			--stdout "$o" --stderr "$KERR" -- "$@")
		KRC=$?
		;;
	sys:*)
		spec=${how#sys:}
		sc=${spec%%:*} n=${spec#*:}
		(
			ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" timeout -k 5 "$MK_TIMEOUT" \
				strace -f -qq -o "$tr" -e trace="$sc" -e inject="$sc:signal=KILL:when=$n" "$@" >"$o" 2>"$KERR"
			exit $?
		) 2>/dev/null
		KRC=$?
		local calls
		calls=$(grep -E "^[0-9]+ +($(tr ',' '|' <<<"$sc"))\(" "$tr" | grep -vc 'resumed>')
		if [ $KRC -ne 137 ] && grep -q 'killed by SIGKILL' "$tr"; then
			KRC=137 # a child process (an account of --jobs) was the one killed
		fi
		if [ $KRC -eq 137 ]; then
			KWHAT="killed before syscall $n of $sc: $(grep -E '= \?|<unfinished' "$tr" | tail -n 1 | cut -c1-220)"
		else
			KWHAT="completed (exit $KRC) with $calls $sc calls"
			CAP[$CAPKEY:$sc]=$calls
		fi
		;;
	esac
	[ $KRC -eq 137 ] && KILLED=$((KILLED + 1))
	t_log "  kill $how -> $KWHAT"
	if [ $KRC -ne 137 ] && [ $KRC -ne 0 ]; then
		problem "a run not killed ended with exit $KRC ($how): $(grep -v '^$' "$KERR" | tail -n 1 | cut -c1-200)"
	fi
	if grep -qE 'AddressSanitizer|runtime error:' "$KERR" 2>/dev/null; then
		problem "sanitizer report in a killed run: $(grep -m1 -E 'Sanitizer|runtime error:' "$KERR")"
	fi
}

# cap KIND SYSCALL DEFAULT: how many of those calls a run of this kind makes (learnt)
cap_of() {
	local v=${CAP[$CAPKEY:$1]:-$2}
	[ "$v" -ge 1 ] 2>/dev/null || v=1
	echo "$v"
}

# pick_how sync|push: a random kill point for a run of the current phase, in HOW
pick_how() {
	local kind=$1 m sc re nth
	rnd 10
	m=$RND
	if [ "$m" -lt 4 ]; then
		# a fifth of them log-uniform from 50 us (the start of the process), the rest uniform
		# over the run's length and a bit more
		local dur=${DUR[$CAPKEY]:-300000} us
		if chance 20; then
			rnd 100000
			us=$(awk -v r="$RND" -v hi="$((dur * 13 / 10 + 1000))" 'BEGIN { printf "%d", 50 * exp(log(hi / 50) * r / 100000) }')
		else
			rnd $((dur * 13 / 10 + 1000))
			us=$RND
		fi
		# --jobs: sometimes every process of the run (a process group killed), else the parent only
		if [ ${#JOBS[@]} -gt 0 ] && chance 50; then HOW="gdelay:$us"; else HOW="delay:$us"; fi
	elif [ "$m" -lt 7 ]; then
		if [ "$kind" = push ]; then
			pick rename rename openat fsync write sendto sendto recvfrom
		else
			pick rename rename rename unlink,unlinkat openat syncfs fsync link mkdir utimensat pwrite64 sendto
		fi
		sc=$PICK
		local d
		case $sc in
		rename) d=30 ;; openat) d=80 ;; write | sendto | recvfrom) d=60 ;; syncfs | fsync) d=4 ;; *) d=10 ;;
		esac
		rnd "$(cap_of "$sc" "$d")"
		HOW="sys:$sc:$((1 + RND))"
	else
		if [ "$kind" = push ]; then
			pick 'CREATE .*/\.push-state\.tmp$' 'MOVED_TO .*/\.push-state$' 'CLOSE_WRITE .*/\.push-state\.tmp$'
			re=$PICK
			rnd 8
			nth=$((1 + RND))
		else
			local res=('CREATE .*/tmp/[^/]+$' 'CLOSE_WRITE .*/tmp/[^/]+$' 'MOVED_TO .*/cur/[^/]+$'
				'DELETE .*/(cur|new)/[^/]+$' 'MOVED_FROM .*/new/[^/]+$' 'CREATE .*/\.mailkeep-state\.tmp$'
				'CLOSE_WRITE .*/\.mailkeep-state\.tmp$' 'MOVED_TO .*/\.mailkeep-state$')
			[ -n "$R" ] && res+=('CREATE .*\.git/objects/' 'MOVED_TO .*\.git/objects/..' 'CREATE .*\.git/refs/heads/.*\.lock$'
				'MOVED_TO .*\.git/refs/heads/' 'CREATE .*/snapshot-state\.tmp$')
			[ -n "$R" ] && [ "${CAPKEY#*:}" = initial ] && res+=('CREATE .*\.git\.init' 'MOVED_TO .*\.git$')
			pick "${res[@]}"
			re=$PICK
			case $re in
			*tmp/* | *cur/*) rnd "${FSN:-6}" ;;
			*objects*) rnd 12 ;;
			*) rnd 3 ;;
			esac
			nth=$((1 + RND))
		fi
		HOW="fs:$nth:$re"
	fi
}

# ---------------------------------------------------------------- changes

SEQ=0
dv() { doveadm -c "$DOVECOT_CONF" "$@" >>"$T/doveadm.log" 2>&1 || true; }

# mutate USER [noexpunge]: one to three random server changes (k9_torture.py mutate)
mutate() {
	local r
	SEQ=$((SEQ + 10))
	rnd 1000000
	r=$("$PY" "$K9" mutate "$DC/env" --user "$1" --seed "$RND" --seq "$SEQ" ${2:+--noexpunge} 2>&1) ||
		fail "k9_torture.py mutate failed: $r"
	if chance 4; then
		local f
		pick INBOX Archive 'R&D' Geschäftlich
		f=$PICK
		rnd 1000
		dv mailbox update -u "$1" --uid-validity $((100000 + SEQ * 1000 + RND)) "$f"
		r+="; new UIDVALIDITY of $f"
	fi
	t_log "  server ($1): $r"
}

reader() {
	local r
	local seed n
	rnd 1000000
	seed=$RND
	rnd 3
	n=$((1 + RND))
	r=$("$PY" "$K9" reader "$A" --seed "$seed" --n "$n")
	t_log "  reader: $r"
}

# ---------------------------------------------------------------- checks

# a minor finding: reported at the end, does not fail the point
NOTES=$T/notes
: >"$NOTES"
note() {
	grep -qxF -- "$*" "$NOTES" 2>/dev/null && return
	printf '%s\n' "$*" >>"$NOTES"
	t_log "  note: $*"
}

# the snapshot repository (lib.sh k9_git_check), and a note of libgit2's temporary object files a
# killed run left: no harm to git, but never removed
k9_git() {
	local l
	k9_git_check
	[ -d "$R" ] || return 0
	l=$(cd "$R" && find . -name 'tmp_*' -print | wc -l)
	if [ "$l" -gt 0 ]; then
		GIT_LITTER[$R]=$l
		note "libgit2 temporary files left in $R/objects by killed runs, never removed"
	fi
}


# end of a point: report, save, repair
point_end() {
	if [ -n "$PT_PROBLEMS" ]; then
		FAILS=$((FAILS + 1))
		printf 'point %s [%s]: %s\n    => %s\n' "$POINTS" "$PH" "$PT_DESC" "$PT_PROBLEMS" >>"$FAILED_LIST"
		t_log "POINT $POINTS FAILED: $PT_PROBLEMS"
		if [ -n "${K9_SAVE:-}" ]; then
			local d=$K9_SAVE/seed$SEED-point$POINTS
			mkdir -p "$d" && cp -a "$A" "$d/mirror" 2>/dev/null
			cp "$T"/k*.err "$T"/k*.trace "$T"/mk.*.err "$T/compare.out" "$d/" 2>/dev/null
			t_log "saved in $d"
		fi
		[ "$KEEP_GOING" = 1 ] || fail "kill point $POINTS [$PH] ($PT_DESC): $PT_PROBLEMS"
		repair
	fi
	PT_PROBLEMS=""
}

# after a failed point: wait until no process holds the account lock, run until exact again
repair() {
	local i lk
	for lk in "${LOCKS[@]}"; do
		for ((i = 0; i < 600; i++)); do
			[ -e "$lk" ] || break
			flock -n "$lk" true 2>/dev/null && break
			sleep 0.1
		done
	done
	if [ "$PH_KIND" = push ]; then
		# what a push cannot mend: folders left unsubscribed, messages left on the target
		local f
		doveadm -c "$DOVECOT_CONF" mailbox list -u bob 2>/dev/null | while IFS= read -r f; do
			dv mailbox subscribe -u bob "$f"
		done
		mk -c "$cfg" push alice bob $PUSH_OPTS
		if ! "$PY" "$PUSH_CHECK" compare --src "$SRC" --dst "$DST" >"$T/pc.out" 2>&1; then
			dv expunge -u bob mailbox '*' all
			rm -rf "$A/.mailkeep/push"
			mk -c "$cfg" push alice bob $PUSH_OPTS
		fi
		PT_PROBLEMS=""
		push_verify
		[ -z "$PT_PROBLEMS" ] || fail "kill point $POINTS [$PH]: the target does not become exact again: $PT_PROBLEMS"
		return
	fi
	for i in 1 2 3; do
		mk -c "$cfg" sync "${SYNC_ACCTS[@]}"
		PT_PROBLEMS=""
		verify_accounts quiet
		[ -z "$PT_PROBLEMS" ] && return
	done
	fail "kill point $POINTS [$PH]: the mirror does not become exact again: $PT_PROBLEMS"
}

verify_accounts() {
	k9_mirror_check "$A"
	[ -z "${A2:-}" ] || k9_mirror_check "$A2" --bob
}

# ---------------------------------------------------------------- one kill point of a sync

# sync_point initial|incr
sync_point() {
	local what=$1 how how2="" rd="" during=""
	POINTS=$((POINTS + 1))
	PT_PROBLEMS=""
	if [ "$what" = initial ]; then
		rm -rf "$A"
		[ -n "${A2:-}" ] && rm -rf "$A2"
		[ -n "$R" ] && rm -rf "$R" "$R.init"
		CAPKEY=$PH:initial FSN=40
	else
		CAPKEY=$PH:incr FSN=6
		mutate alice
		[ -n "${A2:-}" ] && chance 60 && mutate bob
		if chance 25; then reader; rd+="reader before; "; fi
	fi
	local forced=${FORCE_HOW:+1}
	if [ -n "$FORCE_HOW" ]; then how=$FORCE_HOW; else pick_how sync; how=$HOW; fi
	FORCE_HOW=""
	if [ "$what" = incr ] && chance 12; then
		# a reader acts while the killed run is under way
		local dms rs
		rnd $((${DUR[$CAPKEY]:-200000} / 1000 + 1))
		dms=$((1 + RND))
		rnd 100000
		rs=$RND
		(sleep "$(printf '0.%03d' $((dms % 1000)))"; "$PY" "$K9" reader "$A" --seed "$rs" --n 2 >"$T/reader-during.out" 2>&1) &
		during=$!
		rd+="reader during (${dms} ms); "
	fi
	PT_DESC="$what: kill $how"
	t_log "point $POINTS [$PH] $what: $how ($(($(date +%s) - start)) s)"
	kill_run "$how" "$MAILKEEP" "${JOBS[@]}" -c "$cfg" -v sync "${SYNC_ACCTS[@]}"
	[ -n "$during" ] && { wait "$during"; t_log "  reader during: $(cat "$T/reader-during.out")"; }
	PT_DESC+=" ($KWHAT)"
	if [ $KRC -eq 137 ] && [ "${K9_PARTIAL:-0}" = 1 ] && [ -d "$A" ]; then
		k9_mirror_check "$A" --partial
	fi
	if [ -z "$forced" ] && chance 25; then
		[ "$what" = incr ] && chance 50 && mutate alice
		[ "$what" = incr ] && chance 30 && { reader; rd+="reader between; "; }
		pick_how sync
		how2=$HOW
		kill_run "$how2" "$MAILKEEP" "${JOBS[@]}" -c "$cfg" -v sync "${SYNC_ACCTS[@]}"
		PT_DESC+="; second kill $how2 ($KWHAT)"
	fi
	if [ -z "$forced" ] && [ "$what" = incr ] && chance 25 && [ -d "$A" ]; then reader; rd+="reader after; "; fi
	PT_DESC+="${rd:+; $rd}"
	# the good rerun, at once (an account process left running by the killed one would hold the lock)
	local t0 took
	t0=$(date +%s%N)
	mk -c "$cfg" -vv "${JOBS[@]}" sync "${SYNC_ACCTS[@]}"
	took=$((($(date +%s%N) - t0) / 1000))
	CHECKS=$((CHECKS + 1))
	[ "$MK_RC" -eq 0 ] || problem "rerun exit $MK_RC: $(grep -E 'error|warn' "$MK_ERR" | head -n 2 | tr '\n' ' ' | cut -c1-300)"
	verify_accounts
	[ -n "$R" ] && k9_git
	[ -n "${R2:-}" ] && R=$R2 A=$A2 k9_git
	[ -z "$PT_PROBLEMS" ] && k9_noop_check -v sync "${SYNC_ACCTS[@]}"
	point_end
	# how long a completed run of this kind takes (for the delays): a run of the same work
	if [ "$what" = initial ] && [ -z "${DUR[$CAPKEY]:-}" ]; then
		DUR[$CAPKEY]=${FIRST_DUR:-1000000}
	elif [ "$what" = incr ]; then
		DUR[$CAPKEY]=$((took > 20000 ? took : 20000))
	fi
}

# a full sync into a throwaway root: how long the initial mirror takes
measure_initial() {
	local probe=$T/probe-$PH.yaml t0
	sed "s#root: .*#root: $T/probe-$PH#" "$cfg" >"$probe"
	t0=$(date +%s%N)
	mk -c "$probe" "${JOBS[@]}" sync "${SYNC_ACCTS[@]}"
	expect_rc 0 "$PH: probe sync"
	FIRST_DUR=$((($(date +%s%N) - t0) / 1000))
	rm -rf "$T/probe-$PH"
	t_log "$PH: a full initial sync takes $((FIRST_DUR / 1000)) ms"
}

# ---------------------------------------------------------------- one kill point of a push

push_point() {
	local how how2="" v
	POINTS=$((POINTS + 1))
	PT_PROBLEMS=""
	CAPKEY=$PH:push
	rnd 10
	v=$RND
	if [ "$v" -lt 2 ]; then
		dv expunge -u bob mailbox '*' all
		rm -rf "$A/.mailkeep/push"
		PT_DESC="push into an emptied target"
	elif [ "$v" -lt 3 ]; then
		rm -rf "$A/.mailkeep/push"
		PT_DESC="push with the push state lost"
	else
		mutate alice "$([ "$PUSH_OPTS" = --delete ] || echo noexpunge)"
		mk -c "$cfg" sync alice
		expect_rc 0 "$PH: sync before the push"
		PT_DESC="push of changes"
	fi
	pick_how push
	how=$HOW
	t_log "point $POINTS [$PH] $PT_DESC: $how ($(($(date +%s) - start)) s)"
	kill_run "$how" "$MAILKEEP" -c "$cfg" -v push alice bob $PUSH_OPTS
	PT_DESC+=": kill $how ($KWHAT)"
	# right after the kill: no duplicate on the target (unless the source expunged since the last
	# push: the target then still has those, rightly)
	if [ $KRC -eq 137 ] && [ -z "$PUSH_OPTS" ]; then
		CHECKS=$((CHECKS + 1))
		"$PY" "$PUSH_CHECK" compare --src "$SRC" --dst "$DST" --partial >"$T/pc.out" 2>&1 ||
			problem "after the kill, the target has a duplicate or a stranger: $(head -n 2 "$T/pc.out" | tr '\n' ' ')"
	fi
	if chance 25; then
		pick_how push
		how2=$HOW
		kill_run "$how2" "$MAILKEEP" -c "$cfg" -v push alice bob $PUSH_OPTS
		PT_DESC+="; second kill $how2 ($KWHAT)"
	fi
	mk -c "$cfg" -vv push alice bob $PUSH_OPTS
	CHECKS=$((CHECKS + 1))
	[ "$MK_RC" -eq 0 ] || problem "push rerun exit $MK_RC: $(mk_err_line)"
	push_verify
	point_end
}

# the target after a good push: lib.sh k9_push_check
push_verify() { k9_push_check "$A" bob; }

# ---------------------------------------------------------------- phases

WATCH=""
JOBS=()
SYNC_ACCTS=()
LOCKS=()
A2="" R2=""

phase_q() {
	PH=qresync PH_KIND=sync
	DC=$T/dc-q
	dc_up
	seed populate --seed 41 --count 8 --big 3 --big-size 200000:700000
	cfg=$T/q.yaml
	{
		echo "accounts:"
		acct_yaml alice snapshot=true max_connections=2
		acct_yaml bob user=bob password_file="$DC/pass-bob" tls=none
	} | cfg_write "$cfg"
	A=$T/mail/alice R=$T/mail/alice.git WATCH=$T/mail SYNC_ACCTS=(alice) LOCKS=("$A/.mailkeep/lock")
	mkdir -p "$WATCH"
	measure_initial
	local i
	for ((i = 0; i < $(n_of 15); i++)); do sync_point initial; done
	for ((i = 0; i < $(n_of 35); i++)); do sync_point incr; done
}

# UIDs of a folder on the server (the last N)
last_uids() { doveadm -c "$DOVECOT_CONF" search -u alice mailbox "$1" all 2>/dev/null | awk '{print $2}' | sort -n | tail -n "$2" | paste -sd, -; }

# Two points no random draw is likely to hit, reached exactly with strace:
# - the push killed after the APPEND of a batch, before the state records its target UIDs (the
#   batch is pending), and the source expunges those messages before the next push --delete;
# - the push killed after CREATE of a new target folder, before its SUBSCRIBE.
push_scenarios() {
	local uids n
	# 1: pending, then gone from the source
	POINTS=$((POINTS + 1))
	CAPKEY=$PH:push
	SEQ=$((SEQ + 10))
	seed append --folder INBOX --seed $((7000 + SEQ)) --count 3
	mk -c "$cfg" sync alice
	expect_rc 0 "$PH: sync before the scenario"
	PT_DESC="scenario: push --delete killed before the state records the APPENDed batch (rename #2), the source expunges those 3 messages, sync, push --delete"
	t_log "point $POINTS [$PH] $PT_DESC"
	kill_run "sys:rename:2" "$MAILKEEP" -c "$cfg" -v push alice bob --delete
	PT_DESC+=" ($KWHAT)"
	uids=$(last_uids INBOX 3)
	dv expunge -u alice mailbox INBOX uid "$uids"
	mk -c "$cfg" sync alice
	expect_rc 0 "$PH: sync after the expunge"
	mk -c "$cfg" -vv push alice bob --delete
	[ "$MK_RC" -eq 0 ] || problem "push rerun exit $MK_RC: $(mk_err_line)"
	push_verify
	point_end
	# 2: CREATE done, SUBSCRIBE not sent
	POINTS=$((POINTS + 1))
	SEQ=$((SEQ + 10))
	local f="K9/sub$SEQ"
	seed append --folder "$f" --seed $((7000 + SEQ)) --count 2
	mk -c "$cfg" sync alice
	expect_rc 0 "$PH: sync before the scenario"
	# a probe push learns which send() carries SUBSCRIBE; then the folder is made new again
	strace -f -qq -s 80 -o "$T/probe.trace" -e trace=sendto "$MAILKEEP" -c "$cfg" push alice bob >/dev/null 2>&1
	n=$(grep -E '^[0-9]+ +sendto\(' "$T/probe.trace" | grep -n 'SUBSCRIBE' | head -n 1 | cut -d: -f1)
	dv mailbox delete -u bob -s "$f"
	rm -rf "$A/.mailkeep/push/bob/$f"
	PT_DESC="scenario: push killed after CREATE \"$f\", before SUBSCRIBE (sendto #${n:-?}), then push again"
	t_log "point $POINTS [$PH] $PT_DESC"
	if [ -n "$n" ]; then
		kill_run "sys:sendto:$n" "$MAILKEEP" -c "$cfg" -v push alice bob
		PT_DESC+=" ($KWHAT)"
	else
		problem "the probe push sent no SUBSCRIBE"
	fi
	mk -c "$cfg" -vv push alice bob
	[ "$MK_RC" -eq 0 ] || problem "push rerun exit $MK_RC: $(mk_err_line)"
	push_verify
	point_end
}

phase_push() {
	PH=push PH_KIND=push
	[ -n "${cfg:-}" ] && [ "$DC" = "$T/dc-q" ] || fail "the push phase needs the q phase"
	SRC="$IMAP_HOST:$IMAP_PORT:alice:$DC/pass-alice"
	DST="$IMAP_HOST:$IMAP_PORT:bob:$DC/pass-bob"
	LOCKS=("$A/.mailkeep/lock" "$T/mail/bob/.mailkeep/push.lock")
	PUSH_OPTS=--delete
	mk -c "$cfg" sync alice
	expect_rc 0 "sync before the first push"
	local t0
	t0=$(date +%s%N)
	mk -c "$cfg" push alice bob $PUSH_OPTS
	expect_rc 0 "first push"
	DUR[$PH:push]=$((($(date +%s%N) - t0) / 1000))
	push_scenarios
	dv expunge -u bob mailbox '*' all
	rm -rf "$A/.mailkeep/push"
	local i
	for ((i = 2; i < $(n_of 15); i++)); do
		PUSH_OPTS=--delete
		chance 40 && PUSH_OPTS=""
		push_point
	done
	PH_KIND=sync
}

# phase_other NAME DCOPTS SNAPSHOT POINTS: another server kind, its own Dovecot
phase_other() {
	PH=$1 PH_KIND=sync
	DC=$T/dc-$1
	dc_up $2
	seed populate --seed 43 --count 6 --big 2 --big-size 200000:600000
	cfg=$T/$1.yaml
	{ echo "accounts:"; acct_yaml "alice$1" root="$T/mail-$1" snapshot="$3" max_connections=2; } | cfg_write "$cfg"
	A=$T/mail-$1/alice$1 WATCH=$T/mail-$1 SYNC_ACCTS=() LOCKS=("$A/.mailkeep/lock")
	R=""
	[ "$3" = true ] && R=$T/mail-$1/alice$1.git
	mkdir -p "$WATCH"
	measure_initial
	sync_point initial
	local i
	for ((i = 1; i < $4; i++)); do sync_point incr; done
}

# two accounts, --jobs 2: the killed process is the parent; its account processes live on
phase_jobs() {
	PH=jobs PH_KIND=sync
	if [ "$DC" != "$T/dc-f" ]; then
		DC=$T/dc-j
		dc_up --no-condstore
		seed populate --seed 43 --count 6 --big 2 --big-size 200000:600000
	fi
	seed populate --user bob --seed 44 --count 6 --big 6 --big-size 200000:600000
	cfg=$T/j.yaml
	{
		echo "accounts:"
		acct_yaml alicej root="$T/mail-j" snapshot=true max_connections=2
		acct_yaml bobj root="$T/mail-j" user=bob password_file="$DC/pass-bob" max_connections=2
	} | cfg_write "$cfg"
	A=$T/mail-j/alicej A2=$T/mail-j/bobj R=$T/mail-j/alicej.git R2=""
	WATCH=$T/mail-j SYNC_ACCTS=() JOBS=(-j 2) LOCKS=("$A/.mailkeep/lock" "$A2/.mailkeep/lock")
	mkdir -p "$WATCH"
	measure_initial
	# the parent killed (its pid only) when the first message file appears in a tmp/: the
	# account processes have most of their work ahead, and the rerun comes at once
	FORCE_HOW='fs:1:CREATE .*/tmp/[^/]+$'
	sync_point initial
	local i
	for ((i = 1; i < $(n_of 15); i++)); do sync_point incr; done
	JOBS=() A2=""
}

start=$(date +%s)
case $MODES in *,q,*) phase_q ;; esac
case $MODES in *,push,*) phase_push ;; esac
case $MODES in *,c,*) phase_other c --no-qresync false "$(n_of 10)" ;; esac
case $MODES in *,f,*) phase_other f --no-condstore true "$(n_of 10)" ;; esac
case $MODES in *,j,*) phase_jobs ;; esac

t_log "$POINTS kill points ($KILLED runs killed) in $(($(date +%s) - start)) s, $FAILS failed (K9_SEED=$SEED)"
if [ -s "$NOTES" ]; then
	t_log "minor findings (not failures):"
	sort -u "$NOTES" | head -n 20 | sed 's/^/#   /' >&2
	for r in "${!GIT_LITTER[@]}"; do
		t_log "  $r: ${GIT_LITTER[$r]} at the end, e.g. $(cd "$r" && find . -name 'tmp_*' -printf '%p %s bytes' -quit 2>/dev/null)"
	done
fi
if [ "$FAILS" -gt 0 ]; then
	sed 's/^/# /' "$FAILED_LIST" >&2
	fail "$FAILS of $POINTS kill points failed (K9_SEED=$SEED): $(head -n 2 "$FAILED_LIST" | tr '\n' ' ')"
fi
t_pass
