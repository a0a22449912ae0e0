/* hub_hash.c - FNV-1a string hash for in-memory hash tables (hub_hash.h). */
#include "hub_hash.h"

uint64_t hub_str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}
