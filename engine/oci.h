/* oci.h - container images into flists: the contract between the three
 * parts of the converter (docs/OCI-NOTES.md):
 *
 *   oci_registry.c / oci_ref.c / oci_convert.c  where an image comes from:
 *       a reference resolved on a registry (Distribution API), its
 *       manifest and platform chosen, its layer blobs downloaded, verified
 *       (sha256 and size) and cached by digest; or an OCI layout directory;
 *   docker_engine.c  the engine path: a Docker daemon pulls and exports a
 *       container (one flattened tar, applied as a single layer);
 *   oci_apply.c      what every path ends in: layers applied in order with
 *       OCI changeset semantics (whiteouts, opaque directories, hard
 *       links, symlinks resolved as in a chroot) straight into an
 *       flist_writer, and the image config turned into flist metadata and
 *       /.startup.toml (docs/HUB-API.md §13.4).
 *
 * Return convention as in flist.h: 0 success, -1 error with err set (a
 * hub_err code: HUB_E_INVALID for bad input such as an escaping entry,
 * HUB_E_TOO_LARGE past a limit, HUB_E_NOT_FOUND for an unknown image...).
 */
#ifndef ENGINE_OCI_H
#define ENGINE_OCI_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "flist.h"
#include "hub_err.h"

/* "sha256:" + 64 hex digits + NUL, rounded up */
#define OCI_DIGEST_MAX 80

typedef enum oci_compression {
    OCI_COMP_NONE = 0,   /* ...tar, application/vnd.docker.image.rootfs.diff.tar */
    OCI_COMP_GZIP,       /* ...tar+gzip, ...diff.tar.gzip */
    OCI_COMP_ZSTD,       /* ...tar+zstd */
} oci_compression;

/* One layer, ready to apply: its bytes have been verified against digest
 * (or come from a trusted local stream, such as a daemon's export). */
typedef struct oci_layer {
    char digest[OCI_DIGEST_MAX];   /* "sha256:<hex>"; "" for a stream */
    oci_compression compression;
    uint64_t size;                 /* compressed bytes (0 = unknown) */
    int fd;                        /* open for reading from the start; the
                                      applier reads it and does not close it */
} oci_layer;

/* Applies layers[0..n) in order to the writer with OCI changeset
 * semantics: a ".wh.<name>" entry removes <name> of the lower layers, a
 * ".wh..wh..opq" entry empties its directory of the lower layers' entries;
 * a file over a directory (or the reverse) replaces it; hard links point
 * at entries of this or a lower layer; a write through an in-root
 * directory symlink lands where the symlink leads, resolved inside the
 * tree as in a chroot; missing parents are created (0755, root). Nothing
 * an image contains is written or linked outside the tree: an entry or a
 * hard link that escapes refuses the whole image, naming the entry.
 * `progress` (may be NULL) gets compressed bytes read over all layers.
 * Returns 0 or -1 with err. */
int oci_apply_layers(flist_writer *w, const oci_layer *layers, size_t n,
                     flist_progress_fn progress, void *progress_ud, hub_err *err);

/* Sets the flist metadata the original hub derives from an image config
 * (entrypoint from Entrypoint + Cmd as Docker runs them, environ, port,
 * volume, working directory, user) and adds /.startup.toml (HUB-API.md
 * §13.4). `config` is the image config blob (with its "config" object) or
 * the "Config" object of a Docker inspect; it is borrowed. Call after the
 * layers. Returns 0 or -1 with err. */
int oci_apply_config(flist_writer *w, json_t *config, hub_err *err);

#endif
