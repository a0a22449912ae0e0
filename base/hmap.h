/* hmap.h - the one in-memory hash table of the tree: maps keys to void *
 * values, by open addressing with linear probing (hmap.c).
 *
 * A key is either a NUL-terminated string or a byte string of a fixed
 * length, chosen once per table by hmap_init. Keys are BORROWED: the table
 * stores the caller's key pointer, never a copy, so a key must stay valid
 * and unchanged for as long as it is in the table (callers usually point
 * it into the value they store, e.g. a node's own name). Keys are never
 * NULL. Values are opaque; a NULL value is allowed, but then hmap_get
 * cannot tell it from an absent key.
 *
 * The table grows (doubling) when it gets ~70% full and never shrinks;
 * removal shifts the following entries back, so there are no tombstones and
 * lookups stay short after many removals. Nothing is thread-safe: callers
 * that share a table lock around every call, reads included.
 *
 * A zeroed hmap is valid and equal to one after hmap_init(m, 0): an empty
 * table of string keys that allocates nothing until the first hmap_put.
 */
#ifndef HMAP_H
#define HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap_slot;

typedef struct hmap {
    struct hmap_slot *slots;   /* cap of them; NULL until the first put */
    size_t cap;                /* power of two, or 0 */
    size_t count;              /* entries in use */
    size_t keylen;             /* key length in bytes; 0 = NUL-terminated */
    unsigned shift;            /* 64 - log2(cap): hash -> home slot */
} hmap;

/* Makes m an empty table whose keys are keylen bytes long, or NUL-terminated
 * strings when keylen is 0. Allocates nothing, so it cannot fail. */
void hmap_init(hmap *m, size_t keylen);

/* Frees the table's own memory and leaves m empty (same key kind, ready for
 * reuse). Keys and values are the caller's: free them first, with
 * hmap_next, if they need it. */
void hmap_free(hmap *m);

/* The value stored under key, or NULL when key is absent. */
void *hmap_get(const hmap *m, const void *key);

/* Stores value under key. When key is already present, its value and its
 * stored key pointer are replaced by the new ones (the old key pointer is
 * then no longer used); that never allocates, so it cannot fail. Returns 0,
 * or -1 when out of memory (the table is left as it was). */
int hmap_put(hmap *m, const void *key, void *value);

/* Stores value under key only when key is absent: a set's "add" in one
 * lookup. Returns 1 when added, 0 when key was already present (nothing
 * changes: the stored key and value stay), or -1 when out of memory. */
int hmap_add(hmap *m, const void *key, void *value);

/* Removes key. Returns the value it had, or NULL when it was absent. The
 * key and the value stay the caller's to free. */
void *hmap_remove(hmap *m, const void *key);

/* Number of entries. */
size_t hmap_count(const hmap *m);

/* Iteration, in no particular order:
 *
 *     size_t pos = 0;
 *     const void *key;
 *     void *value;
 *     while (hmap_next(m, &pos, &key, &value))
 *         ...;
 *
 * Each call stores the next entry's key and value (key or value may be
 * NULL when not wanted) and returns 1, or returns 0 after the last one. The
 * table must not be changed (put, remove) during an iteration; freeing the
 * keys and values themselves is fine when hmap_free follows. */
int hmap_next(const hmap *m, size_t *pos, const void **key, void **value);

#endif
