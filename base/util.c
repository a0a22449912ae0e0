/* util.c - clocks and random numbers (util.h). */
#include "util.h"

#include <stdlib.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>

int64_t util_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t util_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint32_t util_random_u32(void)
{
    uint32_t v = 0;
    /* getrandom of 4 bytes does not block once the pool is initialised and
     * is not interrupted; a failure leaves 0, harmless for a name */
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
        v = 0;
    return v;
}

long util_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur == RLIM_INFINITY ? -1 : (long)rl.rlim_cur;
}

int util_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

int util_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t util_utf8_next(const unsigned char *p, size_t len, uint32_t *cp)
{
    uint32_t c = p[0], min;
    size_t need;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if ((c & 0xe0) == 0xc0) { need = 2; min = 0x80; c &= 0x1f; }
    else if ((c & 0xf0) == 0xe0) { need = 3; min = 0x800; c &= 0x0f; }
    else if ((c & 0xf8) == 0xf0) { need = 4; min = 0x10000; c &= 0x07; }
    else return 0;
    if (len < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return need;
}

char *util_pct_decode(const char *src, size_t n, int plus, int *nul)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int a, b;
        if (src[i] == '%' && i + 2 < n && (a = util_hexval((unsigned char)src[i + 1])) >= 0 &&
            (b = util_hexval((unsigned char)src[i + 2])) >= 0) {
            char c = (char)(a * 16 + b);
            if (c == '\0' && nul)
                *nul = 1;
            out[o++] = c == '\0' ? '\x01' : c;
            i += 2;
        } else if (plus && src[i] == '+') {
            out[o++] = ' ';
        } else {
            out[o++] = src[i];
        }
    }
    out[o] = '\0';
    return out;
}
