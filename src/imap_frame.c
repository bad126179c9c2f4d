/* IMAP response framing: whether the bytes received so far hold a whole
 * response and how long it is (imap_frame_scan), following literals without
 * trusting their sizes beyond the bytes present; the I/O layer (imap_io.c) also
 * asks where a line's literal marker is and how deep its lists are. Pure. The
 * parsing of a framed response is in imap_parse.c. */
#include "mailkeep/imap_parse.h"

#include <string.h>

#include "imap_parse_internal.h"

#define MARKER_SCAN_MAX 24      /* how far back from '}' a literal marker's '{' may be */

/* ---- framing ---- */

/* The marker is searched backwards from a final '}' over a short run of
 * non-space bytes: "{123}" and "{abc}" are markers (the latter malformed),
 * text such as "{some words}" is not. */
int imap_frame_literal_at_end(const char *line, size_t len, uint64_t *lit_size, size_t *marker_off)
{
	const unsigned char *s = (const unsigned char *)line;
	if (!len || s[len - 1] != '\n')
		return 0;
	size_t e = len - 1;
	if (e && s[e - 1] == '\r')
		e--;
	if (!e || s[e - 1] != '}')
		return 0;
	size_t close = e - 1;
	size_t lim = close > MARKER_SCAN_MAX ? close - MARKER_SCAN_MAX : 0;
	size_t i = close;
	while (i > lim) {
		unsigned char ch = s[--i];
		if (ch == '{') {
			uint64_t n;
			size_t end;
			if (imap_parse_marker(s + i, close + 1 - i, &n, &end) < 0 || end != close + 1 - i)
				return -1;
			*lit_size = n;
			*marker_off = i && s[i - 1] == '~' ? i - 1 : i;
			return 1;
		}
		if (ch <= ' ' || ch == 0x7f || ch == '"' || ch == '(' || ch == ')' || ch == '}')
			return 0;
	}
	return 0;
}

int imap_frame_depth(const char *s, size_t len, int depth)
{
	int quoted = 0;
	for (size_t i = 0; i < len; i++) {
		if (quoted && s[i] == '\\')
			i++;
		else if (s[i] == '"')
			quoted = !quoted;
		else if (!quoted && s[i] == '(')
			depth++;
		else if (!quoted && s[i] == ')' && depth > 0)
			depth--;
	}
	return depth;
}

int imap_frame_scan(const char *data, size_t len, size_t *resp_len, char *err, size_t errlen)
{
	size_t pos = 0;
	for (;;) {
		const char *nl = pos < len ? memchr(data + pos, '\n', len - pos) : NULL;
		if (!nl)
			return IMAP_FRAME_INCOMPLETE;
		size_t line_end = (size_t)(nl - data) + 1;
		uint64_t n;
		size_t off;
		int m = imap_frame_literal_at_end(data + pos, line_end - pos, &n, &off);
		if (m < 0) {
			size_t at = line_end - pos > MARKER_SCAN_MAX + 3 ?
				line_end - MARKER_SCAN_MAX - 3 : pos;
			imap_format_error(err, errlen, data, line_end, at, "malformed literal size");
			return IMAP_FRAME_ERROR;
		}
		if (m == 0) {
			*resp_len = line_end;
			return IMAP_FRAME_COMPLETE;
		}
		if (n > len - line_end)
			return IMAP_FRAME_INCOMPLETE;
		pos = line_end + (size_t)n;
	}
}
