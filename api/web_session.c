/* web_session.c - the web session gate of the protected pages and forms
 * (HUB-API.md §12.8: readonly -> /readonly, no session -> /login-method)
 * and the CSRF protection of every state-changing web request (D34): a
 * double-submit token, random per browser, kept in the HttpOnly SameSite
 * cookie hub-csrf and written into each page (<meta name="csrf-token">);
 * the page's script sends it back in the X-CSRF-Token header, which a
 * cross-site page can neither read nor forge. Bearer-token API routes are
 * not concerned (no cookie authorises them).
 *
 * The original hub's own forms and the scripts written for them post
 * without our token (HUB-API.md §9). Such a post is accepted only when
 * nothing says it comes from another site: Sec-Fetch-Site, when the
 * client sends it, must be same-origin or none; else an Origin, or else a
 * Referer, must be the hub's own origin (public-website's, or the Host
 * the request was sent to); a request with none of the three is a
 * non-browser client (every current browser sends Origin with a
 * cross-site POST) and is accepted. Anything else is refused with 403.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

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

/* Length of the origin part (scheme://host[:port]) at the start of url,
 * 0 when url has no "://" or no host. */
static size_t origin_len(const char *url)
{
    const char *sep = strstr(url, "://");
    if (!sep || sep == url || !sep[3] || sep[3] == '/')
        return 0;
    const char *end = strchr(sep + 3, '/');
    return end ? (size_t)(end - url) : strlen(url);
}

/* 1 when the origin o (n bytes, scheme://host[:port]) is the hub's own:
 * public-website's origin, or http(s)://<Host of the request>. */
static int origin_is_hub(api_req *r, const char *o, size_t n)
{
    const char *site = r->srv->cfg.public_website;
    size_t sn = origin_len(site);
    if (sn && sn == n && strncasecmp(site, o, n) == 0)
        return 1;
    const char *host = api_header(r, MHD_HTTP_HEADER_HOST);
    if (!host || !*host)
        return 0;
    static const char *const schemes[] = {"http://", "https://"};
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t pl = strlen(schemes[i]);
        if (n == pl + strlen(host) && strncasecmp(o, schemes[i], pl) == 0 &&
            strncasecmp(o + pl, host, n - pl) == 0)
            return 1;
    }
    return 0;
}

/* 1 when a post without our token carries no cross-site signal (the rule
 * at the top of this file). */
static int same_origin(api_req *r)
{
    const char *fetch_site = api_header(r, "Sec-Fetch-Site");
    if (fetch_site)
        return strcasecmp(fetch_site, "same-origin") == 0 || strcasecmp(fetch_site, "none") == 0;
    const char *origin = api_header(r, "Origin");
    if (origin)
        return origin_is_hub(r, origin, strlen(origin)); /* "null" is no origin of ours */
    const char *referer = api_header(r, "Referer");
    if (referer) {
        size_t n = origin_len(referer);
        return n && origin_is_hub(r, referer, n);
    }
    return 1;
}

int web_form_compat(api_req *r)
{
    return api_header(r, WEB_CSRF_HEADER) == NULL;
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
    if (strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0)
        return 0;
    if (web_form_compat(r)) {
        if (same_origin(r))
            return 0;
        *location = WEB_CROSS_SITE_MSG;
        return 403;
    }
    if (!csrf_ok(r))
        return 403;
    return 0;
}

enum MHD_Result web_refuse(api_req *r, int status, const char *location)
{
    if (status == 302 && location)
        return api_redirect(r, location, NULL);
    if (location && strcmp(location, WEB_CROSS_SITE_MSG) == 0)
        return api_error(r, status, WEB_CROSS_SITE_MSG);
    return api_error(r, status, "missing or invalid CSRF token: reload the page and try again");
}
