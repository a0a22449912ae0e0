/* backend.c - the content backend client (backend.h): connection and login
 * to 0-db or Redis, and the pipelined EXISTS / SET / GET of chunks.
 *
 * Pipelining: commands are appended to hiredis' output buffer in windows
 * (at most PIPE_MAX_CMDS commands or about PIPE_MAX_BYTES of payload), then
 * the window's replies are read; the first read flushes the buffer. Windows
 * bound the memory held by hiredis and by the server's reply buffers, so
 * batches of any size neither deadlock nor balloon.
 *
 * Writes to a closed socket would raise SIGPIPE, which kills a process that
 * did not ignore it. Every exchange therefore runs with SIGPIPE blocked in
 * the calling thread, and a SIGPIPE raised meanwhile is consumed before it
 * is unblocked: the write fails with EPIPE and is reported as an error.
 */
#include "backend.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "flist_keys.h"
#include "util.h"

#define PIPE_MAX_CMDS 512
#define PIPE_MAX_BYTES (32u << 20)
#define DEFAULT_TIMEOUT_MS 5000

struct backend {
    redisContext *c;
    int timeout_ms;  /* bound of every exchange */
    int kicks;       /* PINGs sent by read_reply whose PONG is still to be read */
    char name[300];  /* "backend host:port", the prefix of every message */
    int broken;      /* an I/O or protocol error left the connection unusable */
};

/* --- SIGPIPE guard ------------------------------------------------------ */

typedef struct pipe_guard {
    sigset_t old;
    int was_pending;
} pipe_guard;

static void pipe_guard_on(pipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigemptyset(&pending);
    sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

static void pipe_guard_off(pipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigemptyset(&pending);
    if (!g->was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
        struct timespec zero = { 0, 0 };
        sigtimedwait(&set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* --- replies ------------------------------------------------------------ */

/* Copies s[0..n) into out (size cap) for a message: printable ASCII as is,
 * other bytes as \xNN, cut with "..." when too long. */
static void printable(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 8 >= cap) {
            snprintf(out + o, cap - o, "...");
            return;
        }
        if (c >= 0x20 && c < 0x7f)
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
    }
    out[o] = '\0';
}

/* A short description of an unexpected reply, for messages. */
static void describe_reply(const redisReply *r, char *out, size_t cap)
{
    char text[160];
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        printable(r->str, r->len, text, sizeof text);
        snprintf(out, cap, "%s \"%s\"",
                 r->type == REDIS_REPLY_STRING ? "string" :
                 r->type == REDIS_REPLY_STATUS ? "status" : "error", text);
        break;
    case REDIS_REPLY_INTEGER:
        snprintf(out, cap, "integer %lld", r->integer);
        break;
    case REDIS_REPLY_NIL:
        snprintf(out, cap, "nil");
        break;
    case REDIS_REPLY_ARRAY:
        snprintf(out, cap, "array of %zu", r->elements);
        break;
    default:
        snprintf(out, cap, "reply type %d", r->type);
        break;
    }
}

int backend_error_is_transient(const char *text, size_t n)
{
    static const char *const words[] = { "LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "READONLY" };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t k = strlen(words[i]);
        if (n >= k && memcmp(text, words[i], k) == 0 && (n == k || text[k] == ' '))
            return 1;
    }
    return 0;
}

/* The code of an error reply: transient ones are outages, others refusals. */
static hub_code error_code(const redisReply *r)
{
    return backend_error_is_transient(r->str, r->len) ? HUB_E_UNAVAILABLE : HUB_E_REFUSED;
}

static int reply_is_text(const redisReply *r, const char *text, size_t n)
{
    return (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING) &&
           r->len == n && memcmp(r->str, text, n) == 0;
}

/* Success: a status (or string) "OK". Errors carry the server's text. */
int backend_check_ok_reply(const void *reply, const char *what, hub_err *err)
{
    const redisReply *r = reply;
    char desc[200];

    if (!r)
        return hub_err_setc(err, HUB_E_UNAVAILABLE, "%s: no reply", what);
    if (reply_is_text(r, "OK", 2))
        return 0;
    if (r->type == REDIS_REPLY_ERROR) {
        printable(r->str, r->len, desc, sizeof desc);
        return hub_err_setc(err, error_code(r), "%s: %s", what, desc);
    }
    describe_reply(r, desc, sizeof desc);
    return hub_err_setc(err, HUB_E_REFUSED, "%s: unexpected reply (%s)", what, desc);
}

/* Success: status "OK" (Redis), the key echoed back (0-db stored it), or
 * nil (0-db: identical data already there). */
int backend_check_set_reply(const void *reply, const uint8_t id[16], hub_err *err)
{
    const redisReply *r = reply;
    char hex[33], desc[200];

    hub_hex(id, 16, hex);
    if (!r)
        return hub_err_setc(err, HUB_E_UNAVAILABLE, "SET %s: no reply", hex);
    if (r->type == REDIS_REPLY_NIL || reply_is_text(r, "OK", 2) ||
        reply_is_text(r, (const char *)id, 16))
        return 0;
    if (r->type == REDIS_REPLY_ERROR) {
        printable(r->str, r->len, desc, sizeof desc);
        return hub_err_setc(err, error_code(r), "SET %s: %s", hex, desc);
    }
    describe_reply(r, desc, sizeof desc);
    return hub_err_setc(err, HUB_E_REFUSED, "SET %s: invalid response (%s)", hex, desc);
}

/* --- connection --------------------------------------------------------- */

/* hiredis' error text with a lower-case first letter ("Connection refused"
 * -> "connection refused"), acronyms kept. An expired socket timeout shows
 * up as EAGAIN's text; it is reported as a timeout. */
static void context_error(const redisContext *c, char *out, size_t cap)
{
    const char *s = c->errstr[0] ? c->errstr : "unknown error";
    if (c->err == REDIS_ERR_IO && (strcmp(s, strerror(EAGAIN)) == 0 ||
                                   strcmp(s, strerror(ETIMEDOUT)) == 0))
        s = "timed out";
    snprintf(out, cap, "%s", s);
    if (out[0] >= 'A' && out[0] <= 'Z' && !(out[1] >= 'A' && out[1] <= 'Z'))
        out[0] = (char)(out[0] - 'A' + 'a');
}

/* Fills err with "<name>: <what>: <connection error>" and marks b broken. */
static int io_error(backend *b, const char *what, hub_err *err)
{
    char text[160];
    context_error(b->c, text, sizeof text);
    b->broken = 1;
    return hub_err_setc(err, HUB_E_UNAVAILABLE, "%s: %s: %s", b->name, what, text);
}

/* Runs one command (argc arguments) and checks for an OK reply. `what`
 * names it in messages (never the secret arguments). */
static int login_command(backend *b, int argc, const char **argv, const size_t *lens,
                         const char *what, hub_err *err)
{
    pipe_guard g;
    pipe_guard_on(&g);
    redisReply *r = redisCommandArgv(b->c, argc, argv, lens);
    pipe_guard_off(&g);
    if (!r)
        return io_error(b, what, err);
    int rc = backend_check_ok_reply(r, what, err);
    freeReplyObject(r);
    if (rc != 0)
        return hub_err_prefix(err, "%s", b->name);
    return 0;
}

/* AUTH and SELECT as ARCHITECTURE.md "Backends" says. */
static int login(backend *b, const backend_url *url, hub_err *err)
{
    const char *secret = url->token[0] ? url->token :
                         url->kind == BACKEND_REDIS ? url->password : "";
    if (secret[0]) {
        const char *argv[] = { "AUTH", secret };
        size_t lens[] = { 4, strlen(secret) };
        if (login_command(b, 2, argv, lens, "AUTH", err) != 0)
            return -1;
    }

    const char *ns = url->namespace_;
    if (!ns[0] || strcmp(ns, "default") == 0)
        return 0;
    char what[160];
    snprintf(what, sizeof what, "SELECT %s", ns);
    const char *argv[] = { "SELECT", ns, url->password };
    size_t lens[] = { 6, strlen(ns), strlen(url->password) };
    int argc = (url->kind == BACKEND_ZDB && url->password[0]) ? 3 : 2;
    return login_command(b, argc, argv, lens, what, err);
}

/* The timeout bounds the connection and also every later socket read or
 * write (a server that stops answering fails the call with "timed out"). A
 * 0-db password without a namespace (or with "default") is not sent: there
 * is no SELECT then (ARCHITECTURE.md "Backends"). */
backend *backend_connect(const backend_url *url, int timeout_ms, hub_err *err)
{
    if (timeout_ms <= 0)
        timeout_ms = DEFAULT_TIMEOUT_MS;
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };

    backend *b = calloc(1, sizeof *b);
    if (!b) {
        hub_err_setc(err, HUB_E_NOMEM, "backend: out of memory");
        return NULL;
    }
    b->timeout_ms = timeout_ms;
    int v6 = strchr(url->host, ':') != NULL;
    snprintf(b->name, sizeof b->name, "backend %s%s%s:%d",
             v6 ? "[" : "", url->host, v6 ? "]" : "", url->port);

    b->c = redisConnectWithTimeout(url->host, url->port, tv);
    if (!b->c) {
        hub_err_setc(err, HUB_E_NOMEM, "%s: out of memory", b->name);
        free(b);
        return NULL;
    }
    if (b->c->err) {
        char text[160];
        context_error(b->c, text, sizeof text);
        hub_err_setc(err, HUB_E_UNAVAILABLE, "%s: %s", b->name, text);
        backend_close(b);
        return NULL;
    }
    if (redisSetTimeout(b->c, tv) != REDIS_OK) {
        io_error(b, "set timeout", err);
        backend_close(b);
        return NULL;
    }
    if (login(b, url, err) != 0) {
        backend_close(b);
        return NULL;
    }
    return b;
}

void backend_close(backend *b)
{
    if (!b)
        return;
    if (b->c)
        redisFree(b->c);
    free(b);
}

static int usable(backend *b, hub_err *err)
{
    if (b->broken)
        return hub_err_setc(err, HUB_E_UNAVAILABLE,
                            "%s: connection unusable after an earlier error", b->name);
    return 0;
}

/* --- reading replies ---------------------------------------------------- */

/* Why TCP_QUICKACK: 0-db does not set TCP_NODELAY and writes each reply
 * with its own send(). While its first reply of a pipelined window is not
 * acknowledged, Nagle's algorithm holds every later (small) reply back on
 * the server, and Linux delays our ACK by up to 40 ms because we have
 * nothing to send: each reply of a window then costs ~40 ms (a 512-command
 * SET window took longer than the 5 s timeout). Acknowledging at once
 * releases the held replies after one round trip instead. Linux clears the
 * flag on its own, so it is re-armed before every read. Measured with
 * tests/bench/bench_create.sh: into 0-db from 27 s (timed out) to ~2.2 s,
 * Redis unchanged. Where TCP_QUICKACK does not exist this is a no-op. */
static void quickack(backend *b)
{
#ifdef TCP_QUICKACK
    int one = 1;
    (void)setsockopt(b->c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
#endif
}

/* Why kicks: 0-db (2.0.x) reads its socket once per edge-triggered epoll
 * event and, when that read ends exactly at the end of a command, goes back
 * to epoll without reading again: commands still in the kernel buffer then
 * wait for the next byte the client sends. A client that pipelined a window
 * and waits for its replies sends nothing more, so the connection stalls
 * until the timeout (seen on about a third of 200 MiB creates: "SET: timed
 * out", the server's receive queue holding 650 KB). When a pipelined window
 * gets no reply for KICK_MS, a PING is sent: its bytes wake 0-db, which
 * then reads the rest; the PONG comes after the window's replies and is
 * read and dropped by drain_kicks. Redis never needs one. */
#define KICK_MS 25


/* Writes whatever hiredis holds in its output buffer. Returns 0 or -1 with
 * err (b broken). */
static int flush_output(backend *b, const char *what, hub_err *err)
{
    int done = 0;
    do {
        if (redisBufferWrite(b->c, &done) != REDIS_OK)
            return io_error(b, what, err);
    } while (!done);
    return 0;
}

/* Reads the next reply into *out: from what hiredis already buffered, else
 * flushes the pending commands and reads the socket (quickack() before each
 * read) for at most the connection's timeout. pipelined: more commands than
 * this one are in flight, so a silence of KICK_MS is answered with a kick
 * (see above). Replaces redisGetReply, which can do neither. Returns 0, or
 * -1 with err filled (what = the command, for the message) and b broken. */
static int read_reply(backend *b, const char *what, int pipelined, redisReply **out, hub_err *err)
{
    void *r = NULL;
    *out = NULL;
    if (redisReaderGetReply(b->c->reader, &r) != REDIS_OK)
        goto protocol;
    if (r) {
        *out = r;
        return 0;
    }
    if (flush_output(b, what, err) != 0)
        return -1;
    int64_t deadline = util_mono_ms() + b->timeout_ms;
    for (;;) {
        quickack(b);
        int64_t left = deadline - util_mono_ms();
        int wait = (int)(left < 0 ? 0 : pipelined && left > KICK_MS ? KICK_MS : left);
        struct pollfd pfd = { .fd = b->c->fd, .events = POLLIN };
        int pr = poll(&pfd, 1, wait);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0) {
            if (util_mono_ms() >= deadline) {
                b->broken = 1;
                return hub_err_setc(err, HUB_E_UNAVAILABLE, "%s: %s: timed out", b->name, what);
            }
            if (redisAppendCommand(b->c, "PING") != REDIS_OK || flush_output(b, what, err) != 0)
                return io_error(b, what, err);
            b->kicks++;
            continue;
        }
        if (redisBufferRead(b->c) != REDIS_OK)
            return io_error(b, what, err);
        if (redisReaderGetReply(b->c->reader, &r) != REDIS_OK)
            goto protocol;
        if (r)
            break;
    }
    *out = r;
    return 0;
protocol:
    b->broken = 1;
    return hub_err_setc(err, HUB_E_UNAVAILABLE, "%s: %s: protocol error: %s", b->name, what,
                        b->c->reader->errstr[0] ? b->c->reader->errstr : "invalid reply");
}

/* Reads and drops the PONGs of the kicks read_reply sent (they follow every
 * reply of the window they were sent in). Returns 0 or -1 with err. */
static int drain_kicks(backend *b, hub_err *err)
{
    while (b->kicks > 0) {
        redisReply *r;
        if (read_reply(b, "PING", 0, &r, err) != 0)
            return -1;
        int pong = r->type == REDIS_REPLY_STATUS && r->len == 4 && memcmp(r->str, "PONG", 4) == 0;
        freeReplyObject(r);
        if (!pong) {
            b->broken = 1;
            return hub_err_setc(err, HUB_E_UNAVAILABLE, "%s: out of step (a PING got another reply)",
                                b->name);
        }
        b->kicks--;
    }
    return 0;
}

int backend_ping(backend *b, hub_err *err)
{
    if (usable(b, err) != 0)
        return -1;
    pipe_guard g;
    pipe_guard_on(&g);
    int rc = redisAppendCommand(b->c, "PING") == REDIS_OK ? 0 : -1;
    redisReply *r = NULL;
    if (rc != 0)
        rc = hub_err_setc(err, HUB_E_NOMEM, "%s: PING: out of memory", b->name);
    else
        rc = read_reply(b, "PING", 0, &r, err);
    pipe_guard_off(&g);
    if (rc != 0)
        return -1;
    int ok = r->type == REDIS_REPLY_STATUS && r->len == 4 && memcmp(r->str, "PONG", 4) == 0;
    if (!ok) {
        char desc[200];
        describe_reply(r, desc, sizeof desc);
        hub_err_setc(err, HUB_E_REFUSED, "%s: PING: unexpected reply (%s)", b->name, desc);
    }
    freeReplyObject(r);
    return ok ? 0 : -1;
}

/* --- pipelined commands ------------------------------------------------- */

/* Appends `cmd <id> [value]` for ids[from..] until the window is full;
 * returns the end index (exclusive), or (size_t)-1 on allocation failure. */
static size_t append_window(backend *b, const char *cmd, const uint8_t (*ids)[16],
                            const uint8_t *const *values, const size_t *lens,
                            size_t from, size_t n)
{
    size_t bytes = 0, i;
    for (i = from; i < n && i - from < PIPE_MAX_CMDS; i++) {
        if (i > from && values && bytes + lens[i] > PIPE_MAX_BYTES)
            break;
        const char *argv[3] = { cmd, (const char *)ids[i], values ? (const char *)values[i] : NULL };
        size_t alen[3] = { strlen(cmd), 16, values ? lens[i] : 0 };
        if (redisAppendCommandArgv(b->c, values ? 3 : 2, argv, alen) != REDIS_OK)
            return (size_t)-1;
        bytes += 16 + (values ? lens[i] : 0);
    }
    return i;
}

/* Handles reply i of a pipelined batch. Called only while no reply of the
 * batch has failed; returns 0, or -1 with err set. */
typedef int (*reply_fn)(backend *b, size_t i, const redisReply *r, void *ctx, hub_err *err);

/* Runs `cmd <id> [value]` for the n ids in windows (append_window), reading
 * each window's replies into on_reply. After a refused reply the rest of the
 * window is still read, so the connection stays in step, and the first
 * failure is what err reports; an I/O error or allocation failure marks the
 * connection broken. Returns 0 or -1 with err. */
static int pipeline(backend *b, const char *cmd, const uint8_t (*ids)[16],
                    const uint8_t *const *values, const size_t *lens, size_t n,
                    reply_fn on_reply, void *ctx, hub_err *err)
{
    if (usable(b, err) != 0)
        return -1;
    int rc = 0;
    pipe_guard g;
    pipe_guard_on(&g);
    for (size_t from = 0; from < n && rc == 0;) {
        size_t to = append_window(b, cmd, ids, values, lens, from, n);
        if (to == (size_t)-1) {
            b->broken = 1;
            rc = hub_err_setc(err, HUB_E_NOMEM, "%s: %s: out of memory", b->name, cmd);
            break;
        }
        for (size_t i = from; i < to; i++) {
            redisReply *r = NULL;
            if (read_reply(b, cmd, to - from > 1, &r, rc == 0 ? err : NULL) != 0) {
                rc = -1;
                break;
            }
            if (rc == 0)
                rc = on_reply(b, i, r, ctx, err);
            freeReplyObject(r);
        }
        if (!b->broken && drain_kicks(b, rc == 0 ? err : NULL) != 0)
            rc = -1;
        from = to;
    }
    pipe_guard_off(&g);
    return rc;
}

/* What the reply handlers of one batch read and fill. */
typedef struct batch_ctx {
    const uint8_t (*ids)[16];
    uint8_t *present;   /* EXISTS */
    uint8_t **values;   /* GET */
    size_t *lens;       /* GET */
} batch_ctx;

/* Fills err with "<name>: <cmd> <hex id>: <server error>" or "... unexpected
 * reply <description>". Returns -1. */
static int reply_error(backend *b, const char *cmd, const uint8_t id[16],
                       const redisReply *r, hub_err *err)
{
    char hex[33], desc[200];
    hub_hex(id, 16, hex);
    if (r->type == REDIS_REPLY_ERROR)
        printable(r->str, r->len, desc, sizeof desc);
    else
        describe_reply(r, desc, sizeof desc);
    return hub_err_setc(err, r->type == REDIS_REPLY_ERROR ? error_code(r) : HUB_E_REFUSED,
                        "%s: %s %s: %s%s", b->name, cmd, hex,
                       r->type == REDIS_REPLY_ERROR ? "" : "unexpected reply ", desc);
}

/* EXISTS: integer 0 or 1 into present[i]. */
static int on_exists_reply(backend *b, size_t i, const redisReply *r, void *ctx, hub_err *err)
{
    batch_ctx *c = ctx;
    if (r->type == REDIS_REPLY_INTEGER && (r->integer == 0 || r->integer == 1)) {
        c->present[i] = (uint8_t)r->integer;
        return 0;
    }
    return reply_error(b, "EXISTS", c->ids[i], r, err);
}

int backend_exists(backend *b, const uint8_t (*ids)[16], size_t n,
                   uint8_t *present, hub_err *err)
{
    batch_ctx c = { .ids = ids, .present = present };
    return pipeline(b, "EXISTS", ids, NULL, NULL, n, on_exists_reply, &c, err);
}

/* SET: accepted as backend_check_set_reply says. */
static int on_set_reply(backend *b, size_t i, const redisReply *r, void *ctx, hub_err *err)
{
    batch_ctx *c = ctx;
    if (backend_check_set_reply(r, c->ids[i], err) != 0)
        return hub_err_prefix(err, "%s", b->name);
    return 0;
}

int backend_set(backend *b, const uint8_t (*ids)[16],
                const uint8_t *const *values, const size_t *lens, size_t n,
                hub_err *err)
{
    batch_ctx c = { .ids = ids };
    return pipeline(b, "SET", ids, values, lens, n, on_set_reply, &c, err);
}

/* GET: a string is copied into values[i]; nil leaves it NULL (missing). */
static int on_get_reply(backend *b, size_t i, const redisReply *r, void *ctx, hub_err *err)
{
    batch_ctx *c = ctx;
    if (r->type == REDIS_REPLY_NIL)
        return 0;
    if (r->type != REDIS_REPLY_STRING)
        return reply_error(b, "GET", c->ids[i], r, err);
    c->values[i] = malloc(r->len ? r->len : 1);
    if (!c->values[i])
        return hub_err_setc(err, HUB_E_NOMEM, "%s: GET: out of memory (%zu bytes)", b->name, r->len);
    memcpy(c->values[i], r->str, r->len);
    c->lens[i] = r->len;
    return 0;
}

int backend_get(backend *b, const uint8_t (*ids)[16], size_t n,
                uint8_t **values, size_t *lens, hub_err *err)
{
    for (size_t i = 0; i < n; i++) {
        values[i] = NULL;
        lens[i] = 0;
    }
    batch_ctx c = { .ids = ids, .values = values, .lens = lens };
    int rc = pipeline(b, "GET", ids, NULL, NULL, n, on_get_reply, &c, err);
    if (rc != 0) {
        for (size_t i = 0; i < n; i++) {
            free(values[i]);
            values[i] = NULL;
            lens[i] = 0;
        }
    }
    return rc;
}
