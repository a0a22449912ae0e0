/* h_files.c - downloads and text routes (HUB-API.md §8): .flist files sent
 * with sendfile (MHD_create_response_from_fd_at_offset64) with
 * Content-Length, ETag (MD5), If-None-Match, If-Modified-Since and a single
 * byte Range; the .md5, .txt and .json summaries. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "handlers.h"
#include "inspect.h"

static void http_date(time_t t, char *out, size_t n)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static time_t parse_http_date(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end)
        return (time_t)-1;
    return timegm(&tm);
}

/* Content-Disposition: inline; filename=<name> (RFC 5987 form when the
 * name has characters outside a safe set). */
static void disposition(const char *name, char *out, size_t n)
{
    int safe = 1;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("._-+", *p)))
            safe = 0;
    if (safe) {
        snprintf(out, n, "inline; filename=%s", name);
        return;
    }
    size_t o = (size_t)snprintf(out, n, "inline; filename*=UTF-8''");
    for (const unsigned char *p = (const unsigned char *)name; *p && o + 4 < n; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("._-", *p))
            out[o++] = (char)*p;
        else
            o += (size_t)snprintf(out + o, n - o, "%%%02X", *p);
    }
    out[o] = '\0';
}

/* Parses "bytes=a-b", "bytes=a-", "bytes=-n" against size. Returns 1 with
 * [*from, *to] (inclusive), 0 when the header is to be ignored (absent,
 * malformed, several ranges), -1 when unsatisfiable. */
static int parse_range(const char *h, uint64_t size, uint64_t *from, uint64_t *to)
{
    if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return 0;
    const char *p = h + 6;
    char *end;
    if (*p == '-') {
        errno = 0;
        unsigned long long n = strtoull(p + 1, &end, 10);
        if (errno || *end || end == p + 1)
            return 0;
        if (n == 0 || size == 0)
            return -1;
        *from = n >= size ? 0 : size - n;
        *to = size - 1;
        return 1;
    }
    errno = 0;
    unsigned long long a = strtoull(p, &end, 10);
    if (errno || end == p || *end != '-')
        return 0;
    p = end + 1;
    unsigned long long b = size ? size - 1 : 0;
    if (*p) {
        b = strtoull(p, &end, 10);
        if (errno || *end)
            return 0;
        if (b < a)
            return 0;
        if (size && b >= size)
            b = size - 1;
    }
    if (a >= size)
        return -1;
    *from = a;
    *to = b;
    return 1;
}

/* Sends the final target of <repo>[/.tag-<tag>]/<name>. */
static enum MHD_Result send_flist(api_req *r, const char *repo, const char *tag, const char *name)
{
    char nn[REPO_NAME_MAX + 1], md5[33], etag[40], date[64], disp[1024];
    hub_err err;
    if (repo_name_check(repo, "repository", &err) < 0 || (tag && repo_name_check(tag, "tag", &err) < 0) ||
        repo_flist_name(name, "name", nn, &err) < 0)
        return api_error(r, 400, err.msg);
    struct stat st;
    int fd = repo_open_target(r->srv->store, repo, tag, nn, &st, &err);
    if (fd < 0)
        return api_page(r, 404);
    if (inspect_md5(r->srv, fd, &st, md5, &err) < 0) {
        close(fd);
        return api_error(r, 500, err.msg);
    }
    snprintf(etag, sizeof etag, "\"%s\"", md5);
    http_date(st.st_mtime, date, sizeof date);
    disposition(nn, disp, sizeof disp);

    int not_modified = 0;
    const char *inm = api_header(r, MHD_HTTP_HEADER_IF_NONE_MATCH);
    const char *ims = api_header(r, MHD_HTTP_HEADER_IF_MODIFIED_SINCE);
    if (inm)
        not_modified = strstr(inm, md5) != NULL || strcmp(inm, "*") == 0;
    else if (ims) {
        time_t t = parse_http_date(ims);
        not_modified = t != (time_t)-1 && st.st_mtime <= t;
    }
    struct MHD_Response *resp;
    int status = 200;
    uint64_t size = (uint64_t)st.st_size, from = 0, to = size ? size - 1 : 0;
    int range = 0;
    if (not_modified) {
        close(fd);
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        status = 304;
    } else {
        const char *if_range = api_header(r, "If-Range");
        const char *rh = api_header(r, MHD_HTTP_HEADER_RANGE);
        if (!if_range || strstr(if_range, md5))
            range = parse_range(rh, size, &from, &to);
        if (range < 0) {
            close(fd);
            char cr[64];
            snprintf(cr, sizeof cr, "bytes */%" PRIu64, size);
            resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
            if (!resp)
                return MHD_NO;
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
            return api_respond(r, 416, resp);
        }
        if (range > 0) {
            status = 206;
            resp = MHD_create_response_from_fd_at_offset64(to - from + 1, fd, from);
        } else {
            resp = MHD_create_response_from_fd_at_offset64(size, fd, 0);
        }
        if (!resp)
            close(fd);
    }
    if (!resp)
        return api_page(r, 500);
    if (status != 304) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED, date);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    if (status == 206) {
        char cr[96];
        snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, from, to, size);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
    }
    api_set_reply_bytes(r, status == 304 || size == 0 ? 0 : (long long)(to - from + 1));
    return api_respond(r, status, resp);
}

enum MHD_Result h_download(api_req *r)
{
    return send_flist(r, r->args[0], NULL, r->args[1]);
}

enum MHD_Result h_download_tag(api_req *r)
{
    return send_flist(r, r->args[0], r->args[1], r->args[2]);
}

/* The MD5 of the final target, or 0 when there is none. */
static int target_md5(api_req *r, const char *repo, const char *nn, char md5[33])
{
    hub_err err;
    struct stat st;
    int fd = repo_open_target(r->srv->store, repo, NULL, nn, &st, &err);
    if (fd < 0)
        return 0;
    int ok = inspect_md5(r->srv, fd, &st, md5, &err) == 0;
    close(fd);
    return ok;
}

enum MHD_Result h_md5(api_req *r)
{
    char nn[REPO_NAME_MAX + 1], md5[33], body[40];
    hub_err err;
    if (repo_name_check(r->args[0], "repository", &err) < 0 ||
        repo_flist_name(r->args[1], "name", nn, &err) < 0)
        return api_error(r, 400, err.msg);
    if (!target_md5(r, r->args[0], nn, md5))
        return api_page(r, 404);
    int n = snprintf(body, sizeof body, "%s\n", md5);
    return api_text(r, 200, "text/plain", body, (size_t)n);
}

/* Common checks of .txt and .json: the entry exists as a file or link. */
static int summary_lookup(api_req *r, char *nn, char md5[33], int *has_md5, enum MHD_Result *ret)
{
    hub_err err;
    repo_lookup lk;
    if (repo_name_check(r->args[0], "repository", &err) < 0 ||
        repo_flist_name(r->args[1], "name", nn, &err) < 0) {
        *ret = api_error(r, 400, err.msg);
        return 1;
    }
    if (repo_lookup_entry(r->srv->store, r->args[0], NULL, nn, &lk, &err) != 0) {
        *ret = api_page(r, 404);
        return 1;
    }
    *has_md5 = target_md5(r, r->args[0], nn, md5);
    return 0;
}

enum MHD_Result h_txt(api_req *r)
{
    char nn[REPO_NAME_MAX + 1], md5[33];
    int has;
    enum MHD_Result ret;
    if (summary_lookup(r, nn, md5, &has, &ret))
        return ret;
    const hub_config *c = &r->srv->cfg;
    char *body = NULL;
    int n = asprintf(&body,
                     "File:     %s\nUploader: %s\nSource:   %s/%s/%s\nStorage:  zdb://%s:%d\nChecksum: %s\n",
                     nn, r->args[0], c->public_website, r->args[0], nn, c->backend_public.host,
                     c->backend_public_port, has ? md5 : "None");
    return api_text_take(r, 200, "text/plain", body, n);
}

enum MHD_Result h_json(api_req *r)
{
    char nn[REPO_NAME_MAX + 1], md5[33];
    int has;
    enum MHD_Result ret;
    if (summary_lookup(r, nn, md5, &has, &ret))
        return ret;
    const hub_config *c = &r->srv->cfg;
    char *source = NULL, *storage = NULL;
    if (asprintf(&source, "%s/%s/%s", c->public_website, r->args[0], nn) < 0)
        return api_page(r, 500);
    if (asprintf(&storage, "zdb://%s:%d", c->backend_public.host, c->backend_public_port) < 0) {
        free(source);
        return api_page(r, 500);
    }
    json_t *o = json_object();
    json_object_set_new(o, "flist", json_string(nn));
    json_object_set_new(o, "uploader", json_string(r->args[0]));
    json_object_set_new(o, "source", json_string(source));
    json_object_set_new(o, "storage", json_string(storage));
    json_object_set_new(o, "checksum", has ? json_string(md5) : json_null());
    free(source);
    free(storage);
    return api_json(r, 200, o);
}
