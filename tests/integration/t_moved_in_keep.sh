#!/usr/bin/env bash
# A message file moved by hand from another folder of the same UIDVALIDITY (see t_moved_in), with more
# at stake. With deletions: keep the moved-in file stays next to the folder's own file of that UID; the run
# must still record the own file's date, else the next run has no date to
# compare with, takes both for copies of one message and keeps either (another message's bytes
# under the UID, the genuine file removed as a duplicate).
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 5 --count 6 --big 0
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice max_connections=1 deletions=keep; } | cfg_write "$cfg"
A=$T/mail/alice
mk -c "$cfg" sync
expect_rc 0 "initial sync"
exact "$A"
uv_of() { sed -n 's/^uidvalidity //p' "$A/$1/.mailkeep-state"; }
date_of() { sed -n "s/^m $2 [^ ]* \([^ ]*\).*/\1/p" "$A/$1/.mailkeep-state"; }
# move_in FROM UID TO: FROM's file of UID moved into TO/cur under TO's UIDVALIDITY (same UID);
# the moved file's date is made to differ from TO's own (seeded dates may coincide)
move_in() {
	local f b d
	f=$(file_for "$A" "$1" "$2")
	b=${f##*/}
	d=${b%%.*}
	[ "$d" = "$(date_of "$3" "$2")" ] && d=$((d + 86400))
	b=$(printf '%s' "$b" | sed "s/^[0-9]*\.[0-9]*_/$d.$(uv_of "$3")_/")
	mv "$f" "$A/$3/cur/$b"
	printf '%s\n' "$A/$3/cur/$b"
}
own1=$(file_for "$A" Archive 1)
sum1=$(sha256sum <"$own1")
moved1=$(move_in INBOX 1 Archive)
msum1=$(sha256sum <"$moved1")
check '[ "$sum1" != "$msum1" ]' "the seeded messages are the same"
for run in 1 2 3; do
	# a server change in Archive, so that the run examines it
	dadm flags add -u alice "review$run" mailbox Archive uid 3
	mk -c "$cfg" -v sync
	expect_rc 0 "sync $run after the move (keep)"
	check '[ -f "$own1" ] && [ "$(sha256sum <"$own1")" = "$sum1" ]' \
		"run $run: Archive's own file of UID 1 removed or changed (deletions: keep, a moved-in file beside it)"
	check '[ -f "$moved1" ]' "run $run: the moved-in file was removed with deletions: keep"
	check '[ "$(date_of Archive 1)" = "$(basename "$own1" | cut -d. -f1)" ]' \
		"run $run: the state no longer records the date of Archive's UID 1 ($(date_of Archive 1))"
done

# Archive's UID 1 expunged on the server: with deletions: keep its own file stays, and so does the
# moved-in file, another message that nothing on the server stands for (removed as a "copy" of the
# expunged message before, when the folder was listed: that message lost).
dadm expunge -u alice mailbox Archive uid 1
for run in 1 2; do
	touch "$A/Archive/cur" # a reader's change: the run lists the folder, sees both files
	mk -c "$cfg" -v sync
	expect_rc 0 "sync $run after Archive UID 1 was expunged (keep)"
	check '[ -f "$own1" ] && [ "$(sha256sum <"$own1")" = "$sum1" ]' \
		"expunged, run $run: Archive's own file of UID 1 not kept (deletions: keep)"
	check '[ -f "$moved1" ] && [ "$(sha256sum <"$moved1")" = "$msum1" ]' \
		"expunged, run $run: the moved-in file of UID 1, another message, was removed"
done

# push reads the mirror files too: a moved-in file (cur/) beside the folder's own file of that UID
# (new/, where a reader put it) must not be pushed as that message (cur/ sorts first).
cfg2=$T/config2.yaml
cfg_alice_bob "$cfg2" root="$T/mail2"
A=$T/mail2/alice
mk -c "$cfg2" sync alice
expect_rc 0 "sync of the push source"
own3=$(file_for "$A" Geschäftlich 3)
mid3=$(grep -i -m1 '^Message-ID:' "$own3" | tr -d '\r')
check '[ -n "$mid3" ]' "Geschäftlich UID 3 has no Message-ID"
mv "$own3" "$A/Geschäftlich/new/$(basename "${own3%%:2,*}")"
moved3=$(move_in INBOX 3 Geschäftlich)
check '[ "$(grep -i -m1 "^Message-ID:" "$moved3" | tr -d "\r")" != "$mid3" ]' "the seeded messages are the same"
mk -c "$cfg2" push alice bob
expect_rc 0 "push after the move"
# the next sync puts the mirror right (the moved-in file removed, the own file into cur/), and the
# next push must then have sent Geschäftlich's own UID 3
dadm flags add -u alice review mailbox Geschäftlich uid 1
mk -c "$cfg2" sync alice
expect_rc 0 "sync after the push"
exact "$A"
mk -c "$cfg2" push alice bob
expect_rc 0 "second push"
CHECKS=$((CHECKS + 1))
python3 - "$DC/env" "$mid3" >"$T/bob.out" 2>&1 <<'PY' || fail "push: Geschäftlich's own UID 3 is not on the target ($(tail -n 1 "$T/bob.out"))"
import dcimap, sys
c = dcimap.login(2)
typ, _ = c.select('"Gesch&AOQ-ftlich"', readonly=True)
assert typ == "OK", typ
typ, data = c.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
ids = [x[1].decode().strip() for x in data if isinstance(x, tuple)]
print(ids)
want = sys.argv[2].split(":", 1)[1].strip()
sys.exit(0 if any(want in i for i in ids) else 1)
PY
t_pass
