/* Push runner, the target side of one folder: look messages up on the target
 * (so that nothing is appended twice), APPEND the new ones in batches, update
 * changed flags and, with --delete, remove what the mirror no longer has. The
 * folder itself (mirror scan, push state, target folder) is src/push.c's. */
#include "push_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailkeep/log.h"
#include "mailkeep/maildir.h"

#define BATCH_MSGS 64                     /* APPENDs per batch (and per state save) */
#define BATCH_BYTES ((size_t)16 << 20)
#define SEARCH_WINDOW 64                  /* UID SEARCH commands in flight */
#define STORE_WINDOW 16
#define PROGRESS_EVERY 1000               /* -v: a line per this many messages appended */
#define CHECK_EVERY 256                   /* APPENDUIDs checked at least every so many messages */
#define BULK_LOOKUP 256                   /* more lookups than this: fetch every candidate */
#define UIDSET_MAX 500                    /* UIDs per command */

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

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* Sort and drop repeats. */
static size_t uniq_u32(uint32_t *v, size_t n)
{
	size_t o = 0;
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u32);
	for (size_t i = 0; i < n; i++)
		if (!o || v[o - 1] != v[i])
			v[o++] = v[i];
	return o;
}

static int contains_u32(const uint32_t *v, size_t n, uint32_t x)
{
	return bsearch(&x, v, n, sizeof(*v), cmp_u32) != NULL;
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

static void message_key(const char *msg, size_t len, int64_t date, struct msg_key *k)
{
	size_t hl = push_header_len(msg, len);
	k->size = len;
	k->max_size = len < 2 || msg[len - 2] != '\r' || msg[len - 1] != '\n' ? len + 2 : len;
	k->min_size = len; /* lookup_key() makes it the lookup's bound */
	k->date = date;
	push_header_digest(msg, hl, k->digest);
	if (push_message_id(msg, hl, k->message_id, sizeof(k->message_id)) < 0)
		k->message_id[0] = '\0';
}

/* The key of a message to look up on the target: its size with every CRLF
 * counted once is where the search starts (only a lookup needs it, so the
 * body is scanned for it only then). */
static void lookup_key(const char *msg, size_t len, int64_t date, struct msg_key *k)
{
	message_key(msg, len, date, k);
	for (const char *p = msg, *e = msg + len; (p = memchr(p, '\r', (size_t)(e - p))) && p + 1 < e; p++)
		if (p[1] == '\n')
			k->min_size--;
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

/* The target folder holds messages this run appended (or may have): the
 * lookups search it even when it was empty, or not there, at SELECT. */
static void folder_has_mail(struct folder_run *f)
{
	f->exists_on_target = 1;
	if (!f->info.exists)
		f->info.exists = 1;
}

/* The size on the wire in a pending entry's key; 0 without one. */
static uint64_t pending_size(const struct push_entry *e)
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
	const uint32_t *at = m->header ? bsearch(&m->uid, l->uids, l->n_uids, sizeof(*l->uids), cmp_u32) : NULL;
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
static int find_src(const struct folder_run *f, uint32_t uv, uint32_t uid);

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
	n_uv = uniq_u32(uvs, n_uv);
	for (size_t k = 0; k < f->st.n; k++) {
		const struct push_entry *e = &f->st.e[k];
		if (!e->pending && e->tgt_uid && e->src_uid && contains_u32(uvs, n_uv, e->src_uv) &&
		    !find_src(f, e->src_uv, e->src_uid))
			(*out)[n++] = e->tgt_uid;
	}
	free(uvs);
	return uniq_u32(*out, n);
}

/* The outcome R (error text WERR) of one of several pipelined commands, kept
 * in *RC: after a refusal the others in flight are still read to their ends,
 * so the connection stays in step, and the first refusal is reported; a lost
 * connection ends it all. 1 when nothing more can be read. */
static int pipelined_outcome(int r, int *rc, const char *werr, char *err, size_t errlen)
{
	if (r < 0 && (*rc == 0 || imap_connection_lost(r))) {
		snprintf(err, errlen, "%s", werr);
		*rc = r;
	}
	return imap_connection_lost(r);
}

/* f->bytes less N, never below zero (a message counted as sent is taken back) */
static void bytes_back(struct folder_run *f, uint64_t n)
{
	f->bytes -= n <= f->bytes ? n : f->bytes;
}

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
	const uint32_t *p = bsearch(&m->uid, a->uids, a->n, sizeof(*a->uids), cmp_u32);
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
		if (pipelined_outcome(r, &rc, werr, err, errlen))
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
static int check_hints(struct folder_run *f, struct push_entry *const *ent, size_t n, const uint32_t *claimed,
		       size_t n_claimed, struct push_candidate *found, char *err, size_t errlen)
{
	struct uid_answers a = { 0 };
	uint32_t *uids = xcalloc(n + 1, sizeof(*uids));
	int rc = 0;
	for (size_t k = 0; k < n; k++)
		if (ent[k] && ent[k]->pending && ent[k]->tgt_uid && !contains_u32(claimed, n_claimed, ent[k]->tgt_uid))
			uids[a.n++] = ent[k]->tgt_uid;
	a.n = uniq_u32(uids, a.n);
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
			? bsearch(&ent[k]->tgt_uid, uids, a.n, sizeof(*uids), cmp_u32) : NULL;
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

/* The target UIDs found by check_hints() (FOUND[0..n)) added to the sorted
 * CLAIMED[0..n_claimed): they are their entries' now, a search for another
 * message (an identical one, not appended yet) must not take them. The new count. */
static size_t claim_hints(uint32_t **claimed, size_t n_claimed, const struct push_candidate *found, size_t n)
{
	*claimed = xrealloc(*claimed, (n_claimed + n + 1) * sizeof(**claimed));
	for (size_t k = 0; k < n; k++)
		if (found[k].uid)
			(*claimed)[n_claimed++] = found[k].uid;
	return uniq_u32(*claimed, n_claimed);
}

/* Search the target for the messages KEYS[k] (those with OK[k]): candidates
 * by size and Message-ID, then their headers fetched and compared, target UIDs
 * in CLAIMED left out. MATCH[k]: the index of its candidate in L->cand, or -1. */
static int find_on_target(struct folder_run *f, const struct msg_key *keys, const uint8_t *ok, size_t n,
			  const uint32_t *claimed, size_t n_claimed, struct lookup *l, ssize_t *match,
			  char *err, size_t errlen)
{
	struct buf set = BUF_INIT;
	unsigned tags[SEARCH_WINDOW];
	int rc = 0;
	for (size_t k = 0; k < n; k++)
		match[k] = -1;
	/* an empty folder (or one not there yet) holds none of them */
	if (!f->exists_on_target || !f->info.exists)
		goto out;
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
		if (pipelined_outcome(r, &rc, werr, err, errlen))
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
	/* candidates that no present message claims: fetch their headers */
	size_t o = 0;
	l->n_uids = uniq_u32(l->uids, l->n_uids);
	for (size_t i = 0; i < l->n_uids; i++)
		if (!contains_u32(claimed, n_claimed, l->uids[i]))
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
	buf_free(&set);
	return rc;
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
	struct buf msg = BUF_INIT, kw = BUF_INIT;
	struct push_entry **ent = xcalloc(n + 1, sizeof(*ent));
	struct push_candidate *hint = xcalloc(n + 1, sizeof(*hint));
	uint8_t *search = xcalloc(n + 1, 1);
	char rerr[512];
	int rc = 0;

	for (size_t k = 0; k < n; k++)
		ent[k] = push_state_find(&f->st, f->src[idx[k]].uv, f->src[idx[k]].uid);
	rc = check_hints(f, ent, n, claimed, n_claimed, hint, err, errlen);
	if (rc < 0)
		goto out;
	n_claimed = claim_hints(&claimed, n_claimed, hint, n);
	for (size_t k = 0; k < n; k++) {
		int64_t date;
		int r = push_read_message(f, idx[k], &msg, &date, rerr, sizeof(rerr));
		match[k] = -1;
		if (r != 0 && learning) {
			/* sent already (counted where its answer came): its entry
			 * stays in doubt, looked up by the next push */
			log_warn("push %s -> %s: folder \"%s\": UID %" PRIu32 ": %s; left in doubt, looked for on "
				 "the target by the next push", f->r->src->name, f->r->dst->name, f->name,
				 f->src[idx[k]].uid, rerr);
			continue;
		}
		if (r != 0) {
			log_warn("push %s -> %s: folder \"%s\": UID %" PRIu32 ": %s; skipped", f->r->src->name,
				 f->r->dst->name, f->name, f->src[idx[k]].uid, rerr);
			f->skipped++;
			continue;
		}
		lookup_key(msg.data, msg.len, date, &keys[k]);
		ok[k] = 1;
		search[k] = !hint[k].uid;
	}
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
	if (!l.n_cand)
		goto decide;
	/* a matched target message that an orphan entry stood for now belongs to
	 * the source message found (renumbered source folder) */
	uint32_t *taken = xcalloc(l.n_cand + 1, sizeof(*taken));
	size_t n_taken = 0;
	for (size_t c = 0; c < l.n_cand; c++)
		if (l.cand[c].taken)
			taken[n_taken++] = l.cand[c].uid;
	n_taken = uniq_u32(taken, n_taken);
	for (size_t j = 0; j < f->st.n; j++) {
		struct push_entry *e = &f->st.e[j];
		if (e->tgt_uid && !e->pending && contains_u32(taken, n_taken, e->tgt_uid))
			e->src_uid = 0;
	}
	free(taken);
	push_state_compact(&f->st);
decide:
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
		const struct push_candidate *c = &l.cand[match[k]];
		struct push_entry *e = push_state_put(&f->st, s->uv, s->uid);
		e->pending = 0;
		e->unverified = 0;
		e->tgt_uid = c->uid;
		e->flags = (uint8_t)(c->flags & MFLAG_ALL);
		push_keywords_normalise(c->keywords, push_allowed_keywords(f), &kw);
		push_entry_set_keywords(e, kw.data);
		if (!learning)
			f->found++;
		if (e->flags != s->flags || strcmp(kw.data, s->keywords))
			update[(*n_update)++] = idx[k];
	}
	push_state_compact(&f->st);
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
	buf_free(&msg);
	buf_free(&kw);
	return rc;
}

/* ---- APPEND ---- */

struct pending_msg {
	size_t src;
	struct buf data;
	int64_t date;
};

/* M's entry in doubt (an APPEND of it about to be sent), with its identity on
 * the wire, to find it on the target even once the source is gone. */
static void mark_pending(struct folder_run *f, const struct pending_msg *m)
{
	const struct push_src *s = &f->src[m->src];
	struct push_entry *e = push_state_put(&f->st, s->uv, s->uid);
	struct msg_key key;
	e->pending = 1;
	e->tgt_uid = 0;
	message_key(m->data.data, m->data.len, m->date, &key);
	free(e->pkey);
	e->pkey = key_text(&key);
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
		/* the folder deleted on the target since SELECT: said once, for the whole folder */
		if (!(res->trycreate && f->stop == STOP_GONE))
			log_error("push %s -> %s: folder \"%s\": message UID %" PRIu32 " refused by the target: %s",
				  f->r->src->name, f->r->dst->name, f->name, s->uid, res->text);
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
		push_entry_set_keywords(e, s->keywords);
	} else {
		learn[(*n_learn)++] = m->src; /* no UIDPLUS: found by a search afterwards */
	}
	f->appended++;
	f->bytes += m->data.len;
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
			size[i] = e ? pending_size(e) : 0;
		}
		folder_has_mail(f);
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
	for (size_t k = 0; k < n; k++) {
		const struct push_src *s = &f->src[b[k].src];
		int64_t date = push_append_date(b[k].date);
		push_flags_string(s->flags, s->keywords, &fl[k]);
		reqs[k] = (struct imap_append_req){ f->wire.data, fl[k].data, date, b[k].data.data, b[k].data.len };
	}
	int rc = imap_multiappend(f->r->imap, reqs, n, uids, &res, merr, sizeof(merr));
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
	folder_has_mail(f);
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
			f->bytes += b[k].data.len;
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
		int64_t date = push_append_date(b[k].date);
		push_flags_string(s->flags, s->keywords, &fl);
		struct imap_append_req req = { f->wire.data, fl.data, date, b[k].data.data, b[k].data.len };
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
out:
	push_state_compact(&f->st);
	free(there);
	free(tags);
	buf_free(&fl);
	return rc;
}

static void batch_free(struct pending_msg *b, size_t n)
{
	for (size_t k = 0; k < n; k++)
		buf_free(&b[k].data);
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
	folder_has_mail(f);
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
				bytes_back(f, b[j].data.len);
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
		e->pending = 0;
		e->unverified = 0;
		e->tgt_uid = 0;
		e->flags = s->flags;
		push_entry_set_keywords(e, s->keywords);
		log_warn("push %s -> %s: folder \"%s\": message UID %" PRIu32 " was appended but cannot be "
			 "found on the target; its flags will not be updated", f->r->src->name, f->r->dst->name,
			 f->name, s->uid);
	}
	free(missing);
	return rc;
}

/* APPEND the messages idx[0..n) in batches; the state marks a batch pending
 * before it is sent and records the target UIDs after. */
int push_append_messages(struct folder_run *f, const size_t *idx, size_t n, size_t *update,
			 size_t *n_update, char *err, size_t errlen)
{
	struct pending_msg *b = xcalloc(BATCH_MSGS, sizeof(*b));
	size_t *learn = xcalloc(BATCH_MSGS + 1, sizeof(*learn));
	size_t next = 0, nb = 0;
	int rc = 0, check_rc = 0;
	char rerr[512], check_err[512] = "";
	while (next < n && rc == 0 && !f->stop) {
		size_t bytes = 0, n_learn = 0, first = next;
		nb = 0;
		while (next < n && nb < BATCH_MSGS && (bytes < BATCH_BYTES || nb == 0)) {
			struct pending_msg *m = &b[nb];
			size_t i = idx[next++];
			int r = push_read_message(f, i, &m->data, &m->date, rerr, sizeof(rerr));
			if (r != 0) {
				log_warn("push %s -> %s: folder \"%s\": message UID %" PRIu32 ": %s; skipped",
					 f->r->src->name, f->r->dst->name, f->name, f->src[i].uid, rerr);
				f->skipped++;
				continue;
			}
			m->src = i;
			bytes += m->data.len;
			nb++;
		}
		if (f->r->opt->dry_run) {
			for (size_t k = 0; k < nb; k++) {
				if (f->r->opt->verbose)
					print_append(f, b[k].src, b[k].data.len);
				f->appended++;
				f->bytes += b[k].data.len;
			}
			batch_free(b, nb);
			continue;
		}
		for (size_t k = 0; k < nb; k++)
			mark_pending(f, &b[k]);
		if ((rc = push_save_state(f, err, errlen)) < 0)
			break;
		uint32_t e0 = imap_exists(f->r->imap);
		unsigned long told0 = imap_exists_told(f->r->imap);
		uint64_t a0 = f->appended;
		rc = append_batch(f, b, nb, learn, &n_learn, update, n_update, err, errlen);
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
				if (!check_rc)
					snprintf(check_err, sizeof(check_err), "%s", err);
				check_rc = rc;
				rc = 0;
			}
		}
		char serr[512];
		int src = push_save_state(f, rc == 0 ? err : serr, rc == 0 ? errlen : sizeof(serr));
		if (rc == 0)
			rc = src;
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
	if (rc == 0 && check_rc) {
		snprintf(err, errlen, "%s", check_err);
		rc = check_rc;
	}
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
	a.n = uniq_u32(f->stored, f->n_stored);
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
			? bsearch(&e->tgt_uid, a.uids, a.n, sizeof(*a.uids), cmp_u32) : NULL;
		if (!p)
			continue;
		e->unverified = 0;
		if (a.got[p - a.uids].uid)
			continue;
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
		bytes_back(f, pending_size(e));
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

/* ---- flags ---- */

struct flag_change {
	char *add, *remove;
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

/* UID STORE the flag changes of the source messages idx[0..n): what was added
 * in the mirror since the last push is added on the target, what was removed is
 * removed, so changes made on the target meanwhile are kept. */
int push_update_flags(struct folder_run *f, const size_t *idx, size_t n, char *err, size_t errlen)
{
	struct flag_change *ch = xcalloc(n + 1, sizeof(*ch));
	struct buf add = BUF_INIT, rem = BUF_INIT;
	size_t nc = 0;
	int rc = 0;
	for (size_t k = 0; k < n; k++) {
		const struct push_src *s = &f->src[idx[k]];
		const struct push_entry *e = push_state_find(&f->st, s->uv, s->uid);
		if (!e || e->pending || !e->tgt_uid)
			continue;
		push_flags_delta(e->flags, e->keywords, s->flags, s->keywords, &add, &rem);
		if (!add.len && !rem.len)
			continue;
		if (f->r->opt->dry_run && f->r->opt->verbose)
			fprintf(f->r->out, "  flags UID %" PRIu32 ": +(%s) -(%s)\n", s->uid, add.data, rem.data);
		ch[nc++] = (struct flag_change){ xstrdup(add.data), xstrdup(rem.data), e->tgt_uid, idx[k] };
	}
	qsort(ch, nc, sizeof(*ch), cmp_change);
	if (f->r->opt->dry_run) {
		f->updated += nc;
		goto out;
	}
	for (size_t i = 0; i < nc && rc == 0;) {
		/* a window of groups in flight, then their answers */
		unsigned tags[STORE_WINDOW * 2 + 2];
		size_t n_tags = 0, start = i;
		while (i < nc && n_tags + 2 <= STORE_WINDOW * 2 && rc == 0) {
			size_t j = i;
			while (j < nc && j - i < UIDSET_MAX && !strcmp(ch[j].add, ch[i].add) &&
			       !strcmp(ch[j].remove, ch[i].remove))
				j++;
			rc = send_stores(f, ch, i, j, tags, &n_tags, err, errlen);
			i = j;
		}
		int failed = 0;
		for (size_t t = 0; t < n_tags && !imap_connection_lost(rc); t++) {
			char serr[512];
			int r = imap_command_wait(f->r->imap, tags[t], "UID STORE", serr, sizeof(serr));
			if (r == IMAP_ERR_NO) {
				log_error("push %s -> %s: folder \"%s\": flags not updated: %s", f->r->src->name,
					  f->r->dst->name, f->name, serr);
				failed = 1;
			} else if (r < 0) {
				snprintf(err, errlen, "%s", serr);
				rc = r;
			}
		}
		if (rc < 0)
			break;
		for (size_t k = start; k < i; k++) {
			const struct push_src *s = &f->src[ch[k].src];
			struct push_entry *e = push_state_find(&f->st, s->uv, s->uid);
			if (failed || !e) {
				f->failed++;
				continue;
			}
			e->flags = s->flags;
			push_entry_set_keywords(e, s->keywords);
			f->updated++;
		}
	}
	if (rc == 0)
		rc = push_save_state(f, err, errlen);
out:
	for (size_t k = 0; k < nc; k++) {
		free(ch[k].add);
		free(ch[k].remove);
	}
	free(ch);
	buf_free(&add);
	buf_free(&rem);
	return rc;
}

/* ---- --delete ---- */

/* Whether the mirror folder has the source message (uv, uid). */
static int find_src(const struct folder_run *f, uint32_t uv, uint32_t uid)
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

/* Delete on the target the messages whose source is gone (UID EXPUNGE needs
 * UIDPLUS; without it they are only flagged \Deleted). Without --delete only
 * entries that cannot mean a target message (pending) are dropped. */
/* Pending entries whose source message is gone (a run killed after its
 * APPEND, the message expunged before this run): is the message on the
 * target? Found: the entry becomes an ordinary one for that target UID (an
 * orphan that --delete removes, now or later). Not found, or with no key to
 * look for: dropped. */
static int resolve_gone_pending(struct folder_run *f, char *err, size_t errlen)
{
	size_t n = 0, n_claimed = 0;
	int rc = 0;
	for (size_t k = 0; k < f->st.n; k++) {
		struct push_entry *e = &f->st.e[k];
		if (e->pending && !find_src(f, e->src_uv, e->src_uid))
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
		if (!e->pending || find_src(f, e->src_uv, e->src_uid))
			continue;
		ok[n] = e->pkey && key_parse(e->pkey, &keys[n]) == 0;
		ent[n++] = e;
	}
	n_claimed = uniq_u32(claimed, n_claimed);
	if (!f->r->opt->dry_run)
		rc = check_hints(f, ent, n, claimed, n_claimed, hint, err, errlen);
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
		e->pending = 0;
		e->unverified = 0;
		e->tgt_uid = c->uid;
		e->flags = (uint8_t)(c->flags & MFLAG_ALL);
		push_keywords_normalise(c->keywords, push_allowed_keywords(f), &kw);
		push_entry_set_keywords(e, kw.data);
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

int push_delete_orphans(struct folder_run *f, char *err, size_t errlen)
{
	uint32_t *uids = xcalloc(f->st.n + 1, sizeof(*uids));
	struct buf set = BUF_INIT;
	size_t nu = 0;
	int rc = resolve_gone_pending(f, err, errlen);
	if (rc < 0) {
		free(uids);
		return rc;
	}
	for (size_t k = 0; k < f->st.n; k++) {
		struct push_entry *e = &f->st.e[k];
		if (find_src(f, e->src_uv, e->src_uid))
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
	nu = uniq_u32(uids, nu);
	/* a target message that another mirror folder's state also holds (both
	 * go to this target folder) stays: that folder still has it; only our
	 * entry goes */
	uint32_t *others = NULL, *shared = xcalloc(nu + 1, sizeof(*shared));
	size_t n_others = 0, n_shared = 0, o = 0;
	if (nu) {
		n_others = push_other_claims(f, &others);
		n_others = uniq_u32(others, n_others);
	}
	for (size_t i = 0; i < nu; i++) {
		if (n_others && contains_u32(others, n_others, uids[i]))
			shared[n_shared++] = uids[i];
		else
			uids[o++] = uids[i];
	}
	nu = o;
	free(others);
	size_t done = 0; /* uids[0..done) flagged (and expunged): their entries go */
	if (f->r->opt->dry_run) {
		f->deleted += nu;
		done = nu;
		goto out;
	}
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
			done = i + m;
		}
	}
	if (nu && !(imap_caps(f->r->imap) & IMAP_CAP_UIDPLUS))
		log_warn("push %s -> %s: folder \"%s\": the target has no UIDPLUS: %zu messages flagged "
			 "\\Deleted but not expunged", f->r->src->name, f->r->dst->name, f->name, nu);
out:
	/* an entry goes once its message is deleted; the others stay, whatever
	 * state is saved after a failure, for the next run to retry */
	for (size_t k = 0; k < f->st.n; k++) {
		struct push_entry *e = &f->st.e[k];
		if (!e->pending && e->src_uid && e->tgt_uid &&
		    (contains_u32(uids, done, e->tgt_uid) || contains_u32(shared, n_shared, e->tgt_uid)) &&
		    !find_src(f, e->src_uv, e->src_uid))
			e->src_uid = 0;
	}
	free(shared);
	push_state_compact(&f->st);
	if (rc == 0)
		rc = push_save_state(f, err, errlen);
	free(uids);
	buf_free(&set);
	return rc;
}
