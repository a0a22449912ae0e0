/* flist_source_tar.c - feeds the entries of a tar archive to the flist
 * writer (flist_source_tar, flist_source_tar_fd; declared in flist.h).
 *
 * libarchive reads every tar variant (v7, ustar, pax, GNU with long names
 * and sparse members) through any of its compression filters (zstd, xz,
 * bzip2, ...). Nothing is extracted: file content streams from
 * archive_read_data into the writer's chunk buffers.
 *
 * gzip, the common case, is decompressed here with ISA-L's inflate before
 * libarchive sees the stream: it runs about 4x faster than zlib (inflate is
 * the serial part of the create pipeline), and libarchive's gzip filter
 * does not verify the CRC-32 and length of the trailer: bytes corrupted inside a stored
 * (incompressible) deflate block would otherwise be accepted silently.
 * Concatenated members are read; anything after the last member that is
 * not a gzip header is ignored, like gzip(1) does.
 *
 * Names are cleaned with flist_path_clean (ARCHITECTURE.md "Names and
 * paths"): a leading '/' is dropped, and an entry or hard-link target that
 * climbs above the root refuses the whole archive. Symlink targets are
 * stored verbatim. Entries without owner names get the decimal ids, except
 * id 0 which is "root" on every system (what libflist finds there).
 */
#include "flist.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <isa-l/igzip_lib.h>

#define TAR_BLOCK 65536

/* libarchive reports "Unrecognized archive format" with its private
 * ARCHIVE_ERRNO_FILE_FORMAT, which is EFTYPE where that exists, else
 * EILSEQ (archive_private.h; archive.h only mentions it in a comment). */
#ifdef EFTYPE
#define TAR_ERRNO_FORMAT EFTYPE
#else
#define TAR_ERRNO_FORMAT EILSEQ
#endif

static pthread_once_t locale_once = PTHREAD_ONCE_INIT;

/* libarchive converts pax (UTF-8) names to the locale's charset: with the
 * default "C" locale non-ASCII names would not convert. */
static void set_utf8_locale(void)
{
    setlocale(LC_CTYPE, "C.UTF-8");
}

/* ------------------------------------------------------------------ */
/* Input: the raw stream, gunzipped and verified when it is gzip        */
/* ------------------------------------------------------------------ */

typedef struct tar_input {
    int fd;
    int gzip;              /* the stream starts with a gzip header */
    int started, eof;      /* first read done; end of the raw input */
    uint8_t *next_in;      /* unread raw bytes in in[] */
    size_t avail_in;
    struct inflate_state zs;
    uint8_t in[TAR_BLOCK];
    uint8_t out[TAR_BLOCK];
} tar_input;

/* Reads raw bytes into in[]. Returns 0 or -1 (error set on a). */
static int input_fill(struct archive *a, tar_input *t)
{
    ssize_t n;
    do
        n = read(t->fd, t->in, sizeof t->in);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        archive_set_error(a, errno, "read error: %s", strerror(errno));
        return -1;
    }
    if (n == 0)
        t->eof = 1;
    t->next_in = t->in;
    t->avail_in = (size_t)n;
    return 0;
}

/* Starts (or restarts, for the next member) ISA-L's inflate on a gzip
 * member: it parses the header and verifies the CRC-32 and length. */
static void gzip_member_start(tar_input *t)
{
    isal_inflate_init(&t->zs);
    t->zs.crc_flag = ISAL_GZIP;
}

static const char *gzip_error(int r)
{
    switch (r) {
    case ISAL_INCORRECT_CHECKSUM: return "incorrect data check";
    case ISAL_INVALID_WRAPPER: return "incorrect header";
    case ISAL_UNSUPPORTED_METHOD: return "unknown compression method";
    case ISAL_INVALID_BLOCK: return "invalid block type";
    case ISAL_INVALID_SYMBOL: return "invalid code";
    case ISAL_INVALID_LOOKBACK: return "invalid distance too far back";
    default: return "corrupt data";
    }
}

/* libarchive read callback: the next block of (decompressed) tar. */
static la_ssize_t input_read(struct archive *a, void *ud, const void **buf)
{
    tar_input *t = ud;
    if (!t->started) {
        t->started = 1;
        if (input_fill(a, t) != 0)
            return ARCHIVE_FATAL;
        t->gzip = t->avail_in >= 2 && t->in[0] == 0x1f && t->in[1] == 0x8b;
        if (t->gzip)
            gzip_member_start(t);
    }
    if (!t->gzip) {
        if (t->avail_in == 0 && !t->eof && input_fill(a, t) != 0)
            return ARCHIVE_FATAL;
        *buf = t->next_in;
        la_ssize_t n = (la_ssize_t)t->avail_in;
        t->avail_in = 0;
        return n;
    }
    for (;;) {
        if (t->avail_in == 0 && !t->eof && input_fill(a, t) != 0)
            return ARCHIVE_FATAL;
        if (t->zs.block_state == ISAL_BLOCK_FINISH) {
            /* another member follows, or the end (trailing bytes that are
             * not a gzip header are ignored) */
            if (t->avail_in == 0 || t->next_in[0] != 0x1f)
                return 0;
            gzip_member_start(t);
        }
        t->zs.next_in = t->next_in;
        t->zs.avail_in = (uint32_t)t->avail_in;
        t->zs.next_out = t->out;
        t->zs.avail_out = sizeof t->out;
        int r = isal_inflate(&t->zs);
        t->next_in = t->zs.next_in;
        t->avail_in = t->zs.avail_in;
        size_t produced = sizeof t->out - t->zs.avail_out;
        if (r != ISAL_DECOMP_OK && r != ISAL_END_INPUT) {
            archive_set_error(a, EIO, "gzip: %s", gzip_error(r));
            return ARCHIVE_FATAL;
        }
        if (produced > 0) {
            *buf = t->out;
            return (la_ssize_t)produced;
        }
        if (t->zs.block_state != ISAL_BLOCK_FINISH && t->eof && t->avail_in == 0) {
            archive_set_error(a, EIO, "truncated gzip input");
            return ARCHIVE_FATAL;
        }
    }
}

/* ------------------------------------------------------------------ */
/* Members                                                              */
/* ------------------------------------------------------------------ */

typedef struct tar_ctx {
    struct archive *a;
    int read_failed;
} tar_ctx;

/* flist_src_entry.read for the current member. */
static long tar_read(void *ctx, void *buf, size_t len)
{
    tar_ctx *t = ctx;
    la_ssize_t r = archive_read_data(t->a, buf, len);
    if (r < 0) {
        t->read_failed = 1;
        return -1;
    }
    return (long)r;
}

static uint32_t clamp_time(int64_t t)
{
    if (t < 0)
        return 0;
    if (t > (int64_t)UINT32_MAX)
        return UINT32_MAX;
    return (uint32_t)t;
}

static const char *archive_msg(struct archive *a)
{
    const char *m = archive_error_string(a);
    return m ? m : "unknown error";
}

/* The owner name of a member: its own, else "root" for id 0, else NULL
 * (the writer then uses the decimal id). */
static const char *owner_name(const char *name, la_int64_t id)
{
    if (name && *name)
        return name;
    return id == 0 ? "root" : NULL;
}

/* The error of a failed open or header read: an unrecognised format at
 * the start means the input is no tar archive at all. Returns -1. */
static int archive_fail(struct archive *a, int at_start, hub_err *err)
{
    if (at_start && archive_errno(a) == TAR_ERRNO_FORMAT)
        return hub_err_setc(err, HUB_E_INVALID, "not a tar archive");
    return hub_err_setc(err, HUB_E_INVALID, "archive: %s", archive_msg(a));
}

/* Converts one archive member into a writer entry and adds it. */
static int add_member(flist_writer *w, tar_ctx *t, struct archive_entry *ae, hub_err *err)
{
    const char *name = archive_entry_pathname(ae);
    if (!name)
        name = archive_entry_pathname_utf8(ae);
    if (!name)
        return hub_err_setc(err, HUB_E_INVALID, "archive: member without a name");

    int rc = -1;
    char *path = malloc(strlen(name) + 1);
    char *link = NULL;
    if (!path)
        return hub_err_set(err, "out of memory");
    if (flist_path_clean(name, path, err) != 0)
        goto out;

    flist_src_entry e = {
        .path = path,
        .mode = (uint32_t)(archive_entry_perm(ae) & 07777),
        .uid = archive_entry_uid(ae),
        .gid = archive_entry_gid(ae),
        .uname = owner_name(archive_entry_uname(ae), archive_entry_uid(ae)),
        .gname = owner_name(archive_entry_gname(ae), archive_entry_gid(ae)),
        .mtime = clamp_time(archive_entry_mtime(ae)),
        .ctime = archive_entry_ctime_is_set(ae) ? clamp_time(archive_entry_ctime(ae)) : 0,
    };

    const char *hardlink = archive_entry_hardlink(ae);
    if (hardlink) {
        link = malloc(strlen(hardlink) + 1);
        if (!link) {
            hub_err_set(err, "out of memory");
            goto out;
        }
        if (flist_path_clean(hardlink, link, NULL) != 0) {
            hub_err_setc(err, HUB_E_INVALID, "entry '%s': hard link target '%s' climbs above the root",
                        name, hardlink);
            goto out;
        }
        e.type = FLIST_FILE;
        e.hardlink = link;
    } else {
        switch (archive_entry_filetype(ae)) {
        case AE_IFREG: {
            la_int64_t size = archive_entry_size(ae);
            e.type = FLIST_FILE;
            e.size = size > 0 ? (uint64_t)size : 0;
            e.read = tar_read;
            e.read_ctx = t;
            break;
        }
        case AE_IFDIR:
            e.type = FLIST_DIR;
            break;
        case AE_IFLNK: {
            const char *target = archive_entry_symlink(ae);
            e.type = FLIST_LINK;
            e.link_target = target ? target : "";
            break;
        }
        case AE_IFCHR:
        case AE_IFBLK:
            e.type = FLIST_SPECIAL;
            e.special = archive_entry_filetype(ae) == AE_IFCHR ? FLIST_SPECIAL_CHARDEV
                                                               : FLIST_SPECIAL_BLOCK;
            e.dev_major = (uint32_t)archive_entry_rdevmajor(ae);
            e.dev_minor = (uint32_t)archive_entry_rdevminor(ae);
            break;
        case AE_IFIFO:
            e.type = FLIST_SPECIAL;
            e.special = FLIST_SPECIAL_FIFO;
            break;
        case AE_IFSOCK:
            e.type = FLIST_SPECIAL;
            e.special = FLIST_SPECIAL_SOCKET;
            break;
        default:
            hub_err_setc(err, HUB_E_INVALID, "archive: entry '%s': unsupported file type", name);
            goto out;
        }
    }

    t->read_failed = 0;
    if (flist_writer_add(w, &e, err) != 0) {
        if (t->read_failed)
            hub_err_setc(err, HUB_E_INVALID, "archive: entry '%s': %s", name, archive_msg(t->a));
        goto out;
    }
    rc = 0;
out:
    free(link);
    free(path);
    return rc;
}

/* Reads every member of an opened archive. */
static int feed(flist_writer *w, struct archive *a, hub_err *err)
{
    tar_ctx t = { .a = a };
    int first = 1;
    for (;;) {
        struct archive_entry *ae;
        int r = archive_read_next_header(a, &ae);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r < ARCHIVE_WARN)
            return archive_fail(a, first, err);
        /* ARCHIVE_WARN (e.g. a name that does not convert): the raw name
         * is still there, go on */
        first = 0;
        if (add_member(w, &t, ae, err) != 0)
            return -1;
    }
}

/* Reads the archive from fd through the verified input layer. */
static int read_fd(flist_writer *w, int fd, hub_err *err)
{
    pthread_once(&locale_once, set_utf8_locale);
    tar_input *in = calloc(1, sizeof *in);
    struct archive *a = archive_read_new();
    int rc = -1;
    if (!in || !a) {
        hub_err_set(err, "out of memory");
        goto out;
    }
    in->fd = fd;
    /* filter_all may warn about a filter that needs a missing external
     * program; the built-in ones (bzip2, xz, zstd) are always there */
    (void)archive_read_support_filter_all(a);
    if (archive_read_support_format_tar(a) != ARCHIVE_OK) {
        hub_err_setc(err, HUB_E_INVALID, "archive: %s", archive_msg(a));
        goto out;
    }
    if (archive_read_open(a, in, NULL, input_read, NULL) != ARCHIVE_OK)
        rc = archive_fail(a, 1, err);
    else
        rc = feed(w, a, err);
out:
    if (a)
        archive_read_free(a);
    free(in);   /* ISA-L's inflate state holds no allocation */
    return rc;
}

/* Reads the archive file at `path` into the writer. Returns 0 or -1. */
int flist_source_tar(flist_writer *w, const char *path, hub_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return hub_err_set(err, "open %s: %s", path, strerror(errno));
    int rc = read_fd(w, fd, err);
    close(fd);
    return rc;
}

/* The same from an open descriptor (left open). Returns 0 or -1. */
int flist_source_tar_fd(flist_writer *w, int fd, hub_err *err)
{
    return read_fd(w, fd, err);
}
