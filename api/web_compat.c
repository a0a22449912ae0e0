/* web_compat.c - the original hub's web form posts, answered as it answers
 * them (HUB-API.md §9.2-§9.5), for its HTML forms posted by a browser and
 * for the scripts that drive them with a session cookie: a post without
 * our X-CSRF-Token header (web_form_compat; the cross-site check ran in
 * web_session.c). The API route's own validation and job (h_jobs.c) run
 * with their reply captured (r->capture), then the reply takes the
 * original's form:
 *   POST /upload          200 F-JSON {"jobid", "status": "success"} or
 *                         {"message", "status": "error"}; the job runs on
 *   POST /upload-flist    waits for the job: the "Well done" page, or the
 *                         form again with "Oops: <message>"
 *   POST /merge           fields flists[] and name; as /upload-flist; a
 *                         missing name field is the 400 page
 *   POST /docker-convert  field docker-input (or ours, image): the progress
 *                         page "Job ID: <id>" that follows /listen/<id>, or
 *                         the form with "Oops: <message>"
 * Form pages with a message are 200 as in the original, except when the
 * hub itself cannot serve (queue down: 503, wait timed out: 504).
 * Also the parser of small form bodies (urlencoded or multipart) that
 * keeps repeated fields (flists[]).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "handlers.h"
#include "util.h"
#include "web.h"

/* Longest multipart boundary accepted (RFC 2046: 70). */
#define FORM_BOUNDARY_MAX 200
/* Most fields a form body may hold. */
#define FORM_FIELDS_MAX 512

/* Appends value (n bytes) to the array of field key in form. Returns 0, or
 * -1 when the value is not UTF-8 or the form has too many fields. */
static int form_add(json_t *form, const char *key, size_t kn, const char *value, size_t vn)
{
    char name[256];
    if (kn >= sizeof name)
        return -1;
    memcpy(name, key, kn);
    name[kn] = '\0';
    json_t *v = json_stringn(value, vn);
    if (!v)
        return -1;
    json_t *arr = json_object_get(form, name);
    if (!arr) {
        if (json_object_size(form) >= FORM_FIELDS_MAX) {
            json_decref(v);
            return -1;
        }
        arr = json_array();
        json_object_set_new(form, name, arr);
    }
    if (json_array_size(arr) >= FORM_FIELDS_MAX) {
        json_decref(v);
        return -1;
    }
    return json_array_append_new(arr, v);
}

static int parse_urlencoded(json_t *form, const char *body, size_t len)
{
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *seg_end = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(seg_end - p));
        if (seg_end > p) {
            const char *kend = eq ? eq : seg_end;
            int nul = 0;
            char *k = util_pct_decode(p, (size_t)(kend - p), 1, &nul);
            char *v = eq ? util_pct_decode(eq + 1, (size_t)(seg_end - eq - 1), 1, &nul) : strdup("");
            int rc = (!k || !v || nul) ? -1 : form_add(form, k, strlen(k), v, strlen(v));
            free(k);
            free(v);
            if (rc < 0)
                return -1;
        }
        p = seg_end + 1;
    }
    return 0;
}

/* The value of parameter param ("name", "boundary") in a header value, into
 * out (size n), quotes removed. Returns 0 or -1 when absent. */
static int header_param(const char *h, size_t hn, const char *param, char *out, size_t n)
{
    size_t pl = strlen(param);
    for (size_t i = 0; i + pl + 1 <= hn; i++) {
        if ((i > 0 && h[i - 1] != ';' && h[i - 1] != ' ' && h[i - 1] != '\t') ||
            strncasecmp(h + i, param, pl) != 0 || h[i + pl] != '=')
            continue;
        const char *v = h + i + pl + 1, *e = h + hn;
        size_t k = 0;
        if (v < e && *v == '"') {
            for (v++; v < e && *v != '"' && k + 1 < n; v++)
                out[k++] = *v;
        } else {
            for (; v < e && *v != ';' && *v != ' ' && *v != '\r' && k + 1 < n; v++)
                out[k++] = *v;
        }
        out[k] = '\0';
        return 0;
    }
    return -1;
}

static int parse_multipart(json_t *form, const char *ctype, const char *body, size_t len)
{
    char b[FORM_BOUNDARY_MAX + 1], delim[FORM_BOUNDARY_MAX + 8];
    if (header_param(ctype, strlen(ctype), "boundary", b, sizeof b) < 0 || !b[0])
        return -1;
    int dn = snprintf(delim, sizeof delim, "\r\n--%s", b);
    const char *end = body + len;
    /* the first delimiter may start the body without its CRLF */
    const char *p = memmem(body, len, delim + 2, (size_t)dn - 2);
    if (!p)
        return -1;
    p += dn - 2;
    while (p + 2 <= end && !(p[0] == '-' && p[1] == '-')) {
        const char *hdr = memmem(p, (size_t)(end - p), "\r\n", 2);
        const char *hdr_end = hdr ? memmem(hdr, (size_t)(end - hdr), "\r\n\r\n", 4) : NULL;
        if (!hdr_end)
            return -1;
        const char *data = hdr_end + 4;
        const char *next = memmem(data, (size_t)(end - data), delim, (size_t)dn);
        if (!next)
            return -1;
        /* the part's Content-Disposition: its name, and no filename */
        char name[256], fname[8];
        const char *cd = NULL;
        for (const char *q = hdr; q && q < hdr_end; q = memmem(q + 2, (size_t)(hdr_end - q - 1), "\r\n", 2))
            if ((size_t)(hdr_end - q) > 22 && strncasecmp(q + 2, "Content-Disposition:", 20) == 0) {
                cd = q + 2;
                break;
            }
        if (cd) {
            const char *cd_end = memmem(cd, (size_t)(hdr_end + 2 - cd), "\r\n", 2);
            size_t cn = (size_t)((cd_end ? cd_end : hdr_end) - cd);
            if (header_param(cd, cn, "name", name, sizeof name) == 0 &&
                header_param(cd, cn, "filename", fname, sizeof fname) < 0 &&
                form_add(form, name, strlen(name), data, (size_t)(next - data)) < 0)
                return -1;
        }
        p = next + dn;
    }
    return 0;
}

json_t *web_form_parse(api_req *r)
{
    const char *ctype = api_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    json_t *form = json_object();
    if (!form)
        return NULL;
    const char *body = r->body ? r->body : "";
    int rc = 0;
    if (ctype && strncasecmp(ctype, "multipart/form-data", 19) == 0)
        rc = parse_multipart(form, ctype, body, r->body_len);
    else if (ctype && strncasecmp(ctype, "application/x-www-form-urlencoded", 33) == 0)
        rc = parse_urlencoded(form, body, r->body_len);
    if (rc < 0) {
        json_decref(form);
        return NULL;
    }
    return form;
}

const char *web_form_value(json_t *form, const char *name)
{
    return json_string_value(json_array_get(json_object_get(form, name), 0));
}

/* ---------------- replies in the original's form ---------------- */

/* The status of a form page showing a captured error: 200 as the
 * original, except the hub's own unavailability. */
static int oops_status(int captured)
{
    return captured == 503 || captured == 504 ? captured : 200;
}

/* The form page `page` (title) again, with "Oops: <msg>". */
static enum MHD_Result oops_page(api_req *r, int status, const char *page, const char *title, const char *msg)
{
    char oops[HUB_ERR_MAX + 64];
    snprintf(oops, sizeof oops, "Oops: %s", msg && *msg ? msg : "the request failed");
    web_var v[] = {{"me", r->auth.user}, {"oops", oops}};
    return web_page(r, status, page, title, v, 2, NULL);
}

/* The "Well done" page of §9.3/§9.4 for the flist file name in `me`. */
static enum MHD_Result done_page(api_req *r, const char *file)
{
    const hub_config *c = &r->srv->cfg;
    char source[4096], storage[512];
    snprintf(source, sizeof source, "%s/%s/%s", c->public_website, r->auth.user, file);
    snprintf(storage, sizeof storage, "zdb://%s:%d", c->backend_public.host, c->backend_public_port);
    web_var v[] = {{"me", r->auth.user}, {"file", file}, {"source", source}, {"storage", storage}};
    return web_page(r, 200, "done", "Well done", v, sizeof v / sizeof v[0], NULL);
}

/* After a captured handler: 1 when a reply is still to be given from
 * r->captured; 0 when the handler replied itself (a 500 page) or waits for
 * its job (the handler runs again when the wait ends). */
static int have_capture(api_req *r)
{
    r->capture = 0;
    return !r->replied && r->captured != NULL;
}

static const char *captured_message(api_req *r)
{
    return json_string_value(json_object_get(r->captured, "message"));
}

static int captured_ok(api_req *r)
{
    const char *st = json_string_value(json_object_get(r->captured, "status"));
    return r->captured_status < 300 && st && strcmp(st, "success") == 0;
}

enum MHD_Result web_compat_upload(api_req *r)
{
    r->force_async = 1;
    r->capture = 1;
    enum MHD_Result ret = h_upload(r);
    if (!have_capture(r))
        return ret;
    if (captured_ok(r)) {
        const char *id = json_string_value(json_object_get(json_object_get(r->captured, "payload"), "job"));
        return api_fjson(r, 200, json_pack("{s:s, s:s}", "jobid", id ? id : "", "status", "success"));
    }
    return api_fjson(r, oops_status(r->captured_status),
                     json_pack("{s:s, s:s}", "message", captured_message(r) ? captured_message(r) : "",
                               "status", "error"));
}

enum MHD_Result web_compat_upload_flist(api_req *r)
{
    r->capture = 1;
    enum MHD_Result ret = h_upload_flist(r);
    if (!have_capture(r))
        return ret;
    if (captured_ok(r)) {
        const char *f = json_string_value(json_object_get(json_object_get(r->captured, "payload"), "name"));
        return done_page(r, f ? f : "");
    }
    return oops_page(r, oops_status(r->captured_status), "upload-flist", "Upload a self-made flist",
                     captured_message(r));
}

enum MHD_Result web_compat_merge(api_req *r)
{
    static const char page[] = "merge", title[] = "Merge flists";
    if (!r->wait) {
        json_t *form = web_form_parse(r);
        const char *name = web_form_value(form, "name");
        if (!form || !name) {
            json_decref(form);
            return api_page(r, 400);
        }
        if (!*name || strchr(name, '/')) {
            const char *msg = *name ? "build name not allowed" : "missing build (target) name";
            json_decref(form);
            return oops_page(r, 200, page, title, msg);
        }
        json_t *sources = json_object_get(form, "flists[]");
        if (!sources)
            sources = json_object_get(form, "flists");
        json_t *none = sources ? NULL : json_array();
        int rc = web_form_set_merge(r, sources ? sources : none, name);
        json_decref(none);
        json_decref(form);
        if (rc != 0)
            return api_page(r, 500);
    }
    r->capture = 1;
    enum MHD_Result ret = h_merge(r);
    if (!have_capture(r))
        return ret;
    char file[REPO_NAME_MAX + 1];
    hub_err err = {0};
    if (captured_ok(r) && repo_flist_name(r->scratch, "name", file, &err) == 0)
        return done_page(r, file);
    return oops_page(r, oops_status(r->captured_status), page, title, captured_message(r));
}

enum MHD_Result web_compat_docker(api_req *r)
{
    static const char page[] = "docker", title[] = "Convert a Docker image";
    json_t *form = web_form_parse(r);
    const char *image = web_form_value(form, "docker-input");
    if (!image)
        image = web_form_value(form, "image");
    if (!image || !*image) {
        json_decref(form);
        return oops_page(r, 200, page, title, "missing docker image name");
    }
    if (web_form_set_image(r, image) < 0) {
        json_decref(form);
        return api_page(r, 500);
    }
    json_decref(form);
    r->force_async = 1;
    r->capture = 1;
    enum MHD_Result ret = h_docker(r);
    if (!have_capture(r))
        return ret;
    if (!captured_ok(r))
        return oops_page(r, oops_status(r->captured_status), page, title, captured_message(r));
    const char *id = json_string_value(json_object_get(json_object_get(r->captured, "payload"), "job"));
    char line[128];
    snprintf(line, sizeof line, "Job ID: %s", id ? id : "");
    web_var v[] = {{"me", r->auth.user}, {"job", id ? id : ""}, {"jobline", line}};
    return web_page(r, 200, page, title, v, sizeof v / sizeof v[0], NULL);
}

int web_form_set_image(api_req *r, const char *image)
{
    size_t n = strlen(image);
    char *body = malloc(6 + 3 * n + 1);
    if (!body)
        return -1;
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    memcpy(body, "image=", 6);
    o = 6;
    for (const unsigned char *p = (const unsigned char *)image; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p)) {
            body[o++] = (char)*p;
        } else {
            body[o++] = '%';
            body[o++] = hex[*p >> 4];
            body[o++] = hex[*p & 15];
        }
    }
    body[o] = '\0';
    free(r->body);
    r->body = body;
    r->body_len = o;
    r->body_cap = o + 1;
    r->body_ctype = "application/x-www-form-urlencoded";
    return 0;
}
