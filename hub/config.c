/* config.c - loading of the shared configuration file and its HUB_*
 * environment overrides (format and keys: config.h, deployment/hub.conf.sample).
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <sodium.h>

/* Every key with its built-in default ("" = empty). */
static const struct cfg_key {
    const char *name;
    const char *def;
} KEYS[] = {
    {"listen-addr", "127.0.0.1"},
    {"listen-port", "5555"},
    {"userdata-root-path", "./public"},
    {"workdir-root-path", "./workdir"},
    {"public-directory", ""},
    {"flist-work-directory", ""},
    {"upload-directory", ""},
    {"reply-cache-directory", ""},
    {"reply-cache-size", "2G"},
    {"backend-internal-kind", "redis"},
    {"backend-internal-host", "127.0.0.1"},
    {"backend-internal-port", "6379"},
    {"backend-internal-pass", ""},
    {"backend-internal-name", ""},
    {"backend-internal-token", ""},
    {"backend-public-host", "127.0.0.1"},
    {"backend-public-port", "6379"},
    {"backend-public-name", "default"},
    {"redis-url", "redis://127.0.0.1:6379/0"},
    {"job-wait-timeout", "900"},
    {"job-ttl", "86400"},
    {"job-reclaim-idle", "60"},
    {"job-heartbeat", "10"},
    {"job-max-deliveries", "3"},
    {"worker-threads", "0"},
    {"worker-jobs", "1"},
    {"worker-backend-retries", "4"},
    {"worker-backend-backoff-ms", "1000"},
    {"public-website", "http://127.0.0.1:5555"},
    {"official-repositories", "official-apps, dockers"},
    {"allowed-extensions", ".tar.gz, .tgz, .tar, .tar.zst, .tar.xz"},
    {"readonly", "false"},
    {"debug", "false"},
    {"authentication", "false"},
    {"threebot-seed", ""},
    {"threebot-privatekey", ""},
    {"threebot-appid", "127.0.0.1:5555"},
    {"threebot-login-url", "https://login.threefold.me"},
    {"threebot-users-map", ""},
    {"guest-token", ""},
    {"token-max-age", "0"},
    {"jwt-public-key", ""},
    {"jwt-algorithm", "ES384"},
    {"jwt-leeway", "60"},
    {"session-key", ""},
    {"threads", "0"},
    {"max-connections", "1024"},
    {"max-connections-per-ip", "0"},
    {"connection-timeout", "60"},
    {"connection-memory-limit", "16K"},
    {"max-upload-size", "4G"},
    {"cache-size", "32M"},
    {"listing-cache-ms", "1000"},
    {"shutdown-grace", "30"},
    {"log-level", "info"},
};
#define NKEYS (sizeof KEYS / sizeof KEYS[0])

/* Raw values while loading, and where each came from (for messages). */
typedef struct raw_values {
    char *v[NKEYS];
    char origin[NKEYS][300];
} raw_values;

static int key_index(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(KEYS[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int set_raw(raw_values *rv, int i, const char *value, const char *origin)
{
    char *copy = strdup(value);
    if (!copy)
        return -1;
    free(rv->v[i]);
    rv->v[i] = copy;
    snprintf(rv->origin[i], sizeof rv->origin[i], "%s", origin);
    return 0;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* Parses the value part of a line in place: a quoted string or a bare value
 * ending at " #". Returns 0 or -1 (unterminated quote). */
static int parse_value(char *s, char **out)
{
    s = trim(s);
    if (*s == '"') {
        char *w = s, *r = s + 1;
        for (;;) {
            if (*r == '\0')
                return -1;
            if (*r == '"')
                break;
            if (*r == '\\' && r[1]) {
                r++;
                *w++ = *r == 'n' ? '\n' : *r == 't' ? '\t' : *r;
                r++;
                continue;
            }
            *w++ = *r++;
        }
        *w = '\0';
        char *rest = trim(r + 1);
        if (*rest && *rest != '#')
            return -1;
        *out = s;
        return 0;
    }
    for (char *p = s; *p; p++) {
        if (*p == '#' && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            break;
        }
    }
    *out = trim(s);
    return 0;
}

static int read_file(const char *path, raw_values *rv, hub_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return hub_err_set(err, "config %s: %s", path, strerror(errno));
    char line[8192];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            rc = hub_err_set(err, "%s:%d: line too long", path, lineno);
            break;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = hub_err_set(err, "%s:%d: expected \"key = value\"", path, lineno);
            break;
        }
        *eq = '\0';
        char *key = trim(s), *value;
        int i = key_index(key);
        if (i < 0) {
            rc = hub_err_set(err, "%s:%d: unknown key \"%s\"", path, lineno, key);
            break;
        }
        if (parse_value(eq + 1, &value) < 0) {
            rc = hub_err_set(err, "%s:%d: %s: unterminated or malformed quoted value",
                             path, lineno, key);
            break;
        }
        char origin[300];
        snprintf(origin, sizeof origin, "%.250s:%d: ", path, lineno);
        if (set_raw(rv, i, value, origin) < 0) {
            rc = hub_err_set(err, "out of memory");
            break;
        }
    }
    if (rc == 0 && ferror(f))
        rc = hub_err_set(err, "config %s: read error", path);
    fclose(f);
    return rc;
}

static int read_env(raw_values *rv, hub_err *err)
{
    for (size_t i = 0; i < NKEYS; i++) {
        char var[128] = "HUB_";
        size_t n = 4;
        for (const char *k = KEYS[i].name; *k && n < sizeof var - 1; k++)
            var[n++] = *k == '-' ? '_' : (char)toupper((unsigned char)*k);
        var[n] = '\0';
        const char *v = getenv(var);
        if (!v)
            continue;
        char origin[300];
        snprintf(origin, sizeof origin, "environment %s: ", var);
        if (set_raw(rv, (int)i, v, origin) < 0)
            return hub_err_set(err, "out of memory");
    }
    return 0;
}

/* ---- conversions; each failure names the key and where it was set ---- */

#define KEYERR(rv, i, ...) key_error(rv, i, err, __VA_ARGS__)

static int key_error(raw_values *rv, int i, hub_err *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int key_error(raw_values *rv, int i, hub_err *err, const char *fmt, ...)
{
    char what[HUB_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return hub_err_set(err, "%s%s: %s", rv->origin[i], KEYS[i].name, what);
}

static const char *raw(raw_values *rv, const char *name)
{
    int i = key_index(name);
    return i >= 0 && rv->v[i] ? rv->v[i] : "";
}

static int get_str(raw_values *rv, const char *name, char **out, hub_err *err)
{
    *out = strdup(raw(rv, name));
    return *out ? 0 : hub_err_set(err, "out of memory");
}

static int get_int(raw_values *rv, const char *name, long min, long max, int *out, hub_err *err)
{
    int i = key_index(name);
    const char *s = raw(rv, name);
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno)
        return KEYERR(rv, i, "not an integer: \"%s\"", s);
    if (v < min || v > max)
        return KEYERR(rv, i, "%ld is out of range [%ld, %ld]", v, min, max);
    *out = (int)v;
    return 0;
}

static int get_size(raw_values *rv, const char *name, uint64_t *out, hub_err *err)
{
    int i = key_index(name);
    const char *s = raw(rv, name);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s == '\0' || *s == '-' || errno || end == s)
        return KEYERR(rv, i, "not a size: \"%s\"", s);
    unsigned shift = 0;
    switch (toupper((unsigned char)*end)) {
    case '\0': break;
    case 'K': shift = 10; end++; break;
    case 'M': shift = 20; end++; break;
    case 'G': shift = 30; end++; break;
    case 'T': shift = 40; end++; break;
    default: return KEYERR(rv, i, "not a size: \"%s\"", s);
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end != '\0')
        return KEYERR(rv, i, "not a size: \"%s\"", s);
    if (shift && v > (UINT64_MAX >> shift))
        return KEYERR(rv, i, "too large: \"%s\"", s);
    *out = (uint64_t)v << shift;
    return 0;
}

static int get_bool(raw_values *rv, const char *name, int *out, hub_err *err)
{
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    const char *s = raw(rv, name);
    for (int k = 0; k < 4; k++) {
        if (strcasecmp(s, yes[k]) == 0) { *out = 1; return 0; }
        if (strcasecmp(s, no[k]) == 0) { *out = 0; return 0; }
    }
    return KEYERR(rv, key_index(name), "not a boolean (true/false): \"%s\"", s);
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* Splits a comma separated list; empty items are dropped. */
static int get_list(raw_values *rv, const char *name, char ***out, size_t *n, hub_err *err)
{
    char *copy = strdup(raw(rv, name));
    if (!copy)
        return hub_err_set(err, "out of memory");
    size_t cap = 1;
    for (const char *p = copy; *p; p++)
        cap += *p == ',';
    char **v = calloc(cap, sizeof *v);
    size_t k = 0;
    if (!v) {
        free(copy);
        return hub_err_set(err, "out of memory");
    }
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *t = trim(tok);
        if (*t == '\0')
            continue;
        if (!(v[k] = strdup(t))) {
            strv_free(v, k);
            free(copy);
            return hub_err_set(err, "out of memory");
        }
        k++;
    }
    free(copy);
    *out = v;
    *n = k;
    return 0;
}

int config_decode_secret(const char *text, uint8_t *out, size_t n, hub_err *err)
{
    size_t len = strlen(text), got = 0;
    if (len == 2 * n &&
        sodium_hex2bin(out, n, text, len, NULL, &got, NULL) == 0 && got == n)
        return 0;
    const int variants[] = {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
                            sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING};
    for (int k = 0; k < 4; k++) {
        const char *end = NULL;
        if (sodium_base642bin(out, n, text, len, NULL, &got, &end, variants[k]) == 0 &&
            got == n && end == text + len)
            return 0;
    }
    sodium_memzero(out, n);
    return hub_err_set(err, "expected %zu bytes as hex (%zu digits) or base64", n, 2 * n);
}

/* A secret kept as text (the auth module decodes it) but checked here:
 * exactly n bytes, or at least n bytes when at_least is set. NULL = unset. */
static int get_secret(raw_values *rv, const char *name, size_t n, int at_least,
                      char **out, hub_err *err)
{
    const char *s = raw(rv, name);
    *out = NULL;
    if (*s == '\0')
        return 0;
    uint8_t buf[512];
    hub_err e;
    int ok = config_decode_secret(s, buf, n, &e) == 0;
    for (size_t m = n + 1; !ok && at_least && m <= sizeof buf; m++)
        ok = config_decode_secret(s, buf, m, &e) == 0;
    sodium_memzero(buf, sizeof buf);
    if (!ok)
        return KEYERR(rv, key_index(name), "%s", e.msg);
    return get_str(rv, name, out, err);
}

/* Copies the value of key `name` into out[cap]: empty when it is unset or
 * when no such key exists (a backend without a password key). Returns 0,
 * or -1 when the value is longer than cap - 1 bytes. */
static int get_fixed(raw_values *rv, const char *name, char *out, size_t cap, hub_err *err)
{
    const char *v = raw(rv, name);
    if (strlen(v) >= cap)
        return KEYERR(rv, key_index(name), "longer than %zu bytes", cap - 1);
    snprintf(out, cap, "%s", v);
    return 0;
}

static int get_backend(raw_values *rv, const char *prefix, backend_url *b, int *port_out, hub_err *err)
{
    char key[64];
    memset(b, 0, sizeof *b);
    snprintf(key, sizeof key, "%s-kind", prefix);
    const char *kind = key_index(key) >= 0 ? raw(rv, key) : "zdb";
    if (strcmp(kind, "redis") == 0)
        b->kind = BACKEND_REDIS;
    else if (strcmp(kind, "zdb") == 0)
        b->kind = BACKEND_ZDB;
    else
        return KEYERR(rv, key_index(key), "expected \"zdb\" or \"redis\", not \"%s\"", kind);

    snprintf(key, sizeof key, "%s-host", prefix);
    const char *host = raw(rv, key);
    if (*host == '\0' || strlen(host) >= sizeof b->host)
        return KEYERR(rv, key_index(key), "empty or longer than %zu bytes", sizeof b->host - 1);
    snprintf(b->host, sizeof b->host, "%s", host);

    snprintf(key, sizeof key, "%s-port", prefix);
    if (get_int(rv, key, 1, 65535, &b->port, err) < 0)
        return -1;
    if (port_out)
        *port_out = b->port;

    snprintf(key, sizeof key, "%s-name", prefix);
    if (get_fixed(rv, key, b->namespace_, sizeof b->namespace_, err) < 0)
        return -1;
    snprintf(key, sizeof key, "%s-pass", prefix);
    if (get_fixed(rv, key, b->password, sizeof b->password, err) < 0)
        return -1;
    snprintf(key, sizeof key, "%s-token", prefix);
    return get_fixed(rv, key, b->token, sizeof b->token, err);
}

static int get_dir(raw_values *rv, const char *name, const char *parent, const char *sub,
                   char **out, hub_err *err)
{
    const char *s = raw(rv, name);
    if (*s == '\0' && parent) {
        size_t n = strlen(parent) + strlen(sub) + 2;
        if (!(*out = malloc(n)))
            return hub_err_set(err, "out of memory");
        snprintf(*out, n, "%s/%s", parent, sub);
        return 0;
    }
    if (*s == '\0')
        return KEYERR(rv, key_index(name), "must not be empty");
    if (strlen(s) >= PATH_MAX - 300)
        return KEYERR(rv, key_index(name), "path too long");
    return get_str(rv, name, out, err);
}

static int get_users_map(raw_values *rv, hub_config *cfg, hub_err *err)
{
    char **items = NULL;
    size_t n = 0;
    int i = key_index("threebot-users-map");
    if (get_list(rv, "threebot-users-map", &items, &n, err) < 0)
        return -1;
    cfg->users_map_virtual = calloc(n + 1, sizeof(char *));
    cfg->users_map_user = calloc(n + 1, sizeof(char *));
    if (!cfg->users_map_virtual || !cfg->users_map_user) {
        strv_free(items, n);
        return hub_err_set(err, "out of memory");
    }
    for (size_t k = 0; k < n; k++) {
        char *eq = strchr(items[k], '=');
        if (!eq || eq == items[k] || eq[1] == '\0') {
            KEYERR(rv, i, "expected virtual=user pairs, got \"%s\"", items[k]);
            strv_free(items, n);
            return -1;
        }
        *eq = '\0';
        cfg->users_map_virtual[k] = strdup(trim(items[k]));
        cfg->users_map_user[k] = strdup(trim(eq + 1));
        cfg->n_users_map = k + 1;
        if (!cfg->users_map_virtual[k] || !cfg->users_map_user[k]) {
            strv_free(items, n);
            return hub_err_set(err, "out of memory");
        }
    }
    strv_free(items, n);
    return 0;
}

static int convert(raw_values *rv, hub_config *c, hub_err *err)
{
    if (get_str(rv, "listen-addr", &c->listen_addr, err) < 0 ||
        get_int(rv, "listen-port", 0, 65535, &c->listen_port, err) < 0 ||
        get_dir(rv, "userdata-root-path", NULL, NULL, &c->userdata_root, err) < 0 ||
        get_dir(rv, "workdir-root-path", NULL, NULL, &c->workdir_root, err) < 0 ||
        get_dir(rv, "public-directory", c->userdata_root, "users", &c->public_dir, err) < 0 ||
        get_dir(rv, "flist-work-directory", c->workdir_root, "temp", &c->flist_work_dir, err) < 0 ||
        get_dir(rv, "upload-directory", c->workdir_root, "distfiles", &c->upload_dir, err) < 0 ||
        get_dir(rv, "reply-cache-directory", c->workdir_root, "replies", &c->reply_cache_dir, err) < 0 ||
        get_size(rv, "reply-cache-size", &c->reply_cache_size, err) < 0 ||
        get_backend(rv, "backend-internal", &c->backend_internal, NULL, err) < 0 ||
        get_backend(rv, "backend-public", &c->backend_public, &c->backend_public_port, err) < 0 ||
        get_str(rv, "redis-url", &c->redis_url, err) < 0 ||
        get_int(rv, "job-wait-timeout", 1, 86400 * 7, &c->job_wait_timeout, err) < 0 ||
        get_int(rv, "job-ttl", 60, 86400 * 365, &c->job_ttl, err) < 0 ||
        get_int(rv, "job-reclaim-idle", 1, 86400, &c->job_reclaim_idle, err) < 0 ||
        get_int(rv, "job-heartbeat", 1, 3600, &c->job_heartbeat, err) < 0 ||
        get_int(rv, "job-max-deliveries", 1, 1000, &c->job_max_deliveries, err) < 0 ||
        get_int(rv, "worker-threads", 0, 1024, &c->worker_threads, err) < 0 ||
        get_int(rv, "worker-jobs", 1, 1024, &c->worker_jobs, err) < 0 ||
        get_int(rv, "worker-backend-retries", 1, 100, &c->worker_backend_retries, err) < 0 ||
        get_int(rv, "worker-backend-backoff-ms", 1, 600000, &c->worker_backend_backoff_ms, err) < 0 ||
        get_str(rv, "public-website", &c->public_website, err) < 0 ||
        get_list(rv, "official-repositories", &c->official_repos, &c->n_official_repos, err) < 0 ||
        get_list(rv, "allowed-extensions", &c->allowed_extensions, &c->n_allowed_extensions, err) < 0 ||
        get_bool(rv, "readonly", &c->readonly, err) < 0 ||
        get_bool(rv, "debug", &c->debug, err) < 0 ||
        get_bool(rv, "authentication", &c->authentication, err) < 0 ||
        get_secret(rv, "threebot-seed", 32, 0, &c->threebot_seed, err) < 0 ||
        get_secret(rv, "threebot-privatekey", 32, 0, &c->threebot_privatekey, err) < 0 ||
        get_str(rv, "threebot-appid", &c->threebot_appid, err) < 0 ||
        get_str(rv, "threebot-login-url", &c->threebot_login_url, err) < 0 ||
        get_users_map(rv, c, err) < 0 ||
        get_int(rv, "token-max-age", 0, INT_MAX, &c->token_max_age, err) < 0 ||
        get_str(rv, "jwt-algorithm", &c->jwt_algorithm, err) < 0 ||
        get_int(rv, "jwt-leeway", 0, 86400, &c->jwt_leeway, err) < 0 ||
        get_secret(rv, "session-key", 32, 1, &c->session_key, err) < 0 ||
        get_int(rv, "threads", 0, 1024, &c->threads, err) < 0 ||
        get_int(rv, "max-connections", 1, 1000000, &c->max_connections, err) < 0 ||
        get_int(rv, "max-connections-per-ip", 0, 1000000, &c->max_connections_per_ip, err) < 0 ||
        get_int(rv, "connection-timeout", 1, 86400, &c->connection_timeout, err) < 0 ||
        get_size(rv, "connection-memory-limit", &c->connection_memory, err) < 0 ||
        get_size(rv, "max-upload-size", &c->max_upload_size, err) < 0 ||
        get_size(rv, "cache-size", &c->cache_size, err) < 0 ||
        get_int(rv, "listing-cache-ms", 0, 3600000, &c->listing_cache_ms, err) < 0 ||
        get_int(rv, "shutdown-grace", 0, 3600, &c->shutdown_grace, err) < 0 ||
        get_str(rv, "log-level", &c->log_level, err) < 0)
        return -1;

    const char *guest = raw(rv, "guest-token");
    if (*guest && !(c->guest_token = strdup(guest)))
        return hub_err_set(err, "out of memory");
    const char *jwtkey = raw(rv, "jwt-public-key");
    if (*jwtkey && !(c->jwt_public_key_file = strdup(jwtkey)))
        return hub_err_set(err, "out of memory");

    /* cross-key checks */
    size_t wl = strlen(c->public_website);
    while (wl > 0 && c->public_website[wl - 1] == '/')
        c->public_website[--wl] = '\0';
    if (strncmp(c->redis_url, "redis://", 8) != 0 && strncmp(c->redis_url, "unix://", 7) != 0)
        return KEYERR(rv, key_index("redis-url"), "expected redis://host:port[/db] or unix://path, not \"%s\"",
                      c->redis_url);
    if (strcmp(c->log_level, "debug") && strcmp(c->log_level, "info") &&
        strcmp(c->log_level, "warn") && strcmp(c->log_level, "warning") && strcmp(c->log_level, "error"))
        return KEYERR(rv, key_index("log-level"), "expected debug, info, warn or error, not \"%s\"",
                      c->log_level);
    for (size_t k = 0; k < c->n_allowed_extensions; k++)
        if (c->allowed_extensions[k][0] != '.')
            return KEYERR(rv, key_index("allowed-extensions"), "\"%s\" does not start with '.'",
                          c->allowed_extensions[k]);
    if (strcmp(c->jwt_algorithm, "ES256") && strcmp(c->jwt_algorithm, "ES384") &&
        strcmp(c->jwt_algorithm, "ES512") && strcmp(c->jwt_algorithm, "RS256") &&
        strcmp(c->jwt_algorithm, "RS384") && strcmp(c->jwt_algorithm, "RS512"))
        return KEYERR(rv, key_index("jwt-algorithm"), "unsupported algorithm \"%s\"", c->jwt_algorithm);
    if (c->connection_memory < 8192)
        return KEYERR(rv, key_index("connection-memory-limit"), "must be at least 8K");
    if (c->authentication && !c->threebot_seed)
        return KEYERR(rv, key_index("authentication"),
                      "on, but threebot-seed is not set (32 bytes, hex or base64)");
    if (!c->authentication) {
        /* HUB-API.md §11.7: without authentication the official list is
         * ["Administrator"]. */
        strv_free(c->official_repos, c->n_official_repos);
        c->official_repos = calloc(1, sizeof(char *));
        if (!c->official_repos || !(c->official_repos[0] = strdup("Administrator")))
            return hub_err_set(err, "out of memory");
        c->n_official_repos = 1;
    }
    return 0;
}

int config_load(const char *path, hub_config *cfg, hub_err *err)
{
    if (sodium_init() < 0)
        return hub_err_set(err, "libsodium initialisation failed");
    memset(cfg, 0, sizeof *cfg);
    raw_values *rv = calloc(1, sizeof *rv);
    if (!rv)
        return hub_err_set(err, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < NKEYS && rc == 0; i++)
        if (set_raw(rv, (int)i, KEYS[i].def, "default ") < 0)
            rc = hub_err_set(err, "out of memory");
    if (rc == 0 && path)
        rc = read_file(path, rv, err);
    if (rc == 0)
        rc = read_env(rv, err);
    if (rc == 0)
        rc = convert(rv, cfg, err);
    for (size_t i = 0; i < NKEYS; i++) {
        if (rv->v[i])
            sodium_memzero(rv->v[i], strlen(rv->v[i]));
        free(rv->v[i]);
    }
    sodium_memzero(rv, sizeof *rv);
    free(rv);
    if (rc < 0)
        config_free(cfg);
    return rc;
}

void config_free(hub_config *c)
{
    if (!c)
        return;
    free(c->listen_addr);
    free(c->userdata_root);
    free(c->workdir_root);
    free(c->public_dir);
    free(c->flist_work_dir);
    free(c->upload_dir);
    free(c->reply_cache_dir);
    free(c->redis_url);
    free(c->public_website);
    strv_free(c->official_repos, c->n_official_repos);
    strv_free(c->allowed_extensions, c->n_allowed_extensions);
    free(c->threebot_appid);
    free(c->threebot_login_url);
    strv_free(c->users_map_virtual, c->n_users_map);
    strv_free(c->users_map_user, c->n_users_map);
    free(c->guest_token);
    free(c->jwt_public_key_file);
    free(c->jwt_algorithm);
    free(c->log_level);
    if (c->threebot_seed)
        sodium_memzero(c->threebot_seed, strlen(c->threebot_seed));
    free(c->threebot_seed);
    if (c->threebot_privatekey)
        sodium_memzero(c->threebot_privatekey, strlen(c->threebot_privatekey));
    free(c->threebot_privatekey);
    if (c->session_key)
        sodium_memzero(c->session_key, strlen(c->session_key));
    free(c->session_key);
    sodium_memzero(c, sizeof *c);
}

/* mkdir -p for one path. */
static int mkdirs(const char *path, hub_err *err)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return hub_err_set(err, "%s: path too long", path);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return hub_err_set(err, "cannot create directory %s: %s", buf, strerror(errno));
            *p = c;
            if (c == '\0')
                break;
        }
    }
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
        return hub_err_set(err, "%s is not a directory", path);
    return 0;
}

int config_make_dirs(const hub_config *c, hub_err *err)
{
    const char *dirs[] = {c->userdata_root, c->workdir_root, c->public_dir,
                          c->flist_work_dir, c->upload_dir, c->reply_cache_dir};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        if (mkdirs(dirs[i], err) < 0)
            return -1;
    return 0;
}

int config_is_official(const hub_config *c, const char *name)
{
    for (size_t i = 0; i < c->n_official_repos; i++)
        if (strcmp(c->official_repos[i], name) == 0)
            return 1;
    return 0;
}

void config_print_defaults(void *out_FILE)
{
    FILE *out = out_FILE;
    for (size_t i = 0; i < NKEYS; i++)
        fprintf(out, "%s = %s\n", KEYS[i].name, KEYS[i].def);
}
