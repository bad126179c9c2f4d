/* Internals shared by the sync runner's files (sync.c: accounts; sync_folder.c:
 * one folder). Not a public interface. */
#ifndef MAILKEEP_SYNC_INTERNAL_H
#define MAILKEEP_SYNC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/types.h>

#include "mailkeep/buf.h"
#include "mailkeep/imap.h"
#include "mailkeep/maildir.h"
#include "mailkeep/plan.h"
#include "mailkeep/state.h"
#include "mailkeep/sync.h"

#define FETCH_BATCH 500   /* UIDs per UID FETCH command */
#define FETCH_WINDOW 4    /* UID FETCH commands in flight */
#define PENDING_MAX 256   /* messages made durable together */
#define PENDING_BYTES ((uint64_t)64 << 20)
#define MAX_RECONNECTS 3
#define THROTTLE_RETRIES 4
#define THROTTLE_MAX_MS 60000u

/* States written as .tmp by the folders of a run, made durable and renamed
 * together at its end (docs/design.md, "Durability"). Shared by the workers. */
struct state_commits {
	pthread_mutex_t lock;
	char **dirs;
	size_t n, cap;
};

struct account_run {
	const struct account *acct;
	struct sync_options *opt;
	char *dir;              /* <root>/<name> */
	struct imap_client *imap;
	char *password;
	struct sync_counts *counts;
	unsigned reconnects;
	unsigned long round_trips;
	struct state_commits *commits; /* NULL: each folder saves its own state */
};

/* Report a change of the mirror to the caller's hook. */
void sync_change(struct account_run *a, enum sync_change kind, const char *old_rel, const char *new_rel);

/* Queue a folder whose new state waits in .mailkeep-state.tmp. */
void state_commit_later(struct state_commits *c, const char *dir);

/* Mirror one folder (see docs/design.md, "Sync of a folder"). */
int sync_folder(struct account_run *a, const struct imap_mailbox *mb, const char *rel,
		const struct imap_status_info *status, struct sync_folder_report *rep,
		char *err, size_t errlen);

/* 1 when the folder is provably unchanged on both sides (STATUS equals its
 * state, its directories untouched): it needs no EXAMINE. */
int sync_folder_unchanged(const struct account_run *a, const char *rel, const struct imap_status_info *status);

#endif
