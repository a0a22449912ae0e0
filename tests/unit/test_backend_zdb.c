/* test_backend_zdb.c - the backend client (engine/backend.c) against the
 * real 0-db, the production content backend (t_redis.h's t_zdb_start):
 * 0-db's own stall (a pipelined command left unread in the kernel when a
 * read ends on a command boundary) is woken by a kick; pipelined SET /
 * EXISTS / GET of values of every size; namespaces with a password, a
 * read-only namespace and an unknown one (refusals, not outages: codes
 * and 0-db's words); a killed and a stopped (SIGSTOP) server are
 * HUB_E_UNAVAILABLE within the timeout.
 */
#include <signal.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "t.h"
#include "t_redis.h"

static t_redis zdb;

static backend *connect_url(const char *tmpl, int timeout_ms, hub_err *err)
{
    char s[512];
    backend_url u;
    t_port_url(s, sizeof s, tmpl, zdb.port);
    if (backend_url_parse(s, &u, err) != 0) {
        fprintf(stderr, "%s: %s\n", s, err->msg);
        abort();
    }
    return backend_connect(&u, timeout_ms, err);
}

/* One admin command on a fresh connection; returns 1 when it answered OK. */
static int admin(const char *fmt, const char *a, const char *b)
{
    struct timeval tv = { 2, 0 };
    redisContext *c = redisConnectWithTimeout("127.0.0.1", zdb.port, tv);
    redisReply *r = c && !c->err ? redisCommand(c, fmt, a, b) : NULL;
    int ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0;
    if (r)
        freeReplyObject(r);
    if (c)
        redisFree(c);
    return ok;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A SET of exactly 8192 bytes on the wire (0-db's read buffer) followed by
 * a small one, written at once: 0-db reads the first, sees a command end
 * exactly at the end of what it read, and goes back to epoll with the
 * second still in the kernel. Without a kick this times out. */
static void test_command_ending_on_read_boundary(void)
{
    hub_err err = { 0 };
    backend *b = connect_url("zdb://127.0.0.1:%d", 2000, &err);
    T_REQUIRE(b);
    /* "*3\r\n$3\r\nSET\r\n$16\r\n<16>\r\n$8147\r\n<8147>\r\n" = 8192 bytes */
    static uint8_t big[8147], small[10];
    uint8_t ids[2][16];
    randombytes_buf(big, sizeof big);
    randombytes_buf(small, sizeof small);
    randombytes_buf(ids, sizeof ids);
    const uint8_t *vals[2] = { big, small };
    size_t lens[2] = { sizeof big, sizeof small };
    for (int round = 0; round < 5; round++) {
        ids[0][0] = (uint8_t)round;
        ids[1][0] = (uint8_t)round;
        T_CHECK(backend_set(b, (const uint8_t (*)[16])ids, vals, lens, 2, &err) == 0);
        if (err.msg[0])
            fprintf(stderr, "round %d: %s\n", round, err.msg);
        uint8_t *got[2];
        size_t glen[2];
        T_REQUIRE(backend_get(b, (const uint8_t (*)[16])ids, 2, got, glen, &err) == 0);
        T_CHECK(got[0] && glen[0] == sizeof big && memcmp(got[0], big, sizeof big) == 0);
        T_CHECK(got[1] && glen[1] == sizeof small && memcmp(got[1], small, sizeof small) == 0);
        free(got[0]);
        free(got[1]);
    }
    backend_close(b);
}

/* 600 values of every size up to 600 KB (0-db takes up to 8 MiB), in
 * several pipeline windows: stored, found, read back. */
static void test_pipelined_round_trip(void)
{
    enum { N = 600 };
    hub_err err = { 0 };
    backend *b = connect_url("zdb://127.0.0.1:%d/default", 5000, &err);
    T_REQUIRE(b);
    static uint8_t ids[N][16];
    uint8_t **vals = calloc(N, sizeof *vals);
    size_t *lens = calloc(N, sizeof *lens);
    uint8_t *present = calloc(N, 1);
    T_REQUIRE(vals && lens && present);
    randombytes_buf(ids, sizeof ids);
    for (int i = 0; i < N; i++) {
        lens[i] = 1 + randombytes_uniform(i % 10 == 0 ? 600000 : 20000);
        vals[i] = malloc(lens[i]);
        randombytes_buf(vals[i], lens[i]);
    }
    T_CHECK(backend_exists(b, (const uint8_t (*)[16])ids, N, present, &err) == 0);
    size_t n_present = 0;
    for (int i = 0; i < N; i++)
        n_present += present[i];
    T_CHECK(n_present == 0);
    T_CHECK(backend_set(b, (const uint8_t (*)[16])ids, (const uint8_t *const *)vals, lens, N, &err) == 0);
    T_CHECK(backend_exists(b, (const uint8_t (*)[16])ids, N, present, &err) == 0);
    for (int i = 0; i < N; i++)
        T_CHECK(present[i] == 1);
    uint8_t **got = calloc(N, sizeof *got);
    size_t *glen = calloc(N, sizeof *glen);
    T_REQUIRE(backend_get(b, (const uint8_t (*)[16])ids, N, got, glen, &err) == 0);
    int same = 0;
    for (int i = 0; i < N; i++) {
        same += got[i] && glen[i] == lens[i] && memcmp(got[i], vals[i], lens[i]) == 0;
        free(got[i]);
        free(vals[i]);
    }
    T_CHECK(same == N);
    free(got);
    free(glen);
    free(vals);
    free(lens);
    free(present);
    T_CHECK(backend_ping(b, &err) == 0);
    backend_close(b);
}

static void test_namespaces(void)
{
    hub_err err = { 0 };
    T_REQUIRE(admin("NSNEW %s", "secret", NULL));
    T_REQUIRE(admin("NSSET %s password %s", "secret", "pw 1"));
    T_REQUIRE(admin("NSSET %s public %s", "secret", "0"));
    /* with the password: reads and writes */
    backend *b = connect_url("zdb://:pw 1@127.0.0.1:%d/secret", 2000, &err);
    T_REQUIRE(b);
    uint8_t id[1][16] = { { 1, 2, 3 } };
    const uint8_t *v[1] = { (const uint8_t *)"value" };
    size_t l[1] = { 5 };
    T_CHECK(backend_set(b, (const uint8_t (*)[16])id, v, l, 1, &err) == 0);
    backend_close(b);
    /* without it, or a wrong one: refused with 0-db's words */
    b = connect_url("zdb://127.0.0.1:%d/secret", 2000, &err);
    T_CHECK(b == NULL && err.code == HUB_E_REFUSED);
    T_CHECK(strstr(err.msg, "SELECT secret: Namespace protected and private") != NULL);
    b = connect_url("zdb://:wrong@127.0.0.1:%d/secret", 2000, &err);
    T_CHECK(b == NULL && err.code == HUB_E_REFUSED && strstr(err.msg, "Access denied") != NULL);
    /* an unknown namespace: refused at once, not retried as an outage */
    double t0 = now_s();
    b = connect_url("zdb://127.0.0.1:%d/nosuchns", 2000, &err);
    T_CHECK(b == NULL && err.code == HUB_E_REFUSED);
    T_CHECK(strstr(err.msg, "SELECT nosuchns: Namespace not found") != NULL);
    T_CHECK(now_s() - t0 < 1.0);
    /* a public namespace selected without its password is read-only */
    T_REQUIRE(admin("NSNEW %s", "pubro", NULL));
    T_REQUIRE(admin("NSSET %s password %s", "pubro", "x"));
    b = connect_url("zdb://127.0.0.1:%d/pubro", 2000, &err);
    T_REQUIRE(b);
    T_CHECK(backend_set(b, (const uint8_t (*)[16])id, v, l, 1, &err) == -1);
    T_CHECK(err.code == HUB_E_REFUSED && strstr(err.msg, "read-only") != NULL);
    backend_close(b);
}

/* Runs last: stops the server. */
static void test_stopped_and_killed_server(void)
{
    hub_err err = { 0 };
    backend *b = connect_url("zdb://127.0.0.1:%d", 1000, &err);
    T_REQUIRE(b);
    kill(zdb.pid, SIGSTOP);
    double t0 = now_s();
    T_CHECK(backend_ping(b, &err) == -1);
    T_CHECK(err.code == HUB_E_UNAVAILABLE && strstr(err.msg, "timed out") != NULL);
    T_CHECK(now_s() - t0 < 3.0);
    backend_close(b);
    kill(zdb.pid, SIGCONT);
    b = connect_url("zdb://127.0.0.1:%d", 1000, &err);
    T_REQUIRE(b);
    t_redis_kill(&zdb);
    uint8_t id[1][16] = { { 9 } };
    uint8_t present[1];
    T_CHECK(backend_exists(b, (const uint8_t (*)[16])id, 1, present, &err) == -1);
    T_CHECK(err.code == HUB_E_UNAVAILABLE);
    backend_close(b);
    T_CHECK(connect_url("zdb://127.0.0.1:%d", 1000, &err) == NULL);
    T_CHECK(err.code == HUB_E_UNAVAILABLE && strstr(err.msg, "connection refused") != NULL);
}

int main(void)
{
    t_zdb_require();
    if (sodium_init() < 0 || t_zdb_start(&zdb) != 0) {
        fprintf(stderr, "cannot start 0-db\n");
        return 1;
    }
    static const t_case cases[] = {
        T_CASE(test_command_ending_on_read_boundary), T_CASE(test_pipelined_round_trip),
        T_CASE(test_namespaces), T_CASE(test_stopped_and_killed_server),
    };
    int rc = t_run(cases, sizeof cases / sizeof cases[0]);
    t_redis_stop(&zdb);
    return rc;
}
