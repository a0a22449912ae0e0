/* flist_walk.c - traversal of an open flist: depth-first walk, one-level
 * listing and single-path lookup, all in stored contents order (the order
 * zflist prints).
 *
 * Directories are loaded by the key of their path (as libflist does), falling
 * back to SubDir.key (as 0-fs and rfs do). A hostile database cannot make a
 * walk run forever or blow up: a directory that is reached again (a loop back
 * to an ancestor, or two entries sharing one directory row) and nesting deeper
 * than FLIST_WALK_MAX_DEPTH are refused as corruption.
 */
#include "flist.h"

#include <stdlib.h>
#include <string.h>

#include "flist_keys.h"
#include "hmap.h"

#define FLIST_WALK_MAX_DEPTH 4096

/* What an entry without a readable ACI reports (flist.h). */
static flist_acl empty_acl = { .uname = "", .gname = "", .uid = -1, .gid = -1 };

static const flist_acl *acl_or_empty(flist *f, const char *aclkey)
{
    const flist_acl *a = flist_acl_get(f, aclkey);
    return a ? a : &empty_acl;
}

/* A growable path string. */
typedef struct pathbuf {
    char *s;
    size_t len, cap;
} pathbuf;

/* Appends "/name". Returns 0 or -1 (out of memory). */
static int path_push(pathbuf *p, const char *name)
{
    size_t n = strlen(name);
    if (p->len + n + 2 > p->cap) {
        size_t cap = (p->len + n + 2) * 2;
        char *s = realloc(p->s, cap);
        if (!s)
            return -1;
        p->s = s;
        p->cap = cap;
    }
    p->s[p->len++] = '/';
    memcpy(p->s + p->len, name, n + 1);
    p->len += n;
    return 0;
}

/* Adds key to the set of directory keys seen (revisit detection). The set
 * owns a copy of each key, stored as its own value, freed by keyset_free.
 * Returns 1 when added, 0 when already present, -1 out of memory. */
static int keyset_add(hmap *ks, const char *key)
{
    char *copy = strdup(key);
    int added = copy ? hmap_add(ks, copy, copy) : -1;
    if (added != 1)
        free(copy);
    return added;
}

static void keyset_free(hmap *ks)
{
    size_t pos = 0;
    void *copy;
    while (hmap_next(ks, &pos, NULL, &copy))
        free(copy);
    hmap_free(ks);
}

typedef struct walk_ctx {
    flist *f;
    flist_entry_fn fn;
    void *ud;
    hub_err *err;
    pathbuf path;           /* "/a/b" of the directory being listed */
    const char *stack[FLIST_WALK_MAX_DEPTH + 1];  /* keys of the ancestors */
    hmap seen;              /* keyset_add */
} walk_ctx;

/* Loads the directory of entry `ino` whose path is in w->path. *key gets the
 * key it was found under (owned by the inode or by keybuf). */
static int load_child(walk_ctx *w, const flist_inode *ino, char keybuf[FLIST_DIRKEY_LEN + 1],
                      const char **key, flist_dir **out)
{
    flist_path_key(w->path.s + 1, keybuf);
    int r = flist_dir_load_key(w->f, keybuf, out, w->err);
    *key = keybuf;
    if (r == FLIST_ENOENT && ino->dirkey && ino->dirkey[0] && strcmp(ino->dirkey, keybuf) != 0) {
        r = flist_dir_load_key(w->f, ino->dirkey, out, w->err);
        *key = ino->dirkey;
    }
    if (r == FLIST_ENOENT)
        return hub_err_set(w->err, "corrupt flist: directory %s has no row", w->path.s);
    if (r < 0)
        return hub_err_prefix(w->err, "corrupt flist: %s", w->path.s);
    return 0;
}

/* Reports the entries of dir (at depth `depth`, its key on w->stack[depth-1])
 * and recurses into subdirectories. */
static int walk_dir(walk_ctx *w, const flist_dir *dir, int depth)
{
    size_t base = w->path.len;
    for (size_t i = 0; i < dir->nentries; i++) {
        const flist_inode *ino = &dir->entries[i];
        w->path.len = base;
        w->path.s[base] = '\0';
        if (path_push(&w->path, ino->name ? ino->name : "") < 0)
            return hub_err_set(w->err, "out of memory");
        flist_entry e = { w->path.s, ino, acl_or_empty(w->f, ino->aclkey), depth };
        int r = w->fn(&e, w->ud);
        if (r)
            return r;
        if (ino->type != FLIST_DIR)
            continue;
        if (depth >= FLIST_WALK_MAX_DEPTH)
            return hub_err_set(w->err, "corrupt flist: directories nested deeper than %d "
                               "levels at %s", FLIST_WALK_MAX_DEPTH, w->path.s);
        char keybuf[FLIST_DIRKEY_LEN + 1];
        const char *key;
        flist_dir *child = NULL;
        if (load_child(w, ino, keybuf, &key, &child) < 0)
            return -1;
        for (int k = 0; k < depth; k++) {
            if (strcmp(w->stack[k], key) == 0) {
                flist_dir_free(child);
                return hub_err_set(w->err, "corrupt flist: directory loop at %s", w->path.s);
            }
        }
        int added = keyset_add(&w->seen, key);
        if (added <= 0) {
            flist_dir_free(child);
            if (added < 0)
                return hub_err_set(w->err, "out of memory");
            return hub_err_set(w->err, "corrupt flist: directory %s is reached twice "
                               "(duplicate directory entries)", w->path.s);
        }
        w->stack[depth] = key;
        r = walk_dir(w, child, depth + 1);
        flist_dir_free(child);
        if (r)
            return r;
    }
    w->path.len = base;
    w->path.s[base] = '\0';
    return 0;
}

/* "/" + path without one leading and one trailing '/'; "" for the root. */
static int start_path(pathbuf *p, const char *path)
{
    size_t n;
    path = flist_path_trim(path, &n);
    p->cap = n + 64;
    p->s = malloc(p->cap);
    if (!p->s)
        return -1;
    p->len = 0;
    if (n) {
        p->s[0] = '/';
        memcpy(p->s + 1, path, n);
        p->len = n + 1;
    }
    p->s[p->len] = '\0';
    return 0;
}

int flist_walk(flist *f, const char *path, flist_entry_fn fn, void *ud, hub_err *err)
{
    walk_ctx *w = calloc(1, sizeof *w);
    if (!w)
        return hub_err_set(err, "out of memory");
    w->f = f;
    w->fn = fn;
    w->ud = ud;
    w->err = err;
    hmap_init(&w->seen, 0);
    int rc;
    flist_dir *dir = NULL;
    char key[FLIST_DIRKEY_LEN + 1];
    if (start_path(&w->path, path) < 0) {
        rc = hub_err_set(err, "out of memory");
        goto out;
    }
    rc = flist_dir_load(f, path, &dir, err);
    if (rc != 0)
        goto out;
    flist_path_key(w->path.len ? w->path.s + 1 : "", key);
    w->stack[0] = key;
    if (keyset_add(&w->seen, key) < 0) {
        rc = hub_err_set(err, "out of memory");
        goto out;
    }
    rc = walk_dir(w, dir, 1);
out:
    flist_dir_free(dir);
    keyset_free(&w->seen);
    free(w->path.s);
    free(w);
    return rc;
}

int flist_list(flist *f, const char *path, flist_entry_fn fn, void *ud, hub_err *err)
{
    pathbuf p;
    flist_dir *dir = NULL;
    if (start_path(&p, path) < 0)
        return hub_err_set(err, "out of memory");
    int rc = flist_dir_load(f, path, &dir, err);
    size_t base = p.len;
    for (size_t i = 0; rc == 0 && i < dir->nentries; i++) {
        const flist_inode *ino = &dir->entries[i];
        p.len = base;
        if (path_push(&p, ino->name ? ino->name : "") < 0) {
            rc = hub_err_set(err, "out of memory");
            break;
        }
        flist_entry e = { p.s, ino, acl_or_empty(f, ino->aclkey), 1 };
        rc = fn(&e, ud);
    }
    flist_dir_free(dir);
    free(p.s);
    return rc;
}

int flist_lookup(flist *f, const char *path, flist_entry_fn fn, void *ud, hub_err *err)
{
    pathbuf p;
    if (start_path(&p, path) < 0)
        return hub_err_set(err, "out of memory");
    if (p.len == 0) {
        free(p.s);
        hub_err_set(err, "no such file or directory: /");
        return FLIST_ENOENT;
    }
    /* p.s = "/parent/name": split at the last '/' */
    char *slash = strrchr(p.s, '/');
    *slash = '\0';
    const char *parent = p.s[0] ? p.s : "/";
    const char *name = slash + 1;
    flist_dir *dir = NULL;
    int rc = flist_dir_load(f, parent, &dir, err);
    const flist_inode *hit = NULL;
    for (size_t i = 0; rc == 0 && i < dir->nentries && !hit; i++)
        if (dir->entries[i].name && strcmp(dir->entries[i].name, name) == 0)
            hit = &dir->entries[i];
    *slash = '/';
    if (rc == 0 && !hit)
        rc = FLIST_ENOENT;
    if (rc == FLIST_ENOENT)
        hub_err_set(err, "no such file or directory: %s", p.s);
    if (rc == 0) {
        int depth = 0;
        for (const char *c = p.s; *c; c++)
            depth += *c == '/';
        flist_entry e = { p.s, hit, acl_or_empty(f, hit->aclkey), depth };
        rc = fn(&e, ud);
    }
    flist_dir_free(dir);
    free(p.s);
    return rc;
}
