/* Push, pure: flag strings, message identity, the push state text format and
 * the per-folder plan (folder names: push_name.c). No I/O. */
#include "mailkeep/push.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "mailkeep/maildir.h"

#define PUSH_STATE_MAGIC "mailkeep-push 1"

/* ---- flags ---- */

static int keyword_ok(const char *s, size_t len)
{
	if (!len || len > 128 || s[0] == '\\')
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch <= 0x20 || ch >= 0x7f || strchr("(){%*\"]\\", ch))
			return 0;
	}
	return 1;
}

/* Is the word kw (len) in the space-separated list? */
static int has_word(const char *list, size_t list_len, const char *kw, size_t len)
{
	size_t i = 0;
	while (i < list_len) {
		size_t j = i;
		while (j < list_len && list[j] != ' ')
			j++;
		if (j - i == len && !strncasecmp(list + i, kw, len))
			return 1;
		i = j + 1;
	}
	return 0;
}

void push_keywords_normalise(const char *keywords, const char *allowed, struct buf *out)
{
	buf_reset(out);
	buf_adds(out, "");
	if (!keywords)
		return;
	const char *p = keywords;
	while (*p) {
		while (*p == ' ')
			p++;
		size_t l = strcspn(p, " ");
		if (l && keyword_ok(p, l) && maildir_flag_from_imap(p, l) == 0 &&
		    !has_word(out->data, out->len, p, l) && (!allowed || has_word(allowed, strlen(allowed), p, l))) {
			if (out->len)
				buf_addch(out, ' ');
			buf_add(out, p, l);
		}
		p += l;
	}
}

unsigned push_flags_allowed(unsigned flags, const char *allowed)
{
	const char *fwd = maildir_flag_to_imap(MFLAG_PASSED);
	if (allowed && !has_word(allowed, strlen(allowed), fwd, strlen(fwd)))
		flags &= ~(unsigned)MFLAG_PASSED;
	return flags;
}

static const unsigned flag_order[] = { MFLAG_DRAFT, MFLAG_FLAGGED, MFLAG_PASSED, MFLAG_REPLIED,
				       MFLAG_SEEN, MFLAG_TRASHED };

static void add_word(struct buf *out, const char *w, size_t len)
{
	if (out->len)
		buf_addch(out, ' ');
	buf_add(out, w, len);
}

void push_flags_string(unsigned flags, const char *keywords, struct buf *out)
{
	struct buf kw = BUF_INIT;
	buf_reset(out);
	buf_adds(out, "");
	for (size_t i = 0; i < sizeof(flag_order) / sizeof(flag_order[0]); i++)
		if (flags & flag_order[i])
			add_word(out, maildir_flag_to_imap(flag_order[i]), strlen(maildir_flag_to_imap(flag_order[i])));
	push_keywords_normalise(keywords, NULL, &kw);
	if (kw.len)
		add_word(out, kw.data, kw.len);
	buf_free(&kw);
}

/* Words of a that are not in b, appended to out. */
static void words_minus(const struct buf *a, const struct buf *b, struct buf *out)
{
	size_t i = 0;
	while (i < a->len) {
		size_t j = i;
		while (j < a->len && a->data[j] != ' ')
			j++;
		if (j > i && !has_word(b->data, b->len, a->data + i, j - i))
			add_word(out, a->data + i, j - i);
		i = j + 1;
	}
}

void push_flags_delta(unsigned old_flags, const char *old_kw, unsigned new_flags, const char *new_kw,
		      struct buf *add, struct buf *remove)
{
	struct buf o = BUF_INIT, n = BUF_INIT;
	buf_reset(add);
	buf_reset(remove);
	buf_adds(add, "");
	buf_adds(remove, "");
	for (size_t i = 0; i < sizeof(flag_order) / sizeof(flag_order[0]); i++) {
		unsigned f = flag_order[i];
		const char *name = maildir_flag_to_imap(f);
		if ((new_flags & f) && !(old_flags & f))
			add_word(add, name, strlen(name));
		else if (!(new_flags & f) && (old_flags & f))
			add_word(remove, name, strlen(name));
	}
	push_keywords_normalise(old_kw, NULL, &o);
	push_keywords_normalise(new_kw, NULL, &n);
	words_minus(&n, &o, add);
	words_minus(&o, &n, remove);
	buf_free(&o);
	buf_free(&n);
}

void push_keywords_apply(const char *old_kw, const char *new_kw, int add, int remove, struct buf *out)
{
	struct buf o = BUF_INIT, n = BUF_INIT, gone = BUF_INIT;
	push_keywords_normalise(old_kw, NULL, &o);
	push_keywords_normalise(new_kw, NULL, &n);
	buf_reset(out);
	buf_adds(out, "");
	buf_adds(&gone, "");
	if (remove)
		words_minus(&o, &n, &gone);
	words_minus(&o, &gone, out);
	if (add)
		words_minus(&n, &o, out);
	buf_free(&o);
	buf_free(&n);
	buf_free(&gone);
}

/* ---- message identity ---- */

size_t push_header_len(const char *msg, size_t len)
{
	size_t i = 0;
	while (i < len) {
		/* an empty line (LF or CRLF) ends the header */
		if (msg[i] == '\n' || (msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n'))
			return i;
		const char *lf = memchr(msg + i, '\n', len - i);
		if (!lf)
			return len;
		i = (size_t)(lf - msg) + 1;
	}
	return len;
}

void push_header_digest(const char *hdr, size_t len, unsigned char out[PUSH_DIGEST_LEN])
{
	unsigned int n = 0;
	while (len && (hdr[len - 1] == '\r' || hdr[len - 1] == '\n'))
		len--;
	if (EVP_Digest(hdr, len, out, &n, EVP_sha256(), NULL) != 1 || n != PUSH_DIGEST_LEN)
		memset(out, 0, PUSH_DIGEST_LEN);
}

int push_message_id(const char *hdr, size_t len, char *out, size_t outlen)
{
	static const char name[] = "message-id:";
	size_t nl = sizeof(name) - 1, i = 0;
	while (i < len) {
		size_t end = i;
		/* this header field, with its continuation lines */
		for (;;) {
			const char *lf = memchr(hdr + end, '\n', len - end);
			end = lf ? (size_t)(lf - hdr) + 1 : len;
			if (end >= len || (hdr[end] != ' ' && hdr[end] != '\t'))
				break;
		}
		if (end - i > nl && !strncasecmp(hdr + i, name, nl)) {
			size_t o = 0, j = i + nl;
			int in = 0;
			for (; j < end; j++) {
				unsigned char ch = (unsigned char)hdr[j];
				if (ch == '\r' || ch == '\n' || ((ch == ' ' || ch == '\t') && !in))
					continue;
				if (ch < 0x20 || ch > 0x7e || o + 1 >= outlen)
					return -1;
				if (ch == '<')
					in = 1;
				if (!in)
					return -1; /* text before '<': not a plain msg-id */
				out[o++] = (char)ch;
				if (ch == '>')
					break;
			}
			if (o < 3 || out[o - 1] != '>')
				return -1;
			out[o] = '\0';
			return 0;
		}
		i = end;
	}
	return -1;
}

/* ---- push state ---- */

static int entry_cmp_key(const struct push_entry *e, uint32_t uv, uint32_t uid)
{
	if (e->src_uv != uv)
		return e->src_uv < uv ? -1 : 1;
	if (e->src_uid != uid)
		return e->src_uid < uid ? -1 : 1;
	return 0;
}

/* Index of the first entry >= (uv, uid). */
static size_t lower_bound(const struct push_state *st, uint32_t uv, uint32_t uid)
{
	size_t lo = 0, hi = st->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (entry_cmp_key(&st->e[mid], uv, uid) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct push_entry *push_state_find(const struct push_state *st, uint32_t uv, uint32_t uid)
{
	size_t i = lower_bound(st, uv, uid);
	return i < st->n && !entry_cmp_key(&st->e[i], uv, uid) ? &st->e[i] : NULL;
}

struct push_entry *push_state_put(struct push_state *st, uint32_t uv, uint32_t uid)
{
	size_t i = lower_bound(st, uv, uid);
	if (i < st->n && !entry_cmp_key(&st->e[i], uv, uid))
		return &st->e[i];
	if (st->n == st->cap) {
		st->cap = st->cap ? st->cap * 2 : 64;
		st->e = xrealloc(st->e, st->cap * sizeof(*st->e));
	}
	memmove(&st->e[i + 1], &st->e[i], (st->n - i) * sizeof(*st->e));
	st->n++;
	memset(&st->e[i], 0, sizeof(st->e[i]));
	st->e[i].src_uv = uv;
	st->e[i].src_uid = uid;
	return &st->e[i];
}

void push_state_remove(struct push_state *st, uint32_t uv, uint32_t uid)
{
	size_t i = lower_bound(st, uv, uid);
	if (i >= st->n || entry_cmp_key(&st->e[i], uv, uid))
		return;
	free(st->e[i].pkey);
	memmove(&st->e[i], &st->e[i + 1], (st->n - i - 1) * sizeof(*st->e));
	st->n--;
}

void push_entry_set_keywords(struct push_state *st, struct push_entry *e, const char *keywords)
{
	e->keywords = kwset_intern(&st->kw, keywords);
}

void push_entry_settle(struct push_entry *e)
{
	e->pending = 0;
	e->unverified = 0;
	free(e->pkey);
	e->pkey = NULL;
}

void push_state_compact(struct push_state *st)
{
	size_t o = 0;
	for (size_t i = 0; i < st->n; i++) {
		if (!st->e[i].src_uid) {
			free(st->e[i].pkey);
			continue;
		}
		st->e[o++] = st->e[i];
	}
	st->n = o;
}

void push_state_clear(struct push_state *st)
{
	for (size_t i = 0; i < st->n; i++)
		free(st->e[i].pkey);
	kwset_free(&st->kw);
	st->n = 0;
}

void push_state_free(struct push_state *st)
{
	push_state_clear(st);
	free(st->e);
	free(st->target);
	free(st->permanent);
	memset(st, 0, sizeof(*st));
}

static int parse_u32(const char **p, uint32_t *out)
{
	uint64_t v = 0;
	const char *s = *p;
	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return -1;
	}
	*out = (uint32_t)v;
	*p = s;
	return 0;
}

/* "<uv> <uid>" */
static int parse_key(const char **p, uint32_t *uv, uint32_t *uid)
{
	if (parse_u32(p, uv) < 0 || **p != ' ')
		return -1;
	(*p)++;
	if (parse_u32(p, uid) < 0 || !*uid)
		return -1;
	return 0;
}

/* "<size> <date> <digest hex>[ <message-id>]" (push_lookup.c's key_text()) */
static int pkey_valid(const char *s)
{
	size_t n = strspn(s, "0123456789");
	if (!n || s[n] != ' ')
		return 0;
	s += n + 1;
	s += *s == '-';
	n = strspn(s, "0123456789");
	if (!n || s[n] != ' ')
		return 0;
	s += n + 1;
	n = strspn(s, "0123456789abcdef");
	return n == 2 * PUSH_DIGEST_LEN && (!s[n] || (s[n] == ' ' && s[n + 1]));
}

static int parse_state_line(struct push_state *st, const char *line, struct buf *kw)
{
	uint32_t uv, uid, tuid;
	const char *p = line + 2;
	struct push_entry *e;
	if (!strncmp(line, "target ", 7)) {
		if (st->target || !line[7])
			return -1;
		st->target = xstrdup(line + 7);
		return 0;
	}
	if (!strncmp(line, "uidvalidity ", 12)) {
		p = line + 12;
		return parse_u32(&p, &st->tgt_uv) < 0 || *p ? -1 : 0;
	}
	/* "permanentflags[ <keyword> ...]": the folder takes no new keywords */
	if (!strncmp(line, "permanentflags", 14) && (!line[14] || line[14] == ' ')) {
		if (st->no_new_keywords)
			return -1;
		st->no_new_keywords = 1;
		buf_reset(kw);
		buf_adds(kw, "");
		/* as listed ($Forwarded too), each a keyword that can be sent */
		for (p = line + 14; *p;) {
			size_t l;
			p += strspn(p, " ");
			l = strcspn(p, " ");
			if (keyword_ok(p, l)) {
				if (kw->len)
					buf_addch(kw, ' ');
				buf_add(kw, p, l);
			}
			p += l;
		}
		st->permanent = xstrdup(kw->data);
		return 0;
	}
	if (line[0] == 'p' && line[1] == ' ') {
		if (parse_key(&p, &uv, &uid) < 0 || (*p && *p != ' '))
			return -1;
		if (st->n && entry_cmp_key(&st->e[st->n - 1], uv, uid) >= 0)
			return -1; /* sorted, no repeats */
		e = push_state_put(st, uv, uid);
		e->pending = 1;
		if (*p && !pkey_valid(p + 1))
			return -1;
		if (*p)
			e->pkey = xstrdup(p + 1);
		return 0;
	}
	/* "a": the target UID an APPENDUID gave the message of the "p" line just
	 * before, not checked yet: the next push asks for that UID first */
	if (line[0] == 'a' && line[1] == ' ') {
		if (parse_key(&p, &uv, &uid) < 0 || *p++ != ' ' || parse_u32(&p, &tuid) < 0 || *p || !tuid)
			return -1;
		e = st->n ? &st->e[st->n - 1] : NULL;
		if (!e || entry_cmp_key(e, uv, uid) != 0 || !e->pending || e->tgt_uid)
			return -1;
		e->tgt_uid = tuid;
		return 0;
	}
	if (line[0] == 'm' && line[1] == ' ') {
		if (parse_key(&p, &uv, &uid) < 0 || *p++ != ' ' || parse_u32(&p, &tuid) < 0 || *p++ != ' ')
			return -1;
		size_t fl = strcspn(p, " ");
		if (!fl)
			return -1;
		if (st->n && entry_cmp_key(&st->e[st->n - 1], uv, uid) >= 0)
			return -1;
		e = push_state_put(st, uv, uid);
		e->tgt_uid = tuid;
		e->flags = (uint8_t)(fl == 1 && p[0] == '-' ? 0 : maildir_flags_from_letters(p, fl));
		p += fl;
		if (*p == ' ') {
			push_keywords_normalise(p + 1, NULL, kw);
			push_entry_set_keywords(st, e, kw->data);
		}
		return 0;
	}
	return 0; /* unknown lines are ignored: forward compatibility */
}

int push_state_parse(const char *data, size_t len, struct push_state *st, char *err, size_t errlen)
{
	struct buf line = BUF_INIT, kw = BUF_INIT;
	size_t i, lineno = 1;
	int rc = -1;
	memset(st, 0, sizeof(*st));
	if (memchr(data, '\0', len) || len < sizeof(PUSH_STATE_MAGIC) ||
	    memcmp(data, PUSH_STATE_MAGIC "\n", sizeof(PUSH_STATE_MAGIC))) {
		snprintf(err, errlen, "not a mailkeep push state (or damaged)");
		goto out;
	}
	i = sizeof(PUSH_STATE_MAGIC);
	while (i < len) {
		const char *nl = memchr(data + i, '\n', len - i);
		lineno++;
		if (!nl) {
			snprintf(err, errlen, "line %zu: truncated", lineno);
			goto out;
		}
		buf_reset(&line);
		buf_add(&line, data + i, (size_t)(nl - (data + i)));
		buf_adds(&line, "");
		if (parse_state_line(st, line.data, &kw) < 0) {
			snprintf(err, errlen, "line %zu: malformed", lineno);
			goto out;
		}
		i = (size_t)(nl - data) + 1;
	}
	rc = 0;
out:
	if (rc < 0)
		push_state_free(st);
	buf_free(&line);
	buf_free(&kw);
	return rc;
}

void push_state_format(const struct push_state *st, struct buf *out)
{
	char letters[8];
	buf_addf(out, PUSH_STATE_MAGIC "\ntarget %s\nuidvalidity %" PRIu32 "\n",
		 st->target ? st->target : "", st->tgt_uv);
	if (st->no_new_keywords)
		buf_addf(out, "permanentflags%s%s\n", st->permanent && *st->permanent ? " " : "",
			 st->permanent ? st->permanent : "");
	for (size_t i = 0; i < st->n; i++) {
		const struct push_entry *e = &st->e[i];
		if (!e->src_uid)
			continue;
		if (e->pending || e->unverified) {
			buf_addf(out, "p %" PRIu32 " %" PRIu32 "%s%s\n", e->src_uv, e->src_uid, e->pkey ? " " : "",
				 e->pkey ? e->pkey : "");
			if (e->tgt_uid)
				buf_addf(out, "a %" PRIu32 " %" PRIu32 " %" PRIu32 "\n", e->src_uv, e->src_uid,
					 e->tgt_uid);
			continue;
		}
		maildir_flags_to_letters(e->flags, letters);
		buf_addf(out, "m %" PRIu32 " %" PRIu32 " %" PRIu32 " %s%s%s\n", e->src_uv, e->src_uid,
			 e->tgt_uid, letters[0] ? letters : "-", e->keywords ? " " : "",
			 e->keywords ? e->keywords : "");
	}
}

/* ---- plan ---- */

static void idx_push(size_t **v, size_t *n, size_t x)
{
	if ((*n & (*n - 1)) == 0) /* 0, 1, 2, 4, ...: grow to the next power of two */
		*v = xrealloc(*v, (*n ? *n * 2 : 1) * sizeof(**v));
	(*v)[(*n)++] = x;
}

/* Is uv among the source messages' (sorted by uv)? */
static int has_uv(const struct push_src *src, size_t n, uint32_t uv)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (src[mid].uv < uv)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && src[lo].uv == uv;
}

void push_plan_folder(const struct push_src *src, size_t n, const struct push_state *st,
		      struct push_plan *out)
{
	uint8_t *seen = xcalloc(st->n + 1, 1);
	int renumbered = 0;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		const struct push_entry *e = push_state_find(st, src[i].uv, src[i].uid);
		if (e)
			seen[e - st->e] = 1;
	}
	for (size_t j = 0; j < st->n; j++) {
		if (seen[j] || !st->e[j].src_uid)
			continue;
		idx_push(&out->orphan, &out->n_orphan, j);
		/* an orphan of a UIDVALIDITY the folder no longer has: renumbered */
		if (n && !renumbered && !has_uv(src, n, st->e[j].src_uv))
			renumbered = 1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct push_entry *e = push_state_find(st, src[i].uv, src[i].uid);
		if (!e) {
			if (renumbered)
				idx_push(&out->lookup, &out->n_lookup, i);
			else
				idx_push(&out->append, &out->n_append, i);
		} else if (e->pending) {
			idx_push(&out->lookup, &out->n_lookup, i);
		} else if (e->flags != src[i].flags ||
			   strcmp(e->keywords ? e->keywords : "", src[i].keywords ? src[i].keywords : "")) {
			idx_push(&out->update, &out->n_update, i);
		}
	}
	free(seen);
}

void push_plan_free(struct push_plan *p)
{
	free(p->append);
	free(p->lookup);
	free(p->update);
	free(p->orphan);
	memset(p, 0, sizeof(*p));
}

ssize_t push_match(const struct push_candidate *c, size_t n, uint64_t size,
		   const unsigned char digest[PUSH_DIGEST_LEN], int64_t date)
{
	ssize_t best = -1;
	for (size_t i = 0; i < n; i++) {
		if (c[i].taken || c[i].size != size || memcmp(c[i].digest, digest, PUSH_DIGEST_LEN))
			continue;
		if (best < 0 || ((c[i].date == date) > (c[best].date == date)) ||
		    ((c[i].date == date) == (c[best].date == date) && c[i].uid < c[best].uid))
			best = (ssize_t)i;
	}
	return best;
}

static int cmp_key(const struct push_candidate *a, uint64_t size, const unsigned char *digest)
{
	if (a->size != size)
		return a->size < size ? -1 : 1;
	return memcmp(a->digest, digest, PUSH_DIGEST_LEN);
}

static int cmp_candidate(const void *x, const void *y)
{
	const struct push_candidate *a = x, *b = y;
	int r = cmp_key(a, b->size, b->digest);
	return r ? r : (a->uid > b->uid) - (a->uid < b->uid);
}

void push_candidates_sort(struct push_candidate *c, size_t n)
{
	if (n > 1)
		qsort(c, n, sizeof(*c), cmp_candidate);
}

ssize_t push_match_sorted(const struct push_candidate *c, size_t n, uint64_t size,
			  const unsigned char digest[PUSH_DIGEST_LEN], int64_t date)
{
	size_t lo = 0, hi = n;
	while (lo < hi) { /* the first candidate not below (size, digest) */
		size_t mid = lo + (hi - lo) / 2;
		if (cmp_key(&c[mid], size, digest) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (hi = lo; hi < n && !cmp_key(&c[hi], size, digest); hi++)
		;
	ssize_t m = push_match(c + lo, hi - lo, size, digest, date);
	return m < 0 ? -1 : (ssize_t)lo + m;
}
