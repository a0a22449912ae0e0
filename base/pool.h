/* pool.h - a fixed-size thread pool with a bounded queue.
 *
 * The chunk pipeline is CPU-bound (ARCHITECTURE.md): the writer submits one
 * task per 512 KiB chunk. pool_submit blocks while the queue is full, which
 * bounds memory whatever the archive size.
 */
#ifndef POOL_H
#define POOL_H

typedef struct pool pool;

/* Starts nthreads workers (>= 1) with room for queue_cap waiting tasks.
 * Returns NULL when threads cannot be started. */
pool *pool_create(int nthreads, int queue_cap);

/* Queues fn(arg); blocks while the queue is full. Returns 0, or -1 after
 * pool_destroy started. */
int pool_submit(pool *p, void (*fn)(void *arg), void *arg);

/* Waits until every submitted task has finished. */
void pool_wait(pool *p);

/* Waits for the queued tasks, stops the workers, frees the pool. NULL ok. */
void pool_destroy(pool *p);

/* Number of online CPUs (at least 1). */
int pool_cpu_count(void);

#endif
