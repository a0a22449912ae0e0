/* async.c - suspended requests served by helper threads (async.h): the
 * compatibility-mode job wait and the /listen event streams. Each object is
 * shared by the request (MHD side) and its thread, reference counted, and
 * registered so that a shutdown can end them all. */
#include "async.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"

/* ---------------- registry ---------------- */

static _Atomic int g_active;
static _Atomic int g_shutdown;        /* end everything */
static _Atomic int g_streams_stop;    /* end event streams (clients replay) */

int async_active(void)
{
    return atomic_load(&g_active);
}

void async_shutdown(void)
{
    atomic_store(&g_streams_stop, 1);
    atomic_store(&g_shutdown, 1);
}

void async_stop_streams(void)
{
    atomic_store(&g_streams_stop, 1);
}

/* ---------------- compatibility-mode waits ---------------- */

struct api_wait {
    pthread_mutex_t mu;
    int refs;
    api_server *srv;
    struct MHD_Connection *conn;
    char id[QUEUE_JOB_ID_MAX];
    int done, ended, failed;
    json_t *job;
    hub_err err;
};

static void wait_unref(api_wait *w)
{
    pthread_mutex_lock(&w->mu);
    int last = --w->refs == 0;
    pthread_mutex_unlock(&w->mu);
    if (last) {
        json_decref(w->job);
        pthread_mutex_destroy(&w->mu);
        free(w);
    }
}

static void *wait_thread(void *arg)
{
    api_wait *w = arg;
    hub_err err = {0};
    int ended = 0, failed = 0;
    json_t *job = NULL;
    queue *q = api_queue_get(w->srv, &err);
    int64_t deadline = api_now_ns() + (int64_t)w->srv->cfg.job_wait_timeout * 1000000000;
    if (!q)
        failed = 1;
    /* wait in one-second slices so that a shutdown is noticed */
    while (q && !ended && !atomic_load(&g_shutdown) && api_now_ns() < deadline) {
        if (queue_job_wait(q, w->id, 1000, &ended, &job, &err) < 0) {
            failed = 1;
            break;
        }
    }
    api_queue_put(w->srv, q, failed);
    pthread_mutex_lock(&w->mu);
    w->done = 1;
    w->ended = ended;
    w->failed = failed;
    w->job = job;
    w->err = err;
    MHD_resume_connection(w->conn);
    pthread_mutex_unlock(&w->mu);
    metrics_job_waiting(w->srv->metrics, -1);
    atomic_fetch_sub(&g_active, 1);
    wait_unref(w);
    return NULL;
}

int async_wait_start(api_req *r, const char *id, hub_err *err)
{
    api_wait *w = calloc(1, sizeof *w);
    if (!w)
        return hub_err_set(err, "out of memory");
    pthread_mutex_init(&w->mu, NULL);
    w->refs = 2;
    w->srv = r->srv;
    w->conn = r->conn;
    snprintf(w->id, sizeof w->id, "%s", id);
    r->wait = w;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_t t;
    /* suspend before the thread may resume */
    MHD_suspend_connection(r->conn);
    atomic_fetch_add(&g_active, 1);
    metrics_job_waiting(r->srv->metrics, 1);
    pthread_mutex_lock(&w->mu);
    int rc = pthread_create(&t, &attr, wait_thread, w);
    pthread_mutex_unlock(&w->mu);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        atomic_fetch_sub(&g_active, 1);
        metrics_job_waiting(r->srv->metrics, -1);
        w->done = 1;
        w->failed = 1;
        hub_err_set(&w->err, "cannot start a wait thread");
        w->refs = 1;
        MHD_resume_connection(r->conn);
    }
    return 0;
}

int async_wait_done(api_wait *w)
{
    pthread_mutex_lock(&w->mu);
    int d = w->done;
    pthread_mutex_unlock(&w->mu);
    return d;
}

int async_wait_result(api_wait *w, int *ended, json_t **job, hub_err *err)
{
    pthread_mutex_lock(&w->mu);
    int failed = w->failed;
    *ended = w->ended;
    *job = w->job ? json_incref(w->job) : NULL;
    if (failed && err)
        *err = w->err;
    pthread_mutex_unlock(&w->mu);
    return failed ? -1 : 0;
}

const char *async_wait_id(api_wait *w)
{
    return w->id;
}

void async_wait_release(api_wait *w)
{
    wait_unref(w);
}

/* ---------------- event streams ---------------- */

typedef struct sse {
    pthread_mutex_t mu;
    int refs;
    api_server *srv;
    struct MHD_Connection *conn;
    char id[QUEUE_JOB_ID_MAX];
    char last[QUEUE_ENTRY_ID_MAX];
    char *buf;
    size_t len, cap;
    int eof;           /* no more data will come */
    int gone;          /* the response was destroyed (client left) */
    int suspended;
} sse;

static void sse_unref(sse *s)
{
    pthread_mutex_lock(&s->mu);
    int last = --s->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (last) {
        free(s->buf);
        pthread_mutex_destroy(&s->mu);
        free(s);
    }
}

/* Appends text (mu held) and wakes the connection. Returns 0 or -1. */
static int sse_push(sse *s, const char *text, size_t n)
{
    if (s->len + n > s->cap) {
        size_t nc = (s->len + n) * 2 + 256;
        char *nb = realloc(s->buf, nc);
        if (!nb)
            return -1;
        s->buf = nb;
        s->cap = nc;
    }
    memcpy(s->buf + s->len, text, n);
    s->len += n;
    return 0;
}

static void sse_wake(sse *s)
{
    if (s->suspended && !s->gone) {
        s->suspended = 0;
        MHD_resume_connection(s->conn);
    }
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    sse *s = cls;
    pthread_mutex_lock(&s->mu);
    if (s->len > 0) {
        size_t n = s->len < max ? s->len : max;
        memcpy(buf, s->buf, n);
        memmove(s->buf, s->buf + n, s->len - n);
        s->len -= n;
        pthread_mutex_unlock(&s->mu);
        return (ssize_t)n;
    }
    if (s->eof) {
        pthread_mutex_unlock(&s->mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    s->suspended = 1;
    MHD_suspend_connection(s->conn);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static void sse_free_cb(void *cls)
{
    sse *s = cls;
    pthread_mutex_lock(&s->mu);
    s->gone = 1;
    pthread_mutex_unlock(&s->mu);
    sse_unref(s);
}

static void *sse_thread(void *arg)
{
    sse *s = arg;
    hub_err err = {0};
    queue *q = api_queue_get(s->srv, &err);
    int broken = q == NULL, final = 0;
    int64_t last_sent = api_now_ns();
    while (q && !final && !atomic_load(&g_streams_stop)) {
        pthread_mutex_lock(&s->mu);
        int gone = s->gone;
        pthread_mutex_unlock(&s->mu);
        if (gone)
            break;
        queue_event *ev = NULL;
        size_t n = 0;
        if (queue_events_read(q, s->id, s->last[0] ? s->last : NULL, 1000, 100, &ev, &n, &err) < 0) {
            broken = 1;
            log_warn("listen %s: %s", s->id, err.msg);
            break;
        }
        pthread_mutex_lock(&s->mu);
        for (size_t i = 0; i < n; i++) {
            char head[96];
            int k = snprintf(head, sizeof head, "id: %s\ndata: ", ev[i].entry_id);
            sse_push(s, head, (size_t)k);
            sse_push(s, ev[i].data, strlen(ev[i].data));
            sse_push(s, "\n\n", 2);
            snprintf(s->last, sizeof s->last, "%s", ev[i].entry_id);
            if (ev[i].final)
                final = 1;
        }
        if (n == 0 && api_now_ns() - last_sent > 15000000000LL)
            sse_push(s, ": keep-alive\n\n", 14), n = 1;
        if (n)
            last_sent = api_now_ns();
        sse_wake(s);
        pthread_mutex_unlock(&s->mu);
        queue_events_free(ev, n && ev ? n : 0);
        if (!final && n == 0) {
            /* the job may have expired meanwhile: stop when it is gone */
            char state[16];
            if (queue_job_state(q, s->id, state, sizeof state, &err) == 0 && state[0] == '\0')
                final = 1;
        }
    }
    api_queue_put(s->srv, q, broken);
    pthread_mutex_lock(&s->mu);
    s->eof = 1;
    sse_wake(s);
    pthread_mutex_unlock(&s->mu);
    atomic_fetch_sub(&g_active, 1);
    sse_unref(s);
    return NULL;
}

enum MHD_Result async_sse_start(api_req *r, const char *id, const char *last_id)
{
    sse *s = calloc(1, sizeof *s);
    if (!s)
        return api_page(r, 500);
    pthread_mutex_init(&s->mu, NULL);
    s->refs = 2; /* response + thread */
    s->srv = r->srv;
    s->conn = r->conn;
    snprintf(s->id, sizeof s->id, "%s", id);
    if (last_id && queue_entry_id_valid(last_id))
        snprintf(s->last, sizeof s->last, "%s", last_id);
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, s, sse_free_cb);
    if (!resp) {
        pthread_mutex_destroy(&s->mu);
        free(s);
        return api_page(r, 500);
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_t t;
    atomic_fetch_add(&g_active, 1);
    if (pthread_create(&t, &attr, sse_thread, s) != 0) {
        atomic_fetch_sub(&g_active, 1);
        s->eof = 1;
        s->refs = 1;
    }
    pthread_attr_destroy(&attr);
    return api_queue(r, 200, resp);
}
