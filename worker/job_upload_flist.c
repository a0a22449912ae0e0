/* job_upload_flist.c - the "upload-flist" job (HUB-API.md §6.10,
 * FLIST-FORMAT.md §11): a ready-made flist is opened and walked completely
 * (a malformed one is refused with a clear message), every chunk is checked
 * on the internal backend with pipelined EXISTS, and when all are present
 * it is published with its `backend` metadata set to the public backend
 * (D12 fixed; ARCHITECTURE.md "Decisions"). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "flist.h"
#include "flist_json.h"
#include "dispatch.h"
#include "log.h"
#include "publish.h"

/* The original's refusal (HUB-API.md §6.10 step 10). */
#define MSG_NOT_PRESENT "unauthorized upload, contents is not fully present on backend"

/* "invalid flist: <reason>": the uploaded file's fault, not the hub's. */
static int invalid_flist(hub_err *err)
{
    if (err && err->code == HUB_E_FAILED)   /* not out of memory, ... */
        err->code = HUB_E_INVALID;
    return hub_err_prefix(err, "invalid flist");
}

static int count_entry(const flist_entry *e, void *ud)
{
    (void)e;
    (*(uint64_t *)ud)++;
    return 0;
}

static void check_progress(void *ud, uint64_t done, uint64_t total)
{
    job_ctx *c = ud;
    if (total == 0)
        return;
    int p = (int)(done * 99 / total);
    if (p < 1)
        p = 1;
    char msg[128];
    snprintf(msg, sizeof msg, "Checking: chunk %llu of %llu", (unsigned long long)done,
             (unsigned long long)total);
    job_watch_progress(c->watch, p, msg);
}

int job_upload_flist(job_ctx *c, json_t **result, json_t **final_event, hub_err *err)
{
    (void)final_event;   /* the queue's default final event */
    /* Opened through spool_open's checks, then read from /proc/self/fd so
     * the file checked is the file read. */
    jobmsg_upload in;
    off_t size;
    int fd = job_open_upload(c, &in, &size, err);
    if (fd < 0)
        return -1;
    const char *repo = in.repository, *name = in.name;
    char fdpath[64];
    snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
    flist *f = NULL;
    int rc = flist_open(fdpath, &f, err);
    close(fd);
    if (rc != 0)
        return invalid_flist(err);
    uint64_t entries = 0;
    if (flist_walk(f, "/", count_entry, &entries, err) != 0) {
        flist_close(f);
        return invalid_flist(err);
    }
    char *pub = backend_url_public_json(&c->ws->cfg->backend_public);
    if (!pub || flist_meta_set(f, "backend", pub, err) != 0) {
        if (!pub)
            hub_err_set(err, "out of memory");
        free(pub);
        flist_close(f);
        return -1;
    }
    free(pub);
    job_watch_progress(c->watch, 1, "Checking contents on the backend");

    uint64_t failures = 0;
    for (int attempt = 1;; attempt++) {
        rc = flist_check(f, &c->ws->cfg->backend_internal, NULL, NULL, &failures,
                         check_progress, c, err);
        if (rc == 0 || !job_backend_retry(c, attempt, err))
            break;
    }
    if (rc != 0) {
        flist_close(f);
        return -1;
    }
    if (failures > 0) {
        log_info("job %s: %llu file(s) of %s have chunks missing on the backend", c->id,
                 (unsigned long long)failures, name);
        flist_close(f);
        return hub_err_setc(err, HUB_E_INVALID, MSG_NOT_PRESENT);
    }
    int jrc = 0;
    json_t *response = flist_json_find(f, "/", failures, &jrc, err);
    if (!response) {
        flist_close(f);
        return invalid_flist(err);
    }

    stage st;
    rc = stage_open(&st, c->ws->cfg, repo, name, c->id, err);
    if (rc == 0)
        rc = flist_save(f, st.path, err);
    flist_close(f);
    if (rc == 0 && (job_watch_lost(c->watch) || job_watch_confirm(c->watch, err) != 0)) {
        log_warn("job %s: %s; not publishing", c->id, err->msg);
        rc = JOB_ABANDONED;
    }
    if (rc == 0)
        rc = stage_commit(&st, err);
    if (st.repo_fd >= 0 || st.store)
        stage_close(&st);
    if (rc != 0) {
        json_decref(response);
        return rc;
    }
    *result = json_pack("{sss{sbsnsosi}}", "name", name, "files", "success", 1, "error",
                        "response", response, "status", 0);
    if (!*result)
        return hub_err_set(err, "out of memory");
    log_info("job %s: %s/%s published (%llu entries checked)", c->id, repo, name,
             (unsigned long long)entries);
    return 0;
}
