/* oci_layout.h - an OCI image layout directory (image-spec
 * "image-layout.md": oci-layout, index.json, blobs/sha256/<hex>) opened as
 * an image ready for oci_apply_layers and oci_apply_config. Every blob
 * used (index, manifest, config, layers) is verified against its
 * descriptor's sha256 digest and size before use.
 */
#ifndef ENGINE_OCI_LAYOUT_H
#define ENGINE_OCI_LAYOUT_H

#include <stddef.h>

#include <jansson.h>

#include "hub_err.h"
#include "oci.h"

/* Default platform of an image index: what ZOS nodes run. */
#define OCI_LAYOUT_DEFAULT_OS "linux"
#define OCI_LAYOUT_DEFAULT_ARCH "amd64"

/* Largest JSON blob (index, manifest, config) read into memory. */
#define OCI_LAYOUT_JSON_MAX (4u * 1024 * 1024)

/* An image opened from a layout. */
typedef struct oci_layout_image {
    json_t *config;                    /* the config blob */
    oci_layer *layers;                 /* fds open at their start */
    size_t nlayers;
    char manifest_digest[OCI_DIGEST_MAX];
} oci_layout_image;

/* Opens the image of layout `dir` named `tag` (annotation
 * org.opencontainers.image.ref.name of an index.json entry; NULL: the
 * only manifest there). An index (also nested) is resolved to the
 * manifest of os/arch (NULL: linux/amd64); attestation entries
 * (vnd.docker.reference.type) and unknown/unknown are skipped. Docker
 * schema2 manifests and manifest lists are accepted too. Returns 0 with
 * *img filled (free with oci_layout_close), or -1 with err: HUB_E_NOT_FOUND
 * (no such tag, no such platform: the message names what there is),
 * HUB_E_INVALID (bad JSON, digest or size mismatch, unsupported media
 * type). */
int oci_layout_open(const char *dir, const char *tag, const char *os, const char *arch,
                    oci_layout_image *img, hub_err *err);

/* Closes the layer fds and frees. NULL or zeroed ok. */
void oci_layout_close(oci_layout_image *img);

#endif
