/* create_image.c - `flist create oci:DIR[:TAG] OUT` and `flist create
 * docker-daemon:NAME[:TAG] OUT` (create_image.h): an image from an OCI
 * layout on disk, or from a Docker daemon (the engine path), into the
 * writer of cmd_create.c. */
#include "create_image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "docker_engine.h"
#include "oci.h"
#include "oci_layout.h"

#define CLI_PLATFORM_PART 32
#define CLI_DOCKER_HOST_ENV "DOCKER_HOST"
#define CLI_UNIX_SCHEME "unix://"

int cli_image_source(const char *source)
{
    return strncmp(source, CLI_SRC_OCI, strlen(CLI_SRC_OCI)) == 0 ||
           strncmp(source, CLI_SRC_DAEMON, strlen(CLI_SRC_DAEMON)) == 0;
}

/* Splits "os/arch[/variant]" (the variant is ignored). Returns 0 or -1. */
static int split_platform(const char *p, char os[CLI_PLATFORM_PART], char arch[CLI_PLATFORM_PART],
                          hub_err *err)
{
    const char *slash = strchr(p, '/');
    if (!slash || slash == p || !slash[1])
        return hub_err_setc(err, HUB_E_INVALID, "--platform %s: expected os/arch", p);
    const char *end = strchr(slash + 1, '/');
    size_t olen = (size_t)(slash - p);
    size_t alen = end ? (size_t)(end - slash - 1) : strlen(slash + 1);
    if (olen >= CLI_PLATFORM_PART || alen >= CLI_PLATFORM_PART)
        return hub_err_setc(err, HUB_E_INVALID, "--platform %s: too long", p);
    memcpy(os, p, olen);
    os[olen] = '\0';
    memcpy(arch, slash + 1, alen);
    arch[alen] = '\0';
    return 0;
}

/* oci:DIR[:TAG]: the tag is what follows the last ':' when that is not
 * part of a directory that exists as named. */
static int create_oci(const char *spec, const char *platform, flist_writer *w, hub_err *err)
{
    char os[CLI_PLATFORM_PART] = OCI_LAYOUT_DEFAULT_OS;
    char arch[CLI_PLATFORM_PART] = OCI_LAYOUT_DEFAULT_ARCH;
    if (platform && split_platform(platform, os, arch, err) != 0)
        return -1;
    char *dir = strdup(spec);
    if (!dir)
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    const char *tag = NULL;
    char *colon = strrchr(dir, ':');
    if (colon && !strchr(colon, '/')) {
        *colon = '\0';
        tag = colon + 1;
    }
    oci_layout_image img;
    int rc = oci_layout_open(dir, tag, os, arch, &img, err);
    if (rc == 0) {
        rc = oci_apply_layers(w, img.layers, img.nlayers, cli_progress, "create", err);
        if (rc == 0)
            rc = oci_apply_config(w, img.config, err);
        cli_progress_end();
    }
    if (rc != 0)
        hub_err_prefix(err, "%s%s", CLI_SRC_OCI, spec);
    oci_layout_close(&img);
    free(dir);
    return rc;
}

/* Pull progress on the bar: bytes of the layer being downloaded. */
static void pull_progress(void *ud, const char *status, const char *id, uint64_t current,
                          uint64_t total)
{
    (void)ud;
    (void)status;
    (void)id;
    if (total)
        cli_progress("pull", current, total);
}

/* docker-daemon:NAME[:TAG]: the engine path, on $DOCKER_HOST when it is
 * a unix:// URL, else the default socket. */
static int create_daemon(const char *image, flist_writer *w, hub_err *err)
{
    const char *host = getenv(CLI_DOCKER_HOST_ENV);
    const char *sock = NULL;
    if (host && *host) {
        if (strncmp(host, CLI_UNIX_SCHEME, strlen(CLI_UNIX_SCHEME)) != 0)
            return hub_err_setc(err, HUB_E_INVALID, "%s=%s: only unix:// sockets are "
                                "supported", CLI_DOCKER_HOST_ENV, host);
        sock = host + strlen(CLI_UNIX_SCHEME);
    }
    docker_engine_opts o = {
        .socket = sock,
        .username = getenv("FLIST_REGISTRY_USER"),
        .password = getenv("FLIST_REGISTRY_PASSWORD"),
        .pull_progress = pull_progress,
        .export_progress = cli_progress,
        .export_ud = "create",
    };
    int rc = docker_engine_convert(w, image, &o, NULL, err);
    cli_progress_end();
    return rc;
}

int cli_create_image(const char *source, const char *platform, flist_writer *w, hub_err *err)
{
    if (strncmp(source, CLI_SRC_OCI, strlen(CLI_SRC_OCI)) == 0)
        return create_oci(source + strlen(CLI_SRC_OCI), platform, w, err);
    return create_daemon(source + strlen(CLI_SRC_DAEMON), w, err);
}
