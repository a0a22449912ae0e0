/* h_public.c - the public read API (HUB-API.md §5): repository listings,
 * tag listings, inspection (/light, contents, taglink, metadata), answered
 * from the repository directory and the flists themselves with the engine,
 * cached by file identity. Also the shared inspection helpers of inspect.h.
 */
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cache.h"
#include "flist.h"
#include "flist_json.h"
#include "flist_replies.h"
#include "errors.h"
#include "handlers.h"
#include "inspect.h"
#include "log.h"
#include "reply_store.h"
#include "singleflight.h"

/* ------------------------------------------------------------------ */
/* cache helpers                                                       */
/* ------------------------------------------------------------------ */

/* What a cached reply costs beyond its body (the response object and its
 * headers); a hit's body size is the item's size less this. */
#define REPLY_ITEM_OVERHEAD 512

static void destroy_response(void *p)
{
    MHD_destroy_response(p);
}

int inspect_cached_reply(api_req *r, const char *key, const struct stat *st, int64_t max_age_ms,
                         enum MHD_Result *ret)
{
    cache_ident id;
    cache_ident_from_stat(&id, st);
    const cache_item *it = cache_get(r->srv->cache, key, &id, max_age_ms,
                                     atomic_load(&r->srv->generation));
    if (!it)
        return 0;
    api_set_reply_bytes(r, (long long)(it->size - REPLY_ITEM_OVERHEAD));
    *ret = api_respond_shared(r, 200, (struct MHD_Response *)it->data);
    cache_release(r->srv->cache, it);
    return 1;
}

enum MHD_Result inspect_store_reply(api_req *r, const char *key, const struct stat *st, int status,
                                    char *text, size_t len)
{
    struct MHD_Response *resp = api_shared_response("application/json", text, len);
    free(text);
    if (!resp)
        return api_page(r, 500);
    cache_ident id;
    cache_ident_from_stat(&id, st);
    const cache_item *it = cache_put(r->srv->cache, key, &id, atomic_load(&r->srv->generation), resp,
                                     len + REPLY_ITEM_OVERHEAD, destroy_response);
    if (!it)
        return api_page(r, 500);
    api_set_reply_bytes(r, (long long)len);
    enum MHD_Result ret = api_respond_shared(r, status, (struct MHD_Response *)it->data);
    cache_release(r->srv->cache, it);
    return ret;
}

enum MHD_Result inspect_name_error(api_req *r, int status, const char *msg)
{
    return api_error(r, status, msg);
}

/* A "<prefix>:<dev>:<ino>" key for file-identity caches. */
static void ident_key(char *out, size_t n, const char *prefix, const struct stat *st)
{
    snprintf(out, n, "%s:%llu:%llu", prefix, (unsigned long long)st->st_dev,
             (unsigned long long)st->st_ino);
}

static void free_str(void *p)
{
    free(p);
}

int inspect_md5(api_server *s, int fd, const struct stat *st, char out[33], hub_err *err)
{
    char key[96];
    cache_ident id;
    ident_key(key, sizeof key, "md5", st);
    cache_ident_from_stat(&id, st);
    const cache_item *it = cache_get(s->cache, key, &id, 0, 0);
    if (it) {
        memcpy(out, it->data, 33);
        cache_release(s->cache, it);
        return 0;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return hub_err_set(err, "md5: cannot initialise");
    }
    char buf[65536];
    off_t off = 0;
    for (;;) {
        ssize_t k = pread(fd, buf, sizeof buf, off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            EVP_MD_CTX_free(ctx);
            return hub_err_set(err, "md5: read: %s", strerror(errno));
        }
        if (k == 0)
            break;
        EVP_DigestUpdate(ctx, buf, (size_t)k);
        off += k;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    char *copy = strdup(out);
    if (copy) {
        it = cache_put(s->cache, key, &id, 0, copy, 33, free_str);
        cache_release(s->cache, it);
    }
    return 0;
}

/* Opens the flist behind an open descriptor with the engine. */
static int open_flist_fd(int fd, flist **f, hub_err *err)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    return flist_open(path, f, err);
}

/* ------------------------------------------------------------------ */
/* listings                                                            */
/* ------------------------------------------------------------------ */

static json_t *entry_json(const repo_entry *e, int in_tag)
{
    char size[64];
    if (e->type == REPO_ENTRY_TAG)
        snprintf(size, sizeof size, "0 KB");
    else
        repo_format_size(e->size, size, sizeof size);
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(e->name));
    json_object_set_new(o, "size", json_string(size));
    json_object_set_new(o, "updated", json_integer(e->updated));
    if (e->type == REPO_ENTRY_SYMLINK || e->type == REPO_ENTRY_TAGLINK || in_tag) {
        json_object_set_new(o, "linktime", json_integer(e->linktime));
        json_object_set_new(o, "type", json_string(repo_entry_type_name(e->type)));
        json_object_set_new(o, "target", json_string(e->target ? e->target : ""));
    } else {
        json_object_set_new(o, "type", json_string(repo_entry_type_name(e->type)));
    }
    return o;
}

static json_t *entries_json(const repo_entry *e, size_t n, int in_tag)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, entry_json(&e[i], in_tag));
    return a;
}

/* The listing of one repository as JSON, or NULL with err. */
static json_t *repo_listing(api_req *r, const char *repo, hub_err *err)
{
    repo_entry *e = NULL;
    size_t n = 0;
    if (repo_list(r->srv->store, repo, &e, &n, err) != 0)
        return NULL;
    json_t *a = entries_json(e, n, 0);
    repo_entries_free(e, n);
    return a;
}

enum MHD_Result h_repo_list(api_req *r)
{
    const char *repo = r->args[0];
    hub_err err;
    struct stat st;
    if (repo_name_check(repo, "repository", &err) < 0)
        return api_error(r, 400, err.msg);
    if (!repo_exists(r->srv->store, repo, &st))
        return api_page(r, 404);
    char key[300];
    snprintf(key, sizeof key, "L:%s", repo);
    enum MHD_Result ret;
    if (inspect_cached_reply(r, key, &st, r->srv->cfg.listing_cache_ms, &ret))
        return ret;
    json_t *a = repo_listing(r, repo, &err);
    if (!a)
        return err.code == HUB_E_NOT_FOUND ? api_page(r, 404) : api_fail(r, &err);
    size_t len;
    char *text = flist_reply_dump(a, &len);
    json_decref(a);
    if (!text)
        return api_page(r, 500);
    return inspect_store_reply(r, key, &st, 200, text, len);
}

enum MHD_Result h_tag_list(api_req *r)
{
    hub_err err;
    repo_entry *e = NULL;
    size_t n = 0;
    if (repo_list_tag(r->srv->store, r->args[0], r->args[1], &e, &n, &err) != 0)
        return err.code == HUB_E_NOT_FOUND ? api_page(r, 404) : api_fail(r, &err);
    json_t *a = entries_json(e, n, 1);
    repo_entries_free(e, n);
    return api_json(r, 200, a);
}

static int public_stat(api_req *r, struct stat *st)
{
    return fstat(repo_store_fd(r->srv->store), st);
}

/* Builds a listing document from the n repositories v (the caller frees
 * v). Returns a new JSON value (never NULL for these builders). */
typedef json_t *(*listing_build)(api_req *r, const repo_info *v, size_t n);

/* The shared shape of the store-wide listings: cached for at most
 * listing-cache-ms under `key` (keyed by the public directory's identity),
 * otherwise built by `build` from the repositories and stored. */
static enum MHD_Result public_listing(api_req *r, const char *key, listing_build build)
{
    struct stat st;
    enum MHD_Result ret;
    if (public_stat(r, &st) == 0 && inspect_cached_reply(r, key, &st, r->srv->cfg.listing_cache_ms, &ret))
        return ret;
    hub_err err;
    repo_info *v = NULL;
    size_t n = 0;
    if (repo_list_repositories(r->srv->store, &v, &n, &err) != 0)
        return api_fail(r, &err);
    json_t *doc = build(r, v, n);
    repo_infos_free(v, n);
    size_t len;
    char *text = flist_reply_dump(doc, &len);
    json_decref(doc);
    if (!text)
        return api_page(r, 500);
    return inspect_store_reply(r, key, &st, 200, text, len);
}

/* [{name, official, updated}] of every repository. */
static json_t *build_repositories(api_req *r, const repo_info *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(v[i].name));
        json_object_set_new(o, "official", json_boolean(auth_is_official(r->srv->auth, v[i].name)));
        json_object_set_new(o, "updated", json_integer(v[i].updated));
        json_array_append_new(a, o);
    }
    return a;
}

/* ["repo/name", ...] of every flist of every repository. */
static json_t *build_flist_all(api_req *r, const repo_info *v, size_t n)
{
    hub_err err;
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        char **names = NULL;
        size_t k = 0;
        if (repo_list_names(r->srv->store, v[i].name, &names, &k, &err))
            continue;
        for (size_t j = 0; j < k; j++) {
            char *s = NULL;
            if (asprintf(&s, "%s/%s", v[i].name, names[j]) >= 0) {
                json_array_append_new(a, json_string(s));
                free(s);
            }
        }
        repo_names_free(names, k);
    }
    return a;
}

/* {repo: [entries...]} of every repository. */
static json_t *build_fileslist(api_req *r, const repo_info *v, size_t n)
{
    hub_err err;
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++) {
        json_t *a = repo_listing(r, v[i].name, &err);
        json_object_set_new(o, v[i].name, a ? a : json_array());
    }
    return o;
}

enum MHD_Result h_repositories(api_req *r)
{
    return public_listing(r, "R", build_repositories);
}

enum MHD_Result h_flist_all(api_req *r)
{
    return public_listing(r, "A", build_flist_all);
}

enum MHD_Result h_fileslist(api_req *r)
{
    return public_listing(r, "FL", build_fileslist);
}

/* ------------------------------------------------------------------ */
/* inspection                                                          */
/* ------------------------------------------------------------------ */

/* N(name) plus the two 404 checks of §5.6. Returns 0 or replied (ret). */
static int lookup(api_req *r, const char *repo, const char *name, char *nn, repo_lookup *lk,
                  enum MHD_Result *ret)
{
    hub_err err;
    if (repo_name_check(repo, "repository", &err) < 0 || repo_flist_name(name, "name", nn, &err) < 0) {
        *ret = api_error(r, 400, err.msg);
        return 1;
    }
    if (repo_lookup_entry(r->srv->store, repo, NULL, nn, lk, &err) != 0) {
        *ret = api_fail(r, &err);
        return 1;
    }
    return 0;
}

enum MHD_Result inspect_light(api_req *r, const char *repo, const char *name)
{
    char nn[REPO_NAME_MAX + 1], md5[33];
    repo_lookup lk;
    enum MHD_Result ret;
    hub_err err;
    if (lookup(r, repo, name, nn, &lk, &ret))
        return ret;
    int have_md5 = 0;
    struct stat st;
    int fd = repo_open_target(r->srv->store, repo, NULL, nn, &st, &err);
    if (fd >= 0) {
        have_md5 = inspect_md5(r->srv, fd, &st, md5, &err) == 0;
        close(fd);
    }
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(nn));
    if (lk.is_link) {
        const struct stat *s = lk.has_target ? &lk.tst : &lk.lst;
        json_object_set_new(o, "size", json_integer((json_int_t)s->st_size));
        json_object_set_new(o, "updated", json_integer((json_int_t)s->st_mtime));
        json_object_set_new(o, "type", json_string("symlink"));
        json_object_set_new(o, "md5", have_md5 ? json_string(md5) : json_null());
        json_object_set_new(o, "linktime", json_integer((json_int_t)lk.lst.st_mtime));
        json_object_set_new(o, "target", json_string(lk.link_text));
    } else {
        json_object_set_new(o, "size", json_integer((json_int_t)lk.lst.st_size));
        json_object_set_new(o, "updated", json_integer((json_int_t)lk.lst.st_mtime));
        json_object_set_new(o, "type", json_string("regular"));
        json_object_set_new(o, "md5", have_md5 ? json_string(md5) : json_null());
    }
    return api_json(r, 200, o);
}

/* Computes a reply body from the open flist f (kind's renderer). Returns
 * malloc'ed text with *len and *shareable (0: the reply depends on this
 * replica's configuration, keep it out of the shared store), or NULL with
 * err. */
typedef char *(*derive_fn)(api_req *r, flist *f, size_t *len, int *shareable, hub_err *err);

/* Reads the body of a reply-store entry (fd, at offset, len bytes) into a
 * malloc'ed buffer; NULL when it cannot. Closes fd. */
static char *read_stored(int fd, off_t offset, size_t len)
{
    char *text = malloc(len ? len : 1);
    size_t got = 0;
    while (text && got < len) {
        ssize_t k = pread(fd, text + got, len - got, offset + (off_t)got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            free(text);
            text = NULL;
            break;
        }
        got += (size_t)k;
    }
    close(fd);
    return text;
}

/* Replies from this replica's memory cache or the shared reply store when
 * either has the reply of key (the flist's identity st). Returns 1 when it
 * replied (*ret set). */
static int cached_derived(api_req *r, const char *key, const char *kind, const struct stat *st,
                          enum MHD_Result *ret)
{
    if (inspect_cached_reply(r, key, st, 0, ret))
        return 1;
    reply_store *rs = r->srv->replies;
    off_t off;
    size_t len;
    int sfd = rs ? reply_store_get(rs, kind, st, &off, &len) : -1;
    char *text = sfd >= 0 ? read_stored(sfd, off, len) : NULL;
    if (!text)
        return 0;
    *ret = inspect_store_reply(r, key, st, 200, text, len);
    return 1;
}

/* Every route that answers with something computed from an flist's
 * contents: checks repo/name, opens the target, and answers from the
 * first place that has the reply for the file's identity: this replica's
 * memory cache, the shared reply store (reply_store.h), or the flist itself
 * (then the reply goes into both). */
static enum MHD_Result inspect_derived(api_req *r, const char *repo, const char *name,
                                       const char *kind, derive_fn derive)
{
    char nn[REPO_NAME_MAX + 1], key[96];
    repo_lookup lk;
    hub_err err = {0};
    enum MHD_Result ret;
    struct stat st;
    if (lookup(r, repo, name, nn, &lk, &ret))
        return ret;
    int fd = repo_open_target(r->srv->store, repo, NULL, nn, &st, &err);
    if (fd < 0)
        return api_error(r, 404, "source not found");
    ident_key(key, sizeof key, kind, &st);
    /* concurrent misses of one flist: one request loads it, the others
     * wait and then find its reply in the cache */
    int lead = 0;
    while (!lead) {
        if (cached_derived(r, key, kind, &st, &ret)) {
            close(fd);
            return ret;
        }
        lead = singleflight_begin(r->srv->inflight, key);
    }
    if (cached_derived(r, key, kind, &st, &ret)) {   /* ended just before we led */
        singleflight_end(r->srv->inflight, key);
        close(fd);
        return ret;
    }
    flist *f = NULL;
    int orc = open_flist_fd(fd, &f, &err);
    close(fd);
    char *text = NULL;
    size_t len = 0;
    int shareable = 1;
    if (orc == 0) {
        text = derive(r, f, &len, &shareable, &err);
        flist_close(f);
    }
    hub_err perr;
    reply_store *rs = r->srv->replies;
    if (text && rs && shareable && reply_store_put(rs, kind, &st, text, len, &perr) != 0)
        log_warn("%s", perr.msg);
    if (!text) {
        singleflight_end(r->srv->inflight, key);
        return err.code == HUB_E_NOMEM ? api_page(r, 500) : api_error(r, 500, err.msg);
    }
    ret = inspect_store_reply(r, key, &st, 200, text, len);
    singleflight_end(r->srv->inflight, key);
    return ret;
}

static char *derive_contents(api_req *r, flist *f, size_t *len, int *shareable, hub_err *err)
{
    return flist_reply_contents(f, len, err);
}

static char *derive_metadata(api_req *r, flist *f, size_t *len, int *shareable, hub_err *err)
{
    int forced = 0;
    char *text = flist_reply_metadata(f, &r->srv->cfg.backend_public, &forced, len, err);
    *shareable = !forced;
    return text;
}

enum MHD_Result inspect_contents(api_req *r, const char *repo, const char *name)
{
    return inspect_derived(r, repo, name, REPLY_KIND_CONTENTS, derive_contents);
}

enum MHD_Result h_inspect(api_req *r)
{
    if (strcmp(r->method, "INFO") == 0)
        return inspect_light(r, r->args[0], r->args[1]);
    return inspect_contents(r, r->args[0], r->args[1]);
}

enum MHD_Result h_light(api_req *r)
{
    return inspect_light(r, r->args[0], r->args[1]);
}

enum MHD_Result h_taglink(api_req *r)
{
    const char *repo = r->args[0];
    char nn[REPO_NAME_MAX + 1];
    hub_err err;
    if (repo_name_check(repo, "repository", &err) < 0 || repo_flist_name(r->args[1], "name", nn, &err) < 0)
        return api_error(r, 400, err.msg);
    if (!repo_exists(r->srv->store, repo, NULL))
        return api_error(r, 404, "user not found");
    nn[strlen(nn) - 6] = '\0'; /* R = P without .flist */
    repo_lookup lk;
    if (nn[0] == '\0' || repo_lookup_entry(r->srv->store, repo, NULL, nn, &lk, &err) != 0 || !lk.is_link)
        return api_error(r, 404, "source not found");
    char *clean = repo_clean_target(lk.link_text);
    if (!clean)
        return api_page(r, 500);
    json_t *o = json_pack("{s:s}", "target", clean);
    free(clean);
    return api_json(r, 200, o);
}

enum MHD_Result h_metadata(api_req *r)
{
    return inspect_derived(r, r->args[0], r->args[1], REPLY_KIND_METADATA, derive_metadata);
}
