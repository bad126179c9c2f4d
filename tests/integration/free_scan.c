/* free_scan.c: an LD_PRELOAD shim for tests/integration/t_secret_freed.sh.
 *
 * Before each free() (and each realloc() that can move its block), looks for a secret in the
 * block's bytes: secret buffers must be wiped before they are freed (docs/design.md), and a block
 * freed with the password in it leaves the password in the heap for whatever reuses the memory
 * (a core dump, the next allocation's garbage).
 *   MK_SCAN_SECRET=S    the bytes to look for (the password)
 *   MK_SCAN_LOG=FILE    appended one report per freed block that holds S: "freed N bytes" and
 *                       a backtrace of the free
 * The environment variables are removed at start, so programs the process runs are not scanned.
 * Built by the test: cc -shared -fPIC -o free_scan.so free_scan.c
 */
#define _GNU_SOURCE
#include <execinfo.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void __libc_free(void *p);
extern void *__libc_realloc(void *p, size_t n);

static char secret[512];
static size_t secret_len;
static int log_fd = -1;
static __thread int inside;

__attribute__((constructor)) static void scan_init(void)
{
	const char *s = getenv("MK_SCAN_SECRET"), *l = getenv("MK_SCAN_LOG");
	if (s && strlen(s) < sizeof(secret)) {
		secret_len = strlen(s);
		memcpy(secret, s, secret_len);
	}
	if (l)
		log_fd = open(l, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	unsetenv("MK_SCAN_SECRET");
	unsetenv("MK_SCAN_LOG");
}

static void scan(void *p)
{
	if (!p || !secret_len || log_fd < 0 || inside)
		return;
	size_t n = malloc_usable_size(p);
	if (!memmem(p, n, secret, secret_len))
		return;
	inside = 1;
	char line[64];
	int len = snprintf(line, sizeof(line), "freed %zu bytes holding the secret at:\n", n);
	void *frames[32];
	int depth = backtrace(frames, 32);
	(void)!write(log_fd, line, (size_t)len);
	backtrace_symbols_fd(frames, depth, log_fd);
	inside = 0;
}

void free(void *p)
{
	scan(p);
	__libc_free(p);
}

void *realloc(void *p, size_t n)
{
	/* a block that moves is freed by realloc itself: scanned as a free (a wiped
	 * buffer is never realloc'ed with a secret in it either) */
	if (p && n > malloc_usable_size(p))
		scan(p);
	return __libc_realloc(p, n);
}
