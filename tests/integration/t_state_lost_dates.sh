#!/usr/bin/env bash
# Without a state the full listing asks INTERNALDATE, and a file is kept for a message only when
# its name starts with the message's date. Dovecot keeps INTERNALDATE as an unsigned 32-bit number:
# a message dated before 1970 (named 0 by its first download) is answered later with a date after
# 2038. The folder's own files must still be kept when its state is lost (before: those messages
# were removed and downloaded again, and their files then carried the wrapped 2096 date).
. "$(dirname "$0")/lib.sh"
t_begin
EDGES=$LIB_DIR/body_edges.py
dc_up
python3 "$EDGES" seed "$DC/env" >"$T/seed.out" 2>&1 || fail "seeding the edge messages failed: $(tail -n 1 "$T/seed.out")"
cfg=$T/config.yaml
cfg_alice_bob "$cfg"
A=$T/mail/alice
mk -c "$cfg" sync alice
expect_rc 0 "first sync"
mk -c "$cfg" sync alice
expect_rc 0 "second sync"
f=$(file_for "$A" Dates 10)
check '[ -n "$f" ] && [ "$(stat -c %Y "$f")" -lt 0 ]' "the message dated 1960 has mtime $(stat -c %Y "$f" 2>/dev/null)"
inode_list "$A" >"$T/inodes0"
rm "$A/Dates/.mailkeep-state"
mk -c "$cfg" sync alice
expect_rc 0 "sync with the state lost"
inode_list "$A" >"$T/inodes1"
inode_expect "$T/inodes0" "$T/inodes1"
f=$(file_for "$A" Dates 10)
check '[ -n "$f" ] && [ "$(stat -c %Y "$f")" -lt 0 ]' "the message dated 1960 has mtime $(stat -c %Y "$f" 2>/dev/null) now"
mk -c "$cfg" sync alice
expect_rc 0 "rerun"
inode_list "$A" >"$T/inodes2"
inode_expect "$T/inodes0" "$T/inodes2"
t_pass
