/* housekeeping.c - the api's background chores (housekeeping.h). */
#include "housekeeping.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hmap.h"
#include "log.h"
#include "qpool.h"
#include "reply_store.h"

static pthread_t g_thread;
static int g_running;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv;
static int g_stop;

static void sweep_replies(api_server *srv)
{
    uint64_t entries = 0, bytes = 0;
    hub_err err;
    if (reply_store_sweep(srv->replies, &entries, &bytes, &err) != 0)
        log_warn("reply cache sweep: %s", err.msg);
    else
        log_debug("reply cache: %llu entries, %llu bytes", (unsigned long long)entries,
                  (unsigned long long)bytes);
}

/* Adds the base name of a live job's spool file to the set. */
static void keep_spool(void *ctx, const char *spool)
{
    const char *slash = strrchr(spool, '/');
    const char *base = slash ? slash + 1 : spool;
    char *copy = strdup(base);
    if (copy && hmap_put(ctx, copy, copy) != 0)
        free(copy);
}

/* Removes the upload spool files nobody owns any more: older than
 * spool-orphan-age (an upload still arriving writes to its file, and one
 * stalled longer than connection-timeout is dropped by the server) and
 * named by no queued or running job (an api killed mid-upload, a job whose
 * hash expired before a worker took it). Any replica may run it. */
static void sweep_spools(api_server *srv)
{
    const hub_config *c = &srv->cfg;
    int dfd = open(c->upload_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        log_warn("spool sweep: %s: %s", c->upload_dir, strerror(errno));
        return;
    }
    time_t cutoff = time(NULL) - c->spool_orphan_age;
    char **old = NULL;
    size_t nold = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        struct stat st;
        if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode) || st.st_mtime > cutoff)
            continue;
        if (nold == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **nv = realloc(old, nc * sizeof *nv);
            if (!nv)
                break;
            old = nv;
            cap = nc;
        }
        if ((old[nold] = strdup(e->d_name)))
            nold++;
    }
    if (nold > 0) {
        hmap live;
        hub_err err;
        hmap_init(&live, 0);
        queue *q = qpool_get(srv->qpool, &err);
        int rc = q ? queue_live_spools(q, keep_spool, &live, &err) : -1;
        qpool_put(srv->qpool, q, rc != 0);
        if (rc != 0) {
            log_warn("spool sweep: %s (nothing removed)", err.msg);
        } else {
            for (size_t i = 0; i < nold; i++) {
                if (hmap_get(&live, old[i]))
                    continue;
                if (unlinkat(dirfd(d), old[i], 0) == 0)
                    log_info("spool sweep: removed %s, which no job or request owns", old[i]);
            }
        }
        size_t pos = 0;
        void *v;
        while (hmap_next(&live, &pos, NULL, &v))
            free(v);
        hmap_free(&live);
    }
    for (size_t i = 0; i < nold; i++)
        free(old[i]);
    free(old);
    closedir(d);
}

static void *housekeeping_main(void *arg)
{
    api_server *srv = arg;
    pthread_mutex_lock(&g_mu);
    while (!g_stop) {
        pthread_mutex_unlock(&g_mu);
        if (srv->replies)
            sweep_replies(srv);
        sweep_spools(srv);
        pthread_mutex_lock(&g_mu);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += srv->cfg.housekeeping_interval;
        while (!g_stop && pthread_cond_timedwait(&g_cv, &g_mu, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

int housekeeping_start(api_server *srv, hub_err *err)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g_cv, &ca);
    pthread_condattr_destroy(&ca);
    g_stop = 0;
    if (pthread_create(&g_thread, NULL, housekeeping_main, srv) != 0)
        return hub_err_set(err, "cannot start the housekeeping thread");
    g_running = 1;
    return 0;
}

void housekeeping_stop(api_server *srv)
{
    if (!g_running)
        return;
    pthread_mutex_lock(&g_mu);
    g_stop = 1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    pthread_join(g_thread, NULL);
    g_running = 0;
}
