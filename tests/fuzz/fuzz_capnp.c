/* fuzz_capnp.c - libFuzzer target for the flist row decoders (Dir and ACI);
 * whatever decodes is re-encoded and decoded again, which must succeed.
 * Not part of ctest. Build and run (from the source root):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Icommon -Iproto tests/fuzz/fuzz_capnp.c proto/capn.c proto/flist_schema.c engine/flist_model.c base/hub_err.c -o fuzz_capnp && ./fuzz_capnp -max_total_time=60
 */
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
