#!/usr/bin/env bash
# A run killed while it wrote a re-key's record leaves <folder>/.mailkeep-rekey.tmp; when the next run
# does not re-key that folder (its UIDVALIDITY changed with a message added: moved aside), the
# temporary file is removed all the same: nothing of the killed re-key is left.
. "$(dirname "$0")/lib.sh"
t_begin
uv_setup --inbox
uv_first_sync
printf 'mailkeep-rekey 1\nfrom 1\n' >"$A/INBOX/.mailkeep-rekey.tmp"
seed append --folder INBOX --seed 61 --count 1
dadm mailbox update -u alice --uid-validity 777 INBOX
mk -c "$cfg" sync
expect_rc 0 "the run after the kill"
check '[ -z "$(find "$A" -name ".mailkeep-rekey*")" ]' "left: $(find "$A" -name ".mailkeep-rekey*" | head -n 1)"
exact "$A" --folders-excluded "${others[@]}"
t_pass
