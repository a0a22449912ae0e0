/* fuzz_oci_manifest.c - libFuzzer target for what a registry says about
 * an image (engine/oci_manifest.c): manifest and index documents as the
 * worker reads them before it downloads anything.
 *
 * Input: byte 0 picks the reply's Content-Type, the platform asked for and
 * the size limit; the rest is the JSON document. Oracle: a manifest read
 * without error has layers with valid sha256 digests, known compressions,
 * and sizes that add up to its total within the limit; a platform chosen
 * from an index is a valid platform with a valid digest.
 * Corpus: tests/fuzz/corpus/oci_manifest.
 */
#include "fuzz.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci_manifest.h"
#include "oci_ref.h"

#define INPUT_MAX (256 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const types[] = {
        "", OCI_MT_INDEX, OCI_MT_MANIFEST, OCI_MT_DOCKER_LIST "; charset=utf-8",
        OCI_MT_DOCKER_MANIFEST, "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "text/html", OCI_MT_CONFIG,
    };
    static const char *const platforms[] = { NULL, "linux/arm64/v8", "linux/arm", "windows/amd64" };
    if (size < 1 || size > INPUT_MAX)
        return 0;
    const char *ct = types[data[0] & 7];
    const char *platform = platforms[(data[0] >> 3) & 3];
    uint64_t max = (data[0] & 0x20) ? 1u << 20 : 0;
    json_t *doc = json_loadb((const char *)data + 1, size - 1, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return 0;
    }
    char mt[OCI_MT_MAX];
    hub_err err;
    int kind = oci_manifest_kind(doc, ct, "fuzz", mt, sizeof mt, &err);
    if (kind == 1) {
        char digest[OCI_DIGEST_MAX], chosen[OCI_PLATFORM_MAX];
        if (oci_index_pick(doc, platform, "fuzz/image", digest, chosen, &err) == 0) {
            char os[32], arch[32], variant[32];
            if (!oci_digest_valid(digest) || !chosen[0] ||
                oci_platform_parse(platform, os, arch, variant, &err) != 0)
                abort();
        }
    } else if (kind == 0) {
        oci_image img;
        memset(&img, 0, sizeof img);
        char cdigest[OCI_DIGEST_MAX];
        uint64_t csize = 0;
        if (oci_manifest_read(doc, max, &img, cdigest, &csize, &err) == 0) {
            uint64_t sum = 0;
            for (size_t i = 0; i < img.n_layers; i++) {
                if (!oci_digest_valid(img.layers[i].digest) || img.layers[i].fd != -1 ||
                    img.layers[i].compression > OCI_COMP_ZSTD)
                    abort();
                sum += img.layers[i].size;
            }
            if (!oci_digest_valid(cdigest) || csize > OCI_CONFIG_MAX || sum != img.total_size ||
                (max && img.total_size + csize > max))
                abort();
        }
        oci_image_clear(&img);
    }
    json_decref(doc);
    return 0;
}
