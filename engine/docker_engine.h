/* docker_engine.h - the engine path of the image converter
 * (docs/OCI-NOTES.md §6): a Docker daemon, reached through its unix
 * socket, pulls the image (when it does not have it), a container is
 * created from it (never started), its file system exported as one tar
 * stream and applied to an flist writer (oci_apply_layers, one
 * uncompressed layer, nothing written to disk), the image config turned
 * into metadata and /.startup.toml (oci_apply_config); then the container
 * is always removed, and the image only when this conversion pulled it.
 *
 * For the worker (a `docker-convert` job with the engine option):
 *
 *     docker_engine_opts o = { .socket = cfg->docker_socket, .progress = ... };
 *     docker_engine_info info;
 *     if (docker_engine_convert(w, "alpine:3.19", &o, &info, &err) != 0) ...
 *     flist_writer_finish(w, out, &stats, &err);
 *
 * Errors (hub_err codes): HUB_E_UNAVAILABLE daemon unreachable (the
 * message names the socket), HUB_E_NOT_FOUND image not found or pull
 * denied (the daemon's message), HUB_E_INVALID bad image name or an
 * escaping entry in the export, HUB_E_TOO_LARGE past the writer's limits,
 * HUB_E_FAILED other daemon errors.
 */
#ifndef ENGINE_DOCKER_ENGINE_H
#define ENGINE_DOCKER_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "flist.h"
#include "hub_err.h"

#define DOCKER_ENGINE_DEFAULT_SOCKET "/var/run/docker.sock"
/* The newest API this client speaks (Docker 20.10); the daemon's own
 * version is used when it is older. */
#define DOCKER_ENGINE_API_MAX "1.41"
/* The oldest API it accepts (Docker 1.12: image pull by tag, export). */
#define DOCKER_ENGINE_API_MIN "1.24"

/* Pull progress: one line of the daemon's stream (status "Downloading",
 * "Extracting", "Pull complete"...; id the layer; current/total bytes,
 * 0 when the line has none). */
typedef void (*docker_pull_fn)(void *ud, const char *status, const char *id,
                               uint64_t current, uint64_t total);

typedef struct docker_engine_opts {
    const char *socket;            /* NULL: DOCKER_ENGINE_DEFAULT_SOCKET */
    const char *username;          /* registry credentials for the pull, */
    const char *password;          /*   sent as X-Registry-Auth; never */
    const char *serveraddress;     /*   logged (NULL: none) */
    docker_pull_fn pull_progress;  /* may be NULL */
    void *pull_ud;
    flist_progress_fn export_progress;   /* bytes of the export applied */
    void *export_ud;
    /* Asked about once a second during the pull and the export (may be
     * NULL): a code other than HUB_OK stops them, and the conversion fails
     * with that code and the reason written into why. May be called from
     * another thread than the caller's. */
    hub_code (*cancelled)(void *ud, char *why, size_t n);
    void *cancel_ud;
} docker_engine_opts;

typedef struct docker_engine_info {
    char api_version[16];          /* the version used */
    char image[512];               /* name:tag as asked of the daemon */
    int pulled;                    /* the daemon did not have it: pulled (and removed) */
    int container_removed;         /* the cleanup succeeded */
    int image_removed;
} docker_engine_info;

/* Converts `image` (a reference as Docker takes it: name[:tag] or
 * name@digest; no tag means :latest) into w through the daemon. info may
 * be NULL. Returns 0, or -1 with err (see above); the container is removed
 * (and a pulled image) on every path. */
int docker_engine_convert(flist_writer *w, const char *image, const docker_engine_opts *o,
                          docker_engine_info *info, hub_err *err);

#endif
