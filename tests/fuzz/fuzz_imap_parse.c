/* libFuzzer target for the IMAP response parser: frames the input as a stream
 * of server responses, parses every complete frame and exercises the helpers
 * on the resulting values. Build: see tests/fuzz/README.md. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailkeep/imap_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_seq_cb(uint32_t lo, uint32_t hi, void *ctx)
{
	if (lo > hi)
		abort();
	(*(unsigned *)ctx)++;
	return 0;
}

/* Touch every byte of every value so that ASan sees any dangling pointer. */
static unsigned fuzz_walk(const struct imap_value *v, unsigned depth)
{
	unsigned sum = 0;
	if (depth > IMAP_MAX_DEPTH + 1)
		abort();
	switch (v->type) {
	case IMAP_ATOM:
	case IMAP_STRING:
		for (size_t i = 0; i < v->len; i++)
			sum += (unsigned char)v->data[i];
		if (v->type == IMAP_ATOM) {
			uint32_t u32;
			uint64_t u64;
			unsigned ranges = 0;
			(void)imap_value_u32(v, &u32);
			(void)imap_value_u64(v, &u64);
			(void)imap_parse_seqset(v->data, v->len, 42, fuzz_seq_cb, &ranges);
			sum += ranges;
		}
		break;
	case IMAP_NIL:
		break;
	case IMAP_LIST:
		for (size_t i = 0; i < v->n; i++)
			sum += fuzz_walk(&v->items[i], depth + 1);
		(void)imap_fetch_item(v, "UID");
		(void)imap_fetch_item(v, "BODY[]");
		break;
	default:
		abort();
	}
	return sum;
}

static void fuzz_lines(const char *d, size_t len)
{
	size_t pos = 0;
	while (pos < len) {
		const char *nl = memchr(d + pos, '\n', len - pos);
		if (!nl)
			break;
		size_t end = (size_t)(nl - d) + 1;
		uint64_t lit;
		size_t off;
		if (imap_frame_literal_at_end(d + pos, end - pos, &lit, &off) == 1 &&
		    (off >= end - pos || lit > ((uint64_t)1 << 53)))
			abort();
		pos = end;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct imap_parser *p; /* reused across runs, as in the client */
	if (!p)
		p = imap_parser_new();
	/* a private copy: ASan then catches any read past the input */
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	fuzz_lines(buf, size);
	size_t off = 0;
	volatile unsigned sink = 0;
	while (off < size) {
		size_t n = 0;
		char err[128];
		int rc = imap_frame_scan(buf + off, size - off, &n, err, sizeof(err));
		if (rc != IMAP_FRAME_COMPLETE)
			break;
		if (n == 0 || n > size - off || buf[off + n - 1] != '\n')
			abort();
		struct imap_response r;
		if (imap_parse(p, buf + off, n, &r, err, sizeof(err)) == 0) {
			sink += fuzz_walk(&r.args, 0) + fuzz_walk(&r.code_args, 0);
			if (r.text_len && (r.text < buf + off || r.text + r.text_len > buf + off + n))
				abort();
		} else if (!err[0] || strlen(err) >= sizeof(err)) {
			abort();
		}
		off += n;
	}
	(void)sink;
	free(buf);
	return 0;
}
