/* bench_chunk.c - the chunk pipeline's single-thread rate, no I/O: the
 * per-core limit of `flist create` (FLIST-FORMAT.md §5.2: BLAKE2b, snappy,
 * XXTEA, BLAKE2b on every 512 KiB chunk of random data).
 *
 * usage: bench_chunk [MiB]   (default 256) - prints MB/s. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "chunk.h"
#include "flist_model.h"

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 256;
    size_t n = mib * 2;  /* chunks of 512 KiB */
    uint8_t *plain = malloc(FLIST_CHUNK_SIZE);
    uint8_t *cipher = malloc(chunk_cipher_bound(FLIST_CHUNK_SIZE));
    if (!plain || !cipher)
        return 1;
    uint64_t x = 0x9E3779B97F4A7C15ull;   /* xorshift: incompressible data */
    for (size_t i = 0; i < FLIST_CHUNK_SIZE; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        plain[i] = (uint8_t)x;
    }
    struct timespec t0, t1;
    uint8_t id[16], key[16];
    size_t clen = 0, sink = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < n; i++) {
        plain[i % FLIST_CHUNK_SIZE] ^= (uint8_t)i;   /* a new chunk each time */
        if (chunk_encrypt(plain, FLIST_CHUNK_SIZE, cipher, &clen, id, key) != 0)
            return 1;
        sink += id[0];
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("chunk pipeline, 1 thread, random data: %zu MiB in %.3f s = %.1f MB/s (%zu)\n",
           mib, secs, (double)mib * 1048576.0 / 1e6 / secs, sink % 2);
    free(plain);
    free(cipher);
    return 0;
}
