/* Interned keyword sets: each distinct space-separated keyword string of a
 * folder held once, whatever the number of messages that carry it (most carry
 * one of a handful: "$NotJunk", "$label1 NonJunk" ...). A table belongs to
 * one folder's list of messages (its state, the server's view of it, its push
 * state); the messages hold pointers into it.
 *
 * Bounded: a server may give every message its own set of up to 4 KB
 * (imap_keyword_ok), which would make memory grow with the mailbox. Past
 * KWSET_CAP bytes of distinct sets, a set not yet held is refused (its
 * message keeps no keywords) and counted, for the caller to warn once
 * (docs/design.md, "Message files"). */
#ifndef MAILKEEP_KWSET_H
#define MAILKEEP_KWSET_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of distinct sets a table holds at most: hundreds of sets of the
 * longest kind (4 KB), tens of thousands of ordinary ones. */
#define KWSET_CAP ((size_t)1 << 20)

struct kwset {
	char **slot;       /* open addressing, NULL: free; the strings are owned */
	uint64_t *hash;    /* parallel to slot */
	size_t n, cap;     /* sets held, slots (a power of 2, or 0) */
	size_t bytes;      /* what the sets held take (strings and slots) */
	size_t limit;      /* 0: KWSET_CAP (a test sets a smaller one) */
	size_t refused;    /* interns refused for the cap since kwset_free */
};

#define KWSET_INIT { 0 }

/* The table's copy of the keyword set s (its bytes, compared exactly), added
 * when new: owned by t, valid until kwset_free(t). NULL for NULL or "", and
 * when adding it would pass the cap (t->refused counted). */
const char *kwset_intern(struct kwset *t, const char *s);

/* Free every set held (the pointers kwset_intern gave become invalid) and
 * reset the table, its limit kept. */
void kwset_free(struct kwset *t);

#endif
