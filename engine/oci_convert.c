/* oci_convert.c - registry image -> flist writer orchestration and the
 * original's flist name (oci_convert.h). */
#include "oci_convert.h"

#include <stdio.h>
#include <string.h>

#include "oci.h"

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
            rc = oci_apply_layers(w, img.layers, img.n_layers, o->apply_progress,
                                  o->apply_progress_ud, err);
        if (rc == 0)
            rc = oci_apply_config(w, img.config, err);
        oci_image_clear(&img);
    }
    oci_registry_free(r);
    return rc;
}
