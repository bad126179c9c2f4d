#!/usr/bin/env bash
# On a file system that ignores case (vfat, exFAT, casefold ext4, macOS; simulated here: the
# account's .MAILKEEP is a link to .mailkeep, which is how mailkeep detects one), "Foo" and "foo"
# are one directory and only one of them is mirrored (design.md, "Layout"):
# - the one mirrored there so far keeps it: a "foo" the server starts listing before "Foo" took
#   the directory over, moved Foo's copy aside as a UIDVALIDITY change and stopped mirroring Foo;
# - an excluded folder owns no directory: excluding the one listed first still skipped the other
#   with an error naming the excluded one (exit 1), though design.md says to exclude one of them.
. "$(dirname "$0")/lib.sh"
t_begin
pf=$(fake_pass)
fake_up names-fold
root=$T/root
acct=$root/fake
cfg=$T/config.yaml
ycfg() { # ycfg FILE [folders: line]
	{ echo "accounts:"; acct_yaml fake root="$root" port="$FAKE_PORT" tls=none user=u password_file="$pf" timeout=20 ${2:+"raw=$2"}; } |
		cfg_write "$1"
}
ycfg "$cfg"
mkdir -p "$acct/.mailkeep"
ln -s .mailkeep "$acct/.MAILKEEP"
mk -c "$cfg" sync
expect_rc 0 "first sync (Foo only)"
check '[ "$(ls "$acct/Foo/cur" | wc -l)" -eq 2 ]' "Foo not mirrored"
ls "$acct/Foo/cur" >"$T/foo0"

# the server now lists "foo" before "Foo": Foo keeps its directory, foo is the one skipped
touch "$FAKE_LOG.on"
mk -c "$cfg" sync
expect_rc 1 "sync with foo listed before Foo"
check 'grep -q "folder \"foo\" maps to the same directory as folder \"Foo\" (this file system ignores case)" "$MK_ERR"' \
	"foo not the one skipped: $(mk_err_line)"
check '[ ! -e "$acct/foo" ]' "foo got a directory"
check '[ -z "$(ls -d "$acct/.mailkeep/"*aside* "$acct/.mailkeep/uidvalidity"* 2>/dev/null)" ]' \
	"Foo's copy was moved aside: $(ls "$acct/.mailkeep")"
check 'ls "$acct/Foo/cur" | cmp -s - "$T/foo0"' "Foo's files changed"

# foo excluded (the one listed first): a clean run
ycfg "$T/ex1.yaml" 'folders: {exclude: [foo]}'
mk -c "$T/ex1.yaml" sync
expect_rc 0 "sync with foo excluded"
check '! grep -q "same directory" "$MK_ERR"' "still a collision with foo excluded: $(mk_err_line)"
check 'ls "$acct/Foo/cur" | cmp -s - "$T/foo0"' "Foo's files changed with foo excluded"
# Foo excluded (the one mirrored so far): foo is mirrored, a clean run
ycfg "$T/ex2.yaml" 'folders: {exclude: [Foo]}'
mk -c "$T/ex2.yaml" sync
expect_rc 0 "sync with Foo excluded"
check '! grep -q "same directory" "$MK_ERR"' "still a collision with Foo excluded: $(mk_err_line)"
bg_kill "$FAKE_PID"
t_pass
