/* Sync runner, one folder: learn the server's view by the cheapest path, plan,
 * rename and remove, download in pipelined batches made durable together, save
 * the state. */
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

#include "sync_internal.h"

/* The server's view of a folder, built from FETCH (UID FLAGS). */
struct server_view {
	struct plan_server_msg *msgs;
	char **keywords;        /* parallel to msgs; NULL entries mostly */
	uint8_t *present;       /* parallel: the message is on disk */
	int64_t *date;          /* parallel: its file's name date (state_msg.date) */
	int64_t *idate;         /* parallel, or NULL: the INTERNALDATE listed with the flags */
	size_t n, cap;
	/* the connection whose EXISTS bounds the view (NULL: unbounded); kept by sv_free */
	const struct imap_client *imap;
};

/* A server's FETCH and SEARCH/VANISHED answers may repeat UIDs without end:
 * once this many entries are held beyond the mailbox's EXISTS, the list is
 * compacted (duplicates dropped), and what still exceeds EXISTS by as much
 * is a hostile server (the connection is dropped). Memory then follows the
 * mailbox, not the bytes the server sends. */
#define VIEW_SLACK ((size_t)1 << 18)

struct folder_run {
	struct account_run *a;
	const char *name;       /* decoded name, for messages */
	const char *rel;        /* escaped relative path */
	struct buf dir;         /* <account dir>/<rel> */
	uint32_t uidvalidity;
	struct server_view sv;
	const struct plan *plan;
	struct maildir_delivery dl;
	int dl_open;
	struct buf name_buf;
	struct buf rel_buf;
	uint64_t added, bytes;
	struct pending *pending;
	size_t n_pending, cap_pending;
	uint64_t pending_bytes;
	/* bodies whose literal is not their RFC822.SIZE long, held in tmp/ until
	 * the download ends (settle_odd) */
	struct pending *odd;
	size_t n_odd, cap_odd;
	size_t spec_unanswered; /* UIDs the download sent with EXAMINE asked for and got no
				 * answer of, asked again (settle_odd) */
	int odd_doubt;          /* a FETCH command answered whole left out a UID (settle_batch) */
	unsigned flushes;       /* batches made durable (each ends with fsync of cur/) */
	int touched_new;        /* a file left new/ */
	/* Gmail dedupe (docs/design.md, "Gmail"): one inode per X-GM-MSGID */
	int gmail;
	struct buf store;       /* <account dir>/.mailkeep/gmail */
	struct gm_pair *gm;     /* msgid of planned UIDs, sorted by uid */
	size_t n_gm, cap_gm;
	uint64_t linked;        /* new in this folder, linked from the store */
	int store_touched;
	unsigned spec_tag;      /* download of the new UIDs sent with EXAMINE, not read yet */
	struct buf spec_set;
	struct commit_msg *deferred; /* last batch: renamed into cur/ at the end of the run */
	size_t n_deferred;
	/* the directory scan, made while the server works on EXAMINE */
	struct maildir_view *view;
	const struct folder_state *st; /* with `trusted`: the view is built from it */
	int trusted;
	/* cur/ and new/ times as last seen (before the listing, or after our own
	 * last change): another value before our next change means someone else
	 * changed the folder during the run; its new state is then not trusted */
	int64_t seen_cur, seen_new;
	int disturbed;
	size_t done_renames, done_removes; /* performed by apply_plan, every pass */
	int scanned, scan_rc;
	char scan_err[512];
	unsigned seq;           /* imap_select_seq() of our EXAMINE */
	int lookahead_ok;       /* may send it right behind our EXAMINE */
	uint32_t spec_lo, spec_hi; /* UIDs of the download sent with EXAMINE */
	/* wanted UIDs the server answered without the body asked for (BODY[HEADER],
	 * RFC822.TEXT...): not messages that vanished during the run. BODY[] NIL
	 * is how a message expunged by another session is answered (RFC 2180
	 * §4.1.3, Dovecot): excused when an expunge was seen */
	struct bodyless {
		uint32_t uid;
		enum { BODY_MISSING, BODY_NIL, BODY_PARTIAL, BODY_ODD_SIZE } why;
	} *bodyless;
	size_t n_bodyless, cap_bodyless;
	int bodyless_unsorted;  /* appended to since sorted by UID (is_bodyless) */
	unsigned long expunges0; /* imap_expunges() when the folder began */
	int want_dates;         /* a full listing asks INTERNALDATE (no state to tell the files by) */
};

static void prefetch_next(struct folder_run *f);
static void scan_dir(void *ctx);

static void dir_watch_set(struct folder_run *f)
{
	maildir_dir_mtimes(f->dir.data, &f->seen_cur, &f->seen_new);
}

static void dir_watch_check(struct folder_run *f)
{
	int64_t cur_ns, new_ns;
	maildir_dir_mtimes(f->dir.data, &cur_ns, &new_ns);
	if (cur_ns != f->seen_cur || new_ns != f->seen_new)
		f->disturbed = 1;
}

/* Is our mailbox still the selected one? Once the next folder's EXAMINE is
 * sent, a command would reach that other mailbox: refused, never sent. */
static int is_selected(const struct folder_run *f)
{
	return imap_select_seq(f->a->imap) == f->seq;
}

static int still_selected(const struct folder_run *f, char *err, size_t errlen)
{
	if (is_selected(f))
		return 1;
	snprintf(err, errlen, "the next folder is already selected; this one again");
	return 0;
}

struct gm_pair {
	uint32_t uid;
	uint64_t msgid;
	uint64_t size;  /* RFC822.SIZE, UINT64_MAX when unknown */
};

#define DOWNLOAD_ITEMS "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])"

/* A folder is read from its state for at most this long (seconds) before its
 * directory is read again, whatever its times say: a change they could not
 * show (docs/design.md) is found within a day. */
#define LIST_EVERY (24 * 3600)

/* A download sent with EXAMINE that will not be used: read and drop it, so
 * the next command's answers are not taken for its. */
static void spec_drop(struct folder_run *f)
{
	if (f->spec_tag && f->a->imap)
		imap_uid_fetch_discard(f->a->imap, f->spec_tag);
	f->spec_tag = 0;
}

/* ---- server view ---- */

static void sv_add(struct server_view *sv, uint32_t uid, unsigned flags, const char *kw)
{
	if (sv->n == sv->cap) {
		sv->cap = sv->cap ? sv->cap * 2 : 256;
		sv->msgs = xrealloc(sv->msgs, sv->cap * sizeof(*sv->msgs));
		sv->keywords = xrealloc(sv->keywords, sv->cap * sizeof(*sv->keywords));
		if (sv->idate)
			sv->idate = xrealloc(sv->idate, sv->cap * sizeof(*sv->idate));
	}
	if (sv->idate)
		sv->idate[sv->n] = INT64_MIN;
	sv->msgs[sv->n] = (struct plan_server_msg){ .uid = uid, .flags = (uint8_t)flags };
	sv->keywords[sv->n] = kw && *kw ? xstrdup(kw) : NULL;
	sv->n++;
}

static void sv_free(struct server_view *sv)
{
	const struct imap_client *imap = sv->imap;
	for (size_t i = 0; i < sv->n; i++)
		free(sv->keywords[i]);
	free(sv->msgs);
	free(sv->keywords);
	free(sv->present);
	free(sv->date);
	free(sv->idate);
	memset(sv, 0, sizeof(*sv));
	sv->imap = imap;
}

static ssize_t sv_find(const struct server_view *sv, uint32_t uid)
{
	size_t lo = 0, hi = sv->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (sv->msgs[mid].uid < uid)
			lo = mid + 1;
		else if (sv->msgs[mid].uid > uid)
			hi = mid;
		else
			return (ssize_t)mid;
	}
	return -1;
}

struct sv_pair {
	struct plan_server_msg m;
	char *kw;
	int64_t idate;
	size_t seq;
};

static int cmp_pair(const void *x, const void *y)
{
	const struct sv_pair *a = x, *b = y;
	if (a->m.uid != b->m.uid)
		return a->m.uid < b->m.uid ? -1 : 1;
	return a->seq < b->seq ? -1 : 1;
}

/* Sort by uid and drop duplicates (a hostile or buggy server): the last wins. */
static void sv_dedupe(struct server_view *sv)
{
	int sorted = 1;
	for (size_t i = 1; i < sv->n && sorted; i++)
		sorted = sv->msgs[i - 1].uid < sv->msgs[i].uid;
	if (!sorted) {
		size_t n = sv->n, o = 0;
		struct sv_pair *tmp = xmalloc(n * sizeof(*tmp));
		for (size_t i = 0; i < n; i++)
			tmp[i] = (struct sv_pair){ sv->msgs[i], sv->keywords[i], sv->idate ? sv->idate[i] : INT64_MIN, i };
		qsort(tmp, n, sizeof(*tmp), cmp_pair);
		for (size_t i = 0; i < n; i++) {
			if (o && sv->msgs[o - 1].uid == tmp[i].m.uid) {
				free(sv->keywords[o - 1]);
				if (sv->idate && tmp[i].idate == INT64_MIN) /* a date stays known */
					tmp[i].idate = sv->idate[o - 1];
				o--;
			}
			sv->msgs[o] = tmp[i].m;
			sv->keywords[o] = tmp[i].kw;
			if (sv->idate)
				sv->idate[o] = tmp[i].idate;
			o++;
		}
		sv->n = o;
		free(tmp);
	}
}

static void sv_normalise(struct server_view *sv)
{
	sv_dedupe(sv);
	free(sv->present);
	sv->present = xcalloc(sv->n ? sv->n : 1, 1);
	free(sv->date);
	sv->date = xmalloc((sv->n ? sv->n : 1) * sizeof(*sv->date));
	for (size_t i = 0; i < sv->n; i++)
		sv->date[i] = STATE_NO_DATE;
}

static int on_flags(void *ctx, const struct imap_msg *m, char *err, size_t errlen)
{
	struct server_view *sv = ctx;
	if (!m->has_flags)
		return 0;
	if (m->internaldate != INT64_MIN && !sv->idate) { /* asked for: a full listing without a state */
		sv->idate = xmalloc((sv->cap ? sv->cap : 1) * sizeof(*sv->idate));
		for (size_t i = 0; i < sv->n; i++)
			sv->idate[i] = INT64_MIN;
	}
	if (sv->n && sv->msgs[sv->n - 1].uid == m->uid) { /* the same again: the last wins */
		sv->msgs[sv->n - 1].flags = (uint8_t)m->flags;
		free(sv->keywords[sv->n - 1]);
		sv->keywords[sv->n - 1] = *m->keywords ? xstrdup(m->keywords) : NULL;
		/* a message's INTERNALDATE never changes: an unsolicited FETCH of
		 * its flags alone does not unlearn it */
		if (sv->idate && m->internaldate != INT64_MIN)
			sv->idate[sv->n - 1] = m->internaldate;
		return 0;
	}
	if (sv->imap && sv->n == sv->cap && sv->n >= (size_t)imap_exists(sv->imap) + VIEW_SLACK) {
		sv_dedupe(sv); /* sorted, later copies win: as sv_normalise will */
		if (sv->n >= (size_t)imap_exists(sv->imap) + VIEW_SLACK) {
			snprintf(err, errlen, "the server listed %zu messages more than the %" PRIu32 " it holds",
				 sv->n - (size_t)imap_exists(sv->imap), imap_exists(sv->imap));
			return IMAP_ERR_PROTOCOL;
		}
		if (sv->n > sv->cap / 2 + sv->cap / 4) { /* still mostly full: grow, not compact again at once */
			sv->cap *= 2;
			sv->msgs = xrealloc(sv->msgs, sv->cap * sizeof(*sv->msgs));
			sv->keywords = xrealloc(sv->keywords, sv->cap * sizeof(*sv->keywords));
			if (sv->idate)
				sv->idate = xrealloc(sv->idate, sv->cap * sizeof(*sv->idate));
		}
	}
	sv_add(sv, m->uid, m->flags, m->keywords);
	if (sv->idate)
		sv->idate[sv->n - 1] = m->internaldate;
	return 0;
}

/* ---- download ---- */

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

static int wanted(const struct plan *p, uint32_t uid)
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

/* Messages written to tmp/ and not yet durable: made durable together by one
 * syncfs(2), then renamed into cur/ (tmp -> sync -> rename, batched). */
struct pending {
	char *tmp_path;
	char *final_name;
	size_t idx;
	uint64_t bytes;
	uint64_t msgid;         /* X-GM-MSGID, 0 when none */
};

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
	int fx = open(x, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), fy = open(y, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
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
 * (commit_run), saving a sync per folder. Counted as delivered now. */
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
	dir_watch_check(f);
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
			if (f->a->opt && f->a->opt->on_progress)
				f->a->opt->on_progress(f->a->opt->progress_ctx, f->name, f->added,
						       f->plan->n_fetch, f->bytes);
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
	dir_watch_set(f);
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
	return a->uid < b->uid ? -1 : a->uid > b->uid;
}

/* A wanted UID answered without a body it can keep (at most one entry per
 * UID asked for: a server repeating itself stays bounded). */
static void bodyless_add(struct folder_run *f, uint32_t uid, int why)
{
	if (f->n_bodyless >= f->plan->n_fetch)
		return;
	if (f->n_bodyless == f->cap_bodyless) {
		f->cap_bodyless = f->cap_bodyless ? f->cap_bodyless * 2 : 16;
		f->bodyless = xrealloc(f->bodyless, f->cap_bodyless * sizeof(*f->bodyless));
	}
	f->bodyless[f->n_bodyless++] = (struct bodyless){ uid, why };
	f->bodyless_unsorted = 1;
}

/* Whether uid was answered, without its body (sorted on demand). */
static int is_bodyless(struct folder_run *f, uint32_t uid)
{
	struct bodyless key = { uid, BODY_MISSING };
	if (f->bodyless_unsorted) {
		qsort(f->bodyless, f->n_bodyless, sizeof(*f->bodyless), cmp_bodyless);
		f->bodyless_unsorted = 0;
	}
	return f->n_bodyless && bsearch(&key, f->bodyless, f->n_bodyless, sizeof(*f->bodyless), cmp_bodyless);
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

static int on_message(void *ctx, const struct imap_msg *m, char *err, size_t errlen)
{
	struct folder_run *f = ctx;
	ssize_t idx = sv_find(&f->sv, m->uid);
	if (!m->has_body && idx >= 0 && !f->sv.present[idx] && wanted(f->plan, m->uid))
		bodyless_add(f, m->uid, m->body_nil ? BODY_NIL : m->body_partial ? BODY_PARTIAL : BODY_MISSING);
	if (!m->has_body && f->dl_open) { /* a refused partial body */
		maildir_delivery_abort(&f->dl);
		f->dl_open = 0;
	}
	if (!m->has_body || !f->dl_open)
		return 0;
	if (idx < 0 || !wanted(f->plan, m->uid) || f->sv.present[idx]) {
		/* not asked for, or a second copy: drop it */
		log_debug("%s: ignoring unrequested body for UID %" PRIu32, f->name, m->uid);
		maildir_delivery_abort(&f->dl);
		f->dl_open = 0;
		return 0;
	}
	int64_t date = m->internaldate;
	if (date == INT64_MIN) {
		/* asked for with the body: a file dated "now" would never be corrected */
		maildir_delivery_abort(&f->dl);
		f->dl_open = 0;
		snprintf(err, errlen, "the server sent the body of UID %" PRIu32 " without its INTERNALDATE",
			 m->uid);
		return -1;
	}
	/* a date before 1970 is the file's mtime as it is; its name says 0, since
	 * a name starting with '-' reads as an option to every shell tool */
	int64_t name_date = date < 0 ? 0 : date;
	unsigned flags = m->has_flags ? m->flags : f->sv.msgs[idx].flags;
	if (m->has_flags) {
		f->sv.msgs[idx].flags = (uint8_t)flags;
		free(f->sv.keywords[idx]);
		f->sv.keywords[idx] = *m->keywords ? xstrdup(m->keywords) : NULL;
	}
	maildir_base_name(&f->name_buf, name_date, f->uidvalidity, m->uid);
	struct buf final = BUF_INIT;
	maildir_name_with_flags(&final, f->name_buf.data, flags);
	int rc = maildir_delivery_finish(&f->dl, date, 0, err, errlen);
	f->dl_open = 0;
	if (rc < 0) {
		maildir_delivery_abort(&f->dl);
		buf_free(&final);
		return rc;
	}
	struct pending pd = { f->dl.tmp_path, buf_detach(&final), (size_t)idx, f->dl.bytes, m->gm_msgid };
	f->sv.date[idx] = name_date;
	f->dl.tmp_path = NULL;
	f->sv.present[idx] = 2; /* pending */
	if (m->rfc822_size != UINT64_MAX && m->rfc822_size != m->body_size) {
		/* Servers whose RFC822.SIZE is not their BODY[]'s length exist
		 * (Exchange, hMailServer): not an error by itself. But a literal
		 * announced longer than it is swallows the next answer and can
		 * still parse: held until the download ends (settle_odd) */
		if (f->n_odd == f->cap_odd) {
			f->cap_odd = f->cap_odd ? f->cap_odd * 2 : 16;
			f->odd = xrealloc(f->odd, f->cap_odd * sizeof(*f->odd));
		}
		f->odd[f->n_odd++] = pd;
		return 0;
	}
	pending_add(f, &pd);
	if (f->n_pending >= PENDING_MAX || f->pending_bytes >= PENDING_BYTES)
		return flush_pending(f, 0, err, errlen);
	return 0;
}

static void settle_batch(struct folder_run *f, const uint32_t *uids, size_t n);

/* UID FETCH <items> for the given UIDs: commands of at most FETCH_BATCH UIDs
 * (and a bounded command length), pipeline_depth of them in flight, so the
 * link never idles between batches. */
static int fetch_pipelined(struct folder_run *f, const uint32_t *uids, size_t n_uids, const char *items,
			   const struct imap_fetch_cb *cb, char *err, size_t errlen)
{
	struct buf set = BUF_INIT;
	unsigned tags[64];
	size_t window = f->a->acct->pipeline_depth > 0 && f->a->acct->pipeline_depth <= 64 ?
		(size_t)f->a->acct->pipeline_depth : FETCH_WINDOW;
	size_t next = 0, head = 0, tail = 0; /* tags[head..tail) in flight (mod window) */
	int rc = 0, failed = 0;
	char ferr[512];
	if (n_uids && !still_selected(f, err, errlen))
		return SYNC_ERR_RESELECT;
	while ((next < n_uids && !failed) || head != tail) {
		if (next < n_uids && !failed && tail - head < window) {
			/* at most 500 UIDs: the command stays under 6 KB however sparse */
			size_t n = n_uids - next < FETCH_BATCH ? n_uids - next : FETCH_BATCH;
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
		if (r == 0 && !failed && cb->on_message == on_message) {
			/* the bodies it held are checked now: kept if the download fails later */
			size_t start = head * FETCH_BATCH;
			settle_batch(f, uids + start, n_uids - start < FETCH_BATCH ? n_uids - start : FETCH_BATCH);
		}
		head++;
		if (f->dl_open) {
			maildir_delivery_abort(&f->dl);
			f->dl_open = 0;
		}
		if (r < 0 && !failed) {
			failed = 1;
			rc = r;
			snprintf(err, errlen, "%s", ferr);
		}
		if (r == IMAP_ERR_NET || r == IMAP_ERR_PROTOCOL)
			break;
	}
	buf_free(&set);
	return rc;
}

static int on_msgid(void *ctx, const struct imap_msg *m, char *err, size_t errlen)
{
	struct folder_run *f = ctx;
	if (!m->gm_msgid || !wanted(f->plan, m->uid))
		return 0;
	if (f->n_gm && f->gm[f->n_gm - 1].uid == m->uid) { /* the same again: the last wins */
		f->gm[f->n_gm - 1] = (struct gm_pair){ m->uid, m->gm_msgid, m->rfc822_size };
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
	f->gm[f->n_gm++] = (struct gm_pair){ m->uid, m->gm_msgid, m->rfc822_size };
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
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
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
	ssize_t idx = sv_find(&f->sv, uid);
	int rc = 1;
	store_path(&sp, f, g->msgid);
	if (idx < 0 || f->sv.present[idx] || lstat(sp.data, &sb) < 0 || !S_ISREG(sb.st_mode))
		goto out;
	if (g->size == UINT64_MAX || !store_size_matches(sp.data, g->size)) {
		log_debug("%s: UID %" PRIu32 ": X-GM-MSGID %" PRIu64 " stored with another size: downloaded",
			  f->name, uid, g->msgid);
		goto out;
	}
	/* the store file's mtime is the message's INTERNALDATE, as everywhere */
	int64_t name_date = sb.st_mtime < 0 ? 0 : (int64_t)sb.st_mtime;
	maildir_base_name(&f->name_buf, name_date, f->uidvalidity, uid);
	maildir_name_with_flags(&final, f->name_buf.data, f->sv.msgs[idx].flags);
	buf_addf(&to, "%s/cur/%s", f->dir.data, final.data);
	dir_watch_check(f);
	int lrc = link(sp.data, to.data);
	dir_watch_set(f);
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
	int rc = fetch_pipelined(f, p->fetch, p->n_fetch, "(UID X-GM-MSGID RFC822.SIZE)", &cb, err, errlen);
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
 * not mirrored this run (the folder fails, the next run asks again). Else
 * (a server whose sizes are only estimates) they join the pending ones. */
static void settle_odd(struct folder_run *f, int ok)
{
	/* an answer taken in by a literal of the download sent with EXAMINE is
	 * asked for again, and comes back: the held body still holds it */
	size_t vanished = f->spec_unanswered;
	if (!f->n_odd)
		return;
	for (size_t i = 0; ok && i < f->plan->n_fetch; i++) {
		uint32_t uid = f->plan->fetch[i];
		ssize_t idx = sv_find(&f->sv, uid);
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
		f->sv.present[o->idx] = 0;
		if (ok)
			bodyless_add(f, f->sv.msgs[o->idx].uid, BODY_ODD_SIZE);
		pending_discard(o);
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
	if (!f->n_odd || f->odd_doubt || f->spec_unanswered)
		return;
	for (size_t i = 0; i < n; i++) {
		ssize_t idx = sv_find(&f->sv, uids[i]);
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
static int download(struct folder_run *f, char *err, size_t errlen)
{
	const struct plan *p = f->plan;
	struct imap_fetch_cb cb = { on_body_begin, on_body_data, on_message, f };
	uint32_t *rest = NULL;
	const uint32_t *uids = p->fetch;
	size_t n = p->n_fetch;
	int rc = 0;
	if (f->spec_tag) { /* sent with EXAMINE: the bodies are already on their way */
		/* nothing to ask beyond them: the next folder can be sent now */
		size_t beyond = 0;
		for (size_t i = 0; i < p->n_fetch; i++)
			beyond += p->fetch[i] < f->spec_lo || p->fetch[i] > f->spec_hi;
		if (!beyond && !f->gmail && f->lookahead_ok)
			prefetch_next(f);
		else if (beyond && !still_selected(f, err, errlen))
			return SYNC_ERR_RESELECT; /* before reading: the spec answers are dropped at the end */
		rc = imap_uid_fetch_wait(f->a->imap, f->spec_tag, &cb, err, errlen);
		f->spec_tag = 0;
		if (f->dl_open) {
			maildir_delivery_abort(&f->dl);
			f->dl_open = 0;
		}
		rest = xmalloc((p->n_fetch + 1) * sizeof(*rest));
		n = 0;
		/* what the server did not send is fetched again (when our mailbox is
		 * still selected; else it vanished meanwhile, for this run) */
		for (size_t i = 0; i < p->n_fetch && is_selected(f); i++) {
			uint32_t uid = p->fetch[i];
			ssize_t idx = sv_find(&f->sv, uid);
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
		rc = fetch_pipelined(f, uids, n, f->gmail ? "(UID FLAGS INTERNALDATE RFC822.SIZE X-GM-MSGID BODY.PEEK[])" :
				     DOWNLOAD_ITEMS, &cb, err, errlen);
	free(rest);
	if (rc == 0)
		prefetch_next(f);
	settle_odd(f, rc == 0);
	/* what arrived whole is kept even when the download failed later */
	char ferr2[512];
	int frc = flush_pending(f, rc == 0, rc == 0 ? err : ferr2, rc == 0 ? errlen : sizeof(ferr2));
	if (f->store_touched && maildir_fsync_dir(f->store.data, ferr2, sizeof(ferr2)) < 0)
		log_warn("%s", ferr2);
	return rc < 0 ? rc : frc;
}

/* ---- folder ---- */

void commit_later(struct state_commits *c, const char *dir, struct folder_state *st,
		  struct commit_msg *msgs, size_t n_msgs)
{
	pthread_mutex_lock(&c->lock);
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 32;
		c->e = xrealloc(c->e, c->cap * sizeof(*c->e));
	}
	c->e[c->n++] = (struct commit_entry){ xstrdup(dir), *st, msgs, n_msgs };
	memset(st, 0, sizeof(*st));
	pthread_mutex_unlock(&c->lock);
}

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
 * meanwhile (check_orphan in sync.c). */
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
		if ((fd = open(mark.data, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) < 0 || fsync(fd) < 0) {
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
		ssize_t idx = sv_find(&f->sv, file->uid);
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

/* Rename and remove as planned. 1 when a file of a view taken from the state
 * is not there, or the folder changed since it was read (the caller reads the
 * directory and plans again), 0, or -1. */
static int apply_plan(struct folder_run *f, const struct maildir_view *v, const struct plan *p,
		      char *err, size_t errlen)
{
	struct buf newname = BUF_INIT, a = BUF_INIT, b = BUF_INIT;
	int rc = 0;
	if (p->n_actions) {
		dir_watch_check(f);
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
			if (rc > 0 && !f->trusted)
				rc = -1; /* gone since the directory was read */
			if (rc == 0) {
				f->done_renames++;
				buf_reset(&b);
				buf_addf(&b, "%s/cur/%s", f->rel, newname.data);
				sync_change(f->a, SYNC_CHANGE_RENAME, a.data, b.data);
			}
		} else {
			rc = maildir_remove(f->dir.data, file->in_new, name, err, errlen);
			if (rc > 0 && !f->trusted)
				rc = 0; /* already gone: what the plan wanted */
			if (rc == 0) {
				f->done_removes++;
				sync_change(f->a, SYNC_CHANGE_REMOVE, a.data, NULL);
			}
		}
	}
	if (p->n_actions)
		dir_watch_set(f);
	buf_free(&newname);
	buf_free(&a);
	buf_free(&b);
	return rc;
}

/* The uidvalidity a folder's files were written under when there is no state:
 * any mailkeep file name carries it. 0 when unknown. */
static uint32_t uidvalidity_on_disk(const struct maildir_view *v)
{
	for (size_t i = 0; i < v->n; i++)
		if (v->files[i].uidvalidity)
			return v->files[i].uidvalidity;
	return 0;
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

/* ---- what changed on the server ---- */

struct changes {
	struct server_view changed;   /* FETCH FLAGS since the state's modseq */
	struct plan_range *ranges;    /* VANISHED or SEARCH ALL */
	size_t n_ranges, cap_ranges;
	const struct folder_state *st; /* the known UIDs (NULL: ranges unbounded) */
};

static int on_uids(void *ctx, uint32_t lo, uint32_t hi, int vanished)
{
	struct changes *ch = ctx;
	if (ch->n_ranges && ch->ranges[ch->n_ranges - 1].lo <= lo && hi <= ch->ranges[ch->n_ranges - 1].hi)
		return 0; /* within the last one (a repeat) */
	if (ch->st && ch->n_ranges == ch->cap_ranges && ch->n_ranges >= VIEW_SLACK) {
		/* repeated or overlapping ranges are merged; VANISHED ranges without a
		 * known UID change nothing; SEARCH ALL lists at most EXISTS UIDs */
		ch->n_ranges = plan_ranges_merge(ch->ranges, ch->n_ranges);
		if (vanished)
			ch->n_ranges = plan_ranges_keep_known(ch->ranges, ch->n_ranges, ch->st->msgs, ch->st->n);
		else if (ch->changed.imap && ch->n_ranges >= (size_t)imap_exists(ch->changed.imap) + VIEW_SLACK / 2)
			return -1;
		if (ch->n_ranges > ch->cap_ranges / 2 + ch->cap_ranges / 4) {
			ch->cap_ranges *= 2; /* still mostly full: grow, not compact again at once */
			ch->ranges = xrealloc(ch->ranges, ch->cap_ranges * sizeof(*ch->ranges));
		}
	}
	if (ch->n_ranges == ch->cap_ranges) {
		ch->cap_ranges = ch->cap_ranges ? ch->cap_ranges * 2 : 64;
		ch->ranges = xrealloc(ch->ranges, ch->cap_ranges * sizeof(*ch->ranges));
	}
	ch->ranges[ch->n_ranges++] = (struct plan_range){ lo, hi };
	return 0;
}

static void changes_free(struct changes *ch)
{
	sv_free(&ch->changed);
	free(ch->ranges);
	memset(ch, 0, sizeof(*ch));
}

/* Build f->sv from the state plus the changes. */
static void merge_view(struct folder_run *f, const struct folder_state *st, struct changes *ch,
		       enum plan_ranges_kind kind)
{
	struct plan_merged *m;
	sv_normalise(&ch->changed);
	size_t n = plan_merge_changes(st->msgs, st->n, ch->changed.msgs, ch->changed.n, ch->ranges,
				      ch->n_ranges, kind, &m);
	for (size_t i = 0; i < n; i++) {
		const char *kw = m[i].changed >= 0 ? ch->changed.keywords[m[i].changed] :
			st->msgs[m[i].known].keywords;
		sv_add(&f->sv, m[i].uid, m[i].flags, kw);
	}
	free(m);
}

enum flag_path { PATH_FULL, PATH_CONDSTORE, PATH_QRESYNC, PATH_SKIPPED };
/* the full flag listing; with the dates when there is no state to tell the files by */
#define LIST_ITEMS "(UID FLAGS)"
#define LIST_DATES_ITEMS "(UID FLAGS INTERNALDATE)"
static const char *const path_names[] = { "full", "CONDSTORE", "QRESYNC", "unchanged" };

/* After our EXAMINE is sent: the next folder's goes out at once when ours
 * will most likely need nothing more (an incremental path: its changes and
 * its new messages were asked for with it), then our directory is scanned
 * while the server answers. */
static void after_examine_sent(void *ctx)
{
	struct folder_run *f = ctx;
	f->seq = imap_select_seq(f->a->imap); /* ours: nothing sent after it yet */
	if (f->lookahead_ok)
		prefetch_next(f);
	scan_dir(f);
}

static void scan_dir(void *ctx)
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
		dir_watch_set(f);
		f->scan_rc = maildir_scan(f->dir.data, f->view, f->scan_err, sizeof(f->scan_err));
	}
	log_debug("%s: %zu files %s", f->name, f->view->n, f->trusted ? "from the state" : "listed");
}

/* The EXAMINE request for a folder in the given state (its callbacks aside):
 * the flag path, and the download of the UIDs STATUS says are new riding behind
 * it (no round trip of its own; the plan decides later what to keep of it).
 * Not for Gmail dedupe, which asks for X-GM-MSGID first. Also used to send a
 * connection's next folder ahead (prefetch_next), so it reads only the state's
 * header fields. */
static enum flag_path build_request(const struct account_run *a, const struct imap_mailbox *mb,
				    const struct folder_state *st, const struct imap_status_info *status,
				    struct imap_examine_req *req, struct buf *spec_set)
{
	struct imap_client *c = a->imap;
	int incremental = st->uidvalidity && st->highestmodseq && (imap_caps(c) & IMAP_CAP_CONDSTORE);
	enum flag_path path = PATH_FULL;
	req->wire_name = mb->name;
	if (incremental && imap_qresync_enabled(c)) {
		path = PATH_QRESYNC;
		req->qresync_uidvalidity = st->uidvalidity;
		req->qresync_modseq = st->highestmodseq;
	} else if (incremental) {
		path = PATH_CONDSTORE;
		req->fetch_items = "(UID FLAGS)";
		req->changedsince = st->highestmodseq;
		req->search_all = 1;
	} else {
		req->fetch_items = "(UID FLAGS)";
	}
	buf_reset(spec_set);
	if (incremental && status && status->ok && status->uidvalidity == st->uidvalidity &&
	    st->uidnext && status->uidnext > st->uidnext &&
	    !(a->acct->gmail_dedupe && (imap_caps(c) & IMAP_CAP_X_GM_EXT_1))) {
		if (status->uidnext - 1 == st->uidnext)
			buf_addf(spec_set, "%" PRIu32, st->uidnext);
		else
			buf_addf(spec_set, "%" PRIu32 ":%" PRIu32, st->uidnext, status->uidnext - 1);
		req->then_set = spec_set->data;
		req->then_items = DOWNLOAD_ITEMS;
	}
	return path;
}

static int discard_msg(void *ctx, const struct imap_msg *m, char *err, size_t errlen) { return 0; }
static int discard_uids(void *ctx, uint32_t lo, uint32_t hi, int vanished) { return 0; }

void prefetch_drain(struct account_run *a)
{
	struct prefetch *p = a->pre;
	if (!p || !p->sent)
		return;
	p->sent = 0;
	if (!a->imap)
		return;
	struct imap_fetch_cb cb = { NULL, NULL, discard_msg, NULL };
	struct imap_examine_req req = { .cb = &cb, .on_uids = discard_uids };
	struct imap_select_info info;
	char err[256];
	(void)imap_examine_recv(a->imap, &req, &p->tags, &info, err, sizeof(err));
}

/* All commands of folder f are sent: take the connection's next folder from
 * the queue and send its EXAMINE now, so that the server answers it while f's
 * answers are read and its files written. Not for Gmail dedupe (its \All
 * folder goes first, alone). */
static void prefetch_next(struct folder_run *f)
{
	struct account_run *a = f->a;
	struct prefetch *p = a->pre;
	const struct imap_mailbox *mb;
	const struct imap_status_info *status;
	const char *rel;
	int skip;
	if (!p || a->no_lookahead || p->has_next || p->sent || !a->imap ||
	    (a->acct->gmail_dedupe && (imap_caps(a->imap) & IMAP_CAP_X_GM_EXT_1)))
		return;
	if (p->dequeue(p->ctx, &p->k, &mb, &rel, &status, &skip) < 0)
		return;
	p->has_next = 1;
	p->mb = mb;
	if (skip)
		return;
	struct buf dir = BUF_INIT, spec = BUF_INIT;
	struct folder_state st = { 0 };
	struct imap_examine_req req = { 0 };
	char err[512];
	buf_addf(&dir, "%s/%s", a->dir, rel);
	if (state_load_header(dir.data, &st, err, sizeof(err)) == 0) {
		unsigned dummy;
		/* as sync_folder will ask: another folder's state is none, and
		 * without a message in the state the full listing asks the dates */
		if (!state_is_of(&st, rel))
			state_free(&st);
		p->path = build_request(a, mb, &st, status, &req, &spec);
		p->dates = p->path == PATH_FULL && st.n == 0 && st.declared == 0;
		if (p->dates)
			req.fetch_items = LIST_DATES_ITEMS;
		req.then_tag = &dummy;
		if (spec.len >= sizeof(p->spec_set))
			goto out;
		if (imap_examine_send(a->imap, &req, &p->tags, err, sizeof(err)) == 0) {
			p->sent = 1;
			p->seq = imap_select_seq(a->imap);
			p->qresync_uidvalidity = req.qresync_uidvalidity;
			p->qresync_modseq = req.qresync_modseq;
			p->changedsince = req.changedsince;
			snprintf(p->spec_set, sizeof(p->spec_set), "%s", spec.len ? spec.data : "");
			log_debug("%s: EXAMINE sent ahead", mb->utf8);
		}
	}
out:
	state_free(&st);
	buf_free(&dir);
	buf_free(&spec);
}

/* EXAMINE the folder and learn the server's view into f->sv, by the cheapest
 * path the server and the state allow. Every path ends with the same view; an
 * incremental one is checked against EXISTS and falls back to a full fetch. */
static int server_view(struct folder_run *f, const struct imap_mailbox *mb, const struct folder_state *st,
		       const struct imap_status_info *status, struct imap_select_info *info,
		       enum flag_path *path, char *err, size_t errlen)
{
	struct imap_client *c = f->a->imap;
	struct prefetch *p = f->a->pre;
	struct changes ch = { .st = st };
	struct imap_fetch_cb flags_cb = { NULL, NULL, on_flags, &f->sv };
	struct imap_fetch_cb changed_cb = { NULL, NULL, on_flags, &ch.changed };
	struct imap_examine_req req = { .on_uids = on_uids, .ctx = &ch, .after_send = after_examine_sent,
					.after_ctx = f };
	int rc;

	f->sv.imap = c;
	ch.changed.imap = c;
	*path = build_request(f->a, mb, st, status, &req, &f->spec_set);
	/* without a state the listing also gives every message's INTERNALDATE: the
	 * date a mailkeep file name starts with then tells a file of the message
	 * from another's of the same UID (moved in by hand with the state lost) */
	const char *full_items = f->want_dates ? LIST_DATES_ITEMS : LIST_ITEMS;
	if (*path == PATH_FULL)
		req.fetch_items = full_items;
	/* QRESYNC only: there EXAMINE carries the changes and the download is
	 * the one FETCH behind it. On the CONDSTORE path a server may run its
	 * FETCH CHANGEDSINCE, SEARCH and download side by side (Dovecot does),
	 * so a message may have to be fetched again after them. */
	f->lookahead_ok = *path == PATH_QRESYNC;
	req.cb = *path == PATH_FULL ? &flags_cb : &changed_cb;
	if (req.then_set) {
		req.then_tag = &f->spec_tag;
		f->spec_lo = st->uidnext;
		f->spec_hi = status->uidnext - 1;
	}
	if (p && p->sent && p->mb == mb) {
		/* sent ahead from the state's header: used when the full state asks
		 * for the very same (it always should; else its answers are dropped) */
		int same = (int)*path == p->path && req.qresync_uidvalidity == p->qresync_uidvalidity &&
			   req.qresync_modseq == p->qresync_modseq && req.changedsince == p->changedsince &&
			   !strcmp(req.then_set ? req.then_set : "", p->spec_set) &&
			   imap_select_seq(c) == p->seq && (*path != PATH_FULL || p->dates == f->want_dates);
		if (same) {
			struct imap_examine_sent tags = p->tags; /* the slot is reused now */
			p->sent = 0;
			after_examine_sent(f); /* f->seq = p->seq: checked equal above */
			rc = imap_examine_recv(c, &req, &tags, info, err, errlen);
			goto examined;
		}
		prefetch_drain(f->a);
	}
	rc = imap_examine(c, &req, info, err, errlen);
examined:
	if (rc == IMAP_ERR_NO && (imap_caps(c) & IMAP_CAP_CONDSTORE) &&
	    (info->refused.status == IMAP_STATUS_BAD ||
	     (*path != PATH_FULL && info->refused.status == IMAP_STATUS_NO))) {
		/* CONDSTORE/QRESYNC advertised, their EXAMINE parameters refused:
		 * a bare EXAMINE and the full flag fetch */
		log_info("account %s: folder \"%s\": %s EXAMINE refused (%s); plain EXAMINE",
			 f->a->acct->name, f->name, path_names[*path], err);
		struct imap_examine_req plain = { .wire_name = mb->name, .plain = 1,
						  .fetch_items = full_items, .cb = &flags_cb,
						  .after_send = after_examine_sent, .after_ctx = f };
		*path = PATH_FULL;
		spec_drop(f);
		changes_free(&ch);
		memset(&ch, 0, sizeof(ch));
		ch.st = st;
		ch.changed.imap = c;
		sv_free(&f->sv); /* what the FETCH behind the refused EXAMINE said is not this folder's */
		rc = imap_examine(c, &plain, info, err, errlen);
	}
	if (rc < 0 || *path == PATH_FULL)
		goto out;
	/* a HIGHESTMODSEQ below the state's: the server's went back (restored
	 * from a backup, or it lied before): what changed since cannot be asked */
	if (info->uidvalidity == st->uidvalidity && info->highestmodseq &&
	    info->highestmodseq < st->highestmodseq)
		log_info("account %s: folder \"%s\": HIGHESTMODSEQ went back (%" PRIu64 " < %" PRIu64
			 "); full fetch", f->a->acct->name, f->name, info->highestmodseq, st->highestmodseq);
	else if (info->uidvalidity == st->uidvalidity && info->highestmodseq) {
		merge_view(f, st, &ch, *path == PATH_QRESYNC ? PLAN_RANGES_VANISHED : PLAN_RANGES_PRESENT);
		if (f->sv.n == imap_exists(c))
			goto out;
		log_info("account %s: folder \"%s\": %s view has %zu messages, server %u; full fetch",
			 f->a->acct->name, f->name, path_names[*path], f->sv.n, imap_exists(c));
		sv_free(&f->sv);
	}
	*path = PATH_FULL;
	spec_drop(f);
	if (!still_selected(f, err, errlen)) {
		rc = SYNC_ERR_RESELECT;
		goto out;
	}
	rc = imap_uid_fetch(c, "1:*", full_items, &flags_cb, err, errlen);
	if (rc == IMAP_ERR_NO && info->exists == 0)
		rc = 0;
out:
	/* A view that does not count what the server says it holds (a broken or
	 * hostile server, a FETCH without UIDs) must never drive removals. */
	if (rc == 0 && *path == PATH_FULL) {
		sv_normalise(&f->sv);
		/* Mail that arrived after the listing began is announced by a later
		 * EXISTS (RFC 3501 §7.3.1) and not listed: the listing then counts
		 * what EXAMINE said, and the new messages are the next run's. */
		uint32_t now = imap_exists(c);
		int grew = now > info->exists && f->sv.n == info->exists;
		if (grew)
			log_info("account %s: folder \"%s\": %u messages arrived during the listing; "
				 "mirrored next time", f->a->acct->name, f->name, now - info->exists);
		if (f->sv.n != now && !grew) {
			snprintf(err, errlen, "server listed %zu messages but reports %u; folder left as it is",
				 f->sv.n, imap_exists(c));
			rc = IMAP_ERR_NO;
		}
	}
	changes_free(&ch);
	return rc;
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
		rep->how = path_names[PATH_SKIPPED];
		log_info("account %s: folder \"%s\": unchanged", a->acct->name, f.name);
		rc = 0;
		goto out;
	}
	state_free(&st);
	/* A folder new to the mirror gets its directory once EXAMINE succeeded:
	 * Cyrus lists a shared folder with the lookup right only and refuses to
	 * open it on every run; an empty Maildir for it would be pushed. */
	struct stat dst;
	int fresh = lstat(f.dir.data, &dst) < 0 && errno == ENOENT;
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
		rep->how = path_names[PATH_SKIPPED];
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
	rc = server_view(&f, mb, &st, status, &info, &path, err, errlen);
	log_debug("%s: server view (%s): %zu messages", f.name, path_names[path], f.sv.n);
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
		dir_watch_set(&f);
	}
	f.uidvalidity = info.uidvalidity;
	scan_dir(&f);
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
	uint32_t old_uv = st.uidvalidity ? st.uidvalidity : uidvalidity_on_disk(&view);
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
		dir_watch_set(&f);
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
	sv_normalise(&f.sv);
	name_dates = state_dates(&f.sv, &st);
	if (!st.n && f.sv.idate) { /* no state: the server's dates (a name says 0 before 1970) */
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
		prefetch_next(&f); /* no command left for this folder */
	int arc = apply_plan(&f, &view, &plan, err, errlen);
	if (arc > 0) {
		log_info("account %s: folder \"%s\": %s; reading the folder", f.a->acct->name, f.name, err);
		f.trusted = 0;
		f.disturbed = 0; /* the listing below sees whatever happened */
		maildir_view_free(&view);
		plan_free(&plan);
		dir_watch_set(&f);
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
		f.sv.present[i] = !wanted(&plan, f.sv.msgs[i].uid);
	note_dates(&f, &view, &plan, name_dates);
	f.plan = &plan;
	if (plan.n_fetch && a->acct->gmail_dedupe && (imap_caps(a->imap) & IMAP_CAP_X_GM_EXT_1)) {
		buf_addf(&f.store, "%s/.mailkeep/gmail", a->dir);
		if (maildir_mkdir_p(f.store.data, serr, sizeof(serr)) == 0)
			f.gmail = 1;
		else
			log_warn("account %s: %s; Gmail copies not shared", a->acct->name, serr);
	}
	if (plan.n_fetch || f.spec_tag) {
		rc = download(&f, err, errlen);
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
	dir_watch_check(&f);
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
		commit_later(a->commits, f.dir.data, &nst, f.deferred, f.n_deferred);
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
	size_t missing = 0, bodyless = 0;
	const struct bodyless *first_bodyless = NULL, *last_bodyless = NULL;
	for (size_t i = 0; i < f.sv.n; i++)
		missing += !f.sv.present[i];
	int expunged = !f.a->imap || imap_expunges(f.a->imap) != f.expunges0;
	/* a UID answered several times without its body counts once */
	if (f.n_bodyless > 1)
		qsort(f.bodyless, f.n_bodyless, sizeof(*f.bodyless), cmp_bodyless);
	for (size_t i = 0; i < f.n_bodyless; i++) {
		const struct bodyless *b = &f.bodyless[i];
		ssize_t idx = sv_find(&f.sv, b->uid);
		if (idx < 0 || f.sv.present[idx] || (b->why == BODY_NIL && expunged) ||
		    (last_bodyless && last_bodyless->uid == b->uid))
			continue;
		if (!bodyless++)
			first_bodyless = b;
		last_bodyless = b;
	}
	rep->how = path_names[path];
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
		 a->acct->name, f.name, path_names[path], f.added, f.done_renames, f.done_removes,
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
	if (f.dl_open)
		maildir_delivery_abort(&f.dl);
	for (size_t i = 0; i < f.n_pending; i++)
		pending_discard(&f.pending[i]);
	free(f.pending);
	for (size_t i = 0; i < f.n_odd; i++)
		pending_discard(&f.odd[i]);
	free(f.odd);
	free(f.bodyless);
	/* the folder failed after its download: its last batch is kept all the same */
	if (f.n_deferred && maildir_sync_fs(f.dir.data, serr, sizeof(serr)) < 0)
		log_warn("%s", serr);
	for (size_t i = 0; i < f.n_deferred; i++) {
		if (rename(f.deferred[i].tmp_path, f.deferred[i].cur_path) < 0)
			unlink(f.deferred[i].tmp_path);
		free(f.deferred[i].tmp_path);
		free(f.deferred[i].cur_path);
	}
	free(f.deferred);
	spec_drop(&f);
	buf_free(&f.spec_set);
	free(f.gm);
	buf_free(&f.store);
	plan_free(&plan);
	maildir_view_free(&view);
	state_free(&st);
	sv_free(&f.sv);
	buf_free(&f.dir);
	buf_free(&f.name_buf);
	buf_free(&f.rel_buf);
	return rc;
}
