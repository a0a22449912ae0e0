/* housekeeping.c - the api's background chores (housekeeping.h). */
#include "housekeeping.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "log.h"
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

static void *housekeeping_main(void *arg)
{
    api_server *srv = arg;
    pthread_mutex_lock(&g_mu);
    while (!g_stop) {
        pthread_mutex_unlock(&g_mu);
        if (srv->replies)
            sweep_replies(srv);
        pthread_mutex_lock(&g_mu);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += HOUSEKEEPING_PERIOD_S;
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
