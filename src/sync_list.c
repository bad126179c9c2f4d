/* Sync runner, per account: the folder list. Each listed folder's directory,
 * which folders are mirrored, their STATUS (from LIST-STATUS or one pipelined
 * round) and order, the mirror as read while the server answers LIST, which
 * folders are provably unchanged (no EXAMINE), and the folders the server no
 * longer has. The rest of the account is in sync.c. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailkeep/buf.h"
#include "mailkeep/config.h"
#include "mailkeep/imap.h"
#include "mailkeep/log.h"
#include "mailkeep/maildir.h"
#include "mailkeep/plan.h"
#include "mailkeep/state.h"

#include "sync_account.h"

/* Does any selected folder have a state file? */
static int have_state(const struct account_run *a, const struct strlist *rels, const size_t *sel, size_t n)
{
	struct buf p = BUF_INIT;
	int found = 0;
	for (size_t k = 0; k < n && !found; k++) {
		buf_reset(&p);
		buf_addf(&p, "%s/%s/%s", a->dir, rels->items[sel[k]], STATE_FILE);
		found = access(p.data, F_OK) == 0;
	}
	buf_free(&p);
	return found;
}

static void local_add(void *ctx, const char *dir, const char *rel)
{
	struct local_view *v = ctx;
	char err[256];
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 64;
		v->f = xrealloc(v->f, v->cap * sizeof(*v->f));
	}
	struct local_folder *f = &v->f[v->n++];
	memset(f, 0, sizeof(*f));
	f->rel = xstrdup(rel);
	f->dir = xstrdup(dir);
	f->rc = state_load_header(dir, &f->hdr, err, sizeof(err));
	if (f->rc == 0) {
		maildir_dir_mtimes(dir, &f->cur_ns, &f->new_ns);
		f->has_tmp = maildir_has_tmp(dir);
	}
}

static int cmp_local(const void *x, const void *y)
{
	return strcmp(((const struct local_folder *)x)->rel, ((const struct local_folder *)y)->rel);
}

void sync_local_read(void *ctx)
{
	struct local_read_ctx *c = ctx;
	maildir_walk(c->dir, local_add, c->v);
	if (c->v->n > 1)
		qsort(c->v->f, c->v->n, sizeof(*c->v->f), cmp_local);
}

static const struct local_folder *local_find(const struct local_view *v, const char *rel)
{
	struct local_folder key = { .rel = (char *)rel };
	return v->n ? bsearch(&key, v->f, v->n, sizeof(*v->f), cmp_local) : NULL;
}

void sync_local_free(struct local_view *v)
{
	for (size_t i = 0; i < v->n; i++) {
		free(v->f[i].rel);
		free(v->f[i].dir);
		state_free(&v->f[i].hdr);
	}
	free(v->f);
	memset(v, 0, sizeof(*v));
}

/* A directory of a folder that a killed run began to mirror (its first state
 * still .mailkeep-state.tmp, no cur/, new/ or tmp/ yet: sync_folder makes them
 * after the state) and that the server no longer has: removed, so that no
 * stray file stays in the mirror. Only when it is empty once that file is
 * gone: a directory with anything else in it is left alone. */
static void drop_unfinished(const char *dir)
{
	static const char *const subs[] = { "cur", "new", "tmp" };
	struct buf p = BUF_INIT;
	struct stat sb;
	for (size_t i = 0; i < 3; i++) {
		buf_reset(&p);
		buf_addf(&p, "%s/%s", dir, subs[i]);
		if (lstat(p.data, &sb) == 0 || errno != ENOENT)
			goto out;
	}
	buf_reset(&p);
	buf_addf(&p, "%s/%s.tmp", dir, STATE_FILE);
	if (unlink(p.data) < 0)
		goto out;
	if (rmdir(dir) == 0)
		log_info("%s: removed (an unfinished first copy of a folder the server no longer has)", dir);
out:
	buf_free(&p);
}

/* A folder present locally (a state file) but no longer on the server: warn
 * once (the state remembers), keep the local copy; -v names it on every run. */
void sync_check_orphan(struct account_run *a, const struct strlist *server_rels, const struct local_folder *lf)
{
	const char *dir = lf->dir, *rel = lf->rel;
	struct folder_state st;
	char err[256];
	for (size_t i = 0; i < server_rels->n; i++)
		if (!strcmp(server_rels->items[i], rel))
			return;
	if (lf->rc == 1) { /* no state: not a folder mailkeep mirrored */
		drop_unfinished(dir);
		return;
	}
	if (state_load(dir, &st, err, sizeof(err)) != 0)
		return;
	if (!st.orphaned) {
		log_warn("account %s: folder %s no longer exists on the server; local copy kept",
			 a->acct->name, rel);
		st.orphaned = 1;
		if (state_save(dir, &st, err, sizeof(err)) < 0)
			log_warn("%s", err);
	} else {
		log_info("account %s: folder %s: gone from the server (warned before); local copy kept",
			 a->acct->name, rel);
	}
	state_free(&st);
}

/* Only on lists grown here from empty: doubling, the array is full when n is 0
 * or a power of two (one item per listed folder: a realloc each was
 * quadratic under allocators that copy, ASan's). */
static void strlist_push(struct strlist *l, char *s)
{
	if (!(l->n & (l->n - 1)))
		l->items = xrealloc(l->items, (l->n ? 2 * l->n : 1) * sizeof(*l->items));
	l->items[l->n++] = s;
}

void sync_strlist_clear(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

/* Whether the directory rel below base exists with exactly that name, every
 * level compared byte for byte (on a file system that ignores case, "Foo"
 * opens "foo/" too: the listing says which one is there). */
static int named_exactly(const char *base, const char *rel)
{
	struct buf dir = BUF_INIT;
	int found = 1;
	buf_adds(&dir, base);
	for (const char *s = rel; found && *s;) {
		size_t len = strcspn(s, "/");
		DIR *d = opendir(dir.data);
		struct dirent *de;
		found = 0;
		while (d && !found && (de = readdir(d)) != NULL)
			found = strlen(de->d_name) == len && !memcmp(de->d_name, s, len);
		if (d)
			closedir(d);
		buf_addch(&dir, '/');
		buf_add(&dir, s, len);
		s += len + (s[len] == '/');
	}
	buf_free(&dir);
	return found;
}

/* For each listed folder, the one of the folders to mirror that owns its
 * directory (plan_first_of_dirs): an excluded folder owns none; on a file
 * system that ignores case, the one mirrored there so far keeps it. */
static size_t *first_of_dirs(const struct account_run *a, const struct imap_mailbox_list *list,
			     const struct strlist *rels, int fold)
{
	unsigned char *selectable = xmalloc(list->n + 1);
	for (size_t i = 0; i < list->n; i++) {
		const struct imap_mailbox *mb = &list->items[i];
		selectable[i] = !(mb->flags & IMAP_MBOX_NOSELECT) && mb->utf8 && rels->items[i][0] &&
				config_folder_selected_mb(a->acct, mb->utf8, mb->delim);
		if (selectable[i] && fold && named_exactly(a->dir, rels->items[i]))
			selectable[i] = 2;
	}
	size_t *first = plan_first_of_dirs((const char *const *)rels->items, selectable, list->n, fold);
	free(selectable);
	return first;
}

/* Does the file system of dir treat names without regard to case (vfat, exFAT,
 * an ext4 directory with casefold, macOS)? Then "Work" and "work" are one
 * directory. Seen from the account's .mailkeep directory, which exists. */
static int fs_folds_case(const char *dir)
{
	struct buf p = BUF_INIT, q = BUF_INIT;
	struct stat a, b;
	buf_addf(&p, "%s/.mailkeep", dir);
	buf_addf(&q, "%s/.MAILKEEP", dir);
	int fold = stat(p.data, &a) == 0 && stat(q.data, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
	buf_free(&p);
	buf_free(&q);
	return fold;
}

struct sel_status {
	size_t sel;
	struct imap_status_info st;
	size_t order;
};

static int cmp_sel_status(const void *x, const void *y)
{
	const struct sel_status *a = x, *b = y;
	if (a->st.messages != b->st.messages)
		return a->st.messages > b->st.messages ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

/* Every listed folder's directory in the mirror, "" for one that has none, for
 * orphan detection and collisions. */
void sync_folder_paths(const struct imap_mailbox_list *list, struct strlist *rels)
{
	struct buf rel = BUF_INIT;
	for (size_t i = 0; i < list->n; i++) {
		const struct imap_mailbox *mb = &list->items[i];
		/* a \Noselect name holds no mail: its old copy is an orphan */
		if (!mb->utf8 || (mb->flags & IMAP_MBOX_NOSELECT) ||
		    maildir_folder_path(mb->utf8, mb->delim, &rel) < 0)
			strlist_push(rels, xstrdup(""));
		else
			strlist_push(rels, xstrdup(rel.data));
	}
	buf_free(&rel);
}

/* Which listed folders to mirror, in sel[] (indexes into the list); counts the
 * excluded ones and fails those that cannot be mirrored. Returns how many. */
size_t sync_select_folders(struct account_run *a, const struct imap_mailbox_list *list,
			   const struct strlist *rels, size_t *sel, struct sync_result *res)
{
	const struct account *acct = a->acct;
	size_t n_sel = 0;
	int fold = fs_folds_case(a->dir);
	size_t *first_dir = first_of_dirs(a, list, rels, fold);
	for (size_t i = 0; i < list->n; i++) {
		const struct imap_mailbox *mb = &list->items[i];
		char safe[200];
		if (mb->flags & IMAP_MBOX_NOSELECT)
			continue;
		if (!mb->utf8) {
			snprintf(safe, sizeof(safe), "%.150s", mb->name);
			for (char *s = safe; *s; s++)
				if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
					*s = '?'; /* 8-bit too: a raw 0x9b is a CSI to some terminals */
			log_error("account %s: folder \"%s\": name is not valid modified UTF-7; skipped",
				  acct->name, safe);
			res->counts.folders_failed++;
			continue;
		}
		if (!config_folder_selected_mb(acct, mb->utf8, mb->delim)) {
			res->counts.folders_skipped++;
			continue;
		}
		if (!rels->items[i][0]) {
			log_error("account %s: folder \"%s\": name cannot be mapped to a directory; skipped",
				  acct->name, mb->utf8);
			res->counts.folders_failed++;
			continue;
		}
		if (first_dir[i] != i) {
			log_error("account %s: folder \"%s\" maps to the same directory as folder \"%s\"%s; "
				  "skipped", acct->name, mb->utf8,
				  first_dir[i] != SIZE_MAX && list->items[first_dir[i]].utf8 ?
				  list->items[first_dir[i]].utf8 : "?",
				  fold ? " (this file system ignores case)" : "");
			res->counts.folders_failed++;
			continue;
		}
		sel[n_sel++] = i;
	}
	free(first_dir);
	return n_sel;
}

/* The folders' STATUS values, for skipping unchanged ones without EXAMINE:
 * from LIST-STATUS, else from one pipelined round of STATUS, only worth it with
 * CONDSTORE and a state to compare with; NULL when there are none (every folder
 * is examined). */
struct imap_status_info *sync_folder_statuses(struct account_run *a, const struct imap_mailbox_list *list,
					      const struct strlist *rels, const size_t *sel, size_t n_sel)
{
	struct imap_status_info *status = NULL;
	char err[1024];
	if (list->with_status) { /* LIST-STATUS brought them with the folder list */
		status = xcalloc(n_sel + 1, sizeof(*status));
		for (size_t k = 0; k < n_sel; k++)
			status[k] = list->items[sel[k]].status;
	} else if (have_state(a, rels, sel, n_sel) && (imap_caps(a->imap) & IMAP_CAP_CONDSTORE)) {
		const char **names = xcalloc(n_sel + 1, sizeof(*names));
		for (size_t k = 0; k < n_sel; k++)
			names[k] = list->items[sel[k]].name;
		status = xcalloc(n_sel + 1, sizeof(*status));
		if (imap_status_many(a->imap, names, n_sel, status, err, sizeof(err)) < 0) {
			log_warn("account %s: STATUS failed (%s); examining every folder", a->acct->name, err);
			free(status);
			status = NULL;
			sync_drop_connection(a);
		}
		free(names);
	}
	return status;
}

/* The order the folders are synced in; returns 1 when the first one must be
 * synced alone (Gmail's All Mail). */
int sync_order_folders(const struct imap_mailbox_list *list, size_t *sel, struct imap_status_info *status,
		       size_t n_sel, int gmail)
{
	/* Largest folders first: the connections then finish together instead of one
	 * of them taking INBOX last while the other waits (longest job first). */
	if (status && n_sel > 1) {
		struct sel_status *ss = xcalloc(n_sel, sizeof(*ss));
		for (size_t k = 0; k < n_sel; k++)
			ss[k] = (struct sel_status){ sel[k], status[k], k };
		qsort(ss, n_sel, sizeof(*ss), cmp_sel_status);
		for (size_t k = 0; k < n_sel; k++) {
			sel[k] = ss[k].sel;
			status[k] = ss[k].st;
		}
		free(ss);
	}
	/* Gmail dedupe: [Gmail]/All Mail (\\All) first, alone, so that the label
	 * folders become links to its files instead of downloads of their own. */
	int all_first = 0;
	for (size_t k = 0; gmail && k < n_sel && !all_first; k++) {
		if (!(list->items[sel[k]].special & IMAP_SPECIAL_ALL))
			continue;
		size_t keep = sel[k];
		memmove(sel + 1, sel, k * sizeof(*sel));
		sel[0] = keep;
		if (status) {
			struct imap_status_info st0 = status[k];
			memmove(status + 1, status, k * sizeof(*status));
			status[0] = st0;
		}
		all_first = 1;
	}
	return all_first;
}

/* Does the folder surely need writing (new, no readable state header, new or
 * vanished mail, other flags, a reader's change)? Without HIGHESTMODSEQ a flag
 * change cannot be seen from here: not counted. */
static int surely_writes(const struct local_folder *lf, const struct imap_status_info *st)
{
	if (!lf || lf->rc != 0 || !st || !st->ok)
		return 1;
	const struct folder_state *h = &lf->hdr;
	return st->uidvalidity != h->uidvalidity || st->uidnext != h->uidnext ||
	       st->messages != (uint64_t)(h->declared > 0 ? h->declared : 0) ||
	       (st->highestmodseq && h->highestmodseq && st->highestmodseq != h->highestmodseq) ||
	       lf->cur_ns != h->cur_mtime_ns || lf->new_ns != h->new_mtime_ns;
}

/* Mark the selected folders that are provably unchanged (their state's header
 * and directory times, read during LIST, against STATUS); return how many
 * others need the server, and in *writes whether the run surely writes. */
size_t sync_folders_to_examine(struct folder_queue *q, const struct local_view *local,
			       enum deletions_mode deletions, int *writes)
{
	size_t n = 0;
	*writes = 0;
	q->skip = xcalloc(q->n_sel + 1, 1);
	for (size_t k = 0; k < q->n_sel; k++) {
		const struct imap_mailbox *mb = &q->list->items[q->sel[k]];
		const struct local_folder *lf = local_find(local, q->rels->items[q->sel[k]]);
		const struct imap_status_info *st = q->status ? &q->status[k] : NULL;
		q->skip[k] = lf && lf->rc == 0 && lf->has_tmp && lf->hdr.special == mb->special && st &&
			     lf->hdr.folder_id && state_is_of(&lf->hdr, q->rels->items[q->sel[k]]) &&
			     sync_state_unchanged(&lf->hdr, st, lf->cur_ns, lf->new_ns, deletions);
		n += !q->skip[k];
		if (!q->skip[k] && !*writes)
			*writes = surely_writes(lf, st);
	}
	return n;
}

