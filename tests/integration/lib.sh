# shellcheck shell=bash
# Shared helpers for the mailkeep integration tests; sourced by every tests/integration/t_*.sh.
#
# A test calls t_begin first: it makes a private temp dir $T (removed on exit unless MK_KEEP=1) and
# HOME=$T/home, installs the EXIT trap that stops every Dovecot and background process the test
# started, and records why the test failed for run.sh ($MK_REASON_FILE). Then:
#   dc_up [fixture options]      start a Dovecot in $T/dc and source its env ($IMAP_PORT, ...)
#   seed populate|append ...     tests/fixture/seed.py with the fixture's env
#   dadm ARGS                    doveadm -c $DOVECOT_CONF ARGS
#   acct_yaml NAME key=value...  one account of a config (see below); cfg_write FILE < yaml
#   mk ARGS                      run mailkeep (timeout 120) -> $MK_RC, $MK_OUT, $MK_ERR (files);
#                                fails the test on a crash, a sanitizer report or a leaked password
#   exact ACCT_DIR [compare.py options]   fail unless compare.py says the mirror is exact
#   fail REASON / check COND REASON / expect_rc N WHAT / bg_start / bg_kill
set -u
set -o pipefail

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$LIB_DIR/../.." && pwd)
FIXTURE=$REPO/tests/fixture/dovecot.sh
SEED_PY=$REPO/tests/fixture/seed.py
COMPARE_PY=$LIB_DIR/compare.py
FAKEIMAP_PY=$LIB_DIR/fakeimap.py
HM_PY=$LIB_DIR/hostile_matrix.py
PUSH_CHECK_PY=$LIB_DIR/push_check.py
PUSH_FAKE_PY=$LIB_DIR/push_fake.py
MIGRATE_CHECK_PY=$LIB_DIR/migrate_check.py
# dcimap.py: a test's inline Python logs in to its Dovecot with `import dcimap`
export PYTHONPATH=$LIB_DIR${PYTHONPATH:+:$PYTHONPATH}
MK_TIMEOUT=${MK_TIMEOUT:-120}
# shellcheck source=../fixture/dovecot.sh
. "$FIXTURE"

T=""
DC=""
MK_RC=0
MK_OUT=""
MK_ERR=""
MK_RUNS=0
CHECKS=0
_BG_PIDS=()
_DC_DIRS=()
_SECRETS=("fake-secret-$$-pw") # fake_pass's, also when it runs in $(...) ($$ is the same there)

t_log() { printf '# %s\n' "$*" >&2; }

fail() {
	local reason="$*"
	[ ${#reason} -le 400 ] || reason="${reason:0:250} ... ${reason: -100}"
	printf 'FAIL: %s\n' "$reason" >&2
	if [ -n "${MK_REASON_FILE:-}" ] && [ ! -s "$MK_REASON_FILE" ]; then
		printf '%s\n' "$reason" | head -n 1 >"$MK_REASON_FILE"
	fi
	exit 1
}

# check 'shell condition' 'reason' (the condition is eval'ed here: use variables, not $1 $2 ...)
check() {
	CHECKS=$((CHECKS + 1))
	eval "$1" || fail "$2"
}

# The errnos crash_inject.c makes a call fail with (MK_INJ_ERRNO), tried in turn: call N's.
ERRNOS=(EIO ENOSPC EACCES EDQUOT)
errno_for() { echo "${ERRNOS[$(($1 % ${#ERRNOS[@]}))]}"; }

# inj_modes: what a sweep of t_crash_inject.sh or t_push_crash_inject.sh does at each tried call
# (WHENS: killed before and after it, or, with MK_INJ_ERRNO, failed) and which calls of each
# STRIDE it tries (RESIDUE: the first; with errnos the middle one, so that the kill and errno tests
# together try twice as many calls)
inj_modes() {
	WHENS="before after"
	RESIDUE=1
	if [ -n "${MK_INJ_ERRNO:-}" ]; then
		WHENS=errno
		RESIDUE=$(((STRIDE / 2 + 1) % STRIDE))
	fi
}

# inj_errno_check N RC ERRFILE CHECK...: a run whose call N failed (with errno_for N) exited RC,
# its standard error in ERRFILE: 1, 4 or 5 naming the error (its strerror text), or 0 when CHECK...
# (the run's outcome is exact) passes; never another status, a crash, a sanitizer report.
# WHAT names the run in failures; MK_INJ_VERBOSE=1 logs each.
inj_errno_check() {
	local e rc=$2 errf=$3 msg
	e=$(errno_for "$1")
	shift 3
	CHECKS=$((CHECKS + 1))
	WHAT+=" [$e]"
	! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$errf" ||
		fail "$WHAT: sanitizer report: $(grep -m1 -E 'Sanitizer|runtime error:' "$errf")"
	msg=$(python3 -c 'import errno, os, sys; print(os.strerror(getattr(errno, sys.argv[1])))' "$e")
	[ -z "${MK_INJ_VERBOSE:-}" ] || t_log "$WHAT: exit $rc: $(grep -E 'error|warn' "$errf" | head -n 1 | cut -c1-200)"
	case $rc in
	0) "$@" ;;
	1 | 4 | 5)
		grep -qF "$msg" "$errf" ||
			fail "$WHAT: exit $rc without naming the error ($msg): $(grep -v '^$' "$errf" | tail -n 2 | tr '\n' ' ' | cut -c1-300)"
		;;
	*) fail "$WHAT: exit $rc: $(tail -n 2 "$errf" | tr '\n' ' ')" ;;
	esac
}

# preload_shims SHIM...: each LD_PRELOAD shim (a NAME of this folder's NAME.c: crash_inject,
# net_inject, resolve_shim; or a PATH.c) built into $T/NAME.so, once a test; sets PRELOAD to what
# LD_PRELOAD wants: a sanitizer build's runtime first (make check SAN=1: it must come before any
# other library), then the shims in the order given
preload_shims() {
	local s src so asan
	command -v cc >/dev/null || fail "cc is not installed"
	PRELOAD=""
	for s in "$@"; do
		case $s in *.c) src=$s ;; *) src=$LIB_DIR/$s.c ;; esac
		so=$T/$(basename "$src" .c).so
		if [ ! -e "$so" ]; then
			cc -std=c11 -O2 -Wall -Wextra -Werror -shared -fPIC -o "$so" "$src" -ldl 2>"$T/cc.err" ||
				fail "cannot build the shim $(basename "$src"): $(head -n 1 "$T/cc.err")"
		fi
		PRELOAD+="${PRELOAD:+ }$so"
	done
	asan=$(ldd "$MAILKEEP" 2>/dev/null | awk '/libasan/ { print $3; exit }')
	[ -z "$asan" ] || PRELOAD="$asan $PRELOAD"
}

# inj_sync N [after] [LOG]: one `mailkeep -c $cfg sync` with $PRELOAD (preload_shims crash_inject),
# killed at its N-th call that changes the file system, before it (or just after it: after); N 0
# kills at none; the shim's log of the calls in LOG. Exit status in INJ_RC, output in $T/inj.out and
# $T/inj.err.
inj_sync() {
	(timeout -k 5 "$MK_TIMEOUT" env MK_INJ_N="$1" MK_INJ_AFTER="$([ "${2:-}" = after ] && echo 1 || echo 0)" \
		MK_INJ_LOG="${3:-}" LD_PRELOAD="$PRELOAD" "$MAILKEEP" -c "$cfg" sync \
		</dev/null >"$T/inj.out" 2>"$T/inj.err"; exit $?) 2>/dev/null
	INJ_RC=$?
}

t_cleanup() {
	local rc=$? p d
	trap - EXIT INT TERM
	for p in "${_BG_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null && { sleep 0.1; kill -KILL "$p" 2>/dev/null; }
		wait "$p" 2>/dev/null
	done
	for d in "${_DC_DIRS[@]}"; do
		dovecot_down "$d" >/dev/null 2>&1 || t_log "could not stop Dovecot in $d"
	done
	if [ $rc -ne 0 ] && [ -n "${MK_REASON_FILE:-}" ] && [ ! -s "$MK_REASON_FILE" ]; then
		echo "exited with status $rc" >"$MK_REASON_FILE"
	fi
	if [ -n "$T" ] && [ -d "$T" ]; then
		if [ "${MK_KEEP:-0}" = 1 ]; then
			t_log "kept $T"
		else
			rm -rf "$T"
		fi
	fi
	t_log "$CHECKS checks, $MK_RUNS mailkeep runs"
	exit $rc
}

t_begin() {
	TEST_NAME=${1:-$(basename "$0" .sh)}
	T=$(mktemp -d "${MK_TMPDIR:-/tmp}/mkit.XXXXXX") || { echo "mktemp failed" >&2; exit 1; }
	trap t_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	DC=$T/dc
	cd "$T" || exit 1
	# a home of the test's own: push's user locks ($HOME/.local/state/mailkeep) are kept out of
	# the real home, and two tests running at once (both pushing into "bob") do not lock each other out
	mkdir -m 700 "$T/home" && export HOME=$T/home || fail "cannot make $T/home"
	command -v python3 >/dev/null || fail "python3 missing (run make deps)"
	MAILKEEP=${MAILKEEP:-$REPO/mailkeep}
	[ -x "$MAILKEEP" ] || fail "mailkeep binary not found or not executable: $MAILKEEP"
}

need_dovecot() {
	command -v dovecot >/dev/null && command -v doveadm >/dev/null ||
		fail "dovecot is not installed (run make deps)"
}

# dc_up [--no-condstore] [--no-qresync] [--layout L] [--dir DIR]
dc_up() {
	local dir=$DC
	if [ "${1:-}" = --dir ]; then dir=$2; shift 2; fi
	need_dovecot
	_DC_DIRS+=("$dir")
	dovecot_up "$dir" "$@" >"$T/dc-up.log" 2>&1 || fail "fixture: $(grep -m1 dovecot.sh: "$T/dc-up.log")"
	# shellcheck disable=SC1091
	. "$dir/env"
	_SECRETS+=("$IMAP_PASS" "$IMAP_PASS2")
}

# path_account MODE SEED COUNT: a Dovecot whose incremental path is MODE (qresync: QRESYNC;
# condstore: CONDSTORE without QRESYNC; full: neither), seeded with `populate`, and a first mirror of it over one
# connection. Sets DC, cfg (the config file) and A (the mirror).
path_account() {
	local mode=$1 seed_n=$2 count=$3
	case $mode in
	qresync) DC=$T/dc-q; dc_up ;;
	condstore) DC=$T/dc-c; dc_up --no-qresync ;;
	full) DC=$T/dc-f; dc_up --no-condstore ;;
	*) fail "path_account: unknown mode $mode" ;;
	esac
	seed populate --seed "$seed_n" --count "$count" --big 0
	cfg=$T/$mode.yaml
	{ echo "accounts:"; acct_yaml "a$mode" max_connections=1; } | cfg_write "$cfg"
	A=$T/mail/a$mode
	mk -c "$cfg" sync
	expect_rc 0 "$mode: initial sync"
}

dc_down() {
	dovecot_down "${1:-$DC}" >/dev/null 2>&1
}

dadm() {
	doveadm -c "$DOVECOT_CONF" "$@" >>"$T/doveadm.log" 2>&1 || fail "doveadm $* failed: $(tail -n 1 "$T/doveadm.log")"
}

dadm_out() {
	doveadm -c "$DOVECOT_CONF" "$@" 2>>"$T/doveadm.log"
}

# bob_flags FOLDER UID: the "flags:" line of bob's message UID in FOLDER on the test's Dovecot
bob_flags() { dadm_out fetch -u bob flags mailbox "$1" uid "$2" | grep '^flags:'; }

seed() {
	local sub=$1
	shift
	python3 "$SEED_PY" "$sub" "$DC/env" "$@" >>"$T/seed.log" 2>&1 || fail "seed.py $sub $* failed: $(tail -n 1 "$T/seed.log")"
}

# acct_yaml NAME key=value ...: one entry of the `accounts:` sequence. Defaults: host 127.0.0.1,
# root $T/mail, tls implicit on $IMAPS_PORT with ca_file $CA_FILE, user alice, password_file
# $DC/pass-alice, timeout 30. A value "-" drops the key. Raw YAML lines may follow with raw=...
acct_yaml() {
	local name=$1
	shift
	declare -A kv=([root]="$T/mail" [host]=127.0.0.1 [tls]=implicit [port]="${IMAPS_PORT:-993}"
		[ca_file]="${CA_FILE:-}" [user]="${IMAP_USER:-alice}" [password_file]="$DC/pass-alice"
		[timeout]=30)
	local order=(root host port tls ca_file user password_file password_env password_command deletions
		timeout snapshot) a k raw=()
	for a in "$@"; do
		k=${a%%=*}
		if [ "$k" = raw ]; then raw+=("${a#raw=}"); continue; fi
		kv[$k]=${a#*=}
		case " ${order[*]} " in *" $k "*) ;; *) order+=("$k") ;; esac
	done
	if [ "${kv[tls]}" != implicit ] && [ "${kv[port]}" = "${IMAPS_PORT:-}" ]; then
		kv[port]=$IMAP_PORT
	fi
	[ "${kv[tls]}" = none ] && [ "${kv[ca_file]}" = "${CA_FILE:-}" ] && kv[ca_file]=-
	printf '  - name: %s\n' "$name"
	for k in "${order[@]}"; do
		[ -n "${kv[$k]+x}" ] || continue
		[ "${kv[$k]}" = - ] && continue
		[ -n "${kv[$k]}" ] || continue
		printf '    %s: %s\n' "$k" "$(yq "${kv[$k]}")"
	done
	for a in "${raw[@]}"; do printf '    %s\n' "$a"; done
}

# A YAML scalar: plain when safe (numbers, words, simple paths stay numbers/words), else double-quoted
yq() {
	case $1 in
	'' | *[!A-Za-z0-9._/+-]* | [-.]*) ;;
	*) printf '%s' "$1"; return 0 ;;
	esac
	local s=${1//\\/\\\\}
	s=${s//\"/\\\"}
	printf '"%s"' "$s"
}

cfg_write() {
	local f=$1
	cat >"$f"
}

# cfg_alice_bob FILE [key=value ... for alice]: a config with the accounts alice (the fixture's
# user, with those keys) and bob (the fixture's second user).
cfg_alice_bob() {
	local f=$1
	shift
	{
		echo "accounts:"
		acct_yaml alice "$@"
		acct_yaml bob user=bob password_file="$DC/pass-bob"
	} | cfg_write "$f"
}

# mk ARGS...: run mailkeep with a time bound; output in $MK_OUT / $MK_ERR.
mk() {
	MK_RUNS=$((MK_RUNS + 1))
	MK_OUT=$T/mk.$MK_RUNS.out
	MK_ERR=$T/mk.$MK_RUNS.err
	MK_ARGS_SHOWN="$*"
	timeout -k 5 "$MK_TIMEOUT" "$MAILKEEP" "$@" </dev/null >"$MK_OUT" 2>"$MK_ERR"
	MK_RC=$?
	t_log "mailkeep $* -> exit $MK_RC"
	if [ "${MK_SHOW:-0}" = 1 ]; then sed 's/^/#   /' "$MK_ERR" >&2; fi
	mk_sanity
}

mk_sanity() {
	local s
	[ $MK_RC -eq 124 ] && fail "mailkeep $MK_ARGS_SHOWN timed out after ${MK_TIMEOUT}s"
	[ $MK_RC -ge 125 ] && fail "mailkeep crashed or was killed (exit $MK_RC): $(mk_err_line)"
	if grep -qE 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$MK_ERR"; then
		fail "sanitizer report: $(grep -m1 -E 'Sanitizer|runtime error:' "$MK_ERR")"
	fi
	for s in "${_SECRETS[@]}"; do
		[ -n "$s" ] || continue
		if grep -qF -- "$s" "$MK_OUT" "$MK_ERR"; then
			fail "a password appears in mailkeep's output"
		fi
	done
	return 0
}
MK_ARGS_SHOWN=""

mk_err_line() {
	grep -v '^[[:space:]]*$' "$MK_ERR" | tail -n 1 | cut -c1-200
}

# expect_rc N WHAT
expect_rc() {
	CHECKS=$((CHECKS + 1))
	[ "$MK_RC" -eq "$1" ] || fail "$2: exit $MK_RC, expected $1 (stderr: $(mk_err_line))"
}

# exact ACCT_DIR [compare.py options]: the mirror must be exact. Uses plain IMAP to the fixture.
exact() {
	local acct=$1
	shift
	CHECKS=$((CHECKS + 1))
	local pf=$DC/pass-alice user=$IMAP_USER
	local a
	for a in "$@"; do
		[ "$a" = --bob ] && { pf=$DC/pass-bob; user=$IMAP_USER2; }
	done
	local args=()
	for a in "$@"; do [ "$a" = --bob ] || args+=("$a"); done
	if ! python3 "$COMPARE_PY" "$acct" --host "$IMAP_HOST" --port "$IMAP_PORT" --user "$user" \
		--password-file "$pf" "${args[@]}" >"$T/compare.out" 2>&1; then
		sed 's/^/#   /' "$T/compare.out" | head -n 20 >&2
		fail "mirror $(basename "$acct") not exact: $(head -n 1 "$T/compare.out")"
	fi
}

# pc SUB ARGS...: push_check.py SUB ARGS must exit 0, else its report goes to stderr and the test fails (reason after $PC_WHAT: if set)
pc() {
	CHECKS=$((CHECKS + 1))
	if ! python3 "$PUSH_CHECK_PY" "$@" >"$T/pc.out" 2>&1; then
		sed 's/^/#   /' "$T/pc.out" | head -n 12 >&2
		fail "${PC_WHAT:+$PC_WHAT: }push_check $1: $(head -n 3 "$T/pc.out" | tr '\n' ' ')"
	fi
}

# mc ARGS...: migrate_check.py --src "$SRC" ARGS (a push_fake.py state holds the mirror) must exit 0, else its report
# goes to stderr and the test fails (reason after $MC_WHAT: if set)
mc() {
	CHECKS=$((CHECKS + 1))
	if ! python3 "$MIGRATE_CHECK_PY" --src "$SRC" "$@" >"$T/mc.out" 2>&1; then
		sed 's/^/#   /' "$T/mc.out" | head -n 12 >&2
		fail "${MC_WHAT:+$MC_WHAT: }migrate_check $*: $(head -n 3 "$T/mc.out" | tr '\n' ' ')"
	fi
}

# server_state FILE: dump of the server's folders, UIDs, flags and HIGHESTMODSEQ
server_state() {
	python3 "$COMPARE_PY" /nonexistent --host "$IMAP_HOST" --port "$IMAP_PORT" --user "$IMAP_USER" \
		--password-file "$DC/pass-alice" --dump-state "$1" >>"$T/compare.out" 2>&1 ||
		fail "compare.py --dump-state failed: $(tail -n 1 "$T/compare.out")"
}

# inode_list DIR: "inode path" of every message file under DIR (sorted), state files excluded
inode_list() {
	(cd "$1" && find . -path ./.mailkeep -prune -o -type f ! -name .mailkeep-state -printf '%i %P\n' | sort -k2)
}

# msg_files DIR: the message files (paths relative to DIR) under */cur and */new
msg_files() {
	(cd "$1" && find . -path ./.mailkeep -prune -o -type f \( -path '*/cur/*' -o -path '*/new/*' \) -printf '%P\n' | sort)
}

# file_for ACCT FOLDER UID: the single file for UID in FOLDER/cur (empty if none)
file_for() {
	local f
	for f in "$1/$2"/cur/*; do
		case ${f##*/} in *",U=$3:2,"*) echo "$f" ;; esac
	done
}

# bg_start CMD...: start a background process that t_cleanup will stop; pid in $BG_PID
bg_start() {
	"$@" &
	BG_PID=$!
	_BG_PIDS+=("$BG_PID")
}

bg_kill() {
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# fake_up SCENARIO: start fakeimap.py; sets FAKE_PORT and FAKE_LOG
fake_up() {
	local sc=$1 n=0
	FAKE_LOG=$T/fake-$sc.log
	rm -f "$T/fake.port"
	bg_start python3 "$FAKEIMAP_PY" --scenario "$sc" --port-file "$T/fake.port" --log "$FAKE_LOG" --lifetime 240
	FAKE_PID=$BG_PID
	while [ ! -s "$T/fake.port" ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
	[ -s "$T/fake.port" ] || fail "fakeimap.py did not start"
	FAKE_PORT=$(cat "$T/fake.port")
}

# push_hostile_up DIR CAPS [push_fake.py options]: start push_hostile.py as a push target, its
# misbehaviours read from DIR/modes (made empty when missing), its log DIR/server.log, CAPS its
# capabilities; sets PORT
push_hostile_up() {
	local d=$1 caps=$2 n=0
	shift 2
	mkdir -p "$d"
	[ -e "$d/modes" ] || : >"$d/modes"
	bg_start python3 "$LIB_DIR/push_hostile.py" --mode-file "$d/modes" --port-file "$d/port" --state "$d/state.json" \
		--log "$d/server.log" --lifetime 300 --caps "$caps" "$@"
	while [ ! -s "$d/port" ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
	[ -s "$d/port" ] || fail "push_hostile.py did not start"
	PORT=$(cat "$d/port")
}

# push_hostile_mirror NAME: after push_hostile_up, $T/config.yaml with the accounts alice (the
# test's Dovecot) and NAME (push_hostile.py on $PORT, no TLS), then alice mirrored (exit 0);
# sets cfg and A
push_hostile_mirror() {
	local pf
	pf=$(fake_pass)
	cfg=$T/config.yaml
	{
		echo "accounts:"
		acct_yaml alice
		acct_yaml "$1" port="$PORT" tls=none password_file="$pf"
	} | cfg_write "$cfg"
	A=$T/mail/alice
	mk -c "$cfg" sync alice
	expect_rc 0 "sync"
}

# hm_up SCENARIO LOG [hostile_matrix.py options]: start hostile_matrix.py, log $T/LOG (removed first),
# --lifetime 60 (a --lifetime among the options wins); sets HM_PORT and HM_PID
hm_up() {
	local sc=$1 log=$2 n=0
	shift 2
	rm -f "$T/hm.port" "$T/$log"
	bg_start python3 "$HM_PY" --scenario "$sc" --port-file "$T/hm.port" --log "$T/$log" --lifetime 60 "$@"
	HM_PID=$BG_PID
	while [ ! -s "$T/hm.port" ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
	[ -s "$T/hm.port" ] || fail "hostile_matrix.py did not start"
	HM_PORT=$(cat "$T/hm.port")
}

# push_fake_up NAME [push_fake.py options]: a new push_fake.py, state $T/NAME.json (removed first), log
# $T/NAME.log, --lifetime 300 (a --lifetime among the options wins); sets PORT_NAME and PUSH_FAKE_PID
push_fake_up() {
	local n=$1 k=0
	shift
	rm -f "$T/$n.port" "$T/$n.json"
	bg_start python3 "$PUSH_FAKE_PY" --port-file "$T/$n.port" --state "$T/$n.json" --log "$T/$n.log" \
		--lifetime 300 "$@"
	PUSH_FAKE_PID=$BG_PID
	while [ ! -s "$T/$n.port" ] && [ $k -lt 100 ]; do sleep 0.05; k=$((k + 1)); done
	[ -s "$T/$n.port" ] || fail "push_fake.py $n did not start"
	printf -v "PORT_$n" '%s' "$(cat "$T/$n.port")"
}

# push_fake_msgs NAME [FOLDER]: the SHA-256 of each message that push_fake.py NAME holds (in FOLDER), one a line
push_fake_msgs() { python3 "$MIGRATE_CHECK_PY" --state "$T/$1.json" --list ${2+"$2"}; }

# log_wait PATTERN FILE: wait (at most 20 s) until a fake server has logged PATTERN in FILE (or a
# background run its -vv line). What a server logs on the client's close comes after mailkeep has
# exited, on a loaded machine a while after.
log_wait() {
	local k=0
	while ! grep -q -- "$1" "$2" 2>/dev/null && [ $k -lt 400 ]; do sleep 0.05; k=$((k + 1)); done
}

# wait_for 'COND' [SECONDS]: wait until the condition (eval'ed) holds, at most SECONDS (default 20);
# returns its last status. For a test that acts at a point of a background run (a file renamed, a
# line logged, a lock taken): never a fixed sleep, which a loaded machine outlasts.
wait_for() {
	local n=0
	while ! eval "$1" && [ $n -lt $((${2:-20} * 20)) ]; do sleep 0.05; n=$((n + 1)); done
	eval "$1"
}

# A password file for the fake server (any password is accepted there).
fake_pass() {
	local f=$T/pass-fake
	[ -f "$f" ] || (umask 077 && echo "fake-secret-$$-pw" >"$f")
	echo "$f"
}

# The fake Gmail (fakeimap.py's gmail scenario: X-GM-EXT-1, six messages in label folders, All Mail
# holding them all) and an account "fake" mirroring it into $root/fake, no TLS:
#   gmail_up [key=value...]   start it and write $cfg with the account (with those keys, as
#                             acct_yaml's); sets pf (its password file), base (the X-GM-MSGID of M<k> is
#                             base + k: over 2^53, so awk must compare them as strings, never as
#                             numbers), root, acct (the mirror), store (its .mailkeep/gmail) and cfg
#   gmail_cfg [key=value...]  $cfg written again with those keys
#   exact_fake ACCT_DIR WHAT  compare.py against the fake server says the mirror is exact
gmail_up() {
	pf=$(fake_pass)
	fake_up gmail
	base=1700000000000000001
	root=$T/root
	acct=$root/fake
	store=$acct/.mailkeep/gmail
	cfg=$T/c.yaml
	gmail_cfg "$@"
}
gmail_cfg() {
	{ echo "accounts:"; acct_yaml fake root="$root" port="$FAKE_PORT" tls=none user=u password_file="$pf" \
		timeout=10 "$@"; } | cfg_write "$cfg"
}
exact_fake() {
	CHECKS=$((CHECKS + 1))
	if ! python3 "$COMPARE_PY" "$1" --host 127.0.0.1 --port "$FAKE_PORT" --user u --password-file "$pf" \
		>"$T/compare.out" 2>&1; then
		sed 's/^/#   /' "$T/compare.out" | head -n 20 >&2
		fail "$2: mirror $(basename "$1") not exact: $(head -n 1 "$T/compare.out")"
	fi
}

# snap_mirror NAME REPO: a mirror of one message in $T/NAME/a (made anew), and $T/NAME.yaml, without a
# server, snapshotting it into REPO; snap_committed REPO: the repository's main holds that message
snap_mirror() {
	rm -rf "${T:?}/$1"
	mkdir -p "$T/$1/a/INBOX/cur" "$T/$1/a/INBOX/new" "$T/$1/a/INBOX/tmp"
	printf 'Subject: x\n\nbody\n' >"$T/$1/a/INBOX/cur/1700000000.1_1.host,U=1:2,S"
	{
		echo "accounts:"
		acct_yaml a root="$T/$1" snapshot=true password_file=/dev/null snapshot_repo="$2"
	} | cfg_write "$T/$1.yaml"
}
snap_committed() {
	git --git-dir="$1" cat-file -e "main:INBOX/cur/1700000000.1_1.host,U=1:2,S" 2>/dev/null
}

# mk_strace STRACE_OPTION... -- MAILKEEP_ARG...: mailkeep run under strace -f -qq (-o TRACE among the
# options, else the trace goes to standard error), with a time bound and LeakSanitizer off (it does
# not run under ptrace); its output in $T/traced.out and $T/traced.err, the shell's word of a run
# killed (-e inject=...:signal=KILL) silenced. Returns the run's exit status (137: killed).
mk_strace() {
	local opts=()
	command -v strace >/dev/null || fail "strace is not installed (make deps)"
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	[ $# -gt 0 ] || fail "mk_strace: no -- before mailkeep's arguments"
	shift
	(
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" timeout -k 5 "$MK_TIMEOUT" \
			strace -f -qq "${opts[@]}" "$MAILKEEP" "$@" </dev/null >"$T/traced.out" 2>"$T/traced.err"
		exit $?
	) 2>/dev/null
}

# the test passed
t_pass() {
	exit 0
}

# inode_expect BEFORE AFTER [SPEC...]: compare two inode_list outputs message by message (folder
# and UID from the file names). SPEC is "STATUS FOLDER UID" with STATUS renamed (same inode, other
# name), gone, new or rewritten (other inode); UID may be '*' for "any number of these". Every
# message not named by a SPEC must be unchanged (same name, same inode). Fails the test otherwise.
inode_expect() {
	CHECKS=$((CHECKS + 1))
	local out
	if ! out=$(python3 - "$@" <<'PY'
import re, sys
def load(p):
    d = {}
    with open(p, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            ino, path = line.rstrip("\n").split(" ", 1)
            m = re.search(r"^(.*)/(cur|new)/[^/]*,U=(\d+):2,[^/]*$", path)
            if not m:
                continue
            d.setdefault((m.group(1), m.group(3)), []).append((ino, path))
    return d
b, a = load(sys.argv[1]), load(sys.argv[2])
specs = [s.split(" ", 2) for s in sys.argv[3:]]
def spec_for(folder, uid, st):
    """the status expected for this message, given the status it has"""
    for want, f, u in specs:
        if f == folder and u == uid:
            return want
    wild = {want for want, f, u in specs if f == folder and u == "*"}
    return st if st in wild else "same"
bad = []
for key in sorted(set(b) | set(a)):
    folder, uid = key
    if len(a.get(key, [])) > 1:
        bad.append(f"{folder} UID {uid}: {len(a[key])} files")
        continue
    if key not in a:
        st = "gone"
    elif key not in b:
        st = "new"
    else:
        (ib, pb), (ia, pa) = b[key][0], a[key][0]
        st = "same" if (ib, pb) == (ia, pa) else "renamed" if ib == ia else "rewritten"
    want = spec_for(folder, uid, st)
    if st != want:
        bad.append(f"{folder} UID {uid}: {st}, expected {want}")
print("; ".join(bad[:6]) + (f" (+{len(bad) - 6} more)" if len(bad) > 6 else ""))
sys.exit(1 if bad else 0)
PY
	); then
		fail "files changed unexpectedly: $out"
	fi
}

# small_fs SIZE: a tmpfs of SIZE mounted at M=$T/small and unmounted on exit; where it cannot be
# mounted (not root) the test is skipped (exit 0). fill_fs DIR [KB]: fill DIR's file system into
# DIR/filler, up to KB kilobytes left free (default none).
small_fs() {
	M=$T/small
	mkdir -p "$M"
	if ! mount -t tmpfs -o size="$1",mode=0700 tmpfs "$M" 2>/dev/null; then
		t_log "cannot mount a tmpfs (not root?): skipped"
		exit 0
	fi
	trap 'rc=$?; umount "$M" 2>/dev/null; (exit $rc); t_cleanup' EXIT
}
fill_fs() {
	local avail
	avail=$(df -k --output=avail "$1" | tail -n 1)
	head -c $(((avail - ${2:-0}) * 1024)) /dev/zero >"$1/filler" 2>/dev/null
}

# The start of the UIDVALIDITY tests (t_uidvalidity*.sh):
#   uv_setup [--inbox [--keep]] [populate options]   a Dovecot seeded with `populate --seed 6
#                  --count 5` and the options; $cfg with the account alice, its mirror $A; --inbox:
#                  INBOX alone (the calls of one folder, in the same order on every run), the others
#                  in `others`; --keep: with `deletions: keep`
#   uv_first_sync  the first mirror: exit 0, exact (INBOX alone after --inbox)
#   uv_get VAR FOLDER   VAR set to alice's FOLDER's UIDVALIDITY on the server (doveadm)
#   uv_renumber FOLDER  alice's FOLDER renumbered by Dovecot: its uid list and indexes deleted while
#                  no session has it open (a new UIDVALIDITY, UIDs from 1, the same messages)
uv_setup() {
	local inbox=0 keep=()
	[ "${1:-}" = --inbox ] && { inbox=1; shift; }
	[ "${1:-}" = --keep ] && { keep=(deletions=keep); shift; }
	dc_up
	seed populate --seed 6 --count 5 "$@"
	cfg=$T/config.yaml
	A=$T/mail/alice
	others=()
	if [ $inbox = 0 ]; then
		{ echo "accounts:"; acct_yaml alice; } | cfg_write "$cfg"
		return
	fi
	{ echo "accounts:"; acct_yaml alice ${keep[@]+"${keep[@]}"} "raw=folders: {include: [INBOX]}"; } | cfg_write "$cfg"
	mapfile -t others < <(dadm_out mailbox list -u alice | grep -vx INBOX)
}
# uv_killed_rekey MIN: after uv_first_sync (--inbox), INBOX's file names by UID in `names` (at least
# MIN), its UIDVALIDITY in `old` and made 777 on the server, and the record a re-key killed before
# its first rename leaves (the same UIDs under UIDVALIDITY 777) written into the mirror's INBOX
uv_killed_rekey() {
	local n u
	mapfile -t names < <(cd "$A/INBOX/cur" && ls | sort -t= -k2 -n)
	check "[ \${#names[@]} -ge $1 ]" "INBOX holds fewer than $1 messages"
	old=$(echo "${names[0]}" | sed 's/^[-0-9]*\.\([0-9]*\)_.*/\1/')
	[ -n "$old" ] || fail "no UIDVALIDITY in the name ${names[0]}"
	dadm mailbox update -u alice --uid-validity 777 INBOX
	{
		printf 'mailkeep-rekey 1\nfrom %s\nto 777\nuidnext 0\npairs %s\n' "$old" "${#names[@]}"
		for n in "${names[@]}"; do u=${n##*U=}; u=${u%%:*}; echo "$u $u"; done
	} >"$A/INBOX/.mailkeep-rekey"
}
# uv_rekey_finished: the run after the kill of uv_killed_rekey (exit 0) finishes the re-key: no file
# left under the old UIDVALIDITY, no record, nothing moved aside, one file per message, exact
uv_rekey_finished() {
	mk -c "$cfg" sync
	expect_rc 0 "the run after the kill"
	check '[ -z "$(find "$A/INBOX" -type f -name "*.${old}_*")" ]' \
		"a file is left under the old UIDVALIDITY: $(find "$A/INBOX" -type f -name "*.${old}_*" | head -n 1)"
	check '[ ! -e "$A/INBOX/.mailkeep-rekey" ]' "the record is left"
	check '[ -z "$(find "$A/.mailkeep" -maxdepth 1 -name "uidvalidity-*")" ]' "moved aside"
	check '[ "$(find "$A/INBOX/cur" "$A/INBOX/new" -type f | wc -l)" = "${#names[@]}" ]' \
		"INBOX holds $(find "$A/INBOX/cur" "$A/INBOX/new" -type f | wc -l) files, not ${#names[@]}"
	exact "$A" --folders-excluded "${others[@]}"
}
uv_first_sync() {
	mk -c "$cfg" sync
	expect_rc 0 "initial sync"
	exact "$A" ${others[@]+--folders-excluded "${others[@]}"}
}
uv_get() {
	local v
	v=$(dadm_out mailbox status -u alice uidvalidity "$2" | sed 's/.*uidvalidity=//')
	[ -n "$v" ] || fail "cannot read the UIDVALIDITY of $2 with doveadm"
	printf -v "$1" '%s' "$v"
}
uv_renumber() {
	local dir
	dir=$(dirname "$(find "$DC/mail/alice" -path "*$1/cur" -type d | head -n 1)")
	[ -f "$dir/dovecot-uidlist" ] || fail "no dovecot-uidlist in $1's Maildir ($dir)"
	rm -f "$dir"/dovecot-uidlist "$dir"/dovecot.index*
}

# Tests that change a settled mirror by hand, case after case (set $A and $cfg first):
# settled_save keeps a copy of the mirror as it is; fresh puts that copy back and syncs it once (its
# states trusted again, as in a frequent run), exact; sync_exact WHAT [exact ARGS] syncs twice, each
# time exit 0 and exact; the first sync's stderr stays in $T/first.err.
settled_save() { rm -rf "$T/clean"; cp -a "$A" "$T/clean"; }
fresh() {
	rm -rf "$A"
	cp -a "$T/clean" "$A"
	mk -c "$cfg" sync
	expect_rc 0 "sync of the fresh copy"
	exact "$A"
}
sync_exact() {
	mk -c "$cfg" -vv sync
	expect_rc 0 "$1"
	cp "$MK_ERR" "$T/first.err"
	exact "$A" "${@:2}"
	mk -c "$cfg" sync
	expect_rc 0 "$1 (again)"
	exact "$A" "${@:2}"
}

# tmp_files DIR / cur_files DIR: files inside any tmp/ (cur/) directory below DIR, relative paths
tmp_files() { [ -d "$1" ] && (cd "$1" && find . -type f -path '*/tmp/*'); return 0; }
cur_files() { [ -d "$1" ] && (cd "$1" && find . -type f -path '*/cur/*'); return 0; }

# problem MSG: the kill -9 tests (t_kill9_torture.sh, t_kill9_strace.sh) record a point's failure
# in PT_PROBLEMS and go on
problem() {
	PT_PROBLEMS+="${PT_PROBLEMS:+ | }$*"
	t_log "  PROBLEM: $*"
}

# k9_mirror_check ACCT [--bob] [--partial] [compare.py options]: the outcome of a run after kill -9s
# (t_kill9_torture.sh, t_kill9_strace.sh), each failure handed to the caller's problem() (not fatal):
# compare.py with the options (--bob: the fixture's second user), no Message-ID twice (k9_torture.py
# msgids, beside it); unless --partial (a killed run's mirror), nothing in any tmp/, no *.tmp, .part,
# .lock, .mailkeep-link, no .mailkeep-moving or .mailkeep-rekey mark, every file 0600 and directory 0700
k9_mirror_check() {
	local acct=$1 pf=$DC/pass-alice user=$IMAP_USER opts=() a l mpid mrc partial=0 py=${PY:-python3}
	shift
	for a in "$@"; do
		case $a in
		--bob) pf=$DC/pass-bob user=$IMAP_USER2 ;;
		--partial) partial=1 opts+=("$a") ;;
		*) opts+=("$a") ;;
		esac
	done
	CHECKS=$((CHECKS + 2))
	"$py" "$LIB_DIR/k9_torture.py" msgids "$acct" --host "$IMAP_HOST" --port "$IMAP_PORT" --user "$user" \
		--password-file "$pf" >"$T/msgids.out" 2>&1 &
	mpid=$!
	if ! "$py" "$COMPARE_PY" "$acct" --host "$IMAP_HOST" --port "$IMAP_PORT" --user "$user" \
		--password-file "$pf" "${opts[@]}" >"$T/compare.out" 2>&1; then
		sed 's/^/#     /' "$T/compare.out" | head -n 12 >&2
		problem "compare.py ${opts[*]} $(basename "$acct"): $(head -n 3 "$T/compare.out" | tr '\n' ' ' | cut -c1-400)"
	fi
	wait "$mpid"
	mrc=$?
	[ "$mrc" -eq 0 ] || problem "duplicate Message-IDs in $(basename "$acct"): $(head -n 2 "$T/msgids.out" | tr '\n' ' ')"
	[ "$partial" = 0 ] || return 0
	CHECKS=$((CHECKS + 3))
	l=$(tmp_files "$acct" | head -n 3 | tr '\n' ' ')
	[ -z "$l" ] || problem "files left in tmp/: $l"
	l=$(cd "$acct" && find . \( -name '*.tmp' -o -name '*.part' -o -name '*.lock' -o -name '*.mailkeep-link' \
		-o -name '.mailkeep-moving*' -o -name '.mailkeep-rekey*' \) -print | head -n 3 | tr '\n' ' ')
	[ -z "$l" ] || problem "temporary files or marks left: $l"
	l=$(cd "$acct" && find . \( -type f ! -perm 0600 -o -type d ! -perm 0700 \) -printf '%m %p\n' | head -n 3 | tr '\n' ' ')
	[ -z "$l" ] || problem "modes: $l"
}

# k9_noop_check MAILKEEP_ARG...: after a good rerun of a killed run (t_kill9_torture.sh,
# t_kill9_strace.sh), `mailkeep -c $cfg ARG...` exits 0 and changes nothing: the same files (names
# and inodes) under $A and, with a snapshot repository $R, no new commit; each failure handed to
# the caller's problem()
k9_noop_check() {
	local h0="" h1=""
	[ -z "${R:-}" ] || h0=$(git --git-dir="$R" rev-parse -q --verify HEAD 2>/dev/null)
	inode_list "$A" >"$T/ino0"
	mk -c "$cfg" "$@"
	[ "$MK_RC" -eq 0 ] || problem "the no-op run after the rerun: exit $MK_RC: $(mk_err_line)"
	inode_list "$A" >"$T/ino1"
	CHECKS=$((CHECKS + 1))
	cmp -s "$T/ino0" "$T/ino1" ||
		problem "the run after the rerun changed files: $(diff "$T/ino0" "$T/ino1" | grep '^[<>]' | head -n 4 | tr '\n' ' ')"
	[ -n "${R:-}" ] || return 0
	h1=$(git --git-dir="$R" rev-parse -q --verify HEAD 2>/dev/null)
	[ "$h0" = "$h1" ] || problem "the no-op run made a snapshot commit (tree was not exact before?)"
}

# k9_git_check: the snapshot repository $R of the mirror $A after a good rerun of a killed run, each
# failure handed to problem(): `git fsck --full` clean, HEAD's tree the mirror (k9_torture.py
# tree), .mailkeep/snapshot-state naming HEAD, no *.lock in the repository, no $R.init, no
# .mailkeep/snapshot-committing mark
k9_git_check() {
	local st head l g=(git -c core.quotepath=off --git-dir="$R")
	CHECKS=$((CHECKS + 3))
	[ -d "$R" ] || { problem "no snapshot repository $R"; return; }
	if ! "${g[@]}" fsck --full --no-progress --no-dangling >"$T/fsck.out" 2>&1; then
		problem "git fsck failed: $(head -n 3 "$T/fsck.out" | tr '\n' ' ')"
	elif grep -qiE 'error|missing|broken|corrupt|bad sha1|garbage' "$T/fsck.out"; then
		problem "git fsck: $(grep -iE 'error|missing|broken|corrupt|bad sha1|garbage' "$T/fsck.out" | head -n 2 | tr '\n' ' ')"
	fi
	"${PY:-python3}" "$LIB_DIR/k9_torture.py" tree "$R" "$A" >"$T/tree.out" 2>&1 ||
		problem "snapshot HEAD differs from the mirror: $(head -n 3 "$T/tree.out" | tr '\n' ' ')"
	head=$("${g[@]}" rev-parse -q --verify HEAD 2>/dev/null)
	st=$(sed -n 's/^commit //p' "$A/.mailkeep/snapshot-state" 2>/dev/null)
	[ "$st" = "$head" ] || problem "snapshot-state records ${st:-nothing}, HEAD is ${head:-nothing}"
	l=$(cd "$R" && find . -name '*.lock' -print | head -n 3 | tr '\n' ' ')
	[ -z "$l" ] || problem "lock files left in the snapshot repository: $l"
	[ ! -e "$R.init" ] || problem "$R.init left behind"
	[ ! -e "$A/.mailkeep/snapshot-committing" ] || problem "the mark .mailkeep/snapshot-committing left behind"
}

# k9_push_check ACCT USER: the target after a good `mailkeep push` of the mirror ACCT to USER of the
# fixture's Dovecot (SRC and DST set as for push_check.py), each failure handed to the caller's
# problem(): push_check.py compare exact (every message once, bytes, flags, INTERNALDATE), no
# message left in doubt ("p" lines) or temporary file in ACCT's push states, and every mirror
# folder's target (the same name) that is not INBOX subscribed
k9_push_check() {
	local acct=$1 user=$2 l
	CHECKS=$((CHECKS + 4))
	if ! "${PY:-python3}" "$PUSH_CHECK_PY" compare --src "$SRC" --dst "$DST" >"$T/pc.out" 2>&1; then
		sed 's/^/#     /' "$T/pc.out" | head -n 10 >&2
		problem "push_check: $(head -n 3 "$T/pc.out" | tr '\n' ' ' | cut -c1-400)"
	fi
	l=$(grep -rl '^p ' "$acct/.mailkeep/push" 2>/dev/null | head -n 2 | tr '\n' ' ')
	[ -z "$l" ] || problem "pending entries left in push states: $l"
	l=$(find "$acct/.mailkeep/push" -name '*.tmp' 2>/dev/null | head -n 2 | tr '\n' ' ')
	[ -z "$l" ] || problem "push state temp files left: $l"
	doveadm -c "$DOVECOT_CONF" mailbox list -u "$user" -s 2>/dev/null | sort >"$T/target.sub"
	(cd "$acct" && find . -path ./.mailkeep -prune -o -type d -name cur -printf '%h\n' | sed 's#^\./##' | sort) >"$T/src.folders"
	l=$(comm -23 "$T/src.folders" "$T/target.sub" | grep -vx INBOX | head -n 3 | tr '\n' ' ')
	[ -z "$l" ] || problem "target folders created but not subscribed: $l"
}

# bob_idle: the fixture's user bob has no IMAP session left, waited for up to 20 s (a killed push's
# session ends when its server process sees the connection closed, after storing an APPEND that was
# sent in full; bob's Maildir must not change under the next run, or be copied meanwhile)
bob_idle() {
	local k
	for ((k = 0; k < 400; k++)); do
		doveadm -c "$DOVECOT_CONF" who -1 bob 2>/dev/null | grep -q '^bob ' || return 0
		sleep 0.05
	done
	fail "${WHAT:+$WHAT: }bob's IMAP session did not end"
}

# With dc_up --rawlog: rawlog_reset forgets the sessions so far; rawlog_commands prints the
# commands that clients sent since then (post-login, without the timestamps), one per line.
rawlog_reset() { rm -f "$DC/rawlog/${1:-alice}"/*; }
rawlog_commands() {
	local f
	for f in "$DC/rawlog/${1:-alice}"/*.in; do
		[ -f "$f" ] && sed -E 's/^[0-9]+\.[0-9]+ //' "$f"
	done
	return 0
}
# rawlog_keep FILE: append the commands so far to FILE, then rawlog_reset
rawlog_keep() { rawlog_commands >>"$1"; rawlog_reset; }
# no_writes WHAT [FILE]: no client command since rawlog_reset (or in FILE) could have changed the server
no_writes() {
	CHECKS=$((CHECKS + 1))
	local bad
	bad=$({ if [ -n "${2:-}" ]; then cat "$2"; else rawlog_commands; fi; } | grep -iE '^[^ ]+ (UID )?(STORE|EXPUNGE|APPEND|COPY|MOVE|CREATE|DELETE|RENAME|SUBSCRIBE|UNSUBSCRIBE|SELECT|SETMETADATA|SETACL|DELETEACL|SETQUOTA)( |$)' | head -n 1)
	[ -z "$bad" ] || fail "$1: a client sent a command that can change the server: $bad"
}
