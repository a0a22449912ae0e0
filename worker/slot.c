/* slot.c - one job slot: a thread that is one consumer of the group
 * "workers". It reclaims jobs dead workers left idle (XAUTOCLAIM; the queue
 * dead-letters those delivered too often), else takes the next new job,
 * runs it with a watcher, records the end once, removes the spool file and
 * acks (worker.h).
 *
 * Order of a job's end, for effectively-once: publish (rename) -> remove
 * the staging directories of all attempts -> record the end
 * (queue_job_finish, once) -> remove the spool -> ack. A crash
 * before the record re-runs the job (it publishes the same flist again,
 * atomically); a crash after it finds the job ended on re-delivery and only
 * cleans up and acks. Redis errors reconnect with backoff; recording the
 * end and the ack are retried until they succeed or the grace period ends
 * (then the entry stays pending and another worker finishes it). A job
 * reclaimed after more than job-max-deliveries deliveries is not run: its
 * spool and staging directories are removed and it is dead-lettered
 * (failed, "job abandoned after <n> deliveries").
 *
 * A crash between the rename and the record re-runs the job on its next
 * delivery, which publishes the same flist again: the build is
 * deterministic (same spool, input and configuration give the same bytes;
 * tests/e2e/test_worker.py checks it), and the rename is atomic, so readers
 * only ever see one complete, identical file. The window is the few
 * milliseconds between the rename and the Lua script that records the end.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dispatch.h"
#include "log.h"
#include "publish.h"
#include "queue.h"
#include "watch.h"
#include "worker.h"
#include "util.h"

#define CONNECT_BACKOFF_MAX_MS 2000
#define RETRY_BACKOFF_MAX_MS   5000
#define CLAIM_BLOCK_MS         1000
#define SLOT_CONNECT_TIMEOUT_MS 5000

/* A connection with the consumer group in place, or NULL (logged). */
static queue *slot_connect(worker_slot *s)
{
    hub_err err;
    queue *q = queue_connect(s->ws->cfg->redis_url, SLOT_CONNECT_TIMEOUT_MS, &err);
    if (!q) {
        log_warn("%s: %s", s->consumer, err.msg);
        return NULL;
    }
    queue_set_job_ttl(q, s->ws->cfg->job_ttl);
    if (queue_group_create(q, &err) != 0) {
        log_warn("%s: %s", s->consumer, err.msg);
        queue_close(q);
        return NULL;
    }
    return q;
}

/* Records the job's end, retrying Redis errors until hard stop. Returns 0
 * when recorded (or already ended), -1 when given up. */
static int record_end(worker_slot *s, queue **qp, const char *id, const json_t *result,
                      const hub_err *error, const json_t *final_event)
{
    long long wait = 200;
    for (;;) {
        hub_err err;
        int published = 0;
        if (*qp) {
            if (queue_job_finish(*qp, id, result, error, final_event, (long long)time(NULL),
                                 &published, &err) == 0) {
                if (!published)
                    log_info("job %s: had already ended; result not recorded twice", id);
                return 0;
            }
            log_warn("job %s: record the end: %s", id, err.msg);
            queue_close(*qp);
            *qp = NULL;
        }
        if (worker_sleep(s->ws, wait) != 0)
            return -1;
        wait = wait * 2 > RETRY_BACKOFF_MAX_MS ? RETRY_BACKOFF_MAX_MS : wait * 2;
        *qp = slot_connect(s);
    }
}

/* Acks the entry, retrying Redis errors until hard stop. */
static void ack_entry(worker_slot *s, queue **qp, const queue_claim *c)
{
    long long wait = 200;
    for (;;) {
        hub_err err;
        if (*qp) {
            if (queue_ack(*qp, c->entry_id, &err) == 0)
                return;
            log_warn("job %s: ack: %s", c->job_id, err.msg);
            queue_close(*qp);
            *qp = NULL;
        }
        if (worker_sleep(s->ws, wait) != 0)
            return;
        wait = wait * 2 > RETRY_BACKOFF_MAX_MS ? RETRY_BACKOFF_MAX_MS : wait * 2;
        *qp = slot_connect(s);
    }
}

/* Removes what an ended job may have left: its spool file and the staging
 * directories of all its attempts. */
static void cleanup_inputs(worker_slot *s, const json_t *job)
{
    const json_t *input = json_object_get(job, "input");
    const char *spool = jobmsg_spool(input);
    hub_err err;
    if (spool && spool_remove(s->ws->cfg, spool, &err) != 0)
        log_warn("%s", err.msg);
    const char *repo = jobmsg_repository(input, json_string_value(json_object_get(job, "user")));
    stage_sweep(s->ws->cfg, repo, json_string_value(json_object_get(job, "id")));
}

/* A job delivered too often (its workers keep dying on it): removes what
 * it left (spool, staging directories), then dead-letters it, which marks
 * it failed with the reason and acks it (one whose end was recorded is
 * only acked). Cleaning up first means a crash
 * meanwhile leaves nothing behind for good: the entry stays pending and the
 * next reclaim finds it over the limit again. */
static void dead_letter_claim(worker_slot *s, queue **qp, const queue_claim *c)
{
    hub_err err;
    json_t *job = NULL;
    if (queue_job_get(*qp, c->job_id, &job, &err) != 0) {
        log_warn("job %s: read: %s (dead letter left for a retry)", c->job_id, err.msg);
        queue_close(*qp);
        *qp = NULL;
        return;
    }
    const char *state = json_string_value(json_object_get(job, "state"));
    int ended = state && (!strcmp(state, "done") || !strcmp(state, "failed"));
    if (job)
        cleanup_inputs(s, job);
    json_decref(job);
    if (ended) {   /* its end was recorded, only the ack was lost */
        log_info("job %s: already ended; acknowledging", c->job_id);
        ack_entry(s, qp, c);
        return;
    }
    char reason[96];
    queue_over_limit_reason(c, reason, sizeof reason);
    if (queue_dead_letter(*qp, c, reason, &err) != 0) {
        log_warn("job %s: dead letter: %s (left for a retry)", c->job_id, err.msg);
        queue_close(*qp);
        *qp = NULL;
        return;
    }
    log_warn("job %s: %s: dead-lettered and failed", c->job_id, reason);
}

/* Runs one delivered job to its end (or hands it back). */
static void run_claim(worker_slot *s, queue **qp, const queue_claim *c)
{
    hub_err err;
    queue_start what;
    if (queue_job_start(*qp, c->job_id, (long long)time(NULL), &what, &err) != 0) {
        log_warn("job %s: start: %s (left for a retry)", c->job_id, err.msg);
        queue_close(*qp);
        *qp = NULL;
        return;
    }
    json_t *job = NULL;
    if (queue_job_get(*qp, c->job_id, &job, &err) != 0) {
        log_warn("job %s: read: %s (left for a retry)", c->job_id, err.msg);
        queue_close(*qp);
        *qp = NULL;
        return;
    }
    if (what != QUEUE_START_RUN || !job) {
        log_info("job %s: %s; acknowledging", c->job_id,
                 what == QUEUE_START_ENDED ? "already ended" : "no longer exists");
        if (job)
            cleanup_inputs(s, job);
        json_decref(job);
        ack_entry(s, qp, c);
        return;
    }

    const char *type = json_string_value(json_object_get(job, "type"));
    const char *user = json_string_value(json_object_get(job, "user"));
    const json_t *input = json_object_get(job, "input");
    /* the api request's id: on every line this thread logs for the job */
    log_set_request_id(json_string_value(json_object_get(job, "request_id")));
    job_watch *watch = job_watch_start(s->ws, s->consumer, c->entry_id, c->job_id, &err);
    if (!watch) {
        log_warn("job %s: %s (left for a retry)", c->job_id, err.msg);
        json_decref(job);
        log_set_request_id(NULL);
        return;
    }
    long long t0 = util_mono_ms();
    job_ctx ctx = {
        .ws = s->ws, .id = c->job_id, .user = user ? user : "", .input = input, .watch = watch,
        .q = *qp, .started_ms = t0,
    };
    log_info("job %s: %s for %s (delivery %lld) on %s", c->job_id, type ? type : "?",
             user ? user : "?", c->deliveries, s->consumer);
    json_t *result = NULL, *final_event = NULL;
    int rc = jobmsg_kind_parse(type, &ctx.kind, &err);
    if (rc == 0)
        rc = dispatch_job(&ctx, &result, &final_event, &err);
    /* A failure is recorded only by the job's owner: a worker whose job
     * was taken over meanwhile must not fail it under the new owner. */
    hub_err cerr;
    if (rc != 0 && rc != JOB_ABANDONED && job_watch_confirm(watch, &cerr) != 0)
        rc = JOB_ABANDONED;
    if (rc == JOB_ABANDONED) {
        log_warn("job %s: taken over by another worker; handed back", c->job_id);
        goto out;
    }
    if (rc != 0)
        log_info("job %s: failed after %lld ms: %s", c->job_id, util_mono_ms() - t0, err.msg);
    else
        log_info("job %s: done in %lld ms", c->job_id, util_mono_ms() - t0);
    job_watch_flush(watch);
    /* Staging directories of every attempt go before the end is visible
     * (the owner is confirmed: no other attempt may still publish). */
    stage_sweep(s->ws->cfg, jobmsg_repository(input, user), c->job_id);
    if (record_end(s, qp, c->job_id, rc == 0 ? result : NULL, rc == 0 ? NULL : &err,
                   rc == 0 ? final_event : NULL) != 0) {
        log_warn("job %s: end not recorded (stopping); left for another worker", c->job_id);
        goto out;
    }
    cleanup_inputs(s, job);
    ack_entry(s, qp, c);
out:
    job_watch_stop(watch);
    json_decref(result);
    json_decref(final_event);
    json_decref(job);
    log_set_request_id(NULL);
}

void *worker_slot_main(void *arg)
{
    worker_slot *s = arg;
    worker_settings *ws = s->ws;
    queue *q = NULL;
    long long reclaim_every = ws->reclaim_idle_ms / 2;
    if (reclaim_every < 200)
        reclaim_every = 200;
    if (reclaim_every > 5000)
        reclaim_every = 5000;
    long long next_reclaim = 0, backoff = 200;

    while (!atomic_load(&ws->stopping)) {
        if (!q) {
            q = slot_connect(s);
            if (!q) {
                worker_sleep(ws, backoff);
                backoff = backoff * 2 > CONNECT_BACKOFF_MAX_MS ? CONNECT_BACKOFF_MAX_MS
                                                               : backoff * 2;
                continue;
            }
            backoff = 200;
        }
        queue_claim c;
        int got = 0;
        hub_err err;
        long long now = util_mono_ms();
        if (now >= next_reclaim) {
            next_reclaim = now + reclaim_every;
            if (queue_reclaim_idle(q, s->consumer, ws->reclaim_idle_ms, ws->max_deliveries, &c,
                                   &got, &err) != 0) {
                log_warn("%s: reclaim: %s", s->consumer, err.msg);
                queue_close(q);
                q = NULL;
                continue;
            }
            if (got && c.over_limit) {
                dead_letter_claim(s, &q, &c);
                next_reclaim = 0;   /* more may be idle */
                continue;
            }
            if (got)
                log_info("job %s: reclaimed from an idle worker (delivery %lld)", c.job_id,
                         c.deliveries);
        }
        if (!got && queue_claim_next(q, s->consumer, CLAIM_BLOCK_MS, &c, &got, &err) != 0) {
            log_warn("%s: claim: %s", s->consumer, err.msg);
            queue_close(q);
            q = NULL;
            continue;
        }
        if (!got || !c.job_id[0])
            continue;
        atomic_store(&s->busy, 1);
        run_claim(s, &q, &c);
        atomic_store(&s->busy, 0);
    }
    queue_close(q);
    return NULL;
}
