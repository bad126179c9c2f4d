/* `mailkeep status` and `mailkeep verify`: read the mirror and its state only. */
#include "mailkeep/verify.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mailkeep/buf.h"
#include "mailkeep/log.h"
#include "mailkeep/maildir.h"
#include "mailkeep/plan.h"
#include "mailkeep/snapshot.h"
#include "mailkeep/state.h"
#include "mailkeep/sync.h"


struct folder_walk {
	void (*fn)(void *ctx, const char *dir, const char *rel);
	void *ctx;
};

/* Only the directories that hold a state file are folders of the mirror. */
static void if_folder(void *ctx, const char *dir, const char *rel)
{
	const struct folder_walk *w = ctx;
	struct buf st = BUF_INIT;
	struct stat sb;
	buf_addf(&st, "%s/%s", dir, STATE_FILE);
	if (stat(st.data, &sb) == 0)
		w->fn(w->ctx, dir, rel);
	buf_free(&st);
}

static void walk_folders(const char *base, void (*fn)(void *ctx, const char *dir, const char *rel), void *ctx)
{
	struct folder_walk w = { fn, ctx };
	maildir_walk(base, if_folder, &w);
}

/* ---- status ---- */

struct status_ctx {
	size_t folders, messages, orphaned;
	uint64_t bytes;
};

static void status_folder(void *ctx, const char *dir, const char *rel)
{
	struct status_ctx *s = ctx;
	struct folder_state st;
	char err[256];
	static const char *const subs[] = { "cur", "new" };
	s->folders++;
	/* the header only: the message lines (~20 bytes each, and a state_msg
	 * each) would make status need memory for the folder's every message;
	 * the whole file when the header cannot tell (one written before the
	 * count line existed) */
	int r = state_load_header(dir, &st, err, sizeof(err));
	if (r < 0)
		r = state_load(dir, &st, err, sizeof(err));
	if (r == 0) {
		s->orphaned += st.orphaned != 0;
		state_free(&st);
	}
	for (size_t i = 0; i < 2; i++) {
		struct buf p = BUF_INIT;
		buf_addf(&p, "%s/%s", dir, subs[i]);
		DIR *d = opendir(p.data);
		if (d) {
			int fd = dirfd(d);
			struct dirent *de;
			struct stat sb;
			while ((de = readdir(d))) {
				if (de->d_name[0] == '.' || fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
				    !S_ISREG(sb.st_mode))
					continue;
				s->messages++;
				s->bytes += (uint64_t)sb.st_size;
			}
			closedir(d);
		}
		buf_free(&p);
	}
}

static void print_last_run(const char *acct_dir, FILE *out)
{
	struct buf p = BUF_INIT;
	char line[256], status[32] = "?", snap[32] = "";
	long long when = 0;
	int have_time = 0;
	unsigned long long folders = 0, failed = 0, added = 0, renamed = 0, removed = 0, bytes = 0;
	double secs = 0;
	buf_addf(&p, "%s/.mailkeep/last-run", acct_dir);
	/* a regular file only: a FIFO there would hang `status` for ever */
	int fd = open(p.data, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat sb;
	FILE *f = NULL;
	buf_free(&p);
	if (fd >= 0 && (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || !(f = fdopen(fd, "r")))) {
		close(fd);
		fprintf(out, "  last run:  unknown (its record is not a regular file)\n");
		return;
	}
	if (!f) {
		fprintf(out, "  last run:  never\n");
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		have_time |= sscanf(line, "time %lld", &when) == 1;
		sscanf(line, "status %31s", status);
		sscanf(line, "folders %llu", &folders);
		sscanf(line, "failed %llu", &failed);
		sscanf(line, "added %llu", &added);
		sscanf(line, "renamed %llu", &renamed);
		sscanf(line, "removed %llu", &removed);
		sscanf(line, "bytes %llu", &bytes);
		sscanf(line, "seconds %lf", &secs);
		sscanf(line, "snapshot %31s", snap);
	}
	fclose(f);
	/* created but never written: a run killed at that instant, or a full disk */
	if (!have_time) {
		fprintf(out, "  last run:  unknown (its record is empty or incomplete)\n");
		return;
	}
	char ts[64] = "?";
	time_t t = (time_t)when;
	struct tm tm;
	if (localtime_r(&t, &tm))
		strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S %z", &tm);
	fprintf(out, "  last run:  %s, %s: %llu folders (%llu failed), %llu new, %llu flag changes, "
		"%llu removed, %.2f s%s\n", ts, status, folders, failed, added, renamed, removed, secs,
		!strcmp(snap, "failed") ? "; snapshot failed" : "");
}

int verify_status(const struct account *acct, FILE *out, char *err, size_t errlen)
{
	char *dir = sync_account_dir(acct);
	struct status_ctx s = { 0 };
	struct stat sb;
	int rc = -1;
	fprintf(out, "account %s (%s)\n", acct->name, dir);
	if (stat(dir, &sb) < 0) {
		snprintf(err, errlen, "account %s: no mirror at %s (never synced?)", acct->name, dir);
		goto out;
	}
	print_last_run(dir, out);
	walk_folders(dir, status_folder, &s);
	fprintf(out, "  folders:   %zu%s\n", s.folders, s.orphaned ? " (some no longer on the server)" : "");
	fprintf(out, "  messages:  %zu, %.1f MB\n", s.messages, (double)s.bytes / 1e6);
	if (acct->snapshot) {
		fprintf(out, "  snapshot:  ");
		fflush(out);
		char serr[512];
		if (snapshot_log(acct, out, 1, serr, sizeof(serr)) < 0)
			fprintf(out, "none (%s)\n", serr);
	} else {
		fprintf(out, "  snapshot:  off\n");
	}
	if (!s.folders) { /* every account has an INBOX: no folder is no mirror (a first run failed) */
		snprintf(err, errlen, "account %s: no mirror at %s yet (no folder synced)", acct->name, dir);
		goto out;
	}
	rc = 0;
out:
	free(dir);
	return rc;
}

/* ---- verify ---- */

struct verify_ctx {
	const struct account *acct;
	FILE *out;
	size_t problems;
	size_t folders;
	int kept_copy; /* the folder is gone from the server (state "orphaned 1"):
			* no sync repairs it, its differences are notes */
	int notes;     /* notes are printed: not with -q (errors only, for cron) */
};

static void problem(struct verify_ctx *v, const char *rel, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void problem(struct verify_ctx *v, const char *rel, const char *fmt, ...)
{
	va_list ap;
	if (v->kept_copy && !v->notes)
		return;
	fprintf(v->out, v->kept_copy ? "%s: note: " : "%s: ", rel);
	va_start(ap, fmt);
	vfprintf(v->out, fmt, ap);
	va_end(ap);
	if (v->kept_copy)
		fputs(" (a kept copy of a folder no longer on the server: no sync changes it)", v->out);
	fputc('\n', v->out);
	if (!v->kept_copy)
		v->problems++;
}

static int readable(const char *dir, const struct maildir_view *view, const struct maildir_file *f)
{
	struct buf p = BUF_INIT;
	char c;
	buf_addf(&p, "%s/%s/%s", dir, f->in_new ? "new" : "cur", maildir_view_name(view, f));
	struct stat sb;
	int fd = open(p.data, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	int ok = fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && read(fd, &c, 1) >= 0;
	if (fd >= 0)
		close(fd);
	buf_free(&p);
	return ok;
}

/* Each file of VIEW checked against the state ST: its UIDVALIDITY, its UID
 * recorded, the message the state dates, copies, new/, flags, readable. */
static void verify_files(struct verify_ctx *v, const char *dir, const char *rel, const struct maildir_view *view,
			 const struct folder_state *st)
{
	char fl[8], sfl[8];
	size_t j = 0;
	for (size_t i = 0; i < view->n; i = j) {
		const struct maildir_file *f = &view->files[i];
		for (j = i + 1; j < view->n && view->files[j].uid == f->uid; j++)
			;
		const struct state_msg *m = state_find(st, f->uid);
		const char *name = maildir_view_name(view, f);
		if (f->uidvalidity && f->uidvalidity != st->uidvalidity) {
			problem(v, rel, "%s: from UIDVALIDITY %" PRIu32 ", the folder has %" PRIu32, name,
				f->uidvalidity, st->uidvalidity);
			continue;
		}
		if (!m) {
			if (v->acct->deletions != DELETIONS_KEEP)
				problem(v, rel, "%s: UID %" PRIu32 " is not in the state (extra file)", name, f->uid);
			continue;
		}
		if (!plan_file_stands(view, i, st->uidvalidity, m->date))
			problem(v, rel, "%s: another message's file (the state has UID %" PRIu32 " dated %" PRId64 ")",
				name, f->uid, m->date);
		if (j - i > 1)
			problem(v, rel, "UID %" PRIu32 ": %zu copies", f->uid, j - i);
		if (f->in_new)
			problem(v, rel, "%s: in new/ instead of cur/", name);
		if (f->flags != m->flags) {
			maildir_flags_to_letters(f->flags, fl);
			maildir_flags_to_letters(m->flags, sfl);
			problem(v, rel, "%s: flags \"%s\", the state says \"%s\"", name, fl, sfl);
		}
		if (!readable(dir, view, f))
			problem(v, rel, "%s: cannot be read", name);
	}
}

/* The messages of the state ST that have no file in VIEW. */
static void verify_missing(struct verify_ctx *v, const char *rel, const struct maildir_view *view,
			   const struct folder_state *st)
{
	/* recorded messages without a file */
	size_t k = 0;
	for (size_t i = 0; i < st->n; i++) {
		while (k < view->n && view->files[k].uid < st->msgs[i].uid)
			k++;
		if (k >= view->n || view->files[k].uid != st->msgs[i].uid)
			problem(v, rel, "UID %" PRIu32 " is recorded but has no file", st->msgs[i].uid);
	}
}

/* The files left in the folder's tmp/: ours a problem, others a note. */
static void verify_tmp(struct verify_ctx *v, const char *dir, const char *rel)
{
	struct buf tmp = BUF_INIT;
	buf_addf(&tmp, "%s/tmp", dir);
	DIR *d = opendir(tmp.data);
	if (d) {
		struct dirent *de;
		size_t ours = 0, others = 0;
		while ((de = readdir(d))) {
			struct stat tst;
			if (de->d_name[0] == '.') /* ".", "..", no message */
				continue;
			/* a directory there is nobody's delivery, and no sync removes it */
			if (fstatat(dirfd(d), de->d_name, &tst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(tst.st_mode))
				continue;
			if (maildir_tmp_is_ours(de->d_name))
				ours++;
			else
				others++;
		}
		closedir(d);
		if (ours)
			problem(v, rel, "%zu file(s) in tmp/ (an interrupted run; the next sync removes them)", ours);
		if (others && v->notes)
			fprintf(v->out,
				"%s: note: %zu file(s) in tmp/ not made by mailkeep (a delivery in progress, "
				"or left behind: a sync removes them once 36 hours old)\n",
				rel, others);
	}
	buf_free(&tmp);
}

static void verify_folder(void *ctx, const char *dir, const char *rel)
{
	struct verify_ctx *v = ctx;
	struct folder_state st;
	struct maildir_view view;
	char err[512];
	v->folders++;
	if (state_load(dir, &st, err, sizeof(err)) < 0) {
		problem(v, rel, "%s", err);
		return;
	}
	if (!state_is_of(&st, rel)) {
		problem(v, rel, "the state is another folder's (its directory was moved or copied by hand): "
			"the next sync rebuilds it");
		state_free(&st);
		return;
	}
	if (maildir_scan(dir, &view, err, sizeof(err)) < 0) {
		problem(v, rel, "%s", err);
		state_free(&st);
		return;
	}
	v->kept_copy = st.orphaned != 0;
	verify_files(v, dir, rel, &view, &st);
	verify_missing(v, rel, &view, &st);
	v->kept_copy = 0;
	if (view.foreign && v->notes)
		fprintf(v->out, "%s: note: %zu file(s) not made by mailkeep (left alone)\n", rel, view.foreign);
	verify_tmp(v, dir, rel);
	maildir_view_free(&view);
	state_free(&st);
}

int verify_account(const struct account *acct, FILE *out, size_t *problems, char *err, size_t errlen)
{
	char *dir = sync_account_dir(acct);
	struct verify_ctx v = { .acct = acct, .out = out, .notes = log_get_level() > LOG_QUIET };
	struct stat sb;
	int rc = -1;
	if (stat(dir, &sb) < 0) {
		snprintf(err, errlen, "account %s: no mirror at %s (never synced?)", acct->name, dir);
		goto out;
	}
	walk_folders(dir, verify_folder, &v);
	*problems = v.problems;
	if (!v.folders) { /* every account has an INBOX: no folder is no mirror (a first run failed) */
		snprintf(err, errlen, "account %s: no mirror at %s yet (no folder synced)", acct->name, dir);
		goto out;
	}
	rc = 0;
out:
	free(dir);
	return rc;
}
