/* http_buf.h - the bounded reply buffer of the engine's HTTP clients
 * (oci_registry.c for registries, docker_engine.c for the Docker Engine
 * API): libcurl write callbacks append to it, and a reply larger than its
 * bound stops the transfer instead of growing memory. */
#ifndef ENGINE_HTTP_BUF_H
#define ENGINE_HTTP_BUF_H

#include <stdlib.h>
#include <string.h>

/* Appends data[0..n) to the NUL-terminated buffer *p of *len bytes
 * (realloc'ed; the caller frees *p). Past max bytes in all, sets *over
 * and appends nothing. Returns n, or 0 (over the bound, or out of
 * memory): what a libcurl write callback returns to stop the transfer. */
static inline size_t http_buf_append(char **p, size_t *len, size_t max, int *over,
                                     const char *data, size_t n)
{
    if (*len + n > max) {
        *over = 1;
        return 0;
    }
    char *nb = realloc(*p, *len + n + 1);
    if (!nb)
        return 0;
    memcpy(nb + *len, data, n);
    *p = nb;
    *len += n;
    nb[*len] = '\0';
    return n;
}

#endif
