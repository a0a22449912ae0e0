/* hub_hash.h - the hash of the in-memory hash tables (base/hmap.c, which
 * every table of the tree uses). Not for anything stored or compared
 * across processes.
 */
#ifndef HUB_HASH_H
#define HUB_HASH_H

#include <stddef.h>
#include <stdint.h>

/* 64-bit FNV-1a of the NUL-terminated string s. Never fails. */
uint64_t hub_str_hash(const char *s);

/* 64-bit FNV-1a of the n bytes at p; equal to hub_str_hash for the bytes of
 * a string without its NUL. Never fails. */
uint64_t hub_bytes_hash(const void *p, size_t n);

#endif
