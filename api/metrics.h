/* metrics.h - the counters of /metrics (Prometheus text format 0.0.4):
 * requests by route and status, a latency histogram, bytes uploaded, jobs
 * queued by type and job ends seen. Lock-free (atomics). */
#ifndef API_METRICS_H
#define API_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "job_msg.h"

typedef struct api_metrics api_metrics;

/* For nroutes routes (index nroutes = no route matched). */
api_metrics *metrics_new(size_t nroutes);
void metrics_free(api_metrics *m);

/* One finished request: route index, status, latency in ns. */
void metrics_request(api_metrics *m, size_t route, int status, int64_t ns);

void metrics_uploaded(api_metrics *m, uint64_t bytes);

/* A job of that kind was queued. */
void metrics_job_queued(api_metrics *m, jobmsg_kind kind);

/* A compatibility-mode wait started (+1) or ended (-1). */
void metrics_job_waiting(api_metrics *m, int delta);

/* A job end seen by this instance: failed = 1 for failed. */
void metrics_job_ended(api_metrics *m, int failed);

/* The whole exposition text (malloc'ed, caller frees); route_name(i)
 * gives the label of route i. Extra gauges are appended by the caller. */
char *metrics_render(api_metrics *m, const char *(*route_name)(size_t i), size_t *len);

#endif
