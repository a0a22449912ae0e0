/* create_image.h - `flist create` from a container image held locally:
 * an OCI image layout directory (oci:DIR[:TAG]) or a Docker daemon's
 * image (docker-daemon:NAME[:TAG], the engine path). create_image.c. */
#ifndef CLI_CREATE_IMAGE_H
#define CLI_CREATE_IMAGE_H

#include "flist.h"
#include "hub_err.h"

#define CLI_SRC_OCI "oci:"
#define CLI_SRC_DAEMON "docker-daemon:"

/* 1 when source names one of these image sources, else 0. */
int cli_image_source(const char *source);

/* Converts the image `source` into w: layers with OCI semantics, config
 * into /.startup.toml and metadata, a progress bar on a terminal.
 * `platform` ("os/arch", NULL: linux/amd64) picks an index's entry.
 * Returns 0 or -1 with err. */
int cli_create_image(const char *source, const char *platform, flist_writer *w, hub_err *err);

#endif
