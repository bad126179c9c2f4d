/* Internals shared by the configuration loader's files (config.c: load API,
 * defaults applied to the accounts, accounts checked against each other;
 * config_schema.c: the key table and the checks of values; config_path.c:
 * path expansion, the default file, accounts' directories apart;
 * config_yaml.c: libyaml events -> node tree, positions and YAML-level
 * checks; config_password.c; config_glob.c). Not a public interface. */
#ifndef MAILKEEP_CONFIG_INTERNAL_H
#define MAILKEEP_CONFIG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mailkeep/buf.h"
#include "mailkeep/config.h"

enum node_kind { NODE_SCALAR, NODE_MAPPING, NODE_SEQUENCE, NODE_ALIAS };

/* Unsupported constructs (aliases, anchors, foreign tags, NUL characters) are
 * recorded here and refused by config_node_check() during validation, where
 * the message can name the key. */
struct node {
	enum node_kind kind;
	size_t line, col;    /* 1-based */
	int is_null;         /* plain null scalar (~, null, empty) or !!null */
	int has_nul;         /* a scalar with an escaped NUL; value is cut there */
	char *anchor;        /* anchor defined here, or the alias' target */
	char *bad_tag;       /* a tag outside the YAML core schema */
	const char *tag;     /* a core scalar tag given explicitly: "str", "int", "bool", "float", "null" */
	char *value;         /* scalars only */
	struct node **items; /* mapping: key, value, key, value...; sequence: items */
	size_t n, cap;
};

/* One load: only the first error is kept. */
struct ctx {
	const char *path;
	struct buf msg;     /* the first error */
	struct buf scratch; /* for quoting values into messages */
	int failed;
	/* the last mapping key the parser read, named by YAML syntax errors */
	char near_key[64];
	size_t near_line, near_col;
	const char *text;   /* the text being parsed, for quoting a line in a syntax error */
	size_t text_len;
};

/* ---- config_yaml.c ---- */

/* Checks DATA as text (UTF-8, no control characters), then builds the node
 * tree of its single YAML document into *root (caller frees with
 * config_node_free()). Returns -1 with the error recorded in C, *root NULL. */
int config_yaml_parse(struct ctx *c, const char *data, size_t len, struct node **root);
void config_node_free(struct node *n);
/* "a mapping", "a sequence", "an alias", "null" or "a string", for messages. */
const char *config_node_desc(const struct node *n);

/* Record "FILE:LINE:COL: message" (or "FILE: message" when LINE is 0) unless
 * an error is already recorded. Return -1. */
int config_fail_pos(struct ctx *c, size_t line, size_t col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* "FILE:LINE:COL: WHERE: key "KEY": message" at N; WHERE and KEY may be NULL. */
int config_fail_at(struct ctx *c, const struct node *n, const char *where, const char *key,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* A config value for a message: quoted, control characters escaped,
 * truncated. Owned by C, valid until the next call. */
const char *config_quoted(struct ctx *c, const char *s);

/* Refuse aliases, anchors, foreign tags and NULs in N. 0 or -1. */
int config_node_check(struct ctx *c, const struct node *n, const char *where, const char *key);
/* config_node_check() plus: a mapping key must be a scalar. 0 or -1. */
int config_check_key_node(struct ctx *c, const struct node *key, const char *where);
/* "unknown key", suggesting the closest of KNOWN (NULL-terminated). Returns -1. */
int config_unknown_key(struct ctx *c, const struct node *key, const char *where,
		       const char *const *known, const char *extra);
/* "duplicate key", pointing at FIRST. Returns -1. */
int config_duplicate_key(struct ctx *c, const struct node *key, const struct node *first,
			 const char *where, const char *extra);
/* 1 when S has a C0 control character or DEL not listed in ALLOWED. */
int config_has_control(const char *s, const char *allowed);
/* Strict UTF-8 decoder: returns the sequence length, or 0 when invalid. */
size_t config_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);

/* ---- config.c ---- */

/* snprintf into a caller's error buffer; nothing when ERR is NULL or ERRLEN 0. */
void config_set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- config_schema.c ---- */

enum key {
	K_NAME, K_ROOT, K_HOST, K_PORT, K_TLS, K_CA_FILE, K_USER,
	K_PASSWORD_COMMAND, K_PASSWORD_ENV, K_PASSWORD_FILE, K_TOKEN_COMMAND, K_AUTH, K_FOLDERS, K_DELETIONS,
	K_TIMEOUT, K_MAX_CONNECTIONS, K_PIPELINE_DEPTH, K_SNAPSHOT, K_SNAPSHOT_REPO, K_SNAPSHOT_BRANCH, K_SNAPSHOT_AUTHOR, K_PUSH_MAP,
	K_GMAIL_DEDUPE, K_COMPRESS,
	K_COUNT
};

#define PASSWORD_KEYS "password_command, password_env, password_file, token_command"

/* One mapping's worth of validated values: "defaults" or one account. */
struct layer {
	const char *where;
	const struct node *key[K_COUNT]; /* key node, NULL when not set here */
	char *str[K_COUNT];
	long num[K_COUNT];
	struct strlist include, exclude;
	struct push_map_entry *map; /* K_PUSH_MAP */
	size_t n_map;
	char *password_file_shown; /* K_PASSWORD_FILE as written, when it holds a $VAR */
};

/* K's name as written in the file ("password_command"); static storage. */
const char *config_key_name(enum key k);
/* Checks every key and value of MAP (a mapping; "defaults" when IS_DEFAULTS)
 * into L, which the caller frees with config_layer_free(). 0 or -1. */
int config_parse_layer(struct ctx *c, const struct node *map, struct layer *l, int is_defaults);
void config_layer_free(struct layer *l);
/* The key node of the password source L sets, or NULL. */
const struct node *config_layer_password_key(const struct layer *l);
/* 1 when S is a valid account name ([A-Za-z0-9._-]+, not starting with '.',
 * at most 64 characters). */
int config_valid_account_name(const char *s);
/* The length of the environment variable name S starts with; 0 when none. */
size_t config_env_name_len(const char *s);
/* Free L's items (or MAP's entries) and leave it empty. */
void config_strlist_free(struct strlist *l);
void config_push_map_free(struct push_map_entry **map, size_t *n);

/* ---- config_path.c ---- */

/* Expands a leading "~" and $VAR / ${VAR} of S into OUT; on failure describes
 * the problem in WHY and returns -1. */
int config_expand_path(const char *s, struct buf *out, struct buf *why);
/* Refuses two accounts (the items of SEQ) whose mirrors or snapshot
 * repositories are the same directory or one inside the other, or an
 * account's repository and mirror in each other's way. 0 or -1. */
int config_check_overlapping_dirs(struct ctx *c, const struct config *cfg, const struct node *seq);

/* ---- config_glob.c ---- */

/* Why PATTERN is not a valid folder glob, or NULL. */
const char *config_glob_problem(const char *pattern);

#endif
