/* Push runner: for every folder of the source mirror, map it to a target folder
 * (creating it), compare the mirror with the push state, look up the messages
 * whose APPEND may have happened, APPEND the new ones in batches (the state is
 * saved before and after each batch), update changed flags and, with --delete,
 * remove what the mirror no longer has. This file walks the mirror and owns the
 * push state and the target folder; the operations on the target's messages are
 * in src/push_lookup.c (finding them) and src/push_target.c (appends, flags,
 * deletions). */
#include "push_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mailkeep/log.h"
#include "mailkeep/maildir.h"
#include "mailkeep/plan.h"
#include "mailkeep/state.h"
#include "mailkeep/utf7.h"

#define PUSH_STATE_FILE ".push-state"
#define MAX_MESSAGE ((off_t)1 << 30)      /* larger files are not pushed */
#define MAX_RECONNECTS 3
#define MAX_DEPTH 64

/* ---- small helpers ---- */

char *push_state_dir(const struct account *src, const struct account *target)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s/%s/.mailkeep/push/%s", src->root, src->name, target->name);
	return buf_detach(&b);
}

/* ---- push state on disk ---- */

/* A state file's bytes into *data: 1 when there is none, 0, or -1 with err. */
static int read_state_file(const char *path, struct buf *data, char *err, size_t errlen)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK); /* a FIFO: not waited on */
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	for (;;) {
		buf_grow(data, 65536);
		ssize_t n = read(fd, data->data + data->len, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		data->len += (size_t)n;
	}
	close(fd);
	return 0;
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

static int load_state(struct folder_run *f, int *damaged, char *err, size_t errlen)
{
	struct buf path = BUF_INIT, data = BUF_INIT;
	char perr[256];
	int rc = -1;
	*damaged = 0;
	memset(&f->st, 0, sizeof(f->st));
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
static int push_state_mkdirs(const struct push_run *r, const char *dir, char *err, size_t errlen)
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

/* Scan the mirror folder: one source message per (uidvalidity, uid), flags from
 * the file name, keywords from the folder's sync state. */
static int scan_source(struct folder_run *f, char *err, size_t errlen)
{
	struct folder_state fs;
	struct buf kw = BUF_INIT, all = BUF_INIT, dropped = BUF_INIT, add = BUF_INIT, rem = BUF_INIT;
	char serr[512];
	size_t n = 0, n_dropped = 0;
	int fwd_dropped = 0;
	if (maildir_scan(f->dir.data, &f->view, err, errlen) < 0)
		return -1;
	if (state_load(f->dir.data, &fs, serr, sizeof(serr)) < 0) {
		log_warn("push %s -> %s: folder \"%s\": %s; keywords are not pushed", f->r->src->name,
			 f->r->dst->name, f->name, serr);
		memset(&fs, 0, sizeof(fs));
	}
	if (!state_is_of(&fs, f->rel)) {
		/* swapped or copied by hand with another folder's directory: its files
		 * may be that folder's messages under this one's UIDs */
		snprintf(err, errlen, "the mirror's state is another folder's (its directory was moved or copied "
			 "by hand); sync the source account first");
		state_free(&fs);
		return -1;
	}
	if (f->view.foreign) {
		log_warn("push %s -> %s: folder \"%s\": %zu files not made by mailkeep are not pushed",
			 f->r->src->name, f->r->dst->name, f->name, f->view.foreign);
		f->skipped += f->view.foreign;
	}
	struct push_src *src = xcalloc(f->view.n + 1, sizeof(*src));
	size_t *file = xcalloc(f->view.n + 1, sizeof(*file));
	char **kws = xcalloc(f->view.n + 1, sizeof(*kws));
	for (size_t i = 0; i < f->view.n; i++) {
		const struct maildir_file *mf = &f->view.files[i];
		uint32_t uv = mf->uidvalidity ? mf->uidvalidity : fs.uidvalidity;
		if (!uv) {
			f->skipped++;
			continue;
		}
		/* a file with mailkeep's name whose date is not the one the sync state
		 * recorded for its UID is another message's (moved by hand from a folder
		 * with the same UIDVALIDITY; docs/design.md): never pushed as this one */
		const struct state_msg *sd = fs.uidvalidity == uv ? state_find(&fs, mf->uid) : NULL;
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
		const struct state_msg *sm = fs.uidvalidity == uv ? state_find(&fs, mf->uid) : NULL;
		push_keywords_normalise(sm ? sm->keywords : NULL, push_allowed_keywords(f), &kw);
		push_keywords_normalise(sm ? sm->keywords : NULL, NULL, &all);
		/* $Forwarded too is a keyword on the wire (the letter P) */
		unsigned flags = push_flags_allowed(mf->flags, push_allowed_keywords(f));
		if (strcmp(kw.data, all.data) || flags != mf->flags) {
			n_dropped++;
			fwd_dropped |= flags != mf->flags;
			push_flags_delta(0, all.data, 0, kw.data, &add, &rem);
			if (dropped.len < 200 && rem.len)
				buf_addf(&dropped, " %s", rem.data);
		}
		kws[n] = xstrdup(kw.data);
		src[n] = (struct push_src){ uv, mf->uid, flags, kws[n] };
		file[n] = i;
		n++;
	}
	/* sort by (uv, uid): the view is sorted by uid only */
	size_t *order = xcalloc(n + 1, sizeof(*order));
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(*order), cmp_src, src);
	f->src = xcalloc(n + 1, sizeof(*f->src));
	f->file = xcalloc(n + 1, sizeof(*f->file));
	f->kw = xcalloc(n + 1, sizeof(*f->kw));
	for (size_t i = 0; i < n; i++) {
		f->src[i] = src[order[i]];
		f->file[i] = file[order[i]];
		f->kw[i] = kws[order[i]];
	}
	f->n_src = n;
	/* RFC 3501 §7.1: keywords the folder cannot keep; say so rather than lose them quietly */
	if (n_dropped) {
		push_keywords_normalise(dropped.data, NULL, &kw); /* each once */
		log_warn("push %s -> %s: folder \"%s\": the target folder takes no new keywords (PERMANENTFLAGS "
			 "without \\*): %zu messages pushed without their keywords %s%s%s", f->r->src->name,
			 f->r->dst->name, f->name, n_dropped, fwd_dropped ? maildir_flag_to_imap(MFLAG_PASSED) : "",
			 fwd_dropped && kw.len ? " " : "", kw.data);
	}
	free(order);
	free(src);
	free(file);
	free(kws);
	state_free(&fs);
	buf_free(&kw);
	buf_free(&all);
	buf_free(&dropped);
	buf_free(&add);
	buf_free(&rem);
	return 0;
}

static void file_path(const struct folder_run *f, size_t i, struct buf *out)
{
	const struct maildir_file *mf = &f->view.files[f->file[i]];
	buf_reset(out);
	buf_addf(out, "%s/%s/%s", f->dir.data, mf->in_new ? "new" : "cur", maildir_view_name(&f->view, mf));
}

/* Open message i and scan it (push_msg_load); its mtime is the INTERNALDATE.
 * 1 when the file is gone (a mail reader renamed it), -1 on error. */
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
	m->date = (int64_t)sb.st_mtim.tv_sec;
	rc = 0;
out:
	if (rc != 0)
		push_msg_free(m);
	buf_free(&path);
	return rc;
}

/* ---- one folder ---- */

static struct imap_mailbox *find_target(struct push_run *r, const char *wire)
{
	for (size_t i = 0; i < r->list.n; i++) {
		struct imap_mailbox *mb = &r->list.items[i];
		if (!strcmp(mb->name, wire) || (!strcasecmp(wire, "INBOX") && !strcasecmp(mb->name, "INBOX")))
			return mb;
	}
	return NULL;
}

static void add_target(struct push_run *r, const char *wire)
{
	struct imap_mailbox mb = { .name = xstrdup(wire), .delim = r->delim };
	if (utf7_decode(mb.name, strlen(mb.name), &mb.utf8) < 0)
		mb.utf8 = NULL;
	r->list.items = xrealloc(r->list.items, (r->list.n + 1) * sizeof(*r->list.items));
	r->list.items[r->list.n++] = mb;
}

/* In a dry run, a listed \Noselect level that the run would CREATE: moved
 * behind the listed folders, so that the folders mapped to it after this one
 * see it planned (made once), as the real run sees it created. */
static void plan_listed(struct push_run *r, struct imap_mailbox *mb)
{
	size_t i = (size_t)(mb - r->list.items);
	struct imap_mailbox keep = *mb;
	memmove(mb, mb + 1, (r->list.n - i - 1) * sizeof(*mb));
	r->list.items[r->list.n - 1] = keep;
	r->n_listed--;
}

/* Merge two ascending index lists. */
static size_t merge_idx(const size_t *a, size_t na, const size_t *b, size_t nb, size_t *out)
{
	size_t i = 0, j = 0, o = 0;
	while (i < na || j < nb)
		out[o++] = j >= nb || (i < na && a[i] < b[j]) ? a[i++] : b[j++];
	return o;
}

/* Make sure the target folder exists (CREATE + SUBSCRIBE) and select it. A
 * folder with no push state yet is subscribed even when it exists: a run
 * killed between its CREATE and its SUBSCRIBE (SUBSCRIBE is idempotent). */
static int open_target(struct folder_run *f, int *created, char *err, size_t errlen)
{
	struct push_run *r = f->r;
	struct imap_mailbox *mb = find_target(r, f->wire.data);
	/* a \Noselect name is only a level of the hierarchy (a parent created with
	 * a child, "a" of "a.b" on a Maildir++ server): CREATE makes it a folder */
	int missing = !mb || (mb->flags & (IMAP_MBOX_NONEXISTENT | IMAP_MBOX_NOSELECT));
	/* in a dry run, a folder an earlier folder of this run would create */
	int planned = r->opt->dry_run && mb && (size_t)(mb - r->list.items) >= r->n_listed;
	int rc;
	*created = 0;
	f->keywords_ok = 1;
	if (!missing && !r->opt->dry_run) {
		struct buf path = BUF_INIT;
		struct stat sb;
		buf_addf(&path, "%s/%s", f->state_dir.data, PUSH_STATE_FILE);
		if (lstat(path.data, &sb) < 0 && errno == ENOENT) {
			char serr[512];
			if (imap_subscribe(r->imap, f->wire.data, serr, sizeof(serr)) < 0)
				log_warn("push %s -> %s: folder \"%s\": %s", r->src->name, r->dst->name,
					 f->tname.data, serr);
		}
		buf_free(&path);
	}
	if (missing || planned) {
		if (r->opt->dry_run) {
			/* listed as a real run would list it after its CREATE, so
			 * that the folders after it map the same way (a "Sent Items"
			 * joins the "Sent" just made, push.md "Folder names") */
			if (!planned)
				fprintf(r->out, "would create folder \"%s\"\n", f->tname.data);
			if (!mb)
				add_target(r, f->wire.data);
			else if (!planned)
				plan_listed(r, mb);
			*created = !planned;
			return 0;
		}
		rc = imap_create(r->imap, f->wire.data, err, errlen);
		if (rc < 0)
			return rc;
		*created = rc == 0;
		char serr[512];
		if (imap_subscribe(r->imap, f->wire.data, serr, sizeof(serr)) < 0)
			log_warn("push %s -> %s: folder \"%s\": %s", r->src->name, r->dst->name, f->tname.data, serr);
		if (!mb)
			add_target(r, f->wire.data);
		else
			mb->flags &= ~(unsigned)(IMAP_MBOX_NONEXISTENT | IMAP_MBOX_NOSELECT);
	}
	f->exists_on_target = 1;
	return imap_select(r->imap, f->wire.data, r->opt->dry_run, &f->info, &f->keywords_ok, &f->permanent,
			   err, errlen);
}

static void folder_free(struct folder_run *f)
{
	for (size_t i = 0; i < f->n_src; i++)
		free(f->kw[i]);
	free(f->kw);
	free(f->refused);
	free(f->stored);
	free(f->src);
	free(f->file);
	maildir_view_free(&f->view);
	push_state_free(&f->st);
	buf_free(&f->dir);
	buf_free(&f->wire);
	buf_free(&f->tname);
	buf_free(&f->state_dir);
	buf_free(&f->saved);
	buf_free(&f->permanent);
}

/* The folder's SPECIAL-USE on the source server, as the last sync recorded it. */
static unsigned source_special(const char *dir)
{
	struct folder_state sst;
	char serr[256];
	unsigned special = 0;
	if (state_load(dir, &sst, serr, sizeof(serr)) == 0) {
		special = sst.special;
		state_free(&sst);
	}
	return special;
}

/* When it is not known what the target folder holds, every message is looked
 * up before it is appended: a damaged or lost state over a folder that has
 * mail, another target folder than last time, a recreated or deleted one. */
static int target_unknown(const struct folder_run *f, int damaged)
{
	return damaged || (f->st.target && strcmp(f->st.target, f->wire.data)) ||
	       (f->st.tgt_uv && f->exists_on_target && f->st.tgt_uv != f->info.uidvalidity) ||
	       (!f->st.target && f->info.exists) || (!f->exists_on_target && f->st.n);
}

/* Add the folder's counts to the run's, and report it (-v; --dry-run's plan). */
static void folder_report(struct push_run *r, const struct folder_run *f, int created, int rc)
{
	r->res->counts.folders_created += (uint64_t)created;
	r->res->counts.appended += f->appended;
	r->res->counts.bytes += f->bytes;
	r->res->counts.found += f->found;
	r->res->counts.flag_updates += f->updated;
	r->res->counts.deleted += f->deleted;
	r->res->counts.skipped += f->skipped;
	r->res->counts.failed += f->failed;
	if (f->failed && rc == 0)
		r->res->status = PUSH_PARTIAL;
	if (!f->wire.data || (rc != 0 && !f->appended))
		return;
	const char *verb = r->opt->dry_run ? "would append" : "appended";
	if (r->opt->dry_run)
		fprintf(r->out, "folder \"%s\" -> \"%s\": %s %" PRIu64 " (%" PRIu64 " bytes), %" PRIu64
			" already there, %" PRIu64 " flag updates, %" PRIu64 " to delete\n", f->name,
			f->tname.data, verb, f->appended, f->bytes, f->found, f->updated, f->deleted);
	log_info("push %s -> %s: folder \"%s\" -> \"%s\"%s: %s %" PRIu64 " (%" PRIu64 " bytes), %" PRIu64
		 " already there, %" PRIu64 " flag updates, %" PRIu64 " deleted, %" PRIu64 " skipped, %"
		 PRIu64 " failed", r->src->name, r->dst->name, f->name, f->tname.data,
		 created ? " (new)" : "", verb, f->appended, f->bytes, f->found, f->updated, f->deleted,
		 f->skipped, f->failed);
}

static int push_folder(struct push_run *r, const char *rel, char *err, size_t errlen)
{
	struct folder_run f = { .r = r, .rel = rel };
	struct push_name nm = { 0 };
	struct push_plan plan = { 0 };
	struct buf name = BUF_INIT;
	size_t *missing = NULL, *update = NULL, *todo = NULL, n_missing = 0, n_update = 0;
	int rc = -1, created = 0, damaged = 0, unknown = 0;

	if (push_name_from_path(rel, &nm) < 0) {
		snprintf(err, errlen, "directory name is not a valid folder name escape");
		goto out;
	}
	push_name_join(&nm, '/', &name);
	f.name = name.data;
	buf_addf(&f.dir, "%s/%s", r->src_dir, rel);
	buf_addf(&f.state_dir, "%s/%s", r->state_root, rel);
	if (push_map_folder(&nm, push_ns_levels(&r->src_ns, &nm), source_special(f.dir.data), r->src->push_map,
			    r->src->n_push_map, &r->list, r->delim, r->prefix, &f.wire, &f.tname, err, errlen) < 0)
		goto out;
	if ((rc = open_target(&f, &created, err, errlen)) < 0)
		goto out;
	f.uid_floor = f.info.uidnext;
	rc = -1;
	if (scan_source(&f, err, errlen) < 0 || load_state(&f, &damaged, err, errlen) < 0)
		goto out;
	unknown = target_unknown(&f, damaged);
	if (unknown)
		push_state_clear(&f.st);
	/* no UIDNEXT from SELECT (it is optional): an APPENDUID must at least
	 * name a UID above every one the state holds */
	for (size_t k = 0; !f.info.uidnext && k < f.st.n; k++)
		if (f.st.e[k].tgt_uid >= f.uid_floor)
			f.uid_floor = (uint64_t)f.st.e[k].tgt_uid + 1;
	free(f.st.target);
	f.st.target = xstrdup(f.wire.data);
	f.st.tgt_uv = f.info.uidvalidity;
	if (unknown) {
		plan.lookup = xcalloc(f.n_src + 1, sizeof(*plan.lookup));
		for (size_t i = 0; i < f.n_src; i++)
			plan.lookup[plan.n_lookup++] = i;
	} else {
		push_plan_folder(f.src, f.n_src, &f.st, &plan);
	}
	missing = xcalloc(f.n_src + 1, sizeof(*missing));
	update = xcalloc(f.n_src + 1, sizeof(*update));
	todo = xcalloc(f.n_src + 1, sizeof(*todo));
	if (plan.n_update)
		memcpy(update, plan.update, plan.n_update * sizeof(*update));
	n_update = plan.n_update;
	if (plan.n_lookup && (rc = push_lookup_messages(&f, plan.lookup, plan.n_lookup, 0, missing,
							&n_missing, update, &n_update, err, errlen)) < 0)
		goto out;
	rc = -1;
	f.resolved = 1;
	if (push_save_state(&f, err, errlen) < 0)
		goto out;
	size_t n_todo = merge_idx(plan.append, plan.n_append, missing, n_missing, todo);
	/* the appends checked even after a refusal, while the connection lasts:
	 * what the check saw is recorded, not left in doubt */
	int arc = push_append_messages(&f, todo, n_todo, update, &n_update, err, errlen);
	char cerr[512];
	if (imap_connection_lost(arc)) {
		rc = arc;
		goto out;
	}
	rc = push_check_stored(&f, arc < 0 ? cerr : err, arc < 0 ? sizeof(cerr) : errlen);
	if (arc < 0 && imap_connection_lost(rc))
		snprintf(err, errlen, "%s", cerr);
	else if (arc < 0)
		rc = arc;
	if (rc < 0)
		goto out;
	if ((rc = push_update_flags(&f, update, n_update, err, errlen)) < 0)
		goto out;
	if ((rc = push_delete_orphans(&f, err, errlen)) < 0)
		goto out;
	if ((rc = push_save_state(&f, err, errlen)) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0 && f.resolved) {
		/* keep what this run learnt (appends recorded, pending marks); before
		 * the lookups are done the state on disk is the better one */
		char serr[512];
		if (push_save_state(&f, serr, sizeof(serr)) < 0)
			log_warn("%s", serr);
	}
	folder_report(r, &f, created, rc);
	free(missing);
	free(update);
	free(todo);
	push_plan_free(&plan);
	push_name_free(&nm);
	folder_free(&f);
	buf_free(&name);
	return rc;
}

/* ---- the account ---- */

static int is_dir(const char *path)
{
	struct stat sb;
	return lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Every folder of the mirror: a directory with cur/, below the account
 * directory, not hidden (".mailkeep"), not cur/new/tmp. */
static void find_folders(const char *base, const char *rel, unsigned depth, struct strlist *out)
{
	struct buf p = BUF_INIT, child = BUF_INIT, full = BUF_INIT;
	DIR *d;
	if (depth > MAX_DEPTH)
		return;
	buf_addf(&p, "%s%s%s", base, *rel ? "/" : "", rel);
	d = opendir(p.data);
	if (!d)
		goto out;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "cur") || !strcmp(de->d_name, "new") ||
		    !strcmp(de->d_name, "tmp"))
			continue;
		buf_reset(&child);
		buf_addf(&child, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
		buf_reset(&full);
		buf_addf(&full, "%s/%s", base, child.data);
		if (!is_dir(full.data))
			continue;
		buf_adds(&full, "/cur");
		if (is_dir(full.data)) {
			out->items = xrealloc(out->items, (out->n + 1) * sizeof(*out->items));
			out->items[out->n++] = xstrdup(child.data);
		}
		find_folders(base, child.data, depth + 1, out);
	}
	closedir(d);
out:
	buf_free(&p);
	buf_free(&child);
	buf_free(&full);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void close_imap(struct push_run *r)
{
	if (!r->imap)
		return;
	r->res->round_trips += imap_round_trips(r->imap);
	imap_close(r->imap);
	r->imap = NULL;
}

static int connect_login(struct push_run *r, char *err, size_t errlen)
{
	int code = 0;
	close_imap(r);
	r->imap = imap_connect(r->dst, &code, err, errlen);
	if (!r->imap)
		return code;
	int rc = imap_login(r->imap, r->dst->user, r->password, err, errlen);
	if (rc == 0)
		rc = imap_compress(r->imap, err, errlen);
	if (rc < 0)
		close_imap(r);
	return rc;
}

/* The push states say what is on the target mailbox they were written for:
 * read for another one (TARGET's user changed), whose folders can have the
 * same UIDVALIDITY, they would have messages taken for appended and --delete
 * expunge that mailbox's UIDs. -1 (err set) then; the same user under another
 * host name is the same mailbox, as for sync (check_server() in sync.c). 1
 * when the record is to be written (none yet: no push, or states of an older
 * version; or another host name), else 0. */
static int check_target(const struct push_run *r, struct buf *path, char *err, size_t errlen)
{
	char had[600];
	buf_addf(path, "%s/.server", r->state_root);
	int rc = state_server_check(path->data, r->dst->user, r->dst->host, had, sizeof(had));
	if (rc < 0)
		snprintf(err, errlen, "%s records what was pushed to %s; if the target is another mailbox "
			 "now, remove that directory (the next push looks every message up on the target, "
			 "nothing is appended twice)", r->state_root, had);
	else if (rc == 2)
		log_info("push %s -> %s: the target was host %s, now %s: taken for the same mailbox",
			 r->src->name, r->dst->name, had, r->dst->host);
	return rc < 0 ? -1 : rc ? 1 : 0;
}

static void record_target(const struct push_run *r, const char *path)
{
	char err[600];
	if (push_state_mkdirs(r, r->state_root, err, sizeof(err)) < 0 ||
	    state_server_save(path, r->dst->user, r->dst->host, err, sizeof(err)) < 0)
		log_warn("push %s -> %s: cannot record the target mailbox (tried again next push): %s",
			 r->src->name, r->dst->name, err);
}

/* Log in and learn the target's folders, delimiter and personal namespace. */
static int open_server(struct push_run *r, char *err, size_t errlen)
{
	char ns_delim = 0;
	int rc = connect_login(r, err, errlen);
	if (rc == 0)
		rc = imap_namespace_personal(r->imap, &r->prefix, &ns_delim, err, errlen);
	if (rc >= 0)
		rc = imap_list_special(r->imap, &r->list, err, errlen);
	if (rc < 0)
		return rc;
	r->n_listed = r->list.n;
	/* the personal namespace's delimiter is the one its folders are made
	 * with (RFC 2342); the first LIST line's, where there is no NAMESPACE,
	 * could be another namespace's or a damaged line's, and a folder created
	 * with a wrong one stays on the target */
	r->delim = ns_delim ? ns_delim : imap_delimiter(r->imap);
	if (!r->delim && r->list.n <= 1)
		r->delim = '/'; /* a server with INBOX only says nothing; '/' is the common choice */
	return 0;
}

void push_account(const struct account *src, const struct account *target,
		  const struct push_options *opt, struct push_result *res)
{
	struct push_run r = { .src = src, .dst = target, .opt = opt, .res = res };
	struct strlist folders = { 0 };
	struct buf target_file = BUF_INIT;
	struct timespec t0, t1;
	char err[900];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(res, 0, sizeof(*res));
	res->status = PUSH_FAILED;
	r.out = opt->out ? opt->out : stdout;
	struct buf d = BUF_INIT;
	buf_addf(&d, "%s/%s", src->root, src->name);
	r.src_dir = buf_detach(&d);
	r.state_root = push_state_dir(src, target);
	if (!is_dir(r.src_dir)) {
		snprintf(res->error, sizeof(res->error), "account %s: no mirror in %s (run mailkeep sync %s "
			 "first)", src->name, r.src_dir, src->name);
		goto out;
	}
	char *ns = NULL;
	if (state_namespace_load(r.src_dir, &ns) == 0 && ns[0] && push_name_from_path(ns, &r.src_ns) < 0)
		memset(&r.src_ns, 0, sizeof(r.src_ns));
	free(ns);
	find_folders(r.src_dir, "", 0, &folders);
	r.folders = &folders;
	if (folders.n)
		qsort(folders.items, folders.n, sizeof(*folders.items), cmp_str);
	int unrecorded = check_target(&r, &target_file, err, sizeof(err));
	if (unrecorded < 0) {
		snprintf(res->error, sizeof(res->error), "account %s: %s", target->name, err);
		goto out;
	}
	r.password = config_get_password(target, err, sizeof(err));
	if (!r.password || open_server(&r, err, sizeof(err)) < 0) {
		snprintf(res->error, sizeof(res->error), "account %s: %s", target->name, err);
		goto out;
	}
	if (unrecorded && !opt->dry_run)
		record_target(&r, target_file.data);
	res->status = PUSH_OK;
	for (size_t i = 0; i < folders.n; i++) {
		if (!r.imap && (r.reconnects >= MAX_RECONNECTS ||
				(r.reconnects++, connect_login(&r, err, sizeof(err)) < 0))) {
			log_error("push %s -> %s: folder \"%s\": not pushed: no connection", src->name, target->name,
				  folders.items[i]);
			res->counts.folders_failed++;
			continue;
		}
		res->counts.folders++;
		int rc = push_folder(&r, folders.items[i], err, sizeof(err));
		if (rc < 0) {
			log_error("push %s -> %s: folder \"%s\": %s", src->name, target->name, folders.items[i], err);
			res->counts.folders_failed++;
			if (imap_connection_lost(rc))
				close_imap(&r);
		}
	}
	/* "nothing could be pushed" (exit 4) only when nothing was: a run that
	 * appended or changed something before every folder failed is partial */
	int changed = res->counts.appended || res->counts.found || res->counts.flag_updates ||
		      res->counts.deleted;
	if (res->counts.folders_failed || res->counts.failed)
		res->status = res->counts.folders_failed == folders.n && folders.n && !changed ? PUSH_FAILED
											 : PUSH_PARTIAL;
	if (res->status == PUSH_FAILED)
		snprintf(res->error, sizeof(res->error), "account %s: no folder could be pushed", target->name);
out:
	close_imap(&r);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	res->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (r.password) {
		explicit_bzero(r.password, strlen(r.password));
		free(r.password);
	}
	for (size_t i = 0; i < folders.n; i++)
		free(folders.items[i]);
	free(folders.items);
	imap_mailbox_list_free(&r.list);
	free(r.prefix);
	free(r.src_dir);
	free(r.state_root);
	buf_free(&target_file);
	push_name_free(&r.src_ns);
}
