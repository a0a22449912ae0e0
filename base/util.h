/* util.h - small helpers every layer uses: clocks, little-endian words,
 * random numbers. Base layer: depends on nothing else of the project. */
#ifndef HUB_UTIL_H
#define HUB_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Milliseconds of CLOCK_MONOTONIC (durations, deadlines). */
int64_t util_mono_ms(void);

/* Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t util_now_ms(void);

/* A random 32-bit number from the kernel (getrandom); for names of
 * temporary files, not for secrets. */
uint32_t util_random_u32(void);

/* 1 when s ends with suffix. */
int util_ends_with(const char *s, const char *suffix);

/* The value of a hexadecimal digit, or -1. */
int util_hexval(int c);

/* Decodes the UTF-8 sequence at p (len bytes left): returns its length with
 * the code point in *cp, or 0 when it is invalid (overlong, a surrogate,
 * above U+10FFFF, truncated). */
size_t util_utf8_next(const unsigned char *p, size_t len, uint32_t *cp);

/* Percent-decodes src (n bytes) into a new NUL-terminated string (the
 * caller frees it; NULL when out of memory). plus: '+' is a space (form
 * and query encoding). A decoded NUL sets *nul (when not NULL) and is kept
 * as 0x01, so that it can never silently cut a name. Malformed escapes
 * stay as they are. */
char *util_pct_decode(const char *src, size_t n, int plus, int *nul);

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
