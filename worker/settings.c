/* settings.c - the worker's settings: the shared configuration's job keys
 * and the interruptible sleep every wait of the worker uses. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "worker.h"

int worker_settings_init(worker_settings *ws, const hub_config *cfg, hub_err *err)
{
    memset(ws, 0, sizeof *ws);
    ws->cfg = cfg;
    ws->reclaim_idle_ms = (long long)cfg->job_reclaim_idle * 1000;
    ws->heartbeat_ms = (long long)cfg->job_heartbeat * 1000;
    ws->max_deliveries = cfg->job_max_deliveries;
    ws->slots = cfg->worker_jobs;
    ws->engine_threads = cfg->worker_threads;
    ws->backend_retries = cfg->worker_backend_retries;
    ws->backend_backoff_ms = cfg->worker_backend_backoff_ms;
    if (ws->heartbeat_ms * 2 > ws->reclaim_idle_ms)
        return hub_err_set(err, "job-heartbeat (%d s) must be at most half of "
                           "job-reclaim-idle (%d s)", cfg->job_heartbeat, cfg->job_reclaim_idle);
    char host[128];
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "worker");
    host[sizeof host - 1] = '\0';
    snprintf(ws->consumer_prefix, sizeof ws->consumer_prefix, "%s:%ld", host, (long)getpid());
    atomic_init(&ws->stopping, 0);
    atomic_init(&ws->hard_stop, 0);
    return 0;
}

int worker_sleep(const worker_settings *ws, long long ms)
{
    while (ms > 0) {
        if (atomic_load(&ws->hard_stop))
            return 1;
        long long step = ms < 100 ? ms : 100;
        struct timespec ts = { (time_t)(step / 1000), (long)(step % 1000) * 1000000L };
        nanosleep(&ts, NULL);
        ms -= step;
    }
    return atomic_load(&ws->hard_stop) ? 1 : 0;
}
