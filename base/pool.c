/* pool.c - a fixed-size pthread pool with a bounded FIFO queue (pool.h).
 *
 * One mutex guards a ring buffer of tasks. Three condition variables:
 * `not_empty` wakes workers, `not_full` wakes submitters blocked on a full
 * queue, `idle` wakes pool_wait when the last outstanding task finishes.
 * `pending` counts tasks queued or running.
 */
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct pool_task {
    void (*fn)(void *arg);
    void *arg;
} pool_task;

struct pool {
    pthread_mutex_t mu;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    pthread_cond_t idle;
    pool_task *ring;
    int cap;         /* ring slots */
    int head;        /* next task to run */
    int count;       /* tasks in the ring */
    long pending;    /* tasks queued or running */
    int stopping;    /* pool_destroy started: no more submits, workers exit when empty */
    int nthreads;    /* workers started */
    pthread_t *threads;
};

static void *pool_worker(void *arg)
{
    pool *p = arg;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->count == 0 && !p->stopping)
            pthread_cond_wait(&p->not_empty, &p->mu);
        if (p->count == 0)  /* stopping and drained */
            break;
        pool_task t = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->count--;
        pthread_cond_signal(&p->not_full);
        pthread_mutex_unlock(&p->mu);

        t.fn(t.arg);

        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0)
            pthread_cond_broadcast(&p->idle);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Stops and joins the first p->nthreads workers, frees everything. */
static void pool_free(pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->not_empty);
    pthread_cond_broadcast(&p->not_full);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->idle);
    pthread_cond_destroy(&p->not_full);
    pthread_cond_destroy(&p->not_empty);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p->ring);
    free(p);
}

/* Starts nthreads workers (>= 1) with room for queue_cap (>= 1) waiting
 * tasks. Returns NULL on bad arguments, allocation failure or when a thread
 * cannot be started (the ones already started are stopped). Free with
 * pool_destroy. */
pool *pool_create(int nthreads, int queue_cap)
{
    if (nthreads < 1 || queue_cap < 1)
        return NULL;
    pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->ring = calloc((size_t)queue_cap, sizeof *p->ring);
    p->threads = calloc((size_t)nthreads, sizeof *p->threads);
    if (!p->ring || !p->threads) {
        free(p->ring);
        free(p->threads);
        free(p);
        return NULL;
    }
    p->cap = queue_cap;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->not_empty, NULL);
    pthread_cond_init(&p->not_full, NULL);
    pthread_cond_init(&p->idle, NULL);

    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&p->threads[i], NULL, pool_worker, p) != 0) {
            pool_free(p);
            return NULL;
        }
        p->nthreads++;
    }
    return p;
}

/* Queues fn(arg), blocking while the queue is full. Returns 0, or -1 when
 * pool_destroy has started (the task is then not run). */
int pool_submit(pool *p, void (*fn)(void *arg), void *arg)
{
    pthread_mutex_lock(&p->mu);
    while (p->count == p->cap && !p->stopping)
        pthread_cond_wait(&p->not_full, &p->mu);
    if (p->stopping) {
        pthread_mutex_unlock(&p->mu);
        return -1;
    }
    p->ring[(p->head + p->count) % p->cap] = (pool_task){ fn, arg };
    p->count++;
    p->pending++;
    pthread_cond_signal(&p->not_empty);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

/* Blocks until every task submitted so far has finished running. */
void pool_wait(pool *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0)
        pthread_cond_wait(&p->idle, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

/* Runs the queued tasks to completion, then stops the workers and frees the
 * pool. Submits made meanwhile from other threads fail with -1. NULL ok. */
void pool_destroy(pool *p)
{
    if (!p)
        return;
    pool_wait(p);
    pool_free(p);
}

/* CPUs this process may run on (affinity mask, e.g. a container's cpuset),
 * else the online CPUs; at least 1. */
int pool_cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)(n > 4096 ? 4096 : n) : 1;
}
