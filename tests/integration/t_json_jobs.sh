#!/usr/bin/env bash
# --json describes the run with the right counts; --jobs 2 syncs two accounts in parallel processes
# with the same results as one after the other; --help and --version answer.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 4 --count 4 --big 0
seed populate --seed 5 --count 3 --big 0 --user bob
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice; acct_yaml bob user="$IMAP_USER2" password_file="$DC/pass-bob"; } | cfg_write "$cfg"

mk -c "$cfg" --jobs 2 --json sync
expect_rc 0 "parallel sync with --json"
exact "$T/mail/alice"
exact "$T/mail/bob" --bob
cp "$MK_OUT" "$T/run1.json"
python3 - "$T/run1.json" "$T/mail" <<'PY' || fail "JSON report wrong: $(cat "$T/run1.json" | head -c 300)"
import json, os, sys
d = json.load(open(sys.argv[1]))
assert d["exit_code"] == 0 and d["command"] == "sync", d
accts = {a["name"]: a for a in d["accounts"]}
assert set(accts) == {"alice", "bob"}, accts.keys()
for name, a in accts.items():
    files = sum(len(fs) for root, _, fs in os.walk(os.path.join(sys.argv[2], name)) if root.endswith("/cur"))
    assert a["status"] == "ok" and a["new"] == files, (name, a["new"], files)
    assert a["bytes"] > 0 and a["folders_failed"] == 0
    assert sum(f["new"] for f in a["folder_list"]) == files
    assert all(f["status"] == "ok" for f in a["folder_list"])
PY

# a second run: nothing new, counted as such
dadm flags replace -u alice '\Draft \Deleted' mailbox INBOX uid 1
mk -c "$cfg" --json sync alice
expect_rc 0 "second sync"
exact "$T/mail/alice"
python3 - "$MK_OUT" <<'PY' || fail "JSON of the second run wrong: $(head -c 300 "$MK_OUT")"
import json, sys
d = json.load(open(sys.argv[1]))
(a,) = d["accounts"]
assert a["name"] == "alice" and a["new"] == 0 and a["flag_changes"] == 1, a
PY

# an account process that cannot write its whole result (a file-size limit, as on a full file
# system when the result goes to a temp file) is a failed account, never a cut JSON object
( trap '' XFSZ; ulimit -f 2; exec timeout 60 "$MAILKEEP" -c "$cfg" --jobs 2 --json sync ) </dev/null 2>"$T/fsize.err" |
	cat >"$T/fsize.json"
python3 - "$T/fsize.json" <<'PY' || fail "--jobs --json under a file-size limit: $(head -c 300 "$T/fsize.json") / $(head -c 300 "$T/fsize.err")"
import json, sys
d = json.load(open(sys.argv[1]))
accts = {a["name"]: a for a in d["accounts"]}
assert set(accts) == {"alice", "bob"}, accts.keys()
assert d["exit_code"] in (1, 4), d["exit_code"]  # one account failed, or both
assert any(a["status"] == "failed" and "could not write its result" in a["error"] for a in accts.values()), accts
PY
exact "$T/mail/alice"

# a failing account shows in the JSON with its error and the exit code
{ echo "accounts:"; acct_yaml alice; acct_yaml bob user="$IMAP_USER2" password_env=NO_SUCH_VAR_MK password_file=-; } | cfg_write "$T/bad.yaml"
mk -c "$T/bad.yaml" --jobs 2 --json sync
expect_rc 1 "one account failing"
python3 - "$MK_OUT" <<'PY' || fail "JSON of a partial run wrong: $(head -c 300 "$MK_OUT")"
import json, sys
d = json.load(open(sys.argv[1]))
accts = {a["name"]: a for a in d["accounts"]}
assert d["exit_code"] == 1
assert accts["bob"]["status"] == "failed" and "NO_SUCH_VAR_MK" in accts["bob"]["error"], accts["bob"]
assert accts["alice"]["status"] == "ok"
PY

# --shard K/N partitions the accounts; --account limits to one
: >"$T/sharded"
for k in 0 1 2; do
	mk -c "$cfg" --shard "$k/3" --json sync
	expect_rc 0 "shard $k/3"
	python3 -c 'import json,sys; [print(a["name"]) for a in json.load(open(sys.argv[1]))["accounts"]]' "$MK_OUT" >>"$T/sharded"
done
check '[ "$(sort "$T/sharded" | tr "\n" " ")" = "alice bob " ]' "shards do not partition the accounts: $(tr '\n' ' ' <"$T/sharded")"
mk -c "$cfg" --account bob --json sync
expect_rc 0 "--account bob"
check 'python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit([a[\"name\"] for a in d[\"accounts\"]] != [\"bob\"])" "$MK_OUT"' "--account bob synced other accounts"
mk -c "$cfg" --shard 2/2 sync
expect_rc 2 "--shard 2/2"
# a named account outside the shard (alice hashes to 1 of 2) is left out
# without a word, as sync leaves it: no claim that no account has snapshot: true
mk -c "$cfg" --shard 0/2 snapshot alice
expect_rc 0 "--shard 0/2 snapshot alice"
check '! grep -q "snapshot: true" "$MK_ERR"' "a misleading warning for a named account outside the shard: $(head -c 200 "$MK_ERR")"

mk --help
expect_rc 0 "--help"
check 'grep -q "sync" "$MK_OUT" && grep -q -- "--jobs" "$MK_OUT"' "--help does not describe sync and --jobs"
mk --version
expect_rc 0 "--version"
check 'grep -qE "^mailkeep [0-9]" "$MK_OUT"' "--version prints no version"
mk -c "$cfg" --jobs 0 sync
expect_rc 2 "--jobs 0"
# the options after the command, in their other spellings
mk -c "$cfg" sync -j2 --account=bob --json -vvv
expect_rc 0 "sync -j2 --account=bob --json -vvv"
check 'python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit([a[\"name\"] for a in d[\"accounts\"]] != [\"bob\"])" "$MK_OUT"' "sync --account=bob synced other accounts"
check 'grep -q "C: a1" "$MK_ERR"' "-vvv after the command gives no protocol trace"
# push has no use for them: refused, not ignored
for o in "--account alice" "--json" "--jobs 2" "--shard 0/2"; do
	# shellcheck disable=SC2086
	mk -c "$cfg" $o push alice bob --dry-run
	expect_rc 2 "$o push"
	check 'grep -q "push takes SOURCE TARGET" "$MK_ERR"' "$o push: $(mk_err_line)"
done
t_pass
