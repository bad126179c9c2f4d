/* Internals of the sync runner's one-folder part, shared by its files:
 * sync_folder.c (the folder: its run, from state to new state), sync_dir.c
 * (its directory read, the old copy moved aside), sync_view.c (the server's
 * view: EXAMINE by the cheapest path, the next folder's sent ahead),
 * sync_apply.c (the plan's renames and removals) and sync_fetch.c (the
 * download, made durable in batches). Not a public interface. */
#ifndef MAILKEEP_SYNC_FOLDER_H
#define MAILKEEP_SYNC_FOLDER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mailkeep/buf.h"
#include "mailkeep/imap.h"
#include "mailkeep/kwset.h"
#include "mailkeep/maildir.h"
#include "mailkeep/plan.h"
#include "mailkeep/state.h"

#include "sync_internal.h"

/* The server's view of a folder, built from FETCH (UID FLAGS). */
struct server_view {
	struct plan_server_msg *msgs;
	const char **keywords;  /* parallel to msgs; NULL entries mostly, else in kw */
	struct kwset kw;        /* the keyword sets of msgs, each once (bounded; freed by sync_sv_free) */
	int kw_from_capped;     /* some keywords of msgs are a capped state's (keywords_capped):
				 * messages may lack keywords the server gave them */
	uint8_t *present;       /* parallel: the message is on disk */
	int64_t *date;          /* parallel: its file's name date (state_msg.date) */
	int64_t *idate;         /* parallel, or NULL: the INTERNALDATE listed with the flags */
	size_t n, cap;
	/* the connection whose EXISTS bounds the view (NULL: unbounded); kept by sync_sv_free */
	const struct imap_client *imap;
};

/* A server's FETCH and SEARCH/VANISHED answers may repeat UIDs without end:
 * once this many entries are held beyond the mailbox's EXISTS, the list is
 * compacted (duplicates dropped), and what still exceeds EXISTS by as much
 * is a hostile server (the connection is dropped). Memory then follows the
 * mailbox, not the bytes the server sends. */
#define VIEW_SLACK ((size_t)1 << 18)

struct folder_run {
	struct account_run *a;
	const char *name;       /* decoded name, for messages */
	const char *rel;        /* escaped relative path */
	struct buf dir;         /* <account dir>/<rel> */
	uint32_t uidvalidity;
	struct server_view sv;
	const struct plan *plan;
	struct maildir_delivery dl;
	int dl_open;
	struct buf name_buf;
	struct buf rel_buf;
	uint64_t added, bytes;
	struct pending *pending;
	size_t n_pending, cap_pending;
	uint64_t pending_bytes;
	/* bodies whose literal is not their RFC822.SIZE long, held in tmp/ until
	 * the download ends (settle_odd) */
	struct pending *odd;
	size_t n_odd, cap_odd;
	size_t spec_unanswered; /* UIDs the download sent with EXAMINE asked for and got no
				 * answer of, asked again (settle_odd) */
	int odd_doubt;          /* a FETCH command answered whole left out a UID (settle_batch) */
	unsigned flushes;       /* batches made durable (each ends with fsync of cur/) */
	int touched_new;        /* a file left new/ */
	/* Gmail dedupe (docs/design.md, "Gmail"): one inode per X-GM-MSGID */
	int gmail;
	struct buf store;       /* <account dir>/.mailkeep/gmail */
	struct gm_pair *gm;     /* msgid of planned UIDs, sorted by uid */
	size_t n_gm, cap_gm;
	uint64_t linked;        /* new in this folder, linked from the store */
	int store_touched;
	unsigned spec_tag;      /* download of the new UIDs sent with EXAMINE, not read yet */
	struct buf spec_set;
	struct commit_msg *deferred; /* last batch: renamed into cur/ at the end of the run */
	size_t n_deferred;
	/* the directory scan, made while the server works on EXAMINE */
	struct maildir_view *view;
	const struct folder_state *st; /* with `trusted`: the view is built from it */
	int trusted;
	/* cur/ and new/ times as last seen (before the listing, or after our own
	 * last change): another value before our next change means someone else
	 * changed the folder during the run; its new state is then not trusted */
	int64_t seen_cur, seen_new;
	int disturbed;
	/* our own renames or removals in cur/ or new/ (one or a loop) and the
	 * reading of their times spanned more than one tick of the clock that
	 * stamps them (sync_change_tick): the directory is compared with the new
	 * state before it is trusted */
	int recheck;
	size_t done_renames, done_removes; /* performed by sync_apply_plan, every pass */
	int scanned, scan_rc;
	char scan_err[512];
	unsigned seq;           /* imap_select_seq() of our EXAMINE */
	int lookahead_ok;       /* may send it right behind our EXAMINE */
	uint32_t spec_lo, spec_hi; /* UIDs of the download sent with EXAMINE */
	/* wanted UIDs the server answered without the body asked for (BODY[HEADER],
	 * RFC822.TEXT...): not messages that vanished during the run. BODY[] NIL
	 * is how a message expunged by another session is answered (RFC 2180
	 * §4.1.3, Dovecot): excused when an expunge was seen */
	struct bodyless {
		uint32_t uid;
		/* last: a FETCH of other items only (FLAGS), maybe a flag change the
		 * server sent on its own before the body: not an answer to the
		 * download, but the message was there when no body follows */
		enum { BODY_MISSING, BODY_NIL, BODY_PARTIAL, BODY_ODD_SIZE, BODY_REFUSED, BODY_EMPTY, BODY_NO_DATE,
		       BODY_FLAGS_ONLY } why;
	} *bodyless;
	size_t n_bodyless, cap_bodyless;
	int bodyless_unsorted;  /* appended to since sorted by UID (is_bodyless) */
	int refused;            /* a download command was refused (NO): warned about once; the
				 * bodies held then are not kept (settle_odd) */
	size_t refused_in_a_row; /* download commands refused since the last answered OK */
	/* by view index: the INTERNALDATE and RFC822.SIZE of answers without the
	 * body (INT64_MIN, UINT64_MAX: none), as a server may split a message's
	 * items over several FETCH responses (RFC 3501 §7.4.2) */
	struct split_items { int64_t date; uint64_t size; } *split;
	struct pending *dateless; /* bodies come without their INTERNALDATE (or empty without */
	size_t n_dateless, cap_dateless; /* an RFC822.SIZE), held in tmp/ until their command ends */
	unsigned long expunges0; /* imap_expunges() when the folder began */
	int want_dates;         /* a full listing asks INTERNALDATE (no state to tell the files by) */
	int server_dates;       /* its INTERNALDATEs replace the state's dates (HIGHESTMODSEQ went back) */
};

#define DOWNLOAD_ITEMS "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])"

/* A folder is read from its state for at most this long (seconds) before its
 * directory is read again, whatever its times say: a change they could not
 * show (docs/design.md) is found within a day. */
#define LIST_EVERY (24 * 3600)

/* How a folder's flags were learnt; sync_flag_path_names[] says it in reports. */
enum flag_path { PATH_FULL, PATH_CONDSTORE, PATH_QRESYNC, PATH_SKIPPED };
extern const char *const sync_flag_path_names[];

/* sync_folder.c */
/* Keep cur/ and new/ times as now seen; compare them (f->disturbed is set when
 * someone else changed them since). */
void sync_folder_watch_set(struct folder_run *f);
void sync_folder_watch_check(struct folder_run *f);
/* Is our mailbox still the selected one? Once the next folder's EXAMINE is
 * sent, a command would reach that other mailbox: refused, never sent (err). */
int sync_folder_is_selected(const struct folder_run *f);
int sync_folder_still_selected(const struct folder_run *f, char *err, size_t errlen);
/* Read and drop the download sent with EXAMINE, when it will not be used. */
void sync_folder_spec_drop(struct folder_run *f);

/* sync_dir.c: the folder's directory */
/* Whether f's files may be taken from its state st instead of listing them. */
int sync_folder_trusted(const struct folder_run *f, const struct folder_state *st);
/* Read the folder's files into f->view (from the state when trusted), once. */
void sync_folder_scan_dir(void *ctx);
/* Without a state: the UIDVALIDITY v's files were named under (the server's if one is), or 0. */
uint32_t sync_uidvalidity_on_disk(const struct maildir_view *v, uint32_t server);
/* 1 when st is of another UIDVALIDITY than the files of v, which are all of uidvalidity. */
int sync_state_not_of_files(const struct maildir_view *v, const struct folder_state *st, uint32_t uidvalidity);
/* 1 when the folder directory dir holds no part of a Maildir, state or move mark yet. */
int sync_folder_is_new(const char *dir);
/* Move the folder's cur/new/tmp and state (of old_uv) to .mailkeep/uidvalidity-<old_uv>[.k]/. */
int sync_move_aside(struct folder_run *f, uint32_t old_uv, char *err, size_t errlen);
/* 1 when a killed run's move of the folder's old_uv copy is to be finished (its mark left, or the
 * state alone left in the folder), 0 when not, -1 with err. */
int sync_aside_pending(struct folder_run *f, uint32_t old_uv, char *err, size_t errlen);

/* sync_rekey.c: a folder whose UIDVALIDITY changed, its messages kept */
/* A killed re-key of f (its record, .mailkeep-rekey, left in the folder)
 * finished from the record and the state alone; a record that is malformed or
 * not of the state removed, warned (the folder is then moved aside). 0, or -1
 * with err. */
int sync_rekey_resume(struct folder_run *f, char *err, size_t errlen);
/* ST of another UIDVALIDITY than INFO's: when the server's messages are
 * provably ST's (UIDs, INTERNALDATE, RFC822.SIZE asked) and VIEW holds exactly
 * ST's files, those renamed to the new UIDVALIDITY and UIDs, the state
 * re-keyed and saved, *ST replaced by it, *DONE set. 0 (*DONE 0: move
 * aside), an IMAP_ERR_* code of the connection, or IMAP_ERR_LOCAL with err. */
int sync_rekey_try(struct folder_run *f, struct folder_state *st, const struct maildir_view *view,
		   const struct imap_select_info *info, int *done, char *err, size_t errlen);

/* sync_view.c: the server's view of the folder (f->sv) */
void sync_sv_free(struct server_view *sv);
ssize_t sync_sv_find(const struct server_view *sv, uint32_t uid);
/* Sorted by UID, duplicates dropped; present[] and date[] made. */
void sync_sv_normalise(struct server_view *sv);
/* EXAMINE the folder and learn f->sv by the cheapest path the server and the
 * state allow (*path says which). */
int sync_server_view(struct folder_run *f, const struct imap_mailbox *mb, const struct folder_state *st,
		     const struct imap_status_info *status, struct imap_select_info *info,
		     enum flag_path *path, char *err, size_t errlen);
/* All commands of folder f are sent: send the connection's next folder's EXAMINE now. */
void sync_prefetch_next(struct folder_run *f);

/* sync_apply.c: the plan applied */
/* The state's name date of each message of sv (STATE_NO_DATE: none); owned by the caller. */
int64_t *sync_state_dates(const struct server_view *sv, const struct folder_state *st);
/* Rename and remove as planned: 0; 1 when the folder must be read and planned again; -1. */
int sync_apply_plan(struct folder_run *f, const struct maildir_view *v, const struct plan *p,
		    char *err, size_t errlen);
/* After the plan: the name date of every message kept on disk into f->sv.date. */
void sync_note_dates(struct folder_run *f, const struct maildir_view *v, const struct plan *p,
		     const int64_t *name_dates);

/* sync_fetch.c: the download */
/* 1 when the plan fetches uid. */
int sync_fetch_wanted(const struct plan *p, uint32_t uid);
/* Download the plan's messages into tmp/, in pipelined batches made durable
 * together and renamed into cur/ (the last batch is left to the commit). */
int sync_fetch_download(struct folder_run *f, char *err, size_t errlen);
/* How many UIDs still on the server and not on disk were answered without the
 * body asked for (each once); *first is one of them. */
size_t sync_fetch_unmirrored(struct folder_run *f, const struct bodyless **first);
/* Abort the open delivery, remove what is not yet durable, free the lists. */
void sync_fetch_cleanup(struct folder_run *f);

#endif
