/* Git snapshots: one folder's cur/ or new/ compared by name with its tree in
 * the parent commit (renamed files reuse their blob, only new files are
 * hashed), and folders gone from disk dropped from the tree. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <git2.h>

#include "git2_dl.h"
#include "mailkeep/buf.h"
#include "mailkeep/log.h"
#include "snapshot_internal.h"

static void add_update(struct snap_run *r, git_tree_update_t action, const git_oid *id, const char *path,
		       git_filemode_t mode)
{
	if (r->n_updates == r->cap_updates) {
		r->cap_updates = r->cap_updates ? r->cap_updates * 2 : 256;
		r->updates = xrealloc(r->updates, r->cap_updates * sizeof(*r->updates));
		r->path_offs = xrealloc(r->path_offs, r->cap_updates * sizeof(*r->path_offs));
	}
	git_tree_update *u = &r->updates[r->n_updates];
	memset(u, 0, sizeof(*u));
	u->action = action;
	if (id)
		git_oid_cpy(&u->id, id);
	u->filemode = mode;
	r->path_offs[r->n_updates] = r->paths.len;
	buf_add(&r->paths, path, strlen(path) + 1);
	r->n_updates++;
}

/* ---- comparing one directory with the tree ---- */

struct old_entry {
	const char *name;
	size_t base_len;
	git_oid id;
	int used;               /* 1 kept as is, 2 renamed */
	char *renamed_to;       /* used == 2: the file that took its blob */
};

static size_t base_len(const char *name)
{
	const char *info = strstr(name, ":2,");
	const char *last = info;
	while (info) {
		last = info;
		info = strstr(info + 1, ":2,");
	}
	return last ? (size_t)(last - name) : strlen(name);
}

static int cmp_old(const void *a, const void *b)
{
	const struct old_entry *x = a, *y = b;
	size_t n = x->base_len < y->base_len ? x->base_len : y->base_len;
	int c = memcmp(x->name, y->name, n);
	if (c)
		return c;
	return x->base_len < y->base_len ? -1 : x->base_len > y->base_len;
}

/* The index of the first entry of NAME's base name (blen long) in sorted
 * OLD[0..n): n, or one of another base, when there is none. */
static size_t base_start(const struct old_entry *old, size_t n, const char *name, size_t blen)
{
	struct old_entry key = { .name = name, .base_len = blen };
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cmp_old(&old[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The first unused entry of NAME's base name; NULL if none. */
static struct old_entry *find_old(struct old_entry *old, size_t n, const char *name, size_t blen)
{
	struct old_entry key = { .name = name, .base_len = blen };
	for (size_t i = base_start(old, n, name, blen); i < n && !cmp_old(&old[i], &key); i++)
		if (!old[i].used)
			return &old[i];
	return NULL;
}

/* The message entries of a tree (not the .mailkeep-keep placeholders), sorted
 * by base name (cmp_old); they point into the tree. */
static struct old_entry *old_entries(const git_tree *tree, size_t *n_old)
{
	size_t cnt = git_tree_entrycount(tree);
	struct old_entry *old = xcalloc(cnt ? cnt : 1, sizeof(*old));
	*n_old = 0;
	for (size_t i = 0; i < cnt; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(e);
		if (name[0] == '.')
			continue;
		old[*n_old].name = name;
		old[*n_old].base_len = base_len(name);
		git_oid_cpy(&old[*n_old].id, git_tree_entry_id(e));
		(*n_old)++;
	}
	qsort(old, *n_old, sizeof(*old), cmp_old);
	return old;
}

/* The old entry of the file NAME: the same message (base name), under the same
 * name when several entries share the base; NULL for a message new to the tree. */
static struct old_entry *match_old(struct old_entry *old, size_t n_old, const char *name)
{
	struct old_entry *o = find_old(old, n_old, name, base_len(name));
	if (o && strcmp(o->name, name)) {
		for (struct old_entry *q = o; q < old + n_old && !cmp_old(q, o); q++)
			if (!q->used && !strcmp(q->name, name))
				return q;
	}
	return o;
}

/* The old entry named exactly NAME, used or not; NULL if none. */
static struct old_entry *exact_old(struct old_entry *old, size_t n_old, const char *name)
{
	struct old_entry key = { .name = name, .base_len = base_len(name) };
	for (size_t i = base_start(old, n_old, name, key.base_len); i < n_old && !cmp_old(&old[i], &key); i++)
		if (!strcmp(old[i].name, name))
			return &old[i];
	return NULL;
}

static void old_free(struct old_entry *old, size_t n_old)
{
	for (size_t i = 0; i < n_old; i++)
		free(old[i].renamed_to);
	free(old);
}

/* A regular file's name of an open directory (not "." names, which
 * .mailkeep-keep is); NULL at the end. */
static const char *next_file(DIR *d)
{
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && (de->d_type == DT_REG || de->d_type == DT_UNKNOWN))
			return de->d_name;
	return NULL;
}

/* The names of the files of directory PATH, NUL-separated, in readdir order:
 * 0, also with none when it does not exist or is not a directory (a folder
 * without new/, one removed meanwhile); -1 with errno when it cannot be read. One that could
 * not be read was taken for empty: its messages left the commit, counted as
 * removed, while they were still in the mirror. */
static int list_dir(const char *path, struct buf *out)
{
	DIR *d = opendir(path);
	const char *name;
	int rc = 0, e;
	buf_reset(out);
	if (!d)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	for (;;) {
		errno = 0;
		if (!(name = next_file(d)))
			break;
		buf_add(out, name, strlen(name) + 1);
	}
	e = errno;
	if (e)
		rc = -1;
	closedir(d);
	errno = e;
	return rc;
}

/* Whether directory PATH lists exactly NAMES again, in the same order. */
static int lists_again(const char *path, const struct buf *names)
{
	DIR *d = opendir(path);
	const char *name;
	size_t at = 0;
	int same = 1;
	while (d && same && (name = next_file(d))) {
		size_t l = strlen(name) + 1;
		same = at + l <= names->len && !memcmp(names->data + at, name, l);
		at += l;
	}
	if (d)
		closedir(d);
	return same && at == names->len;
}

/* The listing of directory PATH into NAMES, read until two readings in a row
 * agree and the directory's change time stayed the same across both. A file
 * renamed while readdir() runs (a mail reader changing flags) may be returned
 * under both names or under neither (POSIX leaves it open; ext4 does both):
 * one reading left such messages out of the commit, which counted them as
 * removed, or put them in twice. 1 when settled; 0 if the directory kept
 * changing (NAMES then holds the last reading); -1 with errno if it cannot
 * be read. */
static int settled_listing(const char *path, struct buf *names)
{
	int settled = 0;
	for (int attempt = 0; attempt < LIST_ATTEMPTS && !settled; attempt++) {
		if (attempt) {
			/* let a burst of renames end */
			struct timespec ts = { 0, 20 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		int64_t before = snapshot_ctime_ns(path);
		if (list_dir(path, names) < 0)
			return -1;
		settled = lists_again(path, names) && snapshot_ctime_ns(path) == before;
	}
	return settled;
}

/* Hash the file NAME of directory DPATH into the builder; a file gone
 * meanwhile (a reader's rename) leaves the tree. 0, or -1 with err set. */
static int add_from_disk(struct snap_run *r, git_treebuilder *bld, const char *dpath, const char *name,
			 int *gone, char *err, size_t errlen)
{
	struct buf full = BUF_INIT;
	git_oid id;
	int rc = -1;

	*gone = 0;
	buf_addf(&full, "%s/%s", dpath, name);
	for (int attempt = 0; git_blob_create_from_disk(&id, r->repo, full.data) < 0; attempt++) {
		/* vanished while we looked? asked again: libgit2 does not
		 * promise errno, and one left from its own lookups would drop
		 * a message silently. Back again (a reader that set a flag
		 * and took it off)? read again: that failed the snapshot */
		struct stat sb;
		if (lstat(full.data, &sb) < 0 && errno == ENOENT) {
			*gone = 1;
			rc = 0;
			goto out;
		}
		if (attempt == LIST_ATTEMPTS) {
			snapshot_git_fail(err, errlen, full.data);
			goto out;
		}
	}
	if (git_treebuilder_insert(NULL, bld, name, &id, GIT_FILEMODE_BLOB) < 0) {
		snapshot_git_fail(err, errlen, full.data);
		goto out;
	}
	rc = 0;
out:
	buf_free(&full);
	return rc;
}

/* Whether NAME is one of the NUL-separated NAMES. */
static int listed(const struct buf *names, const char *name)
{
	for (size_t at = 0; at < names->len; at += strlen(names->data + at) + 1)
		if (!strcmp(names->data + at, name))
			return 1;
	return 0;
}

/* The file of directory DPATH that the message NAME of the listing NAMES,
 * found gone, is now (same base name, NAME itself once renamed back, or a
 * name not listed: not another copy) into OUT: 1 if found, else 0 (removed,
 * or moved to another directory). */
static int find_renamed(const char *dpath, const char *name, const struct buf *names, struct buf *out)
{
	struct buf now = BUF_INIT;
	size_t blen = base_len(name);
	int found = 0;
	settled_listing(dpath, &now); /* one reading can miss it as the first did */
	for (size_t at = 0; at < now.len && !found; at += strlen(now.data + at) + 1) {
		const char *n = now.data + at;
		if (base_len(n) == blen && !memcmp(n, name, blen) && (!strcmp(n, name) || !listed(names, n))) {
			buf_reset(out);
			buf_adds(out, n);
			found = 1;
		}
	}
	buf_free(&now);
	return found;
}

/* The directory's tree builder, started from its tree on the first change:
 * a directory that did not change costs no copy of its entries. */
static int need_builder(struct snap_run *r, const git_tree *tree, git_treebuilder **bld,
			const char *what, char *err, size_t errlen)
{
	if (!*bld && git_treebuilder_new(bld, r->repo, tree) < 0)
		return snapshot_git_fail(err, errlen, what);
	return 0;
}

/* One directory's comparison: what its steps share. The caller owns the
 * struct and frees it with diff_dir_free(). */
struct diff_dir {
	struct snap_run *r;
	struct snap_folder *f;
	const char *sub;
	struct buf tpath, dpath;        /* its path in the tree, on disk */
	git_tree *tree;                 /* its tree in r->base, or NULL */
	git_treebuilder *bld;           /* started on its first change */
	struct old_entry *old;          /* the entries of tree */
	size_t n_old;
	struct buf names, moved;        /* the listing; a file found renamed */
	char *err;
	size_t errlen;
};

static void diff_dir_free(struct diff_dir *d)
{
	buf_free(&d->names);
	buf_free(&d->moved);
	old_free(d->old, d->n_old);
	git_treebuilder_free(d->bld);
	git_tree_free(d->tree);
	buf_free(&d->tpath);
	buf_free(&d->dpath);
}

/* The directory's tree in the parent commit and its entries into d; for a
 * folder new to the snapshot, a builder with its placeholder instead. 0, or
 * -1 with err set. */
static int diff_open_tree(struct diff_dir *d)
{
	struct snap_run *r = d->r;
	struct buf upath = BUF_INIT;
	git_tree_entry *te = NULL;
	int rc = -1;

	if (git_tree_entry_bypath(&te, r->base, d->tpath.data) == 0 &&
	    git_tree_entry_type(te) == GIT_OBJECT_TREE) {
		if (git_tree_lookup(&d->tree, r->repo, git_tree_entry_id(te)) < 0) {
			snapshot_git_fail(d->err, d->errlen, d->tpath.data);
			goto out;
		}
		d->old = old_entries(d->tree, &d->n_old);
	} else {
		/* a folder new to the snapshot: make cur/new/tmp exist in a checkout */
		if (need_builder(r, d->tree, &d->bld, d->tpath.data, d->err, d->errlen) < 0)
			goto out;
		if (git_treebuilder_insert(NULL, d->bld, KEEP_FILE, &r->empty_blob, GIT_FILEMODE_BLOB) < 0) {
			snapshot_git_fail(d->err, d->errlen, d->tpath.data);
			goto out;
		}
		if (!strcmp(d->sub, "cur")) {
			buf_addf(&upath, "%s/tmp/%s", d->f->rel, KEEP_FILE);
			add_update(r, GIT_TREE_UPDATE_UPSERT, &r->empty_blob, upath.data, GIT_FILEMODE_BLOB);
		}
	}
	rc = 0;
out:
	git_tree_entry_free(te);
	buf_free(&upath);
	return rc;
}

/* The directory's settled listing into d->names; one that kept changing gets
 * time 0 in the folder. 0, or -1 with err set when it cannot be read. */
static int diff_read_names(struct diff_dir *d)
{
	int settled = settled_listing(d->dpath.data, &d->names);
	if (settled < 0) {
		snprintf(d->err, d->errlen, "%s: cannot be read: %s", d->dpath.data, strerror(errno));
		return -1;
	}
	if (!settled) {
		log_warn("%s kept changing while it was read (a mail reader at work?): this snapshot may "
			 "be off for it; the next run looks again", d->dpath.data);
		/* a change time no directory has: the next run reads it again */
		if (!strcmp(d->sub, "cur"))
			d->f->cur_ns = 0;
		else
			d->f->new_ns = 0;
	}
	return 0;
}

/* NAME, of an old entry X that a file of its base name took as a rename: X is
 * kept as it was, that file gets its own blob. 0, or -1 with err set. */
static int diff_take_copy(struct diff_dir *d, struct old_entry *x)
{
	int gone;
	/* two files of one base name (a message and a copy):
	 * this one is the entry, unchanged; the file that
	 * took its blob as a rename gets its own */
	if (need_builder(d->r, d->tree, &d->bld, d->tpath.data, d->err, d->errlen) < 0)
		return -1;
	if (git_treebuilder_remove(d->bld, x->renamed_to) < 0) {
		snapshot_git_fail(d->err, d->errlen, d->tpath.data);
		return -1;
	}
	if (add_from_disk(d->r, d->bld, d->dpath.data, x->renamed_to, &gone, d->err, d->errlen) < 0)
		return -1;
	d->f->renamed--;
	if (!gone)
		d->f->added++;
	x->used = 1;
	return 0;
}

/* A listed file NAME not in the tree: a rename of the old entry O (its blob
 * reused), or else a new file hashed from disk, chased if it was renamed since
 * the listing. 0, or -1 with err set. */
static int diff_take_new(struct diff_dir *d, struct old_entry *o, const char *name)
{
	int gone;
	if (need_builder(d->r, d->tree, &d->bld, d->tpath.data, d->err, d->errlen) < 0)
		return -1;
	if (o) {
		o->used = 2;
		o->renamed_to = xstrdup(name);
		if (git_treebuilder_insert(NULL, d->bld, name, &o->id, GIT_FILEMODE_BLOB) < 0) {
			snapshot_git_fail(d->err, d->errlen, d->tpath.data);
			return -1;
		}
		d->f->renamed++;
	} else {
		if (add_from_disk(d->r, d->bld, d->dpath.data, name, &gone, d->err, d->errlen) < 0)
			return -1;
		/* renamed since the listing (a reader changed its flags):
		 * taken under its new name, not left out of this commit */
		for (int chase = 0; gone && chase < LIST_ATTEMPTS &&
				    find_renamed(d->dpath.data, name, &d->names, &d->moved); chase++)
			if (add_from_disk(d->r, d->bld, d->dpath.data, d->moved.data, &gone, d->err, d->errlen) < 0)
				return -1;
		if (gone)
			return 0;
		d->f->added++;
	}
	return 0;
}

/* One listed file NAME compared with the old entries. 0, or -1 with err set. */
static int diff_take_name(struct diff_dir *d, const char *name)
{
	struct old_entry *o = match_old(d->old, d->n_old, name);
	if (o && !strcmp(o->name, name)) {
		o->used = 1;
		return 0;
	}
	struct old_entry *x = exact_old(d->old, d->n_old, name);
	if (x && x->used == 2)
		return diff_take_copy(d, x);
	return diff_take_new(d, o, name);
}

/* The old entries no listed file kept removed from the builder, counted
 * unless renamed. 0, or -1 with err set. */
static int diff_drop_old(struct diff_dir *d)
{
	for (size_t i = 0; i < d->n_old; i++) {
		if (d->old[i].used == 1)
			continue;
		if (need_builder(d->r, d->tree, &d->bld, d->tpath.data, d->err, d->errlen) < 0)
			return -1;
		if (git_treebuilder_remove(d->bld, d->old[i].name) < 0) {
			snapshot_git_fail(d->err, d->errlen, d->tpath.data);
			return -1;
		}
		if (!d->old[i].used)
			d->f->removed++;
	}
	return 0;
}

/* The changed directory's new tree written and one update queued that
 * replaces it. 0, or -1 with err set. */
static int diff_write_tree(struct diff_dir *d)
{
	git_oid tree_id;
	/* the old entries point into the tree: done with both */
	old_free(d->old, d->n_old);
	d->old = NULL;
	d->n_old = 0;
	git_tree_free(d->tree);
	d->tree = NULL;
	if (git_treebuilder_write(&tree_id, d->bld) < 0) {
		snapshot_git_fail(d->err, d->errlen, d->tpath.data);
		return -1;
	}
	add_update(d->r, GIT_TREE_UPDATE_UPSERT, &tree_id, d->tpath.data, GIT_FILEMODE_TREE);
	return 0;
}

/* Compare one directory of a folder (sub: "cur" or "new") with its tree in the
 * parent commit; if it changed, write its new tree at once and queue one update
 * that replaces the directory. Memory is the largest directory's entries, not
 * the mirror's: one update and path per message held until the commit was ~175
 * bytes a message (17 MB for a first snapshot of 100,000). */
int snapshot_diff_dir(struct snap_run *r, struct snap_folder *f, const char *sub, char *err, size_t errlen)
{
	struct diff_dir d = { .r = r, .f = f, .sub = sub, .tpath = BUF_INIT, .dpath = BUF_INIT,
			      .names = BUF_INIT, .moved = BUF_INIT, .err = err, .errlen = errlen };
	int rc = -1;

	buf_addf(&d.tpath, "%s/%s", f->rel, sub);
	if (diff_open_tree(&d) < 0)
		goto out;
	git_error_clear();
	buf_addf(&d.dpath, "%s/%s/%s", r->dir, f->rel, sub);
	if (diff_read_names(&d) < 0)
		goto out;
	for (size_t at = 0; at < d.names.len; at += strlen(d.names.data + at) + 1)
		if (diff_take_name(&d, d.names.data + at) < 0)
			goto out;
	if (diff_drop_old(&d) < 0)
		goto out;
	if (d.bld && diff_write_tree(&d) < 0)
		goto out;
	rc = 0;
out:
	diff_dir_free(&d);
	return rc;
}

/* A file of the base tree above where an update goes (a branch with the
 * user's commits: a file INBOX where the mirror has the folder INBOX) made
 * git_tree_create_updated fail, "D/F conflict", on every snapshot: such files
 * are removed from r->base first (libgit2 looks a path's components up in
 * the tree it starts from, so not in the same call), and the mirror's folder
 * takes their place. 0, or -1 with err set. */
int snapshot_clear_way(struct snap_run *r, char *err, size_t errlen)
{
	struct buf path = BUF_INIT, pre = BUF_INIT, gone = BUF_INIT; /* gone: NUL-separated */
	git_tree_update *rm = NULL;
	git_tree *t = NULL;
	size_t n = 0;
	int rc = -1;
	for (size_t i = 0; i < r->n_updates; i++) {
		const git_tree_update *u = &r->updates[i];
		buf_reset(&path);
		buf_adds(&path, r->paths.data + r->path_offs[i]);
		/* each component in turn, the path itself last */
		for (size_t k = 1; k <= path.len; k++) {
			git_tree_entry *e = NULL;
			int found, file = 0, dup = 0, last = k == path.len;
			if (!last && path.data[k] != '/')
				continue;
			buf_reset(&pre);
			buf_add(&pre, path.data, k);
			found = git_tree_entry_bypath(&e, r->base, pre.data) == 0;
			if (found && !last)
				file = git_tree_entry_type(e) != GIT_OBJECT_TREE;
			else if (found) /* of the other kind: "cannot replace 'blob' with 'tree'" */
				file = u->action == GIT_TREE_UPDATE_UPSERT &&
				       (git_tree_entry_type(e) == GIT_OBJECT_TREE) != (u->filemode == GIT_FILEMODE_TREE);
			git_tree_entry_free(e);
			for (size_t off = 0; file && off < gone.len; off += strlen(gone.data + off) + 1)
				dup |= !strcmp(gone.data + off, pre.data);
			if (file && !dup) {
				buf_add(&gone, pre.data, pre.len + 1);
				n++;
			}
			if (file || !found)
				break; /* nothing of the base below it */
		}
	}
	git_error_clear();
	if (!n) {
		rc = 0;
		goto out;
	}
	rm = xcalloc(n, sizeof(*rm));
	for (size_t k = 0, off = 0; k < n; k++, off += strlen(gone.data + off) + 1) {
		rm[k].action = GIT_TREE_UPDATE_REMOVE;
		rm[k].path = gone.data + off;
		log_warn("%s: a file (or directory) of the branch where the mirror has the other: replaced by the mirror's",
			 rm[k].path);
	}
	git_oid id;
	if (git_tree_create_updated(&id, r->repo, r->base, n, rm) < 0 || git_tree_lookup(&t, r->repo, &id) < 0) {
		snapshot_git_fail(err, errlen, "building the snapshot tree");
		goto out;
	}
	git_tree_free(r->base);
	r->base = t;
	rc = 0;
out:
	free(rm);
	buf_free(&path);
	buf_free(&pre);
	buf_free(&gone);
	return rc;
}

/* A folder gone from disk: drop its directories from the tree. */
size_t snapshot_drop_folder(struct snap_run *r, const char *rel)
{
	static const char *const subs[] = { "cur", "new", "tmp" };
	struct buf p = BUF_INIT;
	size_t removed = 0;
	for (size_t i = 0; i < 3; i++) {
		git_tree_entry *te = NULL;
		git_tree *t = NULL;
		buf_reset(&p);
		buf_addf(&p, "%s/%s", rel, subs[i]);
		if (git_tree_entry_bypath(&te, r->base, p.data) == 0) {
			add_update(r, GIT_TREE_UPDATE_REMOVE, NULL, p.data, GIT_FILEMODE_TREE);
			/* its messages (not the .mailkeep-keep placeholder) */
			if (i < 2 && git_tree_lookup(&t, r->repo, git_tree_entry_id(te)) == 0)
				for (size_t j = 0; j < git_tree_entrycount(t); j++)
					removed += git_tree_entry_name(git_tree_entry_byindex(t, j))[0] != '.';
			git_tree_free(t);
			git_tree_entry_free(te);
		}
	}
	git_error_clear();
	buf_free(&p);
	return removed;
}

