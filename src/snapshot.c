/* Git snapshots of a mirror (libgit2, loaded on first use: git2_dl.h): the
 * snapshot state, the walk of the mirror, the repository and the one commit;
 * comparing a changed directory with the tree is snapshot_tree.c. */
#include "mailkeep/snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>

#include "git2_dl.h"
#include "mailkeep/buf.h"
#include "mailkeep/log.h"
#include "mailkeep/maildir.h"
#include "snapshot_internal.h"

#define SNAP_STATE ".mailkeep/snapshot-state"
#define SNAP_MAGIC "mailkeep-snapshot 1"
/* present while a run may hold the branch's or HEAD's lock (commit_durably) */
#define SNAP_COMMITTING ".mailkeep/snapshot-committing"
#define RACY_CUR 1
#define RACY_NEW 2

int snapshot_git_fail(char *err, size_t errlen, const char *what)
{
	const git_error *e = git_error_last();
	snprintf(err, errlen, "%s: %s", what, e && e->message ? e->message : "unknown libgit2 error");
	return -1;
}

static void folders_free(struct snap_folders *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->items[i].rel);
	free(f->items);
	memset(f, 0, sizeof(*f));
}

static struct snap_folder *folders_add(struct snap_folders *f, const char *rel)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 32;
		f->items = xrealloc(f->items, f->cap * sizeof(*f->items));
	}
	struct snap_folder *x = &f->items[f->n++];
	memset(x, 0, sizeof(*x));
	x->rel = xstrdup(rel);
	return x;
}

static int cmp_folder(const void *a, const void *b)
{
	return strcmp(((const struct snap_folder *)a)->rel, ((const struct snap_folder *)b)->rel);
}

/* Sorted by name for folders_find, duplicates dropped. */
static void folders_sort(struct snap_folders *f)
{
	size_t k = 0;
	if (f->n)
		qsort(f->items, f->n, sizeof(*f->items), cmp_folder);
	for (size_t i = 0; i < f->n; i++) {
		if (k && !strcmp(f->items[k - 1].rel, f->items[i].rel)) {
			free(f->items[i].rel);
			continue;
		}
		f->items[k++] = f->items[i];
	}
	f->n = k;
}

/* REL in F, sorted by folders_sort. A lookup per folder of the mirror: a
 * linear search made a run quadratic in the number of folders. */
static struct snap_folder *folders_find(struct snap_folders *f, const char *rel)
{
	struct snap_folder key = { .rel = (char *)rel };
	return f->n ? bsearch(&key, f->items, f->n, sizeof(*f->items), cmp_folder) : NULL;
}


/* ---- snapshot state ---- */

static int load_state(const char *dir, char *commit, struct snap_folders *f)
{
	struct buf p = BUF_INIT;
	char line[8192];
	struct stat sb;
	FILE *fp = NULL;
	buf_addf(&p, "%s/%s", dir, SNAP_STATE);
	/* not followed, not waited on (a FIFO): anything but a file costs
	 * a full comparison, and the save puts a file in its place */
	int fd = open(p.data, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	buf_free(&p);
	commit[0] = '\0';
	if (fd >= 0 && (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || !(fp = fdopen(fd, "r"))))
		close(fd);
	if (!fp)
		return 0;
	if (!fgets(line, sizeof(line), fp) || strcmp(line, SNAP_MAGIC "\n"))
		goto bad;
	while (fgets(line, sizeof(line), fp)) {
		size_t len = strlen(line);
		if (!len || line[len - 1] != '\n')
			goto bad;
		line[len - 1] = '\0';
		if (!strncmp(line, "commit ", 7) && strlen(line + 7) == 40) {
			memcpy(commit, line + 7, 41);
		} else if (!strncmp(line, "f ", 2)) {
			long long c, n;
			int off = 0;
			/* exactly one space before the folder: a " %n" ate the
			 * leading spaces of a folder named " Lead", which then
			 * read as the folder Lead, and a snapshot dropped Lead */
			if (sscanf(line + 2, "%lld %lld%n", &c, &n, &off) != 2 || off <= 0 || line[2 + off] != ' ' ||
			    !line[3 + off])
				goto bad;
			struct snap_folder *x = folders_add(f, line + 3 + off);
			x->cur_ns = c;
			x->new_ns = n;
		}
	}
	fclose(fp);
	return 0;
bad:
	/* a damaged state only costs a full comparison */
	fclose(fp);
	commit[0] = '\0';
	folders_free(f);
	return 0;
}

static int save_state(const char *dir, const char *commit, const struct snap_folders *f,
		      char *err, size_t errlen)
{
	struct buf p = BUF_INIT, out = BUF_INIT;
	buf_addf(&p, "%s/%s", dir, SNAP_STATE);
	buf_addf(&out, SNAP_MAGIC "\ncommit %s\n", commit);
	for (size_t i = 0; i < f->n; i++) {
		const struct snap_folder *x = &f->items[i];
		buf_addf(&out, "f %" PRId64 " %" PRId64 " %s\n", x->racy & RACY_CUR ? 0 : x->cur_ns,
			 x->racy & RACY_NEW ? 0 : x->new_ns, x->rel);
	}
	int rc = maildir_write_file_atomic(p.data, out.data, out.len, err, errlen);
	buf_free(&p);
	buf_free(&out);
	return rc;
}

/* ---- walking the mirror ---- */

/* A directory's change time: every entry added, removed or renamed sets it,
 * and no tool can put it back (touch -d sets the mtime, and the ctime to now). */
int64_t snapshot_ctime_ns(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return 0;
	return (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
}

static int is_dir(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int snapshot_time_racy(int64_t ctime_ns, int64_t now_ns)
{
	return ctime_ns > now_ns - RACY_WINDOW_NS;
}

/* Now, on the clock file times are taken from (the coarse one). */
static int64_t now_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) < 0 && clock_gettime(CLOCK_REALTIME, &ts) < 0)
		return INT64_MAX;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A directory of the mirror with a cur/ is a folder: note its directory times. */
static void walk_folder(void *ctx, const char *dir, const char *rel)
{
	struct snap_run *r = ctx;
	struct buf sub = BUF_INIT;
	buf_addf(&sub, "%s/cur", dir);
	if (is_dir(sub.data)) {
		struct snap_folder *x = folders_add(&r->now, rel);
		x->cur_ns = snapshot_ctime_ns(sub.data);
		buf_reset(&sub);
		buf_addf(&sub, "%s/new", dir);
		x->new_ns = snapshot_ctime_ns(sub.data);
		int64_t now = now_ns();
		x->racy = (snapshot_time_racy(x->cur_ns, now) ? RACY_CUR : 0) |
			  (snapshot_time_racy(x->new_ns, now) ? RACY_NEW : 0);
	}
	buf_free(&sub);
}

/* Folders in the tree (paths whose entry "cur" is a tree), for a full comparison. */
struct tree_walk_ctx {
	struct snap_folders *into;
};

static int tree_walk_cb(const char *root, const git_tree_entry *e, void *payload)
{
	struct tree_walk_ctx *c = payload;
	if (git_tree_entry_type(e) != GIT_OBJECT_TREE)
		return 0;
	if (!strcmp(git_tree_entry_name(e), "cur") && *root) {
		struct buf rel = BUF_INIT;
		buf_add(&rel, root, strlen(root) - 1); /* drop the trailing '/' */
		folders_add(c->into, rel.data); /* each path once: sorted after the walk */
		buf_free(&rel);
		return 1; /* do not descend into cur/ */
	}
	if (!strcmp(git_tree_entry_name(e), "new") || !strcmp(git_tree_entry_name(e), "tmp"))
		return 1;
	return 0;
}

/* Remove what a killed run left in the repository: its ref lock and
 * libgit2's temporary object files (objects/tmp_object_git2_*; git gc would
 * remove them, mailkeep never runs it). We hold the account lock, so no other
 * mailkeep writes this repository now; but the user's git may, and a lock it
 * holds is not ours to break: the branch's and HEAD's locks are removed only
 * when the COMMITTING mark says a mailkeep run died while it could hold them. */
static void clear_stale_files(git_repository *repo, const char *branch, const char *account_dir)
{
	struct buf p = BUF_INIT, mark = BUF_INIT;
	buf_addf(&mark, "%s/%s", account_dir, SNAP_COMMITTING);
	struct stat sb;
	if (lstat(mark.data, &sb) == 0) {
		buf_addf(&p, "%srefs/heads/%s.lock", git_repository_path(repo), branch);
		if (unlink(p.data) == 0)
			log_warn("removed stale lock %s (left by an interrupted run)", p.data);
		buf_reset(&p);
		buf_addf(&p, "%sHEAD.lock", git_repository_path(repo));
		if (unlink(p.data) == 0)
			log_warn("removed stale lock %s (left by an interrupted run)", p.data);
		unlink(mark.data);
		buf_reset(&p);
	}
	buf_free(&mark);
	buf_addf(&p, "%sobjects", git_repository_path(repo));
	DIR *d = opendir(p.data);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, "tmp_object_git2_", 16) != 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			log_debug("removed %s/%s (left by an interrupted run)", p.data, de->d_name);
	}
	if (d)
		closedir(d);
	buf_free(&p);
}

static int parse_author(const char *s, git_signature **sig)
{
	const char *lt = strchr(s, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	struct buf name = BUF_INIT, email = BUF_INIT;
	int rc;
	if (!lt || !gt)
		return git_signature_now(sig, "mailkeep", "mailkeep@localhost");
	size_t nl = (size_t)(lt - s);
	while (nl && s[nl - 1] == ' ')
		nl--;
	buf_add(&name, s, nl);
	buf_add(&email, lt + 1, (size_t)(gt - lt - 1));
	rc = git_signature_now(sig, name.len ? name.data : "mailkeep", email.data);
	buf_free(&name);
	buf_free(&email);
	return rc;
}

static void commit_message(struct buf *msg, const struct account *acct, const struct snap_folders *f,
			   const struct snap_folders *gone, size_t folders_failed, const struct snapshot_result *res)
{
	char when[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	buf_addf(msg, "mailkeep: %s: %zu new, %zu flag changes, %zu removed%s\n\n", acct->name, res->added,
		 res->renamed, res->removed, folders_failed ? " (partial)" : "");
	buf_addf(msg, "account: %s\ntime: %s\n", acct->name, when);
	if (folders_failed)
		buf_addf(msg, "partial: %zu folder%s failed in this run; what they hold here is from an "
			 "earlier run\n", folders_failed, folders_failed == 1 ? "" : "s");
	buf_addch(msg, '\n');
	for (size_t i = 0; i < f->n; i++) {
		const struct snap_folder *x = &f->items[i];
		if (x->added || x->renamed || x->removed)
			buf_addf(msg, "%s: %zu new, %zu flag changes, %zu removed\n", x->rel, x->added,
				 x->renamed, x->removed);
	}
	for (size_t i = 0; i < gone->n; i++)
		if (!gone->items[i].seen && gone->items[i].removed)
			buf_addf(msg, "%s: 0 new, 0 flag changes, %zu removed (folder gone)\n", gone->items[i].rel,
				 gone->items[i].removed);
}

/* Write the commit of TREE, make the objects of the snapshot durable, then
 * move the branch REFNAME to it (compare-and-swap from PARENT, as
 * git_commit_create would). libgit2 does not fsync what it writes
 * (GIT_OPT_ENABLE_FSYNC_GITDIR is off); a branch renamed into place before
 * the objects it names reach the disk pointed, after a power cut, at empty
 * object files, and every later snapshot failed on them. One syncfs(2) of
 * the repository's file system makes them all durable, as for a batch of
 * messages (docs/design.md). MARK is present while the branch's lock may be
 * held (clear_stale_files). 0 with *ID, or -1 with err set. */
static int commit_durably(git_repository *repo, const char *refname, const git_signature *sig, const char *msg,
			  const git_tree *tree, const git_commit *parent, const char *mark, git_oid *id, char *err,
			  size_t errlen)
{
	const git_commit *parents[1] = { parent };
	git_reference *ref = NULL;
	int rc = -1, fd;
	if (git_commit_create(id, repo, NULL, sig, sig, NULL, msg, tree, parent ? 1 : 0, parents) < 0) {
		snapshot_git_fail(err, errlen, git_repository_path(repo));
		goto out;
	}
	if (maildir_sync_fs(git_repository_path(repo), err, errlen) < 0)
		goto out;
	fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", mark, strerror(errno));
		goto out;
	}
	close(fd);
	if (git_reference_create_matching(&ref, repo, refname, id, parent != NULL,
					  parent ? git_commit_id(parent) : NULL, NULL) < 0)
		snapshot_git_fail(err, errlen, git_repository_path(repo));
	else
		rc = 0;
	unlink(mark);
out:
	git_reference_free(ref);
	return rc;
}

/* The branch's head (REF and PARENT, the caller's to free) and its tree as
 * r->base (r's), or the empty tree when the branch has no commit yet. 0, or
 * -1 with err set. */
static int open_base(const struct account *acct, struct snap_run *r, const char *refname, git_reference **ref,
		     git_commit **parent, char *err, size_t errlen)
{
	git_treebuilder *tb = NULL;
	int rc = -1;

	if (git_reference_lookup(ref, r->repo, refname) == 0) {
		if (git_commit_lookup(parent, r->repo, git_reference_target(*ref)) < 0 ||
		    git_commit_tree(&r->base, *parent) < 0) {
			snapshot_git_fail(err, errlen, acct->snapshot_repo);
			goto out;
		}
	} else {
		git_oid empty;
		git_error_clear();
		if (git_treebuilder_new(&tb, r->repo, NULL) < 0 || git_treebuilder_write(&empty, tb) < 0 ||
		    git_tree_lookup(&r->base, r->repo, &empty) < 0) {
			snapshot_git_fail(err, errlen, acct->snapshot_repo);
			goto out;
		}
	}
	rc = 0;
out:
	git_treebuilder_free(tb);
	return rc;
}

/* Whether the folder REL of the snapshot, not found by the walk, is still on
 * disk but could not be read: a real directory on its path (REL's components,
 * then cur/) that cannot be entered or listed. 1 with err set, naming it (it
 * was dropped from the commit as if deleted, exit 0). A component missing, a
 * symbolic link (the walk never follows one: a folder moved elsewhere and
 * linked back, a loop) or not a directory: the folder is gone (0); so is one
 * whose path can all be read (an alias of a folder the walk saw, on a file
 * system that folds case). */
static int folder_unreadable(const char *dir, const char *rel, char *err, size_t errlen)
{
	struct buf path = BUF_INIT, comp = BUF_INIT;
	int bad = 0, e = 0, fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	const char *p = rel;
	buf_adds(&path, dir);
	while (fd >= 0 && p && !bad) {
		struct stat st;
		const char *slash = strchr(p, '/');
		buf_reset(&comp);
		if (slash)
			buf_add(&comp, p, (size_t)(slash - p));
		else
			buf_adds(&comp, *p ? p : "cur");
		buf_addf(&path, "/%s", comp.data);
		p = slash ? slash + 1 : *p ? "" : NULL;
		if (fstatat(fd, comp.data, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			e = errno;
			bad = e != ENOENT && e != ENOTDIR;
			break;
		}
		if (!S_ISDIR(st.st_mode))
			break;
		int nfd = openat(fd, comp.data, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		e = errno;
		close(fd);
		fd = nfd;
		bad = fd < 0 && e != ENOENT && e != ENOTDIR && e != ELOOP;
	}
	if (bad)
		snprintf(err, errlen, "%s: cannot be read: %s", path.data, strerror(e));
	if (fd >= 0)
		close(fd);
	buf_free(&path);
	buf_free(&comp);
	return bad;
}

/* Each folder on disk compared with the tree (all of them if FULL, else those
 * whose directory times changed), its counts added to RES; folders gone from
 * disk dropped. 0, or -1 with err set. */
static int diff_folders(struct snap_run *r, int full, struct snapshot_result *res, char *err, size_t errlen)
{
	for (size_t i = 0; i < r->now.n; i++) {
		struct snap_folder *x = &r->now.items[i];
		struct snap_folder *was = folders_find(&r->recorded, x->rel);
		if (was)
			was->seen = 1;
		if (!full && was && was->cur_ns == x->cur_ns && was->new_ns == x->new_ns)
			continue;
		/* new/ first: a mail reader moves messages from new/ to cur/, and one
		 * moved in between is then read twice rather than not at all */
		if (snapshot_diff_dir(r, x, "new", err, errlen) < 0 || snapshot_diff_dir(r, x, "cur", err, errlen) < 0)
			return -1;
		if (x->added || x->renamed || x->removed)
			res->folders_changed++;
		res->added += x->added;
		res->renamed += x->renamed;
		res->removed += x->removed;
	}
	for (size_t i = 0; i < r->recorded.n; i++) {
		if (r->recorded.items[i].seen)
			continue;
		if (folder_unreadable(r->dir, r->recorded.items[i].rel, err, errlen))
			return -1;
		/* counted: a folder deleted with its mail read "0 removed" */
		struct snap_folder *x = &r->recorded.items[i];
		x->removed = snapshot_drop_folder(r, x->rel);
		if (x->removed)
			res->folders_changed++;
		res->removed += x->removed;
	}
	return 0;
}

/* A HEAD naming a branch that has no commit (master, in a repository made by
 * git init --bare) pointed at REFNAME, which has: else git log, as
 * docs/snapshots.md restores, fails ("your current branch 'master' does not
 * have any commits yet"). A HEAD naming a commit or a branch that has one is
 * the user's, left alone. MARK is present while HEAD's lock may be held
 * (clear_stale_files). A failure is a warning. */
static void point_head(git_repository *repo, const char *refname, const char *mark)
{
	char why[512];
	int fd;
	if (git_repository_head_unborn(repo) != 1)
		goto out;
	if ((fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600)) < 0) {
		log_warn("%s: %s", mark, strerror(errno));
		goto out;
	}
	close(fd);
	if (git_repository_set_head(repo, refname) < 0) {
		snapshot_git_fail(why, sizeof(why), git_repository_path(repo));
		log_warn("%s (HEAD names a branch with no commit: git log shows none)", why);
	}
	unlink(mark);
out:
	git_error_clear();
}

/* The base tree with r's updates applied, committed on REFNAME over PARENT
 * (HEAD_HEX) unless it is the head's tree; the commit's id into res->commit.
 * 0, or -1 with err set. */
static int commit_updates(const struct account *acct, struct snap_run *r, git_commit *parent, const char *head_hex,
			  const char *refname, size_t folders_failed, struct snapshot_result *res, char *err,
			  size_t errlen)
{
	git_signature *sig = NULL;
	git_tree *newtree = NULL;
	struct buf msg = BUF_INIT, mark = BUF_INIT;
	int rc = -1;

	if (snapshot_clear_way(r, err, errlen) < 0)
		goto out;
	for (size_t i = 0; i < r->n_updates; i++)
		r->updates[i].path = r->paths.data + r->path_offs[i];
	git_oid tree_id;
	if (git_tree_create_updated(&tree_id, r->repo, r->base, r->n_updates, r->updates) < 0) {
		snapshot_git_fail(err, errlen, "building the snapshot tree");
		goto out;
	}
	if (parent && git_oid_equal(&tree_id, git_tree_id(r->base))) {
		snprintf(res->commit, sizeof(res->commit), "%s", head_hex);
	} else {
		git_oid commit_id;
		if (git_tree_lookup(&newtree, r->repo, &tree_id) < 0 ||
		    parse_author(acct->snapshot_author, &sig) < 0) {
			snapshot_git_fail(err, errlen, acct->snapshot_repo);
			goto out;
		}
		commit_message(&msg, acct, &r->now, &r->recorded, folders_failed, res);
		buf_addf(&mark, "%s/%s", r->dir, SNAP_COMMITTING);
		if (commit_durably(r->repo, refname, sig, msg.data, newtree, parent, mark.data, &commit_id, err,
				   errlen) < 0)
			goto out;
		git_oid_tostr(res->commit, sizeof(res->commit), &commit_id);
		res->committed = 1;
	}
	if (res->committed || parent) {
		buf_reset(&mark);
		buf_addf(&mark, "%s/%s", r->dir, SNAP_COMMITTING);
		point_head(r->repo, refname, mark.data);
	}
	rc = 0;
out:
	git_tree_free(newtree);
	git_signature_free(sig);
	buf_free(&msg);
	buf_free(&mark);
	return rc;
}

int snapshot_account(const struct account *acct, const char *account_dir, int full, size_t folders_failed,
		     struct snapshot_result *res, char *err, size_t errlen)
{
	struct snap_run r = { .dir = account_dir };
	git_reference *ref = NULL;
	git_commit *parent = NULL;
	struct buf refname = BUF_INIT;
	char recorded_commit[41];
	int rc = -1;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(res, 0, sizeof(*res));
	if (git2_load(err, errlen) < 0)
		return -1;
	git_libgit2_init();
	if (snapshot_open_repo(acct, &r.repo, err, errlen) < 0)
		goto out;
	buf_addf(&refname, "refs/heads/%s", acct->snapshot_branch);
	clear_stale_files(r.repo, acct->snapshot_branch, account_dir);
	if (open_base(acct, &r, refname.data, &ref, &parent, err, errlen) < 0)
		goto out;
	if (git_blob_create_from_buffer(&r.empty_blob, r.repo, "", 0) < 0) {
		snapshot_git_fail(err, errlen, acct->snapshot_repo);
		goto out;
	}
	load_state(account_dir, recorded_commit, &r.recorded);
	char head_hex[41] = "";
	if (parent)
		git_oid_tostr(head_hex, sizeof(head_hex), git_commit_id(parent));
	/* Trust the recorded directory times only if they describe the current head. */
	if (!parent || strcmp(recorded_commit, head_hex))
		full = 1;
	maildir_walk(r.dir, walk_folder, &r);
	if (full && parent) {
		struct tree_walk_ctx c = { &r.recorded };
		folders_free(&r.recorded);
		git_tree_walk(r.base, GIT_TREEWALK_PRE, tree_walk_cb, &c);
	}
	folders_sort(&r.recorded);
	if (diff_folders(&r, full, res, err, errlen) < 0)
		goto out;
	if (commit_updates(acct, &r, parent, head_hex, refname.data, folders_failed, res, err, errlen) < 0)
		goto out;
	if (save_state(account_dir, res->commit, &r.now, err, errlen) < 0)
		goto out;
	rc = 0;
out:
	clock_gettime(CLOCK_MONOTONIC, &t1);
	res->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	git_tree_free(r.base);
	git_commit_free(parent);
	git_reference_free(ref);
	git_repository_free(r.repo);
	folders_free(&r.recorded);
	folders_free(&r.now);
	free(r.updates);
	free(r.path_offs);
	buf_free(&r.paths);
	buf_free(&refname);
	git_libgit2_shutdown();
	return rc;
}

int snapshot_log(const struct account *acct, FILE *out, size_t max, char *err, size_t errlen)
{
	git_repository *repo = NULL;
	git_revwalk *walker = NULL;
	struct buf refname = BUF_INIT;
	int rc = -1;
	git_oid id;

	if (git2_load(err, errlen) < 0)
		return -1;
	git_libgit2_init();
	if (git_repository_open_bare(&repo, acct->snapshot_repo) < 0) {
		snprintf(err, errlen, "account %s: no snapshot repository at %s", acct->name,
			 acct->snapshot_repo);
		goto out;
	}
	buf_addf(&refname, "refs/heads/%s", acct->snapshot_branch);
	if (git_revwalk_new(&walker, repo) < 0)
		goto gitfail;
	git_revwalk_sorting(walker, GIT_SORT_TIME);
	if (git_revwalk_push_ref(walker, refname.data) < 0) {
		snprintf(err, errlen, "account %s: no snapshots yet in %s", acct->name, acct->snapshot_repo);
		goto out;
	}
	for (size_t n = 0; (!max || n < max) && git_revwalk_next(&id, walker) == 0; n++) {
		git_commit *c;
		char hex[41], when[64];
		if (git_commit_lookup(&c, repo, &id) < 0)
			goto gitfail;
		time_t t = (time_t)git_commit_time(c);
		struct tm tm;
		localtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %z", &tm);
		git_oid_tostr(hex, sizeof(hex), &id);
		fprintf(out, "%.12s  %s  %s\n", hex, when, git_commit_summary(c));
		git_commit_free(c);
	}
	rc = 0;
	goto out;
gitfail:
	snapshot_git_fail(err, errlen, acct->snapshot_repo);
out:
	git_revwalk_free(walker);
	git_repository_free(repo);
	buf_free(&refname);
	git_libgit2_shutdown();
	return rc;
}
