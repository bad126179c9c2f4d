#!/usr/bin/env bash
# A target that compares folder names without regard to case (Exchange, Gmail) and answers the
# CREATE of "work", when it has "Work", with a plain NO, without [ALREADYEXISTS] (RFC 5530 makes the
# code a SHOULD; push_hostile.py create-exists-plain). The folder exists for that server: its
# SELECT opens it, and the messages go there, as with [ALREADYEXISTS] (t_push_case_target).
# Before, that folder failed on every push (exit 1 for ever), its messages never migrated.
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
python3 - "$DC/env" <<'PY' >>"$T/seed.log" 2>&1 || fail "append failed"
import dcimap
c = dcimap.login()
for f in ("Work", "work"):
    typ, data = c.create(f)
    assert typ == "OK", data
    typ, data = c.append(f, "(\\Seen)", '"01-Mar-2024 10:00:00 +0000"',
                         b"From: y@x\r\nMessage-ID: <" + f.encode() + b"@x>\r\nSubject: only in " + f.encode() + b"\r\n\r\nb\r\n")
    assert typ == "OK", data
c.logout()
PY
mkdir -p "$T/hostile"
echo "create-exists-plain" >"$T/hostile/modes"
push_hostile_up "$T/hostile" "UIDPLUS LITERAL+" --fold-case
push_hostile_mirror fold
n_work() { python3 "$MIGRATE_CHECK_PY" --state "$T/hostile/state.json" --list Work | wc -l; }
for run in first second; do
	mk -c "$cfg" -v push alice fold
	expect_rc 0 "$run push into the case-folding target that answers CREATE of \"work\" with a plain NO"
	check '[ "$(n_work)" -eq 2 ]' "$run push: the target's Work holds $(n_work) messages, not 2"
done
check 'grep -q "0 messages appended (0 bytes), 0 already there" "$MK_ERR"' "the second push did something: $(tail -n 1 "$MK_ERR")"
t_pass
