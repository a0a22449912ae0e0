/* test_reader.c - the flist reader against zflist's reference output.
 *
 * For every flist of tests/data, find / ls / stat / metadata must print
 * byte-for-byte what zflist printed (stat "device" excepted: we print the
 * real Special.data, zflist always ""). Also: the 12-segment bigdir, content
 * of sample.flist decrypted from tests/data/chunks against the README's
 * SHA-256 values, the three container forms, lookups, concurrent opens, and
 * a metadata change saved, re-opened and listed by GNU tar.
 */
#include <dirent.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "chunk.h"
#include "flist.h"
#include "flist_json.h"
#include "flist_keys.h"
#include "t.h"
#include "t_flist.h"

/* Line i (0-based) of a test data file, with its '\n', in a static buffer. */
static const char *line_of(const char *file, int i)
{
    static char buf[65536];
    char *all = t_slurp(t_data(file), NULL);
    if (!all)
        return NULL;
    char *p = all;
    for (int k = 0; k < i && p; k++) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    if (!p || !*p) {
        free(all);
        return NULL;
    }
    char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p + 1) : strlen(p);
    if (n >= sizeof buf)
        n = sizeof buf - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    free(all);
    return buf;
}

/* json_dumps(envelope(v), 0) + "\n" (steals v); caller frees. */
static char *dump(json_t *v)
{
    json_t *env = flist_json_envelope(v);
    char *s = json_dumps(env, 0);
    json_decref(env);
    size_t n = strlen(s);
    char *out = malloc(n + 2);
    memcpy(out, s, n);
    out[n] = '\n';
    out[n + 1] = '\0';
    free(s);
    return out;
}

/* Checks that dump(v) (steals v) equals the line want. */
#define T_DUMP_EQ(v, want) do { char *t_got_ = dump(v); \
    T_STREQ(t_got_, (want)); free(t_got_); } while (0)

/* t_data without the shared static buffer, for threads. */
static const char *t_data_path(const char *name)
{
    static __thread char buf[4096];
    const char *dir = getenv("HUB_TESTDATA");
    snprintf(buf, sizeof buf, "%s/%s", dir ? dir : "tests/data", name);
    return buf;
}

/* find output equals the .find.json file. */
static void check_find(const char *base)
{
    char flname[64], jsname[64];
    snprintf(flname, sizeof flname, "%s.flist", base);
    snprintf(jsname, sizeof jsname, "%s.find.json", base);
    flist *f = t_open_data(flname);
    T_REQUIRE(f);
    int rc = 99;
    hub_err err = { 0 };
    json_t *v = flist_json_find(f, "/", 0, &rc, &err);
    T_CHECK(rc == 0);
    T_REQUIRE(v);
    T_DUMP_EQ(v, line_of(jsname, 0));
    flist_close(f);
}

static void test_find_all(void)
{
    const char *names[] = { "sample", "bigdir", "a", "b", "merged" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        check_find(names[i]);
}

static void test_empty(void)
{
    flist *f = t_open_data("empty.flist");
    T_REQUIRE(f);
    int rc;
    hub_err err;
    T_DUMP_EQ(flist_json_find(f, "/", 0, &rc, &err),
              "{\"success\": true, \"error\": null, \"response\": {\"content\": [], "
              "\"regular\": 0, \"symlink\": 0, \"directory\": 0, \"special\": 0, "
              "\"failure\": 0, \"fullsize\": 0}}\n");
    T_DUMP_EQ(flist_json_ls(f, "/", &rc, &err),
              "{\"success\": true, \"error\": null, \"response\": []}\n");
    T_DUMP_EQ(flist_json_metadata(f, NULL, &rc, &err),
              "{\"success\": true, \"error\": null, \"response\": []}\n");
    flist_close(f);
}

/* ls of each directory equals the .ls.jsonl lines. */
static void check_ls(const char *flname, const char *jsname, const char *const *dirs, int n)
{
    flist *f = t_open_data(flname);
    T_REQUIRE(f);
    for (int i = 0; i < n; i++) {
        int rc = 99;
        hub_err err;
        json_t *v = flist_json_ls(f, dirs[i], &rc, &err);
        T_CHECK(rc == 0);
        T_REQUIRE(v);
        T_DUMP_EQ(v, line_of(jsname, i));
    }
    T_CHECK(line_of(jsname, n) == NULL);
    flist_close(f);
}

static void test_ls(void)
{
    static const char *const sample[] = { "/", "/a", "/a/b", "/a/b/c", "/emptydir" };
    static const char *const merged[] = { "/", "/shared", "/conflict", "/b-only" };
    check_ls("sample.flist", "sample.ls.jsonl", sample, 5);
    check_ls("merged.flist", "merged.ls.jsonl", merged, 4);
}

/* stat of every find path equals the .stat.jsonl lines; "device" must be
 * the real Special.data and is blanked (zflist's quirk) before comparing. */
static void check_stat(const char *base, const char *device_path, const char *device)
{
    char flname[64], jsname[64], stname[64];
    snprintf(flname, sizeof flname, "%s.flist", base);
    snprintf(jsname, sizeof jsname, "%s.find.json", base);
    snprintf(stname, sizeof stname, "%s.stat.jsonl", base);
    flist *f = t_open_data(flname);
    T_REQUIRE(f);
    json_t *find = json_loads(line_of(jsname, 0), 0, NULL);
    T_REQUIRE(find);
    json_t *content = json_object_get(json_object_get(find, "response"), "content");
    size_t i, ndevice = 0;
    json_t *item;
    json_array_foreach(content, i, item) {
        const char *path = json_string_value(json_object_get(item, "path"));
        int rc = 99;
        hub_err err;
        json_t *v = flist_json_stat(f, path, &rc, &err);
        T_CHECK(rc == 0);
        if (!v) {
            fprintf(stderr, "stat %s: %s\n", path, err.msg);
            t_failed_checks++;
            continue;
        }
        json_t *dev = json_object_get(v, "device");
        if (dev) {
            ndevice++;
            T_STREQ(path, device_path);
            T_STREQ(json_string_value(dev), device);
            json_object_set_new(v, "device", json_string(""));
        }
        T_DUMP_EQ(v, line_of(stname, (int)i));
    }
    T_CHECK(json_array_size(content) > 0);
    T_CHECK(line_of(stname, (int)json_array_size(content)) == NULL);
    T_CHECK(ndevice == (device_path ? 1u : 0u));
    json_decref(find);
    flist_close(f);
}

static void test_stat(void)
{
    check_stat("sample", "/a/fifo", "(nothing)");
    check_stat("merged", NULL, NULL);
}

static void test_metadata(void)
{
    flist *f = t_open_data("sample.flist");
    T_REQUIRE(f);
    int rc = 99;
    hub_err err;
    json_t *names = flist_json_metadata(f, NULL, &rc, &err);
    T_CHECK(rc == 0);
    T_REQUIRE(names);
    json_incref(names);
    T_DUMP_EQ(names, line_of("sample.metadata.json", 0));
    size_t i;
    json_t *name;
    json_array_foreach(names, i, name) {
        json_t *v = flist_json_metadata(f, json_string_value(name), &rc, &err);
        T_CHECK(rc == 0);
        T_DUMP_EQ(v, line_of("sample.metadata.jsonl", (int)i));
    }
    T_CHECK(json_array_size(names) == 7);
    json_decref(names);

    /* readme equals the content of /.README.md */
    char *readme = NULL;
    T_CHECK(flist_meta_get(f, "readme", &readme, &err) == 0);
    T_CHECK(readme && strncmp(readme, "{\"readme\": \"# flist sample tree\\n", 33) == 0);
    free(readme);

    /* a missing name */
    T_CHECK(flist_json_metadata(f, "nope", &rc, &err) == NULL);
    T_CHECK(rc == FLIST_ENOENT);
    T_STREQ(err.msg, "no metadata named nope");
    char *v = (char *)1;
    T_CHECK(flist_meta_get(f, "nope", &v, &err) == FLIST_ENOENT && v == NULL);
    flist_close(f);
}

/* bigdir: a 12-segment Dir with far pointers lists 300 files in order. */
typedef struct names_ctx {
    int n, bad;
} names_ctx;

static int bigdir_cb(const flist_entry *e, void *ud)
{
    names_ctx *c = ud;
    char want[32];
    snprintf(want, sizeof want, "/many/f%03d", c->n);
    if (strcmp(e->path, want) != 0 || e->inode->type != FLIST_FILE || e->inode->size != 5 ||
        e->inode->nblocks != 1 || e->depth != 1 || e->acl->mode != 0644)
        c->bad++;
    c->n++;
    return 0;
}

static void test_bigdir(void)
{
    flist *f = t_open_data("bigdir.flist");
    T_REQUIRE(f);
    names_ctx c = { 0, 0 };
    hub_err err;
    T_CHECK(flist_list(f, "/many", bigdir_cb, &c, &err) == 0);
    T_CHECK(c.n == 300);
    T_CHECK(c.bad == 0);
    flist_dir *d = NULL;
    T_CHECK(flist_dir_load(f, "many/", &d, &err) == 0);
    T_REQUIRE(d);
    T_CHECK(d->nentries == 300);
    T_STREQ(d->location, "many");
    T_STREQ(d->entries[299].name, "f299");
    flist_dir_free(d);
    flist_close(f);
}

/* Lookup semantics: first entry of a name, "/" is ENOENT, normalisation.
 * The callback keeps copies: the entry is valid during the call only. */
typedef struct found {
    flist_type type;
    int depth;
    uint64_t size;
} found;

static int lookup_cb(const flist_entry *e, void *ud)
{
    found *fd = ud;
    fd->type = e->inode->type;
    fd->depth = e->depth;
    fd->size = e->inode->size;
    return 0;
}

static void test_lookup(void)
{
    flist *f = t_open_data("merged.flist");
    T_REQUIRE(f);
    found e = { 0 };
    hub_err err;
    T_CHECK(flist_lookup(f, "/conflict", lookup_cb, &e, &err) == 0);
    T_CHECK(e.type == FLIST_FILE && e.size == 24 && e.depth == 1);
    T_CHECK(flist_lookup(f, "/conflict/inner.txt", lookup_cb, &e, &err) == 0);
    T_CHECK(e.type == FLIST_FILE && e.size == 23 && e.depth == 2);
    T_CHECK(flist_lookup(f, "/", lookup_cb, &e, &err) == FLIST_ENOENT);
    T_CHECK(flist_lookup(f, "", lookup_cb, &e, &err) == FLIST_ENOENT);
    T_CHECK(flist_lookup(f, "/nope", lookup_cb, &e, &err) == FLIST_ENOENT);
    T_STREQ(err.msg, "no such file or directory: /nope");
    T_CHECK(flist_lookup(f, "/nope/x", lookup_cb, &e, &err) == FLIST_ENOENT);
    flist_close(f);

    f = t_open_data("sample.flist");
    T_REQUIRE(f);
    const char *spellings[] = { "/a/b", "a/b", "/a/b/", "a/b/" };
    for (int i = 0; i < 4; i++) {
        int rc;
        json_t *v = flist_json_stat(f, spellings[i], &rc, &err);
        T_REQUIRE(v);
        T_STREQ(json_string_value(json_object_get(v, "file")), "/a/b");
        T_CHECK(json_integer_value(json_object_get(v, "mode")) == 0755);
        json_decref(v);
    }
    T_CHECK(flist_lookup(f, "/a/b/c/deep.txt", lookup_cb, &e, &err) == 0);
    T_CHECK(e.depth == 4);
    T_CHECK(flist_lookup(f, "//a/b", lookup_cb, &e, &err) == FLIST_ENOENT);
    /* directory loading by every spelling */
    const char *roots[] = { "/", "", "//" };
    for (int i = 0; i < 3; i++) {
        flist_dir *d = NULL;
        T_CHECK(flist_dir_load(f, roots[i], &d, &err) == 0);
        T_CHECK(d && d->nentries == 18);
        flist_dir_free(d);
    }
    flist_dir *d = NULL;
    T_CHECK(flist_dir_load(f, "/hello.txt", &d, &err) == FLIST_ENOENT && d == NULL);
    int rc = 0;
    T_CHECK(flist_json_ls(f, "/nope", &rc, &err) == NULL && rc == FLIST_ENOENT);
    /* ACI cache: same pointer twice, NULL for unknown */
    const flist_acl *a1 = flist_acl_get(f, "d7683de000c13689");
    T_REQUIRE(a1);
    T_CHECK(a1 == flist_acl_get(f, "d7683de000c13689"));
    T_STREQ(a1->uname, "root");
    T_CHECK(a1->mode == 0755 && a1->uid == 0 && a1->gid == 0);
    T_CHECK(flist_acl_get(f, "0000000000000000") == NULL);
    T_CHECK(flist_acl_get(f, "0000000000000000") == NULL);
    flist_close(f);
}

static void test_type_words(void)
{
    flist_inode ino = { 0 };
    const char *want[] = { "unix socket", "block device", "character device", "fifo", "unknown" };
    ino.type = FLIST_SPECIAL;
    for (int i = 0; i <= 4; i++) {
        ino.special = (flist_special_type)i;
        T_STREQ(flist_type_word(&ino), want[i]);
    }
    ino.type = FLIST_DIR;
    T_STREQ(flist_type_word(&ino), "directory");
    ino.type = FLIST_FILE;
    T_STREQ(flist_type_word(&ino), "regular file");
    ino.type = FLIST_LINK;
    T_STREQ(flist_type_word(&ino), "symlink");

    json_t *e = flist_json_error("open", "no such file");
    char *s = json_dumps(e, 0);
    T_STREQ(s, "{\"success\": false, \"error\": {\"function\": \"open\", \"message\": "
               "\"no such file\"}, \"response\": {}}");
    free(s);
    json_decref(e);
}

/* Content: every regular file of sample.flist decrypted from chunks/. */
static const struct { const char *path, *sha; } sample_files[] = {
    { "/.README.md", "0d3023df175f5739fba78f25941013dee1e0e3acdde7372573a784c035b260bc" },
    { "/a/a.txt", "62e1631ef3faf6dfd977a86251e4f3db7da7236f890efb92f5089fca41fe6f8b" },
    { "/a/b/b.txt", "ca8071aaabbacf06be64998b541131f27676669a8721c33f3461fdef1f9c6c1d" },
    { "/a/b/c/deep.txt", "64896f89fd11190013b70103e603a1c5826e56b7fb7d2197ab279b0690043599" },
    { "/a/user-1000.txt", "011fd95f348637f29600f3b2ee2186d03ae2299ac6ca829bb103a357326e4d62" },
    { "/empty", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
    { "/f4095", "ecd88d97cb6f0ea1fb4f7366efc9481c4913359189572d2ccaea6dd808900537" },
    { "/f524288", "b711d56cee78b5c2c7ea5a800f34dac28e29153f705010a93dca0f2d33826d54" },
    { "/f524289", "4efcc28184124b59b06eb3e63e62f3513d7dbf94d514a925e6a19f60e755bafc" },
    { "/hello.txt", "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447" },
    { "/héllo-wörld-名前.txt", "8c4a5dd505ce001412d1fab47c347ea30c9f95f86b1706c08622bfb850d19ee2" },
    { "/mib1p7", "fbcd88eec617fd3b51a90cdb62f65a835ab1726a2afdd99807d4422eb3737004" },
    { "/one", "7da59d0dfbe21f43e842e8afb43e12a6445bbac07c2fc26984c71d0de3f99c9c" },
    { "/rand3m", "e678aa05e61a8fe6e9c830aae68bb0ef2273c182f696f11976e11e72187e0fc1" },
    { "/script.sh", "299001868fb8c02fd431c336c6d058f5558c5dff5b5af5e6fe04b870a6a9cbba" },
    { "/suid-bin", "4db550991193f92efeb3a27dfa6e957a3696963338bfe889a202fb242634c877" },
    { "/with space.txt", "ef74fb330de9985464940157c134286c71a252a4f5f469424524e4e16138d373" },
};

typedef struct content_ctx {
    int files, bad, chunks;
} content_ctx;

static int content_cb(const flist_entry *e, void *ud)
{
    content_ctx *c = ud;
    if (e->inode->type != FLIST_FILE)
        return 0;
    c->files++;
    const char *want = NULL;
    for (size_t i = 0; i < sizeof sample_files / sizeof sample_files[0]; i++)
        if (strcmp(sample_files[i].path, e->path) == 0)
            want = sample_files[i].sha;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    uint8_t *plain = malloc(FLIST_CHUNK_SIZE);
    uint64_t total = 0;
    for (size_t i = 0; i < e->inode->nblocks; i++) {
        char hex[33], name[64];
        hub_hex(e->inode->blocks[i].id, 16, hex);
        snprintf(name, sizeof name, "chunks/%s", hex);
        size_t clen;
        char *cipher = t_slurp(t_data(name), &clen);
        size_t plen = 0;
        hub_err err = { 0 };
        if (!cipher || chunk_decrypt((uint8_t *)cipher, clen, e->inode->blocks[i].id,
                                     e->inode->blocks[i].key, plain, FLIST_CHUNK_SIZE,
                                     &plen, &err) < 0) {
            fprintf(stderr, "%s chunk %zu: %s\n", e->path, i, cipher ? err.msg : "missing");
            c->bad++;
        } else {
            EVP_DigestUpdate(md, plain, plen);
            total += plen;
        }
        free(cipher);
        c->chunks++;
    }
    uint8_t digest[32];
    char hex[65];
    EVP_DigestFinal_ex(md, digest, NULL);
    EVP_MD_CTX_free(md);
    free(plain);
    hub_hex(digest, 32, hex);
    if (!want || strcmp(hex, want) != 0 || total != e->inode->size) {
        fprintf(stderr, "%s: sha256 %s, want %s\n", e->path, hex, want ? want : "(unknown)");
        c->bad++;
    }
    return 0;
}

static void test_content(void)
{
    flist *f = t_open_data("sample.flist");
    T_REQUIRE(f);
    content_ctx c = { 0, 0, 0 };
    hub_err err;
    T_CHECK(flist_walk(f, "/", content_cb, &c, &err) == 0);
    T_CHECK(c.files == 17);
    T_CHECK(c.chunks == 24);
    T_CHECK(c.bad == 0);
    int rc;
    json_t *ch = flist_json_chunks(f, &rc, &err);
    T_REQUIRE(ch);
    T_CHECK(json_array_size(json_object_get(ch, "content")) == 24);
    T_STREQ(json_string_value(json_array_get(json_object_get(ch, "content"), 0)),
            "88fa01b50c46c4da94a1d7e4cb548228");
    json_decref(ch);
    flist_close(f);
}

/* The walk of a subdirectory, and stopping a walk from the callback. */
static int stop_cb(const flist_entry *e, void *ud)
{
    int *n = ud;
    return ++*n == 3 ? 42 : 0;
}

static void test_walk_sub(void)
{
    flist *f = t_open_data("sample.flist");
    T_REQUIRE(f);
    int rc;
    hub_err err;
    T_DUMP_EQ(flist_json_find(f, "/a/b", 3, &rc, &err),
              "{\"success\": true, \"error\": null, \"response\": {\"content\": ["
              "{\"size\": 4096, \"path\": \"/a/b/c\"}, {\"size\": 5, \"path\": \"/a/b/c/deep.txt\"}, "
              "{\"size\": 18, \"path\": \"/a/b/c/link-up\"}, {\"size\": 10, \"path\": \"/a/b/b.txt\"}], "
              "\"regular\": 2, \"symlink\": 1, \"directory\": 1, \"special\": 0, "
              "\"failure\": 3, \"fullsize\": 15}}\n");
    int n = 0;
    T_CHECK(flist_walk(f, "/", stop_cb, &n, &err) == 42);
    T_CHECK(n == 3);
    T_CHECK(flist_walk(f, "/nope", stop_cb, &n, &err) == FLIST_ENOENT);
    flist_close(f);
}

/* Plain tar and bare SQLite open like the gzip'd .flist. */
static void test_containers(void)
{
    size_t len;
    char *gz = t_slurp(t_data("sample.flist"), &len);
    T_REQUIRE(gz);
    /* gunzip -> plain tar */
    size_t cap = 1 << 20;
    uint8_t *tar = malloc(cap);
    z_stream zs = { 0 };
    T_REQUIRE(inflateInit2(&zs, 15 + 16) == Z_OK);
    zs.next_in = (Bytef *)gz;
    zs.avail_in = (uInt)len;
    zs.next_out = tar;
    zs.avail_out = (uInt)cap;
    T_CHECK(inflate(&zs, Z_FINISH) == Z_STREAM_END);
    size_t tar_len = zs.total_out;
    inflateEnd(&zs);
    T_CHECK(tar_len == 29696);  /* 512 + 512 + 28672, no end blocks (Q6) */

    hub_err err;
    flist *f = NULL;
    T_CHECK(flist_open_buffer(tar, tar_len, &f, &err) == 0);
    int rc;
    T_DUMP_EQ(f ? flist_json_find(f, "/", 0, &rc, &err) : NULL, line_of("sample.find.json", 0));
    flist_close(f);

    uint8_t *db = NULL;
    size_t db_len = 0;
    T_CHECK(flist_archive_unpack(gz, len, FLIST_MAX_DB_SIZE, &db, &db_len, &err) == 0);
    T_CHECK(db_len == 28672);
    T_CHECK(db && memcmp(db, tar + 1024, 28672) == 0);
    f = NULL;
    T_CHECK(flist_open_buffer(db, db_len, &f, &err) == 0);
    T_DUMP_EQ(f ? flist_json_find(f, "/", 0, &rc, &err) : NULL, line_of("sample.find.json", 0));
    flist_close(f);
    /* the limit is enforced */
    uint8_t *db2 = NULL;
    T_CHECK(flist_archive_unpack(gz, len, 28671, &db2, &db_len, &err) < 0 && db2 == NULL);
    T_STREQ(err.msg, "flistdb.sqlite3 is 28672 bytes, more than the limit "
                     "of 28671 bytes");
    T_CHECK(flist_archive_unpack(gz, len, 28672, &db2, &db_len, &err) == 0);
    free(db2);
    free(db);
    free(tar);
    free(gz);
}

/* Save with changed metadata, re-open, list with GNU tar. */
static void test_save(void)
{
    char dir[] = "/tmp/test_reader.XXXXXX";
    T_REQUIRE(mkdtemp(dir));
    char out[256];
    snprintf(out, sizeof out, "%s/saved.flist", dir);

    flist *f = t_open_data("sample.flist");
    T_REQUIRE(f);
    hub_err err = { 0 };
    const char *be = "{\"namespace\": \"hub\", \"host\": \"zdb.example\", \"port\": 9900}";
    T_CHECK(flist_meta_set(f, "backend", be, &err) == 0);
    T_CHECK(flist_meta_set(f, "hello", NULL, &err) == 0);
    T_CHECK(flist_meta_set(f, "zz-new", "42", &err) == 0);
    T_CHECK(flist_save(f, out, &err) == 0);
    flist_close(f);

    struct stat st;
    T_CHECK(stat(out, &st) == 0 && (st.st_mode & 0777) == 0644);
    size_t len;
    uint8_t *bytes = (uint8_t *)t_slurp(out, &len);
    T_REQUIRE(bytes);
    static const uint8_t gzhead[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
    T_CHECK(len > 10 && memcmp(bytes, gzhead, 10) == 0);

    f = NULL;
    T_CHECK(flist_open(out, &f, &err) == 0);
    T_REQUIRE(f);
    int rc;
    T_DUMP_EQ(flist_json_metadata(f, NULL, &rc, &err),
              "{\"success\": true, \"error\": null, \"response\": [\"backend\", "
              "\"entrypoint\", \"environ\", \"port\", \"readme\", \"volume\", \"zz-new\"]}\n");
    T_DUMP_EQ(flist_json_metadata(f, "backend", &rc, &err),
              "{\"success\": true, \"error\": null, \"response\": {\"metadata\": \"backend\", "
              "\"value\": {\"namespace\": \"hub\", \"host\": \"zdb.example\", \"port\": 9900}}}\n");
    T_DUMP_EQ(flist_json_metadata(f, "zz-new", &rc, &err),
              "{\"success\": true, \"error\": null, \"response\": {\"metadata\": \"zz-new\", "
              "\"value\": \"42\"}}\n");
    T_DUMP_EQ(flist_json_find(f, "/", 0, &rc, &err), line_of("sample.find.json", 0));

    /* saving again gives the same bytes (deterministic archive) */
    char out2[300];
    snprintf(out2, sizeof out2, "%s/again.flist", dir);
    T_CHECK(flist_save(f, out2, &err) == 0);
    size_t len2;
    char *bytes2 = t_slurp(out2, &len2);
    T_CHECK(bytes2 && len2 == len && memcmp(bytes, bytes2, len) == 0);
    free(bytes2);
    unlink(out2);
    flist_close(f);
    free(bytes);

    /* GNU tar reads it: the two members, and no error */
    char cmd[400];
    snprintf(cmd, sizeof cmd, "tar -tzvf '%s' 2>&1", out);
    FILE *p = popen(cmd, "r");
    T_REQUIRE(p);
    char line[512];
    int n = 0, dir_ok = 0, db_ok = 0;
    while (fgets(line, sizeof line, p)) {
        n++;
        size_t l = strlen(line);
        if (l && line[l - 1] == '\n')
            line[--l] = '\0';
        if (l >= 3 && line[0] == 'd' && strcmp(line + l - 3, " ./") == 0)
            dir_ok = 1;
        if (l >= 18 && line[0] == '-' && strcmp(line + l - 18, " ./flistdb.sqlite3") == 0)
            db_ok = 1;
    }
    T_CHECK(pclose(p) == 0);
    T_CHECK(n == 2 && dir_ok && db_ok);

    /* the directory holds only the saved file: no temporary left */
    DIR *d = opendir(dir);
    struct dirent *de;
    int files = 0;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            files++;
    closedir(d);
    T_CHECK(files == 1);

    /* hub_write_atomic replaces atomically */
    T_CHECK(hub_write_atomic(out, "abc", 3, &err) == 0);
    char *back = t_slurp(out, &len);
    T_CHECK(back && len == 3 && memcmp(back, "abc", 3) == 0);
    free(back);
    char bad[300];
    snprintf(bad, sizeof bad, "%s/missing-dir/x.flist", dir);
    T_CHECK(hub_write_atomic(bad, "abc", 3, &err) < 0);
    /* names the file, never the server's path (messages reach hub users) */
    T_STREQ(err.msg, "x.flist: cannot create a temporary file: No such file or directory");
    unlink(out);
    rmdir(dir);
}

/* Many flists opened and read concurrently from several threads. */
typedef struct thread_arg {
    const char *want;
    long bad;
} thread_arg;

static void *thread_main(void *ud)
{
    thread_arg *arg = ud;
    for (int i = 0; i < 15; i++) {
        flist *f = NULL;
        hub_err err;
        if (flist_open(t_data_path(i % 3 ? "sample.flist" : "bigdir.flist"), &f, &err) < 0) {
            arg->bad++;
            continue;
        }
        int rc;
        json_t *v = flist_json_find(f, "/", 0, &rc, &err);
        if (i % 3) {
            char *got = dump(v);
            if (strcmp(got, arg->want) != 0)
                arg->bad++;
            free(got);
        } else {
            if (!v || json_array_size(json_object_get(v, "content")) != 301)
                arg->bad++;
            json_decref(v);
        }
        flist_close(f);
    }
    return NULL;
}

static void test_threads(void)
{
    const char *line = line_of("sample.find.json", 0);
    T_REQUIRE(line);
    char *want = strdup(line);
    pthread_t th[4];
    thread_arg args[4];
    int started = 0;
    for (int i = 0; i < 4; i++) {
        args[i] = (thread_arg){ want, 0 };
        if (pthread_create(&th[i], NULL, thread_main, &args[i]) == 0)
            started++;
        else
            break;
    }
    T_CHECK(started == 4);
    for (int i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        T_CHECK(args[i].bad == 0);
    }
    free(want);
}

T_MAIN(T_CASE(test_find_all), T_CASE(test_empty), T_CASE(test_ls), T_CASE(test_stat),
       T_CASE(test_metadata), T_CASE(test_bigdir), T_CASE(test_lookup), T_CASE(test_type_words),
       T_CASE(test_content), T_CASE(test_walk_sub), T_CASE(test_containers), T_CASE(test_save),
       T_CASE(test_threads))
