/* Push, pure half: folder name mapping, flag strings, message identity, the
 * push state text format and the per-folder plan. No I/O. */
#include "mailkeep/push.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "mailkeep/maildir.h"
#include "mailkeep/utf7.h"

#define PUSH_STATE_MAGIC "mailkeep-push 1"

/* ---- folder names ---- */

void push_name_free(struct push_name *nm)
{
	for (size_t i = 0; i < nm->n; i++)
		free(nm->comp[i]);
	free(nm->comp);
	nm->comp = NULL;
	nm->n = 0;
}

static void name_push(struct push_name *nm, char *s)
{
	nm->comp = xrealloc(nm->comp, (nm->n + 1) * sizeof(*nm->comp));
	nm->comp[nm->n++] = s;
}

void push_name_split(const char *s, char sep, struct push_name *out)
{
	memset(out, 0, sizeof(*out));
	for (;;) {
		const char *e = sep ? strchr(s, sep) : NULL;
		size_t l = e ? (size_t)(e - s) : strlen(s);
		name_push(out, xstrndup(s, l));
		if (!e)
			break;
		s = e + 1;
	}
}

int push_name_from_path(const char *rel, struct push_name *out)
{
	struct push_name raw;
	struct buf b = BUF_INIT;
	int rc = 0;
	memset(out, 0, sizeof(*out));
	push_name_split(rel, '/', &raw);
	for (size_t i = 0; i < raw.n; i++) {
		buf_reset(&b);
		buf_adds(&b, "");
		if (maildir_unescape_component(raw.comp[i], strlen(raw.comp[i]), &b) < 0 ||
		    memchr(b.data, '\0', b.len)) {
			rc = -1;
			break;
		}
		name_push(out, buf_detach(&b));
	}
	if (rc < 0)
		push_name_free(out);
	push_name_free(&raw);
	buf_free(&b);
	return rc;
}

void push_name_join(const struct push_name *nm, char sep, struct buf *out)
{
	for (size_t i = 0; i < nm->n; i++) {
		if (i)
			buf_addch(out, sep);
		buf_adds(out, nm->comp[i]);
	}
	if (!out->data)
		buf_adds(out, "");
}

static int is_inbox(const char *s)
{
	return !strcasecmp(s, "INBOX");
}

static const struct {
	unsigned special;
	const char *names; /* '|'-separated */
} special_names[] = {
	{ IMAP_SPECIAL_SENT, "Sent|Sent Items|Sent Messages|Sent Mail|Sent-Mail|Gesendet|"
	  "Gesendete Objekte|Gesendete Elemente|Envoyés|Éléments envoyés|Messages envoyés|"
	  "Enviados|Elementos enviados|Posta inviata|Inviati|Verzonden|Verzonden items|Skickat|"
	  "Skickade objekt|Wysłane|Отправленные" },
	{ IMAP_SPECIAL_DRAFTS, "Drafts|Draft|Entwürfe|Brouillons|Borradores|Bozze|Concepten|"
	  "Utkast|Kopie robocze|Черновики" },
	{ IMAP_SPECIAL_TRASH, "Trash|Deleted Items|Deleted Messages|Deleted|Bin|Papierkorb|"
	  "Gelöschte Elemente|Gelöschte Objekte|Corbeille|Éléments supprimés|Papelera|"
	  "Elementos eliminados|Cestino|Prullenbak|Verwijderde items|Papperskorgen|Kosz|Корзина" },
	{ IMAP_SPECIAL_JUNK, "Junk|Spam|Junk E-mail|Junk Email|Junk Mail|Junk-E-Mail|Bulk Mail|"
	  "Indésirables|Courrier indésirable|Correo no deseado|Posta indesiderata|"
	  "Ongewenste e-mail|Skräppost|Спам" },
	{ IMAP_SPECIAL_ARCHIVE, "Archive|Archives|Archiv|Archivio|Archivo|Archief|Arkiv|Архив" },
};

static unsigned special_of_level(const char *s)
{
	size_t len = strlen(s);
	for (size_t i = 0; i < sizeof(special_names) / sizeof(special_names[0]); i++) {
		const char *p = special_names[i].names;
		while (*p) {
			const char *e = strchr(p, '|');
			size_t l = e ? (size_t)(e - p) : strlen(p);
			if (l == len && !strncasecmp(p, s, l))
				return special_names[i].special;
			p += l + (e ? 1 : 0);
		}
	}
	return 0;
}

unsigned push_special_from_name(const struct push_name *nm)
{
	if (nm->n == 1)
		return special_of_level(nm->comp[0]);
	/* Courier/Cyrus keep folders below INBOX; Gmail below "[Gmail]" */
	if (nm->n == 2 && (is_inbox(nm->comp[0]) || !strcasecmp(nm->comp[0], "[Gmail]") ||
			   !strcasecmp(nm->comp[0], "[Google Mail]")))
		return special_of_level(nm->comp[1]);
	return 0;
}

/* Two names equal level by level; the first level INBOX case-insensitively. */
static int names_equal(const struct push_name *a, const struct push_name *b, size_t a_n)
{
	if (a_n != b->n)
		return 0;
	for (size_t i = 0; i < a_n; i++) {
		if (i == 0 && is_inbox(a->comp[0]) && is_inbox(b->comp[0]))
			continue;
		if (strcmp(a->comp[i], b->comp[i]))
			return 0;
	}
	return 1;
}

/* Does the target have a folder named like the first k levels of nm (below the
 * namespace prefix)? */
static int target_has_name(const struct imap_mailbox_list *t, const struct push_name *nm, size_t k,
			   const char *prefix_utf8, char delim)
{
	int found = 0;
	for (size_t i = 0; i < t->n && !found; i++) {
		struct push_name lv;
		const struct imap_mailbox *mb = &t->items[i];
		const char *u = mb->utf8;
		if (!u || (mb->flags & IMAP_MBOX_NONEXISTENT))
			continue;
		size_t pl = strlen(prefix_utf8);
		if (pl && !is_inbox(nm->comp[0]) && !strncmp(u, prefix_utf8, pl))
			u += pl;
		push_name_split(u, delim ? delim : mb->delim, &lv);
		found = names_equal(nm, &lv, k);
		push_name_free(&lv);
	}
	return found;
}

static int printable_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

/* The target mailbox with special use `sp`: by attribute, or by well-known name
 * when the target reports no attribute at all. NULL when none. */
static const struct imap_mailbox *target_special(const struct imap_mailbox_list *t, unsigned sp,
						 const char *prefix_utf8)
{
	int any = 0;
	for (size_t i = 0; i < t->n; i++)
		any |= t->items[i].special != 0;
	for (size_t i = 0; i < t->n; i++) {
		const struct imap_mailbox *mb = &t->items[i];
		if ((mb->flags & IMAP_MBOX_NOSELECT) || !printable_ascii(mb->name))
			continue;
		if (any) {
			if (mb->special & sp)
				return mb;
			continue;
		}
		struct push_name lv;
		const char *u = mb->utf8;
		size_t pl = strlen(prefix_utf8);
		if (!u)
			continue;
		if (pl && !strncmp(u, prefix_utf8, pl))
			u += pl;
		push_name_split(u, mb->delim, &lv);
		int hit = push_special_from_name(&lv) == sp;
		push_name_free(&lv);
		if (hit)
			return mb;
	}
	return NULL;
}

/* Check the levels and join them with delim into out. */
static int join_levels(const struct push_name *nm, size_t from, char delim, struct buf *out,
		       char *err, size_t errlen)
{
	for (size_t i = from; i < nm->n; i++) {
		const char *c = nm->comp[i];
		if (!*c) {
			snprintf(err, errlen, "an empty level in the folder name");
			return -1;
		}
		if (delim && strchr(c, delim)) {
			snprintf(err, errlen, "level \"%s\" contains the target's hierarchy delimiter '%c' "
				 "(rename it with push_map)", c, delim);
			return -1;
		}
		if (i > from)
			buf_addch(out, delim);
		buf_adds(out, c);
	}
	return 0;
}

/* The push_map entry for the folder or its nearest parent; *k levels matched. */
static const struct push_map_entry *map_lookup(const struct push_name *src, const struct push_map_entry *map,
					       size_t n_map, size_t *k)
{
	for (size_t len = src->n; len > 0; len--) {
		for (size_t i = 0; i < n_map; i++) {
			struct push_name m;
			push_name_split(map[i].source, '/', &m);
			int eq = names_equal(src, &m, len);
			push_name_free(&m);
			if (eq) {
				*k = len;
				return &map[i];
			}
		}
	}
	return NULL;
}

/* How many leading levels of the folder are the source's namespace prefix
 * (Courier's "INBOX." makes INBOX/Archive "Archive" on the target): none for
 * the prefix itself, or when what is below it would be INBOX. */
size_t push_ns_levels(const struct push_name *ns, const struct push_name *nm)
{
	if (!ns->n || nm->n <= ns->n || !strcasecmp(nm->comp[ns->n], "INBOX"))
		return 0;
	for (size_t i = 0; i < ns->n; i++)
		if (strcmp(ns->comp[i], nm->comp[i]) &&
		    (i || strcasecmp(ns->comp[i], "INBOX") || strcasecmp(nm->comp[i], "INBOX")))
			return 0;
	return ns->n;
}

int push_map_folder(const struct push_name *full, size_t src_skip, unsigned src_special,
		    const struct push_map_entry *map, size_t n_map,
		    const struct imap_mailbox_list *target, char delim, const char *prefix,
		    struct buf *wire, struct buf *utf8, char *err, size_t errlen)
{
	/* below the source's namespace prefix: what is mapped without push_map */
	const struct push_name below = { full->comp + (src_skip < full->n ? src_skip : 0),
					 full->n - (src_skip < full->n ? src_skip : 0) };
	const struct push_name *src = &below;
	struct push_name rel = { 0 };      /* levels below the prefix */
	const struct imap_mailbox *base = NULL; /* an existing target folder the rest goes below */
	struct buf joined = BUF_INIT;
	char *prefix_utf8 = NULL, *enc = NULL, *dec = NULL;
	size_t k = 0, rest = 0;
	int rc = -1;

	buf_reset(wire);
	buf_reset(utf8);
	if (!prefix || !printable_ascii(prefix) || utf7_decode(prefix, strlen(prefix), &prefix_utf8) < 0) {
		free(prefix_utf8);
		prefix = "";
		prefix_utf8 = xstrdup("");
	}
	if (!full->n) {
		snprintf(err, errlen, "empty folder name");
		goto out;
	}
	const struct push_map_entry *m = map_lookup(full, map, n_map, &k);
	if (m) {
		push_name_split(m->target, '/', &rel);
		for (size_t i = k; i < full->n; i++)
			name_push(&rel, xstrdup(full->comp[i]));
	} else {
		for (size_t len = src->n; len > 0 && !base; len--) {
			struct push_name pre = { src->comp, len };
			unsigned sp = len == src->n && src_special ? src_special : push_special_from_name(&pre);
			if (!sp)
				continue;
			if (target_has_name(target, src, len, prefix_utf8, delim))
				break; /* same name: no need to match */
			if ((base = target_special(target, sp, prefix_utf8)) != NULL)
				rest = len;
		}
		if (!base)
			for (size_t i = 0; i < src->n; i++)
				name_push(&rel, xstrdup(src->comp[i]));
	}
	if (base) {
		struct push_name tail = { src->comp, src->n };
		buf_adds(wire, base->name);
		if (rest < src->n) {
			if (!base->delim && !delim) {
				snprintf(err, errlen, "the target server has no folder hierarchy");
				goto out;
			}
			if (join_levels(&tail, rest, delim ? delim : base->delim, &joined, err, errlen) < 0)
				goto out;
			if (utf7_encode(joined.data, joined.len, &enc) < 0) {
				snprintf(err, errlen, "folder name is not valid UTF-8");
				goto out;
			}
			buf_addch(wire, delim ? delim : base->delim);
			buf_adds(wire, enc);
		}
	} else {
		if (!rel.n) { /* a push_map target or a source name that leaves nothing */
			snprintf(err, errlen, "empty folder name");
			goto out;
		}
		if (rel.n > 1 && !delim) {
			snprintf(err, errlen, "the target server has no folder hierarchy (rename the folder "
				 "with push_map)");
			goto out;
		}
		if (is_inbox(rel.comp[0])) {
			free(rel.comp[0]);
			rel.comp[0] = xstrdup("INBOX");
		}
		if (join_levels(&rel, 0, delim, &joined, err, errlen) < 0)
			goto out;
		if (utf7_encode(joined.data, joined.len, &enc) < 0) {
			snprintf(err, errlen, "folder name is not valid UTF-8");
			goto out;
		}
		if (!is_inbox(rel.comp[0]))
			buf_adds(wire, prefix);
		buf_adds(wire, enc);
	}
	if (utf7_decode(wire->data, wire->len, &dec) < 0) {
		snprintf(err, errlen, "target folder name does not encode");
		goto out;
	}
	buf_adds(utf8, dec);
	rc = 0;
out:
	push_name_free(&rel);
	buf_free(&joined);
	free(prefix_utf8);
	free(enc);
	free(dec);
	return rc;
}

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
	free(st->e[i].keywords);
	free(st->e[i].pkey);
	memmove(&st->e[i], &st->e[i + 1], (st->n - i - 1) * sizeof(*st->e));
	st->n--;
}

void push_entry_set_keywords(struct push_entry *e, const char *keywords)
{
	free(e->keywords);
	e->keywords = keywords && *keywords ? xstrdup(keywords) : NULL;
}

void push_state_compact(struct push_state *st)
{
	size_t o = 0;
	for (size_t i = 0; i < st->n; i++) {
		if (!st->e[i].src_uid) {
			free(st->e[i].keywords);
			free(st->e[i].pkey);
			continue;
		}
		st->e[o++] = st->e[i];
	}
	st->n = o;
}

void push_state_clear(struct push_state *st)
{
	for (size_t i = 0; i < st->n; i++) {
		free(st->e[i].keywords);
		free(st->e[i].pkey);
	}
	st->n = 0;
}

void push_state_free(struct push_state *st)
{
	push_state_clear(st);
	free(st->e);
	free(st->target);
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
			push_entry_set_keywords(e, kw->data);
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
