/* reply_store.c - replies computed from flists, kept on the shared volume
 * and keyed by the flist's identity (reply_store.h).
 *
 * Every path is opened relative to a descriptor of the store directory
 * (openat), never following a link, so what a reader gets is always a file
 * of the store.
 */
#include "reply_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define STORE_MAGIC "FHRS"
#define STORE_VERSION 1u
#define STORE_HEADER 16            /* magic, version (u32 LE), body length (u64 LE) */
#define STORE_FANOUT 256
#define REFRESH_AFTER_S 3600       /* a hit on an entry older than this refreshes its mtime */
#define TEMP_MAX_AGE_S 3600        /* temporary files of crashed writers */
#define SWEEP_TARGET_PCT 90        /* a sweep over the bound goes down to this share */
#define AGE_BUCKETS 2048           /* sweep histogram: one bucket per minute, the last holds older */

struct reply_store {
    int dirfd;
    uint64_t max_bytes;
};

reply_store *reply_store_open(const char *dir, uint64_t max_bytes, hub_err *err)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        hub_err_set(err, "reply cache %s: %s", dir, strerror(errno));
        return NULL;
    }
    reply_store *s = calloc(1, sizeof *s);
    if (!s) {
        hub_err_setc(err, HUB_E_NOMEM, "out of memory");
        return NULL;
    }
    s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) {
        hub_err_set(err, "reply cache %s: %s", dir, strerror(errno));
        free(s);
        return NULL;
    }
    s->max_bytes = max_bytes;
    return s;
}

void reply_store_close(reply_store *s)
{
    if (!s)
        return;
    close(s->dirfd);
    free(s);
}

/* "<kind>/<hh>" and "<kind>/<hh>/<ino>-<size>-<sec>.<nsec>" of an flist. */
static void entry_paths(const char *kind, const struct stat *st, char *dir, size_t dn,
                        char *path, size_t pn)
{
    snprintf(dir, dn, "%s/%02x", kind, (unsigned)(st->st_ino % STORE_FANOUT));
    snprintf(path, pn, "%s/%" PRIu64 "-%" PRIu64 "-%" PRId64 ".%09ld", dir,
             (uint64_t)st->st_ino, (uint64_t)st->st_size, (int64_t)st->st_mtim.tv_sec,
             (long)st->st_mtim.tv_nsec);
}

int reply_store_get(reply_store *s, const char *kind, const struct stat *flist_st,
                    off_t *offset, size_t *len)
{
    char dir[64], path[160];
    entry_paths(kind, flist_st, dir, sizeof dir, path, sizeof path);
    int fd = openat(s->dirfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    uint8_t h[STORE_HEADER];
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < STORE_HEADER ||
        pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h || memcmp(h, STORE_MAGIC, 4) != 0 ||
        util_load_le32(h + 4) != STORE_VERSION ||
        util_load_le64(h + 8) != (uint64_t)(st.st_size - STORE_HEADER)) {
        close(fd);
        return -1;
    }
    if (time(NULL) - st.st_mtim.tv_sec > REFRESH_AFTER_S)
        (void)futimens(fd, NULL);   /* still in use: keep it from the sweep */
    *offset = STORE_HEADER;
    *len = (size_t)(st.st_size - STORE_HEADER);
    return fd;
}

/* mkdir of "<kind>" then "<kind>/<hh>" under the store. */
static int make_dirs(reply_store *s, const char *kind, const char *dir)
{
    if (mkdirat(s->dirfd, kind, 0755) != 0 && errno != EEXIST)
        return -1;
    if (mkdirat(s->dirfd, dir, 0755) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

int reply_store_put(reply_store *s, const char *kind, const struct stat *flist_st,
                    const void *body, size_t len, hub_err *err)
{
    char dir[64], path[160], tmp[128];
    entry_paths(kind, flist_st, dir, sizeof dir, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s/.tmp-%ld-%lx-%08x", dir, (long)getpid(),
             (unsigned long)pthread_self(), (unsigned)util_random_u32());

    int fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && errno == ENOENT && make_dirs(s, kind, dir) == 0)
        fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return hub_err_set(err, "reply cache %s: %s", dir, strerror(errno));

    uint8_t h[STORE_HEADER];
    memcpy(h, STORE_MAGIC, 4);
    util_store_le32(h + 4, STORE_VERSION);
    util_store_le64(h + 8, (uint64_t)len);
    struct iovec iov[2] = { { h, sizeof h }, { (void *)body, len } };
    size_t want = sizeof h + len;
    ssize_t n = writev(fd, iov, 2);
    int werr = n < 0 ? errno : EIO;   /* a short write on a regular file: disk full */
    if (close(fd) != 0 && n == (ssize_t)want) {
        n = -1;
        werr = errno;
    }
    if (n != (ssize_t)want || renameat(s->dirfd, tmp, s->dirfd, path) != 0) {
        if (n == (ssize_t)want)
            werr = errno;
        unlinkat(s->dirfd, tmp, 0);
        return hub_err_set(err, "reply cache %s: %s", path, strerror(werr));
    }
    return 0;
}

/* ---- sweep ---------------------------------------------------------- */

/* Calls fn for every file two levels below <kind> (kind/hh/name) of every
 * kind directory; fn gets the directory descriptor of hh, the name and its
 * stat. */
typedef void (*entry_fn)(int hhfd, const char *name, const struct stat *st, void *ctx);

static int for_each_entry(reply_store *s, entry_fn fn, void *ctx, hub_err *err)
{
    int top = dup(s->dirfd);
    DIR *d = top >= 0 ? fdopendir(top) : NULL;
    if (!d) {
        if (top >= 0)
            close(top);
        return hub_err_set(err, "reply cache: %s", strerror(errno));
    }
    /* fdopendir shares the offset: start from the beginning */
    rewinddir(d);
    struct dirent *k;
    while ((k = readdir(d))) {
        if (k->d_name[0] == '.')
            continue;
        int kfd = openat(s->dirfd, k->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        for (unsigned hh = 0; kfd >= 0 && hh < STORE_FANOUT; hh++) {
            char sub[4];
            snprintf(sub, sizeof sub, "%02x", hh);
            int hfd = openat(kfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            int scan = hfd >= 0 ? dup(hfd) : -1;
            DIR *hd = scan >= 0 ? fdopendir(scan) : NULL;
            if (!hd && scan >= 0)
                close(scan);
            struct dirent *e;
            while (hd && (e = readdir(hd))) {
                struct stat st;
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
                    fstatat(hfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
                    continue;
                fn(hfd, e->d_name, &st, ctx);
            }
            if (hd)
                closedir(hd);
            if (hfd >= 0)
                close(hfd);
        }
        if (kfd >= 0)
            close(kfd);
    }
    closedir(d);
    return 0;
}

typedef struct sweep_ctx {
    time_t now;
    uint64_t bucket_bytes[AGE_BUCKETS];   /* by age in minutes, the last one older */
    uint64_t entries, bytes;
    unsigned cutoff;                      /* second pass: remove buckets >= cutoff */
} sweep_ctx;

static unsigned age_bucket(const sweep_ctx *c, const struct stat *st)
{
    time_t age = c->now - st->st_mtim.tv_sec;
    if (age < 0)
        age = 0;
    uint64_t m = (uint64_t)age / 60;
    return m >= AGE_BUCKETS ? AGE_BUCKETS - 1 : (unsigned)m;
}

static int is_temp(const char *name)
{
    return strncmp(name, ".tmp-", 5) == 0;
}

static void count_entry(int hhfd, const char *name, const struct stat *st, void *ctx)
{
    sweep_ctx *c = ctx;
    if (is_temp(name)) {
        if (c->now - st->st_mtim.tv_sec > TEMP_MAX_AGE_S)
            unlinkat(hhfd, name, 0);
        return;
    }
    c->bucket_bytes[age_bucket(c, st)] += (uint64_t)st->st_size;
    c->entries++;
    c->bytes += (uint64_t)st->st_size;
}

static void remove_old_entry(int hhfd, const char *name, const struct stat *st, void *ctx)
{
    sweep_ctx *c = ctx;
    if (is_temp(name) || age_bucket(c, st) < c->cutoff)
        return;
    if (unlinkat(hhfd, name, 0) == 0) {
        c->entries--;
        c->bytes -= (uint64_t)st->st_size;
    }
}

int reply_store_sweep(reply_store *s, uint64_t *entries, uint64_t *bytes, hub_err *err)
{
    sweep_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    c->now = time(NULL);
    int rc = for_each_entry(s, count_entry, c, err);
    if (rc == 0 && c->bytes > s->max_bytes) {
        /* keep the youngest buckets that fit in the target share */
        uint64_t target = s->max_bytes / 100 * SWEEP_TARGET_PCT, kept = 0;
        unsigned b = 0;
        while (b < AGE_BUCKETS && kept + c->bucket_bytes[b] <= target)
            kept += c->bucket_bytes[b++];
        c->cutoff = b;
        rc = for_each_entry(s, remove_old_entry, c, err);
    }
    if (entries)
        *entries = c->entries;
    if (bytes)
        *bytes = c->bytes;
    free(c);
    return rc;
}
