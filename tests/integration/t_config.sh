#!/usr/bin/env bash
# Usage and config errors -> exit 2 with "FILE:LINE:COL: ..." on stderr, before any connection.
. "$(dirname "$0")/lib.sh"
t_begin
pw=$T/pass
(umask 077 && echo "not-used-$RANDOM" >"$pw")

# bad CONFIG-TEXT LINE COL WHAT: exit 2, "FILE:LINE:COL:" (COL "" = any), message mentions WHAT
bad() {
	local text=$1 line=$2 col=$3 what=$4 f=$T/bad-$((MK_RUNS + 1)).yaml
	printf '%s' "$text" >"$f"
	mk -c "$f" sync
	expect_rc 2 "config with $what"
	local pos="$f:$line:${col:-[0-9]+}:"
	check 'grep -qE "(^|[[:space:]])$pos" "$MK_ERR"' \
		"config with $what: no '$f:$line:${col:-COL}:' on stderr: $(mk_err_line)"
	check 'grep -qiF -- "$what" "$MK_ERR"' "config with $what: the message does not mention '$what': $(mk_err_line)"
	mk -c "$f" check
	expect_rc 2 "check of a config with $what"
}

base() { # a valid account body, 4 spaces in
	printf '    root: %s\n    host: 127.0.0.1\n    port: 9\n    tls: none\n    user: u\n    password_file: %s\n' \
		"$T/mail" "$pw"
}

# an unknown key on line 3, column 5
bad "$(printf 'accounts:\n  - name: a\n    hots: example.org\n%s\n' "$(base)")" 3 5 hots
# a wrong value
bad "$(printf 'accounts:\n  - name: a\n%s\n    deletions: sometimes\n' "$(base)")" 9 "" deletions
bad "$(printf 'accounts:\n  - name: a\n%s\n' "$(base | sed 's/tls: none/tls: maybe/')")" 6 "" tls
bad "$(printf 'accounts:\n  - name: a\n%s\n' "$(base | sed 's/port: 9/port: 70000/')")" 5 "" port
# a missing required key (host): reported at the account
bad "$(printf 'accounts:\n  - name: a\n%s\n' "$(base | grep -v host:)")" "[0-9]+" "" host
# two password sources
bad "$(printf 'accounts:\n  - name: a\n%s\n    password_env: X\n' "$(base)")" "[0-9]+" "" password
# duplicate account names
bad "$(printf 'accounts:\n  - name: a\n%s\n  - name: a\n%s\n' "$(base)" "$(base)")" 9 "" name
# a YAML syntax error: an unclosed quote on line 3
bad "$(printf 'accounts:\n  - name: a\n    host: "127.0.0.1\n    user: u\n')" "[0-9]+" "" ""
# no accounts
bad "$(printf 'accounts: []\n')" 1 "" accounts

# a config file that does not exist: "FILE: ..."
mk -c "$T/does-not-exist.yaml" sync
expect_rc 2 "missing config file"
check 'grep -qF "$T/does-not-exist.yaml" "$MK_ERR"' "the missing config file is not named: $(mk_err_line)"
# -c "" (a variable that was not set): said so, not ": No such file or directory"
mk -c "" check
expect_rc 2 "empty config file name"
check 'grep -q "configuration file name is empty" "$MK_ERR"' "-c '': $(mk_err_line)"

# usage errors
good=$T/good.yaml
{ echo "accounts:"; printf '  - name: a\n'; base; } >"$good"
mk -c "$good" check
expect_rc 0 "check of a valid config"
mk -c "$good" frobnicate
expect_rc 2 "unknown command"
mk -c "$good" sync no-such-account
expect_rc 2 "sync of an unknown account"
mk -c "$good" --no-such-option sync
expect_rc 2 "unknown option"
# named as mailkeep (not the path it was run by), and naming the option
check 'grep -q "^mailkeep: unknown option --no-such-option" "$MK_ERR"' "unknown option: $(mk_err_line)"
mk -c "$good" -x sync
expect_rc 2 "unknown short option"
check 'grep -q "^mailkeep: unknown option -x" "$MK_ERR"' "unknown short option: $(mk_err_line)"
mk -c "$good" sync --jobs
expect_rc 2 "--jobs without a value"
check 'grep -q "^mailkeep: sync: option --jobs needs a value" "$MK_ERR"' "sync --jobs: $(mk_err_line)"
# the option in error, not the argument before it nor a long option's short letter
mk -c "$good" -vc
expect_rc 2 "-vc without a value"
check 'grep -q "^mailkeep: option -c needs a value" "$MK_ERR"' "-vc without a value: $(mk_err_line)"
mk -c "$good" --json=1 sync
expect_rc 2 "--json=1"
check 'grep -q "^mailkeep: option --json takes no value" "$MK_ERR"' "--json=1: $(mk_err_line)"
mk -c "$good" --version=1
expect_rc 2 "--version=1"
check 'grep -q "^mailkeep: option --version takes no value" "$MK_ERR"' "--version=1: $(mk_err_line)"
mk --config
expect_rc 2 "--config without a value"
check 'grep -q "^mailkeep: option --config needs a value" "$MK_ERR"' "--config without a value: $(mk_err_line)"
# check's --connect among the options after the command, before or after -v
mk -c "$good" check --connect -v no-such-account
expect_rc 2 "check --connect -v of an unknown account"
check 'grep -q "no account named \"no-such-account\"" "$MK_ERR"' "check --connect -v NAME: $(mk_err_line)"
mk -c "$good" sync --connect
expect_rc 2 "sync --connect"
# an account name may start with '-' ([A-Za-z0-9._-]+): "--" ends the options, so that it
# can be named, after any command and for push, which has no --account
dash=$T/dash.yaml
{ echo "accounts:"; printf '  - name: -rf\n'; base; printf '  - name: b\n'; base | sed "s|$T/mail|$T/mail-b|"; } >"$dash"
mk -c "$dash" check -- -rf
expect_rc 0 "check -- -rf"
mk -c "$dash" status -v -- -rf
expect_rc 1 "status -v -- -rf (never synced)"
check 'grep -q "^account -rf " "$MK_OUT"' "status -- -rf: $(head -c 200 "$MK_OUT")"
# "--" ends check's options too, --connect after the names included: an account named
# "--connect" is checked, not connected to (port 9 is closed: a connection fails, exit 4)
conn=$T/connect.yaml
{ echo "accounts:"; printf '  - name: --connect\n'; base; printf '  - name: b\n'; base | sed "s|$T/mail|$T/mail-b|"; } >"$conn"
mk -c "$conn" check -- --connect
expect_rc 0 "check -- --connect (an account of that name)"
check '! grep -q "cannot connect" "$MK_ERR"' "check -- --connect connected: $(mk_err_line)"
mk -c "$conn" check b -- --connect
expect_rc 0 "check b -- --connect (two account names)"
mk -c "$conn" check b --connect
expect_rc 4 "check b --connect (port 9 closed)"
mk -c "$dash" push -- -rf b
expect_rc 4 "push -- -rf b (no mirror of -rf)"
check 'grep -q "account -rf: no mirror" "$MK_ERR"' "push -- -rf b: $(mk_err_line)"
mk -c "$dash" push -n -- b -rf
expect_rc 4 "push -n -- b -rf (no mirror of b)"
check 'grep -q "account b: no mirror" "$MK_ERR"' "push -n -- b -rf: $(mk_err_line)"
mk -c "$dash" push -- -rf b -n
expect_rc 2 "push -- -rf b -n (a third name)"
# push refuses --jobs (mailkeep(1) OPTIONS), also the default value 1
mk -c "$good" --jobs 1 push a a
expect_rc 2 "--jobs 1 push"
check 'grep -q "^mailkeep: push takes SOURCE TARGET, not .*--jobs" "$MK_ERR"' "--jobs 1 push: $(mk_err_line)"
t_pass
