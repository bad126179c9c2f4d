/* Push runner, the target side of one folder: APPEND the new messages in
 * batches. Looking messages up on the target is src/push_lookup.c's (the
 * APPENDUIDs checked src/push_appenduid.c's), updating flags and deleting
 * src/push_update.c's; the folder itself is src/push_folder.c's (its target
 * folder) and src/push_mirror.c's (mirror scan, push state). */
#include "push_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailkeep/log.h"
#include "mailkeep/maildir.h"

#define BATCH_MSGS 64                     /* APPENDs per batch (and per state save) */
#define BATCH_BYTES ((size_t)16 << 20)   /* bytes per batch (a MULTIAPPEND's transaction) */
#define BATCH_INMEM ((size_t)4 << 20)    /* of which held in memory (big messages are read as sent) */
#define PROGRESS_EVERY 1000               /* -v: a line per this many messages appended */
#define CHECK_EVERY 256                   /* APPENDUIDs checked at least every so many messages */

/* ---- APPEND ---- */

struct pending_msg {
	size_t src;
	struct push_msg msg;
};

/* M's entry in doubt (an APPEND of it about to be sent), with its identity on
 * the wire, to find it on the target even once the source is gone. */
static void mark_pending(struct folder_run *f, const struct pending_msg *m)
{
	const struct push_src *s = &f->src[m->src];
	struct push_entry *e = push_state_put(&f->st, s->uv, s->uid);
	e->pending = 1;
	e->tgt_uid = 0;
	free(e->pkey);
	e->pkey = push_pending_key(&m->msg);
}

static void print_append(struct folder_run *f, size_t i, uint64_t size)
{
	struct buf fl = BUF_INIT;
	push_flags_string(f->src[i].flags, f->src[i].keywords, &fl);
	fprintf(f->r->out, "  append UID %" PRIu32 " (%" PRIu64 " bytes) flags (%s)\n", f->src[i].uid, size,
		fl.data);
	buf_free(&fl);
}

/* Record the outcome of one APPEND in the state. */
static void append_outcome(struct folder_run *f, const struct pending_msg *m, int r,
			   const struct imap_append_result *res, size_t *learn, size_t *n_learn)
{
	const struct push_src *s = &f->src[m->src];
	struct push_entry *e = push_state_find(&f->st, s->uv, s->uid);
	if (r == IMAP_ERR_NO) {
		/* refused with keywords, not for its quota or folder: a target
		 * that cannot take one of them (Dovecot: longer than 50 bytes)
		 * gets the message without them (append_without_keywords) */
		int again = !res->over_quota && !res->trycreate && !f->no_keywords && *s->keywords &&
			    push_keyword_refusal(res->text);
		if (again) {
			log_warn("push %s -> %s: folder \"%s\": message UID %" PRIu32 " refused by the target with "
				 "its keywords (%s): %s; sent again without them", f->r->src->name, f->r->dst->name,
				 f->name, s->uid, s->keywords, res->text);
			if (f->n_kw_again == f->cap_kw_again) {
				f->cap_kw_again = f->cap_kw_again ? f->cap_kw_again * 2 : 16;
				f->kw_again = xrealloc(f->kw_again, f->cap_kw_again * sizeof(*f->kw_again));
			}
			f->kw_again[f->n_kw_again++] = m->src;
		} else if (!(res->trycreate && f->stop == STOP_GONE)) {
			/* the folder deleted on the target since SELECT: said once, for the whole folder */
			log_error("push %s -> %s: folder \"%s\": message UID %" PRIu32 " refused by the target: %s",
				  f->r->src->name, f->r->dst->name, f->name, s->uid, res->text);
		}
		if (res->over_quota)
			f->stop = STOP_QUOTA;
		else if (res->trycreate)
			f->stop = STOP_GONE;
		f->failed++;
		if (e && e->pending) { /* not there, once confirmed (confirm_refusals) */
			if (f->n_refused == f->cap_refused) {
				f->cap_refused = f->cap_refused ? f->cap_refused * 2 : 16;
				f->refused = xrealloc(f->refused, f->cap_refused * sizeof(*f->refused));
			}
			f->refused[f->n_refused++] = m->src;
		}
		return;
	}
	if (!e)
		e = push_state_put(&f->st, s->uv, s->uid);
	/* UIDs only grow (RFC 3501 2.3.1.1): an APPENDUID below the folder's
	 * UIDNEXT or not above the previous one names a message that is already
	 * there (a broken or hostile server). Trusted, flag updates and --delete
	 * would hit that other message: found by a search instead. */
	if (res->uid && res->uidvalidity == f->info.uidvalidity && res->uid >= f->uid_floor) {
		f->uid_floor = (uint64_t)res->uid + 1;
		if (f->n_stored == f->cap_stored) {
			f->cap_stored = f->cap_stored ? f->cap_stored * 2 : 64;
			f->stored = xrealloc(f->stored, f->cap_stored * sizeof(*f->stored));
		}
		f->stored[f->n_stored++] = res->uid;
		e->pending = 0;
		e->unverified = 1; /* saved as in doubt until push_check_stored saw it */
		e->tgt_uid = res->uid;
		e->flags = s->flags;
		push_entry_set_keywords(&f->st, e, f->no_keywords ? "" : s->keywords);
	} else {
		learn[(*n_learn)++] = m->src; /* no UIDPLUS: found by a search afterwards */
	}
	f->appended++;
	f->bytes += m->msg.len;
}

/* A refusal is trusted once the server has answered a command sent after it
 * (a NOOP): a tagged NO that was not the server's answer to that APPEND (a
 * damaged stream, a server answering one tag twice) would be followed by the
 * real answer, an unknown tag here. Before that, a refused message stays in
 * doubt in the state: appended again, it could be there twice. Then the
 * refused messages are not there, their entries go, unless the folder grew by
 * more messages than were answered OK (OK_COUNT, from E0): a server that stored a
 * message and answered NO all the same. Then the refused messages are looked
 * up, and those found are recorded (the others go). */
static int confirm_refusals(struct folder_run *f, int multiappend, uint32_t e0, uint64_t ok_count,
			    size_t *update, size_t *n_update, char *err, size_t errlen)
{
	size_t *missing = NULL, n_missing = 0;
	uint64_t *size = NULL;
	if (!f->n_refused && !multiappend)
		return 0;
	int rc = imap_noop(f->r->imap, err, errlen);
	if (rc < 0)
		return rc == IMAP_ERR_NO ? IMAP_ERR_PROTOCOL : rc;
	/* the folder's growth has been told by the NOOP's answer at the latest */
	uint32_t now = imap_exists(f->r->imap);
	if (!multiappend && f->n_refused && now > e0 && now - e0 > ok_count) {
		missing = xcalloc(f->n_refused + 1, sizeof(*missing));
		size = xcalloc(f->n_refused + 1, sizeof(*size));
		for (size_t i = 0; i < f->n_refused; i++) {
			const struct push_entry *e = push_state_find(&f->st, f->src[f->refused[i]].uv,
								     f->src[f->refused[i]].uid);
			size[i] = e ? push_pending_size(e) : 0;
		}
		push_folder_has_mail(f);
		rc = push_lookup_messages(f, f->refused, f->n_refused, 1, missing, &n_missing, update, n_update,
					  err, errlen);
		if (rc < 0)
			goto out;
		for (size_t i = 0; i < f->n_refused; i++) {
			const struct push_src *s = &f->src[f->refused[i]];
			const struct push_entry *e = push_state_find(&f->st, s->uv, s->uid);
			if (!e || e->pending)
				continue;
			log_warn("push %s -> %s: folder \"%s\": message UID %" PRIu32 " was refused but the target "
				 "stored it all the same; recorded as appended", f->r->src->name, f->r->dst->name,
				 f->name, s->uid);
			f->failed -= f->failed ? 1 : 0;
			f->appended++;
			f->bytes += size[i];
		}
	}
	/* after a lookup, the refused messages not found are gone from the state
	 * already, and one still pending could not be read again (a mail reader
	 * renamed its file): it stays in doubt, looked up by the next push */
	for (size_t i = 0; !missing && i < f->n_refused; i++) {
		const struct push_src *s = &f->src[f->refused[i]];
		const struct push_entry *e = push_state_find(&f->st, s->uv, s->uid);
		if (e && e->pending)
			push_state_remove(&f->st, s->uv, s->uid);
	}
out:
	f->n_refused = 0;
	free(missing);
	free(size);
	return rc;
}

/* Wait for the answers to the pipelined APPENDs b[*from..to). */
static int drain(struct folder_run *f, struct pending_msg *b, const unsigned *tags, size_t *from, size_t to,
		 size_t *learn, size_t *n_learn, char *err, size_t errlen)
{
	for (; *from < to; (*from)++) {
		struct imap_append_result res;
		char aerr[512];
		if (!tags[*from])
			continue;
		int r = imap_append_wait(f->r->imap, tags[*from], &res, aerr, sizeof(aerr));
		if (r < 0 && r != IMAP_ERR_NO) {
			snprintf(err, errlen, "%s", aerr);
			return r;
		}
		append_outcome(f, &b[*from], r, &res, learn, n_learn);
	}
	return 0;
}

/* The INTERNALDATE an APPEND gives a file dated t (its mtime), or INT64_MIN
 * (none: the server's "now") when IMAP cannot write it: years 1 to 9999. A date
 * before 1970 is sent as it is. */
static int64_t push_append_date(int64_t t)
{
	return t >= INT64_C(-62135596800) && t < INT64_C(253402300800) ? t : INT64_MIN;
}

/* The APPEND of m with these flags: its bytes in memory, or read from its file
 * from the start (it may be sent twice: a refused MULTIAPPEND, then alone). */
static int append_req(struct folder_run *f, struct pending_msg *m, const char *flags, struct imap_append_req *q,
		      char *err, size_t errlen)
{
	*q = (struct imap_append_req){ .wire_name = f->wire.data, .flags = flags,
				       .date = push_append_date(m->msg.date), .len = (size_t)m->msg.len };
	if (m->msg.fd < 0) {
		q->data = m->msg.data.data;
		return 0;
	}
	if (push_msg_rewind(&m->msg) < 0) {
		snprintf(err, errlen, "folder \"%s\": message UID %" PRIu32 ": reading it again: %s", f->name,
			 f->src[m->src].uid, strerror(errno));
		return IMAP_ERR_LOCAL;
	}
	q->read = push_msg_read;
	q->read_ctx = &m->msg;
	return 0;
}

/* The whole batch in one MULTIAPPEND (RFC 3502): one transaction on the
 * server, three times faster on Dovecot than single APPENDs. 1 when the server
 * refused it (all or nothing: nothing was appended), 0 when done, <0 on a
 * connection error. */
static int multiappend_batch(struct folder_run *f, struct pending_msg *b, size_t n, size_t *learn,
			     size_t *n_learn, int *gone, char *err, size_t errlen)
{
	struct imap_append_req *reqs = xcalloc(n, sizeof(*reqs));
	struct buf *fl = xcalloc(n, sizeof(*fl));
	uint32_t *uids = xcalloc(n, sizeof(*uids));
	struct imap_append_result res;
	char merr[512];
	int rc = 0;
	for (size_t k = 0; k < n && rc == 0; k++) {
		const struct push_src *s = &f->src[b[k].src];
		push_flags_string(s->flags, f->no_keywords ? "" : s->keywords, &fl[k]);
		rc = append_req(f, &b[k], fl[k].data, &reqs[k], err, errlen);
	}
	if (rc < 0)
		goto out;
	rc = imap_multiappend(f->r->imap, reqs, n, uids, &res, merr, sizeof(merr));
	if (rc == IMAP_ERR_NO) {
		log_debug("push %s -> %s: folder \"%s\": MULTIAPPEND refused (%s); one by one", f->r->src->name,
			  f->r->dst->name, f->name, res.text);
		*gone = res.trycreate;
		rc = 1;
	} else if (rc < 0) {
		snprintf(err, errlen, "%s", merr);
	} else {
		for (size_t k = 0; k < n; k++) {
			struct imap_append_result one = { .uidvalidity = res.uidvalidity, .uid = uids[k] };
			append_outcome(f, &b[k], 0, &one, learn, n_learn);
		}
	}
out:
	for (size_t k = 0; k < n; k++)
		buf_free(&fl[k]);
	free(fl);
	free(reqs);
	free(uids);
	return rc;
}

/* After a refused MULTIAPPEND: RFC 3502 makes it all or nothing, but a server
 * that stored some of the batch before its NO (seen in the wild) would have
 * them appended twice by the one-by-one retry. The batch is looked up first:
 * THERE[k] is set for each message found (recorded as appended, its target
 * UID known), and only the others are sent again. */
static int refused_batch_lookup(struct folder_run *f, const struct pending_msg *b, size_t n, uint8_t *there,
				size_t *update, size_t *n_update, char *err, size_t errlen)
{
	size_t *idx = xcalloc(n + 1, sizeof(*idx)), *missing = xcalloc(n + 1, sizeof(*missing));
	size_t n_missing = 0, k, j = 0, found = 0;
	for (k = 0; k < n; k++)
		idx[k] = b[k].src;
	push_folder_has_mail(f);
	int rc = push_lookup_messages(f, idx, n, 1, missing, &n_missing, update, n_update, err, errlen);
	if (rc < 0)
		goto out;
	/* missing[] keeps idx[]'s order; a message not read again stays in doubt,
	 * and so does one not found: the lookup dropped its entry, but it is sent
	 * again below, and a run cut short then must look it up next time */
	for (k = 0; k < n; k++) {
		if (j < n_missing && missing[j] == idx[k]) {
			mark_pending(f, &b[k]);
			j++;
			continue;
		}
		there[k] = 1;
		const struct push_entry *e = push_state_find(&f->st, f->src[idx[k]].uv, f->src[idx[k]].uid);
		if (e && !e->pending) {
			f->appended++;
			f->bytes += b[k].msg.len;
			found++;
		}
	}
	if (found)
		log_warn("push %s -> %s: folder \"%s\": the target refused a MULTIAPPEND but stored %zu of its "
			 "%zu messages (RFC 3502 makes it all or nothing); the others are sent one by one",
			 f->r->src->name, f->r->dst->name, f->name, found, n);
out:
	free(idx);
	free(missing);
	return rc;
}

/* drain() as imap_append_send's before_cont: the earlier APPENDs' answers are
 * read while a synchronizing literal waits for its "+". */
struct drain_ctx {
	struct folder_run *f;
	struct pending_msg *b;
	const unsigned *tags;
	size_t *waited, to, *learn, *n_learn;
	char *err;
	size_t errlen;
};

static int drain_before(void *ctx)
{
	struct drain_ctx *d = ctx;
	return drain(d->f, d->b, d->tags, d->waited, d->to, d->learn, d->n_learn, d->err, d->errlen);
}

static int append_batch(struct folder_run *f, struct pending_msg *b, size_t n, size_t *learn,
			size_t *n_learn, size_t *update, size_t *n_update, char *err, size_t errlen);

/* The messages of B[0..n) refused with their keywords (f->kw_again) and not
 * stored all the same sent once more without them, the system flags and the
 * INTERNALDATE kept: a target that cannot take a keyword (Dovecot refuses one
 * over 50 bytes) would refuse the message on every push, and it would never
 * migrate. Their entries record no keywords, and they go to UPDATE: the flag
 * update then sends each keyword the target refuses alone
 * (push_update.c), so it gets those it takes. */
static int append_without_keywords(struct folder_run *f, struct pending_msg *b, size_t n, size_t *learn,
				   size_t *n_learn, size_t *update, size_t *n_update, char *err, size_t errlen)
{
	struct pending_msg *again = xcalloc(f->n_kw_again + 1, sizeof(*again));
	size_t m = 0;
	int rc = 0;
	for (size_t k = 0; k < n; k++) {
		const struct push_src *s = &f->src[b[k].src];
		size_t j = 0;
		while (j < f->n_kw_again && f->kw_again[j] != b[k].src)
			j++;
		/* an entry left: stored all the same, or still in doubt */
		if (j == f->n_kw_again || push_state_find(&f->st, s->uv, s->uid))
			continue;
		again[m++] = b[k];
		mark_pending(f, &b[k]);
		if (!f->bare)
			f->bare = xcalloc(f->n_src + 1, 1);
		f->bare[b[k].src] = 1;
		f->failed -= f->failed ? 1 : 0;
	}
	f->n_kw_again = 0;
	if (!m || (rc = push_save_state(f, err, errlen)) < 0)
		goto out;
	f->no_keywords = 1;
	rc = append_batch(f, again, m, learn, n_learn, update, n_update, err, errlen);
	f->no_keywords = 0;
	for (size_t k = 0; k < m; k++) {
		const struct push_entry *e = push_state_find(&f->st, f->src[again[k].src].uv, f->src[again[k].src].uid);
		size_t j = 0;
		while (j < *n_update && update[j] != again[k].src)
			j++;
		if (e && !e->pending && e->tgt_uid && j == *n_update)
			update[(*n_update)++] = again[k].src;
	}
out:
	free(again); /* the messages are B's */
	return rc;
}

/* Send one batch (one MULTIAPPEND, or APPENDs pipelined with LITERAL+), read
 * the answers and record the outcome in the state. Messages that went in
 * without APPENDUID go to learn[]. */
static int append_batch(struct folder_run *f, struct pending_msg *b, size_t n, size_t *learn,
			size_t *n_learn, size_t *update, size_t *n_update, char *err, size_t errlen)
{
	struct imap_client *c = f->r->imap;
	struct buf fl = BUF_INIT;
	unsigned *tags = xcalloc(n + 1, sizeof(*tags));
	size_t waited = 0;
	int rc = 0;
	uint8_t *there = xcalloc(n + 1, 1);
	f->n_refused = 0;
	if (n > 1 && imap_multiappend_ok(c)) {
		int gone = 0;
		rc = multiappend_batch(f, b, n, learn, n_learn, &gone, err, errlen);
		if (rc <= 0)
			goto out;
		/* refused as a whole: find out which one, one by one, once the
		 * refusal is known to be the MULTIAPPEND's and the messages it
		 * stored all the same (not all-or-nothing) are known; a folder
		 * gone ([TRYCREATE]) holds none */
		rc = confirm_refusals(f, 1, 0, 0, update, n_update, err, errlen);
		if (rc == 0 && !gone)
			rc = refused_batch_lookup(f, b, n, there, update, n_update, err, errlen);
	}
	uint32_t e0 = imap_exists(c);
	uint64_t a0 = f->appended;
	for (size_t k = 0; k < n && rc == 0; k++) {
		const struct push_src *s = &f->src[b[k].src];
		if (there[k])
			continue;
		struct imap_append_result res;
		struct imap_append_req req;
		push_flags_string(s->flags, f->no_keywords ? "" : s->keywords, &fl);
		if ((rc = append_req(f, &b[k], fl.data, &req, err, errlen)) < 0)
			break;
		/* a synchronizing literal waits for its "+", and the earlier APPENDs'
		 * answers, which come before it, are read then */
		struct drain_ctx d = { f, b, tags, &waited, k, learn, n_learn, err, errlen };
		int r = imap_append_send(c, &req, &tags[k], &res, imap_append_pipelined(c, req.len) ? NULL :
					 drain_before, &d, err, errlen);
		if (r == IMAP_ERR_NO) { /* refused before its literal went */
			tags[k] = 0;
			waited = k + 1;
			append_outcome(f, &b[k], r, &res, learn, n_learn);
		} else if (r < 0) {
			rc = r;
		}
	}
	if (rc == 0)
		rc = drain(f, b, tags, &waited, n, learn, n_learn, err, errlen);
	if (rc == 0)
		rc = confirm_refusals(f, 0, e0, f->appended - a0, update, n_update, err, errlen);
	if (rc == 0 && f->n_kw_again)
		rc = append_without_keywords(f, b, n, learn, n_learn, update, n_update, err, errlen);
out:
	f->n_kw_again = 0;
	push_state_compact(&f->st);
	free(there);
	free(tags);
	buf_free(&fl);
	return rc;
}

static void batch_free(struct pending_msg *b, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		push_msg_free(&b[k].msg);
		b[k].msg = (struct push_msg)PUSH_MSG_INIT;
	}
}

/* After a batch without APPENDUID: find the target UIDs with the same search
 * as for a lookup. A message that cannot be found is recorded without target
 * UID, never appended again (a server that rewrites messages or dates would
 * get it again on every push), unless the folder did not grow by the messages
 * the batch stored (OK_COUNT answered OK, from E0 messages before it): then
 * the messages not found are those it did not store (a server answering OK
 * without storing), and the next push appends them again. */
static int learn_uids(struct folder_run *f, const struct pending_msg *b, size_t nb, const size_t *learn, size_t n,
		      uint64_t ok_count, uint32_t e0, unsigned long told0, size_t *update, size_t *n_update,
		      char *err, size_t errlen)
{
	size_t *missing = xcalloc(n + 1, sizeof(*missing)), n_missing = 0;
	push_folder_has_mail(f);
	int rc = push_lookup_messages(f, learn, n, 1, missing, &n_missing, update, n_update, err, errlen);
	/* the searches were commands: the folder's growth has been told by now (RFC 3501 §5.2) */
	uint32_t now = imap_exists(f->r->imap);
	uint64_t grown = now > e0 ? now - e0 : 0;
	/* a server that told no EXISTS since did not say the folder did not grow */
	int unstored = imap_exists_told(f->r->imap) != told0 && grown < ok_count && n_missing <= ok_count - grown;
	for (size_t k = 0; rc == 0 && k < n_missing; k++) {
		const struct push_src *s = &f->src[missing[k]];
		if (unstored) {
			/* in doubt, not dropped: a search index behind the folder
			 * would have it appended twice; the next push looks again */
			for (size_t j = 0; j < nb; j++) {
				if (b[j].src != missing[k])
					continue;
				mark_pending(f, &b[j]);
				push_bytes_back(f, b[j].msg.len);
			}
			log_error("push %s -> %s: folder \"%s\": message UID %" PRIu32 " was answered as appended, "
				  "but the target folder did not grow by it and it cannot be found: the next push "
				  "looks for it again and appends it if it is not there", f->r->src->name,
				  f->r->dst->name, f->name, s->uid);
			f->failed++;
			f->appended -= f->appended ? 1 : 0;
			continue;
		}
		struct push_entry *e = push_state_put(&f->st, s->uv, s->uid);
		push_entry_settle(e);
		e->tgt_uid = 0;
		e->flags = s->flags;
		/* what its APPEND carried: none when sent again without them */
		push_entry_set_keywords(&f->st, e, f->bare && f->bare[missing[k]] ? "" : s->keywords);
		log_warn("push %s -> %s: folder \"%s\": message UID %" PRIu32 " was appended but cannot be "
			 "found on the target; its flags will not be updated", f->r->src->name, f->r->dst->name,
			 f->name, s->uid);
	}
	free(missing);
	return rc;
}

/* The next messages of idx[0..n) from *NEXT on opened into B (their
 * push_msgs B's), up to a batch's count and bytes; one whose file is gone is
 * skipped, one that cannot be read failed. The number opened. */
static size_t batch_fill(struct folder_run *f, const size_t *idx, size_t n, size_t *next, struct pending_msg *b)
{
	size_t bytes = 0, inmem = 0, nb = 0;
	char rerr[512];
	while (*next < n && nb < BATCH_MSGS && ((bytes < BATCH_BYTES && inmem < BATCH_INMEM) || nb == 0)) {
		struct pending_msg *m = &b[nb];
		size_t i = idx[(*next)++];
		int r = push_open_message(f, i, 1, &m->msg, rerr, sizeof(rerr));
		if (r > 0) { /* renamed by a mail reader: pushed next time */
			log_warn("push %s -> %s: folder \"%s\": message UID %" PRIu32 ": %s; skipped",
				 f->r->src->name, f->r->dst->name, f->name, f->src[i].uid, rerr);
			f->skipped++;
			continue;
		}
		if (r < 0) { /* unreadable (an I/O error, too big): not pushed, the run is partial */
			log_error("push %s -> %s: folder \"%s\": message UID %" PRIu32 ": %s; not pushed",
				  f->r->src->name, f->r->dst->name, f->name, f->src[i].uid, rerr);
			f->failed++;
			continue;
		}
		m->src = i;
		bytes += m->msg.len;
		inmem += m->msg.data.len;
		nb++;
	}
	return nb;
}

/* A check of the appends that found a message missing: the others still go,
 * the folder fails at the end with the first one's error. */
struct deferred_check {
	int rc;
	char err[512];
};

/* The batch B[0..nb) (marked pending, saved) appended; the target UIDs learnt
 * by lookup when the target gave none, the appends checked when enough are
 * unchecked (a message missing noted in DC), the state saved.
 * 0, or an IMAP_ERR_* code or -1 with err. */
static int batch_append(struct folder_run *f, struct pending_msg *b, size_t nb, size_t *learn, size_t *update,
			size_t *n_update, struct deferred_check *dc, char *err, size_t errlen)
{
	size_t n_learn = 0;
	uint32_t e0 = imap_exists(f->r->imap);
	unsigned long told0 = imap_exists_told(f->r->imap);
	uint64_t a0 = f->appended;
	int rc = append_batch(f, b, nb, learn, &n_learn, update, n_update, err, errlen);
	if (rc == 0 && n_learn)
		rc = learn_uids(f, b, nb, learn, n_learn, f->appended - a0, e0, told0, update, n_update, err,
				errlen);
	/* checked every CHECK_EVERY messages too: the messages in doubt in
	 * the state (saved as "p" with their keys) stay few. Those the check
	 * did not see are back in doubt: the others still go, and the
	 * folder fails at the end */
	if (rc == 0 && f->n_stored >= CHECK_EVERY) {
		rc = push_check_stored(f, err, errlen);
		if (rc == IMAP_ERR_NO) {
			if (!dc->rc)
				snprintf(dc->err, sizeof(dc->err), "%s", err);
			dc->rc = rc;
			rc = 0;
		}
	}
	char serr[512];
	int src = push_save_state(f, rc == 0 ? err : serr, rc == 0 ? errlen : sizeof(serr));
	if (rc == 0)
		rc = src;
	return rc;
}

/* APPEND the messages idx[0..n) in batches; the state marks a batch pending
 * before it is sent and records the target UIDs after. */
int push_append_messages(struct folder_run *f, const size_t *idx, size_t n, size_t *update,
			 size_t *n_update, char *err, size_t errlen)
{
	struct pending_msg *b = xcalloc(BATCH_MSGS, sizeof(*b));
	size_t *learn = xcalloc(BATCH_MSGS + 1, sizeof(*learn));
	for (size_t k = 0; k < BATCH_MSGS; k++)
		b[k].msg = (struct push_msg)PUSH_MSG_INIT;
	size_t next = 0, nb = 0;
	struct deferred_check dc = { 0 };
	int rc = 0;
	while (next < n && rc == 0 && !f->stop) {
		size_t first = next;
		nb = batch_fill(f, idx, n, &next, b);
		if (f->r->opt->dry_run) {
			for (size_t k = 0; k < nb; k++) {
				if (f->r->opt->verbose)
					print_append(f, b[k].src, b[k].msg.len);
				f->appended++;
				f->bytes += b[k].msg.len;
			}
			batch_free(b, nb);
			continue;
		}
		for (size_t k = 0; k < nb; k++)
			mark_pending(f, &b[k]);
		if ((rc = push_save_state(f, err, errlen)) < 0)
			break;
		rc = batch_append(f, b, nb, learn, update, n_update, &dc, err, errlen);
		batch_free(b, nb);
		nb = 0;
		if (next / PROGRESS_EVERY != first / PROGRESS_EVERY && next < n)
			log_info("push %s -> %s: folder \"%s\": %zu of %zu messages done", f->r->src->name,
				 f->r->dst->name, f->name, next, n);
	}
	batch_free(b, nb);
	if (f->stop && next < n) {
		log_error("push %s -> %s: folder \"%s\": %s; stopped, %zu messages not pushed", f->r->src->name,
			  f->r->dst->name, f->name,
			  f->stop == STOP_QUOTA ? "the target is over quota"
						: "the folder no longer exists on the target (the next push creates it)",
			  n - next);
		f->failed += n - next;
	}
	free(b);
	free(learn);
	if (rc == 0 && dc.rc) {
		snprintf(err, errlen, "%s", dc.err);
		rc = dc.rc;
	}
	return rc;
}
