/* Pure half of the Maildir store: IMAP flag <-> Maildir letter mapping, folder
 * name escaping, folder paths and message file names. No I/O. */
#include "mailkeep/maildir.h"

#include <inttypes.h>
#include <string.h>

/* More levels than any real hierarchy; bounds the directory depth a server can make us create. */
#define MAILDIR_MAX_LEVELS 64

static const struct {
	unsigned bit;
	char letter;
	const char *imap;
} flag_table[] = {
	{ MFLAG_DRAFT, 'D', "\\Draft" },
	{ MFLAG_FLAGGED, 'F', "\\Flagged" },
	{ MFLAG_PASSED, 'P', "$Forwarded" },
	{ MFLAG_REPLIED, 'R', "\\Answered" },
	{ MFLAG_SEEN, 'S', "\\Seen" },
	{ MFLAG_TRASHED, 'T', "\\Deleted" },
};

#define FLAG_COUNT (sizeof(flag_table) / sizeof(flag_table[0]))

static int ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* ASCII-only, so that the result does not depend on the locale (Turkish i). */
static int ascii_case_equal(const char *s, size_t len, const char *lit)
{
	size_t i;

	if (strlen(lit) != len)
		return 0;
	for (i = 0; i < len; i++)
		if (ascii_lower((unsigned char)s[i]) != ascii_lower((unsigned char)lit[i]))
			return 0;
	return 1;
}

unsigned maildir_flag_from_imap(const char *flag, size_t len)
{
	size_t i;

	for (i = 0; i < FLAG_COUNT; i++)
		if (ascii_case_equal(flag, len, flag_table[i].imap))
			return flag_table[i].bit;
	return 0;
}

const char *maildir_flag_to_imap(unsigned bit)
{
	size_t i;

	for (i = 0; i < FLAG_COUNT; i++)
		if (flag_table[i].bit == bit)
			return flag_table[i].imap;
	return NULL;
}

void maildir_flags_to_letters(unsigned mask, char *out)
{
	size_t i, n = 0;

	for (i = 0; i < FLAG_COUNT; i++)
		if (mask & flag_table[i].bit)
			out[n++] = flag_table[i].letter;
	out[n] = '\0';
}

unsigned maildir_flags_from_letters(const char *s, size_t len)
{
	unsigned mask = 0;
	size_t i, k;

	for (i = 0; i < len; i++)
		for (k = 0; k < FLAG_COUNT; k++)
			if (s[i] == flag_table[k].letter)
				mask |= flag_table[k].bit;
	return mask;
}

/* Maildir's own subdirectories; a folder of that name would be mistaken for one. */
static int is_maildir_subdir(const char *comp, size_t len)
{
	return ascii_case_equal(comp, len, "cur") || ascii_case_equal(comp, len, "new") ||
	       ascii_case_equal(comp, len, "tmp");
}

int maildir_escape_component(const char *comp, size_t len, struct buf *out)
{
	int subdir;
	size_t i;

	if (len == 0) {
		buf_addch(out, '%');
		return 0;
	}
	if (memchr(comp, '\0', len))
		return -1;
	subdir = is_maildir_subdir(comp, len);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)comp[i];

		if (c == '%' || c == '/' || c < 0x20 || c == 0x7f ||
		    (i == 0 && (c == '.' || subdir)))
			buf_addf(out, "%%%02X", c);
		else
			buf_addch(out, (char)c);
	}
	return 0;
}

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int maildir_unescape_component(const char *esc, size_t len, struct buf *out)
{
	struct buf raw = BUF_INIT, check = BUF_INIT;
	size_t i = 0;
	int ret = -1;

	if (len == 1 && esc[0] == '%')
		return 0; /* the empty component */
	if (len == 0)
		return -1;
	while (i < len) {
		if (esc[i] != '%') {
			buf_addch(&raw, esc[i++]);
			continue;
		}
		if (len - i < 3)
			goto out;
		int hi = hex_value((unsigned char)esc[i + 1]);
		int lo = hex_value((unsigned char)esc[i + 2]);
		if (hi < 0 || lo < 0)
			goto out;
		buf_addch(&raw, (char)(hi << 4 | lo));
		i += 3;
	}
	/* Only the canonical form is accepted ("%2f", "%41", a raw "cur" or "/"
	 * are not), so that one directory name means exactly one folder. */
	if (maildir_escape_component(raw.data, raw.len, &check) < 0 || check.len != len ||
	    memcmp(check.data, esc, len) != 0)
		goto out;
	buf_add(out, raw.data, raw.len);
	ret = 0;
out:
	buf_free(&raw);
	buf_free(&check);
	return ret;
}

int maildir_folder_path(const char *name, char delim, struct buf *out)
{
	size_t len = strlen(name), start = 0, levels = 0;

	buf_reset(out);
	for (;;) {
		size_t end = start;

		while (end < len && (delim == '\0' || name[end] != delim))
			end++;
		if (++levels > MAILDIR_MAX_LEVELS)
			goto fail;
		if (levels > 1)
			buf_addch(out, '/');
		/* RFC 3501 §5.1: INBOX is case-insensitive, its children are not */
		if (levels == 1 && ascii_case_equal(name, end, "INBOX"))
			buf_adds(out, "INBOX");
		else if (maildir_escape_component(name + start, end - start, out) < 0)
			goto fail;
		if (end == len)
			break;
		start = end + 1;
	}
	return 0;
fail:
	buf_reset(out);
	return -1;
}

/* Where the info part starts: at the last ":2," (flags), else at the first ':'
 * (some other info version), else len. */
static size_t info_offset(const char *name, size_t len)
{
	const char *colon;
	size_t i;

	for (i = len; i >= 3; i--)
		if (memcmp(name + i - 3, ":2,", 3) == 0)
			return i - 3;
	colon = memchr(name, ':', len);
	return colon ? (size_t)(colon - name) : len;
}

/* Bounded decimal parse: 1 to 10 digits, no sign, value <= UINT32_MAX. */
static int parse_u32(const char *s, size_t len, uint32_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 10)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int all_digits(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* Look at name[0..prefix_len) (everything before ",U=") for mailkeep's
 * "<date>.<uidvalidity>_<uid>.mailkeep". Sets *uidvalidity, or leaves it 0 when
 * the middle part is not of that form (another program's name). -1 when it is
 * of that form but out of range or its uid disagrees with U=. */
static int parse_mailkeep_middle(const char *name, size_t prefix_len, uint32_t uid,
				 uint32_t *uidvalidity)
{
	static const char suffix[] = ".mailkeep";
	const size_t suffix_len = sizeof(suffix) - 1;
	const char *dot, *mid, *under;
	size_t mid_len, uv_len, uid_len;
	uint32_t uv, mid_uid;

	dot = memchr(name, '.', prefix_len);
	if (!dot)
		return 0;
	mid = dot + 1;
	mid_len = prefix_len - (size_t)(mid - name);
	if (mid_len < suffix_len || memcmp(mid + mid_len - suffix_len, suffix, suffix_len) != 0)
		return 0;
	mid_len -= suffix_len;
	under = memchr(mid, '_', mid_len);
	if (!under)
		return 0;
	uv_len = (size_t)(under - mid);
	uid_len = mid_len - uv_len - 1;
	if (!all_digits(mid, uv_len) || !all_digits(under + 1, uid_len))
		return 0;
	if (parse_u32(mid, uv_len, &uv) < 0 || parse_u32(under + 1, uid_len, &mid_uid) < 0 ||
	    mid_uid != uid)
		return -1;
	*uidvalidity = uv;
	return 0;
}

/* 1 and *u, the offset of the last ",U=" in name[0..end); 0 when there is none. */
static int last_u_tag(const char *name, size_t end, size_t *u)
{
	int found = 0;
	for (size_t i = 0; i + 3 <= end; i++) {
		if (memcmp(name + i, ",U=", 3) == 0) {
			*u = i;
			found = 1;
		}
	}
	return found;
}

static size_t digits_len(const char *s, size_t len)
{
	size_t n = 0;
	while (n < len && s[n] >= '0' && s[n] <= '9')
		n++;
	return n;
}

/* The length of mailkeep's base "<date>.<uidvalidity>_<uid>.mailkeep,U=<uid>"
 * (the date up to the first '.', without a ':' that would start the info; the
 * same uid digits twice) at the start of name, whatever follows it; 0 when the
 * name does not start so. */
static size_t mailkeep_base_len(const char *name, size_t len)
{
	static const char tag[] = ".mailkeep,U=";
	const size_t tag_len = sizeof(tag) - 1;
	const char *dot = memchr(name, '.', len);
	if (!dot || memchr(name, ':', (size_t)(dot - name)))
		return 0;
	size_t uv = (size_t)(dot - name) + 1, uv_len = digits_len(name + uv, len - uv), uid = uv + uv_len + 1;
	if (!uv_len || uid > len || name[uid - 1] != '_')
		return 0;
	size_t uid_len = digits_len(name + uid, len - uid), tag_at = uid + uid_len;
	if (!uid_len || len - tag_at < tag_len || memcmp(name + tag_at, tag, tag_len) != 0)
		return 0;
	size_t u = tag_at + tag_len;
	if (digits_len(name + u, len - u) != uid_len || memcmp(name + u, name + uid, uid_len) != 0)
		return 0;
	return u + uid_len;
}

/* Where the base of a name ends: at its info part (info_offset), or earlier
 * when the name is mailkeep's ("<date>.<uidvalidity>_<uid>.mailkeep,U=<uid>")
 * followed by anything but one ":2," info part: more than one ("...,U=5:2,S:2,F",
 * a reader that added its info to a name that had one), another separator
 * (";2,S" as mbsync writes on Windows, offlineimap's "!2,S"), more fields
 * (",S=1234:2,S"). mailkeep's base ends after its U=, and the file is named
 * anew with a single info part. */
static size_t base_offset(const char *name, size_t len)
{
	size_t base = mailkeep_base_len(name, len);
	return base ? base : info_offset(name, len);
}

int maildir_parse_name(const char *name, uint32_t *uid, uint32_t *uidvalidity, unsigned *flags)
{
	/* the base as maildir_name_with_flags() keeps it, so that a file renamed
	 * for its flags is still taken for the same message */
	size_t len = strlen(name), base_len = base_offset(name, len), info = info_offset(name, len);
	size_t u = 0, end;
	uint32_t v, uv = 0;

	*uid = 0;
	*uidvalidity = 0;
	*flags = 0;
	/* the last ",U=" of the base name */
	if (!last_u_tag(name, base_len, &u))
		return -1;
	/* the value ends at the next field, or at a ':' when the name carries
	 * several info parts (only the last ":2," counts as info) */
	for (end = u + 3; end < base_len && name[end] != ',' && name[end] != ':'; end++)
		;
	if (parse_u32(name + u + 3, end - u - 3, &v) < 0 || v == 0)
		return -1;
	if (parse_mailkeep_middle(name, u, v, &uv) < 0)
		return -1;
	*uid = v;
	*uidvalidity = uv;
	if (len - info >= 3 && memcmp(name + info, ":2,", 3) == 0)
		*flags = maildir_flags_from_letters(name + info + 3, len - info - 3);
	else if (base_len == mailkeep_base_len(name, len) && info >= base_len + 3 &&
		 (name[base_len] == ';' || name[base_len] == '!') && memcmp(name + base_len + 1, "2,", 2) == 0)
		/* the same info after a Windows separator (up to a ':' of another info) */
		*flags = maildir_flags_from_letters(name + base_len + 3, info - base_len - 3);
	return 0;
}

int maildir_info_canonical(const char *name)
{
	size_t len = strlen(name), off = info_offset(name, len), k = 0;

	if (len - off < 3 || memcmp(name + off, ":2,", 3) != 0 || base_offset(name, len) != off)
		return 0;
	for (size_t i = off + 3; i < len; i++, k++) {
		while (k < FLAG_COUNT && flag_table[k].letter != name[i])
			k++;
		if (k == FLAG_COUNT)
			return 0;
	}
	return 1;
}

void maildir_base_name(struct buf *out, int64_t date, uint32_t uidvalidity, uint32_t uid)
{
	buf_reset(out);
	buf_addf(out, "%" PRId64 ".%" PRIu32 "_%" PRIu32 ".mailkeep,U=%" PRIu32, date, uidvalidity,
		 uid, uid);
}

/* The same as maildir_base_name() + maildir_name_with_flags(), without printf:
 * a folder read from its state names thousands of files this way. */
void maildir_canonical_name(struct buf *out, int64_t date, uint32_t uidvalidity, uint32_t uid, unsigned flags)
{
	char letters[FLAG_COUNT + 1];
	buf_reset(out);
	buf_add_i64(out, date);
	buf_add(out, ".", 1);
	buf_add_i64(out, uidvalidity);
	buf_add(out, "_", 1);
	buf_add_i64(out, uid);
	buf_add(out, ".mailkeep,U=", 12);
	buf_add_i64(out, uid);
	buf_add(out, ":2,", 3);
	maildir_flags_to_letters(flags, letters);
	buf_add(out, letters, strlen(letters));
}

int maildir_name_leading_date(const char *name, int64_t *date)
{
	const char *p = name + (*name == '-');
	uint64_t v = 0;
	if (*p < '0' || *p > '9' || (*p == '0' && p[1] != '.'))
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > ((uint64_t)INT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	/* "-0." is not how a date is written: the name it stands for would differ */
	if (*p != '.' || (*name == '-' && !v))
		return -1;
	*date = *name == '-' ? -(int64_t)v : (int64_t)v;
	return 0;
}

int maildir_name_date(const char *name, uint32_t uidvalidity, uint32_t uid, unsigned flags, int64_t *date)
{
	struct buf canon = BUF_INIT;
	int64_t d;
	int rc = -1;
	if (maildir_name_leading_date(name, &d) < 0)
		return -1;
	maildir_canonical_name(&canon, d, uidvalidity, uid, flags);
	if (!strcmp(canon.data, name)) {
		*date = d;
		rc = 0;
	}
	buf_free(&canon);
	return rc;
}

size_t maildir_renamed_len(const char *name, unsigned flags)
{
	size_t n = base_offset(name, strlen(name)) + 3;
	for (size_t i = 0; i < FLAG_COUNT; i++)
		n += (flags & flag_table[i].bit) != 0;
	return n;
}

void maildir_name_with_flags(struct buf *out, const char *name, unsigned flags)
{
	struct buf res = BUF_INIT;
	char letters[FLAG_COUNT + 1];

	/* built aside so that name may point into out */
	buf_add(&res, name, base_offset(name, strlen(name)));
	buf_adds(&res, ":2,");
	maildir_flags_to_letters(flags, letters);
	buf_adds(&res, letters);
	buf_free(out);
	*out = res;
}
