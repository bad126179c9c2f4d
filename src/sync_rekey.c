/* Sync runner, one folder: the re-key of a folder whose UIDVALIDITY changed
 * while its messages stayed (docs/design.md, "Sync of a folder", step 2): its
 * files renamed to the new UIDVALIDITY and UIDs instead of moved aside and
 * downloaded again, recorded first (<folder>/.mailkeep-rekey) so that a run
 * killed in the middle is finished by the next one from the record and the
 * state alone. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailkeep/buf.h"
#include "mailkeep/imap.h"
#include "mailkeep/log.h"
#include "mailkeep/maildir.h"
#include "mailkeep/rekey.h"
#include "mailkeep/state.h"

#include "sync_folder.h"

#define LISTING_ITEMS "(UID INTERNALDATE RFC822.SIZE)"
/* a record holds at most 2^22 pairs of two 10-digit UIDs */
#define RECORD_MAX ((size_t)96 << 20)

/* The size of the file at PATH with each LF counted as CRLF (the server's
 * RFC822.SIZE of the message it holds), or UINT64_MAX when it is not a
 * regular file that can be read. */
static uint64_t crlf_size(const char *path)
{
	char b[65536];
	uint64_t size = 0;
	ssize_t got;
	struct stat sb;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return UINT64_MAX;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return UINT64_MAX;
	}
	while ((got = read(fd, b, sizeof(b))) > 0) {
		size += (uint64_t)got;
		for (const char *p = b; (p = memchr(p, '\n', (size_t)(b + got - p))) != NULL; p++)
			size++;
	}
	close(fd);
	return got < 0 ? UINT64_MAX : size;
}

/* The state's messages with their files' sizes, when VIEW holds exactly one
 * file of each, in cur/ under the name mailkeep gives it, and nothing else
 * (no other program's file, no file of another UID or UIDVALIDITY): the
 * caller's to free; else NULL (the folder is moved aside). */
static struct rekey_local *local_messages(const struct folder_run *f, const struct folder_state *st,
					  const struct maildir_view *view)
{
	struct buf name = BUF_INIT, path = BUF_INIT;
	struct rekey_local *l = NULL;
	if (view->foreign || view->n != st->n || !st->n || !state_names_known(st))
		return NULL;
	l = xmalloc(st->n * sizeof(*l));
	for (size_t i = 0; i < st->n; i++) {
		const struct maildir_file *file = &view->files[i];
		const struct state_msg *m = &st->msgs[i];
		maildir_canonical_name(&name, m->date, st->uidvalidity, m->uid, m->flags);
		if (file->uid != m->uid || file->uidvalidity != st->uidvalidity || file->in_new ||
		    strcmp(maildir_view_name(view, file), name.data)) {
			free(l);
			l = NULL;
			break;
		}
		buf_reset(&path);
		buf_addf(&path, "%s/cur/%s", f->dir.data, name.data);
		l[i] = (struct rekey_local){ m->uid, m->date, crlf_size(path.data) };
	}
	buf_free(&name);
	buf_free(&path);
	return l;
}

struct listing {
	struct rekey_server *m;
	size_t n, cap, limit;
	int overflow;
};

static int on_listed(void *ctx, const struct imap_msg *msg, char *err, size_t errlen)
{
	struct listing *ls = ctx;
	if (msg->internaldate == INT64_MIN && msg->rfc822_size == UINT64_MAX)
		return 0; /* a flag change told on its own */
	if (ls->n && ls->m[ls->n - 1].uid == msg->uid) { /* its items split over two answers */
		struct rekey_server *s = &ls->m[ls->n - 1];
		if (msg->internaldate != INT64_MIN)
			s->internaldate = msg->internaldate;
		if (msg->rfc822_size != UINT64_MAX)
			s->size = msg->rfc822_size;
		return 0;
	}
	if (ls->n >= ls->limit) { /* more than the mailbox holds: no match, memory bounded */
		ls->overflow = 1;
		return 0;
	}
	if (ls->n == ls->cap) {
		ls->cap = ls->cap ? ls->cap * 2 : 256;
		ls->m = xrealloc(ls->m, ls->cap * sizeof(*ls->m));
	}
	ls->m[ls->n++] = (struct rekey_server){ msg->uid, msg->internaldate, msg->rfc822_size };
	return 0;
}

/* After <dir>/<cur|new>/OLD was renamed to <dir>/cur/NEW_NAME: OLD removed
 * when it is still there as a link of NEW_NAME's file, as a mail reader killed
 * while it moved a file from new/ to cur/ by link() and unlink() leaves it
 * (rename(2) of two links of one file does nothing, POSIX). 0, or -1 with err. */
static int drop_old_link(const char *dir, int in_new, const char *old, const char *new_name, char *err,
			 size_t errlen)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	struct stat sa, sb;
	int rc = 0;
	buf_addf(&a, "%s/%s/%s", dir, in_new ? "new" : "cur", old);
	buf_addf(&b, "%s/cur/%s", dir, new_name);
	if (lstat(a.data, &sa) == 0 && lstat(b.data, &sb) == 0 && sa.st_dev == sb.st_dev &&
	    sa.st_ino == sb.st_ino && unlink(a.data) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "%s: unlink: %s", a.data, strerror(errno));
		rc = -1;
	}
	buf_free(&a);
	buf_free(&b);
	return rc;
}

/* The files of message I of PLAN in VIEW (from *K on, which moves past them:
 * ascending UIDs) of its old UIDVALIDITY and UID, named with DATE, renamed to
 * the new UIDVALIDITY and UID, each keeping its flags (reported as a change;
 * *RENAMED_NEW set for one in new/): the file of the state's name, or the
 * one a mail reader renamed meanwhile, and every copy a reader made of it
 * (two copies with the same flags get one name: the second replaces the
 * first, a copy as the plan would remove; step 4 keeps one of the rest). A
 * link of a file renamed before it is removed (drop_old_link). A file with
 * another date is another message's, left to the plan. None: the
 * killed run this finishes renamed it. 0, or -1 with err (a file renamed
 * since the scan: the record stays, the next run finishes). */
static int rename_files(struct folder_run *f, const struct maildir_view *view, size_t *k,
			const struct rekey_plan *plan, size_t i, int64_t date, int *renamed_new, char *err,
			size_t errlen)
{
	struct buf name = BUF_INIT, old_rel = BUF_INIT, new_rel = BUF_INIT;
	uint32_t uid = plan->pairs[i].old_uid;
	int rc = 0;
	while (*k < view->n && view->files[*k].uid < uid)
		(*k)++;
	for (; rc == 0 && *k < view->n && view->files[*k].uid == uid; (*k)++) {
		const struct maildir_file *file = &view->files[*k];
		const char *old = maildir_view_name(view, file);
		int64_t named;
		if (file->uidvalidity != plan->old_uidvalidity || maildir_name_leading_date(old, &named) < 0 ||
		    named != date)
			continue;
		maildir_canonical_name(&name, date, plan->new_uidvalidity, plan->pairs[i].new_uid, file->flags);
		if (maildir_rename(f->dir.data, file->in_new, old, name.data, err, errlen) != 0 ||
		    drop_old_link(f->dir.data, file->in_new, old, name.data, err, errlen) < 0) {
			rc = -1;
			break;
		}
		buf_reset(&old_rel);
		buf_addf(&old_rel, "%s/%s/%s", f->rel, file->in_new ? "new" : "cur", old);
		buf_reset(&new_rel);
		buf_addf(&new_rel, "%s/cur/%s", f->rel, name.data);
		sync_change(f->a, SYNC_CHANGE_RENAME, old_rel.data, new_rel.data);
		*renamed_new |= file->in_new;
	}
	buf_free(&name);
	buf_free(&old_rel);
	buf_free(&new_rel);
	return rc;
}

/* The renames of PLAN made in f's cur/ and new/ (rename_files), cur/ (and
 * new/) synced, the state (ST, of the old UIDVALIDITY, holding exactly PLAN's
 * old UIDs) re-keyed and saved, the record removed and the folder synced. 0
 * and *ST the state as saved (the old one freed), or -1 with err (*ST
 * unchanged). */
static int finish(struct folder_run *f, struct folder_state *st, const struct rekey_plan *plan, char *err,
		  size_t errlen)
{
	const char *dir = f->dir.data;
	struct buf path = BUF_INIT;
	struct folder_state nst = *st;
	struct maildir_view view = { 0 };
	int rc = -1, renamed_new = 0;
	size_t k = 0;
	/* the header copied; the messages and their keyword sets are nst's own */
	nst.msgs = NULL;
	nst.n = nst.cap = 0;
	nst.kw = (struct kwset)KWSET_INIT;
	if (maildir_scan(dir, &view, err, errlen) < 0)
		goto out;
	for (size_t i = 0; i < plan->n; i++) {
		const struct state_msg *m = &st->msgs[i];
		if (rename_files(f, &view, &k, plan, i, m->date, &renamed_new, err, errlen) < 0)
			goto out;
		state_add(&nst, plan->pairs[i].new_uid, m->flags, m->date, m->keywords);
	}
	buf_reset(&path);
	buf_addf(&path, "%s/cur", dir);
	if (maildir_fsync_dir(path.data, err, errlen) < 0)
		goto out;
	buf_reset(&path);
	buf_addf(&path, "%s/new", dir);
	if (renamed_new && maildir_fsync_dir(path.data, err, errlen) < 0)
		goto out;
	nst.uidvalidity = plan->new_uidvalidity;
	nst.uidnext = plan->uidnext > plan->pairs[plan->n - 1].new_uid ? plan->uidnext :
		plan->pairs[plan->n - 1].new_uid + 1;
	nst.highestmodseq = 0; /* the flags compared in full next */
	nst.cur_mtime_ns = nst.new_mtime_ns = 0;
	nst.listed = 0;
	if (state_save(dir, &nst, err, errlen) < 0)
		goto out;
	buf_reset(&path);
	buf_addf(&path, "%s/%s", dir, REKEY_FILE);
	if (unlink(path.data) < 0) {
		snprintf(err, errlen, "%s: %s", path.data, strerror(errno));
		goto out;
	}
	if (maildir_fsync_dir(dir, err, errlen) < 0)
		goto out;
	state_free(st);
	*st = nst; /* moved: the caller's from here */
	memset(&nst, 0, sizeof(nst));
	rc = 0;
out:
	state_free(&nst); /* its own messages and keyword sets, unless moved */
	maildir_view_free(&view);
	buf_free(&path);
	return rc;
}

/* Does the state hold exactly the record's old UIDs, each with its file's date? */
static int state_fits(const struct folder_state *st, const struct rekey_plan *plan)
{
	if (st->n != plan->n || st->uidvalidity != plan->old_uidvalidity || !state_names_known(st))
		return 0;
	for (size_t i = 0; i < st->n; i++)
		if (st->msgs[i].uid != plan->pairs[i].old_uid)
			return 0;
	return 1;
}

/* The record at PATH read into PLAN: 0; 1 when there is none; 2 (err says
 * why) when it cannot be read or is malformed. */
static int read_record(const char *path, struct rekey_plan *plan, char *err, size_t errlen)
{
	struct buf data = BUF_INIT;
	int rc = 2;
	if (maildir_read_file(path, RECORD_MAX, 0, &data) < 0) {
		if (errno == ENOENT || errno == ENOTDIR) /* none, or a folder new to the mirror */
			rc = 1;
		else
			snprintf(err, errlen, "%s", errno == EINVAL || errno == EFBIG ?
				 "not a regular file of a record's size" : strerror(errno));
		goto out;
	}
	rc = rekey_parse(data.data ? data.data : "", data.len, plan, err, errlen) < 0 ? 2 : 0;
out:
	buf_free(&data);
	return rc;
}

int sync_rekey_resume(struct folder_run *f, char *err, size_t errlen)
{
	struct account_run *a = f->a;
	struct buf path = BUF_INIT;
	struct rekey_plan plan = { 0 };
	struct folder_state st = { 0 };
	char why[512];
	int rc = 0;
	buf_addf(&path, "%s/%s", f->dir.data, REKEY_FILE);
	int r = read_record(path.data, &plan, why, sizeof(why));
	if (r == 1)
		goto out;
	if (r == 0 && state_load(f->dir.data, &st, why, sizeof(why)) == 0 && st.uidvalidity == plan.new_uidvalidity) {
		/* killed once the re-keyed state was saved: only the record is left */
		if (unlink(path.data) < 0) {
			snprintf(err, errlen, "%s: %s", path.data, strerror(errno));
			rc = -1;
		} else
			rc = maildir_fsync_dir(f->dir.data, err, errlen);
		goto out;
	}
	if (r == 0 && state_fits(&st, &plan)) {
		rc = finish(f, &st, &plan, err, errlen);
		if (rc == 0)
			log_info("account %s: folder \"%s\": re-keyed %zu messages to UIDVALIDITY %" PRIu32
				 " (a killed run's re-key finished)", a->acct->name, f->name, plan.n,
				 plan.new_uidvalidity);
		goto out;
	}
	if (r == 0)
		snprintf(why, sizeof(why), "it is not of the folder's state");
	log_warn("account %s: folder \"%s\": %s: %s; removed", a->acct->name, f->name, path.data, why);
	if (unlink(path.data) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", path.data, strerror(errno));
		rc = -1;
	}
out:
	rekey_plan_free(&plan);
	state_free(&st);
	buf_free(&path);
	return rc;
}

/* The server's messages (LS, ascending UIDs by the matcher's check) are those
 * of the flag listing f->sv: the same UIDs. */
static int same_uids(struct folder_run *f, const struct listing *ls)
{
	sync_sv_normalise(&f->sv);
	if (f->sv.n != ls->n)
		return 0;
	for (size_t i = 0; i < ls->n; i++)
		if (f->sv.msgs[i].uid != ls->m[i].uid)
			return 0;
	return 1;
}

int sync_rekey_try(struct folder_run *f, struct folder_state *st, const struct maildir_view *view,
		   const struct imap_select_info *info, int *done, char *err, size_t errlen)
{
	struct account_run *a = f->a;
	struct listing ls = { .limit = (size_t)imap_exists(a->imap) };
	struct imap_fetch_cb cb = { NULL, NULL, on_listed, &ls };
	struct rekey_plan plan = { .old_uidvalidity = st->uidvalidity, .new_uidvalidity = info->uidvalidity,
				   .uidnext = info->uidnext };
	struct buf record = BUF_INIT, path = BUF_INIT;
	char why[512];
	int rc = 0;
	*done = 0;
	struct rekey_local *local = local_messages(f, st, view);
	if (!local || !info->exists || !sync_folder_is_selected(f))
		goto out;
	sync_folder_spec_drop(f); /* asked for under the old UIDVALIDITY's UIDNEXT */
	rc = imap_uid_fetch(a->imap, "1:*", LISTING_ITEMS, &cb, why, sizeof(why));
	if (rc == IMAP_ERR_NO) {
		log_info("account %s: folder \"%s\": %s; not re-keyed", a->acct->name, f->name, why);
		rc = 0;
		goto out;
	}
	if (rc < 0) {
		snprintf(err, errlen, "%s", why);
		goto out;
	}
	int same = 0;
	if (ls.overflow)
		snprintf(why, sizeof(why), "more than the mailbox holds");
	else if (rekey_match(local, st->n, ls.m, ls.n, &plan.pairs, why, sizeof(why)) == 0 &&
		 !(same = same_uids(f, &ls)))
		snprintf(why, sizeof(why), "the flag listing has other UIDs");
	if (!same) { /* no error: the old copy is moved aside, the folder downloaded */
		log_info("account %s: folder \"%s\": UIDVALIDITY %" PRIu32 " to %" PRIu32 ", not the same "
			 "messages (%s); moved aside", a->acct->name, f->name, st->uidvalidity, info->uidvalidity, why);
		goto out;
	}
	plan.n = st->n;
	rekey_format(&record, &plan);
	buf_addf(&path, "%s/%s", f->dir.data, REKEY_FILE);
	rc = IMAP_ERR_LOCAL;
	if (maildir_write_file_atomic(path.data, record.data, record.len, err, errlen) < 0 ||
	    finish(f, st, &plan, err, errlen) < 0)
		goto out;
	rc = 0;
	*done = 1;
	log_info("account %s: folder \"%s\": re-keyed %zu messages to UIDVALIDITY %" PRIu32 " (was %" PRIu32
		 "); none downloaded again", a->acct->name, f->name, plan.n, plan.new_uidvalidity,
		 plan.old_uidvalidity);
out:
	free(local);
	free(ls.m);
	rekey_plan_free(&plan);
	buf_free(&record);
	buf_free(&path);
	return rc;
}
