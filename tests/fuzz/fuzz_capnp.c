/* fuzz_capnp.c - libFuzzer target for the flist row decoders (Dir and ACI);
 * whatever decodes is re-encoded and decoded again, which must succeed.
 * Built with HUB_FUZZ (tests/fuzz/CMakeLists.txt), run by tests/fuzz/run.sh.
 * Corpus: tests/fuzz/corpus/capnp (the Dir and ACI rows of tests/data flists).
 */
#include "fuzz.h"
#include <stdint.h>
#include <stdlib.h>

#include "flist_schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hub_err err;
    flist_dir *dir = NULL;
    flist_acl acl;
    uint8_t *out;
    size_t outlen;

    if (flist_dir_decode(data, size, &dir, &err) == 0) {
        if (flist_dir_encode(dir, &out, &outlen, &err) == 0) {
            flist_dir *again = NULL;
            if (flist_dir_decode(out, outlen, &again, &err) != 0)
                abort();   /* our own output must always decode */
            flist_dir_free(again);
            free(out);
        }
        flist_dir_free(dir);
    }
    if (flist_acl_decode(data, size, &acl, &err) == 0) {
        if (flist_acl_encode(&acl, &out, &outlen, &err) == 0)
            free(out);
        flist_acl_clear(&acl);
    }
    return 0;
}
