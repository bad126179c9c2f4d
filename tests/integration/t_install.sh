#!/usr/bin/env bash
# make install DESTDIR=... PREFIX=/usr stages the binary, both man pages and the sample config; the
# staged binary runs; the man pages render; make uninstall removes them again.
. "$(dirname "$0")/lib.sh"
t_begin
stage=$T/stage
make -s -C "$REPO" install DESTDIR="$stage" PREFIX=/usr >"$T/install.log" 2>&1 ||
	fail "make install failed: $(tail -n 3 "$T/install.log")"
for f in usr/bin/mailkeep usr/share/man/man1/mailkeep.1 usr/share/man/man5/mailkeep.yaml.5 \
	usr/share/doc/mailkeep/sample.yaml; do
	check '[ -f "$stage/$f" ]' "make install did not install $f"
done
check '[ -x "$stage/usr/bin/mailkeep" ]' "installed binary not executable"
"$stage/usr/bin/mailkeep" --version >"$T/v" 2>&1 || fail "installed binary does not run"
check 'grep -qE "^mailkeep [0-9]" "$T/v"' "installed binary prints no version"
"$stage/usr/bin/mailkeep" -c "$stage/usr/share/doc/mailkeep/sample.yaml" check >"$T/c" 2>&1 ||
	fail "the installed sample.yaml does not validate: $(cat "$T/c")"
if command -v man >/dev/null; then
	MANWIDTH=80 man -l "$stage/usr/share/man/man1/mailkeep.1" >"$T/man1" 2>"$T/man1.err" || fail "man -l mailkeep.1 failed"
	check 'grep -q "EXIT STATUS" "$T/man1"' "mailkeep(1) does not render an EXIT STATUS section"
	MANWIDTH=80 man -l "$stage/usr/share/man/man5/mailkeep.yaml.5" >"$T/man5" 2>/dev/null || fail "man -l mailkeep.yaml.5 failed"
	check 'grep -q "max_connections" "$T/man5"' "mailkeep.yaml(5) does not document max_connections"
fi
make -s -C "$REPO" uninstall DESTDIR="$stage" PREFIX=/usr >>"$T/install.log" 2>&1 || fail "make uninstall failed"
check '[ -z "$(find "$stage" -type f)" ]' "make uninstall left files: $(find "$stage" -type f | head -n 3 | tr '\n' ' ')"
t_pass
