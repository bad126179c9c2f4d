/* libgit2 loaded on first use: the load works and is done once, from any
 * thread; a missing library or function gives an error that names it and the
 * package to install. The test binary, like mailkeep, does not link libgit2,
 * so every git_* call here goes through the loaded table (Debian's
 * libcriterion needs libgit2 itself: dlopen finds it already mapped). Criterion
 * runs each test in its own process: each one's first git2_load() is the first. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <git2.h>

#include "../../src/git2_dl.h"

#define GIT2_PACKAGE_HINT "git snapshots need the libgit2 package (Debian: libgit2-"

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

Test(git2_dl, load_then_call)
{
	char err[512] = "";
	int major = -1, minor = -1, rev = -1;
	cr_assert_eq(git2_load(err, sizeof(err)), 0, "git2_load: %s", err);
	cr_assert_eq(git_libgit2_version(&major, &minor, &rev), 0);
	cr_assert_eq(major, 1);
	cr_assert_eq(major, LIBGIT2_VER_MAJOR);
	cr_assert_eq(minor, LIBGIT2_VER_MINOR);
	cr_assert_gt(git_libgit2_init(), 0);
	git_error_clear();
	cr_assert_null(git_error_last());
	cr_assert_geq(git_libgit2_shutdown(), 0);
}

Test(git2_dl, later_calls_are_cheap_and_keep_the_table)
{
	char err[512] = "";
	struct timespec t0;
	cr_assert_eq(git2_load(err, sizeof(err)), 0, "git2_load: %s", err);
	__typeof__(git_commit_create) first = git_commit_create;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 10000; i++)
		cr_assert_eq(git2_load(err, sizeof(err)), 0);
	/* a few ns each without sanitizers; the loose bound (a loaded machine, a
	 * sanitizer build) only catches a real reload, milliseconds each */
	cr_assert_lt(seconds_since(&t0), 5.0);
	cr_assert(first == git_commit_create);
}

static void *load_in_thread(void *arg)
{
	char err[512];
	*(int *)arg = git2_load(err, sizeof(err));
	return NULL;
}

Test(git2_dl, first_load_from_many_threads)
{
	pthread_t th[8];
	int rc[8];
	for (int i = 0; i < 8; i++) {
		rc[i] = -2;
		cr_assert_eq(pthread_create(&th[i], NULL, load_in_thread, &rc[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(rc[i], 0, "thread %d: git2_load returned %d", i, rc[i]);
	}
	int major = -1, minor = -1, rev = -1;
	git_libgit2_version(&major, &minor, &rev);
	cr_assert_eq(major, LIBGIT2_VER_MAJOR);
}

/* What a user without libgit2 reads, and a table left untouched by a failure. */
Test(git2_dl, missing_library_named_with_its_package)
{
	struct git2_table t, before;
	char err[512] = "";
	memset(&t, 0x5a, sizeof(t));
	before = t;
	cr_assert_eq(git2_open("libmailkeep-test-absent.so.0", &t, err, sizeof(err)), -1);
	cr_assert(!strncmp(err, "cannot load libgit2 (", 21), "%s", err);
	cr_assert_not_null(strstr(err, "libmailkeep-test-absent.so.0"), "%s", err);
	cr_assert_not_null(strstr(err, GIT2_PACKAGE_HINT), "%s", err);
	cr_assert(!memcmp(&t, &before, sizeof(t)));
}

Test(git2_dl, library_without_the_functions)
{
	struct git2_table t;
	char err[512] = "";
	cr_assert_eq(git2_open("libc.so.6", &t, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "libc.so.6 has no function git_blob_create_from_buffer"), "%s", err);
	cr_assert_not_null(strstr(err, GIT2_PACKAGE_HINT), "%s", err);
}

Test(git2_dl, error_fits_a_short_buffer)
{
	struct git2_table t;
	char err[16];
	memset(err, 'x', sizeof(err));
	cr_assert_eq(git2_open("libmailkeep-test-absent.so.0", &t, err, sizeof(err)), -1);
	cr_assert_eq(strlen(err), sizeof(err) - 1);
}
