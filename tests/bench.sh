#!/usr/bin/env bash
# make bench: side-by-side timings with ../shared/bench (when present) and the snapshot benchmark.
#   tests/bench.sh /abs/path/to/mailkeep
# Environment:
#   BENCH_SIZE=S|M|L      corpus for the peer comparison (default M)
#   BENCH_TOOLS=...       tools for ../shared/bench/bench (default mbsync,raw,mailkeep)
#   BENCH_ARGS="..."      extra arguments for ../shared/bench/bench (e.g. --rtt-ms 50, --big 50000000)
#   BENCH_SKIP_PEERS=1    no peer comparison
#   BENCH_SKIP_FLOOR=1    no floor measurement (tests/bench_floor.py; BENCH_FLOOR_ROUNDS=5 rounds)
#   BENCH_SNAPSHOT_SIZE=M corpus for the snapshot benchmark (M = 20k messages)
set -euo pipefail
bin=${1:?usage: bench.sh MAILKEEP_BINARY}
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=$repo/../shared/bench
if [ ! -x "$shared/bench" ]; then
	echo "bench: $shared not found; the benchmarks need the shared bench harness beside the clone" >&2
	exit 0
fi
tmp=$(mktemp -d /tmp/mailkeep-bench.XXXXXX)
cleanup() { "$shared/dovecot-down" "$tmp/dc" >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT

if [ "${BENCH_SKIP_PEERS:-0}" != 1 ]; then
	echo "== peers: bench --size ${BENCH_SIZE:-M} ${BENCH_ARGS:-}"
	# shellcheck disable=SC2086
	"$shared/bench" --size "${BENCH_SIZE:-M}" --tools "${BENCH_TOOLS:-mbsync,raw,mailkeep}" \
		--mailkeep "$bin" ${BENCH_ARGS:-}
fi

if [ "${BENCH_SKIP_FLOOR:-0}" != 1 ] && command -v mbsync >/dev/null; then
	echo "== floors: the server's own part of a no-change and a changed run (M corpus), beside mbsync and mailkeep"
	python3 "$repo/tests/bench_floor.py" "$shared" "$bin" "${BENCH_FLOOR_ROUNDS:-5}"
fi

echo "== snapshot: ${BENCH_SNAPSHOT_SIZE:-M} corpus, incremental after a 1 % change vs a full re-snapshot"
"$shared/dovecot-up" "$tmp/dc" >/dev/null
"$shared/seed-mailbox" "$tmp/dc" --size "${BENCH_SNAPSHOT_SIZE:-M}" --seed 1 >/dev/null
"$shared/mailkeep-config" "$tmp/dc" --root "$tmp/mk" --password-via file >"$tmp/mk.yaml"
sed -i 's/^    deletions: mirror$/    deletions: mirror\n    snapshot: true/' "$tmp/mk.yaml"
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'; }
initial=$(secs "$bin" -c "$tmp/mk.yaml" -q sync)
"$shared/mutate" "$tmp/dc" --seed 2 --flags 1 --expunge 0.5 --new 0.5 >/dev/null
# sync without the snapshot, then time the snapshot alone
sed 's/^    snapshot: true$/    snapshot: false/' "$tmp/mk.yaml" >"$tmp/mk-nosnap.yaml"
"$bin" -c "$tmp/mk-nosnap.yaml" -q sync
incremental=$(secs "$bin" -c "$tmp/mk.yaml" -q snapshot)
repo_git=$tmp/mk/bench.git
rm -rf "$repo_git" "$tmp/mk/bench/.mailkeep/snapshot-state"
full=$(secs "$bin" -c "$tmp/mk.yaml" -q snapshot)
msgs=$(find "$tmp/mk/bench" -path '*/cur/*' -type f | wc -l)
printf '| case | messages | seconds |\n|---|---:|---:|\n'
printf '| initial sync + first snapshot | %s | %s |\n' "$msgs" "$initial"
printf '| snapshot after 1 %% flags, 0.5 %% expunges, 0.5 %% new | %s | %s |\n' "$msgs" "$incremental"
printf '| full re-snapshot (new repository) | %s | %s |\n' "$msgs" "$full"

# ---- push (issue 8): mirror -> empty account, against mbsync copying server to server ----
if [ "${BENCH_SKIP_PUSH:-0}" != 1 ] && command -v mbsync >/dev/null; then
	psize=${BENCH_PUSH_SIZE:-M}
	echo "== push: ${psize} corpus into an empty account, mailkeep push vs mbsync IMAP -> IMAP"
	for d in src mk mb; do "$shared/dovecot-up" "$tmp/p-$d" >/dev/null; done
	trap 'for d in dc p-src p-mk p-mb; do "$shared/dovecot-down" "$tmp/$d" >/dev/null 2>&1; done; rm -rf "$tmp"' EXIT
	"$shared/seed-mailbox" "$tmp/p-src" --size "$psize" --seed 1 >/dev/null
	# the mirror of the source, then a config with the target account
	"$shared/mailkeep-config" "$tmp/p-src" --root "$tmp/pm" --password-via file --account src >"$tmp/push.yaml"
	"$shared/mailkeep-config" "$tmp/p-mk" --root "$tmp/pm" --password-via file --account dst |
		sed -n '/^  - name:/,$p' >>"$tmp/push.yaml"
	"$bin" -c "$tmp/push.yaml" -q sync src
	push_s=$(secs "$bin" -c "$tmp/push.yaml" -q push src dst)
	# mbsync copying the source server into the third Dovecot
	(
		. "$tmp/p-src/env"
		sp=$IMAPS_PORT sca=$CA_FILE spw=$tmp/p-src/pass-bench
		. "$tmp/p-mb/env"
		mkdir -p "$tmp/mbstate"
		cat >"$tmp/mbsyncrc" <<EOF2
IMAPAccount src
Host 127.0.0.1
Port $sp
User bench
PassCmd "cat $spw"
SSLType IMAPS
CertificateFile $sca

IMAPStore src
Account src

IMAPAccount dst
Host 127.0.0.1
Port $IMAPS_PORT
User bench
PassCmd "cat $tmp/p-mb/pass-bench"
SSLType IMAPS
CertificateFile $CA_FILE

IMAPStore dst
Account dst

Channel copy
Far :src:
Near :dst:
Patterns *
Create Near
Sync Pull
CopyArrivalDate yes
SyncState $tmp/mbstate/
EOF2
	)
	mbsync_s=$(secs mbsync -q -c "$tmp/mbsyncrc" -a)
	printf '| push case (%s) | seconds |\n|---|---:|\n' "$psize"
	printf '| mailkeep push (mirror -> empty account) | %s |\n' "$push_s"
	printf '| mbsync IMAP -> IMAP (server -> empty account) | %s |\n' "$mbsync_s"
	awk -v a="$push_s" -v b="$mbsync_s" 'BEGIN { if (b > 0) printf "ratio: %.2f x mbsync\n", a / b }'
fi
