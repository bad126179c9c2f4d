#!/usr/bin/env bash
# push --dry-run on a target that folds case (push_hostile.py --fold-case create-exists-plain): a
# folder it does not list but that opens all the same (the source's WORK, the target's Work) is
# planned as the real run uses it (72932bf), and so is a second source folder mapped to the same
# name (push_map Other: WORK). Before, the first one's EXAMINE put the name among the folders the
# dry run plans to create, and the second was planned against an empty folder without EXAMINE:
# 'would append 1' for a message the real run finds already there.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
python3 - "$DC/env" <<'PY' >>"$T/seed.log" 2>&1 || fail "append failed"
import dcimap
c = dcimap.login()
msg = b"From: y@x\r\nMessage-ID: <Work@x>\r\nSubject: only in Work\r\n\r\nb\r\n"
for f in ("Work", "WORK", "Other"):
    dcimap.append(c, f, msg, "(\\Seen)", '"01-Mar-2024 10:00:00 +0000"', create=True)
c.logout()
PY
mkdir -p "$T/hostile"
echo "create-exists-plain" >"$T/hostile/modes"
push_hostile_up "$T/hostile" "UIDPLUS LITERAL+" --fold-case
pf=$(fake_pass)
cfg=$T/config.yaml
write_cfg() {
	{
		echo "accounts:"
		acct_yaml alice "$@"
		acct_yaml fold port="$PORT" tls=none password_file="$pf"
	} | cfg_write "$cfg"
}
write_cfg
A=$T/mail/alice
mk -c "$cfg" sync alice
expect_rc 0 "sync"
# the target gets Work only (its message), then WORK and Other are mapped to it
mv "$A/WORK" "$T/WORK.aside"
mv "$A/Other" "$T/Other.aside"
mk -c "$cfg" push alice fold
expect_rc 0 "push of Work"
mv "$T/WORK.aside" "$A/WORK"
mv "$T/Other.aside" "$A/Other"
write_cfg 'raw=push_map: {"Other": "WORK"}'
mk -c "$cfg" push alice fold --dry-run
expect_rc 0 "dry run with WORK and Other new"
check '! grep -q "would create" "$MK_OUT"' "the dry run plans a CREATE: $(grep -m1 'would create' "$MK_OUT")"
check '! grep -q "would append 1 " "$MK_OUT"' "the dry run plans an append of a message the target's Work holds: $(grep 'would append 1 ' "$MK_OUT")"
mk -c "$cfg" -v push alice fold
expect_rc 0 "push of WORK and Other"
check 'grep -q "0 messages appended" "$MK_ERR"' "the real push appended: $(tail -n 1 "$MK_ERR")"
t_pass
