/* Internals shared by the sync runner's files (sync.c, sync_list.c,
 * sync_conn.c and sync_commit.c: accounts, see sync_account.h; sync_folder.c,
 * sync_dir.c, sync_view.c, sync_apply.c and sync_fetch.c: one folder, see
 * sync_folder.h). Not a public interface. */
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

/* What the folders of a run leave to its end (docs/design.md, "State"): each
 * changed folder's new state, and the messages of its last download batch,
 * still in tmp/. sync_commit_run() makes them durable and visible together, in three
 * syncs per file system for the whole run. Shared by the workers. */
struct commit_msg {
	char *tmp_path;
	char *cur_path;
};

struct commit_entry {
	char *dir;
	struct folder_state st;   /* owned; its dirmtime is taken after the renames */
	struct commit_msg *msgs;  /* owned */
	size_t n_msgs;
	int recheck;              /* folder_run's: compare the directory with st */
};

struct state_commits {
	pthread_mutex_t lock;
	struct commit_entry *e;
	size_t n, cap;
};

/* The next folder of a connection, taken from the queue while the current one
 * is still being read, its EXAMINE already sent (docs/design.md, "Pipelining"). */
struct prefetch {
	int has_next;                     /* k was taken from the queue */
	size_t k;
	const struct imap_mailbox *mb;
	int sent;                         /* its EXAMINE is on the wire, answers unread */
	unsigned seq;                     /* imap_select_seq() after sending it */
	struct imap_examine_sent tags;
	int path;                         /* the request it was sent with */
	int dates;                        /* its full listing asked INTERNALDATE */
	uint32_t qresync_uidvalidity;
	uint64_t qresync_modseq, changedsince;
	char spec_set[48];
	/* takes the next folder from the queue: 0, or -1 when there is none;
	 * *skip: the folder is known unchanged (no EXAMINE) */
	int (*dequeue)(void *ctx, size_t *k, const struct imap_mailbox **mb, const char **rel,
		       const struct imap_status_info **status, int *skip);
	void *ctx;
};

struct account_run {
	const struct account *acct;
	struct sync_options *opt;
	char *dir;              /* <root>/<name> */
	struct imap_client *imap;
	char *password;
	struct sync_counts *counts;
	unsigned reconnects;
	unsigned throttle_waited_ms; /* this connection's waits for a throttling server, this run */
	int throttle_last;      /* a folder's last try for a throttling server (retry_throttled) */
	int throttled_download; /* a download of the folder was answered with a throttling code */
	unsigned long round_trips;
	struct state_commits *commits; /* NULL: each folder saves its own state */
	struct prefetch *pre;   /* NULL: no look-ahead (one folder at a time) */
	int no_lookahead;       /* this attempt of the folder sends nothing ahead */
	int folder_done;        /* the folder's new state was saved or handed to the
				 * commit: its error (if any) is not to be retried */
	unsigned tmp_counter;   /* tmp/ names: never the same twice in this connection's run */
	/* renames and removals a SYNC_ERR_RESELECT attempt of the folder already
	 * made on disk: counted by the next attempt */
	size_t carry_renames, carry_removes;
};

/* sync_folder: the folder needs a command after the next folder's EXAMINE was
 * sent ahead (a full fetch, a message missing on disk): nothing was lost, the
 * folder is synced again without look-ahead. */
#define SYNC_ERR_RESELECT (-99)

/* sync_folder: the folder is listed, yet its EXAMINE is refused as
 * nonexistent (err says how): gone, like a folder no longer listed. */
#define SYNC_ERR_GONE (-98)

/* Read and drop the answers of a prefetched EXAMINE that will not be used. */
void sync_prefetch_drain(struct account_run *a);

/* Report a change of the mirror to the caller's hook. */
void sync_change(struct account_run *a, enum sync_change kind, const char *old_rel, const char *new_rel);

/* Hand a folder's new state (moved from *st, which is left empty) and its
 * pending messages (moved) to the end of the run (sync_commit.c). */
void sync_commit_later(struct state_commits *c, const char *dir, struct folder_state *st, int recheck,
		       struct commit_msg *msgs, size_t n_msgs);

/* Mirror one folder (see docs/design.md, "Sync of a folder"). */
int sync_folder(struct account_run *a, const struct imap_mailbox *mb, const char *rel,
		const struct imap_status_info *status, struct sync_folder_report *rep,
		char *err, size_t errlen);

/* 1 when a folder is provably unchanged on both sides: STATUS equals its state
 * (a header-only load will do) and its directory times (cur_ns, new_ns) are the
 * state's, and a state written with deletions: keep is read with keep again. It
 * needs no EXAMINE. Needs HIGHESTMODSEQ to know flags did not change. */
int sync_state_unchanged(const struct folder_state *st, const struct imap_status_info *status,
			 int64_t cur_ns, int64_t new_ns, enum deletions_mode deletions);

/* The coarse clock the kernel stamps a directory's change time with. Our own
 * changes to cur/ or new/ (a loop of them, or a single one: a rename that
 * stalls, a preempted run) and the reading of their times after them spanning
 * more than one of its ticks may hide a change by someone else made among
 * them: the times read take it for ours (two changes in one tick leave the
 * same time; in different ticks, the later one's time is what is read). Such
 * a folder's directory is compared with its new state before the state is
 * trusted (sync_dir_matches_state). */
int64_t sync_change_tick(void);

/* Whether cur/ and new/ of DIR hold exactly the files a trusted read of ST
 * would take (each message in cur/ under its canonical name; with deletions
 * keep, also files of UIDs the state does not hold), their times still
 * CUR_NS and NEW_NS once read. Files without a U= tag are not looked at. */
int sync_dir_matches_state(const char *dir, const struct folder_state *st, enum deletions_mode deletions,
			   int64_t cur_ns, int64_t new_ns);

#endif
