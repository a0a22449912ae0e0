/* flist_writer.c - builds an flist from a stream of entries (the writer half
 * of flist.h: flist_writer_new/add/meta/has_meta/finish/free).
 *
 * How a build runs:
 *  - flist_writer_add puts each entry into an in-memory tree (one node per
 *    name; missing parents are created root:root 0755 with time 0; a name
 *    added twice is replaced, a directory over a directory only takes the
 *    new attributes). Every distinct ACI goes into a table keyed by its
 *    ACI key (FLIST-FORMAT.md §3.2).
 *  - Regular file content is cut into FLIST_CHUNK_SIZE pieces, each read
 *    into one of a fixed set of chunk buffers ("slots", 8*threads+16) and
 *    encrypted on the thread pool (inline with threads=1) by
 *    chunk_encrypt_many, up to ENCRYPT_BATCH waiting chunks at once.
 *    A collector thread (the calling thread with threads=1) takes finished
 *    chunks in batches, stores their ids/keys in the file's block array,
 *    asks the backend which of the new ones are missing (one pipelined
 *    EXISTS round trip per batch) and sends only those (one pipelined SET
 *    round trip), then frees the slots. The reader blocks while every slot
 *    is in use, so memory stays bounded whatever the input size.
 *  - Hard links share the block array (reference counted) of their target.
 *  - flist_writer_finish waits for the chunks, sorts each directory like
 *    zflist putdir (subdirectories first, then the rest, each by strcmp)
 *    unless opts.keep_order, encodes every Dir and ACI into an in-memory
 *    SQLite database (schema of §2.1, TEXT keys), serializes it and packs
 *    it to the output atomically with flist_archive_pack.
 *
 * Full chunks of zeros (holes a source skips with skip_zeros, or zeros it
 * reads) are not encrypted: they all are the one chunk of zeros, encrypted
 * once per process, stored once per build, and once stored, written into
 * the block arrays without a slot (a 100 GB hole costs milliseconds).
 *
 * Limits (opts.limits, flist.h): entries, depth and file content are
 * checked as entries come, before any content is read; time per entry and
 * per chunk; bytes stored per upload batch, before it is sent. A limit's
 * refusal is HUB_E_TOO_LARGE and sticky like any failure.
 *
 * Root attributes: like zflist putdir, the root keeps root:root 0755 and
 * time 0 whatever the source says; an entry with path "" is ignored.
 *
 * A failure (read error, backend error) is sticky: every later call
 * returns the same message and nothing is published.
 */
#include "flist.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "flist_keys.h"
#include "flist_layer_memo.h"
#include "flist_schema.h"
#include "hmap.h"
#include "pool.h"
#include "util.h"

#define WRITER_MAX_SLOTS 48            /* chunk buffers in flight, ~1.1 MiB each */
#define ENCRYPT_BATCH 8                /* chunks encrypted together (SIMD lanes) */
#define WRITER_README_MAX (1024 * 1024)
#define WRITER_INDEX_FROM 16           /* children count that gets a hash index */
#define WRITER_MAX_KIDS 0x7fffffffu

/* ------------------------------------------------------------------ */
/* Set of chunk ids already handled by this build                       */
/* ------------------------------------------------------------------ */

/* The table borrows its keys, so each id is copied into a block that never
 * moves (the chunk slots and block arrays it comes from are reused or
 * reallocated). */
#define IDS_PER_BLOCK 4096

typedef struct idblock {
    struct idblock *next;
    uint8_t ids[IDS_PER_BLOCK][16];
} idblock;

typedef struct idset {
    hmap map;          /* 16-byte id -> its copy in blocks */
    idblock *blocks;   /* newest first */
    size_t used;       /* ids in the newest block */
} idset;

static void idset_init(idset *s)
{
    hmap_init(&s->map, 16);
    s->blocks = NULL;
    s->used = 0;
}

static void idset_free(idset *s)
{
    hmap_free(&s->map);
    while (s->blocks) {
        idblock *next = s->blocks->next;
        free(s->blocks);
        s->blocks = next;
    }
}

/* Returns 1 when id was added, 0 when already present, -1 on no memory. */
static int idset_add(idset *s, const uint8_t id[16])
{
    if (!s->blocks || s->used == IDS_PER_BLOCK) {
        idblock *b = malloc(sizeof *b);
        if (!b)
            return -1;
        b->next = s->blocks;
        s->blocks = b;
        s->used = 0;
    }
    /* copied first, kept only when added: one lookup per id */
    uint8_t *copy = s->blocks->ids[s->used];
    memcpy(copy, id, 16);
    int added = hmap_add(&s->map, copy, copy);
    if (added == 1)
        s->used++;
    return added;
}

/* ------------------------------------------------------------------ */
/* The tree                                                             */
/* ------------------------------------------------------------------ */

/* Blocks of a regular file; shared by its hard links. */
typedef struct wcontent {
    flist_block *blocks;
    size_t nblocks, cap;
    atomic_uint refs;                /* nodes and slots holding it */
} wcontent;

typedef struct wnode wnode;
struct wnode {
    char *name;
    wnode *parent;
    flist_type type;
    char aclkey[FLIST_ACLKEY_LEN + 1];
    uint32_t mtime, ctime;
    uint64_t size;
    char *target;                    /* FLIST_LINK */
    flist_special_type special;      /* FLIST_SPECIAL */
    char special_data[24];
    wcontent *content;               /* FLIST_FILE */
    wnode **kids;                    /* FLIST_DIR: contents in order */
    size_t nkids, capkids;
    hmap *index;                     /* name -> position + 1 in kids, from
                                        WRITER_INDEX_FROM kids on */
    uint32_t layer;                  /* layer that made or last touched it */
};

/* One distinct ACI. */
typedef struct wacl {
    char key[FLIST_ACLKEY_LEN + 1];
    flist_acl acl;                   /* uname/gname malloc'ed */
} wacl;

typedef struct wmeta {
    char *name, *value;
} wmeta;

/* ------------------------------------------------------------------ */
/* Chunk slots                                                          */
/* ------------------------------------------------------------------ */

typedef enum slot_state {
    SLOT_FREE,      /* available */
    SLOT_FILLING,   /* being read into by the calling thread */
    SLOT_BUSY,      /* queued or encrypting */
    SLOT_DONE,      /* encrypted, waiting to be collected */
    SLOT_REAPING,   /* being uploaded by the calling thread */
} slot_state;

typedef struct wslot {
    struct flist_writer *w;
    slot_state state;
    uint8_t *plain;
    size_t plain_len;
    uint8_t *cipher;
    size_t cipher_len;
    uint8_t id[16], key[16];
    int failed;
    int zero;                        /* a full chunk of zeros: the shared
                                        zero chunk's cipher, not encrypted */
    wcontent *content;               /* destination (one reference held) */
    size_t index;                    /* block index in content */
} wslot;

struct flist_writer {
    int threads;                     /* 1 = inline */
    int keep_order;
    backend *be;
    pool *pool;
    flist_progress_fn progress;
    void *progress_ud;
    uint64_t total_hint;
    flist_limits limits;
    uint64_t content_bytes;          /* file content added (holes included) */
    uint64_t entries;                /* entries added */
    uint32_t layer;                  /* stamp of the nodes made or touched */
    int zero_stored;                 /* the zero chunk went through reap: later
                                        ones only need their block written */
    uint64_t bytes_done;             /* content bytes reaped, under mu */
    uint64_t bytes_reported;         /* last value given to progress */

    wnode *root;
    wnode **all;                     /* every node ever made, for freeing */
    size_t nall, capall;

    wacl **acls;                     /* in first-use order */
    size_t nacls, capacls;
    hmap acl_index;                  /* ACI key -> its wacl */
    char root_aclkey[FLIST_ACLKEY_LEN + 1];

    wmeta *meta;
    size_t nmeta, capmeta;

    idset seen;                      /* chunk ids handled (uploaded or known) */
    flist_stats counters;            /* chunks_uploaded, bytes_uploaded */

    wslot *slots;
    size_t nslots, reap_batch;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t nbusy, ndone, nreaping;   /* slots in those states, under mu */
    pthread_t collector;
    int has_collector, stop;
    wslot **ready;                   /* nslots: filled slots waiting for encryption
                                        (FIFO, under mu; nready of them) */
    size_t nready;
    int flushed;                     /* a task was queued for every waiting slot */
    wslot **batch;                   /* nslots each: the batch being reaped */
    uint8_t (*batch_ids)[16];
    const uint8_t **batch_vals;
    size_t *batch_lens;
    uint8_t *batch_present;

    uint8_t *readme[2];              /* content of /.README.md, /.README */
    size_t readme_len[2];
    layer_memo *memo;                /* OCI layer results (flist_writer_layer_memo) */

    int failed, finished;
    hub_err fail;                    /* the sticky failure */
};

static const char *const README_NAMES[2] = { ".README.md", ".README" };

/* Records err as the writer's sticky failure. Returns -1. */
static int writer_fail(flist_writer *w, hub_err *err)
{
    pthread_mutex_lock(&w->mu);
    if (!w->failed) {
        w->failed = 1;
        w->fail = *err;
    }
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return -1;
}

/* 0 when the writer can take more work, else -1 with the reason. */
static int writer_usable(flist_writer *w, hub_err *err)
{
    pthread_mutex_lock(&w->mu);
    int failed = w->failed;
    if (failed)
        *err = w->fail;
    pthread_mutex_unlock(&w->mu);
    if (failed)
        return -1;
    if (w->finished)
        return hub_err_set(err, "flist writer: already finished");
    return 0;
}

/* ---- limits ---- */

/* Records a limit's refusal as the writer's failure. Returns -1. */
static int limit_fail(flist_writer *w, hub_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int limit_fail(flist_writer *w, hub_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char msg[HUB_ERR_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    hub_err_setc(err, HUB_E_TOO_LARGE, "%s", msg);
    return writer_fail(w, err);
}

uint64_t flist_writer_stored(flist_writer *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t n = w->counters.bytes_uploaded;
    pthread_mutex_unlock(&w->mu);
    return n;
}

const flist_limits *flist_writer_limits(const flist_writer *w)
{
    return &w->limits;
}

int flist_writer_check_time(flist_writer *w, hub_err *err)
{
    const flist_limits *l = &w->limits;
    if (l->max_ms <= 0 || util_mono_ms() - l->started_ms <= l->max_ms)
        return 0;
    return limit_fail(w, err, "the job ran longer than its limit of %lld s",
                      (long long)(l->max_ms / 1000));
}

/* ---- the chunk of zeros ---- */

/* A full chunk of zeros: sparse holes and zeroed regions (disk images, a
 * bomb of zeros) are cut into it over and over, so it is encrypted once
 * per process and a build stores it once. */
static struct {
    pthread_once_t once;
    int ok;
    uint8_t *cipher;
    size_t cipher_len;
    uint8_t id[16], key[16];
} zero_chunk = { .once = PTHREAD_ONCE_INIT };

static void zero_chunk_init(void)
{
    uint8_t *plain = calloc(1, FLIST_CHUNK_SIZE);
    zero_chunk.cipher = malloc(chunk_cipher_bound(FLIST_CHUNK_SIZE));
    zero_chunk.ok = plain && zero_chunk.cipher &&
                    chunk_encrypt(plain, FLIST_CHUNK_SIZE, zero_chunk.cipher,
                                  &zero_chunk.cipher_len, zero_chunk.id, zero_chunk.key) == 0;
    free(plain);   /* the cipher lives as long as the process */
}

/* 1 when the chunk of zeros is ready to use (0: out of memory). */
static int zero_chunk_ready(void)
{
    pthread_once(&zero_chunk.once, zero_chunk_init);
    return zero_chunk.ok;
}

/* Whether n bytes are all zero (the overlapping memcmp runs at memory
 * speed and stops at the first difference, which is early for real data). */
static int all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* ---- content ---- */

static wcontent *content_new(void)
{
    wcontent *c = calloc(1, sizeof *c);
    if (c)
        atomic_init(&c->refs, 1);
    return c;
}

static void content_unref(wcontent *c)
{
    if (c && atomic_fetch_sub(&c->refs, 1) == 1) {
        free(c->blocks);
        free(c);
    }
}

/* The layer memo's view of a content (flist_layer_memo.h). */
static void memo_ref(void *c)
{
    atomic_fetch_add(&((wcontent *)c)->refs, 1);
}

static void memo_unref(void *c)
{
    content_unref(c);
}

static const flist_block *memo_blocks(void *c, size_t *n)
{
    *n = ((wcontent *)c)->nblocks;
    return ((wcontent *)c)->blocks;
}

/* Makes room for n blocks. Returns 0 or -1. */
static int content_reserve(wcontent *c, size_t n)
{
    if (n <= c->cap)
        return 0;
    size_t cap = c->cap ? c->cap : 4;
    while (cap < n) {
        if (cap > SIZE_MAX / 2 / sizeof(flist_block))
            return -1;
        cap *= 2;
    }
    flist_block *b = realloc(c->blocks, cap * sizeof *b);
    if (!b)
        return -1;
    c->blocks = b;
    c->cap = cap;
    return 0;
}

/* ---- nodes ---- */

/* New node named name[0..len), registered for freeing. NULL on no memory. */
static wnode *node_new(flist_writer *w, const char *name, size_t len, flist_type type)
{
    if (w->nall == w->capall) {
        size_t cap = w->capall ? w->capall * 2 : 256;
        wnode **all = realloc(w->all, cap * sizeof *all);
        if (!all)
            return NULL;
        w->all = all;
        w->capall = cap;
    }
    wnode *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->name = strndup(name, len);
    if (!n->name) {
        free(n);
        return NULL;
    }
    n->type = type;
    w->all[w->nall++] = n;
    return n;
}

static void node_free(wnode *n)
{
    free(n->name);
    free(n->target);
    free(n->kids);
    if (n->index) {
        hmap_free(n->index);
        free(n->index);
    }
    content_unref(n->content);
    free(n);
}

/* Position of the child named name in directory d, or -1. */
static long dir_find(const wnode *d, const char *name)
{
    if (d->index) {
        uintptr_t pos1 = (uintptr_t)hmap_get(d->index, name);
        return pos1 ? (long)(pos1 - 1) : -1;
    }
    for (size_t i = 0; i < d->nkids; i++)
        if (strcmp(d->kids[i]->name, name) == 0)
            return (long)i;
    return -1;
}

/* Indexes the kids of d by name: all of them when the index is new, else
 * the last one. Returns 0, or -1 when out of memory (then d has no index,
 * or an index without the last kid). */
static int dir_index(wnode *d)
{
    if (!d->index) {
        d->index = malloc(sizeof *d->index);
        if (!d->index)
            return -1;
        hmap_init(d->index, 0);
        for (size_t i = 0; i < d->nkids; i++) {
            if (hmap_put(d->index, d->kids[i]->name, (void *)(uintptr_t)(i + 1)) != 0) {
                hmap_free(d->index);
                free(d->index);
                d->index = NULL;
                return -1;
            }
        }
        return 0;
    }
    return hmap_put(d->index, d->kids[d->nkids - 1]->name, (void *)(uintptr_t)d->nkids);
}

/* Appends kid to directory d. Returns 0 or -1 with err (d unchanged). */
static int dir_append(wnode *d, wnode *kid, hub_err *err)
{
    if (d->nkids == d->capkids) {
        if (d->capkids >= WRITER_MAX_KIDS)
            return hub_err_set(err, "directory '%s': too many entries", d->name);
        size_t cap = d->capkids ? d->capkids * 2 : 4;
        wnode **kids = realloc(d->kids, cap * sizeof *kids);
        if (!kids)
            return hub_err_set(err, "out of memory");
        d->kids = kids;
        d->capkids = cap;
    }
    d->kids[d->nkids++] = kid;
    kid->parent = d;
    if ((d->index || d->nkids >= WRITER_INDEX_FROM) && dir_index(d) != 0) {
        d->nkids--;
        kid->parent = NULL;
        return hub_err_set(err, "out of memory");
    }
    return 0;
}

/* Puts kid at position pos of d in place of the entry of the same name (the
 * index keeps the position; its key becomes the new node's name). The old
 * node stays allocated (in w->all) but its file content is released now. */
static void dir_replace(wnode *d, size_t pos, wnode *kid)
{
    wnode *old = d->kids[pos];
    content_unref(old->content);
    old->content = NULL;
    old->parent = NULL;
    d->kids[pos] = kid;
    kid->parent = d;
    if (d->index)   /* an existing key: cannot fail */
        hmap_put(d->index, kid->name, (void *)(uintptr_t)(pos + 1));
}

/* ---- ACIs ---- */

/* Interns the ACI of an entry and writes its key into out. Empty or NULL
 * names become the decimal id. Returns 0 or -1 with err. */
static int acl_intern(flist_writer *w, const char *uname, const char *gname,
                      uint32_t mode, int64_t uid, int64_t gid,
                      char out[FLIST_ACLKEY_LEN + 1], hub_err *err)
{
    char ubuf[24], gbuf[24];
    if (!uname || !*uname) {
        snprintf(ubuf, sizeof ubuf, "%" PRId64, uid);
        uname = ubuf;
    }
    if (!gname || !*gname) {
        snprintf(gbuf, sizeof gbuf, "%" PRId64, gid);
        gname = gbuf;
    }
    flist_acl a = {
        .uname = (char *)uname, .gname = (char *)gname,
        .mode = (uint16_t)(mode & 07777), .id = 0, .uid = uid, .gid = gid,
    };
    flist_acl_key(&a, out);
    if (hmap_get(&w->acl_index, out))
        return 0;

    if (w->nacls == w->capacls) {
        if (w->capacls >= WRITER_MAX_KIDS)
            return hub_err_set(err, "too many distinct owners and modes");
        size_t cap = w->capacls ? w->capacls * 2 : 8;
        wacl **acls = realloc(w->acls, cap * sizeof *acls);
        if (!acls)
            return hub_err_set(err, "out of memory");
        w->acls = acls;
        w->capacls = cap;
    }
    /* one allocation per ACI: the index borrows n->key, which must not move */
    wacl *n = malloc(sizeof *n);
    if (!n)
        return hub_err_set(err, "out of memory");
    memcpy(n->key, out, sizeof n->key);
    n->acl = a;
    n->acl.uname = strdup(uname);
    n->acl.gname = strdup(gname);
    if (!n->acl.uname || !n->acl.gname || hmap_put(&w->acl_index, n->key, n) != 0) {
        free(n->acl.uname);
        free(n->acl.gname);
        free(n);
        return hub_err_set(err, "out of memory");
    }
    w->acls[w->nacls++] = n;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Chunk pipeline                                                       */
/* ------------------------------------------------------------------ */
/*
 * Who does what:
 *  - the calling thread reads content into FREE slots and submits them;
 *  - pool threads encrypt (BUSY -> DONE);
 *  - the collector ("reaper") stores each DONE chunk's id/key in its file's
 *    block array and uploads the batch (DONE -> REAPING -> FREE). With
 *    threads > 1 the collector is a thread of its own, so reading,
 *    encrypting and uploading overlap; with threads == 1 the calling thread
 *    reaps when it runs out of slots.
 * Everything shared (slot states and counters, block arrays, the id set,
 * the failure) is guarded by w->mu; the batch arrays and the backend belong
 * to the single reaper.
 */

/* Pool task (or inline call): encrypts the slots waiting in w->ready, up
 * to ENCRYPT_BATCH of them at once (chunk_encrypt_many works on several
 * chunks in SIMD lanes: ~4.8x the rate of one at a time with 8, against
 * ~1.5x with the 1-3 chunks a task found waiting when one was queued per
 * chunk). A task is queued for every ENCRYPT_BATCH filled slots, and for
 * the rest when the reader runs out of slots or drains (flush_ready). */
static void batch_run(void *arg)
{
    flist_writer *w = arg;
    wslot *take[ENCRYPT_BATCH];
    pthread_mutex_lock(&w->mu);
    size_t n = w->nready < ENCRYPT_BATCH ? w->nready : ENCRYPT_BATCH;
    /* the n longest waiting chunks: a batch of similar lengths keeps the
     * SIMD lanes busy together (a batch's time is that of its longest) */
    for (size_t i = 0; i < n; i++) {
        size_t best = i;
        for (size_t j = i + 1; j < w->nready; j++)
            if (w->ready[j]->plain_len > w->ready[best]->plain_len)
                best = j;
        wslot *t = w->ready[i];
        w->ready[i] = w->ready[best];
        w->ready[best] = t;
        take[i] = w->ready[i];
    }
    w->nready -= n;
    memmove(w->ready, w->ready + n, w->nready * sizeof *w->ready);
    pthread_mutex_unlock(&w->mu);
    if (n == 0)
        return;

    const uint8_t *plain[ENCRYPT_BATCH];
    uint8_t *cipher[ENCRYPT_BATCH];
    size_t plain_len[ENCRYPT_BATCH], cipher_len[ENCRYPT_BATCH];
    uint8_t id[ENCRYPT_BATCH][16], key[ENCRYPT_BATCH][16];
    for (size_t i = 0; i < n; i++) {
        plain[i] = take[i]->plain;
        plain_len[i] = take[i]->plain_len;
        cipher[i] = take[i]->cipher;
    }
    int rc = chunk_encrypt_many(n, plain, plain_len, cipher, cipher_len, id, key);

    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < n; i++) {
        wslot *s = take[i];
        s->failed = rc != 0;
        s->cipher_len = cipher_len[i];
        memcpy(s->id, id[i], 16);
        memcpy(s->key, key[i], 16);
        s->state = SLOT_DONE;
    }
    w->nbusy -= n;
    w->ndone += n;
    /* wake the waiters only when what they wait for may hold (a batch to
     * reap, nothing left in flight, a failure): a wake-up per chunk cost
     * thousands of useless context switches */
    if (w->ndone >= w->reap_batch || w->nbusy == 0 || rc != 0)
        pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Collects every finished slot: stores the blocks, uploads the chunks the
 * backend does not have (one pipelined EXISTS, then one pipelined SET of
 * the missing ones), frees the slots. Returns 0 or -1 with err. */
static int reap(flist_writer *w, hub_err *err)
{
    int rc = 0, had_zero = 0;
    size_t n = 0, nnew = 0;
    uint64_t plain_bytes = 0;

    pthread_mutex_lock(&w->mu);
    uint64_t stored = w->counters.bytes_uploaded;
    for (size_t i = 0; i < w->nslots; i++) {
        wslot *s = &w->slots[i];
        if (s->state != SLOT_DONE)
            continue;
        s->state = SLOT_REAPING;
        w->batch[n++] = s;
        if (rc != 0)
            continue;
        if (s->failed) {
            rc = hub_err_set(err, "chunk encryption failed");
            continue;
        }
        flist_block *b = &s->content->blocks[s->index];
        memcpy(b->id, s->id, 16);
        memcpy(b->key, s->key, 16);
        plain_bytes += s->plain_len;
        had_zero |= s->zero;
        int added = idset_add(&w->seen, s->id);
        if (added < 0) {
            rc = hub_err_set(err, "out of memory");
        } else if (added) {
            memcpy(w->batch_ids[nnew], s->id, 16);
            w->batch_vals[nnew] = s->zero ? zero_chunk.cipher : s->cipher;
            w->batch_lens[nnew] = s->cipher_len;
            nnew++;
        }
    }
    w->ndone -= n;
    w->nreaping += n;
    pthread_mutex_unlock(&w->mu);

    size_t nmiss = 0;
    uint64_t bytes = 0;
    if (rc == 0 && w->be && nnew > 0) {
        if (backend_exists(w->be, (const uint8_t (*)[16])w->batch_ids, nnew,
                           w->batch_present, err) != 0) {
            rc = -1;
        } else {
            for (size_t i = 0; i < nnew; i++) {
                if (w->batch_present[i])
                    continue;
                if (nmiss != i) {
                    memcpy(w->batch_ids[nmiss], w->batch_ids[i], 16);
                    w->batch_vals[nmiss] = w->batch_vals[i];
                    w->batch_lens[nmiss] = w->batch_lens[i];
                }
                bytes += w->batch_lens[nmiss];
                nmiss++;
            }
            uint64_t max = w->limits.max_stored;
            if (max && stored + bytes > max)
                rc = hub_err_setc(err, HUB_E_TOO_LARGE, "the job stores more than %" PRIu64
                                  " bytes on the backend%s%s%s", max,
                                  w->limits.stored_why ? " (" : "",
                                  w->limits.stored_why ? w->limits.stored_why : "",
                                  w->limits.stored_why ? ")" : "");
            else if (nmiss > 0 &&
                backend_set(w->be, (const uint8_t (*)[16])w->batch_ids, w->batch_vals,
                            w->batch_lens, nmiss, err) != 0)
                rc = -1;
        }
    }

    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < n; i++) {
        content_unref(w->batch[i]->content);
        w->batch[i]->content = NULL;
        w->batch[i]->zero = 0;
        w->batch[i]->state = SLOT_FREE;
    }
    w->nreaping -= n;
    if (rc == 0) {
        w->zero_stored |= had_zero;
        w->counters.chunks_uploaded += nmiss;
        w->counters.bytes_uploaded += bytes;
        w->bytes_done += plain_bytes;
    } else if (!w->failed) {
        w->failed = 1;
        w->fail = *err;
    }
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* The collector thread (threads > 1): reaps in batches of reap_batch, or
 * whatever is done when nothing else is being encrypted. */
static void *collector_main(void *arg)
{
    flist_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->stop && !w->failed &&
               !(w->ndone >= w->reap_batch || (w->ndone > 0 && w->nbusy == 0)))
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->stop || w->failed)
            break;
        pthread_mutex_unlock(&w->mu);
        hub_err err;
        reap(w, &err);   /* a failure is recorded in w and ends the loop */
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Tells the progress callback (on the calling thread) how far the chunks
 * got. */
static void report_progress(flist_writer *w)
{
    if (!w->progress)
        return;
    pthread_mutex_lock(&w->mu);
    uint64_t done = w->bytes_done;
    pthread_mutex_unlock(&w->mu);
    if (done != w->bytes_reported) {
        w->bytes_reported = done;
        w->progress(w->progress_ud, done, w->total_hint);
    }
}

/* One turn of a wait loop of the calling thread, entered with w->mu held
 * after the writer did not fail and the awaited state was not reached:
 * reaps a batch itself when reap_now (no collector thread and chunks ready),
 * else waits for a change. Returns 0 with w->mu held again, or -1 with err
 * and w->mu released (the writer failed). */
static int wait_turn(flist_writer *w, int reap_now, hub_err *err)
{
    if (!reap_now) {
        pthread_cond_wait(&w->cv, &w->mu);
        return 0;
    }
    pthread_mutex_unlock(&w->mu);
    if (reap(w, err) != 0)
        return -1;
    pthread_mutex_lock(&w->mu);
    return 0;
}

/* With w->mu held: when the writer failed, copies its failure into err,
 * releases w->mu and returns 1; else returns 0 (w->mu still held). */
static int failed_locked(flist_writer *w, hub_err *err)
{
    if (!w->failed)
        return 0;
    *err = w->fail;
    pthread_mutex_unlock(&w->mu);
    return 1;
}

/* Queues one encryption task (batch_run) on the pool, or runs it here
 * without chunk threads. Returns 0, or -1 with err (the pool stopped). */
static int run_batch_task(flist_writer *w, hub_err *err)
{
    if (!w->pool) {
        batch_run(w);
        return 0;
    }
    if (pool_submit(w->pool, batch_run, w) != 0) {
        hub_err_set(err, "chunk thread pool stopped");
        return writer_fail(w, err);
    }
    return 0;
}

/* Queues tasks for the slots waiting in w->ready that no task covers yet
 * (fewer than a batch). Returns 0 or -1 with err. */
static int flush_ready(flist_writer *w, hub_err *err)
{
    pthread_mutex_lock(&w->mu);
    size_t partial = w->nready % ENCRYPT_BATCH;
    w->flushed = 1;
    pthread_mutex_unlock(&w->mu);
    return partial ? run_batch_task(w, err) : 0;
}

static void slot_release(flist_writer *w, wslot *s);

/* Returns a slot to fill (state SLOT_FILLING). Waits while none is free;
 * without a collector thread, reaps a batch itself. Returns 0 or -1 with
 * err (the writer's failure). */
static int slot_acquire(flist_writer *w, wslot **out, hub_err *err)
{
    report_progress(w);
    if (flist_writer_check_time(w, err) != 0)
        return -1;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        if (failed_locked(w, err))
            return -1;
        for (size_t i = 0; i < w->nslots; i++) {
            wslot *s = &w->slots[i];
            if (s->state == SLOT_FREE) {
                s->state = SLOT_FILLING;
                pthread_mutex_unlock(&w->mu);
                /* buffers on first use: a small archive needs a few of
                 * the ~1.1 MiB slots, not all of them */
                if (!s->plain && !(s->plain = malloc(FLIST_CHUNK_SIZE))) {
                    slot_release(w, s);
                    hub_err_set(err, "out of memory");
                    return writer_fail(w, err);
                }
                if (!s->cipher && !(s->cipher = malloc(chunk_cipher_bound(FLIST_CHUNK_SIZE)))) {
                    slot_release(w, s);
                    hub_err_set(err, "out of memory");
                    return writer_fail(w, err);
                }
                *out = s;
                return 0;
            }
        }
        if (w->nready > 0 && !w->flushed) {
            /* nothing free: the waiting chunks will not become a full batch */
            pthread_mutex_unlock(&w->mu);
            if (flush_ready(w, err) != 0)
                return -1;
            pthread_mutex_lock(&w->mu);
            continue;
        }
        int reap_now = !w->has_collector && w->ndone > 0 &&
                       (w->ndone >= w->reap_batch || w->nbusy == 0);
        if (wait_turn(w, reap_now, err) != 0)
            return -1;
    }
}

static void slot_release(flist_writer *w, wslot *s)
{
    pthread_mutex_lock(&w->mu);
    s->state = SLOT_FREE;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Hands a filled slot to the pool (or encrypts it now). Returns 0 or -1. */
static int slot_submit(flist_writer *w, wslot *s, hub_err *err)
{
    pthread_mutex_lock(&w->mu);
    s->state = SLOT_BUSY;
    w->nbusy++;
    w->ready[w->nready++] = s;
    int full = w->nready % ENCRYPT_BATCH == 0;
    w->flushed = 0;
    pthread_mutex_unlock(&w->mu);
    return full ? run_batch_task(w, err) : 0;
}

/* Hands a slot holding a full chunk of zeros straight to the collector,
 * with the zero chunk's id, key and cipher (no encryption). */
static void slot_submit_zero(flist_writer *w, wslot *s)
{
    pthread_mutex_lock(&w->mu);
    s->zero = 1;
    s->plain_len = FLIST_CHUNK_SIZE;
    s->cipher_len = zero_chunk.cipher_len;
    memcpy(s->id, zero_chunk.id, 16);
    memcpy(s->key, zero_chunk.key, 16);
    s->state = SLOT_DONE;
    w->ndone++;
    if (w->ndone >= w->reap_batch)
        pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Writes the zero chunk as block `index` of c without a slot, once a build
 * stored it (it then needs no upload). Returns 1 when done, 0 when the
 * chunk is not stored yet (take a slot), -1 with err. */
static int zero_block_direct(flist_writer *w, wcontent *c, size_t index, hub_err *err)
{
    pthread_mutex_lock(&w->mu);
    if (!w->zero_stored) {
        pthread_mutex_unlock(&w->mu);
        return 0;
    }
    int rc = content_reserve(c, index + 1);
    if (rc == 0) {
        memcpy(c->blocks[index].id, zero_chunk.id, 16);
        memcpy(c->blocks[index].key, zero_chunk.key, 16);
        c->nblocks = index + 1;
        w->bytes_done += FLIST_CHUNK_SIZE;
    }
    pthread_mutex_unlock(&w->mu);
    if (rc != 0) {
        hub_err_set(err, "out of memory");
        return writer_fail(w, err);
    }
    return 1;
}

/* Waits until every chunk in flight is encrypted, stored in its file and
 * uploaded. Returns 0 or -1 with err. */
static int drain(flist_writer *w, hub_err *err)
{
    pthread_mutex_lock(&w->mu);
    for (;;) {
        if (failed_locked(w, err))
            return -1;
        if (w->nbusy == 0 && w->ndone == 0 && w->nreaping == 0)
            break;
        if (w->nready > 0 && !w->flushed) {
            pthread_mutex_unlock(&w->mu);
            if (flush_ready(w, err) != 0)
                return -1;
            pthread_mutex_lock(&w->mu);
            continue;
        }
        if (wait_turn(w, !w->has_collector && w->nbusy == 0, err) != 0)
            return -1;
    }
    pthread_mutex_unlock(&w->mu);
    report_progress(w);
    return 0;
}

/* Reads `want` bytes of content into slot s from offset `got` on. Returns 0
 * or -1 with err (writer failed, slot released). */
static int read_into(flist_writer *w, const flist_src_entry *e, wslot *s, size_t got,
                     size_t want, uint64_t done, hub_err *err)
{
    while (got < want) {
        long r = e->read(e->read_ctx, s->plain + got, want - got);
        if (r < 0 || (size_t)r > want - got) {
            slot_release(w, s);
            hub_err_set(err, "entry '%s': cannot read its content", e->path);
            return writer_fail(w, err);
        }
        if (r == 0) {
            slot_release(w, s);
            hub_err_set(err, "entry '%s': content ends after %" PRIu64 " of %" PRIu64
                        " bytes", e->path, done + got, e->size);
            return writer_fail(w, err);
        }
        got += (size_t)r;
    }
    return 0;
}

/* Reads exactly e->size bytes of content through e->read and queues its
 * chunks into c. Full chunks of zeros (holes the source skips, or zeros it
 * reads) become the zero chunk without encryption. When capture is not
 * NULL the content is also copied there (room for e->size bytes). Returns
 * 0 or -1 with err (writer failed). */
static int feed_content(flist_writer *w, const flist_src_entry *e, wcontent *c,
                        uint8_t *capture, hub_err *err)
{
    uint64_t done = 0;
    size_t index = 0;
    int zeros_ok = zero_chunk_ready();
    while (done < e->size) {
        uint64_t left = e->size - done;
        size_t want = left < FLIST_CHUNK_SIZE ? (size_t)left : FLIST_CHUNK_SIZE;
        size_t hole = e->skip_zeros ? (size_t)e->skip_zeros(e->read_ctx, want) : 0;
        if (hole > want)
            hole = want;
        int zero = zeros_ok && want == FLIST_CHUNK_SIZE && hole == want;
        if (zero) {
            if (flist_writer_check_time(w, err) != 0)
                return -1;
            int direct = zero_block_direct(w, c, index, err);
            if (direct < 0)
                return -1;
            if (direct) {
                if (capture)
                    memset(capture + done, 0, want);
                done += want;
                index++;
                continue;
            }
        }
        wslot *s = NULL;
        if (slot_acquire(w, &s, err) != 0)
            return -1;
        if (!zero) {
            memset(s->plain, 0, hole);
            if (read_into(w, e, s, hole, want, done, err) != 0)
                return -1;
            zero = zeros_ok && want == FLIST_CHUNK_SIZE && all_zero(s->plain, want);
            if (capture)
                memcpy(capture + done, s->plain, want);
        } else if (capture) {
            memset(capture + done, 0, want);
        }
        if (zero) {
            /* read as zeros: no slot needed when the chunk is stored */
            int direct = zero_block_direct(w, c, index, err);
            if (direct != 0) {
                slot_release(w, s);
                if (direct < 0)
                    return -1;
                done += want;
                index++;
                continue;
            }
        }
        pthread_mutex_lock(&w->mu);   /* the collector writes into c->blocks */
        int grown = content_reserve(c, index + 1);
        pthread_mutex_unlock(&w->mu);
        if (grown != 0) {
            slot_release(w, s);
            hub_err_set(err, "out of memory");
            return writer_fail(w, err);
        }
        c->nblocks = index + 1;       /* filled in when the chunk is reaped */
        atomic_fetch_add(&c->refs, 1);
        s->content = c;
        s->index = index;
        s->plain_len = want;
        if (zero)
            slot_submit_zero(w, s);
        else if (slot_submit(w, s, err) != 0)
            return -1;
        done += want;
        index++;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Public: new / free                                                   */
/* ------------------------------------------------------------------ */

flist_writer *flist_writer_new(const flist_writer_opts *opts, hub_err *err)
{
    hub_err local;
    if (!err)
        err = &local;
    static const flist_writer_opts defaults;
    if (!opts)
        opts = &defaults;
    if (opts->threads < 0) {
        hub_err_set(err, "flist writer: invalid thread count %d", opts->threads);
        return NULL;
    }

    flist_writer *w = calloc(1, sizeof *w);
    if (!w) {
        hub_err_set(err, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    hmap_init(&w->acl_index, 0);
    idset_init(&w->seen);
    w->threads = opts->threads ? opts->threads : pool_cpu_count();
    if (w->threads > FLIST_WRITER_MAX_THREADS)
        w->threads = FLIST_WRITER_MAX_THREADS;
    w->keep_order = opts->keep_order;
    w->progress = opts->progress;
    w->progress_ud = opts->progress_ud;
    w->total_hint = opts->total_hint;
    w->limits = opts->limits;
    if (!w->limits.max_depth || w->limits.max_depth > FLIST_MAX_DEPTH)
        w->limits.max_depth = FLIST_MAX_DEPTH;

    /* enough chunks in flight to keep every thread busy with a batch of
     * ENCRYPT_BATCH while the caller fills the next one and the collector
     * waits for the backend (with 4 slots per thread the threads starved on
     * 2 cores); each slot holds ~1.1 MiB, so the cap bounds memory on many
     * cores (35 MiB with 2 threads, 53 MiB at most); uploads go in batches
     * of half of them */
    w->nslots = 8 * (size_t)w->threads + 2 * ENCRYPT_BATCH;
    if (w->nslots > WRITER_MAX_SLOTS)
        w->nslots = WRITER_MAX_SLOTS;
    w->reap_batch = w->nslots / 2;
    w->slots = calloc(w->nslots, sizeof *w->slots);
    w->ready = calloc(w->nslots, sizeof *w->ready);
    w->batch = calloc(w->nslots, sizeof *w->batch);
    w->batch_ids = calloc(w->nslots, sizeof *w->batch_ids);
    w->batch_vals = calloc(w->nslots, sizeof *w->batch_vals);
    w->batch_lens = calloc(w->nslots, sizeof *w->batch_lens);
    w->batch_present = calloc(w->nslots, 1);
    if (!w->slots || !w->ready || !w->batch || !w->batch_ids || !w->batch_vals || !w->batch_lens ||
        !w->batch_present)
        goto nomem;
    for (size_t i = 0; i < w->nslots; i++)
        w->slots[i].w = w;   /* buffers come with first use (slot_acquire) */

    /* the root: root:root 0755, time 0 (zflist init) */
    w->root = node_new(w, "", 0, FLIST_DIR);
    if (!w->root)
        goto nomem;
    w->root->size = FLIST_DIR_SIZE;
    if (acl_intern(w, "root", "root", 0755, 0, 0, w->root_aclkey, err) != 0)
        goto fail;
    memcpy(w->root->aclkey, w->root_aclkey, sizeof w->root_aclkey);

    if (opts->backend) {
        w->be = backend_connect(opts->backend, 0, err);
        if (!w->be)
            goto fail;
    }
    if (w->threads > 1) {
        w->pool = pool_create(w->threads, (int)w->nslots);
        if (!w->pool) {
            hub_err_set(err, "flist writer: cannot start %d chunk threads", w->threads);
            goto fail;
        }
        if (pthread_create(&w->collector, NULL, collector_main, w) != 0) {
            hub_err_set(err, "flist writer: cannot start the upload thread");
            goto fail;
        }
        w->has_collector = 1;
    }
    return w;

nomem:
    hub_err_set(err, "out of memory");
fail:
    flist_writer_free(w);
    return NULL;
}

void flist_writer_free(flist_writer *w)
{
    if (!w)
        return;
    if (w->has_collector) {
        pthread_mutex_lock(&w->mu);
        w->stop = 1;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->collector, NULL);
    }
    pool_destroy(w->pool);   /* waits for the chunks still queued */
    layer_memo_free(w->memo);
    backend_close(w->be);
    if (w->slots) {
        for (size_t i = 0; i < w->nslots; i++) {
            free(w->slots[i].plain);
            free(w->slots[i].cipher);
            content_unref(w->slots[i].content);
        }
    }
    free(w->slots);
    free(w->ready);
    free(w->batch);
    free(w->batch_ids);
    free(w->batch_vals);
    free(w->batch_lens);
    free(w->batch_present);
    for (size_t i = 0; i < w->nall; i++)
        node_free(w->all[i]);
    free(w->all);
    for (size_t i = 0; i < w->nacls; i++) {
        free(w->acls[i]->acl.uname);
        free(w->acls[i]->acl.gname);
        free(w->acls[i]);
    }
    free(w->acls);
    hmap_free(&w->acl_index);
    for (size_t i = 0; i < w->nmeta; i++) {
        free(w->meta[i].name);
        free(w->meta[i].value);
    }
    free(w->meta);
    idset_free(&w->seen);
    free(w->readme[0]);
    free(w->readme[1]);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}

/* ------------------------------------------------------------------ */
/* Public: add                                                          */
/* ------------------------------------------------------------------ */

/* Checks that path is in cleaned form and at most max_depth deep. */
static int path_check(const char *path, uint32_t max_depth, hub_err *err)
{
    size_t depth = 0;
    const char *p = path;
    if (*p == '\0')
        return 0;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return hub_err_set(err, "entry '%s': path is not in clean form", path);
        if (++depth > max_depth)
            return hub_err_setc(err, HUB_E_TOO_LARGE, "entry '%s': deeper than the limit "
                                "of %" PRIu32 " levels", path, max_depth);
        if (!slash)
            return 0;
        p = slash + 1;
    }
}

/* The node at a cleaned path, or NULL when missing (no creation). */
static wnode *tree_lookup(flist_writer *w, const char *path)
{
    wnode *n = w->root;
    const char *p = path;
    char name[256];
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (n->type != FLIST_DIR)
            return NULL;
        long pos;
        if (len < sizeof name) {
            memcpy(name, p, len);
            name[len] = '\0';
            pos = dir_find(n, name);
        } else {
            char *big = strndup(p, len);
            if (!big)
                return NULL;
            pos = dir_find(n, big);
            free(big);
        }
        if (pos < 0)
            return NULL;
        n = n->kids[pos];
        p = slash ? slash + 1 : p + len;
    }
    return n;
}

/* A directory made for a missing parent: root:root 0755, time 0. */
static wnode *implicit_dir(flist_writer *w, const char *name, hub_err *err)
{
    wnode *d = node_new(w, name, strlen(name), FLIST_DIR);
    if (!d) {
        hub_err_set(err, "out of memory");
        return NULL;
    }
    d->size = FLIST_DIR_SIZE;
    d->layer = w->layer;
    memcpy(d->aclkey, w->root_aclkey, sizeof d->aclkey);
    return d;
}

/* Walks (and creates) the parent directories of the components of `comps`
 * (a modifiable copy of the path); returns the parent directory and points
 * *last at the final component. NULL with err on failure. */
static wnode *tree_parent(flist_writer *w, char *comps, char **last, hub_err *err)
{
    wnode *d = w->root;
    char *p = comps;
    char *slash;
    while ((slash = strchr(p, '/')) != NULL) {
        *slash = '\0';
        long pos = dir_find(d, p);
        if (pos >= 0 && d->kids[pos]->type == FLIST_DIR) {
            d = d->kids[pos];
            d->layer = w->layer;
        } else {
            /* missing, or a non-directory: becomes a directory (like tar
             * extraction replacing a file by a directory) */
            wnode *nd = implicit_dir(w, p, err);
            if (!nd)
                return NULL;
            if (pos >= 0)
                dir_replace(d, (size_t)pos, nd);
            else if (dir_append(d, nd, err) != 0)
                return NULL;
            d = nd;
        }
        p = slash + 1;
    }
    *last = p;
    return d;
}

/* Fills a new FLIST_FILE node's content: hard link, given blocks, or read. */
static int add_file(flist_writer *w, const flist_src_entry *e, wnode *n, hub_err *err)
{
    if (e->hardlink) {
        wnode *t = tree_lookup(w, e->hardlink);
        if (!t)
            return hub_err_set(err, "entry '%s': hard link target '%s' does not exist",
                               e->path, e->hardlink);
        if (t->type != FLIST_FILE || !t->content)
            return hub_err_set(err, "entry '%s': hard link target '%s' is not a regular file",
                               e->path, e->hardlink);
        n->content = t->content;
        atomic_fetch_add(&n->content->refs, 1);
        n->size = t->size;
        /* one inode: the owner and mode of the file linked to */
        memcpy(n->aclkey, t->aclkey, sizeof n->aclkey);
        return 0;
    }

    uint64_t max = w->limits.max_bytes;
    if (max && (e->size > max || w->content_bytes > max - e->size))
        return hub_err_setc(err, HUB_E_TOO_LARGE, "entry '%s': the files hold more than the "
                            "limit of %" PRIu64 " bytes", e->path, max);
    w->content_bytes += e->size;
    n->content = content_new();
    if (!n->content)
        return hub_err_set(err, "out of memory");
    n->size = e->size;

    const flist_block *given = e->blocks;
    size_t ngiven = e->nblocks;
    int which = -1;   /* a root-level readme is captured while its chunks go by */
    for (int i = 0; i < 2; i++)
        if (strcmp(e->path, README_NAMES[i]) == 0)
            which = i;
    if (e->read && w->memo) {
        /* an OCI layer seen before: the chunks of this file, unless it is
         * the readme (its text must be read) */
        const flist_block *mb = NULL;
        size_t mnb = 0;
        int hit = layer_memo_lookup(w->memo, w->layer, e->path, e->size, e->mtime, &mb, &mnb);
        layer_memo_note(w->memo, w->layer, n->content);   /* a failure only loses the memo */
        if (hit && which < 0) {
            given = mb;
            ngiven = mnb;
            e = NULL;   /* not read */
        }
    }
    if (!e || !e->read) {
        /* chunks already stored (merge, OCI, a remembered layer): copy them */
        if (ngiven > 0) {
            if (!given)
                return hub_err_set(err, "entry: no blocks given");
            if (content_reserve(n->content, ngiven) != 0)
                return hub_err_set(err, "out of memory");
            memcpy(n->content->blocks, given, ngiven * sizeof *given);
            n->content->nblocks = ngiven;
            int rc = 0;
            pthread_mutex_lock(&w->mu);
            for (size_t i = 0; i < ngiven && rc == 0; i++)
                if (idset_add(&w->seen, given[i].id) < 0)
                    rc = hub_err_set(err, "out of memory");
            pthread_mutex_unlock(&w->mu);
            if (rc != 0)
                return -1;
        }
        return 0;
    }

    uint8_t *capture = NULL;
    if (which >= 0 && e->size <= WRITER_README_MAX) {
        capture = malloc(e->size ? (size_t)e->size : 1);
        if (!capture)
            return hub_err_set(err, "out of memory");
    }
    if (feed_content(w, e, n->content, capture, err) != 0) {
        free(capture);
        return -1;
    }
    if (capture) {
        free(w->readme[which]);
        w->readme[which] = capture;
        w->readme_len[which] = (size_t)e->size;
    }
    return 0;
}

int flist_writer_add(flist_writer *w, const flist_src_entry *e, hub_err *err)
{
    hub_err local;
    if (!err)
        err = &local;
    if (!w || !e || !e->path)
        return hub_err_set(err, "flist_writer_add: invalid arguments");
    if (writer_usable(w, err) != 0)
        return -1;
    if (e->type < FLIST_DIR || e->type > FLIST_SPECIAL)
        return hub_err_set(err, "entry '%s': unknown type %d", e->path, (int)e->type);
    if (path_check(e->path, w->limits.max_depth, err) != 0)
        return err->code == HUB_E_TOO_LARGE ? writer_fail(w, err) : -1;
    if (w->limits.max_entries && ++w->entries > w->limits.max_entries)
        return limit_fail(w, err, "more entries than the limit of %" PRIu64,
                          w->limits.max_entries);
    if (flist_writer_check_time(w, err) != 0)
        return -1;
    if (e->path[0] == '\0')
        return 0;   /* the root keeps root:root 0755, time 0 (zflist putdir) */

    /* a new entry at a readme path replaces what was captured there */
    for (int i = 0; i < 2; i++) {
        if (strcmp(e->path, README_NAMES[i]) == 0) {
            free(w->readme[i]);
            w->readme[i] = NULL;
        }
    }

    char aclkey[FLIST_ACLKEY_LEN + 1];
    if (acl_intern(w, e->uname, e->gname, e->mode, e->uid, e->gid, aclkey, err) != 0)
        return writer_fail(w, err);
    uint32_t ctime = e->ctime ? e->ctime : e->mtime;

    char *comps = strdup(e->path);
    if (!comps) {
        hub_err_set(err, "out of memory");
        return writer_fail(w, err);
    }
    char *name;
    wnode *dir = tree_parent(w, comps, &name, err);
    if (!dir) {
        free(comps);
        return writer_fail(w, err);
    }
    long pos = dir_find(dir, name);

    if (e->type == FLIST_DIR && pos >= 0 && dir->kids[pos]->type == FLIST_DIR) {
        /* directory over directory: new attributes, same contents */
        wnode *d = dir->kids[pos];
        memcpy(d->aclkey, aclkey, sizeof d->aclkey);
        d->mtime = e->mtime;
        d->ctime = ctime;
        d->layer = w->layer;
        free(comps);
        return 0;
    }

    wnode *n = node_new(w, name, strlen(name), e->type);
    free(comps);
    if (!n) {
        hub_err_set(err, "out of memory");
        return writer_fail(w, err);
    }
    memcpy(n->aclkey, aclkey, sizeof n->aclkey);
    n->mtime = e->mtime;
    n->ctime = ctime;
    n->layer = w->layer;

    int rc = 0;
    switch (e->type) {
    case FLIST_DIR:
        n->size = FLIST_DIR_SIZE;
        break;
    case FLIST_LINK:
        if (!e->link_target) {
            rc = hub_err_set(err, "entry '%s': symlink without a target", e->path);
            break;
        }
        n->target = strdup(e->link_target);
        if (!n->target)
            rc = hub_err_set(err, "out of memory");
        n->size = strlen(e->link_target);
        break;
    case FLIST_SPECIAL:
        if (e->special < FLIST_SPECIAL_SOCKET || e->special > FLIST_SPECIAL_UNKNOWN) {
            rc = hub_err_set(err, "entry '%s': unknown special type %d", e->path,
                             (int)e->special);
            break;
        }
        n->special = e->special;
        if (e->special == FLIST_SPECIAL_BLOCK || e->special == FLIST_SPECIAL_CHARDEV ||
            e->keep_dev)
            snprintf(n->special_data, sizeof n->special_data, "%" PRIu32 ",%" PRIu32,
                     e->dev_major, e->dev_minor);
        else
            snprintf(n->special_data, sizeof n->special_data, "(nothing)");
        n->size = 0;
        break;
    case FLIST_FILE:
        rc = add_file(w, e, n, err);
        break;
    }
    if (rc != 0)
        return writer_fail(w, err);

    /* `pos` is still valid: only the calling thread touches the tree, and
     * reading the content did not change `dir` */
    if (pos >= 0)
        dir_replace(dir, (size_t)pos, n);
    else if (dir_append(dir, n, err) != 0)
        return writer_fail(w, err);
    return 0;
}

/* Growable stack of nodes for the iterative walks (the tree may be 4096
 * deep: no recursion). */
typedef struct nstack {
    wnode **v;
    size_t n, cap;
} nstack;

static int nstack_push(nstack *s, wnode *n)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        wnode **v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = n;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Public: OCI changesets                                               */
/* ------------------------------------------------------------------ */

void flist_writer_set_layer(flist_writer *w, uint32_t layer)
{
    w->layer = layer;
}

int flist_writer_layer_memo(flist_writer *w, const char *dir, const char *const *keys, size_t n,
                            hub_err *err)
{
    static const layer_memo_content_ops ops = { memo_ref, memo_unref, memo_blocks };
    if (w->memo || w->entries > 1)
        return hub_err_set(err, "flist_writer_layer_memo: call it once, before the layers");
    if (!w->be)
        return 0;   /* nothing to check chunks against: no memo */
    w->memo = layer_memo_open(dir, keys, n, w->be, &ops, err);
    return w->memo ? 0 : -1;
}

int flist_writer_stat(flist_writer *w, const char *path, flist_type *type,
                      const char **target)
{
    wnode *n = tree_lookup(w, path);
    if (!n)
        return FLIST_ENOENT;
    *type = n->type;
    if (target)
        *target = n->type == FLIST_LINK ? n->target : NULL;
    return 0;
}

/* Drops the kid of d at pos (its file content released, the node kept in
 * w->all until the writer is freed). */
static void dir_drop(wnode *d, size_t pos)
{
    wnode *old = d->kids[pos];
    content_unref(old->content);
    old->content = NULL;
    old->parent = NULL;
    d->kids[pos] = NULL;
}

/* Closes the gaps dir_drop left in d's kids and rebuilds its name index
 * (without an index on no memory: lookups then scan). */
static void dir_compact(wnode *d)
{
    size_t n = 0;
    for (size_t i = 0; i < d->nkids; i++)
        if (d->kids[i])
            d->kids[n++] = d->kids[i];
    d->nkids = n;
    if (d->index) {
        hmap_free(d->index);
        free(d->index);
        d->index = NULL;
    }
    if (d->nkids >= WRITER_INDEX_FROM)
        dir_index(d);
}

/* Removes from directory top, and from the directories below it that the
 * current layer touched, every entry of a lower layer. Returns 0 or -1
 * (no memory). */
static int strip_lower(flist_writer *w, wnode *top)
{
    nstack st = { 0 };
    int rc = nstack_push(&st, top);
    while (rc == 0 && st.n > 0) {
        wnode *d = st.v[--st.n];
        for (size_t i = 0; i < d->nkids; i++) {
            if (d->kids[i]->layer < w->layer)
                dir_drop(d, i);
            else if (d->kids[i]->type == FLIST_DIR && nstack_push(&st, d->kids[i]) != 0)
                rc = -1;
        }
        dir_compact(d);
    }
    free(st.v);
    return rc;
}

int flist_writer_whiteout(flist_writer *w, const char *path, int opaque, hub_err *err)
{
    hub_err local;
    if (!err)
        err = &local;
    if (writer_usable(w, err) != 0)
        return -1;
    if (path_check(path, w->limits.max_depth, err) != 0)
        return -1;
    wnode *n = tree_lookup(w, path);
    if (!n)
        return 0;
    if (opaque && n->type != FLIST_DIR)
        return 0;
    if (!opaque && n != w->root && n->layer < w->layer) {
        wnode *d = n->parent;
        long pos = dir_find(d, n->name);
        if (pos >= 0) {
            dir_drop(d, (size_t)pos);
            dir_compact(d);
        }
        return 0;
    }
    if (n->type == FLIST_DIR && strip_lower(w, n) != 0) {
        hub_err_set(err, "out of memory");
        return writer_fail(w, err);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Public: metadata                                                     */
/* ------------------------------------------------------------------ */

int flist_writer_meta(flist_writer *w, const char *name, const char *value, hub_err *err)
{
    hub_err local;
    if (!err)
        err = &local;
    if (!w || !name || !*name || !value)
        return hub_err_set(err, "flist_writer_meta: invalid arguments");
    if (w->finished)
        return hub_err_set(err, "flist writer: already finished");
    char *v = strdup(value);
    if (!v)
        return hub_err_set(err, "out of memory");
    for (size_t i = 0; i < w->nmeta; i++) {
        if (strcmp(w->meta[i].name, name) == 0) {
            free(w->meta[i].value);
            w->meta[i].value = v;
            return 0;
        }
    }
    if (w->nmeta == w->capmeta) {
        size_t cap = w->capmeta ? w->capmeta * 2 : 8;
        wmeta *m = realloc(w->meta, cap * sizeof *m);
        if (!m) {
            free(v);
            return hub_err_set(err, "out of memory");
        }
        w->meta = m;
        w->capmeta = cap;
    }
    char *n = strdup(name);
    if (!n) {
        free(v);
        return hub_err_set(err, "out of memory");
    }
    w->meta[w->nmeta].name = n;
    w->meta[w->nmeta].value = v;
    w->nmeta++;
    return 0;
}

int flist_writer_has_meta(flist_writer *w, const char *name)
{
    if (!w || !name)
        return 0;
    for (size_t i = 0; i < w->nmeta; i++)
        if (strcmp(w->meta[i].name, name) == 0)
            return 1;
    return 0;
}

/* Sets `readme` from /.README.md (else /.README) when the caller did not.
 * Content that is not valid UTF-8 is skipped. Returns 0 or -1. */
static int readme_meta(flist_writer *w, hub_err *err)
{
    if (flist_writer_has_meta(w, "readme"))
        return 0;
    for (int i = 0; i < 2; i++) {
        if (!w->readme[i])
            continue;
        /* still a regular file at the root (not replaced by a directory) */
        long pos = dir_find(w->root, README_NAMES[i]);
        if (pos < 0 || w->root->kids[pos]->type != FLIST_FILE)
            continue;
        json_t *text = json_stringn((const char *)w->readme[i], w->readme_len[i]);
        if (!text)
            continue;   /* not UTF-8 */
        json_t *obj = json_object();
        if (!obj || json_object_set_new(obj, "readme", text) != 0) {
            json_decref(obj);
            return hub_err_set(err, "out of memory");
        }
        char *s = json_dumps(obj, 0);
        json_decref(obj);
        if (!s)
            return hub_err_set(err, "out of memory");
        int rc = flist_writer_meta(w, "readme", s, err);
        free(s);
        return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Public: finish                                                       */
/* ------------------------------------------------------------------ */

/* Pushes the subdirectories of d (last first, so they pop in order). */
static int push_subdirs(nstack *s, wnode *d)
{
    for (size_t i = d->nkids; i-- > 0;)
        if (d->kids[i]->type == FLIST_DIR && nstack_push(s, d->kids[i]) != 0)
            return -1;
    return 0;
}

static int kid_cmp(const void *a, const void *b)
{
    const wnode *x = *(wnode *const *)a, *y = *(wnode *const *)b;
    int xd = x->type == FLIST_DIR, yd = y->type == FLIST_DIR;
    if (xd != yd)
        return yd - xd;   /* directories first */
    return strcmp(x->name, y->name);
}

/* The path of directory d relative to the root ("" for the root), into a
 * growable buffer. Returns 0 or -1. */
static int node_path(const wnode *d, char **buf, size_t *cap)
{
    size_t len = 0;
    for (const wnode *n = d; n->parent; n = n->parent)
        len += strlen(n->name) + 1;
    if (len + 1 > *cap) {
        char *b = realloc(*buf, len + 1);
        if (!b)
            return -1;
        *buf = b;
        *cap = len + 1;
    }
    size_t end = len ? len - 1 : 0;   /* no trailing '/' */
    (*buf)[end] = '\0';
    for (const wnode *n = d; n->parent; n = n->parent) {
        size_t l = strlen(n->name);
        end -= l;
        memcpy(*buf + end, n->name, l);
        if (end > 0)
            (*buf)[--end] = '/';
    }
    return 0;
}

typedef struct dbw {
    sqlite3 *db;
    sqlite3_stmt *entry, *meta;
} dbw;

static int db_exec(dbw *d, const char *sql, hub_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(d->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        hub_err_set(err, "flist database: %s", msg ? msg : sqlite3_errmsg(d->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* Inserts one row through stmt (key text, value blob or text). */
static int db_put(dbw *d, sqlite3_stmt *st, const char *key, const void *val, size_t len,
                  int as_text, hub_err *err)
{
    sqlite3_reset(st);
    int rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = as_text ? sqlite3_bind_text64(st, 2, val, len, SQLITE_STATIC, SQLITE_UTF8)
                     : sqlite3_bind_blob64(st, 2, val, len, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    if (rc != SQLITE_OK)
        return hub_err_set(err, "flist database: insert %s: %s", key, sqlite3_errmsg(d->db));
    return 0;
}

/* Encodes directory d (at `path`) and inserts its row. */
static int write_dir(dbw *d, const wnode *dir, const char *path, hub_err *err)
{
    int rc = -1;
    size_t n = dir->nkids;
    size_t plen = strlen(path);
    flist_inode *inos = calloc(n ? n : 1, sizeof *inos);
    char (*keys)[FLIST_DIRKEY_LEN + 1] = calloc(n ? n : 1, sizeof *keys);
    char *child = NULL;
    size_t childcap = 0;
    uint8_t *buf = NULL;
    size_t buflen = 0;
    if (!inos || !keys) {
        hub_err_set(err, "out of memory");
        goto out;
    }

    for (size_t i = 0; i < n; i++) {
        const wnode *k = dir->kids[i];
        flist_inode *ino = &inos[i];
        ino->name = k->name;
        ino->size = k->size;
        ino->type = k->type;
        ino->aclkey = (char *)k->aclkey;
        ino->mtime = k->mtime;
        ino->ctime = k->ctime;
        switch (k->type) {
        case FLIST_DIR: {
            size_t need = plen + strlen(k->name) + 2;
            if (need > childcap) {
                char *c = realloc(child, need);
                if (!c) {
                    hub_err_set(err, "out of memory");
                    goto out;
                }
                child = c;
                childcap = need;
            }
            snprintf(child, need, "%s%s%s", path, plen ? "/" : "", k->name);
            flist_path_key(child, keys[i]);
            ino->dirkey = keys[i];
            break;
        }
        case FLIST_FILE:
            ino->block_size = FLIST_BLOCK_SIZE;
            ino->nblocks = k->content ? k->content->nblocks : 0;
            ino->blocks = ino->nblocks ? k->content->blocks : NULL;
            break;
        case FLIST_LINK:
            ino->target = k->target;
            break;
        case FLIST_SPECIAL:
            ino->special = k->special;
            ino->special_data = (uint8_t *)k->special_data;
            ino->special_len = strlen(k->special_data);
            break;
        }
    }

    /* parent = key(dirname(path)); the root is its own parent */
    char key[FLIST_DIRKEY_LEN + 1], parent[FLIST_DIRKEY_LEN + 1];
    flist_path_key(path, key);
    const char *slash = strrchr(path, '/');
    if (slash) {
        char *pp = strndup(path, (size_t)(slash - path));
        if (!pp) {
            hub_err_set(err, "out of memory");
            goto out;
        }
        flist_path_key(pp, parent);
        free(pp);
    } else {
        flist_path_key("", parent);
    }

    flist_dir row = {
        .name = dir->name,
        .location = (char *)path,
        .parent = parent,
        .aclkey = (char *)dir->aclkey,
        .size = FLIST_DIR_SIZE,
        .mtime = dir->mtime,
        .ctime = dir->ctime,
        .nentries = n,
        .entries = inos,
    };
    if (flist_dir_encode(&row, &buf, &buflen, err) != 0) {
        hub_err_prefix(err, "directory '/%s'", path);
        goto out;
    }
    rc = db_put(d, d->entry, key, buf, buflen, 0, err);
out:
    free(buf);
    free(child);
    free(keys);
    free(inos);
    return rc;
}

/* Builds the database in memory; *out (sqlite3_malloc'ed, free with
 * sqlite3_free) receives its serialized bytes. */
static int build_db(flist_writer *w, unsigned char **out, sqlite3_int64 *outlen, hub_err *err)
{
    dbw d = { 0 };
    nstack st = { 0 };
    char *path = NULL;
    size_t pathcap = 0;
    int rc = -1;

    if (sqlite3_open_v2(":memory:", &d.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        NULL) != SQLITE_OK) {
        hub_err_set(err, "flist database: cannot create: %s",
                    d.db ? sqlite3_errmsg(d.db) : "out of memory");
        goto out;
    }
    if (db_exec(&d, "CREATE TABLE IF NOT EXISTS entries (key VARCHAR(64) PRIMARY KEY, value BLOB);"
                    "CREATE TABLE IF NOT EXISTS metadata (key VARCHAR(64) PRIMARY KEY, value TEXT);"
                    "BEGIN TRANSACTION;", err) != 0)
        goto out;
    if (sqlite3_prepare_v2(d.db, "INSERT INTO entries (key, value) VALUES (?1, ?2)", -1,
                           &d.entry, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(d.db, "REPLACE INTO metadata (key, value) VALUES (?1, ?2)", -1,
                           &d.meta, NULL) != SQLITE_OK) {
        hub_err_set(err, "flist database: %s", sqlite3_errmsg(d.db));
        goto out;
    }

    /* directories, pre-order */
    if (nstack_push(&st, w->root) != 0)
        goto nomem;
    while (st.n > 0) {
        wnode *dir = st.v[--st.n];
        if (node_path(dir, &path, &pathcap) != 0)
            goto nomem;
        if (write_dir(&d, dir, path, err) != 0)
            goto out;
        if (push_subdirs(&st, dir) != 0)
            goto nomem;
    }

    /* every ACI, in first-use order */
    for (size_t i = 0; i < w->nacls; i++) {
        uint8_t *buf = NULL;
        size_t len = 0;
        if (flist_acl_encode(&w->acls[i]->acl, &buf, &len, err) != 0)
            goto out;
        int r = db_put(&d, d.entry, w->acls[i]->key, buf, len, 0, err);
        free(buf);
        if (r != 0)
            goto out;
    }

    for (size_t i = 0; i < w->nmeta; i++)
        if (db_put(&d, d.meta, w->meta[i].name, w->meta[i].value, strlen(w->meta[i].value),
                   1, err) != 0)
            goto out;

    if (db_exec(&d, "COMMIT;", err) != 0)
        goto out;
    *out = sqlite3_serialize(d.db, "main", outlen, 0);
    if (!*out) {
        hub_err_set(err, "flist database: cannot serialize");
        goto out;
    }
    rc = 0;
    goto out;
nomem:
    hub_err_set(err, "out of memory");
out:
    free(path);
    free(st.v);
    sqlite3_finalize(d.entry);
    sqlite3_finalize(d.meta);
    sqlite3_close(d.db);
    return rc;
}

/* Sorts the directories (putdir order) and counts what zflist find would. */
static int sort_and_count(flist_writer *w, flist_stats *s, hub_err *err)
{
    nstack st = { 0 };
    if (nstack_push(&st, w->root) != 0)
        goto nomem;
    while (st.n > 0) {
        wnode *d = st.v[--st.n];
        if (!w->keep_order && d->nkids > 1)
            qsort(d->kids, d->nkids, sizeof *d->kids, kid_cmp);
        for (size_t i = 0; i < d->nkids; i++) {
            const wnode *k = d->kids[i];
            switch (k->type) {
            case FLIST_DIR:
                s->directory++;
                break;
            case FLIST_FILE:
                s->regular++;
                s->fullsize += k->size;
                s->chunks += k->content ? k->content->nblocks : 0;
                break;
            case FLIST_LINK:
                s->symlink++;
                break;
            case FLIST_SPECIAL:
                s->special++;
                break;
            }
        }
        if (push_subdirs(&st, d) != 0)
            goto nomem;
    }
    free(st.v);
    /* the name index is stale after sorting; finish allows no more adds */
    return 0;
nomem:
    free(st.v);
    return hub_err_set(err, "out of memory");
}

int flist_writer_finish(flist_writer *w, const char *output, flist_stats *stats, hub_err *err)
{
    hub_err local;
    if (!err)
        err = &local;
    if (!w || !output)
        return hub_err_set(err, "flist_writer_finish: invalid arguments");
    if (writer_usable(w, err) != 0)
        return -1;
    if (drain(w, err) != 0)
        return -1;
    layer_memo_save(w->memo);   /* every chunk is stored now */
    if (readme_meta(w, err) != 0)
        return writer_fail(w, err);
    w->finished = 1;   /* the tree is sorted below: no more adds */

    flist_stats s = { 0 };
    if (sort_and_count(w, &s, err) != 0)
        return writer_fail(w, err);
    s.chunks_unique = hmap_count(&w->seen.map);
    s.chunks_uploaded = w->counters.chunks_uploaded;
    s.bytes_uploaded = w->counters.bytes_uploaded;

    unsigned char *db = NULL;
    sqlite3_int64 dblen = 0;
    if (build_db(w, &db, &dblen, err) != 0)
        return writer_fail(w, err);
    int rc = flist_archive_pack(db, (size_t)dblen, output, err);
    sqlite3_free(db);
    if (rc != 0)
        return writer_fail(w, err);
    if (stats)
        *stats = s;
    return 0;
}
