/* oci_convert.h - one container image from a registry into an flist
 * writer: the reference resolved (oci_registry), its layers fetched and
 * verified, then applied (oci_apply_layers) and its config turned into
 * metadata (oci_apply_config). The caller owns the writer: it sets the
 * `backend` metadata and finishes it.
 */
#ifndef ENGINE_OCI_CONVERT_H
#define ENGINE_OCI_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "flist.h"
#include "hub_err.h"
#include "oci_registry.h"

/* The steps, in order, reported to oci_convert_opts.phase. */
typedef enum oci_phase {
    OCI_PHASE_RESOLVING = 0,   /* manifest and config */
    OCI_PHASE_PULLING,         /* layer downloads (img known) */
    OCI_PHASE_APPLYING,        /* layers into the writer */
} oci_phase;

typedef struct oci_convert_opts {
    oci_registry_opts registry;   /* platform, credentials, cache, limits, download progress */
    /* Called at the start of each phase; img is NULL for RESOLVING. */
    void (*phase)(void *ud, oci_phase phase, const oci_image *img);
    void *phase_ud;
    flist_progress_fn apply_progress;   /* compressed bytes applied over all layers */
    void *apply_progress_ud;
    /* Layer results remembered by digest (flist_writer_layer_memo) in this
     * directory (created; NULL: none), salted with the identity of the
     * writer's backend (e.g. "host:port/namespace") so that a memo is only
     * used with the backend that holds its chunks. */
    const char *memo_dir;
    const char *memo_backend;
} oci_convert_opts;

/* What a conversion found, for messages and replies. */
typedef struct oci_convert_info {
    char ref[600];                         /* normalised reference */
    char manifest_digest[OCI_DIGEST_MAX];
    char platform[OCI_PLATFORM_MAX];
    size_t layers, layers_cached;
    uint64_t bytes;                        /* compressed layer bytes */
} oci_convert_info;

/* Converts `image` (a reference as a user writes it) into w. info may be
 * NULL. Returns 0, or -1 with err (the registry's and the applier's
 * errors, oci_registry.h). */
int oci_convert_registry(flist_writer *w, const char *image, const oci_convert_opts *o,
                         oci_convert_info *info, hub_err *err);

#endif
