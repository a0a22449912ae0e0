/* flist_keys.c - directory keys, ACI keys and hex (FLIST-FORMAT.md §3).
 *
 * Both keys are real BLAKE2b with the digest-length parameter set (16 bytes
 * for directories, 8 for ACIs), not a truncated BLAKE2b-512: libsodium's
 * crypto_generichash with outlen 16 / 8 and no key.
 */
#include "flist_keys.h"
#include "util.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;

/* sodium_init only selects faster implementations; hashing is correct
 * without it, so its (never observed) failure is not fatal here. */
static void init_sodium(void)
{
    if (sodium_init() < 0)
        return;
}

void hub_hex(const uint8_t *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

int hub_unhex(const char *hex, uint8_t *bytes, size_t n)
{
    /* reads left to right, so a string shorter than 2n stops at its NUL */
    for (size_t i = 0; i < n; i++) {
        int hi = util_hexval((unsigned char)hex[2 * i]);
        if (hi < 0)
            return -1;
        int lo = util_hexval((unsigned char)hex[2 * i + 1]);
        if (lo < 0)
            return -1;
        bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

const char *flist_path_trim(const char *path, size_t *len)
{
    size_t n = strlen(path);
    if (n && path[0] == '/') {
        path++;
        n--;
    }
    if (n && path[n - 1] == '/')
        n--;
    *len = n;
    return path;
}

void flist_path_key(const char *path, char out[FLIST_DIRKEY_LEN + 1])
{
    uint8_t h[FLIST_DIRKEY_LEN / 2];
    pthread_once(&sodium_once, init_sodium);
    if (!path)
        path = "";
    crypto_generichash(h, sizeof h, (const unsigned char *)path, strlen(path), NULL, 0);
    hub_hex(h, sizeof h, out);
}

static void hash_str(crypto_generichash_state *st, const char *s)
{
    crypto_generichash_update(st, (const unsigned char *)s, strlen(s));
}

void flist_acl_key(const flist_acl *acl, char out[FLIST_ACLKEY_LEN + 1])
{
    /* "user:U\ngroup:G\nmode:0oM\nuid:N\ngid:N", hashed piecewise so that
     * names of any length need no buffer */
    crypto_generichash_state st;
    uint8_t h[FLIST_ACLKEY_LEN / 2];
    char num[96];
    pthread_once(&sodium_once, init_sodium);
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    hash_str(&st, "user:");
    hash_str(&st, acl->uname ? acl->uname : "");
    hash_str(&st, "\ngroup:");
    hash_str(&st, acl->gname ? acl->gname : "");
    snprintf(num, sizeof num, "\nmode:0o%o\nuid:%" PRId64 "\ngid:%" PRId64,
             (unsigned)acl->mode, acl->uid, acl->gid);
    hash_str(&st, num);
    crypto_generichash_final(&st, h, sizeof h);
    hub_hex(h, sizeof h, out);
}
