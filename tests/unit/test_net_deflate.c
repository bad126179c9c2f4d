/* Tests for COMPRESS=DEFLATE over a connection (src/net_deflate.c): a loopback
 * listener in the test, a thread on its side that compresses or inflates with
 * zlib directly, and the client's net_deflate_read/net_deflate_write. */
#include <criterion/criterion.h>

#include "mailkeep/net.h"
#include "mailkeep/net_deflate.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

struct pair {
	struct net_conn *client;
	int server; /* the accepted socket, blocking */
};

static struct pair pair_open_t(int timeout_sec)
{
	struct pair p = { NULL, -1 };
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(lfd >= 0);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(lfd, 1), 0);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	int code = 0;
	char err[256];
	p.client = net_connect("127.0.0.1", ntohs(sa.sin_port), 0, NULL, timeout_sec, &code, err, sizeof(err));
	cr_assert_not_null(p.client, "%s", err);
	p.server = accept(lfd, NULL, NULL);
	cr_assert(p.server >= 0);
	close(lfd);
	return p;
}

static struct pair pair_open(void)
{
	return pair_open_t(5);
}

static void pair_close(struct pair *p)
{
	net_close(p->client);
	if (p->server >= 0)
		close(p->server);
}

static void write_all(int fd, const void *data, size_t len)
{
	const char *s = data;
	while (len) {
		ssize_t n = write(fd, s, len);
		cr_assert(n > 0);
		s += n;
		len -= (size_t)n;
	}
}

/* Mail-like bytes: compressible, not trivially. */
static unsigned char *sample(size_t len)
{
	unsigned char *b = malloc(len);
	unsigned x = 12345;
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		b[i] = (i % 61 == 60) ? '\n' : (unsigned char)('a' + (x >> 16) % 20);
	}
	return b;
}

/* Raw DEFLATE of data, each `piece` bytes followed by a sync flush (as a server
 * does per response). Caller frees; *out_len set. */
static unsigned char *deflate_pieces(const unsigned char *data, size_t len, size_t piece, int finish,
				     size_t *out_len)
{
	z_stream z = { 0 };
	cr_assert_eq(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	size_t cap = deflateBound(&z, len) + 64 * (len / piece + 2), n = 0;
	unsigned char *out = malloc(cap);
	for (size_t off = 0; off < len || (finish && off == len); off += piece) {
		size_t take = len - off < piece ? len - off : piece;
		z.next_in = (unsigned char *)data + off;
		z.avail_in = (uInt)take;
		z.next_out = out + n;
		z.avail_out = (uInt)(cap - n);
		int last = off + take >= len;
		cr_assert_neq(deflate(&z, last && finish ? Z_FINISH : Z_SYNC_FLUSH), Z_STREAM_ERROR);
		n = cap - z.avail_out;
		if (last)
			break;
	}
	deflateEnd(&z);
	*out_len = n;
	return out;
}

struct writer {
	int fd;
	const unsigned char *data;
	size_t len;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	write_all(w->fd, w->data, w->len);
	return NULL;
}

/* Read exactly len bytes through z, in reads of at most chunk bytes. */
static void read_through(struct net_deflate *z, unsigned char *out, size_t len, size_t chunk)
{
	char err[256];
	size_t got = 0;
	while (got < len) {
		size_t want = len - got < chunk ? len - got : chunk;
		ssize_t n = net_deflate_read(z, out + got, want, err, sizeof(err));
		cr_assert(n > 0, "read failed after %zu of %zu bytes: %s", got, len, err);
		got += (size_t)n;
	}
}

Test(net_deflate, reads_what_the_server_compressed)
{
	static const size_t chunks[] = { 1, 100, 4096, 65536, 200000 };
	for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
		struct pair p = pair_open();
		size_t len = k == 0 ? 20000 : 1500000, zlen;
		unsigned char *data = sample(len), *zdata = deflate_pieces(data, len, 30000, 0, &zlen);
		cr_expect_lt(zlen, len, "the sample does not compress");
		char err[256];
		/* the first 10 compressed bytes came with the COMPRESS answer */
		struct net_deflate *z = net_deflate_new(p.client, "srv", zdata, 10, err, sizeof(err));
		cr_assert_not_null(z, "%s", err);
		struct writer w = { p.server, zdata + 10, zlen - 10 };
		pthread_t t;
		cr_assert_eq(pthread_create(&t, NULL, writer_main, &w), 0);
		unsigned char *got = malloc(len);
		read_through(z, got, len, chunks[k]);
		pthread_join(t, NULL);
		cr_expect_eq(memcmp(got, data, len), 0, "inflated bytes differ (reads of %zu)", chunks[k]);
		uint64_t wire, plain;
		net_deflate_counts(z, &wire, &plain);
		cr_expect_eq(wire, zlen);
		cr_expect_eq(plain, len);
		net_deflate_free(z);
		pair_close(&p);
		free(data);
		free(zdata);
		free(got);
	}
}

struct reader {
	int fd;
	unsigned char *out;
	size_t want, got;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	z_stream z = { 0 };
	unsigned char in[8192];
	if (inflateInit2(&z, -15) != Z_OK)
		return NULL;
	while (r->got < r->want) {
		ssize_t n = read(r->fd, in, sizeof(in));
		if (n <= 0)
			break;
		z.next_in = in;
		z.avail_in = (uInt)n;
		while (z.avail_in) {
			z.next_out = r->out + r->got;
			z.avail_out = (uInt)(r->want - r->got);
			if (inflate(&z, Z_SYNC_FLUSH) != Z_OK || z.avail_out == 0) {
				r->got = r->want - z.avail_out;
				goto out;
			}
			r->got = r->want - z.avail_out;
		}
	}
out:
	inflateEnd(&z);
	return NULL;
}

Test(net_deflate, writes_what_the_server_inflates)
{
	struct pair p = pair_open();
	size_t len = 700000;
	unsigned char *data = sample(len);
	char err[256];
	struct net_deflate *z = net_deflate_new(p.client, "srv", NULL, 0, err, sizeof(err));
	cr_assert_not_null(z, "%s", err);
	struct reader r = { p.server, malloc(len), len, 0 };
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, reader_main, &r), 0);
	/* a short command, then a literal bigger than zlib's chunk: each write is flushed */
	cr_assert_eq(net_deflate_write(z, data, 17, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(net_deflate_write(z, data + 17, len - 17, err, sizeof(err)), 0, "%s", err);
	pthread_join(t, NULL);
	cr_expect_eq(r.got, len, "the server inflated %zu of %zu bytes", r.got, len);
	cr_expect_eq(memcmp(r.out, data, len), 0);
	net_deflate_free(z);
	pair_close(&p);
	free(data);
	free(r.out);
}

/* What the client gets after the server sent `wire` (and then closed when `close_after`). */
static ssize_t read_after(const void *wire, size_t len, int close_after, char *err, size_t errlen,
			  ssize_t *second)
{
	struct pair p = pair_open();
	struct net_deflate *z = net_deflate_new(p.client, "srv", NULL, 0, err, errlen);
	cr_assert_not_null(z, "%s", err);
	write_all(p.server, wire, len);
	if (close_after) {
		close(p.server);
		p.server = -1;
	}
	unsigned char buf[65536];
	ssize_t n, total = 0;
	while ((n = net_deflate_read(z, buf, sizeof(buf), err, errlen)) > 0)
		total += n;
	char err2[256];
	*second = net_deflate_read(z, buf, sizeof(buf), err2, sizeof(err2));
	net_deflate_free(z);
	pair_close(&p);
	return total > 0 && n >= 0 ? total : n;
}

Test(net_deflate, damaged_stream_is_an_error)
{
	char err[256] = "";
	ssize_t second;
	const char garbage[] = "* OK this is plain text, not DEFLATE\r\n* OK more of it\r\n";
	ssize_t n = read_after(garbage, sizeof(garbage) - 1, 0, err, sizeof(err), &second);
	cr_expect_eq(n, NET_ERR_IO);
	cr_expect(strstr(err, "srv: damaged compressed data") != NULL, "%s", err);
	cr_expect_eq(second, NET_ERR_IO, "the connection must stay unusable");
}

Test(net_deflate, ended_stream_is_an_error)
{
	char err[256] = "";
	ssize_t second;
	size_t zlen;
	unsigned char *data = sample(5000), *zdata = deflate_pieces(data, 5000, 5000, 1, &zlen);
	ssize_t n = read_after(zdata, zlen, 0, err, sizeof(err), &second);
	cr_expect_eq(n, NET_ERR_IO);
	cr_expect(strstr(err, "srv: the server ended its compressed stream") != NULL, "%s", err);
	cr_expect_eq(second, NET_ERR_IO);
	free(data);
	free(zdata);
}

Test(net_deflate, close_mid_block_is_closed)
{
	char err[256] = "";
	ssize_t second;
	size_t zlen;
	unsigned char *data = sample(50000), *zdata = deflate_pieces(data, 50000, 50000, 0, &zlen);
	ssize_t n = read_after(zdata, zlen / 2, 1, err, sizeof(err), &second);
	cr_expect_eq(n, NET_ERR_CLOSED, "%s", err);
	free(data);
	free(zdata);
}

Test(net_deflate, pending_bytes_over_the_buffer_are_refused)
{
	struct pair p = pair_open();
	char err[256] = "";
	static char big[65537];
	cr_expect_null(net_deflate_new(p.client, "srv", big, sizeof(big), err, sizeof(err)));
	cr_expect(strstr(err, "after COMPRESS") != NULL, "%s", err);
	pair_close(&p);
}

/* The server sends nothing but empty compressed blocks (sync flushes), 2 KB/s:
 * wire bytes enough to feed the drip budget, no byte of IMAP. */
struct empty_feed {
	int fd;
	volatile int stop;
};

static void *empty_main(void *arg)
{
	struct empty_feed *e = arg;
	z_stream z = { 0 };
	unsigned char out[64];
	deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
	for (int tick = 0; tick < 60 && !e->stop; tick++) { /* 6 s at most */
		for (int k = 0; k < 80; k++) {
			z.next_in = NULL;
			z.avail_in = 0;
			z.next_out = out;
			z.avail_out = sizeof(out);
			deflate(&z, Z_SYNC_FLUSH);
			if (send(e->fd, out, sizeof(out) - z.avail_out, MSG_NOSIGNAL) < 0)
				goto out;
		}
		usleep(100000);
	}
out:
	deflateEnd(&z);
	return NULL;
}

Test(net_deflate, empty_blocks_are_no_progress, .timeout = 30)
{
	struct pair p = pair_open_t(1);
	char err[256] = "";
	struct net_deflate *z = net_deflate_new(p.client, "srv", NULL, 0, err, sizeof(err));
	cr_assert_not_null(z, "%s", err);
	struct empty_feed e = { p.server, 0 };
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, empty_main, &e), 0);
	unsigned char buf[256];
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ssize_t n = net_deflate_read(z, buf, sizeof(buf), err, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	e.stop = 1;
	pthread_join(t, NULL);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	cr_expect_eq(n, NET_ERR_TIMEOUT, "read returned %zd after %.1f s: %s", n, s, err);
	cr_expect(s < 15.0, "the empty blocks kept the read waiting %.1f s", s); /* loose: a loaded machine */
	net_deflate_free(z);
	pair_close(&p);
}
