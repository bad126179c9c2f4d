/* Transport: TCP + TLS (OpenSSL 3) with timeouts.
 *
 * The socket is non-blocking from connect() on, and every wait goes through
 * poll() with a deadline, so a stalled server can never hang the process.
 * TLS runs over a small custom BIO that uses send(..., MSG_NOSIGNAL): the stock
 * socket BIO uses write(), which raises SIGPIPE when the peer has gone away. */
#include "mailkeep/net.h"

#include "mailkeep/buf.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* Our BIO type: a source/sink with a number outside OpenSSL's own range that
 * needs no BIO_get_new_index() (a process-wide counter with few slots). */
#define NET_BIO_TYPE (0x7e | BIO_TYPE_SOURCE_SINK)

enum tls_state {
	TLS_NONE,   /* plain TCP */
	TLS_OK,     /* handshake done and verified */
	TLS_BROKEN, /* handshake or record layer failed; connection unusable */
};

/* A server that keeps the connection alive with a byte now and then (a drip)
 * would never hit the per-read timeout: since the last command sent, at most
 * `timeout` seconds may be spent waiting while less than SLOW_BYTES arrive. */
#define SLOW_BYTES 1024

struct net_conn {
	int fd;
	int port;
	int timeout_sec;
	int64_t slow_wait_ms;   /* waited since the last write or since SLOW_BYTES came */
	uint64_t slow_bytes;
	int progress_by_caller; /* reads are not counted: net_progress() tells */
	char *host;
	char *ca_file;  /* NULL when only the system store is trusted */
	char *deferred_bundle; /* system bundle file not loaded yet, or NULL */
	char *label;    /* "host:port" (or "[v6]:port") for messages */
	enum tls_state tls;
	SSL_CTX *ctx;
	SSL *ssl;
	BIO_METHOD *bio_method; /* per connection, so no global state */
	int bio_eof;    /* recv() returned 0 */
	int bio_errno;  /* errno of the last failed send()/recv() */
	int peer_closed; /* TLS saw the end of the stream */
};

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t deadline_after(int timeout_sec)
{
	return now_ms() + (int64_t)timeout_sec * 1000;
}

/* Wait until fd is ready for events or the deadline passes. Returns 0 when
 * ready (errors and hang-ups count as ready: the next I/O call reports them),
 * NET_ERR_TIMEOUT, or NET_ERR_IO with errno set. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return NET_ERR_TIMEOUT;
		struct pollfd pfd = { .fd = fd, .events = events };
		int n = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return NET_ERR_IO;
		}
		if (n == 0)
			continue; /* re-check the clock */
		if (pfd.revents & POLLNVAL) {
			errno = EBADF;
			return NET_ERR_IO;
		}
		return 0;
	}
}

/* Drain the OpenSSL error queue into one line (empty queue -> fallback). */
static void ssl_errors(struct buf *out, const char *fallback)
{
	unsigned long e;
	while ((e = ERR_get_error()) != 0) {
		char line[256];
		ERR_error_string_n(e, line, sizeof(line));
		if (out->len)
			buf_adds(out, "; ");
		buf_adds(out, line);
	}
	if (!out->len)
		buf_adds(out, fallback);
	ERR_clear_error();
}

static int fail_ssl(struct net_conn *c, char *err, size_t errlen, int code, const char *what)
{
	struct buf msg = BUF_INIT;
	ssl_errors(&msg, "unknown error");
	fail(err, errlen, code, "%s: %s: %s", c->label, what, msg.data);
	buf_free(&msg);
	return code;
}

static int is_ip_literal(const char *host)
{
	unsigned char addr[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

/* The name TLS sends (SNI) and checks the certificate against: the host, but an
 * IPv6 address without its zone ("fe80::1%eth0" is the address fe80::1, checked
 * as one and never sent), and a DNS name without the final dot that makes it
 * absolute ("imap.example.com."; neither SNI, RFC 6066 §3, nor a certificate's
 * names have it). Both forms are valid hosts (config_schema.c's host_ok), which
 * were sent as a server name and never matched a certificate. Caller frees. */
static char *tls_name(const char *host)
{
	size_t n = strlen(host), zone = strcspn(host, "%");
	char *name = xstrdup(host);
	if (host[zone] && strchr(host, ':')) {
		name[zone] = '\0';
		if (!is_ip_literal(name))
			memcpy(name, host, n + 1);
	} else if (n > 1 && host[n - 1] == '.' && host[n - 2] != '.') {
		name[n - 1] = '\0';
	}
	return name;
}

/* ---- BIO over a non-blocking socket, never raising SIGPIPE ---- */

static int sock_bio_write(BIO *b, const char *data, size_t len, size_t *written)
{
	struct net_conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
	if (n < 0) {
		c->bio_errno = errno;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			BIO_set_retry_write(b);
		return 0;
	}
	*written = (size_t)n;
	return 1;
}

static int sock_bio_read(BIO *b, char *data, size_t len, size_t *got)
{
	struct net_conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	ssize_t n = recv(c->fd, data, len, 0);
	if (n < 0) {
		c->bio_errno = errno;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			BIO_set_retry_read(b);
		return 0;
	}
	if (n == 0) {
		c->bio_eof = 1;
		return 0;
	}
	*got = (size_t)n;
	return 1;
}

static long sock_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct net_conn *c = BIO_get_data(b);
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1; /* nothing is buffered here */
	case BIO_CTRL_EOF:
		return c->bio_eof; /* lets OpenSSL tell EOF from other errors */
	default:
		return 0;
	}
}

static int sock_bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

/* ---- TLS setup and handshake ---- */

/* 1 when dir holds OpenSSL hash links ("xxxxxxxx.0"), i.e. can be searched lazily. */
static int hashed_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int found = 0;
	if (!d)
		return 0;
	while (!found && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		found = n == 10 && de->d_name[8] == '.' && de->d_name[9] == '0';
	}
	closedir(d);
	return found;
}

/* The system trust store. A hashed certificate directory is searched only for
 * the issuers a handshake needs, where a bundle file is parsed whole (~20 ms,
 * a third of a no-change run). So the store starts with the directories
 * (SSL_CERT_DIR, else OpenSSL's default: a list separated by ':', as OpenSSL
 * reads it; each one that holds hash links) and the bundle file (SSL_CERT_FILE,
 * else OpenSSL's default file) is only remembered; verify_chain() loads it if
 * the chain does not verify without it. The anchors trusted are those of
 * SSL_CTX_set_default_verify_paths(), in a cheaper order. */
static int load_system_store(struct net_conn *c)
{
	const char *dirs = getenv(X509_get_default_cert_dir_env());
	const char *file = getenv(X509_get_default_cert_file_env());
	int rc = 0;
	if (!dirs)
		dirs = X509_get_default_cert_dir();
	if (!file)
		file = X509_get_default_cert_file();
	char *list = xstrdup(dirs), *save = NULL;
	for (char *dir = strtok_r(list, ":", &save); dir && rc == 0; dir = strtok_r(NULL, ":", &save))
		if (hashed_dir(dir) && SSL_CTX_load_verify_dir(c->ctx, dir) != 1)
			rc = -1;
	free(list);
	if (rc == 0)
		c->deferred_bundle = access(file, R_OK) == 0 ? xstrdup(file) : NULL;
	return rc;
}

/* Certificate verification with the bundle file loaded on demand: a chain
 * that fails against the directory and ca_file is verified again, once, with
 * the same parameters (host name, purpose, depth) against the store plus the
 * bundle. A superset of anchors and the same checks: never weaker than the
 * default verification. */
static int verify_chain(X509_STORE_CTX *xs, void *arg)
{
	struct net_conn *c = arg;
	X509_STORE_CTX *again = NULL;
	int ok = X509_verify_cert(xs);
	if (ok > 0 || !c->deferred_bundle)
		return ok;
	X509_STORE *store = X509_STORE_CTX_get0_store(xs);
	int loaded = X509_STORE_load_file(store, c->deferred_bundle) == 1;
	free(c->deferred_bundle);
	c->deferred_bundle = NULL;
	if (!loaded)
		goto out;
	again = X509_STORE_CTX_new();
	if (!again ||
	    X509_STORE_CTX_init(again, store, X509_STORE_CTX_get0_cert(xs),
				X509_STORE_CTX_get0_untrusted(xs)) != 1 ||
	    X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(again),
				   X509_STORE_CTX_get0_param(xs)) != 1)
		goto out;
	ok = X509_verify_cert(again);
	X509_STORE_CTX_set_error(xs, X509_STORE_CTX_get_error(again));
	X509_STORE_CTX_set_error_depth(xs, X509_STORE_CTX_get_error_depth(again));
	if (X509_STORE_CTX_get0_chain(again))
		X509_STORE_CTX_set0_verified_chain(xs, X509_STORE_CTX_get1_chain(again));
out:
	ERR_clear_error();
	X509_STORE_CTX_free(again);
	return ok > 0 ? 1 : 0;
}

static int tls_context_new(struct net_conn *c, char *err, size_t errlen)
{
	ERR_clear_error();
	c->ctx = SSL_CTX_new(TLS_client_method());
	if (!c->ctx)
		return fail_ssl(c, err, errlen, NET_ERR_TLS, "cannot create TLS context");
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(c->ctx, SSL_OP_NO_RENEGOTIATION);
	/* Progress on partial writes lets net_write() reset its stall timer. */
	SSL_CTX_set_mode(c->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
	/* Read whole socket buffers, not one record header and body at a time:
	 * an initial mirror is ~10x fewer recv() calls. */
	SSL_CTX_set_read_ahead(c->ctx, 1);
	SSL_CTX_set_default_read_buffer_len(c->ctx, 64 * 1024);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	if (load_system_store(c) < 0)
		return fail_ssl(c, err, errlen, NET_ERR_TLS, "cannot load system CA store");
	SSL_CTX_set_cert_verify_callback(c->ctx, verify_chain, c);
	if (c->ca_file && SSL_CTX_load_verify_locations(c->ctx, c->ca_file, NULL) != 1) {
		unsigned long e = ERR_peek_error();
		if (ERR_SYSTEM_ERROR(e)) {
			int code = ERR_GET_REASON(e);
			ERR_clear_error();
			return fail(err, errlen, NET_ERR_TLS, "%s: cannot load CA file %s: %s",
				    c->label, c->ca_file, strerror(code));
		}
		struct buf what = BUF_INIT;
		buf_addf(&what, "cannot load CA file %s", c->ca_file);
		fail_ssl(c, err, errlen, NET_ERR_TLS, what.data);
		buf_free(&what);
		return NET_ERR_TLS;
	}
	return 0;
}

/* Create the SSL object over our BIO, with SNI and name/IP verification. */
static int tls_session_new(struct net_conn *c, char *err, size_t errlen)
{
	ERR_clear_error();
	c->bio_method = BIO_meth_new(NET_BIO_TYPE, "mailkeep socket");
	if (!c->bio_method || !BIO_meth_set_write_ex(c->bio_method, sock_bio_write) ||
	    !BIO_meth_set_read_ex(c->bio_method, sock_bio_read) ||
	    !BIO_meth_set_ctrl(c->bio_method, sock_bio_ctrl) ||
	    !BIO_meth_set_create(c->bio_method, sock_bio_create))
		return fail_ssl(c, err, errlen, NET_ERR_TLS, "cannot set up TLS");
	c->ssl = SSL_new(c->ctx);
	if (!c->ssl)
		return fail_ssl(c, err, errlen, NET_ERR_TLS, "cannot set up TLS");
	BIO *bio = BIO_new(c->bio_method);
	if (!bio)
		return fail_ssl(c, err, errlen, NET_ERR_TLS, "cannot set up TLS");
	BIO_set_data(bio, c);
	SSL_set_bio(c->ssl, bio, bio); /* the SSL now owns bio */

	char *name = tls_name(c->host);
	int rc = 0;
	if (is_ip_literal(name)) {
		/* No SNI for addresses (RFC 6066 §3); match the iPAddress SAN. */
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), name) != 1)
			rc = fail_ssl(c, err, errlen, NET_ERR_TLS, "cannot verify IP address");
	} else {
		SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (SSL_set_tlsext_host_name(c->ssl, name) != 1 || SSL_set1_host(c->ssl, name) != 1)
			rc = fail_ssl(c, err, errlen, NET_ERR_TLS, "cannot set TLS host name");
	}
	free(name);
	return rc;
}

static int handshake_failed(struct net_conn *c, int sslerr, char *err, size_t errlen)
{
	long vr = SSL_get_verify_result(c->ssl);
	if (vr != X509_V_OK) {
		ERR_clear_error();
		const char *why = X509_verify_cert_error_string(vr);
		if (vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH)
			return fail(err, errlen, NET_ERR_CERT,
				    "%s: TLS certificate not valid for %s: %s", c->label,
				    c->host, why);
		return fail(err, errlen, NET_ERR_CERT, "%s: TLS certificate not trusted: %s",
			    c->label, why);
	}
	unsigned long e = ERR_peek_error();
	int eof = c->bio_eof || (sslerr == SSL_ERROR_SSL && ERR_GET_LIB(e) == ERR_LIB_SSL &&
				 ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING);
	if (eof || (sslerr == SSL_ERROR_SYSCALL && !e)) {
		ERR_clear_error();
		if (eof)
			return fail(err, errlen, NET_ERR_TLS,
				    "%s: connection closed by server during TLS handshake",
				    c->label);
		return fail(err, errlen, NET_ERR_TLS, "%s: TLS handshake failed: %s", c->label,
			    strerror(c->bio_errno));
	}
	return fail_ssl(c, err, errlen, NET_ERR_TLS, "TLS handshake failed");
}

/* Set up TLS on the connected socket and run the handshake under one deadline. */
static int tls_start(struct net_conn *c, char *err, size_t errlen)
{
	int rc;
	if (!c->ctx && (rc = tls_context_new(c, err, errlen)) < 0)
		goto out;
	if ((rc = tls_session_new(c, err, errlen)) < 0)
		goto out;

	int64_t deadline = deadline_after(c->timeout_sec);
	for (;;) {
		ERR_clear_error();
		int r = SSL_connect(c->ssl);
		if (r == 1)
			break;
		int e = SSL_get_error(c->ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			rc = handshake_failed(c, e, err, errlen);
			goto out;
		}
		rc = wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
		if (rc == NET_ERR_TIMEOUT) {
			fail(err, errlen, rc, "%s: TLS handshake timed out after %d s", c->label,
			     c->timeout_sec);
			goto out;
		}
		if (rc < 0) {
			fail(err, errlen, rc, "%s: TLS handshake: %s", c->label, strerror(errno));
			goto out;
		}
	}
	/* SSL_VERIFY_PEER already enforced this; refuse to rely on it silently. */
	if (!SSL_get0_peer_certificate(c->ssl) || SSL_get_verify_result(c->ssl) != X509_V_OK) {
		rc = fail(err, errlen, NET_ERR_CERT, "%s: TLS certificate not verified", c->label);
		goto out;
	}
	c->tls = TLS_OK;
	rc = 0;
out:
	if (rc < 0)
		c->tls = TLS_BROKEN;
	return rc;
}

/* ---- TCP connect ---- */

/* Non-blocking connect to one address, in two halves: connect_start() sends the
 * SYN, connect_finish() waits for the answer. Both return 0 or -1 with errno set
 * (ETIMEDOUT when the attempt ran out of time); on -1 the socket is closed. */
static int connect_start(const struct addrinfo *ai, int *fdp, int *done)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			ai->ai_protocol);
	if (fd < 0)
		return -1;
	*done = 0;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
		*done = 1;
	} else if (errno != EINPROGRESS) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	*fdp = fd;
	return 0;
}

static int connect_finish(int fd, int done, int timeout_sec)
{
	int rc = -1;
	if (done)
		return 0;
	int waited = wait_fd(fd, POLLOUT, deadline_after(timeout_sec));
	if (waited < 0) {
		if (waited == NET_ERR_TIMEOUT)
			errno = ETIMEDOUT;
		goto out;
	}
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		goto out;
	errno = soerr;
	rc = soerr ? -1 : 0;
out:
	if (rc < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return rc;
}

/* Connect to the first address that answers. With TLS, the context (the CA
 * store) is made while the first SYN is on its way: the server's answer (on
 * loopback, Dovecot forking its login process) overlaps our set-up. A bad CA
 * file is still reported before any connection error. */
static int tcp_connect(struct net_conn *c, int tls, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	char service[16];
	snprintf(service, sizeof(service), "%d", c->port);
	int rc = getaddrinfo(c->host, service, &hints, &res);
	if (rc != 0) {
		const char *why = rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc);
		if (tls && (rc = tls_context_new(c, err, errlen)) < 0)
			return rc;
		return fail(err, errlen, NET_ERR_RESOLVE, "%s: cannot resolve host name: %s",
			    c->label, why);
	}
	int last_errno = EADDRNOTAVAIL;
	char last_addr[INET6_ADDRSTRLEN] = "";
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = -1, done = 0;
		int started = connect_start(ai, &fd, &done);
		int start_errno = errno;
		if (tls && !c->ctx && (rc = tls_context_new(c, err, errlen)) < 0) {
			if (started == 0)
				close(fd);
			freeaddrinfo(res);
			return rc;
		}
		errno = start_errno;
		if (started == 0 && connect_finish(fd, done, c->timeout_sec) == 0) {
			c->fd = fd;
			break;
		}
		last_errno = errno;
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, last_addr, sizeof(last_addr), NULL,
				0, NI_NUMERICHOST) != 0)
			last_addr[0] = '\0';
	}
	freeaddrinfo(res);
	if (c->fd >= 0)
		return 0;
	if (tls && !c->ctx && (rc = tls_context_new(c, err, errlen)) < 0)
		return rc; /* no address at all */
	/* Naming the address only helps when the user gave a name. */
	int show = last_addr[0] && strcmp(last_addr, c->host) != 0;
	if (last_errno == ETIMEDOUT)
		return fail(err, errlen, NET_ERR_CONNECT, "%s: connection timed out after %d s%s%s",
			    c->label, c->timeout_sec, show ? " at " : "", show ? last_addr : "");
	return fail(err, errlen, NET_ERR_CONNECT, "%s: cannot connect%s%s: %s", c->label,
		    show ? " to " : "", show ? last_addr : "", strerror(last_errno));
}

/* ---- public interface ---- */

/* "host:port", with brackets around IPv6 literals. Caller frees. */
static char *make_label(const char *host, int port)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
	return buf_detach(&b);
}

struct net_conn *net_connect(const char *host, int port, int tls, const char *ca_file,
			     int timeout_sec, int *errcode, char *err, size_t errlen)
{
	struct net_conn *c = NULL;
	int rc;

	if (!host || !*host) {
		rc = fail(err, errlen, NET_ERR_RESOLVE, ":%d: empty host name", port);
		goto out;
	}
	c = xcalloc(1, sizeof(*c));
	c->fd = -1;
	c->port = port;
	c->timeout_sec = timeout_sec;
	c->host = xstrdup(host);
	c->ca_file = ca_file ? xstrdup(ca_file) : NULL;
	c->label = make_label(host, port);
	c->tls = TLS_NONE;

	if (port < 1 || port > 65535) {
		rc = fail(err, errlen, NET_ERR_CONNECT, "%s: invalid port", c->label);
		goto out;
	}
	if (timeout_sec <= 0) {
		rc = fail(err, errlen, NET_ERR_CONNECT, "%s: invalid timeout %d s", c->label,
			  timeout_sec);
		goto out;
	}
	/* A bad CA file is a configuration error: reported before any network error
	 * (the context is made while the connection is being set up). */
	if ((rc = tcp_connect(c, tls, err, errlen)) < 0)
		goto out;
	if (tls && (rc = tls_start(c, err, errlen)) < 0)
		goto out;
	rc = 0;
out:
	if (errcode)
		*errcode = rc;
	if (rc < 0) {
		net_close(c);
		return NULL;
	}
	return c;
}

int net_starttls(struct net_conn *c, char *err, size_t errlen)
{
	if (c->tls != TLS_NONE)
		return fail(err, errlen, NET_ERR_TLS, "%s: connection already uses TLS", c->label);
	return tls_start(c, err, errlen);
}

/* Map a failed SSL_read_ex/SSL_write_ex; the connection is dead afterwards
 * except for WANT_* (handled by the callers). */
static int tls_io_failed(struct net_conn *c, int sslerr, const char *what, char *err,
			 size_t errlen)
{
	unsigned long e = ERR_peek_error();
	c->tls = TLS_BROKEN;
	if (sslerr == SSL_ERROR_ZERO_RETURN || c->bio_eof ||
	    (sslerr == SSL_ERROR_SSL && ERR_GET_LIB(e) == ERR_LIB_SSL &&
	     ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) ||
	    (sslerr == SSL_ERROR_SYSCALL && !e && c->bio_errno == EPIPE)) {
		ERR_clear_error();
		c->peer_closed = 1;
		return fail(err, errlen, NET_ERR_CLOSED, "%s: connection closed by server",
			    c->label);
	}
	if (sslerr == SSL_ERROR_SYSCALL && !e) {
		ERR_clear_error();
		return fail(err, errlen, NET_ERR_IO, "%s: %s error: %s", c->label, what,
			    strerror(c->bio_errno));
	}
	struct buf msg = BUF_INIT;
	buf_addf(&msg, "TLS %s error", what);
	fail_ssl(c, err, errlen, NET_ERR_IO, msg.data);
	buf_free(&msg);
	return NET_ERR_IO;
}

static int check_usable(const struct net_conn *c, char *err, size_t errlen)
{
	if (c->peer_closed)
		return fail(err, errlen, NET_ERR_CLOSED, "%s: connection closed by server",
			    c->label);
	if (c->tls == TLS_BROKEN)
		return fail(err, errlen, NET_ERR_IO, "%s: connection unusable after a TLS error",
			    c->label);
	return 0;
}

void net_progress(struct net_conn *c, size_t got)
{
	c->slow_bytes += got;
	if (c->slow_bytes >= SLOW_BYTES) {
		c->slow_bytes = 0;
		c->slow_wait_ms = 0;
	}
}

void net_progress_by_caller(struct net_conn *c)
{
	c->progress_by_caller = 1;
}

static size_t note_read(struct net_conn *c, size_t got)
{
	if (!c->progress_by_caller)
		net_progress(c, got);
	return got;
}

ssize_t net_read(struct net_conn *c, void *data, size_t len, char *err, size_t errlen)
{
	int rc = check_usable(c, err, errlen);
	if (rc < 0)
		return rc;
	if (len == 0)
		return fail(err, errlen, NET_ERR_IO, "%s: read of zero bytes", c->label);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;

	int64_t deadline = deadline_after(c->timeout_sec), limit = (int64_t)c->timeout_sec * 1000;
	for (;;) {
		short want = POLLIN;
		if (c->ssl) {
			size_t got = 0;
			ERR_clear_error();
			if (SSL_read_ex(c->ssl, data, len, &got) == 1)
				return (ssize_t)note_read(c, got);
			int e = SSL_get_error(c->ssl, 0);
			if (e == SSL_ERROR_WANT_WRITE)
				want = POLLOUT;
			else if (e != SSL_ERROR_WANT_READ)
				return tls_io_failed(c, e, "read", err, errlen);
		} else {
			ssize_t n = recv(c->fd, data, len, 0);
			if (n > 0)
				return (ssize_t)note_read(c, (size_t)n);
			if (n == 0)
				return fail(err, errlen, NET_ERR_CLOSED,
					    "%s: connection closed by server", c->label);
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return fail(err, errlen, NET_ERR_IO, "%s: read error: %s",
					    c->label, strerror(errno));
		}
		/* checked only when there is nothing to read: what arrived while
		 * the process was stopped (Ctrl-Z, SIGSTOP) for longer than the
		 * timeout is read, not taken for a stalled server */
		if (c->slow_wait_ms >= limit)
			return fail(err, errlen, NET_ERR_TIMEOUT, "%s: less than %d bytes from server in %d s "
				    "of waiting (a stalled or dripping server)", c->label, SLOW_BYTES,
				    c->timeout_sec);
		int64_t w0 = now_ms();
		rc = wait_fd(c->fd, want, deadline);
		c->slow_wait_ms += now_ms() - w0;
		if (rc == NET_ERR_TIMEOUT)
			return fail(err, errlen, rc, "%s: no data from server for %d s", c->label,
				    c->timeout_sec);
		if (rc < 0)
			return fail(err, errlen, rc, "%s: read error: %s", c->label,
				    strerror(errno));
	}
}

/* Write some of data: returns bytes written (>0), 0 when the socket is full,
 * or an enum net_error. */
static ssize_t write_some(struct net_conn *c, const char *p, size_t len, short *want,
			  char *err, size_t errlen)
{
	*want = POLLOUT;
	if (c->ssl) {
		size_t done = 0;
		ERR_clear_error();
		if (SSL_write_ex(c->ssl, p, len, &done) == 1)
			return (ssize_t)done;
		int e = SSL_get_error(c->ssl, 0);
		if (e == SSL_ERROR_WANT_READ)
			*want = POLLIN;
		else if (e != SSL_ERROR_WANT_WRITE)
			return tls_io_failed(c, e, "write", err, errlen);
		return 0;
	}
	for (;;) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (errno == EPIPE)
			return fail(err, errlen, NET_ERR_CLOSED, "%s: connection closed by server",
				    c->label);
		return fail(err, errlen, NET_ERR_IO, "%s: write error: %s", c->label,
			    strerror(errno));
	}
}

/* The timeout bounds each stall, not the whole write, so large writes over slow
 * links succeed as long as the server keeps accepting data. */
int net_write(struct net_conn *c, const void *data, size_t len, char *err, size_t errlen)
{
	int rc = check_usable(c, err, errlen);
	if (rc < 0)
		return rc;
	const char *p = data;
	int64_t deadline = deadline_after(c->timeout_sec);
	c->slow_wait_ms = 0; /* a new command: its answer gets the whole timeout */
	c->slow_bytes = 0;
	while (len > 0) {
		short want;
		size_t chunk = len > SSIZE_MAX ? SSIZE_MAX : len;
		ssize_t n = write_some(c, p, chunk, &want, err, errlen);
		if (n < 0)
			return (int)n;
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			deadline = deadline_after(c->timeout_sec);
			continue;
		}
		rc = wait_fd(c->fd, want, deadline);
		if (rc == NET_ERR_TIMEOUT)
			return fail(err, errlen, rc, "%s: server accepted no data for %d s",
				    c->label, c->timeout_sec);
		if (rc < 0)
			return fail(err, errlen, rc, "%s: write error: %s", c->label,
				    strerror(errno));
	}
	return 0;
}

int net_is_tls(const struct net_conn *c)
{
	return c && c->tls == TLS_OK;
}

int net_pending(const struct net_conn *c)
{
	return c && c->ssl && c->tls == TLS_OK && SSL_pending(c->ssl) > 0;
}

void net_close(struct net_conn *c)
{
	if (!c)
		return;
	if (c->ssl) {
		/* Best effort close_notify: the socket is non-blocking, so this never
		 * waits, and we do not wait for the server's reply. */
		if (c->tls == TLS_OK)
			SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	SSL_CTX_free(c->ctx);
	BIO_meth_free(c->bio_method); /* after SSL_free: the BIO used it */
	ERR_clear_error();
	if (c->fd >= 0)
		close(c->fd);
	free(c->host);
	free(c->ca_file);
	free(c->deferred_bundle);
	free(c->label);
	free(c);
}
