/* main.c - the `flist` command: inspect, create, fetch, check and merge
 * flists locally. The replacement for zflist's local commands; the command
 * table below is the whole surface. */
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv, const char *usage);
    const char *usage;
} cli_command;

static const cli_command commands[] = {
    { "create", cmd_create,
      "create [--backend URL] [--public-backend URL] [--threads N] [--meta NAME=VALUE]... "
      "[--platform OS/ARCH] [--creds-file FILE] [--layer-cache DIR] [--ca-file PEM] "
      "SOURCE|docker://[REGISTRY/]NAME[:TAG|@DIGEST]|oci:LAYOUT[:TAG]|docker-daemon:NAME[:TAG] "
      "OUTPUT.flist" },
    { "find", cmd_find, "find [--json] FLIST [PATH]" },
    { "ls", cmd_ls, "ls [--json] FLIST [PATH]" },
    { "stat", cmd_stat, "stat [--json] FLIST PATH" },
    { "metadata", cmd_metadata, "metadata [--json] FLIST [NAME]" },
    { "chunks", cmd_chunks, "chunks [--json] FLIST" },
    { "get", cmd_get, "get [--backend URL] FLIST PATH DEST" },
    { "check", cmd_check, "check [--backend URL] [--json] FLIST" },
    { "merge", cmd_merge, "merge OUTPUT.flist FLIST FLIST..." },
};

static void usage(FILE *out)
{
    fprintf(out, "usage: flist COMMAND [OPTIONS] ARGS\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  flist %s\n", commands[i].usage);
    fprintf(out,
            "\nbackend URLs: redis://host:port[/db]  zdb://[:password@]host:port[/namespace][?token=T]\n"
            "--meta values of entrypoint, environ, port, volume and readme are JSON;\n"
            "other names take raw text.\n");
}

int main(int argc, char **argv)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("flist (flist-hub) 0.1.0\n");
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 2, argv + 2, commands[i].usage);
    fprintf(stderr, "flist: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
