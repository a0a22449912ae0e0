/* cache.c - bounded LRU cache with identity validation (cache.h). A hash
 * table (base/hmap) of the items by key plus a doubly linked LRU list,
 * under one mutex: every operation is a lookup and a few pointer moves, so
 * contention stays negligible. */
#include "cache.h"

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "util.h"

typedef struct node {
    cache_item pub;
    char *key;             /* owned; borrowed by the table while linked */
    cache_ident id;
    int64_t born_ms;
    long gen;
    int refs;              /* the cache's own reference counts as 1 */
    int linked;            /* still in the table */
    void *owned;
    void (*destroy)(void *);
    struct node *prev, *next;
} node;

struct api_cache {
    pthread_mutex_t mu;
    hmap table;            /* key -> linked node */
    node *head, *tail;     /* head = most recently used */
    size_t bytes, max_bytes;
};

void cache_ident_from_stat(cache_ident *id, const struct stat *st)
{
    memset(id, 0, sizeof *id);
    id->w[0] = (uint64_t)st->st_dev;
    id->w[1] = (uint64_t)st->st_ino;
    id->w[2] = (uint64_t)st->st_size;
    id->w[3] = (uint64_t)st->st_mtim.tv_sec;
    id->w[4] = (uint64_t)st->st_mtim.tv_nsec;
    id->w[5] = (uint64_t)st->st_ctim.tv_sec * 1000000000ull + (uint64_t)st->st_ctim.tv_nsec;
}

api_cache *cache_new(size_t max_bytes)
{
    api_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    hmap_init(&c->table, 0);
    c->max_bytes = max_bytes;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void node_free(node *n)
{
    if (n->destroy)
        n->destroy(n->owned);
    free(n->key);
    free(n);
}

/* Takes n out of the recency (LRU) list (mu held). */
static void lru_remove(api_cache *c, node *n)
{
    if (n->prev) n->prev->next = n->next; else c->head = n->next;
    if (n->next) n->next->prev = n->prev; else c->tail = n->prev;
    n->prev = n->next = NULL;
}

/* Unlinks n from the table and the LRU list (mu held); drops the cache's
 * reference. */
static void unlink_node(api_cache *c, node *n)
{
    hmap_remove(&c->table, n->key);
    lru_remove(c, n);
    n->linked = 0;
    c->bytes -= n->pub.size;
    if (--n->refs == 0)
        node_free(n);
}

void cache_free(api_cache *c)
{
    if (!c)
        return;
    while (c->head)
        unlink_node(c, c->head);
    hmap_free(&c->table);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Puts n (not in the recency list, n->prev NULL) at its head (mu held). */
static void link_front(api_cache *c, node *n)
{
    n->next = c->head;
    if (c->head)
        c->head->prev = n;
    c->head = n;
    if (!c->tail)
        c->tail = n;
}

/* Moves n (in the recency list) to its head: most recently used (mu held). */
static void to_front(api_cache *c, node *n)
{
    if (c->head == n)
        return;
    lru_remove(c, n);
    link_front(c, n);
}

const cache_item *cache_get(api_cache *c, const char *key, const cache_ident *id,
                            int64_t max_age_ms, long gen)
{
    node *hit = NULL;
    pthread_mutex_lock(&c->mu);
    node *n = hmap_get(&c->table, key);
    if (n && memcmp(&n->id, id, sizeof *id) == 0 && n->gen == gen &&
        (max_age_ms <= 0 || util_mono_ms() - n->born_ms <= max_age_ms)) {
        n->refs++;
        to_front(c, n);
        hit = n;
    }
    pthread_mutex_unlock(&c->mu);
    return hit ? &hit->pub : NULL;
}

const cache_item *cache_put(api_cache *c, const char *key, const cache_ident *id, long gen,
                            void *data, size_t size, void (*destroy)(void *))
{
    node *n = calloc(1, sizeof *n);
    if (!n || !(n->key = strdup(key))) {
        free(n);
        if (destroy)
            destroy(data);
        return NULL;
    }
    n->id = *id;
    n->born_ms = util_mono_ms();
    n->gen = gen;
    n->owned = data;
    n->destroy = destroy;
    n->pub.data = data;
    n->pub.size = size + strlen(key) + sizeof *n;
    n->refs = 1; /* the caller's */
    if (n->pub.size > c->max_bytes / 4)
        return &n->pub; /* too big to keep */
    pthread_mutex_lock(&c->mu);
    node *old = hmap_get(&c->table, key);
    if (old)
        unlink_node(c, old);
    if (hmap_put(&c->table, n->key, n) != 0) {
        /* no room in the table: not kept, like a value too big to keep */
        pthread_mutex_unlock(&c->mu);
        return &n->pub;
    }
    n->refs++; /* the cache's */
    n->linked = 1;
    link_front(c, n);
    c->bytes += n->pub.size;
    while (c->bytes > c->max_bytes && c->tail && c->tail != n)
        unlink_node(c, c->tail);
    pthread_mutex_unlock(&c->mu);
    return &n->pub;
}

void cache_release(api_cache *c, const cache_item *it)
{
    if (!it)
        return;
    node *n = (node *)((char *)it - offsetof(node, pub));
    pthread_mutex_lock(&c->mu);
    int last = --n->refs == 0;
    pthread_mutex_unlock(&c->mu);
    if (last)
        node_free(n);
}

void cache_stats(api_cache *c, size_t *items, size_t *bytes)
{
    pthread_mutex_lock(&c->mu);
    *items = hmap_count(&c->table);
    *bytes = c->bytes;
    pthread_mutex_unlock(&c->mu);
}
