/* IMAP client: connection policy, response assembly (streaming message bodies
 * to a sink), command/response handling and the commands mailkeep needs. */
#include "mailkeep/imap.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "mailkeep/log.h"
#include "mailkeep/maildir.h"
#include "mailkeep/net.h"
#include "mailkeep/net_deflate.h"
#include "mailkeep/utf7.h"

#include "imap_internal.h"

#define MAX_LINE ((size_t)16 << 20)      /* one response line without literals */
#define MAX_RESPONSE ((size_t)64 << 20)  /* one response, literals kept inline */
/* One command may go on receiving only untagged responses that are not its
 * data (status lines, EXISTS, FLAGS...), or FETCH responses beyond FETCH_SLACK
 * plus 4 per message, for at most this many `timeout`s (Dovecot's "* OK
 * Searched 40% of the mailbox" come every 15 s or so). */
#define KEEPALIVE_TIMEOUTS 5
#define FETCH_SLACK ((uint64_t)1 << 16)
/* The EXISTS every bound on what a server may send is derived from (FETCH
 * responses, SEARCH UIDs, the size of a folder's view) is at most this: a
 * server claiming 4 billion messages must not buy itself gigabytes of our
 * memory. A mailbox of more messages than this cannot be mirrored (none
 * known comes near: Gmail's All Mail of a heavy user holds a few million). */
#define MAX_EXISTS ((uint32_t)1 << 22)


/* ---- small helpers ---- */

/* What a terminal may act on rather than show: C0 controls, DEL, C1 controls
 * (U+0080..U+009F: xterm and others take U+009B as CSI) and the bidirectional
 * embeddings, overrides and isolates (U+202A..U+202E, U+2066..U+2069). */
static int is_terminal_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069);
}

/* Copy server text into dst for use in messages: bounded, and every byte of a
 * control character or of invalid UTF-8 (a raw 8-bit CSI) escaped as \xNN. */
void imap_safe_text(char *dst, size_t dstlen, const char *s, size_t len)
{
	size_t o = 0, i = 0;
	if (!dstlen)
		return;
	while (i < len) {
		size_t at = i;
		uint32_t cp = 0;
		int esc = utf7_next_utf8(s, len, &i, &cp) < 0 || is_terminal_control(cp);
		if (i == at)
			i = at + 1; /* not UTF-8: one byte at a time */
		if (o + (esc ? 4 : 1) * (i - at) >= dstlen)
			break;
		for (size_t k = at; k < i; k++) {
			if (esc)
				o += (size_t)snprintf(dst + o, dstlen - o, "\\x%02x", (unsigned char)s[k]);
			else
				dst[o++] = s[k];
		}
	}
	dst[o] = '\0';
}

/* A server's text while a login runs may echo the secret it was sent, in one
 * of the forms in c->secret_forms. They are masked in the raw text, before it
 * is escaped and cut to a message's size: masked afterwards (login_redact), a
 * long password was shown cut short, past the mask, and one with a control or
 * 8-bit byte escaped ("\x09"), which the mask did not match. */
static void mask_secrets(const struct imap_client *c, struct buf *out, const char *s, size_t len)
{
	buf_add(out, s, len);
	for (size_t i = 0; i < c->n_secret_forms; i++) {
		const struct buf *f = &c->secret_forms[i];
		char *p = out->data, *end = out->data + out->len;
		while (f->len && (p = memmem(p, (size_t)(end - p), f->data, f->len)) != NULL) {
			memset(p, '*', f->len);
			p += f->len;
		}
	}
}

static void server_text(const struct imap_client *c, char *dst, size_t dstlen, const char *s, size_t len)
{
	struct buf raw = BUF_INIT;
	if (!c->n_secret_forms) {
		imap_safe_text(dst, dstlen, s, len);
		return;
	}
	mask_secrets(c, &raw, s, len);
	imap_safe_text(dst, dstlen, raw.data, raw.len);
	OPENSSL_cleanse(raw.data, raw.len);
	buf_free(&raw);
}

/* The parse error of the unparsable line in c->resp while a login runs: the
 * parser quotes 40 bytes of it, which may be a part of the password too long
 * to be matched by the mask afterwards; so the masked line is parsed again. */
static void parse_error_masked(struct imap_client *c, char *perr, size_t perrlen)
{
	struct buf raw = BUF_INIT;
	struct imap_response r;
	mask_secrets(c, &raw, c->resp.data, c->resp.len);
	if (imap_parse(c->parser, raw.data, raw.len, &r, perr, perrlen) == 0)
		snprintf(perr, perrlen, "not shown (it may echo the password)");
	OPENSSL_cleanse(raw.data, raw.len);
	buf_free(&raw);
}

static void secret_form_add(struct imap_client *c, const char *s, size_t len)
{
	if (!len || c->n_secret_forms == sizeof(c->secret_forms) / sizeof(c->secret_forms[0]))
		return;
	buf_add(&c->secret_forms[c->n_secret_forms++], s, len);
}

static void secret_forms_clear(struct imap_client *c)
{
	for (size_t i = 0; i < c->n_secret_forms; i++) {
		OPENSSL_cleanse(c->secret_forms[i].data, c->secret_forms[i].len);
		buf_free(&c->secret_forms[i]);
	}
	c->n_secret_forms = 0;
}

const char *imap_peer(const struct imap_client *c)
{
	return c->acct->host;
}

unsigned imap_caps(const struct imap_client *c) { return c->caps; }
char imap_delimiter(const struct imap_client *c) { return c->delim; }
unsigned long imap_round_trips(const struct imap_client *c) { return c->round_trips; }
uint64_t imap_bytes_in(const struct imap_client *c) { return c->bytes_in; }

/* ---- reading ---- */

static int fill(struct imap_client *c, char *err, size_t errlen)
{
	if (c->rpos && c->rpos == c->rbuf.len) {
		buf_reset(&c->rbuf);
		c->rpos = 0;
	} else if (c->rpos > 65536 && c->rpos > c->rbuf.len / 2) {
		buf_consume(&c->rbuf, c->rpos);
		c->rpos = 0;
	}
	if (c->sent_since_read) {
		c->round_trips++;
		c->sent_since_read = 0;
	}
	buf_grow(&c->rbuf, 65536);
	ssize_t n = c->z ? net_deflate_read(c->z, c->rbuf.data + c->rbuf.len, 65536, err, errlen) :
		net_read(c->net, c->rbuf.data + c->rbuf.len, 65536, err, errlen);
	if (n < 0) {
		if (c->bye)
			snprintf(err, errlen, "%s: server closed the connection: %s", imap_peer(c), c->bye_text);
		return IMAP_ERR_NET;
	}
	c->rbuf.len += (size_t)n;
	c->rbuf.data[c->rbuf.len] = '\0';
	c->bytes_in += (uint64_t)n;
	return 0;
}

/* Hand n literal bytes to the sink (or drop them when the sink failed). */
static int stream_literal(struct imap_client *c, uint64_t n, char *err, size_t errlen)
{
	while (n) {
		if (c->rpos == c->rbuf.len) {
			int rc = fill(c, err, errlen);
			if (rc < 0)
				return rc;
		}
		size_t avail = c->rbuf.len - c->rpos;
		size_t take = avail < n ? avail : (size_t)n;
		if (!c->sink_failed &&
		    c->sink->on_body_data(c->sink->ctx, c->rbuf.data + c->rpos, take, c->sink_err,
					  sizeof(c->sink_err)) != 0)
			c->sink_failed = 1;
		c->rpos += take;
		n -= take;
	}
	return 0;
}

/* Does the response text before a literal marker end with a BODY[] item whose
 * literal we stream (BODY[] or BODY[]<0>, BINARY[] likewise)? 1 for a whole
 * body, 2 for one with an origin (a partial answer, RFC 3501 §7.4.2), else 0. */
static int is_body_item(const char *s, size_t len)
{
	static const char *const items[] = { "BODY[]", "BINARY[]", "BODY[]<0>", "BINARY[]<0>" };
	while (len && s[len - 1] == ' ')
		len--;
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		size_t l = strlen(items[i]);
		if (len >= l && !strncasecmp(s + len - l, items[i], l) &&
		    (len == l || s[len - l - 1] == ' ' || s[len - l - 1] == '('))
			return i < 2 ? 1 : 2;
	}
	return 0;
}

/* Does a response whose first line is s[0..len) start "* <number> FETCH ("? */
static int is_fetch_start(const char *s, size_t len)
{
	size_t i = 2;
	if (len < 2 || s[0] != '*' || s[1] != ' ')
		return 0;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	return i > 2 && len - i >= 8 && !strncasecmp(s + i, " FETCH (", 8);
}

/* Assemble one complete response into c->resp. */
int imap_read_response(struct imap_client *c, char *err, size_t errlen)
{
	size_t scanned = c->rpos;
	int after_body = 0; /* the line continues after a streamed body literal */
	int fetch = -1;     /* the response is a FETCH (-1: not known yet) */
	int depth = 0;      /* list depth at the end of the text so far */
	buf_reset(&c->resp);
	c->streamed = 0;
	c->streamed_size = 0;
	c->streamed_origin = 0;
	for (;;) {
		/* find the end of the current line */
		char *nl = c->rbuf.len > scanned ?
			memchr(c->rbuf.data + scanned, '\n', c->rbuf.len - scanned) : NULL;
		if (!nl) {
			scanned = c->rbuf.len;
			if (c->rbuf.len - c->rpos > MAX_LINE) {
				snprintf(err, errlen, "%s: response line longer than %zu bytes", imap_peer(c),
					 MAX_LINE);
				return IMAP_ERR_PROTOCOL;
			}
			size_t off = scanned - c->rpos;
			int rc = fill(c, err, errlen);
			if (rc < 0)
				return rc;
			scanned = c->rpos + off;
			continue;
		}
		size_t linelen = (size_t)(nl - (c->rbuf.data + c->rpos)) + 1;
		const char *line = c->rbuf.data + c->rpos;
		/* A message body is followed by the next item (SP) or the end of the
		 * FETCH list (")"). Anything else means that the literal's size was not
		 * the body's: the body file holds protocol bytes (or lacks its end), and
		 * the rest can even parse as the items of the next message's response. */
		if (after_body && line[0] != ' ' && line[0] != ')') {
			snprintf(err, errlen, "%s: unexpected data after a message body (wrong literal size)",
				 imap_peer(c));
			return IMAP_ERR_PROTOCOL;
		}
		after_body = 0;
		uint64_t lit;
		size_t marker;
		int m = imap_frame_literal_at_end(line, linelen, &lit, &marker);
		if (m < 0) {
			snprintf(err, errlen, "%s: malformed literal size in server response", imap_peer(c));
			return IMAP_ERR_PROTOCOL;
		}
		if (c->resp.len + linelen > MAX_RESPONSE) {
			snprintf(err, errlen, "%s: server response larger than %zu bytes", imap_peer(c),
				 MAX_RESPONSE);
			return IMAP_ERR_PROTOCOL;
		}
		if (m == 0) {
			buf_add(&c->resp, line, linelen);
			c->rpos += linelen;
			return 0;
		}
		int body_item = 0;
		if (fetch < 0)
			fetch = is_fetch_start(line, linelen);
		/* only a body item of the FETCH itself is the message, not one
		 * nested in another item: "X-JUNK (BODY[] {5}" is no body */
		if (c->sink && fetch) {
			depth = imap_frame_depth(line, marker, depth);
			if (!c->streamed && depth == 1)
				body_item = is_body_item(line, marker);
		}
		if (body_item) {
			buf_add(&c->resp, line, marker);
			buf_adds(&c->resp, "{0}\r\n");
			c->rpos += linelen;
			c->streamed = 1;
			c->streamed_at = c->resp.len;
			c->streamed_size = lit;
			c->streamed_origin = body_item == 2;
			if (!c->sink_failed &&
			    c->sink->on_body_begin(c->sink->ctx, lit, c->sink_err, sizeof(c->sink_err)) != 0)
				c->sink_failed = 1;
			int rc = stream_literal(c, lit, err, errlen);
			if (rc < 0)
				return rc;
			after_body = 1;
		} else {
			if (lit > MAX_RESPONSE - c->resp.len - linelen) {
				snprintf(err, errlen, "%s: server literal of %" PRIu64 " bytes is too large",
					 imap_peer(c), lit);
				return IMAP_ERR_PROTOCOL;
			}
			buf_add(&c->resp, line, linelen);
			c->rpos += linelen;
			while (c->rbuf.len - c->rpos < lit) {
				int rc = fill(c, err, errlen);
				if (rc < 0)
					return rc;
			}
			buf_add(&c->resp, c->rbuf.data + c->rpos, (size_t)lit);
			c->rpos += (size_t)lit;
		}
		scanned = c->rpos;
	}
}

/* ---- writing ---- */

int imap_write(struct imap_client *c, const void *data, size_t len, char *err, size_t errlen)
{
	if (c->dead) {
		snprintf(err, errlen, "%s: connection closed after a failed write", imap_peer(c));
		return IMAP_ERR_NET;
	}
	c->sent_since_read = 1;
	int rc = c->z ? net_deflate_write(c->z, data, len, err, errlen) : net_write(c->net, data, len, err, errlen);
	if (rc < 0)
		c->dead = 1; /* part of it may have gone: the next bytes would not be read as meant */
	return rc < 0 ? IMAP_ERR_NET : 0;
}

/* Send "<tag> <command>\r\n"; returns the tag number via *tag. The command must
 * not contain CR or LF (checked). */
int imap_send_command(struct imap_client *c, unsigned *tag, char *err, size_t errlen,
			const char *fmt, ...)
{
	va_list ap;
	buf_reset(&c->cmd);
	*tag = ++c->tagno;
	buf_addf(&c->cmd, "a%u ", *tag);
	size_t start = c->cmd.len;
	va_start(ap, fmt);
	buf_vaddf(&c->cmd, fmt, ap);
	va_end(ap);
	if (memchr(c->cmd.data + start, '\r', c->cmd.len - start) ||
	    memchr(c->cmd.data + start, '\n', c->cmd.len - start)) {
		snprintf(err, errlen, "refusing to send a command containing CR/LF");
		return IMAP_ERR_LOCAL;
	}
	int secret = !strncmp(c->cmd.data + start, "LOGIN ", 6) ||
		     !strncmp(c->cmd.data + start, "AUTHENTICATE", 12);
	if (!secret)
		log_debug("%s: C: %s", imap_peer(c), c->cmd.data);
	else
		log_debug("%s: C: a%u <credentials hidden>", imap_peer(c), *tag);
	buf_adds(&c->cmd, "\r\n");
	int rc = imap_write(c, c->cmd.data, c->cmd.len, err, errlen);
	if (secret) /* an initial response (SASL-IR) is the password in base64 */
		OPENSSL_cleanse(c->cmd.data, c->cmd.len);
	return rc;
}

/* Append s as an IMAP quoted string; -1 when it cannot be quoted (CR, LF, NUL, 8-bit). */
int imap_add_quoted(struct buf *b, const char *s)
{
	buf_addch(b, '"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '\r' || ch == '\n' || ch >= 0x80)
			return -1;
		if (ch == '"' || ch == '\\')
			buf_addch(b, '\\');
		buf_addch(b, (char)ch);
	}
	buf_addch(b, '"');
	return 0;
}

/* ---- untagged handling common to every command ---- */

static unsigned cap_bit(const struct imap_value *v)
{
	static const struct { const char *name; unsigned bit; } map[] = {
		{ "IMAP4rev1", IMAP_CAP_IMAP4REV1 }, { "STARTTLS", IMAP_CAP_STARTTLS },
		{ "LOGINDISABLED", IMAP_CAP_LOGINDISABLED }, { "AUTH=PLAIN", IMAP_CAP_AUTH_PLAIN },
		{ "SASL-IR", IMAP_CAP_SASL_IR }, { "LITERAL+", IMAP_CAP_LITERALPLUS },
		{ "LITERAL-", IMAP_CAP_LITERALMINUS }, { "CONDSTORE", IMAP_CAP_CONDSTORE },
		{ "QRESYNC", IMAP_CAP_QRESYNC }, { "UIDPLUS", IMAP_CAP_UIDPLUS },
		{ "ESEARCH", IMAP_CAP_ESEARCH }, { "LIST-STATUS", IMAP_CAP_LIST_STATUS },
		{ "ENABLE", IMAP_CAP_ENABLE }, { "SPECIAL-USE", IMAP_CAP_SPECIAL_USE },
		{ "MULTIAPPEND", IMAP_CAP_MULTIAPPEND }, { "BINARY", IMAP_CAP_BINARY },
		{ "NAMESPACE", IMAP_CAP_NAMESPACE }, { "AUTH=XOAUTH2", IMAP_CAP_AUTH_XOAUTH2 },
		{ "AUTH=OAUTHBEARER", IMAP_CAP_AUTH_OAUTHBEARER }, { "X-GM-EXT-1", IMAP_CAP_X_GM_EXT_1 },
		{ "AUTH=CRAM-MD5", IMAP_CAP_AUTH_CRAM_MD5 }, { "AUTH=LOGIN", IMAP_CAP_AUTH_LOGIN },
		{ "COMPRESS=DEFLATE", IMAP_CAP_COMPRESS_DEFLATE },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (imap_value_is(v, map[i].name))
			return map[i].bit;
	return 0;
}

static void set_caps(struct imap_client *c, const struct imap_value *list)
{
	unsigned caps = 0;
	for (size_t i = 0; i < list->n; i++)
		caps |= cap_bit(&list->items[i]);
	c->caps = caps;
	c->caps_seen = 1;
}


/* Read responses until the tagged completion of `tag`. Untagged responses go to
 * fn (may be NULL) after common handling. Returns 0 for OK, IMAP_ERR_NO for
 * NO/BAD (err holds the server's text), or a connection error. */
/* Throttling answers of big providers: [THROTTLED] (Gmail, Yahoo), [UNAVAILABLE]
 * (RFC 5530), [LIMIT], and Office 365's "Suggested Backoff Time: N milliseconds". */
static void note_throttle(struct imap_client *c, const struct imap_response *r)
{
	static const char *const codes[] = { "THROTTLED", "UNAVAILABLE", "LIMIT" };
	const char *hint = "Suggested Backoff Time:";
	for (size_t i = 0; r->code && i < sizeof(codes) / sizeof(codes[0]); i++)
		if (r->code_len == strlen(codes[i]) && !strncasecmp(r->code, codes[i], r->code_len))
			c->throttle_ms = 1000;
	const char *t = r->text ? memmem(r->text, r->text_len, hint, strlen(hint)) : NULL;
	if (t) {
		unsigned long ms = strtoul(t + strlen(hint), NULL, 10);
		c->throttle_ms = ms ? (ms > 60000 ? 60000 : (unsigned)ms) : 1000;
	}
}

unsigned imap_throttle_ms(const struct imap_client *c)
{
	return c->throttle_ms;
}

void imap_throttle_clear(struct imap_client *c)
{
	c->throttle_ms = 0;
}

/* "* VANISHED 5:7" without (EARLIER): messages expunged now (RFC 7162 §3.2.10) */
static int count_vanished(uint32_t lo, uint32_t hi, void *ctx)
{
	struct imap_client *c = ctx;
	uint64_t n = (uint64_t)hi - lo + 1;
	c->exists = n >= c->exists ? 0 : c->exists - (uint32_t)n;
	c->expunges++;
	return 0;
}

unsigned long imap_expunges(const struct imap_client *c) { return c->expunges; }

unsigned long imap_exists_told(const struct imap_client *c) { return c->exists_told; }

/* A tagged completion's status, code and text, as messages may show them. */
static void keep_refusal(struct imap_client *c, struct imap_refusal *f, const struct imap_response *r)
{
	f->status = r->status == IMAP_STATUS_OK ? 0 : r->status;
	server_text(c, f->text, sizeof(f->text), r->text, r->text_len);
	f->code[0] = '\0';
	if (r->code && r->code_len < sizeof(f->code))
		server_text(c, f->code, sizeof(f->code), r->code, r->code_len);
	if (r->status != IMAP_STATUS_OK)
		note_throttle(c, r);
}

void imap_note_size(struct imap_client *c, const struct imap_response *r)
{
	if (r->kind != IMAP_RESP_UNTAGGED || r->status != IMAP_STATUS_NONE || !r->name)
		return;
	if (r->has_number && r->name_len == 6 && !strncasecmp(r->name, "EXISTS", 6)) {
		c->exists = r->number > MAX_EXISTS ? MAX_EXISTS : (uint32_t)r->number;
		c->exists_told++;
	} else if (r->has_number && r->name_len == 7 && !strncasecmp(r->name, "EXPUNGE", 7) && c->exists) {
		c->exists--;
		c->expunges++;
	} else if (!r->has_number && r->name_len == 8 && !strncasecmp(r->name, "VANISHED", 8) && r->args.n == 1 &&
		   r->args.items[0].type == IMAP_ATOM) {
		imap_parse_seqset(r->args.items[0].data, r->args.items[0].len, 0, count_vanished, c);
	}
}

/* The error for a command refused with c->refusal; the response code too
 * ([NONEXISTENT], [OVERQUOTA]...), for people. */
static void refusal_err(const struct imap_client *c, const char *what, char *err, size_t errlen)
{
	const struct imap_refusal *f = &c->refusal;
	snprintf(err, errlen, "%s: %s: server said %s: %s%s%s%s", imap_peer(c), what,
		 f->status == IMAP_STATUS_NO ? "NO" : "BAD", f->code[0] ? "[" : "", f->code,
		 f->code[0] ? "] " : "", f->text);
}

int64_t imap_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int imap_no_progress(const struct imap_client *c, int64_t quiet_since, const char *instead,
		     const char *what, char *err, size_t errlen)
{
	int64_t quiet = imap_mono_ms() - quiet_since;
	if (quiet <= (int64_t)KEEPALIVE_TIMEOUTS * 1000 * c->acct->timeout)
		return 0;
	snprintf(err, errlen, "%s: %s: for %" PRId64 " s only %s, no answer", imap_peer(c), what, quiet / 1000,
		 instead);
	return 1;
}

int imap_wait_tagged(struct imap_client *c, unsigned tag, imap_untagged_fn fn, void *ctx,
		       const char *what, char *err, size_t errlen)
{
	char tagstr[16], earlystr[16];
	int fn_rc = 0, conts = 0;
	int64_t quiet_since = imap_mono_ms();
	uint64_t fetches = 0;
	snprintf(tagstr, sizeof(tagstr), "a%u", tag);
	snprintf(earlystr, sizeof(earlystr), "a%u", c->early_ok);
	if (c->early_tag && c->early_tag == tag) { /* it completed while another was waited for */
		c->early_tag = 0;
		if (!c->early_refusal.status) /* it was OK */
			return 0;
		c->refusal = c->early_refusal;
		refusal_err(c, what, err, errlen);
		return IMAP_ERR_NO;
	}
	for (;;) {
		struct imap_response r;
		char perr[160];
		int rc = imap_read_response(c, err, errlen);
		if (rc < 0)
			return rc;
		if (imap_parse(c->parser, c->resp.data, c->resp.len, &r, perr, sizeof(perr)) < 0) {
			size_t tl = strlen(tagstr);
			if (c->skip_unparsable && !(c->resp.len > tl && !memcmp(c->resp.data, tagstr, tl) &&
						    c->resp.data[tl] == ' ')) {
				if (imap_list_warn_ok(c))
					log_warn("%s: %s: ignoring an unparsable response line: %s", imap_peer(c), what,
						 perr);
				c->n_unparsable++;
				if (imap_no_progress(c, quiet_since, "lines that do not parse", what, err, errlen))
					return IMAP_ERR_PROTOCOL;
				continue;
			}
			if (c->n_secret_forms)
				parse_error_masked(c, perr, sizeof(perr));
			snprintf(err, errlen, "%s: %s: unparsable server response: %s", imap_peer(c), what, perr);
			return IMAP_ERR_PROTOCOL;
		}
		if (r.kind == IMAP_RESP_CONTINUATION && c->cont_reply && conts++ < 2) {
			rc = imap_write(c, c->cont_reply, strlen(c->cont_reply), err, errlen);
			if (rc < 0)
				return rc;
			continue;
		}
		if (r.kind == IMAP_RESP_CONTINUATION) {
			snprintf(err, errlen, "%s: %s: unexpected continuation request", imap_peer(c), what);
			return IMAP_ERR_PROTOCOL;
		}
		if (r.kind == IMAP_RESP_TAGGED) {
			if (c->early_ok && !c->early_tag && r.tag_len == strlen(earlystr) &&
			    !memcmp(r.tag, earlystr, r.tag_len) &&
			    (r.status == IMAP_STATUS_OK || r.status == IMAP_STATUS_NO ||
			     r.status == IMAP_STATUS_BAD)) {
				c->early_tag = c->early_ok;
				keep_refusal(c, &c->early_refusal, &r);
				continue;
			}
			if (r.tag_len != strlen(tagstr) || memcmp(r.tag, tagstr, r.tag_len)) {
				snprintf(err, errlen, "%s: %s: response with unknown tag", imap_peer(c), what);
				return IMAP_ERR_PROTOCOL;
			}
			if (r.code && r.code_len == 10 && !strncasecmp(r.code, "CAPABILITY", 10))
				set_caps(c, &r.code_args);
			if (r.status == IMAP_STATUS_OK) {
				if (fn_rc)
					return fn_rc;
				rc = fn ? fn(c, &r, ctx, err, errlen) : 0;
				return rc > 0 ? 0 : rc;
			}
			if (r.status == IMAP_STATUS_NO || r.status == IMAP_STATUS_BAD) {
				keep_refusal(c, &c->refusal, &r);
				refusal_err(c, what, err, errlen);
				return fn_rc ? fn_rc : IMAP_ERR_NO;
			}
			snprintf(err, errlen, "%s: %s: malformed tagged response", imap_peer(c), what);
			return IMAP_ERR_PROTOCOL;
		}
		/* untagged: only the command's own data, as its callback tells
		 * (IMAP_DATA), is progress, and FETCH responses only up to a bound
		 * derived from the mailbox's size. Anything else (keepalives, EXISTS,
		 * FLAGS, CAPABILITY, BYE, another command's data) may fill the wait for
		 * a bounded time only, else a server could keep a command for ever. */
		int is_fetch = r.status == IMAP_STATUS_NONE && r.has_number && r.name && r.name_len == 5 &&
			       !strncasecmp(r.name, "FETCH", 5);
		int data = 0;
		if (r.status == IMAP_STATUS_BYE) {
			c->bye = 1;
			server_text(c, c->bye_text, sizeof(c->bye_text), r.text, r.text_len);
			note_throttle(c, &r);
		} else {
			if (r.status == IMAP_STATUS_NONE && r.name && r.name_len == 10 &&
			    !strncasecmp(r.name, "CAPABILITY", 10))
				set_caps(c, &r.args);
			imap_note_size(c, &r);
			if (r.status == IMAP_STATUS_OK && r.code && r.code_len == 10 &&
			    !strncasecmp(r.code, "CAPABILITY", 10))
				set_caps(c, &r.code_args);
			if (fn && !fn_rc) {
				rc = fn(c, &r, ctx, err, errlen);
				if (rc == IMAP_ERR_NET || rc == IMAP_ERR_PROTOCOL)
					return rc;
				data = rc == IMAP_DATA;
				fn_rc = rc > 0 ? 0 : rc; /* keep reading to the completion, then report */
			}
		}
		if (data && !(is_fetch && ++fetches > FETCH_SLACK + 4 * (uint64_t)c->exists))
			quiet_since = imap_mono_ms();
		else if (imap_no_progress(c, quiet_since, is_fetch && data ?
					  "more FETCH responses than the mailbox has messages" :
					  "untagged responses that are not its answer", what, err, errlen))
			return IMAP_ERR_PROTOCOL;
	}
}

int imap_simple_command(struct imap_client *c, const char *what, char *err, size_t errlen,
			  const char *command)
{
	unsigned tag;
	int rc = imap_send_command(c, &tag, err, errlen, "%s", command);
	if (rc < 0)
		return rc;
	return imap_wait_tagged(c, tag, NULL, NULL, what, err, errlen);
}

/* ---- connection setup ---- */

static int read_greeting(struct imap_client *c, int *preauth, char *err, size_t errlen)
{
	struct imap_response r;
	char perr[160];
	int rc = imap_read_response(c, err, errlen);
	if (rc < 0)
		return rc;
	if (imap_parse(c->parser, c->resp.data, c->resp.len, &r, perr, sizeof(perr)) < 0 ||
	    r.kind != IMAP_RESP_UNTAGGED) {
		snprintf(err, errlen, "%s: not an IMAP server (bad greeting)", imap_peer(c));
		return IMAP_ERR_PROTOCOL;
	}
	if (r.status == IMAP_STATUS_BYE) {
		char text[200];
		imap_safe_text(text, sizeof(text), r.text, r.text_len);
		snprintf(err, errlen, "%s: server refused the connection: %s", imap_peer(c), text);
		return IMAP_ERR_NET;
	}
	if (r.status != IMAP_STATUS_OK && r.status != IMAP_STATUS_PREAUTH) {
		snprintf(err, errlen, "%s: not an IMAP server (bad greeting)", imap_peer(c));
		return IMAP_ERR_PROTOCOL;
	}
	*preauth = r.status == IMAP_STATUS_PREAUTH;
	if (r.code && r.code_len == 10 && !strncasecmp(r.code, "CAPABILITY", 10)) {
		set_caps(c, &r.code_args);
		return 1;
	}
	return 0;
}

static int do_starttls(struct imap_client *c, char *err, size_t errlen)
{
	char nerr[256];
	if (!(c->caps & IMAP_CAP_STARTTLS)) {
		snprintf(err, errlen, "%s: server does not offer STARTTLS; refusing to continue "
			 "without TLS (set tls: implicit, or tls: none to allow plain text)", imap_peer(c));
		return IMAP_ERR_POLICY;
	}
	int rc = imap_simple_command(c, "STARTTLS", err, errlen, "STARTTLS");
	if (rc < 0)
		return rc == IMAP_ERR_NO ? IMAP_ERR_POLICY : rc;
	/* Anything the server sent after the OK was sent in plain text and could have
	 * been injected by an attacker: refuse (CVE-2011-0411 class). */
	if (c->rpos != c->rbuf.len) {
		snprintf(err, errlen, "%s: data received before the TLS handshake (STARTTLS "
			 "injection?); refusing", imap_peer(c));
		return IMAP_ERR_PROTOCOL;
	}
	rc = net_starttls(c->net, nerr, sizeof(nerr));
	if (rc < 0) {
		snprintf(err, errlen, "%s", nerr);
		return rc == NET_ERR_CERT ? IMAP_ERR_CERT : IMAP_ERR_NET;
	}
	c->caps = 0; /* capabilities from before TLS are not trusted */
	return 0;
}

struct imap_client *imap_connect(const struct account *acct, int *code, char *err, size_t errlen)
{
	struct imap_client *c = xcalloc(1, sizeof(*c));
	int ncode = 0, preauth = 0, rc;
	c->acct = acct;
	c->parser = imap_parser_new();
	c->net = net_connect(acct->host, acct->port, acct->tls == TLS_IMPLICIT, acct->ca_file,
			     acct->timeout, &ncode, err, errlen);
	if (!c->net) {
		rc = ncode == NET_ERR_CERT ? IMAP_ERR_CERT : IMAP_ERR_NET;
		goto fail;
	}
	rc = read_greeting(c, &preauth, err, errlen);
	if (rc < 0)
		goto fail;
	c->preauth = preauth;
	if (preauth && acct->tls == TLS_STARTTLS) {
		snprintf(err, errlen, "%s: server pre-authenticated the connection, so STARTTLS is "
			 "impossible; refusing to continue without TLS", imap_peer(c));
		rc = IMAP_ERR_POLICY;
		goto fail;
	}
	if (rc == 0 || acct->tls == TLS_STARTTLS) {
		if (rc == 0 && (rc = imap_simple_command(c, "CAPABILITY", err, errlen, "CAPABILITY")) < 0)
			goto fail;
	}
	if (acct->tls == TLS_STARTTLS) {
		if ((rc = do_starttls(c, err, errlen)) < 0)
			goto fail;
		if ((rc = imap_simple_command(c, "CAPABILITY", err, errlen, "CAPABILITY")) < 0)
			goto fail;
	}
	return c;
fail:
	*code = rc;
	imap_close(c);
	return NULL;
}

static void base64(struct buf *out, const unsigned char *data, size_t len)
{
	buf_grow(out, 4 * ((len + 2) / 3) + 1);
	int n = EVP_EncodeBlock((unsigned char *)out->data + out->len, data, (int)len);
	out->len += (size_t)n;
	out->data[out->len] = '\0';
}

/* Read the first response that is not untagged data: a continuation request
 * or a tagged answer. Untagged data may come at any time (RFC 3501 §7), also
 * before the "+" of AUTHENTICATE or of a literal: a few are skipped (a BYE is
 * noted, for the error when the connection then closes). */
static int read_past_untagged(struct imap_client *c, char *err, size_t errlen)
{
	int rc, untagged = 0;
	for (;;) {
		struct imap_response r;
		char perr[160];
		rc = imap_read_response(c, err, errlen);
		if (rc < 0)
			return rc;
		if (c->resp.len < 2 || strncmp(c->resp.data, "* ", 2) || ++untagged >= 16)
			return 0;
		if (imap_parse(c->parser, c->resp.data, c->resp.len, &r, perr, sizeof(perr)) == 0 &&
		    r.status == IMAP_STATUS_BYE) {
			c->bye = 1;
			server_text(c, c->bye_text, sizeof(c->bye_text), r.text, r.text_len);
		}
	}
}

static int login_plain(struct imap_client *c, const char *user, const char *password,
		       char *err, size_t errlen)
{
	struct buf raw = BUF_INIT, b64 = BUF_INIT;
	int rc;
	unsigned tag;
	buf_addch(&raw, '\0');
	buf_adds(&raw, user);
	buf_addch(&raw, '\0');
	buf_adds(&raw, password);
	base64(&b64, (const unsigned char *)raw.data, raw.len);
	if (c->caps & IMAP_CAP_SASL_IR) {
		rc = imap_send_command(c, &tag, err, errlen, "AUTHENTICATE PLAIN %s", b64.data);
		if (rc < 0)
			goto out;
	} else {
		rc = imap_send_command(c, &tag, err, errlen, "AUTHENTICATE PLAIN");
		if (rc < 0)
			goto out;
		rc = read_past_untagged(c, err, errlen);
		if (rc < 0)
			goto out;
		if (c->resp.len < 1 || c->resp.data[0] != '+') {
			/* the server answered without asking: treat as the completion */
			struct imap_response r;
			char perr[160];
			if (imap_parse(c->parser, c->resp.data, c->resp.len, &r, perr, sizeof(perr)) == 0 &&
			    r.kind == IMAP_RESP_TAGGED) {
				snprintf(err, errlen, "%s: AUTHENTICATE PLAIN refused", imap_peer(c));
				rc = IMAP_ERR_AUTH;
			} else {
				snprintf(err, errlen, "%s: unexpected answer to AUTHENTICATE", imap_peer(c));
				rc = IMAP_ERR_PROTOCOL;
			}
			goto out;
		}
		buf_adds(&b64, "\r\n");
		rc = imap_write(c, b64.data, b64.len, err, errlen);
		if (rc < 0)
			goto out;
	}
	rc = imap_wait_tagged(c, tag, NULL, NULL, "login", err, errlen);
out:
	if (raw.data)
		OPENSSL_cleanse(raw.data, raw.len);
	if (b64.data)
		OPENSSL_cleanse(b64.data, b64.len);
	buf_free(&raw);
	buf_free(&b64);
	return rc;
}

/* Wait for the "+" that lets a synchronizing literal of LOGIN go (RFC 3501 §7.5);
 * a tagged answer instead is a refused login. */
static int login_continuation(struct imap_client *c, char *err, size_t errlen)
{
	int rc = read_past_untagged(c, err, errlen);
	if (rc < 0)
		return rc;
	if (c->resp.len >= 1 && c->resp.data[0] == '+')
		return 0;
	char text[200];
	server_text(c, text, sizeof(text), c->resp.data, c->resp.len);
	snprintf(err, errlen, "refused before the password was sent: %s", text);
	return IMAP_ERR_NO;
}

/* One argument of LOGIN: a quoted string when it can be one, else a literal
 * (8-bit user names and passwords), sent at once with LITERAL+ (or LITERAL-
 * for up to 4096 bytes), otherwise after the server's "+". */
static int login_arg(struct imap_client *c, struct buf *cmd, const char *s, char *err, size_t errlen)
{
	size_t mark = cmd->len;
	if (imap_add_quoted(cmd, s) == 0)
		return 0;
	cmd->len = mark;
	size_t n = strlen(s);
	int nonsync = (c->caps & IMAP_CAP_LITERALPLUS) || ((c->caps & IMAP_CAP_LITERALMINUS) && n <= 4096);
	buf_addf(cmd, "{%zu%s}\r\n", n, nonsync ? "+" : "");
	if (!nonsync) {
		int rc = imap_write(c, cmd->data, cmd->len, err, errlen);
		OPENSSL_cleanse(cmd->data, cmd->cap);
		buf_reset(cmd);
		if (rc == 0)
			rc = login_continuation(c, err, errlen);
		if (rc < 0)
			return rc;
	}
	buf_add(cmd, s, n);
	return 0;
}

static int login_login(struct imap_client *c, const char *user, const char *password,
		       char *err, size_t errlen)
{
	struct buf cmd = BUF_INIT;
	int rc;
	unsigned tag = ++c->tagno;
	log_debug("%s: C: a%u LOGIN <credentials hidden>", imap_peer(c), tag);
	/* room for the worst case up front: no realloc leaves a copy of the password behind */
	buf_grow(&cmd, 2 * (strlen(user) + strlen(password)) + 96);
	buf_addf(&cmd, "a%u LOGIN ", tag);
	if ((rc = login_arg(c, &cmd, user, err, errlen)) < 0)
		goto out;
	buf_addch(&cmd, ' ');
	if ((rc = login_arg(c, &cmd, password, err, errlen)) < 0)
		goto out;
	buf_adds(&cmd, "\r\n");
	rc = imap_write(c, cmd.data, cmd.len, err, errlen);
	if (rc == 0)
		rc = imap_wait_tagged(c, tag, NULL, NULL, "login", err, errlen);
out:
	if (cmd.data)
		OPENSSL_cleanse(cmd.data, cmd.cap);
	buf_free(&cmd);
	return rc;
}

/* Read the server's continuation of a SASL exchange and decode its challenge
 * into out. A tagged answer instead (the server refused the mechanism) is an
 * authentication failure. */
static int sasl_challenge(struct imap_client *c, const char *mech, struct buf *out, char *err, size_t errlen)
{
	int rc = read_past_untagged(c, err, errlen);
	if (rc < 0)
		return rc;
	if (c->resp.len < 2 || c->resp.data[0] != '+' || c->resp.data[1] != ' ') {
		snprintf(err, errlen, "%s: AUTHENTICATE %s refused", imap_peer(c), mech);
		return IMAP_ERR_AUTH;
	}
	const char *b = c->resp.data + 2;
	size_t n = c->resp.len - 2;
	while (n && (b[n - 1] == '\r' || b[n - 1] == '\n' || b[n - 1] == ' '))
		n--;
	buf_reset(out);
	if (n % 4 || n > 4096) {
		snprintf(err, errlen, "%s: malformed AUTHENTICATE %s challenge", imap_peer(c), mech);
		return IMAP_ERR_PROTOCOL;
	}
	buf_grow(out, n / 4 * 3 + 1);
	int k = n ? EVP_DecodeBlock((unsigned char *)out->data, (const unsigned char *)b, (int)n) : 0;
	if (k < 0) {
		snprintf(err, errlen, "%s: malformed AUTHENTICATE %s challenge", imap_peer(c), mech);
		return IMAP_ERR_PROTOCOL;
	}
	for (size_t i = n; i > 0 && b[i - 1] == '=' && k > 0; i--)
		k--; /* EVP_DecodeBlock counts the padding */
	out->len = (size_t)k;
	out->data[out->len] = '\0';
	return 0;
}

/* Send one base64 line of a SASL exchange and wipe it. */
static int sasl_reply(struct imap_client *c, const unsigned char *data, size_t len, char *err, size_t errlen)
{
	struct buf b64 = BUF_INIT;
	base64(&b64, data, len);
	buf_adds(&b64, "\r\n");
	int rc = imap_write(c, b64.data, b64.len, err, errlen);
	OPENSSL_cleanse(b64.data, b64.len);
	buf_free(&b64);
	return rc;
}

/* CRAM-MD5 (RFC 2195): the password never crosses the wire, only
 * HMAC-MD5(password, challenge). A fallback for servers without AUTH=PLAIN. */
static int login_cram_md5(struct imap_client *c, const char *user, const char *password,
			  char *err, size_t errlen)
{
	struct buf chal = BUF_INIT, ans = BUF_INIT;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;
	unsigned tag;
	int rc = imap_send_command(c, &tag, err, errlen, "AUTHENTICATE CRAM-MD5");
	if (rc == 0)
		rc = sasl_challenge(c, "CRAM-MD5", &chal, err, errlen);
	if (rc == 0 && !HMAC(EVP_md5(), password, (int)strlen(password), (const unsigned char *)chal.data,
			     chal.len, mac, &maclen)) {
		snprintf(err, errlen, "%s: CRAM-MD5 is not available in this OpenSSL", imap_peer(c));
		rc = IMAP_ERR_POLICY;
	}
	if (rc == 0) {
		buf_adds(&ans, user);
		buf_addch(&ans, ' ');
		for (unsigned i = 0; i < maclen; i++)
			buf_addf(&ans, "%02x", mac[i]);
		rc = sasl_reply(c, (const unsigned char *)ans.data, ans.len, err, errlen);
	}
	if (rc == 0)
		rc = imap_wait_tagged(c, tag, NULL, NULL, "login", err, errlen);
	OPENSSL_cleanse(mac, sizeof(mac));
	if (ans.data)
		OPENSSL_cleanse(ans.data, ans.len);
	buf_free(&chal);
	buf_free(&ans);
	return rc;
}

/* AUTHENTICATE LOGIN (the SASL mechanism, not the LOGIN command): user name and
 * password each answer one challenge. For servers that offer only it. */
static int login_sasl_login(struct imap_client *c, const char *user, const char *password,
			    char *err, size_t errlen)
{
	struct buf chal = BUF_INIT;
	unsigned tag;
	int rc = imap_send_command(c, &tag, err, errlen, "AUTHENTICATE LOGIN");
	if (rc == 0)
		rc = sasl_challenge(c, "LOGIN", &chal, err, errlen);
	if (rc == 0)
		rc = sasl_reply(c, (const unsigned char *)user, strlen(user), err, errlen);
	if (rc == 0)
		rc = sasl_challenge(c, "LOGIN", &chal, err, errlen);
	if (rc == 0)
		rc = sasl_reply(c, (const unsigned char *)password, strlen(password), err, errlen);
	if (rc == 0)
		rc = imap_wait_tagged(c, tag, NULL, NULL, "login", err, errlen);
	buf_free(&chal);
	return rc;
}

/* OAuth2 bearer tokens: XOAUTH2 (Google/Microsoft) or OAUTHBEARER (RFC 7628).
 * On failure the server sends a continuation with an error document; the client
 * answers it (empty for XOAUTH2, %x01 for OAUTHBEARER, RFC 7628 §3.2.3) and then
 * gets the tagged NO. */
static int login_oauth(struct imap_client *c, int bearer, const char *user, const char *token,
		       char *err, size_t errlen)
{
	struct buf raw = BUF_INIT, b64 = BUF_INIT;
	const char *mech = bearer ? "OAUTHBEARER" : "XOAUTH2";
	unsigned tag;
	int rc;
	if (!(c->caps & (bearer ? IMAP_CAP_AUTH_OAUTHBEARER : IMAP_CAP_AUTH_XOAUTH2))) {
		snprintf(err, errlen, "%s: server does not offer AUTH=%s", imap_peer(c), mech);
		return IMAP_ERR_POLICY;
	}
	if (bearer) { /* the GS2 header's authzid: ',' and '=' escaped (RFC 5801 §4) */
		buf_adds(&raw, "n,a=");
		for (const char *p = user; *p; p++)
			buf_adds(&raw, *p == ',' ? "=2C" : *p == '=' ? "=3D" : (char[]){ *p, '\0' });
		buf_addf(&raw, ",\001host=%s\001port=%d\001auth=Bearer %s\001\001", c->acct->host, c->acct->port,
			 token);
	}
	else
		buf_addf(&raw, "user=%s\001auth=Bearer %s\001\001", user, token);
	base64(&b64, (const unsigned char *)raw.data, raw.len);
	secret_form_add(c, b64.data, b64.len);
	if (c->caps & IMAP_CAP_SASL_IR) {
		rc = imap_send_command(c, &tag, err, errlen, "AUTHENTICATE %s %s", mech, b64.data);
	} else {
		rc = imap_send_command(c, &tag, err, errlen, "AUTHENTICATE %s", mech);
		if (rc == 0)
			rc = read_past_untagged(c, err, errlen);
		if (rc == 0 && (c->resp.len < 1 || c->resp.data[0] != '+')) {
			snprintf(err, errlen, "%s: AUTHENTICATE %s refused", imap_peer(c), mech);
			rc = IMAP_ERR_AUTH;
		}
		if (rc == 0) {
			buf_adds(&b64, "\r\n");
			rc = imap_write(c, b64.data, b64.len, err, errlen);
		}
	}
	/* an error continuation gets its dummy answer, then the tagged NO */
	if (rc == 0) {
		c->cont_reply = bearer ? "AQ==\r\n" : "\r\n";
		rc = imap_wait_tagged(c, tag, NULL, NULL, "login", err, errlen);
		c->cont_reply = NULL;
	}
	if (raw.data)
		OPENSSL_cleanse(raw.data, raw.len);
	if (b64.data)
		OPENSSL_cleanse(b64.data, b64.len);
	buf_free(&raw);
	buf_free(&b64);
	return rc;
}

int imap_compress(struct imap_client *c, char *err, size_t errlen)
{
	char zerr[160];
	if (!c->acct->compress || !(c->caps & IMAP_CAP_COMPRESS_DEFLATE) || c->compress_tried)
		return 0;
	c->compress_tried = 1;
	/* RFC 4978 §3: nothing else is sent until its answer */
	int rc = imap_simple_command(c, "COMPRESS", err, errlen, "COMPRESS DEFLATE");
	if (rc == IMAP_ERR_NO) {
		log_info("%s: COMPRESS DEFLATE refused (%s); going on uncompressed", imap_peer(c), err);
		return 0;
	}
	if (rc < 0)
		return rc;
	/* what came after the OK is already compressed */
	c->z = net_deflate_new(c->net, imap_peer(c), c->rbuf.data + c->rpos, c->rbuf.len - c->rpos, zerr,
			       sizeof(zerr));
	if (!c->z) {
		snprintf(err, errlen, "%s: %s", imap_peer(c), zerr);
		return IMAP_ERR_NET;
	}
	c->rbuf.len = c->rpos;
	if (c->rbuf.data)
		c->rbuf.data[c->rbuf.len] = '\0';
	log_debug("%s: COMPRESS DEFLATE active", imap_peer(c));
	return 0;
}

void imap_redact(char *s, const char *secret)
{
	size_t n = secret ? strlen(secret) : 0;
	char *p;
	if (!n)
		return;
	while ((p = strstr(s, secret)) != NULL)
		memset(p, '*', n);
}

/* After a failed login: err must not show the password, nor the base64 forms
 * that carried it (AUTHENTICATE PLAIN's "\0user\0password", AUTHENTICATE LOGIN's
 * password alone), whatever the server echoed of them. */
static void login_redact(char *err, const char *user, const char *password)
{
	struct buf raw = BUF_INIT, b64 = BUF_INIT;
	imap_redact(err, password);
	buf_addch(&raw, '\0');
	buf_adds(&raw, user);
	buf_addch(&raw, '\0');
	buf_adds(&raw, password);
	base64(&b64, (const unsigned char *)raw.data, raw.len);
	imap_redact(err, b64.data);
	buf_reset(&b64);
	base64(&b64, (const unsigned char *)password, strlen(password));
	imap_redact(err, b64.data);
	OPENSSL_cleanse(raw.data, raw.len);
	OPENSSL_cleanse(b64.data, b64.len);
	buf_free(&raw);
	buf_free(&b64);
}

/* The forms of the password a server may echo while the login runs: as sent
 * raw (or in a literal), inside a quoted string, and in base64, alone
 * (AUTHENTICATE LOGIN) and in SASL PLAIN's "\0user\0password" (login_oauth
 * adds its own request's). */
static void secret_forms_set(struct imap_client *c, const char *user, const char *password)
{
	struct buf raw = BUF_INIT, enc = BUF_INIT;
	secret_form_add(c, password, strlen(password));
	if (imap_add_quoted(&enc, password) == 0 && enc.len - 2 != strlen(password))
		secret_form_add(c, enc.data + 1, enc.len - 2);
	buf_addch(&raw, '\0');
	buf_adds(&raw, user);
	buf_addch(&raw, '\0');
	buf_adds(&raw, password);
	buf_reset(&enc);
	base64(&enc, (const unsigned char *)raw.data, raw.len);
	secret_form_add(c, enc.data, enc.len);
	buf_reset(&enc);
	base64(&enc, (const unsigned char *)password, strlen(password));
	secret_form_add(c, enc.data, enc.len);
	OPENSSL_cleanse(raw.data, raw.len);
	if (enc.data)
		OPENSSL_cleanse(enc.data, enc.cap);
	buf_free(&raw);
	buf_free(&enc);
}

static int login_caps(struct imap_client *c, char *err, size_t errlen)
{
	/* Capabilities may change after login (RFC 3501 §6.2.3); ask unless the
	 * server volunteered them in the login response. */
	return c->caps_seen ? 0 : imap_simple_command(c, "CAPABILITY", err, errlen, "CAPABILITY");
}

int imap_login(struct imap_client *c, const char *user, const char *password, char *err, size_t errlen)
{
	int rc;
	if (c->preauth) /* already authenticated by the server (RFC 3501 §7.1.4) */
		return login_caps(c, err, errlen);
	if (!net_is_tls(c->net) && c->acct->tls != TLS_NONE) {
		snprintf(err, errlen, "%s: refusing to send the password without TLS", imap_peer(c));
		return IMAP_ERR_POLICY;
	}
	if (strpbrk(user, "\r\n") || strpbrk(password, "\r\n")) {
		snprintf(err, errlen, "%s: user name or password contains a line break", imap_peer(c));
		return IMAP_ERR_POLICY;
	}
	/* PLAIN first; CRAM-MD5, AUTHENTICATE LOGIN and the LOGIN command only for
	 * a server that offers nothing better (LOGINDISABLED forbids the command,
	 * RFC 3501 §6.2.3, not the mechanisms) */
	unsigned caps = c->caps;
	int can_login_cmd = !(caps & IMAP_CAP_LOGINDISABLED);
	int oauth = c->acct->auth == AUTH_XOAUTH2 || c->acct->auth == AUTH_OAUTHBEARER;
	int (*how)(struct imap_client *, const char *, const char *, char *, size_t) = NULL;
	if (oauth)
		how = NULL;
	else if (c->acct->auth == AUTH_LOGIN)
		how = can_login_cmd ? login_login : (caps & IMAP_CAP_AUTH_LOGIN) ? login_sasl_login : NULL;
	else if (caps & IMAP_CAP_AUTH_PLAIN)
		how = login_plain;
	else if (caps & IMAP_CAP_AUTH_CRAM_MD5)
		how = login_cram_md5;
	else if (caps & IMAP_CAP_AUTH_LOGIN) /* advertised, where the command is only implied */
		how = login_sasl_login;
	else if (can_login_cmd)
		how = login_login;
	if (!oauth && !how) {
		snprintf(err, errlen, "%s: server disallows login on this connection (LOGINDISABLED)%s",
			 imap_peer(c), net_is_tls(c->net) ? " and offers no mechanism mailkeep knows" :
			 "; use tls: starttls or implicit");
		return IMAP_ERR_POLICY;
	}
	c->caps_seen = 0;
	log_debug("%s: login with %s", imap_peer(c), oauth ? (c->acct->auth == AUTH_OAUTHBEARER ? "OAUTHBEARER" :
		  "XOAUTH2") : how == login_plain ? "AUTHENTICATE PLAIN" : how == login_cram_md5 ?
		  "AUTHENTICATE CRAM-MD5" : how == login_login ? "the LOGIN command" : "AUTHENTICATE LOGIN");
	secret_forms_set(c, user, password);
	if (oauth)
		rc = login_oauth(c, c->acct->auth == AUTH_OAUTHBEARER, user, password, err, errlen);
	else
		rc = how(c, user, password, err, errlen);
	secret_forms_clear(c);
	if (rc < 0)
		login_redact(err, user, password);
	if (rc == IMAP_ERR_NO) {
		char text[300];
		snprintf(text, sizeof(text), "%s", err);
		snprintf(err, errlen, "%s: login failed for user \"%s\" (%s)", imap_peer(c), user, text);
		return IMAP_ERR_AUTH;
	}
	if (rc < 0)
		return rc;
	return login_caps(c, err, errlen);
}

void imap_close(struct imap_client *c)
{
	if (!c)
		return;
	if (c->net && !c->bye && !c->dead) {
		char err[256];
		unsigned tag;
		/* best effort: do not wait long for the answer */
		(void)imap_send_command(c, &tag, err, sizeof(err), "LOGOUT");
	}
	if (c->z) {
		uint64_t wire, plain;
		net_deflate_counts(c->z, &wire, &plain);
		log_info("%s: COMPRESS DEFLATE: %" PRIu64 " bytes over the wire for %" PRIu64 " (%.0f %%)",
			 imap_peer(c), wire, plain, plain ? 100.0 * (double)wire / (double)plain : 100.0);
		net_deflate_free(c->z);
	}
	secret_forms_clear(c);
	net_close(c->net);
	imap_parser_free(c->parser);
	buf_free(&c->rbuf);
	buf_free(&c->resp);
	buf_free(&c->cmd);
	free(c);
}


uint32_t imap_exists(const struct imap_client *c)
{
	return c->exists;
}

int imap_connection_lost(int rc)
{
	return rc == IMAP_ERR_NET || rc == IMAP_ERR_PROTOCOL || rc == IMAP_ERR_CERT;
}
