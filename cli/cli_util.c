/* cli_util.c - option parsing, output, progress bar and backend selection
 * shared by the subcommands of `flist`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "flist_json.h"

static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "flist: %s needs a value\n", name);
        return NULL;
    }
    return argv[++*i];
}

int cli_parse(int argc, char **argv, unsigned allowed, int min_args, int max_args,
              const char *usage, cli_opts *o)
{
    memset(o, 0, sizeof *o);
    o->args = calloc((size_t)argc + 1, sizeof *o->args);
    o->meta = calloc((size_t)argc + 1, sizeof *o->meta);
    if (!o->args || !o->meta) {
        fprintf(stderr, "flist: out of memory\n");
        return -1;
    }
    int only_args = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (only_args || a[0] != '-' || a[1] == '\0') {
            o->args[o->nargs++] = a;
        } else if (!strcmp(a, "--")) {
            only_args = 1;
        } else if (!strcmp(a, "--json") && (allowed & CLI_OPT_JSON)) {
            o->json = 1;
        } else if (!strcmp(a, "--backend") && (allowed & CLI_OPT_BACKEND)) {
            if (!(o->backend = opt_value(argc, argv, &i, a)))
                goto bad;
        } else if (!strcmp(a, "--public-backend") && (allowed & CLI_OPT_PUBLIC_BACKEND)) {
            if (!(o->public_backend = opt_value(argc, argv, &i, a)))
                goto bad;
        } else if (!strcmp(a, "--threads") && (allowed & CLI_OPT_THREADS)) {
            const char *v = opt_value(argc, argv, &i, a);
            char *end = NULL;
            long n = v ? strtol(v, &end, 10) : 0;
            if (!v || *end || n < 1 || n > 256) {
                fprintf(stderr, "flist: --threads takes a number from 1 to 256\n");
                goto bad;
            }
            o->threads = (int)n;
        } else if ((allowed & CLI_OPT_IMAGE) && (!strcmp(a, "--platform") ||
                   !strcmp(a, "--creds-file") || !strcmp(a, "--layer-cache") ||
                   !strcmp(a, "--ca-file"))) {
            const char *v = opt_value(argc, argv, &i, a);
            if (!v)
                goto bad;
            const char **slot = !strcmp(a, "--platform") ? &o->platform
                              : !strcmp(a, "--creds-file") ? &o->creds_file
                              : !strcmp(a, "--layer-cache") ? &o->layer_cache : &o->ca_file;
            *slot = v;
        } else if (!strcmp(a, "--meta") && (allowed & CLI_OPT_META)) {
            const char *v = opt_value(argc, argv, &i, a);
            if (!v)
                goto bad;
            if (!strchr(v, '=') || v[0] == '=') {
                fprintf(stderr, "flist: --meta takes NAME=VALUE\n");
                goto bad;
            }
            o->meta[o->nmeta++] = v;
        } else {
            fprintf(stderr, "flist: unknown option '%s'\n", a);
            goto bad;
        }
    }
    if (o->nargs < min_args || (max_args >= 0 && o->nargs > max_args)) {
        fprintf(stderr, "flist: wrong number of arguments\n");
        goto bad;
    }
    return 0;
bad:
    fprintf(stderr, "usage: flist %s\n", usage);
    return -1;
}

void cli_opts_free(cli_opts *o)
{
    free(o->args);
    free(o->meta);
}

int cli_fail(const cli_opts *o, const char *fn, const char *msg)
{
    cli_progress_end();
    if (o && o->json) {
        json_t *e = flist_json_error(fn, msg);
        char *s = json_dumps(e, 0);
        if (s)
            puts(s);
        free(s);
        json_decref(e);
    } else {
        fprintf(stderr, "flist: %s\n", msg);
    }
    return 1;
}

void cli_print_json(json_t *response)
{
    json_t *env = flist_json_envelope(response);
    char *s = env ? json_dumps(env, 0) : NULL;
    if (s)
        puts(s);
    free(s);
    json_decref(env);
}

flist *cli_open(const cli_opts *o, const char *fn, const char *path, int *status)
{
    flist *f = NULL;
    hub_err err;
    if (flist_open(path, &f, &err) != 0) {
        *status = cli_fail(o, fn, err.msg);
        return NULL;
    }
    return f;
}

int cli_backend(const cli_opts *o, flist *f, backend_url *out, hub_err *err)
{
    if (o->backend)
        return backend_url_parse(o->backend, out, err);
    char *meta = NULL;
    int rc = flist_meta_get(f, "backend", &meta, err);
    if (rc == FLIST_ENOENT)
        return hub_err_set(err, "the flist has no backend metadata: give --backend URL");
    if (rc != 0)
        return -1;
    rc = backend_url_from_json(meta, out, err);
    free(meta);
    return rc;
}

static int bar_drawn;

void cli_progress(void *label, uint64_t done, uint64_t total)
{
    if (!isatty(STDERR_FILENO))
        return;
    if (total) {
        double pct = 100.0 * (double)done / (double)total;
        int width = 30, fill = (int)(pct / 100.0 * width);
        fprintf(stderr, "\r%s [%.*s%*s] %5.1f%%", (const char *)label, fill,
                "##############################", width - fill, "", pct);
    } else {
        fprintf(stderr, "\r%s %.1f MiB", (const char *)label, (double)done / 1048576.0);
    }
    bar_drawn = 1;
}

void cli_progress_end(void)
{
    if (bar_drawn)
        fputc('\n', stderr);
    bar_drawn = 0;
}
