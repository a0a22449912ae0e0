/* flist_replies.h - the hub's replies computed from an flist, as the exact
 * bytes the api sends (HUB-API "E-JSON": Python json.dumps spacing, ASCII
 * escapes, a trailing newline). One place renders them, so that what a
 * worker precomputes at publication and what an api computes on a miss are
 * the same bytes (reply_store.h keeps them).
 */
#ifndef FLIST_REPLIES_H
#define FLIST_REPLIES_H

#include <stddef.h>

#include <jansson.h>

#include "backend.h"
#include "flist.h"
#include "hub_err.h"

/* E-JSON text of v with a trailing "\n" (malloc'ed, the caller frees;
 * *len its length without the NUL). NULL when out of memory. */
char *flist_reply_dump(const json_t *v, size_t *len);

/* The body of GET /api/flist/<repo>/<name>: zflist's `find` JSON of f.
 * Returns malloc'ed text with *len, or NULL with err. */
char *flist_reply_contents(flist *f, size_t *len, hub_err *err);

/* The body of GET /api/flist/<repo>/<name>/metadata: every metadata value
 * of f by name; an flist without `backend` metadata gets "backend-forced"
 * = public_backend (then *uses_public_backend = 1: the reply depends on the
 * configuration and must not be shared by identity alone). Returns
 * malloc'ed text with *len, or NULL with err. */
char *flist_reply_metadata(flist *f, const backend_url *public_backend, int *uses_public_backend,
                           size_t *len, hub_err *err);

#endif
