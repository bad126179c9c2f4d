/* `mailkeep push SOURCE TARGET [--dry-run] [--delete]`: arguments, locks,
 * exit codes; the work is push_account() (src/push.c). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailkeep/buf.h"
#include "mailkeep/cli.h"
#include "mailkeep/config.h"
#include "mailkeep/lock.h"
#include "mailkeep/log.h"
#include "mailkeep/maildir.h"
#include "mailkeep/push.h"
#include "mailkeep/sync.h"

#include "cli_internal.h"


static void push_usage(FILE *out)
{
	fputs("usage: mailkeep [-c FILE] [-v | -q] push SOURCE TARGET [--dry-run] [--delete]\n"
	      "\n"
	      "Copy every folder of SOURCE's local mirror into TARGET's IMAP server: missing\n"
	      "folders are created, new messages appended with their flags and dates, changed\n"
	      "flags updated. Resumable; nothing is appended twice.\n"
	      "\n"
	      "  -n, --dry-run  list what would be done, change nothing\n"
	      "  --delete       delete on TARGET the messages pushed before that the mirror no\n"
	      "                 longer has (never done otherwise)\n",
	      out);
}

struct push_args {
	const char *source, *target;
	int dry_run, delete;
	int verbose, quiet; /* -v / -q among the arguments */
};

static int parse_args(int argc, char **argv, struct push_args *a)
{
	int positional = 0, options = 1;
	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];
		if (options && !strcmp(s, "--")) {
			options = 0; /* the rest are names: an account name may start with '-' */
		} else if (!options || s[0] != '-' || !strcmp(s, "-")) {
			if (positional == 2) {
				fprintf(stderr, "mailkeep: push: too many arguments (%s)\n", s);
				return -1;
			}
			if (positional++ == 0)
				a->source = s;
			else
				a->target = s;
		} else if (!strcmp(s, "--dry-run") || !strcmp(s, "-n")) {
			a->dry_run = 1;
		} else if (!strcmp(s, "--delete")) {
			a->delete = 1;
		} else if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
			return 1;
		} else if (!strcmp(s, "--verbose")) {
			a->verbose++;
		} else if (s[1] == 'v' && strspn(s + 1, "v") == strlen(s + 1)) {
			a->verbose += (int)strlen(s + 1); /* -v, -vv, -vvv, as before the command */
		} else if (!strcmp(s, "-q") || !strcmp(s, "--quiet")) {
			a->quiet = 1;
		} else {
			fprintf(stderr, "mailkeep: push: unknown option %s\n", s);
			return -1;
		}
	}
	if (positional != 2) {
		fprintf(stderr, "mailkeep: push: SOURCE and TARGET accounts are required\n");
		return -1;
	}
	return 0;
}

/* The SOURCE and TARGET accounts of A in CFG into *src and *dst (CFG's). 0,
 * or -1 (reported): one is not there, or both are one account. */
static int find_accounts(const struct config *cfg, const struct push_args *a, const struct account **src,
			 const struct account **dst)
{
	*src = config_find_account(cfg, a->source);
	*dst = config_find_account(cfg, a->target);
	if (!*src || !*dst) {
		fprintf(stderr, "mailkeep: no account named \"%s\" in %s\n", !*src ? a->source : a->target, cfg->path);
		return -1;
	}
	if (*src == *dst) {
		fprintf(stderr, "mailkeep: push: SOURCE and TARGET are the same account (%s)\n", (*src)->name);
		return -1;
	}
	return 0;
}

/* The lock of every push into DST's IMAP user into *fd (-1 when it cannot be
 * kept): 0, or 1 held, -1 failed, with the error in err. Two configurations
 * (accounts of other names or roots) naming one target mailbox have two
 * push.lock files but this one lock: two pushes appending at once would each
 * append what the other's lookup has not seen yet. */
static int lock_target_user(const struct account *dst, int *fd, char *err, size_t errlen)
{
	char what[300];
	snprintf(what, sizeof(what), "account %s (push target, user \"%s\" from any configuration)", dst->name,
		 dst->user);
	int rc = lock_push_user(dst->user, what, fd, err, errlen);
	if (rc == 2) {
		log_warn("account %s: the lock of pushes into user \"%s\" cannot be kept (%s): only %s/%s/.mailkeep/"
			 "push.lock keeps another push out, not one from another configuration",
			 dst->name, dst->user, err, dst->root, dst->name);
		rc = 0;
	}
	return rc;
}

/* The source's account lock into *src_lock, the target's push lock into
 * dst_lock[0] and its user's into dst_lock[1] (the caller's to release).
 * EXIT_OK, or the exit code with the error logged. */
static int take_locks(const struct account *src, const struct account *dst, const char *src_dir,
		      const char *dst_dir, struct account_lock *src_lock, int dst_lock[2])
{
	char err[1024];
	int rc;
	/* The source's account lock (lock file and directory, as a sync takes it)
	 * keeps a sync from changing the mirror under us; the target's push locks
	 * keep two pushes out of one server. */
	char what[200];
	snprintf(what, sizeof(what), "account %s", src->name);
	rc = lock_account(src_dir, what, 0, src_lock, err, sizeof(err));
	if (rc == 0) {
		snprintf(what, sizeof(what), "account %s (push target)", dst->name);
		rc = maildir_mkdir_p(dst_dir, err, sizeof(err)) < 0 ? -1 : 0;
	}
	if (rc == 0)
		rc = lock_file(dst_dir, "push.lock", what, 0, &dst_lock[0], err, sizeof(err));
	if (rc == 0)
		rc = lock_target_user(dst, &dst_lock[1], err, sizeof(err));
	if (rc != 0) {
		log_error("%s", err);
		return rc > 0 ? EXIT_LOCKED : EXIT_FAILED;
	}
	return EXIT_OK;
}

/* The push's outcome RES logged, its counts too; the exit code. */
static int report_push(const struct account *src, const struct account *dst, const struct push_args *a,
		       const struct push_result *res)
{
	int code;
	if (res->status == PUSH_FAILED) {
		log_error("push %s -> %s: %s", src->name, dst->name, res->error);
		code = EXIT_FAILED;
	} else {
		code = res->status == PUSH_OK ? EXIT_OK : EXIT_PARTIAL;
	}
	fflush(stdout);
	log_info("push %s -> %s%s: %" PRIu64 " folders (%" PRIu64 " %s, %" PRIu64 " failed), %" PRIu64
		 " messages %s (%" PRIu64 " bytes), %" PRIu64 " already there, %" PRIu64 " flag updates, %"
		 PRIu64 " %s, %" PRIu64 " skipped, %" PRIu64 " failed, %lu round trips, %.2f s",
		 src->name, dst->name, a->dry_run ? " (dry run)" : "", res->counts.folders,
		 res->counts.folders_created, a->dry_run ? "to create" : "created", res->counts.folders_failed,
		 res->counts.appended,
		 a->dry_run ? "to append" : "appended", res->counts.bytes, res->counts.found,
		 res->counts.flag_updates, res->counts.deleted, a->dry_run ? "to delete" : "deleted",
		 res->counts.skipped, res->counts.failed, res->round_trips, res->seconds);
	return code;
}

int cli_cmd_push(const char *config_path, int verbosity, int argc, char **argv)
{
	struct config cfg = { 0 };
	struct push_args a;
	struct push_result res;
	char err[1024];
	char *path = NULL, *src_dir = NULL, *dst_dir = NULL;
	int code = EXIT_USAGE, dst_lock[2] = { -1, -1 }, rc;
	struct account_lock src_lock = ACCOUNT_LOCK_INIT;

	rc = parse_args(argc, argv, &a);
	if (rc) {
		push_usage(rc > 0 ? stdout : stderr);
		return rc > 0 ? EXIT_OK : EXIT_USAGE;
	}
	if (a.verbose || a.quiet) { /* options after SOURCE TARGET: the caller did not see them */
		verbosity = a.quiet ? -1 : (verbosity < 0 ? 0 : verbosity) + a.verbose;
		log_set_level(verbosity < 0 ? LOG_QUIET : verbosity > 1 ? LOG_DEBUG : verbosity);
	}
	path = config_path ? xstrdup(config_path) : config_default_path();
	if (!path) {
		fprintf(stderr, "mailkeep: cannot find the configuration (no home: HOME is unset or "
				"not absolute and the password database has none); use -c FILE\n");
		goto out;
	}
	if (config_load(path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "mailkeep: %s\n", err);
		goto out;
	}
	const struct account *src, *dst;
	if (find_accounts(&cfg, &a, &src, &dst) < 0)
		goto out;
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s/%s", src->root, src->name);
	src_dir = buf_detach(&b);
	buf_addf(&b, "%s/%s", dst->root, dst->name);
	dst_dir = buf_detach(&b);
	struct stat sb;
	if (stat(src_dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		log_error("account %s: no mirror in %s (run mailkeep sync %s first)", src->name, src_dir, src->name);
		code = EXIT_FAILED;
		goto out;
	}
	code = take_locks(src, dst, src_dir, dst_dir, &src_lock, dst_lock);
	if (code != EXIT_OK)
		goto out;
	struct push_options opt = { .dry_run = a.dry_run, .delete = a.delete, .verbose = verbosity > 0,
				    .out = stdout };
	push_account(src, dst, &opt, &res);
	code = report_push(src, dst, &a, &res);
out:
	lock_release(&src_lock);
	for (int i = 0; i < 2; i++)
		if (dst_lock[i] >= 0)
			close(dst_lock[i]);
	free(src_dir);
	free(dst_dir);
	free(path);
	config_free(&cfg);
	return code;
}
