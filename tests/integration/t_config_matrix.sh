#!/usr/bin/env bash
# Broken configuration files: every case of tests/integration/configs/EXPECTED (the format is
# described at its top) runs `mailkeep -c FILE check` and, where it applies, `sync`, without any
# server (accounts point at the closed port 1 of 127.0.0.1), and must give the documented exit
# status, "FILE:LINE:COL:" and the key on stderr, no password on stdout/stderr, no new file under
# $HOME or the working directory, no crash or sanitizer report, and stay within time and memory
# bounds. Known failures are marked xfail in EXPECTED; a case that starts passing fails as XPASS
# until its flag is removed.
#   MK_MATRIX_ONLY=STR          run only the cases whose name contains STR
#   MK_MATRIX_TIMEOUT=SECONDS   bound for one run (default 10)
#   MK_MATRIX_MAXRSS_KB=KIB     bound for one run's peak RSS (default 262144; needs /usr/bin/time)
. "$(dirname "$0")/lib.sh"
t_begin
CONFIGS=$LIB_DIR/configs
EXPECTED=$CONFIGS/EXPECTED
[ -f "$EXPECTED" ] || fail "missing $EXPECTED"
limit_s=${MK_MATRIX_TIMEOUT:-10}
limit_kb=${MK_MATRIX_MAXRSS_KB:-262144}
only=${MK_MATRIX_ONLY:-}
secrets=(pw-ENV-s3cret-71 pw-FILE-s3cret-72 pw-CMD-s3cret-73 pw-LIT-s3cret-74)
timecmd=()
if [ -x /usr/bin/time ]; then timecmd=(/usr/bin/time -f %M -o); else t_log "no /usr/bin/time: memory not checked"; fi

mkdir -p "$T/pw" "$T/gen" "$T/runs"
(
	umask 077
	printf 'pw-FILE-s3cret-72\n' >"$T/pw/good"
	: >"$T/pw/empty"
	printf 'pw-FILE\000-s3cret-72\n' >"$T/pw/nul"
	head -c 70000 /dev/zero | tr '\0' x >"$T/pw/longline"
	mkdir "$T/pw/dir"
	mkfifo "$T/pw/fifo"
	printf '\npw-FILE-s3cret-72\n' >"$T/pw/blankfirst"
	ln -s good "$T/pw/link" && ln -s open "$T/pw/link-open" && ln -s nothing "$T/pw/dangling"
) || fail "cannot make the password files"
cp "$T/pw/good" "$T/pw/open" && chmod 0644 "$T/pw/open"
cp "$T/pw/good" "$T/pw/group" && chmod 0640 "$T/pw/group"
cp "$T/pw/good" "$T/pw/ro" && chmod 0400 "$T/pw/ro"

# The gen-* cases: files too big or too odd to keep in the tree.
long_dir=$T/gen
for _ in 1 2 3 4 5; do long_dir=$long_dir/$(printf 'd%.0s' {1..199}); done
mkdir -p "$long_dir" "$T/gen/gen-config-is-directory.yaml"
python3 - "$T/gen" "$long_dir" <<'PY' || fail "cannot make the gen-* files"
import sys
g, long_dir = sys.argv[1], sys.argv[2]
def acct(name):
    return (f"  - name: {name}\n    host: 127.0.0.1\n    port: 1\n    tls: none\n    user: u\n"
            "    password_env: MK_MATRIX_PW\n")
base = "accounts:\n" + acct("a")
def put(name, text, d=g):
    with open(f"{d}/{name}", "w", encoding="utf-8") as f:
        f.write(text)
def pad(text, size):
    text += "#"
    return text + "x" * (size - len(text.encode()) - 1) + "\n"
put("gen-over-1mib.yaml", pad(base, (1 << 20) + 1))
put("gen-exactly-1mib-valid.yaml", pad(base, 1 << 20))
put("gen-long-line-user-valid.yaml", base.replace("user: u", "user: " + "u" * 200000))
put("gen-deep-nesting-huge.yaml", "accounts: " + "[" * 500000 + "\n")
put("gen-many-aliases.yaml", "defaults:\n  folders:\n    include: [&a x" + ", *a" * 200000 + "]\n" + base)
put("gen-many-accounts-valid.yaml", "accounts:\n" + "".join(acct(f"a{i}") for i in range(5000)))
put("gen-many-duplicate-names.yaml", "accounts:\n" + acct("a") * 5000)
put("gen-push-map-4097.yaml", base + "    push_map:\n" + "".join(f"      f{i}: t{i}\n" for i in range(4097)))
put("gen-config-long-path.yaml", base + "    hots: x\n", long_dir)
# defaults are copied into every account: long lists or strings times tens of thousands of
# accounts would ask for GiB (the accounts' total is bounded)
dflt = ("defaults:\n  host: 127.0.0.1\n  port: 1\n  tls: none\n  user: u\n"
        "  password_env: MK_MATRIX_PW\n")
def many(head, size=(1 << 20) - 64):
    out, i = [head, "accounts:\n"], 0
    n = len(head) + 10
    while n < size:
        line = f"  - name: a{i}\n"
        out.append(line)
        n += len(line)
        i += 1
    return "".join(out)
put("gen-defaults-include-amplified.yaml",
    many(dflt + "  folders:\n    include: [" + ",".join(["a"] * 100000) + "]\n"))
put("gen-defaults-push-map-amplified.yaml",
    many(dflt + "  push_map:\n" + "".join(f"    f{i}: t{i}\n" for i in range(4096))))
put("gen-defaults-long-user-amplified.yaml", many(dflt.replace("user: u", "user: " + "u" * 400000)))
put("gen-defaults-20000-accounts-valid.yaml",
    dflt + "  folders:\n    include: [INBOX, Sent, Drafts, 'Lists/*', Archive, 'Work/%', Notes]\n"
    "accounts:\n" + "".join(f"  - name: a{i}\n" for i in range(20000)))
head = base + "    folders:\n      include: ["
put("gen-flow-scalars-600kib-valid.yaml", head + ",".join(["a"] * ((600 << 10) // 2)) + "]\n")
PY
ln -s gen-config-symlink-loop.yaml "$T/gen/gen-config-symlink-loop.yaml" || fail "cannot make the symlink loop"
ln -s /dev/null "$T/gen/gen-config-dev-null.yaml" || fail "cannot make the /dev/null link"
mkfifo "$T/gen/gen-config-fifo.yaml" || fail "cannot make the FIFO"

case_file() { # NAME -> the path to give to -c
	case $1 in
	gen-config-long-path.yaml) echo "$long_dir/$1" ;;
	gen-*) echo "$T/gen/$1" ;;
	*) echo "$CONFIGS/$1" ;;
	esac
}

# run CMD FILE: mailkeep -c FILE CMD in the sandbox -> R_RC, R_OUT, R_ERR, R_RSS (KiB, or 0)
run() {
	local cmd=$1 file=$2 n rss envs=(-u MK_MATRIX_UNSET) v opts=()
	[ "$cmd" != sync ] || opts=(-v) # the more it logs, the more a password could slip out
	MK_RUNS=$((MK_RUNS + 1))
	n=$MK_RUNS
	R_OUT=$T/runs/$n.out R_ERR=$T/runs/$n.err rss=$T/runs/$n.rss
	for v in $unset_vars; do envs+=(-u "$v"); done # env wants its options first
	for v in HOME="$T/home" MK_MATRIX_PW=pw-ENV-s3cret-71 MK_MATRIX_EMPTY= MK_PWDIR="$T/pw"; do
		case " $unset_vars " in *" ${v%%=*} "*) ;; *) envs+=("$v") ;; esac
	done
	(cd "$T/cwd" && exec env "${envs[@]}" timeout -k 2 "$limit_s" ${timecmd[@]+"${timecmd[@]}" "$rss"} \
		"$MAILKEEP" ${opts[@]+"${opts[@]}"} -c "$file" "$cmd") </dev/null >"$R_OUT" 2>"$R_ERR"
	R_RC=$?
	R_RSS=0
	if [ ${#timecmd[@]} -gt 0 ] && [ -s "$rss" ]; then
		R_RSS=$(tail -n 1 "$rss")
		case $R_RSS in *[!0-9]* | '') R_RSS=0 ;; esac
	fi
}

err_line() { grep -v '^[[:space:]]*$' "$R_ERR" | head -n 1 | cut -c1-240; }

note_fail() { # CHECK WHY
	case " $fails " in *" $1 "*) return 0 ;; esac
	fails="$fails $1"
	whys="${whys:+$whys; }$1: $2"
}

# judge WHAT FILE RC POS WORDS FILES_OK: the checks of one run
judge() {
	local what=$1 file=$2 rc=$3 pos=$4 words=$5 files_ok=$6 s w alt hit re
	CHECKS=$((CHECKS + 1))
	if [ $R_RC -eq 124 ] || [ $R_RC -eq 137 ]; then
		note_fail time "$what: no exit within ${limit_s}s"
	elif [ $R_RC -ge 125 ] || grep -qE 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$R_ERR"; then
		note_fail crash "$what: exit $R_RC: $(grep -m1 -E 'Sanitizer|runtime error:|signal' "$R_ERR" || err_line)"
	fi
	[ "$R_RSS" -le "$limit_kb" ] || note_fail mem "$what: peak RSS ${R_RSS} KiB > $limit_kb KiB"
	for s in "${secrets[@]}"; do
		if grep -qF -- "$s" "$R_OUT" "$R_ERR"; then note_fail leak "$what: password $s printed: $(grep -hF -- "$s" "$R_OUT" "$R_ERR" | head -n 1 | cut -c1-200)"; fi
	done
	[ "$R_RC" -eq "$rc" ] || note_fail rc "$what: exit $R_RC, expected $rc ($(err_line))"
	# what follows says little when the exit status is already wrong
	[ "$R_RC" -eq "$rc" ] || [ "$rc" -ne 2 ] || return 0
	if [ "$rc" -eq 0 ]; then
		[ "$what" != check ] || grep -qF "configuration OK" "$R_OUT" || note_fail out "$what: no 'configuration OK' on stdout"
	elif [ "$rc" -eq 2 ]; then
		[ ! -s "$R_OUT" ] || note_fail out "$what: stdout not empty: $(head -c 200 "$R_OUT")"
	fi
	if [ "$rc" -ne 0 ] && [ "$pos" != - ] && [ "$R_RC" -eq "$rc" ]; then
		re=$(printf '%s' "$file" | sed 's/[][\.*^$|+?(){}]/\\&/g')
		case $pos in
		nopos) grep -qE "(^|[[:space:]])$re: " "$R_ERR" && ! grep -qE "(^|[[:space:]])$re:[0-9]" "$R_ERR" ;;
		*:\*) grep -qE "(^|[[:space:]])$re:${pos%%:*}:[0-9]+: " "$R_ERR" ;;
		*) grep -qE "(^|[[:space:]])$re:$pos: " "$R_ERR" ;;
		esac || note_fail pos "$what: expected ${pos/nopos/no position} ($(err_line))"
	fi
	if [ "$words" != - ] && [ "$R_RC" -eq "$rc" ]; then
		# the file's own name must not count as naming the key (port-string.yaml has "port")
		s=$(<"$R_ERR")
		printf '%s\n' "${s//"$file"/FILE}" >"$R_ERR.nofile"
		local IFS=,
		for w in $words; do
			hit=0
			IFS='|'
			for alt in $w; do grep -qiF -- "${alt//\~/ }" "$R_ERR.nofile" && hit=1; done
			IFS=,
			[ $hit = 1 ] || note_fail words "$what: stderr does not mention '${w//\~/ }' ($(err_line))"
		done
	fi
	if [ "$files_ok" = 0 ] && [ -n "$(find "$T/home" "$T/cwd" -mindepth 1 -print -quit)" ]; then
		note_fail files "$what: created $(cd "$T" && find home cwd -mindepth 1 | head -n 3 | tr '\n' ' ')"
	fi
}

n_ok=0 n_xfail=0 n_bad=0 bad_list=() seen=0
while read -r name cmd rc pos words flags _; do
	case $name in '' | '#'*) continue ;; esac
	[ -z "$only" ] || case $name in *"$only"*) ;; *) continue ;; esac
	seen=$((seen + 1))
	file=$(case_file "$name")
	[ "${name#gen-}" != "$name" ] || [ -f "$file" ] || fail "EXPECTED names $name, which is not in configs/"
	xfail="" files_ok=0 unset_vars="" fails="" whys=""
	local_flags=${flags//,/ }
	for f in $local_flags; do
		case $f in
		-) ;;
		files) files_ok=1 ;;
		unset:*) unset_vars="$unset_vars ${f#unset:}" ;;
		xfail:*) xfail="$xfail ${f#xfail:}" ;;
		*) fail "$name: unknown flag $f" ;;
		esac
	done
	xfail=${xfail//+/ }
	rm -rf "${T:?}/home" "${T:?}/cwd"
	mkdir -p "$T/home" "$T/cwd"
	case $cmd in
	check)
		run check "$file"
		judge check "$file" "$rc" "$pos" "$words" 0
		if [ "$rc" -eq 2 ]; then
			run sync "$file"
			judge sync "$file" "$rc" "$pos" "$words" 0
		fi
		;;
	sync)
		run sync "$file"
		judge sync "$file" "$rc" "$pos" "$words" "$files_ok"
		rm -rf "${T:?}/home" "${T:?}/cwd"
		mkdir -p "$T/home" "$T/cwd"
		run check "$file"
		judge check "$file" 0 - - 0
		;;
	*) fail "$name: unknown command $cmd" ;;
	esac
	unexpected="" xpass=""
	for c in $fails; do case " $xfail " in *" $c "*) ;; *) unexpected="$unexpected $c" ;; esac; done
	for c in $xfail; do case " $fails " in *" $c "*) ;; *) xpass="$xpass $c" ;; esac; done
	if [ -n "$unexpected" ] || [ -n "$xpass" ]; then
		n_bad=$((n_bad + 1))
		[ -z "$xpass" ] || whys="${whys:+$whys; }XPASS:$xpass now pass(es): remove them from the xfail flag"
		bad_list+=("$name:$unexpected${xpass:+ XPASS$xpass}")
		echo "FAIL $name: $whys"
	elif [ -n "$xfail" ]; then
		n_xfail=$((n_xfail + 1))
		echo "xfail $name:$fails ($whys)"
	else
		n_ok=$((n_ok + 1))
		echo "ok $name"
	fi
done <"$EXPECTED"
[ "$seen" -gt 0 ] || fail "no case ran${only:+ (MK_MATRIX_ONLY=$only)}"
for f in "$CONFIGS"/*; do
	[ "${f##*/}" = EXPECTED ] && continue
	grep -qE "^${f##*/}[[:space:]]" "$EXPECTED" || fail "configs/${f##*/} has no line in EXPECTED"
done
t_log "$seen cases: $n_ok ok, $n_xfail xfail, $n_bad failed"
[ $n_bad -eq 0 ] || fail "$n_bad of $seen config cases failed: ${bad_list[*]}"
t_pass
