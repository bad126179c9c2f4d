/* IMAP client, a command's completion: reading until its tagged answer, the
 * untagged responses common to every command (capabilities, the mailbox's
 * size, BYE), refusals and throttling, and the bound on a wait without
 * progress. */
#include "mailkeep/imap.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mailkeep/log.h"

#include "imap_internal.h"

/* One command may go on receiving only untagged responses that are not its
 * data (status lines, EXISTS, FLAGS...), or FETCH responses beyond FETCH_SLACK
 * plus 4 per message, for at most this many `timeout`s (Dovecot's "* OK
 * Searched 40% of the mailbox" come every 15 s or so). */
#define KEEPALIVE_TIMEOUTS 5
#define FETCH_SLACK ((uint64_t)1 << 16)
/* The EXISTS every bound on what a server may send is derived from (FETCH
 * responses, SEARCH UIDs, the size of a folder's view) is at most this: a
 * server claiming 4 billion messages must not buy itself gigabytes of our
 * memory. A mailbox of more messages than this cannot be mirrored (none
 * known comes near: Gmail's All Mail of a heavy user holds a few million). */
#define MAX_EXISTS ((uint32_t)1 << 22)

/* Throttling answers of big providers: [THROTTLED] (Gmail, Yahoo), [UNAVAILABLE]
 * (RFC 5530), [LIMIT], and Office 365's "Suggested Backoff Time: N milliseconds". */
static void note_throttle(struct imap_client *c, const struct imap_response *r)
{
	static const char *const codes[] = { "THROTTLED", "UNAVAILABLE", "LIMIT" };
	const char *hint = "Suggested Backoff Time:";
	for (size_t i = 0; r->code && i < sizeof(codes) / sizeof(codes[0]); i++)
		if (r->code_len == strlen(codes[i]) && !strncasecmp(r->code, codes[i], r->code_len))
			c->throttle_ms = 1000;
	const char *t = r->text ? memmem(r->text, r->text_len, hint, strlen(hint)) : NULL;
	if (t) {
		unsigned long ms = strtoul(t + strlen(hint), NULL, 10);
		c->throttle_ms = ms ? (ms > 60000 ? 60000 : (unsigned)ms) : 1000;
	}
}

unsigned imap_throttle_ms(const struct imap_client *c)
{
	return c->throttle_ms;
}

int imap_refused_expunged(const struct imap_client *c)
{
	return c->refusal.status && !strcasecmp(c->refusal.code, "EXPUNGEISSUED");
}

void imap_throttle_clear(struct imap_client *c)
{
	c->throttle_ms = 0;
}

struct vanished_ranges {
	const struct imap_client *c;
	struct uid_range { uint32_t lo, hi; } *r;
	size_t n, cap;
	int failed;
};

static int range_cmp(const void *a, const void *b)
{
	const struct uid_range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sort v's ranges and merge those that overlap or touch. */
static void merge_ranges(struct vanished_ranges *v)
{
	size_t k = 0;
	qsort(v->r, v->n, sizeof(*v->r), range_cmp);
	for (size_t i = 0; i < v->n; i++) {
		if (k && (uint64_t)v->r[i].lo <= (uint64_t)v->r[k - 1].hi + 1) {
			if (v->r[i].hi > v->r[k - 1].hi)
				v->r[k - 1].hi = v->r[i].hi;
		} else {
			v->r[k++] = v->r[i];
		}
	}
	v->n = k;
}

static int add_vanished(uint32_t lo, uint32_t hi, void *ctx)
{
	struct vanished_ranges *v = ctx;
	/* UIDs from UIDNEXT on were never given while no EXISTS grew since it
	 * was told: no message of the mailbox went (counted, they would let a
	 * listing that leaves messages out count what the server holds) */
	if (v->c->uidnext && lo >= v->c->uidnext)
		return 0;
	if (v->c->uidnext && hi >= v->c->uidnext)
		hi = v->c->uidnext - 1;
	if (v->n == v->cap) {
		if (v->cap >= 1024)
			merge_ranges(v); /* repeats cost nothing: "1,2,1,2,..." */
		if (v->n >= v->cap / 2) { /* else merging again soon would cost more */
			size_t cap = v->cap ? 2 * v->cap : 16;
			struct uid_range *r = realloc(v->r, cap * sizeof(*r));
			if (!r) {
				v->failed = 1;
				return -1;
			}
			v->r = r;
			v->cap = cap;
		}
	}
	v->r[v->n].lo = lo;
	v->r[v->n++].hi = hi;
	return 0;
}

/* "* VANISHED 5:7" without (EARLIER): messages expunged now (RFC 7162 §3.2.10),
 * as many as distinct UIDs it names ("5,5" is one message; the ranges are
 * held no longer than the response that holds them). A set that cannot be
 * read or held lowers nothing: a count too high fails a listing, never
 * lets one that leaves messages out pass. */
static void count_vanished(struct imap_client *c, const char *set, size_t len)
{
	struct vanished_ranges v = { .c = c };
	if (imap_parse_seqset(set, len, 0, add_vanished, &v) < 0 || v.failed || !v.n)
		goto out;
	merge_ranges(&v);
	uint64_t n = 0;
	for (size_t i = 0; i < v.n; i++)
		n += (uint64_t)v.r[i].hi - v.r[i].lo + 1;
	c->exists = n >= c->exists ? 0 : c->exists - (uint32_t)n;
	c->expunges++;
out:
	free(v.r);
}

unsigned long imap_expunges(const struct imap_client *c) { return c->expunges; }

unsigned long imap_exists_told(const struct imap_client *c) { return c->exists_told; }

unsigned long imap_exists_drops(const struct imap_client *c, uint32_t *from, uint32_t *to)
{
	*from = c->drop_from;
	*to = c->drop_to;
	return c->exists_drops;
}

uint32_t imap_exists(const struct imap_client *c)
{
	return c->exists;
}

int imap_contains_ci(const char *s, size_t n, const char *needle)
{
	size_t l = strlen(needle);
	for (size_t i = 0; i + l <= n; i++)
		if (!strncasecmp(s + i, needle, l))
			return 1;
	return 0;
}

/* A tagged completion's status, code and text, as messages may show them. */
static void keep_refusal(struct imap_client *c, struct imap_refusal *f, const struct imap_response *r)
{
	f->status = r->status == IMAP_STATUS_OK ? 0 : r->status;
	imap_server_text(c, f->text, sizeof(f->text), r->text, r->text_len);
	f->code[0] = '\0';
	if (r->code && r->code_len < sizeof(f->code))
		imap_server_text(c, f->code, sizeof(f->code), r->code, r->code_len);
	f->code_nonexistent = r->code && r->code_len == 11 && !strncasecmp(r->code, "NONEXISTENT", 11);
	f->text_nonexistent = r->text && imap_contains_ci(r->text, r->text_len, "n't exist");
	if (r->status != IMAP_STATUS_OK)
		note_throttle(c, r);
}

void imap_note_size(struct imap_client *c, const struct imap_response *r)
{
	uint64_t v;
	if (r->kind == IMAP_RESP_UNTAGGED && r->status == IMAP_STATUS_OK && r->code && r->code_len == 7 &&
	    !strncasecmp(r->code, "UIDNEXT", 7)) {
		c->uidnext = r->code_args.n >= 1 && imap_value_u64(&r->code_args.items[0], &v) == 0 &&
			     v <= UINT32_MAX ? (uint32_t)v : 0;
		return;
	}
	if (r->kind != IMAP_RESP_UNTAGGED || r->status != IMAP_STATUS_NONE || !r->name)
		return;
	if (r->has_number && r->name_len == 6 && !strncasecmp(r->name, "EXISTS", 6)) {
		uint32_t n = r->number > MAX_EXISTS ? MAX_EXISTS : (uint32_t)r->number;
		if (n > c->exists)
			c->uidnext = 0; /* new messages took UIDs from it on */
		if (n < c->exists) {
			c->exists_drops++;
			c->drop_from = c->exists;
			c->drop_to = n;
		}
		c->exists = n;
		c->exists_told++;
	} else if (r->has_number && r->name_len == 7 && !strncasecmp(r->name, "EXPUNGE", 7) && r->number >= 1 &&
		   r->number <= c->exists) {
		/* one of a message number the mailbox does not have (RFC 3501
		 * §7.4.1) expunges nothing: counted, it would let a listing that
		 * leaves messages out count what the server holds */
		c->exists--;
		c->expunges++;
	} else if (!r->has_number && r->name_len == 8 && !strncasecmp(r->name, "VANISHED", 8) && r->args.n == 1 &&
		   r->args.items[0].type == IMAP_ATOM) {
		count_vanished(c, r->args.items[0].data, r->args.items[0].len);
	}
}

/* The error for a command refused with c->refusal; the response code too
 * ([NONEXISTENT], [OVERQUOTA]...), for people. */
static void refusal_err(const struct imap_client *c, const char *what, char *err, size_t errlen)
{
	const struct imap_refusal *f = &c->refusal;
	snprintf(err, errlen, "%s: %s: server said %s: %s%s%s%s", imap_peer(c), what,
		 f->status == IMAP_STATUS_NO ? "NO" : "BAD", f->code[0] ? "[" : "", f->code,
		 f->code[0] ? "] " : "", f->text);
}

int64_t imap_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int imap_no_progress(const struct imap_client *c, int64_t quiet_since, const char *instead,
		     const char *what, char *err, size_t errlen)
{
	int64_t quiet = imap_mono_ms() - quiet_since;
	if (quiet <= (int64_t)KEEPALIVE_TIMEOUTS * 1000 * c->acct->timeout)
		return 0;
	snprintf(err, errlen, "%s: %s: for %" PRId64 " s only %s, no answer", imap_peer(c), what, quiet / 1000,
		 instead);
	return 1;
}

/* An unparsable line while a command is waited for: skipped (0) where the
 * command allows it (c->skip_unparsable: LIST) and it is not the completion
 * (tagstr), else IMAP_ERR_PROTOCOL with err, the line masked while a login runs. */
static int wait_unparsable(struct imap_client *c, const char *tagstr, int64_t quiet_since, const char *what,
			   char *perr, size_t perrlen, char *err, size_t errlen)
{
	char where[1200]; /* imap_warn_where: the account (and folder) */
	size_t tl = strlen(tagstr);
	if (c->n_secret_forms)
		imap_parse_error_masked(c, perr, perrlen);
	if (c->skip_unparsable && !(c->resp.len > tl && !memcmp(c->resp.data, tagstr, tl) &&
				    c->resp.data[tl] == ' ')) {
		if (imap_list_warn_ok(c))
			log_warn("%s: %s: ignoring an unparsable response line: %s",
				 imap_warn_where(c, where, sizeof(where)), what, perr);
		c->n_unparsable++;
		if (imap_no_progress(c, quiet_since, "lines that do not parse", what, err, errlen))
			return IMAP_ERR_PROTOCOL;
		return 0;
	}
	snprintf(err, errlen, "%s: %s: unparsable server response: %s", imap_peer(c), what, perr);
	return IMAP_ERR_PROTOCOL;
}

/* A tagged response r while tagstr is waited for: the completion of the command
 * named in c->early_ok, kept for its own wait (1), else the wait's result: 0
 * for OK (fn sees it first), fn_rc when fn failed before, IMAP_ERR_NO for NO or
 * BAD (err holds the server's text), IMAP_ERR_PROTOCOL for an unknown tag. */
static int wait_tagged_done(struct imap_client *c, const struct imap_response *r, const char *tagstr,
			    const char *earlystr, imap_untagged_fn fn, void *ctx, int fn_rc, const char *what,
			    char *err, size_t errlen)
{
	int rc;
	if (c->early_ok && !c->early_tag && r->tag_len == strlen(earlystr) &&
	    !memcmp(r->tag, earlystr, r->tag_len) &&
	    (r->status == IMAP_STATUS_OK || r->status == IMAP_STATUS_NO ||
	     r->status == IMAP_STATUS_BAD)) {
		c->early_tag = c->early_ok;
		keep_refusal(c, &c->early_refusal, r);
		return 1;
	}
	if (r->tag_len != strlen(tagstr) || memcmp(r->tag, tagstr, r->tag_len)) {
		snprintf(err, errlen, "%s: %s: response with unknown tag", imap_peer(c), what);
		return IMAP_ERR_PROTOCOL;
	}
	if (r->code && r->code_len == 10 && !strncasecmp(r->code, "CAPABILITY", 10))
		imap_set_caps(c, &r->code_args);
	if (r->status == IMAP_STATUS_OK) {
		if (fn_rc)
			return fn_rc;
		rc = fn ? fn(c, r, ctx, err, errlen) : 0;
		return rc > 0 ? 0 : rc;
	}
	if (r->status == IMAP_STATUS_NO || r->status == IMAP_STATUS_BAD) {
		keep_refusal(c, &c->refusal, r);
		refusal_err(c, what, err, errlen);
		return fn_rc ? fn_rc : IMAP_ERR_NO;
	}
	snprintf(err, errlen, "%s: %s: malformed tagged response", imap_peer(c), what);
	return IMAP_ERR_PROTOCOL;
}

/* An untagged response r while a command is waited for: what every command
 * notes (BYE, CAPABILITY, the mailbox's size), then fn unless it failed before
 * (*fn_rc keeps its error for the completion). *data: whether it was the
 * command's own data. A connection or protocol error of fn is returned. */
static int wait_untagged(struct imap_client *c, const struct imap_response *r, imap_untagged_fn fn, void *ctx,
			 int *fn_rc, int *data, char *err, size_t errlen)
{
	int rc;
	if (r->status == IMAP_STATUS_BYE) {
		c->bye = 1;
		imap_server_text(c, c->bye_text, sizeof(c->bye_text), r->text, r->text_len);
		note_throttle(c, r);
	} else {
		if (r->status == IMAP_STATUS_NONE && r->name && r->name_len == 10 &&
		    !strncasecmp(r->name, "CAPABILITY", 10))
			imap_set_caps(c, &r->args);
		imap_note_size(c, r);
		if (r->status == IMAP_STATUS_OK && r->code && r->code_len == 10 &&
		    !strncasecmp(r->code, "CAPABILITY", 10))
			imap_set_caps(c, &r->code_args);
		if (fn && !*fn_rc) {
			rc = fn(c, r, ctx, err, errlen);
			if (rc == IMAP_ERR_NET || rc == IMAP_ERR_PROTOCOL)
				return rc;
			*data = rc == IMAP_DATA;
			*fn_rc = rc > 0 ? 0 : rc; /* keep reading to the completion, then report */
		}
	}
	return 0;
}

/* Read responses until the tagged completion of `tag`. Untagged responses go to
 * fn (may be NULL) after common handling. Returns 0 for OK, IMAP_ERR_NO for
 * NO/BAD (err holds the server's text), or a connection error. */
int imap_wait_tagged(struct imap_client *c, unsigned tag, imap_untagged_fn fn, void *ctx,
		       const char *what, char *err, size_t errlen)
{
	char tagstr[16], earlystr[16];
	int fn_rc = 0, conts = 0;
	int64_t quiet_since = imap_mono_ms();
	uint64_t fetches = 0;
	snprintf(tagstr, sizeof(tagstr), "a%u", tag);
	snprintf(earlystr, sizeof(earlystr), "a%u", c->early_ok);
	if (c->early_tag && c->early_tag == tag) { /* it completed while another was waited for */
		c->early_tag = 0;
		if (!c->early_refusal.status) /* it was OK */
			return 0;
		c->refusal = c->early_refusal;
		refusal_err(c, what, err, errlen);
		return IMAP_ERR_NO;
	}
	for (;;) {
		struct imap_response r;
		char perr[160];
		int rc = imap_read_response(c, err, errlen);
		if (rc < 0)
			return rc;
		if (imap_parse(c->parser, c->resp.data, c->resp.len, &r, perr, sizeof(perr)) < 0) {
			rc = wait_unparsable(c, tagstr, quiet_since, what, perr, sizeof(perr), err, errlen);
			if (rc < 0)
				return rc;
			continue;
		}
		if (r.kind == IMAP_RESP_CONTINUATION && c->cont_reply && conts++ < 2) {
			rc = imap_write(c, c->cont_reply, strlen(c->cont_reply), err, errlen);
			if (rc < 0)
				return rc;
			continue;
		}
		if (r.kind == IMAP_RESP_CONTINUATION) {
			snprintf(err, errlen, "%s: %s: unexpected continuation request", imap_peer(c), what);
			return IMAP_ERR_PROTOCOL;
		}
		if (r.kind == IMAP_RESP_TAGGED) {
			rc = wait_tagged_done(c, &r, tagstr, earlystr, fn, ctx, fn_rc, what, err, errlen);
			if (rc == 1) /* an earlier command's completion */
				continue;
			return rc;
		}
		/* untagged: only the command's own data, as its callback tells
		 * (IMAP_DATA), is progress, and FETCH responses only up to a bound
		 * derived from the mailbox's size. Anything else (keepalives, EXISTS,
		 * FLAGS, CAPABILITY, BYE, another command's data) may fill the wait for
		 * a bounded time only, else a server could keep a command for ever. */
		int is_fetch = r.status == IMAP_STATUS_NONE && r.has_number && r.name && r.name_len == 5 &&
			       !strncasecmp(r.name, "FETCH", 5);
		int data = 0;
		rc = wait_untagged(c, &r, fn, ctx, &fn_rc, &data, err, errlen);
		if (rc < 0)
			return rc;
		if (data && !(is_fetch && ++fetches > FETCH_SLACK + 4 * (uint64_t)c->exists))
			quiet_since = imap_mono_ms();
		else if (imap_no_progress(c, quiet_since, is_fetch && data ?
					  "more FETCH responses than the mailbox has messages" :
					  "untagged responses that are not its answer", what, err, errlen))
			return IMAP_ERR_PROTOCOL;
	}
}

int imap_simple_command(struct imap_client *c, const char *what, char *err, size_t errlen,
			  const char *command)
{
	unsigned tag;
	int rc = imap_send_command(c, &tag, err, errlen, "%s", command);
	if (rc < 0)
		return rc;
	return imap_wait_tagged(c, tag, NULL, NULL, what, err, errlen);
}
