/* test_hmap.c - the generic hash table (base/hmap.c): string keys and
 * 16-byte keys, replacing a value (put) or not (add), growth past several
 * resizes, removal by backward shift (random operations mirrored in a
 * plain array, and keys forced into one run that wraps around the end of
 * the table), iteration, and that keys are borrowed, not copied.
 */
#include <stdint.h>

#include "hmap.h"
#include "t.h"

/* xorshift64*: the same sequence on every run */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

/* The slot index of the entry whose stored key pointer is key, or -1
 * (hmap_next walks the slots in order: pos - 1 is the slot just read). */
static long slot_of(const hmap *m, const void *key)
{
    size_t pos = 0;
    const void *k;
    while (hmap_next(m, &pos, &k, NULL))
        if (k == key)
            return (long)pos - 1;
    return -1;
}

/* The home slot of a string key in a table of 16 slots (the first size):
 * where it lands alone in a new table. */
static long home16(const char *key)
{
    hmap m;
    hmap_init(&m, 0);
    if (hmap_put(&m, key, (void *)key) != 0 || m.cap != 16) {
        hmap_free(&m);
        return -1;
    }
    long home = slot_of(&m, key);
    hmap_free(&m);
    return home;
}

/* Entries reached by iteration; checks each is reachable with hmap_get. */
static size_t iterate_count(const hmap *m)
{
    size_t pos = 0, n = 0;
    const void *k;
    void *v;
    while (hmap_next(m, &pos, &k, &v)) {
        n++;
        T_CHECK(k != NULL);
        T_CHECK(hmap_get(m, k) == v);
    }
    T_CHECK(pos == m->cap);
    T_CHECK(hmap_next(m, &pos, &k, &v) == 0);
    return n;
}

/* --- basics ------------------------------------------------------------ */

static void test_strings(void)
{
    hmap m = { 0 };   /* zeroed = hmap_init(&m, 0) */
    int a = 1, b = 2, c = 3;
    T_CHECK(hmap_count(&m) == 0);
    T_CHECK(hmap_get(&m, "x") == NULL);
    T_CHECK(hmap_remove(&m, "x") == NULL);
    T_CHECK(iterate_count(&m) == 0);

    T_REQUIRE(hmap_put(&m, "alpha", &a) == 0);
    T_REQUIRE(hmap_put(&m, "beta", &b) == 0);
    T_REQUIRE(hmap_put(&m, "", &c) == 0);   /* the empty string is a key */
    T_CHECK(hmap_count(&m) == 3);
    T_CHECK(hmap_get(&m, "alpha") == &a);
    T_CHECK(hmap_get(&m, "beta") == &b);
    T_CHECK(hmap_get(&m, "") == &c);
    T_CHECK(hmap_get(&m, "alph") == NULL);
    T_CHECK(hmap_get(&m, "alphab") == NULL);

    /* a key equal by content, at another address, finds the entry */
    char buf[16];
    strcpy(buf, "beta");
    T_CHECK(hmap_get(&m, buf) == &b);

    /* put on an existing key replaces the value and the key pointer */
    T_REQUIRE(hmap_put(&m, buf, &c) == 0);
    T_CHECK(hmap_count(&m) == 3);
    T_CHECK(hmap_get(&m, "beta") == &c);
    T_CHECK(slot_of(&m, buf) >= 0);

    /* add only adds: a present key keeps its value and key pointer */
    T_CHECK(hmap_add(&m, "beta", &a) == 0);
    T_CHECK(hmap_get(&m, "beta") == &c);
    T_CHECK(slot_of(&m, buf) >= 0);
    T_CHECK(hmap_add(&m, "delta", &a) == 1);
    T_CHECK(hmap_get(&m, "delta") == &a);
    T_CHECK(hmap_remove(&m, "delta") == &a);
    T_CHECK(hmap_count(&m) == 3);

    /* keys are borrowed, not copied: the table reads the caller's buffer */
    strcpy(buf, "bet@");
    T_CHECK(hmap_get(&m, "beta") == NULL);
    strcpy(buf, "beta");
    T_CHECK(hmap_get(&m, "beta") == &c);

    T_CHECK(hmap_remove(&m, "beta") == &c);
    T_CHECK(hmap_remove(&m, "beta") == NULL);
    T_CHECK(hmap_get(&m, "beta") == NULL);
    T_CHECK(hmap_count(&m) == 2);
    T_CHECK(iterate_count(&m) == 2);

    hmap_free(&m);
    T_CHECK(hmap_count(&m) == 0 && m.cap == 0 && m.slots == NULL);
    /* usable again after hmap_free */
    T_REQUIRE(hmap_put(&m, "alpha", &a) == 0);
    T_CHECK(hmap_get(&m, "alpha") == &a);
    hmap_free(&m);
}

static void test_fixed_keys(void)
{
    /* 16-byte keys: zero bytes are part of the key, every byte counts */
    static uint8_t keys[40][16];
    hmap m;
    hmap_init(&m, 16);
    for (int i = 0; i < 40; i++) {
        memset(keys[i], 0, 16);
        keys[i][i % 16] = (uint8_t)(1 + i / 16);   /* one nonzero byte */
    }
    for (int i = 0; i < 40; i++)
        T_REQUIRE(hmap_put(&m, keys[i], keys[i]) == 0);
    T_CHECK(hmap_count(&m) == 40);
    uint8_t probe[16];
    for (int i = 0; i < 40; i++) {
        memcpy(probe, keys[i], 16);
        T_CHECK(hmap_get(&m, probe) == keys[i]);
    }
    memset(probe, 0, 16);
    T_CHECK(hmap_get(&m, probe) == NULL);       /* all zeros: absent */
    /* the same first byte, a different last byte (a string table would
     * stop at the first zero and see both as "") */
    probe[15] = 9;
    T_CHECK(hmap_get(&m, probe) == NULL);
    T_REQUIRE(hmap_put(&m, probe, probe) == 0);
    T_CHECK(hmap_get(&m, probe) == probe);
    T_CHECK(hmap_remove(&m, probe) == probe);
    for (int i = 0; i < 40; i += 2)
        T_CHECK(hmap_remove(&m, keys[i]) == keys[i]);
    for (int i = 0; i < 40; i++)
        T_CHECK(hmap_get(&m, keys[i]) == (i % 2 ? keys[i] : NULL));
    T_CHECK(iterate_count(&m) == 20);
    hmap_free(&m);
}

/* --- growth ------------------------------------------------------------- */

#define NGROW 200000

static void test_growth(void)
{
    char (*names)[16] = malloc(NGROW * sizeof *names);
    T_REQUIRE(names);
    hmap m;
    hmap_init(&m, 0);
    size_t resizes = 0, cap = 0;
    for (size_t i = 0; i < NGROW; i++) {
        snprintf(names[i], sizeof names[i], "n%zu", i);
        T_REQUIRE(hmap_put(&m, names[i], (void *)(uintptr_t)(i + 1)) == 0);
        if (m.cap != cap) {
            resizes++;
            cap = m.cap;
            T_CHECK((cap & (cap - 1)) == 0);   /* a power of two */
        }
        /* never fuller than ~70% (75% in the 16-slot table) */
        T_CHECK(m.count * 4 <= m.cap * 3);
    }
    T_CHECK(resizes >= 10);                    /* 16 -> 512 Ki slots */
    T_CHECK(m.count * 10 > m.cap * 3);         /* but not oversized */
    T_CHECK(hmap_count(&m) == NGROW);
    size_t bad = 0;
    for (size_t i = 0; i < NGROW; i++)
        bad += hmap_get(&m, names[i]) != (void *)(uintptr_t)(i + 1);
    T_CHECK(bad == 0);
    T_CHECK(hmap_get(&m, "n200000") == NULL);
    T_CHECK(iterate_count(&m) == NGROW);
    /* remove everything: nothing is left behind */
    for (size_t i = 0; i < NGROW; i++)
        bad += hmap_remove(&m, names[i]) != (void *)(uintptr_t)(i + 1);
    T_CHECK(bad == 0);
    T_CHECK(hmap_count(&m) == 0);
    T_CHECK(iterate_count(&m) == 0);
    hmap_free(&m);
    free(names);
}

/* --- collisions and backward shift ------------------------------------- */

/* Keys "c0", "c1", ... by home slot in a 16-slot table. */
static char cpool[4000][16];
static int cused[4000];

/* A key not taken yet whose home slot is home, or NULL. */
static const char *key_at(long home)
{
    for (int i = 0; i < 4000; i++) {
        if (cused[i])
            continue;
        snprintf(cpool[i], sizeof cpool[i], "c%d", i);
        if (home16(cpool[i]) == home) {
            cused[i] = 1;
            return cpool[i];
        }
    }
    return NULL;
}

static void test_collisions(void)
{
    /* A, B, C share home slot 14 and form a run that wraps around the end
     * of the table (slots 14, 15, 0); D (home 0) and E (home 1) extend it;
     * F sits at its own home 3. */
    const char *a = key_at(14), *b = key_at(14), *c = key_at(14);
    const char *d = key_at(0), *e = key_at(1), *f = key_at(3);
    T_REQUIRE(a && b && c && d && e && f);
    const char *all[6] = { a, b, c, d, e, f };

    hmap m;
    hmap_init(&m, 0);
    for (size_t i = 0; i < 6; i++)
        T_REQUIRE(hmap_put(&m, all[i], (void *)all[i]) == 0);
    T_REQUIRE(m.cap == 16);
    T_CHECK(slot_of(&m, a) == 14 && slot_of(&m, b) == 15 && slot_of(&m, c) == 0);
    T_CHECK(slot_of(&m, d) == 1 && slot_of(&m, e) == 2 && slot_of(&m, f) == 3);

    /* removing the head of the run shifts B, C, D, E back one slot, across
     * the end of the table; F stays at its home (it may not move before it) */
    T_CHECK(hmap_remove(&m, a) == a);
    T_CHECK(slot_of(&m, b) == 14 && slot_of(&m, c) == 15 && slot_of(&m, d) == 0);
    T_CHECK(slot_of(&m, e) == 1 && slot_of(&m, f) == 3);
    T_CHECK(hmap_get(&m, a) == NULL);

    /* removing C (slot 15): D and E are at their homes, after the hole:
     * nothing moves */
    T_CHECK(hmap_remove(&m, c) == c);
    T_CHECK(slot_of(&m, b) == 14 && slot_of(&m, d) == 0 && slot_of(&m, e) == 1);
    T_CHECK(slot_of(&m, f) == 3);

    /* put A back: it goes to the first free slot after its home */
    T_REQUIRE(hmap_put(&m, a, (void *)a) == 0);
    T_CHECK(slot_of(&m, a) == 15);
    T_CHECK(hmap_remove(&m, b) == b);     /* A moves back to 14 */
    T_CHECK(slot_of(&m, a) == 14);
    for (size_t i = 0; i < 6; i++)
        T_CHECK(hmap_get(&m, all[i]) == (all[i] == b || all[i] == c ? NULL : all[i]));
    T_CHECK(hmap_count(&m) == 4);
    T_CHECK(iterate_count(&m) == 4);
    hmap_free(&m);
}

/* Random puts, removes and gets on a universe of nkeys keys, mirrored in a
 * plain array of values (NULL = absent), checked op by op and in full. */
static void random_ops(size_t keylen, size_t nkeys, size_t nops)
{
    char (*keys)[32] = calloc(nkeys, sizeof *keys);
    void **ref = calloc(nkeys, sizeof *ref);
    T_REQUIRE(keys && ref);
    for (size_t i = 0; i < nkeys; i++) {
        if (keylen) {
            /* 16-byte keys that differ in one or two bytes */
            memset(keys[i], 0xab, 16);
            keys[i][3] = (char)(i & 0xff);
            keys[i][15] = (char)(i >> 8);
        } else {
            snprintf(keys[i], sizeof keys[i], "key-%zu", i);
        }
    }
    hmap m;
    hmap_init(&m, keylen);
    size_t count = 0, bad = 0, maxcap = 0;
    for (size_t op = 0; op < nops; op++) {
        size_t k = (size_t)(rng() % nkeys);
        unsigned what = (unsigned)(rng() % 10);
        if (what < 3) {
            void *v = (void *)(uintptr_t)(rng() | 1);
            if (hmap_put(&m, keys[k], v) != 0) {
                bad++;
                break;
            }
            count += ref[k] == NULL;
            ref[k] = v;
        } else if (what == 3) {
            void *v = (void *)(uintptr_t)(rng() | 1);
            int added = hmap_add(&m, keys[k], v);
            bad += added != (ref[k] == NULL);
            if (added == 1) {
                count++;
                ref[k] = v;
            }
        } else if (what < 8) {
            bad += hmap_remove(&m, keys[k]) != ref[k];
            count -= ref[k] != NULL;
            ref[k] = NULL;
        } else {
            bad += hmap_get(&m, keys[k]) != ref[k];
        }
        bad += hmap_count(&m) != count;
        if (m.cap > maxcap)
            maxcap = m.cap;
        if (op % (nkeys > 1000 ? 9973 : 997) == 0 || op == nops - 1) {
            for (size_t i = 0; i < nkeys; i++)
                bad += hmap_get(&m, keys[i]) != ref[i];
            bad += iterate_count(&m) != count;
        }
    }
    T_CHECK(bad == 0);
    /* no tombstones: however many removals, the table never grew beyond
     * the size that holds nkeys live keys at 70% load */
    size_t need = 16;
    while (nkeys * 10 > need * 7)
        need *= 2;
    T_CHECK(maxcap <= need);
    hmap_free(&m);
    free(keys);
    free(ref);
}

static void test_random_small(void)
{
    random_ops(0, 11, 200000);    /* 11 of 16 slots: long runs, wrap-around */
    random_ops(16, 11, 200000);
}

static void test_random_large(void)
{
    random_ops(0, 3000, 300000);
    random_ops(16, 3000, 300000);
    random_ops(0, 60000, 400000); /* resizes while removing */
}

/* --- iteration ---------------------------------------------------------- */

static void test_iteration(void)
{
    static char names[1000][16];
    static int seen[1000];
    hmap m;
    hmap_init(&m, 0);
    for (int i = 0; i < 1000; i++) {
        snprintf(names[i], sizeof names[i], "%d", i);
        T_REQUIRE(hmap_put(&m, names[i], &seen[i]) == 0);
    }
    size_t pos = 0, n = 0;
    const void *k;
    void *v;
    while (hmap_next(&m, &pos, &k, &v)) {
        int i = atoi(k);
        T_REQUIRE(i >= 0 && i < 1000);
        T_CHECK(k == names[i] && v == &seen[i]);
        seen[i]++;
        n++;
    }
    T_CHECK(n == 1000);
    int once = 1;
    for (int i = 0; i < 1000; i++)
        once &= seen[i] == 1;
    T_CHECK(once);
    /* key or value may be left out */
    pos = 0;
    n = 0;
    while (hmap_next(&m, &pos, NULL, NULL))
        n++;
    T_CHECK(n == 1000);

    /* the usual way to free owned keys: iterate, free, then hmap_free */
    hmap own;
    hmap_init(&own, 0);
    for (int i = 0; i < 100; i++) {
        char *s = malloc(16);
        T_REQUIRE(s);
        snprintf(s, 16, "o%d", i);
        T_REQUIRE(hmap_put(&own, s, s) == 0);
    }
    pos = 0;
    while (hmap_next(&own, &pos, NULL, &v))
        free(v);
    hmap_free(&own);
    hmap_free(&m);
}

T_MAIN(T_CASE(test_strings), T_CASE(test_fixed_keys), T_CASE(test_growth),
       T_CASE(test_collisions), T_CASE(test_random_small), T_CASE(test_random_large),
       T_CASE(test_iteration))
