/* flist_json.c - zflist's JSON output shapes (FLIST-FORMAT.md §10.1) built
 * from an open flist: find, ls, stat, metadata, chunks and the envelope.
 *
 * Objects are filled in zflist's key order, so json_dumps(v, 0) prints what
 * zflist prints. One deliberate difference: stat's "device" holds the real
 * Special.data ("1,3", "(nothing)") where zflist always prints "" (§10.1).
 * Strings from the flist that are not valid UTF-8 (file names are bytes)
 * get U+FFFD for each invalid byte instead of making jansson fail.
 */
#include "flist_json.h"

#include <stdlib.h>
#include <string.h>

#include "flist_keys.h"

static void set_rc(int *rc, int v)
{
    if (rc)
        *rc = v;
}

/* The out-of-memory exit of a builder: frees v (NULL ok), sets *rc to -1
 * and err. Returns NULL. */
static json_t *out_of_memory(json_t *v, int *rc, hub_err *err)
{
    json_decref(v);
    set_rc(rc, -1);
    hub_err_set(err, "out of memory");
    return NULL;
}

/* The result of a walk whose callback returns 1 when it runs out of memory:
 * that 1 becomes -1 with err set; other values are returned as they are. */
static int walk_result(int r, hub_err *err)
{
    return r == 1 ? hub_err_set(err, "out of memory") : r;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    unsigned cp = c & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* A JSON string of n bytes; invalid UTF-8 bytes become U+FFFD. */
static json_t *jstrn(const void *data, size_t n)
{
    const unsigned char *s = data ? data : (const unsigned char *)"";
    if (!data)
        n = 0;
    json_t *j = json_stringn(s ? (const char *)s : "", n);
    if (j)
        return j;
    if (n > (SIZE_MAX - 1) / 3)
        return NULL;
    char *buf = malloc(n * 3 + 1);
    if (!buf)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq(s + i, n - i);
        if (l) {
            memcpy(buf + o, s + i, l);
            o += l;
            i += l;
        } else {
            memcpy(buf + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    j = json_stringn(buf, o);
    free(buf);
    return j;
}

static json_t *jstr(const char *s)
{
    return jstrn(s, s ? strlen(s) : 0);
}

/* json_object_set_new that reports failure (a NULL value included). */
static int put(json_t *obj, const char *key, json_t *v)
{
    return v && json_object_set_new(obj, key, v) == 0 ? 0 : -1;
}

const char *flist_type_word(const flist_inode *ino)
{
    switch (ino->type) {
    case FLIST_DIR:
        return "directory";
    case FLIST_FILE:
        return "regular file";
    case FLIST_LINK:
        return "symlink";
    case FLIST_SPECIAL:
        switch (ino->special) {
        case FLIST_SPECIAL_SOCKET:
            return "unix socket";
        case FLIST_SPECIAL_BLOCK:
            return "block device";
        case FLIST_SPECIAL_CHARDEV:
            return "character device";
        case FLIST_SPECIAL_FIFO:
            return "fifo";
        default:
            return "unknown";
        }
    }
    return "unknown";
}

json_t *flist_json_envelope(json_t *response)
{
    json_t *o = json_object();
    if (!o || put(o, "success", json_true()) < 0 || put(o, "error", json_null()) < 0 ||
        put(o, "response", response ? response : json_object()) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *flist_json_error(const char *fn, const char *msg)
{
    json_t *o = json_object(), *e = json_object();
    if (!o || !e || put(e, "function", jstr(fn)) < 0 || put(e, "message", jstr(msg)) < 0 ||
        put(o, "success", json_false()) < 0) {
        json_decref(o);
        json_decref(e);
        return NULL;
    }
    if (put(o, "error", e) < 0 || put(o, "response", json_object()) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ------------------------------------------------------------------ */
/* find                                                                 */
/* ------------------------------------------------------------------ */

typedef struct find_ctx {
    json_t *content;
    uint64_t regular, symlink, directory, special, fullsize;
} find_ctx;

static int find_cb(const flist_entry *e, void *ud)
{
    find_ctx *c = ud;
    json_t *item = json_object();
    if (!item || put(item, "size", json_integer((json_int_t)e->inode->size)) < 0 ||
        put(item, "path", jstr(e->path)) < 0 || json_array_append_new(c->content, item) < 0) {
        json_decref(item);
        return 1;
    }
    switch (e->inode->type) {
    case FLIST_DIR:
        c->directory++;
        break;
    case FLIST_FILE:
        c->regular++;
        c->fullsize += e->inode->size;
        break;
    case FLIST_LINK:
        c->symlink++;
        break;
    case FLIST_SPECIAL:
        c->special++;
        break;
    }
    return 0;
}

json_t *flist_json_find(flist *f, const char *path, uint64_t failures, int *rc, hub_err *err)
{
    find_ctx c = { .content = json_array() };
    json_t *o = json_object();
    if (!o || !c.content) {
        json_decref(c.content);
        return out_of_memory(o, rc, err);
    }
    int r = walk_result(flist_walk(f, path, find_cb, &c, err), err);
    if (r != 0) {
        json_decref(o);
        json_decref(c.content);
        set_rc(rc, r);
        return NULL;
    }
    if (put(o, "content", c.content) < 0 ||
        put(o, "regular", json_integer((json_int_t)c.regular)) < 0 ||
        put(o, "symlink", json_integer((json_int_t)c.symlink)) < 0 ||
        put(o, "directory", json_integer((json_int_t)c.directory)) < 0 ||
        put(o, "special", json_integer((json_int_t)c.special)) < 0 ||
        put(o, "failure", json_integer((json_int_t)failures)) < 0 ||
        put(o, "fullsize", json_integer((json_int_t)c.fullsize)) < 0)
        return out_of_memory(o, rc, err);
    set_rc(rc, 0);
    return o;
}

/* ------------------------------------------------------------------ */
/* ls                                                                   */
/* ------------------------------------------------------------------ */

static int ls_cb(const flist_entry *e, void *ud)
{
    json_t *arr = ud, *item = json_object();
    const flist_acl *a = e->acl;
    if (!item || put(item, "name", jstr(e->inode->name)) < 0 ||
        put(item, "type", json_string(flist_type_word(e->inode))) < 0 ||
        put(item, "size", json_integer((json_int_t)e->inode->size)) < 0 ||
        put(item, "user", jstr(a->uname)) < 0 || put(item, "uid", json_integer(a->uid)) < 0 ||
        put(item, "group", jstr(a->gname)) < 0 || put(item, "gid", json_integer(a->gid)) < 0 ||
        json_array_append_new(arr, item) < 0) {
        json_decref(item);
        return 1;
    }
    return 0;
}

json_t *flist_json_ls(flist *f, const char *path, int *rc, hub_err *err)
{
    json_t *arr = json_array();
    if (!arr)
        return out_of_memory(NULL, rc, err);
    int r = walk_result(flist_list(f, path, ls_cb, arr, err), err);
    set_rc(rc, r);
    if (r != 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

/* ------------------------------------------------------------------ */
/* stat                                                                 */
/* ------------------------------------------------------------------ */

/* Appends {"key": hex(id), "decipher": hex(key)} for each block. */
static int chunk_list(json_t *arr, const flist_inode *ino)
{
    for (size_t i = 0; i < ino->nblocks; i++) {
        char id[33], key[33];
        hub_hex(ino->blocks[i].id, 16, id);
        hub_hex(ino->blocks[i].key, 16, key);
        json_t *c = json_object();
        if (!c || put(c, "key", json_string(id)) < 0 || put(c, "decipher", json_string(key)) < 0 ||
            json_array_append_new(arr, c) < 0) {
            json_decref(c);
            return -1;
        }
    }
    return 0;
}

static int stat_cb(const flist_entry *e, void *ud)
{
    json_t **out = ud, *o = json_object(), *chunks = json_array();
    const flist_inode *ino = e->inode;
    const flist_acl *a = e->acl;
    if (!o || !chunks)
        goto fail;
    if (put(o, "file", jstr(e->path)) < 0 ||
        put(o, "size", json_integer((json_int_t)ino->size)) < 0 ||
        put(o, "mode", json_integer(a->mode)) < 0 ||
        put(o, "user", jstr(a->uname)) < 0 || put(o, "uid", json_integer(a->uid)) < 0 ||
        put(o, "group", jstr(a->gname)) < 0 || put(o, "gid", json_integer(a->gid)) < 0 ||
        put(o, "created", json_integer(ino->ctime)) < 0 ||
        put(o, "modified", json_integer(ino->mtime)) < 0)
        goto fail;
    if (ino->type == FLIST_LINK && put(o, "linkto", jstr(ino->target)) < 0)
        goto fail;
    if (ino->type == FLIST_SPECIAL &&
        put(o, "device", jstrn(ino->special_data, ino->special_len)) < 0)
        goto fail;
    if (ino->type == FLIST_FILE && chunk_list(chunks, ino) < 0)
        goto fail;
    if (put(o, "chunks", chunks) < 0) {
        chunks = NULL;
        goto fail;
    }
    *out = o;
    return 0;
fail:
    json_decref(o);
    json_decref(chunks);
    return 1;
}

json_t *flist_json_stat(flist *f, const char *path, int *rc, hub_err *err)
{
    json_t *o = NULL;
    int r = walk_result(flist_lookup(f, path, stat_cb, &o, err), err);
    set_rc(rc, r);
    return r == 0 ? o : NULL;
}

/* ------------------------------------------------------------------ */
/* metadata                                                             */
/* ------------------------------------------------------------------ */

json_t *flist_json_metadata(flist *f, const char *name, int *rc, hub_err *err)
{
    if (!name) {
        char **names;
        size_t n;
        if (flist_meta_names(f, &names, &n, err) < 0) {
            set_rc(rc, -1);
            return NULL;
        }
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++) {
            if (json_array_append_new(arr, jstr(names[i])) < 0) {
                json_decref(arr);
                arr = NULL;
            }
        }
        flist_strv_free(names, n);
        if (!arr)
            return out_of_memory(NULL, rc, err);
        set_rc(rc, 0);
        return arr;
    }

    char *value;
    int r = flist_meta_get(f, name, &value, err);
    if (r != 0) {
        set_rc(rc, r);
        return NULL;
    }
    /* without JSON_DECODE_ANY only an object or an array parses */
    json_error_t jerr;
    json_t *v = json_loads(value, 0, &jerr);
    if (!v)
        v = jstr(value);
    free(value);
    json_t *o = json_object();
    if (!o || put(o, "metadata", jstr(name)) < 0 || put(o, "value", v) < 0)
        return out_of_memory(o, rc, err);
    set_rc(rc, 0);
    return o;
}

/* ------------------------------------------------------------------ */
/* chunks                                                               */
/* ------------------------------------------------------------------ */

static int chunks_cb(const flist_entry *e, void *ud)
{
    json_t *arr = ud;
    if (e->inode->type != FLIST_FILE)
        return 0;
    for (size_t i = 0; i < e->inode->nblocks; i++) {
        char id[33];
        hub_hex(e->inode->blocks[i].id, 16, id);
        if (json_array_append_new(arr, json_string(id)) < 0)
            return 1;
    }
    return 0;
}

json_t *flist_json_chunks(flist *f, int *rc, hub_err *err)
{
    json_t *arr = json_array(), *o = json_object();
    if (!arr || !o) {
        json_decref(arr);
        return out_of_memory(o, rc, err);
    }
    int r = walk_result(flist_walk(f, "/", chunks_cb, arr, err), err);
    if (r != 0) {
        json_decref(arr);
        json_decref(o);
        set_rc(rc, r);
        return NULL;
    }
    if (put(o, "content", arr) < 0)   /* put took arr, even on failure */
        return out_of_memory(o, rc, err);
    set_rc(rc, 0);
    return o;
}
