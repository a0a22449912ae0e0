/* backend_url.c - backend addresses: the redis:// and zdb:// URL forms, the
 * `backend` JSON of FLIST-FORMAT.md §6.3, and the two ways of showing one
 * without its secrets (public JSON for flist metadata, display string for
 * messages). See backend.h.
 *
 * Grammar accepted (percent-escapes allowed in password, namespace and token):
 *   redis://[:password@]host[:port][/db]          db: decimal 0..2^31-1
 *   zdb://[:password@]host[:port][/namespace][?token=T]
 *   host: name or IPv4 ([A-Za-z0-9.-_]), or [IPv6]
 */
#include "backend.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Decodes the n bytes at s (percent-escapes) into out (size cap, NUL
 * terminated). Refuses %00, bad escapes, control characters and values
 * that do not fit. `what` names the field in messages. */
static int url_decode(const char *s, size_t n, char *out, size_t cap,
                      const char *what, hub_err *err)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            static const char hexd[] = "0123456789abcdef0123456789ABCDEF";
            const char *h1, *h2;
            if (i + 2 >= n || !s[i + 1] || !s[i + 2] ||
                !(h1 = strchr(hexd, s[i + 1])) || !(h2 = strchr(hexd, s[i + 2])))
                return hub_err_set(err, "backend URL: bad percent-escape in %s", what);
            c = (unsigned char)((((h1 - hexd) & 15) << 4) | ((h2 - hexd) & 15));
            i += 2;
            if (c == 0)
                return hub_err_set(err, "backend URL: NUL byte in %s", what);
        }
        if (c < 0x20 || c == 0x7f)
            return hub_err_set(err, "backend URL: control character in %s", what);
        if (o + 1 >= cap)
            return hub_err_set(err, "backend URL: %s too long (at most %zu bytes)", what, cap - 1);
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

static int is_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-' || c == '_';
}

static int is_v6_char(char c)
{
    return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') ||
           c == ':' || c == '.';
}

/* Parses 1..max_digits decimal digits at s[0..n) into *out, within
 * [lo, hi]. Returns 0 or -1. */
static int parse_uint(const char *s, size_t n, size_t max_digits, long lo, long hi, long *out)
{
    if (n == 0 || n > max_digits)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Parses "host[:port]" (authority without userinfo) at s[0..n). */
static int parse_hostport(const char *s, size_t n, int default_port, backend_url *u, hub_err *err)
{
    size_t hlen;
    const char *host, *rest;
    size_t rlen;

    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close)
            return hub_err_set(err, "backend URL: missing ']' after IPv6 address");
        host = s + 1;
        hlen = (size_t)(close - host);
        if (hlen == 0)
            return hub_err_set(err, "backend URL: empty IPv6 address");
        for (size_t i = 0; i < hlen; i++)
            if (!is_v6_char(host[i]))
                return hub_err_set(err, "backend URL: invalid character in IPv6 address");
        rest = close + 1;
        rlen = n - (size_t)(rest - s);
    } else {
        const char *colon = memchr(s, ':', n);
        host = s;
        hlen = colon ? (size_t)(colon - s) : n;
        if (hlen == 0)
            return hub_err_set(err, "backend URL: missing host");
        for (size_t i = 0; i < hlen; i++)
            if (!is_host_char(host[i]))
                return hub_err_set(err, "backend URL: invalid character in host");
        rest = s + hlen;
        rlen = n - hlen;
    }
    if (hlen >= sizeof u->host)
        return hub_err_set(err, "backend URL: host too long (at most %zu bytes)", sizeof u->host - 1);
    memcpy(u->host, host, hlen);
    u->host[hlen] = '\0';

    if (rlen == 0) {
        u->port = default_port;
        return 0;
    }
    long port;
    if (rest[0] != ':')
        return hub_err_set(err, "backend URL: unexpected characters after host");
    if (parse_uint(rest + 1, rlen - 1, 5, 1, 65535, &port) != 0)
        return hub_err_set(err, "backend URL: invalid port (1..65535)");
    u->port = (int)port;
    return 0;
}

/* Parses "[:password@]" userinfo at s[0..n) (n = 0: none). */
static int parse_userinfo(const char *s, size_t n, backend_url *u, hub_err *err)
{
    if (n == 0)
        return 0;
    if (s[0] != ':')
        return hub_err_set(err, "backend URL: user names are not supported (use ':password@')");
    return url_decode(s + 1, n - 1, u->password, sizeof u->password, "password", err);
}

/* The query of a zdb URL: exactly "token=T". */
static int parse_query(const char *s, size_t n, backend_url *u, hub_err *err)
{
    static const char key[] = "token=";
    if (n < sizeof key - 1 || memcmp(s, key, sizeof key - 1) != 0)
        return hub_err_set(err, "backend URL: the only query parameter is token=");
    s += sizeof key - 1;
    n -= sizeof key - 1;
    if (memchr(s, '&', n))
        return hub_err_set(err, "backend URL: the only query parameter is token=");
    if (n == 0)
        return hub_err_set(err, "backend URL: empty token");
    return url_decode(s, n, u->token, sizeof u->token, "token", err);
}

int backend_url_parse(const char *url, backend_url *out, hub_err *err)
{
    backend_url u;
    const char *p;
    int default_port;

    memset(&u, 0, sizeof u);
    if (!url)
        return hub_err_set(err, "backend URL: missing");
    if (strncmp(url, "redis://", 8) == 0) {
        u.kind = BACKEND_REDIS;
        default_port = 6379;
        p = url + 8;
    } else if (strncmp(url, "zdb://", 6) == 0) {
        u.kind = BACKEND_ZDB;
        default_port = 9900;
        p = url + 6;
    } else {
        return hub_err_set(err, "backend URL: unsupported scheme (expected redis:// or zdb://)");
    }
    if (strlen(p) > 4096)
        return hub_err_set(err, "backend URL: too long");
    if (strchr(p, '#'))
        return hub_err_set(err, "backend URL: fragments ('#') are not allowed");

    /* authority ends at the first '/' or '?' */
    size_t alen = strcspn(p, "/?");
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (p[i] == '@')
            at = p + i;  /* the last '@': a password may hold an escaped one only */
    const char *hp = p;
    if (at) {
        if (parse_userinfo(p, (size_t)(at - p), &u, err) != 0)
            return -1;
        hp = at + 1;
    }
    if (parse_hostport(hp, alen - (size_t)(hp - p), default_port, &u, err) != 0)
        return -1;
    p += alen;

    if (*p == '/') {
        p++;
        size_t plen = strcspn(p, "?");
        if (memchr(p, '/', plen))
            return hub_err_set(err, "backend URL: unexpected '/' in the namespace");
        if (u.kind == BACKEND_REDIS) {
            long db;
            if (plen > 0) {
                if (parse_uint(p, plen, 10, 0, 2147483647L, &db) != 0)
                    return hub_err_set(err, "backend URL: the redis database must be a number");
                snprintf(u.namespace_, sizeof u.namespace_, "%ld", db);
            }
        } else if (url_decode(p, plen, u.namespace_, sizeof u.namespace_, "namespace", err) != 0) {
            return -1;
        }
        p += plen;
    }
    if (*p == '?') {
        if (u.kind != BACKEND_ZDB)
            return hub_err_set(err, "backend URL: redis URLs take no query");
        p++;
        if (parse_query(p, strlen(p), &u, err) != 0)
            return -1;
        p += strlen(p);
    }
    if (*p != '\0')
        return hub_err_set(err, "backend URL: trailing characters");
    *out = u;
    return 0;
}

/* Copies the optional string member `key` of obj into out (size cap).
 * Absent or null: out = "". Other types, control characters or too long: -1. */
static int json_opt_string(json_t *obj, const char *key, char *out, size_t cap, hub_err *err)
{
    json_t *v = json_object_get(obj, key);
    out[0] = '\0';
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return hub_err_set(err, "backend JSON: \"%s\" must be a string", key);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n >= cap)
        return hub_err_set(err, "backend JSON: \"%s\" too long (at most %zu bytes)", key, cap - 1);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return hub_err_set(err, "backend JSON: control character in \"%s\"", key);
    memcpy(out, s, n + 1);
    return 0;
}

int backend_url_from_json(const char *json, backend_url *out, hub_err *err)
{
    backend_url u;
    json_error_t jerr;

    memset(&u, 0, sizeof u);
    u.kind = BACKEND_ZDB;
    if (!json)
        return hub_err_set(err, "backend JSON: missing");
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return hub_err_set(err, "backend JSON: %s (line %d)", jerr.text, jerr.line);

    int rc = -1;
    if (!json_is_object(root)) {
        hub_err_set(err, "backend JSON: not an object");
        goto out;
    }
    if (json_opt_string(root, "host", u.host, sizeof u.host, err) != 0)
        goto out;
    if (u.host[0] == '\0') {
        hub_err_set(err, "backend JSON: \"host\" missing or empty");
        goto out;
    }
    json_t *port = json_object_get(root, "port");
    if (!json_is_integer(port)) {
        hub_err_set(err, "backend JSON: \"port\" must be an integer");
        goto out;
    }
    json_int_t pv = json_integer_value(port);
    if (pv < 1 || pv > 65535) {
        hub_err_set(err, "backend JSON: \"port\" out of range (1..65535)");
        goto out;
    }
    u.port = (int)pv;
    if (json_opt_string(root, "namespace", u.namespace_, sizeof u.namespace_, err) != 0 ||
        json_opt_string(root, "password", u.password, sizeof u.password, err) != 0 ||
        json_opt_string(root, "token", u.token, sizeof u.token, err) != 0)
        goto out;
    *out = u;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* The namespace shown publicly: the database number for Redis ("0" when
 * none), else the namespace or "default". */
static const char *public_namespace(const backend_url *url)
{
    if (url->namespace_[0])
        return url->namespace_;
    return url->kind == BACKEND_REDIS ? "0" : "default";
}

char *backend_url_public_json(const backend_url *url)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    char *s = NULL;
    if (json_object_set_new(o, "host", json_string(url->host)) == 0 &&
        json_object_set_new(o, "port", json_integer(url->port)) == 0 &&
        json_object_set_new(o, "namespace", json_string(public_namespace(url))) == 0)
        s = json_dumps(o, JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

void backend_url_display(const backend_url *url, char *out, size_t n)
{
    if (n == 0)
        return;
    int v6 = strchr(url->host, ':') != NULL;
    snprintf(out, n, "%s://%s%s%s:%d/%s",
             url->kind == BACKEND_REDIS ? "redis" : "zdb",
             v6 ? "[" : "", url->host, v6 ? "]" : "", url->port, public_namespace(url));
}
