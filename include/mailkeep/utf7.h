/* Modified UTF-7 for IMAP mailbox names (RFC 3501 §5.1.3). Pure. */
#ifndef MAILKEEP_UTF7_H
#define MAILKEEP_UTF7_H

#include <stddef.h>
#include <stdint.h>

/* Decode a modified-UTF-7 mailbox name into UTF-8, appended to a malloc'd
 * NUL-terminated string (*out, caller frees). Returns 0, or -1 on malformed input
 * (bad base64, unterminated "&...", non-zero padding bits, encoded printable ASCII,
 * unpaired surrogates, NUL or control characters, raw 8-bit bytes). */
int utf7_decode(const char *in, size_t len, char **out);

/* Encode UTF-8 into modified UTF-7 (caller frees *out). Returns 0, or -1 when the
 * input is not valid UTF-8 (overlongs, surrogates, > U+10FFFF rejected). */
int utf7_encode(const char *in, size_t len, char **out);

/* Decode the UTF-8 scalar value at s[*pos] (strictly, as utf7_encode does)
 * into *cp and advance *pos past it. Returns 0, or -1 with *pos unchanged when
 * the bytes there are not valid UTF-8. */
int utf7_next_utf8(const char *s, size_t len, size_t *pos, uint32_t *cp);

#endif
