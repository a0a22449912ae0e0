/* dispatch.h - runs a job with the function of its kind (upload,
 * upload-flist, merge). The job slots call it; the kinds (job_*.c) know
 * nothing of it. */
#ifndef WORKER_DISPATCH_H
#define WORKER_DISPATCH_H

#include <jansson.h>

#include "job_common.h"

/* What a job function returns besides 0 (done) and -1 (failed, final):
 * another worker owns the job now; publish nothing, finish nothing, keep
 * the spool. (JOB_ABANDONED, job_common.h.) */

/* Runs the job of c->kind. On success returns 0 with *result (the payload,
 * caller json_decref's) and *final_event (NULL = the queue's default;
 * caller json_decref's). Returns -1 with err = the job's error message, or
 * JOB_ABANDONED (nothing set) when the job was taken over meanwhile. */
int dispatch_job(job_ctx *c, json_t **result, json_t **final_event, hub_err *err);

/* The job kinds (same contract as dispatch_job): job_upload.c,
 * job_upload_flist.c, job_merge.c. */
int job_upload(job_ctx *c, json_t **result, json_t **final_event, hub_err *err);
int job_upload_flist(job_ctx *c, json_t **result, json_t **final_event, hub_err *err);
int job_merge(job_ctx *c, json_t **result, json_t **final_event, hub_err *err);
/* job_docker.c: "docker-convert", a registry image into an flist. */
int job_docker(job_ctx *c, json_t **result, json_t **final_event, hub_err *err);
/* Bounds the layer cache (docker-layer-cache-max, layer_evict.h), logging
 * what it removed; `why` names the occasion in the log ("start", a job
 * id). Called at the worker's start and after each docker-convert job. */
void job_docker_evict(const hub_config *cfg, const char *why);

#endif
