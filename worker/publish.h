/* publish.h - how the worker touches files: the spool file a job reads
 * (checked to be inside the upload directory, removed when the job ends)
 * and the atomic publication of an flist into a repository.
 *
 * Publication: a job builds its flist in a staging directory
 * <public>/<repo>/.tmp-job-<id>-<pid>-<tid>/, one per attempt (hidden
 * from every listing; the engine
 * writes there with its own temporary file, fsync and rename), then
 * stage_commit renames it to <public>/<repo>/<name> (same filesystem:
 * atomic; an existing link there is replaced, never written through, D1)
 * and fsyncs the directory. stage_close removes the attempt's staging
 * directory; what crashed attempts of the same job left is removed by
 * stage_sweep when the job ends, so no ".tmp-" is left behind and nothing
 * partial is ever visible under the flist's name.
 */
#ifndef WORKER_PUBLISH_H
#define WORKER_PUBLISH_H

#include <limits.h>
#include <sys/types.h>

#include "hub_err.h"
#include "repo.h"
#include "worker.h"

/* Opens the spool file `spool` for reading: it must be a regular file
 * (not a link) directly inside cfg->upload_dir. Returns the descriptor
 * (O_CLOEXEC) with *size, or -1 with err. */
int spool_open(const hub_config *cfg, const char *spool, off_t *size, hub_err *err);

/* Removes the spool file when it is inside the upload directory (a
 * missing file is fine). Returns 0, or -1 with err. */
int spool_remove(const hub_config *cfg, const char *spool, hub_err *err);

/* A publication in progress. */
typedef struct stage {
    const hub_config *cfg;
    repo_store *store;
    int repo_fd;                  /* <public>/<repo> (O_NOFOLLOW) */
    int stage_fd;                 /* the staging directory */
    char repo[REPO_NAME_MAX + 1];
    char name[REPO_NAME_MAX + 1]; /* target file name (x.flist) */
    char stage_name[96];          /* ".tmp-job-<id>-<pid>-<tid>" */
    char path[PATH_MAX];          /* <staging dir>/out.flist: where the
                                     engine writes */
} stage;

/* Checks repo and name (the name rule; name must end with ".flist"),
 * creates the repository when missing (refusing a link or a non-directory
 * there), creates this attempt's staging directory. Returns 0, or -1
 * with err (then nothing needs closing). */
int stage_open(stage *s, const hub_config *cfg, const char *repo, const char *name,
               const char *job_id, hub_err *err);

/* Publishes the staged flist under its name (rename, fsync of the
 * repository directory) and touches the repository (D43); the replies the
 * api serves for it are put in the shared reply store first. Refuses when a
 * directory has the name. Returns 0, or -1 with err. */
int stage_commit(stage *s, hub_err *err);

/* Removes the staging directory and closes. Safe after a failed or
 * successful commit; s zeroed by stage_open failure is fine too. */
void stage_close(stage *s);

/* Removes every staging directory of job `job_id` in repository `repo`
 * (all attempts: those of crashed or abandoned workers too). Only the
 * job's current owner calls it, once the job's end is recorded. Errors are
 * logged and ignored. */
void stage_sweep(const hub_config *cfg, const char *repo, const char *job_id);

#endif
