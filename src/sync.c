/* Sync runner, per account: the lock, the record of which mailbox the mirror
 * is of, connect and LIST, the selected folders (sync_list.c: which, in what
 * order, which need no EXAMINE; sync_conn.c: synced over the account's
 * connections, each by sync_folder.c; sync_commit.c: made durable together),
 * the Gmail store pruned, orphans reported, the namespace recorded, the
 * snapshot, and the run recorded for `mailkeep status`. */
#include "mailkeep/sync.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdint.h>

#include "mailkeep/buf.h"
#include "mailkeep/imap.h"
#include "mailkeep/lock.h"
#include "mailkeep/log.h"
#include "mailkeep/maildir.h"
#include "mailkeep/snapshot.h"
#include "mailkeep/state.h"
#include "mailkeep/utf7.h"

#include "sync_account.h"

char *sync_account_dir(const struct account *acct)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s/%s", acct->root, acct->name);
	return buf_detach(&b);
}

void sync_change(struct account_run *a, enum sync_change kind, const char *old_rel,
		   const char *new_rel)
{
	if (a->opt && a->opt->on_change)
		a->opt->on_change(a->opt->change_ctx, kind, old_rel, new_rel);
}

static const char *const status_names[] = { "ok", "partial", "failed", "locked" };

const char *sync_status_name(enum sync_status s)
{
	return (unsigned)s < 4 ? status_names[s] : "unknown";
}

/* <account>/.mailkeep/last-run: what `mailkeep status` shows. Not a durability
 * matter (it describes, it does not decide), so no fsync; and overwritten in
 * place, as one write of a fixed-size record (the lines, then newlines up to
 * LAST_RUN_SIZE): a rename over the old file would start its write-back there
 * and then (ext4's auto_da_alloc), ~0.5 ms of every run. */
#define LAST_RUN_SIZE 512
const char *sync_snapshot_word(const struct sync_options *opt)
{
	if (!opt || !opt->snapshot)
		return "off";
	return opt->snapshot_failed ? "failed" : opt->snapshot_done ? "ok" : "skipped";
}

static void write_last_run(const struct account_run *a, const struct sync_result *res)
{
	struct buf p = BUF_INIT;
	char rec[LAST_RUN_SIZE];
	buf_addf(&p, "%s/.mailkeep/last-run", a->dir);
	int n = snprintf(rec, sizeof(rec), "mailkeep-last-run 1\ntime %lld\nstatus %s\nfolders %" PRIu64
			 "\nfailed %" PRIu64 "\nadded %" PRIu64 "\nrenamed %" PRIu64 "\nremoved %" PRIu64
			 "\nbytes %" PRIu64 "\nseconds %.3f\nsnapshot %s\n",
			 (long long)time(NULL), sync_status_name(res->status), res->counts.folders,
			 res->counts.folders_failed, res->counts.added, res->counts.renamed,
			 res->counts.removed, res->counts.bytes, res->seconds,
			 sync_snapshot_word(a->opt));
	/* a regular file only (a FIFO there hung every run at its end), private */
	int fd = open(p.data, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
	struct stat sb;
	if (fd < 0 && (errno == ENXIO || errno == ELOOP)) /* a FIFO without reader, a link */
		log_warn("%s: not a regular file; the record of this run is not kept", p.data);
	else if (fd < 0)
		log_warn("%s: the record of this run is not kept: %s", p.data, strerror(errno));
	if (fd >= 0 && (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode))) {
		log_warn("%s: not a regular file; the record of this run is not kept", p.data);
		close(fd);
		fd = -1;
	} else if (fd >= 0 && (sb.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0) {
		log_debug("%s: cannot make it private (0600): %s", p.data, strerror(errno));
	}
	if (n > 0 && n < LAST_RUN_SIZE && fd >= 0) {
		memset(rec + n, '\n', sizeof(rec) - (size_t)n);
		ssize_t w = pwrite(fd, rec, sizeof(rec), 0);
		if (w != (ssize_t)sizeof(rec))
			log_warn("%s: the record of this run is not kept: %s", p.data,
				 w < 0 ? strerror(errno) : "short write");
	}
	if (fd >= 0)
		close(fd);
	buf_free(&p);
}

static void do_snapshot(struct account_run *a, struct sync_result *res)
{
	struct snapshot_result sr;
	char err[1024];
#ifdef __GLIBC__
	/* give back what the sync freed (~1.4 MiB of a 9.6 MiB sync of 20,000
	 * messages) before libgit2 adds its own; peaks do not add up */
	malloc_trim(0);
#endif
	if (snapshot_account(a->acct, a->dir, 0, (size_t)res->counts.folders_failed, &sr, err, sizeof(err)) < 0) {
		log_error("account %s: snapshot failed (the mirror is fine; the next run catches up): %s",
			  a->acct->name, err);
		a->opt->snapshot_failed = 1;
		return;
	}
	a->opt->snapshot_done = 1;
	if (sr.committed)
		log_info("account %s: snapshot %.12s: %zu new, %zu renamed, %zu removed in %zu folders, %.2f s",
			 a->acct->name, sr.commit, sr.added, sr.renamed, sr.removed, sr.folders_changed,
			 sr.seconds);
	else
		log_info("account %s: snapshot unchanged (%.12s)", a->acct->name, sr.commit);
}

int sync_snapshot_only(const struct account *acct, char *err, size_t errlen)
{
	struct account_run a = { .acct = acct };
	struct snapshot_result sr;
	struct account_lock lock = ACCOUNT_LOCK_INIT;
	char who[300];
	int rc;
	struct stat sb;
	a.dir = sync_account_dir(acct);
	/* never synced: say so rather than the ENOENT of the lock's mkdir */
	if (stat(a.dir, &sb) < 0 && errno == ENOENT) {
		snprintf(err, errlen, "no mirror at %s (run mailkeep sync %s first)", a.dir, acct->name);
		rc = -1;
		goto out;
	}
	snprintf(who, sizeof(who), "account %s", acct->name);
	rc = lock_account(a.dir, who, 1, &lock, err, errlen);
	if (rc != 0) {
		rc = rc > 0 ? SYNC_LOCKED : -1;
		goto out;
	}
	rc = snapshot_account(acct, a.dir, 0, 0, &sr, err, errlen);
	if (rc == 0)
		log_info("account %s: snapshot %.12s%s: %zu new, %zu renamed, %zu removed", acct->name,
			 sr.commit, sr.committed ? "" : " (unchanged)", sr.added, sr.renamed, sr.removed);
out:
	lock_release(&lock);
	free(a.dir);
	return rc;
}

/* Gmail store entries that no folder links to any more (st_nlink 1: the
 * message left every folder, or its copies were replaced) are removed. */
static void gmail_store_prune(const struct account_run *a)
{
	struct buf dir = BUF_INIT;
	buf_addf(&dir, "%s/.mailkeep/gmail", a->dir);
	/* never through a symbolic link: what it pruned would be someone else's files */
	int dfd = open(dir.data, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	struct stat sb;
	size_t pruned = 0;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		buf_free(&dir);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		if (fstatat(dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode) &&
		    sb.st_nlink == 1 && unlinkat(dfd, de->d_name, 0) == 0)
			pruned++;
	}
	closedir(d);
	if (pruned)
		log_info("account %s: %zu messages left every folder; removed from the Gmail store",
			 a->acct->name, pruned);
	buf_free(&dir);
}

/* The server's personal namespace prefix, asked once per mirror (NAMESPACE,
 * at the end of a run, so that a server that answers it badly costs nothing
 * but a warning) and recorded for push, which takes it off the folder names
 * (docs/push.md). A prefix that is not a whole level ("INBOX." is, "Mail" or
 * "x_" are not) is recorded as none. */
static void record_namespace(struct account_run *a)
{
	char *have = NULL, *prefix = NULL, *dec = NULL, delim = 0, err[512];
	struct buf rel = BUF_INIT;
	if (state_namespace_load(a->dir, &have) == 0)
		goto out;
	int rc = imap_namespace_personal(a->imap, &prefix, &delim, NULL, err, sizeof(err));
	if (rc < 0)
		log_warn("account %s: NAMESPACE: %s (asked again next run)", a->acct->name, err);
	if (rc != 0) /* refused (NO): maybe for now only; nothing recorded */
		goto out;
	size_t pl = strlen(prefix);
	if (pl > 1 && delim && prefix[pl - 1] == delim && utf7_decode(prefix, pl - 1, &dec) == 0 &&
	    maildir_folder_path(dec, delim, &rel) == 0)
		log_debug("account %s: the personal namespace prefix is recorded for push", a->acct->name);
	else
		buf_reset(&rel);
	if (state_namespace_save(a->dir, rel.data ? rel.data : "", err, sizeof(err)) < 0)
		log_warn("account %s: cannot record the namespace: %s", a->acct->name, err);
out:
	free(have);
	free(prefix);
	free(dec);
	buf_free(&rel);
}

/* The mirror must be of the mailbox the configuration names: another user's
 * folders can have the same UIDVALIDITY and UIDs (Dovecot takes the creation
 * time: users made by one script share them), and their messages would be
 * taken for the files already there. A mirror that records another user fails
 * the account (-1, err set), before any connection. The same user under
 * another host name is taken for the same mailbox (a provider's new name, an
 * address for a name): two servers' folders share a UIDVALIDITY by chance
 * only, or because one was copied from the other with its UIDs (dsync), and
 * then they hold the same messages. 1 when the record is to be written once
 * logged in (none yet: a new mirror, or one of an older version; or another
 * host name); else 0. */
static int check_server(const struct account_run *a, struct buf *path, char *err, size_t errlen)
{
	char had[600];
	buf_addf(path, "%s/.mailkeep/server", a->dir);
	int rc = state_server_check(path->data, a->acct->user, a->acct->host, had, sizeof(had));
	if (rc < 0)
		snprintf(err, errlen, "the mirror %s is of %s: one mailbox's messages would be taken for "
			 "the other's; give the account another name or root (the old mirror stays as it is), "
			 "or, if it is the same mailbox, remove %s", a->dir, had, path->data);
	else if (rc == 2)
		log_info("account %s: the mirror was made from host %s, now %s: taken for the same mailbox",
			 a->acct->name, had, a->acct->host);
	return rc < 0 ? -1 : rc ? 1 : 0;
}

/* Sync the selected folders over the account's connections, then make what
 * they did durable in one commit (sync_commit_run). */
static void sync_folders(struct account_run *a, const struct imap_mailbox_list *list, const struct strlist *rels,
			 const size_t *sel, size_t n_sel, const struct imap_status_info *status, int all_first,
			 struct local_view *local, struct sync_result *res)
{
	struct folder_queue q = { .list = list, .rels = rels, .sel = sel, .n_sel = n_sel,
				  .status = status, .opt = a->opt, .first_alone = all_first };
	struct state_commits commits = { .n = 0 };
	char err[1024] = "";
	pthread_mutex_init(&q.lock, NULL);
	pthread_mutex_init(&commits.lock, NULL);
	a->commits = &commits;
	sync_run_folders(a, &q, local, res);
	a->commits = NULL;
	size_t uncommitted = commits.n ? sync_commit_run(a, &commits, err, sizeof(err)) : 0;
	if (uncommitted) {
		log_error("account %s: %zu folders could not be made durable (the next run redoes "
			  "their changes)%s%s", a->acct->name, uncommitted, err[0] ? ": " : "", err);
		res->counts.folders_failed += uncommitted;
	}
	sync_commits_free(&commits);
	pthread_mutex_destroy(&commits.lock);
	pthread_mutex_destroy(&q.lock);
}

/* The account taken for this run: no other run holds it, the password got
 * (a->password, the caller's to cleanse and free), the mirror directory made
 * and locked (LOCK, the caller's to release). 0; -1 with err (the account
 * fails); 1 when refused and reported already (RES says why). */
static int take_account(struct account_run *a, struct account_lock *lock, struct sync_result *res, char *err,
			size_t errlen)
{
	const struct account *acct = a->acct;
	char who[300];
	int rc;
	snprintf(who, sizeof(who), "account %s", acct->name);
	if ((rc = lock_account_held(a->dir)) != 0) {
		if (rc == 1)
			snprintf(err, errlen, "account %s: another mailkeep run holds %s/.mailkeep/lock",
				 acct->name, a->dir);
		else
			snprintf(err, errlen, "account %s: another mailkeep run holds %s (its lock file was removed)",
				 acct->name, a->dir);
		log_error("%s", err);
		snprintf(res->error, sizeof(res->error), "%s", err);
		res->status = SYNC_LOCKED;
		return 1;
	}
	/* the password first: a source that fails leaves nothing behind (no
	 * mirror directory, no lock); its message names the account */
	a->password = config_get_password(acct, err, errlen);
	if (!a->password) {
		log_error("%s", err);
		snprintf(res->error, sizeof(res->error), "%s", err);
		return 1;
	}
	if (maildir_mkdir_p(a->dir, err, errlen) < 0)
		return -1;
	rc = lock_account(a->dir, who, 1, lock, err, errlen);
	if (rc < 0) /* the message names a path, not the account */
		return -1;
	if (rc > 0) {
		log_error("%s", err);
		snprintf(res->error, sizeof(res->error), "%s", err);
		res->status = SYNC_LOCKED;
		return 1;
	}
	return 0;
}

/* What the listing (LIST, its folders' paths into RELS) drives: the selected
 * folders synced, the Gmail store pruned, folders gone from the server
 * reported (LOCAL, the mirror's), the namespace recorded. */
static void sync_listed(struct account_run *a, const struct imap_mailbox_list *list, struct strlist *rels,
			struct local_view *local, struct sync_result *res)
{
	if (list->n_ignored) /* malformed LIST answers: folders that cannot be synced */
		res->counts.folders_failed += list->n_ignored;
	sync_folder_paths(list, rels);
	res->status = SYNC_OK;
	size_t *sel = xcalloc(list->n + 1, sizeof(*sel));
	size_t n_sel = sync_select_folders(a, list, rels, sel, res);
	struct imap_status_info *status = sync_folder_statuses(a, list, rels, sel, n_sel);
	int gmail = a->acct->gmail_dedupe && a->imap && (imap_caps(a->imap) & IMAP_CAP_X_GM_EXT_1);
	int all_first = sync_order_folders(list, sel, status, n_sel, gmail);
	sync_folders(a, list, rels, sel, n_sel, status, all_first, local, res);
	free(status);
	free(sel);
	/* also with gmail_dedupe turned off since: the store made before keeps
	 * its links, and one whose message left every folder would stay for good */
	if (res->counts.removed)
		gmail_store_prune(a);
	/* a listing with ignored lines is incomplete: no folder is called gone */
	for (size_t i = 0; i < local->n && !list->n_ignored; i++)
		sync_check_orphan(a, rels, &local->f[i]);
	if (a->imap)
		record_namespace(a);
}

void sync_account(const struct account *acct, struct sync_options *opt, struct sync_result *res)
{
	struct account_run a = { .acct = acct, .opt = opt, .counts = &res->counts };
	struct imap_mailbox_list list = { 0 };
	struct strlist rels = { 0 };
	struct local_view local = { 0 };
	char err[1024];
	struct account_lock lock = ACCOUNT_LOCK_INIT;
	struct buf server_file = BUF_INIT;
	int rc;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(res, 0, sizeof(*res));
	res->status = SYNC_FAILED;
	a.dir = sync_account_dir(acct);
	rc = take_account(&a, &lock, res, err, sizeof(err));
	if (rc > 0)
		goto out;
	if (rc < 0)
		goto fail;
	int unrecorded = check_server(&a, &server_file, err, sizeof(err));
	if (unrecorded < 0)
		goto fail;
	struct local_read_ctx lr = { a.dir, &local };
	if (sync_connect_login(&a, 0, err, sizeof(err)) < 0 ||
	    imap_list(a.imap, &list, sync_local_read, &lr, err, sizeof(err)) < 0)
		goto fail;
	if (unrecorded && state_server_save(server_file.data, acct->user, acct->host, err, sizeof(err)) < 0)
		log_warn("account %s: cannot record the mailbox of the mirror (asked again next run): %s",
			 acct->name, err);
	sync_listed(&a, &list, &rels, &local, res);
	if (res->counts.folders_failed)
		res->status = SYNC_PARTIAL;
	if (opt && opt->snapshot) {
		sync_drop_connection(&a);
		do_snapshot(&a, res);
	}
	goto out;
fail:
	log_error("account %s: %s", acct->name, err);
	snprintf(res->error, sizeof(res->error), "%s", err);
out:
	if (a.imap)
		a.round_trips += imap_round_trips(a.imap);
	res->round_trips = a.round_trips;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	res->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (res->status != SYNC_LOCKED && lock.file >= 0)
		write_last_run(&a, res);
	/* LOGOUT last: the server's end of the session then overlaps nothing of ours */
	imap_close(a.imap);
	if (a.password) {
		OPENSSL_cleanse(a.password, strlen(a.password));
		free(a.password);
	}
	lock_release(&lock);
	imap_mailbox_list_free(&list);
	sync_strlist_clear(&rels);
	sync_local_free(&local);
	buf_free(&server_file);
	free(a.dir);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	res->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}
