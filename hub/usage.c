/* usage.c - per-user counters of bytes stored on the content backend
 * (usage.h). */
#include "usage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_run.h"

#define USAGE_DAY_TTL "172800"   /* a day's counter outlives its day */

/* "hub:usage:<YYYYMMDD>:<user>" of the UTC day of now. */
static int day_key(char *out, size_t n, const char *user, time_t now)
{
    struct tm tm;
    if (!gmtime_r(&now, &tm))
        return -1;
    int len = snprintf(out, n, "hub:usage:%04d%02d%02d:%s", tm.tm_year + 1900, tm.tm_mon + 1,
                       tm.tm_mday, user);
    return len > 0 && (size_t)len < n ? 0 : -1;
}

/* A counter's value: a nil reply is 0. */
static int counter_of(const redisReply *r, uint64_t *out)
{
    if (r->type == REDIS_REPLY_NIL) {
        *out = 0;
        return 0;
    }
    if (r->type == REDIS_REPLY_INTEGER && r->integer >= 0) {
        *out = (uint64_t)r->integer;
        return 0;
    }
    if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > 19)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < r->len; i++) {
        if (r->str[i] < '0' || r->str[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(r->str[i] - '0');
    }
    *out = v;
    return 0;
}

int usage_stored_today(queue *q, const char *user, time_t now, uint64_t *bytes, hub_err *err)
{
    char key[300];
    if (day_key(key, sizeof key, user, now) != 0)
        return hub_err_set(err, "usage: user name too long");
    const char *argv[] = {"GET", key};
    redisReply *r = queue_run(q, err, 2, argv);
    if (!r)
        return -1;
    int rc = counter_of(r, bytes);
    freeReplyObject(r);
    return rc == 0 ? 0 : hub_err_set(err, "usage: %s is not a counter", key);
}

/* Both counters in one script: a day counter without its total (or the
 * reverse) never shows. */
static const char add_lua[] =
    "redis.call('INCRBY', KEYS[1], ARGV[1]) "
    "redis.call('EXPIRE', KEYS[1], ARGV[3]) "
    "return redis.call('HINCRBY', KEYS[2], ARGV[2], ARGV[1])";

int usage_stored_add(queue *q, const char *user, time_t now, uint64_t bytes, hub_err *err)
{
    if (bytes == 0)
        return 0;
    char key[300], n[24];
    if (day_key(key, sizeof key, user, now) != 0)
        return hub_err_set(err, "usage: user name too long");
    snprintf(n, sizeof n, "%llu", (unsigned long long)bytes);
    const char *argv[] = {"EVAL", add_lua, "2", key, USAGE_TOTALS_KEY, n, user, USAGE_DAY_TTL};
    redisReply *r = queue_run(q, err, 8, argv);
    if (!r)
        return -1;
    freeReplyObject(r);
    return 0;
}

int usage_stored_totals(queue *q, usage_fn fn, void *ctx, hub_err *err)
{
    const char *argv[] = {"HGETALL", USAGE_TOTALS_KEY};
    redisReply *r = queue_run(q, err, 2, argv);
    if (!r)
        return -1;
    int rc = 0;
    if (r->type != REDIS_REPLY_ARRAY) {
        rc = hub_err_set(err, "usage: unexpected reply to HGETALL");
    } else {
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            uint64_t v;
            const redisReply *k = r->element[i];
            if (k->type == REDIS_REPLY_STRING && counter_of(r->element[i + 1], &v) == 0)
                fn(ctx, k->str, v);
        }
    }
    freeReplyObject(r);
    return rc;
}
