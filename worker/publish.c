/* publish.c - spool files and the atomic publication of flists through a
 * per-job staging directory (publish.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flist.h"
#include "flist_replies.h"
#include "log.h"
#include "publish.h"
#include "queue.h"
#include "reply_store.h"
#include "util.h"

#define STAGE_FILE "out.flist"

/* ---------------- spool ---------------- */

/* Resolves `spool` to (descriptor of the upload directory, base name): a
 * bare name, or a path whose directory is the upload directory. Returns the
 * directory descriptor (caller closes) or -1 with err. */
static int spool_locate(const hub_config *cfg, const char *spool, const char **base,
                        hub_err *err)
{
    if (!spool || !*spool)
        return hub_err_set(err, "job input has no spool file");
    int dfd = open(cfg->upload_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return hub_err_set(err, "upload directory %s: %s", cfg->upload_dir, strerror(errno));
    const char *slash = strrchr(spool, '/');
    *base = slash ? slash + 1 : spool;
    if (!**base || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0) {
        close(dfd);
        return hub_err_set(err, "spool file \"%s\" is not a file name", spool);
    }
    if (slash) {
        char dir[PATH_MAX];
        size_t n = (size_t)(slash - spool);
        if (n == 0)
            n = 1;   /* "/x": the root directory */
        if (n >= sizeof dir) {
            close(dfd);
            return hub_err_set(err, "spool path too long");
        }
        memcpy(dir, spool, n);
        dir[n] = '\0';
        struct stat a, b;
        if (stat(dir, &a) != 0 || fstat(dfd, &b) != 0 || a.st_dev != b.st_dev ||
            a.st_ino != b.st_ino) {
            close(dfd);
            return hub_err_set(err, "spool file \"%s\" is not in the upload directory", spool);
        }
    }
    return dfd;
}

int spool_open(const hub_config *cfg, const char *spool, off_t *size, hub_err *err)
{
    const char *base;
    int dfd = spool_locate(cfg, spool, &base, err);
    if (dfd < 0)
        return -1;
    int fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    int e = errno;
    close(dfd);
    if (fd < 0)
        return hub_err_set(err, "upload spool file %s: %s", base,
                           e == ENOENT ? "missing (already processed or removed)" : strerror(e));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return hub_err_set(err, "upload spool file %s is not a regular file", base);
    }
    *size = st.st_size;
    return fd;
}

int spool_remove(const hub_config *cfg, const char *spool, hub_err *err)
{
    const char *base;
    int dfd = spool_locate(cfg, spool, &base, err);
    if (dfd < 0)
        return -1;
    int rc = unlinkat(dfd, base, 0);
    int e = errno;
    close(dfd);
    if (rc != 0 && e != ENOENT)
        return hub_err_set(err, "remove spool file %s: %s", base, strerror(e));
    return 0;
}

/* ---------------- staging ---------------- */

/* Removes directory `name` in dirfd and the files directly in it (a
 * staging directory is flat). Missing is fine. Returns 0 or -1 (errno). */
static int sweep_dir(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (unlinkat(fd, de->d_name, 0) != 0 && errno == EISDIR)
            unlinkat(fd, de->d_name, AT_REMOVEDIR);
    }
    closedir(d);
    if (unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        return -1;
    return 0;
}

int stage_open(stage *s, const hub_config *cfg, const char *repo, const char *name,
               const char *job_id, hub_err *err)
{
    memset(s, 0, sizeof *s);
    s->repo_fd = s->stage_fd = -1;
    if (repo_name_check(repo, "repository", err) != 0 || repo_name_check(name, "name", err) != 0)
        return -1;
    if (!util_ends_with(name, ".flist"))
        return hub_err_set(err, "invalid name \"%s\": must end with .flist", name);
    if (!queue_job_id_valid(job_id))
        return hub_err_set(err, "invalid job id");
    s->cfg = cfg;
    snprintf(s->repo, sizeof s->repo, "%s", repo);
    snprintf(s->name, sizeof s->name, "%s", name);
    /* one directory per attempt: a worker that lost the job (heartbeat
     * lapsed) never touches the directory of the attempt that owns it now */
    snprintf(s->stage_name, sizeof s->stage_name, ".tmp-job-%s-%ld-%ld", job_id, (long)getpid(),
             (long)gettid());
    int n = snprintf(s->path, sizeof s->path, "%s/%s/%s/%s", cfg->public_dir, repo,
                     s->stage_name, STAGE_FILE);
    if (n < 0 || (size_t)n >= sizeof s->path)
        return hub_err_set(err, "repository path too long");

    s->store = repo_store_open(cfg->public_dir, err);
    if (!s->store)
        return -1;
    s->repo_fd = repo_open_own(s->store, repo, err);
    if (s->repo_fd < 0)
        goto fail;
    if (sweep_dir(s->repo_fd, s->stage_name) != 0) {
        hub_err_set(err, "remove %s/%s: %s", repo, s->stage_name, strerror(errno));
        goto fail;
    }
    if (mkdirat(s->repo_fd, s->stage_name, 0755) != 0) {
        hub_err_set(err, "create %s/%s: %s", repo, s->stage_name, strerror(errno));
        goto fail;
    }
    s->stage_fd = openat(s->repo_fd, s->stage_name,
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (s->stage_fd < 0) {
        hub_err_set(err, "open %s/%s: %s", repo, s->stage_name, strerror(errno));
        goto fail;
    }
    return 0;
fail:
    stage_close(s);
    return -1;
}

/* Puts the replies the api serves for the staged flist (its contents, its
 * metadata) into the shared reply store, keyed by the staged file's
 * identity, which the rename keeps: the first reader already finds them.
 * Best effort: a failure is logged, and the api computes them itself. */
static void precompute_replies(const stage *s)
{
    const hub_config *cfg = s->cfg;
    if (cfg->reply_cache_size == 0)
        return;
    hub_err err;
    reply_store *rs = reply_store_open(cfg->reply_cache_dir, cfg->reply_cache_size, &err);
    flist *f = NULL;
    struct stat st;
    if (rs && stat(s->path, &st) != 0)
        hub_err_set(&err, "%s", strerror(errno));
    else if (rs)
        (void)flist_open(s->path, &f, &err);   /* f stays NULL on failure */
    if (!f) {
        log_warn("%s/%s: replies not precomputed: %s", s->repo, s->name, err.msg);
        reply_store_close(rs);
        return;
    }
    size_t len;
    char *text = flist_reply_contents(f, &len, &err);
    if (!text || reply_store_put(rs, REPLY_KIND_CONTENTS, &st, text, len, &err) != 0)
        log_warn("%s/%s: contents reply not precomputed: %s", s->repo, s->name, err.msg);
    free(text);
    int forced = 0;
    text = flist_reply_metadata(f, &cfg->backend_public, &forced, &len, &err);
    if (!text || (!forced && reply_store_put(rs, REPLY_KIND_METADATA, &st, text, len, &err) != 0))
        log_warn("%s/%s: metadata reply not precomputed: %s", s->repo, s->name, err.msg);
    free(text);
    flist_close(f);
    reply_store_close(rs);
}

int stage_commit(stage *s, hub_err *err)
{
    struct stat st;
    if (fstatat(s->repo_fd, s->name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
        return hub_err_set(err, "%s/%s exists and is a directory", s->repo, s->name);
    precompute_replies(s);
    if (renameat(s->stage_fd, STAGE_FILE, s->repo_fd, s->name) != 0)
        return hub_err_set(err, "publish %s/%s: %s", s->repo, s->name, strerror(errno));
    if (fsync(s->repo_fd) != 0)
        log_warn("fsync %s: %s", s->repo, strerror(errno));
    repo_touch(s->store, s->repo);
    return 0;
}

void stage_close(stage *s)
{
    if (s->stage_fd >= 0)
        close(s->stage_fd);
    if (s->repo_fd >= 0) {
        if (s->stage_name[0] && sweep_dir(s->repo_fd, s->stage_name) != 0)
            log_warn("remove %s/%s: %s", s->repo, s->stage_name, strerror(errno));
        close(s->repo_fd);
    }
    repo_store_close(s->store);
    s->store = NULL;
    s->repo_fd = s->stage_fd = -1;
}

void stage_sweep(const hub_config *cfg, const char *repo, const char *job_id)
{
    if (!repo || repo_name_check(repo, "repository", NULL) != 0 || !queue_job_id_valid(job_id))
        return;
    hub_err err;
    repo_store *store = repo_store_open(cfg->public_dir, &err);
    if (!store)
        return;
    int fd = openat(repo_store_fd(store), repo, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int scan = fd >= 0 ? dup(fd) : -1;
    DIR *d = scan >= 0 ? fdopendir(scan) : NULL;
    if (scan >= 0 && !d)
        close(scan);
    if (d) {
        char prefix[64];
        int plen = snprintf(prefix, sizeof prefix, ".tmp-job-%s", job_id);
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strncmp(de->d_name, prefix, (size_t)plen) != 0)
                continue;
            if (sweep_dir(fd, de->d_name) != 0)
                log_warn("remove %s/%s: %s", repo, de->d_name, strerror(errno));
        }
        closedir(d);
    }
    if (fd >= 0)
        close(fd);
    repo_store_close(store);
}
