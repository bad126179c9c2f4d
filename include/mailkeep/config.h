/* Configuration: the YAML account list (libyaml) -> validated structs.
 *
 * Schema (the contract; see docs/config.md):
 *   defaults:   mapping, optional; any account key except `name` may appear here and
 *               is inherited by every account that does not set it.
 *   accounts:   sequence of mappings, required, at least one.
 * Account keys:
 *   name              [A-Za-z0-9._-]+, unique, required, must not start with '.'
 *   root              path; mirror of NAME is <root>/<NAME>/; default ~/Mail
 *   host              required
 *   port              1..65535; default 993 for tls: implicit, 143 otherwise
 *   tls               implicit | starttls | none; default implicit
 *   ca_file           path, optional extra trust anchor
 *   user              required
 *   password_command  | password_env | password_file | token_command : exactly one required
 *                     (token_command: a command printing an OAuth2 access token)
 *   auth              plain (AUTHENTICATE PLAIN, else LOGIN) | login | xoauth2 | oauthbearer;
 *                     default plain
 *   folders:          mapping { include: [globs], exclude: [globs] }; default include ["*"]
 *   deletions         mirror | keep; default mirror
 *   timeout           seconds (1..3600) for connect and each read; default 60
 *   max_connections   1..16 connections used for the folders of the account; default 2
 *   pipeline_depth    1..64 UID FETCH commands in flight; default 4 (lower for throttling servers)
 *   snapshot          bool (true/false/yes/no/on/off); default false
 *   snapshot_repo     path; default <root>/<name>.git
 *   snapshot_branch   default "main"
 *   snapshot_author   "Name <email>"; default "mailkeep <mailkeep@localhost>"
 *   gmail_dedupe      bool; default true: with X-GM-EXT-1, one file per X-GM-MSGID,
 *                     hard-linked into every folder that holds the message
 *   compress          bool; default false: COMPRESS=DEFLATE (RFC 4978) when the server offers it
 *   push_map          mapping { "source folder": "target folder", ... } for `mailkeep push`
 *                     from this account; folder names decoded, '/' between levels; default none
 * Paths get `~` (leading) and `$VAR` / `${VAR}` expanded. Unknown keys, wrong
 * types, missing required keys, duplicate names or keys are errors reported as
 * "FILE:LINE:COL: message" naming the key (LINE and COL 1-based). */
#ifndef MAILKEEP_CONFIG_H
#define MAILKEEP_CONFIG_H

#include <stddef.h>

enum tls_mode { TLS_IMPLICIT, TLS_STARTTLS, TLS_NONE };
enum deletions_mode { DELETIONS_MIRROR, DELETIONS_KEEP };
enum auth_mode { AUTH_PLAIN, AUTH_LOGIN, AUTH_XOAUTH2, AUTH_OAUTHBEARER };
enum password_source { PASSWORD_NONE, PASSWORD_COMMAND, PASSWORD_ENV, PASSWORD_FILE };

struct strlist {
	char **items; /* owned */
	size_t n;
};

/* One push_map entry: a folder of the mirror and the folder of the target
 * account it is pushed into (UTF-8, '/' between levels; both owned). */
struct push_map_entry {
	char *source;
	char *target;
};

struct account {
	char *name;
	char *root;          /* expanded; the mirror is <root>/<name> */
	char *host;
	int port;
	enum tls_mode tls;
	char *ca_file;       /* expanded, or NULL */
	char *user;
	enum password_source password_source;
	char *password_arg;  /* the command, the variable name, or the expanded file path */
	const char *password_key; /* the key that set it ("token_command"...), for messages */
	char *password_file_shown; /* password_file as written when it holds a $VAR (whose value
				    * may be a password), for messages; NULL: password_arg */
	enum auth_mode auth;
	struct strlist include; /* never empty after loading (default "*") */
	struct strlist exclude;
	enum deletions_mode deletions;
	int timeout;         /* seconds */
	int max_connections; /* connections per account */
	int pipeline_depth;  /* UID FETCH commands in flight */
	int snapshot;        /* 0/1 */
	int gmail_dedupe;    /* 0/1 */
	int compress;        /* 0/1: COMPRESS=DEFLATE when offered */
	char *snapshot_repo; /* expanded; default <root>/<name>.git */
	char *snapshot_branch;
	char *snapshot_author;
	struct push_map_entry *push_map; /* owned; in file order */
	size_t n_push_map;
	/* where the account was defined, for messages: "FILE:LINE:COL" */
	char *origin;
};

struct config {
	char *path;          /* the file it was loaded from */
	struct account *accounts; /* owned */
	size_t n_accounts;
};

/* Default config path: $XDG_CONFIG_HOME/mailkeep/config.yaml, else
 * $HOME/.config/mailkeep/config.yaml. Caller frees. */
char *config_default_path(void);

/* The user's home as every part of a run uses it (the default configuration
 * path, a leading "~" in the file's paths, the push locks): HOME when it is an
 * absolute path, else the password database's home for the effective user;
 * NULL when neither is. Never made or checked on disk. */
const char *config_home_dir(void);

/* Load and validate PATH into *out (zeroed first). On error returns -1, leaves
 * *out empty, and writes "PATH:LINE:COL: message" (or "PATH: message" when no
 * position applies, e.g. unreadable file) into err (size errlen). */
int config_load(const char *path, struct config *out, char *err, size_t errlen);

/* Same, from a memory buffer; `name` is used as PATH in messages. */
int config_load_buffer(const char *name, const char *data, size_t len,
		       struct config *out, char *err, size_t errlen);

void config_free(struct config *cfg);

/* Find an account by name, or NULL. */
const struct account *config_find_account(const struct config *cfg, const char *name);

/* Obtain the account's password per its password_source: run the command with
 * /bin/sh -c and take stdout's first line, read the environment variable, or read
 * the file's first line (refused when the file is group- or world-readable).
 * Trailing CR/LF is stripped. Returns a malloc'd string (caller wipes and frees)
 * or NULL with err set; err never contains the password. */
char *config_get_password(const struct account *acct, char *err, size_t errlen);

/* Shell-style glob match used for folder include/exclude ('*' matches '/' too,
 * '?', '[...]' classes; case-sensitive except that a pattern "INBOX" matches the
 * inbox case-insensitively). Pure. */
int config_folder_match(const char *pattern, const char *folder);

/* 1 when FOLDER (decoded UTF-8, '/' as separator) is selected by the account's
 * include/exclude lists (included by some include and by no exclude). */
int config_folder_selected(const struct account *acct, const char *folder);
int config_folder_selected_mb(const struct account *acct, const char *utf8, char delim);
/* A server folder's name as patterns write it: levels joined with '/' (malloc'd). */
char *config_pattern_name(const char *utf8, char delim);

/* The list of config keys the loader accepts, NULL-terminated (for docs tests). */
extern const char *const config_known_keys[];

#endif
