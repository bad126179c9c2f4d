/* Growable byte buffer (in the spirit of git's strbuf). Always NUL-terminated
 * after any operation so that .data can be used as a C string when the content
 * has no embedded NUL. The struct owns .data; release with buf_free(). */
#ifndef MAILKEEP_BUF_H
#define MAILKEEP_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	char *data;  /* NULL or NUL-terminated; owned */
	size_t len;
	size_t cap;
	int secret;  /* holds a password, a token or their encoded forms: see BUF_SECRET */
};

#define BUF_INIT { NULL, 0, 0, 0 }
/* A buffer for a secret: each growth moves the content to a new allocation and
 * zeroes the old one (realloc would leave a copy behind in freed memory), and
 * buf_free zeroes the whole allocation. No room has to be reserved up front. */
#define BUF_SECRET { NULL, 0, 0, 1 }

/* Ensure room for len + extra + 1 bytes. Aborts on out-of-memory (like xmalloc). */
void buf_grow(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *data, size_t len);
void buf_adds(struct buf *b, const char *s);
void buf_addch(struct buf *b, char c);
/* Decimal, without printf (hot paths write tens of thousands of numbers). */
void buf_add_i64(struct buf *b, int64_t v);
void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vaddf(struct buf *b, const char *fmt, va_list ap);
/* Drop the content, keep the allocation. */
void buf_reset(struct buf *b);
/* Remove the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/* Hand over the string (never NULL; caller frees) and reset b to empty. */
char *buf_detach(struct buf *b);
/* Release the allocation (zeroed first when the buffer is a secret one). */
void buf_free(struct buf *b);

/* Allocation helpers that abort with a message on out-of-memory. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
