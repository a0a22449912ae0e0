/* test_pool.c - the thread pool (base/pool.c): every task runs exactly
 * once on the worker threads, pool_wait waits for all of them, the queue is
 * bounded (pool_submit blocks while it is full), the number of tasks
 * running at once never exceeds the thread count, and destroy drains the
 * queue.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "pool.h"
#include "t.h"

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* --- counting ----------------------------------------------------------- */

#define NTASKS 20000

static atomic_int ran[NTASKS];
static atomic_long sum;
static atomic_int running, max_running;
static pthread_t main_thread;
static atomic_int on_main;

static void count_task(void *arg)
{
    long i = (long)(intptr_t)arg;
    int now = atomic_fetch_add(&running, 1) + 1;
    int seen = atomic_load(&max_running);
    while (now > seen && !atomic_compare_exchange_weak(&max_running, &seen, now))
        ;
    if (pthread_equal(pthread_self(), main_thread))
        atomic_fetch_add(&on_main, 1);
    atomic_fetch_add(&ran[i], 1);
    atomic_fetch_add(&sum, i);
    atomic_fetch_sub(&running, 1);
}

static void test_many_tasks(void)
{
    main_thread = pthread_self();
    pool *p = pool_create(4, 16);
    T_REQUIRE(p);
    for (long i = 0; i < NTASKS; i++)
        T_REQUIRE(pool_submit(p, count_task, (void *)(intptr_t)i) == 0);
    pool_wait(p);
    /* every task exactly once, all finished when pool_wait returned */
    int bad = 0;
    for (int i = 0; i < NTASKS; i++)
        bad += atomic_load(&ran[i]) != 1;
    T_CHECK(bad == 0);
    T_CHECK(atomic_load(&sum) == (long)NTASKS * (NTASKS - 1) / 2);
    T_CHECK(atomic_load(&running) == 0);
    T_CHECK(atomic_load(&max_running) >= 1 && atomic_load(&max_running) <= 4);
    T_CHECK(atomic_load(&on_main) == 0);

    /* the pool is reusable after a wait */
    for (long i = 0; i < 100; i++)
        T_REQUIRE(pool_submit(p, count_task, (void *)(intptr_t)i) == 0);
    pool_wait(p);
    T_CHECK(atomic_load(&ran[0]) == 2 && atomic_load(&ran[99]) == 2 && atomic_load(&ran[100]) == 1);
    pool_destroy(p);
}

/* --- bounded queue ------------------------------------------------------ */

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open;
static atomic_int started, finished;

/* Blocks until the gate opens. */
static void gated_task(void *arg)
{
    (void)arg;
    atomic_fetch_add(&started, 1);
    pthread_mutex_lock(&gate_mu);
    while (!gate_open)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
    atomic_fetch_add(&finished, 1);
}

typedef struct submitter {
    pool *p;
    int n;
    atomic_int submitted;
} submitter;

static void *submit_thread(void *arg)
{
    submitter *s = arg;
    for (int i = 0; i < s->n; i++) {
        if (pool_submit(s->p, gated_task, NULL) != 0)
            break;
        atomic_fetch_add(&s->submitted, 1);
    }
    return NULL;
}

static void test_submit_blocks_when_full(void)
{
    /* 2 workers, 3 queue slots: with the workers stuck, 2 running + 3
     * queued = 5 submits succeed, the 6th blocks until the gate opens */
    pool *p = pool_create(2, 3);
    T_REQUIRE(p);
    submitter s = { p, 10, 0 };
    pthread_t th;
    T_REQUIRE(pthread_create(&th, NULL, submit_thread, &s) == 0);

    for (int i = 0; i < 200 && (atomic_load(&s.submitted) < 5 || atomic_load(&started) < 2); i++)
        sleep_ms(10);
    sleep_ms(200);  /* give a broken pool time to accept more */
    T_CHECK(atomic_load(&started) == 2);
    T_CHECK(atomic_load(&s.submitted) == 5);
    T_CHECK(atomic_load(&finished) == 0);

    pthread_mutex_lock(&gate_mu);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);

    pthread_join(th, NULL);
    T_CHECK(atomic_load(&s.submitted) == 10);
    pool_wait(p);
    T_CHECK(atomic_load(&finished) == 10);
    pool_destroy(p);
}

/* --- destroy drains the queue ------------------------------------------- */

static atomic_int slow_done;

static void slow_task(void *arg)
{
    (void)arg;
    sleep_ms(2);
    atomic_fetch_add(&slow_done, 1);
}

static void test_destroy_drains(void)
{
    pool *p = pool_create(3, 100);
    T_REQUIRE(p);
    for (int i = 0; i < 60; i++)
        T_REQUIRE(pool_submit(p, slow_task, NULL) == 0);
    pool_destroy(p);  /* no pool_wait: destroy must still run them all */
    T_CHECK(atomic_load(&slow_done) == 60);
    pool_destroy(NULL);
}

static int order[500];
static int order_len;  /* only the single worker writes it */

static void order_task(void *arg)
{
    order[order_len++] = (int)(intptr_t)arg;
}

static void test_bad_arguments_and_cpus(void)
{
    T_CHECK(pool_create(0, 4) == NULL);
    T_CHECK(pool_create(2, 0) == NULL);
    T_CHECK(pool_create(-1, -1) == NULL);
    int n = pool_cpu_count();
    T_CHECK(n >= 1);
    T_CHECK(n <= sysconf(_SC_NPROCESSORS_CONF) || sysconf(_SC_NPROCESSORS_CONF) < 1);
    /* a single-thread pool runs tasks in submission order */
    pool *p = pool_create(1, 1);
    T_REQUIRE(p);
    pool_wait(p);  /* nothing queued: returns at once */
    for (int i = 0; i < 500; i++)
        T_REQUIRE(pool_submit(p, order_task, (void *)(intptr_t)i) == 0);
    pool_wait(p);
    T_CHECK(order_len == 500);
    int in_order = 1;
    for (int i = 0; i < 500; i++)
        in_order &= order[i] == i;
    T_CHECK(in_order);
    pool_destroy(p);
}

T_MAIN(T_CASE(test_many_tasks), T_CASE(test_submit_blocks_when_full), T_CASE(test_destroy_drains),
       T_CASE(test_bad_arguments_and_cpus))
