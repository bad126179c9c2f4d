#!/usr/bin/env bash
# mailkeep started with SIGCHLD ignored (a parent that ignores it passes that on across exec):
# the password command is still waited for (it failed: "waitpid: No child processes", exit 4),
# and --jobs still collects every account's result (its accounts were reported "{}", exit 0,
# while their processes were killed with the run).
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 25 --count 2 --big 0 --folders INBOX,Archive
seed populate --seed 26 --count 3 --big 0 --folders INBOX --user bob

wrapper=$T/sigchld-ignored
cat >"$wrapper" <<PY
#!/usr/bin/env python3
import os, signal, sys
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
os.execv("$MAILKEEP", ["mailkeep"] + sys.argv[1:])
PY
chmod +x "$wrapper"
MAILKEEP=$wrapper

cfg=$T/config.yaml
{
	echo "accounts:"
	acct_yaml alice password_file=- password_command="cat '$DC/pass-alice'"
	acct_yaml bob user="$IMAP_USER2" password_file="$DC/pass-bob"
} | cfg_write "$cfg"
mk -c "$cfg" sync alice
expect_rc 0 "password_command with SIGCHLD ignored"
exact "$T/mail/alice"

seed append --folder INBOX --seed 27 --count 1 --first 50
mk -c "$cfg" --jobs 2 --json sync
expect_rc 0 "--jobs 2 with SIGCHLD ignored"
exact "$T/mail/alice"
exact "$T/mail/bob" --bob
python3 - "$MK_OUT" <<'PY' || fail "JSON report wrong: $(head -c 300 "$MK_OUT")"
import json, sys
d = json.load(open(sys.argv[1]))
accts = {a.get("name"): a for a in d["accounts"]}
assert set(accts) == {"alice", "bob"}, list(accts)
assert accts["alice"]["status"] == "ok" and accts["alice"]["new"] == 1, accts["alice"]
assert accts["bob"]["status"] == "ok" and accts["bob"]["new"] == 3, accts["bob"]
PY
t_pass
