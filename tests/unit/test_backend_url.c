/* test_backend_url.c - backend addresses (engine/backend_url.c): the
 * redis:// and zdb:// URL forms with their defaults, IPv6 hosts, percent
 * escapes and every refusal; the §6.3 backend JSON; the public JSON written
 * into flists and the display form, both without secrets.
 */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "t.h"

static backend_url parse_ok(const char *s)
{
    backend_url u;
    hub_err err = { 0 };
    memset(&u, 0x55, sizeof u);
    if (backend_url_parse(s, &u, &err) != 0) {
        fprintf(stderr, "parse %s: %s\n", s, err.msg);
        T_CHECK(0);
    }
    return u;
}

static void parse_bad(const char *s, const char *want)
{
    backend_url u;
    hub_err err = { 0 };
    memset(&u, 0, sizeof u);
    u.port = 4242;
    T_CHECK(backend_url_parse(s, &u, &err) == -1);
    T_STREQ(err.msg, want);
    T_CHECK(u.port == 4242);  /* out untouched on failure */
}

static void test_redis_urls(void)
{
    backend_url u = parse_ok("redis://127.0.0.1:6380");
    T_CHECK(u.kind == BACKEND_REDIS);
    T_STREQ(u.host, "127.0.0.1");
    T_CHECK(u.port == 6380);
    T_STREQ(u.namespace_, "");
    T_STREQ(u.password, "");
    T_STREQ(u.token, "");

    u = parse_ok("redis://localhost");
    T_STREQ(u.host, "localhost");
    T_CHECK(u.port == 6379);

    u = parse_ok("redis://redis.example-1.org:1/3");
    T_STREQ(u.host, "redis.example-1.org");
    T_CHECK(u.port == 1);
    T_STREQ(u.namespace_, "3");

    u = parse_ok("redis://h:65535/0");
    T_CHECK(u.port == 65535);
    T_STREQ(u.namespace_, "0");

    u = parse_ok("redis://h/");
    T_STREQ(u.namespace_, "");
    T_CHECK(u.port == 6379);

    u = parse_ok("redis://:s3cret@h:7000/2");
    T_STREQ(u.password, "s3cret");
    T_STREQ(u.namespace_, "2");
    T_CHECK(u.port == 7000);

    u = parse_ok("redis://[::1]:6390/15");
    T_STREQ(u.host, "::1");
    T_CHECK(u.port == 6390);
    T_STREQ(u.namespace_, "15");
}

static void test_zdb_urls(void)
{
    backend_url u = parse_ok("zdb://hub.grid.tf:9980/myns?token=eyJ.abc-_.x");
    T_CHECK(u.kind == BACKEND_ZDB);
    T_STREQ(u.host, "hub.grid.tf");
    T_CHECK(u.port == 9980);
    T_STREQ(u.namespace_, "myns");
    T_STREQ(u.token, "eyJ.abc-_.x");
    T_STREQ(u.password, "");

    u = parse_ok("zdb://10.0.0.2");
    T_CHECK(u.port == 9900);
    T_STREQ(u.namespace_, "");

    u = parse_ok("zdb://:pa%40ss%3a@zdb.local/ns%20one");
    T_STREQ(u.password, "pa@ss:");
    T_STREQ(u.host, "zdb.local");
    T_STREQ(u.namespace_, "ns one");
    T_CHECK(u.port == 9900);

    u = parse_ok("zdb://[fe80::1:2]");
    T_STREQ(u.host, "fe80::1:2");
    T_CHECK(u.port == 9900);

    u = parse_ok("zdb://[2001:db8::7]:9901/default?token=t");
    T_STREQ(u.host, "2001:db8::7");
    T_CHECK(u.port == 9901);
    T_STREQ(u.namespace_, "default");
    T_STREQ(u.token, "t");

    u = parse_ok("zdb://h:1?token=only");
    T_STREQ(u.namespace_, "");
    T_STREQ(u.token, "only");
}

static void test_limits(void)
{
    char buf[4200], field[2100];
    /* host: 255 bytes fit, 256 do not */
    memset(field, 'a', 255);
    field[255] = '\0';
    snprintf(buf, sizeof buf, "zdb://%s:1", field);
    backend_url u = parse_ok(buf);
    T_CHECK(strlen(u.host) == 255);
    snprintf(buf, sizeof buf, "zdb://%sa:1", field);
    parse_bad(buf, "backend URL: host too long (at most 255 bytes)");

    /* namespace: 127 */
    memset(field, 'n', 127);
    field[127] = '\0';
    snprintf(buf, sizeof buf, "zdb://h/%s", field);
    u = parse_ok(buf);
    T_CHECK(strlen(u.namespace_) == 127);
    snprintf(buf, sizeof buf, "zdb://h/%sn", field);
    parse_bad(buf, "backend URL: namespace too long (at most 127 bytes)");

    /* password: 255 */
    memset(field, 'p', 255);
    field[255] = '\0';
    snprintf(buf, sizeof buf, "zdb://:%s@h", field);
    u = parse_ok(buf);
    T_CHECK(strlen(u.password) == 255);
    snprintf(buf, sizeof buf, "zdb://:%sp@h", field);
    parse_bad(buf, "backend URL: password too long (at most 255 bytes)");

    /* token: 2047 */
    memset(field, 't', 2047);
    field[2047] = '\0';
    snprintf(buf, sizeof buf, "zdb://h?token=%s", field);
    u = parse_ok(buf);
    T_CHECK(strlen(u.token) == 2047);
    snprintf(buf, sizeof buf, "zdb://h?token=%st", field);
    parse_bad(buf, "backend URL: token too long (at most 2047 bytes)");

    /* the whole URL */
    char *huge = malloc(10000);
    T_REQUIRE(huge);
    memcpy(huge, "zdb://", 6);
    memset(huge + 6, 'x', 9000);
    huge[9006] = '\0';
    parse_bad(huge, "backend URL: too long");
    free(huge);
}

static void test_refusals(void)
{
    parse_bad("http://h:1", "backend URL: unsupported scheme (expected redis:// or zdb://)");
    parse_bad("REDIS://h", "backend URL: unsupported scheme (expected redis:// or zdb://)");
    parse_bad("redis:/h", "backend URL: unsupported scheme (expected redis:// or zdb://)");
    parse_bad("", "backend URL: unsupported scheme (expected redis:// or zdb://)");
    parse_bad(NULL, "backend URL: missing");
    parse_bad("redis://", "backend URL: missing host");
    parse_bad("redis://:6379", "backend URL: missing host");
    parse_bad("redis://h:0", "backend URL: invalid port (1..65535)");
    parse_bad("redis://h:65536", "backend URL: invalid port (1..65535)");
    parse_bad("redis://h:", "backend URL: invalid port (1..65535)");
    parse_bad("redis://h:12a", "backend URL: invalid port (1..65535)");
    parse_bad("redis://h:-1", "backend URL: invalid port (1..65535)");
    parse_bad("redis://h:000006379", "backend URL: invalid port (1..65535)");
    parse_bad("redis://h:1:2", "backend URL: invalid port (1..65535)");
    parse_bad("redis://h:1/abc", "backend URL: the redis database must be a number");
    parse_bad("redis://h:1/-1", "backend URL: the redis database must be a number");
    parse_bad("redis://h:1/99999999999", "backend URL: the redis database must be a number");
    parse_bad("redis://h:1/1/2", "backend URL: unexpected '/' in the namespace");
    parse_bad("redis://h:1?token=x", "backend URL: redis URLs take no query");
    parse_bad("redis://user:pw@h", "backend URL: user names are not supported (use ':password@')");
    parse_bad("zdb://h:1/ns?foo=bar", "backend URL: the only query parameter is token=");
    parse_bad("zdb://h:1/ns?token=a&x=1", "backend URL: the only query parameter is token=");
    parse_bad("zdb://h:1/ns?token=", "backend URL: empty token");
    parse_bad("zdb://h:1/ns#frag", "backend URL: fragments ('#') are not allowed");
    parse_bad("zdb://[::1", "backend URL: missing ']' after IPv6 address");
    parse_bad("zdb://[]:1", "backend URL: empty IPv6 address");
    parse_bad("zdb://[::g]:1", "backend URL: invalid character in IPv6 address");
    parse_bad("zdb://[::1]x", "backend URL: unexpected characters after host");
    parse_bad("zdb://h h:1", "backend URL: invalid character in host");
    parse_bad("zdb://h\n:1", "backend URL: invalid character in host");
    parse_bad("zdb://h/%zz", "backend URL: bad percent-escape in namespace");
    parse_bad("zdb://h/ab%4", "backend URL: bad percent-escape in namespace");
    parse_bad("zdb://h/a%00b", "backend URL: NUL byte in namespace");
    parse_bad("zdb://h/a%0ab", "backend URL: control character in namespace");
    parse_bad("zdb://:%@h", "backend URL: bad percent-escape in password");
    parse_bad("zdb://h?token=a\tb", "backend URL: control character in token");
}

static void json_ok(const char *json, backend_url *u)
{
    hub_err err = { 0 };
    if (backend_url_from_json(json, u, &err) != 0) {
        fprintf(stderr, "json %s: %s\n", json, err.msg);
        T_CHECK(0);
    }
}

static void json_bad(const char *json, const char *want)
{
    backend_url u;
    hub_err err = { 0 };
    T_CHECK(backend_url_from_json(json, &u, &err) == -1);
    T_STREQ(err.msg, want);
}

static void test_json(void)
{
    backend_url u;
    /* the sample flist's metadata (tests/data/sample.metadata.jsonl) */
    json_ok("{\"host\": \"127.0.0.1\", \"port\": 9900}", &u);
    T_CHECK(u.kind == BACKEND_ZDB);
    T_STREQ(u.host, "127.0.0.1");
    T_CHECK(u.port == 9900);
    T_STREQ(u.namespace_, "");
    T_STREQ(u.password, "");
    T_STREQ(u.token, "");

    /* the hub's publishing workflow (§6.3), plus ignored keys */
    json_ok("{\"host\": \"hub.grid.tf\", \"port\": 9980, \"token\": \"a.b.c\", "
            "\"socket\": \"/x\", \"namespace\": \"ns\", \"password\": \"pw\"}", &u);
    T_STREQ(u.host, "hub.grid.tf");
    T_CHECK(u.port == 9980);
    T_STREQ(u.token, "a.b.c");
    T_STREQ(u.namespace_, "ns");
    T_STREQ(u.password, "pw");

    json_ok("{\"host\": \"::1\", \"port\": 1, \"namespace\": null}", &u);
    T_STREQ(u.host, "::1");
    T_STREQ(u.namespace_, "");

    json_bad("{\"host\": \"h\", \"port\": \"9900\"}", "backend JSON: \"port\" must be an integer");
    json_bad("{\"host\": \"h\", \"port\": 9900.0}", "backend JSON: \"port\" must be an integer");
    json_bad("{\"host\": \"h\"}", "backend JSON: \"port\" must be an integer");
    json_bad("{\"host\": \"h\", \"port\": 0}", "backend JSON: \"port\" out of range (1..65535)");
    json_bad("{\"host\": \"h\", \"port\": 65536}", "backend JSON: \"port\" out of range (1..65535)");
    json_bad("{\"host\": \"h\", \"port\": -5}", "backend JSON: \"port\" out of range (1..65535)");
    json_bad("{\"port\": 1}", "backend JSON: \"host\" missing or empty");
    json_bad("{\"host\": \"\", \"port\": 1}", "backend JSON: \"host\" missing or empty");
    json_bad("{\"host\": 5, \"port\": 1}", "backend JSON: \"host\" must be a string");
    json_bad("{\"host\": \"h\", \"port\": 1, \"namespace\": 3}",
             "backend JSON: \"namespace\" must be a string");
    json_bad("{\"host\": \"h\", \"port\": 1, \"token\": []}", "backend JSON: \"token\" must be a string");
    json_bad("{\"host\": \"h\\u0001\", \"port\": 1}", "backend JSON: control character in \"host\"");
    json_bad("{\"host\": \"h\\u0000x\", \"port\": 1}",
             "backend JSON: \\u0000 is not allowed without JSON_ALLOW_NUL near '\"h\\u0000x\"' (line 1)");
    json_bad("[1]", "backend JSON: not an object");
    json_bad("{\"host\": \"h\", \"host\": \"i\", \"port\": 1}",
             "backend JSON: duplicate object key near '\"host\"' (line 1)");
    json_bad(NULL, "backend JSON: missing");

    char big[400];
    snprintf(big, sizeof big, "{\"host\": \"h\", \"port\": 1, \"namespace\": \"%0128d\"}", 0);
    json_bad(big, "backend JSON: \"namespace\" too long (at most 127 bytes)");

    backend_url before;
    memset(&before, 0x33, sizeof before);
    u = before;
    hub_err err;
    T_CHECK(backend_url_from_json("{", &u, &err) == -1);
    T_CHECK(strncmp(err.msg, "backend JSON: ", 14) == 0);
    T_CHECK(memcmp(&u, &before, sizeof u) == 0);
}

static void check_public(const char *url, const char *want)
{
    backend_url u = parse_ok(url);
    char *s = backend_url_public_json(&u);
    T_STREQ(s, want);
    free(s);
}

static void check_display(const char *url, const char *want)
{
    backend_url u = parse_ok(url);
    char buf[512];
    backend_url_display(&u, buf, sizeof buf);
    T_STREQ(buf, want);
}

static void test_public_forms(void)
{
    check_public("zdb://127.0.0.1:9900", "{\"host\": \"127.0.0.1\", \"port\": 9900, \"namespace\": \"default\"}");
    check_public("zdb://:pw@hub.grid.tf:9980/ns?token=secret",
                 "{\"host\": \"hub.grid.tf\", \"port\": 9980, \"namespace\": \"ns\"}");
    check_public("redis://h", "{\"host\": \"h\", \"port\": 6379, \"namespace\": \"0\"}");
    check_public("redis://:pw@h:7/3", "{\"host\": \"h\", \"port\": 7, \"namespace\": \"3\"}");
    check_public("zdb://[::1]:5/x", "{\"host\": \"::1\", \"port\": 5, \"namespace\": \"x\"}");

    check_display("zdb://:pw@hub.grid.tf:9980/ns?token=secret", "zdb://hub.grid.tf:9980/ns");
    check_display("zdb://h", "zdb://h:9900/default");
    check_display("redis://:pw@h/4", "redis://h:6379/4");
    check_display("redis://h", "redis://h:6379/0");
    check_display("zdb://[fe80::1]:9/n", "zdb://[fe80::1]:9/n");

    /* truncation keeps a terminated string */
    backend_url u = parse_ok("zdb://hub.grid.tf:9980/ns");
    char small[8];
    backend_url_display(&u, small, sizeof small);
    T_STREQ(small, "zdb://h");
}

T_MAIN(T_CASE(test_redis_urls), T_CASE(test_zdb_urls), T_CASE(test_limits), T_CASE(test_refusals),
       T_CASE(test_json), T_CASE(test_public_forms))
