/* test_reader_bad.c - the reader on hostile and broken input.
 *
 * Every case must fail with a clear message (checked exactly or by its
 * telling part), never crash (run under ASan/UBSan in CI), and never write
 * a file: the test runs in an empty working directory with TMPDIR pointing
 * at another empty directory, and checks both are still empty at the end.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <sqlite3.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "flist.h"
#include "flist_json.h"
#include "flist_keys.h"
#include "flist_schema.h"
#include "t.h"
#include "t_flist.h"

static char work_dir[] = "/tmp/test_reader_bad.XXXXXX";
static char tmp_dir[] = "/tmp/test_reader_bad_tmp.XXXXXX";

typedef struct buf {
    uint8_t *data;
    size_t len;
} buf;

/* A whole file as a buf ({NULL, 0} when it cannot be read). */
static buf file_buf(const char *path)
{
    buf b = { NULL, 0 };
    b.data = (uint8_t *)t_slurp(path, &b.len);
    return b;
}

/* Checks that message s starts with prefix, printing both when not. */
#define T_PREFIX(s, prefix) do { const char *t_s_ = (s), *t_p_ = (prefix); \
    if (strncmp(t_s_, t_p_, strlen(t_p_)) != 0) { \
    fprintf(stderr, "%s:%d: \"%s\" does not start with \"%s\"\n", __FILE__, __LINE__, \
            t_s_, t_p_); t_failed_checks++; } } while (0)

/* Opens a buffer that must be refused; returns the message (static). */
static const char *refuse(const void *data, size_t len)
{
    static hub_err err;
    flist *f = (flist *)1;
    memset(&err, 0, sizeof err);
    int rc = flist_open_buffer(data, len, &f, &err);
    if (rc != -1 || f != NULL) {
        fprintf(stderr, "accepted a bad flist (rc %d)\n", rc);
        t_failed_checks++;
        flist_close(rc == 0 ? f : NULL);
        return "";
    }
    if (!err.msg[0]) {
        fprintf(stderr, "refused without a message\n");
        t_failed_checks++;
    }
    return err.msg;
}

/* Deterministic pseudo-random bytes. */
static void fill_random(uint8_t *p, size_t n, uint32_t seed)
{
    uint32_t x = seed ? seed : 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
}

/* gzip of a buffer. */
static buf gzip_buf(const void *data, size_t len)
{
    buf out = { malloc(len + len / 100 + 1024), 0 };
    z_stream zs = { 0 };
    deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)len;
    zs.next_out = out.data;
    zs.avail_out = (uInt)(len + len / 100 + 1024);
    deflate(&zs, Z_FINISH);
    out.len = zs.total_out;
    deflateEnd(&zs);
    return out;
}

/* A plain ustar archive of (name, data) members; type 'd' makes a directory. */
typedef struct member {
    const char *name;
    const void *data;
    size_t len;
    char type;
} member;

static buf make_tar(const member *m, int n)
{
    size_t cap = 1 << 20, used = 0;
    for (int i = 0; i < n; i++)
        cap += m[i].len;
    buf out = { malloc(cap), 0 };
    struct archive *a = archive_write_new();
    archive_write_set_format_ustar(a);
    archive_write_open_memory(a, out.data, cap, &used);
    for (int i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, m[i].name);
        archive_entry_set_filetype(e, m[i].type == 'd' ? AE_IFDIR : AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, m[i].type == 'd' ? 0 : (la_int64_t)m[i].len);
        archive_write_header(a, e);
        if (m[i].type != 'd')
            archive_write_data(a, m[i].data, m[i].len);
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    out.len = used;
    return out;
}

/* A database built with SQL, returned serialized. */
static buf make_db(const char *sql)
{
    sqlite3 *db;
    buf out = { NULL, 0 };
    sqlite3_open(":memory:", &db);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "make_db: %s\n", msg);
        sqlite3_free(msg);
    }
    sqlite3_int64 n = 0;
    unsigned char *s = sqlite3_serialize(db, "main", &n, 0);
    out.data = malloc((size_t)n);
    memcpy(out.data, s, (size_t)n);
    out.len = (size_t)n;
    sqlite3_free(s);
    sqlite3_close(db);
    return out;
}

/* Adds a row (TEXT key, BLOB value) to a serialized database. */
static void db_put(buf *b, const char *key, const void *value, size_t len)
{
    sqlite3 *db;
    sqlite3_open(":memory:", &db);
    unsigned char *copy = sqlite3_malloc64(b->len);
    memcpy(copy, b->data, b->len);
    sqlite3_deserialize(db, "main", copy, (sqlite3_int64)b->len, (sqlite3_int64)b->len,
                        SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "REPLACE INTO entries (key, value) VALUES (?1, ?2)", -1, &st, NULL);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, value, (int)len, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        fprintf(stderr, "db_put: %s\n", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_int64 n = 0;
    unsigned char *s = sqlite3_serialize(db, "main", &n, 0);
    free(b->data);
    b->data = malloc((size_t)n);
    memcpy(b->data, s, (size_t)n);
    b->len = (size_t)n;
    sqlite3_free(s);
    sqlite3_close(db);
}

#define SCHEMA "CREATE TABLE entries (key VARCHAR(64) PRIMARY KEY, value BLOB);" \
               "CREATE TABLE metadata (key VARCHAR(64) PRIMARY KEY, value TEXT);"

/* Writes a Dir row. */
static void put_dir(buf *b, const char *key, const char *name, const char *location,
                    flist_inode *entries, size_t n)
{
    flist_dir d = { 0 };
    d.name = (char *)name;
    d.location = (char *)location;
    d.parent = (char *)FLIST_ROOT_KEY;
    d.aclkey = (char *)"d7683de000c13689";
    d.size = 4096;
    d.entries = entries;
    d.nentries = n;
    uint8_t *msg;
    size_t len;
    hub_err err;
    if (flist_dir_encode(&d, &msg, &len, &err) < 0) {
        fprintf(stderr, "encode: %s\n", err.msg);
        t_failed_checks++;
        return;
    }
    db_put(b, key, msg, len);
    free(msg);
}

/* A database with the root ACI row and an ACI "bad0bad0bad0bad0" that is garbage. */
static buf base_db(void)
{
    buf b = make_db(SCHEMA);
    flist_acl acl = { .uname = "root", .gname = "root", .mode = 0755, .uid = 0, .gid = 0 };
    uint8_t *msg;
    size_t len;
    hub_err err;
    if (flist_acl_encode(&acl, &msg, &len, &err) == 0) {
        db_put(&b, "d7683de000c13689", msg, len);
        free(msg);
    }
    db_put(&b, "bad0bad0bad0bad0", "\x01\x02\x03", 3);
    return b;
}

static flist_inode dir_inode(const char *name, const char *dirkey)
{
    flist_inode i = { 0 };
    i.name = (char *)name;
    i.type = FLIST_DIR;
    i.size = 4096;
    i.aclkey = (char *)"d7683de000c13689";
    i.dirkey = (char *)dirkey;
    return i;
}

/* ------------------------------------------------------------------ */

static void test_not_flists(void)
{
    T_STREQ(refuse("", 0), "not an flist: the file is empty");
    uint8_t rnd[4096];
    fill_random(rnd, sizeof rnd, 7);
    rnd[0] = 'x';
    T_STREQ(refuse(rnd, sizeof rnd), "not an flist: not a gzip or tar archive or SQLite database");
    T_STREQ(refuse("\x1f", 1), "not an flist: not a gzip or tar archive or SQLite database");
    T_STREQ(refuse("SQLite format 3", 15),
            "not an flist: not a gzip or tar archive or SQLite database");

    /* gzip of random bytes */
    buf gz = gzip_buf(rnd, sizeof rnd);
    const char *m = refuse(gz.data, gz.len);
    T_PREFIX(m, "not an flist");
    free(gz.data);

    /* gzip of nothing, gzip of zeros: an archive without the database */
    uint8_t zeros[8192] = { 0 };
    gz = gzip_buf(zeros, 0);
    T_PREFIX(refuse(gz.data, gz.len), "not an flist");
    free(gz.data);
    gz = gzip_buf(zeros, sizeof zeros);
    T_STREQ(refuse(gz.data, gz.len), "not an flist: the archive has no flistdb.sqlite3");
    free(gz.data);

    /* files */
    flist *f = NULL;
    hub_err err;
    T_CHECK(flist_open("/nonexistent/x.flist", &f, &err) == -1 && f == NULL);
    T_STREQ(err.msg, "cannot open /nonexistent/x.flist: No such file or directory");
    T_CHECK(flist_open("/tmp", &f, &err) == -1 && f == NULL);
    T_STREQ(err.msg, "cannot open /tmp: not a regular file");
    char empty[300];
    snprintf(empty, sizeof empty, "%s/empty.flist", work_dir);
    FILE *fp = fopen(empty, "w");
    fclose(fp);
    T_CHECK(flist_open(empty, &f, &err) == -1 && f == NULL);
    T_STREQ(err.msg, "not an flist: the file is empty");
    unlink(empty);
}

static void test_truncated(void)
{
    buf b = file_buf(t_data("sample.flist"));
    T_REQUIRE(b.len > 1000);
    size_t cuts[] = { 1, 2, 9, 10, 11, 50, 200, b.len / 3, b.len / 2, b.len - 100,
                      b.len - 9, b.len - 8, b.len - 4, b.len - 1 };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        const char *m = refuse(b.data, cuts[i]);
        /* past the 10-byte gzip header every cut is named a truncation */
        if (strstr(m, "truncated") == NULL && (cuts[i] >= 10 || strstr(m, "not an flist") == NULL)) {
            fprintf(stderr, "cut at %zu: unclear message \"%s\"\n", cuts[i], m);
            t_failed_checks++;
        }
    }
    /* the same for the plain tar */
    uint8_t *db = NULL;
    size_t db_len = 0;
    hub_err err;
    T_REQUIRE(flist_archive_unpack(b.data, b.len, FLIST_MAX_DB_SIZE, &db, &db_len, &err) == 0);
    member m1[] = { { "./", NULL, 0, 'd' }, { "./flistdb.sqlite3", db, db_len, 'f' } };
    buf tar = make_tar(m1, 2);
    size_t tcuts[] = { 300, 700, 1100, 1024 + 512, 1024 + db_len / 2, 1024 + db_len - 1 };
    for (size_t i = 0; i < sizeof tcuts / sizeof tcuts[0]; i++) {
        const char *m = refuse(tar.data, tcuts[i]);
        /* past the first header every cut is named a truncation */
        if (strstr(m, "truncated") == NULL && (tcuts[i] >= 512 || strstr(m, "not an flist") == NULL)) {
            fprintf(stderr, "tar cut at %zu: unclear message \"%s\"\n", tcuts[i], m);
            t_failed_checks++;
        }
    }
    /* a cut in the database data says "truncated" */
    T_CHECK(strstr(refuse(tar.data, 1024 + db_len / 2), "truncated") != NULL);
    T_CHECK(strstr(refuse(b.data, b.len / 2), "truncated") != NULL);
    /* the whole tar opens */
    flist *f = NULL;
    T_CHECK(flist_open_buffer(tar.data, tar.len, &f, &err) == 0);
    flist_close(f);
    free(tar.data);
    free(db);
    free(b.data);
}

static void test_bad_members(void)
{
    size_t db_len = 0;
    uint8_t *db = t_flist_db(t_data("sample.flist"), &db_len);
    T_REQUIRE(db != NULL);
    hub_err err;

    member none[] = { { "./", NULL, 0, 'd' }, { "./other.txt", "hello", 5, 'f' } };
    buf tar = make_tar(none, 2);
    T_STREQ(refuse(tar.data, tar.len), "not an flist: the archive has no flistdb.sqlite3");
    buf gz = gzip_buf(tar.data, tar.len);
    T_STREQ(refuse(gz.data, gz.len), "not an flist: the archive has no flistdb.sqlite3");
    free(gz.data);
    free(tar.data);

    member twice[] = { { "./flistdb.sqlite3", db, db_len, 'f' }, { "flistdb.sqlite3", db, db_len, 'f' } };
    tar = make_tar(twice, 2);
    T_STREQ(refuse(tar.data, tar.len), "not an flist: the archive holds flistdb.sqlite3 twice");
    free(tar.data);

    member asdir[] = { { "./flistdb.sqlite3", NULL, 0, 'd' } };
    tar = make_tar(asdir, 1);
    T_STREQ(refuse(tar.data, tar.len), "not an flist: the archive has no flistdb.sqlite3");
    free(tar.data);

    member prefix[] = { { "./notflistdb.sqlite3", db, db_len, 'f' } };
    tar = make_tar(prefix, 1);
    T_STREQ(refuse(tar.data, tar.len), "not an flist: the archive has no flistdb.sqlite3");
    free(tar.data);

    member notdb[] = { { "./flistdb.sqlite3", "hello, world", 12, 'f' } };
    tar = make_tar(notdb, 1);
    T_STREQ(refuse(tar.data, tar.len), "not an flist: flistdb.sqlite3 is not an SQLite database");
    free(tar.data);

    /* extra members are ignored (and never extracted), a subdirectory path works */
    member extra[] = { { "../../evil", "x", 1, 'f' }, { "sub/flistdb.sqlite3", db, db_len, 'f' },
                       { "/etc/passwd-evil", "y", 1, 'f' } };
    tar = make_tar(extra, 3);
    flist *f = NULL;
    T_CHECK(flist_open_buffer(tar.data, tar.len, &f, &err) == 0);
    flist_close(f);
    free(tar.data);
    free(db);
}

static void test_not_flist_db(void)
{
    buf b = make_db("CREATE TABLE foo (a);");
    T_STREQ(refuse(b.data, b.len), "not an flist: the database has no entries table");
    free(b.data);

    b = make_db("CREATE TABLE real (key TEXT, value BLOB); CREATE VIEW entries AS SELECT * FROM real;");
    T_STREQ(refuse(b.data, b.len), "not an flist: the database has no entries table");
    free(b.data);

    b = make_db(SCHEMA);
    T_STREQ(refuse(b.data, b.len), "not an flist: the database has no root directory");

    /* the same through the container written by flist_archive_pack */
    char path[300];
    snprintf(path, sizeof path, "%s/noroot.flist", work_dir);
    hub_err err;
    T_CHECK(flist_archive_pack(b.data, b.len, path, &err) == 0);
    flist *f = NULL;
    T_CHECK(flist_open(path, &f, &err) == -1 && f == NULL);
    T_STREQ(err.msg, "not an flist: the database has no root directory");
    unlink(path);
    free(b.data);

    /* SQLite header followed by garbage */
    uint8_t junk[4096];
    fill_random(junk, sizeof junk, 99);
    memcpy(junk, "SQLite format 3", 16);
    const char *m = refuse(junk, sizeof junk);
    T_PREFIX(m, "not an flist: unreadable SQLite database");
}

static void test_corrupt_root(void)
{
    buf b = base_db();
    uint8_t junk[64];
    fill_random(junk, sizeof junk, 3);
    db_put(&b, FLIST_ROOT_KEY, junk, sizeof junk);
    const char *m = refuse(b.data, b.len);
    T_PREFIX(m, "not an flist: directory " FLIST_ROOT_KEY " is corrupt: ");
    db_put(&b, FLIST_ROOT_KEY, "", 0);
    m = refuse(b.data, b.len);
    T_PREFIX(m, "not an flist: directory " FLIST_ROOT_KEY " is corrupt: ");
    free(b.data);
}

/* Walk errors: the message of flist_json_find on a database. */
static const char *find_error(buf *b, int *rc)
{
    static hub_err err;
    flist *f = NULL;
    memset(&err, 0, sizeof err);
    if (flist_open_buffer(b->data, b->len, &f, &err) < 0) {
        *rc = 99;
        return err.msg;
    }
    json_t *v = flist_json_find(f, "/", 0, rc, &err);
    if (v) {
        json_decref(v);
        *rc = 0;
        err.msg[0] = '\0';
    }
    flist_close(f);
    return err.msg;
}

static void test_loops(void)
{
    int rc;
    /* /x points back at the root through SubDir.key (no row at key("x")) */
    buf b = base_db();
    flist_inode loop[] = { dir_inode("x", FLIST_ROOT_KEY) };
    put_dir(&b, FLIST_ROOT_KEY, "", "", loop, 1);
    T_STREQ(find_error(&b, &rc), "corrupt flist: directory loop at /x");
    T_CHECK(rc == -1);
    free(b.data);

    /* /a/b points back at /a */
    char ka[33];
    flist_path_key("a", ka);
    b = base_db();
    flist_inode ra[] = { dir_inode("a", ka) };
    flist_inode ab[] = { dir_inode("b", ka) };
    put_dir(&b, FLIST_ROOT_KEY, "", "", ra, 1);
    put_dir(&b, ka, "a", "a", ab, 1);
    T_STREQ(find_error(&b, &rc), "corrupt flist: directory loop at /a/b");
    free(b.data);

    /* two entries sharing one directory row (exponential walks otherwise) */
    b = base_db();
    flist_inode two[] = { dir_inode("x", "00000000000000000000000000000001"),
                          dir_inode("y", "00000000000000000000000000000001") };
    put_dir(&b, FLIST_ROOT_KEY, "", "", two, 2);
    put_dir(&b, "00000000000000000000000000000001", "s", "s", NULL, 0);
    T_STREQ(find_error(&b, &rc),
            "corrupt flist: directory /y is reached twice (duplicate directory entries)");
    free(b.data);

    /* a directory whose row is missing everywhere */
    b = base_db();
    flist_inode gone[] = { dir_inode("gone", "ffffffffffffffffffffffffffffffff") };
    put_dir(&b, FLIST_ROOT_KEY, "", "", gone, 1);
    T_STREQ(find_error(&b, &rc), "corrupt flist: directory /gone has no row");
    free(b.data);

    /* a subdirectory row that is garbage */
    char kg[33];
    flist_path_key("g", kg);
    b = base_db();
    flist_inode g[] = { dir_inode("g", kg) };
    put_dir(&b, FLIST_ROOT_KEY, "", "", g, 1);
    db_put(&b, kg, "garbage!", 8);
    const char *m = find_error(&b, &rc);
    T_PREFIX(m, "corrupt flist: /g: directory ");
    free(b.data);

    /* nesting deeper than the limit: a chain of 4100 directories at their
     * path keys (each one named "d") */
    b = base_db();
    char *path = malloc(4101 * 2 + 1);  /* 4101 rows, "d/" each */
    size_t plen = 0;
    path[0] = '\0';
    sqlite3 *db;
    sqlite3_open(":memory:", &db);
    unsigned char *copy = sqlite3_malloc64(b.len);
    memcpy(copy, b.data, b.len);
    sqlite3_deserialize(db, "main", copy, (sqlite3_int64)b.len, (sqlite3_int64)b.len,
                        SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE);
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "REPLACE INTO entries (key, value) VALUES (?1, ?2)", -1, &st, NULL);
    for (int i = 0; i <= 4100; i++) {
        char key[33], child[33];
        flist_path_key(path, key);
        if (plen)
            path[plen++] = '/';
        path[plen++] = 'd';
        path[plen] = '\0';
        flist_path_key(path, child);
        flist_inode ino = dir_inode("d", child);
        flist_dir d = { .name = "d", .location = "", .parent = FLIST_ROOT_KEY,
                        .aclkey = "d7683de000c13689", .size = 4096,
                        .entries = &ino, .nentries = i < 4100 ? 1 : 0 };
        uint8_t *msg;
        size_t len;
        hub_err err;
        if (flist_dir_encode(&d, &msg, &len, &err) == 0) {
            sqlite3_reset(st);
            sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
            sqlite3_bind_blob(st, 2, msg, (int)len, SQLITE_TRANSIENT);
            sqlite3_step(st);
            free(msg);
        }
    }
    sqlite3_finalize(st);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_int64 n = 0;
    unsigned char *s = sqlite3_serialize(db, "main", &n, 0);
    free(b.data);
    b.data = malloc((size_t)n);
    memcpy(b.data, s, (size_t)n);
    b.len = (size_t)n;
    sqlite3_free(s);
    sqlite3_close(db);
    free(path);
    m = find_error(&b, &rc);
    T_PREFIX(m, "corrupt flist: directories nested deeper than 4096 levels at /d/d/");
    free(b.data);
}

/* Entries whose ACI row is missing or garbage read as "", -1. */
static void test_bad_acl(void)
{
    buf b = base_db();
    flist_inode e[2] = { { 0 }, { 0 } };
    e[0].name = "garbage-acl";
    e[0].type = FLIST_LINK;
    e[0].target = "x";
    e[0].size = 1;
    e[0].aclkey = "bad0bad0bad0bad0";
    e[1].name = "\xff\xfe-latin1";
    e[1].type = FLIST_SPECIAL;
    e[1].special = FLIST_SPECIAL_CHARDEV;
    e[1].special_data = (uint8_t *)"1,3";
    e[1].special_len = 3;
    e[1].aclkey = "0123456789abcdef";
    put_dir(&b, FLIST_ROOT_KEY, "", "", e, 2);
    flist *f = NULL;
    hub_err err;
    T_REQUIRE(flist_open_buffer(b.data, b.len, &f, &err) == 0);
    int rc;
    json_t *v = flist_json_ls(f, "/", &rc, &err);
    T_REQUIRE(v);
    char *s = json_dumps(v, 0);
    T_STREQ(s, "[{\"name\": \"garbage-acl\", \"type\": \"symlink\", \"size\": 1, \"user\": \"\", "
               "\"uid\": -1, \"group\": \"\", \"gid\": -1}, {\"name\": \"\xef\xbf\xbd\xef\xbf\xbd-latin1\", "
               "\"type\": \"character device\", \"size\": 0, \"user\": \"\", \"uid\": -1, "
               "\"group\": \"\", \"gid\": -1}]");
    free(s);
    json_decref(v);
    v = flist_json_stat(f, "/\xff\xfe-latin1", &rc, &err);
    T_REQUIRE(v);
    T_STREQ(json_string_value(json_object_get(v, "device")), "1,3");
    json_decref(v);
    flist_close(f);
    free(b.data);
}

/* Rows that only SubDir.key finds (not at their path key) are still read,
 * by walks, listings and lookups. */
static void test_subdir_fallback(void)
{
    buf b = base_db();
    const char *k = "0123456789abcdef0123456789abcdef";
    flist_inode root[] = { dir_inode("x", k) };
    flist_inode file = { 0 };
    file.name = "f";
    file.type = FLIST_FILE;
    file.size = 0;
    file.aclkey = "d7683de000c13689";
    put_dir(&b, FLIST_ROOT_KEY, "", "", root, 1);
    put_dir(&b, k, "x", "x", &file, 1);
    flist *f = NULL;
    hub_err err;
    T_REQUIRE(flist_open_buffer(b.data, b.len, &f, &err) == 0);
    int rc;
    json_t *v = flist_json_find(f, "/", 0, &rc, &err);
    T_REQUIRE(v);
    char *s = json_dumps(v, 0);
    T_STREQ(s, "{\"content\": [{\"size\": 4096, \"path\": \"/x\"}, {\"size\": 0, \"path\": "
               "\"/x/f\"}], \"regular\": 1, \"symlink\": 0, \"directory\": 1, \"special\": 0, "
               "\"failure\": 0, \"fullsize\": 0}");
    free(s);
    json_decref(v);
    v = flist_json_stat(f, "/x/f", &rc, &err);
    T_CHECK(v && rc == 0);
    json_decref(v);
    flist_dir *d = NULL;
    T_CHECK(flist_dir_load(f, "/x/", &d, &err) == 0 && d && d->nentries == 1);
    flist_dir_free(d);
    T_CHECK(flist_dir_load(f, "/x/y", &d, &err) == FLIST_ENOENT && d == NULL);
    T_STREQ(err.msg, "no such directory: /x/y");

    /* an empty metadata table */
    char **names = NULL;
    size_t n = 9;
    T_CHECK(flist_meta_names(f, &names, &n, &err) == 0 && n == 0);
    flist_strv_free(names, n);
    char *val = NULL;
    T_CHECK(flist_meta_get(f, "backend", &val, &err) == FLIST_ENOENT);
    flist_close(f);
    free(b.data);

    /* no metadata table at all: reads as none, a set creates it */
    b = make_db("CREATE TABLE entries (key VARCHAR(64) PRIMARY KEY, value BLOB);");
    put_dir(&b, FLIST_ROOT_KEY, "", "", NULL, 0);
    f = NULL;
    T_REQUIRE(flist_open_buffer(b.data, b.len, &f, &err) == 0);
    T_CHECK(flist_meta_get(f, "backend", &val, &err) == FLIST_ENOENT);
    T_CHECK(flist_meta_set(f, "backend", NULL, &err) == 0);
    T_CHECK(flist_meta_set(f, "backend", "{\"host\": \"h\", \"port\": 1}", &err) == 0);
    T_CHECK(flist_meta_get(f, "backend", &val, &err) == 0);
    T_STREQ(val, "{\"host\": \"h\", \"port\": 1}");
    free(val);
    flist_close(f);
    free(b.data);
}

/* Bytes flipped in a real database: refused or read, never a crash. */
static void test_fuzzed_db(void)
{
    size_t db_len = 0;
    uint8_t *db = t_flist_db(t_data("sample.flist"), &db_len);
    T_REQUIRE(db != NULL);
    hub_err err;
    uint8_t *copy = malloc(db_len);
    uint32_t x = 12345;
    for (int round = 0; round < 300; round++) {
        memcpy(copy, db, db_len);
        for (int k = 0; k < 1 + round % 8; k++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            size_t at = 100 + x % (db_len - 100);  /* keep the magic */
            copy[at] ^= (uint8_t)(x >> 8) | 1;
        }
        flist *f = NULL;
        if (flist_open_buffer(copy, db_len, &f, &err) == 0) {
            int rc;
            json_decref(flist_json_find(f, "/", 0, &rc, &err));
            json_decref(flist_json_ls(f, "/a", &rc, &err));
            json_decref(flist_json_stat(f, "/hello.txt", &rc, &err));
            json_decref(flist_json_metadata(f, NULL, &rc, &err));
            json_decref(flist_json_metadata(f, "backend", &rc, &err));
            flist_close(f);
        } else {
            T_CHECK(err.msg[0] != '\0');
        }
    }
    free(copy);
    free(db);
}

/* A gzip bomb: a tar member flistdb.sqlite3 of FLIST_MAX_DB_SIZE + 1 MiB of
 * zeros, compressed as a stream (the plain bytes never exist in memory). */
static void test_bomb(void)
{
    uint64_t size = FLIST_MAX_DB_SIZE + (1u << 20);
    uint8_t header[512];
    t_ustar_header(header, "./flistdb.sqlite3", size, '0', NULL);

    size_t cap = 16u << 20;  /* level 1 packs zeros about 230:1 */
    uint8_t *out = malloc(cap);
    static uint8_t zeros[1 << 20];
    z_stream zs = { 0 };
    T_REQUIRE(deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) == Z_OK);
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    zs.next_in = header;
    zs.avail_in = sizeof header;
    deflate(&zs, Z_NO_FLUSH);
    for (uint64_t done = 0; done < size && zs.avail_out > 0; done += sizeof zeros) {
        zs.next_in = zeros;
        zs.avail_in = sizeof zeros;
        deflate(&zs, Z_NO_FLUSH);
    }
    T_CHECK(deflate(&zs, Z_FINISH) == Z_STREAM_END);
    size_t len = zs.total_out;
    deflateEnd(&zs);
    T_CHECK(len < cap);

    char want[200];
    snprintf(want, sizeof want, "flistdb.sqlite3 is %llu bytes, more than the "
             "limit of %llu bytes", (unsigned long long)size, (unsigned long long)FLIST_MAX_DB_SIZE);
    T_STREQ(refuse(out, len), want);
    hub_err code_err;
    flist *f = NULL;
    T_CHECK(flist_open_buffer(out, len, &f, &code_err) == -1 && code_err.code == HUB_E_TOO_LARGE);

    /* the process-wide bound (flist-max-size) replaces the default */
    flist_set_max_db_size(16u << 20);
    T_CHECK(flist_max_db_size() == 16u << 20);
    T_STREQ(refuse(out, len), "flistdb.sqlite3 is 1074790400 bytes, more than the limit of "
            "16777216 bytes");
    /* a bare database too */
    size_t raw_len = 2u << 20;
    uint8_t *raw = calloc(1, raw_len);
    memcpy(raw, "SQLite format 3", 16);
    flist_set_max_db_size(1u << 20);
    T_STREQ(refuse(raw, raw_len), "the database is larger than the limit of 1048576 bytes");
    free(raw);
    flist_set_max_db_size(0);
    T_CHECK(flist_max_db_size() == FLIST_MAX_DB_SIZE);

    /* the limit is a parameter of flist_archive_unpack */
    uint8_t *db = NULL;
    size_t db_len = 0;
    hub_err err;
    T_CHECK(flist_archive_unpack(out, len, 1u << 20, &db, &db_len, &err) == -1 && db == NULL);
    T_CHECK(strstr(err.msg, "more than the limit of 1048576 bytes") != NULL);
    free(out);
}

/* Nothing was written: both directories are still empty. */
static int dir_entries(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void test_nothing_written(void)
{
    T_CHECK(dir_entries(work_dir) == 0);
    T_CHECK(dir_entries(tmp_dir) == 0);
}

static const t_case cases[] = {
    T_CASE(test_not_flists), T_CASE(test_truncated), T_CASE(test_bad_members),
    T_CASE(test_not_flist_db), T_CASE(test_corrupt_root), T_CASE(test_loops),
    T_CASE(test_bad_acl), T_CASE(test_subdir_fallback), T_CASE(test_fuzzed_db), T_CASE(test_bomb),
    T_CASE(test_nothing_written),
};

int main(void)
{
    char data[4096];
    const char *env = getenv("HUB_TESTDATA");
    if (!env || env[0] != '/') {
        /* make the data path absolute before leaving the working directory */
        char cwd[2048];
        if (!getcwd(cwd, sizeof cwd))
            return 1;
        snprintf(data, sizeof data, "%s/%s", cwd, env ? env : "tests/data");
        setenv("HUB_TESTDATA", data, 1);
    }
    if (!mkdtemp(work_dir) || !mkdtemp(tmp_dir) || chdir(work_dir) < 0) {
        perror("test setup");
        return 1;
    }
    setenv("TMPDIR", tmp_dir, 1);
    int rc = t_run(cases, sizeof cases / sizeof cases[0]);
    if (chdir("/") == 0) {
        rmdir(work_dir);
        rmdir(tmp_dir);
    }
    return rc;
}
