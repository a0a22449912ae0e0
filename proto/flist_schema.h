/* flist_schema.h - Cap'n Proto encoding of the flist structs (Dir, ACI).
 *
 * Wire layouts: FLIST-FORMAT.md §4.2; framing: §4.3 (unpacked, with the
 * segment table). The decoder accepts any valid message: multiple segments,
 * far and double-far pointers, and struct sections larger or smaller than the
 * schema's (missing fields read as their defaults). It is safe on hostile
 * input: every pointer is bounds-checked, and a traversal limit and a nesting
 * limit stop loops and amplification.
 *
 * The encoder writes single-segment messages of any size (quirk Q9 fixed).
 */
#ifndef FLIST_SCHEMA_H
#define FLIST_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "flist_model.h"
#include "hub_err.h"

/* Decodes a Dir message. On success *out is a new flist_dir (free with
 * flist_dir_free) and 0 is returned; on failure -1 and err says why. */
int flist_dir_decode(const void *buf, size_t len, flist_dir **out, hub_err *err);

/* Encodes a Dir. On success *out is a malloc'ed buffer of *outlen bytes that
 * the caller frees. NULL strings are written as empty Text. */
int flist_dir_encode(const flist_dir *dir, uint8_t **out, size_t *outlen, hub_err *err);

/* Decodes an ACI message into *acl (release with flist_acl_clear). */
int flist_acl_decode(const void *buf, size_t len, flist_acl *acl, hub_err *err);

/* Encodes an ACI (rights written as null, like libflist). */
int flist_acl_encode(const flist_acl *acl, uint8_t **out, size_t *outlen, hub_err *err);

#endif
