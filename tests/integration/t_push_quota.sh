#!/usr/bin/env bash
# A target over quota: the push stops that folder with a clear message and exit 1, loses nothing
# and duplicates nothing; once the quota is lifted a second push completes the copy exactly.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 11 --count 4 --big 3
writecfg() {
	cfg_alice_bob "$T/config.yaml"
}
writecfg
mk -c "$T/config.yaml" sync alice
expect_rc 0 "sync of alice"

# restart with a 300 KB quota for every user (alice is already over it: only appends are refused)
dc_down
dc_up --quota 300000
writecfg
mk -c "$T/config.yaml" push alice bob
expect_rc 1 "push into a target over quota"
check 'grep -qi "quota" "$MK_ERR"' "no quota message: $(mk_err_line)"
check 'grep -q "bob" "$MK_ERR"' "the message does not name the target"

# lift the quota: the next push completes, exactly once per message
dc_down
dc_up
writecfg
mk -c "$T/config.yaml" push alice bob
expect_rc 0 "push after the quota was lifted"
PC_WHAT="bob is not an exact copy of alice" pc compare --src "$IMAP_HOST:$IMAP_PORT:alice:$DC/pass-alice" \
	--dst "$IMAP_HOST:$IMAP_PORT:bob:$DC/pass-bob"
t_pass
