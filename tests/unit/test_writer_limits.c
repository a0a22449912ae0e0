/* test_writer_limits.c - the bounds of a build (flist_limits) and the
 * chunk of zeros.
 *
 *  - every limit refuses with HUB_E_TOO_LARGE and a message naming it:
 *    entries, depth, file content (before reading a byte of it), time, and
 *    bytes stored on a real redis backend; nothing is published then;
 *  - the tar source counts what the archive decompresses to: nested gzip,
 *    zstd and bzip2 streams that are mostly pax headers (no file content)
 *    stop at the bound, and pass without it;
 *  - full chunks of zeros, read or skipped as holes, give the same flist as
 *    encrypting them, and are stored once.
 */
#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunk.h"
#include "flist.h"
#include "flist_json.h"
#include "t.h"
#include "t_flist.h"
#include "t_redis.h"
#include "util.h"

/* ---------------------------------------------------------------- */
/* helpers                                                           */
/* ---------------------------------------------------------------- */

static int exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

/* A content source: `len` bytes where [hole_from, hole_to) are a hole the
 * source reports through skip_zeros (when `sparse`) or reads as zeros, and
 * the rest is data (pseudo-random bytes, or zeros when `zero_data`). */
typedef struct gen {
    uint64_t len, pos, hole_from, hole_to;
    int sparse, zero_data;
    int reads;            /* calls of read */
} gen;

static uint8_t gen_byte(const gen *g, uint64_t off)
{
    if (g->zero_data || (off >= g->hole_from && off < g->hole_to))
        return 0;
    uint64_t x = off * 0x9e3779b97f4a7c15ull;   /* incompressible, never all zero */
    return (uint8_t)(x >> 56) | 1;
}

static long gen_read(void *ctx, void *buf, size_t len)
{
    gen *g = ctx;
    g->reads++;
    size_t n = g->len - g->pos < len ? (size_t)(g->len - g->pos) : len;
    for (size_t i = 0; i < n; i++)
        ((uint8_t *)buf)[i] = gen_byte(g, g->pos + i);
    g->pos += n;
    return (long)n;
}

static uint64_t gen_skip(void *ctx, uint64_t max)
{
    gen *g = ctx;
    if (!g->sparse || g->pos < g->hole_from || g->pos >= g->hole_to)
        return 0;
    uint64_t n = g->hole_to - g->pos < max ? g->hole_to - g->pos : max;
    g->pos += n;
    return n;
}

static flist_src_entry file_entry(const char *path, gen *g)
{
    flist_src_entry e = { .path = path, .type = FLIST_FILE, .mode = 0644, .size = g->len,
                          .read = gen_read, .skip_zeros = gen_skip, .read_ctx = g };
    return e;
}

static flist_src_entry dir_entry(const char *path)
{
    flist_src_entry e = { .path = path, .type = FLIST_DIR, .mode = 0755 };
    return e;
}

/* A writer with these limits and no backend (threads 1). */
static flist_writer *limited(flist_limits l)
{
    hub_err err;
    flist_writer_opts o = { .threads = 1, .limits = l };
    flist_writer *w = flist_writer_new(&o, &err);
    if (!w)
        fprintf(stderr, "writer: %s\n", err.msg);
    return w;
}

/* After a refusal: the writer is failed for good and publishes nothing. */
static void expect_spent(flist_writer *w, const char *msg)
{
    hub_err err;
    const char *out = t_tmp_path("refused.flist");
    T_CHECK(flist_writer_finish(w, out, NULL, &err) == -1);
    T_STREQ(err.msg, msg);
    T_CHECK(err.code == HUB_E_TOO_LARGE);
    T_CHECK(!exists(out));
}

/* ---------------------------------------------------------------- */
/* limits of the writer                                              */
/* ---------------------------------------------------------------- */

static void test_entries(void)
{
    flist_writer *w = limited((flist_limits){ .max_entries = 3 });
    T_REQUIRE(w != NULL);
    hub_err err;
    flist_src_entry e = dir_entry("a");
    for (int i = 0; i < 3; i++)
        T_CHECK(flist_writer_add(w, &e, &err) == 0);
    T_CHECK(flist_writer_add(w, &e, &err) == -1);
    T_STREQ(err.msg, "more entries than the limit of 3");
    T_CHECK(err.code == HUB_E_TOO_LARGE);
    expect_spent(w, "more entries than the limit of 3");
    flist_writer_free(w);
}

static void test_depth(void)
{
    flist_writer *w = limited((flist_limits){ .max_depth = 3 });
    T_REQUIRE(w != NULL);
    hub_err err;
    flist_src_entry e = dir_entry("a/b/c");
    T_CHECK(flist_writer_add(w, &e, &err) == 0);
    e.path = "a/b/c/d";
    T_CHECK(flist_writer_add(w, &e, &err) == -1);
    T_STREQ(err.msg, "entry 'a/b/c/d': deeper than the limit of 3 levels");
    expect_spent(w, "entry 'a/b/c/d': deeper than the limit of 3 levels");
    flist_writer_free(w);

    /* 0 means the reader's own limit, FLIST_MAX_DEPTH */
    w = limited((flist_limits){ 0 });
    T_REQUIRE(w != NULL);
    T_CHECK(flist_writer_limits(w)->max_depth == FLIST_MAX_DEPTH);
    flist_writer_free(w);
}

/* File content counts before a byte of it is read; hard links are free. */
static void test_bytes(void)
{
    flist_writer *w = limited((flist_limits){ .max_bytes = 1u << 20 });
    T_REQUIRE(w != NULL);
    hub_err err;
    gen a = { .len = 600 << 10 }, b = { .len = 600 << 10 };
    flist_src_entry e = file_entry("a", &a);
    T_CHECK(flist_writer_add(w, &e, &err) == 0);
    flist_src_entry link = { .path = "a2", .type = FLIST_FILE, .mode = 0644, .hardlink = "a" };
    T_CHECK(flist_writer_add(w, &link, &err) == 0);
    e = file_entry("b", &b);
    T_CHECK(flist_writer_add(w, &e, &err) == -1);
    T_STREQ(err.msg, "entry 'b': the files hold more than the limit of 1048576 bytes");
    T_CHECK(b.reads == 0);
    flist_writer_free(w);

    /* one file declaring 100 GB (a sparse tar's) is refused at once */
    w = limited((flist_limits){ .max_bytes = 1u << 20 });
    T_REQUIRE(w != NULL);
    gen huge = { .len = 100ull << 30, .hole_to = 100ull << 30, .sparse = 1 };
    e = file_entry("huge", &huge);
    T_CHECK(flist_writer_add(w, &e, &err) == -1 && huge.reads == 0 && huge.pos == 0);
    expect_spent(w, "entry 'huge': the files hold more than the limit of 1048576 bytes");
    flist_writer_free(w);
}

static void test_time(void)
{
    int64_t now = util_mono_ms();
    flist_writer *w = limited((flist_limits){ .started_ms = now - 5000, .max_ms = 60000 });
    T_REQUIRE(w != NULL);
    hub_err err;
    flist_src_entry e = dir_entry("a");
    T_CHECK(flist_writer_add(w, &e, &err) == 0);
    T_CHECK(flist_writer_check_time(w, &err) == 0);
    flist_writer_free(w);

    w = limited((flist_limits){ .started_ms = now - 5000, .max_ms = 2000 });
    T_REQUIRE(w != NULL);
    T_CHECK(flist_writer_add(w, &e, &err) == -1);
    T_STREQ(err.msg, "the job ran longer than its limit of 2 s");
    expect_spent(w, "the job ran longer than its limit of 2 s");
    flist_writer_free(w);

    /* running out of time inside a file: checked per chunk */
    w = limited((flist_limits){ .started_ms = now, .max_ms = 300 });
    T_REQUIRE(w != NULL);
    gen endless = { .len = 1ull << 40 };   /* 1 TiB of data */
    e = file_entry("endless", &endless);
    T_CHECK(flist_writer_add(w, &e, &err) == -1);
    T_STREQ(err.msg, "the job ran longer than its limit of 0 s");
    T_CHECK(util_mono_ms() - now < 5000);
    flist_writer_free(w);
}

/* ---------------------------------------------------------------- */
/* the chunk of zeros                                                 */
/* ---------------------------------------------------------------- */

/* Builds one file from g into out with `threads`; returns the result. */
static int build_one(gen *g, int threads, const backend_url *b, const char *out,
                     flist_stats *st, hub_err *err)
{
    flist_writer_opts o = { .threads = threads, .backend = b };
    flist_writer *w = flist_writer_new(&o, err);
    if (!w)
        return -1;
    g->pos = 0;
    flist_src_entry e = file_entry("f", g);
    int rc = flist_writer_add(w, &e, err);
    if (rc == 0)
        rc = flist_writer_finish(w, out, st, err);
    flist_writer_free(w);
    return rc;
}

/* The chunk ids of /f, as hex strings in a JSON array. */
static json_t *chunk_ids(const char *path)
{
    hub_err err;
    flist *f = NULL;
    if (flist_open(path, &f, &err) != 0)
        return NULL;
    json_t *c = flist_json_chunks(f, NULL, &err);
    flist_close(f);
    json_t *ids = c ? json_incref(json_object_get(c, "content")) : NULL;
    json_decref(c);
    return ids;
}

static void hex16(const uint8_t id[16], char out[33])
{
    static const char d[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = d[id[i] >> 4];
        out[2 * i + 1] = d[id[i] & 15];
    }
    out[32] = '\0';
}

static void test_zero_chunks(void)
{
    const uint64_t C = FLIST_CHUNK_SIZE;
    /* 3 chunks of zeros and 100 more zero bytes */
    uint8_t *zeros = calloc(1, C);
    uint8_t *cipher = malloc(chunk_cipher_bound(C));
    uint8_t zid[16], zkey[16], tid[16], tkey[16];
    size_t clen;
    T_REQUIRE(zeros && cipher);
    T_REQUIRE(chunk_encrypt(zeros, C, cipher, &clen, zid, zkey) == 0);
    T_REQUIRE(chunk_encrypt(zeros, 100, cipher, &clen, tid, tkey) == 0);
    char zhex[33], thex[33];
    hex16(zid, zhex);
    hex16(tid, thex);

    hub_err err;
    flist_stats st;
    gen read_zeros = { .len = 3 * C + 100, .zero_data = 1 };
    gen holes = { .len = 3 * C + 100, .hole_to = 3 * C + 100, .sparse = 1 };
    const char *a = t_tmp_path("zeros-read.flist"), *b = t_tmp_path("zeros-hole.flist");
    T_REQUIRE(build_one(&read_zeros, 1, NULL, a, &st, &err) == 0);
    T_REQUIRE(build_one(&holes, 2, NULL, b, &st, &err) == 0);
    T_CHECK(holes.reads == 0);   /* nothing read: all holes */
    json_t *ids = chunk_ids(a);
    char want[200];
    snprintf(want, sizeof want, "[\"%s\", \"%s\", \"%s\", \"%s\"]", zhex, zhex, zhex, thex);
    json_t *expect = json_loads(want, 0, NULL);
    T_CHECK(ids && json_equal(ids, expect));
    json_decref(ids);
    ids = chunk_ids(b);
    T_CHECK(ids && json_equal(ids, expect));
    json_decref(ids);
    json_decref(expect);

    /* a hole across chunk borders, between data: the same flist as the
     * data read whole (zeros included), with 1 and 2 threads */
    gen plain = { .len = 6 * C + 12345, .hole_from = C / 2, .hole_to = 4 * C + 7 };
    gen sparse = plain;
    sparse.sparse = 1;
    const char *c = t_tmp_path("mixed-read.flist"), *d = t_tmp_path("mixed-hole.flist");
    T_REQUIRE(build_one(&plain, 1, NULL, c, &st, &err) == 0);
    T_CHECK(st.chunks == 7 && st.chunks_unique == 5);
    T_REQUIRE(build_one(&sparse, 2, NULL, d, &st, &err) == 0);
    size_t la, lb;
    uint8_t *da = t_flist_db(c, &la), *db = t_flist_db(d, &lb);
    T_CHECK(da && db && la == lb && memcmp(da, db, la) == 0);
    free(da);
    free(db);

    /* on a real backend the zero chunk is stored once and reads back */
    t_redis r;
    T_REQUIRE(t_redis_start(&r, NULL) == 0);
    char url[64];
    snprintf(url, sizeof url, "redis://%s:%d", r.host, r.port);
    backend_url bu;
    T_REQUIRE(backend_url_parse(url, &bu, &err) == 0);
    gen big = { .len = 40 * C, .hole_to = 40 * C, .sparse = 1 };
    T_REQUIRE(build_one(&big, 2, &bu, t_tmp_path("z.flist"), &st, &err) == 0);
    T_CHECK(st.chunks == 40 && st.chunks_unique == 1 && st.chunks_uploaded == 1);
    backend *be = backend_connect(&bu, 0, &err);
    T_REQUIRE(be != NULL);
    uint8_t *val = NULL;
    size_t vlen = 0, plen = 0;
    T_REQUIRE(backend_get(be, (const uint8_t (*)[16])zid, 1, &val, &vlen, &err) == 0 && val);
    uint8_t *back = malloc(C);
    T_CHECK(chunk_decrypt(val, vlen, zid, zkey, back, C, &plen, &err) == 0);
    T_CHECK(plen == C && memcmp(back, zeros, C) == 0);
    free(back);
    free(val);
    backend_close(be);

    /* bytes stored on the backend are bounded too */
    gen data = { .len = 8 * C };
    flist_writer_opts o = { .threads = 2, .backend = &bu,
                            .limits = { .max_stored = 300 << 10, .stored_why = "a quota" } };
    flist_writer *w = flist_writer_new(&o, &err);
    T_REQUIRE(w != NULL);
    flist_src_entry e = file_entry("data", &data);
    int rc = flist_writer_add(w, &e, &err);
    if (rc == 0)
        rc = flist_writer_finish(w, t_tmp_path("stored.flist"), NULL, &err);
    T_CHECK(rc == -1 && err.code == HUB_E_TOO_LARGE);
    T_STREQ(err.msg, "the job stores more than 307200 bytes on the backend (a quota)");
    T_CHECK(flist_writer_stored(w) <= 300 << 10);
    T_CHECK(!exists(t_tmp_path("stored.flist")));
    flist_writer_free(w);
    t_redis_stop(&r);
    free(zeros);
    free(cipher);
}

/* ---------------------------------------------------------------- */
/* what an archive decompresses to                                    */
/* ---------------------------------------------------------------- */

/* Writes a tar stream, compressed by `filters` (applied in order, so two
 * gzips nest), to path: `n` empty files, each after a pax extended header
 * of 900 KB (a "comment" record, which readers ignore): what it expands to
 * is not file content, which the writer bounds on its own. */
static int write_bomb(const char *path, int (*const *filters)(struct archive *), size_t nfilters,
                      int n)
{
    struct archive *a = archive_write_new();
    int ok = a && archive_write_set_format_raw(a) == ARCHIVE_OK;
    for (size_t i = 0; ok && i < nfilters; i++)
        ok = filters[i](a) == ARCHIVE_OK;
    ok = ok && archive_write_open_filename(a, path) == ARCHIVE_OK;
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_filetype(e, AE_IFREG);
    ok = ok && archive_write_header(a, e) == ARCHIVE_OK;
    archive_entry_free(e);

    size_t rec_len = 900 * 1024;   /* a multiple of 512 */
    char *rec = malloc(rec_len);
    ok = ok && rec;
    if (rec) {
        memset(rec, 'A', rec_len);
        int head = snprintf(rec, 32, "%zu comment=", rec_len);
        rec[head] = 'A';   /* snprintf's NUL */
        rec[rec_len - 1] = '\n';
    }
    uint8_t block[512];
    for (int i = 0; ok && i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", i);
        t_ustar_header(block, "pax", rec_len, 'x', NULL);
        ok = archive_write_data(a, block, 512) == 512 &&
             archive_write_data(a, rec, rec_len) == (la_ssize_t)rec_len;
        t_ustar_header(block, name, 0, '0', NULL);
        ok = ok && archive_write_data(a, block, 512) == 512;
    }
    free(rec);
    memset(block, 0, sizeof block);   /* end of archive */
    ok = ok && archive_write_data(a, block, 512) == 512 &&
         archive_write_data(a, block, 512) == 512;
    ok = archive_write_close(a) == ARCHIVE_OK && ok;
    archive_write_free(a);
    return ok ? 0 : -1;
}

/* Builds path with max_bytes; returns the result, err filled. */
static int build_limited(const char *path, uint64_t max_bytes, hub_err *err)
{
    flist_writer_opts o = { .threads = 1, .limits = { .max_bytes = max_bytes } };
    flist_writer *w = flist_writer_new(&o, err);
    if (!w)
        return -1;
    int rc = flist_source_tar(w, path, err);
    if (rc == 0)
        rc = flist_writer_finish(w, t_tmp_path("bomb.flist"), NULL, err);
    flist_writer_free(w);
    return rc;
}

static void test_archive_bound(void)
{
    int (*const gzip2[])(struct archive *) = { archive_write_add_filter_gzip,
                                               archive_write_add_filter_gzip };
    int (*const zstd[])(struct archive *) = { archive_write_add_filter_zstd };
    int (*const bzip2[])(struct archive *) = { archive_write_add_filter_bzip2 };
    struct { const char *name; int (*const *f)(struct archive *); size_t n; } kinds[] = {
        { "nested.tar.gz.gz", gzip2, 2 }, { "bomb.tar.zst", zstd, 1 }, { "bomb.tar.bz2", bzip2, 1 },
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const char *path = t_tmp_path(kinds[i].name);
        T_REQUIRE(write_bomb(path, kinds[i].f, kinds[i].n, 12) == 0);
        struct stat sb;
        T_REQUIRE(stat(path, &sb) == 0);
        T_CHECK(sb.st_size < 100 << 10);   /* 10.5 MiB in a small file */
        hub_err err;
        int64_t t0 = util_mono_ms();
        T_CHECK(build_limited(path, 4u << 20, &err) == -1);
        T_STREQ(err.msg, "the archive expands to more than the limit of 4194304 bytes");
        T_CHECK(err.code == HUB_E_TOO_LARGE);
        T_CHECK(!exists(t_tmp_path("bomb.flist")));
        int64_t refused_ms = util_mono_ms() - t0;
        /* without the bound the whole stream is read, and it is an flist */
        int rc = build_limited(path, 0, &err);
        if (rc)
            fprintf(stderr, "%s: %s\n", kinds[i].name, err.msg);
        T_CHECK(rc == 0 && exists(t_tmp_path("bomb.flist")));
        unlink(t_tmp_path("bomb.flist"));
        fprintf(stderr, "%s: %lld bytes, refused in %lld ms\n", kinds[i].name,
                (long long)sb.st_size, (long long)refused_ms);
    }
}

static void test_setup(void)
{
    if (t_tmp_setup("test_writer_limits") != 0)
        exit(1);
}

static void test_cleanup(void)
{
    T_CHECK(t_tmp_cleanup() == 0);
}

T_MAIN(T_CASE(test_setup), T_CASE(test_entries), T_CASE(test_depth), T_CASE(test_bytes),
       T_CASE(test_time), T_CASE(test_zero_chunks), T_CASE(test_archive_bound),
       T_CASE(test_cleanup))
