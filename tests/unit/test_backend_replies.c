/* test_backend_replies.c - the reply checks of the backend client
 * (backend_check_set_reply, backend_check_ok_reply in engine/backend.c) fed
 * with the replies 0-db and Redis send (FLIST-FORMAT.md §6): SET answered by
 * the key as a bulk string (0-db), nil (0-db, identical data already there),
 * +OK (Redis), error replies; AUTH / SELECT answers. Each reply is built
 * twice: by hand as a redisReply, and from the raw RESP bytes through
 * hiredis' own reader (what the client really sees on the wire). There is
 * no fake 0-db server (ARCHITECTURE.md "Backends").
 */
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <string.h>

#include "backend.h"
#include "t.h"

static const uint8_t ID[16] = { 0xa5, 0x14, 0x7f, 0x6e, 0x7c, 0xac, 0x3a, 0x70,
                                0x76, 0xf9, 0x42, 0xcb, 0x5e, 0x00, 0xd8, 0x96 };
#define ID_HEX "a5147f6e7cac3a7076f942cb5e00d896"

static redisReply make(int type, const char *str, size_t len)
{
    redisReply r;
    memset(&r, 0, sizeof r);
    r.type = type;
    r.str = (char *)str;
    r.len = len;
    return r;
}

/* Parses one RESP reply from raw bytes with hiredis; caller frees it. */
static redisReply *from_wire(const char *bytes, size_t n)
{
    redisReader *rd = redisReaderCreate();
    void *reply = NULL;
    if (!rd)
        return NULL;
    if (redisReaderFeed(rd, bytes, n) != REDIS_OK || redisReaderGetReply(rd, &reply) != REDIS_OK)
        reply = NULL;
    redisReaderFree(rd);
    return reply;
}

/* Checks a SET reply given as RESP bytes; want = NULL means success. */
static void set_wire(const char *bytes, size_t n, const char *want)
{
    redisReply *r = from_wire(bytes, n);
    hub_err err = { 0 };
    T_REQUIRE(r);
    if (!want) {
        T_CHECK(backend_check_set_reply(r, ID, &err) == 0);
        T_STREQ(err.msg, "");
    } else {
        T_CHECK(backend_check_set_reply(r, ID, &err) == -1);
        T_STREQ(err.msg, want);
    }
    freeReplyObject(r);
}

static void ok_wire(const char *bytes, size_t n, const char *what, const char *want)
{
    redisReply *r = from_wire(bytes, n);
    hub_err err = { 0 };
    T_REQUIRE(r);
    if (!want) {
        T_CHECK(backend_check_ok_reply(r, what, &err) == 0);
        T_STREQ(err.msg, "");
    } else {
        T_CHECK(backend_check_ok_reply(r, what, &err) == -1);
        T_STREQ(err.msg, want);
    }
    freeReplyObject(r);
}

static void test_set_replies_by_hand(void)
{
    hub_err err = { 0 };
    redisReply r;

    /* 0-db stored it: the key comes back as a bulk string */
    r = make(REDIS_REPLY_STRING, (const char *)ID, 16);
    T_CHECK(backend_check_set_reply(&r, ID, &err) == 0);
    /* 0-db: identical data was already there */
    r = make(REDIS_REPLY_NIL, NULL, 0);
    T_CHECK(backend_check_set_reply(&r, ID, &err) == 0);
    /* Redis */
    r = make(REDIS_REPLY_STATUS, "OK", 2);
    T_CHECK(backend_check_set_reply(&r, ID, &err) == 0);
    T_STREQ(err.msg, "");

    /* another key echoed back */
    uint8_t other[16];
    memcpy(other, ID, 16);
    other[15] ^= 1;
    r = make(REDIS_REPLY_STRING, (const char *)other, 16);
    T_CHECK(backend_check_set_reply(&r, ID, &err) == -1);
    T_STREQ(err.msg, "SET " ID_HEX ": invalid response (string \"\\xa5\\x14\\x7fn|\\xac:pv\\xf9B\\xcb^\\x00\\xd8\\x97\")");

    /* a prefix of the key, the empty string */
    r = make(REDIS_REPLY_STRING, (const char *)ID, 15);
    T_CHECK(backend_check_set_reply(&r, ID, &err) == -1);
    r = make(REDIS_REPLY_STRING, "", 0);
    T_CHECK(backend_check_set_reply(&r, ID, &err) == -1);
    T_STREQ(err.msg, "SET " ID_HEX ": invalid response (string \"\")");

    /* errors carry the server's text */
    r = make(REDIS_REPLY_ERROR, "ERR namespace is in read-only mode", 34);
    T_CHECK(backend_check_set_reply(&r, ID, &err) == -1);
    T_STREQ(err.msg, "SET " ID_HEX ": ERR namespace is in read-only mode");

    r = make(REDIS_REPLY_STATUS, "QUEUED", 6);
    T_CHECK(backend_check_set_reply(&r, ID, &err) == -1);
    T_STREQ(err.msg, "SET " ID_HEX ": invalid response (status \"QUEUED\")");

    r = make(REDIS_REPLY_INTEGER, NULL, 0);
    r.integer = 1;
    T_CHECK(backend_check_set_reply(&r, ID, &err) == -1);
    T_STREQ(err.msg, "SET " ID_HEX ": invalid response (integer 1)");

    r = make(REDIS_REPLY_ARRAY, NULL, 0);
    T_CHECK(backend_check_set_reply(&r, ID, &err) == -1);
    T_STREQ(err.msg, "SET " ID_HEX ": invalid response (array of 0)");

    T_CHECK(backend_check_set_reply(NULL, ID, &err) == -1);
    T_STREQ(err.msg, "SET " ID_HEX ": no reply");

    /* a NULL err is allowed */
    r = make(REDIS_REPLY_ERROR, "ERR x", 5);
    T_CHECK(backend_check_set_reply(&r, ID, NULL) == -1);

    /* a very long error is cut, control bytes escaped */
    char longerr[1000];
    memset(longerr, 'E', sizeof longerr);
    longerr[3] = '\r';
    r = make(REDIS_REPLY_ERROR, longerr, sizeof longerr);
    T_CHECK(backend_check_set_reply(&r, ID, &err) == -1);
    T_CHECK(strncmp(err.msg, "SET " ID_HEX ": EEE\\x0dEEE", 47) == 0);
    T_CHECK(strlen(err.msg) < 300);
    T_CHECK(strcmp(err.msg + strlen(err.msg) - 3, "...") == 0);
}

static void test_set_replies_on_the_wire(void)
{
    char wire[64];
    memcpy(wire, "$16\r\n", 5);
    memcpy(wire + 5, ID, 16);
    memcpy(wire + 21, "\r\n", 2);
    set_wire(wire, 23, NULL);                                 /* 0-db: the key */
    set_wire("$-1\r\n", 5, NULL);                             /* 0-db: nil */
    set_wire("+OK\r\n", 5, NULL);                             /* Redis */
    set_wire("$2\r\nOK\r\n", 8, NULL);                        /* OK as a bulk string */
    set_wire("-ERR no space left on this namespace\r\n", 38,
             "SET " ID_HEX ": ERR no space left on this namespace");
    set_wire("-Permission denied\r\n", 20, "SET " ID_HEX ": Permission denied");
    set_wire(":1\r\n", 4, "SET " ID_HEX ": invalid response (integer 1)");
    set_wire("+OKAY\r\n", 7, "SET " ID_HEX ": invalid response (status \"OKAY\")");
    set_wire("$3\r\nabc\r\n", 9, "SET " ID_HEX ": invalid response (string \"abc\")");
    set_wire("*0\r\n", 4, "SET " ID_HEX ": invalid response (array of 0)");
}

static void test_ok_replies(void)
{
    hub_err err = { 0 };
    redisReply r = make(REDIS_REPLY_STATUS, "OK", 2);
    T_CHECK(backend_check_ok_reply(&r, "AUTH", &err) == 0);
    r = make(REDIS_REPLY_STRING, "OK", 2);
    T_CHECK(backend_check_ok_reply(&r, "AUTH", &err) == 0);
    T_STREQ(err.msg, "");
    r = make(REDIS_REPLY_STATUS, "O", 1);
    T_CHECK(backend_check_ok_reply(&r, "AUTH", &err) == -1);
    T_STREQ(err.msg, "AUTH: unexpected reply (status \"O\")");
    T_CHECK(backend_check_ok_reply(NULL, "SELECT ns", &err) == -1);
    T_STREQ(err.msg, "SELECT ns: no reply");

    /* 0-db's answers to AUTH and SELECT, on the wire */
    ok_wire("+OK\r\n", 5, "AUTH", NULL);
    ok_wire("+OK\r\n", 5, "SELECT myns", NULL);
    ok_wire("-Access denied\r\n", 16, "AUTH", "AUTH: Access denied");
    ok_wire("-Namespace not found\r\n", 22, "SELECT nope", "SELECT nope: Namespace not found");
    ok_wire("-Permission denied\r\n", 20, "SELECT myns", "SELECT myns: Permission denied");
    /* what zflist hits against Redis (§6.1) */
    ok_wire("-ERR value is not an integer or out of range\r\n", 46, "SELECT default",
            "SELECT default: ERR value is not an integer or out of range");
    /* Redis with requirepass */
    ok_wire("-NOAUTH Authentication required.\r\n", 34, "SELECT 3",
            "SELECT 3: NOAUTH Authentication required.");
    ok_wire("-WRONGPASS invalid username-password pair or user is disabled.\r\n", 64, "AUTH",
            "AUTH: WRONGPASS invalid username-password pair or user is disabled.");
    ok_wire("+OKAY\r\n", 7, "AUTH", "AUTH: unexpected reply (status \"OKAY\")");
    ok_wire("$-1\r\n", 5, "AUTH", "AUTH: unexpected reply (nil)");
    ok_wire(":0\r\n", 4, "SELECT 1", "SELECT 1: unexpected reply (integer 0)");
    ok_wire("*1\r\n+OK\r\n", 9, "AUTH", "AUTH: unexpected reply (array of 1)");
}

T_MAIN(T_CASE(test_set_replies_by_hand), T_CASE(test_set_replies_on_the_wire), T_CASE(test_ok_replies))
