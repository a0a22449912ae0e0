/* web_search.c - the search index behind GET /api/search (web.h): every
 * flist of every repository as one lower-case "repo/name" key, kept in
 * memory and scanned with a substring match, so that a search over 100,000
 * flists costs a few milliseconds and ships only its first results to the
 * browser (the original sent the whole /api/fileslist to every visitor).
 *
 * The index is kept per repository. A refresh lists the repositories and
 * re-reads only those whose directory changed (time to the nanosecond, inode)
 * since the last one; it runs when this instance changed something (api
 * generation) and otherwise at most every WEB_SEARCH_RECHECK_MS. The first
 * build starts in a thread when the api starts (web_search_warm).
 */
#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "web.h"

typedef struct item {
    char *key;             /* lower-case "repo/name" */
    char *name;
    repo_entry_type type;
    uint64_t size;
    int64_t updated;
} item;

typedef struct repo_idx {
    char *name;
    struct timespec mtime; /* of the directory when it was read */
    ino_t ino;
    item *items;
    size_t n;
} repo_idx;

struct web_search {
    pthread_mutex_t lock;
    repo_store *store;
    repo_idx *repos;       /* sorted by name (repo_list_repositories' order) */
    size_t nrepos;
    size_t nitems;
    int built;
    long generation;       /* api generation at the last refresh */
    int64_t checked_ms;    /* last refresh */
    pthread_t warm;
    int warming;           /* the warm-up thread was started */
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

static void repo_idx_clear(repo_idx *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->items[i].key);
        free(r->items[i].name);
    }
    free(r->items);
    free(r->name);
    memset(r, 0, sizeof *r);
}

void web_search_free(web_search *s)
{
    if (!s)
        return;
    if (s->warming)
        pthread_join(s->warm, NULL);
    for (size_t i = 0; i < s->nrepos; i++)
        repo_idx_clear(&s->repos[i]);
    free(s->repos);
    pthread_mutex_destroy(&s->lock);
    free(s);
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

/* Reads repository `name` (directory stat st) into out. Returns 0, or -1
 * (out of memory; a repository that vanished meanwhile is read as empty). */
static int read_repo(web_search *s, const char *name, const struct stat *st, repo_idx *out)
{
    memset(out, 0, sizeof *out);
    if (!(out->name = strdup(name)))
        return -1;
    out->mtime = st->st_mtim;
    out->ino = st->st_ino;
    repo_entry *e = NULL;
    size_t ne = 0;
    hub_err lerr = {0};
    if (repo_list(s->store, name, &e, &ne, &lerr) < 0)
        return 0;
    if (ne && !(out->items = calloc(ne, sizeof *out->items))) {
        repo_entries_free(e, ne);
        return -1;
    }
    for (size_t k = 0; k < ne; k++) {
        if (e[k].type == REPO_ENTRY_TAG)
            continue;
        item *it = &out->items[out->n++];
        it->key = lower_key(name, e[k].name);
        it->name = strdup(e[k].name);
        it->type = e[k].type;
        it->size = e[k].size;
        it->updated = e[k].updated;
        if (!it->key || !it->name) {
            repo_entries_free(e, ne);
            return -1;
        }
    }
    repo_entries_free(e, ne);
    return 0;
}

/* The index of repository name in the current index, or NULL. The slots
 * are in name order; a slot already moved over has name NULL and is never
 * asked for again (names are unique), so the search steps over it. */
static repo_idx *find_repo(web_search *s, const char *name)
{
    size_t lo = 0, hi = s->nrepos;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        size_t m = mid;
        while (m < hi && !s->repos[m].name)
            m++;
        if (m == hi) {
            hi = mid;
            continue;
        }
        int c = strcmp(s->repos[m].name, name);
        if (c == 0)
            return &s->repos[m];
        if (c < 0)
            lo = m + 1;
        else
            hi = mid;
        continue;
    }
    return NULL;
}

/* Makes the index current (lock held): unchanged repositories are moved
 * over, changed ones read again. */
static int refresh(web_search *s, long generation, hub_err *err)
{
    int64_t t = now_ms();
    if (s->built && s->generation == generation && t - s->checked_ms < WEB_SEARCH_RECHECK_MS)
        return 0;
    repo_info *v = NULL;
    size_t n = 0;
    if (repo_list_repositories(s->store, &v, &n, err) < 0)
        return -1;
    repo_idx *next = n ? calloc(n, sizeof *next) : NULL;
    if (n && !next) {
        repo_infos_free(v, n);
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    }
    size_t k = 0, items = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct stat st;
        if (!repo_exists(s->store, v[i].name, &st))
            continue;
        repo_idx *old = find_repo(s, v[i].name);
        if (old && old->ino == st.st_ino && old->mtime.tv_sec == st.st_mtim.tv_sec &&
            old->mtime.tv_nsec == st.st_mtim.tv_nsec) {
            next[k] = *old;             /* moved: the old slot is emptied */
            memset(old, 0, sizeof *old);
        } else if (read_repo(s, v[i].name, &st, &next[k]) < 0) {
            repo_idx_clear(&next[k]);
            rc = hub_err_setc(err, HUB_E_NOMEM, "out of memory");
            break;
        }
        items += next[k].n;
        k++;
    }
    repo_infos_free(v, n);
    if (rc < 0) {
        for (size_t i = 0; i < k; i++)
            repo_idx_clear(&next[i]);
        free(next);
        return rc;
    }
    /* what was not moved over is gone or was read again */
    for (size_t i = 0; i < s->nrepos; i++)
        if (s->repos[i].name)
            repo_idx_clear(&s->repos[i]);
    free(s->repos);
    s->repos = next;
    s->nrepos = k;
    s->nitems = items;
    s->built = 1;
    s->generation = generation;
    s->checked_ms = t;
    return 0;
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
        for (size_t r = 0; r < s->nrepos; r++) {
            const repo_idx *ri = &s->repos[r];
            for (size_t i = 0; i < ri->n; i++) {
                const item *it = &ri->items[i];
                if (!strstr(it->key, needle))
                    continue;
                if (total++ < limit) {
                    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I}", "repository", ri->name, "name",
                                          it->name, "type", repo_entry_type_name(it->type), "size",
                                          (json_int_t)it->size, "updated", (json_int_t)it->updated);
                    if (o)
                        json_array_append_new(results, o);
                    else
                        total--; /* a name that is not UTF-8 cannot be shown */
                }
            }
        }
    }
    size_t indexed = s->nitems;
    pthread_mutex_unlock(&s->lock);
    return json_pack("{s:s, s:I, s:I, s:o}", "query", q, "total", (json_int_t)total, "indexed",
                     (json_int_t)indexed, "results", results);
}

long web_search_count(web_search *s, long generation, hub_err *err)
{
    pthread_mutex_lock(&s->lock);
    long n = refresh(s, generation, err) < 0 ? -1 : (long)s->nitems;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static void *warm_main(void *arg)
{
    web_search *s = arg;
    hub_err err = {0};
    int64_t t0 = now_ms();
    long n = web_search_count(s, 0, &err);
    if (n < 0)
        log_warn("search index: %s", err.msg);
    else
        log_info("search index: %ld flists in %lld ms", n, (long long)(now_ms() - t0));
    return NULL;
}

int web_search_warm(web_search *s)
{
    if (s->warming)
        return 0;
    if (pthread_create(&s->warm, NULL, warm_main, s) != 0)
        return -1;
    s->warming = 1;
    return 0;
}
