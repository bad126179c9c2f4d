/* Sync runner, one folder: the download. Bodies stream into tmp/, are made
 * durable in batches (one syncfs per batch) and renamed into cur/; the last
 * batch is left to the end-of-run commit. Gmail copies are linked from the
 * account's store; a body whose literal is not its RFC822.SIZE long is held
 * until the download proves the server sent the answers asked for. */
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

struct gm_pair {
	uint32_t uid;
	uint64_t msgid;
	uint64_t size;  /* RFC822.SIZE, UINT64_MAX when unknown */
	int64_t internaldate; /* INT64_MIN when unknown */
};

/* Messages written to tmp/ and not yet durable: made durable together by one
 * syncfs(2), then renamed into cur/ (tmp -> sync -> rename, batched). */
struct pending {
	char *tmp_path;
	char *final_name;
	size_t idx;
	uint64_t bytes;
	uint64_t msgid;         /* X-GM-MSGID, 0 when none */
	uint64_t body_size;     /* its literal's length (a body held for its INTERNALDATE) */
};

static int on_body_begin(void *ctx, uint64_t size, char *err, size_t errlen)
{
	struct folder_run *f = ctx;
	char base[96];
	if (f->dl_open) {
		maildir_delivery_abort(&f->dl);
		f->dl_open = 0;
	}
	snprintf(base, sizeof(base), "%lld.%ld_%u.mailkeep.part", (long long)time(NULL), (long)getpid(),
		 ++f->a->tmp_counter);
	if (maildir_delivery_open(&f->dl, f->dir.data, base, err, errlen) < 0)
		return -1;
	/* a folder's few new messages wait for the end-of-run commit: their
	 * write-back may start now */
	f->dl.early_writeback = f->plan && f->plan->n_fetch < PENDING_MAX;
	f->dl_open = 1;
	return 0;
}

static int on_body_data(void *ctx, const char *data, size_t len, char *err, size_t errlen)
{
	struct folder_run *f = ctx;
	if (!f->dl_open)
		return 0;
	return maildir_delivery_write(&f->dl, data, len, err, errlen);
}

int sync_fetch_wanted(const struct plan *p, uint32_t uid)
{
	size_t lo = 0, hi = p->n_fetch;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->fetch[mid] < uid)
			lo = mid + 1;
		else if (p->fetch[mid] > uid)
			hi = mid;
		else
			return 1;
	}
	return 0;
}


static void store_path(struct buf *out, const struct folder_run *f, uint64_t msgid)
{
	buf_reset(out);
	buf_addf(out, "%s/%" PRIu64, f->store.data, msgid);
}

/* Whether two files hold the same bytes (both regular, same size checked). */
static int same_content(const char *x, const char *y)
{
	char bx[16384], by[16384];
	int same = 0;
	int fx = open(x, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	int fy = open(y, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fx < 0 || fy < 0)
		goto out;
	for (;;) {
		ssize_t nx = read(fx, bx, sizeof(bx)), ny = nx > 0 ? read(fy, by, (size_t)nx) : nx;
		if (nx < 0 || nx != ny || memcmp(bx, by, (size_t)(nx > 0 ? nx : 0)) != 0)
			goto out;
		if (nx == 0)
			break;
	}
	same = 1;
out:
	if (fx >= 0)
		close(fx);
	if (fy >= 0)
		close(fy);
	return same;
}

/* A message just made durable in cur/: record it in the Gmail store. When
 * another connection stored the same message first, share its inode (only
 * when both hold the same bytes: a server may reuse an id). */
static void store_add(struct folder_run *f, const char *cur_path, uint64_t msgid)
{
	struct buf sp = BUF_INIT, tmp = BUF_INIT;
	struct stat a, b;
	store_path(&sp, f, msgid);
	if (link(cur_path, sp.data) == 0) {
		f->store_touched = 1;
	} else if (errno == EEXIST && lstat(sp.data, &a) == 0 && S_ISREG(a.st_mode) &&
		   stat(cur_path, &b) == 0 && a.st_ino != b.st_ino && a.st_size == b.st_size &&
		   same_content(sp.data, cur_path)) {
		buf_addf(&tmp, "%s/tmp/%" PRIu64 ".mailkeep-link", f->dir.data, msgid);
		unlink(tmp.data);
		if (link(sp.data, tmp.data) == 0 && rename(tmp.data, cur_path) < 0)
			unlink(tmp.data);
	}
	buf_free(&sp);
	buf_free(&tmp);
}

/* The last batch of a folder, when the run commits at its end: the files stay
 * in tmp/ and are made durable and renamed into cur/ with every other folder's
 * (sync_commit_run), saving a sync per folder. Counted as delivered now. */
static void defer_pending(struct folder_run *f)
{
	f->deferred = xmalloc(f->n_pending * sizeof(*f->deferred));
	for (size_t i = 0; i < f->n_pending; i++) {
		struct pending *p = &f->pending[i];
		struct buf to = BUF_INIT;
		buf_addf(&to, "%s/cur/%s", f->dir.data, p->final_name);
		f->deferred[f->n_deferred++] = (struct commit_msg){ p->tmp_path, buf_detach(&to) };
		f->sv.present[p->idx] = 1;
		f->added++;
		f->bytes += p->bytes;
		buf_reset(&f->rel_buf);
		buf_addf(&f->rel_buf, "%s/cur/%s", f->rel, p->final_name);
		sync_change(f->a, SYNC_CHANGE_ADD, NULL, f->rel_buf.data);
		free(p->final_name);
	}
	if (f->a->opt && f->a->opt->on_progress)
		f->a->opt->on_progress(f->a->opt->progress_ctx, f->name, f->added, f->plan->n_fetch, f->bytes);
	f->n_pending = 0;
	f->pending_bytes = 0;
}

static int flush_pending(struct folder_run *f, int last, char *err, size_t errlen)
{
	struct buf to = BUF_INIT;
	int rc = 0;
	if (!f->n_pending)
		return 0;
	const char *mode = getenv("MAILKEEP_DURABILITY"); /* measurement knob, see docs/performance.md */
	if (last && f->a->commits && !f->gmail && !mode && !f->n_deferred) {
		defer_pending(f);
		return 0;
	}
	if (mode && !strcmp(mode, "fsync")) {
		for (size_t i = 0; i < f->n_pending && rc == 0; i++) {
			int fd = open(f->pending[i].tmp_path, O_RDONLY | O_CLOEXEC);
			if (fd < 0 || fdatasync(fd) < 0) {
				snprintf(err, errlen, "%s: fsync: %s", f->pending[i].tmp_path, strerror(errno));
				rc = -1;
			}
			if (fd >= 0)
				close(fd);
		}
	} else if (!(mode && !strcmp(mode, "none")) && maildir_sync_fs(f->dir.data, err, errlen) < 0)
		rc = -1;
	sync_folder_watch_check(f);
	int64_t tick = sync_change_tick();
	for (size_t i = 0; i < f->n_pending; i++) {
		struct pending *p = &f->pending[i];
		buf_reset(&to);
		buf_addf(&to, "%s/cur/%s", f->dir.data, p->final_name);
		if (rc == 0 && rename(p->tmp_path, to.data) < 0) {
			snprintf(err, errlen, "%s: rename: %s", to.data, strerror(errno));
			rc = -1;
		}
		if (rc == 0) {
			f->sv.present[p->idx] = 1;
			f->added++;
			f->bytes += p->bytes;
			if (p->msgid && f->gmail)
				store_add(f, to.data, p->msgid);
			buf_reset(&f->rel_buf);
			buf_addf(&f->rel_buf, "%s/cur/%s", f->rel, p->final_name);
			sync_change(f->a, SYNC_CHANGE_ADD, NULL, f->rel_buf.data);
		} else {
			f->sv.present[p->idx] = 0;
			unlink(p->tmp_path);
		}
		free(p->tmp_path);
		free(p->final_name);
	}
	/* once for the batch, made durable together: reported message by message,
	 * its first one alone on the progress line gave a time left as if the
	 * batch's time had gone to that one */
	if (f->n_pending && f->a->opt && f->a->opt->on_progress)
		f->a->opt->on_progress(f->a->opt->progress_ctx, f->name, f->added, f->plan->n_fetch, f->bytes);
	sync_folder_watch_set(f);
	if (sync_change_tick() != tick)
		f->recheck = 1; /* see sync_change_tick */
	f->n_pending = 0;
	f->pending_bytes = 0;
	f->flushes++;
	buf_reset(&to);
	buf_addf(&to, "%s/cur", f->dir.data);
	if (rc == 0 && !f->a->commits) /* else the run's final sync covers the renames */
		rc = maildir_fsync_dir(to.data, err, errlen);
	buf_free(&to);
	return rc;
}

static int cmp_bodyless(const void *x, const void *y)
{
	const struct bodyless *a = x, *b = y;
	if (a->uid != b->uid)
		return a->uid < b->uid ? -1 : 1;
	return (a->why > b->why) - (a->why < b->why);
}

/* A wanted UID answered without a body it can keep. At most as many entries
 * as UIDs asked for, a repeat of the last one not counted: a server repeating
 * itself stays bounded (an answer not recorded then reads as a message that
 * did not come back, which keeps no body in doubt either). */
static void bodyless_add(struct folder_run *f, uint32_t uid, int why)
{
	if (f->n_bodyless >= f->plan->n_fetch)
		return;
	if (f->n_bodyless && f->bodyless[f->n_bodyless - 1].uid == uid &&
	    (int)f->bodyless[f->n_bodyless - 1].why == why)
		return;
	if (f->n_bodyless == f->cap_bodyless) {
		f->cap_bodyless = f->cap_bodyless ? f->cap_bodyless * 2 : 16;
		f->bodyless = xrealloc(f->bodyless, f->cap_bodyless * sizeof(*f->bodyless));
	}
	f->bodyless[f->n_bodyless++] = (struct bodyless){ uid, why };
	f->bodyless_unsorted = 1;
}

/* Whether uid was answered without its body (sorted on demand): a FETCH of
 * FLAGS alone is no answer (BODY_FLAGS_ONLY sorts after the others). */
static int is_bodyless(struct folder_run *f, uint32_t uid)
{
	size_t lo = 0, hi = f->n_bodyless;
	if (f->bodyless_unsorted) {
		qsort(f->bodyless, f->n_bodyless, sizeof(*f->bodyless), cmp_bodyless);
		f->bodyless_unsorted = 0;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (f->bodyless[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < f->n_bodyless && f->bodyless[lo].uid == uid && f->bodyless[lo].why != BODY_FLAGS_ONLY;
}

static void pending_add(struct folder_run *f, const struct pending *p)
{
	if (f->n_pending == f->cap_pending) {
		f->cap_pending = f->cap_pending ? f->cap_pending * 2 : 64;
		f->pending = xrealloc(f->pending, f->cap_pending * sizeof(*f->pending));
	}
	f->pending[f->n_pending++] = *p;
	f->pending_bytes += p->bytes;
}

/* A delivered body not to be kept: its file in tmp/ goes. */
static void pending_discard(struct pending *p)
{
	unlink(p->tmp_path);
	free(p->tmp_path);
	free(p->final_name);
}

/* The same, for a body held for the message at p->idx: that message is
 * again one not mirrored. */
static void pending_drop(struct folder_run *f, struct pending *p)
{
	f->sv.present[p->idx] = 0;
	pending_discard(p);
}

/* What an answer for the message at idx in the view said of its INTERNALDATE
 * and RFC822.SIZE (INT64_MIN, UINT64_MAX: nothing), for its body in another;
 * f->split is made at the first call. */
static void split_note(struct folder_run *f, size_t idx, int64_t date, uint64_t size)
{
	if (date == INT64_MIN && size == UINT64_MAX && f->split)
		return;
	if (!f->split) {
		f->split = xmalloc((f->sv.n + 1) * sizeof(*f->split));
		for (size_t i = 0; i < f->sv.n; i++)
			f->split[i] = (struct split_items){ INT64_MIN, UINT64_MAX };
	}
	if (date != INT64_MIN)
		f->split[idx].date = date;
	if (size != UINT64_MAX)
		f->split[idx].size = size;
}

/* A FETCH answer M without a body, of the message at IDX in the view (or
 * -1): recorded as bodyless when the body was asked for; a delivery opened
 * for it (a refused partial body) aborted. */
static void no_body(struct folder_run *f, const struct imap_msg *m, ssize_t idx)
{
	/* An answer without the body asked for says why (NIL, a part), or at least
	 * holds the other items asked with it. A FETCH of FLAGS alone is no answer
	 * but a flag change the server reports on its own (RFC 3501 §7.4.2), maybe
	 * before the body: taken for one, it would vouch that the message came
	 * back, and a body whose literal took its answer in would be kept. */
	int answered = m->body_nil || m->body_partial || m->internaldate != INT64_MIN ||
		       m->rfc822_size != UINT64_MAX;
	if (idx >= 0 && !f->sv.present[idx] && sync_fetch_wanted(f->plan, m->uid))
		bodyless_add(f, m->uid, !answered ? BODY_FLAGS_ONLY : m->body_nil ? BODY_NIL :
				       m->body_partial ? BODY_PARTIAL : BODY_MISSING);
	/* a server may split a message's items over several FETCH responses
	 * (RFC 3501 §7.4.2): the body, before or after, takes these */
	if (idx >= 0 && !m->body_nil && !m->body_partial &&
	    (m->internaldate != INT64_MIN || m->rfc822_size != UINT64_MAX))
		split_note(f, (size_t)idx, m->internaldate, m->rfc822_size);
	if (f->dl_open) { /* a refused partial body */
		maildir_delivery_abort(&f->dl);
		f->dl_open = 0;
	}
}

/* The message just delivered to tmp/ (PD, its paths now f's) queued for its
 * rename into cur/: held until the download ends when its RFC822.SIZE (size,
 * UINT64_MAX: not told) is not its body's, else pending, the batch flushed
 * when full. 0, or <0 with err. */
static int hold_or_queue(struct folder_run *f, uint64_t size, const struct pending *pd, char *err, size_t errlen)
{
	if (size != UINT64_MAX && size != pd->body_size) {
		/* Servers whose RFC822.SIZE is not their BODY[]'s length exist
		 * (Exchange, hMailServer): not an error by itself. But a literal
		 * announced longer than it is swallows the next answer and can
		 * still parse: held until the download ends (settle_odd) */
		if (f->n_odd == f->cap_odd) {
			f->cap_odd = f->cap_odd ? f->cap_odd * 2 : 16;
			f->odd = xrealloc(f->odd, f->cap_odd * sizeof(*f->odd));
		}
		f->odd[f->n_odd++] = *pd;
		return 0;
	}
	pending_add(f, pd);
	if (f->n_pending >= PENDING_MAX || f->pending_bytes >= PENDING_BYTES)
		return flush_pending(f, 0, err, errlen);
	return 0;
}

/* The body held at pd (its view index pd->idx, of `flags`, dated date) named
 * and queued (hold_or_queue); a body of no bytes whose RFC822.SIZE (size) is
 * not 0 is not kept: a message the server could not read (iCloud, Exchange),
 * not an empty one; stored, it would stand for the message for good. */
static int name_and_queue(struct folder_run *f, struct pending *pd, int64_t date, uint64_t size, char *err,
			  size_t errlen)
{
	uint32_t uid = f->sv.msgs[pd->idx].uid;
	if (!pd->body_size && size && size != UINT64_MAX) {
		bodyless_add(f, uid, BODY_EMPTY);
		pending_drop(f, pd);
		return 0;
	}
	/* a date before 1970 is the file's mtime as it is; its name says 0, since
	 * a name starting with '-' reads as an option to every shell tool */
	int64_t name_date = date < 0 ? 0 : date;
	struct buf final = BUF_INIT;
	maildir_base_name(&f->name_buf, name_date, f->uidvalidity, uid);
	maildir_name_with_flags(&final, f->name_buf.data, f->sv.msgs[pd->idx].flags);
	free(pd->final_name);
	pd->final_name = buf_detach(&final);
	f->sv.date[pd->idx] = name_date;
	f->sv.present[pd->idx] = 2; /* pending */
	return hold_or_queue(f, size, pd, err, errlen);
}

static int on_message(void *ctx, const struct imap_msg *m, char *err, size_t errlen)
{
	struct folder_run *f = ctx;
	ssize_t idx = sync_sv_find(&f->sv, m->uid);
	if (!m->has_body)
		no_body(f, m, idx);
	if (!m->has_body || !f->dl_open)
		return 0;
	if (idx < 0 || !sync_fetch_wanted(f->plan, m->uid) || f->sv.present[idx]) {
		/* not asked for, or a second copy: drop it */
		log_debug("%s: ignoring unrequested body for UID %" PRIu32, f->name, m->uid);
		maildir_delivery_abort(&f->dl);
		f->dl_open = 0;
		return 0;
	}
	struct split_items it = f->split ? f->split[idx] : (struct split_items){ INT64_MIN, UINT64_MAX };
	if (m->internaldate != INT64_MIN)
		it.date = m->internaldate;
	if (m->rfc822_size != UINT64_MAX)
		it.size = m->rfc822_size;
	if (m->has_flags) {
		f->sv.msgs[idx].flags = (uint8_t)m->flags;
		f->sv.keywords[idx] = kwset_intern(&f->sv.kw, m->keywords);
	}
	/* a file dated "now" would never be corrected: without its
	 * INTERNALDATE, held until its command ends (settle_dateless) */
	int rc = maildir_delivery_finish(&f->dl, it.date != INT64_MIN ? it.date : 0, 0, err, errlen);
	f->dl_open = 0;
	if (rc < 0) {
		maildir_delivery_abort(&f->dl);
		return rc;
	}
	struct pending pd = { f->dl.tmp_path, NULL, (size_t)idx, f->dl.bytes, m->gm_msgid, m->body_size };
	f->dl.tmp_path = NULL;
	f->sv.present[idx] = 2; /* pending */
	/* an empty body is not an empty message when its RFC822.SIZE, maybe
	 * still to come, is not 0: held until its command ends too */
	if (it.date != INT64_MIN && (pd.body_size || it.size != UINT64_MAX))
		return name_and_queue(f, &pd, it.date, it.size, err, errlen);
	split_note(f, (size_t)idx, it.date, it.size); /* settle_dateless reads f->split */
	if (f->n_dateless == f->cap_dateless) {
		f->cap_dateless = f->cap_dateless ? f->cap_dateless * 2 : 16;
		f->dateless = xrealloc(f->dateless, f->cap_dateless * sizeof(*f->dateless));
	}
	f->dateless[f->n_dateless++] = pd;
	return 0;
}

/* The bodies that came without their INTERNALDATE (or empty, without their
 * RFC822.SIZE), once the command that brought them has ended: those whose
 * INTERNALDATE came in another answer are dated and queued (name_and_queue
 * checks the size); the others are not kept, the rest of the folder is (it
 * fails for this run, the next asks again). 0, or <0 with err. */
static int settle_dateless(struct folder_run *f, char *err, size_t errlen)
{
	int rc = 0;
	for (size_t i = 0; i < f->n_dateless; i++) {
		struct pending *pd = &f->dateless[i];
		const struct split_items *it = &f->split[pd->idx];
		if (it->date == INT64_MIN || rc < 0) {
			if (rc == 0)
				bodyless_add(f, f->sv.msgs[pd->idx].uid, BODY_NO_DATE);
			pending_drop(f, pd);
			continue;
		}
		struct timespec ts[2] = { { .tv_sec = (time_t)it->date }, { .tv_sec = (time_t)it->date } };
		if (utimensat(AT_FDCWD, pd->tmp_path, ts, 0) < 0) {
			snprintf(err, errlen, "%s: %s", pd->tmp_path, strerror(errno));
			rc = -1;
			pending_drop(f, pd);
			continue;
		}
		int qrc = name_and_queue(f, pd, it->date, it->size, err, errlen);
		rc = qrc < 0 ? qrc : rc;
	}
	f->n_dateless = 0;
	return rc;
}

static void settle_batch(struct folder_run *f, const uint32_t *uids, size_t n);

/* Download commands refused (note_refused) one after the other, with none
 * answered OK in between, before the folder fails for the run: a NO that is
 * not about one message (the folder deleted meanwhile) must not cost a
 * command per message of a large folder. An unreadable message costs one
 * refused command per size of command of the bisection (500, 125, 32, 8, 2,
 * 1), its readable neighbours answered OK in between; a total budget would
 * hold back the same readable messages on every run once a folder has more
 * unreadable ones than it allows. Past this, only a run of as many unreadable
 * messages in a row holds back a readable one beside it. */
#define REFUSED_IN_A_ROW 64

/* The size of the commands asking again for what refused commands of at
 * most n UIDs did not bring: a quarter of it. */
static size_t refused_batch(size_t n)
{
	return (n + 3) / 4;
}

/* Whether the NO a download command just got is taken for a message the
 * server cannot read: it has no throttling code, or this is the folder's last
 * try for a throttling server (retry_throttled: a message answered
 * [UNAVAILABLE] for good must not hold the rest of the folder back). Else
 * the folder's download is noted as throttled, for that last try. */
static int taken_for_refusal(struct folder_run *f)
{
	if (!imap_throttle_ms(f->a->imap) || f->a->throttle_last)
		return 1;
	f->a->throttled_download = 1;
	return 0;
}

/* A download command (uids[0..n)) answered NO by a server that is not
 * throttling: a server that cannot read one message refuses the whole command
 * (Yahoo's "Server error while fetching messages", Exchange's items it
 * cannot convert). Several UIDs: those that did not come back are appended to
 * again[*n_again] (room for n more), to be asked for again in smaller
 * commands (refused_batch). One UID: recorded as refused (the folder fails
 * for this run, the rest is mirrored; the next run asks again), or, the NO
 * saying [EXPUNGEISSUED] (RFC 5530), as answered NIL: it vanished when an
 * expunge was seen (sync_fetch_unmirrored). The first refusal is warned about. */
static void note_refused(struct folder_run *f, const uint32_t *uids, size_t n, const char *why,
			 uint32_t *again, size_t *n_again)
{
	if (!f->refused) {
		f->refused = 1;
		log_warn("account %s: folder \"%s\": %s; the messages asked for are asked for again in "
			 "smaller commands", f->a->acct->name, f->name, why);
	}
	if (n == 1) {
		bodyless_add(f, uids[0], imap_refused_expunged(f->a->imap) ? BODY_NIL : BODY_REFUSED);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		ssize_t idx = sync_sv_find(&f->sv, uids[i]);
		if (idx >= 0 && !f->sv.present[idx] && !is_bodyless(f, uids[i]))
			again[(*n_again)++] = uids[i];
	}
}

/* UID FETCH <items> for the given UIDs: commands of at most `batch` UIDs
 * (and a bounded command length), pipeline_depth of them in flight, so the
 * link never idles between batches. A download command refused (NO, no
 * throttling) does not stop the others; what it asked for and did not get is
 * asked for again in smaller commands (note_refused), down to one UID a
 * command, as long as the refusals do not follow each other without end
 * (REFUSED_IN_A_ROW). */
static int fetch_pipelined(struct folder_run *f, const uint32_t *uids, size_t n_uids, size_t batch,
			   const char *items, const struct imap_fetch_cb *cb, char *err, size_t errlen)
{
	struct buf set = BUF_INIT;
	uint32_t *again = NULL; /* UIDs of refused commands, asked for again in smaller ones */
	size_t n_again = 0;
	unsigned tags[64];
	size_t window = f->a->acct->pipeline_depth > 0 && f->a->acct->pipeline_depth <= 64 ?
		(size_t)f->a->acct->pipeline_depth : FETCH_WINDOW;
	size_t next = 0, head = 0, tail = 0; /* tags[head..tail) in flight (mod window) */
	size_t most = 0;                     /* UIDs of the largest refused command */
	int rc = 0, failed = 0, download = cb->on_message == on_message;
	char ferr[512], serr[512];
	if (n_uids && !sync_folder_still_selected(f, err, errlen))
		return SYNC_ERR_RESELECT;
	while ((next < n_uids && !failed) || head != tail) {
		if (next < n_uids && !failed && tail - head < window) {
			/* at most 500 UIDs: the command stays under 6 KB however sparse */
			size_t n = n_uids - next < batch ? n_uids - next : batch;
			buf_reset(&set);
			imap_uidset(&set, uids + next, n);
			next += n;
			rc = imap_uid_fetch_send(f->a->imap, set.data, items, &tags[tail % window], err, errlen);
			if (rc < 0)
				break;
			tail++;
			continue;
		}
		int r = imap_uid_fetch_wait(f->a->imap, tags[head % window], cb, ferr, sizeof(ferr));
		size_t start = head * batch, n = n_uids - start < batch ? n_uids - start : batch;
		/* a local error (a batch that could not be made durable) comes
		 * before a refusal: its bodies are gone, not vanished */
		if (f->n_dateless && settle_dateless(f, serr, sizeof(serr)) < 0 && r != IMAP_ERR_NET &&
		    r != IMAP_ERR_PROTOCOL) {
			r = IMAP_ERR_LOCAL;
			snprintf(ferr, sizeof(ferr), "%s", serr);
		}
		if (r == 0 && download)
			f->refused_in_a_row = 0;
		if (r == 0 && !failed && download) /* its held bodies checked now: kept if the download fails later */
			settle_batch(f, uids + start, n);
		head++;
		if (f->dl_open) {
			maildir_delivery_abort(&f->dl);
			f->dl_open = 0;
		}
		if (r == IMAP_ERR_NO && download && !failed && taken_for_refusal(f) &&
		    f->refused_in_a_row++ < REFUSED_IN_A_ROW) {
			if (n > 1 && !again)
				again = xmalloc(n_uids * sizeof(*again));
			note_refused(f, uids + start, n, ferr, again, &n_again);
			most = n > most ? n : most;
			continue;
		}
		if (r < 0 && !failed) {
			failed = 1;
			rc = r;
			snprintf(err, errlen, "%s", ferr);
		}
		if (r == IMAP_ERR_NET || r == IMAP_ERR_PROTOCOL)
			break;
	}
	if (rc == 0 && n_again)
		rc = fetch_pipelined(f, again, n_again, refused_batch(most), items, cb, err, errlen);
	buf_free(&set);
	free(again);
	return rc;
}

static int on_msgid(void *ctx, const struct imap_msg *m, char *err, size_t errlen)
{
	struct folder_run *f = ctx;
	if (!m->gm_msgid || !sync_fetch_wanted(f->plan, m->uid))
		return 0;
	if (f->n_gm && f->gm[f->n_gm - 1].uid == m->uid) { /* the same again: the last wins */
		f->gm[f->n_gm - 1] = (struct gm_pair){ m->uid, m->gm_msgid, m->rfc822_size, m->internaldate };
		return 0;
	}
	/* one answer per UID asked for: a server repeating them without end is hostile */
	if (f->n_gm >= 2 * f->plan->n_fetch + 1024) {
		snprintf(err, errlen, "the server sent more X-GM-MSGID answers than UIDs were asked for");
		return IMAP_ERR_PROTOCOL;
	}
	if (f->n_gm == f->cap_gm) {
		f->cap_gm = f->cap_gm ? f->cap_gm * 2 : 64;
		f->gm = xrealloc(f->gm, f->cap_gm * sizeof(*f->gm));
	}
	f->gm[f->n_gm++] = (struct gm_pair){ m->uid, m->gm_msgid, m->rfc822_size, m->internaldate };
	return 0;
}

static int cmp_gm(const void *x, const void *y)
{
	const struct gm_pair *a = x, *b = y;
	return a->uid < b->uid ? -1 : a->uid > b->uid;
}

/* Whether the stored file at path (LF line ends) can be the server's message
 * of RFC822.SIZE size (CRLF): its size plus one byte per LF, or its size
 * alone (bare LFs at the server). A server reusing an X-GM-MSGID for another
 * message is caught here, and the message is downloaded instead. */
static int store_size_matches(const char *path, uint64_t size)
{
	char b[65536];
	uint64_t bytes = 0, lf = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return 0;
	while ((n = read(fd, b, sizeof(b))) > 0) {
		bytes += (uint64_t)n;
		for (const char *q = b; (q = memchr(q, '\n', (size_t)(b + n - q))) != NULL; q++)
			lf++;
	}
	close(fd);
	return n == 0 && (bytes + lf == size || bytes == size);
}

/* Link message uid from the store into cur/ under its own name. 0 when done;
 * 1 when it must be downloaded (not in the store, not the same size, or the
 * link failed). */
static int link_from_store(struct folder_run *f, uint32_t uid, const struct gm_pair *g)
{
	struct buf sp = BUF_INIT, final = BUF_INIT, to = BUF_INIT;
	struct stat sb;
	ssize_t idx = sync_sv_find(&f->sv, uid);
	int rc = 1;
	store_path(&sp, f, g->msgid);
	if (idx < 0 || f->sv.present[idx] || lstat(sp.data, &sb) < 0 || !S_ISREG(sb.st_mode))
		goto out;
	if (g->size == UINT64_MAX || !store_size_matches(sp.data, g->size)) {
		log_debug("%s: UID %" PRIu32 ": X-GM-MSGID %" PRIu64 " stored with another size: downloaded",
			  f->name, uid, g->msgid);
		goto out;
	}
	/* The store file's mtime is the message's INTERNALDATE, as everywhere;
	 * but it is the inode of the message's other copies, whose mtime a
	 * reader may have changed (touch): named by the server's date, and the
	 * mtime put back for every copy, as their next listing would. */
	int64_t idate = g->internaldate != INT64_MIN ? g->internaldate : (int64_t)sb.st_mtime;
	int64_t name_date = idate < 0 ? 0 : idate;
	if ((int64_t)sb.st_mtim.tv_sec != idate || sb.st_mtim.tv_nsec != 0) {
		struct timespec ts[2] = { { .tv_sec = (time_t)idate }, { .tv_sec = (time_t)idate } };
		if (utimensat(AT_FDCWD, sp.data, ts, AT_SYMLINK_NOFOLLOW) < 0)
			log_debug("%s: %s: cannot set its date back: %s", f->name, sp.data, strerror(errno));
	}
	maildir_base_name(&f->name_buf, name_date, f->uidvalidity, uid);
	maildir_name_with_flags(&final, f->name_buf.data, f->sv.msgs[idx].flags);
	buf_addf(&to, "%s/cur/%s", f->dir.data, final.data);
	sync_folder_watch_check(f);
	int64_t tick = sync_change_tick();
	int lrc = link(sp.data, to.data);
	sync_folder_watch_set(f);
	if (sync_change_tick() != tick)
		f->recheck = 1; /* see sync_change_tick */
	if (lrc < 0) {
		log_debug("%s: %s: link: %s", f->name, to.data, strerror(errno));
		goto out;
	}
	f->sv.present[idx] = 1;
	f->sv.date[idx] = name_date;
	f->added++;
	f->linked++;
	buf_reset(&f->rel_buf);
	buf_addf(&f->rel_buf, "%s/cur/%s", f->rel, final.data);
	sync_change(f->a, SYNC_CHANGE_ADD, NULL, f->rel_buf.data);
	rc = 0;
out:
	buf_free(&sp);
	buf_free(&final);
	buf_free(&to);
	return rc;
}

/* Gmail: learn the X-GM-MSGID of the planned UIDs and link those already in
 * the store; the rest (*rest, owned) still has to be downloaded. */
static int link_known(struct folder_run *f, uint32_t **rest, size_t *n_rest, char *err, size_t errlen)
{
	const struct plan *p = f->plan;
	struct imap_fetch_cb cb = { NULL, NULL, on_msgid, f };
	int rc = fetch_pipelined(f, p->fetch, p->n_fetch, FETCH_BATCH, "(UID X-GM-MSGID RFC822.SIZE INTERNALDATE)",
				 &cb, err, errlen);
	*rest = xmalloc((p->n_fetch + 1) * sizeof(**rest));
	*n_rest = 0;
	if (rc < 0)
		return rc;
	qsort(f->gm, f->n_gm, sizeof(*f->gm), cmp_gm);
	size_t j = 0;
	for (size_t i = 0; i < p->n_fetch; i++) {
		uint32_t uid = p->fetch[i];
		while (j < f->n_gm && f->gm[j].uid < uid)
			j++;
		if (j < f->n_gm && f->gm[j].uid == uid && link_from_store(f, uid, &f->gm[j]) == 0)
			continue;
		(*rest)[(*n_rest)++] = uid;
	}
	return 0;
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return a < b ? -1 : a > b;
}

/* The bodies held in f->odd (their literal not their RFC822.SIZE long), once
 * the download is over (ok: it completed). A literal announced longer than it
 * is (a damaged or lying server) takes the next answer in, and what follows
 * can still parse: that answer's message is then missing, taken for expunged.
 * So when a message asked for did not come back at all, they are not kept:
 * not mirrored this run (the folder fails, the next run asks again). The same
 * once a download command was refused (note_refused): what it did not bring
 * is asked for again and comes back, but a held body may have taken one of
 * its answers in. Else (a server whose sizes are only estimates) they join
 * the pending ones. */
static void settle_odd(struct folder_run *f, int ok)
{
	/* an answer taken in by a literal of the download sent with EXAMINE is
	 * asked for again, and comes back: the held body still holds it */
	size_t vanished = f->spec_unanswered + (f->refused != 0);
	if (!f->n_odd)
		return;
	for (size_t i = 0; ok && i < f->plan->n_fetch; i++) {
		uint32_t uid = f->plan->fetch[i];
		ssize_t idx = sync_sv_find(&f->sv, uid);
		if (idx >= 0 && !f->sv.present[idx] && !is_bodyless(f, uid))
			vanished++;
	}
	for (size_t i = 0; i < f->n_odd; i++) {
		struct pending *o = &f->odd[i];
		if (ok && !vanished) {
			pending_add(f, o);
			continue;
		}
		log_debug("%s: UID %" PRIu32 ": a body of %" PRIu64 " bytes (LF) against its RFC822.SIZE, "
			  "while %zu messages asked for did not come back: not kept", f->name,
			  f->sv.msgs[o->idx].uid, o->bytes, vanished);
		if (ok)
			bodyless_add(f, f->sv.msgs[o->idx].uid, BODY_ODD_SIZE);
		pending_drop(f, o);
	}
	f->n_odd = 0;
}

/* A UID FETCH of the download (uids[0..n), sorted) answered whole: a literal
 * that took another answer in took one of its own (servers answer a command
 * before its tagged OK; a literal taking that OK in fails the command). So
 * when each UID it asked for came back, the bodies held from it are pending
 * like any other now, and a later failure of the download does not cost them
 * (a server whose sizes are estimates would else never get a folder mirrored
 * that one connection cannot download whole). Once one UID of such a command
 * did not come back, everything held waits for settle_odd. */
static void settle_batch(struct folder_run *f, const uint32_t *uids, size_t n)
{
	size_t kept = 0;
	if (!f->n_odd || f->odd_doubt || f->spec_unanswered || f->refused)
		return;
	for (size_t i = 0; i < n; i++) {
		ssize_t idx = sync_sv_find(&f->sv, uids[i]);
		if (idx >= 0 && !f->sv.present[idx] && !is_bodyless(f, uids[i])) {
			f->odd_doubt = 1;
			return;
		}
	}
	for (size_t i = 0; i < f->n_odd; i++) {
		struct pending *o = &f->odd[i];
		uint32_t uid = f->sv.msgs[o->idx].uid;
		if (!bsearch(&uid, uids, n, sizeof(*uids), cmp_u32)) {
			f->odd[kept++] = *o;
			continue;
		}
		pending_add(f, o);
	}
	f->n_odd = kept;
}

/* Download the planned UIDs (after linking what the Gmail store has). Bodies
 * stream into tmp/ and move into cur/ in durable batches. */
int sync_fetch_download(struct folder_run *f, char *err, size_t errlen)
{
	const struct plan *p = f->plan;
	struct imap_fetch_cb cb = { on_body_begin, on_body_data, on_message, f };
	uint32_t *rest = NULL;
	const uint32_t *uids = p->fetch;
	size_t n = p->n_fetch;
	int rc = 0;
	char ferr2[512];
	/* the download begins: the progress line's rate and time left count from now */
	if (n && f->a->opt && f->a->opt->on_progress)
		f->a->opt->on_progress(f->a->opt->progress_ctx, f->name, f->added, n, f->bytes);
	if (f->spec_tag) { /* sent with EXAMINE: the bodies are already on their way */
		/* nothing to ask beyond them: the next folder can be sent now */
		size_t beyond = 0;
		for (size_t i = 0; i < p->n_fetch; i++)
			beyond += p->fetch[i] < f->spec_lo || p->fetch[i] > f->spec_hi;
		if (!beyond && !f->gmail && f->lookahead_ok)
			sync_prefetch_next(f);
		else if (beyond && !sync_folder_still_selected(f, err, errlen))
			return SYNC_ERR_RESELECT; /* before reading: the spec answers are dropped at the end */
		rc = imap_uid_fetch_wait(f->a->imap, f->spec_tag, &cb, err, errlen);
		f->spec_tag = 0;
		if (f->n_dateless && settle_dateless(f, ferr2, sizeof(ferr2)) < 0 && rc != IMAP_ERR_NET &&
		    rc != IMAP_ERR_PROTOCOL) {
			rc = IMAP_ERR_LOCAL;
			snprintf(err, errlen, "%s", ferr2);
		}
		/* refused (one message the server cannot read): what it did not
		 * bring is asked for below, note_refused; from this folder again
		 * when the next one's EXAMINE went ahead of the answer */
		if (rc == IMAP_ERR_NO && taken_for_refusal(f))
			rc = sync_folder_still_selected(f, err, errlen) ? 0 : SYNC_ERR_RESELECT;
		if (f->dl_open) {
			maildir_delivery_abort(&f->dl);
			f->dl_open = 0;
		}
		rest = xmalloc((p->n_fetch + 1) * sizeof(*rest));
		n = 0;
		/* what the server did not send is fetched again (when our mailbox is
		 * still selected; else it vanished meanwhile, for this run) */
		for (size_t i = 0; i < p->n_fetch && sync_folder_is_selected(f); i++) {
			uint32_t uid = p->fetch[i];
			ssize_t idx = sync_sv_find(&f->sv, uid);
			if (idx < 0 || f->sv.present[idx])
				continue;
			rest[n++] = uid;
			f->spec_unanswered += !is_bodyless(f, uid) && uid >= f->spec_lo && uid <= f->spec_hi;
		}
		uids = rest;
	} else if (f->gmail) {
		rc = link_known(f, &rest, &n, err, errlen);
		uids = rest;
	}
	if (rc == 0 && n)
		rc = fetch_pipelined(f, uids, n, FETCH_BATCH,
				     f->gmail ? "(UID FLAGS INTERNALDATE RFC822.SIZE X-GM-MSGID BODY.PEEK[])" :
				     DOWNLOAD_ITEMS, &cb, err, errlen);
	free(rest);
	if (rc == 0)
		sync_prefetch_next(f);
	settle_odd(f, rc == 0);
	/* what arrived whole is kept even when the download failed later */
	int frc = flush_pending(f, rc == 0, rc == 0 ? err : ferr2, rc == 0 ? errlen : sizeof(ferr2));
	if (f->store_touched && maildir_fsync_dir(f->store.data, ferr2, sizeof(ferr2)) < 0)
		log_warn("%s", ferr2);
	return rc < 0 ? rc : frc;
}

size_t sync_fetch_unmirrored(struct folder_run *f, const struct bodyless **first)
{
	size_t n = 0;
	const struct bodyless *last = NULL;
	int expunged = !f->a->imap || imap_expunges(f->a->imap) != f->expunges0;
	/* a UID answered several times without its body counts once */
	if (f->n_bodyless > 1)
		qsort(f->bodyless, f->n_bodyless, sizeof(*f->bodyless), cmp_bodyless);
	f->bodyless_unsorted = 0;
	for (size_t i = 0; i < f->n_bodyless; i++) {
		const struct bodyless *b = &f->bodyless[i];
		ssize_t idx = sync_sv_find(&f->sv, b->uid);
		if (idx < 0 || f->sv.present[idx] || (b->why == BODY_NIL && expunged) ||
		    (last && last->uid == b->uid))
			continue;
		if (!n++)
			*first = b;
		last = b;
	}
	return n;
}

void sync_fetch_cleanup(struct folder_run *f)
{
	if (f->dl_open)
		maildir_delivery_abort(&f->dl);
	f->dl_open = 0;
	for (size_t i = 0; i < f->n_pending; i++)
		pending_discard(&f->pending[i]);
	free(f->pending);
	for (size_t i = 0; i < f->n_odd; i++)
		pending_discard(&f->odd[i]);
	free(f->odd);
	free(f->bodyless);
	for (size_t i = 0; i < f->n_dateless; i++)
		pending_discard(&f->dateless[i]);
	free(f->dateless);
	f->dateless = NULL;
	f->n_dateless = f->cap_dateless = 0;
	free(f->split);
	f->split = NULL;
	f->pending = f->odd = NULL;
	f->bodyless = NULL;
	f->n_pending = f->n_odd = f->n_bodyless = 0;
}
