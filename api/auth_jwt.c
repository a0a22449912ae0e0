/* auth_jwt.c - verification of itsyou.online-style JWTs (HUB-API.md §12.6)
 * with libjwt 1.10, plus the checks libjwt does not do.
 *
 * libjwt 1.10 verifies with whatever algorithm the token's header names
 * (so a public key could be used as an HMAC secret) and checks no claim. So
 * here, before libjwt sees the token: the header is decoded and its alg must
 * equal the alg a configured key is bound to (asymmetric algorithms only);
 * after verification: libjwt's alg must still be that one, and exp (required),
 * nbf, iat, aud, username and scope are checked on the verified payload.
 */
#include "auth.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#define JWT_MAX_LEN 16384

/* The algorithms a configured key may be bound to, and their key family. */
static const struct {
    const char *name;
    jwt_alg_t alg;
    int ec_bits;   /* 0 = RSA */
} allowed_algs[] = {
    {"ES256", JWT_ALG_ES256, 256}, {"ES384", JWT_ALG_ES384, 384},
    {"ES512", JWT_ALG_ES512, 521}, {"RS256", JWT_ALG_RS256, 0},
    {"RS384", JWT_ALG_RS384, 0},   {"RS512", JWT_ALG_RS512, 0},
};

static int alg_index(const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof allowed_algs / sizeof allowed_algs[0]; i++)
        if (strcmp(allowed_algs[i].name, name) == 0)
            return (int)i;
    return -1;
}

int auth_jwt_key_check(const char *alg, const char *pem, hub_err *err)
{
    int ai = alg_index(alg);
    if (ai < 0)
        return hub_err_set(err, "alg %s is not allowed (ES256, ES384, ES512, "
                           "RS256, RS384, RS512)", alg ? alg : "(none)");
    if (!pem || !*pem)
        return hub_err_set(err, "no public key");
    size_t len = strlen(pem);
    if (len > INT_MAX)
        return hub_err_set(err, "public key too long");
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        return hub_err_set(err, "out of memory");
    EVP_PKEY *key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!key)
        return hub_err_set(err, "not a PEM public key");
    int rc = 0;
    int id = EVP_PKEY_get_base_id(key), bits = EVP_PKEY_get_bits(key);
    if (allowed_algs[ai].ec_bits) {
        if (id != EVP_PKEY_EC || bits != allowed_algs[ai].ec_bits)
            rc = hub_err_set(err, "%s needs an EC P-%d public key", alg,
                             allowed_algs[ai].ec_bits);
    } else if (id != EVP_PKEY_RSA || bits < 2048) {
        rc = hub_err_set(err, "%s needs an RSA public key of at least 2048 bits", alg);
    }
    EVP_PKEY_free(key);
    return rc;
}

/* Decodes one unpadded base64url segment [s, s+len) into a new JSON object.
 * Returns NULL when it is not base64url or not a JSON object. */
static json_t *segment_json(const char *s, size_t len)
{
    size_t cap = len / 4 * 3 + 3, out_len = 0;
    unsigned char *buf = malloc(cap);
    if (!buf)
        return NULL;
    const char *end = NULL;
    json_t *v = NULL;
    if (sodium_base642bin(buf, cap, s, len, NULL, &out_len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
        end == s + len) {
        v = json_loadb((const char *)buf, out_len, JSON_REJECT_DUPLICATES, NULL);
        if (v && !json_is_object(v)) {
            json_decref(v);
            v = NULL;
        }
    }
    free(buf);
    return v;
}

/* A numeric claim as whole seconds: 1 when present and numeric (value in
 * *out), 0 when absent, -1 when present but not a number. */
static int numeric_claim(json_t *claims, const char *name, long long *out)
{
    json_t *v = json_object_get(claims, name);
    if (!v)
        return 0;
    if (json_is_integer(v)) {
        *out = (long long)json_integer_value(v);
        return 1;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d > -9.0e18 && d < 9.0e18))
            return -1;
        *out = (long long)d;
        return 1;
    }
    return -1;
}

void auth_accounts_free(char **accounts)
{
    if (!accounts)
        return;
    for (char **p = accounts; *p; p++)
        free(*p);
    free(accounts);
}

/* accounts = [username] + the third ":" field of every scope with at least
 * three fields (§12.6 J5). Returns a NULL-terminated array or NULL. */
static char **build_accounts(const char *username, json_t *scope)
{
    size_t n = scope ? json_array_size(scope) : 0;
    char **acc = calloc(n + 2, sizeof *acc);
    if (!acc)
        return NULL;
    size_t k = 0;
    if (!(acc[k++] = strdup(username)))
        goto fail;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(scope, i));
        const char *c1 = s ? strchr(s, ':') : NULL;
        const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        const char *f = c2 + 1, *c3 = strchr(f, ':');
        size_t flen = c3 ? (size_t)(c3 - f) : strlen(f);
        if (!(acc[k++] = strndup(f, flen)))
            goto fail;
    }
    return acc;
fail:
    auth_accounts_free(acc);
    return NULL;
}

int auth_jwt_check(const char *token, const auth_jwt_key *keys, size_t n,
                   long long now, long long leeway,
                   char user[AUTH_USER_MAX + 1], long long *iat,
                   char ***accounts, hub_err *err)
{
    if (accounts)
        *accounts = NULL;
    if (iat)
        *iat = 0;
    user[0] = '\0';
    if (!token)
        return hub_err_set(err, "no token");
    size_t len = strnlen(token, JWT_MAX_LEN + 1);
    if (len > JWT_MAX_LEN)
        return hub_err_set(err, "token longer than %d bytes", JWT_MAX_LEN);
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)) ||
        d1 == token || d2 == d1 + 1 || d2 + 1 == token + len)
        return hub_err_set(err, "not a signed JWT (header.payload.signature)");

    /* 1. the header's alg must be bound to a configured key. */
    json_t *head = segment_json(token, (size_t)(d1 - token));
    if (!head)
        return hub_err_set(err, "undecodable JWT header");
    char alg[16];
    const char *alg_s = json_string_value(json_object_get(head, "alg"));
    snprintf(alg, sizeof alg, "%s", alg_s ? alg_s : "");
    int has_crit = json_object_get(head, "crit") != NULL;
    json_decref(head);
    if (has_crit)
        return hub_err_set(err, "JWT header has crit parameters");
    int ai = alg_index(alg);
    if (ai < 0)
        return hub_err_set(err, "JWT alg \"%s\" is not allowed", alg);

    /* 2. the signature, with each key bound to that alg. */
    int verified = 0, tried = 0;
    for (size_t i = 0; i < n && !verified; i++) {
        if (!keys[i].alg || strcmp(keys[i].alg, alg) != 0 || !keys[i].pem)
            continue;
        tried++;
        size_t plen = strlen(keys[i].pem);
        if (plen > INT_MAX)
            continue;
        jwt_t *j = NULL;
        if (jwt_decode(&j, token, (const unsigned char *)keys[i].pem, (int)plen) == 0 &&
            j && jwt_get_alg(j) == allowed_algs[ai].alg)
            verified = 1;
        jwt_free(j);
    }
    if (!tried)
        return hub_err_set(err, "no key configured for JWT alg %s", alg);
    if (!verified)
        return hub_err_set(err, "JWT signature does not verify");

    /* 3. the claims of the verified payload. */
    json_t *claims = segment_json(d1 + 1, (size_t)(d2 - d1 - 1));
    if (!claims)
        return hub_err_set(err, "undecodable JWT payload");
    int rc = -1;
    long long exp = 0, nbf = 0, t_iat = 0;
    int has_exp = numeric_claim(claims, "exp", &exp);
    int has_nbf = numeric_claim(claims, "nbf", &nbf);
    int has_iat = numeric_claim(claims, "iat", &t_iat);
    json_t *scope = json_object_get(claims, "scope");
    const char *username = json_string_value(json_object_get(claims, "username"));
    if (has_exp != 1) {
        hub_err_set(err, has_exp ? "JWT exp is not a number" : "JWT has no exp");
    } else if (exp < now - leeway) {
        hub_err_set(err, "JWT expired at %lld", exp);
    } else if (has_nbf < 0 || (has_nbf && nbf > now + leeway)) {
        hub_err_set(err, "JWT not valid yet (nbf)");
    } else if (has_iat < 0 || (has_iat && t_iat > now + leeway)) {
        hub_err_set(err, "JWT issued in the future (iat)");
    } else if (json_object_get(claims, "aud")) {
        hub_err_set(err, "JWT has an audience");
    } else if (!username || !*username || strlen(username) > AUTH_USER_MAX) {
        hub_err_set(err, "JWT username missing or invalid");
    } else if (scope && !json_is_array(scope)) {
        hub_err_set(err, "JWT scope is not an array");
    } else {
        rc = 0;
        for (size_t i = 0; scope && i < json_array_size(scope); i++)
            if (!json_is_string(json_array_get(scope, i)))
                rc = hub_err_set(err, "JWT scope holds a non-string");
    }
    if (rc == 0) {
        memcpy(user, username, strlen(username) + 1);
        if (iat)
            *iat = has_iat ? t_iat : 0;
        if (accounts && !(*accounts = build_accounts(username, scope))) {
            user[0] = '\0';
            rc = hub_err_set(err, "out of memory");
        }
    }
    json_decref(claims);
    return rc;
}
