/* flist_layer_memo.h - the writer's memory of OCI layer results (inside the
 * engine; the public entry is flist_writer_layer_memo in flist.h).
 *
 * For each layer of a build given a key (its digest, salted with the
 * backend it was stored on), the k-th regular file added while that layer
 * is current is remembered with its path, size, mtime and chunks, in the
 * file <dir>/<key>.memo, once the build has finished. A later build given
 * the same key looks the k-th file up: the same path, size and mtime take
 * the chunks instead of reading the content again (the layer's bytes are
 * fixed by its digest, and the applier adds its files in archive order).
 * A memo file is used only when the backend still holds every chunk it
 * names (one pipelined EXISTS when the memo is loaded).
 */
#ifndef ENGINE_FLIST_LAYER_MEMO_H
#define ENGINE_FLIST_LAYER_MEMO_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "flist.h"
#include "flist_model.h"

typedef struct layer_memo layer_memo;

/* The writer's accessors of a file's content (kept alive by the memo). */
typedef struct layer_memo_content_ops {
    void (*ref)(void *content);
    void (*unref)(void *content);
    /* the content's blocks, once every chunk was stored */
    const flist_block *(*blocks)(void *content, size_t *n);
} layer_memo_content_ops;

/* Loads the memo of keys[0..n) (layer i+1 has keys[i]; NULL or "" = not
 * remembered) from dir, checking on `be` that every chunk named is there.
 * A missing, damaged or stale memo file only means "not known". Returns
 * the memo, or NULL with err (no memory, bad key). */
layer_memo *layer_memo_open(const char *dir, const char *const *keys, size_t n, backend *be,
                            const layer_memo_content_ops *ops, hub_err *err);

/* A regular file of layer `layer` (1-based, the writer's stamp) is being
 * added. Returns 1 with *blocks and *nblocks (borrowed from the memo) when the
 * memo knows it, 0 when the content must be read. Either way the file is
 * noted: call layer_memo_note with the content that holds its blocks. */
int layer_memo_lookup(layer_memo *m, uint32_t layer, const char *path, uint64_t size,
                      uint32_t mtime, const flist_block **blocks, size_t *nblocks);

/* Notes the content of the file last looked up in `layer` (a reference is
 * taken). Returns 0 or -1 (out of memory: the memo of that layer is then
 * not written). */
int layer_memo_note(layer_memo *m, uint32_t layer, void *content);

/* Writes the memo file of every remembered layer not already known (after
 * a build that finished: every chunk is stored). Failures are ignored (a
 * memo is an optimisation). */
void layer_memo_save(layer_memo *m);

/* Frees the memo and releases the contents it holds. NULL ok. */
void layer_memo_free(layer_memo *m);

#endif
