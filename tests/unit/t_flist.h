/* t_flist.h - helpers shared by the unit tests of the flist engine
 * (test_reader.c, test_reader_bad.c, test_writer.c, test_merge.c,
 * test_chunk.c, test_capnp.c): hex literals, whole files and the database
 * inside an .flist, the reference flists and zflist outputs of tests/data,
 * JSON comparison, and a temporary directory that the test removes at the
 * end.
 *
 * Header-only like t.h (static inline, so a test that uses only some of
 * them compiles without warnings). Failures of setup helpers are returned
 * (NULL / -1) for the test to T_REQUIRE, never hidden.
 */
#ifndef T_FLIST_H
#define T_FLIST_H

#include <ftw.h>
#include <jansson.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flist.h"
#include "flist_keys.h"
#include "t.h"

/* ---------------------------------------------------------------- */
/* hex                                                               */
/* ---------------------------------------------------------------- */

/* Decodes a hex literal into a malloc'ed buffer of exactly *len bytes (so
 * ASan catches any read past its end). NULL on an odd length or a bad
 * digit. */
static inline uint8_t *t_from_hex(const char *hex, size_t *len)
{
    size_t n = strlen(hex);
    if (n % 2)
        return NULL;
    uint8_t *b = malloc(n / 2 ? n / 2 : 1);
    if (b && hub_unhex(hex, b, n / 2) != 0) {
        free(b);
        return NULL;
    }
    if (b)
        *len = n / 2;
    return b;
}

/* ---------------------------------------------------------------- */
/* files                                                             */
/* ---------------------------------------------------------------- */

/* Reads a whole file into a malloc'ed buffer with a NUL after its bytes;
 * *len (when len is not NULL) gets the size without the NUL. Returns NULL
 * when the file cannot be read (then *len is left alone). */
static inline char *t_slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = (size_t)n;
    }
    return buf;
}

/* The flistdb.sqlite3 inside the .flist file at path (flist_archive_unpack
 * with the reader's size limit): malloc'ed, *len its size. NULL when the
 * file cannot be read or unpacked. */
static inline uint8_t *t_flist_db(const char *path, size_t *len)
{
    size_t n = 0;
    char *archive = t_slurp(path, &n);
    uint8_t *db = NULL;
    hub_err err = { 0 };
    if (archive && flist_archive_unpack(archive, n, FLIST_MAX_DB_SIZE, &db, len, &err) != 0)
        db = NULL;
    free(archive);
    return db;
}

/* ---------------------------------------------------------------- */
/* tests/data                                                        */
/* ---------------------------------------------------------------- */

/* Opens a reference flist of tests/data; NULL (message on stderr) when it
 * does not open. Close with flist_close. */
static inline flist *t_open_data(const char *name)
{
    flist *f = NULL;
    hub_err err = { 0 };
    if (flist_open(t_data(name), &f, &err) != 0) {
        fprintf(stderr, "open %s: %s\n", name, err.msg);
        return NULL;
    }
    return f;
}

/* The "response" of each line of a zflist JSON output file of tests/data,
 * as a new array (lines that are not JSON are skipped). NULL when the file
 * cannot be opened. */
static inline json_t *t_load_responses(const char *name)
{
    FILE *fp = fopen(t_data(name), "r");
    if (!fp)
        return NULL;
    json_t *arr = json_array();
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, fp) > 0) {
        json_t *v = json_loads(line, 0, NULL);
        if (v)
            json_array_append(arr, json_object_get(v, "response"));
        json_decref(v);
    }
    free(line);
    fclose(fp);
    return arr;
}

/* Checks a == b as JSON (both must be non-NULL); prints both when not. */
#define T_JSON_EQ(a, b) do { json_t *ja_ = (a), *jb_ = (b); \
    if (!ja_ || !jb_ || !json_equal(ja_, jb_)) { \
        char *sa_ = ja_ ? json_dumps(ja_, 0) : NULL, *sb_ = jb_ ? json_dumps(jb_, 0) : NULL; \
        fprintf(stderr, "%s:%d: json differs:\n  got  %s\n  want %s\n", __FILE__, __LINE__, \
                sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)"); \
        free(sa_); free(sb_); t_failed_checks++; } } while (0)

/* Checks that metadata `name` of flist f exists and equals want exactly. */
#define T_META_EQ(f, name, want) do { char *t_v_ = NULL; hub_err t_e_ = { 0 }; \
    if (flist_meta_get((f), (name), &t_v_, &t_e_) != 0) { \
        fprintf(stderr, "%s:%d: metadata %s: %s\n", __FILE__, __LINE__, (name), t_e_.msg); \
        t_failed_checks++; } \
    T_STREQ(t_v_, (want)); free(t_v_); } while (0)

/* ---------------------------------------------------------------- */
/* tar headers                                                       */
/* ---------------------------------------------------------------- */

/* Fills a ustar header block: name (< 100 bytes), size, type ('0' file,
 * '1' hard link, '5' directory...), linkname (NULL for none), mode 0644,
 * owner 0:0, time 0, checksum computed. For hand-made hostile archives
 * that no tar writer would produce. */
static inline void t_ustar_header(uint8_t h[512], const char *name, uint64_t size, char type,
                                  const char *linkname)
{
    memset(h, 0, 512);
    snprintf((char *)h, 100, "%s", name);
    memcpy(h + 100, "0000644", 7);
    memcpy(h + 108, "0000000", 7);
    memcpy(h + 116, "0000000", 7);
    snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
    memcpy(h + 136, "00000000000", 11);
    h[156] = (uint8_t)type;
    if (linkname)
        snprintf((char *)h + 157, 100, "%s", linkname);
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
}

/* ---------------------------------------------------------------- */
/* temporary directory                                               */
/* ---------------------------------------------------------------- */

/* The test's temporary directory ("" until t_tmp_setup). */
static inline char *t_tmpdir(void)
{
    static char dir[256];
    return dir;
}

/* Creates $TMPDIR (or /tmp) /<name>.XXXXXX as the temporary directory.
 * Returns 0, or -1 (message on stderr). */
static inline int t_tmp_setup(const char *name)
{
    const char *base = getenv("TMPDIR");
    snprintf(t_tmpdir(), 256, "%s/%s.XXXXXX", base ? base : "/tmp", name);
    if (!mkdtemp(t_tmpdir())) {
        perror("mkdtemp");
        t_tmpdir()[0] = '\0';
        return -1;
    }
    return 0;
}

static inline int t_rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st; (void)flag; (void)f;
    return remove(p);
}

/* Removes the temporary directory and everything in it. Returns 0, or -1
 * when something could not be removed (or there was no directory). */
static inline int t_tmp_cleanup(void)
{
    if (!t_tmpdir()[0])
        return -1;
    int rc = nftw(t_tmpdir(), t_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    t_tmpdir()[0] = '\0';
    return rc == 0 ? 0 : -1;
}

/* <tmpdir>/<name> in one of four rotating static buffers (so a call can
 * take two or three of them). */
static inline const char *t_tmp_path(const char *name)
{
    static char buf[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", t_tmpdir(), name);
    return buf[i];
}

#endif
