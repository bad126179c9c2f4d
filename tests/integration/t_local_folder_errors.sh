#!/usr/bin/env bash
# sync: a folder that fails locally before anything of it is downloaded (its cur/ replaced by a
# symbolic link, which mailkeep refuses to follow) fails alone: the connection stays for the next
# folder. With max_connections 1 and four such folders synced before two good ones (the largest
# folders go first), the run exits 1 naming the four, and the good folders get their new mail
# exactly; once the four are restored, a sync makes the whole mirror exact.
# before: such a local error counted as a network error: each dropped the connection, and after
# MAX_RECONNECTS (3) the good folders failed with "not synced: no connection".
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
BAD="Bad1 Bad2 Bad3 Bad4"
GOOD="Good1 Good2"
i=0
for f in $BAD; do i=$((i + 1)); seed append --folder "$f" --seed $((40 + i)) --count 4; done
for f in $GOOD; do i=$((i + 1)); seed append --folder "$f" --seed $((40 + i)) --count 2; done
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice max_connections=1; } | cfg_write "$cfg"
A=$T/mail/alice
mk -c "$cfg" sync
expect_rc 0 "initial sync"
exact "$A"

for f in $BAD; do
	mv "$A/$f/cur" "$A/$f/cur.real" && ln -s cur.real "$A/$f/cur" || fail "cannot replace $f/cur by a link"
done
i=0
for f in $BAD $GOOD; do i=$((i + 1)); seed append --folder "$f" --seed $((50 + i)) --count 1 --first 10; done
mk -c "$cfg" -v sync
expect_rc 1 "sync with four broken folders"
for f in $BAD; do
	check 'grep -q "error: .*folder \"$f\"" "$MK_ERR"' "the broken folder $f is not reported"
done
check '! grep -q "no connection" "$MK_ERR"' "folders failed for want of a connection: $(grep -m1 'no connection' "$MK_ERR")"
# the good folders: exactly the server's messages, the new one included
for f in $GOOD; do
	n=$(find "$A/$f/cur" -type f | wc -l)
	check '[ "$n" -eq 3 ]' "$f has $n files, not 3 (its new message was not synced)"
done
exact "$A" --ignore-local $BAD

# the broken folders restored: the next sync makes everything exact
for f in $BAD; do
	rm "$A/$f/cur" && mv "$A/$f/cur.real" "$A/$f/cur" || fail "cannot restore $f/cur"
done
mk -c "$cfg" sync
expect_rc 0 "sync after the folders were restored"
exact "$A"
t_pass
