/* test_repo.c - the name rule, N(), clean_symlink and size formatting of
 * repo.h, and the listing classification on a real directory. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repo.h"
#include "t.h"

static void test_name_rule(void)
{
    hub_err err;
    const char *good[] = {"alice.3bot", "official-apps", "a", "héllo-名前", "x.flist", "a b", "tag-1"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        T_CHECK(repo_name_check(good[i], "name", &err) == 0);
    char long255[256], long256[257];
    memset(long255, 'x', 255);
    long255[255] = '\0';
    memset(long256, 'x', 256);
    long256[256] = '\0';
    T_CHECK(repo_name_check(long255, "name", &err) == 0);
    T_CHECK(repo_name_check(long256, "name", &err) == -1);
    T_STREQ(err.msg, "invalid name \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\": "
                     "longer than 255 bytes");
    T_CHECK(repo_name_check("", "tag", &err) == -1);
    T_STREQ(err.msg, "invalid tag \"\": a name must not be empty");
    T_CHECK(repo_name_check("..", "repository", &err) == -1);
    T_STREQ(err.msg, "invalid repository \"..\": a name must not start with '.'");
    T_CHECK(repo_name_check(".tag-x", "name", &err) == -1);
    T_CHECK(repo_name_check("a/b", "name", &err) == -1);
    T_STREQ(err.msg, "invalid name \"a/b\": '/' and '\\' are not allowed");
    T_CHECK(repo_name_check("a\\b", "name", &err) == -1);
    T_CHECK(repo_name_check("a\nb", "name", &err) == -1);
    T_STREQ(err.msg, "invalid name \"a\\x0ab\": control characters are not allowed");
    T_CHECK(repo_name_check("a\x7f", "name", &err) == -1);
    T_CHECK(repo_name_check("a\xc2\x85", "name", &err) == -1);   /* C1 NEL */
    T_CHECK(repo_name_check("a\xff", "name", &err) == -1);
    T_STREQ(err.msg, "invalid name \"a\\xff\": not valid UTF-8");
    T_CHECK(repo_name_check("\xc0\xaf", "name", &err) == -1);    /* overlong '/' */
    T_CHECK(repo_name_check("\xed\xa0\x80", "name", &err) == -1); /* surrogate */
    T_CHECK(repo_name_reserved("me") && repo_name_reserved("api") && !repo_name_reserved("alice"));
    /* nothing but blanks reads as empty in every listing */
    T_CHECK(repo_name_check(" ", "name", &err) == -1 && err.code == HUB_E_INVALID);
    T_STREQ(err.msg, "invalid name \" \": a name must not be only blanks");
    T_CHECK(repo_name_check("   ", "name", &err) == -1);
    T_CHECK(repo_name_check("\xc2\xa0\xe3\x80\x80", "name", &err) == -1);  /* NBSP, ideographic */
    T_CHECK(repo_name_check(" a ", "name", &err) == 0);
}

static void test_flist_name(void)
{
    char out[REPO_NAME_MAX + 1];
    hub_err err;
    T_CHECK(repo_flist_name("x", "name", out, &err) == 0);
    T_STREQ(out, "x.flist");
    T_CHECK(repo_flist_name("x.flist", "name", out, &err) == 0);
    T_STREQ(out, "x.flist");
    char n250[251];
    memset(n250, 'a', 250);
    n250[250] = '\0';
    T_CHECK(repo_flist_name(n250, "name", out, &err) == -1);
    n250[249] = '\0';
    T_CHECK(repo_flist_name(n250, "name", out, &err) == 0);
    T_CHECK(strlen(out) == 255);
}

static void test_clean_and_size(void)
{
    const char *cases[][2] = {{"foo.flist", "foo.flist"}, {"../r/foo.flist", "r/foo.flist"},
                              {"../../r/foo.flist", "r/foo.flist"}, {"../r/.tag-v1", "r/tags/v1"}};
    for (size_t i = 0; i < 4; i++) {
        char *c = repo_clean_target(cases[i][0]);
        T_STREQ(c, cases[i][1]);
        free(c);
    }
    char buf[32];
    repo_format_size(9, buf, sizeof buf);
    T_STREQ(buf, "0.01 KB");
    repo_format_size(4096, buf, sizeof buf);
    T_STREQ(buf, "4.00 KB");
    repo_format_size(0, buf, sizeof buf);
    T_STREQ(buf, "0.00 KB");
}

static void test_listing(void)
{
    char dir[] = "/tmp/test_repo.XXXXXX";
    T_REQUIRE(mkdtemp(dir));
    char p[512];
    snprintf(p, sizeof p, "%s/alice", dir);
    T_REQUIRE(mkdir(p, 0755) == 0);
    snprintf(p, sizeof p, "%s/alice/.tag-v1", dir);
    T_REQUIRE(mkdir(p, 0755) == 0);
    snprintf(p, sizeof p, "%s/alice/sub", dir);
    T_REQUIRE(mkdir(p, 0755) == 0);
    snprintf(p, sizeof p, "%s/alice/a.flist", dir);
    FILE *f = fopen(p, "w");
    T_REQUIRE(f);
    fputs("123456789", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/alice/.keep", dir);
    fclose(fopen(p, "w"));
    snprintf(p, sizeof p, "%s/alice/l.flist", dir);
    T_REQUIRE(symlink("a.flist", p) == 0);
    snprintf(p, sizeof p, "%s/alice/ct", dir);
    T_REQUIRE(symlink("../alice/.tag-v1", p) == 0);
    snprintf(p, sizeof p, "%s/alice/.tag-evil", dir);
    T_REQUIRE(symlink("../bob/.tag-x", p) == 0);

    hub_err err;
    repo_store *s = repo_store_open(dir, &err);
    T_REQUIRE(s);
    repo_entry *e = NULL;
    size_t n = 0;
    T_REQUIRE(repo_list(s, "alice", &e, &n, &err) == 0);
    T_REQUIRE(n == 4);
    T_STREQ(e[0].name, "v1");
    T_CHECK(e[0].type == REPO_ENTRY_TAG);
    T_STREQ(e[1].name, "a.flist");
    T_CHECK(e[1].type == REPO_ENTRY_REGULAR && e[1].size == 9);
    T_STREQ(e[2].name, "ct");
    T_CHECK(e[2].type == REPO_ENTRY_TAGLINK);
    T_STREQ(e[2].target, "alice/tags/v1");
    T_STREQ(e[3].name, "l.flist");
    T_CHECK(e[3].type == REPO_ENTRY_SYMLINK && e[3].size == 9);
    T_STREQ(e[3].target, "a.flist");
    repo_entries_free(e, n);
    T_CHECK(repo_list(s, "bob", &e, &n, &err) == -1 && err.code == HUB_E_NOT_FOUND);
    T_CHECK(repo_list(s, "..", &e, &n, &err) == -1 && err.code == HUB_E_INVALID);

    /* changes */
    T_CHECK(repo_link(s, "alice", "a", "b", &err) == 0);
    T_CHECK(repo_link(s, "alice", "a", "a", &err) == -1 && err.code == HUB_E_EXISTS);
    T_CHECK(repo_rename(s, "alice", "b", "a", &err) == -1 && err.code == HUB_E_EXISTS);
    T_CHECK(repo_delete(s, "alice", "b", &err) == 0);
    T_CHECK(repo_delete(s, "alice", "b", &err) == -1 && err.code == HUB_E_NOT_FOUND);
    T_STREQ(err.msg, "source not found");
    T_CHECK(repo_ensure(s, "me", &err) == -1 && err.code == HUB_E_INVALID);
    repo_store_close(s);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    T_CHECK(system(cmd) == 0);
}

T_MAIN(T_CASE(test_name_rule), T_CASE(test_flist_name), T_CASE(test_clean_and_size), T_CASE(test_listing))
