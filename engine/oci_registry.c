/* oci_registry.c - the Distribution API client of the registry path
 * (oci_registry.h): small requests (manifests, config, tokens) into
 * memory, layer blobs streamed into the cache through one curl multi
 * handle, hashed while they arrive. */
#include "oci_registry.h"
#include "http_buf.h"
#include "oci_manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <sodium.h>


#define ACCEPT_MANIFESTS "Accept: " OCI_MT_INDEX ", " OCI_MT_MANIFEST ", " OCI_MT_DOCKER_LIST ", " \
                         OCI_MT_DOCKER_MANIFEST

#define MANIFEST_MAX (4u << 20)      /* bytes of a manifest or an index */
#define TOKEN_REPLY_MAX (1u << 20)
#define ERRBODY_MAX 1024
#define HEADER_MAX 2048
#define CONNECT_TIMEOUT_S 30L
#define LOW_SPEED_TIME_S 120L        /* abort a transfer slower than 1 B/s that long */
#define SMALL_TIMEOUT_S 300L
#define MAX_REDIRECTS 10L
#define URL_MAX 4096
#define SHA256_HEX_LEN 64

struct oci_registry {
    const oci_registry_opts *o;
    oci_ref ref;
    char base[URL_MAX];        /* "https://host[:port]" */
    char *user, *pass;         /* owned, wiped on free; NULL when none */
    char *authz;               /* "Authorization: ..." header, owned; NULL before auth */
    int plain_http;            /* plain HTTP allowed (local or named insecure) */
    int scheme_known;          /* base's scheme chosen */
    CURL *small;               /* the handle of small requests (keeps its connections) */
    CURLcode last_cc;          /* libcurl's result of the last small request */
};

/* The scheme each local or insecure registry answered (https or plain),
 * remembered by the process for SCHEME_MEMO_S so that a job does not probe
 * TLS again. */
#define SCHEME_MEMO_N 32
#define SCHEME_MEMO_S 600
static struct {
    char domain[OCI_REF_NAME_MAX + 1];
    int http;
    time_t until;
} scheme_memo[SCHEME_MEMO_N];
static pthread_mutex_t scheme_mu = PTHREAD_MUTEX_INITIALIZER;

/* 1 (plain HTTP) or 0 (https) when remembered, -1 when not. */
static int scheme_recall(const char *domain)
{
    int v = -1;
    time_t now = time(NULL);
    pthread_mutex_lock(&scheme_mu);
    for (int i = 0; i < SCHEME_MEMO_N && v < 0; i++)
        if (scheme_memo[i].until > now && strcmp(scheme_memo[i].domain, domain) == 0)
            v = scheme_memo[i].http;
    pthread_mutex_unlock(&scheme_mu);
    return v;
}

static void scheme_remember(const char *domain, int http)
{
    time_t now = time(NULL);
    pthread_mutex_lock(&scheme_mu);
    int slot = 0;
    for (int i = 0; i < SCHEME_MEMO_N; i++) {
        if (strcmp(scheme_memo[i].domain, domain) == 0) {
            slot = i;
            break;
        }
        if (scheme_memo[i].until < scheme_memo[slot].until)
            slot = i;   /* the oldest (or an empty one) */
    }
    snprintf(scheme_memo[slot].domain, sizeof scheme_memo[slot].domain, "%s", domain);
    scheme_memo[slot].http = http;
    scheme_memo[slot].until = now + SCHEME_MEMO_S;
    pthread_mutex_unlock(&scheme_mu);
}

/* ---------------- small helpers ---------------- */

static void wipe_free(char *s)
{
    if (s) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}

static void sha256_hex(const unsigned char md[32], char out[SHA256_HEX_LEN + 1])
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hx[md[i] >> 4];
        out[2 * i + 1] = hx[md[i] & 15];
    }
    out[SHA256_HEX_LEN] = '\0';
}

/* 1 when data hashes to digest ("sha256:<hex>"). */
static int digest_matches(const void *data, size_t n, const char *digest)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    char hex[SHA256_HEX_LEN + 1];
    if (!EVP_Digest(data, n, md, &mdlen, EVP_sha256(), NULL))
        return 0;
    sha256_hex(md, hex);
    return strcmp(digest + strlen("sha256:"), hex) == 0;
}

/* ---------------- credentials ---------------- */

/* Looks `domain` up in a Docker config.json ("auths"); Docker Hub's entry
 * may be named "https://index.docker.io/v1/". Sets r->user/pass. */
static int creds_from_file(oci_registry *r, const char *path, hub_err *err)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root)
        return hub_err_setc(err, HUB_E_INVALID, "credentials file %s: %s (line %d)", path, je.text,
                            je.line);
    json_t *auths = json_object_get(root, "auths");
    const char *dom = r->ref.domain;
    json_t *e = json_object_get(auths, dom);
    if (!e && strcmp(dom, OCI_REF_DEFAULT_DOMAIN) == 0) {
        e = json_object_get(auths, "https://index.docker.io/v1/");
        if (!e)
            e = json_object_get(auths, "index.docker.io");
    }
    int rc = 0;
    if (json_is_object(e)) {
        const char *u = json_string_value(json_object_get(e, "username"));
        const char *p = json_string_value(json_object_get(e, "password"));
        const char *a = json_string_value(json_object_get(e, "auth"));
        if (u && p) {
            r->user = strdup(u);
            r->pass = strdup(p);
        } else if (a) {
            size_t cap = strlen(a) + 1, bl = 0;
            char *dec = calloc(1, cap);
            if (!dec || sodium_base642bin((unsigned char *)dec, cap - 1, a, strlen(a), NULL, &bl,
                                          NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
                !memchr(dec, ':', bl)) {
                rc = hub_err_setc(err, HUB_E_INVALID,
                                  "credentials file %s: the \"auth\" of %s is not base64(user:password)",
                                  path, dom);
            } else {
                dec[bl] = '\0';
                char *colon = strchr(dec, ':');
                *colon = '\0';
                r->user = strdup(dec);
                r->pass = strdup(colon + 1);
            }
            if (dec) {
                sodium_memzero(dec, cap);
                free(dec);
            }
        }
    }
    json_decref(root);
    if (rc == 0 && ((r->user && !r->pass) || (!r->user && r->pass)))
        rc = hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    return rc;
}

/* libcurl's global state, set up once per process (slots of a worker may
 * start conversions at the same time). */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

oci_registry *oci_registry_new(const oci_registry_opts *opts, const oci_ref *ref, hub_err *err)
{
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) {
        hub_err_set(err, "libcurl initialisation failed");
        return NULL;
    }
    oci_registry *r = calloc(1, sizeof *r);
    if (!r) {
        hub_err_setc(err, HUB_E_NOMEM, "out of memory");
        return NULL;
    }
    r->o = opts;
    r->ref = *ref;
    int insecure = oci_ref_domain_is_local(ref->domain);
    for (size_t i = 0; i < opts->n_insecure && !insecure; i++)
        insecure = strcmp(opts->insecure[i], ref->domain) == 0;
    r->plain_http = insecure;
    r->scheme_known = !insecure;
    snprintf(r->base, sizeof r->base, "https://%s", oci_ref_api_host(ref));
    if (opts->username && *opts->username) {
        r->user = strdup(opts->username);
        r->pass = strdup(opts->password ? opts->password : "");
        if (!r->user || !r->pass) {
            oci_registry_free(r);
            hub_err_setc(err, HUB_E_NOMEM, "out of memory");
            return NULL;
        }
    } else if (opts->creds_file && *opts->creds_file &&
               creds_from_file(r, opts->creds_file, err) != 0) {
        oci_registry_free(r);
        return NULL;
    }
    return r;
}

void oci_registry_free(oci_registry *r)
{
    if (!r)
        return;
    wipe_free(r->user);
    wipe_free(r->pass);
    wipe_free(r->authz);
    if (r->small)
        curl_easy_cleanup(r->small);
    free(r);
}

/* ---------------- one request into memory ---------------- */

typedef struct resp {
    long status;
    char *body;
    size_t len, max;
    int too_big;
    char content_type[256];
    char www_auth[HEADER_MAX];
    char retry_after[64];
    char location[URL_MAX];
} resp;

static size_t resp_write(char *p, size_t sz, size_t n, void *ud)
{
    resp *rs = ud;
    return http_buf_append(&rs->body, &rs->len, rs->max, &rs->too_big, p, sz * n);
}

/* Copies the value of header `name` (case-insensitive: HTTP/2 sends lower
 * case) from the raw header line into out. */
static void header_take(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    const char *v = line + nl + 1;
    size_t vl = len - nl - 1;
    while (vl && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    if (vl >= cap)
        vl = cap - 1;
    memcpy(out, v, vl);
    out[vl] = '\0';
}

static size_t resp_header(char *p, size_t sz, size_t n, void *ud)
{
    resp *rs = ud;
    size_t k = sz * n;
    if (k >= 5 && strncmp(p, "HTTP/", 5) == 0) {   /* a new response (after a redirect) */
        rs->content_type[0] = rs->www_auth[0] = rs->retry_after[0] = '\0';
        return k;
    }
    header_take(p, k, "Content-Type", rs->content_type, sizeof rs->content_type);
    header_take(p, k, "WWW-Authenticate", rs->www_auth, sizeof rs->www_auth);
    header_take(p, k, "Retry-After", rs->retry_after, sizeof rs->retry_after);
    return k;
}

static void resp_free(resp *rs)
{
    free(rs->body);
    memset(rs, 0, sizeof *rs);
}

/* Options every handle of this client gets. */
static void handle_setup(oci_registry *r, CURL *h, const char *url, struct curl_slist *hdrs)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, MAX_REDIRECTS);
    curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, LOW_SPEED_TIME_S);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "flist-hub");
    if (r->o->ca_file && *r->o->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, r->o->ca_file);
}

/* Adds the current Authorization header (if any) to a list. Returns the
 * list or NULL when memory runs out. */
static struct curl_slist *auth_headers(oci_registry *r, struct curl_slist *l)
{
    if (r->authz) {
        struct curl_slist *n = curl_slist_append(l, r->authz);
        if (!n) {
            curl_slist_free_all(l);
            return NULL;
        }
        return n;
    }
    return l;
}

/* GET url into rs (at most max bytes), with the Authorization header when
 * `auth` and extra header `extra` (NULL: none). Returns 0 (whatever the
 * status), or -1 with err when the server could not be reached. */
static int get_small(oci_registry *r, const char *url, const char *extra, int auth, size_t max,
                     const char *userpwd, resp *rs, hub_err *err)
{
    memset(rs, 0, sizeof *rs);
    rs->max = max;
    if (!r->small && !(r->small = curl_easy_init()))
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    CURL *h = r->small;
    curl_easy_reset(h);   /* options go, connections stay */
    struct curl_slist *hdrs = NULL;
    if (extra)
        hdrs = curl_slist_append(hdrs, extra);
    if (auth)
        hdrs = auth_headers(r, hdrs);
    char ebuf[CURL_ERROR_SIZE] = "";
    handle_setup(r, h, url, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, resp_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, rs);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, resp_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, rs);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, SMALL_TIMEOUT_S);
    if (userpwd) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERPWD, userpwd);
    }
    CURLcode cc = curl_easy_perform(h);
    r->last_cc = cc;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->status);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_USERPWD, NULL);
    curl_slist_free_all(hdrs);
    if (rs->too_big) {
        resp_free(rs);
        return hub_err_setc(err, HUB_E_TOO_LARGE, "%s: the reply is larger than %zu bytes", url, max);
    }
    if (cc != CURLE_OK) {
        resp_free(rs);
        return hub_err_setc(err, HUB_E_UNAVAILABLE, "registry %s unreachable: %s", r->ref.domain,
                            ebuf[0] ? ebuf : curl_easy_strerror(cc));
    }
    return 0;
}

/* ---------------- authentication ---------------- */

/* The value of parameter `key` in a challenge (key="value" pairs). */
static int challenge_param(const char *ch, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    for (const char *p = ch; (p = strcasestr(p, key)) != NULL; p += kl) {
        if (p != ch && p[-1] != ' ' && p[-1] != ',')
            continue;
        const char *q = p + kl;
        if (*q != '=')
            continue;
        q++;
        size_t n = 0;
        if (*q == '"') {
            q++;
            while (q[n] && q[n] != '"')
                n++;
        } else {
            while (q[n] && q[n] != ',')
                n++;
        }
        if (n >= cap)
            return 0;
        memcpy(out, q, n);
        out[n] = '\0';
        return 1;
    }
    return 0;
}

/* "user:password", owned (wipe_free), or NULL when no credentials. */
static char *userpwd_of(oci_registry *r)
{
    if (!r->user)
        return NULL;
    size_t n = strlen(r->user) + strlen(r->pass) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s:%s", r->user, r->pass);
    return s;
}

/* Answers a 401's challenge: a Bearer token from the realm (with the
 * credentials, if any), or Basic credentials. Returns 0 when a new
 * Authorization header is ready, -1 with err when none can be had. */
static int authenticate(oci_registry *r, const char *challenge, hub_err *err)
{
    char ref[600];
    oci_ref_string(&r->ref, ref, sizeof ref);
    if (strncasecmp(challenge, "Basic", 5) == 0) {
        if (!r->user || (r->authz && strncmp(r->authz, "Authorization: Basic", 20) == 0))
            return hub_err_setc(err, HUB_E_NOT_FOUND,
                                "docker image not found or access denied: %s (the registry "
                                "answered 401: %s)", ref,
                                r->user ? "the credentials were refused" : "it needs credentials");
        char *up = userpwd_of(r);
        size_t bl = up ? sodium_base64_ENCODED_LEN(strlen(up), sodium_base64_VARIANT_ORIGINAL) : 0;
        char *hdr = up ? malloc(bl + 32) : NULL;
        if (!hdr) {
            wipe_free(up);
            return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
        }
        int k = snprintf(hdr, bl + 32, "Authorization: Basic ");
        sodium_bin2base64(hdr + k, bl, (unsigned char *)up, strlen(up),
                          sodium_base64_VARIANT_ORIGINAL);
        wipe_free(up);
        wipe_free(r->authz);
        r->authz = hdr;
        return 0;
    }
    if (strncasecmp(challenge, "Bearer", 6) != 0)
        return hub_err_setc(err, HUB_E_REFUSED, "registry %s: unsupported authentication \"%.40s\"",
                            r->ref.domain, challenge);
    char realm[URL_MAX], service[512] = "", scope[1024] = "";
    if (!challenge_param(challenge, "realm", realm, sizeof realm) || !realm[0])
        return hub_err_setc(err, HUB_E_REFUSED, "registry %s: a Bearer challenge without realm",
                            r->ref.domain);
    if (strncmp(realm, "https://", 8) != 0 && !(r->plain_http && strncmp(realm, "http://", 7) == 0))
        return hub_err_setc(err, HUB_E_REFUSED,
                            "registry %s: token realm %s is not https (refused)", r->ref.domain, realm);
    challenge_param(challenge, "service", service, sizeof service);
    if (!challenge_param(challenge, "scope", scope, sizeof scope) || !scope[0])
        snprintf(scope, sizeof scope, "repository:%s:pull", r->ref.path);
    CURL *esc = curl_easy_init();
    if (!esc)
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    char *es = curl_easy_escape(esc, service, 0), *sc = curl_easy_escape(esc, scope, 0);
    char url[URL_MAX + 2048];
    snprintf(url, sizeof url, "%s%sservice=%s&scope=%s", realm, strchr(realm, '?') ? "&" : "?",
             es ? es : "", sc ? sc : "");
    curl_free(es);
    curl_free(sc);
    curl_easy_cleanup(esc);
    char *up = userpwd_of(r);
    resp rs;
    int rc = get_small(r, url, NULL, 0, TOKEN_REPLY_MAX, up, &rs, err);
    wipe_free(up);
    if (rc != 0)
        return hub_err_prefix(err, "token");
    if (rs.status == 401 || rs.status == 403) {
        resp_free(&rs);
        return hub_err_setc(err, HUB_E_NOT_FOUND,
                            "docker image not found or access denied: %s (the token server "
                            "answered %ld%s)", ref, rs.status,
                            r->user ? ": the credentials were refused" : "");
    }
    if (rs.status != 200) {
        long st = rs.status;
        resp_free(&rs);
        return hub_err_setc(err, HUB_E_UNAVAILABLE, "registry %s: the token server answered %ld",
                            r->ref.domain, st);
    }
    json_t *j = json_loadb(rs.body ? rs.body : "", rs.len, 0, NULL);
    if (rs.body)
        sodium_memzero(rs.body, rs.len);
    resp_free(&rs);
    const char *tok = json_string_value(json_object_get(j, "token"));
    if (!tok || !*tok)
        tok = json_string_value(json_object_get(j, "access_token"));
    if (!tok || !*tok) {
        json_decref(j);
        return hub_err_setc(err, HUB_E_REFUSED, "registry %s: the token server sent no token",
                            r->ref.domain);
    }
    size_t hl = strlen(tok) + 32;
    char *hdr = malloc(hl);
    if (!hdr) {
        json_decref(j);
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    }
    snprintf(hdr, hl, "Authorization: Bearer %s", tok);
    json_decref(j);
    wipe_free(r->authz);
    r->authz = hdr;
    return 0;
}

/* ---------------- statuses into errors ---------------- */

/* The first error code of a registry's JSON error body ("MANIFEST_UNKNOWN"). */
static void registry_error_code(const char *body, size_t len, char *out, size_t cap)
{
    out[0] = '\0';
    json_t *j = body ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
    const char *c = json_string_value(json_object_get(e0, "code"));
    const char *m = json_string_value(json_object_get(e0, "message"));
    if (c)
        snprintf(out, cap, " %s%s%s", c, m ? ": " : "", m ? m : "");
    json_decref(j);
}

/* err for a reply that is not a success; `what` names the object. */
static int status_error(oci_registry *r, long status, const char *body, size_t len,
                        const char *retry_after, const char *what, hub_err *err)
{
    char ref[600], code[300];
    oci_ref_string(&r->ref, ref, sizeof ref);
    registry_error_code(body, len, code, sizeof code);
    switch (status) {
    case 401:
        return hub_err_setc(err, HUB_E_NOT_FOUND,
                            "docker image not found or access denied: %s (the registry answered "
                            "401%s%s)", ref, code,
                            r->authz && strncmp(r->authz, "Authorization: Basic", 20) == 0
                                ? "; the credentials were refused" : "");
    case 403:
        return hub_err_setc(err, HUB_E_FORBIDDEN, "access denied to %s (the registry answered 403%s)",
                            ref, code);
    case 404:
        return hub_err_setc(err, HUB_E_NOT_FOUND, "docker image not found: %s (%s: the registry "
                            "answered 404%s)", ref, what, code);
    case 429:
        return hub_err_setc(err, HUB_E_UNAVAILABLE,
                            "rate limited by registry %s (429%s): retry after %s", r->ref.domain, code,
                            retry_after && *retry_after ? retry_after : "a while");
    default:
        return hub_err_setc(err, status >= 500 ? HUB_E_UNAVAILABLE : HUB_E_FAILED,
                            "registry %s answered %ld for %s%s", r->ref.domain, status, what, code);
    }
}

/* GET a registry path ("/v2/...") with authentication: on a 401 answers
 * the challenge once and tries again. 200 only; anything else is err. */
static int reg_get(oci_registry *r, const char *path, const char *accept, size_t max,
                   const char *what, resp *rs, hub_err *err)
{
    char url[URL_MAX + 600];
    snprintf(url, sizeof url, "%s%s", r->base, path);
    for (int attempt = 0;; attempt++) {
        if (get_small(r, url, accept, 1, max, NULL, rs, err) != 0)
            return -1;
        if (rs->status == 401 && attempt == 0 && rs->www_auth[0]) {
            char ch[HEADER_MAX];
            snprintf(ch, sizeof ch, "%s", rs->www_auth);
            resp_free(rs);
            if (authenticate(r, ch, err) != 0)
                return -1;
            continue;
        }
        if (rs->status == 200)
            return 0;
        status_error(r, rs->status, rs->body, rs->len, rs->retry_after, what, err);
        resp_free(rs);
        return -1;
    }
}

/* ---------------- manifests ---------------- */

/* Fetches the manifest `object` (tag or digest), verifying it against
 * `digest` when given. Returns the parsed document and its media type, or
 * NULL with err. */
static json_t *fetch_manifest(oci_registry *r, const char *object, const char *digest,
                              char *mt, size_t mtcap, char *got_digest, hub_err *err)
{
    char path[1024];
    snprintf(path, sizeof path, "/v2/%s/manifests/%s", r->ref.path, object);
    resp rs;
    if (reg_get(r, path, ACCEPT_MANIFESTS, MANIFEST_MAX, "manifest", &rs, err) != 0)
        return NULL;
    if (digest && !digest_matches(rs.body ? rs.body : "", rs.len, digest)) {
        resp_free(&rs);
        hub_err_setc(err, HUB_E_FAILED, "manifest %s: digest mismatch (the registry sent other bytes)",
                     digest);
        return NULL;
    }
    if (got_digest) {
        unsigned char md[32];
        unsigned int ml;
        char hex[SHA256_HEX_LEN + 1];
        EVP_Digest(rs.body ? rs.body : "", rs.len, md, &ml, EVP_sha256(), NULL);
        sha256_hex(md, hex);
        snprintf(got_digest, OCI_DIGEST_MAX, "sha256:%s", hex);
    }
    json_error_t je;
    json_t *doc = json_loadb(rs.body ? rs.body : "", rs.len, 0, &je);
    if (!json_is_object(doc)) {
        resp_free(&rs);
        json_decref(doc);
        hub_err_setc(err, HUB_E_INVALID, "manifest %s: not a JSON object", object);
        return NULL;
    }
    int kind = oci_manifest_kind(doc, rs.content_type, object, mt, mtcap, err);
    resp_free(&rs);
    if (kind < 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* For a registry allowed on plain HTTP, as Docker: https when it answers
 * TLS on /v2/, else http. */
static void choose_scheme(oci_registry *r)
{
    if (r->scheme_known)
        return;
    r->scheme_known = 1;
    int http = scheme_recall(r->ref.domain);
    if (http < 0) {
        char url[URL_MAX + 16];
        snprintf(url, sizeof url, "%s/v2/", r->base);
        resp rs;
        http = get_small(r, url, NULL, 0, TOKEN_REPLY_MAX, NULL, &rs, NULL) != 0;
        if (!http)
            resp_free(&rs);
        /* a TLS server whose certificate we refuse stays https (the error
         * will say why), and so does an unreachable one */
        if (http && (r->last_cc == CURLE_PEER_FAILED_VERIFICATION ||
                     r->last_cc == CURLE_SSL_CACERT_BADFILE || r->last_cc == CURLE_COULDNT_CONNECT ||
                     r->last_cc == CURLE_COULDNT_RESOLVE_HOST || r->last_cc == CURLE_OPERATION_TIMEDOUT))
            http = 0;
        else
            scheme_remember(r->ref.domain, http);
    }
    if (http)
        snprintf(r->base, sizeof r->base, "http://%s", oci_ref_api_host(&r->ref));
}

int oci_registry_resolve(oci_registry *r, oci_image *img, hub_err *err)
{
    memset(img, 0, sizeof *img);
    choose_scheme(r);
    img->ref = r->ref;
    char mt[256], dg[OCI_DIGEST_MAX];
    const char *want = r->ref.digest[0] ? r->ref.digest : NULL;
    json_t *doc = fetch_manifest(r, oci_ref_object(&r->ref), want, mt, sizeof mt, dg, err);
    if (!doc)
        return -1;
    if (oci_mt_is_index(mt)) {
        char sub[OCI_DIGEST_MAX], ref[600];
        oci_ref_string(&r->ref, ref, sizeof ref);
        int rc = oci_index_pick(doc, r->o->platform, ref, sub, img->platform, err);
        json_decref(doc);
        if (rc != 0)
            return -1;
        doc = fetch_manifest(r, sub, sub, mt, sizeof mt, dg, err);
        if (!doc)
            return -1;
        if (!oci_mt_is_manifest(mt)) {
            json_decref(doc);
            return hub_err_setc(err, HUB_E_INVALID, "unsupported media type %s inside an index", mt);
        }
    }
    snprintf(img->manifest_digest, sizeof img->manifest_digest, "%s", dg);
    char cdigest[OCI_DIGEST_MAX];
    uint64_t csize;
    if (oci_manifest_read(doc, r->o->max_image_size, img, cdigest, &csize, err) != 0)
        goto fail;
    /* the config blob */
    char path[1024];
    snprintf(path, sizeof path, "/v2/%s/blobs/%s", r->ref.path, cdigest);
    resp rs;
    if (reg_get(r, path, NULL, OCI_CONFIG_MAX, "config blob", &rs, err) != 0)
        goto fail;
    if (rs.len != csize || !digest_matches(rs.body ? rs.body : "", rs.len, cdigest)) {
        hub_err_setc(err, HUB_E_FAILED, "config blob %s: %s mismatch", cdigest,
                     rs.len != csize ? "size" : "digest");
        resp_free(&rs);
        goto fail;
    }
    img->config = json_loadb(rs.body ? rs.body : "", rs.len, 0, NULL);
    resp_free(&rs);
    if (!json_is_object(img->config)) {
        hub_err_setc(err, HUB_E_INVALID, "config blob %s: not a JSON object", cdigest);
        goto fail;
    }
    json_decref(doc);
    return 0;
fail:
    json_decref(doc);
    oci_image_clear(img);
    return -1;
}

void oci_image_clear(oci_image *img)
{
    for (size_t i = 0; i < img->n_layers; i++)
        if (img->layers[i].fd >= 0)
            close(img->layers[i].fd);
    free(img->layers);
    json_decref(img->config);
    memset(img, 0, sizeof *img);
}

/* ---------------- layer downloads ---------------- */

typedef struct xfer {
    oci_registry *r;
    size_t idx;
    oci_layer *layer;
    CURL *h;
    struct curl_slist *hdrs;
    int fd;
    char tmp[PATH_MAX];
    EVP_MD_CTX *md;
    uint64_t got;
    int overflow, io_error, auth_retried;
    char errbody[ERRBODY_MAX];
    size_t errlen;
    resp hdr;                 /* headers only (www_auth, retry_after) */
    char ebuf[CURL_ERROR_SIZE];
} xfer;

static size_t xfer_write(char *p, size_t sz, size_t n, void *ud)
{
    xfer *x = ud;
    size_t k = sz * n;
    long status = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        size_t room = sizeof x->errbody - 1 - x->errlen;
        size_t c = k < room ? k : room;
        memcpy(x->errbody + x->errlen, p, c);
        x->errlen += c;
        x->errbody[x->errlen] = '\0';
        return k;
    }
    if (x->got + k > x->layer->size) {
        x->overflow = 1;
        return 0;
    }
    EVP_DigestUpdate(x->md, p, k);
    for (size_t off = 0; off < k;) {
        ssize_t w = write(x->fd, p + off, k - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            x->io_error = errno ? errno : EIO;
            return 0;
        }
        off += (size_t)w;
    }
    x->got += k;
    if (x->r->o->progress)
        x->r->o->progress(x->r->o->progress_ud, x->idx, x->got, x->layer->size);
    return k;
}

/* The cache path of a digest, "<cache>/sha256/<hex>". */
static void cache_path(const oci_registry *r, const char *digest, char *out, size_t cap)
{
    snprintf(out, cap, "%s/sha256/%s", r->o->cache_dir, digest + strlen("sha256:"));
}

/* mkdir -p. Returns 0 or -1 with errno. */
static int mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || !*p) {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, mode) != 0 && errno != EEXIST)
                return -1;
            if (!c)
                return 0;
            *p = c;
        }
    }
}

/* Makes "<cache>/sha256". */
static int cache_prepare(const oci_registry *r, hub_err *err)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/sha256", r->o->cache_dir);
    if (mkdir_p(p, 0750) != 0)
        return hub_err_set(err, "layer cache %s: %m", p);
    return 0;
}

/* (Re)starts a transfer from byte 0 into a fresh temporary file. */
static int xfer_start(xfer *x, hub_err *err)
{
    oci_registry *r = x->r;
    if (x->fd < 0) {
        if (r->o->cache_dir) {
            snprintf(x->tmp, sizeof x->tmp, "%s/sha256/.part-%.16s-XXXXXX", r->o->cache_dir,
                     x->layer->digest + strlen("sha256:"));
        } else {
            const char *t = getenv("TMPDIR");
            snprintf(x->tmp, sizeof x->tmp, "%s/flist-layer-XXXXXX", t && *t ? t : "/tmp");
        }
        x->fd = mkostemp(x->tmp, O_CLOEXEC);
        if (x->fd < 0)
            return hub_err_set(err, "layer file %s: %m", x->tmp);
        if (!r->o->cache_dir) {   /* anonymous: gone when closed */
            unlink(x->tmp);
            x->tmp[0] = '\0';
        }
    } else if (ftruncate(x->fd, 0) != 0 || lseek(x->fd, 0, SEEK_SET) != 0) {
        return hub_err_set(err, "layer file: %m");
    }
    x->got = 0;
    x->errlen = 0;
    x->errbody[0] = '\0';
    if (!x->md && !(x->md = EVP_MD_CTX_new()))
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    EVP_DigestInit_ex(x->md, EVP_sha256(), NULL);
    if (x->h)
        curl_easy_cleanup(x->h);
    curl_slist_free_all(x->hdrs);
    x->hdrs = auth_headers(r, NULL);
    x->h = curl_easy_init();
    if (!x->h || (r->authz && !x->hdrs))
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    char url[URL_MAX + 600];
    snprintf(url, sizeof url, "%s/v2/%s/blobs/%s", r->base, r->ref.path, x->layer->digest);
    handle_setup(r, x->h, url, x->hdrs);
    memset(&x->hdr, 0, sizeof x->hdr);
    curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, xfer_write);
    curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, resp_header);
    curl_easy_setopt(x->h, CURLOPT_HEADERDATA, &x->hdr);
    curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->ebuf);
    curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
    x->ebuf[0] = '\0';
    return 0;
}

/* Releases a transfer; a failed one's temporary file is removed. */
static void xfer_end(xfer *x, int ok)
{
    if (x->h)
        curl_easy_cleanup(x->h);
    x->h = NULL;
    curl_slist_free_all(x->hdrs);
    x->hdrs = NULL;
    if (x->md)
        EVP_MD_CTX_free(x->md);
    x->md = NULL;
    if (!ok) {
        if (x->fd >= 0)
            close(x->fd);
        x->fd = -1;
        if (x->tmp[0])
            unlink(x->tmp);
        x->tmp[0] = '\0';
    }
}

/* A finished transfer: verified and moved into the cache (returns 0, the
 * layer's fd set), restarted after a 401 (returns 1), or failed (-1). */
static int xfer_done(xfer *x, CURLcode cc, hub_err *err)
{
    oci_registry *r = x->r;
    long status = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
    const char *dg = x->layer->digest;
    if (x->overflow)
        return hub_err_setc(err, HUB_E_FAILED, "layer %s: size mismatch: more than the %llu bytes "
                            "its descriptor gives", dg, (unsigned long long)x->layer->size);
    if (x->io_error)
        return hub_err_set(err, "layer %s: writing %s: %s", dg, x->tmp[0] ? x->tmp : "a temporary file",
                           strerror(x->io_error));
    if (cc != CURLE_OK && status == 200)
        return hub_err_setc(err, HUB_E_UNAVAILABLE, "layer %s: download from %s failed: %s", dg,
                            r->ref.domain, x->ebuf[0] ? x->ebuf : curl_easy_strerror(cc));
    if (cc != CURLE_OK && status == 0)
        return hub_err_setc(err, HUB_E_UNAVAILABLE, "registry %s unreachable: %s", r->ref.domain,
                            x->ebuf[0] ? x->ebuf : curl_easy_strerror(cc));
    if (status == 401 && !x->auth_retried && x->hdr.www_auth[0]) {
        x->auth_retried = 1;
        char ch[HEADER_MAX];
        snprintf(ch, sizeof ch, "%s", x->hdr.www_auth);
        if (authenticate(r, ch, err) != 0 || xfer_start(x, err) != 0)
            return -1;
        return 1;
    }
    if (status != 200) {
        char what[128];
        snprintf(what, sizeof what, "layer %s", dg);
        return status_error(r, status, x->errbody, x->errlen, x->hdr.retry_after, what, err);
    }
    unsigned char md[32];
    unsigned int ml = 0;
    char hex[SHA256_HEX_LEN + 1];
    EVP_DigestFinal_ex(x->md, md, &ml);
    sha256_hex(md, hex);
    if (x->got != x->layer->size)
        return hub_err_setc(err, HUB_E_FAILED, "layer %s: size mismatch: %llu bytes received, %llu "
                            "expected", dg, (unsigned long long)x->got,
                            (unsigned long long)x->layer->size);
    if (strcmp(hex, dg + strlen("sha256:")) != 0)
        return hub_err_setc(err, HUB_E_FAILED, "layer %s: digest mismatch: the bytes received hash "
                            "to sha256:%s", dg, hex);
    if (x->tmp[0]) {
        char final[PATH_MAX];
        cache_path(r, dg, final, sizeof final);
        if (rename(x->tmp, final) != 0)
            return hub_err_set(err, "layer cache %s: %m", final);
        x->tmp[0] = '\0';
    }
    if (lseek(x->fd, 0, SEEK_SET) != 0)
        return hub_err_set(err, "layer %s: rewind: %m", dg);
    x->layer->fd = x->fd;
    x->fd = -1;
    return 0;
}

/* Opens a cached layer; 1 when found (fd set), 0 when not. */
static int cache_lookup(oci_registry *r, oci_layer *l)
{
    if (!r->o->cache_dir)
        return 0;
    char p[PATH_MAX];
    cache_path(r, l->digest, p, sizeof p);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != l->size) {
        close(fd);
        unlink(p);   /* not what a verified download leaves: drop it */
        return 0;
    }
    futimens(fd, NULL);   /* recently used, for an operator's eviction by age */
    l->fd = fd;
    return 1;
}

int oci_registry_fetch(oci_registry *r, oci_image *img, hub_err *err)
{
    size_t n = img->n_layers;
    img->n_cached = 0;
    if (r->o->cache_dir && cache_prepare(r, err) != 0)
        return -1;
    xfer *xs = calloc(n ? n : 1, sizeof *xs);
    CURLM *m = curl_multi_init();
    if (!xs || !m) {
        free(xs);
        if (m)
            curl_multi_cleanup(m);
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    }
    size_t *todo = calloc(n ? n : 1, sizeof *todo), nt = 0;
    int rc = todo ? 0 : hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n && rc == 0; i++) {
        xs[i].fd = -1;
        xs[i].r = r;
        xs[i].idx = i;
        xs[i].layer = &img->layers[i];
        if (img->layers[i].fd >= 0)
            continue;
        if (cache_lookup(r, &img->layers[i])) {
            img->n_cached++;
            if (r->o->progress)
                r->o->progress(r->o->progress_ud, i, img->layers[i].size, img->layers[i].size);
            continue;
        }
        todo[nt++] = i;
    }
    int parallel = r->o->parallel > 0 ? r->o->parallel : OCI_DEFAULT_PARALLEL;
    size_t next = 0;
    int running = 0, active = 0;
    while (rc == 0 && (next < nt || active > 0)) {
        while (rc == 0 && next < nt && active < parallel) {
            xfer *x = &xs[todo[next++]];
            if (xfer_start(x, err) != 0 || curl_multi_add_handle(m, x->h) != CURLM_OK) {
                rc = -1;
                break;
            }
            active++;
        }
        if (rc != 0)
            break;
        if (curl_multi_perform(m, &running) != CURLM_OK) {
            rc = hub_err_set(err, "layer downloads: curl multi failed");
            break;
        }
        CURLMsg *msg;
        int left;
        while (rc == 0 && (msg = curl_multi_info_read(m, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            xfer *x = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            CURLcode cc = msg->data.result;
            curl_multi_remove_handle(m, x->h);
            active--;
            int d = xfer_done(x, cc, err);
            if (d == 1) {
                if (curl_multi_add_handle(m, x->h) != CURLM_OK)
                    rc = hub_err_set(err, "layer downloads: curl multi failed");
                else
                    active++;
            } else if (d == 0) {
                xfer_end(x, 1);
            } else {
                xfer_end(x, 0);
                rc = -1;
            }
        }
        if (rc == 0 && active > 0 && curl_multi_poll(m, NULL, 0, 1000, NULL) != CURLM_OK)
            rc = hub_err_set(err, "layer downloads: curl poll failed");
        char why[256] = "";
        hub_code stop = rc == 0 && r->o->cancelled ? r->o->cancelled(r->o->cancel_ud, why, sizeof why)
                                                   : HUB_OK;
        if (stop != HUB_OK)
            rc = hub_err_setc(err, stop, "layer downloads stopped: %s", why[0] ? why : "cancelled");
    }
    for (size_t i = 0; i < n; i++) {
        if (xs[i].h)
            curl_multi_remove_handle(m, xs[i].h);
        xfer_end(&xs[i], 0);
    }
    curl_multi_cleanup(m);
    free(xs);
    free(todo);
    if (rc != 0) {
        for (size_t i = 0; i < n; i++)
            if (img->layers[i].fd >= 0) {
                close(img->layers[i].fd);
                img->layers[i].fd = -1;
            }
    }
    return rc;
}
