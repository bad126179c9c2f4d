/* Sync planner: pure merge of the local view with the server view. */
#include "mailkeep/plan.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailkeep/buf.h"

static void add_action(struct plan *p, size_t *cap, enum plan_op op, size_t file, uint8_t flags)
{
	if (p->n_actions == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		p->actions = xrealloc(p->actions, *cap * sizeof(*p->actions));
	}
	p->actions[p->n_actions++] = (struct plan_action){ .op = op, .file = file, .flags = flags };
	if (op == PLAN_RENAME)
		p->n_renames++;
	else
		p->n_removes++;
}

static void add_fetch(struct plan *p, size_t *cap, uint32_t uid)
{
	if (p->n_fetch == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		p->fetch = xrealloc(p->fetch, *cap * sizeof(*p->fetch));
	}
	p->fetch[p->n_fetch++] = uid;
}

/* Which of several files of one uid to keep: one in cur/, then one with
 * mailkeep's name (its uidvalidity in it), then one with the server's flags
 * (and nothing else) in its info.
 * So the kept file's new name is never the name of a copy removed after it
 * (a reader's copy "X:2,S" of "X:2,RS", both kept in turn, lost the message). */
static unsigned keep_rank(const struct maildir_file *f, unsigned want)
{
	return (unsigned)!f->in_new << 2 | (unsigned)(f->uidvalidity != 0) << 1 |
	       (unsigned)(f->flags == want && !f->odd_info);
}

/* Whether the mailkeep name of local file K ("<date>.<uidvalidity>_<uid>.mailkeep,U=...")
 * starts with another date than WANT (STATE_NO_DATE: not known, never another). */
static int other_date(const struct maildir_view *local, size_t k, int64_t want)
{
	const struct maildir_file *f = &local->files[k];
	int64_t d;
	if (want == STATE_NO_DATE || !f->uidvalidity)
		return 0;
	return maildir_name_leading_date(maildir_view_name(local, f), &d) < 0 || d != want;
}

/* Whether local files A and B are one message by their names: both mailkeep
 * names starting with the same date, or both without a date to tell (neither
 * a mailkeep name with one). */
static int same_date(const struct maildir_view *local, size_t a, size_t b)
{
	int64_t da = 0, db = 0;
	int ha = local->files[a].uidvalidity &&
		 maildir_name_leading_date(maildir_view_name(local, &local->files[a]), &da) == 0;
	int hb = local->files[b].uidvalidity &&
		 maildir_name_leading_date(maildir_view_name(local, &local->files[b]), &db) == 0;
	return ha == hb && da == db;
}

/* Whether local file K, kept for a server message with flags WANT, can get the
 * name it would be renamed to: a reader's name near the longest a directory
 * holds cannot take the info (":2,<flags>") it needs, and its rename failed
 * the folder on every run. Such a file is a copy, removed; the message stands
 * in another file or is fetched. */
static int renamable(const struct maildir_view *local, size_t k, unsigned want)
{
	const struct maildir_file *f = &local->files[k];
	if (!f->in_new && f->flags == want && !f->odd_info)
		return 1;
	return maildir_renamed_len(maildir_view_name(local, f), want) <= MAILDIR_NAME_MAX;
}

int plan_file_stands(const struct maildir_view *local, size_t k, uint32_t uidvalidity, int64_t want_date)
{
	const struct maildir_file *f = &local->files[k];
	return (!f->uidvalidity || f->uidvalidity == uidvalidity) && !other_date(local, k, want_date);
}

/* Files of another UIDVALIDITY never stand for a server message: counted
 * stale in OUT, and removed when MIRROR (ACAP: the capacity of its actions). */
static void plan_other_uidvalidity(const struct maildir_view *local, uint32_t uidvalidity, int mirror,
				   struct plan *out, size_t *acap)
{
	for (size_t k = 0; k < local->n; k++) {
		const struct maildir_file *f = &local->files[k];
		if (f->uidvalidity && f->uidvalidity != uidvalidity) {
			out->n_stale++;
			if (mirror)
				add_action(out, acap, PLAN_REMOVE, k, 0);
		}
	}
}

int plan_folder(const struct maildir_view *local, uint32_t uidvalidity,
		const struct plan_server_msg *server, const int64_t *dates, size_t n_server,
		enum deletions_mode deletions, struct plan *out)
{
	size_t acap = 0, fcap = 0;
	size_t i = 0, j = 0;
	int mirror = deletions == DELETIONS_MIRROR;

	memset(out, 0, sizeof(*out));
	plan_other_uidvalidity(local, uidvalidity, mirror, out, &acap);
#define VALID(k) (!local->files[k].uidvalidity || local->files[k].uidvalidity == uidvalidity)
	while (i < local->n && !VALID(i))
		i++;
	while (i < local->n || j < n_server) {
		uint32_t luid = i < local->n ? local->files[i].uid : 0;
		if (j < n_server && (i >= local->n || server[j].uid < luid)) {
			add_fetch(out, &fcap, server[j].uid);
			j++;
			continue;
		}
		/* local->files[i] is the first valid copy of luid, [i, end) its files */
		size_t end = i + 1, keep;
		while (end < local->n && local->files[end].uid == luid)
			end++;
		keep = end; /* none yet */
		int on_server = j < n_server && server[j].uid == luid;
		unsigned want = on_server ? server[j].flags : 0;
		int64_t want_date = on_server && dates ? dates[j] : STATE_NO_DATE;
		/* a file with another date in its name is another message's, under
		 * this UID: never kept for it (the mirror would hold other bytes) */
		uint8_t other[8] = { 0 }, *o = end - i <= sizeof(other) ? other : xcalloc(end - i, 1);
		for (size_t k = i; k < end; k++) {
			if (!VALID(k))
				continue;
			if ((o[k - i] = (uint8_t)other_date(local, k, want_date))) {
				out->n_stale++;
				if (mirror)
					add_action(out, &acap, PLAN_REMOVE, k, 0);
			} else if (on_server && !renamable(local, k, want)) {
				o[k - i] = 2; /* a copy that cannot be named: removed */
				out->n_duplicates++;
				add_action(out, &acap, PLAN_REMOVE, k, 0);
			} else if (keep == end || keep_rank(&local->files[k], want) > keep_rank(&local->files[keep], want)) {
				keep = k;
			}
		}
		if (keep == end) {
			if (on_server) {
				add_fetch(out, &fcap, luid);
				j++;
			}
		} else {
			const struct maildir_file *f = &local->files[keep];
			if (on_server) {
				/* a name with other info (":2,Sa", ":1,", none) is named anew */
				if (f->in_new || f->flags != want || f->odd_info)
					add_action(out, &acap, PLAN_RENAME, keep, (uint8_t)want);
				j++;
			} else if (mirror) {
				add_action(out, &acap, PLAN_REMOVE, keep, 0);
			} else {
				out->n_kept++;
			}
			/* the other valid copies of the same uid are duplicates; of
			 * a UID the server no longer has, kept (deletions: keep), only
			 * the copies of a file that stays: one named with another
			 * date is another message's (moved in by hand from a folder
			 * with the same UIDVALIDITY), which stays too, with the
			 * first of its own date */
			for (size_t k = i; k < end; k++) {
				if (k == keep || !VALID(k) || o[k - i])
					continue;
				if (!on_server && !mirror && !same_date(local, k, keep)) {
					int copy = 0;
					for (size_t m = i; m < k && !copy; m++)
						copy = m != keep && VALID(m) && same_date(local, m, k);
					if (!copy) {
						out->n_stale++;
						continue;
					}
				}
				out->n_duplicates++;
				add_action(out, &acap, PLAN_REMOVE, k, 0);
			}
		}
		if (o != other)
			free(o);
		i = end;
		while (i < local->n && !VALID(i))
			i++;
	}
#undef VALID
	return 0;
}

void plan_free(struct plan *p)
{
	free(p->actions);
	free(p->fetch);
	memset(p, 0, sizeof(*p));
}

static int cmp_range(const void *a, const void *b)
{
	const struct plan_range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Is uid in one of the sorted disjoint ranges? *pos is a cursor for ascending queries. */
static int in_ranges(const struct plan_range *r, size_t n, size_t *pos, uint32_t uid)
{
	while (*pos < n && r[*pos].hi < uid)
		(*pos)++;
	return *pos < n && r[*pos].lo <= uid;
}

size_t plan_ranges_merge(struct plan_range *ranges, size_t n_ranges)
{
	size_t w = 0;
	if (n_ranges < 2)
		return n_ranges;
	/* sort and merge overlapping ranges into a disjoint list */
	qsort(ranges, n_ranges, sizeof(*ranges), cmp_range);
	for (size_t k = 1; k < n_ranges; k++) {
		if (ranges[k].lo <= ranges[w].hi) {
			if (ranges[k].hi > ranges[w].hi)
				ranges[w].hi = ranges[k].hi;
		} else {
			ranges[++w] = ranges[k];
		}
	}
	return w + 1;
}

size_t plan_ranges_keep_known(struct plan_range *ranges, size_t n_ranges, const struct state_msg *known,
			      size_t n_known)
{
	size_t w = 0, i = 0;
	for (size_t k = 0; k < n_ranges; k++) {
		while (i < n_known && known[i].uid < ranges[k].lo)
			i++;
		if (i < n_known && known[i].uid <= ranges[k].hi)
			ranges[w++] = ranges[k];
	}
	return w;
}

size_t plan_merge_changes(const struct state_msg *known, size_t n_known,
			  const struct plan_server_msg *changed, size_t n_changed,
			  struct plan_range *ranges, size_t n_ranges, enum plan_ranges_kind kind,
			  struct plan_merged **out)
{
	size_t i = 0, j = 0, o = 0, pos = 0;
	struct plan_merged *m = xmalloc((n_known + n_changed + 1) * sizeof(*m));
	n_ranges = plan_ranges_merge(ranges, n_ranges);
	while (i < n_known || j < n_changed) {
		/* no sentinel value: 4294967295 is a valid UID */
		int has_k = i < n_known, has_c = j < n_changed;
		uint32_t ku = has_k ? known[i].uid : 0, cu = has_c ? changed[j].uid : 0;
		uint32_t uid = !has_c ? ku : !has_k ? cu : ku < cu ? ku : cu;
		int listed = in_ranges(ranges, n_ranges, &pos, uid);
		int exists = kind == PLAN_RANGES_VANISHED ? !listed : listed;
		if (has_c && cu == uid) {
			if (exists)
				m[o++] = (struct plan_merged){ uid, changed[j].flags, (long)j, 0 };
			j++;
			if (has_k && ku == uid)
				i++;
			continue;
		}
		if (exists)
			m[o++] = (struct plan_merged){ uid, known[i].flags, -1, i };
		i++;
	}
	*out = m;
	return o;
}

/* ---- folders sharing one directory ---- */

struct rel_index {
	const char *rel;
	size_t i;
};

static int cmp_rel(const void *x, const void *y)
{
	const struct rel_index *a = x, *b = y;
	int c = strcmp(a->rel, b->rel);
	return c ? c : a->i < b->i ? -1 : a->i > b->i;
}

static int cmp_rel_fold(const void *x, const void *y)
{
	const struct rel_index *a = x, *b = y;
	int c = strcasecmp(a->rel, b->rel);
	return c ? c : a->i < b->i ? -1 : a->i > b->i;
}

size_t *plan_first_of_dirs(const char *const *rels, const unsigned char *selectable, size_t n, int fold)
{
	struct rel_index *ri = xmalloc((n + 1) * sizeof(*ri));
	size_t *first = xmalloc((n + 1) * sizeof(*first));
	for (size_t i = 0; i < n; i++)
		ri[i] = (struct rel_index){ rels[i], i };
	qsort(ri, n, sizeof(*ri), fold ? cmp_rel_fold : cmp_rel);
	for (size_t a = 0, b; a < n; a = b) {
		size_t owner = SIZE_MAX, held = SIZE_MAX;
		for (b = a; b < n && !(fold ? strcasecmp(ri[b].rel, ri[a].rel) : strcmp(ri[b].rel, ri[a].rel)); b++) {
			if (owner == SIZE_MAX && selectable[ri[b].i])
				owner = ri[b].i;
			if (held == SIZE_MAX && selectable[ri[b].i] == 2)
				held = ri[b].i;
		}
		if (held != SIZE_MAX)
			owner = held;
		for (size_t k = a; k < b; k++)
			first[ri[k].i] = owner;
	}
	free(ri);
	return first;
}
