/* chunk.h - the per-chunk pipeline of FLIST-FORMAT.md §5.2 and its inverse.
 *
 *   K  = BLAKE2b-128(plain)        the decryption key
 *   C  = snappy(plain)             raw block format
 *   E  = XXTEA(C, K)               with the length word appended (§5.3)
 *   ID = BLAKE2b-128(E)            the backend key
 *
 * Pure functions: thread-safe, no allocation in chunk_encrypt.
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

#endif
