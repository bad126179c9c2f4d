/* COMPRESS=DEFLATE (RFC 4978) over a net_conn, with zlib.
 *
 * Both directions are raw DEFLATE (no zlib header: windowBits < 0). The inflater
 * takes the largest window (a server may use any); our deflater writes short
 * commands and, for push, message literals. Memory is bounded by zlib's windows
 * and two fixed buffers, whatever the server sends: inflated bytes go straight
 * into the caller's buffer, never accumulate here. */
#include "mailkeep/net_deflate.h"

#include "mailkeep/buf.h"
#include "mailkeep/net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define ZBUF 65536

struct net_deflate {
	struct net_conn *net;
	char *peer;
	z_stream in, out;
	int in_ok, out_ok;      /* inflateInit2/deflateInit2 succeeded (for the end calls) */
	int in_more;            /* the last inflate filled the caller's buffer: it may hold more */
	int broken;             /* the stream failed: every later call fails */
	uint64_t wire_in, plain_in;
	unsigned char ibuf[ZBUF]; /* compressed bytes read, from in.next_in */
	unsigned char obuf[ZBUF];
};

static int broken(struct net_deflate *z, char *err, size_t errlen, const char *what, const char *msg)
{
	z->broken = 1;
	snprintf(err, errlen, "%s: %s%s%s", z->peer, what, msg ? ": " : "", msg ? msg : "");
	return NET_ERR_IO;
}

struct net_deflate *net_deflate_new(struct net_conn *net, const char *peer, const void *pending,
				    size_t npending, char *err, size_t errlen)
{
	struct net_deflate *z = xcalloc(1, sizeof(*z));
	z->net = net;
	z->peer = xstrdup(peer);
	if (npending > sizeof(z->ibuf)) {
		snprintf(err, errlen, "%zu bytes already read after COMPRESS", npending);
		goto fail;
	}
	if (inflateInit2(&z->in, -15) != Z_OK) {
		snprintf(err, errlen, "zlib cannot start a decompressor");
		goto fail;
	}
	z->in_ok = 1;
	if (deflateInit2(&z->out, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		snprintf(err, errlen, "zlib cannot start a compressor");
		goto fail;
	}
	z->out_ok = 1;
	if (npending)
		memcpy(z->ibuf, pending, npending);
	z->in.next_in = z->ibuf;
	z->in.avail_in = (uInt)npending;
	z->wire_in = npending;
	net_progress_by_caller(net); /* inflated bytes are progress, not wire bytes */
	return z;
fail:
	net_deflate_free(z);
	return NULL;
}

ssize_t net_deflate_read(struct net_deflate *z, void *data, size_t len, char *err, size_t errlen)
{
	if (z->broken)
		return broken(z, err, errlen, "compressed connection unusable after an error", NULL);
	if (len > ZBUF)
		len = ZBUF;
	for (;;) {
		if (z->in.avail_in || z->in_more) {
			z->in.next_out = data;
			z->in.avail_out = (uInt)len;
			int rc = inflate(&z->in, Z_SYNC_FLUSH);
			size_t got = len - z->in.avail_out;
			z->in_more = z->in.avail_out == 0;
			if (rc == Z_STREAM_END)
				return broken(z, err, errlen, "the server ended its compressed stream", NULL);
			if (rc != Z_OK && rc != Z_BUF_ERROR)
				return broken(z, err, errlen, "damaged compressed data from the server", z->in.msg);
			if (got) {
				z->plain_in += got;
				net_progress(z->net, got);
				return (ssize_t)got;
			}
			if (z->in.avail_in) /* no progress with input left: cannot happen with Z_OK */
				return broken(z, err, errlen, "compressed data from the server cannot be decoded", NULL);
			z->in_more = 0;
		}
		ssize_t n = net_read(z->net, z->ibuf, sizeof(z->ibuf), err, errlen);
		if (n < 0)
			return n;
		z->wire_in += (uint64_t)n;
		z->in.next_in = z->ibuf;
		z->in.avail_in = (uInt)n;
	}
}

int net_deflate_write(struct net_deflate *z, const void *data, size_t len, char *err, size_t errlen)
{
	if (z->broken)
		return broken(z, err, errlen, "compressed connection unusable after an error", NULL);
	const unsigned char *p = data;
	do {
		/* zlib counts in uInt: feed at most ZBUF at a time */
		size_t take = len < ZBUF ? len : ZBUF;
		z->out.next_in = (unsigned char *)p;
		z->out.avail_in = (uInt)take;
		p += take;
		len -= take;
		int flush = len ? Z_NO_FLUSH : Z_SYNC_FLUSH;
		do {
			z->out.next_out = z->obuf;
			z->out.avail_out = sizeof(z->obuf);
			int rc = deflate(&z->out, flush);
			if (rc != Z_OK && rc != Z_BUF_ERROR) {
				z->broken = 1;
				snprintf(err, errlen, "%s: compression failed (zlib)", z->peer);
				return NET_ERR_IO;
			}
			size_t have = sizeof(z->obuf) - z->out.avail_out;
			if (have && (rc = net_write(z->net, z->obuf, have, err, errlen)) < 0) {
				z->broken = 1;
				return rc;
			}
		} while (z->out.avail_out == 0);
	} while (len);
	return 0;
}

void net_deflate_counts(const struct net_deflate *z, uint64_t *wire_in, uint64_t *plain_in)
{
	*wire_in = z ? z->wire_in : 0;
	*plain_in = z ? z->plain_in : 0;
}

void net_deflate_free(struct net_deflate *z)
{
	if (!z)
		return;
	if (z->in_ok)
		inflateEnd(&z->in);
	if (z->out_ok)
		deflateEnd(&z->out);
	free(z->peer);
	free(z);
}
