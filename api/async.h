/* async.h - requests that wait without holding an HTTP thread: event
 * streams (/listen) and compatibility-mode job waits. The connection is
 * suspended (MHD_suspend_connection) while a helper thread blocks on Redis,
 * and resumed when there is something to send. */
#ifndef API_ASYNC_H
#define API_ASYNC_H

#include "api.h"

/* ---- compatibility-mode waits ---- */

/* Starts waiting for job `id` (timeout: cfg job-wait-timeout) on a helper
 * thread and suspends the connection. The access handler is called again
 * when the wait ends; then async_wait_result gives the outcome. Returns 0,
 * or -1 with err (no thread). */
int async_wait_start(api_req *r, const char *id, hub_err *err);

/* 1 once the wait has ended. */
int async_wait_done(api_wait *w);

/* The outcome: *ended = 1 with *job (new reference) when the job ended,
 * 0 on timeout; returns -1 with err on a Redis error. */
int async_wait_result(api_wait *w, int *ended, json_t **job, hub_err *err);

/* The job id waited for. */
const char *async_wait_id(api_wait *w);

/* Drops the request's reference (from the completion callback). */
void async_wait_release(api_wait *w);

/* ---- event streams ---- */

/* Replies to r with a text/event-stream fed by a helper thread reading
 * hub:job:<id>:events from after `last_id` (NULL = start), with keep-alive
 * comments every 15 s, closing after the final event. */
enum MHD_Result async_sse_start(api_req *r, const char *id, const char *last_id);

/* ---- shutdown ---- */

/* Ends every stream and wait (their connections are resumed and finish). */
void async_shutdown(void);

/* Ends the event streams only (listeners reconnect with Last-Event-ID);
 * waits go on. First step of a graceful stop. */
void async_stop_streams(void);

/* Number of streams and waits running. */
int async_active(void);

#endif
