/* fs.h - opening a path beneath a directory: the one policy of the tree for
 * every path that comes from outside (a request, an flist, an archive).
 *
 * The path is resolved from rootfd and can never leave it: ".." stops at
 * rootfd, an absolute path or link is refused, and what a link may do is
 * the caller's choice:
 *   FS_NO_LINKS       no component may be a symbolic link (writing into a
 *                     tree an flist describes: a link there is content, not
 *                     a way)
 *   FS_LINKS_BENEATH  links are followed while they stay beneath rootfd
 *                     (reading the repository directory, where links and
 *                     cross-repository links are the hub's own)
 * Linux's openat2(RESOLVE_BENEATH) does it atomically; where the kernel
 * lacks it (before 5.6) a component walk of O_PATH|O_NOFOLLOW descriptors
 * applies the same rules, resolving links itself and never using the file
 * system's "..", so a directory swapped for a link meanwhile cannot lead
 * it out (tests/unit/test_fs.c races it). It never silently drops the
 * guarantee.
 */
#ifndef HUB_FS_H
#define HUB_FS_H

typedef enum fs_links {
    FS_NO_LINKS = 0,
    FS_LINKS_BENEATH = 1,
} fs_links;

/* Opens path (relative; '/' separated; "" or "." is rootfd itself) beneath
 * rootfd with the open(2) flags (O_CLOEXEC is added; O_CREAT is allowed for
 * the last component, with mode 0644 unless flags ask O_TMPFILE). Returns
 * the descriptor, or -1 with errno: EXDEV when the path or a link leads
 * outside, ELOOP for a link refused by FS_NO_LINKS or too many links,
 * ENOENT and the others of open(2). The caller closes the descriptor. */
int fs_open_beneath(int rootfd, const char *path, int flags, fs_links links);

/* Tests only: 1 makes fs_open_beneath use the component walk even where
 * openat2 exists; 0 goes back. Not thread-safe against concurrent opens. */
void fs_force_walk(int on);

#endif
