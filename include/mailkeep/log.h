/* Logging: the only global mutable state in mailkeep. Messages go to stderr.
 * Secrets must never be passed to these functions. */
#ifndef MAILKEEP_LOG_H
#define MAILKEEP_LOG_H

#include <stddef.h>

enum log_level {
	LOG_QUIET = -1, /* -q: errors only */
	LOG_NORMAL = 0, /* default: errors and warnings */
	LOG_VERBOSE = 1, /* -v: per-account / per-folder summaries */
	LOG_DEBUG = 2,  /* -vv: protocol trace (credentials are masked) */
};

void log_set_level(int level);
int log_get_level(void);
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  /* shown with -v */
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* shown with -vv */
/* Draw line as the progress line of a terminal (redrawn in place, no newline);
 * the next message clears it first, so that it starts a line of its own. */
void log_progress(const char *line);
/* Erase the progress line, if one is shown. */
void log_progress_clear(void);
/* C1 controls and bidi overrides in b from `from` on written as \\uXXXX (terminal safety). */
struct buf;
void log_defang(struct buf *b, size_t from);

#endif
