/* Push runner, the mirror's side of one folder: its messages (one per UID,
 * flags from the file name, keywords from the folder's sync state), each opened
 * to be sent, and its push state on disk (read, written atomically, and read for
 * the other folders' claims on the same target folder). */
#include "push_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailkeep/log.h"
#include "mailkeep/maildir.h"
#include "mailkeep/plan.h"
#include "mailkeep/state.h"

#define MAX_MESSAGE ((off_t)1 << 30)      /* larger files are not pushed */

/* ---- push state on disk ---- */

/* A state file's bytes into *data: 1 when there is none, 0, or -1 with err.
 * One opened to others since (a chmod, a copy made with the user's umask) is
 * private again, as every state file is (docs/design.md). */
static int read_state_file(const char *path, struct buf *data, char *err, size_t errlen)
{
	if (maildir_read_file(path, SIZE_MAX, MAILDIR_READ_PRIVATE, data) == 0)
		return 0;
	if (errno == ENOENT)
		return 1;
	snprintf(err, errlen, "%s: %s", path, errno == EINVAL ? "not a regular file" : strerror(errno));
	return -1;
}

size_t push_other_claims(const struct folder_run *f, uint32_t **out)
{
	const struct strlist *fl = f->r->folders;
	struct buf path = BUF_INIT, data = BUF_INIT;
	size_t n = 0, cap = 0;
	char err[256];
	*out = NULL;
	for (size_t i = 0; fl && f->st.target && i < fl->n; i++) {
		struct push_state st;
		char perr[256];
		buf_reset(&path);
		buf_addf(&path, "%s/%s", f->r->state_root, fl->items[i]);
		if (!strcmp(path.data, f->state_dir.data))
			continue;
		buf_addf(&path, "/%s", PUSH_STATE_FILE);
		buf_reset(&data);
		if (read_state_file(path.data, &data, err, sizeof(err)) != 0)
			continue;
		if (push_state_parse(data.data ? data.data : "", data.len, &st, perr, sizeof(perr)) < 0) {
			push_state_free(&st);
			continue;
		}
		/* names compared without regard to case: a server that folds it
		 * (Exchange, Gmail) selects its "Work" for "work"; one that does
		 * not has two folders, and their UIDVALIDITYs tell them apart (a
		 * copy kept by mistake is an extra message, not a lost one) */
		if (st.target && !strcasecmp(st.target, f->st.target) && st.tgt_uv == f->st.tgt_uv) {
			for (size_t k = 0; k < st.n; k++) {
				if (st.e[k].pending || !st.e[k].tgt_uid)
					continue;
				if (n == cap) {
					cap = cap ? cap * 2 : 64;
					*out = xrealloc(*out, cap * sizeof(**out));
				}
				(*out)[n++] = st.e[k].tgt_uid;
			}
		}
		push_state_free(&st);
	}
	buf_free(&path);
	buf_free(&data);
	return n;
}

int push_load_state(struct folder_run *f, int *damaged, char *err, size_t errlen)
{
	struct buf path = BUF_INIT, data = BUF_INIT;
	char perr[256];
	int rc = -1;
	*damaged = 0;
	memset(&f->st, 0, sizeof(f->st));
	maildir_make_private_below(f->r->state_root, f->rel);
	buf_addf(&path, "%s/%s", f->state_dir.data, PUSH_STATE_FILE);
	int r = read_state_file(path.data, &data, err, errlen);
	if (r != 0) {
		rc = r > 0 ? 0 : -1;
		goto out;
	}
	if (push_state_parse(data.data ? data.data : "", data.len, &f->st, perr, sizeof(perr)) < 0) {
		log_warn("push %s -> %s: %s: %s; every message of the folder is looked up on the target",
			 f->r->src->name, f->r->dst->name, path.data, perr);
		*damaged = 1;
	} else {
		buf_add(&f->saved, data.data ? data.data : "", data.len);
	}
	rc = 0;
out:
	buf_free(&path);
	buf_free(&data);
	return rc;
}


/* Make DIR, a directory of the push states below the account directory, never
 * through a symbolic link: no state is written outside the mirror. */
int push_state_mkdirs(const struct push_run *r, const char *dir, char *err, size_t errlen)
{
	size_t n = strlen(r->src_dir);
	if (strncmp(dir, r->src_dir, n) || dir[n] != '/') {
		snprintf(err, errlen, "%s: not in %s", dir, r->src_dir);
		return -1;
	}
	return maildir_mkdirs(r->src_dir, dir + n + 1, err, errlen);
}

/* Write the state atomically: temp file, fsync, rename, fsync of the directory.
 * Nothing is written when it did not change, or in a dry run. */
int push_save_state(struct folder_run *f, char *err, size_t errlen)
{
	struct buf text = BUF_INIT, path = BUF_INIT;
	int rc = -1;
	if (f->r->opt->dry_run)
		return 0;
	push_state_format(&f->st, &text);
	if (text.len == f->saved.len && !memcmp(text.data, f->saved.data, text.len)) {
		rc = 0;
		goto out;
	}
	if (push_state_mkdirs(f->r, f->state_dir.data, err, errlen) < 0)
		goto out;
	buf_addf(&path, "%s/%s", f->state_dir.data, PUSH_STATE_FILE);
	if (maildir_write_file_atomic(path.data, text.data, text.len, err, errlen) < 0)
		goto out;
	buf_reset(&f->saved);
	buf_add(&f->saved, text.data, text.len);
	rc = 0;
out:
	buf_free(&text);
	buf_free(&path);
	return rc;
}

/* ---- the mirror folder ---- */

static int cmp_src(const void *a, const void *b, void *ctx)
{
	const struct push_src *s = ctx;
	const struct push_src *x = &s[*(const size_t *)a], *y = &s[*(const size_t *)b];
	if (x->uv != y->uv)
		return x->uv < y->uv ? -1 : 1;
	return (x->uid > y->uid) - (x->uid < y->uid);
}

const char *push_allowed_keywords(const struct folder_run *f)
{
	return f->keywords_ok ? NULL : f->permanent.data ? f->permanent.data : "";
}

/* The keywords (and $Forwarded) a folder that takes no new keywords drops. */
struct scan_dropped {
	size_t n_dropped;   /* messages pushed without some of theirs */
	int fwd_dropped;    /* $Forwarded among them */
	struct buf dropped; /* their names, the first 200 bytes' worth (owned) */
};

/* The mirror folder's files scanned into f->view and its sync state read
 * into FS (the caller's to state_free() on 0; an unreadable state taken for
 * an empty one marked keywords-capped: push then removes no keyword); files
 * not made by mailkeep counted skipped. -1 with err when the folder cannot be
 * scanned or the state is another folder's. */
static int scan_load_state(struct folder_run *f, struct folder_state *fs, char *err, size_t errlen)
{
	char serr[512];
	if (maildir_scan(f->dir.data, &f->view, err, errlen) < 0)
		return -1;
	if (state_load(f->dir.data, fs, serr, sizeof(serr)) < 0) {
		log_warn("push %s -> %s: folder \"%s\": %s; keywords are not pushed", f->r->src->name,
			 f->r->dst->name, f->name, serr);
		memset(fs, 0, sizeof(*fs));
		/* its keywords unknown: their absence is no removal on the source */
		fs->keywords_capped = 1;
	}
	if (!state_is_of(fs, f->rel)) {
		/* swapped or copied by hand with another folder's directory: its files
		 * may be that folder's messages under this one's UIDs */
		snprintf(err, errlen, "the mirror's state is another folder's (its directory was moved or copied "
			 "by hand); sync the source account first");
		state_free(fs);
		return -1;
	}
	if (f->view.foreign) {
		log_warn("push %s -> %s: folder \"%s\": %zu files not made by mailkeep are not pushed",
			 f->r->src->name, f->r->dst->name, f->name, f->view.foreign);
		f->skipped += f->view.foreign;
	}
	return 0;
}

/* The source messages of f->view, one per (uidvalidity, uid), into
 * SRC/FILE (their keywords held in f->kw), flags from the file name,
 * keywords from FS, those the target folder cannot keep dropped (noted in D).
 * The number of messages. */
static size_t scan_files(struct folder_run *f, const struct folder_state *fs, struct push_src *src, size_t *file,
			 struct scan_dropped *d)
{
	struct buf kw = BUF_INIT, all = BUF_INIT, add = BUF_INIT, rem = BUF_INIT;
	size_t n = 0;
	for (size_t i = 0; i < f->view.n; i++) {
		const struct maildir_file *mf = &f->view.files[i];
		uint32_t uv = mf->uidvalidity ? mf->uidvalidity : fs->uidvalidity;
		if (!uv) {
			f->skipped++;
			continue;
		}
		/* a file with mailkeep's name whose date is not the one the sync state
		 * recorded for its UID is another message's (moved by hand from a folder
		 * with the same UIDVALIDITY; docs/design.md): never pushed as this one */
		const struct state_msg *sd = fs->uidvalidity == uv ? state_find(fs, mf->uid) : NULL;
		if (sd && !plan_file_stands(&f->view, i, uv, sd->date)) {
			log_debug("push: folder \"%s\": %s: another message's file (the state has UID %" PRIu32
				  " dated %" PRId64 "): not pushed", f->name, maildir_view_name(&f->view, mf), mf->uid,
				  sd->date);
			f->skipped++;
			continue;
		}
		/* a uid twice (a reader copied the file): the first one, cur/ sorts first */
		int dup = 0;
		for (size_t j = n; j > 0 && src[j - 1].uid == mf->uid && !dup; j--)
			dup = src[j - 1].uv == uv;
		if (dup)
			continue;
		const struct state_msg *sm = fs->uidvalidity == uv ? state_find(fs, mf->uid) : NULL;
		push_keywords_normalise(sm ? sm->keywords : NULL, push_allowed_keywords(f), &kw);
		push_keywords_normalise(sm ? sm->keywords : NULL, NULL, &all);
		/* $Forwarded too is a keyword on the wire (the letter P) */
		unsigned flags = push_flags_allowed(mf->flags, push_allowed_keywords(f));
		if (strcmp(kw.data, all.data) || flags != mf->flags) {
			d->n_dropped++;
			d->fwd_dropped |= flags != mf->flags;
			push_flags_delta(0, all.data, 0, kw.data, &add, &rem);
			if (d->dropped.len < 200 && rem.len)
				buf_addf(&d->dropped, " %s", rem.data);
		}
		/* f->kw holds a subset of the state's sets, normalised: never past the cap the state kept to */
		const char *held = kwset_intern(&f->kw, kw.data);
		src[n] = (struct push_src){ uv, mf->uid, flags, held ? held : "", !sm };
		file[n] = i;
		n++;
	}
	buf_free(&kw);
	buf_free(&all);
	buf_free(&add);
	buf_free(&rem);
	return n;
}

/* SRC/FILE[0..n) sorted into f->src and f->file. */
static void scan_sort(struct folder_run *f, struct push_src *src, const size_t *file, size_t n)
{
	/* sort by (uv, uid): the view is sorted by uid only */
	size_t *order = xcalloc(n + 1, sizeof(*order));
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(*order), cmp_src, src);
	f->src = xcalloc(n + 1, sizeof(*f->src));
	f->file = xcalloc(n + 1, sizeof(*f->file));
	for (size_t i = 0; i < n; i++) {
		f->src[i] = src[order[i]];
		f->file[i] = file[order[i]];
	}
	f->n_src = n;
	free(order);
}

/* A warning naming the keywords that D says were dropped, if any. */
static void scan_warn_dropped(const struct folder_run *f, const struct scan_dropped *d)
{
	struct buf kw = BUF_INIT;
	/* RFC 3501 §7.1: keywords the folder cannot keep; say so rather than lose them quietly */
	if (d->n_dropped) {
		push_keywords_normalise(d->dropped.data, NULL, &kw); /* each once */
		log_warn("push %s -> %s: folder \"%s\": the target folder takes no new keywords (PERMANENTFLAGS "
			 "without \\*): %zu messages %s without their keywords %s%s%s", f->r->src->name,
			 f->r->dst->name, f->name, d->n_dropped, f->r->opt->dry_run ? "to push" : "pushed",
			 d->fwd_dropped ? maildir_flag_to_imap(MFLAG_PASSED) : "", d->fwd_dropped && kw.len ? " " : "",
			 kw.data);
	}
	buf_free(&kw);
}

/* Scan the mirror folder: one source message per (uidvalidity, uid), flags from
 * the file name, keywords from the folder's sync state. */
int push_scan_source(struct folder_run *f, char *err, size_t errlen)
{
	struct folder_state fs;
	struct scan_dropped d = { .dropped = BUF_INIT };
	if (scan_load_state(f, &fs, err, errlen) < 0)
		return -1;
	struct push_src *src = xcalloc(f->view.n + 1, sizeof(*src));
	size_t *file = xcalloc(f->view.n + 1, sizeof(*file));
	size_t n = scan_files(f, &fs, src, file, &d);
	f->keywords_capped = fs.keywords_capped;
	scan_sort(f, src, file, n);
	scan_warn_dropped(f, &d);
	free(src);
	free(file);
	state_free(&fs);
	buf_free(&d.dropped);
	return 0;
}

static void file_path(const struct folder_run *f, size_t i, struct buf *out)
{
	const struct maildir_file *mf = &f->view.files[f->file[i]];
	buf_reset(out);
	buf_addf(out, "%s/%s/%s", f->dir.data, mf->in_new ? "new" : "cur", maildir_view_name(&f->view, mf));
}

/* Open message i and scan it (push_msg_load); the date its name carries is
 * the INTERNALDATE, else its mtime. 1 when the file is gone (a mail reader
 * renamed it), -1 on error. */
int push_open_message(struct folder_run *f, size_t i, int keep, struct push_msg *m, char *err, size_t errlen)
{
	struct buf path = BUF_INIT;
	struct stat sb;
	int fd, rc = -1;
	char lerr[256];
	file_path(f, i, &path);
	push_msg_free(m);
	fd = open(path.data, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		rc = errno == ENOENT ? 1 : -1;
		snprintf(err, errlen, "%s: %s", path.data, strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > MAX_MESSAGE) {
		snprintf(err, errlen, "%s: not a regular file, or larger than 1 GiB", path.data);
		close(fd);
		goto out;
	}
	if (push_msg_load(fd, (uint64_t)sb.st_size, keep, m, lerr, sizeof(lerr)) < 0) {
		snprintf(err, errlen, "%s: %s", path.data, lerr);
		goto out;
	}
	/* the INTERNALDATE its mailkeep name carries: the mtime is lost by a copy
	 * without -p, a snapshot extracted, a touch; only a date before 1970
	 * (the name says 0) is the mtime's alone */
	const struct maildir_file *mf = &f->view.files[f->file[i]];
	int64_t named;
	m->date = (int64_t)sb.st_mtim.tv_sec;
	if (mf->uidvalidity && maildir_name_leading_date(maildir_view_name(&f->view, mf), &named) == 0 && named > 0)
		m->date = named;
	rc = 0;
out:
	if (rc != 0)
		push_msg_free(m);
	buf_free(&path);
	return rc;
}
