/* worker.h - the flist-hub-worker process: its settings (the shared
 * configuration plus the worker's own knobs), the stop flags SIGTERM sets,
 * and the job slots. Each slot is one thread and one consumer of the group
 * "workers": it claims a job (new, or one a dead worker left idle), runs it
 * with a watcher (heartbeat, progress), records the end, removes the spool
 * and acks (slot.c).
 */
#ifndef WORKER_H
#define WORKER_H

#include <stdatomic.h>

#include "config.h"

/* The worker's view of the shared configuration (worker_settings_init). */
typedef struct worker_settings {
    const hub_config *cfg;
    long long reclaim_idle_ms;    /* job-reclaim-idle */
    long long heartbeat_ms;       /* job-heartbeat */
    long long max_deliveries;     /* job-max-deliveries */
    int slots;                    /* worker-jobs: jobs at once */
    int engine_threads;           /* worker-threads: chunk threads per job */
    int backend_retries;          /* attempts when the content backend is down */
    int backend_backoff_ms;       /* first wait between attempts */
    char consumer_prefix[200];    /* "<host>:<pid>" */
    atomic_int stopping;          /* SIGTERM: take no new job */
    atomic_int hard_stop;         /* grace over: give up waits and retries */
} worker_settings;

/* Fills ws from cfg. Returns 0, or -1 with err when the job timings do not
 * fit together. */
int worker_settings_init(worker_settings *ws, const hub_config *cfg, hub_err *err);

/* Sleeps ms milliseconds in small steps, returning early (1) when
 * ws->hard_stop is set; 0 after the full sleep. */
int worker_sleep(const worker_settings *ws, long long ms);

/* One job slot (a thread). */
typedef struct worker_slot {
    worker_settings *ws;
    int index;
    char consumer[256];           /* "<prefix>:<index>" */
    atomic_int busy;              /* a job is running */
} worker_slot;

/* The slot thread: loops claiming and running jobs until ws->stopping.
 * arg is a worker_slot*. Returns NULL. */
void *worker_slot_main(void *arg);

#endif
