/* main.c - flist-hub-api: command line, configuration, signals.
 *
 *   flist-hub-api [-c FILE] [serve]           run the HTTP API
 *   flist-hub-api [-c FILE] token USER [--ttl SECONDS]
 *                                             print an API token for USER
 *   flist-hub-api routes                      print the route table
 *   flist-hub-api config-defaults             print every key and default
 *   flist-hub-api config-import CONFIG.PY     convert the original hub's
 *                                             config.py (printed on stdout)
 *
 * The configuration file is -c FILE, else $HUB_CONFIG, else none (defaults
 * and HUB_* environment variables only).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "auth.h"
#include "config.h"
#include "config_import.h"
#include "hub_signal.h"
#include "log.h"
#include "repo.h"
#include "router.h"
#include "server.h"
#include "util.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: flist-hub-api [-c FILE] [serve]\n"
            "       flist-hub-api [-c FILE] token USER [--ttl SECONDS]\n"
            "       flist-hub-api routes\n"
            "       flist-hub-api config-defaults\n"
            "       flist-hub-api config-import CONFIG.PY   (the original hub's; to stdout)\n"
            "token --ttl SECONDS: the token expires after SECONDS (default: never,\n"
            "or token-max-age when set).\n"
            "The configuration file is -c FILE, else $HUB_CONFIG; every key can be\n"
            "overridden by HUB_<KEY> (see deployment/hub.conf.sample).\n");
}

/* Prints a hub token (HUB-API.md §12.3). With --ttl the token carries its
 * own expiry, ttl seconds from now (a third element of the signed message,
 * see auth_token_issue_until; the original hub ignores it). Without --ttl it
 * lasts as long as token-max-age allows (forever when 0). */
static int cmd_token(hub_config *cfg, const char *user, long long ttl)
{
    hub_err err = {0};
    if (!cfg->threebot_seed) {
        fprintf(stderr, "flist-hub-api: token: threebot-seed is not configured\n");
        return 1;
    }
    if (repo_name_check(user, "user", &err) < 0) {
        fprintf(stderr, "flist-hub-api: token: %s\n", err.msg);
        return 1;
    }
    long long now = (long long)time(NULL);
    if (ttl > 0 && cfg->token_max_age > 0 && ttl > cfg->token_max_age) {
        fprintf(stderr, "flist-hub-api: token: --ttl %lld is longer than token-max-age %d: "
                        "the hub would refuse the token after %d s\n",
                ttl, cfg->token_max_age, cfg->token_max_age);
        return 1;
    }
    if (ttl > 100LL * 365 * 24 * 3600) {
        fprintf(stderr, "flist-hub-api: token: --ttl %lld is more than 100 years\n", ttl);
        return 1;
    }
    auth_settings as = {.enabled = 1, .token_seed = cfg->threebot_seed};
    auth_ctx *a = auth_ctx_new(&as, &err);
    if (!a) {
        fprintf(stderr, "flist-hub-api: token: %s\n", err.msg);
        return 1;
    }
    char *tok = auth_token_issue_until(a, user, now, ttl > 0 ? now + ttl : 0, &err);
    auth_ctx_free(a);
    if (!tok) {
        fprintf(stderr, "flist-hub-api: token: %s\n", err.msg);
        return 1;
    }
    printf("%s\n", tok);
    free(tok);
    return 0;
}

static int serve(hub_config *cfg)
{
    hub_err err = {0};
    static api_server srv;
    log_level lvl;
    log_format fmt;
    if (log_level_parse(cfg->log_level, &lvl) == 0)
        log_set_level(lvl);
    if (log_format_parse(cfg->log_format, &fmt) == 0)
        log_set_format(fmt);

    /* every thread inherits this mask: signals are taken by sigwait only */
    sigset_t set;
    hub_signals_block(&set);

    util_raise_nofile();   /* one descriptor per client connection */
    if (server_init(&srv, cfg, &err) < 0 || server_start(&srv, &err) < 0) {
        log_error("%s", err.msg);
        server_free(&srv);
        return 1;
    }
    if (!srv.cfg.authentication)
        log_warn("authentication is off: every write acts as Administrator");
    int sig = 0;
    sigwait(&set, &sig);
    log_info("signal %d: graceful stop", sig);
    server_stop(&srv);
    server_free(&srv);
    return 0;
}

int main(int argc, char **argv)
{
    const char *conf = getenv("HUB_CONFIG");
    int i = 1;
    log_set_program("flist-hub-api");
    if (i + 1 < argc && strcmp(argv[i], "-c") == 0) {
        conf = argv[i + 1];
        i += 2;
    }
    const char *cmd = i < argc ? argv[i] : "serve";
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "routes") == 0) {
        router_init();
        router_print(stdout);
        return 0;
    }
    if (strcmp(cmd, "config-defaults") == 0) {
        config_print_defaults(stdout);
        return 0;
    }
    if (strcmp(cmd, "config-import") == 0) {
        hub_err ierr = {0};
        if (i + 2 != argc) {
            usage(stderr);
            return 2;
        }
        if (config_import_file(argv[i + 1], stdout, stderr, &ierr) < 0) {
            fprintf(stderr, "flist-hub-api: config-import: %s\n", ierr.msg);
            return 1;
        }
        return 0;
    }
    if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "token") != 0) {
        usage(stderr);
        return 2;
    }
    long long ttl = 0;
    const char *user = NULL;
    if (strcmp(cmd, "token") == 0) {
        for (int k = i + 1; k < argc; k++) {
            if (strcmp(argv[k], "--ttl") == 0 && k + 1 < argc) {
                char *end;
                ttl = strtoll(argv[++k], &end, 10);
                if (*end || ttl <= 0) {
                    fprintf(stderr, "flist-hub-api: token: --ttl wants a positive number of seconds\n");
                    return 2;
                }
            } else if (!user && argv[k][0] != '-') {
                user = argv[k];
            } else {
                usage(stderr);
                return 2;
            }
        }
        if (!user) {
            usage(stderr);
            return 2;
        }
    } else if (i + 1 < argc) {
        usage(stderr);
        return 2;
    }

    hub_config cfg;
    hub_err err = {0};
    if (config_load(conf, &cfg, &err) < 0) {
        fprintf(stderr, "flist-hub-api: configuration: %s\n", err.msg);
        return 1;
    }
    int rc;
    if (strcmp(cmd, "token") == 0) {
        rc = cmd_token(&cfg, user, ttl);
        config_free(&cfg);
        return rc;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = serve(&cfg);
    curl_global_cleanup();
    return rc;
}
