/* layer_evict.h - the size bound of the container layer cache
 * (docker-layer-cache, docker-layer-cache-max): the verified layer blobs
 * in <cache>/sha256/ and the layer results in <cache>/results/ (the .memo files) are
 * removed least recently used first (by modification time: a cache hit
 * or a memo used refreshes it, engine/oci_registry.c and
 * engine/flist_layer_memo.c) until what remains fits the bound. Run by the
 * worker at its start and after each docker-convert job; a scan of two
 * directories, no lock (a blob a running job holds open stays readable
 * through its descriptor; a file already gone is skipped).
 */
#ifndef WORKER_LAYER_EVICT_H
#define WORKER_LAYER_EVICT_H

#include <stddef.h>
#include <stdint.h>

#include "hub_err.h"

typedef struct layer_evict_stats {
    size_t files;           /* cache files found */
    uint64_t bytes;         /* their size before */
    size_t removed;         /* files removed */
    uint64_t removed_bytes;
} layer_evict_stats;

/* Removes the least recently used files of the layer cache at `dir` until
 * its files take at most max_bytes (0: no bound, nothing removed).
 * Partial downloads (".part-*") are never counted nor removed. stats may
 * be NULL. Returns 0, or -1 with err when a directory cannot be read (a
 * missing one is empty) or memory runs out. */
int layer_evict(const char *dir, uint64_t max_bytes, layer_evict_stats *stats, hub_err *err);

#endif
