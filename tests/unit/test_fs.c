/* test_fs.c - base/fs.h: paths never leave their root, with openat2 and
 * with the component walk of older kernels (fs_force_walk), including
 * while another thread swaps a directory for a link to the outside. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "t.h"

static char g_top[256];   /* <tmp>/root (the root) and <tmp>/outside */
static int g_root;

static void put(const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_top, rel);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void mk(const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_top, rel);
    mkdir(p, 0755);
}

static void ln(const char *target, const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_top, rel);
    unlink(p);
    if (symlink(target, p) != 0)
        perror("symlink");
}

/* The content of root-relative path, or "" with errno. */
static const char *read_beneath(const char *path, fs_links links)
{
    static char buf[64];
    buf[0] = '\0';
    int fd = fs_open_beneath(g_root, path, O_RDONLY, links);
    if (fd < 0)
        return buf;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
    return buf;
}

static void setup(void)
{
    snprintf(g_top, sizeof g_top, "/tmp/test_fs.%d", (int)getpid());
    mkdir(g_top, 0755);
    mk("root");
    mk("outside");
    put("outside/secret", "OUTSIDE");
    mk("root/repo");
    put("root/repo/a.flist", "A");
    mk("root/other");
    put("root/other/b.flist", "B");
    ln("a.flist", "root/repo/link.flist");                 /* same directory */
    ln("../other/b.flist", "root/repo/cross.flist");        /* cross-repository */
    ln("../../outside/secret", "root/repo/escape.flist");   /* leaves the root */
    ln("/etc/hostname", "root/repo/absolute.flist");
    ln("loop2", "root/repo/loop1");
    ln("loop1", "root/repo/loop2");
    char p[512];
    snprintf(p, sizeof p, "%s/root", g_top);
    g_root = open(p, O_RDONLY | O_DIRECTORY);
}

static void check_rules(int walk)
{
    fs_force_walk(walk);
    T_STREQ(read_beneath("repo/a.flist", FS_LINKS_BENEATH), "A");
    T_STREQ(read_beneath("repo/link.flist", FS_LINKS_BENEATH), "A");
    T_STREQ(read_beneath("repo/cross.flist", FS_LINKS_BENEATH), "B");
    T_STREQ(read_beneath("./repo//a.flist", FS_LINKS_BENEATH), "A");
    T_STREQ(read_beneath("repo/../other/b.flist", FS_LINKS_BENEATH), "B");
    errno = 0;
    T_STREQ(read_beneath("repo/escape.flist", FS_LINKS_BENEATH), "");
    T_CHECK(errno == EXDEV);
    errno = 0;
    T_STREQ(read_beneath("repo/absolute.flist", FS_LINKS_BENEATH), "");
    T_CHECK(errno == EXDEV);
    errno = 0;
    T_STREQ(read_beneath("../outside/secret", FS_LINKS_BENEATH), "");
    T_CHECK(errno == EXDEV);
    T_STREQ(read_beneath("/etc/hostname", FS_LINKS_BENEATH), "");
    errno = 0;
    T_STREQ(read_beneath("repo/loop1", FS_LINKS_BENEATH), "");
    T_CHECK(errno == ELOOP);
    /* no links at all */
    T_STREQ(read_beneath("repo/a.flist", FS_NO_LINKS), "A");
    errno = 0;
    T_STREQ(read_beneath("repo/link.flist", FS_NO_LINKS), "");
    T_CHECK(errno == ELOOP);
    /* the last component not followed when the caller asks O_NOFOLLOW */
    int fd = fs_open_beneath(g_root, "repo/link.flist", O_PATH | O_NOFOLLOW, FS_LINKS_BENEATH);
    struct stat st;
    T_CHECK(fd >= 0 && fstat(fd, &st) == 0 && S_ISLNK(st.st_mode));
    if (fd >= 0)
        close(fd);
    /* creating a file beneath, and never through a link */
    fd = fs_open_beneath(g_root, "repo/new.txt", O_WRONLY | O_CREAT | O_EXCL, FS_NO_LINKS);
    T_CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    char p[512];
    snprintf(p, sizeof p, "%s/root/repo/new.txt", g_top);
    T_CHECK(unlink(p) == 0);
    T_CHECK(fs_open_beneath(g_root, "repo/escape.flist", O_WRONLY | O_CREAT, FS_NO_LINKS) == -1);
    /* the root itself */
    fd = fs_open_beneath(g_root, "", O_RDONLY | O_DIRECTORY, FS_NO_LINKS);
    T_CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    fs_force_walk(0);
}

static void test_rules_openat2(void)
{
    check_rules(0);
}

static void test_rules_walk(void)
{
    check_rules(1);
}

/* A thread swaps root/race between a directory holding "inside" and a link
 * to the outside directory; the opens must never read OUTSIDE. */
static atomic_int g_stop;

static void *swapper(void *arg)
{
    char dir[512], tmpdir[512], link[512], outside[512];
    snprintf(dir, sizeof dir, "%s/root/race", g_top);
    snprintf(tmpdir, sizeof tmpdir, "%s/root/race-dir", g_top);
    snprintf(link, sizeof link, "%s/root/race-link", g_top);
    snprintf(outside, sizeof outside, "%s/outside", g_top);
    (void)arg;
    while (!atomic_load(&g_stop)) {
        /* directory in place, then a link in place (rename is atomic) */
        rename(tmpdir, dir);
        unlink(link);
        if (symlink("../../outside", link) == 0)
            rename(dir, tmpdir), rename(link, dir);
        rename(dir, link);
    }
    return NULL;
}

static void race(int walk, fs_links links)
{
    fs_force_walk(walk);
    mk("root/race-dir");
    put("root/race-dir/secret", "inside");
    atomic_store(&g_stop, 0);
    pthread_t t;
    pthread_create(&t, NULL, swapper, NULL);
    int outside = 0, inside = 0, refused = 0;
    /* 20,000 opens, and on until both states were seen (a loaded machine
     * may schedule the swapper rarely), for at most 200,000 */
    for (int i = 0; i < 200000 && (i < 20000 || !inside || !refused); i++) {
        errno = 0;
        const char *v = read_beneath("race/secret", links);
        outside += strcmp(v, "OUTSIDE") == 0;
        inside += strcmp(v, "inside") == 0;
        refused += errno == EXDEV || errno == ELOOP;
    }
    atomic_store(&g_stop, 1);
    pthread_join(t, NULL);
    fs_force_walk(0);
    T_CHECK(outside == 0);
    T_CHECK(inside > 0 && refused > 0);   /* the race did happen both ways */
}

static void test_race_openat2(void)
{
    race(0, FS_LINKS_BENEATH);
    race(0, FS_NO_LINKS);
}

static void test_race_walk(void)
{
    race(1, FS_LINKS_BENEATH);
    race(1, FS_NO_LINKS);
}

int main(void)
{
    setup();
    static const t_case cases[] = {
        T_CASE(test_rules_openat2), T_CASE(test_rules_walk),
        T_CASE(test_race_openat2), T_CASE(test_race_walk),
    };
    int rc = t_run(cases, sizeof cases / sizeof cases[0]);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_top);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", g_top);
    return rc;
}
