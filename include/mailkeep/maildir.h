/* Maildir store: folder paths, name escaping, flags <-> ":2," info, message
 * delivery (tmp -> fsync -> rename), rename on flag change, removal.
 *
 * Layout: <account dir>/<escaped folder path>/{cur,new,tmp}. The server
 * hierarchy becomes nested directories; INBOX is "INBOX". Each path component of
 * the decoded UTF-8 folder name is escaped by maildir_escape_component() so that
 * no server name can leave the account directory or collide with cur/new/tmp or
 * with mailkeep's own dot files.
 *
 * File names: "<internaldate>.<uidvalidity>_<uid>.mailkeep,U=<uid>:2,<flags>"
 * where <flags> is the sorted subset of "DFPRST". Directories are 0700, files 0600.
 */
#ifndef MAILKEEP_MAILDIR_H
#define MAILKEEP_MAILDIR_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mailkeep/buf.h"

/* Standard Maildir flags as a bit mask; letters in ASCII order as Maildir requires. */
enum {
	MFLAG_DRAFT = 1 << 0,   /* D  \Draft */
	MFLAG_FLAGGED = 1 << 1, /* F  \Flagged */
	MFLAG_PASSED = 1 << 2,  /* P  $Forwarded */
	MFLAG_REPLIED = 1 << 3, /* R  \Answered */
	MFLAG_SEEN = 1 << 4,    /* S  \Seen */
	MFLAG_TRASHED = 1 << 5, /* T  \Deleted */
};
#define MFLAG_ALL 0x3f

/* ---- pure helpers (src/maildir_name.c) ---- */

/* Map one IMAP flag (e.g. "\\Seen", "$Forwarded", case-insensitive) to its bit;
 * 0 when it is not one of the six (a keyword or \Recent etc.). */
unsigned maildir_flag_from_imap(const char *flag, size_t len);
/* The IMAP name of a single bit ("\\Seen"...), or NULL. */
const char *maildir_flag_to_imap(unsigned bit);
/* Write the letters of mask in order ("DFPRST" subset) into out (>= 7 bytes). */
void maildir_flags_to_letters(unsigned mask, char *out);
/* Parse letters after ":2,"; unknown letters (e.g. Dovecot keyword letters a-z)
 * are ignored. Returns the mask. */
unsigned maildir_flags_from_letters(const char *s, size_t len);

/* Escape one hierarchy component of a decoded folder name for use as a
 * directory name, reversibly: '%' -> "%25", '/' -> "%2F", bytes < 0x20 and 0x7F
 * -> "%XX", a leading '.' -> "%2E", the whole components "cur", "new", "tmp"
 * (case-insensitive) get their first letter escaped ("%63ur"), and the empty
 * component becomes "%". Appends to out. Returns 0, or -1 when the component
 * contains a NUL byte (never valid). */
int maildir_escape_component(const char *comp, size_t len, struct buf *out);
/* Reverse of maildir_escape_component(); appends to out. -1 on malformed input. */
int maildir_unescape_component(const char *esc, size_t len, struct buf *out);

/* Relative directory for a decoded folder name with hierarchy delimiter `delim`
 * (0 when the server has no hierarchy): components escaped and joined with '/'.
 * A name equal to "INBOX" case-insensitively, or starting with "INBOX<delim>",
 * has that first component normalised to "INBOX". Writes into out (reset first).
 * Returns 0 or -1 (NUL in name, or more than 64 levels). */
int maildir_folder_path(const char *name, char delim, struct buf *out);

/* Parse a message file name made by mailkeep (or any name with ",U=<uid>" before
 * the ":2," info): sets *uid and *flags (from the ":2," part, or a ";2," or "!2,"
 * right after mailkeep's base; 0 when absent), and *uidvalidity when the name has
 * the "<uidvalidity>_<uid>" part (else 0). A name that starts with mailkeep's
 * base is its message's whatever follows. Returns 0, or -1 when the name has no
 * valid U= field. */
int maildir_parse_name(const char *name, uint32_t *uid, uint32_t *uidvalidity, unsigned *flags);

/* 1 when name ends in ":2," and standard flag letters only, in order, each once
 * (what maildir_name_with_flags() writes); 0 for no info, another info version,
 * unknown letters (Dovecot keywords), repeated or unsorted letters. */
int maildir_info_canonical(const char *name);

/* Compose "<date>.<uidvalidity>_<uid>.mailkeep,U=<uid>" (no info part) into out (reset first). */
void maildir_base_name(struct buf *out, int64_t date, uint32_t uidvalidity, uint32_t uid);
/* The whole name mailkeep gives a message: maildir_base_name() + ":2,<flags>". */
void maildir_canonical_name(struct buf *out, int64_t date, uint32_t uidvalidity, uint32_t uid, unsigned flags);
/* 0 and *date when name starts with a date and a dot ("<date>." as mailkeep's
 * names do: maildir_base_name()); -1 otherwise. */
int maildir_name_leading_date(const char *name, int64_t *date);
/* 0 and *date when name is exactly maildir_canonical_name(*date, uidvalidity,
 * uid, flags) for some date; -1 otherwise. */
int maildir_name_date(const char *name, uint32_t uidvalidity, uint32_t uid, unsigned flags, int64_t *date);
/* Given a file name, write it with its ":2,<flags>" info replaced (or added) into
 * out (reset first). Characters of the info after the flag letters that are not
 * standard letters (e.g. Dovecot keyword letters) are dropped. */
void maildir_name_with_flags(struct buf *out, const char *name, unsigned flags);
/* The length of the name maildir_name_with_flags(name, flags) gives. */
size_t maildir_renamed_len(const char *name, unsigned flags);
/* The longest file name a directory holds (NAME_MAX on Linux file systems). */
#define MAILDIR_NAME_MAX 255

/* ---- filesystem (src/maildir.c) ---- */

/* Create dir and all missing parents under base with mode 0700. The path `rel`
 * must be relative and free of "." / ".." components. Returns 0 or -1 with err. */
int maildir_mkdirs(const char *base, const char *rel, char *err, size_t errlen);

/* mkdir -p of an absolute or relative path; missing components are made 0700. */
int maildir_mkdir_p(const char *path, char *err, size_t errlen);

/* Call fn(ctx, dir, rel) for every directory below base (depth first, at most
 * 64 levels), where dir is the full path and rel the path below base. Names
 * starting with '.', cur/new/tmp and anything that is not a real directory
 * (symbolic links included) are skipped. */
void maildir_walk(const char *base, void (*fn)(void *ctx, const char *dir, const char *rel), void *ctx);

/* Ensure <dir>/{cur,new,tmp} exist (0700). */
int maildir_create(const char *dir, char *err, size_t errlen);

/* Make the directory PATH private (0700) again when it is opened to others
 * (made beforehand by hand, restored from an archive). A symbolic link is
 * followed (an account directory kept on another disk), to a directory of the
 * running user only. Never fails: a file system without modes refuses it on
 * every run. */
void maildir_make_private(const char *path);

/* Make each directory on the way from BASE down to BASE/REL (BASE itself not
 * included) private (0700) again, as maildir_make_private, a directory of the
 * running user only; stops at the first level that is not a real directory (a
 * symbolic link is never followed). Never fails. */
void maildir_make_private_below(const char *base, const char *rel);

/* Make the entries directly in DIR private again: regular files 0600,
 * directories 0700 (not looked into), those of the running user only; symbolic
 * links and other files are left. Never fails. */
void maildir_entries_private(const char *dir);

/* An open delivery: a file in <dir>/tmp being written. */
struct maildir_delivery {
	int fd;
	char *tmp_path; /* owned */
	uint64_t bytes; /* bytes taken so far (after CRLF -> LF) */
	int saw_cr;     /* CRLF conversion state */
	char *wbuf;     /* owned; converted bytes not yet written (MAILDIR_WBUF) */
	size_t wlen;
	int early_writeback; /* set by the caller: finish starts the write-back */
};

/* Bodies reach the delivery in TLS-record-sized pieces (4-16 KiB); they are
 * written in pieces of this size instead, one write(2) where there were 16. */
#define MAILDIR_WBUF ((size_t)64 << 10)

/* A new file at path, 0600, open for writing: what was left there (a killed
 * run's file, opened to others since, a symbolic or hard link planted there)
 * is unlinked first, never written through or truncated, nor its mode kept.
 * The descriptor, or -1 with errno. */
int maildir_open_fresh(const char *path);

/* Open <dir>/tmp/<base> for writing (maildir_open_fresh). */
int maildir_delivery_open(struct maildir_delivery *d, const char *dir, const char *base,
			  char *err, size_t errlen);
/* Append bytes, converting CRLF line ends to LF. */
int maildir_delivery_write(struct maildir_delivery *d, const char *data, size_t len,
			   char *err, size_t errlen);
/* Flush a pending CR, fsync (when do_fsync), set mtime to `date`, close. */
int maildir_delivery_finish(struct maildir_delivery *d, int64_t date, int do_fsync,
			    char *err, size_t errlen);
/* Move the finished file to <dir>/cur/<final_name> (rename(2)). */
int maildir_delivery_commit(struct maildir_delivery *d, const char *dir, const char *final_name,
			    char *err, size_t errlen);
/* Abort: close and unlink the tmp file. Safe to call twice. */
void maildir_delivery_abort(struct maildir_delivery *d);

/* Flush every written file of the file system holding dir (syncfs(2)): one call
 * makes a whole batch of deliveries durable before they are renamed. */
int maildir_sync_fs(const char *dir, char *err, size_t errlen);

/* fsync a directory by path. */
int maildir_fsync_dir(const char *dir, char *err, size_t errlen);

/* write(2) all of data, again after EINTR and short writes; -1 with errno. */
int maildir_write_all(int fd, const char *data, size_t len);

/* Replace the file at path with data, atomically and durably: path.tmp
 * (maildir_open_fresh), fsync, rename over path, fsync of its
 * directory. The .tmp is removed on failure. */
int maildir_write_file_atomic(const char *path, const char *data, size_t len, char *err, size_t errlen);

/* maildir_read_file(): a file of the running user opened to others since is
 * made 0600 again (a state of mailkeep's own). */
#define MAILDIR_READ_PRIVATE 1u
/* The whole of the small file at path (a state, a record) appended to out,
 * NUL-terminated, without following a symbolic link or waiting on a FIFO.
 * 0, or -1 with errno: ENOENT when there is none, ELOOP for a symbolic link,
 * EINVAL when it is not a regular file, EFBIG when it holds more than max
 * bytes, else open(2)'s or read(2)'s (out then as it was). */
int maildir_read_file(const char *path, size_t max, unsigned flags, struct buf *out);

/* A message file found in a folder's cur/ or new/. */
struct maildir_file {
	uint32_t uid;
	uint32_t uidvalidity; /* from the name; 0 when the name has none */
	uint8_t flags;
	uint8_t in_new;       /* 1 = new/, 0 = cur/ */
	uint8_t odd_info;     /* the name's info is not ":2," and the flag letters in order */
	uint32_t name_off;    /* offset of the NUL-terminated file name in the view's pool */
};

/* What is on disk for one folder: files carrying a U= tag, sorted by uid (a uid
 * may appear more than once when a mail reader copied a file), and the count of
 * other files (not made by mailkeep: left alone). */
struct maildir_view {
	struct maildir_file *files;
	size_t n, cap;
	struct buf names;
	size_t foreign;
};

/* Append a file to a view (maildir_scan() does, for every file it reads). */
void maildir_view_add(struct maildir_view *view, const char *name, uint32_t uid, uint32_t uidvalidity,
		      unsigned flags, int in_new);

/* Scan <dir>/cur and <dir>/new (missing dirs are empty). Returns 0 or -1. */
int maildir_scan(const char *dir, struct maildir_view *view, char *err, size_t errlen);
static inline const char *maildir_view_name(const struct maildir_view *v, const struct maildir_file *f)
{
	return v->names.data + f->name_off;
}
void maildir_view_free(struct maildir_view *view);

/* Called by maildir_each_file() for a file of mailkeep's in <subdir> (the folder's
 * cur/ or new/), its name parsed into *file (name_off unused). A negative
 * return stops the walk, err set. */
typedef int (*maildir_file_fn)(void *ctx, const char *subdir, const char *name, const struct maildir_file *file,
			       char *err, size_t errlen);
/* Read <dir>/cur and <dir>/new as maildir_scan() does, without keeping the
 * names: fn sees each file once, in directory order; other programs' files are
 * counted in *foreign. Memory stays constant whatever the folder holds.
 * Returns 0 or -1 (err set). */
int maildir_each_file(const char *dir, maildir_file_fn fn, void *ctx, size_t *foreign, char *err, size_t errlen);

/* Rename <dir>/<cur|new>/<name> to <dir>/cur/<new_name>. 0, or 1 (err set)
 * when there is no such file, or -1. */
int maildir_rename(const char *dir, int in_new, const char *name, const char *new_name,
		   char *err, size_t errlen);
/* Unlink <dir>/<cur|new>/<name>. 0, or 1 (err set) when the file is already
 * gone (not an error for a caller that read the directory), or -1. */
int maildir_remove(const char *dir, int in_new, const char *name, char *err, size_t errlen);
/* Whether a file name in tmp/ is mailkeep's (".mailkeep" in it: an interrupted
 * run's), not another program's (a delivery in progress). */
int maildir_tmp_is_ours(const char *name);
/* Remove mailkeep's files in <dir>/tmp (leftovers of an interrupted run), and
 * other programs' files there once they are 36 hours old. */
int maildir_clean_tmp(const char *dir, char *err, size_t errlen);
/* 1 when <dir>/tmp is a directory (deleted by hand, the folder is no Maildir
 * until a run opens it and makes tmp/ again: maildir_create()). */
int maildir_has_tmp(const char *dir);
/* Change times (st_ctim, ns) of <dir>/cur and <dir>/new; 0 when missing. Any
 * entry added, removed or renamed there changes them, as it does the mtime, but
 * no tool can put them back (`touch -d`, `rsync -t` set the mtime, and the
 * ctime to now): what tells that a reader changed a folder. */
void maildir_dir_mtimes(const char *dir, int64_t *cur_ns, int64_t *new_ns);

#endif
