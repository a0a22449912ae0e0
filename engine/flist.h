/* flist.h - the flist engine: open and read an flist, build one, merge,
 * check and fetch contents. FLIST-FORMAT.md is the format; this is the API
 * the `flist` command, the api and the worker share.
 *
 * Return convention: 0 success, -1 error (err set), FLIST_ENOENT (-2) when a
 * path or metadata name does not exist (err set too).
 */
#ifndef FLIST_H
#define FLIST_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "flist_model.h"
#include "hub_err.h"

#define FLIST_ENOENT (-2)

/* ------------------------------------------------------------------ */
/* Reading (flist.c, flist_walk.c)                                     */
/* ------------------------------------------------------------------ */

typedef struct flist flist;

/* Largest flistdb.sqlite3 flist_open accepts by default (a decompression-
 * bomb guard: a 0.9 MB .flist can hold a 900 MB database of zero padding);
 * the hub sets its own bound, flist-max-size. */
#define FLIST_MAX_DB_SIZE (1024ull * 1024 * 1024)

/* Sets the bound of every later flist_open in this process (0: back to
 * FLIST_MAX_DB_SIZE). Call before threads open flists. */
void flist_set_max_db_size(uint64_t bytes);

/* The bound in force. */
uint64_t flist_max_db_size(void);

/* Most chunk threads a writer runs (opts.threads above it is refused by
 * the configuration, worker-threads). */
#define FLIST_WRITER_MAX_THREADS 32

/* Opens an .flist: gzip'd tar or plain tar holding flistdb.sqlite3 (any
 * member path ending in "flistdb.sqlite3"), or a bare SQLite database. The
 * database is loaded into memory; the file is not kept open. Refuses files
 * that are not one of these, archives without the database, databases
 * without the entries table or root directory. Returns 0 or -1. */
int flist_open(const char *path, flist **out, hub_err *err);

/* The same from a buffer (copied). */
int flist_open_buffer(const void *data, size_t len, flist **out, hub_err *err);

/* Closes and frees. NULL ok. */
void flist_close(flist *f);

/* Bytes of f's database in memory (what it expanded to). */
uint64_t flist_db_size(const flist *f);

/* Loads the Dir row of a directory path ("/", "", "/a/b", "a/b/" all work:
 * one leading and one trailing '/' are removed, as libflist does). Returns
 * 0, FLIST_ENOENT, or -1 (corrupt row). *out: free with flist_dir_free. */
int flist_dir_load(flist *f, const char *path, flist_dir **out, hub_err *err);

/* Loads a Dir row by its key. Same returns. */
int flist_dir_load_key(flist *f, const char *key, flist_dir **out, hub_err *err);

/* Resolves an ACI key. Returns a pointer owned by f (cached; valid until
 * flist_close), or NULL when the row is missing or corrupt. */
const flist_acl *flist_acl_get(flist *f, const char *aclkey);

/* One entry seen by a walk. Everything is valid during the callback only. */
typedef struct flist_entry {
    const char *path;         /* "/a/b.txt" */
    const flist_inode *inode; /* the Inode in its parent's contents */
    const flist_acl *acl;     /* never NULL: a missing ACI reads as
                                 uname/gname "", mode 0, uid/gid -1 */
    int depth;                /* 1 for entries of the root */
} flist_entry;

/* Return non-zero to stop the walk (that value is then returned). */
typedef int (*flist_entry_fn)(const flist_entry *e, void *ud);

/* Depth-first walk from directory `path` in stored contents order: an entry,
 * then (for directories) its contents, then its next sibling; the start
 * directory itself is not reported. Directories are loaded by path key (as
 * zflist does), falling back to SubDir.key. Loops and depth > 4096 are
 * refused as corruption. Returns 0, FLIST_ENOENT, -1, or the callback's
 * non-zero value. */
int flist_walk(flist *f, const char *path, flist_entry_fn fn, void *ud, hub_err *err);

/* Calls fn for each entry of directory `path` (one level). Same returns. */
int flist_list(flist *f, const char *path, flist_entry_fn fn, void *ud, hub_err *err);

/* Calls fn once for the entry at `path` (the first entry of that name, as
 * zflist does). "/" is FLIST_ENOENT, like zflist. Same returns. */
int flist_lookup(flist *f, const char *path, flist_entry_fn fn, void *ud, hub_err *err);

/* Metadata value of `name` (malloc'ed, caller frees). 0 / FLIST_ENOENT / -1. */
int flist_meta_get(flist *f, const char *name, char **value, hub_err *err);

/* All metadata names, sorted (malloc'ed array of malloc'ed strings; free
 * with flist_strv_free). */
int flist_meta_names(flist *f, char ***names, size_t *n, hub_err *err);
void flist_strv_free(char **v, size_t n);

/* Sets (value != NULL) or deletes (value == NULL) a metadata row of the
 * in-memory database; flist_save writes it out. */
int flist_meta_set(flist *f, const char *name, const char *value, hub_err *err);

/* Writes the in-memory database as an .flist at `path`, atomically
 * (temporary file in the same directory, fsync, rename). */
int flist_save(flist *f, const char *path, hub_err *err);

/* ------------------------------------------------------------------ */
/* The .flist container (flist_archive.c)                               */
/* ------------------------------------------------------------------ */

/* Extracts flistdb.sqlite3 from an .flist held in memory (gzip'd or plain
 * tar). *db is malloc'ed (caller frees). Refuses a database larger than
 * max_size. Returns 0 or -1. */
int flist_archive_unpack(const void *data, size_t len, size_t max_size,
                         uint8_t **db, size_t *db_len, hub_err *err);

/* Same as flist_archive_unpack, but *db comes from sqlite3_malloc64 (the
 * caller releases it with sqlite3_free, or hands it to SQLite), so that it
 * can be given to sqlite3_deserialize without another copy. */
int flist_archive_unpack_sqlite(const void *data, size_t len, size_t max_size,
                                uint8_t **db, size_t *db_len, hub_err *err);

/* Packs a database as gzip(tar("./", "./flistdb.sqlite3")) (FLIST-FORMAT.md
 * §1, with end-of-archive blocks) into `path` atomically: temporary
 * ".tmp-<random>" in the same directory, fsync, rename. */
int flist_archive_pack(const void *db, size_t db_len, const char *path, hub_err *err);

/* Atomic publish helper shared by everything that writes files: writes len
 * bytes to a temporary file beside path, fsyncs, renames. */
int hub_write_atomic(const char *path, const void *data, size_t len, hub_err *err);

/* ------------------------------------------------------------------ */
/* Building (flist_writer.c, flist_source_*.c)                          */
/* ------------------------------------------------------------------ */

/* Progress: done/total in bytes of file content (total 0 = unknown). */
typedef void (*flist_progress_fn)(void *ud, uint64_t done, uint64_t total);

/* Bounds of one build, so that a small hostile input cannot make a build
 * run without end (a 141-byte sparse tar declares 100 GB of zeros, a
 * 2.7 KB nested gzip expands to 1 GiB). 0 = no bound. A build past one
 * fails with HUB_E_TOO_LARGE and a message naming the limit. */
typedef struct flist_limits {
    uint64_t max_bytes;       /* file content (holes included), and what an
                                 archive decompresses to (its tar stream) */
    uint64_t max_entries;     /* entries added */
    uint32_t max_depth;       /* path components (FLIST_MAX_DEPTH at most) */
    uint64_t max_stored;      /* ciphertext bytes sent to the backend */
    const char *stored_why;   /* named in its refusal (a quota); may be NULL */
    int64_t started_ms;       /* util_mono_ms() when the job began ... */
    int64_t max_ms;           /* ... and how long it may run */
} flist_limits;

/* Deepest path a writer takes (the reader's limit). */
#define FLIST_MAX_DEPTH 4096

typedef struct flist_writer_opts {
    int threads;                  /* chunk threads; 0 = CPU count; 1 = inline */
    const backend_url *backend;   /* where chunks go; NULL = compute only */
    flist_progress_fn progress;   /* may be NULL */
    void *progress_ud;
    uint64_t total_hint;          /* bytes expected, for progress (0 unknown) */
    int keep_order;               /* 0: each directory sorted like zflist
                                     putdir (subdirectories first, then the
                                     rest, each by strcmp); 1: insertion
                                     order (merge appends like zflist) */
    flist_limits limits;
} flist_writer_opts;

/* What a build did. The four counters and fullsize are those of zflist's
 * putdir JSON (without its Q7 over-count). */
typedef struct flist_stats {
    uint64_t regular, symlink, directory, special;
    uint64_t fullsize;            /* bytes of regular files */
    uint64_t chunks;              /* chunk references */
    uint64_t chunks_unique;       /* distinct chunks of this build */
    uint64_t chunks_uploaded;     /* SET on the backend (missing there) */
    uint64_t bytes_uploaded;      /* ciphertext bytes sent */
} flist_stats;

/* One entry handed to the writer by a source. */
typedef struct flist_src_entry {
    const char *path;        /* cleaned (flist_path_clean): relative, no '.',
                                '..', empty components; "" = the root */
    flist_type type;
    uint32_t mode;           /* permission bits, 07777 */
    int64_t uid, gid;
    const char *uname;       /* NULL or "" -> decimal uid */
    const char *gname;       /* NULL or "" -> decimal gid */
    uint32_t mtime, ctime;   /* ctime 0 -> mtime */
    uint64_t size;           /* FLIST_FILE: content length */
    const char *link_target; /* FLIST_LINK: stored verbatim */
    const char *hardlink;    /* FLIST_FILE: cleaned path of an earlier entry
                                whose chunks, owner and mode this one shares
                                (one inode); no content */
    flist_special_type special;
    uint32_t dev_major, dev_minor;
    int keep_dev;            /* FLIST_SPECIAL: store "maj,min" whatever the
                                type (merging zflist-made flists, whose
                                devices are all labelled sockets, Q2) */
    /* FLIST_FILE content: a reader (returns bytes read, 0 at end, -1 on
     * error) or, when blocks != NULL, chunks already on the backend. */
    long (*read)(void *ctx, void *buf, size_t len);
    /* Optional, with read: the bytes (at most max) of zeros that come next
     * without being stored (holes of a sparse file), consumed; 0 when data
     * comes next. Spares the writer from reading and encrypting holes. */
    uint64_t (*skip_zeros)(void *ctx, uint64_t max);
    void *read_ctx;
    const flist_block *blocks;
    size_t nblocks;
} flist_src_entry;

typedef struct flist_writer flist_writer;

/* Starts a build: connects to the backend, starts the chunk threads.
 * Returns NULL with err set. */
flist_writer *flist_writer_new(const flist_writer_opts *opts, hub_err *err);

/* Adds one entry. Missing parent directories are created (root:root 0755).
 * A name added twice replaces the earlier entry (the archive's last wins),
 * except that a directory over a directory only updates its attributes.
 * A file named .README.md (or else .README) at the root also becomes the
 * `readme` metadata. Returns 0 or -1. */
int flist_writer_add(flist_writer *w, const flist_src_entry *e, hub_err *err);

/* Sets a metadata row (value stored as given). */
int flist_writer_meta(flist_writer *w, const char *name, const char *value, hub_err *err);

/* Reports whether metadata `name` was set (so callers can keep defaults). */
int flist_writer_has_meta(flist_writer *w, const char *name);

/* Waits for every chunk to be stored, writes the database and publishes
 * `output` atomically. Nothing is written at `output` on failure. Fills
 * *stats when not NULL. */
int flist_writer_finish(flist_writer *w, const char *output, flist_stats *stats, hub_err *err);

/* Ciphertext bytes the writer sent to the backend so far (also after a
 * failure: those chunks stay stored). */
uint64_t flist_writer_stored(flist_writer *w);

/* The limits the writer was made with (for its sources). */
const flist_limits *flist_writer_limits(const flist_writer *w);

/* Fails with HUB_E_TOO_LARGE when the build ran out of time (limits
 * started_ms + max_ms), recording it as the writer's failure; else 0.
 * Sources call it where they can spend long without adding entries. */
int flist_writer_check_time(flist_writer *w, hub_err *err);

/* OCI changesets (oci_apply.c). Every node the writer makes or touches
 * (entries added, directories walked through or re-declared) is stamped
 * with the current layer number (0 until set). Call before the layer's
 * entries. */
void flist_writer_set_layer(flist_writer *w, uint32_t layer);

/* OCI layer results (flist_layer_memo.h): the chunks of the files of layer
 * i+1 are remembered in directory dir under keys[i] (its digest salted
 * with the backend's identity: [0-9a-z_-], at most 128 bytes; NULL or ""
 * = not remembered) when the build finishes, and reused by a later build
 * given the same key instead of reading those files, once the backend
 * confirmed it holds every chunk. Without a backend it does nothing. Call
 * once, before the layers. Returns 0 or -1 with err. */
int flist_writer_layer_memo(flist_writer *w, const char *dir, const char *const *keys, size_t n,
                            hub_err *err);

/* What is at a cleaned path of the tree being built, without following
 * symlinks: 0 with *type (and *target, for a symlink; borrowed, valid
 * until the next add or whiteout; may be NULL), or FLIST_ENOENT (also when
 * a parent is not a directory). */
int flist_writer_stat(flist_writer *w, const char *path, flist_type *type,
                      const char **target);

/* A whiteout of the current layer at a cleaned path: removes the entry
 * there when a lower layer made it; when the current layer made or
 * touched it (a directory), removes what lower layers put inside it. With
 * `opaque`, `path` is a directory whose contents from lower layers go
 * (the directory itself stays). Nothing at path: nothing happens. Returns
 * 0 or -1 with err (the writer is unusable, or path is not clean). */
int flist_writer_whiteout(flist_writer *w, const char *path, int opaque, hub_err *err);

/* Frees a writer (finished or abandoned: then its temporary files go). */
void flist_writer_free(flist_writer *w);

/* Cleans an archive or directory path into the writer's form: drops leading
 * '/', "./" and empty components; resolves ".." inside the tree. Fails with
 * "entry <name> climbs above the root" when ".." goes above it. out has
 * room for strlen(in)+1 bytes. */
int flist_path_clean(const char *in, char *out, hub_err *err);

/* Feeds every entry of a tar archive (plain, gzip, zstd, xz, bzip2; via
 * libarchive, no extraction) to the writer. An escaping entry or hard link
 * refuses the whole archive, naming the entry. fd variant reads from an
 * open descriptor (not closed). */
int flist_source_tar(flist_writer *w, const char *path, hub_err *err);
int flist_source_tar_fd(flist_writer *w, int fd, hub_err *err);

/* Feeds a directory tree (not following symlinks; hard links detected). */
int flist_source_dir(flist_writer *w, const char *dir, hub_err *err);

/* ------------------------------------------------------------------ */
/* Merge, check, get (flist_merge.c, flist_check.c, flist_get.c)        */
/* ------------------------------------------------------------------ */

/* Merges flists in order into `output`: the first flist wins on a name
 * clash (a directory merges with a directory; any other clash keeps the
 * earlier entry, so no directory ever lists one name twice - Q10 fixed).
 * Metadata: for each name, the value of the first flist that has it.
 * Chunks are not copied: the sources must share a backend. */
int flist_merge(const char *output, flist *const *inputs, size_t n,
                flist_stats *stats, hub_err *err);

/* One file with missing chunks, for flist_check. */
typedef struct flist_missing {
    const char *path;
    size_t nmissing;
    const uint8_t (*ids)[16];
} flist_missing;

typedef void (*flist_missing_fn)(void *ud, const flist_missing *m);

/* Checks that every chunk of every regular file exists on the backend
 * (pipelined EXISTS). Calls on_missing for each file with a missing chunk;
 * *failures = number of such files (zflist's `failure`). Returns 0 when the
 * check ran (whatever it found), -1 when it could not run. */
int flist_check(flist *f, const backend_url *b, flist_missing_fn on_missing,
                void *ud, uint64_t *failures, flist_progress_fn progress,
                void *progress_ud, hub_err *err);

/* Fetches the file or tree at `path` into `dest`: a file becomes `dest`
 * (or `dest`/<its name> when dest is an existing directory),
 * a directory (or "/") has its contents written under `dest` (created when
 * missing). Never follows a symlink while writing; never writes outside
 * dest; modes, times (and owners when root) restored. Every chunk is
 * decrypted and verified. Returns 0 or -1 (a partial file is removed). */
int flist_get(flist *f, const backend_url *b, const char *path, const char *dest,
              flist_progress_fn progress, void *progress_ud, hub_err *err);

#endif
