/* reply_store.h - replies computed from flists (the contents listing, the
 * metadata object), kept on the shared volume so that every api replica
 * finds what a worker or any replica computed once.
 *
 * Why: answering GET /api/flist/<repo>/<name> from the flist itself means
 * inflating it, loading its database and walking the tree (~0.5 ms of CPU);
 * a hub with 100,000 flists cannot keep every reply in each replica's
 * memory. Workers write an flist's replies when they publish it, an api
 * writes them on the first read of an flist published by an older hub, and
 * any replica then answers a miss of its memory cache with one open() and
 * sendfile().
 *
 * Entries are keyed by the flist file's identity: inode, size and
 * modification time to the nanosecond. An flist replaced under its name (a
 * new upload, a rename over it) has a new identity and never gets an old
 * reply; links share their target's entries. The device number is left
 * out: each machine mounting a network volume sees its own.
 *
 * Layout: <dir>/<kind>/<ino % 256, 2 hex digits>/<ino>-<size>-<sec>.<nsec>
 * (decimal), each file a 16-byte header (magic "FHRS", version, body
 * length) and the body. Entries are written to a temporary name and
 * renamed, so a reader sees a whole entry or none; a torn entry (after a
 * crash) fails the length check and is rewritten. The size on disk is
 * bounded by reply_store_sweep, which removes the oldest entries first
 * (by mtime, to the minute; a hit refreshes an entry older than an hour,
 * so hot entries stay). It is derived data: the directory can be deleted at any time.
 *
 * Thread-safe: the handle only holds the directory path.
 */
#ifndef REPLY_STORE_H
#define REPLY_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "hub_err.h"

typedef struct reply_store reply_store;

/* The kinds of entries (the first path component). */
#define REPLY_KIND_CONTENTS "contents"
#define REPLY_KIND_METADATA "metadata"

/* A store in `dir` (created when missing, parents included) bounded to
 * max_bytes by reply_store_sweep. Returns the handle (free with
 * reply_store_close), or NULL with err. */
reply_store *reply_store_open(const char *dir, uint64_t max_bytes, hub_err *err);

/* Frees the handle. NULL ok. */
void reply_store_close(reply_store *s);

/* Opens the `kind` entry of the flist whose stat is flist_st. Returns a
 * read-only descriptor (O_CLOEXEC; the caller closes it) with the body at
 * *offset, *len bytes long; or -1 when there is no whole entry (absent,
 * torn, or unreadable: the caller computes the reply and puts it). */
int reply_store_get(reply_store *s, const char *kind, const struct stat *flist_st,
                    off_t *offset, size_t *len);

/* Stores body (len bytes) as the `kind` entry of the flist whose stat is
 * flist_st, replacing any entry there. Returns 0, or -1 with err (the
 * reply is still good to send; the store just did not keep it). */
int reply_store_put(reply_store *s, const char *kind, const struct stat *flist_st,
                    const void *body, size_t len, hub_err *err);

/* Removes the oldest entries (and temporary files older than an hour)
 * until the store holds at most its max_bytes. Safe to run from several
 * processes at once. Fills *entries and *bytes with what stays (either may
 * be NULL). Returns 0, or -1 with err when the directory cannot be read. */
int reply_store_sweep(reply_store *s, uint64_t *entries, uint64_t *bytes, hub_err *err);

#endif
