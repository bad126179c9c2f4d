/* Tests for the transport: a throwaway CA and server certificates made with the
 * openssl command line, and small loopback servers in forked children. */
#include <criterion/criterion.h>

#include "mailkeep/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

enum server_mode {
	SRV_SILENT,       /* accept, never answer, wait for EOF */
	SRV_CLOSE,        /* accept and close (FIN) */
	SRV_RESET,        /* accept and reset (RST) */
	SRV_TLS_ECHO,     /* handshake, send "sni:NAME\n", echo until EOF */
	SRV_TLS_SILENT,   /* handshake, then never answer */
	SRV_TLS_NOTIFY,   /* handshake, close_notify, close */
	SRV_TLS_DROP,     /* handshake, close without close_notify */
	SRV_TLS_RESET,    /* handshake, reset */
	SRV_TLS11,        /* only TLS 1.1 offered */
	SRV_STARTTLS,     /* IMAP-like greeting, STARTTLS, then as SRV_TLS_ECHO */
};

/* Per-test state; Criterion runs every test in its own process. */
static char pki_dir[64];
static pid_t server_pid = -1;

static void pki_make(void)
{
	strcpy(pki_dir, "/tmp/mailkeep-net-XXXXXX");
	cr_assert_not_null(mkdtemp(pki_dir));
	char cmd[2048];
	snprintf(cmd, sizeof(cmd),
		 "cd %s && exec >/dev/null 2>&1 && "
		 "K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes' && "
		 "openssl req -x509 $K -keyout ca.key -out ca.pem -days 2 -subj /CN=mailkeep-test-ca && "
		 "for n in srv other; do "
		 "  openssl req $K -keyout $n.key -out $n.csr -subj /CN=$n || exit 1; done && "
		 "echo 'subjectAltName=IP:127.0.0.1,DNS:localhost' > srv.ext && "
		 "echo 'subjectAltName=DNS:other.example' > other.ext && "
		 "for n in srv other; do "
		 "  openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
		 "  -days 2 -extfile $n.ext -out $n.pem || exit 1; done && "
		 "echo 'not a certificate' > junk.pem",
		 pki_dir);
	cr_assert_eq(system(cmd), 0, "openssl could not make test certificates");
}

static char *pki_path(const char *name)
{
	static char path[128];
	snprintf(path, sizeof(path), "%s/%s", pki_dir, name);
	return path;
}

/* ---- servers (run in a forked child; never use cr_* there) ---- */

static void child_drain(int fd)
{
	char b[4096];
	while (read(fd, b, sizeof(b)) > 0)
		;
}

static void child_reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static SSL *child_tls(int fd, const char *cert, int tls11)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		_exit(2);
	if (tls11) {
		SSL_CTX_set_security_level(ctx, 0);
		SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
		SSL_CTX_set_min_proto_version(ctx, TLS1_1_VERSION);
		SSL_CTX_set_max_proto_version(ctx, TLS1_1_VERSION);
	}
	char path[160];
	snprintf(path, sizeof(path), "%s/%s.pem", pki_dir, cert);
	if (SSL_CTX_use_certificate_chain_file(ctx, path) != 1)
		_exit(2);
	snprintf(path, sizeof(path), "%s/%s.key", pki_dir, cert);
	if (SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM) != 1)
		_exit(2);
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) != 1)
		_exit(3); /* expected when the client rejects us */
	return ssl;
}

static void child_echo(SSL *ssl)
{
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	char b[16384];
	int n = snprintf(b, sizeof(b), "sni:%s\n", sni ? sni : "-");
	SSL_write(ssl, b, n);
	while ((n = SSL_read(ssl, b, sizeof(b))) > 0)
		if (SSL_write(ssl, b, n) != n)
			break;
	SSL_shutdown(ssl);
}

static int child_expect(int fd, const char *line)
{
	size_t len = strlen(line), got = 0;
	char b[64];
	while (got < len && got < sizeof(b)) {
		ssize_t n = read(fd, b + got, 1);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return memcmp(b, line, len) == 0 ? 0 : -1;
}

static void child_serve(int lfd, enum server_mode mode, const char *cert)
{
	alarm(15); /* never outlive the test */
	signal(SIGPIPE, SIG_IGN);
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	if (poll(&pfd, 1, 10000) != 1)
		_exit(1);
	int fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		_exit(1);
	close(lfd);
	SSL *ssl = NULL;
	switch (mode) {
	case SRV_SILENT:
		child_drain(fd);
		break;
	case SRV_CLOSE:
		close(fd);
		break;
	case SRV_RESET:
		/* after the client's net_connect has returned: a reset that comes
		 * first (a loaded machine) is a connect error, another case */
		usleep(500000);
		child_reset(fd);
		break;
	case SRV_TLS_ECHO:
		child_echo(child_tls(fd, cert, 0));
		break;
	case SRV_TLS_SILENT:
		child_tls(fd, cert, 0);
		child_drain(fd);
		break;
	case SRV_TLS_NOTIFY:
		SSL_shutdown(child_tls(fd, cert, 0));
		close(fd);
		break;
	case SRV_TLS_DROP:
		child_tls(fd, cert, 0);
		close(fd);
		break;
	case SRV_TLS_RESET:
		child_tls(fd, cert, 0);
		child_reset(fd);
		break;
	case SRV_TLS11:
		child_tls(fd, cert, 1);
		break;
	case SRV_STARTTLS:
		if (write(fd, "* OK ready\r\n", 12) != 12 || child_expect(fd, "a STARTTLS\r\n") ||
		    write(fd, "a OK go\r\n", 9) != 9)
			_exit(4);
		ssl = child_tls(fd, cert, 0);
		child_echo(ssl);
		break;
	}
	_exit(0);
}

/* Listen on an ephemeral loopback port, fork the server, return the port. */
static int server_start(enum server_mode mode, const char *cert)
{
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(lfd, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(lfd, 4), 0);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	fflush(NULL);
	server_pid = fork();
	cr_assert_geq(server_pid, 0);
	if (server_pid == 0)
		child_serve(lfd, mode, cert);
	close(lfd);
	return ntohs(sa.sin_port);
}

/* Reap the server: give it a moment to finish, then kill it. */
static void server_stop(void)
{
	if (server_pid <= 0)
		return;
	for (int i = 0; i < 300; i++) {
		if (waitpid(server_pid, NULL, WNOHANG) == server_pid) {
			server_pid = -1;
			return;
		}
		usleep(10000);
	}
	kill(server_pid, SIGKILL);
	waitpid(server_pid, NULL, 0);
	server_pid = -1;
}

static void net_setup(void)
{
	pki_make();
}

static void net_teardown(void)
{
	server_stop();
	if (pki_dir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pki_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", pki_dir);
	}
}

/* ---- client helpers ---- */

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void assert_names_port(const char *err, const char *host, int port)
{
	char label[64];
	snprintf(label, sizeof(label), "%s:%d:", host, port);
	cr_assert(strstr(err, label), "message '%s' does not name %s", err, label);
}

/* Read exactly len bytes or fail the test. */
static void read_exact(struct net_conn *c, char *out, size_t len)
{
	char err[256];
	size_t got = 0;
	while (got < len) {
		ssize_t n = net_read(c, out + got, len - got, err, sizeof(err));
		cr_assert_gt(n, 0, "net_read: %s", err);
		got += (size_t)n;
	}
}

/* Read one line, byte by byte, so nothing beyond it is consumed. */
static void read_line(struct net_conn *c, char *out, size_t cap)
{
	size_t i = 0;
	while (i + 1 < cap) {
		read_exact(c, out + i, 1);
		if (out[i++] == '\n')
			break;
	}
	out[i] = '\0';
}

static struct net_conn *connect_ok(const char *host, int port, int tls, const char *ca)
{
	char err[256] = "";
	int code = 1;
	struct net_conn *c = net_connect(host, port, tls, ca, 5, &code, err, sizeof(err));
	cr_assert_not_null(c, "net_connect(%s:%d): %s", host, port, err);
	cr_assert_eq(code, NET_OK);
	return c;
}

TestSuite(net, .init = net_setup, .fini = net_teardown);

/* ---- verification ---- */

struct verify_case {
	const char *host;
	const char *cert;  /* server certificate */
	int use_ca;        /* pass the test CA as ca_file */
	int code;          /* expected net_connect outcome */
	const char *text;  /* expected in the error, or the SNI the server saw */
};

static const struct verify_case verify_cases[] = {
	{ "127.0.0.1", "srv", 1, NET_OK, "sni:-\n" },
	{ "localhost", "srv", 1, NET_OK, "sni:localhost\n" },
	{ "127.0.0.1", "srv", 0, NET_ERR_CERT, "TLS certificate not trusted: " },
	{ "localhost", "srv", 0, NET_ERR_CERT, "TLS certificate not trusted: " },
	{ "localhost", "other", 1, NET_ERR_CERT, "hostname mismatch" },
	{ "127.0.0.1", "other", 1, NET_ERR_CERT, "IP address mismatch" },
};

/* Connect to a TLS echo server per case and check the outcome. */
static void run_verify_cases(const struct verify_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct verify_case *t = &cases[i];
		int port = server_start(SRV_TLS_ECHO, t->cert);
		char err[256] = "";
		int code = 1;
		struct net_conn *c = net_connect(t->host, port, 1, t->use_ca ? pki_path("ca.pem") : NULL,
						 5, &code, err, sizeof(err));
		cr_assert_eq(code, t->code, "case %zu (%s): code %d: %s", i, t->host, code, err);
		if (t->code == NET_OK) {
			cr_assert_not_null(c);
			cr_assert_eq(net_is_tls(c), 1);
			char line[64];
			read_line(c, line, sizeof(line));
			cr_assert_str_eq(line, t->text, "case %zu", i);
		} else {
			cr_assert_null(c);
			assert_names_port(err, t->host, port);
			cr_assert(strstr(err, t->text), "case %zu: '%s'", i, err);
		}
		net_close(c);
		server_stop();
	}
}

Test(net, verify_table, .timeout = 20)
{
	run_verify_cases(verify_cases, sizeof(verify_cases) / sizeof(verify_cases[0]));
}

/* The system bundle (SSL_CERT_FILE) is loaded only when a chain does not verify
 * without it; the retry must keep every check of the first attempt. */
static const struct verify_case bundle_cases[] = {
	{ "127.0.0.1", "srv", 0, NET_OK, "sni:-\n" },
	{ "localhost", "srv", 0, NET_OK, "sni:localhost\n" },
	{ "localhost", "other", 0, NET_ERR_CERT, "hostname mismatch" },
	{ "127.0.0.1", "other", 0, NET_ERR_CERT, "IP address mismatch" },
	{ "localhost", "other", 1, NET_ERR_CERT, "hostname mismatch" },
};

Test(net, deferred_system_bundle, .timeout = 20)
{
	/* Criterion runs each test in its own process: the environment is ours. */
	cr_assert_eq(setenv("SSL_CERT_FILE", pki_path("ca.pem"), 1), 0);
	cr_assert_eq(setenv("SSL_CERT_DIR", "/nonexistent", 1), 0);
	run_verify_cases(bundle_cases, sizeof(bundle_cases) / sizeof(bundle_cases[0]));
	/* A bundle without the CA: still refused. */
	cr_assert_eq(setenv("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt", 1), 0);
	int port = server_start(SRV_TLS_ECHO, "srv");
	char err[256] = "";
	int code = 1;
	struct net_conn *c = net_connect("localhost", port, 1, NULL, 5, &code, err, sizeof(err));
	cr_assert_null(c);
	cr_assert_eq(code, NET_ERR_CERT, "%s", err);
	cr_assert(strstr(err, "TLS certificate not trusted: "), "'%s'", err);
	server_stop();
}

/* SSL_CERT_DIR is a list of directories separated by ':', as in OpenSSL (its
 * by_dir lookup): a CA hashed in the second one is trusted. */
Test(net, system_dir_list, .timeout = 20)
{
	char cmd[512], dirs[256];
	snprintf(cmd, sizeof(cmd), "mkdir %s/hashed && cd %s/hashed && "
		 "ln -s ../ca.pem \"$(openssl x509 -hash -noout -in ../ca.pem)\".0", pki_dir, pki_dir);
	cr_assert_eq(system(cmd), 0, "cannot make the hashed directory");
	snprintf(dirs, sizeof(dirs), "/nonexistent:%s/hashed", pki_dir);
	cr_assert_eq(setenv("SSL_CERT_DIR", dirs, 1), 0);
	cr_assert_eq(setenv("SSL_CERT_FILE", "/nonexistent", 1), 0);
	run_verify_cases(bundle_cases, 4);
}

Test(net, tls_echo_and_pending, .timeout = 20)
{
	int port = server_start(SRV_TLS_ECHO, "srv");
	struct net_conn *c = connect_ok("localhost", port, 1, pki_path("ca.pem"));
	char err[256], line[64];
	read_line(c, line, sizeof(line));

	cr_assert_eq(net_write(c, "hello", 5, err, sizeof(err)), 0, "%s", err);
	char b[8] = "";
	read_exact(c, b, 1);
	cr_assert_eq(b[0], 'h');
	cr_assert_eq(net_pending(c), 1, "rest of the record should be buffered");
	read_exact(c, b + 1, 4);
	cr_assert_eq(memcmp(b, "hello", 5), 0);
	cr_assert_eq(net_pending(c), 0);

	/* Large enough for partial writes and many records. */
	size_t big = 256 * 1024;
	char *out = malloc(big), *in = malloc(big);
	cr_assert(out && in);
	for (size_t i = 0; i < big; i++)
		out[i] = (char)(i * 7 + i / 251);
	cr_assert_eq(net_write(c, out, big, err, sizeof(err)), 0, "%s", err);
	read_exact(c, in, big);
	cr_assert_eq(memcmp(in, out, big), 0);
	free(out);
	free(in);
	net_close(c);
}

Test(net, tls_version_minimum, .timeout = 20)
{
	int port = server_start(SRV_TLS11, "srv");
	char err[256] = "";
	int code = 0;
	struct net_conn *c = net_connect("127.0.0.1", port, 1, pki_path("ca.pem"), 5, &code, err,
					 sizeof(err));
	cr_assert_null(c);
	cr_assert_eq(code, NET_ERR_TLS, "%d: %s", code, err);
	assert_names_port(err, "127.0.0.1", port);
	cr_assert(strstr(err, "TLS handshake failed"), "%s", err);
}

struct ca_case {
	const char *file;
	const char *text;
};

Test(net, bad_ca_file, .timeout = 20)
{
	const struct ca_case cases[] = {
		{ "/nonexistent/ca.pem", "No such file or directory" },
		{ pki_path("junk.pem"), "junk.pem" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[256] = "";
		int code = 0;
		/* Port 9 is never contacted: the CA file is loaded first. */
		struct net_conn *c = net_connect("127.0.0.1", 9, 1, cases[i].file, 1, &code, err,
						 sizeof(err));
		cr_assert_null(c);
		cr_assert_eq(code, NET_ERR_TLS, "%s", err);
		cr_assert(strstr(err, "cannot load CA file"), "%s", err);
		cr_assert(strstr(err, cases[i].file), "%s", err);
		cr_assert(strstr(err, cases[i].text), "%s", err);
	}
}

/* ---- timeouts ---- */

Test(net, read_timeout_plain, .timeout = 20)
{
	int port = server_start(SRV_SILENT, NULL);
	char err[256] = "", b[16];
	int code = 1;
	struct net_conn *c = net_connect("127.0.0.1", port, 0, NULL, 1, &code, err, sizeof(err));
	cr_assert_not_null(c, "%s", err);
	cr_assert_eq(net_is_tls(c), 0);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ssize_t n = net_read(c, b, sizeof(b), err, sizeof(err));
	double dt = seconds_since(&t0);
	cr_assert_eq(n, NET_ERR_TIMEOUT, "%zd: %s", n, err);
	cr_assert(dt > 0.9 && dt < 10.0, "waited %.2f s", dt); /* loose: a loaded machine */
	assert_names_port(err, "127.0.0.1", port);
	cr_assert(strstr(err, "no data from server for 1 s"), "%s", err);
	net_close(c);
}

Test(net, handshake_timeout, .timeout = 20)
{
	int port = server_start(SRV_SILENT, NULL);
	char err[256] = "";
	int code = 0;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct net_conn *c = net_connect("127.0.0.1", port, 1, pki_path("ca.pem"), 1, &code, err,
					 sizeof(err));
	double dt = seconds_since(&t0);
	cr_assert_null(c);
	cr_assert_eq(code, NET_ERR_TIMEOUT, "%d: %s", code, err);
	cr_assert(dt > 0.9 && dt < 10.0, "waited %.2f s", dt); /* loose: a loaded machine */
	assert_names_port(err, "127.0.0.1", port);
}

Test(net, read_timeout_tls, .timeout = 20)
{
	int port = server_start(SRV_TLS_SILENT, "srv");
	char err[256] = "", b[16];
	int code = 1;
	struct net_conn *c = net_connect("127.0.0.1", port, 1, pki_path("ca.pem"), 1, &code, err,
					 sizeof(err));
	cr_assert_not_null(c, "%s", err);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ssize_t n = net_read(c, b, sizeof(b), err, sizeof(err));
	double dt = seconds_since(&t0);
	cr_assert_eq(n, NET_ERR_TIMEOUT, "%zd: %s", n, err);
	cr_assert(dt > 0.9 && dt < 10.0, "waited %.2f s", dt); /* loose: a loaded machine */
	cr_assert(strstr(err, "no data from server for 1 s"), "%s", err);
	net_close(c);
}

/* ---- connect failures ---- */

Test(net, connection_refused, .timeout = 20)
{
	/* A bound socket that does not listen refuses connections. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	int port = ntohs(sa.sin_port);
	const char *hosts[] = { "127.0.0.1", "localhost" };
	for (int tls = 0; tls <= 1; tls++) {
		for (size_t i = 0; i < 2; i++) {
			char err[256] = "";
			int code = 0;
			struct net_conn *c = net_connect(hosts[i], port, tls, NULL, 2, &code, err,
							 sizeof(err));
			cr_assert_null(c);
			cr_assert_eq(code, NET_ERR_CONNECT, "%s: %d: %s", hosts[i], code, err);
			assert_names_port(err, hosts[i], port);
			cr_assert(strstr(err, "refused"), "%s", err);
		}
	}
	close(fd);
}

Test(net, connect_timeout, .timeout = 20)
{
	/* Once the accept queue of a listener that never accepts is full, further
	 * SYNs are dropped and connect() hangs: the timeout must end it. */
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(lfd, 0), 0);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	int port = ntohs(sa.sin_port);
	struct net_conn *held[4] = { NULL };
	char err[256] = "";
	int code = NET_OK;
	double dt = 0;
	for (int i = 0; i < 4 && code == NET_OK; i++) {
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		held[i] = net_connect("127.0.0.1", port, 0, NULL, 1, &code, err, sizeof(err));
		dt = seconds_since(&t0);
	}
	for (int i = 0; i < 4; i++)
		net_close(held[i]);
	close(lfd);
	cr_assert_eq(code, NET_ERR_CONNECT, "%d: %s", code, err);
	cr_assert(dt > 0.9 && dt < 10.0, "waited %.2f s", dt); /* loose: a loaded machine */
	assert_names_port(err, "127.0.0.1", port);
	cr_assert(strstr(err, "timed out after 1 s"), "%s", err);
}

struct arg_case {
	const char *host;
	int port;
	int timeout;
	int code;
};

Test(net, invalid_arguments, .timeout = 20)
{
	const struct arg_case cases[] = {
		{ "", 993, 5, NET_ERR_RESOLVE },
		{ NULL, 993, 5, NET_ERR_RESOLVE },
		{ "127.0.0.1", 0, 5, NET_ERR_CONNECT },
		{ "127.0.0.1", 65536, 5, NET_ERR_CONNECT },
		{ "127.0.0.1", -1, 5, NET_ERR_CONNECT },
		{ "127.0.0.1", 993, 0, NET_ERR_CONNECT },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[256] = "";
		int code = 0;
		struct net_conn *c = net_connect(cases[i].host, cases[i].port, 0, NULL,
						 cases[i].timeout, &code, err, sizeof(err));
		cr_assert_null(c, "case %zu", i);
		cr_assert_eq(code, cases[i].code, "case %zu: %d: %s", i, code, err);
		cr_assert_neq(err[0], '\0', "case %zu", i);
	}
	net_close(NULL);
	cr_assert_eq(net_is_tls(NULL), 0);
	cr_assert_eq(net_pending(NULL), 0);
}

/* ---- the server going away ---- */

struct close_case {
	enum server_mode mode;
	int tls;
	int code;
	const char *text;
};

Test(net, peer_closes_table, .timeout = 20)
{
	const struct close_case cases[] = {
		{ SRV_CLOSE, 0, NET_ERR_CLOSED, "connection closed by server" },
		{ SRV_TLS_NOTIFY, 1, NET_ERR_CLOSED, "connection closed by server" },
		{ SRV_TLS_DROP, 1, NET_ERR_CLOSED, "connection closed by server" },
		{ SRV_RESET, 0, NET_ERR_IO, "reset" },
		{ SRV_TLS_RESET, 1, NET_ERR_IO, "reset" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int port = server_start(cases[i].mode, "srv");
		struct net_conn *c = connect_ok("127.0.0.1", port, cases[i].tls, pki_path("ca.pem"));
		char err[256] = "", b[64];
		ssize_t n = net_read(c, b, sizeof(b), err, sizeof(err));
		cr_assert_eq(n, cases[i].code, "case %zu: %zd: %s", i, n, err);
		assert_names_port(err, "127.0.0.1", port);
		cr_assert(strstr(err, cases[i].text), "case %zu: %s", i, err);
		/* Still an error (the same one after EOF), not a crash, when asked again. */
		n = net_read(c, b, sizeof(b), err, sizeof(err));
		cr_assert_lt(n, 0, "case %zu again", i);
		if (cases[i].code == NET_ERR_CLOSED)
			cr_assert_eq(n, NET_ERR_CLOSED, "case %zu again: %zd: %s", i, n, err);
		net_close(c);
		server_stop();
	}
}

Test(net, write_to_closed_peer, .timeout = 20)
{
	/* With SIGPIPE at its default, a plain write() here would kill us. */
	signal(SIGPIPE, SIG_DFL);
	const enum server_mode modes[] = { SRV_CLOSE, SRV_TLS_DROP };
	for (int tls = 0; tls <= 1; tls++) {
		int port = server_start(modes[tls], "srv");
		struct net_conn *c = connect_ok("127.0.0.1", port, tls, pki_path("ca.pem"));
		server_stop(); /* the server has closed its end */
		char chunk[4096], err[256] = "";
		memset(chunk, 'x', sizeof(chunk));
		int rc = 0;
		for (int i = 0; i < 500 && rc == 0; i++) {
			rc = net_write(c, chunk, sizeof(chunk), err, sizeof(err));
			if (rc == 0)
				usleep(2000);
		}
		cr_assert(rc == NET_ERR_CLOSED || rc == NET_ERR_IO, "tls=%d: %d: %s", tls, rc, err);
		assert_names_port(err, "127.0.0.1", port);
		net_close(c);
	}
}

/* ---- STARTTLS ---- */

Test(net, starttls_upgrade, .timeout = 20)
{
	int port = server_start(SRV_STARTTLS, "srv");
	struct net_conn *c = connect_ok("localhost", port, 0, pki_path("ca.pem"));
	char err[256] = "", line[64];
	cr_assert_eq(net_is_tls(c), 0);
	read_line(c, line, sizeof(line));
	cr_assert_str_eq(line, "* OK ready\r\n");
	cr_assert_eq(net_write(c, "a STARTTLS\r\n", 12, err, sizeof(err)), 0, "%s", err);
	read_line(c, line, sizeof(line));
	cr_assert_str_eq(line, "a OK go\r\n");
	cr_assert_eq(net_starttls(c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(net_is_tls(c), 1);
	read_line(c, line, sizeof(line));
	cr_assert_str_eq(line, "sni:localhost\n");
	cr_assert_eq(net_write(c, "ping\n", 5, err, sizeof(err)), 0, "%s", err);
	read_line(c, line, sizeof(line));
	cr_assert_str_eq(line, "ping\n");
	cr_assert_eq(net_starttls(c, err, sizeof(err)), NET_ERR_TLS, "second STARTTLS");
	net_close(c);
}

Test(net, starttls_bad_certificate, .timeout = 20)
{
	int port = server_start(SRV_STARTTLS, "other");
	struct net_conn *c = connect_ok("localhost", port, 0, pki_path("ca.pem"));
	char err[256] = "", line[64];
	read_line(c, line, sizeof(line));
	cr_assert_eq(net_write(c, "a STARTTLS\r\n", 12, err, sizeof(err)), 0, "%s", err);
	read_line(c, line, sizeof(line));
	cr_assert_eq(net_starttls(c, err, sizeof(err)), NET_ERR_CERT, "%s", err);
	cr_assert(strstr(err, "hostname mismatch"), "%s", err);
	assert_names_port(err, "localhost", port);
	cr_assert_eq(net_is_tls(c), 0);
	/* Must not fall back to plain text after a failed upgrade. */
	cr_assert_lt(net_write(c, "x", 1, err, sizeof(err)), 0);
	cr_assert_lt(net_read(c, line, sizeof(line), err, sizeof(err)), 0);
	net_close(c);
}
