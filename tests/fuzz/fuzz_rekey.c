/* libFuzzer target for the re-key's pure half (src/rekey.c): the record a
 * killed re-key leaves (<folder>/.mailkeep-rekey: a crash of another program,
 * a copy by hand or a full disk may leave any bytes there), and the match of
 * a state's messages with a server's listing. Build: `make fuzz`; run e.g.
 *
 *   build/fuzz/fuzz_rekey -max_total_time=60 -max_len=4096
 *
 * Properties:
 *  - a record that does not parse has a reason, no pairs and a count of 0;
 *  - one that parses has two different nonzero UIDVALIDITYs and pairs of
 *    nonzero UIDs ascending in both, and rekey_format() gives back exactly
 *    its bytes (the parser takes nothing but what mailkeep writes);
 *  - the input read as two lists of messages (byte 0: the counts; then per
 *    message a UID step, a date and a size, 255 for "unknown"): a match pairs
 *    each of the state's messages, in order, with the server's one message
 *    of its known date and size (the server's others are new), no two of
 *    the state's with the same date and size, UIDs ascending on both sides;
 *    no match has a reason and no pairs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailkeep/buf.h"
#include "mailkeep/rekey.h"
#include "mailkeep/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_record(const char *data, size_t size)
{
	struct rekey_plan plan;
	struct buf text = BUF_INIT;
	char err[256] = "";
	if (rekey_parse(data, size, &plan, err, sizeof(err)) < 0) {
		if (!err[0] || plan.pairs || plan.n)
			abort();
		return;
	}
	if (!plan.old_uidvalidity || !plan.new_uidvalidity || plan.old_uidvalidity == plan.new_uidvalidity ||
	    !plan.n || !plan.pairs)
		abort();
	for (size_t i = 0; i < plan.n; i++) {
		const struct rekey_pair *p = &plan.pairs[i];
		if (!p->old_uid || !p->new_uid || (i && (p->old_uid <= p[-1].old_uid || p->new_uid <= p[-1].new_uid)))
			abort();
	}
	rekey_format(&text, &plan);
	if (text.len != size || memcmp(text.data, data, size))
		abort();
	rekey_plan_free(&plan);
	buf_free(&text);
}

static void check_match(const uint8_t *data, size_t size)
{
	if (size < 1)
		return;
	size_t nl = data[0] & 0x0f, ns = data[0] >> 4, pos = 1;
	if (size - 1 < 3 * (nl + ns))
		return;
	struct rekey_local local[16];
	struct rekey_server server[16];
	uint32_t uid = 0;
	for (size_t i = 0; i < nl; i++, pos += 3) {
		uid += data[pos] & 0x7f; /* a step of 0: a repeated UID */
		local[i] = (struct rekey_local){ uid, data[pos + 1] == 255 ? STATE_NO_DATE : data[pos + 1],
						 data[pos + 2] == 255 ? UINT64_MAX : data[pos + 2] };
	}
	uid = data[0] & 0x80 ? UINT32_MAX - 200 : 0; /* UIDs near the top too */
	for (size_t i = 0; i < ns; i++, pos += 3) {
		uid += data[pos] & 0x7f;
		/* 254: a date before 1970, which a name gives as 0 */
		int64_t date = data[pos + 1] == 255 ? INT64_MIN : data[pos + 1] == 254 ? -86400 : data[pos + 1];
		server[i] = (struct rekey_server){ uid, date, data[pos + 2] == 255 ? UINT64_MAX : data[pos + 2] };
	}
	struct rekey_pair *pairs = (struct rekey_pair *)1;
	char why[256] = "";
	int rc = rekey_match(local, nl, server, ns, &pairs, why, sizeof(why));
	if (rc != 0) {
		if (rc != 1 || !why[0] || pairs)
			abort();
		return;
	}
	/* each of the state's messages paired, in order, with the server's one
	 * message of its date and size; the server's others are new */
	if (!pairs || nl > ns || !nl)
		abort();
	for (size_t i = 0; i < nl; i++) {
		const struct rekey_local *l = &local[i];
		if (pairs[i].old_uid != l->uid || !l->uid || (i && l->uid <= local[i - 1].uid))
			abort();
		if (i && pairs[i].new_uid <= pairs[i - 1].new_uid)
			abort();
		if (l->date == STATE_NO_DATE || l->crlf_size == UINT64_MAX)
			abort();
		size_t same = 0, at = ns;
		for (size_t j = 0; j < ns; j++)
			if ((server[j].internaldate < 0 ? 0 : server[j].internaldate) == l->date &&
			    server[j].size == l->crlf_size) {
				same++;
				at = j;
			}
		if (same != 1 || server[at].uid != pairs[i].new_uid || !server[at].uid)
			abort();
		for (size_t k = 0; k < i; k++)
			if (local[k].date == l->date && local[k].crlf_size == l->crlf_size)
				abort();
	}
	for (size_t j = 1; j < ns; j++)
		if (!server[j - 1].uid || server[j].uid <= server[j - 1].uid)
			abort();
	free(pairs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size ? size : 1); /* exact size: ASan sees a read past it */
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	check_record(copy, size);
	free(copy);
	check_match(data, size);
	return 0;
}
