/* fuzz_config_import.c - libFuzzer target for `flist-hub-api config-import`
 * (api/config_import.h): the original hub's config.py, read as a Python
 * literal by our own small parser.
 *
 * Input: the config.py text.
 * Oracles: a failure has a code and a message and writes nothing; a success
 * writes lines that each end in a newline, and converting the same text
 * twice gives the same bytes.
 * Corpus: tests/fuzz/corpus/config_import.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_import.h"

/* Converts data into a memory buffer; returns its length, *out malloc'ed
 * (NULL on failure, with err filled). */
static size_t convert(const uint8_t *data, size_t size, char **out, hub_err *err, int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        abort();
    *rc = config_import_py((const char *)data, size, f, NULL, err);
    fclose(f);
    *out = buf;
    return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hub_err e1 = {0}, e2 = {0};
    int rc1, rc2;
    char *a = NULL, *b = NULL;
    size_t la = convert(data, size, &a, &e1, &rc1);
    size_t lb = convert(data, size, &b, &e2, &rc2);
    if (rc1 != rc2)
        abort();
    if (rc1 != 0) {
        if (e1.code == HUB_OK || !e1.msg[0] || la != 0)
            abort();
    } else {
        if (la == 0 || a[la - 1] != '\n' || la != lb || memcmp(a, b, la) != 0)
            abort();
    }
    free(a);
    free(b);
    return 0;
}
