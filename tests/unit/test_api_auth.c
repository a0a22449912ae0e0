/* test_api_auth.c - the authentication module (api/auth.h): hub tokens
 * against the original's test vector and an independent libsodium
 * computation, the API gate in the order of HUB-API.md §12.4, JWTs (good
 * ES384, alg none, HS256 key confusion, expired, wrong key, audience),
 * guest token (D30), active-user and virtual users, signed cookies and the
 * ThreeFold Connect callback verification with a test login key pair.
 */
#include "t.h"

#include <jansson.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "auth.h"

/* seed of HUB-API.md §12.3: the 32 ASCII bytes "0123456789abcdef" x 2, hex */
static const char seed_hex[] =
    "3031323334353637383961626364656630313233343536373839616263646566";
static const char vec_alice[] =
    "2CyTRtPjzCiT4cfy9LICCRbi2JIxa_YTd0Z61Qb0mdkPXNLHq6GKO7PPeEu5F7UL6xuXct1QtU8s4pYmc2_eAlsiYWxpY2UuM2JvdCIsIDE3MDAwMDAwMDBd";
static const char vec_tfofficial[] =
    "aMRoDsvpJUy6l0QbdO_m3u7laVt-N1ne4fMi4UpGOvIQPRWAu1WTEQHKGJBjOeaZyNuUOqyqJYjeEE30l4RMBlsidGZvZmZpY2lhbC4zYm90IiwgMTcwMDAwMDAwMF0=";
static const long long T0 = 1700000000;

static const auth_virtual_user vmap[] = {{"official-apps", "tfofficial.3bot"}};

static auth_ctx *ctx_with(int enabled, int readonly, long long max_age,
                          const char *guest, const auth_jwt_key *keys, size_t nkeys)
{
    auth_settings s = {0};
    s.enabled = enabled;
    s.readonly = readonly;
    s.token_seed = seed_hex;
    s.token_max_age = max_age;
    s.guest_token = guest;
    s.jwt_keys = keys;
    s.n_jwt_keys = nkeys;
    s.jwt_leeway = 30;
    s.users_map = vmap;
    s.n_users_map = 1;
    hub_err err = {0};
    auth_ctx *a = auth_ctx_new(&s, &err);
    if (!a)
        fprintf(stderr, "auth_ctx_new: %s\n", err.msg);
    return a;
}

static char *bearer(const char *tok)
{
    static char buf[32768];
    if ((size_t)snprintf(buf, sizeof buf, "Bearer %s", tok) >= sizeof buf)
        abort();
    return buf;
}

/* ---------------- hub tokens ---------------- */

static void test_token_vector(void)
{
    auth_ctx *a = ctx_with(1, 0, 0, NULL, NULL, 0);
    T_REQUIRE(a);
    hub_err err;
    char *t1 = auth_token_issue(a, "alice.3bot", T0, &err);
    char *t2 = auth_token_issue(a, "tfofficial.3bot", T0, &err);
    T_STREQ(t1, vec_alice);
    T_STREQ(t2, vec_tfofficial);

    /* the same computed independently: sign(m) || m, URL-safe base64 */
    static const char m[] = "[\"alice.3bot\", 1700000000]";
    unsigned char pk[32], sk[64], sm[64 + sizeof m];
    crypto_sign_seed_keypair(pk, sk, (const unsigned char *)"0123456789abcdef0123456789abcdef");
    unsigned long long smlen;
    crypto_sign(sm, &smlen, (const unsigned char *)m, sizeof m - 1, sk);
    char b64[256];
    sodium_bin2base64(b64, sizeof b64, sm, (size_t)smlen, sodium_base64_VARIANT_URLSAFE);
    T_STREQ(b64, vec_alice);

    auth_result r;
    T_CHECK(auth_token_verify(a, vec_tfofficial, T0 + 10, &r) == 0);
    T_STREQ(r.user, "tfofficial.3bot");
    T_CHECK(r.issued_at == T0 && r.via == AUTH_VIA_HUB_TOKEN);
    free(t1);
    free(t2);
    auth_ctx_free(a);
}

static void test_token_escaping(void)
{
    auth_ctx *a = ctx_with(1, 0, 0, NULL, NULL, 0);
    T_REQUIRE(a);
    /* Python json.dumps escapes: \u00e9, \", surrogate pair for U+1F600 */
    char *t = auth_token_issue(a, "\xc3\xa9\"x\xf0\x9f\x98\x80", 5, NULL);
    T_REQUIRE(t);
    unsigned char raw[512];
    size_t len = 0;
    T_REQUIRE(sodium_base642bin(raw, sizeof raw, t, strlen(t), NULL, &len, NULL,
                                sodium_base64_VARIANT_URLSAFE) == 0);
    raw[len] = '\0';
    T_STREQ((char *)raw + 64, "[\"\\u00e9\\\"x\\ud83d\\ude00\", 5]");
    auth_result r;
    T_CHECK(auth_token_verify(a, t, 5, &r) == 0);
    T_STREQ(r.user, "\xc3\xa9\"x\xf0\x9f\x98\x80");
    free(t);
    T_CHECK(auth_token_issue(a, "bad\xff", 5, NULL) == NULL);
    T_CHECK(auth_token_issue(a, "", 5, NULL) == NULL);
    auth_ctx_free(a);
}

static void test_token_refusals(void)
{
    auth_ctx *a = ctx_with(1, 0, 0, NULL, NULL, 0);
    T_REQUIRE(a);
    auth_result r;
    char tampered[sizeof vec_alice];
    memcpy(tampered, vec_alice, sizeof vec_alice);
    tampered[5] = tampered[5] == 'A' ? 'B' : 'A';
    T_CHECK(auth_api_gate(a, bearer(tampered), NULL, T0, &r) == -1);
    T_CHECK(r.status == 401);
    T_STREQ(r.message, "invalid signature");

    /* message changed after signing: "bob" instead of "alice" */
    unsigned char raw[256];
    size_t len;
    sodium_base642bin(raw, sizeof raw, vec_alice, strlen(vec_alice), NULL, &len, NULL,
                      sodium_base64_VARIANT_URLSAFE);
    raw[66] = 'b';
    char forged[400];
    sodium_bin2base64(forged, sizeof forged, raw, len, sodium_base64_VARIANT_URLSAFE);
    T_CHECK(auth_api_gate(a, bearer(forged), NULL, T0, &r) == -1 && r.status == 401);

    const char *garbage[] = {"", "x", "!!!!", "AAAA", "====", "\xff\xfe"};
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        T_CHECK(auth_api_gate(a, bearer(garbage[i]), NULL, T0, &r) == -1);
        T_CHECK(r.status == 401);
        T_STREQ(r.message, "invalid signature");
    }
    /* a token of another seed */
    auth_settings s = {.enabled = 1, .token_seed =
        "0000000000000000000000000000000000000000000000000000000000000000"};
    auth_ctx *b = auth_ctx_new(&s, NULL);
    T_REQUIRE(b);
    char *other = auth_token_issue(b, "alice.3bot", T0, NULL);
    T_CHECK(auth_api_gate(a, bearer(other), NULL, T0, &r) == -1 && r.status == 401);
    free(other);
    auth_ctx_free(b);

    /* gate order: no header, bare token, lower-case bearer */
    T_CHECK(auth_api_gate(a, NULL, NULL, T0, &r) == -1 && r.status == 401);
    T_STREQ(r.message, "no authorization provided");
    T_CHECK(auth_api_gate(a, "", NULL, T0, &r) == -1 && r.status == 401);
    T_CHECK(auth_api_gate(a, vec_alice, NULL, T0, &r) == -1 && r.status == 400);
    T_STREQ(r.message, "invalid authorization header");
    T_CHECK(auth_api_gate(a, "Token abc", NULL, T0, &r) == -1 && r.status == 400);
    char lower[300];
    snprintf(lower, sizeof lower, "bEaReR %s", vec_alice);
    T_CHECK(auth_api_gate(a, lower, NULL, T0, &r) == 0);
    T_STREQ(r.user, "alice.3bot");
    auth_ctx_free(a);
}

static void test_token_max_age(void)
{
    auth_ctx *a = ctx_with(1, 0, 3600, NULL, NULL, 0);
    T_REQUIRE(a);
    auth_result r;
    T_CHECK(auth_api_gate(a, bearer(vec_alice), NULL, T0 + 3600, &r) == 0);
    T_CHECK(auth_api_gate(a, bearer(vec_alice), NULL, T0 + 3601, &r) == -1);
    T_CHECK(r.status == 401);
    T_STREQ(r.message, "token expired");
    T_CHECK(auth_api_gate(a, bearer(vec_alice), NULL, T0 - 3600, &r) == -1);
    auth_ctx_free(a);
    /* 0 = the original: forever */
    a = ctx_with(1, 0, 0, NULL, NULL, 0);
    T_CHECK(auth_api_gate(a, bearer(vec_alice), NULL, T0 + 100LL * 365 * 86400, &r) == 0);
    auth_ctx_free(a);
}

/* A token with its own expiry (flist-hub-api token --ttl): refused from its
 * expiry on, with no leeway (the hub's own clock signed it; jwt-leeway, 30 s
 * here, is for JWTs), even when token-max-age is 0; max-age still applies
 * to its issued-at. */
static void test_token_own_expiry(void)
{
    hub_err err = {0};
    auth_result r;
    auth_ctx *a = ctx_with(1, 0, 0, NULL, NULL, 0);
    T_REQUIRE(a);
    char *t = auth_token_issue_until(a, "alice.3bot", T0, T0 + 100, &err);
    T_REQUIRE(t);
    /* the signed message is ["alice.3bot", T0, T0 + 100] */
    unsigned char bin[512];
    size_t bin_len = 0;
    T_REQUIRE(sodium_base642bin(bin, sizeof bin, t, strlen(t), NULL, &bin_len, NULL,
                                sodium_base64_VARIANT_URLSAFE) == 0);
    char want[64];
    snprintf(want, sizeof want, "[\"alice.3bot\", %lld, %lld]", (long long)T0, (long long)T0 + 100);
    T_CHECK(bin_len == crypto_sign_BYTES + strlen(want));
    T_CHECK(memcmp(bin + crypto_sign_BYTES, want, strlen(want)) == 0);
    T_CHECK(auth_api_gate(a, bearer(t), NULL, T0 + 99, &r) == 0);
    T_STREQ(r.user, "alice.3bot");
    T_CHECK(auth_api_gate(a, bearer(t), NULL, T0 + 100, &r) == -1);
    T_CHECK(r.status == 401);
    T_STREQ(r.message, "token expired");
    auth_ctx_free(a);
    /* max-age 50 cuts the same token at T0 + 50 */
    a = ctx_with(1, 0, 50, NULL, NULL, 0);
    T_CHECK(auth_api_gate(a, bearer(t), NULL, T0 + 50, &r) == 0);
    T_CHECK(auth_api_gate(a, bearer(t), NULL, T0 + 51, &r) == -1);
    T_STREQ(r.message, "token expired");
    /* an expiry not after the issue time is refused at issue */
    T_CHECK(auth_token_issue_until(a, "alice.3bot", T0, T0, &err) == NULL);
    T_CHECK(strstr(err.msg, "expire before it is issued") != NULL);
    free(t);
    auth_ctx_free(a);
}

static void test_modes_and_active_user(void)
{
    auth_result r;
    auth_ctx *off = ctx_with(0, 0, 0, NULL, NULL, 0);
    T_REQUIRE(off);
    T_CHECK(auth_api_gate(off, NULL, "someone", T0, &r) == 0);
    T_STREQ(r.user, "Administrator");
    T_CHECK(r.via == AUTH_VIA_DISABLED);
    T_CHECK(auth_is_official(off, "Administrator") == 1);
    T_CHECK(auth_is_official(off, "official-apps") == 0);
    auth_ctx_free(off);

    auth_ctx *ro = ctx_with(1, 1, 0, NULL, NULL, 0);
    T_CHECK(auth_api_gate(ro, bearer(vec_alice), NULL, T0, &r) == -1);
    T_CHECK(r.status == 400);
    T_STREQ(r.message, "readonly mode");
    auth_ctx_free(ro);

    auth_ctx *a = ctx_with(1, 0, 0, NULL, NULL, 0);
    T_CHECK(auth_api_gate(a, bearer(vec_tfofficial), "official-apps", T0, &r) == 0);
    T_STREQ(r.user, "official-apps");
    T_STREQ(r.identity, "tfofficial.3bot");
    T_CHECK(auth_api_gate(a, bearer(vec_alice), "official-apps", T0, &r) == 0);
    T_STREQ(r.user, "alice.3bot");
    T_CHECK(auth_api_gate(a, bearer(vec_tfofficial), "other", T0, &r) == 0);
    T_STREQ(r.user, "tfofficial.3bot");
    auth_ctx_free(a);
}

static void test_guest(void)
{
    auth_result r;
    auth_ctx *a = ctx_with(1, 0, 0, "guestsecret", NULL, 0);
    T_REQUIRE(a);
    /* D30: a guest token without "." works */
    T_CHECK(auth_api_gate(a, "Bearer guestsecret", "alice", T0, &r) == 0);
    T_STREQ(r.user, "guest");
    T_CHECK(r.via == AUTH_VIA_GUEST);
    T_CHECK(auth_api_gate(a, "Bearer guestsecreT", NULL, T0, &r) == -1 && r.status == 401);
    T_CHECK(auth_api_gate(a, "Bearer guestsecret2", NULL, T0, &r) == -1);
    T_CHECK(auth_api_gate(a, "guestsecret", NULL, T0, &r) == -1 && r.status == 400);
    auth_ctx_free(a);
    a = ctx_with(1, 0, 0, "gu.est", NULL, 0);
    T_CHECK(auth_api_gate(a, "Bearer gu.est", NULL, T0, &r) == 0);
    T_STREQ(r.user, "guest");
    T_CHECK(auth_api_gate(a, "Bearer gu.esx", NULL, T0, &r) == -1 && r.status == 403);
    T_STREQ(r.message, "invalid token");
    auth_ctx_free(a);
}

/* ---------------- JWT ---------------- */

static char *pem_of(EVP_PKEY *k, int priv)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (priv)
        PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    else
        PEM_write_bio_PUBKEY(b, k);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *s = strndup(data, (size_t)n);
    BIO_free(b);
    return s;
}

static char *make_jwt(const char *priv_pem, const char *user, long long exp,
                      const char *scope_json, const char *aud)
{
    jwt_t *j = NULL;
    jwt_new(&j);
    if (user)
        jwt_add_grant(j, "username", user);
    if (exp)
        jwt_add_grant_int(j, "exp", exp);
    jwt_add_grant_int(j, "iat", T0);
    if (scope_json)
        jwt_add_grants_json(j, scope_json);
    if (aud)
        jwt_add_grant(j, "aud", aud);
    jwt_set_alg(j, JWT_ALG_ES384, (const unsigned char *)priv_pem, (int)strlen(priv_pem));
    char *t = jwt_encode_str(j);
    jwt_free(j);
    return t;
}

static char *b64url(const void *p, size_t n)
{
    char *o = malloc(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING));
    sodium_bin2base64(o, sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                      p, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return o;
}

static void test_jwt(void)
{
    EVP_PKEY *k1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    EVP_PKEY *k2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    T_REQUIRE(k1 && k2);
    char *pub1 = pem_of(k1, 0), *priv1 = pem_of(k1, 1), *priv2 = pem_of(k2, 1);
    auth_jwt_key keys[] = {{"ES384", pub1}};
    auth_ctx *a = ctx_with(1, 0, 0, NULL, keys, 1);
    T_REQUIRE(a);
    auth_result r;
    long long now = T0 + 100;

    char *good = make_jwt(priv1, "bob", T0 + 3600,
                          "{\"scope\": [\"user:memberof:myorg\", \"user:name\", \"a:b:c:d\"]}", NULL);
    T_REQUIRE(good);
    T_CHECK(auth_api_gate(a, bearer(good), NULL, now, &r) == 0);
    T_STREQ(r.user, "bob");
    T_CHECK(r.via == AUTH_VIA_JWT && r.issued_at == T0);
    T_CHECK(auth_api_gate(a, bearer(good), "myorg", now, &r) == 0);
    T_STREQ(r.user, "myorg");
    T_STREQ(r.identity, "bob");
    T_CHECK(auth_api_gate(a, bearer(good), "c", now, &r) == 0);
    T_STREQ(r.user, "c");
    T_CHECK(auth_api_gate(a, bearer(good), "name", now, &r) == 0);
    T_STREQ(r.user, "bob");
    /* J2/J3: a "." but no bearer token */
    char hdr[8192];
    snprintf(hdr, sizeof hdr, "token %s", good);
    T_CHECK(auth_api_gate(a, hdr, NULL, now, &r) == -1 && r.status == 401);
    T_STREQ(r.message, "could not authenticate");

    /* expired (exp in the past beyond the 30 s leeway) */
    char *expired = make_jwt(priv1, "bob", T0 + 60, NULL, NULL);
    T_CHECK(auth_api_gate(a, bearer(expired), NULL, now, &r) == -1);
    T_CHECK(r.status == 403);
    T_STREQ(r.message, "invalid token");
    T_CHECK(auth_api_gate(a, bearer(expired), NULL, T0 + 80, &r) == 0);
    char *no_exp = make_jwt(priv1, "bob", 0, NULL, NULL);
    T_CHECK(auth_api_gate(a, bearer(no_exp), NULL, now, &r) == -1 && r.status == 403);
    char *with_aud = make_jwt(priv1, "bob", T0 + 3600, NULL, "someone");
    T_CHECK(auth_api_gate(a, bearer(with_aud), NULL, now, &r) == -1 && r.status == 403);
    char *no_user = make_jwt(priv1, NULL, T0 + 3600, NULL, NULL);
    T_CHECK(auth_api_gate(a, bearer(no_user), NULL, now, &r) == -1 && r.status == 403);

    /* signed by another key */
    char *wrong = make_jwt(priv2, "bob", T0 + 3600, NULL, NULL);
    T_CHECK(auth_api_gate(a, bearer(wrong), NULL, now, &r) == -1 && r.status == 403);

    /* the good token's payload with alg none */
    const char *dot = strchr(good, '.');
    const char *dot2 = strchr(dot + 1, '.');
    static const char none_hdr[] = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
    char *h = b64url(none_hdr, sizeof none_hdr - 1);
    char none_tok[8192];
    snprintf(none_tok, sizeof none_tok, "%s.%.*s.", h, (int)(dot2 - dot - 1), dot + 1);
    T_CHECK(auth_api_gate(a, bearer(none_tok), NULL, now, &r) == -1 && r.status == 403);
    snprintf(none_tok, sizeof none_tok, "%s.%.*s.AAAA", h, (int)(dot2 - dot - 1), dot + 1);
    T_CHECK(auth_api_gate(a, bearer(none_tok), NULL, now, &r) == -1 && r.status == 403);
    free(h);

    /* HS256 with the public key PEM as the HMAC secret */
    static const char hs_hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    h = b64url(hs_hdr, sizeof hs_hdr - 1);
    char signing[8192];
    snprintf(signing, sizeof signing, "%s.%.*s", h, (int)(dot2 - dot - 1), dot + 1);
    unsigned char mac[32];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)pub1, strlen(pub1));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)signing, strlen(signing));
    crypto_auth_hmacsha256_final(&st, mac);
    char *sig = b64url(mac, sizeof mac);
    char hs_tok[16384];
    snprintf(hs_tok, sizeof hs_tok, "%s.%s", signing, sig);
    /* libjwt alone accepts this forgery (that is why auth checks alg first) */
    jwt_t *naive = NULL;
    T_CHECK(jwt_decode(&naive, hs_tok, (const unsigned char *)pub1, (int)strlen(pub1)) == 0);
    jwt_free(naive);
    T_CHECK(auth_api_gate(a, bearer(hs_tok), NULL, now, &r) == -1 && r.status == 403);
    T_STREQ(r.message, "invalid token");
    free(h);
    free(sig);

    /* an ES384 signature relabelled ES256 */
    static const char es256_hdr[] = "{\"alg\":\"ES256\",\"typ\":\"JWT\"}";
    h = b64url(es256_hdr, sizeof es256_hdr - 1);
    snprintf(hs_tok, sizeof hs_tok, "%s%s", h, dot);
    T_CHECK(auth_api_gate(a, bearer(hs_tok), NULL, now, &r) == -1 && r.status == 403);
    free(h);
    /* garbage with dots */
    T_CHECK(auth_api_gate(a, "Bearer a.b.c", NULL, now, &r) == -1 && r.status == 403);
    T_CHECK(auth_api_gate(a, "Bearer ...", NULL, now, &r) == -1 && r.status == 403);

    /* no JWT keys configured: every JWT refused */
    auth_ctx *nokeys = ctx_with(1, 0, 0, NULL, NULL, 0);
    T_CHECK(auth_api_gate(nokeys, bearer(good), NULL, now, &r) == -1 && r.status == 403);
    auth_ctx_free(nokeys);

    /* configuration checks */
    hub_err err;
    T_CHECK(auth_jwt_key_check("HS256", pub1, &err) == -1);
    T_CHECK(strstr(err.msg, "HS256") != NULL);
    T_CHECK(auth_jwt_key_check("none", pub1, &err) == -1);
    T_CHECK(auth_jwt_key_check("ES256", pub1, &err) == -1);   /* P-384 key */
    T_CHECK(auth_jwt_key_check("RS256", pub1, &err) == -1);
    T_CHECK(auth_jwt_key_check("ES384", "garbage", &err) == -1);
    T_CHECK(auth_jwt_key_check("ES384", pub1, &err) == 0);
    auth_jwt_key bad[] = {{"ES384", pub1}, {"HS256", pub1}};
    auth_settings s = {.enabled = 1, .token_seed = seed_hex, .jwt_keys = bad, .n_jwt_keys = 2};
    T_CHECK(auth_ctx_new(&s, &err) == NULL);
    T_STREQ(err.msg, "jwt key 2: alg HS256 is not allowed (ES256, ES384, ES512, RS256, RS384, RS512)");

    free(good); free(expired); free(no_exp); free(with_aud); free(no_user); free(wrong);
    free(pub1); free(priv1); free(priv2);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    auth_ctx_free(a);
}

static void test_settings(void)
{
    hub_err err;
    auth_settings s = {.enabled = 1};
    T_CHECK(auth_ctx_new(&s, &err) == NULL);
    T_STREQ(err.msg, "threebot-seed: required when authentication is on");
    s.token_seed = "abcd";
    T_CHECK(auth_ctx_new(&s, &err) == NULL);
    T_STREQ(err.msg, "threebot-seed: must be 32 bytes (64 hex digits or base64)");
    /* base64 (standard, URL-safe, unpadded) of the same seed as the vector */
    const char *forms[] = {"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
                           "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"};
    for (size_t i = 0; i < 2; i++) {
        s.token_seed = forms[i];
        auth_ctx *a = auth_ctx_new(&s, &err);
        T_REQUIRE(a);
        char *t = auth_token_issue(a, "alice.3bot", T0, NULL);
        T_STREQ(t, vec_alice);
        free(t);
        auth_ctx_free(a);
    }
    s.token_seed = seed_hex;
    s.session_key = "short";
    T_CHECK(auth_ctx_new(&s, &err) == NULL);
    T_CHECK(strncmp(err.msg, "session-key:", 12) == 0);
    s.session_key = NULL;
    s.threebot_privatekey = "AAAA";
    T_CHECK(auth_ctx_new(&s, &err) == NULL);
    T_CHECK(strncmp(err.msg, "threebot-privatekey:", 20) == 0);
    /* authentication off needs no seed */
    auth_settings off = {.enabled = 0};
    auth_ctx *a = auth_ctx_new(&off, &err);
    T_CHECK(a != NULL);
    T_CHECK(auth_token_issue(a, "x", T0, &err) == NULL);
    auth_ctx_free(a);
}

/* ---------------- cookies and sessions ---------------- */

static void test_cookies(void)
{
    auth_ctx *a = ctx_with(1, 0, 0, NULL, NULL, 0);
    auth_ctx *b = ctx_with(1, 0, 0, NULL, NULL, 0);   /* another instance, same config */
    T_REQUIRE(a && b);
    char c[AUTH_COOKIE_MAX], v[AUTH_USER_MAX + 1];
    hub_err err;
    T_REQUIRE(auth_cookie_sign(a, "session", "tfofficial.3bot", 3600, T0, c, sizeof c, &err) == 0);
    for (const char *p = c; *p; p++)
        T_CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", *p));
    T_CHECK(auth_cookie_verify(b, "session", c, T0 + 3599, v, sizeof v, &err) == 0);
    T_STREQ(v, "tfofficial.3bot");
    T_CHECK(auth_cookie_verify(b, "session", c, T0 + 3600, v, sizeof v, &err) == -1);
    T_STREQ(err.msg, "expired");
    T_CHECK(auth_cookie_verify(b, "state", c, T0, v, sizeof v, &err) == -1);
    T_STREQ(err.msg, "bad signature");
    char t[AUTH_COOKIE_MAX];
    memcpy(t, c, sizeof c);
    t[3] = t[3] == 'A' ? 'B' : 'A';
    T_CHECK(auth_cookie_verify(b, "session", t, T0, v, sizeof v, &err) == -1);
    T_CHECK(auth_cookie_verify(b, "session", "", T0, v, sizeof v, &err) == -1);
    T_CHECK(auth_cookie_verify(b, "session", "a.b.c", T0, v, sizeof v, &err) == -1);
    /* a value holding "|" survives */
    T_REQUIRE(auth_cookie_sign(a, "state", "x|1|y", 60, T0, c, sizeof c, &err) == 0);
    T_CHECK(auth_cookie_verify(b, "state", c, T0, v, sizeof v, &err) == 0);
    T_STREQ(v, "x|1|y");

    /* a different session key refuses */
    auth_settings s = {.enabled = 1, .token_seed = seed_hex,
                       .session_key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"};
    auth_ctx *other = auth_ctx_new(&s, &err);
    T_REQUIRE(other);
    T_CHECK(auth_cookie_verify(other, "state", c, T0, v, sizeof v, &err) == -1);

    /* the web session gate */
    auth_result r;
    T_REQUIRE(auth_cookie_sign(a, "session", "tfofficial.3bot", 3600, T0, c, sizeof c, &err) == 0);
    T_CHECK(auth_session_gate(b, c, "official-apps", T0, &r) == 0);
    T_STREQ(r.user, "official-apps");   /* D32 */
    T_CHECK(r.via == AUTH_VIA_SESSION);
    T_CHECK(auth_session_gate(b, NULL, NULL, T0, &r) == -1 && r.status == 302);
    T_STREQ(r.message, "/login-method");
    T_CHECK(auth_session_gate(other, c, NULL, T0, &r) == -1);
    auth_ctx *ro = ctx_with(1, 1, 0, NULL, NULL, 0);
    T_CHECK(auth_session_gate(ro, c, NULL, T0, &r) == -1);
    T_STREQ(r.message, "/readonly");
    auth_ctx_free(ro);
    auth_ctx_free(other);
    auth_ctx_free(a);
    auth_ctx_free(b);
}

/* ---------------- ThreeFold Connect ---------------- */

static unsigned char hub_sk[32], hub_pk[32], user_pk[32], user_sk[64];

static auth_ctx *tfc_ctx(void)
{
    char key_hex[65];
    sodium_bin2hex(key_hex, sizeof key_hex, hub_sk, 32);
    auth_settings s = {.enabled = 1, .token_seed = seed_hex, .threebot_privatekey = key_hex,
                       .threebot_appid = "hub.example.org"};
    return auth_ctx_new(&s, NULL);
}

static char *b64std(const void *p, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *o = malloc(cap);
    sodium_bin2base64(o, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
    return o;
}

/* The signedAttempt parameter a login server would send. */
static char *attempt(const char *state, const char *appid, const char *plain,
                     int corrupt_box, const unsigned char *signer_sk)
{
    unsigned char nonce[24], upk_x[32], usk_x[32];
    randombytes_buf(nonce, sizeof nonce);
    crypto_sign_ed25519_sk_to_curve25519(usk_x, user_sk);
    size_t plen = strlen(plain);
    unsigned char *ct = malloc(plen + 16);
    if (crypto_sign_ed25519_pk_to_curve25519(upk_x, user_pk) != 0 ||
        crypto_box_easy(ct, (const unsigned char *)plain, plen, nonce, hub_pk, usk_x) != 0)
        abort();
    if (corrupt_box)
        ct[0] ^= 1;
    char *n64 = b64std(nonce, 24), *c64 = b64std(ct, plen + 16);
    json_t *msg = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "signedState", state,
                            "appId", appid, "doubleName", "alice.3bot", "data",
                            "nonce", n64, "ciphertext", c64);
    char *m = json_dumps(msg, JSON_COMPACT);
    size_t mlen = strlen(m);
    unsigned char *sm = malloc(mlen + 64);
    unsigned long long smlen;
    crypto_sign(sm, &smlen, (const unsigned char *)m, mlen, signer_sk);
    char *s64 = b64std(sm, (size_t)smlen);
    json_t *outer = json_pack("{s:s, s:s}", "doubleName", "alice.3bot", "signedAttempt", s64);
    char *res = json_dumps(outer, JSON_COMPACT);
    json_decref(msg);
    json_decref(outer);
    free(ct); free(n64); free(c64); free(m); free(sm); free(s64);
    return res;
}

static void test_tfc(void)
{
    randombytes_buf(hub_sk, 32);
    crypto_scalarmult_base(hub_pk, hub_sk);
    crypto_sign_keypair(user_pk, user_sk);
    unsigned char other_pk[32], other_sk[64];
    crypto_sign_keypair(other_pk, other_sk);
    auth_ctx *a = tfc_ctx();
    T_REQUIRE(a);
    char *upk = b64std(user_pk, 32);
    char state[33];
    auth_tfc_state_new(state);
    T_CHECK(strlen(state) == 32 && strspn(state,
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") == 32);

    /* redirect URL, exactly */
    char *url = auth_tfc_login_url(a, "https://login.threefold.me", "/callback_threebot",
                                   "AbC123", NULL);
    char *pk64 = b64std(hub_pk, 32);
    char want[512], enc[128];
    size_t k = 0;
    for (const char *p = pk64; *p; p++)
        k += (size_t)snprintf(enc + k, sizeof enc - k, *p == '+' ? "%%2B" : *p == '/' ? "%%2F" :
                              *p == '=' ? "%%3D" : "%c", *p);
    snprintf(want, sizeof want, "https://login.threefold.me/?appid=hub.example.org&publickey=%s"
             "&state=AbC123&redirecturl=%%2Fcallback_threebot&scope=%%7B%%7D", enc);
    T_STREQ(url, want);
    free(url);
    free(pk64);

    char msg[256];
    auth_tfc_error_message("denied x/y", msg, sizeof msg);
    T_STREQ(msg, "Authentication failed: denied%20x/y");

    auth_result r;
    char name[AUTH_USER_MAX + 1];
    char *good = attempt(state, "hub.example.org", "{\"email\": {\"email\": \"a@b\", \"verified\": true}}",
                         0, user_sk);
    T_CHECK(auth_tfc_double_name(good, name, &r) == 0);
    T_STREQ(name, "alice.3bot");
    T_CHECK(auth_tfc_verify(a, good, upk, state, &r) == 0);
    T_STREQ(r.user, "alice.3bot");
    /* D26: another state, no state, another app */
    T_CHECK(auth_tfc_verify(a, good, upk, "different", &r) == -1 && r.status == 400);
    T_STREQ(r.message, "Invalid state received. Cannot authenticate request!");
    T_CHECK(auth_tfc_verify(a, good, upk, NULL, &r) == -1 && r.status == 400);
    char *other_app = attempt(state, "evil.example.org", "{}", 0, user_sk);
    T_CHECK(auth_tfc_verify(a, other_app, upk, state, &r) == -1);
    T_STREQ(r.message, "Invalid state received. Cannot authenticate request!");
    /* signature by another key / a wrong public key */
    char *forged = attempt(state, "hub.example.org", "{}", 0, other_sk);
    T_CHECK(auth_tfc_verify(a, forged, upk, state, &r) == -1 && r.status == 400);
    T_STREQ(r.message, "Unable to verify state signature, denied.");
    T_CHECK(auth_tfc_verify(a, good, "not base64!", state, &r) == -1);
    T_STREQ(r.message, "Unable to verify state signature, denied.");
    /* box that does not open */
    char *badbox = attempt(state, "hub.example.org", "{}", 1, user_sk);
    T_CHECK(auth_tfc_verify(a, badbox, upk, state, &r) == -1);
    T_STREQ(r.message, "Unable to decrypt payload, denied.");
    /* D27: null, false and missing verified all refuse; no email passes */
    const char *unverified[] = {"{\"email\": {\"email\": \"a@b\", \"verified\": null}}",
                                "{\"email\": {\"email\": \"a@b\", \"verified\": false}}",
                                "{\"email\": {\"email\": \"a@b\"}}", "{\"email\": \"a@b\"}"};
    for (size_t i = 0; i < 4; i++) {
        char *u = attempt(state, "hub.example.org", unverified[i], 0, user_sk);
        T_CHECK(auth_tfc_verify(a, u, upk, state, &r) == -1);
        T_STREQ(r.message, "Email unverified, access denied.");
        free(u);
    }
    char *noemail = attempt(state, "hub.example.org", "{\"email\": null}", 0, user_sk);
    T_CHECK(auth_tfc_verify(a, noemail, upk, state, &r) == 0);
    /* D25: malformed parameters are 400, never a crash */
    const char *malformed[] = {NULL, "", "{", "[]", "{\"doubleName\": 1}",
                               "{\"doubleName\": \"x\"}", "{\"signedAttempt\": \"x\"}"};
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        T_CHECK(auth_tfc_double_name(malformed[i], name, &r) == -1 && r.status == 400);
        T_STREQ(r.message, "Invalid request.");
        T_CHECK(auth_tfc_verify(a, malformed[i], upk, state, &r) == -1 && r.status == 400);
    }
    T_CHECK(auth_tfc_verify(a, "{\"doubleName\": \"x\", \"signedAttempt\": \"AAAA\"}", upk,
                            state, &r) == -1);
    T_STREQ(r.message, "Unable to verify state signature, denied.");
    free(good); free(other_app); free(forged); free(badbox); free(noemail); free(upk);
    auth_ctx_free(a);
}

T_MAIN(T_CASE(test_token_vector), T_CASE(test_token_escaping), T_CASE(test_token_refusals),
       T_CASE(test_token_max_age), T_CASE(test_token_own_expiry), T_CASE(test_modes_and_active_user), T_CASE(test_guest),
       T_CASE(test_jwt), T_CASE(test_settings), T_CASE(test_cookies), T_CASE(test_tfc))
