/* cmd_create.c - `flist create`: a directory or an archive becomes an flist,
 * its chunks stored on --backend (only the missing ones). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "create_image.h"

/* Metadata kinds whose value is JSON (FLIST-FORMAT.md §7) and the JSON type
 * each must have. */
static const struct {
    const char *name;
    json_type type;
} typed_meta[] = {
    { "backend", JSON_OBJECT },   { "entrypoint", JSON_ARRAY },
    { "environ", JSON_OBJECT },   { "port", JSON_OBJECT },
    { "volume", JSON_OBJECT },    { "readme", JSON_OBJECT },
};

/* Adds one --meta NAME=VALUE: typed kinds are validated and stored in
 * jansson's compact form (as zflist stores them), others raw. */
static int add_meta(flist_writer *w, const char *spec, hub_err *err)
{
    const char *eq = strchr(spec, '=');
    char name[128];
    size_t nlen = (size_t)(eq - spec);
    if (nlen >= sizeof name)
        return hub_err_set(err, "--meta: name too long");
    memcpy(name, spec, nlen);
    name[nlen] = '\0';
    const char *value = eq + 1;
    for (size_t i = 0; i < sizeof typed_meta / sizeof typed_meta[0]; i++) {
        if (strcmp(name, typed_meta[i].name) != 0)
            continue;
        json_error_t jerr;
        json_t *v = json_loads(value, 0, &jerr);
        if (!v || json_typeof(v) != typed_meta[i].type) {
            json_decref(v);
            return hub_err_set(err, "--meta %s: the value must be a JSON %s", name,
                               typed_meta[i].type == JSON_ARRAY ? "array" : "object");
        }
        char *text = json_dumps(v, 0);
        json_decref(v);
        int rc = text ? flist_writer_meta(w, name, text, err) : hub_err_set(err, "out of memory");
        free(text);
        return rc;
    }
    return flist_writer_meta(w, name, value, err);
}

static void print_stats(const char *output, const flist_stats *st, double secs)
{
    fprintf(stderr,
            "%s: %llu files, %llu directories, %llu symlinks, %llu specials, %.1f MiB; "
            "%llu chunks (%llu distinct), %llu uploaded (%.1f MiB) in %.2f s\n",
            output, (unsigned long long)st->regular, (unsigned long long)st->directory,
            (unsigned long long)st->symlink, (unsigned long long)st->special,
            (double)st->fullsize / 1048576.0, (unsigned long long)st->chunks,
            (unsigned long long)st->chunks_unique, (unsigned long long)st->chunks_uploaded,
            (double)st->bytes_uploaded / 1048576.0, secs);
}

/* Progress of an archive: how far its file has been read (the writer's
 * own count is of uncompressed content, whose total is unknown). */
typedef struct archive_progress {
    int fd;
    uint64_t size;
} archive_progress;

static void archive_progress_fn(void *ud, uint64_t done, uint64_t total)
{
    archive_progress *ap = ud;
    off_t pos = lseek(ap->fd, 0, SEEK_CUR);
    if (pos >= 0)
        cli_progress("create", (uint64_t)pos, ap->size);
}

/* Progress of a directory: content bytes so far (no total known). */
static void dir_progress_fn(void *ud, uint64_t done, uint64_t total)
{
    cli_progress("create", done, 0);
}

int cmd_create(int argc, char **argv, const char *usage)
{
    cli_opts o;
    if (cli_parse(argc, argv, CLI_OPT_JSON | CLI_OPT_BACKEND | CLI_OPT_PUBLIC_BACKEND |
                  CLI_OPT_THREADS | CLI_OPT_META | CLI_OPT_IMAGE, 2, 2, usage, &o) != 0)
        return 2;
    const char *source = o.args[0], *output = o.args[1];
    hub_err err;
    backend_url be, pub;
    flist_writer *w = NULL;
    int status = 1, archive_fd = -1;
    archive_progress ap = { -1, 0 };
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    if (o.backend && backend_url_parse(o.backend, &be, &err) != 0) {
        status = cli_fail(&o, "create", err.msg);
        goto out;
    }
    if (o.public_backend && backend_url_parse(o.public_backend, &pub, &err) != 0) {
        status = cli_fail(&o, "create", err.msg);
        goto out;
    }
    const char *docker_ref = strncmp(source, "docker://", 9) == 0 ? source + 9 : NULL;
    int local_image = cli_image_source(source);   /* oci:DIR, docker-daemon:NAME */
    struct stat sst = { .st_mode = S_IFDIR };
    if (!docker_ref && !local_image && stat(source, &sst) != 0) {
        snprintf(err.msg, sizeof err.msg, "%s: no such file or directory", source);
        status = cli_fail(&o, "create", err.msg);
        goto out;
    }
    if (!S_ISDIR(sst.st_mode)) {
        archive_fd = open(source, O_RDONLY | O_CLOEXEC);
        if (archive_fd < 0) {
            snprintf(err.msg, sizeof err.msg, "%s: %s", source, strerror(errno));
            status = cli_fail(&o, "create", err.msg);
            goto out;
        }
        ap.fd = archive_fd;
        ap.size = (uint64_t)sst.st_size;
    }
    flist_writer_opts wo = {
        .threads = o.threads,
        .backend = o.backend ? &be : NULL,
        .progress = docker_ref || local_image ? NULL : archive_fd >= 0 ? archive_progress_fn : dir_progress_fn,
        .progress_ud = &ap,
    };
    w = flist_writer_new(&wo, &err);
    if (!w) {
        status = cli_fail(&o, "create", err.msg);
        goto out;
    }
    for (int i = 0; i < o.nmeta; i++)
        if (add_meta(w, o.meta[i], &err) != 0) {
            status = cli_fail(&o, "create", err.msg);
            goto out;
        }
    /* The `backend` metadata: where nodes will read the chunks. */
    if (!flist_writer_has_meta(w, "backend") && (o.public_backend || o.backend)) {
        char *json = backend_url_public_json(o.public_backend ? &pub : &be);
        int rc = json ? flist_writer_meta(w, "backend", json, &err) : hub_err_set(&err, "out of memory");
        free(json);
        if (rc != 0) {
            status = cli_fail(&o, "create", err.msg);
            goto out;
        }
    }
    int rc = docker_ref ? cli_create_docker(&o, docker_ref, w, &err)
           : local_image ? cli_create_image(source, o.platform, w, &err)
           : archive_fd < 0 ? flist_source_dir(w, source, &err)
                            : flist_source_tar_fd(w, archive_fd, &err);
    flist_stats st;
    if (rc == 0)
        rc = flist_writer_finish(w, output, &st, &err);
    if (rc != 0) {
        status = cli_fail(&o, "create", err.msg);
        goto out;
    }
    if (archive_fd >= 0)
        cli_progress("create", ap.size, ap.size);   /* all of it was read */
    cli_progress_end();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (o.json) {
        /* zflist putdir's shape, plus our upload counters */
        json_t *v = json_pack("{sIsIsIsIsIsIsIsIsIsI}", "regular", (json_int_t)st.regular,
                              "symlink", (json_int_t)st.symlink, "directory", (json_int_t)st.directory,
                              "special", (json_int_t)st.special, "failure", (json_int_t)0,
                              "fullsize", (json_int_t)st.fullsize, "chunks", (json_int_t)st.chunks,
                              "chunks_unique", (json_int_t)st.chunks_unique,
                              "chunks_uploaded", (json_int_t)st.chunks_uploaded,
                              "bytes_uploaded", (json_int_t)st.bytes_uploaded);
        cli_print_json(v);
    } else {
        print_stats(output, &st, secs);
    }
    status = 0;
out:
    if (archive_fd >= 0)
        close(archive_fd);
    flist_writer_free(w);
    cli_opts_free(&o);
    return status;
}
