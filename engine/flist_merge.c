/* flist_merge.c - merges flists in priority order into a new one
 * (flist_merge, declared in flist.h; FLIST-FORMAT.md §9 with Q10 fixed).
 *
 * The first input is copied as it is stored. Each later input is merged
 * into the result the way zflist merge does it, directory by directory:
 * first its subdirectories (a directory that exists in the result is
 * merged recursively and keeps the earlier attributes; a new one is copied
 * with its whole subtree), then its other entries (added when the name is
 * free, skipped otherwise). A name that is already taken by a non-directory
 * keeps that entry and the incoming one is skipped, whatever its type, so
 * no directory ever lists a name twice (zflist's Q10 appended both).
 * Entries are appended in that order (the writer keeps insertion order).
 *
 * File blocks are reused as they are (nothing is uploaded: the inputs must
 * share a backend) and ACIs are resolved in the source flist and re-keyed
 * with the current rule. Metadata: for each name, the first input that has
 * it gives the value. Special entries keep their type and their "maj,min"
 * device numbers, also when zflist labelled a device a socket (Q2).
 */
#include "flist.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"

#define MERGE_MAX_DEPTH 4096

/* A path already in the result, with its type: a value of merge_ctx.paths,
 * whose key is its own path. */
typedef struct merge_path {
    flist_type type;
    char path[];
} merge_path;

typedef struct merge_ctx {
    flist_writer *w;
    hmap paths;        /* path -> merge_path (owned, freed by flist_merge) */
    size_t input;      /* 1-based number of the input being merged */
} merge_ctx;

/* Records a new path. Returns 0 or -1 (no memory). */
static int path_add(merge_ctx *m, const char *path, flist_type type)
{
    size_t len = strlen(path);
    merge_path *p = malloc(sizeof *p + len + 1);
    if (!p)
        return -1;
    p->type = type;
    memcpy(p->path, path, len + 1);
    if (hmap_put(&m->paths, p->path, p) != 0) {
        free(p);
        return -1;
    }
    return 0;
}

/* Parses "maj,min" special data. Returns 0 when it has that form. */
static int parse_dev(const flist_inode *ino, uint32_t *maj, uint32_t *min)
{
    char buf[32];
    if (!ino->special_data || ino->special_len == 0 || ino->special_len >= sizeof buf)
        return -1;
    memcpy(buf, ino->special_data, ino->special_len);
    buf[ino->special_len] = '\0';
    unsigned a, b;
    char tail;
    if (sscanf(buf, "%u,%u%c", &a, &b, &tail) != 2)
        return -1;
    *maj = a;
    *min = b;
    return 0;
}

/* Adds one incoming inode at `path` to the writer. */
static int add_inode(merge_ctx *m, flist *f, const flist_inode *ino, const char *path,
                     hub_err *err)
{
    const flist_acl *acl = flist_acl_get(f, ino->aclkey);
    if (!acl)
        return hub_err_set(err, "merge: input %zu: entry '/%s': its ACI '%s' is missing",
                           m->input, path, ino->aclkey ? ino->aclkey : "");
    flist_src_entry e = {
        .path = path,
        .type = ino->type,
        .mode = acl->mode & 07777u,
        .uid = acl->uid,
        .gid = acl->gid,
        .uname = acl->uname,
        .gname = acl->gname,
        .mtime = ino->mtime,
        .ctime = ino->ctime,
    };
    switch (ino->type) {
    case FLIST_DIR:
        break;
    case FLIST_FILE:
        e.size = ino->size;
        e.blocks = ino->blocks;
        e.nblocks = ino->nblocks;
        break;
    case FLIST_LINK:
        e.link_target = ino->target ? ino->target : "";
        break;
    case FLIST_SPECIAL:
        e.special = ino->special;
        /* device numbers survive whatever the label: zflist calls every
         * special a socket (Q2) but keeps "maj,min" for devices */
        e.keep_dev = parse_dev(ino, &e.dev_major, &e.dev_minor) == 0;
        break;
    }
    if (flist_writer_add(m->w, &e, err) != 0)
        return hub_err_prefix(err, "merge: input %zu", m->input);
    return 0;
}

static int valid_name(const char *name)
{
    return name && *name && !strchr(name, '/') && strcmp(name, ".") != 0 &&
           strcmp(name, "..") != 0;
}

/* Merges directory `path` of input f. copy: the directory is new in the
 * result, keep its stored order; else subdirectories first, then the rest
 * (zflist's two passes). */
static int merge_dir(merge_ctx *m, flist *f, const char *path, int copy, int depth,
                     hub_err *err)
{
    if (depth > MERGE_MAX_DEPTH)
        return hub_err_set(err, "merge: input %zu: deeper than %d levels at '/%s'",
                           m->input, MERGE_MAX_DEPTH, path);
    flist_dir *dir = NULL;
    int rc = flist_dir_load(f, path, &dir, err);
    if (rc != 0) {
        if (rc == FLIST_ENOENT)
            hub_err_set(err, "directory '/%s' is missing", path);
        return hub_err_prefix(err, "merge: input %zu", m->input);
    }

    size_t plen = strlen(path);
    char *child = NULL;
    rc = 0;
    /* pass 0: directories, 1: the rest, 2: everything in stored order */
    static const int copy_passes[] = { 2 }, merge_passes[] = { 0, 1 };
    const int *passes = copy ? copy_passes : merge_passes;
    size_t npasses = copy ? 1 : 2;
    for (size_t p = 0; p < npasses && rc == 0; p++) {
        int pass = passes[p];
        for (size_t i = 0; i < dir->nentries && rc == 0; i++) {
            const flist_inode *ino = &dir->entries[i];
            int is_dir = ino->type == FLIST_DIR;
            if ((pass == 0 && !is_dir) || (pass == 1 && is_dir))
                continue;
            if (!valid_name(ino->name)) {
                rc = hub_err_set(err, "merge: input %zu: directory '/%s' holds an invalid "
                                 "name '%s'", m->input, path, ino->name ? ino->name : "");
                break;
            }
            size_t need = plen + strlen(ino->name) + 2;
            char *c = realloc(child, need);
            if (!c) {
                rc = hub_err_set(err, "out of memory");
                break;
            }
            child = c;
            snprintf(child, need, "%s%s%s", path, plen ? "/" : "", ino->name);

            const merge_path *s = hmap_get(&m->paths, child);
            if (s) {
                /* taken: only directory into directory goes on */
                if (is_dir && s->type == FLIST_DIR)
                    rc = merge_dir(m, f, child, 0, depth + 1, err);
                continue;
            }
            rc = add_inode(m, f, ino, child, err);
            if (rc == 0 && path_add(m, child, ino->type) != 0)
                rc = hub_err_set(err, "out of memory");
            if (rc == 0 && is_dir)
                rc = merge_dir(m, f, child, 1, depth + 1, err);
        }
    }
    free(child);
    flist_dir_free(dir);
    return rc;
}

/* Copies the metadata rows of f whose names are not set yet. */
static int merge_meta(merge_ctx *m, flist *f, hub_err *err)
{
    char **names = NULL;
    size_t n = 0;
    if (flist_meta_names(f, &names, &n, err) != 0)
        return hub_err_prefix(err, "merge: input %zu", m->input);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (flist_writer_has_meta(m->w, names[i]))
            continue;
        char *value = NULL;
        int r = flist_meta_get(f, names[i], &value, err);
        if (r == FLIST_ENOENT)
            continue;
        if (r != 0) {
            rc = hub_err_prefix(err, "merge: input %zu", m->input);
            break;
        }
        rc = flist_writer_meta(m->w, names[i], value, err);
        free(value);
    }
    flist_strv_free(names, n);
    return rc;
}

int flist_merge(const char *output, flist *const *inputs, size_t n, flist_stats *stats,
                hub_err *err)
{
    hub_err local;
    if (!err)
        err = &local;
    if (!output || !inputs || n == 0)
        return hub_err_set(err, "merge: no input flist");

    flist_writer_opts opts = { .threads = 1, .backend = NULL, .keep_order = 1 };
    merge_ctx m = { 0 };
    hmap_init(&m.paths, 0);
    m.w = flist_writer_new(&opts, err);
    if (!m.w)
        return -1;

    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        m.input = i + 1;
        if (!inputs[i]) {
            rc = hub_err_set(err, "merge: input %zu is missing", m.input);
            break;
        }
        rc = merge_dir(&m, inputs[i], "", i == 0, 1, err);
        if (rc == 0)
            rc = merge_meta(&m, inputs[i], err);
    }
    if (rc == 0)
        rc = flist_writer_finish(m.w, output, stats, err);

    flist_writer_free(m.w);
    size_t pos = 0;
    void *p;
    while (hmap_next(&m.paths, &pos, NULL, &p))
        free(p);
    hmap_free(&m.paths);
    return rc;
}
