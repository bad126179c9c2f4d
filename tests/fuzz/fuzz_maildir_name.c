/* libFuzzer target for Maildir file and directory names (src/maildir_name.c):
 * a mail reader or the user may create any name in cur/ and new/, and any
 * directory in the mirror. Build: `make fuzz`; run e.g.
 *
 *   build/fuzz/fuzz_maildir_name -max_total_time=60 -max_len=512
 *
 * The input (up to its first NUL) is taken as a message file name and as an
 * escaped directory name; its first bytes also give a (date, uidvalidity,
 * uid, flags) to build mailkeep's own name from. Properties:
 *  - maildir_name_with_flags() gives a name whose info is canonical, that
 *    parses to the same uid and uidvalidity with exactly the flags given, and
 *    that it maps to itself;
 *  - a name that maildir_info_canonical() accepts is its own renaming;
 *  - a name maildir_name_date() accepts is exactly maildir_canonical_name();
 *  - maildir_canonical_name() parses back to what it was made of;
 *  - maildir_escape_component() makes a usable, reversible directory name
 *    (non-empty, no '/', no leading '.', not cur/new/tmp, no control byte) and
 *    maildir_unescape_component() accepts only what the escape produces. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailkeep/buf.h"
#include "mailkeep/maildir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_renamed(const char *name, unsigned flags)
{
	struct buf r = BUF_INIT, again = BUF_INIT;
	uint32_t uid, uv, uid2, uv2;
	unsigned f, f2;
	int rc = maildir_parse_name(name, &uid, &uv, &f);

	maildir_name_with_flags(&r, name, flags);
	if (!maildir_info_canonical(r.data))
		abort();
	int rc2 = maildir_parse_name(r.data, &uid2, &uv2, &f2);
	if (rc2 != rc || (rc == 0 && (uid2 != uid || uv2 != uv || f2 != flags)))
		abort();
	maildir_name_with_flags(&again, r.data, flags);
	if (strcmp(again.data, r.data))
		abort();
	buf_free(&r);
	buf_free(&again);
}

static void check_name(const char *name, unsigned flags)
{
	uint32_t uid, uv;
	unsigned f;
	int64_t d;
	struct buf canon = BUF_INIT;

	if (maildir_parse_name(name, &uid, &uv, &f) == 0) {
		if (!uid || (f & ~MFLAG_ALL))
			abort();
		if (maildir_name_date(name, uv, uid, f, &d) == 0) {
			maildir_canonical_name(&canon, d, uv, uid, f);
			if (strcmp(canon.data, name))
				abort();
		}
	}
	if (maildir_info_canonical(name)) {
		const char *info = NULL;
		for (const char *s = name; (s = strstr(s, ":2,")) != NULL; s++)
			info = s + 3;
		if (!info)
			abort();
		f = maildir_flags_from_letters(info, strlen(info));
		struct buf same = BUF_INIT;
		maildir_name_with_flags(&same, name, f);
		if (strcmp(same.data, name))
			abort();
		buf_free(&same);
	}
	if (maildir_name_leading_date(name, &d) == 0) {
		buf_reset(&canon);
		buf_add_i64(&canon, d);
		buf_addch(&canon, '.');
		/* the date as it is written, so that the canonical name can be made again */
		if (strncmp(name, canon.data, canon.len))
			abort();
	}
	check_renamed(name, flags);
	buf_free(&canon);
}

static uint64_t take(const uint8_t *data, size_t size, size_t off, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | (off + i < size ? data[off + i] : 0);
	return v;
}

static void check_made(const uint8_t *data, size_t size)
{
	int64_t date = (int64_t)take(data, size, 0, 8), d;
	uint32_t uv = (uint32_t)take(data, size, 8, 4), uid = (uint32_t)take(data, size, 12, 4);
	unsigned flags = (unsigned)take(data, size, 16, 1) & MFLAG_ALL;
	uint32_t puid, puv;
	unsigned pf;
	struct buf name = BUF_INIT, base = BUF_INIT;

	if (!uid || date == INT64_MIN)
		return;
	maildir_canonical_name(&name, date, uv, uid, flags);
	maildir_base_name(&base, date, uv, uid);
	if (strncmp(name.data, base.data, base.len) || strncmp(name.data + base.len, ":2,", 3))
		abort();
	if (maildir_parse_name(name.data, &puid, &puv, &pf) < 0 || puid != uid || puv != uv || pf != flags)
		abort();
	if (!maildir_info_canonical(name.data))
		abort();
	if (maildir_name_date(name.data, uv, uid, flags, &d) < 0 || d != date)
		abort();
	if (maildir_name_leading_date(name.data, &d) < 0 || d != date)
		abort();
	check_renamed(name.data, flags ^ (unsigned)take(data, size, 17, 1) % (MFLAG_ALL + 1));
	buf_free(&name);
	buf_free(&base);
}

static void check_component(const char *s, size_t len)
{
	struct buf esc = BUF_INIT, back = BUF_INIT, again = BUF_INIT;

	if (maildir_escape_component(s, len, &esc) < 0)
		abort(); /* no NUL in s */
	buf_adds(&esc, "");
	if (!esc.len || memchr(esc.data, '/', esc.len) || esc.data[0] == '.' ||
	    !strcasecmp(esc.data, "cur") || !strcasecmp(esc.data, "new") || !strcasecmp(esc.data, "tmp"))
		abort();
	for (size_t i = 0; i < esc.len; i++)
		if ((unsigned char)esc.data[i] < 0x20 || esc.data[i] == 0x7f)
			abort();
	buf_adds(&back, "");
	if (maildir_unescape_component(esc.data, esc.len, &back) < 0 || back.len != len ||
	    memcmp(back.data, s, len))
		abort();
	/* the other way: an accepted directory name is the escape of what it gives */
	buf_reset(&back);
	buf_adds(&back, "");
	if (maildir_unescape_component(s, len, &back) == 0) {
		if (memchr(back.data, '\0', back.len) ||
		    maildir_escape_component(back.data, back.len, &again) < 0)
			abort();
		buf_adds(&again, "");
		if (again.len != len || memcmp(again.data, s, len))
			abort();
	}
	buf_free(&esc);
	buf_free(&back);
	buf_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *name = xstrndup((const char *)data, size); /* up to the first NUL */
	unsigned flags = size ? data[size - 1] & MFLAG_ALL : 0;

	check_name(name, flags);
	check_made(data, size);
	check_component(name, strlen(name));
	free(name);
	return 0;
}
