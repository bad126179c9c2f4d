/* Per-folder sync state, stored as <folder dir>/.mailkeep-state.
 *
 * Text format (one record per line, LF-terminated; see docs/design.md):
 *   mailkeep-state 2                (version 1 files, without the date field, are read too)
 *   uidvalidity <u32>
 *   uidnext <u32>
 *   highestmodseq <u64>
 *   dirmtime <cur ns> <new ns>
 *   listed <unix time>              when cur/ and new/ were last read (not taken from the state)
 *   orphaned <0|1>
 *   kept <0|1>                      written with deletions: keep (cur/ may hold expunged messages)
 *   special <IMAP_SPECIAL_* bits>   the server's SPECIAL-USE attributes (RFC 6154)
 *   folder <16 hex digits>          state_folder_id() of the folder it was written for
 *   messages <count of m lines>     lets a no-change check read the header only
 *   keywords-capped 1               only when some message is recorded without keywords
 *                                   the server gave it (KWSET_CAP): push then only adds keywords
 *   m <uid> <flag letters or '-'> <date or '-'> [keyword ...]
 * The header lines come first (a known one after a message line makes the file
 * malformed: state_load_header() does not read that far); unknown lines are
 * ignored. The message lines are sorted by uid and hold the server flags as of
 * the last completed sync. <date> is the time the message's file name starts with when
 * that file is known to sit in cur/ under exactly the name mailkeep gives it
 * (maildir_canonical_name()); '-' when not. When every message has one and the
 * directory times still match `dirmtime`, the folder's files are known without
 * reading the directory (docs/design.md, "Reading a folder without listing it").
 * Written atomically: temp file, fsync, rename, fsync dir. */
#ifndef MAILKEEP_STATE_H
#define MAILKEEP_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "mailkeep/kwset.h"

#define STATE_FILE ".mailkeep-state"

#define STATE_NO_DATE INT64_MIN

struct state_msg {
	uint32_t uid;
	uint8_t flags;    /* MFLAG_* */
	int64_t date;     /* the file name's date, or STATE_NO_DATE */
	const char *keywords; /* NULL, or space-separated in the state's kw table */
};

struct folder_state {
	uint32_t uidvalidity; /* 0 = no state yet */
	uint32_t uidnext;
	uint64_t highestmodseq;
	int64_t cur_mtime_ns, new_mtime_ns;
	int64_t listed;       /* unix time cur/ and new/ were last read; 0: unknown */
	int orphaned;
	int kept;             /* written with deletions: keep: cur/ may hold files of messages
				 * the server expunged, which the message lines do not list;
				 * -1: not recorded (a file of an older version), as for 1 */
	unsigned special;     /* IMAP_SPECIAL_* of the folder on its server, for push */
	uint64_t folder_id;   /* state_folder_id() of its folder; 0: not recorded (an older file) */
	int64_t declared;     /* message count the file's header gave; -1: none (older file) */
	int keywords_capped;  /* some message lacks keywords its server gave it (past KWSET_CAP,
			       * now or in a state this one was merged from): the message lines
			       * do not say which keywords are gone, so push never removes one */
	struct state_msg *msgs; /* sorted by uid; owned */
	size_t n, cap;
	struct kwset kw;      /* the messages' keyword sets, each once (bounded: a set
				 * past its cap is not kept, kw.refused counts them) */
};

/* Load <dir>/.mailkeep-state. A missing file gives an empty state and returns 1;
 * 0 when loaded; -1 on a malformed or unreadable file with err set, and on one
 * that is not a regular file (a FIFO; a symbolic link is not followed). */
int state_load(const char *dir, struct folder_state *st, char *err, size_t errlen);

/* Load only the header lines (the first few hundred bytes): msgs stays empty,
 * declared holds the message count. 0 when loaded; 1 when there is no state;
 * -1 when the header alone cannot tell (damaged, or written before the count
 * line existed; err may stay empty): the caller then uses state_load(). */
int state_load_header(const char *dir, struct folder_state *st, char *err, size_t errlen);

/* Write atomically into <dir>/.mailkeep-state (0600). */
int state_save(const char *dir, const struct folder_state *st, char *err, size_t errlen);

/* The same in two steps, for many folders made durable together: write
 * <dir>/.mailkeep-state.tmp (not synced), later rename it over the state. The
 * caller syncs the file system between the two (and after). */
int state_write_temp(const char *dir, const struct folder_state *st, char *err, size_t errlen);
int state_commit_temp(const char *dir, char *err, size_t errlen);

/* Remove a temporary state file left by a run killed while saving. */
void state_discard_temp(const char *dir);

/* The source server's personal namespace prefix as a mirror path ("INBOX" for
 * Courier's "INBOX.", "" when it has none), kept in <account dir>/.mailkeep/
 * namespace (written atomically): push takes it off the folder names. load:
 * 0 and *rel (malloc'd), or 1 when nothing usable is recorded. */
int state_namespace_save(const char *acct_dir, const char *rel, char *err, size_t errlen);
int state_namespace_load(const char *acct_dir, char **rel);

/* The mailbox a mirror was made from (<account dir>/.mailkeep/server), or a
 * push went to (<account dir>/.mailkeep/push/TARGET/.server), in the file at
 * path (written atomically): a configuration that names another user must not
 * have one mailbox's messages taken for the other's, whose UIDVALIDITY and
 * UIDs can be the same (docs/design.md, "Configuration changes"). check: 0
 * when the file records this user and host, 1 when it records nothing usable,
 * 2 when this user on another host name (err: that host; the same mailbox
 * under a new name, to be recorded again), -1 when another user (err says
 * which). */
int state_server_save(const char *path, const char *user, const char *host, char *err, size_t errlen);
int state_server_check(const char *path, const char *user, const char *host, char *err, size_t errlen);

/* 1 when both states would be written identically. */
int state_equal(const struct folder_state *a, const struct folder_state *b);

/* A folder's identity in its state: a hash (64-bit FNV-1a, never 0) of its
 * path in the mirror, ASCII case ignored (on a file system that folds case a
 * folder renamed in case only on the server is read through the old name's
 * directory, by verify and push too). A folder directory moved or copied by hand under
 * another folder's name brings its state along; the identity tells it is
 * not that folder's (docs/design.md, "Message files"). */
uint64_t state_folder_id(const char *rel);

/* 1 when st may be the state of the folder at rel: written for it, or by a
 * version that did not record the folder. */
int state_is_of(const struct folder_state *st, const char *rel);

/* Append a message (uids must be appended in increasing order). keywords
 * interned in st->kw (none kept when past its cap: keywords_capped set);
 * date: the file name's date, or STATE_NO_DATE. */
void state_add(struct folder_state *st, uint32_t uid, unsigned flags, int64_t date, const char *keywords);
/* 1 when every message has its file name's date. */
int state_names_known(const struct folder_state *st);
/* Binary search; NULL if absent. */
const struct state_msg *state_find(const struct folder_state *st, uint32_t uid);
/* Drop all messages and their keyword sets (keywords_capped too); keep the
 * other header fields. */
void state_clear_msgs(struct folder_state *st);
void state_free(struct folder_state *st);

#endif
