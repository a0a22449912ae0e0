/* job_msg.h - the contract between flist-hub-api and flist-hub-worker: the
 * job kinds, and the `input` JSON of each kind (the `input` field of the
 * hub:job:<id> hash, docs/ARCHITECTURE.md "Jobs"), built by the api with
 * jobmsg_*_build and read back by the worker with jobmsg_*_parse. Both
 * sides use these functions and nothing else, so the keys are written in
 * one place.
 *
 *   upload        {"file": S, "filename": F, "name": N, "repository": R,
 *                  "extension": E, "metadata": {"key": "value", ...}}
 *   upload-flist  {"file": S, "filename": F, "name": N, "repository": R}
 *   merge         {"sources": ["repo/name.flist", ...], "name": N, "repository": R}
 *   docker-convert {"image": I, "name": N, "repository": R, "platform": P,
 *                  "credentials": C, "path": W}
 *
 *   S  the spool file's base name: each side resolves it in its own
 *      upload-directory (an api and a worker may mount the shared volume
 *      at different paths); jobs of older apis carry a path whose
 *      directory the worker accepts only when it is its upload-directory
 *   F  the client's file name, for messages
 *   N  the target flist name, "x.flist"
 *   R  the repository written to (absent in old jobs: the job's user)
 *   E  the allowed extension the upload matched (informative)
 *   I  the image reference as the user gave it ("ubuntu:22.04")
 *   P  "os/arch[/variant]" (absent: linux/amd64)
 *   C  per-request registry credentials, sealed (hub/job_creds.h; absent:
 *      none); never in clear
 *   W  "registry" (absent: the same) or "engine": a Docker daemon pulls
 *      and exports the image (engine/docker_engine.h)
 *
 * The worker checks everything again before it touches a file: a parse
 * function checks the types and presence of the keys; names are checked
 * with the repository's name rule by the job itself.
 */
#ifndef JOB_MSG_H
#define JOB_MSG_H

#include <stddef.h>

#include <jansson.h>

#include "hub_err.h"

/* The job kinds, with their names on the wire (the hash's `type`). */
typedef enum jobmsg_kind {
    JOBMSG_UPLOAD = 0,
    JOBMSG_UPLOAD_FLIST,
    JOBMSG_MERGE,
    JOBMSG_DOCKER,
    JOBMSG_KIND_COUNT
} jobmsg_kind;

/* "upload", "upload-flist", "merge", "docker-convert"; NULL for an invalid kind. */
const char *jobmsg_kind_name(jobmsg_kind k);

/* The kind named `name`. Returns 0, or -1 with err when no kind has it. */
int jobmsg_kind_parse(const char *name, jobmsg_kind *out, hub_err *err);

/* Metadata names a user cannot set on an upload (HUB-API.md §6.9, exact
 * and case sensitive): the hub sets them itself or takes them from the
 * archive. */
int jobmsg_meta_protected(const char *name);

/* Input of "upload" and "upload-flist". Strings are borrowed from the JSON
 * they were parsed from (or from the caller, to build). */
typedef struct jobmsg_upload {
    const char *spool;        /* S: base name in upload-directory */
    const char *filename;     /* F */
    const char *name;         /* N */
    const char *repository;   /* R */
    const char *extension;    /* E ("upload" only; may be NULL) */
    json_t *metadata;         /* object of strings ("upload" only; may be NULL) */
} jobmsg_upload;

/* Input of "merge". */
typedef struct jobmsg_merge {
    json_t *sources;          /* array of "repo/name.flist" strings, in order */
    const char *name;         /* N */
    const char *repository;   /* R */
} jobmsg_merge;

/* Input of "docker-convert". */
typedef struct jobmsg_docker {
    const char *image;        /* I */
    const char *name;         /* N */
    const char *repository;   /* R */
    const char *platform;     /* P (may be NULL) */
    json_t *credentials;      /* C (may be NULL; an object) */
    int engine;               /* W is "engine" */
} jobmsg_docker;

/* The input object of an upload or upload-flist job (kind says which keys
 * go in). Returns a new reference, or NULL when a string is not valid UTF-8
 * or memory runs out. metadata is copied (the caller keeps its reference). */
json_t *jobmsg_upload_build(jobmsg_kind kind, const jobmsg_upload *in);

/* Reads the input of an upload or upload-flist job; user is the job's
 * user (the repository of old jobs). Returns 0, or -1 with err naming the
 * missing or mistyped key (HUB_E_INVALID). out borrows from input. */
int jobmsg_upload_parse(jobmsg_kind kind, const json_t *input, const char *user,
                        jobmsg_upload *out, hub_err *err);

/* The input object of a merge job. Returns a new reference or NULL;
 * sources is copied. */
json_t *jobmsg_merge_build(const jobmsg_merge *in);

/* Reads the input of a merge job. Returns 0, or -1 with err (HUB_E_INVALID)
 * carrying the original hub's messages ("malformed json request", "no
 * source found", "malformed source filename", "missing build (target)
 * name", "build name not allowed"). out borrows from input. */
int jobmsg_merge_parse(const json_t *input, const char *user, jobmsg_merge *out, hub_err *err);

/* The input object of a docker-convert job. Returns a new reference, or
 * NULL when a string is not valid UTF-8 or memory runs out. */
json_t *jobmsg_docker_build(const jobmsg_docker *in);

/* Reads the input of a docker-convert job. Returns 0, or -1 with err
 * (HUB_E_INVALID; "missing docker image name" as the original). out
 * borrows from input. */
int jobmsg_docker_parse(const json_t *input, const char *user, jobmsg_docker *out, hub_err *err);

/* The spool file a job's input names (any kind), or NULL when it has none:
 * what must be removed when the job ends. */
const char *jobmsg_spool(const json_t *input);

/* The repository a job's input names (any kind): "repository", else the
 * job's user; not checked; NULL when neither is a string. */
const char *jobmsg_repository(const json_t *input, const char *user);

/* 1 when s is acceptable as a spool base name: non-empty, no '/', not "."
 * or "..", at most 255 bytes. */
int jobmsg_spool_name_valid(const char *s);

#endif
