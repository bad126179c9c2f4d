/* Push runner, the account: find the folders of the source mirror, check that
 * the push states are of the target mailbox, log in to the target (again after a
 * lost connection) and push each folder (src/push_folder.c); the counts and
 * status of the run. */
#include "push_internal.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "mailkeep/log.h"
#include "mailkeep/maildir.h"
#include "mailkeep/state.h"

#define MAX_RECONNECTS 3
#define MAX_DEPTH 64


/* ---- small helpers ---- */

char *push_state_dir(const struct account *src, const struct account *target)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s/%s/.mailkeep/push/%s", src->root, src->name, target->name);
	return buf_detach(&b);
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
	/* the target's directory of states and what is directly in it (this
	 * record, the top folders' directories) made private again, if opened to
	 * others since; each folder's own as its state is read (push_load_state) */
	maildir_make_private_below(r->src_dir, r->state_root + strlen(r->src_dir) + 1);
	maildir_entries_private(r->state_root);
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
	int flat = 0;
	int rc = connect_login(r, err, errlen);
	if (rc == 0)
		rc = imap_namespace_personal(r->imap, &r->prefix, &ns_delim, &flat, err, errlen);
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
	/* a server with INBOX only may say nothing ('/' is the common choice),
	 * or NIL for an INBOX that has no children (UW-IMAP), unless its personal
	 * namespace says NIL: a flat server, whose INBOX-only state is no reason
	 * to create "a/b" as one name that no later push could map again */
	if (!r->delim && !flat && r->list.n <= 1)
		r->delim = '/';
	return 0;
}

/* The mirror's personal namespace into r->src_ns and its folders, sorted,
 * into FOLDERS (the caller's to free; r->folders points to it). */
static void list_source(struct push_run *r, struct strlist *folders)
{
	char *ns = NULL;
	if (state_namespace_load(r->src_dir, &ns) == 0 && ns[0] && push_name_from_path(ns, &r->src_ns) < 0)
		memset(&r->src_ns, 0, sizeof(r->src_ns));
	free(ns);
	find_folders(r->src_dir, "", 0, folders);
	r->folders = folders;
	if (folders->n)
		qsort(folders->items, folders->n, sizeof(*folders->items), cmp_str);
}

/* Each folder of FOLDERS pushed, the connection made again (MAX_RECONNECTS
 * times in all) when lost; a folder that fails is logged and counted. */
static void push_folders(struct push_run *r, const struct strlist *folders)
{
	const struct account *src = r->src, *target = r->dst;
	struct push_result *res = r->res;
	char err[900];
	for (size_t i = 0; i < folders->n; i++) {
		if (!r->imap && (r->reconnects >= MAX_RECONNECTS ||
				(r->reconnects++, connect_login(r, err, sizeof(err)) < 0))) {
			log_error("push %s -> %s: folder \"%s\": not pushed: no connection", src->name, target->name,
				  folders->items[i]);
			res->counts.folders_failed++;
			continue;
		}
		res->counts.folders++;
		int rc = push_folder(r, folders->items[i], err, sizeof(err));
		if (rc < 0) {
			log_error("push %s -> %s: folder \"%s\": %s", src->name, target->name, folders->items[i], err);
			res->counts.folders_failed++;
			if (imap_connection_lost(rc))
				close_imap(r);
		}
	}
}

/* The run's status from its counts, N_FOLDERS folders in all: partial when
 * anything failed, failed (with its error) when every folder did and nothing
 * was changed. */
static void run_status(struct push_run *r, size_t n_folders)
{
	const struct account *target = r->dst;
	struct push_result *res = r->res;
	/* "nothing could be pushed" (exit 4) only when nothing was: a run that
	 * appended or changed something before every folder failed is partial */
	int changed = res->counts.appended || res->counts.found || res->counts.flag_updates ||
		      res->counts.deleted;
	if (res->counts.folders_failed || res->counts.failed)
		res->status = res->counts.folders_failed == n_folders && n_folders && !changed ? PUSH_FAILED
											 : PUSH_PARTIAL;
	if (res->status == PUSH_FAILED)
		snprintf(res->error, sizeof(res->error), "account %s: no folder could be pushed", target->name);
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
	list_source(&r, &folders);
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
	push_folders(&r, &folders);
	run_status(&r, folders.n);
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
