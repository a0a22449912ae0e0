/* util.c - clocks and random numbers (util.h). */
#include "util.h"

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
