/* oci_layout.c - opens an image of an OCI image layout directory
 * (oci_layout_open, oci_layout_close; declared in oci_layout.h):
 * index.json -> (index ->) manifest -> config + layers, each blob verified
 * (sha256, size) before use. What `flist create oci:DIR[:TAG]` reads.
 */
#include "oci_layout.h"
#include "oci_manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#define LAYOUT_SHA256_PREFIX "sha256:"
#define LAYOUT_SHA256_HEX 64
#define LAYOUT_READ_BLOCK 65536
#define LAYOUT_MAX_NESTING 4            /* index -> index -> ... -> manifest */
#define LAYOUT_REF_NAME "org.opencontainers.image.ref.name"
#define LAYOUT_ATTESTATION "vnd.docker.reference.type"

/* The hex of a valid "sha256:<64 lower-case hex>" digest, else NULL. */
static const char *digest_hex(const char *d)
{
    size_t plen = strlen(LAYOUT_SHA256_PREFIX);
    if (!d || strncmp(d, LAYOUT_SHA256_PREFIX, plen) != 0)
        return NULL;
    const char *h = d + plen;
    size_t i = 0;
    for (; h[i]; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
            return NULL;
    return i == LAYOUT_SHA256_HEX ? h : NULL;
}

/* A descriptor's digest and size. Returns 0 or -1 with err. */
static int descriptor(json_t *d, const char *what, const char **digest, uint64_t *size,
                      hub_err *err)
{
    *digest = json_string_value(json_object_get(d, "digest"));
    json_t *sz = json_object_get(d, "size");
    if (!json_is_object(d) || !digest_hex(*digest) || !json_is_integer(sz) ||
        json_integer_value(sz) < 0)
        return hub_err_setc(err, HUB_E_INVALID, "%s: descriptor without a valid sha256 digest "
                            "and size", what);
    *size = (uint64_t)json_integer_value(sz);
    return 0;
}

/* Opens blob `digest` of the layout and verifies its size and sha256;
 * returns its fd at offset 0, or -1 with err. */
static int blob_open(int dirfd, const char *digest, uint64_t size, hub_err *err)
{
    char path[16 + LAYOUT_SHA256_HEX];
    snprintf(path, sizeof path, "blobs/sha256/%s", digest_hex(digest));
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return hub_err_setc(err, errno == ENOENT ? HUB_E_NOT_FOUND : HUB_E_FAILED,
                            "blob %s: %s", digest, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size) {
        close(fd);
        return hub_err_setc(err, HUB_E_INVALID, "blob %s: size mismatch (the descriptor says "
                            "%llu bytes)", digest, (unsigned long long)size);
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char *buf = malloc(LAYOUT_READ_BLOCK);
    int ok = md && buf && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
    ssize_t n = 0;
    while (ok && (n = read(fd, buf, LAYOUT_READ_BLOCK)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            ok = 0;
            break;
        }
        ok = EVP_DigestUpdate(md, buf, (size_t)n) == 1;
    }
    unsigned char sum[32];
    unsigned int sumlen = 0;
    ok = ok && EVP_DigestFinal_ex(md, sum, &sumlen) == 1 && sumlen == sizeof sum;
    EVP_MD_CTX_free(md);
    free(buf);
    if (!ok) {
        close(fd);
        return hub_err_set(err, "blob %s: cannot read it", digest);
    }
    char hex[LAYOUT_SHA256_HEX + 1];
    for (size_t i = 0; i < sizeof sum; i++)
        snprintf(hex + 2 * i, 3, "%02x", sum[i]);
    if (strcmp(hex, digest_hex(digest)) != 0) {
        close(fd);
        return hub_err_setc(err, HUB_E_INVALID, "blob %s: digest mismatch (its content is "
                            "sha256:%s)", digest, hex);
    }
    if (lseek(fd, 0, SEEK_SET) != 0) {
        close(fd);
        return hub_err_set(err, "blob %s: %s", digest, strerror(errno));
    }
    return fd;
}

/* Reads a JSON file of at most OCI_LAYOUT_JSON_MAX bytes from fd (closed). */
static json_t *json_fd(int fd, const char *what, hub_err *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size > (off_t)OCI_LAYOUT_JSON_MAX) {
        close(fd);
        hub_err_setc(err, HUB_E_INVALID, "%s: larger than %u bytes", what, OCI_LAYOUT_JSON_MAX);
        return NULL;
    }
    size_t len = (size_t)st.st_size, got = 0;
    char *buf = malloc(len + 1);
    while (buf && got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (!buf || got != len) {
        free(buf);
        hub_err_set(err, "%s: cannot read it", what);
        return NULL;
    }
    json_error_t je;
    json_t *v = json_loadb(buf, len, 0, &je);
    free(buf);
    if (!json_is_object(v)) {
        json_decref(v);
        hub_err_setc(err, HUB_E_INVALID, "%s: not a JSON object", what);
        return NULL;
    }
    return v;
}

/* The blob of a descriptor as JSON, verified. */
static json_t *blob_json(int dirfd, json_t *desc, const char *what, hub_err *err)
{
    const char *digest;
    uint64_t size = 0;
    if (descriptor(desc, what, &digest, &size, err) != 0)
        return NULL;
    if (size > OCI_LAYOUT_JSON_MAX) {
        hub_err_setc(err, HUB_E_INVALID, "%s %s: larger than %u bytes", what, digest,
                     OCI_LAYOUT_JSON_MAX);
        return NULL;
    }
    int fd = blob_open(dirfd, digest, size, err);
    return fd < 0 ? NULL : json_fd(fd, what, err);
}

/* The entry of index `idx` for os/arch, skipping attestations. On no
 * match, err names the platforms there are. */
static json_t *pick_platform(json_t *idx, const char *os, const char *arch, hub_err *err)
{
    json_t *ms = json_object_get(idx, "manifests");
    char have[256] = "";
    size_t i;
    json_t *m;
    json_array_foreach(ms, i, m) {
        json_t *ann = json_object_get(m, "annotations");
        if (json_object_get(ann, LAYOUT_ATTESTATION))
            continue;
        json_t *p = json_object_get(m, "platform");
        const char *mos = json_string_value(json_object_get(p, "os"));
        const char *march = json_string_value(json_object_get(p, "architecture"));
        if (!mos || !march || (strcmp(mos, "unknown") == 0 && strcmp(march, "unknown") == 0))
            continue;
        if (strcmp(mos, os) == 0 && strcmp(march, arch) == 0)
            return m;
        size_t l = strlen(have);
        snprintf(have + l, sizeof have - l, "%s%s/%s", l ? ", " : "", mos, march);
    }
    hub_err_setc(err, HUB_E_NOT_FOUND, "no image for platform %s/%s (the image has: %s)", os,
                 arch, *have ? have : "none");
    return NULL;
}

/* The entry of index.json for tag (NULL: the only one). */
static json_t *pick_tag(json_t *idx, const char *tag, hub_err *err)
{
    json_t *ms = json_object_get(idx, "manifests");
    if (!json_is_array(ms) || json_array_size(ms) == 0) {
        hub_err_setc(err, HUB_E_NOT_FOUND, "index.json lists no image");
        return NULL;
    }
    if (!tag) {
        if (json_array_size(ms) == 1)
            return json_array_get(ms, 0);
        hub_err_setc(err, HUB_E_INVALID, "the layout holds %zu images: name one (oci:DIR:TAG)",
                     json_array_size(ms));
        return NULL;
    }
    char have[256] = "";
    size_t i;
    json_t *m;
    json_array_foreach(ms, i, m) {
        const char *name = json_string_value(json_object_get(json_object_get(m, "annotations"),
                                                             LAYOUT_REF_NAME));
        if (!name)
            continue;
        if (strcmp(name, tag) == 0)
            return m;
        size_t l = strlen(have);
        snprintf(have + l, sizeof have - l, "%s%s", l ? ", " : "", name);
    }
    hub_err_setc(err, HUB_E_NOT_FOUND, "no image tagged '%s' in the layout (tags: %s)", tag,
                 *have ? have : "none");
    return NULL;
}

/* Fills img from a manifest. Returns 0 or -1 with err. */
static int load_manifest(int dirfd, json_t *man, oci_layout_image *img, hub_err *err)
{
    img->config = blob_json(dirfd, json_object_get(man, "config"), "image config", err);
    if (!img->config)
        return -1;
    json_t *layers = json_object_get(man, "layers");
    if (!json_is_array(layers))
        return hub_err_setc(err, HUB_E_INVALID, "manifest: no layers list");
    size_t n = json_array_size(layers);
    img->layers = calloc(n ? n : 1, sizeof *img->layers);
    if (!img->layers)
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        img->layers[i].fd = -1;
    img->nlayers = n;
    for (size_t i = 0; i < n; i++) {
        json_t *d = json_array_get(layers, i);
        const char *mt = json_string_value(json_object_get(d, "mediaType"));
        int comp = mt ? oci_layer_compression(mt) : -1;
        if (comp < 0)
            return hub_err_setc(err, HUB_E_INVALID, "layer %zu: unsupported media type %s",
                                i + 1, mt ? mt : "(none)");
        const char *digest;
        uint64_t size = 0;
        if (descriptor(d, "layer", &digest, &size, err) != 0)
            return -1;
        oci_layer *l = &img->layers[i];
        snprintf(l->digest, sizeof l->digest, "%s", digest);
        l->compression = (oci_compression)comp;
        l->size = size;
        l->fd = blob_open(dirfd, digest, size, err);
        if (l->fd < 0)
            return hub_err_prefix(err, "layer %zu", i + 1);
    }
    return 0;
}

int oci_layout_open(const char *dir, const char *tag, const char *os, const char *arch,
                    oci_layout_image *img, hub_err *err)
{
    hub_err local;
    if (!err)
        err = &local;
    memset(img, 0, sizeof *img);
    if (!os)
        os = OCI_LAYOUT_DEFAULT_OS;
    if (!arch)
        arch = OCI_LAYOUT_DEFAULT_ARCH;
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return hub_err_setc(err, errno == ENOENT ? HUB_E_NOT_FOUND : HUB_E_FAILED,
                            "%s: %s", dir, strerror(errno));
    int rc = -1;
    json_t *cur = NULL;
    int fd = openat(dirfd, "index.json", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        hub_err_setc(err, HUB_E_INVALID, "%s: not an OCI image layout (no index.json)", dir);
        goto out;
    }
    json_t *top = json_fd(fd, "index.json", err);
    if (!top)
        goto out;
    json_t *desc = pick_tag(top, tag, err);
    json_incref(desc);
    json_decref(top);
    int failed = !desc;
    for (int depth = 0; desc && !failed && depth <= LAYOUT_MAX_NESTING; depth++) {
        const char *mt = json_string_value(json_object_get(desc, "mediaType"));
        json_t *blob = blob_json(dirfd, desc, "manifest", err);
        if (!blob) {
            failed = 1;
            break;
        }
        if (!mt)
            mt = json_string_value(json_object_get(blob, "mediaType"));
        if (mt && oci_mt_is_index(mt)) {
            json_t *next = pick_platform(blob, os, arch, err);
            json_incref(next);
            json_decref(blob);
            json_decref(desc);
            desc = next;
            failed = !next;
            continue;
        }
        if (!mt || !oci_mt_is_manifest(mt)) {
            hub_err_setc(err, HUB_E_INVALID, "unsupported manifest media type %s",
                         mt ? mt : "(none)");
            json_decref(blob);
            failed = 1;
            break;
        }
        snprintf(img->manifest_digest, sizeof img->manifest_digest, "%s",
                 json_string_value(json_object_get(desc, "digest")));
        cur = blob;
        break;
    }
    if (!cur && !failed)
        hub_err_setc(err, HUB_E_INVALID, "indexes nested more than %d deep", LAYOUT_MAX_NESTING);
    json_decref(desc);
    if (cur)
        rc = load_manifest(dirfd, cur, img, err);
out:
    json_decref(cur);
    close(dirfd);
    if (rc != 0)
        oci_layout_close(img);
    return rc;
}

void oci_layout_close(oci_layout_image *img)
{
    if (!img)
        return;
    for (size_t i = 0; img->layers && i < img->nlayers; i++)
        if (img->layers[i].fd >= 0)
            close(img->layers[i].fd);
    free(img->layers);
    json_decref(img->config);
    memset(img, 0, sizeof *img);
}
