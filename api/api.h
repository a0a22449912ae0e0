/* api.h - the shared state and request type of flist-hub-api, and the
 * helpers every handler uses (replies, arguments, the effective user).
 *
 * One api_server per process (built in main.c, served by server.c); one
 * api_req per HTTP request, created on the first call of the access handler
 * and freed when MHD reports the request complete.
 */
#ifndef API_H
#define API_H

#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <microhttpd.h>

#include "auth.h"
#include "config.h"
#include "hub_err.h"
#include "log.h"
#include "queue.h"
#include "repo.h"

typedef struct api_cache api_cache;
typedef struct api_metrics api_metrics;
typedef struct api_route api_route;
typedef struct api_req api_req;
typedef struct api_upload api_upload;
typedef struct api_wait api_wait;
typedef struct reply_store reply_store;
typedef struct qpool qpool;
typedef struct api_waiters api_waiters;
typedef struct singleflight singleflight;
typedef struct conn_guard conn_guard;
typedef struct web_ctx web_ctx;

/* The process-wide state, immutable while serving except where noted. */
typedef struct api_server {
    hub_config cfg;
    repo_store *store;
    auth_ctx *auth;
    api_cache *cache;
    reply_store *replies;          /* shared reply store; NULL = off */
    qpool *qpool;                  /* job-queue connections for requests */
    api_waiters *waiters;          /* requests waiting on jobs (waiters.h) */
    singleflight *inflight;        /* flists being loaded for a reply (singleflight.h) */
    api_metrics *metrics;
    conn_guard *guard;             /* header deadline, body rate (conn_guard.h) */
    web_ctx *web;                  /* templates, static files, search (web.h) */
    struct MHD_Daemon *daemon;
    _Atomic int stopping;          /* SIGTERM received */
    _Atomic long generation;       /* bumped by every local change */
} api_server;

#define API_MAX_SEGS 16
#define API_MAX_ARGS 8

/* One request. */
struct api_req {
    api_server *srv;
    struct MHD_Connection *conn;
    const char *method;            /* as received ("GET", "INFO", ...) */
    int is_head;
    char *path;                    /* raw path, without the query */
    char *segs[API_MAX_SEGS];      /* decoded segments (malloc'ed) */
    int nsegs;
    int has_nul;                   /* a segment decoded a NUL byte (%00) */
    const api_route *route;        /* NULL until routed */
    int route_rc;                  /* router_match's result (-1: bad path) */
    unsigned allow;                /* methods of the routes matching the path */
    int gated;                     /* the API gate ran */
    const char *args[API_MAX_ARGS];/* the route's variables, decoded */
    int nargs;
    auth_result auth;              /* the gate's result (bearer routes) */
    int status;                    /* status of the reply (metrics) */
    int64_t t0_ns;                 /* start (latency histogram) */
    int replied;                   /* a response was queued */
    int counted;                   /* counted in /metrics (api_count_request) */
    int metric_status;             /* the status /metrics counts when it differs
                                      from the wire's (0: the same) */
    char request_id[LOG_REQUEST_ID_MAX + 1]; /* X-Request-Id if sane, else generated */
    long long reply_bytes;         /* body bytes of the reply (access log); -1 unknown */
    /* bodies */
    api_upload *upload;            /* multipart uploads */
    char *body;                    /* small bodies (merge JSON, urlencoded) */
    size_t body_len, body_cap;
    int body_too_large;
    int refusal_status;            /* a refusal found mid-body, sent at its end */
    int refusal_gate;              /* ... in the gate's form (api_ferror) */
    char refusal_msg[HUB_ERR_MAX];
    uint64_t drained;              /* body bytes dropped since */
    int force_async;               /* answer 202 whatever the request asks (web forms) */
    char *scratch;                 /* a route argument a handler made (freed with r) */
    const char *body_ctype;        /* the Content-Type of r->body when a handler
                                      rewrote it (NULL: the request's) */
    int capture;                   /* api_json keeps the reply in captured
                                      instead of sending it (web_compat.c) */
    int captured_status;
    json_t *captured;              /* the kept reply (freed with r) */
    /* compatibility-mode wait */
    api_wait *wait;
};

/* Counts r in /metrics (route, status, latency, upload bytes) once: when
 * its reply is queued, so that a client reading /metrics right after its
 * reply sees its own request, or at completion (499) when nothing was
 * queued. In server.c. */
void api_count_request(api_req *r);

/* ---- replies (reply.c). Each queues the reply and returns MHD's result;
 * every reply carries Access-Control-Allow-Origin: * ---- */

/* Queues resp (adds the CORS header unless present) with status; takes
 * ownership of resp. */
enum MHD_Result api_respond(api_req *r, int status, struct MHD_Response *resp);

/* Notes the body size of the reply about to be queued, for the access log
 * (replies built by the helpers below note it themselves). */
void api_set_reply_bytes(api_req *r, long long n);

/* Queues a shared (cached) response without consuming it; the response
 * must already carry the CORS header. */
enum MHD_Result api_respond_shared(api_req *r, int status, struct MHD_Response *resp);

/* A persistent response holding a copy of text, with Content-Type and the
 * CORS header, for caching (NULL on failure). */
struct MHD_Response *api_shared_response(const char *ctype, const char *text, size_t len);

/* E-JSON reply of value v (stolen): Python json.dumps spacing, ASCII
 * escapes, trailing "\n", Content-Type: application/json. When r->capture is set,
 * nothing is sent: v and status are kept in r->captured and
 * r->captured_status for the handler to answer in its own form. */
enum MHD_Result api_json(api_req *r, int status, json_t *v);

/* The envelope of HUB-API.md §3: {"status": "success"[, "payload": p]}
 * (p stolen, omitted when NULL or empty). */
enum MHD_Result api_success(api_req *r, json_t *payload);

/* {"status": "error", "message": msg} with status. */
enum MHD_Result api_error(api_req *r, int status, const char *msg);

/* F-JSON (§2.3) reply of v (stolen): sorted keys, ASCII escapes, compact
 * (indented in debug mode), trailing "\n". */
enum MHD_Result api_fjson(api_req *r, int status, json_t *v);

/* F-JSON {"message": msg, "status": "error"} (sorted keys) with status. */
enum MHD_Result api_ferror(api_req *r, int status, const char *msg);

/* The framework error page of §2.4 (400, 404, 405, 413, 500, 503, ...). */
enum MHD_Result api_page(api_req *r, int status);

/* Plain text reply with the given content type (copied). */
enum MHD_Result api_text(api_req *r, int status, const char *ctype, const char *text, size_t len);

/* The same for a body built with asprintf: takes ownership of body (n is
 * asprintf's result; n < 0 answers the 500 page), without another copy. */
enum MHD_Result api_text_take(api_req *r, int status, const char *ctype, char *body, int n);

/* 302 to location (absolute URLs unchanged; "/x" made absolute from Host
 * and X-Forwarded-Proto, §2.5). extra_cookie: a Set-Cookie value or NULL. */
enum MHD_Result api_redirect(api_req *r, const char *location, const char *extra_cookie);

/* ---- request helpers (request.c) ---- */

/* A header (case-insensitive name) or NULL. */
const char *api_header(api_req *r, const char *name);

/* A header with its length (a value may hold a NUL byte that would cut
 * it short as a C string), or NULL. */
const char *api_header_n(api_req *r, const char *name, size_t *len);

/* A cookie value or NULL. */
const char *api_cookie(api_req *r, const char *name);

/* A query parameter, percent- and '+'-decoded, into buf (size n).
 * Returns buf, or NULL when absent (or longer than n-1). */
const char *api_query(api_req *r, const char *name, char *buf, size_t n);

/* 1 when the request asks for async mode (?async=1 or Prefer:
 * respond-async). */
int api_wants_async(api_req *r);

/* Current time in ns (CLOCK_MONOTONIC) and in unix seconds. */
int64_t api_now_ns(void);
long long api_unix_now(void);

/* Marks a local change (invalidates cached listings of this instance). */
void api_changed(api_server *s);

#endif
