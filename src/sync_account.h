/* Internals of the sync runner's account part, shared by its files: sync.c
 * (the account: lock, LIST, snapshot, the run's record), sync_list.c (the
 * folder list: directories, selection, STATUS, order, the mirror read during
 * LIST, which folders need no EXAMINE, orphans), sync_conn.c (the connections
 * and the folder queue they share) and sync_commit.c (the end-of-run commit).
 * What the one-folder part shares with them is in sync_internal.h. Not a
 * public interface. */
#ifndef MAILKEEP_SYNC_ACCOUNT_H
#define MAILKEEP_SYNC_ACCOUNT_H

#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#include "mailkeep/config.h"
#include "mailkeep/imap.h"
#include "mailkeep/state.h"
#include "mailkeep/sync.h"

#include "sync_internal.h"

/* What the mirror holds, read while the server answers LIST (the round trip
 * costs the same with it): every folder directory with its state's header and
 * its directory times. A no-change run needs nothing else from the disk. */
struct local_folder {
	char *rel;
	char *dir;
	int rc;                   /* state_load_header(): 0, 1 (no state), -1 (a full load decides) */
	struct folder_state hdr;  /* rc == 0 */
	int64_t cur_ns, new_ns;
	int has_tmp;              /* maildir_has_tmp() */
};

struct local_view {
	struct local_folder *f;   /* sorted by rel after sync_local_read() */
	size_t n, cap;
};

struct local_read_ctx {
	const char *dir;
	struct local_view *v;
};

/* The selected folders, handed out one at a time to the connections. */
struct folder_queue {
	pthread_mutex_t lock;
	const struct imap_mailbox_list *list;
	const struct strlist *rels;
	const size_t *sel;
	size_t n_sel, next;
	const struct imap_status_info *status;
	uint8_t *skip;              /* per queue index: provably unchanged, no EXAMINE */
	struct sync_options *opt;   /* the caller's; its hooks are called under lock */
	int first_alone;            /* sync sel[0] before the other connections start */
	uint64_t folders, failed;
};

/* ---- sync_conn.c ---- */

/* Close the account's connection (a->imap), counting its round trips. */
void sync_drop_connection(struct account_run *a);
/* Connect and log in as a->imap (with `enable`, also COMPRESS and QRESYNC);
 * 0, or negative with err set. */
int sync_connect_login(struct account_run *a, int enable, char *err, size_t errlen);
/* Sync the queued folders over one or more connections; adds to res->counts. */
void sync_run_folders(struct account_run *a, struct folder_queue *q, const struct local_view *local,
		      struct sync_result *res);

/* ---- sync_list.c ---- */

/* imap_list()'s callback: read the mirror (struct local_read_ctx) into its view. */
void sync_local_read(void *ctx);
void sync_local_free(struct local_view *v);
/* Warn once about a mirrored folder the server no longer lists. */
void sync_check_orphan(struct account_run *a, const struct strlist *server_rels, const struct local_folder *lf);
void sync_strlist_clear(struct strlist *l);
/* Every listed folder's directory ("" for none) appended to rels (owned). */
void sync_folder_paths(const struct imap_mailbox_list *list, struct strlist *rels);
/* The listed folders to mirror, as indexes into sel[]; returns how many. */
size_t sync_select_folders(struct account_run *a, const struct imap_mailbox_list *list,
			   const struct strlist *rels, size_t *sel, struct sync_result *res);
/* The selected folders' STATUS (owned by the caller), or NULL for none. */
struct imap_status_info *sync_folder_statuses(struct account_run *a, const struct imap_mailbox_list *list,
					      const struct strlist *rels, const size_t *sel, size_t n_sel);
/* Put sel[] (and status[]) in sync order; 1 when sel[0] goes alone first. */
int sync_order_folders(const struct imap_mailbox_list *list, size_t *sel, struct imap_status_info *status,
		       size_t n_sel, int gmail);
/* Mark in q->skip the folders that need no EXAMINE; returns how many others. */
size_t sync_folders_to_examine(struct folder_queue *q, const struct local_view *local,
			       enum deletions_mode deletions, int *writes);

/* ---- sync_commit.c ---- */

/* Make the run's handed states and last batches durable; returns how many
 * folders could not be committed (err: a file system's sync failure). */
size_t sync_commit_run(struct account_run *a, struct state_commits *c, char *err, size_t errlen);
/* Free the entries (removing their messages still in tmp/). */
void sync_commits_free(struct state_commits *c);

#endif
