/* IMAP client, EXAMINE: the mailbox's numbers, with UID FETCH and UID SEARCH
 * (SEARCH or ESEARCH) pipelined behind it, and QRESYNC's VANISHED. */
#include "mailkeep/imap.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "imap_internal.h"

/* ---- EXAMINE, with pipelined FETCH / SEARCH and QRESYNC ---- */

static int code_u64(const struct imap_response *r, const char *code, uint64_t *out)
{
	size_t l = strlen(code);
	if (!r->code || r->code_len != l || strncasecmp(r->code, code, l))
		return 0;
	if (r->code_args.n < 1 || imap_value_u64(&r->code_args.items[0], out) < 0)
		return -1;
	return 1;
}

struct examine_ctx {
	struct imap_select_info *info;
	const struct imap_examine_req *req;
	struct fetch_ctx fetch;
	int exists_seen;
	int vanished_seen;
};

struct range_ctx {
	const struct imap_examine_req *req;
	int vanished;
};

static int range_cb(uint32_t lo, uint32_t hi, void *ctx)
{
	struct range_ctx *rc = ctx;
	return rc->req->on_uids ? rc->req->on_uids(rc->req->ctx, lo, hi, rc->vanished) : 0;
}

/* "* VANISHED (EARLIER) 1:5,9" (RFC 7162 §3.2.10) */
static int on_vanished(struct imap_client *c, const struct imap_response *r,
		       const struct imap_examine_req *req, char *err, size_t errlen)
{
	const struct imap_value *a = &r->args;
	size_t i = 0;
	if (a->n >= 1 && a->items[0].type == IMAP_LIST)
		i = 1; /* (EARLIER) */
	if (a->n != i + 1 || a->items[i].type != IMAP_ATOM)
		goto bad;
	struct range_ctx rc = { req, 1 };
	if (imap_parse_seqset(a->items[i].data, a->items[i].len, 0, range_cb, &rc) < 0)
		goto bad;
	return 0;
bad:
	snprintf(err, errlen, "%s: malformed VANISHED response", imap_peer(c));
	return IMAP_ERR_PROTOCOL;
}

static int on_examine(struct imap_client *c, const struct imap_response *r, void *ctx,
		      char *err, size_t errlen)
{
	struct examine_ctx *x = ctx;
	struct imap_select_info *info = x->info;
	uint64_t v;
	if (r->kind == IMAP_RESP_TAGGED) {
		if (r->code && r->code_len == 9 && !strncasecmp(r->code, "READ-ONLY", 9))
			info->read_only = 1;
		return 0;
	}
	if (r->status == IMAP_STATUS_OK) {
		int k;
		if ((k = code_u64(r, "UIDVALIDITY", &v)) != 0) {
			if (k < 0 || v == 0 || v > UINT32_MAX)
				goto bad;
			if (info->uidvalidity && info->uidvalidity != v) {
				snprintf(err, errlen, "%s: two different UIDVALIDITY values in one EXAMINE "
					 "response", imap_peer(c));
				return IMAP_ERR_PROTOCOL;
			}
			info->uidvalidity = (uint32_t)v;
		} else if ((k = code_u64(r, "UIDNEXT", &v)) != 0) {
			if (k < 0 || v > UINT32_MAX)
				goto bad;
			info->uidnext = (uint32_t)v;
		} else if ((k = code_u64(r, "HIGHESTMODSEQ", &v)) != 0) {
			if (k < 0)
				goto bad;
			info->highestmodseq = v;
		} else if (r->code && r->code_len == 8 && !strncasecmp(r->code, "NOMODSEQ", 8)) {
			info->highestmodseq = 0;
		}
		return 0;
	}
	if (r->status != IMAP_STATUS_NONE || !r->name)
		return 0;
	if (r->has_number && r->name_len == 6 && !strncasecmp(r->name, "EXISTS", 6)) {
		info->exists = r->number;
		if (!x->exists_seen) {
			uint32_t from, to;
			info->exists_drops = imap_exists_drops(c, &from, &to);
		}
		x->exists_seen = 1;
	}
	else if (!r->has_number && r->name_len == 8 && !strncasecmp(r->name, "VANISHED", 8) &&
		 x->req->qresync_modseq) {
		int rc = on_vanished(c, r, x->req, err, errlen);
		if (rc < 0 || x->vanished_seen)
			return rc; /* repeats (merged by on_uids) are no progress */
		x->vanished_seen = 1;
		return IMAP_DATA;
	}
	else if (r->has_number && r->name_len == 5 && !strncasecmp(r->name, "FETCH", 5) && x->req->cb)
		return imap_on_fetch(c, r, &x->fetch, err, errlen);
	return 0;
bad:
	snprintf(err, errlen, "%s: invalid number in EXAMINE response", imap_peer(c));
	return IMAP_ERR_PROTOCOL;
}

struct search_all_ctx {
	const struct imap_examine_req *req;
	unsigned tag; /* the UID SEARCH's */
	int answered; /* its (first) answer came */
};

/* Is this ESEARCH the answer to our UID SEARCH: UIDs, and its correlator, when
 * it has one, our tag (RFC 4731 §3)? Another one is not counted: the view then
 * misses messages and is not trusted (a full FETCH follows). */
static int esearch_ours(const struct imap_value *a, unsigned tag)
{
	size_t i = 0;
	if (a->n && a->items[0].type == IMAP_LIST) {
		const struct imap_value *l = &a->items[0];
		char want[16];
		int len = snprintf(want, sizeof(want), "a%u", tag);
		if (l->n != 2 || !imap_value_is(&l->items[0], "TAG") || l->items[1].type != IMAP_STRING ||
		    l->items[1].len != (size_t)len || memcmp(l->items[1].data, want, (size_t)len))
			return 0;
		i = 1;
	}
	return i < a->n && imap_value_is(&a->items[i], "UID");
}

/* "* SEARCH 1 2 3" or "* ESEARCH (TAG "a3") UID ALL 1:3,5" (RFC 4731) */
static int on_search(struct imap_client *c, const struct imap_response *r, void *ctx,
		     char *err, size_t errlen)
{
	struct search_all_ctx *s = ctx;
	struct range_ctx rc = { s->req, 0 };
	if (r->kind != IMAP_RESP_UNTAGGED || r->status != IMAP_STATUS_NONE || !r->name)
		return 0;
	const struct imap_value *a = &r->args;
	if (r->name_len == 6 && !strncasecmp(r->name, "SEARCH", 6)) {
		for (size_t i = 0; i < a->n; i++) {
			uint32_t uid;
			if (imap_value_u32(&a->items[i], &uid) < 0 || !uid)
				goto bad;
			if (range_cb(uid, uid, &rc)) {
				snprintf(err, errlen, "%s: SEARCH response with more UIDs than the mailbox holds",
					 imap_peer(c));
				return IMAP_ERR_PROTOCOL;
			}
		}
		goto answer;
	}
	if (r->name_len == 7 && !strncasecmp(r->name, "ESEARCH", 7) && esearch_ours(a, s->tag)) {
		for (size_t i = 0; i + 1 < a->n; i++) {
			if (!imap_value_is(&a->items[i], "ALL"))
				continue;
			if (a->items[i + 1].type != IMAP_ATOM ||
			    imap_parse_seqset(a->items[i + 1].data, a->items[i + 1].len, 0, range_cb, &rc) < 0)
				goto bad;
		}
		goto answer;
	}
	return 0;
answer:
	/* the answer is one response: repeats (merged by on_uids) are no progress */
	if (s->answered)
		return 0;
	s->answered = 1;
	return IMAP_DATA;
bad:
	snprintf(err, errlen, "%s: malformed SEARCH response", imap_peer(c));
	return IMAP_ERR_PROTOCOL;
}

struct fetch_search_ctx {
	struct fetch_ctx fc;
	struct search_all_ctx search;
};

static int on_fetch_or_search(struct imap_client *c, const struct imap_response *r, void *ctx,
			      char *err, size_t errlen)
{
	struct fetch_search_ctx *fs = ctx;
	if (r->kind == IMAP_RESP_UNTAGGED && r->name &&
	    ((r->name_len == 6 && !strncasecmp(r->name, "SEARCH", 6)) ||
	     (r->name_len == 7 && !strncasecmp(r->name, "ESEARCH", 7))))
		return on_search(c, r, &fs->search, err, errlen);
	return imap_on_fetch(c, r, &fs->fc, err, errlen);
}

int imap_examine_send(struct imap_client *c, const struct imap_examine_req *req,
		      struct imap_examine_sent *sent, char *err, size_t errlen)
{
	struct buf q = BUF_INIT, extra = BUF_INIT;
	int rc;
	memset(sent, 0, sizeof(*sent));
	if (req->then_tag)
		*req->then_tag = 0;
	if (imap_add_quoted(&q, req->wire_name) < 0) {
		snprintf(err, errlen, "mailbox name cannot be quoted");
		rc = IMAP_ERR_LOCAL;
		goto out;
	}
	if (req->plain)
		;
	else if (req->qresync_modseq && c->qresync)
		buf_addf(&extra, " (QRESYNC (%" PRIu32 " %" PRIu64 "))", req->qresync_uidvalidity,
			 req->qresync_modseq);
	else if ((imap_caps(c) & IMAP_CAP_CONDSTORE) && !c->qresync)
		buf_adds(&extra, " (CONDSTORE)"); /* so that HIGHESTMODSEQ is sent (RFC 7162 §3.1.8) */
	rc = imap_send_command(c, &sent->tag, err, errlen, "EXAMINE %s%s", q.data, extra.len ? extra.data : "");
	if (rc == 0)
		c->select_seq++;
	/* Pipelined: if EXAMINE fails no mailbox is selected and what follows fails
	 * too (RFC 3501 §6.3.1), so it can never read another mailbox. */
	if (rc == 0 && req->fetch_items) {
		if (req->changedsince)
			rc = imap_send_command(c, &sent->ftag, err, errlen,
					       "UID FETCH 1:* %s (CHANGEDSINCE %" PRIu64 ")",
					       req->fetch_items, req->changedsince);
		else
			rc = imap_send_command(c, &sent->ftag, err, errlen, "UID FETCH 1:* %s", req->fetch_items);
	}
	if (rc == 0 && req->search_all)
		rc = imap_send_command(c, &sent->stag, err, errlen, "UID SEARCH %sALL",
				       imap_caps(c) & IMAP_CAP_ESEARCH ? "RETURN (ALL) " : "");
	if (rc == 0 && req->then_set && req->then_tag)
		rc = imap_send_command(c, &sent->then_tag, err, errlen, "UID FETCH %s %s", req->then_set,
				       req->then_items);
out:
	buf_free(&q);
	buf_free(&extra);
	return rc;
}

int imap_examine_recv(struct imap_client *c, const struct imap_examine_req *req,
		      const struct imap_examine_sent *sent, struct imap_select_info *info,
		      char *err, size_t errlen)
{
	struct examine_ctx x = { .info = info, .req = req, .fetch = { .cb = req->cb, .keywords = BUF_INIT } };
	struct search_all_ctx sa = { .req = req, .tag = sent->stag };
	char ferr[512] = "", serr[512] = "";
	int rc, frc = 0, src = 0;
	memset(info, 0, sizeof(*info));
	if (req->then_tag)
		*req->then_tag = 0;
	c->sink = NULL;
	c->refusal.status = 0;
	rc = imap_wait_tagged(c, sent->tag, on_examine, &x, "EXAMINE", err, errlen);
	if (rc == IMAP_ERR_NET || rc == IMAP_ERR_PROTOCOL)
		goto out;
	if (rc == IMAP_ERR_NO && c->refusal.status)
		info->refused = c->refusal;
	/* info->highestmodseq is known now: it may come after a QRESYNC answer's FETCHes */
	info->fetch_unusable =
		(req->qresync_modseq ? imap_fetch_unusable(x.fetch.without_uid, x.fetch.without_uid_modseq,
							   info->highestmodseq) : 0) +
		imap_fetch_unusable(x.fetch.without_flags, x.fetch.without_flags_modseq, info->highestmodseq);
	if (sent->ftag && sent->stag) {
		/* a server may run the SEARCH beside the FETCH (both only read the
		 * mailbox): its untagged answer can come before the FETCH's end */
		struct fetch_search_ctx fs = { .fc = { .cb = req->cb, .keywords = BUF_INIT },
					       .search = sa };
		c->sink = NULL;
		c->early_ok = sent->stag; /* and may complete first */
		frc = imap_wait_tagged(c, sent->ftag, on_fetch_or_search, &fs, "UID FETCH", ferr, sizeof(ferr));
		c->early_ok = 0;
		sa.answered = fs.search.answered;
		info->fetch_unusable +=
			imap_fetch_unusable(fs.fc.without_flags, fs.fc.without_flags_modseq, info->highestmodseq);
		buf_free(&fs.fc.keywords);
	} else if (sent->ftag) {
		frc = imap_fetch_wait(c, sent->ftag, req->cb, ferr, sizeof(ferr));
	}
	if (sent->stag && frc != IMAP_ERR_NET && frc != IMAP_ERR_PROTOCOL)
		src = imap_wait_tagged(c, sent->stag, on_search, &sa, "UID SEARCH", serr, sizeof(serr));
	c->early_tag = 0; /* one that came early and was not waited for is no one's */
	if (rc < 0)
		goto out;
	if (info->uidvalidity == 0) {
		snprintf(err, errlen, "%s: server sent no UIDVALIDITY for the mailbox", imap_peer(c));
		rc = IMAP_ERR_NO;
		goto out;
	}
	/* EXISTS is required (RFC 3501 6.3.1); without it the count would be the
	 * previous mailbox's, and messages missing from a FETCH taken for expunged */
	if (!x.exists_seen) {
		snprintf(err, errlen, "%s: server sent no EXISTS for the mailbox", imap_peer(c));
		rc = IMAP_ERR_NO;
		goto out;
	}
	/* some servers refuse "1:*" on an empty mailbox */
	if (frc == IMAP_ERR_NO && info->exists == 0)
		frc = 0;
	if (frc < 0) {
		snprintf(err, errlen, "%s", ferr);
		rc = frc;
	} else if (src < 0) {
		snprintf(err, errlen, "%s", serr);
		rc = src;
	}
out:
	if (sent->then_tag && rc < 0 && rc != IMAP_ERR_NET && rc != IMAP_ERR_PROTOCOL)
		imap_uid_fetch_discard(c, sent->then_tag);
	else if (sent->then_tag && rc == 0 && req->then_tag)
		*req->then_tag = sent->then_tag;
	else if (sent->then_tag && rc == 0)
		imap_uid_fetch_discard(c, sent->then_tag);
	buf_free(&x.fetch.keywords);
	return rc;
}

int imap_examine(struct imap_client *c, const struct imap_examine_req *req,
		 struct imap_select_info *info, char *err, size_t errlen)
{
	struct imap_examine_sent sent;
	int rc = imap_examine_send(c, req, &sent, err, errlen);
	if (rc < 0) {
		memset(info, 0, sizeof(*info));
		return rc;
	}
	if (req->after_send)
		req->after_send(req->after_ctx);
	return imap_examine_recv(c, req, &sent, info, err, errlen);
}

unsigned imap_select_seq(const struct imap_client *c) { return c->select_seq; }
