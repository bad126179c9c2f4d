/* Logging to stderr; the verbosity level is the one global in mailkeep. */
#include "mailkeep/log.h"

#include <stdarg.h>
#include <stdio.h>

static int level = LOG_NORMAL;

void log_set_level(int l) { level = l; }
int log_get_level(void) { return level; }

static void emit(const char *prefix, const char *fmt, va_list ap)
{
	fputs("mailkeep: ", stderr);
	if (prefix)
		fputs(prefix, stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
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

void log_debug(const char *fmt, ...)
{
	if (level < LOG_DEBUG)
		return;
	va_list ap;
	va_start(ap, fmt);
	emit("debug: ", fmt, ap);
	va_end(ap);
}
