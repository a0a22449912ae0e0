/* flist_get.c - fetch file contents of an flist from its backend to disk.
 *
 * Chunks are fetched with pipelined GETs (a window of GET_WINDOW chunks per
 * round trip), decrypted and verified (chunk_decrypt checks the id and the
 * key), and written in order.
 *
 * Safety: the destination tree is built only with *at() calls relative to
 * directory descriptors opened with O_NOFOLLOW, every file is created with
 * O_EXCL, and entry names that are empty, "." or "..", or contain '/' are
 * refused. So a hostile flist cannot make us follow a link or write outside
 * `dest`. A single file is written to a temporary name and renamed into
 * place, so a failed get leaves nothing behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "chunk.h"
#include "flist.h"
#include "flist_keys.h"
#include "fs.h"

#define GET_WINDOW 8
#define GET_MAX_DEPTH 4096

typedef struct dir_fixup {
    char *relpath;            /* relative to dest, "" = dest itself */
    uint16_t mode;
    int64_t uid, gid;
    uint32_t mtime;
} dir_fixup;

typedef struct get_state {
    flist *f;
    backend *be;
    hub_err *err;
    int destfd;
    int as_root;
    uint8_t *plain;           /* FLIST_CHUNK_SIZE scratch */
    /* directory descriptors by depth while walking: dirfds[0] = dest */
    int dirfds[GET_MAX_DEPTH + 1];
    int depth;                /* deepest valid index of dirfds */
    size_t prefix_len;        /* length of the walked start path */
    dir_fixup *fixups;
    size_t nfixups, capfixups;
    flist_progress_fn progress;
    void *progress_ud;
    uint64_t done, total;
} get_state;

static int name_is_safe(const char *name)
{
    return name[0] && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
           !strchr(name, '/');
}

/* Writes the chunks of one file to fd. */
static int write_blocks(get_state *st, const flist_inode *ino, int fd, const char *path)
{
    uint8_t *values[GET_WINDOW];
    size_t lens[GET_WINDOW];
    uint8_t ids[GET_WINDOW][16];
    uint64_t written = 0;

    for (size_t off = 0; off < ino->nblocks; off += GET_WINDOW) {
        size_t n = ino->nblocks - off < GET_WINDOW ? ino->nblocks - off : GET_WINDOW;
        for (size_t i = 0; i < n; i++)
            memcpy(ids[i], ino->blocks[off + i].id, 16);
        if (backend_get(st->be, (const uint8_t (*)[16])ids, n, values, lens, st->err) != 0)
            return hub_err_prefix(st->err, "%s", path);
        int rc = 0;
        for (size_t i = 0; i < n; i++) {
            size_t plen = 0;
            if (rc == 0 && !values[i]) {
                char hex[33];
                hub_hex(ids[i], 16, hex);
                rc = hub_err_set(st->err, "%s: chunk %s is missing on the backend", path, hex);
            }
            if (rc == 0 &&
                chunk_decrypt(values[i], lens[i], ids[i], ino->blocks[off + i].key,
                              st->plain, FLIST_CHUNK_SIZE, &plen, st->err) != 0)
                rc = hub_err_prefix(st->err, "%s", path);
            if (rc == 0) {
                size_t w = 0;
                while (w < plen) {
                    ssize_t k = write(fd, st->plain + w, plen - w);
                    if (k < 0 && errno == EINTR)
                        continue;
                    if (k <= 0) {
                        rc = hub_err_set(st->err, "%s: write: %s", path, strerror(errno));
                        break;
                    }
                    w += (size_t)k;
                }
                written += plen;
                st->done += plen;
            }
            free(values[i]);
        }
        if (rc != 0)
            return -1;
        if (st->progress)
            st->progress(st->progress_ud, st->done, st->total);
    }
    /* Quirk Q1 flists lost their tail: keep the recorded size (zeros), as
     * 0-fs does, rather than a silently short file. */
    if (written < ino->size && ftruncate(fd, (off_t)ino->size) != 0)
        return hub_err_set(st->err, "%s: truncate: %s", path, strerror(errno));
    return 0;
}

/* Ownership, mode and times of a created non-directory entry. */
static void apply_attrs(get_state *st, int dirfd, const char *name,
                        const flist_entry *e, int fd)
{
    const flist_acl *acl = e->acl;
    if (st->as_root && acl->uid >= 0 && acl->gid >= 0) {
        if (fd >= 0)
            (void)!fchown(fd, (uid_t)acl->uid, (gid_t)acl->gid);
        else
            (void)!fchownat(dirfd, name, (uid_t)acl->uid, (gid_t)acl->gid, AT_SYMLINK_NOFOLLOW);
    }
    struct timespec ts[2] = { { e->inode->mtime, 0 }, { e->inode->mtime, 0 } };
    if (e->inode->type == FLIST_LINK) {
        (void)utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW);
        return;
    }
    mode_t mode = acl->mode & 07777;
    if (fd >= 0) {
        (void)fchmod(fd, mode);
        (void)futimens(fd, ts);
    } else {
        (void)!fchmodat(dirfd, name, mode, 0);   /* best effort, like the times */
        (void)utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW);
    }
}

static int add_fixup(get_state *st, const char *relpath, const flist_entry *e)
{
    if (st->nfixups == st->capfixups) {
        size_t ncap = st->capfixups ? st->capfixups * 2 : 64;
        dir_fixup *n = realloc(st->fixups, ncap * sizeof *n);
        if (!n)
            return hub_err_set(st->err, "get: out of memory");
        st->fixups = n;
        st->capfixups = ncap;
    }
    dir_fixup *fx = &st->fixups[st->nfixups];
    fx->relpath = strdup(relpath);
    if (!fx->relpath)
        return hub_err_set(st->err, "get: out of memory");
    fx->mode = e->acl->mode & 07777;
    fx->uid = e->acl->uid;
    fx->gid = e->acl->gid;
    fx->mtime = e->inode->mtime;
    st->nfixups++;
    return 0;
}

/* Creates one entry `name` in dirfd. For a directory, returns its new
 * descriptor through *subfd. */
static int create_entry(get_state *st, int dirfd, const char *name,
                        const flist_entry *e, int *subfd)
{
    const flist_inode *ino = e->inode;
    *subfd = -1;
    switch (ino->type) {
    case FLIST_DIR:
        if (mkdirat(dirfd, name, 0700) != 0)
            return hub_err_set(st->err, "%s: mkdir: %s", e->path, strerror(errno));
        *subfd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (*subfd < 0)
            return hub_err_set(st->err, "%s: open: %s", e->path, strerror(errno));
        return add_fixup(st, e->path + st->prefix_len + (e->path[st->prefix_len] == '/'), e);
    case FLIST_FILE: {
        int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
            return hub_err_set(st->err, "%s: create: %s", e->path, strerror(errno));
        int rc = write_blocks(st, ino, fd, e->path);
        if (rc == 0)
            apply_attrs(st, dirfd, name, e, fd);
        close(fd);
        if (rc != 0)
            unlinkat(dirfd, name, 0);
        return rc;
    }
    case FLIST_LINK:
        if (symlinkat(ino->target ? ino->target : "", dirfd, name) != 0)
            return hub_err_set(st->err, "%s: symlink: %s", e->path, strerror(errno));
        apply_attrs(st, dirfd, name, e, -1);
        return 0;
    case FLIST_SPECIAL: {
        mode_t kind = S_IFIFO;
        dev_t dev = 0;
        if (ino->special == FLIST_SPECIAL_BLOCK || ino->special == FLIST_SPECIAL_CHARDEV) {
            unsigned maj = 0, min = 0;
            char buf[32] = "";
            size_t l = ino->special_len < sizeof buf - 1 ? ino->special_len : sizeof buf - 1;
            memcpy(buf, ino->special_data, l);
            if (sscanf(buf, "%u,%u", &maj, &min) != 2)
                return hub_err_set(st->err, "%s: bad device numbers", e->path);
            kind = ino->special == FLIST_SPECIAL_BLOCK ? S_IFBLK : S_IFCHR;
            dev = makedev(maj, min);
            if (!st->as_root)
                return 0;   /* devices need root; skipped like tar does */
        }
        /* Sockets become fifos: a socket node means nothing without its
         * server, and zflist stores every special as a socket (Q2), fifos
         * included, which are the common case. */
        if (mknodat(dirfd, name, kind | 0600, dev) != 0)
            return hub_err_set(st->err, "%s: mknod: %s", e->path, strerror(errno));
        apply_attrs(st, dirfd, name, e, -1);
        return 0;
    }
    }
    return hub_err_set(st->err, "%s: unknown entry type", e->path);
}

static int get_entry(const flist_entry *e, void *ud)
{
    get_state *st = ud;
    const char *name = e->inode->name ? e->inode->name : "";
    if (!name_is_safe(name))
        return hub_err_set(st->err, "%s: refusing unsafe entry name", e->path), 1;
    if (e->depth > GET_MAX_DEPTH)
        return hub_err_set(st->err, "%s: tree too deep", e->path), 1;
    /* Leaving deeper directories: close their descriptors. */
    while (st->depth >= e->depth) {
        close(st->dirfds[st->depth]);
        st->depth--;
    }
    int subfd = -1;
    if (create_entry(st, st->dirfds[e->depth - 1], name, e, &subfd) != 0)
        return 1;
    if (subfd >= 0)
        st->dirfds[++st->depth] = subfd;
    return 0;
}

/* Directory modes and times are applied last, deepest first, so that a
 * read-only directory does not block its own contents. */
static void apply_dir_fixups(get_state *st)
{
    for (size_t i = st->nfixups; i-- > 0;) {
        dir_fixup *fx = &st->fixups[i];
        int fd = fs_open_beneath(st->destfd, fx->relpath, O_RDONLY | O_DIRECTORY, FS_NO_LINKS);
        if (fd < 0)
            continue;
        if (st->as_root && fx->uid >= 0 && fx->gid >= 0)
            (void)!fchown(fd, (uid_t)fx->uid, (gid_t)fx->gid);
        (void)fchmod(fd, fx->mode);
        struct timespec ts[2] = { { fx->mtime, 0 }, { fx->mtime, 0 } };
        (void)futimens(fd, ts);
        close(fd);
    }
}

static int sum_sizes(const flist_entry *e, void *ud)
{
    if (e->inode->type == FLIST_FILE)
        *(uint64_t *)ud += e->inode->size;
    return 0;
}

typedef struct found_entry {
    int found;
    int is_dir;
} found_entry;

static int remember_entry(const flist_entry *e, void *ud)
{
    found_entry *fe = ud;
    fe->found = 1;
    fe->is_dir = e->inode->type == FLIST_DIR;
    return 0;
}

/* Fetches a single non-directory entry to dest through a temporary name. */
static int get_single(get_state *st, const char *path, const char *dest);

typedef struct single_ctx {
    get_state *st;
    const char *dest;
    int rc;
} single_ctx;

static int get_single_cb(const flist_entry *e, void *ud)
{
    single_ctx *sc = ud;
    get_state *st = sc->st;
    char *dcopy = strdup(sc->dest);
    if (!dcopy)
        return hub_err_set(st->err, "get: out of memory"), 1;
    char *slash = strrchr(dcopy, '/');
    const char *dirpath = ".", *base = dcopy;
    if (slash) {
        *slash = '\0';
        dirpath = slash == dcopy ? "/" : dcopy;
        base = slash + 1;
    }
    if (!name_is_safe(base)) {
        free(dcopy);
        return hub_err_set(st->err, "%s: not a file name", sc->dest), 1;
    }
    int dirfd = open(dirpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        hub_err_set(st->err, "%s: %s", dirpath, strerror(errno));
        free(dcopy);
        return 1;
    }
    char tmp[64];
    uint8_t rnd[8];
    FILE *ur = fopen("/dev/urandom", "rb");
    if (!ur || fread(rnd, 1, sizeof rnd, ur) != sizeof rnd)
        memset(rnd, 0, sizeof rnd);
    if (ur)
        fclose(ur);
    char hex[17];
    hub_hex(rnd, sizeof rnd, hex);
    snprintf(tmp, sizeof tmp, ".tmp-%s", hex);

    int sub = -1;
    flist_entry copy = *e;
    int rc = create_entry(st, dirfd, tmp, &copy, &sub);
    if (sub >= 0)
        close(sub);
    if (rc == 0 && renameat(dirfd, tmp, dirfd, base) != 0) {
        rc = hub_err_set(st->err, "%s: rename: %s", sc->dest, strerror(errno));
        unlinkat(dirfd, tmp, 0);
    }
    close(dirfd);
    free(dcopy);
    sc->rc = rc;
    return rc ? 1 : 0;
}

static int get_single(get_state *st, const char *path, const char *dest)
{
    /* into an existing directory: keep the entry's name, as cp does */
    char joined[PATH_MAX];
    struct stat dst;
    if (stat(dest, &dst) == 0 && S_ISDIR(dst.st_mode)) {
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        if (snprintf(joined, sizeof joined, "%s/%s", dest, base) >= (int)sizeof joined)
            return hub_err_set(st->err, "%s: path too long", dest);
        dest = joined;
    }
    single_ctx sc = { st, dest, 0 };
    int rc = flist_lookup(st->f, path, get_single_cb, &sc, st->err);
    return rc == 0 ? sc.rc : -1;   /* 1 = stopped by the callback, err set */
}

int flist_get(flist *f, const backend_url *b, const char *path, const char *dest,
              flist_progress_fn progress, void *progress_ud, hub_err *err)
{
    get_state st = { .f = f, .err = err, .destfd = -1, .depth = -1,
                     .as_root = geteuid() == 0,
                     .progress = progress, .progress_ud = progress_ud };
    int rc = -1;
    const char *p = path;
    while (*p == '/')
        p++;
    int whole_dir = *p == '\0';
    if (!whole_dir) {
        found_entry fe = { 0 };
        int lrc = flist_lookup(f, path, remember_entry, &fe, err);
        if (lrc != 0)
            return lrc == FLIST_ENOENT ? FLIST_ENOENT : -1;
        whole_dir = fe.is_dir;
    }

    st.plain = malloc(FLIST_CHUNK_SIZE);
    if (!st.plain)
        return hub_err_set(err, "get: out of memory");
    st.be = backend_connect(b, 0, err);
    if (!st.be)
        goto out;

    if (!whole_dir) {
        rc = get_single(&st, path, dest);
        goto out;
    }

    if (flist_walk(f, path, sum_sizes, &st.total, err) != 0)
        goto out;
    if (mkdir(dest, 0755) != 0 && errno != EEXIST) {
        hub_err_set(err, "%s: mkdir: %s", dest, strerror(errno));
        goto out;
    }
    st.destfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st.destfd < 0) {
        hub_err_set(err, "%s: %s", dest, strerror(errno));
        goto out;
    }
    st.dirfds[0] = dup(st.destfd);
    st.depth = 0;
    /* entry paths are "<start>/<rel>"; remember the start's length to
     * compute paths relative to dest */
    size_t plen = strlen(path);
    while (plen > 0 && path[plen - 1] == '/')
        plen--;
    st.prefix_len = (path[0] == '/' || plen == 0) ? plen : plen + 1;
    int wrc = flist_walk(f, path, get_entry, &st, err);
    while (st.depth >= 0)
        close(st.dirfds[st.depth--]);
    if (wrc != 0)
        goto out;
    apply_dir_fixups(&st);
    rc = 0;
out:
    for (size_t i = 0; i < st.nfixups; i++)
        free(st.fixups[i].relpath);
    free(st.fixups);
    if (st.destfd >= 0)
        close(st.destfd);
    backend_close(st.be);
    free(st.plain);
    return rc;
}
