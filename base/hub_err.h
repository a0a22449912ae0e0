/* hub_err.h - the error every fallible function of the project fills: a
 * status code a program can act on, and one line a user can read.
 *
 * Return conventions of the whole tree (docs/ARCHITECTURE.md "Conventions"):
 *  - a function that can fail returns 0 on success and -1 on failure (or
 *    NULL for a constructor), and on failure fills the hub_err the caller
 *    passed (which may be NULL when the caller does not care);
 *  - callers decide on err->code, never on the wording of err->msg: messages
 *    are for people and may change;
 *  - messages have no trailing newline and no "error:" prefix; context is
 *    added on the way up with hub_err_prefix, which keeps the code.
 */
#ifndef HUB_ERR_H
#define HUB_ERR_H

#include <stddef.h>

#define HUB_ERR_MAX 512

/* What went wrong, in the terms a caller acts on. The api maps codes to
 * HTTP statuses in one place (api/errors.c); the worker retries only
 * HUB_E_UNAVAILABLE and stops a job on HUB_E_LOST. */
typedef enum hub_code {
    HUB_OK = 0,
    HUB_E_FAILED,       /* the operation failed for a reason of our own (a bug, the disk) */
    HUB_E_INVALID,      /* the input is not acceptable (the client's mistake) */
    HUB_E_NOT_FOUND,    /* what was named does not exist */
    HUB_E_EXISTS,       /* it would overwrite or conflict with something */
    HUB_E_FORBIDDEN,    /* the caller may not do this */
    HUB_E_UNAUTHORIZED, /* no valid credentials (and the original hub's one 401 refusal) */
    HUB_E_TOO_LARGE,    /* over a configured limit */
    HUB_E_UNAVAILABLE,  /* a server (content backend, queue) does not answer: retry later */
    HUB_E_REFUSED,      /* a server answered but refused us (login, namespace): configuration */
    HUB_E_LOST,         /* a job this process ran was taken over by another worker */
    HUB_E_NOMEM,        /* out of memory */
} hub_code;

typedef struct hub_err {
    hub_code code;
    char msg[HUB_ERR_MAX];
} hub_err;

/* Formats a message into err with code HUB_E_FAILED (no-op when err is
 * NULL). Always returns -1 so that callers can write
 * `return hub_err_set(err, "...")`. */
int hub_err_set(hub_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* hub_err_set with an explicit code. Returns -1. */
int hub_err_setc(hub_err *err, hub_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the message already in err with "<fmt>: ", for adding context on
 * the way up ("open x.flist: not a gzip or tar archive"); the code stays.
 * Returns -1. */
int hub_err_prefix(hub_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The code's name ("unavailable", ...), for logs, tests and the job hash's
 * error_code. Never NULL. */
const char *hub_code_name(hub_code code);

/* The code named name (hub_code_name's inverse); HUB_E_FAILED for a name
 * no code has, NULL or "". */
hub_code hub_code_parse(const char *name);

#endif
