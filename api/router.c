/* router.c - THE route table of flist-hub-api and its matcher (router.h). */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"

#define G M_GET
#define P M_POST
#define D M_DELETE
#define I M_INFO
#define R(m, p, f, a, b, s) \
    {.methods = (m), .pattern = (p), .fn = (f), .auth = (a), .body = (b), .summary = (s)}

/* Every route of the API. HUB-API.md §4 numbers in the comments; routes
 * marked "ext" are ours (ARCHITECTURE.md, issue 3). */
static api_route TABLE[] = {
    /* §8 downloads and text routes (6-10) */
    R(G, "/<repo>/<name>.txt", h_txt, AUTH_NONE, BODY_NONE, "Text summary of an flist"),
    R(G, "/<repo>/<name>.json", h_json, AUTH_NONE, BODY_NONE, "JSON summary of an flist"),
    R(G, "/<repo>/<name>.flist", h_download, AUTH_NONE, BODY_NONE, "Download an flist"),
    R(G, "/<repo>/tags/<tag>/<name>.flist", h_download_tag, AUTH_NONE, BODY_NONE, "Download a tagged flist"),
    R(G, "/<repo>/<name>.flist.md5", h_md5, AUTH_NONE, BODY_NONE, "MD5 of an flist"),
    /* §5 public API (11-19) */
    R(G, "/api/flist", h_flist_all, AUTH_NONE, BODY_NONE, "Every entry of every repository"),
    R(G, "/api/repositories", h_repositories, AUTH_NONE, BODY_NONE, "List the repositories"),
    R(G, "/api/fileslist", h_fileslist, AUTH_NONE, BODY_NONE, "Listing of every repository"),
    R(G, "/api/flist/<repo>", h_repo_list, AUTH_NONE, BODY_NONE, "List a repository"),
    R(G, "/api/flist/<repo>/tags/<tag>", h_tag_list, AUTH_NONE, BODY_NONE, "List a tag"),
    R(G | I, "/api/flist/<repo>/<name>", h_inspect, AUTH_NONE, BODY_NONE, "Contents (GET) or summary (INFO) of an flist"),
    R(G, "/api/flist/<repo>/<name>/light", h_light, AUTH_NONE, BODY_NONE, "Summary of an flist"),
    R(G, "/api/flist/<repo>/<name>/taglink", h_taglink, AUTH_NONE, BODY_NONE, "Target of a cross-tag link"),
    R(G, "/api/flist/<repo>/<name>/metadata", h_metadata, AUTH_NONE, BODY_NONE, "Metadata of an flist"),
    /* §6 authenticated API (20-31) */
    R(G, "/api/flist/me", h_me, AUTH_BEARER, BODY_NONE, "The effective user"),
    R(G | D | I, "/api/flist/me/<name>", h_me_name, AUTH_BEARER, BODY_NONE, "Contents (GET), summary (INFO) or delete (DELETE) an own flist"),
    R(G, "/api/flist/me/<source>/link/<linkname>", h_me_link, AUTH_BEARER, BODY_NONE, "Link inside the own repository"),
    R(G, "/api/flist/me/<linkname>/crosslink/<repo>/<sourcename>", h_me_crosslink, AUTH_BEARER, BODY_NONE, "Link to another repository's flist"),
    R(G | D, "/api/flist/me/<linkname>/crosstag/<repo>/<tag>", h_me_crosstag, AUTH_BEARER, BODY_NONE, "Create (GET) or remove (DELETE) a link to a tag"),
    R(G | D, "/api/flist/me/<tag>/<linkname>/tag/<repo>/<sourcename>", h_me_tag, AUTH_BEARER, BODY_NONE, "Add (GET) or remove (DELETE) a tag entry"),
    R(G, "/api/flist/me/<source>/rename/<destination>", h_me_rename, AUTH_BEARER, BODY_NONE, "Rename an own flist"),
    R(G, "/api/flist/me/promote/<repo>/<sourcename>/<localname>", h_me_promote, AUTH_BEARER, BODY_NONE, "Copy an flist into the own repository"),
    R(P, "/api/flist/me/upload", h_upload, AUTH_BEARER, BODY_MULTIPART, "Upload an archive (becomes an flist)"),
    R(P, "/api/flist/me/upload-flist", h_upload_flist, AUTH_BEARER, BODY_MULTIPART, "Upload a ready-made flist"),
    R(P, "/api/flist/me/merge/<target>", h_merge, AUTH_BEARER, BODY_SMALL, "Merge flists"),
    R(P, "/api/flist/me/docker", h_docker, AUTH_BEARER, BODY_SMALL, "Convert a container image"),
    /* jobs (36 + ext) */
    R(G, "/listen/<id>", h_listen, AUTH_NONE, BODY_NONE, "Server-sent events of a job"),
    R(G, "/api/jobs/<id>", h_job_status, AUTH_NONE, BODY_NONE, "Status of a job (ext)"),
    /* login and tokens (37, 41-44) */
    R(G, "/token/<token>", h_token_page, AUTH_NONE, BODY_NONE, "Show an API token"),
    R(G, "/login", h_login, AUTH_LOGIN, BODY_NONE, "ThreeFold Connect login"),
    R(G, "/token", h_login_token, AUTH_LOGIN, BODY_NONE, "ThreeFold Connect login that mints an API token"),
    R(G, "/callback_threebot", h_callback_threebot, AUTH_LOGIN, BODY_NONE, "Login callback (web session)"),
    R(G, "/callback_token", h_callback_token, AUTH_LOGIN, BODY_NONE, "Login callback (API token)"),
    R(G, "/api/session", h_session, AUTH_NONE, BODY_NONE, "The web session's user (ext)"),
    /* itsyou.online (45, 46): the service is shut down; both answer 410 */
    R(G, "/login-iyo", h_iyo_gone, AUTH_NONE, BODY_NONE, "itsyou.online login: 410, the service is shut down"),
    R(G, "/_iyo_callback", h_iyo_gone, AUTH_NONE, BODY_NONE, "itsyou.online callback: 410, the service is shut down"),
    /* operations (ext) */
    R(G, "/healthz", h_healthz, AUTH_NONE, BODY_NONE, "Process alive"),
    R(G, "/readyz", h_readyz, AUTH_NONE, BODY_NONE, "Redis, backend and directories ready"),
    R(G, "/metrics", h_metrics, AUTH_NONE, BODY_NONE, "Prometheus metrics"),
    R(G, "/api/openapi.json", h_openapi, AUTH_NONE, BODY_NONE, "This OpenAPI document"),
    /* web pages (1-5, 32-35, 38-40, 47; issue 10) */
    R(G, "/", h_web_home, AUTH_NONE, BODY_NONE, "Web: the repository list"),
    R(G, "/search", h_web_search, AUTH_NONE, BODY_NONE, "Web: search"),
    R(G, "/<repo>", h_web_repo, AUTH_NONE, BODY_NONE, "Web: a repository"),
    R(G, "/<repo>/tags/<tag>", h_web_tag, AUTH_NONE, BODY_NONE, "Web: a tag"),
    R(G, "/<repo>/<name>.md", h_web_preview, AUTH_NONE, BODY_NONE, "Web: preview of an flist"),
    R(G, "/upload", h_web_form, AUTH_SESSION, BODY_NONE, "Web: archive upload form"),
    R(P, "/upload", h_web_upload, AUTH_SESSION, BODY_MULTIPART, "Web: upload an archive (async job)"),
    R(G, "/upload-flist", h_web_form, AUTH_SESSION, BODY_NONE, "Web: flist upload form"),
    R(P, "/upload-flist", h_web_upload_flist, AUTH_SESSION, BODY_MULTIPART, "Web: upload a self-made flist (async job)"),
    R(G, "/merge", h_web_form, AUTH_SESSION, BODY_NONE, "Web: merge form"),
    R(P, "/merge", h_web_merge, AUTH_SESSION, BODY_SMALL, "Web: merge flists (async job)"),
    R(G, "/docker-convert", h_web_form, AUTH_SESSION, BODY_NONE, "Web: Docker conversion form"),
    R(P, "/docker-convert", h_web_docker, AUTH_SESSION, BODY_SMALL, "Web: convert a Docker image (async job)"),
    R(G, "/login-method", h_web_login_method, AUTH_NONE, BODY_NONE, "Web: how to log in"),
    R(G, "/readonly", h_web_readonly, AUTH_NONE, BODY_NONE, "Web: readonly notice (302 to / when writable)"),
    R(G, "/logout", h_web_logout, AUTH_NONE, BODY_NONE, "Web: end the web session"),
    R(G, "/static/<file>", h_web_static, AUTH_NONE, BODY_NONE, "Web: style sheet, script, icons"),
    R(G, "/api/search", h_api_search, AUTH_NONE, BODY_NONE, "Search every flist by name (ext)"),
};
#define NROUTES (sizeof TABLE / sizeof TABLE[0])

static void parse_pattern(api_route *rt)
{
    snprintf(rt->seg_buf, sizeof rt->seg_buf, "%s", rt->pattern + 1);
    char *save = NULL;
    int has_vars = 0;
    rt->nsegs = 0;
    for (char *tok = strtok_r(rt->seg_buf, "/", &save); tok && rt->nsegs < API_MAX_SEGS;
         tok = strtok_r(NULL, "/", &save)) {
        int i = rt->nsegs++;
        if (tok[0] == '<') {
            char *close = strchr(tok, '>');
            has_vars = 1;
            rt->seg_lit[i] = NULL;
            rt->seg_suffix[i] = close && close[1] ? close + 1 : NULL;
            rt->sort_key[2 + i] = rt->seg_suffix[i] ? 1 : 2;
        } else {
            rt->seg_lit[i] = tok;
            rt->sort_key[2 + i] = 0;
        }
    }
    rt->sort_key[0] = has_vars;
    rt->sort_key[1] = -rt->nsegs;
}

static int cmp_route(const void *a, const void *b)
{
    const api_route *x = a, *y = b;
    for (int i = 0; i < API_MAX_SEGS + 2; i++)
        if (x->sort_key[i] != y->sort_key[i])
            return x->sort_key[i] - y->sort_key[i];
    return 0;
}

void router_init(void)
{
    for (size_t i = 0; i < NROUTES; i++)
        parse_pattern(&TABLE[i]);
    /* stable enough: keys differ for every pair that can match one path */
    qsort(TABLE, NROUTES, sizeof TABLE[0], cmp_route);
    /* the segment pointers point into each route's own buffer: parse again
     * at the routes' new places */
    for (size_t i = 0; i < NROUTES; i++)
        parse_pattern(&TABLE[i]);
}

const api_route *router_table(size_t *n)
{
    *n = NROUTES;
    return TABLE;
}

unsigned router_method_bit(const char *m)
{
    if (strcmp(m, "GET") == 0) return M_GET;
    if (strcmp(m, "HEAD") == 0) return M_HEAD;
    if (strcmp(m, "POST") == 0) return M_POST;
    if (strcmp(m, "DELETE") == 0) return M_DELETE;
    if (strcmp(m, "INFO") == 0) return M_INFO;
    if (strcmp(m, "OPTIONS") == 0) return M_OPTIONS;
    return 0;
}

static unsigned effective_methods(const api_route *rt)
{
    unsigned m = rt->methods | M_OPTIONS;
    if (m & M_GET)
        m |= M_HEAD;
    return m;
}

static int seg_matches(const api_route *rt, int i, const char *seg)
{
    if (rt->seg_lit[i])
        return strcmp(rt->seg_lit[i], seg) == 0;
    if (seg[0] == '\0')
        return 0;
    if (rt->seg_suffix[i]) {
        size_t a = strlen(seg), b = strlen(rt->seg_suffix[i]);
        return a > b && memcmp(seg + a - b, rt->seg_suffix[i], b) == 0;
    }
    return 1;
}

static int route_matches(const api_route *rt, api_req *r)
{
    if (rt->nsegs != r->nsegs)
        return 0;
    for (int i = 0; i < rt->nsegs; i++)
        if (!seg_matches(rt, i, r->segs[i]))
            return 0;
    return 1;
}

int router_match(api_req *r, int auth_enabled, unsigned *allow)
{
    unsigned want = router_method_bit(r->method);
    *allow = 0;
    const api_route *chosen = NULL;
    for (size_t i = 0; i < NROUTES; i++) {
        const api_route *rt = &TABLE[i];
        if (rt->auth == AUTH_LOGIN && !auth_enabled)
            continue;
        if (!route_matches(rt, r))
            continue;
        unsigned m = effective_methods(rt);
        *allow |= m;
        if (!chosen && want && (m & want) && want != M_OPTIONS)
            chosen = rt;
    }
    if (!*allow)
        return 404;
    if (!chosen)
        return 405;
    r->route = chosen;
    r->nargs = 0;
    for (int i = 0; i < chosen->nsegs && r->nargs < API_MAX_ARGS; i++) {
        if (chosen->seg_lit[i])
            continue;
        char *seg = r->segs[i];
        if (chosen->seg_suffix[i])
            seg[strlen(seg) - strlen(chosen->seg_suffix[i])] = '\0';
        r->args[r->nargs++] = seg;
    }
    return 0;
}

void router_allow_header(unsigned m, char *out, size_t n)
{
    static const struct { unsigned bit; const char *name; } order[] = {
        {M_INFO, "INFO"}, {M_DELETE, "DELETE"}, {M_GET, "GET"}, {M_HEAD, "HEAD"},
        {M_POST, "POST"}, {M_OPTIONS, "OPTIONS"},
    };
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (!(m & order[i].bit))
            continue;
        int k = snprintf(out + o, n - o, "%s%s", o ? ", " : "", order[i].name);
        if (k < 0 || (size_t)k >= n - o)
            break;
        o += (size_t)k;
    }
}

/* "/api/flist/<repo>" -> "/api/flist/{repo}" */
static void openapi_path(const char *pattern, char *out, size_t n)
{
    size_t o = 0;
    for (const char *p = pattern; *p && o + 1 < n; p++)
        out[o++] = *p == '<' ? '{' : *p == '>' ? '}' : *p;
    out[o] = '\0';
}

json_t *router_openapi(const hub_config *cfg)
{
    json_t *paths = json_object();
    for (size_t i = 0; i < NROUTES; i++) {
        const api_route *rt = &TABLE[i];
        char path[512];
        openapi_path(rt->pattern, path, sizeof path);
        json_t *item = json_object_get(paths, path);
        if (!item) {
            item = json_object();
            json_t *params = json_array();
            /* collect variable names in pattern order */
            for (const char *q = rt->pattern; (q = strchr(q, '<'));) {
                const char *e = strchr(q, '>');
                if (!e)
                    break;
                json_array_append_new(params, json_pack("{s:s%, s:s, s:b, s:{s:s}}", "name", q + 1,
                                                        (size_t)(e - q - 1), "in", "path",
                                                        "required", 1, "schema", "type", "string"));
                q = e;
            }
            json_object_set_new(item, "parameters", params);
            json_object_set_new(paths, path, item);
        }
        static const struct { unsigned bit; const char *key; } ops[] = {
            {M_GET, "get"}, {M_POST, "post"}, {M_DELETE, "delete"}, {M_INFO, "x-info"},
        };
        for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
            if (!(rt->methods & ops[k].bit))
                continue;
            json_t *op = json_pack("{s:s, s:{s:{s:s}}}", "summary", rt->summary, "responses",
                                   "200", "description", "success");
            if (rt->auth == AUTH_BEARER)
                json_object_set_new(op, "security", json_pack("[{s:[]}]", "bearer"));
            if (rt->body == BODY_MULTIPART)
                json_object_set_new(op, "requestBody",
                                    json_pack("{s:{s:{s:{s:s}}}}", "content", "multipart/form-data",
                                              "schema", "type", "object"));
            else if (rt->body == BODY_SMALL)
                json_object_set_new(op, "requestBody",
                                    json_pack("{s:{s:{s:{s:s}}}}", "content", "application/json",
                                              "schema", "type", "array"));
            json_object_set_new(item, ops[k].key, op);
        }
    }
    return json_pack("{s:s, s:{s:s, s:s, s:s}, s:[{s:s}], s:o, s:{s:{s:{s:s, s:s}}}}",
                     "openapi", "3.0.3",
                     "info", "title", "flist-hub API", "version", "0.1.0",
                     "description", "The flist hub: repositories of flists, downloads, uploads and jobs.",
                     "servers", "url", cfg->public_website,
                     "paths", paths,
                     "components", "securitySchemes", "bearer", "type", "http", "scheme", "bearer");
}

void router_print(void *out_FILE)
{
    FILE *out = out_FILE;
    static const char *auth_names[] = {"none", "bearer", "login", "session"};
    for (size_t i = 0; i < NROUTES; i++) {
        char allow[128];
        router_allow_header(TABLE[i].methods, allow, sizeof allow);
        fprintf(out, "%s %s %s\n", allow, TABLE[i].pattern, auth_names[TABLE[i].auth]);
    }
}
