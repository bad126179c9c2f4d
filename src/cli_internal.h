/* Internals shared by the CLI's files (cli.c: options and small commands;
 * cli_sync.c: sync with --jobs and --json). Not a public interface. */
#ifndef MAILKEEP_CLI_INTERNAL_H
#define MAILKEEP_CLI_INTERNAL_H

#include <stddef.h>

#include "mailkeep/config.h"

struct cli {
	const char *config_path;
	int verbose;
	int quiet;
	int jobs;       /* accounts in parallel (--jobs) */
	int jobs_given; /* --jobs was given: push refuses it, even --jobs 1 */
	int json;       /* --json */
	const char **accounts; /* --account NAME (repeatable) */
	size_t n_accounts;
	unsigned shard_k, shard_n; /* --shard K/N; shard_n 0 = all */
	int connect;    /* check --connect among the options after the command */
	int names_only; /* "--" ended the options after the command: the rest are names */
};

/* Load the configuration (-c or the default path); prints the error. */
int cli_load_config(const struct cli *cli, struct config *cfg);
/* The accounts named in argv or with --account (all when none), in config order,
 * restricted to --shard; caller frees *out. */
int cli_select_accounts(const struct cli *cli, const struct config *cfg, int argc, char **argv,
			const struct account ***out, size_t *n);
int cli_cmd_sync(struct cli *cli, int argc, char **argv);
/* The --json document of a sync refused for its command line (exit code 2). */
void cli_sync_json_usage_error(void);
/* `mailkeep push` (src/cli_push.c); verbosity -1 quiet, 0 normal, 1+ verbose. */
int cli_cmd_push(const char *config_path, int verbosity, int argc, char **argv);

#endif
