/* Configuration: YAML (libyaml event API) -> validated account structs.
 *
 * The file is checked as text first (size, UTF-8, control characters), then
 * turned into a small node tree by walking libyaml events (refusing anchors,
 * aliases, foreign tags and extra documents), then validated against the
 * schema in config.h. Every value is checked once, in the mapping it appears
 * in ("defaults" or one account), so messages point at the offending line. */
#include "mailkeep/config.h"

#include <fcntl.h>
#include <errno.h>
#include <pwd.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml.h>

#include "mailkeep/buf.h"

#define CONFIG_MAX_SIZE ((size_t)1 << 20)
#define CONFIG_MAX_DEPTH 32
#define PASSWORD_MAX ((size_t)64 * 1024)
#define ACCOUNT_NAME_MAX 64
#define ECHO_MAX 60

extern char **environ;

/* ---- node tree ------------------------------------------------------- */

enum node_kind { NODE_SCALAR, NODE_MAPPING, NODE_SEQUENCE, NODE_ALIAS };

/* Unsupported constructs (aliases, anchors, foreign tags, NUL characters) are
 * recorded here and refused by node_check() during validation, where the
 * message can name the key. */
struct node {
	enum node_kind kind;
	size_t line, col;    /* 1-based */
	int is_null;         /* plain null scalar (~, null, empty) or !!null */
	int has_nul;         /* a scalar with an escaped NUL; value is cut there */
	char *anchor;        /* anchor defined here, or the alias' target */
	char *bad_tag;       /* a tag outside the YAML core schema */
	char *value;         /* scalars only */
	struct node **items; /* mapping: key, value, key, value...; sequence: items */
	size_t n, cap;
};

struct ctx {
	const char *path;
	struct buf msg;     /* the first error */
	struct buf scratch; /* for quoting values into messages */
	int failed;
};

static void node_free(struct node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		node_free(n->items[i]);
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

static const char *node_desc(const struct node *n)
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

static int __attribute__((format(printf, 4, 5)))
fail_pos(struct ctx *c, size_t line, size_t col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(c, line, col, NULL, NULL, fmt, ap);
	va_end(ap);
	return -1;
}

/* "FILE:LINE:COL: WHERE: key "KEY": message"; WHERE and KEY may be NULL. */
static int __attribute__((format(printf, 5, 6)))
fail_at(struct ctx *c, const struct node *n, const char *where, const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(c, n->line, n->col, where, key, fmt, ap);
	va_end(ap);
	return -1;
}

/* A config value for a message: quoted, control characters escaped,
 * truncated. Valid until the next call. */
static const char *quoted(struct ctx *c, const char *s)
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

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- text checks ----------------------------------------------------- */

/* Strict UTF-8 decoder: returns the sequence length, or 0 when invalid. */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
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

/* The characters YAML 1.1 allows in a stream (the same test libyaml applies). */
static int yaml_printable(uint32_t v)
{
	return v == 0x09 || v == 0x0a || v == 0x0d || (v >= 0x20 && v <= 0x7e) || v == 0x85 ||
	       (v >= 0xa0 && v <= 0xd7ff) || (v >= 0xe000 && v <= 0xfffd) ||
	       (v >= 0x10000 && v <= 0x10ffff);
}

/* Checks the raw bytes so that encoding problems get a position of their own
 * (libyaml's reader reports only a byte offset). Columns count characters,
 * like libyaml's marks. */
static int check_text(struct ctx *c, const unsigned char *s, size_t len)
{
	size_t line = 1, col = 1;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_decode(s + i, len - i, &cp);
		if (!n)
			return fail_pos(c, line, col, "invalid UTF-8 (byte 0x%02x); the configuration must be UTF-8",
					s[i]);
		if (cp == 0)
			return fail_pos(c, line, col, "NUL byte in the configuration");
		if (!yaml_printable(cp))
			return fail_pos(c, line, col, "control character U+%04X is not allowed", (unsigned)cp);
		i += n;
		if (cp == '\r' && i < len && s[i] == '\n')
			continue;
		if (cp == '\n' || cp == '\r' || cp == 0x85 || cp == 0x2028 || cp == 0x2029) {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	return 0;
}

/* ---- YAML events -> node tree ---------------------------------------- */

static int yaml_failure(struct ctx *c, const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "unknown YAML error";
	if (p->error == YAML_MEMORY_ERROR)
		return fail_pos(c, 0, 0, "out of memory while parsing YAML");
	if (p->error == YAML_READER_ERROR)
		return fail_pos(c, 0, 0, "%s (at byte %zu)", problem, p->problem_offset);
	if (p->context)
		return fail_pos(c, p->problem_mark.line + 1, p->problem_mark.column + 1,
				"%s (%s at line %zu, column %zu)", problem, p->context,
				p->context_mark.line + 1, p->context_mark.column + 1);
	return fail_pos(c, p->problem_mark.line + 1, p->problem_mark.column + 1, "%s", problem);
}

static int read_event(struct ctx *c, yaml_parser_t *p, yaml_event_t *ev)
{
	if (yaml_parser_parse(p, ev))
		return 0;
	return yaml_failure(c, p);
}

#define YAML_TAG_PREFIX "tag:yaml.org,2002:"

static int tag_allowed(yaml_event_type_t type, const char *tag)
{
	static const char *const scalar_tags[] = { "str", "int", "bool", "null", "float", NULL };
	size_t plen = strlen(YAML_TAG_PREFIX);
	if (strncmp(tag, YAML_TAG_PREFIX, plen) != 0)
		return 0;
	tag += plen;
	if (type == YAML_MAPPING_START_EVENT)
		return strcmp(tag, "map") == 0;
	if (type == YAML_SEQUENCE_START_EVENT)
		return strcmp(tag, "seq") == 0;
	for (size_t i = 0; scalar_tags[i]; i++)
		if (strcmp(tag, scalar_tags[i]) == 0)
			return 1;
	return 0;
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
	if (tag)
		n->is_null = !strcmp(tag, YAML_TAG_PREFIX "null");
	else
		n->is_null = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && plain_null(n->value);
}

/* Builds the node for EV (whose start event the caller read) and everything
 * nested in it. Takes ownership of EV. */
static int parse_node(struct ctx *c, yaml_parser_t *p, yaml_event_t *ev, int depth, struct node **out)
{
	size_t line = ev->start_mark.line + 1, col = ev->start_mark.column + 1;
	const char *anchor = NULL, *tag = NULL;
	struct node *n = NULL;
	int rc = -1;

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		anchor = (const char *)ev->data.alias.anchor;
		break;
	case YAML_SCALAR_EVENT:
		anchor = (const char *)ev->data.scalar.anchor;
		tag = (const char *)ev->data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = (const char *)ev->data.sequence_start.anchor;
		tag = (const char *)ev->data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = (const char *)ev->data.mapping_start.anchor;
		tag = (const char *)ev->data.mapping_start.tag;
		break;
	default:
		fail_pos(c, line, col, "unexpected YAML event");
		goto out;
	}
	if (depth > CONFIG_MAX_DEPTH) {
		fail_pos(c, line, col, "nesting deeper than %d levels", CONFIG_MAX_DEPTH);
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
		for (;;) {
			yaml_event_t child;
			struct node *cn;
			if (read_event(c, p, &child) < 0)
				goto out;
			if (child.type == YAML_SEQUENCE_END_EVENT || child.type == YAML_MAPPING_END_EVENT) {
				yaml_event_delete(&child);
				break;
			}
			if (parse_node(c, p, &child, depth + 1, &cn) < 0)
				goto out;
			node_push(n, cn);
		}
	}
	*out = n;
	n = NULL;
	rc = 0;
out:
	yaml_event_delete(ev);
	node_free(n);
	return rc;
}

static int parse_document(struct ctx *c, const char *data, size_t len, struct node **root)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int rc = -1;

	*root = NULL;
	if (!yaml_parser_initialize(&p))
		return fail_pos(c, 0, 0, "out of memory while parsing YAML");
	yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
	yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
	if (read_event(c, &p, &ev) < 0) /* stream start */
		goto out;
	yaml_event_delete(&ev);
	if (read_event(c, &p, &ev) < 0)
		goto out;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		fail_pos(c, 1, 1, "the configuration is empty (expected a mapping with an \"accounts\" key)");
		goto out;
	}
	yaml_event_delete(&ev); /* document start */
	if (read_event(c, &p, &ev) < 0 || parse_node(c, &p, &ev, 0, root) < 0)
		goto out;
	if (read_event(c, &p, &ev) < 0) /* document end */
		goto out;
	yaml_event_delete(&ev);
	if (read_event(c, &p, &ev) < 0)
		goto out;
	if (ev.type == YAML_DOCUMENT_START_EVENT) {
		fail_pos(c, ev.start_mark.line + 1, ev.start_mark.column + 1,
			 "multiple YAML documents are not supported");
		yaml_event_delete(&ev);
		goto out;
	}
	yaml_event_delete(&ev);
	rc = 0;
out:
	if (rc < 0) {
		node_free(*root);
		*root = NULL;
	}
	yaml_parser_delete(&p);
	return rc;
}

/* ---- schema ---------------------------------------------------------- */

enum key {
	K_NAME, K_ROOT, K_HOST, K_PORT, K_TLS, K_CA_FILE, K_USER,
	K_PASSWORD_COMMAND, K_PASSWORD_ENV, K_PASSWORD_FILE, K_FOLDERS, K_DELETIONS,
	K_TIMEOUT, K_SNAPSHOT, K_SNAPSHOT_REPO, K_SNAPSHOT_BRANCH, K_SNAPSHOT_AUTHOR,
	K_COUNT
};

enum value_type {
	T_NAME, T_PATH, T_HOST, T_INT, T_ENUM, T_TEXT, T_COMMAND, T_ENV_NAME, T_FOLDERS,
	T_BOOL, T_BRANCH, T_AUTHOR
};

#define PATH_EXPECT "a path (non-empty, no control characters)"

static const char *const tls_names[] = { "implicit", "starttls", "none", NULL };
static const char *const deletions_names[] = { "mirror", "keep", NULL };

static const struct key_info {
	const char *name;
	enum value_type type;
	const char *expect; /* "expected ..., got ..." */
	long min, max;      /* T_INT */
	const char *const *values; /* T_ENUM, indexed by the enum's value */
} keys[K_COUNT] = {
	[K_NAME] = { "name", T_NAME, "an account name ([A-Za-z0-9._-]+, not starting with '.', "
		     "at most 64 characters)", 0, 0, NULL },
	[K_ROOT] = { "root", T_PATH, PATH_EXPECT, 0, 0, NULL },
	[K_HOST] = { "host", T_HOST, "a host name (no whitespace or control characters)", 0, 0, NULL },
	[K_PORT] = { "port", T_INT, "an integer 1..65535", 1, 65535, NULL },
	[K_TLS] = { "tls", T_ENUM, "one of implicit, starttls, none", 0, 0, tls_names },
	[K_CA_FILE] = { "ca_file", T_PATH, PATH_EXPECT, 0, 0, NULL },
	[K_USER] = { "user", T_TEXT, "a non-empty string without control characters", 0, 0, NULL },
	[K_PASSWORD_COMMAND] = { "password_command", T_COMMAND, "a non-empty shell command", 0, 0, NULL },
	[K_PASSWORD_ENV] = { "password_env", T_ENV_NAME, "an environment variable name "
			     "([A-Za-z_][A-Za-z0-9_]*)", 0, 0, NULL },
	[K_PASSWORD_FILE] = { "password_file", T_PATH, PATH_EXPECT, 0, 0, NULL },
	[K_FOLDERS] = { "folders", T_FOLDERS, "a mapping with \"include\" and/or \"exclude\"", 0, 0, NULL },
	[K_DELETIONS] = { "deletions", T_ENUM, "one of mirror, keep", 0, 0, deletions_names },
	[K_TIMEOUT] = { "timeout", T_INT, "an integer 1..3600 (seconds)", 1, 3600, NULL },
	[K_SNAPSHOT] = { "snapshot", T_BOOL, "a boolean (true/false/yes/no/on/off)", 0, 0, NULL },
	[K_SNAPSHOT_REPO] = { "snapshot_repo", T_PATH, PATH_EXPECT, 0, 0, NULL },
	[K_SNAPSHOT_BRANCH] = { "snapshot_branch", T_BRANCH, "a git branch name", 0, 0, NULL },
	[K_SNAPSHOT_AUTHOR] = { "snapshot_author", T_AUTHOR, "\"Name <email>\"", 0, 0, NULL },
};

const char *const config_known_keys[] = {
	"defaults", "accounts",
	"name", "root", "host", "port", "tls", "ca_file", "user",
	"password_command", "password_env", "password_file", "folders", "deletions",
	"timeout", "snapshot", "snapshot_repo", "snapshot_branch", "snapshot_author",
	"include", "exclude",
	NULL
};

static const char *const top_level_keys[] = { "defaults", "accounts", NULL };
static const char *const folders_keys[] = { "include", "exclude", NULL };

#define PASSWORD_KEYS "password_command, password_env, password_file"
#define DEFAULT_ROOT "~/Mail"
#define DEFAULT_BRANCH "main"
#define DEFAULT_AUTHOR "mailkeep <mailkeep@localhost>"

/* One mapping's worth of validated values: "defaults" or one account. */
struct layer {
	const char *where;
	const struct node *key[K_COUNT]; /* key node, NULL when not set here */
	char *str[K_COUNT];
	long num[K_COUNT];
	struct strlist include, exclude;
};

static void strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static void strlist_copy(struct strlist *dst, const struct strlist *src)
{
	dst->items = xcalloc(src->n, sizeof(*dst->items));
	for (dst->n = 0; dst->n < src->n; dst->n++)
		dst->items[dst->n] = xstrdup(src->items[dst->n]);
}

static void layer_free(struct layer *l)
{
	for (int k = 0; k < K_COUNT; k++)
		free(l->str[k]);
	strlist_free(&l->include);
	strlist_free(&l->exclude);
}

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
			size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

static int unknown_key(struct ctx *c, const struct node *key, const char *where,
		       const char *const *known, const char *extra)
{
	const char *best = NULL;
	size_t best_d = 3;
	for (size_t i = 0; known[i]; i++) {
		size_t d = edit_distance(key->value, known[i]);
		if (d < best_d) {
			best_d = d;
			best = known[i];
		}
	}
	if (best)
		return fail_at(c, key, where, NULL, "unknown key %s%s (did you mean \"%s\"?)",
			       quoted(c, key->value), extra, best);
	return fail_at(c, key, where, NULL, "unknown key %s%s", quoted(c, key->value), extra);
}

static int has_control(const char *s, const char *allowed)
{
	for (; *s; s++)
		if (((unsigned char)*s < 0x20 || *s == 0x7f) && !strchr(allowed, *s))
			return 1;
	return 0;
}

#define NO_ANCHORS "(anchors and aliases are not supported; use the \"defaults\" mapping)"

static int node_check(struct ctx *c, const struct node *n, const char *where, const char *key)
{
	if (n->kind == NODE_ALIAS)
		return fail_at(c, n, where, key, "alias \"*%s\" is not supported " NO_ANCHORS, n->anchor);
	if (n->anchor)
		return fail_at(c, n, where, key, "anchor \"&%s\" is not supported " NO_ANCHORS, n->anchor);
	if (n->bad_tag)
		return fail_at(c, n, where, key, "tag %s is not supported", quoted(c, n->bad_tag));
	if (n->has_nul)
		return fail_at(c, n, where, key, "NUL character in a string is not allowed");
	return 0;
}

static int check_key_node(struct ctx *c, const struct node *key, const char *where)
{
	/* name the key in the message when it can be shown as is */
	int plain = key->kind == NODE_SCALAR && strlen(key->value) <= ECHO_MAX &&
		    !strpbrk(key->value, "\"\\") && !has_control(key->value, "");
	if (node_check(c, key, where, plain ? key->value : NULL) < 0)
		return -1;
	if (key->kind != NODE_SCALAR)
		return fail_at(c, key, where, NULL, "mapping keys must be strings, got %s", node_desc(key));
	return 0;
}

static int duplicate_key(struct ctx *c, const struct node *key, const struct node *first, const char *where,
			 const char *extra)
{
	return fail_at(c, key, where, NULL, "duplicate key %s%s (first at %s:%zu:%zu)", quoted(c, key->value),
		       extra, c->path, first->line, first->col);
}

/* ---- value checks ---------------------------------------------------- */

static int valid_account_name(const char *s)
{
	size_t len = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");
	return len > 0 && !s[len] && len <= ACCOUNT_NAME_MAX && s[0] != '.';
}

static size_t env_name_len(const char *s)
{
	size_t n = 0;
	if ((s[0] < 'A' || s[0] > 'Z') && (s[0] < 'a' || s[0] > 'z') && s[0] != '_')
		return 0;
	while ((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= 'a' && s[n] <= 'z') ||
	       (s[n] >= '0' && s[n] <= '9') || s[n] == '_')
		n++;
	return n;
}

static int parse_decimal(const char *s, long min, long max, long *out)
{
	long v = 0;
	if (!*s || (s[0] == '0' && s[1]))
		return -1; /* YAML 1.1 would read a leading zero as octal */
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > max)
			return -1;
	}
	if (v < min)
		return -1;
	*out = v;
	return 0;
}

static int parse_bool(const char *s, long *out)
{
	static const char *const names[] = { "false", "true", "no", "yes", "off", "on", NULL };
	for (size_t i = 0; names[i]; i++) {
		if (!strcasecmp(s, names[i])) {
			*out = (long)(i % 2);
			return 0;
		}
	}
	return -1;
}

static int parse_enum(const char *s, const char *const *names, long *out)
{
	for (size_t i = 0; names[i]; i++) {
		if (!strcasecmp(s, names[i])) {
			*out = (long)i;
			return 0;
		}
	}
	return -1;
}

/* Roughly git check-ref-format for refs/heads/<s>. */
static int valid_branch(const char *s)
{
	size_t len = strlen(s);
	if (!len || s[0] == '-' || s[0] == '/' || s[len - 1] == '/' || s[len - 1] == '.' || !strcmp(s, "@"))
		return 0;
	if (strstr(s, "..") || strstr(s, "//") || strstr(s, "@{") || strstr(s, "/.") || s[0] == '.')
		return 0;
	if (strpbrk(s, " ~^:?*[\\") || has_control(s, ""))
		return 0;
	for (const char *p = s; (p = strstr(p, ".lock")); p++)
		if (p[5] == '\0' || p[5] == '/')
			return 0;
	return 1;
}

/* "Name <local@domain>": a non-empty name, a space, one <...> at the end. */
static int valid_author(const char *s)
{
	const char *lt = strchr(s, '<'), *at;
	size_t len = strlen(s);
	if (!lt || lt == s || lt[-1] != ' ' || s[len - 1] != '>' || has_control(s, ""))
		return 0;
	if (strspn(s, " ") >= (size_t)(lt - s) || memchr(s, '>', (size_t)(lt - s)))
		return 0;
	at = strchr(lt, '@');
	if (!at || at == lt + 1 || at + 1 >= s + len - 1)
		return 0;
	return !strpbrk(lt + 1, "< ") && strchr(lt, '>') == s + len - 1;
}

/* Expands a leading "~" and $VAR / ${VAR} into OUT; on failure describes the
 * problem in WHY. */
static int expand_path(const char *s, struct buf *out, struct buf *why)
{
	if (s[0] == '~') {
		const char *home = getenv("HOME");
		if (s[1] && s[1] != '/') {
			buf_adds(why, "\"~user\" is not supported, only a leading \"~\" or \"~/\"");
			return -1;
		}
		if (!home || !*home) {
			buf_adds(why, "environment variable \"HOME\" is not set (needed for \"~\")");
			return -1;
		}
		buf_adds(out, home);
		s++;
	}
	while (*s) {
		const char *name = s + 1;
		int braced = *name == '{';
		size_t n;
		char *var;
		const char *value;
		if (*s != '$') {
			buf_addch(out, *s++);
			continue;
		}
		name += braced;
		n = env_name_len(name);
		if (braced && (!n || name[n] != '}')) {
			buf_adds(why, "malformed \"${\" (expected ${NAME})");
			return -1;
		}
		if (!n) {
			buf_addch(out, *s++); /* a lone '$' is literal */
			continue;
		}
		var = xstrndup(name, n);
		value = getenv(var);
		if (!value) {
			buf_addf(why, "environment variable \"%s\" is not set", var);
			free(var);
			return -1;
		}
		free(var);
		buf_adds(out, value);
		s = name + n + braced;
	}
	return 0;
}

/* P points just after '['; returns the closing ']' or NULL. A ']' right
 * after "[" or "[!" is a member, as in POSIX. */
static const char *class_close(const char *p)
{
	if (*p == '!' || *p == '^')
		p++;
	if (*p == ']')
		p++;
	for (; *p; p++) {
		if (*p == '\\' && p[1])
			p++;
		else if (*p == ']')
			return p;
	}
	return NULL;
}

/* Why PATTERN is not a valid glob, or NULL. */
static const char *glob_problem(const char *p)
{
	for (; *p; p++) {
		if (*p == '\\') {
			if (!p[1])
				return "it ends with a lone backslash";
			p++;
		} else if (*p == '[') {
			const char *close = class_close(p + 1);
			if (!close)
				return "unterminated \"[\"";
			for (const char *q = p + 1; q < close; q++)
				if ((unsigned char)*q >= 0x80)
					return "character classes may only contain ASCII characters";
			p = close;
		}
	}
	return NULL;
}

static int parse_patterns(struct ctx *c, struct layer *l, const char *key, const struct node *v,
			  struct strlist *out)
{
	const struct node *const *items = &v;
	size_t n = 1;
	if (node_check(c, v, l->where, key) < 0)
		return -1;
	if (v->kind == NODE_SEQUENCE) {
		items = (const struct node *const *)v->items;
		n = v->n;
		if (!n && out == &l->include)
			return fail_at(c, v, l->where, key, "must not be empty (omit it to include every folder)");
	} else if (v->kind != NODE_SCALAR || v->is_null) {
		return fail_at(c, v, l->where, key, "expected a glob pattern or a sequence of glob patterns, got %s",
			       node_desc(v));
	}
	strlist_free(out);
	out->items = xcalloc(n, sizeof(*out->items));
	for (size_t i = 0; i < n; i++) {
		const struct node *it = items[i];
		const char *why;
		if (node_check(c, it, l->where, key) < 0)
			return -1;
		if (it->kind != NODE_SCALAR || it->is_null)
			return fail_at(c, it, l->where, key, "item %zu: expected a glob pattern, got %s",
				       i + 1, node_desc(it));
		if (!*it->value || has_control(it->value, ""))
			return fail_at(c, it, l->where, key, "item %zu: expected a non-empty glob pattern "
				       "without control characters, got %s", i + 1, quoted(c, it->value));
		if ((why = glob_problem(it->value)))
			return fail_at(c, it, l->where, key, "invalid glob pattern %s: %s",
				       quoted(c, it->value), why);
		out->items[out->n++] = xstrdup(it->value);
	}
	return 0;
}

static int parse_folders(struct ctx *c, struct layer *l, const struct node *v)
{
	const struct node *seen[2] = { NULL, NULL };
	if (v->kind != NODE_MAPPING)
		return fail_at(c, v, l->where, "folders", "expected %s, got %s", keys[K_FOLDERS].expect,
			       node_desc(v));
	for (size_t i = 0; i + 1 < v->n; i += 2) {
		const struct node *k = v->items[i];
		int which;
		if (check_key_node(c, k, l->where) < 0)
			return -1;
		if (!strcmp(k->value, "include"))
			which = 0;
		else if (!strcmp(k->value, "exclude"))
			which = 1;
		else
			return unknown_key(c, k, l->where, folders_keys, " in \"folders\"");
		if (seen[which])
			return duplicate_key(c, k, seen[which], l->where, " in \"folders\"");
		seen[which] = k;
		if (parse_patterns(c, l, which ? "folders.exclude" : "folders.include", v->items[i + 1],
				   which ? &l->exclude : &l->include) < 0)
			return -1;
	}
	if (!seen[0]) {
		l->include.items = xcalloc(1, sizeof(*l->include.items));
		l->include.items[0] = xstrdup("*");
		l->include.n = 1;
	}
	return 0;
}

static int parse_path(struct ctx *c, struct layer *l, enum key k, const struct node *v)
{
	struct buf out = BUF_INIT, why = BUF_INIT;
	int rc = -1;
	if (!*v->value || has_control(v->value, "")) {
		fail_at(c, v, l->where, keys[k].name, "expected %s, got %s", keys[k].expect, quoted(c, v->value));
		goto out;
	}
	if (expand_path(v->value, &out, &why) < 0) {
		fail_at(c, v, l->where, keys[k].name, "%s", why.data);
		goto out;
	}
	if (!out.len) {
		fail_at(c, v, l->where, keys[k].name, "path %s is empty after expansion", quoted(c, v->value));
		goto out;
	}
	l->str[k] = buf_detach(&out);
	rc = 0;
out:
	buf_free(&out);
	buf_free(&why);
	return rc;
}

static int string_ok(enum value_type t, const char *s)
{
	switch (t) {
	case T_NAME: return valid_account_name(s);
	case T_HOST: return *s && !strpbrk(s, " \t") && !has_control(s, "");
	case T_TEXT: return *s && !has_control(s, "");
	case T_COMMAND: return *s && !has_control(s, "\t\n");
	case T_ENV_NAME: return *s && !s[env_name_len(s)];
	case T_BRANCH: return valid_branch(s);
	case T_AUTHOR: return valid_author(s);
	default: return 0;
	}
}

static int parse_value(struct ctx *c, struct layer *l, enum key k, const struct node *v)
{
	const struct key_info *ki = &keys[k];
	int bad = 0;
	if (node_check(c, v, l->where, ki->name) < 0)
		return -1;
	if (ki->type == T_FOLDERS)
		return parse_folders(c, l, v);
	if (v->kind != NODE_SCALAR || v->is_null)
		return fail_at(c, v, l->where, ki->name, "expected %s, got %s", ki->expect, node_desc(v));
	switch (ki->type) {
	case T_PATH:
		return parse_path(c, l, k, v);
	case T_INT:
		bad = parse_decimal(v->value, ki->min, ki->max, &l->num[k]) < 0;
		break;
	case T_BOOL:
		bad = parse_bool(v->value, &l->num[k]) < 0;
		break;
	case T_ENUM:
		bad = parse_enum(v->value, ki->values, &l->num[k]) < 0;
		break;
	default:
		bad = !string_ok(ki->type, v->value);
		if (!bad)
			l->str[k] = xstrdup(v->value);
		break;
	}
	if (bad)
		return fail_at(c, v, l->where, ki->name, "expected %s, got %s", ki->expect, quoted(c, v->value));
	return 0;
}

static int is_password_key(int k)
{
	return k == K_PASSWORD_COMMAND || k == K_PASSWORD_ENV || k == K_PASSWORD_FILE;
}

static const struct node *layer_password_key(const struct layer *l)
{
	for (int k = K_PASSWORD_COMMAND; k <= K_PASSWORD_FILE; k++)
		if (l->key[k])
			return l->key[k];
	return NULL;
}

static int parse_layer(struct ctx *c, const struct node *map, struct layer *l, int is_defaults)
{
	const char *account_key_names[K_COUNT + 1] = { NULL };
	for (int k = 0; k < K_COUNT; k++)
		account_key_names[k] = keys[k].name;
	for (size_t i = 0; i + 1 < map->n; i += 2) {
		const struct node *key = map->items[i];
		int k;
		if (check_key_node(c, key, l->where) < 0)
			return -1;
		for (k = 0; k < K_COUNT && strcmp(key->value, keys[k].name); k++)
			;
		if (k == K_COUNT)
			return unknown_key(c, key, l->where, account_key_names, "");
		if (k == K_NAME && is_defaults)
			return fail_at(c, key, l->where, NULL, "key \"name\" is not allowed in defaults");
		if (l->key[k])
			return duplicate_key(c, key, l->key[k], l->where, "");
		if (is_password_key(k) && layer_password_key(l))
			return fail_at(c, key, l->where, NULL, "exactly one of " PASSWORD_KEYS " is required "
				       "(found \"%s\" and \"%s\")", layer_password_key(l)->value, keys[k].name);
		l->key[k] = key;
		if (parse_value(c, l, (enum key)k, map->items[i + 1]) < 0)
			return -1;
	}
	return 0;
}

/* ---- accounts -------------------------------------------------------- */

/* The layer that sets K for this account: the account itself, else defaults. */
static const struct layer *pick(const struct layer *dl, const struct layer *al, enum key k)
{
	return al->key[k] ? al : dl->key[k] ? dl : NULL;
}

static char *pick_str(const struct layer *dl, const struct layer *al, enum key k, const char *def)
{
	const struct layer *l = pick(dl, al, k);
	if (l)
		return xstrdup(l->str[k]);
	return def ? xstrdup(def) : NULL;
}

static long pick_num(const struct layer *dl, const struct layer *al, enum key k, long def)
{
	const struct layer *l = pick(dl, al, k);
	return l ? l->num[k] : def;
}

static int account_root(struct ctx *c, const struct layer *dl, const struct layer *al,
			const struct node *map, struct account *a)
{
	const struct layer *l = pick(dl, al, K_ROOT);
	size_t len;
	if (l) {
		a->root = xstrdup(l->str[K_ROOT]);
	} else {
		struct buf out = BUF_INIT, why = BUF_INIT;
		if (expand_path(DEFAULT_ROOT, &out, &why) < 0) {
			fail_at(c, map, al->where, "root", "default \"" DEFAULT_ROOT "\": %s", why.data);
			buf_free(&out);
			buf_free(&why);
			return -1;
		}
		a->root = buf_detach(&out);
		buf_free(&why);
	}
	len = strlen(a->root);
	while (len > 1 && a->root[len - 1] == '/')
		a->root[--len] = '\0';
	return 0;
}

static void account_password(const struct layer *dl, const struct layer *al, struct account *a)
{
	/* The three password keys are one setting: an account that names any of
	 * them replaces the default source as a whole. */
	const struct layer *l = layer_password_key(al) ? al : dl;
	for (int k = K_PASSWORD_COMMAND; k <= K_PASSWORD_FILE; k++) {
		if (l->key[k]) {
			a->password_source = k == K_PASSWORD_COMMAND ? PASSWORD_COMMAND :
					     k == K_PASSWORD_ENV ? PASSWORD_ENV : PASSWORD_FILE;
			a->password_arg = xstrdup(l->str[k]);
		}
	}
}

static int build_account(struct ctx *c, const struct layer *dl, const struct layer *al,
			 const struct node *map, struct account *a)
{
	static const enum key required[] = { K_NAME, K_HOST, K_USER };
	const struct layer *fl;
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (!pick(dl, al, required[i]))
			return fail_at(c, map, al->where, NULL, "missing required key \"%s\"",
				       keys[required[i]].name);
	if (!layer_password_key(al) && !layer_password_key(dl))
		return fail_at(c, map, al->where, NULL, "exactly one of " PASSWORD_KEYS " is required");
	a->name = xstrdup(al->str[K_NAME]);
	if (account_root(c, dl, al, map, a) < 0)
		return -1;
	a->host = pick_str(dl, al, K_HOST, NULL);
	a->tls = (enum tls_mode)pick_num(dl, al, K_TLS, TLS_IMPLICIT);
	a->port = (int)pick_num(dl, al, K_PORT, a->tls == TLS_IMPLICIT ? 993 : 143);
	a->ca_file = pick_str(dl, al, K_CA_FILE, NULL);
	a->user = pick_str(dl, al, K_USER, NULL);
	account_password(dl, al, a);
	fl = pick(dl, al, K_FOLDERS);
	if (fl) {
		strlist_copy(&a->include, &fl->include);
		strlist_copy(&a->exclude, &fl->exclude);
	} else {
		a->include.items = xcalloc(1, sizeof(*a->include.items));
		a->include.items[0] = xstrdup("*");
		a->include.n = 1;
	}
	a->deletions = (enum deletions_mode)pick_num(dl, al, K_DELETIONS, DELETIONS_MIRROR);
	a->timeout = (int)pick_num(dl, al, K_TIMEOUT, 60);
	a->snapshot = (int)pick_num(dl, al, K_SNAPSHOT, 0);
	a->snapshot_repo = pick_str(dl, al, K_SNAPSHOT_REPO, NULL);
	if (!a->snapshot_repo) {
		buf_addf(&b, "%s%s%s.git", a->root, strcmp(a->root, "/") ? "/" : "", a->name);
		a->snapshot_repo = buf_detach(&b);
	}
	a->snapshot_branch = pick_str(dl, al, K_SNAPSHOT_BRANCH, DEFAULT_BRANCH);
	a->snapshot_author = pick_str(dl, al, K_SNAPSHOT_AUTHOR, DEFAULT_AUTHOR);
	buf_addf(&b, "%s:%zu:%zu", c->path, map->line, map->col);
	a->origin = buf_detach(&b);
	return 0;
}

/* "accounts[N]", plus " (NAME)" when the mapping has a valid name. */
static void account_where(struct buf *w, size_t idx, const struct node *map)
{
	buf_addf(w, "accounts[%zu]", idx);
	if (map->kind != NODE_MAPPING)
		return;
	for (size_t i = 0; i + 1 < map->n; i += 2) {
		const struct node *k = map->items[i], *v = map->items[i + 1];
		if (k->kind == NODE_SCALAR && !strcmp(k->value, "name")) {
			if (v->kind == NODE_SCALAR && valid_account_name(v->value))
				buf_addf(w, " (%s)", v->value);
			return;
		}
	}
}

static int load_account(struct ctx *c, const struct layer *dl, const struct node *map, size_t idx,
			struct account *a)
{
	struct layer al = { 0 };
	struct buf where = BUF_INIT;
	int rc = -1;
	account_where(&where, idx, map);
	al.where = where.data;
	if (node_check(c, map, al.where, NULL) < 0)
		goto out;
	if (map->kind != NODE_MAPPING) {
		fail_at(c, map, al.where, NULL, "expected a mapping (an account), got %s", node_desc(map));
		goto out;
	}
	if (parse_layer(c, map, &al, 0) < 0 || build_account(c, dl, &al, map, a) < 0)
		goto out;
	rc = 0;
out:
	layer_free(&al);
	buf_free(&where);
	return rc;
}

struct name_ref {
	const char *name;
	size_t idx;
};

static int name_ref_cmp(const void *pa, const void *pb)
{
	const struct name_ref *a = pa, *b = pb;
	int r = strcmp(a->name, b->name);
	return r ? r : (a->idx > b->idx) - (a->idx < b->idx);
}

/* Sorting keeps this O(n log n) however many accounts there are; the
 * earliest repeat in file order is reported. */
static int check_duplicate_names(struct ctx *c, const struct config *cfg, const struct node *seq)
{
	size_t n = cfg->n_accounts, dup = SIZE_MAX, first = 0, start = 0;
	struct name_ref *refs = xcalloc(n, sizeof(*refs));
	for (size_t i = 0; i < n; i++)
		refs[i] = (struct name_ref){ cfg->accounts[i].name, i };
	qsort(refs, n, sizeof(*refs), name_ref_cmp);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(refs[i].name, refs[start].name)) {
			start = i;
		} else if (refs[i].idx < dup) {
			dup = refs[i].idx;
			first = refs[start].idx;
		}
	}
	free(refs);
	if (dup == SIZE_MAX)
		return 0;
	return fail_pos(c, seq->items[dup]->line, seq->items[dup]->col,
			"accounts[%zu]: duplicate account name \"%s\" (first defined at %s)", dup,
			cfg->accounts[dup].name, cfg->accounts[first].origin);
}

static int validate(struct ctx *c, const struct node *root, struct config *cfg)
{
	const struct node *defaults = NULL, *accounts = NULL, *dkey = NULL, *akey = NULL;
	struct layer dl = { .where = "defaults" };
	int rc = -1;

	if (node_check(c, root, NULL, NULL) < 0)
		return -1;
	if (root->kind != NODE_MAPPING)
		return fail_at(c, root, NULL, NULL, "the top level must be a mapping with an \"accounts\" key, "
			       "got %s", node_desc(root));
	for (size_t i = 0; i + 1 < root->n; i += 2) {
		const struct node *k = root->items[i], **slot_key, **slot_val;
		if (check_key_node(c, k, NULL) < 0)
			return -1;
		if (!strcmp(k->value, "defaults"))
			slot_key = &dkey, slot_val = &defaults;
		else if (!strcmp(k->value, "accounts"))
			slot_key = &akey, slot_val = &accounts;
		else
			return unknown_key(c, k, NULL, top_level_keys, " at the top level");
		if (*slot_key)
			return duplicate_key(c, k, *slot_key, NULL, "");
		*slot_key = k;
		*slot_val = root->items[i + 1];
	}
	if (!accounts)
		return fail_at(c, root, NULL, NULL, "missing required key \"accounts\"");
	if (node_check(c, accounts, NULL, "accounts") < 0)
		return -1;
	if (defaults && node_check(c, defaults, NULL, "defaults") < 0)
		return -1;
	if (accounts->kind != NODE_SEQUENCE || !accounts->n)
		return fail_at(c, accounts, NULL, "accounts", "expected a non-empty sequence of accounts, got %s",
			       accounts->kind == NODE_SEQUENCE ? "an empty sequence" : node_desc(accounts));
	if (defaults && defaults->kind != NODE_MAPPING)
		return fail_at(c, defaults, NULL, "defaults", "expected a mapping, got %s", node_desc(defaults));
	if (defaults && parse_layer(c, defaults, &dl, 1) < 0)
		goto out;
	cfg->accounts = xcalloc(accounts->n, sizeof(*cfg->accounts));
	for (size_t i = 0; i < accounts->n; i++) {
		cfg->n_accounts = i + 1; /* so that config_free() releases a half-built one */
		if (load_account(c, &dl, accounts->items[i], i, &cfg->accounts[i]) < 0)
			goto out;
	}
	rc = check_duplicate_names(c, cfg, accounts);
out:
	layer_free(&dl);
	return rc;
}

int config_load_buffer(const char *name, const char *data, size_t len,
		       struct config *out, char *err, size_t errlen)
{
	struct ctx c = { .path = name, .msg = BUF_INIT, .scratch = BUF_INIT };
	struct node *root = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (len > CONFIG_MAX_SIZE) {
		fail_pos(&c, 0, 0, "the configuration is larger than 1 MiB");
		goto out;
	}
	if (!len) {
		fail_pos(&c, 1, 1, "the configuration is empty (expected a mapping with an \"accounts\" key)");
		goto out;
	}
	if (check_text(&c, (const unsigned char *)data, len) < 0 || parse_document(&c, data, len, &root) < 0)
		goto out;
	out->path = xstrdup(name);
	if (validate(&c, root, out) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0) {
		config_free(out);
		set_err(err, errlen, "%s", c.msg.data ? c.msg.data : "invalid configuration");
	}
	node_free(root);
	buf_free(&c.msg);
	buf_free(&c.scratch);
	return rc;
}

int config_load(const char *path, struct config *out, char *err, size_t errlen)
{
	struct buf data = BUF_INIT;
	struct stat st;
	int fd, rc = -1;

	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		set_err(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		set_err(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		set_err(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	for (;;) {
		ssize_t n;
		buf_grow(&data, 65536);
		n = read(fd, data.data + data.len, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			set_err(err, errlen, "%s: read: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		data.len += (size_t)n;
		if (data.len > CONFIG_MAX_SIZE) {
			set_err(err, errlen, "%s: the configuration is larger than 1 MiB", path);
			goto out;
		}
	}
	rc = config_load_buffer(path, data.data, data.len, out, err, errlen);
out:
	close(fd);
	buf_free(&data);
	return rc;
}

static void account_free(struct account *a)
{
	free(a->name);
	free(a->root);
	free(a->host);
	free(a->ca_file);
	free(a->user);
	free(a->password_arg);
	strlist_free(&a->include);
	strlist_free(&a->exclude);
	free(a->snapshot_repo);
	free(a->snapshot_branch);
	free(a->snapshot_author);
	free(a->origin);
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_accounts; i++)
		account_free(&cfg->accounts[i]);
	free(cfg->accounts);
	free(cfg->path);
	memset(cfg, 0, sizeof(*cfg));
}

const struct account *config_find_account(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_accounts; i++)
		if (!strcmp(cfg->accounts[i].name, name))
			return &cfg->accounts[i];
	return NULL;
}

char *config_default_path(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	struct buf b = BUF_INIT;
	if (xdg && xdg[0] == '/') { /* relative values are invalid per the XDG spec */
		buf_addf(&b, "%s/mailkeep/config.yaml", xdg);
		return buf_detach(&b);
	}
	if (!home || !*home) {
		struct passwd *pw = getpwuid(getuid());
		home = pw ? pw->pw_dir : NULL;
	}
	if (!home)
		return NULL;
	buf_addf(&b, "%s/.config/mailkeep/config.yaml", home);
	return buf_detach(&b);
}

/* ---- passwords ------------------------------------------------------- */

/* Reads FD into BUF (PASSWORD_MAX + 1 bytes, fixed so that no realloc leaves
 * copies of the secret behind). Returns the length, or -1 when too long or on
 * a read error (errno set; E2BIG when too long). */
static ssize_t read_secret(int fd, char *buf)
{
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, PASSWORD_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return (ssize_t)len;
		len += (size_t)n;
		if (len > PASSWORD_MAX) {
			errno = E2BIG;
			return -1;
		}
	}
}

/* The first line of BUF without CR/LF, as a new string, or NULL with err set. */
static char *first_line(const struct account *a, const char *what, char *buf, size_t len,
			char *err, size_t errlen)
{
	char *nl = memchr(buf, '\n', len);
	if (nl)
		len = (size_t)(nl - buf);
	while (len && (buf[len - 1] == '\r' || buf[len - 1] == '\n'))
		len--;
	if (memchr(buf, '\0', len)) {
		set_err(err, errlen, "account \"%s\": %s contains a NUL byte", a->name, what);
		return NULL;
	}
	if (!len) {
		set_err(err, errlen, "account \"%s\": %s gave an empty password", a->name, what);
		return NULL;
	}
	return xstrndup(buf, len);
}

static char *password_from_command(const struct account *a, char *buf, char *err, size_t errlen)
{
	char *argv[] = { (char *)"sh", (char *)"-c", a->password_arg, NULL };
	posix_spawn_file_actions_t fa;
	int fds[2] = { -1, -1 }, status = 0, e;
	pid_t pid = -1;
	ssize_t len;
	char *pw = NULL;

	if (pipe2(fds, O_CLOEXEC) < 0) {
		set_err(err, errlen, "account \"%s\": password_command: pipe: %s", a->name, strerror(errno));
		return NULL;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	e = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (e) {
		set_err(err, errlen, "account \"%s\": password_command: cannot run /bin/sh: %s", a->name,
			strerror(e));
		goto out;
	}
	len = read_secret(fds[0], buf);
	e = errno;
	close(fds[0]); /* a command still writing gets SIGPIPE */
	fds[0] = -1;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			set_err(err, errlen, "account \"%s\": password_command: waitpid: %s", a->name,
				strerror(errno));
			goto out;
		}
	}
	if (len < 0 && e == E2BIG)
		set_err(err, errlen, "account \"%s\": password_command: output is larger than 64 KiB", a->name);
	else if (WIFSIGNALED(status))
		set_err(err, errlen, "account \"%s\": password_command was killed by signal %d", a->name,
			WTERMSIG(status));
	else if (WEXITSTATUS(status))
		set_err(err, errlen, "account \"%s\": password_command exited with status %d", a->name,
			WEXITSTATUS(status));
	else if (len < 0)
		set_err(err, errlen, "account \"%s\": password_command: read: %s", a->name, strerror(e));
	else
		pw = first_line(a, "password_command output", buf, (size_t)len, err, errlen);
out:
	if (fds[0] >= 0)
		close(fds[0]);
	return pw;
}

static char *password_from_file(const struct account *a, char *buf, char *err, size_t errlen)
{
	const char *path = a->password_arg;
	struct stat st;
	ssize_t len;
	char *pw = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0) {
		set_err(err, errlen, "account \"%s\": password_file \"%s\": %s", a->name, path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		set_err(err, errlen, "account \"%s\": password_file \"%s\": %s", a->name, path, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		set_err(err, errlen, "account \"%s\": password_file \"%s\" is not a regular file", a->name, path);
	} else if (st.st_mode & 077) {
		set_err(err, errlen, "account \"%s\": password_file \"%s\" is accessible by group or others "
			"(mode %04o); run: chmod 600 '%s'", a->name, path, (unsigned)(st.st_mode & 07777), path);
	} else if ((len = read_secret(fd, buf)) < 0) {
		/* a first line within the limit is all that is needed */
		char *nl = errno == E2BIG ? memchr(buf, '\n', PASSWORD_MAX) : NULL;
		if (nl)
			pw = first_line(a, "password_file", buf, (size_t)(nl - buf), err, errlen);
		else
			set_err(err, errlen, "account \"%s\": password_file \"%s\": %s", a->name, path,
				errno == E2BIG ? "first line is longer than 64 KiB" : strerror(errno));
	} else {
		pw = first_line(a, "password_file", buf, (size_t)len, err, errlen);
	}
	close(fd);
	return pw;
}

static char *password_from_env(const struct account *a, char *err, size_t errlen)
{
	const char *v = getenv(a->password_arg);
	size_t len;
	if (!v || !*v) {
		set_err(err, errlen, "account \"%s\": environment variable \"%s\" (password_env) is %s", a->name,
			a->password_arg, v ? "empty" : "not set");
		return NULL;
	}
	len = strlen(v);
	while (len && (v[len - 1] == '\r' || v[len - 1] == '\n'))
		len--;
	if (!len) {
		set_err(err, errlen, "account \"%s\": environment variable \"%s\" (password_env) is empty",
			a->name, a->password_arg);
		return NULL;
	}
	return xstrndup(v, len);
}

char *config_get_password(const struct account *acct, char *err, size_t errlen)
{
	char *buf, *pw = NULL;
	if (!acct->password_arg || acct->password_source == PASSWORD_NONE) {
		set_err(err, errlen, "account \"%s\": no password source configured", acct->name);
		return NULL;
	}
	if (acct->password_source == PASSWORD_ENV)
		return password_from_env(acct, err, errlen);
	buf = xmalloc(PASSWORD_MAX + 1);
	if (acct->password_source == PASSWORD_COMMAND)
		pw = password_from_command(acct, buf, err, errlen);
	else
		pw = password_from_file(acct, buf, err, errlen);
	explicit_bzero(buf, PASSWORD_MAX + 1);
	free(buf);
	return pw;
}

/* ---- folder globs ---------------------------------------------------- */

/* Length of the character at S (invalid bytes count as one character). */
static size_t char_len(const char *s, size_t rem)
{
	uint32_t cp;
	size_t n = utf8_decode((const unsigned char *)s, rem, &cp);
	return n ? n : 1;
}

static unsigned class_char(const char **pp)
{
	const char *p = *pp;
	if (*p == '\\' && p[1])
		p++;
	*pp = p + 1;
	return (unsigned char)*p;
}

/* P is just after '[', CLOSE the ']'; CH is an ASCII byte or 0x100 for any
 * other character (which only a negated class matches). */
static int class_matches(const char *p, const char *close, unsigned ch)
{
	int negated = *p == '!' || *p == '^', hit = 0;
	p += negated;
	while (p < close) {
		unsigned lo = class_char(&p), hi = lo;
		if (*p == '-' && p + 1 < close) {
			p++;
			hi = class_char(&p);
		}
		if (ch >= lo && ch <= hi)
			hit = 1;
	}
	return hit != negated;
}

/* Whether the single-character token at P (ending at END) matches the
 * character S[0..slen). */
static int token_matches(const char *p, const char *end, const char *s, size_t slen)
{
	if (*p == '?')
		return 1;
	if (*p == '[' && end[-1] == ']' && end - p > 1)
		return class_matches(p + 1, end - 1,
				     slen == 1 && (unsigned char)*s < 0x80 ? (unsigned char)*s : 0x100);
	if (*p == '\\' && end - p > 1)
		p++;
	return (size_t)(end - p) == slen && !memcmp(p, s, slen);
}

static const char *token_end(const char *p)
{
	if (*p == '[') {
		const char *close = class_close(p + 1);
		if (close)
			return close + 1;
	} else if (*p == '\\' && p[1]) {
		return p + 1 + char_len(p + 1, strlen(p + 1));
	}
	return p + char_len(p, strlen(p));
}

/* Dynamic programming over (pattern token, string character): O(|p| * |s|)
 * whatever the number of stars, no backtracking. row[j] says whether the
 * pattern so far matches the first j characters of S. */
static int glob_match(const char *pat, const char *s)
{
	size_t n = strlen(s), m = 0, *off = xmalloc((n + 1) * sizeof(*off));
	unsigned char *row, *next, *tmp;
	int result;

	for (size_t i = 0; i < n; i += char_len(s + i, n - i))
		off[m++] = i;
	off[m] = n;
	row = xcalloc(m + 1, 1);
	next = xcalloc(m + 1, 1);
	row[0] = 1;
	while (*pat) {
		int any = 0;
		if (*pat == '*' || *pat == '%') {
			int cross = *pat == '*';
			next[0] = row[0];
			for (size_t j = 1; j <= m; j++)
				next[j] = row[j] || (next[j - 1] && (cross || s[off[j - 1]] != '/'));
			pat++;
		} else {
			const char *end = token_end(pat);
			next[0] = 0;
			for (size_t j = 1; j <= m; j++)
				next[j] = row[j - 1] && token_matches(pat, end, s + off[j - 1], off[j] - off[j - 1]);
			pat = end;
		}
		tmp = row, row = next, next = tmp;
		for (size_t j = 0; j <= m && !any; j++)
			any = row[j];
		if (!any)
			break;
	}
	result = row[m] && !*pat;
	free(off);
	free(row);
	free(next);
	return result;
}

/* "INBOX" followed by the end or '/', in any case. */
static int inbox_component(const char *s)
{
	return !strncasecmp(s, "INBOX", 5) && (s[5] == '\0' || s[5] == '/');
}

int config_folder_match(const char *pattern, const char *folder)
{
	/* RFC 3501 §5.1: INBOX is case-insensitive, every other name is not. */
	if (inbox_component(pattern) && inbox_component(folder))
		return glob_match(pattern + 5, folder + 5);
	return glob_match(pattern, folder);
}

int config_folder_selected(const struct account *acct, const char *folder)
{
	int included = 0;
	for (size_t i = 0; i < acct->include.n && !included; i++)
		included = config_folder_match(acct->include.items[i], folder);
	if (!included)
		return 0;
	for (size_t i = 0; i < acct->exclude.n; i++)
		if (config_folder_match(acct->exclude.items[i], folder))
			return 0;
	return 1;
}
