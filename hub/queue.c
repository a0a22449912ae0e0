/* queue.c - the job queue on Redis Streams (see queue.h for the key names,
 * the delivery guarantees and the ownership rules).
 *
 * Every multi-key change that must not be seen half done (create, start,
 * finish, heartbeat) is one Lua script, so an api and several workers never
 * observe a job with a state that contradicts its streams. Every argument
 * goes through redisCommandArgv (binary safe, no format-string parsing of
 * user data). A broken connection is re-opened on the next call.
 */
#include "queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <sodium.h>

#include "backend.h"
#include "log.h"
#include "queue_run.h"
#include "util.h"

#define KEY_MAX 96   /* "hub:job:" + id + ":events" + NUL */

struct queue {
    redisContext *c;
    backend_url url;
    int timeout_ms;
    char cursor[QUEUE_ENTRY_ID_MAX];   /* XAUTOCLAIM scan position */
    long long job_ttl;                 /* seconds a job is kept after its end */
    long long client_id;               /* CLIENT ID of the connection, 0 unknown */
};

/* ------------------------------------------------------------------ */
/* connection and commands                                              */

static struct timeval ms_tv(long long ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    return tv;
}

static void free_reply(redisReply *r)
{
    if (r)
        freeReplyObject(r);
}

/* Runs argv (NUL-terminated strings) and returns the reply, or NULL with
 * err (connection error or a Redis error reply, freed here). */
static redisReply *run(queue *q, hub_err *err, int argc, const char **argv);

static int open_conn(queue *q, hub_err *err)
{
    if (q->c) {
        redisFree(q->c);
        q->c = NULL;
    }
    q->c = redisConnectWithTimeout(q->url.host, q->url.port, ms_tv(q->timeout_ms));
    if (!q->c || q->c->err) {
        hub_err_setc(err, HUB_E_UNAVAILABLE, "queue redis %s:%d: %s", q->url.host, q->url.port,
                     q->c ? q->c->errstr : "out of memory");
        if (q->c)
            redisFree(q->c);
        q->c = NULL;
        return -1;
    }
    redisSetTimeout(q->c, ms_tv(q->timeout_ms));
    if (q->url.password[0]) {
        const char *argv[] = {"AUTH", q->url.password};
        redisReply *r = run(q, err, 2, argv);
        if (!r)
            goto fail;
        free_reply(r);
    }
    if (q->url.namespace_[0] && strcmp(q->url.namespace_, "0") != 0) {
        const char *argv[] = {"SELECT", q->url.namespace_};
        redisReply *r = run(q, err, 2, argv);
        if (!r)
            goto fail;
        free_reply(r);
    }
    /* for queue_client_unblock; a Redis without CLIENT ID (< 5) leaves 0 */
    q->client_id = 0;
    redisReply *id = redisCommand(q->c, "CLIENT ID");
    if (id && id->type == REDIS_REPLY_INTEGER)
        q->client_id = id->integer;
    free_reply(id);
    if (q->c->err)
        goto fail;
    return 0;
fail:   /* a half-logged-in connection must not be reused */
    redisFree(q->c);
    q->c = NULL;
    return -1;
}

static redisReply *run(queue *q, hub_err *err, int argc, const char **argv)
{
    if ((!q->c || q->c->err) && open_conn(q, err) < 0)
        return NULL;
    size_t lens[16];
    if (argc > 16) {
        hub_err_set(err, "queue: too many command arguments");
        return NULL;
    }
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    redisReply *r = redisCommandArgv(q->c, argc, argv, lens);
    if (!r) {
        hub_err_setc(err, HUB_E_UNAVAILABLE, "queue redis %s:%d: %s", q->url.host, q->url.port,
                     q->c->errstr[0] ? q->c->errstr : "connection lost");
        return NULL;   /* q->c->err is set: reconnect next time */
    }
    if (r->type == REDIS_REPLY_ERROR) {
        /* -LOADING and the like: Redis is restarting or failing over */
        hub_err_setc(err, backend_error_is_transient(r->str, r->len) ? HUB_E_UNAVAILABLE : HUB_E_FAILED,
                     "queue redis %s: %.*s", argv[0], (int)r->len, r->str);
        free_reply(r);
        return NULL;
    }
    return r;
}

redisReply *queue_run(queue *q, hub_err *err, int argc, const char **argv)
{
    return run(q, err, argc, argv);
}

/* run() of any number of arguments with their lengths, the socket timeout
 * raised by block_ms (0: not blocking). */
static redisReply *run_blocking_argv(queue *q, hub_err *err, long long block_ms, int argc,
                                     const char **argv, const size_t *lens)
{
    if ((!q->c || q->c->err) && open_conn(q, err) < 0)
        return NULL;
    if (block_ms > 0)
        redisSetTimeout(q->c, ms_tv(q->timeout_ms + block_ms));
    redisReply *r = redisCommandArgv(q->c, argc, argv, lens);
    if (!r)
        hub_err_setc(err, HUB_E_UNAVAILABLE, "queue redis %s:%d: %s", q->url.host, q->url.port,
                     q->c->errstr[0] ? q->c->errstr : "connection lost");
    else if (r->type == REDIS_REPLY_ERROR) {
        hub_err_setc(err, backend_error_is_transient(r->str, r->len) ? HUB_E_UNAVAILABLE : HUB_E_FAILED,
                     "queue redis %s: %.*s", argv[0], (int)r->len, r->str);
        free_reply(r);
        r = NULL;
    }
    if (q->c && !q->c->err && block_ms > 0)
        redisSetTimeout(q->c, ms_tv(q->timeout_ms));
    return r;
}

/* run() with the socket timeout raised by block_ms for a blocking command. */
static redisReply *run_blocking(queue *q, hub_err *err, long long block_ms,
                                int argc, const char **argv)
{
    if ((!q->c || q->c->err) && open_conn(q, err) < 0)
        return NULL;
    if (block_ms > 0)
        redisSetTimeout(q->c, ms_tv(q->timeout_ms + block_ms));
    redisReply *r = run(q, err, argc, argv);
    if (q->c && !q->c->err && block_ms > 0)
        redisSetTimeout(q->c, ms_tv(q->timeout_ms));
    return r;
}

queue *queue_connect(const char *url, int timeout_ms, hub_err *err)
{
    if (sodium_init() < 0) {
        hub_err_set(err, "libsodium initialisation failed");
        return NULL;
    }
    queue *q = calloc(1, sizeof *q);
    if (!q) {
        hub_err_set(err, "out of memory");
        return NULL;
    }
    q->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    strcpy(q->cursor, "0-0");
    q->job_ttl = QUEUE_JOB_TTL;
    if (backend_url_parse(url ? url : "", &q->url, err) < 0) {
        hub_err_prefix(err, "queue redis URL");
        free(q);
        return NULL;
    }
    if (q->url.kind != BACKEND_REDIS) {
        hub_err_set(err, "queue redis URL: must be redis://host:port/db");
        free(q);
        return NULL;
    }
    if (open_conn(q, err) < 0) {
        queue_close(q);
        return NULL;
    }
    return q;
}

void queue_close(queue *q)
{
    if (!q)
        return;
    if (q->c)
        redisFree(q->c);
    sodium_memzero(&q->url, sizeof q->url);
    free(q);
}

int queue_ping(queue *q, hub_err *err)
{
    const char *argv[] = {"PING"};
    redisReply *r = run(q, err, 1, argv);
    if (!r)
        return -1;
    free_reply(r);
    return 0;
}

/* ------------------------------------------------------------------ */
/* ids and keys                                                         */

int queue_job_id_valid(const char *id)
{
    if (!id || strlen(id) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        char ch = id[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (ch != '-')
                return 0;
        } else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
            return 0;
        }
    }
    return id[14] == '4' && strchr("89ab", id[19]) != NULL;
}

int queue_entry_id_valid(const char *s)
{
    if (!s)
        return 0;
    size_t digits = 0, parts = 1, len = 0;
    for (const char *p = s; *p; p++, len++) {
        if (*p >= '0' && *p <= '9') {
            if (++digits > 20)
                return 0;
        } else if (*p == '-' && digits > 0 && parts == 1) {
            parts = 2;
            digits = 0;
        } else {
            return 0;
        }
    }
    return digits > 0 && len < QUEUE_ENTRY_ID_MAX;
}

static void job_key(char out[KEY_MAX], const char *id)
{
    snprintf(out, KEY_MAX, QUEUE_JOB_PREFIX "%s", id);
}

static void events_key(char out[KEY_MAX], const char *id)
{
    snprintf(out, KEY_MAX, QUEUE_JOB_PREFIX "%s" QUEUE_EVENTS_SUFFIX, id);
}

static void new_uuid4(char out[QUEUE_JOB_ID_MAX])
{
    unsigned char b[16];
    randombytes_buf(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    snprintf(out, QUEUE_JOB_ID_MAX,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
             b[12], b[13], b[14], b[15]);
}

static void fmt_ll(char out[24], long long v)
{
    snprintf(out, 24, "%lld", v);
}

/* ------------------------------------------------------------------ */
/* producer and status                                                  */

static const char create_lua[] =
    "redis.call('HSET', KEYS[1], 'id', ARGV[1], 'type', ARGV[2], 'user', ARGV[3],"
    " 'state', 'queued', 'progress', '0', 'message', '', 'input', ARGV[4],"
    " 'created', ARGV[5], 'attempts', '0')\n"
    "if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'request_id', ARGV[6]) end\n"
    "return redis.call('XADD', KEYS[2], '*', 'id', ARGV[1])\n";

int queue_job_create(queue *q, const char *type, const char *user,
                     const json_t *input, char id_out[QUEUE_JOB_ID_MAX],
                     hub_err *err)
{
    id_out[0] = '\0';
    if (!type || !*type || !user || !*user)
        return hub_err_set(err, "queue: a job needs a type and a user");
    char *in = input ? json_dumps(input, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("{}");
    if (!in)
        return hub_err_set(err, "queue: cannot encode the job input");
    char id[QUEUE_JOB_ID_MAX], key[KEY_MAX], now[24];
    new_uuid4(id);
    job_key(key, id);
    fmt_ll(now, (long long)time(NULL));
    const char *argv[] = {"EVAL", create_lua, "2", key, QUEUE_STREAM,
                          id, type, user, in, now, log_request_id()};
    redisReply *r = run(q, err, 11, argv);
    free(in);
    if (!r)
        return hub_err_prefix(err, "queue job create");
    free_reply(r);
    memcpy(id_out, id, sizeof id);
    return 0;
}

static const char *const job_fields[] = {
    "id", "type", "user", "state", "progress", "message", "input", "result",
    "error", "error_code", "created", "started", "finished", "attempts", "request_id",
};

static int is_int_field(const char *f)
{
    return !strcmp(f, "progress") || !strcmp(f, "attempts") || !strcmp(f, "created") ||
           !strcmp(f, "started") || !strcmp(f, "finished");
}

/* The JSON value of one hash field (see queue_job_get). */
static json_t *field_value(const char *name, const char *v, size_t len)
{
    if (is_int_field(name)) {
        char *end = NULL;
        long long n = strtoll(v, &end, 10);
        if (len && end == v + len)
            return json_integer(n);
    } else if (!strcmp(name, "input") || !strcmp(name, "result")) {
        json_t *j = json_loadb(v, len, JSON_DECODE_ANY, NULL);
        if (j)
            return j;
    }
    return json_stringn(v, len);
}

int queue_job_get(queue *q, const char *id, json_t **out, hub_err *err)
{
    *out = NULL;
    if (!queue_job_id_valid(id))
        return 0;
    char key[KEY_MAX];
    job_key(key, id);
    const char *argv[] = {"HGETALL", key};
    redisReply *r = run(q, err, 2, argv);
    if (!r)
        return hub_err_prefix(err, "queue job %s", id);
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
        free_reply(r);
        return hub_err_set(err, "queue job %s: unexpected HGETALL reply", id);
    }
    if (r->elements == 0) {
        free_reply(r);
        return 0;
    }
    json_t *obj = json_object();
    int oom = !obj;
    /* the contract's fields in order, then anything else */
    for (size_t f = 0; !oom && f <= sizeof job_fields / sizeof job_fields[0]; f++) {
        for (size_t i = 0; !oom && i + 1 < r->elements; i += 2) {
            redisReply *k = r->element[i], *v = r->element[i + 1];
            if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
                continue;
            int known = 0;
            for (size_t g = 0; g < sizeof job_fields / sizeof job_fields[0]; g++)
                known |= strcmp(k->str, job_fields[g]) == 0;
            if (f < sizeof job_fields / sizeof job_fields[0] ? strcmp(k->str, job_fields[f]) != 0
                                                              : known)
                continue;
            json_t *val = field_value(k->str, v->str, v->len);
            oom = !val || json_object_set_new(obj, k->str, val) < 0;
        }
    }
    free_reply(r);
    if (oom) {
        json_decref(obj);
        return hub_err_set(err, "queue job %s: out of memory", id);
    }
    *out = obj;
    return 0;
}

int queue_job_state(queue *q, const char *id, char *state, size_t n, hub_err *err)
{
    if (n)
        state[0] = '\0';
    if (!queue_job_id_valid(id))
        return 0;
    char key[KEY_MAX];
    job_key(key, id);
    const char *argv[] = {"HGET", key, "state"};
    redisReply *r = run(q, err, 3, argv);
    if (!r)
        return hub_err_prefix(err, "queue job %s", id);
    if (r->type == REDIS_REPLY_STRING && n)
        snprintf(state, n, "%s", r->str);
    free_reply(r);
    return 0;
}

/* ------------------------------------------------------------------ */
/* events                                                               */

void queue_events_free(queue_event *events, size_t n)
{
    if (!events)
        return;
    for (size_t i = 0; i < n; i++)
        free(events[i].data);
    free(events);
}

/* Converts the entries [[id, [f, v, ...]], ...] of a stream reply into
 * events. Returns 0 or -1 with err. */
static int parse_entries(const redisReply *entries, queue_event **events,
                         size_t *n, hub_err *err)
{
    *events = NULL;
    *n = 0;
    if (entries->type != REDIS_REPLY_ARRAY)
        return hub_err_set(err, "queue: unexpected stream reply");
    if (entries->elements == 0)
        return 0;
    queue_event *ev = calloc(entries->elements, sizeof *ev);
    if (!ev)
        return hub_err_set(err, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[0]->type != REDIS_REPLY_STRING ||
            e->element[0]->len >= QUEUE_ENTRY_ID_MAX ||
            e->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        const redisReply *fv = e->element[1];
        const char *data = NULL;
        size_t dlen = 0;
        int final = 0;
        for (size_t j = 0; j + 1 < fv->elements; j += 2) {
            const redisReply *f = fv->element[j], *v = fv->element[j + 1];
            if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
                continue;
            if (!strcmp(f->str, "data")) {
                data = v->str;
                dlen = v->len;
            } else if (!strcmp(f->str, "final")) {
                final = !strcmp(v->str, "1");
            }
        }
        if (!data)
            continue;
        if (!(ev[k].data = strndup(data, dlen))) {
            queue_events_free(ev, k);
            return hub_err_set(err, "out of memory");
        }
        memcpy(ev[k].entry_id, e->element[0]->str, e->element[0]->len + 1);
        ev[k].final = final;
        k++;
    }
    if (!k) {
        free(ev);
        ev = NULL;
    }
    *events = ev;
    *n = k;
    return 0;
}

int queue_events_read(queue *q, const char *id, const char *after,
                      int block_ms, size_t max, queue_event **events,
                      size_t *n, hub_err *err)
{
    *events = NULL;
    *n = 0;
    if (!queue_job_id_valid(id))
        return 0;
    if (max < 1)
        max = 1;
    if (max > 1000)
        max = 1000;
    char key[KEY_MAX], count[24], block[24];
    events_key(key, id);
    fmt_ll(count, (long long)max);
    fmt_ll(block, block_ms > 0 ? block_ms : 0);
    const char *from = after && queue_entry_id_valid(after) ? after : "0-0";
    const char *argv[8];
    int argc = 0;
    argv[argc++] = "XREAD";
    argv[argc++] = "COUNT";
    argv[argc++] = count;
    if (block_ms > 0) {
        argv[argc++] = "BLOCK";
        argv[argc++] = block;
    }
    argv[argc++] = "STREAMS";
    argv[argc++] = key;
    argv[argc++] = from;
    redisReply *r = run_blocking(q, err, block_ms, argc, argv);
    if (!r)
        return hub_err_prefix(err, "queue events of %s", id);
    int rc = 0;
    /* nil on timeout / nothing; else [[key, entries]] */
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
        r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2)
        rc = parse_entries(r->element[0]->element[1], events, n, err);
    free_reply(r);
    return rc;
}

int queue_events_read_many(queue *q, const char *const *ids, const char *const *afters, size_t n,
                           int block_ms, size_t max_per_job, queue_events_fn fn, void *ctx,
                           hub_err *err)
{
    if (n == 0)
        return 0;
    if (max_per_job < 1)
        max_per_job = 1;
    size_t argc = 4 + (block_ms > 0 ? 2 : 0) + 2 * n;
    const char **argv = calloc(argc, sizeof *argv);
    size_t *lens = calloc(argc, sizeof *lens);
    char (*keys)[KEY_MAX] = calloc(n, sizeof *keys);
    if (!argv || !lens || !keys) {
        free(argv);
        free(lens);
        free(keys);
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    }
    char count[24], block[24];
    fmt_ll(count, (long long)max_per_job);
    fmt_ll(block, block_ms > 0 ? block_ms : 0);
    size_t k = 0;
    argv[k++] = "XREAD";
    argv[k++] = "COUNT";
    argv[k++] = count;
    if (block_ms > 0) {
        argv[k++] = "BLOCK";
        argv[k++] = block;
    }
    argv[k++] = "STREAMS";
    for (size_t i = 0; i < n; i++) {
        events_key(keys[i], ids[i]);
        argv[k + i] = keys[i];
        argv[k + n + i] = afters[i] && queue_entry_id_valid(afters[i]) ? afters[i] : "0-0";
    }
    for (size_t i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    redisReply *r = run_blocking_argv(q, err, block_ms, (int)argc, argv, lens);
    free(argv);
    free(lens);
    free(keys);
    if (!r)
        return hub_err_prefix(err, "queue events");
    int rc = 0;
    /* nil on timeout; else [[key, entries], ...] for the keys with entries */
    size_t prefix = strlen(QUEUE_JOB_PREFIX), suffix = strlen(QUEUE_EVENTS_SUFFIX);
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements && rc == 0; i++) {
        const redisReply *kv = r->element[i];
        if (kv->type != REDIS_REPLY_ARRAY || kv->elements != 2 ||
            kv->element[0]->type != REDIS_REPLY_STRING || kv->element[0]->len <= prefix + suffix ||
            kv->element[0]->len - prefix - suffix >= QUEUE_JOB_ID_MAX)
            continue;
        char id[QUEUE_JOB_ID_MAX];
        size_t idlen = kv->element[0]->len - prefix - suffix;
        memcpy(id, kv->element[0]->str + prefix, idlen);
        id[idlen] = '\0';
        queue_event *ev = NULL;
        size_t m = 0;
        rc = parse_entries(kv->element[1], &ev, &m, err);
        for (size_t j = 0; rc == 0 && j < m; j++)
            fn(ctx, id, &ev[j]);
        queue_events_free(ev, m);
    }
    free_reply(r);
    return rc;
}

int queue_live_spools(queue *q, void (*fn)(void *ctx, const char *spool), void *ctx,
                      hub_err *err)
{
    char cursor[32] = "0";
    do {
        const char *argv[] = {"SCAN", cursor, "MATCH", QUEUE_JOB_PREFIX "*", "COUNT", "1000"};
        redisReply *r = run(q, err, 6, argv);
        if (!r)
            return hub_err_prefix(err, "queue scan");
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            free_reply(r);
            return hub_err_set(err, "queue scan: unexpected reply");
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        const redisReply *keys = r->element[1];
        size_t sent = 0;
        for (size_t i = 0; i < keys->elements; i++) {
            const redisReply *k = keys->element[i];
            size_t sl = strlen(QUEUE_EVENTS_SUFFIX);
            if (k->type != REDIS_REPLY_STRING ||
                (k->len >= sl && memcmp(k->str + k->len - sl, QUEUE_EVENTS_SUFFIX, sl) == 0))
                continue;   /* an events stream, not a job hash */
            const char *av[] = {"HMGET", k->str, "state", "input"};
            size_t al[] = {5, k->len, 5, 5};
            if (redisAppendCommandArgv(q->c, 4, av, al) != REDIS_OK) {
                free_reply(r);
                return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
            }
            sent++;
        }
        int rc = 0;
        for (size_t i = 0; i < sent; i++) {
            redisReply *h = NULL;
            if (redisGetReply(q->c, (void **)&h) != REDIS_OK || !h) {
                free_reply(r);
                return hub_err_setc(err, HUB_E_UNAVAILABLE, "queue redis %s:%d: %s", q->url.host,
                                    q->url.port, q->c->errstr[0] ? q->c->errstr : "connection lost");
            }
            if (rc == 0 && h->type == REDIS_REPLY_ARRAY && h->elements == 2 &&
                h->element[0]->type == REDIS_REPLY_STRING && h->element[1]->type == REDIS_REPLY_STRING &&
                (strcmp(h->element[0]->str, "queued") == 0 || strcmp(h->element[0]->str, "running") == 0)) {
                json_t *input = json_loads(h->element[1]->str, 0, NULL);
                const char *spool = json_string_value(json_object_get(input, "file"));
                if (spool)
                    fn(ctx, spool);
                json_decref(input);
            }
            free_reply(h);
        }
        free_reply(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

long long queue_client_id(const queue *q)
{
    return q->client_id;
}

int queue_client_unblock(queue *q, long long client_id, hub_err *err)
{
    if (client_id <= 0)
        return 0;
    char id[24];
    fmt_ll(id, client_id);
    const char *argv[] = {"CLIENT", "UNBLOCK", id};
    redisReply *r = run(q, err, 3, argv);
    if (!r)
        return hub_err_prefix(err, "queue unblock");
    free_reply(r);
    return 0;
}

int queue_job_states(queue *q, const char *const *ids, size_t n, char (*states)[QUEUE_STATE_MAX],
                     hub_err *err)
{
    for (size_t i = 0; i < n; i++)
        states[i][0] = '\0';
    if ((!q->c || q->c->err) && open_conn(q, err) < 0)
        return -1;
    char key[KEY_MAX];
    for (size_t i = 0; i < n; i++) {
        job_key(key, queue_job_id_valid(ids[i]) ? ids[i] : "-");
        const char *argv[] = {"HGET", key, "state"};
        size_t lens[] = {4, strlen(key), 5};
        if (redisAppendCommandArgv(q->c, 3, argv, lens) != REDIS_OK)
            return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(q->c, (void **)&r) != REDIS_OK || !r) {
            return hub_err_setc(err, HUB_E_UNAVAILABLE, "queue redis %s:%d: %s", q->url.host,
                                q->url.port, q->c->errstr[0] ? q->c->errstr : "connection lost");
        }
        if (r->type == REDIS_REPLY_STRING && queue_job_id_valid(ids[i]))
            snprintf(states[i], QUEUE_STATE_MAX, "%s", r->str);
        else if (r->type == REDIS_REPLY_ERROR && rc == 0)
            rc = hub_err_set(err, "queue redis HGET: %.*s", (int)r->len, r->str);
        free_reply(r);
    }
    return rc;
}

/* Every event entry carries the job's request id (field request_id) when
 * the job has one: the scripts below append it to their XADD. */
#define RID_LUA "local rid = redis.call('HGET', KEYS[1], 'request_id')\n"
#define RID_ARGS "unpack(rid and {'request_id', rid} or {})"

static const char event_lua[] =
    RID_LUA
    "return redis.call('XADD', KEYS[2], '*', 'data', ARGV[1], " RID_ARGS ")\n";

int queue_event_add(queue *q, const char *id, const json_t *event,
                    char *entry_out, hub_err *err)
{
    if (entry_out)
        entry_out[0] = '\0';
    if (!queue_job_id_valid(id))
        return hub_err_set(err, "queue: invalid job id");
    char *data = event ? json_dumps(event, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (!data)
        return hub_err_set(err, "queue: cannot encode the event");
    char key[KEY_MAX], ekey[KEY_MAX];
    job_key(key, id);
    events_key(ekey, id);
    const char *argv[] = {"EVAL", event_lua, "2", key, ekey, data};
    redisReply *r = run(q, err, 6, argv);
    free(data);
    if (!r)
        return hub_err_prefix(err, "queue event of %s", id);
    if (entry_out && r->type == REDIS_REPLY_STRING)
        snprintf(entry_out, QUEUE_ENTRY_ID_MAX, "%s", r->str);
    free_reply(r);
    return 0;
}


int queue_job_wait(queue *q, const char *id, int timeout_ms, int *ended,
                   json_t **job, hub_err *err)
{
    *ended = 0;
    *job = NULL;
    if (!queue_job_id_valid(id))
        return hub_err_set(err, "job %s not found", id ? id : "");
    char key[KEY_MAX], last[QUEUE_ENTRY_ID_MAX] = "0-0";
    events_key(key, id);
    long long deadline = util_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        /* 1. where the events stream ends now, 2. the state, 3. sleep until
         * an event after that point: a final event added after step 1 wakes
         * step 3 at once, so the end is never missed. */
        const char *rev[] = {"XREVRANGE", key, "+", "-", "COUNT", "1"};
        redisReply *r = run(q, err, 6, rev);
        if (!r)
            return hub_err_prefix(err, "queue wait for %s", id);
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
            r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2 &&
            r->element[0]->element[0]->type == REDIS_REPLY_STRING)
            snprintf(last, sizeof last, "%s", r->element[0]->element[0]->str);
        free_reply(r);

        char state[16];
        if (queue_job_state(q, id, state, sizeof state, err) < 0)
            return -1;
        if (!state[0])
            return hub_err_set(err, "job %s not found", id);
        if (!strcmp(state, "done") || !strcmp(state, "failed")) {
            if (queue_job_get(q, id, job, err) < 0)
                return -1;
            if (!*job)
                return hub_err_set(err, "job %s not found", id);
            *ended = 1;
            return 0;
        }
        long long left = deadline - util_mono_ms();
        if (left <= 0)
            return 0;
        if (left > 5000)
            left = 5000;   /* re-check the state now and then */
        queue_event *ev = NULL;
        size_t n = 0;
        if (queue_events_read(q, id, last, (int)left, 100, &ev, &n, err) < 0)
            return -1;
        queue_events_free(ev, n);
    }
}

/* ------------------------------------------------------------------ */
/* statistics                                                           */

#define STATS_COUNT_CAP "100000"   /* XRANGE fallback of queued (queue.h) */

/* The value of field `name` of a flat [name, value, ...] reply (XINFO), or
 * NULL when absent. */
static const redisReply *flat_field(const redisReply *flat, const char *name)
{
    if (flat->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < flat->elements; i += 2) {
        const redisReply *k = flat->element[i];
        if ((k->type == REDIS_REPLY_STRING || k->type == REDIS_REPLY_STATUS) &&
            strcmp(k->str, name) == 0)
            return flat->element[i + 1];
    }
    return NULL;
}

/* An integer field of a flat reply, or -1 when absent or not an integer
 * (lag is nil when Redis cannot tell it). */
static long long flat_int(const redisReply *flat, const char *name)
{
    const redisReply *v = flat_field(flat, name);
    return v && v->type == REDIS_REPLY_INTEGER ? v->integer : -1;
}

/* One integer command (XLEN, EXISTS); -1 with err on failure. */
static long long run_int(queue *q, hub_err *err, int argc, const char **argv)
{
    redisReply *r = run(q, err, argc, argv);
    if (!r)
        return -1;
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    free_reply(r);
    if (v < 0)
        return hub_err_set(err, "queue redis %s: unexpected reply", argv[0]);
    return v;
}

/* A counter of hub:stats from an HMGET element: nil (never counted) is 0,
 * anything not a non-negative decimal integer -1. */
static long long counter_value(const redisReply *v)
{
    if (v->type == REDIS_REPLY_NIL)
        return 0;
    if (v->type != REDIS_REPLY_STRING || v->len == 0 || v->len > 19)
        return -1;
    long long n = 0;
    for (size_t i = 0; i < v->len; i++) {
        if (v->str[i] < '0' || v->str[i] > '9')
            return -1;
        n = n * 10 + (v->str[i] - '0');   /* 19 digits fit a long long */
    }
    return n;
}

/* Fills queued, running and consumers from XINFO GROUPS of hub:jobs, whose
 * length is total (> 0). Returns 0 or -1 with err. */
static int group_stats(queue *q, long long total, queue_stats *out, hub_err *err)
{
    const char *argv[] = {"XINFO", "GROUPS", QUEUE_STREAM};
    redisReply *r = run(q, err, 3, argv);
    if (!r)
        return -1;
    char last[QUEUE_ENTRY_ID_MAX] = "";
    long long lag = -1;
    int found = 0;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *g = r->element[i];
        const redisReply *name = flat_field(g, "name");
        if (!name || name->type != REDIS_REPLY_STRING || strcmp(name->str, QUEUE_GROUP) != 0)
            continue;
        found = 1;
        long long pending = flat_int(g, "pending"), consumers = flat_int(g, "consumers");
        out->running = pending > 0 ? pending : 0;
        out->consumers = consumers > 0 ? consumers : 0;
        lag = flat_int(g, "lag");
        const redisReply *ld = flat_field(g, "last-delivered-id");
        if (ld && ld->type == REDIS_REPLY_STRING && ld->len < sizeof last &&
            queue_entry_id_valid(ld->str))
            memcpy(last, ld->str, ld->len + 1);
    }
    free_reply(r);
    if (!found || lag >= 0) {
        out->queued = found ? lag : total;   /* no group yet: nothing delivered */
        return 0;
    }
    if (!last[0])
        return hub_err_set(err, "the group reports neither lag nor "
                           "last-delivered-id");
    char start[QUEUE_ENTRY_ID_MAX + 1];
    snprintf(start, sizeof start, "(%s", last);
    const char *range[] = {"XRANGE", QUEUE_STREAM, start, "+", "COUNT", STATS_COUNT_CAP};
    if (!(r = run(q, err, 6, range)))
        return -1;
    out->queued = r->type == REDIS_REPLY_ARRAY ? (long long)r->elements : 0;
    free_reply(r);
    return 0;
}

static int stats_read(queue *q, queue_stats *out, hub_err *err)
{
    const char *xlen[] = {"XLEN", QUEUE_STREAM};
    const char *exists[] = {"EXISTS", QUEUE_STREAM};
    const char *dead[] = {"XLEN", QUEUE_DEAD_STREAM};
    const char *hmget[] = {"HMGET", QUEUE_STATS_KEY, "jobs-done", "jobs-failed"};
    /* XLEN of a missing key is 0; XINFO of a missing key is an error, but
     * an empty stream may still have a group with consumers */
    long long total = run_int(q, err, 2, xlen);
    long long there = total < 0 ? -1 : run_int(q, err, 2, exists);
    if (there < 0)
        return -1;
    if (there && group_stats(q, total, out, err) < 0)
        return -1;
    if ((out->dead = run_int(q, err, 2, dead)) < 0)
        return -1;
    redisReply *r = run(q, err, 4, hmget);
    if (!r)
        return -1;
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 2;
    if (ok) {
        out->done = counter_value(r->element[0]);
        out->failed = counter_value(r->element[1]);
        ok = out->done >= 0 && out->failed >= 0;
    }
    free_reply(r);
    if (!ok)
        return hub_err_set(err, QUEUE_STATS_KEY " holds a value that is "
                           "not a counter");
    return 0;
}

int queue_stats_read(queue *q, queue_stats *out, hub_err *err)
{
    memset(out, 0, sizeof *out);
    if (stats_read(q, out, err) < 0) {
        memset(out, 0, sizeof *out);
        return hub_err_prefix(err, "queue stats");
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* consumer                                                             */

int queue_group_create(queue *q, hub_err *err)
{
    const char *argv[] = {"XGROUP", "CREATE", QUEUE_STREAM, QUEUE_GROUP, "0", "MKSTREAM"};
    hub_err e;
    redisReply *r = run(q, &e, 6, argv);
    if (r) {
        free_reply(r);
        return 0;
    }
    if (strstr(e.msg, "BUSYGROUP"))
        return 0;
    if (err)
        *err = e;
    return hub_err_prefix(err, "queue consumer group");
}

/* Delivery count of a pending entry (XPENDING with a one-entry range), or
 * 0 when it is not pending; -1 on error. */
static long long pending_deliveries(queue *q, const char *entry, hub_err *err)
{
    const char *argv[] = {"XPENDING", QUEUE_STREAM, QUEUE_GROUP, entry, entry, "1"};
    redisReply *r = run(q, err, 6, argv);
    if (!r)
        return -1;
    long long count = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
        redisReply *e = r->element[0];
        if (e->type == REDIS_REPLY_ARRAY && e->elements == 4 &&
            e->element[3]->type == REDIS_REPLY_INTEGER) {
            count = e->element[3]->integer;
        }
    }
    free_reply(r);
    return count;
}

/* Fills a claim from a stream entry [id, [f, v, ...]]. Returns 0 when the
 * entry is well formed (job_id may still be "" for a foreign entry). */
static int entry_claim(const redisReply *e, queue_claim *out)
{
    memset(out, 0, sizeof *out);
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[0]->len >= QUEUE_ENTRY_ID_MAX)
        return -1;
    memcpy(out->entry_id, e->element[0]->str, e->element[0]->len + 1);
    const redisReply *fv = e->element[1];
    for (size_t j = 0; fv->type == REDIS_REPLY_ARRAY && j + 1 < fv->elements; j += 2) {
        const redisReply *f = fv->element[j], *v = fv->element[j + 1];
        if (f->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING &&
            !strcmp(f->str, "id") && queue_job_id_valid(v->str))
            memcpy(out->job_id, v->str, v->len + 1);
    }
    return 0;
}

int queue_claim_next(queue *q, const char *consumer, int block_ms,
                     queue_claim *out, int *got, hub_err *err)
{
    *got = 0;
    memset(out, 0, sizeof *out);
    if (!consumer || !*consumer)
        return hub_err_set(err, "queue: empty consumer name");
    char block[24];
    fmt_ll(block, block_ms > 0 ? block_ms : 0);
    for (int attempt = 0; attempt < 2; attempt++) {
        const char *argv[11];
        int argc = 0;
        argv[argc++] = "XREADGROUP";
        argv[argc++] = "GROUP";
        argv[argc++] = QUEUE_GROUP;
        argv[argc++] = consumer;
        argv[argc++] = "COUNT";
        argv[argc++] = "1";
        if (block_ms > 0) {
            argv[argc++] = "BLOCK";
            argv[argc++] = block;
        }
        argv[argc++] = "STREAMS";
        argv[argc++] = QUEUE_STREAM;
        argv[argc++] = ">";
        hub_err e;
        redisReply *r = run_blocking(q, &e, block_ms, argc, argv);
        if (!r) {
            /* the group vanished (Redis restarted without persistence):
             * create it again once */
            if (attempt == 0 && strstr(e.msg, "NOGROUP") && queue_group_create(q, err) == 0)
                continue;
            if (err)
                *err = e;
            return hub_err_prefix(err, "queue claim");
        }
        int rc = 0;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
            r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2) {
            const redisReply *entries = r->element[0]->element[1];
            if (entries->type == REDIS_REPLY_ARRAY && entries->elements >= 1 &&
                entry_claim(entries->element[0], out) == 0) {
                out->deliveries = 1;
                *got = 1;
            }
        }
        free_reply(r);
        if (*got && !out->job_id[0]) {
            /* not one of ours: acknowledge it so it never comes back */
            rc = queue_ack(q, out->entry_id, err);
            *got = 0;
        }
        return rc;
    }
    return 0;
}

int queue_reclaim_idle(queue *q, const char *consumer, long long min_idle_ms,
                       long long max_deliveries, queue_claim *out, int *got,
                       hub_err *err)
{
    *got = 0;
    memset(out, 0, sizeof *out);
    if (!consumer || !*consumer)
        return hub_err_set(err, "queue: empty consumer name");
    char idle[24];
    fmt_ll(idle, min_idle_ms > 0 ? min_idle_ms : 0);
    /* one pass over the pending list at most (bounded) */
    for (int round = 0; round < 1000; round++) {
        const char *argv[] = {"XAUTOCLAIM", QUEUE_STREAM, QUEUE_GROUP, consumer,
                              idle, q->cursor, "COUNT", "1"};
        redisReply *r = run(q, err, 8, argv);
        if (!r)
            return hub_err_prefix(err, "queue reclaim");
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
            r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[0]->len >= QUEUE_ENTRY_ID_MAX ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            free_reply(r);
            return hub_err_set(err, "queue reclaim: unexpected XAUTOCLAIM reply");
        }
        memcpy(q->cursor, r->element[0]->str, r->element[0]->len + 1);
        int have = r->element[1]->elements >= 1 &&
                   entry_claim(r->element[1]->element[0], out) == 0;
        free_reply(r);
        if (!have) {
            if (!strcmp(q->cursor, "0-0"))
                return 0;       /* the whole pending list was scanned */
            continue;
        }
        long long n = pending_deliveries(q, out->entry_id, err);
        if (n < 0)
            return hub_err_prefix(err, "queue reclaim");
        out->deliveries = n;
        if (out->job_id[0]) {
            out->over_limit = max_deliveries > 0 && n > max_deliveries;
            *got = 1;
            return 0;
        }
        if (queue_ack(q, out->entry_id, err) < 0)   /* not one of ours */
            return -1;
        memset(out, 0, sizeof *out);
        if (!strcmp(q->cursor, "0-0"))
            return 0;
    }
    return 0;
}

const char *queue_over_limit_reason(const queue_claim *c, char *out, size_t n)
{
    if (n)
        snprintf(out, n, "job abandoned after %lld deliveries",
                 c->deliveries > 0 ? c->deliveries - 1 : 0);
    return out;
}

static const char heartbeat_lua[] =
    "local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)\n"
    "if #p == 0 or p[1][2] ~= ARGV[2] then return 0 end\n"
    "redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')\n"
    "return 1\n";

int queue_heartbeat(queue *q, const char *consumer, const char *entry_id,
                    hub_err *err)
{
    if (!consumer || !*consumer || !queue_entry_id_valid(entry_id))
        return hub_err_set(err, "queue heartbeat: invalid consumer or entry");
    const char *argv[] = {"EVAL", heartbeat_lua, "1", QUEUE_STREAM, QUEUE_GROUP,
                          consumer, entry_id};
    redisReply *r = run(q, err, 7, argv);
    if (!r)
        return hub_err_prefix(err, "queue heartbeat");
    int mine = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    free_reply(r);
    if (!mine)
        return hub_err_setc(err, HUB_E_LOST, "job entry %s was taken over", entry_id);
    return 0;
}

int queue_ack(queue *q, const char *entry_id, hub_err *err)
{
    if (!queue_entry_id_valid(entry_id))
        return hub_err_set(err, "queue ack: invalid entry id");
    const char *argv[] = {"XACK", QUEUE_STREAM, QUEUE_GROUP, entry_id};
    redisReply *r = run(q, err, 4, argv);
    if (!r)
        return hub_err_prefix(err, "queue ack %s", entry_id);
    free_reply(r);
    return 0;
}

int queue_dead_letter(queue *q, const queue_claim *c, const char *reason,
                      hub_err *err)
{
    char n[24];
    fmt_ll(n, c->deliveries);
    const char *why = reason && *reason ? reason : "job dead-lettered";
    const char *argv[] = {"XADD", QUEUE_DEAD_STREAM, "*", "id", c->job_id,
                          "entry", c->entry_id, "deliveries", n, "reason", why};
    redisReply *r = run(q, err, 11, argv);
    if (!r)
        return hub_err_prefix(err, "queue dead letter");
    free_reply(r);
    hub_err failure;
    hub_err_setc(&failure, HUB_E_FAILED, "%s", why);
    if (c->job_id[0] &&
        queue_job_finish(q, c->job_id, NULL, &failure, NULL, (long long)time(NULL), NULL, err) < 0)
        return -1;
    return queue_ack(q, c->entry_id, err);
}

static const char start_lua[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end\n"
    "local s = redis.call('HGET', KEYS[1], 'state')\n"
    "if s == 'done' or s == 'failed' then return 'ended' end\n"
    "redis.call('HSET', KEYS[1], 'state', 'running', 'started', ARGV[1])\n"
    "redis.call('HINCRBY', KEYS[1], 'attempts', 1)\n"
    "return 'run'\n";

int queue_job_start(queue *q, const char *id, long long now,
                    queue_start *what, hub_err *err)
{
    *what = QUEUE_START_MISSING;
    if (!queue_job_id_valid(id))
        return 0;
    char key[KEY_MAX], t[24];
    job_key(key, id);
    fmt_ll(t, now);
    const char *argv[] = {"EVAL", start_lua, "1", key, t};
    redisReply *r = run(q, err, 5, argv);
    if (!r)
        return hub_err_prefix(err, "queue start %s", id);
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
        if (!strcmp(r->str, "run"))
            *what = QUEUE_START_RUN;
        else if (!strcmp(r->str, "ended"))
            *what = QUEUE_START_ENDED;
    }
    free_reply(r);
    return 0;
}

static const char progress_lua[] =
    "redis.call('HSET', KEYS[1], 'progress', ARGV[1], 'message', ARGV[2])\n"
    RID_LUA
    "return redis.call('XADD', KEYS[2], '*', 'data', ARGV[3], " RID_ARGS ")\n";

int queue_job_progress(queue *q, const char *id, int progress,
                       const char *message, hub_err *err)
{
    if (!queue_job_id_valid(id))
        return hub_err_set(err, "queue: invalid job id");
    if (progress < 0)
        progress = 0;
    if (progress > 100)
        progress = 100;
    const char *msg = message ? message : "";
    json_t *ev = json_pack("{s:s, s:s, s:i}", "status", "update", "message", msg,
                           "progress", progress);
    char *data = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    if (!data)
        return hub_err_set(err, "queue progress: message is not valid UTF-8");
    char key[KEY_MAX], ekey[KEY_MAX], p[24];
    job_key(key, id);
    events_key(ekey, id);
    fmt_ll(p, progress);
    const char *argv[] = {"EVAL", progress_lua, "2", key, ekey, p, msg, data};
    redisReply *r = run(q, err, 8, argv);
    free(data);
    if (!r)
        return hub_err_prefix(err, "queue progress %s", id);
    free_reply(r);
    return 0;
}

static const char finish_lua[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "local s = redis.call('HGET', KEYS[1], 'state')\n"
    "if s == 'done' or s == 'failed' then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'state', ARGV[1], 'finished', ARGV[4])\n"
    "if ARGV[1] == 'done' then\n"
    "  redis.call('HSET', KEYS[1], 'result', ARGV[2], 'progress', '100')\n"
    "else\n"
    "  redis.call('HSET', KEYS[1], 'error', ARGV[3], 'error_code', ARGV[7])\n"
    "end\n"
    RID_LUA
    "redis.call('XADD', KEYS[2], '*', 'data', ARGV[5], 'final', '1', " RID_ARGS ")\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[6])\n"
    "redis.call('EXPIRE', KEYS[2], ARGV[6])\n"
    "redis.call('HINCRBY', KEYS[3], ARGV[1] == 'done' and 'jobs-done' or 'jobs-failed', 1)\n"
    "return 1\n";

int queue_job_finish(queue *q, const char *id, const json_t *result,
                     const hub_err *failure, const json_t *final_event,
                     long long now, int *published, hub_err *err)
{
    const char *error = failure ? failure->msg : NULL;
    if (published)
        *published = 0;
    if (!queue_job_id_valid(id))
        return hub_err_set(err, "queue: invalid job id");
    json_t *res = result ? json_deep_copy(result) : json_object();
    json_t *ev = NULL;
    if (final_event)
        ev = json_deep_copy(final_event);
    else if (error)
        ev = json_pack("{s:s, s:s}", "status", "error", "message", error);
    else if (res)
        ev = json_pack("{s:s, s:O}", "status", "info", "info", res);
    char *res_s = res ? json_dumps(res, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    char *ev_s = ev ? json_dumps(ev, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(res);
    json_decref(ev);
    if (!res_s || !ev_s) {
        free(res_s);
        free(ev_s);
        return hub_err_set(err, "queue finish %s: cannot encode the result or event "
                           "(invalid UTF-8?)", id);
    }
    char key[KEY_MAX], ekey[KEY_MAX], t[24], ttl[24];
    job_key(key, id);
    events_key(ekey, id);
    fmt_ll(t, now);
    fmt_ll(ttl, q->job_ttl);
    const char *argv[] = {"EVAL", finish_lua, "3", key, ekey, QUEUE_STATS_KEY,
                          error ? "failed" : "done", res_s, error ? error : "", t, ev_s, ttl,
                          failure ? hub_code_name(failure->code) : ""};
    redisReply *r = run(q, err, 13, argv);
    free(res_s);
    free(ev_s);
    if (!r)
        return hub_err_prefix(err, "queue finish %s", id);
    if (published)
        *published = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    free_reply(r);
    return 0;
}

void queue_set_job_ttl(queue *q, long long seconds)
{
    if (q && seconds > 0)
        q->job_ttl = seconds;
}
