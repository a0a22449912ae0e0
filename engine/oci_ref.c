/* oci_ref.c - Docker's reference grammar and normalisation, and the flist
 * name the original hub derives from a reference (oci_ref.h). */
#include "oci_ref.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHA256_PREFIX "sha256:"
#define SHA256_HEX 64
#define LEGACY_DOMAIN "index.docker.io"
#define DOCKER_HUB_API "registry-1.docker.io"
#define OFFICIAL_PREFIX "library/"

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_alnum(char c)
{
    return isalnum((unsigned char)c) != 0;
}

int oci_digest_valid(const char *s)
{
    if (strncmp(s, SHA256_PREFIX, strlen(SHA256_PREFIX)) != 0)
        return 0;
    s += strlen(SHA256_PREFIX);
    size_t i = 0;
    for (; s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return i == SHA256_HEX;
}

/* One path component: [a-z0-9]+ ((?:[._]|__|-+)[a-z0-9]+)*, s[0..n). */
static int component_valid(const char *s, size_t n)
{
    if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return 0;
    for (size_t i = 0; i < n;) {
        if (is_lower_alnum(s[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && !is_lower_alnum(s[j]))
            j++;
        size_t sl = j - i;
        int ok = (sl == 1 && (s[i] == '.' || s[i] == '_')) ||
                 (sl == 2 && s[i] == '_' && s[i + 1] == '_');
        if (!ok) {
            ok = 1;
            for (size_t k = i; k < j; k++)
                if (s[k] != '-')
                    ok = 0;
        }
        if (!ok)
            return 0;
        i = j;
    }
    return 1;
}

/* A domain: host components ([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)
 * joined by '.', or "[ipv6]", then an optional ":port". */
static int domain_valid(const char *s, size_t n)
{
    size_t i = 0;
    if (n && s[0] == '[') {
        i = 1;
        while (i < n && (isxdigit((unsigned char)s[i]) || s[i] == ':'))
            i++;
        if (i == 1 || i >= n || s[i] != ']')
            return 0;
        i++;
    } else {
        for (;;) {
            size_t st = i;
            while (i < n && (is_alnum(s[i]) || s[i] == '-'))
                i++;
            if (i == st || s[st] == '-' || s[i - 1] == '-')
                return 0;
            if (i < n && s[i] == '.') {
                i++;
                continue;
            }
            break;
        }
    }
    if (i < n && s[i] == ':') {
        size_t st = ++i;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
        if (i == st)
            return 0;
    }
    return i == n;
}

/* A tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
static int tag_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > OCI_REF_TAG_MAX || !(is_alnum(s[0]) || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!(is_alnum(s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
            return 0;
    return 1;
}

/* Copies src into dst of capacity cap (the caller checked the length). */
static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int bad(hub_err *err, const char *what, const char *s)
{
    return hub_err_setc(err, HUB_E_INVALID, "invalid reference format: %s (%s)", what, s);
}

int oci_ref_parse(const char *s, oci_ref *out, hub_err *err)
{
    memset(out, 0, sizeof *out);
    if (!s || !*s)
        return hub_err_setc(err, HUB_E_INVALID, "invalid reference format: empty image name");
    size_t len = strlen(s);
    if (len > 2 * OCI_REF_NAME_MAX + OCI_REF_TAG_MAX)
        return hub_err_setc(err, HUB_E_INVALID, "invalid reference format: too long");
    /* a bare 64-hex string is an image id, never a name (as Docker) */
    if (len == SHA256_HEX) {
        size_t i = 0;
        while (i < len && isxdigit((unsigned char)s[i]) && !isupper((unsigned char)s[i]))
            i++;
        if (i == len)
            return hub_err_setc(err, HUB_E_INVALID,
                                "invalid repository name (%s), cannot specify 64-byte "
                                "hexadecimal strings", s);
    }
    char buf[2 * OCI_REF_NAME_MAX + OCI_REF_TAG_MAX + 2];
    snprintf(buf, sizeof buf, "%s", s);

    /* digest */
    char *at = strchr(buf, '@');
    if (at) {
        *at = '\0';
        const char *dg = at + 1;
        if (strncmp(dg, SHA256_PREFIX, strlen(SHA256_PREFIX)) != 0) {
            const char *colon = strchr(dg, ':');
            if (colon && colon != dg)
                return hub_err_setc(err, HUB_E_INVALID,
                                    "unsupported digest algorithm in %s: only sha256", s);
            return bad(err, "invalid digest", s);
        }
        if (!oci_digest_valid(dg))
            return bad(err, "invalid sha256 digest: expected 64 lower-case hex digits", s);
        copy_str(out->digest, sizeof out->digest, dg);
    }
    if (!buf[0])
        return bad(err, "missing repository name", s);

    /* domain: the first component when it looks like a host */
    char *name = buf;
    char *slash = strchr(name, '/');
    const char *domain = OCI_REF_DEFAULT_DOMAIN;
    char *rest = name;
    if (slash) {
        size_t dl = (size_t)(slash - name);
        int host = memchr(name, '.', dl) || memchr(name, ':', dl) ||
                   (dl == strlen("localhost") && memcmp(name, "localhost", dl) == 0);
        for (size_t i = 0; i < dl && !host; i++)
            if (isupper((unsigned char)name[i]))
                host = 1;
        if (host) {
            *slash = '\0';
            domain = name;
            rest = slash + 1;
            if (!domain_valid(domain, strlen(domain)))
                return bad(err, "invalid registry host", s);
        }
    }
    if (strcmp(domain, LEGACY_DOMAIN) == 0)
        domain = OCI_REF_DEFAULT_DOMAIN;

    /* tag: after the last ':' that has no '/' after it */
    char *colon = strrchr(rest, ':');
    if (colon && !strchr(colon, '/')) {
        *colon = '\0';
        if (!tag_valid(colon + 1))
            return bad(err, "invalid tag: expected [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", s);
        copy_str(out->tag, sizeof out->tag, colon + 1);
    }
    for (const char *p = rest; *p; p++)
        if (isupper((unsigned char)*p))
            return hub_err_setc(err, HUB_E_INVALID,
                                "invalid reference format: repository name (%s) must be lowercase",
                                rest);
    /* path components */
    if (!*rest)
        return bad(err, "missing repository name", s);
    for (const char *p = rest;;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (!component_valid(p, n))
            return bad(err, "invalid repository name component", s);
        if (!e)
            break;
        p = e + 1;
    }
    int official = strcmp(domain, OCI_REF_DEFAULT_DOMAIN) == 0 && !strchr(rest, '/');
    size_t total = strlen(domain) + 1 + (official ? strlen(OFFICIAL_PREFIX) : 0) + strlen(rest);
    if (total > OCI_REF_NAME_MAX)
        return hub_err_setc(err, HUB_E_INVALID,
                            "invalid reference format: repository name must not be more than "
                            "%d characters", OCI_REF_NAME_MAX);
    copy_str(out->domain, sizeof out->domain, domain);
    copy_str(out->path, sizeof out->path, official ? OFFICIAL_PREFIX : "");
    copy_str(out->path + strlen(out->path), sizeof out->path - strlen(out->path), rest);
    if (!out->tag[0] && !out->digest[0])
        snprintf(out->tag, sizeof out->tag, "%s", OCI_REF_DEFAULT_TAG);
    return 0;
}

char *oci_ref_string(const oci_ref *r, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s%s%s%s%s", r->domain, r->path, r->tag[0] ? ":" : "", r->tag,
             r->digest[0] ? "@" : "", r->digest);
    return buf;
}

const char *oci_ref_object(const oci_ref *r)
{
    return r->digest[0] ? r->digest : r->tag;
}

const char *oci_ref_api_host(const oci_ref *r)
{
    return strcmp(r->domain, OCI_REF_DEFAULT_DOMAIN) == 0 ? DOCKER_HUB_API : r->domain;
}

int oci_ref_domain_is_local(const char *domain)
{
    char host[OCI_REF_NAME_MAX + 1];
    snprintf(host, sizeof host, "%s", domain);
    if (host[0] == '[') {
        char *e = strchr(host, ']');
        if (!e)
            return 0;
        *e = '\0';
        return strcmp(host + 1, "::1") == 0;
    }
    char *colon = strchr(host, ':');
    if (colon)
        *colon = '\0';
    if (strcmp(host, "localhost") == 0)
        return 1;
    unsigned a, b, c, d;
    char tail;
    if (sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4)
        return a == 127 && b < 256 && c < 256 && d < 256;
    return 0;
}

#define LATEST_SUFFIX ":latest"
#define FLIST_SUFFIX ".flist"

int oci_flist_name(const char *image, char *out, size_t cap, hub_err *err)
{
    int add_latest = strchr(image, ':') == NULL;
    size_t n = strlen(image) + (add_latest ? strlen(LATEST_SUFFIX) : 0) + strlen(FLIST_SUFFIX);
    if (n + 1 > cap)
        return hub_err_setc(err, HUB_E_INVALID, "image name too long for an flist name");
    snprintf(out, cap, "%s%s", image, add_latest ? LATEST_SUFFIX : "");
    for (char *p = out; *p; p++)
        if (*p == ':' || *p == '/')
            *p = '-';
    size_t l = strlen(out);
    if (l < strlen(FLIST_SUFFIX) || strcmp(out + l - strlen(FLIST_SUFFIX), FLIST_SUFFIX) != 0)
        snprintf(out + l, cap - l, "%s", FLIST_SUFFIX);
    return 0;
}
