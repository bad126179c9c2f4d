/* An account's lock (docs/scheduling.md, "Locks"): flock(2) on
 * <account>/.mailkeep/lock, what other tools and flock(1) see and what works
 * on NFS, and on the account directory itself, which a lock file removed
 * during a run (rm -r .mailkeep) cannot take away. Where a directory cannot
 * be flock'ed (NFS emulates flock with POSIX locks, which need a file open
 * for writing) the file's lock stands alone. */
#ifndef MAILKEEP_LOCK_H
#define MAILKEEP_LOCK_H

#include <stddef.h>

struct account_lock {
	int file, dir;
};
#define ACCOUNT_LOCK_INIT { -1, -1 }

/* Lock the account whose mirror is `dir` (which must exist; .mailkeep is made
 * in it). With wait, a lock held by another run is retried for up to a second:
 * a run killed a moment ago may still be letting go. 0: locked; 1: another
 * run holds it; -1: error. err says which, a held lock as "WHO: another
 * mailkeep run holds PATH". */
int lock_account(const char *dir, const char *who, int wait, struct account_lock *l, char *err,
		 size_t errlen);

/* One lock file, <dir>/.mailkeep/<name> (dir must exist), as
 * lock_account's file half: push's lock on its target. A dir of another user
 * is refused first, as lock_account refuses it (-1, err names the owner). */
int lock_file(const char *dir, const char *name, const char *who, int wait, int *fd, char *err,
	      size_t errlen);

/* The lock of every push into the IMAP user USER (push.md, "Locks"), from any
 * configuration, account name or root: $HOME/.local/state/mailkeep/push-<hex
 * SHA-256 of USER, ASCII lowercased>.lock, the directories made 0700 and
 * refused when another user's (as lock_file refuses an account directory),
 * and root refused where it would make it in another user's home.
 * Not waited for. 0: locked, *fd the caller's to close; 1: another run holds
 * it ("WHO: another mailkeep run holds PATH"); -1: error; 2: not taken, the
 * directory cannot be made or written (a read-only home: err says why). */
int lock_push_user(const char *user, const char *who, int *fd, char *err, size_t errlen);

/* Whether another run holds the account's lock (waiting as lock_account does
 * with wait), creating nothing: 0 no, 1 its lock file, 2 the account directory
 * alone (the lock file was removed under a run). */
int lock_account_held(const char *dir);

void lock_release(struct account_lock *l);

#endif
