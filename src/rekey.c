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

int rekey_match(const struct rekey_local *local, size_t nlocal, const struct rekey_server *server, size_t nserver,
		struct rekey_pair **pairs, char *why, size_t whylen)
{
	*pairs = NULL;
	if (!nlocal) {
		snprintf(why, whylen, "no message to re-key");
		return 1;
	}
	if (nlocal != nserver) {
		snprintf(why, whylen, "%zu messages in the state, %zu on the server", nlocal, nserver);
		return 1;
	}
	for (size_t i = 0; i < nlocal; i++) {
		const struct rekey_local *l = &local[i];
		const struct rekey_server *s = &server[i];
		if (!l->uid || !s->uid || (i && (l->uid <= local[i - 1].uid || s->uid <= server[i - 1].uid))) {
			snprintf(why, whylen, "UIDs not ascending (UID %" PRIu32 ")", s->uid);
			return 1;
		}
		if (l->date == STATE_NO_DATE || s->internaldate == INT64_MIN ||
		    (s->internaldate < 0 ? 0 : s->internaldate) != l->date) {
			snprintf(why, whylen, "UID %" PRIu32 " has another date than the file of UID %" PRIu32, s->uid,
				 l->uid);
			return 1;
		}
		if (l->crlf_size == UINT64_MAX || s->size == UINT64_MAX || s->size != l->crlf_size) {
			snprintf(why, whylen, "UID %" PRIu32 " has another size than the file of UID %" PRIu32, s->uid,
				 l->uid);
			return 1;
		}
	}
	uint32_t twin;
	if (date_size_twice(local, nlocal, &twin)) {
		snprintf(why, whylen, "the file of UID %" PRIu32 " has the date and size of another", twin);
		return 1;
	}
	*pairs = xmalloc(nlocal * sizeof(**pairs));
	for (size_t i = 0; i < nlocal; i++)
		(*pairs)[i] = (struct rekey_pair){ local[i].uid, server[i].uid };
	return 0;
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
