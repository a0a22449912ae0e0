/* test_api_web.c - the web application's pieces reached directly
 * (api/web_tmpl.c, api/web_search.c): escaping in text and attributes,
 * the template constructs ({{key}} always escaped, {{>body}}, unknown keys,
 * stray braces), a web root missing a page, and the search index (case,
 * limit, total, a repository changing, appearing and going). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "t.h"
#include "web.h"

static const char *const PAGES[] = {
    "home", "repo", "tag", "search", "preview", "upload", "upload-flist", "merge",
    "docker", "token", "login-method", "readonly", "notfound", "done",
};

/* For helpers that return a value: a broken fixture stops the test. */
#define NEED(cond) do { if (!(cond)) { fprintf(stderr, "%s:%d: fixture: %s\n", __FILE__, __LINE__, #cond); \
    abort(); } } while (0)

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    T_REQUIRE(f);
    fputs(text, f);
    fclose(f);
}

/* A web root in a temporary directory: layout + every page. */
static char *make_root(void)
{
    char *dir = strdup("/tmp/hub-web-XXXXXX");
    NEED(dir && mkdtemp(dir));
    char p[512];
    snprintf(p, sizeof p, "%s/pages", dir);
    NEED(mkdir(p, 0755) == 0);
    snprintf(p, sizeof p, "%s/layout.html", dir);
    write_file(p, "<title>{{title}}</title><a href=\"{{url}}\">x</a>{{>body}}{{nokey}}|{{ {x} }}|{{");
    for (size_t i = 0; i < sizeof PAGES / sizeof PAGES[0]; i++) {
        snprintf(p, sizeof p, "%s/pages/%s.html", dir, PAGES[i]);
        write_file(p, strcmp(PAGES[i], "home") == 0 ? "<main>{{name}}{{>body}}</main>" : "<p>{{name}}</p>");
    }
    return dir;
}

static void rm_rf(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    T_CHECK(system(cmd) == 0);
}

static void test_escape(void)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    T_CHECK(web_escape_append(&buf, &len, &cap, "<a href=\"x\" onclick='y'>&\x01\x7f\tz\n") == 0);
    T_STREQ(buf, "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&#xfffd;&#xfffd;\tz\n");
    T_CHECK(len == strlen(buf));
    free(buf);
}

static void test_render(void)
{
    char *dir = make_root();
    hub_err err = {0};
    web_ctx *w = web_open(dir, NULL, &err);
    T_REQUIRE(w);
    web_var v[] = {{"title", "<script>alert(1)</script>"}, {"url", "\" onmouseover=\"x"},
                   {"name", "{{title}}"}};
    size_t len = 0;
    char *out = web_render(w, "home", v, 3, &len);
    T_REQUIRE(out);
    /* values escaped in text and attributes; a value is never read as a
     * template; {{>body}} only in the layout; unknown keys empty; stray
     * braces kept as text */
    T_STREQ(out, "<title>&lt;script&gt;alert(1)&lt;/script&gt;</title>"
                 "<a href=\"&quot; onmouseover=&quot;x\">x</a><main>{{title}}</main>||{{");
    T_CHECK(len == strlen(out));
    free(out);
    T_CHECK(web_render(w, "nosuchpage", v, 3, &len) == NULL);
    web_free(w);
    /* a root without one of its pages refuses to open, naming the file */
    char p[512];
    snprintf(p, sizeof p, "%s/pages/merge.html", dir);
    T_REQUIRE(unlink(p) == 0);
    T_CHECK(web_open(dir, NULL, &err) == NULL);
    T_CHECK(strstr(err.msg, "pages/merge.html") != NULL);
    rm_rf(dir);
    free(dir);
}

static void touch(const char *dir, const char *repo, const char *name, size_t size)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, repo);
    mkdir(p, 0755);
    if (!name)
        return;
    snprintf(p, sizeof p, "%s/%s/%s", dir, repo, name);
    FILE *f = fopen(p, "w");
    T_REQUIRE(f);
    for (size_t i = 0; i < size; i++)
        fputc('x', f);
    fclose(f);
}

static json_t *query(web_search *s, const char *q, size_t limit, long gen)
{
    hub_err err = {0};
    json_t *v = web_search_query(s, q, limit, gen, &err);
    NEED(v);
    return v;
}

static void test_search(void)
{
    char dir[] = "/tmp/hub-search-XXXXXX";
    T_REQUIRE(mkdtemp(dir));
    touch(dir, "alice", "Ubuntu-22.04.flist", 3);
    touch(dir, "alice", "tools.flist", 1);
    touch(dir, "bob", "ubuntu-24.04.flist", 2);
    touch(dir, "empty", NULL, 0);
    hub_err err = {0};
    repo_store *st = repo_store_open(dir, &err);
    T_REQUIRE(st);
    web_search *s = web_search_new(st);
    T_REQUIRE(s);
    json_t *v = query(s, "UBUNTU", 10, 1);
    T_CHECK(json_integer_value(json_object_get(v, "total")) == 2);
    T_CHECK(json_integer_value(json_object_get(v, "indexed")) == 3);
    json_t *r0 = json_array_get(json_object_get(v, "results"), 0);
    T_STREQ(json_string_value(json_object_get(r0, "repository")), "alice");
    T_STREQ(json_string_value(json_object_get(r0, "name")), "Ubuntu-22.04.flist");
    T_CHECK(json_integer_value(json_object_get(r0, "size")) == 3);
    json_decref(v);
    /* the repository part matches too; limit bounds results, not total */
    v = query(s, "alice/", 1, 1);
    T_CHECK(json_integer_value(json_object_get(v, "total")) == 2);
    T_CHECK(json_array_size(json_object_get(v, "results")) == 1);
    json_decref(v);
    v = query(s, "", 10, 1);
    T_CHECK(json_integer_value(json_object_get(v, "total")) == 0);
    json_decref(v);
    /* a change seen at the next generation: a new flist, a new repository,
     * a repository gone */
    touch(dir, "bob", "ubuntu-25.04.flist", 1);
    touch(dir, "carol", "ubuntu-x.flist", 1);
    char p[512];
    snprintf(p, sizeof p, "%s/alice/Ubuntu-22.04.flist", dir);
    T_REQUIRE(unlink(p) == 0);
    v = query(s, "ubuntu", 10, 2);
    T_CHECK(json_integer_value(json_object_get(v, "total")) == 3);
    T_CHECK(json_integer_value(json_object_get(v, "indexed")) == 4);
    json_decref(v);
    char long_q[300];
    memset(long_q, 'a', sizeof long_q - 1);
    long_q[sizeof long_q - 1] = '\0';
    T_CHECK(web_search_query(s, long_q, 10, 2, &err) == NULL);
    T_CHECK(err.code == HUB_E_INVALID);
    web_search_free(s);
    repo_store_close(st);
    rm_rf(dir);
}

int main(void)
{
    static const t_case cases[] = {T_CASE(test_escape), T_CASE(test_render), T_CASE(test_search)};
    return t_run(cases, sizeof cases / sizeof cases[0]);
}
