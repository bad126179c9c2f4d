#!/usr/bin/env bash
# Secret buffers are wiped before they are freed: no block of the heap is freed with the password
# in it (free_scan.c looks at every block freed or moved by realloc), for check --connect and
# sync, over implicit TLS and in clear, with AUTHENTICATE LOGIN, and the password from a
# command or a variable. `check --connect` cleared its copy of the password with a
# memset just before free(), which the compiler removed (a store to memory about to be freed is
# dead to it): the password stayed in the freed block.
. "$(dirname "$0")/lib.sh"
t_begin
# a sanitizer build has its own allocator (free_scan.c wraps glibc's), and its quarantine keeps
# freed memory anyway (grep -q would stop reading at the match: ldd's SIGPIPE under pipefail)
if ldd "$MAILKEEP" 2>/dev/null | grep libasan >/dev/null; then
	t_log "sanitizer build: freed memory not scanned"
	t_pass
fi
dc_up
seed populate --seed 5 --count 2 --big 0 --folders INBOX
cc -shared -fPIC -O1 -o "$T/free_scan.so" "$REPO/tests/integration/free_scan.c" || fail "cannot build free_scan.so"
pw=$(head -n 1 "$DC/pass-alice")
check '[ ${#pw} -ge 6 ]' "the fixture's password is too short to look for"
# mailkeep alone runs with the shim (not timeout(1) before it, nor mk's own greps after it)
real=$MAILKEEP
printf '#!/bin/sh\nMK_SCAN_SECRET=$(cat "%s") MK_SCAN_LOG="%s" LD_PRELOAD="%s" exec "%s" "$@"\n' \
	"$DC/pass-alice" "$T/scan.log" "$T/free_scan.so" "$real" >"$T/scanned"
chmod 755 "$T/scanned"
MAILKEEP=$T/scanned
export MK_PW=$pw
n=0
for how in tls=implicit tls=none auth=login "password_command=cat $DC/pass-alice" password_env=MK_PW; do
	n=$((n + 1))
	args=("$how")
	case $how in password_*) args+=(password_file=) ;; esac
	{ echo "accounts:"; acct_yaml alice "${args[@]}" root="$T/mail-$n"; } | cfg_write "$T/c-$n.yaml"
	for cmd in "check --connect" sync; do
		: >"$T/scan.log"
		mk -c "$T/c-$n.yaml" $cmd
		expect_rc 0 "$cmd ($how)"
		check '[ ! -s "$T/scan.log" ]' \
			"$cmd ($how) freed the password unwiped: $(head -n 4 "$T/scan.log" | tr '\n' ' ')"
	done
done
t_pass
