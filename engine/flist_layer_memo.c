/* flist_layer_memo.c - OCI layer results remembered by digest
 * (flist_layer_memo.h).
 *
 * File format (little-endian, written once, renamed into place):
 *   "FLMEMO1\n", u32 count, then count records of
 *   u32 path length, path bytes, u64 size, u32 mtime, u32 nblocks,
 *   nblocks x (16-byte id, 16-byte key).
 */
#include "flist_layer_memo.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MEMO_MAGIC "FLMEMO1\n"
#define MEMO_MAGIC_LEN 8
#define MEMO_KEY_MAX 128
#define MEMO_FILE_MAX ((size_t)1 << 30)
#define MEMO_PATH_MAX 4096
#define EXISTS_BATCH 1024

typedef struct memo_rec {
    char *path;
    uint64_t size;
    uint32_t mtime;
    flist_block *blocks;
    uint32_t nblocks;
} memo_rec;

typedef struct memo_note {
    char *path;
    uint64_t size;
    uint32_t mtime;
    void *content;
} memo_note;

typedef struct memo_layer {
    char file[PATH_MAX];       /* "" = this layer is not remembered */
    memo_rec *known;           /* from the file, verified; NULL when unknown */
    size_t nknown;
    unsigned char *raw;        /* the file's bytes (recs point into it) */
    memo_note *notes;
    size_t nnotes, cap;
    uint32_t next;             /* files looked up so far */
    int broken;                /* a note was lost: do not write */
    memo_note pending;         /* looked up, not yet noted */
} memo_layer;

struct layer_memo {
    memo_layer *layers;
    size_t n;
    layer_memo_content_ops ops;
};

static int key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > MEMO_KEY_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((k[i] >= '0' && k[i] <= '9') || (k[i] >= 'a' && k[i] <= 'z') || k[i] == '-' ||
              k[i] == '_'))
            return 0;
    return 1;
}

/* Reads a whole file (at most MEMO_FILE_MAX). NULL when absent or bad. */
static unsigned char *read_all(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    off_t end = lseek(fd, 0, SEEK_END);
    if (end <= 0 || (uint64_t)end > MEMO_FILE_MAX || lseek(fd, 0, SEEK_SET) != 0) {
        close(fd);
        return NULL;
    }
    unsigned char *b = malloc((size_t)end);
    size_t got = 0;
    while (b && got < (size_t)end) {
        ssize_t r = read(fd, b + got, (size_t)end - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(b);
            b = NULL;
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    *len = got;
    return b;
}

static int take(const unsigned char **p, const unsigned char *end, void *out, size_t n)
{
    if ((size_t)(end - *p) < n)
        return -1;
    memcpy(out, *p, n);
    *p += n;
    return 0;
}

/* Parses a memo file into l->known (pointing into raw). 0 or -1. */
static int parse(memo_layer *l, unsigned char *raw, size_t len)
{
    const unsigned char *p = raw, *end = raw + len;
    uint32_t count;
    if (len < MEMO_MAGIC_LEN || memcmp(p, MEMO_MAGIC, MEMO_MAGIC_LEN) != 0)
        return -1;
    p += MEMO_MAGIC_LEN;
    if (take(&p, end, &count, 4) != 0 || count > len / 20)
        return -1;
    memo_rec *recs = calloc(count ? count : 1, sizeof *recs);
    if (!recs)
        return -1;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t pl;
        memo_rec *r = &recs[i];
        if (take(&p, end, &pl, 4) != 0 || pl == 0 || pl > MEMO_PATH_MAX ||
            (size_t)(end - p) < pl)
            goto bad;
        r->path = (char *)p;      /* NUL-terminated below: the format stores it */
        p += pl;
        if (r->path[pl - 1] != '\0' || memchr(r->path, '\0', pl - 1) ||
            take(&p, end, &r->size, 8) != 0 || take(&p, end, &r->mtime, 4) != 0 ||
            take(&p, end, &r->nblocks, 4) != 0 ||
            (size_t)(end - p) / sizeof(flist_block) < r->nblocks)
            goto bad;
        r->blocks = (flist_block *)p;
        p += (size_t)r->nblocks * sizeof(flist_block);
    }
    if (p != end)
        goto bad;
    l->known = recs;
    l->nknown = count;
    return 0;
bad:
    free(recs);
    return -1;
}

/* 1 when the backend holds every chunk of the layer's records. */
static int chunks_present(const memo_layer *l, backend *be)
{
    uint8_t (*ids)[16] = malloc(EXISTS_BATCH * sizeof *ids);
    uint8_t *present = malloc(EXISTS_BATCH);
    int ok = ids && present;
    size_t k = 0;
    for (size_t i = 0; i < l->nknown && ok; i++) {
        for (uint32_t j = 0; j < l->known[i].nblocks && ok; j++) {
            memcpy(ids[k++], l->known[i].blocks[j].id, 16);
            if (k == EXISTS_BATCH || (i + 1 == l->nknown && j + 1 == l->known[i].nblocks)) {
                hub_err err;
                if (backend_exists(be, (const uint8_t (*)[16])ids, k, present, &err) != 0)
                    ok = 0;
                for (size_t t = 0; t < k && ok; t++)
                    ok = present[t] != 0;
                k = 0;
            }
        }
    }
    free(ids);
    free(present);
    return ok;
}

layer_memo *layer_memo_open(const char *dir, const char *const *keys, size_t n, backend *be,
                            const layer_memo_content_ops *ops, hub_err *err)
{
    layer_memo *m = calloc(1, sizeof *m);
    if (!m || !(m->layers = calloc(n ? n : 1, sizeof *m->layers))) {
        free(m);
        hub_err_setc(err, HUB_E_NOMEM, "out of memory");
        return NULL;
    }
    m->n = n;
    m->ops = *ops;
    for (size_t i = 0; i < n; i++) {
        memo_layer *l = &m->layers[i];
        if (!keys[i] || !keys[i][0])
            continue;
        if (!key_ok(keys[i])) {
            layer_memo_free(m);
            hub_err_setc(err, HUB_E_INVALID, "layer memo: invalid key \"%s\"", keys[i]);
            return NULL;
        }
        snprintf(l->file, sizeof l->file, "%s/%s.memo", dir, keys[i]);
        size_t len = 0;
        unsigned char *raw = read_all(l->file, &len);
        if (!raw)
            continue;
        if (parse(l, raw, len) != 0 || !be || !chunks_present(l, be)) {
            free(l->known);
            l->known = NULL;
            l->nknown = 0;
            free(raw);
            continue;
        }
        l->raw = raw;
        utimensat(AT_FDCWD, l->file, NULL, 0);   /* recently used: evicted last */
    }
    return m;
}

int layer_memo_lookup(layer_memo *m, uint32_t layer, const char *path, uint64_t size,
                      uint32_t mtime, const flist_block **blocks, size_t *nblocks)
{
    if (layer == 0 || layer > m->n || !m->layers[layer - 1].file[0])
        return 0;
    memo_layer *l = &m->layers[layer - 1];
    uint32_t idx = l->next++;
    free(l->pending.path);
    l->pending = (memo_note){ .path = strdup(path), .size = size, .mtime = mtime };
    if (!l->pending.path)
        l->broken = 1;
    if (!l->known || idx >= l->nknown)
        return 0;
    const memo_rec *r = &l->known[idx];
    if (r->size != size || r->mtime != mtime || strcmp(r->path, path) != 0)
        return 0;
    *blocks = r->blocks;
    *nblocks = r->nblocks;
    return 1;
}

int layer_memo_note(layer_memo *m, uint32_t layer, void *content)
{
    if (layer == 0 || layer > m->n || !m->layers[layer - 1].file[0])
        return 0;
    memo_layer *l = &m->layers[layer - 1];
    if (l->broken || !l->pending.path) {
        l->broken = 1;
        return -1;
    }
    if (l->nnotes == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        memo_note *nn = realloc(l->notes, cap * sizeof *nn);
        if (!nn) {
            l->broken = 1;
            return -1;
        }
        l->notes = nn;
        l->cap = cap;
    }
    l->pending.content = content;
    m->ops.ref(content);
    l->notes[l->nnotes++] = l->pending;
    l->pending = (memo_note){ 0 };
    return 0;
}

static int put(FILE *f, const void *p, size_t n)
{
    return fwrite(p, 1, n, f) == n ? 0 : -1;
}

void layer_memo_save(layer_memo *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        memo_layer *l = &m->layers[i];
        if (!l->file[0] || l->known || l->broken || l->nnotes != l->next)
            continue;
        char tmp[PATH_MAX + 32];
        snprintf(tmp, sizeof tmp, "%s.%ld.tmp", l->file, (long)getpid());
        FILE *f = fopen(tmp, "wbx");
        if (!f)
            continue;
        uint32_t count = (uint32_t)l->nnotes;
        int rc = put(f, MEMO_MAGIC, MEMO_MAGIC_LEN) | put(f, &count, 4);
        for (size_t k = 0; k < l->nnotes && rc == 0; k++) {
            memo_note *n = &l->notes[k];
            size_t nb = 0;
            const flist_block *b = m->ops.blocks(n->content, &nb);
            uint32_t pl = (uint32_t)strlen(n->path) + 1, nb32 = (uint32_t)nb;
            rc = put(f, &pl, 4) | put(f, n->path, pl) | put(f, &n->size, 8) |
                 put(f, &n->mtime, 4) | put(f, &nb32, 4) | (nb ? put(f, b, nb * sizeof *b) : 0);
        }
        if (fclose(f) != 0)
            rc = -1;
        if (rc != 0 || rename(tmp, l->file) != 0)
            unlink(tmp);
    }
}

void layer_memo_free(layer_memo *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        memo_layer *l = &m->layers[i];
        for (size_t k = 0; k < l->nnotes; k++) {
            free(l->notes[k].path);
            m->ops.unref(l->notes[k].content);
        }
        free(l->notes);
        free(l->pending.path);
        free(l->known);
        free(l->raw);
    }
    free(m->layers);
    free(m);
}
