/* queue_run.h - one Redis command on a queue's connection, for the other
 * modules of hub/ that keep shared state in the queue's Redis (usage.c).
 * Not for the api or the worker: they go through the functions of queue.h
 * and usage.h, which own the key names. */
#ifndef QUEUE_RUN_H
#define QUEUE_RUN_H

#include <hiredis/hiredis.h>

#include "queue.h"

/* Runs argv (at most 16 NUL-terminated strings) on q's connection
 * (reconnecting when it broke). Returns the reply (freeReplyObject), or
 * NULL with err: HUB_E_UNAVAILABLE when Redis is unreachable or loading,
 * HUB_E_FAILED for another error reply. */
redisReply *queue_run(queue *q, hub_err *err, int argc, const char **argv);

#endif
