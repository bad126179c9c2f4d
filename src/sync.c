/* Sync runner, per account: lock, connect, list, STATUS, mirror every selected
 * folder (sync_folder.c), report orphans, snapshot, record the run. */
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
#include "mailkeep/plan.h"
#include "mailkeep/snapshot.h"
#include "mailkeep/state.h"
#include "mailkeep/utf7.h"

#include "sync_internal.h"

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

/* Close the account's connection, counting its round trips first. */
static void drop_connection(struct account_run *a)
{
	if (!a->imap)
		return;
	a->round_trips += imap_round_trips(a->imap);
	imap_close(a->imap);
	a->imap = NULL;
}

/* Connect and log in; `enable` (a connection for folders, not the first one)
 * also enables QRESYNC (on the first connection imap_list does it in the same
 * round trip as LIST) and compression. */
static int connect_login(struct account_run *a, int enable, char *err, size_t errlen)
{
	int code = 0;
	drop_connection(a);
	a->imap = imap_connect(a->acct, &code, err, errlen);
	if (!a->imap)
		return code;
	int rc = imap_login(a->imap, a->acct->user, a->password, err, errlen);
	if (rc == 0 && enable)
		rc = imap_compress(a->imap, err, errlen);
	if (rc == 0 && enable)
		rc = imap_enable_qresync(a->imap, err, errlen) < 0 ? IMAP_ERR_NET : 0;
	if (rc < 0)
		drop_connection(a);
	return rc;
}

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

/* What the mirror holds, read while the server answers LIST (the round trip
 * costs the same with it): every folder directory with its state's header and
 * its directory times. A no-change run needs nothing else from the disk. */
struct local_folder {
	char *rel;
	char *dir;
	int rc;                   /* state_load_header(): 0, 1 (no state), -1 (a full load decides) */
	struct folder_state hdr;  /* rc == 0 */
	int64_t cur_ns, new_ns;
	int has_tmp;              /* maildir_has_tmp() */
};

struct local_view {
	struct local_folder *f;   /* sorted by rel after local_read() */
	size_t n, cap;
};

struct local_read_ctx {
	const char *dir;
	struct local_view *v;
};

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

static void local_read(void *ctx)
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

static void local_free(struct local_view *v)
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
static void check_orphan(struct account_run *a, const struct strlist *server_rels, const struct local_folder *lf)
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

static void strlist_clear(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
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
	int fd = open(p.data, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (n > 0 && n < LAST_RUN_SIZE && fd >= 0) {
		memset(rec + n, '\n', sizeof(rec) - (size_t)n);
		if (pwrite(fd, rec, sizeof(rec), 0) != (ssize_t)sizeof(rec))
			log_debug("%s: could not be written", p.data);
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
	if (snapshot_account(a->acct, a->dir, 0, &sr, err, sizeof(err)) < 0) {
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
	rc = snapshot_account(acct, a.dir, 0, &sr, err, errlen);
	if (rc == 0)
		log_info("account %s: snapshot %.12s%s: %zu new, %zu renamed, %zu removed", acct->name,
			 sr.commit, sr.committed ? "" : " (unchanged)", sr.added, sr.renamed, sr.removed);
out:
	lock_release(&lock);
	free(a.dir);
	return rc;
}

/* ---- folders, over one or several connections ---- */

/* The selected folders, handed out one at a time to the connections. */
struct folder_queue {
	pthread_mutex_t lock;
	const struct imap_mailbox_list *list;
	const struct strlist *rels;
	const size_t *sel;
	size_t n_sel, next;
	const struct imap_status_info *status;
	uint8_t *skip;              /* per queue index: provably unchanged, no EXAMINE */
	struct sync_options *opt;   /* the caller's; its hooks are called under lock */
	int first_alone;            /* sync sel[0] before the other connections start */
	uint64_t folders, failed;
};

struct worker {
	struct account_run a;
	struct prefetch pre;        /* its connection's next folder, sent ahead */
	struct folder_queue *q;
	struct sync_counts counts;
	struct sync_options opt;    /* hooks routed through the queue lock */
	pthread_t thread;
	int extra;                  /* an extra connection, opened in its thread */
};

static void locked_progress(void *ctx, const char *folder, uint64_t done, uint64_t total, uint64_t bytes)
{
	struct worker *w = ctx;
	pthread_mutex_lock(&w->q->lock);
	w->q->opt->on_progress(w->q->opt->progress_ctx, folder, done, total, bytes);
	pthread_mutex_unlock(&w->q->lock);
}

static void locked_change(void *ctx, enum sync_change kind, const char *old_rel, const char *new_rel)
{
	struct worker *w = ctx;
	pthread_mutex_lock(&w->q->lock);
	w->q->opt->on_change(w->q->opt->change_ctx, kind, old_rel, new_rel);
	pthread_mutex_unlock(&w->q->lock);
}

/* A folder's EXAMINE sent ahead is only used by that folder, after a
 * successful previous one: else its answers are read and dropped (not read
 * from a lost connection), and the folder examines itself. */
static void after_folder(struct account_run *a, const struct imap_mailbox *mb, int rc)
{
	if (!a->pre || !a->pre->sent || (rc == 0 && a->pre->mb != mb))
		return;
	if (rc < 0 && imap_connection_lost(rc))
		a->pre->sent = 0;
	else
		prefetch_drain(a);
}

/* A throttling server: wait (its hint, else 1 s, doubling) and retry the
 * folder, at most THROTTLE_RETRIES times, and in all at most twice the
 * timeout (and THROTTLE_MAX_MS) per connection and run: a server that
 * throttles everything fails the remaining folders at once, for the next
 * run to retry. Reported, never silent. */
static int retry_throttled(struct account_run *a, const struct imap_mailbox *mb, const char *rel,
			   const struct imap_status_info *status, struct sync_folder_report *rep, int rc, char *err,
			   size_t errlen)
{
	unsigned budget_ms = (unsigned)a->acct->timeout * 2000u;
	if (budget_ms > THROTTLE_MAX_MS)
		budget_ms = THROTTLE_MAX_MS;
	for (unsigned t = 0; rc < 0 && !a->folder_done && a->imap && imap_throttle_ms(a->imap) &&
			     t < THROTTLE_RETRIES; t++) {
		unsigned wait_ms = imap_throttle_ms(a->imap) << t;
		if (wait_ms > THROTTLE_MAX_MS)
			wait_ms = THROTTLE_MAX_MS;
		if (a->throttle_waited_ms >= budget_ms) {
			log_warn("account %s: folder \"%s\": server is throttling (%s); this run has waited "
				 "%.1f s for it already: not retried", a->acct->name, mb->utf8, err,
				 a->throttle_waited_ms / 1000.0);
			break;
		}
		if (wait_ms > budget_ms - a->throttle_waited_ms)
			wait_ms = budget_ms - a->throttle_waited_ms;
		a->throttle_waited_ms += wait_ms;
		log_warn("account %s: folder \"%s\": server is throttling (%s); retrying in %.1f s",
			 a->acct->name, mb->utf8, err, wait_ms / 1000.0);
		struct timespec ts = { wait_ms / 1000, (long)(wait_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		imap_throttle_clear(a->imap);
		if (imap_connection_lost(rc)) {
			drop_connection(a);
			if (connect_login(a, 1, err, errlen) < 0)
				break;
		}
		*rep = (struct sync_folder_report){ .name = mb->utf8, .path = rel, .how = "" };
		rc = sync_folder(a, mb, rel, status, rep, err, errlen);
		after_folder(a, mb, rc);
	}
	return rc;
}

static void one_folder(struct worker *w, size_t k)
{
	struct account_run *a = &w->a;
	const struct account *acct = a->acct;
	struct folder_queue *q = w->q;
	size_t i = q->sel[k];
	const struct imap_mailbox *mb = &q->list->items[i];
	const char *rel = q->rels->items[i];
	const struct imap_status_info *status = q->status ? &q->status[k] : NULL;
	char err[1024];
	int rc;
	if (q->skip && q->skip[k]) {
		struct sync_folder_report rep = { .name = mb->utf8, .path = rel, .how = "unchanged" };
		a->counts->folders_unchanged++;
		log_info("account %s: folder \"%s\": unchanged", acct->name, mb->utf8);
		pthread_mutex_lock(&q->lock);
		if (q->opt && q->opt->on_folder)
			q->opt->on_folder(q->opt->folder_ctx, &rep);
		q->folders++;
		pthread_mutex_unlock(&q->lock);
		return;
	}
	if (!a->imap) {
		if (a->reconnects >= MAX_RECONNECTS ||
		    (a->reconnects++, connect_login(a, 1, err, sizeof(err)) < 0)) {
			log_error("account %s: folder \"%s\": not synced: no connection", acct->name, mb->utf8);
			pthread_mutex_lock(&q->lock);
			q->failed++;
			pthread_mutex_unlock(&q->lock);
			return;
		}
	}
	struct sync_folder_report rep = { .name = mb->utf8, .path = rel, .how = "" };
	struct timespec f0, f1;
	clock_gettime(CLOCK_MONOTONIC, &f0);
	rc = sync_folder(a, mb, rel, status, &rep, err, sizeof(err));
	after_folder(a, mb, rc);
	if (rc == SYNC_ERR_RESELECT) {
		log_debug("%s: %s", mb->utf8, err);
		a->no_lookahead = 1;
		rep = (struct sync_folder_report){ .name = mb->utf8, .path = rel, .how = "" };
		rc = sync_folder(a, mb, rel, status, &rep, err, sizeof(err));
		after_folder(a, mb, rc);
		a->no_lookahead = 0;
	}
	rc = retry_throttled(a, mb, rel, status, &rep, rc, err, sizeof(err));
	if (a->imap)
		imap_throttle_clear(a->imap);
	clock_gettime(CLOCK_MONOTONIC, &f1);
	rep.seconds = (double)(f1.tv_sec - f0.tv_sec) + (double)(f1.tv_nsec - f0.tv_nsec) / 1e9;
	/* gone, like a folder no longer listed: its local copy is kept, no error */
	if (rc == SYNC_ERR_GONE) {
		log_warn("account %s: folder \"%s\" no longer exists on the server (listed, but it has no "
			 "status and EXAMINE is refused); its local copy is kept", acct->name, mb->utf8);
		rc = 0;
		rep.how = "nonexistent";
	}
	rep.error = rc < 0 ? err : NULL;
	if (rc < 0)
		log_error("account %s: folder \"%s\": %s", acct->name, mb->utf8, err);
	pthread_mutex_lock(&q->lock);
	if (q->opt && q->opt->on_folder)
		q->opt->on_folder(q->opt->folder_ctx, &rep);
	q->folders++;
	q->failed += rc < 0;
	pthread_mutex_unlock(&q->lock);
	if (rc < 0 && imap_connection_lost(rc))
		drop_connection(a);
}

static int dequeue(void *ctx, size_t *k, const struct imap_mailbox **mb, const char **rel,
		   const struct imap_status_info **status, int *skip)
{
	struct folder_queue *q = ctx;
	pthread_mutex_lock(&q->lock);
	size_t n = q->next < q->n_sel ? q->next++ : SIZE_MAX;
	pthread_mutex_unlock(&q->lock);
	if (n == SIZE_MAX)
		return -1;
	*k = n;
	*mb = &q->list->items[q->sel[n]];
	*rel = q->rels->items[q->sel[n]];
	*status = q->status ? &q->status[n] : NULL;
	*skip = q->skip && q->skip[n];
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	/* An extra connection logs in before it takes a folder: the largest folder,
	 * first in the queue, goes to whichever connection is ready first, never
	 * waits for a login. One that cannot log in leaves the folders to the others. */
	if (w->extra) {
		char err[1024];
		if (connect_login(&w->a, 1, err, sizeof(err)) < 0) {
			log_warn("account %s: extra connection not opened (%s); its folders go to the others",
				 w->a.acct->name, err);
			return NULL;
		}
	}
	for (;;) {
		size_t k;
		const struct imap_mailbox *mb;
		const struct imap_status_info *status;
		const char *rel;
		int skip;
		if (w->pre.has_next) {
			k = w->pre.k; /* taken while the previous folder was read */
			w->pre.has_next = 0;
		} else if (dequeue(w->q, &k, &mb, &rel, &status, &skip) < 0) {
			break;
		}
		one_folder(w, k);
	}
	prefetch_drain(&w->a);
	return NULL;
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
static size_t folders_to_examine(struct folder_queue *q, const struct local_view *local,
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

/* The file system's other dirty data (a mail server's indexes, another
 * program's files) would be written by the first sync of the end-of-run commit,
 * with the run waiting: a sync started as soon as the run knows it will write
 * gets it done while the folders talk to the server. */
static void *preflush_main(void *arg)
{
	const char *dir = arg;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)syncfs(fd);
		close(fd);
	}
	return NULL;
}

/* Sync the queued folders on the account's connection and, when at least two
 * folders need the server and max_connections allows, on extra connections in
 * threads; each connection takes the next folder when it is free. */
static void run_folders(struct account_run *a, struct folder_queue *q, const struct local_view *local,
			struct sync_result *res)
{
	char err_z[512];
	int writes;
	size_t want = folders_to_examine(q, local, a->acct->deletions, &writes);
	/* compression costs a round trip: only for a run that talks to folders */
	if (want && a->imap && imap_compress(a->imap, err_z, sizeof(err_z)) < 0) {
		log_warn("account %s: %s", a->acct->name, err_z);
		drop_connection(a);
	}
	pthread_t flusher;
	int flushing = writes && pthread_create(&flusher, NULL, preflush_main, a->dir) == 0;
	size_t n_workers = (size_t)a->acct->max_connections;
	if (n_workers > want)
		n_workers = want;
	if (n_workers < 1)
		n_workers = 1;
	struct worker *w = xcalloc(n_workers, sizeof(*w));
	for (size_t i = 0; i < n_workers; i++) {
		w[i].a = *a;
		w[i].q = q;
		w[i].a.counts = &w[i].counts;
		w[i].pre = (struct prefetch){ .dequeue = dequeue, .ctx = q };
		w[i].a.pre = &w[i].pre;
		w[i].a.reconnects = 0;
		w[i].a.round_trips = 0;
		if (q->opt) {
			w[i].opt = *q->opt;
			w[i].opt.on_progress = q->opt->on_progress ? locked_progress : NULL;
			w[i].opt.progress_ctx = &w[i];
			w[i].opt.on_change = q->opt->on_change ? locked_change : NULL;
			w[i].opt.change_ctx = &w[i];
			w[i].a.opt = &w[i].opt;
		}
		if (i == 0 && q->first_alone && q->n_sel) {
			q->next = 1;
			one_folder(&w[0], 0);
		}
		if (i > 0) {
			w[i].a.imap = NULL; /* its own connection, opened in its thread */
			w[i].extra = 1;
			if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
				log_warn("account %s: cannot start a second connection; continuing with one",
					 a->acct->name);
				n_workers = i;
				break;
			}
		}
	}
	if (n_workers > 1)
		log_info("account %s: %zu connections", a->acct->name, n_workers);
	worker_main(&w[0]);
	for (size_t i = 1; i < n_workers; i++)
		pthread_join(w[i].thread, NULL);
	if (flushing)
		pthread_join(flusher, NULL);
	a->imap = w[0].a.imap;
	a->reconnects = w[0].a.reconnects;
	for (size_t i = 0; i < n_workers; i++) {
		struct sync_counts *c = &w[i].counts;
		res->counts.added += c->added;
		res->counts.renamed += c->renamed;
		res->counts.removed += c->removed;
		res->counts.kept += c->kept;
		res->counts.bytes += c->bytes;
		res->counts.folders_unchanged += c->folders_unchanged;
		if (i > 0)
			drop_connection(&w[i].a);
		a->round_trips += w[i].a.round_trips;
	}
	res->counts.folders += q->folders;
	res->counts.folders_failed += q->failed;
	free(q->skip);
	q->skip = NULL;
	free(w);
}

/* For each listed folder, the first selectable one with its directory
 * (plan_first_of_dirs). */
static size_t *first_of_dirs(const struct imap_mailbox_list *list, const struct strlist *rels, int fold)
{
	unsigned char *selectable = xmalloc(list->n + 1);
	for (size_t i = 0; i < list->n; i++)
		selectable[i] = !(list->items[i].flags & IMAP_MBOX_NOSELECT);
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

/* The end of a run (docs/design.md, "State"): one syncfs per file system makes
 * the last batches' files in tmp/ durable; they are renamed into cur/; each
 * folder's state is written to .tmp with the directory times after those
 * renames; a second syncfs makes the renames and the .tmp states durable; the
 * states are renamed into place and a third syncfs makes that durable. So a
 * state never records a message that is not on disk, at three syncs per run
 * instead of several per folder. Killed before the end, a run leaves files in
 * tmp/ and .tmp states, which the next run removes, and the previous states:
 * it redoes that work, and never loses or duplicates a message. A folder whose
 * message cannot be renamed keeps its previous state. Returns how many folders
 * could not be committed; their errors are logged, naming the account, and
 * told to on_folder_uncommitted. */
static size_t commit_run(struct account_run *a, struct state_commits *c, char *err, size_t errlen)
{
	const char *account = a->acct->name;
	size_t dl = strlen(a->dir);
	struct { dev_t dev; const char *dir; } *fs = xcalloc(c->n + 1, sizeof(*fs));
	size_t n_fs = 0, failed = 0, n_msgs = 0;
	int *ok = xcalloc(c->n + 1, sizeof(*ok));
	int *skip = xcalloc(c->n + 1, sizeof(*skip));
	int rc = 0;
	superseded_entries(c, skip);
	for (size_t i = 0; i < c->n; i++) {
		struct stat sb;
		size_t k = 0;
		if (skip[i])
			continue;
		n_msgs += c->e[i].n_msgs;
		if (stat(c->e[i].dir, &sb) < 0)
			continue;
		while (k < n_fs && fs[k].dev != sb.st_dev)
			k++;
		if (k == n_fs) {
			fs[n_fs].dev = sb.st_dev;
			fs[n_fs++].dir = c->e[i].dir;
		}
	}
	log_debug("commit: %zu folders, %zu messages", c->n, n_msgs);
	for (size_t k = 0; k < n_fs && rc == 0 && n_msgs; k++)
		rc = maildir_sync_fs(fs[k].dir, err, errlen);
	log_debug("commit: messages durable in tmp/");
	for (size_t i = 0; i < c->n; i++) {
		struct commit_entry *e = &c->e[i];
		int64_t cur_ns, new_ns;
		if (skip[i])
			continue;
		ok[i] = rc == 0;
		/* the times the folder's sync ended with: another value now means
		 * someone else changed it since, and the next run lists it */
		maildir_dir_mtimes(e->dir, &cur_ns, &new_ns);
		if (cur_ns != e->st.cur_mtime_ns || new_ns != e->st.new_mtime_ns)
			e->st.listed = 0;
		for (size_t j = 0; j < e->n_msgs; j++) {
			if (rc == 0 && rename(e->msgs[j].tmp_path, e->msgs[j].cur_path) < 0) {
				log_error("account %s: %s: rename: %s", account, e->msgs[j].cur_path,
					  strerror(errno));
				ok[i] = 0;
			}
		}
		if (!ok[i])
			continue;
		if (e->n_msgs) /* else the times read above, which the check found equal */
			maildir_dir_mtimes(e->dir, &e->st.cur_mtime_ns, &e->st.new_mtime_ns);
		char serr[512];
		if (state_write_temp(e->dir, &e->st, serr, sizeof(serr)) < 0) {
			log_error("account %s: %s", account, serr);
			ok[i] = 0;
		}
	}
	log_debug("commit: renamed into cur/, states written");
	for (size_t k = 0; k < n_fs && rc == 0; k++)
		rc = maildir_sync_fs(fs[k].dir, err, errlen);
	log_debug("commit: renames and states durable");
	for (size_t i = 0; i < c->n; i++) {
		if (skip[i])
			continue;
		if (ok[i] && rc == 0 && state_commit_temp(c->e[i].dir, err, errlen) < 0)
			ok[i] = 0;
		failed += !ok[i] || rc != 0;
		if (ok[i] && rc == 0)
			continue;
		state_discard_temp(c->e[i].dir);
		const char *d = c->e[i].dir;
		if (a->opt && a->opt->on_folder_uncommitted && !strncmp(d, a->dir, dl) && d[dl] == '/')
			a->opt->on_folder_uncommitted(a->opt->folder_ctx, d + dl + 1,
						      "its changes could not be made durable (the next run "
						      "redoes them)");
	}
	for (size_t k = 0; k < n_fs && rc == 0; k++)
		rc = maildir_sync_fs(fs[k].dir, err, errlen);
	log_debug("commit: done");
	free(skip);
	free(ok);
	free(fs);
	return failed;
}

static void commits_free(struct state_commits *c)
{
	for (size_t i = 0; i < c->n; i++) {
		struct commit_entry *e = &c->e[i];
		for (size_t j = 0; j < e->n_msgs; j++) {
			unlink(e->msgs[j].tmp_path); /* not renamed: a failed commit */
			free(e->msgs[j].tmp_path);
			free(e->msgs[j].cur_path);
		}
		free(e->msgs);
		free(e->dir);
		state_free(&e->st);
	}
	free(c->e);
}

/* Gmail store entries that no folder links to any more (st_nlink 1: the
 * message left every folder, or its copies were replaced) are removed. */
static void gmail_store_prune(const struct account_run *a)
{
	struct buf dir = BUF_INIT;
	buf_addf(&dir, "%s/.mailkeep/gmail", a->dir);
	int dfd = open(dir.data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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
	int rc = imap_namespace_personal(a->imap, &prefix, &delim, err, sizeof(err));
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

/* Every listed folder's directory in the mirror, "" for one that has none, for
 * orphan detection and collisions. */
static void folder_paths(const struct imap_mailbox_list *list, struct strlist *rels)
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
static size_t select_folders(struct account_run *a, const struct imap_mailbox_list *list,
			     const struct strlist *rels, size_t *sel, struct sync_result *res)
{
	const struct account *acct = a->acct;
	size_t n_sel = 0;
	int fold = fs_folds_case(a->dir);
	size_t *first_dir = first_of_dirs(list, rels, fold);
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
		if (first_dir[i] < i) {
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
static struct imap_status_info *folder_statuses(struct account_run *a, const struct imap_mailbox_list *list,
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
			drop_connection(a);
		}
		free(names);
	}
	return status;
}

/* The order the folders are synced in; returns 1 when the first one must be
 * synced alone (Gmail's All Mail). */
static int order_folders(const struct imap_mailbox_list *list, size_t *sel, struct imap_status_info *status,
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

/* Sync the selected folders over the account's connections, then make what
 * they did durable in one commit (commit_run). */
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
	run_folders(a, &q, local, res);
	a->commits = NULL;
	size_t uncommitted = commits.n ? commit_run(a, &commits, err, sizeof(err)) : 0;
	if (uncommitted) {
		log_error("account %s: %zu folders could not be made durable (the next run redoes "
			  "their changes)%s%s", a->acct->name, uncommitted, err[0] ? ": " : "", err);
		res->counts.folders_failed += uncommitted;
	}
	commits_free(&commits);
	pthread_mutex_destroy(&commits.lock);
	pthread_mutex_destroy(&q.lock);
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
	char who[300];
	int rc;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(res, 0, sizeof(*res));
	res->status = SYNC_FAILED;
	a.dir = sync_account_dir(acct);
	snprintf(who, sizeof(who), "account %s", acct->name);
	if ((rc = lock_account_held(a.dir)) != 0) {
		if (rc == 1)
			snprintf(err, sizeof(err), "account %s: another mailkeep run holds %s/.mailkeep/lock",
				 acct->name, a.dir);
		else
			snprintf(err, sizeof(err), "account %s: another mailkeep run holds %s (its lock file was removed)",
				 acct->name, a.dir);
		log_error("%s", err);
		snprintf(res->error, sizeof(res->error), "%s", err);
		res->status = SYNC_LOCKED;
		goto out;
	}
	/* the password first: a source that fails leaves nothing behind (no
	 * mirror directory, no lock); its message names the account */
	a.password = config_get_password(acct, err, sizeof(err));
	if (!a.password) {
		log_error("%s", err);
		snprintf(res->error, sizeof(res->error), "%s", err);
		goto out;
	}
	if (maildir_mkdir_p(a.dir, err, sizeof(err)) < 0)
		goto fail;
	rc = lock_account(a.dir, who, 1, &lock, err, sizeof(err));
	if (rc < 0) /* the message names a path, not the account */
		goto fail;
	if (rc > 0) {
		log_error("%s", err);
		snprintf(res->error, sizeof(res->error), "%s", err);
		res->status = SYNC_LOCKED;
		goto out;
	}
	int unrecorded = check_server(&a, &server_file, err, sizeof(err));
	if (unrecorded < 0)
		goto fail;
	struct local_read_ctx lr = { a.dir, &local };
	if (connect_login(&a, 0, err, sizeof(err)) < 0 ||
	    imap_list(a.imap, &list, local_read, &lr, err, sizeof(err)) < 0)
		goto fail;
	if (unrecorded && state_server_save(server_file.data, acct->user, acct->host, err, sizeof(err)) < 0)
		log_warn("account %s: cannot record the mailbox of the mirror (asked again next run): %s",
			 acct->name, err);
	if (list.n_ignored) /* malformed LIST answers: folders that cannot be synced */
		res->counts.folders_failed += list.n_ignored;
	folder_paths(&list, &rels);
	res->status = SYNC_OK;
	size_t *sel = xcalloc(list.n + 1, sizeof(*sel));
	size_t n_sel = select_folders(&a, &list, &rels, sel, res);
	struct imap_status_info *status = folder_statuses(&a, &list, &rels, sel, n_sel);
	int gmail = acct->gmail_dedupe && a.imap && (imap_caps(a.imap) & IMAP_CAP_X_GM_EXT_1);
	int all_first = order_folders(&list, sel, status, n_sel, gmail);
	sync_folders(&a, &list, &rels, sel, n_sel, status, all_first, &local, res);
	free(status);
	free(sel);
	if (gmail && res->counts.removed)
		gmail_store_prune(&a);
	/* a listing with ignored lines is incomplete: no folder is called gone */
	for (size_t i = 0; i < local.n && !list.n_ignored; i++)
		check_orphan(&a, &rels, &local.f[i]);
	if (a.imap)
		record_namespace(&a);
	if (res->counts.folders_failed)
		res->status = SYNC_PARTIAL;
	if (opt && opt->snapshot) {
		drop_connection(&a);
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
	strlist_clear(&rels);
	local_free(&local);
	buf_free(&server_file);
	free(a.dir);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	res->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}
