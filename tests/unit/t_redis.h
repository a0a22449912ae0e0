/* t_redis.h - a real redis-server, or a real 0-db, for unit tests.
 *
 *   t_redis r;
 *   if (t_redis_start(&r, NULL) != 0) ...   // or a password for requirepass
 *   ... connect to r.host:r.port ...
 *   t_redis_stop(&r);                        // or leave it to exit
 *
 * Each server runs in a fresh temporary directory (mkdtemp under $TMPDIR or
 * /tmp) on a free port, without persistence, and is ready (answers PING)
 * when t_redis_start returns. Servers still running are stopped by pid and
 * their directories removed at exit, and also when the test dies from a
 * signal (abort, segfault, ctest's timeout); the child additionally gets
 * PR_SET_PDEATHSIG so it cannot outlive a test killed with SIGKILL.
 * t_redis_kill simulates a crash (SIGKILL, the directory stays until stop).
 * redis-server is taken from $HUB_REDIS_SERVER, else from PATH.
 *
 * t_zdb_start starts 0-db (user mode) the same way: $ZDB_BIN, else
 * $HUB_ZDB_DEFAULT (../shared/tools/zdb, set by tests/CMakeLists.txt).
 * Without it a test calls t_zdb_require first: it exits with 77 (ctest
 * reports "skipped", naming ZDB_BIN), or fails under CI=true.
 */
#ifndef T_REDIS_H
#define T_REDIS_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct t_redis {
    char host[16];    /* "127.0.0.1" */
    int port;
    pid_t pid;        /* 0 once stopped */
    char dir[256];    /* its working directory, "" once removed */
    int zdb;          /* 0-db rather than redis-server */
} t_redis;

#define T_REDIS_MAX 8

/* Servers to clean up. Fixed-size so the signal handler needs no malloc. */
static t_redis *t_redis_live[T_REDIS_MAX];
static int t_redis_hooks_installed;

static inline void t_redis_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Removes a server directory and everything below it (0-db keeps data/ and
 * index/ trees there). */
static inline void t_redis_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        char path[1024];
        while ((de = readdir(d))) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= sizeof path)
                continue;
            struct stat st;
            if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
                t_redis_rmdir(path);
            else
                unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* The 0-db server binary, or NULL. */
static inline const char *t_zdb_bin(void)
{
    const char *p = getenv("ZDB_BIN");
    if (!p || !*p)
        p = getenv("HUB_ZDB_DEFAULT");
    return p && *p && access(p, X_OK) == 0 ? p : NULL;
}

/* Returns when 0-db is there; else exits 77 (skipped) or, under CI=true,
 * 1 (failed): a missing 0-db never passes silently. */
static inline void t_zdb_require(void)
{
    if (t_zdb_bin())
        return;
    const char *ci = getenv("CI");
    int in_ci = ci && (strcmp(ci, "true") == 0 || strcmp(ci, "1") == 0);
    fprintf(stderr, "0-db server not found: set ZDB_BIN to the zdb binary "
                    "(../shared/tools/zdb beside the source tree)%s\n",
            in_ci ? " (CI=true: 0-db tests must run)" : "; skipped");
    exit(in_ci ? 1 : 77);
}

/* Async-signal-safe cleanup: kill by pid, unlink the files redis may have
 * written, remove the directory. */
static inline void t_redis_on_signal(int sig)
{
    static const char *const files[] = { "redis.log", "dump.rdb", "temp.rdb" };
    for (int i = 0; i < T_REDIS_MAX; i++) {
        t_redis *r = t_redis_live[i];
        if (!r)
            continue;
        if (r->pid > 0)
            kill(r->pid, SIGKILL);
        char path[512];
        for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
            size_t n = strlen(r->dir), m = strlen(files[f]);
            if (n + 1 + m + 1 > sizeof path)
                continue;
            memcpy(path, r->dir, n);
            path[n] = '/';
            memcpy(path + n + 1, files[f], m + 1);
            unlink(path);
        }
        rmdir(r->dir);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static inline void t_redis_stop(t_redis *r);

static inline void t_redis_at_exit(void)
{
    for (int i = 0; i < T_REDIS_MAX; i++)
        if (t_redis_live[i])
            t_redis_stop(t_redis_live[i]);
}

static inline void t_redis_install_hooks(void)
{
    if (t_redis_hooks_installed)
        return;
    t_redis_hooks_installed = 1;
    atexit(t_redis_at_exit);
    static const int sigs[] = { SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGINT, SIGTERM, SIGHUP };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], t_redis_on_signal);
}

/* A port nobody listens on right now (bind to port 0 and release it). */
static inline int t_redis_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* 1 when the server answers PING (with AUTH first when password is set). */
static inline int t_redis_pings(const t_redis *r, const char *password)
{
    struct timeval tv = { 0, 200000 };
    redisContext *c = redisConnectWithTimeout(r->host, r->port, tv);
    int ok = 0;
    if (c && !c->err) {
        redisReply *rep;
        if (password) {
            rep = redisCommand(c, "AUTH %s", password);
            if (rep)
                freeReplyObject(rep);
        }
        rep = redisCommand(c, "PING");
        ok = rep && rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "PONG") == 0;
        if (rep)
            freeReplyObject(rep);
    }
    if (c)
        redisFree(c);
    return ok;
}

/* Starts one server; password != NULL sets requirepass. Returns 0, or -1
 * with the reason on stderr (nothing left running). */
static inline int t_redis_try_start(t_redis *r, const char *password)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(r->dir, sizeof r->dir, "%s/hub-test-redis-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(r->dir)) {
        fprintf(stderr, "t_redis: mkdtemp %s: %s\n", r->dir, strerror(errno));
        r->dir[0] = '\0';
        return -1;
    }
    snprintf(r->host, sizeof r->host, "127.0.0.1");
    r->port = t_redis_free_port();
    if (r->port <= 0) {
        fprintf(stderr, "t_redis: no free port\n");
        t_redis_rmdir(r->dir);
        return -1;
    }
    char port[16], log[300];
    snprintf(port, sizeof port, "%d", r->port);
    snprintf(log, sizeof log, "%s/redis.log", r->dir);
    const char *bin = getenv("HUB_REDIS_SERVER");
    if (!bin || !*bin)
        bin = "redis-server";
    const char *argv[24];
    char data[300], index[300];
    int n = 0;
    if (r->zdb) {
        bin = t_zdb_bin();
        snprintf(data, sizeof data, "%s/data", r->dir);
        snprintf(index, sizeof index, "%s/index", r->dir);
        argv[n++] = bin;
        argv[n++] = "--listen"; argv[n++] = "127.0.0.1";
        argv[n++] = "--port"; argv[n++] = port;
        argv[n++] = "--mode"; argv[n++] = "user";
        argv[n++] = "--data"; argv[n++] = data;
        argv[n++] = "--index"; argv[n++] = index;
    } else {
        argv[n++] = bin;
        argv[n++] = "--port"; argv[n++] = port;
        argv[n++] = "--bind"; argv[n++] = "127.0.0.1";
        argv[n++] = "--dir"; argv[n++] = r->dir;
        argv[n++] = "--logfile"; argv[n++] = log;
        argv[n++] = "--save"; argv[n++] = "";
        argv[n++] = "--appendonly"; argv[n++] = "no";
        argv[n++] = "--daemonize"; argv[n++] = "no";
        if (password) {
            argv[n++] = "--requirepass";
            argv[n++] = password;
        }
    }
    argv[n] = NULL;

    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "t_redis: fork: %s\n", strerror(errno));
        t_redis_rmdir(r->dir);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
            if (r->zdb)
                dup2(devnull, 2);   /* 0-db logs to stdout/stderr */
            close(devnull);
        }
        execvp(bin, (char *const *)argv);
        fprintf(stderr, "t_redis: exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    r->pid = pid;

    for (int i = 0; i < 500; i++) {  /* up to 10 s */
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "t_redis: %s exited before answering (status %d), see %s\n",
                    bin, status, log);
            r->pid = 0;
            t_redis_rmdir(r->dir);
            return -1;
        }
        if (t_redis_pings(r, password))
            return 0;
        t_redis_sleep_ms(20);
    }
    fprintf(stderr, "t_redis: %s on port %d did not answer PING in 10 s\n", bin, r->port);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    r->pid = 0;
    t_redis_rmdir(r->dir);
    return -1;
}

/* Starts a redis-server (retrying on another port if the chosen one was
 * taken meanwhile) and registers it for cleanup. r must stay valid until
 * t_redis_stop or exit (a static or a variable of main's lifetime). */
static inline int t_redis_start(t_redis *r, const char *password)
{
    memset(r, 0, sizeof *r);
    int slot = -1;
    for (int i = 0; i < T_REDIS_MAX; i++)
        if (!t_redis_live[i]) {
            slot = i;
            break;
        }
    if (slot < 0) {
        fprintf(stderr, "t_redis: more than %d servers\n", T_REDIS_MAX);
        return -1;
    }
    t_redis_install_hooks();
    for (int attempt = 0; attempt < 3; attempt++) {
        t_redis_live[slot] = r;
        if (t_redis_try_start(r, password) == 0)
            return 0;
        t_redis_live[slot] = NULL;
    }
    return -1;
}

/* t_redis_start for 0-db (call t_zdb_require first). */
static inline int t_zdb_start(t_redis *r)
{
    int rc = -1;
    for (int attempt = 0; attempt < 3 && rc != 0; attempt++) {
        int slot = -1;
        for (int i = 0; i < T_REDIS_MAX; i++)
            if (!t_redis_live[i]) {
                slot = i;
                break;
            }
        if (slot < 0)
            return -1;
        memset(r, 0, sizeof *r);
        r->zdb = 1;
        t_redis_install_hooks();
        t_redis_live[slot] = r;
        rc = t_redis_try_start(r, NULL);
        if (rc != 0)
            t_redis_live[slot] = NULL;
    }
    return rc;
}

/* SIGKILLs the server now (a crash); the directory stays until stop. */
static inline void t_redis_kill(t_redis *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGKILL);
        waitpid(r->pid, NULL, 0);
        r->pid = 0;
    }
}

/* Stops the server (SIGTERM, SIGKILL after 3 s), removes its directory and
 * unregisters it. Safe to call twice. */
static inline void t_redis_stop(t_redis *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        int done = 0;
        for (int i = 0; i < 150 && !done; i++) {
            if (waitpid(r->pid, NULL, WNOHANG) == r->pid)
                done = 1;
            else
                t_redis_sleep_ms(20);
        }
        if (!done) {
            kill(r->pid, SIGKILL);
            waitpid(r->pid, NULL, 0);
        }
        r->pid = 0;
    }
    if (r->dir[0]) {
        t_redis_rmdir(r->dir);
        r->dir[0] = '\0';
    }
    for (int i = 0; i < T_REDIS_MAX; i++)
        if (t_redis_live[i] == r)
            t_redis_live[i] = NULL;
}

/* tmpl with its "%d" replaced by port (URLs of a server on a free port). */
static inline void t_port_url(char *out, size_t n, const char *tmpl, int port)
{
    const char *p = strstr(tmpl, "%d");
    if (!p)
        snprintf(out, n, "%s", tmpl);
    else
        snprintf(out, n, "%.*s%d%s", (int)(p - tmpl), tmpl, port, p + 2);
}

#endif
