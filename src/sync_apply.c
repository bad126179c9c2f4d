/* Sync runner, one folder's plan applied to its directory: the renames and
 * removals, then the name date of every message kept on disk (its file's mtime
 * and mode put back), for the new state. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "mailkeep/buf.h"
#include "mailkeep/log.h"
#include "mailkeep/maildir.h"
#include "mailkeep/plan.h"
#include "mailkeep/state.h"

#include "sync_folder.h"

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
int64_t *sync_state_dates(const struct server_view *sv, const struct folder_state *st)
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
void sync_note_dates(struct folder_run *f, const struct maildir_view *v, const struct plan *p,
		     const int64_t *name_dates)
{
	struct buf final = BUF_INIT;
	enum { KEPT, RENAMED, REMOVED };
	uint8_t *fate; /* what the plan (applied) did to each file of the view */
	if (f->trusted) { /* the state's dates, as sync_state_dates() read them for the plan */
		for (size_t i = 0; i < f->sv.n; i++)
			if (f->sv.present[i])
				f->sv.date[i] = name_dates[i];
		return;
	}
	fate = xcalloc(v->n ? v->n : 1, 1); /* KEPT */
	for (size_t i = 0; i < p->n_actions; i++)
		if (p->actions[i].op == PLAN_RENAME)
			fate[p->actions[i].file] = RENAMED;
		else if (p->actions[i].op == PLAN_REMOVE)
			fate[p->actions[i].file] = REMOVED;
	size_t standing = 0; /* files of this uid that may stand for it; SIZE_MAX: not counted yet */
	for (size_t k = 0, s = 0; k < v->n; k++) {
		const struct maildir_file *file = &v->files[k];
		if (k == 0 || v->files[k - 1].uid != file->uid) {
			s = k; /* [s, e): the files of this uid */
			standing = SIZE_MAX;
		}
		ssize_t idx = sync_sv_find(&f->sv, file->uid);
		if (idx < 0 || f->sv.present[idx] != 1 || fate[k] == REMOVED || (file->in_new && fate[k] != RENAMED))
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
				standing += fate[e] != REMOVED && plan_file_stands(v, e, f->uidvalidity, want);
		}
		/* the copies the plan removed are gone: the file it kept is named
		 * here (its date recorded, its mtime and mode put back), as a lone
		 * one is; else the next runs, finding the folder unchanged, left a
		 * restored or copied file's mode and mtime as they were for a day */
		if (standing > 1)
			continue;
		const char *name = maildir_view_name(v, file);
		if (fate[k] == RENAMED) {
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
	free(fate);
	buf_free(&final);
}

/* Rename and remove as planned. 1 when a file to rename or remove is not there
 * (a name a view taken from the state had wrong, or a reader's rename or
 * removal since the check below), or the folder changed since it was read:
 * the caller reads the directory and plans again. 0, or -1. */
int sync_apply_plan(struct folder_run *f, const struct maildir_view *v, const struct plan *p,
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
	int64_t tick = sync_change_tick();
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
	if (p->n_actions) {
		sync_folder_watch_set(f);
		if (sync_change_tick() != tick)
			f->recheck = 1; /* see sync_change_tick */
	}
	buf_free(&newname);
	buf_free(&a);
	buf_free(&b);
	return rc;
}
