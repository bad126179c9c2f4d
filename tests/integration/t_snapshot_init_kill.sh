#!/usr/bin/env bash
# The first snapshot makes the repository in <snapshot_repo>.init and renames it into place, then
# gives it the mode and group of the empty directory it replaced and removes its mark
# (mailkeep-init). A run killed after the rename (strace: at each chown, chmod and unlink of the
# repository or its mark that follows it) left the mark in the repository for good and the mode
# 0700 and the group of the user (the next run opened the repository and never looked): the next
# run finishes it. Also through a symbolic link on the path: the mark names the repository in one
# spelling (symbolic links and .. resolved), and the next run compares the same spelling (a mark
# written as "$T/lnk/a.git" or "$T/x/../a.git" was "in the way" of a run that read it as another).
. "$(dirname "$0")/lib.sh"
t_begin
# premade NAME DIR MODE: DIR made empty beforehand, with MODE and the group daemon
premade() {
	mkdir -m "$3" "$2"
	chgrp daemon "$2"
}

# kills CASE CONFIG REAL MODE: the calls after the rename into REAL (chown, chmod, unlink of REAL or
# of REAL/mailkeep-init), found by a run under strace; echoes "syscall:n" for each, n counting
# that syscall from the start of the run
kills() {
	local tr=$T/probe.$1
	mk_strace -o "$tr" -e trace=rename,chown,chmod,unlink -- -c "$2" snapshot || fail "the probe run of $1 failed"
	awk -v real="$3" '
		{ sc = $2; sub(/\(.*/, "", sc); n[sc]++ }
		index($0, "rename(\"" real ".init\", \"" real "\")") { after = 1; next }
		after && (index($0, "(\"" real "\",") || index($0, "(\"" real "/mailkeep-init\")")) { print sc ":" n[sc] }
	' "$tr"
}

# prep CASE: the mirror, the configuration and what is at the repository's path, as before the first
# snapshot; sets real (where the repository goes) and want (its mode and group once made)
prep() {
	chmod -R u+w "$T/ro" "$T/linkreal" 2>/dev/null
	rm -rf "${T:?}/linkreal" "$T/lnk"
	case $1 in
	ro) snap_mirror ro "$T/ro/a.git"; real=$T/ro/a.git; want=550:daemon; premade ro "$real" 550 ;;
	link) # a symbolic link on the path to a directory made beforehand
		snap_mirror link "$T/lnk/a.git"
		mkdir -p "$T/linkreal"
		ln -s "$T/linkreal" "$T/lnk"
		real=$T/linkreal/a.git
		want=750:daemon
		premade link "$real" 750 ;;
	nothing) snap_mirror nothing "$T/nothing/a.git"; real=$T/nothing/a.git; want=700:$(id -gn) ;;
	esac
}

for c in ro link nothing; do
	prep $c
	points=$(kills $c "$T/$c.yaml" "$real")
	[ -n "$points" ] || fail "$c: no call after the rename into $real: $(tail -n 5 "$T/probe.$c")"
	t_log "$c: kill points $(echo $points)"
	unlinked=0
	for p in $points; do
		prep $c
		# a mode without the owner's write is set after the mark's removal, which needs it: killed
		# between the two, the owner's bits stay rwx (the rest is right)
		[ $unlinked = 1 ] && want=$(printf '7%s' "${want#?}")
		case $p in unlink:*) unlinked=1 ;; esac
		sc=${p%%:*} n=${p#*:}
		mk_strace -o /dev/null -e trace="$sc" -e inject="$sc:signal=KILL:when=$n" -- -c "$T/$c.yaml" snapshot
		krc=$?
		check '[ $krc = 137 ]' "$c: the run was not killed at $p (exit $krc)"
		check '[ ! -e "$real.init" ]' "$c, killed at $p: $real.init left"
		mk -c "$T/$c.yaml" snapshot
		expect_rc 0 "$c: snapshot after a run killed at $p"
		check 'snap_committed "$real"' "$c, killed at $p: no commit"
		check '[ ! -e "$real/mailkeep-init" ]' "$c, killed at $p: the mark stayed in the repository"
		check '[ "$(stat -c %a:%G "$real")" = "$want" ]' "$c, killed at $p: mode and group $(stat -c %a:%G "$real"), not $want"
	done
done

# a mark a killed run wrote under another spelling of the same repository: the next run's, with the
# empty directory made meanwhile and reached through a symbolic link, or with .. in the path
snap_mirror spell "$T/spell/a.git"
mkdir -p "$T/spell/x" "$T/spell/a.git.init"
echo "$T/spell/x/../a.git" >"$T/spell/a.git.init/mailkeep-init"
mk -c "$T/spell.yaml" snapshot
expect_rc 0 "snapshot after a mark written as x/../a.git"
check 'snap_committed "$T/spell/a.git"' "no commit (x/../a.git)"
check '[ ! -e "$T/spell/a.git.init" ] && [ ! -e "$T/spell/a.git/mailkeep-init" ]' "a leftover or mark stayed (x/../a.git)"
snap_mirror spell2 "$T/lnk2/a.git"
mkdir -p "$T/spell2real/a.git.init" "$T/spell2real/a.git"
ln -s "$T/spell2real" "$T/lnk2"
echo "$T/lnk2/a.git" >"$T/spell2real/a.git.init/mailkeep-init"
mk -c "$T/spell2.yaml" snapshot
expect_rc 0 "snapshot after a mark written through the link"
check 'snap_committed "$T/spell2real/a.git"' "no commit (through the link)"
check '[ ! -e "$T/spell2real/a.git.init" ]' "the leftover stayed (through the link)"
# a file of that name in a repository, not naming it: the user's, left alone
git init -q --bare "$T/own.git"
echo "my notes" >"$T/own.git/mailkeep-init"
snap_mirror own "$T/own.git"
mk -c "$T/own.yaml" snapshot
expect_rc 0 "snapshot into a repository with a file of the user's named mailkeep-init"
check '[ "$(cat "$T/own.git/mailkeep-init")" = "my notes" ]' "the user's file named mailkeep-init was removed"
# a mark naming the repository, written into it by another user (a repository shared with a
# group): not the user's, so not finished with; its mode and group stay (was: 4777 and root's)
git init -q --bare "$T/shared.git"
chmod 2770 "$T/shared.git"
chgrp daemon "$T/shared.git"
printf '%s\nwas 4777 0\n' "$(realpath "$T/shared.git")" >"$T/shared.git/mailkeep-init"
chown nobody "$T/shared.git/mailkeep-init"
snap_mirror shared "$T/shared.git"
mk -c "$T/shared.yaml" snapshot
expect_rc 0 "snapshot into a shared repository with another user's mailkeep-init naming it"
check '[ "$(stat -c %a:%G "$T/shared.git")" = 2770:daemon ]' \
	"another user's mark set the repository's mode and group: $(stat -c %a:%G "$T/shared.git"), not 2770:daemon"
check '[ -e "$T/shared.git/mailkeep-init" ]' "another user's mailkeep-init was removed"
# the group cannot be given back (EPERM: a group the user is not in; strace inject): the mode still
# is (0750 stayed 0700: the chmod was skipped), with a warning
snap_mirror perm "$T/perm/a.git"
premade perm "$T/perm/a.git" 750
mk_strace -o /dev/null -e trace=chown -e inject=chown:error=EPERM -- -c "$T/perm.yaml" snapshot
prc=$? # not $? inside check: its own CHECKS=... has set it to 0 by then
check '[ $prc = 0 ]' "snapshot with the group refused: $(tail -n 1 "$T/traced.err")"
check 'grep -q "cannot give it back its group" "$T/traced.err"' "no warning: $(cat "$T/traced.err")"
check '[ "$(stat -c %a "$T/perm/a.git")" = 750 ]' "mode $(stat -c %a "$T/perm/a.git") with the group refused, not 750"
check '[ ! -e "$T/perm/a.git/mailkeep-init" ]' "the mark stayed with the group refused"
t_pass
