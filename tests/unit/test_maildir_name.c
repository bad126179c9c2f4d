/* Unit tests for the pure Maildir helpers: flags, escaping, folder paths, file names. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include "mailkeep/buf.h"
#include "mailkeep/maildir.h"

/* ---- flags ---- */

struct maildir_name_flag_case {
	const char *imap;
	unsigned bit;
};

static const struct maildir_name_flag_case maildir_name_flag_cases[] = {
	{ "\\Draft", MFLAG_DRAFT },
	{ "\\Flagged", MFLAG_FLAGGED },
	{ "$Forwarded", MFLAG_PASSED },
	{ "\\Answered", MFLAG_REPLIED },
	{ "\\Seen", MFLAG_SEEN },
	{ "\\Deleted", MFLAG_TRASHED },
	{ "\\seen", MFLAG_SEEN },
	{ "\\SEEN", MFLAG_SEEN },
	{ "\\dElEtEd", MFLAG_TRASHED },
	{ "$forwarded", MFLAG_PASSED },
	{ "$FORWARDED", MFLAG_PASSED },
	{ "\\Recent", 0 },
	{ "\\*", 0 },
	{ "$Junk", 0 },
	{ "$NotJunk", 0 },
	{ "Seen", 0 },
	{ "\\Seen2", 0 },
	{ "\\See", 0 },
	{ "\\Forwarded", 0 },
	{ "Forwarded", 0 },
	{ "", 0 },
	{ "\\", 0 },
	{ "\\\xc5\xbf" "een", 0 }, /* U+017F LATIN SMALL LETTER LONG S is not 's' */
};

Test(maildir_name, flag_from_imap)
{
	for (size_t i = 0; i < sizeof(maildir_name_flag_cases) / sizeof(maildir_name_flag_cases[0]);
	     i++) {
		const struct maildir_name_flag_case *c = &maildir_name_flag_cases[i];
		cr_expect_eq(maildir_flag_from_imap(c->imap, strlen(c->imap)), c->bit, "flag \"%s\"",
			     c->imap);
	}
	/* the length is honoured: "\\Seen" is a prefix of "\\Seenx" */
	cr_expect_eq(maildir_flag_from_imap("\\Seenx", 5), MFLAG_SEEN);
	cr_expect_eq(maildir_flag_from_imap("\\Seen", 4), 0);
}

Test(maildir_name, flag_to_imap)
{
	cr_expect_str_eq(maildir_flag_to_imap(MFLAG_DRAFT), "\\Draft");
	cr_expect_str_eq(maildir_flag_to_imap(MFLAG_FLAGGED), "\\Flagged");
	cr_expect_str_eq(maildir_flag_to_imap(MFLAG_PASSED), "$Forwarded");
	cr_expect_str_eq(maildir_flag_to_imap(MFLAG_REPLIED), "\\Answered");
	cr_expect_str_eq(maildir_flag_to_imap(MFLAG_SEEN), "\\Seen");
	cr_expect_str_eq(maildir_flag_to_imap(MFLAG_TRASHED), "\\Deleted");
	cr_expect_null(maildir_flag_to_imap(0));
	cr_expect_null(maildir_flag_to_imap(MFLAG_SEEN | MFLAG_DRAFT));
	cr_expect_null(maildir_flag_to_imap(1u << 6));
	cr_expect_null(maildir_flag_to_imap(MFLAG_ALL));
	for (unsigned bit = 1; bit <= MFLAG_TRASHED; bit <<= 1) {
		const char *name = maildir_flag_to_imap(bit);
		cr_assert_not_null(name);
		cr_expect_eq(maildir_flag_from_imap(name, strlen(name)), bit);
	}
}

struct maildir_name_letters_case {
	unsigned mask;
	const char *letters;
};

static const struct maildir_name_letters_case maildir_name_letters_cases[] = {
	{ 0, "" },
	{ MFLAG_SEEN, "S" },
	{ MFLAG_FLAGGED | MFLAG_SEEN, "FS" },
	{ MFLAG_TRASHED | MFLAG_DRAFT, "DT" },
	{ MFLAG_PASSED | MFLAG_REPLIED | MFLAG_SEEN, "PRS" },
	{ MFLAG_ALL, "DFPRST" },
	{ MFLAG_ALL | 0xffc0u, "DFPRST" }, /* bits outside the six are ignored */
};

Test(maildir_name, flags_to_letters)
{
	for (size_t i = 0;
	     i < sizeof(maildir_name_letters_cases) / sizeof(maildir_name_letters_cases[0]); i++) {
		const struct maildir_name_letters_case *c = &maildir_name_letters_cases[i];
		char out[7];
		memset(out, 'x', sizeof(out));
		maildir_flags_to_letters(c->mask, out);
		cr_expect_str_eq(out, c->letters, "mask 0x%x", c->mask);
	}
}

Test(maildir_name, flags_from_letters)
{
	for (size_t i = 0;
	     i < sizeof(maildir_name_letters_cases) / sizeof(maildir_name_letters_cases[0]); i++) {
		const struct maildir_name_letters_case *c = &maildir_name_letters_cases[i];
		cr_expect_eq(maildir_flags_from_letters(c->letters, strlen(c->letters)),
			     c->mask & MFLAG_ALL, "letters \"%s\"", c->letters);
	}
	cr_expect_eq(maildir_flags_from_letters("Sab", 3), MFLAG_SEEN);
	cr_expect_eq(maildir_flags_from_letters("abcSzF", 6), MFLAG_SEEN | MFLAG_FLAGGED);
	cr_expect_eq(maildir_flags_from_letters("SF", 2), MFLAG_SEEN | MFLAG_FLAGGED);
	cr_expect_eq(maildir_flags_from_letters("SS", 2), MFLAG_SEEN);
	cr_expect_eq(maildir_flags_from_letters("s", 1), 0);
	cr_expect_eq(maildir_flags_from_letters("dfprst", 6), 0);
	cr_expect_eq(maildir_flags_from_letters("XYZ,:2", 6), 0);
	cr_expect_eq(maildir_flags_from_letters("ST", 1), MFLAG_SEEN);
	cr_expect_eq(maildir_flags_from_letters(NULL, 0), 0);
}

/* ---- escaping ---- */

struct maildir_name_escape_case {
	const char *in;
	size_t len; /* 0: strlen */
	const char *esc;
};

static const struct maildir_name_escape_case maildir_name_escape_cases[] = {
	{ "", 0, "%" },
	{ "Sent", 0, "Sent" },
	{ "INBOX", 0, "INBOX" },
	{ "Sent Items", 0, "Sent Items" },
	{ ".", 0, "%2E" },
	{ "..", 0, "%2E." },
	{ "...", 0, "%2E.." },
	{ ".hidden", 0, "%2Ehidden" },
	{ "a.b.", 0, "a.b." },
	{ "a/b", 0, "a%2Fb" },
	{ "/", 0, "%2F" },
	{ "//", 0, "%2F%2F" },
	{ "%", 0, "%25" },
	{ "%25", 0, "%2525" },
	{ "%%", 0, "%25%25" },
	{ "100%", 0, "100%25" },
	{ "cur", 0, "%63ur" },
	{ "new", 0, "%6Eew" },
	{ "tmp", 0, "%74mp" },
	{ "NEW", 0, "%4EEW" },
	{ "Tmp", 0, "%54mp" },
	{ "cUR", 0, "%63UR" },
	{ "current", 0, "current" },
	{ "cu", 0, "cu" },
	{ "xcur", 0, "xcur" },
	{ "a\tb", 0, "a%09b" },
	{ "\n", 0, "%0A" },
	{ "\x01\x1f\x7f", 0, "%01%1F%7F" },
	{ "\x1b[31mred", 0, "%1B[31mred" },
	{ "Geschäftlich", 0, "Geschäftlich" },
	{ "日本語", 0, "日本語" },
	{ "Входящие", 0, "Входящие" },
	{ "😀", 0, "😀" },
	{ "\xff\x80", 0, "\xff\x80" }, /* not UTF-8, but harmless bytes: kept */
	{ "~", 0, "~" },
	{ "-", 0, "-" },
	{ " ", 0, " " },
	{ "a b\\c:d*e?f", 0, "a b\\c:d*e?f" },
	{ ".cur", 0, "%2Ecur" },
	{ "%2E", 0, "%252E" },
	{ "%63ur", 0, "%2563ur" },
};

static const struct {
	const char *in;
	size_t len;
} maildir_name_escape_nul[] = {
	{ "\0", 1 },
	{ "a\0b", 3 },
	{ "ab\0", 3 },
};

/* The properties the store relies on, for any escaped component. */
static void maildir_name_check_safe(const char *esc, size_t len, const char *what)
{
	cr_expect_gt(len, 0, "empty escape of %s", what);
	cr_expect_null(memchr(esc, '/', len), "'/' in escape of %s", what);
	cr_expect_null(memchr(esc, '\0', len), "NUL in escape of %s", what);
	cr_expect_neq(esc[0], '.', "leading '.' in escape of %s", what);
	cr_expect(!(len == 1 && esc[0] == '.') && !(len == 2 && memcmp(esc, "..", 2) == 0),
		  "dot name for %s", what);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)esc[i];
		cr_expect(c >= 0x20 && c != 0x7f, "control byte 0x%02x in escape of %s", c, what);
	}
	if (len == 3) {
		static const char *const subdirs[] = { "cur", "new", "tmp" };
		for (size_t k = 0; k < 3; k++)
			cr_expect(strncasecmp(esc, subdirs[k], 3) != 0, "escape of %s is %s", what,
				  subdirs[k]);
	}
}

Test(maildir_name, escape_table)
{
	for (size_t i = 0;
	     i < sizeof(maildir_name_escape_cases) / sizeof(maildir_name_escape_cases[0]); i++) {
		const struct maildir_name_escape_case *c = &maildir_name_escape_cases[i];
		size_t len = c->len ? c->len : strlen(c->in);
		struct buf b = BUF_INIT;

		buf_adds(&b, "pre:"); /* appends, does not reset */
		cr_assert_eq(maildir_escape_component(c->in, len, &b), 0, "escape \"%s\"", c->in);
		cr_assert_geq(b.len, 4);
		cr_expect_eq(memcmp(b.data, "pre:", 4), 0);
		cr_expect_str_eq(b.data + 4, c->esc, "escape \"%s\"", c->in);
		maildir_name_check_safe(b.data + 4, b.len - 4, c->esc);
		buf_free(&b);
	}
}

Test(maildir_name, escape_rejects_nul)
{
	for (size_t i = 0; i < sizeof(maildir_name_escape_nul) / sizeof(maildir_name_escape_nul[0]);
	     i++) {
		struct buf b = BUF_INIT;
		buf_adds(&b, "keep");
		cr_expect_eq(maildir_escape_component(maildir_name_escape_nul[i].in,
						      maildir_name_escape_nul[i].len, &b),
			     -1, "case %zu", i);
		cr_expect_str_eq(b.data, "keep", "output touched on failure");
		buf_free(&b);
	}
}

Test(maildir_name, unescape_table)
{
	for (size_t i = 0;
	     i < sizeof(maildir_name_escape_cases) / sizeof(maildir_name_escape_cases[0]); i++) {
		const struct maildir_name_escape_case *c = &maildir_name_escape_cases[i];
		size_t len = c->len ? c->len : strlen(c->in);
		struct buf b = BUF_INIT;

		buf_adds(&b, "pre:");
		cr_assert_eq(maildir_unescape_component(c->esc, strlen(c->esc), &b), 0,
			     "unescape \"%s\"", c->esc);
		cr_expect_eq(b.len, 4 + len, "unescape \"%s\"", c->esc);
		cr_expect_eq(memcmp(b.data + 4, c->in, len), 0, "unescape \"%s\"", c->esc);
		buf_free(&b);
	}
}

/* unescape(escape(x)) == x for every single byte, every pair of interesting
 * bytes, and a few three-byte names around the reserved words. */
Test(maildir_name, escape_round_trip_exhaustive)
{
	static const char interesting[] = { '.', '/', '%', 'c', 'u', 'r', 'N', 'E', 'W', 't', 'm',
					    'p', '2', 'F', '\x01', '\x7f', '\x80', '\xc3', ' ',
					    'a' };
	char s[3];
	struct buf esc = BUF_INIT, back = BUF_INIT;

	for (int c = 1; c < 256; c++) {
		s[0] = (char)c;
		buf_reset(&esc);
		buf_reset(&back);
		cr_assert_eq(maildir_escape_component(s, 1, &esc), 0);
		maildir_name_check_safe(esc.data, esc.len, "single byte");
		cr_assert_eq(maildir_unescape_component(esc.data, esc.len, &back), 0, "0x%02x", c);
		cr_assert_eq(back.len, 1);
		cr_assert_eq(back.data[0], (char)c);
	}
	for (size_t n = 2; n <= 3; n++) {
		size_t k = sizeof(interesting), total = n == 2 ? k * k : k * k * k;
		for (size_t idx = 0; idx < total; idx++) {
			size_t v = idx;
			for (size_t j = 0; j < n; j++) {
				s[j] = interesting[v % k];
				v /= k;
			}
			buf_reset(&esc);
			buf_reset(&back);
			cr_assert_eq(maildir_escape_component(s, n, &esc), 0);
			maildir_name_check_safe(esc.data, esc.len, "generated name");
			cr_assert_eq(maildir_unescape_component(esc.data, esc.len, &back), 0, "%s",
				     esc.data);
			cr_assert_eq(back.len, n);
			cr_assert_eq(memcmp(back.data, s, n), 0, "round trip of %s", esc.data);
		}
	}
	buf_free(&esc);
	buf_free(&back);
}

/* Directory names that escaping never produces: rejected, so that one
 * directory maps to exactly one folder name. */
static const char *const maildir_name_bad_escapes[] = {
	"",        /* escape("") is "%" */
	"%%",      /* bad hex */
	"a%",      /* truncated */
	"a%2",     /* truncated */
	"%G0",     /* bad hex */
	"%2G",     /* bad hex */
	"%2f",     /* lower-case hex is not canonical */
	"%2e",     /* idem */
	"%00",     /* NUL */
	"a%00b",   /* NUL */
	"%41",     /* 'A' needs no escape */
	"a%2Eb",   /* '.' only escaped in front */
	"%2E%2E",  /* second '.' must be literal */
	".",       /* literal leading dot */
	"..",
	".hidden",
	"a/b",     /* raw '/' */
	"cur",     /* raw reserved names */
	"new",
	"tmp",
	"NEW",
	"Tmp",
	"c%75r",   /* wrong letter escaped */
	"%63%75%72",
	"%63urrent", /* "current" needs no escape */
	"a\tb",    /* raw control */
	"a\x7f",
	"\n",
};

Test(maildir_name, unescape_rejects_noncanonical)
{
	size_t n = sizeof(maildir_name_bad_escapes) / sizeof(maildir_name_bad_escapes[0]);

	for (size_t i = 0; i < n; i++) {
		const char *e = maildir_name_bad_escapes[i];
		struct buf b = BUF_INIT;
		buf_adds(&b, "keep");
		cr_expect_eq(maildir_unescape_component(e, strlen(e), &b), -1, "accepted \"%s\"", e);
		cr_expect_str_eq(b.data, "keep", "output touched on failure of \"%s\"", e);
		buf_free(&b);
	}
	/* "%" alone is the empty name */
	struct buf b = BUF_INIT;
	cr_expect_eq(maildir_unescape_component("%", 1, &b), 0);
	cr_expect_eq(b.len, 0);
	cr_expect_eq(maildir_unescape_component("a%", 1, &b), 0); /* length honoured: "a" */
	cr_expect_str_eq(b.data, "a");
	buf_free(&b);
}

/* ---- folder paths ---- */

struct maildir_name_path_case {
	const char *name;
	char delim;
	const char *path; /* NULL: -1 expected */
};

static const struct maildir_name_path_case maildir_name_path_cases[] = {
	{ "INBOX", '/', "INBOX" },
	{ "inbox", '/', "INBOX" },
	{ "Inbox", 0, "INBOX" },
	{ "iNbOx", '.', "INBOX" },
	{ "Inbox/Sub", '/', "INBOX/Sub" },
	{ "inbox.Sub.Deeper", '.', "INBOX/Sub/Deeper" },
	{ "Inbox/Sub", '.', "Inbox%2FSub" },
	{ "Inbox/Sub", 0, "Inbox%2FSub" },
	{ "INBOXES", '/', "INBOXES" },
	{ "INBOXES/x", '/', "INBOXES/x" },
	{ "Sub/INBOX", '/', "Sub/INBOX" },
	{ "Sub/inbox", '/', "Sub/inbox" }, /* only the top-level INBOX is special */
	{ "Sent", '/', "Sent" },
	{ "a/b/c", '/', "a/b/c" },
	{ "a/b.c", '.', "a%2Fb/c" },
	{ "a.b/c", '/', "a.b/c" },
	{ "a.b", 0, "a.b" },
	{ "a/b", 0, "a%2Fb" },
	{ "../x", '/', "%2E./x" },
	{ "..", '/', "%2E." },
	{ ".", '/', "%2E" },
	{ "/", '/', "%/%" },
	{ "/etc/passwd", '/', "%/etc/passwd" },
	{ "a/../../b", '/', "a/%2E./%2E./b" },
	{ "a/./b", '/', "a/%2E/b" },
	{ "..", '.', "%/%/%" },
	{ "x..y", '.', "x/%/y" },
	{ "", '/', "%" },
	{ "", 0, "%" },
	{ "a//b", '/', "a/%/b" },
	{ "a/", '/', "a/%" },
	{ "cur", '/', "%63ur" },
	{ "Work/cur/new/tmp", '/', "Work/%63ur/%6Eew/%74mp" },
	{ "Work.NEW", '.', "Work/%4EEW" },
	{ ".hidden/x", '/', "%2Ehidden/x" },
	{ "100%", '/', "100%25" },
	{ "a\tb/c\n", '/', "a%09b/c%0A" },
	{ "Gesch\xc3\xa4" "ftlich/Entw\xc3\xbc" "rfe", '/', "Gesch\xc3\xa4" "ftlich/Entw\xc3\xbc" "rfe" },
	{ "~peter/mail/台北/日本語", '/', "~peter/mail/台北/日本語" },
	{ "Входящие.Спам", '.', "Входящие/Спам" },
	{ "a%b", '%', "a/b" },
};

Test(maildir_name, folder_path_table)
{
	for (size_t i = 0; i < sizeof(maildir_name_path_cases) / sizeof(maildir_name_path_cases[0]);
	     i++) {
		const struct maildir_name_path_case *c = &maildir_name_path_cases[i];
		struct buf b = BUF_INIT;

		buf_adds(&b, "old content"); /* reset first */
		int rc = maildir_folder_path(c->name, c->delim, &b);
		cr_assert_eq(rc, 0, "folder \"%s\" delim '%c'", c->name, c->delim ? c->delim : '0');
		cr_expect_str_eq(b.data, c->path, "folder \"%s\" delim '%c'", c->name,
				 c->delim ? c->delim : '0');
		buf_free(&b);
	}
}

/* Never absolute, never a "." or ".." component, never an empty component. */
Test(maildir_name, folder_path_is_contained)
{
	static const char *const names[] = { "..", "../..", "/..", "../", "./.", "a/../b",
					     "//", "///", ".../...", "/", "~/x", "a/.", "." };
	static const char delims[] = { '/', '.', 0 };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		for (size_t d = 0; d < sizeof(delims); d++) {
			struct buf b = BUF_INIT;
			cr_assert_eq(maildir_folder_path(names[i], delims[d], &b), 0);
			cr_expect_neq(b.data[0], '/', "absolute: %s", b.data);
			const char *p = b.data;
			for (;;) {
				const char *slash = strchr(p, '/');
				size_t n = slash ? (size_t)(slash - p) : strlen(p);
				cr_expect_gt(n, 0, "empty component in %s", b.data);
				cr_expect(!(n == 1 && p[0] == '.'), "'.' in %s", b.data);
				cr_expect(!(n == 2 && p[0] == '.' && p[1] == '.'), "'..' in %s", b.data);
				cr_expect_neq(p[0], '.', "dot component in %s", b.data);
				if (!slash)
					break;
				p = slash + 1;
			}
			buf_free(&b);
		}
	}
}

Test(maildir_name, folder_path_depth_limit)
{
	struct buf name = BUF_INIT, out = BUF_INIT;

	/* 64 levels: fine */
	buf_adds(&name, "a");
	for (int i = 1; i < 64; i++)
		buf_adds(&name, "/a");
	cr_assert_eq(maildir_folder_path(name.data, '/', &out), 0);
	cr_expect_eq(out.len, name.len);
	/* 65: refused, out left empty */
	buf_adds(&name, "/a");
	cr_expect_eq(maildir_folder_path(name.data, '/', &out), -1);
	cr_expect_eq(out.len, 0);
	/* the same name is one level without a delimiter */
	cr_expect_eq(maildir_folder_path(name.data, 0, &out), 0);
	cr_expect_eq(strchr(out.data, '/'), NULL);
	/* 65 empty levels */
	buf_reset(&name);
	for (int i = 0; i < 64; i++)
		buf_addch(&name, '.');
	cr_expect_eq(maildir_folder_path(name.data, '.', &out), -1);
	buf_free(&name);
	buf_free(&out);
}

/* ---- message file names ---- */

struct maildir_name_parse_case {
	const char *name;
	int rc;
	uint32_t uid;
	uint32_t uidvalidity;
	unsigned flags;
};

static const struct maildir_name_parse_case maildir_name_parse_cases[] = {
	{ "1700000000.3857529045_42.mailkeep,U=42:2,FS", 0, 42, 3857529045u,
	  MFLAG_FLAGGED | MFLAG_SEEN },
	{ "1700000000.3857529045_42.mailkeep,U=42:2,", 0, 42, 3857529045u, 0 },
	{ "1700000000.3857529045_42.mailkeep,U=42", 0, 42, 3857529045u, 0 },
	{ "1700000000.1_4294967295.mailkeep,U=4294967295:2,DFPRST", 0, 4294967295u, 1, MFLAG_ALL },
	{ "0.4294967295_1.mailkeep,U=1:2,T", 0, 1, 4294967295u, MFLAG_TRASHED },
	{ "-86400.7_9.mailkeep,U=9:2,S", 0, 9, 7, MFLAG_SEEN }, /* date before 1970 */
	{ "1700000000.123_4.host,U=42:2,S", 0, 42, 0, MFLAG_SEEN }, /* mbsync */
	{ "1700000000.123_4.host.example,U=42,X=1:2,RS", 0, 42, 0, MFLAG_REPLIED | MFLAG_SEEN },
	{ "1700000000.M1P2.host,S=1234,W=1250,U=7:2,Sab", 0, 7, 0, MFLAG_SEEN },
	{ "1700000000.M1P2.host,U=7,S=1234:2,S", 0, 7, 0, MFLAG_SEEN },
	{ "x,U=1", 0, 1, 0, 0 },
	{ "x,U=1:2,S", 0, 1, 0, MFLAG_SEEN },
	{ "x,U=1:1,S", 0, 1, 0, 0 },     /* experimental info: no flags */
	{ "x,U=1:1,2,S", 0, 1, 0, 0 },
	{ "x,U=1:3,S", 0, 1, 0, 0 },
	{ "x,U=1:2,S:2,F", 0, 1, 0, MFLAG_FLAGGED }, /* flags after the last ":2," */
	{ "x,U=1:2,s", 0, 1, 0, 0 },
	{ "x,U=1:2,ZYXS", 0, 1, 0, MFLAG_SEEN },
	{ "x,U=1,U=2:2,S", 0, 2, 0, MFLAG_SEEN }, /* the last U= wins */
	/* mailkeep's name with more info parts: its base ends at the first ':',
	 * as maildir_name_with_flags() cuts it (found by fuzz_maildir_name) */
	{ "1000.5_42.mailkeep,U=42:,U=42:2,FS", 0, 42, 5, MFLAG_FLAGGED | MFLAG_SEEN },
	{ "1000.5_42.mailkeep,U=42:x,U=7:2,S", 0, 42, 5, MFLAG_SEEN },
	/* mailkeep's name renamed with another info separator (mbsync on Windows ';',
	 * offlineimap's '!') or with more fields: still its message (before: another
	 * program's file, and the message downloaded a second time beside it) */
	{ "1000.5_42.mailkeep,U=42;2,FS", 0, 42, 5, MFLAG_FLAGGED | MFLAG_SEEN },
	{ "1000.5_42.mailkeep,U=42!2,S", 0, 42, 5, MFLAG_SEEN },
	{ "1000.5_42.mailkeep,U=42;2,", 0, 42, 5, 0 },
	{ "1000.5_42.mailkeep,U=42;2,S:1,F", 0, 42, 5, MFLAG_SEEN },
	{ "1000.5_42.mailkeep,U=42;1,S", 0, 42, 5, 0 },
	{ "1000.5_42.mailkeep,U=42,2,S", 0, 42, 5, 0 },
	{ "1000.5_42.mailkeep,U=42,S=1234,W=1300:2,RS", 0, 42, 5, MFLAG_REPLIED | MFLAG_SEEN },
	{ "1000.5_42.mailkeep,U=42x:2,S", 0, 42, 5, MFLAG_SEEN },
	{ "1000.5_42.mailkeep,U=421;2,S", -1, 0, 0, 0 }, /* not the same uid twice */
	{ "1000.5_042.mailkeep,U=42;2,S", -1, 0, 0, 0 },
	/* a ':' before the first '.': the info starts there, not after U= (found by
	 * fuzz_maildir_name: the flags were read from before the base's end) */
	{ ",U=:2100.5_42.mailkeep,U=42;2,2,", -1, 0, 0, 0 },
	{ "1:0.5_42.mailkeep,U=42;2,S", -1, 0, 0, 0 },
	{ "x,U=0001:2,", 0, 1, 0, 0 },
	{ "1.2_3.mailkeepx,U=3", 0, 3, 0, 0 },      /* not exactly ".mailkeep" */
	{ "1.x2_3.mailkeep,U=3", 0, 3, 0, 0 },      /* not digits: another program's */
	{ "1.2_3x.mailkeep,U=3", 0, 3, 0, 0 },
	{ "1.23.mailkeep,U=3", 0, 3, 0, 0 },
	{ "1._3.mailkeep,U=3", 0, 3, 0, 0 },
	{ "1.2_.mailkeep,U=3", 0, 3, 0, 0 },
	{ "1.0_3.mailkeep,U=3", 0, 3, 0, 0 },
	{ "1.2_3.mailkeep,U=4:2,S", -1, 0, 0, 0 }, /* mailkeep uid disagrees with U= */
	{ "1.99999999999_3.mailkeep,U=3", -1, 0, 0, 0 }, /* uidvalidity overflow */
	{ "1.2_99999999999.mailkeep,U=3", -1, 0, 0, 0 },
	{ "1700000000.3857529045_42.mailkeep:2,S", -1, 0, 0, 0 }, /* no U= */
	{ "", -1, 0, 0, 0 },
	{ "x", -1, 0, 0, 0 },
	{ "x:2,S", -1, 0, 0, 0 },
	{ "x,U=", -1, 0, 0, 0 },
	{ "x,U=:2,S", -1, 0, 0, 0 },
	{ "x,U=0", -1, 0, 0, 0 },
	{ "x,U=0:2,S", -1, 0, 0, 0 },
	{ "x,U=4294967296", -1, 0, 0, 0 },
	{ "x,U=99999999999999999999999", -1, 0, 0, 0 },
	{ "x,U=-1", -1, 0, 0, 0 },
	{ "x,U=+1", -1, 0, 0, 0 },
	{ "x,U= 1", -1, 0, 0, 0 },
	{ "x,U=1a", -1, 0, 0, 0 },
	{ "x,U=1.5", -1, 0, 0, 0 },
	{ "x,u=1", -1, 0, 0, 0 },
	{ "x,U=1;2,S", -1, 0, 0, 0 },
	{ "x:2,S,U=1", -1, 0, 0, 0 }, /* U= in the info part does not count */
	{ "x:1,U=1", -1, 0, 0, 0 },
};

Test(maildir_name, parse_name_table)
{
	for (size_t i = 0;
	     i < sizeof(maildir_name_parse_cases) / sizeof(maildir_name_parse_cases[0]); i++) {
		const struct maildir_name_parse_case *c = &maildir_name_parse_cases[i];
		uint32_t uid = 77, uv = 77;
		unsigned flags = 77;
		int rc = maildir_parse_name(c->name, &uid, &uv, &flags);

		cr_expect_eq(rc, c->rc, "parse \"%s\": rc %d", c->name, rc);
		if (rc != 0 || c->rc != 0)
			continue;
		cr_expect_eq(uid, c->uid, "uid of \"%s\": %u", c->name, uid);
		cr_expect_eq(uv, c->uidvalidity, "uidvalidity of \"%s\": %u", c->name, uv);
		cr_expect_eq(flags, c->flags, "flags of \"%s\": 0x%x", c->name, flags);
	}
}

struct maildir_name_base_case {
	int64_t date;
	uint32_t uidvalidity, uid;
	const char *name;
};

static const struct maildir_name_base_case maildir_name_base_cases[] = {
	{ 1700000000, 3857529045u, 42, "1700000000.3857529045_42.mailkeep,U=42" },
	{ 0, 1, 1, "0.1_1.mailkeep,U=1" },
	{ -86400, 7, 9, "-86400.7_9.mailkeep,U=9" },
	{ INT64_MAX, UINT32_MAX, UINT32_MAX,
	  "9223372036854775807.4294967295_4294967295.mailkeep,U=4294967295" },
	{ INT64_MIN, 1, 2, "-9223372036854775808.1_2.mailkeep,U=2" },
};

Test(maildir_name, base_name_table)
{
	for (size_t i = 0;
	     i < sizeof(maildir_name_base_cases) / sizeof(maildir_name_base_cases[0]); i++) {
		const struct maildir_name_base_case *c = &maildir_name_base_cases[i];
		struct buf b = BUF_INIT;
		uint32_t uid, uv;
		unsigned flags;

		buf_adds(&b, "old content");
		maildir_base_name(&b, c->date, c->uidvalidity, c->uid);
		cr_expect_str_eq(b.data, c->name);
		/* and it parses back */
		cr_assert_eq(maildir_parse_name(b.data, &uid, &uv, &flags), 0, "%s", b.data);
		cr_expect_eq(uid, c->uid);
		cr_expect_eq(uv, c->uidvalidity);
		cr_expect_eq(flags, 0);
		buf_free(&b);
	}
}

struct maildir_name_flags_case {
	const char *name;
	unsigned flags;
	const char *out;
};

static const struct maildir_name_flags_case maildir_name_flags_cases[] = {
	{ "x,U=1:2,S", MFLAG_FLAGGED | MFLAG_SEEN, "x,U=1:2,FS" },
	{ "x,U=1", MFLAG_SEEN, "x,U=1:2,S" },
	{ "x,U=1:2,Sab", MFLAG_SEEN, "x,U=1:2,S" },
	{ "x,U=1:2,FS", 0, "x,U=1:2," },
	{ "x,U=1:2,", MFLAG_ALL, "x,U=1:2,DFPRST" },
	{ "x,U=1:2,S", MFLAG_ALL | 0x100u, "x,U=1:2,DFPRST" },
	{ "x,U=1:1,foo", MFLAG_SEEN, "x,U=1:2,S" },
	{ "x,U=1:2,S:2,F", MFLAG_TRASHED, "x,U=1:2,S:2,T" },
	/* mailkeep's own name carries one info part: a reader's second one goes */
	{ "1.5_6.mailkeep,U=6:2,S:2,F", MFLAG_TRASHED, "1.5_6.mailkeep,U=6:2,T" },
	{ "1.5_6.mailkeep,U=6:2,:2,", MFLAG_SEEN, "1.5_6.mailkeep,U=6:2,S" },
	{ "1.5_6.mailkeep,U=6:1,x:2,S", MFLAG_SEEN, "1.5_6.mailkeep,U=6:2,S" },
	{ "1.5_6.mailkeep,U=6;2,S", MFLAG_SEEN, "1.5_6.mailkeep,U=6:2,S" },
	{ "1.5_6.mailkeep,U=6!2,FS", MFLAG_SEEN, "1.5_6.mailkeep,U=6:2,S" },
	{ "1.5_6.mailkeep,U=6,2,S:2,DFPRS", MFLAG_FLAGGED, "1.5_6.mailkeep,U=6:2,F" },
	{ "1.5_6.mailkeep,U=6,S=1234,W=1300:2,S", MFLAG_SEEN, "1.5_6.mailkeep,U=6:2,S" },
	{ "1700000000.3857529045_42.mailkeep,U=42:2,RS", MFLAG_REPLIED | MFLAG_SEEN | MFLAG_TRASHED,
	  "1700000000.3857529045_42.mailkeep,U=42:2,RST" },
	{ "1700000000.M1P2.host,S=1234,W=1250:2,Sab", MFLAG_DRAFT, "1700000000.M1P2.host,S=1234,W=1250:2,D" },
	{ "", MFLAG_SEEN, ":2,S" },
};

Test(maildir_name, name_with_flags_table)
{
	for (size_t i = 0;
	     i < sizeof(maildir_name_flags_cases) / sizeof(maildir_name_flags_cases[0]); i++) {
		const struct maildir_name_flags_case *c = &maildir_name_flags_cases[i];
		struct buf b = BUF_INIT;

		buf_adds(&b, "old content");
		maildir_name_with_flags(&b, c->name, c->flags);
		cr_expect_str_eq(b.data, c->out, "\"%s\" + 0x%x", c->name, c->flags);
		buf_free(&b);
	}
}

/* Flags written by name_with_flags are read back by parse_name, for every mask. */
Test(maildir_name, name_with_flags_round_trip)
{
	struct buf base = BUF_INIT, b = BUF_INIT;

	maildir_base_name(&base, 1700000000, 5, 6);
	for (unsigned mask = 0; mask <= MFLAG_ALL; mask++) {
		uint32_t uid, uv;
		unsigned flags;

		maildir_name_with_flags(&b, base.data, mask);
		cr_assert_eq(maildir_parse_name(b.data, &uid, &uv, &flags), 0);
		cr_expect_eq(flags, mask);
		cr_expect_eq(uid, 6);
		cr_expect_eq(uv, 5);
		/* the name may come from the output buffer itself */
		maildir_name_with_flags(&b, b.data, mask ^ MFLAG_SEEN);
		cr_assert_eq(maildir_parse_name(b.data, &uid, &uv, &flags), 0);
		cr_expect_eq(flags, mask ^ MFLAG_SEEN);
	}
	buf_free(&base);
	buf_free(&b);
}

/* The leading date is read only as maildir_base_name() writes it, so that
 * a name whose date matches is the name mailkeep would give ("-0." is not:
 * found by fuzz_maildir_name). */
Test(maildir_name, leading_date_table)
{
	static const struct {
		const char *name;
		int rc;
		int64_t date;
	} cases[] = {
		{ "1700000000.5_42.mailkeep,U=42:2,S", 0, 1700000000 },
		{ "0.5_42.mailkeep,U=42", 0, 0 },
		{ "-86400.7_9.mailkeep,U=9", 0, -86400 },
		{ "9223372036854775807.1_2.mailkeep,U=2", 0, INT64_MAX },
		{ "-9223372036854775807.1_2.mailkeep,U=2", 0, -INT64_MAX },
		{ "9223372036854775808.1_2.mailkeep,U=2", -1, 0 }, /* out of range */
		{ "-0.5_42.mailkeep,U=42:2,S", -1, 0 },
		{ "00.5_42.mailkeep,U=42", -1, 0 },
		{ "01.5_42.mailkeep,U=42", -1, 0 },
		{ "-01.5_42.mailkeep,U=42", -1, 0 },
		{ "+1.5_42.mailkeep,U=42", -1, 0 },
		{ "1x.5_42.mailkeep,U=42", -1, 0 },
		{ "-.5_42.mailkeep,U=42", -1, 0 },
		{ ".5_42.mailkeep,U=42", -1, 0 },
		{ "17", -1, 0 },
		{ "", -1, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t d = 77;
		int rc = maildir_name_leading_date(cases[i].name, &d);
		cr_expect_eq(rc, cases[i].rc, "\"%s\": rc %d", cases[i].name, rc);
		if (rc == 0 && cases[i].rc == 0)
			cr_expect_eq(d, cases[i].date, "\"%s\": %" PRId64, cases[i].name, d);
	}
}

/* Renamed for its flags, a file is still taken for the same message: uid and
 * uidvalidity read from the new name are those of the old one, whatever info
 * parts another program added (found by fuzz_maildir_name). */
Test(maildir_name, name_with_flags_keeps_message)
{
	static const char *const names[] = {
		"1000.5_42.mailkeep,U=42:,U=42:2,FS",
		"1000.5_42.mailkeep,U=42:x,U=7:2,S",
		"1000.5_42.mailkeep,U=42:2,S:2,F",
		"x,U=1:y,U=2:2,S",
		"x,U=1,U=2:2,S",
		"1000.5_42.mailkeep,U=42;2,S",
		"1000.5_42.mailkeep,U=42,2,S:2,F",
	};
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		uint32_t uid, uv, uid2, uv2;
		unsigned flags, flags2;

		cr_assert_eq(maildir_parse_name(names[i], &uid, &uv, &flags), 0, "%s", names[i]);
		maildir_name_with_flags(&b, names[i], MFLAG_DRAFT);
		cr_assert_eq(maildir_parse_name(b.data, &uid2, &uv2, &flags2), 0, "%s", b.data);
		cr_expect_eq(uid2, uid, "\"%s\" -> \"%s\": uid %u, was %u", names[i], b.data, uid2, uid);
		cr_expect_eq(uv2, uv, "\"%s\" -> \"%s\": uidvalidity %u, was %u", names[i], b.data, uv2, uv);
		cr_expect_eq(flags2, MFLAG_DRAFT);
	}
	buf_free(&b);
}

/* The whole name, built without printf, is base name + flags for every case
 * and mask; maildir_name_date() gives the date back from exactly that name. */
Test(maildir_name, canonical_name_and_date)
{
	struct buf base = BUF_INIT, want = BUF_INIT, got = BUF_INIT;
	for (size_t i = 0;
	     i < sizeof(maildir_name_base_cases) / sizeof(maildir_name_base_cases[0]); i++) {
		const struct maildir_name_base_case *c = &maildir_name_base_cases[i];
		for (unsigned mask = 0; mask <= MFLAG_ALL; mask++) {
			int64_t d = 42;
			maildir_base_name(&base, c->date, c->uidvalidity, c->uid);
			maildir_name_with_flags(&want, base.data, mask);
			buf_adds(&got, "old content");
			maildir_canonical_name(&got, c->date, c->uidvalidity, c->uid, mask);
			cr_assert_str_eq(got.data, want.data);
			if (c->date == INT64_MIN) { /* not a date a state can hold */
				cr_expect_eq(maildir_name_date(got.data, c->uidvalidity, c->uid, mask, &d), -1);
				continue;
			}
			cr_assert_eq(maildir_name_date(got.data, c->uidvalidity, c->uid, mask, &d), 0, "%s", got.data);
			cr_expect_eq(d, c->date);
			/* another uid, uidvalidity or flag set is another name */
			cr_expect_eq(maildir_name_date(got.data, c->uidvalidity, c->uid + 1, mask, &d), -1);
			cr_expect_eq(maildir_name_date(got.data, c->uidvalidity + 1, c->uid, mask, &d), -1);
			cr_expect_eq(maildir_name_date(got.data, c->uidvalidity, c->uid, mask ^ MFLAG_SEEN, &d), -1);
		}
	}
	static const char *const not_ours[] = {
		"1700000000.5_6.mailkeep,U=6:2,Sa",   /* a reader's keyword letter */
		"01700000000.5_6.mailkeep,U=6:2,S",   /* leading zero */
		"+1700000000.5_6.mailkeep,U=6:2,S",
		"-0.5_6.mailkeep,U=6:2,S",
		"1700000000.5_6.mailkeep,U=6",        /* no info */
		"1700000000.5_6.host,U=6:2,S",
		"1700000000.M1P2.host,U=6:2,S",
		"99999999999999999999.5_6.mailkeep,U=6:2,S",
		"",
		".5_6.mailkeep,U=6:2,S",
	};
	for (size_t i = 0; i < sizeof(not_ours) / sizeof(not_ours[0]); i++) {
		int64_t d = 42;
		cr_expect_eq(maildir_name_date(not_ours[i], 5, 6, MFLAG_SEEN, &d), -1, "%s", not_ours[i]);
		cr_expect_eq(d, 42);
	}
	int64_t d;
	cr_expect_eq(maildir_name_date("0.5_6.mailkeep,U=6:2,S", 5, 6, MFLAG_SEEN, &d), 0);
	cr_expect_eq(d, 0);
	buf_free(&base);
	buf_free(&want);
	buf_free(&got);
}

Test(maildir_name, info_canonical)
{
	static const struct { const char *name; int want; } cases[] = {
		{ "1.5_6.mailkeep,U=6:2,", 1 },
		{ "1.5_6.mailkeep,U=6:2,DFPRST", 1 },
		{ "x,U=6:2,RS", 1 },
		{ "1.5_6.mailkeep,U=6:2,Sa", 0 },    /* Dovecot keyword letter */
		{ "1.5_6.mailkeep,U=6:2,SZ", 0 },    /* unknown letter */
		{ "1.5_6.mailkeep,U=6:2,SR", 0 },    /* unsorted */
		{ "1.5_6.mailkeep,U=6:2,SS", 0 },    /* repeated */
		{ "1.5_6.mailkeep,U=6:2,FPS,x", 0 }, /* more after the letters */
		{ "1.5_6.mailkeep,U=6:1,foo", 0 },   /* experimental info */
		{ "1.5_6.mailkeep,U=6", 0 },         /* no info */
		{ "1.5_6.mailkeep,U=6:2,S:2,S", 0 }, /* two info parts */
		{ "1.5_6.mailkeep,U=6:2,:2,", 0 },
		{ "1.5_6.mailkeep,U=6:1,x:2,S", 0 },
		{ "1.5_6.mailkeep,U=6;2,S", 0 },      /* another separator */
		{ "1.5_6.mailkeep,U=6,2,S:2,S", 0 },  /* more fields after U= */
		{ "", 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(maildir_info_canonical(cases[i].name), cases[i].want, "%s", cases[i].name);
}
