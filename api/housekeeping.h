/* housekeeping.h - the api's background chores, on one thread, at start
 * and then every housekeeping-interval: keeping the shared reply store
 * (reply_store.h) within its bound, and removing the upload spool files
 * nobody owns (spool-orphan-age). Any number of replicas may run them at
 * once. */
#ifndef API_HOUSEKEEPING_H
#define API_HOUSEKEEPING_H

#include "api.h"

/* Starts the thread. Returns 0, or -1 with err. */
int housekeeping_start(api_server *srv, hub_err *err);

/* Stops and joins it (no-op when it never started). */
void housekeeping_stop(api_server *srv);

#endif
