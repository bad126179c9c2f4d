/* IMAP client, mailbox commands: LIST, STATUS, EXAMINE (with QRESYNC), UID
 * FETCH (bodies streamed to a sink), UID SEARCH. */
#include "mailkeep/imap.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailkeep/log.h"
#include "mailkeep/maildir.h"
#include "mailkeep/utf7.h"

#include "imap_internal.h"

#define MAX_KEYWORDS 4096                /* bytes of keywords kept per message */
/* Mailboxes one LIST may name: far more than any real account, and a bound on
 * what a server repeating LIST lines without end costs (~200 bytes each). */
#define MAX_MAILBOXES 100000
/* How far back a LIST-STATUS answer is matched with the mailboxes listed
 * (RFC 5819: servers send it right after the mailbox's LIST line): a bound on
 * the work a server sending STATUS for unlisted names can cause. */
#define STATUS_LOOKBACK 64

/* Warnings about LIST lines left out, per LIST; the rest are only counted. */
#define LIST_WARNINGS 10

/* ---- LIST ---- */

int imap_list_warn_ok(struct imap_client *c)
{
	if (++c->n_list_warned <= LIST_WARNINGS)
		return 1;
	if (c->n_list_warned == LIST_WARNINGS + 1)
		log_warn("%s: more LIST lines were ignored; not shown", imap_peer(c));
	return 0;
}

/* RFC 6154 attributes, sent by servers with SPECIAL-USE in every LIST or on request. */
static unsigned special_bit(const struct imap_value *f)
{
	static const struct { const char *name; unsigned bit; } map[] = {
		{ "\\Sent", IMAP_SPECIAL_SENT }, { "\\Drafts", IMAP_SPECIAL_DRAFTS },
		{ "\\Trash", IMAP_SPECIAL_TRASH }, { "\\Junk", IMAP_SPECIAL_JUNK },
		{ "\\Archive", IMAP_SPECIAL_ARCHIVE }, { "\\All", IMAP_SPECIAL_ALL },
		{ "\\Flagged", IMAP_SPECIAL_FLAGGED },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (imap_value_is(f, map[i].name))
			return map[i].bit;
	return 0;
}

int imap_on_list(struct imap_client *c, const struct imap_response *r, void *ctx,
		 char *err, size_t errlen)
{
	struct imap_mailbox_list *l = ctx;
	if (r->kind != IMAP_RESP_UNTAGGED || r->status != IMAP_STATUS_NONE || !r->name ||
	    r->name_len != 4 || strncasecmp(r->name, "LIST", 4))
		return 0;
	const struct imap_value *a = &r->args;
	if (a->n < 3 || a->items[0].type != IMAP_LIST ||
	    (a->items[1].type != IMAP_STRING && a->items[1].type != IMAP_NIL) ||
	    (a->items[2].type != IMAP_STRING && a->items[2].type != IMAP_ATOM)) {
		if (imap_list_warn_ok(c))
			log_warn("%s: ignoring malformed LIST response", imap_peer(c));
		l->n_ignored++;
		return 0;
	}
	const struct imap_value *name = &a->items[2];
	if (!name->len || memchr(name->data, '\0', name->len)) {
		if (imap_list_warn_ok(c))
			log_warn("%s: ignoring a mailbox with an empty or invalid name", imap_peer(c));
		l->n_ignored++;
		return 0;
	}
	if (l->n >= MAX_MAILBOXES) {
		snprintf(err, errlen, "%s: LIST names more than %d mailboxes", imap_peer(c), MAX_MAILBOXES);
		return IMAP_ERR_PROTOCOL;
	}
	struct imap_mailbox mb = { 0 };
	for (size_t i = 0; i < a->items[0].n; i++) {
		const struct imap_value *f = &a->items[0].items[i];
		if (imap_value_is(f, "\\Noselect"))
			mb.flags |= IMAP_MBOX_NOSELECT;
		else if (imap_value_is(f, "\\NonExistent"))
			mb.flags |= IMAP_MBOX_NOSELECT | IMAP_MBOX_NONEXISTENT;
		else
			mb.special |= special_bit(f);
	}
	if (a->items[1].type == IMAP_STRING && a->items[1].len == 1)
		mb.delim = a->items[1].data[0];
	else if (a->items[1].type == IMAP_STRING && a->items[1].len > 1) { /* "": as NIL, flat */
		if (imap_list_warn_ok(c))
			log_warn("%s: ignoring LIST response with an invalid delimiter", imap_peer(c));
		l->n_ignored++;
		return 0;
	}
	mb.name = xstrndup(name->data, name->len);
	if (!strcasecmp(mb.name, "INBOX")) {
		free(mb.name);
		mb.name = xstrdup("INBOX");
	}
	if (utf7_decode(mb.name, strlen(mb.name), &mb.utf8) < 0)
		mb.utf8 = NULL;
	if (mb.delim && !c->delim)
		c->delim = mb.delim;
	/* doubling (the array is full when n is 0 or a power of two): one realloc
	 * per listed name copied the array each time under allocators that do not
	 * grow in place (ASan's): a LIST of 100000 names took minutes */
	if (!(l->n & (l->n - 1)))
		l->items = xrealloc(l->items, (l->n ? 2 * l->n : 1) * sizeof(*l->items));
	l->items[l->n++] = mb;
	return IMAP_DATA; /* bounded by MAX_MAILBOXES */
}

static int on_status(struct imap_client *c, const struct imap_response *r, void *ctx,
		     char *err, size_t errlen);

/* Does the mailbox name V of a response name the mailbox NAME (INBOX in any
 * case)? */
static int names_mailbox(const struct imap_value *v, const char *name)
{
	if (!v || (v->type != IMAP_STRING && v->type != IMAP_ATOM) || strlen(name) != v->len)
		return 0;
	return !memcmp(name, v->data, v->len) ||
	       (!strcasecmp(name, "INBOX") && !strncasecmp(v->data, "INBOX", 5));
}

/* LIST with RETURN (STATUS ...): a STATUS response gives its numbers to the
 * mailbox of that name (normally the one just listed). */
static int on_list_status(struct imap_client *c, const struct imap_response *r, void *ctx,
			  char *err, size_t errlen)
{
	struct imap_mailbox_list *l = ctx;
	if (r->kind != IMAP_RESP_UNTAGGED || r->status != IMAP_STATUS_NONE || !r->name ||
	    r->name_len != 6 || strncasecmp(r->name, "STATUS", 6))
		return imap_on_list(c, r, ctx, err, errlen);
	struct imap_status_info st = { 0 };
	const struct imap_value *name = r->args.n ? &r->args.items[0] : NULL;
	int rc = on_status(c, r, &st, err, errlen);
	if (rc < 0) {
		/* that folder gets no numbers (so it is examined); the others keep theirs */
		if (imap_list_warn_ok(c))
			log_warn("%s; ignored", err);
		return 0;
	}
	for (size_t i = l->n; i-- > 0 && l->n - i <= STATUS_LOOKBACK;) {
		if (names_mailbox(name, l->items[i].name)) {
			l->items[i].status = st;
			l->items[i].status.ok = 1;
			break;
		}
	}
	return 0;
}

/* "* ENABLED QRESYNC": only then is QRESYNC on (RFC 5161); an OK alone
 * enables nothing. */
static int on_enabled(struct imap_client *c, const struct imap_response *r, void *ctx,
		      char *err, size_t errlen)
{
	int *seen = ctx;
	if (r->kind != IMAP_RESP_UNTAGGED || r->status != IMAP_STATUS_NONE || !r->name ||
	    r->name_len != 7 || strncasecmp(r->name, "ENABLED", 7))
		return 0;
	for (size_t i = 0; i < r->args.n; i++) {
		const struct imap_value *v = &r->args.items[i];
		if (v->type == IMAP_ATOM && v->len == 7 && !strncasecmp(v->data, "QRESYNC", 7))
			*seen = 1;
	}
	return 0;
}

struct listed_name {
	const char *name;
	size_t i;
};

static int cmp_listed_name(const void *x, const void *y)
{
	const struct listed_name *a = x, *b = y;
	int r = strcmp(a->name, b->name);
	return r ? r : (a->i > b->i) - (a->i < b->i);
}

/* A mailbox the server listed twice (INBOX as "INBOX" and "Inbox", Cyrus's
 * shared folders under altnamespace) is one mailbox: kept once, where it was
 * first listed, with what either line said of it. Taken for two folders, the
 * second "mapped to the same directory" as the first and failed every run. */
static void drop_listed_twice(struct imap_client *c, struct imap_mailbox_list *l)
{
	struct listed_name *ln = xmalloc((l->n + 1) * sizeof(*ln));
	unsigned char *dup = xcalloc(l->n + 1, 1);
	size_t n = 0;
	for (size_t i = 0; i < l->n; i++)
		ln[i] = (struct listed_name){ l->items[i].name, i };
	qsort(ln, l->n, sizeof(*ln), cmp_listed_name);
	for (size_t k = 1; k < l->n; k++) {
		if (strcmp(ln[k].name, ln[k - 1].name))
			continue;
		struct imap_mailbox *first = &l->items[ln[k - 1].i], *again = &l->items[ln[k].i];
		ln[k].i = ln[k - 1].i; /* a third line merges into the first too */
		/* selectable when either line says so: a \Noselect line names no mail */
		if (!(again->flags & IMAP_MBOX_NOSELECT))
			first->flags &= ~(unsigned)(IMAP_MBOX_NOSELECT | IMAP_MBOX_NONEXISTENT);
		first->special |= again->special;
		if (!first->status.ok)
			first->status = again->status;
		dup[again - l->items] = 1;
	}
	for (size_t i = 0; i < l->n; i++) {
		if (!dup[i]) {
			l->items[n++] = l->items[i];
			continue;
		}
		log_debug("%s: mailbox \"%s\" listed again; taken once", imap_peer(c), l->items[i].name);
		free(l->items[i].name);
		free(l->items[i].utf8);
	}
	l->n = n;
	free(ln);
	free(dup);
}

int imap_list(struct imap_client *c, struct imap_mailbox_list *out, void (*while_waiting)(void *ctx),
	      void *ctx, char *err, size_t errlen)
{
	unsigned tag, etag = 0;
	int rc = 0;
	memset(out, 0, sizeof(*out));
	/* ENABLE QRESYNC rides along in the same round trip (RFC 7162 §3.2.3) */
	if ((imap_caps(c) & IMAP_CAP_QRESYNC) && (imap_caps(c) & IMAP_CAP_ENABLE) && !c->qresync)
		rc = imap_send_command(c, &etag, err, errlen, "ENABLE QRESYNC");
	out->with_status = (imap_caps(c) & IMAP_CAP_LIST_STATUS) && (imap_caps(c) & IMAP_CAP_CONDSTORE);
	if (rc == 0 && out->with_status)
		rc = imap_send_command(c, &tag, err, errlen, "LIST \"\" \"*\" RETURN (STATUS "
				       "(UIDVALIDITY UIDNEXT MESSAGES HIGHESTMODSEQ))");
	else if (rc == 0)
		rc = imap_send_command(c, &tag, err, errlen, "LIST \"\" \"*\"");
	if (rc < 0)
		return rc;
	if (while_waiting)
		while_waiting(ctx);
	if (etag) {
		int seen = 0;
		rc = imap_wait_tagged(c, etag, on_enabled, &seen, "ENABLE", err, errlen);
		if (rc == 0 && seen)
			c->qresync = 1;
		else if (rc < 0 && rc != IMAP_ERR_NO)
			return rc;
	}
	/* a line that does not parse names a folder that cannot be synced: the
	 * others can (counted as ignored, so the run says it failed) */
	c->skip_unparsable = 1;
	c->n_unparsable = 0;
	c->n_list_warned = 0;
	rc = imap_wait_tagged(c, tag, out->with_status ? on_list_status : imap_on_list, out, "LIST",
			      err, errlen);
	if (rc == IMAP_ERR_NO && out->with_status) { /* advertised but refused: plain LIST */
		log_info("%s: LIST-STATUS refused (%s); using LIST and STATUS", imap_peer(c), err);
		imap_mailbox_list_free(out);
		c->n_unparsable = 0;
		rc = imap_send_command(c, &tag, err, errlen, "LIST \"\" \"*\"");
		if (rc == 0)
			rc = imap_wait_tagged(c, tag, imap_on_list, out, "LIST", err, errlen);
	}
	c->skip_unparsable = 0;
	out->n_ignored += c->n_unparsable;
	if (rc < 0)
		imap_mailbox_list_free(out);
	else
		drop_listed_twice(c, out);
	return rc;
}

void imap_mailbox_list_free(struct imap_mailbox_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].name);
		free(l->items[i].utf8);
	}
	free(l->items);
	memset(l, 0, sizeof(*l));
}

/* ---- FETCH ---- */

static int month_index(const char *m)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	for (int i = 0; i < 12; i++)
		if (!strncasecmp(m, months + 3 * i, 3))
			return i;
	return -1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int imap_parse_internaldate(const char *s, size_t len, int64_t *out)
{
	/* dd-Mon-yyyy hh:mm:ss +zzzz ; day may be " d" */
	char b[27];
	int day, year, hh, mm, ss, zh, zm;
	if (len != 26)
		return -1;
	memcpy(b, s, 26);
	b[26] = '\0';
	if (b[0] == ' ')
		b[0] = '0';
	if (digits(b, 2, &day) < 0 || b[2] != '-' || b[6] != '-' || b[11] != ' ' || b[14] != ':' ||
	    b[17] != ':' || b[20] != ' ' || (b[21] != '+' && b[21] != '-'))
		return -1;
	int mon = month_index(b + 3);
	if (mon < 0 || digits(b + 7, 4, &year) < 0 || digits(b + 12, 2, &hh) < 0 ||
	    digits(b + 15, 2, &mm) < 0 || digits(b + 18, 2, &ss) < 0 || digits(b + 22, 2, &zh) < 0 ||
	    digits(b + 24, 2, &zm) < 0)
		return -1;
	if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 || zh > 23 || zm > 59)
		return -1;
	int64_t t = days_from_civil(year, (unsigned)mon + 1, (unsigned)day) * 86400 + hh * 3600 +
		    mm * 60 + ss;
	int64_t off = (int64_t)zh * 3600 + zm * 60;
	*out = b[21] == '+' ? t - off : t + off;
	return 0;
}

/* Keywords are kept only when they are plain atoms we can store safely. */
static int keyword_ok(const struct imap_value *v)
{
	if (v->type != IMAP_ATOM || !v->len || v->len > 128)
		return 0;
	for (size_t i = 0; i < v->len; i++) {
		unsigned char ch = (unsigned char)v->data[i];
		if (ch <= 0x20 || ch >= 0x7f || strchr("(){%*\"]", ch))
			return 0;
	}
	return 1;
}

/* The body item of a FETCH list: BODY[] or BINARY[] (*origin = 0), or the
 * same with the origin <0> (*origin = 1); NULL when there is none. */
static const struct imap_value *body_item(const struct imap_value *list, int *origin)
{
	static const char *const items[] = { "BODY[]", "BINARY[]", "BODY[]<0>", "BINARY[]<0>" };
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		const struct imap_value *v = imap_fetch_item(list, items[i]);
		if (v) {
			*origin = i >= 2;
			return v;
		}
	}
	return NULL;
}

struct fetch_ctx {
	const struct imap_fetch_cb *cb;
	struct buf keywords;
	int failed;
	unsigned keyword_warnings; /* messages warned about (the first few of a command) */
};

/* Warnings about keywords not kept, per command: the rest are not shown (a
 * server repeating such answers must not flood the output). */
#define KEYWORD_WARNINGS 10

static int on_fetch(struct imap_client *c, const struct imap_response *r, void *ctx,
		    char *err, size_t errlen)
{
	struct fetch_ctx *fc = ctx;
	if (r->kind == IMAP_RESP_TAGGED)
		return 0;
	if (r->status != IMAP_STATUS_NONE || !r->name || r->name_len != 5 ||
	    strncasecmp(r->name, "FETCH", 5) || !r->has_number)
		return 0;
	if (r->args.n != 1 || r->args.items[0].type != IMAP_LIST) {
		snprintf(err, errlen, "%s: malformed FETCH response", imap_peer(c));
		return IMAP_ERR_PROTOCOL;
	}
	const struct imap_value *list = &r->args.items[0];
	struct imap_msg m = { .keywords = "", .internaldate = INT64_MIN };
	const struct imap_value *v;
	if ((v = imap_fetch_item(list, "UID")) != NULL) {
		if (imap_value_u32(v, &m.uid) < 0 || m.uid == 0) {
			snprintf(err, errlen, "%s: invalid UID in FETCH response", imap_peer(c));
			return IMAP_ERR_PROTOCOL;
		}
	}
	if ((v = imap_fetch_item(list, "FLAGS")) != NULL) {
		if (v->type != IMAP_LIST) {
			snprintf(err, errlen, "%s: invalid FLAGS in FETCH response", imap_peer(c));
			return IMAP_ERR_PROTOCOL;
		}
		buf_reset(&fc->keywords);
		m.has_flags = 1;
		size_t too_many = 0;
		for (size_t i = 0; i < v->n; i++) {
			const struct imap_value *f = &v->items[i];
			if (f->type != IMAP_ATOM)
				continue;
			unsigned bit = maildir_flag_from_imap(f->data, f->len);
			if (bit) {
				m.flags |= bit;
			} else if (f->len && f->data[0] != '\\' && keyword_ok(f)) {
				if (fc->keywords.len + f->len + 1 >= MAX_KEYWORDS) {
					too_many++;
					continue;
				}
				if (fc->keywords.len)
					buf_addch(&fc->keywords, ' ');
				buf_add(&fc->keywords, f->data, f->len);
			}
		}
		if (too_many && ++fc->keyword_warnings <= KEYWORD_WARNINGS)
			log_warn("%s: UID %" PRIu32 ": %zu keywords beyond the first %d bytes of them are not kept",
				 imap_peer(c), m.uid, too_many, MAX_KEYWORDS);
		else if (too_many && fc->keyword_warnings == KEYWORD_WARNINGS + 1)
			log_warn("%s: keywords not kept of more messages; not shown", imap_peer(c));
		m.keywords = fc->keywords.data ? fc->keywords.data : "";
	}
	if ((v = imap_fetch_item(list, "INTERNALDATE")) != NULL) {
		if (v->type != IMAP_STRING || imap_parse_internaldate(v->data, v->len, &m.internaldate) < 0) {
			snprintf(err, errlen, "%s: invalid INTERNALDATE in FETCH response", imap_peer(c));
			return IMAP_ERR_PROTOCOL;
		}
	}
	if ((v = imap_fetch_item(list, "MODSEQ")) != NULL) {
		if (v->type != IMAP_LIST || v->n != 1 || imap_value_u64(&v->items[0], &m.modseq) < 0) {
			snprintf(err, errlen, "%s: invalid MODSEQ in FETCH response", imap_peer(c));
			return IMAP_ERR_PROTOCOL;
		}
	}
	if ((v = imap_fetch_item(list, "X-GM-MSGID")) != NULL) {
		if (imap_value_u64(v, &m.gm_msgid) < 0 || m.gm_msgid == 0) {
			snprintf(err, errlen, "%s: invalid X-GM-MSGID in FETCH response", imap_peer(c));
			return IMAP_ERR_PROTOCOL;
		}
	}
	m.rfc822_size = UINT64_MAX; /* only a hint (Gmail dedupe): a bad one is ignored */
	if ((v = imap_fetch_item(list, "RFC822.SIZE")) == NULL || imap_value_u64(v, &m.rfc822_size) < 0)
		m.rfc822_size = UINT64_MAX;
	int origin = 0;
	if (c->streamed) {
		/* the literal streamed must be the one the parser took for the body
		 * item (the framing only guessed): its empty stand-in, in place */
		v = body_item(list, &origin);
		if (!v || v->type != IMAP_STRING || v->len || v->data != c->resp.data + c->streamed_at) {
			snprintf(err, errlen, "%s: a literal taken for a message body is not the FETCH's body item",
				 imap_peer(c));
			return IMAP_ERR_PROTOCOL;
		}
		m.has_body = 1;
		m.body_size = c->streamed_size;
		origin = c->streamed_origin;
	} else if ((v = body_item(list, &origin)) != NULL) {
		if (v->type == IMAP_NIL) {
			m.body_nil = !origin;
		} else if (v->type == IMAP_STRING && c->sink && !c->sink_failed && m.uid) {
			/* a body not sent as a literal (a quoted string is a legal
			 * nstring): fed to the sink as a streamed one would be */
			if (c->sink->on_body_begin(c->sink->ctx, v->len, c->sink_err, sizeof(c->sink_err)) != 0 ||
			    (v->len && c->sink->on_body_data(c->sink->ctx, v->data, v->len, c->sink_err,
							     sizeof(c->sink_err)) != 0))
				c->sink_failed = 1;
			m.has_body = 1;
			m.body_size = v->len;
		}
	}
	if (m.has_body && origin && m.rfc822_size != m.body_size) {
		/* An origin marks the answer to a request for part of a body (RFC 3501
		 * §7.4.2), which we never make: it is the whole body only when the
		 * RFC822.SIZE beside it says so. Else it may be cut short, and a
		 * truncated message must not be stored as the message. */
		m.has_body = 0;
		m.body_partial = 1;
	}
	if (c->sink_failed) {
		fc->failed = 1;
		snprintf(err, errlen, "%s", c->sink_err);
		return IMAP_ERR_LOCAL;
	}
	if (!m.uid) /* unsolicited FETCH (flags changed by someone else): ignored */
		return 0;
	if (fc->cb->on_message) {
		int crc = fc->cb->on_message(fc->cb->ctx, &m, err, errlen);
		if (crc != 0) {
			fc->failed = 1;
			/* the callback found the server hostile: the connection is dropped */
			return crc == IMAP_ERR_PROTOCOL ? IMAP_ERR_PROTOCOL : IMAP_ERR_LOCAL;
		}
	}
	return IMAP_DATA; /* bounded by imap_wait_tagged's FETCH count */
}

static int fetch_wait(struct imap_client *c, unsigned tag, const struct imap_fetch_cb *cb,
		      char *err, size_t errlen)
{
	struct fetch_ctx fc = { .cb = cb, .keywords = BUF_INIT };
	c->sink = cb->on_body_begin ? cb : NULL;
	c->sink_failed = 0;
	int rc = imap_wait_tagged(c, tag, on_fetch, &fc, "UID FETCH", err, errlen);
	c->sink = NULL;
	buf_free(&fc.keywords);
	return rc;
}

int imap_uid_fetch_send(struct imap_client *c, const char *uidset, const char *items, unsigned *tag,
			char *err, size_t errlen)
{
	return imap_send_command(c, tag, err, errlen, "UID FETCH %s %s", uidset, items);
}

int imap_uid_fetch_wait(struct imap_client *c, unsigned tag, const struct imap_fetch_cb *cb,
			char *err, size_t errlen)
{
	return fetch_wait(c, tag, cb, err, errlen);
}

static int discard_begin(void *ctx, uint64_t size, char *err, size_t errlen)
{
	return 0;
}

static int discard_data(void *ctx, const char *data, size_t len, char *err, size_t errlen)
{
	return 0;
}

int imap_uid_fetch_discard(struct imap_client *c, unsigned tag)
{
	static const struct imap_fetch_cb drop = { discard_begin, discard_data, NULL, NULL };
	char err[256];
	return fetch_wait(c, tag, &drop, err, sizeof(err));
}

int imap_uid_fetch(struct imap_client *c, const char *uidset, const char *items,
		   const struct imap_fetch_cb *cb, char *err, size_t errlen)
{
	unsigned tag;
	int rc = imap_send_command(c, &tag, err, errlen, "UID FETCH %s %s", uidset, items);
	if (rc < 0)
		return rc;
	return fetch_wait(c, tag, cb, err, errlen);
}

void imap_uidset(struct buf *out, const uint32_t *uids, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		if (out->len && out->data[out->len - 1] != ' ')
			buf_addch(out, ',');
		if (j == i)
			buf_addf(out, "%" PRIu32, uids[i]);
		else
			buf_addf(out, "%" PRIu32 ":%" PRIu32, uids[i], uids[j]);
		i = j + 1;
	}
}

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
		return on_fetch(c, r, &x->fetch, err, errlen);
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
	return on_fetch(c, r, &fs->fc, err, errlen);
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
		buf_free(&fs.fc.keywords);
	} else if (sent->ftag) {
		frc = fetch_wait(c, sent->ftag, req->cb, ferr, sizeof(ferr));
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

/* ---- STATUS ---- */

static int on_status(struct imap_client *c, const struct imap_response *r, void *ctx,
		     char *err, size_t errlen)
{
	struct imap_status_info *st = ctx;
	if (r->kind != IMAP_RESP_UNTAGGED || r->status != IMAP_STATUS_NONE || !r->name ||
	    r->name_len != 6 || strncasecmp(r->name, "STATUS", 6))
		return 0;
	const struct imap_value *a = &r->args;
	if (a->n != 2 || a->items[1].type != IMAP_LIST)
		goto bad;
	const struct imap_value *l = &a->items[1];
	for (size_t i = 0; i + 1 < l->n; i += 2) {
		const struct imap_value *k = &l->items[i], *v = &l->items[i + 1];
		uint64_t n;
		if (imap_value_u64(v, &n) < 0)
			goto bad;
		if (imap_value_is(k, "UIDVALIDITY") && n <= UINT32_MAX)
			st->uidvalidity = (uint32_t)n;
		else if (imap_value_is(k, "UIDNEXT") && n <= UINT32_MAX)
			st->uidnext = (uint32_t)n;
		else if (imap_value_is(k, "MESSAGES") && n <= UINT32_MAX)
			st->messages = (uint32_t)n;
		else if (imap_value_is(k, "HIGHESTMODSEQ"))
			st->highestmodseq = n;
	}
	return 0;
bad:
	snprintf(err, errlen, "%s: malformed STATUS response", imap_peer(c));
	return IMAP_ERR_PROTOCOL;
}

#define STATUS_WINDOW 100

/* The STATUS answer for the mailbox asked about, not one naming another. */
struct status_want {
	struct imap_status_info *st;
	const char *name;
	int got; /* 1: its numbers came; -1: malformed (no numbers) */
};

static int on_status_for(struct imap_client *c, const struct imap_response *r, void *ctx,
			 char *err, size_t errlen)
{
	struct status_want *w = ctx;
	if (r->kind != IMAP_RESP_UNTAGGED || r->status != IMAP_STATUS_NONE || !r->name ||
	    r->name_len != 6 || strncasecmp(r->name, "STATUS", 6))
		return 0;
	if (!names_mailbox(r->args.n ? &r->args.items[0] : NULL, w->name))
		return 0; /* unsolicited, about another mailbox */
	char serr[256];
	if (on_status(c, r, w->st, serr, sizeof(serr)) < 0) {
		log_warn("%s; ignored", serr);
		memset(w->st, 0, sizeof(*w->st));
		w->got = -1;
	} else if (w->got == 0) {
		w->got = 1;
	}
	return 0;
}

int imap_status_many(struct imap_client *c, const char *const *wire_names, size_t n,
		     struct imap_status_info *out, char *err, size_t errlen)
{
	const char *items = imap_caps(c) & IMAP_CAP_CONDSTORE ?
		"(UIDVALIDITY UIDNEXT MESSAGES HIGHESTMODSEQ)" : "(UIDVALIDITY UIDNEXT MESSAGES)";
	unsigned tags[STATUS_WINDOW];
	struct buf q = BUF_INIT;
	int rc = 0;
	memset(out, 0, n * sizeof(*out));
	for (size_t base = 0; base < n && rc == 0; base += STATUS_WINDOW) {
		size_t m = n - base < STATUS_WINDOW ? n - base : STATUS_WINDOW;
		for (size_t i = 0; i < m && rc == 0; i++) {
			buf_reset(&q);
			tags[i] = 0;
			if (imap_add_quoted(&q, wire_names[base + i]) < 0)
				continue;
			rc = imap_send_command(c, &tags[i], err, errlen, "STATUS %s %s", q.data, items);
		}
		for (size_t i = 0; i < m && rc == 0; i++) {
			char serr[256];
			if (!tags[i])
				continue;
			struct status_want w = { &out[base + i], wire_names[base + i], 0 };
			int r = imap_wait_tagged(c, tags[i], on_status_for, &w, "STATUS", serr, sizeof(serr));
			if (r == 0 && w.got == 1)
				out[base + i].ok = 1;
			else if (r != IMAP_ERR_NO) {
				snprintf(err, errlen, "%s", serr);
				rc = r;
			}
		}
	}
	buf_free(&q);
	return rc;
}

int imap_enable_qresync(struct imap_client *c, char *err, size_t errlen)
{
	if (!(imap_caps(c) & IMAP_CAP_QRESYNC) || !(imap_caps(c) & IMAP_CAP_ENABLE))
		return 0;
	unsigned tag;
	int seen = 0;
	int rc = imap_send_command(c, &tag, err, errlen, "ENABLE QRESYNC");
	if (rc == 0)
		rc = imap_wait_tagged(c, tag, on_enabled, &seen, "ENABLE", err, errlen);
	if (rc == IMAP_ERR_NO)
		return 0;
	if (rc < 0)
		return rc;
	c->qresync = seen;
	return seen;
}

int imap_qresync_enabled(const struct imap_client *c)
{
	return c->qresync;
}
