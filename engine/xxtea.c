/* xxtea.c - XXTEA (corrected Block TEA) with the libflist conventions of
 * FLIST-FORMAT.md §5.3: the 16 key bytes are used as-is (4 little-endian
 * words), the plaintext is zero-padded to whole words and one extra word
 * holding the original byte length is appended before encryption.
 *
 * This is the per-core bottleneck of the chunk pipeline (one 512 KiB chunk
 * costs 6 rounds over ~131k words, each step depending on the previous one),
 * so both directions work in place on the output buffer with memcpy word
 * loads/stores (single mov instructions at -O2, no alignment requirement),
 * use a per-round rotated copy of the key to drop the `(p & 3) ^ e`
 * indexing, and run the inner loop four words at a time so each step's key
 * word is a register (about 1.6x faster than the plain loop).
 *
 * xxtea_encrypt_many encrypts several buffers at once, their independent
 * chains side by side (8 AVX2 lanes, or 2-3 interleaved scalar chains):
 * 3.5x the single-buffer rate for 8 chunks with AVX2 on Zen 5, 1.8x with
 * the scalar chains. See "several buffers at once" below.
 */
#include "chunk.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define XXTEA_DELTA 0x9E3779B9u

/* Little-endian 32-bit load and store at byte address p. */
static inline uint32_t load_le32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

static inline void store_le32(uint8_t *p, uint32_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    memcpy(p, &v, sizeof v);
}

/* The XXTEA mixing function; kp is the key word for this position. */
static inline uint32_t mx(uint32_t y, uint32_t z, uint32_t sum, uint32_t kp)
{
    return (((z >> 5) ^ (y << 2)) + ((y >> 3) ^ (z << 4))) ^ ((sum ^ y) + (kp ^ z));
}

/* Encrypts the n >= 2 little-endian words at v in place. */
static void xxtea_encrypt_words(uint8_t *v, size_t n, const uint32_t k[4])
{
    uint32_t rounds = 6 + (uint32_t)(52 / n);
    uint32_t sum = 0;
    uint32_t z = load_le32(v + 4 * (n - 1));
    uint32_t rk[4];

    while (rounds-- > 0) {
        sum += XXTEA_DELTA;
        uint32_t e = (sum >> 2) & 3;
        for (unsigned i = 0; i < 4; i++)
            rk[i] = k[i ^ e];
        size_t p = 0;
        uint32_t y = load_le32(v);
#define XXTEA_ENC_STEP(kp) do { \
            uint32_t cur = y; \
            y = load_le32(v + 4 * (p + 1)); \
            z = cur + mx(y, z, sum, (kp)); \
            store_le32(v + 4 * p, z); \
            p++; \
        } while (0)
        /* four steps at a time so the key words are fixed per step */
        for (; p + 4 <= n - 1; ) {
            XXTEA_ENC_STEP(rk[0]);
            XXTEA_ENC_STEP(rk[1]);
            XXTEA_ENC_STEP(rk[2]);
            XXTEA_ENC_STEP(rk[3]);
        }
        while (p < n - 1)
            XXTEA_ENC_STEP(rk[p & 3]);
#undef XXTEA_ENC_STEP
        /* p == n - 1 wraps around to v[0], which was updated this round */
        y = load_le32(v);
        z = load_le32(v + 4 * p) + mx(y, z, sum, rk[p & 3]);
        store_le32(v + 4 * p, z);
    }
}

/* Decrypts the n >= 2 little-endian words at v in place. */
static void xxtea_decrypt_words(uint8_t *v, size_t n, const uint32_t k[4])
{
    uint32_t rounds = 6 + (uint32_t)(52 / n);
    uint32_t sum = rounds * XXTEA_DELTA;
    uint32_t y = load_le32(v);
    uint32_t rk[4];

    while (rounds-- > 0) {
        uint32_t e = (sum >> 2) & 3;
        for (unsigned i = 0; i < 4; i++)
            rk[i] = k[i ^ e];
        uint32_t z = load_le32(v + 4 * (n - 1));
        size_t p = n - 1;
#define XXTEA_DEC_STEP(kp) do { \
            uint32_t cur = z; \
            z = load_le32(v + 4 * (p - 1)); \
            y = cur - mx(y, z, sum, (kp)); \
            store_le32(v + 4 * p, y); \
            p--; \
        } while (0)
        while (p > 0 && (p & 3) != 3)
            XXTEA_DEC_STEP(rk[p & 3]);
        /* four steps at a time (p = 4j+3 .. 4j, j >= 1), fixed key words */
        while (p >= 4) {
            XXTEA_DEC_STEP(rk[3]);
            XXTEA_DEC_STEP(rk[2]);
            XXTEA_DEC_STEP(rk[1]);
            XXTEA_DEC_STEP(rk[0]);
        }
        while (p > 0)
            XXTEA_DEC_STEP(rk[p & 3]);
#undef XXTEA_DEC_STEP
        /* p == 0 takes z from the last word, already updated this round */
        z = load_le32(v + 4 * (n - 1));
        y = load_le32(v) - mx(y, z, sum, rk[0]);
        store_le32(v, y);
        sum -= XXTEA_DELTA;
    }
}

static void key_words(const uint8_t key[16], uint32_t k[4])
{
    for (unsigned i = 0; i < 4; i++)
        k[i] = load_le32(key + 4 * i);
}

/* Encrypts len bytes of in into out (which may equal in, or overlap it when
 * out == in). out must hold ((len+3)/4+1)*4 bytes; returns that length.
 * len must be below 2^32 (the length word is 32 bits); chunks are far
 * smaller. Never fails. */
size_t xxtea_encrypt(const uint8_t *in, size_t len, const uint8_t key[16], uint8_t *out)
{
    size_t data_words = (len + 3) / 4;
    size_t n = data_words + 1;
    uint32_t k[4];

    if (out != in)
        memmove(out, in, len);
    memset(out + len, 0, data_words * 4 - len);
    store_le32(out + data_words * 4, (uint32_t)len);
    key_words(key, k);
    xxtea_encrypt_words(out, n, k);
    return n * 4;
}

/* Decrypts len bytes of in into out (capacity len; may equal in). The
 * length word m must satisfy n-3 <= m <= n with n = len-4 (§5.3). Returns
 * m, or -1 when len is not a multiple of 4, shorter than 8 bytes, or the
 * length word is invalid (out then holds garbage). */
long xxtea_decrypt(const uint8_t *in, size_t len, const uint8_t key[16], uint8_t *out)
{
    uint32_t k[4];

    if (len < 8 || len % 4 != 0 || len - 4 > UINT32_MAX || len - 4 > (size_t)LONG_MAX)
        return -1;
    if (out != in)
        memmove(out, in, len);
    key_words(key, k);
    xxtea_decrypt_words(out, len / 4, k);

    size_t n = len - 4;
    uint32_t m = load_le32(out + n);
    if ((size_t)m > n || (size_t)m + 3 < n)
        return -1;
    return (long)m;
}

/* --- several buffers at once -------------------------------------------
 *
 * One buffer is a chain of dependent steps (each word needs the previous
 * one), about five cycles each however wide the core. Independent buffers
 * do not wait on each other, so several are run side by side in "lanes":
 * 8 in the 32-bit lanes of AVX2 registers, or 2 interleaved scalar chains
 * where there is no AVX2 (or HUB_NO_SIMD is set).
 *
 * The lanes need not be at the same place: each has its own position,
 * round, sum and (rotated) key words. A kernel runs blocks of B steps that
 * are all "plain" steps (p + B <= n - 1, so no step wraps around to v[0]
 * and word p + B exists) on every lane; block starts are multiples of B,
 * a multiple of 4, so step p + j always uses key word rk[j & 3]. The
 * scheduler runs the kernel for as many blocks as every busy lane has left
 * in its round, then finishes the rounds of the lanes that got there with
 * the scalar code (at most B steps and the wrap-around step), starts their
 * next round, or refills them with the next buffer (longest first).
 *
 * An idle lane shadows a busy one (same address, same state), so it
 * computes and stores the very same words: harmless, and cheaper than a
 * private dummy block, whose overlapping store and load every block stall
 * store-to-load forwarding. On AMD Zen 5 a vector step costs ~10 cycles of
 * latency (two per integer op) against ~5 for a scalar one, so once only
 * two or three buffers are left the scheduler moves them to the scalar
 * kernel with as many chains. */

#define XX_LANES_MAX 8
#define XX_GROUP 64        /* buffers scheduled together (sort on the stack) */
#define XX_MIN_WORDS 64    /* smaller buffers go through xxtea_encrypt alone */

/* Lane state the kernels read and write, one array entry per lane. */
typedef struct {
    uint8_t *ptr[XX_LANES_MAX];    /* address of word p */
    uint32_t z[XX_LANES_MAX];      /* the word written last */
    uint32_t sum[XX_LANES_MAX];
    uint32_t rk[4][XX_LANES_MAX];  /* key word of step p + j is rk[j & 3] */
} xx_lanes;

/* Runs `blocks` blocks of B plain steps on every lane, advancing ptr by
 * 4*B bytes a block. */
typedef void (*xx_kernel_fn)(xx_lanes *s, size_t blocks);

/* W interleaved scalar chains (W a constant once inlined), blocks of 4
 * steps: the core runs two chains in little more than the time of one, the
 * other's instructions filling the gaps of the dependency chain; beyond
 * that the six integer ALUs of a Zen 5 are full (measured: 1 chain 0.46
 * GB/s, 2 chains 0.8, 3 or 4 chains 0.8). */
static inline __attribute__((always_inline)) void xx_kernel_scalar(xx_lanes *s, size_t blocks,
                                                                   const unsigned W)
{
    uint8_t *p[XX_LANES_MAX];
    uint32_t z[XX_LANES_MAX], y[XX_LANES_MAX], sum[XX_LANES_MAX], k[4][XX_LANES_MAX];
    for (unsigned l = 0; l < W; l++) {
        p[l] = s->ptr[l];
        z[l] = s->z[l];
        sum[l] = s->sum[l];
        for (unsigned j = 0; j < 4; j++)
            k[j][l] = s->rk[j][l];
        y[l] = load_le32(p[l]);   /* old v[p], the first step's own word */
    }
    for (size_t i = 0; i < blocks; i++) {
#pragma GCC unroll 4
        for (unsigned j = 0; j < 4; j++) {
#pragma GCC unroll 4
            for (unsigned l = 0; l < W; l++) {
                uint32_t cur = y[l];
                y[l] = load_le32(p[l] + 4 * (j + 1));
                z[l] = cur + mx(y[l], z[l], sum[l], k[j][l]);
                store_le32(p[l] + 4 * j, z[l]);
            }
        }
        /* y = old v[p + 4], the next block's first word */
        for (unsigned l = 0; l < W; l++)
            p[l] += 16;   /* 4 words */
    }
    for (unsigned l = 0; l < W; l++) {
        s->ptr[l] = p[l];
        s->z[l] = z[l];
    }
}

static void xx_kernel_scalar2(xx_lanes *s, size_t blocks)
{
    xx_kernel_scalar(s, blocks, 2);
}

static void xx_kernel_scalar3(xx_lanes *s, size_t blocks)
{
    xx_kernel_scalar(s, blocks, 3);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define XX_X86 1
#include <immintrin.h>

#define XX_TGT256 __attribute__((target("avx2")))

/* Transposes 8 rows of 8 words in place (r[j] becomes word j of every
 * row); its own inverse. */
XX_TGT256 static inline void xx_transpose8(__m256i r[8])
{
    __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
    __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
    __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
    /* u0 = words 0|4 of rows 0-3, u1 = 1|5, u2 = 2|6, u3 = 3|7; u4-u7 rows 4-7 */
    __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
    __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
    r[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
    r[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
    r[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
    r[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
    r[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
    r[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
    r[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
    r[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

/* mx on 8 lanes */
XX_TGT256 static inline __m256i xx_mx8(__m256i y, __m256i z, __m256i sum, __m256i k)
{
    __m256i a = _mm256_xor_si256(_mm256_srli_epi32(z, 5), _mm256_slli_epi32(y, 2));
    __m256i b = _mm256_xor_si256(_mm256_srli_epi32(y, 3), _mm256_slli_epi32(z, 4));
    __m256i c = _mm256_add_epi32(_mm256_xor_si256(sum, y), _mm256_xor_si256(k, z));
    return _mm256_xor_si256(_mm256_add_epi32(a, b), c);
}

/* 8 lanes, blocks of 8 steps. Each block loads words p+1 .. p+8 of every
 * lane (one unaligned 32-byte load per lane), transposes them so that
 * register j holds word p+1+j of all lanes, runs the 8 steps (the y of
 * step j is that register, its own old word the one before, or for step 0
 * the last register of the previous block), transposes the results back
 * and stores words p .. p+7. */
XX_TGT256 static void xx_kernel_avx2(xx_lanes *s, size_t blocks)
{
    __m256i z = _mm256_loadu_si256((const __m256i *)s->z);
    const __m256i sum = _mm256_loadu_si256((const __m256i *)s->sum);
    const __m256i k0 = _mm256_loadu_si256((const __m256i *)s->rk[0]);
    const __m256i k1 = _mm256_loadu_si256((const __m256i *)s->rk[1]);
    const __m256i k2 = _mm256_loadu_si256((const __m256i *)s->rk[2]);
    const __m256i k3 = _mm256_loadu_si256((const __m256i *)s->rk[3]);
    uint8_t *p[8];
    memcpy(p, s->ptr, sizeof p);
    /* old v[p] of every lane: step 0's own word */
    __m256i c = _mm256_setr_epi32((int)load_le32(p[0]), (int)load_le32(p[1]),
                                  (int)load_le32(p[2]), (int)load_le32(p[3]),
                                  (int)load_le32(p[4]), (int)load_le32(p[5]),
                                  (int)load_le32(p[6]), (int)load_le32(p[7]));

    for (size_t b = 0; b < blocks; b++) {
        __m256i y[8], o[8];
        for (unsigned l = 0; l < 8; l++)
            y[l] = _mm256_loadu_si256((const __m256i *)(p[l] + 4));
        xx_transpose8(y);
        z = o[0] = _mm256_add_epi32(c, xx_mx8(y[0], z, sum, k0));
        z = o[1] = _mm256_add_epi32(y[0], xx_mx8(y[1], z, sum, k1));
        z = o[2] = _mm256_add_epi32(y[1], xx_mx8(y[2], z, sum, k2));
        z = o[3] = _mm256_add_epi32(y[2], xx_mx8(y[3], z, sum, k3));
        z = o[4] = _mm256_add_epi32(y[3], xx_mx8(y[4], z, sum, k0));
        z = o[5] = _mm256_add_epi32(y[4], xx_mx8(y[5], z, sum, k1));
        z = o[6] = _mm256_add_epi32(y[5], xx_mx8(y[6], z, sum, k2));
        z = o[7] = _mm256_add_epi32(y[6], xx_mx8(y[7], z, sum, k3));
        c = y[7];
        xx_transpose8(o);
        for (unsigned l = 0; l < 8; l++) {
            _mm256_storeu_si256((__m256i *)p[l], o[l]);
            p[l] += 32;   /* 8 words */
        }
    }
    memcpy(s->ptr, p, sizeof p);
    _mm256_storeu_si256((__m256i *)s->z, z);
}
#else
#define XX_X86 0
#endif

/* Per-lane bookkeeping of the scheduler. */
typedef struct {
    uint8_t *v;
    size_t n;           /* words, length word included */
    size_t p;           /* next step of the current round */
    uint32_t rounds;    /* rounds left, the current one included */
    uint32_t k[4];
    int busy;
} xx_lane;

/* Blocks of B plain steps the lane has left in its round. */
static size_t xx_lane_bulk(const xx_lane *ln, unsigned B)
{
    return (ln->n - 1 - ln->p) / B;
}

/* Points lane l of s at the lane's current round: position, sum, key. */
static void xx_lane_load(const xx_lane *ln, xx_lanes *s, unsigned l, uint32_t z, uint32_t sum)
{
    uint32_t e = (sum >> 2) & 3;
    s->ptr[l] = ln->v + 4 * ln->p;
    s->z[l] = z;
    s->sum[l] = sum;
    for (unsigned j = 0; j < 4; j++)
        s->rk[j][l] = ln->k[j ^ e];
}

/* Finishes the lane's current round with the scalar steps (from ln->p to
 * n - 2, then the wrap-around step), and any following round too short
 * for a block. Returns 1 when a round with blocks is ready in s, 0 when
 * the buffer is done. */
static int xx_lane_service(xx_lane *ln, xx_lanes *s, unsigned l, unsigned B)
{
    uint8_t *v = ln->v;
    size_t n = ln->n;
    uint32_t z = s->z[l], sum = s->sum[l];
    for (;;) {
        uint32_t e = (sum >> 2) & 3, y;
        size_t p = ln->p;
        for (; p < n - 1; p++) {
            y = load_le32(v + 4 * (p + 1));
            z = load_le32(v + 4 * p) + mx(y, z, sum, ln->k[(p & 3) ^ e]);
            store_le32(v + 4 * p, z);
        }
        y = load_le32(v);
        z = load_le32(v + 4 * p) + mx(y, z, sum, ln->k[(p & 3) ^ e]);
        store_le32(v + 4 * p, z);
        if (--ln->rounds == 0) {
            ln->busy = 0;
            return 0;
        }
        sum += XXTEA_DELTA;
        ln->p = 0;
        if (xx_lane_bulk(ln, B) > 0)
            break;
    }
    xx_lane_load(ln, s, l, z, sum);
    return 1;
}

/* Pads buf, appends its length word and starts its first round on lane l. */
static void xx_lane_start(xx_lane *ln, xx_lanes *s, unsigned l, unsigned B,
                          uint8_t *buf, size_t len, const uint8_t key[16], size_t *out_len)
{
    size_t data_words = (len + 3) / 4;
    memset(buf + len, 0, data_words * 4 - len);
    store_le32(buf + data_words * 4, (uint32_t)len);
    ln->v = buf;
    ln->n = data_words + 1;
    ln->p = 0;
    ln->rounds = 6 + (uint32_t)(52 / ln->n);
    ln->busy = 1;
    key_words(key, ln->k);
    *out_len = ln->n * 4;
    xx_lane_load(ln, s, l, load_le32(buf + 4 * (ln->n - 1)), XXTEA_DELTA);
    if (xx_lane_bulk(ln, B) == 0)   /* never with XX_MIN_WORDS words or more */
        xx_lane_service(ln, s, l, B);
}

/* Copies lane `from` of s (and its bookkeeping) to lane `to`. */
static void xx_lane_copy(xx_lane *lane, xx_lanes *s, unsigned from, unsigned to)
{
    lane[to] = lane[from];
    s->ptr[to] = s->ptr[from];
    s->z[to] = s->z[from];
    s->sum[to] = s->sum[from];
    for (unsigned j = 0; j < 4; j++)
        s->rk[j][to] = s->rk[j][from];
}

/* Encrypts the buffers order[0..m-1] (all of at least XX_MIN_WORDS words)
 * on W lanes of kernel, blocks of B steps. */
static void xx_many_lanes(xx_kernel_fn kernel, unsigned W, unsigned B,
                          uint8_t *const *buf, const size_t *len, const uint8_t (*key)[16],
                          const size_t *order, size_t m, size_t *out_len)
{
    xx_lanes s;
    xx_lane lane[XX_LANES_MAX];
    size_t next = 0;

    memset(&s, 0, sizeof s);
    memset(lane, 0, sizeof lane);
    for (unsigned l = 0; l < W; l++) {
        while (!lane[l].busy && next < m) {
            size_t i = order[next++];
            xx_lane_start(&lane[l], &s, l, B, buf[i], len[i], key[i], &out_len[i]);
        }
    }
    for (;;) {
        unsigned busy = 0, first = 0;
        size_t run = SIZE_MAX;
        for (unsigned l = 0; l < W; l++) {
            if (lane[l].busy) {
                if (busy++ == 0)
                    first = l;
                size_t k = xx_lane_bulk(&lane[l], B);
                if (k < run)
                    run = k;
            }
        }
        if (busy == 0)
            break;
        if (W > 3 && busy <= 3 && next == m) {
            /* the tail: 2 or 3 scalar chains beat a mostly idle vector.
             * Gather the busy lanes in 0.. (block starts stay multiples of
             * the new B, 4). */
            unsigned to = 0;
            for (unsigned l = 0; l < W; l++)
                if (lane[l].busy)
                    xx_lane_copy(lane, &s, l, to++);
            W = to == 3 ? 3 : 2;
            B = 4;
            kernel = to == 3 ? xx_kernel_scalar3 : xx_kernel_scalar2;
            for (unsigned l = to; l < W; l++)
                lane[l].busy = 0;
            continue;
        }
        for (unsigned l = 0; l < W; l++)
            if (!lane[l].busy) {   /* shadow the first busy lane */
                xx_lane_copy(lane, &s, first, l);
                lane[l].busy = 0;
            }
        kernel(&s, run);
        for (unsigned l = 0; l < W; l++) {
            xx_lane *ln = &lane[l];
            if (!ln->busy)
                continue;
            ln->p += run * B;
            if (xx_lane_bulk(ln, B) > 0 || xx_lane_service(ln, &s, l, B))
                continue;
            while (!ln->busy && next < m) {   /* done: the next buffer, if any */
                size_t i = order[next++];
                xx_lane_start(ln, &s, l, B, buf[i], len[i], key[i], &out_len[i]);
            }
        }
    }
}

/* --- choice of implementation ------------------------------------------- */

enum { XX_INTERLEAVED, XX_AVX2 };
static const char *const xx_impl_names[] = { "interleaved", "avx2" };

static pthread_once_t xx_once = PTHREAD_ONCE_INIT;
static int xx_best = XX_INTERLEAVED;    /* written once under xx_once */
static int xx_current = XX_INTERLEAVED; /* atomic: xxtea_many_select may change it */

/* The CPU check and the HUB_NO_SIMD override, read this once. */
static void xx_setup(void)
{
    int best = XX_INTERLEAVED;
#if XX_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        best = XX_AVX2;
#endif
    xx_best = best;
    const char *e = getenv("HUB_NO_SIMD");
    int cur = (e && *e && strcmp(e, "0") != 0) ? XX_INTERLEAVED : best;
    __atomic_store_n(&xx_current, cur, __ATOMIC_RELAXED);
}

static int xx_impl(void)
{
    pthread_once(&xx_once, xx_setup);
    return __atomic_load_n(&xx_current, __ATOMIC_RELAXED);
}

const char *xxtea_many_impl(void)
{
    return xx_impl_names[xx_impl()];
}

int xxtea_many_select(const char *impl)
{
    pthread_once(&xx_once, xx_setup);
    int want = xx_best;
    if (impl) {
        want = -1;
        for (int i = 0; i < 2; i++)
            if (strcmp(impl, xx_impl_names[i]) == 0)
                want = i;
        if (want < 0 || want > xx_best)
            return -1;
    }
    __atomic_store_n(&xx_current, want, __ATOMIC_RELAXED);
    return 0;
}

void xxtea_encrypt_many(uint8_t *const *buf, const size_t *len, const uint8_t (*key)[16],
                        size_t n, size_t *out_len)
{
    xx_kernel_fn kernel = xx_kernel_scalar2;
    unsigned W = 2, B = 4;
#if XX_X86
    if (xx_impl() == XX_AVX2) {
        kernel = xx_kernel_avx2;
        W = 8;
        B = 8;
    }
#endif
    for (size_t base = 0; base < n; base += XX_GROUP) {
        size_t g = n - base < XX_GROUP ? n - base : XX_GROUP;
        size_t order[XX_GROUP], m = 0;
        for (size_t i = base; i < base + g; i++) {
            if ((len[i] + 3) / 4 + 1 < XX_MIN_WORDS) {
                out_len[i] = xxtea_encrypt(buf[i], len[i], key[i], buf[i]);
                continue;
            }
            /* longest first (insertion sort: g is small) */
            size_t j = m++;
            while (j > 0 && len[order[j - 1]] < len[i]) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = i;
        }
        if (m == 1) {   /* one chain: nothing to overlap with */
            out_len[order[0]] = xxtea_encrypt(buf[order[0]], len[order[0]], key[order[0]],
                                              buf[order[0]]);
            m = 0;
        }
        if (m)
            xx_many_lanes(kernel, W, B, buf, len, key, order, m, out_len);
    }
}
