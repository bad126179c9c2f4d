/* sync_dir_matches_state: whether a folder's cur/ and new/ hold exactly what a
 * trusted read of its state would take; and maildir_each_file, which it reads
 * the directory with (no names kept), against maildir_scan. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailkeep/buf.h"
#include "mailkeep/maildir.h"
#include "mailkeep/state.h"
#include "../../src/sync_internal.h"

#define UV 7u

static char root[64];

static void put(const char *sub, const char *name)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s/%s", root, sub, name);
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f, "%s", p);
	fputs("Subject: x\n\nbody\n", f);
	fclose(f);
}

static void put_msg(const char *sub, uint32_t uid, unsigned flags)
{
	struct buf name = BUF_INIT;
	maildir_canonical_name(&name, 1600000000 + uid, UV, uid, flags);
	put(sub, name.data);
	buf_free(&name);
}

/* a folder with messages 1..3 in cur/ under their names, and its state */
static void setup_folder(struct folder_state *st)
{
	snprintf(root, sizeof(root), "/tmp/mk-syncdir-XXXXXX");
	cr_assert_not_null(mkdtemp(root));
	for (const char *const *s = (const char *const[]){ "cur", "new", "tmp", NULL }; *s; s++) {
		char p[128];
		snprintf(p, sizeof(p), "%s/%s", root, *s);
		cr_assert_eq(mkdir(p, 0700), 0);
	}
	memset(st, 0, sizeof(*st));
	st->uidvalidity = UV;
	for (uint32_t uid = 1; uid <= 3; uid++) {
		state_add(st, uid, uid == 2 ? MFLAG_SEEN : 0, 1600000000 + uid, NULL);
		put_msg("cur", uid, uid == 2 ? MFLAG_SEEN : 0);
	}
}

static void teardown_folder(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	cr_assert_eq(system(cmd), 0);
}

static int matches(const struct folder_state *st, enum deletions_mode deletions)
{
	int64_t cur_ns, new_ns;
	maildir_dir_mtimes(root, &cur_ns, &new_ns);
	return sync_dir_matches_state(root, st, deletions, cur_ns, new_ns);
}

Test(sync_dir, matches_state)
{
	/* what is added to the folder of setup_folder, whether it still matches
	 * with deletions: mirror and with deletions: keep */
	static const struct {
		const char *what;
		const char *sub;    /* where a file goes, NULL: none */
		uint32_t uid;       /* a message file of this UID, 0: `raw` */
		unsigned flags;
		const char *raw;    /* a file of this name */
		int mirror, keep;
	} cases[] = {
		{ "nothing", NULL, 0, 0, NULL, 1, 1 },
		{ "another program's file", "cur", 0, 0, "1600000000.M1P1.host:2,S", 1, 1 },
		{ "a file of a UID the state lacks", "cur", 9, 0, NULL, 0, 1 },
		{ "a copy of a message in new/", "new", 2, MFLAG_SEEN, NULL, 0, 0 },
		{ "a copy under other flags", "cur", 2, MFLAG_FLAGGED, NULL, 0, 0 },
		{ "a file of another UIDVALIDITY", "cur", 0, 0, "1600000001.8_1.mailkeep,U=1:2,", 0, 1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct folder_state st;
		setup_folder(&st);
		if (cases[i].sub && cases[i].uid)
			put_msg(cases[i].sub, cases[i].uid, cases[i].flags);
		else if (cases[i].sub)
			put(cases[i].sub, cases[i].raw);
		cr_expect_eq(matches(&st, DELETIONS_MIRROR), cases[i].mirror, "%s, mirror", cases[i].what);
		cr_expect_eq(matches(&st, DELETIONS_KEEP), cases[i].keep, "%s, keep", cases[i].what);
		state_free(&st);
		teardown_folder();
	}
}

Test(sync_dir, file_missing_renamed_or_times_moved)
{
	struct folder_state st;
	struct buf p = BUF_INIT;
	int64_t cur_ns, new_ns;
	setup_folder(&st);
	maildir_dir_mtimes(root, &cur_ns, &new_ns);
	cr_expect_eq(sync_dir_matches_state(root, &st, DELETIONS_MIRROR, cur_ns + 1, new_ns), 0,
		     "cur/'s time is not the one read");
	maildir_canonical_name(&p, 1600000003, UV, 3, 0);
	char path[512], path2[512];
	snprintf(path, sizeof(path), "%s/cur/%s", root, p.data);
	snprintf(path2, sizeof(path2), "%s/cur/%sF", root, p.data);
	cr_assert_eq(rename(path, path2), 0);
	cr_expect_eq(matches(&st, DELETIONS_KEEP), 0, "a file under another name than the state's");
	cr_assert_eq(unlink(path2), 0);
	cr_expect_eq(matches(&st, DELETIONS_KEEP), 0, "a message without its file");
	buf_free(&p);
	state_free(&st);
	teardown_folder();
}

struct counted {
	size_t n, in_new, odd;
};

static int count_file(void *ctx, const char *subdir, const char *name, const struct maildir_file *file,
		      char *err, size_t errlen)
{
	struct counted *c = ctx;
	c->n++;
	c->in_new += file->in_new;
	c->odd += file->odd_info;
	return 0;
}

Test(sync_dir, each_file_sees_what_scan_keeps)
{
	struct folder_state st;
	struct maildir_view v;
	struct counted c = {0};
	size_t foreign = 0;
	char err[256];
	setup_folder(&st);
	put("cur", "1600000000.M1P1.host:2,S");
	put_msg("new", 4, 0);
	put("cur", "1600000005.7_5.mailkeep,U=5:2,SF"); /* flag letters out of order */
	cr_assert_eq(maildir_each_file(root, count_file, &c, &foreign, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(maildir_scan(root, &v, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(c.n, 5);
	cr_expect_eq(c.n, v.n);
	cr_expect_eq(c.in_new, 1);
	cr_expect_eq(c.odd, 1);
	cr_expect_eq(foreign, 1);
	cr_expect_eq(v.foreign, 1);
	size_t odd = 0;
	for (size_t i = 0; i < v.n; i++)
		odd += v.files[i].odd_info;
	cr_expect_eq(odd, 1);
	maildir_view_free(&v);
	state_free(&st);
	teardown_folder();
}
