/* test_chunk.c - the chunk pipeline (engine/chunk.c, engine/xxtea.c) against
 * the reference data: every vector of vectors.json and the table of
 * FLIST-FORMAT.md §5.5 (K, snappy bytes, XXTEA words/rounds, ciphertext, ID),
 * the stored ciphertexts of tests/data/chunks, decryption back to the
 * plaintext, the optimised XXTEA against a literal transcription of the
 * §5.3 pseudo-code, and every way decryption must refuse bad input.
 */
#include <dirent.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <snappy-c.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "flist_model.h"
#include "t.h"
#include "t_flist.h"

/* --- helpers ------------------------------------------------------------ */

static void to_hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
    out[2 * n] = '\0';
}

static void sha256_hex(const uint8_t *b, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(b, n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        out[0] = '\0';
        return;
    }
    to_hex(md, 32, out);
}

static void blake16_hex(const uint8_t *b, size_t n, char out[33])
{
    uint8_t h[16];
    crypto_generichash(h, 16, b, n, NULL, 0);
    to_hex(h, 16, out);
}

/* b[i] = (7*i) mod 251, the generator of vectors.json / §5.5 */
static uint8_t *seq7(size_t n)
{
    uint8_t *b = malloc(n);
    for (size_t i = 0; b && i < n; i++)
        b[i] = (uint8_t)((7 * i) % 251);
    return b;
}

/* XXTEA encryption transcribed literally from FLIST-FORMAT.md §5.3, on an
 * array of words (last one included as given): the independent reference
 * for the optimised implementation and a way to build ciphertexts with any
 * length word. */
#define REF_MX (((z >> 5) ^ (y << 2)) + ((y >> 3) ^ (z << 4))) ^ ((sum ^ y) + (k[(p & 3) ^ e] ^ z))
static void ref_xxtea_words(uint32_t *v, uint32_t n, const uint8_t key[16])
{
    uint32_t k[4], y, z, sum = 0, e, p;
    for (int i = 0; i < 4; i++)
        k[i] = (uint32_t)key[4 * i] | (uint32_t)key[4 * i + 1] << 8 |
               (uint32_t)key[4 * i + 2] << 16 | (uint32_t)key[4 * i + 3] << 24;
    uint32_t rounds = 6 + 52 / n;
    z = v[n - 1];
    while (rounds--) {
        sum += 0x9E3779B9u;
        e = (sum >> 2) & 3;
        for (p = 0; p < n - 1; p++) {
            y = v[p + 1];
            v[p] += REF_MX;
            z = v[p];
        }
        y = v[0];
        v[p] += REF_MX;
        z = v[p];
    }
}

/* data (len bytes) zero-padded + length word `lenword`, encrypted with the
 * reference; writes 4*(ceil(len/4)+1) bytes to out and returns that. */
static size_t ref_encrypt(const uint8_t *data, size_t len, uint32_t lenword,
                          const uint8_t key[16], uint8_t *out)
{
    uint32_t n = (uint32_t)((len + 3) / 4 + 1);
    uint32_t *v = calloc(n, 4);
    for (size_t i = 0; i < len; i++)
        v[i / 4] |= (uint32_t)data[i] << (8 * (i % 4));
    v[n - 1] = lenword;
    ref_xxtea_words(v, n, key);
    for (uint32_t i = 0; i < n; i++)
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = (uint8_t)(v[i] >> (8 * j));
    free(v);
    return 4 * (size_t)n;
}

/* --- vectors.json ------------------------------------------------------- */

static int vectors_checked;

static void check_chunk_vector(const char *vname, const uint8_t *plain, json_t *c)
{
    size_t off = (size_t)json_integer_value(json_object_get(c, "offset"));
    size_t len = (size_t)json_integer_value(json_object_get(c, "length"));
    const uint8_t *p = plain + off;
    char hex[1 << 12], sha[65];
    const char *want;

    fprintf(stderr, "vector %s chunk %zu+%zu\n", vname, off, len);
    sha256_hex(p, len, sha);
    T_STREQ(sha, json_string_value(json_object_get(c, "plaintext_sha256")));

    /* the pipeline */
    size_t bound = chunk_cipher_bound(len), clen = 0;
    uint8_t *cipher = malloc(bound), id[16], key[16];
    T_REQUIRE(cipher);
    T_REQUIRE(chunk_encrypt(p, len, cipher, &clen, id, key) == 0);
    to_hex(key, 16, hex);
    T_STREQ(hex, json_string_value(json_object_get(c, "K")));
    to_hex(id, 16, hex);
    T_STREQ(hex, json_string_value(json_object_get(c, "ID")));
    T_CHECK(clen == (size_t)json_integer_value(json_object_get(c, "ciphertext_len")));
    T_CHECK(clen <= bound);
    if ((want = json_string_value(json_object_get(c, "ciphertext_hex")))) {
        T_REQUIRE(clen * 2 < sizeof hex);
        to_hex(cipher, clen, hex);
        T_STREQ(hex, want);
    } else {
        sha256_hex(cipher, clen, sha);
        T_STREQ(sha, json_string_value(json_object_get(c, "ciphertext_sha256")));
    }

    /* the steps one by one: snappy, XXTEA words and rounds */
    size_t slen = snappy_max_compressed_length(len);
    uint8_t *snap = malloc(slen), *xx = malloc(bound);
    T_REQUIRE(snap && xx);
    T_REQUIRE(snappy_compress((const char *)p, len, (char *)snap, &slen) == SNAPPY_OK);
    T_CHECK(slen == (size_t)json_integer_value(json_object_get(c, "snappy_len")));
    if ((want = json_string_value(json_object_get(c, "snappy_hex")))) {
        to_hex(snap, slen, hex);
        T_STREQ(hex, want);
    }
    size_t words = clen / 4;
    T_CHECK(words == (size_t)json_integer_value(json_object_get(c, "xxtea_words")));
    T_CHECK(6 + 52 / words == (size_t)json_integer_value(json_object_get(c, "xxtea_rounds")));
    T_CHECK(xxtea_encrypt(snap, slen, key, xx) == clen);
    T_CHECK(memcmp(xx, cipher, clen) == 0);
    T_CHECK(ref_encrypt(snap, slen, (uint32_t)slen, key, xx) == clen);
    T_CHECK(memcmp(xx, cipher, clen) == 0);
    T_CHECK(xxtea_decrypt(cipher, clen, key, xx) == (long)slen);
    T_CHECK(memcmp(xx, snap, slen) == 0);

    /* the stored ciphertext is ours, and decrypts back */
    char path[128], idhex[33];
    to_hex(id, 16, idhex);
    snprintf(path, sizeof path, "chunks/%s", idhex);
    size_t flen = 0;
    uint8_t *stored = (uint8_t *)t_slurp(t_data(path), &flen);
    T_CHECK(stored && flen == clen && memcmp(stored, cipher, clen) == 0);
    free(stored);

    uint8_t *back = malloc(FLIST_CHUNK_SIZE);
    size_t blen = 0;
    hub_err err = { 0 };
    T_REQUIRE(back);
    T_CHECK(chunk_decrypt(cipher, clen, id, key, back, FLIST_CHUNK_SIZE, &blen, &err) == 0);
    T_CHECK(blen == len && memcmp(back, p, len) == 0);
    blen = 0;
    T_CHECK(chunk_decrypt(cipher, clen, NULL, key, back, FLIST_CHUNK_SIZE, &blen, &err) == 0);
    T_CHECK(blen == len && memcmp(back, p, len) == 0);
    free(back);
    free(snap);
    free(xx);
    free(cipher);
    vectors_checked++;
}

static void test_vectors_json(void)
{
    json_error_t jerr;
    json_t *root = json_load_file(t_data("vectors.json"), 0, &jerr);
    T_REQUIRE(root);
    T_CHECK(json_integer_value(json_object_get(root, "chunk_size")) == FLIST_CHUNK_SIZE);
    json_t *vectors = json_object_get(root, "vectors");
    T_CHECK(json_array_size(vectors) == 3);
    size_t vi;
    json_t *v;
    int chunks = 0;
    json_array_foreach(vectors, vi, v) {
        const char *name = json_string_value(json_object_get(v, "name"));
        size_t plen = (size_t)json_integer_value(json_object_get(v, "plaintext_len"));
        const char *phex = json_string_value(json_object_get(v, "plaintext_hex"));
        uint8_t *plain;
        size_t n = 0;
        if (phex) {
            plain = t_from_hex(phex, &n);
            T_CHECK(n == plen);
        } else {
            T_STREQ(json_string_value(json_object_get(v, "plaintext_generator")),
                    "b[i] = (7*i) % 251 for 0 <= i < 524289");
            plain = seq7(plen);
        }
        T_REQUIRE(plain);
        char sha[65];
        sha256_hex(plain, plen, sha);
        T_STREQ(sha, json_string_value(json_object_get(v, "plaintext_sha256")));

        /* chunking: consecutive 512 KiB pieces, the last one shorter */
        json_t *cs = json_object_get(v, "chunks");
        T_CHECK(json_array_size(cs) == (plen + FLIST_CHUNK_SIZE - 1) / FLIST_CHUNK_SIZE);
        size_t ci;
        json_t *c;
        json_array_foreach(cs, ci, c) {
            T_CHECK((size_t)json_integer_value(json_object_get(c, "offset")) == ci * FLIST_CHUNK_SIZE);
            size_t clen = (size_t)json_integer_value(json_object_get(c, "length"));
            T_CHECK(clen == (plen - ci * FLIST_CHUNK_SIZE < FLIST_CHUNK_SIZE ?
                             plen - ci * FLIST_CHUNK_SIZE : FLIST_CHUNK_SIZE));
            check_chunk_vector(name, plain, c);
            chunks++;
        }
        free(plain);
    }
    T_CHECK(chunks == 4);
    T_CHECK(vectors_checked == 4);
    json_decref(root);
}

/* --- the table of §5.5, written out ------------------------------------- */

static void check_table_row(const char *plain_hex, const char *k, const char *snappy_hex,
                            const char *cipher_hex, size_t words, size_t rounds, const char *idh)
{
    size_t n = 0;
    uint8_t *plain = t_from_hex(plain_hex, &n);
    T_REQUIRE(plain);
    uint8_t cipher[64], id[16], key[16], snap[64];
    size_t clen = 0, slen = sizeof snap;
    char hex[129];
    T_REQUIRE(chunk_cipher_bound(n) <= sizeof cipher);
    T_REQUIRE(chunk_encrypt(plain, n, cipher, &clen, id, key) == 0);
    to_hex(key, 16, hex);
    T_STREQ(hex, k);
    T_REQUIRE(snappy_compress((const char *)plain, n, (char *)snap, &slen) == SNAPPY_OK);
    to_hex(snap, slen, hex);
    T_STREQ(hex, snappy_hex);
    to_hex(cipher, clen, hex);
    T_STREQ(hex, cipher_hex);
    T_CHECK(clen / 4 == words);
    T_CHECK(6 + 52 / (clen / 4) == rounds);
    to_hex(id, 16, hex);
    T_STREQ(hex, idh);
    free(plain);
}

static void test_format_table(void)
{
    check_table_row("68656c6c6f20776f726c640a", "c0cdb4699cdaa9eea4c563a934f1d52b",
                    "0c2c68656c6c6f20776f726c640a", "893f00077aad00982c3024bda3cbe527b9e1ecb0",
                    5, 16, "a5147f6e7cac3a7076f942cb5e00d896");
    check_table_row("646565700a", "d4125b8b56dad81ea8784b9331ac88d4", "0510646565700a",
                    "3a73ea5dddebe2f472c9b6ff", 3, 23, "88fa01b50c46c4da94a1d7e4cb548228");
    check_table_row("91", "62146b75ccbe4b2fb2f19d3f0e36ccdf", "010091", "7ad7a148a68b19c7",
                    2, 32, "5ecc7ba32a1848132c5e727ee0d02f92");
}

/* §5.5 multi-chunk example: 524289 bytes of (7i mod 251) = one full chunk
 * plus the 1-byte chunk 0x91. */
static void test_multi_chunk_example(void)
{
    uint8_t *plain = seq7(FLIST_CHUNK_SIZE + 1);
    size_t bound = chunk_cipher_bound(FLIST_CHUNK_SIZE), clen = 0;
    uint8_t *cipher = malloc(bound), id[16], key[16];
    char hex[33];
    T_REQUIRE(plain && cipher);

    T_REQUIRE(chunk_encrypt(plain, FLIST_CHUNK_SIZE, cipher, &clen, id, key) == 0);
    to_hex(id, 16, hex);
    T_STREQ(hex, "b2111f22eae4fcb9a8613d2ca5db9ab7");
    to_hex(key, 16, hex);
    T_STREQ(hex, "8d592b137cfe09da7460b27ae6d8d453");
    T_CHECK(clen == 26552);
    T_CHECK(plain[FLIST_CHUNK_SIZE] == 0x91);
    T_REQUIRE(chunk_encrypt(plain + FLIST_CHUNK_SIZE, 1, cipher, &clen, id, key) == 0);
    to_hex(id, 16, hex);
    T_STREQ(hex, "5ecc7ba32a1848132c5e727ee0d02f92");
    T_CHECK(clen == 8);
    free(cipher);
    free(plain);
}

/* Every stored chunk hashes to its name; there are 332 of them. */
static void test_stored_chunks(void)
{
    DIR *d = opendir(t_data("chunks"));
    T_REQUIRE(d);
    struct dirent *de;
    int count = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[512], hex[33];
        snprintf(path, sizeof path, "chunks/%s", de->d_name);
        size_t n = 0;
        uint8_t *b = (uint8_t *)t_slurp(t_data(path), &n);
        T_CHECK(b != NULL);
        if (!b)
            continue;
        blake16_hex(b, n, hex);
        if (strcmp(hex, de->d_name) != 0) {
            fprintf(stderr, "chunks/%s hashes to %s\n", de->d_name, hex);
            T_CHECK(0);
        }
        T_CHECK(n >= 8 && n % 4 == 0);
        free(b);
        count++;
    }
    closedir(d);
    T_CHECK(count == 332);
}

/* --- the optimised XXTEA equals the literal one, both directions -------- */

static void test_xxtea_against_reference(void)
{
    uint8_t *in = malloc(5000), *a = malloc(5008), *b = malloc(5008), *c = malloc(5008);
    uint8_t key[16];
    T_REQUIRE(in && a && b && c);
    for (size_t len = 1; len <= 5000; len += (len < 300 ? 1 : 97)) {
        randombytes_buf(in, len);
        randombytes_buf(key, sizeof key);
        size_t n = xxtea_encrypt(in, len, key, a);
        T_CHECK(n == ((len + 3) / 4 + 1) * 4);
        T_CHECK(ref_encrypt(in, len, (uint32_t)len, key, b) == n);
        if (memcmp(a, b, n) != 0) {
            fprintf(stderr, "xxtea differs from the reference at len %zu\n", len);
            T_CHECK(0);
            break;
        }
        T_CHECK(xxtea_decrypt(a, n, key, c) == (long)len);
        T_CHECK(memcmp(c, in, len) == 0);
        /* in place, both ways */
        memcpy(c, in, len);
        T_CHECK(xxtea_encrypt(c, len, key, c) == n && memcmp(c, a, n) == 0);
        T_CHECK(xxtea_decrypt(c, n, key, c) == (long)len && memcmp(c, in, len) == 0);
    }
    /* malformed sizes */
    T_CHECK(xxtea_decrypt(a, 4, key, c) == -1);
    T_CHECK(xxtea_decrypt(a, 0, key, c) == -1);
    T_CHECK(xxtea_decrypt(a, 10, key, c) == -1);
    free(in);
    free(a);
    free(b);
    free(c);
}

/* --- round trips on random and compressible data ------------------------ */

static void test_round_trip(void)
{
    static const size_t sizes[] = { 1, 2, 3, 4, 5, 7, 8, 100, 4095, 4096, 65537,
                                    FLIST_CHUNK_SIZE - 1, FLIST_CHUNK_SIZE };
    uint8_t *plain = malloc(FLIST_CHUNK_SIZE), *back = malloc(FLIST_CHUNK_SIZE);
    uint8_t *cipher = malloc(chunk_cipher_bound(FLIST_CHUNK_SIZE));
    T_REQUIRE(plain && back && cipher);
    for (int zeros = 0; zeros < 2; zeros++) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t n = sizes[i], clen = 0, blen = 0;
            uint8_t id[16], key[16], h[16];
            hub_err err = { 0 };
            if (zeros)
                memset(plain, 0, n);
            else
                randombytes_buf(plain, n);
            T_REQUIRE(chunk_encrypt(plain, n, cipher, &clen, id, key) == 0);
            T_CHECK(clen <= chunk_cipher_bound(n) && clen % 4 == 0);
            crypto_generichash(h, 16, plain, n, NULL, 0);
            T_CHECK(memcmp(h, key, 16) == 0);
            crypto_generichash(h, 16, cipher, clen, NULL, 0);
            T_CHECK(memcmp(h, id, 16) == 0);
            T_CHECK(chunk_decrypt(cipher, clen, id, key, back, FLIST_CHUNK_SIZE, &blen, &err) == 0);
            T_CHECK(blen == n && memcmp(back, plain, n) == 0);
        }
    }
    /* size limits */
    size_t clen = 0;
    uint8_t id[16], key[16];
    T_CHECK(chunk_encrypt(plain, 0, cipher, &clen, id, key) == -1);
    uint8_t *big = calloc(1, FLIST_CHUNK_SIZE + 1);
    uint8_t *bigc = malloc(chunk_cipher_bound(FLIST_CHUNK_SIZE + 1));
    T_CHECK(chunk_encrypt(big, FLIST_CHUNK_SIZE + 1, bigc, &clen, id, key) == -1);
    free(big);
    free(bigc);
    free(plain);
    free(back);
    free(cipher);
}

/* --- refusals ----------------------------------------------------------- */

static const char *HELLO_CIPHER = "893f00077aad00982c3024bda3cbe527b9e1ecb0";
static const char *HELLO_K = "c0cdb4699cdaa9eea4c563a934f1d52b";
static const char *HELLO_ID = "a5147f6e7cac3a7076f942cb5e00d896";
static const char *HELLO_SNAPPY = "0c2c68656c6c6f20776f726c640a";

/* Decrypts and expects -1 with exactly `want` as the message. */
static void expect_refused(const uint8_t *c, size_t clen, const uint8_t *id,
                           const uint8_t *key, size_t cap, const char *want)
{
    uint8_t plain[256];
    size_t plen = 12345;
    hub_err err = { 0 };
    T_CHECK(chunk_decrypt(c, clen, id, key, plain, cap, &plen, &err) == -1);
    T_STREQ(err.msg, want);
    T_CHECK(plen == 12345);  /* not touched on failure */
}

static void test_refusals(void)
{
    size_t clen, klen, ilen, slen;
    uint8_t *cipher = t_from_hex(HELLO_CIPHER, &clen), *key = t_from_hex(HELLO_K, &klen);
    uint8_t *id = t_from_hex(HELLO_ID, &ilen), *snap = t_from_hex(HELLO_SNAPPY, &slen);
    T_REQUIRE(cipher && key && id && snap && clen == 20);
    uint8_t bad[64];

    /* one flipped bit: the id no longer matches; without the id, the
     * scrambled length word gives it away */
    for (size_t bit = 0; bit < clen * 8; bit++) {
        memcpy(bad, cipher, clen);
        bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        expect_refused(bad, clen, id, key, 256,
                       "chunk a5147f6e7cac3a7076f942cb5e00d896: id mismatch (content does not hash to its id)");
        uint8_t plain[64];
        size_t plen = 0;
        hub_err err = { 0 };
        T_CHECK(chunk_decrypt(bad, clen, NULL, key, plain, sizeof plain, &plen, &err) == -1);
        T_CHECK(strncmp(err.msg, "chunk: ", 7) == 0);
    }
    memcpy(bad, cipher, clen);
    bad[0] ^= 1;
    expect_refused(bad, clen, NULL, key, 256,
                   "chunk: bad length word (wrong key or corrupt data)");

    /* wrong key */
    uint8_t wrong[16];
    memcpy(wrong, key, 16);
    wrong[15] ^= 0x80;
    expect_refused(cipher, clen, id, wrong, 256,
                   "chunk a5147f6e7cac3a7076f942cb5e00d896: bad length word (wrong key or corrupt data)");

    /* truncated: not a multiple of 4, or a word short, or too short */
    expect_refused(cipher, clen - 1, NULL, key, 256,
                   "chunk: bad ciphertext length 19 (must be a multiple of 4, at least 8)");
    expect_refused(cipher, 4, NULL, key, 256,
                   "chunk: bad ciphertext length 4 (must be a multiple of 4, at least 8)");
    expect_refused(cipher, 0, NULL, key, 256,
                   "chunk: bad ciphertext length 0 (must be a multiple of 4, at least 8)");
    expect_refused(cipher, clen - 4, NULL, key, 256,
                   "chunk: bad length word (wrong key or corrupt data)");

    /* length words just outside n-3 <= m <= n (n = 16 here), and the
     * edges just inside, built with the reference XXTEA */
    uint32_t lw[] = { 17, 12, 0, 0xffffffffu, 16, 13 };
    for (size_t i = 0; i < sizeof lw / sizeof lw[0]; i++) {
        size_t n = ref_encrypt(snap, slen, lw[i], key, bad);
        T_CHECK(n == 20);
        if (lw[i] >= 13 && lw[i] <= 16) {
            uint8_t out[20];
            T_CHECK(xxtea_decrypt(bad, n, key, out) == (long)lw[i]);
        } else {
            expect_refused(bad, n, NULL, key, 256,
                           "chunk: bad length word (wrong key or corrupt data)");
        }
    }

    /* valid length word but not snappy */
    static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02 };
    size_t n = ref_encrypt(junk, sizeof junk, sizeof junk, key, bad);
    expect_refused(bad, n, NULL, key, 256,
                   "chunk: does not decompress (wrong key or corrupt data)");

    /* valid snappy of other content under this key: key mismatch */
    static const uint8_t other[] = { 0x05, 0x10, 'd', 'e', 'e', 'p', '!' };
    n = ref_encrypt(other, sizeof other, sizeof other, key, bad);
    expect_refused(bad, n, NULL, key, 256,
                   "chunk: key mismatch (content does not hash to its key)");

    /* more plaintext than the caller has room for */
    expect_refused(cipher, clen, id, key, 11,
                   "chunk a5147f6e7cac3a7076f942cb5e00d896: decompresses to 12 bytes, more than the 11 allowed");

    free(cipher);
    free(key);
    free(id);
    free(snap);
}

T_MAIN(T_CASE(test_vectors_json), T_CASE(test_format_table), T_CASE(test_multi_chunk_example),
       T_CASE(test_stored_chunks), T_CASE(test_xxtea_against_reference), T_CASE(test_round_trip),
       T_CASE(test_refusals))
