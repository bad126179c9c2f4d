/* Configuration: paths. A leading "~" and $VAR / ${VAR} expanded (the values
 * of path keys, the default root), the default configuration file, and the
 * check that the accounts' mirrors and snapshot repositories are apart.
 * config_schema.c checks the other values; config.c builds the accounts. */
#include <pwd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mailkeep/buf.h"
#include "config_internal.h"

const char *config_home_dir(void)
{
	const char *home = getenv("HOME");
	if (!home || home[0] != '/') {
		const struct passwd *pw = getpwuid(geteuid());
		home = pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL;
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
int config_expand_path(const char *s, struct buf *out, struct buf *why)
{
	if (s[0] == '~') {
		const char *home = config_home_dir();
		if (s[1] && s[1] != '/') {
			buf_adds(why, "\"~user\" is not supported, only a leading \"~\" or \"~/\"");
			return -1;
		}
		if (!home) {
			buf_adds(why, "no home: HOME is unset or not absolute and the password "
				      "database has none (needed for \"~\")");
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
		n = config_env_name_len(name);
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

char *config_default_path(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = config_home_dir();
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
int config_check_overlapping_dirs(struct ctx *c, const struct config *cfg, const struct node *seq)
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
