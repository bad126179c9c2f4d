#!/usr/bin/env bash
# Push reads target messages' flags with FETCH (UID FLAGS) when it checks the UIDs APPENDUID gave
# (here: a killed run's, its push state's "a" lines, the copies since given more keywords than the
# 4096 bytes kept) and warns about keywords it does not keep as sync does: the first 10 messages of
# a folder, then one line for the rest, naming the target account and folder. Before, push never
# told the connection which folder it was in: the warnings named the server, not the folder, and
# their memory spanned the whole push: folder B's messages, of the same UIDs as A's, were taken for
# messages warned about already (none of B's warned), and the limit of 10 was for the whole push.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed append --folder A --seed 61 --count 6
seed append --folder B --seed 62 --count 6
cfg=$T/config.yaml
cfg_alice_bob "$cfg"
A=$T/mail/alice
mk -c "$cfg" sync alice
expect_rc 0 "sync"
mk -c "$cfg" push alice bob
expect_rc 0 "first push"
# more keywords than the 4096 bytes kept, on every copy on bob (as in t_keyword_warn_once)
kws=$(for i in $(seq 1 100); do printf 'Kw%03d_%s ' "$i" "$(printf 'x%.0s' $(seq 1 40))"; done)
dadm flags add -u bob "${kws% }" mailbox A all
dadm flags add -u bob "${kws% }" mailbox B all
# as a run killed before it checked its appends leaves them: pending, with the UID APPENDUID gave
for f in A B; do
	ps=$A/.mailkeep/push/bob/$f/.push-state
	awk '$1 == "m" { print "p " $2 " " $3; print "a " $2 " " $3 " " $4; next } { print }' "$ps" >"$ps.new" &&
		mv "$ps.new" "$ps"
	[ "$(grep -c '^a ' "$ps")" = 6 ] || fail "cannot make $f's entries pending: $(head -n 5 "$ps")"
done
mk -c "$cfg" -v push alice bob
expect_rc 0 "push checking the appends"
check '[ "$(grep -c "6 already there" "$MK_ERR")" = 2 ]' "the appends were not found: $(grep -m1 'already there' "$MK_ERR")"
for f in A B; do
	grep -o "account bob: folder \"$f\": UID [0-9]*: [0-9]* keywords beyond" "$MK_ERR" | sort >"$T/warned.$f"
	check '[ "$(wc -l <"$T/warned.$f")" = 6 ]' \
		"folder $f: $(wc -l <"$T/warned.$f") keyword warnings, not 6: $(grep -m1 'keywords beyond' "$MK_ERR")"
	check '[ -z "$(uniq -d "$T/warned.$f")" ]' "folder $f: a message warned about twice"
done
check '! grep -q "keywords not kept of more messages" "$MK_ERR"' \
	"the limit of 10 spans the push: $(grep -m1 'not kept of more messages' "$MK_ERR")"
t_pass
