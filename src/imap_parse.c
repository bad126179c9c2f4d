/* IMAP response parser: parsing one response into a value tree (imap_parse),
 * after RFC 3501 §7 and §9 with the tolerances real servers need; framing
 * (imap_frame_scan) is in imap_frame.c. Values point into the caller's buffer;
 * list item arrays and unescaped quoted strings live in a per-parser arena
 * recycled on every call. */
#include "mailkeep/imap_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailkeep/buf.h"

#include "imap_parse_internal.h"

#define LITERAL_MAX ((uint64_t)1 << 53) /* larger literal sizes are hostile */
#define LITERAL_DIGITS_MAX 20
#define ERR_EXCERPT 40          /* bytes of input quoted in an error message */
#define ARENA_MIN ((size_t)16 << 10)
#define ARENA_KEEP ((size_t)4 << 20)   /* arena bytes kept between responses */
#define STACK_KEEP ((size_t)1 << 16)   /* value stack entries kept between responses */

struct arena_chunk {
	struct arena_chunk *next;
	size_t size;
	size_t used;
	max_align_t data[];
};

struct imap_parser {
	struct arena_chunk *chunks; /* newest first; allocation only from the newest */
	size_t next_size;           /* size of the next chunk (sized from the last response) */
	struct imap_value *stack;   /* values of the lists still being parsed */
	size_t stack_len, stack_cap;
};

/* State of one imap_parse() call. */
struct pctx {
	struct imap_parser *p;
	const unsigned char *d;
	size_t len;
	size_t pos;
	size_t nitems;
	int code_mode;          /* inside "[CODE ...]": ']' ends top-level atoms */
	size_t nobracket_from;  /* no ']' in [nobracket_from, nobracket_to) */
	size_t nobracket_to;
	const char *ewhat;      /* first error: what and where */
	size_t epos;
};

/* ---- arena ---- */

struct imap_parser *imap_parser_new(void)
{
	return xcalloc(1, sizeof(struct imap_parser));
}

static void arena_free_all(struct imap_parser *p)
{
	struct arena_chunk *ch = p->chunks;
	while (ch) {
		struct arena_chunk *next = ch->next;
		free(ch);
		ch = next;
	}
	p->chunks = NULL;
}

void imap_parser_free(struct imap_parser *p)
{
	if (!p)
		return;
	arena_free_all(p);
	free(p->stack);
	free(p);
}

/* Make the arena empty. After a response that needed several chunks, the next
 * one gets a single chunk of the combined size (up to ARENA_KEEP), so that in
 * the steady state every response is served from one reused block. */
static void arena_reset(struct imap_parser *p)
{
	struct arena_chunk *ch = p->chunks;
	if (!ch)
		return;
	if (!ch->next && ch->size <= ARENA_KEEP) {
		ch->used = 0;
		return;
	}
	size_t total = 0;
	for (; ch; ch = ch->next)
		total += ch->size;
	arena_free_all(p);
	p->next_size = total < ARENA_KEEP ? total : ARENA_KEEP;
}

static void *arena_alloc(struct imap_parser *p, size_t size)
{
	const size_t align = _Alignof(max_align_t);
	if (size > SIZE_MAX / 2)
		size = SIZE_MAX / 2; /* xmalloc below fails loudly */
	size = (size + align - 1) & ~(align - 1);
	struct arena_chunk *ch = p->chunks;
	if (!ch || ch->size - ch->used < size) {
		size_t want = p->next_size > ARENA_MIN ? p->next_size : ARENA_MIN;
		if (ch && ch->size < SIZE_MAX / 4 && ch->size * 2 > want)
			want = ch->size * 2;
		if (want < size)
			want = size;
		ch = xmalloc(sizeof(*ch) + want);
		ch->size = want;
		ch->used = 0;
		ch->next = p->chunks;
		p->chunks = ch;
	}
	void *r = (char *)ch->data + ch->used;
	ch->used += size;
	return r;
}

static void stack_push(struct imap_parser *p, const struct imap_value *v)
{
	if (p->stack_len == p->stack_cap) {
		p->stack_cap = p->stack_cap ? p->stack_cap * 2 : 64;
		p->stack = xrealloc(p->stack, p->stack_cap * sizeof(*p->stack));
	}
	p->stack[p->stack_len++] = *v;
}

/* ---- small helpers ---- */

static int fail(struct pctx *c, size_t pos, const char *what)
{
	if (!c->ewhat) {
		c->ewhat = what;
		c->epos = pos;
	}
	return -1;
}

void imap_format_error(char *err, size_t errlen, const char *data, size_t len, size_t pos,
		       const char *what)
{
	char ex[ERR_EXCERPT * 4 + 1];
	size_t o = 0;
	if (!err || !errlen)
		return;
	if (pos > len)
		pos = len;
	size_t n = len - pos < ERR_EXCERPT ? len - pos : ERR_EXCERPT;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)data[pos + i];
		if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
			ex[o++] = (char)ch;
		} else if (ch == '"' || ch == '\\') {
			ex[o++] = '\\';
			ex[o++] = (char)ch;
		} else if (ch == '\r' || ch == '\n') {
			ex[o++] = '\\';
			ex[o++] = ch == '\r' ? 'r' : 'n';
		} else {
			snprintf(ex + o, sizeof(ex) - o, "\\x%02x", ch);
			o += 4;
		}
	}
	ex[o] = '\0';
	snprintf(err, errlen, "%s at byte %zu near \"%s\"", what, pos, ex);
}

static int ascii_lower(int ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch;
}

static int mem_case_eq(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	if (alen != blen)
		return 0;
	for (size_t i = 0; i < alen; i++)
		if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
			return 0;
	return 1;
}

static int is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

int imap_parse_marker(const unsigned char *s, size_t len, uint64_t *size, size_t *end)
{
	size_t i = 1;
	uint64_t n = 0;
	while (i < len && is_digit(s[i])) {
		n = n * 10 + (uint64_t)(s[i] - '0');
		if (i > LITERAL_DIGITS_MAX || n > LITERAL_MAX)
			return -1;
		i++;
	}
	if (i == 1)
		return -1;
	if (i < len && s[i] == '+')
		i++;
	if (i >= len || s[i] != '}')
		return -1;
	*size = n;
	*end = i + 1;
	return 0;
}

/* ---- values ---- */

static int peek(const struct pctx *c)
{
	return c->pos < c->len ? c->d[c->pos] : -1;
}

/* At the final line terminator (CRLF, or a bare LF) of the response? */
static int at_end(const struct pctx *c)
{
	size_t rest = c->len - c->pos;
	return (rest == 1 && c->d[c->pos] == '\n') ||
	       (rest == 2 && c->d[c->pos] == '\r' && c->d[c->pos + 1] == '\n');
}

static void skip_spaces(struct pctx *c)
{
	while (c->pos < c->len && c->d[c->pos] == ' ')
		c->pos++;
}

/* ATOM-CHAR, tolerantly: 8-bit bytes, '%', '*', '\' and (outside response
 * codes) ']' are accepted since servers send them in flags and mailbox names. */
static int atom_char(unsigned char ch, int code_mode)
{
	if (ch <= ' ' || ch == 0x7f)
		return 0;
	switch (ch) {
	case '(':
	case ')':
	case '{':
	case '"':
		return 0;
	case ']':
		return !code_mode;
	default:
		return 1;
	}
}

/* Offset of the ']' closing the '[' at `open` on the same line, or 0. Section
 * text ("HEADER.FIELDS (A B)") may hold spaces and parens but never ']'. */
static size_t bracket_close(struct pctx *c, size_t open)
{
	if (open >= c->nobracket_from && open < c->nobracket_to)
		return 0;
	size_t i;
	for (i = open + 1; i < c->len; i++) {
		unsigned char ch = c->d[i];
		if (ch == ']')
			return i;
		if (ch == '\r' || ch == '\n' || ch == '\0')
			break;
	}
	c->nobracket_from = open;
	c->nobracket_to = i;
	return 0;
}

/* Is d[0..len) a fetch item that a section follows (RFC 3501 §7.4.2, RFC 3516
 * §4.2): BODY[...], BINARY[...], BINARY.SIZE[...]? */
static int section_item(const unsigned char *d, size_t len)
{
	static const char *const items[] = { "BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE" };
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++)
		if (mem_case_eq((const char *)d, len, items[i]))
			return 1;
	return 0;
}

/* End of the atom starting at i; a "[...]" part after a fetch item name is
 * taken whole, so that BODY[HEADER.FIELDS (Date)]<0> is one atom. Elsewhere '['
 * is an atom char: a keyword "[x" in a FLAGS list does not swallow the rest of
 * the line up to the ']' of a later BODY[]. Within a response code, ']'
 * ends an atom only outside parens: "[PERMANENTFLAGS (\Seen foo])]". */
static size_t atom_end(struct pctx *c, size_t i, unsigned depth)
{
	int code_mode = c->code_mode && depth == 0;
	size_t start = i;
	while (i < c->len) {
		unsigned char ch = c->d[i];
		if (ch == '[' && (code_mode || section_item(c->d + start, i - start))) {
			size_t close = bracket_close(c, i);
			if (close) {
				i = close + 1;
				continue;
			}
		}
		if (!atom_char(ch, code_mode))
			break;
		i++;
	}
	return i;
}

/* End of a plain word (tag, response name, code name): no brackets. */
static size_t word_end(const struct pctx *c, size_t i, int stop_bracket)
{
	while (i < c->len && atom_char(c->d[i], stop_bracket) && !(stop_bracket && c->d[i] == '['))
		i++;
	return i;
}

static int parse_quoted(struct pctx *c, struct imap_value *v)
{
	size_t start = c->pos + 1, i = start, nesc = 0;
	for (;;) {
		if (i >= c->len)
			return fail(c, c->pos, "unterminated quoted string");
		unsigned char ch = c->d[i];
		if (ch == '"')
			break;
		if (ch == '\r' || ch == '\n')
			return fail(c, i, "line break in quoted string");
		if (ch == '\0')
			return fail(c, i, "NUL byte in quoted string");
		if (ch == '\\' && i + 1 < c->len && (c->d[i + 1] == '"' || c->d[i + 1] == '\\')) {
			nesc++;
			i++;
		}
		i++;
	}
	v->type = IMAP_STRING;
	v->len = i - start - nesc;
	if (!nesc) {
		v->data = (const char *)c->d + start;
	} else {
		/* only \" and \\ are escapes; any other backslash is kept as sent */
		char *s = arena_alloc(c->p, v->len);
		size_t o = 0;
		for (size_t j = start; j < i; j++) {
			if (c->d[j] == '\\' && (c->d[j + 1] == '"' || c->d[j + 1] == '\\'))
				j++;
			s[o++] = (char)c->d[j];
		}
		v->data = s;
	}
	c->pos = i + 1;
	return 0;
}

/* {N}, {N+} or ~{N} (RFC 3516), then CRLF (or LF), then N bytes. */
static int parse_literal(struct pctx *c, struct imap_value *v)
{
	size_t i = c->pos + (c->d[c->pos] == '~');
	uint64_t n;
	size_t end;
	if (imap_parse_marker(c->d + i, c->len - i, &n, &end) < 0)
		return fail(c, c->pos, "malformed literal size");
	i += end;
	if (i + 1 < c->len && c->d[i] == '\r' && c->d[i + 1] == '\n')
		i += 2;
	else if (i < c->len && c->d[i] == '\n')
		i++;
	else
		return fail(c, c->pos, "literal marker not at end of line");
	if (n > c->len - i)
		return fail(c, c->pos, "literal larger than the response");
	v->type = IMAP_STRING;
	v->data = (const char *)c->d + i;
	v->len = (size_t)n;
	c->pos = i + (size_t)n;
	return 0;
}

static int parse_values(struct pctx *c, unsigned depth, int closer, struct imap_value *out);

static int parse_value(struct pctx *c, unsigned depth, struct imap_value *v)
{
	size_t start = c->pos;
	int ch = peek(c);
	memset(v, 0, sizeof(*v));
	if (++c->nitems > IMAP_MAX_ITEMS)
		return fail(c, start, "too many values in response");
	switch (ch) {
	case '(':
		if (depth >= IMAP_MAX_DEPTH)
			return fail(c, start, "lists nested too deeply");
		c->pos++;
		return parse_values(c, depth + 1, ')', v);
	case '"':
		return parse_quoted(c, v);
	case '{':
		return parse_literal(c, v);
	case '~':
		if (c->pos + 1 < c->len && c->d[c->pos + 1] == '{')
			return parse_literal(c, v);
		break;
	case ')':
		return fail(c, start, "unbalanced ')'");
	case '\r':
	case '\n':
		return fail(c, start, "unexpected line break");
	case '\0':
		return fail(c, start, "NUL byte");
	default:
		break;
	}
	size_t end = atom_end(c, start, depth);
	if (end == start)
		return fail(c, start, "unexpected character");
	v->type = IMAP_ATOM;
	v->data = (const char *)c->d + start;
	v->len = end - start;
	if (mem_case_eq(v->data, v->len, "NIL")) {
		v->type = IMAP_NIL;
		v->data = NULL;
		v->len = 0;
	}
	c->pos = end;
	return 0;
}

/* Parse values up to `closer` (')' for a list, ']' for response code
 * arguments, 0 for the end of the response) into a LIST in *out. Recursion is
 * bounded by IMAP_MAX_DEPTH. Spacing is not enforced: servers put extra
 * spaces at line ends and inside lists. */
static int parse_values(struct pctx *c, unsigned depth, int closer, struct imap_value *out)
{
	struct imap_parser *p = c->p;
	size_t base = p->stack_len;
	for (;;) {
		skip_spaces(c);
		int ch = peek(c);
		if (ch < 0)
			return fail(c, c->pos, closer == ')' ? "unterminated list" : "missing line end");
		if (closer && ch == closer) {
			c->pos++;
			break;
		}
		if (at_end(c)) {
			if (!closer)
				break;
			return fail(c, c->pos, closer == ')' ? "unterminated list" : "unterminated response code");
		}
		struct imap_value v;
		if (parse_value(c, depth, &v) < 0)
			return -1;
		stack_push(p, &v);
	}
	size_t n = p->stack_len - base;
	out->type = IMAP_LIST;
	out->data = NULL;
	out->len = 0;
	out->n = n;
	out->items = NULL;
	if (n) {
		out->items = arena_alloc(p, n * sizeof(*out->items));
		memcpy(out->items, p->stack + base, n * sizeof(*out->items));
	}
	p->stack_len = base;
	return 0;
}

/* ---- responses ---- */

/* Human-readable text up to the final line end, trimmed of spaces. */
static int parse_text(struct pctx *c, const char **text, size_t *text_len)
{
	skip_spaces(c);
	size_t start = c->pos, i = start;
	while (i < c->len && c->d[i] != '\r' && c->d[i] != '\n') {
		if (c->d[i] == '\0')
			return fail(c, i, "NUL byte in text");
		i++;
	}
	c->pos = i;
	if (!at_end(c))
		return fail(c, i, "line break inside text");
	while (i > start && c->d[i - 1] == ' ')
		i--;
	*text = (const char *)c->d + start;
	*text_len = i - start;
	return 0;
}

/* "[CODE args]" at c->pos. Arguments that do not parse as values (free text,
 * unbalanced parens) leave code_args empty; no ']' on the line means the
 * bracket is just text. Never fails: errors surface when the text is parsed. */
static void parse_code(struct pctx *c, struct imap_response *r)
{
	size_t open = c->pos;
	size_t name = open + 1, name_end = word_end(c, name, 1);
	if (name_end == name)
		return;
	size_t stack_len = c->p->stack_len, nitems = c->nitems;
	c->pos = name_end;
	c->code_mode = 1;
	int rc = parse_values(c, 0, ']', &r->code_args);
	c->code_mode = 0;
	if (rc < 0) {
		c->ewhat = NULL;
		c->p->stack_len = stack_len;
		c->nitems = nitems;
		memset(&r->code_args, 0, sizeof(r->code_args));
		r->code_args.type = IMAP_LIST;
		size_t i = name_end;
		while (i < c->len && c->d[i] != ']' && c->d[i] != '\r' && c->d[i] != '\n' && c->d[i])
			i++;
		if (i >= c->len || c->d[i] != ']') {
			c->pos = open;
			return;
		}
		c->pos = i + 1;
	}
	r->code = (const char *)c->d + name;
	r->code_len = name_end - name;
}

static int parse_resp_text(struct pctx *c, struct imap_response *r)
{
	skip_spaces(c);
	if (peek(c) == '[')
		parse_code(c, r);
	return parse_text(c, &r->text, &r->text_len);
}

static enum imap_status status_of(const char *s, size_t len)
{
	static const struct {
		const char *name;
		enum imap_status status;
	} map[] = {
		{ "OK", IMAP_STATUS_OK }, { "NO", IMAP_STATUS_NO }, { "BAD", IMAP_STATUS_BAD },
		{ "PREAUTH", IMAP_STATUS_PREAUTH }, { "BYE", IMAP_STATUS_BYE },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (mem_case_eq(s, len, map[i].name))
			return map[i].status;
	return IMAP_STATUS_NONE;
}

/* A message number: 0 ok, 1 not a number, -1 out of range. */
static int parse_msgno(const unsigned char *s, size_t len, uint32_t *out)
{
	uint64_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(s[i]))
			return 1;
		if (n <= UINT32_MAX)
			n = n * 10 + (uint64_t)(s[i] - '0');
	}
	if (n > UINT32_MAX)
		return -1;
	*out = (uint32_t)n;
	return 0;
}

/* "* [number] NAME ...": status responses, numbered data, other data. */
static int parse_untagged(struct pctx *c, struct imap_response *r)
{
	size_t start = c->pos, end = word_end(c, start, 1);
	if (end == start)
		return fail(c, start, "missing response name");
	int num = parse_msgno(c->d + start, end - start, &r->number);
	if (num < 0)
		return fail(c, start, "message number out of range");
	if (num == 0) {
		r->has_number = 1;
		c->pos = end;
		skip_spaces(c);
		start = c->pos;
		end = word_end(c, start, 1);
		if (end == start)
			return fail(c, start, "missing response name after number");
	}
	r->name = (const char *)c->d + start;
	r->name_len = end - start;
	c->pos = end;
	if (!r->has_number)
		r->status = status_of(r->name, r->name_len);
	if (r->status != IMAP_STATUS_NONE)
		return parse_resp_text(c, r);
	if (parse_values(c, 0, 0, &r->args) < 0)
		return -1;
	/* the mailbox "NIL" is an astring, not nil (RFC 3501 §9 mailbox-list) */
	if ((mem_case_eq(r->name, r->name_len, "LIST") || mem_case_eq(r->name, r->name_len, "LSUB")) &&
	    r->args.n >= 3 && r->args.items[2].type == IMAP_NIL) {
		r->args.items[2].type = IMAP_ATOM;
		r->args.items[2].data = "NIL";
		r->args.items[2].len = 3;
	}
	return 0;
}

static int parse_response(struct pctx *c, struct imap_response *r)
{
	int ch = peek(c);
	if (ch == '+') {
		c->pos++;
		r->kind = IMAP_RESP_CONTINUATION;
		if (!at_end(c) && peek(c) != ' ')
			return fail(c, c->pos, "malformed continuation request");
		return parse_resp_text(c, r);
	}
	if (ch == '*') {
		c->pos++;
		r->kind = IMAP_RESP_UNTAGGED;
		if (peek(c) != ' ')
			return fail(c, c->pos, "expected space after '*'");
		skip_spaces(c);
		return parse_untagged(c, r);
	}
	size_t end = word_end(c, 0, 0);
	if (end == 0)
		return fail(c, 0, "missing tag");
	r->kind = IMAP_RESP_TAGGED;
	r->tag = (const char *)c->d;
	r->tag_len = end;
	c->pos = end;
	if (peek(c) != ' ')
		return fail(c, c->pos, "expected space after tag");
	skip_spaces(c);
	size_t start = c->pos;
	end = word_end(c, start, 1);
	r->status = status_of((const char *)c->d + start, end - start);
	if (r->status != IMAP_STATUS_OK && r->status != IMAP_STATUS_NO && r->status != IMAP_STATUS_BAD)
		return fail(c, start, "tagged response is not OK, NO or BAD");
	c->pos = end;
	return parse_resp_text(c, r);
}

int imap_parse(struct imap_parser *p, const char *data, size_t len, struct imap_response *out,
	       char *err, size_t errlen)
{
	struct pctx c = { .p = p, .d = (const unsigned char *)data, .len = len };
	memset(out, 0, sizeof(*out));
	out->code_args.type = IMAP_LIST;
	out->args.type = IMAP_LIST;
	arena_reset(p);
	p->stack_len = 0;
	if (p->stack_cap > STACK_KEEP) {
		free(p->stack);
		p->stack = NULL;
		p->stack_cap = 0;
	}
	if (!len || data[len - 1] != '\n')
		fail(&c, len > ERR_EXCERPT ? len - ERR_EXCERPT : 0, "missing line end");
	else if (parse_response(&c, out) == 0)
		return 0;
	imap_format_error(err, errlen, data, len, c.epos, c.ewhat ? c.ewhat : "parse error");
	memset(out, 0, sizeof(*out));
	out->code_args.type = IMAP_LIST;
	out->args.type = IMAP_LIST;
	return -1;
}

/* ---- helpers over values ---- */

int imap_value_is(const struct imap_value *v, const char *s)
{
	if (!v || !s || (v->type != IMAP_ATOM && v->type != IMAP_STRING))
		return 0;
	return mem_case_eq(v->data, v->len, s);
}

int imap_value_u64(const struct imap_value *v, uint64_t *out)
{
	uint64_t n = 0;
	if (!v || v->type != IMAP_ATOM || !v->len || v->len > 20)
		return -1;
	for (size_t i = 0; i < v->len; i++) {
		unsigned char ch = (unsigned char)v->data[i];
		if (!is_digit(ch))
			return -1;
		uint64_t d = (uint64_t)(ch - '0');
		if (n > (UINT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*out = n;
	return 0;
}

int imap_value_u32(const struct imap_value *v, uint32_t *out)
{
	uint64_t n;
	if (imap_value_u64(v, &n) < 0 || n > UINT32_MAX)
		return -1;
	*out = (uint32_t)n;
	return 0;
}

const struct imap_value *imap_fetch_item(const struct imap_value *list, const char *name)
{
	if (!list || list->type != IMAP_LIST)
		return NULL;
	for (size_t i = 0; i + 1 < list->n; i += 2)
		if (list->items[i].type == IMAP_ATOM && imap_value_is(&list->items[i], name))
			return &list->items[i + 1];
	return NULL;
}

/* ---- sequence sets ---- */

/* seq-number (RFC 3501 §9): nz-number or '*' (none when star is 0: never UID 0). */
static int seq_number(const char *s, size_t len, size_t *i, uint32_t star, uint32_t *out)
{
	if (*i < len && s[*i] == '*') {
		if (!star)
			return -1;
		(*i)++;
		*out = star;
		return 0;
	}
	size_t start = *i;
	uint64_t n = 0;
	while (*i < len && is_digit((unsigned char)s[*i])) {
		n = n * 10 + (uint64_t)(s[*i] - '0');
		if (n > UINT32_MAX)
			return -1;
		(*i)++;
	}
	if (*i == start || n == 0)
		return -1;
	*out = (uint32_t)n;
	return 0;
}

/* One pass over the set; with cb == NULL it only validates. */
static int seqset_walk(const char *s, size_t len, uint32_t star,
		       int (*cb)(uint32_t lo, uint32_t hi, void *ctx), void *ctx)
{
	size_t i = 0;
	if (!s || !len)
		return -1;
	for (;;) {
		uint32_t lo, hi;
		if (seq_number(s, len, &i, star, &lo) < 0)
			return -1;
		hi = lo;
		if (i < len && s[i] == ':') {
			i++;
			if (seq_number(s, len, &i, star, &hi) < 0)
				return -1;
		}
		if (lo > hi) {
			uint32_t t = lo;
			lo = hi;
			hi = t;
		}
		if (cb && cb(lo, hi, ctx) != 0)
			return -1;
		if (i == len)
			return 0;
		if (s[i] != ',')
			return -1;
		i++;
	}
}

int imap_parse_seqset(const char *s, size_t len, uint32_t star_value,
		      int (*cb)(uint32_t lo, uint32_t hi, void *ctx), void *ctx)
{
	/* validate first so that cb never sees part of a malformed set */
	if (seqset_walk(s, len, star_value, NULL, NULL) < 0)
		return -1;
	return seqset_walk(s, len, star_value, cb, ctx);
}
