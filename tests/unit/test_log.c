/* test_log.c - the log lines (base/log.c): JSON lines parsed back with
 * jansson (escapes, invalid UTF-8, fields, the thread's request id), the
 * text format's fields, the level filter, and the request id rules.
 * stderr is redirected into a temporary file while a line is written.
 */
#include <jansson.h>
#include <unistd.h>

#include "log.h"
#include "t.h"

/* Runs fn with stderr sent to a temporary file; returns what was written
 * (static buffer). */
static const char *capture(void (*fn)(void))
{
    static char out[65536];
    char path[] = "/tmp/test_log.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return "";
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, out, sizeof out - 1, 0);
    close(fd);
    out[n > 0 ? n : 0] = '\0';
    return out;
}

static void write_json(void)
{
    log_set_format(HUB_LOG_JSON);
    log_set_request_id("rid-1");
    log_field f[] = {{.key = "route", .str = "/a \"b\"\n"}, {.key = "status", .num = 404},
                     {.key = "bad", .str = "x\xff\xc3(y"}};
    log_msg_fields(HUB_LOG_WARN, f, 3, "quote \" backslash \\ tab \t é %d", 7);
    log_set_request_id(NULL);
    log_info("second");
    log_debug("not printed at info");
}

static void test_json_lines(void)
{
    log_set_level(HUB_LOG_INFO);
    const char *out = capture(write_json);
    const char *nl = strchr(out, '\n');
    T_REQUIRE(nl != NULL);
    json_error_t e;
    json_t *a = json_loadb(out, (size_t)(nl - out), 0, &e);
    T_REQUIRE(a != NULL);
    T_STREQ(json_string_value(json_object_get(a, "level")), "warn");
    T_STREQ(json_string_value(json_object_get(a, "msg")), "quote \" backslash \\ tab \t é 7");
    T_STREQ(json_string_value(json_object_get(a, "request_id")), "rid-1");
    T_STREQ(json_string_value(json_object_get(a, "route")), "/a \"b\"\n");
    T_CHECK(json_integer_value(json_object_get(a, "status")) == 404);
    T_STREQ(json_string_value(json_object_get(a, "bad")), "x\xef\xbf\xbd\xef\xbf\xbd(y");
    T_STREQ(json_string_value(json_object_get(a, "program")), "flist-hub");
    T_CHECK(json_integer_value(json_object_get(a, "pid")) == (json_int_t)getpid());
    const char *t = json_string_value(json_object_get(a, "time"));
    T_CHECK(t && strlen(t) == 24 && t[10] == 'T' && t[23] == 'Z');
    json_decref(a);
    json_t *b = json_loads(nl + 1, 0, &e);   /* the rest: exactly one more line */
    T_REQUIRE(b != NULL);
    T_STREQ(json_string_value(json_object_get(b, "msg")), "second");
    T_CHECK(json_object_get(b, "request_id") == NULL);
    json_decref(b);
    T_CHECK(strstr(out, "not printed") == NULL);
}

static void write_text(void)
{
    log_set_format(HUB_LOG_TEXT);
    log_set_request_id("r2");
    log_field f[] = {{.key = "route", .str = "/x"}, {.key = "path", .str = "a b"},
                     {.key = "bytes", .num = -1}};
    log_msg_fields(HUB_LOG_ERROR, f, 3, "access");
    log_set_request_id(NULL);
}

static void test_text_fields(void)
{
    const char *out = capture(write_text);
    T_CHECK(strstr(out, " ERROR access request_id=r2 route=/x path=\"a b\" bytes=-1\n") != NULL);
}

static void test_request_ids(void)
{
    T_CHECK(log_request_id_valid("abc-DEF_1.2:3"));
    T_CHECK(!log_request_id_valid(""));
    T_CHECK(!log_request_id_valid("a b"));
    T_CHECK(!log_request_id_valid("a\"b"));
    char long_id[LOG_REQUEST_ID_MAX + 2];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    T_CHECK(!log_request_id_valid(long_id));
    long_id[LOG_REQUEST_ID_MAX] = '\0';
    T_CHECK(log_request_id_valid(long_id));
    log_set_request_id("bad id");
    T_STREQ(log_request_id(), "");
    char a[33], b[33];
    log_request_id_new(a, sizeof a);
    log_request_id_new(b, sizeof b);
    T_CHECK(strlen(a) == 32 && log_request_id_valid(a));
    T_CHECK(strcmp(a, b) != 0);
    log_format f;
    T_CHECK(log_format_parse("JSON", &f) == 0 && f == HUB_LOG_JSON);
    T_CHECK(log_format_parse("text", &f) == 0 && f == HUB_LOG_TEXT);
    T_CHECK(log_format_parse("xml", &f) < 0);
}

T_MAIN(T_CASE(test_json_lines), T_CASE(test_text_fields), T_CASE(test_request_ids))
