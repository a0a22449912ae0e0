/* oci_apply.c - container image layers and config into an flist writer
 * (oci_apply_layers, oci_apply_config; declared in oci.h).
 *
 * Layers are read once each, in order, through the tar reader of
 * flist_source_tar.c (flist_tar.h): nothing is extracted, the final tree
 * is the writer's in-memory tree and file content streams into its chunk
 * pipeline. OCI changeset semantics (image-spec "layer.md",
 * docs/OCI-NOTES.md §4) on top of the writer's own rules (an entry
 * replaces what is at its name, a directory over a directory only takes
 * the new attributes, missing parents are made root 0755):
 *
 *  - every node is stamped with the layer that made or touched it
 *    (flist_writer_set_layer): a whiteout ".wh.<name>" removes <name> when
 *    a lower layer made it, and an opaque marker ".wh..wh..opq" removes
 *    what lower layers put in its directory; entries of the same layer
 *    survive whatever the order of the marker and them in the archive
 *    (the spec's "whiteouts first" without reading a layer twice);
 *  - the parents of each name, the whiteouts' directories and the
 *    parents of hard-link targets are resolved in the tree as in a chroot:
 *    a directory symlink met on the way is followed (absolute targets
 *    from the image root), so that "var/run/x" with "var/run -> ../run"
 *    lands in "run/x";
 *  - escapes refuse the whole image, naming the layer and the entry: a
 *    name or hard-link target that is absolute or climbs above the root,
 *    a write, whiteout or hard link through a symlink whose target climbs
 *    above the root, a whiteout of "." or "..", symlink loops. Symlinks
 *    themselves are stored verbatim (an absolute or out-of-root target is
 *    no escape: nothing here follows it outside the tree);
 *  - a hard link to a symlink becomes a copy of the symlink (the format's
 *    hard links share file content only).
 *
 * xattrs are not kept (the flist format has no place for them).
 *
 * The config becomes /.startup.toml exactly as the original hub writes it
 * (docs/HUB-API.md §13.4, pytoml's output), except that the arguments
 * follow Docker (Entrypoint + Cmd) where the original dropped Cmd, and the
 * typed metadata rows entrypoint, environ, port, volume (FLIST-FORMAT.md
 * §7) plus raw rows workdir and user when the image sets them.
 */
#include "oci.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flist_tar.h"

#define OCI_WH_PREFIX ".wh."
#define OCI_WH_PREFIX_LEN 4
#define OCI_WH_OPAQUE ".wh..wh..opq"
#define OCI_WH_META ".wh..wh."          /* aufs bookkeeping (.wh..wh.plnk ...) */
#define OCI_MAX_SYMLINKS 40             /* what Linux allows in one lookup */
#define OCI_STARTUP_PATH ".startup.toml"
#define OCI_STARTUP_MODE 0644
#define OCI_DEFAULT_SHELL "/bin/sh"

/* ------------------------------------------------------------------ */
/* A growable string                                                   */
/* ------------------------------------------------------------------ */

typedef struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_addn(sbuf *b, const char *p, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_add(sbuf *b, const char *p)
{
    sb_addn(b, p, strlen(p));
}

static void sb_set(sbuf *b, const char *p, size_t n)
{
    b->len = 0;
    sb_addn(b, p, n);
    if (!b->oom && !b->s)
        sb_addn(b, "", 0);
}

/* ------------------------------------------------------------------ */
/* Layers                                                              */
/* ------------------------------------------------------------------ */

typedef struct apply_ctx {
    size_t index, count;            /* the layer being applied (0-based), of */
    const char *digest;             /* its digest ("" for a stream) */
    flist_progress_fn progress;
    void *progress_ud;
    uint64_t raw_done, raw_total;   /* compressed bytes over all layers */
    sbuf cur, rest, tmp;            /* resolve()'s buffers */
} apply_ctx;

/* Refuses the image for an entry of the current layer. Returns -1. */
static int refuse(apply_ctx *c, hub_err *err, const char *name, const char *why)
{
    return hub_err_setc(err, HUB_E_INVALID, "layer %zu of %zu%s%s: entry '%s' %s",
                        c->index + 1, c->count, *c->digest ? " " : "", c->digest, name, why);
}

/* Resolves the cleaned path `path` in the tree being built as in a chroot:
 * each symlink met in the parents (and at the last component when
 * follow_last) is replaced by its target, read from the tree (absolute
 * targets start again at the root). The result, a cleaned path without
 * symlinks before its last component, is left in c->cur. Returns 0, or -1
 * with err when a target climbs above the root or links loop (`name` is
 * the entry named in the refusal). */
static int resolve(apply_ctx *c, flist_writer *w, const char *name, const char *path,
                   int follow_last, hub_err *err)
{
    int links = 0;
    sb_set(&c->cur, "", 0);
    sb_set(&c->rest, path, strlen(path));
    size_t pos = 0;   /* next unread byte of c->rest */
    while (!c->rest.oom && !c->cur.oom && pos < c->rest.len) {
        const char *comp = c->rest.s + pos;
        const char *slash = strchr(comp, '/');
        size_t clen = slash ? (size_t)(slash - comp) : strlen(comp);
        pos += clen + (slash ? 1 : 0);
        int last = pos >= c->rest.len;
        if (clen == 0 || (clen == 1 && comp[0] == '.'))
            continue;
        if (clen == 2 && comp[0] == '.' && comp[1] == '.') {
            if (c->cur.len == 0)
                return refuse(c, err, name, "goes through a symlink that leads outside the image");
            char *cut = strrchr(c->cur.s, '/');
            c->cur.len = cut ? (size_t)(cut - c->cur.s) : 0;
            c->cur.s[c->cur.len] = '\0';
            continue;
        }
        size_t before = c->cur.len;
        if (before)
            sb_addn(&c->cur, "/", 1);
        sb_addn(&c->cur, comp, clen);
        if (c->cur.oom)
            break;
        if (last && !follow_last)
            break;
        flist_type type;
        const char *target = NULL;
        if (flist_writer_stat(w, c->cur.s, &type, &target) != 0 || type != FLIST_LINK ||
            !target || !*target)
            continue;
        if (++links > OCI_MAX_SYMLINKS)
            return refuse(c, err, name, "goes through too many levels of symlinks");
        /* rest = target + "/" + what is left */
        sb_set(&c->tmp, target, strlen(target));
        if (pos < c->rest.len) {
            sb_addn(&c->tmp, "/", 1);
            sb_add(&c->tmp, c->rest.s + pos);
        }
        if (c->tmp.oom)
            break;
        sb_set(&c->rest, c->tmp.s, c->tmp.len);
        pos = 0;
        c->cur.len = target[0] == '/' ? 0 : before;
        c->cur.s[c->cur.len] = '\0';
    }
    if (c->rest.oom || c->cur.oom || c->tmp.oom)
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    return 0;
}

/* The directory part of a cleaned path ("" for a root entry) into out
 * (room for strlen(path)+1), and a pointer to its last component. */
static const char *split_path(const char *path, char *dir)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        dir[0] = '\0';
        return path;
    }
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    return slash + 1;
}

/* A whiteout entry at cleaned `path` whose last component is `base`. */
static int apply_whiteout(apply_ctx *c, flist_writer *w, const char *raw, const char *path,
                          const char *base, hub_err *err)
{
    char *dir = malloc(strlen(path) + 1);
    if (!dir)
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    split_path(path, dir);
    int rc = resolve(c, w, raw, dir, 1, err);
    free(dir);
    if (rc != 0)
        return -1;
    if (strcmp(base, OCI_WH_OPAQUE) == 0)
        return flist_writer_whiteout(w, c->cur.s, 1, err);
    if (strncmp(base, OCI_WH_META, strlen(OCI_WH_META)) == 0)
        return 0;   /* aufs bookkeeping: never part of the tree */
    const char *victim = base + OCI_WH_PREFIX_LEN;
    if (!*victim || strcmp(victim, ".") == 0 || strcmp(victim, "..") == 0)
        return refuse(c, err, raw, "is a whiteout of no entry or of a parent");
    if (c->cur.len)
        sb_addn(&c->cur, "/", 1);
    sb_add(&c->cur, victim);
    if (c->cur.oom)
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    return flist_writer_whiteout(w, c->cur.s, 0, err);
}

/* flist_tar_member_fn: one member of a layer. */
static int apply_member(void *ud, flist_writer *w, struct archive_entry *ae, flist_src_entry *e,
                        hub_err *err)
{
    apply_ctx *c = ud;
    const char *raw = archive_entry_pathname(ae);
    if (!raw)
        raw = e->path;
    if (raw[0] == '/')
        return refuse(c, err, raw, "has an absolute name");
    const char *hl = archive_entry_hardlink(ae);
    if (hl && hl[0] == '/')
        return refuse(c, err, raw, "is a hard link to an absolute name");
    if (e->path[0] == '\0')
        return flist_writer_add(w, e, err);   /* the root: the writer keeps its own */

    const char *base = strrchr(e->path, '/');
    base = base ? base + 1 : e->path;
    if (strncmp(base, OCI_WH_PREFIX, OCI_WH_PREFIX_LEN) == 0)
        return apply_whiteout(c, w, raw, e->path, base, err);

    char *link = NULL;
    char *target_copy = NULL;
    if (e->hardlink) {
        if (resolve(c, w, raw, e->hardlink, 0, err) != 0)
            return -1;
        link = strdup(c->cur.s);
        if (!link)
            return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
        flist_type type;
        const char *target = NULL;
        if (flist_writer_stat(w, link, &type, &target) != 0) {
            free(link);
            return refuse(c, err, raw, "is a hard link to a missing entry");
        }
        if (type == FLIST_LINK) {
            /* a hard link to a symlink: the same symlink again */
            target_copy = strdup(target ? target : "");
            if (!target_copy) {
                free(link);
                return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
            }
            e->type = FLIST_LINK;
            e->link_target = target_copy;
            e->hardlink = NULL;
        } else if (type != FLIST_FILE) {
            free(link);
            return refuse(c, err, raw, "is a hard link to a directory or a special file");
        } else {
            e->hardlink = link;
        }
    }
    int rc = resolve(c, w, raw, e->path, 0, err);
    if (rc == 0) {
        e->path = c->cur.s;
        rc = flist_writer_add(w, e, err);
    }
    free(link);
    free(target_copy);
    return rc;
}

/* flist_tar_raw_fn: compressed bytes read. */
static void apply_raw(void *ud, uint64_t n)
{
    apply_ctx *c = ud;
    c->raw_done += n;
    if (c->progress)
        c->progress(c->progress_ud, c->raw_done, c->raw_total);
}

int oci_apply_layers(flist_writer *w, const oci_layer *layers, size_t n,
                     flist_progress_fn progress, void *progress_ud, hub_err *err)
{
    hub_err local;
    if (!err)
        err = &local;
    if (!w || (n && !layers))
        return hub_err_set(err, "oci_apply_layers: invalid arguments");
    apply_ctx c = { .count = n, .progress = progress, .progress_ud = progress_ud };
    for (size_t i = 0; i < n; i++)
        c.raw_total += layers[i].size;
    flist_tar_opts o = { .member = apply_member, .raw_read = apply_raw, .ud = &c };
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        c.index = i;
        c.digest = layers[i].digest;
        flist_writer_set_layer(w, (uint32_t)(i + 1));
        rc = flist_tar_read_fd(w, layers[i].fd, &o, err);
        if (rc != 0 && !strstr(err->msg, "layer "))
            hub_err_prefix(err, "layer %zu of %zu%s%s", i + 1, n, *c.digest ? " " : "",
                           c.digest);
    }
    free(c.cur.s);
    free(c.rest.s);
    free(c.tmp.s);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Config                                                              */
/* ------------------------------------------------------------------ */

/* The boot command as the original derives it, arguments as Docker runs
 * them: *name borrowed from cfg; *args a new array, or NULL for the
 * original's `args = null` (a one-element Entrypoint without Cmd). */
typedef struct oci_cmd {
    const char *name;
    json_t *args;
} oci_cmd;

static int is_string_array(json_t *v)
{
    if (!json_is_array(v))
        return 0;
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x)
        if (!json_is_string(x))
            return 0;
    return 1;
}

/* Works out the command; returns 0 or -1 with err. */
static int config_cmd(json_t *cfg, oci_cmd *out, hub_err *err)
{
    json_t *ep = json_object_get(cfg, "Entrypoint");
    json_t *cmd = json_object_get(cfg, "Cmd");
    if (ep && !json_is_null(ep) && !is_string_array(ep))
        return hub_err_setc(err, HUB_E_INVALID,
                            "image config: Entrypoint is not a list of strings");
    if (cmd && !json_is_null(cmd) && !is_string_array(cmd))
        return hub_err_setc(err, HUB_E_INVALID, "image config: Cmd is not a list of strings");
    size_t nep = is_string_array(ep) ? json_array_size(ep) : 0;
    size_t ncmd = is_string_array(cmd) ? json_array_size(cmd) : 0;
    out->args = NULL;
    if (nep > 0) {
        out->name = json_string_value(json_array_get(ep, 0));
        if (nep == 1 && ncmd == 0 && !is_string_array(cmd))
            return 0;   /* the original's null */
        out->args = json_array();
        for (size_t i = 1; out->args && i < nep; i++)
            json_array_append(out->args, json_array_get(ep, i));
        for (size_t i = 0; out->args && i < ncmd; i++)
            json_array_append(out->args, json_array_get(cmd, i));
    } else if (ncmd > 0) {
        out->name = json_string_value(json_array_get(cmd, 0));
        out->args = json_array();
        for (size_t i = 1; out->args && i < ncmd; i++)
            json_array_append(out->args, json_array_get(cmd, i));
    } else {
        /* the container the original creates runs /bin/sh */
        out->name = OCI_DEFAULT_SHELL;
        out->args = json_array();
    }
    if (!out->args)
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    return 0;
}

/* A TOML basic string as pytoml writes it. */
static void toml_string(sbuf *b, const char *s)
{
    sb_addn(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"': sb_add(b, "\\\""); break;
        case '\\': sb_add(b, "\\\\"); break;
        case '\n': sb_add(b, "\\n"); break;
        case '\r': sb_add(b, "\\r"); break;
        case '\t': sb_add(b, "\\t"); break;
        case '\b': sb_add(b, "\\b"); break;
        case '\f': sb_add(b, "\\f"); break;
        default:
            if (*p < 0x20) {   /* pytoml: below 0x20 only (DEL stays as is) */
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                sb_add(b, esc);
            } else {
                sb_addn(b, (const char *)p, 1);
            }
        }
    }
    sb_addn(b, "\"", 1);
}

/* A TOML key: bare when entirely [A-Za-z0-9_-], else quoted. */
static void toml_key(sbuf *b, const char *k, size_t len)
{
    int bare = len > 0;
    for (size_t i = 0; i < len && bare; i++) {
        char ch = k[i];
        bare = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
               (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
    }
    if (bare) {
        sb_addn(b, k, len);
        return;
    }
    char *z = strndup(k, len);
    if (!z) {
        b->oom = 1;
        return;
    }
    toml_string(b, z);
    free(z);
}

/* The Env entries as (key, value) pairs, split at the first '=' (an
 * entry without one is a key with an empty value). */
static int env_split(const char *entry, size_t *klen, const char **value)
{
    const char *eq = strchr(entry, '=');
    *klen = eq ? (size_t)(eq - entry) : strlen(entry);
    *value = eq ? eq + 1 : "";
    return *klen > 0;
}

/* The Env list as an object in the image's order, as the original's dict:
 * a name given twice keeps its first place and takes its last value.
 * Returns a new object, or NULL on no memory. */
static json_t *env_object(json_t *env)
{
    json_t *obj = json_object();
    size_t i;
    json_t *x;
    json_array_foreach(env, i, x) {
        const char *e = json_string_value(x), *value;
        size_t klen;
        if (!obj || !e || !env_split(e, &klen, &value))
            continue;
        char *k = strndup(e, klen);
        if (!k || json_object_set_new(obj, k, json_string(value)) != 0) {
            free(k);
            json_decref(obj);
            return NULL;
        }
        free(k);
    }
    return obj;
}

/* Writes /.startup.toml (HUB-API.md §13.4) into b; env is the object of
 * env_object. */
static void startup_toml(sbuf *b, const oci_cmd *cmd, json_t *env, const char *dir)
{
    sb_add(b, "[startup]\n\n[startup.entry]\nname = \"core.system\"\n\n"
              "[startup.entry.args]\nname = ");
    toml_string(b, cmd->name);
    sb_add(b, "\n");
    if (cmd->args) {
        sb_add(b, "args = [");
        size_t i;
        json_t *a;
        json_array_foreach(cmd->args, i, a) {
            if (i)
                sb_add(b, ", ");
            toml_string(b, json_string_value(a));
        }
        sb_add(b, "]\n");
    } else {
        sb_add(b, "#args = null  # To use: uncomment and replace null with value\n");
    }
    sb_add(b, "dir = ");
    toml_string(b, dir);
    sb_add(b, "\n\n[startup.entry.args.env]\n");
    const char *k;
    json_t *v;
    json_object_foreach(env, k, v) {
        toml_key(b, k, strlen(k));
        sb_add(b, " = ");
        toml_string(b, json_string_value(v));
        sb_add(b, "\n");
    }
}

/* Reader over a memory buffer, for /.startup.toml. */
typedef struct mem_reader {
    const char *p;
    size_t left;
} mem_reader;

static long mem_read(void *ctx, void *buf, size_t len)
{
    mem_reader *m = ctx;
    size_t n = len < m->left ? len : m->left;
    memcpy(buf, m->p, n);
    m->p += n;
    m->left -= n;
    return (long)n;
}

/* Sets metadata `name` to the compact JSON of v (stolen). */
static int meta_json(flist_writer *w, const char *name, json_t *v, hub_err *err)
{
    char *text = v ? json_dumps(v, JSON_PRESERVE_ORDER) : NULL;
    json_decref(v);
    if (!text)
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    int rc = flist_writer_meta(w, name, text, err);
    free(text);
    return rc;
}

/* The typed metadata rows (FLIST-FORMAT.md §7). */
static int config_meta(flist_writer *w, json_t *cfg, const oci_cmd *cmd, json_t *env,
                       const char *dir, hub_err *err)
{
    json_t *ep = json_array();
    if (ep)
        json_array_append_new(ep, json_string(cmd->name));
    for (size_t i = 0; ep && cmd->args && i < json_array_size(cmd->args); i++)
        json_array_append(ep, json_array_get(cmd->args, i));
    if (meta_json(w, "entrypoint", ep, err) != 0)
        return -1;

    json_t *envmeta = json_incref(env);
    if (meta_json(w, "environ", envmeta, err) != 0)
        return -1;

    json_t *ports = json_object_get(cfg, "ExposedPorts");
    if (json_is_object(ports) && json_object_size(ports) > 0) {
        json_t *port = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(ports, k, v) {
            /* "80/tcp" -> "tcp/80": 80 (zflist's form, out = in) */
            char *end;
            long num = strtol(k, &end, 10);
            if (!port || end == k || num <= 0 || num > 65535)
                continue;
            const char *proto = *end == '/' ? end + 1 : "tcp";
            char key[64];
            snprintf(key, sizeof key, "%s/%ld", *proto ? proto : "tcp", num);
            json_object_set_new(port, key, json_integer(num));
        }
        if (meta_json(w, "port", port, err) != 0)
            return -1;
    }
    json_t *vols = json_object_get(cfg, "Volumes");
    if (json_is_object(vols) && json_object_size(vols) > 0) {
        json_t *volume = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(vols, k, v)
            if (volume)
                json_object_set_new(volume, k, json_object());
        if (meta_json(w, "volume", volume, err) != 0)
            return -1;
    }
    if (strcmp(dir, "/") != 0 && flist_writer_meta(w, "workdir", dir, err) != 0)
        return -1;
    const char *user = json_string_value(json_object_get(cfg, "User"));
    if (user && *user && flist_writer_meta(w, "user", user, err) != 0)
        return -1;
    return 0;
}

int oci_apply_config(flist_writer *w, json_t *config, hub_err *err)
{
    hub_err local;
    if (!err)
        err = &local;
    if (!w || !json_is_object(config))
        return hub_err_setc(err, HUB_E_INVALID, "image config: not a JSON object");
    json_t *cfg = json_object_get(config, "config");
    if (!cfg)
        cfg = json_object_get(config, "Config");
    if (!cfg && !json_object_get(config, "rootfs"))
        cfg = config;   /* the Config object itself */
    if (!json_is_object(cfg))
        cfg = NULL;     /* an image without a config: /bin/sh, no env */
    json_t *empty = json_object();
    if (!empty)
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    if (!cfg)
        cfg = empty;

    json_t *env = json_object_get(cfg, "Env");
    if (env && !json_is_null(env) && !is_string_array(env)) {
        json_decref(empty);
        return hub_err_setc(err, HUB_E_INVALID, "image config: Env is not a list of strings");
    }
    json_t *noenv = json_array();
    json_t *envobj = env_object(is_string_array(env) ? env : noenv);
    const char *dir = json_string_value(json_object_get(cfg, "WorkingDir"));
    if (!dir || !*dir)
        dir = "/";

    oci_cmd cmd = { 0 };
    sbuf toml = { 0 };
    int rc = envobj ? config_cmd(cfg, &cmd, err) : hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    if (rc == 0) {
        startup_toml(&toml, &cmd, envobj, dir);
        if (toml.oom || !toml.s)
            rc = hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    }
    if (rc == 0)
        rc = config_meta(w, cfg, &cmd, envobj, dir, err);
    if (rc == 0) {
        mem_reader m = { toml.s, toml.len };
        uint32_t now = (uint32_t)time(NULL);
        flist_src_entry e = {
            .path = OCI_STARTUP_PATH,
            .type = FLIST_FILE,
            .mode = OCI_STARTUP_MODE,
            .uid = 0, .gid = 0, .uname = "root", .gname = "root",
            .mtime = now, .ctime = now,
            .size = toml.len,
            .read = mem_read,
            .read_ctx = &m,
        };
        rc = flist_writer_add(w, &e, err);
    }
    json_decref(cmd.args);
    json_decref(noenv);
    json_decref(envobj);
    json_decref(empty);
    free(toml.s);
    return rc;
}
