/* repo.c - the repository directory: name rule, listings, classification and
 * the atomic link/tag/rename/promote/delete operations (see repo.h).
 */
#include "repo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <sodium.h>

#include "fs.h"
#include "util.h"

#define TAG_PREFIX ".tag-"
#define TAG_PREFIX_LEN 5

struct repo_store {
    int pubfd;
};

/* ================================================================== */
/* names                                                               */
/* ================================================================== */

/* Writes a printable, bounded copy of a name for messages. */
static void escape_name(const char *name, char *out, size_t n)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p && o + 5 < n; p++) {
        if (o > 80) {
            o += (size_t)snprintf(out + o, n - o, "...");
            break;
        }
        if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\')
            o += (size_t)snprintf(out + o, n - o, "\\x%02x", *p);
        else
            out[o++] = (char)*p;
    }
    out[o < n ? o : n - 1] = '\0';
}

/* Unicode's white space (Zs and the like): a name of nothing else reads as
 * empty in every listing. */
static int is_blank(uint32_t cp)
{
    return cp == 0x20 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200b) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000 ||
           cp == 0xfeff;
}

int repo_name_check(const char *name, const char *what, hub_err *err)
{
    char shown[128];
    const char *reason = NULL;
    size_t len = name ? strlen(name) : 0;
    if (!name || len == 0)
        return hub_err_setc(err, HUB_E_INVALID, "invalid %s \"\": a name must not be empty", what);
    if (len > REPO_NAME_MAX)
        reason = "longer than 255 bytes";
    else if (name[0] == '.')
        reason = "a name must not start with '.'";
    int visible = 0;
    for (size_t i = 0; !reason && i < len;) {
        uint32_t cp;
        size_t k = util_utf8_next((const unsigned char *)name + i, len - i, &cp);
        if (k == 0)
            reason = "not valid UTF-8";
        else if (cp == '/' || cp == '\\')
            reason = "'/' and '\\' are not allowed";
        else if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
            reason = "control characters are not allowed";
        visible |= !is_blank(cp);
        i += k ? k : 1;
    }
    if (!reason && !visible)
        reason = "a name must not be only blanks";
    if (!reason)
        return 0;
    escape_name(name, shown, sizeof shown);
    return hub_err_setc(err, HUB_E_INVALID, "invalid %s \"%s\": %s", what, shown, reason);
}

int repo_flist_name(const char *name, const char *what, char *out, hub_err *err)
{
    if (repo_name_check(name, what, err) < 0)
        return -1;
    size_t len = strlen(name);
    if (util_ends_with(name, ".flist")) {
        memcpy(out, name, len + 1);
        return 0;
    }
    if (len + 6 > REPO_NAME_MAX) {
        char shown[128];
        escape_name(name, shown, sizeof shown);
        return hub_err_setc(err, HUB_E_INVALID, "invalid %s \"%s\": longer than 255 bytes with .flist", what, shown);
    }
    memcpy(out, name, len);
    memcpy(out + len, ".flist", 7);
    return 0;
}

int repo_name_reserved(const char *name)
{
    static const char *words[] = {
        "me", "api", "static", "token", "listen", "search", "upload", "upload-flist",
        "merge", "docker-convert", "readonly", "logout", "login", "login-method",
        "login-iyo", "callback_threebot", "callback_token", "_iyo_callback",
        "healthz", "readyz", "metrics", "tags",
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(name, words[i]) == 0)
            return 1;
    return 0;
}

char *repo_clean_target(const char *text)
{
    size_t len = strlen(text);
    char *a = malloc(len + 1);
    if (!a)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (strncmp(text + i, "../", 3) == 0) { i += 3; continue; }
        a[o++] = text[i++];
    }
    a[o] = '\0';
    /* ".tag-" (5) -> "tags/" (5): same length, in place */
    for (char *p = strstr(a, TAG_PREFIX); p; p = strstr(p + 5, TAG_PREFIX))
        memcpy(p, "tags/", 5);
    return a;
}

void repo_format_size(uint64_t bytes, char *out, size_t n)
{
    snprintf(out, n, "%.2f KB", (double)bytes / 1024.0);
}

const char *repo_entry_type_name(repo_entry_type t)
{
    switch (t) {
    case REPO_ENTRY_SYMLINK: return "symlink";
    case REPO_ENTRY_TAGLINK: return "taglink";
    case REPO_ENTRY_TAG: return "tag";
    default: return "regular";
    }
}

/* ================================================================== */
/* store                                                               */
/* ================================================================== */

repo_store *repo_store_open(const char *public_dir, hub_err *err)
{
    repo_store *s = calloc(1, sizeof *s);
    if (!s) {
        hub_err_set(err, "out of memory");
        return NULL;
    }
    s->pubfd = open(public_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->pubfd < 0) {
        hub_err_set(err, "public directory %s: %s", public_dir, strerror(errno));
        free(s);
        return NULL;
    }
    return s;
}

void repo_store_close(repo_store *s)
{
    if (!s)
        return;
    close(s->pubfd);
    free(s);
}

int repo_store_fd(const repo_store *s)
{
    return s->pubfd;
}

/* Reads of public content follow the hub's own links (same-directory and
 * cross-repository ones) but never leave the public directory (fs.h). */
static int open_beneath(int dirfd, const char *path, int flags)
{
    return fs_open_beneath(dirfd, path, flags, FS_LINKS_BENEATH);
}

/* "<a>/<b>[/<c>]" into buf. Returns 0 or -1 when too long. */
static int join3(char *buf, size_t n, const char *a, const char *b, const char *c)
{
    int k = c ? snprintf(buf, n, "%s/%s/%s", a, b, c) : snprintf(buf, n, "%s/%s", a, b);
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

int repo_exists(const repo_store *s, const char *repo, struct stat *st)
{
    struct stat tmp;
    if (repo_name_check(repo, "repository", NULL) < 0)
        return 0;
    if (!st)
        st = &tmp;
    return fstatat(s->pubfd, repo, st, 0) == 0 && S_ISDIR(st->st_mode);
}

/* Opens a repository directory for reading (links followed beneath the
 * public directory). Returns fd or -1. */
static int open_repo_read(const repo_store *s, const char *repo)
{
    return open_beneath(s->pubfd, repo, O_RDONLY | O_DIRECTORY);
}

/* ================================================================== */
/* listings                                                            */
/* ================================================================== */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void repo_names_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* Reads the sorted visible names of an open directory (the fd is consumed).
 * keep_dirs: keep directories that are not tags (for /api/flist). */
static int read_names(int dfd, int keep_dirs, char ***out, size_t *n, hub_err *err)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return hub_err_setc(err, HUB_E_FAILED, "cannot read directory: %s", strerror(errno));
    }
    char **v = NULL;
    size_t cnt = 0, cap = 0;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        if (nm[0] == '.') {
            /* hidden: only real tag directories are listed (D39) */
            struct stat st;
            if (strncmp(nm, TAG_PREFIX, TAG_PREFIX_LEN) != 0 || nm[TAG_PREFIX_LEN] == '\0' ||
                fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
                continue;
        } else if (!keep_dirs && de->d_type == DT_DIR) {
            continue;
        }
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 32;
            char **nv = realloc(v, nc * sizeof *nv);
            if (!nv)
                goto oom;
            v = nv;
            cap = nc;
        }
        if (!(v[cnt] = strdup(nm)))
            goto oom;
        cnt++;
    }
    closedir(d);
    if (cnt > 1)
        qsort(v, cnt, sizeof *v, cmp_str);
    *out = v;
    *n = cnt;
    return 0;
oom:
    closedir(d);
    repo_names_free(v, cnt);
    return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
}

void repo_entries_free(repo_entry *e, size_t n)
{
    for (size_t i = 0; e && i < n; i++) {
        free(e[i].name);
        free(e[i].target);
    }
    free(e);
}

/* Classifies one entry of directory dfd (§11.4). Returns 1 when listed,
 * 0 when skipped, -1 on allocation failure. only_links: tag listing. */
static int classify(int dfd, const char *nm, int only_links, repo_entry *e)
{
    struct stat lst, tst;
    memset(e, 0, sizeof *e);
    if (fstatat(dfd, nm, &lst, AT_SYMLINK_NOFOLLOW) < 0)
        return 0; /* vanished meanwhile */
    if (S_ISLNK(lst.st_mode)) {
        char text[4096];
        ssize_t k = readlinkat(dfd, nm, text, sizeof text - 1);
        if (k < 0)
            return 0;
        text[k] = '\0';
        e->type = !only_links && strstr(text, "/" TAG_PREFIX) ? REPO_ENTRY_TAGLINK : REPO_ENTRY_SYMLINK;
        if (fstatat(dfd, nm, &tst, 0) == 0) {
            e->size = (uint64_t)tst.st_size;
            e->updated = (int64_t)tst.st_mtime;
        } else {
            e->size = (uint64_t)lst.st_size;
            e->updated = (int64_t)lst.st_mtime;
        }
        e->linktime = (int64_t)lst.st_mtime;
        if (!(e->target = repo_clean_target(text)) || !(e->name = strdup(nm)))
            return -1;
        return 1;
    }
    if (only_links)
        return 0;
    if (S_ISDIR(lst.st_mode)) {
        if (strncmp(nm, TAG_PREFIX, TAG_PREFIX_LEN) != 0)
            return 0;
        e->type = REPO_ENTRY_TAG;
        e->updated = (int64_t)lst.st_mtime;
        return (e->name = strdup(nm + TAG_PREFIX_LEN)) ? 1 : -1;
    }
    e->type = REPO_ENTRY_REGULAR;
    e->size = (uint64_t)lst.st_size;
    e->updated = (int64_t)lst.st_mtime;
    return (e->name = strdup(nm)) ? 1 : -1;
}

static int list_dir(int dfd, int only_links, repo_entry **out, size_t *n, hub_err *err)
{
    char **names;
    size_t cnt;
    int keep = dup(dfd);
    if (keep < 0) {
        close(dfd);
        return hub_err_setc(err, HUB_E_FAILED, "dup: %s", strerror(errno));
    }
    int rc = read_names(dfd, 0, &names, &cnt, err);
    if (rc) {
        close(keep);
        return rc;
    }
    repo_entry *v = calloc(cnt ? cnt : 1, sizeof *v);
    size_t k = 0;
    if (!v) {
        rc = hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; v && i < cnt; i++) {
        int r = classify(keep, names[i], only_links, &v[k]);
        if (r < 0) {
            repo_entries_free(v, k + 1);
            v = NULL;
            rc = hub_err_setc(err, HUB_E_NOMEM, "out of memory");
        } else if (r > 0) {
            k++;
        }
    }
    close(keep);
    repo_names_free(names, cnt);
    if (rc)
        return rc;
    *out = v;
    *n = k;
    return 0;
}

int repo_list(const repo_store *s, const char *repo, repo_entry **out, size_t *n, hub_err *err)
{
    if (repo_name_check(repo, "repository", err) < 0)
        return -1;
    int dfd = open_repo_read(s, repo);
    if (dfd < 0)
        return hub_err_setc(err, HUB_E_NOT_FOUND, "repository not found");
    return list_dir(dfd, 0, out, n, err);
}

int repo_list_tag(const repo_store *s, const char *repo, const char *tag,
                  repo_entry **out, size_t *n, hub_err *err)
{
    char path[PATH_MAX], tagdir[REPO_NAME_MAX + TAG_PREFIX_LEN + 1];
    if (repo_name_check(repo, "repository", err) < 0 || repo_name_check(tag, "tag", err) < 0)
        return -1;
    snprintf(tagdir, sizeof tagdir, TAG_PREFIX "%s", tag);
    if (join3(path, sizeof path, repo, tagdir, NULL) < 0)
        return hub_err_setc(err, HUB_E_INVALID, "invalid tag: too long");
    int dfd = open_beneath(s->pubfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (dfd < 0)
        return hub_err_setc(err, HUB_E_NOT_FOUND, "tag not found");
    return list_dir(dfd, 1, out, n, err);
}

void repo_infos_free(repo_info *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++)
        free(r[i].name);
    free(r);
}

int repo_list_repositories(const repo_store *s, repo_info **out, size_t *n, hub_err *err)
{
    int dfd = openat(s->pubfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        *out = NULL;
        *n = 0;
        return 0;
    }
    int keep = dup(dfd);
    char **names;
    size_t cnt;
    if (keep < 0) {
        close(dfd);
        return hub_err_setc(err, HUB_E_FAILED, "dup: %s", strerror(errno));
    }
    int rc = read_names(dfd, 1, &names, &cnt, err);
    if (rc) {
        close(keep);
        return rc;
    }
    repo_info *v = calloc(cnt ? cnt : 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; v && i < cnt; i++) {
        struct stat st, lst;
        if (names[i][0] == '.')
            continue; /* hidden, and tag-like names are not repositories */
        if (fstatat(keep, names[i], &st, 0) < 0 || !S_ISDIR(st.st_mode) ||
            fstatat(keep, names[i], &lst, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        v[k].name = names[i];
        names[i] = NULL;
        v[k].updated = (int64_t)lst.st_mtime;
        k++;
    }
    close(keep);
    repo_names_free(names, cnt);
    if (!v)
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    *out = v;
    *n = k;
    return 0;
}

int repo_list_names(const repo_store *s, const char *repo, char ***out, size_t *n, hub_err *err)
{
    if (repo_name_check(repo, "repository", err) < 0)
        return -1;
    int dfd = open_repo_read(s, repo);
    if (dfd < 0)
        return hub_err_setc(err, HUB_E_NOT_FOUND, "repository not found");
    return read_names(dfd, 1, out, n, err);
}

/* ================================================================== */
/* lookups                                                             */
/* ================================================================== */

/* Builds "<repo>[/.tag-<tag>]/<name>" into path after checking the names
 * (name is already normalised by the caller). Returns 0, or -1 with err
 * (HUB_E_INVALID). */
static int entry_path(const char *repo, const char *tag, const char *name,
                      char *path, size_t n, hub_err *err)
{
    if (repo_name_check(repo, "repository", err) < 0 || repo_name_check(name, "name", err) < 0)
        return -1;
    if (tag) {
        char tagdir[REPO_NAME_MAX + TAG_PREFIX_LEN + 1];
        if (repo_name_check(tag, "tag", err) < 0)
            return -1;
        snprintf(tagdir, sizeof tagdir, TAG_PREFIX "%s", tag);
        if (join3(path, n, repo, tagdir, name) < 0)
            return hub_err_setc(err, HUB_E_INVALID, "invalid name: path too long");
        return 0;
    }
    if (join3(path, n, repo, name, NULL) < 0)
        return hub_err_setc(err, HUB_E_INVALID, "invalid name: path too long");
    return 0;
}

int repo_lookup_entry(const repo_store *s, const char *repo, const char *tag,
                      const char *name, repo_lookup *out, hub_err *err)
{
    char path[PATH_MAX];
    int rc = entry_path(repo, tag, name, path, sizeof path, err);
    if (rc)
        return rc;
    memset(out, 0, sizeof *out);
    if (!repo_exists(s, repo, NULL))
        return hub_err_setc(err, HUB_E_NOT_FOUND, "user not found");
    /* The parent (repository or tag directory) is resolved beneath the
     * public directory; the entry itself is looked at without following. */
    char parent[PATH_MAX];
    const char *slash = strrchr(path, '/');
    memcpy(parent, path, (size_t)(slash - path));
    parent[slash - path] = '\0';
    int pfd = open_beneath(s->pubfd, parent, O_RDONLY | O_DIRECTORY);
    if (pfd < 0)
        return hub_err_setc(err, HUB_E_NOT_FOUND, "source not found");
    if (fstatat(pfd, name, &out->lst, AT_SYMLINK_NOFOLLOW) < 0 ||
        !(S_ISREG(out->lst.st_mode) || S_ISLNK(out->lst.st_mode))) {
        close(pfd);
        return hub_err_setc(err, HUB_E_NOT_FOUND, "source not found");
    }
    close(pfd);
    if (S_ISLNK(out->lst.st_mode)) {
        out->is_link = 1;
        pfd = open_beneath(s->pubfd, parent, O_RDONLY | O_DIRECTORY);
        ssize_t k = pfd >= 0 ? readlinkat(pfd, name, out->link_text, sizeof out->link_text - 1) : -1;
        if (pfd >= 0)
            close(pfd);
        out->link_text[k > 0 ? k : 0] = '\0';
    }
    int fd = open_beneath(s->pubfd, path, O_PATH);
    if (fd >= 0) {
        if (fstat(fd, &out->tst) == 0)
            out->has_target = 1;
        close(fd);
    }
    return 0;
}

int repo_open_target(const repo_store *s, const char *repo, const char *tag,
                     const char *name, struct stat *st, hub_err *err)
{
    char path[PATH_MAX];
    if (entry_path(repo, tag, name, path, sizeof path, err))
        return -1;
    int fd = open_beneath(s->pubfd, path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return hub_err_set(err, "%s not found", name);
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return hub_err_set(err, "%s is not a regular file", name);
    }
    /* regular file: back to blocking reads */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

/* ================================================================== */
/* changes                                                             */
/* ================================================================== */

static void tmp_name(char out[32])
{
    uint8_t r[8];
    randombytes_buf(r, sizeof r);
    snprintf(out, 32, ".tmp-%02x%02x%02x%02x%02x%02x%02x%02x",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
}

void repo_touch(repo_store *s, const char *me)
{
    if (repo_name_check(me, "repository", NULL) == 0)
        utimensat(s->pubfd, me, NULL, AT_SYMLINK_NOFOLLOW);
}

/* Opens <public>/<me>; create: mkdir when missing. Returns fd, or -1 with
 * err (HUB_E_NOT_FOUND "user not found" when missing and not created). */
static int open_own(repo_store *s, const char *me, int create, hub_err *err)
{
    if (repo_name_check(me, "repository", err) < 0) {
        return -1;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = openat(s->pubfd, me, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0)
            return fd;
        if (errno == ELOOP || errno == ENOTDIR) {
            return hub_err_setc(err, HUB_E_EXISTS, "repository %s is not a directory (a link or a file is in the way)", me);
        }
        if (errno != ENOENT) {
            return hub_err_setc(err, HUB_E_FAILED, "open repository %s: %s", me, strerror(errno));
        }
        if (!create) {
            return hub_err_setc(err, HUB_E_NOT_FOUND, "user not found");
        }
        if (repo_name_reserved(me)) {
            return hub_err_setc(err, HUB_E_INVALID, "invalid repository \"%s\": reserved name", me);
        }
        if (mkdirat(s->pubfd, me, 0755) < 0 && errno != EEXIST) {
            return hub_err_setc(err, HUB_E_FAILED, "create repository %s: %s", me, strerror(errno));
        }
    }
    return hub_err_setc(err, HUB_E_FAILED, "create repository %s: raced", me);
}

int repo_open_own(repo_store *s, const char *me, hub_err *err)
{
    return open_own(s, me, 1, err);
}

int repo_ensure(repo_store *s, const char *me, hub_err *err)
{
    int fd = open_own(s, me, 1, err);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

/* 1 when dfd/name exists as a regular file or a symlink (not followed),
 * else 0: what counts as an flist entry that can be a source. */
static int is_file_or_link(int dfd, const char *name)
{
    struct stat st;
    return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
           (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode));
}

/* Ends a change made in fd (the caller's repository or a directory in
 * it): closes fd and, when rc is 0, marks repository me as updated.
 * Returns rc. */
static int change_done(repo_store *s, const char *me, int fd, int rc)
{
    close(fd);
    if (rc == 0)
        repo_touch(s, me);
    return rc;
}

/* 1 when <public>/<repo>/<name> exists as a file or a symlink (lstat). */
static int source_exists(const repo_store *s, const char *repo, const char *name)
{
    char path[PATH_MAX];
    if (join3(path, sizeof path, repo, name, NULL) < 0)
        return 0;
    int pfd = open_beneath(s->pubfd, repo, O_RDONLY | O_DIRECTORY);
    if (pfd < 0)
        return 0;
    int ok = is_file_or_link(pfd, name);
    close(pfd);
    return ok;
}

/* Creates or replaces the link dfd/name -> text atomically. The caller has
 * checked that name is absent or a symlink. Returns 0, or -1 with err
 * (HUB_E_EXISTS when a directory is in the way). */
static int place_link(int dfd, const char *text, const char *name, hub_err *err)
{
    char tmp[32];
    tmp_name(tmp);
    if (symlinkat(text, dfd, tmp) < 0)
        return hub_err_setc(err, HUB_E_FAILED, "create link %s: %s", name, strerror(errno));
    if (renameat(dfd, tmp, dfd, name) < 0) {
        int e = errno;
        unlinkat(dfd, tmp, 0);
        if (e == EISDIR || e == ENOTEMPTY || e == EEXIST)
            return hub_err_setc(err, HUB_E_EXISTS, "link destination %s is a directory", name);
        return hub_err_setc(err, HUB_E_FAILED, "create link %s: %s", name, strerror(e));
    }
    return 0;
}

/* Checks the destination of a new link: absent or a symlink is fine; a
 * regular file is the original's 401 (HUB_E_UNAUTHORIZED); anything else
 * HUB_E_EXISTS. Returns 0 or -1 with err. */
static int link_destination_ok(int dfd, const char *name, hub_err *err)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : (hub_err_setc(err, HUB_E_FAILED, "%s: %s", name, strerror(errno)));
    if (S_ISLNK(st.st_mode))
        return 0;
    if (S_ISREG(st.st_mode))
        return hub_err_setc(err, HUB_E_UNAUTHORIZED, "link destination is already a file");
    return hub_err_setc(err, HUB_E_EXISTS, "link destination %s is a directory or a special file", name);
}

int repo_delete(repo_store *s, const char *me, const char *name, hub_err *err)
{
    char nn[REPO_NAME_MAX + 1];
    if (repo_flist_name(name, "name", nn, err) < 0)
        return -1;
    int mfd = open_own(s, me, 0, err);
    if (mfd < 0)
        return -1;
    const char *victim = NULL;
    char base[REPO_NAME_MAX + 1];
    if (is_file_or_link(mfd, nn)) {
        victim = nn;
    } else {
        /* a cross-tag link (no .flist suffix) */
        struct stat st;
        size_t bl = strlen(nn) - 6;
        memcpy(base, nn, bl);
        base[bl] = '\0';
        if (bl > 0 && fstatat(mfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
            victim = base;
    }
    int rc = 0;
    if (!victim)
        rc = hub_err_setc(err, HUB_E_NOT_FOUND, "source not found");
    else if (unlinkat(mfd, victim, 0) != 0)
        rc = hub_err_setc(err, HUB_E_FAILED, "delete %s: %s", nn, strerror(errno));
    return change_done(s, me, mfd, rc);
}

int repo_link(repo_store *s, const char *me, const char *source, const char *linkname, hub_err *err)
{
    char src[REPO_NAME_MAX + 1], ln[REPO_NAME_MAX + 1];
    if (repo_flist_name(source, "source", src, err) < 0 ||
        repo_flist_name(linkname, "link name", ln, err) < 0)
        return -1;
    int mfd = open_own(s, me, 0, err);
    if (mfd < 0)
        return -1;
    int rc = 0;
    if (!is_file_or_link(mfd, src)) {
        rc = hub_err_setc(err, HUB_E_NOT_FOUND, "source not found");
    } else if (strcmp(src, ln) == 0) {
        rc = hub_err_setc(err, HUB_E_EXISTS, "link name and source are the same (%s)", src);
    } else if ((rc = link_destination_ok(mfd, ln, err)) == 0) {
        /* D7: refuse a link whose source chain (same directory) reaches it */
        char cur[REPO_NAME_MAX + 1], text[4096];
        snprintf(cur, sizeof cur, "%s", src);
        for (int hop = 0; hop < 40 && rc == 0; hop++) {
            ssize_t k = readlinkat(mfd, cur, text, sizeof text - 1);
            if (k < 0)
                break;
            text[k] = '\0';
            if (strchr(text, '/') || (size_t)k > REPO_NAME_MAX)
                break; /* leaves the directory: cannot come back to ln */
            if (strcmp(text, ln) == 0) {
                rc = hub_err_setc(err, HUB_E_EXISTS, "link %s -> %s would create a loop", ln, src);
            }
            memcpy(cur, text, (size_t)k + 1);
        }
    }
    if (rc == 0)
        rc = place_link(mfd, src, ln, err);
    return change_done(s, me, mfd, rc);
}

int repo_crosslink(repo_store *s, const char *me, const char *linkname, const char *repo,
                   const char *source, hub_err *err)
{
    char src[REPO_NAME_MAX + 1], ln[REPO_NAME_MAX + 1], text[PATH_MAX];
    if (repo_flist_name(linkname, "link name", ln, err) < 0 ||
        repo_name_check(repo, "repository", err) < 0 ||
        repo_flist_name(source, "source", src, err) < 0)
        return -1;
    if (!repo_exists(s, repo, NULL))
        return hub_err_setc(err, HUB_E_NOT_FOUND, "source repository not found");
    if (!source_exists(s, repo, src))
        return hub_err_setc(err, HUB_E_NOT_FOUND, "source not found");
    if (strcmp(repo, me) == 0 && strcmp(src, ln) == 0)
        return hub_err_setc(err, HUB_E_EXISTS, "link name and source are the same (%s/%s)", repo, src);
    int mfd = open_own(s, me, 1, err);
    if (mfd < 0)
        return -1;
    snprintf(text, sizeof text, "../%s/%s", repo, src);
    int rc = link_destination_ok(mfd, ln, err);
    if (rc == 0)
        rc = place_link(mfd, text, ln, err);
    return change_done(s, me, mfd, rc);
}

/* Checks <public>/<repo>/.tag-<tag> is a directory. Returns 0, or -1 with
 * err (HUB_E_INVALID, HUB_E_NOT_FOUND). */
static int tag_exists(const repo_store *s, const char *repo, const char *tag, hub_err *err)
{
    char path[PATH_MAX];
    struct stat st;
    if (repo_name_check(repo, "repository", err) < 0 || repo_name_check(tag, "tag", err) < 0)
        return -1;
    snprintf(path, sizeof path, "%s/" TAG_PREFIX "%s", repo, tag);
    int fd = open_beneath(s->pubfd, path, O_PATH | O_DIRECTORY);
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return hub_err_setc(err, HUB_E_NOT_FOUND, "source tag not found");
    }
    close(fd);
    return 0;
}

int repo_crosstag(repo_store *s, const char *me, const char *linkname, const char *repo,
                  const char *tag, hub_err *err)
{
    int rc;
    if (repo_name_check(linkname, "link name", err) < 0)
        return -1;
    if ((rc = tag_exists(s, repo, tag, err)))
        return rc;
    if (util_ends_with(linkname, ".flist"))
        return hub_err_setc(err, HUB_E_UNAUTHORIZED, "tag symlink cannot ends with .flist");
    if (strlen(linkname) + 6 > REPO_NAME_MAX)
        return hub_err_setc(err, HUB_E_INVALID, "invalid link name: longer than 255 bytes with .flist");
    int mfd = open_own(s, me, 1, err);
    if (mfd < 0)
        return -1;
    char withext[REPO_NAME_MAX + 1], text[PATH_MAX];
    struct stat st;
    snprintf(withext, sizeof withext, "%s.flist", linkname);
    if (fstatat(mfd, withext, &st, 0) == 0) {
        rc = hub_err_setc(err, HUB_E_UNAUTHORIZED, "there is a .flist file with the same name existing already");
    } else {
        rc = link_destination_ok(mfd, linkname, err);
    }
    snprintf(text, sizeof text, "../%s/" TAG_PREFIX "%s", repo, tag);
    if (rc == 0)
        rc = place_link(mfd, text, linkname, err);
    return change_done(s, me, mfd, rc);
}

int repo_crosstag_delete(repo_store *s, const char *me, const char *linkname, const char *repo,
                         const char *tag, hub_err *err)
{
    if (repo_name_check(linkname, "link name", err) < 0 ||
        repo_name_check(repo, "repository", err) < 0 || repo_name_check(tag, "tag", err) < 0)
        return -1;
    int mfd = open_own(s, me, 0, err);
    if (mfd < 0)
        return -1;
    char text[4096], want[PATH_MAX];
    int rc = 0;
    ssize_t k = readlinkat(mfd, linkname, text, sizeof text - 1);
    snprintf(want, sizeof want, "../%s/" TAG_PREFIX "%s", repo, tag);
    if (k < 0) {
        rc = hub_err_setc(err, HUB_E_NOT_FOUND, "source not found");
    } else {
        text[k] = '\0';
        if (strcmp(text, want) != 0) {
            rc = hub_err_setc(err, HUB_E_EXISTS, "link %s points to %s, not to the tag %s/%s", linkname, text, repo, tag);
        } else if (unlinkat(mfd, linkname, 0) < 0) {
            rc = hub_err_setc(err, HUB_E_FAILED, "delete %s: %s", linkname, strerror(errno));
        }
    }
    return change_done(s, me, mfd, rc);
}

/* Opens M/.tag-<tag> without following links; create when missing.
 * Returns fd, or -1 with err. */
static int open_tag_dir(int mfd, const char *tag, int create, hub_err *err)
{
    char tagdir[REPO_NAME_MAX + TAG_PREFIX_LEN + 1];
    snprintf(tagdir, sizeof tagdir, TAG_PREFIX "%s", tag);
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = openat(mfd, tagdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0)
            return fd;
        if (errno == ELOOP || errno == ENOTDIR) {
            return hub_err_setc(err, HUB_E_EXISTS, "tag %s is not a directory (a link or a file is in the way)", tag);
        }
        if (errno != ENOENT || !create) {
            return hub_err_setc(err, errno == ENOENT ? HUB_E_NOT_FOUND : HUB_E_FAILED, errno == ENOENT ? "target not found on this tag" : "open tag %s: %s",
                               tag, strerror(errno));
        }
        if (mkdirat(mfd, tagdir, 0755) < 0 && errno != EEXIST) {
            return hub_err_setc(err, HUB_E_FAILED, "create tag %s: %s", tag, strerror(errno));
        }
    }
    return hub_err_setc(err, HUB_E_FAILED, "create tag %s: raced", tag);
}

int repo_tag_add(repo_store *s, const char *me, const char *tag, const char *linkname,
                 const char *repo, const char *source, hub_err *err)
{
    char src[REPO_NAME_MAX + 1], ln[REPO_NAME_MAX + 1], text[PATH_MAX];
    if (repo_name_check(tag, "tag", err) < 0 ||
        repo_flist_name(linkname, "link name", ln, err) < 0 ||
        repo_name_check(repo, "repository", err) < 0 ||
        repo_flist_name(source, "source", src, err) < 0)
        return -1;
    if (strlen(tag) + TAG_PREFIX_LEN > REPO_NAME_MAX)
        return hub_err_setc(err, HUB_E_INVALID, "invalid tag: longer than 250 bytes");
    if (!repo_exists(s, repo, NULL))
        return hub_err_setc(err, HUB_E_NOT_FOUND, "source repository not found");
    if (!source_exists(s, repo, src))
        return hub_err_setc(err, HUB_E_NOT_FOUND, "source not found");
    int mfd = open_own(s, me, 1, err);
    if (mfd < 0)
        return -1;
    int tfd = open_tag_dir(mfd, tag, 1, err);
    close(mfd);
    if (tfd < 0)
        return -1;
    snprintf(text, sizeof text, "../../%s/%s", repo, src);
    hub_err dest;
    int rc = link_destination_ok(tfd, ln, &dest);
    if (rc != 0 && dest.code == HUB_E_UNAUTHORIZED)
        hub_err_setc(err, HUB_E_EXISTS, "tag entry %s is a regular file", ln);
    else if (rc != 0 && err)
        *err = dest;
    if (rc == 0)
        rc = place_link(tfd, text, ln, err);
    return change_done(s, me, tfd, rc);
}

int repo_tag_delete(repo_store *s, const char *me, const char *tag, const char *linkname,
                    const char *repo, const char *source, hub_err *err)
{
    char src[REPO_NAME_MAX + 1], ln[REPO_NAME_MAX + 1], want[PATH_MAX], text[4096];
    if (repo_name_check(tag, "tag", err) < 0 ||
        repo_flist_name(linkname, "link name", ln, err) < 0 ||
        repo_name_check(repo, "repository", err) < 0 ||
        repo_flist_name(source, "source", src, err) < 0)
        return -1;
    int mfd = open_own(s, me, 0, err);
    if (mfd < 0)
        return err && err->code == HUB_E_NOT_FOUND ?
               hub_err_setc(err, HUB_E_NOT_FOUND, "target not found on this tag") : -1;
    int tfd = open_tag_dir(mfd, tag, 0, err);
    if (tfd < 0) {
        close(mfd);
        return -1;
    }
    int rc = 0;
    ssize_t k = readlinkat(tfd, ln, text, sizeof text - 1);
    snprintf(want, sizeof want, "../../%s/%s", repo, src);
    if (k < 0) {
        rc = hub_err_setc(err, HUB_E_NOT_FOUND, "target not found on this tag");
    } else {
        text[k] = '\0';
        if (strcmp(text, want) != 0) {
            char *clean = repo_clean_target(text);
            rc = hub_err_setc(err, HUB_E_EXISTS, "tag entry %s points to %s, not to %s/%s", ln, clean ? clean : text,
                        repo, src);
            free(clean);
        } else if (unlinkat(tfd, ln, 0) < 0) {
            rc = hub_err_setc(err, HUB_E_FAILED, "untag %s: %s", ln, strerror(errno));
        }
    }
    close(tfd);
    if (rc == 0) {
        char tagdir[REPO_NAME_MAX + TAG_PREFIX_LEN + 1];
        snprintf(tagdir, sizeof tagdir, TAG_PREFIX "%s", tag);
        unlinkat(mfd, tagdir, AT_REMOVEDIR); /* only succeeds when empty */
    }
    return change_done(s, me, mfd, rc);
}

int repo_rename(repo_store *s, const char *me, const char *source, const char *dest, hub_err *err)
{
    char src[REPO_NAME_MAX + 1], dst[REPO_NAME_MAX + 1];
    if (repo_flist_name(source, "source", src, err) < 0 ||
        repo_flist_name(dest, "destination", dst, err) < 0)
        return -1;
    int mfd = open_own(s, me, 0, err);
    if (mfd < 0)
        return -1;
    int rc = 0;
    if (!is_file_or_link(mfd, src)) {
        rc = hub_err_setc(err, HUB_E_NOT_FOUND, "source not found");
    } else if (strcmp(src, dst) != 0 && renameat2(mfd, src, mfd, dst, RENAME_NOREPLACE) < 0) {
        if (errno == EEXIST) {
            rc = hub_err_setc(err, HUB_E_EXISTS, "destination %s already exists: delete it first", dst);
        } else {
            rc = hub_err_setc(err, HUB_E_FAILED, "rename %s to %s: %s", src, dst, strerror(errno));
        }
    }
    return change_done(s, me, mfd, rc);
}

/* Copies all of in to out. Returns 0 or -1 (errno set). */
static int copy_fd(int in, int out, off_t size)
{
    off_t done = 0;
    while (done < size) {
        ssize_t k = copy_file_range(in, NULL, out, NULL, (size_t)(size - done), 0);
        if (k < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP))
            break;
        if (k < 0)
            return -1;
        if (k == 0)
            return 0; /* file shrank meanwhile */
        done += k;
    }
    if (done >= size)
        return 0;
    char buf[65536];
    if (lseek(in, done, SEEK_SET) < 0)
        return -1;
    for (;;) {
        ssize_t k = read(in, buf, sizeof buf);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (k == 0)
            return 0;
        for (ssize_t w = 0; w < k;) {
            ssize_t m = write(out, buf + w, (size_t)(k - w));
            if (m < 0) {
                if (errno == EINTR)
                    continue;
                return -1;
            }
            w += m;
        }
    }
}

int repo_promote(repo_store *s, const char *me, const char *repo, const char *source,
                 const char *local, char *src_norm, char *local_norm, hub_err *err)
{
    char src[REPO_NAME_MAX + 1], loc[REPO_NAME_MAX + 1];
    if (repo_name_check(repo, "repository", err) < 0 ||
        repo_flist_name(source, "source", src, err) < 0 ||
        repo_flist_name(local, "local name", loc, err) < 0)
        return -1;
    if (!repo_exists(s, repo, NULL))
        return hub_err_setc(err, HUB_E_NOT_FOUND, "user not found");
    if (!source_exists(s, repo, src))
        return hub_err_setc(err, HUB_E_NOT_FOUND, "source not found");
    struct stat st;
    hub_err e2;
    int in = repo_open_target(s, repo, NULL, src, &st, &e2);
    if (in < 0)
        return hub_err_setc(err, HUB_E_NOT_FOUND, "source not found");
    int mfd = open_own(s, me, 1, err);
    if (mfd < 0) {
        close(in);
        return -1;
    }
    int rc = 0;
    struct stat dst;
    if (fstatat(mfd, loc, &dst, AT_SYMLINK_NOFOLLOW) == 0 &&
        !(S_ISREG(dst.st_mode) || S_ISLNK(dst.st_mode))) {
        rc = hub_err_setc(err, HUB_E_EXISTS, "destination %s is a directory or a special file", loc);
    }
    char tmp[32];
    int out = -1;
    if (rc == 0) {
        tmp_name(tmp);
        out = openat(mfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (out < 0) {
            rc = hub_err_setc(err, HUB_E_FAILED, "promote: create temporary file: %s", strerror(errno));
        }
    }
    if (rc == 0) {
        if (copy_fd(in, out, st.st_size) < 0 || fchmod(out, st.st_mode & 07777) < 0 ||
            fsync(out) < 0) {
            rc = hub_err_setc(err, HUB_E_FAILED, "promote: copy %s/%s: %s", repo, src, strerror(errno));
        }
        if (close(out) < 0 && rc == 0) {
            rc = hub_err_setc(err, HUB_E_FAILED, "promote: close: %s", strerror(errno));
        }
        if (rc == 0 && renameat(mfd, tmp, mfd, loc) < 0) {
            rc = hub_err_setc(err, HUB_E_FAILED, "promote: publish %s: %s", loc, strerror(errno));
        }
        if (rc)
            unlinkat(mfd, tmp, 0);
    }
    close(in);
    if (change_done(s, me, mfd, rc) == 0) {
        if (src_norm)
            memcpy(src_norm, src, strlen(src) + 1);
        if (local_norm)
            memcpy(local_norm, loc, strlen(loc) + 1);
    }
    return rc;
}
