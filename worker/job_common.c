/* job_common.c - what every job kind uses: the spooled file of an upload
 * and the retry policy for an unreachable content backend (job_common.h). */
#include "job_common.h"

#include <string.h>
#include <time.h>

#include "backend.h"
#include "log.h"
#include "publish.h"
#include "repo.h"
#include "usage.h"
#include "util.h"

int job_open_upload(const job_ctx *c, jobmsg_upload *in, off_t *size, hub_err *err)
{
    if (jobmsg_upload_parse(c->kind, c->input, c->user, in, err) != 0 ||
        repo_name_check(in->repository, "repository", err) != 0)
        return -1;
    *size = 0;
    return spool_open(c->ws->cfg, in->spool, size, err);
}

int job_build_limits(const job_ctx *c, uint64_t stored, flist_limits *l, hub_err *err)
{
    const hub_config *cfg = c->ws->cfg;
    *l = (flist_limits){
        .max_bytes = cfg->job_max_expanded_size,
        .max_entries = (uint64_t)cfg->job_max_entries,
        .max_depth = (uint32_t)cfg->job_max_depth,
        .started_ms = c->started_ms,
        .max_ms = (int64_t)cfg->job_max_duration * 1000,
    };
    uint64_t budget = cfg->quota_job_stored;   /* 0: no bound */
    l->stored_why = "quota-job-stored";
    if (budget) {
        if (stored >= budget)
            return hub_err_setc(err, HUB_E_TOO_LARGE, "the job stored its quota of %llu bytes "
                                "(quota-job-stored)", (unsigned long long)budget);
        budget -= stored;
    }
    uint64_t per_day = cfg->quota_user_stored_per_day;
    if (per_day) {
        uint64_t today;
        if (usage_stored_today(c->q, c->user, time(NULL), &today, err) != 0)
            return -1;
        if (today >= per_day)
            return hub_err_setc(err, HUB_E_TOO_LARGE, "%s stored %llu bytes today, its quota is "
                                "%llu bytes a day (quota-user-stored-per-day)", c->user,
                                (unsigned long long)today, (unsigned long long)per_day);
        if (!budget || per_day - today < budget) {
            budget = per_day - today;
            l->stored_why = "quota-user-stored-per-day";
        }
    }
    l->max_stored = budget;
    return 0;
}

void job_count_stored(const job_ctx *c, uint64_t bytes)
{
    hub_err err;
    if (bytes && usage_stored_add(c->q, c->user, time(NULL), bytes, &err) != 0)
        log_warn("job %s: usage of %s not counted (%llu bytes): %s", c->id, c->user,
                 (unsigned long long)bytes, err.msg);
}

int job_backend_retry(job_ctx *c, int attempt, hub_err *err)
{
    const worker_settings *ws = c->ws;
    /* only an unreachable or silent backend is worth waiting for: a refusal
     * (unknown namespace, wrong password) or the job's own failure would
     * fail the same way again */
    if (err->code != HUB_E_UNAVAILABLE)
        return 0;
    if (attempt >= ws->backend_retries || atomic_load(&ws->hard_stop)) {
        hub_err_prefix(err, "content backend unavailable after %d attempt%s", attempt,
                       attempt == 1 ? "" : "s");
        return 0;
    }
    long long wait = ws->backend_backoff_ms;
    for (int i = 1; i < attempt && wait < 60000; i++)
        wait *= 2;
    long long max_ms = (long long)ws->cfg->job_max_duration * 1000;
    if (max_ms > 0 && util_mono_ms() + wait - c->started_ms > max_ms) {
        hub_err_prefix(err, "content backend unavailable until the job's time limit of %d s",
                       ws->cfg->job_max_duration);
        return 0;
    }
    log_warn("job %s: attempt %d: %s; retrying in %lld ms", c->id, attempt, err->msg, wait);
    char msg[HUB_ERR_MAX + 64];
    snprintf(msg, sizeof msg, "Waiting for the content backend (attempt %d of %d)",
             attempt + 1, ws->backend_retries);
    job_watch_progress(c->watch, 0, msg);
    if (worker_sleep(ws, wait) != 0) {
        hub_err_prefix(err, "content backend unavailable (worker stopping)");
        return 0;
    }
    return 1;
}

json_t *job_putdir_stats(const flist_stats *stats)
{
    return json_pack("{sIsIsIsIsIsI}",
        "regular", (json_int_t)stats->regular, "symlink", (json_int_t)stats->symlink,
        "directory", (json_int_t)stats->directory, "special", (json_int_t)stats->special,
        "failure", (json_int_t)0, "fullsize", (json_int_t)stats->fullsize);
}
