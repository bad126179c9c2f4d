/* Internals shared by the push runner's files (push.c: the account and its
 * connection; push_folder.c: one folder; push_mirror.c: the mirror's messages
 * and the push state; push_lookup.c: finding messages on the target;
 * push_appenduid.c: the UIDs the target gave asked back; push_target.c:
 * appends; push_update.c: flag updates and deletions on the target). Not a
 * public interface: see include/mailkeep/push.h. */
#ifndef MAILKEEP_PUSH_INTERNAL_H
#define MAILKEEP_PUSH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mailkeep/buf.h"
#include "mailkeep/config.h"
#include "mailkeep/imap.h"
#include "mailkeep/maildir.h"
#include "mailkeep/push.h"

/* One run of push_account(): the source account, the target connection and
 * what the target's folder list says. */
struct push_run {
	const struct account *src, *dst;
	const struct push_options *opt;
	struct push_result *res;
	FILE *out;
	char *src_dir;
	char *state_root;
	char *password;
	struct imap_client *imap;
	struct imap_mailbox_list list;
	size_t n_listed;           /* list.items[n_listed..] were added by this run: created, or in a dry run planned */
	char delim;
	char *prefix;
	struct push_name src_ns;   /* the source server's namespace prefix, as sync recorded it */
	unsigned reconnects;
	const struct strlist *folders; /* the mirror folders of this run */
};

/* One mirror folder being pushed: its messages, its push state, its target
 * folder and what was done. */
enum { STOP_QUOTA = 1, STOP_GONE };

struct folder_run {
	struct push_run *r;
	const char *rel;
	const char *name;          /* decoded, '/' between levels */
	struct buf dir;            /* the mirror folder */
	struct buf wire, tname;    /* target folder: wire and decoded name */
	struct buf state_dir;
	struct buf saved;          /* the state text as on disk */
	struct push_state st;
	struct maildir_view view;
	struct push_src *src;      /* sorted by (uv, uid) */
	size_t *file;              /* src index -> view.files index */
	struct kwset kw;           /* the keywords of src, normalised, each set once */
	size_t n_src;
	int keywords_ok;
	int keywords_capped;       /* the sync state lacks keywords of some messages (state.h): none removed */
	struct buf permanent;      /* without keywords_ok: the keywords PERMANENTFLAGS lists */
	struct imap_select_info info;
	int exists_on_target;
	int stop;                  /* no more APPENDs: STOP_QUOTA, STOP_GONE */
	int resolved;              /* the state says what the target holds (lookups done) */
	uint64_t uid_floor;        /* the lowest UID an APPENDUID may name: UIDNEXT, then past the last one */
	size_t *refused;           /* sources whose APPEND was refused, still in doubt until */
	size_t n_refused, cap_refused; /* a later answer shows the refusal was the command's */
	size_t *kw_again;          /* sources refused with keywords: sent again without them */
	size_t n_kw_again, cap_kw_again;
	uint8_t *bare;             /* per source (NULL: none): its last APPEND went without keywords */
	int no_keywords;           /* APPENDs sent without keywords (the retry of those) */
	uint32_t *stored;          /* target UIDs APPENDUID gave this run, to be checked */
	size_t n_stored, cap_stored;
	uint64_t appended, bytes, found, updated, deleted, failed, skipped;
};

/* A mirror folder's push state: <state_root>/<folder path>/PUSH_STATE_FILE. */
#define PUSH_STATE_FILE ".push-state"

/* ---- push_folder.c ---- */

/* Push the mirror folder at path rel (below r->src_dir): 0, or negative with
 * err (imap_connection_lost() tells a lost connection). Adds to r->res. */
int push_folder(struct push_run *r, const char *rel, char *err, size_t errlen);

/* ---- push_mirror.c ---- */

/* Read the mirror folder's messages into f->src and f->file, their keywords into f->kw (sorted by
 * UIDVALIDITY and UID); 0, or -1 with err. */
int push_scan_source(struct folder_run *f, char *err, size_t errlen);
/* Load the folder's push state into f->st (empty when there is none; *damaged
 * when it does not parse, warned). 0, or -1 with err naming the file. */
int push_load_state(struct folder_run *f, int *damaged, char *err, size_t errlen);
/* Make dir, below r->src_dir, never through a symbolic link. 0, or -1 with err. */
int push_state_mkdirs(const struct push_run *r, const char *dir, char *err, size_t errlen);
/* The keywords the target folder takes: NULL for any (for push_keywords_normalise). */
const char *push_allowed_keywords(const struct folder_run *f);

/* The target UIDs (unsorted, maybe repeated) that the push states of the run's other
 * mirror folders hold in f's target folder (same name and UIDVALIDITY): two
 * mirror folders may go to one target folder ("Sent" and "Sent Items"). */
size_t push_other_claims(const struct folder_run *f, uint32_t **out);
/* Write the folder's push state atomically when it changed (never in a dry
 * run). 0, or -1 with err naming the file. */
int push_save_state(struct folder_run *f, char *err, size_t errlen);
/* Open source message i into m (push_msg_load; with keep, to be sent); m->date
 * is the INTERNALDATE: the date its mailkeep name carries, else (none, or a
 * date before 1970, named 0) the file's mtime. 0; 1 when the file is gone (a mail
 * reader renamed it); -1 on error; err names the file. m is freed on failure. */
int push_open_message(struct folder_run *f, size_t i, int keep, struct push_msg *m, char *err, size_t errlen);

/* ---- push_lookup.c ---- */

#define STORE_WINDOW 16                   /* UID STORE / FETCH commands in flight */
#define UIDSET_MAX 500                    /* UIDs per command */

/* qsort() and bsearch() order of uint32_t values. */
int push_cmp_u32(const void *a, const void *b);
/* Sort v[0..n) and drop repeats; the count left. */
size_t push_uniq_u32(uint32_t *v, size_t n);
/* Whether sorted v[0..n) holds x. */
int push_contains_u32(const uint32_t *v, size_t n, uint32_t x);
/* The key of a message about to be appended, kept in its pending entry to
 * find it on the target even once the source is gone (allocated). */
char *push_pending_key(const struct push_msg *m);
/* The size on the wire in a pending entry's key; 0 without one. */
uint64_t push_pending_size(const struct push_entry *e);
/* Whether the mirror folder has the source message (uv, uid). */
int push_find_src(const struct folder_run *f, uint32_t uv, uint32_t uid);
/* The outcome r (error text werr) of one of several pipelined commands, kept
 * in *rc (the first refusal, or a lost connection) and err. 1 when nothing
 * more can be read. */
int push_pipelined_outcome(int r, int *rc, const char *werr, char *err, size_t errlen);

/* The target folder holds messages this run appended (or may have): the
 * lookups search it even when it was empty, or not there, at SELECT. */
static inline void push_folder_has_mail(struct folder_run *f)
{
	f->exists_on_target = 1;
	if (!f->info.exists)
		f->info.exists = 1;
}

/* Whether a NO of a command with keywords (its text TEXT) may be taken as the
 * target refusing those keywords for good: its text says so (Dovecot: [CANNOT]
 * Keyword length too long; Cyrus: too many user flags), and no response code
 * or hint says the cause is a passing one (RFC 5530: a permission, a lock, a
 * server failure, a quota, throttling...). Only then does push drop them
 * rather than try again by the next push; any other NO is an error as before
 * (a message stored despite its NO must not be sent twice on a guess). */
static inline int push_keyword_refusal(const char *text)
{
	static const char *const passing[] = { "[NOPERM]", "[INUSE]", "[UNAVAILABLE]", "[SERVERBUG]",
						"[READ-ONLY]", "[OVERQUOTA]", "[LIMIT]", "[CONTACTADMIN]",
						"[EXPUNGEISSUED]", "[AUTHORIZATIONFAILED]", "[EXPIRED]",
						"[PRIVACYREQUIRED]", "[TRYCREATE]", "[NONEXISTENT]", "[THROTTLED]",
						"Suggested Backoff Time", "quota" };
	for (size_t i = 0; i < sizeof(passing) / sizeof(*passing); i++)
		if (strcasestr(text, passing[i]))
			return 0;
	return strcasestr(text, "keyword") || strcasestr(text, "user flag");
}

/* f->bytes less N, never below zero (a message counted as sent is taken back) */
static inline void push_bytes_back(struct folder_run *f, uint64_t n)
{
	f->bytes -= n <= f->bytes ? n : f->bytes;
}

/* Look the source messages idx[0..n) up on the target (learning: after an
 * APPEND without APPENDUID, not counted as found). Those found get a state
 * entry with the target's flags and go to update[] when the flags differ;
 * the others go to missing[] (both appended to, at *n_missing and *n_update).
 * 0, or an IMAP_ERR_* code with err. */
int push_lookup_messages(struct folder_run *f, const size_t *idx, size_t n, int learning,
			 size_t *missing, size_t *n_missing, size_t *update, size_t *n_update,
			 char *err, size_t errlen);
/* Pending entries whose source message is gone (a run killed after its
 * APPEND, the message expunged since): an entry found on the target becomes an
 * ordinary one for that target UID; one not found, or without a key, is
 * dropped. 0, or an IMAP_ERR_* code with err. */
int push_resolve_gone_pending(struct folder_run *f, char *err, size_t errlen);

/* ---- push_appenduid.c ---- */

/* The pending entries ent[0..n) that an APPENDUID no check saw gave a target
 * UID, looked for under it: found[k] gets the target's UID, flags and
 * keywords (owned), uid 0 when not there or when the UID is in claimed[].
 * 0, or an IMAP_ERR_* code with err. */
int push_check_hints(struct folder_run *f, struct push_entry *const *ent, size_t n, const uint32_t *claimed,
		     size_t n_claimed, struct push_candidate *found, char *err, size_t errlen);
/* Check that the target holds the messages it gave an APPENDUID for in this
 * run; the entries of those it does not hold go (appended by the next push,
 * the folder failed). 0, or an IMAP_ERR_* code with err. */
int push_check_stored(struct folder_run *f, char *err, size_t errlen);

/* ---- push_target.c ---- */

/* APPEND the source messages idx[0..n) in batches, the state saved around
 * each; messages found with other flags go to update[]. Stops at a full
 * quota (f->stop). 0, or negative with err. */
int push_append_messages(struct folder_run *f, const size_t *idx, size_t n, size_t *update,
			 size_t *n_update, char *err, size_t errlen);

/* ---- push_update.c ---- */

/* UID STORE the flag changes of the source messages idx[0..n) on the target,
 * then save the state. 0, or negative with err. */
int push_update_flags(struct folder_run *f, const size_t *idx, size_t n, char *err, size_t errlen);
/* Drop the state entries of source messages that are gone and, with --delete,
 * delete their target copies; then save the state. 0, or negative with err. */
int push_delete_orphans(struct folder_run *f, char *err, size_t errlen);

#endif
