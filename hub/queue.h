/* queue.h - the job queue on Redis (hiredis), shared by api (producer,
 * status, events, waiting) and worker (consumer group).
 *
 * The names are the contract of ARCHITECTURE.md "Decisions / Jobs":
 *   hub:job:<id>         hash: id, type, user, state, progress, message,
 *                        input (JSON), result (JSON), error, error_code, created,
 *                        started, finished, attempts (times are unix
 *                        seconds), request_id (the creating thread's
 *                        log_request_id, when it has one); expires job-ttl
 *                        (QUEUE_JOB_TTL) after the end
 *   hub:jobs             stream of {id}, consumer group "workers"
 *   hub:jobs:dead        dead letters {id, entry, deliveries, reason}
 *   hub:job:<id>:events  stream, one entry per event, field data = the event
 *                        JSON of HUB-API.md §10; the last event of a job also
 *                        has the field final = "1" (written by
 *                        queue_job_finish together with the final state);
 *                        every entry also has the field request_id when the
 *                        job's hash has one.
 *   hub:stats            hash of counters since the queue began: jobs-done,
 *                        jobs-failed (HINCRBY by queue_job_finish in the same
 *                        script, once per job: only the call that ends it;
 *                        a dead letter whose job hash still exists counts as
 *                        jobs-failed); read by queue_stats_read.
 *
 * Delivery: at least once. A job is "effectively once" because its end is
 * published once: queue_job_finish changes the state only when the job has
 * not ended (a Lua script), and queue_job_start tells a worker that a
 * re-delivered job has already ended, so it only acks it.
 *
 * A queue handle is one Redis connection: not thread-safe, use one per
 * thread. A blocking call (block_ms > 0) holds the connection meanwhile.
 * Every id from a request is checked with queue_job_id_valid by these
 * functions; entry ids (Last-Event-ID) with queue_entry_id_valid.
 */
#ifndef QUEUE_H
#define QUEUE_H

#include <stddef.h>

#include <jansson.h>

#include "hub_err.h"

#define QUEUE_STREAM          "hub:jobs"
#define QUEUE_GROUP           "workers"
#define QUEUE_DEAD_STREAM     "hub:jobs:dead"
#define QUEUE_JOB_PREFIX      "hub:job:"
#define QUEUE_EVENTS_SUFFIX   ":events"
#define QUEUE_STATS_KEY       "hub:stats"

#define QUEUE_JOB_TTL          (24 * 3600)  /* seconds, after the end */
#define QUEUE_RECLAIM_IDLE_MS  60000        /* defaults of ARCHITECTURE.md */
#define QUEUE_HEARTBEAT_MS     10000
#define QUEUE_MAX_DELIVERIES   3

#define QUEUE_JOB_ID_MAX   37   /* UUID4 text + NUL */
#define QUEUE_ENTRY_ID_MAX 48   /* "<ms>-<seq>" + NUL */

typedef struct queue queue;

/* Connects to redis://[:password@]host[:port][/db] (timeout in ms, 0 =
 * 5000): AUTH when a password is given, SELECT db when not 0. Returns NULL
 * with err ("queue redis 127.0.0.1:6379: connection refused"). */
queue *queue_connect(const char *url, int timeout_ms, hub_err *err);

/* Closes and frees. NULL ok. */
void queue_close(queue *q);

/* How long a job's hash and events are kept after its end (the job-ttl
 * setting; default QUEUE_JOB_TTL). Values <= 0 are ignored. */
void queue_set_job_ttl(queue *q, long long seconds);

/* PING (for /readyz). Returns 0 or -1 with err. */
int queue_ping(queue *q, hub_err *err);

/* 1 when id is a UUID4 in lower-case text form (what queue_job_create
 * makes), else 0. */
int queue_job_id_valid(const char *id);

/* 1 when s is a stream entry id "<digits>-<digits>" (or "<digits>"), else 0. */
int queue_entry_id_valid(const char *s);

/* ---------------- producer / status (api) ---------------- */

/* Creates a job: a new UUID4 id, the hash (id, type, user, state=queued,
 * progress=0, message="", input = JSON text of input (NULL: {}), created =
 * now, attempts=0, request_id = log_request_id() of the calling thread when
 * set), then XADD hub:jobs * id <id>. type is "upload",
 * "upload-flist", "merge" or "docker". Writes the id into id_out. Returns 0
 * or -1 with err. */
int queue_job_create(queue *q, const char *type, const char *user,
                     const json_t *input, char id_out[QUEUE_JOB_ID_MAX],
                     hub_err *err);

/* The job's hash as a new JSON object in the contract's field order, with
 * progress, attempts, created, started, finished as integers and input and
 * result as parsed JSON (a value that does not parse stays a string).
 * Returns 0 with *out = the object (caller json_decref's), or 0 with *out =
 * NULL when no such job exists (never created, expired, or an invalid id),
 * or -1 with err on a Redis error. */
int queue_job_get(queue *q, const char *id, json_t **out, hub_err *err);

/* The job's state ("queued", "running", "done", "failed") into state (size
 * n); "" when the job does not exist. Returns 0 or -1 with err. */
int queue_job_state(queue *q, const char *id, char *state, size_t n,
                    hub_err *err);

/* One event of a job's events stream. */
typedef struct queue_event {
    char entry_id[QUEUE_ENTRY_ID_MAX];  /* the SSE id: */
    char *data;                         /* the event JSON text (malloc'ed) */
    int final;                          /* 1 for the job's last event */
} queue_event;

/* Reads up to max (1..1000) events after entry id `after` (NULL, "" or "0"
 * = from the start; else a Last-Event-ID, checked with
 * queue_entry_id_valid: an invalid one reads from the start). block_ms > 0
 * waits that long for at least one event (XREAD BLOCK); 0 returns at once.
 * Returns 0 with *events (malloc'ed array, free with queue_events_free) and
 * *n (0 on timeout or for an unknown job), or -1 with err. */
int queue_events_read(queue *q, const char *id, const char *after,
                      int block_ms, size_t max, queue_event **events,
                      size_t *n, hub_err *err);

/* Called by queue_events_read_many for each event read, in stream order
 * per job; job_id is the job the event belongs to, ev is freed after the
 * call. */
typedef void (*queue_events_fn)(void *ctx, const char *job_id, const queue_event *ev);

/* Reads the events of n jobs at once (one XREAD over their events streams:
 * the api's one reader for every waiting request): up to max_per_job
 * events of job ids[i] after afters[i] (NULL or invalid = from the start),
 * blocking up to block_ms (0: not) until one of them has any; each event
 * goes to fn. CLIENT UNBLOCK of queue_client_id ends the block early.
 * Returns 0 (also on timeout, fn not called) or -1 with err. */
int queue_events_read_many(queue *q, const char *const *ids, const char *const *afters, size_t n,
                           int block_ms, size_t max_per_job, queue_events_fn fn, void *ctx,
                           hub_err *err);

/* The Redis client id of q's connection (CLIENT ID, read when it
 * connects), 0 when unknown. Changes when the connection is reopened. */
long long queue_client_id(const queue *q);

/* CLIENT UNBLOCK client_id: ends another connection's blocking read early
 * (it returns as if timed out). 0 ids are ignored. Returns 0 or -1. */
int queue_client_unblock(queue *q, long long client_id, hub_err *err);

#define QUEUE_STATE_MAX 16

/* The states of n jobs (pipelined HGET): "" for a job that does not exist
 * (or an invalid id). Returns 0 or -1 with err. */
int queue_job_states(queue *q, const char *const *ids, size_t n, char (*states)[QUEUE_STATE_MAX],
                     hub_err *err);

/* Calls fn with the spool file (the input's "file", any form) of every job
 * still queued or running: what a sweep of the upload directory must keep.
 * SCAN over hub:job:* with pipelined HMGET, so it costs one pass over the
 * jobs kept (job-ttl). Returns 0 or -1 with err. */
int queue_live_spools(queue *q, void (*fn)(void *ctx, const char *spool), void *ctx,
                      hub_err *err);

/* Frees what queue_events_read returned. NULL ok. */
void queue_events_free(queue_event *events, size_t n);

/* Waits until the job has ended (state done or failed) or timeout_ms has
 * passed, sleeping in XREAD BLOCK on its events stream (woken by the final
 * event at once). Returns 0 with *ended = 1 and *job = the job (as
 * queue_job_get; caller json_decref's), *ended = 0 and *job = NULL on
 * timeout, or -1 with err (also when the job does not exist: "job <id> not
 * found"). */
int queue_job_wait(queue *q, const char *id, int timeout_ms, int *ended,
                   json_t **job, hub_err *err);

/* The numbers of the shared queue (the same for every api instance). */
typedef struct queue_stats {
    long long queued;    /* entries of hub:jobs not yet delivered to a worker
                            (the group's lag; every entry when the group does
                            not exist yet) */
    long long running;   /* delivered and not acknowledged (XPENDING): running,
                            or left by a crashed worker until reclaimed */
    long long consumers; /* consumers known to the group "workers" */
    long long dead;      /* entries of hub:jobs:dead */
    long long done;      /* jobs ended done since the queue began (hub:stats) */
    long long failed;    /* jobs ended failed since the queue began, dead
                            letters included (hub:stats) */
} queue_stats;

/* Reads the gauges (queued, running, consumers, dead) and the counters
 * (done, failed) with this queue's connection, a few commands, not one
 * atomic snapshot. A queue nobody has used yet reads as zeros. On a Redis
 * that does not report the group's lag (before 7.0, or after entries were
 * deleted) queued is counted with XRANGE, at most 100000. Returns 0 with
 * *out filled, or -1 with err (*out is zeroed). */
int queue_stats_read(queue *q, queue_stats *out, hub_err *err);

/* ---------------- consumer (worker) ---------------- */

/* XGROUP CREATE hub:jobs workers 0 MKSTREAM; an existing group (BUSYGROUP)
 * is success. Returns 0 or -1 with err. */
int queue_group_create(queue *q, hub_err *err);

/* A delivered job. */
typedef struct queue_claim {
    char entry_id[QUEUE_ENTRY_ID_MAX];  /* entry of hub:jobs (ack/heartbeat) */
    char job_id[QUEUE_JOB_ID_MAX];      /* "" when the entry holds no valid id */
    long long deliveries;               /* times delivered, this one included */
    int over_limit;                     /* queue_reclaim_idle only: delivered
                                           more than max_deliveries times, to
                                           be dead-lettered, not run */
} queue_claim;

/* Takes the next new job for consumer (XREADGROUP GROUP workers <consumer>
 * COUNT 1 BLOCK block_ms STREAMS hub:jobs >; block_ms 0 = do not block).
 * Returns 0 with *got = 1 and out filled, *got = 0 when nothing came, or -1
 * with err. An entry without a valid id is acked and skipped. */
int queue_claim_next(queue *q, const char *consumer, int block_ms,
                     queue_claim *out, int *got, hub_err *err);

/* Takes over one job another consumer left idle for min_idle_ms
 * (XAUTOCLAIM, which counts a delivery). Returns 0 with *got = 1 and out
 * filled, *got = 0 when none is idle, or -1 with err. When the entry has
 * now been delivered more than max_deliveries times (max_deliveries > 0),
 * out->over_limit is 1: the caller must not run the job but clean up after
 * it (its spool file, its staging directories) and then call
 * queue_dead_letter with queue_over_limit_reason; the entry stays pending
 * for this consumer until then (a crash meanwhile only delays it: the next
 * reclaim finds it over the limit again). */
int queue_reclaim_idle(queue *q, const char *consumer, long long min_idle_ms,
                       long long max_deliveries, queue_claim *out, int *got,
                       hub_err *err);

/* The dead-letter reason of an over-limit claim into out (size n):
 * "job abandoned after <deliveries - 1> deliveries". Returns out. */
const char *queue_over_limit_reason(const queue_claim *c, char *out, size_t n);

/* Heartbeat of a long job: XCLAIM ... 0 <entry> JUSTID by its consumer,
 * which resets the idle time without counting a delivery. Returns 0, or -1
 * with err (also when the entry is no longer pending for this consumer:
 * "job entry <e> was taken over", then the worker should stop the job). */
int queue_heartbeat(queue *q, const char *consumer, const char *entry_id,
                    hub_err *err);

/* XACK hub:jobs workers <entry>. Returns 0 or -1 with err. */
int queue_ack(queue *q, const char *entry_id, hub_err *err);

/* Moves a job to hub:jobs:dead (id, entry, deliveries, reason), marks it
 * failed with error = reason (queue_job_finish, which counts it in
 * jobs-failed unless the job had already ended) and acks the entry.
 * Returns 0 or -1 with err. */
int queue_dead_letter(queue *q, const queue_claim *c, const char *reason,
                      hub_err *err);

/* What queue_job_start found. */
typedef enum queue_start {
    QUEUE_START_RUN = 0,   /* now running: do the work */
    QUEUE_START_ENDED,     /* already done/failed: just ack */
    QUEUE_START_MISSING,   /* hash gone (expired): just ack */
} queue_start;

/* Marks the job running (state=running, started=now, attempts+1) unless it
 * has ended or is missing (atomic). Returns 0 with *what, or -1 with err. */
int queue_job_start(queue *q, const char *id, long long now,
                    queue_start *what, hub_err *err);

/* Progress: sets progress (clamped to 0..100) and message in the hash and
 * appends the event {"status": "update", "message": m, "progress": p}
 * (HUB-API.md §10). Returns 0 or -1 with err. */
int queue_job_progress(queue *q, const char *id, int progress,
                       const char *message, hub_err *err);

/* Appends one event (any JSON object, e.g. a §10 "info" event) to the job's
 * events stream. Writes the entry id into entry_out (size
 * QUEUE_ENTRY_ID_MAX) when not NULL. Returns 0 or -1 with err. */
int queue_event_add(queue *q, const char *id, const json_t *event,
                    char *entry_out, hub_err *err);

/* Ends a job once (a Lua script, atomic): when its state is not already
 * done/failed, sets state (done when error is NULL, else failed), result
 * (JSON text of result, done only), error (error->msg) and error_code (the
 * name of error->code, hub_code_name: "invalid" for a client's mistake,
 * "unavailable", "failed"...), progress=100 when done, finished=now;
 * appends final_event with final=1 (NULL: {"status": "info", "info":
 * result} when done, {"status": "error", "message": error->msg} when
 * failed); sets EXPIRE job-ttl on the hash and the events stream; and adds
 * 1 to the field jobs-done or jobs-failed of hub:stats (QUEUE_STATS_KEY).
 * *published (may be NULL) = 1 when this call ended the job, 0 when it had
 * already ended (nothing changed) or does not exist. Returns 0 or -1 with
 * err. */
int queue_job_finish(queue *q, const char *id, const json_t *result,
                     const hub_err *error, const json_t *final_event,
                     long long now, int *published, hub_err *err);

#endif
