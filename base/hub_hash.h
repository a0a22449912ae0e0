/* hub_hash.h - the string hash of the in-memory hash tables (the reader's
 * ACI cache, the walk's visited set, the writer's indexes, merge's path
 * table). Not for anything stored or compared across processes.
 */
#ifndef HUB_HASH_H
#define HUB_HASH_H

#include <stdint.h>

/* 64-bit FNV-1a of the NUL-terminated string s. Never fails. */
uint64_t hub_str_hash(const char *s);

#endif
