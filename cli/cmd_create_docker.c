/* cmd_create_docker.c - the registry source of `flist create`:
 * docker://[registry/]name[:tag|@digest] converted without a daemon
 * (engine/oci_convert.h), with a progress bar over the layer downloads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "oci_convert.h"

#define ENV_USER "FLIST_REGISTRY_USER"
#define ENV_PASSWORD "FLIST_REGISTRY_PASSWORD"
#define ENV_INSECURE "FLIST_INSECURE_REGISTRY"

/* Download progress: bytes of every layer, summed. */
typedef struct pull_progress {
    uint64_t *done;
    size_t n;
    uint64_t total;
} pull_progress;

static void pull_fn(void *ud, size_t layer, uint64_t done, uint64_t total)
{
    pull_progress *p = ud;
    if (layer >= p->n)
        return;
    p->done[layer] = done;
    uint64_t sum = 0;
    for (size_t i = 0; i < p->n; i++)
        sum += p->done[i];
    cli_progress("pull", sum, p->total);
}

static void phase_fn(void *ud, oci_phase phase, const oci_image *img)
{
    pull_progress *p = ud;
    if (phase == OCI_PHASE_PULLING && img) {
        p->done = calloc(img->n_layers ? img->n_layers : 1, sizeof *p->done);
        p->n = p->done ? img->n_layers : 0;
        p->total = img->total_size;
    } else if (phase == OCI_PHASE_APPLYING) {
        cli_progress_end();
    }
}

static void apply_fn(void *ud, uint64_t done, uint64_t total)
{
    cli_progress("apply", done, total);
}

int cli_create_docker(const cli_opts *o, const char *ref, flist_writer *w, hub_err *err)
{
    pull_progress pp = { NULL, 0, 0 };
    char memo_dir[4096] = "";
    if (o->layer_cache && o->backend)   /* layer results: with the layers */
        snprintf(memo_dir, sizeof memo_dir, "%s/results", o->layer_cache);
    char *insecure = getenv(ENV_INSECURE);
    oci_convert_opts co = {
        .registry = {
            .platform = o->platform,
            .username = getenv(ENV_USER),
            .password = getenv(ENV_PASSWORD),
            .creds_file = o->creds_file,
            .insecure = insecure && *insecure ? &insecure : NULL,
            .n_insecure = insecure && *insecure ? 1 : 0,
            .ca_file = o->ca_file,
            .cache_dir = o->layer_cache,
            .progress = pull_fn,
            .progress_ud = &pp,
        },
        .phase = phase_fn,
        .phase_ud = &pp,
        .apply_progress = apply_fn,
        .memo_dir = memo_dir[0] ? memo_dir : NULL,
        .memo_backend = o->backend,
    };
    oci_convert_info info;
    int rc = oci_convert_registry(w, ref, &co, &info, err);
    cli_progress_end();
    free(pp.done);
    if (rc == 0)
        fprintf(stderr, "%s (%s%s%s): %zu layers, %.1f MiB, %zu from the layer cache\n", info.ref,
                info.manifest_digest, info.platform[0] ? ", " : "", info.platform, info.layers,
                (double)info.bytes / 1048576.0, info.layers_cached);
    return rc;
}
