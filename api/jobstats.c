/* jobstats.c - job gauges of /metrics read from Redis at scrape time
 * (jobstats.h): XINFO GROUPS hub:jobs gives the consumer group's lag
 * (queued: entries not yet delivered) and pending count (running), XLEN
 * hub:jobs:dead the dead letters. The numbers are the queue's, not this
 * instance's, so several API instances report the same values.
 *
 * queue.h has no statistics call and its connection is opaque, so this
 * module opens its own short-lived hiredis connection (AUTH and SELECT as
 * queue_connect does). */
#include "jobstats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>
#include <sodium.h>

#include "backend.h"
#include "queue.h"

/* One command; NULL with err on a connection or Redis error. */
static redisReply *cmd(redisContext *c, const backend_url *u, hub_err *err, int argc, const char **argv)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    if (!r) {
        hub_err_set(err, "jobstats redis %s:%d: %s", u->host, u->port,
                    c->errstr[0] ? c->errstr : "connection lost");
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        hub_err_set(err, "jobstats redis %s: %.*s", argv[0], (int)r->len, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* The integer value of field `name` of a flat [name, value, ...] reply, or
 * -1 when absent or not an integer (lag is nil on old Redis versions). */
static long long field_int(const redisReply *flat, const char *name)
{
    if (flat->type != REDIS_REPLY_ARRAY)
        return -1;
    for (size_t i = 0; i + 1 < flat->elements; i += 2) {
        const redisReply *k = flat->element[i], *v = flat->element[i + 1];
        if ((k->type == REDIS_REPLY_STRING || k->type == REDIS_REPLY_STATUS) && strcmp(k->str, name) == 0)
            return v->type == REDIS_REPLY_INTEGER ? v->integer : -1;
    }
    return -1;
}

static const char *field_str(const redisReply *flat, const char *name)
{
    if (flat->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < flat->elements; i += 2) {
        const redisReply *k = flat->element[i], *v = flat->element[i + 1];
        if ((k->type == REDIS_REPLY_STRING || k->type == REDIS_REPLY_STATUS) && strcmp(k->str, name) == 0)
            return v->type == REDIS_REPLY_STRING ? v->str : NULL;
    }
    return NULL;
}

/* Queued entries after the group's last delivered id, counted with XRANGE
 * (for a Redis that does not report the lag); at most `cap`. */
static int count_after(redisContext *c, const backend_url *u, const char *last_id, long long cap,
                       long long *out, hub_err *err)
{
    char start[QUEUE_ENTRY_ID_MAX + 2], count[24];
    snprintf(start, sizeof start, "(%s", last_id);
    snprintf(count, sizeof count, "%lld", cap);
    const char *argv[] = {"XRANGE", QUEUE_STREAM, start, "+", "COUNT", count};
    redisReply *r = cmd(c, u, err, 6, argv);
    if (!r)
        return -1;
    *out = r->type == REDIS_REPLY_ARRAY ? (long long)r->elements : 0;
    freeReplyObject(r);
    return 0;
}

static int read_all(redisContext *c, const backend_url *u, jobstats *out, hub_err *err)
{
    if (u->password[0]) {
        const char *argv[] = {"AUTH", u->password};
        redisReply *r = cmd(c, u, err, 2, argv);
        if (!r)
            return -1;
        freeReplyObject(r);
    }
    if (u->namespace_[0] && strcmp(u->namespace_, "0") != 0) {
        const char *argv[] = {"SELECT", u->namespace_};
        redisReply *r = cmd(c, u, err, 2, argv);
        if (!r)
            return -1;
        freeReplyObject(r);
    }
    /* XLEN of a missing key is 0: no job was ever queued */
    const char *xlen[] = {"XLEN", QUEUE_STREAM};
    redisReply *r = cmd(c, u, err, 2, xlen);
    if (!r)
        return -1;
    long long total = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    out->queued = total; /* no consumer group yet: nothing was delivered */
    if (total > 0) {
        const char *groups[] = {"XINFO", "GROUPS", QUEUE_STREAM};
        if (!(r = cmd(c, u, err, 3, groups)))
            return -1;
        for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
            const redisReply *g = r->element[i];
            const char *name = field_str(g, "name");
            if (!name || strcmp(name, QUEUE_GROUP) != 0)
                continue;
            long long lag = field_int(g, "lag"), pending = field_int(g, "pending");
            long long consumers = field_int(g, "consumers");
            out->running = pending > 0 ? pending : 0;
            out->consumers = consumers > 0 ? consumers : 0;
            const char *last = field_str(g, "last-delivered-id");
            if (lag >= 0) {
                out->queued = lag;
            } else if (last && queue_entry_id_valid(last)) {
                if (count_after(c, u, last, 1000000, &out->queued, err) < 0) {
                    freeReplyObject(r);
                    return -1;
                }
            }
        }
        freeReplyObject(r);
    }
    const char *dead[] = {"XLEN", QUEUE_DEAD_STREAM};
    if (!(r = cmd(c, u, err, 2, dead)))
        return -1;
    out->dead = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    return 0;
}

int jobstats_read(const char *redis_url, int timeout_ms, jobstats *out, hub_err *err)
{
    memset(out, 0, sizeof *out);
    backend_url u;
    if (backend_url_parse(redis_url ? redis_url : "", &u, err) < 0) {
        hub_err_prefix(err, "jobstats redis URL");
        return -1;
    }
    if (u.kind != BACKEND_REDIS)
        return hub_err_set(err, "jobstats redis URL: must be redis://host:port/db");
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(u.host, u.port, tv);
    if (!c || c->err) {
        hub_err_set(err, "jobstats redis %s:%d: %s", u.host, u.port, c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return -1;
    }
    redisSetTimeout(c, tv);
    int rc = read_all(c, &u, out, err);
    redisFree(c);
    sodium_memzero(&u, sizeof u);
    return rc;
}
