#!/usr/bin/env bash
# The account directory and its .mailkeep are made private (0700) like the folders, also when they
# were made beforehand with the user's umask (`mkdir -p`, a mirror restored from an archive or a
# snapshot): they stayed 0755, and other users could list the account's folder names.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 28 --count 2 --big 0
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice; } | cfg_write "$cfg"
A=$T/mail/alice

(umask 022 && mkdir -p "$A")
mk -c "$cfg" sync
expect_rc 0 "first sync into an account directory made beforehand"
check '[ "$(stat -c %a "$A")" = 700 ]' "account directory left mode $(stat -c %a "$A")"
exact "$A"

# opened to others while nothing changed on the server: the next (no-change) run closes them
chmod 755 "$A" "$A/.mailkeep"
mk -c "$cfg" sync
expect_rc 0 "no-change sync"
check '[ "$(stat -c %a "$A")" = 700 ]' "account directory left mode $(stat -c %a "$A")"
check '[ "$(stat -c %a "$A/.mailkeep")" = 700 ]' ".mailkeep left mode $(stat -c %a "$A/.mailkeep")"
exact "$A"

# an account directory kept elsewhere behind a symbolic link (another disk): the directory it
# points to is made private too
mv "$A" "$T/elsewhere"
ln -s "$T/elsewhere" "$A"
chmod 755 "$T/elsewhere"
mk -c "$cfg" sync
expect_rc 0 "sync through a symbolic link to the account directory"
check '[ -L "$A" ]' "the symbolic link was replaced"
check '[ "$(stat -c %a "$T/elsewhere")" = 700 ]' "linked account directory left mode $(stat -c %a "$T/elsewhere")"
exact "$T/elsewhere"
t_pass
