/* server.c - flist-hub-api's HTTP server core on libmicrohttpd (server.h):
 * daemon options, request parsing and routing, authentication gate, body
 * feeding, metrics, connection pool to Redis and the graceful stop. */
#include "server.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "qpool.h"
#include "request.h"
#include "waiters.h"
#include "cache.h"
#include "conn_guard.h"
#include "errors.h"
#include "flist.h"
#include "housekeeping.h"
#include "log.h"
#include "reply_store.h"
#include "metrics.h"
#include "router.h"
#include "singleflight.h"
#include "upload.h"
#include "web.h"

/* r->refusal_gate: the refusal is the web gate's (redirect or 403). */
#define REFUSAL_WEB 2

/* ------------------------------------------------------------------ */
/* requests                                                            */
/* ------------------------------------------------------------------ */

/* Requests between their first call and their completion. */
static _Atomic int g_inflight;

static enum MHD_Result reply_options(api_req *r, unsigned allow)
{
    char hdr[128];
    router_allow_header(allow, hdr, sizeof hdr);
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, hdr);
    return api_respond(r, 200, resp);
}

static enum MHD_Result reply_405(api_req *r, unsigned allow)
{
    char hdr[128];
    router_allow_header(allow, hdr, sizeof hdr);
    char *body = NULL;
    int n = asprintf(&body, "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n"
                            "<title>405 Method Not Allowed</title>\n<h1>Method Not Allowed</h1>\n"
                            "<p>The method is not allowed for the requested URL.</p>\n");
    if (n < 0)
        return MHD_NO;
    struct MHD_Response *resp = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, hdr);
    return api_respond(r, 405, resp);
}

/* The API gate (§12.4): 0 when the request may go on, else the refusal's
 * status (r->auth.message says why). */
static int gate_check(api_req *r)
{
    r->gated = 1;
    const char *authz = api_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *active = api_cookie(r, "active-user");
    if (auth_api_gate(r->srv->auth, authz, active, api_unix_now(), &r->auth) == 0)
        return 0;
    return r->auth.status;
}

/* The reply for a request that routing refused (404, 405, OPTIONS, NUL). */
static enum MHD_Result reply_unrouted(api_req *r)
{
    if (r->route_rc == -1)
        return api_page(r, 404);
    if (strcmp(r->method, "OPTIONS") == 0)
        return r->route_rc == 404 ? api_page(r, 404) : reply_options(r, r->allow);
    if (r->route_rc == 404)
        return api_page(r, 404);
    return reply_405(r, r->allow);
}

/* Bytes of body read and dropped after a refusal found mid-body, before
 * the connection is cut off without the refusal. */
#define REFUSAL_DRAIN_MAX (64ull << 20)

/* Largest body kept in memory (merge JSON, forms). */
#define SMALL_BODY_MAX (1u << 20)

/* graceful stop: how often it looks at the running requests, and how long
 * parked waiters get past the grace to send their last event */
#define STOP_POLL_US 20000
#define STOP_WAITERS_EXTRA_NS 2000000000LL

/* A refusal found while the body arrives. libmicrohttpd (0.9.7x) sends no
 * reply before it has the whole request: the rest of the body is read and
 * dropped and the refusal goes out at its end (a body still going
 * REFUSAL_DRAIN_MAX bytes later is cut off without it). The spool file
 * goes at once. Returns MHD_YES. */
static enum MHD_Result refuse_body(api_req *r, int status, const char *msg)
{
    upload_discard(r->upload);
    r->refusal_status = status;
    snprintf(r->refusal_msg, sizeof r->refusal_msg, "%s", msg);
    return MHD_YES;
}

/* Content-Length of the request (0 when absent or unreadable). */
static unsigned long long content_length(api_req *r)
{
    const char *v = api_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    char *end;
    unsigned long long n = v ? strtoull(v, &end, 10) : 0;
    return v && *end == '\0' ? n : 0;
}

/* A refusal known from the headers (auth, declared size). Sent at once to
 * a client that asked "Expect: 100-continue" or announced a body too long
 * to read (it sees the reply if it reads while sending, as curl does);
 * otherwise after its body was read and dropped, since most clients read
 * nothing before they have sent everything. gate_form: 0 the envelope, 1
 * the API gate's F-JSON, REFUSAL_WEB the web gate's redirect (msg: where
 * to) or 403. Returns MHD_YES or MHD_NO. */
static enum MHD_Result refuse_headers(api_req *r, int status, const char *msg, int gate_form)
{
    const char *expect = api_header(r, MHD_HTTP_HEADER_EXPECT);
    int now = (expect && strcasecmp(expect, "100-continue") == 0) ||
              content_length(r) > REFUSAL_DRAIN_MAX;
    if (now) {
        upload_discard(r->upload);
        if (gate_form == REFUSAL_WEB)
            return web_refuse(r, status, msg[0] ? msg : NULL);
        return gate_form ? api_ferror(r, status, msg) : api_error(r, status, msg);
    }
    r->refusal_gate = gate_form;
    return refuse_body(r, status, msg);
}

/* Appends body bytes of a small-body route to r->body. Returns 0, or the
 * refusal's status (413 past SMALL_BODY_MAX, 500 out of memory). */
static int keep_small_body(api_req *r, const char *data, size_t n)
{
    if (r->body_len + n > SMALL_BODY_MAX) {
        r->body_too_large = 1;
        return 413;
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t nc = (r->body_len + n + 1) * 2;
        char *nb = realloc(r->body, nc);
        if (!nb)
            return 500;
        r->body = nb;
        r->body_cap = nc;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return 0;
}

/* The access handler. Replies are queued from the second call on (MHD
 * keeps the connection alive only then), except early refusals of request
 * bodies (auth, size), which close the connection on purpose; refusals
 * found mid-body wait for its end (refuse_body). */
static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    api_server *srv = cls;
    api_req *r = *con_cls;
    hub_err err = {0};

    if (r)
        log_set_request_id(r->request_id);   /* this thread's lines carry it */
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        *con_cls = r;
        atomic_fetch_add(&g_inflight, 1);
        r->srv = srv;
        r->conn = conn;
        r->method = method;
        r->is_head = strcmp(method, "HEAD") == 0;
        r->t0_ns = api_now_ns();
        r->status = 500;
        r->reply_bytes = -1;
        /* the caller's id when it is sane (a proxy's), else a new one */
        const char *rid = api_header(r, "X-Request-Id");
        if (rid && log_request_id_valid(rid))
            snprintf(r->request_id, sizeof r->request_id, "%s", rid);
        else
            log_request_id_new(r->request_id, sizeof r->request_id);
        /* the headers are in: a body follows, or the request is served */
        const char *te = api_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING);
        conn_guard_phase(conn, content_length(r) > 0 || te ? CONN_BODY : CONN_SERVING);
        log_set_request_id(r->request_id);
        if (request_split_path(r, url) < 0)
            r->route_rc = -1;
        else
            r->route_rc = router_match(r, srv->cfg.authentication, &r->allow);
        if (strcmp(method, "OPTIONS") == 0 && r->route_rc == 0)
            r->route_rc = 405; /* answered by reply_unrouted */
        if (r->route_rc || r->has_nul || r->route->body == BODY_NONE)
            return MHD_YES;
        /* routes with a body: refuse before reading it */
        if (atomic_load(&srv->stopping))
            return api_page(r, 503);
        int st;
        if (r->route->auth == AUTH_BEARER && (st = gate_check(r)) != 0)
            return refuse_headers(r, st, r->auth.message, 1);
        if (r->route->auth == AUTH_SESSION) {
            const char *loc;
            if ((st = web_gate(r, &loc)) != 0)
                return refuse_headers(r, st, loc ? loc : "", REFUSAL_WEB);
        }
        if (r->route->body == BODY_MULTIPART) {
            if (upload_begin(r, &err) != 0)
                return refuse_headers(r, api_status_of(err.code), err.msg, 0);
        } else if (content_length(r) > SMALL_BODY_MAX) {
            r->body_too_large = 1;
            return refuse_headers(r, 413, "request body too large (more than 1 MiB)", 0);
        }
        return MHD_YES;
    }

    if (r->replied) {
        /* a reply went out early (refusal during the body): drop the rest */
        *upload_data_size = 0;
        return MHD_YES;
    }

    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        conn_guard_body(conn, n);
        if (r->refusal_status) {
            r->drained += n;
            return r->drained > REFUSAL_DRAIN_MAX ? MHD_NO : MHD_YES;
        }
        if (r->route_rc || r->has_nul || r->route->body == BODY_NONE)
            return MHD_YES; /* bodies of other routes are discarded */
        if (r->route->body == BODY_MULTIPART) {
            if (upload_feed(r, upload_data, n, &err) != 0)
                return refuse_body(r, api_status_of(err.code), err.msg);
        } else {
            int st = keep_small_body(r, upload_data, n);
            if (st)
                return refuse_body(r, st, st == 413 ? "request body too large (more than 1 MiB)"
                                                    : "out of memory");
        }
        return MHD_YES;
    }

    /* the request is complete (or resumed after a wait) */
    conn_guard_phase(conn, CONN_SERVING);
    if (r->refusal_status && r->refusal_gate == REFUSAL_WEB)
        return web_refuse(r, r->refusal_status, r->refusal_msg[0] ? r->refusal_msg : NULL);
    if (r->refusal_status)
        return r->refusal_gate ? api_ferror(r, r->refusal_status, r->refusal_msg)
                               : api_error(r, r->refusal_status, r->refusal_msg);
    if (r->route_rc)
        return reply_unrouted(r);
    if (r->has_nul)
        return api_error(r, 400, "invalid name: NUL bytes are not allowed");
    if (r->route->auth == AUTH_BEARER && !r->gated) {
        int st = gate_check(r);
        if (st)
            return api_ferror(r, st, r->auth.message);
    }
    if (r->route->auth == AUTH_SESSION && !r->gated) {
        const char *loc;
        int st = web_gate(r, &loc);
        if (st)
            return web_refuse(r, st, loc);
    }
    if (r->upload && !r->wait && upload_end(r, &err) != 0) {
        upload_discard(r->upload);
        return api_fail(r, &err);
    }
    return r->route->fn(r);
}

/* The access handler as MHD calls it: handle_request with the request's id
 * set on this thread for its log lines (and the jobs it creates), cleared
 * after. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    enum MHD_Result ret = handle_request(cls, conn, url, method, version, upload_data,
                                         upload_data_size, con_cls);
    log_set_request_id(NULL);
    return ret;
}

void api_count_request(api_req *r)
{
    if (r->counted)
        return;
    r->counted = 1;
    size_t nroutes;
    const api_route *table = router_table(&nroutes);
    size_t idx = r->route ? (size_t)(r->route - table) : nroutes;
    int status = r->replied ? (r->metric_status ? r->metric_status : r->status) : 499;
    metrics_request(r->srv->metrics, idx, status, api_now_ns() - r->t0_ns);
    if (r->upload)
        metrics_uploaded(r->srv->metrics, r->upload->body_bytes);
}

/* The access log: one line per request, at its end (route, status, body
 * bytes, duration, request id). */
static void access_log(api_req *r, enum MHD_RequestTerminationCode toe)
{
    int status = r->replied ? r->status : 499;
    long long us = (long long)((api_now_ns() - r->t0_ns) / 1000);
    log_field f[] = {
        {.key = "method", .str = r->method ? r->method : "-"},
        {.key = "path", .str = r->path ? r->path : "-"},
        {.key = "route", .str = r->route ? r->route->pattern : "-"},
        {.key = "status", .num = status},
        {.key = "bytes", .num = toe != MHD_REQUEST_TERMINATED_COMPLETED_OK ? -1
                                : r->is_head ? 0 : r->reply_bytes},
        {.key = "duration_us", .num = us},
    };
    log_set_request_id(r->request_id);
    log_msg_fields(HUB_LOG_INFO, f, sizeof f / sizeof f[0], "access");
    log_set_request_id(NULL);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    api_req *r = *con_cls;
    /* a kept-alive connection waits for its next request's headers */
    conn_guard_phase(conn, CONN_HEADERS);
    if (!r)
        return;
    api_count_request(r);
    access_log(r, toe);
    request_free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&g_inflight, 1);
}

/* Query values stay raw (decoded on demand by api_query), and the path is
 * split before its segments are decoded, so "%2F" cannot act as a
 * separator and a NUL cannot cut a name. */
static size_t unescape_none(void *cls, struct MHD_Connection *c, char *s)
{
    return strlen(s);
}

/* libmicrohttpd's messages by the level they deserve, recognised by the
 * start of their format string (libmicrohttpd 0.9.7x). What a remote client
 * can cause (malformed requests, disconnects, slow readers) stays at debug,
 * so that no client can fill the log; what needs an operator (no socket,
 * no thread, no memory, accept failing, the connection limit) is an error
 * or a warning. Anything else (internal errors, API misuse) is a warning. */
static const struct {
    const char *prefix;
    log_level level;
} mhd_levels[] = {
    /* the client's doing */
    {"Error processing request", HUB_LOG_DEBUG},
    {"Socket has been disconnected", HUB_LOG_DEBUG},
    {"Connection socket is closed", HUB_LOG_DEBUG},
    {"Connection was closed by remote side", HUB_LOG_DEBUG},
    {"Failed to send data in request", HUB_LOG_DEBUG},
    {"Failed to send the response", HUB_LOG_DEBUG},
    {"Failed to send the chunked response", HUB_LOG_DEBUG},
    {"Failed to send the footers", HUB_LOG_DEBUG},
    {"Failed to push the data", HUB_LOG_DEBUG},
    {"Received HTTP/1.1 request without", HUB_LOG_DEBUG},
    {"Too large value of 'Content-Length'", HUB_LOG_DEBUG},
    {"Failed to parse `Content-Length'", HUB_LOG_DEBUG},
    {"Not enough memory in pool to allocate header", HUB_LOG_DEBUG},
    {"Not enough memory in pool to parse cookies", HUB_LOG_DEBUG},
    {"Too late to send an error response", HUB_LOG_DEBUG},
    {"Too late for error response", HUB_LOG_DEBUG},
    {"Setting %s option to %s state failed", HUB_LOG_DEBUG},
    /* harmless notices */
    {"Warning: \"1\", specified for thread pool size", HUB_LOG_DEBUG},
    {"Warning: Zero size, specified for thread pool size", HUB_LOG_DEBUG},
    /* start-up, accept and resource failures */
    {"Failed to create socket for listening", HUB_LOG_ERROR},
    {"Failed to bind to port", HUB_LOG_ERROR},
    {"Failed to listen for connections", HUB_LOG_ERROR},
    {"Failed to get listen port number", HUB_LOG_ERROR},
    {"Failed to set nonblocking mode on listening socket", HUB_LOG_ERROR},
    {"Listen socket descriptor", HUB_LOG_ERROR},
    {"Error accepting connection", HUB_LOG_ERROR},
    {"Hit process or system resource limit", HUB_LOG_ERROR},
    {"Failed to create a new thread", HUB_LOG_ERROR},
    {"Failed to create a new pool thread", HUB_LOG_ERROR},
    {"Failed to create a thread", HUB_LOG_ERROR},
    {"Failed to create pool thread", HUB_LOG_ERROR},
    {"Failed to create listen thread", HUB_LOG_ERROR},
    {"Failed to create inter-thread communication channel", HUB_LOG_ERROR},
    {"Failed to create worker inter-thread communication channel", HUB_LOG_ERROR},
    {"Call to epoll_create1 failed", HUB_LOG_ERROR},
    {"Call to epoll_ctl failed", HUB_LOG_ERROR},
    {"Call to epoll_wait failed", HUB_LOG_ERROR},
    {"Error allocating memory", HUB_LOG_ERROR},
    {"Failed to allocate memory", HUB_LOG_ERROR},
    {"Closing connection (out of memory)", HUB_LOG_ERROR},
    {"Server reached connection limit", HUB_LOG_WARN},
};

static log_level mhd_level(const char *fmt)
{
    for (size_t i = 0; i < sizeof mhd_levels / sizeof mhd_levels[0]; i++)
        if (strncmp(fmt, mhd_levels[i].prefix, strlen(mhd_levels[i].prefix)) == 0)
            return mhd_levels[i].level;
    return HUB_LOG_WARN;
}

/* While MHD_start_daemon runs in server_start (MHD logs its start-up
 * failures from the calling thread): the first of its most severe
 * messages, the why of a failed start (with bind's errno text). */
static _Thread_local char *start_error;
static _Thread_local size_t start_error_size;
static _Thread_local log_level start_error_level;

__attribute__((format(printf, 2, 0)))
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    log_level level = mhd_level(fmt);
    if (start_error && level >= HUB_LOG_WARN && (!start_error[0] || level > start_error_level)) {
        snprintf(start_error, start_error_size, "%s", msg);
        start_error_level = level;
    }
    log_msg(level, "mhd: %s", msg);
}

/* ------------------------------------------------------------------ */
/* life cycle                                                          */
/* ------------------------------------------------------------------ */

static char *read_small_file(const char *path, hub_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        hub_err_set(err, "jwt-public-key: %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = calloc(1, 65537);
    size_t n = buf ? fread(buf, 1, 65536, f) : 0;
    fclose(f);
    if (!buf || n == 0) {
        free(buf);
        hub_err_set(err, "jwt-public-key: %s: empty or unreadable", path);
        return NULL;
    }
    return buf;
}

int server_init(api_server *srv, hub_config *cfg, hub_err *err)
{
    memset(srv, 0, sizeof *srv);
    srv->cfg = *cfg;
    memset(cfg, 0, sizeof *cfg);
    router_init();
    if (config_make_dirs(&srv->cfg, err) < 0)
        return -1;
    if (!(srv->store = repo_store_open(srv->cfg.public_dir, err)))
        return -1;

    auth_virtual_user *vu = calloc(srv->cfg.n_users_map + 1, sizeof *vu);
    if (!vu)
        return hub_err_set(err, "out of memory");
    for (size_t i = 0; i < srv->cfg.n_users_map; i++) {
        vu[i].name = srv->cfg.users_map_virtual[i];
        vu[i].user = srv->cfg.users_map_user[i];
    }
    auth_jwt_key key = {srv->cfg.jwt_algorithm, NULL};
    char *pem = NULL;
    if (srv->cfg.jwt_public_key_file) {
        if (!(pem = read_small_file(srv->cfg.jwt_public_key_file, err))) {
            free(vu);
            return -1;
        }
        key.pem = pem;
    }
    auth_settings as = {
        .enabled = srv->cfg.authentication,
        .readonly = srv->cfg.readonly,
        .token_seed = srv->cfg.threebot_seed,
        .token_max_age = srv->cfg.token_max_age,
        .threebot_privatekey = srv->cfg.threebot_privatekey,
        .threebot_appid = srv->cfg.threebot_appid,
        .session_key = srv->cfg.session_key,
        .guest_token = srv->cfg.guest_token,
        .jwt_keys = pem ? &key : NULL,
        .n_jwt_keys = pem ? 1 : 0,
        .jwt_leeway = srv->cfg.jwt_leeway,
        .users_map = vu,
        .n_users_map = srv->cfg.n_users_map,
        .official = (const char *const *)srv->cfg.official_repos,
        .n_official = srv->cfg.n_official_repos,
    };
    srv->auth = auth_ctx_new(&as, err);
    free(vu);
    free(pem);
    if (!srv->auth)
        return -1;
    size_t nroutes;
    router_table(&nroutes);
    srv->cache = cache_new((size_t)srv->cfg.cache_size);
    srv->metrics = metrics_new(nroutes);
    if (!srv->cache || !srv->metrics)
        return hub_err_set(err, "out of memory");
    if (srv->cfg.reply_cache_size > 0 &&
        !(srv->replies = reply_store_open(srv->cfg.reply_cache_dir, srv->cfg.reply_cache_size, err)))
        return -1;
    flist_set_max_db_size(srv->cfg.flist_max_size);
    if (!(srv->inflight = singleflight_new()))
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    if (!(srv->qpool = qpool_new(srv->cfg.redis_url, srv->cfg.job_ttl)))
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    if (!(srv->waiters = waiters_new(srv, err)))
        return -1;
    char web_dir[PATH_MAX];
    if (web_find_root(srv->cfg.web_root, web_dir, sizeof web_dir, err) < 0 ||
        !(srv->web = web_open(web_dir, srv->store, err)))
        return -1;
    if (web_search_warm(web_search_of(srv->web)) < 0)
        log_warn("search index: no thread to build it ahead: the first search will");
    return housekeeping_start(srv, err);
}

int server_start(api_server *srv, hub_err *err)
{
    const hub_config *c = &srv->cfg;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    /* poll(), not epoll: MHD_quiesce_daemon on an epoll thread pool races
     * with the workers' own removal of the listening socket and can abort
     * the process (an open libmicrohttpd defect, seen under TSan: "Failed to
     * remove listen FD from epoll set"); with poll the quiesce is a message
     * on each worker's ITC. Suspended connections (waiters) are not polled. */
    unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ITC;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, c->listen_addr, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)c->listen_port);
    } else if (inet_pton(AF_INET6, c->listen_addr, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)c->listen_port);
        flags |= MHD_USE_IPv6;
        if (strcmp(c->listen_addr, "::") == 0)
            flags |= MHD_USE_DUAL_STACK;
    } else {
        return hub_err_set(err, "listen-addr: \"%s\" is not an IPv4 or IPv6 address", c->listen_addr);
    }
    unsigned threads = c->threads > 0 ? (unsigned)c->threads : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1)
        threads = 1;
    if (!srv->guard &&
        !(srv->guard = conn_guard_start(c->request_header_timeout, c->request_body_min_rate, err)))
        return -1;
    char why[512] = "";
    start_error = why;
    start_error_size = sizeof why;
    srv->daemon = MHD_start_daemon(
        flags, (uint16_t)c->listen_port, NULL, NULL, on_request, srv,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,   /* first: logs the other options too */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)c->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)c->max_connections_per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->connection_timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)c->connection_memory,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, conn_guard_notify, srv->guard,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, NULL,
        MHD_OPTION_END);
    start_error = NULL;
    if (!srv->daemon) {
        /* MHD's first message names the failing call with its errno text
         * ("Failed to bind to port 80: Permission denied") */
        if (why[0] >= 'A' && why[0] <= 'Z')
            why[0] = (char)(why[0] - 'A' + 'a');
        return hub_err_set(err, "cannot listen on %s port %d: %s", c->listen_addr,
                           c->listen_port, why[0] ? why : "libmicrohttpd could not start");
    }
    log_info("listening on %s port %d (%u threads), public directory %s", c->listen_addr,
             server_port(srv), threads, c->public_dir);
    return 0;
}

int server_port(api_server *srv)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : srv->cfg.listen_port;
}

static unsigned connections(api_server *srv)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return info ? info->num_connections : 0;
}

void server_stop(api_server *srv)
{
    if (!srv->daemon)
        return;
    atomic_store(&srv->stopping, 1);
    /* No new connections from here on: shutdown() stops the listening at
     * once (new clients are refused, not left in the backlog), but the
     * descriptor stays open until MHD_stop_daemon has joined the daemon's
     * threads, which may still be using it (epoll, a last accept): closing
     * it here raced with them, and its number could have been reused by
     * another open meanwhile. */
    MHD_socket ls = MHD_quiesce_daemon(srv->daemon);
    if (ls != MHD_INVALID_SOCKET)
        shutdown(ls, SHUT_RDWR);
    waiters_stop_streams(srv->waiters);
    log_info("stopping: no new connections; waiting up to %d s for %d running requests "
             "(%u connections)", srv->cfg.shutdown_grace, atomic_load(&g_inflight), connections(srv));
    int64_t deadline = api_now_ns() + (int64_t)srv->cfg.shutdown_grace * 1000000000;
    while (api_now_ns() < deadline && atomic_load(&g_inflight) > 0)
        usleep(STOP_POLL_US);
    waiters_shutdown(srv->waiters);
    while (api_now_ns() < deadline + STOP_WAITERS_EXTRA_NS && waiters_active(srv->waiters) > 0)
        usleep(STOP_POLL_US);
    housekeeping_stop(srv);
    MHD_stop_daemon(srv->daemon);
    srv->daemon = NULL;
    conn_guard_stop(srv->guard);   /* after every connection closed */
    srv->guard = NULL;
    if (ls != MHD_INVALID_SOCKET)
        close(ls);
    log_info("stopped");
}

void server_free(api_server *srv)
{
    if (srv->daemon) {
        MHD_stop_daemon(srv->daemon);
        srv->daemon = NULL;
    }
    conn_guard_stop(srv->guard);
    srv->guard = NULL;
    waiters_free(srv->waiters);
    qpool_free(srv->qpool);
    singleflight_free(srv->inflight);
    housekeeping_stop(srv);
    reply_store_close(srv->replies);
    cache_free(srv->cache);
    metrics_free(srv->metrics);
    auth_ctx_free(srv->auth);
    web_free(srv->web);
    repo_store_close(srv->store);
    config_free(&srv->cfg);
}
