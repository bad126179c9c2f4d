/* libFuzzer target for the per-folder state file (src/state.c): a user, a
 * crash of another program or a copy by hand may leave any bytes in
 * .mailkeep-state. Build: `make fuzz`; run e.g.
 *
 *   build/fuzz/fuzz_state -max_total_time=60 -max_len=8192
 *
 * The input is written as the state file of a scratch directory (under
 * $TMPDIR, /dev/shm when unset: a file system in memory) and read with
 * state_load() and state_load_header(). Properties:
 *  - a state that loads has strictly increasing uids (> 0), flags within
 *    MFLAG_ALL, and as many message lines as its `messages` line says;
 *  - saved and loaded again it is state_equal() to itself, and saving that
 *    gives the same bytes (the format is a fixed point after one save);
 *  - when the header alone loads (0) and the full load does too, they give
 *    the same header fields: the no-change check takes the header for the
 *    file; a file without message lines that the header load reads whole
 *    and takes, the full load takes too. (With message lines the header
 *    load trusts the `messages` count by design: it does not read them.) */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mailkeep/buf.h"
#include "mailkeep/maildir.h"
#include "mailkeep/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char in_dir[256], out_dir[256];

static void make_dir(char *dst, size_t n, const char *base, const char *name)
{
	snprintf(dst, n, "%s/fuzz-state-%ld-%s-XXXXXX", base, (long)getpid(), name);
	if (!mkdtemp(dst))
		abort();
}

static void remove_dir(const char *dir)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, STATE_FILE);
	unlink(path);
	rmdir(dir);
}

/* the scratch directories, when the run ends by itself (-runs, -max_total_time) */
static void remove_dirs(void)
{
	remove_dir(in_dir);
	remove_dir(out_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = getenv("TMPDIR");
	if (!base || !*base)
		base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	make_dir(in_dir, sizeof(in_dir), base, "in");
	make_dir(out_dir, sizeof(out_dir), base, "out");
	atexit(remove_dirs);
	return 0;
}

static void write_state(const char *dir, const uint8_t *data, size_t size)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, STATE_FILE);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || maildir_write_all(fd, (const char *)data, size) < 0)
		abort();
	close(fd);
}

static void read_state(const char *dir, struct buf *out)
{
	char path[512], chunk[4096];
	ssize_t n;
	snprintf(path, sizeof(path), "%s/%s", dir, STATE_FILE);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		abort();
	buf_reset(out);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(out, chunk, (size_t)n);
	close(fd);
}

static int same_header(const struct folder_state *a, const struct folder_state *b)
{
	return a->uidvalidity == b->uidvalidity && a->uidnext == b->uidnext &&
	       a->highestmodseq == b->highestmodseq && a->cur_mtime_ns == b->cur_mtime_ns &&
	       a->new_mtime_ns == b->new_mtime_ns && a->listed == b->listed && a->orphaned == b->orphaned &&
	       a->kept == b->kept && a->special == b->special && a->folder_id == b->folder_id &&
	       a->declared == b->declared && a->keywords_capped == b->keywords_capped;
}

static void check_loaded(const struct folder_state *st)
{
	for (size_t i = 0; i < st->n; i++) {
		if (!st->msgs[i].uid || (i && st->msgs[i].uid <= st->msgs[i - 1].uid))
			abort();
		if (st->msgs[i].flags & ~MFLAG_ALL)
			abort();
		if (st->msgs[i].keywords && (!*st->msgs[i].keywords || strchr(st->msgs[i].keywords, '\n')))
			abort();
		if (state_find(st, st->msgs[i].uid) != &st->msgs[i])
			abort();
	}
	if (st->declared >= 0 && (size_t)st->declared != st->n)
		abort();
}

/* save, load, compare; save again, compare the bytes */
static void check_round_trip(const struct folder_state *st)
{
	struct folder_state again;
	struct buf first = BUF_INIT, second = BUF_INIT;
	char err[512];
	if (state_save(out_dir, st, err, sizeof(err)) < 0)
		abort();
	read_state(out_dir, &first);
	if (state_load(out_dir, &again, err, sizeof(err)) != 0 || !state_equal(st, &again))
		abort();
	if (state_save(out_dir, &again, err, sizeof(err)) < 0)
		abort();
	read_state(out_dir, &second);
	if (first.len != second.len || memcmp(first.data, second.data, first.len))
		abort();
	state_free(&again);
	buf_free(&first);
	buf_free(&second);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct folder_state st, hdr;
	char err[512];
	write_state(in_dir, data, size);
	err[0] = '\0';
	int rc = state_load(in_dir, &st, err, sizeof(err));
	if (rc < 0 && (!err[0] || !memchr(err, '\0', sizeof(err))))
		abort(); /* a refused file is always said why */
	if (rc == 1)
		abort(); /* the file is there */
	int hrc = state_load_header(in_dir, &hdr, err, sizeof(err));
	if (hrc == 1 || (hrc == 0 && hdr.n))
		abort();
	if (rc == 0) {
		check_loaded(&st);
		check_round_trip(&st);
	}
	if (hrc == 0 && rc != 0 && size < 4000 && !memmem(data, size, "\nm ", 3))
		abort(); /* read whole by the header load, and taken: a full load takes it too */
	if (hrc == 0 && rc == 0) {
		/* the header alone was taken for the file */
		struct folder_state h = st;
		h.declared = (int64_t)st.n;
		if (!same_header(&hdr, &h))
			abort();
	}
	state_free(&hdr);
	state_free(&st);
	return 0;
}
