/* fs.c - opening a path beneath a directory (fs.h). */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FS_MAX_LINKS 40     /* as the kernel's own limit */
#define FS_MAX_DEPTH 256    /* directories deep */
#define FS_RETRIES 8        /* a last component swapped for a link meanwhile */

static atomic_int g_no_openat2;   /* the kernel said ENOSYS once */
static int g_force_walk;

void fs_force_walk(int on)
{
    g_force_walk = on;
}

/* The next component of *rest (skipping empty ones and "."), copied into
 * comp (size n); *rest moves past it. Returns 1, or 0 when none is left,
 * or -1 when a component is longer than n - 1 (ENAMETOOLONG). */
static int next_component(const char **rest, char *comp, size_t n)
{
    for (;;) {
        const char *p = *rest;
        while (*p == '/')
            p++;
        if (*p == '\0') {
            *rest = p;
            return 0;
        }
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        *rest = p + len;
        if (len == 1 && p[0] == '.')
            continue;
        if (len >= n) {
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(comp, p, len);
        comp[len] = '\0';
        return 1;
    }
}

/* 1 when nothing but '/' and "." is left in rest. */
static int at_end(const char *rest)
{
    const char *r = rest;
    for (;;) {
        while (*r == '/')
            r++;
        if (*r == '\0')
            return 1;
        if (r[0] == '.' && (r[1] == '/' || r[1] == '\0')) {
            r++;
            continue;
        }
        return 0;
    }
}

/* Replaces *pathbuf by "<link>/<rest>". Returns 0 or -1 (ENOMEM). */
static int splice_link(char **pathbuf, const char **rest, const char *link)
{
    size_t a = strlen(link), b = strlen(*rest);
    char *np = malloc(a + b + 2);
    if (!np)
        return -1;
    memcpy(np, link, a);
    np[a] = '/';
    memcpy(np + a + 1, *rest, b + 1);
    free(*pathbuf);
    *pathbuf = np;
    *rest = np;
    return 0;
}

/* The component walk: O_PATH|O_NOFOLLOW descriptors from rootfd down, a
 * stack for "..", links resolved here. One attempt; returns the fd, or -1
 * with errno (EAGAIN: the last component turned into a link meanwhile). */
static int walk_once(int rootfd, const char *path, int flags, fs_links links)
{
    int stack[FS_MAX_DEPTH];
    int depth = 0;   /* stack[0..depth-1] are ours; the current dir is the top, or rootfd */
    int nlinks = 0, fd = -1, saved;
    char *buf = strdup(path);
    const char *rest = buf;
    char comp[256];
    if (!buf)
        return -1;
#define CUR (depth ? stack[depth - 1] : rootfd)
    for (;;) {
        int k = next_component(&rest, comp, sizeof comp);
        if (k < 0)
            goto fail;
        if (k == 0) {   /* the path names a directory already open */
            fd = openat(CUR, ".", flags | O_CLOEXEC);
            goto done;
        }
        if (strcmp(comp, "..") == 0) {
            if (depth == 0) {
                errno = EXDEV;
                goto fail;
            }
            close(stack[--depth]);
            continue;
        }
        int last = at_end(rest);
        int follow = links == FS_LINKS_BENEATH && !(last && (flags & O_NOFOLLOW));
        if (last && !follow) {
            fd = openat(CUR, comp, flags | O_NOFOLLOW | O_CLOEXEC, 0644);
            goto done;
        }
        int pfd = openat(CUR, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (pfd < 0)
            goto fail;
        if (fstat(pfd, &st) != 0) {
            close(pfd);
            goto fail;
        }
        if (S_ISLNK(st.st_mode)) {
            char target[4096];
            ssize_t n = readlinkat(pfd, "", target, sizeof target - 1);
            close(pfd);
            if (links == FS_NO_LINKS || ++nlinks > FS_MAX_LINKS) {
                errno = ELOOP;
                goto fail;
            }
            if (n <= 0)
                goto fail;
            target[n] = '\0';
            if (target[0] == '/') {
                errno = EXDEV;
                goto fail;
            }
            if (splice_link(&buf, &rest, target) != 0)
                goto fail;
            continue;
        }
        if (last) {
            close(pfd);
            /* O_NOFOLLOW: a link put there since the check fails with
             * ELOOP and the walk starts again */
            fd = openat(CUR, comp, flags | O_NOFOLLOW | O_CLOEXEC, 0644);
            if (fd < 0 && errno == ELOOP)
                errno = EAGAIN;
            goto done;
        }
        if (!S_ISDIR(st.st_mode)) {
            close(pfd);
            errno = ENOTDIR;
            goto fail;
        }
        if (depth == FS_MAX_DEPTH) {
            close(pfd);
            errno = ENAMETOOLONG;
            goto fail;
        }
        stack[depth++] = pfd;
    }
#undef CUR
fail:
    fd = -1;
done:
    saved = errno;
    while (depth > 0)
        close(stack[--depth]);
    free(buf);
    errno = saved;
    return fd;
}

int fs_open_beneath(int rootfd, const char *path, int flags, fs_links links)
{
    if (!path) {
        errno = EINVAL;
        return -1;
    }
    if (path[0] == '/') {
        errno = EXDEV;
        return -1;
    }
    if (!g_force_walk && !atomic_load(&g_no_openat2)) {
        struct open_how how = {
            .flags = (unsigned long long)(flags | O_CLOEXEC),
            .mode = (flags & O_CREAT) ? 0644 : 0,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
                       (links == FS_NO_LINKS ? RESOLVE_NO_SYMLINKS : 0),
        };
        long fd = syscall(SYS_openat2, rootfd, *path ? path : ".", &how, sizeof how);
        if (fd >= 0 || errno != ENOSYS)
            return (int)fd;
        atomic_store(&g_no_openat2, 1);
    }
    for (int attempt = 0; attempt < FS_RETRIES; attempt++) {
        int fd = walk_once(rootfd, path, flags, links);
        if (fd >= 0 || errno != EAGAIN)
            return fd;
    }
    errno = ELOOP;
    return -1;
}
