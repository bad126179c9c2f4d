/* IMAP client: connection setup (TLS policy, capabilities, login), commands,
 * pipelining, and dispatch of untagged responses. Uses net for bytes and
 * imap_parse for structure; message bodies are streamed to a caller sink. */
#ifndef MAILKEEP_IMAP_H
#define MAILKEEP_IMAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mailkeep/buf.h"
#include "mailkeep/config.h"
#include "mailkeep/imap_parse.h"

enum imap_cap {
	IMAP_CAP_IMAP4REV1 = 1u << 0,
	IMAP_CAP_STARTTLS = 1u << 1,
	IMAP_CAP_LOGINDISABLED = 1u << 2,
	IMAP_CAP_AUTH_PLAIN = 1u << 3,
	IMAP_CAP_SASL_IR = 1u << 4,
	IMAP_CAP_LITERALPLUS = 1u << 5,
	IMAP_CAP_LITERALMINUS = 1u << 6,
	IMAP_CAP_CONDSTORE = 1u << 7,
	IMAP_CAP_QRESYNC = 1u << 8,
	IMAP_CAP_UIDPLUS = 1u << 9,
	IMAP_CAP_ESEARCH = 1u << 10,
	IMAP_CAP_LIST_STATUS = 1u << 11,
	IMAP_CAP_ENABLE = 1u << 12,
	IMAP_CAP_SPECIAL_USE = 1u << 13,
	IMAP_CAP_MULTIAPPEND = 1u << 14,
	IMAP_CAP_BINARY = 1u << 15,
	IMAP_CAP_NAMESPACE = 1u << 16,
	IMAP_CAP_AUTH_XOAUTH2 = 1u << 17,
	IMAP_CAP_AUTH_OAUTHBEARER = 1u << 18,
	IMAP_CAP_X_GM_EXT_1 = 1u << 19,     /* Gmail: X-GM-MSGID, X-GM-LABELS */
	IMAP_CAP_AUTH_CRAM_MD5 = 1u << 20,
	IMAP_CAP_AUTH_LOGIN = 1u << 21,     /* the SASL mechanism LOGIN */
	IMAP_CAP_COMPRESS_DEFLATE = 1u << 22, /* RFC 4978 */
};

/* Failure classes, for exit codes and "is the connection still usable". */
enum imap_error {
	IMAP_OK = 0,
	IMAP_ERR_NET = -1,      /* transport failure: connection is dead */
	IMAP_ERR_CERT = -2,     /* TLS verification failed */
	IMAP_ERR_PROTOCOL = -3, /* malformed/hostile response: connection is dead */
	IMAP_ERR_AUTH = -4,     /* login refused */
	IMAP_ERR_NO = -5,       /* command answered NO/BAD: connection still usable */
	IMAP_ERR_POLICY = -6,   /* refused by our own policy (plaintext login etc.) */
	IMAP_ERR_LOCAL = -7,    /* local failure in a callback (disk full...): connection usable
				 * only if the response was fully consumed */
};

struct imap_client; /* opaque */

/* 1 when an error code means the connection is gone (transport, protocol or
 * certificate failure): reconnect before the next command. */
int imap_connection_lost(int rc);

/* The folder (its UTF-8 name) whose responses c reads from now on, named with
 * the account in the warnings about them (a message's keywords not kept);
 * NULL: none. Copied. */
void imap_set_folder(struct imap_client *c, const char *utf8);

/* Connect per the account's host/port/tls/ca_file/timeout, read the greeting,
 * get capabilities, do STARTTLS when tls: starttls (refusing injected bytes and
 * a server without STARTTLS). Returns NULL with *code and err set. */
struct imap_client *imap_connect(const struct account *acct, int *code, char *err, size_t errlen);

/* Log in per the account's `auth`: AUTHENTICATE PLAIN (SASL-IR when offered) or
 * LOGIN; LOGIN only; XOAUTH2 or OAUTHBEARER (RFC 7628) with `password` holding the
 * access token. Refuses when
 * the connection is not TLS and the account's tls is not `none`, and when the
 * server says LOGINDISABLED. The password is never logged. */
int imap_login(struct imap_client *c, const char *user, const char *password, char *err, size_t errlen);

/* COMPRESS DEFLATE (RFC 4978) when the account says `compress: true` and the
 * server offers it; tried once per connection, and only while no command is in
 * flight. A refusal is no error (the connection goes on uncompressed): returns
 * 0, or a connection error with err set. */
int imap_compress(struct imap_client *c, char *err, size_t errlen);

unsigned imap_caps(const struct imap_client *c);
/* The hierarchy delimiter learnt from LIST (0 when none), valid after imap_list. */
char imap_delimiter(const struct imap_client *c);
/* Round trips (commands waited on) so far, for -v statistics. */
unsigned long imap_round_trips(const struct imap_client *c);
uint64_t imap_bytes_in(const struct imap_client *c);

/* LOGOUT (best effort) and free. NULL allowed. */
void imap_close(struct imap_client *c);

/* ---- mailbox listing ---- */
enum {
	IMAP_MBOX_NOSELECT = 1 << 0,
	IMAP_MBOX_NONEXISTENT = 1 << 1,
};
/* SPECIAL-USE attributes of a mailbox (RFC 6154 §2). */
enum {
	IMAP_SPECIAL_SENT = 1 << 0,
	IMAP_SPECIAL_DRAFTS = 1 << 1,
	IMAP_SPECIAL_TRASH = 1 << 2,
	IMAP_SPECIAL_JUNK = 1 << 3,
	IMAP_SPECIAL_ARCHIVE = 1 << 4,
	IMAP_SPECIAL_ALL = 1 << 5,
	IMAP_SPECIAL_FLAGGED = 1 << 6,
};
struct imap_status_info {
	int ok;                 /* the server answered OK for this mailbox */
	uint32_t uidvalidity, uidnext, messages;
	uint64_t highestmodseq; /* 0 when not asked (no CONDSTORE) or none */
};
struct imap_mailbox {
	char *name;      /* as on the wire (modified UTF-7), owned */
	char *utf8;      /* decoded, owned; NULL when the name does not decode */
	char delim;      /* 0 = NIL */
	unsigned flags;
	unsigned special; /* IMAP_SPECIAL_* (RFC 6154); from the LIST attributes */
	struct imap_status_info status; /* with LIST-STATUS; ok = 0 when not given */
};
struct imap_mailbox_list {
	struct imap_mailbox *items;
	size_t n;
	int with_status;  /* LIST-STATUS was used: each item's status is what STATUS would say */
	size_t n_ignored; /* LIST lines left out (unparsable, malformed, invalid name or delimiter): folders that cannot be synced */
	size_t name_bytes; /* the names kept so far (bounded: IMAP_LIST_NAME_BYTES) */
};
/* LIST "" "*". Names that fail to decode are still returned (utf8 NULL) so the
 * caller can report them. Caller frees with imap_mailbox_list_free. When the
 * server offers LIST-STATUS (RFC 5819) and CONDSTORE, the same round trip
 * brings every mailbox's STATUS (UIDVALIDITY UIDNEXT MESSAGES HIGHESTMODSEQ).
 * while_waiting (may be NULL) is called once the commands are sent, before
 * their answers are read: local work that overlaps the server's. */
int imap_list(struct imap_client *c, struct imap_mailbox_list *out, void (*while_waiting)(void *ctx),
	      void *ctx, char *err, size_t errlen);
void imap_mailbox_list_free(struct imap_mailbox_list *l);

/* ---- selected mailbox ---- */
/* A tagged NO or BAD, as the server sent it (text made printable, a secret
 * the login sent masked in code and text: see imap_server_text). */
struct imap_refusal {
	int status;             /* IMAP_STATUS_NO or IMAP_STATUS_BAD; 0 when none */
	char code[32];          /* the response code's atom ("NONEXISTENT"), "" when none */
	char text[160];
	/* read from the answer itself, before any masking (a short password
	 * masked inside "NONEXISTENT" must not hide what the server said) */
	int code_nonexistent;   /* the code is NONEXISTENT (RFC 5530) */
	int text_nonexistent;   /* the text says the mailbox "doesn't exist" */
};

struct imap_select_info {
	uint32_t uidvalidity;   /* 0 when the server sent none (an error for us) */
	uint32_t uidnext;       /* 0 when unknown */
	uint32_t exists;
	uint64_t highestmodseq; /* 0 when none / NOMODSEQ */
	int read_only;
	struct imap_refusal refused; /* the EXAMINE itself answered NO or BAD (status 0: it did not) */
	/* FETCH responses reporting a change that cannot be applied: in the
	 * answer to EXAMINE (QRESYNC) without a UID, or in it or in the UID FETCH
	 * CHANGEDSINCE answer with a UID but without FLAGS */
	unsigned long fetch_unusable;
	/* imap_exists_drops() once the answer's first EXISTS came: a drop after
	 * it is the mailbox's own, not the change from the one examined before */
	unsigned long exists_drops;
};
/* STATUS of one mailbox (RFC 3501 §6.3.10; HIGHESTMODSEQ from RFC 7162). */
/* STATUS for n mailboxes (wire names), pipelined: one round trip for up to 100.
 * A mailbox answered NO gets ok = 0; connection errors fail the call. */
int imap_status_many(struct imap_client *c, const char *const *wire_names, size_t n,
		     struct imap_status_info *out, char *err, size_t errlen);

/* ENABLE QRESYNC when the server offers it (RFC 7162 §3.2.3). Returns 1 when
 * enabled, 0 when not offered, <0 on a connection error. */
int imap_enable_qresync(struct imap_client *c, char *err, size_t errlen);

/* The server answered with a throttling code or hint: the suggested wait in ms
 * (1000 when none was given), 0 when not throttled. Cleared by imap_throttle_clear. */
unsigned imap_throttle_ms(const struct imap_client *c);
/* Whether the last command refused was refused with [EXPUNGEISSUED] (RFC 5530):
 * a message asked for was expunged by another session. */
int imap_refused_expunged(const struct imap_client *c);
void imap_throttle_clear(struct imap_client *c);

/* Messages in the selected mailbox as the server last reported (EXISTS,
 * decremented by EXPUNGE and VANISHED). */
uint32_t imap_exists(const struct imap_client *c);
/* How many EXPUNGE and VANISHED (not EARLIER) responses the connection saw. */
unsigned long imap_expunges(const struct imap_client *c);
/* How many EXISTS responses were seen (a server need not send one after an APPEND). */
unsigned long imap_exists_told(const struct imap_client *c);
/* How many EXISTS responses said fewer messages than the count before them
 * (only EXPUNGE and VANISHED may lower it, RFC 3501 §7.3.1; the first EXISTS
 * of a newly examined mailbox counts too); *FROM and *TO: the last such drop. */
unsigned long imap_exists_drops(const struct imap_client *c, uint32_t *from, uint32_t *to);

/* 1 after a successful imap_enable_qresync. */
int imap_qresync_enabled(const struct imap_client *c);

struct imap_msg;
struct imap_fetch_cb;

/* What to ask together with EXAMINE, pipelined in one round trip. */
struct imap_examine_req {
	const char *wire_name;
	/* QRESYNC resync (needs imap_enable_qresync): the known UIDVALIDITY and
	 * HIGHESTMODSEQ; the server answers with VANISHED (EARLIER) and FETCH FLAGS of
	 * what changed since (RFC 7162 §3.2.5). 0 = not used. */
	uint32_t qresync_uidvalidity;
	uint64_t qresync_modseq;
	/* a bare EXAMINE, not even (CONDSTORE): for a server that refuses them */
	int plain;
	/* "UID FETCH 1:* <fetch_items> [(CHANGEDSINCE changedsince)]"; NULL = none */
	const char *fetch_items;
	uint64_t changedsince;
	/* "UID SEARCH ALL" (ESEARCH form when offered): every UID of the mailbox */
	int search_all;
	const struct imap_fetch_cb *cb;  /* FETCH responses (also those of QRESYNC) */
	/* UID ranges from VANISHED (vanished = 1) and SEARCH (vanished = 0) */
	int (*on_uids)(void *ctx, uint32_t lo, uint32_t hi, int vanished);
	void *ctx;
	/* Sent last and not waited for: "UID FETCH <then_set> <then_items>" (the
	 * download of messages known to be new, so it costs no round trip of its
	 * own). Its tag goes to *then_tag, 0 when not sent; the caller consumes it
	 * with imap_uid_fetch_wait() or imap_uid_fetch_discard(). When imap_examine
	 * fails it has already been consumed. */
	const char *then_set, *then_items;
	unsigned *then_tag;
	/* Called once the commands are sent, before their answers are read: local
	 * work that then overlaps the server's (the folder's directory scan). */
	void (*after_send)(void *ctx);
	void *after_ctx;
};

/* EXAMINE the mailbox with the pipelined requests above. */
int imap_examine(struct imap_client *c, const struct imap_examine_req *req,
		 struct imap_select_info *info, char *err, size_t errlen);

/* The same in two halves, so that the commands can be sent while the previous
 * mailbox's answers are still being read (one round trip less per folder).
 * Between the halves nothing else may be sent. recv takes the callbacks of
 * req (the other fields must be those given to send). On a send failure the
 * connection is unusable. */
struct imap_examine_sent {
	unsigned tag, ftag, stag, then_tag;
};
int imap_examine_send(struct imap_client *c, const struct imap_examine_req *req,
		      struct imap_examine_sent *sent, char *err, size_t errlen);
int imap_examine_recv(struct imap_client *c, const struct imap_examine_req *req,
		      const struct imap_examine_sent *sent, struct imap_select_info *info,
		      char *err, size_t errlen);

/* Counts the EXAMINEs sent: a folder that sees it change has lost its mailbox
 * (a command sent now would reach another one). */
unsigned imap_select_seq(const struct imap_client *c);
/* How many untagged SEARCH responses imap_uid_search_wait has read so far: one
 * per UID SEARCH (RFC 3501 §7.2.5, even when nothing matches), though with
 * pipelined searches not necessarily while waiting for its own tag. */
unsigned imap_search_seen(const struct imap_client *c);

/* Consume the responses of a UID FETCH sent earlier, dropping any body. */
int imap_uid_fetch_discard(struct imap_client *c, unsigned tag);

/* One message's metadata from a FETCH response. */
struct imap_msg {
	uint32_t uid;
	unsigned flags;          /* maildir MFLAG_* bits */
	const char *keywords;    /* space-separated other flags (not \Recent), or "" */
	int has_flags;
	int64_t internaldate;    /* seconds since the epoch; INT64_MIN when absent */
	uint64_t modseq;
	uint64_t gm_msgid;       /* Gmail X-GM-MSGID; 0 when absent */
	uint64_t rfc822_size;    /* RFC822.SIZE; UINT64_MAX when absent or not a number */
	int has_body;            /* BODY[] was present (streamed to the sink) */
	int body_nil;            /* BODY[] NIL: the message is gone (RFC 2180 §4.1.3) */
	int body_partial;        /* BODY[]<0> not shown whole by RFC822.SIZE: refused,
				  * has_body is 0 */
	uint64_t body_size;      /* bytes of the literal */
};

/* Callbacks for UID FETCH. `on_body_begin`/`on_body_data` receive the BODY[]
 * literal while it arrives (before the rest of the response is known);
 * `on_message` is called once the whole FETCH response is parsed. Any callback
 * returning non-zero aborts with IMAP_ERR_LOCAL after the response stream has been
 * consumed up to the tagged completion when possible; `on_message` returning
 * IMAP_ERR_PROTOCOL (the server's answers are hostile, e.g. without end) makes
 * the command fail with it at once: the connection is then dropped. */
struct imap_fetch_cb {
	int (*on_body_begin)(void *ctx, uint64_t size, char *err, size_t errlen);
	int (*on_body_data)(void *ctx, const char *data, size_t len, char *err, size_t errlen);
	int (*on_message)(void *ctx, const struct imap_msg *msg, char *err, size_t errlen);
	void *ctx;
};

/* UID FETCH <uidset> <items>, e.g. items "(UID FLAGS)" or
 * "(UID FLAGS INTERNALDATE BODY.PEEK[])". */
int imap_uid_fetch(struct imap_client *c, const char *uidset, const char *items,
		   const struct imap_fetch_cb *cb, char *err, size_t errlen);

/* The same in two halves, to keep several commands in flight: send returns the
 * tag, wait consumes that command's responses (call in the order sent). */
int imap_uid_fetch_send(struct imap_client *c, const char *uidset, const char *items, unsigned *tag,
			char *err, size_t errlen);
int imap_uid_fetch_wait(struct imap_client *c, unsigned tag, const struct imap_fetch_cb *cb,
			char *err, size_t errlen);

/* Parse an INTERNALDATE string ("17-Jul-1996 02:44:25 -0700", day may be
 * space-padded) into seconds since the epoch. Pure. 0 ok, -1 malformed. */
int imap_parse_internaldate(const char *s, size_t len, int64_t *out);

/* Append a compact UID set for the sorted uids[0..n) to out ("1:5,7,9:12"). */
void imap_uidset(struct buf *out, const uint32_t *uids, size_t n);

/* ---- commands that change the server (src/imap_append.c; used by push; the
 * lookups, UID SEARCH and the FETCH of headers, in src/imap_lookup.c) ---- */

/* LIST "" "*", with RETURN (SPECIAL-USE) when the server offers SPECIAL-USE
 * (RFC 6154 §5.1); special-use attributes are recorded in each mailbox's
 * `special` either way. Learns the delimiter like imap_list. Caller frees. */
int imap_list_special(struct imap_client *c, struct imap_mailbox_list *out, char *err, size_t errlen);

/* The first personal namespace (RFC 2342) when the server offers NAMESPACE:
 * *prefix (wire form, malloc'd, "" when none; caller frees) and *delim (0 when
 * NIL or unknown); *flat (when not NULL) 1 when the server named a personal
 * namespace with the delimiter NIL (no hierarchy), else 0. Without NAMESPACE:
 * "" and 0. Returns 0, 1 when the server refused the command (NO: "" and 0
 * too), or a connection error. */
int imap_namespace_personal(struct imap_client *c, char **prefix, char *delim, int *flat, char *err,
			    size_t errlen);

/* CREATE the mailbox (wire name). 0 created, 1 it already existed
 * ([ALREADYEXISTS], RFC 5530), IMAP_ERR_NO refused, or a connection error. */
int imap_create(struct imap_client *c, const char *wire_name, char *err, size_t errlen);
/* NOOP: 0 when the server answered it OK (and nothing else out of place). */
int imap_noop(struct imap_client *c, char *err, size_t errlen);
/* SUBSCRIBE the mailbox. */
int imap_subscribe(struct imap_client *c, const char *wire_name, char *err, size_t errlen);

/* SELECT (read_only: EXAMINE) the mailbox. *keywords_ok (may be NULL) is set to
 * 1 unless SELECT's PERMANENTFLAGS came without "\*" (new keywords not allowed;
 * always 1 after EXAMINE, whose PERMANENTFLAGS is empty: read-only); then
 * *permanent (may be NULL; reset first) holds the keywords it does list
 * ("$Junk $NotJunk"), space-separated. */
int imap_select(struct imap_client *c, const char *wire_name, int read_only,
		struct imap_select_info *info, int *keywords_ok, struct buf *permanent,
		char *err, size_t errlen);

/* One APPEND (RFC 3501 §6.3.11): the message bytes are sent as they are. */
struct imap_append_req {
	const char *wire_name;
	const char *flags;  /* space-separated flags without parentheses; NULL or "" = none */
	int64_t date;       /* INTERNALDATE, seconds since the epoch; INT64_MIN = none */
	const char *data;   /* the message; NULL: read() gives it */
	size_t len;
	/* When data is NULL: the message's next bytes into out (at most cap): their
	 * count, 0 at its end, <0 with err set. Once the literal's size is sent, a
	 * failure or a message of another size than len closes the connection (a
	 * message cut short must never be completed by the next command's bytes). */
	ssize_t (*read)(void *ctx, char *out, size_t cap, char *err, size_t errlen);
	void *read_ctx;
};
struct imap_append_result {
	uint32_t uidvalidity, uid; /* APPENDUID (RFC 4315 §3); 0 when not sent */
	int over_quota;            /* refused with [OVERQUOTA] (RFC 5530) or a quota text */
	int trycreate;             /* refused with [TRYCREATE]: the mailbox does not exist (any more) */
	char text[200];            /* the server's text of a refusal, made safe */
};
/* 1 when an APPEND of len bytes can be sent without waiting (LITERAL+, or
 * LITERAL- and len <= 4096, RFC 7888). Otherwise imap_append_send waits for the
 * server's continuation before the literal. */
int imap_append_pipelined(const struct imap_client *c, size_t len);
/* Send an APPEND; the tag goes to *tag. With a synchronizing literal the server
 * may refuse before the literal is sent: then IMAP_ERR_NO is returned with res
 * filled as by imap_append_wait, and the tag must not be waited for. Earlier
 * APPENDs may still be in flight: before waiting for the continuation,
 * before_cont (may be NULL) is called to wait for them (imap_append_wait), and a
 * continuation that comes before their answers is kept for this APPEND. */
int imap_append_send(struct imap_client *c, const struct imap_append_req *req, unsigned *tag,
		     struct imap_append_result *res, int (*before_cont)(void *ctx), void *ctx,
		     char *err, size_t errlen);
/* Wait for the APPEND's completion: 0 (res filled), IMAP_ERR_NO when refused
 * (res->over_quota, res->text say why), or a connection error. */
int imap_append_wait(struct imap_client *c, unsigned tag, struct imap_append_result *res,
		     char *err, size_t errlen);

/* MULTIAPPEND (RFC 3502): the n messages in one command, all or none; only
 * with LITERAL+ (0 is returned by imap_multiappend_ok otherwise). On success
 * uids[0..n) get the target UIDs from APPENDUID (all 0 when the server sent
 * none) and res->uidvalidity its UIDVALIDITY; IMAP_ERR_NO when refused (none
 * was appended; res says why), or a connection error. */
int imap_multiappend_ok(const struct imap_client *c);
int imap_multiappend(struct imap_client *c, const struct imap_append_req *reqs, size_t n, uint32_t *uids,
		     struct imap_append_result *res, char *err, size_t errlen);

/* Wait for the tagged completion of a command sent with one of the *_send
 * functions below. 0, IMAP_ERR_NO or a connection error. */
int imap_command_wait(struct imap_client *c, unsigned tag, const char *what, char *err, size_t errlen);
/* UID STORE <uidset> <op> (<flags>), op e.g. "+FLAGS.SILENT" (RFC 3501 §6.4.6). */
int imap_uid_store_send(struct imap_client *c, const char *uidset, const char *op, const char *flags,
			unsigned *tag, char *err, size_t errlen);
/* UID EXPUNGE <uidset> (RFC 4315 §2.1; needs UIDPLUS). */
int imap_uid_expunge(struct imap_client *c, const char *uidset, char *err, size_t errlen);

/* UID SEARCH for the messages of min_size to max_size bytes (LARGER and
 * SMALLER, RFC 3501 §6.4.4), with that Message-ID when message_id is not NULL
 * (HEADER search); each UID of the answer goes to on_uid. */
int imap_uid_search_message_send(struct imap_client *c, const char *message_id, uint64_t min_size,
				 uint64_t max_size, unsigned *tag, char *err, size_t errlen);
int imap_uid_search_wait(struct imap_client *c, unsigned tag, int (*on_uid)(void *ctx, uint32_t uid),
			 void *ctx, char *err, size_t errlen);
/* UID SEARCH ALL: every UID of the selected mailbox goes to on_uid. */
int imap_uid_search_all(struct imap_client *c, int (*on_uid)(void *ctx, uint32_t uid), void *ctx,
			char *err, size_t errlen);

/* A message's metadata and header section from UID FETCH (UID RFC822.SIZE
 * INTERNALDATE FLAGS BODY.PEEK[HEADER]); pointers valid during the callback. */
struct imap_header_msg {
	uint32_t uid;
	uint64_t size;
	int64_t internaldate;  /* INT64_MIN when absent */
	unsigned flags;        /* MFLAG_* */
	const char *keywords;  /* space-separated, or "" */
	const char *header;    /* NULL when absent */
	size_t header_len;
};
int imap_uid_fetch_headers(struct imap_client *c, const char *uidset,
			   int (*cb)(void *ctx, const struct imap_header_msg *m, char *err, size_t errlen),
			   void *ctx, char *err, size_t errlen);

/* Format t as an IMAP date-time in UTC, "dd-Mon-yyyy hh:mm:ss +0000" (out >= 27 bytes). Pure. */
void imap_format_internaldate(int64_t t, char *out);

#endif
