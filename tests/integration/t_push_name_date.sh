#!/usr/bin/env bash
# push sends each message's INTERNALDATE from its file name (where the mirror's names carry it:
# "<internaldate>.<uidvalidity>_<uid>.mailkeep,...") rather than from the file's mtime alone. The
# mtime is easily lost: a mirror copied without -p (cp -r, scp -r), extracted from a snapshot with
# `git archive | tar -x` (every file gets the commit's time), or a message touched by a hand or a
# tool (sync puts mtimes back only at its next listing of the folder, within a day: design.md).
# Before, a push after any of these gave every message that time as its INTERNALDATE on the target,
# for good (a date cannot be changed by IMAP afterwards). A date before 1970, which the name does
# not carry (it says 0), is still taken from the mtime.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed append --folder INBOX --seed 97 --count 4
seed append --folder Archive --seed 98 --count 3
cfg_alice_bob "$T/config.yaml"
mk -c "$T/config.yaml" sync alice
expect_rc 0 "sync of alice"
# every message file's mtime lost (as cp -r or git archive | tar -x leave them)
find "$T/mail/alice" -path '*/cur/*' -type f -exec touch -d '2020-02-02 02:02:02 UTC' {} +
mk -c "$T/config.yaml" push alice bob
expect_rc 0 "push of a mirror whose mtimes were lost"
PC_WHAT="bob is not an exact copy of alice (INTERNALDATE from the mtime?)" pc compare \
	--src "$IMAP_HOST:$IMAP_PORT:alice:$DC/pass-alice" --dst "$IMAP_HOST:$IMAP_PORT:bob:$DC/pass-bob"
mk -c "$T/config.yaml" -v push alice bob
expect_rc 0 "second push"
check 'grep -q "0 messages appended (0 bytes), 0 already there, 0 flag updates" "$MK_ERR"' \
	"the second push did something: $(grep -m1 'push alice -> bob: [0-9]* folders' "$MK_ERR")"
t_pass
