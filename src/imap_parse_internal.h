/* Internals shared by the IMAP parser's files (imap_parse.c: a response parsed
 * into values; imap_frame.c: where a response ends). Pure, like them: no I/O.
 * Not a public interface. */
#ifndef MAILKEEP_IMAP_PARSE_INTERNAL_H
#define MAILKEEP_IMAP_PARSE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Parse the literal marker "{N}" or "{N+}" at s[0] == '{'. Sets *end to the
 * offset just past '}'. 0 ok, -1 when malformed or N is out of range. */
int imap_parse_marker(const unsigned char *s, size_t len, uint64_t *size, size_t *end);
/* "WHAT at byte POS near "EXCERPT"" into err: data[pos..] quoted, bounded, escaped. */
void imap_format_error(char *err, size_t errlen, const char *data, size_t len, size_t pos,
		       const char *what);

#endif
