#!/usr/bin/env bash
# Real mail readers open the mirror: notmuch indexes exactly the server's messages (with the documented
# new.ignore for mailkeep's files) and reads the flags from the names; mblaze lists every folder with the
# right counts of all and of seen messages.
. "$(dirname "$0")/lib.sh"
t_begin
command -v notmuch >/dev/null || fail "notmuch is not installed (make deps)"
command -v mlist >/dev/null || fail "mblaze is not installed (make deps)"
dc_up
seed populate --seed 8 --count 6 --big 1
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice; } | cfg_write "$cfg"
A=$T/mail/alice
mk -c "$cfg" sync
expect_rc 0 "sync"
exact "$A"
server_state "$T/server.json"
read -r total seen < <(python3 - "$T/server.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
msgs = [m for f in d["folders"].values() for m in f.get("messages", {}).values()]
print(len(msgs), sum(1 for fl, _ in msgs if "\\seen" in fl))
PY
)
check '[ -n "$total" ] && [ "$total" -gt 0 ]' "could not count the server's messages"

export NOTMUCH_CONFIG=$T/notmuch-config
cat >"$NOTMUCH_CONFIG" <<EOF2
[database]
path=$A
[new]
tags=unread;
ignore=.mailkeep-state;.mailkeep
[maildir]
synchronize_flags=true
EOF2
notmuch new >"$T/nm.out" 2>&1 || fail "notmuch new failed: $(tail -n 2 "$T/nm.out")"
check '! grep -q "Ignoring non-mail" "$T/nm.out"' "notmuch found non-mail files: $(grep -m1 non-mail "$T/nm.out")"
check '[ "$(notmuch count "*")" -eq "$total" ]' "notmuch counts $(notmuch count '*') messages, the server $total"
check '[ "$(notmuch count tag:unread)" -eq $((total - seen)) ]' "notmuch unread $(notmuch count tag:unread), server unseen $((total - seen))"

all=0
seen_m=0
while IFS= read -r d; do
	n=$(mlist "$d" | wc -l)
	s=$(mlist -S "$d" | wc -l)
	all=$((all + n))
	seen_m=$((seen_m + s))
done < <(find "$A" -path "$A/.mailkeep" -prune -o -type d -name cur -printf '%h\n')
check '[ "$all" -eq "$total" ]' "mblaze lists $all messages, the server has $total"
check '[ "$seen_m" -eq "$seen" ]' "mblaze sees $seen_m seen messages, the server $seen"
t_pass
