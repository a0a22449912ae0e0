/* flist.c - opening an flist and reading its database: format detection,
 * the in-memory SQLite connection, Dir and ACI rows (with an ACI cache),
 * metadata, and saving back to an .flist (FLIST-FORMAT.md §1, §2, §3.1, §7).
 *
 * The database never touches the disk: the bytes are handed to SQLite with
 * sqlite3_deserialize, temporary storage and the rollback journal are kept in
 * memory. The connection is hardened against hostile databases (defensive
 * mode, no triggers, no views, untrusted schema).
 *
 * Threads: each flist owns its own connection, opened with
 * SQLITE_OPEN_NOMUTEX. Any number of flists may be used concurrently from
 * different threads, but one flist handle must be used by one thread at a
 * time (flist_acl_get fills a cache without locking).
 */
#include "flist.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flist_keys.h"
#include "flist_schema.h"
#include "hmap.h"

#define SQLITE_MAGIC "SQLite format 3"   /* 16 bytes with the NUL */
#define FLIST_READ_MAX (1024 * 1024)     /* files up to this size are read, not mapped */

/* One cached ACI lookup; acl_ok == 0 caches a missing or corrupt row. */
typedef struct acl_slot {
    int acl_ok;
    flist_acl acl;
    char key[];               /* the table's key */
} acl_slot;

struct flist {
    sqlite3 *db;
    uint64_t db_size;         /* bytes of the database in memory */
    sqlite3_stmt *st_entry;   /* SELECT value FROM entries WHERE key = ?1 */
    int has_metadata;         /* the metadata table exists */
    hmap acl_cache;           /* ACI key -> acl_slot (zeroed: string keys) */
};

/* ------------------------------------------------------------------ */
/* Opening                                                              */
/* ------------------------------------------------------------------ */

static _Atomic uint64_t g_max_db = FLIST_MAX_DB_SIZE;

void flist_set_max_db_size(uint64_t bytes)
{
    atomic_store(&g_max_db, bytes ? bytes : FLIST_MAX_DB_SIZE);
}

uint64_t flist_max_db_size(void)
{
    return atomic_load(&g_max_db);
}

uint64_t flist_db_size(const flist *f)
{
    return f->db_size;
}

static int is_gzip(const uint8_t *d, size_t len)
{
    return len >= 2 && d[0] == 0x1f && d[1] == 0x8b;
}

static int is_tar(const uint8_t *d, size_t len)
{
    return len >= 262 && memcmp(d + 257, "ustar", 5) == 0;
}

static int is_sqlite(const uint8_t *d, size_t len)
{
    return len >= 16 && memcmp(d, SQLITE_MAGIC, 16) == 0;
}

/* Returns 1 when table `name` exists as a real table, 0 when not, -1 on a
 * database error. */
static int table_exists(sqlite3 *db, const char *name, hub_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT type FROM sqlite_schema WHERE name = ?1", -1,
                           &st, NULL) != SQLITE_OK)
        return hub_err_set(err, "not an flist: unreadable SQLite database (%s)",
                           sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int found = 0, r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *type = sqlite3_column_text(st, 0);
        if (type && strcmp((const char *)type, "table") == 0)
            found = 1;
    }
    if (r != SQLITE_DONE) {
        hub_err_set(err, "not an flist: unreadable SQLite database (%s)", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return found;
}

/* Turns SQLite's memory statistics off, once per process, before SQLite
 * initialises itself: with them on, every sqlite3_malloc/free takes one
 * process-wide mutex, and threads opening flists at the same time queue on
 * it (futex waits). No hub code reads sqlite3_memory_used & co. When SQLite
 * is already initialised (another component opened a database first) the
 * call is refused and nothing changes. */
static void sqlite_tune(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static pthread_once_t sqlite_tune_once = PTHREAD_ONCE_INIT;

/* Opens the connection on `buf` (sqlite3_malloc'ed; always consumed). */
static int open_db(flist *f, uint8_t *buf, size_t len, hub_err *err)
{
    /* The memdb VFS cannot read WAL: a committed WAL-mode file is read as a
     * rollback-journal file (the WAL itself is not part of an .flist). */
    if (len >= 20 && buf[18] == 2 && buf[19] == 2)
        buf[18] = buf[19] = 1;

    int r = sqlite3_open_v2(":memory:", &f->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_MEMORY | SQLITE_OPEN_NOMUTEX, NULL);
    if (r != SQLITE_OK) {
        sqlite3_free(buf);
        return hub_err_set(err, "cannot open an in-memory SQLite database: %s",
                           f->db ? sqlite3_errmsg(f->db) : sqlite3_errstr(r));
    }
    sqlite3_db_config(f->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(f->db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);
    sqlite3_db_config(f->db, SQLITE_DBCONFIG_ENABLE_VIEW, 0, NULL);
    sqlite3_db_config(f->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    r = sqlite3_deserialize(f->db, "main", buf, (sqlite3_int64)len, (sqlite3_int64)len,
                            SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE);
    if (r != SQLITE_OK)
        return hub_err_set(err, "not an flist: unreadable SQLite database (%s)",
                           sqlite3_errmsg(f->db));
    if (sqlite3_exec(f->db, "PRAGMA temp_store = MEMORY; PRAGMA main.journal_mode = MEMORY",
                     NULL, NULL, NULL) != SQLITE_OK)
        return hub_err_set(err, "not an flist: unreadable SQLite database (%s)",
                           sqlite3_errmsg(f->db));

    int has = table_exists(f->db, "entries", err);
    if (has < 0)
        return -1;
    if (!has)
        return hub_err_set(err, "not an flist: the database has no entries table");
    has = table_exists(f->db, "metadata", err);
    if (has < 0)
        return -1;
    f->has_metadata = has;

    if (sqlite3_prepare_v3(f->db, "SELECT value FROM entries WHERE key = ?1", -1,
                           SQLITE_PREPARE_PERSISTENT, &f->st_entry, NULL) != SQLITE_OK)
        return hub_err_set(err, "not an flist: unreadable entries table (%s)",
                           sqlite3_errmsg(f->db));

    flist_dir *root = NULL;
    r = flist_dir_load_key(f, FLIST_ROOT_KEY, &root, err);
    flist_dir_free(root);
    if (r == FLIST_ENOENT)
        return hub_err_set(err, "not an flist: the database has no root directory");
    if (r < 0)
        return hub_err_prefix(err, "not an flist");
    return 0;
}

int flist_open_buffer(const void *data, size_t len, flist **out, hub_err *err)
{
    const uint8_t *d = data;
    uint8_t *buf = NULL;  /* sqlite3_malloc'ed copy handed to SQLite */

    *out = NULL;
    if (len == 0)
        return hub_err_set(err, "not an flist: the file is empty");
    /* buf comes from sqlite3_malloc, which initialises SQLite: tune it
     * first */
    pthread_once(&sqlite_tune_once, sqlite_tune);
    uint64_t max = flist_max_db_size();
    if (is_gzip(d, len) || is_tar(d, len)) {
        /* unpacked straight into SQLite's allocator: no copy */
        size_t raw_len = 0;
        if (flist_archive_unpack_sqlite(d, len, max, &buf, &raw_len, err) < 0)
            return -1;
        len = raw_len;
        if (!is_sqlite(buf, len)) {
            sqlite3_free(buf);
            return hub_err_set(err, "not an flist: flistdb.sqlite3 is not an SQLite database");
        }
    } else if (!is_sqlite(d, len)) {
        return hub_err_set(err, "not an flist: not a gzip or tar archive or SQLite database");
    }
    if (len > max) {
        sqlite3_free(buf);
        return hub_err_setc(err, HUB_E_TOO_LARGE, "the database is larger than the limit of %llu bytes",
                            (unsigned long long)max);
    }

    if (!buf) {
        /* SQLite frees the buffer itself, so it must come from sqlite3_malloc. */
        buf = sqlite3_malloc64(len);
        if (!buf)
            return hub_err_set(err, "out of memory loading a %zu-byte database", len);
        memcpy(buf, d, len);
    }

    flist *f = calloc(1, sizeof *f);
    if (!f) {
        sqlite3_free(buf);
        return hub_err_set(err, "out of memory");
    }
    hmap_init(&f->acl_cache, 0);
    f->db_size = len;
    if (open_db(f, buf, len, err) < 0) {
        flist_close(f);
        return -1;
    }
    *out = f;
    return 0;
}

int flist_open(const char *path, flist **out, hub_err *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return hub_err_set(err, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return hub_err_set(err, "cannot stat %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return hub_err_set(err, "cannot open %s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return flist_open_buffer("", 0, out, err);
    }
    if (st.st_size <= FLIST_READ_MAX) {
        /* Small files (all usual .flists) are read: a mapping costs more
         * than the copy (mmap, page faults, and a TLB shootdown across the
         * process's threads at munmap). */
        size_t size = (size_t)st.st_size, got = 0;
        uint8_t *data = malloc(size);
        if (!data) {
            close(fd);
            return hub_err_set(err, "out of memory reading %s", path);
        }
        while (got < size) {
            ssize_t n = read(fd, data + got, size - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                int e = n < 0 ? errno : 0;
                free(data);
                close(fd);
                if (e)
                    return hub_err_set(err, "cannot read %s: %s", path, strerror(e));
                return hub_err_set(err, "cannot read %s: the file shrank while being read", path);
            }
            got += (size_t)n;
        }
        close(fd);
        int rc = flist_open_buffer(data, size, out, err);
        free(data);
        return rc;
    }
    /* Large files are mapped, not read: the page cache holds the compressed
     * bytes. Files are published by rename, so the mapping is never
     * truncated under us. */
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return hub_err_set(err, "cannot read %s: %s", path, strerror(e));
    int rc = flist_open_buffer(map, (size_t)st.st_size, out, err);
    munmap(map, (size_t)st.st_size);
    return rc;
}

static void acl_cache_free(flist *f)
{
    size_t pos = 0;
    void *v;
    while (hmap_next(&f->acl_cache, &pos, NULL, &v)) {
        acl_slot *s = v;
        if (s->acl_ok)
            flist_acl_clear(&s->acl);
        free(s);
    }
    hmap_free(&f->acl_cache);
}

void flist_close(flist *f)
{
    if (!f)
        return;
    sqlite3_finalize(f->st_entry);
    sqlite3_close(f->db);
    acl_cache_free(f);
    free(f);
}

/* ------------------------------------------------------------------ */
/* Rows                                                                 */
/* ------------------------------------------------------------------ */

/* Runs the entry statement for `key`. On SQLITE_ROW the caller reads column
 * 0 and must reset. Returns 0 (row), FLIST_ENOENT, -1. */
static int entry_query(flist *f, const char *key, hub_err *err)
{
    sqlite3_reset(f->st_entry);
    if (sqlite3_bind_text(f->st_entry, 1, key, -1, SQLITE_TRANSIENT) != SQLITE_OK)
        return hub_err_set(err, "sqlite: %s", sqlite3_errmsg(f->db));
    int r = sqlite3_step(f->st_entry);
    if (r == SQLITE_ROW)
        return 0;
    sqlite3_reset(f->st_entry);
    if (r == SQLITE_DONE)
        return FLIST_ENOENT;
    return hub_err_set(err, "corrupt database: %s", sqlite3_errmsg(f->db));
}

int flist_dir_load_key(flist *f, const char *key, flist_dir **out, hub_err *err)
{
    *out = NULL;
    int r = entry_query(f, key, err);
    if (r == FLIST_ENOENT) {
        hub_err_set(err, "no directory with key %s", key);
        return FLIST_ENOENT;
    }
    if (r < 0)
        return -1;
    const void *blob = sqlite3_column_blob(f->st_entry, 0);
    size_t len = (size_t)sqlite3_column_bytes(f->st_entry, 0);
    r = flist_dir_decode(blob ? blob : "", len, out, err);
    sqlite3_reset(f->st_entry);
    if (r < 0) {
        *out = NULL;
        return hub_err_prefix(err, "directory %s is corrupt", key);
    }
    return 0;
}

/* The trimmed path (flist_path_trim) as a new string; NULL when out of
 * memory. */
static char *clean_path(const char *path)
{
    size_t n;
    const char *p = flist_path_trim(path, &n);
    return strndup(p, n);
}

/* Finds directory `path` (cleaned, non-empty) by following SubDir.key from
 * the root, for flists whose rows are not at the path keys. */
static int dir_load_by_subdir(flist *f, const char *path, flist_dir **out, hub_err *err)
{
    flist_dir *cur = NULL;
    int r = flist_dir_load_key(f, FLIST_ROOT_KEY, &cur, err);
    if (r != 0)
        return r;
    const char *p = path;
    for (int depth = 0;; depth++) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        const flist_inode *hit = NULL;
        for (size_t i = 0; i < cur->nentries && !hit; i++) {
            const flist_inode *ino = &cur->entries[i];
            if (ino->type == FLIST_DIR && ino->name && ino->dirkey &&
                strlen(ino->name) == n && memcmp(ino->name, p, n) == 0)
                hit = ino;
        }
        if (!hit || depth >= 4096) {
            flist_dir_free(cur);
            hub_err_set(err, "no such directory: /%s", path);
            return FLIST_ENOENT;
        }
        flist_dir *next = NULL;
        r = flist_dir_load_key(f, hit->dirkey, &next, err);
        flist_dir_free(cur);
        if (r != 0) {
            if (r == FLIST_ENOENT)
                hub_err_set(err, "no such directory: /%s", path);
            return r;
        }
        cur = next;
        if (!slash)
            break;
        p = slash + 1;
    }
    *out = cur;
    return 0;
}

int flist_dir_load(flist *f, const char *path, flist_dir **out, hub_err *err)
{
    *out = NULL;
    char *clean = clean_path(path);
    if (!clean)
        return hub_err_set(err, "out of memory");
    char key[FLIST_DIRKEY_LEN + 1];
    flist_path_key(clean, key);
    int r = flist_dir_load_key(f, key, out, err);
    if (r == FLIST_ENOENT) {
        if (clean[0])
            r = dir_load_by_subdir(f, clean, out, err);
        else
            hub_err_set(err, "no root directory");
    }
    free(clean);
    return r;
}

const flist_acl *flist_acl_get(flist *f, const char *aclkey)
{
    if (!f || !aclkey)
        return NULL;
    acl_slot *s = hmap_get(&f->acl_cache, aclkey);
    if (s)
        return s->acl_ok ? &s->acl : NULL;

    size_t len = strlen(aclkey);
    s = calloc(1, sizeof *s + len + 1);
    if (!s)
        return NULL;
    memcpy(s->key, aclkey, len + 1);
    hub_err ignored;
    if (entry_query(f, aclkey, &ignored) == 0) {
        const void *blob = sqlite3_column_blob(f->st_entry, 0);
        size_t blen = (size_t)sqlite3_column_bytes(f->st_entry, 0);
        if (flist_acl_decode(blob ? blob : "", blen, &s->acl, &ignored) == 0)
            s->acl_ok = 1;
        else
            memset(&s->acl, 0, sizeof s->acl);
        sqlite3_reset(f->st_entry);
    }
    if (hmap_put(&f->acl_cache, s->key, s) != 0) {
        if (s->acl_ok)
            flist_acl_clear(&s->acl);
        free(s);
        return NULL;
    }
    return s->acl_ok ? &s->acl : NULL;
}

/* ------------------------------------------------------------------ */
/* Metadata                                                             */
/* ------------------------------------------------------------------ */

int flist_meta_get(flist *f, const char *name, char **value, hub_err *err)
{
    *value = NULL;
    if (!f->has_metadata) {
        hub_err_set(err, "no metadata named %s", name);
        return FLIST_ENOENT;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(f->db, "SELECT value FROM metadata WHERE key = ?1", -1, &st, NULL)
        != SQLITE_OK)
        return hub_err_set(err, "metadata: %s", sqlite3_errmsg(f->db));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int r = sqlite3_step(st), rc;
    if (r == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        *value = strdup(v ? v : "");
        rc = *value ? 0 : hub_err_set(err, "out of memory");
    } else if (r == SQLITE_DONE) {
        hub_err_set(err, "no metadata named %s", name);
        rc = FLIST_ENOENT;
    } else {
        rc = hub_err_set(err, "metadata: %s", sqlite3_errmsg(f->db));
    }
    sqlite3_finalize(st);
    return rc;
}

void flist_strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int flist_meta_names(flist *f, char ***names, size_t *n, hub_err *err)
{
    *names = NULL;
    *n = 0;
    if (!f->has_metadata)
        return 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(f->db, "SELECT key FROM metadata WHERE key IS NOT NULL "
                           "ORDER BY CAST(key AS BLOB)", -1, &st, NULL) != SQLITE_OK)
        return hub_err_set(err, "metadata: %s", sqlite3_errmsg(f->db));
    char **v = NULL;
    size_t count = 0, cap = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **nv = realloc(v, ncap * sizeof *nv);
            if (!nv)
                goto oom;
            v = nv;
            cap = ncap;
        }
        if (!(v[count] = strdup(k ? k : "")))
            goto oom;
        count++;
    }
    if (r != SQLITE_DONE) {
        hub_err_set(err, "metadata: %s", sqlite3_errmsg(f->db));
        sqlite3_finalize(st);
        flist_strv_free(v, count);
        return -1;
    }
    sqlite3_finalize(st);
    *names = v;
    *n = count;
    return 0;
oom:
    sqlite3_finalize(st);
    flist_strv_free(v, count);
    return hub_err_set(err, "out of memory");
}

int flist_meta_set(flist *f, const char *name, const char *value, hub_err *err)
{
    if (!f->has_metadata) {
        if (!value)
            return 0;
        if (sqlite3_exec(f->db, "CREATE TABLE IF NOT EXISTS metadata "
                         "(key VARCHAR(64) PRIMARY KEY, value TEXT)", NULL, NULL, NULL) != SQLITE_OK)
            return hub_err_set(err, "metadata: %s", sqlite3_errmsg(f->db));
        f->has_metadata = 1;
    }
    const char *sql = value ? "REPLACE INTO metadata (key, value) VALUES (?1, ?2)"
                            : "DELETE FROM metadata WHERE key = ?1";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(f->db, sql, -1, &st, NULL) != SQLITE_OK)
        return hub_err_set(err, "metadata %s: %s", name, sqlite3_errmsg(f->db));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (value)
        sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    sqlite3_finalize(st);
    if (r != SQLITE_DONE)
        return hub_err_set(err, "metadata %s: %s", name, sqlite3_errmsg(f->db));
    return 0;
}

/* ------------------------------------------------------------------ */
/* Saving                                                               */
/* ------------------------------------------------------------------ */

int flist_save(flist *f, const char *path, hub_err *err)
{
    sqlite3_int64 size = 0;
    unsigned char *bytes = sqlite3_serialize(f->db, "main", &size, 0);
    if (!bytes)
        return hub_err_set(err, "cannot serialize the database: %s", sqlite3_errmsg(f->db));
    int rc = flist_archive_pack(bytes, (size_t)size, path, err);
    sqlite3_free(bytes);
    return rc;
}
