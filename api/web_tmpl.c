/* web_tmpl.c - the templates of the web pages (web.h): layout.html and
 * pages/<page>.html of the web root, loaded once at start, and a renderer
 * with two constructs only: {{key}} inserts a value, always HTML-escaped
 * (no raw form exists, so no user string can become markup), and {{>body}}
 * in the layout inserts the page's own template (a file of the web root,
 * rendered with the same values).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "web.h"

/* The pages the api renders: pages/<name>.html must exist in the root. */
static const char *const PAGES[] = {
    "home", "repo", "tag", "search", "preview", "upload", "upload-flist", "merge",
    "docker", "token", "login-method", "readonly", "notfound", "done",
};
#define NPAGES (sizeof PAGES / sizeof PAGES[0])

/* Longest {{key}} name. */
#define KEY_MAX 32

struct web_ctx {
    char *root;
    char *layout;
    char *pages[NPAGES];
    web_search *search;
};

/* Reads root/rel into a malloc'ed NUL-terminated string, or NULL with err. */
static char *read_file(const char *root, const char *rel, hub_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        hub_err_setc(err, HUB_E_FAILED, "web root: cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= WEB_TMPL_MAX &&
        (buf = malloc((size_t)st.st_size + 1))) {
        ssize_t got = read(fd, buf, (size_t)st.st_size);
        if (got == st.st_size) {
            buf[got] = '\0';
            close(fd);
            return buf;
        }
    }
    free(buf);
    close(fd);
    hub_err_setc(err, HUB_E_FAILED, "web root: %s is not a readable file of at most %d bytes", path,
                 WEB_TMPL_MAX);
    return NULL;
}

web_ctx *web_open(const char *root, repo_store *store, hub_err *err)
{
    web_ctx *c = calloc(1, sizeof *c);
    if (!c || !(c->root = strdup(root))) {
        free(c);
        hub_err_setc(err, HUB_E_NOMEM, "out of memory");
        return NULL;
    }
    if (!(c->layout = read_file(root, "layout.html", err)))
        goto fail;
    for (size_t i = 0; i < NPAGES; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "pages/%s.html", PAGES[i]);
        if (!(c->pages[i] = read_file(root, rel, err)))
            goto fail;
    }
    if (!(c->search = web_search_new(store))) {
        hub_err_setc(err, HUB_E_NOMEM, "out of memory");
        goto fail;
    }
    return c;
fail:
    web_free(c);
    return NULL;
}

void web_free(web_ctx *c)
{
    if (!c)
        return;
    free(c->root);
    free(c->layout);
    for (size_t i = 0; i < NPAGES; i++)
        free(c->pages[i]);
    web_search_free(c->search);
    free(c);
}

const char *web_root(const web_ctx *c)
{
    return c->root;
}

web_search *web_search_of(web_ctx *c)
{
    return c->search;
}

static int grow(char **buf, size_t *len, size_t *cap, size_t more)
{
    if (*len + more + 1 <= *cap)
        return 0;
    size_t nc = (*cap ? *cap : 4096);
    while (nc < *len + more + 1)
        nc *= 2;
    char *nb = realloc(*buf, nc);
    if (!nb)
        return -1;
    *buf = nb;
    *cap = nc;
    return 0;
}

static int append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (grow(buf, len, cap, n) < 0)
        return -1;
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

int web_escape_append(char **buf, size_t *len, size_t *cap, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const char *rep = NULL;
        switch (*p) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default:
            if ((*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7f)
                rep = "&#xfffd;"; /* control bytes are not text */
        }
        if (rep ? append(buf, len, cap, rep, strlen(rep)) < 0 : append(buf, len, cap, (const char *)p, 1) < 0)
            return -1;
    }
    return 0;
}

static const char *lookup(const web_var *vars, size_t n, const char *key, size_t klen)
{
    for (size_t i = 0; i < n; i++)
        if (vars[i].key && strlen(vars[i].key) == klen && memcmp(vars[i].key, key, klen) == 0)
            return vars[i].value ? vars[i].value : "";
    return "";
}

/* Renders text into the buffer; body (may be NULL) replaces {{>body}}. */
static int render(const char *text, const char *body, const web_var *vars, size_t n, char **buf,
                  size_t *len, size_t *cap)
{
    const char *p = text;
    for (;;) {
        const char *open = strstr(p, "{{");
        if (!open)
            return append(buf, len, cap, p, strlen(p));
        const char *close = strstr(open + 2, "}}");
        if (append(buf, len, cap, p, (size_t)(open - p)) < 0)
            return -1;
        if (!close || close - open - 2 > KEY_MAX) {
            /* not a placeholder: copy the braces as text */
            if (append(buf, len, cap, open, 2) < 0)
                return -1;
            p = open + 2;
            continue;
        }
        const char *key = open + 2;
        size_t klen = (size_t)(close - key);
        if (klen == 5 && memcmp(key, ">body", 5) == 0) {
            if (body && render(body, NULL, vars, n, buf, len, cap) < 0)
                return -1;
        } else if (web_escape_append(buf, len, cap, lookup(vars, n, key, klen)) < 0) {
            return -1;
        }
        p = close + 2;
    }
}

char *web_render(const web_ctx *c, const char *page, const web_var *vars, size_t n, size_t *len)
{
    const char *body = NULL;
    for (size_t i = 0; i < NPAGES && !body; i++)
        if (strcmp(PAGES[i], page) == 0)
            body = c->pages[i];
    if (!body)
        return NULL;
    char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    if (render(c->layout, body, vars, n, &buf, len, &cap) < 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
