/* jobs.c - dispatch of a job to its kind, input helpers, and the retry
 * policy for an unreachable content backend (jobs.h). */
#include <string.h>

#include "backend.h"
#include "jobs.h"
#include "log.h"
#include "publish.h"
#include "repo.h"

int job_run(job_ctx *c, json_t **result, json_t **final_event, hub_err *err)
{
    *result = NULL;
    *final_event = NULL;
    if (!json_is_object(c->input))
        return hub_err_set(err, "job input is not a JSON object");
    if (strcmp(c->type, "upload") == 0)
        return job_upload(c, result, final_event, err);
    if (strcmp(c->type, "upload-flist") == 0)
        return job_upload_flist(c, result, final_event, err);
    if (strcmp(c->type, "merge") == 0)
        return job_merge(c, result, final_event, err);
    return hub_err_set(err, "job type \"%s\" is not supported by this worker", c->type);
}

const char *job_input_str(const job_ctx *c, const char *key)
{
    return json_string_value(json_object_get(c->input, key));
}

const char *job_repo(const job_ctx *c, hub_err *err)
{
    const char *repo = job_repo_of(c->input, c->user);
    if (!repo || !*repo) {
        hub_err_set(err, "job has no repository");
        return NULL;
    }
    if (repo_name_check(repo, "repository", err) != 0)
        return NULL;
    return repo;
}

const char *job_spool_of(const json_t *input)
{
    return json_string_value(json_object_get(input, "file"));
}

int job_open_upload(const job_ctx *c, const char **repo, const char **name, off_t *size,
                    hub_err *err)
{
    *name = job_input_str(c, "name");
    *repo = job_repo(c, err);
    if (!*repo)
        return -1;
    if (!*name)
        return hub_err_set(err, "job input has no name");
    *size = 0;
    return spool_open(c->ws->cfg, job_spool_of(c->input), size, err);
}

const char *job_repo_of(const json_t *input, const char *user)
{
    const char *repo = json_string_value(json_object_get(input, "repository"));
    return repo ? repo : user;
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
