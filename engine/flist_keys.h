/* flist_keys.h - the keys of the flist database (FLIST-FORMAT.md §3). */
#ifndef FLIST_KEYS_H
#define FLIST_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "flist_model.h"

/* key(path) = hex(BLAKE2b-128(path)); path is relative to the root, without
 * leading or trailing '/', "" for the root. out receives 32 chars + NUL. */
void flist_path_key(const char *path, char out[FLIST_DIRKEY_LEN + 1]);

/* A directory path as the reader looks it up ("/", "", "/a/b", "a/b/"):
 * without one leading and one trailing '/' (libflist's flist_clean_path).
 * Returns a pointer into path; *len gets the length of that part (it is
 * not NUL-terminated when a trailing '/' was cut). Never fails. */
const char *flist_path_trim(const char *path, size_t *len);

/* The ACI key of §3.2 (current rule). out receives 16 chars + NUL. */
void flist_acl_key(const flist_acl *acl, char out[FLIST_ACLKEY_LEN + 1]);

/* Lower-case hex of n bytes into out (2n chars + NUL). */
void hub_hex(const uint8_t *bytes, size_t n, char *out);

/* Parses 2n hex chars into n bytes. Returns 0, or -1 on a bad character. */
int hub_unhex(const char *hex, uint8_t *bytes, size_t n);

#endif
