#!/usr/bin/env bash
# A push target whose SEARCH LARGER/SMALLER compare the size of the message as it stores it, its
# CRLFs as LF, not its RFC822.SIZE: Courier-IMAP does (tests/interop/courier.sh). The messages
# looked up there must still be found: after a lost push state (every message looked up by
# Message-ID and size; uidplus also adds the final CRLF a message lacks, as Courier does: seed.py
# makes such messages), and without UIDPLUS (the target UIDs learnt by SEARCH after each batch:
# else a flag change made later never reaches the target).
# Found by tests/interop/courier.sh: a push killed in the middle of a batch appended that batch's
# messages a second time on Courier.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
seed populate --seed 41 --count 6 --big 1 --folders "INBOX,Archive,Archive/2024,R&D"
SRC="127.0.0.1:$IMAP_PORT:alice:$DC/pass-alice"
pf=$(fake_pass)
push_fake_up uidplus --lifetime 120 --search-size-lf --caps "UIDPLUS" --add-final-crlf
push_fake_up plain --lifetime 120 --search-size-lf --caps ""
cfg=$T/config.yaml
{
	echo "accounts:"
	acct_yaml alice
	acct_yaml uidplus port="$PORT_uidplus" tls=none password_file="$pf"
	acct_yaml plain port="$PORT_plain" tls=none password_file="$pf"
} | cfg_write "$cfg"
A=$T/mail/alice
mk -c "$cfg" sync alice
expect_rc 0 "sync"
fake_mirror() { # NAME: the fake's folders equal the source's
	local o=()
	[ "$1" = uidplus ] && o=(--final-crlf)
	mc --state "$T/$1.json" "${o[@]}"
}
summary() { grep -m1 "push alice -> $1: .* folders" "$MK_ERR"; }

for n in uidplus plain; do
	mk -c "$cfg" -v push alice $n
	expect_rc 0 "push into $n"
	fake_mirror $n
	mk -c "$cfg" -v push alice $n
	expect_rc 0 "second push into $n"
	check 'grep -q "0 messages appended (0 bytes), 0 already there, 0 flag updates" "$MK_ERR"' \
		"second push into $n did something (target UIDs not learnt by SEARCH?): $(summary $n)"
	# a flag change reaches the target (without UIDPLUS: under the UID learnt by SEARCH)
	dadm flags add -u alice "\\Flagged Seen$n" mailbox Archive uid 1:2
	mk -c "$cfg" sync alice
	expect_rc 0 "sync of the flag change"
	mk -c "$cfg" -v push alice $n
	expect_rc 0 "push of the flag change into $n"
	fake_mirror $n
	# the push state lost: every message is looked up, none appended again
	rm -rf "$A/.mailkeep/push/$n"
	mk -c "$cfg" -v push alice $n
	expect_rc 0 "push into $n after its state was lost"
	check 'grep -q " 0 messages appended (0 bytes), 25 already there" "$MK_ERR"' \
		"messages not found on $n, appended again: $(summary $n)"
	fake_mirror $n
done
# (review) a message in doubt whose source is gone (a push killed after its APPEND, the message then
# expunged from the source): looked up by the key of its "p" line, which records the size sent. A
# message without a final CRLF was stored with one (+2 bytes, as Courier does): it must be found
# there, not fail the folder on every push ("the header of a message looked for with another size").
read -r file uid < <(python3 - "$A/INBOX/cur" <<'PY'
import os, re, sys
for n in sorted(os.listdir(sys.argv[1])):
    if not open(os.path.join(sys.argv[1], n), "rb").read().endswith(b"\n"):
        print(os.path.join(sys.argv[1], n), re.search(r",U=(\d+)", n).group(1))
        break
PY
)
[ -n "$uid" ] || fail "no message without a final line end in INBOX (seed.py)"
ps=$A/.mailkeep/push/uidplus/INBOX/.push-state
python3 - "$file" "$uid" "$ps" <<'PY' || fail "could not put the message in doubt in $ps"
import hashlib, os, re, sys
path, uid, ps = sys.argv[1], sys.argv[2], sys.argv[3]
data = open(path, "rb").read().replace(b"\n", b"\r\n")  # push_crlf_read()
m = re.search(rb"\r?\n\r?\n", data)
hdr = data[:m.start() + 1] if m else data  # push_header_len(): up to the empty line
hdr = hdr.rstrip(b"\r\n")
key = "%d %d %s" % (len(data), int(os.stat(path).st_mtime), hashlib.sha256(hdr).hexdigest())
lines = open(ps).read().split("\n")
out, done = [], False
for l in lines:
    w = l.split(" ")
    if w[0] == "m" and w[2] == uid:
        l = "p %s %s %s" % (w[1], w[2], key)
        done = True
    out.append(l)
assert done, lines
open(ps, "w").write("\n".join(out))
PY
dadm expunge -u alice mailbox INBOX uid "$uid"
mk -c "$cfg" sync alice
expect_rc 0 "sync of the expunge"
mk -c "$cfg" -v push alice uidplus
expect_rc 0 "push with a message in doubt whose source is gone"
check 'grep -q "was appended by an interrupted run" "$MK_ERR" && grep -q " 0 messages appended" "$MK_ERR"' \
	"the message in doubt was not found on uidplus: $(mk_err_line)"
t_pass
