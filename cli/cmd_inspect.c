/* cmd_inspect.c - the read-only subcommands: find, ls, stat, metadata,
 * chunks. With --json each prints exactly zflist's JSON line (the shapes of
 * FLIST-FORMAT.md §10.1, built by engine/flist_json.c); without it, a
 * human-readable listing derived from the same objects. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "flist_json.h"

typedef json_t *(*json_builder)(flist *f, const char *arg, int *rc, hub_err *err);
typedef void (*text_printer)(flist *f, const char *arg, json_t *v);

/* Opens args[0] (with min_args..max_args positionals), builds the JSON with `build(f, args[1] or dflt)`, prints it
 * as JSON or through `text`. The common body of every inspect command. */
static int inspect(int argc, char **argv, const char *usage, int min_args,
                   int max_args, const char *fn, const char *dflt, json_builder build, text_printer text)
{
    cli_opts o;
    if (cli_parse(argc, argv, CLI_OPT_JSON, min_args, max_args, usage, &o) != 0)
        return 2;
    int status = 0;
    flist *f = cli_open(&o, fn, o.args[0], &status);
    if (f) {
        const char *arg = o.nargs > 1 ? o.args[1] : dflt;
        hub_err err;
        int rc = 0;
        json_t *v = build(f, arg, &rc, &err);
        if (!v) {
            status = cli_fail(&o, fn, err.msg);
        } else if (o.json) {
            cli_print_json(v);
        } else {
            text(f, arg, v);
            json_decref(v);
        }
        flist_close(f);
    }
    cli_opts_free(&o);
    return status;
}

/* --- find ---------------------------------------------------------- */

static json_t *build_find(flist *f, const char *path, int *rc, hub_err *err)
{
    return flist_json_find(f, path, 0, rc, err);
}

static void text_find(flist *f, const char *path, json_t *v)
{
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(v, "content"), i, item)
        printf("%s\n", json_string_value(json_object_get(item, "path")));
}

int cmd_find(int argc, char **argv, const char *usage)
{
    return inspect(argc, argv, usage, 1, 2, "find", "/", build_find, text_find);
}

/* --- ls ------------------------------------------------------------ */

static void mode_string(const flist_entry *e, char out[11])
{
    static const char kinds[] = { 'd', '-', 'l', 's' };
    uint16_t m = e->acl->mode;
    out[0] = kinds[e->inode->type & 3];
    if (e->inode->type == FLIST_SPECIAL) {
        if (e->inode->special == FLIST_SPECIAL_BLOCK) out[0] = 'b';
        if (e->inode->special == FLIST_SPECIAL_CHARDEV) out[0] = 'c';
        if (e->inode->special == FLIST_SPECIAL_FIFO) out[0] = 'p';
    }
    const char *rwx = "rwxrwxrwx";
    for (int i = 0; i < 9; i++)
        out[1 + i] = (m & (0400 >> i)) ? rwx[i] : '-';
    if (m & S_ISUID) out[3] = (m & 0100) ? 's' : 'S';
    if (m & S_ISGID) out[6] = (m & 0010) ? 's' : 'S';
    if (m & S_ISVTX) out[9] = (m & 0001) ? 't' : 'T';
    out[10] = '\0';
}

static int print_ls_line(const flist_entry *e, void *ud)
{
    char mode[11], when[32];
    time_t t = e->inode->mtime;
    struct tm tm;
    mode_string(e, mode);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M", gmtime_r(&t, &tm));
    printf("%s %-8s %-8s %10llu %s %s", mode, e->acl->uname, e->acl->gname,
           (unsigned long long)e->inode->size, when, e->inode->name);
    if (e->inode->type == FLIST_LINK)
        printf(" -> %s", e->inode->target);
    putchar('\n');
    return 0;
}

static void text_ls(flist *f, const char *path, json_t *v)
{
    hub_err err;
    flist_list(f, path, print_ls_line, NULL, &err);
}

int cmd_ls(int argc, char **argv, const char *usage)
{
    return inspect(argc, argv, usage, 1, 2, "ls", "/", flist_json_ls, text_ls);
}

/* --- stat ---------------------------------------------------------- */

static void text_stat(flist *f, const char *path, json_t *v)
{
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        if (!strcmp(key, "chunks")) {
            size_t i;
            json_t *c;
            printf("chunks: %zu\n", json_array_size(val));
            json_array_foreach(val, i, c)
                printf("  %s %s\n", json_string_value(json_object_get(c, "key")),
                       json_string_value(json_object_get(c, "decipher")));
        } else if (!strcmp(key, "mode")) {
            printf("mode: %04llo\n", (unsigned long long)json_integer_value(val));
        } else if (json_is_string(val)) {
            printf("%s: %s\n", key, json_string_value(val));
        } else {
            printf("%s: %lld\n", key, (long long)json_integer_value(val));
        }
    }
}

int cmd_stat(int argc, char **argv, const char *usage)
{
    return inspect(argc, argv, usage, 2, 2, "stat", NULL, flist_json_stat, text_stat);
}

/* --- metadata ------------------------------------------------------ */

static void text_metadata(flist *f, const char *name, json_t *v)
{
    if (json_is_array(v)) {
        size_t i;
        json_t *n;
        json_array_foreach(v, i, n)
            printf("%s\n", json_string_value(n));
        return;
    }
    json_t *val = json_object_get(v, "value");
    if (json_is_string(val)) {
        printf("%s\n", json_string_value(val));
    } else {
        char *s = json_dumps(val, JSON_INDENT(2));
        printf("%s\n", s ? s : "");
        free(s);
    }
}

int cmd_metadata(int argc, char **argv, const char *usage)
{
    return inspect(argc, argv, usage, 1, 2, "metadata", NULL, flist_json_metadata, text_metadata);
}

/* --- chunks -------------------------------------------------------- */

static json_t *build_chunks(flist *f, const char *unused, int *rc, hub_err *err)
{
    return flist_json_chunks(f, rc, err);
}

static void text_chunks(flist *f, const char *unused, json_t *v)
{
    size_t i;
    json_t *id;
    json_array_foreach(json_object_get(v, "content"), i, id)
        printf("%s\n", json_string_value(id));
}

int cmd_chunks(int argc, char **argv, const char *usage)
{
    return inspect(argc, argv, usage, 1, 1, "chunks", NULL, build_chunks, text_chunks);
}
