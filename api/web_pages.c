/* web_pages.c - the HTML pages of the hub (HUB-API.md §8.6, §9): the
 * repository list, a repository, a tag, search, the preview page of an
 * flist, the forms (behind the session gate, server.c), the token page,
 * /login-method, /readonly, /logout, and GET /api/search (ext).
 *
 * Each page is a template of the web root (web_tmpl.c) filled on the server
 * with what decides its status (a 404 for an unknown repository, tag or
 * flist is a real 404) and what the first paint shows (names, the MD5, the
 * download URL); the lists inside are filled by /static/hub.js from the JSON
 * API with textContent only. Every reply carries a Content-Security-Policy
 * without 'unsafe-inline' and refuses framing.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "handlers.h"
#include "inspect.h"
#include "web.h"

#define CSP "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
            "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; " \
            "frame-ancestors 'none'"

void web_security_headers(struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "Content-Security-Policy", CSP);
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
}

/* The accounts the session's user may act as, as a JSON array text: the
 * user who logged in, then the virtual users mapped to them (§12.5). */
static char *accounts_json(api_req *r)
{
    json_t *a = json_array();
    const char *who = r->auth.identity[0] ? r->auth.identity : r->auth.user;
    json_array_append_new(a, json_string(who));
    for (size_t i = 0; i < r->srv->cfg.n_users_map; i++)
        if (strcmp(r->srv->cfg.users_map_user[i], who) == 0)
            json_array_append_new(a, json_string(r->srv->cfg.users_map_virtual[i]));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

enum MHD_Result web_page(api_req *r, int status, const char *page, const char *title,
                         const web_var *vars, size_t n, const char *extra_cookie)
{
    web_ctx *w = r->srv->web;
    char token[WEB_CSRF_LEN + 1];
    int fresh = 0;
    web_csrf_token(r, token, &fresh);
    /* the top bar names the session's user when there is one */
    auth_result saved = r->auth;
    const char *user = "";
    char *accounts = NULL;
    if (!r->gated) {
        if (auth_session_gate(r->srv->auth, api_cookie(r, WEB_SESSION_COOKIE), api_cookie(r, "active-user"),
                              api_unix_now(), &r->auth) == 0 && r->srv->cfg.authentication)
            user = r->auth.user;
    } else if (r->srv->cfg.authentication) {
        user = r->auth.user;
    }
    if (extra_cookie && strstr(extra_cookie, WEB_SESSION_COOKIE "=;"))
        user = ""; /* logging out */
    if (*user)
        accounts = accounts_json(r);
    web_var all[WEB_VARS_MAX];
    size_t k = 0;
    all[k++] = (web_var){"title", title};
    all[k++] = (web_var){"page", page};
    all[k++] = (web_var){"csrf", token};
    all[k++] = (web_var){"user", user};
    all[k++] = (web_var){"accounts", accounts ? accounts : "[]"};
    all[k++] = (web_var){"readonly", r->srv->cfg.readonly ? "1" : "0"};
    all[k++] = (web_var){"auth", r->srv->cfg.authentication ? "1" : "0"};
    all[k++] = (web_var){"debug", r->srv->cfg.debug ? "1" : "0"};
    all[k++] = (web_var){"website", r->srv->cfg.public_website};
    for (size_t i = 0; i < n && k < WEB_VARS_MAX; i++)
        all[k++] = vars[i];
    size_t len = 0;
    char *body = web_render(w, page, all, k, &len);
    free(accounts);
    if (!r->gated)
        r->auth = saved;
    if (!body)
        return api_page(r, 500);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    web_security_headers(resp);
    if (fresh) {
        /* Secure when the hub is reached over https (public-website, or a
         * proxy that says so) */
        const char *proto = api_header(r, "X-Forwarded-Proto");
        int secure = strncmp(r->srv->cfg.public_website, "https:", 6) == 0 ||
                     (proto && strcmp(proto, "https") == 0);
        char cookie[WEB_CSRF_LEN + 96];
        snprintf(cookie, sizeof cookie, WEB_CSRF_COOKIE "=%s; HttpOnly; Path=/; SameSite=Strict%s", token,
                 secure ? "; Secure" : "");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, cookie);
    }
    if (extra_cookie)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, extra_cookie);
    return api_respond(r, status, resp);
}

/* The 404 page of the web UI (a real 404, with the layout). */
static enum MHD_Result not_found(api_req *r, const char *what)
{
    web_var v[] = {{"what", what}};
    return web_page(r, 404, "notfound", "Not found", v, 1, NULL);
}

enum MHD_Result h_web_home(api_req *r)
{
    return web_page(r, 200, "home", "Repositories", NULL, 0, NULL);
}

enum MHD_Result h_web_search(api_req *r)
{
    char q[256];
    if (!api_query(r, "q", q, sizeof q))
        q[0] = '\0';
    web_var v[] = {{"q", q}};
    return web_page(r, 200, "search", "Search", v, 1, NULL);
}

enum MHD_Result h_web_repo(api_req *r)
{
    const char *repo = r->args[0];
    hub_err err;
    if (repo_name_check(repo, "repository", &err) < 0 || !repo_exists(r->srv->store, repo, NULL))
        return not_found(r, "repository");
    web_var v[] = {{"repo", repo}};
    return web_page(r, 200, "repo", repo, v, 1, NULL);
}

enum MHD_Result h_web_tag(api_req *r)
{
    const char *repo = r->args[0], *tag = r->args[1];
    hub_err err;
    repo_entry *e = NULL;
    size_t n = 0;
    if (repo_name_check(repo, "repository", &err) < 0 ||
        repo_list_tag(r->srv->store, repo, tag, &e, &n, &err) < 0)
        return not_found(r, "tag");
    repo_entries_free(e, n);
    char title[2 * REPO_NAME_MAX + 8];
    snprintf(title, sizeof title, "%s: %s", repo, tag);
    web_var v[] = {{"repo", repo}, {"tag", tag}};
    return web_page(r, 200, "tag", title, v, 2, NULL);
}

enum MHD_Result h_web_preview(api_req *r)
{
    const char *repo = r->args[0];
    char nn[REPO_NAME_MAX + 1], md5[33] = "", url[4096], storage[512], size[64] = "";
    hub_err err;
    repo_lookup lk;
    if (repo_name_check(repo, "repository", &err) < 0 || repo_flist_name(r->args[1], "name", nn, &err) < 0 ||
        repo_lookup_entry(r->srv->store, repo, NULL, nn, &lk, &err) != 0)
        return not_found(r, "flist");
    struct stat st;
    int fd = repo_open_target(r->srv->store, repo, NULL, nn, &st, &err);
    if (fd >= 0) {
        if (inspect_md5(r->srv, fd, &st, md5, &err) < 0)
            md5[0] = '\0';
        repo_format_size((uint64_t)st.st_size, size, sizeof size);
        close(fd);
    }
    const hub_config *c = &r->srv->cfg;
    snprintf(url, sizeof url, "%s/%s/%s", c->public_website, repo, nn);
    snprintf(storage, sizeof storage, "zdb://%s:%d", c->backend_public.host, c->backend_public_port);
    web_var v[] = {
        {"repo", repo}, {"name", nn}, {"url", url}, {"md5", md5[0] ? md5 : "(dangling link)"},
        {"storage", storage}, {"size", size},
        {"target", lk.is_link ? lk.link_text : ""},
    };
    return web_page(r, 200, "preview", nn, v, sizeof v / sizeof v[0], NULL);
}

enum MHD_Result h_web_login_method(api_req *r)
{
    return web_page(r, 200, "login-method", "Log in", NULL, 0, NULL);
}

enum MHD_Result h_web_readonly(api_req *r)
{
    if (!r->srv->cfg.readonly)
        return api_redirect(r, "/", NULL);
    return web_page(r, 200, "readonly", "Instance modification disabled", NULL, 0, NULL);
}

enum MHD_Result h_web_logout(api_req *r)
{
    return web_page(r, 200, "home", "Repositories", NULL, 0,
                    WEB_SESSION_COOKIE "=; HttpOnly; Path=/; Max-Age=0; SameSite=Lax");
}

/* GET /upload, /upload-flist, /merge, /docker-convert: the session gate
 * ran (server.c); the form page of the route. */
enum MHD_Result h_web_form(api_req *r)
{
    static const struct { const char *path, *page, *title; } forms[] = {
        {"upload", "upload", "Upload an archive"},
        {"upload-flist", "upload-flist", "Upload a self-made flist"},
        {"merge", "merge", "Merge flists"},
        {"docker-convert", "docker", "Convert a Docker image"},
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
        if (strcmp(r->segs[0], forms[i].path) == 0) {
            web_var v[] = {{"me", r->auth.user}};
            return web_page(r, 200, forms[i].page, forms[i].title, v, 1, NULL);
        }
    return api_page(r, 404);
}

enum MHD_Result h_token_page(api_req *r)
{
    char example[4096];
    snprintf(example, sizeof example, "curl -H \"Authorization: bearer %s\" %s/api/flist/me", r->args[0],
             r->srv->cfg.public_website);
    web_var v[] = {{"token", r->args[0]}, {"example", example}};
    return web_page(r, 200, "token", "API token", v, 2, NULL);
}

enum MHD_Result h_api_search(api_req *r)
{
    char q[256], lim[16];
    if (!api_query(r, "q", q, sizeof q))
        return api_error(r, 400, "missing query parameter q (at most 255 bytes)");
    size_t limit = WEB_SEARCH_LIMIT;
    if (api_query(r, "limit", lim, sizeof lim)) {
        char *end;
        long v = strtol(lim, &end, 10);
        if (*end || v < 1 || v > WEB_SEARCH_LIMIT_MAX) {
            char msg[96];
            snprintf(msg, sizeof msg, "limit must be a number from 1 to %d", WEB_SEARCH_LIMIT_MAX);
            return api_error(r, 400, msg);
        }
        limit = (size_t)v;
    }
    hub_err err = {0};
    json_t *res = web_search_query(web_search_of(r->srv->web), q, limit,
                                   atomic_load(&r->srv->generation), &err);
    if (!res)
        return api_fail(r, &err);
    return api_success(r, res);
}
