/* jobstats.h - the job gauges of /metrics, read from Redis when scraped, so
 * that every API instance (and every scrape) reports the same numbers for
 * the one shared queue (ARCHITECTURE.md "Jobs"). */
#ifndef API_JOBSTATS_H
#define API_JOBSTATS_H

#include "hub_err.h"

typedef struct jobstats {
    long long queued;   /* entries of hub:jobs not yet delivered to a worker */
    long long running;  /* delivered to a worker and not acknowledged (XPENDING):
                           running, or left by a crashed worker until reclaimed */
    long long dead;     /* entries of hub:jobs:dead: jobs that failed because no
                           worker could finish them (max deliveries) */
    long long consumers;/* workers known to the consumer group */
} jobstats;

/* Reads the gauges from the Redis of redis_url (redis://[:pw@]host:port/db,
 * one short-lived connection, timeout_ms per command). A queue nobody has
 * used yet reads as zeros. Returns 0 with *out filled, or -1 with err
 * ("jobstats redis 127.0.0.1:6379: connection refused"). */
int jobstats_read(const char *redis_url, int timeout_ms, jobstats *out, hub_err *err);

#endif
