#!/usr/bin/env bash
# mailkeep against every misbehaviour of hostile_matrix.py (about 240 scenarios: lying literals,
# stalls, drips, resets, garbage, absurd numbers, hostile folder names, STARTTLS injection and
# capability tricks, terminal escapes in server text, bad certificates and old TLS versions...).
# Each scenario syncs one account "hm" in a box of its own ($T/b/NAME/{cwd,root}):
#   1. [when the scenario has a `pre`] a first sync against a well-behaved server: exit 0;
#   2. the sync against the scenario's server (timeout: 2 in the YAML, run from the box's cwd/):
#      - it exits by itself within the scenario's bound, with an exit code the scenario allows
#        (docs/mailkeep.1, EXIT STATUS), never by a signal, without a sanitizer report;
#      - when it does not exit 0, the error output names the folder concerned; the output holds
#        no raw control byte (a server's folder name or text must not reach the terminal);
#      - nothing is created outside <root>/hm (the box is listed before and after; the absolute
#        names the scenarios use are checked), no file is left in a tmp/;
#      - the good folders (INBOX A Z Empty) are an exact mirror of the baseline; for scenarios
#        whose messages are the baseline's, every file of Bad is the baseline's, and exit 0 means
#        that the whole mirror is exact; after a first sync, no local message was lost;
#   3. a sync against the `evolved` server (the same mailbox later: expunges, flag changes, new
#      mail) exits 0 and gives an exact mirror with no stray file; a second one changes nothing
#      (its --json report counts nothing new, renamed or removed);
#   4. every --json report is valid JSON (UTF-8).
# "Exact" compares the files (names, SHA-256 of the content, mtime, modes) with the list
# hostile_matrix.py --manifest makes; the suite's oracle compare.py checks the well-behaved runs,
# so that both agree.
# Scenarios known to fail are marked xfail in hostile_matrix.py with the reason: reported as XFAIL,
# they do not fail the test; one that passes fails it (remove its mark).
#   HM_ONLY="pat1 pat2"  only the scenarios whose name contains one of the patterns
#   HM_JOBS=N            scenarios run in parallel (default 3: most of a scenario is waiting)
#   MK_KEEP=1            keep $T: each box with its logs (server, mailkeep) in $T/b/NAME.d
. "$(dirname "$0")/lib.sh"
t_begin
# the interpreter itself, not a version manager's wrapper script (pyenv's costs 0.5 s a start)
PY=$(python3 -c 'import sys; print(sys.executable)') && [ -x "$PY" ] || PY=python3
HM_TIMEOUT=2
# an ASan build: no peak-memory bounds (maxrss= scenarios)
HM_ASAN=0
grep -qa __asan_init "$MAILKEEP" 2>/dev/null && HM_ASAN=1
JOBS=${HM_JOBS:-3}
pf=$(fake_pass)
# the password, and the AUTHENTICATE PLAIN initial response that carries it, must never reach the
# output (a server may echo what it was sent); fake_pass runs in a subshell: its _SECRETS entry is lost
PW=$(<"$pf")
PW_B64=$(printf '\0u\0%s' "$PW" | base64 -w0)
GOOD_FOLDERS=(INBOX A Z Empty)
ALL_FOLDERS=(INBOX A Bad Z Empty)
ABS_NAMES=(/mkhm_abs /tmp/mkhm_abs2 /mkhm_abs3 /mkhm_esc /mkhm_esc2 /tmp/mkhm_esc /tmp/mkhm_esc2 /etc/mkhm_esc)
for p in "${ABS_NAMES[@]}"; do
	[ ! -e "$p" ] || fail "$p exists before the test: remove it"
done

# ---- certificates for the TLS scenarios: server (127.0.0.1, signed by ca), wrong (another host
# name), self (self-signed), expired (signed by ca, expired in 2021), notyet (valid from 2099),
# untrusted (signed by another CA), chain / nochain (signed by an intermediate of ca, sent with and
# without it), dnsonly (only DNS:localhost), cnonly (CN=127.0.0.1, no subjectAltName), clienteku
# (extendedKeyUsage clientAuth)
CERTS=$T/certs
make_certs() {
	local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes) n san cn
	mkdir -p "$CERTS/ca/newcerts" && cd "$CERTS" || return 1
	openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 30 -subj "/CN=hostile matrix CA" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" || return 1
	openssl req -x509 "${ec[@]}" -keyout other-ca.key -out other-ca.pem -days 30 -subj "/CN=another CA" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" || return 1
	openssl req -new "${ec[@]}" -keyout inter.key -out inter.csr -subj "/CN=hostile matrix intermediate" || return 1
	printf '%s\n' "basicConstraints=critical,CA:TRUE,pathlen:0" "keyUsage=critical,keyCertSign,cRLSign" >inter.ext
	openssl x509 -req -in inter.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile inter.ext \
		-out inter.pem || return 1
	for n in server wrong expired notyet untrusted nochain dnsonly cnonly clienteku; do
		san="IP:127.0.0.1,DNS:localhost"
		[ $n = wrong ] && san="DNS:other.example"
		[ $n = dnsonly ] && san="DNS:localhost"
		printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
			"extendedKeyUsage=$([ $n = clienteku ] && echo clientAuth || echo serverAuth)" >$n.ext
		[ $n = cnonly ] || echo "subjectAltName=$san" >>$n.ext
		cn=${san#*:}
		openssl req -new "${ec[@]}" -keyout $n.key -out $n.csr -subj "/CN=${cn%%,*}" || return 1
	done
	for n in server wrong untrusted nochain dnsonly cnonly clienteku; do
		local ca=ca
		[ $n = untrusted ] && ca=other-ca
		[ $n = nochain ] && ca=inter
		openssl x509 -req -in $n.csr -CA $ca.pem -CAkey $ca.key -CAcreateserial -days 30 -extfile $n.ext \
			-out $n.pem || return 1
	done
	cat nochain.pem inter.pem >chain.pem && cp nochain.key chain.key || return 1
	openssl req -x509 "${ec[@]}" -keyout self.key -out self.pem -days 30 -subj "/CN=127.0.0.1" \
		-addext "subjectAltName=IP:127.0.0.1" || return 1
	: >ca/index.txt
	echo 1000 >ca/serial
	cat >ca.cnf <<EOF
[ca]
default_ca = d
[d]
dir = $CERTS/ca
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
default_md = sha256
policy = p
unique_subject = no
[p]
commonName = supplied
[x]
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
EOF
	openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem -notext \
		-startdate 20200101000000Z -enddate 20210101000000Z -extensions x || return 1
	openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in notyet.csr -out notyet.pem -notext \
		-startdate 20990101000000Z -enddate 20991231000000Z -extensions x || return 1
}
(make_certs) >"$T/certs.log" 2>&1 || fail "openssl failed: $(tail -n 2 "$T/certs.log" | tr '\n' ' ')"

# nap SECONDS: sleep without a process (a read that times out on a FIFO nobody writes)
mkfifo "$T/nap.fifo" || fail "mkfifo failed"
exec 9<>"$T/nap.fifo"
nap() { read -r -t "$1" -u 9 _ || :; }

# hm_up SCENARIO LOG LIFETIME: start hostile_matrix.py; sets HM_PORT and HM_PID
hm_up() {
	local pfile=$T/port.$BASHPID.$RANDOM n=0
	"$PY" "$HM_PY" --scenario "$1" --port-file "$pfile" --log "$2" --lifetime "$3" --cert-dir "$CERTS" \
		</dev/null >>"$2.out" 2>&1 &
	HM_PID=$!
	while [ ! -s "$pfile" ] && [ $n -lt 300 ]; do nap 0.05; n=$((n + 1)); done
	[ -s "$pfile" ] || return 1
	read -r HM_PORT <"$pfile"
}

hm_down() {
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

for m in baseline evolved; do
	"$PY" "$HM_PY" --manifest $m >"$T/manifest.$m" || fail "hostile_matrix.py --manifest $m failed"
done

# The two well-behaved servers every scenario is compared with; they also stop by themselves.
hm_up baseline "$T/baseline.log" 1800 || fail "the baseline server did not start"
_BG_PIDS+=("$HM_PID")
BASE_PORT=$HM_PORT
hm_up evolved "$T/evolved.log" 1800 || fail "the evolved server did not start"
_BG_PIDS+=("$HM_PID")
EVOLVED_PORT=$HM_PORT

# cfg FILE ROOT PORT TLS MAXCONN [compress] (the paths are mktemp's: no quoting needed beyond "")
cfg() {
	{
		printf 'accounts:\n  - name: hm\n    root: "%s"\n    host: 127.0.0.1\n    port: %s\n    tls: %s\n' \
			"$2" "$3" "$4"
		[ "$4" = none ] || printf '    ca_file: "%s"\n' "$CERTS/ca.pem"
		printf '    user: u\n    password_file: "%s"\n    timeout: %s\n    max_connections: %s\n' \
			"$pf" "$HM_TIMEOUT" "$5"
		[ "${6:-}" != compress ] || printf '    compress: true\n'
	} >"$1"
}

# extras ACCT: the top-level entries of the mirror that are not the baseline's folders
extras() {
	local e
	[ -d "$1" ] || return 0
	for e in "$1"/* "$1"/.[!.]* "$1"/..?*; do
		[ -e "$e" ] || continue
		case ${e##*/} in INBOX | A | Bad | Z | Empty | .mailkeep) ;; *) printf '%s\n' "${e##*/}" ;; esac
	done
}

# manifest ACCT FOLDER...: these folders of the mirror, listed as hostile_matrix.py --manifest
# lists an exact one: "D <dir> <mode>" (the folder and its subdirectories), "F <file> <sha256>
# <mtime> <mode>" (every file one level down: cur/, new/, tmp/), "S <file>" (any other file in the
# folder but its state)
manifest() {
	local acct=$1 f dirs=()
	shift
	for f in "$@"; do [ -d "$acct/$f" ] && dirs+=("$f"); done
	[ ${#dirs[@]} -gt 0 ] || return 0
	(cd "$acct" && find "${dirs[@]}" -maxdepth 2 \( -type d ! -path '*/*/*' -printf 'D %p %m\n' \) -o \
		\( -type f -path '*/*/*' -printf 'F %p %T@ %m\n' -exec sha256sum {} + \) -o \
		\( ! -type d ! -name .mailkeep-state -printf 'S %p\n' \)) |
		awk '$1 == "D" || $1 == "S" { print; next }
		     $1 == "F" { f[$2] = $3 " " $4; next }
		     { sub(/^\*/, "", $2); sha[$2] = $1 }
		     END { for (p in f) { split(f[p], a, " "); split(a[1], t, "."); print "F", p, sha[p], t[1], a[2] } }' |
		LC_ALL=C sort
}

# expected SERVER FOLDER...: the lines of hostile_matrix.py --manifest SERVER for these folders
expected() {
	local m=$T/manifest.$1 re
	shift
	re=$(IFS='|'; echo "$*")
	grep -E "^[DF] ($re)[/ ]" "$m"
}

# message keys (file name without the flags) of the files in cur/ and new/ under DIR
# msg_keys DIR: each message file as "<name without its flags> <inode>"; a message is kept when
# a file of the same name or the same inode is still there (a re-key renames to another
# UIDVALIDITY, a move aside to another directory: the inode stays)
msg_keys() {
	[ -d "$1" ] || return 0
	find "$1" -type f \( -path '*/cur/*' -o -path '*/new/*' \) -name '*,U=*' -printf '%f %i\n' | sed 's/:2,[^ ]*//' | sort -u
}

# lost_keys PRE POST: the names of PRE's messages of which POST has neither the name nor the inode
lost_keys() {
	awk 'NR == FNR { name[$1] = 1; ino[$2] = 1; next } !($1 in name) && !($2 in ino) { print $1 }' "$2" "$1"
}

box_list() {
	find "$1" -path "$1/root/hm" -prune -o -print | sort
}

any_tmp() {
	[ -d "$1" ] && (cd "$1" && find . -type f -path '*/tmp/*' -printf '%P ' | head -c 200)
}

# last FILE: the last line of mailkeep's error output that says something
last() {
	grep -v -e '^\s*$' -e '^mailkeep: account hm: [0-9]* folders' "$1" | tail -n 1 | cut -c1-200
}

# run_one NAME RC NAMED PRE FLAGS BOUND XFAIL: writes $T/res/NAME ("ok", "xfail ...", "XPASS ..." or
# "FAIL ..."); see hostile_matrix.py --help for the fields
run_one() {
	local name=$1 rcs=$2 named=$3 pre=$4 flags=$5 bound=$6 xfail=$7
	local box=$T/b/$name s=$T/b/$name.d problems=() pids=() start=${EPOCHREALTIME/./}
	local root=$box/root acct=$box/root/hm tls=none maxconn=1 must="" kept="" nodir="" maxrss="" maxerr="" f rc t0 secs pre_port k ex=()
	local timer=() HM_TIMEOUT=$HM_TIMEOUT # to=SECS: this scenario's timeout (cfg reads it)
	mkdir -p "$box/cwd" "$root" "$s"
	for f in ${flags//,/ }; do
		case $f in
		tls=*) tls=${f#tls=} ;;
		maxconn=*) maxconn=${f#maxconn=} ;;
		must=*) must=${f#must=} ;;
		kept=*) kept="$kept ${f#kept=}" ;; # may be given for several folders
		nodir=*) nodir=${f#nodir=} ;;
		maxrss=*) maxrss=${f#maxrss=} ;;
		maxerr=*) maxerr=${f#maxerr=} ;;
		to=*) HM_TIMEOUT=${f#to=} ;;
		esac
	done
	# maxrss=MB: the run's peak memory, measured by GNU time when there is one (not under ASan,
	# whose shadow memory and quarantine are no measure of mailkeep's)
	if [ -n "$maxrss" ] && [ -x /usr/bin/time ] && [ "$HM_ASAN" = 0 ]; then
		timer=(/usr/bin/time -f %M -o "$s/rss")
	fi
	has() { case ",$flags," in *",$1,"*) return 0 ;; esac; return 1; }
	problem() { problems+=("$*"); }

	# 1. a first sync
	if [ "$pre" != - ]; then
		pre_port=$BASE_PORT
		if [ "$pre" != baseline ]; then
			hm_up "$pre" "$s/pre-server.log" 120 || { echo "FAIL the pre server did not start" >"$T/res/$name"; return; }
			pids+=("$HM_PID")
			pre_port=$HM_PORT
		fi
		cfg "$s/pre.yaml" "$root" "$pre_port" none 1
		(cd "$box/cwd" && exec timeout -k 2 60 "$MAILKEEP" -c "$s/pre.yaml" sync </dev/null >"$s/pre.out" 2>"$s/pre.err")
		rc=$?
		[ $rc -eq 0 ] || problem "first sync (against $pre) exited $rc: $(last "$s/pre.err")"
		msg_keys "$acct" >"$s/keys.pre"
	fi

	# 2. the scenario
	hm_up "$name" "$s/server.log" $((bound + 20)) || { echo "FAIL the server did not start" >"$T/res/$name"; return; }
	pids+=("$HM_PID")
	cfg "$s/hostile.yaml" "$root" "$HM_PORT" "$tls" "$maxconn" "$(has compress && echo compress)"
	box_list "$box" >"$s/box.before"
	t0=${EPOCHREALTIME/./}
	(cd "$box/cwd" && exec timeout -k 2 $((bound + 3)) "${timer[@]}" "$MAILKEEP" -v --json -c "$s/hostile.yaml" sync \
		</dev/null >"$s/hostile.out" 2>"$s/hostile.err")
	rc=$?
	if [ ${#timer[@]} -gt 0 ] && [ -s "$s/rss" ]; then
		k=$(tail -n 1 "$s/rss")
		case $k in *[!0-9]*) ;; *) [ "$k" -le $((maxrss * 1024)) ] || problem "peak memory $((k / 1024)) MB (bound $maxrss MB)" ;; esac
	fi
	secs=$(((${EPOCHREALTIME/./} - t0) / 1000000))
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		problem "hang: killed after $((bound + 3)) s"
	elif [ $rc -gt 128 ]; then
		problem "killed by signal $((rc - 128)): $(last "$s/hostile.err")"
	elif [ $rc -ge 124 ]; then
		problem "exit $rc: $(last "$s/hostile.err")"
	fi
	if grep -qE 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$s/hostile.err"; then
		problem "sanitizer: $(grep -m1 -E 'ERROR: [A-Za-z]+Sanitizer|runtime error:' "$s/hostile.err" | cut -c1-200)"
	fi
	case " $rcs " in *" $rc "*) ;; *) [ $rc -lt 124 ] && problem "exit $rc, expected ${rcs// / or }: $(last "$s/hostile.err")" ;; esac
	if [ $secs -ge "$bound" ] && [ $rc -lt 124 ]; then
		problem "took $secs s (bound $bound s)"
	fi
	# maxerr=N: what a flood of bad lines costs in output is bounded too (cron mails, log files)
	if [ -n "$maxerr" ] && [ "$(wc -l <"$s/hostile.err")" -gt "$maxerr" ]; then
		problem "$(wc -l <"$s/hostile.err") lines of error output (bound $maxerr)"
	fi
	if [ $rc -ne 0 ] && [ "$named" != - ] && [ $rc -lt 124 ] && ! grep -qF -- "\"$named" "$s/hostile.err"; then
		problem "the error output does not name \"$named\": $(last "$s/hostile.err")"
	fi
	# mailkeep(1): every warning names the account (two accounts on one server are told apart)
	if grep '^mailkeep: warning: ' "$s/hostile.err" | grep -qv '^mailkeep: warning: account hm[: ]'; then
		problem "a warning does not name the account: $(grep '^mailkeep: warning: ' "$s/hostile.err" | grep -v -m1 '^mailkeep: warning: account hm[: ]' | cut -c1-160)"
	fi
	if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$s/hostile.err" "$s/hostile.out"; then
		problem "raw control bytes in the output: $(LC_ALL=C grep -h -m1 $'[\x01-\x08\x0b-\x1f\x7f]' "$s/hostile.err" "$s/hostile.out" | cat -v | cut -c1-120)"
	fi
	if grep -qF -e "$PW" -e "$PW_B64" "$s/hostile.err" "$s/hostile.out"; then
		problem "the password (or its base64 form) appears in the output"
	fi
	# noc1: server text with C1 controls (U+0080..U+009F in UTF-8, or a raw 8-bit CSI) and a bidi
	# override must not reach the error output raw either
	if has noc1 && LC_ALL=C grep -qE $'\xc2[\x80-\x9f]|\x9b|\xe2\x80\xae' "$s/hostile.err"; then
		problem "raw C1 control or bidi override in the error output: $(LC_ALL=C grep -h -m1 -E $'\xc2[\x80-\x9f]|\x9b|\xe2\x80\xae' "$s/hostile.err" | cat -v | cut -c1-120)"
	fi
	# the --json report is checked at the end, all in one python run
	[ $rc -lt 124 ] && echo "$name $s/hostile.out" >>"$T/json.list"
	box_list "$box" >"$s/box.after"
	if ! cmp -s "$s/box.before" "$s/box.after"; then
		problem "created outside <root>/hm: $(comm -13 "$s/box.before" "$s/box.after" | head -n 3 | tr '\n' ' ')"
	fi
	for f in "${ABS_NAMES[@]}" "$T/mkhm_esc" "$T/mkhm_esc2" "$T/b/mkhm_esc" "$T/b/mkhm_esc2"; do
		[ ! -e "$f" ] || problem "created $f"
	done
	if has noclienthello && grep -q "ClientHello received" "$s/server.log"; then
		problem "started the TLS handshake after injected plain text"
	fi
	if has nologin && grep -qE "LOGIN received|AUTHENTICATE received" "$s/server.log"; then
		problem "sent the credentials"
	fi
	if [ -n "$must" ] && [ $rc -eq 0 ] && [ -z "$(file_for "$acct" "${must%%:*}" "${must#*:}")" ]; then
		problem "exit 0 but ${must%%:*} UID ${must#*:} is not mirrored"
	fi
	for f in $kept; do
		for k in $(echo "${f#*:}" | tr + ' '); do
			[ -n "$(file_for "$acct" "${f%%:*}" "$k")" ] || problem "${f%%:*} UID $k is not mirrored (exit $rc)"
		done
	done
	if [ -n "$nodir" ] && [ -e "$acct/$nodir" ]; then
		problem "$nodir was never opened, yet the mirror has a directory for it"
	fi
	if [ -s "$s/keys.pre" ] && ! has remove; then
		msg_keys "$acct" >"$s/keys.post"
		f=$(lost_keys "$s/keys.pre" "$s/keys.post" | head -n 3 | tr '\n' ' ')
		[ -z "$f" ] || problem "local messages lost: $f"
	fi
	if [ $rc -lt 124 ] && [ -d "$acct" ] && ! has nogood; then
		local want=("${GOOD_FOLDERS[@]}") what="the good folders are not exact"
		if has same && [ $rc -eq 0 ]; then
			want=("${ALL_FOLDERS[@]}")
			what="exit 0 but the mirror is not the baseline's"
		fi
		if [ $rc -ne 4 ] || [ "$pre" != - ]; then
			expected baseline "${want[@]}" >"$s/want1"
			manifest "$acct" "${want[@]}" >"$s/got1"
			cmp -s "$s/want1" "$s/got1" ||
				problem "$what: $(diff "$s/want1" "$s/got1" | grep -m2 '^[<>]' | tr '\n' ' ' | cut -c1-220)"
		fi
		if has same; then
			expected baseline Bad >"$s/want2"
			manifest "$acct" Bad >"$s/got2"
			f=$(LC_ALL=C comm -13 "$s/want2" "$s/got2" | head -n 1 | cut -c1-200)
			[ -z "$f" ] || problem "a file of Bad is not the baseline's: $f"
		fi
	fi
	if [ $rc -lt 124 ]; then
		f=$(any_tmp "$acct")
		[ -z "$f" ] || problem "files left in tmp/: $f"
	fi
	if has noorphan && grep -q "no longer exists on the server" "$s/hostile.err"; then
		problem "a folder was called gone: $(grep -m1 "no longer exists" "$s/hostile.err" | cut -c1-160)"
	fi
	if has nonsrec && [ -e "$acct/.mailkeep/namespace" ]; then
		problem "a namespace was recorded: $(tr '\n' ' ' <"$acct/.mailkeep/namespace")"
	fi
	if has noaside && compgen -G "$acct/.mailkeep/uidvalidity-*" >/dev/null; then
		problem "a folder was moved aside: $(ls -d "$acct"/.mailkeep/uidvalidity-* | head -n 2 | tr '\n' ' ')"
	fi
	for f in "${pids[@]}"; do hm_down "$f"; done
	# a scripted server that died of its own bug would make any scenario pass for a wrong reason
	if grep -q '^Traceback' "$s/server.log.out" 2>/dev/null; then
		problem "the scripted server failed: $(grep -m1 -E '^[A-Za-z]*Error' "$s/server.log.out" | cut -c1-160)"
	fi

	# 3. the same mailbox, later, from a well-behaved server: exact, twice
	cfg "$s/evolved.yaml" "$root" "$EVOLVED_PORT" none 1
	for k in 1 2; do
		(cd "$box/cwd" && exec timeout -k 2 60 "$MAILKEEP" --json -c "$s/evolved.yaml" sync </dev/null \
			>"$s/evolved$k.out" 2>"$s/evolved$k.err")
		rc=$?
		if [ $rc -ne 0 ]; then
			problem "sync $k against the evolved server: exit $rc: $(last "$s/evolved$k.err")"
			grep -qE 'AddressSanitizer|runtime error:' "$s/evolved$k.err" &&
				problem "sanitizer (evolved sync $k): $(grep -m1 -E 'ERROR: [A-Za-z]+Sanitizer|runtime error:' "$s/evolved$k.err" | cut -c1-200)"
			break
		fi
		if [ $k = 1 ]; then
			expected evolved "${ALL_FOLDERS[@]}" >"$s/want3"
			manifest "$acct" "${ALL_FOLDERS[@]}" >"$s/got3"
			cmp -s "$s/want3" "$s/got3" ||
				problem "after a sync against the evolved server the mirror is not exact: $(diff "$s/want3" "$s/got3" | grep -m2 '^[<>]' | tr '\n' ' ' | cut -c1-220)"
		elif ! grep '{"name": "hm", "status"' "$s/evolved2.out" |
			grep -q '"new": 0, "flag_changes": 0, "removed": 0, "kept": 0, "bytes": 0,'; then
			problem "a second sync against the evolved server changed something: $(grep '{"name": "hm"' "$s/evolved2.out" | grep -m1 -o '"new": [0-9]*, "flag_changes": [0-9]*, "removed": [0-9]*')"
		fi
		f=$(any_tmp "$acct")
		[ -z "$f" ] || problem "files left in tmp/ after the evolved sync $k: $f"
	done
	# the suite's oracle for the well-behaved scenarios: the manifests agree with it
	if [ "$name" = baseline-check ] || [ "$name" = baseline-incremental ]; then
		mapfile -t ex < <(extras "$acct")
		"$PY" "$COMPARE_PY" "$acct" --host 127.0.0.1 --port "$EVOLVED_PORT" --user u --password-file "$pf" \
			${ex[@]+--ignore-local "${ex[@]}"} >"$s/oracle.out" 2>&1 ||
			problem "compare.py: $(head -n 1 "$s/oracle.out")"
	fi
	box_list "$box" >"$s/box.after2"
	cmp -s "$s/box.before" "$s/box.after2" ||
		problem "created outside <root>/hm (evolved sync): $(comm -13 "$s/box.before" "$s/box.after2" | head -n 3 | tr '\n' ' ')"

	local summary
	summary=$(printf '%s; ' "${problems[@]}")
	summary=${summary%; }
	if [ ${#problems[@]} -eq 0 ] && [ "$xfail" = - ]; then
		echo "ok" >"$T/res/$name"
	elif [ ${#problems[@]} -eq 0 ]; then
		echo "XPASS it passes now: remove its xfail mark ($xfail)" >"$T/res/$name"
	elif [ "$xfail" != - ]; then
		echo "xfail $summary" >"$T/res/$name"
	else
		echo "FAIL $summary" >"$T/res/$name"
	fi
	echo "$(((${EPOCHREALTIME/./} - start) / 1000000))s, mailkeep ${secs}s" >"$T/res/$name.t"
	[ "${MK_KEEP:-0}" = 1 ] || rm -rf "$box"
}

mkdir -p "$T/res" "$T/b"
"$PY" "$HM_PY" --list >"$T/list" || fail "hostile_matrix.py --list failed"
# the expected failures first: most of them wait for their bound, the others overlap them
{ awk -F'\t' '$7 != "-"' "$T/list"; awk -F'\t' '$7 == "-"' "$T/list"; } >"$T/order"
n=0
running=()
while IFS=$'\t' read -r name rcs named pre flags bound xfail _; do
	if [ -n "${HM_ONLY:-}" ]; then
		keep=0
		for p in $HM_ONLY; do case $name in *"$p"*) keep=1 ;; esac; done
		[ $keep = 1 ] || continue
	fi
	while :; do # at most $JOBS scenarios at a time (the servers are jobs too: count ours)
		live=()
		for p in ${running[@]+"${running[@]}"}; do kill -0 "$p" 2>/dev/null && live+=("$p"); done
		running=(${live[@]+"${live[@]}"})
		[ ${#running[@]} -lt "$JOBS" ] && break
		nap 0.1
	done
	run_one "$name" "$rcs" "$named" "$pre" "$flags" "$bound" "$xfail" &
	running+=("$!")
	n=$((n + 1))
done <"$T/order"
for p in ${running[@]+"${running[@]}"}; do wait "$p"; done

# every --json report must be valid JSON (UTF-8) with the account and its folders
if [ -s "$T/json.list" ]; then
	"$PY" - "$T/json.list" >"$T/json.bad" 2>&1 <<'PY'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    name, path = line.rstrip("\n").split(" ", 1)
    try:
        with open(path, "rb") as f:
            raw = f.read()
        doc = json.loads(raw.decode("utf-8"))
        acct = [a for a in doc["accounts"] if a["name"] == "hm"]
        assert acct, "no account hm"
        for fo in acct[0].get("folder_list", []):
            assert isinstance(fo["name"], str) and isinstance(fo["path"], str), "folder without name or path"
    except Exception as e:
        print(f"{name}\t{type(e).__name__}: {str(e)[:160]}")
PY
	while IFS=$'\t' read -r name why; do
		r=$(<"$T/res/$name")
		case $r in
		ok) echo "FAIL the --json report is not valid: $why" >"$T/res/$name" ;;
		xfail* | FAIL*) echo "$r; the --json report is not valid: $why" >"$T/res/$name" ;;
		XPASS*) echo "xfail the --json report is not valid: $why" >"$T/res/$name" ;;
		esac
	done <"$T/json.bad"
fi

CHECKS=$n
failed=()
xfailed=0
passed=0
while IFS=$'\t' read -r name _; do
	[ -f "$T/res/$name" ] || continue
	r=$(<"$T/res/$name")
	case $r in
	ok) passed=$((passed + 1)); t_log "ok    $name ($(<"$T/res/$name.t"))" ;;
	xfail*) xfailed=$((xfailed + 1)); t_log "XFAIL $name: ${r#xfail }" ;;
	*) failed+=("$name: ${r#FAIL }"); t_log "FAIL  $name: ${r#FAIL }" ;;
	esac
done <"$T/list"
t_log "$n scenarios: $passed ok, $xfailed expected failures, ${#failed[@]} failed"
[ $n -gt 0 ] || fail "no scenario matched HM_ONLY=$HM_ONLY"
[ ${#failed[@]} -eq 0 ] || fail "${#failed[@]} of $n scenarios failed: ${failed[*]}"
t_pass
