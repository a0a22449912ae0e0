/* usage.h - bytes each user stores on the content backend, kept in the
 * queue's Redis so that every worker and api replica shares them:
 *   hub:usage:stored        hash user -> bytes of new chunks ever stored
 *                           (/metrics: hub_backend_stored_bytes_total)
 *   hub:usage:<day>:<user>  bytes stored on that UTC day (YYYYMMDD); expires
 *                           two days later; the budget of
 *                           quota-user-stored-per-day
 * "Stored" counts what a job sent to the backend (chunks it did not have),
 * failed jobs included: their chunks stay.
 */
#ifndef USAGE_H
#define USAGE_H

#include <stdint.h>
#include <time.h>

#include "queue.h"

#define USAGE_TOTALS_KEY "hub:usage:stored"

/* Bytes user stored on the UTC day of `now`. Returns 0 or -1 with err. */
int usage_stored_today(queue *q, const char *user, time_t now, uint64_t *bytes, hub_err *err);

/* Adds bytes to user's day (of `now`) and all-time counters, atomically.
 * Returns 0 or -1 with err. */
int usage_stored_add(queue *q, const char *user, time_t now, uint64_t bytes, hub_err *err);

typedef void (*usage_fn)(void *ctx, const char *user, uint64_t bytes);

/* Calls fn for every user's all-time counter. Returns 0 or -1 with err. */
int usage_stored_totals(queue *q, usage_fn fn, void *ctx, hub_err *err);

#endif
