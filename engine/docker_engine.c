/* docker_engine.c - the engine path of the image converter
 * (docker_engine_convert, docker_engine.h): Docker Engine API over a unix
 * socket with libcurl (CURLOPT_UNIX_SOCKET_PATH; chunked replies decoded
 * by libcurl).
 *
 *   GET  /version                         API version: min(ours, the daemon's)
 *   GET  /vX/images/<ref>/json            present? (404: pull it)
 *   POST /vX/images/create?fromImage&tag  pull, JSON lines streamed
 *   POST /vX/containers/create?name=      never started
 *   GET  /vX/containers/<id>/export       tar, streamed into the applier
 *                                         through a socketpair
 *   DELETE /vX/containers/<id>?force=1&v=1   always
 *   DELETE /vX/images/<ref>?force=1          only when we pulled it
 */
#include "docker_engine.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "http_buf.h"
#include "oci.h"
#include "util.h"

#define DE_URL_BASE "http://localhost"
#define DE_REPLY_MAX (16u * 1024 * 1024)     /* an inspect or error reply */
#define DE_LINE_MAX (256u * 1024)            /* one line of the pull stream */
#define DE_ERRBODY_MAX 4096
#define DE_CONNECT_TIMEOUT_S 10L
#define DE_NAME_HEX 32                       /* container name: 32 hex, as the original */
#define DE_IMAGE_MAX 400
#define DE_ID_MAX 80                         /* container id: 64 hex + NUL, rounded up */
#define DE_PATH_MAX (DE_IMAGE_MAX + 64)      /* an API path naming an image or container */

static pthread_once_t de_curl_once = PTHREAD_ONCE_INIT;
static int de_curl_ok;

static void de_curl_init(void)
{
    de_curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == 0;
}

typedef struct de {
    const docker_engine_opts *o;
    const char *socket;
    char api[16];                    /* "1.41" */
    hub_code cancel_code;            /* o->cancelled stopped a transfer */
    char cancel_why[HUB_ERR_MAX / 2];
} de;

/* ---- HTTP ---- */

typedef struct buf {
    char *p;
    size_t len;
    size_t max;
    int over;
} buf;

static size_t buf_write(char *data, size_t size, size_t n, void *ud)
{
    buf *b = ud;
    return http_buf_append(&b->p, &b->len, b->max, &b->over, data, size * n);
}

/* A handle for DE_URL_BASE + path on the socket. NULL on no memory. */
static CURL *de_handle(de *d, const char *path)
{
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    size_t len = strlen(DE_URL_BASE) + strlen(path) + 1;
    char *url = malloc(len);
    if (!url) {
        curl_easy_cleanup(h);
        return NULL;
    }
    snprintf(url, len, "%s%s", DE_URL_BASE, path);
    curl_easy_setopt(h, CURLOPT_URL, url);   /* copied by libcurl */
    free(url);
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, d->socket);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, DE_CONNECT_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    return h;
}

static int de_xferinfo(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    de *d = ud;
    char why[sizeof d->cancel_why];
    hub_code code = d->o->cancelled(d->o->cancel_ud, why, sizeof why);
    if (code == HUB_OK)
        return 0;
    if (d->cancel_code == HUB_OK) {
        snprintf(d->cancel_why, sizeof d->cancel_why, "%s", why);
        d->cancel_code = code;
    }
    return 1;
}

/* Lets o->cancelled stop the transfer of h (the pull, the export). */
static void de_cancellable(de *d, CURL *h)
{
    if (!d->o->cancelled)
        return;
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, de_xferinfo);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, d);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
}

/* The error of a failed transfer. Returns -1. */
static int de_curl_fail(de *d, CURLcode cc, hub_err *err)
{
    if (cc == CURLE_ABORTED_BY_CALLBACK && d->cancel_code != HUB_OK)
        return hub_err_setc(err, d->cancel_code, "%s", d->cancel_why);
    if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_OPERATION_TIMEDOUT ||
        cc == CURLE_GOT_NOTHING || cc == CURLE_RECV_ERROR || cc == CURLE_SEND_ERROR)
        return hub_err_setc(err, HUB_E_UNAVAILABLE, "docker daemon unreachable at %s: %s",
                            d->socket, curl_easy_strerror(cc));
    return hub_err_setc(err, HUB_E_FAILED, "docker daemon at %s: %s", d->socket,
                        curl_easy_strerror(cc));
}

/* The daemon's message of an error reply ({"message": ...}), into err with
 * a code from the status. Returns -1. */
static int de_status_fail(long status, const char *what, const char *body, hub_err *err)
{
    json_t *j = body ? json_loads(body, 0, NULL) : NULL;
    const char *m = json_string_value(json_object_get(j, "message"));
    hub_code code = status == 404 ? HUB_E_NOT_FOUND
                  : status == 401 || status == 403 ? HUB_E_FORBIDDEN
                  : status == 400 || status == 409 ? HUB_E_INVALID : HUB_E_FAILED;
    hub_err_setc(err, code, "docker daemon: %s: %s (HTTP %ld)", what,
                 m ? m : "no message", status);
    json_decref(j);
    return -1;
}

/* One request with a small reply: *reply (malloc'ed, NUL-terminated, may
 * be NULL when empty) and *status. Returns 0 when the daemon answered
 * (whatever the status), -1 with err when not. */
static int de_call(de *d, const char *method, const char *path, const char *json_body,
                   long *status, char **reply, hub_err *err)
{
    *reply = NULL;
    CURL *h = de_handle(d, path);
    if (!h)
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    buf b = { .max = DE_REPLY_MAX };
    struct curl_slist *hdrs = NULL;
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (json_body) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, json_body);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, buf_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    if (cc != CURLE_OK) {
        free(b.p);
        if (b.over)
            return hub_err_set(err, "docker daemon: reply to %s larger than %u bytes", path,
                               DE_REPLY_MAX);
        return de_curl_fail(d, cc, err);
    }
    *reply = b.p;
    return 0;
}

/* ---- steps ---- */

/* "1.41" -> 141 (major*100 + minor); -1 when not a version. */
static long api_num(const char *v)
{
    char *end;
    long major = v ? strtol(v, &end, 10) : -1;
    if (!v || end == v || *end != '.')
        return -1;
    const char *m = end + 1;
    long minor = strtol(m, &end, 10);
    if (end == m || *end)
        return -1;
    return major * 100 + minor;
}

/* GET /version: the API version both sides speak. */
static int de_version(de *d, hub_err *err)
{
    long status = 0;
    char *reply = NULL;
    if (de_call(d, "GET", "/version", NULL, &status, &reply, err) != 0)
        return -1;
    json_t *j = reply ? json_loads(reply, 0, NULL) : NULL;
    free(reply);
    const char *theirs = json_string_value(json_object_get(j, "ApiVersion"));
    long t = api_num(theirs), ours = api_num(DOCKER_ENGINE_API_MAX);
    int rc = 0;
    if (status != 200 || t < 0)
        rc = hub_err_setc(err, HUB_E_FAILED, "docker daemon at %s: no API version in its "
                          "/version reply (HTTP %ld)", d->socket, status);
    else if (t < api_num(DOCKER_ENGINE_API_MIN))
        rc = hub_err_setc(err, HUB_E_FAILED, "docker daemon at %s: API %s is older than %s",
                          d->socket, theirs, DOCKER_ENGINE_API_MIN);
    else
        snprintf(d->api, sizeof d->api, "%s", t < ours ? theirs : DOCKER_ENGINE_API_MAX);
    json_decref(j);
    return rc;
}

/* Characters of an image reference (Docker's grammar is stricter; these
 * keep URLs and paths unambiguous). */
static int image_valid(const char *s)
{
    if (!*s || strlen(s) > DE_IMAGE_MAX || s[0] == '/' || s[0] == '-' || strstr(s, ".."))
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("._-/:@", *p)))
            return 0;
    return 1;
}

/* name and tag (or digest) of a reference; ref = what inspect, create and
 * remove name ("name:tag" or "name@digest"). */
static int split_image(const char *image, char *name, char *tag, char *ref, hub_err *err)
{
    if (!image_valid(image))
        return hub_err_setc(err, HUB_E_INVALID, "invalid image reference '%s'", image);
    const char *at = strchr(image, '@');
    const char *slash = strrchr(image, '/');
    const char *colon = strrchr(image, ':');
    if (at) {
        snprintf(name, DE_IMAGE_MAX + 1, "%.*s", (int)(at - image), image);
        snprintf(tag, DE_IMAGE_MAX + 1, "%s", at + 1);
        snprintf(ref, DE_IMAGE_MAX + 1, "%s", image);
    } else if (colon && (!slash || colon > slash)) {
        snprintf(name, DE_IMAGE_MAX + 1, "%.*s", (int)(colon - image), image);
        snprintf(tag, DE_IMAGE_MAX + 1, "%s", colon + 1);
        snprintf(ref, DE_IMAGE_MAX + 1, "%s", image);
    } else {
        snprintf(name, DE_IMAGE_MAX + 1, "%s", image);
        snprintf(tag, DE_IMAGE_MAX + 1, "latest");
        snprintf(ref, DE_IMAGE_MAX + 1, "%s:latest", image);
    }
    if (!*name || !*tag)
        return hub_err_setc(err, HUB_E_INVALID, "invalid image reference '%s'", image);
    return 0;
}

/* GET /images/<ref>/json: 0 with *inspect, FLIST_ENOENT when absent, -1. */
static int de_inspect(de *d, const char *ref, json_t **inspect, hub_err *err)
{
    char path[DE_PATH_MAX];
    snprintf(path, sizeof path, "/v%s/images/%s/json", d->api, ref);
    long status = 0;
    char *reply = NULL;
    if (de_call(d, "GET", path, NULL, &status, &reply, err) != 0)
        return -1;
    if (status == 404) {
        free(reply);
        return FLIST_ENOENT;
    }
    if (status != 200) {
        de_status_fail(status, "inspect", reply, err);
        free(reply);
        return -1;
    }
    *inspect = reply ? json_loads(reply, 0, NULL) : NULL;
    free(reply);
    if (!json_is_object(*inspect)) {
        json_decref(*inspect);
        return hub_err_set(err, "docker daemon: inspect of %s: not a JSON object", ref);
    }
    return 0;
}

/* The pull stream: JSON lines, progress and errors. */
typedef struct pull_ctx {
    de *d;
    char *line;
    size_t len;
    char error[HUB_ERR_MAX / 2];
    int over;
} pull_ctx;

static void pull_line(pull_ctx *p)
{
    json_t *j = json_loadb(p->line, p->len, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return;
    }
    const char *e = json_string_value(json_object_get(j, "error"));
    if (!e)
        e = json_string_value(json_object_get(json_object_get(j, "errorDetail"), "message"));
    if (!e)   /* a refusal before the stream: {"message": ...} */
        e = json_string_value(json_object_get(j, "message"));
    if (e && !p->error[0])
        snprintf(p->error, sizeof p->error, "%s", e);
    const char *status = json_string_value(json_object_get(j, "status"));
    if (status && p->d->o->pull_progress) {
        json_t *pd = json_object_get(j, "progressDetail");
        json_int_t cur = json_integer_value(json_object_get(pd, "current"));
        json_int_t tot = json_integer_value(json_object_get(pd, "total"));
        p->d->o->pull_progress(p->d->o->pull_ud, status,
                               json_string_value(json_object_get(j, "id")),
                               cur > 0 ? (uint64_t)cur : 0, tot > 0 ? (uint64_t)tot : 0);
    }
    json_decref(j);
}

static size_t pull_write(char *data, size_t size, size_t n, void *ud)
{
    pull_ctx *p = ud;
    size_t len = size * n;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n') {
            pull_line(p);
            p->len = 0;
            continue;
        }
        if (p->len + 1 >= DE_LINE_MAX) {
            p->over = 1;
            return 0;
        }
        p->line[p->len++] = data[i];
    }
    return len;
}

/* X-Registry-Auth header for the pull (base64url JSON, padded); NULL when
 * there are no credentials or on no memory. */
static char *registry_auth(const docker_engine_opts *o)
{
    if (!o->username || !o->password)
        return NULL;
    json_t *j = json_pack("{ssssss}", "username", o->username, "password", o->password,
                          "serveraddress", o->serveraddress ? o->serveraddress : "");
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text)
        return NULL;
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = strlen(text);
    const char *prefix = "X-Registry-Auth: ";
    char *out = malloc(strlen(prefix) + (n + 2) / 3 * 4 + 1);
    if (out) {
        char *q = out + strlen(prefix);
        memcpy(out, prefix, strlen(prefix));
        const unsigned char *s = (const unsigned char *)text;
        size_t i = 0;
        for (; i + 2 < n; i += 3) {
            *q++ = b64[s[i] >> 2];
            *q++ = b64[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
            *q++ = b64[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)];
            *q++ = b64[s[i + 2] & 63];
        }
        if (i < n) {
            *q++ = b64[s[i] >> 2];
            if (i + 1 < n) {
                *q++ = b64[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
                *q++ = b64[(s[i + 1] & 15) << 2];
            } else {
                *q++ = b64[(s[i] & 3) << 4];
                *q++ = '=';
            }
            *q++ = '=';   /* padded: the daemon decodes with Go's URLEncoding */
        }
        *q = '\0';
    }
    memset(text, 0, n);   /* the password */
    free(text);
    return out;
}

/* POST /images/create: pulls name:tag with streamed progress. */
static int de_pull(de *d, const char *name, const char *tag, hub_err *err)
{
    pull_ctx p = { .d = d, .line = malloc(DE_LINE_MAX) };
    char *ename = curl_easy_escape(NULL, name, 0);
    char *etag = curl_easy_escape(NULL, tag, 0);
    char *auth = registry_auth(d->o);
    size_t plen = (ename ? strlen(ename) : 0) + (etag ? strlen(etag) : 0) + 64;
    char *path = malloc(plen);
    CURL *h = NULL;
    struct curl_slist *hdrs = NULL;
    int rc = -1;
    if (path && ename && etag) {
        snprintf(path, plen, "/v%s/images/create?fromImage=%s&tag=%s", d->api, ename, etag);
        h = de_handle(d, path);
    }
    if (!h || !p.line || ((d->o->username && d->o->password) && !auth)) {
        hub_err_setc(err, HUB_E_NOMEM, "out of memory");
        goto out;
    }
    if (auth) {
        hdrs = curl_slist_append(hdrs, auth);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    }
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    de_cancellable(d, h);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, pull_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &p);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (p.len > 0 && !p.over)
        pull_line(&p);   /* a last line without its newline */
    if (p.over) {
        hub_err_set(err, "docker daemon: a line of the pull longer than %u bytes", DE_LINE_MAX);
    } else if (cc != CURLE_OK) {
        de_curl_fail(d, cc, err);
    } else if (status != 200) {
        hub_err_setc(err, status == 404 ? HUB_E_NOT_FOUND : HUB_E_FAILED,
                     "docker daemon: pull %s:%s: %s (HTTP %ld)", name, tag,
                     p.error[0] ? p.error : "refused", status);
    } else if (p.error[0]) {
        int missing = strstr(p.error, "not found") || strstr(p.error, "does not exist") ||
                      strstr(p.error, "denied") || strstr(p.error, "unauthorized") ||
                      strstr(p.error, "manifest unknown");
        hub_err_setc(err, missing ? HUB_E_NOT_FOUND : HUB_E_FAILED,
                     "docker daemon: pull %s:%s: %s", name, tag, p.error);
    } else {
        rc = 0;
    }
out:
    if (auth) {
        memset(auth, 0, strlen(auth));
        free(auth);
    }
    curl_slist_free_all(hdrs);
    curl_free(ename);
    curl_free(etag);
    free(path);
    if (h)
        curl_easy_cleanup(h);
    free(p.line);
    return rc;
}

/* POST /containers/create: a container of ref, never started. *id out. */
static int de_create(de *d, const char *ref, json_t *inspect, char id[DE_ID_MAX], hub_err *err)
{
    char name[DE_NAME_HEX + 1];
    for (int i = 0; i < DE_NAME_HEX; i += 8)
        snprintf(name + i, 9, "%08x", util_random_u32());
    json_t *cfg = json_object_get(inspect, "Config");
    json_t *cmd = json_object_get(cfg, "Cmd"), *ep = json_object_get(cfg, "Entrypoint");
    int none = json_array_size(cmd) == 0 && json_array_size(ep) == 0;
    json_t *body = json_pack("{ssss}", "Image", ref, "Hostname", name);
    if (body && none)
        json_object_set_new(body, "Cmd", json_pack("[s]", "/bin/sh"));
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    char path[DE_PATH_MAX];
    snprintf(path, sizeof path, "/v%s/containers/create?name=%s", d->api, name);
    long status = 0;
    char *reply = NULL;
    int rc = de_call(d, "POST", path, text, &status, &reply, err);
    free(text);
    if (rc != 0)
        return -1;
    json_t *j = reply ? json_loads(reply, 0, NULL) : NULL;
    const char *cid = json_string_value(json_object_get(j, "Id"));
    if (status != 201 || !cid || strlen(cid) >= DE_ID_MAX ||
        strspn(cid, "0123456789abcdef") != strlen(cid))
        rc = status != 201 ? de_status_fail(status, "create container", reply, err)
                           : hub_err_set(err, "docker daemon: create container: no Id");
    else
        snprintf(id, DE_ID_MAX, "%s", cid);
    json_decref(j);
    free(reply);
    return rc;
}

/* The export: a thread runs the transfer into one end of a socketpair,
 * the caller applies the other end. */
typedef struct export_ctx {
    de *d;
    CURL *h;
    int fd;                  /* write end (closed by the thread) */
    long status;
    int checked;             /* status looked at */
    buf errbody;             /* the reply of a non-200 */
    CURLcode cc;
} export_ctx;

static size_t export_write(char *data, size_t size, size_t n, void *ud)
{
    export_ctx *x = ud;
    size_t len = size * n;
    if (!x->checked) {
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
        x->checked = 1;
    }
    if (x->status != 200)
        return buf_write(data, size, n, &x->errbody) == len || x->errbody.over ? len : 0;
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(x->fd, data + off, len - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return 0;   /* the applier stopped reading: abort */
        off += (size_t)w;
    }
    return len;
}

static void *export_main(void *arg)
{
    export_ctx *x = arg;
    x->cc = curl_easy_perform(x->h);
    if (!x->checked)
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
    close(x->fd);
    return NULL;
}

/* GET /containers/<id>/export, applied to w as one uncompressed layer. */
static int de_export(de *d, const char *id, flist_writer *w, hub_err *err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return hub_err_set(err, "socketpair: %s", strerror(errno));
    char path[DE_PATH_MAX];
    snprintf(path, sizeof path, "/v%s/containers/%s/export", d->api, id);
    export_ctx x = { .d = d, .h = de_handle(d, path), .fd = sv[1],
                     .errbody = { .max = DE_ERRBODY_MAX } };
    pthread_t t;
    if (x.h) {
        curl_easy_setopt(x.h, CURLOPT_WRITEFUNCTION, export_write);
        curl_easy_setopt(x.h, CURLOPT_WRITEDATA, &x);
        de_cancellable(d, x.h);
    }
    if (!x.h || pthread_create(&t, NULL, export_main, &x) != 0) {
        if (x.h)
            curl_easy_cleanup(x.h);
        close(sv[0]);
        close(sv[1]);
        return hub_err_setc(err, HUB_E_NOMEM, "cannot start the export");
    }
    oci_layer layer = { .digest = "", .compression = OCI_COMP_NONE, .fd = sv[0] };
    hub_err aerr;
    int rc = oci_apply_layers(w, &layer, 1, d->o->export_progress, d->o->export_ud, &aerr);
    close(sv[0]);   /* a transfer still sending stops */
    pthread_join(t, NULL);
    curl_easy_cleanup(x.h);
    if (x.status != 200 && x.checked) {
        de_status_fail(x.status, "export", x.errbody.p, err);
        rc = -1;
    } else if (x.cc != CURLE_OK && x.cc != CURLE_WRITE_ERROR) {
        rc = de_curl_fail(d, x.cc, err);   /* an export cut short fails, even on a tar boundary */
    } else if (rc != 0) {
        *err = aerr;
        hub_err_prefix(err, "container export");
    }
    free(x.errbody.p);
    return rc;
}

/* DELETE path; 1 when it went (or was already gone), 0 when not. */
static int de_delete(de *d, const char *path)
{
    long status = 0;
    char *reply = NULL;
    hub_err ignored;
    int ok = de_call(d, "DELETE", path, NULL, &status, &reply, &ignored) == 0 &&
             (status == 200 || status == 204 || status == 404);
    free(reply);
    return ok;
}

int docker_engine_convert(flist_writer *w, const char *image, const docker_engine_opts *o,
                          docker_engine_info *info, hub_err *err)
{
    hub_err local;
    if (!err)
        err = &local;
    docker_engine_info dummy;
    if (!info)
        info = &dummy;
    memset(info, 0, sizeof *info);
    static const docker_engine_opts defaults;
    if (!o)
        o = &defaults;
    if (!w || !image)
        return hub_err_set(err, "docker_engine_convert: invalid arguments");
    pthread_once(&de_curl_once, de_curl_init);
    if (!de_curl_ok)
        return hub_err_set(err, "libcurl initialisation failed");

    de d = { .o = o, .socket = o->socket && *o->socket ? o->socket : DOCKER_ENGINE_DEFAULT_SOCKET };
    char name[DE_IMAGE_MAX + 1], tag[DE_IMAGE_MAX + 1], ref[DE_IMAGE_MAX + 1];
    if (split_image(image, name, tag, ref, err) != 0)
        return -1;
    snprintf(info->image, sizeof info->image, "%s", ref);
    if (de_version(&d, err) != 0)
        return -1;
    snprintf(info->api_version, sizeof info->api_version, "%s", d.api);

    json_t *inspect = NULL;
    int rc = de_inspect(&d, ref, &inspect, err);
    if (rc == FLIST_ENOENT) {
        rc = de_pull(&d, name, tag, err);
        if (rc == 0) {
            info->pulled = 1;
            rc = de_inspect(&d, ref, &inspect, err);
            if (rc == FLIST_ENOENT)
                rc = hub_err_setc(err, HUB_E_NOT_FOUND, "docker daemon: %s not found after "
                                  "its pull", ref);
        }
    }
    char id[DE_ID_MAX] = "";
    if (rc == 0)
        rc = de_create(&d, ref, inspect, id, err);
    if (rc == 0)
        rc = de_export(&d, id, w, err);
    if (rc == 0)
        rc = oci_apply_config(w, inspect, err);

    /* cleanup, on every path */
    char path[DE_PATH_MAX];
    if (*id) {
        snprintf(path, sizeof path, "/v%s/containers/%s?force=1&v=1", d.api, id);
        info->container_removed = de_delete(&d, path);
    }
    if (info->pulled) {
        snprintf(path, sizeof path, "/v%s/images/%s?force=1", d.api, ref);
        info->image_removed = de_delete(&d, path);
    }
    json_decref(inspect);
    return rc;
}
