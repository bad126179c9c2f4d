/* A mirror file as a push target gets it: every LF sent as CRLF (the form the
 * source server sent, see struct push_crlf_reader), scanned once for its size
 * in that form and its identity (header digest, Message-ID), and read again, a
 * chunk at a time, while its APPEND literal is sent. A small message is kept whole in
 * memory; a big one never is (the memory a push needs does not grow with the
 * largest message). */
#include "mailkeep/push.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MSG_INMEM ((uint64_t)512 << 10) /* files up to this size are kept whole in memory */
#define HEAD_KEEP ((size_t)1 << 20)     /* of a bigger one, the first bytes (for its Message-ID) */

void push_crlf_reader_init(struct push_crlf_reader *r, int fd)
{
	r->fd = fd;
	r->lf_due = 0;
	r->pos = r->len = 0;
}

ssize_t push_crlf_read(struct push_crlf_reader *r, char *out, size_t cap)
{
	size_t n = 0;
	while (n < cap) {
		if (r->lf_due) {
			out[n++] = '\n';
			r->lf_due = 0;
			continue;
		}
		if (r->pos == r->len) {
			ssize_t k = read(r->fd, r->in, sizeof(r->in));
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				return -1;
			if (k == 0)
				break;
			r->pos = 0;
			r->len = (size_t)k;
		}
		const char *p = r->in + r->pos;
		const char *lf = memchr(p, '\n', r->len - r->pos);
		size_t run = lf ? (size_t)(lf - p) : r->len - r->pos;
		if (run > cap - n)
			run = cap - n;
		memcpy(out + n, p, run);
		n += run;
		r->pos += run;
		if (lf && p + run == lf && n < cap) {
			out[n++] = '\r';
			r->lf_due = 1;
			r->pos++;
		}
	}
	return (ssize_t)n;
}

/* The header of a message in CRLF form, a chunk at a time: where it ends (as
 * push_header_len) and its digest (as push_header_digest), in the one pass
 * over the file that also counts its size, however long the header. */
struct head_scan {
	uint64_t off;       /* bytes seen */
	uint64_t end;       /* the header's length, once found */
	int found, line_start, cr_start;
	EVP_MD_CTX *all;    /* the digest of the header so far */
	EVP_MD_CTX *upto;   /* of it up to its last byte other than CR and LF (the digest leaves the rest out) */
};

/* 0, or -1 when the digest fails. */
static int head_scan(struct head_scan *h, const char *p, size_t n)
{
	size_t i = 0, cut = 0; /* p[0..i) is header, p[0..cut) up to its last byte other than CR and LF */
	for (; i < n && !h->found; i++, h->off++) {
		char c = p[i];
		if (h->cr_start) {
			h->cr_start = 0;
			if (c == '\n') {
				h->end = h->off - 1;
				h->found = 1;
				break;
			}
		} else if (h->line_start) {
			h->line_start = 0;
			if (c == '\n') {
				h->end = h->off;
				h->found = 1;
				break;
			}
			if (c == '\r') {
				h->cr_start = 1;
				continue;
			}
		}
		if (c == '\n')
			h->line_start = 1;
		else if (c != '\r')
			cut = i + 1;
	}
	if (EVP_DigestUpdate(h->all, p, cut) != 1 || (cut && EVP_MD_CTX_copy_ex(h->upto, h->all) != 1) ||
	    EVP_DigestUpdate(h->all, p + cut, i - cut) != 1)
		return -1;
	return 0;
}

/* The file of R read once in its CRLF form: its size and LFs into M,
 * HS fed, M->ends_crlf; its header (a SMALL message whole) kept in HEAD.
 * -1 with err when it cannot be read or digested. */
static int load_scan(struct push_crlf_reader *r, struct head_scan *hs, struct buf *head, int small,
		     uint64_t size, struct push_msg *m, char *err, size_t errlen)
{
	char last = 0;
	/* the whole CRLF form once: its size, its LFs, its header (a small
	 * message kept whole: its LFs are seldom more than 1 byte in 16) */
	buf_grow(head, small ? (size_t)size + (size_t)size / 16 + 16 : HEAD_KEEP - 1);
	for (;;) {
		char tmp[16384], *dst = tmp;
		size_t cap = sizeof(tmp);
		int into_head = small || head->len + 1 < head->cap;
		if (into_head) {
			if (head->len + 1 >= head->cap)
				buf_grow(head, 4096);
			dst = head->data + head->len;
			cap = head->cap - head->len - 1;
		}
		ssize_t k = push_crlf_read(r, dst, cap);
		if (k < 0) {
			snprintf(err, errlen, "read: %s", strerror(errno));
			return -1;
		}
		if (k == 0)
			break;
		for (const char *p = dst, *e = dst + k; (p = memchr(p, '\n', (size_t)(e - p))); p++)
			m->lf++;
		if (head_scan(hs, dst, (size_t)k) < 0) {
			snprintf(err, errlen, "SHA-256 of the header failed");
			return -1;
		}
		last = dst[k - 1];
		m->len += (uint64_t)k;
		if (into_head)
			head->len += (size_t)k;
	}
	m->ends_crlf = last == '\n'; /* every LF of this form follows a CR */
	return 0;
}

int push_msg_load(int fd, uint64_t size, int keep, struct push_msg *m, char *err, size_t errlen)
{
	struct push_crlf_reader *r = malloc(sizeof(*r));
	struct buf head = BUF_INIT;
	struct head_scan hs = { .line_start = 1, .all = EVP_MD_CTX_new(), .upto = EVP_MD_CTX_new() };
	int small = size <= MSG_INMEM, rc = -1;
	unsigned int dl = 0;
	push_msg_free(m);
	memset(m->digest, 0, sizeof(m->digest));
	m->message_id[0] = '\0';
	m->len = m->lf = 0;
	m->ends_crlf = 0;
	m->fd = fd;
	if (!r || !hs.all || !hs.upto || EVP_DigestInit_ex(hs.all, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestInit_ex(hs.upto, EVP_sha256(), NULL) != 1) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	push_crlf_reader_init(r, fd);
	if (load_scan(r, &hs, &head, small, size, m, err, errlen) < 0)
		goto out;
	if (EVP_DigestFinal_ex(hs.upto, m->digest, &dl) != 1 || dl != PUSH_DIGEST_LEN)
		memset(m->digest, 0, PUSH_DIGEST_LEN);
	/* the Message-ID: in the header, or in what is kept of a longer one */
	size_t hl = hs.found && hs.end < head.len ? (size_t)hs.end : head.len;
	if (push_message_id(head.data ? head.data : "", hl, m->message_id, sizeof(m->message_id)) < 0)
		m->message_id[0] = '\0';
	if (keep && small) {
		if (!head.data)
			buf_adds(&head, "");
		m->data = head;
		head = (struct buf)BUF_INIT;
	} else if (keep) {
		m->rd = r; /* read again as it is sent */
		r = NULL;
	}
	rc = 0;
out:
	free(r);
	buf_free(&head);
	EVP_MD_CTX_free(hs.all);
	EVP_MD_CTX_free(hs.upto);
	if (rc == 0 && (!keep || small)) {
		close(fd);
		m->fd = -1;
	}
	return rc;
}

int push_msg_rewind(struct push_msg *m)
{
	if (m->fd < 0)
		return 0;
	if (!m->rd || lseek(m->fd, 0, SEEK_SET) < 0)
		return -1;
	push_crlf_reader_init(m->rd, m->fd);
	return 0;
}

ssize_t push_msg_read(void *ctx, char *out, size_t cap, char *err, size_t errlen)
{
	struct push_msg *m = ctx;
	ssize_t k = m->rd ? push_crlf_read(m->rd, out, cap) : -1;
	if (k < 0)
		snprintf(err, errlen, "reading the message: %s", m->rd ? strerror(errno) : "not opened");
	return k;
}

void push_msg_free(struct push_msg *m)
{
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	free(m->rd);
	m->rd = NULL;
	buf_free(&m->data);
}
