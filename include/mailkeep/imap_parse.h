/* IMAP response parser (RFC 3501 §7, §9). Pure: bytes in, structured
 * responses out; no I/O, no global state; safe on any input (fuzzed).
 *
 * Two layers:
 *  1. imap_frame_scan(): given the bytes received so far, tells whether a whole
 *     response is present and how long it is, following literals {n}, {n+}, ~{n}
 *     without trusting their sizes beyond the bytes actually present. The I/O layer
 *     uses it to assemble responses; it may also divert the bytes of a large
 *     literal (a message body) to a file and leave an empty literal "{0}\r\n" in
 *     its place (see imap_frame_literal_at_end()).
 *  2. imap_parse(): parses one complete response into an imap_response tree.
 */
#ifndef MAILKEEP_IMAP_PARSE_H
#define MAILKEEP_IMAP_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Limits that make hostile input an error rather than unbounded work. */
#define IMAP_MAX_DEPTH 32          /* list nesting */
#define IMAP_MAX_ITEMS 1000000     /* values in one response */

enum imap_frame {
	IMAP_FRAME_INCOMPLETE = 0, /* need more bytes */
	IMAP_FRAME_COMPLETE = 1,   /* *len = length of the response incl. final CRLF */
	IMAP_FRAME_ERROR = -1,     /* malformed literal marker (e.g. {abc}, size overflow) */
};

/* Scan data[0..len) for one complete response starting at data[0].
 * A response is a line ending in CRLF, where a line that ends with a literal
 * marker "{N}\r\n", "{N+}\r\n" or "~{N}\r\n" continues after N literal bytes.
 * Returns IMAP_FRAME_COMPLETE and sets *resp_len, or INCOMPLETE, or ERROR (with
 * a reason in err). A bare LF line ending is accepted as CRLF (tolerance). */
int imap_frame_scan(const char *data, size_t len, size_t *resp_len, char *err, size_t errlen);

/* Looking only at the first `len` bytes, which must be a complete line (ending
 * in LF), tell whether it ends with a literal marker; if so set *lit_size and
 * *marker_off (offset of the '{' or '~' that starts the marker) and return 1.
 * Returns 0 when no marker, -1 when a marker is malformed (size not 1-20 digits,
 * or > 2^53). Used by the I/O layer to stream big literals. */
int imap_frame_literal_at_end(const char *line, size_t len, uint64_t *lit_size, size_t *marker_off);

/* The list nesting depth after the text s[0..len) of a response (parentheses
 * outside quoted strings), starting from depth. Literal bytes are not text: the
 * caller gives the text between them. Lets the I/O layer tell a FETCH's body
 * item from one nested in another item before the response is complete. */
int imap_frame_depth(const char *s, size_t len, int depth);

enum imap_value_type {
	IMAP_ATOM,    /* atom, number, flag (\Seen), also "BODY[]" / "BODY[HEADER.FIELDS (A B)]<0>"
		       * section-bearing atoms are returned whole as one atom */
	IMAP_STRING,  /* quoted string or literal; data/len hold the unescaped bytes */
	IMAP_NIL,
	IMAP_LIST,    /* parenthesised list; items/n */
};

struct imap_value {
	enum imap_value_type type;
	const char *data;   /* ATOM/STRING: points into the response buffer (or a
			     * parser-owned copy for unescaped quoted strings); not NUL-terminated */
	size_t len;
	struct imap_value *items; /* LIST */
	size_t n;
};

enum imap_response_kind {
	IMAP_RESP_UNTAGGED,     /* "* ..." */
	IMAP_RESP_TAGGED,       /* "TAG ..." */
	IMAP_RESP_CONTINUATION, /* "+ ..." */
};

enum imap_status {
	IMAP_STATUS_NONE = 0, /* not a status response (e.g. "* 3 EXISTS", "* LIST ...") */
	IMAP_STATUS_OK,
	IMAP_STATUS_NO,
	IMAP_STATUS_BAD,
	IMAP_STATUS_PREAUTH,
	IMAP_STATUS_BYE,
};

struct imap_response {
	enum imap_response_kind kind;
	const char *tag; size_t tag_len;   /* TAGGED only */
	enum imap_status status;           /* OK/NO/BAD/PREAUTH/BYE, else NONE */
	/* For status responses: the response code, if any: "[CODE args]" */
	const char *code; size_t code_len; /* e.g. "UIDVALIDITY", "CAPABILITY"; NULL if none */
	struct imap_value code_args;       /* LIST of the values after the code name
					    * (e.g. one ATOM "3857529045"; for PERMANENTFLAGS a nested LIST);
					    * n == 0 when none */
	const char *text; size_t text_len; /* human-readable text after the code (status and
					    * continuation responses); may be empty */
	/* For untagged non-status responses: "* 23 EXISTS" gives number=23, has_number=1,
	 * name="EXISTS", and args empty; "* LIST (\HasNoChildren) "/" INBOX" gives
	 * name="LIST", args = [LIST, STRING "/", ATOM INBOX]; "* 12 FETCH (UID 5 ...)"
	 * gives number=12, name="FETCH", args=[LIST(...)]. */
	int has_number;
	uint32_t number;
	const char *name; size_t name_len;
	struct imap_value args;            /* LIST of the remaining values */
};

struct imap_parser; /* opaque arena owning the values of parsed responses */

struct imap_parser *imap_parser_new(void);
void imap_parser_free(struct imap_parser *p);

/* Parse one complete response data[0..len) (as delimited by imap_frame_scan,
 * including the final CRLF) into *out. Values point into `data` or into the
 * parser's arena, both valid until the next imap_parse() call on p or until p is
 * freed. Returns 0, or -1 with a short reason in err (never echoes more than 80
 * bytes of input, control bytes escaped). */
int imap_parse(struct imap_parser *p, const char *data, size_t len, struct imap_response *out,
	       char *err, size_t errlen);

/* Helpers over parsed values. */
/* Case-insensitive compare of an ATOM/STRING value with s. */
int imap_value_is(const struct imap_value *v, const char *s);
/* Parse an ATOM as a number: 0 ok (fits the type), -1 otherwise. */
int imap_value_u32(const struct imap_value *v, uint32_t *out);
int imap_value_u64(const struct imap_value *v, uint64_t *out);
/* In a FETCH attribute list (LIST of name/value pairs), find the value after the
 * item named `name` (case-insensitive), e.g. "UID", "FLAGS", "BODY[]". NULL if absent. */
const struct imap_value *imap_fetch_item(const struct imap_value *list, const char *name);

/* Parse a sequence set "1:5,7,9:*" (as in VANISHED / ESEARCH ALL) calling cb for
 * each range [lo, hi] with hi >= lo ('*' maps to star_value; with star_value 0 it
 * is a syntax error: the UID sets a server sends, VANISHED's known-uids (RFC 7162
 * §7), APPENDUID's uid-set (RFC 4315 §4), ESEARCH ALL of UIDs, have no '*'). Returns
 * 0, or -1 on syntax error. Pure. */
int imap_parse_seqset(const char *s, size_t len, uint32_t star_value,
		      int (*cb)(uint32_t lo, uint32_t hi, void *ctx), void *ctx);

#endif
