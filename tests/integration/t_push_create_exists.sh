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
# A third folder of that name, "WORK", new on the source: --dry-run plans it as the real run does
# it, into the target's Work, without "would create" (before, the plan said it would create it,
# as the target does not list the name).
python3 - "$DC/env" <<'PY' >>"$T/seed.log" 2>&1 || fail "append to WORK failed"
import dcimap
c = dcimap.login()
dcimap.append(c, "WORK", b"From: z@x\r\nMessage-ID: <WORK@x>\r\nSubject: only in WORK\r\n\r\nb\r\n", "(\\Seen)",
              '"02-Mar-2024 10:00:00 +0000"', create=True)
c.logout()
PY
mk -c "$cfg" sync alice
expect_rc 0 "sync of WORK"
mk -c "$cfg" push alice fold --dry-run
expect_rc 0 "dry run with WORK new"
check '! grep -q "would create" "$MK_OUT"' "the dry run plans a CREATE the real run does not make: $(grep -m1 'would create' "$MK_OUT")"
check 'grep -q "^folder \"WORK\" -> \"WORK\": would append 1 " "$MK_OUT"' "the dry run does not plan WORK's message: $(cat "$MK_OUT")"
mk -c "$cfg" push alice fold
expect_rc 0 "push of WORK"
check '[ "$(n_work)" -eq 3 ]' "after WORK's push: the target's Work holds $(n_work) messages, not 3"
t_pass
