/* IMAP client, the connection: greeting, capabilities, STARTTLS, COMPRESS and
 * LOGOUT, and server text made safe for messages. Responses are read and
 * commands written in imap_io.c, waited for in imap_wait.c; login is in
 * imap_login.c, the mailbox commands in imap_list.c, imap_examine.c,
 * imap_fetch.c, imap_append.c and imap_lookup.c. */
#include "mailkeep/imap.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailkeep/log.h"
#include "mailkeep/net.h"
#include "mailkeep/net_deflate.h"
#include "mailkeep/utf7.h"

#include "imap_internal.h"

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

const char *imap_peer(const struct imap_client *c)
{
	return c->acct->host;
}

void imap_set_folder(struct imap_client *c, const char *utf8)
{
	if (!c)
		return;
	if (!utf8 || !c->folder || strcmp(utf8, c->folder)) /* the same again: an attempt retried */
		c->keyword_warnings = 0;
	free(c->folder);
	c->folder = utf8 ? xstrdup(utf8) : NULL;
}

const char *imap_warn_where(const struct imap_client *c, char *buf, size_t len)
{
	if (c->folder && c->acct->name)
		snprintf(buf, len, "account %s: folder \"%s\"", c->acct->name, c->folder);
	else if (c->acct->name)
		snprintf(buf, len, "account %s: %s", c->acct->name, imap_peer(c));
	else
		snprintf(buf, len, "%s", imap_peer(c));
	return buf;
}

unsigned imap_caps(const struct imap_client *c) { return c->caps; }
char imap_delimiter(const struct imap_client *c) { return c->delim; }
unsigned long imap_round_trips(const struct imap_client *c) { return c->round_trips; }
uint64_t imap_bytes_in(const struct imap_client *c) { return c->bytes_in; }

/* ---- capabilities ---- */

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

void imap_set_caps(struct imap_client *c, const struct imap_value *list)
{
	unsigned caps = 0;
	for (size_t i = 0; i < list->n; i++)
		caps |= cap_bit(&list->items[i]);
	c->caps = caps;
	c->caps_seen = 1;
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
		imap_set_caps(c, &r.code_args);
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
	c->cmd.secret = 1; /* AUTHENTICATE's initial response is the password in base64 */
	for (size_t i = 0; i < sizeof(c->secret_forms) / sizeof(c->secret_forms[0]); i++)
		c->secret_forms[i].secret = 1;
	c->secret_parts.secret = 1;
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
	imap_secret_forms_clear(c);
	net_close(c->net);
	imap_parser_free(c->parser);
	buf_free(&c->rbuf);
	buf_free(&c->resp);
	buf_free(&c->cmd);
	free(c->folder);
	free(c);
}

int imap_connection_lost(int rc)
{
	return rc == IMAP_ERR_NET || rc == IMAP_ERR_PROTOCOL || rc == IMAP_ERR_CERT;
}
