/* upload.c - streaming of multipart/form-data bodies to a spool file in the
 * upload directory (upload.h). The spool file is created with O_EXCL under a
 * random name (D14: concurrent uploads never share a file) and removed
 * unless a job took it over (D13). */
#include "upload.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"

#define MAX_META_BYTES (64 * 1024)
#define MAX_FIELDS 128

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Appends to a JSON string field value (fields arrive in pieces). */
static int append_field(json_t *obj, const char *key, const char *data, size_t size, size_t *budget)
{
    if (size > *budget)
        return -1;
    *budget -= size;
    json_t *old = json_object_get(obj, key);
    if (!old && json_object_size(obj) >= MAX_FIELDS)
        return -1;
    const char *prev = old ? json_string_value(old) : "";
    size_t pl = old ? json_string_length(old) : 0;
    char *buf = malloc(pl + size + 1);
    if (!buf)
        return -1;
    memcpy(buf, prev, pl);
    memcpy(buf + pl, data, size);
    buf[pl + size] = '\0';
    json_t *v = json_stringn_nocheck(buf, pl + size);
    free(buf);
    return v ? json_object_set_new(obj, key, v) : -1;
}

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *filename, const char *content_type,
                               const char *transfer_encoding, const char *data, uint64_t off,
                               size_t size)
{
    api_req *r = cls;
    api_upload *u = r->upload;
    if (!key)
        return MHD_YES;
    if (strcmp(key, "file") == 0 && filename && (!u->has_file || (u->in_file && off > 0))) {
        if (!u->has_file) {
            u->has_file = 1;
            u->in_file = 1;
            if (!(u->filename = strdup(filename)))
                return MHD_NO;
        }
        if (size && write_all(u->fd, data, size) < 0) {
            snprintf(u->error, sizeof u->error, "cannot write the upload: %s", strerror(errno));
            return MHD_NO;
        }
        u->bytes += size;
        return MHD_YES;
    }
    if (u->in_file)
        u->in_file = 0; /* another part began: the file part is complete */
    if (filename)
        return MHD_YES; /* other file parts are ignored */
    if (strncmp(key, "metadata-", 9) == 0 && key[9]) {
        /* first value wins when repeated: only append while it is the
         * part being received (off > 0 continues it) */
        if (off == 0 && json_object_get(u->metadata, key + 9))
            return MHD_YES;
        if (append_field(u->metadata, key + 9, data, size, &u->meta_bytes) < 0) {
            u->bad = 1;
            snprintf(u->error, sizeof u->error, "too many or too large metadata fields");
            return MHD_NO;
        }
        return MHD_YES;
    }
    if (off == 0 && json_object_get(u->fields, key))
        return MHD_YES;
    if (append_field(u->fields, key, data, size, &u->meta_bytes) < 0) {
        u->bad = 1;
        snprintf(u->error, sizeof u->error, "too many or too large form fields");
        return MHD_NO;
    }
    return MHD_YES;
}

int upload_begin(api_req *r, hub_err *err)
{
    const hub_config *c = &r->srv->cfg;
    const char *len = api_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (len) {
        char *end;
        unsigned long long n = strtoull(len, &end, 10);
        if (*end == '\0' && n > c->max_upload_size)
            return hub_err_setc(err, HUB_E_TOO_LARGE, "upload too large: %llu bytes, the "
                                "limit is %llu", n, (unsigned long long)c->max_upload_size);
    }
    api_upload *u = calloc(1, sizeof *u);
    if (!u)
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    r->upload = u;
    u->fd = -1;
    u->meta_bytes = MAX_META_BYTES;
    u->metadata = json_object();
    u->fields = json_object();
    if (!u->metadata || !u->fields)
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    const char *ctype = api_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ctype || strncasecmp(ctype, "multipart/form-data", 19) != 0)
        return 0; /* no file part: the handler answers "no file found" */
    u->pp = MHD_create_post_processor(r->conn, 65536, on_part, r);
    if (!u->pp)
        return 0; /* malformed multipart header: same as no file */
    uint8_t rnd[16];
    char hex[33];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
    char path[PATH_MAX];
    char *abs = realpath(c->upload_dir, NULL);
    if (!abs)
        return hub_err_set(err, "upload directory %s: %s", c->upload_dir, strerror(errno));
    int n = snprintf(path, sizeof path, "%s/upload-%s.part", abs, hex);
    free(abs);
    if (n < 0 || (size_t)n >= sizeof path)
        return hub_err_set(err, "upload directory path too long");
    u->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (u->fd < 0)
        return hub_err_set(err, "cannot create the spool file: %s", strerror(errno));
    if (!(u->spool_path = strdup(path)))
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    return 0;
}

int upload_feed(api_req *r, const char *data, size_t size, hub_err *err)
{
    api_upload *u = r->upload;
    u->body_bytes += size;
    if (u->body_bytes > r->srv->cfg.max_upload_size) {
        u->too_large = 1;
        return hub_err_setc(err, HUB_E_TOO_LARGE, "upload too large: the limit is %llu bytes",
                            (unsigned long long)r->srv->cfg.max_upload_size);
    }
    if (!u->pp)
        return 0; /* not multipart: discarded */
    if (MHD_post_process(u->pp, data, size) != MHD_YES) {
        if (u->error[0])
            return hub_err_setc(err, u->bad ? HUB_E_INVALID : HUB_E_FAILED, "%s", u->error);
        return hub_err_setc(err, HUB_E_INVALID, "malformed multipart body");
    }
    return 0;
}

int upload_end(api_req *r, hub_err *err)
{
    api_upload *u = r->upload;
    if (u->pp) {
        MHD_destroy_post_processor(u->pp);
        u->pp = NULL;
    }
    if (u->fd >= 0) {
        int rc = fsync(u->fd);
        if (close(u->fd) < 0 || rc < 0) {
            u->fd = -1;
            return hub_err_set(err, "cannot write the upload: %s", strerror(errno));
        }
        u->fd = -1;
    }
    return 0;
}

void upload_discard(api_upload *u)
{
    if (!u || u->kept)
        return;
    if (u->fd >= 0) {
        close(u->fd);
        u->fd = -1;
    }
    if (u->spool_path) {
        unlink(u->spool_path);
        free(u->spool_path);
        u->spool_path = NULL;
    }
}

void upload_free(api_upload *u)
{
    if (!u)
        return;
    if (u->pp)
        MHD_destroy_post_processor(u->pp);
    if (u->fd >= 0)
        close(u->fd);
    if (u->spool_path && !u->kept)
        unlink(u->spool_path);
    free(u->spool_path);
    free(u->filename);
    json_decref(u->metadata);
    json_decref(u->fields);
    free(u);
}

/* ---- small form bodies ---- */

static int hexv(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static char *url_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    size_t o = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        int a, b;
        if (s[i] == '+')
            out[o++] = ' ';
        else if (s[i] == '%' && i + 2 < n && (a = hexv(s[i + 1])) >= 0 && (b = hexv(s[i + 2])) >= 0) {
            out[o++] = (char)(a * 16 + b);
            i += 2;
        } else
            out[o++] = s[i];
    }
    out[o] = '\0';
    return out;
}

/* Multipart: finds the part named `name` in body and returns its content. */
static char *multipart_field(const char *ctype, const char *body, size_t len, const char *name)
{
    const char *b = strcasestr(ctype, "boundary=");
    if (!b)
        return NULL;
    b += 9;
    char boundary[256];
    size_t bl = 0;
    if (*b == '"')
        b++;
    while (b[bl] && b[bl] != '"' && b[bl] != ';' && b[bl] != ' ' && bl < 200)
        bl++;
    snprintf(boundary, sizeof boundary, "--%.*s", (int)bl, b);
    char want[300];
    snprintf(want, sizeof want, "name=\"%s\"", name);
    const char *p = body, *end = body + len;
    while ((p = memmem(p, (size_t)(end - p), boundary, strlen(boundary)))) {
        p += strlen(boundary);
        const char *hdr_end = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hdr_end)
            return NULL;
        const char *found = memmem(p, (size_t)(hdr_end - p), want, strlen(want));
        const char *data = hdr_end + 4;
        const char *next = memmem(data, (size_t)(end - data), boundary, strlen(boundary));
        if (found && next && next - data >= 2)
            return strndup(data, (size_t)(next - data - 2));
        p = data;
    }
    return NULL;
}

char *form_field(api_req *r, const char *name)
{
    const char *ctype = r->body_ctype ? r->body_ctype : api_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!r->body || !ctype)
        return NULL;
    if (strncasecmp(ctype, "multipart/form-data", 19) == 0)
        return multipart_field(ctype, r->body, r->body_len, name);
    size_t nl = strlen(name);
    const char *p = r->body;
    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t seg = amp ? (size_t)(amp - p) : strlen(p);
        if (seg > nl && strncmp(p, name, nl) == 0 && p[nl] == '=')
            return url_decode(p + nl + 1, seg - nl - 1);
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}
