/* h_me.c - the authenticated repository changes (HUB-API.md §6.1-§6.8):
 * the effective user, delete, link, crosslink, crosstag, tag, rename and
 * promote, on the caller's repository through repo.h (atomic, no link
 * followed where it should not be; D1-D8, D15, D16, D24 fixed). The route
 * table has already run the API gate: r->auth.user is "me". */
#include <string.h>

#include "errors.h"
#include "handlers.h"
#include "inspect.h"

/* Replies to a repo_* result: 0 = success envelope, else the error. */
static enum MHD_Result done(api_req *r, int rc, const hub_err *err)
{
    if (rc == 0) {
        api_changed(r->srv);
        return api_success(r, NULL);
    }
    return api_fail(r, err);
}

enum MHD_Result h_me(api_req *r)
{
    return api_success(r, json_pack("{s:s}", "username", r->auth.user));
}

enum MHD_Result h_me_name(api_req *r)
{
    const char *me = r->auth.user;
    if (strcmp(r->method, "DELETE") == 0) {
        hub_err err = {0};
        return done(r, repo_delete(r->srv->store, me, r->args[0], &err), &err);
    }
    if (strcmp(r->method, "INFO") == 0)
        return inspect_light(r, me, r->args[0]); /* D23: authenticated */
    return inspect_contents(r, me, r->args[0]);
}

enum MHD_Result h_me_link(api_req *r)
{
    hub_err err = {0};
    return done(r, repo_link(r->srv->store, r->auth.user, r->args[0], r->args[1], &err), &err);
}

enum MHD_Result h_me_crosslink(api_req *r)
{
    hub_err err = {0};
    return done(r, repo_crosslink(r->srv->store, r->auth.user, r->args[0], r->args[1], r->args[2], &err),
                &err);
}

enum MHD_Result h_me_crosstag(api_req *r)
{
    hub_err err = {0};
    if (strcmp(r->method, "DELETE") == 0) /* D24 */
        return done(r, repo_crosstag_delete(r->srv->store, r->auth.user, r->args[0], r->args[1],
                                            r->args[2], &err), &err);
    return done(r, repo_crosstag(r->srv->store, r->auth.user, r->args[0], r->args[1], r->args[2], &err),
                &err);
}

enum MHD_Result h_me_tag(api_req *r)
{
    hub_err err = {0};
    if (strcmp(r->method, "DELETE") == 0)
        return done(r, repo_tag_delete(r->srv->store, r->auth.user, r->args[0], r->args[1], r->args[2],
                                       r->args[3], &err), &err);
    return done(r, repo_tag_add(r->srv->store, r->auth.user, r->args[0], r->args[1], r->args[2],
                                r->args[3], &err), &err);
}

enum MHD_Result h_me_rename(api_req *r)
{
    hub_err err = {0};
    return done(r, repo_rename(r->srv->store, r->auth.user, r->args[0], r->args[1], &err), &err);
}

enum MHD_Result h_me_promote(api_req *r)
{
    hub_err err = {0};
    char src[REPO_NAME_MAX + 1], loc[REPO_NAME_MAX + 1];
    if (repo_promote(r->srv->store, r->auth.user, r->args[0], r->args[1], r->args[2], src, loc, &err))
        return api_fail(r, &err);
    api_changed(r->srv);
    json_t *p = json_pack("{s:{s:s, s:s}, s:{s:s, s:s}}", "source", "username", r->args[0], "filename", src,
                          "destination", "username", r->auth.user, "filename", loc);
    return api_success(r, p);
}
