#!/usr/bin/env bash
# A run killed while it moves a folder whose UIDVALIDITY changed aside, at every call from the first
# mkdir of .mailkeep/uidvalidity-<old>/ to the end of the move (crash_inject.c), then a run that
# is not killed: the old copy is whole (the folder's files and state), with no move mark and no
# killed run's partial download in its tmp/, and not split (no uidvalidity-<old>.1). Before, a kill
# once the state had moved (the last rename) and before the mark was removed left both for good: the
# next run found the folder empty and had no old copy to finish.
. "$(dirname "$0")/lib.sh"
t_begin
uv_setup --inbox
preload_shims crash_inject
uv_first_sync
uv_get uv INBOX
listing() { # DIR: "sha256 relative-path" of every file in DIR's cur/ and new/ and its state
	(cd "$1" && find cur new .mailkeep-state -type f -print0 2>/dev/null | sort -z | xargs -0r sha256sum)
}
listing "$A/INBOX" >"$T/before"
check '[ -s "$T/before" ]' "INBOX holds nothing"
printf 'partial\n' >"$A/INBOX/tmp/1796000000.4242_1.mailkeep.part"
# new mail and the first message expunged: not the messages of the state, so moved aside (not
# re-keyed: t_uidvalidity_rekey_kill)
seed append --folder INBOX --seed 62 --count 1
dadm expunge -u alice mailbox INBOX 1
dadm mailbox update -u alice --uid-validity 777 INBOX
rm -rf "$T/save" && cp -a "$A" "$T/save"

inj_sync 0 "" "$T/count.log"
check '[ "$INJ_RC" = 0 ]' "the counting run failed ($INJ_RC): $(head -n 2 "$T/inj.err")"
# from the making of .mailkeep/uidvalidity-<old>/ to the removal of the mark or the state's rename
# into the old copy, whichever is later (named in full; a file in tmp/ by its name alone), and the
# two calls after
first=$(grep -m1 -E "^[0-9]+ mkdir $A/\.mailkeep/uidvalidity-$uv$" "$T/count.log" | cut -d' ' -f1)
last=$(grep -E "^[0-9]+ (unlink[a-z]* $A/\.mailkeep/uidvalidity-$uv/INBOX/\.mailkeep-moving|rename[a-z0-9]* $A/\.mailkeep/uidvalidity-$uv/INBOX/\.mailkeep-state)$" \
	"$T/count.log" | tail -n 1 | cut -d' ' -f1)
check '[ -n "$first" ] && [ -n "$last" ] && [ "$first" -lt "$last" ]' \
	"cannot find the move aside in the shim's log: first=$first last=$last"

n=0
for ((k = first; k <= last + 2; k++)); do
	for when in before after; do
		rm -rf "$A" && cp -a "$T/save" "$A"
		inj_sync "$k" "$when"
		[ "$INJ_RC" = 137 ] || [ "$INJ_RC" = 0 ] || fail "call $k ($when): exit $INJ_RC: $(head -n 2 "$T/inj.err")"
		mk -c "$cfg" sync
		expect_rc 0 "the run after a kill at call $k ($when)"
		exact "$A" --folders-excluded "${others[@]}"
		old=$A/.mailkeep/uidvalidity-$uv/INBOX
		listing "$old" >"$T/after"
		check 'cmp -s "$T/before" "$T/after"' \
			"kill at call $k ($when): the old copy is not INBOX as it was: $(diff "$T/before" "$T/after" | head -n 3 | tr '\n' ' ')"
		check '[ ! -e "$old/.mailkeep-moving" ]' "kill at call $k ($when): the move's mark is left in the old copy"
		check '[ -z "$(tmp_files "$old")" ]' "kill at call $k ($when): left in the old copy's tmp/: $(tmp_files "$old" | head -n 1)"
		check '[ ! -e "$A/.mailkeep/uidvalidity-$uv.1" ]' "kill at call $k ($when): the old copy was split"
		n=$((n + 1))
	done
done
echo "# $n kills from call $first to $((last + 2))"
t_pass
