/* Push runner, one folder: map it to a target folder (creating it), compare the
 * mirror with the push state, look up the messages whose APPEND may have
 * happened, APPEND the new ones in batches (the state is saved before and after
 * each batch), update changed flags and, with --delete, remove what the mirror
 * no longer has. The mirror's side (its messages, the push state) is
 * src/push_mirror.c's; the operations on the target's messages are in
 * src/push_lookup.c (finding them), src/push_appenduid.c (the UIDs the target
 * gave asked back), src/push_target.c (appends) and src/push_update.c (flags,
 * deletions). */
#include "push_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "mailkeep/log.h"
#include "mailkeep/state.h"
#include "mailkeep/utf7.h"

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

/* In a dry run, a folder the target does not list but that opens (its
 * EXAMINE): added among the listed folders, not the planned ones, so that a
 * folder mapped to it after this one opens it too, as in the real run. */
static void add_listed(struct push_run *r, const char *wire)
{
	add_target(r, wire);
	struct imap_mailbox keep = r->list.items[r->list.n - 1];
	memmove(r->list.items + r->n_listed + 1, r->list.items + r->n_listed,
		(r->list.n - 1 - r->n_listed) * sizeof(*r->list.items));
	r->list.items[r->n_listed++] = keep;
}

/* Merge two ascending index lists. */
static size_t merge_idx(const size_t *a, size_t na, const size_t *b, size_t nb, size_t *out)
{
	size_t i = 0, j = 0, o = 0;
	while (i < na || j < nb)
		out[o++] = j >= nb || (i < na && a[i] < b[j]) ? a[i++] : b[j++];
	return o;
}

/* After a CREATE answered NO (its text in ERR): a plain NO can mean "it
 * exists" without [ALREADYEXISTS], which RFC 5530 makes a SHOULD (a server
 * that folds case has "work" as its "Work", unlisted by that name). Its SELECT
 * tells: the folder is then used as it is; otherwise the CREATE's error. */
static int open_refused(struct folder_run *f, struct imap_mailbox *mb, char *err, size_t errlen)
{
	struct push_run *r = f->r;
	char cerr[512], serr[512];
	snprintf(cerr, sizeof(cerr), "%s", err);
	int rc = imap_select(r->imap, f->wire.data, 0, &f->info, &f->keywords_ok, &f->permanent, serr,
			     sizeof(serr));
	if (rc == IMAP_ERR_NO)
		snprintf(err, errlen, "%s", cerr);
	else if (rc < 0)
		snprintf(err, errlen, "%s", serr);
	if (rc < 0)
		return rc;
	log_debug("push %s -> %s: folder \"%s\": CREATE refused (%s), but the folder opens", r->src->name,
		  r->dst->name, f->tname.data, cerr);
	if (!mb)
		add_target(r, f->wire.data);
	else
		mb->flags &= ~(unsigned)(IMAP_MBOX_NONEXISTENT | IMAP_MBOX_NOSELECT);
	f->exists_on_target = 1;
	return 0;
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
	/* the warnings about the target's messages (keywords not kept) name this
	 * folder, and its first messages get them, as sync's do: not only those of
	 * the first folders of the run */
	imap_set_folder(r->imap, f->tname.data);
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
			/* one the target does not list may open all the same (a
			 * server that folds case has "work" as its "Work"): the
			 * real run's CREATE is refused and it is used, so here too */
			if (!mb) {
				rc = imap_select(r->imap, f->wire.data, 1, &f->info, &f->keywords_ok, &f->permanent,
						 err, errlen);
				if (rc != IMAP_ERR_NO) {
					if (rc == 0) {
						add_listed(r, f->wire.data);
						f->exists_on_target = 1;
					}
					return rc;
				}
				f->keywords_ok = 1;
			}
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
		if (rc == IMAP_ERR_NO)
			return open_refused(f, mb, err, errlen);
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
	kwset_free(&f->kw);
	free(f->refused);
	free(f->kw_again);
	free(f->bare);
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
		 " already there, %" PRIu64 " flag updates, %" PRIu64 " %s, %" PRIu64 " skipped, %" PRIu64 " failed",
		 r->src->name, r->dst->name, f->name, f->tname.data, created ? " (new)" : "", verb, f->appended,
		 f->bytes, f->found, f->updated, f->deleted, r->opt->dry_run ? "to delete" : "deleted", f->skipped,
		 f->failed);
}

/* The folder's name from its directory REL (NM and NAME, the caller's to
 * free, f->name pointing into NAME), its directories, its target name and
 * the target folder opened (*CREATED when made). 0, -1 or an IMAP_ERR_* code
 * with err. */
static int folder_target(struct folder_run *f, struct push_name *nm, struct buf *name, int *created, char *err,
			 size_t errlen)
{
	/* the name and the map: before any command, the connection stays usable */
	int rc = IMAP_ERR_LOCAL;
	if (push_name_from_path(f->rel, nm) < 0) {
		snprintf(err, errlen, "directory name is not a valid folder name escape");
		goto out;
	}
	push_name_join(nm, '/', name);
	f->name = name->data;
	buf_addf(&f->dir, "%s/%s", f->r->src_dir, f->rel);
	buf_addf(&f->state_dir, "%s/%s", f->r->state_root, f->rel);
	if (push_map_folder(nm, push_ns_levels(&f->r->src_ns, nm), source_special(f->dir.data),
			    f->r->src->push_map, f->r->src->n_push_map, &f->r->list, f->r->delim, f->r->prefix,
			    &f->wire, &f->tname, err, errlen) < 0)
		goto out;
	rc = open_target(f, created, err, errlen);
out:
	return rc;
}

/* A dry run's EXAMINE gets "PERMANENTFLAGS ()", which says nothing of
 * keywords: what the last push's SELECT of the same folder said is taken from
 * its state, so that the dry run plans no keyword a push would leave out. */
static void dry_run_keywords(struct folder_run *f)
{
	const struct push_state *st = &f->st;
	if (!f->r->opt->dry_run || !st->no_new_keywords || !st->target || strcmp(st->target, f->wire.data) ||
	    st->tgt_uv != f->info.uidvalidity)
		return;
	f->keywords_ok = 0;
	buf_reset(&f->permanent);
	buf_adds(&f->permanent, st->permanent ? st->permanent : "");
}

/* The state made the target folder's (cleared when what it holds is not
 * known, DAMAGED among the reasons), the UID floor raised above its UIDs, and
 * the folder's plan into PLAN (every message looked up when not known). */
static void folder_plan(struct folder_run *f, int damaged, struct push_plan *plan)
{
	int unknown = target_unknown(f, damaged);
	if (unknown)
		push_state_clear(&f->st);
	/* no UIDNEXT from SELECT (it is optional): an APPENDUID must at least
	 * name a UID above every one the state holds */
	for (size_t k = 0; !f->info.uidnext && k < f->st.n; k++)
		if (f->st.e[k].tgt_uid >= f->uid_floor)
			f->uid_floor = (uint64_t)f->st.e[k].tgt_uid + 1;
	free(f->st.target);
	f->st.target = xstrdup(f->wire.data);
	f->st.tgt_uv = f->info.uidvalidity;
	if (!f->r->opt->dry_run) {
		free(f->st.permanent);
		f->st.no_new_keywords = !f->keywords_ok;
		f->st.permanent = f->keywords_ok ? NULL : xstrdup(f->permanent.data ? f->permanent.data : "");
	}
	if (unknown) {
		plan->lookup = xcalloc(f->n_src + 1, sizeof(*plan->lookup));
		for (size_t i = 0; i < f->n_src; i++)
			plan->lookup[plan->n_lookup++] = i;
	} else {
		push_plan_folder(f->src, f->n_src, &f->st, plan);
	}
}

/* The messages TODO[0..n_todo) appended, then every append checked on the
 * target while the connection lasts (UPDATE as push_append_messages). 0, or
 * the first refusal's IMAP_ERR_* code with err (a lost connection's first). */
static int folder_append(struct folder_run *f, const size_t *todo, size_t n_todo, size_t *update, size_t *n_update,
			 char *err, size_t errlen)
{
	/* the appends checked even after a refusal, while the connection lasts:
	 * what the check saw is recorded, not left in doubt */
	int arc = push_append_messages(f, todo, n_todo, update, n_update, err, errlen);
	char cerr[512];
	if (imap_connection_lost(arc))
		return arc;
	int rc = push_check_stored(f, arc < 0 ? cerr : err, arc < 0 ? sizeof(cerr) : errlen);
	if (arc < 0 && imap_connection_lost(rc))
		snprintf(err, errlen, "%s", cerr);
	else if (arc < 0)
		rc = arc;
	return rc;
}

int push_folder(struct push_run *r, const char *rel, char *err, size_t errlen)
{
	struct folder_run f = { .r = r, .rel = rel };
	struct push_name nm = { 0 };
	struct push_plan plan = { 0 };
	struct buf name = BUF_INIT;
	size_t *missing = NULL, *update = NULL, *todo = NULL, n_missing = 0, n_update = 0;
	int rc = -1, created = 0, damaged = 0;

	if ((rc = folder_target(&f, &nm, &name, &created, err, errlen)) < 0)
		goto out;
	f.uid_floor = f.info.uidnext;
	rc = -1;
	if (push_load_state(&f, &damaged, err, errlen) < 0)
		goto out;
	dry_run_keywords(&f);
	if (push_scan_source(&f, err, errlen) < 0)
		goto out;
	folder_plan(&f, damaged, &plan);
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
	if ((rc = folder_append(&f, todo, n_todo, update, &n_update, err, errlen)) < 0)
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
