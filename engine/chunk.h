/* chunk.h - the per-chunk pipeline of FLIST-FORMAT.md §5.2 and its inverse.
 *
 *   K  = BLAKE2b-128(plain)        the decryption key
 *   C  = snappy(plain)             raw block format
 *   E  = XXTEA(C, K)               with the length word appended (§5.3)
 *   ID = BLAKE2b-128(E)            the backend key
 *
 * chunk_encrypt_many does the same on a batch of chunks, several at once.
 *
 * Pure functions: thread-safe, no allocation in chunk_encrypt(_many).
 */
#ifndef CHUNK_H
#define CHUNK_H

#include <stddef.h>
#include <stdint.h>

#include "hub_err.h"

/* Largest ciphertext chunk_encrypt can produce for plain_len bytes. */
size_t chunk_cipher_bound(size_t plain_len);

/* Encrypts one chunk (1..FLIST_CHUNK_SIZE bytes) into cipher, which must hold
 * chunk_cipher_bound(plain_len) bytes; fills *cipher_len, id and key.
 * Returns 0, or -1 when plain_len is 0 or too large. */
int chunk_encrypt(const uint8_t *plain, size_t plain_len,
                  uint8_t *cipher, size_t *cipher_len,
                  uint8_t id[16], uint8_t key[16]);

/* chunk_encrypt of n chunks at once, with byte for byte the same results:
 * plain[i] (plain_len[i] bytes, 1..FLIST_CHUNK_SIZE) is encrypted into
 * cipher[i] (room for chunk_cipher_bound(plain_len[i]) bytes), filling
 * cipher_len[i], id[i] and key[i]. The BLAKE2b and XXTEA steps work on
 * several chunks at once (blake2b_many.h, xxtea_encrypt_many), snappy on one
 * at a time; batches of 8 fill the AVX-512 and AVX2 lanes. Returns 0, or -1
 * when some plain_len[i] is 0 or too large (checked first: nothing written
 * then). No allocation; the cipher buffers must not overlap. */
int chunk_encrypt_many(size_t n, const uint8_t *const *plain, const size_t *plain_len,
                       uint8_t *const *cipher, size_t *cipher_len,
                       uint8_t (*id)[16], uint8_t (*key)[16]);

/* Decrypts and verifies one chunk: XXTEA-decrypt with key, snappy-uncompress
 * into plain (capacity plain_cap, at least FLIST_CHUNK_SIZE is always enough
 * for chunks we accept), check BLAKE2b-128(plain) == key. When id is not NULL
 * also checks BLAKE2b-128(cipher) == id. Returns 0, or -1 with err set
 * ("chunk <id>: bad length word", "... does not decompress", "... key
 * mismatch"). cipher is not modified. */
int chunk_decrypt(const uint8_t *cipher, size_t cipher_len,
                  const uint8_t id[16], const uint8_t key[16],
                  uint8_t *plain, size_t plain_cap, size_t *plain_len,
                  hub_err *err);

/* XXTEA with the libflist conventions (§5.3), exposed for the test vectors.
 * xxtea_encrypt: out must hold ((len+3)/4+1)*4 bytes; returns that length.
 * xxtea_decrypt: returns the plaintext length (<= len-4) written into out
 * (capacity len), or -1 when the length word is invalid. */
size_t xxtea_encrypt(const uint8_t *in, size_t len, const uint8_t key[16], uint8_t *out);
long xxtea_decrypt(const uint8_t *in, size_t len, const uint8_t key[16], uint8_t *out);

/* Encrypts the n buffers buf[i] in place, exactly like
 * xxtea_encrypt(buf[i], len[i], key[i], buf[i]) one after the other: buf[i]
 * holds len[i] bytes and has room for ((len[i]+3)/4+1)*4, the length
 * written to out_len[i]. Several buffers are worked on together (8 in AVX2
 * lanes, else 2 interleaved scalar chains), since one buffer is a chain of
 * dependent steps that leaves most of the core idle. The buffers must not
 * overlap. Thread-safe, never fails, allocates nothing. */
void xxtea_encrypt_many(uint8_t *const *buf, const size_t *len, const uint8_t (*key)[16],
                        size_t n, size_t *out_len);

/* The implementation xxtea_encrypt_many uses ("avx2" or "interleaved";
 * chosen once from the CPU, HUB_NO_SIMD=1 forces "interleaved"), and a way
 * to switch it (NULL: the best one): returns -1 for an unknown name or one
 * the CPU lacks. The switch is for tests and benchmarks, not to be used
 * while other threads encrypt. */
const char *xxtea_many_impl(void);
int xxtea_many_select(const char *impl);

#endif
