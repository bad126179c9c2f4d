#!/usr/bin/env bash
# A message file moved by hand (mv, keeping its name) from one folder of the mirror into another whose
# server folder has the same UIDVALIDITY (RFC 3501 does not require UIDVALIDITY to differ between
# folders, and a server that takes the creation time can give two folders the same one): its name
# then says it is
# the other folder's message of that UID. The next sync must not take it for that message (the
# mirror would hold another message's bytes under that UID): the file's date (INTERNALDATE, the
# first field of mailkeep's names) differs from the one the state recorded for that UID. Simulated
# on Dovecot by renaming the moved file to the target folder's UIDVALIDITY.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 5 --count 6 --big 0
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice max_connections=1; } | cfg_write "$cfg"
A=$T/mail/alice
mk -c "$cfg" sync
expect_rc 0 "initial sync"
exact "$A"
uv_of() { sed -n 's/^uidvalidity //p' "$A/$1/.mailkeep-state"; }
# move_in FROM UID TO: FROM's file of UID moved into TO/cur under TO's UIDVALIDITY (same UID)
move_in() {
	local f b
	f=$(file_for "$A" "$1" "$2")
	b=${f##*/}
	b=$(printf '%s' "$b" | sed "s/^\([0-9]*\)\.[0-9]*_/\1.$(uv_of "$3")_/")
	mv "$f" "$A/$3/cur/$b"
}
# 1: TO keeps its own file of that UID too (two files for one UID: the right one must be kept)
move_in INBOX 1 Archive
# 2: TO's own file of that UID was deleted (the moved file must not stand for it)
rm -f "$(file_for "$A" Archive 2)"
move_in INBOX 2 Archive
# 3: TO's own file in new/ (a reader moved it there), the moved-in one in cur/ (preferred before)
own=$(file_for "$A" Geschäftlich 3)
mv "$own" "$A/Geschäftlich/new/$(basename "${own%%:2,*}")"
move_in INBOX 3 Geschäftlich
# verify (no network) sees the file that stands for another message
mk -c "$cfg" verify
expect_rc 1 "verify after the moves"
check 'grep -q "^Archive: .*_2\.mailkeep,U=2:2,.*another message.s file" "$MK_OUT"' \
	"the moved-in file not reported by verify: $(cat "$MK_OUT")"
mk -c "$cfg" -v sync
expect_rc 0 "sync after the moves"
exact "$A"
mk -c "$cfg" verify
expect_rc 0 "verify after the sync"
mk -c "$cfg" sync
expect_rc 0 "a second sync"
exact "$A"
t_pass
