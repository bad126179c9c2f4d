#!/usr/bin/env bash
# push: a message file that cannot be read (an I/O error of a failing disk, made here by an LD_PRELOAD
# shim; a permission; a file over the 1 GiB push takes) is not pushed: the push must say so as an
# error and exit 1 (partial), not 0. Before, it was counted "skipped", like a file a mail reader
# renamed away (pushed by the next run), and the push exited 0, "everything pushed", on every run:
# a migration left incomplete for good without an exit code to show it (cron stayed silent).
# Once the file can be read, the next push appends it, and the target is exact. With the push state
# lost (every message looked up), an unreadable one is looked up again by the next push.
. "$(dirname "$0")/lib.sh"
t_begin
cat >"$T/eio.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
/* open() of a path holding $MK_EIO_MATCH fails with EIO */
static int bad(const char *p)
{
	const char *m = getenv("MK_EIO_MATCH");
	return m && *m && p && strstr(p, m);
}
#define WRAP(name)                                                                    \
	int name(const char *p, int fl, ...)                                              \
	{                                                                                 \
		static int (*real)(const char *, int, ...);                                   \
		va_list ap;                                                                   \
		va_start(ap, fl);                                                             \
		mode_t mo = (fl & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;            \
		va_end(ap);                                                                   \
		if (bad(p)) {                                                                 \
			errno = EIO;                                                              \
			return -1;                                                                \
		}                                                                             \
		if (!real)                                                                    \
			real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, #name);          \
		return real(p, fl, mo);                                                       \
	}
WRAP(open)
WRAP(open64)
C
preload_shims "$T/eio.c"

dc_up
seed append --folder INBOX --seed 95 --count 3
cfg_alice_bob "$T/config.yaml"
mk -c "$T/config.yaml" sync alice
expect_rc 0 "sync of alice"
f=$(cd "$T/mail/alice/INBOX" && ls cur new | grep -m1 ',U=2:')
[ -n "$f" ] || fail "no file of UID 2 in the mirror's INBOX"

LD_PRELOAD=$PRELOAD MK_EIO_MATCH=",U=2:" mk -c "$T/config.yaml" -v push alice bob
expect_rc 1 "push with a message file that cannot be read"
check 'grep -q "error: .*U=2:.*Input/output error; not pushed" "$MK_ERR"' "the unreadable file is not reported as an error: $(grep -m1 'U=2' "$MK_ERR")"
check 'grep -q "2 messages appended" "$MK_ERR"' "the other messages not appended: $(grep -m1 'push alice -> bob: [0-9]* folders' "$MK_ERR")"

mk -c "$T/config.yaml" -v push alice bob
expect_rc 0 "push once the file can be read"
check 'grep -q "1 messages appended" "$MK_ERR"' "the file not appended once readable: $(grep -m1 'push alice -> bob: [0-9]* folders' "$MK_ERR")"
PC_WHAT="bob is not an exact copy of alice" pc compare --src "$IMAP_HOST:$IMAP_PORT:alice:$DC/pass-alice" \
	--dst "$IMAP_HOST:$IMAP_PORT:bob:$DC/pass-bob"

# The push state lost: every message is looked up on the target. One that cannot be read then is
# in doubt (it may be there already): the next push looks it up again, never appends it blind.
# Before, it got no entry, and the next push appended it: a duplicate on the target.
find "$T/mail/alice/.mailkeep/push" -name .push-state -delete
LD_PRELOAD=$PRELOAD MK_EIO_MATCH=",U=2:" mk -c "$T/config.yaml" -v push alice bob
expect_rc 1 "push, its state lost, with a message file that cannot be read"
mk -c "$T/config.yaml" -v push alice bob
expect_rc 0 "push once the file can be read again"
check '! grep -q "[1-9][0-9]* messages appended" "$MK_ERR"' "a message already there appended again: $(grep -m1 'push alice -> bob: [0-9]* folders' "$MK_ERR")"
PC_WHAT="bob is not an exact copy of alice (a duplicate?)" pc compare --src "$IMAP_HOST:$IMAP_PORT:alice:$DC/pass-alice" \
	--dst "$IMAP_HOST:$IMAP_PORT:bob:$DC/pass-bob"
t_pass
