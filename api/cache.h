/* cache.h - a bounded, thread-safe cache of reply bodies and computed values
 * keyed by a string and validated by a file identity.
 *
 * Every item carries an identity (e.g. dev, ino, size, mtime of the file or
 * directory it was computed from) and its birth time: a lookup returns it
 * only when the caller's current identity is equal and the item is younger
 * than max_age_ms (0 = any age). Items are reference counted, so one that
 * is evicted while a request still uses it stays valid until released.
 * Memory is bounded by the sum of the item sizes (least recently used items
 * are evicted first).
 */
#ifndef API_CACHE_H
#define API_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

typedef struct api_cache api_cache;

#define CACHE_IDENT_WORDS 6

/* The identity of a file or directory from its stat: dev, ino, size, mtime
 * (s, ns), ctime ns. */
typedef struct cache_ident {
    uint64_t w[CACHE_IDENT_WORDS];
} cache_ident;

void cache_ident_from_stat(cache_ident *id, const struct stat *st);

typedef struct cache_item {
    const void *data;      /* the value (owned by the item) */
    size_t size;           /* bytes accounted */
} cache_item;

/* A cache of at most max_bytes. NULL on allocation failure. */
api_cache *cache_new(size_t max_bytes);

/* Frees every item (items still referenced are freed on release). */
void cache_free(api_cache *c);

/* Looks key up. Returns a referenced item (release it) or NULL when absent,
 * stale (identity differs or older than max_age_ms) or from an older
 * generation (gen: the caller's change counter; items made before a local
 * change are not returned). */
const cache_item *cache_get(api_cache *c, const char *key, const cache_ident *id,
                            int64_t max_age_ms, long gen);

/* Stores a value (ownership of data passes to the cache: destroy(data) is
 * called when the item goes; destroy may be NULL). Replaces an item of the
 * same key. Returns a referenced item (release it), or NULL on allocation
 * failure (then data is destroyed). Values larger than a quarter of the
 * cache are not kept, but still returned (referenced once). */
const cache_item *cache_put(api_cache *c, const char *key, const cache_ident *id, long gen,
                            void *data, size_t size, void (*destroy)(void *));

/* Drops a reference. NULL ok. */
void cache_release(api_cache *c, const cache_item *it);

/* Current number of items and bytes (for /metrics). */
void cache_stats(api_cache *c, size_t *items, size_t *bytes);

#endif
