#!/usr/bin/env bash
# Initial sync over implicit TLS (ca_file) is exact and read-only on the server; the layout follows
# the contract; a second run with no server change renames and rewrites nothing. The server's
# rawlog shows no command that could change it (only EXAMINE, never SELECT, STORE, EXPUNGE...).
. "$(dirname "$0")/lib.sh"
t_begin
dc_up --rawlog
seed populate --seed 1 --count 6 --big 2
rawlog_reset
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice; } | cfg_write "$cfg"
A=$T/mail/alice

mk -c "$cfg" check
expect_rc 0 "check of a valid config"
mk -c "$cfg" check --connect
expect_rc 0 "check --connect"

server_state "$T/state0.json"
mk -c "$cfg" sync
expect_rc 0 "initial sync"
exact "$A"
server_state "$T/state1.json"
check 'cmp -s "$T/state0.json" "$T/state1.json"' "the sync changed the server's flags or modseqs"

for d in INBOX Archive Archive/2024 Geschäftlich 日本語 'R&D' Empty; do
	check '[ -d "$A/$d/cur" ] && [ -d "$A/$d/new" ] && [ -d "$A/$d/tmp" ]' "no maildir at $d/"
	check '[ -f "$A/$d/.mailkeep-state" ]' "no state file $d/.mailkeep-state"
done
check '[ -e "$A/.mailkeep/lock" ]' "no lock file $A/.mailkeep/lock"
check '[ "$(find "$A/Empty/cur" -type f | wc -l)" -eq 0 ]' "files in Empty/cur"
check '[ "$(find "$A/INBOX/cur" -type f | wc -l)" -eq 7 ]' "INBOX/cur does not hold 7 messages"

inode_list "$A" >"$T/inodes0"
find "$A" -path "$A/.mailkeep" -prune -o -printf '%i %m %T@ %s %P\n' | grep -v '\.mailkeep-state$' | sort -k5 >"$T/tree0"
mk -c "$cfg" sync
expect_rc 0 "second sync"
inode_list "$A" >"$T/inodes1"
inode_expect "$T/inodes0" "$T/inodes1"
find "$A" -path "$A/.mailkeep" -prune -o -printf '%i %m %T@ %s %P\n' | grep -v '\.mailkeep-state$' | sort -k5 >"$T/tree1"
check 'diff -q "$T/tree0" "$T/tree1" >/dev/null' "the no-op run changed the tree: $(diff "$T/tree0" "$T/tree1" | head -n 2 | tr '\n' ' ')"
exact "$A"
server_state "$T/state2.json"
check 'cmp -s "$T/state0.json" "$T/state2.json"' "the second sync changed the server"

no_writes "sync"
check 'rawlog_commands | grep -q "EXAMINE"' "the rawlog shows no EXAMINE (is --rawlog working?)"

# -q: nothing on stdout or stderr for a clean no-op run
mk -c "$cfg" -q sync
expect_rc 0 "quiet sync"
check '[ ! -s "$MK_OUT" ] && [ ! -s "$MK_ERR" ]' "-q sync printed something: $(head -c 200 "$MK_OUT" "$MK_ERR" | tr '\n' ' ')"
t_pass
