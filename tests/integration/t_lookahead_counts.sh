#!/usr/bin/env bash
# The counts of a folder synced twice because of the look-ahead: folder A (the larger, so synced
# first over the one connection) has a reader's flag change to undo (a rename), a message expunged
# on the server (a removal) and a file a reader deleted (a fetch, needed after B's EXAMINE was
# already sent ahead): A is synced again from the start, and the summary and --json still count
# the rename and the removal the first attempt made (1 flag change, 1 removed, 1 new).
# before: the second attempt found them done and counted nothing: A reported 0 flag changes and
# 0 removed, and so did the account's totals.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed append --folder A --seed 31 --count 6
seed append --folder B --seed 32 --count 3
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice max_connections=1; } | cfg_write "$cfg"
AC=$T/mail/alice
mk -c "$cfg" sync
expect_rc 0 "initial sync"
exact "$AC"

# A: a reader flags UID 2 (mailkeep renames it back: the server's flags win), deletes UID 3's
# file (fetched again); the server expunges UID 5. B: a flag changes on the server.
f2=$(file_for "$AC" A 2)
check '[ -n "$f2" ]' "no file of UID 2 in A"
case ${f2##*:2,} in *F*) fail "UID 2 is flagged already: $f2" ;; esac
mv "$f2" "$(printf '%s' "$f2" | sed 's/:2,\(.*\)$/:2,F\1/')" || fail "cannot rename $f2"
f3=$(file_for "$AC" A 3)
check '[ -n "$f3" ]' "no file of UID 3 in A"
rm -f "$f3"
dadm expunge -u alice mailbox A uid 5
dadm flags replace -u alice '\Draft \Deleted' mailbox B uid 1
mk -c "$cfg" -vv --json sync
expect_rc 0 "sync after the changes"
check 'grep -q "this one again" "$MK_ERR"' "A was not synced again (look-ahead not exercised?)"
exact "$AC"
python3 - "$MK_OUT" <<'PY' >"$T/json.check" 2>&1 || fail "--json counts wrong: $(tail -n 1 "$T/json.check")"
import json, sys
d = json.load(open(sys.argv[1]))
(a,) = d["accounts"]
f = {x["name"]: x for x in a["folder_list"]}
assert (f["A"]["new"], f["A"]["flag_changes"], f["A"]["removed"]) == (1, 1, 1), ("A", f["A"])
assert (f["B"]["new"], f["B"]["flag_changes"], f["B"]["removed"]) == (0, 1, 0), ("B", f["B"])
assert (a["new"], a["flag_changes"], a["removed"]) == (1, 2, 1), a
PY
check 'grep -q "folder \"A\" .*: 1 new, 1 flag changes\?, 1 removed" "$MK_ERR"' \
	"A's summary line is wrong: $(grep -m1 'folder "A"' "$MK_ERR")"
t_pass
