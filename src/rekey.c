/* Re-key (pure): the match of a folder's state with the server's messages
 * under a new UIDVALIDITY, and the record of a re-key (see rekey.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailkeep/buf.h"
#include "mailkeep/rekey.h"
#include "mailkeep/state.h"

#define RECORD_MAGIC "mailkeep-rekey 1"

static int by_date_size(const void *a, const void *b)
{
	const struct rekey_local *x = a, *y = b;
	if (x->date != y->date)
		return x->date < y->date ? -1 : 1;
	return x->crlf_size < y->crlf_size ? -1 : x->crlf_size > y->crlf_size;
}

/* Two of LOCAL's messages with the same date and size: the server's order of
 * them cannot be told from its listing, so neither can which is which. */
static int date_size_twice(const struct rekey_local *local, size_t n, uint32_t *uid)
{
	struct rekey_local *c = xmalloc(n * sizeof(*c));
	int twice = 0;
	memcpy(c, local, n * sizeof(*c));
	qsort(c, n, sizeof(*c), by_date_size);
	for (size_t i = 1; i < n && !twice; i++)
		if (c[i].date == c[i - 1].date && c[i].crlf_size == c[i - 1].crlf_size) {
			twice = 1;
			*uid = c[i].uid;
		}
	free(c);
	return twice;
}

/* The server's messages' dates (as a name gives them: 0 before 1970) and sizes,
 * sorted: the caller's to free. */
static struct rekey_local *server_keys(const struct rekey_server *server, size_t n)
{
	struct rekey_local *k = xmalloc((n ? n : 1) * sizeof(*k));
	for (size_t i = 0; i < n; i++)
		k[i] = (struct rekey_local){ server[i].uid, server[i].internaldate < 0 ? 0 : server[i].internaldate,
					     server[i].size };
	qsort(k, n, sizeof(*k), by_date_size);
	return k;
}

/* How many of the sorted KEYS (N) have the date and size of L: 0, 1 or 2 (more). */
static int key_count(const struct rekey_local *keys, size_t n, const struct rekey_local *l)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (by_date_size(&keys[mid], l) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	int c = 0;
	for (size_t i = lo; i < n && c < 2 && !by_date_size(&keys[i], l); i++)
		c++;
	return c;
}

/* WHY when LOCAL (N) or SERVER (M) has a UID 0 or UIDs not ascending, or a date
 * or size not known: 1; else 0. */
static int doubtful(const struct rekey_local *local, size_t n, const struct rekey_server *server, size_t m,
		    char *why, size_t whylen)
{
	for (size_t i = 0; i < n; i++)
		if (!local[i].uid || (i && local[i].uid <= local[i - 1].uid) || local[i].date == STATE_NO_DATE ||
		    local[i].crlf_size == UINT64_MAX) {
			snprintf(why, whylen, "the state's UID %" PRIu32 ": not ascending, or date or size unknown",
				 local[i].uid);
			return 1;
		}
	for (size_t j = 0; j < m; j++)
		if (!server[j].uid || (j && server[j].uid <= server[j - 1].uid) ||
		    server[j].internaldate == INT64_MIN || server[j].size == UINT64_MAX) {
			snprintf(why, whylen, "UIDs not ascending, or no date or size (UID %" PRIu32 ")", server[j].uid);
			return 1;
		}
	return 0;
}

int rekey_match(const struct rekey_local *local, size_t nlocal, const struct rekey_server *server, size_t nserver,
		struct rekey_pair **pairs, char *why, size_t whylen)
{
	struct rekey_local *keys = NULL;
	struct rekey_pair *p = NULL;
	uint32_t twin;
	int rc = 1;
	*pairs = NULL;
	if (!nlocal) {
		snprintf(why, whylen, "no message to re-key");
		return 1;
	}
	if (nlocal > nserver) {
		snprintf(why, whylen, "%zu messages in the state, %zu on the server", nlocal, nserver);
		return 1;
	}
	if (doubtful(local, nlocal, server, nserver, why, whylen))
		return 1;
	if (date_size_twice(local, nlocal, &twin)) {
		snprintf(why, whylen, "the file of UID %" PRIu32 " has the date and size of another", twin);
		return 1;
	}
	/* each of the state's messages is the server's one of its date and size,
	 * in the same order; the server's others are new (a delivery since) */
	keys = server_keys(server, nserver);
	p = xmalloc(nlocal * sizeof(*p));
	size_t j = 0;
	for (size_t i = 0; i < nlocal; i++) {
		const struct rekey_local *l = &local[i];
		int c = key_count(keys, nserver, l);
		if (c != 1) {
			snprintf(why, whylen, c ? "two of the server's messages have the date and size of the file of "
						  "UID %" PRIu32
						: "no message on the server has the date and size of the file of UID %" PRIu32,
				 l->uid);
			goto out;
		}
		while (j < nserver && ((server[j].internaldate < 0 ? 0 : server[j].internaldate) != l->date ||
				       server[j].size != l->crlf_size))
			j++;
		if (j == nserver) { /* there, but before the previous one's */
			snprintf(why, whylen, "the server lists the message of the file of UID %" PRIu32
					      " in another order", l->uid);
			goto out;
		}
		p[i] = (struct rekey_pair){ l->uid, server[j++].uid };
	}
	*pairs = p;
	p = NULL;
	rc = 0;
out:
	free(keys);
	free(p);
	return rc;
}

void rekey_format(struct buf *out, const struct rekey_plan *plan)
{
	buf_addf(out, RECORD_MAGIC "\nfrom %" PRIu32 "\nto %" PRIu32 "\nuidnext %" PRIu32 "\npairs %zu\n",
		 plan->old_uidvalidity, plan->new_uidvalidity, plan->uidnext, plan->n);
	for (size_t i = 0; i < plan->n; i++)
		buf_addf(out, "%" PRIu32 " %" PRIu32 "\n", plan->pairs[i].old_uid, plan->pairs[i].new_uid);
}

void rekey_plan_free(struct rekey_plan *plan)
{
	free(plan->pairs);
	memset(plan, 0, sizeof(*plan));
}

/* The next line of DATA (LEN bytes) from *POS, without its LF, NUL-free, into
 * LINE (at most LINEMAX - 1 bytes). 0, or -1 (none, too long, no LF). */
static int next_line(const char *data, size_t len, size_t *pos, char *line, size_t linemax)
{
	const char *p = data + *pos;
	const char *nl = memchr(p, '\n', len - *pos);
	if (!nl || (size_t)(nl - p) >= linemax || memchr(p, '\0', (size_t)(nl - p)))
		return -1;
	memcpy(line, p, (size_t)(nl - p));
	line[nl - p] = '\0';
	*pos += (size_t)(nl - p) + 1;
	return 0;
}

/* A decimal number of at most MAX, no sign, no leading zero, from S up to
 * the end or the byte END: 0 and *V, *REST after it; -1. */
static int parse_u64(const char *s, uint64_t max, char end, uint64_t *v, const char **rest)
{
	uint64_t n = 0;
	const char *p = s;
	if (*p < '0' || *p > '9' || (*p == '0' && p[1] >= '0' && p[1] <= '9'))
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (max - (uint64_t)(*p - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if (*p != end)
		return -1;
	*v = n;
	*rest = p;
	return 0;
}

/* "KEY <number>" with the number at most MAX. */
static int keyed(const char *line, const char *key, uint64_t max, uint64_t *v)
{
	size_t k = strlen(key);
	const char *rest;
	return strncmp(line, key, k) || line[k] != ' ' ? -1 : parse_u64(line + k + 1, max, '\0', v, &rest);
}

int rekey_parse(const char *data, size_t len, struct rekey_plan *plan, char *err, size_t errlen)
{
	char line[64];
	size_t pos = 0;
	uint64_t from, to, uidnext, n;
	memset(plan, 0, sizeof(*plan));
	if (next_line(data, len, &pos, line, sizeof(line)) < 0 || strcmp(line, RECORD_MAGIC)) {
		snprintf(err, errlen, "not a re-key record");
		return -1;
	}
	if (next_line(data, len, &pos, line, sizeof(line)) < 0 || keyed(line, "from", UINT32_MAX, &from) < 0 ||
	    next_line(data, len, &pos, line, sizeof(line)) < 0 || keyed(line, "to", UINT32_MAX, &to) < 0 ||
	    next_line(data, len, &pos, line, sizeof(line)) < 0 || keyed(line, "uidnext", UINT32_MAX, &uidnext) < 0 ||
	    next_line(data, len, &pos, line, sizeof(line)) < 0 || keyed(line, "pairs", 1u << 22, &n) < 0) {
		snprintf(err, errlen, "malformed header");
		return -1;
	}
	if (!from || !to || from == to || !n) {
		snprintf(err, errlen, "UIDVALIDITY %" PRIu64 " to %" PRIu64 " with %" PRIu64 " messages", from, to, n);
		return -1;
	}
	/* each pair a line of 4 bytes at least ("1 2\n"): a count the bytes
	 * left cannot hold is refused before anything is allocated for it */
	if (n > (len - pos) / 4) {
		snprintf(err, errlen, "%" PRIu64 " pairs in %zu bytes", n, len - pos);
		return -1;
	}
	plan->old_uidvalidity = (uint32_t)from;
	plan->new_uidvalidity = (uint32_t)to;
	plan->uidnext = (uint32_t)uidnext;
	plan->pairs = xmalloc((size_t)n * sizeof(*plan->pairs));
	for (plan->n = 0; plan->n < n; plan->n++) {
		uint64_t o, w;
		const char *rest;
		struct rekey_pair *prev = plan->n ? &plan->pairs[plan->n - 1] : NULL;
		if (next_line(data, len, &pos, line, sizeof(line)) < 0 ||
		    parse_u64(line, UINT32_MAX, ' ', &o, &rest) < 0 ||
		    parse_u64(rest + 1, UINT32_MAX, '\0', &w, &rest) < 0 || !o || !w ||
		    (prev && (o <= prev->old_uid || w <= prev->new_uid))) {
			snprintf(err, errlen, "malformed pair %zu", plan->n + 1);
			goto bad;
		}
		plan->pairs[plan->n] = (struct rekey_pair){ (uint32_t)o, (uint32_t)w };
	}
	if (pos != len) {
		snprintf(err, errlen, "more than %" PRIu64 " pairs", n);
		goto bad;
	}
	return 0;
bad:
	rekey_plan_free(plan);
	return -1;
}
