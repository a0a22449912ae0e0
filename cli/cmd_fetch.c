/* cmd_fetch.c - the subcommands that talk to the content backend: `get`
 * (decrypt contents to disk) and `check` (every chunk present?). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "flist_json.h"
#include "flist_keys.h"

int cmd_get(int argc, char **argv, const char *usage)
{
    cli_opts o;
    if (cli_parse(argc, argv, CLI_OPT_BACKEND, 3, 3, usage, &o) != 0)
        return 2;
    int status = 0;
    hub_err err;
    backend_url be;
    flist *f = cli_open(&o, "get", o.args[0], &status);
    if (f) {
        if (cli_backend(&o, f, &be, &err) != 0 ||
            flist_get(f, &be, o.args[1], o.args[2], cli_progress, "get", &err) != 0)
            status = cli_fail(&o, "get", err.msg);
        cli_progress_end();
        flist_close(f);
    }
    cli_opts_free(&o);
    return status;
}

/* Collects the files with missing chunks: a JSON list for --json, lines on
 * stderr otherwise. */
static void on_missing(void *ud, const flist_missing *m)
{
    json_t *list = ud;
    json_t *ids = json_array();
    for (size_t i = 0; i < m->nmissing; i++) {
        char hex[33];
        hub_hex(m->ids[i], 16, hex);
        json_array_append_new(ids, json_string(hex));
    }
    json_array_append_new(list, json_pack("{sssO}", "path", m->path, "chunks", ids));
    json_decref(ids);
}

int cmd_check(int argc, char **argv, const char *usage)
{
    cli_opts o;
    if (cli_parse(argc, argv, CLI_OPT_BACKEND | CLI_OPT_JSON, 1, 1, usage, &o) != 0)
        return 2;
    int status = 0;
    hub_err err;
    backend_url be;
    json_t *missing = json_array();
    uint64_t failures = 0;
    flist *f = cli_open(&o, "check", o.args[0], &status);
    if (!f)
        goto out;
    if (cli_backend(&o, f, &be, &err) != 0 ||
        flist_check(f, &be, on_missing, missing, &failures, cli_progress, "check", &err) != 0) {
        status = cli_fail(&o, "check", err.msg);
        goto out;
    }
    cli_progress_end();
    if (o.json) {
        json_t *v = flist_json_find(f, "/", failures, NULL, &err);
        if (!v) {
            status = cli_fail(&o, "check", err.msg);
            goto out;
        }
        json_object_set(v, "missing", missing);
        cli_print_json(v);
    } else {
        size_t i;
        json_t *m;
        json_array_foreach(missing, i, m)
            printf("missing: %s (%zu chunks)\n", json_string_value(json_object_get(m, "path")),
                   json_array_size(json_object_get(m, "chunks")));
        printf("%llu files with missing chunks\n", (unsigned long long)failures);
    }
    status = failures ? 1 : 0;
out:
    json_decref(missing);
    flist_close(f);
    cli_opts_free(&o);
    return status;
}
