/* Configuration: the schema in config.h -> validated account structs.
 *
 * config_yaml.c turns the text into a node tree with positions;
 * config_schema.c checks every value once, in the mapping it appears in
 * ("defaults" or one account), so messages point at the offending line (paths
 * expanded by config_path.c). Here the file is read, the defaults are applied
 * to each account, and the accounts are checked against each other (names
 * here, directories in config_path.c). */
#include "mailkeep/config.h"

#include <fcntl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailkeep/buf.h"
#include "config_internal.h"

#define CONFIG_MAX_SIZE ((size_t)1 << 20)
/* What the accounts may take in memory once "defaults" (and environment
 * variables in paths) are copied into each: CONFIG_MAX_EXPANDED plus
 * CONFIG_ACCOUNT_ALLOWANCE per account (what a small account takes anyway).
 * Without a bound a 1 MiB file (long lists or strings in defaults, tens of
 * thousands of accounts) asks for many GiB. */
#define CONFIG_MAX_EXPANDED ((size_t)16 << 20)
#define CONFIG_ACCOUNT_ALLOWANCE ((size_t)1024)

#define DEFAULT_ROOT "~/Mail"
#define DEFAULT_BRANCH "main"
#define DEFAULT_AUTHOR "mailkeep <mailkeep@localhost>"

static const char *const top_level_keys[] = { "defaults", "accounts", NULL };

void config_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void strlist_copy(struct strlist *dst, const struct strlist *src)
{
	dst->items = xcalloc(src->n, sizeof(*dst->items));
	for (dst->n = 0; dst->n < src->n; dst->n++)
		dst->items[dst->n] = xstrdup(src->items[dst->n]);
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
		if (config_expand_path(DEFAULT_ROOT, &out, &why) < 0) {
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
	const struct layer *l = config_layer_password_key(al) ? al : dl;
	for (int k = K_PASSWORD_COMMAND; k <= K_TOKEN_COMMAND; k++) {
		if (l->key[k]) {
			/* token_command is password_command by another name: it prints an
			 * OAuth2 access token, for auth: xoauth2 / oauthbearer */
			a->password_source = k == K_PASSWORD_COMMAND || k == K_TOKEN_COMMAND ? PASSWORD_COMMAND :
					     k == K_PASSWORD_ENV ? PASSWORD_ENV : PASSWORD_FILE;
			a->password_arg = xstrdup(l->str[k]);
			a->password_key = config_key_name(k);
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
					      config_key_name(required[i]));
	if (!config_layer_password_key(al) && !config_layer_password_key(dl))
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
	if (a->snapshot_repo) {
		/* dropped as root's: "repo.git/" (a shell's completion) was made as
		 * repo.git/.init and renamed onto its own parent, and every snapshot
		 * failed ("Directory not empty", then "could not find repository") */
		size_t len = strlen(a->snapshot_repo);
		while (len > 1 && a->snapshot_repo[len - 1] == '/')
			a->snapshot_repo[--len] = '\0';
	} else {
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
			if (v->kind == NODE_SCALAR && config_valid_account_name(v->value))
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
	if (config_parse_layer(c, map, &al, 0) < 0 || build_account(c, dl, &al, map, a) < 0)
		goto out;
	rc = 0;
out:
	config_layer_free(&al);
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
	if (defaults && config_parse_layer(c, defaults, &dl, 1) < 0)
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
		rc = config_check_overlapping_dirs(c, cfg, accounts);
out:
	config_layer_free(&dl);
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
	config_strlist_free(&a->include);
	config_strlist_free(&a->exclude);
	free(a->snapshot_repo);
	free(a->snapshot_branch);
	free(a->snapshot_author);
	config_push_map_free(&a->push_map, &a->n_push_map);
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
