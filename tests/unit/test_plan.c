/* Planner: table-driven cases over (local files, server view). */
#include <criterion/criterion.h>
#include <string.h>

#include "mailkeep/plan.h"

#define UV 777u

struct lf { uint32_t uid, uv; unsigned flags; int in_new; };

static void make_view(struct maildir_view *v, const struct lf *files, size_t n)
{
	memset(v, 0, sizeof(*v));
	v->files = calloc(n ? n : 1, sizeof(*v->files));
	for (size_t i = 0; i < n; i++) {
		v->files[i] = (struct maildir_file){ .uid = files[i].uid, .uidvalidity = files[i].uv,
			.flags = (uint8_t)files[i].flags, .in_new = (uint8_t)files[i].in_new,
			.name_off = (uint32_t)v->names.len };
		buf_addf(&v->names, "f%zu", i);
		buf_addch(&v->names, '\0');
	}
	v->n = n;
}

static const struct plan_action *find_action(const struct plan *p, size_t file)
{
	for (size_t i = 0; i < p->n_actions; i++)
		if (p->actions[i].file == file)
			return &p->actions[i];
	return NULL;
}

Test(plan, empty_local_fetches_everything)
{
	struct maildir_view v;
	make_view(&v, NULL, 0);
	struct plan_server_msg s[] = { { 1, MFLAG_SEEN }, { 2, 0 }, { 5, MFLAG_FLAGGED } };
	struct plan p;
	plan_folder(&v, UV, s, NULL, 3, DELETIONS_MIRROR, &p);
	cr_assert_eq(p.n_fetch, 3);
	cr_assert_eq(p.fetch[0], 1);
	cr_assert_eq(p.fetch[2], 5);
	cr_assert_eq(p.n_actions, 0);
	plan_free(&p);
	maildir_view_free(&v);
}

Test(plan, in_sync_does_nothing)
{
	struct lf l[] = { { 1, UV, MFLAG_SEEN, 0 }, { 2, UV, 0, 0 } };
	struct maildir_view v;
	make_view(&v, l, 2);
	struct plan_server_msg s[] = { { 1, MFLAG_SEEN }, { 2, 0 } };
	struct plan p;
	plan_folder(&v, UV, s, NULL, 2, DELETIONS_MIRROR, &p);
	cr_assert_eq(p.n_fetch, 0);
	cr_assert_eq(p.n_actions, 0);
	plan_free(&p);
	maildir_view_free(&v);
}

Test(plan, flag_change_renames_and_new_dir_moves)
{
	struct lf l[] = { { 1, UV, 0, 0 }, { 2, UV, MFLAG_SEEN, 1 }, { 3, UV, MFLAG_SEEN, 0 } };
	struct maildir_view v;
	make_view(&v, l, 3);
	struct plan_server_msg s[] = { { 1, MFLAG_SEEN | MFLAG_REPLIED }, { 2, MFLAG_SEEN }, { 3, 0 } };
	struct plan p;
	plan_folder(&v, UV, s, NULL, 3, DELETIONS_MIRROR, &p);
	cr_assert_eq(p.n_fetch, 0);
	cr_assert_eq(p.n_renames, 3);
	cr_assert_eq(find_action(&p, 0)->flags, MFLAG_SEEN | MFLAG_REPLIED);
	cr_assert_eq(find_action(&p, 1)->op, PLAN_RENAME); /* new/ -> cur/ */
	cr_assert_eq(find_action(&p, 2)->flags, 0);
	plan_free(&p);
	maildir_view_free(&v);
}

Test(plan, expunged_removed_with_mirror_kept_with_keep)
{
	struct lf l[] = { { 1, UV, 0, 0 }, { 2, UV, 0, 0 }, { 9, UV, 0, 1 } };
	struct maildir_view v;
	make_view(&v, l, 3);
	struct plan_server_msg s[] = { { 2, 0 } };
	struct plan p;
	plan_folder(&v, UV, s, NULL, 1, DELETIONS_MIRROR, &p);
	cr_assert_eq(p.n_removes, 2);
	cr_assert_eq(find_action(&p, 0)->op, PLAN_REMOVE);
	cr_assert_eq(find_action(&p, 2)->op, PLAN_REMOVE);
	cr_assert_null(find_action(&p, 1));
	plan_free(&p);
	plan_folder(&v, UV, s, NULL, 1, DELETIONS_KEEP, &p);
	cr_assert_eq(p.n_actions, 0);
	cr_assert_eq(p.n_kept, 2);
	plan_free(&p);
	maildir_view_free(&v);
}

Test(plan, duplicates_removed_keeping_cur_copy)
{
	/* view is sorted by uid with cur/ first, as maildir_scan produces */
	struct lf l[] = { { 4, UV, MFLAG_SEEN, 0 }, { 4, UV, 0, 1 }, { 4, 0, MFLAG_SEEN, 0 } };
	struct maildir_view v;
	make_view(&v, l, 3);
	struct plan_server_msg s[] = { { 4, MFLAG_SEEN } };
	struct plan p;
	plan_folder(&v, UV, s, NULL, 1, DELETIONS_KEEP, &p);
	cr_assert_eq(p.n_duplicates, 2);
	cr_assert_null(find_action(&p, 0));
	cr_assert_eq(find_action(&p, 1)->op, PLAN_REMOVE);
	cr_assert_eq(find_action(&p, 2)->op, PLAN_REMOVE);
	cr_assert_eq(p.n_fetch, 0);
	plan_free(&p);
	maildir_view_free(&v);
}

Test(plan, duplicates_keep_the_copy_that_needs_no_rename)
{
	/* a reader's copy "X:2,S" of "X:2,RS" listed first: keeping it would rename
	 * it over "X:2,RS", which the removal of the copy then unlinks */
	struct lf l[] = { { 4, UV, MFLAG_SEEN, 0 }, { 4, UV, MFLAG_REPLIED | MFLAG_SEEN, 0 },
			  { 4, 0, MFLAG_REPLIED | MFLAG_SEEN, 0 }, { 6, 0, 0, 0 }, { 6, UV, MFLAG_SEEN, 0 } };
	struct maildir_view v;
	make_view(&v, l, 5);
	struct plan_server_msg s[] = { { 4, MFLAG_REPLIED | MFLAG_SEEN }, { 6, MFLAG_FLAGGED } };
	struct plan p;
	plan_folder(&v, UV, s, NULL, 2, DELETIONS_MIRROR, &p);
	cr_assert_eq(p.n_duplicates, 3);
	cr_assert_eq(find_action(&p, 0)->op, PLAN_REMOVE);
	cr_assert_null(find_action(&p, 1));
	cr_assert_eq(find_action(&p, 2)->op, PLAN_REMOVE);
	/* uid 6: mailkeep's name is kept (and renamed), the other name removed */
	cr_assert_eq(find_action(&p, 3)->op, PLAN_REMOVE);
	cr_assert_eq(find_action(&p, 4)->op, PLAN_RENAME);
	cr_assert_eq(find_action(&p, 4)->flags, MFLAG_FLAGGED);
	cr_assert_eq(p.n_fetch, 0);
	plan_free(&p);
	maildir_view_free(&v);
}

Test(plan, name_with_other_info_is_renamed)
{
	/* ":2,Sa", ":1,", no info: the flags agree, the name does not */
	struct lf l[] = { { 1, UV, MFLAG_SEEN, 0 }, { 2, UV, 0, 0 }, { 3, UV, MFLAG_SEEN, 0 } };
	struct maildir_view v;
	make_view(&v, l, 3);
	v.files[0].odd_info = 1;
	v.files[1].odd_info = 1;
	struct plan_server_msg s[] = { { 1, MFLAG_SEEN }, { 2, 0 }, { 3, MFLAG_SEEN } };
	struct plan p;
	plan_folder(&v, UV, s, NULL, 3, DELETIONS_MIRROR, &p);
	cr_assert_eq(p.n_actions, 2);
	cr_assert_eq(find_action(&p, 0)->op, PLAN_RENAME);
	cr_assert_eq(find_action(&p, 0)->flags, MFLAG_SEEN);
	cr_assert_eq(find_action(&p, 1)->op, PLAN_RENAME);
	cr_assert_null(find_action(&p, 2));
	plan_free(&p);
	maildir_view_free(&v);
}

Test(plan, duplicates_prefer_the_plain_name)
{
	/* "X:2,Sa" listed before "X:2,S": the latter is kept, nothing renamed over it */
	struct lf l[] = { { 1, UV, MFLAG_SEEN, 0 }, { 1, UV, MFLAG_SEEN, 0 } };
	struct maildir_view v;
	make_view(&v, l, 2);
	v.files[0].odd_info = 1;
	struct plan_server_msg s[] = { { 1, MFLAG_SEEN } };
	struct plan p;
	plan_folder(&v, UV, s, NULL, 1, DELETIONS_MIRROR, &p);
	cr_assert_eq(p.n_actions, 1);
	cr_assert_eq(find_action(&p, 0)->op, PLAN_REMOVE);
	plan_free(&p);
	maildir_view_free(&v);
}

Test(plan, other_uidvalidity_never_stands_for_server_message)
{
	struct lf l[] = { { 1, 555, MFLAG_SEEN, 0 }, { 2, UV, 0, 0 } };
	struct maildir_view v;
	make_view(&v, l, 2);
	struct plan_server_msg s[] = { { 1, MFLAG_SEEN }, { 2, 0 } };
	struct plan p;
	plan_folder(&v, UV, s, NULL, 2, DELETIONS_MIRROR, &p);
	cr_assert_eq(p.n_fetch, 1);
	cr_assert_eq(p.fetch[0], 1);
	cr_assert_eq(p.n_stale, 1);
	cr_assert_eq(find_action(&p, 0)->op, PLAN_REMOVE);
	plan_free(&p);
	plan_folder(&v, UV, s, NULL, 2, DELETIONS_KEEP, &p);
	cr_assert_eq(p.n_fetch, 1);
	cr_assert_eq(p.n_actions, 0);
	plan_free(&p);
	maildir_view_free(&v);
}

/* A view whose files have mailkeep's names "<date>.<uv>_<uid>.mailkeep,U=<uid>:2,"
 * (DATE[i] < 0: another program's name with only the U= tag). */
static void make_named_view(struct maildir_view *v, const struct lf *files, const long long *date, size_t n)
{
	memset(v, 0, sizeof(*v));
	v->files = calloc(n ? n : 1, sizeof(*v->files));
	for (size_t i = 0; i < n; i++) {
		v->files[i] = (struct maildir_file){ .uid = files[i].uid, .uidvalidity = files[i].uv,
			.flags = (uint8_t)files[i].flags, .in_new = (uint8_t)files[i].in_new,
			.name_off = (uint32_t)v->names.len };
		if (date[i] < 0)
			buf_addf(&v->names, "1700000000.M1P2.host,U=%u:2,", (unsigned)files[i].uid);
		else
			buf_addf(&v->names, "%lld.%u_%u.mailkeep,U=%u:2,", date[i], (unsigned)files[i].uv,
				 (unsigned)files[i].uid, (unsigned)files[i].uid);
		buf_addch(&v->names, '\0');
	}
	v->n = n;
}

Test(plan, file_with_another_date_is_another_message)
{
	/* uid 1: its own file and one moved in by hand from a folder with the same
	 * UIDVALIDITY (another date); uid 2: only a moved-in file; uid 3: dates not
	 * known (an older state): as before; uid 4: a name without the date part */
	struct lf l[] = { { 1, UV, MFLAG_SEEN, 0 }, { 1, UV, 0, 0 }, { 2, UV, 0, 0 }, { 3, UV, 0, 0 },
			  { 4, 0, 0, 0 } };
	const long long date[] = { 1500000000, 1600000000, 1500000002, 1500000003, -1 };
	struct maildir_view v;
	make_named_view(&v, l, date, 5);
	struct plan_server_msg s[] = { { 1, 0 }, { 2, 0 }, { 3, 0 }, { 4, 0 } };
	const int64_t want[] = { 1600000000, 1600000002, STATE_NO_DATE, 1600000004 };
	struct plan p;
	plan_folder(&v, UV, s, want, 4, DELETIONS_MIRROR, &p);
	cr_assert_eq(p.n_stale, 2);
	cr_assert_eq(p.n_duplicates, 0);
	cr_assert_eq(find_action(&p, 0)->op, PLAN_REMOVE); /* uid 1, another message's */
	cr_assert_null(find_action(&p, 1));                /* uid 1, its own: kept as it is */
	cr_assert_eq(find_action(&p, 2)->op, PLAN_REMOVE); /* uid 2, another message's */
	cr_assert_null(find_action(&p, 3));
	cr_assert_null(find_action(&p, 4));
	cr_assert_eq(p.n_fetch, 1);
	cr_assert_eq(p.fetch[0], 2);
	plan_free(&p);
	/* deletions: keep: the other messages' files are left alone, uid 2 fetched all the same */
	plan_folder(&v, UV, s, want, 4, DELETIONS_KEEP, &p);
	cr_assert_eq(p.n_actions, 0);
	cr_assert_eq(p.n_stale, 2);
	cr_assert_eq(p.n_fetch, 1);
	cr_assert_eq(p.fetch[0], 2);
	plan_free(&p);
	/* without dates, the copy that needs no rename is kept, the other removed */
	plan_folder(&v, UV, s, NULL, 4, DELETIONS_MIRROR, &p);
	cr_assert_eq(p.n_stale, 0);
	cr_assert_eq(p.n_duplicates, 1);
	cr_assert_eq(p.n_fetch, 0);
	plan_free(&p);
	/* plan_file_stands, the same rule for the state's dates after the plan: with
	 * deletions: keep uid 1 keeps its moved-in file, which must not stop its own
	 * file's date from being recorded (else the next run, with no date, keeps either) */
	cr_assert(!plan_file_stands(&v, 0, UV, want[0]));
	cr_assert(plan_file_stands(&v, 1, UV, want[0]));
	cr_assert(!plan_file_stands(&v, 2, UV, want[1]));
	cr_assert(plan_file_stands(&v, 3, UV, want[2]));
	cr_assert(plan_file_stands(&v, 4, UV, want[3]));
	cr_assert(!plan_file_stands(&v, 1, UV + 1, want[0])); /* another UIDVALIDITY */
	maildir_view_free(&v);
}

Test(plan, keep_removes_only_copies_of_an_expunged_message)
{
	/* uid 5 expunged: its file (date 1500000000), a reader's copy of it, and
	 * a file moved in by hand from a folder with the same UIDVALIDITY (another
	 * date: another message). deletions: keep removes the copy alone,
	 * whichever file of the two messages it keeps. */
	struct lf l[] = { { 5, UV, MFLAG_SEEN, 0 }, { 5, UV, MFLAG_SEEN, 1 }, { 5, UV, 0, 0 } };
	const long long date[] = { 1500000000, 1500000000, 1600000000 };
	struct maildir_view v;
	make_named_view(&v, l, date, 3);
	struct plan_server_msg s[] = { { 6, 0 } };
	const int64_t want[] = { STATE_NO_DATE };
	struct plan p;
	plan_folder(&v, UV, s, want, 1, DELETIONS_KEEP, &p);
	cr_assert_eq(p.n_actions, 1);
	cr_assert_eq(find_action(&p, 1)->op, PLAN_REMOVE); /* the copy in new/ */
	cr_assert_eq(p.n_kept, 1); /* the moved-in file, in cur/ with the flags to keep */
	cr_assert_eq(p.n_duplicates, 1);
	cr_assert_eq(p.n_stale, 1);
	cr_assert_eq(p.n_fetch, 1);
	plan_free(&p);
	/* deletions: mirror: all three go */
	plan_folder(&v, UV, s, want, 1, DELETIONS_MIRROR, &p);
	cr_assert_eq(p.n_removes, 3);
	plan_free(&p);
	maildir_view_free(&v);
}

Test(plan, many_copies_with_dates)
{
	/* more copies than the planner's small buffer: its own file last */
	struct lf l[12];
	long long date[12];
	for (size_t i = 0; i < 12; i++) {
		l[i] = (struct lf){ 9, UV, 0, 0 };
		date[i] = i == 11 ? 1234 : (long long)(2000 + i);
	}
	date[3] = 1234; /* a copy of its own file too, in new/ */
	l[3].in_new = 1;
	struct maildir_view v;
	make_named_view(&v, l, date, 12);
	struct plan_server_msg s[] = { { 9, 0 } };
	const int64_t want[] = { 1234 };
	struct plan p;
	plan_folder(&v, UV, s, want, 1, DELETIONS_MIRROR, &p);
	cr_assert_eq(p.n_stale, 10);
	cr_assert_eq(p.n_duplicates, 1);
	cr_assert_null(find_action(&p, 11));
	cr_assert_eq(find_action(&p, 3)->op, PLAN_REMOVE);
	cr_assert_eq(p.n_actions, 11);
	cr_assert_eq(p.n_fetch, 0);
	plan_free(&p);
	maildir_view_free(&v);
}

Test(plan, interleaved_mixture)
{
	struct lf l[] = { { 2, UV, 0, 0 }, { 3, UV, MFLAG_SEEN, 0 }, { 7, UV, 0, 0 }, { 10, UV, 0, 1 } };
	struct maildir_view v;
	make_view(&v, l, 4);
	struct plan_server_msg s[] = { { 1, 0 }, { 3, 0 }, { 4, 0 }, { 7, 0 }, { 11, MFLAG_DRAFT } };
	struct plan p;
	plan_folder(&v, UV, s, NULL, 5, DELETIONS_MIRROR, &p);
	cr_assert_eq(p.n_fetch, 3);
	cr_assert_eq(p.fetch[0], 1);
	cr_assert_eq(p.fetch[1], 4);
	cr_assert_eq(p.fetch[2], 11);
	cr_assert_eq(find_action(&p, 0)->op, PLAN_REMOVE); /* uid 2 expunged */
	cr_assert_eq(find_action(&p, 1)->op, PLAN_RENAME); /* uid 3 lost \Seen */
	cr_assert_null(find_action(&p, 2));                /* uid 7 fine */
	cr_assert_eq(find_action(&p, 3)->op, PLAN_REMOVE); /* uid 10 expunged */
	plan_free(&p);
	maildir_view_free(&v);
}

static struct state_msg K(uint32_t uid, unsigned flags)
{
	return (struct state_msg){ .uid = uid, .flags = (uint8_t)flags };
}

Test(plan_merge, qresync_vanished_and_changed)
{
	struct state_msg known[] = { K(1, MFLAG_SEEN), K(2, 0), K(3, 0), K(5, MFLAG_FLAGGED) };
	struct plan_server_msg changed[] = { { 3, MFLAG_SEEN }, { 7, 0 }, { 8, MFLAG_DRAFT } };
	struct plan_range r[] = { { 8, 8 }, { 2, 2 }, { 5, 6 } };
	struct plan_merged *m;
	size_t n = plan_merge_changes(known, 4, changed, 3, r, 3, PLAN_RANGES_VANISHED, &m);
	cr_assert_eq(n, 3);
	cr_assert_eq(m[0].uid, 1);
	cr_assert_eq(m[0].flags, MFLAG_SEEN);
	cr_assert_eq(m[0].changed, -1);
	cr_assert_eq(m[1].uid, 3);
	cr_assert_eq(m[1].flags, MFLAG_SEEN);
	cr_assert_eq(m[1].changed, 0);
	cr_assert_eq(m[2].uid, 7);
	free(m);
}

Test(plan_merge, condstore_present_ranges)
{
	struct state_msg known[] = { K(1, 0), K(2, 0), K(4, MFLAG_SEEN), K(9, 0) };
	struct plan_server_msg changed[] = { { 2, MFLAG_REPLIED }, { 10, 0 } };
	/* overlapping and unsorted ranges as a hostile server might send */
	struct plan_range r[] = { { 9, 10 }, { 1, 2 }, { 2, 2 }, { 10, 10 } };
	struct plan_merged *m;
	size_t n = plan_merge_changes(known, 4, changed, 2, r, 4, PLAN_RANGES_PRESENT, &m);
	cr_assert_eq(n, 4);
	cr_assert_eq(m[0].uid, 1);
	cr_assert_eq(m[1].uid, 2);
	cr_assert_eq(m[1].flags, MFLAG_REPLIED);
	cr_assert_eq(m[2].uid, 9);
	cr_assert_eq(m[3].uid, 10);
	cr_assert_eq(m[3].changed, 1);
	free(m);
}

Test(plan_merge, nothing_changed)
{
	struct state_msg known[] = { K(1, 0), K(2, MFLAG_SEEN) };
	struct plan_merged *m;
	size_t n = plan_merge_changes(known, 2, NULL, 0, NULL, 0, PLAN_RANGES_VANISHED, &m);
	cr_assert_eq(n, 2);
	cr_assert_eq(m[1].flags, MFLAG_SEEN);
	free(m);
}

/* 4294967295 is a valid UID, not an end marker: known, unchanged, and only
 * HIGHESTMODSEQ moved (the hostile matrix's uid-max-incremental crashed here) */
Test(plan_merge, uid_max_is_a_uid)
{
	struct state_msg known[] = { K(7, 0), K(4294967295u, MFLAG_SEEN) };
	struct plan_server_msg changed[] = { { 7, MFLAG_FLAGGED } };
	struct plan_merged *m;
	size_t n = plan_merge_changes(known, 2, NULL, 0, NULL, 0, PLAN_RANGES_VANISHED, &m);
	cr_assert_eq(n, 2);
	cr_assert_eq(m[1].uid, 4294967295u);
	cr_assert_eq(m[1].changed, -1);
	cr_assert_eq(m[1].flags, MFLAG_SEEN);
	free(m);
	n = plan_merge_changes(known, 2, changed, 1, NULL, 0, PLAN_RANGES_VANISHED, &m);
	cr_assert_eq(n, 2);
	cr_assert_eq(m[0].changed, 0);
	cr_assert_eq(m[1].uid, 4294967295u);
	cr_assert_eq(m[1].changed, -1);
	free(m);
	struct plan_server_msg changed_max[] = { { 4294967295u, 0 } };
	n = plan_merge_changes(known, 2, changed_max, 1, NULL, 0, PLAN_RANGES_VANISHED, &m);
	cr_assert_eq(n, 2);
	cr_assert_eq(m[1].changed, 0);
	cr_assert_eq(m[1].flags, 0);
	free(m);
}

/* A server repeating UIDs without end (VANISHED 1,1,1..., SEARCH 1 1 1...)
 * must not grow the range list: the runner compacts it with these two. */
Test(plan_ranges, merge_collapses_repeats_and_overlaps)
{
	struct plan_range r[] = { { 5, 5 }, { 1, 1 }, { 1, 1 }, { 2, 3 }, { 1, 4 }, { 5, 5 },
				  { 4294967295u, 4294967295u }, { 7, 9 }, { 8, 8 } };
	size_t n = plan_ranges_merge(r, sizeof(r) / sizeof(r[0]));
	cr_assert_eq(n, 4);
	cr_assert(r[0].lo == 1 && r[0].hi == 4);
	cr_assert(r[1].lo == 5 && r[1].hi == 5);
	cr_assert(r[2].lo == 7 && r[2].hi == 9);
	cr_assert(r[3].lo == 4294967295u && r[3].hi == 4294967295u);
	cr_assert_eq(plan_ranges_merge(r, 0), 0);
}

Test(plan_ranges, keep_known_drops_ranges_without_a_known_uid)
{
	struct state_msg known[] = { K(3, 0), K(10, 0), K(4294967295u, 0) };
	struct plan_range r[] = { { 1, 2 }, { 3, 3 }, { 4, 9 }, { 11, 20 }, { 5000, 4294967295u } };
	size_t n = plan_ranges_keep_known(r, 5, known, 3);
	cr_assert_eq(n, 2);
	cr_assert(r[0].lo == 3 && r[0].hi == 3);
	cr_assert(r[1].lo == 5000 && r[1].hi == 4294967295u);
	cr_assert_eq(plan_ranges_keep_known(r, 2, NULL, 0), 0);
}

Test(plan_dirs, first_of_dirs_exact_and_folding_case)
{
	/* 0 Work, 1 work, 2 A (\Noselect), 3 a, 4 A/b, 5 a/B, 6 Work */
	const char *rels[] = { "Work", "work", "A", "a", "A/b", "a/B", "Work" };
	const unsigned char sel[] = { 1, 1, 0, 1, 1, 1, 1 };
	size_t *f = plan_first_of_dirs(rels, sel, 7, 0);
	const size_t exact[] = { 0, 1, SIZE_MAX, 3, 4, 5, 0 };
	for (size_t i = 0; i < 7; i++)
		cr_expect_eq(f[i], exact[i], "exact: folder %zu -> %zu, want %zu", i, f[i], exact[i]);
	free(f);
	f = plan_first_of_dirs(rels, sel, 7, 1);
	/* one directory for Work/work; A and a: the first selectable one owns it */
	const size_t folded[] = { 0, 0, 3, 3, 4, 4, 0 };
	for (size_t i = 0; i < 7; i++)
		cr_expect_eq(f[i], folded[i], "folded: folder %zu -> %zu, want %zu", i, f[i], folded[i]);
	free(f);
	/* the directory on disk named exactly as "work" and "a/B" (2): they keep it,
	 * listed later or not; not selectable (0: \Noselect or excluded) owns none */
	const unsigned char held[] = { 1, 2, 0, 1, 1, 2, 1 };
	f = plan_first_of_dirs(rels, held, 7, 1);
	const size_t kept[] = { 1, 1, 3, 3, 5, 5, 1 };
	for (size_t i = 0; i < 7; i++)
		cr_expect_eq(f[i], kept[i], "held: folder %zu -> %zu, want %zu", i, f[i], kept[i]);
	free(f);
	const unsigned char none[] = { 0, 1, 0, 1, 1, 1, 0 };
	f = plan_first_of_dirs(rels, none, 7, 1);
	cr_expect_eq(f[0], 1, "an excluded Work owns the directory");
	free(f);
}

/* ---- properties over random views ------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s; /* xorshift64: deterministic, so a failure repeats */
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static unsigned rng_below(uint64_t *s, unsigned n)
{
	return (unsigned)(rng_next(s) % n);
}

struct dated_lf {
	struct lf f;
	long long date; /* -1: a name without mailkeep's form */
};

static int cmp_dated_uid(const void *a, const void *b)
{
	const struct dated_lf *x = a, *y = b;
	return (x->f.uid > y->f.uid) - (x->f.uid < y->f.uid);
}

/* Whatever the folder holds (copies, files in new/, odd names, another
 * UIDVALIDITY, files moved in from a folder with the same one, messages the
 * server no longer has) and whatever the server has, the plan applied leaves
 * exactly one file standing for each server message, in cur/ with the
 * server's flags and mailkeep's info, or fetches it; with deletions: mirror
 * nothing else is left, with keep only duplicates are removed. */
Test(plan_props, random_views_converge)
{
	uint64_t seed = 0x9e3779b97f4a7c15u;
	for (int iter = 0; iter < 20000; iter++) {
		struct lf l[16];
		long long date[16];
		struct plan_server_msg s[12];
		int64_t want[12];
		size_t nl = rng_below(&seed, 17), ns = 0;
		for (uint32_t uid = 1 + rng_below(&seed, 3); uid <= 24 && ns < 12; uid += 1 + rng_below(&seed, 3))
			if (rng_below(&seed, 4))
				s[ns++] = (struct plan_server_msg){ uid, (uint8_t)rng_below(&seed, MFLAG_ALL + 1) };
		struct dated_lf d[16];
		for (size_t i = 0; i < nl; i++) {
			unsigned kind = rng_below(&seed, 8);
			d[i].f = (struct lf){ .uid = 1 + rng_below(&seed, 26), .uv = kind == 0 ? UV + 1 : UV,
					      .flags = rng_below(&seed, MFLAG_ALL + 1), .in_new = kind == 1 };
			d[i].date = kind == 2 ? -1 : 1500000000 + (long long)rng_below(&seed, 3);
			if (d[i].date < 0)
				d[i].f.uv = 0;
		}
		qsort(d, nl, sizeof(d[0]), cmp_dated_uid); /* as a scan gives them */
		for (size_t i = 0; i < nl; i++) {
			l[i] = d[i].f;
			date[i] = d[i].date;
		}
		for (size_t i = 0; i < ns; i++)
			want[i] = rng_below(&seed, 3) ? 1500000000 + rng_below(&seed, 3) : STATE_NO_DATE;
		int with_dates = rng_below(&seed, 2);
		enum deletions_mode del = rng_below(&seed, 2) ? DELETIONS_MIRROR : DELETIONS_KEEP;
		struct maildir_view v;
		make_named_view(&v, l, date, nl);
		for (size_t i = 0; i < nl; i++)
			v.files[i].odd_info = rng_below(&seed, 6) == 0;
		struct plan p;
		plan_folder(&v, UV, s, with_dates ? want : NULL, ns, del, &p);

		int acted[16] = { 0 }, removed[16] = { 0 };
		uint8_t final_flags[16];
		size_t renames = 0, removes = 0;
		for (size_t i = 0; i < nl; i++)
			final_flags[i] = v.files[i].flags;
		for (size_t a = 0; a < p.n_actions; a++) {
			size_t k = p.actions[a].file;
			cr_assert_lt(k, nl, "iteration %d: action on file %zu of %zu", iter, k, nl);
			cr_assert(!acted[k], "iteration %d: two actions on file %zu", iter, k);
			acted[k] = 1;
			if (p.actions[a].op == PLAN_REMOVE) {
				removed[k] = 1;
				removes++;
			} else {
				final_flags[k] = p.actions[a].flags;
				renames++;
			}
		}
		cr_assert_eq(renames, p.n_renames, "iteration %d", iter);
		cr_assert_eq(removes, p.n_removes, "iteration %d", iter);
		for (size_t f = 1; f < p.n_fetch; f++)
			cr_assert_lt(p.fetch[f - 1], p.fetch[f], "iteration %d: fetch list not ascending", iter);
		size_t fi = 0;
		for (size_t j = 0; j < ns; j++) {
			int64_t w = with_dates ? want[j] : STATE_NO_DATE;
			size_t standing = 0;
			int fetched = fi < p.n_fetch && p.fetch[fi] == s[j].uid;
			fi += fetched;
			for (size_t k = 0; k < nl; k++) {
				if (v.files[k].uid != s[j].uid || removed[k] || !plan_file_stands(&v, k, UV, w))
					continue;
				standing++;
				int renamed = acted[k];
				cr_assert_eq(final_flags[k], s[j].flags, "iteration %d: uid %u kept with flags %u, "
					     "the server has %u", iter, s[j].uid, final_flags[k], s[j].flags);
				cr_assert(renamed || (!v.files[k].in_new && !v.files[k].odd_info),
					  "iteration %d: uid %u kept in new/ or with an odd name", iter, s[j].uid);
			}
			cr_assert_eq(standing + (size_t)fetched, 1, "iteration %d: uid %u: %zu files stand for it, "
				     "fetched %d", iter, s[j].uid, standing, fetched);
		}
		cr_assert_eq(fi, p.n_fetch, "iteration %d: a UID fetched that the server does not have", iter);
		for (size_t k = 0; k < nl; k++) {
			int of_server = 0;
			for (size_t j = 0; j < ns; j++)
				if (v.files[k].uid == s[j].uid &&
				    plan_file_stands(&v, k, UV, with_dates ? want[j] : STATE_NO_DATE))
					of_server = 1;
			if (del == DELETIONS_MIRROR)
				cr_assert(of_server || removed[k], "iteration %d: file %zu (uid %u) is no message "
					  "of the server and stays", iter, k, v.files[k].uid);
			if (del == DELETIONS_MIRROR || of_server || !acted[k])
				continue;
			/* deletions: keep: no message the server does not have is
			 * lost; a copy goes only when a file with its name's date
			 * (the same message) stays */
			cr_assert(removed[k] && v.files[k].uidvalidity != UV + 1,
				  "iteration %d: deletions keep, yet file %zu (uid %u) renamed", iter, k,
				  v.files[k].uid);
			int twin = 0;
			for (size_t m = 0; m < nl; m++)
				twin |= m != k && !removed[m] && v.files[m].uid == v.files[k].uid &&
					v.files[m].uidvalidity != UV + 1 && date[m] == date[k];
			cr_assert(twin, "iteration %d: deletions keep, yet file %zu (uid %u, date %lld) removed "
				  "without a copy of its date left", iter, k, v.files[k].uid, date[k]);
		}
		/* and of a UID the server no longer has, one file of each date stays */
		for (size_t k = 0; k < nl && del == DELETIONS_KEEP; k++) {
			int on_server = 0;
			for (size_t j = 0; j < ns; j++)
				on_server |= s[j].uid == v.files[k].uid;
			if (on_server || removed[k] || v.files[k].uidvalidity == UV + 1)
				continue;
			for (size_t m = k + 1; m < nl; m++)
				cr_assert(removed[m] || v.files[m].uid != v.files[k].uid || date[m] != date[k] ||
					  v.files[m].uidvalidity == UV + 1,
					  "iteration %d: uid %u: files %zu and %zu of one date both stay", iter,
					  v.files[k].uid, k, m);
		}
		plan_free(&p);
		maildir_view_free(&v);
	}
}

/* The merged view is the server's, whatever the state and however the server
 * words its answer: QRESYNC's VANISHED ranges unsorted, overlapping, repeated
 * and over UIDs it never had, changes reported for unchanged messages too, a
 * message both changed and expunged; CONDSTORE's UID SEARCH ranges. */
Test(plan_props, merged_view_is_the_servers)
{
	uint64_t seed = 0x2545f4914f6cdd1du;
	for (int iter = 0; iter < 20000; iter++) {
		struct state_msg known[24];
		struct plan_server_msg truth[40], changed[48];
		struct plan_range ranges[64];
		size_t nk = 0, nt = 0, nc = 0, nr = 0;
		int kind_present = rng_below(&seed, 2);
		/* UIDs 1..40: known to the state or not; on the server now or not */
		for (uint32_t uid = 1; uid <= 40; uid++) {
			int was = nk < 24 && rng_below(&seed, 2);
			int is = rng_below(&seed, 3) != 0;
			uint8_t kf = (uint8_t)rng_below(&seed, MFLAG_ALL + 1);
			uint8_t sf = rng_below(&seed, 2) ? kf : (uint8_t)rng_below(&seed, MFLAG_ALL + 1);
			if (was)
				known[nk++] = K(uid, kf);
			if (is && (was || rng_below(&seed, 2)))
				truth[nt++] = (struct plan_server_msg){ uid, sf };
			int report = is && (!was || sf != kf || rng_below(&seed, 4) == 0);
			if (report)
				changed[nc++] = (struct plan_server_msg){ uid, sf };
			else if (!is && !kind_present && rng_below(&seed, 4) == 0)
				changed[nc++] = (struct plan_server_msg){ uid, sf }; /* changed, then expunged */
		}
		if (kind_present) {
			/* UID SEARCH ALL: the server's UIDs, as ranges over runs of them */
			for (size_t t = 0; t < nt;) {
				size_t e = t + 1;
				while (e < nt && truth[e].uid == truth[e - 1].uid + 1)
					e++;
				ranges[nr++] = (struct plan_range){ truth[t].uid, truth[e - 1].uid };
				t = e;
			}
		} else {
			/* VANISHED: every UID the server does not have may be named, and
			 * every expunged known UID is, in ranges of any shape */
			for (uint32_t uid = 1; uid <= 40 && nr < 60; uid++) {
				int has = 0;
				for (size_t t = 0; t < nt; t++)
					has |= truth[t].uid == uid;
				int was = 0;
				for (size_t k = 0; k < nk; k++)
					was |= known[k].uid == uid;
				int in_changed = 0;
				for (size_t c = 0; c < nc; c++)
					in_changed |= changed[c].uid == uid;
				if (has || (!was && !in_changed && rng_below(&seed, 2)))
					continue;
				uint32_t hi = uid;
				while (hi < 40 && rng_below(&seed, 2)) {
					int next_has = 0;
					for (size_t t = 0; t < nt; t++)
						next_has |= truth[t].uid == hi + 1;
					if (next_has)
						break;
					hi++;
				}
				ranges[nr++] = (struct plan_range){ uid, hi };
				if (rng_below(&seed, 5) == 0 && nr < 64)
					ranges[nr++] = (struct plan_range){ uid, uid }; /* said twice */
			}
			for (size_t r = 0; r + 1 < nr; r++) /* not in order */
				if (rng_below(&seed, 3) == 0) {
					struct plan_range tmp = ranges[r];
					ranges[r] = ranges[r + 1];
					ranges[r + 1] = tmp;
				}
		}
		struct plan_merged *m;
		size_t n = plan_merge_changes(known, nk, changed, nc, ranges, nr,
					      kind_present ? PLAN_RANGES_PRESENT : PLAN_RANGES_VANISHED, &m);
		cr_assert_eq(n, nt, "iteration %d: %zu messages merged, the server has %zu", iter, n, nt);
		for (size_t t = 0; t < nt; t++) {
			cr_assert_eq(m[t].uid, truth[t].uid, "iteration %d: message %zu", iter, t);
			cr_assert_eq(m[t].flags, truth[t].flags, "iteration %d: uid %u flags", iter, truth[t].uid);
		}
		free(m);
	}
}

/* A reader's name too long to take the info a rename needs (NAME_MAX): its
 * rename failed the folder on every run, no new mail mirrored. It is a copy:
 * removed, the message fetched (or kept in another file). */
Test(plan, name_too_long_to_rename_is_a_copy)
{
	struct maildir_view v;
	char name[300];
	memset(&v, 0, sizeof(v));
	memset(name, 'x', 251);
	strcpy(name + 251, ",U=9"); /* 255 bytes, no info: needs ":2,S" */
	maildir_view_add(&v, name, 9, 0, 0, 1);
	v.files[0].odd_info = 1;
	struct plan_server_msg s[] = { { 9, MFLAG_SEEN } };
	struct plan p;
	plan_folder(&v, UV, s, NULL, 1, DELETIONS_KEEP, &p);
	cr_assert_eq(p.n_fetch, 1);
	cr_assert_eq(p.n_actions, 1);
	cr_assert_eq(p.actions[0].op, PLAN_REMOVE);
	plan_free(&p);
	/* in cur/ with the server's flags it needs no rename: kept as it is */
	v.files[0].in_new = 0;
	v.files[0].odd_info = 0;
	v.files[0].flags = MFLAG_SEEN;
	plan_folder(&v, UV, s, NULL, 1, DELETIONS_MIRROR, &p);
	cr_assert_eq(p.n_fetch, 0);
	cr_assert_eq(p.n_actions, 0);
	plan_free(&p);
	maildir_view_free(&v);
}
