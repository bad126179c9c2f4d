/* IMAP client, UID FETCH: FETCH responses parsed (bodies streamed to a sink),
 * INTERNALDATE, UID sets. */
#include "mailkeep/imap.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "mailkeep/log.h"
#include "mailkeep/maildir.h"

#include "imap_internal.h"

#define MAX_KEYWORDS 4096                /* bytes of keywords kept per message */

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

int imap_keyword_ok(const struct imap_value *v)
{
	if (v->type != IMAP_ATOM || !v->len || v->len > 128 || v->data[0] == '\\')
		return 0;
	for (size_t i = 0; i < v->len; i++) {
		unsigned char ch = (unsigned char)v->data[i];
		if (ch <= 0x20 || ch >= 0x7f || strchr("(){%*\"]\\", ch))
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

/* Whether UID's keywords not kept are to be warned about now: 1 for the first
 * KEYWORD_WARNINGS messages of the folder, once each (remembered); 0 for one
 * warned about already or one beyond, and -1 for the first beyond (the line
 * that says the rest are not shown). */
static int keyword_warn_now(struct imap_client *c, uint32_t uid)
{
	unsigned n = c->keyword_warnings < KEYWORD_WARNINGS ? c->keyword_warnings : KEYWORD_WARNINGS;
	for (unsigned i = 0; i < n; i++)
		if (c->keyword_warned[i] == uid)
			return 0;
	if (c->keyword_warnings < KEYWORD_WARNINGS) {
		c->keyword_warned[c->keyword_warnings++] = uid;
		return 1;
	}
	if (c->keyword_warnings == KEYWORD_WARNINGS) {
		c->keyword_warnings++;
		return -1;
	}
	return 0;
}

/* The flags of a FETCH's FLAGS list v into m: system flags as bits, keywords
 * kept in fc->keywords, those not kept warned about (keyword_warn_now). */
static void fetch_flags(struct imap_client *c, struct fetch_ctx *fc, const struct imap_value *v,
			struct imap_msg *m)
{
	buf_reset(&fc->keywords);
	m->has_flags = 1;
	size_t too_many = 0, refused = 0;
	const struct imap_value *first_refused = NULL;
	for (size_t i = 0; i < v->n; i++) {
		const struct imap_value *f = &v->items[i];
		if (f->type != IMAP_ATOM)
			continue;
		unsigned bit = maildir_flag_from_imap(f->data, f->len);
		if (bit) {
			m->flags |= bit;
		} else if (imap_keyword_ok(f)) {
			if (fc->keywords.len + f->len + 1 >= MAX_KEYWORDS) {
				too_many++;
				continue;
			}
			if (fc->keywords.len)
				buf_addch(&fc->keywords, ' ');
			buf_add(&fc->keywords, f->data, f->len);
		} else if (f->len && f->data[0] != '\\') { /* other system flags (\Recent): not ours */
			if (!refused++)
				first_refused = f;
		}
	}
	char where[1200]; /* the account's and the folder's names */
	int warn = too_many || refused ? keyword_warn_now(c, m->uid) : 0;
	if (warn > 0) {
		if (too_many)
			log_warn("%s: UID %" PRIu32 ": %zu keywords beyond the first %d bytes of them are not kept",
				 imap_warn_where(c, where, sizeof(where)), m->uid, too_many, MAX_KEYWORDS);
		if (refused) {
			char shown[80];
			imap_server_text(c, shown, sizeof(shown), first_refused->data, first_refused->len);
			log_warn("%s: UID %" PRIu32 ": %zu keywords that are not IMAP atoms are not kept (\"%s\"%s)",
				 imap_warn_where(c, where, sizeof(where)), m->uid, refused, shown,
				 refused > 1 ? "..." : "");
		}
	} else if (warn < 0) {
		log_warn("%s: keywords not kept of more messages; not shown", imap_warn_where(c, where, sizeof(where)));
	}
	m->keywords = fc->keywords.data ? fc->keywords.data : "";
}

/* The items of a FETCH's list but its body into m (UID, FLAGS, INTERNALDATE,
 * MODSEQ, X-GM-MSGID, RFC822.SIZE); IMAP_ERR_PROTOCOL for one malformed. */
static int fetch_attrs(struct imap_client *c, struct fetch_ctx *fc, const struct imap_value *list,
		       struct imap_msg *m, char *err, size_t errlen)
{
	const struct imap_value *v;
	if ((v = imap_fetch_item(list, "UID")) != NULL) {
		if (imap_value_u32(v, &m->uid) < 0 || m->uid == 0) {
			snprintf(err, errlen, "%s: invalid UID in FETCH response", imap_peer(c));
			return IMAP_ERR_PROTOCOL;
		}
	}
	if ((v = imap_fetch_item(list, "FLAGS")) != NULL) {
		if (v->type != IMAP_LIST) {
			snprintf(err, errlen, "%s: invalid FLAGS in FETCH response", imap_peer(c));
			return IMAP_ERR_PROTOCOL;
		}
		fetch_flags(c, fc, v, m);
	}
	if ((v = imap_fetch_item(list, "INTERNALDATE")) != NULL) {
		if (v->type != IMAP_STRING || imap_parse_internaldate(v->data, v->len, &m->internaldate) < 0) {
			snprintf(err, errlen, "%s: invalid INTERNALDATE in FETCH response", imap_peer(c));
			return IMAP_ERR_PROTOCOL;
		}
	}
	if ((v = imap_fetch_item(list, "MODSEQ")) != NULL) {
		if (v->type != IMAP_LIST || v->n != 1 || imap_value_u64(&v->items[0], &m->modseq) < 0) {
			snprintf(err, errlen, "%s: invalid MODSEQ in FETCH response", imap_peer(c));
			return IMAP_ERR_PROTOCOL;
		}
	}
	if ((v = imap_fetch_item(list, "X-GM-MSGID")) != NULL) {
		if (imap_value_u64(v, &m->gm_msgid) < 0 || m->gm_msgid == 0) {
			snprintf(err, errlen, "%s: invalid X-GM-MSGID in FETCH response", imap_peer(c));
			return IMAP_ERR_PROTOCOL;
		}
	}
	m->rfc822_size = UINT64_MAX; /* only a hint (Gmail dedupe): a bad one is ignored */
	if ((v = imap_fetch_item(list, "RFC822.SIZE")) == NULL || imap_value_u64(v, &m->rfc822_size) < 0)
		m->rfc822_size = UINT64_MAX;
	return 0;
}

/* The body item of a FETCH's list into m: the literal streamed to the sink,
 * or a quoted one fed to it here; a part of a body (an origin) not shown whole
 * by RFC822.SIZE refused. IMAP_ERR_PROTOCOL for a streamed literal that is not
 * the body item. */
static int fetch_body(struct imap_client *c, const struct imap_value *list, struct imap_msg *m,
		      char *err, size_t errlen)
{
	const struct imap_value *v;
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
		m->has_body = 1;
		m->body_size = c->streamed_size;
		origin = c->streamed_origin;
	} else if ((v = body_item(list, &origin)) != NULL) {
		if (v->type == IMAP_NIL) {
			m->body_nil = !origin;
		} else if (v->type == IMAP_STRING && c->sink && !c->sink_failed && m->uid) {
			/* a body not sent as a literal (a quoted string is a legal
			 * nstring): fed to the sink as a streamed one would be */
			if (c->sink->on_body_begin(c->sink->ctx, v->len, c->sink_err, sizeof(c->sink_err)) != 0 ||
			    (v->len && c->sink->on_body_data(c->sink->ctx, v->data, v->len, c->sink_err,
							     sizeof(c->sink_err)) != 0))
				c->sink_failed = 1;
			m->has_body = 1;
			m->body_size = v->len;
		}
	}
	if (m->has_body && origin && m->rfc822_size != m->body_size) {
		/* An origin marks the answer to a request for part of a body (RFC 3501
		 * §7.4.2), which we never make: it is the whole body only when the
		 * RFC822.SIZE beside it says so. Else it may be cut short, and a
		 * truncated message must not be stored as the message. */
		m->has_body = 0;
		m->body_partial = 1;
	}
	return 0;
}

int imap_on_fetch(struct imap_client *c, const struct imap_response *r, void *ctx,
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
	int rc = fetch_attrs(c, fc, list, &m, err, errlen);
	if (rc == 0)
		rc = fetch_body(c, list, &m, err, errlen);
	if (rc < 0)
		return rc;
	if (c->sink_failed) {
		fc->failed = 1;
		snprintf(err, errlen, "%s", c->sink_err);
		return IMAP_ERR_LOCAL;
	}
	if (!m.uid) { /* unsolicited FETCH (flags changed by someone else): ignored */
		if (!fc->without_uid++ || m.modseq < fc->without_uid_modseq)
			fc->without_uid_modseq = m.modseq;
		return 0;
	}
	if (!m.has_flags && !m.has_body && (!fc->without_flags++ || m.modseq < fc->without_flags_modseq))
		fc->without_flags_modseq = m.modseq;
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

unsigned long imap_fetch_unusable(unsigned long n, uint64_t lowest, uint64_t highestmodseq)
{
	return highestmodseq && lowest > highestmodseq ? 0 : n;
}

int imap_fetch_wait(struct imap_client *c, unsigned tag, const struct imap_fetch_cb *cb,
		    char *err, size_t errlen)
{
	struct fetch_ctx fc = { .cb = cb, .keywords = BUF_INIT };
	c->sink = cb->on_body_begin ? cb : NULL;
	c->sink_failed = 0;
	int rc = imap_wait_tagged(c, tag, imap_on_fetch, &fc, "UID FETCH", err, errlen);
	c->sink = NULL;
	c->sink_failed = 0; /* this command's: a later FETCH response (the next folder's) is not failed */
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
	return imap_fetch_wait(c, tag, cb, err, errlen);
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
	return imap_fetch_wait(c, tag, &drop, err, sizeof(err));
}

int imap_uid_fetch(struct imap_client *c, const char *uidset, const char *items,
		   const struct imap_fetch_cb *cb, char *err, size_t errlen)
{
	unsigned tag;
	int rc = imap_send_command(c, &tag, err, errlen, "UID FETCH %s %s", uidset, items);
	if (rc < 0)
		return rc;
	return imap_fetch_wait(c, tag, cb, err, errlen);
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
