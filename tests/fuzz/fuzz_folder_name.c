/* libFuzzer target for folder names: modified UTF-7 (src/utf7.c) and the
 * mapping of a decoded name to its directory in the mirror
 * (maildir_folder_path(), src/maildir_name.c), and back (push_name_from_path(),
 * src/push_name.c). A hostile server sends any name and any delimiter byte.
 * Build: `make fuzz`; run e.g.
 *
 *   build/fuzz/fuzz_folder_name -max_total_time=60 -max_len=512
 *
 * The first input byte is the hierarchy delimiter (0: none), the rest the
 * name. Properties:
 *  - the decoder accepts only the canonical form: encode(decode(x)) == x, and
 *    what it gives is valid UTF-8 without control characters;
 *  - decode(encode(x)) == x for any UTF-8 x the encoder takes (utf7.h), and the
 *    encoding is printable ASCII;
 *  - the relative path of a name never escapes the account directory: not
 *    empty, not absolute, no empty, "." or ".." component, no component that
 *    starts with '.' (mailkeep's own files) or is cur/new/tmp, no control byte,
 *    at most 64 levels, and maildir_mkdirs() would take it;
 *  - push reads the same levels back from the path (INBOX in any case as
 *    "INBOX" for the first level). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailkeep/buf.h"
#include "mailkeep/maildir.h"
#include "mailkeep/push.h"
#include "mailkeep/utf7.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_utf8_clean(const char *s, size_t len)
{
	size_t pos = 0;
	uint32_t cp;
	while (pos < len) {
		if (utf7_next_utf8(s, len, &pos, &cp) < 0)
			abort();
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			abort();
	}
}

static void check_path(const char *name, char delim)
{
	struct buf rel = BUF_INIT, joined = BUF_INIT;
	struct push_name nm;

	if (maildir_folder_path(name, delim, &rel) < 0)
		goto out;
	if (!rel.data || !rel.len || rel.data[0] == '/' || rel.data[rel.len - 1] == '/' || strlen(rel.data) != rel.len)
		abort();
	size_t levels = 0;
	for (const char *s = rel.data;;) {
		const char *e = strchr(s, '/');
		size_t l = e ? (size_t)(e - s) : strlen(s);
		levels++;
		if (!l || s[0] == '.')
			abort(); /* empty, ".", ".." or a dot file */
		if (l == 3 && (!strncasecmp(s, "cur", 3) || !strncasecmp(s, "new", 3) || !strncasecmp(s, "tmp", 3)))
			abort();
		for (size_t i = 0; i < l; i++)
			if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
				abort();
		if (!e)
			break;
		s = e + 1;
	}
	if (levels > 64 || (!delim && levels != 1))
		abort();
	if (push_name_from_path(rel.data, &nm) < 0 || nm.n != levels)
		abort();
	push_name_join(&nm, delim, &joined);
	/* the first level is INBOX when the name's is, in any case */
	size_t first = delim && strchr(name, delim) ? (size_t)(strchr(name, delim) - name) : strlen(name);
	if (first == 5 && !strncasecmp(name, "INBOX", 5)) {
		if (strncmp(joined.data, "INBOX", 5) || strcmp(joined.data + 5, name + 5))
			abort();
	} else if (strcmp(joined.data, name)) {
		abort();
	}
	push_name_free(&nm);
out:
	buf_free(&rel);
	buf_free(&joined);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *dec = NULL, *enc = NULL, *back = NULL;
	if (!size)
		return 0;
	char delim = (char)data[0];
	const char *in = (const char *)data + 1;
	size_t len = size - 1;

	/* as the wire name of a LIST response */
	if (utf7_decode(in, len, &dec) == 0) {
		size_t dl = strlen(dec);
		check_utf8_clean(dec, dl);
		if (utf7_encode(dec, dl, &enc) < 0 || strlen(enc) != len || memcmp(enc, in, len))
			abort();
		check_path(dec, delim);
		free(enc);
		enc = NULL;
	} else if (dec) {
		abort();
	}
	/* as a UTF-8 name (a push_map target, a mirror directory) */
	if (utf7_encode(in, len, &enc) == 0) {
		for (const char *p = enc; *p; p++)
			if (*p < 0x20 || *p > 0x7e)
				abort();
		if (utf7_decode(enc, strlen(enc), &back) < 0 || strlen(back) != len || memcmp(back, in, len))
			abort();
	}
	/* any bytes up to a NUL, as the path mapping may see them */
	char *raw = xstrndup(in, len);
	check_path(raw, delim);
	free(raw);
	free(dec);
	free(enc);
	free(back);
	return 0;
}
