/* Sync runner, one folder: its directory read (or its state trusted,
 * sync_dir.c) while the server's view is learnt (sync_view.c), the plan applied
 * (renames, removals: sync_apply.c), the download (sync_fetch.c), the state
 * handed to the end-of-run commit. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mailkeep/buf.h"
#include "mailkeep/imap.h"
#include "mailkeep/log.h"
#include "mailkeep/maildir.h"
#include "mailkeep/plan.h"
#include "mailkeep/rekey.h"
#include "mailkeep/state.h"

#include "sync_folder.h"

void sync_folder_watch_set(struct folder_run *f)
{
	maildir_dir_mtimes(f->dir.data, &f->seen_cur, &f->seen_new);
}

void sync_folder_watch_check(struct folder_run *f)
{
	int64_t cur_ns, new_ns;
	maildir_dir_mtimes(f->dir.data, &cur_ns, &new_ns);
	if (cur_ns != f->seen_cur || new_ns != f->seen_new)
		f->disturbed = 1;
}

int64_t sync_change_tick(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) < 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int sync_folder_is_selected(const struct folder_run *f)
{
	return imap_select_seq(f->a->imap) == f->seq;
}

int sync_folder_still_selected(const struct folder_run *f, char *err, size_t errlen)
{
	if (sync_folder_is_selected(f))
		return 1;
	snprintf(err, errlen, "the next folder is already selected; this one again");
	return 0;
}

/* So the next command's answers are not taken for its. */
void sync_folder_spec_drop(struct folder_run *f)
{
	if (f->spec_tag && f->a->imap)
		imap_uid_fetch_discard(f->a->imap, f->spec_tag);
	f->spec_tag = 0;
}

/* ---- folder ---- */

/* The state a folder starts a UIDVALIDITY with (no message), saved. Written
 * before any message of it lands on disk, and before a new or moved-aside
 * folder's cur/, new/ and tmp/ are made: a run killed in between leaves no
 * Maildir without a state, which the next run could not tell from one a
 * reader made, and would keep empty if the server deleted the folder
 * meanwhile (sync_check_orphan in sync_list.c). */
static int state_begin(struct folder_run *f, struct folder_state *st, uint32_t uidvalidity, uint64_t folder_id,
		       char *err, size_t errlen)
{
	state_clear_msgs(st);
	st->uidvalidity = uidvalidity;
	st->uidnext = 0;
	st->highestmodseq = 0;
	st->folder_id = folder_id;
	return state_save(f->dir.data, st, err, errlen);
}

int sync_state_unchanged(const struct folder_state *st, const struct imap_status_info *status,
			 int64_t cur_ns, int64_t new_ns, enum deletions_mode deletions)
{
	/* a header-only load has no message lines but their count */
	uint64_t count = st->n ? st->n : st->declared > 0 ? (uint64_t)st->declared : 0;
	if (!status || !status->ok || !st->uidvalidity || !st->highestmodseq || !status->highestmodseq)
		return 0;
	/* kept files of expunged messages, now to be removed: only a listing finds them */
	if (st->kept && deletions == DELETIONS_MIRROR)
		return 0;
	/* listed again after it was gone (renamed away and back): the state must
	 * stop saying so, or the folder's real deletion later goes unwarned */
	if (st->orphaned)
		return 0;
	if (status->uidvalidity != st->uidvalidity || status->uidnext != st->uidnext ||
	    status->highestmodseq != st->highestmodseq || status->messages != count)
		return 0;
	/* listed at most LIST_EVERY ago: a change the directory times could not
	 * show is found within that (docs/design.md) */
	int64_t now = (int64_t)time(NULL);
	if (st->listed <= 0 || now - st->listed >= LIST_EVERY || now < st->listed)
		return 0;
	return cur_ns == st->cur_mtime_ns && new_ns == st->new_mtime_ns;
}

static int unchanged(const struct folder_run *f, const struct folder_state *st,
		     const struct imap_status_info *status)
{
	int64_t cur_ns, new_ns;
	if (!status || !status->ok || !maildir_has_tmp(f->dir.data))
		return 0;
	maildir_dir_mtimes(f->dir.data, &cur_ns, &new_ns);
	return sync_state_unchanged(st, status, cur_ns, new_ns, f->a->acct->deletions);
}

/* Listed, yet EXAMINE answers NO [NONEXISTENT] (RFC 5530), or NO saying the
 * folder "doesn't exist" after LIST-STATUS or STATUS gave it none: Dovecot's
 * Maildir++ keeps listing a deleted folder that has children, and drops the
 * code when QRESYNC parameters are given. */
static int examine_says_gone(const struct imap_refusal *r, const struct imap_status_info *status)
{
	return r->status == IMAP_STATUS_NO && (r->code_nonexistent || (status && !status->ok && r->text_nonexistent));
}

/* Durability: the renames and removals on disk before the state that records
 * them (a download's last flush already fsynced cur/ after them); with a
 * commit at the end of the run, that commit's syncs do it. 0, or -1 with err. */
static int fsync_changed_dirs(struct folder_run *f, char *err, size_t errlen)
{
	struct account_run *a = f->a;
	struct buf sub = BUF_INIT;
	int frc = 0;
	buf_addf(&sub, "%s/cur", f->dir.data);
	if ((f->done_renames || f->done_removes || f->linked) && !f->flushes && !a->commits)
		frc = maildir_fsync_dir(sub.data, err, errlen);
	buf_reset(&sub);
	buf_addf(&sub, "%s/new", f->dir.data);
	if (frc == 0 && f->touched_new && !a->commits)
		frc = maildir_fsync_dir(sub.data, err, errlen);
	buf_free(&sub);
	return frc;
}

/* The folder's new state: the messages of the server's view now on disk, with
 * the directory times of the watch; saved now, or handed to the run's commit
 * (with the folder's last batch), or not rewritten when it is ST again. 0, or
 * -1 with err. */
static int record_state(struct folder_run *f, const struct imap_mailbox *mb, const char *rel,
			const struct imap_select_info *info, const struct folder_state *st, char *err, size_t errlen)
{
	struct account_run *a = f->a;
	int frc;
	struct folder_state nst = { .uidvalidity = info->uidvalidity, .highestmodseq = info->highestmodseq,
				    .special = mb->special, .listed = st->listed,
				    .folder_id = state_folder_id(rel),
				    .kept = a->acct->deletions == DELETIONS_KEEP,
				    /* sticky until every message's keywords came whole from the server */
				    .keywords_capped = f->sv.kw.refused || f->sv.kw_from_capped };
	uint32_t max_uid = 0;
	/* the files and flags are exact all the same; only the state (and so
	 * push) goes without those keywords */
	if (f->sv.kw.refused)
		log_warn("account %s: folder \"%s\": its distinct keyword sets pass %zu KiB: the messages past "
			 "them are recorded without keywords", a->acct->name, f->name, KWSET_CAP / 1024);
	for (size_t i = 0; i < f->sv.n; i++) {
		if (!f->sv.present[i])
			continue;
		state_add(&nst, f->sv.msgs[i].uid, f->sv.msgs[i].flags, f->sv.date[i], f->sv.keywords[i]);
		max_uid = f->sv.msgs[i].uid;
	}
	nst.uidnext = info->uidnext > max_uid ? info->uidnext : max_uid + 1;
	/* the times just checked, not read again: a change in between would be
	 * recorded as seen */
	sync_folder_watch_check(f);
	nst.cur_mtime_ns = f->seen_cur;
	nst.new_mtime_ns = f->seen_new;
	/* When the folder was listed (not read from its state), say so: at once
	 * when the state changes anyway, else twice a day at most (an unchanged
	 * state is not rewritten). Someone else's change during the run: the next
	 * run lists the folder. */
	int64_t now = (int64_t)time(NULL);
	if (!f->trusted && (!state_equal(st, &nst) || now - st->listed >= LIST_EVERY / 2 || now < st->listed))
		nst.listed = now;
	if (f->disturbed || (f->recheck && !a->commits && nst.listed > 0 &&
			     !sync_dir_matches_state(f->dir.data, &nst, a->acct->deletions, nst.cur_mtime_ns,
						     nst.new_mtime_ns))) {
		log_debug("%s: changed by someone else during the run; listed next time", f->name);
		nst.listed = 0;
	}
	/* an unchanged state is not rewritten: a no-op run touches nothing */
	if (state_equal(st, &nst) && !f->n_deferred)
		frc = 0;
	else if (!a->commits)
		frc = state_save(f->dir.data, &nst, err, errlen);
	else {
		frc = 0;
		sync_commit_later(a->commits, f->dir.data, &nst, f->recheck, f->deferred, f->n_deferred);
		f->deferred = NULL;
		f->n_deferred = 0;
	}
	state_free(&nst);
	return frc;
}

/* The folder's report and the account's counts, logged; IMAP_ERR_NO (err set)
 * when messages the server listed came without their bodies, else 0. */
static int report_folder(struct folder_run *f, const struct plan *plan, enum flag_path path,
			 struct sync_folder_report *rep, char *err, size_t errlen)
{
	struct account_run *a = f->a;
	size_t missing = 0;
	const struct bodyless *first_bodyless = NULL;
	for (size_t i = 0; i < f->sv.n; i++)
		missing += !f->sv.present[i];
	size_t bodyless = sync_fetch_unmirrored(f, &first_bodyless);
	rep->how = sync_flag_path_names[path];
	rep->added = f->added;
	rep->bytes = f->bytes;
	rep->renamed = f->done_renames;
	rep->removed = f->done_removes;
	rep->kept = plan->n_kept;
	a->counts->added += f->added;
	a->counts->bytes += f->bytes;
	a->counts->renamed += f->done_renames;
	a->counts->removed += f->done_removes;
	a->counts->kept += plan->n_kept;
	if (f->linked)
		log_info("account %s: folder \"%s\": %" PRIu64 " of the new messages linked to copies "
			 "in other folders (X-GM-MSGID)", a->acct->name, f->name, f->linked);
	log_info("account %s: folder \"%s\" (%s): %" PRIu64 " new, %zu flag changes, %zu removed%s",
		 a->acct->name, f->name, sync_flag_path_names[path], f->added, f->done_renames, f->done_removes,
		 missing > bodyless ? " (some messages vanished during the run)" : "");
	if (bodyless) { /* the next run asks again; this one did not mirror them */
		snprintf(err, errlen, "the server answered UID %" PRIu32 "%s %s; not mirrored",
			 first_bodyless->uid, bodyless > 1 ? " and others" : "",
			 first_bodyless->why == BODY_PARTIAL ?
			 "with a partial body (BODY[]<0>) that its RFC822.SIZE does not show whole" :
			 first_bodyless->why == BODY_REFUSED ? "with a NO to the UID FETCH that asked for it alone" :
			 first_bodyless->why == BODY_EMPTY ? "with an empty body while its RFC822.SIZE is not 0" :
			 first_bodyless->why == BODY_NO_DATE ? "with a body without its INTERNALDATE" :
			 first_bodyless->why == BODY_ODD_SIZE ?
			 "with a body not of its RFC822.SIZE while other messages asked for did not come back "
			 "(a literal that took the next answer in?)" :
			 "without the body asked for");
		return IMAP_ERR_NO;
	}
	return 0;
}

/* What the folder's run holds, freed. Its deferred last batch (a folder that
 * failed after its download) is kept all the same once durable, else removed:
 * the next run downloads it again. */
static void folder_run_end(struct folder_run *f)
{
	char serr[512];
	int durable = 1;
	if (f->n_deferred && maildir_sync_fs(f->dir.data, serr, sizeof(serr)) < 0) {
		log_warn("%s", serr);
		durable = 0;
	}
	for (size_t i = 0; i < f->n_deferred; i++) {
		if (!durable || rename(f->deferred[i].tmp_path, f->deferred[i].cur_path) < 0)
			unlink(f->deferred[i].tmp_path);
		free(f->deferred[i].tmp_path);
		free(f->deferred[i].cur_path);
	}
	free(f->deferred);
	sync_folder_spec_drop(f);
	buf_free(&f->spec_set);
	free(f->gm);
	buf_free(&f->store);
	sync_sv_free(&f->sv);
	buf_free(&f->dir);
	buf_free(&f->name_buf);
	buf_free(&f->rel_buf);
}

/* The common case of a frequent run: the header of the state (read into ST,
 * the caller's to free) is enough to tell the folder unchanged. 1 when it is,
 * reported so; else 0 and ST empty again. */
static int header_unchanged(struct folder_run *f, const struct imap_mailbox *mb, const char *rel,
			    const struct imap_status_info *status, struct folder_state *st,
			    struct sync_folder_report *rep)
{
	struct account_run *a = f->a;
	char serr[512];
	if (state_load_header(f->dir.data, st, serr, sizeof(serr)) == 0 && st->folder_id && state_is_of(st, rel) &&
	    st->special == mb->special && unchanged(f, st, status)) {
		a->counts->folders_unchanged++;
		rep->how = sync_flag_path_names[PATH_SKIPPED];
		log_info("account %s: folder \"%s\": unchanged", a->acct->name, f->name);
		return 1;
	}
	state_free(st);
	return 0;
}

/* The folder's state read into ST (the caller's to free), its directory made
 * when it is not new to the mirror (*FRESH says it is); *FOREIGN_ID the record
 * of another folder whose state this was, else 0. 0, or -1 with err. */
static int load_state(struct folder_run *f, const char *rel, struct folder_state *st, int *fresh,
		      uint64_t *foreign_id, char *err, size_t errlen)
{
	struct account_run *a = f->a;
	char serr[512];
	/* A folder new to the mirror gets its Maildir once EXAMINE succeeded:
	 * Cyrus and Dovecot list a shared folder with the lookup right only and
	 * refuse to open it on every run, also when it is the parent of one
	 * that can be read; an empty Maildir for it would be pushed. */
	*fresh = sync_folder_is_new(f->dir.data);
	if (!*fresh && (maildir_mkdirs(a->dir, rel, err, errlen) < 0 || maildir_create(f->dir.data, err, errlen) < 0))
		return -1;
	if (state_load(f->dir.data, st, serr, sizeof(serr)) < 0) {
		log_warn("account %s: folder \"%s\": %s; rebuilding the state from the files",
			 a->acct->name, f->name, serr);
		memset(st, 0, sizeof(*st));
	}
	*foreign_id = 0; /* the state was another folder's: its record */
	if (!state_is_of(st, rel)) {
		/* the directory was moved or copied here by hand, its state with it */
		log_warn("account %s: folder \"%s\": the state is another folder's (its directory moved or "
			 "copied in by hand); rebuilding it from the files and the server's dates",
			 a->acct->name, f->name);
		*foreign_id = st->folder_id;
		state_free(st);
	}
	return 0;
}

/* An unchanged folder: reported so, its state rewritten only when it learnt
 * its SPECIAL-USE or is of an older format. 0, or -1 with err. */
static int keep_unchanged(struct folder_run *f, const struct imap_mailbox *mb, const char *rel,
			  struct folder_state *st, struct sync_folder_report *rep, char *err, size_t errlen)
{
	struct account_run *a = f->a;
	rep->how = sync_flag_path_names[PATH_SKIPPED];
	/* learnt SPECIAL-USE (for push), or a state from before the count
	 * line or the folder line (written once, then the header suffices) */
	if (st->special != mb->special || st->declared < 0 || !st->folder_id) {
		int learnt = st->special != mb->special;
		st->special = mb->special;
		st->folder_id = state_folder_id(rel);
		if (state_save(f->dir.data, st, err, errlen) < 0) {
			if (learnt)
				return -1; /* failed, not also unchanged */
			/* only the older format: the folder is unchanged all the
			 * same (a full disk, a read-only directory); the next run
			 * tries again */
			log_warn("account %s: folder \"%s\": %s; the state keeps its older format",
				 a->acct->name, f->name, err);
		}
	}
	a->counts->folders_unchanged++;
	log_info("account %s: folder \"%s\": unchanged", a->acct->name, f->name);
	return 0;
}

/* When the UIDVALIDITY changed and the server holds the state's messages
 * under new UIDs: the files and the state re-keyed (sync_rekey.c), VIEW read
 * again. 0 (also when not re-keyed), or -1 with err and *RC. */
static int rekey(struct folder_run *f, struct folder_state *st, struct maildir_view *view,
		 const struct imap_select_info *info, int *rc, char *err, size_t errlen)
{
	int done;
	if (!st->uidvalidity || st->uidvalidity == info->uidvalidity)
		return 0;
	/* a run killed while it wrote the record left its temporary file: removed
	 * whether this run re-keys or moves aside */
	struct buf tmp = BUF_INIT;
	buf_addf(&tmp, "%s/%s.tmp", f->dir.data, REKEY_FILE);
	int gone = unlink(tmp.data) == 0 || errno == ENOENT;
	if (!gone)
		snprintf(err, errlen, "%s: %s", tmp.data, strerror(errno));
	buf_free(&tmp);
	if (!gone)
		return -1;
	if (!st->n || !state_names_known(st))
		return 0;
	/* a killed run's move aside (its mark written) is finished, not undone */
	int pending = sync_aside_pending(f, st->uidvalidity, err, errlen);
	if (pending != 0)
		return pending < 0 ? -1 : 0;
	int rrc = sync_rekey_try(f, st, view, info, &done, err, errlen);
	if (rrc < 0) {
		*rc = rrc;
		return -1;
	}
	if (done) {
		maildir_view_free(view);
		f->trusted = 0;
		sync_folder_watch_set(f);
		if (maildir_scan(f->dir.data, view, err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* The directory and its state made ready for the server's UIDVALIDITY (INFO):
 * a new folder's Maildir made, the files scanned into VIEW, the files re-keyed
 * or the old copy moved aside when the UIDVALIDITY changed, tmp/ cleaned, the
 * UIDVALIDITY recorded before any message of it lands. 0, or -1 with err (and
 * *RC when the connection failed). */
static int ready_dir(struct folder_run *f, const char *rel, struct folder_state *st, struct maildir_view *view,
		     const struct imap_select_info *info, int fresh, uint64_t foreign_id, int *rc, char *err,
		     size_t errlen)
{
	struct account_run *a = f->a;
	if (fresh) {
		/* scanned while EXAMINE was answered: an empty view, as the new directory
		 * is; its state goes in before cur/, new/ and tmp/ (state_begin) */
		if (maildir_mkdirs(a->dir, rel, err, errlen) < 0 ||
		    state_begin(f, st, info->uidvalidity, state_folder_id(rel), err, errlen) < 0 ||
		    maildir_create(f->dir.data, err, errlen) < 0)
			return -1;
		sync_folder_watch_set(f);
	}
	f->uidvalidity = info->uidvalidity;
	sync_folder_scan_dir(f);
	if (f->scan_rc < 0) {
		snprintf(err, errlen, "%s", f->scan_err);
		return -1;
	}
	/* A view from the state holds the state's messages only: what a changed
	 * UIDVALIDITY leaves to move aside (files kept with deletions: keep,
	 * other programs' files) is read from the directory, or an emptied
	 * folder's kept files stayed among the new UIDVALIDITY's messages. */
	if (f->trusted && st->uidvalidity != info->uidvalidity) {
		f->trusted = 0;
		maildir_view_free(view);
		sync_folder_watch_set(f);
		if (maildir_scan(f->dir.data, view, err, errlen) < 0)
			return -1;
	}
	if (!f->trusted && sync_state_not_of_files(view, st, info->uidvalidity)) {
		log_warn("account %s: folder \"%s\": the state is of UIDVALIDITY %" PRIu32 ", the files of %" PRIu32
			 " (the server's); rebuilding the state from the files", a->acct->name, f->name,
			 st->uidvalidity, info->uidvalidity);
		state_free(st);
	}
	if (rekey(f, st, view, info, rc, err, errlen) < 0)
		return -1;
	uint32_t old_uv = st->uidvalidity ? st->uidvalidity : sync_uidvalidity_on_disk(view, info->uidvalidity);
	/* nothing of the old UIDVALIDITY to keep (Courier gives a folder that never held a
	 * message a new UIDVALIDITY in every session): adopt the new one silently */
	int nothing_kept = st->n == 0 && view->n == 0 && view->foreign == 0;
	/* ... unless a killed run's move of it is to be finished: the folder then
	 * holds nothing but the state (or part of it), its files already moved */
	if (old_uv && old_uv != info->uidvalidity && nothing_kept) {
		int pending = sync_aside_pending(f, old_uv, err, errlen);
		if (pending < 0)
			return -1;
		nothing_kept = !pending;
	}
	if (old_uv && old_uv != info->uidvalidity && !nothing_kept) {
		maildir_view_free(view);
		state_free(st);
		/* the new state before the new cur/, new/ and tmp/, as for a new folder */
		if (sync_move_aside(f, old_uv, err, errlen) < 0 ||
		    state_begin(f, st, info->uidvalidity, foreign_id ? foreign_id : state_folder_id(rel), err,
				errlen) < 0 ||
		    maildir_create(f->dir.data, err, errlen) < 0)
			return -1;
		f->trusted = 0;
		f->disturbed = 0;
		sync_folder_watch_set(f);
		if (maildir_scan(f->dir.data, view, err, errlen) < 0)
			return -1;
	}
	if (maildir_clean_tmp(f->dir.data, err, errlen) < 0)
		return -1;
	state_discard_temp(f->dir.data);
	/* Record the UIDVALIDITY before any message of it lands on disk. Rebuilt
	 * from another folder's state: still not this folder's until the run ends
	 * (push must not take the other folder's files still here for this one's;
	 * the next sync rebuilds it again). */
	if (st->uidvalidity != info->uidvalidity &&
	    state_begin(f, st, info->uidvalidity, foreign_id ? foreign_id : state_folder_id(rel), err, errlen) < 0)
		return -1;
	return 0;
}

/* The date each message's file name should start with, parallel to the
 * server's view: the state's, or the server's when there is no state or the
 * server went back from it. Owned by the caller. */
static int64_t *name_dates_of(const struct folder_run *f, const struct folder_state *st)
{
	int64_t *name_dates = sync_state_dates(&f->sv, st);
	/* no state, or one the server went back from: the server's dates (a name says 0 before 1970) */
	if ((!st->n || f->server_dates) && f->sv.idate) {
		int64_t now = (int64_t)time(NULL);
		for (size_t i = 0; i < f->sv.n; i++)
			/* Dovecot keeps INTERNALDATE as an unsigned 32-bit number: a date
			 * before 1970 (named 0 by its first download) comes back as one
			 * after 2038. A date ahead of now is not compared with the name. */
			if (f->sv.idate[i] != INT64_MIN && f->sv.idate[i] <= now + 86400)
				name_dates[i] = f->sv.idate[i] < 0 ? 0 : f->sv.idate[i];
	}
	return name_dates;
}

/* VIEW read again from the folder's directory (no longer from its state) and
 * PLAN made anew from it. 0, or -1 with err. */
static int replan_listed(struct folder_run *f, struct maildir_view *view, uint32_t uidvalidity,
			 const int64_t *name_dates, struct plan *plan, char *err, size_t errlen)
{
	f->trusted = 0;
	maildir_view_free(view);
	plan_free(plan);
	sync_folder_watch_set(f);
	if (maildir_scan(f->dir.data, view, err, errlen) < 0)
		return -1;
	plan_folder(view, uidvalidity, f->sv.msgs, name_dates, f->sv.n, f->a->acct->deletions, plan);
	return 0;
}

/* The plan (PLAN, the caller's to free) made from VIEW and the server's view
 * and its renames and removals applied; made and applied once more over a new
 * listing when the files were not as the view said. 0, or nonzero with err. */
static int plan_and_apply(struct folder_run *f, struct maildir_view *view, uint32_t uidvalidity,
			  const int64_t *name_dates, struct plan *plan, char *err, size_t errlen)
{
	struct account_run *a = f->a;
	plan_folder(view, uidvalidity, f->sv.msgs, name_dates, f->sv.n, a->acct->deletions, plan);
	/* A view from the state lacks the files kept (deletions: keep) of UIDs the
	 * server once called gone: one of them listed again (a server that lied,
	 * or lost and found it) would be downloaded beside its kept file, a
	 * duplicate under another name when its flags changed. So a trusted view
	 * is read from the directory when the plan asks for an old UID. */
	if (f->trusted && f->st->kept) {
		int old = 0;
		for (size_t i = 0; i < plan->n_fetch && !old; i++)
			old = plan->fetch[i] < f->st->uidnext;
		if (old && replan_listed(f, view, uidvalidity, name_dates, plan, err, errlen) < 0)
			return -1;
	}
	if (!plan->n_fetch && !f->spec_tag)
		sync_prefetch_next(f); /* no command left for this folder */
	int arc = sync_apply_plan(f, view, plan, err, errlen);
	if (arc > 0) {
		log_info("account %s: folder \"%s\": %s; reading the folder", f->a->acct->name, f->name, err);
		f->disturbed = 0; /* the listing below sees whatever happened */
		if (replan_listed(f, view, uidvalidity, name_dates, plan, err, errlen) < 0)
			return -1;
		arc = sync_apply_plan(f, view, plan, err, errlen);
		if (arc > 0) /* changed again: nothing is done to it this run */
			snprintf(err, errlen, "the folder changed again while it was being synced; the next run "
				 "syncs it");
	}
	return arc;
}

/* The messages the plan asks for downloaded (through the Gmail store when
 * asked), the renames and removals made durable, the new state recorded. 0,
 * the download's error, or -1 with err. */
static int fetch_and_record(struct folder_run *f, const struct imap_mailbox *mb, const char *rel,
			    const struct plan *plan, const struct imap_select_info *info,
			    const struct folder_state *st, char *err, size_t errlen)
{
	struct account_run *a = f->a;
	char serr[512];
	int rc;
	if (plan->n_fetch && a->acct->gmail_dedupe && (imap_caps(a->imap) & IMAP_CAP_X_GM_EXT_1)) {
		buf_addf(&f->store, "%s/.mailkeep/gmail", a->dir);
		/* made below the account directory, a symbolic link refused */
		if (maildir_mkdirs(a->dir, ".mailkeep/gmail", serr, sizeof(serr)) == 0)
			f->gmail = 1;
		else
			log_warn("account %s: %s; Gmail copies not shared", a->acct->name, serr);
	}
	if (plan->n_fetch || f->spec_tag) {
		rc = sync_fetch_download(f, err, errlen);
		if (rc < 0)
			return rc;
	}
	if (fsync_changed_dirs(f, err, errlen) < 0)
		return -1;
	if (record_state(f, mb, rel, info, st, err, errlen) < 0)
		return -1;
	return 0;
}

int sync_folder(struct account_run *a, const struct imap_mailbox *mb, const char *rel,
		       const struct imap_status_info *status, struct sync_folder_report *rep,
		       char *err, size_t errlen)
{
	enum flag_path path = PATH_FULL;
	struct folder_run f = { .a = a, .name = mb->utf8, .rel = rel,
				.expunges0 = a->imap ? imap_expunges(a->imap) : 0 };
	struct folder_state st = { 0 };
	struct maildir_view view = { 0 };
	struct plan plan = { 0 };
	struct imap_select_info info;
	int64_t *name_dates = NULL;
	int fresh;
	uint64_t foreign_id;
	int rc = -1;
	a->folder_done = 0;
	/* an attempt given up for SYNC_ERR_RESELECT may have renamed and removed
	 * files already: this one reports them (and makes them durable) */
	f.done_renames = a->carry_renames;
	f.done_removes = a->carry_removes;
	a->carry_renames = a->carry_removes = 0;

	buf_addf(&f.dir, "%s/%s", a->dir, rel);
	imap_set_folder(a->imap, mb->utf8); /* its responses' warnings name it */
	if (header_unchanged(&f, mb, rel, status, &st, rep)) {
		rc = 0;
		goto out;
	}
	/* a killed run's re-key finished before anything reads the files */
	if (sync_rekey_resume(&f, err, errlen) < 0 ||
	    load_state(&f, rel, &st, &fresh, &foreign_id, err, errlen) < 0) {
		rc = IMAP_ERR_LOCAL; /* nothing sent for it yet: the connection stays */
		goto out;
	}
	if (unchanged(&f, &st, status)) {
		rc = keep_unchanged(&f, mb, rel, &st, rep, err, errlen);
		goto out;
	}
	f.view = &view;
	f.st = &st;
	f.trusted = sync_folder_trusted(&f, &st);
	f.want_dates = !fresh && st.n == 0;
	log_debug("%s: state loaded (%zu messages%s)", f.name, st.n, f.trusted ? ", files as recorded" : "");
	rc = sync_server_view(&f, mb, &st, status, &info, &path, err, errlen);
	log_debug("%s: server view (%s): %zu messages", f.name, sync_flag_path_names[path], f.sv.n);
	if (rc == IMAP_ERR_NO && examine_says_gone(&info.refused, status))
		rc = SYNC_ERR_GONE;
	if (rc < 0)
		goto out;
	/* a local failure (the folder's directories, its state): the server's
	 * answers are read or dropped (folder_run_end, after_folder), the
	 * connection stays for the next folder */
	rc = IMAP_ERR_LOCAL;
	if (ready_dir(&f, rel, &st, &view, &info, fresh, foreign_id, &rc, err, errlen) < 0)
		goto out;
	rc = -1;
	sync_sv_normalise(&f.sv);
	name_dates = name_dates_of(&f, &st);
	if (plan_and_apply(&f, &view, info.uidvalidity, name_dates, &plan, err, errlen) != 0)
		goto out;
	log_debug("%s: plan applied: %zu renames, %zu removals, %zu to fetch", f.name, f.done_renames,
		  f.done_removes, plan.n_fetch);
	/* everything the plan did not ask to fetch and that the server has is on disk */
	for (size_t i = 0; i < f.sv.n; i++)
		f.sv.present[i] = !sync_fetch_wanted(&plan, f.sv.msgs[i].uid);
	sync_note_dates(&f, &view, &plan, name_dates);
	f.plan = &plan;
	rc = fetch_and_record(&f, mb, rel, &plan, &info, &st, err, errlen);
	if (rc < 0)
		goto out;
	/* Its files and state are the commit's now: another attempt of the folder
	 * in this run would clean tmp/ under them (a retry after throttling) */
	a->folder_done = 1;

	log_debug("%s: done", f.name);
	rc = report_folder(&f, &plan, path, rep, err, errlen);
out:
	if (rc == SYNC_ERR_RESELECT) {
		a->carry_renames = f.done_renames;
		a->carry_removes = f.done_removes;
	}
	free(name_dates);
	sync_fetch_cleanup(&f);
	folder_run_end(&f);
	plan_free(&plan);
	maildir_view_free(&view);
	state_free(&st);
	return rc;
}
