/* oci_manifest.h - what a registry says about an image, read without
 * trusting it: the media type of a manifest reply (OCI or Docker, image
 * manifest or index / manifest list; Docker schema 1 refused), the
 * platform chosen in an index (attestations skipped), and a manifest's
 * config and layer descriptors (digests, sizes, compressions, the image
 * size limit). No network here (oci_registry.c fetches; the fuzz target
 * fuzz_oci_manifest feeds these functions directly).
 */
#ifndef ENGINE_OCI_MANIFEST_H
#define ENGINE_OCI_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "hub_err.h"
#include "oci.h"
#include "oci_registry.h"

#define OCI_MT_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define OCI_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define OCI_MT_DOCKER_SCHEMA1 "application/vnd.docker.distribution.manifest.v1"
#define OCI_MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define OCI_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define OCI_ATTESTATION_KEY "vnd.docker.reference.type"
#define OCI_CONFIG_MAX (8u << 20)     /* bytes of an image config */
#define OCI_MT_MAX 256

/* Parses "os/arch[/variant]" into its parts (each at most 31 bytes).
 * Returns 0, or -1 with err (HUB_E_INVALID). */
int oci_platform_parse(const char *s, char os[32], char arch[32], char variant[32], hub_err *err);

/* 1 for an OCI index or a Docker manifest list. */
int oci_mt_is_index(const char *mt);

/* 1 for an OCI image manifest or a Docker schema 2 manifest. */
int oci_mt_is_manifest(const char *mt);

/* The compression (oci_compression) of a layer media type, OCI or Docker;
 * -1 when it is not a layer type we can read. */
int oci_layer_compression(const char *mt);

/* The media type of manifest document `doc` (its mediaType, else the
 * reply's Content-Type without parameters, else guessed from its keys)
 * into mt. Returns 1 for an index, 0 for a manifest, or -1 with err
 * (HUB_E_INVALID: Docker schema 1, or another type) naming `object`. */
int oci_manifest_kind(json_t *doc, const char *content_type, const char *object, char *mt,
                      size_t cap, hub_err *err);

/* The manifest of `platform` ("os/arch[/variant]"; NULL: linux/amd64) in
 * an index: its digest and the platform it has ("linux/arm64/v8") into
 * chosen. Entries of os/arch unknown/unknown or with the annotation
 * vnd.docker.reference.type (attestations) are skipped. Returns 0, or -1
 * with err: HUB_E_NOT_FOUND naming the platforms the image `ref` has,
 * HUB_E_INVALID for a bad platform or entry. */
int oci_index_pick(json_t *index, const char *platform, const char *ref,
                   char digest[OCI_DIGEST_MAX], char chosen[OCI_PLATFORM_MAX], hub_err *err);

/* Reads an image manifest: the config descriptor (a container image
 * config, at most OCI_CONFIG_MAX bytes) into cdigest/csize, and the layers
 * into img->layers (fd -1), img->n_layers, img->total_size. Refuses
 * unknown layer media types, bad digests or sizes, and (max_size != 0) an
 * image whose layers and config add up to more than max_size
 * (HUB_E_TOO_LARGE). Returns 0, or -1 with err (img->layers may be set:
 * oci_image_clear frees it). */
int oci_manifest_read(json_t *doc, uint64_t max_size, oci_image *img, char cdigest[OCI_DIGEST_MAX],
                      uint64_t *csize, hub_err *err);

#endif
