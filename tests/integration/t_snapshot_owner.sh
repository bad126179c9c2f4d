#!/usr/bin/env bash
# A snapshot repository that belongs to another user (root running for someone else, a network
# file system that gives new files another owner): libgit2 refuses it, as git does, unless git's
# safe.directory lists it. The error must say so and how to fix it, not only libgit2 1.5's
# "config value 'safe.directory' was not found"; with safe.directory set the snapshot works.
# Needs root (to give the repository away); skipped otherwise.
. "$(dirname "$0")/lib.sh"
t_begin
if [ "$(id -u)" -ne 0 ]; then
	t_log "not root: cannot give the repository to another user; skipped"
	t_pass
fi
dc_up
seed populate --seed 23 --count 2 --big 0 --folders INBOX
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice snapshot=true; } | cfg_write "$cfg"
R=$T/mail/alice.git
export HOME=$T/home # the global git configuration read by libgit2
mkdir -p "$HOME"
mk -c "$cfg" sync
expect_rc 0 "first sync with a snapshot"

other=65534 # nobody
chown -R "$other" "$R"
seed append --folder INBOX --seed 24 --count 1 --first 50
mk -c "$cfg" sync
expect_rc 5 "a snapshot repository of another user"
check 'grep -qF "belongs to uid $other, not to uid 0" "$MK_ERR"' "the error does not name the owner: $(mk_err_line)"
check 'grep -qF "safe.directory '"'"'$R'"'"'" "$MK_ERR"' "the error does not name the remedy: $(mk_err_line)"
exact "$T/mail/alice"

git config --global --add safe.directory "$R"
mk -c "$cfg" snapshot
expect_rc 0 "snapshot once the repository is declared safe"
check '[ "$(git --git-dir="$R" ls-tree -r --name-only HEAD | grep /cur/ | grep -vc mailkeep-keep)" -eq 3 ]' \
	"the snapshot does not hold the 3 messages"
t_pass
