/* Push, pure: a mirror folder's name mapped to its target folder (push_map,
 * SPECIAL-USE, well-known names, namespaces, delimiters, modified UTF-7).
 * No I/O. */
#include "mailkeep/push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailkeep/maildir.h"
#include "mailkeep/utf7.h"

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

/* The existing target folder that SRC's nearest special-use level (SRC_SPECIAL
 * for the folder itself, else by name) stands for, when the target has no
 * folder of SRC's name; *REST gets the levels it stands for. NULL when none. */
static const struct imap_mailbox *special_base(const struct push_name *src, unsigned src_special,
					       const struct imap_mailbox_list *target, const char *prefix_utf8,
					       char delim, size_t *rest)
{
	const struct imap_mailbox *base = NULL;
	for (size_t len = src->n; len > 0 && !base; len--) {
		struct push_name pre = { src->comp, len };
		unsigned sp = len == src->n && src_special ? src_special : push_special_from_name(&pre);
		if (!sp)
			continue;
		if (target_has_name(target, src, len, prefix_utf8, delim))
			break; /* same name: no need to match */
		if ((base = target_special(target, sp, prefix_utf8)) != NULL)
			*rest = len;
	}
	return base;
}

/* NM's levels from FROM on checked, joined with DELIM and encoded in modified
 * UTF-7 into *ENC (caller frees, also on error). -1 with err when they cannot be
 * joined or encoded. */
static int join_encode(const struct push_name *nm, size_t from, char delim, char **enc, char *err, size_t errlen)
{
	struct buf joined = BUF_INIT;
	int rc = -1;
	if (join_levels(nm, from, delim, &joined, err, errlen) < 0)
		goto out;
	if (utf7_encode(joined.data, joined.len, enc) < 0) {
		snprintf(err, errlen, "folder name is not valid UTF-8");
		goto out;
	}
	rc = 0;
out:
	buf_free(&joined);
	return rc;
}

/* The wire name of SRC's levels from REST on put below the target folder BASE
 * into WIRE. -1 with err when they cannot be joined or encoded. */
static int wire_below_base(const struct imap_mailbox *base, const struct push_name *src, size_t rest, char delim,
			   struct buf *wire, char *err, size_t errlen)
{
	char *enc = NULL;
	int rc = -1;
	buf_adds(wire, base->name);
	if (rest < src->n) {
		if (!base->delim && !delim) {
			snprintf(err, errlen, "the target server has no folder hierarchy");
			goto out;
		}
		if (join_encode(src, rest, delim ? delim : base->delim, &enc, err, errlen) < 0)
			goto out;
		buf_addch(wire, delim ? delim : base->delim);
		buf_adds(wire, enc);
	}
	rc = 0;
out:
	free(enc);
	return rc;
}

/* The wire name of the levels REL (INBOX's spelling made "INBOX"), PREFIX in
 * front of names outside INBOX, into WIRE. -1 with err when they cannot be
 * joined or encoded. */
static int wire_from_levels(struct push_name *rel, char delim, const char *prefix, struct buf *wire, char *err,
			    size_t errlen)
{
	char *enc = NULL;
	int rc = -1;
	if (!rel->n) { /* a push_map target or a source name that leaves nothing */
		snprintf(err, errlen, "empty folder name");
		goto out;
	}
	if (rel->n > 1 && !delim) {
		snprintf(err, errlen, "the target server has no folder hierarchy (rename the folder "
			 "with push_map)");
		goto out;
	}
	if (is_inbox(rel->comp[0])) {
		free(rel->comp[0]);
		rel->comp[0] = xstrdup("INBOX");
	}
	if (join_encode(rel, 0, delim, &enc, err, errlen) < 0)
		goto out;
	if (!is_inbox(rel->comp[0]))
		buf_adds(wire, prefix);
	buf_adds(wire, enc);
	rc = 0;
out:
	free(enc);
	return rc;
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
	char *prefix_utf8 = NULL, *dec = NULL;
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
		base = special_base(src, src_special, target, prefix_utf8, delim, &rest);
		if (!base)
			for (size_t i = 0; i < src->n; i++)
				name_push(&rel, xstrdup(src->comp[i]));
	}
	if ((base ? wire_below_base(base, src, rest, delim, wire, err, errlen)
		  : wire_from_levels(&rel, delim, prefix, wire, err, errlen)) < 0)
		goto out;
	if (utf7_decode(wire->data, wire->len, &dec) < 0) {
		snprintf(err, errlen, "target folder name does not encode");
		goto out;
	}
	buf_adds(utf8, dec);
	rc = 0;
out:
	push_name_free(&rel);
	free(prefix_utf8);
	free(dec);
	return rc;
}
