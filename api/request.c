/* request.c - what a handler reads of its request: headers, cookies,
 * query parameters (decoded on demand), the async preference; the split
 * and decoded path; clocks; and the request's release (request.h, api.h).
 * Handlers call these, never the server daemon. */
#include "request.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "upload.h"
#include "util.h"
#include "waiters.h"

int64_t api_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

long long api_unix_now(void)
{
    return (long long)time(NULL);
}

void api_changed(api_server *s)
{
    atomic_fetch_add(&s->generation, 1);
}

const char *api_header(api_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *api_header_n(api_req *r, const char *name, size_t *len)
{
    const char *v = NULL;
    size_t n = 0;
    if (MHD_lookup_connection_value_n(r->conn, MHD_HEADER_KIND, name, strlen(name), &v, &n) != MHD_YES)
        return NULL;
    *len = n;
    return v;
}

const char *api_cookie(api_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
}

const char *api_query(api_req *r, const char *name, char *buf, size_t n)
{
    /* MHD hands query values over undecoded (our unescape callback keeps
     * them raw); decode the value here. Keys are compared raw. */
    const char *raw = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
    if (!raw)
        return NULL;
    char *dec = util_pct_decode(raw, strlen(raw), 1, NULL);
    if (!dec)
        return NULL;
    size_t len = strlen(dec);
    if (len >= n) {
        free(dec);
        return NULL;
    }
    memcpy(buf, dec, len + 1);
    free(dec);
    return buf;
}

int api_wants_async(api_req *r)
{
    if (r->force_async)
        return 1;
    char v[16];
    if (api_query(r, "async", v, sizeof v) && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0))
        return 1;
    const char *prefer = api_header(r, "Prefer");
    return prefer && strstr(prefer, "respond-async") != NULL;
}

void request_free(api_req *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->nsegs; i++)
        free(r->segs[i]);
    free(r->scratch);
    json_decref(r->captured);
    free(r->path);
    upload_free(r->upload);
    free(r->body);
    if (r->wait)
        waiters_wait_release(r->wait);
    free(r);
}

int request_split_path(api_req *r, const char *url)
{
    size_t len = strlen(url);
    if (len > 1 && url[len - 1] == '/')
        len--;
    if (!(r->path = strndup(url, len)))
        return -1;
    if (len <= 1)
        return 0; /* "/" has no segments */
    const char *p = r->path + (r->path[0] == '/');
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (r->nsegs == API_MAX_SEGS)
            return -1;
        if (!(r->segs[r->nsegs] = util_pct_decode(p, n, 0, &r->has_nul)))
            return -1;
        r->nsegs++;
        if (!slash)
            break;
        p = slash + 1;
    }
    return 0;
}
