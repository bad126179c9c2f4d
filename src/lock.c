/* Account locks: flock(2) on a lock file and on the account directory. */
#include "mailkeep/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mailkeep/buf.h"
#include "mailkeep/config.h"
#include "mailkeep/log.h"
#include "mailkeep/maildir.h"

#define LOCK_WAIT_MS 1000
#define NOBODY_UID 65534 /* what an NFS server's root_squash makes root's files */
#define MIRROR_HARM "change the mirror under it; use a root of your own, or have the directory given to you"
#define USER_LOCK_HARM "hold or replace the push locks in it; set HOME to a directory of your own"

/* flock(fd, op | LOCK_NB), with wait retried for up to LOCK_WAIT_MS while
 * another run holds the lock. errno is flock's. */
static int flock_wait(int fd, int op, int wait)
{
	int rc;
	for (int waited = 0; (rc = flock(fd, op | LOCK_NB)) < 0 && errno == EWOULDBLOCK && wait &&
			     waited < LOCK_WAIT_MS;
	     waited += 20) {
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	return rc;
}

/* An account directory (a push lock's directory) of another user is refused
 * before anything is made: root's files there (0600) would be unreadable to
 * the owner's own runs, and a directory another user controls (made first in
 * a shared sticky root, say) could be changed under us: HARM says what they
 * could do, and the way out. "nobody" is what NFS root_squash or all_squash
 * makes of one's own files: accepted. -1 with the reason. */
static int owner_check(const char *dir, const char *harm, char *err, size_t errlen)
{
	struct stat st;
	uid_t me = geteuid();
	if (stat(dir, &st) < 0 || st.st_uid == me || st.st_uid == NOBODY_UID)
		return 0;
	struct passwd *pw = getpwuid(st.st_uid);
	const char *name = pw ? pw->pw_name : "", *sp = pw ? " " : "";
	if (me == 0)
		snprintf(err, errlen,
			 "%s belongs to %s%s(uid %u), not root: root's files there would be unreadable to "
			 "its owner's runs; run mailkeep as that user, or chown the directory to root",
			 dir, name, sp, (unsigned)st.st_uid);
	else
		snprintf(err, errlen, "%s belongs to %s%s(uid %u), not to this run's uid %u: another user could %s",
			 dir, name, sp, (unsigned)st.st_uid, (unsigned)me, harm);
	return -1;
}

/* The lock file PATH opened (0600, never through a symbolic link) and
 * flock'ed into *fd. 0, 1 when another run holds it ("WHO: another mailkeep
 * run holds PATH"), -1 on an error (errno open's when it failed); *fd is -1
 * unless 0. */
static int lock_open(const char *path, const char *who, int wait, int *fd, char *err, size_t errlen)
{
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (*fd < 0) {
		int e = errno; /* open's, for the caller */
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		errno = e;
		return -1;
	}
	struct stat st; /* made before with the umask (flock(1), touch): private again */
	if (fstat(*fd, &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 07777) != 0600 && fchmod(*fd, 0600) < 0)
		log_debug("%s: cannot make it private (0600): %s", path, strerror(errno));
	if (flock_wait(*fd, LOCK_EX, wait) == 0)
		return 0;
	int held = errno == EWOULDBLOCK;
	if (held)
		snprintf(err, errlen, "%s: another mailkeep run holds %s", who, path);
	else
		snprintf(err, errlen, "%s: flock: %s", path, strerror(errno));
	close(*fd);
	*fd = -1;
	return held ? 1 : -1;
}

int lock_file(const char *dir, const char *name, const char *who, int wait, int *fd, char *err,
	      size_t errlen)
{
	struct buf p = BUF_INIT;
	int rc = -1;
	*fd = -1;
	if (owner_check(dir, MIRROR_HARM, err, errlen) < 0)
		return -1;
	buf_addf(&p, "%s/.mailkeep", dir);
	/* .mailkeep must be a directory, not a symbolic link to elsewhere: lock,
	 * last-run, the moved-aside folders and the Gmail store live in it */
	if (maildir_mkdirs(dir, ".mailkeep", err, errlen) < 0)
		goto out;
	/* made beforehand with the user's umask (mkdir -p, a restored archive):
	 * private as the folders are, else others could list the folder names */
	maildir_make_private(dir);
	maildir_make_private(p.data);
	/* and what is directly in it (lock, server, namespace, last-run, the
	 * snapshot's files; push/, gmail/, uidvalidity-N/), most written once and
	 * never replaced: cheap, one directory read. Below those directories only
	 * push and the move of an old copy make things private (docs/design.md) */
	maildir_entries_private(p.data);
	buf_addf(&p, "/%s", name);
	rc = lock_open(p.data, who, wait, fd, err, errlen);
out:
	buf_free(&p);
	return rc;
}

/* Where the push targets' user locks are: $HOME/.local/state/mailkeep, into
 * out. Not XDG_STATE_HOME nor XDG_RUNTIME_DIR: cron sets neither and a login
 * session does, so two runs would lock different files; cron sets HOME. HOME
 * unset, empty or relative: the passwd entry's home. -1 with err when there
 * is no home directory (a home is never made). */
static int user_lock_dir(struct buf *out, char *err, size_t errlen)
{
	const char *home = config_home_dir();
	struct stat st;
	if (!home) {
		snprintf(err, errlen, "no home: HOME is unset or not absolute and uid %u has none",
			 (unsigned)geteuid());
		return -1;
	}
	int bad = stat(home, &st) < 0 ? errno : !S_ISDIR(st.st_mode) ? ENOTDIR : 0;
	if (bad) {
		snprintf(err, errlen, "home %s: %s", home, strerror(bad));
		return -1;
	}
	buf_addf(out, "%s/.local/state/mailkeep", home);
	return 0;
}

/* Root given another user's HOME (sudo -E, a system job pointed at a user's
 * home) where the lock directory DIR is not made yet would make it, and any of
 * ~/.local and ~/.local/state missing, root's and 0700: that user's own pushes
 * refused from then on (owner_check), its ~/.local unusable to it. Refused
 * before anything is made, as an account directory of another user is: the
 * deepest level of DIR that exists must be root's (or nobody's). -1 with the
 * reason, else 0. */
static int root_in_foreign_home(const char *dir, char *err, size_t errlen)
{
	struct stat st;
	if (geteuid() != 0 || lstat(dir, &st) == 0)
		return 0; /* there: owner_check looks at it */
	char *p = xstrdup(dir), *slash;
	int rc = 0;
	while ((slash = strrchr(p, '/')) != NULL && slash > p) {
		*slash = '\0';
		if (stat(p, &st) < 0)
			continue;
		if (st.st_uid != 0 && st.st_uid != NOBODY_UID) {
			struct passwd *pw = getpwuid(st.st_uid);
			snprintf(err, errlen,
				 "%s belongs to %s%s(uid %u), not root: the push lock directory root would make in it "
				 "would refuse that user's own pushes; run mailkeep as that user, or with root's HOME "
				 "(sudo -H)",
				 p, pw ? pw->pw_name : "", pw ? " " : "", (unsigned)st.st_uid);
			rc = -1;
		}
		break;
	}
	free(p);
	return rc;
}

/* "/push-<hex SHA-256 of USER with its ASCII letters lowercased>.lock"
 * appended to out: the key is the user name alone, so that one server named
 * two ways (a name, an address) still gives one lock. 0, or -1. */
static int user_lock_name(const char *user, struct buf *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	struct buf low = BUF_INIT;
	for (const char *c = user; *c; c++)
		buf_addch(&low, *c >= 'A' && *c <= 'Z' ? (char)(*c - 'A' + 'a') : *c);
	int rc = EVP_Digest(low.data ? low.data : "", low.len, md, &n, EVP_sha256(), NULL) == 1 ? 0 : -1;
	buf_adds(out, "/push-");
	for (unsigned i = 0; rc == 0 && i < n; i++)
		buf_addf(out, "%02x", md[i]);
	buf_adds(out, ".lock");
	buf_free(&low);
	return rc;
}

int lock_push_user(const char *user, const char *who, int *fd, char *err, size_t errlen)
{
	struct buf p = BUF_INIT;
	int rc = 2;
	*fd = -1;
	if (user_lock_dir(&p, err, errlen) < 0)
		goto out;
	rc = -1;
	if (root_in_foreign_home(p.data, err, errlen) < 0)
		goto out;
	rc = 2;
	if (maildir_mkdir_p(p.data, err, errlen) < 0)
		goto out; /* a read-only home, say */
	rc = -1;
	if (owner_check(p.data, USER_LOCK_HARM, err, errlen) < 0)
		goto out;
	maildir_make_private(p.data);
	if (user_lock_name(user, &p) < 0) {
		snprintf(err, errlen, "%s: SHA-256 failed", p.data);
		goto out;
	}
	rc = lock_open(p.data, who, 0, fd, err, errlen);
	if (rc < 0 && *fd < 0 && errno == EROFS)
		rc = 2; /* made before the home became read-only */
out:
	buf_free(&p);
	return rc;
}

/* The directory half: 0 with *fd (-1 where the directory cannot be flock'ed),
 * 1 when another run holds it. */
static int lock_dir(const char *dir, int wait, int *fd)
{
	*fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0 || flock_wait(*fd, LOCK_EX, wait) == 0)
		return 0;
	int held = errno == EWOULDBLOCK;
	if (!held)
		log_debug("%s: flock: %s (the lock file's lock stands alone)", dir, strerror(errno));
	close(*fd);
	*fd = -1;
	return held;
}

int lock_account(const char *dir, const char *who, int wait, struct account_lock *l, char *err,
		 size_t errlen)
{
	l->dir = l->file = -1;
	int rc = lock_file(dir, "lock", who, wait, &l->file, err, errlen);
	if (rc == 0 && lock_dir(dir, wait, &l->dir) > 0) {
		snprintf(err, errlen, "%s: another mailkeep run holds %s (its lock file was removed)", who, dir);
		rc = 1;
	}
	if (rc != 0)
		lock_release(l);
	return rc;
}

int lock_account_held(const char *dir)
{
	struct buf p = BUF_INIT;
	int held = 0;
	buf_addf(&p, "%s/.mailkeep/lock", dir);
	int fd = open(p.data, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd >= 0) {
		held = flock_wait(fd, LOCK_SH, 1) < 0 && errno == EWOULDBLOCK;
		close(fd);
	}
	fd = held ? -1 : open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		held = flock_wait(fd, LOCK_SH, 1) < 0 && errno == EWOULDBLOCK ? 2 : 0;
		close(fd);
	}
	buf_free(&p);
	return held;
}

void lock_release(struct account_lock *l)
{
	if (l->file >= 0)
		close(l->file);
	if (l->dir >= 0)
		close(l->dir);
	l->file = l->dir = -1;
}
