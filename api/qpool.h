/* qpool.h - the api's pool of job-queue connections (queue.h handles):
 * a request borrows one, uses it on its thread and gives it back. Owned
 * by the server object; bounded (connections beyond QPOOL_MAX idle ones
 * are closed when given back). */
#ifndef API_QPOOL_H
#define API_QPOOL_H

#include "hub_err.h"
#include "queue.h"

#define QPOOL_MAX 32

typedef struct qpool qpool;

/* A pool of connections to redis_url (job_ttl: queue_set_job_ttl of each).
 * Returns NULL when out of memory. */
qpool *qpool_new(const char *redis_url, long long job_ttl);

/* Closes every idle connection and frees the pool (connections still
 * borrowed must have been given back). NULL ok. */
void qpool_free(qpool *p);

/* Borrows a connection: an idle one, else a new one. Returns NULL with err
 * (HUB_E_UNAVAILABLE) when Redis cannot be reached. */
queue *qpool_get(qpool *p, hub_err *err);

/* Gives q back (NULL ok); broken: it saw an error, close it instead. */
void qpool_put(qpool *p, queue *q, int broken);

#endif
