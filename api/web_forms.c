/* web_forms.c - the POSTs of the web forms (HUB-API.md §9.2-§9.5): /upload,
 * /upload-flist, /merge and /docker-convert, behind the session gate and the
 * CSRF check (server.c, web_session.c).
 *
 * Our own pages send the X-CSRF-Token header: each such post runs the API
 * route's own validation and job (h_jobs.c) for the session's user, always
 * in async mode: the reply is 202 {"payload": {"job", "status_url",
 * "events_url"}} or the API's error envelope, and the page follows the job
 * on /listen. A post without the header is the original's form
 * (web_form_compat) and is answered as the original answers it
 * (web_compat.c).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "handlers.h"
#include "web.h"

enum MHD_Result h_web_upload(api_req *r)
{
    if (web_form_compat(r))
        return web_compat_upload(r);
    r->force_async = 1;
    return h_upload(r);
}

enum MHD_Result h_web_upload_flist(api_req *r)
{
    if (web_form_compat(r))
        return web_compat_upload_flist(r);
    r->force_async = 1;
    return h_upload_flist(r);
}

int web_form_set_merge(api_req *r, json_t *sources, const char *name)
{
    char *text = json_dumps(sources, JSON_COMPACT);
    r->scratch = strdup(name);
    if (!text || !r->scratch) {
        free(text);
        return -1;
    }
    free(r->body);
    r->body = text;
    r->body_len = strlen(text);
    r->body_cap = r->body_len + 1;
    r->args[0] = r->scratch;
    r->nargs = 1;
    return 0;
}

/* Body: JSON {"name": "<target>", "sources": ["repo/name", ...]} in the
 * order to merge, or the original's form fields name and flists[]. */
enum MHD_Result h_web_merge(api_req *r)
{
    if (web_form_compat(r))
        return web_compat_merge(r);
    r->force_async = 1;
    const char *ctype = api_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    json_t *body, *sources;
    const char *name;
    if (ctype && (strncasecmp(ctype, "multipart/form-data", 19) == 0 ||
                  strncasecmp(ctype, "application/x-www-form-urlencoded", 33) == 0)) {
        body = web_form_parse(r);
        name = web_form_value(body, "name");
        sources = json_object_get(body, "flists[]");
        if (!sources)
            sources = json_object_get(body, "flists");
        if (body && !sources)
            json_object_set_new(body, "flists[]", sources = json_array());
    } else {
        body = r->body ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
        name = json_string_value(json_object_get(body, "name"));
        sources = json_object_get(body, "sources");
    }
    if (!json_is_object(body) || !json_is_array(sources)) {
        json_decref(body);
        return api_error(r, 400, "malformed request: expected {\"name\": ..., \"sources\": [...]}");
    }
    if (!name || !*name) {
        json_decref(body);
        return api_error(r, 400, "missing build (target) name");
    }
    int rc = web_form_set_merge(r, sources, name);
    json_decref(body);
    if (rc < 0)
        return api_page(r, 500);
    return h_merge(r);
}

/* Body: form field `image` (urlencoded), as the API route, or the
 * original's field docker-input. */
enum MHD_Result h_web_docker(api_req *r)
{
    if (web_form_compat(r))
        return web_compat_docker(r);
    r->force_async = 1;
    json_t *form = web_form_parse(r);
    const char *image = web_form_value(form, "image");
    const char *theirs = web_form_value(form, "docker-input");
    int rc = !image && theirs ? web_form_set_image(r, theirs) : 0;
    json_decref(form);
    if (rc < 0)
        return api_page(r, 500);
    return h_docker(r);
}
