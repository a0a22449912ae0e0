/* server.h - the HTTP server of flist-hub-api on libmicrohttpd: daemon
 * options (epoll, thread pool, limits, timeouts), the access handler that
 * routes requests and feeds bodies, metrics on completion, and the graceful
 * stop on SIGTERM. */
#ifndef API_SERVER_H
#define API_SERVER_H

#include "api.h"

/* Builds the state from a loaded configuration (taken over by srv): creates
 * the directories, opens the repository store, the auth context, the cache
 * and the metrics. Returns 0 or -1 with err. */
int server_init(api_server *srv, hub_config *cfg, hub_err *err);

/* Starts listening. Returns 0 or -1 with err. */
int server_start(api_server *srv, hub_err *err);

/* Graceful stop: stops accepting, waits up to shutdown-grace seconds for
 * running requests, ends event streams and waits, then stops the daemon. */
void server_stop(api_server *srv);

/* Frees what server_init built (after server_stop). */
void server_free(api_server *srv);

/* The port actually bound (useful with listen-port 0). */
int server_port(api_server *srv);

#endif
