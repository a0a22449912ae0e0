/* hmap.c - open-addressing hash table of borrowed keys to void * values
 * (hmap.h).
 *
 * Layout: one array of slots, a power of two long. A slot holds the key
 * pointer (NULL = empty), the value and the key's 64-bit FNV-1a hash
 * (hub_hash.c). Keeping the hash lets a probe skip most mismatching keys
 * without touching their memory, and lets the table grow without hashing
 * any key again.
 *
 * An entry lives at its home slot or after it: lookups walk forward from
 * the home slot until they find the key or an empty slot (linear probing).
 * The home slot is taken from the top bits of hash * 2^64/phi (Fibonacci
 * hashing): FNV-1a's low bits only depend on the low bits of each byte, so
 * masking them would crowd keys that differ in their high bits.
 *
 * Removal empties the slot and then pulls back every following entry of
 * the same run that may legally sit in the hole (its home is at or before
 * the hole), so that no lookup ever stops early at the new empty slot.
 * This keeps the table free of tombstones.
 */
#include "hmap.h"

#include <stdlib.h>
#include <string.h>

#include "hub_hash.h"

#define HMAP_MIN_CAP 16

struct hmap_slot {
    const void *key;   /* NULL = empty */
    void *value;
    uint64_t hash;
};

/* Entries allowed in a table of cap slots: ~70%, computed without any
 * multiplication that could overflow. */
static size_t max_load(size_t cap)
{
    return cap - cap / 4 - cap / 20;
}

static uint64_t key_hash(const hmap *m, const void *key)
{
    return m->keylen ? hub_bytes_hash(key, m->keylen) : hub_str_hash(key);
}

static size_t home_of(const hmap *m, uint64_t hash)
{
    return (size_t)((hash * 0x9e3779b97f4a7c15ull) >> m->shift);
}

static int key_equal(const hmap *m, const void *a, const void *b)
{
    if (a == b)
        return 1;
    return m->keylen ? memcmp(a, b, m->keylen) == 0 : strcmp(a, b) == 0;
}

/* Index of the slot holding key, or of the empty slot where it would go.
 * The table must have slots. Inlined: it is most of every lookup. */
static inline __attribute__((always_inline))
size_t probe(const hmap *m, const void *key, uint64_t hash)
{
    size_t mask = m->cap - 1;
    size_t i = home_of(m, hash);
    for (;;) {
        const struct hmap_slot *s = &m->slots[i];
        if (!s->key || (s->hash == hash && key_equal(m, s->key, key)))
            return i;
        i = (i + 1) & mask;
    }
}

void hmap_init(hmap *m, size_t keylen)
{
    memset(m, 0, sizeof *m);
    m->keylen = keylen;
}

void hmap_free(hmap *m)
{
    free(m->slots);
    hmap_init(m, m->keylen);
}

/* Moves every entry into a new array of cap slots. Returns 0 or -1 (no
 * memory; the table is unchanged). */
static int resize(hmap *m, size_t cap)
{
    struct hmap_slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    struct hmap_slot *old = m->slots;
    size_t oldcap = m->cap;
    unsigned shift = 64;
    for (size_t c = cap; c > 1; c >>= 1)
        shift--;
    m->slots = slots;
    m->cap = cap;
    m->shift = shift;
    /* every key is distinct: only the free slot has to be found */
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].key)
            continue;
        size_t j = home_of(m, old[i].hash);
        while (slots[j].key)
            j = (j + 1) & (cap - 1);
        slots[j] = old[i];
    }
    free(old);
    return 0;
}

void *hmap_get(const hmap *m, const void *key)
{
    if (m->count == 0)
        return NULL;
    const struct hmap_slot *s = &m->slots[probe(m, key, key_hash(m, key))];
    return s->key ? s->value : NULL;
}

/* hmap_put (replace set) and hmap_add (replace clear). Returns 1 when key
 * was added, 0 when it was present, -1 when out of memory. */
static int insert(hmap *m, const void *key, void *value, int replace)
{
    uint64_t hash = key_hash(m, key);
    if (m->cap) {
        struct hmap_slot *s = &m->slots[probe(m, key, hash)];
        if (s->key) {
            if (replace) {
                s->key = key;
                s->value = value;
            }
            return 0;
        }
    }
    if (m->count + 1 > max_load(m->cap)) {
        size_t cap = m->cap ? m->cap * 2 : HMAP_MIN_CAP;
        if (cap < m->cap || resize(m, cap) != 0)
            return -1;
    }
    struct hmap_slot *s = &m->slots[probe(m, key, hash)];
    s->key = key;
    s->value = value;
    s->hash = hash;
    m->count++;
    return 1;
}

int hmap_put(hmap *m, const void *key, void *value)
{
    return insert(m, key, value, 1) < 0 ? -1 : 0;
}

int hmap_add(hmap *m, const void *key, void *value)
{
    return insert(m, key, value, 0);
}

void *hmap_remove(hmap *m, const void *key)
{
    if (m->count == 0)
        return NULL;
    size_t hole = probe(m, key, key_hash(m, key));
    if (!m->slots[hole].key)
        return NULL;
    void *value = m->slots[hole].value;
    size_t mask = m->cap - 1;
    /* Walk the rest of the run. An entry at j whose home is d_j slots back
     * may fill the hole (j - hole slots back) when d_j >= j - hole: its
     * home is then at or before the hole, so lookups still reach it. */
    for (size_t j = (hole + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        size_t dist = (j - home_of(m, m->slots[j].hash)) & mask;
        if (dist >= ((j - hole) & mask)) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole].key = NULL;
    m->slots[hole].value = NULL;
    m->count--;
    return value;
}

size_t hmap_count(const hmap *m)
{
    return m->count;
}

int hmap_next(const hmap *m, size_t *pos, const void **key, void **value)
{
    for (size_t i = *pos; i < m->cap; i++) {
        if (!m->slots[i].key)
            continue;
        if (key)
            *key = m->slots[i].key;
        if (value)
            *value = m->slots[i].value;
        *pos = i + 1;
        return 1;
    }
    *pos = m->cap;
    return 0;
}
