/* web_static.c - GET /static/<file>: the style sheet, the script and the
 * icons of the web pages, from <web root>/static/ (one flat folder: a name
 * of [A-Za-z0-9._-] not starting with '.', with a known extension; anything
 * else is a 404). Also where the web root is found when `web-root` is not
 * configured.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handlers.h"
#include "web.h"

/* Browsers may reuse a static file this long without asking (s). */
#define STATIC_MAX_AGE "60"

static const struct { const char *ext, *ctype; } TYPES[] = {
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
};

static const char *content_type(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++) {
        size_t e = strlen(TYPES[i].ext);
        if (n > e && strcmp(name + n - e, TYPES[i].ext) == 0)
            return TYPES[i].ctype;
    }
    return NULL;
}

static int name_ok(const char *s)
{
    if (!*s || *s == '.' || strlen(s) > 128)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

enum MHD_Result h_web_static(api_req *r)
{
    const char *name = r->args[0];
    const char *ctype = content_type(name);
    if (!name_ok(name) || !ctype)
        return api_page(r, 404);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/static/%s", web_root(r->srv->web), name);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0)
        return api_page(r, 404);
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return api_page(r, 404);
    }
    struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (!resp) {
        close(fd);
        return api_page(r, 500);
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "public, max-age=" STATIC_MAX_AGE);
    web_security_headers(resp);
    return api_respond(r, 200, resp);
}

/* 1 when dir holds a layout.html. */
static int has_layout(const char *dir)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/layout.html", dir);
    return access(p, R_OK) == 0;
}

int web_find_root(const char *configured, char *out, size_t n, hub_err *err)
{
    if (configured && *configured) {
        if (!has_layout(configured))
            return hub_err_setc(err, HUB_E_INVALID, "web-root %s: no layout.html there", configured);
        snprintf(out, n, "%s", configured);
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
        exe[k] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(out, n, "%s/../share/flist-hub/web", exe);
            if (has_layout(out))
                return 0;
        }
    }
    static const char *const builtin[] = {HUB_WEB_INSTALL_DIR, HUB_WEB_SOURCE_DIR};
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
        if (has_layout(builtin[i])) {
            snprintf(out, n, "%s", builtin[i]);
            return 0;
        }
    return hub_err_setc(err, HUB_E_INVALID,
                        "no web root found (<binary>/../share/flist-hub/web, %s, %s): set web-root",
                        HUB_WEB_INSTALL_DIR, HUB_WEB_SOURCE_DIR);
}
