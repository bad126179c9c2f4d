#!/usr/bin/env bash
# push killed at a chosen call, not at a chosen time: two LD_PRELOAD shims built here count the calls
# of mailkeep's main thread, crash_inject.c those that change the file system (the push state's
# .tmp, write, fsync, rename, fsync of its directory...) and net_inject.c the socket writes and reads
# (an APPEND's command and literal, its tagged OK, a STORE, an EXPUNGE, a SEARCH answer...), and
# SIGKILL push just before or just after the N-th one. For each scenario a run without a kill counts
# the calls; then for each tried N, from the scenario's start (mirror, push state and target as they
# were): a push killed at N, a push that must exit 0 and leave the target equal to the mirror (every
# message once, bytes, flags, INTERNALDATE: push_check.py, migrate_check.py for push_fake.py), no
# message left in doubt ("p" lines), and a third push that must do nothing (0 appended, found,
# flag updates, deleted).
# Scenarios (a source of 7 folders, ~20 messages, one of ~300 KB): initial (a first push into an
# empty Dovecot account), incremental (flags changed, new mail, a new folder), delete (--delete after
# expunges), nouidplus (a first push into push_fake.py without UIDPLUS, LITERAL+, MULTIAPPEND: target
# UIDs learnt by SEARCH), nouidplus_inc (an incremental push into it, killed in turn).
#   MK_INJ_STRIDE=K     try every K-th call (default 9; 1 tries them all: about 90 minutes, most of
#                       them in the push_fake.py scenarios)
#   MK_INJ_FAKE_STRIDE=K  the same for the push_fake.py scenarios (default 12 times MK_INJ_STRIDE)
#   MK_INJ_SCENARIOS="initial incremental ..."   only these scenarios
#   MK_INJ_KINDS="fs net"                        only these kinds of calls
#   MK_INJ_ERRNO=1      no kill: the file-system call fails (EIO, ENOSPC, EACCES, EDQUOT in turn;
#                       t_push_errno_inject.sh); the push must exit 1 or 4 naming the error, or 0
#                       with the target exact and nothing in doubt; then settle as after a kill
. "$(dirname "$0")/lib.sh"
t_begin ${MK_INJ_ERRNO:+push_errno_inject}
preload_shims crash_inject net_inject
STRIDE=${MK_INJ_STRIDE:-9}
FAKE_STRIDE=${MK_INJ_FAKE_STRIDE:-$((STRIDE * 12))}
SCENARIOS=${MK_INJ_SCENARIOS:-initial incremental delete nouidplus nouidplus_inc}
KINDS=${MK_INJ_KINDS:-fs net}
inj_modes
# with errnos: the file-system calls only
[ -n "${MK_INJ_ERRNO:-}" ] && KINDS=${MK_INJ_KINDS:-fs}
want() { case " $SCENARIOS " in *" $1 "*) return 0 ;; esac; return 1; }

dc_up
seed populate --seed 41 --count 3 --big 1 --big-size 250000:350000
SRC="$IMAP_HOST:$IMAP_PORT:alice:$DC/pass-alice"
DST="$IMAP_HOST:$IMAP_PORT:bob:$DC/pass-bob"
cfg=$T/config.yaml
{
	echo "accounts:"
	acct_yaml alice
	acct_yaml bob user=bob password_file="$DC/pass-bob" tls=none
} | cfg_write "$cfg"
A=$T/mail/alice
B=$DC/mail/bob
TARGET=bob
PUSH_ARGS=()
mk -c "$cfg" sync alice
expect_rc 0 "sync of alice"

# save_start NAME / restore NAME: the push states and bob's Maildir (with Dovecot's indexes)
save_start() {
	bob_idle
	rm -rf "${T:?}/start.$1"
	mkdir -p "$T/start.$1"
	[ -d "$A/.mailkeep/push" ] && cp -a "$A/.mailkeep/push" "$T/start.$1/push"
	cp -a "$B" "$T/start.$1/bob"
}
restore() {
	bob_idle
	rm -rf "$A/.mailkeep/push" "$B"
	[ -d "$T/start.$1/push" ] && cp -a "$T/start.$1/push" "$A/.mailkeep/push"
	cp -a "$T/start.$1/bob" "$B"
}

# inj fs|net N before|after [LOGPREFIX]: one push with the shims; sets INJ_RC
inj() {
	local fsn=0 netn=0
	[ "$1" = fs ] && fsn=$2
	[ "$1" = net ] && netn=$2
	local e=""
	[ "$3" = errno ] && e=$(errno_for "$2")
	(timeout -k 5 "$MK_TIMEOUT" env MK_INJ_N="$fsn" MK_NET_N="$netn" MK_INJ_ERRNO="$e" \
		MK_INJ_AFTER="$([ "$3" = after ] && echo 1 || echo 0)" MK_NET_AFTER="$([ "$3" = after ] && echo 1 || echo 0)" \
		MK_INJ_LOG="${4:+$4.fs}" MK_NET_LOG="${4:+$4.net}" LD_PRELOAD="$PRELOAD" \
		"$MAILKEEP" -c "$cfg" -v push alice "$TARGET" "${PUSH_ARGS[@]}" \
		</dev/null >"$T/inj.out" 2>"$T/inj.err"; exit $?) 2>/dev/null
	INJ_RC=$?
}

# bob_exact: the Dovecot target holds the mirror (push_check.py)
bob_exact() { PC_WHAT="$WHAT: the target is not the mirror" pc compare --src "$SRC" --dst "$DST"; }
CHECK_TARGET=bob_exact

# settle: the push after the kill exits 0, the target is exact, nothing in doubt, a third push does nothing
IDLE=bob_idle
settle() {
	$IDLE
	mk -c "$cfg" -v push alice "$TARGET" "${PUSH_ARGS[@]}"
	expect_rc 0 "$WHAT: the push after the kill"
	$CHECK_TARGET
	check '! grep -rqs "^p " "$A/.mailkeep/push/$TARGET"' "$WHAT: messages left in doubt: $(grep -rh '^p ' "$A/.mailkeep/push/$TARGET" | head -n 2 | tr '\n' ' ')"
	mk -c "$cfg" -v push alice "$TARGET" "${PUSH_ARGS[@]}"
	expect_rc 0 "$WHAT: the third push"
	check 'grep -q "push alice -> '"$TARGET"': .* 0 messages appended (0 bytes), 0 already there, 0 flag updates, 0 deleted" "$MK_ERR"' \
		"$WHAT: the third push did something: $(grep -m1 "push alice -> $TARGET: [0-9]* folders" "$MK_ERR")"
}

# pick N COUNT: every STRIDE-th call and the last
pick() { [ "$STRIDE" -eq 1 ] || [ $(($1 % STRIDE)) -eq "$RESIDUE" ] || [ "$1" -eq "$2" ]; }

# after a push whose call failed and that exited 0: the target exact already, nothing in doubt
pushed_exact() {
	$CHECK_TARGET
	check '! grep -rqs "^p " "$A/.mailkeep/push/$TARGET"' "$WHAT: exit 0 with messages left in doubt: $(grep -rh '^p ' "$A/.mailkeep/push/$TARGET" | head -n 2 | tr '\n' ' ')"
}

# sweep START: for each kind, N over the calls of a push from START, killed before and after
# (a read: after it returned, before its answer is acted on)
sweep() {
	local start=$1 kind n when tried=0 call count
	$RESTORE "$start"
	rm -f "$T/calls.fs" "$T/calls.net"
	WHAT="$SCEN: the counting run"
	inj none 0 before "$T/calls"
	[ $INJ_RC -eq 0 ] || fail "$SCEN: the counting run exited $INJ_RC: $(tail -n 1 "$T/inj.err")"
	$CHECK_TARGET
	for kind in $KINDS; do
		cp "$T/calls.$kind" "$T/calls.$SCEN.$kind"
		count=$(wc -l <"$T/calls.$SCEN.$kind")
		t_log "$SCEN: $count $kind calls"
		for ((n = 1; n <= count; n++)); do
			pick "$n" "$count" || continue
			call=$(sed -n "${n}p" "$T/calls.$SCEN.$kind")
			for when in $WHENS; do
				case $call in *" recv "*) [ $when = before ] && continue ;; esac
				WHAT="$SCEN: killed $when $kind call $n ($call)"
				$RESTORE "$start"
				inj "$kind" "$n" "$when"
				if [ $when = errno ]; then
					inj_errno_check "$n" "$INJ_RC" "$T/inj.err" pushed_exact
				else
					[ $INJ_RC -eq 137 ] || [ $INJ_RC -eq 0 ] || fail "$WHAT: exit $INJ_RC: $(tail -n 1 "$T/inj.err")"
				fi
				settle
				tried=$((tried + 1))
			done
		done
	done
	t_log "$SCEN: $tried kill points, all converged"
}
RESTORE=restore

# initial: the first push into an empty account
WHAT=start
save_start empty
SCEN=initial
want initial && sweep empty
restore empty
WHAT="initial: settling"
settle
save_start pushed0
cp -a "$A" "$T/mirror0"

# incremental: flags added and removed, a keyword, new mail (one big), a new folder
dadm flags add -u alice '\Flagged \Seen' mailbox INBOX uid 2
dadm flags remove -u alice '\Seen' mailbox INBOX uid 1
dadm flags add -u alice '$Forwarded Kw1' mailbox Archive uid 2
seed append --folder INBOX --seed 42 --count 2
seed append --folder Archive --seed 43 --count 1 --big 1 --big-size 150000:200000
seed append --folder 'Neu/Sub' --seed 44 --count 2
mk -c "$cfg" sync alice
expect_rc 0 "sync of the changes"
SCEN=incremental
want incremental && sweep pushed0
restore pushed0
WHAT="incremental: settling"
settle
save_start pushed1

# nouidplus: push_fake.py without UIDPLUS, LITERAL+, MULTIAPPEND (synchronizing literals, UIDs
# learnt by SEARCH after each batch); a fresh server for each run from the start: empty (the current
# mirror pushed), or filled by a push of the first mirror (then the current one pushed)
if want nouidplus || want nouidplus_inc; then
	pf=$(fake_pass)
	FAKE_PID=
	fake_start() {
		[ -z "$FAKE_PID" ] || bg_kill "$FAKE_PID"
		push_fake_up fake --lifetime 3000 --caps ""
		FAKE_PID=$PUSH_FAKE_PID
		{
			echo "accounts:"
			acct_yaml alice
			acct_yaml fake port="$PORT_fake" tls=none user=u password_file="$pf"
		} | cfg_write "$T/fake.yaml"
		cfg=$T/fake.yaml
	}
	fake_mirror() { MC_WHAT="$WHAT: the target is not the mirror" mc --state "$T/fake.json"; }
	cfg0=$cfg
	IDLE=:
	mirror_restore() { rm -rf "$A"; cp -a "$T/mirror.$1" "$A"; }
	# a fresh fake from the current mirror (the same as the source)
	fake_empty() {
		fake_start
		rm -rf "$A/.mailkeep/push/fake"
	}
	# a fresh fake filled by a push of the first mirror, then the current mirror with that push's state
	cp -a "$A" "$T/mirror.now"
	rm -rf "$T/mirror.now/.mailkeep/push/fake"
	fake_pushed0() {
		fake_start
		mirror_restore 0
		rm -rf "$A/.mailkeep/push/fake"
		timeout -k 5 "$MK_TIMEOUT" "$MAILKEEP" -c "$cfg" push alice fake </dev/null >"$T/pre.out" 2>&1 ||
			fail "$SCEN: the push of the first mirror failed: $(tail -n 1 "$T/pre.out")"
		rm -rf "$T/push0.fake"
		mv "$A/.mailkeep/push/fake" "$T/push0.fake"
		mirror_restore now
		mv "$T/push0.fake" "$A/.mailkeep/push/fake"
	}
	restore_fake() { "fake_$1"; }
	cp -a "$T/mirror0" "$T/mirror.0"
	TARGET=fake
	CHECK_TARGET=fake_mirror
	RESTORE=restore_fake
	STRIDE0=$STRIDE STRIDE=$FAKE_STRIDE
	SCEN=nouidplus
	want nouidplus && sweep empty
	SCEN=nouidplus_inc
	want nouidplus_inc && sweep pushed0
	mirror_restore now
	[ -z "$FAKE_PID" ] || bg_kill "$FAKE_PID"
	cfg=$cfg0 IDLE=bob_idle TARGET=bob CHECK_TARGET=bob_exact RESTORE=restore STRIDE=$STRIDE0
fi

# delete: messages expunged on the source, push --delete
dadm expunge -u alice mailbox INBOX uid 3
dadm expunge -u alice mailbox Archive uid 1:2
dadm expunge -u alice mailbox 'Neu/Sub' uid 1
mk -c "$cfg" sync alice
expect_rc 0 "sync of the expunges"
PUSH_ARGS=(--delete)
SCEN=delete
want delete && sweep pushed1
PUSH_ARGS=()

t_pass
