/* Maildir store, filesystem half: directories, delivery, renames, scans. */
#include "mailkeep/maildir.h"
#include "mailkeep/buf.h"
#include "mailkeep/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* A file in tmp/ that mailkeep did not make is removed once older than this */
#define TMP_FOREIGN_AGE (36 * 3600)

static int mkdir_one(const char *path, char *err, size_t errlen)
{
	if (mkdir(path, 0700) == 0)
		return 0;
	if (errno == EEXIST) {
		struct stat st;
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			return 0;
		snprintf(err, errlen, "%s: exists and is not a directory%s", path,
			 S_ISLNK(st.st_mode) ? " (a symbolic link, not followed)" : "");
		return -1;
	}
	snprintf(err, errlen, "%s: mkdir: %s", path, strerror(errno));
	return -1;
}

int maildir_mkdirs(const char *base, const char *rel, char *err, size_t errlen)
{
	struct buf p = BUF_INIT;
	int rc = -1;
	buf_adds(&p, base);
	const char *s = rel;
	if (*s == '/') {
		snprintf(err, errlen, "%s: absolute path refused", rel);
		goto out;
	}
	while (*s) {
		const char *e = strchr(s, '/');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.')) {
			snprintf(err, errlen, "%s: '.' or '..' component refused", rel);
			goto out;
		}
		if (len) {
			buf_addch(&p, '/');
			buf_add(&p, s, len);
			if (mkdir_one(p.data, err, errlen) < 0)
				goto out;
		}
		s += len;
		if (*s == '/')
			s++;
	}
	rc = 0;
out:
	buf_free(&p);
	return rc;
}

/* A directory of the mirror (lstat'ed: a real one) opened to others since is
 * made private again (0700), as mailkeep made it. A file system without modes
 * (vfat, some network mounts) refuses it on every run: not worth a warning. */
static void dir_private(const char *path, const struct stat *st)
{
	if ((st->st_mode & 07777) != 0700 && chmod(path, 0700) < 0)
		log_debug("%s: cannot make it private (0700): %s", path, strerror(errno));
}

void maildir_make_private(const char *path)
{
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid())
		dir_private(path, &st);
}

void maildir_make_private_below(const char *base, const char *rel)
{
	struct buf p = BUF_INIT;
	struct stat st;
	buf_adds(&p, base);
	for (const char *s = rel; *s;) {
		size_t len = strcspn(s, "/");
		if (len) {
			buf_addch(&p, '/');
			buf_add(&p, s, len);
			/* lstat: a symbolic link on the way is not followed, nor below */
			if (lstat(p.data, &st) < 0 || !S_ISDIR(st.st_mode))
				break;
			if (st.st_uid == geteuid())
				dir_private(p.data, &st);
		}
		s += len + (s[len] == '/');
	}
	buf_free(&p);
}

void maildir_entries_private(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct stat st;
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_uid != geteuid())
			continue;
		mode_t want = S_ISREG(st.st_mode) ? 0600 : S_ISDIR(st.st_mode) ? 0700 : 0;
		if (!want || (st.st_mode & 07777) == want)
			continue;
		if (fchmodat(dirfd(d), e->d_name, want, 0) < 0)
			log_debug("%s/%s: cannot make it private (%04o): %s", dir, e->d_name, (unsigned)want,
				  strerror(errno));
	}
	closedir(d);
}

int maildir_create(const char *dir, char *err, size_t errlen)
{
	static const char *const sub[] = { "cur", "new", "tmp" };
	struct buf p = BUF_INIT;
	struct stat st;
	int rc = 0;
	if (lstat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		dir_private(dir, &st);
	for (size_t i = 0; i < 3 && rc == 0; i++) {
		buf_reset(&p);
		buf_addf(&p, "%s/%s", dir, sub[i]);
		rc = mkdir_one(p.data, err, errlen);
		if (rc == 0 && lstat(p.data, &st) == 0 && S_ISDIR(st.st_mode))
			dir_private(p.data, &st);
	}
	buf_free(&p);
	return rc;
}

int maildir_fsync_dir(const char *dir, char *err, size_t errlen)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: open: %s", dir, strerror(errno));
		return -1;
	}
	int rc = fsync(fd);
	if (rc < 0 && errno != EINVAL) /* some file systems cannot fsync dirs */
		snprintf(err, errlen, "%s: fsync: %s", dir, strerror(errno));
	else
		rc = 0;
	close(fd);
	return rc;
}

int maildir_open_fresh(const char *path)
{
	int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW;
	int fd = open(path, flags, 0600);
	if (fd < 0 && errno == EEXIST && unlink(path) == 0)
		fd = open(path, flags, 0600);
	return fd;
}

int maildir_delivery_open(struct maildir_delivery *d, const char *dir, const char *base,
			  char *err, size_t errlen)
{
	struct buf p = BUF_INIT;
	memset(d, 0, sizeof(*d));
	buf_addf(&p, "%s/tmp/%s", dir, base);
	d->fd = maildir_open_fresh(p.data);
	if (d->fd < 0) {
		snprintf(err, errlen, "%s: %s", p.data, strerror(errno));
		buf_free(&p);
		return -1;
	}
	d->tmp_path = buf_detach(&p);
	d->wbuf = xmalloc(MAILDIR_WBUF);
	return 0;
}

int maildir_write_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = write(fd, data, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int maildir_write_file_atomic(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
	struct buf tmp = BUF_INIT, dir = BUF_INIT;
	const char *slash = strrchr(path, '/');
	int rc = -1;
	buf_addf(&tmp, "%s.tmp", path);
	if (slash)
		buf_add(&dir, path, slash > path ? (size_t)(slash - path) : 1);
	else
		buf_adds(&dir, ".");
	int fd = maildir_open_fresh(tmp.data);
	if (fd < 0 || maildir_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		snprintf(err, errlen, "%s: %s", tmp.data, strerror(errno));
		goto out;
	}
	int crc = close(fd);
	fd = -1;
	if (crc < 0) {
		snprintf(err, errlen, "%s: %s", tmp.data, strerror(errno));
		goto out;
	}
	if (rename(tmp.data, path) < 0) {
		snprintf(err, errlen, "%s: rename: %s", path, strerror(errno));
		goto out;
	}
	rc = maildir_fsync_dir(dir.data, err, errlen);
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		unlink(tmp.data);
	buf_free(&tmp);
	buf_free(&dir);
	return rc;
}

/* The rest of fd into out, at most max bytes: 0, or an errno. */
static int read_bounded(int fd, size_t max, struct buf *out)
{
	size_t got = 0;
	for (;;) {
		/* one byte more than max is asked for: a file grown since fstat */
		size_t want = max - got < 65536 ? max - got + 1 : 65536;
		buf_grow(out, want);
		ssize_t n = read(fd, out->data + out->len, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		out->len += (size_t)n;
		out->data[out->len] = '\0'; /* also when none was read: an empty file */
		if (n == 0)
			return 0;
		got += (size_t)n;
		if (got > max)
			return EFBIG;
	}
}

int maildir_read_file(const char *path, size_t max, unsigned flags, struct buf *out)
{
	struct stat sb;
	size_t start = out->len;
	int e = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK); /* a FIFO: not waited on */
	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) < 0)
		e = errno;
	else if (!S_ISREG(sb.st_mode))
		e = EINVAL;
	else if ((uint64_t)sb.st_size > max)
		e = EFBIG;
	if (!e && (flags & MAILDIR_READ_PRIVATE) && (sb.st_mode & 07777) != 0600 && sb.st_uid == geteuid() &&
	    fchmod(fd, 0600) < 0)
		log_debug("%s: cannot make it private (0600): %s", path, strerror(errno));
	if (!e)
		e = read_bounded(fd, max, out);
	close(fd);
	if (e) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
		errno = e;
		return -1;
	}
	return 0;
}

static int flush_wbuf(struct maildir_delivery *d)
{
	if (d->wlen && maildir_write_all(d->fd, d->wbuf, d->wlen) < 0)
		return -1;
	d->wlen = 0;
	return 0;
}

static void free_wbuf(struct maildir_delivery *d)
{
	free(d->wbuf);
	d->wbuf = NULL;
	d->wlen = 0;
}

/* A CR kept in the output (not the first half of a CRLF). */
static int put_cr(struct maildir_delivery *d)
{
	if (d->wlen == MAILDIR_WBUF && flush_wbuf(d) < 0)
		return -1;
	d->wbuf[d->wlen++] = '\r';
	d->bytes++;
	return 0;
}

int maildir_delivery_write(struct maildir_delivery *d, const char *data, size_t len,
			   char *err, size_t errlen)
{
	/* Copy runs between CRs into the write buffer; only a CR followed by LF is
	 * dropped. A CR at the end of a chunk waits for the next byte (d->saw_cr). */
	size_t i = 0;
	if (d->saw_cr && len) {
		d->saw_cr = 0;
		if (data[0] != '\n' && put_cr(d) < 0)
			goto fail;
	}
	while (i < len) {
		const char *cr = memchr(data + i, '\r', len - i);
		size_t run = cr ? (size_t)(cr - (data + i)) : len - i;
		while (run) {
			if (d->wlen == MAILDIR_WBUF && flush_wbuf(d) < 0)
				goto fail;
			size_t room = MAILDIR_WBUF - d->wlen;
			size_t take = run < room ? run : room;
			memcpy(d->wbuf + d->wlen, data + i, take);
			d->wlen += take;
			d->bytes += take;
			i += take;
			run -= take;
		}
		if (!cr)
			break;
		i++; /* the CR */
		if (i == len) {
			d->saw_cr = 1;
			break;
		}
		if (data[i] != '\n' && put_cr(d) < 0)
			goto fail;
	}
	return 0;
fail:
	snprintf(err, errlen, "%s: write: %s", d->tmp_path, strerror(errno));
	return -1;
}

int maildir_delivery_finish(struct maildir_delivery *d, int64_t date, int do_fsync,
			    char *err, size_t errlen)
{
	if (d->saw_cr) {
		d->saw_cr = 0;
		if (put_cr(d) < 0)
			goto fail;
	}
	if (flush_wbuf(d) < 0)
		goto fail;
	free_wbuf(d);
	if (do_fsync && fsync(d->fd) < 0)
		goto fail;
#ifdef SYNC_FILE_RANGE_WRITE
	/* Start the write-back now, without waiting, when asked (a folder's
	 * few new messages, made durable at the end of the run: the sync there
	 * then finds them on their way). Not for big downloads, where the
	 * per-file submission costs the downloading thread more than the batch's
	 * sync saves (docs/performance.md). */
	if (!do_fsync && d->early_writeback)
		(void)sync_file_range(d->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
	struct timespec ts[2] = { { .tv_sec = (time_t)date }, { .tv_sec = (time_t)date } };
	if (futimens(d->fd, ts) < 0)
		goto fail;
	int fd = d->fd;
	d->fd = -1;
	if (close(fd) < 0)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "%s: %s", d->tmp_path, strerror(errno));
	return -1;
}

int maildir_delivery_commit(struct maildir_delivery *d, const char *dir, const char *final_name,
			    char *err, size_t errlen)
{
	struct buf p = BUF_INIT;
	int rc = 0;
	buf_addf(&p, "%s/cur/%s", dir, final_name);
	if (rename(d->tmp_path, p.data) < 0) {
		snprintf(err, errlen, "%s: rename: %s", p.data, strerror(errno));
		rc = -1;
	} else {
		free(d->tmp_path);
		d->tmp_path = NULL;
	}
	buf_free(&p);
	return rc;
}

void maildir_delivery_abort(struct maildir_delivery *d)
{
	free_wbuf(d);
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
	if (d->tmp_path) {
		unlink(d->tmp_path);
		free(d->tmp_path);
		d->tmp_path = NULL;
	}
}

void maildir_view_add(struct maildir_view *v, const char *name, uint32_t uid, uint32_t uidvalidity,
		      unsigned flags, int in_new)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 256;
		v->files = xrealloc(v->files, v->cap * sizeof(*v->files));
	}
	struct maildir_file *f = &v->files[v->n++];
	f->uid = uid;
	f->uidvalidity = uidvalidity;
	f->flags = (uint8_t)flags;
	f->in_new = (uint8_t)in_new;
	f->odd_info = 0;
	f->name_off = (uint32_t)v->names.len;
	buf_add(&v->names, name, strlen(name) + 1);
}

static int walk_sub(const char *dir, const char *sub, int in_new, maildir_file_fn fn, void *ctx,
		    size_t *foreign, char *err, size_t errlen)
{
	struct buf p = BUF_INIT;
	DIR *d = NULL;
	int rc = -1;
	buf_addf(&p, "%s/%s", dir, sub);
	d = opendir(p.data);
	if (!d) {
		if (errno == ENOENT) {
			rc = 0;
			goto out;
		}
		snprintf(err, errlen, "%s: %s", p.data, strerror(errno));
		goto out;
	}
	struct dirent *de;
	while ((errno = 0, de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		struct maildir_file file = {.in_new = (uint8_t)in_new};
		unsigned flags;
		if (maildir_parse_name(de->d_name, &file.uid, &file.uidvalidity, &flags) < 0) {
			(*foreign)++;
			continue;
		}
		file.flags = (uint8_t)flags;
		file.odd_info = (uint8_t)!maildir_info_canonical(de->d_name);
		if (fn(ctx, p.data, de->d_name, &file, err, errlen) < 0)
			goto out;
	}
	if (errno) {
		snprintf(err, errlen, "%s: readdir: %s", p.data, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (d)
		closedir(d);
	buf_free(&p);
	return rc;
}

int maildir_each_file(const char *dir, maildir_file_fn fn, void *ctx, size_t *foreign, char *err, size_t errlen)
{
	if (walk_sub(dir, "cur", 0, fn, ctx, foreign, err, errlen) < 0 ||
	    walk_sub(dir, "new", 1, fn, ctx, foreign, err, errlen) < 0)
		return -1;
	return 0;
}

static int view_add_file(void *ctx, const char *subdir, const char *name, const struct maildir_file *file,
			 char *err, size_t errlen)
{
	struct maildir_view *v = ctx;
	if (v->names.len > UINT32_MAX - 512) {
		snprintf(err, errlen, "%s: too many files", subdir);
		return -1;
	}
	maildir_view_add(v, name, file->uid, file->uidvalidity, file->flags, file->in_new);
	v->files[v->n - 1].odd_info = file->odd_info;
	return 0;
}

static int cmp_file(const void *a, const void *b)
{
	const struct maildir_file *x = a, *y = b;
	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	if (x->in_new != y->in_new) /* cur/ first: the copy to keep */
		return x->in_new < y->in_new ? -1 : 1;
	return x->name_off < y->name_off ? -1 : x->name_off > y->name_off;
}

int maildir_scan(const char *dir, struct maildir_view *v, char *err, size_t errlen)
{
	memset(v, 0, sizeof(*v));
	if (maildir_each_file(dir, view_add_file, v, &v->foreign, err, errlen) < 0) {
		maildir_view_free(v);
		return -1;
	}
	if (v->n)
		qsort(v->files, v->n, sizeof(*v->files), cmp_file);
	return 0;
}

void maildir_view_free(struct maildir_view *v)
{
	free(v->files);
	buf_free(&v->names);
	memset(v, 0, sizeof(*v));
}

int maildir_rename(const char *dir, int in_new, const char *name, const char *new_name,
		   char *err, size_t errlen)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	int rc = 0;
	buf_addf(&a, "%s/%s/%s", dir, in_new ? "new" : "cur", name);
	buf_addf(&b, "%s/cur/%s", dir, new_name);
	if (rename(a.data, b.data) < 0) {
		rc = errno == ENOENT ? 1 : -1;
		snprintf(err, errlen, "%s: rename: %s", a.data, strerror(errno));
	}
	buf_free(&a);
	buf_free(&b);
	return rc;
}

int maildir_remove(const char *dir, int in_new, const char *name, char *err, size_t errlen)
{
	struct buf a = BUF_INIT;
	int rc = 0;
	buf_addf(&a, "%s/%s/%s", dir, in_new ? "new" : "cur", name);
	if (unlink(a.data) < 0) {
		rc = errno == ENOENT ? 1 : -1;
		snprintf(err, errlen, "%s: unlink: %s", a.data, strerror(errno));
	}
	buf_free(&a);
	return rc;
}

int maildir_tmp_is_ours(const char *name)
{
	return strstr(name, ".mailkeep") != NULL;
}

int maildir_clean_tmp(const char *dir, char *err, size_t errlen)
{
	struct buf p = BUF_INIT;
	int rc = 0;
	buf_addf(&p, "%s/tmp", dir);
	DIR *d = opendir(p.data);
	if (!d) {
		buf_free(&p);
		return 0;
	}
	int dfd = dirfd(d);
	struct dirent *de;
	time_t old = time(NULL) - TMP_FOREIGN_AGE;
	while ((de = readdir(d))) {
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		/* another program's file may be a delivery in progress (notmuch
		 * insert, an MDA): removed only when old, as the Maildir convention
		 * says; ours (".mailkeep" in the name) are an interrupted run's */
		if (!maildir_tmp_is_ours(de->d_name) &&
		    (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_mtime > old))
			continue;
		if (unlinkat(dfd, de->d_name, 0) < 0 && errno != ENOENT && errno != EISDIR) {
			snprintf(err, errlen, "%s/%s: unlink: %s", p.data, de->d_name, strerror(errno));
			rc = -1;
		}
	}
	closedir(d);
	buf_free(&p);
	return rc;
}

int maildir_has_tmp(const char *dir)
{
	struct buf p = BUF_INIT;
	struct stat st;
	buf_addf(&p, "%s/tmp", dir);
	int ok = lstat(p.data, &st) == 0 && S_ISDIR(st.st_mode);
	buf_free(&p);
	return ok;
}

void maildir_dir_mtimes(const char *dir, int64_t *cur_ns, int64_t *new_ns)
{
	struct buf p = BUF_INIT;
	struct stat st;
	buf_addf(&p, "%s/cur", dir);
	*cur_ns = stat(p.data, &st) == 0 ? (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec : 0;
	buf_reset(&p);
	buf_addf(&p, "%s/new", dir);
	*new_ns = stat(p.data, &st) == 0 ? (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec : 0;
	buf_free(&p);
}

int maildir_sync_fs(const char *dir, char *err, size_t errlen)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || syncfs(fd) < 0) {
		snprintf(err, errlen, "%s: syncfs: %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int maildir_mkdir_p(const char *path, char *err, size_t errlen)
{
	struct buf p = BUF_INIT;
	int rc = 0;
	buf_adds(&p, path);
	for (size_t i = 1; i <= p.len && rc == 0; i++) {
		if (i < p.len && p.data[i] != '/')
			continue;
		char saved = p.data[i];
		p.data[i] = '\0';
		if (mkdir(p.data, 0700) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "%s: mkdir: %s", p.data, strerror(errno));
			rc = -1;
		}
		p.data[i] = saved;
	}
	buf_free(&p);
	return rc;
}

static void walk_level(const char *base, const char *rel, unsigned depth,
		       void (*fn)(void *ctx, const char *dir, const char *rel), void *ctx)
{
	struct buf p = BUF_INIT, child = BUF_INIT, full = BUF_INIT;
	struct stat sb;
	DIR *d;
	if (depth > 64)
		return;
	buf_addf(&p, "%s%s%s", base, *rel ? "/" : "", rel);
	d = opendir(p.data);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.' || !strcmp(de->d_name, "cur") || !strcmp(de->d_name, "new") ||
			    !strcmp(de->d_name, "tmp"))
				continue;
			if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
				continue;
			buf_reset(&child);
			buf_addf(&child, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
			buf_reset(&full);
			buf_addf(&full, "%s/%s", base, child.data);
			if (lstat(full.data, &sb) < 0 || !S_ISDIR(sb.st_mode))
				continue;
			fn(ctx, full.data, child.data);
			walk_level(base, child.data, depth + 1, fn, ctx);
		}
		closedir(d);
	}
	buf_free(&p);
	buf_free(&child);
	buf_free(&full);
}

void maildir_walk(const char *base, void (*fn)(void *ctx, const char *dir, const char *rel), void *ctx)
{
	walk_level(base, "", 0, fn, ctx);
}
