/* flist_source_dir.c - feeds a local directory tree to the flist writer
 * (flist_source_dir, declared in flist.h).
 *
 * The walk is fts with FTS_PHYSICAL: symlinks are never followed, every
 * attribute comes from lstat. Like zflist putdir, the contents of `dir` go
 * to the flist root and the root's own attributes are not taken. Regular
 * files are read with read(2); a file seen again under another name (same
 * device and inode) becomes a hard link to the first name. Owner names come
 * from getpwuid_r/getgrgid_r, else the decimal id.
 */
#include "flist.h"

#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

/* (dev, ino) -> first cleaned path, for hard links. Open addressing. */
typedef struct inode_seen {
    dev_t dev;
    ino_t ino;
    char *path;        /* NULL = empty slot */
} inode_seen;

/* A resolved owner name. */
typedef struct owner_name {
    int64_t id;
    char name[256];
} owner_name;

typedef struct dir_walk {
    flist_writer *w;
    inode_seen *seen;
    size_t seen_cap, seen_n;
    owner_name *users, *groups;
    size_t nusers, ngroups;
} dir_walk;

typedef struct fd_ctx {
    int fd;
    int err;           /* errno of a failed read */
} fd_ctx;

/* flist_src_entry.read for a regular file. */
static long fd_read(void *ctx, void *buf, size_t len)
{
    fd_ctx *f = ctx;
    for (;;) {
        ssize_t r = read(f->fd, buf, len);
        if (r >= 0)
            return (long)r;
        if (errno != EINTR) {
            f->err = errno;
            return -1;
        }
    }
}

static size_t inode_hash(dev_t dev, ino_t ino)
{
    uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ull ^ (uint64_t)dev;
    return (size_t)(h ^ (h >> 29));
}

/* Finds (dev, ino); when absent records path for it. Returns the earlier
 * path, NULL when this is the first name, and sets *oom on no memory. */
static const char *inode_first(dir_walk *d, dev_t dev, ino_t ino, const char *path, int *oom)
{
    if ((d->seen_n + 1) * 2 > d->seen_cap) {
        size_t cap = d->seen_cap ? d->seen_cap * 2 : 64;
        inode_seen *t = calloc(cap, sizeof *t);
        if (!t) {
            *oom = 1;
            return NULL;
        }
        for (size_t i = 0; i < d->seen_cap; i++) {
            if (!d->seen[i].path)
                continue;
            size_t j = inode_hash(d->seen[i].dev, d->seen[i].ino) & (cap - 1);
            while (t[j].path)
                j = (j + 1) & (cap - 1);
            t[j] = d->seen[i];
        }
        free(d->seen);
        d->seen = t;
        d->seen_cap = cap;
    }
    size_t mask = d->seen_cap - 1;
    size_t i = inode_hash(dev, ino) & mask;
    for (; d->seen[i].path; i = (i + 1) & mask)
        if (d->seen[i].dev == dev && d->seen[i].ino == ino)
            return d->seen[i].path;
    d->seen[i].path = strdup(path);
    if (!d->seen[i].path) {
        *oom = 1;
        return NULL;
    }
    d->seen[i].dev = dev;
    d->seen[i].ino = ino;
    d->seen_n++;
    return NULL;
}

/* The user (is_group 0) or group name of id, cached; the decimal id when
 * the system has no entry. Returns a pointer into the cache, or NULL on
 * no memory. */
static const char *owner(dir_walk *d, int is_group, int64_t id)
{
    owner_name **list = is_group ? &d->groups : &d->users;
    size_t *n = is_group ? &d->ngroups : &d->nusers;
    for (size_t i = 0; i < *n; i++)
        if ((*list)[i].id == id)
            return (*list)[i].name;
    owner_name *l = realloc(*list, (*n + 1) * sizeof *l);
    if (!l)
        return NULL;
    *list = l;
    owner_name *o = &l[(*n)++];
    o->id = id;
    snprintf(o->name, sizeof o->name, "%" PRId64, id);

    char buf[16384];
    if (is_group) {
        struct group gr, *res = NULL;
        if (getgrgid_r((gid_t)id, &gr, buf, sizeof buf, &res) == 0 && res && res->gr_name &&
            strlen(res->gr_name) < sizeof o->name)
            strcpy(o->name, res->gr_name);
    } else {
        struct passwd pw, *res = NULL;
        if (getpwuid_r((uid_t)id, &pw, buf, sizeof buf, &res) == 0 && res && res->pw_name &&
            strlen(res->pw_name) < sizeof o->name)
            strcpy(o->name, res->pw_name);
    }
    return o->name;
}

/* The target of a symlink (malloc'ed), NULL with err on failure. */
static char *read_link(const char *path, off_t size_hint, hub_err *err)
{
    size_t cap = size_hint > 0 ? (size_t)size_hint + 1 : 256;
    for (;;) {
        char *buf = malloc(cap);
        if (!buf) {
            hub_err_set(err, "out of memory");
            return NULL;
        }
        ssize_t r = readlink(path, buf, cap);
        if (r < 0) {
            hub_err_set(err, "readlink %s: %s", path, strerror(errno));
            free(buf);
            return NULL;
        }
        if ((size_t)r < cap) {
            buf[r] = '\0';
            return buf;
        }
        free(buf);
        if (cap > (1u << 20)) {
            hub_err_set(err, "readlink %s: target too long", path);
            return NULL;
        }
        cap *= 2;
    }
}

static uint32_t clamp_time(time_t t)
{
    if (t < 0)
        return 0;
    if ((uint64_t)t > UINT32_MAX)
        return UINT32_MAX;
    return (uint32_t)t;
}

/* Adds one fts entry (not the root). */
static int add_ent(dir_walk *d, const FTSENT *ent, size_t rootlen, hub_err *err)
{
    const struct stat *st = ent->fts_statp;
    const char *rel = ent->fts_path + rootlen;
    char *path = malloc(strlen(rel) + 1);
    char *target = NULL;
    fd_ctx fc = { .fd = -1 };
    int rc = -1;
    if (!path)
        return hub_err_set(err, "out of memory");
    if (flist_path_clean(rel, path, err) != 0)
        goto out;

    const char *uname = owner(d, 0, st->st_uid);
    const char *gname = owner(d, 1, st->st_gid);
    if (!uname || !gname) {
        hub_err_set(err, "out of memory");
        goto out;
    }
    flist_src_entry e = {
        .path = path,
        .mode = (uint32_t)(st->st_mode & 07777),
        .uid = st->st_uid,
        .gid = st->st_gid,
        .uname = uname,
        .gname = gname,
        .mtime = clamp_time(st->st_mtim.tv_sec),
        .ctime = clamp_time(st->st_ctim.tv_sec),
    };

    if (S_ISDIR(st->st_mode)) {
        e.type = FLIST_DIR;
    } else if (S_ISLNK(st->st_mode)) {
        target = read_link(ent->fts_accpath, st->st_size, err);
        if (!target)
            goto out;
        e.type = FLIST_LINK;
        e.link_target = target;
    } else if (S_ISREG(st->st_mode)) {
        e.type = FLIST_FILE;
        const char *first = NULL;
        if (st->st_nlink > 1) {
            int oom = 0;
            first = inode_first(d, st->st_dev, st->st_ino, path, &oom);
            if (oom) {
                hub_err_set(err, "out of memory");
                goto out;
            }
        }
        if (first) {
            e.hardlink = first;
        } else {
            fc.fd = open(ent->fts_accpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
            if (fc.fd < 0) {
                hub_err_set(err, "open %s: %s", ent->fts_path, strerror(errno));
                goto out;
            }
            e.size = (uint64_t)st->st_size;
            e.read = fd_read;
            e.read_ctx = &fc;
        }
    } else {
        e.type = FLIST_SPECIAL;
        if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
            e.special = S_ISCHR(st->st_mode) ? FLIST_SPECIAL_CHARDEV : FLIST_SPECIAL_BLOCK;
            e.dev_major = major(st->st_rdev);
            e.dev_minor = minor(st->st_rdev);
        } else if (S_ISFIFO(st->st_mode)) {
            e.special = FLIST_SPECIAL_FIFO;
        } else if (S_ISSOCK(st->st_mode)) {
            e.special = FLIST_SPECIAL_SOCKET;
        } else {
            e.special = FLIST_SPECIAL_UNKNOWN;
        }
    }

    if (flist_writer_add(d->w, &e, err) != 0) {
        if (fc.err)
            hub_err_set(err, "read %s: %s", ent->fts_path, strerror(fc.err));
        goto out;
    }
    rc = 0;
out:
    if (fc.fd >= 0)
        close(fc.fd);
    free(target);
    free(path);
    return rc;
}

static int name_cmp(const FTSENT **a, const FTSENT **b)
{
    return strcmp((*a)->fts_name, (*b)->fts_name);
}

/* Walks `dir` and adds everything below it. Returns 0 or -1. */
int flist_source_dir(flist_writer *w, const char *dir, hub_err *err)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return hub_err_set(err, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return hub_err_set(err, "%s: not a directory", dir);

    char *roots[2] = { (char *)dir, NULL };
    FTS *fts = fts_open(roots, FTS_PHYSICAL | FTS_NOCHDIR, name_cmp);
    if (!fts)
        return hub_err_set(err, "%s: %s", dir, strerror(errno));

    dir_walk d = { .w = w };
    size_t rootlen = 0;
    int rc = 0;
    FTSENT *ent;
    errno = 0;
    while (rc == 0 && (ent = fts_read(fts)) != NULL) {
        switch (ent->fts_info) {
        case FTS_D:
            if (ent->fts_level == FTS_ROOTLEVEL)
                rootlen = ent->fts_pathlen;
            else
                rc = add_ent(&d, ent, rootlen, err);
            break;
        case FTS_DP:
            break;
        case FTS_F:
        case FTS_SL:
        case FTS_SLNONE:
        case FTS_DEFAULT:
            rc = add_ent(&d, ent, rootlen, err);
            break;
        case FTS_DC:
            rc = hub_err_set(err, "%s: directory cycle", ent->fts_path);
            break;
        case FTS_DNR:
        case FTS_ERR:
        case FTS_NS:
        default:
            rc = hub_err_set(err, "%s: %s", ent->fts_path, strerror(ent->fts_errno));
            break;
        }
        errno = 0;
    }
    if (rc == 0 && errno != 0)
        rc = hub_err_set(err, "%s: %s", dir, strerror(errno));
    fts_close(fts);

    for (size_t i = 0; i < d.seen_cap; i++)
        free(d.seen[i].path);
    free(d.seen);
    free(d.users);
    free(d.groups);
    return rc;
}
