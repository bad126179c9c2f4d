#!/usr/bin/env bash
# The push states live in the mirror (<account>/.mailkeep/push/TARGET/...): a symbolic link on
# that way (.mailkeep/push made a link to a directory outside the mirror) is not followed. Before,
# every folder's .push-state was written through it, outside the mirror, and push exited 0. Now
# the push fails naming the link, and nothing is written outside.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 5 --count 3 --big 0
cfg=$T/config.yaml
cfg_alice_bob "$cfg"
A=$T/mail/alice
mk -c "$cfg" sync alice
expect_rc 0 "sync"
OUT=$T/outside
mkdir -p "$OUT"
ln -s "$OUT" "$A/.mailkeep/push"
mk -c "$cfg" push alice bob
check '[ "$MK_RC" -ne 0 ]' "push through a linked state directory exited 0"
check 'grep -q "symbolic link, not followed" "$MK_ERR"' "the link is not named: $(mk_err_line)"
check '[ -z "$(find "$OUT" -mindepth 1 | head -n 1)" ]' "written outside the mirror: $(find "$OUT" -mindepth 1 | head -n 3 | tr '\n' ' ')"
# the link gone, the push goes
rm "$A/.mailkeep/push"
mk -c "$cfg" push alice bob
expect_rc 0 "push without the link"
check '[ -n "$(find "$A/.mailkeep/push" -name .push-state | head -n 1)" ]' "no push state written"
t_pass
