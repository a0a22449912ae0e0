/* auth.c - the authentication of HUB-API.md §12 (see auth.h): settings,
 * the API gate, hub-issued Ed25519 tokens, signed cookies, the web session
 * gate and the ThreeFold Connect login. JWT checks are in auth_jwt.c.
 */
#include "auth.h"
#include "util.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <sodium.h>

#define TOKEN_MAX_LEN 4096   /* longest hub token text accepted */

struct auth_ctx {
    int enabled, readonly;
    int have_seed, have_box;
    unsigned char sign_pk[crypto_sign_PUBLICKEYBYTES];
    unsigned char sign_sk[crypto_sign_SECRETKEYBYTES];
    unsigned char box_sk[crypto_box_SECRETKEYBYTES];
    unsigned char box_pk[crypto_box_PUBLICKEYBYTES];
    unsigned char cookie_key[crypto_auth_hmacsha256_KEYBYTES];
    unsigned char cmp_key[crypto_generichash_KEYBYTES];   /* for secret_equal */
    long long max_age, leeway;
    char *appid;
    char *guest;                   /* NULL = no guest token */
    auth_jwt_key *keys;            /* owned copies */
    size_t n_keys;
    auth_virtual_user *vusers;     /* owned copies */
    size_t n_vusers;
    char **official;
    size_t n_official;
};

/* ------------------------------------------------------------------ */
/* small helpers                                                        */

/* Decodes a secret given as hex or base64 (standard or URL-safe, padding
 * optional) into out (cap bytes). Returns the length or -1. */
static long decode_secret(const char *text, unsigned char *out, size_t cap)
{
    size_t len = strlen(text), n = 0;
    const char *end = NULL;
    if (len % 2 == 0 && sodium_hex2bin(out, cap, text, len, NULL, &n, &end) == 0 &&
        end == text + len)
        return (long)n;
    while (len > 0 && text[len - 1] == '=')
        len--;
    static const int variants[] = {sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
                                   sodium_base64_VARIANT_URLSAFE_NO_PADDING};
    for (size_t i = 0; i < 2; i++)
        if (sodium_base642bin(out, cap, text, len, NULL, &n, &end, variants[i]) == 0 &&
            end == text + len)
            return (long)n;
    return -1;
}

static int is_set(const char *s)
{
    return s && *s;
}

/* Constant-time equality of two strings of any lengths: compares their
 * hashes keyed with a per-context random key, so neither the content nor
 * the length leaks through timing. */
static int secret_equal(const auth_ctx *a, const char *x, const char *y)
{
    unsigned char hx[32], hy[32];
    crypto_generichash(hx, sizeof hx, (const unsigned char *)x, strlen(x),
                       a->cmp_key, sizeof a->cmp_key);
    crypto_generichash(hy, sizeof hy, (const unsigned char *)y, strlen(y),
                       a->cmp_key, sizeof a->cmp_key);
    return sodium_memcmp(hx, hy, sizeof hx) == 0;
}

static void copy_user(char dst[AUTH_USER_MAX + 1], const char *src)
{
    size_t n = strnlen(src, AUTH_USER_MAX);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int refuse(auth_result *out, int status, const char *message)
{
    out->status = status;
    out->message = message;
    out->via = AUTH_VIA_NONE;
    out->user[0] = out->identity[0] = '\0';
    return -1;
}

static void result_reset(auth_result *out)
{
    memset(out, 0, sizeof *out);
}

static int accept_user(auth_result *out, auth_via via, const char *identity,
                       const char *user)
{
    out->status = 0;
    out->message = NULL;
    out->via = via;
    copy_user(out->identity, identity);
    copy_user(out->user, user);
    return 0;
}

/* ------------------------------------------------------------------ */
/* settings                                                             */

static char *dup_or_null(const char *s, int *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = 1;
    return d;
}

auth_ctx *auth_ctx_new(const auth_settings *s, hub_err *err)
{
    if (sodium_init() < 0) {
        hub_err_set(err, "libsodium initialisation failed");
        return NULL;
    }
    auth_ctx *a = calloc(1, sizeof *a);
    if (!a) {
        hub_err_set(err, "out of memory");
        return NULL;
    }
    randombytes_buf(a->cmp_key, sizeof a->cmp_key);
    a->enabled = s->enabled;
    a->readonly = s->readonly;
    a->max_age = s->token_max_age;
    a->leeway = s->jwt_leeway;
    if (a->max_age < 0 || a->leeway < 0) {
        hub_err_set(err, "%s: must not be negative",
                    a->max_age < 0 ? "token max age" : "jwt leeway");
        goto fail;
    }

    unsigned char buf[128];
    if (is_set(s->token_seed)) {
        if (strlen(s->token_seed) > 200 || decode_secret(s->token_seed, buf, sizeof buf) != 32) {
            hub_err_set(err, "threebot-seed: must be 32 bytes (64 hex digits or base64)");
            goto fail;
        }
        crypto_sign_seed_keypair(a->sign_pk, a->sign_sk, buf);
        a->have_seed = 1;
    } else if (s->enabled) {
        hub_err_set(err, "threebot-seed: required when authentication is on");
        goto fail;
    }
    if (is_set(s->threebot_privatekey)) {
        if (strlen(s->threebot_privatekey) > 200 ||
            decode_secret(s->threebot_privatekey, buf, sizeof buf) != 32) {
            hub_err_set(err, "threebot-privatekey: must be 32 bytes (hex or base64)");
            goto fail;
        }
        memcpy(a->box_sk, buf, 32);
        crypto_scalarmult_base(a->box_pk, a->box_sk);
        a->have_box = 1;
    }
    if (is_set(s->session_key)) {
        long n = strlen(s->session_key) > 400 ? -1 : decode_secret(s->session_key, buf, sizeof buf);
        if (n < 32) {
            hub_err_set(err, "session-key: must be at least 32 bytes (hex or base64)");
            goto fail;
        }
        /* any length is reduced to the HMAC key size */
        crypto_generichash(a->cookie_key, sizeof a->cookie_key, buf, (size_t)n, NULL, 0);
    } else if (a->have_seed) {
        static const char ctx_msg[] = "flist-hub session cookie key v1";
        crypto_generichash(a->cookie_key, sizeof a->cookie_key,
                           (const unsigned char *)ctx_msg, sizeof ctx_msg - 1,
                           a->sign_sk, 32 /* the seed */);
    } else {
        randombytes_buf(a->cookie_key, sizeof a->cookie_key);
    }
    sodium_memzero(buf, sizeof buf);

    int oom = 0;
    a->appid = dup_or_null(is_set(s->threebot_appid) ? s->threebot_appid : NULL, &oom);
    a->guest = dup_or_null(is_set(s->guest_token) ? s->guest_token : NULL, &oom);
    if (s->n_jwt_keys) {
        a->keys = calloc(s->n_jwt_keys, sizeof *a->keys);
        oom |= !a->keys;
        for (size_t i = 0; a->keys && i < s->n_jwt_keys; i++) {
            hub_err kerr;
            if (auth_jwt_key_check(s->jwt_keys[i].alg, s->jwt_keys[i].pem, &kerr) < 0) {
                hub_err_set(err, "jwt key %zu: %s", i + 1, kerr.msg);
                goto fail;
            }
            a->keys[i].alg = dup_or_null(s->jwt_keys[i].alg, &oom);
            a->keys[i].pem = dup_or_null(s->jwt_keys[i].pem, &oom);
            a->n_keys = i + 1;
        }
    }
    if (s->n_users_map) {
        a->vusers = calloc(s->n_users_map, sizeof *a->vusers);
        oom |= !a->vusers;
        for (size_t i = 0; a->vusers && i < s->n_users_map; i++) {
            if (!is_set(s->users_map[i].name) || !is_set(s->users_map[i].user)) {
                hub_err_set(err, "threebot-users-map: entry %zu has an empty name", i + 1);
                goto fail;
            }
            a->vusers[i].name = dup_or_null(s->users_map[i].name, &oom);
            a->vusers[i].user = dup_or_null(s->users_map[i].user, &oom);
            a->n_vusers = i + 1;
        }
    }
    if (s->n_official) {
        a->official = calloc(s->n_official, sizeof *a->official);
        oom |= !a->official;
        for (size_t i = 0; a->official && i < s->n_official; i++) {
            a->official[i] = dup_or_null(s->official[i] ? s->official[i] : "", &oom);
            a->n_official = i + 1;
        }
    }
    if (oom) {
        hub_err_set(err, "out of memory");
        goto fail;
    }
    return a;
fail:
    auth_ctx_free(a);
    return NULL;
}

void auth_ctx_free(auth_ctx *a)
{
    if (!a)
        return;
    free(a->appid);
    if (a->guest) {
        sodium_memzero(a->guest, strlen(a->guest));
        free(a->guest);
    }
    for (size_t i = 0; i < a->n_keys; i++) {
        free((char *)a->keys[i].alg);
        free((char *)a->keys[i].pem);
    }
    free(a->keys);
    for (size_t i = 0; i < a->n_vusers; i++) {
        free((char *)a->vusers[i].name);
        free((char *)a->vusers[i].user);
    }
    free(a->vusers);
    for (size_t i = 0; i < a->n_official; i++)
        free(a->official[i]);
    free(a->official);
    sodium_memzero(a, sizeof *a);   /* the keys */
    free(a);
}

int auth_is_official(const auth_ctx *a, const char *repo)
{
    if (!repo)
        return 0;
    if (!a->enabled)
        return strcmp(repo, AUTH_ADMINISTRATOR) == 0;
    for (size_t i = 0; i < a->n_official; i++)
        if (strcmp(a->official[i], repo) == 0)
            return 1;
    return 0;
}

const char *auth_virtual_user_apply(const auth_ctx *a, const char *user,
                                    const char *active_user)
{
    if (!active_user || !*active_user || !user)
        return user;
    for (size_t i = 0; i < a->n_vusers; i++)
        if (strcmp(a->vusers[i].name, active_user) == 0 &&
            strcmp(a->vusers[i].user, user) == 0)
            return active_user;
    return user;
}

/* ------------------------------------------------------------------ */
/* hub tokens (§12.3)                                                   */

/* snprintf at out+*pos; 0, or -1 when it does not fit. */
static int appendf(char *out, size_t cap, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int appendf(char *out, size_t cap, size_t *pos, const char *fmt, ...)
{
    if (*pos >= cap)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(out + *pos, cap - *pos, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= cap - *pos)
        return -1;
    *pos += (size_t)w;
    return 0;
}

/* Appends the E-JSON (Python json.dumps, ensure_ascii) string literal of
 * the UTF-8 text s to out (cap bytes) at *pos. Returns 0, or -1 when s is
 * not valid UTF-8 or does not fit. */
static int ejson_string(char *out, size_t cap, size_t *pos, const char *s)
{
    if (appendf(out, cap, pos, "\"") < 0)
        return -1;
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);
    while (*p) {
        uint32_t cp;
        size_t k = util_utf8_next(p, left, &cp);
        int r;
        if (k == 0)
            return -1;
        p += k;
        left -= k;
        long c = (long)cp;
        switch (c) {
        case '"': r = appendf(out, cap, pos, "\\\""); break;
        case '\\': r = appendf(out, cap, pos, "\\\\"); break;
        case '\n': r = appendf(out, cap, pos, "\\n"); break;
        case '\r': r = appendf(out, cap, pos, "\\r"); break;
        case '\t': r = appendf(out, cap, pos, "\\t"); break;
        case '\b': r = appendf(out, cap, pos, "\\b"); break;
        case '\f': r = appendf(out, cap, pos, "\\f"); break;
        default:
            if (c >= 0x20 && c < 0x7F) {
                r = appendf(out, cap, pos, "%c", (char)c);
            } else if (c < 0x10000) {
                r = appendf(out, cap, pos, "\\u%04lx", c);
            } else {
                long v = c - 0x10000;
                r = appendf(out, cap, pos, "\\u%04lx\\u%04lx", 0xD800 + (v >> 10),
                            0xDC00 + (v & 0x3FF));
            }
        }
        if (r < 0)
            return -1;
    }
    return appendf(out, cap, pos, "\"");
}

char *auth_token_issue(const auth_ctx *a, const char *user, long long now,
                       hub_err *err)
{
    return auth_token_issue_until(a, user, now, 0, err);
}

char *auth_token_issue_until(const auth_ctx *a, const char *user, long long now,
                             long long expires, hub_err *err)
{
    if (!a->have_seed) {
        hub_err_set(err, "cannot issue tokens: no threebot-seed configured");
        return NULL;
    }
    if (!user || !*user || strlen(user) > AUTH_USER_MAX) {
        hub_err_set(err, "cannot issue a token: user name empty or longer than %d bytes",
                    AUTH_USER_MAX);
        return NULL;
    }
    if (expires != 0 && expires <= now) {
        hub_err_set(err, "cannot issue a token: it would expire before it is issued");
        return NULL;
    }
    /* m = ["<user>", <now>] or ["<user>", <now>, <expires>]: at most 12
     * bytes per input byte escaped */
    char m[AUTH_USER_MAX * 12 + 64];
    size_t pos = 0;
    m[pos++] = '[';
    if (ejson_string(m, sizeof m, &pos, user) < 0) {
        hub_err_set(err, "cannot issue a token: user name is not valid UTF-8");
        return NULL;
    }
    if ((expires ? appendf(m, sizeof m, &pos, ", %lld, %lld]", now, expires)
                 : appendf(m, sizeof m, &pos, ", %lld]", now)) < 0) {
        hub_err_set(err, "cannot issue a token: message too long");
        return NULL;
    }

    size_t sm_len = crypto_sign_BYTES + pos;
    unsigned char *sm = malloc(sm_len);
    size_t b64_len = sodium_base64_ENCODED_LEN(sm_len, sodium_base64_VARIANT_URLSAFE);
    char *tok = malloc(b64_len);
    if (!sm || !tok) {
        free(sm);
        free(tok);
        hub_err_set(err, "out of memory");
        return NULL;
    }
    unsigned long long got = 0;
    crypto_sign(sm, &got, (const unsigned char *)m, pos, a->sign_sk);
    sodium_bin2base64(tok, b64_len, sm, (size_t)got, sodium_base64_VARIANT_URLSAFE);
    free(sm);
    return tok;
}

int auth_token_verify(const auth_ctx *a, const char *token, long long now,
                      auth_result *out)
{
    static const char bad[] = "invalid signature";
    result_reset(out);
    if (!a->have_seed || !token)
        return refuse(out, 401, bad);
    size_t len = strnlen(token, TOKEN_MAX_LEN + 1);
    if (len > TOKEN_MAX_LEN)
        return refuse(out, 401, bad);
    while (len > 0 && token[len - 1] == '=')
        len--;
    unsigned char sm[TOKEN_MAX_LEN], m[TOKEN_MAX_LEN];
    size_t sm_len = 0;
    const char *end = NULL;
    if (sodium_base642bin(sm, sizeof sm, token, len, NULL, &sm_len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 || end != token + len) {
        if (sodium_base642bin(sm, sizeof sm, token, len, NULL, &sm_len, &end,
                              sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 ||
            end != token + len)
            return refuse(out, 401, bad);
    }
    unsigned long long m_len = 0;
    if (sm_len < crypto_sign_BYTES ||
        crypto_sign_open(m, &m_len, sm, sm_len, a->sign_pk) != 0)
        return refuse(out, 401, bad);
    json_t *arr = json_loadb((const char *)m, (size_t)m_len, 0, NULL);
    const char *user = json_string_value(json_array_get(arr, 0));
    json_t *iat = json_array_get(arr, 1);
    if (!json_is_array(arr) || !user || !*user || strlen(user) > AUTH_USER_MAX) {
        json_decref(arr);
        return refuse(out, 401, bad);
    }
    long long issued = json_is_integer(iat) ? (long long)json_integer_value(iat) : 0;
    /* an expiry written by `flist-hub-api token --ttl` (element 2; the
     * original ignores it and reads element 0 only) */
    json_t *exp = json_array_get(arr, 2);
    /* no leeway: the hub signed this expiry with its own clock (jwt-leeway
     * is for other issuers' clocks); a --ttl 1 token lives one second */
    if (exp && (!json_is_integer(exp) || (long long)json_integer_value(exp) <= now)) {
        json_decref(arr);
        return refuse(out, 401, "token expired");
    }
    if (a->max_age > 0) {
        /* D28: a maximum age; the token must carry an integer issued-at */
        if (!json_is_integer(iat) || issued > now + AUTH_REPLICA_SKEW_S ||
            (now - issued) > a->max_age) {
            json_decref(arr);
            return refuse(out, 401, "token expired");
        }
    }
    accept_user(out, AUTH_VIA_HUB_TOKEN, user, user);
    out->issued_at = issued;
    json_decref(arr);
    return 0;
}

/* ------------------------------------------------------------------ */
/* JWT and the API gate (§12.4-§12.6)                                   */

int auth_jwt_verify(const auth_ctx *a, const char *jwt, long long now,
                    auth_result *out, char ***accounts)
{
    result_reset(out);
    char user[AUTH_USER_MAX + 1];
    long long iat = 0;
    if (auth_jwt_check(jwt, a->keys, a->n_keys, now, a->leeway, user, &iat,
                       accounts, NULL) < 0)
        return refuse(out, 403, "invalid token");
    accept_user(out, AUTH_VIA_JWT, user, user);
    out->issued_at = iat;
    return 0;
}

/* "bearer <token>" (case-insensitive word, one space): the token, else NULL. */
static const char *bearer_token(const char *header)
{
    if (strncasecmp(header, "bearer ", 7) != 0)
        return NULL;
    const char *t = header + 7;
    /* Python's `^bearer (.*)$`: "." stops at a newline, "$" allows one final "\n" */
    const char *nl = strchr(t, '\n');
    if (nl && nl[1] != '\0')
        return NULL;
    return t;
}

int auth_api_gate(const auth_ctx *a, const char *authorization,
                  const char *active_user, long long now, auth_result *out)
{
    result_reset(out);
    if (a->readonly)
        return refuse(out, 400, "readonly mode");
    if (!a->enabled)
        return accept_user(out, AUTH_VIA_DISABLED, AUTH_ADMINISTRATOR, AUTH_ADMINISTRATOR);
    if (!authorization || !*authorization)
        return refuse(out, 401, "no authorization provided");

    char token_buf[TOKEN_MAX_LEN + 1];
    const char *token = bearer_token(authorization);
    if (token) {   /* drop the one final "\n" the regex tolerates */
        size_t tl = strnlen(token, TOKEN_MAX_LEN + 1);
        if (tl > TOKEN_MAX_LEN) {
            token = NULL;
        } else {
            memcpy(token_buf, token, tl + 1);
            if (tl && token_buf[tl - 1] == '\n')
                token_buf[tl - 1] = '\0';
            token = token_buf;
        }
    }

    /* D30: the guest token is recognised before dispatching on "." */
    if (a->guest && token && secret_equal(a, token, a->guest))
        return accept_user(out, AUTH_VIA_GUEST, AUTH_GUEST, AUTH_GUEST);

    if (strchr(authorization, '.')) {
        /* JWT path (§12.6); D29: verified on every request, no session */
        if (!token || !*token)
            return refuse(out, 401, "could not authenticate");
        char **accounts = NULL;
        if (auth_jwt_verify(a, token, now, out, &accounts) < 0)
            return -1;
        const char *eff = out->identity;
        for (size_t i = 0; active_user && *active_user && accounts && accounts[i]; i++)
            if (strcmp(accounts[i], active_user) == 0)
                eff = active_user;
        copy_user(out->user, eff);
        auth_accounts_free(accounts);
        return 0;
    }
    if (!token)
        return refuse(out, 400, "invalid authorization header");
    if (auth_token_verify(a, token, now, out) < 0)
        return -1;
    copy_user(out->user, auth_virtual_user_apply(a, out->identity, active_user));
    return 0;
}

/* ------------------------------------------------------------------ */
/* signed cookies and the web session gate (§12.8, D33)                 */

static void cookie_mac(const auth_ctx *a, const char *purpose, const char *payload,
                       size_t plen, unsigned char mac[crypto_auth_hmacsha256_BYTES])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, a->cookie_key, sizeof a->cookie_key);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)purpose, strlen(purpose) + 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)payload, plen);
    crypto_auth_hmacsha256_final(&st, mac);
}

int auth_cookie_sign(const auth_ctx *a, const char *purpose, const char *value,
                     long long ttl, long long now, char *out, size_t n,
                     hub_err *err)
{
    if (!purpose || !value || !*value || strlen(value) > AUTH_USER_MAX)
        return hub_err_set(err, "cookie value empty or longer than %d bytes", AUTH_USER_MAX);
    if (ttl <= 0 || now > INT64_MAX - ttl)
        return hub_err_set(err, "cookie lifetime must be positive");
    unsigned char nonce[16];
    char nonce_hex[33], payload[AUTH_USER_MAX + 64];
    randombytes_buf(nonce, sizeof nonce);
    sodium_bin2hex(nonce_hex, sizeof nonce_hex, nonce, sizeof nonce);
    int plen = snprintf(payload, sizeof payload, "%s|%lld|%s", value, now + ttl, nonce_hex);
    if (plen < 0 || (size_t)plen >= sizeof payload)
        return hub_err_set(err, "cookie value too long");
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    cookie_mac(a, purpose, payload, (size_t)plen, mac);
    size_t need = sodium_base64_ENCODED_LEN((size_t)plen, sodium_base64_VARIANT_URLSAFE_NO_PADDING) +
                  sodium_base64_ENCODED_LEN(sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (n < need)
        return hub_err_set(err, "cookie buffer too small");
    sodium_bin2base64(out, n, (const unsigned char *)payload, (size_t)plen,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t p = strlen(out);
    out[p++] = '.';
    sodium_bin2base64(out + p, n - p, mac, sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return 0;
}

int auth_cookie_verify(const auth_ctx *a, const char *purpose,
                       const char *cookie, long long now, char *out, size_t n,
                       hub_err *err)
{
    if (n)
        out[0] = '\0';
    if (!cookie || !purpose)
        return hub_err_set(err, "malformed");
    size_t len = strnlen(cookie, AUTH_COOKIE_MAX + 1);
    const char *dot = len <= AUTH_COOKIE_MAX ? strrchr(cookie, '.') : NULL;
    if (!dot)
        return hub_err_set(err, "malformed");
    char payload[AUTH_COOKIE_MAX];
    unsigned char mac[crypto_auth_hmacsha256_BYTES + 4], want[crypto_auth_hmacsha256_BYTES];
    size_t plen = 0, mlen = 0;
    const char *end = NULL;
    if (sodium_base642bin((unsigned char *)payload, sizeof payload - 1, cookie,
                          (size_t)(dot - cookie), NULL, &plen, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 || end != dot ||
        sodium_base642bin(mac, sizeof mac, dot + 1, strlen(dot + 1), NULL, &mlen, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != cookie + len || mlen != crypto_auth_hmacsha256_BYTES)
        return hub_err_set(err, "malformed");
    cookie_mac(a, purpose, payload, plen, want);
    if (sodium_memcmp(mac, want, sizeof want) != 0)
        return hub_err_set(err, "bad signature");
    payload[plen] = '\0';
    if (memchr(payload, '\0', plen))
        return hub_err_set(err, "malformed");
    char *bar2 = strrchr(payload, '|');
    if (!bar2)
        return hub_err_set(err, "malformed");
    *bar2 = '\0';
    char *bar1 = strrchr(payload, '|');
    if (!bar1 || bar1 == payload)
        return hub_err_set(err, "malformed");
    *bar1 = '\0';
    char *e = NULL;
    long long expiry = strtoll(bar1 + 1, &e, 10);
    if (!e || *e || e == bar1 + 1)
        return hub_err_set(err, "malformed");
    if (now >= expiry)
        return hub_err_set(err, "expired");
    size_t vlen = (size_t)(bar1 - payload);
    if (vlen + 1 > n)
        return hub_err_set(err, "value too long");
    memcpy(out, payload, vlen + 1);
    return 0;
}

int auth_session_gate(const auth_ctx *a, const char *session_cookie,
                      const char *active_user, long long now,
                      auth_result *out)
{
    result_reset(out);
    if (a->readonly)
        return refuse(out, 302, "/readonly");
    if (!a->enabled)
        return accept_user(out, AUTH_VIA_DISABLED, AUTH_ADMINISTRATOR, AUTH_ADMINISTRATOR);
    char user[AUTH_USER_MAX + 1];
    if (!session_cookie ||
        auth_cookie_verify(a, "session", session_cookie, now, user, sizeof user, NULL) < 0)
        return refuse(out, 302, "/login-method");
    return accept_user(out, AUTH_VIA_SESSION, user,
                       auth_virtual_user_apply(a, user, active_user));
}

/* ------------------------------------------------------------------ */
/* ThreeFold Connect (§12.2)                                            */

void auth_tfc_state_new(char state[33])
{
    static const char alnum[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    for (int i = 0; i < 32; i++)
        state[i] = alnum[randombytes_uniform(sizeof alnum - 1)];
    state[32] = '\0';
}

/* Appends the form encoding (Python quote_plus) of s to out. */
static int form_encode(char *out, size_t cap, size_t *pos, const char *s, int plus,
                       const char *safe)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int w;
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
            (*p >= '0' && *p <= '9') || strchr("_.-~", *p) || (safe && strchr(safe, *p)))
            w = snprintf(out + *pos, cap - *pos, "%c", *p);
        else if (*p == ' ' && plus)
            w = snprintf(out + *pos, cap - *pos, "+");
        else
            w = snprintf(out + *pos, cap - *pos, "%%%02X", *p);
        if (w < 0 || (size_t)w >= cap - *pos)
            return -1;
        *pos += (size_t)w;
    }
    return 0;
}

char *auth_tfc_login_url(const auth_ctx *a, const char *login_url,
                         const char *redirect_path, const char *state,
                         hub_err *err)
{
    if (!a->have_box) {
        hub_err_set(err, "ThreeFold Connect login: no threebot-privatekey configured");
        return NULL;
    }
    char pk[sodium_base64_ENCODED_LEN(crypto_box_PUBLICKEYBYTES, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(pk, sizeof pk, a->box_pk, sizeof a->box_pk, sodium_base64_VARIANT_ORIGINAL);
    size_t cap = strlen(login_url) + 3 * (strlen(a->appid ? a->appid : "") +
                 strlen(redirect_path) + strlen(state) + sizeof pk) + 128;
    char *url = malloc(cap);
    if (!url) {
        hub_err_set(err, "out of memory");
        return NULL;
    }
    size_t pos = (size_t)snprintf(url, cap, "%s/?appid=", login_url);
    if (form_encode(url, cap, &pos, a->appid ? a->appid : "", 1, NULL) < 0 ||
        form_encode(url, cap, &pos, "&publickey=", 0, "&=") < 0 ||
        form_encode(url, cap, &pos, pk, 1, NULL) < 0 ||
        form_encode(url, cap, &pos, "&state=", 0, "&=") < 0 ||
        form_encode(url, cap, &pos, state, 1, NULL) < 0 ||
        form_encode(url, cap, &pos, "&redirecturl=", 0, "&=") < 0 ||
        form_encode(url, cap, &pos, redirect_path, 1, NULL) < 0 ||
        form_encode(url, cap, &pos, "&scope=", 0, "&=") < 0 ||
        form_encode(url, cap, &pos, "{}", 1, NULL) < 0) {
        free(url);
        hub_err_set(err, "login URL too long");
        return NULL;
    }
    return url;
}

void auth_tfc_error_message(const char *error, char *out, size_t n)
{
    static const char prefix[] = "Authentication failed: ";
    if (!n)
        return;
    size_t pos = (size_t)snprintf(out, n, "%s", prefix);
    if (pos >= n)
        return;
    if (form_encode(out, n, &pos, error ? error : "", 0, "/") < 0)
        out[n - 1] = '\0';
}

/* Parses the signedAttempt parameter: 0 with *obj (caller decrefs) and the
 * two strings inside it, or -1. */
static int tfc_outer(const char *param, json_t **obj, const char **name,
                     const char **inner)
{
    *obj = param ? json_loads(param, JSON_REJECT_DUPLICATES, NULL) : NULL;
    *name = json_string_value(json_object_get(*obj, "doubleName"));
    *inner = json_string_value(json_object_get(*obj, "signedAttempt"));
    if (!*name || !*inner || !**name || strlen(*name) > AUTH_USER_MAX) {
        json_decref(*obj);
        *obj = NULL;
        return -1;
    }
    return 0;
}

int auth_tfc_double_name(const char *signed_attempt_param,
                         char double_name[AUTH_USER_MAX + 1],
                         auth_result *out)
{
    result_reset(out);
    double_name[0] = '\0';
    json_t *obj;
    const char *name, *inner;
    if (tfc_outer(signed_attempt_param, &obj, &name, &inner) < 0)
        return refuse(out, 400, "Invalid request.");
    copy_user(double_name, name);
    json_decref(obj);
    return 0;
}

/* Standard base64 (padding optional) into a new buffer; NULL when invalid. */
static unsigned char *b64_std(const char *s, size_t *len)
{
    if (!s)
        return NULL;
    size_t sl = strlen(s);
    while (sl > 0 && s[sl - 1] == '=')
        sl--;
    unsigned char *buf = malloc(sl / 4 * 3 + 3);
    const char *end = NULL;
    if (buf && sodium_base642bin(buf, sl / 4 * 3 + 3, s, sl, NULL, len, &end,
                                 sodium_base64_VARIANT_ORIGINAL_NO_PADDING) == 0 &&
        end == s + sl)
        return buf;
    free(buf);
    return NULL;
}

int auth_tfc_verify(const auth_ctx *a, const char *signed_attempt_param,
                    const char *user_public_key_b64, const char *expected_state,
                    auth_result *out)
{
    static const char bad_sig[] = "Unable to verify state signature, denied.";
    static const char bad_box[] = "Unable to decrypt payload, denied.";
    static const char bad_state[] = "Invalid state received. Cannot authenticate request!";
    result_reset(out);
    json_t *outer = NULL, *msg = NULL, *plain_js = NULL;
    unsigned char *pk = NULL, *sm = NULL, *m = NULL, *nonce = NULL, *ct = NULL, *plain = NULL;
    const char *name, *inner;
    size_t pk_len = 0, sm_len = 0, nonce_len = 0, ct_len = 0;
    unsigned long long m_len = 0;
    int rc = -1;
    if (tfc_outer(signed_attempt_param, &outer, &name, &inner) < 0)
        return refuse(out, 400, "Invalid request.");
    if (!a->have_box) {
        refuse(out, 400, bad_box);
        goto done;
    }

    /* step 5: Ed25519 signature of the user over the message */
    pk = b64_std(user_public_key_b64, &pk_len);
    sm = b64_std(inner, &sm_len);
    if (!pk || pk_len != crypto_sign_PUBLICKEYBYTES || !sm || sm_len < crypto_sign_BYTES ||
        !(m = malloc(sm_len)) || crypto_sign_open(m, &m_len, sm, sm_len, pk) != 0 ||
        !(msg = json_loadb((const char *)m, (size_t)m_len, 0, NULL)) || !json_is_object(msg)) {
        refuse(out, 400, bad_sig);
        goto done;
    }

    /* D26: the state this login started with, and our app id */
    const char *st = json_string_value(json_object_get(msg, "signedState"));
    const char *app = json_string_value(json_object_get(msg, "appId"));
    if (!is_set(expected_state) || !st || strlen(st) != strlen(expected_state) ||
        sodium_memcmp(st, expected_state, strlen(st)) != 0 ||
        (a->appid && (!app || strcmp(app, a->appid) != 0))) {
        refuse(out, 400, bad_state);
        goto done;
    }

    /* step 6: box from the user's key (converted to X25519) to the hub's */
    json_t *data = json_object_get(msg, "data");
    unsigned char user_x[crypto_box_PUBLICKEYBYTES];
    nonce = b64_std(json_string_value(json_object_get(data, "nonce")), &nonce_len);
    ct = b64_std(json_string_value(json_object_get(data, "ciphertext")), &ct_len);
    if (!nonce || nonce_len != crypto_box_NONCEBYTES || !ct || ct_len < crypto_box_MACBYTES ||
        crypto_sign_ed25519_pk_to_curve25519(user_x, pk) != 0 ||
        !(plain = malloc(ct_len)) ||
        crypto_box_open_easy(plain, ct, ct_len, nonce, user_x, a->box_sk) != 0) {
        refuse(out, 400, bad_box);
        goto done;
    }

    /* step 7 with D27: a present email must be verified */
    plain_js = json_loadb((const char *)plain, ct_len - crypto_box_MACBYTES, 0, NULL);
    if (!json_is_object(plain_js)) {
        refuse(out, 400, bad_box);
        goto done;
    }
    json_t *email = json_object_get(plain_js, "email");
    if (email && !json_is_null(email)) {
        json_t *ver = json_object_get(email, "verified");
        const char *vs = json_string_value(ver);
        if (!(json_is_true(ver) || (vs && *vs))) {
            refuse(out, 400, "Email unverified, access denied.");
            goto done;
        }
    }
    accept_user(out, AUTH_VIA_SESSION, name, name);
    rc = 0;
done:
    json_decref(outer);
    json_decref(msg);
    json_decref(plain_js);
    free(pk);
    free(sm);
    free(m);
    free(nonce);
    free(ct);
    if (plain) {
        sodium_memzero(plain, ct_len);
        free(plain);
    }
    return rc;
}
