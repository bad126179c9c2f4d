#!/usr/bin/env bash
# deletions: keep, and a server that calls every message of a folder gone (VANISHED 1:4294967295 in
# its EXAMINE answer, hostile_matrix.py's vanished-all-now) and then lists them again (the evolved
# server, where one of them also changed its flags). The kept files are not in the folder's state,
# so a view taken from the state lacked them and the message came back as a second file beside its
# kept one (before: two files of Bad UID 3, and the next runs said "unchanged"). A plan that wants
# a UID below the state's UIDNEXT makes such a folder read its directory: one file per message.
. "$(dirname "$0")/lib.sh"
t_begin
pf=$(fake_pass)
root=$T/root
A=$root/hm

# run SCENARIO WHAT: a sync against a new hostile_matrix.py server playing SCENARIO
run() {
	hm_up "$1" "hm-$1.log"
	{ echo "accounts:"; acct_yaml hm root="$root" port="$HM_PORT" tls=none user=u password_file="$pf" \
		timeout=10 max_connections=1 deletions=keep; } | cfg_write "$T/$1.yaml"
	mk -c "$T/$1.yaml" -v sync
	bg_kill "$HM_PID"
}

# no_copies WHAT: fail when a folder holds two files of one UID (same UIDVALIDITY and UID in the name)
no_copies() {
	local dup
	dup=$(find "$A" -path '*/.mailkeep' -prune -o -type f \( -path '*/cur/*' -o -path '*/new/*' \) -printf '%h %f\n' |
		sed -n 's#^\(.*\)/\(cur\|new\) [0-9]*\.\([0-9]*_[0-9]*\)\.mailkeep,.*#\1 \3#p' | sort | uniq -d | head -n 3)
	check '[ -z "$dup" ]' "$1: two files of one message: $dup"
}

run baseline
expect_rc 0 "first sync"
run vanished-all-now
check '[ $MK_RC -eq 0 ] || [ $MK_RC -eq 1 ]' "sync against vanished-all-now: exit $MK_RC: $(mk_err_line)"
no_copies "after vanished-all-now"
for k in 1 2; do
	run evolved
	expect_rc 0 "sync $k against the evolved server"
	no_copies "after sync $k against the evolved server"
done
t_pass
