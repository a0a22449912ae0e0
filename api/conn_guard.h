/* conn_guard.h - the deadlines libmicrohttpd lacks, against slow clients.
 *
 * libmicrohttpd's connection-timeout only counts silence: a client that
 * sends one header byte every few seconds holds its connection for ever,
 * and about 1,000 of them took the api down for everyone. The guard adds:
 *   - a header deadline: a request must have sent its headers within
 *     request-header-timeout of its start (the connection's accept, or the
 *     end of the previous request on a kept-alive connection, so it is
 *     also the keep-alive idle time);
 *   - a minimum body rate: while a request body arrives, every window of
 *     CONN_GUARD_RATE_WINDOW_S seconds must bring request-body-min-rate
 *     bytes per second (0 = no minimum).
 * A connection past either is shut down (shutdown(2) of its socket, which
 * makes libmicrohttpd close it, as its own MHD_stop_daemon does) by the
 * guard's thread, which checks every connection once a second.
 *
 * The socket is never touched after libmicrohttpd closed it:
 * MHD_CONNECTION_NOTIFY_CLOSED comes before the close, and it takes the
 * guard's lock, which the thread holds while it shuts sockets down.
 */
#ifndef API_CONN_GUARD_H
#define API_CONN_GUARD_H

#include <stdint.h>

#include <microhttpd.h>

#include "hub_err.h"

#define CONN_GUARD_RATE_WINDOW_S 20

typedef struct conn_guard conn_guard;

/* What a connection waits for, as far as the guard is concerned. */
typedef enum conn_phase {
    CONN_HEADERS,   /* the headers of a request (header deadline) */
    CONN_BODY,      /* a request body (minimum rate) */
    CONN_SERVING,   /* the request is in: handlers and waits run, no deadline */
} conn_phase;

/* Starts the guard's thread. Returns the guard, or NULL with err. */
conn_guard *conn_guard_start(int header_timeout_s, uint64_t body_min_rate, hub_err *err);

/* Stops the thread and frees. Call after MHD_stop_daemon. NULL ok. */
void conn_guard_stop(conn_guard *g);

/* MHD_OPTION_NOTIFY_CONNECTION callback (cls: the guard): tracks every
 * connection from its accept to its close. */
void conn_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode code);

/* From the access handler and the completion callback (libmicrohttpd's
 * thread of the connection): the connection enters `phase`. */
void conn_guard_phase(struct MHD_Connection *c, conn_phase phase);

/* From the access handler: n more body bytes arrived. */
void conn_guard_body(struct MHD_Connection *c, size_t n);

/* Connections cut so far: for slow headers, for a slow body (metrics). */
void conn_guard_counts(conn_guard *g, uint64_t *headers, uint64_t *body);

#endif
