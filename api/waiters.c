/* waiters.c - one reader thread for every request waiting on a job
 * (waiters.h).
 *
 * Ownership: a waiter is shared by the reader (its list) and by the request
 * (a job wait: r->wait) or by the stream's response (a stream), reference
 * counted. The reader drops its reference when the waiter ends; the
 * request's goes in the completion callback, the response's when MHD
 * destroys it. Fields shared with MHD's threads are under the waiter's
 * mutex; the reader's list, sorting and arrays belong to the reader alone;
 * new waiters reach it through the registry's pending list.
 */
#include "waiters.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "qpool.h"
#include "util.h"

#define QUEUE_CONNECT_TIMEOUT_MS 3000

typedef enum waiter_kind { WAITER_JOB, WAITER_STREAM } waiter_kind;

struct api_wait {
    pthread_mutex_t mu;
    int refs;
    waiter_kind kind;
    api_waiters *hub;
    struct MHD_Connection *conn;
    char id[QUEUE_JOB_ID_MAX];
    char last[QUEUE_ENTRY_ID_MAX];   /* last event delivered, "0-0" = none */
    int64_t active_ms;               /* last event or keep-alive (reader) */
    int64_t checked_ms;              /* last expiry check (reader) */
    int64_t ended_ms;                /* a check found the job ended (reader) */
    struct api_wait *next;           /* the pending list */
    /* job waits */
    int64_t deadline_ms;
    int final_seen;                  /* reader: the job's final event came */
    int done, ended, failed;         /* under mu */
    json_t *job;
    hub_err err;
    /* streams, under mu */
    char *buf;
    size_t len, cap;
    int eof;                         /* nothing more will come */
    int gone;                        /* the response was destroyed */
    int suspended;
};

struct api_waiters {
    api_server *srv;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;              /* pending, the flags, cv */
    pthread_cond_t cv;
    api_wait *pending;
    int stop, streams_stop, shutdown;
    _Atomic long long client_id;     /* the reader's Redis connection */
    _Atomic int active, nwaits, nstreams;
    /* the reader's own */
    api_wait **list;
    size_t n, cap;
};

/* ---------------- waiters ---------------- */

static api_wait *waiter_new(api_waiters *h, waiter_kind kind, api_req *r, const char *id)
{
    api_wait *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    pthread_mutex_init(&w->mu, NULL);
    w->refs = 2;
    w->kind = kind;
    w->hub = h;
    w->conn = r->conn;
    snprintf(w->id, sizeof w->id, "%s", id);
    strcpy(w->last, "0-0");
    w->active_ms = w->checked_ms = util_mono_ms();
    return w;
}

static void waiter_unref(api_wait *w)
{
    pthread_mutex_lock(&w->mu);
    int last = --w->refs == 0;
    pthread_mutex_unlock(&w->mu);
    if (last) {
        json_decref(w->job);
        free(w->buf);
        pthread_mutex_destroy(&w->mu);
        free(w);
    }
}

/* Compares two stream entry ids "<ms>-<seq>" numerically. */
static int entry_cmp(const char *a, const char *b)
{
    unsigned long long am = strtoull(a, (char **)&a, 10), bm = strtoull(b, (char **)&b, 10);
    unsigned long long as = *a == '-' ? strtoull(a + 1, NULL, 10) : 0;
    unsigned long long bs = *b == '-' ? strtoull(b + 1, NULL, 10) : 0;
    if (am != bm)
        return am < bm ? -1 : 1;
    return as < bs ? -1 : as > bs;
}

/* Registers w with the reader and wakes it (CLIENT UNBLOCK of its XREAD). */
static void hub_add(api_waiters *h, api_wait *w)
{
    atomic_fetch_add(&h->active, 1);
    atomic_fetch_add(w->kind == WAITER_JOB ? &h->nwaits : &h->nstreams, 1);
    pthread_mutex_lock(&h->mu);
    w->next = h->pending;
    h->pending = w;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    long long id = atomic_load(&h->client_id);
    if (id > 0) {
        hub_err err;
        queue *q = qpool_get(h->srv->qpool, &err);
        int rc = q ? queue_client_unblock(q, id, &err) : -1;
        qpool_put(h->srv->qpool, q, rc != 0);
    }
}

/* ---------------- job waits ---------------- */

/* Ends a job wait and resumes its request (reader thread). */
static void job_end(api_wait *w, int ended, json_t *job, const hub_err *err)
{
    pthread_mutex_lock(&w->mu);
    w->done = 1;
    w->ended = ended;
    w->job = job;
    w->failed = err != NULL;
    if (err)
        w->err = *err;
    MHD_resume_connection(w->conn);
    pthread_mutex_unlock(&w->mu);
}

int waiters_wait_job(api_req *r, const char *id, hub_err *err)
{
    api_waiters *h = r->srv->waiters;
    api_wait *w = waiter_new(h, WAITER_JOB, r, id);
    if (!w)
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    w->deadline_ms = util_mono_ms() + (int64_t)r->srv->cfg.job_wait_timeout * 1000;
    r->wait = w;
    /* parked before the reader may resume it */
    MHD_suspend_connection(r->conn);
    metrics_job_waiting(r->srv->metrics, 1);
    hub_add(h, w);
    return 0;
}

int waiters_wait_result(api_wait *w, int *ended, json_t **job, hub_err *err)
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

const char *waiters_wait_id(api_wait *w)
{
    return w->id;
}

void waiters_wait_release(api_wait *w)
{
    waiter_unref(w);
}

/* ---------------- streams ---------------- */

/* Appends text to the stream's buffer (mu held). Returns 0 or -1. */
static int stream_push(api_wait *w, const char *text, size_t n)
{
    if (w->len + n > w->cap) {
        size_t nc = (w->len + n) * 2 + 256;
        char *nb = realloc(w->buf, nc);
        if (!nb)
            return -1;
        w->buf = nb;
        w->cap = nc;
    }
    memcpy(w->buf + w->len, text, n);
    w->len += n;
    return 0;
}

/* Resumes the stream's connection when it is parked for data (mu held). */
static void stream_wake(api_wait *w)
{
    if (w->suspended && !w->gone) {
        w->suspended = 0;
        MHD_resume_connection(w->conn);
    }
}

/* Marks the stream ended and wakes it (reader thread). */
static void stream_end(api_wait *w)
{
    pthread_mutex_lock(&w->mu);
    w->eof = 1;
    stream_wake(w);
    pthread_mutex_unlock(&w->mu);
}

/* MHD's content reader: what is buffered, the end, or park until more. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    api_wait *w = cls;
    pthread_mutex_lock(&w->mu);
    if (w->len > 0) {
        size_t n = w->len < max ? w->len : max;
        memcpy(buf, w->buf, n);
        memmove(w->buf, w->buf + n, w->len - n);
        w->len -= n;
        pthread_mutex_unlock(&w->mu);
        return (ssize_t)n;
    }
    if (w->eof) {
        pthread_mutex_unlock(&w->mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    w->suspended = 1;
    MHD_suspend_connection(w->conn);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

/* The response is gone (sent, or the client left). */
static void stream_free(void *cls)
{
    api_wait *w = cls;
    pthread_mutex_lock(&w->mu);
    w->gone = 1;
    pthread_mutex_unlock(&w->mu);
    waiter_unref(w);
}

enum MHD_Result waiters_stream(api_req *r, const char *id, const char *last_id)
{
    api_waiters *h = r->srv->waiters;
    api_wait *w = waiter_new(h, WAITER_STREAM, r, id);
    if (!w)
        return api_page(r, 500);
    if (last_id && queue_entry_id_valid(last_id))
        snprintf(w->last, sizeof w->last, "%s", last_id);
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, w, stream_free);
    if (!resp) {
        w->refs = 1;
        waiter_unref(w);
        return api_page(r, 500);
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    hub_add(h, w);
    return api_respond(r, 200, resp);
}

/* ---------------- the reader ---------------- */

/* What on_event needs: the sorted list. */
typedef struct read_ctx {
    api_wait **list;
    size_t n;
} read_ctx;

static int by_id(const void *a, const void *b)
{
    return strcmp((*(api_wait *const *)a)->id, (*(api_wait *const *)b)->id);
}

/* One event of job_id: to every waiter of the job that has not had it. */
static void on_event(void *ctx, const char *job_id, const queue_event *ev)
{
    read_ctx *c = ctx;
    size_t lo = 0, hi = c->n;
    while (lo < hi) {   /* the first waiter of job_id */
        size_t mid = (lo + hi) / 2;
        if (strcmp(c->list[mid]->id, job_id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    int64_t now = util_mono_ms();
    for (size_t i = lo; i < c->n && strcmp(c->list[i]->id, job_id) == 0; i++) {
        api_wait *w = c->list[i];
        if (entry_cmp(ev->entry_id, w->last) <= 0)
            continue;
        snprintf(w->last, sizeof w->last, "%s", ev->entry_id);
        w->active_ms = now;
        if (w->kind == WAITER_JOB) {
            w->final_seen |= ev->final;
            continue;
        }
        char head[96];
        int k = snprintf(head, sizeof head, "id: %s\ndata: ", ev->entry_id);
        pthread_mutex_lock(&w->mu);
        if (stream_push(w, head, (size_t)k) != 0 || stream_push(w, ev->data, strlen(ev->data)) != 0 ||
            stream_push(w, "\n\n", 2) != 0 || ev->final)
            w->eof = 1;
        stream_wake(w);
        pthread_mutex_unlock(&w->mu);
    }
}

/* 1 when the reader is done with w (ended, or its client left). */
static int finished(api_wait *w)
{
    pthread_mutex_lock(&w->mu);
    int f = w->kind == WAITER_JOB ? w->done : (w->eof || w->gone);
    pthread_mutex_unlock(&w->mu);
    return f;
}

/* Removes the waiters the reader is done with from its list. */
static void drop_finished(api_waiters *h)
{
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++) {
        api_wait *w = h->list[i];
        if (!finished(w)) {
            h->list[k++] = w;
            continue;
        }
        if (w->kind == WAITER_JOB)
            metrics_job_waiting(h->srv->metrics, -1);
        atomic_fetch_sub(w->kind == WAITER_JOB ? &h->nwaits : &h->nstreams, 1);
        atomic_fetch_sub(&h->active, 1);
        waiter_unref(w);
    }
    h->n = k;
}

/* Takes the pending waiters into the list. Returns 0, or -1 when out of
 * memory (they stay pending). */
static int take_pending(api_waiters *h, api_wait *p)
{
    while (p) {
        api_wait *next = p->next;
        if (h->n == h->cap) {
            size_t nc = h->cap ? h->cap * 2 : 64;
            api_wait **nl = realloc(h->list, nc * sizeof *nl);
            if (!nl) {
                pthread_mutex_lock(&h->mu);
                while (p) {   /* back to pending */
                    next = p->next;
                    p->next = h->pending;
                    h->pending = p;
                    p = next;
                }
                pthread_mutex_unlock(&h->mu);
                return -1;
            }
            h->list = nl;
            h->cap = nc;
        }
        h->list[h->n++] = p;
        p = next;
    }
    return 0;
}

/* Timers: ends job waits past their deadline (or all, on shutdown) and
 * streams on stop, and sends keep-alive comments. */
static void run_timers(api_waiters *h, int streams_stop, int shutdown)
{
    int64_t now = util_mono_ms();
    for (size_t i = 0; i < h->n; i++) {
        api_wait *w = h->list[i];
        if (w->kind == WAITER_JOB) {
            if (!w->done && (shutdown || now >= w->deadline_ms))
                job_end(w, 0, NULL, NULL);
        } else if (streams_stop || shutdown) {
            stream_end(w);
        } else if (now - w->active_ms >= WAITERS_KEEPALIVE_MS) {
            w->active_ms = now;
            pthread_mutex_lock(&w->mu);
            stream_push(w, ": keep-alive\n\n", 14);
            stream_wake(w);
            pthread_mutex_unlock(&w->mu);
        }
    }
}

/* Job waits whose final event came: fetch the job and end the wait. */
static void end_finished_jobs(api_waiters *h, queue *q)
{
    for (size_t i = 0; i < h->n; i++) {
        api_wait *w = h->list[i];
        if (w->kind != WAITER_JOB || !w->final_seen || w->done)
            continue;
        json_t *job = NULL;
        hub_err err;
        if (queue_job_get(q, w->id, &job, &err) < 0)
            return;   /* Redis went away: tried again next turn */
        if (job) {
            job_end(w, 1, job, NULL);
        } else {
            hub_err_setc(&err, HUB_E_NOT_FOUND, "job %s not found", w->id);
            job_end(w, 0, NULL, &err);
        }
    }
}

/* Jobs nothing was heard of for WAITERS_STATE_CHECK_MS: one pipelined
 * HGET state for all of them. A job that is gone (expired) ends its waits
 * and streams; a wait on an ended job fetches it; a stream of an ended job
 * still gets its final event, or ends a check period later. */
static void check_idle_jobs(api_waiters *h, queue *q)
{
    int64_t now = util_mono_ms();
    size_t m = 0;
    for (size_t i = 0; i < h->n; i++)
        m += now - h->list[i]->active_ms >= WAITERS_STATE_CHECK_MS &&
             now - h->list[i]->checked_ms >= WAITERS_STATE_CHECK_MS;
    if (m == 0)
        return;
    const char **ids = calloc(m, sizeof *ids);
    api_wait **who = calloc(m, sizeof *who);
    char (*states)[QUEUE_STATE_MAX] = calloc(m, sizeof *states);
    if (!ids || !who || !states)
        goto out;
    size_t k = 0;
    for (size_t i = 0; i < h->n && k < m; i++) {
        api_wait *w = h->list[i];
        if (now - w->active_ms >= WAITERS_STATE_CHECK_MS &&
            now - w->checked_ms >= WAITERS_STATE_CHECK_MS) {
            w->checked_ms = now;
            who[k] = w;
            ids[k++] = w->id;
        }
    }
    hub_err err;
    if (queue_job_states(q, ids, k, states, &err) != 0)
        goto out;
    for (size_t i = 0; i < k; i++) {
        int gone = states[i][0] == '\0';
        int ended = strcmp(states[i], "done") == 0 || strcmp(states[i], "failed") == 0;
        if (!gone && !ended)
            continue;
        if (who[i]->kind == WAITER_STREAM) {
            /* the final event is written with the final state (one script):
             * an ended job whose final event did not come for a whole check
             * period lost its events (expired); end the stream then */
            if (gone || (who[i]->ended_ms && now - who[i]->ended_ms >= WAITERS_STATE_CHECK_MS))
                stream_end(who[i]);
            else if (!who[i]->ended_ms)
                who[i]->ended_ms = now;
        } else if (ended)
            who[i]->final_seen = 1;
        else {
            hub_err_setc(&err, HUB_E_NOT_FOUND, "job %s not found", who[i]->id);
            job_end(who[i], 0, NULL, &err);
        }
    }
out:
    free(ids);
    free(who);
    free(states);
}

/* One XREAD over every watched job, from the oldest event any waiter of
 * the job still needs. Returns 0 or -1 (Redis error: reconnect). */
static int read_events(api_waiters *h, queue *q)
{
    qsort(h->list, h->n, sizeof *h->list, by_id);
    const char **ids = calloc(h->n, sizeof *ids);
    const char **afters = calloc(h->n, sizeof *afters);
    int rc = -1;
    if (ids && afters) {
        size_t g = 0;
        for (size_t i = 0; i < h->n; i++) {
            api_wait *w = h->list[i];
            if (g > 0 && strcmp(ids[g - 1], w->id) == 0) {
                if (entry_cmp(w->last, afters[g - 1]) < 0)
                    afters[g - 1] = w->last;
                continue;
            }
            ids[g] = w->id;
            afters[g++] = w->last;
        }
        read_ctx c = { h->list, h->n };
        hub_err err;
        rc = queue_events_read_many(q, ids, afters, g, WAITERS_BLOCK_MS, WAITERS_EVENTS_PER_READ,
                                    on_event, &c, &err);
        if (rc != 0)
            log_warn("waiters: %s", err.msg);
    }
    free(ids);
    free(afters);
    return rc;
}

static void *reader_main(void *arg)
{
    api_waiters *h = arg;
    queue *q = NULL;
    for (;;) {
        pthread_mutex_lock(&h->mu);
        api_wait *p = h->pending;
        h->pending = NULL;
        int stop = h->stop, streams_stop = h->streams_stop, shutdown = h->shutdown;
        pthread_mutex_unlock(&h->mu);
        take_pending(h, p);
        run_timers(h, streams_stop, shutdown);
        drop_finished(h);
        if (stop && h->n == 0)
            break;
        if (h->n == 0) {   /* nothing to watch: sleep until a waiter comes */
            pthread_mutex_lock(&h->mu);
            if (!h->pending && !h->stop) {
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += 1;
                pthread_cond_timedwait(&h->cv, &h->mu, &until);
            }
            pthread_mutex_unlock(&h->mu);
            continue;
        }
        if (!q) {
            hub_err err;
            q = queue_connect(h->srv->cfg.redis_url, QUEUE_CONNECT_TIMEOUT_MS, &err);
            if (!q) {
                log_warn("waiters: %s", err.msg);
                struct timespec ts = { 0, 500 * 1000000L };
                nanosleep(&ts, NULL);
                continue;
            }
            atomic_store(&h->client_id, queue_client_id(q));
        }
        if (read_events(h, q) != 0) {
            queue_close(q);
            q = NULL;
            atomic_store(&h->client_id, 0);
            continue;
        }
        /* the queue reconnects by itself after an error: a new client id */
        atomic_store(&h->client_id, queue_client_id(q));
        end_finished_jobs(h, q);
        check_idle_jobs(h, q);
    }
    queue_close(q);
    return NULL;
}

/* ---------------- registry ---------------- */

api_waiters *waiters_new(api_server *srv, hub_err *err)
{
    api_waiters *h = calloc(1, sizeof *h);
    if (!h) {
        hub_err_setc(err, HUB_E_NOMEM, "out of memory");
        return NULL;
    }
    h->srv = srv;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    if (pthread_create(&h->thread, NULL, reader_main, h) != 0) {
        hub_err_set(err, "cannot start the waiters' reader thread");
        waiters_free(h);
        return NULL;
    }
    h->started = 1;
    return h;
}

/* Sets a flag under mu and wakes the reader. */
static void signal_reader(api_waiters *h, int *flag)
{
    pthread_mutex_lock(&h->mu);
    *flag = 1;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    long long id = atomic_load(&h->client_id);
    if (id > 0) {
        hub_err err;
        queue *q = qpool_get(h->srv->qpool, &err);
        int rc = q ? queue_client_unblock(q, id, &err) : -1;
        qpool_put(h->srv->qpool, q, rc != 0);
    }
}

void waiters_stop_streams(api_waiters *h)
{
    if (h)
        signal_reader(h, &h->streams_stop);
}

void waiters_shutdown(api_waiters *h)
{
    if (h)
        signal_reader(h, &h->shutdown);
}

int waiters_active(api_waiters *h)
{
    return h ? atomic_load(&h->active) : 0;
}

void waiters_counts(api_waiters *h, int *waits, int *streams)
{
    *waits = h ? atomic_load(&h->nwaits) : 0;
    *streams = h ? atomic_load(&h->nstreams) : 0;
}

void waiters_free(api_waiters *h)
{
    if (!h)
        return;
    if (h->started) {
        pthread_mutex_lock(&h->mu);
        h->shutdown = 1;
        pthread_mutex_unlock(&h->mu);
        signal_reader(h, &h->stop);
        pthread_join(h->thread, NULL);
    }
    /* waiters registered after the reader left */
    for (api_wait *p = h->pending, *next; p; p = next) {
        next = p->next;
        waiter_unref(p);
    }
    free(h->list);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}
