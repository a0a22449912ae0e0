/* fuzz_oci_ref.c - libFuzzer target for what a user types as an image
 * (engine/oci_ref.c, the platform parser of oci_manifest.c): the form
 * fields `image` and `platform` of POST /api/flist/me/docker and the
 * docker:// source of `flist create`.
 *
 * Input: byte 0 chooses the split; the rest is the reference and the
 * platform. Oracle: an accepted reference has a valid domain and path, a
 * tag or a digest, and prints back to a reference that parses to the same
 * parts (normalisation is idempotent); the flist name derived from an
 * accepted reference holds no '/' and ends in ".flist".
 * Corpus: tests/fuzz/corpus/oci_ref.
 */
#include "fuzz.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci_ref.h"
#include "oci_manifest.h"

#define INPUT_MAX 1024

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > INPUT_MAX)
        return 0;
    size_t cut = 1 + (size > 1 ? data[0] % (size - 1) : 0);
    char ref_s[INPUT_MAX + 1], plat[INPUT_MAX + 1];
    memcpy(ref_s, data + 1, cut - 1);
    ref_s[cut - 1] = '\0';
    memcpy(plat, data + cut, size - cut);
    plat[size - cut] = '\0';

    oci_ref r, again;
    hub_err err;
    if (oci_ref_parse(ref_s, &r, &err) == 0) {
        if (!r.domain[0] || !r.path[0] || (!r.tag[0] && !r.digest[0]))
            abort();
        char full[1200];
        oci_ref_string(&r, full, sizeof full);
        if (oci_ref_parse(full, &again, &err) != 0 || strcmp(again.domain, r.domain) != 0 ||
            strcmp(again.path, r.path) != 0 || strcmp(again.tag, r.tag) != 0 ||
            strcmp(again.digest, r.digest) != 0)
            abort();
        char name[1200];
        if (oci_flist_name(ref_s, name, sizeof name, &err) == 0) {
            size_t n = strlen(name);
            if (strchr(name, '/') || n < 6 || strcmp(name + n - 6, ".flist") != 0)
                abort();
        }
        (void)oci_ref_api_host(&r);
        (void)oci_ref_domain_is_local(r.domain);
    }
    char os[32], arch[32], variant[32];
    if (oci_platform_parse(plat, os, arch, variant, &err) == 0 && (!os[0] || !arch[0]))
        abort();
    return 0;
}
