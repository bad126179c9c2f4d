/* net_inject.c: an LD_PRELOAD shim for tests/integration/t_push_crash_inject.sh, the network
 * counterpart of crash_inject.c (which counts file-system calls; the two can be preloaded together).
 *
 * Counts the socket writes (send, sendto, sendmsg, write, writev to a socket) and reads (recv,
 * recvfrom, recvmsg, read, readv from a socket; reads that return nothing are not counted) of the
 * process's main thread, and SIGKILLs the process at the N-th one, as `kill -9` would: just before
 * a write (the command not sent), just after it (sent, its answer never read), just after a read
 * (an answer received, not acted on). TLS goes through these calls too (net.c's BIO uses send/recv).
 *   MK_NET_N=N          the call to kill at (unset or 0: only count)
 *   MK_NET_AFTER=1      kill just after the call returned instead of just before it
 *   MK_NET_ONLY=send|recv   count only the writes, or only the reads
 *   MK_NET_LOG=FILE     append "N send|recv BYTES FIRST-LINE" for every counted call
 * The environment variables are removed at start, so programs the process runs are not counted.
 * Built by the test: cc -shared -fPIC -o net_inject.so net_inject.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static long net_n;
static int net_after;
static char net_only[8];
static int net_log_fd = -1;
static atomic_long net_count;

__attribute__((constructor)) static void net_init(void)
{
	const char *s = getenv("MK_NET_N");
	net_n = s ? atol(s) : 0;
	s = getenv("MK_NET_AFTER");
	net_after = s && *s == '1';
	s = getenv("MK_NET_ONLY");
	if (s)
		snprintf(net_only, sizeof(net_only), "%s", s);
	s = getenv("MK_NET_LOG");
	if (s && *s)
		net_log_fd = (int)syscall(SYS_open, s, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	unsetenv("MK_NET_N");
	unsetenv("MK_NET_AFTER");
	unsetenv("MK_NET_ONLY");
	unsetenv("MK_NET_LOG");
	unsetenv("LD_PRELOAD");
}

static int fd_is_socket(int fd)
{
	struct stat sb;
	return syscall(SYS_fstat, fd, &sb) == 0 && S_ISSOCK(sb.st_mode);
}

/* "N KIND LEN first-line" (printable bytes of the first line, at most 60) */
static void net_log(const char *what, long n, const char *kind, const void *data, ssize_t len)
{
	char line[160];
	const unsigned char *p = data;
	if (net_log_fd < 0)
		return;
	int o = snprintf(line, sizeof(line), "%s%ld %s %zd ", what, n, kind, len);
	for (ssize_t i = 0; p && i < len && i < 60 && p[i] != '\r' && p[i] != '\n'; i++)
		line[o++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '.';
	line[o++] = '\n';
	(void)syscall(SYS_write, net_log_fd, line, (size_t)o);
}

static long net_before(int fd, const char *kind, const void *data, size_t len)
{
	if (syscall(SYS_gettid) != getpid() || !fd_is_socket(fd))
		return 0;
	if (net_only[0] && strcmp(net_only, kind))
		return 0;
	if (!strcmp(kind, "recv"))
		return -1; /* numbered once it returned data */
	long n = atomic_fetch_add(&net_count, 1) + 1;
	net_log("", n, kind, data, (ssize_t)len);
	if (n == net_n && !net_after) {
		net_log("kill before ", n, kind, data, (ssize_t)len);
		raise(SIGKILL);
	}
	return n;
}

static void net_done(long n, const char *kind, const void *data, ssize_t got)
{
	if (n < 0) {
		if (got <= 0)
			return;
		n = atomic_fetch_add(&net_count, 1) + 1;
		net_log("", n, kind, data, got);
		if (n == net_n && !net_after) /* before a read is before acting on what it returned */
			net_after = 1;
	}
	if (n && n == net_n && net_after) {
		net_log("kill after ", n, kind, data, got);
		raise(SIGKILL);
	}
}

#define REAL(name) \
	static __typeof__(name) *real; \
	if (!real) \
		real = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

#define NET_WRAP(fd, kind, data, len, call) \
	long n_ = net_before(fd, kind, data, len); \
	__typeof__(call) r_ = call; \
	net_done(n_, kind, data, (ssize_t)r_); \
	return r_

ssize_t send(int fd, const void *b, size_t len, int flags)
{
	REAL(send);
	NET_WRAP(fd, "send", b, len, real(fd, b, len, flags));
}

ssize_t sendto(int fd, const void *b, size_t len, int flags, const struct sockaddr *a, socklen_t alen)
{
	REAL(sendto);
	NET_WRAP(fd, "send", b, len, real(fd, b, len, flags, a, alen));
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	REAL(sendmsg);
	NET_WRAP(fd, "send", m->msg_iovlen ? m->msg_iov[0].iov_base : NULL,
		 m->msg_iovlen ? m->msg_iov[0].iov_len : 0, real(fd, m, flags));
}

ssize_t write(int fd, const void *b, size_t len)
{
	REAL(write);
	NET_WRAP(fd, "send", b, len, real(fd, b, len));
}

ssize_t writev(int fd, const struct iovec *v, int cnt)
{
	REAL(writev);
	NET_WRAP(fd, "send", cnt ? v[0].iov_base : NULL, cnt ? v[0].iov_len : 0, real(fd, v, cnt));
}

ssize_t recv(int fd, void *b, size_t len, int flags)
{
	REAL(recv);
	NET_WRAP(fd, "recv", b, len, real(fd, b, len, flags));
}

ssize_t recvfrom(int fd, void *b, size_t len, int flags, struct sockaddr *a, socklen_t *alen)
{
	REAL(recvfrom);
	NET_WRAP(fd, "recv", b, len, real(fd, b, len, flags, a, alen));
}

ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
	REAL(recvmsg);
	NET_WRAP(fd, "recv", m->msg_iovlen ? m->msg_iov[0].iov_base : NULL, 0, real(fd, m, flags));
}

ssize_t read(int fd, void *b, size_t len)
{
	REAL(read);
	NET_WRAP(fd, "recv", b, len, real(fd, b, len));
}

ssize_t readv(int fd, const struct iovec *v, int cnt)
{
	REAL(readv);
	NET_WRAP(fd, "recv", cnt ? v[0].iov_base : NULL, 0, real(fd, v, cnt));
}
