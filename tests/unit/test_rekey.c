/* Re-key: the match of a state's messages with the server's, and the record's
 * round trip, malformed records rejected. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailkeep/buf.h"
#include "mailkeep/rekey.h"
#include "mailkeep/state.h"

#define NODATE STATE_NO_DATE
#define NOSIZE UINT64_MAX

struct match_case {
	const char *name;
	struct rekey_local local[4];
	size_t nl;
	struct rekey_server server[4];
	size_t ns;
	int want; /* 0 matched, 1 not */
	uint32_t new_uids[4];
};

static const struct match_case match_cases[] = {
	{ "same UIDs", { { 1, 1700000000, 100 }, { 2, 1700000100, 200 } }, 2,
	  { { 1, 1700000000, 100 }, { 2, 1700000100, 200 } }, 2, 0, { 1, 2 } },
	{ "renumbered", { { 5, 1700000000, 100 }, { 9, 1700000100, 200 }, { 12, 1600000000, 7 } }, 3,
	  { { 1, 1700000000, 100 }, { 2, 1700000100, 200 }, { 3, 1600000000, 7 } }, 3, 0, { 1, 2, 3 } },
	{ "before 1970 is named 0", { { 1, 0, 10 } }, 1, { { 4, -86400, 10 } }, 1, 0, { 4 } },
	{ "a wrapped date (after 2038) is not 0", { { 1, 0, 10 } }, 1, { { 1, 4208000000, 10 } }, 1, 1, { 0 } },
	{ "one size differs", { { 1, 1700000000, 100 }, { 2, 1700000100, 200 } }, 2,
	  { { 1, 1700000000, 100 }, { 2, 1700000100, 201 } }, 2, 1, { 0 } },
	{ "one date differs", { { 1, 1700000000, 100 }, { 2, 1700000100, 200 } }, 2,
	  { { 1, 1700000000, 100 }, { 2, 1700000101, 200 } }, 2, 1, { 0 } },
	{ "same messages, other order", { { 1, 1700000000, 100 }, { 2, 1700000100, 200 } }, 2,
	  { { 1, 1700000100, 200 }, { 2, 1700000000, 100 } }, 2, 1, { 0 } },
	/* delivered since: new, downloaded after the re-key (Courier's folder no client SELECTed) */
	{ "one more on the server", { { 1, 1700000000, 100 } }, 1,
	  { { 1, 1700000000, 100 }, { 2, 1700000100, 200 } }, 2, 0, { 1 } },
	{ "one more, listed first", { { 1, 1700000000, 100 }, { 2, 1700000100, 200 } }, 2,
	  { { 1, 1700000200, 300 }, { 2, 1700000000, 100 }, { 3, 1700000100, 200 } }, 3, 0, { 2, 3 } },
	{ "two more, between", { { 4, 1700000000, 100 }, { 6, 1700000100, 200 } }, 2,
	  { { 1, 1700000000, 100 }, { 2, 1, 1 }, { 3, 2, 2 }, { 4, 1700000100, 200 } }, 4, 0, { 1, 4 } },
	{ "one more with a state message's date and size", { { 1, 1700000000, 100 }, { 2, 1700000100, 200 } }, 2,
	  { { 1, 1700000000, 100 }, { 2, 1700000100, 200 }, { 3, 1700000000, 100 } }, 3, 1, { 0 } },
	{ "one more, the others in another order", { { 1, 1700000000, 100 }, { 2, 1700000100, 200 } }, 2,
	  { { 1, 1700000100, 200 }, { 2, 1700000000, 100 }, { 3, 5, 5 } }, 3, 1, { 0 } },
	{ "one more, one of the state's not there", { { 1, 1700000000, 100 }, { 2, 1700000100, 200 } }, 2,
	  { { 1, 1700000000, 100 }, { 2, 1700000100, 201 }, { 3, 5, 5 } }, 3, 1, { 0 } },
	{ "one more without a size", { { 1, 1700000000, 100 } }, 1,
	  { { 1, 1700000000, 100 }, { 2, 1700000100, NOSIZE } }, 2, 1, { 0 } },
	{ "one fewer on the server", { { 1, 1700000000, 100 }, { 2, 1700000100, 200 } }, 2,
	  { { 1, 1700000000, 100 } }, 1, 1, { 0 } },
	{ "nothing", { { 0 } }, 0, { { 0 } }, 0, 1, { 0 } },
	{ "state date unknown", { { 1, NODATE, 100 } }, 1, { { 1, 1700000000, 100 } }, 1, 1, { 0 } },
	{ "file size unknown", { { 1, 1700000000, NOSIZE } }, 1, { { 1, 1700000000, 100 } }, 1, 1, { 0 } },
	{ "no INTERNALDATE", { { 1, 1700000000, 100 } }, 1, { { 1, INT64_MIN, 100 } }, 1, 1, { 0 } },
	{ "no RFC822.SIZE", { { 1, 1700000000, 100 } }, 1, { { 1, 1700000000, NOSIZE } }, 1, 1, { 0 } },
	{ "server UIDs repeated", { { 1, 5, 1 }, { 2, 6, 1 } }, 2, { { 3, 5, 1 }, { 3, 6, 1 } }, 2, 1, { 0 } },
	{ "server UIDs unsorted", { { 1, 5, 1 }, { 2, 6, 1 } }, 2, { { 4, 5, 1 }, { 3, 6, 1 } }, 2, 1, { 0 } },
	/* the server may list the two in the other order: which is which cannot be told */
	{ "two of the same date and size", { { 1, 1700000000, 100 }, { 2, 1700000050, 300 }, { 3, 1700000000, 100 } },
	  3, { { 1, 1700000000, 100 }, { 2, 1700000050, 300 }, { 3, 1700000000, 100 } }, 3, 1, { 0 } },
	{ "same date, other sizes", { { 1, 1700000000, 100 }, { 2, 1700000000, 101 } }, 2,
	  { { 7, 1700000000, 100 }, { 8, 1700000000, 101 } }, 2, 0, { 7, 8 } },
	{ "server UID 0", { { 1, 5, 1 } }, 1, { { 0, 5, 1 } }, 1, 1, { 0 } },
	{ "state UIDs unsorted", { { 2, 5, 1 }, { 1, 5, 1 } }, 2, { { 3, 5, 1 }, { 4, 5, 1 } }, 2, 1, { 0 } },
};

Test(rekey, match_table)
{
	for (size_t k = 0; k < sizeof(match_cases) / sizeof(match_cases[0]); k++) {
		const struct match_case *c = &match_cases[k];
		struct rekey_pair *pairs = (void *)1;
		char why[256] = "";
		int rc = rekey_match(c->local, c->nl, c->server, c->ns, &pairs, why, sizeof(why));
		cr_expect_eq(rc, c->want, "%s: rc %d (%s)", c->name, rc, why);
		if (rc == 0) {
			for (size_t i = 0; i < c->nl; i++) {
				cr_expect_eq(pairs[i].old_uid, c->local[i].uid, "%s: pair %zu", c->name, i);
				cr_expect_eq(pairs[i].new_uid, c->new_uids[i], "%s: pair %zu", c->name, i);
			}
		} else {
			cr_expect_null(pairs, "%s: pairs set on a mismatch", c->name);
			cr_expect(why[0], "%s: no reason given", c->name);
		}
		free(pairs);
	}
}

Test(rekey, record_round_trip)
{
	struct rekey_pair p[] = { { 3, 1 }, { 7, 2 }, { 4000000000u, 3 } };
	struct rekey_plan plan = { 1700000000, 777, 4, p, 3 }, back;
	struct buf b = BUF_INIT;
	char err[256];
	rekey_format(&b, &plan);
	cr_assert_str_eq(b.data, "mailkeep-rekey 1\nfrom 1700000000\nto 777\nuidnext 4\npairs 3\n"
				 "3 1\n7 2\n4000000000 3\n");
	cr_assert_eq(rekey_parse(b.data, b.len, &back, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(back.old_uidvalidity, 1700000000u);
	cr_expect_eq(back.new_uidvalidity, 777u);
	cr_expect_eq(back.uidnext, 4u);
	cr_assert_eq(back.n, 3);
	cr_expect_eq(memcmp(back.pairs, p, sizeof(p)), 0);
	rekey_plan_free(&back);
	buf_free(&b);
}

Test(rekey, record_malformed)
{
	static const char *const bad[] = {
		"",
		"mailkeep-rekey 1\n",
		"mailkeep-rekey 2\nfrom 1\nto 2\nuidnext 0\npairs 1\n1 1\n",
		"mailkeep-rekey 1\nfrom 1\nto 2\nuidnext 0\npairs 1\n1 1",         /* cut: no LF */
		"mailkeep-rekey 1\nfrom 1\nto 2\nuidnext 0\npairs 2\n1 1\n",       /* cut: a pair short */
		"mailkeep-rekey 1\nfrom 1\nto 2\nuidnext 0\npairs 1\n1 1\n2 2\n",  /* one more */
		"mailkeep-rekey 1\nfrom 1\nto 1\nuidnext 0\npairs 1\n1 1\n",       /* the same UIDVALIDITY */
		"mailkeep-rekey 1\nfrom 0\nto 2\nuidnext 0\npairs 1\n1 1\n",
		"mailkeep-rekey 1\nfrom 1\nto 2\nuidnext 0\npairs 0\n",
		"mailkeep-rekey 1\nfrom 1\nto 4294967296\nuidnext 0\npairs 1\n1 1\n",
		"mailkeep-rekey 1\nfrom 1\nto 2\nuidnext 0\npairs 2\n1 2\n2 2\n",  /* new UIDs repeated */
		"mailkeep-rekey 1\nfrom 1\nto 2\nuidnext 0\npairs 2\n2 1\n1 2\n",  /* old UIDs unsorted */
		"mailkeep-rekey 1\nfrom 1\nto 2\nuidnext 0\npairs 1\n0 1\n",
		"mailkeep-rekey 1\nfrom 1\nto 2\nuidnext 0\npairs 1\n1  1\n",
		"mailkeep-rekey 1\nfrom 1\nto 2\nuidnext 0\npairs 1\n-1 1\n",
		"mailkeep-rekey 1\nfrom 01\nto 2\nuidnext 0\npairs 1\n1 1\n",
		"mailkeep-rekey 1\nto 2\nfrom 1\nuidnext 0\npairs 1\n1 1\n",
		"mailkeep-rekey 1\nfrom 1\nto 2\nuidnext 0\npairs 1\n1 1 \n",
	};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct rekey_plan plan;
		char err[256] = "";
		cr_expect_eq(rekey_parse(bad[k], strlen(bad[k]), &plan, err, sizeof(err)), -1, "case %zu accepted", k);
		cr_expect_null(plan.pairs, "case %zu: pairs left", k);
		cr_expect(err[0], "case %zu: no reason", k);
	}
	/* a NUL inside */
	static const char nul[] = "mailkeep-rekey 1\nfrom 1\nto 2\nuidnext 0\npairs 1\n1\0 1\n";
	struct rekey_plan plan;
	char err[256];
	cr_expect_eq(rekey_parse(nul, sizeof(nul) - 1, &plan, err, sizeof(err)), -1);
}

/* A count of pairs the bytes after the header cannot hold (each pair a line
 * of 4 bytes at least) is refused before the pairs are allocated (2M pairs
 * took 16 MB for a 100-byte file), naming the count; one they just hold is
 * read. */
Test(rekey, record_count_past_its_bytes)
{
	static const char big[] = "mailkeep-rekey 1\nfrom 1\nto 2\nuidnext 0\npairs 2000000\n"
				  "1 1\n2 2\n3 3\n4 4\n5 5\n6 6\n7 7\n8 8\n9 9\n10 10\n11 11\n";
	static const char tight[] = "mailkeep-rekey 1\nfrom 1\nto 2\nuidnext 0\npairs 3\n1 1\n2 2\n3 3\n";
	static const char short_one[] = "mailkeep-rekey 1\nfrom 1\nto 2\nuidnext 0\npairs 4\n1 1\n2 2\n3 3\n";
	struct rekey_plan plan;
	char err[256] = "";
	cr_expect_eq(rekey_parse(big, sizeof(big) - 1, &plan, err, sizeof(err)), -1);
	cr_expect_null(plan.pairs);
	cr_expect_str_eq(err, "2000000 pairs in 48 bytes");
	cr_expect_eq(rekey_parse(short_one, sizeof(short_one) - 1, &plan, err, sizeof(err)), -1);
	cr_expect_str_eq(err, "4 pairs in 12 bytes");
	cr_assert_eq(rekey_parse(tight, sizeof(tight) - 1, &plan, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(plan.n, 3);
	cr_expect_eq(plan.pairs[2].new_uid, 3);
	rekey_plan_free(&plan);
}
