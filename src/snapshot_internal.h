/* Shared between snapshot.c (state, walk, commit), snapshot_repo.c (opening
 * or making the repository) and snapshot_tree.c (comparing a directory with
 * the tree). Not an interface. */
#ifndef MAILKEEP_SNAPSHOT_INTERNAL_H
#define MAILKEEP_SNAPSHOT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <git2.h>

#include "mailkeep/buf.h"
#include "mailkeep/config.h"

#define KEEP_FILE ".mailkeep-keep"
/* readings of a changed directory before its snapshot goes on with the last */
#define LIST_ATTEMPTS 10

/* A folder as recorded at the last snapshot or found on disk now. */
struct snap_folder {
	char *rel;
	int64_t cur_ns, new_ns;
	int racy;               /* RACY_CUR, RACY_NEW: recorded as 0 (snapshot_time_racy) */
	int seen;               /* found on disk this time */
	size_t added, renamed, removed;
};

struct snap_folders {
	struct snap_folder *items;
	size_t n, cap;
};

struct snap_run {
	git_repository *repo;
	const char *dir;        /* account dir */
	git_tree *base;         /* parent commit's tree (or empty tree) */
	git_oid empty_blob;
	git_tree_update *updates;
	size_t n_updates, cap_updates;
	struct buf paths;       /* update paths, NUL-separated; offsets fixed up at the end */
	size_t *path_offs;
	struct snap_folders recorded, now;
	char err[512];
};

/* err = WHAT and libgit2's last message; returns -1. */
int snapshot_git_fail(char *err, size_t errlen, const char *what);

/* A directory's change time in ns; 0 if it cannot be read. */
int64_t snapshot_ctime_ns(const char *path);

/* Compare F's SUB ("cur" or "new") on disk with its tree in r->base, adding
 * the tree updates and F's counts; an unsettled directory gets time 0. 0, or
 * -1 with err set. */
int snapshot_diff_dir(struct snap_run *r, struct snap_folder *f, const char *sub, char *err, size_t errlen);

/* Files of r->base in the way of r's updates (above where one goes) removed
 * from it. 0, or -1 with err set. */
int snapshot_clear_way(struct snap_run *r, char *err, size_t errlen);

/* A folder gone from disk: its directories removed from the tree. The number
 * of its messages there. */
size_t snapshot_drop_folder(struct snap_run *r, const char *rel);

/* The account's snapshot repository, opened, or made when nothing or an empty
 * directory of the user's is at snapshot_repo (the caller's to free). 0, or -1
 * with err set. */
int snapshot_open_repo(const struct account *acct, git_repository **repo, char *err, size_t errlen);

#endif
