/* web.h - the web application of flist-hub-api (HUB-API.md §8.6, §9,
 * §12.8): pages rendered from the templates of the web root with a tiny
 * engine whose only way to insert a value escapes it (web_tmpl.c), static
 * files (web_static.c), the session gate and CSRF tokens of the forms
 * (web_session.c), the search index (web_search.c). The page and form
 * handlers themselves are in handlers.h (web_pages.c, web_forms.c).
 */
#ifndef API_WEB_H
#define API_WEB_H

#include <stddef.h>

#include "api.h"

typedef struct web_ctx web_ctx;
typedef struct web_search web_search;

/* ---- web_tmpl.c: templates ---- */

/* Longest template file accepted (bytes). */
#define WEB_TMPL_MAX (256 * 1024)

/* Largest number of values a page passes to its template. */
#define WEB_VARS_MAX 24

/* One value for a template: {{key}} is replaced by value, HTML-escaped
 * (valid in text and in quoted attributes). */
typedef struct web_var {
    const char *key;
    const char *value;
} web_var;

/* Loads the templates (layout.html and pages/<name>.html) of root, checking
 * that every file is there, with a search index over store. Returns a context (free with web_free) or NULL
 * with err naming the missing or unreadable file. */
web_ctx *web_open(const char *root, repo_store *store, hub_err *err);

/* Frees ctx and its search index. NULL ok. */
void web_free(web_ctx *ctx);

/* The directory the context serves (static files are beneath it). */
const char *web_root(const web_ctx *ctx);

/* The search index of the context (web_search.c). */
web_search *web_search_of(web_ctx *ctx);

/* Renders the layout around page `page` (pages/<page>.html) with vars
 * (n of them, page-specific values; the layout's own values are added by
 * web_page). Returns a malloc'ed NUL-terminated string with *len, or NULL
 * (unknown page, out of memory). An unknown {{key}} renders as nothing. */
char *web_render(const web_ctx *ctx, const char *page, const web_var *vars, size_t n, size_t *len);

/* Appends s HTML-escaped (& < > " ' and control bytes other than tab and
 * newline) to the buffer *buf (size *cap, used *len), growing it. Returns 0
 * or -1 (out of memory). */
int web_escape_append(char **buf, size_t *len, size_t *cap, const char *s);

/* ---- web_static.c: the web root ---- */

/* The web root: `configured` (the web-root key) when set, which must hold a
 * layout.html; else the first of <binary's dir>/../share/flist-hub/web, the
 * install prefix's share/flist-hub/web and the source tree's web/ that
 * holds one. Writes the directory into out (size n). Returns 0 or -1 with
 * err. */
int web_find_root(const char *configured, char *out, size_t n, hub_err *err);

/* ---- web_session.c: the session gate, CSRF ---- */

/* Name of the double-submit CSRF cookie. */
#define WEB_CSRF_COOKIE "hub-csrf"
/* Name of the header that carries the token on state-changing requests. */
#define WEB_CSRF_HEADER "X-CSRF-Token"
/* Name of the web session cookie (h_login.c sets it). */
#define WEB_SESSION_COOKIE "hub-session"
/* Length of a CSRF token (hex characters). */
#define WEB_CSRF_LEN 64

/* The message of a refused post of the original's forms (403). */
#define WEB_CROSS_SITE_MSG "cross-site form post refused: post the form from this hub's own pages"

/* The web gate of §12.8 for r, plus, for any method but GET and HEAD, the
 * CSRF check: with an X-CSRF-Token header, it must equal the hub-csrf
 * cookie; without one (the original's forms, web_form_compat), nothing
 * may say the post comes from another site (Sec-Fetch-Site, Origin,
 * Referer: web_session.c). Returns 0 with r->auth filled (the session's
 * user), or the status to give: 302 with *location "/readonly" or
 * "/login-method", or 403 with *location NULL (missing or wrong CSRF
 * token) or WEB_CROSS_SITE_MSG (a cross-site post). */
int web_gate(api_req *r, const char **location);

/* 1 when r is a post of the original hub's forms (HUB-API.md §9): it
 * carries no X-CSRF-Token header, which our own pages always send. */
int web_form_compat(api_req *r);

/* The reply of a refused web gate (web_gate's status and location). */
enum MHD_Result web_refuse(api_req *r, int status, const char *location);

/* The CSRF token of r: the hub-csrf cookie when it is well formed, else a
 * fresh random one (*fresh = 1: the reply must set the cookie). token has
 * WEB_CSRF_LEN + 1 bytes. */
void web_csrf_token(api_req *r, char token[WEB_CSRF_LEN + 1], int *fresh);

/* ---- web_compat.c: the original's form posts (HUB-API.md §9) ---- */

/* The fields of a small form body (r->body; urlencoded or multipart, as
 * the request's Content-Type says; any other type gives no field) as a new
 * JSON object {name: [value, ...]} in body order; file parts are left out.
 * NULL when the body is malformed, not UTF-8, holds a NUL or too many
 * fields, or out of memory. */
json_t *web_form_parse(api_req *r);

/* Replaces r->body by the JSON array sources (the merge route's body) and
 * names the target (r->args[0], kept in r->scratch). sources is borrowed.
 * Returns 0 or -1 (out of memory). */
int web_form_set_merge(api_req *r, json_t *sources, const char *name);

/* The first value of field name in a web_form_parse result, or NULL
 * (form NULL ok). Borrowed from form. */
const char *web_form_value(json_t *form, const char *name);

/* Replaces r->body by the urlencoded form "image=<image>" (the docker
 * route's field) and sets r->body_ctype. Returns 0 or -1 (out of memory). */
int web_form_set_image(api_req *r, const char *image);

/* The handlers of the original's form posts (web_form_compat): POST
 * /upload, /upload-flist, /merge, /docker-convert answered as §9.2-§9.5
 * say (web_compat.c). */
enum MHD_Result web_compat_upload(api_req *r);
enum MHD_Result web_compat_upload_flist(api_req *r);
enum MHD_Result web_compat_merge(api_req *r);
enum MHD_Result web_compat_docker(api_req *r);

/* ---- web_pages.c: replies ---- */

/* Adds the security headers of every web reply (CSP without
 * unsafe-inline, frame-ancestors, X-Frame-Options, nosniff,
 * Referrer-Policy) to resp. */
void web_security_headers(struct MHD_Response *resp);

/* Renders page with vars inside the layout (user, CSRF token, readonly
 * banner, ...) and queues it with status; sets the CSRF cookie when new,
 * and extra_cookie (a Set-Cookie value) when not NULL. */
enum MHD_Result web_page(api_req *r, int status, const char *page, const char *title,
                         const web_var *vars, size_t n, const char *extra_cookie);

/* ---- web_search.c: the search index ---- */

/* Default and largest number of results of one search. */
#define WEB_SEARCH_LIMIT 50
#define WEB_SEARCH_LIMIT_MAX 500
/* A query shorter than this (bytes) lists nothing. */
#define WEB_SEARCH_MIN_QUERY 1
/* How long an index is trusted before the repository directory is checked
 * for changes again (ms). */
#define WEB_SEARCH_RECHECK_MS 1000

/* A new, empty index over store (built on the first search). NULL when out
 * of memory. */
web_search *web_search_new(repo_store *store);

/* Frees the index. NULL ok. */
void web_search_free(web_search *s);

/* Searches every flist whose "repo/name" contains q (case-insensitive),
 * rebuilding the index first when the repositories changed or generation
 * differs from the index's. Returns a new JSON object {"query", "total",
 * "indexed", "results": [{"repository","name","type","size","updated"}...]}
 * (total: matches; indexed: flists in the index) with at
 * most limit results, or NULL with err. */
json_t *web_search_query(web_search *s, const char *q, size_t limit, long generation,
                         hub_err *err);

/* Number of flists in the index (builds it when needed), -1 on error. */
long web_search_count(web_search *s, long generation, hub_err *err);

/* Builds the index in a thread of its own, so that the first search does
 * not wait for it (web_search_free joins the thread). Returns 0, or -1 when
 * the thread cannot start (the first search builds it then). */
int web_search_warm(web_search *s);

#endif
