/* Sync planner: a pure function from (what is on disk, what the server has) to
 * the actions that make the disk an exact mirror. No I/O. */
#ifndef MAILKEEP_PLAN_H
#define MAILKEEP_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "mailkeep/config.h"
#include "mailkeep/maildir.h"
#include "mailkeep/state.h"

/* One message as the server has it now (sorted by uid, unique). */
struct plan_server_msg {
	uint32_t uid;
	uint8_t flags; /* MFLAG_* */
};

enum plan_op {
	PLAN_RENAME, /* move file to cur/ with `flags` in its name */
	PLAN_REMOVE, /* unlink the file */
};

struct plan_action {
	enum plan_op op;
	size_t file;   /* index into the maildir_view */
	uint8_t flags; /* PLAN_RENAME: the server's flags */
};

struct plan {
	struct plan_action *actions; /* owned */
	size_t n_actions;
	uint32_t *fetch;             /* uids to download, ascending; owned */
	size_t n_fetch;
	size_t n_renames, n_removes, n_duplicates;
	size_t n_kept;               /* files of expunged uids kept (deletions: keep) */
	size_t n_stale;              /* files from another UIDVALIDITY, or of another message (dates) */
};

/* Plan one folder. A local file belongs to the mirror when its name has a U= tag
 * and its uidvalidity is `uidvalidity` or absent (0). For each server message:
 * no local file -> fetch; one or more -> keep one (in cur/, with mailkeep's name,
 * with the server's flags, in that order of preference; else the first), rename
 * it when it is in new/, its flags differ or its info is not exactly ":2,<flags>"
 * (unknown letters, another info version), remove the other copies. Local files
 * of uids the server no longer has, and files of another UIDVALIDITY, are removed
 * with deletions: mirror and left alone with keep. `dates` (NULL: none known),
 * parallel to `server`: the date the message's file name starts with, as the
 * state recorded it, or STATE_NO_DATE; a file with mailkeep's name and another
 * date is another message's file under that UID (moved by hand from a folder
 * with the same UIDVALIDITY): counted stale, removed or left alone as above, and
 * the message fetched when no other file stands for it. Returns 0 (cannot fail
 * except on out-of-memory, which aborts). */
int plan_folder(const struct maildir_view *local, uint32_t uidvalidity,
		const struct plan_server_msg *server, const int64_t *dates, size_t n_server,
		enum deletions_mode deletions, struct plan *out);
void plan_free(struct plan *p);
/* Whether local file K may stand for its UID's message: its uidvalidity is
 * `uidvalidity` or absent, and its mailkeep name does not start with another
 * date than WANT_DATE (STATE_NO_DATE: not known). plan_folder's rule for one
 * file, for those that read names outside the plan (the dates of the new
 * state, verify, push). */
int plan_file_stands(const struct maildir_view *local, size_t k, uint32_t uidvalidity, int64_t want_date);

/* ---- incremental server view (CONDSTORE / QRESYNC, RFC 7162) ---- */

struct plan_range {
	uint32_t lo, hi;
};

enum plan_ranges_kind {
	PLAN_RANGES_VANISHED, /* QRESYNC: the UIDs expunged since the state */
	PLAN_RANGES_PRESENT,  /* CONDSTORE + UID SEARCH ALL: every UID the server has */
};

/* One message of the merged view; `changed` >= 0 is the index in `changed` the
 * flags came from, -1 means they came from the state (index `known`). */
struct plan_merged {
	uint32_t uid;
	uint8_t flags;
	long changed;
	size_t known;
};

/* Sort ranges[0..n) and merge the overlapping and adjacent-by-overlap ones
 * into a disjoint ascending list, in place; returns its length. Pure. */
size_t plan_ranges_merge(struct plan_range *ranges, size_t n);
/* Of the sorted disjoint ranges[0..n), keep (in place) only those holding a
 * UID of known (sorted by uid); returns how many. Pure. A VANISHED range
 * without a known UID changes no merged view, so a server cannot make the
 * list grow beyond the state's size. */
size_t plan_ranges_keep_known(struct plan_range *ranges, size_t n, const struct state_msg *known,
			      size_t n_known);

/* The server's current view from the last state (known, sorted by uid), the
 * messages whose flags changed since (changed, sorted, unique; new messages are
 * among them) and the UID ranges (sorted in place). Returns the count and the
 * array in *out (caller frees). Pure. */
size_t plan_merge_changes(const struct state_msg *known, size_t n_known,
			  const struct plan_server_msg *changed, size_t n_changed,
			  struct plan_range *ranges, size_t n_ranges, enum plan_ranges_kind kind,
			  struct plan_merged **out);

/* For each of n folders, the one that owns its directory rels[i] (SIZE_MAX
 * when none): among those with the same directory and selectable[i] != 0, the
 * first (lowest index) with selectable[i] == 2 (the directory on disk has its
 * name exactly: it is the one mirrored there so far), else the first; the
 * others are skipped. fold: the file system ignores case (ASCII), so "Work"
 * and "work" are one directory. Sorting makes this
 * O(n log n); a pairwise check took minutes for a LIST of 100000 names.
 * Returns an array of n (caller frees). Pure. */
size_t *plan_first_of_dirs(const char *const *rels, const unsigned char *selectable, size_t n, int fold);

#endif
