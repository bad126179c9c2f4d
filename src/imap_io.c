/* IMAP client, the bytes to and from the server: one response assembled at a
 * time (literals kept inline, a message body streamed to the sink), commands
 * written (through COMPRESS when active). */
#include "mailkeep/imap.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "mailkeep/log.h"
#include "mailkeep/net.h"
#include "mailkeep/net_deflate.h"

#include "imap_internal.h"

#define MAX_LINE ((size_t)16 << 20)      /* one response line without literals */
#define MAX_RESPONSE ((size_t)64 << 20)  /* one response, literals kept inline */

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

/* Read until the bytes from c->rpos hold a whole line (those before *scanned
 * are known to hold no LF); *linelen: its length with the LF. */
static int read_line(struct imap_client *c, size_t *scanned, size_t *linelen, char *err, size_t errlen)
{
	for (;;) {
		/* find the end of the current line */
		char *nl = c->rbuf.len > *scanned ?
			memchr(c->rbuf.data + *scanned, '\n', c->rbuf.len - *scanned) : NULL;
		if (!nl) {
			*scanned = c->rbuf.len;
			if (c->rbuf.len - c->rpos > MAX_LINE) {
				snprintf(err, errlen, "%s: response line longer than %zu bytes", imap_peer(c),
					 MAX_LINE);
				return IMAP_ERR_PROTOCOL;
			}
			size_t off = *scanned - c->rpos;
			int rc = fill(c, err, errlen);
			if (rc < 0)
				return rc;
			*scanned = c->rpos + off;
			continue;
		}
		*linelen = (size_t)(nl - (c->rbuf.data + c->rpos)) + 1;
		return 0;
	}
}

/* The line ending in the literal marker of a message body (at marker, lit
 * bytes; body_item as is_body_item says): the line with an empty literal
 * "{0}" as its stand-in into c->resp, the body streamed to the sink. */
static int take_body_literal(struct imap_client *c, const char *line, size_t linelen, size_t marker, uint64_t lit,
			     int body_item, char *err, size_t errlen)
{
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
	return 0;
}

/* Any other line ending in a literal marker: the line and its lit bytes into
 * c->resp, within MAX_RESPONSE. */
static int take_literal(struct imap_client *c, const char *line, size_t linelen, uint64_t lit,
			char *err, size_t errlen)
{
	if (lit > MAX_RESPONSE - c->resp.len - linelen) {
		snprintf(err, errlen, "%s: server literal of %" PRIu64 " bytes is too large",
			 imap_peer(c), lit);
		return IMAP_ERR_PROTOCOL;
	}
	buf_add(&c->resp, line, linelen);
	c->rpos += linelen;
	/* moved over as it comes: the read buffer stays at the size of a read,
	 * not that of the literal (which would hold it twice) */
	buf_grow(&c->resp, (size_t)lit);
	while (lit) {
		if (c->rpos == c->rbuf.len) {
			int rc = fill(c, err, errlen);
			if (rc < 0)
				return rc;
		}
		size_t avail = c->rbuf.len - c->rpos;
		size_t take = avail < lit ? avail : (size_t)lit;
		buf_add(&c->resp, c->rbuf.data + c->rpos, take);
		c->rpos += take;
		lit -= take;
	}
	return 0;
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
		size_t linelen;
		int rc = read_line(c, &scanned, &linelen, err, errlen);
		if (rc < 0)
			return rc;
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
			rc = take_body_literal(c, line, linelen, marker, lit, body_item, err, errlen);
			if (rc < 0)
				return rc;
			after_body = 1;
		} else {
			rc = take_literal(c, line, linelen, lit, err, errlen);
			if (rc < 0)
				return rc;
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
	buf_reset(&c->cmd); /* a secret buffer (imap_connect): no growth leaves a copy behind */
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
