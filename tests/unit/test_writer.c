/* test_writer.c - the flist writer and its tar source, against the reader.
 *
 *  - tests/data/tree.tar.gz built without a backend must read back like
 *    tests/data/sample.flist (find, ls, stat incl. every chunk id/key,
 *    readme metadata), except the documented differences: created times
 *    (the tar has no ctime: created = modified), uid/gid 1000 named "1000"
 *    (numeric tar owners), the fifo's real type ("fifo", device "(nothing)");
 *  - threads=1 and threads=2 produce byte-identical databases;
 *  - hostile archives (escaping names and hard links) are refused naming
 *    the entry, corrupt ones with a clear message, and nothing is written;
 *  - writer semantics: implicit parents, last wins, dir over dir, file
 *    replaced by a directory, hard links, specials, owners, readme, root;
 *  - a directory whose Dir message is larger than 4 MiB round trips (Q9);
 *  - with a real redis backend only missing chunks are uploaded, their
 *    bytes equal zflist's, and a dead backend fails the build.
 */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <jansson.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunk.h"
#include "flist.h"
#include "flist_json.h"
#include "flist_keys.h"
#include "t.h"
#include "t_flist.h"
#include "t_redis.h"

/* ---------------------------------------------------------------- */
/* helpers                                                           */
/* ---------------------------------------------------------------- */

static int exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

/* Builds `out` from a tar archive with the given thread count. Returns the
 * source/finish result; err filled. */
static int build_tar(const char *tar, const char *out, int threads, const backend_url *b,
                     flist_stats *st, hub_err *err)
{
    flist_writer_opts o = { .threads = threads, .backend = b };
    flist_writer *w = flist_writer_new(&o, err);
    if (!w)
        return -1;
    int rc = flist_source_tar(w, tar, err);
    if (rc == 0)
        rc = flist_writer_finish(w, out, st, err);
    flist_writer_free(w);
    return rc;
}

/* A memory reader for flist_src_entry.read. */
typedef struct memrd {
    const uint8_t *p;
    size_t len, off;
} memrd;

static long mem_read(void *ctx, void *buf, size_t len)
{
    memrd *m = ctx;
    size_t n = m->len - m->off < len ? m->len - m->off : len;
    memcpy(buf, m->p + m->off, n);
    m->off += n;
    return (long)n;
}

/* Adds a regular file with content s (root-owned, 0644). */
static int add_file(flist_writer *w, const char *path, const char *s, hub_err *err)
{
    memrd m = { (const uint8_t *)s, strlen(s), 0 };
    flist_src_entry e = { .path = path, .type = FLIST_FILE, .mode = 0644,
                          .uname = "root", .gname = "root", .mtime = 1000,
                          .size = strlen(s), .read = mem_read, .read_ctx = &m };
    return flist_writer_add(w, &e, err);
}

static int add_simple(flist_writer *w, const char *path, flist_type type, uint32_t mode,
                      uint32_t mtime, hub_err *err)
{
    flist_src_entry e = { .path = path, .type = type, .mode = mode, .uname = "root",
                          .gname = "root", .mtime = mtime };
    return flist_writer_add(w, &e, err);
}

static json_t *stat_of(flist *f, const char *path)
{
    hub_err err;
    return flist_json_stat(f, path, NULL, &err);
}

/* ---------------------------------------------------------------- */
/* tree.tar.gz vs sample.flist                                       */
/* ---------------------------------------------------------------- */

/* Applies the documented differences to a zflist ls entry / stat object. */
static void expect_ours(json_t *o)
{
    json_t *user = json_object_get(o, "user");
    if (user && json_integer_value(json_object_get(o, "uid")) == 1000) {
        json_object_set_new(o, "user", json_string("1000"));
        json_object_set_new(o, "group", json_string("1000"));
    }
    const char *name = json_string_value(json_object_get(o, "name"));
    if (name && strcmp(name, "fifo") == 0)
        json_object_set_new(o, "type", json_string("fifo"));
    if (json_object_get(o, "device"))
        json_object_set_new(o, "device", json_string("(nothing)"));
    if (json_object_get(o, "created"))
        json_object_set(o, "created", json_object_get(o, "modified"));
}

static void check_sample(const char *path)
{
    hub_err err = { 0 };
    flist *f = NULL;
    T_REQUIRE(flist_open(path, &f, &err) == 0);

    /* find: identical */
    json_t *want = t_load_responses("sample.find.json");
    T_REQUIRE(want != NULL);
    json_t *got = flist_json_find(f, "/", 0, NULL, &err);
    T_JSON_EQ(got, json_array_get(want, 0));
    json_decref(got);

    /* ls of every directory */
    static const char *dirs[] = { "/", "/a", "/a/b", "/a/b/c", "/emptydir" };
    json_t *ls = t_load_responses("sample.ls.jsonl");
    T_CHECK(json_array_size(ls) == 5);
    for (size_t i = 0; i < 5; i++) {
        json_t *exp = json_deep_copy(json_array_get(ls, i));
        size_t j;
        json_t *v;
        json_array_foreach(exp, j, v)
            expect_ours(v);
        got = flist_json_ls(f, dirs[i], NULL, &err);
        T_JSON_EQ(got, exp);
        json_decref(got);
        json_decref(exp);
    }
    json_decref(ls);

    /* stat of every path of find, in find order: chunk ids and keys too */
    json_t *stats = t_load_responses("sample.stat.jsonl");
    json_t *content = json_object_get(json_array_get(want, 0), "content");
    T_CHECK(json_array_size(stats) == json_array_size(content));
    T_CHECK(json_array_size(stats) == 26);
    for (size_t i = 0; i < json_array_size(stats); i++) {
        json_t *exp = json_deep_copy(json_array_get(stats, i));
        expect_ours(exp);
        const char *p = json_string_value(json_object_get(exp, "file"));
        got = stat_of(f, p);
        T_JSON_EQ(got, exp);
        json_decref(got);
        json_decref(exp);
    }
    json_decref(stats);
    json_decref(want);

    /* readme: {"readme": <content of /.README.md>}, jansson flags 0 */
    json_t *meta = t_load_responses("sample.metadata.jsonl");
    json_t *readme = NULL;
    size_t i;
    json_t *v;
    json_array_foreach(meta, i, v)
        if (strcmp(json_string_value(json_object_get(v, "metadata")), "readme") == 0)
            readme = json_object_get(v, "value");
    T_REQUIRE(readme != NULL);
    char *exp_text = json_dumps(readme, 0);
    T_META_EQ(f, "readme", exp_text);
    free(exp_text);
    json_decref(meta);

    /* nothing else in the metadata */
    char **names = NULL;
    size_t n = 0;
    T_CHECK(flist_meta_names(f, &names, &n, &err) == 0);
    T_CHECK(n == 1);
    flist_strv_free(names, n);

    /* the root keeps root:root 0755, time 0; Dir.parent of the root is
     * itself and of a/b is key("a") (Q8 fixed) */
    flist_dir *root = NULL, *ab = NULL;
    T_REQUIRE(flist_dir_load(f, "/", &root, &err) == 0);
    T_STREQ(root->aclkey, "d7683de000c13689");
    T_STREQ(root->parent, FLIST_ROOT_KEY);
    T_CHECK(root->mtime == 0 && root->ctime == 0 && root->size == 4096);
    T_REQUIRE(flist_dir_load(f, "/a/b", &ab, &err) == 0);
    char ka[FLIST_DIRKEY_LEN + 1];
    flist_path_key("a", ka);
    T_STREQ(ab->parent, ka);
    T_STREQ(ab->location, "a/b");
    T_STREQ(ab->name, "b");
    T_CHECK(ab->mtime == 1704067200);
    /* the fifo is a FIFO special (Q2 fixed) */
    flist_dir *a = NULL;
    T_REQUIRE(flist_dir_load(f, "/a", &a, &err) == 0);
    int found = 0;
    for (size_t k = 0; k < a->nentries; k++) {
        if (strcmp(a->entries[k].name, "fifo") == 0) {
            found = 1;
            T_CHECK(a->entries[k].type == FLIST_SPECIAL);
            T_CHECK(a->entries[k].special == FLIST_SPECIAL_FIFO);
            T_CHECK(a->entries[k].special_len == 9 &&
                    memcmp(a->entries[k].special_data, "(nothing)", 9) == 0);
        }
        if (a->entries[k].type == FLIST_FILE)
            T_CHECK(a->entries[k].block_size == 128);
    }
    T_CHECK(found);
    flist_dir_free(a);
    flist_dir_free(ab);
    flist_dir_free(root);
    flist_close(f);
}

static void test_sample_tar(void)
{
    hub_err err = { 0 };
    flist_stats st;
    memset(&st, 0xff, sizeof st);
    const char *out = t_tmp_path("sample.flist");
    int rc = build_tar(t_data("tree.tar.gz"), out, 0, NULL, &st, &err);
    if (rc)
        fprintf(stderr, "build: %s\n", err.msg);
    T_REQUIRE(rc == 0);
    T_CHECK(st.regular == 17 && st.symlink == 4 && st.directory == 4 && st.special == 1);
    T_CHECK(st.fullsize == 5247310);
    T_CHECK(st.chunks == 24 && st.chunks_unique == 22);
    T_CHECK(st.chunks_uploaded == 0 && st.bytes_uploaded == 0);
    check_sample(out);
}

/* threads=1 (inline) and threads=2 give the same database, byte for byte. */
static void test_threads_identical(void)
{
    hub_err err = { 0 };
    const char *o1 = t_tmp_path("t1.flist"), *o2 = t_tmp_path("t2.flist");
    T_REQUIRE(build_tar(t_data("tree.tar.gz"), o1, 1, NULL, NULL, &err) == 0);
    T_REQUIRE(build_tar(t_data("tree.tar.gz"), o2, 2, NULL, NULL, &err) == 0);
    size_t l1 = 0, l2 = 0;
    uint8_t *d1 = t_flist_db(o1, &l1), *d2 = t_flist_db(o2, &l2);
    T_CHECK(d1 && d2 && l1 == l2 && l1 > 0 && memcmp(d1, d2, l1) == 0);
    free(d1);
    free(d2);
    check_sample(o1);
}

/* ---------------------------------------------------------------- */
/* hostile and broken archives                                        */
/* ---------------------------------------------------------------- */

typedef struct tar_member {
    const char *name;
    int type;              /* AE_IFREG, AE_IFDIR, AE_IFLNK; 0 = hard link */
    const char *data;      /* content, symlink or hard link target */
} tar_member;

/* Writes a tar with the members (libarchive writer): format (e.g.
 * ARCHIVE_FORMAT_TAR_PAX_RESTRICTED) and filter (ARCHIVE_FILTER_GZIP...). */
static int make_tar_as(const char *path, const tar_member *m, size_t n, int format, int filter)
{
    struct archive *a = archive_write_new();
    if (archive_write_set_format(a, format) != ARCHIVE_OK ||
        archive_write_add_filter(a, filter) != ARCHIVE_OK) {
        fprintf(stderr, "make_tar: %s\n", archive_error_string(a));
        archive_write_free(a);
        return -1;
    }
    if (archive_write_open_filename(a, path) != ARCHIVE_OK)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, m[i].name);
        archive_entry_set_mtime(e, 1704067200, 0);
        if (m[i].type == 0) {
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_perm(e, 0644);
            archive_entry_set_hardlink(e, m[i].data);
            archive_entry_set_size(e, 0);
        } else {
            archive_entry_set_filetype(e, (unsigned)m[i].type);
            archive_entry_set_perm(e, m[i].type == AE_IFDIR ? 0755 : 0644);
            if (m[i].type == AE_IFLNK)
                archive_entry_set_symlink(e, m[i].data);
            if (m[i].type == AE_IFREG)
                archive_entry_set_size(e, (la_int64_t)strlen(m[i].data));
        }
        archive_write_header(a, e);
        if (m[i].type == AE_IFREG)
            archive_write_data(a, m[i].data, strlen(m[i].data));
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    return 0;
}

/* A gzip'd pax tar. */
static int make_tar(const char *path, const tar_member *m, size_t n)
{
    return make_tar_as(path, m, n, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_GZIP);
}

/* Builds a tar of the members and expects a refusal with message `msg`
 * and no output file. */
static void expect_refused(const tar_member *m, size_t n, const char *msg)
{
    const char *tar = t_tmp_path("bad.tar.gz"), *out = t_tmp_path("bad.flist");
    T_REQUIRE(make_tar(tar, m, n) == 0);
    hub_err err = { 0 };
    T_CHECK(build_tar(tar, out, 2, NULL, NULL, &err) == -1);
    T_STREQ(err.msg, msg);
    T_CHECK(!exists(out));
}

static void test_hostile_tar(void)
{
    const tar_member dotdot[] = { { "ok.txt", AE_IFREG, "fine\n" },
                                  { "../x", AE_IFREG, "evil\n" } };
    expect_refused(dotdot, 2, "entry '../x' climbs above the root");

    const tar_member inner[] = { { "a/", AE_IFDIR, NULL },
                                 { "a/../../x", AE_IFREG, "evil\n" } };
    expect_refused(inner, 2, "entry 'a/../../x' climbs above the root");

    const tar_member hard[] = { { "ok.txt", AE_IFREG, "fine\n" },
                                { "evil", 0, "../../etc/passwd" } };
    expect_refused(hard, 2,
                   "entry 'evil': hard link target '../../etc/passwd' climbs above the root");

    const tar_member missing[] = { { "lnk", 0, "nothere" } };
    expect_refused(missing, 1, "entry 'lnk': hard link target 'nothere' does not exist");

    /* an absolute name loses its '/'; a symlink target stays verbatim */
    const tar_member abs[] = { { "/etc/passwd", AE_IFREG, "root:x:0:0\n" },
                               { "/etc/ln", AE_IFLNK, "../../../../etc/shadow" },
                               { "./etc/hl", 0, "/etc/passwd" } };
    const char *tar = t_tmp_path("abs.tar.gz"), *out = t_tmp_path("abs.flist");
    T_REQUIRE(make_tar(tar, abs, 3) == 0);
    hub_err err = { 0 };
    T_REQUIRE(build_tar(tar, out, 2, NULL, NULL, &err) == 0);
    flist *f = NULL;
    T_REQUIRE(flist_open(out, &f, &err) == 0);
    json_t *got = flist_json_find(f, "/", 0, NULL, &err);
    json_t *want = json_loads(
        "{\"content\": [{\"size\": 4096, \"path\": \"/etc\"}, {\"size\": 11, \"path\": "
        "\"/etc/hl\"}, {\"size\": 22, \"path\": \"/etc/ln\"}, {\"size\": 11, \"path\": "
        "\"/etc/passwd\"}], \"regular\": 2, \"symlink\": 1, \"directory\": 1, "
        "\"special\": 0, \"failure\": 0, \"fullsize\": 22}", 0, NULL);
    T_JSON_EQ(got, want);
    json_decref(got);
    json_decref(want);
    json_t *ln = stat_of(f, "/etc/ln");
    T_STREQ(json_string_value(json_object_get(ln, "linkto")), "../../../../etc/shadow");
    json_decref(ln);
    /* the hard link shares the chunks of its target */
    json_t *s1 = stat_of(f, "/etc/passwd"), *s2 = stat_of(f, "/etc/hl");
    T_CHECK(json_array_size(json_object_get(s1, "chunks")) == 1);
    T_JSON_EQ(json_object_get(s1, "chunks"), json_object_get(s2, "chunks"));
    json_decref(s1);
    json_decref(s2);
    flist_close(f);
}

/* Every compression and tar flavour gives the same flist; long names. */
static void test_tar_variants(void)
{
    char longname[400];
    snprintf(longname, sizeof longname, "deep/%0300d/l\xc3\xa4nger-name.txt", 7);
    const tar_member m[] = { { "deep/", AE_IFDIR, NULL },
                             { longname, AE_IFREG, "long\n" },
                             { "hello.txt", AE_IFREG, "hello world\n" },
                             { "ln", AE_IFLNK, "hello.txt" } };
    static const int filters[] = { ARCHIVE_FILTER_NONE, ARCHIVE_FILTER_GZIP,
                                   ARCHIVE_FILTER_XZ, ARCHIVE_FILTER_ZSTD,
                                   ARCHIVE_FILTER_BZIP2 };
    static const int formats[] = { ARCHIVE_FORMAT_TAR_PAX_RESTRICTED,
                                   ARCHIVE_FORMAT_TAR_GNUTAR, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE,
                                   ARCHIVE_FORMAT_TAR_PAX_RESTRICTED,
                                   ARCHIVE_FORMAT_TAR_GNUTAR };
    char *first = NULL;
    for (size_t i = 0; i < 5; i++) {
        const char *tar = t_tmp_path("v.tar"), *out = t_tmp_path("v.flist");
        T_REQUIRE(make_tar_as(tar, m, 4, formats[i], filters[i]) == 0);
        hub_err err = { 0 };
        int rc = build_tar(tar, out, 2, NULL, NULL, &err);
        if (rc)
            fprintf(stderr, "variant %zu: %s\n", i, err.msg);
        T_CHECK(rc == 0);
        flist *f = NULL;
        T_REQUIRE(flist_open(out, &f, &err) == 0);
        json_t *find = flist_json_find(f, "/", 0, NULL, &err);
        char *dump = json_dumps(find, 0);
        json_decref(find);
        json_t *st = stat_of(f, "/hello.txt");
        /* the vector of FLIST-FORMAT.md 5.5 */
        T_STREQ(json_string_value(json_object_get(json_array_get(json_object_get(st, "chunks"), 0),
                                                  "key")), "a5147f6e7cac3a7076f942cb5e00d896");
        json_decref(st);
        flist_close(f);
        if (!first) {
            first = dump;
            char want[600];
            snprintf(want, sizeof want, "\"path\": \"/%s\"", longname);
            T_CHECK(strstr(first, want) != NULL);
        } else {
            T_STREQ(dump, first);
            free(dump);
        }
        unlink(out);
    }
    free(first);
}

/* ---------------------------------------------------------------- */
/* directory source                                                   */
/* ---------------------------------------------------------------- */

static void put_file(const char *path, const char *s, mode_t mode)
{
    FILE *fp = fopen(path, "wb");
    if (fp) {
        fputs(s, fp);
        fclose(fp);
    }
    chmod(path, mode);
}

static void test_dir_source(void)
{
    char src[512], p[600];
    snprintf(src, sizeof src, "%s/src", t_tmpdir());
    T_REQUIRE(mkdir(src, 0755) == 0);
#define SRC(rel) (snprintf(p, sizeof p, "%s/%s", src, rel), p)
    put_file(SRC("hello.txt"), "hello world\n", 0640);
    put_file(SRC(".hidden"), "x", 0600);
    T_REQUIRE(mkdir(SRC("sub"), 0750) == 0);
    T_REQUIRE(mkdir(SRC("emptydir"), 0755) == 0);
    put_file(SRC("sub/deep.txt"), "deep\n", 0644);
    char hello[600];
    snprintf(hello, sizeof hello, "%s/hello.txt", src);
    T_REQUIRE(link(hello, SRC("sub/hard")) == 0);
    T_REQUIRE(symlink("hello.txt", SRC("ln")) == 0);
    T_REQUIRE(mkfifo(SRC("fifo"), 0600) == 0);
    static const char *all[] = { "hello.txt", ".hidden", "sub", "emptydir", "sub/deep.txt",
                                 "ln", "fifo" };
    struct timespec ts[2] = { { 1704067200, 0 }, { 1704067200, 0 } };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        T_CHECK(utimensat(AT_FDCWD, SRC(all[i]), ts, AT_SYMLINK_NOFOLLOW) == 0);
#undef SRC

    hub_err err = { 0 };
    flist_writer_opts o = { .threads = 2 };
    flist_writer *w = flist_writer_new(&o, &err);
    T_REQUIRE(w != NULL);
    int rc = flist_source_dir(w, src, &err);
    if (rc)
        fprintf(stderr, "dir: %s\n", err.msg);
    T_CHECK(rc == 0);
    flist_stats st;
    const char *out = t_tmp_path("dir.flist");
    T_REQUIRE(flist_writer_finish(w, out, &st, &err) == 0);
    flist_writer_free(w);
    T_CHECK(st.regular == 4 && st.directory == 2 && st.symlink == 1 && st.special == 1);

    flist *f = NULL;
    T_REQUIRE(flist_open(out, &f, &err) == 0);
    json_t *got = flist_json_find(f, "/", 0, NULL, &err);
    json_t *want = json_loads(
        "{\"content\": [{\"size\": 4096, \"path\": \"/emptydir\"}, {\"size\": 4096, "
        "\"path\": \"/sub\"}, {\"size\": 5, \"path\": \"/sub/deep.txt\"}, {\"size\": 12, "
        "\"path\": \"/sub/hard\"}, {\"size\": 1, \"path\": \"/.hidden\"}, {\"size\": 0, "
        "\"path\": \"/fifo\"}, {\"size\": 12, \"path\": \"/hello.txt\"}, {\"size\": 9, "
        "\"path\": \"/ln\"}], \"regular\": 4, \"symlink\": 1, \"directory\": 2, "
        "\"special\": 1, \"failure\": 0, \"fullsize\": 30}", 0, NULL);
    T_JSON_EQ(got, want);
    json_decref(got);
    json_decref(want);

    /* owner names as the system knows them, modes and times from lstat */
    struct passwd *pw = getpwuid(getuid());
    struct group *gr = getgrgid(getgid());
    char uname[64], gname[64];
    snprintf(uname, sizeof uname, "%s", pw ? pw->pw_name : "");
    snprintf(gname, sizeof gname, "%s", gr ? gr->gr_name : "");
    if (!pw)
        snprintf(uname, sizeof uname, "%u", (unsigned)getuid());
    if (!gr)
        snprintf(gname, sizeof gname, "%u", (unsigned)getgid());
    json_t *sh = stat_of(f, "/hello.txt"), *shard = stat_of(f, "/sub/hard");
    T_CHECK(json_integer_value(json_object_get(sh, "mode")) == 0640);
    T_CHECK(json_integer_value(json_object_get(sh, "modified")) == 1704067200);
    T_CHECK(json_integer_value(json_object_get(sh, "uid")) == (json_int_t)getuid());
    T_STREQ(json_string_value(json_object_get(sh, "user")), uname);
    T_STREQ(json_string_value(json_object_get(sh, "group")), gname);
    T_STREQ(json_string_value(json_object_get(json_array_get(json_object_get(sh, "chunks"), 0),
                                              "key")), "a5147f6e7cac3a7076f942cb5e00d896");
    T_JSON_EQ(json_object_get(shard, "chunks"), json_object_get(sh, "chunks"));
    json_decref(sh);
    json_decref(shard);
    json_t *sl = stat_of(f, "/ln");
    T_STREQ(json_string_value(json_object_get(sl, "linkto")), "hello.txt");
    json_decref(sl);
    json_t *ss = stat_of(f, "/sub");
    T_CHECK(json_integer_value(json_object_get(ss, "mode")) == 0750);
    json_decref(ss);
    flist_dir *root = NULL;
    T_REQUIRE(flist_dir_load(f, "/", &root, &err) == 0);
    T_STREQ(root->entries[3].name, "fifo");
    T_CHECK(root->entries[3].special == FLIST_SPECIAL_FIFO);
    /* the source directory's own attributes are not taken */
    T_STREQ(root->aclkey, "d7683de000c13689");
    flist_dir_free(root);
    flist_close(f);

    /* not a directory */
    w = flist_writer_new(&o, &err);
    T_REQUIRE(w != NULL);
    T_CHECK(flist_source_dir(w, hello, &err) == -1);
    T_CHECK(strstr(err.msg, "not a directory") != NULL);
    flist_writer_free(w);
}

static void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    if (fp) {
        fwrite(data, 1, len, fp);
        fclose(fp);
    }
}

static void test_broken_tar(void)
{
    /* tree.tar.gz cut in the middle of the compressed stream */
    FILE *fp = fopen(t_data("tree.tar.gz"), "rb");
    T_REQUIRE(fp != NULL);
    static uint8_t buf[8 << 20];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    T_REQUIRE(n > 100000);

    const char *tar = t_tmp_path("cut.tar.gz"), *out = t_tmp_path("cut.flist");
    write_bytes(tar, buf, n / 2);
    hub_err err = { 0 };
    T_CHECK(build_tar(tar, out, 2, NULL, NULL, &err) == -1);
    fprintf(stderr, "truncated: %s\n", err.msg);
    T_CHECK(strncmp(err.msg, "archive: ", 9) == 0);
    T_CHECK(strstr(err.msg, "truncated") != NULL || strstr(err.msg, "entry '") != NULL);
    T_CHECK(!exists(out));

    /* corrupt bytes inside the gzip stream */
    memset(buf + n / 3, 0x5a, 4096);
    write_bytes(tar, buf, n);
    err.msg[0] = '\0';
    T_CHECK(build_tar(tar, out, 2, NULL, NULL, &err) == -1);
    fprintf(stderr, "corrupt: %s\n", err.msg);
    T_CHECK(strncmp(err.msg, "archive: ", 9) == 0);
    T_CHECK(!exists(out));

    /* not an archive at all */
    const char text[] = "this is not a tar archive, just some text\n";
    write_bytes(tar, text, sizeof text - 1);
    T_CHECK(build_tar(tar, out, 2, NULL, NULL, &err) == -1);
    T_STREQ(err.msg, "not a tar archive");
    T_CHECK(!exists(out));

    /* missing file */
    T_CHECK(build_tar(t_tmp_path("nope.tar"), out, 2, NULL, NULL, &err) == -1);
    T_CHECK(strstr(err.msg, "nope.tar") != NULL);
    T_CHECK(!exists(out));
}

/* ---------------------------------------------------------------- */
/* writer semantics through the API                                   */
/* ---------------------------------------------------------------- */

static void test_semantics(void)
{
    hub_err err = { 0 };
    flist_writer_opts o = { .threads = 2 };
    flist_writer *w = flist_writer_new(&o, &err);
    T_REQUIRE(w != NULL);

    /* the root entry does not change the root */
    T_CHECK(add_simple(w, "", FLIST_DIR, 0700, 99, &err) == 0);
    /* implicit parents x, x/y: root:root 0755, time 0 */
    flist_src_entry e = { .path = "x/y/file", .type = FLIST_FILE, .mode = 04750,
                          .uid = 1234, .gid = 5678, .mtime = 10, .ctime = 20 };
    memrd m = { (const uint8_t *)"abc", 3, 0 };
    e.size = 3;
    e.read = mem_read;
    e.read_ctx = &m;
    T_CHECK(flist_writer_add(w, &e, &err) == 0);
    /* a directory over a directory updates its attributes only */
    T_CHECK(add_simple(w, "x", FLIST_DIR, 0700, 500, &err) == 0);
    /* last wins */
    T_CHECK(add_file(w, "dup", "first", &err) == 0);
    T_CHECK(add_file(w, "dup", "second", &err) == 0);
    /* a file that gets a child becomes a directory */
    T_CHECK(add_file(w, "f", "a file", &err) == 0);
    T_CHECK(add_file(w, "f/sub", "child", &err) == 0);
    /* a directory replaced by a file loses its contents */
    T_CHECK(add_file(w, "d/gone", "x", &err) == 0);
    T_CHECK(add_file(w, "d", "now a file", &err) == 0);
    /* hard link to dup (resolved with its final chunks) */
    flist_src_entry hl = { .path = "hl", .type = FLIST_FILE, .mode = 0644, .hardlink = "dup" };
    T_CHECK(flist_writer_add(w, &hl, &err) == 0);
    /* specials */
    flist_src_entry sp = { .path = "dev/null", .type = FLIST_SPECIAL, .mode = 0666,
                           .special = FLIST_SPECIAL_CHARDEV, .dev_major = 1, .dev_minor = 3 };
    T_CHECK(flist_writer_add(w, &sp, &err) == 0);
    sp.path = "dev/sda1";
    sp.special = FLIST_SPECIAL_BLOCK;
    sp.dev_major = 8;
    sp.dev_minor = 1;
    T_CHECK(flist_writer_add(w, &sp, &err) == 0);
    sp.path = "dev/sock";
    sp.special = FLIST_SPECIAL_SOCKET;
    T_CHECK(flist_writer_add(w, &sp, &err) == 0);
    /* a device as zflist labels it (socket, Q2), its numbers kept */
    sp.path = "dev/zf";
    sp.dev_major = 5;
    sp.dev_minor = 7;
    sp.keep_dev = 1;
    T_CHECK(flist_writer_add(w, &sp, &err) == 0);
    flist_src_entry ln = { .path = "dev/ln", .type = FLIST_LINK, .mode = 0777,
                           .link_target = "/some/where" };
    T_CHECK(flist_writer_add(w, &ln, &err) == 0);
    /* .README is used when there is no .README.md */
    T_CHECK(add_file(w, ".README", "plain readme\n", &err) == 0);
    T_CHECK(flist_writer_meta(w, "hello", "world", &err) == 0);
    T_CHECK(flist_writer_has_meta(w, "hello") == 1);
    T_CHECK(flist_writer_has_meta(w, "readme") == 0);

    flist_stats st;
    const char *out = t_tmp_path("sem.flist");
    int rc = flist_writer_finish(w, out, &st, &err);
    if (rc)
        fprintf(stderr, "finish: %s\n", err.msg);
    T_REQUIRE(rc == 0);
    /* a finished writer takes nothing more */
    T_CHECK(add_file(w, "late", "x", &err) == -1);
    flist_writer_free(w);

    /* regular: x/y/file dup f/sub d hl .README = 6; dirs x x/y f dev = 4 */
    T_CHECK(st.regular == 6 && st.directory == 4 && st.symlink == 1 && st.special == 4);
    T_CHECK(st.fullsize == 3 + 6 + 5 + 10 + 6 + 13);

    flist *f = NULL;
    T_REQUIRE(flist_open(out, &f, &err) == 0);
    json_t *got = flist_json_find(f, "/", 0, NULL, &err);
    json_t *want = json_loads(
        "{\"content\": [{\"size\": 4096, \"path\": \"/dev\"}, {\"size\": 11, \"path\": "
        "\"/dev/ln\"}, {\"size\": 0, \"path\": \"/dev/null\"}, {\"size\": 0, \"path\": "
        "\"/dev/sda1\"}, {\"size\": 0, \"path\": \"/dev/sock\"}, {\"size\": 0, \"path\": "
        "\"/dev/zf\"}, {\"size\": 4096, \"path\": "
        "\"/f\"}, {\"size\": 5, \"path\": \"/f/sub\"}, {\"size\": 4096, \"path\": \"/x\"}, "
        "{\"size\": 4096, \"path\": \"/x/y\"}, {\"size\": 3, \"path\": \"/x/y/file\"}, "
        "{\"size\": 13, \"path\": \"/.README\"}, {\"size\": 10, \"path\": \"/d\"}, "
        "{\"size\": 6, \"path\": \"/dup\"}, {\"size\": 6, \"path\": \"/hl\"}], "
        "\"regular\": 6, \"symlink\": 1, \"directory\": 4, \"special\": 4, \"failure\": 0, "
        "\"fullsize\": 43}", 0, NULL);
    T_JSON_EQ(got, want);
    json_decref(got);
    json_decref(want);

    json_t *sx = stat_of(f, "/x"), *sxy = stat_of(f, "/x/y"), *sfile = stat_of(f, "/x/y/file");
    want = json_loads("{\"file\": \"/x\", \"size\": 4096, \"mode\": 448, \"user\": \"root\", "
                      "\"uid\": 0, \"group\": \"root\", \"gid\": 0, \"created\": 500, "
                      "\"modified\": 500, \"chunks\": []}", 0, NULL);
    T_JSON_EQ(sx, want);
    json_decref(want);
    want = json_loads("{\"file\": \"/x/y\", \"size\": 4096, \"mode\": 493, \"user\": \"root\", "
                      "\"uid\": 0, \"group\": \"root\", \"gid\": 0, \"created\": 0, "
                      "\"modified\": 0, \"chunks\": []}", 0, NULL);
    T_JSON_EQ(sxy, want);
    json_decref(want);
    /* numeric owners become decimal names; setuid kept; ctime kept */
    T_STREQ(json_string_value(json_object_get(sfile, "user")), "1234");
    T_STREQ(json_string_value(json_object_get(sfile, "group")), "5678");
    T_CHECK(json_integer_value(json_object_get(sfile, "mode")) == 04750);
    T_CHECK(json_integer_value(json_object_get(sfile, "uid")) == 1234);
    T_CHECK(json_integer_value(json_object_get(sfile, "created")) == 20);
    T_CHECK(json_integer_value(json_object_get(sfile, "modified")) == 10);
    json_decref(sx);
    json_decref(sxy);
    json_decref(sfile);

    /* dup holds "second"; hl shares its chunk */
    uint8_t cipher[256], id[16], key[16];
    size_t clen;
    T_REQUIRE(chunk_encrypt((const uint8_t *)"second", 6, cipher, &clen, id, key) == 0);
    char hid[33], hkey[33];
    hub_hex(id, 16, hid);
    hub_hex(key, 16, hkey);
    json_t *sdup = stat_of(f, "/dup"), *shl = stat_of(f, "/hl");
    json_t *c0 = json_array_get(json_object_get(sdup, "chunks"), 0);
    T_CHECK(json_array_size(json_object_get(sdup, "chunks")) == 1);
    T_STREQ(json_string_value(json_object_get(c0, "key")), hid);
    T_STREQ(json_string_value(json_object_get(c0, "decipher")), hkey);
    T_JSON_EQ(json_object_get(shl, "chunks"), json_object_get(sdup, "chunks"));
    json_decref(sdup);
    json_decref(shl);

    /* specials keep their real type and data */
    flist_dir *dev = NULL;
    T_REQUIRE(flist_dir_load(f, "/dev", &dev, &err) == 0);
    T_REQUIRE(dev->nentries == 5);
    T_STREQ(dev->entries[1].name, "null");
    T_CHECK(dev->entries[1].special == FLIST_SPECIAL_CHARDEV);
    T_CHECK(dev->entries[1].special_len == 3 &&
            memcmp(dev->entries[1].special_data, "1,3", 3) == 0);
    T_CHECK(dev->entries[2].special == FLIST_SPECIAL_BLOCK);
    T_CHECK(dev->entries[2].special_len == 3 &&
            memcmp(dev->entries[2].special_data, "8,1", 3) == 0);
    T_CHECK(dev->entries[3].special == FLIST_SPECIAL_SOCKET);
    T_CHECK(dev->entries[3].special_len == 9);
    T_CHECK(dev->entries[4].special == FLIST_SPECIAL_SOCKET);
    T_CHECK(dev->entries[4].special_len == 3 &&
            memcmp(dev->entries[4].special_data, "5,7", 3) == 0);
    /* and a merge keeps those numbers */
    {
        const char *mout = t_tmp_path("sem-merged.flist");
        flist_stats mst;
        flist_dir *mdev = NULL;
        flist *mf = NULL;
        T_CHECK(flist_merge(mout, &f, 1, &mst, &err) == 0);
        T_REQUIRE(flist_open(mout, &mf, &err) == 0);
        T_CHECK(flist_dir_load(mf, "/dev", &mdev, &err) == 0);
        T_CHECK(mdev && mdev->nentries == 5 && mdev->entries[4].special_len == 3 &&
                memcmp(mdev->entries[4].special_data, "5,7", 3) == 0);
        flist_dir_free(mdev);
        flist_close(mf);
        unlink(mout);
    }
    T_STREQ(dev->entries[0].target, "/some/where");
    flist_dir_free(dev);

    T_META_EQ(f, "readme", "{\"readme\": \"plain readme\\n\"}");
    T_META_EQ(f, "hello", "world");
    flist_close(f);
}

/* readme: .README.md wins over .README; a caller's readme is kept; invalid
 * UTF-8 is ignored. */
static void test_readme(void)
{
    hub_err err = { 0 };
    flist_writer_opts o = { .threads = 1 };
    char *v = NULL;
    flist *f = NULL;

    flist_writer *w = flist_writer_new(&o, &err);
    T_REQUIRE(w != NULL);
    T_CHECK(add_file(w, ".README", "old", &err) == 0);
    T_CHECK(add_file(w, ".README.md", "# md \"q\"\n", &err) == 0);
    T_CHECK(add_file(w, "sub/.README.md", "not the root", &err) == 0);
    T_REQUIRE(flist_writer_finish(w, t_tmp_path("r1.flist"), NULL, &err) == 0);
    flist_writer_free(w);
    T_REQUIRE(flist_open(t_tmp_path("r1.flist"), &f, &err) == 0);
    T_META_EQ(f, "readme", "{\"readme\": \"# md \\\"q\\\"\\n\"}");
    flist_close(f);

    w = flist_writer_new(&o, &err);
    T_REQUIRE(w != NULL);
    T_CHECK(flist_writer_meta(w, "readme", "{\"readme\": \"mine\"}", &err) == 0);
    T_CHECK(add_file(w, ".README.md", "from the tree", &err) == 0);
    T_REQUIRE(flist_writer_finish(w, t_tmp_path("r2.flist"), NULL, &err) == 0);
    flist_writer_free(w);
    T_REQUIRE(flist_open(t_tmp_path("r2.flist"), &f, &err) == 0);
    T_META_EQ(f, "readme", "{\"readme\": \"mine\"}");
    flist_close(f);

    w = flist_writer_new(&o, &err);
    T_REQUIRE(w != NULL);
    T_CHECK(add_file(w, ".README.md", "bad \xff utf8", &err) == 0);
    /* a .README that became a directory is no readme either */
    T_CHECK(add_file(w, ".README", "was a file", &err) == 0);
    T_CHECK(add_file(w, ".README/inner", "dir now", &err) == 0);
    T_REQUIRE(flist_writer_finish(w, t_tmp_path("r3.flist"), NULL, &err) == 0);
    flist_writer_free(w);
    T_REQUIRE(flist_open(t_tmp_path("r3.flist"), &f, &err) == 0);
    T_CHECK(flist_meta_get(f, "readme", &v, &err) == FLIST_ENOENT);
    flist_close(f);
}

static void test_errors(void)
{
    hub_err err = { 0 };
    flist_writer_opts o = { .threads = 2 };
    flist_writer *w = flist_writer_new(&o, &err);
    T_REQUIRE(w != NULL);
    T_CHECK(add_simple(w, "dir", FLIST_DIR, 0755, 0, &err) == 0);
    flist_src_entry hl = { .path = "hl", .type = FLIST_FILE, .hardlink = "dir" };
    T_CHECK(flist_writer_add(w, &hl, &err) == -1);
    T_STREQ(err.msg, "entry 'hl': hard link target 'dir' is not a regular file");
    /* the failure is sticky: nothing can be published */
    T_CHECK(add_file(w, "more", "x", &err) == -1);
    T_STREQ(err.msg, "entry 'hl': hard link target 'dir' is not a regular file");
    T_CHECK(flist_writer_finish(w, t_tmp_path("err.flist"), NULL, &err) == -1);
    T_CHECK(!exists(t_tmp_path("err.flist")));
    flist_writer_free(w);

    /* unclean paths and short content */
    w = flist_writer_new(&o, &err);
    T_REQUIRE(w != NULL);
    T_CHECK(add_file(w, "a/../b", "x", &err) == -1);
    T_STREQ(err.msg, "entry 'a/../b': path is not in clean form");
    flist_writer_free(w);

    w = flist_writer_new(&o, &err);
    T_REQUIRE(w != NULL);
    memrd m = { (const uint8_t *)"short", 5, 0 };
    flist_src_entry e = { .path = "s", .type = FLIST_FILE, .size = 10, .read = mem_read,
                          .read_ctx = &m };
    T_CHECK(flist_writer_add(w, &e, &err) == -1);
    T_STREQ(err.msg, "entry 's': content ends after 5 of 10 bytes");
    flist_writer_free(w);

    /* the abandoned writer above left nothing behind */
    T_CHECK(!exists(t_tmp_path("err.flist")));
}

/* ---------------------------------------------------------------- */
/* a directory whose Dir message is larger than 4 MiB (Q9)            */
/* ---------------------------------------------------------------- */

static void test_big_dir(void)
{
    enum { N = 20000 };
    hub_err err = { 0 };
    flist_writer_opts o = { .threads = 2 };
    flist_writer *w = flist_writer_new(&o, &err);
    T_REQUIRE(w != NULL);
    char name[256];
    for (int i = N - 1; i >= 0; i--) {   /* reverse order: the writer sorts */
        snprintf(name, sizeof name, "many/%06d-%s", i,
                 "a-rather-long-file-name-to-make-the-directory-message-large-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        memrd m = { (const uint8_t *)"\x91", 1, 0 };
        flist_src_entry e = { .path = name, .type = FLIST_FILE, .mode = 0644, .size = 1,
                              .read = mem_read, .read_ctx = &m };
        if (flist_writer_add(w, &e, &err) != 0) {
            fprintf(stderr, "add: %s\n", err.msg);
            T_REQUIRE(0);
        }
    }
    flist_stats st;
    const char *out = t_tmp_path("big.flist");
    T_REQUIRE(flist_writer_finish(w, out, &st, &err) == 0);
    flist_writer_free(w);
    T_CHECK(st.regular == N && st.directory == 1 && st.chunks == N && st.chunks_unique == 1);

    /* the row is really larger than 4 MiB */
    size_t len = 0;
    uint8_t *db = t_flist_db(out, &len);
    T_REQUIRE(db != NULL);
    sqlite3 *s = NULL;
    T_REQUIRE(sqlite3_open(":memory:", &s) == SQLITE_OK);
    uint8_t *copy = sqlite3_malloc64(len);
    memcpy(copy, db, len);
    free(db);
    T_REQUIRE(sqlite3_deserialize(s, "main", copy, (sqlite3_int64)len, (sqlite3_int64)len,
                                  SQLITE_DESERIALIZE_FREEONCLOSE) == SQLITE_OK);
    char key[FLIST_DIRKEY_LEN + 1];
    flist_path_key("many", key);
    sqlite3_stmt *q = NULL;
    T_CHECK(sqlite3_prepare_v2(s, "SELECT length(value), typeof(key) FROM entries WHERE key = ?1",
                               -1, &q, NULL) == SQLITE_OK);
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    T_CHECK(sqlite3_step(q) == SQLITE_ROW);
    T_CHECK(sqlite3_column_int64(q, 0) > 4 * 1024 * 1024);
    T_STREQ((const char *)sqlite3_column_text(q, 1), "text");
    sqlite3_finalize(q);
    sqlite3_close(s);

    flist *f = NULL;
    T_REQUIRE(flist_open(out, &f, &err) == 0);
    flist_dir *d = NULL;
    T_REQUIRE(flist_dir_load(f, "/many", &d, &err) == 0);
    T_REQUIRE(d->nentries == N);
    int ok = 1;
    for (int i = 0; i < N && ok; i++) {
        char want[16];
        snprintf(want, sizeof want, "%06d-", i);
        const flist_inode *ino = &d->entries[i];
        char hid[33];
        if (ino->nblocks == 1)
            hub_hex(ino->blocks[0].id, 16, hid);
        ok = strncmp(ino->name, want, 7) == 0 && ino->size == 1 && ino->nblocks == 1 &&
             strcmp(hid, "5ecc7ba32a1848132c5e727ee0d02f92") == 0;
    }
    T_CHECK(ok);
    flist_dir_free(d);
    flist_close(f);
}

/* ---------------------------------------------------------------- */
/* OCI changesets: layer stamps, whiteouts, opaque directories         */
/* ---------------------------------------------------------------- */

static int present(flist_writer *w, const char *path)
{
    flist_type t;
    return flist_writer_stat(w, path, &t, NULL) == 0;
}

static void test_changesets(void)
{
    hub_err err = { 0 };
    flist_writer_opts o = { .threads = 1 };
    flist_writer *w = flist_writer_new(&o, &err);
    T_REQUIRE(w != NULL);
    char name[64];
    flist_writer_set_layer(w, 1);
    for (int i = 0; i < 30; i++) {   /* past WRITER_INDEX_FROM: the name index */
        snprintf(name, sizeof name, "d/f%02d", i);
        T_REQUIRE(add_file(w, name, "x", &err) == 0);
    }
    T_REQUIRE(add_file(w, "o/a", "a", &err) == 0);
    T_REQUIRE(add_file(w, "o/s/c", "c", &err) == 0);
    flist_src_entry ln = { .path = "l", .type = FLIST_LINK, .link_target = "/o", .mode = 0777 };
    T_REQUIRE(flist_writer_add(w, &ln, &err) == 0);
    flist_type t;
    const char *target = NULL;
    T_CHECK(flist_writer_stat(w, "l", &t, &target) == 0 && t == FLIST_LINK);
    T_STREQ(target, "/o");
    T_CHECK(flist_writer_stat(w, "l/a", &t, NULL) == FLIST_ENOENT);   /* not followed */

    flist_writer_set_layer(w, 2);
    T_REQUIRE(add_file(w, "o/new", "n", &err) == 0);
    T_CHECK(flist_writer_whiteout(w, "d/f05", 0, &err) == 0);
    T_CHECK(flist_writer_whiteout(w, "d/missing", 0, &err) == 0);
    T_CHECK(flist_writer_whiteout(w, "o", 1, &err) == 0);          /* after o/new */
    T_CHECK(flist_writer_whiteout(w, "o/new", 0, &err) == 0);      /* same layer: stays */
    T_CHECK(flist_writer_whiteout(w, "../x", 0, &err) == -1);      /* not clean */
    T_CHECK(!present(w, "d/f05"));
    T_CHECK(present(w, "d/f04") && present(w, "d/f06") && present(w, "d/f29"));
    T_CHECK(present(w, "o/new") && !present(w, "o/a") && !present(w, "o/s"));
    T_REQUIRE(add_file(w, "d/f05", "again", &err) == 0);
    T_CHECK(present(w, "d/f05"));

    flist_writer_set_layer(w, 3);
    T_CHECK(flist_writer_whiteout(w, "d", 0, &err) == 0);          /* a whole lower dir */
    T_CHECK(!present(w, "d") && !present(w, "d/f06"));

    const char *out = t_tmp_path("changesets.flist");
    flist_stats st;
    T_REQUIRE(flist_writer_finish(w, out, &st, &err) == 0);
    flist_writer_free(w);
    T_CHECK(st.regular == 1 && st.directory == 1 && st.symlink == 1);
    flist *f = NULL;
    T_REQUIRE(flist_open(out, &f, &err) == 0);
    flist_dir *d = NULL;
    T_REQUIRE(flist_dir_load(f, "/o", &d, &err) == 0);
    T_CHECK(d->nentries == 1 && strcmp(d->entries[0].name, "new") == 0);
    flist_dir_free(d);
    T_CHECK(flist_dir_load(f, "/d", &d, &err) == FLIST_ENOENT);
    flist_close(f);
}

/* ---------------------------------------------------------------- */
/* real backend (redis-server)                                        */
/* ---------------------------------------------------------------- */

static void test_backend(void)
{
    t_redis r;
    T_REQUIRE(t_redis_start(&r, NULL) == 0);
    char url[64];
    snprintf(url, sizeof url, "redis://%s:%d", r.host, r.port);
    backend_url bu;
    hub_err err = { 0 };
    T_REQUIRE(backend_url_parse(url, &bu, &err) == 0);

    flist_stats st;
    const char *out = t_tmp_path("up.flist");
    int rc = build_tar(t_data("tree.tar.gz"), out, 2, &bu, &st, &err);
    if (rc)
        fprintf(stderr, "build: %s\n", err.msg);
    T_REQUIRE(rc == 0);
    T_CHECK(st.chunks == 24 && st.chunks_unique == 22 && st.chunks_uploaded == 22);

    /* every chunk stored equals zflist's ciphertext (tests/data/chunks) */
    flist *f = NULL;
    T_REQUIRE(flist_open(out, &f, &err) == 0);
    json_t *chunks = flist_json_chunks(f, NULL, &err);
    flist_close(f);
    json_t *ids = json_object_get(chunks, "content");
    T_CHECK(json_array_size(ids) == 24);
    backend *b = backend_connect(&bu, 0, &err);
    T_REQUIRE(b != NULL);
    uint64_t total = 0;
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) {
        uint8_t id[16];
        T_REQUIRE(hub_unhex(json_string_value(v), id, 16) == 0);
        uint8_t *val = NULL;
        size_t len = 0;
        T_REQUIRE(backend_get(b, (const uint8_t (*)[16])id, 1, &val, &len, &err) == 0);
        char path[600];
        snprintf(path, sizeof path, "chunks/%s", json_string_value(v));
        FILE *fp = fopen(t_data(path), "rb");
        T_REQUIRE(fp != NULL && val != NULL);
        uint8_t *want = malloc(len + 1);
        size_t n = fread(want, 1, len + 1, fp);
        fclose(fp);
        T_CHECK(n == len && memcmp(want, val, len) == 0);
        free(want);
        free(val);
    }
    backend_close(b);
    /* bytes_uploaded = sum of the distinct ciphertexts */
    json_t *seen = json_object();
    json_array_foreach(ids, i, v) {
        const char *h = json_string_value(v);
        if (json_object_get(seen, h))
            continue;
        json_object_set_new(seen, h, json_true());
        char path[600];
        struct stat sb;
        snprintf(path, sizeof path, "chunks/%s", h);
        if (stat(t_data(path), &sb) == 0)
            total += (uint64_t)sb.st_size;
    }
    json_decref(seen);
    json_decref(chunks);
    T_CHECK(st.bytes_uploaded == total && total > 0);

    /* a second build uploads nothing */
    T_REQUIRE(build_tar(t_data("tree.tar.gz"), t_tmp_path("up2.flist"), 1, &bu, &st, &err) == 0);
    T_CHECK(st.chunks_uploaded == 0 && st.bytes_uploaded == 0 && st.chunks_unique == 22);

    /* the backend dies during the build: it fails, nothing is published */
    flist_writer_opts o = { .threads = 2, .backend = &bu };
    flist_writer *w = flist_writer_new(&o, &err);
    T_REQUIRE(w != NULL);
    t_redis_kill(&r);
    rc = flist_source_tar(w, t_data("tree.tar.gz"), &err);
    if (rc == 0)
        rc = flist_writer_finish(w, t_tmp_path("dead.flist"), NULL, &err);
    flist_writer_free(w);
    T_CHECK(rc == -1);
    fprintf(stderr, "dead backend: %s\n", err.msg);
    T_CHECK(strstr(err.msg, "backend") != NULL);
    T_CHECK(!exists(t_tmp_path("dead.flist")));

    /* no backend at all: the writer does not start */
    T_CHECK(flist_writer_new(&o, &err) == NULL);
    T_CHECK(err.msg[0] != '\0');
    t_redis_stop(&r);
}

static void test_setup(void)
{
    if (t_tmp_setup("test_writer") != 0)
        exit(1);   /* every later case writes below the directory */
}

static void test_cleanup(void)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s", t_tmpdir());
    T_CHECK(t_tmp_cleanup() == 0);
    T_CHECK(!exists(dir));
}

T_MAIN(T_CASE(test_setup), T_CASE(test_sample_tar), T_CASE(test_threads_identical),
       T_CASE(test_hostile_tar), T_CASE(test_tar_variants), T_CASE(test_broken_tar), T_CASE(test_semantics),
       T_CASE(test_readme), T_CASE(test_dir_source), T_CASE(test_errors), T_CASE(test_big_dir), T_CASE(test_changesets), T_CASE(test_backend),
       T_CASE(test_cleanup))
