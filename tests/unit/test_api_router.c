/* test_api_router.c - the api's route matcher (api/router.c) reached
 * directly: the original's precedence (literal segments before variables,
 * me before <repo>), suffix variables (<name>.flist), one trailing slash,
 * HEAD for GET routes, 405 with the Allow set, 404, decoded variables
 * ("%2F" is never a separator, a decoded NUL is flagged), login routes only
 * with authentication on. */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "request.h"
#include "router.h"
#include "t.h"

/* Routes method + path; returns router_match's result with *r filled (the
 * caller frees it with request_free). */
static int route(const char *method, const char *path, int auth, api_req **out, unsigned *allow)
{
    api_req *r = calloc(1, sizeof *r);
    r->method = method;
    *out = r;
    if (request_split_path(r, path) != 0)
        return -1;
    return router_match(r, auth, allow);
}

static void test_matches_and_arguments(void)
{
    struct {
        const char *method, *path, *pattern, *args[4];
    } cases[] = {
        {"GET", "/api/flist", "/api/flist", {NULL}},
        {"GET", "/api/flist/", "/api/flist", {NULL}},          /* one trailing slash */
        {"GET", "/api/flist/alice", "/api/flist/<repo>", {"alice"}},
        {"GET", "/api/flist/alice/a.flist", "/api/flist/<repo>/<name>", {"alice", "a.flist"}},
        {"INFO", "/api/flist/alice/a.flist", "/api/flist/<repo>/<name>", {"alice", "a.flist"}},
        {"HEAD", "/alice/a.flist", "/<repo>/<name>.flist", {"alice", "a"}},
        {"GET", "/alice/a.flist.md5", "/<repo>/<name>.flist.md5", {"alice", "a"}},
        {"GET", "/alice/tags/v1/a.flist", "/<repo>/tags/<tag>/<name>.flist", {"alice", "v1", "a"}},
        /* "me" wins over <repo>, literals over variables */
        {"GET", "/api/flist/me", "/api/flist/me", {NULL}},
        {"GET", "/api/flist/me/x.flist", "/api/flist/me/<name>", {"x.flist"}},
        {"GET", "/api/flist/me/a/link/b", "/api/flist/me/<source>/link/<linkname>", {"a", "b"}},
        {"GET", "/api/flist/alice/a/light", "/api/flist/<repo>/<name>/light", {"alice", "a"}},
        {"POST", "/api/flist/me/upload", "/api/flist/me/upload", {NULL}},
        {"POST", "/api/flist/me/merge/both", "/api/flist/me/merge/<target>", {"both"}},
        /* a decoded slash is part of a name, never a separator */
        {"GET", "/api/flist/al%2Fice/a.flist", "/api/flist/<repo>/<name>", {"al/ice", "a.flist"}},
        {"GET", "/api/jobs/123", "/api/jobs/<id>", {"123"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        api_req *r;
        unsigned allow;
        int rc = route(cases[i].method, cases[i].path, 0, &r, &allow);
        if (rc != 0 || strcmp(r->route->pattern, cases[i].pattern) != 0)
            fprintf(stderr, "%s %s: rc %d, route %s\n", cases[i].method, cases[i].path, rc,
                    rc == 0 ? r->route->pattern : "-");
        T_CHECK(rc == 0);
        if (rc == 0) {
            T_STREQ(r->route->pattern, cases[i].pattern);
            int n = 0;
            while (n < 4 && cases[i].args[n])
                n++;
            T_CHECK(r->nargs == n);
            for (int k = 0; k < n && k < r->nargs; k++)
                T_STREQ(r->args[k], cases[i].args[k]);
        }
        request_free(r);
    }
}

static void test_refusals(void)
{
    api_req *r;
    unsigned allow;
    /* no route for the path */
    T_CHECK(route("GET", "/api/nothing/here/at/all", 0, &r, &allow) == 404);
    request_free(r);
    /* routes match, not this method: 405 with their methods */
    T_CHECK(route("POST", "/api/flist/alice", 0, &r, &allow) == 405);
    char hdr[128];
    router_allow_header(allow, hdr, sizeof hdr);
    T_STREQ(hdr, "GET, HEAD, OPTIONS");
    request_free(r);
    T_CHECK(route("PUT", "/api/flist/me/upload", 0, &r, &allow) == 405);
    request_free(r);
    /* two trailing slashes are not one */
    T_CHECK(route("GET", "/api/flist//", 0, &r, &allow) != 0);
    request_free(r);
    /* login routes exist only with authentication on: without, /login is
     * the page of a repository named "login" (a 404 page unless it
     * exists, HUB-API.md §4) */
    T_CHECK(route("GET", "/login", 0, &r, &allow) == 0);
    T_STREQ(r->route->pattern, "/<repo>");
    request_free(r);
    T_CHECK(route("GET", "/login", 1, &r, &allow) == 0);
    request_free(r);
    /* a NUL byte is flagged, never cuts a name */
    T_CHECK(route("GET", "/api/flist/alice/a%00b.flist", 0, &r, &allow) == 0);
    T_CHECK(r->has_nul == 1);
    T_CHECK(strlen(r->args[1]) == strlen("a\x01" "b.flist"));
    request_free(r);
    /* too many segments */
    T_CHECK(route("GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s", 0, &r, &allow) == -1);
    request_free(r);
}

int main(void)
{
    router_init();
    static const t_case cases[] = {
        T_CASE(test_matches_and_arguments), T_CASE(test_refusals),
    };
    return t_run(cases, sizeof cases / sizeof cases[0]);
}
