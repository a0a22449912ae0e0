/* oci_registry.h - the registry path's client of the OCI Distribution API
 * (docs/OCI-NOTES.md §3): token (Bearer) and basic authentication,
 * manifest negotiation with the four manifest and index media types,
 * platform choice, and layer blobs downloaded several at once into a
 * cache keyed by digest, each verified (sha256 and size) before use.
 *
 * Transport rules: https always, except registries on localhost,
 * 127.0.0.0/8 and [::1] (as Docker allows) and those the caller names as
 * insecure, which get https when they answer it and plain HTTP otherwise
 * (Docker's order); redirects to blob storage are followed without the
 * Authorization header (libcurl drops it on a change of host or port);
 * credentials are never logged nor written anywhere.
 *
 * Errors (hub_err codes): HUB_E_INVALID bad reference or unsupported media
 * type, HUB_E_NOT_FOUND unknown image or platform (401/404), HUB_E_FORBIDDEN
 * 403, HUB_E_UNAVAILABLE unreachable, 5xx or 429 (with the registry's retry
 * time), HUB_E_TOO_LARGE over max_image_size, HUB_E_FAILED digest or size
 * mismatch and local failures.
 */
#ifndef ENGINE_OCI_REGISTRY_H
#define ENGINE_OCI_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "hub_err.h"
#include "oci.h"
#include "oci_ref.h"

#define OCI_DEFAULT_PLATFORM "linux/amd64"
#define OCI_DEFAULT_PARALLEL 4
#define OCI_PLATFORM_MAX 64

/* Progress of the downloads: layer `layer` has `done` of its `total`
 * bytes (a layer found in the cache reports done == total at once). Called
 * from the downloading thread. */
typedef void (*oci_progress_fn)(void *ud, size_t layer, uint64_t done, uint64_t total);

typedef struct oci_registry_opts {
    const char *platform;        /* "os/arch[/variant]"; NULL: linux/amd64 */
    const char *username;        /* per-request credentials (NULL: none); */
    const char *password;        /*   take precedence over creds_file */
    const char *creds_file;      /* Docker's config.json form: {"auths": {"<registry>":
                                    {"auth": base64("user:pass")} or {"username",
                                    "password"}}}; NULL: none */
    char *const *insecure;       /* registries (host[:port]) allowed over plain HTTP */
    size_t n_insecure;
    const char *ca_file;         /* extra CA bundle for TLS (NULL: the system's) */
    const char *cache_dir;       /* layer cache (sha256/<hex>); NULL: anonymous
                                    temporary files under $TMPDIR */
    uint64_t max_image_size;     /* compressed layers + config; 0: no limit */
    int parallel;                /* downloads at once; 0: OCI_DEFAULT_PARALLEL */
    oci_progress_fn progress;    /* may be NULL */
    void *progress_ud;
    /* Polled about once a second during downloads (may be NULL): a code
     * other than HUB_OK stops them, with err = that code and the message
     * it wrote into why. */
    hub_code (*cancelled)(void *ud, char *why, size_t n);
    void *cancel_ud;
} oci_registry_opts;

/* An image resolved on a registry. */
typedef struct oci_image {
    oci_ref ref;
    char manifest_digest[OCI_DIGEST_MAX];
    char platform[OCI_PLATFORM_MAX];   /* the one chosen ("" for a single manifest) */
    json_t *config;                    /* the image config blob (verified) */
    oci_layer *layers;                 /* n_layers, fd -1 until fetched */
    size_t n_layers;
    uint64_t total_size;               /* compressed bytes of the layers */
    size_t n_cached;                   /* layers found in the cache by the fetch */
} oci_image;

typedef struct oci_registry oci_registry;

/* A client for the registry of `ref` (copied; opts is borrowed until
 * oci_registry_free). Reads the credentials file. Returns the client, or
 * NULL with err (plain HTTP refused for a remote registry, unreadable
 * credentials, no memory). */
oci_registry *oci_registry_new(const oci_registry_opts *opts, const oci_ref *ref, hub_err *err);

/* Frees the client (and forgets its credentials and tokens). NULL ok. */
void oci_registry_free(oci_registry *r);

/* Resolves the reference: manifest (through an index or manifest list,
 * choosing the platform), the config blob, the layer descriptors. Checks
 * the size limit. Returns 0 with *img filled (clear it with
 * oci_image_clear), or -1 with err. */
int oci_registry_resolve(oci_registry *r, oci_image *img, hub_err *err);

/* Downloads the layers not in the cache (opts->parallel at once), verifies
 * each, and opens every img->layers[i].fd at its start. Returns 0, or -1
 * with err (no partial file is left in the cache; the code of
 * opts->cancelled when it stopped them). */
int oci_registry_fetch(oci_registry *r, oci_image *img, hub_err *err);

/* Closes the layers' fds and frees what img holds. */
void oci_image_clear(oci_image *img);

#endif
