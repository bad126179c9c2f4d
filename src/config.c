/* Configuration: the schema in config.h -> validated account structs.
 *
 * config_yaml.c turns the text into a node tree with positions; here every
 * value is checked once, in the mapping it appears in ("defaults" or one
 * account), so messages point at the offending line, and then the defaults
 * are applied to each account. */
#include "mailkeep/config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailkeep/buf.h"
#include "config_internal.h"

#define CONFIG_MAX_SIZE ((size_t)1 << 20)
#define ACCOUNT_NAME_MAX 64
#define PUSH_MAP_MAX 4096 /* entries; the duplicate check is quadratic */
/* What the accounts may take in memory once "defaults" (and environment
 * variables in paths) are copied into each: CONFIG_MAX_EXPANDED plus
 * CONFIG_ACCOUNT_ALLOWANCE per account (what a small account takes anyway).
 * Without a bound a 1 MiB file (long lists or strings in defaults, tens of
 * thousands of accounts) asks for many GiB. */
#define CONFIG_MAX_EXPANDED ((size_t)16 << 20)
#define CONFIG_ACCOUNT_ALLOWANCE ((size_t)1024)

void config_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- schema ---------------------------------------------------------- */

enum key {
	K_NAME, K_ROOT, K_HOST, K_PORT, K_TLS, K_CA_FILE, K_USER,
	K_PASSWORD_COMMAND, K_PASSWORD_ENV, K_PASSWORD_FILE, K_TOKEN_COMMAND, K_AUTH, K_FOLDERS, K_DELETIONS,
	K_TIMEOUT, K_MAX_CONNECTIONS, K_PIPELINE_DEPTH, K_SNAPSHOT, K_SNAPSHOT_REPO, K_SNAPSHOT_BRANCH, K_SNAPSHOT_AUTHOR, K_PUSH_MAP,
	K_GMAIL_DEDUPE, K_COMPRESS,
	K_COUNT
};

enum value_type {
	T_NAME, T_PATH, T_HOST, T_INT, T_ENUM, T_TEXT, T_COMMAND, T_ENV_NAME, T_FOLDERS,
	T_BOOL, T_BRANCH, T_AUTHOR, T_PUSH_MAP
};

#define PATH_EXPECT "a path (non-empty, no control characters)"

static const char *const tls_names[] = { "implicit", "starttls", "none", NULL };
static const char *const deletions_names[] = { "mirror", "keep", NULL };
static const char *const auth_names[] = { "plain", "login", "xoauth2", "oauthbearer", NULL };

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
	[K_HOST] = { "host", T_HOST, "a host name or IP address (ASCII, no whitespace, labels of 1..63 "
		     "characters; no scheme or port: those are the tls and port keys)", 0, 0, NULL },
	[K_PORT] = { "port", T_INT, "an integer 1..65535", 1, 65535, NULL },
	[K_TLS] = { "tls", T_ENUM, "one of implicit, starttls, none", 0, 0, tls_names },
	[K_CA_FILE] = { "ca_file", T_PATH, PATH_EXPECT, 0, 0, NULL },
	[K_USER] = { "user", T_TEXT, "a non-empty string without control characters", 0, 0, NULL },
	[K_PASSWORD_COMMAND] = { "password_command", T_COMMAND, "a non-empty shell command", 0, 0, NULL },
	[K_PASSWORD_ENV] = { "password_env", T_ENV_NAME, "an environment variable name "
			     "([A-Za-z_][A-Za-z0-9_]*)", 0, 0, NULL },
	[K_PASSWORD_FILE] = { "password_file", T_PATH, PATH_EXPECT, 0, 0, NULL },
	[K_TOKEN_COMMAND] = { "token_command", T_COMMAND, "a non-empty shell command", 0, 0, NULL },
	[K_AUTH] = { "auth", T_ENUM, "one of plain, login, xoauth2, oauthbearer", 0, 0, auth_names },
	[K_FOLDERS] = { "folders", T_FOLDERS, "a mapping with \"include\" and/or \"exclude\"", 0, 0, NULL },
	[K_DELETIONS] = { "deletions", T_ENUM, "one of mirror, keep", 0, 0, deletions_names },
	[K_TIMEOUT] = { "timeout", T_INT, "an integer 1..3600 (seconds)", 1, 3600, NULL },
	[K_MAX_CONNECTIONS] = { "max_connections", T_INT, "an integer 1..16", 1, 16, NULL },
	[K_PIPELINE_DEPTH] = { "pipeline_depth", T_INT, "an integer 1..64", 1, 64, NULL },
	[K_SNAPSHOT] = { "snapshot", T_BOOL, "a boolean (true/false/yes/no/on/off)", 0, 0, NULL },
	[K_SNAPSHOT_REPO] = { "snapshot_repo", T_PATH, PATH_EXPECT, 0, 0, NULL },
	[K_SNAPSHOT_BRANCH] = { "snapshot_branch", T_BRANCH, "a git branch name", 0, 0, NULL },
	[K_SNAPSHOT_AUTHOR] = { "snapshot_author", T_AUTHOR, "\"Name <email>\"", 0, 0, NULL },
	[K_GMAIL_DEDUPE] = { "gmail_dedupe", T_BOOL, "a boolean (true/false/yes/no/on/off)", 0, 0, NULL },
	[K_COMPRESS] = { "compress", T_BOOL, "a boolean (true/false/yes/no/on/off)", 0, 0, NULL },
	[K_PUSH_MAP] = { "push_map", T_PUSH_MAP, "a mapping of source folder names to target folder names",
			 0, 0, NULL },
};

const char *const config_known_keys[] = {
	"defaults", "accounts",
	"name", "root", "host", "port", "tls", "ca_file", "user",
	"password_command", "password_env", "password_file", "token_command", "auth", "folders", "deletions",
	"timeout", "max_connections", "pipeline_depth", "snapshot", "snapshot_repo", "snapshot_branch", "snapshot_author",
	"push_map", "gmail_dedupe", "compress", "include", "exclude",
	NULL
};

static const char *const top_level_keys[] = { "defaults", "accounts", NULL };
static const char *const folders_keys[] = { "include", "exclude", NULL };

#define PASSWORD_KEYS "password_command, password_env, password_file, token_command"
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
	struct push_map_entry *map; /* K_PUSH_MAP */
	size_t n_map;
	char *password_file_shown; /* K_PASSWORD_FILE as written, when it holds a $VAR */
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

static void push_map_free(struct push_map_entry **map, size_t *n)
{
	for (size_t i = 0; i < *n; i++) {
		free((*map)[i].source);
		free((*map)[i].target);
	}
	free(*map);
	*map = NULL;
	*n = 0;
}

static void layer_free(struct layer *l)
{
	for (int k = 0; k < K_COUNT; k++)
		free(l->str[k]);
	strlist_free(&l->include);
	strlist_free(&l->exclude);
	push_map_free(&l->map, &l->n_map);
	free(l->password_file_shown);
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
	if (strpbrk(s, " ~^:?*[\\") || config_has_control(s, ""))
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
	if (!lt || lt == s || lt[-1] != ' ' || s[len - 1] != '>' || config_has_control(s, ""))
		return 0;
	if (strspn(s, " ") >= (size_t)(lt - s) || memchr(s, '>', (size_t)(lt - s)))
		return 0;
	at = strchr(lt, '@');
	if (!at || at == lt + 1 || at + 1 >= s + len - 1)
		return 0;
	return !strpbrk(lt + 1, "< ") && strchr(lt, '>') == s + len - 1;
}

/* The user's home: $HOME, else (unset or empty, as under some cron daemons
 * and systemd units) the password database's; NULL when neither says. */
static const char *home_dir(void)
{
	const char *home = getenv("HOME");
	if (!home || !*home) {
		struct passwd *pw = getpwuid(getuid());
		home = pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : NULL;
	}
	return home;
}

/* HOME's length without its trailing slashes ("/home/me/" + "/Mail"; "/" is 0) */
static size_t home_len(const char *home)
{
	size_t l = strlen(home);
	while (l > 0 && home[l - 1] == '/')
		l--;
	return l;
}

/* Expands a leading "~" and $VAR / ${VAR} into OUT; on failure describes the
 * problem in WHY. */
static int expand_path(const char *s, struct buf *out, struct buf *why)
{
	if (s[0] == '~') {
		const char *home = home_dir();
		if (s[1] && s[1] != '/') {
			buf_adds(why, "\"~user\" is not supported, only a leading \"~\" or \"~/\"");
			return -1;
		}
		if (!home) {
			buf_adds(why, "HOME is not set and the password database has no home (needed for \"~\")");
			return -1;
		}
		size_t l = home_len(home);
		buf_add(out, home, l);
		if (!l && !s[1]) /* "~" itself, HOME "/" */
			buf_addch(out, '/');
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

static int parse_patterns(struct ctx *c, struct layer *l, const char *key, const struct node *v,
			  struct strlist *out)
{
	const struct node *const *items = &v;
	size_t n = 1;
	if (config_node_check(c, v, l->where, key) < 0)
		return -1;
	if (v->kind == NODE_SEQUENCE) {
		items = (const struct node *const *)v->items;
		n = v->n;
		if (!n && out == &l->include)
			return config_fail_at(c, v, l->where, key,
					      "must not be empty (omit it to include every folder)");
	} else if (v->kind != NODE_SCALAR || v->is_null) {
		return config_fail_at(c, v, l->where, key,
				      "expected a glob pattern or a sequence of glob patterns, got %s",
				      config_node_desc(v));
	}
	strlist_free(out);
	out->items = xcalloc(n, sizeof(*out->items));
	for (size_t i = 0; i < n; i++) {
		const struct node *it = items[i];
		const char *why;
		if (config_node_check(c, it, l->where, key) < 0)
			return -1;
		if (it->kind != NODE_SCALAR || it->is_null)
			return config_fail_at(c, it, l->where, key, "item %zu: expected a glob pattern, got %s",
					      i + 1, config_node_desc(it));
		if (!*it->value || config_has_control(it->value, ""))
			return config_fail_at(c, it, l->where, key, "item %zu: expected a non-empty glob "
					      "pattern without control characters, got %s", i + 1,
					      config_quoted(c, it->value));
		if ((why = config_glob_problem(it->value)))
			return config_fail_at(c, it, l->where, key, "invalid glob pattern %s: %s",
					      config_quoted(c, it->value), why);
		out->items[out->n++] = xstrdup(it->value);
	}
	return 0;
}

static int parse_folders(struct ctx *c, struct layer *l, const struct node *v)
{
	const struct node *seen[2] = { NULL, NULL };
	if (v->kind != NODE_MAPPING)
		return config_fail_at(c, v, l->where, "folders", "expected %s, got %s", keys[K_FOLDERS].expect,
				      config_node_desc(v));
	for (size_t i = 0; i + 1 < v->n; i += 2) {
		const struct node *k = v->items[i];
		int which;
		if (config_check_key_node(c, k, l->where) < 0)
			return -1;
		if (!strcmp(k->value, "include"))
			which = 0;
		else if (!strcmp(k->value, "exclude"))
			which = 1;
		else
			return config_unknown_key(c, k, l->where, folders_keys, " in \"folders\"");
		if (seen[which])
			return config_duplicate_key(c, k, seen[which], l->where, " in \"folders\"");
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

/* Why S cannot be a folder name of push_map, or NULL. */
static const char *folder_name_problem(const char *s)
{
	size_t len = strlen(s);
	if (!len)
		return "a folder name must not be empty";
	if (config_has_control(s, ""))
		return "a folder name must not contain control characters";
	if (s[0] == '/' || s[len - 1] == '/' || strstr(s, "//"))
		return "'/' separates levels: no leading, trailing or doubled '/'";
	return NULL;
}

/* 1 when A and B name the same folder: equal, or equal but for the letter
 * case of a first level INBOX (RFC 3501 §5.1). */
static int same_folder(const char *a, const char *b)
{
	size_t la = strcspn(a, "/"), lb = strcspn(b, "/");
	if (la == 5 && lb == 5 && !strncasecmp(a, "INBOX", 5) && !strncasecmp(b, "INBOX", 5))
		return !strcmp(a + 5, b + 5);
	return !strcmp(a, b);
}

static int parse_push_map(struct ctx *c, struct layer *l, const struct node *v)
{
	const char *why;
	if (v->kind != NODE_MAPPING)
		return config_fail_at(c, v, l->where, "push_map", "expected %s, got %s",
				      keys[K_PUSH_MAP].expect, config_node_desc(v));
	if (v->n / 2 > PUSH_MAP_MAX)
		return config_fail_at(c, v, l->where, "push_map", "more than %d entries", PUSH_MAP_MAX);
	push_map_free(&l->map, &l->n_map);
	l->map = xcalloc(v->n / 2 + 1, sizeof(*l->map));
	for (size_t i = 0; i + 1 < v->n; i += 2) {
		const struct node *k = v->items[i], *t = v->items[i + 1];
		if (config_check_key_node(c, k, l->where) < 0)
			return -1;
		if (k->is_null)
			return config_fail_at(c, k, l->where, "push_map", "expected a source folder name, got null");
		if ((why = folder_name_problem(k->value)))
			return config_fail_at(c, k, l->where, "push_map", "source folder %s: %s",
					      config_quoted(c, k->value), why);
		for (size_t j = 0; j < i; j += 2)
			if (same_folder(v->items[j]->value, k->value))
				return config_duplicate_key(c, k, v->items[j], l->where, " in \"push_map\"");
		if (config_node_check(c, t, l->where, "push_map") < 0)
			return -1;
		if (t->kind != NODE_SCALAR || t->is_null)
			return config_fail_at(c, t, l->where, "push_map",
					      "source folder %s: expected a target folder name, got %s",
					      config_quoted(c, k->value), config_node_desc(t));
		if ((why = folder_name_problem(t->value)))
			return config_fail_at(c, t, l->where, "push_map", "target folder %s: %s",
					      config_quoted(c, t->value), why);
		l->map[l->n_map].source = xstrdup(k->value);
		l->map[l->n_map].target = xstrdup(t->value);
		l->n_map++;
	}
	return 0;
}

static int parse_path(struct ctx *c, struct layer *l, enum key k, const struct node *v)
{
	struct buf out = BUF_INIT, why = BUF_INIT;
	int rc = -1;
	if (!*v->value || config_has_control(v->value, "")) {
		config_fail_at(c, v, l->where, keys[k].name, "expected %s, got %s", keys[k].expect,
			       config_quoted(c, v->value));
		goto out;
	}
	if (expand_path(v->value, &out, &why) < 0) {
		config_fail_at(c, v, l->where, keys[k].name, "%s", why.data);
		goto out;
	}
	if (!out.len) {
		config_fail_at(c, v, l->where, keys[k].name, "path %s is empty after expansion",
			       config_quoted(c, v->value));
		goto out;
	}
	if (config_has_control(out.data, "")) { /* from a variable; its value is not shown */
		config_fail_at(c, v, l->where, keys[k].name, "path %s holds a control character (a newline...) "
			       "after expansion", config_quoted(c, v->value));
		goto out;
	}
	l->str[k] = buf_detach(&out);
	if (k == K_PASSWORD_FILE && strchr(v->value, '$'))
		l->password_file_shown = xstrdup(v->value); /* not the expansion: a password_env mix-up */
	rc = 0;
out:
	buf_free(&out);
	buf_free(&why);
	return rc;
}

/* A DNS name or an IPv4/IPv6 address, as getaddrinfo() takes it: printable
 * ASCII (an international name in its xn-- form), no "imaps://", no ":993". */
static int host_ok(const char *s)
{
	struct in6_addr a6;
	if (!*s)
		return 0;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || strchr("/\\@?#[]\"'<>", *p))
			return 0;
	if (!strchr(s, ':')) {
		/* a DNS name: labels of 1..63 characters, at most 253 in all (and a
		 * final dot) */
		size_t len = strlen(s), label = 0;
		if (len > 253 + (s[len - 1] == '.'))
			return 0;
		for (const char *p = s; *p; p++) {
			if (*p != '.')
				label++;
			else if (!label)
				return 0;
			else
				label = 0;
			if (label > 63)
				return 0;
		}
		return 1;
	}
	/* an IPv6 address, maybe with a zone ("fe80::1%eth0") */
	char addr[INET6_ADDRSTRLEN];
	size_t n = strcspn(s, "%");
	if (n >= sizeof(addr) || (s[n] && !s[n + 1]))
		return 0;
	memcpy(addr, s, n);
	addr[n] = '\0';
	return inet_pton(AF_INET6, addr, &a6) == 1;
}

static int string_ok(enum value_type t, const char *s)
{
	switch (t) {
	case T_NAME: return valid_account_name(s);
	case T_HOST: return host_ok(s);
	case T_TEXT: return *s && !config_has_control(s, "");
	case T_COMMAND: return *s && !config_has_control(s, "\t\n");
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
	if (config_node_check(c, v, l->where, ki->name) < 0)
		return -1;
	if (ki->type == T_FOLDERS)
		return parse_folders(c, l, v);
	if (ki->type == T_PUSH_MAP)
		return parse_push_map(c, l, v);
	if (v->kind != NODE_SCALAR || v->is_null)
		return config_fail_at(c, v, l->where, ki->name, "expected %s, got %s", ki->expect,
				      config_node_desc(v));
	/* an explicit core tag must agree with the key: "!!str" fits any scalar,
	 * "!!int" only a number key, "!!bool" only a boolean one */
	if (v->tag && strcmp(v->tag, "str") != 0 && !(ki->type == T_INT && !strcmp(v->tag, "int")) &&
	    !(ki->type == T_BOOL && !strcmp(v->tag, "bool")))
		return config_fail_at(c, v, l->where, ki->name, "expected %s, got a value tagged !!%s",
				      ki->expect, v->tag);
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
	if (bad && (k == K_PASSWORD_ENV || ki->type == T_COMMAND))
		/* not echoed: a password pasted here, or a command embedding one */
		return config_fail_at(c, v, l->where, ki->name, "expected %s (the value is not shown)",
				      ki->expect);
	if (bad)
		return config_fail_at(c, v, l->where, ki->name, "expected %s, got %s", ki->expect,
				      config_quoted(c, v->value));
	return 0;
}

static int is_password_key(int k)
{
	return k == K_PASSWORD_COMMAND || k == K_PASSWORD_ENV || k == K_PASSWORD_FILE ||
	       k == K_TOKEN_COMMAND;
}

static const struct node *layer_password_key(const struct layer *l)
{
	for (int k = K_PASSWORD_COMMAND; k <= K_TOKEN_COMMAND; k++)
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
		if (config_check_key_node(c, key, l->where) < 0)
			return -1;
		for (k = 0; k < K_COUNT && strcmp(key->value, keys[k].name); k++)
			;
		if (k == K_COUNT && (!strcmp(key->value, "include") || !strcmp(key->value, "exclude")))
			return config_fail_at(c, key, l->where, NULL, "unknown key \"%s\" (did you mean "
					      "\"folders\", with \"%s\" in it?)", key->value, key->value);
		if (k == K_COUNT)
			return config_unknown_key(c, key, l->where, account_key_names, "");
		if (k == K_NAME && is_defaults)
			return config_fail_at(c, key, l->where, NULL, "key \"name\" is not allowed in defaults");
		if (l->key[k])
			return config_duplicate_key(c, key, l->key[k], l->where, "");
		if (is_password_key(k) && layer_password_key(l))
			return config_fail_at(c, key, l->where, NULL, "exactly one of " PASSWORD_KEYS
					      " is required (found \"%s\" and \"%s\")",
					      layer_password_key(l)->value, keys[k].name);
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
			config_fail_at(c, map, al->where, "root", "default \"" DEFAULT_ROOT "\": %s", why.data);
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
	for (int k = K_PASSWORD_COMMAND; k <= K_TOKEN_COMMAND; k++) {
		if (l->key[k]) {
			/* token_command is password_command by another name: it prints an
			 * OAuth2 access token, for auth: xoauth2 / oauthbearer */
			a->password_source = k == K_PASSWORD_COMMAND || k == K_TOKEN_COMMAND ? PASSWORD_COMMAND :
					     k == K_PASSWORD_ENV ? PASSWORD_ENV : PASSWORD_FILE;
			a->password_arg = xstrdup(l->str[k]);
			a->password_key = keys[k].name;
			if (k == K_PASSWORD_FILE && l->password_file_shown)
				a->password_file_shown = xstrdup(l->password_file_shown);
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
			return config_fail_at(c, map, al->where, NULL, "missing required key \"%s\"",
					      keys[required[i]].name);
	if (!layer_password_key(al) && !layer_password_key(dl))
		return config_fail_at(c, map, al->where, NULL, "exactly one of " PASSWORD_KEYS " is required");
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
	a->auth = (enum auth_mode)pick_num(dl, al, K_AUTH, AUTH_PLAIN);
	a->timeout = (int)pick_num(dl, al, K_TIMEOUT, 60);
	a->max_connections = (int)pick_num(dl, al, K_MAX_CONNECTIONS, 2);
	a->pipeline_depth = (int)pick_num(dl, al, K_PIPELINE_DEPTH, 4);
	a->snapshot = (int)pick_num(dl, al, K_SNAPSHOT, 0);
	a->gmail_dedupe = (int)pick_num(dl, al, K_GMAIL_DEDUPE, 1);
	a->compress = (int)pick_num(dl, al, K_COMPRESS, 0);
	a->snapshot_repo = pick_str(dl, al, K_SNAPSHOT_REPO, NULL);
	if (!a->snapshot_repo) {
		buf_addf(&b, "%s%s%s.git", a->root, strcmp(a->root, "/") ? "/" : "", a->name);
		a->snapshot_repo = buf_detach(&b);
	}
	a->snapshot_branch = pick_str(dl, al, K_SNAPSHOT_BRANCH, DEFAULT_BRANCH);
	a->snapshot_author = pick_str(dl, al, K_SNAPSHOT_AUTHOR, DEFAULT_AUTHOR);
	if ((fl = pick(dl, al, K_PUSH_MAP)) != NULL) { /* replaced as a whole, like folders */
		a->push_map = xcalloc(fl->n_map + 1, sizeof(*a->push_map));
		for (a->n_push_map = 0; a->n_push_map < fl->n_map; a->n_push_map++) {
			a->push_map[a->n_push_map].source = xstrdup(fl->map[a->n_push_map].source);
			a->push_map[a->n_push_map].target = xstrdup(fl->map[a->n_push_map].target);
		}
	}
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
	if (config_node_check(c, map, al.where, NULL) < 0)
		goto out;
	if (map->kind != NODE_MAPPING) {
		config_fail_at(c, map, al.where, NULL, "expected a mapping (an account), got %s",
			       config_node_desc(map));
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
	return config_fail_pos(c, seq->items[dup]->line, seq->items[dup]->col,
			       "accounts[%zu]: duplicate account name \"%s\" (first defined at %s)", dup,
			       cfg->accounts[dup].name, cfg->accounts[first].origin);
}

/* A directory path made comparable: '/'-separated, no empty or "." parts,
 * ".." taken back lexically (symbolic links are not followed). A relative
 * ROOT is taken from CWD (when known), as the run will: "mail" and
 * "/home/me/mail" are one directory when run from /home/me. */
static char *path_norm(const char *cwd, const char *root, const char *name)
{
	struct buf in = BUF_INIT, out = BUF_INIT;
	if (root[0] != '/' && cwd)
		buf_addf(&in, "%s/", cwd);
	buf_addf(&in, "%s/%s", root, name ? name : "");
	for (const char *p = in.data; *p;) {
		size_t l = strcspn(p, "/");
		if (l == 2 && p[0] == '.' && p[1] == '.') {
			char *slash = out.len ? strrchr(out.data, '/') : NULL;
			if (slash && strcmp(slash, "/..") && slash != out.data) {
				out.len = (size_t)(slash - out.data);
				out.data[out.len] = '\0';
			} else if (in.data[0] == '/') {
				buf_reset(&out); /* "/.." is "/" */
			} else {
				buf_adds(&out, out.len || in.data[0] == '/' ? "/.." : "..");
			}
		} else if (l && !(l == 1 && p[0] == '.')) {
			if (out.len || in.data[0] == '/')
				buf_addch(&out, '/');
			buf_add(&out, p, l);
		}
		p += l;
		p += *p == '/';
	}
	if (!out.len)
		buf_adds(&out, in.data[0] == '/' ? "/" : ".");
	buf_free(&in);
	return buf_detach(&out);
}

struct dir_ref {
	char *path; /* an account's mirror or snapshot repository */
	size_t idx;
};

/* Paths in an order where a directory comes right before what it holds:
 * '/' sorts before every other byte. */
static int dir_ref_cmp(const void *x, const void *y)
{
	const unsigned char *a = (const unsigned char *)((const struct dir_ref *)x)->path;
	const unsigned char *b = (const unsigned char *)((const struct dir_ref *)y)->path;
	for (; *a && *a == *b; a++, b++)
		;
	unsigned ca = *a == '/' ? 1 : *a, cb = *b == '/' ? 1 : *b;
	return (ca > cb) - (ca < cb);
}

static int holds(const char *dir, const char *path)
{
	size_t l = strlen(dir);
	return !strncmp(dir, path, l) && (path[l] == '/' || path[l] == '\0' || !strcmp(dir, "/"));
}

/* An account's snapshot repository REPO and its mirror MIRROR (normalised)
 * in each other's way: the same directory, the mirror inside the repository
 * (which then cannot be created), or the repository inside the mirror where
 * a folder of the server (any name not starting with '.') or the mirror's
 * .mailkeep can be. A hidden directory such as <mirror>/.git is fine. */
static int self_overlap(const char *mirror, const char *repo)
{
	size_t l = strlen(mirror);
	const char *below;
	if (holds(repo, mirror))
		return 1;
	if (!holds(mirror, repo))
		return 0;
	below = repo + l + (strcmp(mirror, "/") != 0);
	return below[0] != '.' || !strncmp(below, ".mailkeep", 9);
}

/* Two accounts whose mirrors (or one's mirror and another's snapshot
 * repository) are the same directory or one inside the other would write
 * over each other: refused. O(n log n), like the name check. */
static int check_overlapping_dirs(struct ctx *c, const struct config *cfg, const struct node *seq)
{
	size_t n = 0, top = 0, bad = SIZE_MAX, other = 0;
	struct dir_ref *refs = xcalloc(2 * cfg->n_accounts + 1, sizeof(*refs));
	size_t *stack = xcalloc(2 * cfg->n_accounts + 1, sizeof(*stack));
	char *cwd = getcwd(NULL, 0); /* NULL (a removed directory): relative paths compared as written */
	int rc = 0;
	for (size_t i = 0; i < cfg->n_accounts; i++) {
		const struct account *a = &cfg->accounts[i];
		refs[n++] = (struct dir_ref){ path_norm(cwd, a->root, a->name), i };
		if (!a->snapshot_repo) /* also without snapshot: true: `mailkeep snapshot NAME` uses it */
			continue;
		refs[n++] = (struct dir_ref){ path_norm(cwd, a->snapshot_repo, NULL), i };
		if (rc == 0 && self_overlap(refs[n - 2].path, refs[n - 1].path))
			rc = config_fail_pos(c, seq->items[i]->line, seq->items[i]->col,
					     "accounts[%zu]: account \"%s\": snapshot_repo \"%s\" and its mirror \"%s\" would write "
					     "over each other: the same directory, one inside the other (a hidden directory "
					     "of the mirror such as .git is fine, not .mailkeep); set root or snapshot_repo apart",
					     i, a->name, refs[n - 1].path, refs[n - 2].path);
	}
	if (rc < 0)
		goto out;
	qsort(refs, n, sizeof(*refs), dir_ref_cmp);
	for (size_t k = 0; k < n; k++) {
		while (top && !holds(refs[stack[top - 1]].path, refs[k].path))
			top--;
		for (size_t t = top; t-- > 0;) {
			const struct dir_ref *d = &refs[stack[t]];
			if (d->idx != refs[k].idx) {
				size_t later = d->idx > refs[k].idx ? d->idx : refs[k].idx;
				if (later < bad) {
					bad = later;
					other = d->idx + refs[k].idx - later;
				}
				break;
			}
		}
		stack[top++] = k;
	}
	if (bad != SIZE_MAX)
		rc = config_fail_pos(c, seq->items[bad]->line, seq->items[bad]->col,
				     "accounts[%zu]: account \"%s\" and account \"%s\" (at %s) would share a directory: "
				     "one's mirror or snapshot repository is, or is inside, the other's (set root or "
				     "snapshot_repo apart)",
				     bad, cfg->accounts[bad].name, cfg->accounts[other].name, cfg->accounts[other].origin);
out:
	for (size_t k = 0; k < n; k++)
		free(refs[k].path);
	free(refs);
	free(stack);
	free(cwd);
	return rc;
}

/* Roughly the heap an account takes (strings and lists, with malloc's
 * overhead), for CONFIG_MAX_EXPANDED. */
static size_t str_cost(const char *s)
{
	return s ? strlen(s) + 1 + 2 * sizeof(void *) : 0;
}

static size_t account_cost(const struct account *a)
{
	size_t n = sizeof(*a) + str_cost(a->name) + str_cost(a->root) + str_cost(a->host) +
		   str_cost(a->ca_file) + str_cost(a->user) + str_cost(a->password_arg) +
		   str_cost(a->password_file_shown) +
		   str_cost(a->snapshot_repo) + str_cost(a->snapshot_branch) + str_cost(a->snapshot_author) +
		   str_cost(a->origin);
	for (size_t i = 0; i < a->include.n; i++)
		n += sizeof(char *) + str_cost(a->include.items[i]);
	for (size_t i = 0; i < a->exclude.n; i++)
		n += sizeof(char *) + str_cost(a->exclude.items[i]);
	for (size_t i = 0; i < a->n_push_map; i++)
		n += sizeof(*a->push_map) + str_cost(a->push_map[i].source) + str_cost(a->push_map[i].target);
	return n;
}

static int validate(struct ctx *c, const struct node *root, struct config *cfg)
{
	const struct node *defaults = NULL, *accounts = NULL, *dkey = NULL, *akey = NULL;
	struct layer dl = { .where = "defaults" };
	int rc = -1;

	if (config_node_check(c, root, NULL, NULL) < 0)
		return -1;
	if (root->kind != NODE_MAPPING)
		return config_fail_at(c, root, NULL, NULL,
				      "the top level must be a mapping with an \"accounts\" key, got %s",
				      config_node_desc(root));
	for (size_t i = 0; i + 1 < root->n; i += 2) {
		const struct node *k = root->items[i], **slot_key, **slot_val;
		if (config_check_key_node(c, k, NULL) < 0)
			return -1;
		if (!strcmp(k->value, "defaults"))
			slot_key = &dkey, slot_val = &defaults;
		else if (!strcmp(k->value, "accounts"))
			slot_key = &akey, slot_val = &accounts;
		else
			return config_unknown_key(c, k, NULL, top_level_keys, " at the top level");
		if (*slot_key)
			return config_duplicate_key(c, k, *slot_key, NULL, "");
		*slot_key = k;
		*slot_val = root->items[i + 1];
	}
	if (!accounts)
		return config_fail_at(c, root, NULL, NULL, "missing required key \"accounts\"");
	if (config_node_check(c, accounts, NULL, "accounts") < 0)
		return -1;
	if (defaults && config_node_check(c, defaults, NULL, "defaults") < 0)
		return -1;
	if (accounts->kind != NODE_SEQUENCE || !accounts->n)
		return config_fail_at(c, accounts, NULL, "accounts",
				      "expected a non-empty sequence of accounts, got %s",
				      accounts->kind == NODE_SEQUENCE ? "an empty sequence" :
				      config_node_desc(accounts));
	if (defaults && defaults->kind != NODE_MAPPING)
		return config_fail_at(c, defaults, NULL, "defaults", "expected a mapping, got %s",
				      config_node_desc(defaults));
	if (defaults && parse_layer(c, defaults, &dl, 1) < 0)
		goto out;
	cfg->accounts = xcalloc(accounts->n, sizeof(*cfg->accounts));
	for (size_t i = 0, total = 0; i < accounts->n; i++) {
		cfg->n_accounts = i + 1; /* so that config_free() releases a half-built one */
		if (load_account(c, &dl, accounts->items[i], i, &cfg->accounts[i]) < 0)
			goto out;
		total += account_cost(&cfg->accounts[i]);
		if (total > CONFIG_MAX_EXPANDED + (i + 1) * CONFIG_ACCOUNT_ALLOWANCE) {
			config_fail_pos(c, accounts->items[i]->line, accounts->items[i]->col,
					"accounts[%zu]: the accounts take more than %zu MiB plus %zu bytes each with "
					"\"defaults\" (and the variables of paths) copied into each of them: make "
					"the lists and strings of \"defaults\" shorter, or set them in fewer "
					"accounts", i,
					CONFIG_MAX_EXPANDED >> 20, CONFIG_ACCOUNT_ALLOWANCE);
			goto out;
		}
	}
	rc = check_duplicate_names(c, cfg, accounts);
	if (rc == 0)
		rc = check_overlapping_dirs(c, cfg, accounts);
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
		config_fail_pos(&c, 0, 0, "the configuration is larger than 1 MiB");
		goto out;
	}
	if (!len) {
		config_fail_pos(&c, 1, 1,
				"the configuration is empty (expected a mapping with an \"accounts\" key)");
		goto out;
	}
	if (config_yaml_parse(&c, data, len, &root) < 0)
		goto out;
	out->path = xstrdup(name);
	if (validate(&c, root, out) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0) {
		config_free(out);
		config_set_err(err, errlen, "%s", c.msg.data ? c.msg.data : "invalid configuration");
	}
	config_node_free(root);
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
	if (!*path) { /* -c "": a variable that was not set */
		config_set_err(err, errlen, "the configuration file name is empty");
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		config_set_err(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		config_set_err(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		config_set_err(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	for (;;) {
		ssize_t n;
		buf_grow(&data, 65536);
		n = read(fd, data.data + data.len, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			config_set_err(err, errlen, "%s: read: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		data.len += (size_t)n;
		if (data.len > CONFIG_MAX_SIZE) {
			config_set_err(err, errlen, "%s: the configuration is larger than 1 MiB", path);
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
	free(a->password_file_shown);
	strlist_free(&a->include);
	strlist_free(&a->exclude);
	free(a->snapshot_repo);
	free(a->snapshot_branch);
	free(a->snapshot_author);
	push_map_free(&a->push_map, &a->n_push_map);
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
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = home_dir();
	struct buf b = BUF_INIT;
	if (xdg && xdg[0] == '/') { /* relative values are invalid per the XDG spec */
		buf_addf(&b, "%s/mailkeep/config.yaml", xdg);
		return buf_detach(&b);
	}
	if (!home)
		return NULL;
	buf_add(&b, home, home_len(home));
	buf_adds(&b, "/.config/mailkeep/config.yaml");
	return buf_detach(&b);
}
