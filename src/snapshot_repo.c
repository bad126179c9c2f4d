/* The snapshot repository: opened, or made where nothing or an empty
 * directory is (in <snapshot_repo>.init, marked as mailkeep's, renamed into
 * place). The rest of the snapshot is snapshot.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "git2_dl.h"
#include "mailkeep/buf.h"
#include "mailkeep/log.h"
#include "mailkeep/maildir.h"
#include "snapshot_internal.h"

/* A server folder named "GIT~1" (NTFS's short name of ".git") is an ordinary
 * mirror directory, but libgit2 refuses it as a tree entry while
 * core.protectNTFS is on, its default everywhere: every snapshot would fail
 * until the folder went. The repository is bare and mailkeep never checks it
 * out; the setting also lets git restore such a folder from it. Set when the
 * repository is created, before it is renamed into place: writing the config
 * later takes config.lock, and a run killed then (or the user's git holding
 * it) would leave every later snapshot failing on it. For a repository made
 * otherwise, a setting that cannot be written is a warning (only such a
 * folder's snapshot then fails), with a non-zero return. */
static int allow_ntfs_names(git_repository *repo)
{
	git_config *cfg = NULL;
	char err[512];
	int on = 1, rc = -1;
	if (git_repository_config(&cfg, repo) < 0)
		goto fail;
	if (git_config_get_bool(&on, cfg, "core.protectNTFS") < 0)
		on = 1;
	git_error_clear();
	if (on && git_config_set_bool(cfg, "core.protectNTFS", 0) < 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	snapshot_git_fail(err, sizeof(err), git_repository_path(repo));
	log_warn("%s (core.protectNTFS stays on: a folder named like GIT~1 cannot be snapshot)", err);
out:
	git_config_free(cfg);
	return rc;
}

/* 1 if PATH is a directory with no entries, 0 if one with entries, -1 if not
 * a directory or it cannot be read. */
static int dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int rc = 1;
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rc = 0;
	closedir(d);
	return rc;
}

/* The file create_repo writes first into <snapshot_repo>.init, naming the
 * repository it is made for: only a directory holding it is a leftover. Its
 * first line is the repository's path (mark_spelling); a second line
 * "was MODE GID" (octal, decimal) records the empty directory the repository
 * replaces, whose mode and group it gets once in place (repo_finish). */
#define INIT_MARK "mailkeep-init"

/* The mode and group a repository gets in place (set), from its mark. */
struct mark_was {
	int set;
	mode_t mode;
	gid_t gid;
};

/* *P reset to DIR/INIT_MARK. */
static void mark_path(struct buf *p, const char *dir)
{
	buf_reset(p);
	buf_addf(p, "%s/" INIT_MARK, dir);
}

/* *OUT reset to PATH as a mark spells it, symbolic links and .. resolved: the
 * realpath of PATH, else of its parent with PATH's last component; PATH
 * itself if neither resolves. Both sides of the comparison of a mark with a
 * repository spell it so: a mark written as "~/x/../a.git" or through a
 * symbolic link on the path was "in the way" of a run that read the
 * repository's path another way (the realpath open_repo takes of a directory
 * made beforehand). */
static void mark_spelling(struct buf *out, const char *path)
{
	const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
	struct buf parent = BUF_INIT;
	char *real = realpath(path, NULL);
	buf_reset(out);
	if (real) {
		buf_adds(out, real);
		goto out;
	}
	if (slash && slash != path)
		buf_add(&parent, path, (size_t)(slash - path));
	if (*base && strcmp(base, ".") && strcmp(base, "..") &&
	    (real = realpath(!slash ? "." : slash == path ? "/" : parent.data, NULL)))
		buf_addf(out, "%s%s%s", real, strcmp(real, "/") ? "/" : "", base);
	else
		buf_adds(out, path);
out:
	free(real);
	buf_free(&parent);
}

/* DIR's INIT_MARK read into GOT (SIZE bytes, NUL-terminated), not followed,
 * not waited on (a FIFO). Its length, or -1 if it is not a file or cannot be
 * read, or (OWN) is not the user's: in a repository others may write to (a
 * group's), a mark of theirs naming it chose the mode and group mailkeep
 * gave it (was 4777 made it writable by everyone). */
static ssize_t read_mark(const char *dir, char *got, size_t size, int own)
{
	struct buf mark = BUF_INIT;
	struct stat st;
	ssize_t n = -1;
	mark_path(&mark, dir);
	int fd = open(mark.data, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (!own || st.st_uid == geteuid()))
		n = read(fd, got, size - 1);
	got[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
	buf_free(&mark);
	return n;
}

/* Whether the mark GOT names the repository SPELLED (mark_spelling) on its
 * first line; *WAS from its second. */
static int mark_names(const char *got, const char *spelled, struct mark_was *was)
{
	const char *nl = strchr(got, '\n');
	struct buf line = BUF_INIT, canon = BUF_INIT;
	unsigned mode, gid;
	int ok = 0;
	memset(was, 0, sizeof(*was));
	if (!nl || nl == got)
		return 0;
	buf_add(&line, got, (size_t)(nl - got));
	mark_spelling(&canon, line.data);
	ok = !strcmp(canon.data, spelled);
	if (ok && sscanf(nl + 1, "was %o %u", &mode, &gid) == 2) {
		was->set = 1;
		was->mode = (mode_t)(mode & 07777);
		was->gid = (gid_t)gid;
	}
	buf_free(&line);
	buf_free(&canon);
	return ok;
}

/* Whether TMP (<snapshot_repo>.init of the repository SPELLED, mark_spelling)
 * may be removed as the leftover of a run killed while it created the
 * repository: nothing there, an empty directory, or one whose INIT_MARK names
 * the repository (or is all it holds: a run killed while writing it).
 * Anything else is not ours: another account's mirror or repository (an
 * account named <name>.git.init beside <name>), the user's files; no name or
 * shape of theirs is guessed at. */
static int init_leftover(const char *tmp, const char *spelled)
{
	struct stat st;
	struct mark_was was;
	char got[4096];
	if (lstat(tmp, &st) < 0)
		return errno == ENOENT;
	if (!S_ISDIR(st.st_mode))
		return 0;
	int empty = dir_is_empty(tmp);
	if (empty)
		return empty == 1;
	ssize_t n = read_mark(tmp, got, sizeof(got), 0);
	if (n < 0)
		return 0;
	if (mark_names(got, spelled, &was))
		return 1;
	/* a run killed while writing the mark: it is all there is, and it holds
	 * a beginning of its first line */
	if (strchr(got, '\n') || strlen(got) != (size_t)n || strncmp(got, spelled, (size_t)n))
		return 0;
	DIR *d = opendir(tmp);
	struct dirent *de;
	int ok = d != NULL;
	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, INIT_MARK))
			ok = 0;
	if (d)
		closedir(d);
	return ok;
}

/* TMP made (0700) with its INIT_MARK naming SPELLED and what WAS records, durably. */
static int init_mark(const char *tmp, const char *spelled, const struct mark_was *was, char *err, size_t errlen)
{
	struct buf mark = BUF_INIT, text = BUF_INIT;
	int fd = -1, rc = -1;
	mark_path(&mark, tmp);
	buf_addf(&text, "%s\n", spelled);
	if (was->set)
		buf_addf(&text, "was %o %u\n", (unsigned)was->mode, (unsigned)was->gid);
	if (mkdir(tmp, 0700) < 0 ||
	    (fd = open(mark.data, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0 ||
	    write(fd, text.data, text.len) != (ssize_t)text.len || fsync(fd) < 0) {
		snprintf(err, errlen, "%s: %s", fd < 0 && access(tmp, F_OK) < 0 ? tmp : mark.data, strerror(errno));
		goto out;
	}
	rc = maildir_fsync_dir(tmp, err, errlen); /* the mark's name durable before git's files */
out:
	if (fd >= 0)
		close(fd);
	buf_free(&mark);
	buf_free(&text);
	return rc;
}

/* The repository at PATH, renamed into place: the mode and group WAS records
 * given to its top directory, then its mark removed, last, so that a run
 * killed before leaves it for the next to finish with (repo_unmark). A mode
 * without the owner's rwx (mkdir -m 550) is set after the removal, which
 * needs them: a run killed in between leaves the owner's bits rwx. */
static void repo_finish(const char *path, const struct mark_was *was)
{
	struct buf mark = BUF_INIT;
	struct stat st;
	mark_path(&mark, path);
	/* each on its own: a group refused (one the user is not in) is no
	 * reason to leave the mode 0700 */
	if (was->set && stat(path, &st) == 0 && st.st_gid != was->gid && chown(path, (uid_t)-1, was->gid) < 0)
		log_warn("%s: cannot give it back its group %u: %s", path, (unsigned)was->gid, strerror(errno));
	if (was->set && chmod(path, was->mode | S_IRWXU) < 0)
		log_warn("%s: cannot give it back its mode %o: %s", path, (unsigned)was->mode, strerror(errno));
	if (unlink(mark.data) < 0 && errno != ENOENT)
		log_warn("%s: %s", mark.data, strerror(errno));
	else if (was->set && (was->mode & S_IRWXU) != S_IRWXU && chmod(path, was->mode) < 0)
		log_warn("%s: cannot give it back its mode %o: %s", path, (unsigned)was->mode, strerror(errno));
	buf_free(&mark);
}

/* The mark a run killed between the rename and its removal left in the
 * repository at PATH: finished with (repo_finish) if it is the user's and
 * names PATH; a file of that name that does not, or another user's, is left
 * alone. */
static void repo_unmark(const char *path)
{
	struct buf spelled = BUF_INIT;
	struct mark_was was;
	char got[4096];
	if (read_mark(path, got, sizeof(got), 1) < 0)
		return;
	mark_spelling(&spelled, path);
	if (mark_names(got, spelled.data, &was)) {
		log_warn("%s: finishing its creation, which an interrupted run left undone", path);
		repo_finish(path, &was);
	}
	buf_free(&spelled);
}

static int rm_but_mark(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	if (ftw->level == 0 || (ftw->level == 1 && !strcmp(path + ftw->base, INIT_MARK)))
		return 0;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* TMP, a leftover init_leftover found ours, removed with its mark last: a run
 * killed meanwhile leaves what the next still knows for its own. */
static int rm_leftover(const char *tmp)
{
	struct buf mark = BUF_INIT;
	int rc = 0;
	mark_path(&mark, tmp);
	if (nftw(tmp, rm_but_mark, 16, FTW_DEPTH | FTW_PHYS) < 0 ||
	    (unlink(mark.data) < 0 && errno != ENOENT) || rmdir(tmp) < 0)
		rc = errno == ENOENT ? 0 : -1;
	buf_free(&mark);
	return rc;
}

/* Create the bare repository atomically: initialise it under <repo>.init,
 * marked as mailkeep's (init_mark), and rename it into place, so a run killed
 * meanwhile never leaves a half-made repository at the configured path. WAS
 * (or NULL): the empty directory the rename replaces, whose mode and group
 * are put back on the repository's top directory (recorded in the mark: a
 * run killed after the rename leaves them to the next, repo_unmark). */
static int create_repo(const struct account *acct, const char *path, const struct stat *was, git_repository **repo, char *err,
		       size_t errlen)
{
	struct buf tmp = BUF_INIT, ref = BUF_INIT, spelled = BUF_INIT;
	struct mark_was mw = { 0 };
	git_repository *r = NULL;
	int rc = -1, made = 0;
	buf_addf(&tmp, "%s.init", path);
	/* the parents libgit2 made (GIT_REPOSITORY_INIT_MKPATH) before the
	 * repository was made in a .init marked first */
	const char *slash = strrchr(path, '/');
	if (slash && slash != path) {
		struct buf parent = BUF_INIT;
		buf_add(&parent, path, (size_t)(slash - path));
		int prc = maildir_mkdir_p(parent.data, err, errlen);
		buf_free(&parent);
		if (prc < 0)
			goto out;
	}
	mark_spelling(&spelled, path);
	if (was)
		mw = (struct mark_was){ 1, was->st_mode & 07777, was->st_gid };
	if (!init_leftover(tmp.data, spelled.data)) {
		snprintf(err, errlen, "%s: in the way: it is not a repository a killed run of mailkeep left "
			 "half-made (mailkeep makes %s there first); move it away", tmp.data, acct->snapshot_repo);
		goto out;
	}
	if (rm_leftover(tmp.data) < 0) {
		snprintf(err, errlen, "%s: cannot remove leftover: %s", tmp.data, strerror(errno));
		goto out;
	}
	if (init_mark(tmp.data, spelled.data, &mw, err, errlen) < 0)
		goto out;
	made = 1;
	git_repository_init_options opts;
	git_repository_init_options_init(&opts, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
	buf_addf(&ref, "refs/heads/%s", acct->snapshot_branch);
	opts.initial_head = ref.data;
	if (git_repository_init_ext(&r, tmp.data, &opts) < 0) {
		snapshot_git_fail(err, errlen, acct->snapshot_repo);
		goto out;
	}
	if (allow_ntfs_names(r) < 0) {
		git_repository_free(r);
		snprintf(err, errlen, "%s: cannot write its config", tmp.data);
		goto out;
	}
	git_repository_free(r);
	/* an empty directory in its place is replaced by the rename (not a mount
	 * point: EBUSY); its mode is put back after, so that a read-only one
	 * does not leave a leftover that cannot be removed */
	if (rename(tmp.data, path) < 0) {
		snprintf(err, errlen, "%s: %s%s", acct->snapshot_repo, strerror(errno),
			 errno == EBUSY ? " (a mount point: make the repository there with git init --bare, "
					  "or point snapshot_repo below it)" : "");
		goto out;
	}
	made = 0;
	repo_finish(path, &mw);
	if (git_repository_open_bare(repo, path) < 0) {
		snapshot_git_fail(err, errlen, acct->snapshot_repo);
		goto out;
	}
	rc = 0;
out:
	if (made) /* ours, marked: not left behind */
		(void)rm_leftover(tmp.data);
	buf_free(&tmp);
	buf_free(&ref);
	buf_free(&spelled);
	return rc;
}

/* libgit2 (as git) refuses a repository owned by another user unless git's
 * safe.directory lists it, with a message that names neither (libgit2 1.5:
 * "config value 'safe.directory' was not found"): a failure to open one that
 * is not the user's says whose it is and what to do. */
static void open_fail(const char *path, char *err, size_t errlen)
{
	struct stat st;
	snapshot_git_fail(err, errlen, path);
	if (stat(path, &st) < 0 || st.st_uid == geteuid())
		return;
	size_t l = strlen(err);
	snprintf(err + l, errlen - l, " (the repository belongs to uid %u, not to uid %u running mailkeep; "
		 "run mailkeep as its owner, or declare it safe: git config --global --add safe.directory '%s')",
		 (unsigned)st.st_uid, (unsigned)geteuid(), path);
}

int snapshot_open_repo(const struct account *acct, git_repository **repo, char *err, size_t errlen)
{
	/* Not git_repository_open_bare(): it would take the .git of a checkout for a
	 * bare repository and move the branch checked out there under the user. */
	int orc = git_repository_open_ext(repo, acct->snapshot_repo, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
	if (orc == 0) {
		if (git_repository_is_bare(*repo)) {
			repo_unmark(acct->snapshot_repo);
			(void)allow_ntfs_names(*repo); /* a repository mailkeep did not make */
			return 0;
		}
		snprintf(err, errlen, "%s: a repository with a work tree; snapshot_repo must be a bare "
			 "repository of its own (mailkeep creates it where nothing exists)", acct->snapshot_repo);
		git_repository_free(*repo);
		*repo = NULL;
		return -1;
	}
	if (access(acct->snapshot_repo, F_OK) == 0) {
		char *real = NULL;
		struct stat st;
		int rc = -1, empty = dir_is_empty(acct->snapshot_repo);
		int mine = stat(acct->snapshot_repo, &st) == 0 && st.st_uid == geteuid();
		if (empty == 1 && mine && (real = realpath(acct->snapshot_repo, NULL))) {
			/* made beforehand (mkdir ~/Mail/personal.git): the repository
			 * goes there, in place of the link's target if it is one */
			git_error_clear();
			rc = create_repo(acct, real, &st, repo, err, errlen);
		} else if (empty == 0 && mine && orc == GIT_ENOTFOUND) {
			snprintf(err, errlen, "%s: not a git repository, and not empty; snapshot_repo must be a bare "
				 "repository, an empty directory or a path where nothing exists (mailkeep "
				 "writes nothing into it)", acct->snapshot_repo);
		} else {
			open_fail(acct->snapshot_repo, err, errlen);
		}
		free(real);
		return rc;
	}
	git_error_clear();
	return create_repo(acct, acct->snapshot_repo, NULL, repo, err, errlen);
}
