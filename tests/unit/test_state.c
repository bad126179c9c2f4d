/* State file: round trip, atomic save, malformed files rejected. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailkeep/buf.h"
#include "mailkeep/maildir.h"
#include "mailkeep/state.h"

static char *make_tmpdir(void)
{
	char tmpl[] = "/tmp/mk-state-XXXXXX";
	char *d = mkdtemp(tmpl);
	cr_assert_not_null(d);
	return strdup(d);
}

/* The state file in d, then d itself (and its name). */
static void remove_tmpdir(char *d)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", d, STATE_FILE);
	unlink(p);
	rmdir(d);
	free(d);
}

static void write_file(const char *dir, const char *content)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, STATE_FILE);
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f);
	fputs(content, f);
	fclose(f);
}

/* The whole file at path into out (reset first); 0, or -1. */
static int read_text(const char *path, struct buf *out)
{
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	buf_reset(out);
	buf_adds(out, "");
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(out, chunk, n);
	fclose(f);
	return 0;
}

Test(state, missing_file_is_empty_state)
{
	char *d = make_tmpdir();
	struct folder_state st;
	char err[256];
	cr_assert_eq(state_load(d, &st, err, sizeof(err)), 1);
	cr_assert_eq(st.uidvalidity, 0);
	cr_assert_eq(st.n, 0);
	state_free(&st);
	rmdir(d);
	free(d);
}

Test(state, round_trip)
{
	char *d = make_tmpdir();
	struct folder_state st = { .uidvalidity = 4000000000u, .uidnext = 99,
				   .highestmodseq = 123456789012345ull, .cur_mtime_ns = 17, .new_mtime_ns = -3,
				   .listed = 1700000000 };
	char err[256];
	state_add(&st, 1, MFLAG_SEEN | MFLAG_FLAGGED, 1546311326, NULL);
	state_add(&st, 5, 0, STATE_NO_DATE, "$label1 Work");
	state_add(&st, 4000000000u, MFLAG_ALL, -5, "");
	cr_assert_eq(state_save(d, &st, err, sizeof(err)), 0, "%s", err);
	struct folder_state ld;
	cr_assert_eq(state_load(d, &ld, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(ld.uidvalidity, 4000000000u);
	cr_assert_eq(ld.uidnext, 99);
	cr_assert_eq(ld.highestmodseq, 123456789012345ull);
	cr_assert_eq(ld.cur_mtime_ns, 17);
	cr_assert_eq(ld.new_mtime_ns, -3);
	cr_assert_eq(ld.listed, 1700000000);
	cr_assert_eq(ld.n, 3);
	cr_assert_eq(ld.msgs[0].flags, MFLAG_SEEN | MFLAG_FLAGGED);
	cr_assert_null(ld.msgs[0].keywords);
	cr_assert_str_eq(ld.msgs[1].keywords, "$label1 Work");
	cr_assert_eq(ld.msgs[2].flags, MFLAG_ALL);
	cr_assert_eq(ld.msgs[0].date, 1546311326);
	cr_assert_eq(ld.msgs[1].date, STATE_NO_DATE);
	cr_assert_eq(ld.msgs[2].date, -5);
	cr_assert_null(ld.msgs[2].keywords);
	cr_assert_not(state_names_known(&ld), "one message has no name date");
	cr_assert(state_equal(&st, &ld));
	ld.msgs[0].date++;
	cr_assert_not(state_equal(&st, &ld), "a date is part of the state");
	ld.msgs[0].date--;
	cr_assert_eq(ld.kept, 0);
	st.kept = 1; /* written with deletions: keep */
	cr_assert_not(state_equal(&st, &ld), "kept is part of the state");
	cr_assert_eq(state_save(d, &st, err, sizeof(err)), 0, "%s", err);
	state_free(&ld);
	cr_assert_eq(state_load(d, &ld, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(ld.kept, 1);
	cr_assert(state_equal(&st, &ld));
	/* a file of an older version has no kept line: it may have been written
	 * with deletions: keep, so its folder is read with mirror once */
	{
		char sp[512], text[] = "mailkeep-state 2\nuidvalidity 5\nuidnext 9\nhighestmodseq 3\nmessages 0\n";
		struct folder_state old;
		snprintf(sp, sizeof(sp), "%s/%s", d, STATE_FILE);
		FILE *f = fopen(sp, "w");
		cr_assert_not_null(f);
		fputs(text, f);
		fclose(f);
		cr_assert_eq(state_load(d, &old, err, sizeof(err)), 0, "%s", err);
		cr_assert(old.kept, "a state without a kept line counts as kept");
		state_free(&old);
		cr_assert_eq(state_load_header(d, &old, err, sizeof(err)), 0, "%s", err);
		cr_assert(old.kept, "a header without a kept line counts as kept");
		state_free(&old);
		cr_assert_eq(state_save(d, &st, err, sizeof(err)), 0, "%s", err);
	}
	cr_assert_not_null(state_find(&ld, 5));
	cr_assert_null(state_find(&ld, 6));
	/* private to the user, no temp file left behind */
	char p[512];
	struct stat sb;
	snprintf(p, sizeof(p), "%s/%s", d, STATE_FILE);
	cr_assert_eq(stat(p, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0600);
	snprintf(p, sizeof(p), "%s/%s.tmp", d, STATE_FILE);
	cr_assert_neq(stat(p, &sb), 0);
	state_free(&st);
	state_free(&ld);
	remove_tmpdir(d);
}

Test(state, malformed_files_rejected)
{
	static const char *const bad[] = {
		"",
		"garbage\n",
		"mailkeep-state 1\nuidvalidity abc\n",
		"mailkeep-state 1\nuidvalidity 99999999999\n",
		"mailkeep-state 1\nm 5 S\nm 5 S\n",      /* not increasing */
		"mailkeep-state 1\nm 0 S\n",              /* uid 0 */
		"mailkeep-state 1\nm 7\n",                /* no flags field */
		"mailkeep-state 1\nuidnext 5",            /* truncated */
		"mailkeep-state 1\ndirmtime 1\n",
		"mailkeep-state 2\nm 7 S\n",                /* version 2: no date field */
		"mailkeep-state 2\nm 7 S x1\n",             /* date not a number */
		"mailkeep-state 2\nm 7 S 12x kw\n",
		"mailkeep-state 2\nm 7 S 99999999999999999999\n", /* out of range */
		"mailkeep-state 2\nm 7 S -9223372036854775808\n", /* the no-date value */
		"mailkeep-state 3\nm 7 S 5\n",              /* a later version */
		"mailkeep-state 2\nlisted -5\n",            /* a time before 1970 */
		"mailkeep-state 2\nlisted 12x\n",
		"mailkeep-state 2\nfolder 0000000000000000\n", /* 0 is "not recorded", never written */
		"mailkeep-state 2\nfolder 12ab\n",             /* not 16 digits */
		"mailkeep-state 2\nfolder 0123456789ABCDEF\n", /* written in lower case */
		"mailkeep-state 2\nfolder 0123456789abcdefg\n",
	};
	char *d = make_tmpdir();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct folder_state st;
		char err[256] = "";
		write_file(d, bad[i]);
		cr_assert_eq(state_load(d, &st, err, sizeof(err)), -1, "case %zu accepted", i);
		cr_assert(strstr(err, STATE_FILE), "case %zu: error does not name the file: %s", i, err);
		cr_assert_eq(st.n, 0);
	}
	remove_tmpdir(d);
}

/* A state that is a FIFO is refused at once, not waited on for a writer; one
 * that is a symbolic link (to a good state, to /dev/zero) is not followed.
 * The header-only load says the same. */
Test(state, special_files_not_read, .timeout = 10)
{
	char *d = make_tmpdir();
	char p[512], good[512];
	snprintf(p, sizeof(p), "%s/%s", d, STATE_FILE);
	snprintf(good, sizeof(good), "%s/good", d);
	FILE *f = fopen(good, "w");
	cr_assert_not_null(f);
	fputs("mailkeep-state 2\nuidvalidity 7\ncount 0\n", f);
	fclose(f);
	const char *const why[] = { "not a regular file", "symbolic link", "symbolic link" };
	for (int k = 0; k < 3; k++) {
		struct folder_state st;
		char err[256] = "";
		unlink(p);
		if (k == 0)
			cr_assert_eq(mkfifo(p, 0600), 0);
		else
			cr_assert_eq(symlink(k == 1 ? good : "/dev/zero", p), 0);
		cr_assert_eq(state_load(d, &st, err, sizeof(err)), -1, "case %d accepted", k);
		cr_assert(strstr(err, STATE_FILE) && strstr(err, why[k]), "case %d: %s", k, err);
		err[0] = '\0';
		cr_assert_eq(state_load_header(d, &st, err, sizeof(err)), -1, "case %d: header accepted", k);
		cr_assert(strstr(err, why[k]), "case %d (header): %s", k, err);
	}
	unlink(good);
	remove_tmpdir(d);
}

/* .mailkeep/namespace and a server file that are FIFOs record nothing: read
 * at once (no writer: end of file), never waited on. */
Test(state, special_namespace_server_files, .timeout = 10)
{
	char *d = make_tmpdir();
	char p[512], q[512], err[256] = "", *rel = NULL;
	snprintf(p, sizeof(p), "%s/.mailkeep", d);
	cr_assert_eq(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/.mailkeep/namespace", d);
	snprintf(q, sizeof(q), "%s/.mailkeep/server", d);
	cr_assert_eq(mkfifo(p, 0600), 0);
	cr_assert_eq(mkfifo(q, 0600), 0);
	cr_assert_eq(state_namespace_load(d, &rel), 1);
	cr_assert_null(rel);
	cr_assert_eq(state_server_check(q, "u", "h", err, sizeof(err)), 1);
	unlink(p);
	unlink(q);
	snprintf(p, sizeof(p), "%s/.mailkeep", d);
	rmdir(p);
	rmdir(d);
	free(d);
}

/* The folder a state was written for: recorded, read back (also by the
 * header-only load, with a message line after it), and compared by path. */
Test(state, folder_identity)
{
	char *d = make_tmpdir();
	char err[256] = "";
	struct folder_state st = { .uidvalidity = 4242, .uidnext = 3, .highestmodseq = 5 };
	struct folder_state h;
	cr_assert_neq(state_folder_id("INBOX"), 0);
	cr_assert_neq(state_folder_id(""), 0);
	cr_assert_neq(state_folder_id("Archive/2024"), state_folder_id("Archive/2023"));
	cr_assert_eq(state_folder_id("Archive/Foo"), state_folder_id("archive/fOO"), "ASCII case is ignored");
	cr_assert_neq(state_folder_id("R&D"), state_folder_id("Gesch\xc3\xa4ftlich"));
	cr_assert(state_is_of(&st, "anything"), "a state without the record is any folder's");
	state_add(&st, 1, MFLAG_SEEN, 1000, NULL);
	st.folder_id = state_folder_id("Archive/2024");
	cr_assert_eq(state_save(d, &st, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(state_load_header(d, &h, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(h.folder_id, st.folder_id);
	cr_assert(state_is_of(&h, "Archive/2024"));
	cr_assert_not(state_is_of(&h, "Archive/2023"));
	cr_assert_not(state_is_of(&h, "INBOX"));
	state_free(&h);
	cr_assert_eq(state_load(d, &h, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(h.folder_id, st.folder_id);
	cr_assert(state_equal(&h, &st));
	h.folder_id = state_folder_id("INBOX");
	cr_assert_not(state_equal(&h, &st), "another folder's state is not the same state");
	state_free(&h);
	state_free(&st);
	remove_tmpdir(d);
}

/* The header-only load: what a no-change run reads of each folder's state. */
Test(state, header_only_load)
{
	char *d = make_tmpdir();
	struct folder_state st = { .uidvalidity = 7, .uidnext = 40000, .highestmodseq = 9 };
	struct folder_state h;
	char err[256] = "";
	for (uint32_t uid = 1; uid < 40000; uid++)
		state_add(&st, uid, MFLAG_SEEN, uid % 3 ? (int64_t)uid * 1000 : STATE_NO_DATE, uid % 7 ? NULL : "$Junk");
	cr_assert_eq(state_save(d, &st, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(state_load_header(d, &h, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(h.uidvalidity, 7);
	cr_assert_eq(h.uidnext, 40000);
	cr_assert_eq(h.highestmodseq, 9);
	cr_assert_eq(h.declared, 39999);
	cr_assert_eq(h.n, 0, "no message lines are read");
	state_free(&h);
	/* the full load checks the count against the lines */
	cr_assert_eq(state_load(d, &h, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(h.n, 39999);
	state_free(&h);
	state_free(&st);

	/* an empty folder: the whole file is the header */
	struct folder_state empty = { .uidvalidity = 3, .uidnext = 1, .highestmodseq = 1 };
	cr_assert_eq(state_save(d, &empty, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(state_load_header(d, &h, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(h.declared, 0);
	state_free(&h);

	static const struct {
		const char *text;
		int header, full; /* expected returns */
	} cases[] = {
		/* written before the count line: the header cannot tell, the full load can */
		{ "mailkeep-state 1\nuidvalidity 1\nm 1 S\n", -1, 0 },
		{ "mailkeep-state 1\nuidvalidity 1\n", 0, 0 },
		/* a count that disagrees with the lines: damaged */
		{ "mailkeep-state 1\nmessages 2\nm 1 S\n", 0, -1 },
		{ "mailkeep-state 1\nmessages 2\n", -1, -1 },
		{ "mailkeep-state 1\nmessages x\nm 1 S\n", -1, -1 },
		{ "garbage\n", -1, -1 },
		/* cut in a line (found by fuzz_state): the full load refuses it as
		 * truncated, so the header alone must not be taken for the file */
		{ "mailkeep-state 2\nuidvalidity 5\nuidnext 9\nhighes", -1, -1 },
		{ "mailkeep-state 2\nmessages 0\nfolder 0123456789abcdef\nuidvalidity 5", -1, -1 },
		/* a header line after the message lines, which the header load does
		 * not read (found by fuzz_state): damaged, not another header */
		{ "mailkeep-state 2\nuidvalidity 5\nmessages 1\nm 1 S -\nuidvalidity 7\n", 0, -1 },
		{ "mailkeep-state 2\nuidvalidity 5\nmessages 1\nm 1 S -\nfuture 7\n", 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_file(d, cases[i].text);
		cr_assert_eq(state_load_header(d, &h, err, sizeof(err)), cases[i].header, "case %zu", i);
		state_free(&h);
		cr_assert_eq(state_load(d, &h, err, sizeof(err)), cases[i].full, "case %zu", i);
		state_free(&h);
	}
	remove_tmpdir(d);
}

/* Version 1 files (no name dates) are still read; version 2 lines with and
 * without a date, with and without keywords. */
Test(state, versions_and_dates)
{
	char *d = make_tmpdir();
	struct folder_state st;
	char err[256] = "";
	write_file(d, "mailkeep-state 1\nuidvalidity 9\nmessages 2\nm 1 S\nm 2 RS $Junk todo\n");
	cr_assert_eq(state_load(d, &st, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(st.n, 2);
	cr_assert_eq(st.msgs[0].date, STATE_NO_DATE);
	cr_assert_str_eq(st.msgs[1].keywords, "$Junk todo");
	cr_assert_not(state_names_known(&st));
	state_free(&st);
	cr_assert_eq(state_load_header(d, &st, err, sizeof(err)), 0, "version 1 header: %s", err);
	cr_assert_eq(st.uidvalidity, 9);
	state_free(&st);

	write_file(d, "mailkeep-state 2\nuidvalidity 9\nmessages 4\nm 1 S 1546311326\n"
		      "m 2 - -\nm 3 RS 0 -kw $Junk\nm 4 - -17 - x\n");
	cr_assert_eq(state_load(d, &st, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(st.n, 4);
	cr_assert_eq(st.msgs[0].date, 1546311326);
	cr_assert_null(st.msgs[0].keywords);
	cr_assert_eq(st.msgs[1].date, STATE_NO_DATE);
	cr_assert_eq(st.msgs[1].flags, 0);
	cr_assert_null(st.msgs[1].keywords);
	cr_assert_eq(st.msgs[2].date, 0);
	cr_assert_str_eq(st.msgs[2].keywords, "-kw $Junk");
	cr_assert_eq(st.msgs[3].date, -17);
	cr_assert_str_eq(st.msgs[3].keywords, "- x");
	/* saved again: the same lines */
	cr_assert_eq(state_save(d, &st, err, sizeof(err)), 0, "%s", err);
	struct folder_state again;
	cr_assert_eq(state_load(d, &again, err, sizeof(err)), 0, "%s", err);
	cr_assert(state_equal(&st, &again));
	state_free(&again);
	st.msgs[1].date = 5;
	cr_assert(state_names_known(&st));
	state_free(&st);
	remove_tmpdir(d);
}

/* keywords-capped: written only for a state that lacks keywords the server
 * gave (a state within the cap, and one of an older version, has no such
 * line and is not capped), read by both loads, part of state_equal, sticky
 * over a save, and set by a load whose keyword sets pass KWSET_CAP. */
Test(state, keywords_capped)
{
	char *d = make_tmpdir(), p[512], err[256] = "";
	struct folder_state st = { .uidvalidity = 9, .uidnext = 3, .highestmodseq = 4 }, ld, h;
	struct buf text = BUF_INIT;
	snprintf(p, sizeof(p), "%s/%s", d, STATE_FILE);
	state_add(&st, 1, MFLAG_SEEN, 100, "$label1");
	state_add(&st, 2, 0, 200, NULL);
	cr_assert_eq(st.keywords_capped, 0);
	cr_assert_eq(state_save(d, &st, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(read_text(p, &text), 0, "%s", err);
	cr_assert_null(strstr(text.data, "keywords-capped"), "a state within the cap has no such line");
	cr_assert_eq(state_load(d, &ld, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(ld.keywords_capped, 0);
	state_free(&ld);

	st.keywords_capped = 1;
	cr_assert_eq(state_save(d, &st, err, sizeof(err)), 0, "%s", err);
	buf_reset(&text);
	cr_assert_eq(read_text(p, &text), 0, "%s", err);
	char *line = strstr(text.data, "\nkeywords-capped 1\n"), *first_m = strstr(text.data, "\nm ");
	cr_assert(line && first_m && line < first_m, "not a header line: %s", text.data);
	cr_assert_eq(state_load(d, &ld, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(ld.keywords_capped, 1);
	cr_assert(state_equal(&st, &ld));
	ld.keywords_capped = 0;
	cr_assert_not(state_equal(&st, &ld), "keywords-capped is part of the state");
	ld.keywords_capped = 1;
	cr_assert_eq(state_load_header(d, &h, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(h.keywords_capped, 1, "the header load reads it too");
	state_free(&h);
	/* saved again as loaded: the same bytes (sticky) */
	struct buf again = BUF_INIT;
	cr_assert_eq(state_save(d, &ld, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(read_text(p, &again), 0, "%s", err);
	cr_assert_str_eq(again.data, text.data);
	buf_free(&again);
	/* its messages gone (a new UIDVALIDITY), so is what they lacked */
	state_clear_msgs(&ld);
	cr_assert_eq(ld.keywords_capped, 0);
	state_free(&ld);

	/* an older file without the line, and one written by hand with 0 */
	write_file(d, "mailkeep-state 2\nuidvalidity 9\nmessages 1\nm 1 S 100 $label1\n");
	cr_assert_eq(state_load(d, &ld, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(ld.keywords_capped, 0);
	cr_assert_str_eq(ld.msgs[0].keywords, "$label1");
	state_free(&ld);
	write_file(d, "mailkeep-state 2\nuidvalidity 9\nmessages 1\nkeywords-capped 0\nm 1 S 100 $label1\n");
	cr_assert_eq(state_load(d, &ld, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(ld.keywords_capped, 0);
	state_free(&ld);
	/* after a message line, like every header line: damaged */
	write_file(d, "mailkeep-state 2\nuidvalidity 9\nmessages 1\nm 1 S 100\nkeywords-capped 1\n");
	cr_assert_eq(state_load(d, &ld, err, sizeof(err)), -1);

	/* a state whose distinct keyword sets pass KWSET_CAP, written by an older
	 * version: loaded capped, every message kept */
	buf_reset(&text);
	buf_addf(&text, "mailkeep-state 2\nuidvalidity 9\nmessages 400\n");
	for (unsigned uid = 1; uid <= 400; uid++) {
		buf_addf(&text, "m %u S %u k%03u_", uid, uid, uid);
		for (int i = 0; i < 4000; i++)
			buf_addch(&text, 'x');
		buf_addch(&text, '\n');
	}
	write_file(d, text.data);
	cr_assert_eq(state_load(d, &ld, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(ld.n, 400);
	cr_assert_gt(ld.kw.refused, 0);
	cr_assert_eq(ld.keywords_capped, 1, "a load past the cap is capped");
	cr_assert_not_null(ld.msgs[0].keywords);
	cr_assert_null(ld.msgs[399].keywords);
	state_free(&ld);

	buf_free(&text);
	state_free(&st);
	remove_tmpdir(d);
}

Test(state, namespace_record)
{
	char *d = make_tmpdir(), p[512], err[256], *rel = NULL;
	snprintf(p, sizeof(p), "%s/.mailkeep", d);
	cr_assert_eq(mkdir(p, 0700), 0);
	cr_expect_eq(state_namespace_load(d, &rel), 1, "nothing recorded yet");
	cr_expect_null(rel);
	cr_assert_eq(state_namespace_save(d, "INBOX", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(state_namespace_load(d, &rel), 0);
	cr_expect_str_eq(rel, "INBOX");
	free(rel);
	cr_assert_eq(state_namespace_save(d, "", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(state_namespace_load(d, &rel), 0);
	cr_expect_str_eq(rel, "", "no prefix is recorded as such");
	free(rel);
	/* damaged: no final newline, another magic, two lines */
	static const char *bad[] = { "mailkeep-namespace 1\nprefix INBOX", "mailkeep-namespace 2\nprefix x\n",
				     "mailkeep-namespace 1\nprefix a\nb\n", "" };
	snprintf(p, sizeof(p), "%s/.mailkeep/namespace", d);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		FILE *f = fopen(p, "w");
		cr_assert_not_null(f);
		fputs(bad[i], f);
		fclose(f);
		rel = NULL;
		cr_expect_eq(state_namespace_load(d, &rel), 1, "damaged record %zu taken", i);
		cr_expect_null(rel);
	}
	unlink(p);
	snprintf(p, sizeof(p), "%s/.mailkeep", d);
	rmdir(p);
	rmdir(d);
	free(d);
}

Test(state, server_record)
{
	char *d = make_tmpdir(), p[512], err[256];
	snprintf(p, sizeof(p), "%s/server", d);
	cr_expect_eq(state_server_check(p, "alice", "imap.example.org", err, sizeof(err)), 1, "nothing recorded");
	cr_assert_eq(state_server_save(p, "alice", "imap.example.org", err, sizeof(err)), 0, "%s", err);
	struct stat sb;
	cr_assert_eq(stat(p, &sb), 0);
	cr_expect_eq(sb.st_mode & 0777, 0600);
	static const struct {
		const char *user, *host;
		int want;
	} cases[] = {
		{ "alice", "imap.example.org", 0 },
		{ "alice", "IMAP.Example.ORG", 0 },   /* host names ignore case */
		{ "Alice", "imap.example.org", -1 },  /* user names do not */
		{ "bob", "imap.example.org", -1 },
		{ "alice", "imap.example.net", 2 },   /* the same mailbox under another name */
		{ "alice@example.org", "imap.example.org", -1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		cr_expect_eq(state_server_check(p, cases[i].user, cases[i].host, err, sizeof(err)), cases[i].want,
			     "case %zu", i);
		if (cases[i].want < 0)
			cr_expect(strstr(err, "user \"alice\" on imap.example.org") != NULL, "case %zu: %s", i, err);
		if (cases[i].want == 2)
			cr_expect_str_eq(err, "imap.example.org", "case %zu", i);
	}
	/* a user name longer than any fixed buffer: recorded and checked all the same */
	char *long_user = malloc(5001);
	cr_assert_not_null(long_user);
	memset(long_user, 'u', 5000);
	long_user[5000] = '\0';
	cr_assert_eq(state_server_save(p, long_user, "imap.example.org", err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(state_server_check(p, long_user, "imap.example.org", err, sizeof(err)), 0, "long user");
	long_user[4999] = 'v';
	cr_expect_eq(state_server_check(p, long_user, "imap.example.org", err, sizeof(err)), -1, "long user changed");
	free(long_user);
	/* damaged or foreign: nothing usable recorded */
	static const char *bad[] = { "mailkeep-server 1\nhost h\nuser u", "mailkeep-server 2\nhost h\nuser u\n",
				     "mailkeep-server 1\nuser u\nhost h\n", "mailkeep-server 1\nhost h\n",
				     "mailkeep-server 1\nhost h\nuser u\nx\n", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		FILE *f = fopen(p, "w");
		cr_assert_not_null(f);
		fputs(bad[i], f);
		fclose(f);
		cr_expect_eq(state_server_check(p, "u", "h", err, sizeof(err)), 1, "damaged record %zu taken", i);
	}
	unlink(p);
	rmdir(d);
	free(d);
}
