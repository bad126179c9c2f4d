/* Internals shared by the configuration loader's files (config.c: schema,
 * validation, defaults, load API; config_yaml.c: libyaml events -> node tree,
 * positions and YAML-level checks; config_password.c; config_glob.c).
 * Not a public interface. */
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

/* ---- config_glob.c ---- */

/* Why PATTERN is not a valid folder glob, or NULL. */
const char *config_glob_problem(const char *pattern);

#endif
