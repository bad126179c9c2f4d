/* crash_inject.c: an LD_PRELOAD shim for tests/integration/t_crash_inject.sh.
 *
 * Counts the calls of the libc wrappers that change a file system (rename*, link*, unlink*, rmdir,
 * mkdir*, symlink, open, openat, creat with O_CREAT, write/pwrite/writev to a regular file, fsync,
 * fdatasync, syncfs, sync, ftruncate, truncate, utimensat, futimens, chmod, fchmod, fchmodat) made
 * by the process's main thread, and SIGKILLs the process at the N-th one, as `kill -9` would, or
 * makes it fail with an errno as a failing disk would.
 *   MK_INJ_N=N          the call to kill at (unset or 0: only count)
 *   MK_INJ_AFTER=1      kill just after the call returned instead of just before it
 *   MK_INJ_ERRNO=E      do not kill: the N-th call is not made and fails with errno E (EIO, ENOSPC,
 *                       EDQUOT, EACCES, EROFS, ENOMEM or a number); sync(), which cannot fail, is skipped
 *   MK_INJ_ONLY=NAME    count only the calls of NAME (e.g. rename, syncfs)
 *   MK_INJ_LOG=FILE     append "N NAME ARG" for every counted call (and "kill ..." before the kill)
 *   MK_INJ_ALL_THREADS=1  count other threads' calls too (their order is not deterministic)
 * The environment variables are removed at start, so programs the process runs are not counted.
 * Built by the test: cc -shared -fPIC -o crash_inject.so crash_inject.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static long inj_n;
static int inj_after;
static int inj_errno;
static int inj_all_threads;
static char inj_only[32];
static int inj_log_fd = -1;
static atomic_long inj_count;

__attribute__((constructor)) static void inj_init(void)
{
	const char *s = getenv("MK_INJ_N");
	inj_n = s ? atol(s) : 0;
	s = getenv("MK_INJ_AFTER");
	inj_after = s && *s == '1';
	s = getenv("MK_INJ_ERRNO");
	if (s && *s) {
		static const struct {
			const char *name;
			int e;
		} names[] = { { "EIO", EIO }, { "ENOSPC", ENOSPC }, { "EDQUOT", EDQUOT },
			      { "EACCES", EACCES }, { "EROFS", EROFS }, { "ENOMEM", ENOMEM } };
		inj_errno = atoi(s);
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (!strcmp(s, names[i].name))
				inj_errno = names[i].e;
		if (inj_errno <= 0)
			inj_errno = EIO;
	}
	s = getenv("MK_INJ_ALL_THREADS");
	inj_all_threads = s && *s == '1';
	s = getenv("MK_INJ_ONLY");
	if (s)
		snprintf(inj_only, sizeof(inj_only), "%s", s);
	s = getenv("MK_INJ_LOG");
	if (s && *s)
		inj_log_fd = (int)syscall(SYS_open, s, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	unsetenv("MK_INJ_N");
	unsetenv("MK_INJ_AFTER");
	unsetenv("MK_INJ_ERRNO");
	unsetenv("MK_INJ_ALL_THREADS");
	unsetenv("MK_INJ_ONLY");
	unsetenv("MK_INJ_LOG");
	unsetenv("LD_PRELOAD");
}

static void inj_log(const char *what, long n, const char *name, const char *arg)
{
	char line[4200];
	if (inj_log_fd < 0)
		return;
	int len = snprintf(line, sizeof(line), "%s%ld %s %s\n", what, n, name, arg ? arg : "");
	if (len > (int)sizeof(line) - 1)
		len = (int)sizeof(line) - 1;
	(void)syscall(SYS_write, inj_log_fd, line, (size_t)len);
}

/* Returns the number of this call, 0 when it is not counted, -1 when it is to fail (MK_INJ_ERRNO).
 * Kills before it if it is the one. */
static long inj_before(const char *name, const char *arg)
{
	if (!inj_all_threads && syscall(SYS_gettid) != getpid())
		return 0;
	if (inj_only[0] && strcmp(inj_only, name))
		return 0;
	long n = atomic_fetch_add(&inj_count, 1) + 1;
	inj_log("", n, name, arg);
	if (n == inj_n && inj_errno) {
		inj_log("fail ", n, name, arg);
		return -1;
	}
	if (n == inj_n && !inj_after) {
		inj_log("kill before ", n, name, arg);
		raise(SIGKILL);
	}
	return n;
}

static void inj_done(long n, const char *name, const char *arg)
{
	if (n > 0 && n == inj_n && inj_after && !inj_errno) {
		inj_log("kill after ", n, name, arg);
		raise(SIGKILL);
	}
}

/* utimensat(fd, NULL, ...) is futimens: a path that may be NULL, outside the nonnull parameter */
static const char *or_empty(const char *s)
{
	return s ? s : "";
}

static int fd_is_file(int fd)
{
	struct stat sb;
	return syscall(SYS_fstat, fd, &sb) == 0 && S_ISREG(sb.st_mode);
}

static const char *fd_arg(int fd, char *buf, size_t len)
{
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t r = readlink(link, buf, len - 1);
	buf[r > 0 ? r : 0] = 0;
	return buf;
}

#define REAL(name) \
	static __typeof__(name) *real; \
	if (!real) \
		real = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

#define WRAP(name, arg, call) \
	long n_ = inj_before(name, arg); \
	if (n_ < 0) { \
		errno = inj_errno; \
		return -1; \
	} \
	__typeof__(call) r_ = call; \
	inj_done(n_, name, arg); \
	return r_

int rename(const char *a, const char *b)
{
	REAL(rename);
	WRAP("rename", b, real(a, b));
}

int renameat(int fa, const char *a, int fb, const char *b)
{
	REAL(renameat);
	WRAP("renameat", b, real(fa, a, fb, b));
}

int renameat2(int fa, const char *a, int fb, const char *b, unsigned int flags)
{
	REAL(renameat2);
	WRAP("renameat2", b, real(fa, a, fb, b, flags));
}

int link(const char *a, const char *b)
{
	REAL(link);
	WRAP("link", b, real(a, b));
}

int linkat(int fa, const char *a, int fb, const char *b, int flags)
{
	REAL(linkat);
	WRAP("linkat", b, real(fa, a, fb, b, flags));
}

int symlink(const char *a, const char *b)
{
	REAL(symlink);
	WRAP("symlink", b, real(a, b));
}

int unlink(const char *p)
{
	REAL(unlink);
	WRAP("unlink", p, real(p));
}

int unlinkat(int fd, const char *p, int flags)
{
	REAL(unlinkat);
	WRAP("unlinkat", p, real(fd, p, flags));
}

int rmdir(const char *p)
{
	REAL(rmdir);
	WRAP("rmdir", p, real(p));
}

int mkdir(const char *p, mode_t m)
{
	REAL(mkdir);
	WRAP("mkdir", p, real(p, m));
}

int mkdirat(int fd, const char *p, mode_t m)
{
	REAL(mkdirat);
	WRAP("mkdirat", p, real(fd, p, m));
}

static mode_t open_mode(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

#define OPEN_WRAP(name, call) \
	if (!(flags & O_CREAT)) \
		return call; \
	WRAP(name, p, call)

int open(const char *p, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t m = open_mode(flags, ap);
	va_end(ap);
	REAL(open);
	OPEN_WRAP("open", real(p, flags, m));
}

int open64(const char *p, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t m = open_mode(flags, ap);
	va_end(ap);
	REAL(open64);
	OPEN_WRAP("open", real(p, flags, m));
}

int openat(int fd, const char *p, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t m = open_mode(flags, ap);
	va_end(ap);
	REAL(openat);
	OPEN_WRAP("openat", real(fd, p, flags, m));
}

int openat64(int fd, const char *p, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t m = open_mode(flags, ap);
	va_end(ap);
	REAL(openat64);
	OPEN_WRAP("openat", real(fd, p, flags, m));
}

int creat(const char *p, mode_t m)
{
	REAL(creat);
	WRAP("open", p, real(p, m));
}

#define FD_WRAP(name, fd, call) \
	char path_[4096]; \
	if (!fd_is_file(fd)) \
		return call; \
	WRAP(name, fd_arg(fd, path_, sizeof(path_)), call)

ssize_t write(int fd, const void *b, size_t len)
{
	REAL(write);
	FD_WRAP("write", fd, real(fd, b, len));
}

ssize_t pwrite(int fd, const void *b, size_t len, off_t off)
{
	REAL(pwrite);
	FD_WRAP("write", fd, real(fd, b, len, off));
}

ssize_t pwrite64(int fd, const void *b, size_t len, off64_t off)
{
	REAL(pwrite64);
	FD_WRAP("write", fd, real(fd, b, len, off));
}

ssize_t writev(int fd, const struct iovec *v, int cnt)
{
	REAL(writev);
	FD_WRAP("write", fd, real(fd, v, cnt));
}

int fsync(int fd)
{
	char path_[4096];
	REAL(fsync);
	WRAP("fsync", fd_arg(fd, path_, sizeof(path_)), real(fd));
}

int fdatasync(int fd)
{
	char path_[4096];
	REAL(fdatasync);
	WRAP("fdatasync", fd_arg(fd, path_, sizeof(path_)), real(fd));
}

int syncfs(int fd)
{
	char path_[4096];
	REAL(syncfs);
	WRAP("syncfs", fd_arg(fd, path_, sizeof(path_)), real(fd));
}

void sync(void)
{
	REAL(sync);
	long n = inj_before("sync", "");
	if (n >= 0)
		real();
	inj_done(n, "sync", "");
}

int ftruncate(int fd, off_t len)
{
	char path_[4096];
	REAL(ftruncate);
	WRAP("ftruncate", fd_arg(fd, path_, sizeof(path_)), real(fd, len));
}

int ftruncate64(int fd, off64_t len)
{
	char path_[4096];
	REAL(ftruncate64);
	WRAP("ftruncate", fd_arg(fd, path_, sizeof(path_)), real(fd, len));
}

int truncate(const char *p, off_t len)
{
	REAL(truncate);
	WRAP("truncate", p, real(p, len));
}

int utimensat(int fd, const char *p, const struct timespec t[2], int flags)
{
	REAL(utimensat);
	WRAP("utimensat", or_empty(p), real(fd, p, t, flags));
}

int futimens(int fd, const struct timespec t[2])
{
	char path_[4096];
	REAL(futimens);
	WRAP("futimens", fd_arg(fd, path_, sizeof(path_)), real(fd, t));
}

int chmod(const char *p, mode_t m)
{
	REAL(chmod);
	WRAP("chmod", p, real(p, m));
}

int fchmod(int fd, mode_t m)
{
	char path_[4096];
	REAL(fchmod);
	WRAP("fchmod", fd_arg(fd, path_, sizeof(path_)), real(fd, m));
}

int fchmodat(int fd, const char *p, mode_t m, int flags)
{
	REAL(fchmodat);
	WRAP("fchmodat", p, real(fd, p, m, flags));
}
