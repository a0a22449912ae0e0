/* watch.h - the companion thread of a running job: heartbeats the job's
 * stream entry (so no other worker reclaims it while it runs), publishes
 * progress events without slowing the job (the job only stores numbers;
 * the watcher writes at most one event per tick, and only on a change),
 * and notices when the job was taken over by another worker.
 *
 * The watcher has its own Redis connection, guarded by a mutex, so the job
 * thread can also use it synchronously (job_watch_event,
 * job_watch_confirm).
 */
#ifndef WORKER_WATCH_H
#define WORKER_WATCH_H

#include <sys/types.h>

#include "hub_err.h"
#include "worker.h"

typedef struct job_watch job_watch;

/* Starts watching job `job_id` delivered as stream entry `entry_id` to
 * `consumer`. Returns the watcher, or NULL with err (no thread, or Redis
 * unreachable). Free with job_watch_stop. */
job_watch *job_watch_start(const worker_settings *ws, const char *consumer,
                           const char *entry_id, const char *job_id, hub_err *err);

/* Stores a progress state (0..100, message copied); the watcher publishes
 * it as an "update" event at its next tick when it differs from the last
 * one published. Never blocks on Redis. */
void job_watch_progress(job_watch *w, int progress, const char *message);

/* Progress from a descriptor's read offset: while set, each tick computes
 * lo + (hi - lo) * offset / size and publishes it with the message
 * "<prefix><percent>%" when the value changed (never 0). fd -1 stops it. */
void job_watch_track_fd(job_watch *w, int fd, off_t size, int lo, int hi,
                        const char *prefix);

/* Publishes an "update" event now (after any pending one), in order with
 * the others. Returns 0, or -1 with err (the job goes on). */
int job_watch_event(job_watch *w, int progress, const char *message, hub_err *err);

/* 1 once a heartbeat found the job taken over by another consumer. */
int job_watch_lost(job_watch *w);

/* Confirms, just before publishing, that this consumer still owns the job
 * (a heartbeat now). Retries Redis errors for up to a reclaim period.
 * Returns 0 when owned, -1 with err when lost or unconfirmable. */
int job_watch_confirm(job_watch *w, hub_err *err);

/* Publishes what is pending and stops publishing progress (the final event
 * must come last); heartbeats go on until job_watch_stop. */
void job_watch_flush(job_watch *w);

/* Stops the thread, closes the connection, frees. NULL ok. */
void job_watch_stop(job_watch *w);

#endif
