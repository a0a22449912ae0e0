/* metrics.c - Prometheus counters of flist-hub-api (metrics.h). */
#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int STATUSES[] = {200, 202, 206, 302, 304, 400, 401, 403, 404, 405,
                               409, 410, 413, 416, 500, 502, 503, 504};
#define NSTATUS (sizeof STATUSES / sizeof STATUSES[0])
#define NSTATUS_ALL (NSTATUS + 1) /* + "other" */

static const double BUCKETS[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05,
                                 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define NBUCKETS (sizeof BUCKETS / sizeof BUCKETS[0])

struct api_metrics {
    size_t nroutes;
    _Atomic uint64_t *requests;      /* [(nroutes+1) * NSTATUS_ALL] */
    _Atomic uint64_t buckets[NBUCKETS + 1];
    _Atomic uint64_t latency_ns_sum;
    _Atomic uint64_t latency_count;
    _Atomic uint64_t uploaded;
    _Atomic uint64_t jobs_queued[JOBMSG_KIND_COUNT];
    _Atomic int64_t jobs_waiting;
    _Atomic uint64_t jobs_done, jobs_failed;
};

api_metrics *metrics_new(size_t nroutes)
{
    api_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->nroutes = nroutes;
    m->requests = calloc((nroutes + 1) * NSTATUS_ALL, sizeof *m->requests);
    if (!m->requests) {
        free(m);
        return NULL;
    }
    return m;
}

void metrics_free(api_metrics *m)
{
    if (!m)
        return;
    free((void *)m->requests);
    free(m);
}

void metrics_request(api_metrics *m, size_t route, int status, int64_t ns)
{
    if (route > m->nroutes)
        route = m->nroutes;
    size_t si = NSTATUS;
    for (size_t i = 0; i < NSTATUS; i++)
        if (STATUSES[i] == status)
            si = i;
    atomic_fetch_add_explicit(&m->requests[route * NSTATUS_ALL + si], 1, memory_order_relaxed);
    double s = (double)ns / 1e9;
    size_t b = NBUCKETS;
    for (size_t i = 0; i < NBUCKETS; i++) {
        if (s <= BUCKETS[i]) {
            b = i;
            break;
        }
    }
    atomic_fetch_add_explicit(&m->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->latency_ns_sum, ns > 0 ? (uint64_t)ns : 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->latency_count, 1, memory_order_relaxed);
}

void metrics_uploaded(api_metrics *m, uint64_t bytes)
{
    atomic_fetch_add_explicit(&m->uploaded, bytes, memory_order_relaxed);
}

void metrics_job_queued(api_metrics *m, jobmsg_kind kind)
{
    if ((unsigned)kind < JOBMSG_KIND_COUNT)
        atomic_fetch_add_explicit(&m->jobs_queued[kind], 1, memory_order_relaxed);
}

void metrics_job_waiting(api_metrics *m, int delta)
{
    atomic_fetch_add_explicit(&m->jobs_waiting, delta, memory_order_relaxed);
}

void metrics_job_ended(api_metrics *m, int failed)
{
    atomic_fetch_add_explicit(failed ? &m->jobs_failed : &m->jobs_done, 1, memory_order_relaxed);
}

/* A growing text buffer. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)k < b->cap - b->len) {
            b->len += (size_t)k;
            return;
        }
        size_t nc = (b->cap + (size_t)k + 1) * 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
}

char *metrics_render(api_metrics *m, const char *(*route_name)(size_t i), size_t *len)
{
    sbuf b = {malloc(8192), 0, 8192, 0};
    if (!b.p)
        return NULL;
    b.p[0] = '\0';
    sb_printf(&b, "# HELP hub_http_requests_total HTTP requests by route and status.\n"
                  "# TYPE hub_http_requests_total counter\n");
    for (size_t r = 0; r <= m->nroutes; r++) {
        for (size_t s = 0; s < NSTATUS_ALL; s++) {
            uint64_t v = atomic_load_explicit(&m->requests[r * NSTATUS_ALL + s], memory_order_relaxed);
            if (!v)
                continue;
            char code[16];
            if (s < NSTATUS)
                snprintf(code, sizeof code, "%d", STATUSES[s]);
            else
                snprintf(code, sizeof code, "other");
            sb_printf(&b, "hub_http_requests_total{route=\"%s\",status=\"%s\"} %llu\n",
                      r < m->nroutes ? route_name(r) : "unmatched", code, (unsigned long long)v);
        }
    }
    sb_printf(&b, "# HELP hub_http_request_duration_seconds Request latency.\n"
                  "# TYPE hub_http_request_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i < NBUCKETS; i++) {
        cum += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
        sb_printf(&b, "hub_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n", BUCKETS[i],
                  (unsigned long long)cum);
    }
    cum += atomic_load_explicit(&m->buckets[NBUCKETS], memory_order_relaxed);
    sb_printf(&b, "hub_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    sb_printf(&b, "hub_http_request_duration_seconds_sum %.6f\n",
              (double)atomic_load(&m->latency_ns_sum) / 1e9);
    sb_printf(&b, "hub_http_request_duration_seconds_count %llu\n",
              (unsigned long long)atomic_load(&m->latency_count));
    sb_printf(&b, "# HELP hub_upload_bytes_total Bytes of upload bodies received.\n"
                  "# TYPE hub_upload_bytes_total counter\nhub_upload_bytes_total %llu\n",
              (unsigned long long)atomic_load(&m->uploaded));
    sb_printf(&b, "# HELP hub_jobs_queued_total Jobs queued by this instance.\n"
                  "# TYPE hub_jobs_queued_total counter\n");
    for (int t = 0; t < JOBMSG_KIND_COUNT; t++)
        sb_printf(&b, "hub_jobs_queued_total{type=\"%s\"} %llu\n", jobmsg_kind_name((jobmsg_kind)t),
                  (unsigned long long)atomic_load(&m->jobs_queued[t]));
    sb_printf(&b, "# HELP hub_jobs_waiting Jobs this instance waits for (compatibility mode).\n"
                  "# TYPE hub_jobs_waiting gauge\nhub_jobs_waiting %lld\n",
              (long long)atomic_load(&m->jobs_waiting));
    sb_printf(&b, "# HELP hub_jobs_finished_total Job ends seen by this instance.\n"
                  "# TYPE hub_jobs_finished_total counter\n"
                  "hub_jobs_finished_total{state=\"done\"} %llu\n"
                  "hub_jobs_finished_total{state=\"failed\"} %llu\n",
              (unsigned long long)atomic_load(&m->jobs_done),
              (unsigned long long)atomic_load(&m->jobs_failed));
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
