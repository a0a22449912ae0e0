/* flist_archive.c - the .flist container (FLIST-FORMAT.md §1) and atomic
 * file publication.
 *
 * Reading: an .flist held in memory (gzip'd tar or plain tar) is read with
 * libarchive (a single-member gzip is first inflated whole with ISA-L, which
 * is much faster than libarchive's zlib; anything else, or any failure of
 * that path, goes through libarchive alone); the member whose name is
 * flistdb.sqlite3 (optionally below a directory, normally
 * "./flistdb.sqlite3") is copied into memory, every other
 * member is skipped. Nothing is ever written to disk, and the decompressed
 * database is capped (decompression-bomb guard). The whole archive is read to
 * its end so that truncation anywhere is reported.
 *
 * Writing: gzip(tar("./", "./flistdb.sqlite3")) with end-of-archive blocks.
 * libarchive writes the GNU tar stream into a callback that deflates it with
 * zlib (gzip header without name, mtime 0, OS Unix, like zflist). Member
 * times are 0 so that the same database always packs to the same bytes. The
 * result goes to a temporary ".tmp-XXXXXX" file in the destination directory
 * that is fsync'ed and renamed over the destination.
 */
#include "flist.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <isa-l/igzip_lib.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define DB_MEMBER "flistdb.sqlite3"
#define IO_BUF (64 * 1024)

/* ------------------------------------------------------------------ */
/* Reading                                                              */
/* ------------------------------------------------------------------ */

/* Fills err after a libarchive failure: truncation is named as such;
 * `what` says what else went wrong ("not an flist: ..." when the data was
 * never recognised). Returns -1. */
static int archive_fail(struct archive *a, const char *what, hub_err *err)
{
    const char *m = archive_error_string(a);
    if (!m)
        return hub_err_set(err, "truncated or corrupt .flist: the gzip or tar data ends "
                           "early or is damaged");
    if (strcasestr(m, "truncated"))
        return hub_err_set(err, "truncated .flist: %s", m);
    return hub_err_set(err, "%s (%s)", what, m);
}

/* True when the member name is "flistdb.sqlite3" or ends in "/flistdb.sqlite3". */
static int is_db_member(const char *name)
{
    size_t n = strlen(name), m = strlen(DB_MEMBER);
    if (n < m || strcmp(name + n - m, DB_MEMBER) != 0)
        return 0;
    return n == m || name[n - m - 1] == '/';
}

/* How the database buffer is allocated: malloc or sqlite3_malloc (the
 * latter lets flist.c hand the buffer to SQLite without another copy). */
typedef struct db_alloc {
    void *(*alloc)(size_t);
    void *(*grow)(void *, size_t);
    void (*release)(void *);
} db_alloc;

static void *sq_alloc(size_t n) { return sqlite3_malloc64(n); }
static void *sq_grow(void *p, size_t n) { return sqlite3_realloc64(p, n); }
static void sq_release(void *p) { sqlite3_free(p); }

static const db_alloc with_malloc = { malloc, realloc, free };
static const db_alloc with_sqlite = { sq_alloc, sq_grow, sq_release };

/* Copies the current member's data into a new buffer (allocated with `m`) of
 * at most max_size bytes. Returns 0 or -1 (err set). */
static int read_member(struct archive *a, struct archive_entry *e, size_t max_size,
                       const db_alloc *m, uint8_t **out, size_t *out_len, hub_err *err)
{
    size_t cap = 0, len = 0;
    uint8_t *buf = NULL;

    if (archive_entry_size_is_set(e)) {
        int64_t sz = archive_entry_size(e);
        if (sz < 0 || (uint64_t)sz > max_size)
            return hub_err_setc(err, HUB_E_TOO_LARGE, DB_MEMBER " is %lld bytes, more than "
                                "the limit of %zu bytes", (long long)sz, max_size);
        cap = (size_t)sz;
    }
    if (cap == 0)
        cap = IO_BUF;
    buf = m->alloc(cap);
    if (!buf)
        return hub_err_set(err, "out of memory reading " DB_MEMBER);

    for (;;) {
        if (len == cap) {
            if (cap >= max_size) {
                /* Full at the limit: one more byte means too large. */
                char probe;
                la_ssize_t r = archive_read_data(a, &probe, 1);
                if (r == 0)
                    break;
                m->release(buf);
                if (r < 0)
                    return archive_fail(a, "corrupt .flist", err);
                return hub_err_setc(err, HUB_E_TOO_LARGE, DB_MEMBER " is larger than the "
                                    "limit of %zu bytes", max_size);
            }
            size_t ncap = cap > max_size / 2 ? max_size : cap * 2;
            uint8_t *nb = m->grow(buf, ncap);
            if (!nb) {
                m->release(buf);
                return hub_err_set(err, "out of memory reading " DB_MEMBER);
            }
            buf = nb;
            cap = ncap;
        }
        la_ssize_t r = archive_read_data(a, buf + len, cap - len);
        if (r < 0) {
            m->release(buf);
            return archive_fail(a, "corrupt .flist", err);
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    *out = buf;
    *out_len = len;
    return 0;
}

/* Room for the tar headers, padding and small extra members around the
 * database in the fast path's buffer. */
#define TAR_SLACK (1024 * 1024)

/* The fast path for the common case, a single gzip member: inflates all of
 * `in` with ISA-L (several times faster than zlib) into a new malloc'ed
 * buffer of at most `cap` bytes. Returns 0 with *out and *out_len set, or 1 when
 * the fast path does not apply (corrupt, truncated, several members,
 * trailing bytes, output larger than cap, out of memory): the caller then
 * reads the original bytes through libarchive as before, which gives the
 * same result and the same error messages as without this path. */
static int gunzip_whole(const uint8_t *in, size_t len, size_t cap,
                        uint8_t **out, size_t *out_len)
{
    if (len < 18 || len > UINT32_MAX)
        return 1;
    /* the gzip trailer's ISIZE (length mod 2^32) sizes the first buffer */
    size_t isize = (size_t)in[len - 4] | (size_t)in[len - 3] << 8 |
                   (size_t)in[len - 2] << 16 | (size_t)in[len - 1] << 24;
    size_t size = isize + 1;  /* +1: the end is seen without a regrowth */
    /* ISIZE is the sender's word: deflate expands at most 1032:1, so an
     * 18-byte upload cannot make us reserve a GiB */
    size_t ratio_cap = len * 1032 + 4096;
    if (size > ratio_cap)
        size = ratio_cap;
    if (size < 4096)
        size = 4096;
    if (size > cap)
        size = cap;
    uint8_t *buf = malloc(size);
    if (!buf)
        return 1;

    struct inflate_state *zs = malloc(sizeof *zs);
    if (!zs) {
        free(buf);
        return 1;
    }
    isal_inflate_init(zs);
    zs->crc_flag = ISAL_GZIP;
    zs->next_in = (uint8_t *)(uintptr_t)in;
    zs->avail_in = (uint32_t)len;
    size_t have = 0;
    for (;;) {
        size_t room = size - have;
        if (room > UINT32_MAX)
            room = UINT32_MAX;
        zs->next_out = buf + have;
        zs->avail_out = (uint32_t)room;
        int r = isal_inflate(zs);
        have += room - zs->avail_out;
        if (r != ISAL_DECOMP_OK && r != ISAL_END_INPUT)
            break;
        if (zs->block_state == ISAL_BLOCK_FINISH) {
            if (zs->avail_in != 0)
                break;  /* another member or trailing bytes */
            free(zs);
            *out = buf;
            *out_len = have;
            return 0;
        }
        if (zs->avail_out != 0)
            break;  /* input exhausted before the end: truncated */
        if (size >= cap)
            break;  /* over the limit */
        size_t nsize = size > cap / 2 ? cap : size * 2;
        uint8_t *nb = realloc(buf, nsize);
        if (!nb)
            break;
        buf = nb;
        size = nsize;
    }
    free(zs);
    free(buf);
    return 1;
}

/* Reads the database member out of `data` (gzip'd tar or tar) with
 * libarchive into a buffer allocated with `m`. Returns 0 or -1 (err set). */
static int unpack_archive(const void *data, size_t len, size_t max_size, const db_alloc *m,
                          uint8_t **db, size_t *db_len, hub_err *err)
{
    struct archive *a = archive_read_new();
    if (!a)
        return hub_err_set(err, "out of memory (archive reader)");
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_none(a);
    archive_read_support_format_tar(a);

    uint8_t *found = NULL;
    size_t found_len = 0;
    int rc = -1;

    if (archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
        archive_fail(a, "not an flist: not a readable gzip or tar archive", err);
        goto out;
    }
    for (;;) {
        struct archive_entry *e;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            archive_fail(a, "corrupt .flist", err);
            goto out;
        }
        const char *name = archive_entry_pathname(e);
        if (name && archive_entry_filetype(e) == AE_IFREG && is_db_member(name)) {
            if (found) {
                hub_err_set(err, "not an flist: the archive holds " DB_MEMBER " twice");
                goto out;
            }
            if (read_member(a, e, max_size, m, &found, &found_len, err) < 0)
                goto out;
        } else if (archive_read_data_skip(a) < ARCHIVE_WARN) {
            archive_fail(a, "corrupt .flist", err);
            goto out;
        }
    }
    if (!found) {
        hub_err_set(err, "not an flist: the archive has no " DB_MEMBER);
        goto out;
    }
    *db = found;
    *db_len = found_len;
    found = NULL;
    rc = 0;
out:
    if (found)
        m->release(found);
    archive_read_free(a);
    return rc;
}

/* How much of a gzip'd .flist is inflated to look at its first headers. */
#define PEEK_SIZE (64 * 1024)

/* Refuses, before anything is inflated whole, a gzip'd .flist whose
 * database member declares more than max_size bytes in its tar header
 * (a few KB of zero padding can declare GBs): inflates the first
 * PEEK_SIZE bytes and reads the headers found there. Returns -1 with
 * err (HUB_E_TOO_LARGE, read_member's message), or 0 when nothing was
 * found over the limit (the full read decides the rest). */
static int peek_db_size(const uint8_t *in, size_t len, size_t max_size, hub_err *err)
{
    struct inflate_state *zs = malloc(sizeof *zs);
    uint8_t *prefix = malloc(PEEK_SIZE);
    int rc = 0;
    if (!zs || !prefix || len > UINT32_MAX)
        goto out;
    isal_inflate_init(zs);
    zs->crc_flag = ISAL_GZIP;
    zs->next_in = (uint8_t *)(uintptr_t)in;
    zs->avail_in = (uint32_t)len;
    zs->next_out = prefix;
    zs->avail_out = PEEK_SIZE;
    int r = isal_inflate(zs);
    size_t have = PEEK_SIZE - zs->avail_out;
    if ((r != ISAL_DECOMP_OK && r != ISAL_END_INPUT) || have == 0)
        goto out;
    struct archive *a = archive_read_new();
    if (!a)
        goto out;
    archive_read_support_filter_none(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_memory(a, prefix, have) == ARCHIVE_OK) {
        struct archive_entry *e;
        while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
            const char *name = archive_entry_pathname(e);
            if (name && archive_entry_filetype(e) == AE_IFREG && is_db_member(name)) {
                int64_t sz = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
                if (sz < 0 || (uint64_t)sz > max_size)
                    rc = hub_err_setc(err, HUB_E_TOO_LARGE, DB_MEMBER " is %lld bytes, more "
                                      "than the limit of %zu bytes", (long long)sz, max_size);
                break;
            }
            if (archive_read_data_skip(a) != ARCHIVE_OK)
                break;   /* the prefix ends inside this member */
        }
    }
    archive_read_free(a);
out:
    free(prefix);
    free(zs);
    return rc;
}

/* flist_archive_unpack with the database allocated with `m`. */
static int unpack_with(const void *data, size_t len, size_t max_size, const db_alloc *m,
                       uint8_t **db, size_t *db_len, hub_err *err)
{
    *db = NULL;
    *db_len = 0;
    const uint8_t *d = data;
    if (len >= 2 && d[0] == 0x1f && d[1] == 0x8b) {
        if (peek_db_size(d, len, max_size, err) < 0)
            return -1;
        uint8_t *tar = NULL;
        size_t tar_len = 0;
        size_t cap = max_size > SIZE_MAX - TAR_SLACK ? SIZE_MAX : max_size + TAR_SLACK;
        if (gunzip_whole(d, len, cap, &tar, &tar_len) == 0) {
            int rc = unpack_archive(tar, tar_len, max_size, m, db, db_len, err);
            free(tar);
            return rc;
        }
    }
    return unpack_archive(data, len, max_size, m, db, db_len, err);
}

int flist_archive_unpack(const void *data, size_t len, size_t max_size,
                         uint8_t **db, size_t *db_len, hub_err *err)
{
    return unpack_with(data, len, max_size, &with_malloc, db, db_len, err);
}

int flist_archive_unpack_sqlite(const void *data, size_t len, size_t max_size,
                                uint8_t **db, size_t *db_len, hub_err *err)
{
    return unpack_with(data, len, max_size, &with_sqlite, db, db_len, err);
}

/* ------------------------------------------------------------------ */
/* Atomic files                                                         */
/* ------------------------------------------------------------------ */

/* A file being written under a temporary name beside its destination. */
/* Messages name the file being published by its base name only: they reach
 * hub users through job errors, and server paths are none of their
 * business. */
typedef struct atomic_file {
    int fd;
    const char *name;        /* base name of the target, for messages */
    char tmp[PATH_MAX];
    char dir[PATH_MAX];
} atomic_file;

/* Creates "<dir of path>/.tmp-XXXXXX" (mode 0644). Returns 0 or -1. */
static int atomic_open(atomic_file *af, const char *path, hub_err *err)
{
    const char *slash = strrchr(path, '/');
    int n;
    af->name = slash ? slash + 1 : path;
    if (!slash)
        n = snprintf(af->dir, sizeof af->dir, ".");
    else if (slash == path)
        n = snprintf(af->dir, sizeof af->dir, "/");
    else
        n = snprintf(af->dir, sizeof af->dir, "%.*s", (int)(slash - path), path);
    if (n < 0 || (size_t)n >= sizeof af->dir)
        return hub_err_set(err, "%s: path too long", af->name);
    n = snprintf(af->tmp, sizeof af->tmp, "%s/.tmp-XXXXXX", af->dir);
    if (n < 0 || (size_t)n >= sizeof af->tmp)
        return hub_err_set(err, "%s: path too long", af->name);
    af->fd = mkostemp(af->tmp, O_CLOEXEC);
    if (af->fd < 0)
        return hub_err_set(err, "%s: cannot create a temporary file: %s",
                           af->name, strerror(errno));
    if (fchmod(af->fd, 0644) < 0) {
        int e = errno;
        close(af->fd);
        unlink(af->tmp);
        return hub_err_set(err, "%s: chmod: %s", af->name, strerror(e));
    }
    return 0;
}

/* Removes the temporary file. */
static void atomic_abort(atomic_file *af)
{
    if (af->fd >= 0)
        close(af->fd);
    af->fd = -1;
    unlink(af->tmp);
}

/* Writes len bytes to the temporary file. Returns 0 or -1. */
static int atomic_write(atomic_file *af, const void *data, size_t len, hub_err *err)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t w = write(af->fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return hub_err_set(err, "%s: write: %s", af->name, strerror(errno));
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* fsync, close, rename over path, fsync the directory. On failure the
 * temporary file is removed. Returns 0 or -1. */
static int atomic_commit(atomic_file *af, const char *path, hub_err *err)
{
    if (fsync(af->fd) < 0) {
        hub_err_set(err, "%s: fsync: %s", af->name, strerror(errno));
        atomic_abort(af);
        return -1;
    }
    if (close(af->fd) < 0) {
        af->fd = -1;
        hub_err_set(err, "%s: close: %s", af->name, strerror(errno));
        atomic_abort(af);
        return -1;
    }
    af->fd = -1;
    if (rename(af->tmp, path) < 0) {
        hub_err_set(err, "%s: rename: %s", af->name, strerror(errno));
        atomic_abort(af);
        return -1;
    }
    int dfd = open(af->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);  /* best effort: the file itself is already durable */
        close(dfd);
    }
    return 0;
}

int hub_write_atomic(const char *path, const void *data, size_t len, hub_err *err)
{
    atomic_file af;
    if (atomic_open(&af, path, err) < 0)
        return -1;
    if (atomic_write(&af, data, len, err) < 0) {
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af, path, err);
}

/* ------------------------------------------------------------------ */
/* Writing                                                              */
/* ------------------------------------------------------------------ */

/* State of the gzip stream between libarchive and the temporary file. */
typedef struct gz_sink {
    z_stream zs;
    atomic_file *af;
    hub_err *err;
    int failed;                /* err already holds the reason */
    uint8_t out[IO_BUF];
} gz_sink;

/* Deflates in (may be empty) with `flush` and writes what comes out. */
static int gz_feed(gz_sink *s, const void *in, size_t len, int flush)
{
    s->zs.next_in = (Bytef *)(uintptr_t)in;
    s->zs.avail_in = (uInt)len;
    for (;;) {
        s->zs.next_out = s->out;
        s->zs.avail_out = sizeof s->out;
        int r = deflate(&s->zs, flush);
        if (r == Z_STREAM_ERROR) {
            s->failed = 1;
            return hub_err_set(s->err, "gzip compression failed");
        }
        size_t have = sizeof s->out - s->zs.avail_out;
        if (have && atomic_write(s->af, s->out, have, s->err) < 0) {
            s->failed = 1;
            return -1;
        }
        if (flush == Z_FINISH ? r == Z_STREAM_END : s->zs.avail_out != 0)
            return 0;
    }
}

/* libarchive write callback: the tar bytes go through gzip to the file. */
static la_ssize_t gz_write_cb(struct archive *a, void *ud, const void *buf, size_t len)
{
    gz_sink *s = ud;
    /* avail_in is 32 bits: feed large buffers in pieces */
    const uint8_t *p = buf;
    size_t left = len;
    while (left > 0) {
        size_t n = left > (1u << 30) ? (1u << 30) : left;
        if (gz_feed(s, p, n, Z_NO_FLUSH) < 0) {
            archive_set_error(a, EIO, "%s", s->err ? s->err->msg : "write failed");
            return -1;
        }
        p += n;
        left -= n;
    }
    return (la_ssize_t)len;
}

/* Adds one member header (and data when db != NULL). Returns 0 or -1. */
static int tar_member(struct archive *a, const char *name, int is_dir,
                      const void *db, size_t db_len, gz_sink *s, hub_err *err)
{
    struct archive_entry *e = archive_entry_new();
    if (!e)
        return hub_err_set(err, "out of memory (archive entry)");
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, is_dir ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(e, is_dir ? 0755 : 0644);
    archive_entry_set_size(e, is_dir ? 0 : (la_int64_t)db_len);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    archive_entry_set_uname(e, "root");
    archive_entry_set_gname(e, "root");
    archive_entry_set_mtime(e, 0, 0);
    int rc = 0;
    if (archive_write_header(a, e) != ARCHIVE_OK) {
        rc = s->failed ? -1 : hub_err_set(err, "tar header %s: %s", name, archive_error_string(a));
    } else if (!is_dir) {
        const uint8_t *p = db;
        size_t left = db_len;
        while (left > 0) {
            la_ssize_t w = archive_write_data(a, p, left);
            if (w <= 0) {
                rc = s->failed ? -1 : hub_err_set(err, "tar data: %s", archive_error_string(a));
                break;
            }
            p += w;
            left -= (size_t)w;
        }
    }
    archive_entry_free(e);
    return rc;
}

int flist_archive_pack(const void *db, size_t db_len, const char *path, hub_err *err)
{
    atomic_file af;
    gz_sink *s = calloc(1, sizeof *s);
    if (!s)
        return hub_err_set(err, "out of memory (gzip stream)");
    if (deflateInit2(&s->zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        free(s);
        return hub_err_set(err, "gzip initialisation failed");
    }
    if (atomic_open(&af, path, err) < 0) {
        deflateEnd(&s->zs);
        free(s);
        return -1;
    }
    s->af = &af;
    s->err = err;

    int rc = -1;
    struct archive *a = archive_write_new();
    if (!a) {
        hub_err_set(err, "out of memory (archive writer)");
        goto out;
    }
    if (archive_write_set_format_gnutar(a) != ARCHIVE_OK ||
        archive_write_open2(a, s, NULL, gz_write_cb, NULL, NULL) != ARCHIVE_OK) {
        if (!s->failed)
            hub_err_set(err, "tar writer: %s", archive_error_string(a));
        goto out;
    }
    if (tar_member(a, "./", 1, NULL, 0, s, err) < 0 ||
        tar_member(a, "./" DB_MEMBER, 0, db, db_len, s, err) < 0)
        goto out;
    /* close writes the two end-of-archive blocks and the block padding */
    if (archive_write_close(a) != ARCHIVE_OK) {
        if (!s->failed)
            hub_err_set(err, "tar writer: %s", archive_error_string(a));
        goto out;
    }
    if (gz_feed(s, NULL, 0, Z_FINISH) < 0)
        goto out;
    rc = 0;
out:
    if (a)
        archive_write_free(a);
    deflateEnd(&s->zs);
    free(s);
    if (rc == 0)
        return atomic_commit(&af, path, err);
    atomic_abort(&af);
    return -1;
}
