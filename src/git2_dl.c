/* libgit2, loaded on first use (see git2_dl.h for why). */
#define GIT2_DL_NO_NAMES
#include "git2_dl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mailkeep/buf.h"

/* The Makefile passes the soname of the libgit2 that <git2.h> belongs to. */
#ifndef MK_GIT2_SONAME
#define MK_GIT2_SONAME "libgit2.so"
#endif
#define GIT2_FALLBACK "libgit2.so"

/* Written once, under git2_once, by git2_load_once(), read-only after; see git2_dl.h. */
struct git2_table git2_table;

/* The outcome of that one load, kept with the table for the later callers. */
static pthread_once_t git2_once = PTHREAD_ONCE_INIT;
static int git2_rc;
static char git2_err[1024];

static int git2_error(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int git2_error(char *err, size_t errlen, const char *fmt, ...)
{
	struct buf what = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vaddf(&what, fmt, ap);
	va_end(ap);
	snprintf(err, errlen,
		 "cannot load libgit2 (%s); git snapshots need the libgit2 package (Debian: libgit2-%d.%d)",
		 what.data, LIBGIT2_VER_MAJOR, LIBGIT2_VER_MINOR);
	buf_free(&what);
	return -1;
}

int git2_open(const char *soname, struct git2_table *table, char *err, size_t errlen)
{
	struct git2_table t;
	const char *missing = NULL;
	int major = 0, minor = 0, rev = 0;
	void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);

	if (!lib)
		return git2_error(err, errlen, "%s", dlerror());
#define GIT2_SYMBOL(name) \
	t.name = (__typeof__(t.name))dlsym(lib, #name); \
	if (!t.name && !missing) \
		missing = #name;
	GIT2_FUNCTIONS(GIT2_SYMBOL)
#undef GIT2_SYMBOL
	if (missing) {
		git2_error(err, errlen, "%s has no function %s", soname, missing);
		goto fail;
	}
	/* libgit2's ABI changes with its minor version (hence sonames like
	 * libgit2.so.1.5): the table's types hold only for the version of <git2.h>. */
	t.git_libgit2_version(&major, &minor, &rev);
	if (major != LIBGIT2_VER_MAJOR || minor != LIBGIT2_VER_MINOR) {
		git2_error(err, errlen, "%s is version %d.%d.%d, mailkeep was built for %d.%d", soname, major,
			   minor, rev, LIBGIT2_VER_MAJOR, LIBGIT2_VER_MINOR);
		goto fail;
	}
	/* never dlclose()d: the table points into it until the process ends */
	*table = t;
	return 0;
fail:
	dlclose(lib);
	return -1;
}

static void git2_load_once(void)
{
	char ignored[1024];
	git2_rc = git2_open(MK_GIT2_SONAME, &git2_table, git2_err, sizeof(git2_err));
	/* The development link "libgit2.so" is tried next, for a libgit2 installed
	 * under another soname (the version check keeps another ABI out). The error
	 * reported stays the soname's: that is the library to install. */
	if (git2_rc < 0 && strcmp(MK_GIT2_SONAME, GIT2_FALLBACK) &&
	    git2_open(GIT2_FALLBACK, &git2_table, ignored, sizeof(ignored)) == 0)
		git2_rc = 0;
}

int git2_load(char *err, size_t errlen)
{
	pthread_once(&git2_once, git2_load_once);
	if (git2_rc < 0)
		snprintf(err, errlen, "%s", git2_err);
	return git2_rc;
}
