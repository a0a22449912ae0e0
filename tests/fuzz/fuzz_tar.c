/* fuzz_tar.c - libFuzzer target for archive ingest, what a worker does
 * with an uploaded archive: the bytes (plain tar, gzip through our ISA-L
 * inflate with its trailer checks, or any libarchive filter) are fed from
 * memory (a memfd) to flist_source_tar_fd and the flist writer (no backend:
 * chunks are computed, not stored), then the build is finished. Oracle:
 * whatever the writer accepts must produce an flist that opens and walks.
 * Corpus: tests/fuzz/corpus/tar (small tars in several formats and filters).
 */
#include "fuzz.h"
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include <sanitizer/asan_interface.h>

#include "chunk.h"
#include "flist.h"

/* ---- recycling of the writer's chunk buffers ----
 * Every flist_writer_new allocates its chunk slots (48 buffers of 512 KiB
 * and of chunk_cipher_bound(512 KiB)) and flist_writer_free releases them.
 * Under ASan each of these large blocks is mapped, shadowed and unmapped
 * again, which costs ~50 ms a run (20 runs/s). This target is linked with
 * -Wl,--wrap=malloc,--wrap=free,--wrap=realloc (tests/fuzz/CMakeLists.txt):
 * blocks of exactly those two sizes are kept after free and handed out
 * again, ASan-poisoned while idle, so that a use after free of a chunk
 * buffer is still reported. Every other allocation goes straight through. */
void *__real_malloc(size_t n);
void __real_free(void *p);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void __wrap_free(void *p);
void *__wrap_realloc(void *p, size_t n);

#define POOL_MAX 256
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static size_t pool_size_a, pool_size_b;   /* set by LLVMFuzzerInitialize */
static struct {
    void *p;
    size_t size;
    int idle;
} pool[POOL_MAX];
static size_t npool;

void *__wrap_malloc(size_t n)
{
    if (!n || (n != pool_size_a && n != pool_size_b))
        return __real_malloc(n);
    pthread_mutex_lock(&pool_mu);
    for (size_t i = 0; i < npool; i++) {
        if (pool[i].idle && pool[i].size == n) {
            pool[i].idle = 0;
            pthread_mutex_unlock(&pool_mu);
            ASAN_UNPOISON_MEMORY_REGION(pool[i].p, n);
            return pool[i].p;
        }
    }
    void *p = __real_malloc(n);
    if (p && npool < POOL_MAX) {
        pool[npool].p = p;
        pool[npool].size = n;
        pool[npool].idle = 0;
        npool++;
    }
    pthread_mutex_unlock(&pool_mu);
    return p;
}

/* The pool entry of p, or -1; pool_mu held. */
static long pool_find(const void *p)
{
    for (size_t i = 0; i < npool; i++)
        if (pool[i].p == p)
            return (long)i;
    return -1;
}

void __wrap_free(void *p)
{
    if (p && pool_size_a) {
        pthread_mutex_lock(&pool_mu);
        long i = pool_find(p);
        if (i >= 0) {
            if (pool[i].idle) {
                fprintf(stderr, "double free of chunk buffer %p\n", p);
                abort();
            }
            pool[i].idle = 1;
            ASAN_POISON_MEMORY_REGION(p, pool[i].size);
            pthread_mutex_unlock(&pool_mu);
            return;
        }
        pthread_mutex_unlock(&pool_mu);
    }
    __real_free(p);
}

void *__wrap_realloc(void *p, size_t n)
{
    if (p && pool_size_a) {
        pthread_mutex_lock(&pool_mu);
        long i = pool_find(p);
        if (i >= 0) {   /* leaves the pool: a plain block from now on */
            if (pool[i].idle) {
                fprintf(stderr, "realloc of freed chunk buffer %p\n", p);
                abort();
            }
            pool[i] = pool[--npool];
        }
        pthread_mutex_unlock(&pool_mu);
    }
    return __real_realloc(p, n);
}

static char out_path[256];
static char out_dir[128];

static void cleanup(void)
{
    unlink(out_path);
    rmdir(out_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    pool_size_a = FLIST_CHUNK_SIZE;
    pool_size_b = chunk_cipher_bound(FLIST_CHUNK_SIZE);
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(out_dir, sizeof out_dir, "%s/fuzz_tar.XXXXXX", base);
    if (!mkdtemp(out_dir)) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(out_path, sizeof out_path, "%s/out.flist", out_dir);
    atexit(cleanup);
    return 0;
}

static int count_entry(const flist_entry *e, void *ud)
{
    (*(size_t *)ud)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = fuzz_mem_fd("fuzz_tar", data, size);

    hub_err err;
    flist_writer_opts opts = {.threads = 1, .backend = NULL};
    flist_writer *w = flist_writer_new(&opts, &err);
    if (!w)
        abort();
    int ok = flist_source_tar_fd(w, fd, &err) == 0;
    close(fd);
    if (ok) {
        flist_writer_meta(w, "author", "fuzz", &err);
        flist_stats st;
        if (flist_writer_finish(w, out_path, &st, &err) != 0) {
            fprintf(stderr, "flist_writer_finish refused an accepted archive: %s\n", err.msg);
            abort();
        }
        flist *f = NULL;
        if (flist_open(out_path, &f, &err) != 0) {
            fprintf(stderr, "the writer's flist does not open: %s\n", err.msg);
            abort();
        }
        size_t n = 0;
        if (flist_walk(f, "/", count_entry, &n, &err) != 0) {
            fprintf(stderr, "the writer's flist does not walk: %s\n", err.msg);
            abort();
        }
        flist_close(f);
        unlink(out_path);
    }
    flist_writer_free(w);
    return 0;
}
