/* IMAP client, login: AUTHENTICATE PLAIN, CRAM-MD5, LOGIN, XOAUTH2 and
 * OAUTHBEARER, the LOGIN command, and keeping the secret out of every message
 * (masked in server text while a login runs, redacted from its errors). */
#include "mailkeep/imap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "mailkeep/log.h"
#include "mailkeep/net.h"

#include "imap_internal.h"

/* A part of a secret form is masked too (mask_secrets): every run of SECRET_PART
 * bytes or more that is in one. A server may echo what it was sent cut short
 * ("LOGIN u "Sup3rS3cr..."), or its end only, which the whole form does not
 * match. Six bytes, as for a folder name holding the password (imap_list.c): a
 * shorter run is too likely a word of the server's own text. c->secret_parts
 * holds every SECRET_PART bytes of the forms, packed in a uint64_t and sorted,
 * so that a text is looked up in one pass (every tagged answer's text goes
 * through here). */
#define SECRET_PART 6

static uint64_t secret_part(const char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < SECRET_PART; i++)
		v = v << 8 | (unsigned char)p[i];
	return v;
}

static int part_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* A server's text may echo the secret the login sent it, in one of the forms
 * in c->secret_forms: in its answer to the login, and as well in any answer
 * after it (the CAPABILITY that follows, a NO to a LIST), so the forms are
 * kept until the connection is closed. They are masked in the raw text,
 * before it is escaped and cut to a message's size: masked afterwards
 * (login_redact), a long password was shown cut short, past the mask, and one
 * with a control or 8-bit byte escaped ("\x09"), which the mask did not match. */
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
	/* byte i is masked once every run that holds it has been looked up: the
	 * runs starting at i - SECRET_PART + 1 .. i */
	size_t n = c->secret_parts.len / sizeof(uint64_t), masked_to = 0;
	for (size_t i = 0; n && i < out->len; i++) {
		if (i + SECRET_PART <= out->len) {
			uint64_t v = secret_part(out->data + i);
			if (bsearch(&v, c->secret_parts.data, n, sizeof(v), part_cmp))
				masked_to = i + SECRET_PART;
		}
		if (i < masked_to)
			out->data[i] = '*';
	}
}

void imap_server_text(const struct imap_client *c, char *dst, size_t dstlen, const char *s, size_t len)
{
	struct buf raw = BUF_SECRET;
	if (!c->n_secret_forms) {
		imap_safe_text(dst, dstlen, s, len);
		return;
	}
	mask_secrets(c, &raw, s, len);
	imap_safe_text(dst, dstlen, raw.data, raw.len);
	buf_free(&raw);
}

/* The parse error of the unparsable line in c->resp once a login has run: the
 * parser quotes 40 bytes of it, which may be a part of the password too long
 * to be matched by the mask afterwards; so the masked line is parsed again. */
void imap_parse_error_masked(struct imap_client *c, char *perr, size_t perrlen)
{
	struct buf raw = BUF_SECRET;
	struct imap_response r;
	mask_secrets(c, &raw, c->resp.data, c->resp.len);
	if (imap_parse(c->parser, raw.data, raw.len, &r, perr, perrlen) == 0)
		snprintf(perr, perrlen, "not shown (it may echo the password)");
	buf_free(&raw);
}

/* Sorted in place, as part_cmp orders them: glibc's qsort may copy the array
 * into a buffer it frees unwiped, and these are pieces of the password.
 * A Shell sort (gaps 3h+1): a few thousand parts at most. */
static void parts_sort(uint64_t *a, size_t n)
{
	size_t h = 1;
	while (h < n / 3)
		h = 3 * h + 1;
	for (; h > 0; h /= 3) {
		for (size_t i = h; i < n; i++) {
			uint64_t v = a[i];
			size_t j = i;
			for (; j >= h && a[j - h] > v; j -= h)
				a[j] = a[j - h];
			a[j] = v;
		}
	}
}

static void secret_form_add(struct imap_client *c, const char *s, size_t len)
{
	if (!len || c->n_secret_forms == sizeof(c->secret_forms) / sizeof(c->secret_forms[0]))
		return;
	buf_add(&c->secret_forms[c->n_secret_forms++], s, len);
	for (size_t i = 0; i + SECRET_PART <= len; i++) {
		uint64_t v = secret_part(s + i);
		buf_add(&c->secret_parts, (const char *)&v, sizeof(v));
	}
	if (c->secret_parts.len)
		parts_sort((uint64_t *)(void *)c->secret_parts.data, c->secret_parts.len / sizeof(uint64_t));
}

void imap_secret_forms_clear(struct imap_client *c)
{
	for (size_t i = 0; i < c->n_secret_forms; i++)
		buf_free(&c->secret_forms[i]);
	c->n_secret_forms = 0;
	buf_free(&c->secret_parts);
}

/* Append the base64 of data to out. */
static void base64(struct buf *out, const unsigned char *data, size_t len)
{
	buf_grow(out, 4 * ((len + 2) / 3));
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
			imap_server_text(c, c->bye_text, sizeof(c->bye_text), r.text, r.text_len);
		}
	}
}

static int login_plain(struct imap_client *c, const char *user, const char *password,
		       char *err, size_t errlen)
{
	struct buf raw = BUF_SECRET, b64 = BUF_SECRET;
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
	imap_server_text(c, text, sizeof(text), c->resp.data, c->resp.len);
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
	struct buf cmd = BUF_SECRET;
	int rc;
	unsigned tag = ++c->tagno;
	log_debug("%s: C: a%u LOGIN <credentials hidden>", imap_peer(c), tag);
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
	struct buf b64 = BUF_SECRET;
	base64(&b64, data, len);
	buf_adds(&b64, "\r\n");
	int rc = imap_write(c, b64.data, b64.len, err, errlen);
	buf_free(&b64);
	return rc;
}

/* CRAM-MD5 (RFC 2195): the password never crosses the wire, only
 * HMAC-MD5(password, challenge). A fallback for servers without AUTH=PLAIN. */
static int login_cram_md5(struct imap_client *c, const char *user, const char *password,
			  char *err, size_t errlen)
{
	struct buf chal = BUF_INIT, ans = BUF_SECRET;
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
	struct buf raw = BUF_SECRET, b64 = BUF_SECRET;
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
	buf_free(&raw);
	buf_free(&b64);
	return rc;
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
	struct buf raw = BUF_SECRET, b64 = BUF_SECRET;
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
	buf_free(&raw);
	buf_free(&b64);
}

/* The forms of the password a server may echo while the login runs: as sent
 * raw (or in a literal), inside a quoted string, and in base64, alone
 * (AUTHENTICATE LOGIN) and in SASL PLAIN's "\0user\0password" (login_oauth
 * adds its own request's). */
static void secret_forms_set(struct imap_client *c, const char *user, const char *password)
{
	struct buf raw = BUF_SECRET, enc = BUF_SECRET;
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
	/* masked from here on in every answer, also when none of it is sent (a
	 * refusal below, PREAUTH): a server's text that holds it never shows */
	if (!c->n_secret_forms)
		secret_forms_set(c, user, password);
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
	if (oauth)
		rc = login_oauth(c, c->acct->auth == AUTH_OAUTHBEARER, user, password, err, errlen);
	else
		rc = how(c, user, password, err, errlen);
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
