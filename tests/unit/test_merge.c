/* test_merge.c - flist_merge on the reference flists of tests/data.
 *
 *  - a.flist + b.flist reads back like zflist's merged.flist (find order,
 *    sizes, stat incl. chunks, ACIs and times, ls), except that the
 *    second "/conflict" (b's directory) and its child are absent: a's file
 *    wins (Q10 fixed, no name twice in a directory);
 *  - metadata is the union, the first input winning per name;
 *  - the order of the inputs decides (b first, three inputs);
 *  - a single input copies it; no input, a missing output directory fail.
 */
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flist.h"
#include "flist_json.h"
#include "t.h"
#include "t_flist.h"

/* Merges the named inputs into tmp/<out>; returns the opened result. */
static flist *merge_names(const char *const *names, size_t n, const char *out,
                          flist_stats *st)
{
    flist *in[8] = { 0 };
    hub_err err = { 0 };
    int ok = 1;
    for (size_t i = 0; i < n; i++)
        ok &= (in[i] = t_open_data(names[i])) != NULL;
    int rc = ok ? flist_merge(t_tmp_path(out), in, n, st, &err) : -1;
    if (rc)
        fprintf(stderr, "merge: %s\n", err.msg);
    for (size_t i = 0; i < n; i++)
        flist_close(in[i]);
    flist *f = NULL;
    if (rc == 0 && flist_open(t_tmp_path(out), &f, &err) != 0)
        fprintf(stderr, "open merged: %s\n", err.msg);
    return f;
}

/* The paths of a find response, joined with ' '. */
static char *find_paths(flist *f)
{
    hub_err err;
    json_t *find = flist_json_find(f, "/", 0, NULL, &err);
    size_t cap = 4096, len = 0;
    char *s = calloc(1, cap);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(find, "content"), i, v) {
        const char *p = json_string_value(json_object_get(v, "path"));
        len += (size_t)snprintf(s + len, cap - len, "%s%s", len ? " " : "", p);
    }
    json_decref(find);
    return s;
}

static void test_a_b(void)
{
    static const char *names[] = { "a.flist", "b.flist" };
    flist_stats st;
    flist *f = merge_names(names, 2, "ab.flist", &st);
    T_REQUIRE(f != NULL);
    hub_err err;

    /* find = merged.find.json without b's /conflict directory */
    json_t *lines = t_load_responses("merged.find.json");
    json_t *want = json_deep_copy(json_array_get(lines, 0));
    json_decref(lines);
    json_t *content = json_object_get(want, "content");
    T_REQUIRE(json_array_size(content) == 12);
    T_STREQ(json_string_value(json_object_get(json_array_get(content, 9), "path")),
            "/conflict");
    T_STREQ(json_string_value(json_object_get(json_array_get(content, 10), "path")),
            "/conflict/inner.txt");
    json_array_remove(content, 10);
    json_array_remove(content, 9);
    json_object_set_new(want, "regular", json_integer(7));
    json_object_set_new(want, "directory", json_integer(2));
    json_object_set_new(want, "fullsize", json_integer(116 - 23));
    json_t *got = flist_json_find(f, "/", 0, NULL, &err);
    T_JSON_EQ(got, want);
    json_decref(got);
    T_CHECK(st.regular == 7 && st.directory == 2 && st.symlink == 1 && st.special == 0);
    T_CHECK(st.fullsize == 93 && st.chunks_uploaded == 0 && st.bytes_uploaded == 0);

    /* stat of every path = zflist's (first line for that path) */
    json_t *stats = t_load_responses("merged.stat.jsonl");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(want, "content"), i, v) {
        const char *p = json_string_value(json_object_get(v, "path"));
        json_t *exp = NULL;
        size_t j;
        json_t *s;
        json_array_foreach(stats, j, s) {
            if (strcmp(json_string_value(json_object_get(s, "file")), p) == 0) {
                exp = s;
                break;
            }
        }
        T_REQUIRE(exp != NULL);
        got = flist_json_stat(f, p, NULL, &err);
        T_JSON_EQ(got, exp);
        json_decref(got);
    }
    json_decref(stats);
    json_decref(want);

    /* ls /, /shared, /b-only = zflist's; "/" without the second conflict */
    json_t *ls = t_load_responses("merged.ls.jsonl");
    T_REQUIRE(json_array_size(ls) == 4);
    json_t *root = json_deep_copy(json_array_get(ls, 0));
    int removed = 0;
    for (size_t k = json_array_size(root); k-- > 0;) {
        json_t *e = json_array_get(root, k);
        if (!removed && strcmp(json_string_value(json_object_get(e, "name")), "conflict") == 0 &&
            strcmp(json_string_value(json_object_get(e, "type")), "directory") == 0) {
            json_array_remove(root, k);
            removed = 1;
        }
    }
    T_CHECK(removed);
    got = flist_json_ls(f, "/", NULL, &err);
    T_JSON_EQ(got, root);
    json_decref(got);
    json_decref(root);
    got = flist_json_ls(f, "/shared", NULL, &err);
    T_JSON_EQ(got, json_array_get(ls, 1));
    json_decref(got);
    got = flist_json_ls(f, "/b-only", NULL, &err);
    T_JSON_EQ(got, json_array_get(ls, 3));
    json_decref(got);
    json_decref(ls);

    /* metadata: a's backend (a and b have the same one) and nothing else */
    char **mn = NULL;
    size_t n = 0;
    T_CHECK(flist_meta_names(f, &mn, &n, &err) == 0);
    T_CHECK(n == 1 && strcmp(mn[0], "backend") == 0);
    flist_strv_free(mn, n);
    flist_close(f);
}

/* For each name the first input that has it wins. */
static void test_metadata_union(void)
{
    flist *a = t_open_data("a.flist"), *b = t_open_data("b.flist");
    T_REQUIRE(a && b);
    hub_err err = { 0 };
    T_CHECK(flist_meta_set(a, "backend", "{\"host\": \"from-a\", \"port\": 1}", &err) == 0);
    T_CHECK(flist_meta_set(a, "x", "from a", &err) == 0);
    T_CHECK(flist_meta_set(b, "x", "from b", &err) == 0);
    T_CHECK(flist_meta_set(b, "y", "only in b", &err) == 0);
    flist *in[2] = { a, b };
    T_REQUIRE(flist_merge(t_tmp_path("meta.flist"), in, 2, NULL, &err) == 0);
    flist_close(a);
    flist_close(b);

    flist *f = NULL;
    T_REQUIRE(flist_open(t_tmp_path("meta.flist"), &f, &err) == 0);
    T_META_EQ(f, "backend", "{\"host\": \"from-a\", \"port\": 1}");
    T_META_EQ(f, "x", "from a");
    T_META_EQ(f, "y", "only in b");
    char **mn = NULL;
    size_t n = 0;
    T_CHECK(flist_meta_names(f, &mn, &n, &err) == 0);
    T_CHECK(n == 3);
    flist_strv_free(mn, n);
    flist_close(f);
}

/* b first: b's files and its /conflict directory win, a's file is skipped. */
static void test_order(void)
{
    static const char *ba[] = { "b.flist", "a.flist" };
    flist *f = merge_names(ba, 2, "ba.flist", NULL);
    T_REQUIRE(f != NULL);
    char *paths = find_paths(f);
    T_STREQ(paths, "/b-only /b-only/x.txt /conflict /conflict/inner.txt /shared "
                   "/shared/both.txt /shared/only-b.txt /shared/only-a.txt /b-link "
                   "/common.txt /a-only.txt");
    free(paths);
    hub_err err;
    /* /common.txt and /shared/both.txt are b's (stat = b's stat) */
    flist *b = t_open_data("b.flist");
    T_REQUIRE(b != NULL);
    static const char *from_b[] = { "/common.txt", "/shared/both.txt", "/conflict",
                                    "/conflict/inner.txt", "/b-link" };
    for (size_t i = 0; i < 5; i++) {
        json_t *got = flist_json_stat(f, from_b[i], NULL, &err);
        json_t *exp = flist_json_stat(b, from_b[i], NULL, &err);
        T_JSON_EQ(got, exp);
        json_decref(got);
        json_decref(exp);
    }
    flist_close(b);
    flist_close(f);

    /* three inputs: a, b, sample - the sample adds its tree; sample's
     * entries of a name already taken are skipped */
    static const char *abs_[] = { "a.flist", "b.flist", "sample.flist" };
    flist_stats st;
    f = merge_names(abs_, 3, "abs.flist", &st);
    T_REQUIRE(f != NULL);
    /* a+b: 7 regular, 2 dirs, 1 link; sample: 17 regular, 4 dirs, 4 links,
     * 1 special, no clash */
    T_CHECK(st.regular == 24 && st.directory == 6 && st.symlink == 5 && st.special == 1);
    T_CHECK(st.fullsize == 93 + 5247310);
    json_t *readme = NULL;
    char *v = NULL;
    T_CHECK(flist_meta_get(f, "readme", &v, &err) == 0);   /* from sample */
    readme = v ? json_loads(v, 0, NULL) : NULL;
    T_CHECK(readme && json_is_string(json_object_get(readme, "readme")));
    json_decref(readme);
    free(v);
    flist_close(f);

    /* sample first, then a, b: same counts, another order */
    static const char *sab[] = { "sample.flist", "a.flist", "b.flist" };
    f = merge_names(sab, 3, "sab.flist", &st);
    T_REQUIRE(f != NULL);
    T_CHECK(st.regular == 24 && st.directory == 6);
    paths = find_paths(f);
    T_CHECK(strncmp(paths, "/a /a/b /a/b/c ", 15) == 0);
    T_CHECK(strstr(paths, "/with space.txt /shared /shared/both.txt") != NULL);
    free(paths);
    flist_close(f);
}

/* One input: a copy with the same find/stat output. */
static void test_single_and_errors(void)
{
    static const char *s[] = { "sample.flist" };
    flist *f = merge_names(s, 1, "one.flist", NULL);
    T_REQUIRE(f != NULL);
    flist *orig = t_open_data("sample.flist");
    T_REQUIRE(orig != NULL);
    hub_err err = { 0 };
    json_t *got = flist_json_find(f, "/", 0, NULL, &err);
    json_t *exp = flist_json_find(orig, "/", 0, NULL, &err);
    T_JSON_EQ(got, exp);
    json_decref(got);
    json_decref(exp);
    got = flist_json_stat(f, "/a/fifo", NULL, &err);
    exp = flist_json_stat(orig, "/a/fifo", NULL, &err);
    T_JSON_EQ(got, exp);
    json_decref(got);
    json_decref(exp);
    got = flist_json_stat(f, "/rand3m", NULL, &err);
    exp = flist_json_stat(orig, "/rand3m", NULL, &err);
    T_JSON_EQ(got, exp);
    json_decref(got);
    json_decref(exp);

    /* no input */
    T_CHECK(flist_merge(t_tmp_path("none.flist"), NULL, 0, NULL, &err) == -1);
    T_STREQ(err.msg, "merge: no input flist");
    /* an output directory that does not exist: error, nothing written */
    flist *in[1] = { orig };
    T_CHECK(flist_merge(t_tmp_path("missing-dir/x.flist"), in, 1, NULL, &err) == -1);
    T_CHECK(err.msg[0] != '\0');
    T_CHECK(access(t_tmp_path("missing-dir"), F_OK) != 0);
    flist_close(orig);
    flist_close(f);
}

static void test_setup(void)
{
    if (t_tmp_setup("test_merge") != 0)
        exit(1);   /* every later case writes below the directory */
}

static void test_cleanup(void)
{
    T_CHECK(t_tmp_cleanup() == 0);
}

T_MAIN(T_CASE(test_setup), T_CASE(test_a_b), T_CASE(test_metadata_union), T_CASE(test_order),
       T_CASE(test_single_and_errors), T_CASE(test_cleanup))
