/* singleflight.h - one computation per key at a time: when many requests
 * miss the caches for the same flist at once, one computes its reply and
 * the others wait for it, then find it in the cache (a fat flist asked six
 * times at once was loaded six times: 3.6 GB). */
#ifndef API_SINGLEFLIGHT_H
#define API_SINGLEFLIGHT_H

#define SINGLEFLIGHT_SLOTS 64          /* keys in flight at once (more: no merging) */
#define SINGLEFLIGHT_WAIT_MS 30000     /* a follower gives up waiting after this */

typedef struct singleflight singleflight;

/* A table, or NULL when out of memory. Free with singleflight_free. */
singleflight *singleflight_new(void);
void singleflight_free(singleflight *sf);

/* Returns 1 when the caller is to compute key (call singleflight_end
 * after storing the result), or 0 after another caller's computation of
 * key ended (look in the cache again; compute when it is not there). */
int singleflight_begin(singleflight *sf, const char *key);

/* Ends the caller's computation of key and wakes its followers. */
void singleflight_end(singleflight *sf, const char *key);

#endif
