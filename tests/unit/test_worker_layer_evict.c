/* test_worker_layer_evict.c - the layer cache's size bound
 * (worker/layer_evict.c) on a real directory: blobs and memos removed
 * oldest (by mtime) first until the rest fits, partial downloads and a
 * memo's temporary file never counted nor removed, no bound = nothing
 * removed, a missing cache is empty. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layer_evict.h"
#include "t.h"

#define KB 1024

static char g_dir[128];

/* Writes dir/name with size bytes and the modification time `age`
 * seconds ago. */
static void put(const char *name, size_t size, int age)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    FILE *f = fopen(p, "wb");
    T_REQUIRE(f);
    for (size_t i = 0; i < size; i++)
        fputc((int)(i & 0xff), f);
    T_REQUIRE(fclose(f) == 0);
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= age;
    ts[1] = ts[0];
    T_REQUIRE(utimensat(AT_FDCWD, p, ts, 0) == 0);
}

static int there(const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    return access(p, F_OK) == 0;
}

static void test_lru_until_it_fits(void)
{
    put("sha256/aaaa", 40 * KB, 500);          /* the oldest */
    put("results/aaaa-salt.memo", 10 * KB, 400);
    put("sha256/bbbb", 40 * KB, 300);
    put("sha256/cccc", 40 * KB, 10);           /* recently used */
    put("results/cccc-salt.memo", 10 * KB, 5);
    put("sha256/.part-cccc-XXXX", 100 * KB, 1000);   /* a download under way */
    put("results/dddd.memo.123.tmp", 100 * KB, 1000); /* a memo being written */
    put("results/notes.txt", 100 * KB, 1000);        /* not the cache's */
    layer_evict_stats st;
    hub_err err;
    /* no bound: nothing removed */
    T_REQUIRE(layer_evict(g_dir, 0, &st, &err) == 0);
    T_CHECK(st.removed == 0 && there("sha256/aaaa"));
    /* within the bound: nothing removed, the sizes counted */
    T_REQUIRE(layer_evict(g_dir, 140 * KB, &st, &err) == 0);
    T_CHECK(st.files == 5 && st.bytes == 140 * KB && st.removed == 0);
    /* 90 KB: the two oldest go (aaaa's blob, then its memo) */
    T_REQUIRE(layer_evict(g_dir, 90 * KB, &st, &err) == 0);
    T_CHECK(st.removed == 2 && st.removed_bytes == 50 * KB);
    T_CHECK(!there("sha256/aaaa") && !there("results/aaaa-salt.memo"));
    T_CHECK(there("sha256/bbbb") && there("sha256/cccc") && there("results/cccc-salt.memo"));
    /* a hit refreshes bbbb: cccc's blob is now the oldest */
    put("sha256/bbbb", 40 * KB, 1);
    T_REQUIRE(layer_evict(g_dir, 50 * KB, &st, &err) == 0);
    T_CHECK(st.removed == 1 && !there("sha256/cccc") && there("sha256/bbbb"));
    T_CHECK(there("results/cccc-salt.memo"));
    /* what the cache does not count stays */
    T_CHECK(there("sha256/.part-cccc-XXXX") && there("results/dddd.memo.123.tmp") &&
            there("results/notes.txt"));
    /* 1 byte: every blob and memo goes */
    T_REQUIRE(layer_evict(g_dir, 1, &st, &err) == 0);
    T_CHECK(st.removed == 2 && !there("sha256/bbbb") && !there("results/cccc-salt.memo"));
}

static void test_missing_cache_is_empty(void)
{
    char p[256];
    snprintf(p, sizeof p, "%s/nothing-here", g_dir);
    layer_evict_stats st;
    hub_err err;
    T_CHECK(layer_evict(p, 1, &st, &err) == 0 && st.files == 0);
    T_CHECK(layer_evict(NULL, 1, NULL, &err) == 0);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/hub-evict-XXXXXX");
    if (!mkdtemp(g_dir))
        return 1;
    char p[256];
    snprintf(p, sizeof p, "%s/sha256", g_dir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/results", g_dir);
    mkdir(p, 0700);
    static const t_case cases[] = {
        T_CASE(test_lru_until_it_fits), T_CASE(test_missing_cache_is_empty),
    };
    int rc = t_run(cases, sizeof cases / sizeof cases[0]);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        return 1;
    return rc;
}
