/* Interned keyword sets: a small open-addressing hash table of strings. */
#include "mailkeep/kwset.h"

#include <stdlib.h>
#include <string.h>

#include "mailkeep/buf.h"

/* What a set costs besides its string: two slots (the table is at most half
 * full) of a pointer and a hash each. */
#define SLOT_BYTES (2 * (sizeof(char *) + sizeof(uint64_t)))

static uint64_t hash_of(const char *s, size_t len)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a */
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* The slot holding s, or the free one where it goes. */
static size_t find_slot(const struct kwset *t, const char *s, uint64_t h)
{
	size_t mask = t->cap - 1, i = (size_t)h & mask;
	while (t->slot[i] && (t->hash[i] != h || strcmp(t->slot[i], s)))
		i = (i + 1) & mask;
	return i;
}

static void grow(struct kwset *t)
{
	size_t old_cap = t->cap;
	char **old_slot = t->slot;
	uint64_t *old_hash = t->hash;
	t->cap = old_cap ? old_cap * 2 : 16;
	t->slot = xcalloc(t->cap, sizeof(*t->slot));
	t->hash = xcalloc(t->cap, sizeof(*t->hash));
	for (size_t i = 0; i < old_cap; i++) {
		if (!old_slot[i])
			continue;
		size_t j = find_slot(t, old_slot[i], old_hash[i]);
		t->slot[j] = old_slot[i];
		t->hash[j] = old_hash[i];
	}
	free(old_slot);
	free(old_hash);
}

const char *kwset_intern(struct kwset *t, const char *s)
{
	if (!s || !*s)
		return NULL;
	size_t len = strlen(s);
	uint64_t h = hash_of(s, len);
	if (t->cap) {
		size_t i = find_slot(t, s, h);
		if (t->slot[i])
			return t->slot[i];
	}
	size_t limit = t->limit ? t->limit : KWSET_CAP;
	if (t->bytes + len + 1 + SLOT_BYTES > limit) {
		t->refused++;
		return NULL;
	}
	if ((t->n + 1) * 2 > t->cap)
		grow(t);
	size_t i = find_slot(t, s, h);
	t->slot[i] = xstrndup(s, len);
	t->hash[i] = h;
	t->n++;
	t->bytes += len + 1 + SLOT_BYTES;
	return t->slot[i];
}

void kwset_free(struct kwset *t)
{
	for (size_t i = 0; i < t->cap; i++)
		free(t->slot[i]);
	free(t->slot);
	free(t->hash);
	size_t limit = t->limit;
	memset(t, 0, sizeof(*t));
	t->limit = limit;
}
