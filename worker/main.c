/* main.c - flist-hub-worker: loads the shared configuration, starts the
 * job slots (worker-jobs threads, each a consumer of the group "workers"),
 * and stops on SIGTERM/SIGINT: no new job is taken, running jobs get
 * shutdown-grace seconds to finish; what still runs then is handed back
 * (left pending in the stream, reclaimed by another worker after
 * job-reclaim-idle) and the process exits. A second signal skips the
 * grace. */
#include <locale.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dispatch.h"
#include "flist.h"
#include "hub_signal.h"
#include "log.h"
#include "worker.h"
#include "util.h"

static const char USAGE[] =
    "usage: flist-hub-worker [-c FILE]\n"
    "Runs the flist hub's jobs (uploads, flist validation, merges) from the Redis\n"
    "queue until SIGTERM.\n"
    "  -c, --config FILE   the hub configuration file (default: none; built-in\n"
    "                      defaults and HUB_* environment variables apply)\n"
    "  -h, --help          this help\n";

/* Waits for a stop signal (blocked in every thread, taken here): forever
 * when timeout_ms < 0. Returns the signal, or 0 on timeout. */
static int wait_signal(const sigset_t *set, long long timeout_ms)
{
    if (timeout_ms < 0) {
        int sig = 0;
        return sigwait(set, &sig) == 0 ? sig : 0;
    }
    struct timespec ts = { (time_t)(timeout_ms / 1000), (long)(timeout_ms % 1000) * 1000000L };
    int sig = sigtimedwait(set, NULL, &ts);
    return sig > 0 ? sig : 0;
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            config_path = argv[++i];
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(USAGE, stdout);
            return 0;
        } else {
            fprintf(stderr, "flist-hub-worker: unknown argument: %s\n%s", argv[i], USAGE);
            return 2;
        }
    }
    setlocale(LC_CTYPE, "C.UTF-8");   /* libarchive: UTF-8 entry names */
    log_set_program("flist-hub-worker");

    hub_config cfg;
    hub_err err;
    if (config_load(config_path, &cfg, &err) != 0) {
        fprintf(stderr, "flist-hub-worker: configuration: %s\n", err.msg);
        return 2;
    }
    flist_set_max_db_size(cfg.flist_max_size);
    log_level level;
    if (cfg.log_level && log_level_parse(cfg.log_level, &level) == 0)
        log_set_level(level);
    log_format format;
    if (cfg.log_format && log_format_parse(cfg.log_format, &format) == 0)
        log_set_format(format);
    static worker_settings ws;
    if (worker_settings_init(&ws, &cfg, &err) != 0 || config_make_dirs(&cfg, &err) != 0) {
        fprintf(stderr, "flist-hub-worker: configuration: %s\n", err.msg);
        config_free(&cfg);
        return 2;
    }

    job_docker_evict(&cfg, "start");

    /* Signals are taken by this thread only. */
    sigset_t set;
    hub_signals_block(&set);
    /* A file-size limit (RLIMIT_FSIZE) must fail the write (EFBIG) and so
     * the job, like a full disk (ENOSPC), not kill the worker. */
    signal(SIGXFSZ, SIG_IGN);

    worker_slot *slots = calloc((size_t)ws.slots, sizeof *slots);
    pthread_t *threads = calloc((size_t)ws.slots, sizeof *threads);
    int *joined = calloc((size_t)ws.slots, sizeof *joined);
    if (!slots || !threads || !joined) {
        fprintf(stderr, "flist-hub-worker: out of memory\n");
        free(slots);
        free(threads);
        free(joined);
        config_free(&cfg);
        return 1;
    }
    int started = 0;
    for (int i = 0; i < ws.slots; i++) {
        slots[i].ws = &ws;
        slots[i].index = i;
        snprintf(slots[i].consumer, sizeof slots[i].consumer, "%s:%d", ws.consumer_prefix, i);
        int rc = pthread_create(&threads[i], NULL, worker_slot_main, &slots[i]);
        if (rc != 0) {
            log_error("job slot %d: %s", i, strerror(rc));
            break;
        }
        started++;
    }
    if (started == 0) {
        free(slots);
        free(threads);
        free(joined);
        config_free(&cfg);
        return 1;
    }
    char be[600];
    backend_url_display(&cfg.backend_internal, be, sizeof be);
    log_info("started: %d job slot(s) as %s, queue %s, content backend %s", started,
             ws.consumer_prefix, cfg.redis_url, be);

    int sig = wait_signal(&set, -1);
    atomic_store(&ws.stopping, 1);
    log_info("signal %d: taking no new job; running jobs have %d s to finish", sig,
             cfg.shutdown_grace);

    long long deadline = util_mono_ms() + (long long)cfg.shutdown_grace * 1000;
    int left = started;
    while (left > 0) {
        for (int i = 0; i < started; i++)
            if (!joined[i] && pthread_tryjoin_np(threads[i], NULL) == 0) {
                joined[i] = 1;
                left--;
            }
        if (left == 0)
            break;
        long long now = util_mono_ms();
        if (now >= deadline)
            break;
        if (wait_signal(&set, now + 100 > deadline ? deadline - now : 100) > 0) {
            log_info("second signal: not waiting any longer");
            break;
        }
    }
    int status = 0;
    if (left > 0) {
        /* Give up retries and waits; what still runs is handed back. */
        atomic_store(&ws.hard_stop, 1);
        int busy = 0;
        for (int i = 0; i < started; i++)
            busy += !joined[i] && atomic_load(&slots[i].busy);
        log_warn("exiting with %d job(s) still running: handed back to the queue "
                 "(another worker reclaims them after %d s)", busy, cfg.job_reclaim_idle);
        fflush(stderr);
        _exit(0);   /* threads may be inside the engine: no atexit handlers */
    }
    log_info("stopped");
    free(slots);
    free(threads);
    free(joined);
    config_free(&cfg);
    return status;
}
