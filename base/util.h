/* util.h - small helpers every layer uses: clocks, little-endian words,
 * random numbers. Base layer: depends on nothing else of the project. */
#ifndef HUB_UTIL_H
#define HUB_UTIL_H

#include <stdint.h>
#include <string.h>

/* Milliseconds of CLOCK_MONOTONIC (durations, deadlines). */
int64_t util_mono_ms(void);

/* Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t util_now_ms(void);

/* A random 32-bit number from the kernel (getrandom); for names of
 * temporary files, not for secrets. */
uint32_t util_random_u32(void);

/* Raises the soft limit of open files to the hard limit (a server holds
 * one descriptor per client; the usual soft limit is 1024). Returns the
 * limit now in force. */
long util_raise_nofile(void);

/* Little-endian loads and stores at any address. */
static inline uint32_t util_load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t util_load_le64(const uint8_t *p)
{
    return (uint64_t)util_load_le32(p) | (uint64_t)util_load_le32(p + 4) << 32;
}

static inline void util_store_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void util_store_le64(uint8_t *p, uint64_t v)
{
    util_store_le32(p, (uint32_t)v);
    util_store_le32(p + 4, (uint32_t)(v >> 32));
}

#endif
