/* blake2b_many.c - BLAKE2b-128 of many messages at once (blake2b_many.h),
 * written from RFC 7693 (unkeyed, 16-byte digest, sequential mode).
 *
 * Multi-buffer SIMD: each lane hashes its own message and vector register i
 * holds state word i of every lane ("vertical" SIMD), so the G function runs
 * unchanged on 8 (AVX-512) or 4 (AVX2) messages for the price of about one,
 * instead of fighting the dependencies inside a single message (8 chunks
 * of 512 KiB on a Zen 5: 4.8 GB/s with AVX-512, 2.1 with AVX2, against
 * 0.63 for libsodium and 1.2 for the scalar code here, one at a time). The
 * portable path is that scalar code, one message after the other. The
 * scheduler (b2_many_lanes):
 *   - takes the messages longest first, so the lanes run dry together;
 *   - gives every lane its own byte counter and final flag;
 *   - runs the kernel over as many full non-final blocks as every busy lane
 *     has, then one block where the lanes that reach their last block hash
 *     a zero-padded copy of it with the final flag set;
 *   - refills a lane whose message ended with the next waiting message; a
 *     lane with nothing left hashes zeros and its result is dropped;
 *   - once nothing waits and only one lane (AVX-512) or two (AVX2) are
 *     still busy, finishes them with the scalar compression: a mostly idle
 *     vector costs more per block than one scalar message.
 * The kernels carry __attribute__((target(...))), so the project needs no
 * -m flags and still runs on CPUs without AVX (the choice is made at run
 * time, once). Message words are loaded with unaligned loads (loadu,
 * memcpy): the callers' buffers have any alignment.
 */
#include "blake2b_many.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define B2_X86 1
#include <immintrin.h>
#else
#define B2_X86 0
#endif

#define B2_BLOCK 128
#define B2_LANES_MAX 8
#define B2_GROUP 64   /* messages scheduled together: the sort stays on the stack */

/* RFC 7693 §2.6 */
#define B2_IV0 0x6a09e667f3bcc908ull
#define B2_IV1 0xbb67ae8584caa73bull
#define B2_IV2 0x3c6ef372fe94f82bull
#define B2_IV3 0xa54ff53a5f1d36f1ull
#define B2_IV4 0x510e527fade682d1ull
#define B2_IV5 0x9b05688c2b3e6c1full
#define B2_IV6 0x1f83d9abfb41bd6bull
#define B2_IV7 0x5be0cd19137e2179ull

static const uint64_t b2_iv[8] = { B2_IV0, B2_IV1, B2_IV2, B2_IV3,
                                   B2_IV4, B2_IV5, B2_IV6, B2_IV7 };

/* h[0] at the start: IV[0] xored with the first parameter word (§2.5):
 * digest length 16, key length 0, fanout 1, depth 1. */
#define B2_H0 (B2_IV0 ^ 0x01010010ull)

/* The message schedule SIGMA (§2.7), one row per round; rounds 10 and 11
 * reuse rows 0 and 1. An X-macro so every implementation expands it with
 * literal indices (m[] then stays in registers or at fixed stack slots). */
#define B2_SCHEDULE(R) \
    R( 0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15) \
    R(14, 10,  4,  8,  9, 15, 13,  6,  1, 12,  0,  2, 11,  7,  5,  3) \
    R(11,  8, 12,  0,  5,  2, 15, 13, 10, 14,  3,  6,  7,  1,  9,  4) \
    R( 7,  9,  3,  1, 13, 12, 11, 14,  2,  6,  5, 10,  4,  0, 15,  8) \
    R( 9,  0,  5,  7,  2,  4, 10, 15, 14,  1, 11, 12,  6,  8,  3, 13) \
    R( 2, 12,  6, 10,  0, 11,  8,  3,  4, 13,  7,  5, 15, 14,  1,  9) \
    R(12,  5,  1, 15, 14, 13,  4, 10,  0,  7,  6,  3,  9,  2,  8, 11) \
    R(13, 11,  7, 14, 12,  1,  3,  9,  5,  0, 15,  4,  8,  6,  2, 10) \
    R( 6, 15, 14,  9, 11,  3,  0,  8, 12,  2, 13,  7,  1,  4, 10,  5) \
    R(10,  2,  8,  4,  7,  6,  1,  5, 15, 11,  9, 14,  3, 12, 13,  0) \
    R( 0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15) \
    R(14, 10,  4,  8,  9, 15, 13,  6,  1, 12,  0,  2, 11,  7,  5,  3)

/* The mixing function G (§3.1) on whatever B2_ADD, B2_XOR and B2_RORn the
 * implementation defines (scalars, or vectors of one word per lane). */
#define B2_G(a, b, c, d, x, y) do { \
        a = B2_ADD(B2_ADD(a, b), x); d = B2_ROR32(B2_XOR(d, a)); \
        c = B2_ADD(c, d);            b = B2_ROR24(B2_XOR(b, c)); \
        a = B2_ADD(B2_ADD(a, b), y); d = B2_ROR16(B2_XOR(d, a)); \
        c = B2_ADD(c, d);            b = B2_ROR63(B2_XOR(b, c)); \
    } while (0)

/* One round of F (§3.2): the four columns, then the four diagonals, on the
 * local variables v0..v15 and the message words m[]. */
#define B2_ROUND(s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15) \
    B2_G(v0, v4, v8,  v12, m[s0],  m[s1]); \
    B2_G(v1, v5, v9,  v13, m[s2],  m[s3]); \
    B2_G(v2, v6, v10, v14, m[s4],  m[s5]); \
    B2_G(v3, v7, v11, v15, m[s6],  m[s7]); \
    B2_G(v0, v5, v10, v15, m[s8],  m[s9]); \
    B2_G(v1, v6, v11, v12, m[s10], m[s11]); \
    B2_G(v2, v7, v8,  v13, m[s12], m[s13]); \
    B2_G(v3, v4, v9,  v14, m[s14], m[s15]);

/* --- scalar compression (the tails of the SIMD paths) ------------------- */

static inline uint64_t b2_load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline uint64_t b2_ror(uint64_t x, unsigned r)
{
    return (x >> r) | (x << (64 - r));
}

/* F (§3.2) on one block: t is the byte counter after this block (messages
 * are far below 2^64 bytes, so its high word is 0), last is 0 or ~0. */
static void b2_compress_scalar(uint64_t h[8], const uint8_t *blk, uint64_t t, uint64_t last)
{
    uint64_t m[16];
    for (unsigned i = 0; i < 16; i++)
        m[i] = b2_load64(blk + 8 * i);
    uint64_t v0 = h[0], v1 = h[1], v2 = h[2], v3 = h[3];
    uint64_t v4 = h[4], v5 = h[5], v6 = h[6], v7 = h[7];
    uint64_t v8 = B2_IV0, v9 = B2_IV1, v10 = B2_IV2, v11 = B2_IV3;
    uint64_t v12 = B2_IV4 ^ t, v13 = B2_IV5, v14 = B2_IV6 ^ last, v15 = B2_IV7;
#define B2_ADD(a, b) ((a) + (b))
#define B2_XOR(a, b) ((a) ^ (b))
#define B2_ROR32(x) b2_ror(x, 32)
#define B2_ROR24(x) b2_ror(x, 24)
#define B2_ROR16(x) b2_ror(x, 16)
#define B2_ROR63(x) b2_ror(x, 63)
    B2_SCHEDULE(B2_ROUND)
#undef B2_ADD
#undef B2_XOR
#undef B2_ROR32
#undef B2_ROR24
#undef B2_ROR16
#undef B2_ROR63
    h[0] ^= v0 ^ v8;
    h[1] ^= v1 ^ v9;
    h[2] ^= v2 ^ v10;
    h[3] ^= v3 ^ v11;
    h[4] ^= v4 ^ v12;
    h[5] ^= v5 ^ v13;
    h[6] ^= v6 ^ v14;
    h[7] ^= v7 ^ v15;
}

/* --- SIMD kernels ------------------------------------------------------- */

/* A kernel runs `blocks` compressions on every lane l < W: block b of lane
 * l is the 128 bytes at blk[l] + b*step[l], hashed with the counter
 * t[l] + b*step[l] and the final flag f[l] (0 or ~0). h[i][l] is state word
 * i of lane l, read at the start and written back at the end. */
typedef void (*b2_kernel_fn)(uint64_t h[8][B2_LANES_MAX], const uint8_t *const blk[B2_LANES_MAX],
                             const size_t step[B2_LANES_MAX], const uint64_t t[B2_LANES_MAX],
                             const uint64_t f[B2_LANES_MAX], size_t blocks);

#if B2_X86

/* 8 lanes of 64 bits: vprorq does every rotation in one instruction. */
#define B2_TGT512 __attribute__((target("avx512f")))

/* Transposes 8 rows of 8 words (row l = 8 message words of lane l) into
 * columns (c[j] = word j of every lane): unpack pairs, then two rounds of
 * 128-bit lane shuffles. */
B2_TGT512 static inline void b2_transpose8(const __m512i r[8], __m512i c[8])
{
    __m512i t0 = _mm512_unpacklo_epi64(r[0], r[1]), t1 = _mm512_unpackhi_epi64(r[0], r[1]);
    __m512i t2 = _mm512_unpacklo_epi64(r[2], r[3]), t3 = _mm512_unpackhi_epi64(r[2], r[3]);
    __m512i t4 = _mm512_unpacklo_epi64(r[4], r[5]), t5 = _mm512_unpackhi_epi64(r[4], r[5]);
    __m512i t6 = _mm512_unpacklo_epi64(r[6], r[7]), t7 = _mm512_unpackhi_epi64(r[6], r[7]);
    /* q0 = words 0,4 of rows 0-3; q1 = words 2,6; q2 = 1,5; q3 = 3,7 */
    __m512i q0 = _mm512_shuffle_i64x2(t0, t2, _MM_SHUFFLE(2, 0, 2, 0));
    __m512i q1 = _mm512_shuffle_i64x2(t0, t2, _MM_SHUFFLE(3, 1, 3, 1));
    __m512i q2 = _mm512_shuffle_i64x2(t1, t3, _MM_SHUFFLE(2, 0, 2, 0));
    __m512i q3 = _mm512_shuffle_i64x2(t1, t3, _MM_SHUFFLE(3, 1, 3, 1));
    __m512i q4 = _mm512_shuffle_i64x2(t4, t6, _MM_SHUFFLE(2, 0, 2, 0));
    __m512i q5 = _mm512_shuffle_i64x2(t4, t6, _MM_SHUFFLE(3, 1, 3, 1));
    __m512i q6 = _mm512_shuffle_i64x2(t5, t7, _MM_SHUFFLE(2, 0, 2, 0));
    __m512i q7 = _mm512_shuffle_i64x2(t5, t7, _MM_SHUFFLE(3, 1, 3, 1));
    c[0] = _mm512_shuffle_i64x2(q0, q4, _MM_SHUFFLE(2, 0, 2, 0));
    c[4] = _mm512_shuffle_i64x2(q0, q4, _MM_SHUFFLE(3, 1, 3, 1));
    c[2] = _mm512_shuffle_i64x2(q1, q5, _MM_SHUFFLE(2, 0, 2, 0));
    c[6] = _mm512_shuffle_i64x2(q1, q5, _MM_SHUFFLE(3, 1, 3, 1));
    c[1] = _mm512_shuffle_i64x2(q2, q6, _MM_SHUFFLE(2, 0, 2, 0));
    c[5] = _mm512_shuffle_i64x2(q2, q6, _MM_SHUFFLE(3, 1, 3, 1));
    c[3] = _mm512_shuffle_i64x2(q3, q7, _MM_SHUFFLE(2, 0, 2, 0));
    c[7] = _mm512_shuffle_i64x2(q3, q7, _MM_SHUFFLE(3, 1, 3, 1));
}

B2_TGT512 static void b2_kernel_avx512(uint64_t h[8][B2_LANES_MAX],
                                       const uint8_t *const blk[B2_LANES_MAX],
                                       const size_t step[B2_LANES_MAX],
                                       const uint64_t t[B2_LANES_MAX],
                                       const uint64_t f[B2_LANES_MAX], size_t blocks)
{
    __m512i h0 = _mm512_loadu_si512(h[0]), h1 = _mm512_loadu_si512(h[1]);
    __m512i h2 = _mm512_loadu_si512(h[2]), h3 = _mm512_loadu_si512(h[3]);
    __m512i h4 = _mm512_loadu_si512(h[4]), h5 = _mm512_loadu_si512(h[5]);
    __m512i h6 = _mm512_loadu_si512(h[6]), h7 = _mm512_loadu_si512(h[7]);
    __m512i tv = _mm512_loadu_si512(t), sv = _mm512_loadu_si512(step);
    __m512i fv = _mm512_loadu_si512(f);
    const uint8_t *p[8];
    memcpy(p, blk, sizeof p);

    for (size_t b = 0; b < blocks; b++) {
        __m512i m[16], lo[8], hi[8];
        for (unsigned l = 0; l < 8; l++) {
            lo[l] = _mm512_loadu_si512(p[l]);
            hi[l] = _mm512_loadu_si512(p[l] + 64);
            p[l] += step[l];
        }
        b2_transpose8(lo, m);
        b2_transpose8(hi, m + 8);

        __m512i v0 = h0, v1 = h1, v2 = h2, v3 = h3, v4 = h4, v5 = h5, v6 = h6, v7 = h7;
        __m512i v8 = _mm512_set1_epi64((long long)B2_IV0), v9 = _mm512_set1_epi64((long long)B2_IV1);
        __m512i v10 = _mm512_set1_epi64((long long)B2_IV2), v11 = _mm512_set1_epi64((long long)B2_IV3);
        __m512i v12 = _mm512_xor_si512(_mm512_set1_epi64((long long)B2_IV4), tv);
        __m512i v13 = _mm512_set1_epi64((long long)B2_IV5);
        __m512i v14 = _mm512_xor_si512(_mm512_set1_epi64((long long)B2_IV6), fv);
        __m512i v15 = _mm512_set1_epi64((long long)B2_IV7);
#define B2_ADD(a, b) _mm512_add_epi64(a, b)
#define B2_XOR(a, b) _mm512_xor_si512(a, b)
#define B2_ROR32(x) _mm512_ror_epi64(x, 32)
#define B2_ROR24(x) _mm512_ror_epi64(x, 24)
#define B2_ROR16(x) _mm512_ror_epi64(x, 16)
#define B2_ROR63(x) _mm512_ror_epi64(x, 63)
        B2_SCHEDULE(B2_ROUND)
#undef B2_ADD
#undef B2_XOR
#undef B2_ROR32
#undef B2_ROR24
#undef B2_ROR16
#undef B2_ROR63
        /* h ^= v[i] ^ v[i+8] as one three-way xor (truth table 0x96) */
        h0 = _mm512_ternarylogic_epi64(h0, v0, v8, 0x96);
        h1 = _mm512_ternarylogic_epi64(h1, v1, v9, 0x96);
        h2 = _mm512_ternarylogic_epi64(h2, v2, v10, 0x96);
        h3 = _mm512_ternarylogic_epi64(h3, v3, v11, 0x96);
        h4 = _mm512_ternarylogic_epi64(h4, v4, v12, 0x96);
        h5 = _mm512_ternarylogic_epi64(h5, v5, v13, 0x96);
        h6 = _mm512_ternarylogic_epi64(h6, v6, v14, 0x96);
        h7 = _mm512_ternarylogic_epi64(h7, v7, v15, 0x96);
        tv = _mm512_add_epi64(tv, sv);
    }
    _mm512_storeu_si512(h[0], h0);
    _mm512_storeu_si512(h[1], h1);
    _mm512_storeu_si512(h[2], h2);
    _mm512_storeu_si512(h[3], h3);
    _mm512_storeu_si512(h[4], h4);
    _mm512_storeu_si512(h[5], h5);
    _mm512_storeu_si512(h[6], h6);
    _mm512_storeu_si512(h[7], h7);
}

/* 4 lanes of 64 bits. AVX2 has no 64-bit rotation: 32 is a dword shuffle,
 * 24 and 16 are byte shuffles, 63 is (x >> 63) | (x + x). */
#define B2_TGT256 __attribute__((target("avx2")))

B2_TGT256 static inline __m256i b2_ror63_avx2(__m256i x)
{
    return _mm256_or_si256(_mm256_srli_epi64(x, 63), _mm256_add_epi64(x, x));
}

/* Transposes 4 rows of 4 words (row l = 4 message words of lane l) into
 * columns c[0..3] (c[j] = word j of every lane). */
B2_TGT256 static inline void b2_transpose4(__m256i r0, __m256i r1, __m256i r2, __m256i r3,
                                           __m256i *c)
{
    __m256i t0 = _mm256_unpacklo_epi64(r0, r1), t1 = _mm256_unpackhi_epi64(r0, r1);
    __m256i t2 = _mm256_unpacklo_epi64(r2, r3), t3 = _mm256_unpackhi_epi64(r2, r3);
    c[0] = _mm256_permute2x128_si256(t0, t2, 0x20);
    c[1] = _mm256_permute2x128_si256(t1, t3, 0x20);
    c[2] = _mm256_permute2x128_si256(t0, t2, 0x31);
    c[3] = _mm256_permute2x128_si256(t1, t3, 0x31);
}

B2_TGT256 static void b2_kernel_avx2(uint64_t h[8][B2_LANES_MAX],
                                     const uint8_t *const blk[B2_LANES_MAX],
                                     const size_t step[B2_LANES_MAX],
                                     const uint64_t t[B2_LANES_MAX],
                                     const uint64_t f[B2_LANES_MAX], size_t blocks)
{
    const __m256i rot24 = _mm256_setr_epi8(3, 4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10,
                                           3, 4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10);
    const __m256i rot16 = _mm256_setr_epi8(2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9,
                                           2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9);
    __m256i h0 = _mm256_loadu_si256((const __m256i *)h[0]), h1 = _mm256_loadu_si256((const __m256i *)h[1]);
    __m256i h2 = _mm256_loadu_si256((const __m256i *)h[2]), h3 = _mm256_loadu_si256((const __m256i *)h[3]);
    __m256i h4 = _mm256_loadu_si256((const __m256i *)h[4]), h5 = _mm256_loadu_si256((const __m256i *)h[5]);
    __m256i h6 = _mm256_loadu_si256((const __m256i *)h[6]), h7 = _mm256_loadu_si256((const __m256i *)h[7]);
    __m256i tv = _mm256_loadu_si256((const __m256i *)t);
    __m256i sv = _mm256_loadu_si256((const __m256i *)step);
    __m256i fv = _mm256_loadu_si256((const __m256i *)f);
    const uint8_t *p[4];
    memcpy(p, blk, sizeof p);

    for (size_t b = 0; b < blocks; b++) {
        __m256i m[16];
        for (unsigned g = 0; g < 4; g++)   /* words 4g .. 4g+3 of the four lanes */
            b2_transpose4(_mm256_loadu_si256((const __m256i *)(p[0] + 32 * g)),
                          _mm256_loadu_si256((const __m256i *)(p[1] + 32 * g)),
                          _mm256_loadu_si256((const __m256i *)(p[2] + 32 * g)),
                          _mm256_loadu_si256((const __m256i *)(p[3] + 32 * g)), m + 4 * g);
        for (unsigned l = 0; l < 4; l++)
            p[l] += step[l];

        __m256i v0 = h0, v1 = h1, v2 = h2, v3 = h3, v4 = h4, v5 = h5, v6 = h6, v7 = h7;
        __m256i v8 = _mm256_set1_epi64x((long long)B2_IV0), v9 = _mm256_set1_epi64x((long long)B2_IV1);
        __m256i v10 = _mm256_set1_epi64x((long long)B2_IV2), v11 = _mm256_set1_epi64x((long long)B2_IV3);
        __m256i v12 = _mm256_xor_si256(_mm256_set1_epi64x((long long)B2_IV4), tv);
        __m256i v13 = _mm256_set1_epi64x((long long)B2_IV5);
        __m256i v14 = _mm256_xor_si256(_mm256_set1_epi64x((long long)B2_IV6), fv);
        __m256i v15 = _mm256_set1_epi64x((long long)B2_IV7);
#define B2_ADD(a, b) _mm256_add_epi64(a, b)
#define B2_XOR(a, b) _mm256_xor_si256(a, b)
#define B2_ROR32(x) _mm256_shuffle_epi32(x, _MM_SHUFFLE(2, 3, 0, 1))
#define B2_ROR24(x) _mm256_shuffle_epi8(x, rot24)
#define B2_ROR16(x) _mm256_shuffle_epi8(x, rot16)
#define B2_ROR63(x) b2_ror63_avx2(x)
        B2_SCHEDULE(B2_ROUND)
#undef B2_ADD
#undef B2_XOR
#undef B2_ROR32
#undef B2_ROR24
#undef B2_ROR16
#undef B2_ROR63
        h0 = _mm256_xor_si256(h0, _mm256_xor_si256(v0, v8));
        h1 = _mm256_xor_si256(h1, _mm256_xor_si256(v1, v9));
        h2 = _mm256_xor_si256(h2, _mm256_xor_si256(v2, v10));
        h3 = _mm256_xor_si256(h3, _mm256_xor_si256(v3, v11));
        h4 = _mm256_xor_si256(h4, _mm256_xor_si256(v4, v12));
        h5 = _mm256_xor_si256(h5, _mm256_xor_si256(v5, v13));
        h6 = _mm256_xor_si256(h6, _mm256_xor_si256(v6, v14));
        h7 = _mm256_xor_si256(h7, _mm256_xor_si256(v7, v15));
        tv = _mm256_add_epi64(tv, sv);
    }
    _mm256_storeu_si256((__m256i *)h[0], h0);
    _mm256_storeu_si256((__m256i *)h[1], h1);
    _mm256_storeu_si256((__m256i *)h[2], h2);
    _mm256_storeu_si256((__m256i *)h[3], h3);
    _mm256_storeu_si256((__m256i *)h[4], h4);
    _mm256_storeu_si256((__m256i *)h[5], h5);
    _mm256_storeu_si256((__m256i *)h[6], h6);
    _mm256_storeu_si256((__m256i *)h[7], h7);
}

#endif /* B2_X86 */

/* --- the lane scheduler ------------------------------------------------- */

typedef struct {
    const uint8_t *msg;
    size_t len;
    size_t off;    /* bytes already compressed (a multiple of 128) */
    size_t idx;    /* where the digest goes in out[] */
    int busy;
} b2_lane;

/* Blocks of a message: the empty message is one block of zeros (§3.3). */
static size_t b2_blocks(size_t len)
{
    return len ? (len + B2_BLOCK - 1) / B2_BLOCK : 1;
}

/* Full blocks the lane still has before its last one. */
static size_t b2_lane_bulk(const b2_lane *ln)
{
    return b2_blocks(ln->len) - 1 - ln->off / B2_BLOCK;
}

/* The last block of the lane's message, zero-padded, into pad. */
static void b2_lane_pad(const b2_lane *ln, uint8_t pad[B2_BLOCK])
{
    size_t rest = ln->len - ln->off;
    if (rest)   /* msg may be NULL for an empty message */
        memcpy(pad, ln->msg + ln->off, rest);
    memset(pad + rest, 0, B2_BLOCK - rest);
}

static void b2_digest(const uint64_t h0, const uint64_t h1, uint8_t out[16])
{
    for (unsigned i = 0; i < 8; i++) {
        out[i] = (uint8_t)(h0 >> (8 * i));
        out[8 + i] = (uint8_t)(h1 >> (8 * i));
    }
}

static void b2_lane_start(b2_lane *ln, uint64_t h[8][B2_LANES_MAX], unsigned l,
                          const uint8_t *msg, size_t len, size_t idx)
{
    ln->msg = msg;
    ln->len = len;
    ln->off = 0;
    ln->idx = idx;
    ln->busy = 1;
    h[0][l] = B2_H0;
    for (unsigned i = 1; i < 8; i++)
        h[i][l] = b2_iv[i];
}

/* Hashes msg from byte off on (a multiple of 128; the state h covers the
 * bytes before it) to the end with the scalar compression: out = digest. */
static void b2_scalar_from(uint64_t h[8], const uint8_t *msg, size_t len, size_t off,
                           uint8_t out[16])
{
    b2_lane ln = { msg, len, off, 0, 1 };
    uint8_t pad[B2_BLOCK];
    for (size_t k = b2_lane_bulk(&ln); k > 0; k--) {
        b2_compress_scalar(h, msg + ln.off, ln.off + B2_BLOCK, 0);
        ln.off += B2_BLOCK;
    }
    b2_lane_pad(&ln, pad);
    b2_compress_scalar(h, pad, len, ~(uint64_t)0);
    b2_digest(h[0], h[1], out);
}

/* One message with the scalar compression alone. On the CPU measured it
 * is faster than libsodium's single-message BLAKE2b (1.2 vs 0.64 GB/s on an
 * AMD Zen 5, whose six integer ALUs run the four independent G functions of
 * a half-round side by side). */
static void b2_hash_scalar(const uint8_t *msg, size_t len, uint8_t out[16])
{
    uint64_t h[8] = { B2_H0, B2_IV1, B2_IV2, B2_IV3, B2_IV4, B2_IV5, B2_IV6, B2_IV7 };
    b2_scalar_from(h, msg, len, 0, out);
}

/* Finishes lane l alone with the scalar compression. */
static void b2_lane_finish_scalar(b2_lane *ln, uint64_t h[8][B2_LANES_MAX], unsigned l,
                                  uint8_t (*out)[16])
{
    uint64_t hh[8];
    for (unsigned i = 0; i < 8; i++)
        hh[i] = h[i][l];
    b2_scalar_from(hh, ln->msg, ln->len, ln->off, out[ln->idx]);
    ln->busy = 0;
}

/* Hashes the n messages in[order[0..n-1]] on W lanes of kernel; when no
 * message waits any more and at most `tail` lanes are busy, those finish
 * with the scalar compression. */
static void b2_many_lanes(b2_kernel_fn kernel, unsigned W, unsigned tail,
                          const uint8_t *const *in, const size_t *len,
                          const size_t *order, size_t n, uint8_t (*out)[16])
{
    static const uint8_t zeros[B2_BLOCK];
    _Alignas(64) uint64_t h[8][B2_LANES_MAX];
    _Alignas(64) uint64_t t[B2_LANES_MAX], f[B2_LANES_MAX];
    _Alignas(64) size_t step[B2_LANES_MAX];
    _Alignas(64) uint8_t pad[B2_LANES_MAX][B2_BLOCK];
    const uint8_t *blk[B2_LANES_MAX];
    b2_lane lane[B2_LANES_MAX];
    size_t next = 0;

    memset(h, 0, sizeof h);
    memset(lane, 0, sizeof lane);
    for (unsigned l = 0; l < W && next < n; l++, next++)
        b2_lane_start(&lane[l], h, l, in[order[next]], len[order[next]], order[next]);

    for (;;) {
        unsigned busy = 0;
        size_t run = SIZE_MAX;
        for (unsigned l = 0; l < W; l++) {
            if (!lane[l].busy)
                continue;
            busy++;
            size_t k = b2_lane_bulk(&lane[l]);
            if (k < run)
                run = k;
        }
        if (busy == 0)
            break;
        if (next == n && busy <= tail) {
            for (unsigned l = 0; l < W; l++)
                if (lane[l].busy)
                    b2_lane_finish_scalar(&lane[l], h, l, out);
            break;
        }
        /* run > 0: every busy lane has that many full non-final blocks;
         * run == 0: one block, the final one for the lanes at their end */
        size_t blocks = run ? run : 1;
        for (unsigned l = 0; l < W; l++) {
            b2_lane *ln = &lane[l];
            if (!ln->busy) {
                blk[l] = zeros;
                step[l] = 0;
                t[l] = 0;
                f[l] = 0;
            } else if (run == 0 && b2_lane_bulk(ln) == 0) {
                b2_lane_pad(ln, pad[l]);
                blk[l] = pad[l];
                step[l] = 0;
                t[l] = ln->len;
                f[l] = ~(uint64_t)0;
            } else {
                blk[l] = ln->msg + ln->off;
                step[l] = B2_BLOCK;
                t[l] = ln->off + B2_BLOCK;
                f[l] = 0;
            }
        }
        kernel(h, blk, step, t, f, blocks);
        for (unsigned l = 0; l < W; l++) {
            b2_lane *ln = &lane[l];
            if (!ln->busy)
                continue;
            if (!f[l]) {
                ln->off += blocks * B2_BLOCK;
                continue;
            }
            b2_digest(h[0][l], h[1][l], out[ln->idx]);
            ln->busy = 0;
            if (next < n) {
                b2_lane_start(ln, h, l, in[order[next]], len[order[next]], order[next]);
                next++;
            }
        }
    }
}

/* --- choice of implementation ------------------------------------------- */

enum { B2_PORTABLE, B2_AVX2, B2_AVX512 };
static const char *const b2_impl_names[] = { "portable", "avx2", "avx512" };

static pthread_once_t b2_once = PTHREAD_ONCE_INIT;
static int b2_best = B2_PORTABLE;   /* written once under b2_once */
static int b2_current = B2_PORTABLE; /* atomic: blake2b_many_select may change it */

/* sodium_init picks libsodium's fastest BLAKE2b for this CPU (its result
 * can be ignored: the portable one is correct too); then the CPU check and
 * the HUB_NO_SIMD override, read this once. */
static void b2_setup(void)
{
    if (sodium_init() < 0) {
        /* keeps libsodium's portable BLAKE2b */
    }
    int best = B2_PORTABLE;
#if B2_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        best = B2_AVX512;
    else if (__builtin_cpu_supports("avx2"))
        best = B2_AVX2;
#endif
    b2_best = best;
    const char *e = getenv("HUB_NO_SIMD");
    int cur = (e && *e && strcmp(e, "0") != 0) ? B2_PORTABLE : best;
    __atomic_store_n(&b2_current, cur, __ATOMIC_RELAXED);
}

static int b2_impl(void)
{
    pthread_once(&b2_once, b2_setup);
    return __atomic_load_n(&b2_current, __ATOMIC_RELAXED);
}

const char *blake2b_many_impl(void)
{
    return b2_impl_names[b2_impl()];
}

int blake2b_many_select(const char *impl)
{
    pthread_once(&b2_once, b2_setup);
    int want = b2_best;
    if (impl) {
        want = -1;
        for (int i = 0; i < 3; i++)
            if (strcmp(impl, b2_impl_names[i]) == 0)
                want = i;
        /* avx512 is only offered where it was detected, avx2 where either
         * was (every AVX-512 CPU has AVX2) */
        if (want < 0 || want > b2_best)
            return -1;
    }
    __atomic_store_n(&b2_current, want, __ATOMIC_RELAXED);
    return 0;
}

/* --- public entry points ------------------------------------------------ */

/* crypto_generichash only fails for out-of-range lengths, which 16 is not. */
void blake2b128_one(const uint8_t *in, size_t len, uint8_t out[16])
{
    pthread_once(&b2_once, b2_setup);
    crypto_generichash(out, 16, in, len, NULL, 0);
}

void blake2b128_many(const uint8_t *const *in, const size_t *len, size_t n,
                     uint8_t (*out)[16])
{
    int impl = b2_impl();
    b2_kernel_fn kernel = NULL;
    unsigned W = 1, tail = 0;
#if B2_X86
    /* tail: up to this many busy lanes (and nothing waiting) the scalar
     * compression beats the mostly idle vector. Measured on Zen 5: one
     * AVX-512 lane does 0.6 GB/s, one AVX2 lane 0.53, scalar 1.2. */
    if (impl == B2_AVX512) {
        kernel = b2_kernel_avx512;
        W = 8;
        tail = 1;
    } else if (impl == B2_AVX2) {
        kernel = b2_kernel_avx2;
        W = 4;
        tail = 2;
    }
#endif
    if (!kernel || n <= tail) {
        for (size_t i = 0; i < n; i++)
            b2_hash_scalar(in[i], len[i], out[i]);
        return;
    }
    for (size_t base = 0; base < n; base += B2_GROUP) {
        size_t g = n - base < B2_GROUP ? n - base : B2_GROUP;
        size_t order[B2_GROUP];
        /* longest first (insertion sort: g is small) */
        for (size_t i = 0; i < g; i++) {
            size_t j = i;
            while (j > 0 && len[order[j - 1]] < len[base + i]) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = base + i;
        }
        b2_many_lanes(kernel, W, tail, in, len, order, g, out);
    }
}
