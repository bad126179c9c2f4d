/* Tests for the configuration loader: schema, error positions, defaults, path
 * expansion, password sources and folder globs. */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mailkeep/config.h"

static int load(const char *yaml, struct config *cfg, char *err, size_t errlen)
{
	return config_load_buffer("t.yaml", yaml, strlen(yaml), cfg, err, errlen);
}

static void test_env(void)
{
	setenv("HOME", "/home/tester", 1);
	unsetenv("MK_UNSET");
	setenv("MK_DIR", "/data", 1);
}

/* ---- valid configurations -------------------------------------------- */

Test(config_valid, minimal_with_all_defaults, .init = test_env)
{
	struct config cfg;
	char err[512] = "";
	const char *y =
		"accounts:\n"
		"  - name: work\n"
		"    host: imap.example.com\n"
		"    user: me@example.com\n"
		"    password_env: WORK_PW\n";
	cr_assert_eq(load(y, &cfg, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cfg.n_accounts, 1);
	cr_assert_str_eq(cfg.path, "t.yaml");
	const struct account *a = &cfg.accounts[0];
	cr_expect_str_eq(a->name, "work");
	cr_expect_str_eq(a->root, "/home/tester/Mail");
	cr_expect_str_eq(a->host, "imap.example.com");
	cr_expect_eq(a->port, 993);
	cr_expect_eq(a->tls, TLS_IMPLICIT);
	cr_expect_null(a->ca_file);
	cr_expect_str_eq(a->user, "me@example.com");
	cr_expect_eq(a->password_source, PASSWORD_ENV);
	cr_expect_str_eq(a->password_arg, "WORK_PW");
	cr_assert_eq(a->include.n, 1);
	cr_expect_str_eq(a->include.items[0], "*");
	cr_expect_eq(a->exclude.n, 0);
	cr_expect_eq(a->deletions, DELETIONS_MIRROR);
	cr_expect_eq(a->timeout, 60);
	cr_expect_eq(a->snapshot, 0);
	cr_expect_str_eq(a->snapshot_repo, "/home/tester/Mail/work.git");
	cr_expect_str_eq(a->snapshot_branch, "main");
	cr_expect_str_eq(a->snapshot_author, "mailkeep <mailkeep@localhost>");
	cr_expect_str_eq(a->origin, "t.yaml:2:5");
	cr_expect_eq(config_find_account(&cfg, "work"), a);
	cr_expect_null(config_find_account(&cfg, "nope"));
	config_free(&cfg);
	cr_expect_eq(cfg.n_accounts, 0);
	cr_expect_null(cfg.accounts);
}

Test(config_valid, full_with_defaults_and_overrides, .init = test_env)
{
	struct config cfg;
	char err[512] = "";
	const char *y =
		"# comment\n"
		"defaults:\n"
		"  root: ~/Backup/\n"
		"  tls: starttls\n"
		"  user: shared\n"
		"  password_command: pass show mail\n"
		"  timeout: 120\n"
		"  deletions: keep\n"
		"  snapshot: Yes\n"
		"  folders:\n"
		"    include: [\"INBOX\", \"Archive/*\"]\n"
		"    exclude: Spam\n"
		"accounts:\n"
		"  - name: a.1\n"
		"    host: mx.example.org\n"
		"  - name: b_2-x\n"
		"    host: 192.0.2.1\n"
		"    port: 1143\n"
		"    tls: implicit\n"
		"    ca_file: ${MK_DIR}/ca.pem\n"
		"    user: other\n"
		"    password_file: $MK_DIR/pw\n"
		"    folders: { exclude: [Trash, \"Junk*\"] }\n"
		"    deletions: mirror\n"
		"    timeout: 1\n"
		"    snapshot: off\n"
		"    snapshot_repo: /srv/git/b.git\n"
		"    snapshot_branch: backup/mail\n"
		"    snapshot_author: \"Mail Keeper <keeper@example.org>\"\n"
		"  - name: c\n"
		"    host: h\n"
		"    tls: NONE\n"
		"    password_env: C_PW\n";
	cr_assert_eq(load(y, &cfg, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cfg.n_accounts, 3);

	const struct account *a = &cfg.accounts[0];
	cr_expect_str_eq(a->root, "/home/tester/Backup");
	cr_expect_eq(a->tls, TLS_STARTTLS);
	cr_expect_eq(a->port, 143);
	cr_expect_str_eq(a->user, "shared");
	cr_expect_eq(a->password_source, PASSWORD_COMMAND);
	cr_expect_str_eq(a->password_arg, "pass show mail");
	cr_expect_eq(a->timeout, 120);
	cr_expect_eq(a->deletions, DELETIONS_KEEP);
	cr_expect_eq(a->snapshot, 1);
	cr_assert_eq(a->include.n, 2);
	cr_expect_str_eq(a->include.items[0], "INBOX");
	cr_expect_str_eq(a->include.items[1], "Archive/*");
	cr_assert_eq(a->exclude.n, 1);
	cr_expect_str_eq(a->exclude.items[0], "Spam");
	cr_expect_str_eq(a->snapshot_repo, "/home/tester/Backup/a.1.git");
	cr_expect_str_eq(a->origin, "t.yaml:14:5");

	const struct account *b = &cfg.accounts[1];
	cr_expect_str_eq(b->name, "b_2-x");
	cr_expect_eq(b->port, 1143);
	cr_expect_eq(b->tls, TLS_IMPLICIT);
	cr_expect_str_eq(b->ca_file, "/data/ca.pem");
	cr_expect_str_eq(b->user, "other");
	/* an account's password key replaces the default source entirely */
	cr_expect_eq(b->password_source, PASSWORD_FILE);
	cr_expect_str_eq(b->password_arg, "/data/pw");
	/* folders replaces the default folders as a whole: include back to "*" */
	cr_assert_eq(b->include.n, 1);
	cr_expect_str_eq(b->include.items[0], "*");
	cr_assert_eq(b->exclude.n, 2);
	cr_expect_str_eq(b->exclude.items[1], "Junk*");
	cr_expect_eq(b->deletions, DELETIONS_MIRROR);
	cr_expect_eq(b->timeout, 1);
	cr_expect_eq(b->snapshot, 0);
	cr_expect_str_eq(b->snapshot_repo, "/srv/git/b.git");
	cr_expect_str_eq(b->snapshot_branch, "backup/mail");
	cr_expect_str_eq(b->snapshot_author, "Mail Keeper <keeper@example.org>");

	const struct account *c = &cfg.accounts[2];
	cr_expect_eq(c->tls, TLS_NONE);
	cr_expect_eq(c->port, 143);
	cr_expect_eq(c->password_source, PASSWORD_ENV);
	cr_expect_str_eq(c->password_arg, "C_PW");
	config_free(&cfg);
}

Test(config_valid, sample_yaml_loads, .init = test_env)
{
	struct config cfg;
	char err[512] = "";
	cr_assert_eq(config_load("sample.yaml", &cfg, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cfg.n_accounts, 3);
	cr_expect_eq(cfg.accounts[0].tls, TLS_IMPLICIT);
	cr_expect_eq(cfg.accounts[0].password_source, PASSWORD_COMMAND);
	cr_expect_eq(cfg.accounts[1].tls, TLS_STARTTLS);
	cr_expect_eq(cfg.accounts[1].password_source, PASSWORD_FILE);
	cr_expect_eq(cfg.accounts[2].auth, AUTH_XOAUTH2);
	cr_expect_eq(cfg.accounts[2].gmail_dedupe, 1);
	cr_expect_eq(cfg.accounts[2].exclude.n, 2);
	cr_expect_eq(cfg.accounts[0].compress, 0);
	cr_expect_eq(cfg.accounts[1].compress, 1);
	config_free(&cfg);
}

/* Every complete example (a ```yaml block with "accounts:") in the reference loads. */
Test(config_valid, docs_examples_load, .init = test_env)
{
	FILE *f = fopen("docs/config.md", "r");
	static char doc[65536];
	size_t len, examples = 0;
	cr_assert_not_null(f, "docs/config.md: run the tests from the repository root");
	len = fread(doc, 1, sizeof(doc) - 1, f);
	fclose(f);
	doc[len] = '\0';
	for (char *p = doc; (p = strstr(p, "```yaml\n"));) {
		char *start = p + 8, *end = strstr(start, "```");
		struct config cfg;
		char err[512] = "";
		cr_assert_not_null(end);
		*end = '\0';
		if (strstr(start, "accounts:")) {
			examples++;
			cr_expect_eq(config_load_buffer("docs", start, (size_t)(end - start), &cfg, err, sizeof(err)), 0,
				     "example %zu: %s", examples, err);
			config_free(&cfg);
		}
		p = end + 1;
	}
	cr_expect_geq(examples, 3);
}

Test(config_valid, yaml_variants, .init = test_env)
{
	/* Flow style, quoted scalars, explicit standard tags, a document marker,
	 * CRLF line ends and a UTF-8 BOM are all fine. */
	static const char *const ok[] = {
		"{accounts: [{name: x, host: h, user: u, password_env: P}]}",
		"---\naccounts:\n- name: 'x'\n  host: \"h\"\n  user: !!str u\n  port: !!int 10\n  password_env: P\n...\n",
		"accounts:\r\n  - name: x\r\n    host: h\r\n    user: u\r\n    password_env: P\r\n",
		("\xef\xbb\xbf" "accounts:\n  - {name: x, host: h, user: \"\xc3\xa9l\xc3\xa8ve\", password_env: P}\n"),
		"accounts:\n  - name: x\n    host: h\n    user: u\n    password_command: |\n      gpg -d f.gpg |\n      head -1\n",
		"accounts:\n  - name: x\n    host: h\n    user: u\n    password_env: P\n    folders: {}\n",
		"accounts:\n  - name: x\n    host: h\n    user: u\n    password_env: P\n    snapshot: TRUE\n    port: \"65535\"\n",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct config cfg;
		char err[512] = "";
		cr_expect_eq(load(ok[i], &cfg, err, sizeof(err)), 0, "case %zu: %s", i, err);
		config_free(&cfg);
	}
}

Test(config_valid, default_path)
{
	char *p;
	setenv("XDG_CONFIG_HOME", "/xdg", 1);
	p = config_default_path();
	cr_expect_str_eq(p, "/xdg/mailkeep/config.yaml");
	free(p);
	setenv("XDG_CONFIG_HOME", "relative", 1);
	setenv("HOME", "/home/u", 1);
	p = config_default_path();
	cr_expect_str_eq(p, "/home/u/.config/mailkeep/config.yaml");
	free(p);
	unsetenv("XDG_CONFIG_HOME");
	p = config_default_path();
	cr_expect_str_eq(p, "/home/u/.config/mailkeep/config.yaml");
	free(p);
	setenv("HOME", "/home/u/", 1); /* its trailing slash is not doubled */
	p = config_default_path();
	cr_expect_str_eq(p, "/home/u/.config/mailkeep/config.yaml");
	free(p);
}

Test(config_valid, known_keys)
{
	static const char *const expect[] = {
		"defaults", "accounts", "name", "root", "host", "port", "tls", "ca_file", "user",
		"password_command", "password_env", "password_file", "token_command", "auth", "folders",
		"deletions", "timeout",
		"max_connections", "pipeline_depth",
		"snapshot", "snapshot_repo", "snapshot_branch", "snapshot_author", "push_map", "gmail_dedupe",
		"compress", "include", "exclude",
	};
	size_t n = 0;
	while (config_known_keys[n])
		n++;
	cr_expect_eq(n, sizeof(expect) / sizeof(expect[0]));
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		int found = 0;
		for (size_t j = 0; config_known_keys[j]; j++)
			found |= !strcmp(config_known_keys[j], expect[i]);
		cr_expect(found, "%s missing from config_known_keys", expect[i]);
	}
}

Test(config_push_map, mapping_inherited_and_replaced, .init = test_env)
{
	struct config cfg;
	char err[512] = "";
	const char *y =
		"defaults:\n"
		"  push_map:\n"
		"    \"Sent Items\": Sent\n"
		"    \"Lists/Old\": \"Archive/Lists (old)\"\n"
		"    Geschäftlich: Business\n"
		"accounts:\n"
		"  - {name: a, host: h, user: u, password_env: P}\n"
		"  - {name: b, host: h, user: u, password_env: P, push_map: {}}\n"
		"  - name: c\n"
		"    host: h\n"
		"    user: u\n"
		"    password_env: P\n"
		"    push_map:\n"
		"      INBOX/x: y\n";
	cr_assert_eq(load(y, &cfg, err, sizeof(err)), 0, "%s", err);
	const struct account *a = &cfg.accounts[0], *b = &cfg.accounts[1], *c = &cfg.accounts[2];
	cr_assert_eq(a->n_push_map, 3);
	cr_expect_str_eq(a->push_map[0].source, "Sent Items");
	cr_expect_str_eq(a->push_map[0].target, "Sent");
	cr_expect_str_eq(a->push_map[1].source, "Lists/Old");
	cr_expect_str_eq(a->push_map[1].target, "Archive/Lists (old)");
	cr_expect_str_eq(a->push_map[2].source, "Geschäftlich");
	cr_expect_str_eq(a->push_map[2].target, "Business");
	cr_expect_eq(b->n_push_map, 0, "an account's push_map replaces the default one");
	cr_assert_eq(c->n_push_map, 1);
	cr_expect_str_eq(c->push_map[0].source, "INBOX/x");
	cr_expect_str_eq(c->push_map[0].target, "y");
	config_free(&cfg);
	/* without push_map anywhere: none */
	cr_assert_eq(load("accounts: [{name: a, host: h, user: u, password_env: P}]", &cfg, err, sizeof(err)), 0);
	cr_expect_eq(cfg.accounts[0].n_push_map, 0);
	cr_expect_null(cfg.accounts[0].push_map);
	config_free(&cfg);
}

/* ---- broken configurations ------------------------------------------- */

#define ACCT "accounts:\n  - name: a\n    host: h\n    user: u\n    password_env: P\n"
#define HEAD "accounts:\n  - name: a\n    host: h\n    user: u\n"

struct broken_case {
	const char *yaml;
	size_t len;         /* 0: strlen(yaml) */
	const char *prefix; /* exact start of the message */
	const char *needle; /* must appear too: the key, value or construct */
};

static const struct broken_case broken[] = {
	/* file level */
	{ "", 0, "t.yaml:1:1: ", "empty" },
	{ "# only a comment\n", 0, "t.yaml:1:1: ", "empty" },
	{ "- a\n- b\n", 0, "t.yaml:1:1: ", "\"accounts\"" },
	{ "just a string\n", 0, "t.yaml:1:1: ", "\"accounts\"" },
	{ "defaults: {}\n", 0, "t.yaml:1:1: ", "missing required key \"accounts\"" },
	{ "accounts: yes\n", 0, "t.yaml:1:11: ", "key \"accounts\": expected a non-empty sequence" },
	{ "accounts: []\n", 0, "t.yaml:1:11: ", "key \"accounts\"" },
	{ "accounts:\n  name: a\n", 0, "t.yaml:2:3: ", "key \"accounts\"" },
	{ ACCT "acounts: []\n", 0, "t.yaml:6:1: ", "unknown key \"acounts\" at the top level (did you mean \"accounts\"?)" },
	{ ACCT "accounts: []\n", 0, "t.yaml:6:1: ", "duplicate key \"accounts\" (first at t.yaml:1:1)" },
	{ "defaults: 3\n" ACCT, 0, "t.yaml:1:11: ", "key \"defaults\": expected a mapping" },
	{ "accounts:\n  - just-a-name\n", 0, "t.yaml:2:5: ", "accounts[0]: expected a mapping" },
	/* YAML syntax, structure, anchors, tags, documents */
	{ "accounts:\n  - name: a\n   host: h\n", 0, "t.yaml:3:4: ", "did not find expected '-' indicator" },
	{ "accounts:\n  - name: a: b\n", 0, "t.yaml:2:12: ", "mapping values are not allowed" },
	{ "accounts: [a, b\n", 0, "t.yaml:2:1: ", "did not find expected ',' or ']'" },
	{ "accounts:\n  - name: \"a\n", 0, "t.yaml:3:1: ", "unexpected end of stream" },
	{ "defaults: &d {user: u}\n" ACCT, 0, "t.yaml:1:11: ", "key \"defaults\": anchor \"&d\" is not supported" },
	{ "accounts:\n  - name: a\n    host: h\n    user: *u\n", 0, "t.yaml:4:11: ", "accounts[0] (a): key \"user\": alias \"*u\" is not supported" },
	/* a password key's anchor, alias or tag is not shown: a password pasted there may begin with
	 * '!', '&' or '*' */
	{ HEAD "    password_env: !hunter2 P\n", 0, "t.yaml:5:19: ",
	  "key \"password_env\": a tag is not supported (the value is not shown)" },
	{ HEAD "    password_env: !!hunter2 P\n", 0, "t.yaml:5:19: ", "key \"password_env\": a tag is not supported" },
	{ HEAD "    password_command: *hunter2\n", 0, "t.yaml:5:23: ",
	  "key \"password_command\": an alias is not supported (the value is not shown) (anchors" },
	{ HEAD "    password_command: &hunter2 cat x\n", 0, "t.yaml:5:23: ",
	  "key \"password_command\": an anchor is not supported (the value is not shown)" },
	{ HEAD "    token_command: !hunter2 x\n", 0, "t.yaml:5:20: ", "key \"token_command\": a tag is not supported" },
	{ HEAD "    &hunter2 password_command: cat x\n", 0, "t.yaml:5:5: ",
	  "key \"password_command\": an anchor is not supported" },
	{ "defaults:\n  password_command: !hunter2 x\n" HEAD, 0, "t.yaml:2:21: ", "a tag is not supported" },
	{ ACCT "    folders:\n      include: [a, *x]\n", 0, "t.yaml:7:20: ", "key \"folders.include\": alias \"*x\"" },
	{ ACCT "    &k port: 1\n", 0, "t.yaml:6:5: ", "accounts[0] (a): key \"port\": anchor \"&k\"" },
	{ "accounts:\n  - !!map {name: a}\n", 0, "t.yaml:2:5: ", "accounts[0] (a): missing required key \"host\"" },
	{ "accounts:\n  - !!seq {name: a}\n", 0, "t.yaml:2:5: ", "accounts[0] (a): tag \"tag:yaml.org,2002:seq\" is not supported" },
	{ "!foo {accounts: []}\n", 0, "t.yaml:1:1: ", "tag \"!foo\" is not supported" },
	{ ACCT "---\n" ACCT, 0, "t.yaml:6:1: ", "multiple YAML documents" },
	{ ACCT "    ? [x]\n    : y\n", 0, "t.yaml:6:7: ", "mapping keys must be strings" },
	/* encoding */
	{ ACCT "    root: /m\xff\n", 0, "t.yaml:6:13: ", "invalid UTF-8 (byte 0xff)" },
	{ ACCT "    root: \xc0\xaf\n", 0, "t.yaml:6:11: ", "invalid UTF-8" },
	{ "accounts:\n  - name: a\0\n", 22, "t.yaml:2:12: ", "NUL byte" },
	{ ACCT "    root: a\x01\n", 0, "t.yaml:6:12: ", "control character U+0001" },
	{ HEAD "    password_env: \"P\\0\"\n", 0, "t.yaml:5:19: ", "key \"password_env\": NUL character" },
	/* account keys */
	{ "accounts:\n  - name: a\n    hots: h\n", 0, "t.yaml:3:5: ", "accounts[0] (a): unknown key \"hots\" (did you mean \"host\"?)" },
	{ ACCT "    zzzzzz: 1\n", 0, "t.yaml:6:5: ", "accounts[0] (a): unknown key \"zzzzzz\"" },
	{ ACCT "    host: h2\n", 0, "t.yaml:6:5: ", "accounts[0] (a): duplicate key \"host\" (first at t.yaml:3:5)" },
	{ "accounts:\n- host: h\n  user: u\n  password_env: P\n", 0, "t.yaml:2:3: ", "accounts[0]: missing required key \"name\"" },
	{ "accounts:\n- name: a\n  user: u\n  password_env: P\n", 0, "t.yaml:2:3: ", "accounts[0] (a): missing required key \"host\"" },
	{ "accounts:\n- name: a\n  host: h\n  password_env: P\n", 0, "t.yaml:2:3: ", "missing required key \"user\"" },
	{ HEAD, 0, "t.yaml:2:5: ", "accounts[0] (a): exactly one of password_command, password_env, password_file, token_command is required" },
	{ ACCT "    password_file: /f\n", 0, "t.yaml:6:5: ", "exactly one of password_command, password_env, password_file, token_command is required (found \"password_env\" and \"password_file\")" },
	{ "defaults:\n  name: x\n" ACCT, 0, "t.yaml:2:3: ", "defaults: key \"name\" is not allowed" },
	{ "defaults:\n  porrt: 1\n" ACCT, 0, "t.yaml:2:3: ", "defaults: unknown key \"porrt\" (did you mean \"port\"?)" },
	{ "defaults:\n  port: x\n" ACCT, 0, "t.yaml:2:9: ", "defaults: key \"port\": expected an integer 1..65535, got \"x\"" },
	/* value types */
	{ ACCT "    port: abc\n", 0, "t.yaml:6:11: ", "accounts[0] (a): key \"port\": expected an integer 1..65535, got \"abc\"" },
	{ ACCT "    port: 0x10\n", 0, "t.yaml:6:11: ", "key \"port\": expected an integer 1..65535, got \"0x10\"" },
	{ ACCT "    port: +993\n", 0, "t.yaml:6:11: ", "key \"port\"" },
	{ ACCT "    port: 993 \n    tls: none\n    port2: 1\n", 0, "t.yaml:8:5: ", "unknown key \"port2\"" },
	{ ACCT "    port: 65536\n", 0, "t.yaml:6:11: ", "key \"port\": expected an integer 1..65535, got \"65536\"" },
	{ ACCT "    port: 0\n", 0, "t.yaml:6:11: ", "key \"port\"" },
	{ ACCT "    port: 0993\n", 0, "t.yaml:6:11: ", "key \"port\"" },
	{ ACCT "    port: 99999999999999999999999\n", 0, "t.yaml:6:11: ", "key \"port\"" },
	{ ACCT "    port: [1]\n", 0, "t.yaml:6:11: ", "key \"port\": expected an integer 1..65535, got a sequence" },
	{ ACCT "    timeout: 3601\n", 0, "t.yaml:6:14: ", "key \"timeout\": expected an integer 1..3600" },
	{ ACCT "    timeout: -1\n", 0, "t.yaml:6:14: ", "key \"timeout\"" },
	{ ACCT "    tls: ssl\n", 0, "t.yaml:6:10: ", "key \"tls\": expected one of implicit, starttls, none, got \"ssl\"" },
	{ ACCT "    deletions: delete\n", 0, "t.yaml:6:16: ", "key \"deletions\": expected one of mirror, keep" },
	{ ACCT "    snapshot: maybe\n", 0, "t.yaml:6:15: ", "key \"snapshot\": expected a boolean" },
	{ ACCT "    snapshot:\n", 0, "t.yaml:6:14: ", "key \"snapshot\": expected a boolean (true/false/yes/no/on/off), got null" },
	{ ACCT "    gmail_dedupe: 2\n", 0, "t.yaml:6:19: ", "key \"gmail_dedupe\": expected a boolean" },
	{ ACCT "    gmail_dedupe: [no]\n", 0, "t.yaml:6:19: ", "key \"gmail_dedupe\": expected a boolean" },
	{ ACCT "    compress: fast\n", 0, "t.yaml:6:15: ", "key \"compress\": expected a boolean" },
	{ "accounts:\n  - name: .hidden\n", 0, "t.yaml:2:11: ", "accounts[0]: key \"name\": expected an account name" },
	{ "accounts:\n  - name: a/b\n", 0, "t.yaml:2:11: ", "key \"name\"" },
	{ "accounts:\n  - name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", 0, "t.yaml:2:11: ", "key \"name\"" },
	{ "accounts:\n  - name: \"\"\n", 0, "t.yaml:2:11: ", "key \"name\"" },
	{ "accounts:\n  - name: {x: 1}\n", 0, "t.yaml:2:11: ", "key \"name\": expected an account name" },
	{ "accounts:\n  - name: a\n    host: imap example.com\n", 0, "t.yaml:3:11: ", "key \"host\": expected a host name" },
	{ "accounts:\n  - name: a\n    host: \"\"\n", 0, "t.yaml:3:11: ", "key \"host\"" },
	{ "accounts:\n  - name: a\n    host: \"h\\n\"\n", 0, "t.yaml:3:11: ", "key \"host\"" },
	{ "accounts:\n  - name: a\n    host: h\n    user: \"\"\n", 0, "t.yaml:4:11: ", "key \"user\"" },
	{ "accounts:\n  - name: a\n    host: h\n    user: [u]\n", 0, "t.yaml:4:11: ", "key \"user\": expected a non-empty string without control characters, got a sequence" },
	{ "accounts:\n  - name: a\n    host: h\n    user: ~\n", 0, "t.yaml:4:11: ", "key \"user\": expected a non-empty string without control characters, got null" },
	{ HEAD "    password_env: 1X\n", 0, "t.yaml:5:19: ", "key \"password_env\": expected an environment variable name" },
	{ HEAD "    password_command: \"\"\n", 0, "t.yaml:5:23: ", "key \"password_command\"" },
	{ HEAD "    password_file: {a: b}\n", 0, "t.yaml:5:20: ", "key \"password_file\": expected a path (non-empty, no control characters), got a mapping" },
	{ ACCT "    snapshot_author: nobody\n", 0, "t.yaml:6:22: ", "key \"snapshot_author\": expected \"Name <email>\", got \"nobody\"" },
	{ ACCT "    snapshot_author: \"<a@b>\"\n", 0, "t.yaml:6:22: ", "key \"snapshot_author\"" },
	{ ACCT "    snapshot_author: \"N <ab>\"\n", 0, "t.yaml:6:22: ", "key \"snapshot_author\"" },
	{ ACCT "    snapshot_branch: \"a..b\"\n", 0, "t.yaml:6:22: ", "key \"snapshot_branch\": expected a git branch name" },
	{ ACCT "    snapshot_branch: -x\n", 0, "t.yaml:6:22: ", "key \"snapshot_branch\"" },
	{ ACCT "    snapshot_branch: HEAD\n", 0, "t.yaml:6:22: ", "key \"snapshot_branch\": expected a git branch name" },
	/* paths */
	{ ACCT "    root: $MK_UNSET/m\n", 0, "t.yaml:6:11: ", "key \"root\": environment variable \"MK_UNSET\" is not set" },
	{ ACCT "    ca_file: ${MK_UNSET}\n", 0, "t.yaml:6:14: ", "key \"ca_file\": environment variable \"MK_UNSET\"" },
	{ ACCT "    snapshot_repo: ${MK_DIR\n", 0, "t.yaml:6:20: ", "key \"snapshot_repo\": malformed \"${\"" },
	{ ACCT "    root: ~bob/m\n", 0, "t.yaml:6:11: ", "key \"root\": \"~user\" is not supported" },
	/* a plain ~ is YAML's null, not the home: the message says how to write it */
	{ ACCT "    root: ~\n", 0, "t.yaml:6:11: ", "key \"root\": expected a path (non-empty, no control characters), got null (a plain ~ is YAML's null: write \"~\" in quotes for the home directory)" },
	{ ACCT "    snapshot_repo: ~\n", 0, "t.yaml:6:20: ", "got null (a plain ~ is YAML's null" },
	{ HEAD "    password_file: \"\"\n", 0, "t.yaml:5:20: ", "key \"password_file\"" },
	/* folders */
	{ ACCT "    folders: INBOX\n", 0, "t.yaml:6:14: ", "key \"folders\": expected a mapping" },
	{ ACCT "    folders:\n      inclde: [a]\n", 0, "t.yaml:7:7: ", "unknown key \"inclde\" in \"folders\" (did you mean \"include\"?)" },
	{ ACCT "    folders:\n      include: a\n      include: b\n", 0, "t.yaml:8:7: ", "duplicate key \"include\" in \"folders\" (first at t.yaml:7:7)" },
	{ ACCT "    folders:\n      include: []\n", 0, "t.yaml:7:16: ", "key \"folders.include\": must not be empty" },
	{ ACCT "    folders:\n      exclude: {a: b}\n", 0, "t.yaml:7:16: ", "key \"folders.exclude\": expected a glob pattern or a sequence" },
	{ ACCT "    folders:\n      include: [a, [b]]\n", 0, "t.yaml:7:20: ", "key \"folders.include\": item 2: expected a glob pattern, got a sequence" },
	{ ACCT "    folders:\n      exclude: \"Arch[ive\"\n", 0, "t.yaml:7:16: ", "key \"folders.exclude\": invalid glob pattern \"Arch[ive\": unterminated \"[\"" },
	{ ACCT "    folders:\n      exclude: 'a\\'\n", 0, "t.yaml:7:16: ", "key \"folders.exclude\": invalid glob pattern" },
	/* push_map */
	{ ACCT "    push_map: x\n", 0, "t.yaml:6:15: ", "key \"push_map\": expected a mapping of source folder names to target folder names, got a string" },
	{ ACCT "    push_map: ~\n", 0, "t.yaml:6:15: ", "key \"push_map\": expected a mapping of source folder names to target folder names, got null" },
	{ "defaults:\n  push_map: [a]\n" ACCT, 0, "t.yaml:2:13: ", "defaults: key \"push_map\": expected a mapping" },
	{ ACCT "    push_map:\n      a: [b]\n", 0, "t.yaml:7:10: ", "key \"push_map\": source folder \"a\": expected a target folder name, got a sequence" },
	{ ACCT "    push_map:\n      a:\n", 0, "t.yaml:7:9: ", "source folder \"a\": expected a target folder name, got null" },
	{ ACCT "    push_map:\n      a: b\n      a: c\n", 0, "t.yaml:8:7: ", "duplicate key \"a\" in \"push_map\" (first at t.yaml:7:7)" },
	{ ACCT "    push_map:\n      \"/a\": b\n", 0, "t.yaml:7:7: ", "source folder \"/a\": '/' separates levels" },
	{ ACCT "    push_map: {a/: b}\n", 0, "t.yaml:6:16: ", "source folder \"a/\": '/' separates levels" },
	{ ACCT "    push_map:\n      a: \"b//c\"\n", 0, "t.yaml:7:10: ", "target folder \"b//c\": '/' separates levels" },
	{ ACCT "    push_map:\n      \"\": b\n", 0, "t.yaml:7:7: ", "source folder \"\": a folder name must not be empty" },
	{ ACCT "    push_map:\n      ~: b\n", 0, "t.yaml:7:7: ", "expected a source folder name, got null" },
	{ ACCT "    push_map:\n      a: \"x\\ty\"\n", 0, "t.yaml:7:10: ", "must not contain control characters" },
	{ ACCT "    push_map:\n      [a]: b\n", 0, "t.yaml:7:7: ", "mapping keys must be strings" },
	/* syntax errors name the last key and quote the line */
	{ "accounts:\n  - name: a\n    host h\n    user: u\n", 0, "t.yaml:4:5: ",
	  "after key \"name\" at line 2, column 5); line 3: host h" },
	{ "accounts:\n  - name: a\n\thost: h\n", 0, "t.yaml:3:1: ", "(indent with spaces)" },
	{ ACCT "    folders: {include: [\"\\[G]\"]}\n", 0, "t.yaml:6:", "use single quotes" },
	/* a BOM does not shift line 1's columns; "---" alone is an empty file */
	{ "\xef\xbb\xbf" "acounts: []\n", 0, "t.yaml:1:1: ", "unknown key \"acounts\"" },
	{ "---\n", 0, "t.yaml:1:1: ", "empty" },
	/* C1 controls and Unicode separators, raw or escaped; the key named */
	{ HEAD "    password_env: P\xc2\x85x\n", 0, "t.yaml:5:20: ", "U+0085 is not allowed (in the value of key \"password_env\")" },
	{ HEAD "    password_env: P\n    port: 9\xe2\x80\xa8\n", 0, "t.yaml:6:12: ", "separator U+2028" },
	{ ACCT "    ca_file: \"c\\x80\"\n", 0, "t.yaml:6:14: ", "key \"ca_file\"" },
	/* host: ASCII, no URL, no port; IPv6 literal fine (below) */
	{ "accounts:\n  - name: a\n    host: imaps://h:993\n    user: u\n    password_env: P\n", 0,
	  "t.yaml:3:11: ", "key \"host\"" },
	{ "accounts:\n  - name: a\n    host: h:993\n    user: u\n    password_env: P\n", 0,
	  "t.yaml:3:11: ", "no scheme or port" },
	{ "accounts:\n  - name: a\n    host: \"h\\_x\"\n    user: u\n    password_env: P\n", 0,
	  "t.yaml:3:11: ", "key \"host\"" },
	/* a tag that contradicts the key */
	{ ACCT "    port: !!bool 993\n", 0, "t.yaml:6:11: ", "tagged !!bool" },
	{ ACCT "    folders: {include: !!int INBOX}\n", 0, "t.yaml:6:24: ",
	  "key \"folders.include\": item 1: expected a glob pattern, got a value tagged !!int" },
	{ ACCT "    folders: {exclude: [Trash, !!bool yes]}\n", 0, "t.yaml:6:32: ", "item 2: expected a glob pattern, got a value tagged !!bool" },
	{ ACCT "    push_map: {!!int 5: X}\n", 0, "t.yaml:6:16: ", "expected a source folder name, got a value tagged !!int" },
	{ ACCT "    push_map: {A: !!float 1.5}\n", 0, "t.yaml:6:19: ", "source folder \"A\": expected a target folder name, got a value tagged !!float" },
	/* unknown keys: case-insensitive suggestion, no "password" key */
	{ ACCT "    PORT: 993\n", 0, "t.yaml:6:5: ", "(did you mean \"port\"?)" },
	/* a transposition is one edit; two edits of a short word are no hint ("path" is not "auth");
	 * other tools' names; include/exclude belong in folders */
	{ ACCT "    tsl: none\n", 0, "t.yaml:6:5: ", "unknown key \"tsl\" (did you mean \"tls\"?)" },
	{ ACCT "    path: /m\n", 0, "t.yaml:6:5: ", "unknown key \"path\" (did you mean \"root\"?)" },
	{ HEAD "    password_cmd: pass x\n", 0, "t.yaml:5:5: ", "(did you mean \"password_command\"?)" },
	{ ACCT "    username: u\n", 0, "t.yaml:6:5: ", "(did you mean \"user\"?)" },
	{ ACCT "    ssl: yes\n", 0, "t.yaml:6:5: ", "(did you mean \"tls\"?)" },
	{ "defaults:\n  exclude: [Trash]\n" ACCT, 0, "t.yaml:2:3: ",
	  "defaults: unknown key \"exclude\" (did you mean \"folders\", with \"exclude\" in it?)" },
	{ HEAD "    password: hunter2\n", 0, "t.yaml:5:5: ", "use password_command, password_env or password_file" },
	/* password keys are not echoed */
	{ HEAD "    password_env: hunter2-secret!\n", 0, "t.yaml:5:19: ", "(the value is not shown)" },
	/* duplicate account names */
	{ ACCT "  - name: b\n    host: h\n    user: u\n    password_env: P\n"
	  "  - name: a\n    host: h\n    user: u\n    password_env: P\n",
	  0, "t.yaml:10:5: ", "accounts[2]: duplicate account name \"a\" (first defined at t.yaml:2:5)" },
	/* nesting */
	{ "accounts: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
	  0, "t.yaml:1:", "nesting deeper" },
	/* a YAML syntax error quotes its line, but not one that may hold a password */
	{ HEAD "    password_command: cat x: hunter2\n", 0, "t.yaml:5:28: ", "line 5 not shown" },
	{ HEAD "    password_command: `echo hunter2`\n", 0, "t.yaml:5:23: ", "line 5 not shown" },
	{ HEAD "    password_command: echo\n      hunter2: x\n", 0, "t.yaml:6:14: ", "line 6 not shown" },
	{ HEAD "    password_env hunter2\n", 0, "t.yaml:6:1: ", "line 5 not shown" },
	{ HEAD "    password_env: P\n    port 1\n", 0, "t.yaml:7:1: ", "line 6: port 1" },
	/* a password pasted on a line of its own, away from any password key */
	{ HEAD "    hunter2!\n    password_env: P\n", 0, "t.yaml:6:5: ", "line 5 not shown" },
	{ "accounts:\n  - name: a\n    host: h\n    hunter2\n", 0, "t.yaml:5:1: ", "line 4 not shown" },
	{ HEAD "    'hunter2 x'\n", 0, "t.yaml:6:1: ", "line 5 not shown" },
	/* push_map: the first level INBOX in any case is one folder */
	{ ACCT "    push_map: {INBOX: A, inbox: B}\n", 0, "t.yaml:6:26: ", "duplicate key \"inbox\" in \"push_map\"" },
	{ ACCT "    push_map: {INBOX/x: A, Inbox/x: B}\n", 0, "t.yaml:6:28: ", "duplicate key \"Inbox/x\"" },
	/* an account's snapshot repository and its own mirror */
	{ ACCT "    root: /m\n    snapshot_repo: /m/a\n", 0, "t.yaml:2:5: ", "would write over each other" },
	{ ACCT "    root: /m/r.git\n    snapshot_repo: /m/r.git\n", 0, "t.yaml:2:5: ", "\"/m/r.git/a\"" },
	{ ACCT "    root: /m\n    snapshot_repo: /m/a/Sent.git\n", 0, "t.yaml:2:5: ", "snapshot_repo" },
	{ ACCT "    root: /m\n    snapshot_repo: /m/a/.mailkeep/g\n", 0, "t.yaml:2:5: ", "snapshot_repo" },
	/* host: DNS label and name lengths */
	{ "accounts:\n  - name: a\n    host: a..b\n    user: u\n    password_env: P\n", 0,
	  "t.yaml:3:11: ", "key \"host\"" },
	{ "accounts:\n  - name: a\n    host: x1234567890123456789012345678901234567890123456789012345678901234\n"
	  "    user: u\n    password_env: P\n", 0, "t.yaml:3:11: ", "labels of 1..63" },
};

Test(config_broken, table, .init = test_env)
{
	size_t n = sizeof(broken) / sizeof(broken[0]);
	cr_assert_geq(n, 40);
	for (size_t i = 0; i < n; i++) {
		const struct broken_case *t = &broken[i];
		struct config cfg;
		char err[512] = "";
		size_t len = t->len ? t->len : strlen(t->yaml);
		int rc = config_load_buffer("t.yaml", t->yaml, len, &cfg, err, sizeof(err));
		cr_expect_eq(rc, -1, "case %zu: accepted", i);
		cr_expect_eq(cfg.n_accounts, 0, "case %zu", i);
		cr_expect_null(cfg.accounts, "case %zu", i);
		cr_expect_eq(strncmp(err, t->prefix, strlen(t->prefix)), 0,
			     "case %zu: got \"%s\", want prefix \"%s\"", i, err, t->prefix);
		cr_expect_not_null(strstr(err, t->needle), "case %zu: \"%s\" lacks \"%s\"", i, err, t->needle);
		cr_expect_null(strstr(err, "hunter2"), "case %zu: a password echoed: %s", i, err);
	}
}

Test(config_broken, too_large)
{
	size_t len = (1 << 20) + 1;
	char *big = malloc(len);
	struct config cfg;
	char err[256];
	memset(big, '#', len);
	cr_expect_eq(config_load_buffer("big.yaml", big, len, &cfg, err, sizeof(err)), -1);
	cr_expect_str_eq(err, "big.yaml: the configuration is larger than 1 MiB");
	free(big);
}

Test(config_broken, unreadable_file)
{
	struct config cfg;
	char err[256];
	cr_expect_eq(config_load("/nonexistent/mk.yaml", &cfg, err, sizeof(err)), -1);
	cr_expect_str_eq(err, "/nonexistent/mk.yaml: No such file or directory");
	cr_expect_eq(config_load("/tmp", &cfg, err, sizeof(err)), -1);
	cr_expect_str_eq(err, "/tmp: not a regular file");
}

Test(config_broken, long_value_is_truncated_in_message, .init = test_env)
{
	char yaml[1024], err[512];
	struct config cfg;
	snprintf(yaml, sizeof(yaml), ACCT "    tls: %0300d\n", 7);
	cr_expect_eq(load(yaml, &cfg, err, sizeof(err)), -1);
	cr_expect_not_null(strstr(err, "\"..."), "%s", err);
	cr_expect_lt(strlen(err), 200);
}

Test(config_broken, many_duplicates_stay_fast, .init = test_env)
{
	/* 20000 accounts with one repeated name far apart: sorted, not quadratic. */
	size_t n = 20000;
	char *y = malloc(n * 64 + 64), *p = y;
	struct config cfg;
	char err[512];
	p += sprintf(p, "accounts:\n");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "- {name: n%zu, host: h, user: u, password_env: P}\n", i == n - 1 ? (size_t)7 : i);
	cr_expect_eq(load(y, &cfg, err, sizeof(err)), -1);
	cr_expect_str_eq(err, "t.yaml:20001:3: accounts[19999]: duplicate account name \"n7\" "
			 "(first defined at t.yaml:9:3)");
	free(y);
}

/* no time asserted (a loaded machine is slow); .timeout ends an unbounded copy */
Test(config_broken, defaults_copied_into_accounts_are_bounded, .init = test_env, .timeout = 120)
{
	/* 100 000 patterns in defaults and ~40 000 accounts in 1 MiB: each account
	 * gets a copy, so without a bound this asks for many GiB. */
	size_t cap = 1 << 20, len;
	char *y = malloc(cap + 64), err[512] = "";
	struct config cfg;
	len = (size_t)sprintf(y, "defaults:\n  host: h\n  user: u\n  password_env: P\n  folders:\n    include: [a");
	for (size_t i = 1; i < 100000; i++)
		len += (size_t)sprintf(y + len, ",a");
	len += (size_t)sprintf(y + len, "]\naccounts:\n");
	for (size_t i = 0; len + 32 < cap; i++)
		len += (size_t)sprintf(y + len, "  - name: a%zu\n", i);
	cr_expect_eq(config_load_buffer("t.yaml", y, len, &cfg, err, sizeof(err)), -1);
	cr_expect_not_null(strstr(err, "more than 16 MiB plus 1024 bytes each with \"defaults\""), "%s", err);
	cr_expect_eq(strncmp(err, "t.yaml:", 7), 0, "%s", err);
	/* the same defaults with a few accounts are fine */
	len = (size_t)sprintf(y, "defaults:\n  host: h\n  user: u\n  password_env: P\n  folders:\n    include: [a");
	for (size_t i = 1; i < 100000; i++)
		len += (size_t)sprintf(y + len, ",a");
	len += (size_t)sprintf(y + len, "]\naccounts:\n  - name: a\n  - name: b\n");
	cr_expect_eq(config_load_buffer("t.yaml", y, len, &cfg, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cfg.n_accounts, 2);
	if (cfg.n_accounts == 2)
		cr_expect_eq(cfg.accounts[1].include.n, 100000);
	config_free(&cfg);
	free(y);
}

/* ---- path expansion --------------------------------------------------- */

struct expand_case {
	const char *root;
	const char *want;
};

Test(config_paths, expansion, .init = test_env)
{
	static const struct expand_case cases[] = {
		{ "~", "/home/tester" },
		{ "~/", "/home/tester" },
		{ "~/Mail", "/home/tester/Mail" },
		{ "$MK_DIR/m", "/data/m" },
		{ "${MK_DIR}m", "/datam" },
		{ "/x/$MK_DIR", "/x//data" },
		{ "/a$/b", "/a$/b" },
		{ "/a/~/b", "/a/~/b" },
		{ "/", "/" },
		{ "relative/dir", "relative/dir" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char yaml[256], err[512] = "";
		struct config cfg;
		snprintf(yaml, sizeof(yaml), ACCT "    root: \"%s\"\n", cases[i].root);
		cr_assert_eq(load(yaml, &cfg, err, sizeof(err)), 0, "case %zu: %s", i, err);
		cr_expect_str_eq(cfg.accounts[0].root, cases[i].want, "case %zu", i);
		config_free(&cfg);
	}
}

/* A relative root is the run's directory's: written relative in one account and
 * absolute in another, the same directory is still seen as shared. */
/* Load two accounts a and b with roots A and B (a quoted YAML scalar each,
 * "%s" in it standing for DIR); the config is freed. load()'s result. */
static int load_two_roots(const char *dir, const char *a, const char *b, char *err, size_t errlen)
{
	char ra[512], rb[512], yaml[1280];
	struct config cfg;
	snprintf(ra, sizeof(ra), a, dir);
	snprintf(rb, sizeof(rb), b, dir);
	snprintf(yaml, sizeof(yaml),
		 "accounts:\n"
		 "  - {name: a, host: h, user: u, password_env: P, root: %s}\n"
		 "  - {name: b, host: h, user: u, password_env: P, root: %s}\n", ra, rb);
	int rc = load(yaml, &cfg, err, errlen);
	if (rc == 0)
		config_free(&cfg);
	return rc;
}

Test(config_paths, relative_and_absolute_roots_compared, .init = test_env)
{
	char tmpl[] = "/tmp/mk-config-test.XXXXXX", old[4096], err[512] = "", err2[512] = "", err3[512] = "";
	cr_assert_not_null(mkdtemp(tmpl));
	cr_assert_not_null(getcwd(old, sizeof(old)));
	cr_assert_eq(chdir(tmpl), 0);
	int rc = load_two_roots(tmpl, "m", "\"%s/m/a\"", err, sizeof(err));
	int rc2 = load_two_roots(tmpl, "\"%s/m\"", "./m/../m/a/x/..", err2, sizeof(err2));
	/* apart: a relative root elsewhere is still accepted */
	int rc3 = load_two_roots(tmpl, "m", "\"%s/n\"", err3, sizeof(err3));
	cr_assert_eq(chdir(old), 0);
	rmdir(tmpl);
	cr_expect_eq(rc, -1, "relative root inside an absolute one accepted");
	cr_expect_not_null(strstr(err, "would share a directory"), "%s", err);
	cr_expect_eq(rc2, -1, "absolute root holding a relative one accepted");
	cr_expect_not_null(strstr(err2, "would share a directory"), "%s", err2);
	cr_expect_eq(rc3, 0, "%s", err3);
}

Test(config_paths, snapshot_repo_default_follows_root, .init = test_env)
{
	struct config cfg;
	char err[512] = "";
	cr_assert_eq(load(ACCT "    root: /\n", &cfg, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(cfg.accounts[0].snapshot_repo, "/a.git");
	config_free(&cfg);
	cr_assert_eq(load(ACCT "    root: $MK_DIR/mail//\n    snapshot_repo: ~/g\n", &cfg, err, sizeof(err)), 0,
		     "%s", err);
	cr_expect_str_eq(cfg.accounts[0].root, "/data/mail");
	cr_expect_str_eq(cfg.accounts[0].snapshot_repo, "/home/tester/g");
	config_free(&cfg);
}

Test(config_valid, compress_default_and_inherited, .init = test_env)
{
	struct config cfg;
	char err[512] = "";
	cr_assert_eq(load(ACCT, &cfg, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cfg.accounts[0].compress, 0, "off by default");
	config_free(&cfg);
	cr_assert_eq(load("defaults:\n  compress: yes\naccounts:\n"
			  "  - {name: a, host: h, user: u, password_env: P}\n"
			  "  - {name: b, host: h, user: u, password_env: P, compress: false}\n",
			  &cfg, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cfg.accounts[0].compress, 1, "inherited from defaults");
	cr_expect_eq(cfg.accounts[1].compress, 0, "overridden by the account");
	config_free(&cfg);
}

Test(config_valid, gmail_dedupe_default_and_inherited, .init = test_env)
{
	struct config cfg;
	char err[512] = "";
	cr_assert_eq(load(ACCT, &cfg, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cfg.accounts[0].gmail_dedupe, 1, "on by default");
	config_free(&cfg);
	cr_assert_eq(load(ACCT "    gmail_dedupe: no\n", &cfg, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cfg.accounts[0].gmail_dedupe, 0);
	config_free(&cfg);
	cr_assert_eq(load("defaults:\n  gmail_dedupe: off\naccounts:\n"
			  "  - {name: a, host: h, user: u, password_env: P}\n"
			  "  - {name: b, host: h, user: u, password_env: P, gmail_dedupe: true}\n",
			  &cfg, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cfg.accounts[0].gmail_dedupe, 0, "inherited from defaults");
	cr_expect_eq(cfg.accounts[1].gmail_dedupe, 1, "overridden by the account");
	config_free(&cfg);
}

Test(config_paths, default_root_without_home)
{
	struct config cfg;
	char err[512] = "";
	char want[1024];
	/* HOME unset (some cron daemons, systemd units): the password database's home */
	const struct passwd *pw = getpwuid(geteuid());
	cr_assert(pw && pw->pw_dir && pw->pw_dir[0] == '/', "no home in the password database");
	snprintf(want, sizeof(want), "%s/Mail", strcmp(pw->pw_dir, "/") ? pw->pw_dir : "");
	unsetenv("HOME");
	cr_assert_eq(load(ACCT, &cfg, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(cfg.accounts[0].root, want);
	config_free(&cfg);
	/* nor a relative one: "~" would then depend on the directory the run starts
	 * in (the push locks, which use the same home, too) */
	setenv("HOME", "home/me", 1);
	cr_assert_eq(load(ACCT, &cfg, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(cfg.accounts[0].root, want);
	config_free(&cfg);
	cr_expect_str_eq(config_home_dir(), pw->pw_dir);
	setenv("XDG_CONFIG_HOME", "", 1);
	char *p = config_default_path();
	snprintf(want, sizeof(want), "%s/.config/mailkeep/config.yaml",
		 strcmp(pw->pw_dir, "/") ? pw->pw_dir : "");
	cr_expect_str_eq(p, want);
	free(p);
	unsetenv("XDG_CONFIG_HOME");
	/* a trailing slash in HOME does not double the one of "~/" */
	setenv("HOME", "/home/me/", 1);
	cr_assert_eq(load(ACCT, &cfg, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(cfg.accounts[0].root, "/home/me/Mail");
	config_free(&cfg);
	/* nor does HOME "/" (a system user's) */
	setenv("HOME", "/", 1);
	cr_assert_eq(load(ACCT, &cfg, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(cfg.accounts[0].root, "/Mail");
	config_free(&cfg);
	cr_assert_eq(load(ACCT "    root: \"~\"\n", &cfg, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(cfg.accounts[0].root, "/");
	config_free(&cfg);
	unsetenv("HOME");
}

/* ---- passwords -------------------------------------------------------- */

static struct account pw_account(enum password_source src, const char *arg)
{
	struct account a;
	memset(&a, 0, sizeof(a));
	a.name = (char *)"acct";
	a.password_source = src;
	a.password_arg = (char *)arg;
	return a;
}

static void write_file(const char *path, const char *data, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
	cr_assert_eq(chmod(path, mode), 0);
}

Test(config_password, env)
{
	struct account a = pw_account(PASSWORD_ENV, "MK_PW");
	char err[256] = "", *pw;
	setenv("MK_PW", "hunter2\r\n", 1);
	pw = config_get_password(&a, err, sizeof(err));
	cr_assert_not_null(pw, "%s", err);
	cr_expect_str_eq(pw, "hunter2");
	free(pw);
	setenv("MK_PW", "", 1);
	cr_expect_null(config_get_password(&a, err, sizeof(err)));
	cr_expect_str_eq(err, "account \"acct\": environment variable \"MK_PW\" (password_env) is empty");
	unsetenv("MK_PW");
	cr_expect_null(config_get_password(&a, err, sizeof(err)));
	cr_expect_str_eq(err, "account \"acct\": environment variable \"MK_PW\" (password_env) is not set");
}

Test(config_password, file_modes)
{
	char dir[] = "/tmp/mkcfg-XXXXXX", path[64], err[512] = "", *pw;
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/pw", dir);
	struct account a = pw_account(PASSWORD_FILE, path);

	write_file(path, "s3cret\r\nsecond line\n", 0600);
	pw = config_get_password(&a, err, sizeof(err));
	cr_assert_not_null(pw, "%s", err);
	cr_expect_str_eq(pw, "s3cret");
	free(pw);

	write_file(path, "nonl", 0400);
	pw = config_get_password(&a, err, sizeof(err));
	cr_assert_not_null(pw, "%s", err);
	cr_expect_str_eq(pw, "nonl");
	free(pw);

	write_file(path, "s3cret\n", 0644);
	cr_expect_null(config_get_password(&a, err, sizeof(err)));
	cr_expect_not_null(strstr(err, "chmod 600"), "%s", err);
	cr_expect_not_null(strstr(err, "(mode 0644)"), "%s", err);
	cr_expect_null(strstr(err, "s3cret"), "%s", err);

	write_file(path, "s3cret\n", 0640);
	cr_expect_null(config_get_password(&a, err, sizeof(err)));
	cr_expect_not_null(strstr(err, "chmod 600"), "%s", err);

	write_file(path, "\nsecond\n", 0600);
	cr_expect_null(config_get_password(&a, err, sizeof(err)));
	cr_expect_str_eq(err, "account \"acct\": password_file gave an empty password");

	a.password_arg = dir;
	chmod(dir, 0700);
	cr_expect_null(config_get_password(&a, err, sizeof(err)));
	cr_expect_not_null(strstr(err, "is not a regular file"), "%s", err);

	a.password_arg = (char *)"/nonexistent/pw";
	cr_expect_null(config_get_password(&a, err, sizeof(err)));
	cr_expect_str_eq(err, "account \"acct\": password_file \"/nonexistent/pw\": No such file or directory");

	unlink(path);
	rmdir(dir);
}

Test(config_password, file_from_variable_shown_as_written, .init = test_env)
{
	/* password_file: $VAR where VAR holds the password (password_env meant):
	 * the message shows the path as written, not its expansion */
	struct config cfg;
	char err[512] = "", *pw;
	setenv("MK_PWVAR", "hunter2-in-env", 1);
	cr_assert_eq(load(HEAD "    password_file: $MK_PWVAR\n", &cfg, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(cfg.accounts[0].password_arg, "hunter2-in-env");
	pw = config_get_password(&cfg.accounts[0], err, sizeof(err));
	cr_expect_null(pw);
	free(pw);
	cr_expect_str_eq(err, "account \"a\": password_file \"$MK_PWVAR\": No such file or directory");
	config_free(&cfg);
	/* without a variable, the expanded path */
	cr_assert_eq(load(HEAD "    password_file: ~/nonexistent-pw\n", &cfg, err, sizeof(err)), 0, "%s", err);
	cr_expect_null(config_get_password(&cfg.accounts[0], err, sizeof(err)));
	cr_expect_str_eq(err, "account \"a\": password_file \"/home/tester/nonexistent-pw\": No such file or directory");
	config_free(&cfg);
	unsetenv("MK_PWVAR");
}

Test(config_invalid, path_variable_with_a_newline, .init = test_env)
{
	/* a control character that comes from a variable is refused like a
	 * written one, and the message shows the path as written */
	struct config cfg;
	char err[512] = "";
	setenv("MK_NLDIR", "/data\nx", 1);
	cr_expect_eq(load(HEAD "    root: $MK_NLDIR/mail\n", &cfg, err, sizeof(err)), -1);
	cr_expect(strstr(err, "root") && strstr(err, "control character") && strstr(err, "$MK_NLDIR/mail"),
		  "%s", err);
	cr_expect(!strstr(err, "/data\nx"), "%s", err);
	unsetenv("MK_NLDIR");
}

Test(config_password, command)
{
	struct account a = pw_account(PASSWORD_COMMAND, "printf 'pa ss\\r\\nignored\\n'; read x || true");
	char err[256] = "", *pw;
	pw = config_get_password(&a, err, sizeof(err));
	cr_assert_not_null(pw, "%s", err);
	cr_expect_str_eq(pw, "pa ss");
	free(pw);

	a.password_arg = (char *)"echo leaked-secret; exit 3";
	cr_expect_null(config_get_password(&a, err, sizeof(err)));
	cr_expect_str_eq(err, "account \"acct\": password_command exited with status 3");
	cr_expect_null(strstr(err, "leaked"));

	a.password_arg = (char *)"true";
	cr_expect_null(config_get_password(&a, err, sizeof(err)));
	cr_expect_str_eq(err, "account \"acct\": password_command output gave an empty password");

	a.password_arg = (char *)"kill -9 $$";
	cr_expect_null(config_get_password(&a, err, sizeof(err)));
	cr_expect_str_eq(err, "account \"acct\": password_command was killed by signal 9");

	a.password_arg = (char *)"head -c 70000 /dev/zero | tr '\\0' x";
	cr_expect_null(config_get_password(&a, err, sizeof(err)));
	cr_expect_str_eq(err, "account \"acct\": password_command: output is larger than 64 KiB");
}

Test(config_password, none)
{
	struct account a = pw_account(PASSWORD_NONE, NULL);
	char err[256] = "";
	cr_expect_null(config_get_password(&a, err, sizeof(err)));
	cr_expect_str_eq(err, "account \"acct\": no password source configured");
}

/* ---- folder globs ----------------------------------------------------- */

struct glob_case {
	const char *pattern;
	const char *folder;
	int want;
};

static const struct glob_case globs[] = {
	{ "*", "INBOX", 1 },
	{ "*", "a/b/c", 1 },
	{ "*", "", 1 },
	{ "%", "a", 1 },
	{ "%", "a/b", 0 },
	{ "Archive/%", "Archive/2023", 1 },
	{ "Archive/%", "Archive/2023/Q1", 0 },
	{ "Archive/*", "Archive/2023/Q1", 1 },
	{ "Archive/*", "Archive", 0 },
	{ "Archive*", "Archive", 1 },
	{ "a*b*c", "aXbYc", 1 },
	{ "a*b*c", "aXbYd", 0 },
	{ "a%c", "a/c", 0 },
	{ "?", "\xc3\xa9", 1 },             /* one character, two bytes */
	{ "??", "\xc3\xa9", 0 },
	{ "?", "\xe2\x82\xac", 1 },
	{ "Caf?", "Caf\xc3\xa9", 1 },
	{ "Caf\xc3\xa9", "Caf\xc3\xa9", 1 },
	{ "Caf\xc3\xa9", "Cafe", 0 },
	{ "[abc]x", "bx", 1 },
	{ "[abc]x", "dx", 0 },
	{ "[a-c]", "b", 1 },
	{ "[a-c]", "B", 0 },
	{ "[!a-c]", "d", 1 },
	{ "[!a-c]", "a", 0 },
	{ "[^a]", "b", 1 },
	{ "[!a]", "\xc3\xa9", 1 },          /* negated class: any other character */
	{ "[a]", "\xc3\xa9", 0 },
	{ "[]]", "]", 1 },
	{ "[!]]", "a", 1 },
	{ "[\\]]", "]", 1 },
	{ "\\*", "*", 1 },
	{ "\\*", "a", 0 },
	{ "a\\?", "a?", 1 },
	{ "a\\?", "ab", 0 },
	{ "\\%", "%", 1 },
	{ "[", "[", 1 },                    /* unterminated class: literal */
	{ "a\\", "a\\", 1 },                /* trailing backslash: literal */
	{ "Sent", "sent", 0 },              /* case-sensitive */
	{ "INBOX", "INBOX", 1 },
	{ "INBOX", "inbox", 1 },
	{ "INBOX", "Inbox", 1 },
	{ "inbox", "INBOX", 1 },
	{ "INBOX", "INBOX2", 0 },
	{ "INBOX/*", "inbox/Sub", 1 },
	{ "INBOX/Sub", "Inbox/Sub", 1 },
	{ "INBOX/Sub", "INBOX/sub", 0 },    /* only the first component */
	{ "INBOX/%", "INBOX/a/b", 0 },
	{ "INBOX*", "INBOXES", 1 },
	{ "INBOX*", "inboxes", 0 },
	{ "", "", 1 },
	{ "", "a", 0 },
	{ "a", "", 0 },
	{ "**", "x/y", 1 },
	{ "*%", "x/y", 1 },
	{ "%*", "x/y", 1 },
};

Test(config_glob, table)
{
	for (size_t i = 0; i < sizeof(globs) / sizeof(globs[0]); i++)
		cr_expect_eq(config_folder_match(globs[i].pattern, globs[i].folder), globs[i].want,
			     "case %zu: \"%s\" vs \"%s\"", i, globs[i].pattern, globs[i].folder);
}

/* an exponential backtracking matcher would not end: .timeout stops it (no
 * time asserted: a loaded machine is slow) */
Test(config_glob, pathological_is_fast, .timeout = 120)
{
	char pat[128] = "", name[256];
	for (int i = 0; i < 30; i++)
		strcat(pat, "*a");
	strcat(pat, "b");
	memset(name, 'a', 200);
	name[200] = '\0';
	for (int i = 0; i < 100; i++)
		cr_assert_eq(config_folder_match(pat, name), 0);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(config_folder_match("%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%b", name), 0);
	name[199] = 'b';
	cr_expect_eq(config_folder_match(pat, name), 1);
}

Test(config_glob, selected)
{
	struct config cfg;
	char err[512] = "";
	setenv("HOME", "/h", 1);
	cr_assert_eq(load(ACCT "    folders:\n      include: [INBOX, \"Lists/*\", Sent]\n"
			  "      exclude: [\"Lists/spam*\", \"*/Old\"]\n", &cfg, err, sizeof(err)), 0, "%s", err);
	const struct account *a = &cfg.accounts[0];
	cr_expect_eq(config_folder_selected(a, "INBOX"), 1);
	cr_expect_eq(config_folder_selected(a, "inbox"), 1);
	cr_expect_eq(config_folder_selected(a, "Lists/c"), 1);
	cr_expect_eq(config_folder_selected(a, "Lists/spam-x"), 0);
	cr_expect_eq(config_folder_selected(a, "Lists/x/Old"), 0);
	cr_expect_eq(config_folder_selected(a, "Sent"), 1);
	cr_expect_eq(config_folder_selected(a, "Drafts"), 0);
	config_free(&cfg);
}

Test(config_valid, host_forms, .init = test_env)
{
	static const char *const ok[] = { "imap.example.com", "127.0.0.1", "::1", "fe80::1%eth0",
					   "xn--bcher-kva.example", "localhost", "imap.example.com.",
					   "x12345678901234567890123456789012345678901234567890123456789012.example" };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char y[256], err[512] = "";
		struct config cfg;
		snprintf(y, sizeof(y), "accounts:\n  - name: a\n    host: \"%s\"\n    user: u\n    password_env: P\n",
			 ok[i]);
		cr_expect_eq(load(y, &cfg, err, sizeof(err)), 0, "%s: %s", ok[i], err);
		if (cfg.n_accounts)
			cr_expect_str_eq(cfg.accounts[0].host, ok[i]);
		config_free(&cfg);
	}
}

/* snapshot_repo loses its trailing slashes as root does: "repo.git/" (a shell's
 * completion) was created as repo.git/.init, then renamed onto its own parent,
 * and every snapshot failed */
Test(config_valid, snapshot_repo_trailing_slash, .init = test_env)
{
	struct config cfg = { 0 };
	char err[512];
	cr_assert_eq(load(ACCT "    snapshot_repo: /srv/git/a.git//\n", &cfg, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(cfg.accounts[0].snapshot_repo, "/srv/git/a.git");
	config_free(&cfg);
	cr_assert_eq(load(ACCT "    snapshot_repo: ~/a.git/\n", &cfg, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(cfg.accounts[0].snapshot_repo, "/home/tester/a.git");
	config_free(&cfg);
	cr_assert_eq(load("defaults:\n  snapshot_repo: /srv/a.git/\n" ACCT, &cfg, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(cfg.accounts[0].snapshot_repo, "/srv/a.git");
	config_free(&cfg);
}
