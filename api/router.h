/* router.h - the one route table of flist-hub-api (Kore style: method set,
 * pattern, handler, authentication requirement, body kind) and the matcher
 * with the original's precedence (HUB-API.md §4 "Routing precedence"), one
 * optional trailing slash, HEAD for GET routes, OPTIONS and 405 with Allow.
 */
#ifndef API_ROUTER_H
#define API_ROUTER_H

#include <jansson.h>

#include "api.h"

/* Methods as bits. HEAD is implied by GET; OPTIONS by every route. */
enum {
    M_GET = 1u << 0,
    M_HEAD = 1u << 1,
    M_POST = 1u << 2,
    M_DELETE = 1u << 3,
    M_INFO = 1u << 4,
    M_OPTIONS = 1u << 5,
};

typedef enum api_auth {
    AUTH_NONE = 0,       /* public */
    AUTH_BEARER,         /* the API gate of §12.4 (readonly first) */
    AUTH_LOGIN,          /* exists only when authentication is on */
    AUTH_SESSION,        /* web session gate (§12.8) and, for writes, CSRF (web.h) */
} api_auth;

typedef enum api_body {
    BODY_NONE = 0,       /* any body is discarded */
    BODY_MULTIPART,      /* streamed to a spool file (uploads) */
    BODY_SMALL,          /* buffered in memory, bounded (JSON, form fields) */
} api_body;

typedef enum MHD_Result (*api_handler)(api_req *r);

struct api_route {
    unsigned methods;
    const char *pattern;     /* "/api/flist/<repo>/<name>", "/<repo>/<name>.flist" */
    api_handler fn;
    api_auth auth;
    api_body body;
    const char *summary;     /* for the OpenAPI document */
    /* filled by router_init */
    int nsegs;
    const char *seg_lit[API_MAX_SEGS];   /* literal segment, or NULL for a variable */
    const char *seg_suffix[API_MAX_SEGS];/* variable's literal suffix or NULL */
    char seg_buf[256];
    int sort_key[API_MAX_SEGS + 2];
};

/* Parses the patterns and orders the table by precedence. Call once. */
void router_init(void);

/* The table (ordered by precedence) and its length. */
const api_route *router_table(size_t *n);

/* The method bit of a method name (0 for unknown methods). */
unsigned router_method_bit(const char *method);

/* Routes r: on success r->route and r->args are set and 0 is returned;
 * otherwise the reply code to give: 404 (no route matches the path) or 405
 * (routes match but none allows the method; *allow = their method set).
 * For OPTIONS, 0 is never returned: the reply is 200 with *allow set (or
 * 404). auth_enabled: whether AUTH_LOGIN routes exist. Variable values are
 * written into argbuf (r->args point into it). */
int router_match(api_req *r, int auth_enabled, unsigned *allow);

/* "GET, HEAD, OPTIONS" for a method set, in the original's order
 * (INFO, DELETE, GET, HEAD, POST, OPTIONS), into out. */
void router_allow_header(unsigned methods, char *out, size_t n);

/* The OpenAPI 3 document of the table (new reference). */
json_t *router_openapi(const hub_config *cfg);

/* Prints "METHOD PATTERN AUTH" lines of the table (for tests and docs). */
void router_print(void *out_FILE);

#endif
