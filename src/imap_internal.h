/* Internals shared by the IMAP client's files (imap.c: connection; imap_io.c:
 * reading and writing; imap_wait.c: a command's completion; imap_login.c:
 * login; imap_list.c, imap_examine.c, imap_fetch.c, imap_append.c and
 * imap_lookup.c: mailbox commands). Not a public interface. */
#ifndef MAILKEEP_IMAP_INTERNAL_H
#define MAILKEEP_IMAP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mailkeep/buf.h"
#include "mailkeep/config.h"
#include "mailkeep/imap.h"
#include "mailkeep/imap_parse.h"

struct net_conn;
struct net_deflate;

/* Messages whose keywords not kept are warned about, in a folder of a
 * connection: the rest are not shown (a server repeating such answers must not
 * flood the output). */
#define KEYWORD_WARNINGS 10

struct imap_client {
	struct net_conn *net;
	struct net_deflate *z;  /* COMPRESS=DEFLATE active, else NULL */
	int compress_tried;     /* COMPRESS was sent (at most once per connection) */
	const struct account *acct;
	struct imap_parser *parser;
	struct buf rbuf;       /* bytes read, not yet consumed (from rpos) */
	size_t rpos;
	struct buf resp;       /* the response being assembled */
	struct buf cmd;        /* command being sent */
	unsigned caps;
	unsigned tagno;
	char delim;
	int qresync;           /* ENABLE QRESYNC succeeded */
	int preauth;           /* the greeting was PREAUTH */
	unsigned throttle_ms;  /* the server asked us to slow down (0 = no) */
	const char *cont_reply; /* answer to a continuation during AUTHENTICATE (SASL errors) */
	uint32_t exists;       /* EXISTS of the selected mailbox, kept up to date */
	unsigned long expunges; /* EXPUNGE and VANISHED responses (not EARLIER) seen */
	unsigned long exists_told; /* EXISTS responses seen */
	unsigned long exists_drops; /* EXISTS responses below the count before them */
	uint32_t drop_from, drop_to; /* the last of those: the count before, the EXISTS */
	uint32_t uidnext;      /* the last [UIDNEXT] told, 0 when unknown or an EXISTS grew since */
	int bye;               /* server said BYE */
	unsigned cont_tag;     /* an APPEND waiting for its continuation ("+"), 0 when none */
	int cont_early;        /* that "+" came while earlier APPENDs were waited for */
	int caps_seen;         /* a CAPABILITY list arrived since reset */
	char bye_text[160];
	/* from the login on: the forms of the secret the server's text may echo,
	 * masked before that text is escaped or cut (see imap_server_text) */
	struct buf secret_forms[5];
	size_t n_secret_forms;
	struct buf secret_parts; /* every SECRET_PART bytes of them, sorted (imap_login.c) */
	struct imap_refusal refusal; /* the last tagged NO or BAD */
	/* A command sent after the one waited for may complete first (RFC 3501 §5.5:
	 * Dovecot runs a pipelined UID SEARCH beside the UID FETCH before it). The
	 * caller names it in early_ok when the wait's callback reads its untagged
	 * answers too; its completion is then kept for its own wait. */
	unsigned early_ok;
	unsigned early_tag;     /* that completion came: its tag (0: none), status and text */
	struct imap_refusal early_refusal;
	int skip_unparsable;    /* untagged lines that do not parse are skipped (LIST), */
	size_t n_unparsable;    /* and counted here */
	size_t n_list_warned;   /* LIST lines warned about in this LIST (see imap_list_warn_ok) */
	unsigned long round_trips;
	unsigned select_seq;    /* EXAMINEs sent: which mailbox later commands reach */
	unsigned search_seen;   /* untagged SEARCH responses read by imap_uid_search_wait */
	int sent_since_read;
	int dead;               /* a write failed or a literal was cut short: nothing more is sent */
	uint64_t bytes_in;
	/* streaming state for the current response */
	const struct imap_fetch_cb *sink;
	int sink_failed;
	int streamed;          /* a literal of this response went to the sink */
	size_t streamed_at;    /* where its empty stand-in's bytes (none) are in resp */
	uint64_t streamed_size;
	int streamed_origin;   /* ... as BODY[]<0>: maybe only part of the body */
	char sink_err[256];
	char *folder;          /* imap_set_folder's, for warnings; NULL: none */
	/* Keywords not kept are warned about once a message of that folder, the
	 * first KEYWORD_WARNINGS messages (then one line for the rest): its flags
	 * come in every FETCH that shows them (the listing, then the download,
	 * on a first sync). The UIDs warned about, and how many messages had some. */
	uint32_t keyword_warned[KEYWORD_WARNINGS];
	unsigned keyword_warnings;
};

/* An untagged-response callback returns 0, a negative IMAP_ERR_*, or IMAP_DATA
 * when the response was the command's own data: only that is progress, which
 * lets a command wait beyond KEEPALIVE_TIMEOUTS (imap_wait_tagged). */
#define IMAP_DATA 1
typedef int (*imap_untagged_fn)(struct imap_client *c, const struct imap_response *r, void *ctx,
				char *err, size_t errlen);

/* Server text made safe for messages: bounded, control bytes escaped. */
void imap_safe_text(char *dst, size_t dstlen, const char *s, size_t len);
/* imap_safe_text, with the secret the login sent (from then on) masked first. */
void imap_server_text(const struct imap_client *c, char *dst, size_t dstlen, const char *s, size_t len);
/* The parse error of the unparsable c->resp, from its masked text (after a login). */
void imap_parse_error_masked(struct imap_client *c, char *perr, size_t perrlen);
/* Whether S[0..N) (a server's raw text, not NUL-terminated) holds NEEDLE,
 * ASCII case ignored. For decisions on a server's words, which are taken
 * from its raw text: the text shown is masked (imap_server_text). */
int imap_contains_ci(const char *s, size_t n, const char *needle);
/* Wipe and forget the secret forms of a login (c->secret_forms). */
void imap_secret_forms_clear(struct imap_client *c);
/* Mask every occurrence of secret in the NUL-terminated s with '*' (same length):
 * a refused login's text may echo the password the server was sent. */
void imap_redact(char *s, const char *secret);
/* Whether r is the untagged data response (not a status) named name, any case. */
int imap_is_untagged(const struct imap_response *r, const char *name);
/* "host" for messages. */
const char *imap_peer(const struct imap_client *c);
/* Where a warning about c's responses comes from, into buf: "account NAME:
 * folder \"F\"" once imap_set_folder named one, else the peer. Returns buf. */
const char *imap_warn_where(const struct imap_client *c, char *buf, size_t len);
/* Take a CAPABILITY list as the server's capabilities (c->caps). */
void imap_set_caps(struct imap_client *c, const struct imap_value *list);
/* Assemble one complete response into c->resp (streaming a body literal to c->sink). */
int imap_read_response(struct imap_client *c, char *err, size_t errlen);
/* Write bytes to the server (through COMPRESS when active). IMAP_ERR_NET on failure. */
int imap_write(struct imap_client *c, const void *data, size_t len, char *err, size_t errlen);
/* Send "<tag> <command>\r\n"; *tag receives the tag number. */
int imap_send_command(struct imap_client *c, unsigned *tag, char *err, size_t errlen,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Append s as a quoted string; -1 when it cannot be quoted. */
int imap_add_quoted(struct buf *b, const char *s);
/* Keep the selected mailbox's size (c->exists) from an untagged EXISTS,
 * EXPUNGE or VANISHED, wherever the server reports it. */
void imap_note_size(struct imap_client *c, const struct imap_response *r);
/* Milliseconds of a monotonic clock. */
int64_t imap_mono_ms(void);
/* Whether a command's wait has gone on without progress since quiet_since
 * (imap_mono_ms) for longer than KEEPALIVE_TIMEOUTS timeouts: 1 with err
 * saying what came instead (e.g. "untagged responses that are not its
 * answer"), else 0. A loop that reads a command's responses itself bounds
 * its wait with it as imap_wait_tagged does. */
int imap_no_progress(const struct imap_client *c, int64_t quiet_since, const char *instead,
		     const char *what, char *err, size_t errlen);
/* Read until the tagged completion of tag; untagged responses go to fn. */
int imap_wait_tagged(struct imap_client *c, unsigned tag, imap_untagged_fn fn, void *ctx,
		     const char *what, char *err, size_t errlen);
/* Whether to warn about one more LIST line left out (malformed, unparsable):
 * yes for the first few of a LIST, then one note that the others are not
 * shown. A server repeating bad lines must not flood the output (they are
 * counted all the same). */
int imap_list_warn_ok(struct imap_client *c);
/* Untagged LIST handler: appends to the struct imap_mailbox_list in ctx. */
int imap_on_list(struct imap_client *c, const struct imap_response *r, void *ctx,
		 char *err, size_t errlen);
int imap_simple_command(struct imap_client *c, const char *what, char *err, size_t errlen,
			const char *command);

/* Whether a flag of a FETCH is a keyword kept (and sent back by push): an atom
 * of 1 to 128 bytes (RFC 3501 §9: flag-keyword = atom; no CTL, space, 8-bit
 * byte, atom-specials or quoted-specials), not a system flag (a leading "\"). Pure. */
int imap_keyword_ok(const struct imap_value *v);

/* A FETCH command's state while its responses are read (imap_on_fetch). */
struct fetch_ctx {
	const struct imap_fetch_cb *cb;
	struct buf keywords;
	int failed;
	unsigned long without_uid; /* FETCH responses without a UID (ignored) */
	unsigned long without_flags; /* with a UID but neither FLAGS nor a body */
	/* the lowest MODSEQ among each kind (0: one had none): a change above the
	 * HIGHESTMODSEQ the state records is the next run's (imap_fetch_unusable) */
	uint64_t without_uid_modseq, without_flags_modseq;
};
/* How many of the N FETCH responses of one kind, the lowest MODSEQ among them
 * LOWEST, report a change at or below HIGHESTMODSEQ (all when it is 0): none
 * when every one is above it (another client's change during the run, RFC 7162
 * §3.1.4: the next run's CHANGEDSINCE reports it). */
unsigned long imap_fetch_unusable(unsigned long n, uint64_t lowest, uint64_t highestmodseq);
/* Untagged FETCH handler: one message to fc->cb (ctx is a struct fetch_ctx). */
int imap_on_fetch(struct imap_client *c, const struct imap_response *r, void *ctx,
		  char *err, size_t errlen);
/* Read a UID FETCH's responses up to its completion, bodies to cb's sink. */
int imap_fetch_wait(struct imap_client *c, unsigned tag, const struct imap_fetch_cb *cb,
		    char *err, size_t errlen);

#endif
