/* job_common.c - what every job kind uses: the spooled file of an upload
 * and the retry policy for an unreachable content backend (job_common.h). */
#include "job_common.h"

#include <string.h>

#include "backend.h"
#include "log.h"
#include "publish.h"
#include "repo.h"

int job_open_upload(const job_ctx *c, jobmsg_upload *in, off_t *size, hub_err *err)
{
    if (jobmsg_upload_parse(c->kind, c->input, c->user, in, err) != 0 ||
        repo_name_check(in->repository, "repository", err) != 0)
        return -1;
    *size = 0;
    return spool_open(c->ws->cfg, in->spool, size, err);
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
