/* Push runner, the target side of one folder, the copies already there: UID
 * STORE the flags the mirror changed since the last push (changes made on the
 * target meanwhile kept) and, with --delete, remove the copies of messages the
 * mirror no longer has. The appends are src/push_target.c's, looking messages
 * up on the target src/push_lookup.c's. */
#include "push_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailkeep/log.h"

/* ---- flags ---- */

struct flag_change {
	char *add, *remove;
	char *keywords;  /* what the target copy has once both are done */
	uint32_t uid;
	size_t src;
};

static int cmp_change(const void *a, const void *b)
{
	const struct flag_change *x = a, *y = b;
	int c = strcmp(x->add, y->add);
	if (!c)
		c = strcmp(x->remove, y->remove);
	return c ? c : (x->uid > y->uid) - (x->uid < y->uid);
}

/* Send the STOREs of changes[from..to) (same add/remove), up to UIDSET_MAX UIDs each. */
static int send_stores(struct folder_run *f, const struct flag_change *ch, size_t from, size_t to,
		       unsigned *tags, size_t *n_tags, char *err, size_t errlen)
{
	struct buf set = BUF_INIT;
	uint32_t *uids = xcalloc(UIDSET_MAX, sizeof(*uids));
	int rc = 0;
	for (size_t i = from; i < to && rc == 0; i += UIDSET_MAX) {
		size_t m = to - i < UIDSET_MAX ? to - i : UIDSET_MAX;
		for (size_t k = 0; k < m; k++)
			uids[k] = ch[i + k].uid;
		buf_reset(&set);
		imap_uidset(&set, uids, m);
		if (*ch[from].add && rc == 0)
			rc = imap_uid_store_send(f->r->imap, set.data, "+FLAGS.SILENT", ch[from].add,
						 &tags[(*n_tags)++], err, errlen);
		if (*ch[from].remove && rc == 0)
			rc = imap_uid_store_send(f->r->imap, set.data, "-FLAGS.SILENT", ch[from].remove,
						 &tags[(*n_tags)++], err, errlen);
	}
	free(uids);
	buf_free(&set);
	return rc;
}

/* The keywords the target copy of S (its entry E) is to have, into OUT: the
 * mirror's. In a folder whose sync state is capped (state.h), and for a
 * message without a line in it, also those the copy has: the state may lack
 * keywords the source server gives (or gave) the message, and the mirror's
 * missing keyword is no removal on the source. */
static void wanted_keywords(const struct folder_run *f, const struct push_entry *e, const struct push_src *s,
			    struct buf *out)
{
	push_keywords_apply(f->keywords_capped || s->keywords_unknown ? e->keywords : NULL, s->keywords, 1, 0, out);
}

/* The flag changes of the source messages idx[0..n) whose target copy is
 * known into CH (each string CH's); --dry-run -v prints them. The number of
 * changes. */
static size_t flag_changes(struct folder_run *f, const size_t *idx, size_t n, struct flag_change *ch)
{
	struct buf add = BUF_INIT, rem = BUF_INIT, kw = BUF_INIT;
	size_t nc = 0;
	for (size_t k = 0; k < n; k++) {
		const struct push_src *s = &f->src[idx[k]];
		const struct push_entry *e = push_state_find(&f->st, s->uv, s->uid);
		if (!e || e->pending || !e->tgt_uid)
			continue;
		wanted_keywords(f, e, s, &kw);
		push_flags_delta(e->flags, e->keywords, s->flags, kw.data, &add, &rem);
		if (!add.len && !rem.len)
			continue;
		if (f->r->opt->dry_run && f->r->opt->verbose)
			fprintf(f->r->out, "  flags UID %" PRIu32 ": +(%s) -(%s)\n", s->uid, add.data, rem.data);
		ch[nc++] = (struct flag_change){ xstrdup(add.data), xstrdup(rem.data), xstrdup(kw.data), e->tgt_uid,
						 idx[k] };
	}
	buf_free(&add);
	buf_free(&rem);
	buf_free(&kw);
	return nc;
}

/* After a UID STORE OP (+FLAGS.SILENT or -FLAGS.SILENT) of FLAGS on the UIDs
 * of CH[from..to) was refused: when FLAGS holds keywords, each keyword is
 * sent alone and the system flags together, so a keyword the target cannot
 * take (Dovecot refuses one over 50 bytes) does not keep the others, nor the
 * message's system flags, from it on every push. The keywords refused go to
 * DROPPED. *DONE is 1 when FLAGS held a keyword and every command was
 * taken or refused for good (push_keyword_refusal), the system flags taken.
 * 0, or a connection error with err. */
static int store_alone(struct folder_run *f, const struct flag_change *ch, size_t from, size_t to, const char *op,
		       const char *flags, struct buf *dropped, int *done, char *err, size_t errlen)
{
	struct buf set = BUF_INIT, sys = BUF_INIT, one = BUF_INIT;
	uint32_t *uids = xcalloc(to - from + 1, sizeof(*uids));
	int rc = 0, kw = 0, lasting = 1;
	*done = 0;
	for (size_t k = from; k < to; k++)
		uids[k - from] = ch[k].uid;
	imap_uidset(&set, uids, to - from);
	for (const char *p = flags; *p && rc == 0;) {
		size_t len = strcspn(p, " ");
		if (*p == '\\') {
			buf_addf(&sys, "%s%.*s", sys.len ? " " : "", (int)len, p);
		} else if (len) {
			unsigned tag;
			char serr[512];
			kw = 1;
			buf_reset(&one);
			buf_addf(&one, "%.*s", (int)len, p);
			if ((rc = imap_uid_store_send(f->r->imap, set.data, op, one.data, &tag, err, errlen)) < 0)
				break;
			rc = imap_command_wait(f->r->imap, tag, "UID STORE", serr, sizeof(serr));
			if (rc == IMAP_ERR_NO && !push_keyword_refusal(serr)) {
				lasting = 0; /* tried again by the next push */
				rc = 0;
			} else if (rc == IMAP_ERR_NO) {
				buf_addf(dropped, "%s%s (%s)", dropped->len ? ", " : "", one.data, serr);
				rc = 0;
			} else if (rc < 0) {
				snprintf(err, errlen, "%s", serr);
			}
		}
		p += len;
		p += *p == ' ';
	}
	if (rc == 0 && kw && sys.len) {
		unsigned tag;
		char serr[512];
		rc = imap_uid_store_send(f->r->imap, set.data, op, sys.data, &tag, err, errlen);
		if (rc == 0) {
			rc = imap_command_wait(f->r->imap, tag, "UID STORE", serr, sizeof(serr));
			if (rc < 0 && rc != IMAP_ERR_NO)
				snprintf(err, errlen, "%s", serr);
			*done = rc == 0 && lasting;
			rc = rc == IMAP_ERR_NO ? 0 : rc;
		}
	} else if (rc == 0) {
		*done = kw && lasting;
	}
	free(uids);
	buf_free(&set);
	buf_free(&sys);
	buf_free(&one);
	return rc;
}

#define NAMED_MAX 10 /* messages a warning names by UID, the rest counted */

/* "message UID 3", or "messages UID 3, 5, 9" (at most NAMED_MAX, then
 * "and N others"): the source messages of the changes CH[from..to). */
static void name_messages(const struct folder_run *f, const struct flag_change *ch, size_t from, size_t to,
			  struct buf *out)
{
	buf_adds(out, to - from > 1 ? "messages UID " : "message UID ");
	for (size_t k = from; k < to && k - from < NAMED_MAX; k++)
		buf_addf(out, "%s%" PRIu32, k > from ? ", " : "", f->src[ch[k].src].uid);
	if (to - from > NAMED_MAX)
		buf_addf(out, " and %zu others", to - from - NAMED_MAX);
}

/* The STOREs of the sorted changes CH[*next..nc) sent, a window of groups in
 * flight, and answered; *NEXT moves past those sent. Entries of changes the
 * target made take the mirror's flags; those of a refused STORE count as
 * failed (the other STOREs in flight were done: left with their old flags,
 * their entries would have them sent again by the next push, undoing what was
 * changed on the target meanwhile). 0, or an IMAP_ERR_* code with err. */
static int store_window(struct folder_run *f, const struct flag_change *ch, size_t nc, size_t *next, char *err,
			size_t errlen)
{
	/* a window of groups in flight, then their answers; tag t is for the
	 * changes ch[from[t]..to[t]) */
	unsigned tags[STORE_WINDOW * 2 + 2];
	size_t from[STORE_WINDOW * 2 + 2], to[STORE_WINDOW * 2 + 2];
	uint8_t no[STORE_WINDOW * 2 + 2] = { 0 };
	size_t i = *next, n_tags = 0, start = i;
	char (*serrs)[512] = xcalloc(STORE_WINDOW * 2 + 2, sizeof(*serrs));
	int rc = 0;
	while (i < nc && n_tags + 2 <= STORE_WINDOW * 2 && rc == 0) {
		size_t j = i, t0 = n_tags;
		while (j < nc && j - i < UIDSET_MAX && !strcmp(ch[j].add, ch[i].add) &&
		       !strcmp(ch[j].remove, ch[i].remove))
			j++;
		rc = send_stores(f, ch, i, j, tags, &n_tags, err, errlen);
		for (size_t t = t0; t < n_tags; t++) {
			from[t] = i;
			to[t] = j;
			no[t] = t == t0 && *ch[i].add ? '+' : '-';
		}
		i = j;
	}
	*next = i;
	uint8_t *refused = xcalloc(i - start + 1, 1);
	for (size_t t = 0; t < n_tags && !imap_connection_lost(rc); t++) {
		char serr[512];
		int r = imap_command_wait(f->r->imap, tags[t], "UID STORE", serr, sizeof(serr));
		if (r == IMAP_ERR_NO) {
			snprintf(serrs[t], sizeof(serrs[t]), "%s", serr);
		} else if (r < 0) {
			snprintf(err, errlen, "%s", serr);
			rc = r;
		}
		no[t] = r == IMAP_ERR_NO ? no[t] : 0;
	}
	/* the refused ones, every answer read: refused for their keywords,
	 * their keywords sent one by one */
	for (size_t t = 0; t < n_tags && rc == 0; t++) {
		if (!no[t])
			continue;
		const char *fl = no[t] == '+' ? ch[from[t]].add : ch[from[t]].remove;
		struct buf dropped = BUF_INIT;
		int done = 0;
		if (push_keyword_refusal(serrs[t]))
			rc = store_alone(f, ch, from[t], to[t], no[t] == '+' ? "+FLAGS.SILENT" : "-FLAGS.SILENT",
					 fl, &dropped, &done, err, errlen);
		if (rc == 0 && !done) {
			log_error("push %s -> %s: folder \"%s\": flags not updated: %s", f->r->src->name,
				  f->r->dst->name, f->name, serrs[t]);
			for (size_t k = from[t]; k < to[t]; k++) /* which half: +FLAGS 1, -FLAGS 2 */
				refused[k - start] |= no[t] == '+' ? 1 : 2;
		} else if (rc == 0 && dropped.len) {
			/* recorded as set: not sent again on every push */
			struct buf who = BUF_INIT;
			name_messages(f, ch, from[t], to[t], &who);
			log_warn("push %s -> %s: folder \"%s\": %s: the target refused to %s the keywords %s; flags "
				 "updated without them, not sent again", f->r->src->name, f->r->dst->name, f->name,
				 who.data, no[t] == '+' ? "set" : "remove", dropped.data);
			buf_free(&who);
		}
		buf_free(&dropped);
	}
	for (size_t k = start; rc == 0 && k < i; k++) {
		const struct push_src *s = &f->src[ch[k].src];
		struct push_entry *e = push_state_find(&f->st, s->uv, s->uid);
		unsigned half = refused[k - start];
		if (!e) {
			f->failed++;
			continue;
		}
		if (half) {
			/* the other half (what it removed, or what it added) was done:
			 * recorded, else the next push sends it again and undoes what
			 * was changed on the target meanwhile */
			struct buf kw = BUF_INIT;
			push_keywords_apply(e->keywords, ch[k].keywords, !(half & 1), !(half & 2), &kw);
			if (!(half & 1))
				e->flags |= s->flags;
			if (!(half & 2))
				e->flags &= s->flags;
			push_entry_set_keywords(&f->st, e, kw.data);
			buf_free(&kw);
			f->failed++;
			continue;
		}
		e->flags = s->flags;
		push_entry_set_keywords(&f->st, e, ch[k].keywords);
		f->updated++;
	}
	free(refused);
	free(serrs);
	return rc;
}

/* UID STORE the flag changes of the source messages idx[0..n): what was added
 * in the mirror since the last push is added on the target, what was removed is
 * removed, so changes made on the target meanwhile are kept. */
int push_update_flags(struct folder_run *f, const size_t *idx, size_t n, char *err, size_t errlen)
{
	struct flag_change *ch = xcalloc(n + 1, sizeof(*ch));
	int rc = 0;
	size_t nc = flag_changes(f, idx, n, ch);
	qsort(ch, nc, sizeof(*ch), cmp_change);
	if (f->r->opt->dry_run) {
		f->updated += nc;
		goto out;
	}
	for (size_t i = 0; i < nc && rc == 0;)
		rc = store_window(f, ch, nc, &i, err, errlen);
	if (rc == 0)
		rc = push_save_state(f, err, errlen);
out:
	for (size_t k = 0; k < nc; k++) {
		free(ch[k].add);
		free(ch[k].remove);
		free(ch[k].keywords);
	}
	free(ch);
	return rc;
}

/* ---- --delete ---- */

/* The target UIDs of entries whose source is gone into UIDS (with --delete),
 * distinct; the pending ones among those entries dropped, --dry-run -v
 * printing the deletions. The number of UIDs. */
static size_t orphan_uids(struct folder_run *f, uint32_t *uids)
{
	size_t nu = 0;
	for (size_t k = 0; k < f->st.n; k++) {
		struct push_entry *e = &f->st.e[k];
		if (push_find_src(f, e->src_uv, e->src_uid))
			continue;
		if (e->pending) {
			e->src_uid = 0;
			continue;
		}
		if (f->r->opt->delete && e->tgt_uid) {
			if (f->r->opt->dry_run && f->r->opt->verbose)
				fprintf(f->r->out, "  delete target UID %" PRIu32 " (source UID %" PRIu32 " is gone)\n",
					e->tgt_uid, e->src_uid);
			uids[nu++] = e->tgt_uid;
		}
	}
	return push_uniq_u32(uids, nu);
}

/* UIDS[0..nu) that another mirror folder's state holds moved to SHARED
 * (*N_SHARED of them); the number left in UIDS. */
static size_t split_shared(const struct folder_run *f, uint32_t *uids, size_t nu, uint32_t *shared,
			   size_t *n_shared)
{
	/* a target message that another mirror folder's state also holds (both
	 * go to this target folder) stays: that folder still has it; only our
	 * entry goes */
	uint32_t *others = NULL;
	size_t n_others = 0, o = 0;
	if (nu) {
		n_others = push_other_claims(f, &others);
		n_others = push_uniq_u32(others, n_others);
	}
	for (size_t i = 0; i < nu; i++) {
		if (n_others && push_contains_u32(others, n_others, uids[i]))
			shared[(*n_shared)++] = uids[i];
		else
			uids[o++] = uids[i];
	}
	free(others);
	return o;
}

/* UIDS[0..nu) flagged \Deleted on the target, and expunged with UIDPLUS;
 * *DONE gets how many of them were. 0, or an IMAP_ERR_* code with err. */
static int delete_uids(struct folder_run *f, const uint32_t *uids, size_t nu, size_t *done, char *err,
		       size_t errlen)
{
	struct buf set = BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < nu && rc == 0; i += UIDSET_MAX) {
		size_t m = nu - i < UIDSET_MAX ? nu - i : UIDSET_MAX;
		unsigned tag;
		buf_reset(&set);
		imap_uidset(&set, uids + i, m);
		rc = imap_uid_store_send(f->r->imap, set.data, "+FLAGS.SILENT", "\\Deleted", &tag, err, errlen);
		if (rc == 0)
			rc = imap_command_wait(f->r->imap, tag, "UID STORE", err, errlen);
		if (rc == 0 && (imap_caps(f->r->imap) & IMAP_CAP_UIDPLUS))
			rc = imap_uid_expunge(f->r->imap, set.data, err, errlen);
		if (rc == 0) {
			f->deleted += m;
			*done = i + m;
		}
	}
	if (nu && !(imap_caps(f->r->imap) & IMAP_CAP_UIDPLUS))
		log_warn("push %s -> %s: folder \"%s\": the target has no UIDPLUS: %zu messages flagged "
			 "\\Deleted but not expunged", f->r->src->name, f->r->dst->name, f->name, nu);
	buf_free(&set);
	return rc;
}

/* Delete on the target the messages whose source is gone (UID EXPUNGE needs
 * UIDPLUS; without it they are only flagged \Deleted). Without --delete only
 * entries that cannot mean a target message (pending) are dropped. */
int push_delete_orphans(struct folder_run *f, char *err, size_t errlen)
{
	uint32_t *uids = xcalloc(f->st.n + 1, sizeof(*uids));
	int rc = push_resolve_gone_pending(f, err, errlen);
	if (rc < 0) {
		free(uids);
		return rc;
	}
	size_t nu = orphan_uids(f, uids);
	uint32_t *shared = xcalloc(nu + 1, sizeof(*shared));
	size_t n_shared = 0;
	nu = split_shared(f, uids, nu, shared, &n_shared);
	size_t done = 0; /* uids[0..done) flagged (and expunged): their entries go */
	if (f->r->opt->dry_run) {
		f->deleted += nu;
		done = nu;
		goto out;
	}
	rc = delete_uids(f, uids, nu, &done, err, errlen);
out:
	/* an entry goes once its message is deleted; the others stay, whatever
	 * state is saved after a failure, for the next run to retry */
	for (size_t k = 0; k < f->st.n; k++) {
		struct push_entry *e = &f->st.e[k];
		if (!e->pending && e->src_uid && e->tgt_uid &&
		    (push_contains_u32(uids, done, e->tgt_uid) || push_contains_u32(shared, n_shared, e->tgt_uid)) &&
		    !push_find_src(f, e->src_uv, e->src_uid))
			e->src_uid = 0;
	}
	free(shared);
	push_state_compact(&f->st);
	if (rc == 0)
		rc = push_save_state(f, err, errlen);
	free(uids);
	return rc;
}
