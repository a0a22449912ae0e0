/* fuzz_oci.c - libFuzzer target for the container image applier
 * (engine/oci_apply.c), what the worker does with the layers and config
 * of an image from a registry or a daemon.
 *
 * Input: when it starts with '{', an image config: oci_apply_config on an
 * empty writer. Otherwise byte 0 splits the rest into two layers (plain,
 * gzip or any libarchive filter), applied in order by oci_apply_layers
 * from memfds, then a fixed config. Oracle: whatever the applier accepts
 * must finish into an flist that opens and walks, and the walk never sees
 * a name that is empty, ".", ".." or holds a '/' (what could lead
 * outside a tree when fetched).
 * Corpus: tests/fuzz/corpus/oci (small layers with whiteouts, opaque
 * markers, hard links, symlinks; configs).
 */
#include "fuzz.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "flist.h"
#include "oci.h"

static char out_path[256];
static char out_dir[128];

static void cleanup(void)
{
    unlink(out_path);
    rmdir(out_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(out_dir, sizeof out_dir, "%s/fuzz_oci.XXXXXX", base);
    if (!mkdtemp(out_dir)) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(out_path, sizeof out_path, "%s/out.flist", out_dir);
    atexit(cleanup);
    return 0;
}

static int check_entry(const flist_entry *e, void *ud)
{
    (void)ud;
    const char *name = e->inode->name;
    if (!name || !*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
        strchr(name, '/')) {
        fprintf(stderr, "the applier produced the name '%s' at %s\n", name ? name : "(null)",
                e->path);
        abort();
    }
    return 0;
}

/* Finishes w and checks the flist it made. */
static void finish_and_check(flist_writer *w)
{
    hub_err err;
    flist_stats st;
    if (flist_writer_finish(w, out_path, &st, &err) != 0) {
        fprintf(stderr, "flist_writer_finish refused an accepted image: %s\n", err.msg);
        abort();
    }
    flist *f = NULL;
    if (flist_open(out_path, &f, &err) != 0) {
        fprintf(stderr, "the applier's flist does not open: %s\n", err.msg);
        abort();
    }
    if (flist_walk(f, "/", check_entry, NULL, &err) != 0) {
        fprintf(stderr, "the applier's flist does not walk: %s\n", err.msg);
        abort();
    }
    flist_close(f);
    unlink(out_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    hub_err err;
    flist_writer_opts opts = { .threads = 1, .limits = { .max_bytes = 64u << 20,
                                                         .max_entries = 100000 } };
    flist_writer *w = flist_writer_new(&opts, &err);
    if (!w)
        abort();
    int ok;
    if (data[0] == '{') {
        json_t *cfg = json_loadb((const char *)data, size, 0, NULL);
        ok = cfg && oci_apply_config(w, cfg, &err) == 0;
        json_decref(cfg);
    } else {
        size_t rest = size - 1;
        size_t split = rest * data[0] / 255;
        oci_layer layers[2] = {
            { .digest = "", .fd = fuzz_mem_fd("fuzz_oci", data + 1, split) },
            { .digest = "", .fd = fuzz_mem_fd("fuzz_oci", data + 1 + split, rest - split) },
        };
        ok = oci_apply_layers(w, layers, 2, NULL, NULL, &err) == 0;
        close(layers[0].fd);
        close(layers[1].fd);
        if (ok) {
            json_t *cfg = json_pack("{s{s[s]s[ss]s[ss]}}", "config", "Entrypoint", "/init",
                                    "Cmd", "a", "b", "Env", "A=1", "B=x=y");
            ok = cfg && oci_apply_config(w, cfg, &err) == 0;
            json_decref(cfg);
            if (!ok) {
                fprintf(stderr, "oci_apply_config refused a fixed config: %s\n", err.msg);
                abort();
            }
        }
    }
    if (ok)
        finish_and_check(w);
    flist_writer_free(w);
    return 0;
}
