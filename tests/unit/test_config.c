/* test_config.c - config.h: defaults, the file format, HUB_* overrides,
 * errors naming the key, secrets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "t.h"

static char g_path[64];

static const char *write_conf(const char *text)
{
    snprintf(g_path, sizeof g_path, "/tmp/test_config.%d", (int)getpid());
    FILE *f = fopen(g_path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return g_path;
}

static void test_defaults(void)
{
    hub_config c;
    hub_err err;
    T_REQUIRE(config_load(NULL, &c, &err) == 0);
    T_STREQ(c.listen_addr, "127.0.0.1");
    T_CHECK(c.listen_port == 5555);
    T_STREQ(c.public_dir, "./public/users");
    T_STREQ(c.upload_dir, "./workdir/distfiles");
    T_CHECK(!c.authentication && !c.readonly);
    T_CHECK(c.n_official_repos == 1 && config_is_official(&c, "Administrator"));
    T_CHECK(c.n_allowed_extensions == 5);
    T_CHECK(c.max_upload_size == 4ull << 30);
    T_CHECK(c.backend_internal.kind == BACKEND_REDIS && c.backend_internal.port == 6379);
    config_free(&c);
}

static void test_file_and_env(void)
{
    hub_config c;
    hub_err err;
    const char *p = write_conf("# comment\n"
                               "listen-port = 8080   # trailing comment\n"
                               "public-website = \"https://hub.tld/#x\"  \n"
                               "official-repositories = a, b ,c\n"
                               "authentication = yes\n"
                               "threebot-seed = 3031323334353637383961626364656630313233343536373839616263646566\n"
                               "threebot-users-map = official-apps=tfofficial.3bot, x = y\n"
                               "max-upload-size = 10M\n"
                               "backend-internal-kind = zdb\n");
    setenv("HUB_LISTEN_PORT", "9090", 1);
    T_REQUIRE(config_load(p, &c, &err) == 0);
    unsetenv("HUB_LISTEN_PORT");
    T_CHECK(c.listen_port == 9090);
    T_STREQ(c.public_website, "https://hub.tld/#x");
    T_CHECK(c.n_official_repos == 3);
    T_STREQ(c.official_repos[1], "b");
    T_CHECK(c.authentication == 1);
    T_CHECK(c.n_users_map == 2);
    T_STREQ(c.users_map_virtual[1], "x");
    T_STREQ(c.users_map_user[1], "y");
    T_CHECK(c.max_upload_size == 10u << 20);
    T_CHECK(c.backend_internal.kind == BACKEND_ZDB);
    config_free(&c);
    unlink(p);
}

static void test_errors(void)
{
    hub_config c;
    hub_err err;
    T_CHECK(config_load(write_conf("listen-port = 99999\n"), &c, &err) == -1);
    char want[256];
    snprintf(want, sizeof want, "%s:1: listen-port: 99999 is out of range [0, 65535]", g_path);
    T_STREQ(err.msg, want);
    T_CHECK(config_load(write_conf("\n\nbogus = 1\n"), &c, &err) == -1);
    snprintf(want, sizeof want, "%s:3: unknown key \"bogus\"", g_path);
    T_STREQ(err.msg, want);
    T_CHECK(config_load(write_conf("just words\n"), &c, &err) == -1);
    T_CHECK(config_load(write_conf("session-key = abcd\n"), &c, &err) == -1);
    T_CHECK(strstr(err.msg, "session-key: expected") != NULL);
    T_CHECK(config_load(write_conf("redis-url = http://x\n"), &c, &err) == -1);
    T_CHECK(strstr(err.msg, "redis-url:") != NULL);
    setenv("HUB_READONLY", "perhaps", 1);
    T_CHECK(config_load(NULL, &c, &err) == -1);
    unsetenv("HUB_READONLY");
    T_STREQ(err.msg, "environment HUB_READONLY: readonly: not a boolean (true/false): \"perhaps\"");
    unlink(g_path);
}

static void test_secret(void)
{
    uint8_t out[4];
    hub_err err;
    T_CHECK(config_decode_secret("01020304", out, 4, &err) == 0 && out[0] == 1 && out[3] == 4);
    T_CHECK(config_decode_secret("AQIDBA==", out, 4, &err) == 0 && out[3] == 4);
    T_CHECK(config_decode_secret("AQIDBA", out, 4, &err) == 0);
    T_CHECK(config_decode_secret("0102", out, 4, &err) == -1);
}

/* Nothing is accepted that the code then refuses: the validators ask the
 * consumers of the values. */
static void test_validators(void)
{
    hub_config c;
    hub_err err;
    struct { const char *conf, *msg; } bad[] = {
        /* the queue speaks redis:// only (unix:// used to be accepted, then
         * refused by every worker in a loop) */
        {"redis-url = unix:///run/redis.sock\n", "redis-url: expected redis://"},
        {"redis-url = redis://host:notaport/0\n", "redis-url: expected redis://"},
        /* the writer runs 32 chunk threads at most (33 used to be clamped) */
        {"worker-threads = 33\n", "worker-threads: 33 is out of range [0, 32]"},
        /* the listener binds an address literal */
        {"listen-addr = localhost\n", "listen-addr: \"localhost\" is not an IPv4 or IPv6 address"},
        {"jwt-public-key = /nonexistent/key.pem\n", "jwt-public-key: /nonexistent/key.pem: No such file"},
        {"jwt-algorithm = HS256\n", "jwt-algorithm: unsupported algorithm \"HS256\""},
        {"log-level = loud\n", "log-level: expected debug, info, warn or error"},
        {"allowed-extensions = .tar.gz, zip\n", "allowed-extensions: \"zip\" does not start with '.'"},
        {"connection-memory-limit = 4K\n", "connection-memory-limit: 4K is out of range"},
        {"backend-internal-host = \"\"\n", "backend-internal-host: must not be empty"},
        {"backend-internal-kind = memcached\n", "backend-internal-kind: expected \"zdb\" or \"redis\""},
        {"authentication = true\n", "authentication: on, but threebot-seed is not set"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        T_CHECK(config_load(write_conf(bad[i].conf), &c, &err) == -1);
        if (!strstr(err.msg, bad[i].msg))
            fprintf(stderr, "%s: got \"%s\"\n", bad[i].conf, err.msg);
        T_CHECK(strstr(err.msg, bad[i].msg) != NULL);
        T_CHECK(err.code == HUB_E_INVALID);
    }
    /* and the good ones of the same keys */
    T_REQUIRE(config_load(write_conf("redis-url = redis://:pw@10.0.0.1:6380/2\nworker-threads = 32\n"
                                     "listen-addr = ::\n"), &c, &err) == 0);
    T_CHECK(c.worker_threads == 32);
    T_CHECK(c.backend_public.kind == BACKEND_ZDB && c.backend_public_port == 6379);
    config_free(&c);
    unlink(g_path);
}

T_MAIN(T_CASE(test_defaults), T_CASE(test_file_and_env), T_CASE(test_errors), T_CASE(test_secret),
       T_CASE(test_validators))
