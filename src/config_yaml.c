/* Configuration, YAML side: text -> node tree (libyaml event API).
 *
 * The file is checked as text first (UTF-8, control characters), then turned
 * into a small node tree by walking libyaml events (refusing foreign tags and
 * extra documents; anchors and aliases are recorded and refused by
 * config_node_check()), keeping each node's position so that
 * config_schema.c and config.c can report errors as FILE:LINE:COL naming the
 * key. */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "config_internal.h"

#define CONFIG_MAX_DEPTH 32
#define ECHO_MAX 60

/* ---- node tree ------------------------------------------------------- */

void config_node_free(struct node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		config_node_free(n->items[i]);
	free(n->items);
	free(n->value);
	free(n->anchor);
	free(n->bad_tag);
	free(n);
}

static void node_push(struct node *parent, struct node *child)
{
	if (parent->n == parent->cap) {
		parent->cap = parent->cap ? parent->cap * 2 : 8;
		parent->items = xrealloc(parent->items, parent->cap * sizeof(*parent->items));
	}
	parent->items[parent->n++] = child;
}

const char *config_node_desc(const struct node *n)
{
	if (n->kind == NODE_MAPPING)
		return "a mapping";
	if (n->kind == NODE_SEQUENCE)
		return "a sequence";
	if (n->kind == NODE_ALIAS)
		return "an alias";
	return n->is_null ? "null" : "a string";
}

/* ---- errors ---------------------------------------------------------- */

static int vfail(struct ctx *c, size_t line, size_t col, const char *where, const char *key,
		 const char *fmt, va_list ap)
{
	if (c->failed)
		return -1;
	c->failed = 1;
	buf_reset(&c->msg);
	if (line)
		buf_addf(&c->msg, "%s:%zu:%zu: ", c->path, line, col);
	else
		buf_addf(&c->msg, "%s: ", c->path);
	if (where)
		buf_addf(&c->msg, "%s: ", where);
	if (key)
		buf_addf(&c->msg, "key \"%s\": ", key);
	buf_vaddf(&c->msg, fmt, ap);
	return -1;
}

int config_fail_pos(struct ctx *c, size_t line, size_t col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(c, line, col, NULL, NULL, fmt, ap);
	va_end(ap);
	return -1;
}

/* "FILE:LINE:COL: WHERE: key "KEY": message"; WHERE and KEY may be NULL. */
int config_fail_at(struct ctx *c, const struct node *n, const char *where, const char *key,
		   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(c, n->line, n->col, where, key, fmt, ap);
	va_end(ap);
	return -1;
}

/* A config value for a message: quoted, control characters escaped,
 * truncated. Valid until the next call. */
const char *config_quoted(struct ctx *c, const char *s)
{
	struct buf *b = &c->scratch;
	size_t i;
	buf_reset(b);
	buf_addch(b, '"');
	for (i = 0; s[i] && i < ECHO_MAX; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x20 || ch == 0x7f)
			buf_addf(b, "\\x%02x", ch);
		else if (ch == '"' || ch == '\\')
			buf_addf(b, "\\%c", ch);
		else
			buf_addch(b, (char)ch);
	}
	while (i > 0 && s[i] && ((unsigned char)s[i] & 0xc0) == 0x80) {
		i--; /* do not cut a UTF-8 sequence in half */
		b->len--;
	}
	b->data[b->len] = '\0';
	buf_adds(b, s[i] ? "\"..." : "\"");
	return b->data;
}

/* ---- text checks ----------------------------------------------------- */

/* Strict UTF-8 decoder: returns the sequence length, or 0 when invalid. */
size_t config_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	size_t n;
	uint32_t v, min;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		n = 2, v = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3, v = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4, v = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

/* The characters YAML 1.1 allows in a stream (libyaml's test), less the C1
 * controls (NEL among them) and the Unicode line and paragraph separators,
 * which YAML 1.1 takes as line breaks where no editor shows one. */
static int yaml_printable(uint32_t v)
{
	return v == 0x09 || v == 0x0a || v == 0x0d || (v >= 0x20 && v <= 0x7e) ||
	       (v >= 0xa0 && v <= 0xd7ff && v != 0x2028 && v != 0x2029) || (v >= 0xe000 && v <= 0xfffd) ||
	       (v >= 0x10000 && v <= 0x10ffff);
}

/* The key of a "KEY: value" (or "- KEY: value") line that starts at S, when
 * the byte at offset AT lies in its value: for text errors, found before any
 * YAML is parsed. Empty when there is none. */
static void line_key(const unsigned char *s, size_t len, size_t at, char *out, size_t outlen)
{
	size_t i = 0, k0, k1;
	out[0] = '\0';
	while (i < at && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i + 1 < at && s[i] == '-' && s[i + 1] == ' ') {
		i += 2;
		while (i < at && s[i] == ' ')
			i++;
	}
	k0 = i;
	while (i < at && i < len && s[i] != ':' && s[i] != '#' && s[i] != '\n')
		i++;
	if (i >= at || s[i] != ':' || i == k0)
		return;
	k1 = i;
	while (k1 > k0 && s[k1 - 1] == ' ')
		k1--;
	if (s[k0] == '"' || s[k0] == '\'')
		return;
	for (size_t j = k0; j < k1; j++)
		if (s[j] < 0x21 || s[j] > 0x7e)
			return;
	snprintf(out, outlen, " (in the value of key \"%.*s\")", (int)(k1 - k0), (const char *)s + k0);
}

/* Checks the raw bytes so that encoding problems get a position of their own
 * (libyaml's reader reports only a byte offset). Columns count characters,
 * like libyaml's marks. */
static int check_text(struct ctx *c, const unsigned char *s, size_t len)
{
	size_t line = 1, col = 1, bol = 0;
	char key[96];
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = config_utf8_decode(s + i, len - i, &cp);
		if (!n || cp == 0 || !yaml_printable(cp))
			line_key(s + bol, len - bol, i - bol, key, sizeof(key));
		if (!n)
			return config_fail_pos(c, line, col,
					       "invalid UTF-8 (byte 0x%02x)%s; the configuration must be UTF-8",
					       s[i], key);
		if (cp == 0)
			return config_fail_pos(c, line, col, "NUL byte in the configuration%s", key);
		if (!yaml_printable(cp))
			return config_fail_pos(c, line, col, "%s U+%04X is not allowed%s",
					       cp == 0x2028 || cp == 0x2029 ? "Unicode separator" : "control character",
					       (unsigned)cp, key);
		i += n;
		if (cp == '\r' && i < len && s[i] == '\n')
			continue;
		if (cp == '\n' || cp == '\r') {
			line++;
			col = 1;
			bol = i;
		} else {
			col++;
		}
	}
	return 0;
}

/* ---- YAML events -> node tree ---------------------------------------- */

/* The start of line LINE (0-based) of the text, or NULL when there is none. */
static const char *line_at(const struct ctx *c, size_t line)
{
	const char *s = c->text, *end = c->text + c->text_len;
	for (size_t n = 0; s && s < end && n < line; n++) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		s = nl ? nl + 1 : NULL;
	}
	return s && s < end ? s : NULL;
}

/* Keys whose values are never echoed (a command may embed the password, a
 * password may have been pasted), and the words config_unknown_key() takes
 * for a literal password. */
static const char *const secret_keys[] = {
	"password_command", "password_env", "token_command",
	"password", "pass", "passwd", "secret", "pw", NULL
};

static int is_secret_key(const char *s, size_t len)
{
	for (size_t i = 0; secret_keys[i]; i++)
		if (strlen(secret_keys[i]) == len && !strncasecmp(s, secret_keys[i], len))
			return 1;
	return 0;
}

static int word_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
}

/* The word a line starts with (after indentation, "- " and a quote), a key
 * as a rule: its length, with *KEY at it; 0 when there is none. */
static size_t line_word(const char *s, const char *end, const char **key)
{
	size_t n = 0;
	for (;;) {
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		if (s + 1 < end && *s == '-' && (s[1] == ' ' || s[1] == '\t'))
			s++;
		else
			break;
	}
	if (s < end && (*s == '"' || *s == '\''))
		s++;
	while (s + n < end && word_char(s[n]))
		n++;
	*key = s;
	return n;
}

/* 1 when line LINE (0-based) may hold a secret: unless it starts with a
 * known key that is not a password key, followed by ':', a blank or the end
 * of the line (a key missing its ':'). A password pasted on a line of its
 * own, or the continuation of a password_command, is therefore not shown;
 * the position is given anyway. */
static int secret_line(const struct ctx *c, size_t line)
{
	const char *s = line_at(c, line), *end = c->text + c->text_len, *key;
	size_t n;
	if (!s)
		return 0;
	n = line_word(s, end, &key);
	if (!n || is_secret_key(key, n))
		return 1;
	for (size_t i = 0; config_known_keys[i]; i++) {
		if (strlen(config_known_keys[i]) == n && !strncmp(key, config_known_keys[i], n)) {
			const char *p = key + n;
			if (p < end && (*p == '"' || *p == '\''))
				p++;
			return !(p == end || strchr(": \t\r\n", *p));
		}
	}
	return 1;
}

/* '; line N: ...' (LINE 0-based, as written, control characters as '?'),
 * when the line is not blank; '; line N not shown' when it may hold a
 * password. */
static void quote_line(const struct ctx *c, size_t line, char *out, size_t outlen)
{
	const char *s = line_at(c, line), *end = c->text + c->text_len;
	out[0] = '\0';
	if (!s)
		return;
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	size_t len = 0;
	while (s + len < end && s[len] != '\n' && s[len] != '\r' && len < 48)
		len++;
	if (!len)
		return;
	if (secret_line(c, line)) {
		snprintf(out, outlen, "; line %zu not shown (it may hold a password)", line + 1);
		return;
	}
	size_t o = (size_t)snprintf(out, outlen, "; line %zu: ", line + 1);
	for (size_t i = 0; i < len && o + 5 < outlen; i++) {
		unsigned char ch = (unsigned char)s[i];
		out[o++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	snprintf(out + o, outlen - o, "%s", s + len < end && s[len] != '\n' && s[len] != '\r' ? "..." : "");
}

/* libyaml's message, the last key read before it went wrong, and the line
 * where it went wrong (the simple key that lacks its ':'). */
static int yaml_failure(struct ctx *c, const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "unknown YAML error";
	char near[128] = "", text[96] = "";
	if (p->error == YAML_MEMORY_ERROR)
		return config_fail_pos(c, 0, 0, "out of memory while parsing YAML");
	if (p->error == YAML_READER_ERROR)
		return config_fail_pos(c, 0, 0, "%s (at byte %zu)", problem, p->problem_offset);
	if (c->near_key[0])
		snprintf(near, sizeof(near), "; after key \"%s\" at line %zu, column %zu", c->near_key,
			 c->near_line, c->near_col);
	if (p->context && strstr(p->context, "simple key"))
		quote_line(c, p->context_mark.line, text, sizeof(text));
	if (!text[0])
		quote_line(c, p->problem_mark.line, text, sizeof(text));
	const char *hint = strstr(problem, "unknown escape")
				   ? " (a backslash in double quotes starts an escape: use single quotes)"
				   : strstr(problem, "tab character") ? " (indent with spaces)" : "";
	if (p->context)
		return config_fail_pos(c, p->problem_mark.line + 1, p->problem_mark.column + 1,
				       "YAML syntax: %s (%s at line %zu, column %zu%s)%s%s", problem, p->context,
				       p->context_mark.line + 1, p->context_mark.column + 1, near, hint, text);
	return config_fail_pos(c, p->problem_mark.line + 1, p->problem_mark.column + 1,
			       "YAML syntax: %s%s%s%s%s%s", problem, near[0] ? " (" : "", near[0] ? near + 2 : "",
			       near[0] ? ")" : "", hint, text);
}

static int read_event(struct ctx *c, yaml_parser_t *p, yaml_event_t *ev)
{
	if (yaml_parser_parse(p, ev))
		return 0;
	return yaml_failure(c, p);
}

#define YAML_TAG_PREFIX "tag:yaml.org,2002:"

static const char *const scalar_tags[] = { "str", "int", "bool", "null", "float", NULL };

/* The core scalar tag TAG names ("int"...), or NULL. */
static const char *core_scalar_tag(const char *tag)
{
	size_t plen = strlen(YAML_TAG_PREFIX);
	if (!tag || strncmp(tag, YAML_TAG_PREFIX, plen) != 0)
		return NULL;
	for (size_t i = 0; scalar_tags[i]; i++)
		if (strcmp(tag + plen, scalar_tags[i]) == 0)
			return scalar_tags[i];
	return NULL;
}

static int tag_allowed(yaml_event_type_t type, const char *tag)
{
	size_t plen = strlen(YAML_TAG_PREFIX);
	if (strncmp(tag, YAML_TAG_PREFIX, plen) != 0)
		return 0;
	if (type == YAML_MAPPING_START_EVENT)
		return strcmp(tag + plen, "map") == 0;
	if (type == YAML_SEQUENCE_START_EVENT)
		return strcmp(tag + plen, "seq") == 0;
	return core_scalar_tag(tag) != NULL;
}

static int plain_null(const char *s)
{
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static void scalar_node(const yaml_event_t *ev, struct node *n)
{
	const char *tag = (const char *)ev->data.scalar.tag;
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	n->has_nul = memchr(v, '\0', len) != NULL;
	n->value = xstrndup(v, len);
	n->tag = core_scalar_tag(tag);
	if (tag)
		n->is_null = !strcmp(tag, YAML_TAG_PREFIX "null");
	else
		n->is_null = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && plain_null(n->value);
}

/* The anchor and tag of EV (pointers into EV) into *anchor and *tag; -1 for
 * an event that starts no node. */
static int event_names(const yaml_event_t *ev, const char **anchor, const char **tag)
{
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		*anchor = (const char *)ev->data.alias.anchor;
		break;
	case YAML_SCALAR_EVENT:
		*anchor = (const char *)ev->data.scalar.anchor;
		*tag = (const char *)ev->data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		*anchor = (const char *)ev->data.sequence_start.anchor;
		*tag = (const char *)ev->data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		*anchor = (const char *)ev->data.mapping_start.anchor;
		*tag = (const char *)ev->data.mapping_start.tag;
		break;
	default:
		return -1;
	}
	return 0;
}

/* CN, a mapping's key, kept in C with its position for the errors that follow. */
static void note_key(struct ctx *c, const struct node *cn)
{
	/* a key: named by a syntax error further on */
	snprintf(c->near_key, sizeof(c->near_key), "%.60s", cn->value);
	for (char *k = c->near_key; *k; k++)
		if ((unsigned char)*k < 0x20 || *k == 0x7f || *k == '"')
			*k = '?';
	c->near_line = cn->line;
	c->near_col = cn->col;
}

static int parse_node(struct ctx *c, yaml_parser_t *p, yaml_event_t *ev, int depth, struct node **out);

/* The nodes of the mapping or sequence N (at DEPTH) read up to its end event
 * and added to N, which owns them. 0, or -1 with the error in C. */
static int parse_children(struct ctx *c, yaml_parser_t *p, struct node *n, int depth)
{
	for (;;) {
		yaml_event_t child;
		struct node *cn;
		if (read_event(c, p, &child) < 0)
			return -1;
		if (child.type == YAML_SEQUENCE_END_EVENT || child.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&child);
			break;
		}
		if (parse_node(c, p, &child, depth + 1, &cn) < 0)
			return -1;
		if (n->kind == NODE_MAPPING && n->n % 2 == 0 && cn->kind == NODE_SCALAR)
			note_key(c, cn);
		node_push(n, cn);
	}
	return 0;
}

/* Builds the node for EV (whose start event the caller read) and everything
 * nested in it. Takes ownership of EV. */
static int parse_node(struct ctx *c, yaml_parser_t *p, yaml_event_t *ev, int depth, struct node **out)
{
	size_t line = ev->start_mark.line + 1, col = ev->start_mark.column + 1;
	const char *anchor = NULL, *tag = NULL;
	struct node *n = NULL;
	int rc = -1;

	if (event_names(ev, &anchor, &tag) < 0) {
		config_fail_pos(c, line, col, "unexpected YAML event");
		goto out;
	}
	if (depth > CONFIG_MAX_DEPTH) {
		config_fail_pos(c, line, col, "nesting deeper than %d levels", CONFIG_MAX_DEPTH);
		goto out;
	}
	n = xcalloc(1, sizeof(*n));
	n->line = line;
	n->col = col;
	n->anchor = anchor ? xstrdup(anchor) : NULL;
	n->bad_tag = tag && !tag_allowed(ev->type, tag) ? xstrdup(tag) : NULL;
	if (ev->type == YAML_ALIAS_EVENT) {
		n->kind = NODE_ALIAS;
	} else if (ev->type == YAML_SCALAR_EVENT) {
		n->kind = NODE_SCALAR;
		scalar_node(ev, n);
	} else {
		n->kind = ev->type == YAML_MAPPING_START_EVENT ? NODE_MAPPING : NODE_SEQUENCE;
		if (parse_children(c, p, n, depth) < 0)
			goto out;
	}
	*out = n;
	n = NULL;
	rc = 0;
out:
	yaml_event_delete(ev);
	config_node_free(n);
	return rc;
}

static int parse_document(struct ctx *c, const char *data, size_t len, struct node **root)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int rc = -1;

	*root = NULL;
	if (!yaml_parser_initialize(&p))
		return config_fail_pos(c, 0, 0, "out of memory while parsing YAML");
	yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
	yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
	if (read_event(c, &p, &ev) < 0) /* stream start */
		goto out;
	yaml_event_delete(&ev);
	if (read_event(c, &p, &ev) < 0)
		goto out;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		config_fail_pos(c, 1, 1,
				"the configuration is empty (expected a mapping with an \"accounts\" key)");
		goto out;
	}
	yaml_event_delete(&ev); /* document start */
	if (read_event(c, &p, &ev) < 0 || parse_node(c, &p, &ev, 0, root) < 0)
		goto out;
	if ((*root)->kind == NODE_SCALAR && (*root)->is_null && !(*root)->value[0] && !(*root)->tag &&
	    !(*root)->anchor) {
		/* "---" and nothing else */
		config_fail_pos(c, 1, 1,
				"the configuration is empty (expected a mapping with an \"accounts\" key)");
		goto out;
	}
	if (read_event(c, &p, &ev) < 0) /* document end */
		goto out;
	yaml_event_delete(&ev);
	if (read_event(c, &p, &ev) < 0)
		goto out;
	if (ev.type == YAML_DOCUMENT_START_EVENT) {
		config_fail_pos(c, ev.start_mark.line + 1, ev.start_mark.column + 1,
				"multiple YAML documents are not supported");
		yaml_event_delete(&ev);
		goto out;
	}
	yaml_event_delete(&ev);
	rc = 0;
out:
	if (rc < 0) {
		config_node_free(*root);
		*root = NULL;
	}
	yaml_parser_delete(&p);
	return rc;
}

int config_yaml_parse(struct ctx *c, const char *data, size_t len, struct node **root)
{
	*root = NULL;
	/* a byte order mark: skipped here, so that libyaml's columns on line 1
	 * do not count it */
	if (len >= 3 && !memcmp(data, "\xef\xbb\xbf", 3)) {
		data += 3;
		len -= 3;
	}
	if (check_text(c, (const unsigned char *)data, len) < 0)
		return -1;
	c->text = data;
	c->text_len = len;
	int rc = parse_document(c, data, len, root);
	c->text = NULL;
	return rc;
}

/* ---- YAML-level checks ---------------------------------------------- */

/* Edit distance with transpositions counting one ("hots" -> "host"), case
 * ignored (keys are lower case); SIZE_MAX for long words. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), d[33][33];
	if (la > 32 || lb > 32)
		return SIZE_MAX;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			int ca = tolower((unsigned char)a[i - 1]), cb = (unsigned char)b[j - 1];
			size_t best = d[i - 1][j - 1] + (ca != cb);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && ca == (unsigned char)b[j - 2] &&
			    tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

/* What other mail tools (mbsync, offlineimap, fetchmail, mutt) call some keys:
 * too far from ours for the edit distance. */
static const char *const other_names[][2] = {
	{ "username", "user" }, { "login", "user" }, { "remoteuser", "user" },
	{ "server", "host" }, { "hostname", "host" }, { "remotehost", "host" },
	{ "passcmd", "password_command" }, { "pass_cmd", "password_command" },
	{ "password_cmd", "password_command" }, { "passwordcmd", "password_command" },
	{ "password_eval", "password_command" }, { "passwordeval", "password_command" },
	{ "remotepasseval", "password_command" },
	{ "ssl", "tls" }, { "ssltype", "tls" }, { "starttls", "tls" }, { "use_ssl", "tls" },
	{ "path", "root" }, { "maildir", "root" }, { "directory", "root" }, { "localfolders", "root" },
	{ "certificatefile", "ca_file" }, { "sslcacertfile", "ca_file" }, { "cacert", "ca_file" },
};

static const char *suggest_key(const char *key, const char *const *known)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX;
	for (size_t i = 0; known[i]; i++) {
		size_t d = edit_distance(key, known[i]);
		if (d < best_d) {
			best_d = d;
			best = known[i];
		}
	}
	/* two edits make anything of a short word ("path" -> "auth") */
	if (best && best_d <= (strlen(key) <= 4 || strlen(best) <= 4 ? 1u : 2u))
		return best;
	for (size_t i = 0; i < sizeof(other_names) / sizeof(other_names[0]); i++) {
		if (strcasecmp(key, other_names[i][0]))
			continue;
		for (size_t j = 0; known[j]; j++)
			if (!strcmp(known[j], other_names[i][1]))
				return known[j];
	}
	return NULL;
}

int config_unknown_key(struct ctx *c, const struct node *key, const char *where,
		       const char *const *known, const char *extra)
{
	static const char *const secret[] = { "password", "pass", "passwd", "secret", "pw", NULL };
	for (size_t i = 0; secret[i]; i++)
		if (!strcasecmp(key->value, secret[i]))
			return config_fail_at(c, key, where, NULL,
					      "unknown key %s%s (a password is not written in the configuration: "
					      "use password_command, password_env or password_file)",
					      config_quoted(c, key->value), extra);
	/* A key with a letter of another script that looks like a Latin one
	 * ("us\u0435r", Cyrillic e) reads as a known key: say so, and compare
	 * it with each character counted once (not each of its bytes). */
	struct buf folded = BUF_INIT;
	int non_ascii = 0, rc;
	for (const unsigned char *u = (const unsigned char *)key->value; *u; u++) {
		non_ascii |= *u >= 0x80;
		if ((*u & 0xc0) != 0x80)
			buf_addch(&folded, *u >= 0x80 ? '?' : (char)*u);
	}
	const char *best = suggest_key(folded.data ? folded.data : "", known);
	const char *note = non_ascii ? "it has a character that is not ASCII; " : "";
	if (best)
		rc = config_fail_at(c, key, where, NULL, "unknown key %s%s (%sdid you mean \"%s\"?)",
				    config_quoted(c, key->value), extra, note, best);
	else if (non_ascii)
		rc = config_fail_at(c, key, where, NULL, "unknown key %s%s (it has a character that is not ASCII)",
				    config_quoted(c, key->value), extra);
	else
		rc = config_fail_at(c, key, where, NULL, "unknown key %s%s", config_quoted(c, key->value), extra);
	buf_free(&folded);
	return rc;
}

/* C0 controls and DEL (but those in ALLOWED), C1 controls (U+0080-U+009F,
 * UTF-8 C2 80-C2 9F) and the line/paragraph separators U+2028/U+2029. */
int config_has_control(const char *s, const char *allowed)
{
	const unsigned char *u = (const unsigned char *)s;
	for (; *u; u++) {
		if ((*u < 0x20 || *u == 0x7f) && !strchr(allowed, *u))
			return 1;
		if (u[0] == 0xc2 && u[1] >= 0x80 && u[1] <= 0x9f)
			return 1;
		if (u[0] == 0xe2 && u[1] == 0x80 && (u[2] == 0xa8 || u[2] == 0xa9))
			return 1;
	}
	return 0;
}

#define NO_ANCHORS "(anchors and aliases are not supported; use the \"defaults\" mapping)"

int config_node_check(struct ctx *c, const struct node *n, const char *where, const char *key)
{
	/* the name of an anchor, alias or tag is a part of the value as written:
	 * not shown for a key whose value is not (a password pasted there may
	 * begin with '&', '*' or '!') */
	if (key && is_secret_key(key, strlen(key)) && (n->kind == NODE_ALIAS || n->anchor || n->bad_tag))
		return config_fail_at(c, n, where, key, "%s is not supported (the value is not shown)%s",
				      n->kind == NODE_ALIAS ? "an alias" : n->anchor ? "an anchor" : "a tag",
				      n->bad_tag && n->kind != NODE_ALIAS && !n->anchor ? "" : " " NO_ANCHORS);
	if (n->kind == NODE_ALIAS)
		return config_fail_at(c, n, where, key, "alias \"*%s\" is not supported " NO_ANCHORS,
				      n->anchor);
	if (n->anchor)
		return config_fail_at(c, n, where, key, "anchor \"&%s\" is not supported " NO_ANCHORS,
				      n->anchor);
	if (n->bad_tag)
		return config_fail_at(c, n, where, key, "tag %s is not supported",
				      config_quoted(c, n->bad_tag));
	if (n->has_nul)
		return config_fail_at(c, n, where, key, "NUL character in a string is not allowed");
	return 0;
}

int config_check_key_node(struct ctx *c, const struct node *key, const char *where)
{
	/* a key "host\0x" was named as the key "host" (its value is cut at the NUL) */
	if (key->kind == NODE_SCALAR && key->has_nul)
		return config_fail_at(c, key, where, NULL, "NUL character in a key is not allowed (after %s)",
				      config_quoted(c, key->value));
	/* name the key in the message when it can be shown as is */
	int plain = key->kind == NODE_SCALAR && strlen(key->value) <= ECHO_MAX &&
		    !strpbrk(key->value, "\"\\") && !config_has_control(key->value, "");
	if (config_node_check(c, key, where, plain ? key->value : NULL) < 0)
		return -1;
	if (key->kind != NODE_SCALAR)
		return config_fail_at(c, key, where, NULL, "mapping keys must be strings, got %s",
				      config_node_desc(key));
	return 0;
}

int config_duplicate_key(struct ctx *c, const struct node *key, const struct node *first,
			 const char *where, const char *extra)
{
	return config_fail_at(c, key, where, NULL, "duplicate key %s%s (first at %s:%zu:%zu)",
			      config_quoted(c, key->value), extra, c->path, first->line, first->col);
}
