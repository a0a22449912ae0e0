/* oci_convert.c - registry image -> flist writer orchestration and the
 * original's flist name (oci_convert.h). */
#include "oci_convert.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "oci.h"

#define SALT_BYTES 8
#define MEMO_KEY_LEN (64 + 1 + 2 * SALT_BYTES + 1)

/* Turns on the writer's layer memo for img's layers: key "<digest hex>-<salt>". */
static int memo_setup(flist_writer *w, const oci_convert_opts *o, const oci_image *img,
                      hub_err *err)
{
    if (!o->memo_dir || !*o->memo_dir)
        return 0;
    if (mkdir(o->memo_dir, 0750) != 0 && errno != EEXIST)
        return hub_err_set(err, "layer memo %s: %m", o->memo_dir);
    unsigned char salt[SALT_BYTES];
    const char *id = o->memo_backend ? o->memo_backend : "";
    crypto_generichash(salt, sizeof salt, (const unsigned char *)id, strlen(id), NULL, 0);
    char hex[2 * SALT_BYTES + 1];
    sodium_bin2hex(hex, sizeof hex, salt, sizeof salt);
    char (*keys)[MEMO_KEY_LEN] = calloc(img->n_layers ? img->n_layers : 1, sizeof *keys);
    const char **ptrs = calloc(img->n_layers ? img->n_layers : 1, sizeof *ptrs);
    int rc = keys && ptrs ? 0 : hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < img->n_layers; i++) {
        snprintf(keys[i], MEMO_KEY_LEN, "%s-%s", img->layers[i].digest + strlen("sha256:"), hex);
        ptrs[i] = keys[i];
    }
    if (rc == 0)
        rc = flist_writer_layer_memo(w, o->memo_dir, ptrs, img->n_layers, err);
    free(keys);
    free(ptrs);
    return rc;
}

int oci_convert_registry(flist_writer *w, const char *image, const oci_convert_opts *o,
                         oci_convert_info *info, hub_err *err)
{
    oci_ref ref;
    if (oci_ref_parse(image, &ref, err) != 0)
        return -1;
    if (o->phase)
        o->phase(o->phase_ud, OCI_PHASE_RESOLVING, NULL);
    oci_registry *r = oci_registry_new(&o->registry, &ref, err);
    if (!r)
        return -1;
    oci_image img;
    int rc = oci_registry_resolve(r, &img, err);
    if (rc == 0) {
        if (info) {
            memset(info, 0, sizeof *info);
            oci_ref_string(&ref, info->ref, sizeof info->ref);
            snprintf(info->manifest_digest, sizeof info->manifest_digest, "%s", img.manifest_digest);
            snprintf(info->platform, sizeof info->platform, "%s", img.platform);
            info->layers = img.n_layers;
            info->bytes = img.total_size;
        }
        if (o->phase)
            o->phase(o->phase_ud, OCI_PHASE_PULLING, &img);
        rc = oci_registry_fetch(r, &img, err);
        if (rc == 0 && info)
            info->layers_cached = img.n_cached;
        if (rc == 0 && o->phase)
            o->phase(o->phase_ud, OCI_PHASE_APPLYING, &img);
        if (rc == 0)
            rc = memo_setup(w, o, &img, err);
        if (rc == 0)
            rc = oci_apply_layers(w, img.layers, img.n_layers, o->apply_progress,
                                  o->apply_progress_ud, err);
        if (rc == 0)
            rc = oci_apply_config(w, img.config, err);
        oci_image_clear(&img);
    }
    oci_registry_free(r);
    return rc;
}
