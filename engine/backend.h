/* backend.h - the content backend client: 0-db and Redis over RESP (hiredis).
 *
 * ARCHITECTURE.md "Backends": AUTH <token> when a token is set; SELECT
 * <namespace> [password] unless the namespace is absent or "default" (for
 * Redis the namespace is the database number); SET succeeds on OK, on the key
 * echoed back (0-db) or on nil (0-db: identical data already there);
 * existence via EXISTS. Keys are the 16 raw bytes of a chunk ID.
 *
 * Every bulk operation is pipelined: all commands are written, then all
 * replies read, so n chunks cost one round trip, not n.
 *
 * Error codes (hub_err.h): HUB_E_UNAVAILABLE when the server cannot be
 * reached or stops answering (a caller may retry later), HUB_E_REFUSED when
 * it answers with an error (wrong password, unknown namespace, read-only
 * namespace: retrying does not help), HUB_E_NOMEM.
 *
 * A backend handle is not thread-safe; use one per thread.
 */
#ifndef BACKEND_H
#define BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "hub_err.h"

typedef enum backend_kind {
    BACKEND_REDIS = 0,
    BACKEND_ZDB = 1,
} backend_kind;

/* Where a backend is and how to log in. */
typedef struct backend_url {
    backend_kind kind;
    char host[256];
    int port;
    char namespace_[128];  /* "" = none; for Redis the database number */
    char password[256];    /* SELECT password (0-db) or AUTH password (redis) */
    char token[2048];      /* 0-db AUTH token (may be a JWT) */
} backend_url;

/* Parses redis://host:port[/db] or
 * zdb://[:password@]host:port[/namespace][?token=T]. Host may be [v6].
 * Default ports: 6379 (redis), 9900 (zdb). Returns 0 or -1 with err. */
int backend_url_parse(const char *url, backend_url *out, hub_err *err);

/* Parses the `backend` metadata / ZFLIST_BACKEND JSON of FLIST-FORMAT.md §6.3
 * ({"host","port"(integer),"namespace","password","token"}). The result is
 * a ZDB url (that is what flists in the field point to). Returns 0 or -1. */
int backend_url_from_json(const char *json, backend_url *out, hub_err *err);

/* The `backend` metadata value for an flist: {"host": h, "port": p,
 * "namespace": ns} (namespace "default" when none), no secrets. Returns a
 * malloc'ed string the caller frees, NULL on allocation failure. */
char *backend_url_public_json(const backend_url *url);

/* The URL without its secrets (for messages and the default public backend).
 * Writes into out (size n). */
void backend_url_display(const backend_url *url, char *out, size_t n);

typedef struct backend backend;

/* Connects (timeout in milliseconds, 0 = 5000) and logs in. Returns NULL with
 * err set ("backend 127.0.0.1:9900: connection refused", "... AUTH: ...",
 * "... SELECT ns: Namespace not found") on failure; the caller closes the
 * handle with backend_close. */
backend *backend_connect(const backend_url *url, int timeout_ms, hub_err *err);

/* PING: 0 when the server answers PONG within the timeout, else -1 with err
 * (HUB_E_UNAVAILABLE when it does not answer). A connect alone does not
 * prove a server alive: the kernel accepts connections for a stopped
 * process. */
int backend_ping(backend *b, hub_err *err);

/* Closes and frees. NULL ok. */
void backend_close(backend *b);

/* For each of the n ids, present[i] = 1 when the key exists, else 0.
 * Returns 0 or -1 with err (the connection is then unusable). */
int backend_exists(backend *b, const uint8_t (*ids)[16], size_t n,
                   uint8_t *present, hub_err *err);

/* Stores n values. Returns 0 when every SET was accepted, else -1 with err
 * naming the first refused id. */
int backend_set(backend *b, const uint8_t (*ids)[16],
                const uint8_t *const *values, const size_t *lens, size_t n,
                hub_err *err);

/* Fetches n values. values[i] is malloc'ed (caller frees) or NULL when the
 * key is missing; lens[i] its length. Returns 0 or -1 with err (then no
 * value is returned). */
int backend_get(backend *b, const uint8_t (*ids)[16], size_t n,
                uint8_t **values, size_t *lens, hub_err *err);

/* 1 when a Redis error reply (its text, n bytes) says the server cannot
 * answer now but will: -LOADING (reading its data after a restart), -BUSY
 * (a script runs), -TRYAGAIN, -MASTERDOWN, -READONLY (a replica after a
 * failover). Such errors are HUB_E_UNAVAILABLE (retried), others
 * HUB_E_REFUSED. The job queue uses it too. */
int backend_error_is_transient(const char *text, size_t n);

/* Reply checks, shared by the client and exposed for unit tests that feed
 * 0-db's RESP replies (FLIST-FORMAT.md §6) to them. `reply` is a
 * hiredis redisReply*. Each returns 0 when the reply means success. */
int backend_check_set_reply(const void *reply, const uint8_t id[16], hub_err *err);
int backend_check_ok_reply(const void *reply, const char *what, hub_err *err);

#endif
