/* Push: copy the local mirror of one account into another account's IMAP server
 * (`mailkeep push SOURCE TARGET`), resumable and without duplicates. See
 * docs/push.md.
 *
 * Pure parts: folder name mapping (src/push_name.c); flag strings, message
 * identity (header digest, Message-ID), the push state text format and the
 * per-folder plan (src/push_plan.c). The runner (src/push.c, the account;
 * push_folder.c, push_mirror.c, push_lookup.c and push_target.c, one folder)
 * does the I/O: it reads the mirror, talks to the target server and saves the
 * push state atomically. */
#ifndef MAILKEEP_PUSH_H
#define MAILKEEP_PUSH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "mailkeep/buf.h"
#include "mailkeep/config.h"
#include "mailkeep/imap.h"
#include "mailkeep/kwset.h"

/* ---- folder names ---- */

/* A folder name as its hierarchy levels (decoded UTF-8); owns comp[]. */
struct push_name {
	char **comp;
	size_t n;
};

/* Split a mirror folder path relative to the account directory ("Archive/2024")
 * and unescape each component (maildir_unescape_component). 0, or -1 when a
 * component is not a valid escape. */
int push_name_from_path(const char *rel, struct push_name *out);
/* Split s at sep (no unescaping). */
void push_name_split(const char *s, char sep, struct push_name *out);
/* Append the levels joined by sep to out. */
void push_name_join(const struct push_name *nm, char sep, struct buf *out);
void push_name_free(struct push_name *nm);

/* The special use (IMAP_SPECIAL_*) that a folder's name suggests ("Sent Items",
 * "Gelöschte Elemente", "[Gmail]/Spam", "INBOX/Drafts"...), or 0. The mirror
 * does not record the source server's SPECIAL-USE attributes, so names are all
 * there is on the source side. */
unsigned push_special_from_name(const struct push_name *nm);

/* Map a mirror folder to its target folder:
 *  1. push_map: the entry for the folder's name, else for its nearest mapped
 *     parent (children follow their parent);
 *  2. else, when the target has no folder of the same name, the target folder
 *     whose SPECIAL-USE attribute (or, when the target shows none at all, whose
 *     well-known name) is the one the source folder had on its server
 *     (src_special, IMAP_SPECIAL_*, recorded by sync; 0 when unknown) or else the
 *     one the source name suggests;
 *  3. else the same name.
 * The first src_skip levels of src are the source server's personal namespace
 * prefix ("INBOX" of Courier's "INBOX."): push_map sees them, 2. and 3. do not.
 * Levels are joined with the target's delimiter `delim`, the personal
 * namespace `prefix` (wire form, may be "") is put in front of names outside
 * INBOX, and the result is encoded in modified UTF-7 into wire (reset first);
 * the decoded name goes to utf8. -1 with err when the name cannot be made: a
 * level contains the delimiter or is empty, or the target has no hierarchy. */
int push_map_folder(const struct push_name *src, size_t src_skip, unsigned src_special,
		    const struct push_map_entry *map, size_t n_map,
		    const struct imap_mailbox_list *target, char delim, const char *prefix,
		    struct buf *wire, struct buf *utf8, char *err, size_t errlen);

/* How many leading levels of src are the namespace prefix ns (as push_map_folder's
 * src_skip): ns->n when src is below it (INBOX matched case-insensitively), 0
 * for the prefix itself or when what is below it would be INBOX. */
size_t push_ns_levels(const struct push_name *ns, const struct push_name *src);

/* ---- flags ---- */

/* Keywords that can be sent in APPEND/STORE (atoms, not system flags), unique,
 * in order, space-separated, into out (reset first). allowed NULL: any keyword;
 * else only those of that space-separated list (case-insensitive). */
void push_keywords_normalise(const char *keywords, const char *allowed, struct buf *out);
/* The Maildir flags a folder that takes only the keywords allowed keeps (allowed
 * as for push_keywords_normalise): all when allowed is NULL; else without
 * $Forwarded (a keyword to IMAP, a letter only in Maildir) unless listed. */
unsigned push_flags_allowed(unsigned flags, const char *allowed);
/* "\\Draft \\Flagged $Forwarded \\Answered \\Seen \\Deleted kw..." for Maildir
 * flags and normalised keywords (no parentheses) into out (reset first). */
void push_flags_string(unsigned flags, const char *keywords, struct buf *out);
/* The flags to add and to remove to go from (old_flags, old_kw) to (new_flags,
 * new_kw); keywords normalised. Both bufs reset first; empty when none. */
void push_flags_delta(unsigned old_flags, const char *old_kw, unsigned new_flags, const char *new_kw,
		      struct buf *add, struct buf *remove);
/* The keywords old_kw becomes when only part of the change to new_kw was
 * made: those added (new_kw's not in old_kw) when `add`, those removed (old_kw's
 * not in new_kw) when `remove`; normalised into out (reset first). */
void push_keywords_apply(const char *old_kw, const char *new_kw, int add, int remove, struct buf *out);

/* ---- message identity ---- */

#define PUSH_DIGEST_LEN 32

/* Length of the header section of a message: up to the empty line, excluded
 * (the whole message when there is none). */
size_t push_header_len(const char *msg, size_t len);
/* SHA-256 of a header section with trailing CR/LF removed, so that the header
 * of a file and the server's BODY[HEADER] give the same digest. */
void push_header_digest(const char *hdr, size_t len, unsigned char out[PUSH_DIGEST_LEN]);
/* The Message-ID of a header section, "<...>", unfolded, into out (outlen >=
 * 2). 0, or -1 when there is none or it is not usable in a SEARCH (8-bit,
 * control characters, longer than outlen - 1). */
int push_message_id(const char *hdr, size_t len, char *out, size_t outlen);

/* A mirror file (LF line ends) read in the server's form, a chunk at a time,
 * never whole in memory: every LF becomes CRLF (the mirror turned CRLF into LF
 * and kept bare CRs); any other byte, a CR too, stays. */
struct push_crlf_reader {
	int fd;
	int lf_due;     /* a CR was given for an LF whose LF is still to come */
	size_t pos, len;
	char in[16384];
};
void push_crlf_reader_init(struct push_crlf_reader *r, int fd);
/* Up to cap bytes of the file's CRLF form into out: their count, 0 at its end,
 * -1 on a read error (errno). */
ssize_t push_crlf_read(struct push_crlf_reader *r, char *out, size_t cap);

/* A message of the mirror about to be looked up or appended (src/push_msg.c). */
struct push_msg {
	struct buf data;       /* the whole message in CRLF form, when kept and small */
	int fd;                /* else, when kept, its file, read again as it is sent; -1 */
	uint64_t len;          /* its size in CRLF form */
	uint64_t lf;           /* LFs in the file: CRLFs of that form (len - lf = the file's size) */
	int ends_crlf;
	int64_t date;          /* INTERNALDATE: the file's mtime (set by the caller) */
	unsigned char digest[PUSH_DIGEST_LEN]; /* push_header_digest of its header */
	char message_id[256];  /* push_message_id of its header, "" when none */
	struct push_crlf_reader *rd;
};
#define PUSH_MSG_INIT { .data = BUF_INIT, .fd = -1 }
/* Scan the open file fd of size bytes (push_msg_free closes it): m gets its size
 * in CRLF form, LFs, digest and Message-ID; with keep, the message itself (small:
 * in data; big: fd kept open). 0, or -1 with err set. m is freed first. */
int push_msg_load(int fd, uint64_t size, int keep, struct push_msg *m, char *err, size_t errlen);
/* Before each send of a kept message: its file read from the start again. 0 or -1. */
int push_msg_rewind(struct push_msg *m);
/* A struct imap_append_req's read callback over a kept message (ctx: the push_msg). */
ssize_t push_msg_read(void *ctx, char *out, size_t cap, char *err, size_t errlen);
void push_msg_free(struct push_msg *m);

/* ---- push state: one per (mirror folder, target account) ---- */

/* Text format, LF-terminated lines:
 *   mailkeep-push 1
 *   target <target folder, wire name>
 *   uidvalidity <target UIDVALIDITY>
 *   m <source uidvalidity> <source uid> <target uid> <flag letters or -> [keyword ...]
 *   p <source uidvalidity> <source uid> [<size> <date> <header digest hex> [<message-id>]]
 * "m": the message is on the target (target uid 0 when the server did not tell
 * it), with the flags mailkeep last set there; "p": an APPEND was sent and its
 * outcome is unknown (the run was killed): look the message up before
 * appending it again. Its identity on the wire (size, INTERNALDATE, digest of
 * the header, Message-ID) lets it be found on the target even once its source
 * message is gone. Lines sorted by (source uidvalidity, source uid). */
struct push_entry {
	uint32_t src_uv, src_uid;  /* src_uid 0: dropped (see push_state_compact) */
	uint32_t tgt_uid;          /* pending: 0, or the APPENDUID an earlier run got ("a" line) */
	uint8_t flags;             /* MFLAG_* as set on the target */
	uint8_t pending;
	uint8_t unverified;        /* given an APPENDUID not checked yet (push_check_stored): saved as "p" */
	const char *keywords;      /* NULL, or normalised, in the push state's kw table */
	char *pkey;                /* pending: NULL or owned, "<size> <date> <digest hex>[ <message-id>]" */
};
struct push_state {
	char *target;              /* owned; NULL when new */
	uint32_t tgt_uv;
	/* the target folder's last SELECT gave PERMANENTFLAGS without \* (no new
	 * keywords): 1, with the keywords it listed (owned, may be ""), for a dry
	 * run, whose EXAMINE gets "PERMANENTFLAGS ()" */
	int no_new_keywords;
	char *permanent;
	struct push_entry *e;
	size_t n, cap;
	struct kwset kw;           /* the entries' keyword sets, each once (bounded, as a
				    * folder state's: a set past the cap is recorded as none) */
};

/* Parse a state file's text into *st (zeroed first). 0, or -1 with err. */
int push_state_parse(const char *data, size_t len, struct push_state *st, char *err, size_t errlen);
/* The text of the state (appended to out). */
void push_state_format(const struct push_state *st, struct buf *out);
struct push_entry *push_state_find(const struct push_state *st, uint32_t uv, uint32_t uid);
/* The entry for (uv, uid), inserted (zeroed) in order when absent. */
struct push_entry *push_state_put(struct push_state *st, uint32_t uv, uint32_t uid);
/* e's keywords: a copy of keywords held in st->kw ("" or NULL: none). */
void push_entry_set_keywords(struct push_state *st, struct push_entry *e, const char *keywords);
/* The entry is on the target and checked: neither pending nor unverified, and
 * its key on the wire freed (only those two are saved with it, and a push of
 * 100,000 messages kept 100,000 of them, ~250 bytes each, to its end). */
void push_entry_settle(struct push_entry *e);
/* Remove the entry for (uv, uid) if there is one. */
void push_state_remove(struct push_state *st, uint32_t uv, uint32_t uid);
/* Remove the entries whose src_uid was set to 0 (which breaks the order:
 * compact before the next find or put). */
void push_state_compact(struct push_state *st);
void push_state_clear(struct push_state *st);
void push_state_free(struct push_state *st);

/* ---- plan of one folder ---- */

/* One message of the mirror folder. */
struct push_src {
	uint32_t uv, uid;
	uint8_t flags;
	const char *keywords;  /* normalised, "" when none */
	uint8_t keywords_unknown; /* no line in the sync state (a file kept after its message left
				   * the server): "" is no removal, none is removed from the target */
};

struct push_plan {
	size_t *append, n_append; /* source indices: APPEND */
	size_t *lookup, n_lookup; /* source indices: may be on the target already; look up first */
	size_t *update, n_update; /* source indices: on the target with other flags */
	size_t *orphan, n_orphan; /* state indices: the source message is gone */
};

/* Compare the mirror folder (src sorted by uv, uid) with the push state.
 * Pending entries are looked up; when the state has orphans of another
 * UIDVALIDITY (the source folder was renumbered) new messages are looked up
 * too, so that they are matched with their old copies instead of duplicated. */
void push_plan_folder(const struct push_src *src, size_t n, const struct push_state *st,
		      struct push_plan *out);
void push_plan_free(struct push_plan *p);

/* A target message that a looked-up source message may be. */
struct push_candidate {
	uint32_t uid;
	uint64_t size;
	int64_t date;
	unsigned char digest[PUSH_DIGEST_LEN];
	unsigned flags;
	char *keywords;      /* owned by the caller */
	int taken;
};
/* The untaken candidate with this size and header digest, preferring the same
 * INTERNALDATE, then the lowest UID. Index, or -1. */
ssize_t push_match(const struct push_candidate *c, size_t n, uint64_t size,
		   const unsigned char digest[PUSH_DIGEST_LEN], int64_t date);
/* Sort candidates by size and header digest (then UID) for push_match_sorted,
 * which gives push_match's answer over them by binary search: a lookup of n
 * messages among n candidates in O(n log n), not O(n^2). */
void push_candidates_sort(struct push_candidate *c, size_t n);
ssize_t push_match_sorted(const struct push_candidate *c, size_t n, uint64_t size,
			  const unsigned char digest[PUSH_DIGEST_LEN], int64_t date);

/* ---- runner (src/push.c) ---- */

struct push_options {
	int dry_run;   /* change nothing: list what would be done on `out` */
	int delete;    /* delete on the target what the mirror no longer has */
	int verbose;   /* with dry_run: list every message */
	FILE *out;     /* dry-run listing; stdout when NULL */
};

struct push_counts {
	uint64_t folders, folders_created, folders_failed;
	uint64_t appended, bytes, found, flag_updates, deleted, skipped, failed;
};

enum push_status {
	PUSH_OK = 0,
	PUSH_PARTIAL = 1, /* some messages or folders failed; the rest was pushed */
	PUSH_FAILED = 2,  /* nothing pushed: connection, TLS, login, local setup */
};

struct push_result {
	enum push_status status;
	struct push_counts counts;
	unsigned long round_trips;
	double seconds;
	char error[1024]; /* why it failed (PUSH_FAILED) */
};

/* Directory of the push states of SRC into TARGET:
 * <src root>/<src name>/.mailkeep/push/<target name>. Caller frees. */
char *push_state_dir(const struct account *src, const struct account *target);

/* Push every folder of src's mirror into target's server. The caller holds the
 * locks. Errors are logged (naming folder and message) as they happen. */
void push_account(const struct account *src, const struct account *target,
		  const struct push_options *opt, struct push_result *res);

#endif
