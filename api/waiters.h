/* waiters.h - requests that wait for jobs without a thread each: the
 * compatibility-mode uploads that wait for their job's end, and the
 * /listen event streams.
 *
 * Their connections are parked (MHD_suspend_connection), and one reader
 * thread with one Redis connection serves them all: a single XREAD BLOCK
 * over the events streams of every waited job (queue_events_read_many),
 * woken early by CLIENT UNBLOCK when a request starts waiting. Events go
 * into the streams' buffers, a job's final event ends its waits, and the
 * parked connections are resumed. The reader also ends waits past
 * job-wait-timeout, sends the streams' keep-alive comments and notices jobs
 * that expired. So threads and Redis connections stay constant whatever
 * the number of waiting clients, as Kore parks sleeping requests on a list.
 */
#ifndef API_WAITERS_H
#define API_WAITERS_H

#include "api.h"

#define WAITERS_BLOCK_MS 1000          /* longest XREAD block (then timers run) */
#define WAITERS_KEEPALIVE_MS 15000     /* an idle stream gets a comment */
#define WAITERS_STATE_CHECK_MS 5000    /* an idle job is checked for expiry */
#define WAITERS_EVENTS_PER_READ 100    /* events per job and XREAD */

typedef struct api_waiters api_waiters;

/* Starts the reader thread for srv (its configuration and metrics).
 * Returns the registry, or NULL with err. */
api_waiters *waiters_new(api_server *srv, hub_err *err);

/* Ends everything still waiting, stops the reader and frees. NULL ok. */
void waiters_free(api_waiters *h);

/* Ends the event streams (listeners reconnect with Last-Event-ID); job
 * waits go on. First step of a graceful stop. */
void waiters_stop_streams(api_waiters *h);

/* Ends every wait and stream (a wait ends as a timeout: 504). */
void waiters_shutdown(api_waiters *h);

/* Waits and streams not yet ended. */
int waiters_active(api_waiters *h);

/* Waits and streams being served now, and the reader's thread count (1)
 * and Redis connections (1), for /metrics and the benchmark. */
void waiters_counts(api_waiters *h, int *waits, int *streams);

/* ---- compatibility-mode waits ---- */

/* Parks r until job `id` ends or job-wait-timeout passes; the access
 * handler is called again then, and waiters_wait_result gives the outcome.
 * Sets r->wait. Returns 0, or -1 with err (nothing parked). */
int waiters_wait_job(api_req *r, const char *id, hub_err *err);

/* The outcome: *ended = 1 with *job (new reference) when the job ended,
 * 0 on timeout or shutdown; returns -1 with err on a Redis error or when
 * the job disappeared. */
int waiters_wait_result(api_wait *w, int *ended, json_t **job, hub_err *err);

/* The job id waited for. */
const char *waiters_wait_id(api_wait *w);

/* Drops the request's reference (from the completion callback). */
void waiters_wait_release(api_wait *w);

/* ---- event streams ---- */

/* Replies to r with a text/event-stream of hub:job:<id>:events from after
 * last_id (NULL = the start): "id:" and "data:" per event, a keep-alive
 * comment every WAITERS_KEEPALIVE_MS, closed after the final event. */
enum MHD_Result waiters_stream(api_req *r, const char *id, const char *last_id);

#endif
