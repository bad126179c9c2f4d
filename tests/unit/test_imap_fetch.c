/* Unit tests for the IMAP client's handling of FETCH flags (src/imap_fetch.c):
 * which keywords are kept (imap_keyword_ok, RFC 3501 §9: flag-keyword = atom)
 * and what one FETCH response gives the sync (imap_on_fetch). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mailkeep/buf.h"
#include "mailkeep/config.h"
#include "mailkeep/imap_parse.h"
#include "mailkeep/maildir.h"
#include "../../src/imap_internal.h"

/* ---- imap_keyword_ok ---- */

struct kw_case {
	const char *s;
	size_t len; /* 0: strlen(s) */
	int ok;
};

Test(imap_keyword_ok, table)
{
	char long_ok[129], long_bad[130];
	memset(long_ok, 'k', 128);
	long_ok[128] = '\0';
	memset(long_bad, 'k', 129);
	long_bad[129] = '\0';
	const struct kw_case cases[] = {
		{ "$Label", 0, 1 }, { "$Forwarded", 0, 1 }, { "Keyword1", 0, 1 }, { "foo/bar", 0, 1 },
		{ "a:b", 0, 1 }, { "..", 0, 1 }, { "[x", 0, 1 }, { "a.b-c_d+e", 0, 1 }, { long_ok, 0, 1 },
		{ "", 0, 0 }, { long_bad, 0, 0 },
		{ "k\x01w", 0, 0 }, { "k\x7fw", 0, 0 }, { "k\tw", 0, 0 }, { "a b", 0, 0 },
		{ "\xe9t\xe9", 0, 0 }, { "k\x80", 0, 0 }, { "k\0w", 3, 0 },
		{ "a(b", 0, 0 }, { "a)b", 0, 0 }, { "a{b", 0, 0 }, { "a%b", 0, 0 }, { "*", 0, 0 },
		{ "a\"b", 0, 0 }, { "a]b", 0, 0 }, { "a\\b", 0, 0 }, { "a\\", 0, 0 },
		{ "\\Seen", 0, 0 }, { "\\Recent", 0, 0 }, { "\\", 0, 0 }, { "\\\\", 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imap_value v = { .type = IMAP_ATOM, .data = cases[i].s,
					.len = cases[i].len ? cases[i].len : strlen(cases[i].s) };
		cr_expect_eq(imap_keyword_ok(&v), cases[i].ok, "case %zu \"%.20s\": expected %d", i, cases[i].s,
			     cases[i].ok);
	}
	/* a keyword is an atom: the same bytes as a string or NIL are not one */
	struct imap_value str = { .type = IMAP_STRING, .data = "$Label", .len = 6 };
	struct imap_value nil = { .type = IMAP_NIL };
	cr_expect_eq(imap_keyword_ok(&str), 0);
	cr_expect_eq(imap_keyword_ok(&nil), 0);
}

/* ---- imap_on_fetch ---- */

struct got {
	int calls;
	uint32_t uid;
	unsigned flags;
	int has_flags;
	char keywords[256];
};

static int got_message(void *ctx, const struct imap_msg *m, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	struct got *g = ctx;
	g->calls++;
	g->uid = m->uid;
	g->flags = m->flags;
	g->has_flags = m->has_flags;
	snprintf(g->keywords, sizeof(g->keywords), "%s", m->keywords);
	return 0;
}

static const struct account test_acct = { .host = "imap.test" };

/* One FETCH response line through imap_on_fetch on connection c, as the sync's
 * UID FETCH reads it; what it writes to stderr (its warnings) goes to warned
 * when not NULL. */
static int fetch_one_warned(struct imap_client *c, const char *line, struct got *g, struct fetch_ctx *fc,
			    char *warned, size_t warnedlen)
{
	struct imap_fetch_cb cb = { .on_message = got_message, .ctx = g };
	fc->cb = &cb;
	struct imap_parser *p = imap_parser_new();
	struct imap_response r;
	char err[256] = "";
	cr_assert_eq(imap_parse(p, line, strlen(line), &r, err, sizeof(err)), 0, "%s", err);
	FILE *cap = warned ? tmpfile() : NULL;
	int saved = -1;
	if (warned) {
		cr_assert_not_null(cap);
		fflush(stderr);
		saved = dup(2);
		cr_assert(saved >= 0 && dup2(fileno(cap), 2) == 2);
	}
	int rc = imap_on_fetch(c, &r, fc, err, sizeof(err));
	if (warned) {
		fflush(stderr);
		dup2(saved, 2);
		close(saved);
		rewind(cap);
		size_t n = fread(warned, 1, warnedlen - 1, cap);
		warned[n] = '\0';
		fclose(cap);
	}
	imap_parser_free(p);
	fc->cb = NULL;
	return rc;
}

Test(imap_on_fetch, keyword_with_backslash_dropped_rest_kept)
{
	struct got g = { 0 };
	struct fetch_ctx fc = { .keywords = BUF_INIT };
	struct imap_client c = { .acct = &test_acct };
	char warned[1024];
	cr_assert_eq(fetch_one_warned(&c, "* 1 FETCH (UID 7 FLAGS (\\Seen a\\b $Label))\r\n", &g, &fc, warned,
				      sizeof(warned)), IMAP_DATA);
	cr_assert_eq(g.calls, 1);
	cr_expect_eq(g.uid, 7);
	cr_expect_eq(g.has_flags, 1);
	cr_expect_eq(g.flags, MFLAG_SEEN, "flags %#x", g.flags);
	cr_expect_str_eq(g.keywords, "$Label");
	cr_expect_str_eq(warned, "mailkeep: warning: imap.test: UID 7: 1 keywords that are not IMAP atoms are not kept "
				 "(\"a\\b\")\n");
	cr_expect_eq(c.keyword_warnings, 1);
	buf_free(&fc.keywords);
}

/* A server repeating such answers does not flood the output: the first
 * KEYWORD_WARNINGS (10) messages of a folder are warned about, then one note. */
Test(imap_on_fetch, refused_keyword_warnings_capped)
{
	struct got g = { 0 };
	struct fetch_ctx fc = { .keywords = BUF_INIT };
	struct imap_client c = { .acct = &test_acct };
	char warned[1024], line[128];
	size_t lines = 0;
	for (int uid = 1; uid <= 30; uid++) {
		snprintf(line, sizeof(line), "* %d FETCH (UID %d FLAGS (\\Seen k\xe9w *))\r\n", uid, uid);
		cr_assert_eq(fetch_one_warned(&c, line, &g, &fc, warned, sizeof(warned)), IMAP_DATA);
		cr_expect_eq(g.flags, MFLAG_SEEN);
		cr_expect_str_eq(g.keywords, "");
		cr_expect_null(strchr(warned, '\xe9'), "a raw 8-bit byte in \"%s\"", warned);
		if (uid == 1)
			cr_expect_str_eq(warned, "mailkeep: warning: imap.test: UID 1: 2 keywords that are not IMAP atoms are "
						 "not kept (\"k\\xe9w\"...)\n");
		if (uid == 11)
			cr_expect_str_eq(warned, "mailkeep: warning: imap.test: keywords not kept of more messages; not shown\n");
		for (const char *n = warned; (n = strchr(n, '\n')) != NULL; n++)
			lines++;
	}
	cr_expect_eq(lines, 11);
	buf_free(&fc.keywords);
}

/* A message's flags come in every FETCH that shows them (on a first sync the
 * listing, then the download): its keywords not kept are warned about once, in
 * the first; the cap stays that of the folder. Another folder starts anew; the
 * same one again (an attempt retried) does not. */
static size_t warned_lines(struct imap_client *c, int from, int to)
{
	struct got g = { 0 };
	struct fetch_ctx fc = { .keywords = BUF_INIT }; /* one command */
	char warned[1024], line[128];
	size_t lines = 0;
	for (int uid = from; uid <= to; uid++) {
		snprintf(line, sizeof(line), "* %d FETCH (UID %d FLAGS (\\Seen a\\b))\r\n", uid, uid);
		cr_assert_eq(fetch_one_warned(c, line, &g, &fc, warned, sizeof(warned)), IMAP_DATA);
		for (const char *n = warned; (n = strchr(n, '\n')) != NULL; n++)
			lines++;
	}
	buf_free(&fc.keywords);
	return lines;
}

Test(imap_on_fetch, refused_keywords_warned_once_a_message)
{
	struct imap_client c = { .acct = &test_acct };
	imap_set_folder(&c, "INBOX");
	cr_expect_eq(warned_lines(&c, 1, 3), 3);
	cr_expect_eq(warned_lines(&c, 1, 3), 0, "the same messages warned about again in the next FETCH");
	cr_expect_eq(warned_lines(&c, 2, 9), 6);
	cr_expect_eq(warned_lines(&c, 10, 20), 2, "the cap is the folder's: UID 10, then the note");
	cr_expect_eq(warned_lines(&c, 21, 30), 0);
	imap_set_folder(&c, "INBOX");
	cr_expect_eq(warned_lines(&c, 21, 30), 0, "the same folder again (an attempt retried) warned about anew");
	imap_set_folder(&c, "Archive");
	cr_expect_eq(warned_lines(&c, 1, 3), 3, "another folder's messages not warned about");
	imap_set_folder(&c, NULL);
}

Test(imap_on_fetch, odd_flags_only_atoms_kept)
{
	struct got g = { 0 };
	struct fetch_ctx fc = { .keywords = BUF_INIT };
	struct imap_client c = { .acct = &test_acct };
	char warned[1024];
	cr_assert_eq(fetch_one_warned(&c, "* 1 FETCH (UID 1 FLAGS (\\Seen\\Seen foo/bar a:b $Junk \\Flagged .. ../x "
				      "\\\\ * %% \\Recent))\r\n", &g, &fc, warned, sizeof(warned)), IMAP_DATA);
	cr_expect_eq(g.flags, MFLAG_FLAGGED, "flags %#x", g.flags);
	cr_expect_str_eq(g.keywords, "foo/bar a:b $Junk .. ../x");
	/* the system flags it does not know (\Seen\Seen, \\, \Recent) are not warned about */
	cr_expect_str_eq(warned, "mailkeep: warning: imap.test: UID 1: 2 keywords that are not IMAP atoms are not kept "
				 "(\"*\"...)\n");
	buf_free(&fc.keywords);
}
