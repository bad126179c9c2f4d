/* Sync runner, one folder: its directory read (or its state trusted) while the
 * server's view is learnt (sync_view.c), the plan applied (renames, removals),
 * the download (sync_fetch.c), the state handed to the end-of-run commit. */
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
#include "mailkeep/imap.h"
#include "mailkeep/log.h"
#include "mailkeep/maildir.h"
#include "mailkeep/plan.h"
#include "mailkeep/state.h"

#include "sync_folder.h"

void sync_folder_watch_set(struct folder_run *f)
{
	maildir_dir_mtimes(f->dir.data, &f->seen_cur, &f->seen_new);
}

void sync_folder_watch_check(struct folder_run *f)
{
	int64_t cur_ns, new_ns;
	maildir_dir_mtimes(f->dir.data, &cur_ns, &new_ns);
	if (cur_ns != f->seen_cur || new_ns != f->seen_new)
		f->disturbed = 1;
}

int sync_folder_is_selected(const struct folder_run *f)
{
	return imap_select_seq(f->a->imap) == f->seq;
}

int sync_folder_still_selected(const struct folder_run *f, char *err, size_t errlen)
{
	if (sync_folder_is_selected(f))
		return 1;
	snprintf(err, errlen, "the next folder is already selected; this one again");
	return 0;
}

/* A folder is read from its state for at most this long (seconds) before its
 * directory is read again, whatever its times say: a change they could not
 * show (docs/design.md) is found within a day. */
#define LIST_EVERY (24 * 3600)

/* So the next command's answers are not taken for its. */
void sync_folder_spec_drop(struct folder_run *f)
{
	if (f->spec_tag && f->a->imap)
		imap_uid_fetch_discard(f->a->imap, f->spec_tag);
	f->spec_tag = 0;
}

/* ---- folder ---- */

/* Left in a directory the old copy of a folder is moved into until the move
 * is done: a run killed in the middle of it, the next run finishes it there. */
#define ASIDE_MARK ".mailkeep-moving"

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

/* The renames into dir made durable, then its mark removed (durably too). */
static int aside_done(const char *dir, const char *mark, char *err, size_t errlen)
{
	if (maildir_fsync_dir(dir, err, errlen) < 0)
		return -1;
	if (unlink(mark) < 0) {
		snprintf(err, errlen, "%s: %s", mark, strerror(errno));
		return -1;
	}
	return maildir_fsync_dir(dir, err, errlen);
}

/* The state a folder starts a UIDVALIDITY with (no message), saved. Written
 * before any message of it lands on disk, and before a new or moved-aside
 * folder's cur/, new/ and tmp/ are made: a run killed in between leaves no
 * Maildir without a state, which the next run could not tell from one a
 * reader made, and would keep empty if the server deleted the folder
 * meanwhile (sync_check_orphan in sync_list.c). */
static int state_begin(struct folder_run *f, struct folder_state *st, uint32_t uidvalidity, uint64_t folder_id,
		       char *err, size_t errlen)
{
	state_clear_msgs(st);
	st->uidvalidity = uidvalidity;
	st->uidnext = 0;
	st->highestmodseq = 0;
	st->folder_id = folder_id;
	return state_save(f->dir.data, st, err, errlen);
}

/* Move cur/new/tmp and the state of a folder whose UIDVALIDITY changed to
 * <account>/.mailkeep/uidvalidity-<old>[.k]/<rel>/: the directory a killed
 * run's move left (ASIDE_MARK in it), else the first free one from k = from.
 * A part found in both places (made again since the kill, not empty) sends
 * what is left to a fresh directory: split, nothing lost. */
static int move_aside_from(struct folder_run *f, uint32_t old_uv, unsigned from, char *err, size_t errlen)
{
	static const char *const parts[] = { "cur", "new", "tmp", STATE_FILE };
	struct buf target = BUF_INIT, src = BUF_INIT, dst = BUF_INIT, rel = BUF_INIT, mark = BUF_INIT;
	int rc = -1, resume = 0, r = 0;
	unsigned k;
	for (k = from;; k++) {
		buf_reset(&rel);
		buf_addf(&rel, ".mailkeep/uidvalidity-%" PRIu32, old_uv);
		if (k)
			buf_addf(&rel, ".%u", k);
		buf_addf(&rel, "/%s", f->rel);
		buf_reset(&target);
		buf_addf(&target, "%s/%s", f->a->dir, rel.data);
		buf_reset(&mark);
		buf_addf(&mark, "%s/%s", target.data, ASIDE_MARK);
		if ((r = path_absent(target.data, err, errlen)) != 0)
			break;
		if ((r = path_absent(mark.data, err, errlen)) <= 0) {
			resume = r == 0;
			break;
		}
		/* made but not marked (a kill right after the mkdir), or only the
		 * parent of another folder's old copy: none of the parts, so free */
		if ((r = parts_absent(target.data, parts, 4, err, errlen)) != 0)
			break;
	}
	if (r < 0)
		goto out;
	if (!resume) {
		int fd;
		if (maildir_mkdirs(f->a->dir, rel.data, err, errlen) < 0)
			goto out;
		if ((fd = open(mark.data, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600)) < 0 || fsync(fd) < 0) {
			snprintf(err, errlen, "%s: %s", mark.data, strerror(errno));
			if (fd >= 0)
				close(fd);
			goto out;
		}
		close(fd);
		if (maildir_fsync_dir(target.data, err, errlen) < 0)
			goto out;
	}
	for (size_t i = 0; i < 4; i++) {
		buf_reset(&src);
		buf_reset(&dst);
		buf_addf(&src, "%s/%s", f->dir.data, parts[i]);
		buf_addf(&dst, "%s/%s", target.data, parts[i]);
		if ((r = path_absent(dst.data, err, errlen)) < 0)
			goto out;
		if (r == 0) { /* moved by the killed run: here again only if made since */
			if (rmdir(src.data) == 0 || errno == ENOENT)
				continue;
			if (errno != ENOTEMPTY && errno != EEXIST && errno != ENOTDIR) {
				snprintf(err, errlen, "%s: rmdir: %s", src.data, strerror(errno));
				goto out;
			}
			rc = move_aside_from(f, old_uv, k + 1, err, errlen);
			if (rc == 0) /* what it holds stays, finished */
				rc = aside_done(target.data, mark.data, err, errlen);
			goto out;
		}
		if (rename(src.data, dst.data) < 0 && errno != ENOENT) {
			snprintf(err, errlen, "%s: rename to %s: %s", src.data, dst.data, strerror(errno));
			goto out;
		}
	}
	if (maildir_fsync_dir(f->dir.data, err, errlen) < 0 || aside_done(target.data, mark.data, err, errlen) < 0)
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

static int move_aside(struct folder_run *f, uint32_t old_uv, char *err, size_t errlen)
{
	return move_aside_from(f, old_uv, 0, err, errlen);
}

/* Apply renames and removals from the plan. */
/* ---- reading a folder without listing it (docs/design.md) ---- */

/* The files of a folder as its state describes them: each message in cur/
 * under the name mailkeep gave it. Only for a trusted state (folder_trusted). */
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
static int folder_trusted(const struct folder_run *f, const struct folder_state *st)
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

/* A message file's mtime is its INTERNALDATE, which its name carries: one
 * changed since (touch, a reader's copy kept as the message) is put back; so
 * is its mode, 0600 (a chmod, a reader's copy made with its umask). */
static void mtime_as_named(struct folder_run *f, const char *name, int64_t date)
{
	struct stat sb;
	buf_reset(&f->rel_buf);
	buf_addf(&f->rel_buf, "%s/cur/%s", f->dir.data, name);
	if (lstat(f->rel_buf.data, &sb) < 0 || !S_ISREG(sb.st_mode))
		return;
	if ((sb.st_mode & 07777) != 0600 && chmod(f->rel_buf.data, 0600) < 0)
		log_debug("%s: %s: cannot make it private (0600): %s", f->name, name, strerror(errno));
	if ((int64_t)sb.st_mtim.tv_sec == date && sb.st_mtim.tv_nsec == 0)
		return;
	struct timespec ts[2] = { { .tv_sec = (time_t)date }, { .tv_sec = (time_t)date } };
	if (utimensat(AT_FDCWD, f->rel_buf.data, ts, AT_SYMLINK_NOFOLLOW) < 0)
		log_warn("%s: %s: cannot set its date back: %s", f->name, name, strerror(errno));
	else
		log_debug("%s: %s: modification time set back to the message's date", f->name, name);
}

/* For the plan: the date each message's file name starts with, as the state
 * (of the folder's UIDVALIDITY) recorded it, parallel to SV; STATE_NO_DATE
 * where it has none. Owned by the caller. */
static int64_t *state_dates(const struct server_view *sv, const struct folder_state *st)
{
	int64_t *d = xmalloc((sv->n ? sv->n : 1) * sizeof(*d));
	for (size_t i = 0, j = 0; i < sv->n; i++) {
		while (j < st->n && st->msgs[j].uid < sv->msgs[i].uid)
			j++;
		d[i] = j < st->n && st->msgs[j].uid == sv->msgs[i].uid ? st->msgs[j].date : STATE_NO_DATE;
	}
	return d;
}

/* After the plan: the name date of every message kept on disk, for the new
 * state. From the state when the view came from it; else from each file's name
 * as the plan leaves it, when that is exactly the name mailkeep would give it
 * and the message has a single file. Downloads set theirs as they land. */
static void note_dates(struct folder_run *f, const struct maildir_view *v, const struct plan *p,
		       const int64_t *name_dates)
{
	struct buf final = BUF_INIT;
	uint8_t *renamed;
	if (f->trusted) { /* the state's dates, as state_dates() read them for the plan */
		for (size_t i = 0; i < f->sv.n; i++)
			if (f->sv.present[i])
				f->sv.date[i] = name_dates[i];
		return;
	}
	renamed = xcalloc(v->n ? v->n : 1, 1);
	for (size_t i = 0; i < p->n_actions; i++)
		if (p->actions[i].op == PLAN_RENAME)
			renamed[p->actions[i].file] = 1;
	size_t standing = 0; /* files of this uid that may stand for it; SIZE_MAX: not counted yet */
	for (size_t k = 0, s = 0; k < v->n; k++) {
		const struct maildir_file *file = &v->files[k];
		if (k == 0 || v->files[k - 1].uid != file->uid) {
			s = k; /* [s, e): the files of this uid */
			standing = SIZE_MAX;
		}
		ssize_t idx = sync_sv_find(&f->sv, file->uid);
		if (idx < 0 || f->sv.present[idx] != 1 || (file->in_new && !renamed[k]))
			continue;
		/* Only a file that may stand for the message is named here: a file of
		 * another UIDVALIDITY or another message's (another date, left alone
		 * with deletions: keep) is never the one kept, and must not stop the
		 * kept file's date from being recorded (without it the next run could
		 * not tell them apart, and kept either). */
		int64_t want = name_dates[idx];
		if (!plan_file_stands(v, k, f->uidvalidity, want))
			continue;
		if (standing == SIZE_MAX) { /* once per uid: a pile of copies costs no more */
			standing = 0;
			for (size_t e = s; e < v->n && v->files[e].uid == file->uid; e++)
				standing += (size_t)plan_file_stands(v, e, f->uidvalidity, want);
		}
		if (standing > 1)
			continue; /* copies: the plan removes all but one; next run names it */
		const char *name = maildir_view_name(v, file);
		if (renamed[k]) {
			maildir_name_with_flags(&final, name, f->sv.msgs[idx].flags);
			name = final.data;
		}
		int64_t d;
		if (maildir_name_date(name, f->uidvalidity, file->uid, f->sv.msgs[idx].flags, &d) == 0) {
			f->sv.date[idx] = d;
			if (d > 0) /* 0 also stands for a date before 1970: not known */
				mtime_as_named(f, name, d);
		}
	}
	free(renamed);
	buf_free(&final);
}

/* Rename and remove as planned. 1 when a file to rename or remove is not there
 * (a name a view taken from the state had wrong, or a reader's rename or
 * removal since the check below), or the folder changed since it was read:
 * the caller reads the directory and plans again. 0, or -1. */
static int apply_plan(struct folder_run *f, const struct maildir_view *v, const struct plan *p,
		      char *err, size_t errlen)
{
	struct buf newname = BUF_INIT, a = BUF_INIT, b = BUF_INIT;
	int rc = 0;
	if (p->n_actions) {
		sync_folder_watch_check(f);
		if (f->disturbed) {
			/* Someone changed the folder since it was read: the plan may not
			 * fit its files any more (a reader's rename listed under both
			 * names has the plan remove the only copy). Read it again. */
			snprintf(err, errlen, "changed while it was being synced");
			return 1;
		}
	}
	for (size_t i = 0; i < p->n_actions && rc == 0; i++) {
		const struct plan_action *act = &p->actions[i];
		const struct maildir_file *file = &v->files[act->file];
		const char *name = maildir_view_name(v, file);
		buf_reset(&a);
		buf_addf(&a, "%s/%s/%s", f->rel, file->in_new ? "new" : "cur", name);
		if (file->in_new)
			f->touched_new = 1;
		if (act->op == PLAN_RENAME) {
			maildir_name_with_flags(&newname, name, act->flags);
			rc = maildir_rename(f->dir.data, file->in_new, name, newname.data, err, errlen);
			if (rc == 0) {
				f->done_renames++;
				buf_reset(&b);
				buf_addf(&b, "%s/cur/%s", f->rel, newname.data);
				sync_change(f->a, SYNC_CHANGE_RENAME, a.data, b.data);
			}
		} else {
			/* not there: removed by a reader (what the plan wanted), or
			 * renamed, and then still to be removed under its new name */
			rc = maildir_remove(f->dir.data, file->in_new, name, err, errlen);
			if (rc == 0) {
				f->done_removes++;
				sync_change(f->a, SYNC_CHANGE_REMOVE, a.data, NULL);
			}
		}
	}
	if (p->n_actions)
		sync_folder_watch_set(f);
	buf_free(&newname);
	buf_free(&a);
	buf_free(&b);
	return rc;
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
		f->seen_cur = f->st->cur_mtime_ns; /* what folder_trusted found */
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
static uint32_t uidvalidity_on_disk(const struct maildir_view *v, uint32_t server)
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
static int state_not_of_files(const struct maildir_view *v, const struct folder_state *st, uint32_t uidvalidity)
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

int sync_state_unchanged(const struct folder_state *st, const struct imap_status_info *status,
			 int64_t cur_ns, int64_t new_ns, enum deletions_mode deletions)
{
	/* a header-only load has no message lines but their count */
	uint64_t count = st->n ? st->n : st->declared > 0 ? (uint64_t)st->declared : 0;
	if (!status || !status->ok || !st->uidvalidity || !st->highestmodseq || !status->highestmodseq)
		return 0;
	/* kept files of expunged messages, now to be removed: only a listing finds them */
	if (st->kept && deletions == DELETIONS_MIRROR)
		return 0;
	/* listed again after it was gone (renamed away and back): the state must
	 * stop saying so, or the folder's real deletion later goes unwarned */
	if (st->orphaned)
		return 0;
	if (status->uidvalidity != st->uidvalidity || status->uidnext != st->uidnext ||
	    status->highestmodseq != st->highestmodseq || status->messages != count)
		return 0;
	/* listed at most LIST_EVERY ago: a change the directory times could not
	 * show is found within that (docs/design.md) */
	int64_t now = (int64_t)time(NULL);
	if (st->listed <= 0 || now - st->listed >= LIST_EVERY || now < st->listed)
		return 0;
	return cur_ns == st->cur_mtime_ns && new_ns == st->new_mtime_ns;
}

static int unchanged(const struct folder_run *f, const struct folder_state *st,
		     const struct imap_status_info *status)
{
	int64_t cur_ns, new_ns;
	if (!status || !status->ok || !maildir_has_tmp(f->dir.data))
		return 0;
	maildir_dir_mtimes(f->dir.data, &cur_ns, &new_ns);
	return sync_state_unchanged(st, status, cur_ns, new_ns, f->a->acct->deletions);
}

/* Listed, yet EXAMINE answers NO [NONEXISTENT] (RFC 5530), or NO saying the
 * folder "doesn't exist" after LIST-STATUS or STATUS gave it none: Dovecot's
 * Maildir++ keeps listing a deleted folder that has children, and drops the
 * code when QRESYNC parameters are given. */
static int examine_says_gone(const struct imap_refusal *r, const struct imap_status_info *status)
{
	return r->status == IMAP_STATUS_NO &&
	       (!strcasecmp(r->code, "NONEXISTENT") || (status && !status->ok && strcasestr(r->text, "n't exist")));
}

/* A folder new to the mirror: no directory, or one that only holds the
 * directories of its subfolders (made for a child synced before it). A folder
 * with any part of a Maildir, its state or a move mark is not. */
static int folder_is_new(const char *dir)
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

int sync_folder(struct account_run *a, const struct imap_mailbox *mb, const char *rel,
		       const struct imap_status_info *status, struct sync_folder_report *rep,
		       char *err, size_t errlen)
{
	enum flag_path path = PATH_FULL;
	struct folder_run f = { .a = a, .name = mb->utf8, .rel = rel,
				.expunges0 = a->imap ? imap_expunges(a->imap) : 0 };
	struct folder_state st = { 0 };
	struct maildir_view view = { 0 };
	struct plan plan = { 0 };
	struct imap_select_info info;
	int64_t *name_dates = NULL;
	char serr[512];
	int rc = -1;
	a->folder_done = 0;

	buf_addf(&f.dir, "%s/%s", a->dir, rel);
	/* The common case of a frequent run: the header of the state is enough. */
	if (state_load_header(f.dir.data, &st, serr, sizeof(serr)) == 0 && st.folder_id && state_is_of(&st, rel) &&
	    st.special == mb->special && unchanged(&f, &st, status)) {
		a->counts->folders_unchanged++;
		rep->how = sync_flag_path_names[PATH_SKIPPED];
		log_info("account %s: folder \"%s\": unchanged", a->acct->name, f.name);
		rc = 0;
		goto out;
	}
	state_free(&st);
	/* A folder new to the mirror gets its Maildir once EXAMINE succeeded:
	 * Cyrus and Dovecot list a shared folder with the lookup right only and
	 * refuse to open it on every run, also when it is the parent of one
	 * that can be read; an empty Maildir for it would be pushed. */
	int fresh = folder_is_new(f.dir.data);
	if (!fresh && (maildir_mkdirs(a->dir, rel, err, errlen) < 0 || maildir_create(f.dir.data, err, errlen) < 0))
		goto out;
	if (state_load(f.dir.data, &st, serr, sizeof(serr)) < 0) {
		log_warn("account %s: folder \"%s\": %s; rebuilding the state from the files",
			 a->acct->name, f.name, serr);
		memset(&st, 0, sizeof(st));
	}
	uint64_t foreign_id = 0; /* the state was another folder's: its record */
	if (!state_is_of(&st, rel)) {
		/* the directory was moved or copied here by hand, its state with it */
		log_warn("account %s: folder \"%s\": the state is another folder's (its directory moved or "
			 "copied in by hand); rebuilding it from the files and the server's dates",
			 a->acct->name, f.name);
		foreign_id = st.folder_id;
		state_free(&st);
	}
	if (unchanged(&f, &st, status)) {
		rep->how = sync_flag_path_names[PATH_SKIPPED];
		/* learnt SPECIAL-USE (for push), or a state from before the count
		 * line or the folder line (written once, then the header suffices) */
		if (st.special != mb->special || st.declared < 0 || !st.folder_id) {
			int learnt = st.special != mb->special;
			st.special = mb->special;
			st.folder_id = state_folder_id(rel);
			if (state_save(f.dir.data, &st, err, errlen) < 0) {
				if (learnt)
					goto out; /* failed, not also unchanged */
				/* only the older format: the folder is unchanged all the
				 * same (a full disk, a read-only directory); the next run
				 * tries again */
				log_warn("account %s: folder \"%s\": %s; the state keeps its older format",
					 a->acct->name, f.name, err);
			}
		}
		a->counts->folders_unchanged++;
		log_info("account %s: folder \"%s\": unchanged", a->acct->name, f.name);
		rc = 0;
		goto out;
	}
	f.view = &view;
	f.st = &st;
	f.trusted = folder_trusted(&f, &st);
	f.want_dates = !fresh && st.n == 0;
	log_debug("%s: state loaded (%zu messages%s)", f.name, st.n, f.trusted ? ", files as recorded" : "");
	rc = sync_server_view(&f, mb, &st, status, &info, &path, err, errlen);
	log_debug("%s: server view (%s): %zu messages", f.name, sync_flag_path_names[path], f.sv.n);
	if (rc == IMAP_ERR_NO && examine_says_gone(&info.refused, status))
		rc = SYNC_ERR_GONE;
	if (rc < 0)
		goto out;
	rc = -1;
	if (fresh) {
		/* scanned while EXAMINE was answered: an empty view, as the new directory
		 * is; its state goes in before cur/, new/ and tmp/ (state_begin) */
		if (maildir_mkdirs(a->dir, rel, err, errlen) < 0 ||
		    state_begin(&f, &st, info.uidvalidity, state_folder_id(rel), err, errlen) < 0 ||
		    maildir_create(f.dir.data, err, errlen) < 0)
			goto out;
		sync_folder_watch_set(&f);
	}
	f.uidvalidity = info.uidvalidity;
	sync_folder_scan_dir(&f);
	if (f.scan_rc < 0) {
		snprintf(err, errlen, "%s", f.scan_err);
		goto out;
	}
	if (!f.trusted && state_not_of_files(&view, &st, info.uidvalidity)) {
		log_warn("account %s: folder \"%s\": the state is of UIDVALIDITY %" PRIu32 ", the files of %" PRIu32
			 " (the server's); rebuilding the state from the files", a->acct->name, f.name,
			 st.uidvalidity, info.uidvalidity);
		state_free(&st);
	}
	uint32_t old_uv = st.uidvalidity ? st.uidvalidity : uidvalidity_on_disk(&view, info.uidvalidity);
	/* nothing of the old UIDVALIDITY to keep (Courier gives a folder that never held a
	 * message a new UIDVALIDITY in every session): adopt the new one silently */
	int nothing_kept = st.n == 0 && view.n == 0 && view.foreign == 0;
	if (old_uv && old_uv != info.uidvalidity && !nothing_kept) {
		maildir_view_free(&view);
		state_free(&st);
		/* the new state before the new cur/, new/ and tmp/, as for a new folder */
		if (move_aside(&f, old_uv, err, errlen) < 0 ||
		    state_begin(&f, &st, info.uidvalidity, foreign_id ? foreign_id : state_folder_id(rel), err,
				errlen) < 0 ||
		    maildir_create(f.dir.data, err, errlen) < 0)
			goto out;
		f.trusted = 0;
		f.disturbed = 0;
		sync_folder_watch_set(&f);
		if (maildir_scan(f.dir.data, &view, err, errlen) < 0)
			goto out;
	}
	if (maildir_clean_tmp(f.dir.data, err, errlen) < 0)
		goto out;
	state_discard_temp(f.dir.data);
	/* Record the UIDVALIDITY before any message of it lands on disk. Rebuilt
	 * from another folder's state: still not this folder's until the run ends
	 * (push must not take the other folder's files still here for this one's;
	 * the next sync rebuilds it again). */
	if (st.uidvalidity != info.uidvalidity &&
	    state_begin(&f, &st, info.uidvalidity, foreign_id ? foreign_id : state_folder_id(rel), err, errlen) < 0)
		goto out;
	sync_sv_normalise(&f.sv);
	name_dates = state_dates(&f.sv, &st);
	/* no state, or one the server went back from: the server's dates (a name says 0 before 1970) */
	if ((!st.n || f.server_dates) && f.sv.idate) {
		int64_t now = (int64_t)time(NULL);
		for (size_t i = 0; i < f.sv.n; i++)
			/* Dovecot keeps INTERNALDATE as an unsigned 32-bit number: a date
			 * before 1970 (named 0 by its first download) comes back as one
			 * after 2038. A date ahead of now is not compared with the name. */
			if (f.sv.idate[i] != INT64_MIN && f.sv.idate[i] <= now + 86400)
				name_dates[i] = f.sv.idate[i] < 0 ? 0 : f.sv.idate[i];
	}
	plan_folder(&view, info.uidvalidity, f.sv.msgs, name_dates, f.sv.n, a->acct->deletions, &plan);
	if (!plan.n_fetch && !f.spec_tag)
		sync_prefetch_next(&f); /* no command left for this folder */
	int arc = apply_plan(&f, &view, &plan, err, errlen);
	if (arc > 0) {
		log_info("account %s: folder \"%s\": %s; reading the folder", f.a->acct->name, f.name, err);
		f.trusted = 0;
		f.disturbed = 0; /* the listing below sees whatever happened */
		maildir_view_free(&view);
		plan_free(&plan);
		sync_folder_watch_set(&f);
		if (maildir_scan(f.dir.data, &view, err, errlen) < 0)
			goto out;
		plan_folder(&view, info.uidvalidity, f.sv.msgs, name_dates, f.sv.n, a->acct->deletions, &plan);
		arc = apply_plan(&f, &view, &plan, err, errlen);
		if (arc > 0) /* changed again: nothing is done to it this run */
			snprintf(err, errlen, "the folder changed again while it was being synced; the next run "
				 "syncs it");
	}
	if (arc != 0)
		goto out;
	log_debug("%s: plan applied: %zu renames, %zu removals, %zu to fetch", f.name, f.done_renames,
		  f.done_removes, plan.n_fetch);
	/* everything the plan did not ask to fetch and that the server has is on disk */
	for (size_t i = 0; i < f.sv.n; i++)
		f.sv.present[i] = !sync_fetch_wanted(&plan, f.sv.msgs[i].uid);
	note_dates(&f, &view, &plan, name_dates);
	f.plan = &plan;
	if (plan.n_fetch && a->acct->gmail_dedupe && (imap_caps(a->imap) & IMAP_CAP_X_GM_EXT_1)) {
		buf_addf(&f.store, "%s/.mailkeep/gmail", a->dir);
		/* made below the account directory, a symbolic link refused */
		if (maildir_mkdirs(a->dir, ".mailkeep/gmail", serr, sizeof(serr)) == 0)
			f.gmail = 1;
		else
			log_warn("account %s: %s; Gmail copies not shared", a->acct->name, serr);
	}
	if (plan.n_fetch || f.spec_tag) {
		rc = sync_fetch_download(&f, err, errlen);
		if (rc < 0)
			goto out;
		rc = -1;
	}
	/* durability: the renames and removals on disk before the state that records
	 * them (a download's last flush already fsynced cur/ after them) */
	struct buf sub = BUF_INIT;
	int frc = 0;
	buf_addf(&sub, "%s/cur", f.dir.data);
	if ((f.done_renames || f.done_removes || f.linked) && !f.flushes && !a->commits)
		frc = maildir_fsync_dir(sub.data, err, errlen);
	buf_reset(&sub);
	buf_addf(&sub, "%s/new", f.dir.data);
	if (frc == 0 && f.touched_new && !a->commits)
		frc = maildir_fsync_dir(sub.data, err, errlen);
	buf_free(&sub);
	if (frc < 0)
		goto out;
	struct folder_state nst = { .uidvalidity = info.uidvalidity, .highestmodseq = info.highestmodseq,
				    .special = mb->special, .listed = st.listed,
				    .folder_id = state_folder_id(rel),
				    .kept = a->acct->deletions == DELETIONS_KEEP };
	uint32_t max_uid = 0;
	for (size_t i = 0; i < f.sv.n; i++) {
		if (!f.sv.present[i])
			continue;
		state_add(&nst, f.sv.msgs[i].uid, f.sv.msgs[i].flags, f.sv.date[i], f.sv.keywords[i]);
		max_uid = f.sv.msgs[i].uid;
	}
	nst.uidnext = info.uidnext > max_uid ? info.uidnext : max_uid + 1;
	/* the times just checked, not read again: a change in between would be
	 * recorded as seen */
	sync_folder_watch_check(&f);
	nst.cur_mtime_ns = f.seen_cur;
	nst.new_mtime_ns = f.seen_new;
	/* When the folder was listed (not read from its state), say so: at once
	 * when the state changes anyway, else twice a day at most (an unchanged
	 * state is not rewritten). Someone else's change during the run: the next
	 * run lists the folder. */
	int64_t now = (int64_t)time(NULL);
	if (!f.trusted && (!state_equal(&st, &nst) || now - st.listed >= LIST_EVERY / 2 || now < st.listed))
		nst.listed = now;
	if (f.disturbed) {
		log_debug("%s: changed by someone else during the run; listed next time", f.name);
		nst.listed = 0;
	}
	/* an unchanged state is not rewritten: a no-op run touches nothing */
	if (state_equal(&st, &nst) && !f.n_deferred)
		frc = 0;
	else if (!a->commits)
		frc = state_save(f.dir.data, &nst, err, errlen);
	else {
		frc = 0;
		sync_commit_later(a->commits, f.dir.data, &nst, f.deferred, f.n_deferred);
		f.deferred = NULL;
		f.n_deferred = 0;
	}
	state_free(&nst);
	if (frc < 0)
		goto out;
	/* Its files and state are the commit's now: another attempt of the folder
	 * in this run would clean tmp/ under them (a retry after throttling) */
	a->folder_done = 1;

	log_debug("%s: done", f.name);
	size_t missing = 0;
	const struct bodyless *first_bodyless = NULL;
	for (size_t i = 0; i < f.sv.n; i++)
		missing += !f.sv.present[i];
	size_t bodyless = sync_fetch_unmirrored(&f, &first_bodyless);
	rep->how = sync_flag_path_names[path];
	rep->added = f.added;
	rep->bytes = f.bytes;
	rep->renamed = f.done_renames;
	rep->removed = f.done_removes;
	rep->kept = plan.n_kept;
	a->counts->added += f.added;
	a->counts->bytes += f.bytes;
	a->counts->renamed += f.done_renames;
	a->counts->removed += f.done_removes;
	a->counts->kept += plan.n_kept;
	if (f.linked)
		log_info("account %s: folder \"%s\": %" PRIu64 " of the new messages linked to copies "
			 "in other folders (X-GM-MSGID)", a->acct->name, f.name, f.linked);
	log_info("account %s: folder \"%s\" (%s): %" PRIu64 " new, %zu flag changes, %zu removed%s",
		 a->acct->name, f.name, sync_flag_path_names[path], f.added, f.done_renames, f.done_removes,
		 missing > bodyless ? " (some messages vanished during the run)" : "");
	rc = 0;
	if (bodyless) { /* the next run asks again; this one did not mirror them */
		snprintf(err, errlen, "the server answered UID %" PRIu32 "%s %s; not mirrored",
			 first_bodyless->uid, bodyless > 1 ? " and others" : "",
			 first_bodyless->why == BODY_PARTIAL ?
			 "with a partial body (BODY[]<0>) that its RFC822.SIZE does not show whole" :
			 first_bodyless->why == BODY_ODD_SIZE ?
			 "with a body not of its RFC822.SIZE while other messages asked for did not come back "
			 "(a literal that took the next answer in?)" :
			 "without the body asked for");
		rc = IMAP_ERR_NO;
	}
out:
	free(name_dates);
	sync_fetch_cleanup(&f);
	/* the folder failed after its download: its last batch is kept all the
	 * same, once durable (else removed: the next run downloads it again) */
	int durable = 1;
	if (f.n_deferred && maildir_sync_fs(f.dir.data, serr, sizeof(serr)) < 0) {
		log_warn("%s", serr);
		durable = 0;
	}
	for (size_t i = 0; i < f.n_deferred; i++) {
		if (!durable || rename(f.deferred[i].tmp_path, f.deferred[i].cur_path) < 0)
			unlink(f.deferred[i].tmp_path);
		free(f.deferred[i].tmp_path);
		free(f.deferred[i].cur_path);
	}
	free(f.deferred);
	sync_folder_spec_drop(&f);
	buf_free(&f.spec_set);
	free(f.gm);
	buf_free(&f.store);
	plan_free(&plan);
	maildir_view_free(&view);
	state_free(&st);
	sync_sv_free(&f.sv);
	buf_free(&f.dir);
	buf_free(&f.name_buf);
	buf_free(&f.rel_buf);
	return rc;
}
