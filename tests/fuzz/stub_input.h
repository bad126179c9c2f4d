/* The reading side of the fuzz targets' stub connection (their net_read):
 * the fuzz input handed out in chunks of at most `chunk` bytes, then
 * NET_ERR_CLOSED as when a server closes the connection. */
#ifndef MAILKEEP_FUZZ_STUB_INPUT_H
#define MAILKEEP_FUZZ_STUB_INPUT_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "mailkeep/net.h"

struct stub_input {
	const uint8_t *data;
	size_t len, pos, chunk;
};

static inline ssize_t stub_input_read(struct stub_input *s, void *out, size_t len, char *err,
				      size_t errlen)
{
	if (s->pos == s->len) {
		snprintf(err, errlen, "stub: closed");
		return NET_ERR_CLOSED;
	}
	size_t n = s->len - s->pos;
	if (n > s->chunk)
		n = s->chunk;
	if (n > len)
		n = len;
	memcpy(out, s->data + s->pos, n);
	s->pos += n;
	return (ssize_t)n;
}

#endif
