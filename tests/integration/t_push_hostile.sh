#!/usr/bin/env bash
# mailkeep push against a hostile or broken target (push_hostile.py: push_fake.py with
# misbehaviours switched on and off while it runs). For every scenario:
#   1. (optionally) an honest push first, and/or a change of the mirror (flags);
#   2. the push against the misbehaving target: no crash, no hang (within a bound derived from
#      `timeout:`), a documented exit code, no password in the output, the mirror unchanged;
#   3. (optionally) a change of the mirror; then the misbehaviour turned off (same server state)
#      and a push that must exit 0 and leave every mirror message on the target exactly once with
#      its flags and INTERNALDATE (migrate_check.py on push_hostile.py's JSON state), and a
#      second push that does nothing.
# By default a core subset runs (CORE below: under 90 s); MK_HOSTILE_FULL=1 runs every scenario.
# A scenario that fails because of a known mailkeep bug or documented limitation is marked XFAIL
# with the reason; it fails the test if it starts passing (XPASS: remove the mark).
. "$(dirname "$0")/lib.sh"
t_begin
MC=$LIB_DIR/migrate_check.py
HOSTILE=$LIB_DIR/push_hostile.py

dc_up
# alice: awkward messages (same Message-ID twice, none, keywords, UTF-8 folder names, a parent
# with a child); bob: 300 small messages in INBOX (more than 256 to look up: UID SEARCH ALL)
seed populate --seed 41 --count 3 --big 0 --folders "INBOX,Archive,Sent"
python3 "$LIB_DIR/migrate_seed.py" "$DC/env" >>"$T/seed.log" 2>&1 ||
	fail "migrate_seed.py failed: $(tail -n 1 "$T/seed.log")"
python3 - "$DC/env" <<'PY' >>"$T/seed.log" 2>&1 || fail "could not seed bob: $(tail -n 1 "$T/seed.log")"
import dcimap
c = dcimap.login(2)
for i in range(300):
    body = (f"From: bulk{i % 7}@example.test\r\nSubject: bulk {i}\r\nMessage-ID: <bulk.{i}@example.test>\r\n"
            f"Date: Tue, 5 Mar 2024 10:00:00 +0000\r\n\r\nline {i}\r\n" + "x" * (i % 50) + "\r\n").encode()
    typ, r = c.append("INBOX", "(\\Seen)" if i % 3 else "()", f'"{1 + i % 28:02d}-Feb-2024 10:{i % 60:02d}:00 +0000"', body)
    assert typ == "OK", r
c.logout()
PY

SRC_ALICE="$IMAP_HOST:$IMAP_PORT:alice:$DC/pass-alice"
SRC_BOB="$IMAP_HOST:$IMAP_PORT:bob:$DC/pass-bob"
PF=$(fake_pass)
t_log "setup: ${SECONDS}s"
N=0          # scenarios
XFAILS=()    # "name: reason"

write_cfg() { # PORT TIMEOUT
	{
		echo "accounts:"
		acct_yaml alice
		acct_yaml bob user=bob password_file="$DC/pass-bob"
		acct_yaml tgt port="$1" tls=none password_file="$PF" timeout="$2"
	} | cfg_write "$T/config.yaml"
}
write_cfg 1 30
mk -c "$T/config.yaml" sync alice
expect_rc 0 "sync of alice"
mk -c "$T/config.yaml" sync bob
expect_rc 0 "sync of bob"

# the mirror, everything but .mailkeep (where the push state and the locks live)
mirror_sum() { tar --sort=name --exclude=./.mailkeep -cf - -C "$T/mail/$1" . | sha256sum | cut -d' ' -f1; }

# mk_bounded SECONDS ARGS...: mk with its own time bound; a hang is a problem, not a failure
mk_bounded() {
	local bound=$1
	shift
	MK_RUNS=$((MK_RUNS + 1))
	MK_OUT=$T/mk.$MK_RUNS.out
	MK_ERR=$T/mk.$MK_RUNS.err
	MK_ARGS_SHOWN="$*"
	timeout -k 5 "$bound" "${MK_TIMER[@]}" "$MAILKEEP" "$@" </dev/null >"$MK_OUT" 2>"$MK_ERR"
	MK_RC=$?
	t_log "mailkeep $* -> exit $MK_RC"
	[ $MK_RC -eq 124 ] || mk_sanity
}

# peak memory (maxrss=): by GNU time, when there is one and the binary is no ASan build
MK_TIMER=()
PH_ASAN=0
grep -qa __asan_init "$MAILKEEP" 2>/dev/null && PH_ASAN=1

# The scenarios run by default (about 4 s each on a loaded 2-core machine, so that the test stays
# under 90 s); MK_HOSTILE_FULL=1 runs all of them (about 4 minutes), MK_HOSTILE_ONLY=REGEX those named.
CORE="appenduid-dup appenduid-uv-multi select-no-uv uv-change-bulk append-bad append-stored-reset-sync
append-stored-reset-multi store-no search-ghost-learn fetch-other-uid-lost-state fetch-no-size-bulk create-no
list-hostile stall-append keepalive-append keepalive-append-big keepalive-create-big caps-literalplus-lie multiappend-partial search-flood-huge-exists
search-empty-endless append-forged-no-multi append-forged-no append-ok-nostore search-no-learn fetch-drop-check append-ok-nostore-reset
multiappend-partial-reset fetch-unsolicited-check append-rewrite-reset fetch-size-swap-lost-state"
PROBLEMS=()
problem() { PROBLEMS+=("$*"); t_log "problem: $*"; }

# scenario NAME [options]: see the head of this file
#   caps="..."       the target's real capabilities          modes="..."  the misbehaviours
#   src=alice|bob    the mirror pushed                        timeout=N    the target's timeout: (3)
#   rc="0 1 4"       exit codes accepted from the hostile push (any documented one: 0 1 4)
#   bound=S          seconds the hostile push may take (default 10 + 8 x timeout)
#   pre=FN mid=FN    shell functions run before the hostile push / before the honest one
#   grep=REGEX       the hostile push's stderr must match (the trouble is reported)
#   nogrep=REGEX     the hostile push's stderr must not match
#   xfail="reason"   a known bug or limitation: the scenario is expected to break an invariant
#   maxrss=MB        the hostile push's peak memory at most MB (GNU time; not measured under ASan)
scenario() {
	local name=$1 caps="UIDPLUS LITERAL+" modes="" src=alice timeout=3 rcs="0 1 4" bound="" pre="" mid=""
	local xfail="" want="" unwanted="" reader="" maxrss="" a k
	shift
	for a in "$@"; do
		k=${a%%=*}
		case $k in
		caps) caps=${a#*=} ;; modes) modes=${a#*=} ;; src) src=${a#*=} ;; timeout) timeout=${a#*=} ;;
		rc) rcs=${a#*=} ;; bound) bound=${a#*=} ;; pre) pre=${a#*=} ;; mid) mid=${a#*=} ;;
		xfail) xfail=${a#*=} ;; grep) want=${a#*=} ;; nogrep) unwanted=${a#*=} ;; reader) reader=${a#*=} ;;
		maxrss) maxrss=${a#*=} ;;
		*) fail "scenario $name: unknown option $a" ;;
		esac
	done
	[ -n "$bound" ] || bound=$((10 + 8 * timeout))
	if [ -n "${MK_HOSTILE_ONLY:-}" ]; then
		[[ $name =~ $MK_HOSTILE_ONLY ]] || return 0
	elif [ "${MK_HOSTILE_FULL:-0}" != 1 ]; then
		case " $CORE " in *" $name "*) ;; *) return 0 ;; esac
	fi
	N=$((N + 1))
	SC_T0=$(date +%s%N)
	PROBLEMS=()
	SC=$name
	[ ! -e "$T/sc-$name" ] || fail "two scenarios named $name"
	local d=$T/sc-$name k=0
	mkdir -p "$d"
	: >"$d/modes"
	rm -f "$d/port"
	bg_start python3 "$HOSTILE" --mode-file "$d/modes" --port-file "$d/port" --state "$d/state.json" \
		--log "$d/server.log" --lifetime 300 --caps "$caps"
	local pid=$BG_PID
	while [ ! -s "$d/port" ] && [ $k -lt 100 ]; do sleep 0.05; k=$((k + 1)); done
	[ -s "$d/port" ] || fail "$name: push_hostile.py did not start"
	write_cfg "$(cat "$d/port")" "$timeout"
	rm -rf "$T/mail/$src/.mailkeep/push/tgt" "$T/mail/tgt"
	local srcspec=$SRC_ALICE
	[ "$src" = bob ] && srcspec=$SRC_BOB
	[ -z "$pre" ] || $pre "$src"

	# the hostile push
	echo "$modes" >"$d/modes"
	local before after t0 secs
	before=$(mirror_sum "$src")
	t0=$(date +%s%N)
	[ -z "$maxrss" ] || [ ! -x /usr/bin/time ] || [ "$PH_ASAN" = 1 ] || MK_TIMER=(/usr/bin/time -f %M -o "$d/rss")
	mk_bounded "$bound" -c "$T/config.yaml" -v push "$src" tgt
	MK_TIMER=()
	secs=$((($(date +%s%N) - t0) / 1000000))
	if [ -s "$d/rss" ]; then
		k=$(tail -n 1 "$d/rss")
		t_log "$name: peak memory $((k / 1024)) MB"
		[ "$k" -le $((maxrss * 1024)) ] || problem "hostile push: peak memory $((k / 1024)) MB (bound $maxrss MB)"
	fi
	t_log "$name: hostile push exit $MK_RC in $secs ms: $(mk_err_line)"
	cp "$MK_ERR" "$d/hostile.err"
	if [ $MK_RC -eq 124 ]; then
		problem "the push against the hostile target did not end within ${bound}s (timeout: $timeout)"
	else
		case " $rcs " in *" $MK_RC "*) ;; *) problem "hostile push: exit $MK_RC, expected one of $rcs ($(mk_err_line))" ;; esac
		[ -z "$want" ] || grep -qE -- "$want" "$MK_ERR" || problem "hostile push: no message matching /$want/ ($(mk_err_line))"
		[ -z "$unwanted" ] || ! grep -qE -- "$unwanted" "$MK_ERR" || problem "hostile push: a message matching /$unwanted/ ($(grep -m1 -E -- "$unwanted" "$MK_ERR"))"
	fi
	# the summary counts what the target holds: no bytes without messages (a message taken back
	# by the check, or found stored after a refusal, moves its bytes with it)
	local odd
	odd=$(grep -E '(appended 0|[^0-9]0 messages appended) \([1-9][0-9]* bytes\)|(appended [1-9][0-9]*|[1-9][0-9]* messages appended) \(0 bytes\)' "$MK_ERR" | head -n 1)
	[ -z "$odd" ] || problem "hostile push: the summary counts bytes without messages or messages without bytes: $odd"
	after=$(mirror_sum "$src")
	[ "$before" = "$after" ] || [ -n "$reader" ] || problem "the mirror changed during the hostile push"

	# the honest push, same server state
	: >"$d/modes"
	[ -z "$mid" ] || $mid "$src"
	mk_bounded 60 -c "$T/config.yaml" -v push "$src" tgt
	cp "$MK_ERR" "$d/honest.err"
	if [ $MK_RC -ne 0 ]; then
		problem "honest push after it: exit $MK_RC ($(mk_err_line))"
	fi
	# the target is compared with the source by flush_checks (one python for many scenarios)
	printf '%s\t%s\t%s\n' "$name" "$srcspec" "$d/state.json" >>"$T/pending-checks"
	mk_bounded 60 -c "$T/config.yaml" -v push "$src" tgt
	if [ $MK_RC -ne 0 ] || ! grep -q "0 messages appended (0 bytes), 0 already there, 0 flag updates" "$MK_ERR"; then
		problem "a second honest push did something: exit $MK_RC, $(grep -m1 'push .* folders' "$MK_ERR")"
	fi
	[ "$before" = "$(mirror_sum "$src")" ] || [ -n "$mid$reader" ] || problem "the mirror changed"
	bg_kill "$pid"

	t_log "$name: $((($(date +%s%N) - SC_T0) / 1000000)) ms"
	printf '%s\n' "${PROBLEMS[@]}" >"$d/problems"
	printf '%s\n' "$xfail" >"$d/xfail"
}

# flush_checks: migrate_check.py for every scenario not checked yet (before the source changes,
# and at the end), then the verdicts: a problem fails the test unless the scenario is marked
# xfail; an xfail scenario without a problem (XPASS) fails it too
flush_checks() {
	[ -s "$T/pending-checks" ] || return 0
	python3 - "$MC" "$T/pending-checks" <<'PY' || fail "the batch check failed"
import contextlib, io, os, runpy, sys
mc, cases = sys.argv[1], sys.argv[2]
for line in open(cases, encoding="utf-8"):
    name, src, state = line.rstrip("\n").split("\t")
    out, code = io.StringIO(), 0
    sys.argv = [mc, "--src", src, "--state", state]
    with contextlib.redirect_stdout(out):
        try:
            runpy.run_path(mc, run_name="__main__")
        except SystemExit as e:
            code = e.code or 0
    if code:
        first = (out.getvalue().splitlines() or ["migrate_check failed"])[0]
        with open(os.path.join(os.path.dirname(state), "problems"), "a", encoding="utf-8") as f:
            f.write(f"target after the honest push: {first}\n")
PY
	local name xfail p
	while IFS=$'\t' read -r name _ _; do
		CHECKS=$((CHECKS + 1))
		p=$(grep -v '^$' "$T/sc-$name/problems" | head -n 2 | paste -sd ';')
		xfail=$(cat "$T/sc-$name/xfail")
		if [ -z "$p" ] && [ -n "$xfail" ]; then
			fail "XPASS $name: expected to fail ($xfail) but every invariant holds: remove the xfail mark"
		elif [ -n "$p" ] && [ -z "$xfail" ]; then
			fail "$name: $p"
		elif [ -n "$p" ]; then
			XFAILS+=("$name: $xfail")
			t_log "XFAIL $name ($xfail): $p"
		else
			t_log "ok $name"
		fi
	done <"$T/pending-checks"
	: >"$T/pending-checks"
}

# ---- hooks
honest_push() { # a complete push first, so that the hostile run has a state to work from
	: >"$T/sc-$SC/modes"
	mk -c "$T/config.yaml" push "$1" tgt
	expect_rc 0 "$SC: honest push before the hostile one"
}
forget_state() { # an honest push, then its state lost: every message is looked up on the target
	honest_push "$1"
	rm -rf "$T/mail/$1/.mailkeep/push/tgt"
}
FLIP=0
flag_change() { # the mirror's flags change (on the source server, then sync); each time the other way
	local u=$1 a='\Flagged' r='\Seen'
	flush_checks # the scenarios so far compare with the source as it is
	FLIP=$((1 - FLIP))
	[ $FLIP = 1 ] || { a='\Seen'; r='\Flagged'; }
	dadm flags add -u "$u" "$a" mailbox INBOX all
	dadm flags remove -u "$u" "$r" mailbox INBOX all
	mk -c "$T/config.yaml" sync "$u"
	expect_rc 0 "$SC: sync after the flag change"
}
NEWMAIL=0
push_then_new_mail() { # a complete push, then a new message in the mirror's INBOX (for the next push to append)
	honest_push "$1"
	flush_checks # the scenarios so far compare with the source as it is
	NEWMAIL=$((NEWMAIL + 1))
	python3 - "$IMAP_HOST" "$IMAP_PORT" "$1" "$DC/pass-$1" "$NEWMAIL" <<'PY' || fail "$SC: could not add mail"
import imaplib, sys
host, port, user, pf, n = sys.argv[1:]
c = imaplib.IMAP4(host, int(port))
c.login(user, open(pf).read().strip())
body = f"From: new@example.test\r\nSubject: new {n}\r\nMessage-ID: <new.{n}@example.test>\r\n\r\nnew mail {n}\r\n"
typ, r = c.append("INBOX", "()", '"01-Mar-2024 10:00:00 +0000"', body.encode())
assert typ == "OK", r
c.logout()
PY
	mk -c "$T/config.yaml" sync "$1"
	expect_rc 0 "$SC: sync after the new mail"
}
push_then_flags() { honest_push "$1"; flag_change "$1"; }

# ---- APPENDUID lies (UIDPLUS): learnt by a search instead
scenario appenduid-uv modes=appenduid-uv rc=0
scenario appenduid-zero modes=appenduid-zero rc=0
scenario appenduid-garbage modes=appenduid-garbage rc=0
scenario appenduid-huge modes=appenduid-huge rc=0
scenario appenduid-uv-multi caps="UIDPLUS LITERAL+ MULTIAPPEND" modes=appenduid-uv rc=0
scenario appenduid-dup modes=appenduid-dup rc="0 1" mid=flag_change
scenario appenduid-dup-multi caps="UIDPLUS LITERAL+ MULTIAPPEND" modes=appenduid-dup rc="0 1" mid=flag_change

# ---- SELECT
scenario select-no-uv modes=select-no-uv rc=4 grep="no UIDVALIDITY"
scenario select-no-exists modes=select-no-exists rc=4 grep="no EXISTS"
scenario select-bye modes=select-bye rc=4
scenario uv-change modes=uv-change rc=0 pre=honest_push
scenario uv-change-bulk src=bob modes=uv-change rc=0 pre=honest_push

# ---- APPEND refused, connection lost around it
scenario append-no modes=append-no rc=1 grep="refused by the target"
scenario append-bad modes=append-bad rc=1 grep="refused by the target"
scenario append-bye modes=append-bye rc="1 4"
scenario append-reset-mid modes=append-reset-mid rc="1 4"
scenario append-reset-mid-sync caps="" modes=append-reset-mid rc="1 4"
scenario append-stored-reset modes="append-stored-reset:3" rc=1
scenario append-stored-reset-sync caps="" modes="append-stored-reset:3" rc=1
scenario append-stored-reset-multi caps="UIDPLUS LITERAL+ MULTIAPPEND" modes="append-stored-reset:2" rc=1
scenario append-reset-after-ok modes="append-reset-after-ok:3" rc=1

# ---- STORE refused
scenario store-no modes=store-no rc=1 pre=push_then_flags grep="flags not updated"

# ---- lookups (no UIDPLUS: after each batch; lost state: every message) with broken answers
for m in search-ghost search-huge search-none fetch-other-uid fetch-no-header fetch-no-size fetch-size-lie fetch-size-swap; do
	scenario "$m-learn" caps="LITERAL+" modes=$m rc="1 4"
	scenario "$m-lost-state" modes=$m rc="1 4" pre=forget_state
done
# more than 256 to look up: one UID SEARCH ALL, every message of the folder a candidate
for m in search-ghost fetch-other-uid fetch-no-header fetch-no-size; do
	scenario "$m-bulk" src=bob modes=$m rc="1 4" pre=forget_state
done
# (docs/push.md, "Resumable": after a UID SEARCH ALL no size was searched for, so a size damaged in
# the FETCH answer cannot be told from another message)
scenario fetch-size-lie-bulk src=bob modes=fetch-size-lie rc="1 4" pre=forget_state \
	xfail="documented limitation: RFC822.SIZE lies after a UID SEARCH ALL make every message look absent (duplicates)"
scenario fetch-no-flags-lost-state modes=fetch-no-flags rc="0 1" pre=forget_state
# a refused SEARCH or FETCH with others in flight: the folder fails, the connection stays in step
# (the answers to the others are still read: no "unknown tag" for the next folder's commands)
scenario search-no-learn caps="LITERAL+" modes="search-no:1" rc=1 grep="server said NO" nogrep="unknown tag"
scenario search-no-lost-state modes="search-no:1" rc=1 pre=forget_state grep="server said NO" nogrep="unknown tag"
scenario fetch-no-check modes="fetch-no:1" rc=1 grep="server said NO" nogrep="unknown tag"
# the check's FETCH answer for a message that is there lost on the way (net_mutate seed 21,
# iteration 657): in doubt, looked up by the next push and found, not appended twice
scenario fetch-drop-check modes="fetch-drop-first:1" rc=1 grep="does not have it"
# the same in the middle of a folder (bob's INBOX: 300 messages, a check every 256): the rest of
# the folder is still pushed, the folder fails at the end
scenario fetch-drop-check-mid src=bob modes="fetch-drop-first:1" rc=1 grep="does not have it"
# (review 2) an unsolicited FETCH (another client changed the flags of a message already in the
# folder) during the check's UID FETCH is no answer about the messages asked for: the push succeeds
scenario fetch-unsolicited-check modes="fetch-unsolicited" rc=0 pre=push_then_new_mail nogrep="not asked for"

# ---- folders
scenario create-no modes=create-no rc=1 grep="CREATE: server said NO"
scenario list-hostile modes=list-hostile rc="0 1"

# ---- stalls: bounded by the timeout
scenario stall-select modes=stall-select timeout=1 rc="1 4" bound=15
scenario stall-append modes=stall-append timeout=1 rc="1 4" bound=15
scenario drip-select modes="drip-select:2" timeout=1 rc="0 1 4" bound=20
# what a command's untagged answers add up to is bounded, not only how long they may go on
scenario select-permflags-flood modes="select-permflags-flood:1" rc="0 1 4" bound=60 maxrss=100
scenario keepalive-append modes="keepalive-append:1" timeout=1 rc="1" bound=20
# lines of more than the 1024 bytes that keep a read going: bounded like every other command's wait
scenario keepalive-append-big modes="keepalive-append-big:1" timeout=1 rc="1 4" bound=20
scenario keepalive-create-big modes="keepalive-create-big:1" timeout=1 rc="1 4" bound=20

# ---- capability lies
scenario caps-literalplus-lie caps="UIDPLUS" modes=caps-literalplus-lie rc="1 4"
scenario caps-uidplus-lie caps="LITERAL+" modes=caps-uidplus-lie rc=0
scenario caps-multiappend-lie caps="UIDPLUS LITERAL+" modes=caps-multiappend-lie rc=0

# a tagged NO followed by the real OK for the same tag: the refusal is trusted only once the
# server answered a later command (NOOP), so the messages stay in doubt and are found next time
scenario append-forged-no-multi caps="UIDPLUS LITERAL+ MULTIAPPEND" modes="append-forged-no:1" rc="1 4"
scenario append-forged-no caps="UIDPLUS LITERAL+" modes="append-forged-no:1" rc="1 4"
scenario append-forged-no-sync caps="UIDPLUS" modes="append-forged-no:1" rc="0 1 4"
# stored, then NO (and EXISTS told it): the refused messages are looked up, found, not sent again
scenario append-stored-no caps="UIDPLUS LITERAL+" modes="append-stored-no:2" rc="0 1" grep="stored it all the same"
scenario append-stored-no-sync caps="UIDPLUS" modes="append-stored-no:1" rc="0 1" grep="stored it all the same"
scenario append-stored-no-later modes="append-stored-no:1" rc="0 1" grep="stored it all the same" pre=push_then_new_mail
# OK [APPENDUID] without storing: the UIDs given are fetched back after the folder's appends, and
# a message not there is appended again by the next push (never taken as done)
scenario append-ok-nostore modes="append-ok-nostore:2" rc="1" grep="does not have it"
scenario append-ok-nostore-multi caps="UIDPLUS LITERAL+ MULTIAPPEND" modes="append-ok-nostore:1" rc="1" grep="does not have it"
# (review 2, finding 4) a target that rewrites what it stores (a header added: size and header
# digest differ), the push cut short before its check: the message answered OK [APPENDUID] cannot be
# found by a search; the next push asks for it under that UID (saved on an "a" line), no duplicate
scenario append-rewrite-reset modes="append-rewrite append-reset-after-ok:1" rc="1 4"
scenario append-rewrite-reset-multi caps="UIDPLUS LITERAL+ MULTIAPPEND" modes="append-rewrite append-reset-after-ok:1" rc="1 4"
scenario append-rewrite-reset-later src=bob modes="append-rewrite append-reset-after-ok:1" rc="1 4" pre=push_then_new_mail
# the same for the one new message of a second push: the summary counts neither it nor its bytes
scenario append-ok-nostore-later modes="append-ok-nostore:1" rc="1" grep="does not have it" pre=push_then_new_mail
# (review of the "a" lines) two identical messages (alice's INBOX: two without Message-ID), the push
# cut short after the first one's OK [APPENDUID], the second not sent: the next push finds the first
# under its UID, and the search for the second must not take that same target message (lost)
scenario append-reset-twin modes="append-reset-after-ok-noid:1" rc="1 4"
scenario append-ok-unknown-tag modes="append-ok-unknown-tag:1" rc="1 4"
scenario append-ok-unknown-tag-multi caps="UIDPLUS LITERAL+ MULTIAPPEND" modes="append-ok-unknown-tag:1" rc="1 4"
scenario append-ok-unknown-tag-noplus caps="" modes="append-ok-unknown-tag:2" rc="1 4"
# (review of the "a" lines) the same cut-short push to a rewriting target, then the next push's
# UID FETCH for the UIDs saved answered with other UIDs (damaged on the way): that proves nothing
# either way (as for the check), the folder fails with the messages still in doubt, no duplicate
rewrite_cut_short() {
	echo "append-rewrite append-reset-after-ok:1" >"$T/sc-$SC/modes"
	mk -c "$T/config.yaml" push "$1" tgt
	t_log "$SC: the cut-short push before: exit $MK_RC"
	grep -rqs '^a ' "$T/mail/$1/.mailkeep/push/tgt" || problem "no \"a\" line saved by the cut-short push"
}
scenario append-rewrite-hint-other-uid modes="append-rewrite fetch-flags-other-uid:1" rc="1 4" pre=rewrite_cut_short
# (review of the "a" lines) the check's FETCH answer lost on the way, on a target that rewrites what
# it stores: the message back in doubt keeps the UID it was given, the next push asks for it again
# (found) instead of searching (not found: appended twice)
scenario append-rewrite-drop-check modes="append-rewrite fetch-drop-first:1" rc=1 grep="does not have it"
# (review of the "a" lines) the mirror's flags changed before the next push: the message found under
# its saved UID gets the mirror's flags
scenario append-rewrite-reset-flags src=bob modes="append-rewrite append-reset-after-ok:1" rc="1 4" mid=flag_change
# (review 3) the same cut-short push to a rewriting target, then the answer to the next push's
# UID FETCH for the UIDs saved lost on the way (one answer, as for the check): not a proof that the
# message is not there; searched (not found, rewritten) it would be appended twice
scenario append-rewrite-hint-drop modes="append-rewrite fetch-drop-first:1" rc="0 1 4" pre=rewrite_cut_short
# the same with that answer without its FLAGS: the UID is there all the same (found, the mirror's
# flags then set), not searched (not found, rewritten: appended twice)
scenario append-rewrite-hint-noflags modes="append-rewrite fetch-flags-noflags:1" rc="0 1 4" pre=rewrite_cut_short
# (review 3) a rewriting target, the connection lost after the message was stored but before the
# APPEND's answer: no APPENDUID, so no "a" line; the next push searches (not found): appended twice
scenario append-rewrite-stored-reset modes="append-rewrite append-stored-reset:1" rc="1 4" \
	xfail="documented limit: a message stored without its answer read has no UID to ask for"
# a refused APPEND the target stored all the same, and the message's file moved by a mail reader
# (cur/ to new/) before the lookup that follows the refusal can read it again: that message stays
# in doubt (an entry without target UID would have it appended twice by the next push); the mirror
# synced back before the honest push, which finds it on the target
reader_moves_archive() { # the hook the server runs: the messages of Archive (pushed first) moved to new/
	cat >"$T/sc-$SC/hook" <<EOF2
#!/bin/sh
for f in "$T/mail/$1/Archive/cur/"*; do mv "\$f" "$T/mail/$1/Archive/new/\$(basename "\${f%%:2,*}")"; done
EOF2
	chmod +x "$T/sc-$SC/hook"
}
resync_mirror() { # the mirror made exact again (a reader's change undone by a sync)
	mk -c "$T/config.yaml" sync "$1"
	expect_rc 0 "$SC: sync before the honest push"
}
scenario append-stored-no-unreadable caps="UIDPLUS LITERAL+" modes="append-stored-no:1 append-hook:1" rc=1 \
	reader=1 pre=reader_moves_archive mid=resync_mirror grep="stored it all the same|left in doubt"
# without UIDPLUS: the search after the batch does not find them and the folder did not grow
scenario append-ok-nostore-learn caps="" modes="append-ok-nostore:2" rc="1" grep="did not grow"
# (review) the lie, then the check cannot run: a refused UID FETCH, or the connection lost before
# the folder's appends are done; the entry saved with the lied UID is trusted by every later push
scenario append-ok-nostore-fetch-no modes="append-ok-nostore:1 fetch-no:1" rc="1"
scenario append-ok-nostore-reset modes="append-ok-nostore:1 append-reset-after-ok:1" rc="1 4"
# (review) without UIDPLUS, a message stored that the search after the batch misses (an index behind)
# is recorded without target UID; so too when the server tells no EXISTS after an APPEND (a SHOULD)
scenario search-blind-learn caps="LITERAL+" modes="search-blind:1" rc="0 1"
scenario search-blind-no-exists-learn caps="LITERAL+" modes="search-blind:1 append-no-exists" rc="0 1"
# a MULTIAPPEND that stored its first message and then answered NO (not all-or-nothing as
# RFC 3502 requires): the batch is looked up before the one-by-one retry, nothing twice
scenario multiappend-partial caps="UIDPLUS LITERAL+ MULTIAPPEND" modes="multiappend-partial:1" rc="0 1" grep="stored 1 of"
# (review) ... and the one-by-one retry cut short after the server stored a message: that message
# must still be in doubt in the state saved (looked up by the next push, not appended twice)
scenario multiappend-partial-reset caps="UIDPLUS LITERAL+ MULTIAPPEND" modes="multiappend-partial:1 append-stored-reset:1" rc="1 4"

# the EXISTS a SEARCH answer is bounded by is at most 2^22 whatever the server claims
# (docs/design.md): about 4 million UIDs, 16 MB, then the folder fails
scenario search-flood-huge-exists caps="" modes="exists-huge:1 search-flood-endless:1" timeout=1 rc="1 4" bound=10
# SEARCH answers that name no UID, without end, are no progress: the command fails after
# 5 x timeout (each counted as its answer, they held the push for ever)
scenario search-empty-endless caps="" modes="search-empty-endless:1" timeout=1 rc="1 4" bound=20

flush_checks
t_log "$N scenarios, ${#XFAILS[@]} expected failures"
for x in "${XFAILS[@]}"; do t_log "XFAIL $x"; done
t_pass
