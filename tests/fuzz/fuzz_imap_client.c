/* libFuzzer target for the IMAP client's reading of server answers: the
 * greeting, then the responses to one or two commands, read from a stub
 * connection. Where fuzz_imap_parse stops at the parser, this one reaches
 * what the client makes of the parsed values and how it assembles responses:
 * imap_read_response's literal bookkeeping (a BODY[] literal streamed to the
 * sink, others kept), imap_wait_tagged and the handlers of FETCH (flags,
 * keywords, INTERNALDATE, MODSEQ, body), LIST and LIST-STATUS, STATUS,
 * NAMESPACE, SELECT/EXAMINE codes, SEARCH and ESEARCH, VANISHED, EXPUNGE,
 * APPEND's APPENDUID, the FETCH of headers and the login (SASL challenges,
 * the password masked in what the server's text puts in an error). Build: `make fuzz`; run e.g.
 *
 *   build/fuzz/fuzz_imap_client -max_total_time=60 -max_len=4096 WORK tests/fuzz/corpus/imap_client
 *
 * Input: byte 0 = the size of each chunk net_read returns (0: 256), byte 1 =
 * the commands (low nibble first, high nibble second; 11 and up: a login, the
 * low nibble's 13 to 15 configuring LOGIN, XOAUTH2, OAUTHBEARER), the rest
 * = what the server sends, from its greeting on. The client's tags are a1,
 * a2, ... in the order it sends them (the greeting's CAPABILITY answer comes
 * first unless the greeting has a [CAPABILITY ...] code).
 * Properties: no crash, leak or sanitizer report; every failed command leaves
 * a message; UID ranges handed on have no UID 0; a body streamed to the sink is
 * exactly the size it announced; no error after a login holds the password (its
 * answer or any later one). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailkeep/buf.h"
#include "mailkeep/config.h"
#include "mailkeep/imap.h"
#include "mailkeep/log.h"
#include "mailkeep/net.h"
#include "stub_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The stub connection: reads come from the input, writes are dropped. */
struct net_conn {
	struct stub_input in;
};

/* One input at a time (libFuzzer runs them in turn): what net_connect hands out. */
static struct net_conn stub;

struct net_conn *net_connect(const char *host, int port, int tls, const char *ca_file, int timeout_sec,
			     int *errcode, char *err, size_t errlen)
{
	(void)host, (void)port, (void)tls, (void)ca_file, (void)timeout_sec, (void)errcode;
	(void)err, (void)errlen;
	return &stub;
}

int net_starttls(struct net_conn *c, char *err, size_t errlen)
{
	(void)c;
	snprintf(err, errlen, "stub: no TLS");
	return NET_ERR_TLS;
}

ssize_t net_read(struct net_conn *c, void *data, size_t len, char *err, size_t errlen)
{
	return stub_input_read(&c->in, data, len, err, errlen);
}

void net_progress_by_caller(struct net_conn *c)
{
	(void)c;
}

void net_progress(struct net_conn *c, size_t got)
{
	(void)c, (void)got;
}

int net_write(struct net_conn *c, const void *data, size_t len, char *err, size_t errlen)
{
	(void)c, (void)data, (void)len, (void)err, (void)errlen;
	return 0;
}

int net_is_tls(const struct net_conn *c)
{
	(void)c;
	return 0;
}

int net_pending(const struct net_conn *c)
{
	(void)c;
	return 0;
}

void net_close(struct net_conn *c)
{
	(void)c;
}

/* ---- callbacks: check what the client hands on ---- */

struct sink {
	uint64_t announced, got;
	int open;
};

static int on_body_begin(void *ctx, uint64_t size, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	struct sink *s = ctx;
	s->announced = size;
	s->got = 0;
	s->open = 1;
	return 0;
}

static int on_body_data(void *ctx, const char *data, size_t len, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	struct sink *s = ctx;
	volatile unsigned sum = 0;
	if (!s->open || !len)
		abort();
	for (size_t i = 0; i < len; i++)
		sum += (unsigned char)data[i];
	(void)sum;
	s->got += len;
	if (s->got > s->announced)
		abort();
	return 0;
}

static int on_message(void *ctx, const struct imap_msg *m, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	struct sink *s = ctx;
	if (!m->uid || strlen(m->keywords) >= 4096)
		abort();
	if (m->has_body && s->open && m->body_size != s->got)
		abort();
	s->open = 0;
	return 0;
}

static int on_uids(void *ctx, uint32_t lo, uint32_t hi, int vanished)
{
	(void)ctx, (void)vanished;
	if (!lo || lo > hi)
		abort();
	return 0;
}

static int on_uid(void *ctx, uint32_t uid)
{
	(void)ctx;
	if (!uid)
		abort();
	return 0;
}

static int on_header(void *ctx, const struct imap_header_msg *m, char *err, size_t errlen)
{
	(void)ctx, (void)err, (void)errlen;
	volatile unsigned sum = 0;
	for (size_t i = 0; m->header && i < m->header_len; i++)
		sum += (unsigned char)m->header[i];
	(void)sum;
	if (strlen(m->keywords) >= 4096)
		abort();
	return 0;
}

static void check_err(int rc, const char *err)
{
	if (rc < 0 && !err[0])
		abort();
}

/* ---- the commands ---- */

static void run_list(struct imap_client *c, int special, char *err, size_t errlen)
{
	struct imap_mailbox_list l = { 0 };
	int rc = special ? imap_list_special(c, &l, err, errlen) : imap_list(c, &l, NULL, NULL, err, errlen);
	check_err(rc, err);
	for (size_t i = 0; i < l.n; i++)
		if (!l.items[i].name || strlen(l.items[i].name) > 1 << 20)
			abort();
	imap_mailbox_list_free(&l);
}

static void run_status(struct imap_client *c, char *err, size_t errlen)
{
	static const char *const names[] = { "INBOX", "\"a b\"", "Sent" };
	struct imap_status_info st[3];
	check_err(imap_status_many(c, names, 3, st, err, errlen), err);
}

static void run_namespace(struct imap_client *c, char *err, size_t errlen)
{
	char *prefix = NULL, delim = 0;
	int rc = imap_namespace_personal(c, &prefix, &delim, NULL, err, errlen);
	check_err(rc, err);
	if (rc >= 0 && !prefix)
		abort();
	free(prefix);
}

static void run_examine(struct imap_client *c, int qresync, char *err, size_t errlen)
{
	struct sink s = { 0 };
	struct imap_fetch_cb cb = { on_body_begin, on_body_data, on_message, &s };
	unsigned then_tag = 0;
	struct imap_examine_req req = {
		.wire_name = "INBOX", .fetch_items = "(UID FLAGS MODSEQ)", .search_all = 1, .cb = &cb,
		.on_uids = on_uids, .then_set = "1:*", .then_items = "(UID FLAGS BODY.PEEK[])",
		.then_tag = &then_tag,
	};
	if (qresync) {
		req.qresync_uidvalidity = 7;
		req.qresync_modseq = 100;
		req.changedsince = 100;
	}
	struct imap_select_info info;
	int rc = imap_examine(c, &req, &info, err, errlen);
	check_err(rc, err);
	if (rc >= 0 && then_tag)
		check_err(imap_uid_fetch_wait(c, then_tag, &cb, err, errlen), err);
}

static void run_fetch(struct imap_client *c, char *err, size_t errlen)
{
	struct sink s = { 0 };
	struct imap_fetch_cb cb = { on_body_begin, on_body_data, on_message, &s };
	check_err(imap_uid_fetch(c, "1:*", "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])", &cb, err, errlen),
		  err);
}

static void run_select(struct imap_client *c, char *err, size_t errlen)
{
	struct imap_select_info info;
	int keywords_ok = 0;
	struct buf perm = BUF_INIT;
	int rc = imap_select(c, "INBOX", 0, &info, &keywords_ok, &perm, err, errlen);
	check_err(rc, err);
	if (rc >= 0)
		check_err(imap_uid_expunge(c, "1:5", err, errlen), err);
	buf_free(&perm);
}

static void run_search(struct imap_client *c, char *err, size_t errlen)
{
	unsigned tag;
	int rc = imap_uid_search_message_send(c, "<a@b>", 10, 100, &tag, err, errlen);
	if (rc >= 0)
		rc = imap_uid_search_wait(c, tag, on_uid, NULL, err, errlen);
	check_err(rc, err);
	if (rc >= 0)
		check_err(imap_uid_search_all(c, on_uid, NULL, err, errlen), err);
}

static void run_append(struct imap_client *c, char *err, size_t errlen)
{
	static const char msg[] = "Subject: x\r\n\r\nbody\r\n";
	struct imap_append_req req[2] = {
		{ .wire_name = "INBOX", .data = msg, .len = sizeof(msg) - 1, .flags = "\\Seen", .date = INT64_MIN },
		{ .wire_name = "INBOX", .data = msg, .len = sizeof(msg) - 1, .date = INT64_MIN },
	};
	uint32_t uids[2];
	struct imap_append_result res;
	if (imap_multiappend_ok(c)) {
		check_err(imap_multiappend(c, req, 2, uids, &res, err, errlen), err);
		return;
	}
	unsigned tag;
	int rc = imap_append_send(c, &req[0], &tag, &res, NULL, NULL, err, errlen);
	if (rc >= 0)
		rc = imap_append_wait(c, tag, &res, err, errlen);
	check_err(rc, err);
}

static void run_headers(struct imap_client *c, char *err, size_t errlen)
{
	check_err(imap_uid_fetch_headers(c, "1:*", on_header, NULL, err, errlen), err);
}

static const char password[] = "s3cr3t-pw";

static void run_login(struct imap_client *c, char *err, size_t errlen)
{
	check_err(imap_login(c, "fuzz@example.org", password, err, errlen), err);
}

/* Once a login has run, the password must not show in any error, in clear or
 * as the server may echo it: in the login's answers or in any later one. */
static void check_secret(int logged_in, const char *err)
{
	if (logged_in && strstr(err, password))
		abort();
}

static void run_command(struct imap_client *c, unsigned op, char *err, size_t errlen)
{
	err[0] = '\0';
	switch (op < 11 ? op : 11) {
	case 0: run_list(c, 0, err, errlen); break;
	case 1: run_list(c, 1, err, errlen); break;
	case 2: run_status(c, err, errlen); break;
	case 3: run_namespace(c, err, errlen); break;
	case 4: run_examine(c, 0, err, errlen); break;
	case 5: run_examine(c, 1, err, errlen); break;
	case 6: run_fetch(c, err, errlen); break;
	case 7: run_select(c, err, errlen); break;
	case 8: run_search(c, err, errlen); break;
	case 9: run_append(c, err, errlen); break;
	case 10: run_headers(c, err, errlen); break;
	default: run_login(c, err, errlen); break;
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	log_set_level(LOG_QUIET); /* warnings about the server's answers are expected */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	/* a private copy: ASan then catches any read past the input */
	uint8_t *in = malloc(size - 2 ? size - 2 : 1);
	if (!in)
		return 0;
	memcpy(in, data + 2, size - 2);
	stub = (struct net_conn){ .in = { .data = in, .len = size - 2, .chunk = data[0] ? data[0] : 256 } };
	/* the login's mechanism: the default (PLAIN, else what the server offers),
	 * or LOGIN, XOAUTH2, OAUTHBEARER for a low nibble of 13 to 15 */
	static const enum auth_mode auths[] = { AUTH_PLAIN, AUTH_LOGIN, AUTH_XOAUTH2, AUTH_OAUTHBEARER };
	struct account acct = { .name = "fuzz", .host = "imap.fuzz", .port = 143, .tls = TLS_NONE,
				.timeout = 1, .auth = auths[(data[1] & 0xf) >= 12 ? (data[1] & 0xf) - 12 : 0] };
	char err[512] = "";
	int code = 0;
	struct imap_client *c = imap_connect(&acct, &code, err, sizeof(err));
	if (!c) {
		if (!code || !err[0])
			abort();
		goto out;
	}
	if (imap_enable_qresync(c, err, sizeof(err)) >= 0) {
		unsigned first = data[1] & 0xf, second = data[1] >> 4;
		run_command(c, first, err, sizeof(err));
		check_secret(first >= 11, err);
		run_command(c, second, err, sizeof(err));
		check_secret(first >= 11 || second >= 11, err);
	}
	imap_close(c);
out:
	free(in);
	return 0;
}
