/* job_common.h - what every job kind uses: the job's context, its input
 * (the contract with the api is proto/job_msg.h), the spooled file of an
 * upload, and the retry policy for an unreachable content backend.
 *
 * Results (the job's `result`, exactly the original's reply `payload`,
 * HUB-API.md §6.9-§6.11, so the api wraps it unchanged):
 *   upload        {"name": F, "files": {"success": true, "error": null,
 *                  "response": {"regular", "symlink", "directory",
 *                  "special", "failure", "fullsize"}, "status": 0}}
 *   upload-flist  {"name": F, "files": {"success": true, "error": null,
 *                  "response": <check result: content, counters,
 *                  failure, fullsize>, "status": 0}}
 *   merge         {} (the original answers {"status": "success"})
 * A failure's `error` is the original's message where it has one
 * ("unauthorized upload, contents is not fully present on backend",
 * "malformed source filename", "<src> does not exists", ...), else a clear
 * message of ours.
 *
 * Events (HUB-API.md §10): {"status": "update", "message", "progress"}
 * while working; "Image ready !" at 100 for builds; the final event of an
 * upload is {"status": "info", "info": {"filename": F, "flist": <stats>}}
 * like the original's web upload; other kinds end with the queue's default
 * final event.
 */
#ifndef WORKER_JOB_COMMON_H
#define WORKER_JOB_COMMON_H

#include <sys/types.h>

#include <jansson.h>

#include "flist.h"
#include "hub_err.h"
#include "job_msg.h"
#include "queue.h"
#include "watch.h"
#include "worker.h"

/* What a job function returns besides 0 (done) and -1 (failed, final). */
#define JOB_ABANDONED (-3)   /* another worker owns the job now: publish
                                nothing, finish nothing, keep the spool */

/* Everything a job function needs. */
typedef struct job_ctx {
    const worker_settings *ws;
    const char *id;           /* job id (UUID4) */
    jobmsg_kind kind;
    const char *user;
    const json_t *input;      /* the parsed input object */
    job_watch *watch;         /* progress and heartbeat of this job */
    queue *q;                 /* the slot's queue connection (usage counters) */
    int64_t started_ms;       /* util_mono_ms() when the job began */
} job_ctx;

/* The spooled file of an upload or upload-flist job: reads the input
 * (jobmsg_upload_parse), checks the repository and the name with the name
 * rule, and opens the spool file with spool_open's checks. Returns the open
 * fd (the caller closes it) with *in (borrowing from c->input) and *size,
 * or -1 with err. */
int job_open_upload(const job_ctx *c, jobmsg_upload *in, off_t *size, hub_err *err);

/* The bounds of a build of this job: the job-max-* keys, and the bytes it
 * may store under quota-job-stored and what is left of the user's
 * quota-user-stored-per-day, less `stored` (bytes earlier attempts
 * stored). Returns 0, or -1 with err: HUB_E_TOO_LARGE when a quota is
 * spent, or the queue's error reading the day's usage. */
int job_build_limits(const job_ctx *c, uint64_t stored, flist_limits *l, hub_err *err);

/* Adds bytes the job stored on the content backend to its user's usage
 * (usage.h; a failure is logged, the job goes on). */
void job_count_stored(const job_ctx *c, uint64_t bytes);

/* zflist putdir's statistics object of a build ({"regular", "symlink",
 * "directory", "special", "failure": 0, "fullsize"}), what the original's
 * upload and docker replies carry. A new reference, or NULL (out of memory). */
json_t *job_putdir_stats(const flist_stats *stats);

/* After an operation that needed the content backend failed with err:
 * unless err->code is HUB_E_UNAVAILABLE (the backend could not be reached or
 * stopped answering) the failure is final (returns 0, err kept); else, while
 * attempts remain, waits the backoff of this attempt (1-based; doubling from
 * ws->backend_backoff_ms, heartbeats go on) and returns 1 (try again); after
 * the last attempt returns 0 with err = "content backend unavailable after
 * <n> attempts: <reason>". Also 0 when the worker is stopping hard. */
int job_backend_retry(job_ctx *c, int attempt, hub_err *err);

#endif
