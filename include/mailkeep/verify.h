/* Offline views of a mirror: `mailkeep status` (what the last run did, what the
 * mirror holds) and `mailkeep verify` (the files agree with the state). No network. */
#ifndef MAILKEEP_VERIFY_H
#define MAILKEEP_VERIFY_H

#include <stddef.h>
#include <stdio.h>

#include "mailkeep/config.h"

/* Print the account's status to out. Returns 0, or -1 with err set when the
 * mirror does not exist. */
int verify_status(const struct account *acct, FILE *out, char *err, size_t errlen);

/* Check every folder of the mirror against its state: each recorded message
 * present exactly once in cur/, readable, with the recorded flags; no file of an
 * unknown UID (except expunged ones kept by deletions: keep); tmp/ empty.
 * Prints one line per difference to out and sets *problems. Returns 0, or -1
 * with err set when the mirror cannot be read. */
int verify_account(const struct account *acct, FILE *out, size_t *problems, char *err, size_t errlen);

#endif
