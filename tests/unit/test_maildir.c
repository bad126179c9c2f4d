/* Maildir delivery: CRLF -> LF across chunk boundaries, bare CR kept, mode and mtime. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailkeep/maildir.h"

static char *deliver_in_chunks(const char *in, size_t len, size_t chunk, size_t *outlen)
{
	char tmpl[] = "/tmp/mk-md-XXXXXX";
	char *dir = mkdtemp(tmpl);
	char err[256], path[512];
	struct maildir_delivery d;
	cr_assert_not_null(dir);
	cr_assert_eq(maildir_create(dir, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(maildir_delivery_open(&d, dir, "m", err, sizeof(err)), 0, "%s", err);
	for (size_t i = 0; i < len; i += chunk)
		cr_assert_eq(maildir_delivery_write(&d, in + i, len - i < chunk ? len - i : chunk, err,
						    sizeof(err)), 0, "%s", err);
	cr_assert_eq(maildir_delivery_finish(&d, 1000000000, 1, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(maildir_delivery_commit(&d, dir, "m:2,S", err, sizeof(err)), 0, "%s", err);
	snprintf(path, sizeof(path), "%s/cur/m:2,S", dir);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	cr_assert_eq(st.st_mtime, 1000000000);
	FILE *f = fopen(path, "rb");
	char *buf = calloc(1, len + 1);
	*outlen = fread(buf, 1, len + 1, f);
	fclose(f);
	unlink(path);
	snprintf(path, sizeof(path), "%s/cur", dir); rmdir(path);
	snprintf(path, sizeof(path), "%s/new", dir); rmdir(path);
	snprintf(path, sizeof(path), "%s/tmp", dir); rmdir(path);
	rmdir(dir);
	return buf;
}

Test(maildir, crlf_to_lf_any_chunking)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "a\r\nb\r\n", "a\nb\n" },
		{ "bare\rcr\r\n", "bare\rcr\n" },
		{ "\r\r\n\r", "\r\n\r" },
		{ "no newline at end", "no newline at end" },
		{ "\r\n\r\n\r\n", "\n\n\n" },
		{ "x\r", "x\r" },
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		for (size_t chunk = 1; chunk <= strlen(cases[c].in); chunk++) {
			size_t n;
			char *got = deliver_in_chunks(cases[c].in, strlen(cases[c].in), chunk, &n);
			cr_assert_eq(n, strlen(cases[c].out), "case %zu chunk %zu: length %zu", c, chunk, n);
			cr_assert(!memcmp(got, cases[c].out, n), "case %zu chunk %zu", c, chunk);
			free(got);
		}
	}
}

Test(maildir, large_message_crosses_buffer)
{
	size_t len = 300000;
	char *in = malloc(len), *want = malloc(len);
	size_t w = 0;
	for (size_t i = 0; i < len; i++) {
		in[i] = (i % 80 == 78) ? '\r' : (i % 80 == 79) ? '\n' : (char)('a' + i % 26);
		if (in[i] != '\r')
			want[w++] = in[i];
	}
	size_t n;
	char *got = deliver_in_chunks(in, len, 65536 + 7, &n);
	cr_assert_eq(n, w);
	cr_assert(!memcmp(got, want, w));
	free(in);
	free(want);
	free(got);
}

/* The delivery buffers its output (MAILDIR_WBUF): CRs, CRLFs and bare CRs at
 * every offset around the buffer's edges, with TLS-record-like chunk sizes,
 * give the same bytes as a plain CRLF -> LF conversion. */
Test(maildir, write_buffer_edges)
{
	size_t len = 3 * MAILDIR_WBUF + 1000;
	char *in = malloc(len), *want = malloc(len);
	unsigned seed = 12345;
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		unsigned r = (seed >> 16) % 16;
		in[i] = r == 0 ? '\r' : r == 1 ? '\n' : (char)('a' + r);
	}
	size_t w = 0;
	for (size_t i = 0; i < len; i++)
		if (!(in[i] == '\r' && i + 1 < len && in[i + 1] == '\n'))
			want[w++] = in[i];
	static const size_t chunks[] = { 7, 4043, 16384, MAILDIR_WBUF - 1, MAILDIR_WBUF, MAILDIR_WBUF + 1 };
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		size_t n;
		char *got = deliver_in_chunks(in, len, chunks[c], &n);
		cr_assert_eq(n, w, "chunk %zu: %zu bytes, want %zu", chunks[c], n, w);
		cr_assert(!memcmp(got, want, w), "chunk %zu: bytes differ", chunks[c]);
		free(got);
	}
	free(in);
	free(want);
}

static size_t read_all(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	size_t n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

Test(maildir, write_file_atomic)
{
	char tmpl[] = "/tmp/mk-at-XXXXXX", err[256], path[512], tmp[520], outside[512], buf[64];
	char *dir = mkdtemp(tmpl);
	struct stat st;
	cr_assert_not_null(dir);
	snprintf(path, sizeof(path), "%s/state", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	snprintf(outside, sizeof(outside), "%s/outside", dir);
	cr_assert_eq(maildir_write_file_atomic(path, "one\n", 4, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(read_all(path, buf, sizeof(buf)), 4);
	cr_expect_eq(memcmp(buf, "one\n", 4), 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0600);
	cr_assert_eq(maildir_write_file_atomic(path, "second\n", 7, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(read_all(path, buf, sizeof(buf)), 7, "not replaced whole");
	cr_expect_eq(access(tmp, F_OK), -1, "the .tmp is left behind");
	/* a symbolic link planted at the .tmp: replaced, nothing written through it */
	FILE *f = fopen(outside, "w");
	cr_assert_not_null(f);
	fputs("mine\n", f);
	fclose(f);
	cr_assert_eq(symlink(outside, tmp), 0);
	cr_expect_eq(maildir_write_file_atomic(path, "third\n", 6, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(read_all(outside, buf, sizeof(buf)), 5);
	cr_expect_eq(memcmp(buf, "mine\n", 5), 0, "written through the link");
	cr_expect_eq(read_all(path, buf, sizeof(buf)), 6, "not replaced");
	/* a .tmp left behind, opened to others and hard-linked from outside: the
	 * new file is 0600, the other name keeps its bytes (not truncated) */
	cr_assert_eq(link(outside, tmp), 0);
	cr_assert_eq(chmod(outside, 0644), 0);
	cr_expect_eq(maildir_write_file_atomic(path, "fourth\n", 7, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(read_all(outside, buf, sizeof(buf)), 5, "the linked file was truncated");
	cr_expect_eq(memcmp(buf, "mine\n", 5), 0, "written through the hard link");
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0600, "mode %o kept from the .tmp", (unsigned)(st.st_mode & 0777));
	cr_expect_eq(read_all(path, buf, sizeof(buf)), 7);
	/* a directory there cannot be replaced: an error naming the .tmp */
	cr_assert_eq(mkdir(tmp, 0700), 0);
	cr_expect_eq(maildir_write_file_atomic(path, "evil\n", 5, err, sizeof(err)), -1);
	cr_expect_not_null(strstr(err, ".tmp"), "%s", err);
	cr_expect_eq(read_all(path, buf, sizeof(buf)), 7, "the file changed after a failure");
	rmdir(tmp);
	unlink(outside);
	unlink(path);
	rmdir(dir);
}

/* A small file read whole (a state, a record): its bytes appended and
 * NUL-terminated; none, a symbolic link, a FIFO (never waited on) or a file
 * past the bound an errno, the buffer as it was; made private on request. */
Test(maildir, read_file)
{
	char tmpl[] = "/tmp/mk-rf-XXXXXX", path[512], link_path[512], fifo[512];
	char *dir = mkdtemp(tmpl);
	struct buf b = BUF_INIT;
	struct stat st;
	cr_assert_not_null(dir);
	snprintf(path, sizeof(path), "%s/f", dir);
	snprintf(link_path, sizeof(link_path), "%s/l", dir);
	snprintf(fifo, sizeof(fifo), "%s/p", dir);
	errno = 0;
	cr_expect_eq(maildir_read_file(path, 100, 0, &b), -1);
	cr_expect_eq(errno, ENOENT);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("0123456789", f);
	fclose(f);
	buf_adds(&b, "x");
	cr_assert_eq(maildir_read_file(path, 10, 0, &b), 0, "%s", strerror(errno));
	cr_expect_str_eq(b.data, "x0123456789");
	cr_expect_eq(b.len, 11);
	cr_expect_eq(maildir_read_file(path, 9, 0, &b), -1);
	cr_expect_eq(errno, EFBIG);
	cr_expect_str_eq(b.data, "x0123456789", "the buffer changed after a failure");
	cr_expect_eq(b.len, 11);
	buf_reset(&b);
	cr_assert_eq(symlink(path, link_path), 0);
	cr_expect_eq(maildir_read_file(link_path, 100, 0, &b), -1, "a symbolic link followed");
	cr_expect_eq(errno, ELOOP);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	cr_expect_eq(maildir_read_file(fifo, 100, 0, &b), -1);
	cr_expect_eq(errno, EINVAL);
	cr_expect_eq(b.len, 0);
	/* opened to others since: private again when asked, else left */
	cr_assert_eq(chmod(path, 0644), 0);
	cr_assert_eq(maildir_read_file(path, 100, 0, &b), 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 07777, 0644);
	cr_assert_eq(maildir_read_file(path, 100, MAILDIR_READ_PRIVATE, &b), 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 07777, 0600);
	buf_free(&b);
	unlink(fifo);
	unlink(link_path);
	unlink(path);
	rmdir(dir);
}

/* An empty file read into an empty buffer: read(2) gives no byte, the buffer
 * is allocated all the same and must hold "" as promised (the NUL written
 * only after bytes read left it unterminated: ASan fills new memory). */
Test(maildir, read_file_empty)
{
	char tmpl[] = "/tmp/mk-rf-XXXXXX", path[512];
	char *dir = mkdtemp(tmpl);
	struct buf b = BUF_INIT;
	cr_assert_not_null(dir);
	snprintf(path, sizeof(path), "%s/f", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(maildir_read_file(path, 100, 0, &b), 0, "%s", strerror(errno));
	cr_expect_eq(b.len, 0);
	if (b.data)
		cr_expect_eq(b.data[0], '\0', "not NUL-terminated: 0x%02x", (unsigned char)b.data[0]);
	buf_free(&b);
	unlink(path);
	rmdir(dir);
}

static mode_t mode_of(const char *dir, const char *rel)
{
	char p[600];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	cr_assert_eq(lstat(p, &st), 0, "%s", p);
	return st.st_mode & 07777;
}

static void make_at(const char *dir, const char *rel, int is_dir, mode_t mode)
{
	char p[600];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	if (is_dir) {
		cr_assert_eq(mkdir(p, 0700), 0, "%s", p);
	} else {
		int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
		cr_assert_geq(fd, 0, "%s", p);
		close(fd);
	}
	cr_assert_eq(chmod(p, mode), 0, "%s", p);
}

/* Opened to others since: files 0600, directories 0700 again, not looked into,
 * a symbolic link never followed (its target stays as it is). */
Test(maildir, entries_private)
{
	char tmpl[] = "/tmp/mk-priv-XXXXXX", p[600], q[600];
	char *dir = mkdtemp(tmpl);
	cr_assert_not_null(dir);
	make_at(dir, "f", 0, 0644);
	make_at(dir, "d", 1, 0755);
	make_at(dir, "d/inner", 0, 0644);
	make_at(dir, "x", 1, 0755);
	make_at(dir, "ro", 0, 0400);
	snprintf(p, sizeof(p), "%s/x", dir);
	snprintf(q, sizeof(q), "%s/link", dir);
	cr_assert_eq(symlink(p, q), 0);
	maildir_entries_private(dir);
	cr_expect_eq(mode_of(dir, "f"), 0600);
	cr_expect_eq(mode_of(dir, "d"), 0700);
	cr_expect_eq(mode_of(dir, "d/inner"), 0644, "looked into a directory");
	cr_expect_eq(mode_of(dir, "ro"), 0600);
	/* x is an entry too: made 0700 by its own name; through the link it is not */
	cr_expect_eq(mode_of(dir, "x"), 0700);
	cr_assert_eq(chmod(p, 0755), 0);
	maildir_make_private_below(dir, "link/sub");
	cr_expect_eq(mode_of(dir, "x"), 0755, "a symbolic link on the way was followed");
	snprintf(q, sizeof(q), "%s/d", dir);
	cr_assert_eq(chmod(q, 0755), 0);
	maildir_make_private_below(dir, "d//");
	cr_expect_eq(mode_of(dir, "d"), 0700, "an empty level stopped the way");
	cr_assert_eq(chmod(p, 0755), 0);
	cr_assert_eq(chmod(dir, 0755), 0);
	make_at(dir, "x/y", 1, 0755);
	maildir_make_private_below(dir, "x/y");
	cr_expect_eq(mode_of(dir, "x"), 0700);
	cr_expect_eq(mode_of(dir, "x/y"), 0700);
	cr_expect_eq(mode_of(dir, "."), 0755, "the base itself was changed");
	unlink(q);
	snprintf(q, sizeof(q), "%s/x/y", dir);
	rmdir(q);
	rmdir(p);
	for (const char *const *n = (const char *const[]){ "f", "d/inner", "ro", NULL }; *n; n++) {
		snprintf(q, sizeof(q), "%s/%s", dir, *n);
		unlink(q);
	}
	snprintf(q, sizeof(q), "%s/d", dir);
	rmdir(q);
	rmdir(dir);
}
