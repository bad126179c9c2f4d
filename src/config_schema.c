/* Configuration: the account keys and their values.
 *
 * The table of keys (name, type, what a message says is expected) and the
 * checks of each value, applied to one mapping ("defaults" or one account)
 * of the node tree config_yaml.c built: a struct layer. config.c applies the
 * defaults to each account and checks the accounts against each other;
 * config_path.c expands paths; config_glob.c checks folder globs. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailkeep/buf.h"
#include "config_internal.h"

#define ACCOUNT_NAME_MAX 64
#define PUSH_MAP_MAX 4096 /* entries; the duplicate check is quadratic */

/* ---- schema ---------------------------------------------------------- */

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

const char *config_key_name(enum key k)
{
	return keys[k].name;
}

const char *const config_known_keys[] = {
	"defaults", "accounts",
	"name", "root", "host", "port", "tls", "ca_file", "user",
	"password_command", "password_env", "password_file", "token_command", "auth", "folders", "deletions",
	"timeout", "max_connections", "pipeline_depth", "snapshot", "snapshot_repo", "snapshot_branch", "snapshot_author",
	"push_map", "gmail_dedupe", "compress", "include", "exclude",
	NULL
};

static const char *const folders_keys[] = { "include", "exclude", NULL };

void config_strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

void config_push_map_free(struct push_map_entry **map, size_t *n)
{
	for (size_t i = 0; i < *n; i++) {
		free((*map)[i].source);
		free((*map)[i].target);
	}
	free(*map);
	*map = NULL;
	*n = 0;
}

void config_layer_free(struct layer *l)
{
	for (int k = 0; k < K_COUNT; k++)
		free(l->str[k]);
	config_strlist_free(&l->include);
	config_strlist_free(&l->exclude);
	config_push_map_free(&l->map, &l->n_map);
	free(l->password_file_shown);
}

/* ---- value checks ---------------------------------------------------- */

int config_valid_account_name(const char *s)
{
	size_t len = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");
	return len > 0 && !s[len] && len <= ACCOUNT_NAME_MAX && s[0] != '.';
}

size_t config_env_name_len(const char *s)
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

/* What `git check-ref-format --branch` accepts: refs/heads/<s> a valid ref,
 * and not "HEAD" nor a name starting with '-' (git branch refuses both). */
static int valid_branch(const char *s)
{
	size_t len = strlen(s);
	if (!len || s[0] == '-' || s[0] == '/' || s[len - 1] == '/' || s[len - 1] == '.' || !strcmp(s, "@") ||
	    !strcmp(s, "HEAD"))
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

/* ---- one mapping: "defaults" or an account --------------------------- */

/* A scalar with an explicit core tag other than !!str ("!!int INBOX"): not a
 * name or pattern, as a number key refuses "!!bool" */
static int not_str_tag(const struct node *v)
{
	return v->tag && strcmp(v->tag, "str") != 0;
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
	config_strlist_free(out);
	out->items = xcalloc(n, sizeof(*out->items));
	for (size_t i = 0; i < n; i++) {
		const struct node *it = items[i];
		const char *why;
		if (config_node_check(c, it, l->where, key) < 0)
			return -1;
		if (it->kind != NODE_SCALAR || it->is_null)
			return config_fail_at(c, it, l->where, key, "item %zu: expected a glob pattern, got %s",
					      i + 1, config_node_desc(it));
		if (not_str_tag(it))
			return config_fail_at(c, it, l->where, key,
					      "item %zu: expected a glob pattern, got a value tagged !!%s", i + 1,
					      it->tag);
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
	config_push_map_free(&l->map, &l->n_map);
	l->map = xcalloc(v->n / 2 + 1, sizeof(*l->map));
	for (size_t i = 0; i + 1 < v->n; i += 2) {
		const struct node *k = v->items[i], *t = v->items[i + 1];
		if (config_check_key_node(c, k, l->where) < 0)
			return -1;
		if (k->is_null)
			return config_fail_at(c, k, l->where, "push_map", "expected a source folder name, got null");
		if (not_str_tag(k))
			return config_fail_at(c, k, l->where, "push_map",
					      "expected a source folder name, got a value tagged !!%s", k->tag);
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
		if (not_str_tag(t))
			return config_fail_at(c, t, l->where, "push_map",
					      "source folder %s: expected a target folder name, got a value tagged !!%s",
					      config_quoted(c, k->value), t->tag);
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
	if (config_expand_path(v->value, &out, &why) < 0) {
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
	case T_NAME: return config_valid_account_name(s);
	case T_HOST: return host_ok(s);
	case T_TEXT: return *s && !config_has_control(s, "");
	case T_COMMAND: return *s && !config_has_control(s, "\t\n");
	case T_ENV_NAME: return *s && !s[config_env_name_len(s)];
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
	/* a plain ~ is YAML's null: where a path is expected it was meant for the home */
	int tilde = ki->type == T_PATH && v->kind == NODE_SCALAR && v->is_null && !v->tag && v->value &&
		    !strcmp(v->value, "~");
	if (v->kind != NODE_SCALAR || v->is_null)
		return config_fail_at(c, v, l->where, ki->name, "expected %s, got %s%s", ki->expect,
				      config_node_desc(v),
				      tilde ? " (a plain ~ is YAML's null: write \"~\" in quotes for the home directory)" : "");
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

const struct node *config_layer_password_key(const struct layer *l)
{
	for (int k = K_PASSWORD_COMMAND; k <= K_TOKEN_COMMAND; k++)
		if (l->key[k])
			return l->key[k];
	return NULL;
}

int config_parse_layer(struct ctx *c, const struct node *map, struct layer *l, int is_defaults)
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
		if (is_password_key(k) && config_layer_password_key(l))
			return config_fail_at(c, key, l->where, NULL, "exactly one of " PASSWORD_KEYS
					      " is required (found \"%s\" and \"%s\")",
					      config_layer_password_key(l)->value, keys[k].name);
		l->key[k] = key;
		if (parse_value(c, l, (enum key)k, map->items[i + 1]) < 0)
			return -1;
	}
	return 0;
}
