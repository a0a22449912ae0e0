/* test_path.c - flist_path_clean: a table of archive names and the cleaned
 * path (or the refusal) each must give. */
#include "flist.h"
#include "t.h"

typedef struct {
    const char *in;
    const char *out;   /* NULL: refused */
} path_case;

static const path_case CASES[] = {
    { "", "" },
    { "/", "" },
    { ".", "" },
    { "./", "" },
    { "//./", "" },
    { "a", "a" },
    { "./a/b/", "a/b" },
    { "/etc/passwd", "etc/passwd" },
    { "///a///", "a" },
    { "a//b", "a/b" },
    { "a/./b", "a/b" },
    { "a/b/../c", "a/c" },
    { "a/b/c/../../d", "a/d" },
    { "a/b/..", "a" },
    { "a/..", "" },
    { "a/../b/../c", "c" },
    { "...", "..." },
    { "..a/b..", "..a/b.." },
    { ".hidden/.x", ".hidden/.x" },
    { "with space/ü名", "with space/ü名" },
    { "ctl\t\x01/x\x7f", "ctl\t\x01/x\x7f" },
    { "..", NULL },
    { "../x", NULL },
    { "/..", NULL },
    { "./../x", NULL },
    { "a/../../x", NULL },
    { "a/b/../../..", NULL },
    { "a/../..", NULL },
};

static void test_table(void)
{
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const path_case *c = &CASES[i];
        char out[256];
        hub_err err = { 0 };
        memset(out, 'X', sizeof out);
        int rc = flist_path_clean(c->in, out, &err);
        if (c->out) {
            T_CHECK(rc == 0);
            T_STREQ(out, c->out);
        } else {
            char want[HUB_ERR_MAX];
            snprintf(want, sizeof want, "entry '%s' climbs above the root", c->in);
            T_CHECK(rc == -1);
            T_STREQ(err.msg, want);
        }
    }
}

/* The result never needs more than strlen(in)+1 bytes: check with an exact
 * heap buffer (ASan catches an overrun). */
static void test_exact_buffer(void)
{
    static const char *ins[] = { "a", "/a/b/", "./x/./y/", "a/b/../c", "" };
    for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++) {
        size_t n = strlen(ins[i]) + 1;
        char *out = malloc(n);
        T_REQUIRE(out != NULL);
        T_CHECK(flist_path_clean(ins[i], out, NULL) == 0);
        T_CHECK(strlen(out) < n);
        free(out);
    }
}

/* A NULL err is allowed on refusal too. */
static void test_null_err(void)
{
    char out[16];
    T_CHECK(flist_path_clean("../../x", out, NULL) == -1);
}

/* A long name keeps every byte. */
static void test_long(void)
{
    char in[5001], out[5001];
    memset(in, 'n', 5000);
    in[0] = '/';
    in[5000] = '\0';
    T_CHECK(flist_path_clean(in, out, NULL) == 0);
    T_CHECK(strlen(out) == 4999);
    T_CHECK(out[0] == 'n' && out[4998] == 'n');
}

T_MAIN(T_CASE(test_table), T_CASE(test_exact_buffer), T_CASE(test_null_err),
       T_CASE(test_long))
