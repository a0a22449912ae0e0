/* chunk.c - the per-chunk pipeline of FLIST-FORMAT.md §5.2 and its inverse
 * (§5.6): BLAKE2b-128 key over the plaintext (libsodium crypto_generichash),
 * snappy raw-block compression, XXTEA (xxtea.c), BLAKE2b-128 id over the
 * ciphertext. Decryption verifies everything it can: id, length word,
 * snappy stream, key. chunk_encrypt_many is the same pipeline on a batch of
 * chunks, its BLAKE2b and XXTEA steps running several chunks at once
 * (blake2b_many.c, xxtea_encrypt_many).
 */
#include "chunk.h"

#include <limits.h>
#include <sodium.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blake2b_many.h"
#include "flist_model.h"

/* BLAKE2b with a 16-byte digest (no key): libsodium, initialised once by
 * blake2b128_one so it picks its fastest implementation for this CPU. */
static void blake2b_128(const uint8_t *in, size_t len, uint8_t out[16])
{
    blake2b128_one(in, len, out);
}

/* Largest ciphertext chunk_encrypt can produce for plain_len bytes: the
 * snappy bound rounded up to whole words, plus the length word. */
size_t chunk_cipher_bound(size_t plain_len)
{
    size_t s = snappy_max_compressed_length(plain_len);
    return (s + 3) / 4 * 4 + 4;
}

/* Compresses straight into cipher, then XXTEA-encrypts there in place, so
 * the only memory used is the caller's. */
int chunk_encrypt(const uint8_t *plain, size_t plain_len,
                  uint8_t *cipher, size_t *cipher_len,
                  uint8_t id[16], uint8_t key[16])
{
    if (plain_len == 0 || plain_len > FLIST_CHUNK_SIZE)
        return -1;

    blake2b_128(plain, plain_len, key);

    size_t clen = snappy_max_compressed_length(plain_len);
    if (snappy_compress((const char *)plain, plain_len, (char *)cipher, &clen) != SNAPPY_OK)
        return -1;

    *cipher_len = xxtea_encrypt(cipher, clen, key, cipher);
    blake2b_128(cipher, *cipher_len, id);
    return 0;
}

#define CHUNK_GROUP 64   /* chunks per pass: the snappy lengths stay on the stack */

/* The steps of chunk_encrypt, each over the whole batch: keys, snappy into
 * cipher, XXTEA in place, ids. The batch steps give the same bytes as the
 * one-chunk ones, so the results are chunk_encrypt's. */
int chunk_encrypt_many(size_t n, const uint8_t *const *plain, const size_t *plain_len,
                       uint8_t *const *cipher, size_t *cipher_len,
                       uint8_t (*id)[16], uint8_t (*key)[16])
{
    for (size_t i = 0; i < n; i++)
        if (plain_len[i] == 0 || plain_len[i] > FLIST_CHUNK_SIZE)
            return -1;

    for (size_t base = 0; base < n; base += CHUNK_GROUP) {
        size_t g = n - base < CHUNK_GROUP ? n - base : CHUNK_GROUP;
        size_t slen[CHUNK_GROUP];

        blake2b128_many(plain + base, plain_len + base, g, key + base);
        for (size_t i = 0; i < g; i++) {
            slen[i] = snappy_max_compressed_length(plain_len[base + i]);
            if (snappy_compress((const char *)plain[base + i], plain_len[base + i],
                                (char *)cipher[base + i], &slen[i]) != SNAPPY_OK)
                return -1;
        }
        /* pointer-to-array and pointer-to-pointer need explicit const casts in C */
        xxtea_encrypt_many(cipher + base, slen, (const uint8_t (*)[16])(key + base), g,
                           cipher_len + base);
        blake2b128_many((const uint8_t *const *)(cipher + base), cipher_len + base, g,
                        id + base);
    }
    return 0;
}

/* "chunk <id hex>" when the id is known, else "chunk". */
static void chunk_name(const uint8_t *id, char *out, size_t n)
{
    if (!id) {
        snprintf(out, n, "chunk");
        return;
    }
    char hex[33];
    sodium_bin2hex(hex, sizeof hex, id, 16);
    snprintf(out, n, "chunk %s", hex);
}

int chunk_decrypt(const uint8_t *cipher, size_t cipher_len,
                  const uint8_t id[16], const uint8_t key[16],
                  uint8_t *plain, size_t plain_cap, size_t *plain_len,
                  hub_err *err)
{
    char name[48];
    uint8_t digest[16];

    chunk_name(id, name, sizeof name);

    if (id) {
        blake2b_128(cipher, cipher_len, digest);
        if (sodium_memcmp(digest, id, 16) != 0)
            return hub_err_set(err, "%s: id mismatch (content does not hash to its id)", name);
    }
    if (cipher_len < 8 || cipher_len % 4 != 0 || cipher_len > (size_t)LONG_MAX)
        return hub_err_set(err, "%s: bad ciphertext length %zu (must be a multiple of 4, at least 8)",
                           name, cipher_len);

    uint8_t *buf = malloc(cipher_len);
    if (!buf)
        return hub_err_set(err, "%s: out of memory (%zu bytes)", name, cipher_len);

    int rc = -1;
    long m = xxtea_decrypt(cipher, cipher_len, key, buf);
    if (m < 0) {
        hub_err_set(err, "%s: bad length word (wrong key or corrupt data)", name);
        goto out;
    }

    size_t ulen = 0;
    if (snappy_validate_compressed_buffer((const char *)buf, (size_t)m) != SNAPPY_OK ||
        snappy_uncompressed_length((const char *)buf, (size_t)m, &ulen) != SNAPPY_OK) {
        hub_err_set(err, "%s: does not decompress (wrong key or corrupt data)", name);
        goto out;
    }
    if (ulen > plain_cap) {
        hub_err_set(err, "%s: decompresses to %zu bytes, more than the %zu allowed",
                    name, ulen, plain_cap);
        goto out;
    }
    size_t got = plain_cap;
    if (snappy_uncompress((const char *)buf, (size_t)m, (char *)plain, &got) != SNAPPY_OK) {
        hub_err_set(err, "%s: does not decompress (wrong key or corrupt data)", name);
        goto out;
    }

    blake2b_128(plain, got, digest);
    if (sodium_memcmp(digest, key, 16) != 0) {
        hub_err_set(err, "%s: key mismatch (content does not hash to its key)", name);
        goto out;
    }
    *plain_len = got;
    rc = 0;
out:
    free(buf);
    return rc;
}
