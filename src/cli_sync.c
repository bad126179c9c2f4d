/* `mailkeep sync`: accounts one after the other or in parallel (--jobs: one
 * process per account), exit code, summary, and the --json document. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mailkeep/buf.h"
#include "mailkeep/cli.h"
#include "mailkeep/log.h"
#include "mailkeep/sync.h"

#include "cli_internal.h"

/* What one account's run produced: the result and its JSON object. */
struct account_outcome {
	struct sync_result res;
	int snapshot_failed;
	struct buf json;
	size_t n_folders_json;
	size_t *entry_at;       /* where each folder's entry starts in json (before closing) */
};

/* Length of the valid UTF-8 sequence at p (1-4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *p)
{
	size_t n = p[0] < 0xc2 ? 0 : p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : p[0] < 0xf5 ? 4 : 0;
	if (n >= 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) ||
		       (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f)))
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* A JSON string; bytes that are not UTF-8 (a server's text) become U+FFFD. */
static void json_string(struct buf *b, const char *s)
{
	buf_addch(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		if (*p == '"' || *p == '\\') {
			buf_addf(b, "\\%c", *p);
		} else if (*p < 0x20 || *p == 0x7f) {
			buf_addf(b, "\\u%04x", *p);
		} else if (*p < 0x80) {
			buf_addch(b, (char)*p);
		} else {
			size_t n = utf8_len(p);
			if (!n) {
				buf_adds(b, "\\ufffd");
				continue;
			}
			buf_add(b, (const char *)p, n);
			p += n - 1;
		}
	}
	buf_addch(b, '"');
}

static void on_folder(void *ctx, const struct sync_folder_report *r)
{
	struct account_outcome *o = ctx;
	struct buf *b = &o->json;
	o->entry_at = xrealloc(o->entry_at, (o->n_folders_json + 1) * sizeof(*o->entry_at));
	o->entry_at[o->n_folders_json] = b->len;
	buf_adds(b, o->n_folders_json++ ? ",\n      {" : "\n      {");
	buf_adds(b, "\"name\": ");
	json_string(b, r->name);
	buf_adds(b, ", \"path\": ");
	json_string(b, r->path);
	buf_adds(b, ", \"status\": ");
	json_string(b, r->error ? "failed" : "ok");
	buf_adds(b, ", \"path_used\": ");
	json_string(b, r->how);
	buf_addf(b, ", \"new\": %" PRIu64 ", \"flag_changes\": %" PRIu64 ", \"removed\": %" PRIu64
		 ", \"kept\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"seconds\": %.3f",
		 r->added, r->renamed, r->removed, r->kept, r->bytes, r->seconds);
	if (r->error) {
		buf_adds(b, ", \"error\": ");
		json_string(b, r->error);
	}
	buf_addch(b, '}');
}

/* The entry of the folder at path, reported synced, says failed with error
 * now. Names and paths are escaped: the text "status": "ok", unescaped,
 * is only ever the field itself. */
static void on_folder_uncommitted(void *ctx, const char *path, const char *error)
{
	struct account_outcome *o = ctx;
	struct buf want = BUF_INIT, out = BUF_INIT;
	static const char ok_field[] = ", \"status\": \"ok\", ";
	const size_t okl = sizeof(ok_field) - 1;
	buf_adds(&want, ", \"path\": ");
	json_string(&want, path);
	buf_adds(&want, ok_field);
	for (size_t i = 0; i < o->n_folders_json; i++) {
		size_t start = o->entry_at[i], end = i + 1 < o->n_folders_json ? o->entry_at[i + 1] : o->json.len;
		char *hit = memmem(o->json.data + start, end - start, want.data, want.len);
		if (!hit || o->json.data[end - 1] != '}')
			continue;
		size_t at = (size_t)(hit - o->json.data) + want.len - okl;
		buf_add(&out, o->json.data, at);
		buf_adds(&out, ", \"status\": \"failed\", ");
		buf_add(&out, o->json.data + at + okl, end - 1 - (at + okl));
		buf_adds(&out, ", \"error\": ");
		json_string(&out, error);
		buf_addch(&out, '}');
		size_t grew = out.len - end;
		buf_add(&out, o->json.data + end, o->json.len - end);
		for (size_t k = i + 1; k < o->n_folders_json; k++)
			o->entry_at[k] += grew;
		buf_free(&o->json);
		o->json = out;
		out = (struct buf)BUF_INIT;
		break;
	}
	buf_free(&want);
	buf_free(&out);
}

static void account_json_close(struct account_outcome *o, const struct account *acct, const char *snapshot)
{
	struct buf head = BUF_INIT;
	const struct sync_result *r = &o->res;
	buf_adds(&head, "{\"name\": ");
	json_string(&head, acct->name);
	buf_adds(&head, ", \"status\": ");
	json_string(&head, sync_status_name(r->status));
	buf_addf(&head, ", \"folders\": %" PRIu64 ", \"folders_failed\": %" PRIu64
		 ", \"folders_unchanged\": %" PRIu64 ", \"folders_excluded\": %" PRIu64
		 ", \"new\": %" PRIu64 ", \"flag_changes\": %" PRIu64 ", \"removed\": %" PRIu64
		 ", \"kept\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"round_trips\": %lu, \"seconds\": %.3f"
		 ", \"snapshot\": \"%s\"",
		 r->counts.folders, r->counts.folders_failed, r->counts.folders_unchanged,
		 r->counts.folders_skipped, r->counts.added, r->counts.renamed, r->counts.removed,
		 r->counts.kept, r->counts.bytes, r->round_trips, r->seconds,
		 snapshot);
	if (r->error[0]) {
		buf_adds(&head, ", \"error\": ");
		json_string(&head, r->error);
	}
	buf_adds(&head, ",\n     \"folder_list\": [");
	buf_add(&head, o->json.data ? o->json.data : "", o->json.len);
	buf_adds(&head, o->n_folders_json ? "\n     ]}" : "]}");
	buf_free(&o->json);
	free(o->entry_at);
	o->entry_at = NULL;
	o->json = head;
}

/* A progress line on a terminal, redrawn in place at most ten times a second.
 * Its counts are a folder's: so are the rate and the time left, from when that
 * folder's download began (up to max_connections folders download at once). */
#define PROGRESS_FOLDERS 16
struct progress {
	const char *account;
	struct timespec last;
	int shown;
	struct {
		const char *folder; /* the sync's name of it: one pointer per folder and run */
		struct timespec start, seen;
	} f[PROGRESS_FOLDERS];
};

static double since(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* FOLDER's slot, its start the time its download began: its first report
 * (NOW) for a folder not seen yet, which takes a free slot (one whose folder
 * finished, folder_done) or that of the one seen longest ago. */
static size_t folder_slot(struct progress *p, const char *folder, const struct timespec *now)
{
	size_t i, old = 0;
	for (i = 0; i < PROGRESS_FOLDERS; i++)
		if (p->f[i].folder == folder)
			break;
	if (i == PROGRESS_FOLDERS) {
		for (i = 0; i < PROGRESS_FOLDERS && p->f[i].folder; i++)
			if (since(&p->f[i].seen, &p->f[old].seen) > 0)
				old = i;
		if (i == PROGRESS_FOLDERS)
			i = old;
		p->f[i].folder = folder;
		p->f[i].start = *now;
	}
	p->f[i].seen = *now;
	return i;
}

static void on_progress(void *ctx, const char *folder, uint64_t done, uint64_t total, uint64_t bytes)
{
	struct progress *p = ctx;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	size_t slot = folder_slot(p, folder, &now);
	struct timespec start = p->f[slot].start;
	if (done >= total) /* the folder's last report: its slot is free */
		p->f[slot].folder = NULL;
	if (done < total && p->shown && since(&p->last, &now) < 0.1)
		return;
	p->last = now;
	p->shown = 1;
	double t = since(&start, &now), rate = t > 0.2 ? (double)bytes / t : 0;
	double eta = done && t > 0.2 ? t * (double)(total - done) / (double)done : 0;
	struct buf line = BUF_INIT;
	buf_addf(&line, "%s: %s: %" PRIu64 "/%" PRIu64 " messages, %.1f MB",
		 p->account, folder, done, total, (double)bytes / 1e6);
	if (rate > 0)
		buf_addf(&line, ", %.1f MB/s, ETA %.0f s", rate / 1e6, eta);
	log_defang(&line, 0); /* the folder's name: no bidi override on the terminal */
	log_progress(line.data);
	buf_free(&line);
}

static void progress_clear(struct progress *p)
{
	if (p->shown)
		log_progress_clear();
	p->shown = 0;
}

static void run_account(const struct account *acct, struct account_outcome *o, int show_progress)
{
	struct progress prog = { .account = acct->name };
	struct sync_options opt = { .snapshot = acct->snapshot, .on_folder = on_folder,
				    .on_folder_uncommitted = on_folder_uncommitted, .folder_ctx = o };
	if (show_progress) {
		opt.on_progress = on_progress;
		opt.progress_ctx = &prog;
	}
	memset(o, 0, sizeof(*o));
	sync_account(acct, &opt, &o->res);
	progress_clear(&prog);
	o->snapshot_failed = opt.snapshot_failed;
	account_json_close(o, acct, sync_snapshot_word(&opt));
}

/* Child -> parent: the result struct, then the JSON text, through a temp file;
 * 0, or -1 when it could not all be written: the child then exits with
 * OUTCOME_UNWRITTEN, and the parent does not take a cut JSON object for one. */
#define OUTCOME_UNWRITTEN 70
static int outcome_write(FILE *f, const struct account_outcome *o)
{
	if (fwrite(&o->res, sizeof(o->res), 1, f) != 1 ||
	    fwrite(&o->snapshot_failed, sizeof(o->snapshot_failed), 1, f) != 1 ||
	    fwrite(o->json.data, 1, o->json.len, f) != o->json.len || fflush(f) != 0)
		return -1;
	return 0;
}

static int outcome_read(FILE *f, struct account_outcome *o)
{
	char chunk[4096];
	size_t n;
	memset(o, 0, sizeof(*o));
	rewind(f);
	if (fread(&o->res, sizeof(o->res), 1, f) != 1 ||
	    fread(&o->snapshot_failed, sizeof(o->snapshot_failed), 1, f) != 1)
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&o->json, chunk, n);
	return 0;
}

/* An account whose process gave no result: failed, with WHY. */
static void outcome_lost(struct account_outcome *o, const struct account *acct, const char *why)
{
	memset(o, 0, sizeof(*o));
	o->res.status = SYNC_FAILED;
	snprintf(o->res.error, sizeof(o->res.error), "%s", why);
	log_error("account %s: %s", acct->name, o->res.error);
	account_json_close(o, acct, acct->snapshot ? "skipped" : "off");
}

/* A child's result goes to an anonymous file in memory: nothing in /tmp (or
 * left there by a kill), and close-on-exec, so a password command spawned by
 * the account never holds it. tmpfile() where memfd_create() is missing. */
static FILE *result_file(void)
{
	int fd = memfd_create("mailkeep-result", MFD_CLOEXEC);
	FILE *f;
	if (fd < 0)
		return tmpfile();
	f = fdopen(fd, "w+");
	if (!f)
		close(fd);
	return f;
}

/* The account process: runs ACCT, writes its outcome to FILE, exits. */
static void account_child(const struct account *acct, FILE *file, pid_t parent) __attribute__((noreturn));
static void account_child(const struct account *acct, FILE *file, pid_t parent)
{
	struct account_outcome o;
	/* dies with the parent: a killed run must not leave account
	 * processes holding their locks (the rerun would find them
	 * locked); for the child it is one more kill point. SIGTERM,
	 * not SIGKILL: a password command running then is killed
	 * with the child (config_password.c), not left behind.
	 * Neither ignored nor blocked, whatever mailkeep inherited. */
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	signal(SIGTERM, SIG_DFL);
	sigprocmask(SIG_UNBLOCK, &term, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(1);
	run_account(acct, &o, 0);
	_exit(outcome_write(file, &o) < 0 ? OUTCOME_UNWRITTEN : 0);
}

/* The account process of ACCT ended with wait status ST: its outcome read
 * from *file into OUT, or why there is none; *file closed. */
static void account_reaped(const struct account *acct, int st, FILE **file, struct account_outcome *out)
{
	char why[128];
	if ((WIFEXITED(st) && WEXITSTATUS(st) == OUTCOME_UNWRITTEN) ||
	    outcome_read(*file, out) < 0) {
		if (WIFEXITED(st) && WEXITSTATUS(st) == OUTCOME_UNWRITTEN)
			snprintf(why, sizeof(why), "account process could not write its result "
				 "(a full or size-limited file system?)");
		else if (WIFSIGNALED(st))
			snprintf(why, sizeof(why), "account process killed by signal %d (%s), no result",
				 WTERMSIG(st), strsignal(WTERMSIG(st)));
		else
			snprintf(why, sizeof(why), "account process exited with status %d, no result",
				 WIFEXITED(st) ? WEXITSTATUS(st) : st);
		outcome_lost(out, acct, why);
	}
	/* closed now, not at the end: one open file per account
	 * would run out of descriptors (ulimit -n) with many accounts */
	fclose(*file);
	*file = NULL;
}

/* Run accounts in up to `jobs` processes. A child that dies without a result
 * counts as failed, and so does every account not heard of when wait() fails. */
static void run_parallel(const struct account **accts, size_t n, int jobs, struct account_outcome *out)
{
	pid_t *pids = xcalloc(n, sizeof(*pids));
	FILE **files = xcalloc(n, sizeof(*files));
	size_t next = 0, running = 0;
	pid_t parent = getpid();
	int wait_errno = 0;
	char why[128];
	fflush(NULL);
	while (next < n || running) {
		if (next < n && running < (size_t)jobs) {
			files[next] = result_file();
			pid_t pid = files[next] ? fork() : -1;
			if (pid == 0)
				account_child(accts[next], files[next], parent);
			if (pid < 0) {
				/* no process: run it here */
				if (files[next])
					fclose(files[next]);
				files[next] = NULL;
				run_account(accts[next], &out[next], 0);
			} else {
				pids[next] = pid;
				running++;
			}
			next++;
			continue;
		}
		int st;
		pid_t done = wait(&st);
		if (done < 0) {
			if (errno == EINTR)
				continue;
			wait_errno = errno;
			break;
		}
		for (size_t i = 0; i < next; i++) {
			if (pids[i] != done)
				continue;
			running--;
			pids[i] = 0;
			account_reaped(accts[i], st, &files[i], &out[i]);
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (i >= next || pids[i]) { /* never started, or never reaped */
			snprintf(why, sizeof(why), "no result from the account process (wait: %s)",
				 strerror(wait_errno));
			outcome_lost(&out[i], accts[i], why);
		}
		if (files[i])
			fclose(files[i]);
	}
	free(pids);
	free(files);
}

/* The --json document: the run's exit code and one object per account. */
static void json_report(time_t started, double seconds, int code, const struct account_outcome *out, size_t n)
{
	char when[32];
	struct tm tm;
	gmtime_r(&started, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("{\"mailkeep\": \"%s\", \"command\": \"sync\", \"started\": \"%s\", \"exit_code\": %d, "
	       "\"seconds\": %.3f,\n \"accounts\": [", MAILKEEP_VERSION, when, code, seconds);
	for (size_t i = 0; i < n && out; i++)
		printf("%s\n    %s", i ? "," : "", out[i].json.data ? out[i].json.data : "{}");
	printf("%s]}\n", n && out ? "\n " : "");
}

void cli_sync_json_usage_error(void)
{
	json_report(time(NULL), 0, EXIT_USAGE, NULL, 0);
}

int cli_cmd_sync(struct cli *cli, int argc, char **argv)
{
	struct config cfg = { 0 };
	const struct account **accts = NULL;
	struct account_outcome *out = NULL;
	size_t n = 0, failed = 0, locked = 0, partial = 0, snap_failed = 0;
	int code = EXIT_USAGE;
	struct timespec t0, t1;
	time_t started = time(NULL);

	/* progress and the summary are for people at a terminal; cron gets silence */
	int tty = isatty(STDERR_FILENO);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (cli_load_config(cli, &cfg) < 0)
		goto json;
	if (cli_select_accounts(cli, &cfg, argc, argv, &accts, &n) < 0)
		goto json;
	out = xcalloc(n + 1, sizeof(*out));
	if (cli->jobs > 1 && n > 1)
		run_parallel(accts, n, cli->jobs, out);
	else
		for (size_t i = 0; i < n; i++)
			run_account(accts[i], &out[i], tty && !cli->quiet);
	for (size_t i = 0; i < n; i++) {
		const struct sync_result *r = &out[i].res;
		switch (r->status) {
		case SYNC_OK: break;
		case SYNC_PARTIAL: partial++; break;
		case SYNC_FAILED: failed++; break;
		case SYNC_LOCKED: locked++; break;
		}
		snap_failed += out[i].snapshot_failed;
		if (r->status != SYNC_LOCKED && r->status != SYNC_FAILED && tty && !cli->quiet &&
		    log_get_level() < LOG_VERBOSE)
			fprintf(stderr, "%s: %" PRIu64 " new (%.1f MB), %" PRIu64 " flag changes, %" PRIu64
				" removed, %" PRIu64 " folders%s, %.1f s\n", accts[i]->name, r->counts.added,
				(double)r->counts.bytes / 1e6, r->counts.renamed, r->counts.removed,
				r->counts.folders, r->counts.folders_failed ? " (some failed)" : "", r->seconds);
		if (r->status != SYNC_LOCKED && r->status != SYNC_FAILED)
			log_info("account %s: %" PRIu64 " folders (%" PRIu64 " unchanged, %" PRIu64
				 " failed), %" PRIu64 " new (%" PRIu64 " bytes), %" PRIu64 " flag changes, %"
				 PRIu64 " removed, %lu round trips, %.2f s",
				 accts[i]->name, r->counts.folders, r->counts.folders_unchanged,
				 r->counts.folders_failed, r->counts.added, r->counts.bytes, r->counts.renamed,
				 r->counts.removed, r->round_trips, r->seconds);
	}
	/* a held lock is the mildest outcome (another run is doing the work):
	 * it gives way to a failed snapshot, as in `mailkeep snapshot` */
	if (n && failed == n)
		code = EXIT_FAILED;
	else if (failed || partial)
		code = EXIT_PARTIAL;
	else if (snap_failed)
		code = EXIT_SNAPSHOT;
	else if (locked)
		code = EXIT_LOCKED;
	else
		code = EXIT_OK;
json:
	if (cli->json) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		json_report(started, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
			    code, out, n);
	}
	for (size_t i = 0; i < n && out; i++)
		buf_free(&out[i].json);
	free(out);
	free(accts);
	config_free(&cfg);
	return code;
}
