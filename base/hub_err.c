/* hub_err.c - formatting of the error buffer and the names of the status
 * codes (see hub_err.h). */
#include "hub_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 3, 0)))
static void set_v(hub_err *err, hub_code code, const char *fmt, va_list ap)
{
    err->code = code;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
}

int hub_err_set(hub_err *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    set_v(err, HUB_E_FAILED, fmt, ap);
    va_end(ap);
    return -1;
}

int hub_err_setc(hub_err *err, hub_code code, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    set_v(err, code, fmt, ap);
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

/* The names of the codes, by code. */
static const char *const names[] = {
    [HUB_OK] = "ok",
    [HUB_E_FAILED] = "failed",
    [HUB_E_INVALID] = "invalid",
    [HUB_E_NOT_FOUND] = "not_found",
    [HUB_E_EXISTS] = "exists",
    [HUB_E_FORBIDDEN] = "forbidden",
    [HUB_E_UNAUTHORIZED] = "unauthorized",
    [HUB_E_TOO_LARGE] = "too_large",
    [HUB_E_UNAVAILABLE] = "unavailable",
    [HUB_E_REFUSED] = "refused",
    [HUB_E_LOST] = "lost",
    [HUB_E_NOMEM] = "out_of_memory",
};

const char *hub_code_name(hub_code code)
{
    if ((unsigned)code < sizeof names / sizeof names[0] && names[code])
        return names[code];
    return "unknown";
}

hub_code hub_code_parse(const char *name)
{
    for (unsigned i = 1; name && i < sizeof names / sizeof names[0]; i++)
        if (names[i] && strcmp(names[i], name) == 0)
            return (hub_code)i;
    return HUB_E_FAILED;
}
