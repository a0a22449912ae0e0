/* reply.c - building and queueing replies: E-JSON, F-JSON, the envelope,
 * framework error pages, plain text and redirects (HUB-API.md §2, §3). Every
 * reply carries the CORS header of §2.1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "flist_replies.h"

enum MHD_Result api_respond(api_req *r, int status, struct MHD_Response *resp)
{
    if (!resp)
        return MHD_NO;
    if (!MHD_get_response_header(resp, "Access-Control-Allow-Origin"))
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
    if (r->request_id[0] && !MHD_get_response_header(resp, "X-Request-Id"))
        MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    if (ret == MHD_YES) {
        /* counted only when it goes out: a reply libmicrohttpd refused
         * (the connection closes) counts as 499 at completion */
        r->status = status;
        r->replied = 1;
        api_count_request(r);
    }
    return ret;
}

enum MHD_Result api_respond_shared(api_req *r, int status, struct MHD_Response *resp)
{
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)status, resp);
    if (ret == MHD_YES) {
        r->status = status;
        r->replied = 1;
        api_count_request(r);
    }
    return ret;
}

void api_set_reply_bytes(api_req *r, long long n)
{
    r->reply_bytes = n;
}

struct MHD_Response *api_shared_response(const char *ctype, const char *text, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return NULL;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
    return resp;
}

static enum MHD_Result queue_buffer(api_req *r, int status, const char *ctype, char *buf, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(buf);
        return MHD_NO;
    }
    r->reply_bytes = (long long)len;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    return api_respond(r, status, resp);
}

enum MHD_Result api_json(api_req *r, int status, json_t *v)
{
    if (r->capture && v) {
        json_decref(r->captured);
        r->captured = v;
        r->captured_status = status;
        return MHD_YES;
    }
    size_t len;
    char *text = v ? flist_reply_dump(v, &len) : NULL;
    json_decref(v);
    if (!text)
        return api_page(r, 500);
    return queue_buffer(r, status, "application/json", text, len);
}

enum MHD_Result api_success(api_req *r, json_t *payload)
{
    json_t *v = json_pack("{s:s}", "status", "success");
    if (payload && json_object_size(payload) > 0)
        json_object_set(v, "payload", payload);
    json_decref(payload);
    return api_json(r, 200, v);
}

enum MHD_Result api_error(api_req *r, int status, const char *msg)
{
    return api_json(r, status, json_pack("{s:s, s:s}", "status", "error", "message", msg ? msg : ""));
}

enum MHD_Result api_ferror(api_req *r, int status, const char *msg)
{
    return api_fjson(r, status, json_pack("{s:s, s:s}", "message", msg ? msg : "", "status", "error"));
}

enum MHD_Result api_fjson(api_req *r, int status, json_t *v)
{
    int flags = JSON_ENSURE_ASCII | JSON_SORT_KEYS |
                (r->srv->cfg.debug ? JSON_INDENT(2) : JSON_COMPACT);
    char *text = v ? json_dumps(v, flags) : NULL;
    json_decref(v);
    if (!text)
        return api_page(r, 500);
    size_t n = strlen(text);
    char *out = realloc(text, n + 2);
    if (!out) {
        free(text);
        return api_page(r, 500);
    }
    out[n] = '\n';
    out[n + 1] = '\0';
    return queue_buffer(r, status, "application/json", out, n + 1);
}

enum MHD_Result api_page(api_req *r, int status)
{
    static const struct { int code; const char *title, *text; } pages[] = {
        {400, "Bad Request", "The browser (or proxy) sent a request that this server could not understand."},
        {404, "Not Found", "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again."},
        {405, "Method Not Allowed", "The method is not allowed for the requested URL."},
        {413, "Request Entity Too Large", "The data value transmitted exceeds the capacity limit."},
        {416, "Requested Range Not Satisfiable", "The server cannot provide the requested range."},
        {500, "Internal Server Error", "The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application."},
        {503, "Service Unavailable", "The server is temporarily unable to service your request due to maintenance downtime or capacity problems. Please try again later."},
    };
    const char *title = "Internal Server Error", *text = pages[5].text;
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        if (pages[i].code == status) {
            title = pages[i].title;
            text = pages[i].text;
        }
    }
    char *body = NULL;
    int n = asprintf(&body,
                     "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n"
                     "<title>%d %s</title>\n<h1>%s</h1>\n<p>%s</p>\n",
                     status, title, title, text);
    if (n < 0)
        return MHD_NO;
    return queue_buffer(r, status, "text/html; charset=utf-8", body, (size_t)n);
}

enum MHD_Result api_text(api_req *r, int status, const char *ctype, const char *text, size_t len)
{
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return MHD_NO;
    memcpy(copy, text, len);
    return queue_buffer(r, status, ctype, copy, len);
}

enum MHD_Result api_text_take(api_req *r, int status, const char *ctype, char *body, int n)
{
    if (n < 0)
        return api_page(r, 500);   /* asprintf left body undefined: nothing to free */
    return queue_buffer(r, status, ctype, body, (size_t)n);
}

enum MHD_Result api_redirect(api_req *r, const char *location, const char *extra_cookie)
{
    char *abs = NULL;
    if (location[0] == '/') {
        const char *host = api_header(r, "Host");
        const char *proto = api_header(r, "X-Forwarded-Proto");
        if (!proto || (strcmp(proto, "http") && strcmp(proto, "https")))
            proto = "http";
        if (!host || !*host || strpbrk(host, "\r\n/ "))
            host = "localhost";
        if (asprintf(&abs, "%s://%s%s", proto, host, location) < 0)
            return MHD_NO;
        location = abs;
    }
    /* the body shows the target only when it needs no HTML escaping */
    const char *shown = strpbrk(location, "<>\"'&") ? "" : location;
    char *body = NULL;
    int n = asprintf(&body,
                     "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n"
                     "<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n"
                     "<p>You should be redirected automatically to target URL: "
                     "<a href=\"%s\">%s</a>.  If not click the link.",
                     shown, shown);
    if (n < 0) {
        free(abs);
        return MHD_NO;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        free(abs);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, location);
    if (extra_cookie)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, extra_cookie);
    free(abs);
    return api_respond(r, 302, resp);
}
