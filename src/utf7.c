/* Modified UTF-7 for IMAP mailbox names (RFC 3501 §5.1.3).
 *
 * Printable US-ASCII (0x20-0x7E) stands for itself, except '&' which is written
 * "&-". Everything else is UTF-16BE, base64-encoded with ',' in place of '/' and
 * without '=' padding, between '&' and '-'. The decoder accepts only the one
 * canonical form the encoder produces, so that a server name maps to exactly one
 * local folder and back; names carrying control characters are refused outright
 * because they end up as directory names and in terminal output.
 */
#include "mailkeep/utf7.h"

#include <stdint.h>

#include "mailkeep/buf.h"

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

static int is_printable_ascii(uint32_t c)
{
	return c >= 0x20 && c <= 0x7e;
}

/* C0 controls (including NUL), DEL and C1 controls: never part of a mailbox name. */
static int is_control(uint32_t c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

static int is_high_surrogate(uint32_t u)
{
	return u >= 0xd800 && u <= 0xdbff;
}

static int is_low_surrogate(uint32_t u)
{
	return u >= 0xdc00 && u <= 0xdfff;
}

static void utf8_put(struct buf *b, uint32_t c)
{
	char s[4];
	size_t n;

	if (c < 0x80) {
		s[0] = (char)c;
		n = 1;
	} else if (c < 0x800) {
		s[0] = (char)(0xc0 | c >> 6);
		s[1] = (char)(0x80 | (c & 0x3f));
		n = 2;
	} else if (c < 0x10000) {
		s[0] = (char)(0xe0 | c >> 12);
		s[1] = (char)(0x80 | (c >> 6 & 0x3f));
		s[2] = (char)(0x80 | (c & 0x3f));
		n = 3;
	} else {
		s[0] = (char)(0xf0 | c >> 18);
		s[1] = (char)(0x80 | (c >> 12 & 0x3f));
		s[2] = (char)(0x80 | (c >> 6 & 0x3f));
		s[3] = (char)(0x80 | (c & 0x3f));
		n = 4;
	}
	buf_add(b, s, n);
}

/* Decode one scalar value at s[*pos] strictly (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF, no truncated sequences). */
static int utf8_next(const unsigned char *s, size_t len, size_t *pos, uint32_t *cp)
{
	unsigned char c = s[*pos];
	uint32_t v, min;
	size_t n, k;

	if (c < 0x80) {
		*cp = c;
		*pos += 1;
		return 0;
	}
	if ((c & 0xe0) == 0xc0) {
		n = 1;
		v = c & 0x1f;
		min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 2;
		v = c & 0x0f;
		min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 3;
		v = c & 0x07;
		min = 0x10000;
	} else {
		return -1;
	}
	if (len - *pos - 1 < n)
		return -1;
	for (k = 1; k <= n; k++) {
		unsigned char cc = s[*pos + k];
		if ((cc & 0xc0) != 0x80)
			return -1;
		v = v << 6 | (cc & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return -1;
	*cp = v;
	*pos += n + 1;
	return 0;
}

int utf7_next_utf8(const char *s, size_t len, size_t *pos, uint32_t *cp)
{
	return utf8_next((const unsigned char *)s, len, pos, cp);
}

/* Decode the base64 run that starts at in[*pos] (just after '&') up to and
 * including its '-'; on success *pos points past the '-'. */
static int decode_run(const unsigned char *in, size_t len, size_t *pos, struct buf *out)
{
	uint32_t bits = 0, high = 0;
	unsigned nbits = 0;
	size_t units = 0, i;

	for (i = *pos;; i++) {
		int v;

		if (i >= len)
			return -1; /* unterminated */
		if (in[i] == '-')
			break;
		v = b64_value(in[i]);
		if (v < 0)
			return -1;
		bits = bits << 6 | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;

		nbits -= 16;
		uint32_t unit = bits >> nbits & 0xffff;
		bits &= (1u << nbits) - 1;
		units++;
		if (high) {
			if (!is_low_surrogate(unit))
				return -1;
			utf8_put(out, 0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00));
			high = 0;
		} else if (is_high_surrogate(unit)) {
			high = unit;
		} else if (is_low_surrogate(unit)) {
			return -1;
		} else if (is_printable_ascii(unit) || is_control(unit)) {
			/* printable ASCII must be literal; controls are never allowed */
			return -1;
		} else {
			utf8_put(out, unit);
		}
	}
	/* The encoder pads only the last sextet, with zero bits: anything else
	 * (a spare character, set padding bits, a dangling high surrogate, an
	 * empty run) is not the canonical form. */
	if (units == 0 || high || nbits >= 6 || bits != 0)
		return -1;
	*pos = i + 1;
	return 0;
}

int utf7_decode(const char *in, size_t len, char **out)
{
	const unsigned char *s = (const unsigned char *)in;
	struct buf b = BUF_INIT;
	size_t i = 0;
	int after_run = 0;
	int ret = -1;

	*out = NULL;
	while (i < len) {
		unsigned char c = s[i];

		if (!is_printable_ascii(c))
			goto out;
		if (c != '&') {
			buf_addch(&b, (char)c);
			after_run = 0;
			i++;
			continue;
		}
		if (i + 1 < len && s[i + 1] == '-') {
			buf_addch(&b, '&');
			after_run = 0;
			i += 2;
			continue;
		}
		/* "&AOQ-&APw-" should have been one run "&AOQA,A-" */
		if (after_run)
			goto out;
		i++;
		if (decode_run(s, len, &i, &b) < 0)
			goto out;
		after_run = 1;
	}
	*out = buf_detach(&b);
	ret = 0;
out:
	buf_free(&b);
	return ret;
}

/* Base64 state of an open "&..." run in the encoder. */
struct run {
	uint32_t bits;
	unsigned nbits;
};

static void run_add_unit(struct buf *out, struct run *r, uint32_t unit)
{
	r->bits = r->bits << 16 | unit;
	r->nbits += 16;
	while (r->nbits >= 6) {
		r->nbits -= 6;
		buf_addch(out, b64_alphabet[r->bits >> r->nbits & 0x3f]);
	}
	r->bits &= (1u << r->nbits) - 1;
}

static void run_close(struct buf *out, struct run *r)
{
	if (r->nbits)
		buf_addch(out, b64_alphabet[r->bits << (6 - r->nbits) & 0x3f]);
	buf_addch(out, '-');
	r->bits = 0;
	r->nbits = 0;
}

int utf7_encode(const char *in, size_t len, char **out)
{
	const unsigned char *s = (const unsigned char *)in;
	struct buf b = BUF_INIT;
	struct run r = { 0, 0 };
	int in_run = 0;
	size_t i = 0;
	int ret = -1;

	*out = NULL;
	while (i < len) {
		uint32_t c;

		if (utf8_next(s, len, &i, &c) < 0)
			goto out;
		/* refused like the decoder does, so decode(encode(x)) == x always */
		if (is_control(c))
			goto out;
		if (is_printable_ascii(c)) {
			if (in_run) {
				run_close(&b, &r);
				in_run = 0;
			}
			if (c == '&')
				buf_add(&b, "&-", 2);
			else
				buf_addch(&b, (char)c);
			continue;
		}
		if (!in_run) {
			buf_addch(&b, '&');
			in_run = 1;
		}
		if (c >= 0x10000) {
			c -= 0x10000;
			run_add_unit(&b, &r, 0xd800 | c >> 10);
			run_add_unit(&b, &r, 0xdc00 | (c & 0x3ff));
		} else {
			run_add_unit(&b, &r, c);
		}
	}
	if (in_run)
		run_close(&b, &r);
	*out = buf_detach(&b);
	ret = 0;
out:
	buf_free(&b);
	return ret;
}
