/* blake2b_many.h - BLAKE2b-128 (RFC 7693, no key, 16-byte digest: the chunk
 * key and chunk id of FLIST-FORMAT.md §5.2) of one message, or of many
 * messages at once with one message per SIMD lane (AVX-512: 8 lanes, AVX2:
 * 4 lanes), which is several times faster per core than hashing them one
 * after the other. Every path gives exactly the bytes of libsodium's
 * crypto_generichash(out, 16, in, len, NULL, 0).
 *
 * The implementation is chosen once, at the first call, from the CPU
 * (__builtin_cpu_supports); HUB_NO_SIMD=1 (any value but empty or 0) in the
 * environment forces the portable one (plain C, one message at a time).
 */
#ifndef BLAKE2B_MANY_H
#define BLAKE2B_MANY_H

#include <stddef.h>
#include <stdint.h>

/* BLAKE2b-128 of the len bytes at in (libsodium). Thread-safe, never fails,
 * allocates nothing. */
void blake2b128_one(const uint8_t *in, size_t len, uint8_t out[16]);

/* BLAKE2b-128 of the n messages in[i] (len[i] bytes each, 0 allowed; in[i]
 * may be NULL when len[i] is 0) into out[i]. Same bytes as n calls of
 * blake2b128_one, in any order of lengths. Thread-safe, never fails,
 * allocates nothing (the lane state lives on the stack). */
void blake2b128_many(const uint8_t *const *in, const size_t *len, size_t n,
                     uint8_t (*out)[16]);

/* The implementation blake2b128_many uses now: "avx512", "avx2" or
 * "portable". Static string. */
const char *blake2b_many_impl(void);

/* Switches blake2b128_many to impl ("avx512", "avx2", "portable", or NULL
 * for the best one this CPU has). Returns 0, or -1 when the name is unknown
 * or the CPU lacks it (nothing changes then). For tests and benchmarks: not
 * to be called while other threads hash. */
int blake2b_many_select(const char *impl);

#endif
