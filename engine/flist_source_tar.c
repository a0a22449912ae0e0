/* flist_source_tar.c - feeds the entries of a tar archive to the flist
 * writer (flist_source_tar, flist_source_tar_fd; declared in flist.h).
 *
 * libarchive reads every tar variant (v7, ustar, pax, GNU with long names
 * and sparse members) through any of its compression filters (zstd, xz,
 * bzip2, ...). Nothing is extracted: file content streams from
 * archive_read_data into the writer's chunk buffers.
 *
 * The input goes through three stages:
 *  1. the raw file, gunzipped here with ISA-L's inflate when it is gzip
 *     (the common case): about 4x faster than zlib (inflate is the serial
 *     part of the create pipeline), and libarchive's gzip filter does not
 *     verify the CRC-32 and length of the trailer: bytes corrupted inside a
 *     stored (incompressible) deflate block would otherwise be accepted
 *     silently. Concatenated members are read; anything after the last
 *     member that is not a gzip header is ignored, like gzip(1) does;
 *  2. libarchive's built-in decompression filters (zstd, xz, bzip2, ...,
 *     and inner layers of a nested archive) as a "raw" archive;
 *  3. libarchive's tar reader, without filters, fed block by block from
 *     stage 2, so that every decompressed byte passes through here: the
 *     limits of the build (flist_limits: bytes, time) stop a decompression
 *     bomb of any kind after at most one block, even in data libarchive
 *     skips on its own.
 *
 * Sparse members (GNU, pax) are read block by block with their offsets:
 * holes are handed to the writer as skipped zeros (skip_zeros), never
 * materialised.
 *
 * Names are cleaned with flist_path_clean (ARCHITECTURE.md "Names and
 * paths"): a leading '/' is dropped, and an entry or hard-link target that
 * climbs above the root refuses the whole archive. Symlink targets are
 * stored verbatim. Entries without owner names get the decimal ids, except
 * id 0 which is "root" on every system (what libflist finds there).
 *
 * The same reader serves the OCI layer applier (flist_tar_read_fd,
 * flist_tar.h): it sees each converted member before the writer does.
 */
#include "flist.h"
#include "flist_tar.h"

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
    const flist_tar_opts *opts;  /* raw_read counts what is read */
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
    else if (t->opts && t->opts->raw_read)
        t->opts->raw_read(t->opts->ud, (uint64_t)n);
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
/* Stage 2: decompression, counted and timed                            */
/* ------------------------------------------------------------------ */

/* Slack of the tar stream over the content bound per entry: its header,
 * a long name or pax header, and the padding of its data. */
#define TAR_STREAM_SLACK_PER_ENTRY 8192

typedef struct tar_stream {
    struct archive *dec;     /* raw format, decompression filters */
    int opened;              /* the raw "entry" was read */
    flist_writer *w;
    uint64_t bytes;          /* decompressed tar bytes handed on */
    uint64_t entries;        /* members seen so far */
    hub_err limit;           /* set when a limit stopped the stream */
} tar_stream;

/* Passes the error of the decompression stage on to the tar reader. */
static la_ssize_t stream_fail(struct archive *a, tar_stream *st)
{
    const char *m = archive_error_string(st->dec);
    archive_set_error(a, archive_errno(st->dec), "%s", m ? m : "decompression failed");
    return ARCHIVE_FATAL;
}

/* Refuses the rest of the stream for a limit. */
static la_ssize_t stream_limit(struct archive *a, tar_stream *st)
{
    archive_set_error(a, EFBIG, "%s", st->limit.msg);
    return ARCHIVE_FATAL;
}

/* libarchive read callback of the tar reader: the next decompressed block. */
static la_ssize_t stream_read(struct archive *a, void *ud, const void **buf)
{
    tar_stream *st = ud;
    if (!st->opened) {
        struct archive_entry *ae;
        int r = archive_read_next_header(st->dec, &ae);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r < ARCHIVE_WARN)
            return stream_fail(a, st);
        st->opened = 1;
    }
    size_t size = 0;
    la_int64_t offset;
    int r = archive_read_data_block(st->dec, buf, &size, &offset);
    if (r == ARCHIVE_EOF)
        return 0;
    if (r < ARCHIVE_WARN)
        return stream_fail(a, st);
    st->bytes += size;
    const flist_limits *l = flist_writer_limits(st->w);
    if (l->max_bytes &&
        st->bytes > l->max_bytes + TAR_STREAM_SLACK_PER_ENTRY * (st->entries + 1)) {
        hub_err_setc(&st->limit, HUB_E_TOO_LARGE, "the archive expands to more than the "
                     "limit of %llu bytes", (unsigned long long)l->max_bytes);
        return stream_limit(a, st);
    }
    if (flist_writer_check_time(st->w, &st->limit) != 0)
        return stream_limit(a, st);
    return (la_ssize_t)size;
}

/* The filters stage 2 decodes: libarchive's built-in ones (filter_all
 * would also run external programs, lrzip, lzop, grzip, for inputs that
 * claim those formats). */
static int stream_filters(struct archive *dec)
{
    int (*const filters[])(struct archive *) = {
        archive_read_support_filter_gzip, archive_read_support_filter_bzip2,
        archive_read_support_filter_xz, archive_read_support_filter_lzma,
        archive_read_support_filter_lzip, archive_read_support_filter_zstd,
        archive_read_support_filter_lz4, archive_read_support_filter_compress,
    };
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++)
        if (filters[i](dec) < ARCHIVE_WARN)
            return -1;
    return archive_read_support_format_raw(dec) == ARCHIVE_OK ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Members                                                              */
/* ------------------------------------------------------------------ */

/* The current member's content, read block by block with its offsets. */
typedef struct tar_ctx {
    struct archive *a;
    int read_failed;
    const uint8_t *blk;      /* unread data of the current block */
    size_t blk_len;
    uint64_t blk_off;        /* content offset of blk[0] */
    uint64_t pos;            /* content offset of the next byte to produce */
    uint64_t size;           /* the member's size */
    int sparse;              /* the member has a sparse map */
    int eof;                 /* no more data blocks */
} tar_ctx;

/* Starts reading a member of `size` bytes. */
static void member_start(tar_ctx *t, uint64_t size, int sparse)
{
    t->read_failed = 0;
    t->blk = NULL;
    t->blk_len = 0;
    t->blk_off = t->pos = 0;
    t->size = size;
    t->sparse = sparse;
    t->eof = 0;
}

/* Bytes of hole before the next data (after fetching blocks as needed; at
 * the end of a sparse member, up to its size). -1 on a read error. */
static int64_t hole_ahead(tar_ctx *t)
{
    while (t->blk_len == 0 && !t->eof && t->pos >= t->blk_off) {
        const void *b;
        size_t len;
        la_int64_t off;
        int r = archive_read_data_block(t->a, &b, &len, &off);
        if (r == ARCHIVE_EOF) {
            t->eof = 1;
        } else if (r < ARCHIVE_WARN || off < 0 || (uint64_t)off < t->pos) {
            t->read_failed = 1;
            return -1;
        } else {
            t->blk = b;
            t->blk_len = len;
            t->blk_off = (uint64_t)off;
        }
    }
    uint64_t hole_end = t->eof ? (t->sparse ? t->size : t->pos) : t->blk_off;
    return hole_end > t->pos ? (int64_t)(hole_end - t->pos) : 0;
}

/* flist_src_entry.read for the current member: holes read as zeros. */
static long tar_read(void *ctx, void *buf, size_t len)
{
    tar_ctx *t = ctx;
    int64_t hole = hole_ahead(t);
    if (hole < 0)
        return -1;
    size_t n;
    if (hole > 0) {
        n = (uint64_t)hole < len ? (size_t)hole : len;
        memset(buf, 0, n);
    } else {
        n = t->blk_len < len ? t->blk_len : len;
        memcpy(buf, t->blk, n);
        t->blk += n;
        t->blk_len -= n;
        t->blk_off += n;
    }
    t->pos += n;
    return (long)n;
}

/* flist_src_entry.skip_zeros for the current member: consumes a hole. */
static uint64_t tar_skip_zeros(void *ctx, uint64_t max)
{
    tar_ctx *t = ctx;
    int64_t hole = hole_ahead(t);
    if (hole <= 0)
        return 0;   /* a read error shows at the next tar_read */
    uint64_t n = (uint64_t)hole < max ? (uint64_t)hole : max;
    t->pos += n;
    return n;
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
static int add_member(flist_writer *w, tar_ctx *t, struct archive_entry *ae,
                      const flist_tar_opts *o, hub_err *err)
{
    const char *name = archive_entry_pathname(ae);
    if (!name)
        name = archive_entry_pathname_utf8(ae);
    if (!name)
        return hub_err_setc(err, HUB_E_INVALID, "archive: member without a name");

    int rc = -1;
    t->read_failed = 0;
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
            e.skip_zeros = tar_skip_zeros;
            e.read_ctx = t;
            member_start(t, e.size, archive_entry_sparse_count(ae) > 0);
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

    int added = o && o->member ? o->member(o->ud, w, ae, &e, err) : flist_writer_add(w, &e, err);
    if (added != 0) {
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

/* Reads every member of an opened archive. A limit that stopped the
 * stream is reported as itself, whatever libarchive made of it. */
static int feed(flist_writer *w, struct archive *a, tar_stream *st, const flist_tar_opts *o,
                hub_err *err)
{
    tar_ctx t = { .a = a };
    int first = 1;
    for (;;) {
        struct archive_entry *ae;
        int r = archive_read_next_header(a, &ae);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r < ARCHIVE_WARN) {
            if (st->limit.code != HUB_OK)
                break;
            return archive_fail(a, first, err);
        }
        /* ARCHIVE_WARN (e.g. a name that does not convert): the raw name
         * is still there, go on */
        first = 0;
        st->entries++;
        if (add_member(w, &t, ae, o, err) == 0)
            continue;
        if (st->limit.code != HUB_OK)
            break;
        return -1;
    }
    *err = st->limit;
    return -1;
}

/* Reads the archive from fd through the three stages. */
int flist_tar_read_fd(flist_writer *w, int fd, const flist_tar_opts *o, hub_err *err)
{
    pthread_once(&locale_once, set_utf8_locale);
    tar_input *in = calloc(1, sizeof *in);
    tar_stream st = { .dec = archive_read_new(), .w = w };
    struct archive *a = archive_read_new();
    int rc = -1;
    if (!in || !st.dec || !a) {
        hub_err_set(err, "out of memory");
        goto out;
    }
    in->fd = fd;
    in->opts = o;
    if (stream_filters(st.dec) != 0 || archive_read_support_format_tar(a) != ARCHIVE_OK) {
        hub_err_set(err, "archive: %s", archive_msg(archive_errno(st.dec) ? st.dec : a));
        goto out;
    }
    if (archive_read_open(st.dec, in, NULL, input_read, NULL) != ARCHIVE_OK)
        rc = hub_err_setc(err, HUB_E_INVALID, "archive: %s", archive_msg(st.dec));
    else if (archive_read_open(a, &st, NULL, stream_read, NULL) != ARCHIVE_OK)
        rc = st.limit.code != HUB_OK ? (*err = st.limit, -1) : archive_fail(a, 1, err);
    else
        rc = feed(w, a, &st, o, err);
out:
    if (a)
        archive_read_free(a);
    if (st.dec)
        archive_read_free(st.dec);
    free(in);   /* ISA-L's inflate state holds no allocation */
    return rc;
}

/* Reads the archive file at `path` into the writer. Returns 0 or -1. */
int flist_source_tar(flist_writer *w, const char *path, hub_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return hub_err_set(err, "open %s: %s", path, strerror(errno));
    int rc = flist_tar_read_fd(w, fd, NULL, err);
    close(fd);
    return rc;
}

/* The same from an open descriptor (left open). Returns 0 or -1. */
int flist_source_tar_fd(flist_writer *w, int fd, hub_err *err)
{
    return flist_tar_read_fd(w, fd, NULL, err);
}
