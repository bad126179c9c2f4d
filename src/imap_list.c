/* IMAP client, the account's folders: LIST (with LIST-STATUS), STATUS and
 * ENABLE QRESYNC. */
#include "mailkeep/imap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailkeep/log.h"
#include "mailkeep/utf7.h"

#include "imap_internal.h"

/* Mailboxes one LIST may name: far more than any real account, and a bound on
 * what a server repeating LIST lines without end costs (~200 bytes each). */
#define MAX_MAILBOXES 100000
/* A mailbox name longer than this is left out like one that is invalid: no
 * file system takes it as a path (PATH_MAX), and a server sending 16 MB names
 * must not cost 16 MB of memory (and of error output) each. */
#define MAX_NAME_LEN 16384
/* The names of one LIST together: what a listing may cost does not depend on
 * the bytes a server sends beyond this. */
#define MAX_NAME_BYTES ((size_t)32 << 20)
/* How far back a LIST-STATUS answer is matched with the mailboxes listed
 * (RFC 5819: servers send it right after the mailbox's LIST line): a bound on
 * the work a server sending STATUS for unlisted names can cause. */
#define STATUS_LOOKBACK 64

/* Warnings about LIST lines left out, per LIST; the rest are only counted. */
#define LIST_WARNINGS 10

/* ---- LIST ---- */

int imap_list_warn_ok(struct imap_client *c)
{
	char where[1200]; /* imap_warn_where: the account (and folder) */
	if (++c->n_list_warned <= LIST_WARNINGS)
		return 1;
	if (c->n_list_warned == LIST_WARNINGS + 1)
		log_warn("%s: more LIST lines were ignored; not shown", imap_warn_where(c, where, sizeof(where)));
	return 0;
}

/* RFC 6154 attributes, sent by servers with SPECIAL-USE in every LIST or on request. */
static unsigned special_bit(const struct imap_value *f)
{
	static const struct { const char *name; unsigned bit; } map[] = {
		{ "\\Sent", IMAP_SPECIAL_SENT }, { "\\Drafts", IMAP_SPECIAL_DRAFTS },
		{ "\\Trash", IMAP_SPECIAL_TRASH }, { "\\Junk", IMAP_SPECIAL_JUNK },
		{ "\\Archive", IMAP_SPECIAL_ARCHIVE }, { "\\All", IMAP_SPECIAL_ALL },
		{ "\\Flagged", IMAP_SPECIAL_FLAGGED },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (imap_value_is(f, map[i].name))
			return map[i].bit;
	return 0;
}

int imap_on_list(struct imap_client *c, const struct imap_response *r, void *ctx,
		 char *err, size_t errlen)
{
	char where[1200]; /* imap_warn_where: the account (and folder) */
	struct imap_mailbox_list *l = ctx;
	if (r->kind != IMAP_RESP_UNTAGGED || r->status != IMAP_STATUS_NONE || !r->name ||
	    r->name_len != 4 || strncasecmp(r->name, "LIST", 4))
		return 0;
	const struct imap_value *a = &r->args;
	if (a->n < 3 || a->items[0].type != IMAP_LIST ||
	    (a->items[1].type != IMAP_STRING && a->items[1].type != IMAP_NIL) ||
	    (a->items[2].type != IMAP_STRING && a->items[2].type != IMAP_ATOM)) {
		if (imap_list_warn_ok(c))
			log_warn("%s: ignoring malformed LIST response", imap_warn_where(c, where, sizeof(where)));
		l->n_ignored++;
		return 0;
	}
	const struct imap_value *name = &a->items[2];
	if (name->len > MAX_NAME_LEN) {
		if (imap_list_warn_ok(c))
			log_warn("%s: ignoring a mailbox name of %zu bytes (more than %d)",
				 imap_warn_where(c, where, sizeof(where)), name->len, MAX_NAME_LEN);
		l->n_ignored++;
		return 0;
	}
	/* a name echoing the password would put it in every message, the
	 * --json report and a directory name (a short password is too likely
	 * a part of a real folder's name to refuse it) */
	for (size_t i = 0; i < c->n_secret_forms; i++) {
		const struct buf *f = &c->secret_forms[i];
		if (f->len >= 6 && memmem(name->data, name->len, f->data, f->len)) {
			if (imap_list_warn_ok(c))
				log_warn("%s: ignoring a mailbox whose name holds the password",
					 imap_warn_where(c, where, sizeof(where)));
			l->n_ignored++;
			return 0;
		}
	}
	if (!name->len || memchr(name->data, '\0', name->len)) {
		if (imap_list_warn_ok(c))
			log_warn("%s: ignoring a mailbox with an empty or invalid name",
				 imap_warn_where(c, where, sizeof(where)));
		l->n_ignored++;
		return 0;
	}
	if (l->name_bytes + name->len > MAX_NAME_BYTES) {
		snprintf(err, errlen, "%s: LIST names more than %zu bytes of mailbox names", imap_peer(c),
			 MAX_NAME_BYTES);
		return IMAP_ERR_PROTOCOL;
	}
	l->name_bytes += name->len;
	if (l->n >= MAX_MAILBOXES) {
		snprintf(err, errlen, "%s: LIST names more than %d mailboxes", imap_peer(c), MAX_MAILBOXES);
		return IMAP_ERR_PROTOCOL;
	}
	struct imap_mailbox mb = { 0 };
	for (size_t i = 0; i < a->items[0].n; i++) {
		const struct imap_value *f = &a->items[0].items[i];
		if (imap_value_is(f, "\\Noselect"))
			mb.flags |= IMAP_MBOX_NOSELECT;
		else if (imap_value_is(f, "\\NonExistent"))
			mb.flags |= IMAP_MBOX_NOSELECT | IMAP_MBOX_NONEXISTENT;
		else
			mb.special |= special_bit(f);
	}
	if (a->items[1].type == IMAP_STRING && a->items[1].len == 1)
		mb.delim = a->items[1].data[0];
	else if (a->items[1].type == IMAP_STRING && a->items[1].len > 1) { /* "": as NIL, flat */
		if (imap_list_warn_ok(c))
			log_warn("%s: ignoring LIST response with an invalid delimiter",
				 imap_warn_where(c, where, sizeof(where)));
		l->n_ignored++;
		return 0;
	}
	mb.name = xstrndup(name->data, name->len);
	if (!strcasecmp(mb.name, "INBOX")) {
		free(mb.name);
		mb.name = xstrdup("INBOX");
	}
	if (utf7_decode(mb.name, strlen(mb.name), &mb.utf8) < 0)
		mb.utf8 = NULL;
	if (mb.delim && !c->delim)
		c->delim = mb.delim;
	/* doubling (the array is full when n is 0 or a power of two): one realloc
	 * per listed name copied the array each time under allocators that do not
	 * grow in place (ASan's): a LIST of 100000 names took minutes */
	if (!(l->n & (l->n - 1)))
		l->items = xrealloc(l->items, (l->n ? 2 * l->n : 1) * sizeof(*l->items));
	l->items[l->n++] = mb;
	return IMAP_DATA; /* bounded by MAX_MAILBOXES */
}

static int on_status(struct imap_client *c, const struct imap_response *r, void *ctx,
		     char *err, size_t errlen);

/* Does the mailbox name V of a response name the mailbox NAME (INBOX in any
 * case)? */
static int names_mailbox(const struct imap_value *v, const char *name)
{
	if (!v || (v->type != IMAP_STRING && v->type != IMAP_ATOM) || strlen(name) != v->len)
		return 0;
	return !memcmp(name, v->data, v->len) ||
	       (!strcasecmp(name, "INBOX") && !strncasecmp(v->data, "INBOX", 5));
}

/* LIST with RETURN (STATUS ...): a STATUS response gives its numbers to the
 * mailbox of that name (normally the one just listed). */
static int on_list_status(struct imap_client *c, const struct imap_response *r, void *ctx,
			  char *err, size_t errlen)
{
	struct imap_mailbox_list *l = ctx;
	if (r->kind != IMAP_RESP_UNTAGGED || r->status != IMAP_STATUS_NONE || !r->name ||
	    r->name_len != 6 || strncasecmp(r->name, "STATUS", 6))
		return imap_on_list(c, r, ctx, err, errlen);
	struct imap_status_info st = { 0 };
	const struct imap_value *name = r->args.n ? &r->args.items[0] : NULL;
	int rc = on_status(c, r, &st, err, errlen);
	if (rc < 0) {
		/* that folder gets no numbers (so it is examined); the others keep theirs */
		if (imap_list_warn_ok(c))
			log_warn("%s; ignored", err);
		return 0;
	}
	for (size_t i = l->n; i-- > 0 && l->n - i <= STATUS_LOOKBACK;) {
		if (names_mailbox(name, l->items[i].name)) {
			l->items[i].status = st;
			l->items[i].status.ok = 1;
			break;
		}
	}
	return 0;
}

/* "* ENABLED QRESYNC": only then is QRESYNC on (RFC 5161); an OK alone
 * enables nothing. */
static int on_enabled(struct imap_client *c, const struct imap_response *r, void *ctx,
		      char *err, size_t errlen)
{
	int *seen = ctx;
	if (r->kind != IMAP_RESP_UNTAGGED || r->status != IMAP_STATUS_NONE || !r->name ||
	    r->name_len != 7 || strncasecmp(r->name, "ENABLED", 7))
		return 0;
	for (size_t i = 0; i < r->args.n; i++) {
		const struct imap_value *v = &r->args.items[i];
		if (v->type == IMAP_ATOM && v->len == 7 && !strncasecmp(v->data, "QRESYNC", 7))
			*seen = 1;
	}
	return 0;
}

struct listed_name {
	const char *name;
	size_t i;
};

static int cmp_listed_name(const void *x, const void *y)
{
	const struct listed_name *a = x, *b = y;
	int r = strcmp(a->name, b->name);
	return r ? r : (a->i > b->i) - (a->i < b->i);
}

/* A mailbox the server listed twice (INBOX as "INBOX" and "Inbox", Cyrus's
 * shared folders under altnamespace) is one mailbox: kept once, where it was
 * first listed, with what either line said of it. Taken for two folders, the
 * second "mapped to the same directory" as the first and failed every run. */
static void drop_listed_twice(struct imap_client *c, struct imap_mailbox_list *l)
{
	struct listed_name *ln = xmalloc((l->n + 1) * sizeof(*ln));
	unsigned char *dup = xcalloc(l->n + 1, 1);
	size_t n = 0;
	for (size_t i = 0; i < l->n; i++)
		ln[i] = (struct listed_name){ l->items[i].name, i };
	qsort(ln, l->n, sizeof(*ln), cmp_listed_name);
	for (size_t k = 1; k < l->n; k++) {
		if (strcmp(ln[k].name, ln[k - 1].name))
			continue;
		struct imap_mailbox *first = &l->items[ln[k - 1].i], *again = &l->items[ln[k].i];
		ln[k].i = ln[k - 1].i; /* a third line merges into the first too */
		/* selectable when either line says so: a \Noselect line names no mail */
		if (!(again->flags & IMAP_MBOX_NOSELECT))
			first->flags &= ~(unsigned)(IMAP_MBOX_NOSELECT | IMAP_MBOX_NONEXISTENT);
		first->special |= again->special;
		if (!first->status.ok)
			first->status = again->status;
		dup[again - l->items] = 1;
	}
	for (size_t i = 0; i < l->n; i++) {
		if (!dup[i]) {
			l->items[n++] = l->items[i];
			continue;
		}
		log_debug("%s: mailbox \"%s\" listed again; taken once", imap_peer(c), l->items[i].name);
		free(l->items[i].name);
		free(l->items[i].utf8);
	}
	l->n = n;
	free(ln);
	free(dup);
}

int imap_list(struct imap_client *c, struct imap_mailbox_list *out, void (*while_waiting)(void *ctx),
	      void *ctx, char *err, size_t errlen)
{
	unsigned tag, etag = 0;
	int rc = 0;
	memset(out, 0, sizeof(*out));
	/* ENABLE QRESYNC rides along in the same round trip (RFC 7162 §3.2.3) */
	if ((imap_caps(c) & IMAP_CAP_QRESYNC) && (imap_caps(c) & IMAP_CAP_ENABLE) && !c->qresync)
		rc = imap_send_command(c, &etag, err, errlen, "ENABLE QRESYNC");
	out->with_status = (imap_caps(c) & IMAP_CAP_LIST_STATUS) && (imap_caps(c) & IMAP_CAP_CONDSTORE);
	if (rc == 0 && out->with_status)
		rc = imap_send_command(c, &tag, err, errlen, "LIST \"\" \"*\" RETURN (STATUS "
				       "(UIDVALIDITY UIDNEXT MESSAGES HIGHESTMODSEQ))");
	else if (rc == 0)
		rc = imap_send_command(c, &tag, err, errlen, "LIST \"\" \"*\"");
	if (rc < 0)
		return rc;
	if (while_waiting)
		while_waiting(ctx);
	if (etag) {
		int seen = 0;
		rc = imap_wait_tagged(c, etag, on_enabled, &seen, "ENABLE", err, errlen);
		if (rc == 0 && seen)
			c->qresync = 1;
		else if (rc < 0 && rc != IMAP_ERR_NO)
			return rc;
	}
	/* a line that does not parse names a folder that cannot be synced: the
	 * others can (counted as ignored, so the run says it failed) */
	c->skip_unparsable = 1;
	c->n_unparsable = 0;
	c->n_list_warned = 0;
	rc = imap_wait_tagged(c, tag, out->with_status ? on_list_status : imap_on_list, out, "LIST",
			      err, errlen);
	if (rc == IMAP_ERR_NO && out->with_status) { /* advertised but refused: plain LIST */
		log_info("%s: LIST-STATUS refused (%s); using LIST and STATUS", imap_peer(c), err);
		imap_mailbox_list_free(out);
		c->n_unparsable = 0;
		rc = imap_send_command(c, &tag, err, errlen, "LIST \"\" \"*\"");
		if (rc == 0)
			rc = imap_wait_tagged(c, tag, imap_on_list, out, "LIST", err, errlen);
	}
	c->skip_unparsable = 0;
	out->n_ignored += c->n_unparsable;
	if (rc < 0)
		imap_mailbox_list_free(out);
	else
		drop_listed_twice(c, out);
	return rc;
}

void imap_mailbox_list_free(struct imap_mailbox_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].name);
		free(l->items[i].utf8);
	}
	free(l->items);
	memset(l, 0, sizeof(*l));
}

/* ---- STATUS ---- */

static int on_status(struct imap_client *c, const struct imap_response *r, void *ctx,
		     char *err, size_t errlen)
{
	char where[1200]; /* imap_warn_where: the account (and folder) */
	struct imap_status_info *st = ctx;
	if (r->kind != IMAP_RESP_UNTAGGED || r->status != IMAP_STATUS_NONE || !r->name ||
	    r->name_len != 6 || strncasecmp(r->name, "STATUS", 6))
		return 0;
	const struct imap_value *a = &r->args;
	if (a->n != 2 || a->items[1].type != IMAP_LIST)
		goto bad;
	const struct imap_value *l = &a->items[1];
	for (size_t i = 0; i + 1 < l->n; i += 2) {
		const struct imap_value *k = &l->items[i], *v = &l->items[i + 1];
		uint64_t n;
		if (imap_value_u64(v, &n) < 0)
			goto bad;
		if (imap_value_is(k, "UIDVALIDITY") && n <= UINT32_MAX)
			st->uidvalidity = (uint32_t)n;
		else if (imap_value_is(k, "UIDNEXT") && n <= UINT32_MAX)
			st->uidnext = (uint32_t)n;
		else if (imap_value_is(k, "MESSAGES") && n <= UINT32_MAX)
			st->messages = (uint32_t)n;
		else if (imap_value_is(k, "HIGHESTMODSEQ"))
			st->highestmodseq = n;
	}
	return 0;
bad:
	snprintf(err, errlen, "%s: malformed STATUS response", imap_warn_where(c, where, sizeof(where)));
	return IMAP_ERR_PROTOCOL;
}

#define STATUS_WINDOW 100

/* The STATUS answer for the mailbox asked about, not one naming another. */
struct status_want {
	struct imap_status_info *st;
	const char *name;
	int got; /* 1: its numbers came; -1: malformed (no numbers) */
};

static int on_status_for(struct imap_client *c, const struct imap_response *r, void *ctx,
			 char *err, size_t errlen)
{
	struct status_want *w = ctx;
	if (r->kind != IMAP_RESP_UNTAGGED || r->status != IMAP_STATUS_NONE || !r->name ||
	    r->name_len != 6 || strncasecmp(r->name, "STATUS", 6))
		return 0;
	if (!names_mailbox(r->args.n ? &r->args.items[0] : NULL, w->name))
		return 0; /* unsolicited, about another mailbox */
	char serr[256];
	if (on_status(c, r, w->st, serr, sizeof(serr)) < 0) {
		log_warn("%s; ignored", serr);
		memset(w->st, 0, sizeof(*w->st));
		w->got = -1;
	} else if (w->got == 0) {
		w->got = 1;
	}
	return 0;
}

int imap_status_many(struct imap_client *c, const char *const *wire_names, size_t n,
		     struct imap_status_info *out, char *err, size_t errlen)
{
	const char *items = imap_caps(c) & IMAP_CAP_CONDSTORE ?
		"(UIDVALIDITY UIDNEXT MESSAGES HIGHESTMODSEQ)" : "(UIDVALIDITY UIDNEXT MESSAGES)";
	unsigned tags[STATUS_WINDOW];
	struct buf q = BUF_INIT;
	int rc = 0;
	memset(out, 0, n * sizeof(*out));
	for (size_t base = 0; base < n && rc == 0; base += STATUS_WINDOW) {
		size_t m = n - base < STATUS_WINDOW ? n - base : STATUS_WINDOW;
		for (size_t i = 0; i < m && rc == 0; i++) {
			buf_reset(&q);
			tags[i] = 0;
			if (imap_add_quoted(&q, wire_names[base + i]) < 0)
				continue;
			rc = imap_send_command(c, &tags[i], err, errlen, "STATUS %s %s", q.data, items);
		}
		for (size_t i = 0; i < m && rc == 0; i++) {
			char serr[256];
			if (!tags[i])
				continue;
			struct status_want w = { &out[base + i], wire_names[base + i], 0 };
			int r = imap_wait_tagged(c, tags[i], on_status_for, &w, "STATUS", serr, sizeof(serr));
			if (r == 0 && w.got == 1)
				out[base + i].ok = 1;
			else if (r != IMAP_ERR_NO) {
				snprintf(err, errlen, "%s", serr);
				rc = r;
			}
		}
	}
	buf_free(&q);
	return rc;
}

int imap_enable_qresync(struct imap_client *c, char *err, size_t errlen)
{
	if (!(imap_caps(c) & IMAP_CAP_QRESYNC) || !(imap_caps(c) & IMAP_CAP_ENABLE))
		return 0;
	unsigned tag;
	int seen = 0;
	int rc = imap_send_command(c, &tag, err, errlen, "ENABLE QRESYNC");
	if (rc == 0)
		rc = imap_wait_tagged(c, tag, on_enabled, &seen, "ENABLE", err, errlen);
	if (rc == IMAP_ERR_NO)
		return 0;
	if (rc < 0)
		return rc;
	c->qresync = seen;
	return seen;
}

int imap_qresync_enabled(const struct imap_client *c)
{
	return c->qresync;
}
