/* Logging to stderr. Its level, start time and progress mark are three of the
 * few variables at file scope (docs/design.md, "File-level state"). */
#include "mailkeep/log.h"

#include "mailkeep/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static int level = LOG_NORMAL;
static struct timespec start; /* debug lines count from the moment the level is set */
static int progress_shown; /* a progress line without its newline is on stderr; under stderr's lock */

void log_set_level(int l)
{
	level = l;
	clock_gettime(CLOCK_MONOTONIC, &start);
}
int log_get_level(void) { return level; }

/* One line, whole even when threads log at once; a progress line on the
 * terminal is cleared first, else the message would continue it. The line is
 * written in one piece: stderr is unbuffered, and the account processes of
 * --jobs share it, so a line written in parts would be cut by another's. */
/* The characters a terminal acts on that a message may still hold (a folder
 * name decoded from modified UTF-7: C0 controls are refused there, the rest
 * not): C1 controls (U+0080..U+009F, UTF-8 C2 80..C2 9F) and the bidirectional
 * embeddings, overrides and isolates (U+202A..U+202E, U+2066..U+2069), written
 * as \u escapes. */
void log_defang(struct buf *line, size_t from)
{
	for (size_t i = from; i + 1 < line->len; i++) {
		const unsigned char *p = (const unsigned char *)line->data + i;
		unsigned cp = 0;
		size_t n = 0;
		if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			cp = p[1];
			n = 2;
		} else if (i + 2 < line->len && p[0] == 0xe2 && ((p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae) ||
								  (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9))) {
			cp = 0x2000 | (p[1] & 0x3f) << 6 | (p[2] & 0x3f);
			n = 3;
		}
		if (!n)
			continue;
		char esc[8];
		snprintf(esc, sizeof(esc), "\\u%04x", cp);
		struct buf rest = BUF_INIT;
		buf_add(&rest, line->data + i + n, line->len - i - n);
		line->len = i;
		buf_adds(line, esc);
		buf_add(line, rest.data, rest.len);
		buf_free(&rest);
		i += 5;
	}
}

static void emit(const char *prefix, const char *fmt, va_list ap)
{
	struct buf line = BUF_INIT;
	buf_adds(&line, "mailkeep: ");
	if (prefix)
		buf_adds(&line, prefix);
	size_t from = line.len;
	buf_vaddf(&line, fmt, ap);
	log_defang(&line, from);
	buf_addch(&line, '\n');
	flockfile(stderr);
	if (progress_shown)
		fputs("\r\033[K", stderr);
	progress_shown = 0;
	fwrite(line.data, 1, line.len, stderr);
	funlockfile(stderr);
	buf_free(&line);
}

void log_progress(const char *line)
{
	flockfile(stderr);
	fprintf(stderr, "\r\033[K%s", line);
	fflush(stderr);
	progress_shown = 1;
	funlockfile(stderr);
}

void log_progress_clear(void)
{
	flockfile(stderr);
	if (progress_shown)
		fputs("\r\033[K", stderr);
	progress_shown = 0;
	funlockfile(stderr);
}

void log_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit("error: ", fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	if (level < LOG_NORMAL)
		return;
	va_list ap;
	va_start(ap, fmt);
	emit("warning: ", fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	if (level < LOG_VERBOSE)
		return;
	va_list ap;
	va_start(ap, fmt);
	emit(NULL, fmt, ap);
	va_end(ap);
}

/* Debug lines carry the wall-clock milliseconds since the level was set (at
 * start-up): where a run spends its time. */
void log_debug(const char *fmt, ...)
{
	if (level < LOG_DEBUG)
		return;
	struct timespec now;
	char prefix[48];
	clock_gettime(CLOCK_MONOTONIC, &now);
	double ms = (double)(now.tv_sec - start.tv_sec) * 1e3 + (double)(now.tv_nsec - start.tv_nsec) / 1e6;
	snprintf(prefix, sizeof(prefix), "debug: %8.1f ms: ", ms);
	va_list ap;
	va_start(ap, fmt);
	emit(prefix, fmt, ap);
	va_end(ap);
}
