/* test_job_creds.c - per-request registry credentials sealed for a job
 * (hub/job_creds.h) against a real redis-server: the round trip, nothing
 * in clear in the sealed form, the key forgotten and expired, a damaged
 * box refused. */
#include "t.h"
#include "t_redis.h"

#include "job_creds.h"

static t_redis srv;
static queue *q;

static void test_round_trip_and_forget(void)
{
    hub_err err;
    json_t *s = job_creds_seal(q, "alice", "pa:ss \xc3\xa9", 60, &err);
    T_REQUIRE(s);
    char *text = json_dumps(s, JSON_COMPACT);
    T_CHECK(strstr(text, "alice") == NULL && strstr(text, "pa:ss") == NULL);
    free(text);
    char *u = NULL, *p = NULL;
    T_REQUIRE(job_creds_open(q, s, &u, &p, &err) == 0);
    T_STREQ(u, "alice");
    T_STREQ(p, "pa:ss \xc3\xa9");
    job_creds_free_str(u);
    job_creds_free_str(p);
    job_creds_forget(q, s);
    T_CHECK(job_creds_open(q, s, &u, &p, &err) == -1 && err.code == HUB_E_INVALID);
    T_CHECK(strstr(err.msg, "expired") != NULL);
    T_CHECK(u == NULL && p == NULL);
    json_decref(s);
}

static void test_expiry(void)
{
    hub_err err;
    json_t *s = job_creds_seal(q, "bob", "pw", 1, &err);
    T_REQUIRE(s);
    t_redis_sleep_ms(2100);
    char *u = NULL, *p = NULL;
    T_CHECK(job_creds_open(q, s, &u, &p, &err) == -1);
    T_CHECK(strstr(err.msg, "expired") != NULL);
    json_decref(s);
}

static void test_damaged_and_refused(void)
{
    hub_err err;
    json_t *s = job_creds_seal(q, "carol", "pw", 60, &err);
    T_REQUIRE(s);
    char *u = NULL, *p = NULL;
    json_object_set_new(s, "box", json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    T_CHECK(job_creds_open(q, s, &u, &p, &err) == -1 && err.code == HUB_E_INVALID);
    T_CHECK(strstr(err.msg, "damaged") != NULL);
    json_object_set_new(s, "ref", json_string("../../x"));
    T_CHECK(job_creds_open(q, s, &u, &p, &err) == -1);
    T_STREQ(err.msg, "job input: malformed registry credentials");
    json_decref(s);
    char big[JOB_CREDS_FIELD_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    T_CHECK(job_creds_seal(q, big, "pw", 60, &err) == NULL && err.code == HUB_E_INVALID);
    T_CHECK(job_creds_seal(q, "u", "\xff", 60, &err) == NULL && err.code == HUB_E_INVALID);
}

int main(void)
{
    if (t_redis_start(&srv, NULL) != 0) {
        fprintf(stderr, "cannot start redis-server\n");
        return 1;
    }
    char url[128];
    snprintf(url, sizeof url, "redis://%s:%d", srv.host, srv.port);
    hub_err err;
    q = queue_connect(url, 2000, &err);
    if (!q) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    static const t_case cases[] = { T_CASE(test_round_trip_and_forget), T_CASE(test_expiry),
                                    T_CASE(test_damaged_and_refused) };
    int rc = t_run(cases, sizeof cases / sizeof cases[0]);
    queue_close(q);
    t_redis_stop(&srv);
    return rc;
}
