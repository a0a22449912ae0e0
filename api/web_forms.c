/* web_forms.c - the POSTs of the web forms (HUB-API.md §9.2-§9.5): /upload,
 * /upload-flist, /merge and /docker-convert, behind the session gate and the
 * CSRF check (server.c, web_session.c). Each runs the API route's own
 * validation and job (h_jobs.c) for the session's user, always in async
 * mode: the reply is 202 {"payload": {"job", "status_url", "events_url"}}
 * or the API's error envelope, and the page follows the job on /listen.
 * This replaces the original's 200-for-everything replies and its
 * re-rendered forms (D35) with one JSON contract the page script reads.
 */
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "web.h"

enum MHD_Result h_web_upload(api_req *r)
{
    r->force_async = 1;
    return h_upload(r);
}

enum MHD_Result h_web_upload_flist(api_req *r)
{
    r->force_async = 1;
    return h_upload_flist(r);
}

/* Body: JSON {"name": "<target>", "sources": ["repo/name", ...]} in the
 * order to merge. */
enum MHD_Result h_web_merge(api_req *r)
{
    r->force_async = 1;
    json_t *body = r->body ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
    const char *name = json_string_value(json_object_get(body, "name"));
    json_t *sources = json_object_get(body, "sources");
    if (!json_is_object(body) || !json_is_array(sources)) {
        json_decref(body);
        return api_error(r, 400, "malformed request: expected {\"name\": ..., \"sources\": [...]}");
    }
    if (!name || !*name) {
        json_decref(body);
        return api_error(r, 400, "missing build (target) name");
    }
    char *text = json_dumps(sources, JSON_COMPACT);
    r->scratch = strdup(name);
    json_decref(body);
    if (!text || !r->scratch) {
        free(text);
        return api_page(r, 500);
    }
    free(r->body);
    r->body = text;
    r->body_len = strlen(text);
    r->body_cap = r->body_len + 1;
    r->args[0] = r->scratch;
    r->nargs = 1;
    return h_merge(r);
}

/* Body: form field `image` (urlencoded), as the API route. */
enum MHD_Result h_web_docker(api_req *r)
{
    r->force_async = 1;
    return h_docker(r);
}
