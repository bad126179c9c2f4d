/* Re-key (pure): a folder whose UIDVALIDITY changed while its messages stayed
 * (Courier's folder that no client SELECTed, a server's index rebuilt) is
 * renamed to the new UIDVALIDITY and UIDs instead of moved aside and
 * downloaded again (docs/design.md, "Sync of a folder", step 2). This module
 * decides whether the server's messages are provably the state's, and reads
 * and writes the record (<folder>/.mailkeep-rekey) that lets a killed re-key
 * be finished. No I/O. */
#ifndef MAILKEEP_REKEY_H
#define MAILKEEP_REKEY_H

#include <stddef.h>
#include <stdint.h>

#include "mailkeep/buf.h"

#define REKEY_FILE ".mailkeep-rekey"

/* A message of the state with its file: the date its name starts with
 * (STATE_NO_DATE: unknown) and the file's size with every LF counted as CRLF
 * (UINT64_MAX: unknown), what the server's RFC822.SIZE says of it. */
struct rekey_local {
	uint32_t uid;
	int64_t date;
	uint64_t crlf_size;
};

/* A message as the server lists it: UID, INTERNALDATE (INT64_MIN: not given),
 * RFC822.SIZE (UINT64_MAX: not given). */
struct rekey_server {
	uint32_t uid;
	int64_t internaldate;
	uint64_t size;
};

struct rekey_pair {
	uint32_t old_uid, new_uid;
};

/* What a re-key does, as its record holds it. */
struct rekey_plan {
	uint32_t old_uidvalidity, new_uidvalidity;
	uint32_t uidnext;         /* the server's; 0 when it gave none */
	struct rekey_pair *pairs; /* owned; ascending in both UIDs */
	size_t n;
};

/* Pair the state's messages (LOCAL, ascending UIDs) with the server's (SERVER,
 * ascending UIDs): each of LOCAL is the one of SERVER with its date (the
 * INTERNALDATE as a name gives it, 0 before 1970) and size, in the same order;
 * SERVER's others are new (mail delivered since). 0 and *PAIRS (NLOCAL of them,
 * the caller's to free) when every message matches; 1 with WHY when not (a
 * doubt is a mismatch: unsorted or repeated UIDs, a UID 0, a date or size not
 * known, no message at all, more in LOCAL than on the server, two of LOCAL or of
 * SERVER with the date and size of one of LOCAL: which is which cannot be told). */
int rekey_match(const struct rekey_local *local, size_t nlocal, const struct rekey_server *server, size_t nserver,
		struct rekey_pair **pairs, char *why, size_t whylen);

/* The record of PLAN, appended to OUT. */
void rekey_format(struct buf *out, const struct rekey_plan *plan);

/* Parse a record of LEN bytes into PLAN (its pairs the caller's:
 * rekey_plan_free). 0, or -1 with err when it is malformed (anything but
 * what rekey_format writes for a plan of two different nonzero UIDVALIDITYs
 * and at least one pair, ascending in both UIDs). */
int rekey_parse(const char *data, size_t len, struct rekey_plan *plan, char *err, size_t errlen);

void rekey_plan_free(struct rekey_plan *plan);

#endif
