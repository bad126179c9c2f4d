# shellcheck shell=bash
# Sourced by tests/interop/cyrus.sh and courier.sh: `mailkeep push` INTO the server under test,
# from the mirror of a throwaway Dovecot (tests/fixture/dovecot.sh, '/' or '.' as delimiter).
#
#   push_into LABEL TARGET_YAML DST_SPEC TDELIM TPREFIX [dovecot.sh up options]
#
# TARGET_YAML: the lines of one account named "target" (the mailbox to fill, empty);
# DST_SPEC: push_check.py's HOST:PORT:USER:PASSFILE of it over plain IMAP; TDELIM: its delimiter;
# TPREFIX: its personal namespace prefix without the delimiter ("INBOX" or ""). The caller defines
# ok/bad (one line each), $T, $MK and $REPO (and PI_CMP_OPTS, see below). Dovecot holds nested folders, non-ASCII names, a
# space, '&', a name with the target's delimiter in it when that is '.' (push_map then renames it;
# without the map the folder must fail naming the delimiter), all five system flags, $Forwarded
# and the keyword ProjectX, explicit INTERNALDATEs. Checks: the first push (push_check compare:
# every message once, same bytes, flags with keywords, INTERNALDATE), a second push appends
# nothing, a dry run then plans nothing, flag changes + expunges + new mail pushed with --delete,
# kill -9 at random instants during a push of 400 messages (--partial after each: no duplicate),
# then a final push (exact, no pending entry left).
# shellcheck source=../fixture/dovecot.sh
. "$REPO/tests/fixture/dovecot.sh"
PC="python3 $REPO/tests/integration/push_check.py"

# pi_pc LABEL push_check args...: ok/bad on push_check.py's verdict
pi_pc() {
	local label=$1
	shift
	if $PC "$@" >"$T/pc.out" 2>&1; then
		ok "$label"
	else
		bad "$label"
		sed 's/^/    /' "$T/pc.out" | head -n 12
	fi
}

# pi_mk LABEL ARGS...: mailkeep -c $PI_CFG ARGS, output in $T/pi.LABEL; sets pi_rc
pi_mk() {
	local label=$1
	shift
	"$MK" -c "$PI_CFG" "$@" >"$T/pi.$label" 2>&1
	pi_rc=$?
}

push_into() {
	local label=$1 tyaml=$2 dst=$3 tdelim=$4 tprefix=$5
	shift 5
	local -a cmpopt=("${PI_CMP_OPTS[@]}")
	local dc=$T/dc-$label
	_DC_STARTED+=("$dc")
	dovecot_up "$dc" "$@" >"$T/dc-$label.log" 2>&1 || { bad "$label: Dovecot fixture: $(tail -n 2 "$T/dc-$label.log")"; return; }
	local src="127.0.0.1:$(. "$dc/env"; echo "$IMAP_PORT"):alice:$dc/pass-alice"
	local sdelim seedf="python3 $REPO/tests/fixture/seed.py"
	sdelim=$(. "$dc/env"; echo "$DELIM")
	local folders="INBOX,Archive,Archive/2024,Archive/2024/Q1,Geschäftlich,日本語,R&D,With Space,Sent Items,Empty,Ünï/Sub Ä"
	$seedf populate "$dc/env" --seed 21 --count 8 --big 1 --folders "$folders" >>"$T/seed.log" 2>&1 ||
		{ bad "$label: seed: $(tail -n 1 "$T/seed.log")"; return; }
	# a name holding the target's delimiter ('.' is the only one a '/' source can hold)
	local dotted=""
	if [ "$sdelim" = / ]; then
		dotted="v1.2 notes"
		$seedf append "$dc/env" --folder "$dotted" --seed 22 --count 2 >>"$T/seed.log" 2>&1
	fi
	# maps for push_check: the target's prefix, and the dotted folder renamed
	local maps=() f pmap=()
	if [ -n "$tprefix" ]; then
		for f in Archive Geschäftlich 日本語 R\&D "With Space" "Sent Items" Empty Ünï; do
			maps+=(--map "$f=$tprefix/$f")
		done
	fi
	if [ -n "$dotted" ] && [ "$tdelim" = . ]; then
		maps+=(--map "$dotted=${tprefix:+$tprefix/}v1,2 notes")
		pmap=("push_map:" "  \"$dotted\": \"v1,2 notes\"")
	elif [ -n "$dotted" ] && [ -n "$tprefix" ]; then
		maps+=(--map "$dotted=$tprefix/$dotted")
	fi
	PI_CFG=$T/pi-$label.yaml
	{
		echo "accounts:"
		echo "  - name: dc"
		echo "    host: 127.0.0.1"
		echo "    port: $(. "$dc/env"; echo "$IMAP_PORT")"
		echo "    tls: none"
		echo "    user: alice"
		echo "    password_file: $dc/pass-alice"
		echo "    root: $T/pi-mirror-$label"
		printf '%s\n' "${PI_EXTRA_SRC[@]}"
		echo "$tyaml"
	} >"$PI_CFG"
	pi_mk sync0 sync dc
	[ $pi_rc = 0 ] && ok "$label: sync of Dovecot" || { bad "$label: sync of Dovecot: exit $pi_rc"; tail -n 3 "$T/pi.sync0"; return; }

	# without push_map, the dotted folder cannot be named on a '.' target: that folder fails
	if [ -n "$dotted" ] && [ "$tdelim" = . ]; then
		pi_mk nomap -v push dc target
		if [ $pi_rc = 1 ] && grep -q "v1.2 notes.*hierarchy delimiter" "$T/pi.nomap"; then
			ok "$label: '$dotted' without push_map: exit 1 naming the delimiter"
		else
			bad "$label: '$dotted' without push_map: exit $pi_rc: $(grep -m1 'v1.2' "$T/pi.nomap")"
		fi
		python3 - "$PI_CFG" "${pmap[@]}" <<'EOF'
import sys
path, lines = sys.argv[1], sys.argv[2:]
text = open(path, encoding="utf-8").read().replace("    root:", "\n".join("    " + l for l in lines) + "\n    root:", 1)
open(path, "w", encoding="utf-8").write(text)
EOF
	fi
	pi_mk push1 -v push dc target
	[ $pi_rc = 0 ] && ok "$label: push 1 exit 0" || { bad "$label: push 1: exit $pi_rc"; sed 's/^/    /' "$T/pi.push1" | tail -n 8; }
	pi_pc "$label: push 1: target equals source" compare --src "$src" --dst "$dst" "${maps[@]}" "${cmpopt[@]}"
	pi_mk push2 -v push dc target
	if [ $pi_rc = 0 ] && grep -q ' 0 messages appended (0 bytes), [0-9]* already there, 0 flag updates' "$T/pi.push2"; then
		ok "$label: push 2 appends and updates nothing"
	else
		bad "$label: push 2: exit $pi_rc: $(grep 'push dc -> target' "$T/pi.push2")"
	fi
	pi_mk dry -v push dc target --dry-run
	if [ $pi_rc = 0 ] && grep -q '0 messages to append (0 bytes), [0-9]* already there, 0 flag updates' "$T/pi.dry"; then
		ok "$label: dry run after the push plans nothing"
	else
		bad "$label: dry run: exit $pi_rc: $(grep 'push dc -> target' "$T/pi.dry")"
	fi

	# changes on the source: flags (system and keywords, added and removed), expunges, new mail
	local dconf
	dconf=$(. "$dc/env"; echo "$DOVECOT_CONF")
	local arch="Archive${sdelim}2024"
	{
		doveadm -c "$dconf" flags add -u alice '\Answered $Forwarded Later' mailbox INBOX uid 1:3 &&
			doveadm -c "$dconf" flags remove -u alice '\Seen ProjectX' mailbox INBOX uid 4:9 &&
			doveadm -c "$dconf" flags replace -u alice '\Draft \Deleted' mailbox "$arch" uid 2 &&
			doveadm -c "$dconf" expunge -u alice mailbox INBOX uid 5 &&
			doveadm -c "$dconf" expunge -u alice mailbox "日本語" uid 1:2
	} >>"$T/doveadm.log" 2>&1 || { bad "$label: doveadm: $(tail -n 1 "$T/doveadm.log")"; return; }
	$seedf append "$dc/env" --folder "With Space" --seed 23 --count 3 --first 40 >>"$T/seed.log" 2>&1
	$seedf append "$dc/env" --folder "New/Nested Ü" --seed 24 --count 2 >>"$T/seed.log" 2>&1
	[ -n "$tprefix" ] && maps+=(--map "New=$tprefix/New")
	pi_mk sync1 sync dc
	[ $pi_rc = 0 ] || bad "$label: sync after the changes: exit $pi_rc"
	pi_mk push3 -v push dc target --delete
	if [ $pi_rc = 0 ] && grep -q ' 5 messages appended .* 3 deleted' "$T/pi.push3"; then
		ok "$label: incremental push --delete: 5 appended, 3 deleted"
	else
		bad "$label: incremental push: exit $pi_rc: $(grep 'push dc -> target' "$T/pi.push3")"
		sed 's/^/    /' "$T/pi.push3" | grep -v '^    mailkeep: folder' | tail -n 5
	fi
	pi_pc "$label: incremental push: target equals source" compare --src "$src" --dst "$dst" "${maps[@]}" "${cmpopt[@]}"

	# kill -9 at random instants while 400 messages go to a new folder, then a final push
	$seedf append "$dc/env" --folder Bulk --seed 25 --count 400 --big 4 >>"$T/seed.log" 2>&1
	[ -n "$tprefix" ] && maps+=(--map "Bulk=$tprefix/Bulk")
	pi_mk sync2 sync dc
	local i pid kills=0 doubt=0
	for i in 1 2 3 4 5 6; do
		"$MK" -c "$PI_CFG" push dc target </dev/null >"$T/pi.kill$i" 2>&1 &
		pid=$!
		sleep "0.$((RANDOM % 4))$((RANDOM % 10))"
		if kill -KILL "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
		wait "$pid" 2>/dev/null
		grep -qs '^p ' "$T/pi-mirror-$label/dc/.mailkeep/push/target/Bulk/.push-state" && doubt=$((doubt + 1))
		$PC compare --src "$src" --dst "$dst" "${maps[@]}" "${cmpopt[@]}" --partial >"$T/pc.out" 2>&1 ||
			{ bad "$label: after kill $i: a duplicate on the target"; sed 's/^/    /' "$T/pc.out" | head -n 6; }
		cp -a "$T/pi-mirror-$label/dc/.mailkeep/push" "$T/pi-state-$label.$i" 2>/dev/null
		if [ $i = 3 ]; then
			doveadm -c "$dconf" flags add -u alice '\Flagged Urgent' mailbox Bulk uid 1:30 >>"$T/doveadm.log" 2>&1
			$seedf append "$dc/env" --folder Bulk --seed 26 --count 20 --first 500 >>"$T/seed.log" 2>&1
			pi_mk sync3 sync dc
		fi
	done
	ok "$label: $kills of 6 pushes killed, $doubt of them with messages of Bulk left in doubt"
	pi_mk push4 -v push dc target
	[ $pi_rc = 0 ] && ok "$label: push after the kills: exit 0" ||
		{ bad "$label: push after the kills: exit $pi_rc"; sed 's/^/    /' "$T/pi.push4" | tail -n 5; }
	pi_pc "$label: push after the kills: target equals source" compare --src "$src" --dst "$dst" "${maps[@]}" "${cmpopt[@]}"
	if grep -rqs '^p ' "$T/pi-mirror-$label/dc/.mailkeep/push/target"; then
		bad "$label: pending entries left after the final push"
	else
		ok "$label: no pending entry left"
	fi
}

push_into_cleanup() {
	local d
	for d in "${_DC_STARTED[@]}"; do dovecot_down "$d" >/dev/null 2>&1; done
}
_DC_STARTED=()
PI_EXTRA_SRC=()
PI_CMP_OPTS=() # more push_check.py compare options (--final-crlf for Courier)
