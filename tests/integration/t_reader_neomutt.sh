#!/usr/bin/env bash
# neomutt, driven headless (script(1) gives it a terminal; keys pushed with -e 'push ...'), opens
# every folder of the mirror read-only (-R) and counts, with its own patterns, all messages (~A),
# unread (~U), flagged (~F), replied (~Q) and deleted (~D, Maildir's T): each must equal the
# server's ALL, UNSEEN, FLAGGED, ANSWERED and DELETED. Then neomutt changes flags and trashes
# (maildir_trash: the T letter) while the server changes too; the next sync makes the mirror exact
# with renames only (no message downloaded again, none twice), and neomutt, with its header cache
# warm from before, counts the server's numbers again. notmuch (maildir.synchronize_flags) follows
# the same renames: its counts equal the server's, one file per message; its own tag changes
# (renames) are undone the same way.
. "$(dirname "$0")/lib.sh"
t_begin
command -v neomutt >/dev/null || fail "neomutt is not installed (make deps)"
command -v script >/dev/null || fail "script (util-linux) is not installed"
command -v notmuch >/dev/null || fail "notmuch is not installed (make deps)"
dc_up
seed populate --seed 61 --count 9 --big 1
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice; } | cfg_write "$cfg"
A=$T/mail/alice
mk -c "$cfg" sync
expect_rc 0 "first sync"
exact "$A" --ignore-local .notmuch

printf '%s\n' "set mbox_type=Maildir" "set folder=$A" "set header_cache=$T/hcache" "set mark_old=no" \
	"set quit=yes" "set delete=yes" "set wait_key=no" "set pipe_split=yes" "set maildir_trash=yes" >"$T/muttrc"
# nm_keys DIR KEYS [-R]: neomutt on DIR with KEYS pushed; fails the test if it fails or hangs
nm_keys() {
	TERM=xterm timeout 30 script -qfec "neomutt ${3:-} -n -F '$T/muttrc' -f '$1' -e 'push \"$2\"'" /dev/null \
		>/dev/null 2>&1 </dev/null || fail "neomutt on $1 failed or hung ($2)"
}
# nm_counts: "path all unread flagged replied deleted" per folder of the mirror, as neomutt counts
# (<tag-prefix-cond> skips to <end-cond> when the pattern matched nothing)
nm_counts() {
	local d p line
	while IFS= read -r d; do
		line=${d#"$A"/}
		for p in '~A' '~U' '~F' '~Q' '~D'; do
			: >"$T/nm.count"
			nm_keys "$d" "<tag-pattern>$p<enter><tag-prefix-cond><pipe-message>echo x >>'$T/nm.count'<enter><end-cond><quit>" -R
			line+=" $(wc -l <"$T/nm.count")"
		done
		printf '%s\n' "$line"
	done < <(find "$A" -path "$A/.mailkeep" -prune -o -type d -name cur -printf '%h\n' | sort)
}
# srv_counts: the same from the server (UID SEARCH), for every selectable folder
srv_counts() {
	python3 - "$LIB_DIR" "$IMAP_PORT" "$DC/pass-alice" <<'PY'
import imaplib, sys
sys.path.insert(0, sys.argv[1])
sys.dont_write_bytecode = True
import compare
c = imaplib.IMAP4("127.0.0.1", int(sys.argv[2]))
c.login("alice", open(sys.argv[3]).readline().strip())
out = []
for flags, delim, name in compare.parse_list(c.list('""', "*")[1]):
    if "\\noselect" in flags or "\\nonexistent" in flags:
        continue
    c.select(compare.imap_quote(name), readonly=True)
    n = []
    for crit in ("ALL", "UNSEEN", "FLAGGED", "ANSWERED", "DELETED"):
        typ, data = c.uid("SEARCH", crit)
        n.append(len(data[0].split()) if data and data[0] else 0)
    out.append(compare.local_path(compare.mutf7_decode(name), delim) + " " + " ".join(map(str, n)))
print("\n".join(sorted(out)))
PY
}
same_counts() {
	nm_counts >"$T/nm.counts"
	srv_counts >"$T/srv.counts" || fail "counting on the server failed"
	CHECKS=$((CHECKS + 1))
	cmp -s "$T/nm.counts" "$T/srv.counts" ||
		fail "$1: neomutt's counts (all unread flagged replied deleted) are not the server's: $(diff "$T/srv.counts" "$T/nm.counts" | grep '^[<>]' | head -n 4 | tr '\n' ' ')"
}
same_counts "first mirror"
check '[ "$(wc -l <"$T/nm.counts")" -eq 7 ]' "neomutt did not open the 7 folders: $(tr '\n' ' ' <"$T/nm.counts")"

export NOTMUCH_CONFIG=$T/notmuch-config
printf '%s\n' "[database]" "path=$A" "[new]" "tags=unread;inbox;" "ignore=.mailkeep-state;.mailkeep" \
	"[maildir]" "synchronize_flags=true" >"$NOTMUCH_CONFIG"
nm_total() { notmuch count "$@"; }
nm_check() { # WHAT: notmuch sees the server's messages and flags, one file each
	[ -d "$A" ] || fail "no mirror at $A"
	notmuch new >"$T/notmuch.out" 2>&1 || fail "notmuch new: $(tail -n 1 "$T/notmuch.out")"
	local all unseen flagged
	read -r all unseen flagged < <(awk '{a += $2; u += $3; f += $4} END {print a, u, f}' "$T/srv.counts")
	check '[ "$(nm_total "*")" -eq "$all" ] && [ "$(nm_total --output=files "*")" -eq "$all" ]' \
		"$1: notmuch has $(nm_total "*") messages in $(nm_total --output=files "*") files, the server $all"
	check '[ "$(nm_total tag:unread)" -eq "$unseen" ]' "$1: notmuch unread $(nm_total tag:unread), server unseen $unseen"
	check '[ "$(nm_total tag:flagged)" -eq "$flagged" ]' "$1: notmuch flagged $(nm_total tag:flagged), server $flagged"
}
nm_check "first mirror"

inode_list "$A" >"$T/ino0"
# neomutt's changes: INBOX all read, Archive/2024 all flagged, R&D's flagged trashed, Archive's
# replied made unread; the server's: flags elsewhere
nm_keys "$A/INBOX" '<tag-pattern>~U<enter><tag-prefix-cond><clear-flag>N<end-cond><sync-mailbox><quit>'
nm_keys "$A/Archive/2024" '<tag-pattern>~A<enter><tag-prefix><set-flag>!<sync-mailbox><quit>'
nm_keys "$A/R&D" '<tag-pattern>~F<enter><tag-prefix-cond><delete-message><end-cond><sync-mailbox><quit>'
nm_keys "$A/Archive" '<tag-pattern>~Q<enter><tag-prefix-cond><set-flag>N<end-cond><sync-mailbox><quit>'
inode_list "$A" >"$T/ino0b"
check '! cmp -s "$T/ino0" "$T/ino0b"' "neomutt changed nothing in the mirror"
dadm flags add -u alice '\Flagged' mailbox Geschäftlich uid 1:3
dadm flags remove -u alice '\Seen' mailbox 日本語 uid 1:*
mk -c "$cfg" sync
expect_rc 0 "sync after neomutt's changes"
exact "$A" --ignore-local .notmuch
inode_list "$A" >"$T/ino1"
inode_expect "$T/ino0" "$T/ino1" "renamed INBOX *" "renamed Archive/2024 *" "renamed R&D *" "renamed Archive *" \
	"renamed Geschäftlich *" "renamed 日本語 *"
same_counts "after the sync that undid neomutt's changes"
nm_check "after the sync that undid neomutt's changes"

# notmuch's own flag changes (synchronize_flags renames), undone the same way
notmuch tag -unread +flagged -- folder:INBOX || fail "notmuch tag"
mk -c "$cfg" sync
expect_rc 0 "sync after notmuch's changes"
exact "$A" --ignore-local .notmuch
inode_list "$A" >"$T/ino2"
inode_expect "$T/ino1" "$T/ino2" "renamed INBOX *"
same_counts "after the sync that undid notmuch's changes"
nm_check "after the sync that undid notmuch's changes"
t_pass
