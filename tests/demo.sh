#!/usr/bin/env bash
# mailkeep demo: bash tests/demo.sh /abs/path/to/mailkeep
#
# Starts a throwaway Dovecot (tests/fixture/dovecot.sh) in a temp dir, fills it with ~40 messages,
# mirrors it with mailkeep over implicit TLS, shows the mirror, runs again (a no-op), changes a
# few things on the server, runs once more (an incremental update) and, with snapshots on, shows
# the git history. Everything lives in the temp dir, which is removed at exit with Dovecot stopped.
# Needs: make deps (dovecot, openssl, python3, git) and root or an ordinary user with a home.
set -u
set -o pipefail

MK=${1:-}
if [ -z "$MK" ] || [ ! -x "$MK" ]; then
	echo "usage: bash tests/demo.sh /abs/path/to/mailkeep" >&2
	exit 2
fi
case $MK in /*) ;; *) MK=$PWD/$MK ;; esac
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=fixture/dovecot.sh
. "$here/fixture/dovecot.sh"

for tool in dovecot doveadm openssl python3; do
	command -v "$tool" >/dev/null || { echo "demo: $tool is missing; run 'make deps' first" >&2; exit 1; }
done

D=$(mktemp -d /tmp/mailkeep-demo.XXXXXX) || exit 1
cleanup() {
	dovecot_down "$D/dovecot" >/dev/null 2>&1
	rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -t 1 ]; then
	step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	step() { printf '\n== %s\n' "$*"; }
fi
run() { printf '$ %s\n' "$*"; "$@"; }
die() { echo "demo: $*" >&2; exit 1; }

step "Starting a throwaway Dovecot in $D/dovecot"
dovecot_up "$D/dovecot" || die "the Dovecot fixture did not start"
# shellcheck disable=SC1091
. "$D/dovecot/env"
doveadm_() { doveadm -c "$DOVECOT_CONF" "$@"; }

step "Seeding 40 messages into INBOX, Archive/2024, Geschäftlich, 日本語"
python3 "$here/fixture/seed.py" populate "$D/dovecot/env" --seed 2024 --count 10 --big 0 \
	--folders 'INBOX,Archive/2024,Geschäftlich,日本語' || die "seeding failed"
doveadm_ mailbox status -u "$IMAP_USER" 'messages uidvalidity' '*'

CFG=$D/config.yaml
ROOT=$D/Mail
cat >"$CFG" <<YAML
# mailkeep demo configuration
accounts:
  - name: demo
    root: $ROOT
    host: $IMAP_HOST
    port: $IMAPS_PORT
    tls: implicit
    ca_file: $CA_FILE
    user: $IMAP_USER
    password_file: $D/dovecot/pass-$IMAP_USER
    deletions: mirror
    snapshot: true
YAML
step "The configuration ($CFG)"
cat "$CFG"

show_tree() {
	local acct=$ROOT/demo d n rel
	echo "mirror of account demo: $acct"
	while IFS= read -r d; do
		rel=${d#"$acct"/}
		n=$(find "$d/cur" "$d/new" -type f 2>/dev/null | wc -l)
		printf '  %3d messages  %s/\n' "$n" "$rel"
		find "$d/cur" -type f -printf '%f\n' 2>/dev/null | sort | head -n 2 | sed 's/^/      /'
	done < <(find "$acct" -path "$acct/.mailkeep" -prune -o -type d -name cur -printf '%h\n' | sort)
}

show_git() {
	local repo=$ROOT/demo.git
	if [ -d "$repo" ]; then
		step "Snapshot history (git --git-dir=$repo log --stat --oneline | head)"
		git --git-dir="$repo" -c core.quotepath=off log --stat --oneline | head -n 20
	else
		echo "(no snapshot repository at $repo)"
	fi
}

step "First run: full mirror"
run "$MK" -c "$CFG" -v sync
rc=$?
[ $rc -eq 0 ] || die "mailkeep sync exited $rc"
step "The mirror"
show_tree

step "Second run: nothing changed on the server, nothing changes locally"
before=$(cd "$ROOT/demo" && find . -path ./.mailkeep -prune -o -type f ! -name .mailkeep-state -printf '%i %p\n' | sort)
run "$MK" -c "$CFG" -v sync
rc=$?
[ $rc -eq 0 ] || die "mailkeep sync exited $rc"
after=$(cd "$ROOT/demo" && find . -path ./.mailkeep -prune -o -type f ! -name .mailkeep-state -printf '%i %p\n' | sort)
if [ "$before" = "$after" ]; then
	echo "=> no file was renamed, rewritten, added or removed"
else
	echo "=> files changed:"
	diff <(echo "$before") <(echo "$after") | head -n 10
fi

step "Changing the server: flag a message, expunge one, deliver two"
run doveadm -c "$DOVECOT_CONF" flags add -u "$IMAP_USER" '\Flagged' mailbox INBOX uid 2
run doveadm -c "$DOVECOT_CONF" expunge -u "$IMAP_USER" mailbox Archive/2024 uid 3
python3 "$here/fixture/seed.py" append "$D/dovecot/env" --folder INBOX --seed 7 --count 2 || die "append failed"
step "Third run: an incremental update"
run "$MK" -c "$CFG" -v sync
rc=$?
[ $rc -eq 0 ] || die "mailkeep sync exited $rc"
show_tree
show_git

step "Stopping Dovecot"
dovecot_down "$D/dovecot" && echo "stopped; $D is removed on exit"
