/* fuzz.h - the entry points libFuzzer calls in every target (declared here
 * so that -Wmissing-prototypes holds for the targets too). */
#ifndef HUB_FUZZ_H
#define HUB_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif
