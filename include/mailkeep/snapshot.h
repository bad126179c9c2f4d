/* Git snapshots of an account's mirror (libgit2), at a cost proportional to
 * what changed: only folders whose cur/ or new/ directory changed since the last
 * snapshot are compared (by file name) with the previous commit's tree; renamed
 * files reuse their blob, only new files are hashed. See docs/snapshots.md. */
#ifndef MAILKEEP_SNAPSHOT_H
#define MAILKEEP_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mailkeep/config.h"

struct snapshot_result {
	int committed;       /* 1 when a commit was made */
	char commit[41];     /* hex id of the branch head after the call ("" if none) */
	size_t added, renamed, removed, folders_changed;
	double seconds;
};

/* Commit the mirror in account_dir into the account's snapshot repository
 * (created bare on first use). `full` ignores the recorded directory times and
 * compares every folder. folders_failed (of the sync just run): the commit says
 * it is partial. Returns 0 (committed or nothing to commit) or -1 with err set
 * (including libgit2's message). Never modifies the mirror. */
int snapshot_account(const struct account *acct, const char *account_dir, int full, size_t folders_failed,
		     struct snapshot_result *res, char *err, size_t errlen);

/* Whether a directory change time read at NOW (both in ns since the epoch) may
 * be followed by a change that gets the same time, so that recording it could
 * hide that change from the next snapshot (git's "racily clean"): kernels before
 * 6.13 stamp files from a clock that moves once a tick (4 ms on Debian), and some
 * file systems keep whole seconds (two on FAT). A time within RACY_WINDOW_NS of
 * now, or after it (another machine's clock), is recorded as 0, so the next run
 * reads that directory again. Pure. */
#define RACY_WINDOW_NS (2LL * 1000000000)
int snapshot_time_racy(int64_t ctime_ns, int64_t now_ns);

/* Print the snapshots of the account's branch, newest first: id, time, summary. */
int snapshot_log(const struct account *acct, FILE *out, size_t max, char *err, size_t errlen);

#endif
