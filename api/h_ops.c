/* h_ops.c - operations routes: /healthz (alive), /readyz (Redis, content
 * backend and directories), /metrics (Prometheus text: this instance's
 * counters, and the shared queue's gauges and counters read from Redis
 * with queue_stats_read, bytes stored per user from usage.h) and the
 * OpenAPI document generated from the route
 * table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "cache.h"
#include "conn_guard.h"
#include "handlers.h"
#include "log.h"
#include "metrics.h"
#include "qpool.h"
#include "router.h"
#include "usage.h"

/* /readyz: how long the content backend may take to accept a connection */
#define READY_BACKEND_TIMEOUT_MS 2000

enum MHD_Result h_healthz(api_req *r)
{
    return api_text(r, 200, "text/plain", "ok\n", 3);
}

enum MHD_Result h_readyz(api_req *r)
{
    hub_err err = {0};
    json_t *checks = json_object();
    int ok = 1;

    queue *q = qpool_get(r->srv->qpool, &err);
    int rc = q ? queue_ping(q, &err) : -1;
    qpool_put(r->srv->qpool, q, rc < 0);
    json_object_set_new(checks, "redis", json_string(rc == 0 ? "ok" : err.msg));
    ok &= rc == 0;

    backend *b = backend_connect(&r->srv->cfg.backend_internal, READY_BACKEND_TIMEOUT_MS, &err);
    json_object_set_new(checks, "backend", json_string(b ? "ok" : err.msg));
    ok &= b != NULL;
    backend_close(b);

    const char *dirs[] = {r->srv->cfg.public_dir, r->srv->cfg.upload_dir};
    const char *names[] = {"public-directory", "upload-directory"};
    for (int i = 0; i < 2; i++) {
        int w = access(dirs[i], W_OK | X_OK) == 0;
        json_object_set_new(checks, names[i], json_string(w ? "ok" : "not writable"));
        ok &= w;
    }
    json_t *v = json_pack("{s:s, s:o}", "status", ok ? "ready" : "not ready", "checks", checks);
    return api_json(r, ok ? 200 : 503, v);
}

static const char *route_name(size_t i)
{
    size_t n;
    const api_route *t = router_table(&n);
    return i < n ? t[i].pattern : "unmatched";
}

/* Text being built by usage_line (doubling, so many users stay linear);
 * oom once an append failed. */
typedef struct text_buf {
    char *p;
    size_t len, cap;
    int oom;
} text_buf;

/* usage_stored_totals callback: one hub_backend_stored_bytes_total line
 * (the label value escaped as the text format wants). */
static void usage_line(void *ctx, const char *user, uint64_t bytes)
{
    text_buf *b = ctx;
    char label[2 * 256 + 1];
    size_t n = 0;
    for (const char *c = user; *c && n + 2 < sizeof label; c++) {
        if (*c == '\\' || *c == '"' || *c == '\n') {
            label[n++] = '\\';
            label[n++] = *c == '\n' ? 'n' : *c;
        } else {
            label[n++] = *c;
        }
    }
    label[n] = '\0';
    char line[sizeof label + 96];
    int m = snprintf(line, sizeof line, "hub_backend_stored_bytes_total{user=\"%s\"} %llu\n",
                     label, (unsigned long long)bytes);
    if (b->oom || m < 0)
        return;
    if (b->len + (size_t)m + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + (size_t)m + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, line, (size_t)m + 1);
    b->len += (size_t)m;
}

/* The numbers of the shared queue (queue_stats_read, with a connection of
 * the api's pool) and the bytes each user stored: hub_queue_up 0 and no
 * job lines when Redis cannot be read (logged). Returns a malloc'ed text
 * or NULL when out of memory. */
static char *queue_metrics(api_req *r)
{
    static const char up_help[] =
        "# HELP hub_queue_up 1 when the job queue (Redis) could be read.\n"
        "# TYPE hub_queue_up gauge\n";
    hub_err err = {0};
    queue_stats st;
    text_buf usage = {0};
    queue *q = qpool_get(r->srv->qpool, &err);
    int rc = q ? queue_stats_read(q, &st, &err) : -1;
    if (rc == 0)
        rc = usage_stored_totals(q, usage_line, &usage, &err);
    qpool_put(r->srv->qpool, q, rc < 0);
    if (usage.oom) {
        free(usage.p);
        return NULL;
    }
    char *out = NULL;
    int n;
    if (rc < 0) {
        log_warn("metrics: %s", err.msg);
        n = asprintf(&out, "%shub_queue_up 0\n", up_help);
    } else {
        n = asprintf(&out,
                     "%shub_queue_up 1\n"
                     "# HELP hub_jobs Jobs of the shared queue (every instance), read from Redis: queued = "
                     "not yet taken by a worker, running = taken and not finished.\n"
                     "# TYPE hub_jobs gauge\nhub_jobs{state=\"queued\"} %lld\nhub_jobs{state=\"running\"} %lld\n"
                     "# HELP hub_jobs_total Jobs of the shared queue ended since the queue began, "
                     "by final state (dead letters are failed).\n"
                     "# TYPE hub_jobs_total counter\nhub_jobs_total{state=\"done\"} %lld\n"
                     "hub_jobs_total{state=\"failed\"} %lld\n"
                     "# HELP hub_jobs_dead_letters Jobs failed because no worker could finish them "
                     "(hub:jobs:dead).\n# TYPE hub_jobs_dead_letters gauge\nhub_jobs_dead_letters %lld\n"
                     "# HELP hub_workers Consumers of the job queue's consumer group.\n"
                     "# TYPE hub_workers gauge\nhub_workers %lld\n"
                     "# HELP hub_backend_stored_bytes_total Bytes of new chunks each user's "
                     "jobs stored on the content backend.\n"
                     "# TYPE hub_backend_stored_bytes_total counter\n%s",
                     up_help, st.queued, st.running, st.done, st.failed, st.dead, st.consumers,
                     usage.p ? usage.p : "");
    }
    free(usage.p);
    return n < 0 ? NULL : out;
}

enum MHD_Result h_metrics(api_req *r)
{
    size_t len;
    char *text = metrics_render(r->srv->metrics, route_name, &len);
    char *jobs = text ? queue_metrics(r) : NULL;
    if (!jobs) {
        free(text);
        return api_page(r, 500);
    }
    size_t items, bytes;
    cache_stats(r->srv->cache, &items, &bytes);
    uint64_t cut_headers, cut_body;
    conn_guard_counts(r->srv->guard, &cut_headers, &cut_body);
    char *all = NULL;
    int n = asprintf(&all, "%s%s# HELP hub_cache_items Items in the reply cache.\n# TYPE hub_cache_items gauge\n"
                           "hub_cache_items %zu\n# HELP hub_cache_bytes Bytes in the reply cache.\n"
                           "# TYPE hub_cache_bytes gauge\nhub_cache_bytes %zu\n"
                           "# HELP hub_connections_cut_total Connections cut for sending their headers "
                           "or body too slowly (request-header-timeout, request-body-min-rate).\n"
                           "# TYPE hub_connections_cut_total counter\n"
                           "hub_connections_cut_total{reason=\"slow-headers\"} %llu\n"
                           "hub_connections_cut_total{reason=\"slow-body\"} %llu\n",
                     text, jobs, items, bytes, (unsigned long long)cut_headers,
                     (unsigned long long)cut_body);
    free(text);
    free(jobs);
    return api_text_take(r, 200, "text/plain; version=0.0.4", all, n);
}

enum MHD_Result h_openapi(api_req *r)
{
    json_t *doc = router_openapi(&r->srv->cfg);
    return doc ? api_json(r, 200, doc) : api_page(r, 500);
}
