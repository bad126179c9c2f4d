/* Command line: global options, subcommands, exit codes. */
#include "mailkeep/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailkeep/buf.h"
#include "mailkeep/config.h"
#include "mailkeep/imap.h"
#include "mailkeep/log.h"
#include "mailkeep/snapshot.h"
#include "mailkeep/sync.h"
#include "mailkeep/verify.h"

#include "cli_internal.h"


static void usage(FILE *out)
{
	fputs("usage: mailkeep [-c FILE] [-v | -q] COMMAND [ARGS]\n"
	      "\n"
	      "Mirror IMAP accounts into local Maildir folders (read-only on the server).\n"
	      "\n"
	      "commands:\n"
	      "  sync [ACCOUNT...]           mirror every (or the named) account\n"
	      "  snapshot [ACCOUNT...]       commit the current mirror into its git repository\n"
	      "                              (accounts with snapshot: true; no network)\n"
	      "  log [ACCOUNT...]            list the snapshots of the accounts\n"
	      "  status [ACCOUNT...]         last run, folders, messages, size, last snapshot (no network)\n"
	      "  verify [ACCOUNT...]         check the mirror against its state (no network);\n"
	      "                              exit 1 and a list when they differ\n"
	      "  push SOURCE TARGET [--dry-run] [--delete]\n"
	      "                              copy SOURCE's mirror into TARGET's server (resumable)\n"
	      "  check [--connect] [ACCOUNT...]\n"
	      "                              validate the configuration; with --connect also log in\n"
	      "                              and list the folders that would be mirrored\n"
	      "\n"
	      "options:\n"
	      "  -c, --config FILE           configuration file (default\n"
	      "                              $XDG_CONFIG_HOME/mailkeep/config.yaml,\n"
	      "                              else ~/.config/mailkeep/config.yaml)\n"
	      "  -v, --verbose               more output (repeat for a protocol trace)\n"
	      "  -q, --quiet                 errors only\n"
	      "  -j, --jobs N                sync up to N accounts in parallel (default 1)\n"
	      "      --json                  print a JSON report of the run on stdout\n"
	      "      --account NAME          only this account (repeatable; same as naming it)\n"
	      "      --shard K/N             only the accounts whose name hashes to K of N (0..N-1)\n"
	      "  -h, --help                  this help\n"
	      "  -V, --version               print the version\n"
	      "\n"
	      "exit codes: 0 ok, 1 partial failure, 2 usage or config error, 3 lock held,\n"
	      "            4 nothing could be synced, 5 snapshot failed\n",
	      out);
}

int cli_load_config(const struct cli *cli, struct config *cfg)
{
	char err[8192]; /* a path of up to PATH_MAX and the message */
	char *path = cli->config_path ? xstrdup(cli->config_path) : config_default_path();
	if (!path) {
		fprintf(stderr, "mailkeep: cannot find the configuration (no home: HOME is unset or "
				"not absolute and the password database has none); use -c FILE\n");
		return -1;
	}
	int rc = config_load(path, cfg, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "mailkeep: %s\n", err);
	free(path);
	return rc;
}

/* Select accounts named on the command line (all when none). Returns 0 or -1. */
/* FNV-1a: a stable hash of an account name for --shard. */
static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

int cli_select_accounts(const struct cli *cli, const struct config *cfg, int argc, char **argv,
			const struct account ***out, size_t *n)
{
	size_t n_names = (size_t)argc + cli->n_accounts;
	*n = 0;
	*out = xcalloc(cfg->n_accounts + 1, sizeof(**out));
	for (size_t i = 0; i < cfg->n_accounts; i++) {
		const struct account *a = &cfg->accounts[i];
		int named = n_names == 0;
		for (int j = 0; j < argc && !named; j++)
			named = !strcmp(argv[j], a->name);
		for (size_t j = 0; j < cli->n_accounts && !named; j++)
			named = !strcmp(cli->accounts[j], a->name);
		if (named && cli->shard_n && name_hash(a->name) % cli->shard_n != cli->shard_k)
			named = 0;
		if (named)
			(*out)[(*n)++] = a;
	}
	for (size_t j = 0; j < n_names; j++) {
		const char *name = j < (size_t)argc ? argv[j] : cli->accounts[j - (size_t)argc];
		if (!config_find_account(cfg, name)) {
			fprintf(stderr, "mailkeep: no account named \"%s\" in %s\n", name, cfg->path);
			free(*out);
			*out = NULL;
			return -1;
		}
	}
	return 0;
}

/* 1 when some account of CFG has snapshot: true. */
static int any_snapshot(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_accounts; i++)
		if (cfg->accounts[i].snapshot)
			return 1;
	return 0;
}

/* The body of a simple command for one account: the exit code it contributes. */
typedef int (*account_fn)(struct cli *cli, const struct account *acct, size_t index, size_t n, void *ctx);

/* Load the configuration, select the accounts and run fn on each; with
 * snapshot_only, accounts without snapshot: true are skipped unless named. The
 * first failure sets the code; a held lock gives way to any other failure. */
static int for_accounts(struct cli *cli, int argc, char **argv, int snapshot_only, account_fn fn, void *ctx)
{
	struct config cfg = { 0 };
	const struct account **accts = NULL;
	size_t n = 0, done = 0;
	int code = EXIT_USAGE;
	if (cli_load_config(cli, &cfg) < 0)
		return EXIT_USAGE;
	if (cli_select_accounts(cli, &cfg, argc, argv, &accts, &n) < 0)
		goto out;
	code = EXIT_OK;
	int named = argc > 0 || cli->n_accounts > 0;
	size_t todo = 0; /* fn is told how many it runs for (log: a heading for each of several) */
	for (size_t i = 0; i < n; i++)
		todo += !(snapshot_only && !accts[i]->snapshot && !named);
	for (size_t i = 0; i < n; i++) {
		if (snapshot_only && !accts[i]->snapshot && !named)
			continue;
		int rc = fn(cli, accts[i], done++, todo, ctx);
		if (rc && (code == EXIT_OK || (code == EXIT_LOCKED && rc != EXIT_LOCKED)))
			code = rc;
	}
	/* named accounts all outside --shard K/N are left out without a word, as
	 * sync leaves them; so are unnamed ones with snapshot: true outside it */
	if (snapshot_only && !done && !named && !any_snapshot(&cfg))
		log_warn("no account has snapshot: true (name accounts to use them anyway)");
out:
	free(accts);
	config_free(&cfg);
	return code;
}

static int snapshot_one(struct cli *cli, const struct account *acct, size_t i, size_t n, void *ctx)
{
	char err[1024];
	int rc = sync_snapshot_only(acct, err, sizeof(err));
	if (rc == SYNC_LOCKED) {
		log_error("%s", err);
		return EXIT_LOCKED;
	}
	if (rc != 0) {
		log_error("account %s: snapshot failed: %s", acct->name, err);
		return EXIT_SNAPSHOT;
	}
	return EXIT_OK;
}

static int log_one(struct cli *cli, const struct account *acct, size_t i, size_t n, void *ctx)
{
	char err[1024];
	if (n > 1)
		printf("%s%s (%s):\n", i ? "\n" : "", acct->name, acct->snapshot_repo);
	if (snapshot_log(acct, stdout, 0, err, sizeof(err)) < 0) {
		fflush(stdout);
		log_error("%s", err);
		return EXIT_PARTIAL;
	}
	return EXIT_OK;
}

static int status_one(struct cli *cli, const struct account *acct, size_t i, size_t n, void *ctx)
{
	char err[1024];
	if (i)
		putchar('\n');
	if (verify_status(acct, stdout, err, sizeof(err)) < 0) {
		fflush(stdout);
		log_error("%s", err);
		return EXIT_PARTIAL;
	}
	return EXIT_OK;
}

static int verify_one(struct cli *cli, const struct account *acct, size_t i, size_t n, void *ctx)
{
	char err[1024];
	size_t problems = 0;
	if (verify_account(acct, stdout, &problems, err, sizeof(err)) < 0) {
		fflush(stdout);
		log_error("%s", err);
		return EXIT_PARTIAL;
	}
	if (!cli->quiet)
		printf("account %s: %zu problem%s\n", acct->name, problems, problems == 1 ? "" : "s");
	return problems ? EXIT_PARTIAL : EXIT_OK;
}

/* check's --connect also after the account names ("check work --connect"),
 * up to a "--": what follows it are names ("--connect" is a valid one). The
 * names left in argv, their count into *argc; *connect set if given. */
static void check_options(const struct cli *cli, int *argc, char **argv, int *connect)
{
	int kept = 0, names_only = cli->names_only;
	for (int i = 0; i < *argc; i++) {
		if (!names_only && !strcmp(argv[i], "--connect"))
			*connect = 1;
		else if (!names_only && !strcmp(argv[i], "--"))
			names_only = 1;
		else
			argv[kept++] = argv[i];
	}
	*argc = kept;
}

/* The selectable folders of LIST, "+" before those account A syncs. */
static void check_print_folders(const struct account *a, const struct imap_mailbox_list *list)
{
	for (size_t j = 0; j < list->n; j++) {
		const struct imap_mailbox *mb = &list->items[j];
		if (mb->flags & IMAP_MBOX_NOSELECT)
			continue;
		if (!mb->utf8) {
			printf("  - (undecodable name)\n");
			continue;
		}
		/* as patterns write it; a control character never reaches the terminal */
		char *name = config_pattern_name(mb->utf8, mb->delim);
		struct buf shown = BUF_INIT;
		for (const unsigned char *p = (const unsigned char *)name; *p; p++)
			buf_addch(&shown, *p < 0x20 || *p == 0x7f ? '?' : (char)*p);
		log_defang(&shown, 0);
		printf("  %s %s\n", config_folder_selected(a, name) ? "+" : "-", shown.data ? shown.data : "");
		buf_free(&shown);
		free(name);
	}
}

/* Log in to account A and list its folders. 0, or -1 with the error logged. */
static int check_connect(const struct account *a)
{
	char err[1024];
	int c = 0, rc = -1;
	char *pw = config_get_password(a, err, sizeof(err));
	struct imap_client *imap = NULL;
	struct imap_mailbox_list list = { 0 };
	if (!pw) { /* its message names the account */
		log_error("%s", err);
		goto out;
	}
	imap = imap_connect(a, &c, err, sizeof(err));
	if (!imap || imap_login(imap, a->user, pw, err, sizeof(err)) < 0 ||
	    imap_list(imap, &list, NULL, NULL, err, sizeof(err)) < 0) {
		log_error("account %s: %s", a->name, err);
		goto out;
	}
	printf("account %s: logged in to %s:%d\n", a->name, a->host, a->port);
	check_print_folders(a, &list);
	rc = 0;
out:
	imap_mailbox_list_free(&list);
	imap_close(imap);
	if (pw) {
		explicit_bzero(pw, strlen(pw)); /* a memset before free() is a dead store the compiler drops */
		free(pw);
	}
	return rc;
}

static int cmd_check(struct cli *cli, int argc, char **argv)
{
	struct config cfg = { 0 };
	const struct account **accts = NULL;
	size_t n = 0;
	int connect = cli->connect, code = EXIT_USAGE;

	check_options(cli, &argc, argv, &connect);
	if (cli_load_config(cli, &cfg) < 0)
		return EXIT_USAGE;
	if (cli_select_accounts(cli, &cfg, argc, argv, &accts, &n) < 0)
		goto out;
	code = EXIT_OK;
	if (!cli->quiet)
		printf("%s: %zu account%s, configuration OK\n", cfg.path, cfg.n_accounts,
		       cfg.n_accounts == 1 ? "" : "s");
	if (!connect)
		goto out;
	size_t bad = 0;
	for (size_t i = 0; i < n; i++)
		if (check_connect(accts[i]) < 0)
			bad++;
	if (bad)
		code = bad == n ? EXIT_FAILED : EXIT_PARTIAL;
out:
	free(accts);
	config_free(&cfg);
	return code;
}

static int add_account(struct cli *cli, const char *name)
{
	cli->accounts = xrealloc(cli->accounts, (cli->n_accounts + 1) * sizeof(*cli->accounts));
	cli->accounts[cli->n_accounts++] = name;
	return 0;
}

/* --shard K/N: the accounts whose name hashes to K (0..N-1) modulo N. */
static int parse_shard(struct cli *cli, const char *s)
{
	unsigned long long k = 0, n = 0;
	/* digits only: strtoull also takes blanks, a sign and "-1"; each number
	 * range-checked whole (sscanf's %u wrapped past 2^32: 0/4294967297 was
	 * taken for 0/1, every account) */
	size_t kl = strspn(s, "0123456789"), nl = s[kl] == '/' ? strspn(s + kl + 1, "0123456789") : 0;
	if (kl && nl && !s[kl + 1 + nl]) {
		errno = 0;
		k = strtoull(s, NULL, 10);
		n = strtoull(s + kl + 1, NULL, 10);
		if (errno)
			n = 0;
	}
	if (n == 0 || n > 1000000 || k >= n) {
		fprintf(stderr, "mailkeep: --shard takes K/N with 0 <= K < N, not \"%s\"\n", s);
		return -1;
	}
	cli->shard_k = (unsigned)k;
	cli->shard_n = (unsigned)n;
	return 0;
}

static int parse_jobs(struct cli *cli, const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (!*s || *end || s[strspn(s, "0123456789")] || v < 1 || v > 64) { /* strtol takes blanks and "+" */
		fprintf(stderr, "mailkeep: --jobs takes a number from 1 to 64, not \"%s\"\n", s);
		return -1;
	}
	cli->jobs = (int)v;
	cli->jobs_given = 1;
	return 0;
}

/* The options that take a value, after the command as before it. */
static const struct value_option {
	const char *name, *short_name;
	int (*set)(struct cli *cli, const char *value);
} value_options[] = {
	{ "--account", NULL, add_account },
	{ "--shard", NULL, parse_shard },
	{ "--jobs", "-j", parse_jobs },
};

static int cmd_help(struct cli *cli, int argc, char **argv)
{
	usage(stdout);
	return EXIT_OK;
}

/* The commands but push (which parses its own command line): those that
 * print only text refuse --json. */
static const struct command {
	const char *name;
	int text;
	int (*run)(struct cli *cli, int argc, char **argv); /* or for_accounts() with: */
	int snapshot_only;
	account_fn fn;
} commands[] = {
	{ "sync", 0, cli_cmd_sync, 0, NULL },
	{ "check", 1, cmd_check, 0, NULL },
	{ "snapshot", 1, NULL, 1, snapshot_one },
	{ "log", 1, NULL, 1, log_one },
	{ "status", 1, NULL, 0, status_one },
	{ "verify", 1, NULL, 0, verify_one },
	{ "help", 1, cmd_help, 0, NULL },
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(name, commands[i].name))
			return &commands[i];
	return NULL;
}

static int dispatch(struct cli *cli_, const char *cmd, int sub_argc, char **sub_argv)
{
	struct cli cli = *cli_;
	const struct command *c = find_command(cmd);
	if (!c) {
		fprintf(stderr, "mailkeep: unknown command \"%s\" (try mailkeep --help)\n", cmd);
		return EXIT_USAGE;
	}
	if (c->run)
		return c->run(&cli, sub_argc, sub_argv);
	return for_accounts(&cli, sub_argc, sub_argv, c->snapshot_only, c->fn, NULL);
}

/* Started with descriptor 0, 1 or 2 closed (cron lines with >&- or 2>&-), the
 * next open() would get that number: the lock file, a socket or the --jobs
 * result file would then receive what is printed on stdout or stderr. Park
 * /dev/null on them first. */
static void std_fds_open(void)
{
	int fd;
	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= STDERR_FILENO)
		;
	if (fd > STDERR_FILENO)
		close(fd);
}

/* The passwords (and OAuth tokens) are in memory from the login on: a crash
 * or a SIGQUIT with core dumps allowed wrote them to a core file, and another
 * process of the user could read them with ptrace. No core (RLIMIT_CORE 0 for
 * a core_pattern file, not dumpable for a coredump handler) and no ptrace;
 * both pass to the --jobs account processes. A password_command gets its
 * dumpable flag back at exec. */
static void core_dumps_off(void)
{
	struct rlimit none = { 0, 0 };
	setrlimit(RLIMIT_CORE, &none);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/* The value of option NAME ("--jobs") at args[0], given as "--jobs=V" or as the
 * next argument ("-j V" when SHORT is "-j"; "-jV" too); NULL when args[0] is not
 * that option. *used is how many arguments it took. */
static const char *opt_value(char **args, int n, const char *name, const char *short_name, int *used)
{
	size_t l = strlen(name);
	*used = 1;
	if (!strncmp(args[0], name, l) && args[0][l] == '=')
		return args[0] + l + 1;
	if (short_name && !strncmp(args[0], short_name, 2) && args[0][2])
		return args[0] + 2;
	if ((!strcmp(args[0], name) || (short_name && !strcmp(args[0], short_name))) && n > 1) {
		*used = 2;
		return args[1];
	}
	return NULL;
}

/* The entry of value_options args[0] is, its value in *value (NULL when the
 * option is the last argument, without one); NULL when it is none of them. */
static const struct value_option *value_option(char **args, int n, const char **value, int *used)
{
	for (size_t i = 0; i < sizeof(value_options) / sizeof(value_options[0]); i++) {
		const struct value_option *o = &value_options[i];
		if ((*value = opt_value(args, n, o->name, o->short_name, used)))
			return o;
		if (!strcmp(args[0], o->name) || (o->short_name && !strcmp(args[0], o->short_name)))
			return o;
	}
	return NULL;
}

/* -v, -q, --json, --jobs, --account and --shard (and check's --connect) after
 * the command, before its own arguments; "--" ends them (an account name may
 * start with '-'). Returns 0, 1 on a usage error (reported), 2 after --help. */
static int trailing_options(struct cli *cli, const char *cmd, int *argc, char ***argv)
{
	int bad = 0, used;
	while (*argc > 0 && (*argv)[0][0] == '-') {
		const char *o = (*argv)[0], *v;
		const struct value_option *vo;
		used = 1;
		if (!strcmp(o, "--")) {
			(*argc)--;
			(*argv)++;
			cli->names_only = 1;
			break;
		}
		if (!strcmp(o, "--connect") && !strcmp(cmd, "check"))
			cli->connect = 1;
		else if (!strcmp(o, "--verbose"))
			cli->verbose++;
		else if (o[1] == 'v' && strspn(o + 1, "v") == strlen(o + 1))
			cli->verbose += (int)strlen(o + 1); /* -v, -vv, -vvv */
		else if (!strcmp(o, "-q") || !strcmp(o, "--quiet"))
			cli->quiet = 1;
		else if (!strcmp(o, "--json"))
			cli->json = 1;
		else if ((vo = value_option(*argv, *argc, &v, &used))) {
			if (v) {
				bad |= vo->set(cli, v) < 0;
			} else {
				fprintf(stderr, "mailkeep: %s: option %s needs a value\n", cmd, o);
				bad = 1;
			}
		} else if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
			usage(stdout);
			return 2;
		} else {
			fprintf(stderr, "mailkeep: %s: unknown option %s\n", cmd, o);
			bad = 1;
		}
		*argc -= used;
		*argv += used;
	}
	return bad;
}

/* getopt's error C (':' a value missing, else '?') in the argument ARG: "-x",
 * "-vc", "--jobs", "--json=1" (a long option's optopt is its short letter,
 * which --json has not: it is named as written). */
static void option_error(int c, const char *arg)
{
	if (arg[1] == '-') {
		int l = (int)strcspn(arg, "=");
		if (c == ':')
			fprintf(stderr, "mailkeep: option %s needs a value\n", arg);
		else if (arg[l] && optopt)
			fprintf(stderr, "mailkeep: option %.*s takes no value\n", l, arg);
		else
			fprintf(stderr, "mailkeep: unknown option %.*s\n", l, arg);
	} else if (c == ':') {
		fprintf(stderr, "mailkeep: option -%c needs a value\n", optopt);
	} else {
		fprintf(stderr, "mailkeep: unknown option -%c\n", optopt);
	}
}

/* The process as every command needs it: descriptors 0-2 open, no core
 * dumps, SIGPIPE ignored, SIGCHLD the default, files private. */
static void process_setup(void)
{
	std_fds_open();
	core_dumps_off();
	/* A peer closing the socket must be an error return, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	/* An ignored SIGCHLD is inherited across exec (from a parent that ignores
	 * it): children would be reaped by the kernel, and waiting for the
	 * password command or an account process (--jobs) would fail. */
	signal(SIGCHLD, SIG_DFL);
	umask(077);
}

/* The options before the command into cli; optind then is the command's
 * index. Returns 0, 1 on a usage error (reported, the rest parsed for
 * --json), 2 after --help or --version (printed). */
static int leading_options(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "json", no_argument, NULL, 'J' },
		{ "account", required_argument, NULL, 'A' },
		{ "shard", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	int c, bad = 0; /* a usage error: reported, then the rest is parsed for --json */

	opterr = 0; /* getopt's messages would name argv[0] ("./mailkeep"), not mailkeep */
	/* arg: the argument getopt is in (optind moves past a cluster "-vx" only
	 * at its end, and past a value too) */
	for (int arg = optind; (c = getopt_long(argc, argv, "+:c:vqhVj:", opts, NULL)) != -1; arg = optind) {
		switch (c) {
		case 'c': cli->config_path = optarg; break;
		case 'v': cli->verbose++; break;
		case 'q': cli->quiet = 1; break;
		case 'h': usage(stdout); return 2;
		case 'V': printf("mailkeep %s\n", MAILKEEP_VERSION); return 2;
		case 'j':
			bad |= parse_jobs(cli, optarg) < 0;
			break;
		case 'J': cli->json = 1; break;
		case 'A': add_account(cli, optarg); break;
		case 'S':
			bad |= parse_shard(cli, optarg) < 0;
			break;
		default:
			option_error(c, argv[arg]);
			usage(stderr);
			bad = 1;
			break;
		}
	}
	return bad;
}

/* mailkeep push, which parses its own options (src/cli_push.c): those given
 * before it that it has no use for refused. Frees cli->accounts; the exit code. */
static int run_push(struct cli *cli, int sub_argc, char **sub_argv)
{
	if (cli->n_accounts || cli->shard_n || cli->json || cli->jobs_given) {
		fprintf(stderr, "mailkeep: push takes SOURCE TARGET, not --account, --shard, --json or --jobs\n");
		free(cli->accounts);
		return EXIT_USAGE;
	}
	int verbosity = cli->quiet ? -1 : cli->verbose;
	log_set_level(cli->quiet ? LOG_QUIET : cli->verbose > 1 ? LOG_DEBUG : cli->verbose);
	free(cli->accounts);
	return cli_cmd_push(cli->config_path, verbosity, sub_argc, sub_argv);
}

static int cli_run(int argc, char **argv)
{
	struct cli cli = { .jobs = 1 };
	int bad;

	process_setup();
	bad = leading_options(&cli, argc, argv);
	if (bad == 2) { /* --help, --version */
		free(cli.accounts);
		return EXIT_OK;
	}
	const char *cmd = optind < argc ? argv[optind] : NULL;
	if (!cmd || (bad && !strcmp(cmd, "push"))) {
		if (!bad)
			usage(stderr);
		free(cli.accounts);
		return EXIT_USAGE;
	}
	int sub_argc = argc - optind - 1;
	char **sub_argv = argv + optind + 1;
	if (!strcmp(cmd, "push")) /* push parses its own options (src/cli_push.c) */
		return run_push(&cli, sub_argc, sub_argv);
	int after = trailing_options(&cli, cmd, &sub_argc, &sub_argv);
	if (after == 2) { /* --help */
		free(cli.accounts);
		return EXIT_OK;
	}
	bad |= after;
	/* Only sync writes a JSON report: text where a script expects JSON would
	 * break it later and less clearly (push refuses it above). */
	const struct command *command = find_command(cmd);
	if (!bad && cli.json && command && command->text) {
		fprintf(stderr, "mailkeep: %s: --json applies to sync only (this command prints text)\n", cmd);
		bad = 1;
	}
	if (bad) { /* --json promises a report, also for a refused command line */
		if (cli.json && !strcmp(cmd, "sync"))
			cli_sync_json_usage_error();
		free(cli.accounts);
		return EXIT_USAGE;
	}
	log_set_level(cli.quiet ? LOG_QUIET : cli.verbose > 1 ? LOG_DEBUG : cli.verbose);
	int rc = dispatch(&cli, cmd, sub_argc, sub_argv);
	free(cli.accounts);
	return rc;
}

/* Standard output is a pipe or socket whose reader has gone away. Asked of
 * the descriptor: the errno of a write that failed earlier is long gone. */
static int stdout_reader_gone(void)
{
	struct stat sb;
	struct pollfd p = { .fd = STDOUT_FILENO, .events = POLLOUT };
	return fstat(STDOUT_FILENO, &sb) == 0 && (S_ISFIFO(sb.st_mode) || S_ISSOCK(sb.st_mode)) &&
	       poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP));
}

/* What was printed on stdout must have been written: a --json report or a
 * status sent to a full disk fails the run (a reader that went away, as in
 * `mailkeep status | head -1`, does not). */
int cli_main(int argc, char **argv)
{
	int rc = cli_run(argc, argv);
	int flushed = fflush(stdout) == 0, e = errno;
	if (flushed && !ferror(stdout))
		return rc;
	if (stdout_reader_gone())
		return rc;
	if (flushed) /* an earlier write failed, its errno lost */
		log_error("standard output: a write failed");
	else
		log_error("standard output: %s", strerror(e));
	return rc == EXIT_OK ? EXIT_PARTIAL : rc;
}
