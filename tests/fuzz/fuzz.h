/* fuzz.h - the entry points libFuzzer calls in every target (declared here
 * so that -Wmissing-prototypes holds for the targets too). */
#ifndef HUB_FUZZ_H
#define HUB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A memfd holding data[0..n), at offset 0, for targets that read from a
 * descriptor; aborts (a harness failure, not a finding) when it cannot. */
static inline int fuzz_mem_fd(const char *name, const uint8_t *data, size_t n)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0)
        abort();
    for (size_t off = 0; off < n;) {
        ssize_t k = write(fd, data + off, n - off);
        if (k <= 0)
            abort();
        off += (size_t)k;
    }
    if (lseek(fd, 0, SEEK_SET) != 0)
        abort();
    return fd;
}

#endif
