/* qpool.c - the api's pool of job-queue connections (qpool.h). */
#include "qpool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define QPOOL_CONNECT_TIMEOUT_MS 3000

struct qpool {
    pthread_mutex_t mu;
    char *url;
    long long job_ttl;
    queue *idle[QPOOL_MAX];
    int nidle;
};

qpool *qpool_new(const char *redis_url, long long job_ttl)
{
    qpool *p = calloc(1, sizeof *p);
    if (!p || !(p->url = strdup(redis_url))) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    p->job_ttl = job_ttl;
    return p;
}

void qpool_free(qpool *p)
{
    if (!p)
        return;
    while (p->nidle > 0)
        queue_close(p->idle[--p->nidle]);
    pthread_mutex_destroy(&p->mu);
    free(p->url);
    free(p);
}

queue *qpool_get(qpool *p, hub_err *err)
{
    pthread_mutex_lock(&p->mu);
    queue *q = p->nidle > 0 ? p->idle[--p->nidle] : NULL;
    pthread_mutex_unlock(&p->mu);
    if (q)
        return q;
    q = queue_connect(p->url, QPOOL_CONNECT_TIMEOUT_MS, err);
    if (q)
        queue_set_job_ttl(q, p->job_ttl);
    else if (err)
        err->code = HUB_E_UNAVAILABLE;
    return q;
}

void qpool_put(qpool *p, queue *q, int broken)
{
    if (!q)
        return;
    if (!broken) {
        pthread_mutex_lock(&p->mu);
        if (p->nidle < QPOOL_MAX) {
            p->idle[p->nidle++] = q;
            q = NULL;
        }
        pthread_mutex_unlock(&p->mu);
    }
    queue_close(q);
}
