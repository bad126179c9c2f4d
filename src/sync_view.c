/* Sync runner, one folder: the server's view of it (FETCH FLAGS into a sorted
 * UID list, bounded against a server that repeats itself), learnt by the
 * cheapest path (QRESYNC, CONDSTORE, a full listing), and the next folder's
 * EXAMINE sent ahead. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailkeep/buf.h"
#include "mailkeep/imap.h"
#include "mailkeep/log.h"
#include "mailkeep/plan.h"
#include "mailkeep/state.h"

#include "sync_folder.h"

const char *const sync_flag_path_names[] = { "full", "CONDSTORE", "QRESYNC", "unchanged" };

/* the full flag listing; with the dates when there is no state to tell the files by */
#define LIST_ITEMS "(UID FLAGS)"
#define LIST_DATES_ITEMS "(UID FLAGS INTERNALDATE)"

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
	sv->keywords[sv->n] = kwset_intern(&sv->kw, kw);
	sv->n++;
}

void sync_sv_free(struct server_view *sv)
{
	const struct imap_client *imap = sv->imap;
	kwset_free(&sv->kw);
	free(sv->msgs);
	free(sv->keywords);
	free(sv->present);
	free(sv->date);
	free(sv->idate);
	memset(sv, 0, sizeof(*sv));
	sv->imap = imap;
}

ssize_t sync_sv_find(const struct server_view *sv, uint32_t uid)
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
	const char *kw;
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

void sync_sv_normalise(struct server_view *sv)
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
		sv->keywords[sv->n - 1] = kwset_intern(&sv->kw, m->keywords);
		/* a message's INTERNALDATE never changes: an unsolicited FETCH of
		 * its flags alone does not unlearn it */
		if (sv->idate && m->internaldate != INT64_MIN)
			sv->idate[sv->n - 1] = m->internaldate;
		return 0;
	}
	if (sv->imap && sv->n == sv->cap && sv->n >= (size_t)imap_exists(sv->imap) + VIEW_SLACK) {
		sv_dedupe(sv); /* sorted, later copies win: as sync_sv_normalise will */
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

/* ---- what changed on the server ---- */

struct changes {
	struct server_view changed;   /* FETCH FLAGS since the state's modseq */
	struct plan_range *ranges;    /* VANISHED or SEARCH ALL */
	size_t n_ranges, cap_ranges;
	const struct folder_state *st; /* the known UIDs (NULL: ranges unbounded) */
	uint32_t vanished_top;        /* the highest UID a VANISHED range named */
};

static int on_uids(void *ctx, uint32_t lo, uint32_t hi, int vanished)
{
	struct changes *ch = ctx;
	if (vanished && hi > ch->vanished_top)
		ch->vanished_top = hi;
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
	sync_sv_free(&ch->changed);
	free(ch->ranges);
	memset(ch, 0, sizeof(*ch));
}

/* Build f->sv from the state plus the changes. */
static void merge_view(struct folder_run *f, const struct folder_state *st, struct changes *ch,
		       enum plan_ranges_kind kind)
{
	struct plan_merged *m;
	sync_sv_normalise(&ch->changed);
	size_t n = plan_merge_changes(st->msgs, st->n, ch->changed.msgs, ch->changed.n, ch->ranges,
				      ch->n_ranges, kind, &m);
	for (size_t i = 0; i < n; i++) {
		const char *kw = m[i].changed >= 0 ? ch->changed.keywords[m[i].changed] :
			st->msgs[m[i].known].keywords;
		sv_add(&f->sv, m[i].uid, m[i].flags, kw);
		/* a capped state's message unchanged since: its keywords may be short */
		f->sv.kw_from_capped |= st->keywords_capped && m[i].changed < 0;
	}
	/* sets either table could not keep are missing from the view too */
	f->sv.kw.refused += ch->changed.kw.refused + st->kw.refused;
	free(m);
}


/* After our EXAMINE is sent: the next folder's goes out at once when ours
 * will most likely need nothing more (an incremental path: its changes and
 * its new messages were asked for with it), then our directory is scanned
 * while the server answers. */
static void after_examine_sent(void *ctx)
{
	struct folder_run *f = ctx;
	f->seq = imap_select_seq(f->a->imap); /* ours: nothing sent after it yet */
	if (f->lookahead_ok)
		sync_prefetch_next(f);
	sync_folder_scan_dir(f);
}

/* The EXAMINE request for a folder in the given state (its callbacks aside):
 * the flag path, and the download of the UIDs STATUS says are new riding behind
 * it (no round trip of its own; the plan decides later what to keep of it).
 * Not for Gmail dedupe, which asks for X-GM-MSGID first. Also used to send a
 * connection's next folder ahead (sync_prefetch_next), so it reads only the state's
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

void sync_prefetch_drain(struct account_run *a)
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
	imap_set_folder(a->imap, p->mb->utf8); /* what is read is that folder's */
	(void)imap_examine_recv(a->imap, &req, &p->tags, &info, err, sizeof(err));
}

/* All commands of folder f are sent: take the connection's next folder from
 * the queue and send its EXAMINE now, so that the server answers it while f's
 * answers are read and its files written. Not for Gmail dedupe (its \All
 * folder goes first, alone). */
void sync_prefetch_next(struct folder_run *f)
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

/* EXAMINE the folder with REQ (on PATH): the one sent ahead from the state's
 * header received when the full state asks for the very same (it always
 * should), else its answers dropped and REQ sent now. */
static int examine(struct folder_run *f, const struct imap_mailbox *mb, const struct imap_examine_req *req,
		   enum flag_path path, struct imap_select_info *info, char *err, size_t errlen)
{
	struct imap_client *c = f->a->imap;
	struct prefetch *p = f->a->pre;
	if (p && p->sent && p->mb == mb) {
		int same = (int)path == p->path && req->qresync_uidvalidity == p->qresync_uidvalidity &&
			   req->qresync_modseq == p->qresync_modseq && req->changedsince == p->changedsince &&
			   !strcmp(req->then_set ? req->then_set : "", p->spec_set) &&
			   imap_select_seq(c) == p->seq && (path != PATH_FULL || p->dates == f->want_dates);
		if (same) {
			struct imap_examine_sent tags = p->tags; /* the slot is reused now */
			p->sent = 0;
			after_examine_sent(f); /* f->seq = p->seq: checked equal above */
			return imap_examine_recv(c, req, &tags, info, err, errlen);
		}
		sync_prefetch_drain(f->a);
	}
	return imap_examine(c, req, info, err, errlen);
}

/* CONDSTORE/QRESYNC advertised, their EXAMINE parameters refused: a bare
 * EXAMINE and the full flag fetch (*PATH becomes PATH_FULL); what the refused
 * one brought (CH, f->sv) dropped. */
static int examine_plain(struct folder_run *f, const struct imap_mailbox *mb, const struct folder_state *st,
			 struct changes *ch, const struct imap_fetch_cb *flags_cb, const char *full_items,
			 enum flag_path *path, struct imap_select_info *info, char *err, size_t errlen)
{
	struct imap_client *c = f->a->imap;
	log_info("account %s: folder \"%s\": %s EXAMINE refused (%s); plain EXAMINE",
		 f->a->acct->name, f->name, sync_flag_path_names[*path], err);
	struct imap_examine_req plain = { .wire_name = mb->name, .plain = 1,
					  .fetch_items = full_items, .cb = flags_cb,
					  .after_send = after_examine_sent, .after_ctx = f };
	*path = PATH_FULL;
	sync_folder_spec_drop(f);
	changes_free(ch);
	memset(ch, 0, sizeof(*ch));
	ch->st = st;
	ch->changed.imap = c;
	sync_sv_free(&f->sv); /* what the FETCH behind the refused EXAMINE said is not this folder's */
	return imap_examine(c, &plain, info, err, errlen);
}

/* Does the QRESYNC answer (CH, merged) say anything of the UIDs the folder
 * gave since the state (from its UIDNEXT to UIDNEXT)? A FETCH of one, or a
 * VANISHED range that reaches them: a server must report each new message
 * with its FETCH or its VANISHED (RFC 7162 §3.2.5.1). A server whose answer
 * leaves them out (QRESYNC advertised but not done) has a view that counts
 * what EXISTS says whenever as many messages went as came: taken as it is, the
 * new ones would never be mirrored (the state's new HIGHESTMODSEQ and UIDNEXT
 * hide them from every later run) and the gone ones never removed. */
static int new_uids_told(const struct folder_state *st, const struct changes *ch, uint32_t uidnext)
{
	if (!st->uidnext || uidnext <= st->uidnext || ch->vanished_top >= st->uidnext)
		return 1;
	return ch->changed.n && ch->changed.msgs[ch->changed.n - 1].uid >= st->uidnext;
}

/* The view of an incremental PATH merged into f->sv from the state and CH: 1
 * when it stands (it counts what EXISTS says), else 0 and the full listing is
 * to be asked, of *FULL_ITEMS (with the dates when HIGHESTMODSEQ went back).
 * INFO's UIDNEXT: the server's now (0: unknown). */
static int incremental_stands(struct folder_run *f, const struct folder_state *st, struct changes *ch,
			      enum flag_path path, const struct imap_select_info *info, const char **full_items)
{
	struct imap_client *c = f->a->imap;
	/* a HIGHESTMODSEQ below the state's: the server's went back (restored
	 * from a backup, or it lied before): what changed since cannot be asked */
	if (info->uidvalidity == st->uidvalidity && info->highestmodseq &&
	    info->highestmodseq < st->highestmodseq) {
		log_info("account %s: folder \"%s\": HIGHESTMODSEQ went back (%" PRIu64 " < %" PRIu64
			 "); full fetch", f->a->acct->name, f->name, info->highestmodseq, st->highestmodseq);
		/* A server restored from a backup gives the UIDs it lost to new
		 * messages, under the same UIDVALIDITY: the state's dates no longer
		 * tell which file is which message; the server's do (as without a
		 * state). */
		*full_items = LIST_DATES_ITEMS;
		f->server_dates = 1;
	} else if (info->uidvalidity == st->uidvalidity && info->highestmodseq) {
		merge_view(f, st, ch, path == PATH_QRESYNC ? PLAN_RANGES_VANISHED : PLAN_RANGES_PRESENT);
		if (f->sv.n != imap_exists(c))
			log_info("account %s: folder \"%s\": %s view has %zu messages, server %u; full fetch",
				 f->a->acct->name, f->name, sync_flag_path_names[path], f->sv.n, imap_exists(c));
		else if (info->fetch_unusable)
			/* RFC 7162 §3.1.4.1, §3.2.5.2: a changed message is reported
			 * with its UID and FLAGS; a change that cannot be applied (no
			 * UID to place it, no FLAGS) would be missed for good */
			log_info("account %s: folder \"%s\": the %s answer holds %lu FETCH responses without a "
				 "UID or FLAGS; full fetch", f->a->acct->name, f->name, sync_flag_path_names[path],
				 info->fetch_unusable);
		else if (path == PATH_QRESYNC && info->uidnext && info->uidnext < st->uidnext)
			/* UIDNEXT never goes back (RFC 3501 §2.3.1.1): one of the two
			 * is wrong (a hostile STATUS's recorded, a server restored from
			 * a backup), and the answer cannot be checked for the new UIDs */
			log_info("account %s: folder \"%s\": UIDNEXT went back (%" PRIu32 " < %" PRIu32 "); full fetch",
				 f->a->acct->name, f->name, info->uidnext, st->uidnext);
		else if (path == PATH_QRESYNC && !new_uids_told(st, ch, info->uidnext))
			log_info("account %s: folder \"%s\": UIDNEXT went from %" PRIu32 " to %" PRIu32 " but the "
				 "QRESYNC answer names none of those UIDs; full fetch", f->a->acct->name, f->name,
				 st->uidnext, info->uidnext);
		else
			return 1;
		sync_sv_free(&f->sv);
	}
	return 0;
}

/* A full listing checked against what the server says the folder holds: 0, or
 * IMAP_ERR_NO with err when it does not count that. */
static int check_full_view(struct folder_run *f, const struct imap_select_info *info, char *err, size_t errlen)
{
	struct imap_client *c = f->a->imap;
	sync_sv_normalise(&f->sv);
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
			 f->sv.n, now);
		return IMAP_ERR_NO;
	}
	return 0;
}

/* Did the server's count go down without an EXPUNGE since the EXAMINE's
 * first EXISTS? RFC 3501 §7.3.1 forbids it: a server that says 4 and then 2
 * while listing 2 has no trustworthy view, and its listing must not remove
 * the other 2. 0, or IMAP_ERR_NO with err. */
static int check_exists_drops(struct folder_run *f, const struct imap_select_info *info, char *err,
			      size_t errlen)
{
	uint32_t from, to;
	if (imap_exists_drops(f->a->imap, &from, &to) == info->exists_drops)
		return 0;
	snprintf(err, errlen, "server's EXISTS went down from %" PRIu32 " to %" PRIu32 " without an EXPUNGE "
		 "(RFC 3501 7.3.1); folder left as it is", from, to);
	return IMAP_ERR_NO;
}

/* EXAMINE the folder and learn the server's view into f->sv, by the cheapest
 * path the server and the state allow. Every path ends with the same view; an
 * incremental one is checked against EXISTS and falls back to a full fetch. */
int sync_server_view(struct folder_run *f, const struct imap_mailbox *mb, const struct folder_state *st,
		     const struct imap_status_info *status, struct imap_select_info *info,
		     enum flag_path *path, char *err, size_t errlen)
{
	struct imap_client *c = f->a->imap;
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
	rc = examine(f, mb, &req, *path, info, err, errlen);
	if (rc == IMAP_ERR_NO && (imap_caps(c) & IMAP_CAP_CONDSTORE) &&
	    (info->refused.status == IMAP_STATUS_BAD ||
	     (*path != PATH_FULL && info->refused.status == IMAP_STATUS_NO)))
		rc = examine_plain(f, mb, st, &ch, &flags_cb, full_items, path, info, err, errlen);
	/* the server's UIDNEXT: EXAMINE's, else STATUS's (RFC 2060 servers send
	 * none with EXAMINE), for the check of a QRESYNC answer and for the state
	 * (recorded as the highest UID + 1, it stayed below STATUS's once the
	 * newest message was expunged, and every later run took the QRESYNC
	 * answer for one leaving UIDs out: a full fetch) */
	if (!info->uidnext && status && status->ok && status->uidvalidity == info->uidvalidity)
		info->uidnext = status->uidnext;
	if (rc < 0 || *path == PATH_FULL || incremental_stands(f, st, &ch, *path, info, &full_items))
		goto out;
	*path = PATH_FULL;
	sync_folder_spec_drop(f);
	if (!sync_folder_still_selected(f, err, errlen)) {
		rc = SYNC_ERR_RESELECT;
		goto out;
	}
	rc = imap_uid_fetch(c, "1:*", full_items, &flags_cb, err, errlen);
	if (rc == IMAP_ERR_NO && info->exists == 0)
		rc = 0;
out:
	/* A view that does not count what the server says it holds (a broken or
	 * hostile server, a FETCH without UIDs) must never drive removals. */
	if (rc == 0)
		rc = check_exists_drops(f, info, err, errlen);
	if (rc == 0 && *path == PATH_FULL)
		rc = check_full_view(f, info, err, errlen);
	changes_free(&ch);
	return rc;
}
