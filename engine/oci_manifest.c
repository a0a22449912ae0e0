/* oci_manifest.c - manifests, indexes and descriptors read without
 * trusting the registry (oci_manifest.h). */
#include "oci_manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci_ref.h"

#define PLATFORMS_TEXT_MAX 1024

int oci_platform_parse(const char *s, char os[32], char arch[32], char variant[32], hub_err *err)
{
    os[0] = arch[0] = variant[0] = '\0';
    if (!s || !*s)
        s = OCI_DEFAULT_PLATFORM;
    const char *a = strchr(s, '/');
    const char *v = a ? strchr(a + 1, '/') : NULL;
    size_t ol = a ? (size_t)(a - s) : 0;
    size_t al = a ? (v ? (size_t)(v - a - 1) : strlen(a + 1)) : 0;
    size_t vl = v ? strlen(v + 1) : 0;
    if (!a || ol == 0 || ol > 31 || al == 0 || al > 31 || vl > 31 || (v && vl == 0) ||
        (v && strchr(v + 1, '/')))
        return hub_err_setc(err, HUB_E_INVALID,
                            "invalid platform \"%.64s\": expected os/arch[/variant], e.g. linux/amd64",
                            s);
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '/' || *p == '_' ||
              *p == '-' || *p == '.'))
            return hub_err_setc(err, HUB_E_INVALID, "invalid platform \"%.64s\"", s);
    memcpy(os, s, ol);
    os[ol] = '\0';
    memcpy(arch, a + 1, al);
    arch[al] = '\0';
    if (v) {
        memcpy(variant, v + 1, vl);
        variant[vl] = '\0';
    }
    return 0;
}

int oci_mt_is_index(const char *mt)
{
    return strcmp(mt, OCI_MT_INDEX) == 0 || strcmp(mt, OCI_MT_DOCKER_LIST) == 0;
}

int oci_mt_is_manifest(const char *mt)
{
    return strcmp(mt, OCI_MT_MANIFEST) == 0 || strcmp(mt, OCI_MT_DOCKER_MANIFEST) == 0;
}

int oci_manifest_kind(json_t *doc, const char *content_type, const char *object, char *mt,
                      size_t cap, hub_err *err)
{
    const char *given = json_string_value(json_object_get(doc, "mediaType"));
    if (given) {
        snprintf(mt, cap, "%s", given);
    } else {
        snprintf(mt, cap, "%s", content_type ? content_type : "");
        char *semi = strchr(mt, ';');
        if (semi)
            *semi = '\0';
        if (!oci_mt_is_index(mt) && !oci_mt_is_manifest(mt) &&
            strncmp(mt, OCI_MT_DOCKER_SCHEMA1, strlen(OCI_MT_DOCKER_SCHEMA1)) != 0) {
            if (json_object_get(doc, "manifests"))
                snprintf(mt, cap, "%s", OCI_MT_INDEX);
            else if (json_object_get(doc, "layers"))
                snprintf(mt, cap, "%s", OCI_MT_MANIFEST);
        }
    }
    if (strncmp(mt, OCI_MT_DOCKER_SCHEMA1, strlen(OCI_MT_DOCKER_SCHEMA1)) == 0 ||
        json_integer_value(json_object_get(doc, "schemaVersion")) == 1)
        return hub_err_setc(err, HUB_E_INVALID, "unsupported media type %s (Docker schema 1 "
                            "manifest): push the image again with a current client",
                            mt[0] ? mt : "schema 1");
    if (oci_mt_is_index(mt))
        return 1;
    if (oci_mt_is_manifest(mt))
        return 0;
    return hub_err_setc(err, HUB_E_INVALID, "unsupported media type \"%s\" for manifest %s", mt,
                        object);
}

/* A descriptor's digest and size, checked. */
static int descriptor(json_t *d, const char *what, char digest[OCI_DIGEST_MAX], uint64_t *size,
                      hub_err *err)
{
    const char *dg = json_string_value(json_object_get(d, "digest"));
    json_t *sz = json_object_get(d, "size");
    if (!dg || !oci_digest_valid(dg))
        return hub_err_setc(err, HUB_E_INVALID, "%s: missing or unsupported digest \"%.80s\"", what,
                            dg ? dg : "");
    if (!json_is_integer(sz) || json_integer_value(sz) < 0)
        return hub_err_setc(err, HUB_E_INVALID, "%s: missing size", what);
    snprintf(digest, OCI_DIGEST_MAX, "%s", dg);
    *size = (uint64_t)json_integer_value(sz);
    return 0;
}

int oci_index_pick(json_t *index, const char *platform, const char *ref,
                   char digest[OCI_DIGEST_MAX], char chosen[OCI_PLATFORM_MAX], hub_err *err)
{
    char os[32], arch[32], variant[32];
    if (oci_platform_parse(platform, os, arch, variant, err) != 0)
        return -1;
    json_t *list = json_object_get(index, "manifests");
    size_t i;
    json_t *m;
    char have[PLATFORMS_TEXT_MAX] = "";
    size_t hl = 0;
    json_array_foreach(list, i, m) {
        json_t *ann = json_object_get(m, "annotations");
        if (json_object_get(ann, OCI_ATTESTATION_KEY))
            continue;
        json_t *p = json_object_get(m, "platform");
        const char *mos = json_string_value(json_object_get(p, "os"));
        const char *march = json_string_value(json_object_get(p, "architecture"));
        const char *mvar = json_string_value(json_object_get(p, "variant"));
        if (!mos || !march || (strcmp(mos, "unknown") == 0 && strcmp(march, "unknown") == 0))
            continue;
        if (strcmp(mos, os) == 0 && strcmp(march, arch) == 0 &&
            (!variant[0] || (mvar && strcmp(mvar, variant) == 0))) {
            uint64_t sz;
            if (descriptor(m, "index entry", digest, &sz, err) != 0)
                return -1;
            snprintf(chosen, OCI_PLATFORM_MAX, "%.20s/%.20s%s%.20s", os, arch, mvar ? "/" : "",
                     mvar ? mvar : "");
            return 0;
        }
        if (hl + 80 < sizeof have)
            hl += (size_t)snprintf(have + hl, sizeof have - hl, "%s%.24s/%.24s%s%.24s",
                                   hl ? ", " : "", mos, march, mvar ? "/" : "", mvar ? mvar : "");
    }
    return hub_err_setc(err, HUB_E_NOT_FOUND, "no image for platform %s/%s%s%s in %s: it has %s", os,
                        arch, variant[0] ? "/" : "", variant, ref, have[0] ? have : "no platform");
}

int oci_layer_compression(const char *mt)
{
    static const struct { const char *mt; oci_compression c; } types[] = {
        { "application/vnd.oci.image.layer.v1.tar", OCI_COMP_NONE },
        { "application/vnd.oci.image.layer.v1.tar+gzip", OCI_COMP_GZIP },
        { "application/vnd.oci.image.layer.v1.tar+zstd", OCI_COMP_ZSTD },
        { "application/vnd.oci.image.layer.nondistributable.v1.tar", OCI_COMP_NONE },
        { "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", OCI_COMP_GZIP },
        { "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", OCI_COMP_ZSTD },
        { "application/vnd.docker.image.rootfs.diff.tar", OCI_COMP_NONE },
        { "application/vnd.docker.image.rootfs.diff.tar.gzip", OCI_COMP_GZIP },
        { "application/vnd.docker.image.rootfs.diff.tar.zstd", OCI_COMP_ZSTD },
        { "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", OCI_COMP_GZIP },
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(mt, types[i].mt) == 0)
            return (int)types[i].c;
    return -1;
}

int oci_manifest_read(json_t *doc, uint64_t max_size, oci_image *img, char cdigest[OCI_DIGEST_MAX],
                      uint64_t *csize, hub_err *err)
{
    json_t *cfg = json_object_get(doc, "config");
    const char *cmt = json_string_value(json_object_get(cfg, "mediaType"));
    if (!cmt || (strcmp(cmt, OCI_MT_CONFIG) != 0 && strcmp(cmt, OCI_MT_DOCKER_CONFIG) != 0))
        return hub_err_setc(err, HUB_E_INVALID, "unsupported media type \"%.80s\" for the image "
                            "config (not a container image?)", cmt ? cmt : "");
    if (descriptor(cfg, "config", cdigest, csize, err) != 0)
        return -1;
    if (*csize > OCI_CONFIG_MAX)
        return hub_err_setc(err, HUB_E_TOO_LARGE, "image config of %llu bytes (at most %u)",
                            (unsigned long long)*csize, OCI_CONFIG_MAX);
    json_t *layers = json_object_get(doc, "layers");
    size_t n = json_array_size(layers);
    img->layers = calloc(n ? n : 1, sizeof *img->layers);
    if (!img->layers)
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    uint64_t total = *csize;
    for (size_t i = 0; i < n; i++) {
        json_t *l = json_array_get(layers, i);
        const char *lmt = json_string_value(json_object_get(l, "mediaType"));
        int comp = lmt ? oci_layer_compression(lmt) : -1;
        img->layers[i].fd = -1;
        img->n_layers = i + 1;
        if (comp < 0)
            return hub_err_setc(err, HUB_E_INVALID, "unsupported media type \"%.80s\" for layer %zu",
                                lmt ? lmt : "", i + 1);
        char what[32];
        snprintf(what, sizeof what, "layer %zu", i + 1);
        if (descriptor(l, what, img->layers[i].digest, &img->layers[i].size, err) != 0)
            return -1;
        img->layers[i].compression = (oci_compression)comp;
        uint64_t sz = img->layers[i].size;
        /* the sum of sizes a registry declares may not wrap around */
        total = sz > UINT64_MAX - total ? UINT64_MAX : total + sz;
        img->total_size = total - *csize;
    }
    img->n_layers = n;
    if (max_size && total > max_size)
        return hub_err_setc(err, HUB_E_TOO_LARGE, "image of %llu bytes (compressed layers) is over "
                            "the limit of %llu bytes", (unsigned long long)total,
                            (unsigned long long)max_size);
    return 0;
}
