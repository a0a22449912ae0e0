/* flist_tar.h - the tar reader behind flist_source_tar (flist_source_tar.c),
 * shared with the OCI layer applier (oci_apply.c): one pipeline (gzip via
 * ISA-L with its trailer verified, libarchive's other filters, the build's
 * limits on every decompressed block, sparse members as holes) that turns
 * each member into an flist_src_entry and hands it to a callback.
 */
#ifndef FLIST_TAR_H
#define FLIST_TAR_H

#include <stdint.h>

#include <archive_entry.h>

#include "flist.h"

/* Called for each member, converted: e->path (and e->hardlink) are in
 * cleaned form (a member or hard-link target climbing above the root was
 * already refused), content is readable through e->read until the next
 * member. `ae` is libarchive's entry, for what e does not carry (the raw
 * name, xattrs). The callback adds e (possibly changed) to w with
 * flist_writer_add, or skips it. Returns 0 or -1 with err. */
typedef int (*flist_tar_member_fn)(void *ud, flist_writer *w, struct archive_entry *ae,
                                   flist_src_entry *e, hub_err *err);

/* Called with the count of raw (compressed) bytes read from the fd. */
typedef void (*flist_tar_raw_fn)(void *ud, uint64_t n);

typedef struct flist_tar_opts {
    flist_tar_member_fn member;   /* NULL: every member goes to flist_writer_add */
    flist_tar_raw_fn raw_read;    /* may be NULL */
    void *ud;                     /* for both */
} flist_tar_opts;

/* Reads the tar archive (plain or compressed) from fd (left open) and
 * feeds its members through o (NULL: as flist_source_tar_fd). Returns 0 or
 * -1 with err (HUB_E_INVALID for a bad archive, HUB_E_TOO_LARGE past a
 * limit of the writer). */
int flist_tar_read_fd(flist_writer *w, int fd, const flist_tar_opts *o, hub_err *err);

#endif
