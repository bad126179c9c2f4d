/* Sync runner, per account: the end-of-run commit (docs/design.md, "State").
 * The folders hand it their new states and their last download batches
 * (sync_commit_later); sync_commit_run makes them durable and visible together, in
 * three syncs per file system for the whole run. The rest of the account is
 * in sync.c. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailkeep/buf.h"
#include "mailkeep/log.h"
#include "mailkeep/maildir.h"
#include "mailkeep/state.h"

#include "sync_account.h"

void sync_commit_later(struct state_commits *c, const char *dir, struct folder_state *st, int recheck,
		       struct commit_msg *msgs, size_t n_msgs)
{
	pthread_mutex_lock(&c->lock);
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 32;
		c->e = xrealloc(c->e, c->cap * sizeof(*c->e));
	}
	c->e[c->n++] = (struct commit_entry){ xstrdup(dir), *st, msgs, n_msgs, recheck };
	memset(st, 0, sizeof(*st));
	pthread_mutex_unlock(&c->lock);
}

struct dir_entry {
	const char *dir;
	size_t i;
};

static int cmp_dir_entry(const void *x, const void *y)
{
	const struct dir_entry *a = x, *b = y;
	int r = strcmp(a->dir, b->dir);
	return r ? r : (a->i > b->i) - (a->i < b->i);
}

/* Mark in SKIP every entry that a later entry of the same folder supersedes.
 * A folder hands its state once per run; should it ever hand it twice, the
 * later one describes the folder (the second attempt cleaned tmp/ of the
 * first one's files), and the earlier one must not touch its files nor the
 * .tmp state they share. */
static void superseded_entries(const struct state_commits *c, int *skip)
{
	struct dir_entry *d = xcalloc(c->n + 1, sizeof(*d));
	for (size_t i = 0; i < c->n; i++)
		d[i] = (struct dir_entry){ c->e[i].dir, i };
	qsort(d, c->n, sizeof(*d), cmp_dir_entry);
	for (size_t k = 0; k + 1 < c->n; k++) {
		if (!strcmp(d[k].dir, d[k + 1].dir)) {
			skip[d[k].i] = 1;
			log_warn("%s: its state was handed twice in this run; the last one is kept", d[k].dir);
		}
	}
	free(d);
}

/* A file system the run's folders are on, and one directory on it for syncfs. */
struct fs_entry {
	dev_t dev;
	const char *dir;
};

/* The file systems of the folders of C not in SKIP, one entry each into FS
 * (C->n + 1 slots, the caller's); *N_MSGS counts the messages of their last
 * batches. Returns how many file systems. */
static size_t file_systems(const struct state_commits *c, const int *skip, struct fs_entry *fs, size_t *n_msgs)
{
	size_t n_fs = 0;
	for (size_t i = 0; i < c->n; i++) {
		struct stat sb;
		size_t k = 0;
		if (skip[i])
			continue;
		*n_msgs += c->e[i].n_msgs;
		if (stat(c->e[i].dir, &sb) < 0)
			continue;
		while (k < n_fs && fs[k].dev != sb.st_dev)
			k++;
		if (k == n_fs) {
			fs[n_fs].dev = sb.st_dev;
			fs[n_fs++].dir = c->e[i].dir;
		}
	}
	return n_fs;
}

/* One folder's last batch renamed into cur/ (none when SYNCED is 0: the
 * first syncfs failed) and its state written to .tmp with the directory times
 * after those renames. 1 when both were done, else 0 (logged, naming ACCOUNT). */
static int rename_and_write(const char *account, struct commit_entry *e, int synced,
			    enum deletions_mode deletions)
{
	int64_t cur_ns, new_ns;
	int ok = synced;
	/* the times the folder's sync ended with: another value now means
	 * someone else changed it since, and the next run lists it */
	maildir_dir_mtimes(e->dir, &cur_ns, &new_ns);
	if (cur_ns != e->st.cur_mtime_ns || new_ns != e->st.new_mtime_ns)
		e->st.listed = 0;
	int64_t tick = sync_change_tick();
	for (size_t j = 0; j < e->n_msgs && synced; j++) {
		if (rename(e->msgs[j].tmp_path, e->msgs[j].cur_path) < 0) {
			log_error("account %s: %s: rename: %s", account, e->msgs[j].cur_path,
				  strerror(errno));
			ok = 0;
			continue;
		}
		free(e->msgs[j].tmp_path); /* nothing left in tmp/ to remove */
		e->msgs[j].tmp_path = NULL;
	}
	if (!ok)
		return 0;
	if (e->n_msgs) /* else the times read above, which the check found equal */
		maildir_dir_mtimes(e->dir, &e->st.cur_mtime_ns, &e->st.new_mtime_ns);
	/* renames and the reading of their times over more than one tick, here
	 * or during the folder's sync: a change by someone else among them is
	 * not in the times (sync_change_tick) */
	if ((e->recheck || (e->n_msgs && sync_change_tick() != tick)) && e->st.listed > 0 &&
	    !sync_dir_matches_state(e->dir, &e->st, deletions, e->st.cur_mtime_ns, e->st.new_mtime_ns)) {
		log_debug("%s: changed by someone else during the run; listed next time", e->dir);
		e->st.listed = 0;
	}
	char serr[512];
	if (state_write_temp(e->dir, &e->st, serr, sizeof(serr)) < 0) {
		log_error("account %s: %s", account, serr);
		ok = 0;
	}
	return ok;
}

/* The folder in directory D of the account reported synced is told to
 * on_folder_uncommitted as failed, for WHY. */
static void tell_uncommitted(struct account_run *a, const char *d, const char *why)
{
	size_t dl = strlen(a->dir);
	if (a->opt && a->opt->on_folder_uncommitted && !strncmp(d, a->dir, dl) && d[dl] == '/')
		a->opt->on_folder_uncommitted(a->opt->folder_ctx, d + dl + 1, why);
}

/* The .tmp states of the folders of C not in SKIP renamed into place, when
 * OK says theirs was written and the second syncfs (RC) succeeded; the others'
 * .tmp states removed and told to on_folder_uncommitted (OK then 0). Returns
 * how many folders were not committed. */
static size_t commit_states(struct account_run *a, const struct state_commits *c, const int *skip, int *ok,
			    int rc, char *err, size_t errlen)
{
	size_t failed = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (skip[i])
			continue;
		if (ok[i] && rc == 0 && state_commit_temp(c->e[i].dir, err, errlen) < 0)
			ok[i] = 0;
		if (ok[i] && rc == 0)
			continue;
		ok[i] = 0;
		failed++;
		state_discard_temp(c->e[i].dir);
		tell_uncommitted(a, c->e[i].dir, "its changes could not be made durable (the next run redoes them)");
	}
	return failed;
}

/* The last syncfs failed: the states renamed into place (OK) may not be on
 * disk, a crash could bring back the previous ones. Not a silent success: those
 * folders are reported failed. Returns how many. */
static size_t states_not_durable(struct account_run *a, const struct state_commits *c, const int *skip,
				 const int *ok)
{
	size_t n = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (skip[i] || !ok[i])
			continue;
		n++;
		tell_uncommitted(a, c->e[i].dir, "its state could not be made durable (a crash now would "
						  "bring back the previous one, whose work the next run redoes)");
	}
	return n;
}

/* The end of a run (docs/design.md, "State"): one syncfs per file system makes
 * the last batches' files in tmp/ durable; they are renamed into cur/; each
 * folder's state is written to .tmp with the directory times after those
 * renames; a second syncfs makes the renames and the .tmp states durable; the
 * states are renamed into place and a third syncfs makes that durable (when it
 * fails, those folders are reported failed though their states stay). So a
 * state never records a message that is not on disk, at three syncs per run
 * instead of several per folder. Killed before the end, a run leaves files in
 * tmp/ and .tmp states, which the next run removes, and the previous states:
 * it redoes that work, and never loses or duplicates a message. A folder whose
 * message cannot be renamed keeps its previous state. Returns how many folders
 * could not be committed; their errors are logged, naming the account, and
 * told to on_folder_uncommitted. */
size_t sync_commit_run(struct account_run *a, struct state_commits *c, char *err, size_t errlen)
{
	struct fs_entry *fs = xcalloc(c->n + 1, sizeof(*fs));
	size_t n_fs, failed, n_msgs = 0;
	int *ok = xcalloc(c->n + 1, sizeof(*ok));
	int *skip = xcalloc(c->n + 1, sizeof(*skip));
	int rc = 0;
	superseded_entries(c, skip);
	n_fs = file_systems(c, skip, fs, &n_msgs);
	log_debug("commit: %zu folders, %zu messages", c->n, n_msgs);
	for (size_t k = 0; k < n_fs && rc == 0 && n_msgs; k++)
		rc = maildir_sync_fs(fs[k].dir, err, errlen);
	log_debug("commit: messages durable in tmp/");
	for (size_t i = 0; i < c->n; i++)
		if (!skip[i])
			ok[i] = rename_and_write(a->acct->name, &c->e[i], rc == 0, a->acct->deletions);
	log_debug("commit: renamed into cur/, states written");
	for (size_t k = 0; k < n_fs && rc == 0; k++)
		rc = maildir_sync_fs(fs[k].dir, err, errlen);
	log_debug("commit: renames and states durable");
	failed = commit_states(a, c, skip, ok, rc, err, errlen);
	int before = rc;
	for (size_t k = 0; k < n_fs && rc == 0; k++)
		rc = maildir_sync_fs(fs[k].dir, err, errlen);
	if (before == 0 && rc < 0)
		failed += states_not_durable(a, c, skip, ok);
	log_debug("commit: done");
	free(skip);
	free(ok);
	free(fs);
	return failed;
}

void sync_commits_free(struct state_commits *c)
{
	for (size_t i = 0; i < c->n; i++) {
		struct commit_entry *e = &c->e[i];
		for (size_t j = 0; j < e->n_msgs; j++) {
			if (e->msgs[j].tmp_path) /* not renamed: a failed commit */
				unlink(e->msgs[j].tmp_path);
			free(e->msgs[j].tmp_path);
			free(e->msgs[j].cur_path);
		}
		free(e->msgs);
		free(e->dir);
		state_free(&e->st);
	}
	free(c->e);
}

