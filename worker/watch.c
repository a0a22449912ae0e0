/* watch.c - the companion thread of a running job: heartbeat, throttled
 * progress events, take-over detection (watch.h). */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "queue.h"
#include "watch.h"
#include "util.h"

#define WATCH_TICK_MS      100
#define WATCH_RECONNECT_MS 1000
#define WATCH_CONNECT_TIMEOUT_MS 2000
#define WATCH_CONFIRM_RETRY_MS   500   /* between tries to confirm ownership */

struct job_watch {
    const worker_settings *ws;
    pthread_t thread;
    pthread_mutex_t mu;          /* guards everything below */
    pthread_cond_t cv;
    queue *q;                    /* NULL while Redis is unreachable */
    long long next_connect;      /* monotonic ms of the next connect try */
    char consumer[256];
    char entry[QUEUE_ENTRY_ID_MAX];
    char job[QUEUE_JOB_ID_MAX];
    int stop;                    /* the thread must end */
    int flushed;                 /* progress publishing is over */
    atomic_int lost;             /* taken over by another consumer */
    long long next_heartbeat;
    long long heartbeat_until;   /* monotonic ms; 0 = for ever (see watch_main) */
    /* progress wanted by the job, and the last one published */
    int want_progress, have_want;
    char want_msg[256];
    int pub_progress;
    char pub_msg[256];
    /* progress from a descriptor's offset */
    int fd;
    off_t size;
    int lo, hi;
    char prefix[128];
};

/* Makes sure w->q is connected (at most one try per WATCH_RECONNECT_MS).
 * Returns 0 when connected. Lock held. */
static int ensure_conn(job_watch *w)
{
    if (w->q)
        return 0;
    long long now = util_mono_ms();
    if (now < w->next_connect)
        return -1;
    w->next_connect = now + WATCH_RECONNECT_MS;
    hub_err err;
    w->q = queue_connect(w->ws->cfg->redis_url, WATCH_CONNECT_TIMEOUT_MS, &err);
    if (!w->q) {
        log_warn("job %s: watcher: %s", w->job, err.msg);
        return -1;
    }
    return 0;
}

/* Drops the connection after a Redis error. Lock held. */
static void drop_conn(job_watch *w)
{
    queue_close(w->q);
    w->q = NULL;
}

/* One heartbeat. Returns 0 (owned), 1 (taken over), -1 (Redis error).
 * Lock held. */
static int heartbeat_locked(job_watch *w, hub_err *err)
{
    if (ensure_conn(w) != 0)
        return hub_err_set(err, "job queue unreachable");
    if (queue_heartbeat(w->q, w->consumer, w->entry, err) == 0)
        return 0;
    if (err->code == HUB_E_LOST) {
        if (!atomic_exchange(&w->lost, 1))
            log_warn("job %s: %s; abandoning it", w->job, err->msg);
        return 1;
    }
    drop_conn(w);
    return -1;
}

/* Publishes the wanted progress when it differs from the last published
 * one. Lock held. */
static void publish_pending_locked(job_watch *w)
{
    if (w->fd >= 0 && w->size > 0) {
        off_t off = lseek(w->fd, 0, SEEK_CUR);
        if (off > 0) {
            if (off > w->size)
                off = w->size;
            long long p = w->lo + (long long)(w->hi - w->lo) * off / w->size;
            if (p > 0 && p != w->pub_progress) {
                w->want_progress = (int)p;
                snprintf(w->want_msg, sizeof w->want_msg, "%s%lld%%", w->prefix, p);
                w->have_want = 1;
            }
        }
    }
    if (!w->have_want)
        return;
    if (w->want_progress == w->pub_progress && strcmp(w->want_msg, w->pub_msg) == 0) {
        w->have_want = 0;
        return;
    }
    if (ensure_conn(w) != 0)
        return;
    hub_err err;
    if (queue_job_progress(w->q, w->job, w->want_progress, w->want_msg, &err) != 0) {
        log_warn("job %s: progress event: %s", w->job, err.msg);
        drop_conn(w);
        return;
    }
    w->pub_progress = w->want_progress;
    memcpy(w->pub_msg, w->want_msg, sizeof w->pub_msg);
    w->have_want = 0;
}

static void *watch_main(void *arg)
{
    job_watch *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        long long now = util_mono_ms();
        /* A job past job-max-duration has failed itself wherever it checks
         * the time (the writer does per chunk); one still running a
         * reclaim period later is stuck elsewhere: no more heartbeats, so
         * the queue hands it on and dead-letters it after
         * job-max-deliveries instead of it holding the queue for ever. */
        if (w->heartbeat_until && now >= w->heartbeat_until && now >= w->next_heartbeat) {
            log_error("job %s: still running %lld s past job-max-duration; no more "
                      "heartbeats", w->job, (now - w->heartbeat_until) / 1000 +
                      w->ws->reclaim_idle_ms / 1000);
            w->heartbeat_until = 0;
            w->next_heartbeat = LLONG_MAX;
        }
        if (now >= w->next_heartbeat && !atomic_load(&w->lost)) {
            hub_err err;
            if (heartbeat_locked(w, &err) < 0)
                log_warn("job %s: heartbeat: %s", w->job, err.msg);
            w->next_heartbeat = now + w->ws->heartbeat_ms;
        }
        if (!w->flushed)
            publish_pending_locked(w);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += WATCH_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

job_watch *job_watch_start(const worker_settings *ws, const char *consumer,
                           const char *entry_id, const char *job_id, hub_err *err)
{
    job_watch *w = calloc(1, sizeof *w);
    if (!w) {
        hub_err_set(err, "out of memory");
        return NULL;
    }
    w->ws = ws;
    w->fd = -1;
    snprintf(w->consumer, sizeof w->consumer, "%s", consumer);
    snprintf(w->entry, sizeof w->entry, "%s", entry_id);
    snprintf(w->job, sizeof w->job, "%s", job_id);
    w->q = queue_connect(ws->cfg->redis_url, WATCH_CONNECT_TIMEOUT_MS, err);
    if (!w->q) {
        free(w);
        return NULL;
    }
    /* The claim itself reset the idle time: first heartbeat one period on. */
    long long now = util_mono_ms();
    w->next_heartbeat = now + ws->heartbeat_ms;
    if (ws->cfg->job_max_duration > 0)
        w->heartbeat_until = now + (long long)ws->cfg->job_max_duration * 1000 +
                             ws->reclaim_idle_ms;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    int rc = pthread_create(&w->thread, NULL, watch_main, w);
    if (rc != 0) {
        hub_err_set(err, "watcher thread: %s", strerror(rc));
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        queue_close(w->q);
        free(w);
        return NULL;
    }
    return w;
}

void job_watch_progress(job_watch *w, int progress, const char *message)
{
    pthread_mutex_lock(&w->mu);
    w->want_progress = progress < 0 ? 0 : progress > 100 ? 100 : progress;
    snprintf(w->want_msg, sizeof w->want_msg, "%s", message ? message : "");
    w->have_want = 1;
    pthread_mutex_unlock(&w->mu);
}

void job_watch_track_fd(job_watch *w, int fd, off_t size, int lo, int hi, const char *prefix)
{
    pthread_mutex_lock(&w->mu);
    w->fd = fd;
    w->size = size;
    w->lo = lo;
    w->hi = hi;
    snprintf(w->prefix, sizeof w->prefix, "%s", prefix ? prefix : "");
    pthread_mutex_unlock(&w->mu);
}

int job_watch_event(job_watch *w, int progress, const char *message, hub_err *err)
{
    int rc = 0;
    pthread_mutex_lock(&w->mu);
    if (!w->flushed)
        publish_pending_locked(w);
    if (ensure_conn(w) != 0) {
        rc = hub_err_set(err, "job queue unreachable");
    } else if (queue_job_progress(w->q, w->job, progress, message, err) != 0) {
        drop_conn(w);
        rc = -1;
    } else {
        w->pub_progress = progress;
        snprintf(w->pub_msg, sizeof w->pub_msg, "%s", message);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int job_watch_lost(job_watch *w)
{
    return atomic_load(&w->lost);
}

int job_watch_confirm(job_watch *w, hub_err *err)
{
    long long deadline = util_mono_ms() + w->ws->reclaim_idle_ms;
    int rc = -1;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        if (atomic_load(&w->lost)) {
            hub_err_set(err, "job was taken over by another worker");
            break;
        }
        w->next_connect = 0;
        int hb = heartbeat_locked(w, err);
        if (hb == 0) {
            w->next_heartbeat = util_mono_ms() + w->ws->heartbeat_ms;
            rc = 0;
            break;
        }
        if (hb == 1) {
            hub_err_set(err, "job was taken over by another worker");
            break;
        }
        if (util_mono_ms() >= deadline || atomic_load(&w->ws->hard_stop)) {
            hub_err_prefix(err, "cannot confirm the job's ownership");
            break;
        }
        pthread_mutex_unlock(&w->mu);
        worker_sleep(w->ws, WATCH_CONFIRM_RETRY_MS);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void job_watch_flush(job_watch *w)
{
    pthread_mutex_lock(&w->mu);
    if (!w->flushed)
        publish_pending_locked(w);
    w->flushed = 1;
    w->fd = -1;
    pthread_mutex_unlock(&w->mu);
}

void job_watch_stop(job_watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    queue_close(w->q);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
