/* config.h - the configuration shared by flist-hub-api and flist-hub-worker.
 *
 * File format (deployment/hub.conf.sample documents every key):
 *   # comment                     (whole line; also after a value: " # ...")
 *   key = value                   one key per line, surrounding blanks ignored
 *   key = "value"                 double quotes keep blanks and '#'
 *                                 (escapes \" \\ \n \t inside quotes)
 *   list-key = a, b, c            lists are comma separated
 *   map-key = k1=v1, k2=v2        maps are comma separated key=value pairs
 *   booleans: true/false, yes/no, on/off, 1/0
 *   sizes: integer with optional K, M, G, T suffix (powers of 1024)
 * Every key can be overridden by the environment variable HUB_<KEY>, the key
 * upper-cased with '-' turned into '_' (listen-port -> HUB_LISTEN_PORT).
 * Order: built-in defaults, then the file, then the environment. An unknown
 * key, a malformed value or an impossible combination makes config_load
 * fail with a message naming the key.
 *
 * Defaults run a local hub with no file at all: 127.0.0.1:5555, ./public
 * and ./workdir, Redis (queue and content backend) at 127.0.0.1:6379,
 * authentication off (user "Administrator", reachable from loopback only).
 */
#ifndef HUB_CONFIG_H
#define HUB_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "hub_err.h"

typedef struct hub_config {
    /* listening */
    char *listen_addr;            /* listen-addr, default "127.0.0.1" */
    int listen_port;              /* listen-port, default 5555 */

    /* directories (HUB-API.md §11.1); created at start when missing */
    char *userdata_root;          /* userdata-root-path, default "./public" */
    char *workdir_root;           /* workdir-root-path, default "./workdir" */
    char *public_dir;             /* public-directory, default <userdata>/users */
    char *flist_work_dir;         /* flist-work-directory, default <workdir>/temp */
    char *upload_dir;             /* upload-directory (spool), default <workdir>/distfiles */
    char *reply_cache_dir;        /* reply-cache-directory: replies computed from
                                     flists, shared by every replica (reply_store.h),
                                     default <workdir>/replies */
    uint64_t reply_cache_size;    /* reply-cache-size bytes on disk (2G); 0 = off */

    /* content backends */
    backend_url backend_internal; /* backend-internal-* keys or backend-internal-url */
    backend_url backend_public;   /* backend-public-host/port/name */
    int backend_public_port;      /* as configured (for .txt "zdb://h:p") */

    /* job queue */
    char *redis_url;              /* redis-url, default redis://127.0.0.1:6379/0 */
    int job_wait_timeout;         /* job-wait-timeout s: compat-mode wait (900) */
    int job_ttl;                  /* job-ttl s: job hash kept after its end (86400) */
    int job_reclaim_idle;         /* job-reclaim-idle s (60) */
    int job_heartbeat;            /* job-heartbeat s (10) */
    int job_max_deliveries;       /* job-max-deliveries (3) */
    int worker_threads;           /* worker-threads: 0 = CPU count */
    int worker_jobs;              /* worker-jobs: jobs run at once per worker (1) */
    int worker_backend_retries;   /* worker-backend-retries: attempts while the
                                     content backend does not answer (4) */
    int worker_backend_backoff_ms;/* worker-backend-backoff-ms: first wait,
                                     doubled each attempt (1000) */

    /* limits per job (a job past one fails naming it), quotas (0 = off) */
    int merge_max_sources;        /* merge-max-sources: flists one merge may take (50) */
    uint64_t flist_max_size;      /* flist-max-size: bytes an flist's database may expand to
                                     when the hub opens it, and all sources of a merge (256M) */
    uint64_t job_max_expanded_size; /* job-max-expanded-size: file content of a build,
                                       holes included, and its decompressed archive (32G) */
    int job_max_entries;          /* job-max-entries: entries of a build (1000000) */
    int job_max_depth;            /* job-max-depth: directory levels (256) */
    int job_max_duration;         /* job-max-duration s a job may run (3600; 0 = no limit) */
    uint64_t quota_job_stored;    /* quota-job-stored: bytes a job may store (0 = off) */
    uint64_t quota_user_stored_per_day; /* quota-user-stored-per-day: bytes a user may
                                       store per UTC day (0 = off) */

    /* container images, registry path (engine/oci_registry.h) */
    char *docker_layer_cache;     /* docker-layer-cache: verified layers by digest,
                                     default <workdir>/layers */
    uint64_t docker_layer_cache_max; /* docker-layer-cache-max: bytes of the layer cache,
                                       least recently used evicted (0 = no bound) */
    uint64_t docker_max_image_size; /* docker-max-image-size: compressed layers of
                                       one image (8G; 0 = no limit) */
    int docker_parallel_downloads;/* docker-parallel-downloads: layers at once (4) */
    char *docker_credentials_file;/* docker-credentials-file: Docker config.json with
                                     per-registry "auths"; NULL = none */
    char **docker_insecure_registries; /* docker-insecure-registries: host[:port]
                                     allowed over plain HTTP (besides localhost) */
    size_t n_docker_insecure_registries;
    char *docker_ca_file;         /* docker-ca-file: extra CA bundle; NULL = system */
    char *docker_engine;          /* docker-engine: off | default (every conversion through
                                     the daemon) | per-request (when the request asks) */
    char *docker_socket;          /* docker-socket: the daemon's unix socket */

    /* site */
    char *public_website;         /* public-website, no trailing '/' */
    char **official_repos;        /* official-repositories */
    size_t n_official_repos;
    char **allowed_extensions;    /* allowed-extensions */
    size_t n_allowed_extensions;
    int readonly;                 /* readonly */
    int debug;                    /* debug */
    char *web_root;               /* web-root: templates and static files of the web
                                     pages; NULL = found beside the binary (web.h) */

    /* authentication (HUB-API.md §12) */
    int authentication;           /* authentication */
    char *threebot_seed;          /* threebot-seed: 32 bytes as hex or base64
                                     (checked); NULL = not set */
    char *threebot_privatekey;    /* threebot-privatekey: 32-byte X25519 key as
                                     base64 or hex (checked); NULL = not set */
    char *threebot_appid;         /* threebot-appid */
    char *threebot_login_url;     /* threebot-login-url, default https://login.threefold.me */
    char **users_map_virtual;     /* threebot-users-map: virtual names ... */
    char **users_map_user;        /* ... and the threebot user each maps to */
    size_t n_users_map;
    char *guest_token;            /* guest-token, NULL = disabled */
    int token_max_age;            /* token-max-age s, 0 = unlimited (original) */
    char *jwt_public_key_file;    /* jwt-public-key: PEM file, NULL = JWT off */
    char *jwt_algorithm;          /* jwt-algorithm, default ES384 */
    int jwt_leeway;               /* jwt-leeway s: clock skew on exp/nbf (60) */
    char *session_key;            /* session-key: >= 32 bytes hex/base64 (checked);
                                     NULL = derived from threebot-seed */

    /* limits */
    int threads;                  /* threads: HTTP thread pool, 0 = CPU count */
    int max_connections;          /* max-connections (4096) */
    int max_connections_per_ip;   /* max-connections-per-ip (128; 0 = unlimited) */
    int connection_timeout;       /* connection-timeout s (60) */
    int request_header_timeout;   /* request-header-timeout s to send a request's headers,
                                     and of keep-alive idleness (15) */
    uint64_t request_body_min_rate; /* request-body-min-rate bytes/s a body must keep up
                                       (1K; 0 = none) */
    uint64_t connection_memory;   /* connection-memory-limit bytes (16K) */
    uint64_t max_upload_size;     /* max-upload-size bytes (4G) */
    uint64_t cache_size;          /* cache-size bytes (32M) */
    int listing_cache_ms;         /* listing-cache-ms: max staleness (1000) */
    int shutdown_grace;           /* shutdown-grace s: SIGTERM wait (30) */
    int housekeeping_interval;    /* housekeeping-interval s between the api's sweeps (600) */
    int spool_orphan_age;         /* spool-orphan-age s: an upload spool file this old that no
                                     queued or running job names is removed (600) */

    char *log_level;              /* log-level: debug|info|warn|error */
    char *log_format;             /* log-format: text|json */
} hub_config;

/* Loads the configuration: defaults, then `path` (NULL = no file; a path
 * that cannot be read is an error), then HUB_* environment variables.
 * Fills *cfg (free with config_free). Returns 0, or -1 with err naming the
 * key or the line ("hub.conf:12: listen-port: not an integer: x"). */
int config_load(const char *path, hub_config *cfg, hub_err *err);

/* Frees what config_load allocated (cfg itself is the caller's). */
void config_free(hub_config *cfg);

/* Creates each configured directory that is missing, parents included
 * (mode 0755). Returns 0 or -1 naming the directory. */
int config_make_dirs(const hub_config *cfg, hub_err *err);

/* 1 when `name` is one of the official repositories (HUB-API.md §11.7;
 * when authentication is off the list is ["Administrator"]). */
int config_is_official(const hub_config *cfg, const char *name);

/* Decodes a secret given as hex (2n digits) or standard/URL-safe base64
 * into exactly n bytes. Returns 0 or -1 with err. */
int config_decode_secret(const char *text, uint8_t *out, size_t n, hub_err *err);

/* Writes the list of every key with its default, one "key = value" line
 * each, to `out` (used by `flist-hub-api config-keys` and the docs test). */
void config_print_defaults(void *out_FILE);

#endif
