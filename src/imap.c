/* IMAP client: connection policy, response assembly (streaming message bodies
 * to a sink), command/response handling and the commands mailkeep needs. */
#include "mailkeep/imap.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "mailkeep/log.h"
#include "mailkeep/maildir.h"
#include "mailkeep/net.h"
#include "mailkeep/utf7.h"

#define MAX_LINE ((size_t)16 << 20)      /* one response line without literals */
#define MAX_RESPONSE ((size_t)64 << 20)  /* one response, literals kept inline */
#define MAX_KEYWORDS 4096                /* bytes of keywords kept per message */

struct imap_client {
	struct net_conn *net;
	const struct account *acct;
	struct imap_parser *parser;
	struct buf rbuf;       /* bytes read, not yet consumed (from rpos) */
	size_t rpos;
	struct buf resp;       /* the response being assembled */
	struct buf cmd;        /* command being sent */
	unsigned caps;
	unsigned tagno;
	char delim;
	int bye;               /* server said BYE */
	int caps_seen;         /* a CAPABILITY list arrived since reset */
	char bye_text[160];
	unsigned long round_trips;
	int sent_since_read;
	uint64_t bytes_in;
	/* streaming state for the current response */
	const struct imap_fetch_cb *sink;
	int sink_failed;
	int streamed;          /* a literal of this response went to the sink */
	uint64_t streamed_size;
	char sink_err[256];
};

/* ---- small helpers ---- */

/* Copy server text into dst for use in messages: bounded, control bytes escaped. */
static void safe_text(char *dst, size_t dstlen, const char *s, size_t len)
{
	size_t o = 0;
	if (!dstlen)
		return;
	for (size_t i = 0; i < len && o + 5 < dstlen; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x20 || ch == 0x7f)
			o += (size_t)snprintf(dst + o, dstlen - o, "\\x%02x", ch);
		else
			dst[o++] = (char)ch;
	}
	dst[o] = '\0';
}

static const char *peer(const struct imap_client *c)
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
	ssize_t n = net_read(c->net, c->rbuf.data + c->rbuf.len, 65536, err, errlen);
	if (n < 0) {
		if (c->bye)
			snprintf(err, errlen, "%s: server closed the connection: %s", peer(c), c->bye_text);
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
 * literal we stream (BODY[] or BODY[]<0>, BINARY[] likewise)? */
static int is_body_item(const char *s, size_t len)
{
	static const char *const items[] = { "BODY[]", "BODY[]<0>", "BINARY[]", "BINARY[]<0>" };
	while (len && s[len - 1] == ' ')
		len--;
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		size_t l = strlen(items[i]);
		if (len >= l && !strncasecmp(s + len - l, items[i], l) &&
		    (len == l || s[len - l - 1] == ' ' || s[len - l - 1] == '('))
			return 1;
	}
	return 0;
}

/* Assemble one complete response into c->resp. */
static int read_response(struct imap_client *c, char *err, size_t errlen)
{
	size_t scanned = c->rpos;
	buf_reset(&c->resp);
	c->streamed = 0;
	c->streamed_size = 0;
	for (;;) {
		/* find the end of the current line */
		char *nl = c->rbuf.len > scanned ?
			memchr(c->rbuf.data + scanned, '\n', c->rbuf.len - scanned) : NULL;
		if (!nl) {
			scanned = c->rbuf.len;
			if (c->rbuf.len - c->rpos > MAX_LINE) {
				snprintf(err, errlen, "%s: response line longer than %zu bytes", peer(c),
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
		uint64_t lit;
		size_t marker;
		int m = imap_frame_literal_at_end(line, linelen, &lit, &marker);
		if (m < 0) {
			snprintf(err, errlen, "%s: malformed literal size in server response", peer(c));
			return IMAP_ERR_PROTOCOL;
		}
		if (c->resp.len + linelen > MAX_RESPONSE) {
			snprintf(err, errlen, "%s: server response larger than %zu bytes", peer(c),
				 MAX_RESPONSE);
			return IMAP_ERR_PROTOCOL;
		}
		if (m == 0) {
			buf_add(&c->resp, line, linelen);
			c->rpos += linelen;
			return 0;
		}
		if (c->sink && !c->streamed && is_body_item(line, marker)) {
			buf_add(&c->resp, line, marker);
			buf_adds(&c->resp, "{0}\r\n");
			c->rpos += linelen;
			c->streamed = 1;
			c->streamed_size = lit;
			if (!c->sink_failed &&
			    c->sink->on_body_begin(c->sink->ctx, lit, c->sink_err, sizeof(c->sink_err)) != 0)
				c->sink_failed = 1;
			int rc = stream_literal(c, lit, err, errlen);
			if (rc < 0)
				return rc;
		} else {
			if (lit > MAX_RESPONSE - c->resp.len - linelen) {
				snprintf(err, errlen, "%s: server literal of %" PRIu64 " bytes is too large",
					 peer(c), lit);
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

static int send_raw(struct imap_client *c, const char *data, size_t len, char *err, size_t errlen)
{
	c->sent_since_read = 1;
	if (net_write(c->net, data, len, err, errlen) < 0)
		return IMAP_ERR_NET;
	return 0;
}

/* Send "<tag> <command>\r\n"; returns the tag number via *tag. The command must
 * not contain CR or LF (checked). */
static int send_command(struct imap_client *c, unsigned *tag, char *err, size_t errlen,
			const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int send_command(struct imap_client *c, unsigned *tag, char *err, size_t errlen,
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
	if (strncmp(c->cmd.data + start, "LOGIN ", 6) && strncmp(c->cmd.data + start, "AUTHENTICATE", 12))
		log_debug("%s: C: %s", peer(c), c->cmd.data);
	else
		log_debug("%s: C: a%u <credentials hidden>", peer(c), *tag);
	buf_adds(&c->cmd, "\r\n");
	return send_raw(c, c->cmd.data, c->cmd.len, err, errlen);
}

/* Append s as an IMAP quoted string; -1 when it cannot be quoted (CR, LF, NUL, 8-bit). */
static int add_quoted(struct buf *b, const char *s)
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
		{ "NAMESPACE", IMAP_CAP_NAMESPACE },
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

typedef int (*untagged_fn)(struct imap_client *c, const struct imap_response *r, void *ctx,
			   char *err, size_t errlen);

/* Read responses until the tagged completion of `tag`. Untagged responses go to
 * fn (may be NULL) after common handling. Returns 0 for OK, IMAP_ERR_NO for
 * NO/BAD (err holds the server's text), or a connection error. */
static int wait_tagged(struct imap_client *c, unsigned tag, untagged_fn fn, void *ctx,
		       const char *what, char *err, size_t errlen)
{
	char tagstr[16];
	int fn_rc = 0;
	snprintf(tagstr, sizeof(tagstr), "a%u", tag);
	for (;;) {
		struct imap_response r;
		char perr[160];
		int rc = read_response(c, err, errlen);
		if (rc < 0)
			return rc;
		if (imap_parse(c->parser, c->resp.data, c->resp.len, &r, perr, sizeof(perr)) < 0) {
			snprintf(err, errlen, "%s: %s: unparsable server response: %s", peer(c), what, perr);
			return IMAP_ERR_PROTOCOL;
		}
		if (r.kind == IMAP_RESP_CONTINUATION) {
			snprintf(err, errlen, "%s: %s: unexpected continuation request", peer(c), what);
			return IMAP_ERR_PROTOCOL;
		}
		if (r.kind == IMAP_RESP_TAGGED) {
			if (r.tag_len != strlen(tagstr) || memcmp(r.tag, tagstr, r.tag_len)) {
				snprintf(err, errlen, "%s: %s: response with unknown tag", peer(c), what);
				return IMAP_ERR_PROTOCOL;
			}
			if (r.code && r.code_len == 10 && !strncasecmp(r.code, "CAPABILITY", 10))
				set_caps(c, &r.code_args);
			if (r.status == IMAP_STATUS_OK) {
				if (fn_rc)
					return fn_rc;
				return fn ? fn(c, &r, ctx, err, errlen) : 0;
			}
			if (r.status == IMAP_STATUS_NO || r.status == IMAP_STATUS_BAD) {
				char text[200];
				safe_text(text, sizeof(text), r.text, r.text_len);
				snprintf(err, errlen, "%s: %s: server said %s: %s", peer(c), what,
					 r.status == IMAP_STATUS_NO ? "NO" : "BAD", text);
				return fn_rc ? fn_rc : IMAP_ERR_NO;
			}
			snprintf(err, errlen, "%s: %s: malformed tagged response", peer(c), what);
			return IMAP_ERR_PROTOCOL;
		}
		/* untagged */
		if (r.status == IMAP_STATUS_BYE) {
			c->bye = 1;
			safe_text(c->bye_text, sizeof(c->bye_text), r.text, r.text_len);
			continue;
		}
		if (r.status == IMAP_STATUS_NONE && r.name && r.name_len == 10 &&
		    !strncasecmp(r.name, "CAPABILITY", 10))
			set_caps(c, &r.args);
		if (r.status == IMAP_STATUS_OK && r.code && r.code_len == 10 &&
		    !strncasecmp(r.code, "CAPABILITY", 10))
			set_caps(c, &r.code_args);
		if (fn && !fn_rc) {
			rc = fn(c, &r, ctx, err, errlen);
			if (rc == IMAP_ERR_NET || rc == IMAP_ERR_PROTOCOL)
				return rc;
			fn_rc = rc; /* keep reading to the completion, then report */
		}
	}
}

static int simple_command(struct imap_client *c, const char *what, char *err, size_t errlen,
			  const char *command)
{
	unsigned tag;
	int rc = send_command(c, &tag, err, errlen, "%s", command);
	if (rc < 0)
		return rc;
	return wait_tagged(c, tag, NULL, NULL, what, err, errlen);
}

/* ---- connection setup ---- */

static int read_greeting(struct imap_client *c, int *preauth, char *err, size_t errlen)
{
	struct imap_response r;
	char perr[160];
	int rc = read_response(c, err, errlen);
	if (rc < 0)
		return rc;
	if (imap_parse(c->parser, c->resp.data, c->resp.len, &r, perr, sizeof(perr)) < 0 ||
	    r.kind != IMAP_RESP_UNTAGGED) {
		snprintf(err, errlen, "%s: not an IMAP server (bad greeting)", peer(c));
		return IMAP_ERR_PROTOCOL;
	}
	if (r.status == IMAP_STATUS_BYE) {
		char text[200];
		safe_text(text, sizeof(text), r.text, r.text_len);
		snprintf(err, errlen, "%s: server refused the connection: %s", peer(c), text);
		return IMAP_ERR_NET;
	}
	if (r.status != IMAP_STATUS_OK && r.status != IMAP_STATUS_PREAUTH) {
		snprintf(err, errlen, "%s: not an IMAP server (bad greeting)", peer(c));
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
			 "without TLS (set tls: implicit, or tls: none to allow plain text)", peer(c));
		return IMAP_ERR_POLICY;
	}
	int rc = simple_command(c, "STARTTLS", err, errlen, "STARTTLS");
	if (rc < 0)
		return rc == IMAP_ERR_NO ? IMAP_ERR_POLICY : rc;
	/* Anything the server sent after the OK was sent in plain text and could have
	 * been injected by an attacker: refuse (CVE-2011-0411 class). */
	if (c->rpos != c->rbuf.len) {
		snprintf(err, errlen, "%s: data received before the TLS handshake (STARTTLS "
			 "injection?); refusing", peer(c));
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
	if (preauth && acct->tls == TLS_STARTTLS) {
		snprintf(err, errlen, "%s: server pre-authenticated the connection, so STARTTLS is "
			 "impossible; refusing to continue without TLS", peer(c));
		rc = IMAP_ERR_POLICY;
		goto fail;
	}
	if (rc == 0 || acct->tls == TLS_STARTTLS) {
		if (rc == 0 && (rc = simple_command(c, "CAPABILITY", err, errlen, "CAPABILITY")) < 0)
			goto fail;
	}
	if (acct->tls == TLS_STARTTLS) {
		if ((rc = do_starttls(c, err, errlen)) < 0)
			goto fail;
		if ((rc = simple_command(c, "CAPABILITY", err, errlen, "CAPABILITY")) < 0)
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
		rc = send_command(c, &tag, err, errlen, "AUTHENTICATE PLAIN %s", b64.data);
		if (rc < 0)
			goto out;
	} else {
		rc = send_command(c, &tag, err, errlen, "AUTHENTICATE PLAIN");
		if (rc < 0)
			goto out;
		rc = read_response(c, err, errlen);
		if (rc < 0)
			goto out;
		if (c->resp.len < 1 || c->resp.data[0] != '+') {
			/* the server answered without asking: treat as the completion */
			struct imap_response r;
			char perr[160];
			if (imap_parse(c->parser, c->resp.data, c->resp.len, &r, perr, sizeof(perr)) == 0 &&
			    r.kind == IMAP_RESP_TAGGED) {
				snprintf(err, errlen, "%s: AUTHENTICATE PLAIN refused", peer(c));
				rc = IMAP_ERR_AUTH;
			} else {
				snprintf(err, errlen, "%s: unexpected answer to AUTHENTICATE", peer(c));
				rc = IMAP_ERR_PROTOCOL;
			}
			goto out;
		}
		buf_adds(&b64, "\r\n");
		rc = send_raw(c, b64.data, b64.len, err, errlen);
		if (rc < 0)
			goto out;
	}
	rc = wait_tagged(c, tag, NULL, NULL, "login", err, errlen);
out:
	if (raw.data)
		OPENSSL_cleanse(raw.data, raw.len);
	if (b64.data)
		OPENSSL_cleanse(b64.data, b64.len);
	buf_free(&raw);
	buf_free(&b64);
	return rc;
}

static int login_login(struct imap_client *c, const char *user, const char *password,
		       char *err, size_t errlen)
{
	struct buf cmd = BUF_INIT;
	int rc;
	unsigned tag = ++c->tagno;
	buf_addf(&cmd, "a%u LOGIN ", tag);
	if (add_quoted(&cmd, user) < 0) {
		snprintf(err, errlen, "%s: user name cannot be sent with LOGIN", peer(c));
		rc = IMAP_ERR_POLICY;
		goto out;
	}
	buf_addch(&cmd, ' ');
	if (add_quoted(&cmd, password) < 0) {
		snprintf(err, errlen, "%s: password has characters LOGIN cannot carry and the server "
			 "offers no AUTHENTICATE PLAIN", peer(c));
		rc = IMAP_ERR_POLICY;
		goto out;
	}
	buf_adds(&cmd, "\r\n");
	log_debug("%s: C: a%u LOGIN <credentials hidden>", peer(c), tag);
	rc = send_raw(c, cmd.data, cmd.len, err, errlen);
	if (rc == 0)
		rc = wait_tagged(c, tag, NULL, NULL, "login", err, errlen);
out:
	if (cmd.data)
		OPENSSL_cleanse(cmd.data, cmd.len);
	buf_free(&cmd);
	return rc;
}

int imap_login(struct imap_client *c, const char *user, const char *password, char *err, size_t errlen)
{
	int rc;
	if (!net_is_tls(c->net) && c->acct->tls != TLS_NONE) {
		snprintf(err, errlen, "%s: refusing to send the password without TLS", peer(c));
		return IMAP_ERR_POLICY;
	}
	if (c->caps & IMAP_CAP_LOGINDISABLED) {
		snprintf(err, errlen, "%s: server disallows login on this connection (LOGINDISABLED)%s",
			 peer(c), net_is_tls(c->net) ? "" : "; use tls: starttls or implicit");
		return IMAP_ERR_POLICY;
	}
	if (strpbrk(user, "\r\n") || strpbrk(password, "\r\n")) {
		snprintf(err, errlen, "%s: user name or password contains a line break", peer(c));
		return IMAP_ERR_POLICY;
	}
	c->caps_seen = 0;
	if (c->caps & IMAP_CAP_AUTH_PLAIN)
		rc = login_plain(c, user, password, err, errlen);
	else
		rc = login_login(c, user, password, err, errlen);
	if (rc == IMAP_ERR_NO) {
		char text[300];
		snprintf(text, sizeof(text), "%s", err);
		snprintf(err, errlen, "%s: login failed for user \"%s\" (%s)", peer(c), user, text);
		return IMAP_ERR_AUTH;
	}
	if (rc < 0)
		return rc;
	/* Capabilities may change after login (RFC 3501 §6.2.3); ask unless the
	 * server volunteered them in the login response. */
	if (!c->caps_seen)
		return simple_command(c, "CAPABILITY", err, errlen, "CAPABILITY");
	return 0;
}

void imap_close(struct imap_client *c)
{
	if (!c)
		return;
	if (c->net && !c->bye) {
		char err[256];
		unsigned tag;
		/* best effort: do not wait long for the answer */
		(void)send_command(c, &tag, err, sizeof(err), "LOGOUT");
	}
	net_close(c->net);
	imap_parser_free(c->parser);
	buf_free(&c->rbuf);
	buf_free(&c->resp);
	buf_free(&c->cmd);
	free(c);
}

/* ---- LIST ---- */

static int on_list(struct imap_client *c, const struct imap_response *r, void *ctx,
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
		log_warn("%s: ignoring malformed LIST response", peer(c));
		return 0;
	}
	const struct imap_value *name = &a->items[2];
	if (!name->len || memchr(name->data, '\0', name->len)) {
		log_warn("%s: ignoring a mailbox with an empty or invalid name", peer(c));
		return 0;
	}
	struct imap_mailbox mb = { 0 };
	for (size_t i = 0; i < a->items[0].n; i++) {
		const struct imap_value *f = &a->items[0].items[i];
		if (imap_value_is(f, "\\Noselect"))
			mb.flags |= IMAP_MBOX_NOSELECT;
		else if (imap_value_is(f, "\\NonExistent"))
			mb.flags |= IMAP_MBOX_NOSELECT | IMAP_MBOX_NONEXISTENT;
	}
	if (a->items[1].type == IMAP_STRING && a->items[1].len == 1)
		mb.delim = a->items[1].data[0];
	else if (a->items[1].type == IMAP_STRING) {
		log_warn("%s: ignoring LIST response with an invalid delimiter", peer(c));
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
	l->items = xrealloc(l->items, (l->n + 1) * sizeof(*l->items));
	l->items[l->n++] = mb;
	return 0;
}

int imap_list(struct imap_client *c, struct imap_mailbox_list *out, char *err, size_t errlen)
{
	unsigned tag;
	memset(out, 0, sizeof(*out));
	int rc = send_command(c, &tag, err, errlen, "LIST \"\" \"*\"");
	if (rc < 0)
		return rc;
	rc = wait_tagged(c, tag, on_list, out, "LIST", err, errlen);
	if (rc < 0)
		imap_mailbox_list_free(out);
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

/* ---- EXAMINE ---- */

static int code_u64(const struct imap_response *r, const char *code, uint64_t *out)
{
	size_t l = strlen(code);
	if (!r->code || r->code_len != l || strncasecmp(r->code, code, l))
		return 0;
	if (r->code_args.n < 1 || imap_value_u64(&r->code_args.items[0], out) < 0)
		return -1;
	return 1;
}

static int on_examine(struct imap_client *c, const struct imap_response *r, void *ctx,
		      char *err, size_t errlen)
{
	struct imap_select_info *info = ctx;
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
	if (r->status == IMAP_STATUS_NONE && r->has_number && r->name && r->name_len == 6 &&
	    !strncasecmp(r->name, "EXISTS", 6))
		info->exists = r->number;
	return 0;
bad:
	snprintf(err, errlen, "%s: invalid number in EXAMINE response", peer(c));
	return IMAP_ERR_PROTOCOL;
}

static int fetch_wait(struct imap_client *c, unsigned tag, const struct imap_fetch_cb *cb,
		      char *err, size_t errlen);

int imap_examine(struct imap_client *c, const char *wire_name, struct imap_select_info *info,
		 const char *fetch_items, const struct imap_fetch_cb *cb, char *err, size_t errlen)
{
	struct buf q = BUF_INIT;
	unsigned tag, ftag = 0;
	char ferr[512] = "";
	int rc, frc = 0;
	memset(info, 0, sizeof(*info));
	if (add_quoted(&q, wire_name) < 0) {
		snprintf(err, errlen, "mailbox name cannot be quoted");
		rc = IMAP_ERR_LOCAL;
		goto out;
	}
	rc = send_command(c, &tag, err, errlen, "EXAMINE %s", q.data);
	/* Pipelined: if EXAMINE fails no mailbox is selected and the FETCH fails too
	 * (RFC 3501 §6.3.1), so it can never read another mailbox. */
	if (rc == 0 && fetch_items)
		rc = send_command(c, &ftag, err, errlen, "UID FETCH 1:* %s", fetch_items);
	if (rc < 0)
		goto out;
	rc = wait_tagged(c, tag, on_examine, info, "EXAMINE", err, errlen);
	if (rc == IMAP_ERR_NET || rc == IMAP_ERR_PROTOCOL)
		goto out;
	if (ftag)
		frc = fetch_wait(c, ftag, cb, ferr, sizeof(ferr));
	if (rc < 0)
		goto out;
	if (info->uidvalidity == 0) {
		snprintf(err, errlen, "%s: server sent no UIDVALIDITY for the mailbox", peer(c));
		rc = IMAP_ERR_NO;
		goto out;
	}
	/* some servers refuse "1:*" on an empty mailbox */
	if (frc == IMAP_ERR_NO && info->exists == 0)
		frc = 0;
	if (frc < 0) {
		snprintf(err, errlen, "%s", ferr);
		rc = frc;
	}
out:
	buf_free(&q);
	return rc;
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

struct fetch_ctx {
	const struct imap_fetch_cb *cb;
	struct buf keywords;
	int failed;
};

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
		snprintf(err, errlen, "%s: malformed FETCH response", peer(c));
		return IMAP_ERR_PROTOCOL;
	}
	const struct imap_value *list = &r->args.items[0];
	struct imap_msg m = { .keywords = "", .internaldate = INT64_MIN };
	const struct imap_value *v;
	if ((v = imap_fetch_item(list, "UID")) != NULL) {
		if (imap_value_u32(v, &m.uid) < 0 || m.uid == 0) {
			snprintf(err, errlen, "%s: invalid UID in FETCH response", peer(c));
			return IMAP_ERR_PROTOCOL;
		}
	}
	if ((v = imap_fetch_item(list, "FLAGS")) != NULL) {
		if (v->type != IMAP_LIST) {
			snprintf(err, errlen, "%s: invalid FLAGS in FETCH response", peer(c));
			return IMAP_ERR_PROTOCOL;
		}
		buf_reset(&fc->keywords);
		m.has_flags = 1;
		for (size_t i = 0; i < v->n; i++) {
			const struct imap_value *f = &v->items[i];
			if (f->type != IMAP_ATOM)
				continue;
			unsigned bit = maildir_flag_from_imap(f->data, f->len);
			if (bit)
				m.flags |= bit;
			else if (f->len && f->data[0] != '\\' && keyword_ok(f) &&
				 fc->keywords.len + f->len + 1 < MAX_KEYWORDS) {
				if (fc->keywords.len)
					buf_addch(&fc->keywords, ' ');
				buf_add(&fc->keywords, f->data, f->len);
			}
		}
		m.keywords = fc->keywords.data ? fc->keywords.data : "";
	}
	if ((v = imap_fetch_item(list, "INTERNALDATE")) != NULL) {
		if (v->type != IMAP_STRING || imap_parse_internaldate(v->data, v->len, &m.internaldate) < 0) {
			snprintf(err, errlen, "%s: invalid INTERNALDATE in FETCH response", peer(c));
			return IMAP_ERR_PROTOCOL;
		}
	}
	if ((v = imap_fetch_item(list, "MODSEQ")) != NULL) {
		if (v->type != IMAP_LIST || v->n != 1 || imap_value_u64(&v->items[0], &m.modseq) < 0) {
			snprintf(err, errlen, "%s: invalid MODSEQ in FETCH response", peer(c));
			return IMAP_ERR_PROTOCOL;
		}
	}
	if (c->streamed) {
		m.has_body = 1;
		m.body_size = c->streamed_size;
	}
	if (c->sink_failed) {
		fc->failed = 1;
		snprintf(err, errlen, "%s", c->sink_err);
		return IMAP_ERR_LOCAL;
	}
	if (!m.uid) /* unsolicited FETCH (flags changed by someone else): ignored */
		return 0;
	if (fc->cb->on_message && fc->cb->on_message(fc->cb->ctx, &m, err, errlen) != 0) {
		fc->failed = 1;
		return IMAP_ERR_LOCAL;
	}
	return 0;
}

static int fetch_wait(struct imap_client *c, unsigned tag, const struct imap_fetch_cb *cb,
		      char *err, size_t errlen)
{
	struct fetch_ctx fc = { .cb = cb, .keywords = BUF_INIT };
	c->sink = cb->on_body_begin ? cb : NULL;
	c->sink_failed = 0;
	int rc = wait_tagged(c, tag, on_fetch, &fc, "UID FETCH", err, errlen);
	c->sink = NULL;
	buf_free(&fc.keywords);
	return rc;
}

int imap_uid_fetch(struct imap_client *c, const char *uidset, const char *items,
		   const struct imap_fetch_cb *cb, char *err, size_t errlen)
{
	unsigned tag;
	int rc = send_command(c, &tag, err, errlen, "UID FETCH %s %s", uidset, items);
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
