#!/usr/bin/env bash
# Runs every tests/integration/t_*.sh (or those whose name contains one of the arguments), one after
# the other, each with its own Dovecot or fake server in a temp dir. Prints "ok NAME" or
# "FAIL NAME: reason" per test and finally "N passed, N failed"; exits 1 when any test failed.
#   MAILKEEP=/abs/path/to/mailkeep   the binary (default: ./mailkeep at the top of the tree)
#   MK_TEST_TIMEOUT=SECONDS          bound for one test (default 1500: t_crash_inject takes 9-10 minutes on a loaded 2-core machine and went past 900 s under a heavier load; the injection, matrix and torture tests run longer still under ASan)
#   MK_KEEP=1                        keep the tests' temp dirs
#   MK_LOG_DIR=DIR                   where the tests' logs go (default: a new temp dir, kept on failure)
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
if [ -z "${MAILKEEP:-}" ]; then
	MAILKEEP=$repo/mailkeep
	[ -x "$MAILKEEP" ] || MAILKEEP=$repo/build/rel/mailkeep
fi
case $MAILKEEP in /*) ;; *) MAILKEEP=$PWD/$MAILKEEP ;; esac
export MAILKEEP

logdir=${MK_LOG_DIR:-$(mktemp -d "${MK_TMPDIR:-/tmp}/mailkeep-it-logs.XXXXXX")}
mkdir -p "$logdir"
per_test=${MK_TEST_TIMEOUT:-1500}

tests=()
for t in "$here"/t_*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .sh)
	name=${name#t_}
	if [ $# -gt 0 ]; then
		keep=0
		for pat in "$@"; do case $name in *"$pat"*) keep=1 ;; esac; done
		[ $keep = 1 ] || continue
	fi
	tests+=("$t")
done

passed=0
failed=0
start=$(date +%s)
for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	name=${name#t_}
	log=$logdir/$name.log
	reason=$logdir/$name.reason
	: >"$reason"
	t0=$(date +%s)
	MK_REASON_FILE=$reason timeout -k 10 "$per_test" bash "$t" >"$log" 2>&1 </dev/null
	rc=$?
	secs=$(($(date +%s) - t0))
	if [ $rc -eq 0 ]; then
		echo "ok $name (${secs}s)"
		passed=$((passed + 1))
	else
		why=$(head -n 1 "$reason")
		[ -n "$why" ] || why="exit status $rc"
		[ $rc -eq 124 ] && why="timed out after ${per_test}s${why:+ ($why)}"
		echo "FAIL $name: $why"
		sed 's/^/    /' "$log" | tail -n 25 >&2
		failed=$((failed + 1))
	fi
done
echo "# $((passed + failed)) tests in $(($(date +%s) - start))s; logs in $logdir; mailkeep: $MAILKEEP"
echo "$passed passed, $failed failed"
if [ $failed -eq 0 ] && [ -z "${MK_LOG_DIR:-}" ]; then
	rm -rf "$logdir"
fi
[ $failed -eq 0 ]
