/* job_merge.c - the "merge" job (HUB-API.md §6.11): sources in order, the
 * original's validation messages, and its defects fixed: only
 * "<repo>/<name>" sources (D3), read through the repository store so no
 * link leads outside the public directory, the target repository created
 * (D10), the engine's merge never lists a name twice, the result opened
 * again before it is published (D10), a failure is a failure (D9). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flist.h"
#include "dispatch.h"
#include "log.h"
#include "publish.h"
#include "repo.h"

/* Reads a whole descriptor of known size (bounded). Returns a malloc'ed
 * buffer or NULL with err. */
static uint8_t *read_all(int fd, off_t size, const char *what, hub_err *err)
{
    if (size < 0 || (uint64_t)size > flist_max_db_size()) {
        hub_err_set(err, "%s: file too large", what);
        return NULL;
    }
    uint8_t *buf = malloc(size ? (size_t)size : 1);
    if (!buf) {
        hub_err_set(err, "%s: out of memory", what);
        return NULL;
    }
    size_t got = 0;
    while (got < (size_t)size) {
        ssize_t r = read(fd, buf + got, (size_t)size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            hub_err_set(err, "%s: read: %s", what, r < 0 ? strerror(errno) : "file shrank");
            free(buf);
            return NULL;
        }
        got += (size_t)r;
    }
    return buf;
}

/* "<what>: invalid flist: <reason>", a mistake of whoever uploaded it. */
static int invalid_flist(hub_err *err, const char *what)
{
    if (err && err->code == HUB_E_FAILED)   /* not out of memory, ... */
        err->code = HUB_E_INVALID;
    return hub_err_prefix(err, "%s: invalid flist", what);
}

/* A walk callback that only lets the walk check every directory. */
static int noop_entry(const flist_entry *e, void *ud)
{
    (void)e;
    (void)ud;
    return 0;
}

/* Splits and checks one source "a/b" into repo and N(b). Returns 0 or -1
 * with the original's message where it has one. */
static int parse_source(const char *s, char *repo, char *name, hub_err *err)
{
    const char *slash = strchr(s, '/');
    if (!slash)
        return hub_err_set(err, "malformed source filename");
    if (strchr(slash + 1, '/'))
        return hub_err_set(err, "invalid source \"%s\": must be <repository>/<name>", s);
    size_t n = (size_t)(slash - s);
    if (n > REPO_NAME_MAX)
        return hub_err_set(err, "invalid source \"%s\": repository name too long", s);
    memcpy(repo, s, n);
    repo[n] = '\0';
    if (repo_name_check(repo, "repository", err) != 0)
        return -1;
    return repo_flist_name(slash + 1, "name", name, err);
}

/* Opens source i ("a/b") as an flist. Returns 0 or -1 with err. */
static int open_source(repo_store *store, const char *s, flist **out, hub_err *err)
{
    char repo[REPO_NAME_MAX + 1], name[REPO_NAME_MAX + 1];
    if (parse_source(s, repo, name, err) != 0)
        return -1;
    struct stat st;
    hub_err ignored;
    int fd = repo_open_target(store, repo, NULL, name, &st, &ignored);
    if (fd < 0)
        return hub_err_setc(err, HUB_E_NOT_FOUND, "%s/%s does not exists", repo, name);
    char what[2 * REPO_NAME_MAX + 8];
    snprintf(what, sizeof what, "%s/%s", repo, name);
    uint8_t *buf = read_all(fd, st.st_size, what, err);
    close(fd);
    if (!buf)
        return -1;
    int rc = flist_open_buffer(buf, (size_t)st.st_size, out, err);
    free(buf);
    if (rc != 0)
        return invalid_flist(err, what);
    return 0;
}

int job_merge(job_ctx *c, json_t **result, json_t **final_event, hub_err *err)
{
    (void)final_event;
    jobmsg_merge in;
    if (jobmsg_merge_parse(c->input, c->user, &in, err) != 0 ||
        repo_name_check(in.repository, "repository", err) != 0)
        return -1;
    const json_t *sources = in.sources;
    const char *target = in.name, *repo = in.repository;
    size_t n = json_array_size(sources);
    if (n > (size_t)c->ws->cfg->merge_max_sources)   /* the api refuses them first */
        return hub_err_setc(err, HUB_E_TOO_LARGE, "too many sources: %zu, a merge takes at most %d",
                            n, c->ws->cfg->merge_max_sources);

    repo_store *store = repo_store_open(c->ws->cfg->public_dir, err);
    if (!store)
        return -1;
    flist **inputs = calloc(n, sizeof *inputs);
    if (!inputs) {
        repo_store_close(store);
        return hub_err_set(err, "out of memory");
    }
    int rc = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char msg[96];
        snprintf(msg, sizeof msg, "Merging: reading source %zu of %zu", i + 1, n);
        job_watch_progress(c->watch, (int)((i + 1) * 50 / n), msg);
        rc = open_source(store, json_string_value(json_array_get(sources, i)), &inputs[i], err);
        /* the sources live in memory together: they share one bound */
        if (rc == 0 && (total += flist_db_size(inputs[i])) > flist_max_db_size())
            rc = hub_err_setc(err, HUB_E_TOO_LARGE, "the sources expand to more than %llu bytes "
                              "together (flist-max-size)", (unsigned long long)flist_max_db_size());
    }
    repo_store_close(store);

    stage st;
    int staged = 0;
    flist_stats stats;
    memset(&stats, 0, sizeof stats);
    if (rc == 0) {
        rc = stage_open(&st, c->ws->cfg, repo, target, c->id, err);
        staged = rc == 0;
    }
    if (rc == 0) {
        job_watch_progress(c->watch, 60, "Merging: writing the flist");
        rc = flist_merge(st.path, inputs, n, &stats, err);
        if (rc != 0)
            hub_err_prefix(err, "merge");
    }
    for (size_t i = 0; i < n; i++)
        flist_close(inputs[i]);
    free(inputs);
    if (rc == 0) {
        /* D10: the result must be a readable flist before it is published. */
        flist *check = NULL;
        rc = flist_open(st.path, &check, err);
        if (rc == 0)
            rc = flist_walk(check, "/", noop_entry, NULL, err) == 0 ? 0 : -1;
        flist_close(check);
        if (rc != 0)
            hub_err_prefix(err, "merge produced an unreadable flist");
    }
    if (rc == 0 && (job_watch_lost(c->watch) || job_watch_confirm(c->watch, err) != 0)) {
        log_warn("job %s: %s; not publishing", c->id, err->msg);
        rc = JOB_ABANDONED;
    }
    if (rc == 0)
        rc = stage_commit(&st, err);
    if (staged)
        stage_close(&st);
    if (rc != 0)
        return rc;
    *result = json_object();
    if (!*result)
        return hub_err_set(err, "out of memory");
    log_info("job %s: %s/%s merged from %zu source(s)", c->id, repo, target, n);
    return 0;
}
