/* fuzz_multipart.c - libFuzzer target for upload bodies: api/upload.c's
 * streaming multipart handling (upload_begin/feed/end: libmicrohttpd's
 * post processor driving our part handler, the spool file, the "file" part,
 * metadata-* and other fields, the limits) and form_field, the in-memory
 * parser of small urlencoded or multipart bodies.
 *
 * MHD's post processor only exists on a real connection, so the request
 * goes through a real libmicrohttpd daemon run in this thread (external
 * select mode, no listen socket; the connection is one end of a
 * socketpair), whose access handler feeds the body exactly as api/server.c
 * does for a multipart route (minus routing and authentication): refusals
 * queue an early reply and discard the spool file. MHD itself is not
 * instrumented, so coverage guidance comes from our code only.
 *
 * Input: byte 0 = slice size (the body is written in slices of that many
 * bytes with the daemon run between them, so parts arrive in pieces; 0 =
 * all at once), then the Content-Type value up to the first '\n' (none when
 * empty), then the body. Oracle: a stored "file" part's spool file holds
 * exactly the bytes counted.
 * Corpus: tests/fuzz/corpus/multipart.
 */
#include "fuzz.h"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "api.h"
#include "request.h"
#include "errors.h"
#include "upload.h"

#define MAX_UPLOAD 8192          /* small, so that the 413 path is reachable */
#define SMALL_BODY_LIMIT (1 << 20)

static api_server srv;
static struct MHD_Daemon *daemon_;
static char spool_dir[128];
static int closed;   /* the daemon closed the connection of this input */

static void cleanup(void)
{
    if (daemon_)
        MHD_stop_daemon(daemon_);
    rmdir(spool_dir);
}

static void quiet_log(void *cls, const char *fmt, va_list ap)
{
}

static enum MHD_Result reply(api_req *r, int status)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->replied = 1;
    r->status = status;
    return ret;
}

/* What a handler reads of a finished upload. */
static void check_upload(api_req *r)
{
    api_upload *u = r->upload;
    if (u->has_file && u->spool_path) {
        struct stat st;
        if (stat(u->spool_path, &st) != 0 || (uint64_t)st.st_size != u->bytes) {
            fprintf(stderr, "spool file %s: %lld bytes on disk, %llu counted\n", u->spool_path,
                    (long long)st.st_size, (unsigned long long)u->bytes);
            abort();
        }
    }
    if (u->filename && strlen(u->filename) > 1 << 20)
        abort();
    char *s = json_dumps(u->metadata, JSON_SORT_KEYS);
    free(s);
    s = json_dumps(u->fields, JSON_SORT_KEYS);
    free(s);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    api_req *r = *con_cls;
    hub_err err = {0};

    if (!r) {
        if (!(r = calloc(1, sizeof *r)))
            return MHD_NO;
        *con_cls = r;
        r->srv = &srv;
        r->conn = conn;
        r->method = method;
        r->status = 500;
        if (upload_begin(r, &err) != 0) {
            upload_discard(r->upload);
            return reply(r, api_status_of(err.code));
        }
        return MHD_YES;
    }
    if (r->replied) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        /* the same bytes, buffered as a small body for form_field */
        if (r->body_len + n <= SMALL_BODY_LIMIT) {
            if (r->body_len + n + 1 > r->body_cap) {
                size_t nc = (r->body_len + n + 1) * 2;
                char *nb = realloc(r->body, nc);
                if (!nb)
                    return MHD_NO;
                r->body = nb;
                r->body_cap = nc;
            }
            memcpy(r->body + r->body_len, upload_data, n);
            r->body_len += n;
            r->body[r->body_len] = '\0';
        }
        if (upload_feed(r, upload_data, n, &err) != 0) {
            upload_discard(r->upload);
            return reply(r, api_status_of(err.code));
        }
        return MHD_YES;
    }
    if (upload_end(r, &err) != 0) {
        upload_discard(r->upload);
        return reply(r, api_status_of(err.code));
    }
    check_upload(r);
    free(form_field(r, "image"));
    free(form_field(r, "file"));
    free(form_field(r, "metadata-name"));
    return reply(r, 200);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    request_free(*con_cls);
    *con_cls = NULL;
}

/* Called for every connection, also when the request never reached the
 * access handler (a header MHD refused). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    if (toe == MHD_CONNECTION_NOTIFY_CLOSED)
        closed = 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(spool_dir, sizeof spool_dir, "%s/fuzz_multipart.XXXXXX", base);
    if (!mkdtemp(spool_dir)) {
        perror("mkdtemp");
        exit(1);
    }
    srv.cfg.upload_dir = spool_dir;
    srv.cfg.max_upload_size = MAX_UPLOAD;
    daemon_ = MHD_start_daemon(MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                               on_request, NULL,
                               MHD_OPTION_EXTERNAL_LOGGER, quiet_log, NULL,
                               MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
                               MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                               MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
                               MHD_OPTION_END);
    if (!daemon_) {
        fprintf(stderr, "MHD_start_daemon failed\n");
        exit(1);
    }
    atexit(cleanup);
    return 0;
}

/* Sends what the socket takes now; returns the bytes sent (errors: all). */
static size_t send_some(int fd, const char *p, size_t n)
{
    ssize_t k = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (k < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : n;
    return (size_t)k;
}

static void drain(int fd)
{
    char buf[4096];
    while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
        ;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t slice = data[0];
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl)
        return 0;
    char ctype[1024];
    size_t cl = 0;
    for (const char *q = p; q < nl && cl < sizeof ctype - 1; q++)
        if (*q != '\r' && *q != '\0')
            ctype[cl++] = *q;
    ctype[cl] = '\0';
    const char *body = nl + 1;
    size_t body_len = (size_t)(end - body);

    char head[1400];
    int hl = snprintf(head, sizeof head,
                      "POST /api/flist/me/upload HTTP/1.1\r\nHost: hub\r\n%s%s%s"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      cl ? "Content-Type: " : "", ctype, cl ? "\r\n" : "", body_len);
    if (hl < 0 || (size_t)hl >= sizeof head)
        abort();

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        abort();
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(40000)};
    peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    closed = 0;
    if (MHD_add_connection(daemon_, sv[1], (struct sockaddr *)&peer, sizeof peer) != MHD_YES) {
        close(sv[0]);
        close(sv[1]);
        return 0;
    }

    /* the header, then the body slice by slice, running the daemon */
    size_t hoff = 0, boff = 0;
    int spins = 0;
    while (!closed && (hoff < (size_t)hl || boff < body_len) && spins < 100000) {
        spins++;
        if (hoff < (size_t)hl) {
            hoff += send_some(sv[0], head + hoff, (size_t)hl - hoff);
        } else {
            size_t n = body_len - boff;
            if (slice && n > slice)
                n = slice;
            boff += send_some(sv[0], body + boff, n);
        }
        MHD_run(daemon_);
        drain(sv[0]);
    }
    /* the reply (and the end of the connection) */
    for (int i = 0; !closed && i < 50; i++) {
        MHD_run(daemon_);
        drain(sv[0]);
    }
    close(sv[0]);
    for (int i = 0; !closed && i < 100000; i++)
        MHD_run(daemon_);
    if (!closed) {
        fprintf(stderr, "the connection never completed\n");
        abort();
    }
    return 0;
}
