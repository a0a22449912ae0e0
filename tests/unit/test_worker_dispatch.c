/* test_worker_dispatch.c - the worker's dispatch and the checks every job
 * makes before it touches a file (worker/dispatch.c, job_common.c,
 * publish.c's spool rules), reached without Redis: a kind this worker does
 * not run, malformed inputs with the original's messages, spool names
 * resolved in the worker's own upload directory and never outside it. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "dispatch.h"
#include "publish.h"
#include "t.h"

static hub_config g_cfg;
static worker_settings g_ws;
static char g_dir[128];

/* Runs a job of kind with the JSON input; returns dispatch_job's result
 * with the error in *err. */
static int run(jobmsg_kind kind, const char *input_json, hub_err *err)
{
    json_t *input = json_loads(input_json, JSON_DECODE_ANY, NULL);
    job_ctx c = { .ws = &g_ws, .id = "00000000-0000-4000-8000-000000000000", .kind = kind,
                  .user = "alice", .input = input, .watch = NULL };
    json_t *result = NULL, *final = NULL;
    int rc = dispatch_job(&c, &result, &final, err);
    json_decref(result);
    json_decref(final);
    json_decref(input);
    return rc;
}

static void test_kinds_and_inputs(void)
{
    hub_err err;
    T_CHECK(run(JOBMSG_DOCKER, "{\"image\": \"ubuntu\"}", &err) == -1);
    T_STREQ(err.msg, "job input has no name");
    T_CHECK(run(JOBMSG_DOCKER, "{\"name\": \"u.flist\", \"image\": \"\"}", &err) == -1);
    T_STREQ(err.msg, "missing docker image name");
    T_CHECK(run(JOBMSG_UPLOAD, "[1, 2]", &err) == -1 && err.code == HUB_E_INVALID);
    T_STREQ(err.msg, "job input is not a JSON object");
    T_CHECK(run(JOBMSG_UPLOAD, "{\"file\": \"x\"}", &err) == -1);
    T_STREQ(err.msg, "job input has no name");
    T_CHECK(run(JOBMSG_MERGE, "{\"sources\": [\"noslash\"], \"name\": \"t\"}", &err) == -1);
    T_STREQ(err.msg, "malformed source filename");
    T_CHECK(run(JOBMSG_UPLOAD, "{\"file\": \"x\", \"name\": \"a.flist\", \"repository\": \".hidden\"}",
                &err) == -1);
    T_CHECK(strstr(err.msg, "invalid repository") != NULL);
}

static void test_spool_names(void)
{
    hub_err err;
    char path[300];
    snprintf(path, sizeof path, "%s/upload-abc.part", g_cfg.upload_dir);
    FILE *f = fopen(path, "w");
    T_REQUIRE(f);
    fputs("data", f);
    fclose(f);
    off_t size = 0;
    /* a base name, resolved in the worker's own upload directory */
    int fd = spool_open(&g_cfg, "upload-abc.part", &size, &err);
    T_CHECK(fd >= 0 && size == 4);
    if (fd >= 0)
        close(fd);
    /* an older api's absolute path into the same directory */
    fd = spool_open(&g_cfg, path, &size, &err);
    T_CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    /* never anything outside it */
    T_CHECK(spool_open(&g_cfg, "/etc/passwd", &size, &err) == -1);
    T_CHECK(strstr(err.msg, "is not in the upload directory") != NULL);
    T_CHECK(spool_open(&g_cfg, "..", &size, &err) == -1);
    T_CHECK(spool_open(&g_cfg, "", &size, &err) == -1);
    T_CHECK(spool_open(&g_cfg, "missing.part", &size, &err) == -1);
    T_CHECK(strstr(err.msg, "missing") != NULL);
    /* a link in the upload directory is not followed */
    char link[300];
    snprintf(link, sizeof link, "%s/evil.part", g_cfg.upload_dir);
    T_REQUIRE(symlink("/etc/passwd", link) == 0);
    T_CHECK(spool_open(&g_cfg, "evil.part", &size, &err) == -1);
    unlink(link);
    unlink(path);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/test_worker_dispatch.%d", (int)getpid());
    char env[200];
    snprintf(env, sizeof env, "%s/public", g_dir);
    setenv("HUB_USERDATA_ROOT_PATH", env, 1);
    snprintf(env, sizeof env, "%s/workdir", g_dir);
    setenv("HUB_WORKDIR_ROOT_PATH", env, 1);
    hub_err err;
    if (config_load(NULL, &g_cfg, &err) != 0 || config_make_dirs(&g_cfg, &err) != 0 ||
        worker_settings_init(&g_ws, &g_cfg, &err) != 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    static const t_case cases[] = {
        T_CASE(test_kinds_and_inputs), T_CASE(test_spool_names),
    };
    int rc = t_run(cases, sizeof cases / sizeof cases[0]);
    config_free(&g_cfg);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        return 1;
    return rc;
}
