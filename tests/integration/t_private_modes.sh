#!/usr/bin/env bash
# Nothing mailkeep writes is open to group or others: the mirror (0700 directories, 0600 files), its
# .mailkeep files and the snapshot repository (git objects 0400, the rest 0600/0700). A .mailkeep
# file opened to others since (lock, server, namespace, last-run, snapshot-state: a chmod, a copy
# made with the user's umask) is made 0600 again by the next run, as the folders' files are; lock,
# server and namespace, written once, stayed 0644. So are push's states by the next push, and the
# directories directly in .mailkeep by the next run; an old copy of a folder (uidvalidity-<old>) is
# made private as it is moved aside. Each stayed open to others before.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 29 --count 3 --big 0
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice snapshot=true; } | cfg_write "$cfg"
A=$T/mail/alice
R=$T/mail/alice.git

# open_to_others DIR...: what under DIR group or others may read, write or enter
open_to_others() { find "$@" -perm /077 -printf '%m %p\n' | head -n 5 | tr '\n' ' '; }

mk -c "$cfg" sync
expect_rc 0 "first sync with snapshot: true"
for f in lock server namespace last-run snapshot-state; do
	check '[ -f "$A/.mailkeep/$f" ]' "no .mailkeep/$f after the first sync"
done
check '[ -z "$(open_to_others "$A" "$R")" ]' "open to others after the first sync: $(open_to_others "$A" "$R")"
objs=$(find "$R/objects" -type f | wc -l)
check '[ "$objs" -gt 0 ] && [ -z "$(find "$R/objects" -type f ! -perm 0400)" ]' \
	"git objects not 0400 ($objs objects): $(find "$R/objects" -type f ! -perm 0400 -printf '%m %p\n' | head -n 3 | tr '\n' ' ')"
# the rest 0600, but for libgit2's hooks/README.sample (0755 in its template: 0700)
others() { find "$R" ! -path "$R/objects/*" ! -path "$R/hooks/*" -type f ! -perm 0600 -printf '%m %p\n'; }
check '[ -z "$(others)" ]' "repository files not 0600: $(others | head -n 3 | tr '\n' ' ')"

# opened to others, nothing changed on the server: a no-change run makes them private again
(cd "$A/.mailkeep" && chmod 644 lock server namespace last-run snapshot-state)
mk -c "$cfg" sync
expect_rc 0 "no-change sync"
for f in lock server namespace last-run snapshot-state; do
	check '[ "$(stat -c %a "$A/.mailkeep/$f")" = 600 ]' ".mailkeep/$f left mode $(stat -c %a "$A/.mailkeep/$f")"
done
check '[ -z "$(open_to_others "$A" "$R")" ]' "open to others after the no-change sync: $(open_to_others "$A" "$R")"

# a new message: a commit, new objects, the same modes
seed append --folder INBOX --count 1 --first 500
mk -c "$cfg" sync
expect_rc 0 "sync of a new message"
check '[ -z "$(open_to_others "$A" "$R")" ]' "open to others after a commit: $(open_to_others "$A" "$R")"
check '[ -z "$(find "$R/objects" -type f ! -perm 0400)" ]' "git objects not 0400 after a commit"

# mailkeep snapshot takes the account's lock too
chmod 644 "$A/.mailkeep/server"
mk -c "$cfg" snapshot
expect_rc 0 "mailkeep snapshot"
check '[ "$(stat -c %a "$A/.mailkeep/server")" = 600 ]' "mailkeep snapshot left .mailkeep/server mode $(stat -c %a "$A/.mailkeep/server")"

# push's states (.mailkeep/push/bob: .server, a directory and a .push-state per folder) opened to
# others are private again after the next push, which reads them: they stayed 0644 and 0755
cfg2=$T/push.yaml
cfg_alice_bob "$cfg2"
P=$A/.mailkeep/push/bob
mk -c "$cfg2" push alice bob
expect_rc 0 "push alice bob"
check '[ -f "$P/.server" ] && [ -f "$P/INBOX/.push-state" ] && [ -f "$P/Archive/2024/.push-state" ]' \
	"no push states in $P: $(cd "$P" 2>/dev/null && find . | head -n 5 | tr '\n' ' ')"
check '[ -z "$(open_to_others "$A")" ]' "open to others after a push: $(open_to_others "$A")"
find "$A/.mailkeep/push" -type d -exec chmod 755 {} +
find "$P" -type f -exec chmod 644 {} +
mk -c "$cfg2" push alice bob
expect_rc 0 "push after chmod 644/755 of its states"
check '[ -z "$(open_to_others "$A")" ]' "open to others after the next push: $(open_to_others "$A")"

# a folder whose UIDVALIDITY changed moves aside to .mailkeep/uidvalidity-<old>/ as it is: a message
# and the state opened to others before are private with the move, which makes the copy once (a
# folder's files are put back only as it is listed, and the copy never is); uidvalidity-<old> and
# push, chmod 755 since, are 0700 again after the next run, as every directory directly in .mailkeep
old_uv=$(dadm_out mailbox status -u alice uidvalidity INBOX | sed 's/.*uidvalidity=//')
msg=$(cd "$A/INBOX/cur" && ls | head -n 1)
check '[ -n "$old_uv" ] && [ -n "$msg" ]' "no UIDVALIDITY ($old_uv) or no message in INBOX/cur"
chmod 644 "$A/INBOX/cur/$msg" "$A/INBOX/.mailkeep-state"
# new mail and the first message expunged: not the state's messages, moved aside (new mail
# alone is re-keyed)
seed append --folder INBOX --count 1 --first 600
dadm expunge -u alice mailbox INBOX 1
dadm mailbox update -u alice --uid-validity 777 INBOX
mk -c "$cfg" sync
expect_rc 0 "sync after INBOX's UIDVALIDITY changed"
U=$A/.mailkeep/uidvalidity-$old_uv
check '[ -f "$U/INBOX/cur/$msg" ]' "no old copy of $msg in $U/INBOX/cur"
for f in "INBOX/cur/$msg" INBOX/.mailkeep-state; do
	check '[ "$(stat -c %a "$U/$f")" = 600 ]' "the old copy's $f left mode $(stat -c %a "$U/$f")"
done
check '[ -z "$(open_to_others "$A" "$R")" ]' "open to others after the move aside: $(open_to_others "$A" "$R")"
chmod 755 "$U" "$A/.mailkeep/push"
mk -c "$cfg" sync
expect_rc 0 "no-change sync after chmod 755 of uidvalidity-$old_uv and push"
check '[ -z "$(find "$A/.mailkeep" -type d ! -perm 0700)" ]' \
	"directories in .mailkeep not 0700: $(find "$A/.mailkeep" -type d ! -perm 0700 -printf '%m %p\n' | head -n 3 | tr '\n' ' ')"
check '[ -z "$(open_to_others "$A" "$R")" ]' "open to others at the end: $(open_to_others "$A" "$R")"
exact "$A"
t_pass
