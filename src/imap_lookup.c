/* IMAP client, the lookups push makes on the target (push_lookup.c): UID
 * SEARCH by Message-ID and size or for every UID, and a UID FETCH of header
 * sections with each message's size, INTERNALDATE and flags. */
#include "mailkeep/imap.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "mailkeep/imap_parse.h"
#include "mailkeep/maildir.h"

#include "imap_internal.h"

#define MAX_KEYWORDS 4096 /* bytes of keywords kept per message */

/* ---- SEARCH ---- */

struct search_ctx {
	int (*on_uid)(void *ctx, uint32_t uid);
	void *ctx;
	uint64_t n; /* UIDs this command's answers named */
	int answered; /* an answer came */
};

/* UIDs one SEARCH may name beyond the mailbox's EXISTS before the server is
 * taken for hostile (its answers would otherwise cost memory without end). */
#define SEARCH_SLACK 65536

static int on_search(struct imap_client *c, const struct imap_response *r, void *ctx,
		     char *err, size_t errlen)
{
	struct search_ctx *s = ctx;
	uint64_t before = s->n;
	if (!imap_is_untagged(r, "SEARCH"))
		return 0;
	c->search_seen++;
	for (size_t i = 0; i < r->args.n; i++) {
		uint32_t uid;
		if (imap_value_u32(&r->args.items[i], &uid) < 0 || !uid) {
			/* "(MODSEQ n)" after the numbers (RFC 7162 §3.1.5) is not a UID */
			if (r->args.items[i].type == IMAP_LIST)
				continue;
			snprintf(err, errlen, "%s: malformed SEARCH response", imap_peer(c));
			return IMAP_ERR_PROTOCOL;
		}
		if (++s->n > (uint64_t)imap_exists(c) + SEARCH_SLACK) {
			snprintf(err, errlen, "%s: SEARCH response with more UIDs than the mailbox holds", imap_peer(c));
			return IMAP_ERR_PROTOCOL;
		}
		if (s->on_uid(s->ctx, uid))
			return IMAP_ERR_LOCAL;
	}
	/* progress: the first answer, or one naming UIDs (bounded by SEARCH_SLACK);
	 * answers naming none, repeated, would hold the command for ever */
	if (s->n == before && s->answered)
		return 0;
	s->answered = 1;
	return IMAP_DATA;
}

int imap_uid_search_message_send(struct imap_client *c, const char *message_id, uint64_t min_size,
				 uint64_t max_size, unsigned *tag, char *err, size_t errlen)
{
	struct buf crit = BUF_INIT;
	int rc;
	if (message_id) {
		buf_adds(&crit, "HEADER Message-ID ");
		if (imap_add_quoted(&crit, message_id) < 0)
			buf_reset(&crit);
		else
			buf_addch(&crit, ' ');
	}
	/* LARGER and SMALLER are strict */
	buf_addf(&crit, "LARGER %" PRIu64 " SMALLER %" PRIu64, min_size ? min_size - 1 : 0, max_size + 1);
	rc = imap_send_command(c, tag, err, errlen, "UID SEARCH %s", crit.data);
	buf_free(&crit);
	return rc;
}

int imap_uid_search_wait(struct imap_client *c, unsigned tag, int (*on_uid)(void *ctx, uint32_t uid),
			 void *ctx, char *err, size_t errlen)
{
	struct search_ctx s = { on_uid, ctx, 0, 0 };
	return imap_wait_tagged(c, tag, on_search, &s, "UID SEARCH", err, errlen);
}

unsigned imap_search_seen(const struct imap_client *c) { return c->search_seen; }

int imap_uid_search_all(struct imap_client *c, int (*on_uid)(void *ctx, uint32_t uid), void *ctx,
			char *err, size_t errlen)
{
	unsigned tag;
	int rc = imap_send_command(c, &tag, err, errlen, "UID SEARCH ALL");
	if (rc < 0)
		return rc;
	return imap_uid_search_wait(c, tag, on_uid, ctx, err, errlen);
}

/* ---- FETCH of header sections ---- */

struct header_ctx {
	int (*cb)(void *ctx, const struct imap_header_msg *m, char *err, size_t errlen);
	void *ctx;
	struct buf keywords;
};

static int header_flags(struct header_ctx *h, const struct imap_value *v, struct imap_header_msg *m)
{
	if (v->type != IMAP_LIST)
		return -1;
	buf_reset(&h->keywords);
	buf_adds(&h->keywords, "");
	for (size_t i = 0; i < v->n; i++) {
		const struct imap_value *f = &v->items[i];
		unsigned bit;
		if (f->type != IMAP_ATOM)
			continue;
		if ((bit = maildir_flag_from_imap(f->data, f->len)) != 0)
			m->flags |= bit;
		else if (imap_keyword_ok(f) && h->keywords.len + f->len + 1 < MAX_KEYWORDS) {
			if (h->keywords.len)
				buf_addch(&h->keywords, ' ');
			buf_add(&h->keywords, f->data, f->len);
		}
	}
	m->keywords = h->keywords.data;
	return 0;
}

static int on_header_fetch(struct imap_client *c, const struct imap_response *r, void *ctx,
			   char *err, size_t errlen)
{
	struct header_ctx *h = ctx;
	const struct imap_value *v;
	if (!imap_is_untagged(r, "FETCH") || !r->has_number)
		return 0;
	if (r->args.n != 1 || r->args.items[0].type != IMAP_LIST)
		goto bad;
	const struct imap_value *list = &r->args.items[0];
	struct imap_header_msg m = { .internaldate = INT64_MIN, .keywords = "" };
	if ((v = imap_fetch_item(list, "UID")) == NULL)
		return 0; /* an unsolicited FETCH (flags changed by someone else) */
	if (imap_value_u32(v, &m.uid) < 0 || !m.uid)
		goto bad;
	int has_size = 0;
	if ((v = imap_fetch_item(list, "RFC822.SIZE")) != NULL) {
		if (imap_value_u64(v, &m.size) < 0)
			goto bad;
		has_size = 1;
	}
	if ((v = imap_fetch_item(list, "INTERNALDATE")) != NULL &&
	    (v->type != IMAP_STRING || imap_parse_internaldate(v->data, v->len, &m.internaldate) < 0))
		goto bad;
	if ((v = imap_fetch_item(list, "FLAGS")) != NULL && header_flags(h, v, &m) < 0)
		goto bad;
	/* a header without its size cannot be matched: its size would read as 0,
	 * and after a UID SEARCH ALL (no size searched for) its message would be
	 * taken for absent and appended again. Without the header the answer
	 * counts as not returned, which fails the lookup. */
	if (has_size && (v = imap_fetch_item(list, "BODY[HEADER]")) != NULL && v->type == IMAP_STRING) {
		m.header = v->data;
		m.header_len = v->len;
	}
	return h->cb(h->ctx, &m, err, errlen) ? IMAP_ERR_LOCAL : IMAP_DATA;
bad:
	snprintf(err, errlen, "%s: malformed FETCH response", imap_peer(c));
	return IMAP_ERR_PROTOCOL;
}

int imap_uid_fetch_headers(struct imap_client *c, const char *uidset,
			   int (*cb)(void *ctx, const struct imap_header_msg *m, char *err, size_t errlen),
			   void *ctx, char *err, size_t errlen)
{
	struct header_ctx h = { cb, ctx, BUF_INIT };
	unsigned tag;
	int rc = imap_send_command(c, &tag, err, errlen,
				   "UID FETCH %s (UID RFC822.SIZE INTERNALDATE FLAGS BODY.PEEK[HEADER])", uidset);
	if (rc == 0)
		rc = imap_wait_tagged(c, tag, on_header_fetch, &h, "UID FETCH", err, errlen);
	buf_free(&h.keywords);
	return rc;
}
