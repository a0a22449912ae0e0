/* cli.h - shared pieces of the `flist` command: option parsing, output in
 * text or zflist's JSON envelope, the progress bar, backend selection. */
#ifndef CLI_H
#define CLI_H

#include <jansson.h>
#include <stdint.h>

#include "flist.h"

/* Options common to the subcommands; each parses only what it allows. */
typedef struct cli_opts {
    int json;
    int threads;
    const char *backend;         /* --backend URL */
    const char *public_backend;  /* --public-backend URL */
    const char **meta;           /* --meta NAME=VALUE, in order */
    int nmeta;
    const char *platform;        /* --platform os/arch[/variant] (images) */
    const char *creds_file;      /* --creds-file config.json (registry credentials) */
    const char *layer_cache;     /* --layer-cache DIR (registry layers by digest) */
    const char *ca_file;         /* --ca-file PEM (registry TLS) */
    const char **args;           /* positional arguments */
    int nargs;
} cli_opts;

/* Option flags a subcommand accepts. */
enum {
    CLI_OPT_JSON = 1 << 0,
    CLI_OPT_BACKEND = 1 << 1,
    CLI_OPT_PUBLIC_BACKEND = 1 << 2,
    CLI_OPT_THREADS = 1 << 3,
    CLI_OPT_META = 1 << 4,
    CLI_OPT_IMAGE = 1 << 5,      /* --platform --creds-file --layer-cache --ca-file */
};

/* Parses argv (after the subcommand word) accepting `allowed` options and
 * between min_args and max_args positionals (-1 = no limit). Prints the
 * usage line and returns -1 on a mistake. o->meta is malloc'ed. */
int cli_parse(int argc, char **argv, unsigned allowed, int min_args, int max_args,
              const char *usage, cli_opts *o);
void cli_opts_free(cli_opts *o);

/* Prints "flist: <msg>" on stderr and returns exit status 1; with --json,
 * prints zflist's error envelope on stdout instead. */
int cli_fail(const cli_opts *o, const char *fn, const char *msg);

/* Prints {"success": true, "error": null, "response": v} (steals v). */
void cli_print_json(json_t *response);

/* Opens an flist or fails with a message (exit status through *status). */
flist *cli_open(const cli_opts *o, const char *fn, const char *path, int *status);

/* The backend to read contents from: --backend, else the flist's `backend`
 * metadata. Returns 0 or -1 with err. */
int cli_backend(const cli_opts *o, flist *f, backend_url *out, hub_err *err);

/* A progress bar on stderr when it is a terminal (ud = label string). */
void cli_progress(void *label, uint64_t done, uint64_t total);
/* Ends the bar's line, if one was drawn. */
void cli_progress_end(void);

/* `flist create docker://REF`: converts a registry image into w with the
 * image options of o (credentials from --creds-file, else the environment
 * FLIST_REGISTRY_USER / FLIST_REGISTRY_PASSWORD). Returns 0 or -1 with err. */
int cli_create_docker(const cli_opts *o, const char *ref, flist_writer *w, hub_err *err);

/* Subcommands: each returns the process exit status. */
int cmd_create(int argc, char **argv, const char *usage);
int cmd_find(int argc, char **argv, const char *usage);
int cmd_ls(int argc, char **argv, const char *usage);
int cmd_stat(int argc, char **argv, const char *usage);
int cmd_metadata(int argc, char **argv, const char *usage);
int cmd_chunks(int argc, char **argv, const char *usage);
int cmd_get(int argc, char **argv, const char *usage);
int cmd_check(int argc, char **argv, const char *usage);
int cmd_merge(int argc, char **argv, const char *usage);

#endif
