#!/usr/bin/env bash
# Mail readers that walk the whole tree from the root (notmuch's database at <root> for several
# accounts, mblaze's mdirs), as the documentation tells users to set them up: with snapshots on
# (<root>/<name>.git beside the account), an old copy after a UIDVALIDITY change (.mailkeep/) and a
# restored snapshot (.mailkeep-keep placeholders), the documented new.ignore leaves notmuch with no
# "Ignoring non-mail file" note and exactly the server's messages; `mdirs -a` without .mailkeep/
# lists exactly the server's folders (plain mdirs misses Archive/2024: it only follows Maildir++
# ".Sub" children of a Maildir).
. "$(dirname "$0")/lib.sh"
t_begin
command -v notmuch >/dev/null || fail "notmuch is not installed (make deps)"
command -v mdirs >/dev/null || fail "mblaze is not installed (make deps)"
dc_up
seed populate --seed 9 --count 5 --big 0
cfg=$T/config.yaml
{ echo "accounts:"; acct_yaml alice snapshot=true; } | cfg_write "$cfg"
R=$T/mail
A=$R/alice
mk -c "$cfg" sync
expect_rc 0 "first sync"
dadm mailbox delete -u alice 'R&D'
seed append --folder 'R&D' --seed 91 --count 2
mk -c "$cfg" sync
expect_rc 0 "sync after R&D was recreated"
check '[ -d "$A/.mailkeep/uidvalidity-"*/"R&D/cur" ]' "no old copy of R&D under .mailkeep/"
check '[ -d "$R/alice.git" ]' "no snapshot repository at $R/alice.git"
exact "$A"
server_state "$T/server.json"
read -r total nfolders < <(python3 - "$T/server.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["folders"]
print(sum(len(f.get("messages", {})) for f in d.values()), sum(1 for f in d.values() if "uidvalidity" in f))
PY
)

# notmuch at the root, new.ignore as docs/design.md gives it for that case
export NOTMUCH_CONFIG=$T/notmuch-config
printf '[database]\npath=%s\n[new]\ntags=unread;\n' "$R" >"$NOTMUCH_CONFIG"
notmuch config set new.ignore '.mailkeep-state;.mailkeep;.mailkeep-keep;alice.git' ||
	fail "notmuch config set new.ignore failed"
notmuch new >"$T/nm.out" 2>&1 || fail "notmuch new failed: $(tail -n 2 "$T/nm.out")"
check '! grep -q "non-mail" "$T/nm.out"' \
	"notmuch at the root reports $(grep -c non-mail "$T/nm.out") non-mail files, e.g. $(grep -m1 non-mail "$T/nm.out")"
check '[ "$(notmuch count "*")" -eq "$total" ]' "notmuch at the root counts $(notmuch count '*'), the server $total"

# a restored snapshot read with notmuch (docs/snapshots.md): the placeholders are not mail either
mkdir "$T/restore"
git --git-dir="$R/alice.git" archive main | tar -x -C "$T/restore" || fail "git archive of the snapshot failed"
printf '[database]\npath=%s\n[new]\nignore=.mailkeep-state;.mailkeep;.mailkeep-keep\n' "$T/restore" \
	>"$T/notmuch-restore"
NOTMUCH_CONFIG=$T/notmuch-restore notmuch new >"$T/nm2.out" 2>&1 || fail "notmuch new on the restore failed"
check '! grep -q "non-mail" "$T/nm2.out"' "notmuch on a restored snapshot: $(grep -m1 non-mail "$T/nm2.out")"
check '[ "$(NOTMUCH_CONFIG=$T/notmuch-restore notmuch count "*")" -eq "$total" ]' "notmuch on the restore: wrong count"

# mblaze: mdirs -a, old copies left out as docs/design.md says
mdirs -a "$A" | grep -v '/\.mailkeep/' | sort >"$T/mdirs"
check '[ "$(wc -l <"$T/mdirs")" -eq "$nfolders" ]' "mdirs -a lists $(wc -l <"$T/mdirs") folders, the server has $nfolders"
check 'grep -qx "$A/Archive/2024" "$T/mdirs"' "mdirs -a does not list Archive/2024"
n=$(mdirs -a "$A" | grep -v '/\.mailkeep/' | mlist | wc -l)
check '[ "$n" -eq "$total" ]' "mdirs -a | mlist lists $n messages, the server has $total"
t_pass
