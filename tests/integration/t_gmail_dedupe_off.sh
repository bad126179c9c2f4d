#!/usr/bin/env bash
# Gmail dedupe turned off on a mirror made with it: the store (.mailkeep/gmail/<X-GM-MSGID>) keeps
# its links of the messages synced before, and a message that then leaves every folder leaves the
# store too, as with dedupe on (mailkeep.yaml(5), gmail_dedupe). Before, the store was pruned only
# while gmail_dedupe was on: after turning it off, every message deleted on the server stayed in
# the store for good, a hidden copy nothing would ever remove.
. "$(dirname "$0")/lib.sh"
t_begin
gmail_up
m5=$((base + 5))
m6=$((base + 6))
mk -c "$cfg" sync
expect_rc 0 "first sync, gmail_dedupe on"
exact_fake "$acct" "after the first sync"
check '[ -e "$store/$m6" ] && [ -e "$store/$m5" ]' "M5 or M6 not in the store after the first sync"

# stage 3: M6 leaves every folder (All Mail and Personal), M5 leaves Work only
gmail_cfg gmail_dedupe=false
touch "$FAKE_LOG.on" "$FAKE_LOG.on3"
mk -c "$cfg" sync
expect_rc 0 "sync with gmail_dedupe: false after M6 left every folder"
exact_fake "$acct" "after stage 3 with gmail_dedupe: false"
check '[ ! -e "$store/$m6" ]' "M6 is still in the store after leaving every folder (gmail_dedupe: false)"
check '[ -e "$store/$m5" ]' "the store lost M5, which All Mail still holds"
t_pass
