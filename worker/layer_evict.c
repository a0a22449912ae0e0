/* layer_evict.c - LRU eviction of the container layer cache
 * (layer_evict.h): list the blobs and memos with their size and
 * modification time, sort oldest first, unlink until the rest fits. */
#include "layer_evict.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EVICT_MEMO_SUFFIX ".memo"

typedef struct evict_file {
    char *path;
    uint64_t size;
    int64_t mtime_ns;
} evict_file;

typedef struct evict_list {
    evict_file *v;
    size_t n, cap;
} evict_list;

static void list_free(evict_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].path);
    free(l->v);
}

/* Adds the cache files of dir/sub (regular files; in results/ only
 * *.memo; never a partial download). Returns 0, or -1 with err. */
static int list_dir(evict_list *l, const char *dir, const char *sub, const char *suffix,
                    hub_err *err)
{
    char d[PATH_MAX];
    if ((size_t)snprintf(d, sizeof d, "%s/%s", dir, sub) >= sizeof d)
        return hub_err_set(err, "layer cache: path too long: %s", dir);
    DIR *dh = opendir(d);
    if (!dh)
        return errno == ENOENT ? 0 : hub_err_set(err, "layer cache %s: %s", d, strerror(errno));
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(dh))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || (suffix && (len <= strlen(suffix) ||
                                               strcmp(e->d_name + len - strlen(suffix), suffix))))
            continue;   /* ".", "..", ".part-*", a memo's temporary file */
        char p[PATH_MAX];
        struct stat st;
        if ((size_t)snprintf(p, sizeof p, "%s/%s", d, e->d_name) >= sizeof p ||
            lstat(p, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 64;
            evict_file *v = realloc(l->v, cap * sizeof *v);
            if (!v) {
                rc = hub_err_setc(err, HUB_E_NOMEM, "out of memory");
                break;
            }
            l->v = v;
            l->cap = cap;
        }
        char *copy = strdup(p);
        if (!copy) {
            rc = hub_err_setc(err, HUB_E_NOMEM, "out of memory");
            break;
        }
        l->v[l->n++] = (evict_file){ .path = copy, .size = (uint64_t)st.st_size,
                                     .mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 +
                                                 st.st_mtim.tv_nsec };
    }
    closedir(dh);
    return rc;
}

static int older_first(const void *a, const void *b)
{
    const evict_file *x = a, *y = b;
    return x->mtime_ns < y->mtime_ns ? -1 : x->mtime_ns > y->mtime_ns;
}

int layer_evict(const char *dir, uint64_t max_bytes, layer_evict_stats *stats, hub_err *err)
{
    layer_evict_stats local;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    if (!dir || !*dir || max_bytes == 0)
        return 0;
    evict_list l = {0};
    if (list_dir(&l, dir, "sha256", NULL, err) != 0 ||
        list_dir(&l, dir, "results", EVICT_MEMO_SUFFIX, err) != 0) {
        list_free(&l);
        return -1;
    }
    stats->files = l.n;
    for (size_t i = 0; i < l.n; i++)
        stats->bytes += l.v[i].size;
    if (stats->bytes > max_bytes) {
        qsort(l.v, l.n, sizeof *l.v, older_first);
        uint64_t left = stats->bytes;
        for (size_t i = 0; i < l.n && left > max_bytes; i++) {
            if (unlink(l.v[i].path) != 0 && errno != ENOENT)
                continue;
            left -= l.v[i].size;
            stats->removed++;
            stats->removed_bytes += l.v[i].size;
        }
    }
    list_free(&l);
    return 0;
}
