/* Sync runner, one folder's directory: its files read from cur/ and new/, or
 * taken from its state when that can be trusted (docs/design.md), what they say
 * of the folder's UIDVALIDITY, whether the folder is new to the mirror, and the
 * old copy moved aside when the server changed the UIDVALIDITY. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mailkeep/buf.h"
#include "mailkeep/log.h"
#include "mailkeep/maildir.h"
#include "mailkeep/state.h"

#include "sync_folder.h"

/* Left in a directory the old copy of a folder is moved into until all but
 * its state is: a run killed in the middle of it, the next run finishes it
 * there (as it does when only the state is left in the folder). */
#define ASIDE_MARK ".mailkeep-moving"

/* What of a folder moves aside, in this order: the state last, once the
 * rest is there (move_aside_from). */
static const char *const aside_parts[] = { "cur", "new", "tmp", STATE_FILE };

/* ---- reading a folder without listing it (docs/design.md) ---- */

/* The files of a folder as its state describes them: each message in cur/
 * under the name mailkeep gave it. Only for a trusted state (sync_folder_trusted). */
static void view_from_state(struct maildir_view *v, const struct folder_state *st)
{
	struct buf name = BUF_INIT;
	memset(v, 0, sizeof(*v));
	v->files = xmalloc((st->n ? st->n : 1) * sizeof(*v->files));
	v->cap = st->n ? st->n : 1;
	buf_grow(&v->names, st->n * 48);
	for (size_t i = 0; i < st->n; i++) {
		const struct state_msg *m = &st->msgs[i];
		maildir_canonical_name(&name, m->date, st->uidvalidity, m->uid, m->flags);
		maildir_view_add(v, name.data, m->uid, st->uidvalidity, m->flags, 0);
	}
	buf_free(&name);
}

/* May the folder's files be taken from its state instead of reading cur/ and
 * new/? When the state knows every file's name, neither directory changed
 * since the state was written (their times are taken after mailkeep's last
 * change to them) and they were read less than LIST_EVERY ago. A name found
 * wrong all the same (a rename or unlink finds no file) makes the folder read
 * its directory after all (sync_folder). */
int sync_folder_trusted(const struct folder_run *f, const struct folder_state *st)
{
	int64_t cur_ns, new_ns, now = (int64_t)time(NULL);
	if (!st->uidvalidity || !st->cur_mtime_ns || st->listed <= 0 || now - st->listed >= LIST_EVERY ||
	    now < st->listed || (st->kept && f->a->acct->deletions == DELETIONS_MIRROR) ||
	    getenv("MAILKEEP_ALWAYS_LIST") /* measurement knob, docs/performance.md */ ||
	    !state_names_known(st))
		return 0;
	maildir_dir_mtimes(f->dir.data, &cur_ns, &new_ns);
	return cur_ns == st->cur_mtime_ns && new_ns == st->new_mtime_ns;
}

struct match_ctx {
	const struct folder_state *st;
	enum deletions_mode deletions;
	unsigned char *seen; /* one bit per state message: its file was met */
	size_t matched;
	struct buf name;
	int ok;
};

/* One file of the directory against the state: a file of a UID the state
 * lacks (a kept file of an expunged message, or one moved in), in new/, under
 * another name, or a second file of a UID (a copy) is not what a trusted read
 * would take. Stops at the first mismatch. */
static int match_file(void *ctx, const char *subdir, const char *fname, const struct maildir_file *file,
		      char *err, size_t errlen)
{
	struct match_ctx *c = ctx;
	const struct state_msg *m =
		file->uidvalidity == c->st->uidvalidity ? state_find(c->st, file->uid) : NULL;
	if (!m) {
		c->ok = c->deletions == DELETIONS_KEEP;
	} else {
		size_t i = (size_t)(m - c->st->msgs);
		maildir_canonical_name(&c->name, m->date, c->st->uidvalidity, m->uid, m->flags);
		if (file->in_new || strcmp(fname, c->name.data) || (c->seen[i / 8] & (1u << (i % 8))))
			c->ok = 0;
		else {
			c->seen[i / 8] |= (unsigned char)(1u << (i % 8));
			c->matched++;
		}
	}
	if (c->ok)
		return 0;
	snprintf(err, errlen, "%s/%s: not as the state says", subdir, fname);
	return -1;
}

int sync_dir_matches_state(const char *dir, const struct folder_state *st, enum deletions_mode deletions,
			   int64_t cur_ns, int64_t new_ns)
{
	/* Walked, not scanned: a folder of 100,000 messages would otherwise hold
	 * all their names (~60 bytes each) once more at the end of its sync. */
	struct match_ctx c = {.st = st, .deletions = deletions, .name = BUF_INIT, .ok = 1};
	size_t foreign = 0;
	int ok = 0;
	char err[256];
	if (!state_names_known(st)) /* not trusted next time anyway */
		return 1;
	c.seen = xcalloc(st->n / 8 + 1, 1);
	if (maildir_each_file(dir, match_file, &c, &foreign, err, sizeof(err)) < 0)
		goto out;
	if (c.matched == st->n) {
		int64_t c2, n2;
		maildir_dir_mtimes(dir, &c2, &n2);
		ok = c2 == cur_ns && n2 == new_ns;
	}
out:
	free(c.seen);
	buf_free(&c.name);
	return ok;
}

/* The folder's files, read (or taken from its state when trusted) while the
 * server works on EXAMINE: as soon as that is sent (after_examine_sent), else
 * before the plan. */
void sync_folder_scan_dir(void *ctx)
{
	struct folder_run *f = ctx;
	if (f->scanned)
		return;
	f->scanned = 1;
	if (f->trusted) {
		view_from_state(f->view, f->st);
		f->seen_cur = f->st->cur_mtime_ns; /* what sync_folder_trusted found */
		f->seen_new = f->st->new_mtime_ns;
		f->scan_rc = 0;
	} else {
		sync_folder_watch_set(f);
		f->scan_rc = maildir_scan(f->dir.data, f->view, f->scan_err, sizeof(f->scan_err));
	}
	log_debug("%s: %zu files %s", f->name, f->view->n, f->trusted ? "from the state" : "listed");
}

/* The uidvalidity a folder's files were written under when there is no state:
 * any mailkeep file name carries it. The server's as soon as one file is of it:
 * the others were moved in by hand from another folder (stale, removed or kept
 * as such), not a sign that the folder's UIDVALIDITY changed. 0 when unknown. */
uint32_t sync_uidvalidity_on_disk(const struct maildir_view *v, uint32_t server)
{
	uint32_t uv = 0;
	for (size_t i = 0; i < v->n; i++) {
		if (v->files[i].uidvalidity && v->files[i].uidvalidity == server)
			return server;
		if (!uv)
			uv = v->files[i].uidvalidity;
	}
	return uv;
}

/* A state whose UIDVALIDITY is not the server's while the files on disk are
 * all of the server's: the state is another folder's (copied in by hand) or
 * damaged, not a sign that the folder changed its UIDVALIDITY. */
int sync_state_not_of_files(const struct maildir_view *v, const struct folder_state *st, uint32_t uidvalidity)
{
	int ours = 0;
	if (!st->uidvalidity || st->uidvalidity == uidvalidity)
		return 0;
	for (size_t i = 0; i < v->n; i++) {
		if (v->files[i].uidvalidity == st->uidvalidity)
			return 0;
		ours |= v->files[i].uidvalidity == uidvalidity;
	}
	return ours;
}

/* A folder new to the mirror: no directory, or one that only holds the
 * directories of its subfolders (made for a child synced before it). A folder
 * with any part of a Maildir, its state or a move mark is not. */
int sync_folder_is_new(const char *dir)
{
	static const char *const parts[] = { "cur", "new", "tmp", STATE_FILE, ASIDE_MARK };
	struct buf p = BUF_INIT;
	struct stat st;
	int fresh = 0;
	if (lstat(dir, &st) < 0) {
		fresh = errno == ENOENT;
		goto out;
	}
	if (!S_ISDIR(st.st_mode))
		goto out;
	fresh = 1;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]) && fresh; i++) {
		buf_reset(&p);
		buf_addf(&p, "%s/%s", dir, parts[i]);
		if (lstat(p.data, &st) == 0 || errno != ENOENT)
			fresh = 0;
	}
out:
	buf_free(&p);
	return fresh;
}

/* ---- the old copy of a folder whose UIDVALIDITY changed ---- */

/* Whether path exists (0), not (1), or cannot be told (-1, err set). */
static int path_absent(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(path, &st) == 0)
		return 0;
	if (errno == ENOENT)
		return 1;
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	return -1;
}

/* Whether none of the n parts is in dir: 1, 0 when one is, -1 (err set). */
static int parts_absent(const char *dir, const char *const *parts, size_t n, char *err, size_t errlen)
{
	struct buf p = BUF_INIT;
	int r = 1;
	for (size_t i = 0; i < n && r == 1; i++) {
		buf_reset(&p);
		buf_addf(&p, "%s/%s", dir, parts[i]);
		r = path_absent(p.data, err, errlen);
	}
	buf_free(&p);
	return r;
}

/* What was moved into dir (its state, cur/, new/, tmp/ and their files) made
 * private, once: a folder's file opened to others (a chmod, a reader's copy)
 * is put back only when the folder is next listed, which the old copy never
 * is. Only the directories on its way are looked at on later runs. */
static void aside_private(const char *dir)
{
	static const char *const sub[] = { "cur", "new", "tmp" };
	struct buf p = BUF_INIT;
	maildir_entries_private(dir);
	for (size_t i = 0; i < 3; i++) {
		buf_reset(&p);
		buf_addf(&p, "%s/%s", dir, sub[i]);
		maildir_entries_private(p.data);
	}
	buf_free(&p);
}

/* The copy in dir made private, the renames into it made durable, then its
 * mark removed (durably too), all before the state moves (move_aside_from). A
 * killed run's leftovers in its tmp/ (partial or unrenamed downloads,
 * nameless) are removed first, as they are from a folder's tmp/
 * (maildir_clean_tmp): no later run looks into a finished old copy, and they
 * stayed there for good; one that cannot be removed is a warning. A mark
 * already gone (removed before a split) is no error. */
static int aside_done(const char *dir, const char *mark, char *err, size_t errlen)
{
	char why[512];
	aside_private(dir);
	/* litter at worst: one that cannot go must not hold the folder back */
	if (maildir_clean_tmp(dir, why, sizeof(why)) < 0)
		log_warn("%s: %s (left in the old copy)", dir, why);
	if (maildir_fsync_dir(dir, err, errlen) < 0)
		return -1;
	if (unlink(mark) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", mark, strerror(errno));
		return -1;
	}
	return maildir_fsync_dir(dir, err, errlen);
}

/* Whether the move into TARGET (unmarked, holding some of the parts) was done
 * but for the state: a run killed between the mark's removal and the state's
 * rename leaves the state in the folder and none in TARGET, and nothing else
 * in the folder but the empty cur/, new/ and tmp/ a run makes before it looks
 * (removed here, as the move would). 1 when so, 0 when not, -1 with err. */
static int only_state_left(const struct folder_run *f, const char *target, char *err, size_t errlen)
{
	struct buf p = BUF_INIT;
	int r;
	buf_addf(&p, "%s/%s", target, STATE_FILE);
	if ((r = path_absent(p.data, err, errlen)) != 1)
		goto out;
	for (size_t i = 0; i < 3; i++) {
		buf_reset(&p);
		buf_addf(&p, "%s/%s", f->dir.data, aside_parts[i]);
		if (rmdir(p.data) < 0 && errno != ENOENT) {
			r = 0;
			goto out;
		}
	}
	buf_reset(&p);
	buf_addf(&p, "%s/%s", f->dir.data, STATE_FILE);
	r = path_absent(p.data, err, errlen);
	r = r < 0 ? -1 : !r;
out:
	buf_free(&p);
	return r;
}

/* The directory a folder's old copy goes to, <account>/.mailkeep/uidvalidity-
 * <old>[.k]/<rel> with k from FROM on (*FOUND): its path relative to the
 * account into REL, in full into TARGET, its ASIDE_MARK into MARK (buffers the
 * caller owns). 1 when a killed run's move is to be resumed there, 0 when it
 * is free, -1 with err. */
static int find_aside_dir(struct folder_run *f, uint32_t old_uv, unsigned from, unsigned *found, struct buf *rel,
			  struct buf *target, struct buf *mark, char *err, size_t errlen)
{
	int resume = 0, r = 0;
	unsigned k;
	for (k = from;; k++) {
		buf_reset(rel);
		buf_addf(rel, ".mailkeep/uidvalidity-%" PRIu32, old_uv);
		if (k)
			buf_addf(rel, ".%u", k);
		buf_addf(rel, "/%s", f->rel);
		buf_reset(target);
		buf_addf(target, "%s/%s", f->a->dir, rel->data);
		buf_reset(mark);
		buf_addf(mark, "%s/%s", target->data, ASIDE_MARK);
		if ((r = path_absent(target->data, err, errlen)) != 0)
			break;
		if ((r = path_absent(mark->data, err, errlen)) <= 0) {
			resume = r == 0;
			break;
		}
		/* made but not marked (a kill right after the mkdir), or only the
		 * parent of another folder's old copy: none of the parts, so free */
		if ((r = parts_absent(target->data, aside_parts, 4, err, errlen)) != 0)
			break;
		if ((r = only_state_left(f, target->data, err, errlen)) != 0) {
			resume = r > 0;
			break;
		}
	}
	*found = k;
	if (r < 0)
		return -1;
	return resume;
}

/* The directory TARGET (REL below the account) made and marked with MARK,
 * durably, before anything moves into it. 0, or -1 with err. */
static int mark_aside_dir(struct folder_run *f, const struct buf *rel, const struct buf *target,
			  const struct buf *mark, char *err, size_t errlen)
{
	int fd;
	if (maildir_mkdirs(f->a->dir, rel->data, err, errlen) < 0)
		return -1;
	if ((fd = open(mark->data, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600)) < 0 || fsync(fd) < 0) {
		snprintf(err, errlen, "%s: %s", mark->data, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	if (maildir_fsync_dir(target->data, err, errlen) < 0)
		return -1;
	return 0;
}

/* Move cur/new/tmp and the state of a folder whose UIDVALIDITY changed to
 * <account>/.mailkeep/uidvalidity-<old>[.k]/<rel>/: the directory a killed
 * run's move left (ASIDE_MARK in it, or the folder's state alone left to
 * move), else the first free one from k = from. The copy is finished
 * (aside_done) before the state moves, last: a run killed at any point leaves
 * the state in the folder or a finished copy, never an unfinished copy that
 * no run looks at again. A part found in both places (made again since the
 * kill, not empty) sends what is left to a fresh directory: split, nothing
 * lost. */
static int move_aside_from(struct folder_run *f, uint32_t old_uv, unsigned from, char *err, size_t errlen)
{
	struct buf target = BUF_INIT, src = BUF_INIT, dst = BUF_INIT, rel = BUF_INIT, mark = BUF_INIT;
	int rc = -1, resume, r;
	unsigned k;
	resume = find_aside_dir(f, old_uv, from, &k, &rel, &target, &mark, err, errlen);
	if (resume < 0)
		goto out;
	if (!resume && mark_aside_dir(f, &rel, &target, &mark, err, errlen) < 0)
		goto out;
	maildir_make_private_below(f->a->dir, rel.data); /* those made before, by an earlier move */
	for (size_t i = 0; i < 4; i++) {
		if (i == 3 && (maildir_fsync_dir(f->dir.data, err, errlen) < 0 ||
			       aside_done(target.data, mark.data, err, errlen) < 0))
			goto out;
		buf_reset(&src);
		buf_reset(&dst);
		buf_addf(&src, "%s/%s", f->dir.data, aside_parts[i]);
		buf_addf(&dst, "%s/%s", target.data, aside_parts[i]);
		if ((r = path_absent(dst.data, err, errlen)) < 0)
			goto out;
		if (r == 0) { /* moved by the killed run: here again only if made since */
			if (rmdir(src.data) == 0 || errno == ENOENT)
				continue;
			if (errno != ENOTEMPTY && errno != EEXIST && errno != ENOTDIR) {
				snprintf(err, errlen, "%s: rmdir: %s", src.data, strerror(errno));
				goto out;
			}
			/* what it holds stays, finished before the rest (the state
			 * with it) moves on: a run killed once the state is gone
			 * from the folder must find no unfinished copy left */
			if (aside_done(target.data, mark.data, err, errlen) < 0)
				goto out;
			rc = move_aside_from(f, old_uv, k + 1, err, errlen);
			goto out;
		}
		if (rename(src.data, dst.data) < 0 && errno != ENOENT) {
			snprintf(err, errlen, "%s: rename to %s: %s", src.data, dst.data, strerror(errno));
			goto out;
		}
	}
	maildir_entries_private(target.data); /* the state, as aside_done made the rest */
	if (maildir_fsync_dir(f->dir.data, err, errlen) < 0 || maildir_fsync_dir(target.data, err, errlen) < 0)
		goto out;
	log_warn("account %s: folder \"%s\": UIDVALIDITY changed (%" PRIu32 "); old copy kept in %s",
		 f->a->acct->name, f->name, old_uv, target.data);
	rc = 0;
out:
	buf_free(&target);
	buf_free(&src);
	buf_free(&dst);
	buf_free(&rel);
	buf_free(&mark);
	return rc;
}

int sync_move_aside(struct folder_run *f, uint32_t old_uv, char *err, size_t errlen)
{
	return move_aside_from(f, old_uv, 0, err, errlen);
}

int sync_aside_pending(struct folder_run *f, uint32_t old_uv, char *err, size_t errlen)
{
	struct buf target = BUF_INIT, rel = BUF_INIT, mark = BUF_INIT;
	unsigned k;
	int r = find_aside_dir(f, old_uv, 0, &k, &rel, &target, &mark, err, errlen);
	buf_free(&target);
	buf_free(&rel);
	buf_free(&mark);
	return r;
}
