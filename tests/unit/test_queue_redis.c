/* test_queue_redis.c - the job queue (hub/queue.h) against a real
 * redis-server: job create/get (fields, types, order), events and their
 * replay from an entry id, blocking reads, the consumer group (claim, ack,
 * reclaim from a dead consumer, heartbeat, dead-letter after 3 deliveries),
 * publish-once finishing with its expiry and its done/failed counters, the
 * queue's statistics (queue_stats_read), and waiting for a job's end.
 */
#include "t.h"
#include "t_redis.h"

#include <pthread.h>
#include <time.h>

#include "queue.h"

static t_redis srv;
static char url[128];
static redisContext *raw;   /* direct inspection */

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static redisReply *rcmd(const char *fmt, const char *a, const char *b)
{
    return redisCommand(raw, fmt, a, b);
}

static long long rint_(const char *fmt, const char *a, const char *b)
{
    redisReply *r = rcmd(fmt, a, b);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -999;
    if (r)
        freeReplyObject(r);
    return v;
}

/* A field of hub:stats as a number; -1 when absent, -2 when not a number. */
static long long stat_field(const char *field)
{
    redisReply *r = rcmd("HGET %s %s", QUEUE_STATS_KEY, field);
    long long v = -2;
    if (r && r->type == REDIS_REPLY_NIL) {
        v = -1;
    } else if (r && r->type == REDIS_REPLY_STRING) {
        char *end = NULL;
        v = strtoll(r->str, &end, 10);
        if (end != r->str + r->len)
            v = -2;
    }
    if (r)
        freeReplyObject(r);
    return v;
}

static queue *qopen(void)
{
    hub_err err;
    queue *q = queue_connect(url, 2000, &err);
    if (!q)
        fprintf(stderr, "queue_connect: %s\n", err.msg);
    return q;
}

static void flush(void)
{
    redisReply *r = redisCommand(raw, "FLUSHALL");
    if (r)
        freeReplyObject(r);
}

static void test_ids(void)
{
    T_CHECK(queue_job_id_valid("0b7c52d4-3f1e-4a8b-9c6d-2e4f6a8b0c1d") == 1);
    T_CHECK(queue_job_id_valid("0b7c52d4-3f1e-3a8b-9c6d-2e4f6a8b0c1d") == 0);   /* v3 */
    T_CHECK(queue_job_id_valid("0B7C52D4-3F1E-4A8B-9C6D-2E4F6A8B0C1D") == 0);
    T_CHECK(queue_job_id_valid("../../etc/passwd") == 0);
    T_CHECK(queue_job_id_valid("") == 0 && queue_job_id_valid(NULL) == 0);
    T_CHECK(queue_entry_id_valid("1700000000000-0") == 1);
    T_CHECK(queue_entry_id_valid("5") == 1);
    T_CHECK(queue_entry_id_valid("-1") == 0 && queue_entry_id_valid("1-") == 0);
    T_CHECK(queue_entry_id_valid("1-2-3") == 0 && queue_entry_id_valid("$") == 0);
    T_CHECK(queue_entry_id_valid("1 2") == 0 && queue_entry_id_valid("") == 0);
}

static void test_connect_errors(void)
{
    hub_err err;
    T_CHECK(queue_connect("http://x", 500, &err) == NULL);
    T_CHECK(strstr(err.msg, "queue redis URL") != NULL);
    T_CHECK(queue_connect("zdb://127.0.0.1:9900", 500, &err) == NULL);
    T_STREQ(err.msg, "queue redis URL: must be redis://host:port/db");
    char bad[64];
    snprintf(bad, sizeof bad, "redis://127.0.0.1:%d", t_redis_free_port());
    T_CHECK(queue_connect(bad, 500, &err) == NULL);
    T_CHECK(strstr(err.msg, "Connection refused") != NULL);

    static t_redis pw;
    T_REQUIRE(t_redis_start(&pw, "s3cret") == 0);
    char u[128];
    snprintf(u, sizeof u, "redis://:s3cret@127.0.0.1:%d/2", pw.port);
    queue *q = queue_connect(u, 1000, &err);
    T_CHECK(q != NULL);
    T_CHECK(q && queue_ping(q, &err) == 0);
    char id[QUEUE_JOB_ID_MAX];
    T_CHECK(q && queue_job_create(q, "upload", "alice", NULL, id, &err) == 0);
    queue_close(q);
    snprintf(u, sizeof u, "redis://:wrong@127.0.0.1:%d/2", pw.port);
    T_CHECK(queue_connect(u, 1000, &err) == NULL);
    T_CHECK(strstr(err.msg, "AUTH") != NULL);
    t_redis_stop(&pw);
}

static void test_create_get(void)
{
    flush();
    queue *q = qopen();
    T_REQUIRE(q);
    hub_err err;
    char id[QUEUE_JOB_ID_MAX];
    json_t *input = json_pack("{s:s, s:i}", "file", "spool/abc", "size", 42);
    long long t0 = (long long)time(NULL);
    T_REQUIRE(queue_job_create(q, "upload", "alice.3bot", input, id, &err) == 0);
    T_CHECK(queue_job_id_valid(id));

    json_t *job = NULL;
    T_REQUIRE(queue_job_get(q, id, &job, &err) == 0 && job);
    json_t *created = json_object_get(job, "created");
    T_CHECK(json_is_integer(created) && json_integer_value(created) >= t0 &&
            json_integer_value(created) <= t0 + 5);
    json_object_set_new(job, "created", json_integer(0));
    char *s = json_dumps(job, JSON_COMPACT);
    char want[512];
    snprintf(want, sizeof want,
             "{\"id\":\"%s\",\"type\":\"upload\",\"user\":\"alice.3bot\",\"state\":\"queued\","
             "\"progress\":0,\"message\":\"\",\"input\":{\"file\":\"spool/abc\",\"size\":42},"
             "\"created\":0,\"attempts\":0}", id);
    T_STREQ(s, want);
    free(s);
    json_decref(job);

    /* the stream entry */
    redisReply *r = rcmd("XRANGE hub:jobs - +", NULL, NULL);
    T_REQUIRE(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    redisReply *fv = r->element[0]->element[1];
    T_CHECK(fv->elements == 2);
    T_STREQ(fv->element[0]->str, "id");
    T_STREQ(fv->element[1]->str, id);
    freeReplyObject(r);

    char state[16];
    T_CHECK(queue_job_state(q, id, state, sizeof state, &err) == 0);
    T_STREQ(state, "queued");
    /* unknown and hostile ids are simply not found */
    T_CHECK(queue_job_get(q, "0b7c52d4-3f1e-4a8b-9c6d-2e4f6a8b0c1d", &job, &err) == 0 && !job);
    T_CHECK(queue_job_get(q, "x* ../", &job, &err) == 0 && !job);
    T_CHECK(queue_job_state(q, "nope", state, sizeof state, &err) == 0 && state[0] == '\0');
    T_CHECK(queue_job_create(q, "", "alice", NULL, id, &err) == -1);
    json_decref(input);
    queue_close(q);
}

struct delayed {
    char id[QUEUE_JOB_ID_MAX];
    int delay_ms;
    int finish;   /* 1: queue_job_finish, 0: an event */
};

static void *delayed_writer(void *arg)
{
    struct delayed *d = arg;
    t_redis_sleep_ms(d->delay_ms);
    queue *q = qopen();
    if (!q)
        return NULL;
    if (d->finish) {
        json_t *res = json_pack("{s:s}", "name", "late.flist");
        queue_job_finish(q, d->id, res, NULL, NULL, 1, NULL, NULL);
        json_decref(res);
    } else {
        json_t *ev = json_pack("{s:s}", "status", "late");
        queue_event_add(q, d->id, ev, NULL, NULL);
        json_decref(ev);
    }
    queue_close(q);
    return NULL;
}

static void test_events(void)
{
    flush();
    queue *q = qopen();
    T_REQUIRE(q);
    hub_err err;
    char id[QUEUE_JOB_ID_MAX], e1[QUEUE_ENTRY_ID_MAX];
    T_REQUIRE(queue_job_create(q, "upload", "bob", NULL, id, &err) == 0);
    T_CHECK(queue_job_progress(q, id, 33, "Building: processing item 1 of 3", &err) == 0);
    T_CHECK(queue_job_progress(q, id, 250, "clamped", &err) == 0);
    json_t *info = json_pack("{s:s, s:{s:s}}", "status", "info", "info", "filename", "x.flist");
    T_CHECK(queue_event_add(q, id, info, e1, &err) == 0);
    T_CHECK(queue_entry_id_valid(e1));
    json_decref(info);

    queue_event *ev = NULL;
    size_t n = 0;
    T_REQUIRE(queue_events_read(q, id, NULL, 0, 100, &ev, &n, &err) == 0);
    T_REQUIRE(n == 3);
    T_STREQ(ev[0].data, "{\"status\":\"update\",\"message\":\"Building: processing item 1 of 3\",\"progress\":33}");
    T_STREQ(ev[1].data, "{\"status\":\"update\",\"message\":\"clamped\",\"progress\":100}");
    T_STREQ(ev[2].data, "{\"status\":\"info\",\"info\":{\"filename\":\"x.flist\"}}");
    T_STREQ(ev[2].entry_id, e1);
    T_CHECK(ev[0].final == 0 && ev[2].final == 0);
    char first[QUEUE_ENTRY_ID_MAX];
    memcpy(first, ev[0].entry_id, sizeof first);
    queue_events_free(ev, n);

    /* the hash follows the progress */
    json_t *job = NULL;
    T_REQUIRE(queue_job_get(q, id, &job, &err) == 0 && job);
    T_CHECK(json_integer_value(json_object_get(job, "progress")) == 100);
    T_STREQ(json_string_value(json_object_get(job, "message")), "clamped");
    json_decref(job);

    /* replay from Last-Event-ID; a hostile one reads from the start */
    T_REQUIRE(queue_events_read(q, id, first, 0, 100, &ev, &n, &err) == 0);
    T_CHECK(n == 2);
    T_CHECK(n == 2 && strstr(ev[0].data, "clamped") != NULL);
    queue_events_free(ev, n);
    T_REQUIRE(queue_events_read(q, id, "$", 0, 100, &ev, &n, &err) == 0);
    T_CHECK(n == 3);
    queue_events_free(ev, n);
    T_REQUIRE(queue_events_read(q, id, NULL, 0, 2, &ev, &n, &err) == 0);
    T_CHECK(n == 2);
    queue_events_free(ev, n);
    T_REQUIRE(queue_events_read(q, id, e1, 0, 100, &ev, &n, &err) == 0);
    T_CHECK(n == 0 && ev == NULL);

    /* blocking: a timeout, then a wake-up by another connection */
    long long t = mono_ms();
    T_REQUIRE(queue_events_read(q, id, e1, 300, 100, &ev, &n, &err) == 0);
    T_CHECK(n == 0 && mono_ms() - t >= 250);
    struct delayed d = {.delay_ms = 200, .finish = 0};
    memcpy(d.id, id, sizeof d.id);
    pthread_t th;
    pthread_create(&th, NULL, delayed_writer, &d);
    t = mono_ms();
    T_REQUIRE(queue_events_read(q, id, e1, 5000, 100, &ev, &n, &err) == 0);
    long long took = mono_ms() - t;
    pthread_join(th, NULL);
    T_CHECK(n == 1 && took < 2000);
    T_CHECK(n == 1 && strcmp(ev[0].data, "{\"status\":\"late\"}") == 0);
    queue_events_free(ev, n);
    queue_close(q);
}

static void test_finish_once(void)
{
    flush();
    queue *q = qopen();
    T_REQUIRE(q);
    hub_err err;
    char id[QUEUE_JOB_ID_MAX];
    T_REQUIRE(queue_job_create(q, "merge", "carol", NULL, id, &err) == 0);
    queue_start what;
    T_CHECK(queue_job_start(q, id, 111, &what, &err) == 0 && what == QUEUE_START_RUN);
    T_CHECK(queue_job_start(q, id, 112, &what, &err) == 0 && what == QUEUE_START_RUN);
    json_t *res = json_pack("{s:s}", "name", "merged.flist");
    int published = -1;
    T_CHECK(stat_field("jobs-done") == -1 && stat_field("jobs-failed") == -1);
    T_CHECK(queue_job_finish(q, id, res, NULL, NULL, 222, &published, &err) == 0);
    T_CHECK(published == 1);
    T_CHECK(stat_field("jobs-done") == 1 && stat_field("jobs-failed") == -1);
    /* a second end (a re-delivered job) changes nothing, counters included */
    json_t *res2 = json_pack("{s:s}", "name", "other.flist");
    T_CHECK(queue_job_finish(q, id, res2, NULL, NULL, 333, &published, &err) == 0);
    T_CHECK(published == 0);
    T_CHECK(queue_job_finish(q, id, NULL, &(hub_err){HUB_E_FAILED, "boom"}, NULL, 333, &published, &err) == 0);
    T_CHECK(published == 0);
    T_CHECK(stat_field("jobs-done") == 1 && stat_field("jobs-failed") == -1);
    T_CHECK(queue_job_start(q, id, 444, &what, &err) == 0 && what == QUEUE_START_ENDED);

    json_t *job = NULL;
    T_REQUIRE(queue_job_get(q, id, &job, &err) == 0 && job);
    json_object_set_new(job, "created", json_integer(0));
    char *s = json_dumps(job, JSON_COMPACT);
    char want[512];
    snprintf(want, sizeof want,
             "{\"id\":\"%s\",\"type\":\"merge\",\"user\":\"carol\",\"state\":\"done\","
             "\"progress\":100,\"message\":\"\",\"input\":{},\"result\":{\"name\":\"merged.flist\"},"
             "\"created\":0,\"started\":112,\"finished\":222,\"attempts\":2}", id);
    T_STREQ(s, want);
    free(s);
    json_decref(job);

    /* exactly one final event, with the default info shape */
    queue_event *ev = NULL;
    size_t n = 0;
    T_REQUIRE(queue_events_read(q, id, NULL, 0, 100, &ev, &n, &err) == 0);
    T_CHECK(n == 1);
    T_CHECK(n == 1 && ev[0].final == 1);
    T_CHECK(n == 1 && strcmp(ev[0].data, "{\"status\":\"info\",\"info\":{\"name\":\"merged.flist\"}}") == 0);
    queue_events_free(ev, n);

    /* both keys expire 24 h after the end */
    char key[96], ekey[96];
    snprintf(key, sizeof key, "hub:job:%s", id);
    snprintf(ekey, sizeof ekey, "hub:job:%s:events", id);
    long long ttl = rint_("TTL %s", key, NULL), ettl = rint_("TTL %s", ekey, NULL);
    T_CHECK(ttl > 86000 && ttl <= 86400);
    T_CHECK(ettl > 86000 && ettl <= 86400);

    /* a failure with the default error event */
    char id2[QUEUE_JOB_ID_MAX];
    T_REQUIRE(queue_job_create(q, "upload", "carol", NULL, id2, &err) == 0);
    T_CHECK(queue_job_finish(q, id2, NULL, &(hub_err){HUB_E_INVALID, "archive is corrupt"}, NULL, 5, &published, &err) == 0);
    T_CHECK(published == 1);
    T_CHECK(stat_field("jobs-done") == 1 && stat_field("jobs-failed") == 1);
    T_CHECK(queue_job_finish(q, id2, NULL, &(hub_err){HUB_E_FAILED, "again"}, NULL, 6, &published, &err) == 0);
    T_CHECK(published == 0);
    T_CHECK(queue_job_finish(q, id2, res, NULL, NULL, 6, &published, &err) == 0);
    T_CHECK(published == 0);
    T_CHECK(stat_field("jobs-done") == 1 && stat_field("jobs-failed") == 1);
    T_REQUIRE(queue_events_read(q, id2, NULL, 0, 100, &ev, &n, &err) == 0);
    T_CHECK(n == 1 && ev[0].final == 1 &&
            strcmp(ev[0].data, "{\"status\":\"error\",\"message\":\"archive is corrupt\"}") == 0);
    queue_events_free(ev, n);
    T_REQUIRE(queue_job_get(q, id2, &job, &err) == 0 && job);
    T_STREQ(json_string_value(json_object_get(job, "state")), "failed");
    T_STREQ(json_string_value(json_object_get(job, "error")), "archive is corrupt");
    T_CHECK(json_object_get(job, "result") == NULL);
    json_decref(job);

    /* missing job */
    T_CHECK(queue_job_finish(q, "0b7c52d4-3f1e-4a8b-9c6d-2e4f6a8b0c1d", res, NULL, NULL, 1,
                             &published, &err) == 0 && published == 0);
    T_CHECK(queue_job_start(q, "0b7c52d4-3f1e-4a8b-9c6d-2e4f6a8b0c1d", 1, &what, &err) == 0 &&
            what == QUEUE_START_MISSING);
    T_CHECK(stat_field("jobs-done") == 1 && stat_field("jobs-failed") == 1);
    json_decref(res);
    json_decref(res2);
    queue_close(q);
}

static long long pending_count(void)
{
    redisReply *r = redisCommand(raw, "XPENDING hub:jobs workers");
    long long v = r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 ? r->element[0]->integer : -1;
    if (r)
        freeReplyObject(r);
    return v;
}

static void test_consumer_group(void)
{
    flush();
    queue *q = qopen();
    T_REQUIRE(q);
    hub_err err;
    T_CHECK(queue_group_create(q, &err) == 0);
    T_CHECK(queue_group_create(q, &err) == 0);   /* BUSYGROUP is fine */
    char id[QUEUE_JOB_ID_MAX];
    T_REQUIRE(queue_job_create(q, "upload", "dave", NULL, id, &err) == 0);
    /* a foreign entry without a valid id is skipped (and acked) */
    redisReply *r = redisCommand(raw, "XADD hub:jobs * id nonsense");
    freeReplyObject(r);

    queue_claim c;
    int got = 0;
    T_CHECK(queue_claim_next(q, "w1", 0, &c, &got, &err) == 0 && got == 1);
    T_STREQ(c.job_id, id);
    T_CHECK(c.deliveries == 1 && queue_entry_id_valid(c.entry_id));
    queue_claim c2;
    T_CHECK(queue_claim_next(q, "w1", 0, &c2, &got, &err) == 0 && got == 0);
    T_CHECK(pending_count() == 1);
    long long t = mono_ms();
    T_CHECK(queue_claim_next(q, "w1", 200, &c2, &got, &err) == 0 && got == 0);
    T_CHECK(mono_ms() - t >= 150);
    T_CHECK(queue_heartbeat(q, "w1", c.entry_id, &err) == 0);
    T_CHECK(queue_ack(q, c.entry_id, &err) == 0);
    T_CHECK(pending_count() == 0);
    T_CHECK(queue_heartbeat(q, "w1", c.entry_id, &err) == -1);
    T_CHECK(queue_ack(q, "bad id", &err) == -1);

    /* jobs queued before the group existed are not lost */
    flush();
    T_REQUIRE(queue_job_create(q, "upload", "dave", NULL, id, &err) == 0);
    T_CHECK(queue_group_create(q, &err) == 0);
    T_CHECK(queue_claim_next(q, "w1", 0, &c, &got, &err) == 0 && got == 1);
    T_STREQ(c.job_id, id);
    /* and a group lost with a Redis restart is created again */
    flush();
    T_REQUIRE(queue_job_create(q, "upload", "dave", NULL, id, &err) == 0);
    T_CHECK(queue_claim_next(q, "w1", 0, &c, &got, &err) == 0 && got == 1);
    T_STREQ(c.job_id, id);
    queue_close(q);
}

static void test_reclaim_and_dead_letter(void)
{
    flush();
    queue *q = qopen();
    T_REQUIRE(q);
    hub_err err;
    T_REQUIRE(queue_group_create(q, &err) == 0);
    char id[QUEUE_JOB_ID_MAX];
    T_REQUIRE(queue_job_create(q, "upload", "erin", NULL, id, &err) == 0);
    queue_claim c;
    int got = 0;
    T_REQUIRE(queue_claim_next(q, "dead-worker", 0, &c, &got, &err) == 0 && got == 1);

    /* not idle long enough yet */
    T_CHECK(queue_reclaim_idle(q, "w2", 300, 3, &c, &got, &err) == 0 && got == 0);
    t_redis_sleep_ms(350);
    T_CHECK(queue_reclaim_idle(q, "w2", 300, 3, &c, &got, &err) == 0 && got == 1);
    T_STREQ(c.job_id, id);
    T_CHECK(c.deliveries == 2);
    /* the dead worker's heartbeat no longer holds it; the new owner's does */
    T_CHECK(queue_heartbeat(q, "dead-worker", c.entry_id, &err) == -1);
    T_CHECK(strstr(err.msg, "taken over") != NULL);
    t_redis_sleep_ms(350);
    T_CHECK(queue_heartbeat(q, "w2", c.entry_id, &err) == 0);
    T_CHECK(queue_reclaim_idle(q, "w3", 300, 3, &c, &got, &err) == 0 && got == 0);

    t_redis_sleep_ms(350);
    T_CHECK(queue_reclaim_idle(q, "w3", 300, 3, &c, &got, &err) == 0 && got == 1);
    T_CHECK(c.deliveries == 3);
    T_CHECK(c.over_limit == 0);
    t_redis_sleep_ms(350);
    /* a 4th delivery: handed over marked for the dead letter, still pending
     * (the caller cleans up first), never run */
    T_CHECK(queue_reclaim_idle(q, "w4", 300, 3, &c, &got, &err) == 0 && got == 1);
    T_STREQ(c.job_id, id);
    T_CHECK(c.deliveries == 4);
    T_CHECK(c.over_limit == 1);
    T_CHECK(pending_count() == 1);
    char reason[96];
    T_STREQ(queue_over_limit_reason(&c, reason, sizeof reason),
            "job abandoned after 3 deliveries");
    /* a crash before the dead letter: the next reclaim finds it again */
    t_redis_sleep_ms(350);
    T_CHECK(queue_reclaim_idle(q, "w5", 300, 3, &c, &got, &err) == 0 && got == 1);
    T_CHECK(c.deliveries == 5 && c.over_limit == 1);
    T_STREQ(queue_over_limit_reason(&c, reason, sizeof reason),
            "job abandoned after 4 deliveries");
    T_CHECK(stat_field("jobs-failed") == -1);
    T_CHECK(queue_dead_letter(q, &c, reason, &err) == 0);
    T_CHECK(pending_count() == 0);
    T_CHECK(stat_field("jobs-failed") == 1 && stat_field("jobs-done") == -1);
    T_CHECK(queue_reclaim_idle(q, "w6", 0, 3, &c, &got, &err) == 0 && got == 0);
    redisReply *r = redisCommand(raw, "XRANGE hub:jobs:dead - +");
    T_REQUIRE(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    redisReply *fv = r->element[0]->element[1];
    T_REQUIRE(fv->elements == 8);
    T_STREQ(fv->element[0]->str, "id");
    T_STREQ(fv->element[1]->str, id);
    T_STREQ(fv->element[4]->str, "deliveries");
    T_STREQ(fv->element[5]->str, "5");
    T_STREQ(fv->element[7]->str, "job abandoned after 4 deliveries");
    freeReplyObject(r);
    json_t *job = NULL;
    T_REQUIRE(queue_job_get(q, id, &job, &err) == 0 && job);
    T_STREQ(json_string_value(json_object_get(job, "state")), "failed");
    T_STREQ(json_string_value(json_object_get(job, "error")), "job abandoned after 4 deliveries");
    json_decref(job);
    char key[96];
    snprintf(key, sizeof key, "hub:job:%s", id);
    long long ttl = rint_("TTL %s", key, NULL);
    T_CHECK(ttl > 86000 && ttl <= 86400);
    queue_close(q);
}

/* queue_stats_read into a struct filled with garbage first, so that every
 * field is seen to be written. */
static int stats(queue *q, queue_stats *st, hub_err *err)
{
    memset(st, 0x5a, sizeof *st);
    return queue_stats_read(q, st, err);
}

#define STATS_ARE(st, q_, r_, c_, d_, dn_, f_) \
    ((st).queued == (q_) && (st).running == (r_) && (st).consumers == (c_) && \
     (st).dead == (d_) && (st).done == (dn_) && (st).failed == (f_))

static void test_stats(void)
{
    flush();
    queue *q = qopen();
    T_REQUIRE(q);
    hub_err err;
    queue_stats st;
    /* a Redis nobody used: zeros */
    T_CHECK(stats(q, &st, &err) == 0);
    T_CHECK(STATS_ARE(st, 0, 0, 0, 0, 0, 0));

    /* queued before any worker: every entry, no group yet */
    char id[3][QUEUE_JOB_ID_MAX];
    for (int i = 0; i < 3; i++)
        T_REQUIRE(queue_job_create(q, "upload", "gina", NULL, id[i], &err) == 0);
    T_CHECK(stats(q, &st, &err) == 0);
    T_CHECK(STATS_ARE(st, 3, 0, 0, 0, 0, 0));

    /* a worker claims two: queued is the group's lag, running the pending */
    T_REQUIRE(queue_group_create(q, &err) == 0);
    queue_claim c1, c2;
    int got = 0;
    T_REQUIRE(queue_claim_next(q, "w1", 0, &c1, &got, &err) == 0 && got == 1);
    T_REQUIRE(queue_claim_next(q, "w1", 0, &c2, &got, &err) == 0 && got == 1);
    T_CHECK(stats(q, &st, &err) == 0);
    T_CHECK(STATS_ARE(st, 1, 2, 1, 0, 0, 0));

    /* one ends done and is acked, one fails and is acked, a dead letter */
    T_CHECK(queue_job_finish(q, c1.job_id, NULL, NULL, NULL, 1, NULL, &err) == 0);
    T_CHECK(queue_ack(q, c1.entry_id, &err) == 0);
    T_CHECK(stats(q, &st, &err) == 0);
    T_CHECK(STATS_ARE(st, 1, 1, 1, 0, 1, 0));
    T_CHECK(queue_dead_letter(q, &c2, "gave up", &err) == 0);
    T_CHECK(stats(q, &st, &err) == 0);
    T_CHECK(STATS_ARE(st, 1, 0, 1, 1, 1, 1));

    /* a Redis that cannot tell the lag (an entry deleted after the last
     * delivered one): queued is counted */
    T_REQUIRE(queue_job_create(q, "upload", "gina", NULL, id[0], &err) == 0);
    redisReply *r = redisCommand(raw, "XREVRANGE hub:jobs + - COUNT 1");
    T_REQUIRE(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    redisReply *d = redisCommand(raw, "XDEL hub:jobs %s", r->element[0]->element[0]->str);
    freeReplyObject(r);
    T_CHECK(d && d->type == REDIS_REPLY_INTEGER && d->integer == 1);
    if (d)
        freeReplyObject(d);
    for (int i = 0; i < 2; i++)
        T_REQUIRE(queue_job_create(q, "upload", "gina", NULL, id[i], &err) == 0);
    r = redisCommand(raw, "XINFO GROUPS hub:jobs");
    T_CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
            r->element[0]->elements == 12 && r->element[0]->element[11]->type == REDIS_REPLY_NIL);
    if (r)
        freeReplyObject(r);
    T_CHECK(stats(q, &st, &err) == 0);
    T_CHECK(STATS_ARE(st, 3, 0, 1, 1, 1, 1));

    /* an empty stream still has its group and consumers */
    flush();
    T_REQUIRE(queue_group_create(q, &err) == 0);
    r = redisCommand(raw, "XGROUP CREATECONSUMER hub:jobs workers w7");
    T_CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer == 1);
    if (r)
        freeReplyObject(r);
    T_CHECK(stats(q, &st, &err) == 0);
    T_CHECK(STATS_ARE(st, 0, 0, 1, 0, 0, 0));

    /* a counter that is not a number: an error, and zeros */
    r = redisCommand(raw, "HSET %s jobs-failed oops", QUEUE_STATS_KEY);
    if (r)
        freeReplyObject(r);
    T_CHECK(stats(q, &st, &err) == -1);
    T_STREQ(err.msg, "queue stats: hub:stats holds a value that is not a counter");
    T_CHECK(STATS_ARE(st, 0, 0, 0, 0, 0, 0));
    /* the wrong type of key: Redis's error */
    flush();
    r = redisCommand(raw, "SET hub:jobs:dead x");
    if (r)
        freeReplyObject(r);
    T_CHECK(stats(q, &st, &err) == -1);
    T_CHECK(strncmp(err.msg, "queue stats: queue redis XLEN: WRONGTYPE", 40) == 0);
    flush();
    queue_close(q);
}

static void test_wait(void)
{
    flush();
    queue *q = qopen();
    T_REQUIRE(q);
    hub_err err;
    char id[QUEUE_JOB_ID_MAX];
    T_REQUIRE(queue_job_create(q, "upload", "frank", NULL, id, &err) == 0);
    T_CHECK(queue_job_progress(q, id, 10, "working", &err) == 0);
    int ended = -1;
    json_t *job = NULL;
    long long t = mono_ms();
    T_CHECK(queue_job_wait(q, id, 300, &ended, &job, &err) == 0);
    T_CHECK(ended == 0 && job == NULL && mono_ms() - t >= 250);

    struct delayed d = {.delay_ms = 300, .finish = 1};
    memcpy(d.id, id, sizeof d.id);
    pthread_t th;
    pthread_create(&th, NULL, delayed_writer, &d);
    t = mono_ms();
    T_CHECK(queue_job_wait(q, id, 10000, &ended, &job, &err) == 0);
    long long took = mono_ms() - t;
    pthread_join(th, NULL);
    T_CHECK(ended == 1 && took < 1500);
    T_REQUIRE(job);
    T_STREQ(json_string_value(json_object_get(job, "state")), "done");
    T_STREQ(json_string_value(json_object_get(json_object_get(job, "result"), "name")), "late.flist");
    json_decref(job);
    /* already ended: at once */
    T_CHECK(queue_job_wait(q, id, 10000, &ended, &job, &err) == 0 && ended == 1);
    json_decref(job);
    T_CHECK(queue_job_wait(q, "0b7c52d4-3f1e-4a8b-9c6d-2e4f6a8b0c1d", 100, &ended, &job, &err) == -1);
    T_STREQ(err.msg, "job 0b7c52d4-3f1e-4a8b-9c6d-2e4f6a8b0c1d not found");
    queue_close(q);
}

static void test_reconnect(void)
{
    queue *q = qopen();
    T_REQUIRE(q);
    hub_err err;
    redisReply *r = redisCommand(raw, "CLIENT KILL TYPE normal SKIPME yes");
    if (r)
        freeReplyObject(r);
    /* the first call may see the closed socket; the next one reconnects */
    queue_ping(q, &err);
    T_CHECK(queue_ping(q, &err) == 0);
    queue_close(q);
}

static void setup(void)
{
    if (t_redis_start(&srv, NULL) != 0) {
        fprintf(stderr, "cannot start redis-server\n");
        exit(1);
    }
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", srv.port);
    struct timeval tv = {2, 0};
    raw = redisConnectWithTimeout(srv.host, srv.port, tv);
    if (!raw || raw->err) {
        fprintf(stderr, "cannot connect to the test redis\n");
        exit(1);
    }
}

static void test_setup(void)
{
    setup();
}

T_MAIN(T_CASE(test_setup), T_CASE(test_ids), T_CASE(test_connect_errors),
       T_CASE(test_create_get), T_CASE(test_events), T_CASE(test_finish_once),
       T_CASE(test_consumer_group), T_CASE(test_reclaim_and_dead_letter), T_CASE(test_stats),
       T_CASE(test_wait),
       T_CASE(test_reconnect))
