#!/usr/bin/env bash
# A flat target (NAMESPACE and LIST give the delimiter NIL: no hierarchy) that holds INBOX only:
# a mirror folder of two levels cannot be named there, and fails with a message that says so
# (push.md, "Folder names"), on the first push as on every later one. Before, a target listing INBOX
# alone was taken as using '/': the first push created "Projects/2024" as one flat name (exit 0),
# and every later push, which saw the target's NIL delimiter on its other folders, failed that
# folder (exit 1 for ever).
. "$(dirname "$0")/lib.sh"
t_begin
dc_up
python3 - "$DC/env" <<'PY' >>"$T/seed.log" 2>&1 || fail "seeding failed: $(tail -n 1 "$T/seed.log")"
import dcimap, re
c = dcimap.login()
typ, data = c.list('""', '""')
delim = re.search(rb'\) "(.)"', data[0]).group(1).decode()
for f in ("INBOX", "Projects", "Projects" + delim + "2024"):
    if f != "INBOX":
        typ, data = c.create(f)
        assert typ == "OK", data
    typ, data = c.append(f, "(\\Seen)", '"01-Mar-2024 10:00:00 +0000"',
                         b"From: y@x\r\nMessage-ID: <" + f.encode() + b"@x>\r\nSubject: in " + f.encode() + b"\r\n\r\nb\r\n")
    assert typ == "OK", data
c.logout()
PY
pf=$(fake_pass)
push_fake_up flat --caps "UIDPLUS LITERAL+ NAMESPACE" --delim NIL
cfg=$T/config.yaml
{
	echo "accounts:"
	acct_yaml alice
	acct_yaml flat port="$PORT_flat" tls=none password_file="$pf"
} | cfg_write "$cfg"
mk -c "$cfg" sync alice
expect_rc 0 "sync"
check '[ -d "$T/mail/alice/Projects/2024/cur" ]' "the mirror has no folder Projects/2024"
folders() { python3 -c 'import json,sys; print("\n".join(sorted(json.load(open(sys.argv[1]))["folders"])))' "$T/flat.json"; }
for run in first second; do
	mk -c "$cfg" push alice flat
	expect_rc 1 "$run push into the flat target (Projects/2024 cannot be named)"
	check 'grep -q "folder \"Projects/2024\".*no folder hierarchy" "$MK_ERR"' \
		"$run push: no error saying that Projects/2024 has no name on a flat target: $(tail -n 3 "$MK_ERR")"
	check '[ "$(folders | tr "\n" " ")" = "INBOX Projects " ]' "$run push: the target's folders are $(folders | tr '\n' ' ')"
	check '[ "$(push_fake_msgs flat Projects | wc -l)" -eq 1 ] && [ "$(push_fake_msgs flat INBOX | wc -l)" -eq 1 ]' \
		"$run push: INBOX and Projects do not hold their message once each"
done
t_pass
