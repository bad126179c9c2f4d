/* IMAP client, commands that write to the server (used by push): LIST with
 * SPECIAL-USE, NAMESPACE, CREATE, SUBSCRIBE, SELECT, APPEND (LITERAL+ when
 * offered), UID STORE and UID EXPUNGE. Push's lookups on the target (UID
 * SEARCH, a FETCH of header sections) are in imap_lookup.c. */
#include "mailkeep/imap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mailkeep/imap_parse.h"
#include "mailkeep/log.h"
#include "mailkeep/net.h"
#include "mailkeep/utf7.h"

#include "imap_internal.h"

/* Bytes of PERMANENTFLAGS keywords kept: a bound on what a SELECT answer
 * repeating them can cost (the wait itself is bounded only in time). */
#define MAX_PERMANENT ((size_t)64 << 10)

int imap_is_untagged(const struct imap_response *r, const char *name)
{
	size_t l = strlen(name);
	return r->kind == IMAP_RESP_UNTAGGED && r->status == IMAP_STATUS_NONE && r->name &&
	       r->name_len == l && !strncasecmp(r->name, name, l);
}

static int code_is(const struct imap_response *r, const char *code)
{
	size_t l = strlen(code);
	return r->code && r->code_len == l && !strncasecmp(r->code, code, l);
}

/* Read one response of the command whose wait began at `since` (imap_mono_ms)
 * and parse it into *r. Untagged responses are no answer: they may fill the
 * wait for as long as imap_wait_tagged allows, no longer (a server sending
 * keepalives of more than the bytes that keep a read going never answers). */
static int next_response(struct imap_client *c, int64_t since, struct imap_response *r, const char *what,
			 char *err, size_t errlen)
{
	char perr[160];
	int rc = imap_read_response(c, err, errlen);
	if (rc < 0)
		return rc;
	if (imap_parse(c->parser, c->resp.data, c->resp.len, r, perr, sizeof(perr)) < 0) {
		if (c->n_secret_forms)
			imap_parse_error_masked(c, perr, sizeof(perr));
		snprintf(err, errlen, "%s: %s: unparsable server response: %s", imap_peer(c), what, perr);
		return IMAP_ERR_PROTOCOL;
	}
	if (r->kind == IMAP_RESP_UNTAGGED && r->status == IMAP_STATUS_BYE) {
		c->bye = 1;
		imap_server_text(c, c->bye_text, sizeof(c->bye_text), r->text, r->text_len);
	}
	imap_note_size(c, r);
	if (r->kind == IMAP_RESP_UNTAGGED &&
	    imap_no_progress(c, since, "untagged responses that are not its answer", what, err, errlen))
		return IMAP_ERR_PROTOCOL;
	return 0;
}

static int tag_matches(const struct imap_response *r, unsigned tag)
{
	char tagstr[16];
	int n = snprintf(tagstr, sizeof(tagstr), "a%u", tag);
	return r->tag_len == (size_t)n && !memcmp(r->tag, tagstr, (size_t)n);
}

/* ---- LIST with SPECIAL-USE ---- */

int imap_list_special(struct imap_client *c, struct imap_mailbox_list *out, char *err, size_t errlen)
{
	unsigned tag;
	int rc;
	memset(out, 0, sizeof(*out));
	if (imap_caps(c) & IMAP_CAP_SPECIAL_USE)
		rc = imap_send_command(c, &tag, err, errlen, "LIST \"\" \"*\" RETURN (SPECIAL-USE)");
	else
		rc = imap_send_command(c, &tag, err, errlen, "LIST \"\" \"*\"");
	if (rc < 0)
		return rc;
	c->n_list_warned = 0;
	rc = imap_wait_tagged(c, tag, imap_on_list, out, "LIST", err, errlen);
	if (rc < 0)
		imap_mailbox_list_free(out);
	return rc;
}

/* ---- NAMESPACE (RFC 2342 §5) ---- */

struct ns_ctx {
	char *prefix;
	char delim;
	int seen, flat;
};

static int on_namespace(struct imap_client *c, const struct imap_response *r, void *ctx,
			char *err, size_t errlen)
{
	char where[1200]; /* imap_warn_where: the account (and folder) */
	struct ns_ctx *ns = ctx;
	if (!imap_is_untagged(r, "NAMESPACE") || ns->seen)
		return 0;
	ns->seen = 1;
	const struct imap_value *a = &r->args;
	if (a->n < 1 || a->items[0].type != IMAP_LIST || a->items[0].n < 1)
		return 0; /* NIL: no personal namespace */
	const struct imap_value *first = &a->items[0].items[0];
	if (first->type != IMAP_LIST || first->n < 2 || first->items[0].type != IMAP_STRING ||
	    memchr(first->items[0].data, '\0', first->items[0].len)) {
		log_warn("%s: ignoring malformed NAMESPACE response", imap_warn_where(c, where, sizeof(where)));
		return 0;
	}
	ns->prefix = xstrndup(first->items[0].data, first->items[0].len);
	if (first->items[1].type == IMAP_STRING && first->items[1].len == 1)
		ns->delim = first->items[1].data[0];
	else if (first->items[1].type == IMAP_NIL)
		ns->flat = 1;
	return 0;
}

int imap_namespace_personal(struct imap_client *c, char **prefix, char *delim, int *flat, char *err,
			    size_t errlen)
{
	struct ns_ctx ns = { NULL, 0, 0, 0 };
	unsigned tag;
	int rc = 0;
	*prefix = NULL;
	*delim = 0;
	if (imap_caps(c) & IMAP_CAP_NAMESPACE) {
		rc = imap_send_command(c, &tag, err, errlen, "NAMESPACE");
		if (rc == 0)
			rc = imap_wait_tagged(c, tag, on_namespace, &ns, "NAMESPACE", err, errlen);
		if (rc == IMAP_ERR_NO)
			rc = 1;
	}
	if (rc < 0) {
		free(ns.prefix);
		return rc;
	}
	*prefix = ns.prefix ? ns.prefix : xstrdup("");
	*delim = ns.delim;
	if (flat)
		*flat = ns.flat;
	return rc;
}

/* ---- CREATE, SUBSCRIBE ---- */

/* Send "<verb> <quoted mailbox>". */
static int send_mailbox_command(struct imap_client *c, const char *verb, const char *wire_name,
				unsigned *tag, char *err, size_t errlen)
{
	struct buf q = BUF_INIT;
	int rc;
	if (imap_add_quoted(&q, wire_name) < 0) {
		snprintf(err, errlen, "%s: mailbox name cannot be quoted", imap_peer(c));
		buf_free(&q);
		return IMAP_ERR_LOCAL;
	}
	rc = imap_send_command(c, tag, err, errlen, "%s %s", verb, q.data);
	buf_free(&q);
	return rc;
}

/* Wait for the completion of tag, ignoring untagged responses; the response
 * code of a refusal goes to code (NUL-terminated, made safe). */
static int wait_done(struct imap_client *c, unsigned tag, const char *what, char *code, size_t codelen,
		     char *err, size_t errlen)
{
	int64_t since = imap_mono_ms();
	code[0] = '\0';
	for (;;) {
		struct imap_response r;
		char text[200];
		int rc = next_response(c, since, &r, what, err, errlen);
		if (rc < 0)
			return rc;
		if (r.kind == IMAP_RESP_CONTINUATION) {
			snprintf(err, errlen, "%s: %s: unexpected continuation request", imap_peer(c), what);
			return IMAP_ERR_PROTOCOL;
		}
		if (r.kind != IMAP_RESP_TAGGED)
			continue;
		if (!tag_matches(&r, tag)) {
			snprintf(err, errlen, "%s: %s: response with unknown tag", imap_peer(c), what);
			return IMAP_ERR_PROTOCOL;
		}
		if (r.status == IMAP_STATUS_OK)
			return 0;
		if (r.status != IMAP_STATUS_NO && r.status != IMAP_STATUS_BAD) {
			snprintf(err, errlen, "%s: %s: malformed tagged response", imap_peer(c), what);
			return IMAP_ERR_PROTOCOL;
		}
		if (r.code)
			imap_server_text(c, code, codelen, r.code, r.code_len);
		imap_server_text(c, text, sizeof(text), r.text, r.text_len);
		snprintf(err, errlen, "%s: %s: server said %s: %s", imap_peer(c), what,
			 r.status == IMAP_STATUS_NO ? "NO" : "BAD", text);
		return IMAP_ERR_NO;
	}
}

int imap_create(struct imap_client *c, const char *wire_name, char *err, size_t errlen)
{
	char code[64];
	unsigned tag;
	int rc = send_mailbox_command(c, "CREATE", wire_name, &tag, err, errlen);
	if (rc < 0)
		return rc;
	rc = wait_done(c, tag, "CREATE", code, sizeof(code), err, errlen);
	if (rc == IMAP_ERR_NO && !strcasecmp(code, "ALREADYEXISTS"))
		return 1;
	return rc;
}

int imap_noop(struct imap_client *c, char *err, size_t errlen)
{
	return imap_simple_command(c, "NOOP", err, errlen, "NOOP");
}

int imap_subscribe(struct imap_client *c, const char *wire_name, char *err, size_t errlen)
{
	unsigned tag;
	int rc = send_mailbox_command(c, "SUBSCRIBE", wire_name, &tag, err, errlen);
	if (rc < 0)
		return rc;
	return imap_wait_tagged(c, tag, NULL, NULL, "SUBSCRIBE", err, errlen);
}

/* ---- SELECT ---- */

struct select_ctx {
	struct imap_select_info *info;
	int keywords_ok;
	struct buf *permanent;
	int exists_seen;
};

static int code_number(const struct imap_response *r, uint64_t max, uint64_t *out)
{
	if (r->code_args.n < 1 || imap_value_u64(&r->code_args.items[0], out) < 0 || *out > max)
		return -1;
	return 0;
}

static int on_select(struct imap_client *c, const struct imap_response *r, void *ctx,
		     char *err, size_t errlen)
{
	struct select_ctx *x = ctx;
	uint64_t v;
	if (r->kind == IMAP_RESP_TAGGED) {
		if (code_is(r, "READ-ONLY"))
			x->info->read_only = 1;
		return 0;
	}
	if (r->status == IMAP_STATUS_OK) {
		if (code_is(r, "UIDVALIDITY")) {
			if (code_number(r, UINT32_MAX, &v) < 0 || v == 0)
				goto bad;
			x->info->uidvalidity = (uint32_t)v;
		} else if (code_is(r, "UIDNEXT")) {
			if (code_number(r, UINT32_MAX, &v) < 0)
				goto bad;
			x->info->uidnext = (uint32_t)v;
		} else if (code_is(r, "HIGHESTMODSEQ")) {
			if (code_number(r, UINT64_MAX, &v) < 0)
				goto bad;
			x->info->highestmodseq = v;
		} else if (code_is(r, "PERMANENTFLAGS")) {
			/* a repeated one replaces the one before (not added to it) */
			const struct imap_value *l = r->code_args.n ? &r->code_args.items[0] : NULL;
			x->keywords_ok = 0;
			if (x->permanent)
				buf_reset(x->permanent);
			for (size_t i = 0; l && l->type == IMAP_LIST && i < l->n; i++) {
				const struct imap_value *fl = &l->items[i];
				if (imap_value_is(fl, "\\*"))
					x->keywords_ok = 1;
				else if (x->permanent && fl->type == IMAP_ATOM && fl->len && fl->data[0] != '\\' &&
					 x->permanent->len + fl->len + 1 <= MAX_PERMANENT) {
					if (x->permanent->len)
						buf_addch(x->permanent, ' ');
					buf_add(x->permanent, fl->data, fl->len);
				}
			}
		}
		return 0;
	}
	if (r->status == IMAP_STATUS_NONE && r->has_number && r->name && r->name_len == 6 &&
	    !strncasecmp(r->name, "EXISTS", 6)) {
		x->info->exists = r->number;
		x->exists_seen = 1;
	}
	return 0;
bad:
	snprintf(err, errlen, "%s: invalid number in SELECT response", imap_peer(c));
	return IMAP_ERR_PROTOCOL;
}

int imap_select(struct imap_client *c, const char *wire_name, int read_only,
		struct imap_select_info *info, int *keywords_ok, struct buf *permanent,
		char *err, size_t errlen)
{
	struct select_ctx x = { info, 1, permanent, 0 };
	const char *verb = read_only ? "EXAMINE" : "SELECT";
	unsigned tag;
	memset(info, 0, sizeof(*info));
	if (permanent) {
		buf_reset(permanent);
		buf_adds(permanent, "");
	}
	int rc = send_mailbox_command(c, verb, wire_name, &tag, err, errlen);
	if (rc == 0)
		rc = imap_wait_tagged(c, tag, on_select, &x, verb, err, errlen);
	if (rc < 0)
		return rc;
	if (!info->uidvalidity) {
		snprintf(err, errlen, "%s: server sent no UIDVALIDITY for the mailbox", imap_peer(c));
		return IMAP_ERR_NO;
	}
	/* EXISTS is required (RFC 3501 6.3.1), as in sync (imap_examine.c): without it the
	 * folder would be taken for empty, and a push without a state (first push, lost
	 * or damaged state) would skip the lookup and append again what it holds */
	if (!x.exists_seen) {
		snprintf(err, errlen, "%s: server sent no EXISTS for the mailbox", imap_peer(c));
		return IMAP_ERR_NO;
	}
	/* EXAMINE answers "PERMANENTFLAGS ()" (read-only), which says nothing about
	 * keywords: a dry run must plan as the real run will */
	if (keywords_ok)
		*keywords_ok = read_only ? 1 : x.keywords_ok;
	return 0;
}

/* ---- APPEND ---- */

void imap_format_internaldate(int64_t t, char *out)
{
	static const char months[][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	time_t tt = (time_t)t;
	if (!gmtime_r(&tt, &tm) || tm.tm_year + 1900 < 1 || tm.tm_year + 1900 > 9999) {
		memset(&tm, 0, sizeof(tm));
		tm.tm_mday = 1;
		tm.tm_year = 70;
	}
	char tmp[128];
	snprintf(tmp, sizeof(tmp), "%02d-%s-%04d %02d:%02d:%02d +0000", tm.tm_mday % 100,
		 months[tm.tm_mon % 12], (tm.tm_year + 1900) % 10000, tm.tm_hour % 100, tm.tm_min % 100,
		 tm.tm_sec % 100);
	memcpy(out, tmp, 26);
	out[26] = '\0';
}

int imap_append_pipelined(const struct imap_client *c, size_t len)
{
	unsigned caps = imap_caps(c);
	return (caps & IMAP_CAP_LITERALPLUS) || ((caps & IMAP_CAP_LITERALMINUS) && len <= 4096);
}

/* The completion of an APPEND (or its early refusal) into res. */
static int append_status(struct imap_client *c, const struct imap_response *r,
			 struct imap_append_result *res, char *err, size_t errlen)
{
	if (r->status == IMAP_STATUS_OK) {
		uint32_t uv, uid;
		if (code_is(r, "APPENDUID") && r->code_args.n == 2 &&
		    imap_value_u32(&r->code_args.items[0], &uv) == 0 &&
		    imap_value_u32(&r->code_args.items[1], &uid) == 0 && uv && uid) {
			res->uidvalidity = uv;
			res->uid = uid;
		}
		return 0;
	}
	if (r->status == IMAP_STATUS_NO || r->status == IMAP_STATUS_BAD) {
		char text[150], code[40] = "";
		imap_server_text(c, text, sizeof(text), r->text, r->text_len);
		if (r->code)
			imap_server_text(c, code, sizeof(code), r->code, r->code_len);
		snprintf(res->text, sizeof(res->text), "%s%s%s%s", code[0] ? "[" : "", code,
			 code[0] ? "] " : "", text);
		res->over_quota = code_is(r, "OVERQUOTA") ||
				  (r->code && imap_contains_ci(r->code, r->code_len, "quota")) ||
				  (r->text && imap_contains_ci(r->text, r->text_len, "quota"));
		res->trycreate = code_is(r, "TRYCREATE");
		snprintf(err, errlen, "%s: APPEND: server said %s: %s", imap_peer(c),
			 r->status == IMAP_STATUS_NO ? "NO" : "BAD", res->text);
		return IMAP_ERR_NO;
	}
	snprintf(err, errlen, "%s: APPEND: malformed tagged response", imap_peer(c));
	return IMAP_ERR_PROTOCOL;
}

/* Synchronizing literal: wait for "+" before sending the message (RFC 3501 §7.5),
 * unless it came already while earlier APPENDs were waited for. */
static int wait_continuation(struct imap_client *c, unsigned tag, struct imap_append_result *res,
			     char *err, size_t errlen)
{
	int64_t since = imap_mono_ms();
	if (c->cont_early) {
		c->cont_early = 0;
		return 0;
	}
	for (;;) {
		struct imap_response r;
		int rc = next_response(c, since, &r, "APPEND", err, errlen);
		if (rc < 0)
			return rc;
		if (r.kind == IMAP_RESP_CONTINUATION)
			return 0;
		if (r.kind == IMAP_RESP_TAGGED) {
			if (!tag_matches(&r, tag)) {
				snprintf(err, errlen, "%s: APPEND: response with unknown tag", imap_peer(c));
				return IMAP_ERR_PROTOCOL;
			}
			rc = append_status(c, &r, res, err, errlen);
			if (rc == 0) {
				snprintf(err, errlen, "%s: APPEND: completed before the message was sent",
					 imap_peer(c));
				return IMAP_ERR_PROTOCOL;
			}
			return rc;
		}
	}
}

/* The literal of q after out (the command so far, written first when either is
 * big): q->data, or q->read's bytes, which must be exactly q->len. Once its size
 * is on the wire, a failure leaves the connection dead. */
static int put_literal(struct imap_client *c, struct buf *out, const struct imap_append_req *q, char *err,
		       size_t errlen)
{
	size_t left = q->len;
	int rc = 0;
	if (q->data) {
		if (q->len <= 65536) {
			buf_add(out, q->data, q->len);
			return 0;
		}
		if (out->len && (rc = imap_write(c, out->data, out->len, err, errlen)) < 0)
			return rc;
		buf_reset(out);
		return imap_write(c, q->data, q->len, err, errlen);
	}
	while (rc == 0) {
		char extra;
		/* the message's end is checked too: one byte more is one too many */
		size_t want = left < 65536 ? left : 65536;
		buf_grow(out, want + 1);
		ssize_t k = q->read(q->read_ctx, want ? out->data + out->len : &extra, want ? want : 1, err, errlen);
		if (k < 0 || (k == 0 && left) || (k > 0 && !left)) {
			if (k >= 0)
				snprintf(err, errlen, "%s: APPEND: the message changed while it was sent (%zu bytes "
					 "announced); connection closed", imap_peer(c), q->len);
			c->dead = 1;
			return IMAP_ERR_NET;
		}
		if (!left)
			break;
		out->len += (size_t)k;
		left -= (size_t)k;
		if (out->len >= 65536) {
			rc = imap_write(c, out->data, out->len, err, errlen);
			buf_reset(out);
		}
	}
	return rc;
}

int imap_append_send(struct imap_client *c, const struct imap_append_req *req, unsigned *tag,
		     struct imap_append_result *res, int (*before_cont)(void *ctx), void *ctx,
		     char *err, size_t errlen)
{
	struct buf cmd = BUF_INIT;
	int nonsync = imap_append_pipelined(c, req->len);
	int rc;
	memset(res, 0, sizeof(*res));
	*tag = ++c->tagno;
	buf_addf(&cmd, "a%u APPEND ", *tag);
	if (imap_add_quoted(&cmd, req->wire_name) < 0) {
		snprintf(err, errlen, "%s: mailbox name cannot be quoted", imap_peer(c));
		rc = IMAP_ERR_LOCAL;
		goto out;
	}
	if (req->flags && *req->flags) {
		if (strpbrk(req->flags, "\r\n()")) {
			snprintf(err, errlen, "%s: APPEND: invalid flag list", imap_peer(c));
			rc = IMAP_ERR_LOCAL;
			goto out;
		}
		buf_addf(&cmd, " (%s)", req->flags);
	}
	if (req->date != INT64_MIN) {
		char date[32];
		imap_format_internaldate(req->date, date);
		buf_addf(&cmd, " \"%s\"", date);
	}
	buf_addf(&cmd, " {%zu%s}", req->len, nonsync ? "+" : "");
	log_debug("%s: C: %s <%zu bytes>", imap_peer(c), cmd.data, req->len);
	buf_adds(&cmd, "\r\n");
	if (!nonsync) {
		/* the earlier APPENDs' answers come first (the server finishes them
		 * before it reads this command): one round trip per message, not two */
		c->cont_tag = *tag;
		c->cont_early = 0;
		rc = imap_write(c, cmd.data, cmd.len, err, errlen);
		if (rc == 0 && before_cont)
			rc = before_cont(ctx);
		if (rc == 0)
			rc = wait_continuation(c, *tag, res, err, errlen);
		c->cont_tag = 0;
		if (rc < 0)
			goto out;
		buf_reset(&cmd);
	}
	/* small messages go out with their command in one write */
	rc = put_literal(c, &cmd, req, err, errlen);
	if (rc == 0) {
		buf_adds(&cmd, "\r\n");
		rc = imap_write(c, cmd.data, cmd.len, err, errlen);
	}
out:
	buf_free(&cmd);
	return rc;
}

int imap_append_wait(struct imap_client *c, unsigned tag, struct imap_append_result *res,
		     char *err, size_t errlen)
{
	int64_t since = imap_mono_ms();
	memset(res, 0, sizeof(*res));
	for (;;) {
		struct imap_response r;
		int rc = next_response(c, since, &r, "APPEND", err, errlen);
		if (rc < 0)
			return rc;
		if (r.kind == IMAP_RESP_CONTINUATION && c->cont_tag && !c->cont_early) {
			c->cont_early = 1; /* the next APPEND's, come before this answer */
			continue;
		}
		if (r.kind == IMAP_RESP_CONTINUATION) {
			snprintf(err, errlen, "%s: APPEND: unexpected continuation request", imap_peer(c));
			return IMAP_ERR_PROTOCOL;
		}
		if (r.kind != IMAP_RESP_TAGGED)
			continue; /* EXISTS, RECENT, FETCH of the selected mailbox */
		if (!tag_matches(&r, tag)) {
			snprintf(err, errlen, "%s: APPEND: response with unknown tag", imap_peer(c));
			return IMAP_ERR_PROTOCOL;
		}
		return append_status(c, &r, res, err, errlen);
	}
}

/* ---- MULTIAPPEND ---- */

int imap_multiappend_ok(const struct imap_client *c)
{
	return (imap_caps(c) & IMAP_CAP_MULTIAPPEND) && (imap_caps(c) & IMAP_CAP_LITERALPLUS);
}

/* Flush out when it holds more than `keep` bytes. */
static int flush_out(struct imap_client *c, struct buf *out, size_t keep, char *err, size_t errlen)
{
	int rc = 0;
	if (out->len > keep) {
		rc = imap_write(c, out->data, out->len, err, errlen);
		buf_reset(out);
	}
	return rc;
}

struct uid_list {
	uint32_t *uids;
	size_t n, max;
};

static int add_uid_range(uint32_t lo, uint32_t hi, void *ctx)
{
	struct uid_list *l = ctx;
	for (uint64_t u = lo; u <= hi; u++) {
		if (l->n == l->max)
			return -1;
		l->uids[l->n++] = (uint32_t)u;
	}
	return 0;
}

/* Write the MULTIAPPEND of reqs[0..n) (RFC 3502) with tag through out: the
 * flags checked first, then each message as a LITERAL+ literal. */
static int multiappend_send(struct imap_client *c, struct buf *out, unsigned tag,
			    const struct imap_append_req *reqs, size_t n, char *err, size_t errlen)
{
	int rc = 0;
	buf_addf(out, "a%u APPEND ", tag);
	if (!n || imap_add_quoted(out, reqs[0].wire_name) < 0) {
		snprintf(err, errlen, "%s: MULTIAPPEND: nothing to send or unquotable mailbox name", imap_peer(c));
		rc = IMAP_ERR_LOCAL;
		return rc;
	}
	/* checked before a byte is sent: the command cannot be left half-written */
	for (size_t i = 0; i < n; i++) {
		if (reqs[i].flags && strpbrk(reqs[i].flags, "\r\n()")) {
			snprintf(err, errlen, "%s: APPEND: invalid flag list", imap_peer(c));
			rc = IMAP_ERR_LOCAL;
			return rc;
		}
	}
	log_debug("%s: C: %s <%zu messages>", imap_peer(c), out->data, n);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct imap_append_req *q = &reqs[i];
		if (q->flags && *q->flags)
			buf_addf(out, " (%s)", q->flags);
		if (q->date != INT64_MIN) {
			char date[32];
			imap_format_internaldate(q->date, date);
			buf_addf(out, " \"%s\"", date);
		}
		buf_addf(out, " {%zu+}\r\n", q->len);
		/* small messages are gathered, big ones written as they come */
		rc = put_literal(c, out, q, err, errlen);
		if (rc == 0)
			rc = flush_out(c, out, 65536, err, errlen);
	}
	buf_adds(out, "\r\n");
	if (rc == 0)
		rc = flush_out(c, out, 0, err, errlen);
	return rc;
}

/* Read the answer to the MULTIAPPEND tag up to its completion: res from its
 * status, uids[0..n) from its APPENDUID (all 0 without a usable one). */
static int multiappend_wait(struct imap_client *c, unsigned tag, size_t n, uint32_t *uids,
			    struct imap_append_result *res, char *err, size_t errlen)
{
	int64_t since;
	int rc;
	since = imap_mono_ms();
	for (;;) {
		struct imap_response r;
		if ((rc = next_response(c, since, &r, "APPEND", err, errlen)) < 0)
			return rc;
		if (r.kind == IMAP_RESP_CONTINUATION) {
			snprintf(err, errlen, "%s: APPEND: unexpected continuation request", imap_peer(c));
			rc = IMAP_ERR_PROTOCOL;
			return rc;
		}
		if (r.kind != IMAP_RESP_TAGGED)
			continue;
		if (!tag_matches(&r, tag)) {
			snprintf(err, errlen, "%s: APPEND: response with unknown tag", imap_peer(c));
			rc = IMAP_ERR_PROTOCOL;
			return rc;
		}
		rc = append_status(c, &r, res, err, errlen);
		/* "[APPENDUID uv 5:9,12]": the UIDs in the order of the messages (RFC 4315 §3) */
		struct uid_list l = { uids, 0, n };
		uint32_t uv;
		if (rc == 0 && code_is(&r, "APPENDUID") && r.code_args.n == 2 &&
		    imap_value_u32(&r.code_args.items[0], &uv) == 0 && uv &&
		    r.code_args.items[1].type == IMAP_ATOM &&
		    imap_parse_seqset(r.code_args.items[1].data, r.code_args.items[1].len, 0, add_uid_range, &l) == 0 &&
		    l.n == n)
			res->uidvalidity = uv;
		else
			memset(uids, 0, n * sizeof(*uids));
		return rc;
	}
}

int imap_multiappend(struct imap_client *c, const struct imap_append_req *reqs, size_t n, uint32_t *uids,
		     struct imap_append_result *res, char *err, size_t errlen)
{
	struct buf out = BUF_INIT;
	unsigned tag = ++c->tagno;
	int rc = 0;
	memset(res, 0, sizeof(*res));
	memset(uids, 0, n * sizeof(*uids));
	rc = multiappend_send(c, &out, tag, reqs, n, err, errlen);
	if (rc == 0)
		rc = multiappend_wait(c, tag, n, uids, res, err, errlen);
	buf_free(&out);
	return rc;
}

/* ---- STORE, EXPUNGE ---- */

int imap_command_wait(struct imap_client *c, unsigned tag, const char *what, char *err, size_t errlen)
{
	return imap_wait_tagged(c, tag, NULL, NULL, what, err, errlen);
}

int imap_uid_store_send(struct imap_client *c, const char *uidset, const char *op, const char *flags,
			unsigned *tag, char *err, size_t errlen)
{
	if (strpbrk(flags, "()")) {
		snprintf(err, errlen, "%s: UID STORE: invalid flag list", imap_peer(c));
		return IMAP_ERR_LOCAL;
	}
	return imap_send_command(c, tag, err, errlen, "UID STORE %s %s (%s)", uidset, op, flags);
}

static int count_range(uint32_t lo, uint32_t hi, void *ctx)
{
	*(uint64_t *)ctx += (uint64_t)hi - lo + 1;
	return 0;
}

/* UID EXPUNGE's own answers (EXPUNGE or VANISHED responses), at most one per
 * UID of its set, are progress: a slow server's long expunge is waited for,
 * one that repeats them for ever is not. */
struct expunge_ctx {
	uint64_t left;
};

static int on_expunge(struct imap_client *c, const struct imap_response *r, void *ctx, char *err, size_t errlen)
{
	struct expunge_ctx *x = ctx;
	if (r->kind != IMAP_RESP_UNTAGGED || r->status != IMAP_STATUS_NONE || !r->name || !x->left)
		return 0;
	if ((r->has_number && r->name_len == 7 && !strncasecmp(r->name, "EXPUNGE", 7)) ||
	    (!r->has_number && r->name_len == 8 && !strncasecmp(r->name, "VANISHED", 8))) {
		x->left--;
		return IMAP_DATA;
	}
	return 0;
}

int imap_uid_expunge(struct imap_client *c, const char *uidset, char *err, size_t errlen)
{
	unsigned tag;
	struct expunge_ctx x = { 0 };
	if (imap_parse_seqset(uidset, strlen(uidset), 0, count_range, &x.left) < 0)
		x.left = 0;
	int rc = imap_send_command(c, &tag, err, errlen, "UID EXPUNGE %s", uidset);
	if (rc < 0)
		return rc;
	return imap_wait_tagged(c, tag, on_expunge, &x, "UID EXPUNGE", err, errlen);
}
