/* libFuzzer target for the pure parsers of push (src/push_plan.c): the push
 * state file (<account>/.mailkeep/push/<target>/..., left by a killed run or
 * edited by hand) and the header of a mirror file (Message-ID, end of the
 * header), which the server or any sender wrote. Build: `make fuzz`; run e.g.
 *
 *   build/fuzz/fuzz_push_state -max_total_time=60 -max_len=4096
 *
 * Properties:
 *  - a state that parses is sorted by (uidvalidity, uid) without repeats,
 *    with uids > 0 and normalised keywords; formatted it parses again to a
 *    state that formats to the same bytes (push_save_state() compares the
 *    text to decide whether to write);
 *  - push_header_len() is within the input and ends at an empty line;
 *    push_message_id() gives "<...>" of printable ASCII (a folded one keeps
 *    its folding space, as a server unfolds it) that fits its buffer;
 *  - push_keywords_normalise() is idempotent and its words are unique atoms. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailkeep/buf.h"
#include "mailkeep/maildir.h"
#include "mailkeep/push.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_keywords(const char *kw)
{
	struct buf n = BUF_INIT, again = BUF_INIT;
	push_keywords_normalise(kw, NULL, &n);
	push_keywords_normalise(n.data, NULL, &again);
	if (strcmp(n.data, again.data))
		abort();
	if (n.len && (n.data[0] == ' ' || n.data[n.len - 1] == ' ' || strstr(n.data, "  ")))
		abort();
	for (size_t i = 0; i < n.len; i++)
		if ((unsigned char)n.data[i] < 0x20 || (unsigned char)n.data[i] > 0x7e)
			abort();
	buf_free(&n);
	buf_free(&again);
}

static void check_state(const char *data, size_t size)
{
	struct push_state st, again;
	struct buf text = BUF_INIT, text2 = BUF_INIT;
	char err[256];

	err[0] = '\0';
	if (push_state_parse(data, size, &st, err, sizeof(err)) < 0) {
		if (!err[0] || st.n || st.target)
			abort();
		return;
	}
	for (size_t i = 0; i < st.n; i++) {
		const struct push_entry *e = &st.e[i];
		if (!e->src_uid || (e->flags & ~MFLAG_ALL))
			abort();
		if (i && (e[-1].src_uv > e->src_uv || (e[-1].src_uv == e->src_uv && e[-1].src_uid >= e->src_uid)))
			abort();
		if (push_state_find(&st, e->src_uv, e->src_uid) != e)
			abort();
		if (e->keywords) {
			struct buf n = BUF_INIT;
			push_keywords_normalise(e->keywords, NULL, &n);
			if (strcmp(n.data, e->keywords))
				abort();
			buf_free(&n);
		}
	}
	if (!st.target) /* push names the target folder before it saves */
		st.target = xstrdup("INBOX");
	push_state_format(&st, &text);
	if (push_state_parse(text.data, text.len, &again, err, sizeof(err)) < 0)
		abort(); /* what mailkeep writes, it reads */
	push_state_format(&again, &text2);
	if (text.len != text2.len || memcmp(text.data, text2.data, text.len))
		abort();
	if (again.n != st.n || again.tgt_uv != st.tgt_uv)
		abort();
	push_state_free(&st);
	push_state_free(&again);
	buf_free(&text);
	buf_free(&text2);
}

static void check_header(const char *data, size_t size)
{
	char id[256];
	size_t h = push_header_len(data, size);
	if (h > size)
		abort();
	if (h < size && data[h] != '\n' && !(data[h] == '\r' && h + 1 < size && data[h + 1] == '\n'))
		abort();
	if (h && h < size && data[h - 1] != '\n')
		abort();
	if (push_message_id(data, h, id, sizeof(id)) == 0) {
		size_t l = strlen(id);
		if (l < 3 || l >= sizeof(id) || id[0] != '<' || id[l - 1] != '>')
			abort();
		for (size_t i = 0; i < l; i++)
			if ((unsigned char)id[i] < 0x20 || (unsigned char)id[i] > 0x7e)
				abort();
	}
	unsigned char d1[PUSH_DIGEST_LEN], d2[PUSH_DIGEST_LEN];
	struct buf crlf = BUF_INIT;
	buf_adds(&crlf, "");
	for (size_t i = 0; i < h; i++) /* the CRLF form (push_crlf_read) */
		buf_add(&crlf, data[i] == '\n' ? "\r\n" : data + i, data[i] == '\n' ? 2 : 1);
	/* a file's header (LF) and the server's (CRLF) give the same digest
	 * when it has no CR of its own */
	push_header_digest(data, h, d1);
	push_header_digest(crlf.data, crlf.len, d2);
	if (!memchr(data, '\r', h) && !memchr(data, '\n', h ? h - 1 : 0) && memcmp(d1, d2, sizeof(d1)))
		abort();
	buf_free(&crlf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size ? size : 1); /* exact size: ASan sees a read past it */
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	check_state(copy, size);
	check_header(copy, size);
	char *s = xstrndup(copy, size);
	check_keywords(s);
	free(s);
	free(copy);
	return 0;
}
