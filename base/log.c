/* log.c - leveled logging to stderr (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static _Atomic int g_level = HUB_LOG_INFO;
static const char *g_program = "flist-hub";

void log_set_program(const char *name)
{
    if (name && *name)
        g_program = name;
}

void log_set_level(log_level level)
{
    atomic_store(&g_level, (int)level);
}

log_level log_get_level(void)
{
    return (log_level)atomic_load(&g_level);
}

int log_level_parse(const char *word, log_level *out)
{
    static const struct { const char *w; log_level l; } words[] = {
        {"debug", HUB_LOG_DEBUG}, {"info", HUB_LOG_INFO}, {"warn", HUB_LOG_WARN},
        {"warning", HUB_LOG_WARN}, {"error", HUB_LOG_ERROR},
    };
    for (size_t i = 0; word && i < sizeof words / sizeof words[0]; i++) {
        if (strcasecmp(word, words[i].w) == 0) {
            *out = words[i].l;
            return 0;
        }
    }
    return -1;
}

void log_msg(log_level level, const char *fmt, ...)
{
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if ((int)level < atomic_load(&g_level))
        return;
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);

    struct timespec ts;
    struct tm tm;
    char when[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    int li = (level >= HUB_LOG_DEBUG && level <= HUB_LOG_ERROR) ? (int)level : HUB_LOG_ERROR;
    fprintf(stderr, "%s.%03ldZ %s[%ld] %s %s\n", when, ts.tv_nsec / 1000000L,
            g_program, (long)getpid(), names[li], text);
}
