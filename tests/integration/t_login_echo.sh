#!/usr/bin/env bash
# A server that refuses a login with a text echoing what it was sent (the LOGIN command's password,
# AUTHENTICATE PLAIN's base64 initial response): the password was masked in the error only after
# the text had been escaped and cut to 200 bytes, so a long password was shown cut short, past the
# mask (most of it in clear, or most of its base64), and one with a tab or a byte that is not UTF-8
# was shown escaped ("tab\x09...", "lat\xe9..."), which the mask did not match. An answer that
# does not parse ("a1 NOPE <password>") was quoted by the parse error, 40 bytes of it: a part of a
# long password, which the mask did not match either. No part of the password, in any of these
# forms, may reach the output (plain or --json, -vv). Nor a part of it, when the server cuts its echo
# short (login-no-echo-cut, login-no-echo-plain-cut: a part of 6 bytes or more is masked).
. "$(dirname "$0")/lib.sh"
t_begin

long="Lp$(printf 'abcdefghij%.0s' $(seq 25))"
passwords=("$long" $'tab\there-secret' $'lat\xe9in-secret' 'q"uo\te\\s-secret')
# After the login too: the CAPABILITY that follows it answered by a line that does not parse,
# quoting the password (its forms were forgotten once the login's own answer was in, so the parse
# error showed it); a LIST refused with the password in its code and text.
for sc in login-no-echo-login login-no-echo-plain login-no-echo-cut login-no-echo-plain-cut \
	login-unparsable-echo-login login-unparsable-echo-plain login-caps-echo login-list-echo; do
	hm_up "$sc" "hm-$sc.log"
	i=0
	for pw in "${passwords[@]}"; do
		i=$((i + 1))
		(umask 077 && printf '%s\n' "$pw" >"$T/pass-$i")
		cfg=$T/$sc-$i.yaml
		{ echo "accounts:"; acct_yaml "echo$i" root="$T/mail" port="$HM_PORT" tls=none ca_file=- user=u \
			password_file="$T/pass-$i" timeout=10; } | cfg_write "$cfg"
		for opts in "" "-vv --json"; do
			# shellcheck disable=SC2086
			mk -c "$cfg" $opts sync
			expect_rc 4 "$sc, password $i: no account mirrored"
			check 'grep -qE "login failed|unparsable server response|server said NO" "$MK_ERR"' \
				"$sc, password $i: no word of the refused login: $(mk_err_line)"
			CHECKS=$((CHECKS + 1))
			got=$(python3 - "$pw" "$MK_OUT" "$MK_ERR" <<'PY'
import base64, sys
pw = sys.argv[1].encode("utf-8", "surrogateescape")
out = open(sys.argv[2], "rb").read() + open(sys.argv[3], "rb").read()
escaped = b"".join(b"\\x%02x" % c if c < 0x20 or c >= 0x7f else bytes([c]) for c in pw)
forms = [pw, escaped, pw.replace(b"\\", b"\\\\").replace(b'"', b'\\"'), base64.b64encode(pw),
         base64.b64encode(b"\0u\0" + pw)]
for f in forms:
    for k in range(0, max(1, len(f) - 11)):
        w = f[k:k + 12]
        if w in out:
            print(f"{w!r} (of {f[:20]!r}...) is in the output")
            sys.exit(0)
print("ok")
PY
)
			[ "$got" = ok ] || fail "$sc, password $i, options \"$opts\": $got"
		done
	done
	bg_kill "$HM_PID"
done

# The mask must not hide what the server said from mailkeep's own decisions: an EXAMINE refused
# with NO [NONEXISTENT], or with a text saying the mailbox doesn't exist, is a folder gone (exit 0),
# not a failed one, also with a password found inside those words (read before masking).
i=0
for run in "examine-nonexistent N" "examine-nonexistent ONEX" "examine-doesnt-exist n't" \
	"examine-doesnt-exist exist"; do
	sc=${run%% *} pw=${run#* }
	i=$((i + 1))
	hm_up "$sc" "hm-$sc-$i.log"
	(umask 077 && printf '%s\n' "$pw" >"$T/short-$i")
	cfg=$T/short-$i.yaml
	{ echo "accounts:"; acct_yaml "short$i" root="$T/short-mail" port="$HM_PORT" tls=none ca_file=- user=u \
		password_file="$T/short-$i" timeout=10; } | cfg_write "$cfg"
	mk -c "$cfg" sync
	expect_rc 0 "$sc, password \"$pw\": a folder gone is no error"
	check 'grep -q "no longer exists on the server" "$MK_ERR"' \
		"$sc, password \"$pw\": Bad not taken for gone: $(mk_err_line)"
	bg_kill "$HM_PID"
done
t_pass
