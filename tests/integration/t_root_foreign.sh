#!/usr/bin/env bash
# Root syncing into an account directory that belongs to another user (sudo with the user's
# config, a system cron job pointed at a user's mirror) would leave files there that are root's
# and 0600: the owner's own runs could then neither read nor replace them. Refused, before
# anything is made, with the owner named and the remedy. An account directory of "nobody"
# (what an NFS server's root_squash makes of root's own files) is root's run as usual.
# Needs root; skipped otherwise.
. "$(dirname "$0")/lib.sh"
t_begin
if [ "$(id -u)" -ne 0 ]; then
	t_log "not root: skipped"
	t_pass
fi
dc_up
seed populate --seed 29 --count 2 --big 0
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice; acct_yaml bob user=bob password_file="$DC/pass-bob"; } | cfg_write "$cfg"
A=$T/mail/alice
mk -c "$cfg" sync alice
expect_rc 0 "first sync"

chown 12345 "$A"
seed append --folder INBOX --seed 30 --count 1 --first 50
(cd "$A" && find . -printf '%p %u %T@\n' | sort) >"$T/before"
mk -c "$cfg" sync alice
expect_rc 4 "root's sync in another user's account directory"
check 'grep -qF "$A belongs to (uid 12345), not root" "$MK_ERR"' \
	"the error does not name the owner: $(mk_err_line)"
check 'grep -qF "run mailkeep as that user, or chown the directory to root" "$MK_ERR"' "the error does not name the remedy: $(mk_err_line)"
(cd "$A" && find . -printf '%p %u %T@\n' | sort) >"$T/after"
check 'cmp -s "$T/before" "$T/after"' "the refused run changed the mirror: $(diff "$T/before" "$T/after" | head -n 3)"
mk -c "$cfg" snapshot alice
expect_rc 5 "root's snapshot in another user's account directory"
check 'grep -qF "belongs to (uid 12345)" "$MK_ERR"' "snapshot: the error does not name the owner: $(mk_err_line)"

chown 65534 "$A"
mk -c "$cfg" sync alice
expect_rc 0 "an account directory of nobody (root_squash)"
exact "$A"
chown 0 "$A"
mk -c "$cfg" sync alice
expect_rc 0 "the account directory given back to root"
exact "$A"

# push: its target's account directory (where .mailkeep/push.lock goes) is refused the same way
B=$T/mail/bob
mkdir -p "$B" && chown 12345 "$B"
mk -c "$cfg" push alice bob
check '[ "$MK_RC" -ne 0 ]' "root's push into another user's target directory exited 0"
check 'grep -qF "$B belongs to (uid 12345), not root" "$MK_ERR"' "push: the error does not name the target's owner: $(mk_err_line)"
check '[ -z "$(ls -A "$B")" ]' "the refused push made files in the target directory: $(ls -A "$B")"
t_pass
