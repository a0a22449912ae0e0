/* test_blake2b_many.c - the batched chunk pipeline against the one-chunk
 * one: blake2b128_many (engine/blake2b_many.c) against libsodium's
 * crypto_generichash and blake2b128_one, xxtea_encrypt_many against
 * xxtea_encrypt (and back with xxtea_decrypt), chunk_encrypt_many against
 * chunk_encrypt byte for byte (and back with chunk_decrypt); each on every
 * implementation this CPU has (portable/interleaved, AVX2, AVX-512), on many
 * sets of mixed lengths (block edges, 0, 512 KiB and beyond), n from 1 to
 * 20, buffers at odd addresses. Also the HUB_NO_SIMD override, checked in a
 * child process (the choice is read once per process).
 */
#include <snappy-c.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blake2b_many.h"
#include "chunk.h"
#include "flist_model.h"
#include "t.h"

/* --- helpers ------------------------------------------------------------ */

static uint64_t rng = 0x2545F4914F6CDD1Dull;

/* xorshift64: reproducible lengths and contents */
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t rand_below(size_t n)
{
    return (size_t)(next_rand() % n);
}

static void fill_rand(uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(next_rand() >> 29);
}

/* Block edges, and the chunk size and beyond. */
static const size_t small_edges[] = { 0, 1, 2, 63, 64, 127, 128, 129, 255, 256, 257, 383, 384,
                                      385, 1023, 1024, 1025 };
static const size_t big_edges[] = { 524288, 524289, 524290, 524288 + 127, 524288 + 128,
                                    524288 + 129, 1048576 + 1, 1048576 + 77 };
#define N_SMALL (sizeof small_edges / sizeof small_edges[0])
#define N_BIG (sizeof big_edges / sizeof big_edges[0])

/* A length for the random mixes: mostly short (the lanes end and refill
 * often, and the test stays quick under ASan), now and then a big one. */
static size_t pick_len(void)
{
    switch (rand_below(8)) {
    case 0:
        return big_edges[rand_below(N_BIG)];
    case 1:
    case 2:
    case 3:
        return small_edges[rand_below(N_SMALL)];
    default:
        return rand_below(20000);
    }
}

/* The implementations this CPU has, of blake2b128_many and of
 * xxtea_encrypt_many (the portable one always). */
static const char *const b2_impls[] = { "portable", "avx2", "avx512" };
static const char *const xx_impls[] = { "interleaved", "avx2" };
#define N_B2 (sizeof b2_impls / sizeof b2_impls[0])
#define N_XX (sizeof xx_impls / sizeof xx_impls[0])

/* A 2.25 MiB pool of random bytes: messages are slices of it at random
 * (odd) offsets, so the SIMD loads see every alignment. */
#define POOL (2 * 1048576 + 262144)
static uint8_t *pool;

static const uint8_t *pool_slice(size_t len)
{
    return pool + rand_below(POOL - len + 1);
}

/* --- BLAKE2b ------------------------------------------------------------ */

/* Hashes a set with blake2b128_many and checks every digest against
 * libsodium and blake2b128_one. Returns the number of mismatches. */
static int check_b2_set(const uint8_t *const *in, const size_t *len, size_t n, const char *impl)
{
    uint8_t out[64][16], ref[16], one[16];
    int bad = 0;
    memset(out, 0xAA, sizeof out);
    blake2b128_many(in, len, n, out);
    for (size_t i = 0; i < n; i++) {
        crypto_generichash(ref, 16, in[i], len[i], NULL, 0);
        blake2b128_one(in[i], len[i], one);
        if (memcmp(ref, one, 16) != 0 || memcmp(ref, out[i], 16) != 0) {
            fprintf(stderr, "blake2b128_many (%s): message %zu of %zu (%zu bytes) differs\n",
                    impl, i, n, len[i]);
            bad++;
        }
    }
    return bad;
}

static void test_b2_select(void)
{
    T_CHECK(blake2b_many_select("portable") == 0);
    T_STREQ(blake2b_many_impl(), "portable");
    T_CHECK(blake2b_many_select("sse9") == -1);
    T_STREQ(blake2b_many_impl(), "portable");   /* unchanged */
    T_CHECK(blake2b_many_select(NULL) == 0);
    const char *best = blake2b_many_impl();
    T_CHECK(strcmp(best, "portable") == 0 || strcmp(best, "avx2") == 0 ||
            strcmp(best, "avx512") == 0);
    if (strcmp(best, "avx512") == 0)   /* every AVX-512 CPU has AVX2 */
        T_CHECK(blake2b_many_select("avx2") == 0);
    T_CHECK(blake2b_many_select(NULL) == 0);
    printf("     blake2b128_many: %s; xxtea_encrypt_many: %s\n", best, xxtea_many_impl());
}

/* Every edge length in all lanes at once, sets of every size from 1 to 20,
 * then random mixes, on each implementation. */
static void test_b2_many(void)
{
    const uint8_t *in[64];
    size_t len[64];
    int tested = 0;

    for (size_t k = 0; k < N_B2; k++) {
        if (blake2b_many_select(b2_impls[k]) != 0) {
            printf("     (no %s on this CPU)\n", b2_impls[k]);
            continue;
        }
        tested++;
        int bad = 0;
        /* the same length in every lane (9: one more than the lanes), for
         * each edge; 3 of each big one */
        for (size_t e = 0; e < N_SMALL + N_BIG; e++) {
            size_t n = e < N_SMALL ? 9 : 3;
            for (size_t i = 0; i < n; i++) {
                len[i] = e < N_SMALL ? small_edges[e] : big_edges[e - N_SMALL];
                in[i] = pool_slice(len[i]);
            }
            bad += check_b2_set(in, len, n, b2_impls[k]);
        }
        /* n = 1..20: the short edges in turn, and one big message */
        for (size_t n = 1; n <= 20; n++) {
            for (size_t i = 0; i < n; i++) {
                len[i] = i == n / 2 ? big_edges[n % N_BIG] : small_edges[(n * 7 + i) % N_SMALL];
                in[i] = pool_slice(len[i]);
            }
            bad += check_b2_set(in, len, n, b2_impls[k]);
        }
        /* random mixes */
        for (int trial = 0; trial < 40 && bad < 5; trial++) {
            size_t n = 1 + rand_below(20);
            for (size_t i = 0; i < n; i++) {
                len[i] = pick_len();
                in[i] = pool_slice(len[i]);
            }
            bad += check_b2_set(in, len, n, b2_impls[k]);
        }
        /* more than one group of 64 is not needed for the lanes, but the
         * grouping itself: 64 and 64 + 3 short messages */
        const uint8_t *in2[67];
        size_t len2[67];
        uint8_t out2[67][16], ref[16];
        for (size_t i = 0; i < 67; i++) {
            len2[i] = rand_below(1000);
            in2[i] = pool_slice(len2[i]);
        }
        blake2b128_many(in2, len2, 67, out2);
        for (size_t i = 0; i < 67; i++) {
            crypto_generichash(ref, 16, in2[i], len2[i], NULL, 0);
            bad += memcmp(ref, out2[i], 16) != 0;
        }
        /* a NULL pointer for an empty message, and n = 0 */
        const uint8_t *nul[2] = { NULL, pool };
        size_t nlen[2] = { 0, 5 };
        bad += check_b2_set(nul, nlen, 2, b2_impls[k]);
        blake2b128_many(NULL, NULL, 0, NULL);
        T_CHECK(bad == 0);
    }
    T_CHECK(tested >= 1);
    T_CHECK(blake2b_many_select(NULL) == 0);
}

/* RFC 7693 Appendix A's "abc" is for BLAKE2b-512; the 16-byte digests of
 * "abc" and "" (Python's hashlib.blake2b(digest_size=16), an independent
 * implementation) pin the parameter block here. */
static void test_b2_known(void)
{
    static const char *abc_hex = "cf4ab791c62b8d2b2109c90275287816";
    static const char *empty_hex = "cae66941d9efbd404e4d88758ea67670";
    const uint8_t *in[2] = { (const uint8_t *)"abc", (const uint8_t *)"" };
    size_t len[2] = { 3, 0 };
    uint8_t out[2][16];
    char hex[33];
    for (size_t k = 0; k < N_B2; k++) {
        if (blake2b_many_select(b2_impls[k]) != 0)
            continue;
        blake2b128_many(in, len, 2, out);
        sodium_bin2hex(hex, sizeof hex, out[0], 16);
        T_STREQ(hex, abc_hex);
        sodium_bin2hex(hex, sizeof hex, out[1], 16);
        T_STREQ(hex, empty_hex);
    }
    blake2b128_one(in[0], 3, out[0]);
    sodium_bin2hex(hex, sizeof hex, out[0], 16);
    T_STREQ(hex, abc_hex);
    T_CHECK(blake2b_many_select(NULL) == 0);
}

/* --- XXTEA -------------------------------------------------------------- */

/* Every edge length in sets of 1 to 20 (buffers of fewer than 64 words go
 * through xxtea_encrypt alone), then random mixes, on each implementation. */
static void test_xxtea_many(void)
{
    static const size_t edges[] = { 0, 1, 2, 3, 4, 5, 8, 100, 248, 249, 252, 253, 255, 256, 257,
                                    260, 1000, 4096, 65537, 524288, 524289, 524290, 524291,
                                    524288 + 64, 600001 };
    size_t nedges = sizeof edges / sizeof edges[0];
    uint8_t *mem[20], *buf[20], *ref[20], *orig[20], *back = malloc(700008);
    size_t len[20], out_len[20];
    uint8_t key[20][16];
    T_REQUIRE(back);
    int tested = 0;

    for (size_t k = 0; k < N_XX; k++) {
        if (xxtea_many_select(xx_impls[k]) != 0) {
            printf("     (no %s on this CPU)\n", xx_impls[k]);
            continue;
        }
        tested++;
        int bad = 0;
        for (int trial = 0; trial < 50 && bad < 5; trial++) {
            size_t n = trial < 20 ? (size_t)trial + 1 : 1 + rand_below(20);
            for (size_t i = 0; i < n; i++) {
                if (trial < 20)   /* at most two big ones */
                    len[i] = edges[((size_t)trial * 3 + i) % (i < 2 ? nedges : nedges - 6)];
                else if (rand_below(10) == 0)
                    len[i] = 524288 + rand_below(40);   /* what snappy leaves of random data */
                else
                    len[i] = pick_len() % 700000;
                size_t cap = ((len[i] + 3) / 4 + 1) * 4;
                mem[i] = malloc(cap + 3);
                ref[i] = malloc(cap);
                orig[i] = malloc(len[i] + 1);
                T_REQUIRE(mem[i] && ref[i] && orig[i]);
                buf[i] = mem[i] + rand_below(4);   /* odd addresses */
                fill_rand(orig[i], len[i]);
                memcpy(buf[i], orig[i], len[i]);
                memcpy(ref[i], orig[i], len[i]);
                fill_rand(key[i], 16);
            }
            xxtea_encrypt_many(buf, len, (const uint8_t (*)[16])key, n, out_len);
            for (size_t i = 0; i < n; i++) {
                size_t want = xxtea_encrypt(ref[i], len[i], key[i], ref[i]);
                if (out_len[i] != want || memcmp(buf[i], ref[i], want) != 0) {
                    fprintf(stderr, "xxtea_encrypt_many (%s): buffer %zu of %zu (%zu bytes) differs\n",
                            xx_impls[k], i, n, len[i]);
                    bad++;
                } else if (want >= 8) {
                    bad += xxtea_decrypt(buf[i], want, key[i], back) != (long)len[i];
                    bad += memcmp(back, orig[i], len[i]) != 0;
                }
                free(mem[i]);
                free(ref[i]);
                free(orig[i]);
            }
        }
        xxtea_encrypt_many(NULL, NULL, NULL, 0, NULL);
        T_CHECK(bad == 0);
    }
    T_CHECK(tested >= 1);
    T_CHECK(xxtea_many_select("none") == -1);
    T_CHECK(xxtea_many_select(NULL) == 0);
    free(back);
}

/* --- the whole pipeline ------------------------------------------------- */

/* n chunks through chunk_encrypt_many and chunk_encrypt, compared byte for
 * byte, then decrypted back. Returns the number of differences. */
static int check_pipeline(const uint8_t *const *plain, const size_t *plen, size_t n,
                          const char *what)
{
    uint8_t *cipher[20], *one = malloc(chunk_cipher_bound(FLIST_CHUNK_SIZE));
    uint8_t *back = malloc(FLIST_CHUNK_SIZE);
    uint8_t id[20][16], key[20][16], id1[16], key1[16];
    size_t clen[20], clen1 = 0;
    int bad = 0;
    if (!one || !back)
        return 1;
    for (size_t i = 0; i < n; i++) {
        cipher[i] = malloc(chunk_cipher_bound(plen[i]));
        if (!cipher[i])
            return 1;
    }
    if (chunk_encrypt_many(n, plain, plen, cipher, clen, id, key) != 0) {
        fprintf(stderr, "%s: chunk_encrypt_many failed\n", what);
        bad++;
        n = 0;
    }
    for (size_t i = 0; i < n; i++) {
        hub_err err;
        size_t blen = 0;
        memset(&err, 0, sizeof err);
        if (chunk_encrypt(plain[i], plen[i], one, &clen1, id1, key1) != 0 || clen1 != clen[i] ||
            memcmp(one, cipher[i], clen1) != 0 || memcmp(id1, id[i], 16) != 0 ||
            memcmp(key1, key[i], 16) != 0) {
            fprintf(stderr, "%s: chunk %zu of %zu (%zu bytes) differs from chunk_encrypt\n",
                    what, i, n, plen[i]);
            bad++;
        }
        if (chunk_decrypt(cipher[i], clen[i], id[i], key[i], back, FLIST_CHUNK_SIZE, &blen,
                          &err) != 0 || blen != plen[i] || memcmp(back, plain[i], blen) != 0) {
            fprintf(stderr, "%s: chunk %zu does not decrypt back: %s\n", what, i, err.msg);
            bad++;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(cipher[i]);
    free(one);
    free(back);
    return bad;
}

static void test_chunk_encrypt_many(void)
{
    static const size_t edges[] = { 1, 2, 3, 4, 5, 100, 255, 256, 4095, 4096, 65537,
                                    FLIST_CHUNK_SIZE - 1, FLIST_CHUNK_SIZE };
    size_t nedges = sizeof edges / sizeof edges[0];
    /* compressible data too: its ciphertexts have very different lengths */
    uint8_t *text = malloc(FLIST_CHUNK_SIZE);
    T_REQUIRE(text);
    for (size_t i = 0; i < FLIST_CHUNK_SIZE; i++)
        text[i] = (uint8_t)("flist chunk "[i % 12] + (i / 4096 % 3));

    const uint8_t *plain[20];
    size_t plen[20];
    char what[64];
    /* every BLAKE2b implementation with the best XXTEA one, and the other
     * way round */
    T_CHECK(blake2b_many_select(NULL) == 0 && xxtea_many_select(NULL) == 0);
    const char *b2_best = blake2b_many_impl(), *xx_best = xxtea_many_impl();
    for (size_t b = 0; b < N_B2; b++) {
        for (size_t x = 0; x < N_XX; x++) {
            if ((strcmp(b2_impls[b], b2_best) != 0 && strcmp(xx_impls[x], xx_best) != 0) ||
                blake2b_many_select(b2_impls[b]) != 0 || xxtea_many_select(xx_impls[x]) != 0)
                continue;
            snprintf(what, sizeof what, "chunk_encrypt_many (%s, %s)", b2_impls[b], xx_impls[x]);
            int bad = 0;
            for (int trial = 0; trial < 6 && bad == 0; trial++) {
                size_t n = trial == 0 ? 1 : trial == 1 ? 8 : 2 + rand_below(19);
                for (size_t i = 0; i < n; i++) {
                    switch (rand_below(4)) {
                    case 0:
                        plen[i] = edges[rand_below(nedges)];
                        break;
                    case 1:
                        plen[i] = 1 + rand_below(FLIST_CHUNK_SIZE);
                        break;
                    default:
                        plen[i] = 1 + rand_below(30000);
                    }
                    if (rand_below(3) == 0) {
                        size_t off = rand_below(FLIST_CHUNK_SIZE - plen[i] + 1);
                        plain[i] = text + off;
                    } else {
                        plain[i] = pool_slice(plen[i]);
                    }
                }
                bad += check_pipeline(plain, plen, n, what);
            }
            T_CHECK(bad == 0);
        }
    }
    T_CHECK(blake2b_many_select(NULL) == 0);
    T_CHECK(xxtea_many_select(NULL) == 0);

    /* the size checks of chunk_encrypt, before anything is written */
    uint8_t *c[3], id[3][16], key[3][16];
    size_t clen[3] = { 77, 77, 77 };
    for (int i = 0; i < 3; i++)
        c[i] = malloc(chunk_cipher_bound(FLIST_CHUNK_SIZE + 1));
    T_REQUIRE(c[0] && c[1] && c[2]);
    uint8_t *big = calloc(1, FLIST_CHUNK_SIZE + 1);
    T_REQUIRE(big);
    const uint8_t *p3[3] = { pool, pool, big };
    size_t l3[3] = { 10, 0, 10 };
    T_CHECK(chunk_encrypt_many(3, p3, l3, c, clen, id, key) == -1);
    l3[1] = 10;
    l3[2] = FLIST_CHUNK_SIZE + 1;
    T_CHECK(chunk_encrypt_many(3, p3, l3, c, clen, id, key) == -1);
    T_CHECK(clen[0] == 77);
    T_CHECK(chunk_encrypt_many(0, NULL, NULL, NULL, NULL, NULL, NULL) == 0);
    l3[2] = FLIST_CHUNK_SIZE;
    T_CHECK(chunk_encrypt_many(3, p3, l3, c, clen, id, key) == 0);
    for (int i = 0; i < 3; i++)
        free(c[i]);
    free(big);
    free(text);
}

/* --- HUB_NO_SIMD -------------------------------------------------------- */

/* Run by the child: prints the implementations in use and exits. */
static int print_impls(void)
{
    printf("%s %s\n", blake2b_many_impl(), xxtea_many_impl());
    return 0;
}

static void test_no_simd_env(void)
{
    char self[4096], cmd[4200], line[128] = "";
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    T_REQUIRE(n > 0);
    self[n] = '\0';
    snprintf(cmd, sizeof cmd, "HUB_NO_SIMD=1 T_PRINT_IMPLS=1 '%s'", self);
    FILE *f = popen(cmd, "r");
    T_REQUIRE(f);
    if (!fgets(line, sizeof line, f))
        line[0] = '\0';
    T_CHECK(pclose(f) == 0);
    T_STREQ(line, "portable interleaved\n");

    /* and without it, the best ones (what this process uses by default) */
    snprintf(cmd, sizeof cmd, "HUB_NO_SIMD= T_PRINT_IMPLS=1 '%s'", self);
    f = popen(cmd, "r");
    T_REQUIRE(f);
    if (!fgets(line, sizeof line, f))
        line[0] = '\0';
    T_CHECK(pclose(f) == 0);
    char want[128];
    T_CHECK(blake2b_many_select(NULL) == 0 && xxtea_many_select(NULL) == 0);
    snprintf(want, sizeof want, "%s %s\n", blake2b_many_impl(), xxtea_many_impl());
    T_STREQ(line, want);
}

int main(void)
{
    static const t_case cases[] = {
        T_CASE(test_b2_select), T_CASE(test_b2_known), T_CASE(test_b2_many),
        T_CASE(test_xxtea_many), T_CASE(test_chunk_encrypt_many), T_CASE(test_no_simd_env),
    };
    if (getenv("T_PRINT_IMPLS"))
        return print_impls();
    pool = malloc(POOL);
    if (!pool)
        return 1;
    fill_rand(pool, POOL);
    int rc = t_run(cases, sizeof cases / sizeof cases[0]);
    free(pool);
    return rc;
}
