/* The man pages document what the program knows: every configuration key the
 * loader accepts (config_known_keys) has an item in docs/mailkeep.yaml.5 and
 * nothing else has one under KEYS; every command, option and exit status has
 * its place in docs/mailkeep.1; the Account keys table of docs/config.md has a
 * row for every key, with the default the loader gives, and mailkeep.yaml(5)
 * states the same default in the key's item; the ranges of the
 * integer keys in docs/config.md and docs/mailkeep.yaml.5 are the loader's;
 * every whole configuration shown in README.md, docs/providers.md,
 * docs/scaling.md and docs/mailkeep.yaml.5 loads (config.md's and sample.yaml:
 * test_config.c). Tests run from the repository root.
 *
 * An item is the roff idiom
 *     .TP
 *     .B port
 * i.e. a ".TP" line immediately followed by its tag line, matched exactly
 * (trailing blanks aside), so that a key named only in prose, or a longer key
 * that starts with the same letters, does not count. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "mailkeep/buf.h"
#include "mailkeep/config.h"

#define DOCS_MAX_SIZE ((size_t)1 << 20)

struct docs_line {
	const char *p;
	size_t n;
};

/* Reads PATH whole into out (reset first). 0, or -1 when it cannot be read or
 * is larger than DOCS_MAX_SIZE. */
static int docs_read(const char *path, struct buf *out)
{
	char chunk[8192];
	size_t n;
	int rc = -1;
	FILE *f = fopen(path, "rb");
	buf_reset(out);
	if (!f)
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (out->len + n > DOCS_MAX_SIZE)
			goto out;
		buf_add(out, chunk, n);
	}
	rc = ferror(f) ? -1 : 0;
out:
	fclose(f);
	return rc;
}

/* The next line of [*cur, end) without its LF, trailing CR, spaces and tabs. */
static int docs_next_line(const char **cur, const char *end, struct docs_line *l)
{
	const char *nl;
	if (*cur >= end)
		return 0;
	nl = memchr(*cur, '\n', (size_t)(end - *cur));
	l->p = *cur;
	l->n = (size_t)((nl ? nl : end) - *cur);
	*cur = nl ? nl + 1 : end;
	while (l->n && (l->p[l->n - 1] == '\r' || l->p[l->n - 1] == ' ' || l->p[l->n - 1] == '\t'))
		l->n--;
	return 1;
}

static int docs_line_is(const struct docs_line *l, const char *s)
{
	return l->n == strlen(s) && !memcmp(l->p, s, l->n);
}

/* A request line: ".XX" alone or followed by a blank and arguments. */
static int docs_is_request(const struct docs_line *l, const char *req)
{
	size_t n = strlen(req);
	return l->n >= n && !memcmp(l->p, req, n) && (l->n == n || l->p[n] == ' ' || l->p[n] == '\t');
}

/* The body of section ".SH NAME" (title unquoted or in double quotes): from the
 * line after it up to the next .SH. NULL when there is no such section. */
static const char *docs_section(const char *text, size_t len, const char *name, size_t *sec_len)
{
	const char *cur = text, *end = text + len, *start = NULL;
	struct docs_line l;
	while (docs_next_line(&cur, end, &l)) {
		if (!docs_is_request(&l, ".SH"))
			continue;
		if (start) {
			*sec_len = (size_t)(l.p - start);
			return start;
		}
		struct docs_line title = { l.p + 3, l.n - 3 };
		while (title.n && (*title.p == ' ' || *title.p == '\t'))
			title.p++, title.n--;
		if (title.n >= 2 && title.p[0] == '"' && title.p[title.n - 1] == '"')
			title.p++, title.n -= 2;
		if (docs_line_is(&title, name))
			start = cur;
	}
	if (start)
		*sec_len = (size_t)(end - start);
	return start;
}

/* The next item in [*cur, end): the line right after a .TP line. */
static int docs_next_item(const char **cur, const char *end, struct docs_line *tag)
{
	struct docs_line l;
	while (docs_next_line(cur, end, &l)) {
		if (!docs_is_request(&l, ".TP"))
			continue;
		const char *save = *cur;
		if (!docs_next_line(cur, end, tag))
			return 0;
		if (docs_is_request(tag, ".TP")) { /* an empty item: its "tag" opens the next */
			*cur = save;
			continue;
		}
		return 1;
	}
	return 0;
}

/* 1 when [text, text + len) has an item whose tag line is TAG, or, with
 * prefix_ok, starts with TAG followed by a blank (a command and its arguments). */
static int docs_has_item(const char *text, size_t len, const char *tag, int prefix_ok)
{
	const char *cur = text, *end = text + len;
	size_t n = strlen(tag);
	struct docs_line t;
	while (docs_next_item(&cur, end, &t)) {
		if (docs_line_is(&t, tag))
			return 1;
		if (prefix_ok && t.n > n && !memcmp(t.p, tag, n) && t.p[n] == ' ')
			return 1;
	}
	return 0;
}

static int docs_known_key(const char *s, size_t n)
{
	for (size_t i = 0; config_known_keys[i]; i++)
		if (strlen(config_known_keys[i]) == n && !memcmp(config_known_keys[i], s, n))
			return 1;
	return 0;
}

/* Loads PATH and the body of its section NAME; fails the test when either is missing. */
static const char *docs_load_section(const char *path, const char *name, struct buf *file, size_t *len)
{
	cr_assert_eq(docs_read(path, file), 0, "cannot read %s (tests run from the repository root)", path);
	const char *sec = docs_section(file->data, file->len, name, len);
	cr_assert_not_null(sec, "%s has no section .SH %s", path, name);
	return sec;
}

/* ---- the helpers, on small pages, well-formed and not ------------------ */

struct docs_case {
	const char *page;
	const char *section;
	const char *tag;
	int prefix_ok;
	int want;  /* 1 found, 0 not found, -1 no such section */
};

static const struct docs_case docs_cases[] = {
	{ ".SH KEYS\n.TP\n.B port\nText.\n", "KEYS", ".B port", 0, 1 },
	{ ".SH KEYS\n.TP\n.B port", "KEYS", ".B port", 0, 1 },               /* no final newline */
	{ ".SH KEYS\r\n.TP\r\n.B port \t\r\n", "KEYS", ".B port", 0, 1 },    /* CRLF, trailing blanks */
	{ ".SH KEYS\n.TP 8\n.B port\n", "KEYS", ".B port", 0, 1 },           /* .TP with an indent */
	{ ".SH \"KEYS\"\n.TP\n.B port\n", "KEYS", ".B port", 0, 1 },         /* quoted title */
	{ ".SH KEYS\n.SS Sub\n.TP\n.B port\n", "KEYS", ".B port", 0, 1 },    /* .SS stays in the section */
	{ ".SH KEYS\n.TP\n.TP\n.B port\n", "KEYS", ".B port", 0, 1 },        /* empty item before */
	{ ".SH KEYS\n.TP\n.B portx\n", "KEYS", ".B port", 0, 0 },            /* longer key */
	{ ".SH KEYS\n.TP\n.B por\n", "KEYS", ".B port", 0, 0 },              /* shorter key */
	{ ".SH KEYS\n.TP\n.BR port ,\n", "KEYS", ".B port", 0, 0 },          /* other macro */
	{ ".SH KEYS\nThe\n.B port\nkey.\n", "KEYS", ".B port", 0, 0 },       /* prose, not an item */
	{ ".SH KEYS\n.TP\n\n.B port\n", "KEYS", ".B port", 0, 0 },           /* blank line between */
	{ ".SH KEYS\n.TP\n", "KEYS", ".B port", 0, 0 },                      /* .TP at the end */
	{ ".SH KEYS\n.TPX\n.B port\n", "KEYS", ".B port", 0, 0 },            /* not a .TP request */
	{ ".SH OTHER\n.TP\n.B port\n.SH KEYS\n", "KEYS", ".B port", 0, 0 },  /* item in another section */
	{ ".SH KEYS\n.SH OTHER\n.TP\n.B port\n", "KEYS", ".B port", 0, 0 },
	{ ".SH KEYSX\n.TP\n.B port\n", "KEYS", ".B port", 0, -1 },
	{ ".SH\n.TP\n.B port\n", "KEYS", ".B port", 0, -1 },
	{ "", "KEYS", ".B port", 0, -1 },
	{ ".SH COMMANDS\n.TP\n\\fBsync\\fR [\\fIACCOUNT\\fR...]\n", "COMMANDS", "\\fBsync\\fR", 1, 1 },
	{ ".SH COMMANDS\n.TP\n\\fBsync\\fR\n", "COMMANDS", "\\fBsync\\fR", 1, 1 },
	{ ".SH COMMANDS\n.TP\n\\fBsyncx\\fR\n", "COMMANDS", "\\fBsync\\fR", 1, 0 },
	{ ".SH COMMANDS\n.TP\n\\fBsync\\fRx\n", "COMMANDS", "\\fBsync\\fR", 1, 0 },
	{ ".SH COMMANDS\n.TP\n\\fBsync\\fR x\n", "COMMANDS", "\\fBsync\\fR", 0, 0 }, /* exact only */
};

Test(docs, helpers_find_items_exactly)
{
	for (size_t i = 0; i < sizeof(docs_cases) / sizeof(docs_cases[0]); i++) {
		const struct docs_case *c = &docs_cases[i];
		size_t len = 0;
		const char *sec = docs_section(c->page, strlen(c->page), c->section, &len);
		int got = !sec ? -1 : docs_has_item(sec, len, c->tag, c->prefix_ok);
		cr_expect_eq(got, c->want, "case %zu (%s in %s): got %d, want %d", i, c->tag, c->section, got,
			     c->want);
	}
}

Test(docs, helpers_read_missing_file)
{
	struct buf b = BUF_INIT;
	cr_expect_eq(docs_read("docs/no-such-page.9", &b), -1);
	buf_free(&b);
}

/* ---- docs/mailkeep.yaml.5 --------------------------------------------- */

Test(docs, every_config_key_documented)
{
	struct buf file = BUF_INIT, tag = BUF_INIT;
	size_t len, n = 0;
	const char *keys = docs_load_section("docs/mailkeep.yaml.5", "KEYS", &file, &len);
	for (size_t i = 0; config_known_keys[i]; i++, n++) {
		buf_reset(&tag);
		buf_addf(&tag, ".B %s", config_known_keys[i]);
		cr_expect(docs_has_item(keys, len, tag.data, 0),
			  "config key \"%s\" has no item (.TP then \"%s\") under KEYS in docs/mailkeep.yaml.5",
			  config_known_keys[i], tag.data);
	}
	cr_expect_geq(n, 20, "config_known_keys has only %zu entries", n);
	buf_free(&tag);
	buf_free(&file);
}

Test(docs, no_unknown_config_key_documented)
{
	struct buf file = BUF_INIT;
	size_t len;
	const char *keys = docs_load_section("docs/mailkeep.yaml.5", "KEYS", &file, &len);
	const char *cur = keys, *end = keys + len;
	struct docs_line t;
	while (docs_next_item(&cur, end, &t)) {
		cr_expect(t.n > 3 && !memcmp(t.p, ".B ", 3) && docs_known_key(t.p + 3, t.n - 3),
			  "docs/mailkeep.yaml.5 documents \"%.*s\" under KEYS, which the loader does not accept",
			  (int)t.n, t.p);
	}
	buf_free(&file);
}

/* ---- docs/mailkeep.1 ---------------------------------------------------- */

static const char *const docs_commands[] = { "sync", "check", "snapshot", "log", "status", "verify", "push" };

Test(docs, every_command_in_man_page)
{
	struct buf file = BUF_INIT, tag = BUF_INIT, line = BUF_INIT;
	size_t len, syn_len;
	const char *cmds = docs_load_section("docs/mailkeep.1", "COMMANDS", &file, &len);
	const char *syn = docs_section(file.data, file.len, "SYNOPSIS", &syn_len);
	cr_assert_not_null(syn, "docs/mailkeep.1 has no SYNOPSIS");
	for (size_t i = 0; i < sizeof(docs_commands) / sizeof(docs_commands[0]); i++) {
		buf_reset(&tag);
		buf_addf(&tag, "\\fB%s\\fR", docs_commands[i]);
		cr_expect(docs_has_item(cmds, len, tag.data, 1),
			  "command \"%s\" has no item (.TP then \"%s ...\") under COMMANDS in docs/mailkeep.1",
			  docs_commands[i], tag.data);
		/* and a line ".B cmd" of its own in the SYNOPSIS */
		buf_reset(&line);
		buf_addf(&line, "\n.B %s\n", docs_commands[i]);
		cr_expect(memmem(syn, syn_len, line.data, line.len) != NULL,
			  "command \"%s\" is not in the SYNOPSIS of docs/mailkeep.1", docs_commands[i]);
	}
	buf_free(&line);
	buf_free(&tag);
	buf_free(&file);
}

Test(docs, every_exit_status_in_man_page)
{
	struct buf file = BUF_INIT;
	size_t len;
	const char *sec = docs_load_section("docs/mailkeep.1", "EXIT STATUS", &file, &len);
	static const char *const codes[] = { ".B 0", ".B 1", ".B 2", ".B 3", ".B 4", ".B 5" };
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		cr_expect(docs_has_item(sec, len, codes[i], 0), "exit status \"%s\" is not an item of EXIT STATUS",
			  codes[i]);
	buf_free(&file);
}

Test(docs, every_global_option_in_man_page)
{
	struct buf file = BUF_INIT;
	size_t len;
	const char *sec = docs_load_section("docs/mailkeep.1", "OPTIONS", &file, &len);
	static const char *const opts[] = { "\\-\\-config", "\\-\\-verbose", "\\-\\-quiet", "\\-\\-jobs",
					    "\\-\\-json", "\\-\\-help", "\\-\\-version",
					    "\\-\\-account", "\\-\\-shard" };
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		cr_expect(memmem(sec, len, opts[i], strlen(opts[i])) != NULL,
			  "option %s is not described under OPTIONS in docs/mailkeep.1", opts[i]);
	buf_free(&file);
}

/* ---- docs/config.md ------------------------------------------------------ */

/* The part of a Markdown TEXT from the line HEADING to the next "## " line. */
static const char *md_section(const char *text, size_t len, const char *heading, size_t *sec_len)
{
	const char *cur = text, *end = text + len, *start = NULL;
	struct docs_line l;
	while (docs_next_line(&cur, end, &l)) {
		if (start && l.n >= 3 && !memcmp(l.p, "## ", 3)) {
			*sec_len = (size_t)(l.p - start);
			return start;
		}
		if (!start && docs_line_is(&l, heading))
			start = cur;
	}
	if (start)
		*sec_len = (size_t)(end - start);
	return start;
}

/* The first cell of a table row "| `key` | ... |": the key, without its
 * backticks; 0 when L is no such row. */
static int md_row_key(const struct docs_line *l, struct docs_line *key)
{
	const char *p = l->p, *end = l->p + l->n, *close;
	if (l->n < 4 || p[0] != '|')
		return 0;
	for (p++; p < end && *p == ' '; p++)
		;
	if (p >= end || *p != '`' || !(close = memchr(p + 1, '`', (size_t)(end - p - 1))))
		return 0;
	key->p = p + 1;
	key->n = (size_t)(close - p - 1);
	return 1;
}

/* The last cell of the row of KEY in [text, text + len), trimmed, backticks
 * removed, in OUT; 0 when KEY has no row. */
static int md_row_last_cell(const char *text, size_t len, const char *key, struct buf *out)
{
	const char *cur = text, *end = text + len;
	struct docs_line l, k;
	while (docs_next_line(&cur, end, &l)) {
		if (!md_row_key(&l, &k) || k.n != strlen(key) || memcmp(k.p, key, k.n))
			continue;
		size_t n = l.n;
		while (n && (l.p[n - 1] == '|' || l.p[n - 1] == ' '))
			n--;
		size_t s = n;
		while (s && l.p[s - 1] != '|')
			s--;
		buf_reset(out);
		for (size_t i = s; i < n; i++)
			if (l.p[i] != '`' && (out->len || l.p[i] != ' '))
				buf_add(out, &l.p[i], 1);
		return 1;
	}
	return 0;
}

Test(docs, config_md_table_lists_every_account_key)
{
	struct buf file = BUF_INIT, cell = BUF_INIT;
	size_t len, n = 0;
	cr_assert_eq(docs_read("docs/config.md", &file), 0, "cannot read docs/config.md (run from the repository root)");
	const char *sec = md_section(file.data, file.len, "## Account keys", &len);
	cr_assert_not_null(sec, "docs/config.md has no \"## Account keys\"");
	for (size_t i = 0; config_known_keys[i]; i++) {
		const char *k = config_known_keys[i];
		if (!strcmp(k, "defaults") || !strcmp(k, "accounts") || !strcmp(k, "include") || !strcmp(k, "exclude"))
			continue; /* the top-level table, and the keys of folders */
		n++;
		cr_expect(md_row_last_cell(sec, len, k, &cell),
			  "config key \"%s\" has no row (| `%s` | ...) in the Account keys table of docs/config.md", k, k);
	}
	cr_expect_geq(n, 20);
	const char *cur = sec, *end = sec + len;
	struct docs_line l, key;
	while (docs_next_line(&cur, end, &l))
		if (md_row_key(&l, &key))
			cr_expect(docs_known_key(key.p, key.n),
				  "docs/config.md has a row for \"%.*s\", which the loader does not accept", (int)key.n,
				  key.p);
	buf_free(&cell);
	buf_free(&file);
}

/* The default that the item ".B KEY" of [text, text + len) states: its text
 * up to the first .br, rendered plainly (a request's arguments joined with
 * blanks for .B and .I, without for the alternating .BR, .IR ...; quotes
 * dropped), from "Default: " to the "." that ends the sentence. NUL-terminated
 * in OUT; 0 when the item or its "Default: " is missing. */
static int man_item_default(const char *text, size_t len, const char *key, struct buf *out)
{
	const char *cur = text, *end = text + len, *d, *stop;
	struct docs_line tag, l;
	struct buf para = BUF_INIT;
	char want[64];
	int found = 0;
	snprintf(want, sizeof(want), ".B %s", key);
	while (!found && docs_next_item(&cur, end, &tag))
		found = docs_line_is(&tag, want);
	while (found && docs_next_line(&cur, end, &l) && !docs_is_request(&l, ".br") && !docs_is_request(&l, ".TP")) {
		const char *p = l.p, *e = l.p + l.n;
		int alternate = 0;
		if (para.len)
			buf_addch(&para, ' ');
		if (p < e && *p == '.') { /* a request: its arguments */
			alternate = e - p > 2 && p[2] != ' ';
			while (p < e && *p != ' ')
				p++;
		}
		for (int quoted = 0; p < e; p++) {
			if (*p == '"')
				quoted = !quoted;
			else if (*p != ' ' || quoted || !alternate)
				buf_addch(&para, *p);
		}
	}
	buf_add(&para, "", 1);
	d = found ? strstr(para.data, "Default: ") : NULL;
	if (d) {
		d += 9;
		for (stop = d; *stop && !(*stop == '.' && (!stop[1] || stop[1] == ' ')); stop++)
			;
		buf_reset(out);
		buf_add(out, d, (size_t)(stop - d));
		buf_add(out, "", 1);
	}
	buf_free(&para);
	return d != NULL;
}

/* The default column of config.md, and the "Default:" of each item of
 * mailkeep.yaml(5), say what an account that sets nothing gets. */
Test(docs, config_md_defaults_are_the_loaders)
{
	static const char *const tls[] = { "implicit", "starttls", "none" };
	static const char *const auth[] = { "plain", "login", "xoauth2", "oauthbearer" };
	static const char *const deletions[] = { "mirror", "keep" };
	static const char minimal[] = "accounts:\n  - name: x\n    host: h\n    user: u\n    password_env: P\n";
	struct buf file = BUF_INIT, man = BUF_INIT, cell = BUF_INIT, want = BUF_INIT;
	struct config cfg;
	char err[512] = "";
	size_t len;
	setenv("HOME", "/home/docs", 1);
	cr_assert_eq(config_load_buffer("minimal", minimal, sizeof(minimal) - 1, &cfg, err, sizeof(err)), 0, "%s", err);
	const struct account *a = &cfg.accounts[0];
	cr_assert_eq(docs_read("docs/config.md", &file), 0);
	const char *sec = md_section(file.data, file.len, "## Account keys", &len);
	cr_assert_not_null(sec);
	size_t keys_len;
	const char *keys = docs_load_section("docs/mailkeep.yaml.5", "KEYS", &man, &keys_len);
	struct { const char *key; const char *value; int number; } rows[] = {
		{ "tls", tls[a->tls], -1 },
		{ "auth", auth[a->auth], -1 },
		{ "deletions", deletions[a->deletions], -1 },
		{ "timeout", NULL, a->timeout },
		{ "max_connections", NULL, a->max_connections },
		{ "pipeline_depth", NULL, a->pipeline_depth },
		{ "snapshot", a->snapshot ? "true" : "false", -1 },
		{ "gmail_dedupe", a->gmail_dedupe ? "true" : "false", -1 },
		{ "compress", a->compress ? "true" : "false", -1 },
		{ "snapshot_branch", a->snapshot_branch, -1 },
		{ "snapshot_author", a->snapshot_author, -1 },
	};
	cr_expect_eq(a->port, 993, "an account with the default tls (implicit) gets port %d", a->port);
	cr_expect_str_eq(a->root, "/home/docs/Mail", "root ~/Mail: got %s", a->root);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		buf_reset(&want);
		if (rows[i].value)
			buf_adds(&want, rows[i].value);
		else
			buf_addf(&want, "%d", rows[i].number);
		if (!md_row_last_cell(sec, len, rows[i].key, &cell)) {
			cr_expect_fail("docs/config.md has no row for %s", rows[i].key);
			continue;
		}
		cr_expect_str_eq(cell.data, want.data, "docs/config.md gives %s the default \"%s\", the loader \"%s\"",
				 rows[i].key, cell.data, want.data);
		if (!man_item_default(keys, keys_len, rows[i].key, &cell)) {
			cr_expect_fail("docs/mailkeep.yaml.5: the item of %s states no \"Default: \"", rows[i].key);
			continue;
		}
		cr_expect_str_eq(cell.data, want.data,
				 "docs/mailkeep.yaml.5 gives %s the default \"%s\", the loader \"%s\"", rows[i].key,
				 cell.data, want.data);
	}
	config_free(&cfg);
	buf_free(&want);
	buf_free(&cell);
	buf_free(&man);
	buf_free(&file);
}

/* The integer keys' ranges, as config.md's table ("integer A..B") and
 * mailkeep.yaml(5)'s item ("Integer A to B.") give them, are the loader's: A
 * and B load, A - 1 and B + 1 are refused. */
static int md_row_second_cell(const char *text, size_t len, const char *key, struct buf *out)
{
	const char *cur = text, *end = text + len;
	struct docs_line l, k;
	while (docs_next_line(&cur, end, &l)) {
		if (!md_row_key(&l, &k) || k.n != strlen(key) || memcmp(k.p, key, k.n))
			continue;
		const char *p = memchr(k.p + k.n, '|', (size_t)(l.p + l.n - (k.p + k.n))), *q;
		if (!p || !(q = memchr(p + 1, '|', (size_t)(l.p + l.n - p - 1))))
			return 0;
		for (p++; p < q && *p == ' '; p++)
			;
		buf_reset(out);
		buf_add(out, p, (size_t)(q - p));
		buf_add(out, "", 1);
		return 1;
	}
	return 0;
}

/* The line after the item ".B KEY" of [text, text + len), NUL-terminated in OUT. */
static int man_item_first_line(const char *text, size_t len, const char *key, struct buf *out)
{
	const char *cur = text, *end = text + len;
	struct docs_line tag, l;
	char want[64];
	snprintf(want, sizeof(want), ".B %s", key);
	while (docs_next_item(&cur, end, &tag)) {
		if (!docs_line_is(&tag, want) || !docs_next_line(&cur, end, &l))
			continue;
		buf_reset(out);
		buf_add(out, l.p, l.n);
		buf_add(out, "", 1);
		return 1;
	}
	return 0;
}

static int docs_load_int(const char *key, long v)
{
	char yaml[256], err[512];
	struct config cfg;
	int n = snprintf(yaml, sizeof(yaml), "accounts:\n  - name: x\n    host: h\n    user: u\n    password_env: P\n"
			 "    %s: %ld\n", key, v);
	if (config_load_buffer("range", yaml, (size_t)n, &cfg, err, sizeof(err)) < 0)
		return -1;
	config_free(&cfg);
	return 0;
}

Test(docs, integer_ranges_are_the_loaders)
{
	struct buf md = BUF_INIT, man = BUF_INIT, cell = BUF_INIT, item = BUF_INIT;
	size_t md_len, man_len, n = 0;
	cr_assert_eq(docs_read("docs/config.md", &md), 0);
	const char *table = md_section(md.data, md.len, "## Account keys", &md_len);
	cr_assert_not_null(table);
	const char *keys = docs_load_section("docs/mailkeep.yaml.5", "KEYS", &man, &man_len);
	for (size_t i = 0; config_known_keys[i]; i++) {
		const char *k = config_known_keys[i];
		long lo, hi, mlo, mhi;
		if (!md_row_second_cell(table, md_len, k, &cell) || strncmp(cell.data, "integer ", 8))
			continue;
		n++;
		cr_expect_eq(sscanf(cell.data, "integer %ld..%ld", &lo, &hi), 2,
			     "docs/config.md: the type of %s is \"%s\", not \"integer A..B\"", k, cell.data);
		cr_expect(man_item_first_line(keys, man_len, k, &item) &&
			  sscanf(item.data, "Integer %ld to %ld", &mlo, &mhi) == 2 && mlo == lo && mhi == hi,
			  "docs/mailkeep.yaml.5: %s is not \"Integer %ld to %ld\" as in docs/config.md", k, lo, hi);
		cr_expect_eq(docs_load_int(k, lo), 0, "%s: %ld (the documented minimum) is refused", k, lo);
		cr_expect_eq(docs_load_int(k, hi), 0, "%s: %ld (the documented maximum) is refused", k, hi);
		cr_expect_eq(docs_load_int(k, hi + 1), -1, "%s: %ld (above the documented range) loads", k, hi + 1);
		if (lo > 0)
			cr_expect_eq(docs_load_int(k, lo - 1), -1, "%s: %ld (below the documented range) loads", k,
				     lo - 1);
	}
	cr_expect_eq(n, 4, "docs/config.md has %zu integer keys (port, timeout, max_connections, pipeline_depth)", n);
	buf_free(&item);
	buf_free(&cell);
	buf_free(&man);
	buf_free(&md);
}

/* ---- the examples: every configuration the docs show loads ----------------- */

/* docs/config.md and sample.yaml: test_config.c (docs_examples_load,
 * sample_yaml_loads). Here the other pages a newcomer copies from. */

/* Loads one example, a whole configuration; 0, else -1 with the error in ERR. */
static int docs_example_loads(const char *name, const struct buf *yaml, char *err, size_t errlen)
{
	struct config cfg;
	if (config_load_buffer(name, yaml->data ? yaml->data : "", yaml->len, &cfg, err, errlen) < 0)
		return -1;
	config_free(&cfg);
	return 0;
}

static int docs_has_top_accounts(const struct buf *yaml)
{
	const char *cur = yaml->data ? yaml->data : "", *end = cur + yaml->len;
	struct docs_line l;
	while (docs_next_line(&cur, end, &l))
		if (l.n >= 9 && !memcmp(l.p, "accounts:", 9))
			return 1;
	return 0;
}

/* The ```yaml blocks of the Markdown page PATH that are whole configurations
 * (a top-level "accounts:"; fragments such as a lone "folders:" are left out)
 * load; returns how many there were. */
static size_t docs_md_examples_load(const char *path)
{
	struct buf file = BUF_INIT, yaml = BUF_INIT, name = BUF_INIT;
	char err[512];
	size_t n = 0, lineno = 0, start = 0;
	int in = 0;
	cr_assert_eq(docs_read(path, &file), 0, "cannot read %s (tests run from the repository root)", path);
	const char *cur = file.data, *end = file.data + file.len;
	struct docs_line l;
	while (docs_next_line(&cur, end, &l)) {
		lineno++;
		const char *p = l.p;
		size_t k = l.n;
		while (k && *p == ' ')
			p++, k--;
		int fence = k >= 3 && !memcmp(p, "```", 3);
		if (!in && fence) {
			in = k == 7 && !memcmp(p, "```yaml", 7) ? 1 : 2;
			start = lineno;
			buf_reset(&yaml);
		} else if (in && fence) {
			if (in == 1 && docs_has_top_accounts(&yaml)) {
				n++;
				buf_reset(&name);
				buf_addf(&name, "%s:%zu", path, start);
				cr_expect_eq(docs_example_loads(name.data, &yaml, err, sizeof(err)), 0,
					     "the example at %s does not load: %s", name.data, err);
			}
			in = 0;
		} else if (in == 1) {
			buf_add(&yaml, l.p, l.n);
			buf_addch(&yaml, '\n');
		}
	}
	buf_free(&name);
	buf_free(&yaml);
	buf_free(&file);
	return n;
}

Test(docs, markdown_configuration_examples_load)
{
	setenv("HOME", "/home/docs", 1);
	cr_expect_geq(docs_md_examples_load("README.md"), 1);
	cr_expect_geq(docs_md_examples_load("docs/providers.md"), 3);
	cr_expect_geq(docs_md_examples_load("docs/scaling.md"), 1);
}

/* The .EX blocks of mailkeep.yaml(5) that are whole configurations load, once
 * the roff escapes they use are undone. */
Test(docs, man_page_configuration_examples_load)
{
	static const struct { const char *esc, *text; } escs[] = {
		{ "\\-", "-" }, { "\\(aq", "'" }, { "\\(dq", "\"" }, { "\\e", "\\" }, { "\\&", "" },
		{ "\\fI", "" }, { "\\fB", "" }, { "\\fR", "" }, { "\\fP", "" },
	};
	struct buf file = BUF_INIT, yaml = BUF_INIT, name = BUF_INIT;
	char err[512];
	size_t n = 0, lineno = 0, start = 0;
	int in = 0;
	setenv("HOME", "/home/docs", 1);
	cr_assert_eq(docs_read("docs/mailkeep.yaml.5", &file), 0);
	const char *cur = file.data, *end = file.data + file.len;
	struct docs_line l;
	while (docs_next_line(&cur, end, &l)) {
		lineno++;
		if (docs_is_request(&l, ".EX")) {
			in = 1;
			start = lineno;
			buf_reset(&yaml);
		} else if (in && docs_is_request(&l, ".EE")) {
			in = 0;
			if (!docs_has_top_accounts(&yaml))
				continue;
			n++;
			buf_reset(&name);
			buf_addf(&name, "docs/mailkeep.yaml.5:%zu", start);
			cr_expect_eq(docs_example_loads(name.data, &yaml, err, sizeof(err)), 0,
				     "the example at %s does not load: %s", name.data, err);
		} else if (in) {
			for (size_t i = 0; i < l.n;) {
				size_t e = 0;
				while (e < sizeof(escs) / sizeof(escs[0]) &&
				       (l.n - i < strlen(escs[e].esc) || memcmp(l.p + i, escs[e].esc, strlen(escs[e].esc))))
					e++;
				if (e < sizeof(escs) / sizeof(escs[0])) {
					buf_adds(&yaml, escs[e].text);
					i += strlen(escs[e].esc);
				} else {
					buf_addch(&yaml, l.p[i++]);
				}
			}
			buf_addch(&yaml, '\n');
		}
	}
	cr_expect_geq(n, 4, "docs/mailkeep.yaml.5 has %zu whole configuration examples", n);
	buf_free(&name);
	buf_free(&yaml);
	buf_free(&file);
}
