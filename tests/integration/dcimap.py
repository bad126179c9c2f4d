"""A test's IMAP connection to its Dovecot (lib.sh dc_up), for seeding and checking from a
test's inline Python:

    python3 - "$DC/env" <<'PY'
    import dcimap
    c = dcimap.login()          # alice; dcimap.login(2) for bob
    dcimap.append(c, "Work", b"From: ...", "(\\Seen)", '"01-Mar-2024 10:00:00 +0000"', create=True)
    c.logout()
    PY

lib.sh puts this directory on PYTHONPATH; the env file is the script's first argument."""
import imaplib
import shlex
import sys


def env(path=None):
    """The KEY=VALUE lines of DC/env (shell-quoted values) as a dict."""
    out = {}
    for line in open(path or sys.argv[1], encoding="utf-8"):
        if "=" in line and not line.startswith("#"):
            k, v = line.rstrip("\n").split("=", 1)
            out[k] = shlex.split(v)[0] if v else ""
    return out


def login(user=1, path=None):
    """A plain IMAP connection logged in as the first (alice) or second (bob) user."""
    e = env(path)
    c = imaplib.IMAP4(e["IMAP_HOST"], int(e["IMAP_PORT"]))
    if user == 2:
        c.login(e["IMAP_USER2"], e["IMAP_PASS2"])
    else:
        c.login(e["IMAP_USER"], e["IMAP_PASS"])
    return c


def append(c, folder, msg, flags="()", date=None, create=False):
    """APPEND msg to folder (CREATEd first when create), asserting each answer is OK."""
    if create:
        typ, data = c.create(folder)
        assert typ == "OK", data
    typ, data = c.append(folder, flags, date, msg)
    assert typ == "OK", data
