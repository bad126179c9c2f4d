/* Interned keyword sets: each distinct set held once, the cap refuses new
 * sets (never a held one), and a state holds its messages' sets once. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mailkeep/kwset.h"
#include "mailkeep/state.h"

/* A sequence of sets interned into one table: how many distinct ones it
 * holds after, and which inputs give the same pointer as an earlier one. */
static const struct {
	const char *name;
	const char *in[6];      /* NULL-terminated (a NULL set is written as "NULL") */
	size_t distinct;
	int same_as[6];         /* index of an earlier input giving the same pointer, -1: new, -2: NULL */
} cases[] = {
	{ "one set many times", { "$NotJunk NonJunk $label1", "$NotJunk NonJunk $label1",
				  "$NotJunk NonJunk $label1", NULL }, 1, { -1, 0, 0 } },
	{ "empty and NULL hold nothing", { "", "NULL", "a", NULL }, 1, { -2, -2, -1 } },
	{ "order and case matter (exact bytes)", { "a b", "b a", "A b", "a b", NULL }, 3, { -1, -1, -1, 0 } },
	{ "prefixes differ", { "a", "ab", "a ", "a", NULL }, 3, { -1, -1, -1, 0 } },
};

Test(kwset, interning_table)
{
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct kwset t = KWSET_INIT;
		const char *got[6] = { 0 };
		for (size_t i = 0; cases[c].in[i]; i++) {
			const char *s = strcmp(cases[c].in[i], "NULL") ? cases[c].in[i] : NULL;
			got[i] = kwset_intern(&t, s);
			int want = cases[c].same_as[i];
			if (want == -2)
				cr_assert_null(got[i], "%s: input %zu", cases[c].name, i);
			else if (want == -1) {
				cr_assert_not_null(got[i], "%s: input %zu", cases[c].name, i);
				cr_assert_str_eq(got[i], s, "%s: input %zu", cases[c].name, i);
				cr_assert_neq(got[i], s, "%s: the table's copy", cases[c].name);
				for (size_t j = 0; j < i; j++)
					cr_assert_neq(got[i], got[j], "%s: input %zu shared %zu", cases[c].name, i, j);
			} else
				cr_assert_eq(got[i], got[want], "%s: input %zu not shared", cases[c].name, i);
		}
		cr_assert_eq(t.n, cases[c].distinct, "%s: %zu sets held", cases[c].name, t.n);
		cr_assert_eq(t.refused, 0, "%s", cases[c].name);
		kwset_free(&t);
		cr_assert_eq(t.n, 0);
		cr_assert_eq(t.bytes, 0);
	}
}

/* Many sets: the table grows and still finds every one. */
Test(kwset, growth_keeps_every_set)
{
	struct kwset t = KWSET_INIT;
	const char *p[2000];
	char s[64];
	for (int i = 0; i < 2000; i++) {
		snprintf(s, sizeof(s), "$label%d Work", i);
		p[i] = kwset_intern(&t, s);
		cr_assert_not_null(p[i]);
	}
	for (int i = 0; i < 2000; i++) {
		snprintf(s, sizeof(s), "$label%d Work", i);
		cr_assert_eq(kwset_intern(&t, s), p[i], "set %d not found again", i);
	}
	cr_assert_eq(t.n, 2000);
	cr_assert_leq(t.bytes, KWSET_CAP);
	kwset_free(&t);
}

/* The cap: past it a new set is refused and counted; one already held is
 * still given; bytes never pass the limit. */
static const struct {
	size_t limit, len, count;   /* count sets of len bytes, each distinct */
	size_t kept;                /* how many fit */
} caps[] = {
	{ 1000, 100, 20, 7 },   /* 100 + 1 + 32 bytes each: 7 fit in 1000 */
	{ 1000, 966, 3, 1 },    /* one of the largest that fits */
	{ 1000, 968, 1, 0 },    /* too large alone */
	{ 0, 4000, 400, 259 },  /* KWSET_CAP: 1 MiB / (4000 + 1 + 32) */
};

Test(kwset, cap_refuses_new_sets_only)
{
	for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
		struct kwset t = { .limit = caps[c].limit };
		char s[4096];
		const char *first = NULL;
		size_t kept = 0;
		for (size_t i = 0; i < caps[c].count; i++) {
			memset(s, 'k', caps[c].len);
			s[caps[c].len] = '\0';
			for (size_t k = 0, v = i; k < 7; k++, v /= 10) /* a distinct prefix */
				s[6 - k] = (char)('0' + v % 10);
			const char *p = kwset_intern(&t, s);
			if (p) {
				kept++;
				if (!first)
					first = p;
			}
			cr_assert_leq(t.bytes, caps[c].limit ? caps[c].limit : KWSET_CAP, "case %zu", c);
		}
		cr_assert_eq(kept, caps[c].kept, "case %zu: %zu kept", c, kept);
		cr_assert_eq(t.refused, caps[c].count - caps[c].kept, "case %zu: %zu refused", c, t.refused);
		if (first) {
			char again[4096];
			strcpy(again, first);
			cr_assert_eq(kwset_intern(&t, again), first, "case %zu: a held set refused past the cap", c);
		}
		kwset_free(&t);
		cr_assert_eq(t.limit, caps[c].limit, "the limit is kept over kwset_free");
	}
}

/* A state: messages with the same keywords share one copy, state_equal
 * compares the strings (not the pointers) across two states, a save and a
 * load give the same lines. */
Test(kwset, state_shares_sets)
{
	struct folder_state a = { .uidvalidity = 7 }, b = { .uidvalidity = 7 };
	for (uint32_t uid = 1; uid <= 1000; uid++) {
		state_add(&a, uid, 0, STATE_NO_DATE, uid % 3 ? "$NotJunk NonJunk $label1" : uid % 2 ? "Work" : NULL);
		state_add(&b, uid, 0, STATE_NO_DATE, uid % 3 ? "$NotJunk NonJunk $label1" : uid % 2 ? "Work" : "");
	}
	cr_assert_eq(a.kw.n, 2);
	cr_assert_eq(a.msgs[0].keywords, a.msgs[1].keywords);
	cr_assert_null(a.msgs[5].keywords);
	cr_assert_str_eq(a.msgs[2].keywords, "Work");
	cr_assert(state_equal(&a, &b));
	state_add(&b, 1001, 0, STATE_NO_DATE, "Work");
	state_add(&a, 1001, 0, STATE_NO_DATE, "Work2");
	cr_assert_not(state_equal(&a, &b));

	char tmpl[] = "/tmp/mk-kwset-XXXXXX";
	char *d = mkdtemp(tmpl);
	cr_assert_not_null(d);
	char err[256];
	cr_assert_eq(state_save(d, &a, err, sizeof(err)), 0, "%s", err);
	struct folder_state l;
	cr_assert_eq(state_load(d, &l, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(l.n, 1001);
	cr_assert_eq(l.kw.n, 3);
	cr_assert_eq(l.msgs[0].keywords, l.msgs[3].keywords);
	for (size_t i = 0; i < l.n; i++)
		cr_assert_str_eq(l.msgs[i].keywords ? l.msgs[i].keywords : "", a.msgs[i].keywords ? a.msgs[i].keywords : "",
				 "uid %u", l.msgs[i].uid);
	state_clear_msgs(&l);
	cr_assert_eq(l.n, 0);
	cr_assert_eq(l.kw.n, 0);
	state_free(&l);
	state_free(&a);
	state_free(&b);
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", d, STATE_FILE);
	unlink(p);
	rmdir(d);
}

/* A state past the cap: messages beyond it are recorded without keywords,
 * never dropped, and the refusals counted. */
Test(kwset, state_past_cap_keeps_messages)
{
	struct folder_state st = { .uidvalidity = 7 };
	st.kw.limit = 1000;
	char s[128];
	for (uint32_t uid = 1; uid <= 100; uid++) {
		snprintf(s, sizeof(s), "distinct%03u $label1", uid);
		state_add(&st, uid, 0, STATE_NO_DATE, s);
	}
	cr_assert_eq(st.n, 100);
	cr_assert_gt(st.kw.refused, 0);
	cr_assert_eq(st.kw.n + st.kw.refused, 100);
	cr_assert_str_eq(st.msgs[0].keywords, "distinct001 $label1");
	cr_assert_null(st.msgs[99].keywords);
	cr_assert_eq(st.msgs[99].uid, 100);
	cr_assert(st.keywords_capped, "the state says some keywords are not kept");
	state_free(&st);
}
