/* libFuzzer target for the COMPRESS=DEFLATE layer (src/net_deflate.c): a
 * hostile or broken server sends any bytes once compression is on. The
 * connection is a stub here (net_read hands out the input in chunks, net_write
 * captures), so the target needs no socket. Build: `make fuzz`; run e.g.
 *
 *   build/fuzz/fuzz_net_deflate -max_total_time=60 -max_len=8192
 *
 * Input: byte 0 = how many of the wire bytes are "pending" (already read after
 * the OK, given to net_deflate_new), byte 1 = the size of each chunk net_read
 * returns, byte 2 = the size of the caller's buffer, the rest = the wire.
 * Properties:
 *  - every read returns 1..len bytes or an error with a message, and after
 *    NET_ERR_IO (a damaged or ended stream) every later read fails too;
 *  - net_deflate_counts() gives exactly the wire bytes taken and the bytes
 *    returned, and net_progress() was told exactly the bytes returned;
 *  - the wire as plain data, written with net_deflate_write() in pieces of
 *    the chunk size, reads back identical through a second net_deflate. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailkeep/net.h"
#include "mailkeep/net_deflate.h"
#include "stub_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The stub connection: reads come from `in`, writes go to `out`. */
struct net_conn {
	struct stub_input in;
	uint8_t *out;
	size_t out_len, out_cap;
	int by_caller;
	uint64_t progress;
};

ssize_t net_read(struct net_conn *c, void *data, size_t len, char *err, size_t errlen)
{
	return stub_input_read(&c->in, data, len, err, errlen);
}

int net_write(struct net_conn *c, const void *data, size_t len, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	if (c->out_len + len > c->out_cap) {
		size_t cap = (c->out_len + len) * 2;
		uint8_t *p = realloc(c->out, cap);
		if (!p)
			abort();
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	return 0;
}

void net_progress_by_caller(struct net_conn *c)
{
	c->by_caller++;
}

void net_progress(struct net_conn *c, size_t got)
{
	if (c->by_caller != 1)
		abort();
	c->progress += got;
}

static void check_err(const char *err, size_t errlen)
{
	if (!err[0] || !memchr(err, '\0', errlen))
		abort();
}

/* Read everything the wire gives; returns the plain bytes in *plain (malloc'd)
 * when want_plain, else NULL. Returns the last read's result (< 0). */
static ssize_t drain(struct net_conn *c, const uint8_t *pending, size_t npending, size_t len, uint8_t **plain,
		     size_t *plain_len, int want_plain)
{
	char err[256];
	uint8_t *buf = malloc(len);
	uint8_t *acc = NULL;
	size_t acc_len = 0, acc_cap = 0;
	uint64_t total = 0;
	ssize_t n = 0;
	if (!buf)
		abort();
	struct net_deflate *z = net_deflate_new(c, "fuzz", pending, npending, err, sizeof(err));
	if (!z) {
		check_err(err, sizeof(err));
		n = NET_ERR_IO;
		goto out;
	}
	for (;;) {
		err[0] = '\0';
		n = net_deflate_read(z, buf, len, err, sizeof(err));
		if (n < 0) {
			check_err(err, sizeof(err));
			break;
		}
		if (n == 0 || (size_t)n > len)
			abort();
		total += (uint64_t)n;
		if (want_plain) {
			if (acc_len + (size_t)n > acc_cap) {
				acc_cap = (acc_len + (size_t)n) * 2;
				acc = realloc(acc, acc_cap);
				if (!acc)
					abort();
			}
			memcpy(acc + acc_len, buf, (size_t)n);
			acc_len += (size_t)n;
		}
	}
	if (n == NET_ERR_IO && net_deflate_read(z, buf, len, err, sizeof(err)) != NET_ERR_IO)
		abort(); /* broken stays broken */
	uint64_t wire_in, plain_in;
	net_deflate_counts(z, &wire_in, &plain_in);
	if (plain_in != total || c->progress != total || wire_in != npending + c->in.pos)
		abort();
	net_deflate_free(z);
out:
	free(buf);
	*plain = acc;
	*plain_len = acc_len;
	return n;
}

static void round_trip(const uint8_t *plain, size_t len, size_t piece, size_t rlen)
{
	struct net_conn w = { 0 }, r = { 0 };
	char err[256];
	uint8_t *back;
	size_t back_len;
	struct net_deflate *z = net_deflate_new(&w, "fuzz", NULL, 0, err, sizeof(err));
	if (!z)
		abort();
	for (size_t off = 0; off < len; off += piece)
		if (net_deflate_write(z, plain + off, len - off < piece ? len - off : piece, err, sizeof(err)) < 0)
			abort();
	net_deflate_free(z);
	r.in.data = w.out;
	r.in.len = w.out_len;
	r.in.chunk = piece;
	if (drain(&r, NULL, 0, rlen, &back, &back_len, 1) != NET_ERR_CLOSED)
		abort(); /* our own stream is never damaged */
	if (back_len != len || (len && memcmp(back, plain, len)))
		abort();
	free(back);
	free(w.out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	size_t npending = data[0], chunk = (size_t)data[1] * 97 + 1, len = (size_t)data[2] * 263 + 1;
	const uint8_t *wire = data + 3;
	size_t wire_len = size - 3;
	if (npending > wire_len)
		npending = wire_len;
	/* a private copy: ASan then catches any read past the input */
	uint8_t *copy = malloc(wire_len ? wire_len : 1);
	if (!copy)
		return 0;
	memcpy(copy, wire, wire_len);

	struct net_conn c = { .in = { .data = copy + npending, .len = wire_len - npending, .chunk = chunk } };
	uint8_t *plain;
	size_t plain_len;
	(void)drain(&c, copy, npending, len, &plain, &plain_len, 0);

	round_trip(copy, wire_len, chunk, len);
	free(copy);
	return 0;
}
