/* web_search.c - the search index behind GET /api/search (web.h): every
 * flist of every repository as one lower-case "repo/name" key, kept in
 * memory and scanned with a substring match, so that a search over 100,000
 * flists costs a few milliseconds and ships only its first results to the
 * browser (the original sent the whole /api/fileslist to every visitor).
 *
 * Freshness: the index is rebuilt when this instance changed something
 * (api generation) or when the repositories' directory times changed; the
 * times are checked at most every WEB_SEARCH_RECHECK_MS.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "web.h"

typedef struct item {
    char *key;             /* lower-case "repo/name" */
    char *repo;
    char *name;
    repo_entry_type type;
    uint64_t size;
    int64_t updated;
} item;

struct web_search {
    pthread_mutex_t lock;
    repo_store *store;
    item *items;
    size_t n;
    int built;
    long generation;       /* api generation the index was built at */
    uint64_t signature;    /* of the repositories' names and times */
    int64_t checked_ms;    /* last signature check */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

web_search *web_search_new(repo_store *store)
{
    web_search *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->lock, NULL);
    s->store = store;
    return s;
}

static void items_free(item *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].key);
        free(v[i].repo);
        free(v[i].name);
    }
    free(v);
}

void web_search_free(web_search *s)
{
    if (!s)
        return;
    items_free(s->items, s->n);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* FNV-1a over the repositories' names and directory times (to the
 * nanosecond: two changes within one second must both be seen). */
static uint64_t signature_of(const repo_store *store, const repo_info *v, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        memset(&st, 0, sizeof st);
        repo_exists(store, v[i].name, &st);
        for (const char *p = v[i].name; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        h = (h ^ (uint64_t)st.st_mtim.tv_sec) * 1099511628211ull;
        h = (h ^ (uint64_t)st.st_mtim.tv_nsec) * 1099511628211ull;
        h = (h ^ (uint64_t)st.st_ino) * 1099511628211ull;
    }
    return h;
}

static char *lower_key(const char *repo, const char *name)
{
    size_t a = strlen(repo), b = strlen(name);
    char *k = malloc(a + b + 2);
    if (!k)
        return NULL;
    for (size_t i = 0; i < a; i++)
        k[i] = (char)tolower((unsigned char)repo[i]);
    k[a] = '/';
    for (size_t i = 0; i < b; i++)
        k[a + 1 + i] = (char)tolower((unsigned char)name[i]);
    k[a + b + 1] = '\0';
    return k;
}

/* Rebuilds the index from the repositories v (lock held). */
static int rebuild(web_search *s, const repo_info *v, size_t nrepos, hub_err *err)
{
    item *items = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < nrepos; i++) {
        repo_entry *e = NULL;
        size_t ne = 0;
        hub_err lerr = {0};
        if (repo_list(s->store, v[i].name, &e, &ne, &lerr) < 0)
            continue; /* vanished meanwhile */
        for (size_t k = 0; k < ne; k++) {
            if (e[k].type == REPO_ENTRY_TAG)
                continue;
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 1024;
                item *ni = realloc(items, nc * sizeof *ni);
                if (!ni)
                    goto oom;
                items = ni;
                cap = nc;
            }
            item *it = &items[n];
            it->key = lower_key(v[i].name, e[k].name);
            it->repo = strdup(v[i].name);
            it->name = strdup(e[k].name);
            it->type = e[k].type;
            it->size = e[k].size;
            it->updated = e[k].updated;
            n++;
            if (!it->key || !it->repo || !it->name) {
                repo_entries_free(e, ne);
                goto oom;
            }
        }
        repo_entries_free(e, ne);
    }
    items_free(s->items, s->n);
    s->items = items;
    s->n = n;
    s->built = 1;
    return 0;
oom:
    items_free(items, n);
    return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
}

/* Makes the index current (lock held). */
static int refresh(web_search *s, long generation, hub_err *err)
{
    int64_t t = now_ms();
    if (s->built && s->generation == generation && t - s->checked_ms < WEB_SEARCH_RECHECK_MS)
        return 0;
    repo_info *v = NULL;
    size_t n = 0;
    if (repo_list_repositories(s->store, &v, &n, err) < 0)
        return -1;
    uint64_t sig = signature_of(s->store, v, n);
    int rc = 0;
    if (!s->built || s->generation != generation || sig != s->signature) {
        rc = rebuild(s, v, n, err);
        if (rc == 0) {
            s->generation = generation;
            s->signature = sig;
        }
    }
    s->checked_ms = t;
    repo_infos_free(v, n);
    return rc;
}

json_t *web_search_query(web_search *s, const char *q, size_t limit, long generation, hub_err *err)
{
    char needle[256];
    size_t ql = strlen(q);
    if (ql >= sizeof needle) {
        hub_err_setc(err, HUB_E_INVALID, "query too long (at most %zu bytes)", sizeof needle - 1);
        return NULL;
    }
    for (size_t i = 0; i <= ql; i++)
        needle[i] = (char)tolower((unsigned char)q[i]);
    if (limit == 0 || limit > WEB_SEARCH_LIMIT_MAX)
        limit = WEB_SEARCH_LIMIT_MAX;
    pthread_mutex_lock(&s->lock);
    if (refresh(s, generation, err) < 0) {
        pthread_mutex_unlock(&s->lock);
        return NULL;
    }
    json_t *results = json_array();
    size_t total = 0;
    if (ql >= WEB_SEARCH_MIN_QUERY) {
        for (size_t i = 0; i < s->n; i++) {
            if (!strstr(s->items[i].key, needle))
                continue;
            if (total++ < limit)
                json_array_append_new(results,
                    json_pack("{s:s, s:s, s:s, s:I, s:I}", "repository", s->items[i].repo,
                              "name", s->items[i].name, "type", repo_entry_type_name(s->items[i].type),
                              "size", (json_int_t)s->items[i].size,
                              "updated", (json_int_t)s->items[i].updated));
        }
    }
    size_t indexed = s->n;
    pthread_mutex_unlock(&s->lock);
    return json_pack("{s:s, s:I, s:I, s:o}", "query", q, "total", (json_int_t)total, "indexed",
                     (json_int_t)indexed, "results", results);
}

long web_search_count(web_search *s, long generation, hub_err *err)
{
    pthread_mutex_lock(&s->lock);
    long n = refresh(s, generation, err) < 0 ? -1 : (long)s->n;
    pthread_mutex_unlock(&s->lock);
    return n;
}
