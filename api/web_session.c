/* web_session.c - the web session gate of the protected pages and forms
 * (HUB-API.md §12.8: readonly -> /readonly, no session -> /login-method)
 * and the CSRF protection of every state-changing web request (D34): a
 * double-submit token, random per browser, kept in the HttpOnly SameSite
 * cookie hub-csrf and written into each page (<meta name="csrf-token">);
 * the page's script sends it back in the X-CSRF-Token header, which a
 * cross-site page can neither read nor forge. Bearer-token API routes are
 * not concerned (no cookie authorises them).
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "web.h"

static int token_well_formed(const char *t)
{
    if (!t || strlen(t) != WEB_CSRF_LEN)
        return 0;
    for (const char *p = t; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

void web_csrf_token(api_req *r, char token[WEB_CSRF_LEN + 1], int *fresh)
{
    const char *c = api_cookie(r, WEB_CSRF_COOKIE);
    if (token_well_formed(c)) {
        memcpy(token, c, WEB_CSRF_LEN + 1);
        *fresh = 0;
        return;
    }
    unsigned char raw[WEB_CSRF_LEN / 2];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(token, WEB_CSRF_LEN + 1, raw, sizeof raw);
    *fresh = 1;
}

/* 1 when the request carries the page's token (header == cookie). */
static int csrf_ok(api_req *r)
{
    const char *cookie = api_cookie(r, WEB_CSRF_COOKIE);
    const char *header = api_header(r, WEB_CSRF_HEADER);
    if (!token_well_formed(cookie) || !header || strlen(header) != WEB_CSRF_LEN)
        return 0;
    return sodium_memcmp(cookie, header, WEB_CSRF_LEN) == 0;
}

int web_gate(api_req *r, const char **location)
{
    r->gated = 1;
    *location = NULL;
    if (auth_session_gate(r->srv->auth, api_cookie(r, WEB_SESSION_COOKIE), api_cookie(r, "active-user"),
                          api_unix_now(), &r->auth) < 0) {
        *location = r->auth.message ? r->auth.message : "/login-method";
        return 302;
    }
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0 && !csrf_ok(r))
        return 403;
    return 0;
}

enum MHD_Result web_refuse(api_req *r, int status, const char *location)
{
    if (status == 302 && location)
        return api_redirect(r, location, NULL);
    return api_error(r, status, "missing or invalid CSRF token: reload the page and try again");
}
