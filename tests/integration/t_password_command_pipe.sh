#!/usr/bin/env bash
# password_command runs with SIGPIPE at its default, not inherited as ignored from mailkeep: a
# pipeline whose reader stops early (`yes ... | head -n 1`) ends quietly instead of writing
# "Broken pipe" to stderr (cron mails it at every run), and a command whose output is refused
# as too long ends at once instead of failing its writes forever (the run hung, past the
# account's timeout, flooding stderr).
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 22 --count 2 --big 0 --folders INBOX

cfg=$T/config.yaml
{
	echo "accounts:"
	acct_yaml early password_file=- password_command="yes \"\$(cat '$DC/pass-alice')\" | head -n 1"
} | cfg_write "$cfg"
mk -c "$cfg" sync
expect_rc 0 "a password pipeline whose reader stops early"
check '! grep -qi "broken pipe" "$MK_ERR"' "the command's writer complained on stderr: $(mk_err_line)"
check '[ ! -s "$MK_ERR" ]' "stderr is not empty: $(mk_err_line)"
exact "$T/mail/early"

# Endless output: refused as too long (exit 4) within the account's timeout, the command gone.
cfg=$T/endless.yaml
{
	echo "accounts:"
	acct_yaml endless password_file=- timeout=5 \
		password_command='while :; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done'
} | cfg_write "$cfg"
MK_TIMEOUT=20 mk -c "$cfg" sync
expect_rc 4 "a password command with endless output"
check 'grep -qF "larger than 64 KiB" "$MK_ERR"' "no word of the output's size: $(mk_err_line)"
check '[ "$(wc -l <"$MK_ERR")" -le 2 ]' "stderr flooded: $(wc -l <"$MK_ERR") lines"
check '[ ! -e "$T/mail/endless" ]' "a failed password source created the mirror"

# Its output closed but the command still running (a hang after the password, a helper left in
# its process group): the account's timeout still bounds it (it was waited for to its end).
cfg=$T/closer.yaml
{
	echo "accounts:"
	acct_yaml closer password_file=- timeout=2 \
		password_command="cat '$DC/pass-alice'; exec >&-; sleep 60"
} | cfg_write "$cfg"
started=$(date +%s)
MK_TIMEOUT=90 mk -c "$cfg" sync
took=$(($(date +%s) - started))
expect_rc 4 "a password command running on after closing its output"
check '[ "$took" -lt 20 ]' "waited ${took}s for a command past its 2 s timeout"
check 'grep -qF "did not finish within 2 s" "$MK_ERR"' "no word of the timeout: $(mk_err_line)"
t_pass
