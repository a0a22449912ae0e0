/* h_jobs.c - the routes that become jobs (HUB-API.md §6.9-§6.12): archive
 * and flist uploads, merge, docker; validated completely before anything is
 * queued (ARCHITECTURE.md "Job flow"), then either waited for
 * (compatibility mode: the original's reply) or answered 202 (async mode).
 * Also GET /api/jobs/<id> and the /listen/<id> event stream (§10).
 * Docker: form fields `image` (a reference, checked with Docker's
 * grammar), optional `platform`, optional `username` and `password` for
 * the registry (sealed into the job, hub/job_creds.h), optional `engine`
 * (1/true: through the Docker daemon, when docker-engine = per-request;
 * 403 when the hub's docker-engine is off). The job converts by the
 * registry path, or the engine path when docker-engine = default or the
 * request asked it (worker/job_docker.c); compatibility mode answers the original's
 * {"name": <stats>} (D18).
 *
 * Job inputs (the api -> worker contract, hub:job:<id> field `input`):
 *   upload       {"file": spool path, "filename": client file name,
 *                 "name": flist file name, "repository": me,
 *                 "extension": matched extension, "metadata": {k: v}}
 *   docker-convert {"image", "name", "repository", "platform"}
 *   upload-flist {"file", "filename", "name", "repository"}
 *   merge        {"sources": ["repo/name.flist", ...], "name", "repository"}
 * The worker's `result` for uploads is the reply payload
 * {"name": F, "files": {...}} of §6.9/§6.10.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "qpool.h"
#include "waiters.h"
#include "errors.h"
#include "handlers.h"
#include "log.h"
#include "job_creds.h"
#include "metrics.h"
#include "oci_ref.h"
#include "oci_manifest.h"
#include "upload.h"
#include "util.h"


/* ---------------- replies after a job ---------------- */

/* The HTTP status a failed job's error maps to (from its error_code; a job
 * of an older worker, without one, is a 500). */
static int job_error_status(const json_t *job)
{
    const char *code = json_string_value(json_object_get(job, "error_code"));
    return code && *code ? api_status_of(hub_code_parse(code)) : 500;
}

/* The compatibility-mode reply once the wait ended. */
static enum MHD_Result reply_after_wait(api_req *r, jobmsg_kind type)
{
    int ended = 0;
    json_t *job = NULL;
    hub_err err = {0};
    char msg[HUB_ERR_MAX + 128];
    const char *id = waiters_wait_id(r->wait);
    if (waiters_wait_result(r->wait, &ended, &job, &err) < 0) {
        snprintf(msg, sizeof msg, "job %s: %s", id, err.msg);
        return api_error(r, 500, msg);
    }
    if (!ended) {
        snprintf(msg, sizeof msg, "job %s is still running: follow it at /api/jobs/%s", id, id);
        return api_error(r, 504, msg);
    }
    const char *state = json_string_value(json_object_get(job, "state"));
    if (!state || strcmp(state, "done") != 0) {
        const char *e = json_string_value(json_object_get(job, "error"));
        metrics_job_ended(r->srv->metrics, 1);
        snprintf(msg, sizeof msg, "%s", e && *e ? e : "the job failed");
        /* the original answers 500 to every failed job, and so do we on the
         * wire; /metrics counts a client's mistake (not an archive, missing
         * chunks) as the 4xx it is */
        r->metric_status = job_error_status(job);
        json_decref(job);
        return api_error(r, 500, msg);
    }
    metrics_job_ended(r->srv->metrics, 0);
    api_changed(r->srv);
    json_t *result = json_object_get(job, "result");
    json_t *payload = NULL;
    if (type == JOBMSG_DOCKER && json_is_object(result))   /* the original's quirk (D18) */
        payload = json_pack("{sO}", "name", json_object_get(result, "name"));
    else if (type != JOBMSG_MERGE && json_is_object(result))
        payload = json_incref(result);
    json_decref(job);
    return api_success(r, payload);
}

/* The reply when the job queue cannot be reached: 503. */
static enum MHD_Result queue_down(api_req *r)
{
    return api_error(r, 503, "the job queue is not reachable, try again later");
}

/* Queues the job and replies (202) or starts waiting. */
static enum MHD_Result submit(api_req *r, jobmsg_kind type, json_t *input)
{
    hub_err err = {0};
    char id[QUEUE_JOB_ID_MAX];
    queue *q = qpool_get(r->srv->qpool, &err);
    if (!q) {
        json_decref(input);
        log_error("job queue: %s", err.msg);
        return queue_down(r);
    }
    int rc = queue_job_create(q, jobmsg_kind_name(type), r->auth.user, input, id, &err);
    qpool_put(r->srv->qpool, q, rc < 0);
    json_decref(input);
    if (rc < 0) {
        log_error("job queue: %s", err.msg);
        return queue_down(r);
    }
    if (r->upload)
        r->upload->kept = 1; /* the worker owns the spool file now */
    metrics_job_queued(r->srv->metrics, type);
    log_info("job %s queued: %s for %s", id, jobmsg_kind_name(type), r->auth.user);
    if (api_wants_async(r)) {
        char status_url[96], events_url[96];
        snprintf(status_url, sizeof status_url, "/api/jobs/%s", id);
        snprintf(events_url, sizeof events_url, "/listen/%s", id);
        json_t *v = json_pack("{s:s, s:{s:s, s:s, s:s}}", "status", "success", "payload", "job", id,
                              "status_url", status_url, "events_url", events_url);
        return api_json(r, 202, v);
    }
    if (waiters_wait_job(r, id, &err) < 0)
        return api_error(r, 500, err.msg);
    return MHD_YES;
}

/* ---------------- uploads ---------------- */

/* Werkzeug's secure_filename, without NFKD (non-ASCII is dropped). */
static void secure_filename(const char *in, char *out, size_t n)
{
    char tmp[1024];
    size_t o = 0;
    int pending_sep = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && o + 2 < sizeof tmp; p++) {
        unsigned char c = *p == '/' ? ' ' : *p;
        if (c >= 0x80)
            continue;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
            pending_sep = o > 0;
            continue;
        }
        if (pending_sep) {
            tmp[o++] = '_';
            pending_sep = 0;
        }
        tmp[o++] = (char)c;
    }
    tmp[o] = '\0';
    size_t k = 0;
    for (size_t i = 0; tmp[i] && k + 1 < n; i++) {
        char c = tmp[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
            c == '.' || c == '-')
            out[k++] = c;
    }
    out[k] = '\0';
    size_t start = 0;
    while (out[start] == '.' || out[start] == '_')
        start++;
    memmove(out, out + start, strlen(out + start) + 1);
    size_t len = strlen(out);
    while (len && (out[len - 1] == '.' || out[len - 1] == '_'))
        out[--len] = '\0';
}

static enum MHD_Result handle_upload_checked(api_req *r, jobmsg_kind type);

/* Validates and queues an upload; a refused upload's spool file is removed
 * before the reply goes out (D13). */
static enum MHD_Result handle_upload(api_req *r, jobmsg_kind type)
{
    if (r->wait)
        return reply_after_wait(r, type);
    enum MHD_Result ret = handle_upload_checked(r, type);
    upload_discard(r->upload);
    return ret;
}

static enum MHD_Result handle_upload_checked(api_req *r, jobmsg_kind type)
{
    api_upload *u = r->upload;
    const hub_config *c = &r->srv->cfg;
    hub_err err = {0};
    if (!u || !u->has_file)
        return api_error(r, 500, "no file found");
    if (!u->filename || !u->filename[0])
        return api_error(r, 500, "no file selected");
    const char *ext = NULL;
    if (type == JOBMSG_UPLOAD_FLIST) {
        if (util_ends_with(u->filename, ".flist"))
            ext = ".flist";
    } else {
        for (size_t i = 0; i < c->n_allowed_extensions && !ext; i++)
            if (util_ends_with(u->filename, c->allowed_extensions[i]))
                ext = c->allowed_extensions[i];
    }
    if (!ext)
        return api_error(r, 500, "this file is not allowed");

    char base[1024], name[REPO_NAME_MAX + 1];
    size_t orig_len = 0;
    const char *orig = api_header_n(r, "X-Original-Name", &orig_len);
    /* a NUL must refuse the name, not cut it; libmicrohttpd 0.9.75 (Debian
     * 12) already cuts header values at a NUL before we see them, later
     * versions keep their length */
    if (orig && strlen(orig) != orig_len)
        return api_error(r, 400, "invalid X-Original-Name: NUL bytes are not allowed");
    if (orig) {
        const char *slash = strrchr(orig, '/');
        snprintf(base, sizeof base, "%s", slash ? slash + 1 : orig);
    } else {
        secure_filename(u->filename, base, sizeof base);
    }
    if (type == JOBMSG_UPLOAD) {
        /* strip a configured extension (the longest that matches) */
        size_t best = 0;
        for (size_t i = 0; i < c->n_allowed_extensions; i++) {
            size_t el = strlen(c->allowed_extensions[i]);
            if (el > best && util_ends_with(base, c->allowed_extensions[i]) && strlen(base) > el)
                best = el;
        }
        base[strlen(base) - best] = '\0';
    }
    if (repo_flist_name(base, "flist name", name, &err) < 0)
        return api_error(r, 400, err.msg); /* D5, D44: also "dir/" -> "" */

    json_t *meta = json_object();
    if (type == JOBMSG_UPLOAD) {
        const char *key;
        json_t *val;
        json_object_foreach(u->metadata, key, val) {
            if (jobmsg_meta_protected(key))
                continue;
            if (repo_name_check(key, "metadata key", &err) < 0) {
                json_decref(meta);
                return api_error(r, 400, err.msg);
            }
            /* values arrive in pieces; check the whole value is UTF-8 */
            json_t *checked = json_stringn(json_string_value(val), json_string_length(val));
            if (!checked) {
                json_decref(meta);
                snprintf(base, sizeof base, "metadata %s: not valid UTF-8 (or holds a NUL byte)", key);
                return api_error(r, 400, base);
            }
            json_object_set_new(meta, key, checked);
        }
    }
    if (repo_ensure(r->srv->store, r->auth.user, &err) != 0) {
        json_decref(meta);
        return api_fail(r, &err);
    }
    const char *slash = strrchr(u->spool_path, '/');
    jobmsg_upload in = {
        .spool = slash ? slash + 1 : u->spool_path, .filename = u->filename, .name = name,
        .repository = r->auth.user, .extension = ext, .metadata = meta,
    };
    json_t *input = jobmsg_upload_build(type, &in);
    json_decref(meta);
    if (!input)
        return api_error(r, 400, "the file name is not valid UTF-8");
    return submit(r, type, input);
}

enum MHD_Result h_upload(api_req *r)
{
    return handle_upload(r, JOBMSG_UPLOAD);
}

enum MHD_Result h_upload_flist(api_req *r)
{
    return handle_upload(r, JOBMSG_UPLOAD_FLIST);
}

/* ---------------- merge ---------------- */

enum MHD_Result h_merge(api_req *r)
{
    if (r->wait)
        return reply_after_wait(r, JOBMSG_MERGE);
    hub_err err = {0};
    json_t *body = r->body ? json_loadb(r->body, r->body_len, JSON_DECODE_ANY, NULL) : NULL;
    if (!json_is_array(body)) {
        json_decref(body);
        return api_error(r, 500, "malformed json request");
    }
    size_t n = json_array_size(body);
    if (n == 0) {
        json_decref(body);
        return api_error(r, 500, "no source found");
    }
    if (n > (size_t)r->srv->cfg.merge_max_sources) {
        char msg[128];
        snprintf(msg, sizeof msg, "too many sources: %zu, a merge takes at most %d", n,
                 r->srv->cfg.merge_max_sources);
        json_decref(body);
        return api_error(r, 400, msg);
    }
    size_t i;
    json_t *el;
    json_array_foreach(body, i, el) {
        const char *s = json_string_value(el);
        if (!s || !strchr(s, '/')) {
            json_decref(body);
            return api_error(r, 500, "malformed source filename");
        }
    }
    json_t *sources = json_array();
    json_array_foreach(body, i, el) {
        const char *s = json_string_value(el);
        const char *slash = strchr(s, '/');
        char repo[REPO_NAME_MAX + 1], nn[REPO_NAME_MAX + 1], full[2 * REPO_NAME_MAX + 16];
        size_t rl = (size_t)(slash - s);
        /* D3: exactly "repo/name" */
        if (rl == 0 || rl > REPO_NAME_MAX || strchr(slash + 1, '/')) {
            json_decref(body);
            json_decref(sources);
            return api_error(r, 400, "malformed source filename: expected \"repository/name\"");
        }
        memcpy(repo, s, rl);
        repo[rl] = '\0';
        if (repo_name_check(repo, "repository", &err) < 0 ||
            repo_flist_name(slash + 1, "name", nn, &err) < 0) {
            json_decref(body);
            json_decref(sources);
            return api_error(r, 400, err.msg);
        }
        snprintf(full, sizeof full, "%s/%s", repo, nn);
        repo_lookup lk;
        if (repo_lookup_entry(r->srv->store, repo, NULL, nn, &lk, &err) != 0) {
            char msg[sizeof full + 32];
            snprintf(msg, sizeof msg, "%s does not exists", full);
            json_decref(body);
            json_decref(sources);
            return api_error(r, 500, msg);
        }
        json_array_append_new(sources, json_string(full));
    }
    json_decref(body);
    char target[REPO_NAME_MAX + 1];
    if (repo_flist_name(r->args[0], "build (target) name", target, &err) < 0) {
        json_decref(sources);
        return api_error(r, 400, err.msg);
    }
    if (repo_ensure(r->srv->store, r->auth.user, &err) != 0) { /* D10 */
        json_decref(sources);
        return api_fail(r, &err);
    }
    jobmsg_merge in = { .sources = sources, .name = target, .repository = r->auth.user };
    json_t *input = jobmsg_merge_build(&in);
    json_decref(sources);
    if (!input)
        return api_page(r, 500);
    return submit(r, JOBMSG_MERGE, input);
}

/* ---------------- docker ---------------- */

/* Validates the image (Docker's reference grammar) and the platform,
 * derives the original's flist name (HUB-API.md §13.4) and queues the
 * conversion. */
/* Seconds sealed per-request credentials stay openable: the longest a job
 * can wait and run. */
static int creds_ttl(const hub_config *c)
{
    long long t = (long long)c->job_wait_timeout + (c->job_max_duration ? c->job_max_duration : 3600);
    return t > 86400 * 7 ? 86400 * 7 : (int)t;
}

/* The conversion path of a request: 1 engine, 0 registry, -1 after
 * answering a refusal (an `engine` value not 0/1/true/false: 400; asked
 * while the hub's docker-engine is off: 403). */
static int docker_path(api_req *r, const char *engine, enum MHD_Result *ret)
{
    const char *mode = r->srv->cfg.docker_engine;
    int asked = 0;
    if (engine && *engine) {
        if (strcmp(engine, "1") == 0 || strcmp(engine, "true") == 0) {
            asked = 1;
        } else if (strcmp(engine, "0") != 0 && strcmp(engine, "false") != 0) {
            *ret = api_error(r, 400, "invalid engine option: expected 1, true, 0 or false");
            return -1;
        }
    }
    if (strcmp(mode, "default") == 0)
        return 1;
    if (asked && strcmp(mode, "per-request") != 0) {
        *ret = api_error(r, 403, "the docker engine path is not enabled on this hub "
                                 "(docker-engine = off)");
        return -1;
    }
    return asked;
}

static enum MHD_Result docker_checked(api_req *r, const char *image, const char *platform,
                                      const char *username, const char *password, int engine)
{
    hub_err err = {0};
    oci_ref ref;
    char derived[OCI_REF_NAME_MAX * 2 + OCI_REF_TAG_MAX + 16], name[REPO_NAME_MAX + 1];
    if (oci_ref_parse(image, &ref, &err) != 0) {
        char msg[HUB_ERR_MAX + 64];
        snprintf(msg, sizeof msg, "invalid docker image name: %s", err.msg);
        return api_error(r, 400, msg);
    }
    if (platform && *platform) {
        char os[32], arch[32], variant[32];
        if (oci_platform_parse(platform, os, arch, variant, &err) != 0)
            return api_error(r, 400, err.msg);
    }
    if (oci_flist_name(image, derived, sizeof derived, &err) != 0 ||
        repo_flist_name(derived, "flist name", name, &err) != 0)
        return api_error(r, 400, err.msg);
    if (repo_ensure(r->srv->store, r->auth.user, &err) != 0)
        return api_fail(r, &err);
    json_t *creds = NULL;
    if (username && *username) {
        queue *q = qpool_get(r->srv->qpool, &err);
        if (!q)
            return queue_down(r);
        creds = job_creds_seal(q, username, password ? password : "", creds_ttl(&r->srv->cfg),
                               &err);
        qpool_put(r->srv->qpool, q, !creds && err.code != HUB_E_INVALID);
        if (!creds)
            return err.code == HUB_E_INVALID ? api_error(r, 400, err.msg) : queue_down(r);
    }
    jobmsg_docker in = { .image = image, .name = name, .repository = r->auth.user,
                         .platform = platform && *platform ? platform : NULL,
                         .credentials = creds, .engine = engine };
    json_t *input = jobmsg_docker_build(&in);
    json_decref(creds);
    if (!input)
        return api_error(r, 400, "invalid docker image name: not valid UTF-8");
    return submit(r, JOBMSG_DOCKER, input);
}

enum MHD_Result h_docker(api_req *r)
{
    if (r->wait)
        return reply_after_wait(r, JOBMSG_DOCKER);
    char *image = form_field(r, "image");
    if (!image || !image[0]) {
        free(image);
        return api_error(r, 400, "missing docker image name");
    }
    char *platform = form_field(r, "platform");
    char *username = form_field(r, "username");
    char *password = form_field(r, "password");
    char *engine_opt = form_field(r, "engine");
    enum MHD_Result ret;
    int engine = docker_path(r, engine_opt, &ret);
    if (engine >= 0)
        ret = docker_checked(r, image, platform, username, password, engine);
    free(engine_opt);
    free(image);
    free(platform);
    free(username);
    if (password) {
        sodium_memzero(password, strlen(password));
        free(password);
    }
    return ret;
}

/* ---------------- status and events ---------------- */

/* The queue connection for a request about job `id`: NULL with *ret the
 * reply when the id is malformed (404) or the queue unreachable (503).
 * Give the connection back with qpool_put. */
static queue *job_queue(api_req *r, const char *id, enum MHD_Result *ret)
{
    if (!queue_job_id_valid(id)) {
        *ret = api_ferror(r, 404, "job id not found");
        return NULL;
    }
    hub_err err = {0};
    queue *q = qpool_get(r->srv->qpool, &err);
    if (!q)
        *ret = queue_down(r);
    return q;
}

enum MHD_Result h_job_status(api_req *r)
{
    const char *id = r->args[0];
    enum MHD_Result ret;
    queue *q = job_queue(r, id, &ret);
    if (!q)
        return ret;
    hub_err err = {0};
    json_t *job = NULL;
    int rc = queue_job_get(q, id, &job, &err);
    qpool_put(r->srv->qpool, q, rc < 0);
    if (rc < 0)
        return queue_down(r);
    if (!job)
        return api_ferror(r, 404, "job id not found");
    /* what the user needs: the spool file is the hub's business */
    json_t *input = json_object_get(job, "input");
    if (json_is_object(input)) {
        json_object_del(input, "file");
        json_object_del(input, "credentials");   /* sealed, but nobody's business */
    }
    const char *state = json_string_value(json_object_get(job, "state"));
    if (state && strcmp(state, "failed") == 0)
        json_object_set_new(job, "error_status", json_integer(job_error_status(job)));
    return api_success(r, job);
}

enum MHD_Result h_listen(api_req *r)
{
    const char *id = r->args[0];
    enum MHD_Result ret;
    queue *q = job_queue(r, id, &ret);
    if (!q)
        return ret;
    hub_err err = {0};
    char state[16];
    int rc = queue_job_state(q, id, state, sizeof state, &err);
    qpool_put(r->srv->qpool, q, rc < 0);
    if (rc < 0)
        return queue_down(r);
    if (!state[0])
        return api_ferror(r, 404, "job id not found");
    return waiters_stream(r, id, api_header(r, "Last-Event-ID"));
}
