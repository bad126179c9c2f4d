/* Push runner, the target side of one folder: ask the target back, by UID
 * FETCH, for the UIDs it gave by APPENDUID. The appends of this run are
 * checked (a server that gives an APPENDUID without storing the message would
 * have it lost), and the messages an interrupted push appended are looked for
 * under their UIDs before any search. Searching the target for messages is
 * src/push_lookup.c's, the appends src/push_target.c's. */
#include "push_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "mailkeep/log.h"

/* ---- target UIDs asked back ---- */

struct uid_answers {
	const uint32_t *uids; /* sorted, distinct */
	size_t n;
	struct push_candidate *got; /* parallel to uids: uid 0 until its FETCH arrived */
	size_t other;               /* FETCH answers for UIDs not asked for */
};

static int on_uid_answer(void *ctx, const struct imap_msg *m, char *err, size_t errlen)
{
	struct uid_answers *a = ctx;
	(void)err;
	(void)errlen;
	const uint32_t *p = bsearch(&m->uid, a->uids, a->n, sizeof(*a->uids), push_cmp_u32);
	if (!p)
		a->other++;
	if (!p || a->got[p - a->uids].uid)
		return 0;
	/* the UID answered is there, FLAGS or not; without them (damaged on
	 * the way) its flags are taken for none: the mirror's are then added */
	struct push_candidate *c = &a->got[p - a->uids];
	c->uid = m->uid;
	c->flags = m->has_flags ? m->flags : 0;
	c->keywords = xstrdup(m->has_flags && m->keywords ? m->keywords : "");
	return 0;
}

static void uid_answers_free(struct uid_answers *a)
{
	for (size_t i = 0; a->got && i < a->n; i++)
		free(a->got[i].keywords);
	free(a->got);
	a->got = NULL;
}

/* Ask the target for the UIDs of A not answered yet, by UID FETCH (UID FLAGS),
 * UIDSET_MAX per command and STORE_WINDOW commands in flight; A->got[i] gets
 * each answer. An answer for a UID not asked for is an unsolicited FETCH
 * (another client changed that message's flags: RFC 3501 §7.4.2, with its UID
 * during a UID command, §6.4.8) when every UID asked for was answered; only
 * beside a UID not answered may it be that one's damaged answer, which proves
 * nothing either way: IMAP_ERR_NO, err saying WHAT. 0, or an IMAP_ERR_* code. */
static int ask_uids(struct folder_run *f, struct uid_answers *a, const char *what, char *err, size_t errlen)
{
	struct buf set = BUF_INIT;
	unsigned tags[STORE_WINDOW];
	struct imap_fetch_cb cb = { .on_message = on_uid_answer, .ctx = a };
	uint32_t *ask = xcalloc(a->n + 1, sizeof(*ask));
	size_t n_ask = 0, next = 0, head = 0, tail = 0, unseen = 0;
	int rc = 0;
	for (size_t i = 0; i < a->n; i++)
		if (!a->got[i].uid)
			ask[n_ask++] = a->uids[i];
	while (next < n_ask || head < tail) {
		if (next < n_ask && tail - head < STORE_WINDOW) {
			size_t m = n_ask - next < UIDSET_MAX ? n_ask - next : UIDSET_MAX;
			buf_reset(&set);
			imap_uidset(&set, ask + next, m);
			rc = imap_uid_fetch_send(f->r->imap, set.data, "(UID FLAGS)", &tags[tail % STORE_WINDOW], err,
						 errlen);
			if (rc < 0)
				goto out;
			next += m;
			tail++;
			continue;
		}
		char werr[512];
		int r = imap_uid_fetch_wait(f->r->imap, tags[head % STORE_WINDOW], &cb, werr, sizeof(werr));
		head++;
		if (push_pipelined_outcome(r, &rc, werr, err, errlen))
			goto out;
		if (rc < 0)
			next = n_ask;
	}
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < a->n; i++)
		unseen += !a->got[i].uid;
	if (a->other && unseen) {
		snprintf(err, errlen, "%s, the target answered for %zu messages not asked for", what, a->other);
		rc = IMAP_ERR_NO;
	}
out:
	free(ask);
	buf_free(&set);
	return rc;
}

/* ---- APPENDUIDs not checked by an earlier push ---- */

/* A pending entry with a target UID was given that UID by an APPENDUID that
 * no check saw (the push was cut short): the message is looked for under that
 * UID first, by UID FETCH (UID FLAGS), as the check would have. A target that
 * rewrites what it stores (a header added, line ends changed) could not be
 * searched by size and header digest: the message would be appended again.
 * UIDs are never given twice in one UIDVALIDITY (RFC 3501 §2.3.1.1), and the
 * state's is the folder's (target_unknown()), so the UID is the message's.
 * For ENT[0..n): FOUND[k] gets the target's UID, flags and keywords (owned),
 * uid 0 when not there or when the UID stands for another entry (CLAIMED).
 * 0, or an IMAP_ERR_* code with err. */
int push_check_hints(struct folder_run *f, struct push_entry *const *ent, size_t n, const uint32_t *claimed,
		     size_t n_claimed, struct push_candidate *found, char *err, size_t errlen)
{
	struct uid_answers a = { 0 };
	uint32_t *uids = xcalloc(n + 1, sizeof(*uids));
	int rc = 0;
	for (size_t k = 0; k < n; k++)
		if (ent[k] && ent[k]->pending && ent[k]->tgt_uid && !push_contains_u32(claimed, n_claimed, ent[k]->tgt_uid))
			uids[a.n++] = ent[k]->tgt_uid;
	a.n = push_uniq_u32(uids, a.n);
	a.uids = uids;
	a.got = xcalloc(a.n + 1, sizeof(*a.got));
	if (!a.n || !f->exists_on_target || !f->info.exists)
		goto out;
	/* a UID not answered is asked for once more: its answer may have been
	 * lost on the way, and the message, searched for instead, not found on a
	 * target that rewrites what it stores: appended twice. (The check's
	 * "not there" is believed only when the next push does not see it either.) */
	for (int pass = 0; pass < 2 && rc == 0; pass++)
		rc = ask_uids(f, &a, "asking for the messages an interrupted push appended", err, errlen);
	if (rc < 0)
		goto out;
	for (size_t k = 0; k < n; k++) {
		const uint32_t *p = ent[k] && ent[k]->pending && ent[k]->tgt_uid
			? bsearch(&ent[k]->tgt_uid, uids, a.n, sizeof(*uids), push_cmp_u32) : NULL;
		if (!p || !a.got[p - uids].uid || a.got[p - uids].taken)
			continue;
		a.got[p - uids].taken = 1; /* one entry per target message */
		found[k] = a.got[p - uids];
		found[k].keywords = xstrdup(found[k].keywords);
	}
out:
	uid_answers_free(&a);
	free(uids);
	return rc;
}

/* ---- the appends checked ---- */

/* An APPENDUID is the server's word that it stored the message: a server that
 * gives it without storing (broken, or hostile) would have the message lost
 * for good, the next push taking it as done. One UID FETCH per UIDSET_MAX
 * appended messages (a few in flight) asks for them back. A message not there
 * is put back in doubt and fails the folder; the next push looks it up. An
 * answer naming a UID not asked for, beside a UID asked for and not answered,
 * proves nothing either way: the folder fails with every entry kept. */
int push_check_stored(struct folder_run *f, char *err, size_t errlen)
{
	struct uid_answers a = { 0 };
	int rc = 0;
	if (!f->n_stored || f->r->opt->dry_run)
		return 0;
	/* a server shows messages appended to the selected folder by the next
	 * command at the latest (RFC 3501 §7.3.1): the FETCHes come after a NOOP */
	if ((rc = imap_noop(f->r->imap, err, errlen)) < 0)
		goto out;
	a.n = push_uniq_u32(f->stored, f->n_stored);
	a.uids = f->stored;
	a.got = xcalloc(a.n + 1, sizeof(*a.got));
	if ((rc = ask_uids(f, &a, "checking the messages appended", err, errlen)) < 0)
		goto out;
	/* the entries given those UIDs (unverified: append_outcome() put each
	 * in f->stored as it marked it) */
	size_t lost = 0;
	for (size_t k = 0; k < f->st.n; k++) {
		struct push_entry *e = &f->st.e[k];
		const uint32_t *p = e->unverified && e->src_uid && !e->pending
			? bsearch(&e->tgt_uid, a.uids, a.n, sizeof(*a.uids), push_cmp_u32) : NULL;
		if (!p)
			continue;
		e->unverified = 0;
		if (a.got[p - a.uids].uid) {
			push_entry_settle(e);
			continue;
		}
		/* in doubt, not dropped: a FETCH answer damaged on the way would
		 * have it appended twice; the next push looks it up and appends it
		 * if it is not there */
		log_error("push %s -> %s: folder \"%s\": the target said it stored UID %" PRIu32 " as its UID %" PRIu32
			  " but does not have it; the next push looks for it and appends it again if it is not there",
			  f->r->src->name, f->r->dst->name, f->name, e->src_uid, e->tgt_uid);
		/* the UID kept (an "a" line): the next push asks for it first, and
		 * a target that rewrites what it stores does not get it twice when
		 * only the answer was lost */
		e->pending = 1;
		push_bytes_back(f, push_pending_size(e));
		lost++;
	}
	if (lost) {
		f->failed += lost;
		f->appended -= lost < f->appended ? lost : f->appended;
		snprintf(err, errlen, "%zu messages appended are not on the target", lost);
		rc = IMAP_ERR_NO;
	}
out:
	f->n_stored = 0;
	uid_answers_free(&a);
	return rc;
}
