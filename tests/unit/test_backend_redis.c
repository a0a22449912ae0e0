/* test_backend_redis.c - the backend client (engine/backend.c) against a
 * real redis-server (t_redis.h): pipelined EXISTS / SET / GET of real
 * encrypted chunks under their raw 16-byte ids, batches larger than one
 * pipeline window, database selection, AUTH with requirepass (redis
 * password and 0-db-style token), SELECT failures with the server's text,
 * connection refused, and a server killed in the middle of a session
 * (clear errors, no SIGPIPE death, no crash).
 */
#include <signal.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "chunk.h"
#include "flist_model.h"
#include "t.h"
#include "t_redis.h"

static t_redis srv, srv_pw;
static int ready;  /* both servers up and the chunks made */

#define NCHUNKS 100

/* NCHUNKS real chunks (random plaintexts of various sizes, encrypted) */
static uint8_t ids[NCHUNKS][16];
static uint8_t *vals[NCHUNKS];
static size_t lens[NCHUNKS];

static void make_chunks(void)
{
    uint8_t *plain = malloc(70000);
    for (int i = 0; i < NCHUNKS; i++) {
        size_t n = 1 + (size_t)i * 697;  /* 1 .. ~69 KB */
        uint8_t key[16];
        randombytes_buf(plain, n);
        vals[i] = malloc(chunk_cipher_bound(n));
        if (!plain || !vals[i] || chunk_encrypt(plain, n, vals[i], &lens[i], ids[i], key) != 0) {
            fprintf(stderr, "cannot make test chunks\n");
            abort();
        }
    }
    free(plain);
}

static void url_for(const t_redis *r, const char *tmpl, backend_url *u)
{
    char s[512];
    hub_err err = { 0 };
    t_port_url(s, sizeof s, tmpl, r->port);
    if (backend_url_parse(s, u, &err) != 0) {
        fprintf(stderr, "%s: %s\n", s, err.msg);
        abort();
    }
}

static backend *connect_fmt(const t_redis *r, const char *fmt, hub_err *err)
{
    backend_url u;
    url_for(r, fmt, &u);
    return backend_connect(&u, 2000, err);
}

/* A plain hiredis connection, to look at what the client stored. */
static redisReply *raw_command(const t_redis *r, const char *password, int db, const char *fmt,
                               const void *arg, size_t arglen)
{
    redisContext *c = redisConnect(r->host, r->port);
    redisReply *rep = NULL;
    if (c && !c->err) {
        if (password)
            freeReplyObject(redisCommand(c, "AUTH %s", password));
        freeReplyObject(redisCommand(c, "SELECT %d", db));
        rep = arg ? redisCommand(c, fmt, arg, arglen) : redisCommand(c, fmt);
    }
    if (c)
        redisFree(c);
    return rep;
}

static long long raw_dbsize(const t_redis *r, const char *password, int db)
{
    redisReply *rep = raw_command(r, password, db, "DBSIZE", NULL, 0);
    long long n = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    if (rep)
        freeReplyObject(rep);
    return n;
}

static void test_exists_set_get(void)
{
    T_REQUIRE(ready);
    hub_err err = { 0 };
    backend *b = connect_fmt(&srv, "redis://127.0.0.1:%d", &err);
    T_REQUIRE(b);
    T_STREQ(err.msg, "");

    uint8_t present[NCHUNKS];
    memset(present, 7, sizeof present);
    T_REQUIRE(backend_exists(b, (const uint8_t (*)[16])ids, NCHUNKS, present, &err) == 0);
    int n = 0;
    for (int i = 0; i < NCHUNKS; i++)
        n += present[i] == 0;
    T_CHECK(n == NCHUNKS);

    /* one pipelined call for all 100 */
    T_REQUIRE(backend_set(b, (const uint8_t (*)[16])ids, (const uint8_t *const *)vals, lens,
                          NCHUNKS, &err) == 0);
    T_CHECK(raw_dbsize(&srv, NULL, 0) == NCHUNKS);

    memset(present, 7, sizeof present);
    T_REQUIRE(backend_exists(b, (const uint8_t (*)[16])ids, NCHUNKS, present, &err) == 0);
    n = 0;
    for (int i = 0; i < NCHUNKS; i++)
        n += present[i] == 1;
    T_CHECK(n == NCHUNKS);

    /* keys are the 16 raw id bytes */
    redisReply *rep = raw_command(&srv, NULL, 0, "GET %b", ids[42], 16);
    T_CHECK(rep && rep->type == REDIS_REPLY_STRING && rep->len == lens[42] &&
            memcmp(rep->str, vals[42], lens[42]) == 0);
    if (rep)
        freeReplyObject(rep);

    /* get back identical bytes; a missing id in the middle gives NULL */
    uint8_t want[NCHUNKS + 1][16];
    memcpy(want, ids, sizeof ids);
    memset(want[NCHUNKS], 0xee, 16);
    uint8_t *got[NCHUNKS + 1];
    size_t glen[NCHUNKS + 1];
    memcpy(want[NCHUNKS], want[50], 16);
    memset(want[50], 0xee, 16);
    T_REQUIRE(backend_get(b, (const uint8_t (*)[16])want, NCHUNKS + 1, got, glen, &err) == 0);
    int same = 0;
    for (int i = 0; i < NCHUNKS; i++)
        if (i != 50)
            same += got[i] && glen[i] == lens[i] && memcmp(got[i], vals[i], lens[i]) == 0;
    T_CHECK(same == NCHUNKS - 1);
    T_CHECK(got[50] == NULL && glen[50] == 0);
    T_CHECK(got[NCHUNKS] && glen[NCHUNKS] == lens[50] && memcmp(got[NCHUNKS], vals[50], lens[50]) == 0);
    for (int i = 0; i <= NCHUNKS; i++)
        free(got[i]);

    /* the values decrypt (they really are chunks) */
    uint8_t *one = NULL;
    size_t onelen = 0;
    T_REQUIRE(backend_get(b, (const uint8_t (*)[16])ids + 7, 1, &one, &onelen, &err) == 0);
    T_CHECK(one && onelen == lens[7]);
    free(one);

    /* setting again is accepted (Redis answers OK), empty batches are no-ops */
    T_CHECK(backend_set(b, (const uint8_t (*)[16])ids, (const uint8_t *const *)vals, lens, 3, &err) == 0);
    T_CHECK(backend_exists(b, NULL, 0, NULL, &err) == 0);
    T_CHECK(backend_set(b, NULL, NULL, NULL, 0, &err) == 0);
    T_CHECK(backend_get(b, NULL, 0, NULL, NULL, &err) == 0);
    backend_close(b);
    backend_close(NULL);
}

/* Batches bigger than one pipeline window (commands and bytes). */
static void test_large_batches(void)
{
    T_REQUIRE(ready);
    hub_err err = { 0 };
    backend *b = connect_fmt(&srv, "redis://127.0.0.1:%d/1", &err);
    T_REQUIRE(b);

    enum { NK = 5000, NB = 80 };
    uint8_t (*keys)[16] = malloc(NK * 16);
    uint8_t *present = malloc(NK);
    T_REQUIRE(keys && present);
    randombytes_buf(keys, NK * 16);
    T_REQUIRE(backend_exists(b, (const uint8_t (*)[16])keys, NK, present, &err) == 0);
    int zero = 0;
    for (int i = 0; i < NK; i++)
        zero += present[i] == 0;
    T_CHECK(zero == NK);

    /* 80 values of 512 KiB = 40 MiB, more than one window */
    uint8_t *big[NB];
    size_t blen[NB];
    for (int i = 0; i < NB; i++) {
        big[i] = malloc(FLIST_CHUNK_SIZE);
        T_REQUIRE(big[i]);
        memset(big[i], i, FLIST_CHUNK_SIZE);
        big[i][0] = 0xab;
        blen[i] = FLIST_CHUNK_SIZE;
    }
    T_REQUIRE(backend_set(b, (const uint8_t (*)[16])keys, (const uint8_t *const *)big, blen, NB, &err) == 0);
    T_CHECK(raw_dbsize(&srv, NULL, 1) == NB);
    T_REQUIRE(backend_exists(b, (const uint8_t (*)[16])keys, NK, present, &err) == 0);
    int one = 0;
    for (int i = 0; i < NK; i++)
        one += present[i] == (i < NB);
    T_CHECK(one == NK);

    uint8_t *got[NB];
    size_t glen[NB];
    T_REQUIRE(backend_get(b, (const uint8_t (*)[16])keys, NB, got, glen, &err) == 0);
    int same = 0;
    for (int i = 0; i < NB; i++) {
        same += got[i] && glen[i] == FLIST_CHUNK_SIZE && memcmp(got[i], big[i], FLIST_CHUNK_SIZE) == 0;
        free(got[i]);
        free(big[i]);
    }
    T_CHECK(same == NB);
    free(keys);
    free(present);
    backend_close(b);
}

/* redis://host:port/3 works in database 3 only. */
static void test_select_db(void)
{
    T_REQUIRE(ready);
    hub_err err = { 0 };
    backend *b3 = connect_fmt(&srv, "redis://127.0.0.1:%d/3", &err);
    backend *b0 = connect_fmt(&srv, "redis://127.0.0.1:%d/0", &err);
    T_REQUIRE(b3 && b0);

    uint8_t present[2] = { 9, 9 };
    T_REQUIRE(backend_exists(b3, (const uint8_t (*)[16])ids, 2, present, &err) == 0);
    T_CHECK(present[0] == 0 && present[1] == 0);  /* they live in db 0 */

    uint8_t key[1][16];
    memset(key[0], 0x33, 16);
    const uint8_t *v[1] = { (const uint8_t *)"in db three" };
    size_t l[1] = { 11 };
    T_REQUIRE(backend_set(b3, (const uint8_t (*)[16])key, v, l, 1, &err) == 0);
    T_REQUIRE(backend_exists(b3, (const uint8_t (*)[16])key, 1, present, &err) == 0);
    T_CHECK(present[0] == 1);
    T_REQUIRE(backend_exists(b0, (const uint8_t (*)[16])key, 1, present, &err) == 0);
    T_CHECK(present[0] == 0);
    T_CHECK(raw_dbsize(&srv, NULL, 3) == 1);

    /* the 0-db namespace path reaches Redis as SELECT <ns>: its error text */
    backend *bz = connect_fmt(&srv, "zdb://127.0.0.1:%d/myns", &err);
    T_CHECK(bz == NULL);
    char want[256];
    snprintf(want, sizeof want,
             "backend 127.0.0.1:%d: SELECT myns: ERR value is not an integer or out of range", srv.port);
    T_STREQ(err.msg, want);
    /* SELECT <ns> <password> has three arguments: Redis refuses it */
    bz = connect_fmt(&srv, "zdb://:nspw@127.0.0.1:%d/5", &err);
    T_CHECK(bz == NULL);
    snprintf(want, sizeof want,
             "backend 127.0.0.1:%d: SELECT 5: ERR wrong number of arguments for 'select' command", srv.port);
    T_STREQ(err.msg, want);
    /* "default" sends no SELECT at all */
    bz = connect_fmt(&srv, "zdb://127.0.0.1:%d/default", &err);
    T_CHECK(bz != NULL);
    backend_close(bz);

    backend_close(b3);
    backend_close(b0);
}

static void test_auth(void)
{
    T_REQUIRE(ready);
    hub_err err = { 0 };
    char want[256];

    /* no password: connecting works (no command sent), the first command is refused */
    backend *b = connect_fmt(&srv_pw, "redis://127.0.0.1:%d", &err);
    T_REQUIRE(b);
    uint8_t present[1];
    T_CHECK(backend_exists(b, (const uint8_t (*)[16])ids, 1, present, &err) == -1);
    char idhex[33];
    sodium_bin2hex(idhex, sizeof idhex, ids[0], 16);
    snprintf(want, sizeof want, "backend 127.0.0.1:%d: EXISTS %s: NOAUTH Authentication required.",
             srv_pw.port, idhex);
    T_STREQ(err.msg, want);
    backend_close(b);

    /* a database but no password: SELECT is refused */
    b = connect_fmt(&srv_pw, "redis://127.0.0.1:%d/2", &err);
    T_CHECK(b == NULL);
    snprintf(want, sizeof want, "backend 127.0.0.1:%d: SELECT 2: NOAUTH Authentication required.",
             srv_pw.port);
    T_STREQ(err.msg, want);

    /* wrong password */
    b = connect_fmt(&srv_pw, "redis://:wrong@127.0.0.1:%d/2", &err);
    T_CHECK(b == NULL);
    snprintf(want, sizeof want,
             "backend 127.0.0.1:%d: AUTH: WRONGPASS invalid username-password pair or user is disabled.",
             srv_pw.port);
    T_STREQ(err.msg, want);
    T_CHECK(strstr(err.msg, "wrong@") == NULL);

    /* the right one (percent-escaped space) */
    b = connect_fmt(&srv_pw, "redis://:s3cret%20pw@127.0.0.1:%d/2", &err);
    T_REQUIRE(b);
    T_REQUIRE(backend_set(b, (const uint8_t (*)[16])ids, (const uint8_t *const *)vals, lens, 10, &err) == 0);
    T_CHECK(raw_dbsize(&srv_pw, "s3cret pw", 2) == 10);
    backend_close(b);

    /* the 0-db form: AUTH <token>, namespace default (no SELECT) */
    b = connect_fmt(&srv_pw, "zdb://127.0.0.1:%d/default?token=s3cret%20pw", &err);
    T_REQUIRE(b);
    T_REQUIRE(backend_set(b, (const uint8_t (*)[16])ids + 10, (const uint8_t *const *)vals + 10,
                          lens + 10, 5, &err) == 0);
    T_CHECK(raw_dbsize(&srv_pw, "s3cret pw", 0) == 5);
    backend_close(b);

    /* and from the §6.3 JSON */
    backend_url u;
    char json[256];
    snprintf(json, sizeof json, "{\"host\": \"127.0.0.1\", \"port\": %d, \"token\": \"s3cret pw\"}",
             srv_pw.port);
    T_REQUIRE(backend_url_from_json(json, &u, &err) == 0);
    b = backend_connect(&u, 0, &err);
    T_REQUIRE(b);
    T_REQUIRE(backend_exists(b, (const uint8_t (*)[16])ids + 10, 1, present, &err) == 0);
    T_CHECK(present[0] == 1);
    backend_close(b);
}

static void test_connection_refused(void)
{
    backend_url u;
    hub_err err = { 0 };
    int port = t_redis_free_port();
    T_REQUIRE(port > 0);
    char s[64], want[128];
    snprintf(s, sizeof s, "zdb://127.0.0.1:%d", port);
    T_REQUIRE(backend_url_parse(s, &u, &err) == 0);
    T_CHECK(backend_connect(&u, 1000, &err) == NULL);
    snprintf(want, sizeof want, "backend 127.0.0.1:%d: connection refused", port);
    T_STREQ(err.msg, want);

    /* IPv6 addresses are shown in brackets */
    snprintf(s, sizeof s, "redis://[::1]:%d", port);
    T_REQUIRE(backend_url_parse(s, &u, &err) == 0);
    T_CHECK(backend_connect(&u, 1000, &err) == NULL);
    snprintf(want, sizeof want, "backend [::1]:%d: ", port);
    T_CHECK(strncmp(err.msg, want, strlen(want)) == 0);
}

/* The server dies mid-session: every call fails with a message, the
 * process survives (SIGPIPE default disposition kept on purpose). */
static void test_server_killed(void)
{
    T_REQUIRE(ready);
    static t_redis tmp;  /* registered for cleanup at exit: must outlive this frame */
    hub_err err = { 0 };
    T_REQUIRE(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
    T_REQUIRE(t_redis_start(&tmp, NULL) == 0);
    backend *b = connect_fmt(&tmp, "redis://127.0.0.1:%d", &err);
    backend *b2 = connect_fmt(&tmp, "redis://127.0.0.1:%d", &err);
    T_REQUIRE(b && b2);
    T_REQUIRE(backend_set(b, (const uint8_t (*)[16])ids, (const uint8_t *const *)vals, lens, 5, &err) == 0);

    t_redis_kill(&tmp);

    uint8_t present[NCHUNKS];
    char prefix[128];
    snprintf(prefix, sizeof prefix, "backend 127.0.0.1:%d: EXISTS: ", tmp.port);
    T_CHECK(backend_exists(b, (const uint8_t (*)[16])ids, NCHUNKS, present, &err) == -1);
    T_CHECK(strncmp(err.msg, prefix, strlen(prefix)) == 0);
    fprintf(stderr, "after kill: %s\n", err.msg);
    T_CHECK(backend_set(b, (const uint8_t (*)[16])ids, (const uint8_t *const *)vals, lens, 1, &err) == -1);
    snprintf(prefix, sizeof prefix, "backend 127.0.0.1:%d: connection unusable after an earlier error",
             tmp.port);
    T_STREQ(err.msg, prefix);

    /* many megabytes into a dead socket: EPIPE, not death by SIGPIPE */
    enum { NB = 40 };
    uint8_t *big[NB];
    size_t blen[NB];
    uint8_t (*keys)[16] = calloc(NB, 16);
    T_REQUIRE(keys);
    for (int i = 0; i < NB; i++) {
        big[i] = calloc(1, FLIST_CHUNK_SIZE);
        T_REQUIRE(big[i]);
        blen[i] = FLIST_CHUNK_SIZE;
        keys[i][0] = (uint8_t)i;
    }
    T_CHECK(backend_set(b2, (const uint8_t (*)[16])keys, (const uint8_t *const *)big, blen, NB, &err) == -1);
    snprintf(prefix, sizeof prefix, "backend 127.0.0.1:%d: SET: ", tmp.port);
    T_CHECK(strncmp(err.msg, prefix, strlen(prefix)) == 0);
    fprintf(stderr, "set after kill: %s\n", err.msg);
    uint8_t *got[1];
    size_t glen[1];
    T_CHECK(backend_get(b2, (const uint8_t (*)[16])keys, 1, got, glen, &err) == -1);
    T_CHECK(got[0] == NULL);
    for (int i = 0; i < NB; i++)
        free(big[i]);
    free(keys);
    backend_close(b);
    backend_close(b2);
    t_redis_stop(&tmp);

    /* reconnecting to the dead port: refused */
    T_CHECK(connect_fmt(&tmp, "redis://127.0.0.1:%d", &err) == NULL);
    snprintf(prefix, sizeof prefix, "backend 127.0.0.1:%d: connection refused", tmp.port);
    T_STREQ(err.msg, prefix);
}

/* A server that stops answering (SIGSTOP): the call fails after the
 * timeout instead of hanging. */
static void test_timeout(void)
{
    T_REQUIRE(ready);
    hub_err err = { 0 };
    backend *b = connect_fmt(&srv, "redis://127.0.0.1:%d", &err);
    T_REQUIRE(b);
    backend_url u;
    url_for(&srv, "redis://127.0.0.1:%d", &u);
    T_REQUIRE(kill(srv.pid, SIGSTOP) == 0);
    uint8_t present[1];
    int rc = backend_exists(b, (const uint8_t (*)[16])ids, 1, present, &err);
    /* connecting still works (the kernel completes the handshake), the
     * first command times out */
    backend *b2 = backend_connect(&u, 300, NULL);
    hub_err err2 = { 0 };
    int rc2 = b2 ? backend_exists(b2, (const uint8_t (*)[16])ids, 1, present, &err2) : -1;
    kill(srv.pid, SIGCONT);
    T_CHECK(rc == -1);
    char want[128];
    snprintf(want, sizeof want, "backend 127.0.0.1:%d: EXISTS: timed out", srv.port);
    T_STREQ(err.msg, want);
    T_CHECK(b2 != NULL);
    T_CHECK(rc2 == -1);
    T_STREQ(err2.msg, want);
    backend_close(b);
    backend_close(b2);
}

static void test_setup(void)
{
    T_REQUIRE(t_redis_start(&srv, NULL) == 0);
    T_REQUIRE(t_redis_start(&srv_pw, "s3cret pw") == 0);
    make_chunks();
    ready = 1;
}

static void test_teardown(void)
{
    t_redis_stop(&srv);
    t_redis_stop(&srv_pw);
    for (int i = 0; i < NCHUNKS; i++)
        free(vals[i]);
    T_CHECK(srv.pid == 0 && srv.dir[0] == '\0');
}

T_MAIN(T_CASE(test_setup), T_CASE(test_exists_set_get), T_CASE(test_large_batches),
       T_CASE(test_select_db), T_CASE(test_auth), T_CASE(test_connection_refused),
       T_CASE(test_server_killed), T_CASE(test_timeout), T_CASE(test_teardown))
