/* resolve_shim.c: an LD_PRELOAD shim for tests/integration/t_tls_sni.sh. getaddrinfo() resolves a
 * host as a DNS resolver and a link-local address would where the test machine cannot: a final
 * dot ("localhost.", an absolute name) is dropped, and so is an IPv6 zone ("::1%lo" is ::1, where
 * glibc only takes a zone on a link-local address). Nothing else changes.
 * Built by the test: cc -shared -fPIC -o resolve_shim.so resolve_shim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <string.h>

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
	int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
	char name[256];
	*(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
	if (!real)
		return EAI_SYSTEM;
	if (node && strlen(node) < sizeof(name)) {
		size_t n;
		strcpy(name, node);
		if (strchr(name, ':'))
			name[strcspn(name, "%")] = '\0';
		n = strlen(name);
		if (n > 1 && name[n - 1] == '.')
			name[n - 1] = '\0';
		node = name;
	}
	return real(node, service, hints, res);
}
