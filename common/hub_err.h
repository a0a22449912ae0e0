/* hub_err.h - the error buffer every fallible function of the project fills.
 *
 * Convention (see ARCHITECTURE.md "Conventions"): a function returns 0 on
 * success and -1 on failure, and on failure writes one line a user can read
 * into the hub_err the caller passed (which may be NULL when the caller does
 * not care). Messages have no trailing newline and no "error:" prefix.
 */
#ifndef HUB_ERR_H
#define HUB_ERR_H

#include <stddef.h>

#define HUB_ERR_MAX 512

typedef struct hub_err {
    char msg[HUB_ERR_MAX];
} hub_err;

/* Formats a message into err (no-op when err is NULL). Always returns -1 so
 * that callers can write `return hub_err_set(err, "...")`. */
int hub_err_set(hub_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefixes the message already in err with "<fmt>: ", for adding context on
 * the way up ("open x.flist: not a gzip or tar archive"). Returns -1. */
int hub_err_prefix(hub_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
