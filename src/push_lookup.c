/* Push runner, the target side of one folder: look messages up on the
 * target (by Message-ID, size and header digest) so that nothing is appended
 * twice. Asking the target back for the UIDs it gave is
 * src/push_appenduid.c's, the appends src/push_target.c's, flag updates and
 * deletions src/push_update.c's; the folder itself is src/push_folder.c's
 * (its target folder) and src/push_mirror.c's (mirror scan, push state). */
#include "push_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailkeep/log.h"
#include "mailkeep/maildir.h"

#define SEARCH_WINDOW 64                  /* UID SEARCH commands in flight */
#define BULK_LOOKUP 256                   /* more lookups than this: fetch every candidate */

/* A source message's identity on the wire. */
struct msg_key {
	uint64_t size;
	uint64_t min_size;   /* its size with each CRLF stored as LF, or a bound below that */
	uint64_t max_size;   /* size + 2 without a final CRLF (Courier-IMAP adds one), else size;
			      * size + 2 for a key read back (key_parse) */
	int64_t date;
	unsigned char digest[PUSH_DIGEST_LEN];
	char message_id[256];
};

/* ---- small helpers ---- */

int push_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* Sort and drop repeats. */
size_t push_uniq_u32(uint32_t *v, size_t n)
{
	size_t o = 0;
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), push_cmp_u32);
	for (size_t i = 0; i < n; i++)
		if (!o || v[o - 1] != v[i])
			v[o++] = v[i];
	return o;
}

int push_contains_u32(const uint32_t *v, size_t n, uint32_t x)
{
	return bsearch(&x, v, n, sizeof(*v), push_cmp_u32) != NULL;
}

/* Whether candidate C may be one of the messages looked up (OK[k]) with its
 * RFC822.SIZE damaged on the way: its header is one's, its size is not that
 * one's (the size of another message looked up is no excuse: sizes swapped
 * would match none of them). Other messages the size range of a search
 * returns are not. */
static int size_suspect(const struct msg_key *keys, const uint8_t *ok, size_t n, const struct push_candidate *c)
{
	int same_header = 0;
	for (size_t k = 0; k < n; k++) {
		if (!ok[k] || memcmp(keys[k].digest, c->digest, PUSH_DIGEST_LEN))
			continue;
		if (keys[k].size == c->size || keys[k].max_size == c->size)
			return 0;
		same_header = 1;
	}
	return same_header;
}

/* The key of a message to look up on the target; its size with every CRLF
 * counted once is where a search by size starts. */
static void message_key(const struct push_msg *m, struct msg_key *k)
{
	k->size = m->len;
	k->max_size = m->ends_crlf ? m->len : m->len + 2;
	k->min_size = m->len - m->lf;
	k->date = m->date;
	memcpy(k->digest, m->digest, PUSH_DIGEST_LEN);
	snprintf(k->message_id, sizeof(k->message_id), "%s", m->message_id);
}

/* A pending entry's key as text: "<size> <date> <digest hex>[ <message-id>]". */
static char *key_text(const struct msg_key *k)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "%" PRIu64 " %" PRId64 " ", k->size, k->date);
	for (size_t i = 0; i < PUSH_DIGEST_LEN; i++)
		buf_addf(&b, "%02x", k->digest[i]);
	if (k->message_id[0] && !strpbrk(k->message_id, "\r\n"))
		buf_addf(&b, " %s", k->message_id);
	return buf_detach(&b);
}

char *push_pending_key(const struct push_msg *m)
{
	struct msg_key k;
	message_key(m, &k);
	return key_text(&k);
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The key back from key_text(); -1 when it is not one. */
static int key_parse(const char *s, struct msg_key *k)
{
	char *end;
	memset(k, 0, sizeof(*k));
	if (*s < '0' || *s > '9')
		return -1;
	k->size = strtoull(s, &end, 10);
	if (*end != ' ')
		return -1;
	/* the text does not say whether the message ended with a CRLF: a
	 * target that adds the one it lacked (Courier-IMAP) holds it 2 more */
	k->min_size = k->size / 2; /* a CRLF is two of them */
	k->max_size = k->size + 2;
	s = end + 1;
	k->date = strtoll(s, &end, 10);
	if (end == s || *end != ' ')
		return -1;
	s = end + 1;
	for (size_t i = 0; i < PUSH_DIGEST_LEN; i++) {
		int hi = hexval(s[2 * i]), lo = hi < 0 ? -1 : hexval(s[2 * i + 1]);
		if (lo < 0)
			return -1;
		k->digest[i] = (unsigned char)(hi << 4 | lo);
	}
	s += 2 * PUSH_DIGEST_LEN;
	if (*s == ' ' && strlen(s + 1) < sizeof(k->message_id))
		memcpy(k->message_id, s + 1, strlen(s + 1) + 1);
	else if (*s)
		return -1;
	return 0;
}

/* The size on the wire in a pending entry's key; 0 without one. */
uint64_t push_pending_size(const struct push_entry *e)
{
	struct msg_key k;
	return e->pkey && key_parse(e->pkey, &k) == 0 ? k.size : 0;
}

/* ---- looking messages up on the target ---- */

struct lookup {
	struct folder_run *f;
	uint32_t *uids;            /* candidate target UIDs */
	size_t n_uids, cap_uids;
	uint8_t *got;              /* parallel to uids: its FETCH arrived */
	struct push_candidate *cand;
	size_t n_cand, cap_cand;
};

static int on_candidate_uid(void *ctx, uint32_t uid)
{
	struct lookup *l = ctx;
	if (l->n_uids == l->cap_uids) {
		l->cap_uids = l->cap_uids ? l->cap_uids * 2 : 64;
		l->uids = xrealloc(l->uids, l->cap_uids * sizeof(*l->uids));
	}
	l->uids[l->n_uids++] = uid;
	return 0;
}

/* A new candidate, zeroed, at the end of L->cand. */
static struct push_candidate *cand_add(struct lookup *l)
{
	if (l->n_cand == l->cap_cand) {
		l->cap_cand = l->cap_cand ? l->cap_cand * 2 : 64;
		l->cand = xrealloc(l->cand, l->cap_cand * sizeof(*l->cand));
	}
	struct push_candidate *c = &l->cand[l->n_cand++];
	memset(c, 0, sizeof(*c));
	return c;
}

static int on_candidate(void *ctx, const struct imap_header_msg *m, char *err, size_t errlen)
{
	struct lookup *l = ctx;
	struct buf kw = BUF_INIT;
	/* only what was asked for, once (l->uids is sorted by then) */
	const uint32_t *at = m->header ? bsearch(&m->uid, l->uids, l->n_uids, sizeof(*l->uids), push_cmp_u32) : NULL;
	if (!at || l->got[at - l->uids])
		return 0;
	l->got[at - l->uids] = 1;
	struct push_candidate *c = cand_add(l);
	c->uid = m->uid;
	c->size = m->size;
	c->date = m->internaldate;
	c->flags = m->flags;
	push_header_digest(m->header, m->header_len, c->digest);
	push_keywords_normalise(m->keywords, NULL, &kw);
	c->keywords = buf_detach(&kw);
	return 0;
}

static void lookup_free(struct lookup *l)
{
	for (size_t i = 0; i < l->n_cand; i++)
		free(l->cand[i].keywords);
	free(l->cand);
	free(l->uids);
	free(l->got);
}

/* Target UIDs that entries of present source messages already stand for. */

static size_t claimed_uids(const struct folder_run *f, uint32_t **out)
{
	size_t n = 0, n_uv = 0;
	uint32_t *uvs = xcalloc(f->n_src + 1, sizeof(*uvs));
	*out = xcalloc(f->n_src + f->st.n + 1, sizeof(**out));
	for (size_t i = 0; i < f->n_src; i++) {
		const struct push_entry *e = push_state_find(&f->st, f->src[i].uv, f->src[i].uid);
		if (e && !e->pending && e->tgt_uid)
			(*out)[n++] = e->tgt_uid;
		uvs[n_uv++] = f->src[i].uv;
	}
	/* An entry whose message left the mirror folder under its current
	 * UIDVALIDITY (moved away, maybe back under a new UID) still stands for
	 * its target copy, which --delete removes: a message found must not take
	 * it over, else a copy appended for it would be left on the target twice.
	 * Only the entries of a former UIDVALIDITY (the source folder renumbered:
	 * every message has a new UID) give their copies to the messages found. */
	n_uv = push_uniq_u32(uvs, n_uv);
	for (size_t k = 0; k < f->st.n; k++) {
		const struct push_entry *e = &f->st.e[k];
		if (!e->pending && e->tgt_uid && e->src_uid && push_contains_u32(uvs, n_uv, e->src_uv) &&
		    !push_find_src(f, e->src_uv, e->src_uid))
			(*out)[n++] = e->tgt_uid;
	}
	free(uvs);
	return push_uniq_u32(*out, n);
}

/* The outcome R (error text WERR) of one of several pipelined commands, kept
 * in *RC: after a refusal the others in flight are still read to their ends,
 * so the connection stays in step, and the first refusal is reported; a lost
 * connection ends it all. 1 when nothing more can be read. */
int push_pipelined_outcome(int r, int *rc, const char *werr, char *err, size_t errlen)
{
	if (r < 0 && (*rc == 0 || imap_connection_lost(r))) {
		snprintf(err, errlen, "%s", werr);
		*rc = r;
	}
	return imap_connection_lost(r);
}

/* The target UIDs found by push_check_hints() (FOUND[0..n)) added to the sorted
 * CLAIMED[0..n_claimed): they are their entries' now, a search for another
 * message (an identical one, not appended yet) must not take them. The new count. */
static size_t claim_hints(uint32_t **claimed, size_t n_claimed, const struct push_candidate *found, size_t n)
{
	*claimed = xrealloc(*claimed, (n_claimed + n + 1) * sizeof(**claimed));
	for (size_t k = 0; k < n; k++)
		if (found[k].uid)
			(*claimed)[n_claimed++] = found[k].uid;
	return push_uniq_u32(*claimed, n_claimed);
}

/* Candidates for the messages KEYS[k] (those with OK[k]) into L->uids: by
 * one SEARCH ALL when there are many, else one SEARCH by size and Message-ID
 * each, SEARCH_WINDOW in flight. 0, or an IMAP_ERR_* code with err. */
static int search_candidates(struct folder_run *f, const struct msg_key *keys, const uint8_t *ok, size_t n,
			     struct lookup *l, char *err, size_t errlen)
{
	unsigned tags[SEARCH_WINDOW];
	int rc = 0;
	unsigned searches = 0, seen0 = imap_search_seen(f->r->imap);
	/* many to look up (a first push into a folder that has mail): every message
	 * of the folder is a candidate, one SEARCH instead of one per message */
	if (n > BULK_LOOKUP) {
		rc = imap_uid_search_all(f->r->imap, on_candidate_uid, l, err, errlen);
		if (rc < 0)
			goto out;
		searches++;
	}
	size_t head = 0, tail = 0, next = n > BULK_LOOKUP ? n : 0;
	while (next < n || head < tail) {
		if (next < n && tail - head < SEARCH_WINDOW) {
			if (!ok[next]) {
				next++;
				continue;
			}
			/* from its size with CRLF stored as LF: Courier-IMAP's SEARCH
			 * compares that, not the RFC822.SIZE it gives in FETCH */
			rc = imap_uid_search_message_send(f->r->imap, keys[next].message_id[0] ? keys[next].message_id : NULL,
							  keys[next].min_size, keys[next].max_size, &tags[tail % SEARCH_WINDOW],
							  err, errlen);
			if (rc < 0)
				goto out;
			tail++;
			next++;
			searches++;
			continue;
		}
		char werr[512];
		int r = imap_uid_search_wait(f->r->imap, tags[head % SEARCH_WINDOW], on_candidate_uid, l, werr,
					     sizeof(werr));
		head++;
		if (push_pipelined_outcome(r, &rc, werr, err, errlen))
			goto out;
		if (rc < 0)
			next = n;
	}
	if (rc < 0)
		goto out;
	/* a SEARCH answered without its untagged SEARCH response (lost or damaged
	 * on the way) would read as "not on the target": a duplicate appended */
	if (imap_search_seen(f->r->imap) - seen0 < searches) {
		snprintf(err, errlen, "the target answered %u of %u searches without a SEARCH response",
			 searches - (imap_search_seen(f->r->imap) - seen0), searches);
		rc = IMAP_ERR_NO;
		goto out;
	}
out:
	return rc;
}

/* The headers of L's candidates (L->uids, made distinct, those in CLAIMED
 * dropped) fetched into L->cand (owned by L); every one must come back.
 * 0, or an IMAP_ERR_* code with err. */
static int fetch_candidates(struct folder_run *f, const uint32_t *claimed, size_t n_claimed, struct lookup *l,
			    char *err, size_t errlen)
{
	struct buf set = BUF_INIT;
	int rc = 0;
	/* candidates that no present message claims: fetch their headers */
	size_t o = 0;
	l->n_uids = push_uniq_u32(l->uids, l->n_uids);
	for (size_t i = 0; i < l->n_uids; i++)
		if (!push_contains_u32(claimed, n_claimed, l->uids[i]))
			l->uids[o++] = l->uids[i];
	l->n_uids = o;
	l->got = xcalloc(l->n_uids + 1, 1);
	for (size_t i = 0; i < l->n_uids; i += UIDSET_MAX) {
		size_t m = l->n_uids - i < UIDSET_MAX ? l->n_uids - i : UIDSET_MAX;
		buf_reset(&set);
		imap_uidset(&set, l->uids + i, m);
		rc = imap_uid_fetch_headers(f->r->imap, set.data, on_candidate, l, err, errlen);
		if (rc < 0)
			goto out;
	}
	/* a candidate whose header did not come back (a response lost or damaged
	 * on the way, or expunged meanwhile) may be one of the messages looked
	 * for: taking that message for absent would append a duplicate */
	size_t lost = 0;
	for (size_t i = 0; i < l->n_uids; i++)
		lost += !l->got[i];
	if (lost) {
		snprintf(err, errlen, "the target returned no header for %zu of %zu candidate messages",
			 lost, l->n_uids);
		rc = IMAP_ERR_NO;
		goto out;
	}
out:
	buf_free(&set);
	return rc;
}

/* Search the target for the messages KEYS[k] (those with OK[k]): candidates
 * by size and Message-ID, then their headers fetched and compared, target UIDs
 * in CLAIMED left out. MATCH[k]: the index of its candidate in L->cand, or -1. */
static int find_on_target(struct folder_run *f, const struct msg_key *keys, const uint8_t *ok, size_t n,
			  const uint32_t *claimed, size_t n_claimed, struct lookup *l, ssize_t *match,
			  char *err, size_t errlen)
{
	int rc = 0;
	for (size_t k = 0; k < n; k++)
		match[k] = -1;
	/* an empty folder (or one not there yet) holds none of them */
	if (!f->exists_on_target || !f->info.exists)
		goto out;
	rc = search_candidates(f, keys, ok, n, l, err, errlen);
	if (rc < 0)
		goto out;
	rc = fetch_candidates(f, claimed, n_claimed, l, err, errlen);
	if (rc < 0)
		goto out;
	/* a candidate with the header of a message looked up but the size of
	 * none (its RFC822.SIZE damaged on the way) would match none of them:
	 * that message taken for absent and appended a second time */
	size_t odd = 0;
	for (size_t c = 0; n <= BULK_LOOKUP && c < l->n_cand; c++)
		odd += size_suspect(keys, ok, n, &l->cand[c]);
	if (odd) {
		snprintf(err, errlen, "the target returned the header of a message looked for with another size "
			 "(%zu of %zu candidate messages)", odd, l->n_cand);
		rc = IMAP_ERR_NO;
		goto out;
	}
	push_candidates_sort(l->cand, l->n_cand);
	for (size_t k = 0; k < n; k++) {
		if (!ok[k])
			continue;
		match[k] = push_match_sorted(l->cand, l->n_cand, keys[k].size, keys[k].digest, keys[k].date);
		/* stored with the final CRLF it lacked (Courier-IMAP) */
		if (match[k] < 0 && keys[k].max_size != keys[k].size)
			match[k] = push_match_sorted(l->cand, l->n_cand, keys[k].max_size, keys[k].digest,
						     keys[k].date);
		if (match[k] >= 0)
			l->cand[match[k]].taken = 1;
	}
out:
	return rc;
}

/* Source messages idx[0..n) opened for their keys (KEYS[k], OK[k] set;
 * SEARCH[k] when not found under a hint's UID, HINT[k]); one whose file is
 * gone is warned about and counted skipped, one that cannot be read counted
 * failed, unless LEARNING. */
static void lookup_keys(struct folder_run *f, const size_t *idx, size_t n, int learning,
			const struct push_candidate *hint, struct msg_key *keys, uint8_t *ok, uint8_t *search,
			ssize_t *match)
{
	struct push_msg msg = PUSH_MSG_INIT;
	char rerr[512];

	for (size_t k = 0; k < n; k++) {
		int r = push_open_message(f, idx[k], 0, &msg, rerr, sizeof(rerr));
		match[k] = -1;
		if (r != 0 && learning) {
			/* sent already (counted where its answer came): its entry
			 * stays in doubt, looked up by the next push */
			log_warn("push %s -> %s: folder \"%s\": UID %" PRIu32 ": %s; left in doubt, looked for on "
				 "the target by the next push", f->r->src->name, f->r->dst->name, f->name,
				 f->src[idx[k]].uid, rerr);
			continue;
		}
		if (r > 0) {
			log_warn("push %s -> %s: folder \"%s\": UID %" PRIu32 ": %s; skipped", f->r->src->name,
				 f->r->dst->name, f->name, f->src[idx[k]].uid, rerr);
			f->skipped++;
			continue;
		}
		if (r < 0) { /* unreadable: not pushed, the run is partial */
			log_error("push %s -> %s: folder \"%s\": UID %" PRIu32 ": %s; not pushed", f->r->src->name,
				  f->r->dst->name, f->name, f->src[idx[k]].uid, rerr);
			f->failed++;
			continue;
		}
		message_key(&msg, &keys[k]);
		ok[k] = 1;
		search[k] = !hint[k].uid;
	}
	push_msg_free(&msg);
}

/* Entries not pending whose target UID is one L matched (taken) lose their
 * source UID (push_state_compact drops them). */
static void release_orphans(struct folder_run *f, struct lookup *l)
{
	/* a matched target message that an orphan entry stood for now belongs to
	 * the source message found (renumbered source folder) */
	uint32_t *taken = xcalloc(l->n_cand + 1, sizeof(*taken));
	size_t n_taken = 0;
	for (size_t c = 0; c < l->n_cand; c++)
		if (l->cand[c].taken)
			taken[n_taken++] = l->cand[c].uid;
	n_taken = push_uniq_u32(taken, n_taken);
	for (size_t j = 0; j < f->st.n; j++) {
		struct push_entry *e = &f->st.e[j];
		if (e->tgt_uid && !e->pending && push_contains_u32(taken, n_taken, e->tgt_uid))
			e->src_uid = 0;
	}
	free(taken);
	push_state_compact(&f->st);
}

/* The lookup's outcome in the state: the messages not found go to MISSING,
 * those found (MATCH[k], a candidate of L) get an entry with the target's
 * flags, and go to UPDATE when those differ from the mirror's. */
static void record_outcomes(struct folder_run *f, const size_t *idx, size_t n, int learning, const uint8_t *ok,
			    const ssize_t *match, const struct lookup *l, size_t *missing, size_t *n_missing,
			    size_t *update, size_t *n_update)
{
	struct buf kw = BUF_INIT;

	/* not read (unreadable, or renamed away meanwhile): in doubt, as it may
	 * be on the target already (the state was lost, the source renumbered);
	 * looked up again by the next push, never appended blind */
	for (size_t k = 0; k < n && !learning; k++) {
		const struct push_src *s = &f->src[idx[k]];
		if (!ok[k] && !push_state_find(&f->st, s->uv, s->uid))
			push_state_put(&f->st, s->uv, s->uid)->pending = 1;
	}
	/* not there: appended afresh (the state must stay sorted: remove, then put) */
	for (size_t k = 0; k < n; k++) {
		const struct push_src *s = &f->src[idx[k]];
		if (!ok[k] || match[k] >= 0)
			continue;
		push_state_remove(&f->st, s->uv, s->uid);
		missing[(*n_missing)++] = idx[k];
	}
	for (size_t k = 0; k < n; k++) {
		const struct push_src *s = &f->src[idx[k]];
		if (!ok[k] || match[k] < 0)
			continue;
		const struct push_candidate *c = &l->cand[match[k]];
		struct push_entry *e = push_state_put(&f->st, s->uv, s->uid);
		push_entry_settle(e);
		e->tgt_uid = c->uid;
		e->flags = (uint8_t)(c->flags & MFLAG_ALL);
		push_keywords_normalise(c->keywords, push_allowed_keywords(f), &kw);
		push_entry_set_keywords(&f->st, e, kw.data);
		if (!learning)
			f->found++;
		if (e->flags != s->flags || strcmp(kw.data, s->keywords))
			update[(*n_update)++] = idx[k];
	}
	push_state_compact(&f->st);
	buf_free(&kw);
}

/* Search the target for each source message idx[0..n): candidates by size
 * (and Message-ID), then their header digests and dates compared. Messages
 * found get a state entry with the target's flags (and go to *update when
 * those differ from the mirror's); the others go to *missing. */
int push_lookup_messages(struct folder_run *f, const size_t *idx, size_t n, int learning,
			 size_t *missing, size_t *n_missing, size_t *update, size_t *n_update,
			 char *err, size_t errlen)
{
	struct lookup l = { .f = f };
	struct msg_key *keys = xcalloc(n + 1, sizeof(*keys));
	uint8_t *ok = xcalloc(n + 1, 1);
	ssize_t *match = xcalloc(n + 1, sizeof(*match));
	uint32_t *claimed = NULL;
	size_t n_claimed = claimed_uids(f, &claimed);
	struct push_entry **ent = xcalloc(n + 1, sizeof(*ent));
	struct push_candidate *hint = xcalloc(n + 1, sizeof(*hint));
	uint8_t *search = xcalloc(n + 1, 1);
	int rc = 0;

	for (size_t k = 0; k < n; k++)
		ent[k] = push_state_find(&f->st, f->src[idx[k]].uv, f->src[idx[k]].uid);
	rc = push_check_hints(f, ent, n, claimed, n_claimed, hint, err, errlen);
	if (rc < 0)
		goto out;
	n_claimed = claim_hints(&claimed, n_claimed, hint, n);
	lookup_keys(f, idx, n, learning, hint, keys, ok, search, match);
	rc = find_on_target(f, keys, search, n, claimed, n_claimed, &l, match, err, errlen);
	if (rc < 0)
		goto out;
	/* those found under the UID an earlier APPENDUID gave them join the candidates */
	for (size_t k = 0; k < n; k++) {
		if (!ok[k] || !hint[k].uid)
			continue;
		struct push_candidate *c = cand_add(&l);
		*c = hint[k];
		c->taken = 1;
		hint[k].keywords = NULL;
		match[k] = (ssize_t)(l.n_cand - 1);
	}
	if (l.n_cand)
		release_orphans(f, &l);
	record_outcomes(f, idx, n, learning, ok, match, &l, missing, n_missing, update, n_update);
out:
	lookup_free(&l);
	for (size_t k = 0; k < n; k++)
		free(hint[k].keywords);
	free(hint);
	free(ent);
	free(search);
	free(keys);
	free(ok);
	free(match);
	free(claimed);
	return rc;
}

/* ---- messages in doubt whose source is gone ---- */

/* Whether the mirror folder has the source message (uv, uid). */
int push_find_src(const struct folder_run *f, uint32_t uv, uint32_t uid)
{
	size_t lo = 0, hi = f->n_src;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct push_src *s = &f->src[mid];
		if (s->uv < uv || (s->uv == uv && s->uid < uid))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < f->n_src && f->src[lo].uv == uv && f->src[lo].uid == uid;
}


/* Pending entries whose source message is gone (a run killed after its
 * APPEND, the message expunged before this run): is the message on the
 * target? Found: the entry becomes an ordinary one for that target UID (an
 * orphan that --delete removes, now or later). Not found, or with no key to
 * look for: dropped. */
int push_resolve_gone_pending(struct folder_run *f, char *err, size_t errlen)
{
	size_t n = 0, n_claimed = 0;
	int rc = 0;
	for (size_t k = 0; k < f->st.n; k++) {
		struct push_entry *e = &f->st.e[k];
		if (e->pending && !push_find_src(f, e->src_uv, e->src_uid))
			n++;
	}
	if (!n)
		return 0;
	struct push_entry **ent = xcalloc(n + 1, sizeof(*ent));
	struct msg_key *keys = xcalloc(n + 1, sizeof(*keys));
	uint8_t *ok = xcalloc(n + 1, 1);
	ssize_t *match = xcalloc(n + 1, sizeof(*match));
	uint32_t *claimed = xcalloc(f->st.n + 1, sizeof(*claimed));
	struct push_candidate *hint = xcalloc(n + 1, sizeof(*hint));
	struct lookup l = { .f = f };
	struct buf kw = BUF_INIT;
	n = 0;
	for (size_t k = 0; k < f->st.n; k++) {
		struct push_entry *e = &f->st.e[k];
		if (!e->pending && e->tgt_uid)
			claimed[n_claimed++] = e->tgt_uid;
		if (!e->pending || push_find_src(f, e->src_uv, e->src_uid))
			continue;
		ok[n] = e->pkey && key_parse(e->pkey, &keys[n]) == 0;
		ent[n++] = e;
	}
	n_claimed = push_uniq_u32(claimed, n_claimed);
	if (!f->r->opt->dry_run)
		rc = push_check_hints(f, ent, n, claimed, n_claimed, hint, err, errlen);
	n_claimed = claim_hints(&claimed, n_claimed, hint, n);
	for (size_t k = 0; k < n; k++)
		ok[k] = ok[k] && !hint[k].uid;
	if (!f->r->opt->dry_run && rc == 0)
		rc = find_on_target(f, keys, ok, n, claimed, n_claimed, &l, match, err, errlen);
	for (size_t k = 0; rc == 0 && k < n; k++) {
		struct push_entry *e = ent[k];
		if (f->r->opt->dry_run || (match[k] < 0 && !hint[k].uid)) {
			e->src_uid = 0;
			continue;
		}
		const struct push_candidate *c = hint[k].uid ? &hint[k] : &l.cand[match[k]];
		push_entry_settle(e);
		e->tgt_uid = c->uid;
		e->flags = (uint8_t)(c->flags & MFLAG_ALL);
		push_keywords_normalise(c->keywords, push_allowed_keywords(f), &kw);
		push_entry_set_keywords(&f->st, e, kw.data);
		log_info("push %s -> %s: folder \"%s\": target UID %" PRIu32 " was appended by an interrupted "
			 "run for a message the source no longer has", f->r->src->name, f->r->dst->name, f->name,
			 c->uid);
	}
	lookup_free(&l);
	for (size_t k = 0; k < n; k++)
		free(hint[k].keywords);
	free(hint);
	buf_free(&kw);
	free(ent);
	free(keys);
	free(ok);
	free(match);
	free(claimed);
	return rc;
}
