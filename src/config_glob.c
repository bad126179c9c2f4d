/* Configuration: shell-style globs selecting folders (include/exclude).
 *
 * Pure functions. config_glob_problem() is the syntax check the loader applies
 * to every configured pattern; matching copes with any pattern anyway (an
 * unterminated '[' is literal), since callers may pass their own. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_internal.h"

/* P points just after '['; returns the closing ']' or NULL. A ']' right
 * after "[" or "[!" is a member, as in POSIX. */
static const char *class_close(const char *p)
{
	if (*p == '!' || *p == '^')
		p++;
	if (*p == ']')
		p++;
	for (; *p; p++) {
		if (*p == '\\' && p[1])
			p++;
		else if (*p == ']')
			return p;
	}
	return NULL;
}

/* Why PATTERN is not a valid glob, or NULL. */
const char *config_glob_problem(const char *p)
{
	for (; *p; p++) {
		if (*p == '\\') {
			if (!p[1])
				return "it ends with a lone backslash";
			p++;
		} else if (*p == '[') {
			const char *close = class_close(p + 1);
			if (!close)
				return "unterminated \"[\"";
			for (const char *q = p + 1; q < close; q++)
				if ((unsigned char)*q >= 0x80)
					return "character classes may only contain ASCII characters";
			p = close;
		}
	}
	return NULL;
}

/* Length of the character at S (invalid bytes count as one character). */
static size_t char_len(const char *s, size_t rem)
{
	uint32_t cp;
	size_t n = config_utf8_decode((const unsigned char *)s, rem, &cp);
	return n ? n : 1;
}

static unsigned class_char(const char **pp)
{
	const char *p = *pp;
	if (*p == '\\' && p[1])
		p++;
	*pp = p + 1;
	return (unsigned char)*p;
}

/* P is just after '[', CLOSE the ']'; CH is an ASCII byte or 0x100 for any
 * other character (which only a negated class matches). */
static int class_matches(const char *p, const char *close, unsigned ch)
{
	int negated = *p == '!' || *p == '^', hit = 0;
	p += negated;
	while (p < close) {
		unsigned lo = class_char(&p), hi = lo;
		if (*p == '-' && p + 1 < close) {
			p++;
			hi = class_char(&p);
		}
		if (ch >= lo && ch <= hi)
			hit = 1;
	}
	return hit != negated;
}

/* Whether the single-character token at P (ending at END) matches the
 * character S[0..slen). */
static int token_matches(const char *p, const char *end, const char *s, size_t slen)
{
	if (*p == '?')
		return 1;
	if (*p == '[' && end[-1] == ']' && end - p > 1)
		return class_matches(p + 1, end - 1,
				     slen == 1 && (unsigned char)*s < 0x80 ? (unsigned char)*s : 0x100);
	if (*p == '\\' && end - p > 1)
		p++;
	return (size_t)(end - p) == slen && !memcmp(p, s, slen);
}

static const char *token_end(const char *p)
{
	if (*p == '[') {
		const char *close = class_close(p + 1);
		if (close)
			return close + 1;
	} else if (*p == '\\' && p[1]) {
		return p + 1 + char_len(p + 1, strlen(p + 1));
	}
	return p + char_len(p, strlen(p));
}

/* Dynamic programming over (pattern token, string character): O(|p| * |s|)
 * whatever the number of stars, no backtracking. row[j] says whether the
 * pattern so far matches the first j characters of S. */
static int glob_match(const char *pat, const char *s)
{
	size_t n = strlen(s), m = 0, *off = xmalloc((n + 1) * sizeof(*off));
	unsigned char *row, *next, *tmp;
	int result;

	for (size_t i = 0; i < n; i += char_len(s + i, n - i))
		off[m++] = i;
	off[m] = n;
	row = xcalloc(m + 1, 1);
	next = xcalloc(m + 1, 1);
	row[0] = 1;
	while (*pat) {
		int any = 0;
		if (*pat == '*' || *pat == '%') {
			int cross = *pat == '*';
			next[0] = row[0];
			for (size_t j = 1; j <= m; j++)
				next[j] = row[j] || (next[j - 1] && (cross || s[off[j - 1]] != '/'));
			pat++;
		} else {
			const char *end = token_end(pat);
			next[0] = 0;
			for (size_t j = 1; j <= m; j++)
				next[j] = row[j - 1] && token_matches(pat, end, s + off[j - 1], off[j] - off[j - 1]);
			pat = end;
		}
		tmp = row, row = next, next = tmp;
		for (size_t j = 0; j <= m && !any; j++)
			any = row[j];
		if (!any)
			break;
	}
	result = row[m] && !*pat;
	free(off);
	free(row);
	free(next);
	return result;
}

/* "INBOX" followed by the end or '/', in any case. */
static int inbox_component(const char *s)
{
	return !strncasecmp(s, "INBOX", 5) && (s[5] == '\0' || s[5] == '/');
}

int config_folder_match(const char *pattern, const char *folder)
{
	/* RFC 3501 §5.1: INBOX is case-insensitive, every other name is not. */
	if (inbox_component(pattern) && inbox_component(folder))
		return glob_match(pattern + 5, folder + 5);
	return glob_match(pattern, folder);
}

int config_folder_selected(const struct account *acct, const char *folder)
{
	int included = 0;
	for (size_t i = 0; i < acct->include.n && !included; i++)
		included = config_folder_match(acct->include.items[i], folder);
	if (!included)
		return 0;
	for (size_t i = 0; i < acct->exclude.n; i++)
		if (config_folder_match(acct->exclude.items[i], folder))
			return 0;
	return 1;
}

/* A server folder (decoded name, its delimiter) against the patterns, which write
 * levels with '/' whatever the server's delimiter (mailkeep.yaml(5), FOLDER PATTERNS). */
char *config_pattern_name(const char *utf8, char delim)
{
	char *s = xstrdup(utf8);
	if (delim && delim != '/')
		for (char *p = s; *p; p++)
			if (*p == delim)
				*p = '/';
	return s;
}

int config_folder_selected_mb(const struct account *acct, const char *utf8, char delim)
{
	if (!delim || delim == '/')
		return config_folder_selected(acct, utf8);
	char *s = config_pattern_name(utf8, delim);
	int r = config_folder_selected(acct, s);
	free(s);
	return r;
}
