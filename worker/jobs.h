/* jobs.h - the job kinds the worker runs (upload, upload-flist, merge) and
 * the contract of their input and result JSON with the api.
 *
 * ---------------------------------------------------------------------
 * Contract (the `input` field of hub:job:<id>, written by the api with
 * queue_job_create in api/h_jobs.c; the api has validated everything the
 * request shows before queueing, the worker checks it all again before
 * touching files):
 *
 *   upload        {"file": "<spool file path, inside the upload directory>",
 *                  "filename": "<client file name, for messages>",
 *                  "name": "<target flist name, N() applied: x.flist>",
 *                  "repository": "<the user's repository>",
 *                  "extension": "<matched extension>" (not used),
 *                  "metadata": {"<key>": "<value>", ...}}   (form order;
 *                  keys readme, backend, entrypoint, environ, port, volume
 *                  are ignored, HUB-API.md §6.9)
 *   upload-flist  {"file", "filename", "name", "repository"} (same meaning)
 *   merge         {"sources": ["repo/name.flist", ...] (in order),
 *                  "name": "<target flist name, N() applied>",
 *                  "repository": "<the user's repository>"}
 *
 * `repository` is optional: the job's `user` field is the repository when
 * it is absent. The spool file is removed when the job ends, whatever the
 * end.
 *
 * Result (the job's `result`, exactly the original's reply `payload`,
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
 * ---------------------------------------------------------------------
 */
#ifndef WORKER_JOBS_H
#define WORKER_JOBS_H

#include <sys/types.h>

#include <jansson.h>

#include "hub_err.h"
#include "watch.h"
#include "worker.h"

/* What a job function returns besides 0 (done) and -1 (failed, final). */
#define JOB_ABANDONED (-3)   /* another worker owns the job now: publish
                                nothing, finish nothing, keep the spool */

/* Everything a job function needs. */
typedef struct job_ctx {
    const worker_settings *ws;
    const char *id;           /* job id (UUID4) */
    const char *type;
    const char *user;
    const json_t *input;      /* the parsed input object */
    job_watch *watch;         /* progress and heartbeat of this job */
} job_ctx;

/* Runs the job of c->type. On success returns 0 with *result (the payload,
 * caller json_decref's) and *final_event (NULL = the queue's default;
 * caller json_decref's). Returns -1 with err = the job's error message, or
 * JOB_ABANDONED (nothing set) when the job was taken over meanwhile. */
int job_run(job_ctx *c, json_t **result, json_t **final_event, hub_err *err);

/* The job kinds (same contract as job_run). job_upload.c,
 * job_upload_flist.c, job_merge.c. */
int job_upload(job_ctx *c, json_t **result, json_t **final_event, hub_err *err);
int job_upload_flist(job_ctx *c, json_t **result, json_t **final_event, hub_err *err);
int job_merge(job_ctx *c, json_t **result, json_t **final_event, hub_err *err);

/* Input helpers (jobs.c). The string field `key` of the input, or NULL when
 * missing or not a string. */
const char *job_input_str(const job_ctx *c, const char *key);

/* The repository the job writes to: input "repository", else the job's user.
 * Checked with the name rule. Returns it, or NULL with err. */
const char *job_repo(const job_ctx *c, hub_err *err);

/* The spool path of a job's input (any kind), or NULL when it has none. */
const char *job_spool_of(const json_t *input);

/* The spooled file of an "upload" or "upload-flist" job: checks the
 * repository (job_repo) and the input "name", then opens the input "file"
 * with spool_open's checks. Returns the open fd (the caller closes it) with
 * *repo and *name (borrowed from c->input) and *size, or -1 with err. */
int job_open_upload(const job_ctx *c, const char **repo, const char **name, off_t *size,
                    hub_err *err);

/* The repository named by a job (input "repository", else `user`), not
 * checked; NULL when neither is a string. */
const char *job_repo_of(const json_t *input, const char *user);

/* After an operation that needed the content backend failed with err:
 * unless err->code is HUB_E_UNAVAILABLE (the backend could not be reached or
 * stopped answering) the failure is final (returns 0, err kept); else, while
 * attempts remain, waits the backoff of this attempt (1-based; doubling from
 * ws->backend_backoff_ms, heartbeats go on) and returns 1 (try again); after
 * the last attempt returns 0 with err = "content backend unavailable after
 * <n> attempts: <reason>". Also 0 when the worker is stopping hard. */
int job_backend_retry(job_ctx *c, int attempt, hub_err *err);

#endif
