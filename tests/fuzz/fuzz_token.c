/* fuzz_token.c - libFuzzer target for authentication input (api/auth.h):
 * Authorization headers through the API gate, hub tokens, JWTs, signed
 * cookies and the ThreeFold Connect login parameters, against two fixed
 * test configurations (every secret below is a test value).
 *
 * Signatures stop random bytes early, so some modes sign the fuzzed bytes
 * with the test keys first, to reach the parsers behind the checks: the
 * hub token's JSON (Ed25519 with the test seed), the JWT header and claims
 * (ES256 with the test key), the cookie payload (HMAC with the test key),
 * the TFC signed message and its encrypted payload.
 *
 * Input: byte 0 = mode (bits 0-2), variant (bits 4-5), configuration
 * (bit 7); the rest is the payload, split at its first NUL where a mode
 * takes two strings.
 *   0 raw Authorization header [NUL active-user]: gate, token, JWT checks
 *   1 hub token over the payload (signed), and issue/verify round trip
 *   2 JWT: header NUL claims (signed ES256)
 *   3 raw cookie [NUL active-user]: cookie verify, session gate
 *   4 cookie payload (MAC'ed), and sign/verify round trip
 *   5 raw TFC parameters: signedAttempt, error message, login URL
 *   6 TFC signedAttempt over the payload (signed by the test user)
 *   7 TFC payload plaintext (encrypted to the hub, signed)
 * Oracles: a refusal has a status and a message; an accepted request has a
 * user; what auth_token_issue / auth_cookie_sign produce verifies and
 * gives back the same user / value.
 * Corpus: tests/fuzz/corpus/token.
 */
#include "fuzz.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "auth.h"

#define NOW 1700000000LL

/* the seed of HUB-API.md §12.3 ("0123456789abcdef" x 2) */
static const char seed_hex[] =
    "3031323334353637383961626364656630313233343536373839616263646566";
static const char session_key_hex[] =
    "a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0";
static const char box_key_hex[] =
    "0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a090807060504030201000";
static const char state[] = "Abcdefghijklmnopqrstuvwxyz012345";
static const char appid[] = "hub.example";

/* test ES256 key pair */
static const char jwt_priv_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgst94zX4RBtDlcIpf\n"
    "Pb8/7pvYdBpJ7bQH1SVVIKD3nMqhRANCAAQeKymhRFYNsCzX6shynDnUSK98VErc\n"
    "RZjDlwXvRryQSGAVgXTDHe+RnZJ72HiATlOGsEVvioN60tQiutmGSCrL\n"
    "-----END PRIVATE KEY-----\n";
static const char jwt_pub_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEHispoURWDbAs1+rIcpw51EivfFRK\n"
    "3EWYw5cF70a8kEhgFYF0wx3vkZ2Se9h4gE5ThrBFb4qDetLUIrrZhkgqyw==\n"
    "-----END PUBLIC KEY-----\n";

static auth_ctx *ctx_full;   /* guest token, JWT key, max age, session key, TFC */
static auth_ctx *ctx_bare;   /* seed only: no guest, no JWT keys, no max age */
static EVP_PKEY *jwt_key;
static unsigned char token_sk[crypto_sign_SECRETKEYBYTES];
static unsigned char cookie_key_full[crypto_auth_hmacsha256_KEYBYTES];
static unsigned char cookie_key_bare[crypto_auth_hmacsha256_KEYBYTES];
static unsigned char user_pk[crypto_sign_PUBLICKEYBYTES], user_sk[crypto_sign_SECRETKEYBYTES];
static char user_pk_b64[64];
static unsigned char hub_box_pk[crypto_box_PUBLICKEYBYTES];

static void die(const char *what)
{
    fprintf(stderr, "fuzz_token: %s\n", what);
    exit(1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    if (sodium_init() < 0)
        die("sodium_init");
    static const auth_virtual_user vmap[] = {{"official-apps", "tfofficial.3bot"}};
    static const char *const official[] = {"tf-official"};
    auth_jwt_key keys[] = {{"ES256", jwt_pub_pem}};
    auth_settings s = {
        .enabled = 1, .token_seed = seed_hex, .token_max_age = 3600,
        .threebot_privatekey = box_key_hex, .threebot_appid = appid,
        .session_key = session_key_hex, .guest_token = "guest-secret",
        .jwt_keys = keys, .n_jwt_keys = 1, .jwt_leeway = 30,
        .users_map = vmap, .n_users_map = 1, .official = official, .n_official = 1,
    };
    hub_err err;
    if (!(ctx_full = auth_ctx_new(&s, &err)))
        die(err.msg);
    auth_settings b = {.enabled = 1, .token_seed = seed_hex, .users_map = vmap, .n_users_map = 1};
    if (!(ctx_bare = auth_ctx_new(&b, &err)))
        die(err.msg);

    unsigned char seed[32], key[32], box_sk[32];
    size_t n;
    if (sodium_hex2bin(seed, 32, seed_hex, 64, NULL, &n, NULL) || n != 32 ||
        sodium_hex2bin(key, 32, session_key_hex, 64, NULL, &n, NULL) || n != 32 ||
        sodium_hex2bin(box_sk, 32, box_key_hex, 64, NULL, &n, NULL) || n != 32)
        die("hex");
    unsigned char pk[32];
    crypto_sign_seed_keypair(pk, token_sk, seed);
    /* the cookie keys as auth_ctx_new derives them */
    crypto_generichash(cookie_key_full, sizeof cookie_key_full, key, 32, NULL, 0);
    static const char ctx_msg[] = "flist-hub session cookie key v1";
    crypto_generichash(cookie_key_bare, sizeof cookie_key_bare, (const unsigned char *)ctx_msg,
                       sizeof ctx_msg - 1, seed, 32);
    /* the TFC test user and the hub's box key */
    unsigned char user_seed[32];
    memset(user_seed, 0x42, sizeof user_seed);
    crypto_sign_seed_keypair(user_pk, user_sk, user_seed);
    sodium_bin2base64(user_pk_b64, sizeof user_pk_b64, user_pk, sizeof user_pk,
                      sodium_base64_VARIANT_ORIGINAL);
    crypto_scalarmult_base(hub_box_pk, box_sk);

    BIO *bio = BIO_new_mem_buf(jwt_priv_pem, -1);
    jwt_key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!jwt_key)
        die("jwt key");
    return 0;
}

/* ---- helpers ---- */

static void check_result(int rc, const auth_result *r)
{
    if (rc == 0) {
        if (r->status != 0 || r->via == AUTH_VIA_NONE || !r->user[0] || !r->identity[0])
            abort();
    } else if (rc == -1) {
        if (!r->status || !r->message || r->via != AUTH_VIA_NONE)
            abort();
    } else {
        abort();
    }
}

static char *b64(const void *p, size_t n, int variant)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, variant);
    char *o = malloc(cap);
    if (o)
        sodium_bin2base64(o, cap, p, n, variant);
    return o;
}

static void gate(const auth_ctx *a, const char *authz, const char *active)
{
    auth_result r;
    check_result(auth_api_gate(a, authz, active, NOW, &r), &r);
}

static void gate_bearer(const auth_ctx *a, const char *tok, const char *active)
{
    size_t n = strlen(tok) + 8;
    char *h = malloc(n);
    if (!h)
        return;
    snprintf(h, n, "Bearer %s", tok);
    gate(a, h, active);
    free(h);
}

/* ES256 JWS signature (raw r || s) of msg, base64url; NULL on failure. */
static char *es256_sign(const char *msg, size_t len)
{
    char *out = NULL;
    unsigned char der[128], raw[64];
    size_t dlen = sizeof der;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, jwt_key) == 1 &&
        EVP_DigestSign(md, der, &dlen, (const unsigned char *)msg, len) == 1) {
        const unsigned char *p = der;
        ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
        const BIGNUM *r, *s;
        if (sig) {
            ECDSA_SIG_get0(sig, &r, &s);
            if (BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32)
                out = b64(raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
            ECDSA_SIG_free(sig);
        }
    }
    EVP_MD_CTX_free(md);
    return out;
}

/* ---- modes ---- */

static void mode_raw_header(const auth_ctx *a, const char *s1, const char *s2)
{
    auth_result r;
    gate(a, s1, s2);
    check_result(auth_token_verify(a, s1, NOW, &r), &r);
    char **accounts = NULL;
    int rc = auth_jwt_verify(a, s1, NOW, &r, &accounts);
    check_result(rc, &r);
    auth_accounts_free(accounts);
    const char *eff = auth_virtual_user_apply(a, s1, s2);
    if (eff != s1 && eff != s2)
        abort();
    (void)auth_is_official(a, s1);
}

static void mode_hub_token(const auth_ctx *a, const uint8_t *p, size_t n, int variant,
                           const char *s1)
{
    static const int variants[4] = {sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING,
                                    sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING};
    unsigned char *sm = malloc(n + crypto_sign_BYTES);
    unsigned long long smlen;
    if (!sm)
        return;
    crypto_sign(sm, &smlen, p, n, token_sk);
    char *tok = b64(sm, (size_t)smlen, variants[variant & 3]);
    free(sm);
    if (tok) {
        auth_result r;
        check_result(auth_token_verify(a, tok, NOW, &r), &r);
        gate_bearer(a, tok, variant & 1 ? "official-apps" : NULL);
        free(tok);
    }
    /* issue -> verify gives the same user back */
    hub_err err;
    char *t = variant & 2 ? auth_token_issue_until(a, s1, NOW, NOW + 60, &err)
                          : auth_token_issue(a, s1, NOW, &err);
    if (t) {
        auth_result r;
        if (auth_token_verify(a, t, NOW, &r) != 0 || strcmp(r.user, s1) != 0 ||
            r.issued_at != NOW) {
            fprintf(stderr, "issued token for \"%s\" does not verify: %s\n", s1,
                    r.message ? r.message : r.user);
            abort();
        }
        free(t);
    }
}

static void mode_jwt(const auth_ctx *a, const char *header, const uint8_t *claims, size_t clen,
                     int variant)
{
    char *h = b64(header, strlen(header), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *c = b64(claims, clen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t n = (h ? strlen(h) : 0) + (c ? strlen(c) : 0) + 2;
    char *signing = h && c ? malloc(n) : NULL;
    if (signing) {
        snprintf(signing, n, "%s.%s", h, c);
        char *sig = es256_sign(signing, strlen(signing));
        if (sig) {
            size_t tn = n + strlen(sig) + 1;
            char *tok = malloc(tn);
            if (tok) {
                snprintf(tok, tn, "%s.%s", signing, sig);
                gate_bearer(a, tok, variant & 1 ? "myorg" : NULL);
                auth_jwt_key keys[] = {{"ES256", jwt_pub_pem}};
                char user[AUTH_USER_MAX + 1];
                long long iat = 0;
                char **accounts = NULL;
                if (auth_jwt_check(tok, keys, 1, NOW, 30, user, &iat, &accounts, NULL) == 0) {
                    if (!user[0] || !accounts || !accounts[0] || strcmp(accounts[0], user) != 0)
                        abort();
                }
                auth_accounts_free(accounts);
                free(tok);
            }
            free(sig);
        }
    }
    free(signing);
    free(h);
    free(c);
}

static void mode_raw_cookie(const auth_ctx *a, const char *s1, const char *s2)
{
    char out[AUTH_USER_MAX + 1];
    hub_err err;
    if (auth_cookie_verify(a, "session", s1, NOW, out, sizeof out, &err) == 0 && !out[0])
        abort();
    auth_cookie_verify(a, "state", s1, NOW, out, sizeof out, &err);
    auth_result r;
    int rc = auth_session_gate(a, s1, s2, NOW, &r);
    if (rc == 0 ? !r.user[0] : (r.status != 302 || !r.message))
        abort();
}

static void mode_signed_cookie(const auth_ctx *a, const unsigned char *key, const uint8_t *p,
                               size_t n, const char *s1, int variant)
{
    const char *purpose = variant & 1 ? "state" : "session";
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, crypto_auth_hmacsha256_KEYBYTES);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)purpose, strlen(purpose) + 1);
    crypto_auth_hmacsha256_update(&st, p, n);
    crypto_auth_hmacsha256_final(&st, mac);
    char *b1 = b64(p, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *b2 = b64(mac, sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (b1 && b2) {
        size_t cn = strlen(b1) + strlen(b2) + 2;
        char *cookie = malloc(cn);
        if (cookie) {
            snprintf(cookie, cn, "%s.%s", b1, b2);
            char out[AUTH_USER_MAX + 1];
            if (auth_cookie_verify(a, purpose, cookie, NOW, out, sizeof out, NULL) == 0 && !out[0])
                abort();
            auth_result r;
            auth_session_gate(a, cookie, variant & 2 ? "official-apps" : NULL, NOW, &r);
            free(cookie);
        }
    }
    free(b1);
    free(b2);
    /* sign -> verify gives the value back */
    char cookie[AUTH_COOKIE_MAX], out[AUTH_USER_MAX + 1];
    if (auth_cookie_sign(a, purpose, s1, 60, NOW, cookie, sizeof cookie, NULL) == 0) {
        if (auth_cookie_verify(a, purpose, cookie, NOW, out, sizeof out, NULL) != 0 ||
            strcmp(out, s1) != 0) {
            fprintf(stderr, "signed cookie of \"%s\" does not verify\n", s1);
            abort();
        }
    }
}

static void mode_raw_tfc(const auth_ctx *a, const char *s1, const char *s2)
{
    char name[AUTH_USER_MAX + 1], msg[512];
    auth_result r;
    int rc = auth_tfc_double_name(s1, name, &r);
    if (rc == 0 ? !name[0] : r.status != 400)
        abort();
    check_result(auth_tfc_verify(a, s1, s2 ? s2 : user_pk_b64, state, &r), &r);
    auth_tfc_error_message(s1, msg, sizeof msg);
    char *url = auth_tfc_login_url(a, "https://login.threefold.me", s1, s2 ? s2 : state, NULL);
    free(url);
}

/* {"doubleName": ..., "signedAttempt": base64(sign(m))} with the test user. */
static char *tfc_param(const uint8_t *m, size_t n)
{
    unsigned char *sm = malloc(n + crypto_sign_BYTES);
    unsigned long long smlen;
    if (!sm)
        return NULL;
    crypto_sign(sm, &smlen, m, n, user_sk);
    char *s = b64(sm, (size_t)smlen, sodium_base64_VARIANT_ORIGINAL);
    free(sm);
    json_t *o = s ? json_pack("{s:s, s:s}", "doubleName", "alice.3bot", "signedAttempt", s) : NULL;
    free(s);
    char *text = o ? json_dumps(o, 0) : NULL;
    json_decref(o);
    return text;
}

static void tfc_verify(const auth_ctx *a, const char *param)
{
    auth_result r;
    int rc = auth_tfc_verify(a, param, user_pk_b64, state, &r);
    check_result(rc, &r);
    if (rc == 0 && strcmp(r.user, "alice.3bot") != 0)
        abort();
}

static void mode_tfc_signed(const auth_ctx *a, const uint8_t *p, size_t n)
{
    char *param = tfc_param(p, n);
    if (param)
        tfc_verify(a, param);
    free(param);
}

static void mode_tfc_plain(const auth_ctx *a, const uint8_t *p, size_t n)
{
    unsigned char user_x_sk[crypto_box_SECRETKEYBYTES], nonce[crypto_box_NONCEBYTES];
    crypto_sign_ed25519_sk_to_curve25519(user_x_sk, user_sk);
    memset(nonce, 7, sizeof nonce);
    unsigned char *ct = malloc(n + crypto_box_MACBYTES);
    if (!ct)
        return;
    if (crypto_box_easy(ct, p, n, nonce, hub_box_pk, user_x_sk) == 0) {
        char *nb = b64(nonce, sizeof nonce, sodium_base64_VARIANT_ORIGINAL);
        char *cb = b64(ct, n + crypto_box_MACBYTES, sodium_base64_VARIANT_ORIGINAL);
        json_t *msg = nb && cb ? json_pack("{s:s, s:s, s:{s:s, s:s}}", "signedState", state,
                                           "appId", appid, "data", "nonce", nb,
                                           "ciphertext", cb)
                               : NULL;
        char *text = msg ? json_dumps(msg, 0) : NULL;
        if (text) {
            char *param = tfc_param((const uint8_t *)text, strlen(text));
            if (param)
                tfc_verify(a, param);
            free(param);
        }
        free(text);
        json_decref(msg);
        free(nb);
        free(cb);
    }
    free(ct);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    int mode = data[0] & 7, variant = (data[0] >> 4) & 3;
    int full = !(data[0] & 0x80);
    const auth_ctx *a = full ? ctx_full : ctx_bare;
    const uint8_t *p = data + 1;
    size_t n = size - 1;

    /* s1: the payload up to its first NUL; s2: what follows it (or NULL) */
    char *buf = malloc(n + 1);
    if (!buf)
        return 0;
    memcpy(buf, p, n);
    buf[n] = '\0';
    const char *s1 = buf, *s2 = NULL;
    size_t l1 = strlen(buf);
    if (l1 < n)
        s2 = buf + l1 + 1;

    switch (mode) {
    case 0: mode_raw_header(a, s1, s2); break;
    case 1: mode_hub_token(a, p, n, variant, s1); break;
    case 2: mode_jwt(a, s1, s2 ? (const uint8_t *)s2 : (const uint8_t *)"",
                     s2 ? n - l1 - 1 : 0, variant); break;
    case 3: mode_raw_cookie(a, s1, s2); break;
    case 4: mode_signed_cookie(a, full ? cookie_key_full : cookie_key_bare, p, n, s1, variant); break;
    case 5: mode_raw_tfc(a, s1, s2); break;
    case 6: mode_tfc_signed(a, p, n); break;
    case 7: mode_tfc_plain(a, p, n); break;
    }
    free(buf);
    return 0;
}
