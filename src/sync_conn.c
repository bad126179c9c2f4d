/* Sync runner, per account: its connections. Login, the queue of selected
 * folders they share, one thread per extra connection, each taking the next
 * folder when it is free (its EXAMINE sent ahead); a lost connection opened
 * again, a folder retried without look-ahead or after a throttling server's
 * wait; an early syncfs when the run will write. The rest of the account is
 * in sync.c. */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "mailkeep/buf.h"
#include "mailkeep/imap.h"
#include "mailkeep/log.h"

#include "sync_account.h"

/* Close the account's connection, counting its round trips first. */
void sync_drop_connection(struct account_run *a)
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
int sync_connect_login(struct account_run *a, int enable, char *err, size_t errlen)
{
	int code = 0;
	sync_drop_connection(a);
	a->imap = imap_connect(a->acct, &code, err, errlen);
	if (!a->imap)
		return code;
	int rc = imap_login(a->imap, a->acct->user, a->password, err, errlen);
	if (rc == 0 && enable)
		rc = imap_compress(a->imap, err, errlen);
	if (rc == 0 && enable)
		rc = imap_enable_qresync(a->imap, err, errlen) < 0 ? IMAP_ERR_NET : 0;
	if (rc < 0)
		sync_drop_connection(a);
	return rc;
}

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
		sync_prefetch_drain(a);
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
	int last = 0;
	if (budget_ms > THROTTLE_MAX_MS)
		budget_ms = THROTTLE_MAX_MS;
	for (unsigned t = 0; rc < 0 && !last && !a->folder_done && a->imap && imap_throttle_ms(a->imap) &&
			     t < THROTTLE_RETRIES; t++) {
		unsigned wait_ms = imap_throttle_ms(a->imap) << t;
		int spent = a->throttle_waited_ms >= budget_ms;
		if (wait_ms > THROTTLE_MAX_MS)
			wait_ms = THROTTLE_MAX_MS;
		if (spent && !a->throttled_download) {
			log_warn("account %s: folder \"%s\": server is throttling (%s); this run has waited "
				 "%.1f s for it already: not retried", a->acct->name, mb->utf8, err,
				 a->throttle_waited_ms / 1000.0);
			break;
		}
		if (spent) {
			wait_ms = 0;
			log_warn("account %s: folder \"%s\": server is throttling (%s); this run has waited "
				 "%.1f s for it already: its download is tried once more, now", a->acct->name,
				 mb->utf8, err, a->throttle_waited_ms / 1000.0);
		} else {
			if (wait_ms > budget_ms - a->throttle_waited_ms)
				wait_ms = budget_ms - a->throttle_waited_ms;
			a->throttle_waited_ms += wait_ms;
			log_warn("account %s: folder \"%s\": server is throttling (%s); retrying in %.1f s",
				 a->acct->name, mb->utf8, err, wait_ms / 1000.0);
		}
		struct timespec ts = { wait_ms / 1000, (long)(wait_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		imap_throttle_clear(a->imap);
		if (imap_connection_lost(rc)) {
			sync_drop_connection(a);
			if (sync_connect_login(a, 1, err, errlen) < 0)
				break;
		}
		*rep = (struct sync_folder_report){ .name = mb->utf8, .path = rel, .how = "" };
		/* the last try: a download command answered with a throttling code
		 * now is taken for a message the server cannot read (one answered
		 * [UNAVAILABLE] for good must not hold the folder back every run);
		 * a folder whose download was throttled gets it even when the run
		 * has waited all it may, at once */
		last = spent || t + 1 == THROTTLE_RETRIES || a->throttle_waited_ms >= budget_ms;
		a->throttle_last = last;
		a->throttled_download = 0;
		rc = sync_folder(a, mb, rel, status, rep, err, errlen);
		a->throttle_last = 0;
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
		    (a->reconnects++, sync_connect_login(a, 1, err, sizeof(err)) < 0)) {
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
	a->throttled_download = 0;
	rc = sync_folder(a, mb, rel, status, &rep, err, sizeof(err));
	after_folder(a, mb, rc);
	if (rc == SYNC_ERR_RESELECT) {
		log_debug("%s: %s", mb->utf8, err);
		a->no_lookahead = 1;
		rep = (struct sync_folder_report){ .name = mb->utf8, .path = rel, .how = "" };
		rc = sync_folder(a, mb, rel, status, &rep, err, sizeof(err));
		after_folder(a, mb, rc);
		a->no_lookahead = 0;
		a->carry_renames = a->carry_removes = 0; /* never another folder's */
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
		sync_drop_connection(a);
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
		if (sync_connect_login(&w->a, 1, err, sizeof(err)) < 0) {
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
	sync_prefetch_drain(&w->a);
	return NULL;
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

/* W set up to sync folders of Q for the account A: a copy of A with its own
 * counts, its prefetch and the run's hooks routed through the queue lock. */
static void worker_init(struct worker *w, const struct account_run *a, struct folder_queue *q)
{
	w->a = *a;
	w->q = q;
	w->a.counts = &w->counts;
	w->pre = (struct prefetch){ .dequeue = dequeue, .ctx = q };
	w->a.pre = &w->pre;
	w->a.reconnects = 0;
	w->a.round_trips = 0;
	if (q->opt) {
		w->opt = *q->opt;
		w->opt.on_progress = q->opt->on_progress ? locked_progress : NULL;
		w->opt.progress_ctx = w;
		w->opt.on_change = q->opt->on_change ? locked_change : NULL;
		w->opt.change_ctx = w;
		w->a.opt = &w->opt;
	}
}

/* The counts of the N workers W added to RES, their round trips to A's; the
 * extra connections (all but the first worker's) closed. */
static void workers_end(struct account_run *a, struct worker *w, size_t n, struct sync_result *res)
{
	for (size_t i = 0; i < n; i++) {
		struct sync_counts *c = &w[i].counts;
		res->counts.added += c->added;
		res->counts.renamed += c->renamed;
		res->counts.removed += c->removed;
		res->counts.kept += c->kept;
		res->counts.bytes += c->bytes;
		res->counts.folders_unchanged += c->folders_unchanged;
		if (i > 0)
			sync_drop_connection(&w[i].a);
		a->round_trips += w[i].a.round_trips;
	}
}

/* Sync the queued folders on the account's connection and, when at least two
 * folders need the server and max_connections allows, on extra connections in
 * threads; each connection takes the next folder when it is free. */
void sync_run_folders(struct account_run *a, struct folder_queue *q, const struct local_view *local,
		      struct sync_result *res)
{
	char err_z[512];
	int writes;
	size_t want = sync_folders_to_examine(q, local, a->acct->deletions, &writes);
	/* compression costs a round trip: only for a run that talks to folders */
	if (want && a->imap && imap_compress(a->imap, err_z, sizeof(err_z)) < 0) {
		log_warn("account %s: %s", a->acct->name, err_z);
		sync_drop_connection(a);
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
		worker_init(&w[i], a, q);
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
	workers_end(a, w, n_workers, res);
	res->counts.folders += q->folders;
	res->counts.folders_failed += q->failed;
	free(q->skip);
	q->skip = NULL;
	free(w);
}

