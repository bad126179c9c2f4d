/* Per-folder state: load and atomic save. */
#include "mailkeep/state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailkeep/buf.h"
#include "mailkeep/maildir.h"

#define STATE_MAGIC "mailkeep-state 2"
#define STATE_MAGIC_V1 "mailkeep-state 1"
#define STATE_MAX_SIZE ((size_t)1 << 30)

void state_add(struct folder_state *st, uint32_t uid, unsigned flags, int64_t date, const char *keywords)
{
	if (st->n == st->cap) {
		st->cap = st->cap ? st->cap * 2 : 256;
		st->msgs = xrealloc(st->msgs, st->cap * sizeof(*st->msgs));
	}
	struct state_msg *m = &st->msgs[st->n++];
	m->uid = uid;
	m->flags = (uint8_t)(flags & MFLAG_ALL);
	m->date = date;
	m->keywords = kwset_intern(&st->kw, keywords);
	if (!m->keywords && keywords && *keywords)
		st->keywords_capped = 1;
}

const struct state_msg *state_find(const struct folder_state *st, uint32_t uid)
{
	size_t lo = 0, hi = st->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (st->msgs[mid].uid < uid)
			lo = mid + 1;
		else if (st->msgs[mid].uid > uid)
			hi = mid;
		else
			return &st->msgs[mid];
	}
	return NULL;
}

int state_equal(const struct folder_state *a, const struct folder_state *b)
{
	if (a->uidvalidity != b->uidvalidity || a->uidnext != b->uidnext ||
	    a->highestmodseq != b->highestmodseq || a->cur_mtime_ns != b->cur_mtime_ns ||
	    a->new_mtime_ns != b->new_mtime_ns || a->listed != b->listed || !a->orphaned != !b->orphaned ||
	    !a->kept != !b->kept || a->n != b->n ||
	    a->special != b->special || a->folder_id != b->folder_id || !a->keywords_capped != !b->keywords_capped)
		return 0;
	for (size_t i = 0; i < a->n; i++) {
		const struct state_msg *x = &a->msgs[i], *y = &b->msgs[i];
		if (x->uid != y->uid || x->flags != y->flags || x->date != y->date || !x->keywords != !y->keywords ||
		    (x->keywords && strcmp(x->keywords, y->keywords)))
			return 0;
	}
	return 1;
}

uint64_t state_folder_id(const char *rel)
{
	uint64_t h = 14695981039346656037ULL;
	for (const unsigned char *p = (const unsigned char *)rel; *p; p++) {
		h ^= *p >= 'A' && *p <= 'Z' ? *p + ('a' - 'A') : *p;
		h *= 1099511628211ULL;
	}
	return h ? h : 1;
}

int state_is_of(const struct folder_state *st, const char *rel)
{
	return !st->folder_id || st->folder_id == state_folder_id(rel);
}

int state_names_known(const struct folder_state *st)
{
	for (size_t i = 0; i < st->n; i++)
		if (st->msgs[i].date == STATE_NO_DATE)
			return 0;
	return 1;
}

void state_clear_msgs(struct folder_state *st)
{
	kwset_free(&st->kw);
	st->n = 0;
	st->keywords_capped = 0;
}

void state_free(struct folder_state *st)
{
	state_clear_msgs(st);
	free(st->msgs);
	memset(st, 0, sizeof(*st));
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out, const char **end)
{
	uint64_t v = 0;
	const char *p = s;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	*end = p;
	return 0;
}

static int parse_i64(const char *s, int64_t *out, const char **end)
{
	int neg = *s == '-';
	uint64_t v;
	if (parse_u64(s + neg, INT64_MAX, &v, end) < 0)
		return -1;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

/* The header's keys: one table, for parsing them and for refusing them
 * after the first message line. */
enum header_key {
	H_UIDVALIDITY, H_UIDNEXT, H_HIGHESTMODSEQ, H_DIRMTIME, H_LISTED,
	H_ORPHANED, H_KEPT, H_MESSAGES, H_SPECIAL, H_FOLDER, H_KEYWORDS_CAPPED, H_NONE
};

static const char *const header_keys[H_NONE] = {
	[H_UIDVALIDITY] = "uidvalidity ", [H_UIDNEXT] = "uidnext ",
	[H_HIGHESTMODSEQ] = "highestmodseq ", [H_DIRMTIME] = "dirmtime ",
	[H_LISTED] = "listed ", [H_ORPHANED] = "orphaned ", [H_KEPT] = "kept ",
	[H_MESSAGES] = "messages ", [H_SPECIAL] = "special ", [H_FOLDER] = "folder ",
	[H_KEYWORDS_CAPPED] = "keywords-capped ",
};

/* The key `line` starts with (*val: what follows it), or H_NONE. */
static enum header_key header_key(const char *line, const char **val)
{
	for (int i = 0; i < H_NONE; i++) {
		size_t n = strlen(header_keys[i]);
		if (!strncmp(line, header_keys[i], n)) {
			*val = line + n;
			return (enum header_key)i;
		}
	}
	*val = NULL;
	return H_NONE;
}

/* A message line "m UID FLAGS[ DATE][ NAME]" (LINE without its "m ") of a
 * version VERSION file added to ST; UIDs must increase past *last_uid. 0, or
 * -1 if malformed. */
static int parse_msg_line(struct folder_state *st, const char *line, int version, uint32_t *last_uid)
{
	const char *end;
	uint64_t v;
	if (parse_u64(line, UINT32_MAX, &v, &end) < 0 || v == 0 || *end != ' ')
		return -1;
	if ((uint32_t)v <= *last_uid)
		return -1; /* must be strictly increasing */
	*last_uid = (uint32_t)v;
	const char *fl = end + 1;
	const char *sp = strchr(fl, ' ');
	size_t flen = sp ? (size_t)(sp - fl) : strlen(fl);
	unsigned flags = (flen == 1 && fl[0] == '-') ? 0 : maildir_flags_from_letters(fl, flen);
	int64_t date = STATE_NO_DATE;
	if (version >= 2) {
		if (!sp)
			return -1;
		if (sp[1] == '-' && (sp[2] == ' ' || !sp[2]))
			end = sp + 2;
		else if (parse_i64(sp + 1, &date, &end) < 0 || (*end != ' ' && *end) ||
			 date == STATE_NO_DATE)
			return -1;
		sp = *end ? end : NULL;
	}
	state_add(st, (uint32_t)v, flags, date, sp ? sp + 1 : NULL);
	return 0;
}

/* The value VAL of header key KEY into ST. 0, or -1 if malformed. */
static int parse_header_value(struct folder_state *st, enum header_key key, const char *val)
{
	const char *end;
	uint64_t v;
	switch (key) {
	case H_UIDVALIDITY:
		if (parse_u64(val, UINT32_MAX, &v, &end) < 0 || *end)
			return -1;
		st->uidvalidity = (uint32_t)v;
		break;
	case H_UIDNEXT:
		if (parse_u64(val, UINT32_MAX, &v, &end) < 0 || *end)
			return -1;
		st->uidnext = (uint32_t)v;
		break;
	case H_HIGHESTMODSEQ:
		if (parse_u64(val, UINT64_MAX, &v, &end) < 0 || *end)
			return -1;
		st->highestmodseq = v;
		break;
	case H_DIRMTIME:
		if (parse_i64(val, &st->cur_mtime_ns, &end) < 0 || *end != ' ' ||
		    parse_i64(end + 1, &st->new_mtime_ns, &end) < 0 || *end)
			return -1;
		break;
	case H_LISTED:
		if (parse_i64(val, &st->listed, &end) < 0 || *end || st->listed < 0)
			return -1;
		break;
	case H_ORPHANED:
		st->orphaned = val[0] == '1';
		break;
	case H_KEPT:
		st->kept = val[0] == '1';
		break;
	case H_KEYWORDS_CAPPED:
		st->keywords_capped = val[0] == '1';
		break;
	case H_MESSAGES:
		if (parse_u64(val, UINT32_MAX, &v, &end) < 0 || *end)
			return -1;
		st->declared = (int64_t)v;
		break;
	case H_SPECIAL:
		if (parse_u64(val, 0xffff, &v, &end) < 0 || *end)
			return -1;
		st->special = (unsigned)v;
		break;
	case H_FOLDER: {
		char *e;
		if (strlen(val) != 16 || strspn(val, "0123456789abcdef") != 16)
			return -1;
		st->folder_id = strtoull(val, &e, 16);
		if (!st->folder_id)
			return -1;
		break;
	}
	case H_NONE:
		break;
	}
	return 0;
}

/* Parse one line (NUL-terminated, without LF) of a version `version` file. */
static int parse_line(struct folder_state *st, char *line, int version, uint32_t *last_uid)
{
	if (line[0] == 'm' && line[1] == ' ')
		return parse_msg_line(st, line + 2, version, last_uid);
	const char *val;
	enum header_key key = header_key(line, &val);
	if (key == H_NONE)
		return 0; /* unknown header lines are ignored: forward compatibility */
	if (*last_uid)
		return -1; /* the header is over: state_load_header() stops at the
			    * first message line, and both must read the same header */
	return parse_header_value(st, key, val);
}

/* 2 or 1 for a file starting with that version's first line, else 0. */
static int magic_version(const char *data)
{
	if (!strncmp(data, STATE_MAGIC "\n", sizeof(STATE_MAGIC)))
		return 2;
	if (!strncmp(data, STATE_MAGIC_V1 "\n", sizeof(STATE_MAGIC_V1)))
		return 1;
	return 0;
}

/* The state file at path, opened for reading: -1 with errno when it is
 * missing (ENOENT) or cannot be opened, and also when it is not a regular
 * file. A FIFO would block open() for ever (no timeout applies there: a cron
 * run would hold the account's lock until killed), and a symbolic link
 * (ELOOP) would be read from wherever it points; either is taken for a
 * damaged state, which state_save() replaces. */
static int state_open(const char *path)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -1;
	int e = fstat(fd, &sb) < 0 ? errno : S_ISREG(sb.st_mode) ? 0 : EINVAL;
	if (!e)
		return fd;
	close(fd);
	errno = e;
	return -1;
}

/* Why state_open() failed, for "PATH: WHY" */
static const char *state_open_error(int e)
{
	if (e == ELOOP)
		return "a symbolic link (not followed)";
	if (e == EINVAL)
		return "not a regular file";
	return strerror(e);
}

int state_load(const char *dir, struct folder_state *st, char *err, size_t errlen)
{
	struct buf path = BUF_INIT, data = BUF_INIT;
	int rc = -1;
	memset(st, 0, sizeof(*st));
	st->declared = -1;
	st->kept = -1; /* no kept line (an older file): cur/ may hold kept files */
	buf_addf(&path, "%s/%s", dir, STATE_FILE);
	if (maildir_read_file(path.data, STATE_MAX_SIZE, 0, &data) < 0) {
		if (errno == ENOENT) {
			rc = 1;
			goto out;
		}
		snprintf(err, errlen, "%s: %s", path.data,
			 errno == EFBIG ? "state file too large" : state_open_error(errno));
		goto out;
	}
	int version = data.len == 0 || memchr(data.data, '\0', data.len) ? 0 : magic_version(data.data);
	if (!version) {
		snprintf(err, errlen, "%s: not a mailkeep state file (or damaged)", path.data);
		goto out;
	}
	char *p = data.data + sizeof(STATE_MAGIC);
	uint32_t last_uid = 0;
	unsigned lineno = 1;
	while (*p) {
		char *nl = strchr(p, '\n');
		lineno++;
		if (!nl) {
			snprintf(err, errlen, "%s:%u: truncated line", path.data, lineno);
			goto out;
		}
		*nl = '\0';
		if (parse_line(st, p, version, &last_uid) < 0) {
			snprintf(err, errlen, "%s:%u: malformed line", path.data, lineno);
			goto out;
		}
		p = nl + 1;
	}
	if (st->declared >= 0 && (size_t)st->declared != st->n) {
		snprintf(err, errlen, "%s: %zu message lines where the header says %" PRId64,
			 path.data, st->n, st->declared);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		state_free(st);
	buf_free(&path);
	buf_free(&data);
	return rc;
}

int state_load_header(const char *dir, struct folder_state *st, char *err, size_t errlen)
{
	struct buf path = BUF_INIT;
	char head[4096];
	size_t len = 0;
	int fd = -1, rc = -1, eof = 0;
	memset(st, 0, sizeof(*st));
	st->declared = -1;
	st->kept = -1; /* no kept line (an older file): cur/ may hold kept files */
	buf_addf(&path, "%s/%s", dir, STATE_FILE);
	fd = state_open(path.data);
	if (fd < 0) {
		if (errno == ENOENT)
			rc = 1;
		else
			snprintf(err, errlen, "%s: %s", path.data, state_open_error(errno));
		goto out;
	}
	while (len < sizeof(head) - 1) {
		ssize_t n = read(fd, head + len, sizeof(head) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			eof = n == 0;
			break;
		}
		len += (size_t)n;
	}
	head[len] = '\0';
	int version = memchr(head, '\0', len) ? 0 : magic_version(head);
	if (!version)
		goto out; /* damaged: the full load says how */
	uint32_t last_uid = 0;
	char *p = head + sizeof(STATE_MAGIC), *nl;
	for (; (nl = strchr(p, '\n')); p = nl + 1) {
		if (p[0] == 'm' && p[1] == ' ') { /* end of the header */
			rc = st->declared >= 0 ? 0 : -1;
			goto out;
		}
		*nl = '\0';
		if (parse_line(st, p, version, &last_uid) < 0)
			goto out;
	}
	/* the whole file, without message lines, and not cut in a line (which
	 * state_load() refuses as truncated) */
	if (eof && !*p && st->declared <= 0) {
		st->declared = 0;
		rc = 0;
	}
out:
	if (rc < 0)
		state_free(st);
	if (fd >= 0)
		close(fd);
	buf_free(&path);
	return rc;
}

/* "m <uid> <letters or -> <date or -> [keywords]\n", without printf: a big
 * folder's state has tens of thousands of these lines. */
static void put_msg_line(struct buf *out, const struct state_msg *m)
{
	char letters[8];
	buf_add(out, "m ", 2);
	buf_add_i64(out, m->uid);
	buf_add(out, " ", 1);
	maildir_flags_to_letters(m->flags, letters);
	buf_adds(out, letters[0] ? letters : "-");
	buf_add(out, " ", 1);
	if (m->date == STATE_NO_DATE)
		buf_add(out, "-", 1);
	else
		buf_add_i64(out, m->date);
	if (m->keywords) {
		buf_add(out, " ", 1);
		buf_adds(out, m->keywords);
	}
	buf_add(out, "\n", 1);
}

void state_discard_temp(const char *dir)
{
	struct buf tmp = BUF_INIT;
	buf_addf(&tmp, "%s/%s.tmp", dir, STATE_FILE);
	unlink(tmp.data);
	buf_free(&tmp);
}

/* Write <dir>/.mailkeep-state.tmp; with commit, also fsync it, rename it over
 * the state and fsync the directory. */
static int state_write(const char *dir, const struct folder_state *st, int commit, char *err, size_t errlen)
{
	struct buf tmp = BUF_INIT, path = BUF_INIT, out = BUF_INIT;
	int fd = -1, rc = -1;

	buf_addf(&path, "%s/%s", dir, STATE_FILE);
	buf_addf(&tmp, "%s/%s.tmp", dir, STATE_FILE);
	buf_addf(&out, STATE_MAGIC "\nuidvalidity %" PRIu32 "\nuidnext %" PRIu32
		 "\nhighestmodseq %" PRIu64 "\ndirmtime %" PRId64 " %" PRId64 "\nlisted %" PRId64
		 "\norphaned %d\nkept %d\nspecial %u\nmessages %zu\n",
		 st->uidvalidity, st->uidnext, st->highestmodseq, st->cur_mtime_ns,
		 st->new_mtime_ns, st->listed, st->orphaned ? 1 : 0, st->kept ? 1 : 0, st->special, st->n);
	if (st->folder_id)
		buf_addf(&out, "folder %016" PRIx64 "\n", st->folder_id);
	/* only then: a state of a folder within the cap is written as before */
	if (st->keywords_capped)
		buf_adds(&out, "keywords-capped 1\n");
	fd = maildir_open_fresh(tmp.data);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", tmp.data, strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < st->n; i++) {
		put_msg_line(&out, &st->msgs[i]);
		if (out.len >= 1 << 16) {
			if (maildir_write_all(fd, out.data, out.len) < 0)
				goto write_err;
			buf_reset(&out);
		}
	}
	if (maildir_write_all(fd, out.data, out.len) < 0 || (commit && fsync(fd) < 0))
		goto write_err;
	if (close(fd) < 0) {
		fd = -1;
		goto write_err;
	}
	fd = -1;
	if (!commit) {
		rc = 0;
		goto out;
	}
	if (rename(tmp.data, path.data) < 0) {
		snprintf(err, errlen, "%s: rename: %s", path.data, strerror(errno));
		goto out;
	}
	if (maildir_fsync_dir(dir, err, errlen) < 0)
		goto out;
	rc = 0;
	goto out;
write_err:
	snprintf(err, errlen, "%s: %s", tmp.data, strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		unlink(tmp.data);
	buf_free(&tmp);
	buf_free(&path);
	buf_free(&out);
	return rc;
}

int state_save(const char *dir, const struct folder_state *st, char *err, size_t errlen)
{
	return state_write(dir, st, 1, err, errlen);
}

int state_write_temp(const char *dir, const struct folder_state *st, char *err, size_t errlen)
{
	return state_write(dir, st, 0, err, errlen);
}

int state_commit_temp(const char *dir, char *err, size_t errlen)
{
	struct buf tmp = BUF_INIT, path = BUF_INIT;
	int rc = 0;
	buf_addf(&path, "%s/%s", dir, STATE_FILE);
	buf_addf(&tmp, "%s/%s.tmp", dir, STATE_FILE);
	if (rename(tmp.data, path.data) < 0) {
		snprintf(err, errlen, "%s: rename: %s", path.data, strerror(errno));
		rc = -1;
	}
	buf_free(&tmp);
	buf_free(&path);
	return rc;
}

#define NAMESPACE_MAGIC "mailkeep-namespace 1\nprefix "

int state_namespace_save(const char *acct_dir, const char *rel, char *err, size_t errlen)
{
	struct buf path = BUF_INIT, text = BUF_INIT;
	buf_addf(&path, "%s/.mailkeep/namespace", acct_dir);
	buf_addf(&text, NAMESPACE_MAGIC "%s\n", rel);
	int rc = maildir_write_file_atomic(path.data, text.data, text.len, err, errlen);
	buf_free(&path);
	buf_free(&text);
	return rc;
}

int state_namespace_load(const char *acct_dir, char **rel)
{
	struct buf path = BUF_INIT;
	char data[1024];
	ssize_t n = -1;
	*rel = NULL;
	buf_addf(&path, "%s/.mailkeep/namespace", acct_dir);
	int fd = open(path.data, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK); /* a FIFO: EOF */
	if (fd >= 0) {
		n = read(fd, data, sizeof(data) - 1);
		close(fd);
	}
	buf_free(&path);
	size_t ml = strlen(NAMESPACE_MAGIC);
	if (n < (ssize_t)ml + 1 || memcmp(data, NAMESPACE_MAGIC, ml) || data[n - 1] != '\n')
		return 1;
	data[n - 1] = '\0';
	if (strchr(data + ml, '\n') || memchr(data, '\0', (size_t)n - 1))
		return 1;
	*rel = xstrdup(data + ml);
	return 0;
}

#define SERVER_MAGIC "mailkeep-server 1\n"

int state_server_save(const char *path, const char *user, const char *host, char *err, size_t errlen)
{
	struct buf text = BUF_INIT;
	buf_addf(&text, SERVER_MAGIC "host %s\nuser %s\n", host, user);
	int rc = maildir_write_file_atomic(path, text.data, text.len, err, errlen);
	buf_free(&text);
	return rc;
}

static int state_server_load(const char *path, char **user, char **host)
{
	struct buf data = BUF_INIT;
	char *u, *h;
	int rc = 1;
	*user = *host = NULL;
	if (maildir_read_file(path, STATE_MAX_SIZE, 0, &data) < 0) /* a user name has no bound of its own */
		goto out;
	size_t ml = strlen(SERVER_MAGIC);
	if (data.len < ml + 1 || memcmp(data.data, SERVER_MAGIC, ml) || data.data[data.len - 1] != '\n' ||
	    memchr(data.data, '\0', data.len))
		goto out;
	data.data[data.len - 1] = '\0';
	h = data.data + ml;
	u = strchr(h, '\n');
	if (strncmp(h, "host ", 5) || !u || strncmp(u + 1, "user ", 5) || strchr(u + 1, '\n'))
		goto out;
	*u = '\0';
	*host = xstrdup(h + 5);
	*user = xstrdup(u + 6);
	rc = 0;
out:
	buf_free(&data);
	return rc;
}

int state_server_check(const char *path, const char *user, const char *host, char *err, size_t errlen)
{
	char *had_user, *had_host;
	if (state_server_load(path, &had_user, &had_host) != 0)
		return 1;
	/* host names are compared without regard to case, as DNS does */
	int rc = strcmp(had_user, user) ? -1 : strcasecmp(had_host, host) ? 2 : 0;
	if (rc < 0)
		snprintf(err, errlen, "user \"%s\" on %s, not user \"%s\" on %s", had_user, had_host, user, host);
	else if (rc)
		snprintf(err, errlen, "%s", had_host);
	free(had_user);
	free(had_host);
	return rc;
}
