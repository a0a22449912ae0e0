/* config.c - the shared configuration: one table of every key (name,
 * type, default, bounds, where it lands in hub_config, and a validator that
 * asks the code that will use the value), the file format and the HUB_*
 * environment overrides (config.h, deployment/hub.conf.sample).
 *
 * A key lives in one row of KEYS and nowhere else: the defaults
 * (`flist-hub-api config-defaults`), the parsing and the bounds come from
 * it, and a test checks that the sample file documents every row. Nothing
 * is accepted that the code then refuses: a validator runs the same check
 * as the consumer of the value (the queue's URL parser, the address
 * parser of the listener, the writer's thread limit...).
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "flist.h"

/* ---------------------------------------------------------------------- */
/* the table                                                              */
/* ---------------------------------------------------------------------- */

typedef enum key_type {
    KT_STRING,   /* char *, always set */
    KT_OPTSTR,   /* char *, NULL when empty */
    KT_BOOL,     /* int: true/false, yes/no, on/off, 1/0 */
    KT_INT,      /* int in [min, max] */
    KT_SIZE,     /* uint64_t in [min, max], K/M/G/T suffixes */
    KT_LIST,     /* char ** (comma separated), its count at aux */
    KT_DIR,      /* char *; empty: <char * at aux>/<sub> */
    KT_SECRET,   /* char *, NULL when empty: min bytes (up to max when max > min) as hex/base64 */
    KT_FIXED,    /* char[aux] */
    KT_KIND,     /* backend_kind: "redis" or "zdb" */
    KT_PAIRS,    /* threebot-users-map: a=b pairs into users_map_virtual/_user */
} key_type;

typedef struct config_key config_key;

/* A validator: given the configuration loaded so far (this key's field
 * set, and every key above it in the table), fills why and returns -1 when
 * the value is one the code would refuse. */
typedef int (*key_check)(const hub_config *c, const config_key *k, char *why, size_t n);

struct config_key {
    const char *name;
    key_type type;
    const char *def;       /* the default as text; "" = empty */
    size_t offset;         /* of the field in hub_config */
    long long min, max;    /* KT_INT, KT_SIZE, KT_SECRET */
    size_t aux;            /* KT_LIST: offset of the count; KT_DIR: offset of the parent;
                              KT_FIXED: capacity */
    const char *sub;       /* KT_DIR: the default's last component */
    key_check check;
};

#define F(field) offsetof(hub_config, field)
#define KEY(name_, type_, def_, field_) \
    .name = name_, .type = type_, .def = def_, .offset = F(field_)
#define URL_CAP(member) sizeof(((backend_url *)0)->member)

static int check_listen_addr(const hub_config *c, const config_key *k, char *why, size_t n);
static int check_redis_url(const hub_config *c, const config_key *k, char *why, size_t n);
static int check_extensions(const hub_config *c, const config_key *k, char *why, size_t n);
static int check_log_level(const hub_config *c, const config_key *k, char *why, size_t n);
static int check_log_format(const hub_config *c, const config_key *k, char *why, size_t n);
static int check_jwt_algorithm(const hub_config *c, const config_key *k, char *why, size_t n);
static int check_readable_file(const hub_config *c, const config_key *k, char *why, size_t n);
static int check_host(const hub_config *c, const config_key *k, char *why, size_t n);
static int check_docker_engine(const hub_config *c, const config_key *k, char *why, size_t n);

static const config_key KEYS[] = {
    /* listening */
    {KEY("listen-addr", KT_STRING, "127.0.0.1", listen_addr), .check = check_listen_addr},
    {KEY("listen-port", KT_INT, "5555", listen_port), .min = 0, .max = 65535},
    /* directories */
    {KEY("userdata-root-path", KT_DIR, "./public", userdata_root)},
    {KEY("workdir-root-path", KT_DIR, "./workdir", workdir_root)},
    {KEY("public-directory", KT_DIR, "", public_dir), .aux = F(userdata_root), .sub = "users"},
    {KEY("flist-work-directory", KT_DIR, "", flist_work_dir),
     .aux = F(workdir_root), .sub = "temp"},
    {KEY("upload-directory", KT_DIR, "", upload_dir), .aux = F(workdir_root), .sub = "distfiles"},
    {KEY("reply-cache-directory", KT_DIR, "", reply_cache_dir),
     .aux = F(workdir_root), .sub = "replies"},
    {KEY("reply-cache-size", KT_SIZE, "2G", reply_cache_size), .min = 0, .max = (long long)1 << 50},
    /* content backends */
    {KEY("backend-internal-kind", KT_KIND, "redis", backend_internal.kind)},
    {KEY("backend-internal-host", KT_FIXED, "127.0.0.1", backend_internal.host),
     .aux = URL_CAP(host), .check = check_host},
    {KEY("backend-internal-port", KT_INT, "6379", backend_internal.port), .min = 1, .max = 65535},
    {KEY("backend-internal-pass", KT_FIXED, "", backend_internal.password),
     .aux = URL_CAP(password)},
    {KEY("backend-internal-name", KT_FIXED, "", backend_internal.namespace_),
     .aux = URL_CAP(namespace_)},
    {KEY("backend-internal-token", KT_FIXED, "", backend_internal.token), .aux = URL_CAP(token)},
    {KEY("backend-public-host", KT_FIXED, "127.0.0.1", backend_public.host),
     .aux = URL_CAP(host), .check = check_host},
    {KEY("backend-public-port", KT_INT, "6379", backend_public.port), .min = 1, .max = 65535},
    {KEY("backend-public-name", KT_FIXED, "default", backend_public.namespace_),
     .aux = URL_CAP(namespace_)},
    /* job queue */
    {KEY("redis-url", KT_STRING, "redis://127.0.0.1:6379/0", redis_url), .check = check_redis_url},
    {KEY("job-wait-timeout", KT_INT, "900", job_wait_timeout), .min = 1, .max = 86400 * 7},
    {KEY("job-ttl", KT_INT, "86400", job_ttl), .min = 60, .max = 86400 * 365},
    {KEY("job-reclaim-idle", KT_INT, "60", job_reclaim_idle), .min = 1, .max = 86400},
    {KEY("job-heartbeat", KT_INT, "10", job_heartbeat), .min = 1, .max = 3600},
    {KEY("job-max-deliveries", KT_INT, "3", job_max_deliveries), .min = 1, .max = 1000},
    {KEY("worker-threads", KT_INT, "0", worker_threads), .min = 0, .max = FLIST_WRITER_MAX_THREADS},
    {KEY("worker-jobs", KT_INT, "1", worker_jobs), .min = 1, .max = 1024},
    {KEY("worker-backend-retries", KT_INT, "4", worker_backend_retries), .min = 1, .max = 100},
    {KEY("worker-backend-backoff-ms", KT_INT, "1000", worker_backend_backoff_ms),
     .min = 1, .max = 600000},
    /* limits per job, quotas */
    {KEY("merge-max-sources", KT_INT, "50", merge_max_sources), .min = 1, .max = 10000},
    {KEY("flist-max-size", KT_SIZE, "256M", flist_max_size), .min = 1 << 20,
     .max = (long long)16 << 30},
    {KEY("job-max-expanded-size", KT_SIZE, "32G", job_max_expanded_size), .min = 1 << 20,
     .max = (long long)1 << 50},
    {KEY("job-max-entries", KT_INT, "1000000", job_max_entries), .min = 1, .max = 1000000000},
    {KEY("job-max-depth", KT_INT, "256", job_max_depth), .min = 1, .max = FLIST_MAX_DEPTH},
    {KEY("job-max-duration", KT_INT, "3600", job_max_duration), .min = 0, .max = 86400 * 7},
    {KEY("quota-job-stored", KT_SIZE, "0", quota_job_stored), .min = 0, .max = (long long)1 << 50},
    {KEY("quota-user-stored-per-day", KT_SIZE, "0", quota_user_stored_per_day), .min = 0,
     .max = (long long)1 << 50},
    /* container images, registry path (engine/oci_registry.h) */
    {KEY("docker-layer-cache", KT_DIR, "", docker_layer_cache),
     .aux = F(workdir_root), .sub = "layers"},
    {KEY("docker-layer-cache-max", KT_SIZE, "10G", docker_layer_cache_max), .min = 0,
     .max = (long long)1 << 50},
    {KEY("docker-max-image-size", KT_SIZE, "8G", docker_max_image_size), .min = 0,
     .max = (long long)1 << 50},
    {KEY("docker-parallel-downloads", KT_INT, "4", docker_parallel_downloads), .min = 1, .max = 64},
    {KEY("docker-credentials-file", KT_OPTSTR, "", docker_credentials_file),
     .check = check_readable_file},
    {KEY("docker-insecure-registries", KT_LIST, "", docker_insecure_registries),
     .aux = F(n_docker_insecure_registries)},
    {KEY("docker-ca-file", KT_OPTSTR, "", docker_ca_file), .check = check_readable_file},
    /* container images, engine path (engine/docker_engine.h) */
    {KEY("docker-engine", KT_STRING, "off", docker_engine), .check = check_docker_engine},
    {KEY("docker-socket", KT_STRING, "/var/run/docker.sock", docker_socket)},
    /* site */
    {KEY("public-website", KT_STRING, "http://127.0.0.1:5555", public_website)},
    {KEY("official-repositories", KT_LIST, "official-apps, dockers", official_repos),
     .aux = F(n_official_repos)},
    {KEY("allowed-extensions", KT_LIST, ".tar.gz, .tgz, .tar, .tar.zst, .tar.xz",
         allowed_extensions),
     .aux = F(n_allowed_extensions), .check = check_extensions},
    {KEY("readonly", KT_BOOL, "false", readonly)},
    {KEY("debug", KT_BOOL, "false", debug)},
    {KEY("web-root", KT_OPTSTR, "", web_root)},
    /* authentication */
    {KEY("authentication", KT_BOOL, "false", authentication)},
    {KEY("threebot-seed", KT_SECRET, "", threebot_seed), .min = 32, .max = 32},
    {KEY("threebot-privatekey", KT_SECRET, "", threebot_privatekey), .min = 32, .max = 32},
    {KEY("threebot-appid", KT_STRING, "127.0.0.1:5555", threebot_appid)},
    {KEY("threebot-login-url", KT_STRING, "https://login.threefold.me", threebot_login_url)},
    {KEY("threebot-users-map", KT_PAIRS, "", listen_addr) /* unused */},
    {KEY("guest-token", KT_OPTSTR, "", guest_token)},
    {KEY("token-max-age", KT_INT, "0", token_max_age), .min = 0, .max = INT_MAX},
    {KEY("jwt-public-key", KT_OPTSTR, "", jwt_public_key_file), .check = check_readable_file},
    {KEY("jwt-algorithm", KT_STRING, "ES384", jwt_algorithm), .check = check_jwt_algorithm},
    {KEY("jwt-leeway", KT_INT, "60", jwt_leeway), .min = 0, .max = 86400},
    {KEY("session-key", KT_SECRET, "", session_key), .min = 32, .max = 512},
    /* limits */
    {KEY("threads", KT_INT, "0", threads), .min = 0, .max = 1024},
    {KEY("max-connections", KT_INT, "4096", max_connections), .min = 1, .max = 1000000},
    {KEY("max-connections-per-ip", KT_INT, "128", max_connections_per_ip), .min = 0, .max = 1000000},
    {KEY("request-header-timeout", KT_INT, "15", request_header_timeout), .min = 1, .max = 3600},
    {KEY("request-body-min-rate", KT_SIZE, "1K", request_body_min_rate), .min = 0,
     .max = (long long)1 << 40},
    {KEY("connection-timeout", KT_INT, "60", connection_timeout), .min = 1, .max = 86400},
    {KEY("connection-memory-limit", KT_SIZE, "16K", connection_memory),
     .min = 8192, .max = 16 << 20},
    {KEY("max-upload-size", KT_SIZE, "4G", max_upload_size), .min = 0, .max = (long long)1 << 50},
    {KEY("cache-size", KT_SIZE, "32M", cache_size), .min = 0, .max = (long long)1 << 40},
    {KEY("listing-cache-ms", KT_INT, "1000", listing_cache_ms), .min = 0, .max = 3600000},
    {KEY("shutdown-grace", KT_INT, "30", shutdown_grace), .min = 0, .max = 3600},
    {KEY("housekeeping-interval", KT_INT, "600", housekeeping_interval), .min = 1, .max = 86400},
    {KEY("spool-orphan-age", KT_INT, "600", spool_orphan_age), .min = 60, .max = 86400 * 30},
    {KEY("log-level", KT_STRING, "info", log_level), .check = check_log_level},
    {KEY("log-format", KT_STRING, "text", log_format), .check = check_log_format},
};
#define NKEYS (sizeof KEYS / sizeof KEYS[0])

/* The field of key k in c. */
static void *field(hub_config *c, const config_key *k)
{
    return (char *)c + k->offset;
}

static const void *cfield(const hub_config *c, const config_key *k)
{
    return (const char *)c + k->offset;
}

static const char *str_field(const hub_config *c, const config_key *k)
{
    return *(char *const *)cfield(c, k);
}

/* ---------------------------------------------------------------------- */
/* validators: the same checks as the code that uses the values           */
/* ---------------------------------------------------------------------- */

/* The listener binds an IPv4 or IPv6 literal (api/server.c). */
static int check_listen_addr(const hub_config *c, const config_key *k, char *why, size_t n)
{
    unsigned char buf[sizeof(struct in6_addr)];
    const char *v = str_field(c, k);
    if (inet_pton(AF_INET, v, buf) == 1 || inet_pton(AF_INET6, v, buf) == 1)
        return 0;
    snprintf(why, n, "\"%s\" is not an IPv4 or IPv6 address", v);
    return -1;
}

/* The job queue connects with backend_url_parse and accepts redis:// only
 * (queue_connect); unix:// was accepted here once and then refused by
 * every worker in a loop. */
static int check_redis_url(const hub_config *c, const config_key *k, char *why, size_t n)
{
    const char *v = str_field(c, k);
    backend_url u;
    hub_err e;
    int scheme = strncmp(v, "redis://", 8) == 0;
    if (scheme && backend_url_parse(v, &u, &e) == 0)
        return 0;
    snprintf(why, n, "expected redis://[:password@]host[:port][/db], not \"%s\"%s%s", v,
             scheme ? ": " : "", scheme ? e.msg : "");
    return -1;
}

static int check_extensions(const hub_config *c, const config_key *k, char *why, size_t n)
{
    for (size_t i = 0; i < c->n_allowed_extensions; i++) {
        if (c->allowed_extensions[i][0] != '.') {
            snprintf(why, n, "\"%s\" does not start with '.'", c->allowed_extensions[i]);
            return -1;
        }
    }
    return 0;
}

/* Returns 0 when v is one of the NULL-terminated words, else fills why. */
static int one_of(const char *v, const char *const *words, const char *expected, char *why, size_t n)
{
    for (size_t i = 0; words[i]; i++)
        if (strcmp(v, words[i]) == 0)
            return 0;
    snprintf(why, n, "expected %s, not \"%s\"", expected, v);
    return -1;
}

static int check_log_level(const hub_config *c, const config_key *k, char *why, size_t n)
{
    static const char *const levels[] = {"debug", "info", "warn", "warning", "error", NULL};
    return one_of(str_field(c, k), levels, "debug, info, warn or error", why, n);
}

static int check_log_format(const hub_config *c, const config_key *k, char *why, size_t n)
{
    static const char *const formats[] = {"text", "json", NULL};
    return one_of(str_field(c, k), formats, "text or json", why, n);
}

static int check_jwt_algorithm(const hub_config *c, const config_key *k, char *why, size_t n)
{
    static const char *const algs[] = {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", NULL};
    if (one_of(str_field(c, k), algs, "ES256/384/512 or RS256/384/512", why, n) == 0)
        return 0;
    snprintf(why, n, "unsupported algorithm \"%s\"", str_field(c, k));
    return -1;
}

static int check_docker_engine(const hub_config *c, const config_key *k, char *why, size_t n)
{
    static const char *const modes[] = {"off", "default", "per-request", NULL};
    return one_of(str_field(c, k), modes, "off, default or per-request", why, n);
}

/* The api reads the file at start. */
static int check_readable_file(const hub_config *c, const config_key *k, char *why, size_t n)
{
    const char *v = str_field(c, k);
    if (!v || access(v, R_OK) == 0)
        return 0;
    snprintf(why, n, "%s: %s", v, strerror(errno));
    return -1;
}

static int check_host(const hub_config *c, const config_key *k, char *why, size_t n)
{
    if (*(const char *)cfield(c, k))
        return 0;
    snprintf(why, n, "must not be empty");
    return -1;
}

/* ---------------------------------------------------------------------- */
/* raw values: defaults, then the file, then the environment              */
/* ---------------------------------------------------------------------- */

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
    if (rv->v[i])
        sodium_memzero(rv->v[i], strlen(rv->v[i]));
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
        return hub_err_setc(err, HUB_E_INVALID, "config %s: %s", path, strerror(errno));
    char line[8192];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            rc = hub_err_setc(err, HUB_E_INVALID, "%s:%d: line too long", path, lineno);
            break;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = hub_err_setc(err, HUB_E_INVALID, "%s:%d: expected \"key = value\"", path, lineno);
            break;
        }
        *eq = '\0';
        char *key = trim(s), *value;
        int i = key_index(key);
        if (i < 0) {
            rc = hub_err_setc(err, HUB_E_INVALID, "%s:%d: unknown key \"%s\"", path, lineno, key);
            break;
        }
        if (parse_value(eq + 1, &value) < 0) {
            rc = hub_err_setc(err, HUB_E_INVALID, "%s:%d: %s: unterminated or malformed quoted value",
                              path, lineno, key);
            break;
        }
        char origin[300];
        snprintf(origin, sizeof origin, "%.250s:%d: ", path, lineno);
        if (set_raw(rv, i, value, origin) < 0) {
            rc = hub_err_setc(err, HUB_E_NOMEM, "out of memory");
            break;
        }
    }
    if (rc == 0 && ferror(f))
        rc = hub_err_setc(err, HUB_E_INVALID, "config %s: read error", path);
    fclose(f);
    return rc;
}

/* HUB_<KEY>: upper case, '-' -> '_'. */
static void env_name(const char *key, char *out, size_t n)
{
    size_t o = snprintf(out, n, "HUB_");
    for (const char *k = key; *k && o + 1 < n; k++)
        out[o++] = *k == '-' ? '_' : (char)toupper((unsigned char)*k);
    out[o] = '\0';
}

static int read_env(raw_values *rv, hub_err *err)
{
    for (size_t i = 0; i < NKEYS; i++) {
        char var[128];
        env_name(KEYS[i].name, var, sizeof var);
        const char *v = getenv(var);
        if (!v)
            continue;
        char origin[300];
        snprintf(origin, sizeof origin, "environment %s: ", var);
        if (set_raw(rv, (int)i, v, origin) < 0)
            return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* conversion of each row                                                 */
/* ---------------------------------------------------------------------- */

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* Splits a comma separated list; empty items are dropped. Returns 0, or -1
 * when out of memory. */
static int split_list(const char *text, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    char *copy = strdup(text);
    if (!copy)
        return -1;
    size_t cap = 1;
    for (const char *p = copy; *p; p++)
        cap += *p == ',';
    char **v = calloc(cap, sizeof *v);
    size_t k = 0;
    char *save = NULL;
    for (char *tok = v ? strtok_r(copy, ",", &save) : NULL; tok; tok = strtok_r(NULL, ",", &save)) {
        char *t = trim(tok);
        if (*t == '\0')
            continue;
        if (!(v[k] = strdup(t))) {
            strv_free(v, k);
            free(copy);
            return -1;
        }
        k++;
    }
    free(copy);
    if (!v)
        return -1;
    *out = v;
    *n = k;
    return 0;
}

static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s == '\0' || *s == '-' || errno || end == s)
        return -1;
    unsigned shift = 0;
    switch (toupper((unsigned char)*end)) {
    case '\0': break;
    case 'K': shift = 10; end++; break;
    case 'M': shift = 20; end++; break;
    case 'G': shift = 30; end++; break;
    case 'T': shift = 40; end++; break;
    default: return -1;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end != '\0' || (shift && v > (UINT64_MAX >> shift)))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (int k = 0; k < 4; k++) {
        if (strcasecmp(s, yes[k]) == 0) { *out = 1; return 0; }
        if (strcasecmp(s, no[k]) == 0) { *out = 0; return 0; }
    }
    return -1;
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

/* threebot-users-map: virtual=user pairs. Returns 0, or -1 with why. */
static int parse_pairs(hub_config *c, const char *text, char *why, size_t n)
{
    char **items = NULL;
    size_t cnt = 0;
    if (split_list(text, &items, &cnt) < 0)
        return snprintf(why, n, "out of memory"), -1;
    c->users_map_virtual = calloc(cnt + 1, sizeof(char *));
    c->users_map_user = calloc(cnt + 1, sizeof(char *));
    int rc = c->users_map_virtual && c->users_map_user ? 0 : (snprintf(why, n, "out of memory"), -1);
    for (size_t k = 0; rc == 0 && k < cnt; k++) {
        char *eq = strchr(items[k], '=');
        if (!eq || eq == items[k] || eq[1] == '\0') {
            snprintf(why, n, "expected virtual=user pairs, got \"%s\"", items[k]);
            rc = -1;
            break;
        }
        *eq = '\0';
        c->users_map_virtual[k] = strdup(trim(items[k]));
        c->users_map_user[k] = strdup(trim(eq + 1));
        c->n_users_map = k + 1;
        if (!c->users_map_virtual[k] || !c->users_map_user[k])
            rc = (snprintf(why, n, "out of memory"), -1);
    }
    strv_free(items, cnt);
    return rc;
}

/* Converts the text of row k into its field. Returns 0, or -1 with why. */
static int convert_key(hub_config *c, const config_key *k, const char *v, char *why, size_t n)
{
    void *f = field(c, k);
    switch (k->type) {
    case KT_STRING:
        return (*(char **)f = strdup(v)) ? 0 : (snprintf(why, n, "out of memory"), -1);
    case KT_OPTSTR:
        if (*v == '\0')
            return 0;
        return (*(char **)f = strdup(v)) ? 0 : (snprintf(why, n, "out of memory"), -1);
    case KT_BOOL:
        if (parse_bool(v, (int *)f) == 0)
            return 0;
        snprintf(why, n, "not a boolean (true/false): \"%s\"", v);
        return -1;
    case KT_INT: {
        char *end;
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (*v == '\0' || *end != '\0' || errno) {
            snprintf(why, n, "not an integer: \"%s\"", v);
            return -1;
        }
        if (x < k->min || x > k->max) {
            snprintf(why, n, "%lld is out of range [%lld, %lld]", x, k->min, k->max);
            return -1;
        }
        *(int *)f = (int)x;
        return 0;
    }
    case KT_SIZE: {
        uint64_t x;
        if (parse_size(v, &x) < 0) {
            snprintf(why, n, "not a size: \"%s\"", v);
            return -1;
        }
        if (x < (uint64_t)k->min || x > (uint64_t)k->max) {
            snprintf(why, n, "%s is out of range [%lld, %lld] bytes", v, k->min, k->max);
            return -1;
        }
        *(uint64_t *)f = x;
        return 0;
    }
    case KT_LIST:
        if (split_list(v, (char ***)f, (size_t *)((char *)c + k->aux)) == 0)
            return 0;
        snprintf(why, n, "out of memory");
        return -1;
    case KT_DIR: {
        if (*v == '\0' && !k->sub) {
            snprintf(why, n, "must not be empty");
            return -1;
        }
        char *path = NULL;
        if (*v == '\0') {
            const char *parent = *(char **)((char *)c + k->aux);
            if (asprintf(&path, "%s/%s", parent, k->sub) < 0)
                path = NULL;
        } else if (strlen(v) >= PATH_MAX - 300) {
            snprintf(why, n, "path too long");
            return -1;
        } else {
            path = strdup(v);
        }
        *(char **)f = path;
        return path ? 0 : (snprintf(why, n, "out of memory"), -1);
    }
    case KT_SECRET: {
        if (*v == '\0')
            return 0;
        uint8_t buf[512];
        hub_err e;
        int ok = 0;
        for (long long m = k->min; !ok && m <= k->max && m <= (long long)sizeof buf; m++)
            ok = config_decode_secret(v, buf, (size_t)m, &e) == 0;
        sodium_memzero(buf, sizeof buf);
        if (!ok) {
            snprintf(why, n, "%s", e.msg);
            return -1;
        }
        return (*(char **)f = strdup(v)) ? 0 : (snprintf(why, n, "out of memory"), -1);
    }
    case KT_FIXED:
        if (strlen(v) >= k->aux) {
            snprintf(why, n, "longer than %zu bytes", k->aux - 1);
            return -1;
        }
        snprintf((char *)f, k->aux, "%s", v);
        return 0;
    case KT_KIND:
        if (strcmp(v, "redis") == 0)
            *(backend_kind *)f = BACKEND_REDIS;
        else if (strcmp(v, "zdb") == 0)
            *(backend_kind *)f = BACKEND_ZDB;
        else {
            snprintf(why, n, "expected \"zdb\" or \"redis\", not \"%s\"", v);
            return -1;
        }
        return 0;
    case KT_PAIRS:
        return parse_pairs(c, v, why, n);
    }
    snprintf(why, n, "unknown key type");
    return -1;
}

/* Checks that span several keys, and the values derived from others. */
static int finish(hub_config *c, raw_values *rv, hub_err *err)
{
    /* flists in the field point to 0-db: the public backend is one */
    c->backend_public.kind = BACKEND_ZDB;
    c->backend_public_port = c->backend_public.port;
    size_t wl = strlen(c->public_website);
    while (wl > 0 && c->public_website[wl - 1] == '/')
        c->public_website[--wl] = '\0';
    if (c->spool_orphan_age <= c->connection_timeout) {
        /* an upload stalled for connection-timeout is dropped by the
         * server: only a spool file older than that can be an orphan */
        int i = key_index("spool-orphan-age");
        return hub_err_setc(err, HUB_E_INVALID, "%s%s: must be longer than connection-timeout (%d s)",
                            rv->origin[i], KEYS[i].name, c->connection_timeout);
    }
    if (c->authentication && !c->threebot_seed) {
        int i = key_index("authentication");
        return hub_err_setc(err, HUB_E_INVALID, "%s%s: on, but threebot-seed is not set "
                            "(32 bytes, hex or base64)", rv->origin[i], KEYS[i].name);
    }
    if (!c->authentication) {
        /* HUB-API.md §11.7: without authentication the official list is
         * ["Administrator"]. */
        strv_free(c->official_repos, c->n_official_repos);
        c->official_repos = calloc(1, sizeof(char *));
        c->n_official_repos = 0;
        if (!c->official_repos || !(c->official_repos[0] = strdup("Administrator")))
            return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
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
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < NKEYS && rc == 0; i++)
        if (set_raw(rv, (int)i, KEYS[i].def, "default ") < 0)
            rc = hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    if (rc == 0 && path)
        rc = read_file(path, rv, err);
    if (rc == 0)
        rc = read_env(rv, err);
    for (size_t i = 0; i < NKEYS && rc == 0; i++) {
        char why[HUB_ERR_MAX];
        why[0] = '\0';
        if (convert_key(cfg, &KEYS[i], rv->v[i], why, sizeof why) != 0 ||
            (KEYS[i].check && KEYS[i].check(cfg, &KEYS[i], why, sizeof why) != 0))
            rc = hub_err_setc(err, HUB_E_INVALID, "%s%s: %s", rv->origin[i], KEYS[i].name, why);
    }
    if (rc == 0)
        rc = finish(cfg, rv, err);
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
    for (size_t i = 0; i < NKEYS; i++) {
        const config_key *k = &KEYS[i];
        void *f = field(c, k);
        switch (k->type) {
        case KT_STRING:
        case KT_OPTSTR:
        case KT_DIR:
        case KT_SECRET:
            if (*(char **)f)
                sodium_memzero(*(char **)f, strlen(*(char **)f));
            free(*(char **)f);
            break;
        case KT_LIST:
            strv_free(*(char ***)f, *(size_t *)((char *)c + k->aux));
            break;
        case KT_PAIRS:
            strv_free(c->users_map_virtual, c->n_users_map);
            strv_free(c->users_map_user, c->n_users_map);
            break;
        default:
            break;
        }
    }
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
