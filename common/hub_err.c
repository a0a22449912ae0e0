/* hub_err.c - formatting of the error buffer (see hub_err.h). */
#include "hub_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int hub_err_set(hub_err *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int hub_err_prefix(hub_err *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    char prefix[HUB_ERR_MAX], old[HUB_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = '\0';
    /* prefix + ": " + old, cut at the buffer's end */
    size_t n = 0, cap = sizeof err->msg - 1;
    const char *parts[] = { prefix, ": ", old };
    for (size_t i = 0; i < 3; i++)
        for (const char *c = parts[i]; *c && n < cap; c++)
            err->msg[n++] = *c;
    err->msg[n] = '\0';
    return -1;
}
