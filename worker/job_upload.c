/* job_upload.c - the "upload" job: a spooled archive becomes an flist
 * (HUB-API.md §6.9, §13.2). The archive is streamed through the engine
 * (no extraction), only chunks missing on the internal backend are sent,
 * .README.md/.README become the readme (the writer does it), the user's
 * metadata is applied except the protected keys, and `backend` is the
 * public backend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flist.h"
#include "dispatch.h"
#include "log.h"
#include "publish.h"

/* Applies the user metadata then the public `backend`. Returns 0 or -1. */
static int apply_metadata(job_ctx *c, const jobmsg_upload *in, flist_writer *w, hub_err *err)
{
    const char *key;
    json_t *value;
    json_object_foreach(in->metadata, key, value) {
        if (jobmsg_meta_protected(key))
            continue;
        if (flist_writer_meta(w, key, json_string_value(value), err) != 0)
            return -1;
    }
    char *pub = backend_url_public_json(&c->ws->cfg->backend_public);
    if (!pub)
        return hub_err_set(err, "out of memory");
    int rc = flist_writer_meta(w, "backend", pub, err);
    free(pub);
    return rc;
}

/* One build attempt from the start of the spool into the staging file,
 * within the job's limits. Adds the bytes it stored on the backend to
 * *stored (failed or not). Returns 0 or -1 with err. */
static int build_once(job_ctx *c, const jobmsg_upload *in, int fd, off_t size, const stage *st,
                      flist_stats *stats, uint64_t *stored, hub_err *err)
{
    if (lseek(fd, 0, SEEK_SET) != 0)
        return hub_err_set(err, "rewind the upload spool file: %m");
    flist_writer_opts o = {
        .threads = c->ws->engine_threads,
        .backend = &c->ws->cfg->backend_internal,
        .total_hint = (uint64_t)size,
    };
    if (job_build_limits(c, *stored, &o.limits, err) != 0)
        return -1;
    flist_writer *w = flist_writer_new(&o, err);
    if (!w)
        return -1;
    int rc = apply_metadata(c, in, w, err);
    if (rc == 0) {
        job_watch_track_fd(c->watch, fd, size, 0, 99, "Building: archive read ");
        rc = flist_source_tar_fd(w, fd, err);
        job_watch_track_fd(c->watch, -1, 0, 0, 0, NULL);
    }
    if (rc == 0)
        rc = flist_writer_finish(w, st->path, stats, err);
    *stored += flist_writer_stored(w);
    flist_writer_free(w);
    return rc;
}

int job_upload(job_ctx *c, json_t **result, json_t **final_event, hub_err *err)
{
    jobmsg_upload in;
    off_t size;
    int fd = job_open_upload(c, &in, &size, err);
    if (fd < 0)
        return -1;
    const char *filename = in.filename, *repo = in.repository, *name = in.name;
    stage st;
    if (stage_open(&st, c->ws->cfg, repo, name, c->id, err) != 0) {
        close(fd);
        return -1;
    }
    flist_stats stats;
    uint64_t stored = 0;
    int rc;
    for (int attempt = 1;; attempt++) {
        if (job_watch_lost(c->watch)) {
            rc = JOB_ABANDONED;
            break;
        }
        rc = build_once(c, &in, fd, size, &st, &stats, &stored, err);
        if (rc == 0 || !job_backend_retry(c, attempt, err))
            break;
    }
    job_count_stored(c, stored);
    close(fd);
    if (rc == -1 && filename)
        hub_err_prefix(err, "%s", filename);
    if (rc == 0 && (job_watch_lost(c->watch) || job_watch_confirm(c->watch, err) != 0)) {
        log_warn("job %s: %s; not publishing", c->id, err->msg);
        rc = JOB_ABANDONED;
    }
    if (rc == 0)
        rc = stage_commit(&st, err);
    stage_close(&st);
    if (rc != 0)
        return rc;

    json_t *response = job_putdir_stats(&stats);
    if (!response)
        return hub_err_set(err, "out of memory");
    hub_err ev;
    if (job_watch_event(c->watch, 100, "Image ready !", &ev) != 0)
        log_warn("job %s: event: %s", c->id, ev.msg);
    *result = json_pack("{sss{sbsnsOsi}}", "name", name, "files", "success", 1,
                        "error", "response", response, "status", 0);
    *final_event = json_pack("{sss{sssO}}", "status", "info", "info", "filename", name,
                             "flist", response);
    json_decref(response);
    if (!*result || !*final_event) {
        json_decref(*result);
        json_decref(*final_event);
        *result = *final_event = NULL;
        return hub_err_set(err, "out of memory");
    }
    log_info("job %s: %s/%s published: %llu files, %llu chunks uploaded", c->id, repo, name,
             (unsigned long long)stats.regular, (unsigned long long)stats.chunks_uploaded);
    return 0;
}
