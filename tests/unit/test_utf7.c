/* Unit tests for modified UTF-7 (RFC 3501 §5.1.3). Expected encodings were
 * computed independently (UTF-16BE -> base64, '/' -> ',', no '='). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "mailkeep/utf7.h"

struct utf7_pair {
	const char *utf8;
	const char *mutf7;
};

static const struct utf7_pair utf7_pairs[] = {
	{ "", "" },
	{ "INBOX", "INBOX" },
	{ "Sent Items", "Sent Items" },
	{ " ~!\"#$%'()*+,-./:;<=>?@[\\]^_`{|}", " ~!\"#$%'()*+,-./:;<=>?@[\\]^_`{|}" },
	{ "R&D", "R&-D" },
	{ "&", "&-" },
	{ "&&", "&-&-" },
	{ "-&-", "-&--" },
	{ "&-", "&--" },
	{ "Geschäftlich", "Gesch&AOQ-ftlich" },
	{ "Entwürfe", "Entw&APw-rfe" },
	{ "Gelöschte Elemente", "Gel&APY-schte Elemente" },
	{ "Ä/Ö/Ü", "&AMQ-/&ANY-/&ANw-" },
	{ "ä&ü", "&AOQ-&-&APw-" },
	{ "äü", "&AOQA,A-" },
	{ "&ä", "&-&AOQ-" },
	{ "ü", "&APw-" },
	{ "ÿ", "&AP8-" },
	{ "Ā", "&AQA-" },
	{ "a\xc2\xa0" "b", "a&AKA-b" }, /* U+00A0, first non-control above ASCII */
	{ "€", "&IKw-" },
	{ "\xef\xbf\xbd", "&,,0-" }, /* U+FFFD */
	{ "Входящие", "&BBIERQQ+BDQETwRJBDgENQ-" },
	{ "Отправленные", "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-" },
	{ "日本語", "&ZeVnLIqe-" },
	{ "受信トレイ", "&U9dP4TDIMOwwpA-" },
	{ "送信済みメール", "&kAFP4W4IMH8w4TD8MOs-" },
	{ "~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-" }, /* RFC 3501 example */
	{ "Εισερχόμενα", "&A5UDuQPDA7UDwQPHA8wDvAO1A70DsQ-" },
	{ "已发送邮件", "&XfJT0ZABkK5O9g-" },
	{ "垃圾邮件", "&V4NXPpCuTvY-" },
	{ "😀", "&2D3eAA-" },
	{ "x😀y", "x&2D3eAA-y" },
	{ "Fun 😀🎉 stuff", "Fun &2D3eANg834k- stuff" },
	{ "\xf4\x8f\xbf\xbf", "&2,,f,w-" }, /* U+10FFFF */
};

Test(utf7, decode_table)
{
	for (size_t i = 0; i < sizeof(utf7_pairs) / sizeof(utf7_pairs[0]); i++) {
		const struct utf7_pair *p = &utf7_pairs[i];
		char *out = NULL;
		int rc = utf7_decode(p->mutf7, strlen(p->mutf7), &out);
		cr_assert_eq(rc, 0, "decode \"%s\" failed", p->mutf7);
		cr_expect_str_eq(out, p->utf8, "decode \"%s\"", p->mutf7);
		free(out);
	}
}

Test(utf7, encode_table)
{
	for (size_t i = 0; i < sizeof(utf7_pairs) / sizeof(utf7_pairs[0]); i++) {
		const struct utf7_pair *p = &utf7_pairs[i];
		char *out = NULL;
		int rc = utf7_encode(p->utf8, strlen(p->utf8), &out);
		cr_assert_eq(rc, 0, "encode \"%s\" failed", p->utf8);
		cr_expect_str_eq(out, p->mutf7, "encode \"%s\"", p->utf8);
		free(out);
	}
}

Test(utf7, round_trip)
{
	for (size_t i = 0; i < sizeof(utf7_pairs) / sizeof(utf7_pairs[0]); i++) {
		const char *s = utf7_pairs[i].utf8;
		char *enc = NULL, *dec = NULL;
		cr_assert_eq(utf7_encode(s, strlen(s), &enc), 0);
		cr_assert_eq(utf7_decode(enc, strlen(enc), &dec), 0, "decode \"%s\"", enc);
		cr_expect_str_eq(dec, s);
		free(enc);
		free(dec);
	}
}

/* Every BMP scalar value outside ASCII/controls and a sample of the
 * supplementary planes survive encode -> decode, alone and between letters. */
Test(utf7, round_trip_all_code_points)
{
	for (unsigned long c = 0xa0; c <= 0x10ffff; c += (c < 0x10000 ? 1 : 97)) {
		if (c >= 0xd800 && c <= 0xdfff)
			continue;
		char s[8];
		size_t n;
		if (c < 0x800) {
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
		s[n++] = 'z';
		s[n] = '\0';
		char *enc = NULL, *dec = NULL;
		cr_assert_eq(utf7_encode(s, n, &enc), 0, "encode U+%04lX", c);
		cr_assert_eq(utf7_decode(enc, strlen(enc), &dec), 0, "decode U+%04lX: %s", c, enc);
		cr_assert_str_eq(dec, s, "U+%04lX", c);
		free(enc);
		free(dec);
	}
}

struct utf7_bad {
	const char *in;
	size_t len; /* 0: strlen */
	const char *why;
};

static const struct utf7_bad utf7_bad_decode[] = {
	{ "&", 0, "lone &" },
	{ "abc&", 0, "& at end" },
	{ "&AOQ", 0, "unterminated run" },
	{ "Gesch&AOQftlich", 0, "run never closed" },
	{ "&AOQ.", 0, "run ended by '.'" },
	{ "&AOQ -", 0, "space inside run" },
	{ "&AO/-", 0, "'/' instead of ','" },
	{ "&AOQ=-", 0, "'=' padding" },
	{ "&AOQ==-", 0, "'=' padding" },
	{ "&A-", 0, "6 bits only" },
	{ "&AO-", 0, "12 bits only" },
	{ "&AOR-", 0, "non-zero leftover bits" },
	{ "&AOS-", 0, "non-zero leftover bits" },
	{ "&AOQA-", 0, "superfluous character" },
	{ "&AOQAA-", 0, "superfluous characters" },
	{ "&AOQA,B-", 0, "non-zero leftover bits (4 bits)" },
	{ "&AOQA,P-", 0, "non-zero leftover bits (4 bits)" },
	{ "&AGE-", 0, "encoded 'a'" },
	{ "&ACY-", 0, "encoded '&'" },
	{ "&ACA-", 0, "encoded space" },
	{ "&AH4-", 0, "encoded '~'" },
	{ "&AGEAYgBj-", 0, "encoded \"abc\"" },
	{ "&AOQAYQ-", 0, "run containing printable ASCII" },
	{ "&AAA-", 0, "encoded NUL" },
	{ "&AAo-", 0, "encoded LF" },
	{ "&AB8-", 0, "encoded U+001F" },
	{ "&AH8-", 0, "encoded DEL" },
	{ "&AIA-", 0, "encoded C1 U+0080" },
	{ "&AJ8-", 0, "encoded C1 U+009F" },
	{ "&AOQ-&APw-", 0, "adjacent runs" },
	{ "a&AOQ-&APw-b", 0, "adjacent runs" },
	{ "&2D0-", 0, "lone high surrogate" },
	{ "&3gA-", 0, "lone low surrogate" },
	{ "&3gDYPQ-", 0, "surrogates reversed" },
	{ "&2D3YPQ-", 0, "high followed by high" },
	{ "&2D0AYQ-", 0, "high followed by 'a'" },
	{ "&2D0-&3gA-", 0, "surrogate pair split over two runs" },
	{ "&2D0-x&3gA-", 0, "surrogate pair split by literal" },
	{ "Gesch\xc3\xa4" "ftlich", 0, "raw UTF-8" },
	{ "\x80", 0, "raw 0x80" },
	{ "\xff", 0, "raw 0xFF" },
	{ "a\tb", 0, "raw tab" },
	{ "a\nb", 0, "raw LF" },
	{ "a\x7f", 0, "raw DEL" },
	{ "a\0b", 3, "raw NUL" },
	{ "&AOQ\0-", 6, "NUL inside run" },
	{ "&AOQ\xc3\xa4-", 0, "8-bit inside run" },
};

Test(utf7, decode_rejects_malformed)
{
	for (size_t i = 0; i < sizeof(utf7_bad_decode) / sizeof(utf7_bad_decode[0]); i++) {
		const struct utf7_bad *b = &utf7_bad_decode[i];
		size_t len = b->len ? b->len : strlen(b->in);
		char *out = (char *)"untouched";

		cr_expect_eq(utf7_decode(b->in, len, &out), -1, "accepted %s: \"%s\"", b->why, b->in);
		cr_expect_null(out, "*out not NULL after failure (%s)", b->why);
	}
}

static const struct utf7_bad utf7_bad_encode[] = {
	{ "\x80", 0, "lone continuation byte" },
	{ "a\xbf" "b", 0, "lone continuation byte" },
	{ "\xc3", 0, "truncated 2-byte sequence" },
	{ "G\xc3", 0, "truncated at end" },
	{ "\xe6\x97", 0, "truncated 3-byte sequence" },
	{ "\xf0\x9f\x98", 0, "truncated 4-byte sequence" },
	{ "\xc3" "a", 0, "bad continuation" },
	{ "\xe6" "ab", 0, "bad continuation" },
	{ "\xc0\x80", 0, "overlong NUL" },
	{ "\xc1\xbf", 0, "overlong 2-byte" },
	{ "\xe0\x80\xaf", 0, "overlong '/'" },
	{ "\xe0\x9f\xbf", 0, "overlong 3-byte" },
	{ "\xf0\x8f\xbf\xbf", 0, "overlong 4-byte" },
	{ "\xed\xa0\x80", 0, "surrogate U+D800" },
	{ "\xed\xbf\xbf", 0, "surrogate U+DFFF" },
	{ "\xed\xa0\xbd\xed\xb8\x80", 0, "CESU-8 surrogate pair" },
	{ "\xf4\x90\x80\x80", 0, "U+110000" },
	{ "\xf5\x80\x80\x80", 0, "lead byte 0xF5" },
	{ "\xf8\x88\x80\x80\x80", 0, "5-byte sequence" },
	{ "\xfe", 0, "0xFE" },
	{ "\xff", 0, "0xFF" },
	{ "a\0b", 3, "NUL" },
	{ "a\tb", 0, "tab" },
	{ "a\x1b[31m", 0, "escape" },
	{ "a\x7f", 0, "DEL" },
	{ "a\xc2\x9b" "b", 0, "C1 CSI" },
};

Test(utf7, encode_rejects_invalid)
{
	for (size_t i = 0; i < sizeof(utf7_bad_encode) / sizeof(utf7_bad_encode[0]); i++) {
		const struct utf7_bad *b = &utf7_bad_encode[i];
		size_t len = b->len ? b->len : strlen(b->in);
		char *out = (char *)"untouched";

		cr_expect_eq(utf7_encode(b->in, len, &out), -1, "accepted %s", b->why);
		cr_expect_null(out, "*out not NULL after failure (%s)", b->why);
	}
}

Test(utf7, length_is_respected)
{
	char *out = NULL;

	/* only the first 5 bytes count: the run is unterminated there */
	cr_assert_eq(utf7_decode("&AOQ-x", 4, &out), -1);
	cr_assert_eq(utf7_decode("&AOQ-x", 5, &out), 0);
	cr_expect_str_eq(out, "ä");
	free(out);
	cr_assert_eq(utf7_decode("&-", 1, &out), -1);
	cr_assert_eq(utf7_encode("Gesch\xc3\xa4", 6, &out), -1);
	cr_assert_eq(utf7_encode("Gesch\xc3\xa4", 7, &out), 0);
	cr_expect_str_eq(out, "Gesch&AOQ-");
	free(out);
	cr_assert_eq(utf7_decode(NULL, 0, &out), 0);
	cr_expect_str_eq(out, "");
	free(out);
}

/* utf7_next_utf8: one strictly decoded scalar value, or -1 with the position kept */
Test(utf7, next_utf8_table)
{
	static const struct {
		const char *in;
		int rc;
		uint32_t cp;
		size_t adv;
	} cases[] = {
		{ "A", 0, 0x41, 1 },           { "\xc2\x9b", 0, 0x9b, 2 },  { "\xe2\x80\xae", 0, 0x202e, 3 },
		{ "\xf0\x9f\x98\x80", 0, 0x1f600, 4 }, { "\x9b", -1, 0, 0 },  { "\xc0\xaf", -1, 0, 0 },
		{ "\xed\xa0\x80", -1, 0, 0 },  { "\xe2\x80", -1, 0, 0 },    { "\xf4\x90\x80\x80", -1, 0, 0 },
		{ "\xff", -1, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t pos = 0;
		uint32_t cp = 0;
		int rc = utf7_next_utf8(cases[i].in, strlen(cases[i].in), &pos, &cp);
		cr_assert_eq(rc, cases[i].rc, "case %zu: rc %d", i, rc);
		cr_assert_eq(pos, cases[i].adv, "case %zu: advanced %zu", i, pos);
		if (rc == 0)
			cr_assert_eq(cp, cases[i].cp, "case %zu: U+%04X", i, (unsigned)cp);
	}
}
