/* Command line: argument parsing, subcommands, exit codes, output. */
#ifndef MAILKEEP_CLI_H
#define MAILKEEP_CLI_H

#define MAILKEEP_VERSION "0.1.0"

/* Exit codes (documented in README.md and docs/mailkeep.1). */
enum exit_code {
	EXIT_OK = 0,        /* everything synced */
	EXIT_PARTIAL = 1,   /* some folders or accounts failed; the rest synced */
	EXIT_USAGE = 2,     /* bad command line or configuration; nothing touched */
	EXIT_LOCKED = 3,    /* another run holds an account's lock */
	EXIT_FAILED = 4,    /* nothing could be synced (connection, TLS, login) */
	EXIT_SNAPSHOT = 5,  /* the mirror synced but the git snapshot failed */
};

/* Run mailkeep with the given arguments; returns the process exit code. */
int cli_main(int argc, char **argv);

#endif
