/* conn_guard.c - header deadline and minimum body rate for every
 * connection (conn_guard.h). */
#include "conn_guard.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "util.h"

#define GUARD_TICK_MS 1000

/* One connection (its libmicrohttpd socket context). */
typedef struct guarded {
    struct guarded *prev, *next;
    conn_guard *g;
    int fd;
    conn_phase phase;
    int64_t phase_start_ms;    /* when the phase began */
    int64_t window_start_ms;   /* CONN_BODY: the rate window */
    uint64_t window_bytes;
    int cut;                   /* shut down already */
} guarded;

struct conn_guard {
    pthread_mutex_t mu;        /* the list and every entry's fields */
    pthread_cond_t cv;
    guarded *head;
    pthread_t thread;
    int stop;
    int64_t header_timeout_ms;
    uint64_t body_min_rate;
    _Atomic uint64_t cut_headers, cut_body;
};

/* Shuts a connection down (lock held): libmicrohttpd sees the socket end
 * and closes the connection itself. */
static void cut(conn_guard *g, guarded *e, const char *why)
{
    e->cut = 1;
    if (shutdown(e->fd, SHUT_RDWR) != 0 && errno != ENOTCONN)
        log_warn("connection guard: shutdown: %s", strerror(errno));
    log_debug("connection %d cut: %s", e->fd, why);
    (void)g;
}

/* One pass over the connections (lock held). */
static void check_all(conn_guard *g, int64_t now)
{
    const int64_t window_ms = CONN_GUARD_RATE_WINDOW_S * 1000;
    for (guarded *e = g->head; e; e = e->next) {
        if (e->cut)
            continue;
        if (e->phase == CONN_HEADERS && now - e->phase_start_ms > g->header_timeout_ms) {
            cut(g, e, "headers too slow");
            atomic_fetch_add(&g->cut_headers, 1);
        } else if (e->phase == CONN_BODY && g->body_min_rate &&
                   now - e->window_start_ms >= window_ms) {
            uint64_t want = g->body_min_rate * (uint64_t)(now - e->window_start_ms) / 1000;
            if (e->window_bytes < want) {
                cut(g, e, "body too slow");
                atomic_fetch_add(&g->cut_body, 1);
            } else {
                e->window_start_ms = now;
                e->window_bytes = 0;
            }
        }
    }
}

static void *guard_main(void *arg)
{
    conn_guard *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        check_all(g, util_mono_ms());
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += GUARD_TICK_MS / 1000;
        pthread_cond_timedwait(&g->cv, &g->mu, &ts);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

conn_guard *conn_guard_start(int header_timeout_s, uint64_t body_min_rate, hub_err *err)
{
    conn_guard *g = calloc(1, sizeof *g);
    if (!g) {
        hub_err_setc(err, HUB_E_NOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->header_timeout_ms = (int64_t)header_timeout_s * 1000;
    g->body_min_rate = body_min_rate;
    int rc = pthread_create(&g->thread, NULL, guard_main, g);
    if (rc != 0) {
        hub_err_set(err, "connection guard thread: %s", strerror(rc));
        pthread_mutex_destroy(&g->mu);
        pthread_cond_destroy(&g->cv);
        free(g);
        return NULL;
    }
    return g;
}

void conn_guard_stop(conn_guard *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    g->stop = 1;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->thread, NULL);
    /* entries of connections still open belong to no one now */
    for (guarded *e = g->head, *next; e; e = next) {
        next = e->next;
        free(e);
    }
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g);
}

void conn_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode code)
{
    conn_guard *g = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        guarded *e = ci ? calloc(1, sizeof *e) : NULL;
        if (!e)
            return;   /* unguarded: libmicrohttpd's own timeout still applies */
        e->g = g;
        e->fd = ci->connect_fd;
        e->phase = CONN_HEADERS;
        e->phase_start_ms = util_mono_ms();
        pthread_mutex_lock(&g->mu);
        e->next = g->head;
        if (g->head)
            g->head->prev = e;
        g->head = e;
        pthread_mutex_unlock(&g->mu);
        *socket_context = e;
        return;
    }
    guarded *e = *socket_context;   /* MHD_CONNECTION_NOTIFY_CLOSED */
    if (!e)
        return;
    pthread_mutex_lock(&g->mu);
    if (e->prev)
        e->prev->next = e->next;
    else
        g->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    pthread_mutex_unlock(&g->mu);
    free(e);
    *socket_context = NULL;
}

/* The entry of a connection (NULL when it is not guarded). */
static guarded *entry_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void conn_guard_phase(struct MHD_Connection *c, conn_phase phase)
{
    guarded *e = entry_of(c);
    if (!e)
        return;
    int64_t now = util_mono_ms();
    pthread_mutex_lock(&e->g->mu);
    e->phase = phase;
    e->phase_start_ms = now;
    e->window_start_ms = now;
    e->window_bytes = 0;
    pthread_mutex_unlock(&e->g->mu);
}

void conn_guard_body(struct MHD_Connection *c, size_t n)
{
    guarded *e = entry_of(c);
    if (!e)
        return;
    pthread_mutex_lock(&e->g->mu);
    e->window_bytes += n;
    pthread_mutex_unlock(&e->g->mu);
}

void conn_guard_counts(conn_guard *g, uint64_t *headers, uint64_t *body)
{
    *headers = g ? atomic_load(&g->cut_headers) : 0;
    *body = g ? atomic_load(&g->cut_body) : 0;
}
