/* bench_chunk.c - the chunk pipeline's single-thread rate, no I/O: the
 * per-core limit of `flist create` (FLIST-FORMAT.md §5.2: BLAKE2b, snappy,
 * XXTEA, BLAKE2b on every 512 KiB chunk of random data), one chunk at a
 * time (chunk_encrypt) and in batches of 8 (chunk_encrypt_many), and its two
 * batched steps alone: BLAKE2b-128 and XXTEA, one buffer at a time against
 * several at once (blake2b128_many, xxtea_encrypt_many).
 *
 * usage: bench_chunk [MiB]   (default 256) - prints MB/s. HUB_NO_SIMD=1
 * measures the portable paths. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "blake2b_many.h"
#include "chunk.h"
#include "flist_model.h"

#define BATCH 8

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double mbps(size_t bytes, double secs)
{
    return (double)bytes / 1e6 / secs;
}

/* xorshift: incompressible data */
static void fill(uint8_t *b, size_t n, uint64_t seed)
{
    uint64_t x = seed;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        b[i] = (uint8_t)x;
    }
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 256;
    size_t n = mib * 2;  /* chunks of 512 KiB */
    size_t rounds = (n + BATCH - 1) / BATCH;   /* batches of 8 for the batched lines */
    size_t total = rounds * BATCH * (size_t)FLIST_CHUNK_SIZE;
    size_t bound = chunk_cipher_bound(FLIST_CHUNK_SIZE);
    uint8_t *plain = malloc(FLIST_CHUNK_SIZE);
    uint8_t *cipher = malloc(bound);
    uint8_t *bp[BATCH], *bc[BATCH];
    if (!plain || !cipher)
        return 1;
    for (int i = 0; i < BATCH; i++) {
        bp[i] = malloc(FLIST_CHUNK_SIZE);
        bc[i] = malloc(bound);
        if (!bp[i] || !bc[i])
            return 1;
        fill(bp[i], FLIST_CHUNK_SIZE, 0x9E3779B97F4A7C15ull + (uint64_t)i);
    }
    fill(plain, FLIST_CHUNK_SIZE, 0x9E3779B97F4A7C15ull);

    uint8_t id[16], key[16], ids[BATCH][16], keys[BATCH][16];
    size_t clen = 0, sink = 0, lens[BATCH], clens[BATCH];
    double t0 = now();
    for (size_t i = 0; i < n; i++) {
        plain[i % FLIST_CHUNK_SIZE] ^= (uint8_t)i;   /* a new chunk each time */
        if (chunk_encrypt(plain, FLIST_CHUNK_SIZE, cipher, &clen, id, key) != 0)
            return 1;
        sink += id[0];
    }
    double secs = now() - t0;
    printf("chunk pipeline, 1 thread, random data: %zu MiB in %.3f s = %.1f MB/s (%zu)\n",
           mib, secs, (double)mib * 1048576.0 / 1e6 / secs, sink % 2);

    /* the whole pipeline in batches of 8 */
    for (int i = 0; i < BATCH; i++)
        lens[i] = FLIST_CHUNK_SIZE;
    t0 = now();
    for (size_t r = 0; r < rounds; r++) {
        for (int i = 0; i < BATCH; i++)
            bp[i][r % FLIST_CHUNK_SIZE] ^= (uint8_t)(r + 1);
        if (chunk_encrypt_many(BATCH, (const uint8_t *const *)bp, lens, bc, clens, ids, keys) != 0)
            return 1;
        sink += ids[0][0];
    }
    secs = now() - t0;
    printf("chunk pipeline, batches of %d (chunk_encrypt_many), 1 thread, random data: "
           "%zu MiB in %.3f s = %.1f MB/s (%zu)\n",
           BATCH, total >> 20, secs, mbps(total, secs), sink % 2);

    /* BLAKE2b-128: one at a time, then blake2b128_many */
    t0 = now();
    for (size_t r = 0; r < rounds; r++)
        for (int i = 0; i < BATCH; i++)
            blake2b128_one(bp[i], FLIST_CHUNK_SIZE, keys[i]);
    double one = now() - t0;
    t0 = now();
    for (size_t r = 0; r < rounds; r++)
        blake2b128_many((const uint8_t *const *)bp, lens, BATCH, keys);
    double many = now() - t0;
    printf("BLAKE2b-128, %d x 512 KiB: one at a time (libsodium) %.1f MB/s, "
           "blake2b128_many (%s) %.1f MB/s, x%.2f\n",
           BATCH, mbps(total, one), blake2b_many_impl(), mbps(total, many), one / many);

    /* XXTEA in place on 512 KiB (what snappy leaves of random data, give
     * or take a few bytes): xxtea_encrypt, then xxtea_encrypt_many */
    t0 = now();
    for (size_t r = 0; r < rounds; r++)
        for (int i = 0; i < BATCH; i++)
            clens[i] = xxtea_encrypt(bc[i], FLIST_CHUNK_SIZE, keys[i], bc[i]);
    one = now() - t0;
    t0 = now();
    for (size_t r = 0; r < rounds; r++)
        xxtea_encrypt_many(bc, lens, (const uint8_t (*)[16])keys, BATCH, clens);
    many = now() - t0;
    printf("XXTEA, %d x 512 KiB: one at a time %.1f MB/s, xxtea_encrypt_many (%s) %.1f MB/s, "
           "x%.2f\n",
           BATCH, mbps(total, one), xxtea_many_impl(), mbps(total, many), one / many);

    for (int i = 0; i < BATCH; i++) {
        free(bp[i]);
        free(bc[i]);
    }
    free(plain);
    free(cipher);
    return 0;
}
