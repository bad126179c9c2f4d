#!/usr/bin/env bash
# kill -9 at a chosen call, not at a chosen time: an LD_PRELOAD shim (crash_inject.c, built here)
# counts the calls that change the file system (rename, link, unlink, mkdir, open with O_CREAT,
# write to a file, fsync, syncfs, utimensat, chmod ...) and SIGKILLs mailkeep just before, or
# just after, the N-th one. For each scenario a run without the shim counts the calls; then for
# N = 1.. that count (every STRIDE-th in `make check`), from the scenario's starting mirror (copied,
# its states still trusted): a run killed at N, a run that must exit 0 with the mirror exact
# (compare.py: every UID once, flags, bytes, mtimes, modes, nothing left in tmp/ or new/, a trusted
# state naming only files in cur/), and a third run that must change no file.
# Scenarios: initial (the first mirror), incremental (flags, expunges, new mail, a new folder),
# keep (the same with deletions: keep), reader (the same plus a reader's renames, a file moved to
# new/, one deleted, one copied), rerun (the run after a kill in the commit killed in turn at each
# of its calls), uidvalidity (two folders, the old copies whole under .mailkeep/), folders (one
# renamed, one deleted on the server), vanish (a new folder being mirrored, deleted on the server
# before the next run), snapshot (git snapshots: the first, then one more), gmail (a fake Gmail:
# links into the store and between folders); not by default: parallel (max_connections 2, every
# thread's calls counted) and batch (300 new messages: batches renamed into cur/ mid-folder).
#   MK_INJ_STRIDE=K     try every K-th call (default 23; 1 tries them all: about 30 minutes)
#   MK_INJ_DENSE=1      and every call that is not a download's write into tmp/
#   MK_INJ_SCENARIOS="initial incremental ..."   only these scenarios
#   MK_INJ_SERVER=condstore|full   a server without QRESYNC, or without CONDSTORE too
#   MK_INJ_ERRNO=1      no kill: the call fails (EIO, ENOSPC, EACCES, EDQUOT in turn) as a failing
#                       disk's would (t_errno_inject.sh); the run must exit 0, 1, 4 or 5, never crash,
#                       name the error when it fails, and leave an exact mirror when it exits 0;
#                       then the next run must end exact as after a kill
. "$(dirname "$0")/lib.sh"
t_begin ${MK_INJ_ERRNO:+errno_inject}
preload_shims crash_inject
STRIDE=${MK_INJ_STRIDE:-23}
SCENARIOS=${MK_INJ_SCENARIOS:-initial incremental keep reader rerun uidvalidity folders vanish snapshot gmail}
inj_modes
want() { case " $SCENARIOS " in *" $1 "*) return 0 ;; esac; return 1; }

case ${MK_INJ_SERVER:-qresync} in
condstore) dc_up --no-qresync ;;
full) dc_up --no-condstore ;;
*) dc_up ;;
esac
seed populate --seed 21 --count 3 --big 1
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice max_connections=1; } | cfg_write "$cfg"
A=$T/mail/alice
EXACT_ARGS=()
EXACT=exact

# copy_tree SRC DST: cp -a, but a copy gets new change times for its directories: a state whose
# dirmtime was SRC's is given DST's, so a state that was trusted (files as recorded) stays so.
copy_tree() {
	cp -a "$1" "$2" || fail "cannot copy $1"
	python3 - "$1" "$2" <<'PY' || fail "cannot set the times in the states of $2"
import os, sys
src, dst = sys.argv[1:]
for d, dirs, files in os.walk(dst):
    if ".mailkeep-state" not in files:
        continue
    s = os.path.join(src, os.path.relpath(d, dst))
    p = os.path.join(d, ".mailkeep-state")
    try:
        was = [os.stat(os.path.join(s, x)).st_ctime_ns for x in ("cur", "new")]
        now = [os.stat(os.path.join(d, x)).st_ctime_ns for x in ("cur", "new")]
    except OSError:
        continue
    lines = open(p, encoding="utf-8", errors="surrogateescape").read().split("\n")
    if f"dirmtime {was[0]} {was[1]}" not in lines:
        continue
    lines[lines.index(f"dirmtime {was[0]} {was[1]}")] = f"dirmtime {now[0]} {now[1]}"
    st = os.stat(p)
    with open(p, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write("\n".join(lines))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
PY
}

# restore START: the mirror (and snapshot repository) as START holds them (none: an empty root)
restore() {
	rm -rf "$T/mail"
	if [ -d "$1" ]; then
		copy_tree "$1" "$T/mail"
	else
		mkdir -m 0700 "$T/mail"
	fi
}

# inj N [after|before] [ONLY] [LOG]: one sync with the shim; sets INJ_RC
inj() {
	local e=""
	[ "${2:-}" = errno ] && e=$(errno_for "$1")
	(timeout -k 5 "$MK_TIMEOUT" env MK_INJ_N="$1" MK_INJ_ERRNO="$e" MK_INJ_AFTER="$([ "${2:-before}" = after ] && echo 1 || echo 0)" \
		MK_INJ_ONLY="${3:-}" MK_INJ_LOG="${4:-}" LD_PRELOAD="$PRELOAD" "$MAILKEEP" -c "$cfg" ${INJ_VV:+-vv} sync \
		</dev/null >"$T/inj.out" 2>"$T/inj.err"; exit $?) 2>/dev/null
	INJ_RC=$?
}

# count_calls: the calls of one clean run from the restored start ($T/calls.log lists them)
count_calls() {
	rm -f "$T/calls.log"
	INJ_VV=1 inj 0 before "" "$T/calls.log"
	[ $INJ_RC -eq 0 ] || fail "$SCEN: the counting run exited $INJ_RC: $(tail -n 1 "$T/inj.err")"
	CALLS=$(wc -l <"$T/calls.log")
	t_log "$SCEN: $(grep -c 'files as recorded' "$T/inj.err") folders read from their state, $(grep -c ': unchanged' "$T/inj.err") unchanged"
}

# inj_check: after a run killed (137) or run to its end (0); with an errno, one that fails names it
# (1, 4, 5) or ends exact (0); never a crash or a sanitizer report
inj_check() {
	if [ "$when" = errno ]; then
		inj_errno_check "$n" "$INJ_RC" "$T/inj.err" exact_and_scen
		return
	fi
	CHECKS=$((CHECKS + 1))
	! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$T/inj.err" ||
		fail "$WHAT: sanitizer report: $(grep -m1 -E 'Sanitizer|runtime error:' "$T/inj.err")"
	[ $INJ_RC -eq 137 ] || [ $INJ_RC -eq 0 ] || fail "$WHAT: exit $INJ_RC: $(tail -n 1 "$T/inj.err")"
}
exact_and_scen() {
	$EXACT "$A" "${EXACT_ARGS[@]}"
	[ -z "${SCEN_CHECK:-}" ] || "$SCEN_CHECK"
}

# settle WHAT: a run exits 0 with the mirror exact, and the next run moves no file
settle() {
	mk -c "$cfg" sync
	expect_rc 0 "$WHAT: the run after the kill"
	$EXACT "$A" "${EXACT_ARGS[@]}"
	inode_list "$A" >"$T/settle.1"
	mk -c "$cfg" sync
	expect_rc 0 "$WHAT: the third run"
	inode_list "$A" >"$T/settle.2"
	check 'cmp -s "$T/settle.1" "$T/settle.2"' "$WHAT: the third run changed files: $(diff "$T/settle.1" "$T/settle.2" | head -n 3 | tr '\n' ' ')"
	[ -z "${SCEN_CHECK:-}" ] || "$SCEN_CHECK"
}

# sweep START PREPARE: N over the calls of a run from START (PREPARE run after each restore), killed
# before and after each tried call
sweep() {
	local start=$1 prepare=$2 n when tried=0 call
	restore "$start"
	$prepare
	count_calls
	cp "$T/calls.log" "$T/calls.$SCEN.log"
	t_log "$SCEN: $CALLS calls"
	for ((n = 1; n <= CALLS; n++)); do
		call=$(sed -n "${n}p" "$T/calls.$SCEN.log")
		pick "$n" "$CALLS" "$call" || continue
		for when in $WHENS; do
			WHAT="$SCEN: killed $when call $n ($call)"
			restore "$start"
			$prepare
			inj "$n" "$when"
			inj_check
			settle
			tried=$((tried + 1))
		done
	done
	t_log "$SCEN: $tried kill points, all converged"
}
nothing() { :; }

# pick N COUNT CALL: whether to kill at call N of COUNT: every STRIDE-th and the last; with
# MK_INJ_DENSE=1 also every call that is not a download's own (open, write, futimens of a file in tmp/)
pick() {
	[ "$STRIDE" -eq 1 ] || [ $(($1 % STRIDE)) -eq "$RESIDUE" ] || [ "$1" -eq "$2" ] && return 0
	[ "${MK_INJ_DENSE:-0}" = 1 ] || return 1
	! printf '%s\n' "$3" | grep -qE '^[0-9]+ (open|write|futimens) .*/tmp/[^/]*\.part$'
}

# save_start NAME: the settled mirror (two runs, exact) as the start of the next scenarios
save_start() {
	mk -c "$cfg" sync
	expect_rc 0 "settling $1"
	$EXACT "$A" "${EXACT_ARGS[@]}"
	mk -c "$cfg" sync
	expect_rc 0 "settling $1 (again)"
	rm -rf "${T:?}/${1:?}"
	copy_tree "$T/mail" "$T/$1"
}

# initial: the first mirror of the account
SCEN=initial
want initial && sweep "$T/none" nothing
restore "$T/none"
save_start start0

# incremental: flags changed, messages expunged, new mail, a new folder
dadm flags add -u alice '\Flagged \Seen' mailbox INBOX uid 2
dadm flags remove -u alice '\Seen' mailbox INBOX uid 1
dadm flags add -u alice '$Forwarded' mailbox Archive uid 2
dadm expunge -u alice mailbox INBOX uid 3
dadm expunge -u alice mailbox Archive/2024 uid 1
seed append --folder INBOX --seed 22 --count 2
seed append --folder 'R&D' --seed 23 --count 1
seed append --folder 'Neu/Sub' --seed 24 --count 1
SCEN=incremental
want incremental && sweep "$T/start0" nothing

# keep: the same server changes with deletions: keep (expunged messages stay in the mirror)
if want keep; then
	cfg0=$cfg
	cfg=$T/keep.yaml
	{ echo "accounts:"; acct_yaml alice max_connections=1 deletions=keep; } | cfg_write "$cfg"
	EXACT_ARGS=(--allow-extra-uids)
	SCEN=keep
	sweep "$T/start0" nothing
	EXACT_ARGS=()
	cfg=$cfg0
fi

# parallel: the same server changes over two connections, the calls of every thread counted (their
# order, and so which call a number names, differs from run to run)
if want parallel; then
	cfg0=$cfg
	cfg=$T/parallel.yaml
	{ echo "accounts:"; acct_yaml alice max_connections=2; } | cfg_write "$cfg"
	export MK_INJ_ALL_THREADS=1
	SCEN=parallel
	sweep "$T/start0" nothing
	unset MK_INJ_ALL_THREADS
	cfg=$cfg0
fi

# reader: the same server changes, and a mail reader's in the mirror: a file renamed to other
# flags, one moved cur/ -> new/, one deleted, one copied (two files for a UID)
reader_changes() {
	local f
	f=$(file_for "$A" Archive 1)
	[ -n "$f" ] && mv "$f" "${f%:2,*}:2,FS"
	f=$(file_for "$A" Archive/2024 2)
	[ -n "$f" ] && mv "$f" "$A/Archive/2024/new/$(basename "${f%:2,*}")"
	f=$(file_for "$A" 'Geschäftlich' 1)
	[ -n "$f" ] && rm "$f"
	f=$(file_for "$A" INBOX 1)
	[ -n "$f" ] && cp -p "$f" "$A/INBOX/cur/$(basename "${f%:2,*}"):2,RS"
	return 0
}
SCEN=reader
want reader && sweep "$T/start0" reader_changes

# rerun: the run after a kill in the commit is killed in turn, at each of its calls, then a third
# run settles
if want rerun; then
	SCEN=rerun
	restore "$T/start0"
	count_calls
	# the first kill: just after the commit's first syncfs, and just before its last state rename
	k1=$(grep -n ' syncfs ' "$T/calls.log" | head -n 1 | cut -d: -f1)
	k2=$(grep -n ' rename .*/\.mailkeep-state$' "$T/calls.log" | tail -n 1 | cut -d: -f1)
	check '[ -n "$k1" ] && [ -n "$k2" ]' "rerun: no commit in the calls: $(tr '\n' ' ' <"$T/calls.log" | cut -c1-200)"
	rtried=0
	for first in "$k1 after" "$k2 before"; do
		read -r k kw <<<"$first"
		restore "$T/start0"
		inj "$k" "$kw"
		check '[ $INJ_RC -eq 137 ]' "rerun: the first run was not killed at $k ($INJ_RC)"
		rm -rf "$T/killed1"
		copy_tree "$T/mail" "$T/killed1"
		restore_killed() { restore "$T/killed1"; }
		rm -f "$T/calls.log"
		restore_killed
		inj 0 before "" "$T/calls.log"
		check '[ $INJ_RC -eq 0 ]' "rerun: the second run exited $INJ_RC"
		n2=$(wc -l <"$T/calls.log")
		cp "$T/calls.log" "$T/calls.rerun.log"
		for ((n = 1; n <= n2; n++)); do
			pick "$n" "$n2" "$(sed -n "${n}p" "$T/calls.rerun.log")" || continue
			for when in $WHENS; do
				WHAT="rerun: first killed $kw call $k, second $when call $n ($(sed -n "${n}p" "$T/calls.rerun.log"))"
				restore_killed
				inj "$n" "$when"
				inj_check
				settle
				rtried=$((rtried + 1))
			done
		done
	done
	t_log "rerun: $rtried kill points, all converged"
fi

# uidvalidity: INBOX and Archive/2024 (a child of Archive) get a new UIDVALIDITY, INBOX new mail;
# the old copies must end whole under .mailkeep/uidvalidity-<old>*/ (one or split, nothing lost)
restore "$T/start0"
save_start start1
uv_inbox=$(dadm_out mailbox status -u alice uidvalidity INBOX | sed 's/.*uidvalidity=//')
uv_sub=$(dadm_out mailbox status -u alice uidvalidity Archive/2024 | sed 's/.*uidvalidity=//')
dadm mailbox update -u alice --uid-validity 777 INBOX
dadm mailbox update -u alice --uid-validity 778 Archive/2024
# new mail in both and their first message expunged: moved aside, not re-keyed (new mail alone
# is re-keyed; t_uidvalidity_rekey_kill kills a re-key)
seed append --folder INBOX --seed 25 --count 1
seed append --folder Archive/2024 --seed 30 --count 1
dadm expunge -u alice mailbox INBOX 1
dadm expunge -u alice mailbox Archive/2024 1
old_copies() {
	CHECKS=$((CHECKS + 1))
	local pair folder uv want got
	for pair in "INBOX $uv_inbox" "Archive/2024 $uv_sub"; do
		read -r folder uv <<<"$pair"
		want=$(ls "$T/start1/alice/$folder/cur" | sort)
		got=$(cd "$A/.mailkeep" && find uidvalidity-"$uv"* -path "*/$folder/cur/*" -type f -printf '%f\n' | sort)
		[ "$want" = "$got" ] || fail "$WHAT: the old copy of $folder under .mailkeep/uidvalidity-$uv* differs: $(diff <(echo "$want") <(echo "$got") | grep '^[<>]' | head -n 3 | tr '\n' ' ')"
	done
}
SCEN=uidvalidity
SCEN_CHECK=old_copies
want uidvalidity && sweep "$T/start1" nothing
SCEN_CHECK=

# folders: R&D deleted on the server, 日本語 renamed; both local copies stay as they were
restore "$T/start1"
save_start start2
dadm mailbox delete -u alice 'R&D'
dadm mailbox rename -u alice '日本語' 'Umbenannt'
EXACT_ARGS=(--ignore-local 'R&D' '日本語')
kept_copies() {
	CHECKS=$((CHECKS + 1))
	local d
	for d in 'R&D' '日本語'; do
		diff -q <(cd "$T/start2/alice/$d" && find cur new -type f | sort) <(cd "$A/$d" && find cur new -type f | sort) >/dev/null ||
			fail "$WHAT: the local copy of $d changed"
	done
}
SCEN=folders
SCEN_CHECK=kept_copies
want folders && sweep "$T/start2" nothing
SCEN_CHECK=

# snapshot: the same account with git snapshots, after flag changes and new mail
if want snapshot; then
	{ echo "accounts:"; acct_yaml alice max_connections=1 snapshot=true; } | cfg_write "$cfg"
	R=$T/mail/alice.git
	snap_tree() {
		CHECKS=$((CHECKS + 1))
		python3 "$LIB_DIR/k9_torture.py" tree "$R" "$A" >"$T/tree.out" 2>&1 ||
			fail "$WHAT: snapshot HEAD differs from the mirror: $(head -n 2 "$T/tree.out" | tr '\n' ' ')"
		git --git-dir="$R" fsck --no-progress --no-dangling >"$T/fsck.out" 2>&1 ||
			fail "$WHAT: git fsck: $(head -n 2 "$T/fsck.out" | tr '\n' ' ')"
		[ ! -e "$R.init" ] || fail "$WHAT: $R.init left behind"
	}
	SCEN=snapinit # the first run with snapshots: the repository made, the first commit
	SCEN_CHECK=snap_tree
	sweep "$T/start2" nothing
	restore "$T/start2"
	save_start start3
	dadm flags add -u alice '\Answered' mailbox INBOX uid 2
	seed append --folder INBOX --seed 26 --count 1
	SCEN=snapshot
	SCEN_CHECK=snap_tree
	sweep "$T/start3" nothing
	SCEN_CHECK=
fi

# batch: 300 new messages in one folder: batches of 256 made durable and renamed into cur/ during
# the folder's sync, the rest at the end of the run
if want batch; then
	restore "$T/start2"
	save_start start_b
	seed append --folder Big --seed 27 --count 300
	SCEN="batch"
	sweep "$T/start_b" nothing
fi

# vanish: a folder new on the server is being mirrored when the run is killed, and the server
# deletes it before the next run: what is left of it must be a kept copy with its state (a folder
# the server deleted, see t_folder_deleted) or nothing; never a Maildir without a state (which no
# run recognises as mailkeep's, kept empty for ever) nor a .mailkeep-state.tmp
if want vanish; then
	restore "$T/start2"
	save_start start_v
	vanish_server() { seed append --folder Vanish --seed 28 --count 2; }
	vanish_check() {
		CHECKS=$((CHECKS + 1))
		local v=$A/Vanish
		[ -d "$v" ] || return 0
		[ ! -e "$v/.mailkeep-state.tmp" ] || fail "$WHAT: Vanish/.mailkeep-state.tmp left"
		if [ -d "$v/cur" ] || [ -d "$v/new" ] || [ -d "$v/tmp" ]; then
			[ -f "$v/.mailkeep-state" ] || fail "$WHAT: Vanish is a Maildir without a state: $(cd "$v" && find . | tr '\n' ' ')"
		fi
	}
	vanish_server
	restore "$T/start_v"
	count_calls
	cp "$T/calls.log" "$T/calls.vanish.log"
	# the kill points up to the folder's commit: where its directory is made and first written
	last=$(grep -n 'rename .*/Vanish/\.mailkeep-state$' "$T/calls.vanish.log" | tail -n 1 | cut -d: -f1)
	check '[ -n "$last" ]' "vanish: the folder was not committed: $(tail -n 1 "$T/inj.err")"
	dadm mailbox delete -u alice Vanish
	EXACT_ARGS=(--ignore-local Vanish 'R&D' '日本語')
	SCEN_CHECK=vanish_check
	vtried=0
	for ((n = 1; n <= last; n++)); do
		call=$(sed -n "${n}p" "$T/calls.vanish.log")
		case $call in *Vanish*) ;; *) pick "$n" "$last" "$call" || continue ;; esac
		for when in $WHENS; do
			WHAT="vanish: killed $when call $n ($call)"
			restore "$T/start_v"
			vanish_server
			inj "$n" "$when"
			inj_check
			dadm mailbox delete -u alice Vanish
			settle
			vtried=$((vtried + 1))
		done
	done
	t_log "vanish: $vtried kill points, all converged"
	SCEN_CHECK=
	EXACT_ARGS=(--ignore-local 'R&D' '日本語')
fi

# gmail: the first mirror of a fake Gmail (fakeimap.py): each X-GM-MSGID downloaded once, linked
# into the other folders that hold it and into the store .mailkeep/gmail/; then its second stage
# (a new message in two folders, one expunged from one label)
if want gmail; then
	pf=$(fake_pass)
	# fake_up's, with a lifetime for the whole sweep
	FAKE_LOG=$T/fake-gmail.log
	bg_start python3 "$FAKEIMAP_PY" --scenario gmail --port-file "$T/fake.port" --log "$FAKE_LOG" --lifetime 3000
	for ((i = 0; i < 100; i++)); do [ -s "$T/fake.port" ] && break; sleep 0.05; done
	[ -s "$T/fake.port" ] || fail "fakeimap.py did not start"
	FAKE_PORT=$(cat "$T/fake.port")
	{ echo "accounts:"; acct_yaml fake port="$FAKE_PORT" tls=none user=u password_file="$pf" timeout=10 \
		max_connections=1; } | cfg_write "$cfg"
	A=$T/mail/fake
	EXACT_ARGS=()
	exact_fake() {
		CHECKS=$((CHECKS + 1))
		python3 "$COMPARE_PY" "$1" --host 127.0.0.1 --port "$FAKE_PORT" --user u --password-file "$pf" \
			>"$T/compare.out" 2>&1 || fail "$WHAT: mirror not exact: $(head -n 1 "$T/compare.out")"
	}
	EXACT=exact_fake
	SCEN=gmail
	sweep "$T/none" nothing
	restore "$T/none"
	save_start start_gm
	touch "$FAKE_LOG.on"
	SCEN=gmail2
	sweep "$T/start_gm" nothing
fi
t_pass
