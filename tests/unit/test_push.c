/* Push, pure parts: folder name mapping, flag strings and deltas, message
 * identity (header section, digest, Message-ID), push state round trip and
 * malformed states, the per-folder plan, candidate matching; and a mirror
 * file read in CRLF form and scanned (push_msg.c). */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mailkeep/imap.h"
#include "mailkeep/maildir.h"
#include "mailkeep/push.h"
#include "mailkeep/utf7.h"

/* ---- folder names ---- */

/* A target folder as LIST would give it (wire name). */
struct tmb {
	const char *wire;
	char delim;
	unsigned special;
	unsigned flags;
};

static void make_list(const struct tmb *t, struct imap_mailbox_list *l)
{
	size_t n = 0;
	while (t && t[n].wire)
		n++;
	l->items = calloc(n + 1, sizeof(*l->items));
	l->n = n;
	for (size_t i = 0; i < n; i++) {
		l->items[i].name = strdup(t[i].wire);
		if (utf7_decode(t[i].wire, strlen(t[i].wire), &l->items[i].utf8) < 0)
			l->items[i].utf8 = NULL;
		l->items[i].delim = t[i].delim;
		l->items[i].special = t[i].special;
		l->items[i].flags = t[i].flags;
	}
}

static const struct tmb plain_slash[] = { { "INBOX", '/', 0, 0 }, { "Archive", '/', 0, 0 }, { NULL, 0, 0, 0 } };
static const struct tmb special_slash[] = {
	{ "INBOX", '/', 0, 0 }, { "Gesendet", '/', IMAP_SPECIAL_SENT, 0 }, { "M&APw-ll", '/', IMAP_SPECIAL_TRASH, 0 },
	{ "Sent Items", '/', 0, 0 }, { NULL, 0, 0, 0 } };
static const struct tmb names_only[] = {
	{ "INBOX", '/', 0, 0 }, { "Junk", '/', 0, 0 }, { "Sent", '/', 0, 0 }, { NULL, 0, 0, 0 } };
static const struct tmb attrs_no_junk[] = {
	{ "INBOX", '/', 0, 0 }, { "Junk", '/', 0, 0 }, { "Sent", '/', IMAP_SPECIAL_SENT, 0 }, { NULL, 0, 0, 0 } };
static const struct tmb courier[] = {
	{ "INBOX", '.', 0, 0 }, { "INBOX.Sent", '.', 0, 0 }, { NULL, 0, 0, 0 } };

static const struct push_map_entry map1[] = {
	{ "Sent Items", "Sent" }, { "Lists", "Archive/Lists" }, { "Lists/keep", "Kept" }, { "inbox/old", "Old" },
};

struct map_case {
	const char *rel;              /* mirror path (escaped) */
	const struct push_map_entry *map;
	size_t n_map;
	const struct tmb *target;
	char delim;
	const char *prefix;
	const char *wire;             /* expected, NULL: an error */
	const char *utf8;
	const char *err_part;         /* in the error message */
};

/* the source's namespace prefix (Courier's INBOX., 1 level) is taken off; push_map sees it */
static const struct map_case skip_cases[] = {
	{ "INBOX/Archive/2024", NULL, 0, plain_slash, '/', "", "Archive/2024", "Archive/2024", NULL },
	{ "INBOX/Archive", NULL, 0, courier, '.', "INBOX.", "INBOX.Archive", "INBOX.Archive", NULL },
	{ "INBOX/Sent Items", NULL, 0, special_slash, '/', "", "Sent Items", "Sent Items", NULL },
	{ "INBOX/Deleted Items", NULL, 0, special_slash, '/', "", "M&APw-ll", "Müll", NULL },
	{ "INBOX/old", map1, 4, plain_slash, '/', "", "Old", "Old", NULL },
	{ "INBOX/Lists/a", map1, 4, plain_slash, '/', "", "Lists/a", "Lists/a", NULL },
};

static const struct map_case map_cases[] = {
	{ "INBOX", NULL, 0, plain_slash, '/', "", "INBOX", "INBOX", NULL },
	{ "Archive/2024", NULL, 0, plain_slash, '/', "", "Archive/2024", "Archive/2024", NULL },
	{ "Archive/2024", NULL, 0, plain_slash, '.', "", "Archive.2024", "Archive.2024", NULL },
	{ "Geschäftlich", NULL, 0, plain_slash, '/', "", "Gesch&AOQ-ftlich", "Geschäftlich", NULL },
	{ "日本語/R&D", NULL, 0, plain_slash, '.', "", "&ZeVnLIqe-.R&-D", "日本語.R&D", NULL },
	{ "%2Ehidden", NULL, 0, plain_slash, '/', "", ".hidden", ".hidden", NULL },
	{ "%63ur", NULL, 0, plain_slash, '/', "", "cur", "cur", NULL },
	{ "INBOX/Sub", NULL, 0, plain_slash, '.', "", "INBOX.Sub", "INBOX.Sub", NULL },
	/* push_map: exact, a parent, the nearest parent wins, INBOX case-insensitively */
	{ "Sent Items", map1, 4, plain_slash, '/', "", "Sent", "Sent", NULL },
	{ "Sent Items/2023", map1, 4, plain_slash, '.', "", "Sent.2023", "Sent.2023", NULL },
	{ "Lists/a/b", map1, 4, plain_slash, '/', "", "Archive/Lists/a/b", "Archive/Lists/a/b", NULL },
	{ "Lists/keep/x", map1, 4, plain_slash, '/', "", "Kept/x", "Kept/x", NULL },
	{ "INBOX/old", map1, 4, plain_slash, '/', "", "Old", "Old", NULL },
	{ "Listsx", map1, 4, plain_slash, '/', "", "Listsx", "Listsx", NULL },
	/* SPECIAL-USE: by attribute when the names differ; the same name wins */
	{ "Sent Messages", NULL, 0, special_slash, '/', "", "Gesendet", "Gesendet", NULL },
	{ "Sent Messages/2023", NULL, 0, special_slash, '/', "", "Gesendet/2023", "Gesendet/2023", NULL },
	{ "Sent Items", NULL, 0, special_slash, '/', "", "Sent Items", "Sent Items", NULL },
	{ "Deleted Items", NULL, 0, special_slash, '/', "", "M&APw-ll", "Müll", NULL },
	{ "INBOX/Trash", NULL, 0, special_slash, '/', "", "M&APw-ll", "Müll", NULL },
	{ "Junk", NULL, 0, special_slash, '/', "", "Junk", "Junk", NULL },
	{ "Archive", NULL, 0, special_slash, '/', "", "Archive", "Archive", NULL },
	/* no attribute anywhere: well-known names on both sides */
	{ "Spam", NULL, 0, names_only, '/', "", "Junk", "Junk", NULL },
	{ "Gesendete Objekte", NULL, 0, names_only, '/', "", "Sent", "Sent", NULL },
	{ "Drafts", NULL, 0, names_only, '/', "", "Drafts", "Drafts", NULL },
	/* attributes shown, but no \Junk: the name is kept */
	{ "Spam", NULL, 0, attrs_no_junk, '/', "", "Spam", "Spam", NULL },
	/* a personal namespace prefix */
	{ "Archive", NULL, 0, courier, '.', "INBOX.", "INBOX.Archive", "INBOX.Archive", NULL },
	{ "INBOX", NULL, 0, courier, '.', "INBOX.", "INBOX", "INBOX", NULL },
	{ "Sent Items", NULL, 0, courier, '.', "INBOX.", "INBOX.Sent", "INBOX.Sent", NULL },
	{ "A/B", NULL, 0, courier, '.', "bad\x01", "A.B", "A.B", NULL },
	/* errors */
	{ "v1.2", NULL, 0, plain_slash, '.', "", NULL, NULL, "delimiter '.'" },
	{ "a%2Fb", NULL, 0, plain_slash, '/', "", NULL, NULL, "delimiter '/'" },
	{ "a/%/b", NULL, 0, plain_slash, '/', "", NULL, NULL, "empty level" },
	{ "a/b", NULL, 0, plain_slash, 0, "", NULL, NULL, "no folder hierarchy" },
	{ "a/x\xff" "y", NULL, 0, plain_slash, '/', "", NULL, NULL, "folder name is not valid UTF-8" },
	{ "Sent Messages/x\xff" "y", NULL, 0, special_slash, '/', "", NULL, NULL, "folder name is not valid UTF-8" },
	{ "Sent Items", map1, 4, plain_slash, '.', "", "Sent", "Sent", NULL },
};

static void map_table(const struct map_case *cases, size_t n, size_t skip)
{
	for (size_t i = 0; i < n; i++) {
		const struct map_case *t = &cases[i];
		struct push_name nm;
		struct imap_mailbox_list l = { 0 };
		struct buf wire = BUF_INIT, utf8 = BUF_INIT;
		char err[256] = "";
		cr_assert_eq(push_name_from_path(t->rel, &nm), 0, "case %zu: %s", i, t->rel);
		make_list(t->target, &l);
		int rc = push_map_folder(&nm, skip, 0, t->map, t->n_map, &l, t->delim, t->prefix, &wire,
					 &utf8, err, sizeof(err));
		if (t->wire) {
			cr_expect_eq(rc, 0, "case %zu (%s): %s", i, t->rel, err);
			if (rc == 0) {
				cr_expect_str_eq(wire.data, t->wire, "case %zu (%s)", i, t->rel);
				cr_expect_str_eq(utf8.data, t->utf8, "case %zu (%s)", i, t->rel);
			}
		} else {
			cr_expect_eq(rc, -1, "case %zu (%s): accepted as %s", i, t->rel, wire.data ? wire.data : "");
			cr_expect_not_null(strstr(err, t->err_part), "case %zu: \"%s\" lacks \"%s\"", i, err,
					   t->err_part);
		}
		push_name_free(&nm);
		imap_mailbox_list_free(&l);
		buf_free(&wire);
		buf_free(&utf8);
	}
}

Test(push_names, map_table)
{
	map_table(map_cases, sizeof(map_cases) / sizeof(map_cases[0]), 0);
}

Test(push_names, map_below_source_namespace)
{
	map_table(skip_cases, sizeof(skip_cases) / sizeof(skip_cases[0]), 1);
}

Test(push_names, from_path_rejects_bad_escapes)
{
	static const char *const bad[] = { "a%zz", "%", "x/%4", "a/%00b" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct push_name nm;
		int rc = push_name_from_path(bad[i], &nm);
		if (i == 1) { /* "%" alone is the empty level: valid */
			cr_expect_eq(rc, 0);
			cr_expect_eq(nm.n, 1);
			cr_expect_str_eq(nm.comp[0], "");
			push_name_free(&nm);
			continue;
		}
		cr_expect_eq(rc, -1, "%s accepted", bad[i]);
	}
}

Test(push_names, special_from_name)
{
	static const struct { const char *name; char sep; unsigned want; } t[] = {
		{ "Sent", '/', IMAP_SPECIAL_SENT }, { "sent items", '/', IMAP_SPECIAL_SENT },
		{ "[Gmail]/Sent Mail", '/', IMAP_SPECIAL_SENT }, { "INBOX.Drafts", '.', IMAP_SPECIAL_DRAFTS },
		{ "Gelöschte Elemente", '/', IMAP_SPECIAL_TRASH }, { "Junk E-mail", '/', IMAP_SPECIAL_JUNK },
		{ "Archives", '/', IMAP_SPECIAL_ARCHIVE }, { "Papierkorb", '/', IMAP_SPECIAL_TRASH },
		{ "Work/Sent", '/', 0 }, { "Sentinel", '/', 0 }, { "INBOX", '/', 0 }, { "a/b/Trash", '/', 0 },
		{ "", '/', 0 },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct push_name nm;
		push_name_split(t[i].name, t[i].sep, &nm);
		cr_expect_eq(push_special_from_name(&nm), t[i].want, "%s", t[i].name);
		push_name_free(&nm);
	}
}

/* ---- flags ---- */

Test(push_flags, flags_string)
{
	static const struct { unsigned flags; const char *kw; const char *want; } t[] = {
		{ 0, NULL, "" },
		{ MFLAG_SEEN, "", "\\Seen" },
		{ MFLAG_ALL, NULL, "\\Draft \\Flagged $Forwarded \\Answered \\Seen \\Deleted" },
		{ MFLAG_SEEN | MFLAG_REPLIED, "$label1 Work", "\\Answered \\Seen $label1 Work" },
		{ 0, "  a   b  ", "a b" },
		{ 0, "dup Dup dup x", "dup x" },
		{ 0, "\\Seen $Forwarded ok", "ok" },            /* system flags are not keywords */
		{ 0, "bad(one) q\"uote ok% ok2 a]b", "ok2" },    /* not atoms: dropped */
	};
	struct buf out = BUF_INIT;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		push_flags_string(t[i].flags, t[i].kw, &out);
		cr_expect_str_eq(out.data, t[i].want, "case %zu", i);
	}
	push_keywords_normalise("a b", "", &out);
	cr_expect_str_eq(out.data, "", "keywords not allowed");
	push_keywords_normalise("a $Junk b $notjunk", "$junk $NotJunk x", &out);
	cr_expect_str_eq(out.data, "$Junk $notjunk", "keywords listed in PERMANENTFLAGS");
	/* $Forwarded is a keyword on the wire: kept only where any keyword is, or where it is listed */
	cr_expect_eq(push_flags_allowed(MFLAG_PASSED | MFLAG_SEEN, NULL), MFLAG_PASSED | MFLAG_SEEN);
	cr_expect_eq(push_flags_allowed(MFLAG_PASSED | MFLAG_SEEN, ""), MFLAG_SEEN);
	cr_expect_eq(push_flags_allowed(MFLAG_PASSED | MFLAG_SEEN, "$Junk"), MFLAG_SEEN);
	cr_expect_eq(push_flags_allowed(MFLAG_PASSED, "$Junk $forwarded"), MFLAG_PASSED);
	cr_expect_eq(push_flags_allowed(MFLAG_FLAGGED | MFLAG_DRAFT, ""), MFLAG_FLAGGED | MFLAG_DRAFT);
	buf_free(&out);
}

Test(push_flags, delta)
{
	static const struct {
		unsigned of; const char *ok; unsigned nf; const char *nk; const char *add, *rem;
	} t[] = {
		{ 0, NULL, 0, NULL, "", "" },
		{ MFLAG_SEEN, NULL, MFLAG_SEEN | MFLAG_FLAGGED, NULL, "\\Flagged", "" },
		{ MFLAG_SEEN | MFLAG_REPLIED, NULL, MFLAG_REPLIED, NULL, "", "\\Seen" },
		{ MFLAG_SEEN, "a b", MFLAG_DRAFT, "b c", "\\Draft c", "\\Seen a" },
		{ 0, "A", 0, "a", "", "" }, /* keywords compare case-insensitively */
		{ MFLAG_ALL, "x", MFLAG_ALL, "x", "", "" },
	};
	struct buf add = BUF_INIT, rem = BUF_INIT;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		push_flags_delta(t[i].of, t[i].ok, t[i].nf, t[i].nk, &add, &rem);
		cr_expect_str_eq(add.data, t[i].add, "case %zu add", i);
		cr_expect_str_eq(rem.data, t[i].rem, "case %zu remove", i);
	}
	buf_free(&add);
	buf_free(&rem);
}

/* A flag update half done (its +FLAGS or its -FLAGS refused): the keywords
 * the target has then. */
Test(push_flags, keywords_apply)
{
	static const struct {
		const char *ok, *nk; int add, remove; const char *want;
	} t[] = {
		{ "a b", "b c", 1, 1, "b c" },
		{ "a b", "b c", 1, 0, "a b c" }, /* the removal refused */
		{ "a b", "b c", 0, 1, "b" },     /* the addition refused */
		{ "a b", "b c", 0, 0, "a b" },
		{ NULL, "x", 1, 0, "x" },
		{ "x", NULL, 0, 1, "" },
		{ "A", "a", 0, 0, "A" }, /* the same keyword: nothing to do */
	};
	struct buf out = BUF_INIT;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		push_keywords_apply(t[i].ok, t[i].nk, t[i].add, t[i].remove, &out);
		cr_expect_str_eq(out.data, t[i].want, "case %zu: %s", i, out.data);
	}
	buf_free(&out);
}

/* ---- message identity ---- */

Test(push_identity, header_len)
{
	static const struct { const char *msg; size_t want; } t[] = {
		{ "A: b\r\n\r\nbody", 6 }, { "A: b\r\nC: d\r\n\r\n", 12 }, { "A: b\r\n", 6 }, { "A: b", 4 },
		{ "\r\nbody", 0 }, { "", 0 }, { "A: b\n\nbody", 5 }, { "A: b\r\n \r\nx", 10 },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		cr_expect_eq(push_header_len(t[i].msg, strlen(t[i].msg)), t[i].want, "case %zu", i);
}

Test(push_identity, digest_of_file_equals_digest_of_server_header)
{
	/* the header cut from the message and the server's BODY[HEADER] (with the
	 * empty line) give the same digest; another header does not */
	const char *msg = "From: a@b\r\nSubject: x\r\n\r\nbody\r\n";
	const char *server = "From: a@b\r\nSubject: x\r\n\r\n";
	unsigned char d1[PUSH_DIGEST_LEN], d2[PUSH_DIGEST_LEN], d3[PUSH_DIGEST_LEN], zero[PUSH_DIGEST_LEN] = { 0 };
	push_header_digest(msg, push_header_len(msg, strlen(msg)), d1);
	push_header_digest(server, strlen(server), d2);
	push_header_digest("From: a@b\r\nSubject: y\r\n\r\n", 25, d3);
	cr_expect_eq(memcmp(d1, d2, PUSH_DIGEST_LEN), 0);
	cr_expect_neq(memcmp(d1, d3, PUSH_DIGEST_LEN), 0);
	cr_expect_neq(memcmp(d1, zero, PUSH_DIGEST_LEN), 0);
}

Test(push_identity, message_id)
{
	static const struct { const char *hdr; const char *want; } t[] = {
		{ "Message-ID: <a@b>\r\n", "<a@b>" },
		{ "Subject: x\r\nmessage-id:<1.2@host.example>\r\nTo: y\r\n", "<1.2@host.example>" },
		{ "Message-Id:\r\n <folded@x>\r\n", "<folded@x>" },
		{ "Message-ID: <a@b> (comment)\r\n", "<a@b>" },
		{ "Message-ID: <with\"quote@x>\r\n", "<with\"quote@x>" },
		{ "Subject: Message-ID: <no@x>\r\n", NULL },
		{ "X-Message-ID: <no@x>\r\n", NULL },
		{ "Message-ID: no-brackets@x\r\n", NULL },
		{ "Message-ID: <\xc3\xa4@x>\r\n", NULL },
		{ "Message-ID: <>\r\n", NULL },
		{ "Message-ID: <unterminated@x\r\n", NULL },
		{ "", NULL },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char out[64];
		int rc = push_message_id(t[i].hdr, strlen(t[i].hdr), out, sizeof(out));
		if (t[i].want) {
			cr_expect_eq(rc, 0, "case %zu", i);
			if (!rc)
				cr_expect_str_eq(out, t[i].want, "case %zu", i);
		} else {
			cr_expect_eq(rc, -1, "case %zu accepted (%s)", i, rc ? "" : out);
		}
	}
	char small[8];
	cr_expect_eq(push_message_id("Message-ID: <long@example>\r\n", 28, small, sizeof(small)), -1);
}

/* ---- push state ---- */

Test(push_state, round_trip)
{
	struct push_state st = { 0 }, ld;
	struct buf text = BUF_INIT, again = BUF_INIT;
	char err[256];
	st.target = strdup("Gesch&AOQ-ftlich with space");
	st.tgt_uv = 4000000000u;
	struct push_entry *e = push_state_put(&st, 7, 3);
	e->tgt_uid = 11;
	e->flags = MFLAG_SEEN | MFLAG_FLAGGED;
	push_entry_set_keywords(&st, e, "$label1 Work");
	e = push_state_put(&st, 7, 1);
	e->tgt_uid = 10;
	e = push_state_put(&st, 5, 4000000000u);
	e->pending = 1;
	e = push_state_put(&st, 7, 2);
	e->tgt_uid = 0; /* on the target, UID unknown */
	e->flags = MFLAG_ALL;
	cr_assert_eq(push_state_put(&st, 7, 3)->tgt_uid, 11, "put of an existing key returns it");
	cr_assert_eq(st.n, 4);
	push_state_format(&st, &text);
	cr_expect_str_eq(text.data, "mailkeep-push 1\n"
			 "target Gesch&AOQ-ftlich with space\n"
			 "uidvalidity 4000000000\n"
			 "p 5 4000000000\n"
			 "m 7 1 10 -\n"
			 "m 7 2 0 DFPRST\n"
			 "m 7 3 11 FS $label1 Work\n");
	cr_assert_eq(push_state_parse(text.data, text.len, &ld, err, sizeof(err)), 0, "%s", err);
	push_state_format(&ld, &again);
	cr_expect_str_eq(again.data, text.data);
	cr_expect_eq(ld.n, 4);
	cr_expect(ld.e[0].pending);
	cr_expect_str_eq(push_state_find(&ld, 7, 3)->keywords, "$label1 Work");
	cr_expect_null(push_state_find(&ld, 7, 4));
	/* a pending entry keeps the message's identity on the wire, round trip */
	{
		static const char keyed[] = "mailkeep-push 1\ntarget T\nuidvalidity 3\n"
					    "p 5 9 2048 1700000000 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff <a b@c>\n"
					    "p 5 10\n";
		struct push_state ks;
		struct buf kt = BUF_INIT;
		cr_assert_eq(push_state_parse(keyed, strlen(keyed), &ks, err, sizeof(err)), 0, "%s", err);
		cr_expect(ks.e[0].pending && ks.e[1].pending);
		cr_expect_str_eq(ks.e[0].pkey, "2048 1700000000 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff <a b@c>");
		cr_expect_null(ks.e[1].pkey);
		push_state_format(&ks, &kt);
		cr_expect_str_eq(kt.data, keyed);
		push_state_free(&ks);
		buf_free(&kt);
	}
	/* an APPENDUID not checked yet: "p" with an "a" line naming the target UID;
	 * read back as pending with that UID (asked for first by the next push) */
	{
		static const char hinted[] = "mailkeep-push 1\ntarget T\nuidvalidity 3\n"
					     "p 5 9 2048 1700000000 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
					     "a 5 9 4000000001\n"
					     "p 5 10\n"
					     "m 5 11 7 S\n";
		struct push_state hs = { 0 };
		struct buf ht = BUF_INIT;
		cr_assert_eq(push_state_parse(hinted, strlen(hinted), &hs, err, sizeof(err)), 0, "%s", err);
		cr_expect(hs.e[0].pending && hs.e[0].tgt_uid == 4000000001u);
		cr_expect(hs.e[1].pending && hs.e[1].tgt_uid == 0);
		push_state_format(&hs, &ht);
		cr_expect_str_eq(ht.data, hinted);
		/* written the same from memory: checked nowhere yet (unverified) */
		hs.e[1].pending = 0;
		hs.e[1].unverified = 1;
		hs.e[1].tgt_uid = 12;
		buf_reset(&ht);
		push_state_format(&hs, &ht);
		cr_expect(strstr(ht.data, "\np 5 10\na 5 10 12\nm 5 11 7 S\n") != NULL, "%s", ht.data);
		push_state_free(&hs);
		buf_free(&ht);
	}
	/* settled (its APPENDUID checked on the target): an "m" line, its key on
	 * the wire freed; the unsettled ones keep theirs */
	{
		static const char pend[] = "mailkeep-push 1\ntarget T\nuidvalidity 3\n"
					   "p 5 9 2048 1700000000 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
					   "a 5 9 4000000001\n"
					   "p 5 10 99 1700000001 ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n";
		struct push_state ss;
		struct buf stx = BUF_INIT;
		cr_assert_eq(push_state_parse(pend, strlen(pend), &ss, err, sizeof(err)), 0, "%s", err);
		ss.e[0].pending = 0;
		ss.e[0].unverified = 1; /* as append_outcome leaves it */
		ss.e[0].flags = MFLAG_SEEN;
		push_entry_settle(&ss.e[0]);
		cr_expect(!ss.e[0].pending && !ss.e[0].unverified);
		cr_expect_null(ss.e[0].pkey);
		cr_expect_not_null(ss.e[1].pkey);
		push_state_format(&ss, &stx);
		cr_expect_str_eq(stx.data, "mailkeep-push 1\ntarget T\nuidvalidity 3\n"
				 "m 5 9 4000000001 S\n"
				 "p 5 10 99 1700000001 ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n");
		push_state_free(&ss);
		buf_free(&stx);
	}
	/* a target folder that takes no new keywords: what its PERMANENTFLAGS
	 * listed ($Forwarded too), for a dry run; round trip, odd words dropped */
	{
		static const char kwless[] = "mailkeep-push 1\ntarget T\nuidvalidity 3\n"
					     "permanentflags $Forwarded Label1\nm 5 11 7 S\n";
		struct push_state ps = { 0 };
		struct buf pt = BUF_INIT;
		cr_assert_eq(push_state_parse(kwless, strlen(kwless), &ps, err, sizeof(err)), 0, "%s", err);
		cr_expect(ps.no_new_keywords);
		cr_expect_str_eq(ps.permanent, "$Forwarded Label1");
		push_state_format(&ps, &pt);
		cr_expect_str_eq(pt.data, kwless);
		push_state_free(&ps);
		static const char none[] = "mailkeep-push 1\ntarget T\nuidvalidity 3\npermanentflags\n";
		cr_assert_eq(push_state_parse(none, strlen(none), &ps, err, sizeof(err)), 0, "%s", err);
		cr_expect(ps.no_new_keywords);
		cr_expect_str_eq(ps.permanent, "");
		buf_reset(&pt);
		push_state_format(&ps, &pt);
		cr_expect_str_eq(pt.data, none);
		push_state_free(&ps);
		static const char odd[] = "mailkeep-push 1\npermanentflags  a (b) \\Seen c\n";
		cr_assert_eq(push_state_parse(odd, strlen(odd), &ps, err, sizeof(err)), 0, "%s", err);
		cr_expect_str_eq(ps.permanent, "a c");
		push_state_free(&ps);
		cr_expect(strstr(text.data, "permanentflags") == NULL, "a folder taking keywords records none");
		buf_free(&pt);
	}
	push_state_remove(&ld, 7, 1);
	push_state_remove(&ld, 7, 99);
	cr_expect_eq(ld.n, 3);
	ld.e[0].src_uid = 0;
	push_state_compact(&ld);
	cr_expect_eq(ld.n, 2);
	cr_expect_eq(ld.e[0].src_uid, 2);
	push_state_free(&st);
	push_state_free(&ld);
	buf_free(&text);
	buf_free(&again);
}

Test(push_state, malformed)
{
	static const char *const bad[] = {
		"",
		"mailkeep-push 2\n",
		"mailkeep-state 1\n",
		"mailkeep-push 1\nm 1 2 3 S",                      /* truncated */
		"mailkeep-push 1\nm 1 0 3 S\n",                    /* uid 0 */
		"mailkeep-push 1\nm 1 2 3\n",                      /* no flags */
		"mailkeep-push 1\nm 1 2 x S\n",
		"mailkeep-push 1\nm 1 99999999999 3 S\n",          /* > 32 bits */
		"mailkeep-push 1\nm 1 5 3 S\nm 1 4 3 S\n",         /* not sorted */
		"mailkeep-push 1\nm 1 5 3 S\np 1 5\n",             /* repeated */
		"mailkeep-push 1\np 1\n",
		"mailkeep-push 1\np 1 2 3\n",
		"mailkeep-push 1\nuidvalidity -1\n",
		"mailkeep-push 1\ntarget \n",
		"mailkeep-push 1\ntarget a\ntarget b\n",
		"mailkeep-push 1\nm  1 2 3 S\n",
		"mailkeep-push 1\na 1 2 3\n",                      /* "a" without its "p" */
		"mailkeep-push 1\np 1 2\na 1 3 3\n",              /* another message's */
		"mailkeep-push 1\nm 1 2 3 S\na 1 2 3\n",          /* not in doubt */
		"mailkeep-push 1\np 1 2\na 1 2 0\n",              /* UID 0 */
		"mailkeep-push 1\np 1 2\na 1 2 3\na 1 2 4\n",    /* twice */
		"mailkeep-push 1\np 1 2\na 1 2 3 x\n",
		"mailkeep-push 1\npermanentflags a\npermanentflags b\n", /* twice */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct push_state st;
		char err[256] = "";
		cr_expect_eq(push_state_parse(bad[i], strlen(bad[i]), &st, err, sizeof(err)), -1, "case %zu", i);
		cr_expect_eq(st.n, 0, "case %zu", i);
		cr_expect_null(st.target, "case %zu", i);
		cr_expect_neq(err[0], '\0', "case %zu: no message", i);
	}
	struct push_state st;
	char err[64];
	const char nul[] = "mailkeep-push 1\nm 1 2 3 S\0\n";
	cr_expect_eq(push_state_parse(nul, sizeof(nul) - 1, &st, err, sizeof(err)), -1, "NUL accepted");
	/* unknown lines are ignored (forward compatibility); odd keywords dropped */
	const char *ok = "mailkeep-push 1\nfuture 1\nm 1 2 3 S good (bad) \\Seen\n";
	cr_assert_eq(push_state_parse(ok, strlen(ok), &st, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(st.e[0].keywords, "good");
	push_state_free(&st);
}

/* ---- plan ---- */

static struct push_state state_of(const char *text)
{
	struct push_state st;
	char err[128];
	cr_assert_eq(push_state_parse(text, strlen(text), &st, err, sizeof(err)), 0, "%s", err);
	return st;
}

static void expect_list(const size_t *v, size_t n, const char *want, const char *what)
{
	char got[128] = "";
	for (size_t i = 0; i < n; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%zu", i ? " " : "", v[i]);
	cr_expect_str_eq(got, want, "%s", what);
}

Test(push_plan, compare_with_state)
{
	const struct push_src src[] = {
		{ 7, 1, MFLAG_SEEN, "", 0 },        /* on the target, same flags */
		{ 7, 2, MFLAG_SEEN, "", 0 },        /* flags changed */
		{ 7, 3, 0, "kw", 0 },               /* keyword added */
		{ 7, 4, 0, "", 0 },                 /* pending */
		{ 7, 5, 0, "", 0 },                 /* new */
	};
	struct push_state st = state_of("mailkeep-push 1\ntarget INBOX\nuidvalidity 9\n"
					"m 7 1 1 S\nm 7 2 2 -\nm 7 3 3 -\np 7 4\nm 7 6 6 S\n");
	struct push_plan p;
	push_plan_folder(src, 5, &st, &p);
	expect_list(p.append, p.n_append, "4", "append");
	expect_list(p.lookup, p.n_lookup, "3", "lookup");
	expect_list(p.update, p.n_update, "1 2", "update");
	expect_list(p.orphan, p.n_orphan, "4", "orphans (state index)");
	push_plan_free(&p);
	push_state_free(&st);
}

Test(push_plan, renumbered_source_is_looked_up)
{
	/* the source folder's UIDVALIDITY changed: the state's entries are orphans of
	 * uv 7, every message of uv 8 is looked up (it may be an old one renumbered) */
	const struct push_src src[] = { { 8, 1, 0, "", 0 }, { 8, 2, 0, "", 0 } };
	struct push_state st = state_of("mailkeep-push 1\nm 7 1 1 -\nm 7 2 2 -\n");
	struct push_plan p;
	push_plan_folder(src, 2, &st, &p);
	expect_list(p.append, p.n_append, "", "append");
	expect_list(p.lookup, p.n_lookup, "0 1", "lookup");
	expect_list(p.orphan, p.n_orphan, "0 1", "orphans");
	push_plan_free(&p);
	push_state_free(&st);
	/* an orphan of the current uv is a deleted message, not a renumbering */
	st = state_of("mailkeep-push 1\nm 8 1 1 -\nm 8 9 2 -\n");
	push_plan_folder(src, 2, &st, &p);
	expect_list(p.append, p.n_append, "1", "append");
	expect_list(p.lookup, p.n_lookup, "", "lookup");
	expect_list(p.orphan, p.n_orphan, "1", "orphans");
	push_plan_free(&p);
	push_state_free(&st);
	/* empty source, empty state */
	st = state_of("mailkeep-push 1\n");
	push_plan_folder(NULL, 0, &st, &p);
	cr_expect_eq(p.n_append + p.n_lookup + p.n_update + p.n_orphan, 0);
	push_plan_free(&p);
	push_state_free(&st);
}

Test(push_plan, match_prefers_same_date_then_lowest_uid)
{
	unsigned char d1[PUSH_DIGEST_LEN] = { 1 }, d2[PUSH_DIGEST_LEN] = { 2 };
	struct push_candidate c[] = {
		{ .uid = 9, .size = 100, .date = 50 }, { .uid = 5, .size = 100, .date = 60 },
		{ .uid = 3, .size = 100, .date = 60 }, { .uid = 4, .size = 101, .date = 60 },
		{ .uid = 2, .size = 100, .date = 60 },
	};
	memcpy(c[0].digest, d1, PUSH_DIGEST_LEN);
	memcpy(c[1].digest, d1, PUSH_DIGEST_LEN);
	memcpy(c[2].digest, d1, PUSH_DIGEST_LEN);
	memcpy(c[3].digest, d1, PUSH_DIGEST_LEN);
	memcpy(c[4].digest, d2, PUSH_DIGEST_LEN);
	cr_expect_eq(push_match(c, 5, 100, d1, 60), 2, "same date, lowest UID");
	c[2].taken = 1;
	cr_expect_eq(push_match(c, 5, 100, d1, 60), 1);
	c[1].taken = 1;
	cr_expect_eq(push_match(c, 5, 100, d1, 60), 0, "another date when nothing else");
	c[0].taken = 1;
	cr_expect_eq(push_match(c, 5, 100, d1, 60), -1);
	cr_expect_eq(push_match(c, 5, 101, d1, 1), 3);
	cr_expect_eq(push_match(c, 5, 100, d2, 60), 4);
	cr_expect_eq(push_match(c, 0, 100, d2, 60), -1);
}

/* push_match_sorted over sorted candidates picks what push_match picks over
 * the same candidates in any order, lookup after lookup (copies, taken ones). */
Test(push_plan, match_sorted_agrees_with_match)
{
	enum { N = 600 };
	static struct push_candidate a[N], b[N];
	unsigned seed = 12345;
	for (int round = 0; round < 20; round++) {
		for (size_t i = 0; i < N; i++) {
			seed = seed * 1103515245u + 12345u;
			memset(&a[i], 0, sizeof(a[i]));
			a[i].uid = (uint32_t)(i * 7919 % 100003) + 1; /* distinct, shuffled */
			a[i].size = 100 + (seed >> 8) % 5;
			a[i].digest[0] = (unsigned char)((seed >> 16) % 4);
			a[i].date = (int64_t)((seed >> 20) % 3);
		}
		memcpy(b, a, sizeof(a));
		push_candidates_sort(b, N);
		for (size_t i = 1; i < N; i++)
			cr_assert(b[i - 1].size < b[i].size ||
				  (b[i - 1].size == b[i].size && memcmp(b[i - 1].digest, b[i].digest, PUSH_DIGEST_LEN) <= 0));
		for (int k = 0; k < N + 50; k++) {
			seed = seed * 1103515245u + 12345u;
			uint64_t size = 99 + (seed >> 8) % 7;
			unsigned char d[PUSH_DIGEST_LEN] = { (unsigned char)((seed >> 16) % 5) };
			int64_t date = (int64_t)((seed >> 20) % 3);
			ssize_t x = push_match(a, N, size, d, date), y = push_match_sorted(b, N, size, d, date);
			cr_assert_eq(x < 0, y < 0, "round %d lookup %d", round, k);
			if (x < 0)
				continue;
			cr_assert_eq(a[x].uid, b[y].uid, "round %d lookup %d", round, k);
			a[x].taken = b[y].taken = 1;
		}
	}
	cr_expect_eq(push_match_sorted(b, 0, 100, b[0].digest, 0), -1);
}

/* The source folder's own SPECIAL-USE (recorded by sync) maps a name no list knows. */
Test(push_names, source_special_use)
{
	static const struct { const char *rel; unsigned special; const char *wire; } cases[] = {
		{ "Postausgang", IMAP_SPECIAL_SENT, "Gesendet" },
		{ "Papierkorb", IMAP_SPECIAL_TRASH, "M&APw-ll" },
		{ "Postausgang", 0, "Postausgang" },          /* unknown: the name stays */
		{ "Postausgang/2023", IMAP_SPECIAL_SENT, "Gesendet" }, /* the folder itself is \\Sent */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct push_name nm;
		struct imap_mailbox_list l = { 0 };
		struct buf wire = BUF_INIT, utf8 = BUF_INIT;
		char err[256] = "";
		cr_assert_eq(push_name_from_path(cases[i].rel, &nm), 0);
		make_list(special_slash, &l);
		int rc = push_map_folder(&nm, 0, cases[i].special, NULL, 0, &l, '/', "", &wire, &utf8, err,
					 sizeof(err));
		cr_expect_eq(rc, 0, "case %zu: %s", i, err);
		if (rc == 0)
			cr_expect_str_eq(wire.data, cases[i].wire, "case %zu (%s)", i, cases[i].rel);
		push_name_free(&nm);
		imap_mailbox_list_free(&l);
		buf_free(&wire);
		buf_free(&utf8);
	}
}

Test(push_names, namespace_levels)
{
	static const struct { const char *ns, *rel; size_t want; } cases[] = {
		{ "INBOX", "INBOX/Archive", 1 },
		{ "INBOX", "INBOX/Archive/2024", 1 },
		{ "INBOX", "inbox/Archive", 1 },
		{ "INBOX", "INBOX", 0 },          /* the prefix itself is INBOX */
		{ "INBOX", "INBOX/INBOX", 0 },    /* would become INBOX */
		{ "INBOX", "INBOX/inbox/x", 0 },
		{ "INBOX", "Archive", 0 },
		{ "Mail/Box", "Mail/Box/x", 2 },
		{ "Mail/Box", "Mail/Boxes/x", 0 },
		{ "Mail", "mail/x", 0 },          /* only INBOX is case-insensitive */
		{ "", "INBOX/x", 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct push_name ns = { 0 }, nm;
		if (cases[i].ns[0])
			cr_assert_eq(push_name_from_path(cases[i].ns, &ns), 0);
		cr_assert_eq(push_name_from_path(cases[i].rel, &nm), 0);
		cr_expect_eq(push_ns_levels(&ns, &nm), cases[i].want, "case %zu: %s under %s", i, cases[i].rel,
			     cases[i].ns);
		push_name_free(&ns);
		push_name_free(&nm);
	}
}

/* ---- a message read from its file (push_msg.c) ---- */

/* A temporary file holding len bytes of data, open for reading. */
static int tmp_file(const char *data, size_t len)
{
	char path[] = "/tmp/mk-push-msg-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	unlink(path);
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, data + off, len - off);
		cr_assert(n > 0);
		off += (size_t)n;
	}
	cr_assert(lseek(fd, 0, SEEK_SET) == 0);
	return fd;
}

/* The CRLF form by its definition, a byte at a time: the reference the reader
 * is checked against where a table cannot spell the bytes out. */
static void crlf_form(const char *data, size_t len, struct buf *out)
{
	buf_adds(out, "");
	for (size_t i = 0; i < len; i++)
		buf_add(out, data[i] == '\n' ? "\r\n" : data + i, data[i] == '\n' ? 2 : 1);
}

/* The file's CRLF form read cap bytes at a time is want. */
static void check_reader(const char *data, size_t len, size_t cap, const struct buf *want)
{
	struct push_crlf_reader r;
	struct buf got = BUF_INIT;
	char *chunk = malloc(cap);
	int fd = tmp_file(data, len);
	push_crlf_reader_init(&r, fd);
	for (;;) {
		ssize_t k = push_crlf_read(&r, chunk, cap);
		cr_assert(k >= 0);
		if (!k)
			break;
		cr_assert((size_t)k <= cap);
		buf_add(&got, chunk, (size_t)k);
	}
	cr_expect_eq(got.len, want->len, "len %zu cap %zu", len, cap);
	cr_expect(got.len == want->len && (!got.len || !memcmp(got.data, want->data, got.len)), "bytes, len %zu cap %zu", len,
		  cap);
	close(fd);
	free(chunk);
	buf_free(&got);
}

/* What push_msg_load finds equals what the message whole in memory gives. */
static void check_load(const char *data, size_t len)
{
	struct buf crlf = BUF_INIT;
	struct push_msg m = PUSH_MSG_INIT;
	unsigned char digest[PUSH_DIGEST_LEN];
	char mid[256], err[256];
	crlf_form(data, len, &crlf);
	size_t hl = push_header_len(crlf.data, crlf.len), lf = 0;
	push_header_digest(crlf.data, hl, digest);
	if (push_message_id(crlf.data, hl, mid, sizeof(mid)) < 0)
		mid[0] = '\0';
	for (size_t i = 0; i < len; i++)
		lf += data[i] == '\n';
	for (int keep = 0; keep < 2; keep++) {
		cr_assert_eq(push_msg_load(tmp_file(data, len), len, keep, &m, err, sizeof(err)), 0, "%s", err);
		cr_expect_eq(m.len, crlf.len, "len %zu", len);
		cr_expect_eq(m.lf, lf, "len %zu", len);
		cr_expect_eq(m.ends_crlf, crlf.len >= 2 && !memcmp(crlf.data + crlf.len - 2, "\r\n", 2));
		cr_expect_eq(memcmp(m.digest, digest, PUSH_DIGEST_LEN), 0, "digest, len %zu", len);
		cr_expect_str_eq(m.message_id, mid);
		if (!keep) {
			cr_expect_eq(m.fd, -1);
			cr_expect_eq(m.data.len, 0);
			continue;
		}
		/* sent twice (a refused MULTIAPPEND, then alone): the same bytes each time */
		for (int round = 0; round < 2; round++) {
			struct buf got = BUF_INIT;
			if (m.fd < 0) {
				buf_add(&got, m.data.data, m.data.len);
			} else {
				char chunk[7000];
				ssize_t k;
				cr_assert_eq(push_msg_rewind(&m), 0);
				while ((k = push_msg_read(&m, chunk, sizeof(chunk), err, sizeof(err))) > 0)
					buf_add(&got, chunk, (size_t)k);
				cr_assert_eq(k, 0, "%s", err);
			}
			cr_expect(got.len == crlf.len && (!got.len || !memcmp(got.data, crlf.data, got.len)), "sent bytes, len %zu",
				  len);
			buf_free(&got);
		}
	}
	push_msg_free(&m);
	buf_free(&crlf);
}

Test(push_msg, reader_gives_the_crlf_form)
{
	/* in after pad bytes 'a': with 16383 or 16384 of them, around the end of
	 * the reader's first 16 KiB read of the file */
	static const struct { size_t pad; const char *in, *out; } t[] = {
		{ 0, "", "" },
		{ 0, "a", "a" },
		{ 0, "\n", "\r\n" },
		{ 0, "\n\n", "\r\n\r\n" },
		{ 0, "a\nb\n", "a\r\nb\r\n" },
		{ 0, "a\rb\r", "a\rb\r" },            /* bare CRs stay */
		{ 0, "a\r\nb", "a\r\r\nb" },          /* the mirror's CR LF was the server's CR CR LF */
		{ 0, "\r\r\n\r", "\r\r\r\n\r" },
		{ 0, "x\n\n\ny", "x\r\n\r\n\r\ny" },
		{ 16383, "\n", "\r\n" },              /* LF last of the first read */
		{ 16384, "\n", "\r\n" },              /* LF first of the second */
		{ 16383, "\nb", "\r\nb" },
		{ 16383, "\r\n", "\r\r\n" },          /* CR last of a read, its LF first of the next */
		{ 16383, "\r", "\r" },                /* the file ends in a CR at the end of a read */
		{ 16384, "", "" },                    /* the file is one read */
		{ 32767, "\n\n", "\r\n\r\n" },
	};
	/* caps of 1 and 3 split CR from LF in what the reader gives */
	size_t caps[] = { 1, 2, 3, 5, 64, 16384, 65536 };
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct buf in = BUF_INIT, want = BUF_INIT;
		buf_adds(&in, "");
		buf_adds(&want, "");
		for (size_t k = 0; k < t[i].pad; k++) {
			buf_addch(&in, 'a');
			buf_addch(&want, 'a');
		}
		buf_adds(&in, t[i].in);
		buf_adds(&want, t[i].out);
		for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++)
			check_reader(in.data, in.len, caps[c], &want);
		buf_free(&in);
		buf_free(&want);
	}
}

Test(push_msg, reader_across_its_input_buffer)
{
	/* LFs on both sides of the reader's 16 KiB reads, caps that split CR from LF */
	size_t len = 100000;
	char *data = malloc(len);
	struct buf want = BUF_INIT;
	for (size_t i = 0; i < len; i++)
		data[i] = i % 16384 == 16383 || i % 16384 == 0 || i % 97 == 0 ? '\n' : i % 89 == 0 ? '\r' : 'a';
	crlf_form(data, len, &want);
	size_t caps[] = { 1, 4095, 16384, 65536, 200000 };
	for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++)
		check_reader(data, len, caps[c], &want);
	buf_free(&want);
	free(data);
}

Test(push_msg, load_small_messages)
{
	static const char *t[] = {
		"",
		"no header end",
		"Subject: x\nMessage-ID: <a@b>\n\nbody\n",
		"Subject: x\r\nMessage-ID: <a@b>\r\n\r\nbody",     /* a mirror with CR before LF */
		"\nbody only\n",
		"Subject: x\r\r\nTo: y\n\r\nbody\n",               /* no empty line: "\r\r\n" is not one */
		"Subject: trailing\n\n",
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		check_load(t[i], strlen(t[i]));
}

/* A big message: header within what is kept, a header longer than that, no
 * empty line at all (the whole message is its header), and a header whose
 * run of 70,000 CRs spans the end of what is kept and several of the reads
 * after it: at the header's end (left out of its digest) or followed by more
 * header (kept in it). */
Test(push_msg, load_big_messages)
{
	size_t len = (size_t)3 << 20, mib = (size_t)1 << 20;
	char *data = malloc(len);
	static const char hdr[] = "From: a@b\nMessage-ID: <big@x>\nSubject: big\n\n";
	for (int shape = 0; shape < 6; shape++) {
		size_t i = 0;
		if (shape == 0) {
			memcpy(data, hdr, sizeof(hdr) - 1);
			i = sizeof(hdr) - 1;
		} else if (shape == 1) {
			/* a header field of 2 MiB (folded lines), then the body */
			memcpy(data, "Message-ID: <long@x>\nX-Long: a\n", 31);
			for (i = 31; i < 2 * mib; i++)
				data[i] = i % 70 == 0 ? '\n' : i % 70 == 1 ? ' ' : i % 70 == 2 ? '\r' : 'h';
			data[i++] = '\n';
			data[i++] = '\n';
		} else if (shape >= 4) {
			memcpy(data, "Message-ID: <cr@x>\nX-CR: ", 25);
			for (i = 25; i < mib - 30000; i++)
				data[i] = 'h';
			for (; i < mib + 40000; i++)
				data[i] = '\r';
			if (shape == 5)
				data[i++] = 'h';
			data[i++] = '\n';
			data[i++] = '\n';
		}
		for (; i < len; i++) /* no empty line: LFs 73 bytes apart */
			data[i] = i % 73 == 72 ? '\n' : i % 101 == 0 ? '\r' : 'b';
		if (shape == 3) /* ends with CR and LF runs, trimmed from the digest */
			memcpy(data + len - 6, "\r\r\n\r\r\n", 6);
		check_load(data, len);
	}
	free(data);
}

Test(push_msg, file_cut_after_the_scan_reads_short)
{
	/* what imap_append_send checks: a file cut after its scan gives fewer bytes than announced */
	char err[256];
	struct push_msg m = PUSH_MSG_INIT;
	size_t len = (size_t)1 << 20;
	char *data = malloc(len);
	memset(data, 'x', len);
	int fd = tmp_file(data, len);
	cr_assert_eq(push_msg_load(fd, len, 1, &m, err, sizeof(err)), 0);
	cr_assert(m.fd >= 0);
	cr_assert_eq(ftruncate(fd, (off_t)len - 10), 0);
	cr_assert_eq(push_msg_rewind(&m), 0);
	uint64_t got = 0;
	char chunk[65536];
	ssize_t k;
	while ((k = push_msg_read(&m, chunk, sizeof(chunk), err, sizeof(err))) > 0)
		got += (uint64_t)k;
	cr_expect_eq(got, m.len - 10);
	push_msg_free(&m);
	free(data);
}
