/* Sync runner: mirrors one account (all selected folders) from the server into
 * the Maildir tree, executing the planner's decisions. */
#ifndef MAILKEEP_SYNC_H
#define MAILKEEP_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "mailkeep/config.h"

enum sync_status {
	SYNC_OK = 0,
	SYNC_PARTIAL = 1, /* some folders failed, the others are exact */
	SYNC_FAILED = 2,  /* nothing synced: connection, TLS, login, local setup */
	SYNC_LOCKED = 3,  /* another run holds the account lock */
};

enum sync_change {
	SYNC_CHANGE_ADD,    /* new_rel delivered */
	SYNC_CHANGE_RENAME, /* old_rel -> new_rel (same content) */
	SYNC_CHANGE_REMOVE, /* old_rel removed */
};

struct sync_counts {
	uint64_t folders, folders_failed, folders_skipped, folders_unchanged;
	uint64_t added, renamed, removed, kept, bytes;
};

/* What happened to one folder, for progress and --json. */
struct sync_folder_report {
	const char *name;       /* decoded server name */
	const char *path;       /* relative directory */
	const char *how;        /* "full", "CONDSTORE", "QRESYNC", "unchanged" */
	const char *error;      /* NULL when the folder synced */
	uint64_t added, renamed, removed, kept, bytes;
	double seconds;
};

struct sync_options {
	/* Called after every folder (synced or failed); may be NULL. */
	void (*on_folder)(void *ctx, const struct sync_folder_report *r);
	/* Called after on_folder reported the folder at path (relative directory)
	 * synced, when its changes could not be made durable at the end of the
	 * run (the next run redoes them); may be NULL. Same ctx. */
	void (*on_folder_uncommitted)(void *ctx, const char *path, const char *error);
	void *folder_ctx;
	/* Called while a folder downloads: messages and bytes done of `total`
	 * messages; may be NULL. The callee rate-limits its output. */
	void (*on_progress)(void *ctx, const char *folder, uint64_t done, uint64_t total, uint64_t bytes);
	void *progress_ctx;
	/* Called for every change made to the mirror, paths relative to the account
	 * directory (e.g. "INBOX/cur/<name>"); may be NULL. */
	void (*on_change)(void *ctx, enum sync_change kind, const char *old_rel, const char *new_rel);
	void *change_ctx;
	/* Commit a git snapshot after the sync (status OK or PARTIAL). */
	int snapshot;
	/* out: set when the snapshot failed (the error was logged). */
	int snapshot_failed;
	/* out: set when the snapshot was committed (or had nothing to commit). */
	int snapshot_done;
};

struct sync_result {
	enum sync_status status;
	struct sync_counts counts;
	unsigned long round_trips;
	double seconds;
	char error[1024];       /* why the account failed (SYNC_FAILED / SYNC_LOCKED) */
};

/* "ok", "partial", "failed", "locked". */
const char *sync_status_name(enum sync_status s);
/* What became of the run's snapshot: "off", "ok", "failed", or "skipped" (on,
 * but not attempted: the account failed or was locked). */
const char *sync_snapshot_word(const struct sync_options *opt);

/* The account directory: <root>/<name>. Caller frees. */
char *sync_account_dir(const struct account *acct);

/* Sync one account. Errors are logged (naming account and folder) as they
 * happen; the result says how it went. */
void sync_account(const struct account *acct, struct sync_options *opt,
		  struct sync_result *res);

/* Take the account lock and commit a snapshot of the mirror as it is (no
 * network). Returns 0, SYNC_LOCKED, or -1 with err set. */
int sync_snapshot_only(const struct account *acct, char *err, size_t errlen);

#endif
