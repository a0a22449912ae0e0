/* job_docker.c - the "docker-convert" job: a container image from a
 * registry becomes an flist in the user's repository (HUB-API.md §6.12,
 * §13.4), by the registry path (engine/oci_convert.h): no daemon, layers
 * verified and cached by digest (docker-layer-cache), applied straight
 * into the writer, only chunks missing on the internal backend sent,
 * `backend` = the public backend as for uploads. With "path": "engine"
 * (docker-engine = default, or per-request and asked) the Docker daemon
 * at docker-socket pulls the image and exports a container's file system
 * instead (engine/docker_engine.h); the same events, limits,
 * cancellation, name and reply ("manifest" and "platform" empty: the
 * daemon chose them).
 *
 * Events (§10): "Initializing docker converter" (0), "Resolving docker
 * image: <ref>" (5), "Downloading layers [<done> / <total>] (layer i/n:
 * <bytes> / <bytes>)" (10-50), "Applying layers [<done> / <total>]"
 * (50-90), "Uploading chunks" (90), "Publishing" (95), "Image ready !"
 * (100); the final event is the original's docker info event
 * {"status": "info", "info": {"status": "success", "file": F, "flist":
 * <stats>, "timing": {}}}.
 *
 * Result: {"name": <stats>, "file": F, "image": <normalised reference>,
 * "manifest": <digest>, "platform": P, "layers": n, "layers_cached": k};
 * the api answers compatibility mode with {"name": <stats>} only (the
 * original's quirk, D18).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "docker_engine.h"
#include "job_creds.h"
#include "layer_evict.h"
#include "log.h"
#include "oci_convert.h"
#include "publish.h"
#include "repo.h"
#include "util.h"

#define P_RESOLVE 5
#define P_PULL_LO 10
#define P_PULL_HI 50
#define P_APPLY_HI 90
#define P_UPLOAD 90
#define P_PUBLISH 95
#define SIZE_TEXT 32
#define ENGINE_LAYERS_MAX 256   /* layers of one pull shown apart (more: not counted) */
#define ENGINE_LAYER_ID_MAX 80

/* Shared by the download and apply callbacks of one attempt. */
typedef struct docker_run {
    job_ctx *c;
    oci_phase phase;
    int applying;          /* the applier started (failures after this may be retried) */
    uint64_t *layer_done;  /* bytes of each layer */
    size_t n_layers;
    uint64_t total;
    int64_t t_phase[3];    /* util_mono_ms() at the start of each oci_phase */
    /* engine path: the layers the daemon's pull stream named */
    char (*layer_id)[ENGINE_LAYER_ID_MAX];
    uint64_t *layer_total;
    unsigned char *layer_end;   /* its end was sent */
    int engine;                 /* the engine path: docker-max-image-size checked here */
} docker_run;

/* "%.1f KB" below 2048 bytes, else "%.0f MB", as the original prints. */
static void size_text(uint64_t b, char out[SIZE_TEXT])
{
    if (b < 2048)
        snprintf(out, SIZE_TEXT, "%.1f KB", (double)b / 1024.0);
    else
        snprintf(out, SIZE_TEXT, "%.0f MB", (double)b / 1048576.0);
}

static void on_phase(void *ud, oci_phase phase, const oci_image *img)
{
    docker_run *d = ud;
    d->phase = phase;
    d->t_phase[phase] = util_mono_ms();
    if (phase == OCI_PHASE_PULLING && img) {
        free(d->layer_done);
        d->layer_done = calloc(img->n_layers ? img->n_layers : 1, sizeof *d->layer_done);
        d->n_layers = d->layer_done ? img->n_layers : 0;
        d->total = img->total_size;
        char t[SIZE_TEXT], msg[128];
        size_text(d->total, t);
        snprintf(msg, sizeof msg, "Downloading layers [0.0 KB / %s]", t);
        job_watch_progress(d->c->watch, P_PULL_LO, msg);
    } else if (phase == OCI_PHASE_APPLYING) {
        d->applying = 1;
        job_watch_progress(d->c->watch, P_PULL_HI, "Applying layers");
    }
}

/* The download event after layer (of d->n_layers) reached done bytes;
 * sent at once (never coalesced) when `last` (the layer is all there). */
static void download_event(docker_run *d, size_t layer, uint64_t done, uint64_t total, int last)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < d->n_layers; i++)
        sum += d->layer_done[i];
    char a[SIZE_TEXT], b[SIZE_TEXT], msg[256];
    size_text(sum, a);
    size_text(d->total, b);
    snprintf(msg, sizeof msg, "Downloading layers [%s / %s] (layer %zu/%zu: %llu / %llu bytes)", a,
             b, layer + 1, d->n_layers, (unsigned long long)done, (unsigned long long)total);
    uint64_t part = sum > d->total ? d->total : sum;
    int p = P_PULL_LO + (int)(d->total ? (uint64_t)(P_PULL_HI - P_PULL_LO) * part / d->total : 0);
    hub_err ev;
    if (last) {
        if (job_watch_event(d->c->watch, p, msg, &ev) != 0)
            log_warn("job %s: event: %s", d->c->id, ev.msg);
    } else {
        job_watch_progress(d->c->watch, p, msg);
    }
}

static void on_download(void *ud, size_t layer, uint64_t done, uint64_t total)
{
    docker_run *d = ud;
    if (layer >= d->n_layers)
        return;
    d->layer_done[layer] = done;
    download_event(d, layer, done, total, total && done >= total);
}

/* Engine path: one line of the daemon's pull stream ("Pulling fs layer",
 * "Downloading" with bytes, "Download complete", "Already exists"...). */
static void on_engine_pull(void *ud, const char *status, const char *id, uint64_t current,
                           uint64_t total)
{
    docker_run *d = ud;
    if (!id || !*id || strlen(id) >= ENGINE_LAYER_ID_MAX || !d->layer_id)
        return;
    size_t i = 0;
    while (i < d->n_layers && strcmp(d->layer_id[i], id) != 0)
        i++;
    if (i == d->n_layers) {
        if (strcmp(status, "Pulling fs layer") != 0 && strcmp(status, "Waiting") != 0 &&
            strcmp(status, "Downloading") != 0 && strcmp(status, "Already exists") != 0)
            return;   /* a tag or digest line, not a layer */
        if (d->n_layers == ENGINE_LAYERS_MAX)
            return;
        snprintf(d->layer_id[d->n_layers++], ENGINE_LAYER_ID_MAX, "%s", id);
    }
    if (strcmp(status, "Downloading") == 0 && total) {
        d->total += total > d->layer_total[i] ? total - d->layer_total[i] : 0;
        d->layer_total[i] = total > d->layer_total[i] ? total : d->layer_total[i];
        d->layer_done[i] = current;
        download_event(d, i, current, d->layer_total[i], 0);
    } else if ((strcmp(status, "Download complete") == 0 || strcmp(status, "Already exists") == 0)
               && !d->layer_end[i]) {
        d->layer_end[i] = 1;
        d->layer_done[i] = d->layer_total[i];
        download_event(d, i, d->layer_done[i], d->layer_total[i], 1);
    }
}

static void on_apply(void *ud, uint64_t done, uint64_t total)
{
    docker_run *d = ud;
    /* the registry path's layers sum to d->total; the engine's export has
     * no size of its own (the pulled bytes are compressed) */
    uint64_t t = total || d->engine ? total : d->total;
    char a[SIZE_TEXT], b[SIZE_TEXT], msg[128];
    size_text(done, a);
    size_text(t, b);
    if (t)
        snprintf(msg, sizeof msg, "Applying layers [%s / %s]", a, b);
    else   /* the engine's export: no size known */
        snprintf(msg, sizeof msg, "Applying layers [%s]", a);
    int p = P_PULL_HI + (int)(t ? (uint64_t)(P_APPLY_HI - P_PULL_HI) * (done > t ? t : done) / t : 0);
    job_watch_progress(d->c->watch, p, msg);
}

/* Downloads stop when the job was taken over, the worker stops hard, or
 * job-max-duration is over; on the engine path also when the layers the
 * daemon announced are over docker-max-image-size. */
static hub_code on_cancel(void *ud, char *why, size_t n)
{
    docker_run *d = ud;
    job_ctx *c = d->c;
    if (job_watch_lost(c->watch)) {
        snprintf(why, n, "the job was taken over by another worker");
        return HUB_E_LOST;
    }
    if (atomic_load(&c->ws->hard_stop)) {
        snprintf(why, n, "the worker is stopping");
        return HUB_E_UNAVAILABLE;
    }
    uint64_t max_image = c->ws->cfg->docker_max_image_size;
    if (d->engine && max_image && d->total > max_image) {
        snprintf(why, n, "image layers over the limit: %llu bytes > docker-max-image-size %llu",
                 (unsigned long long)d->total, (unsigned long long)max_image);
        return HUB_E_TOO_LARGE;
    }
    int max_s = c->ws->cfg->job_max_duration;
    if (max_s && util_mono_ms() - c->started_ms > (int64_t)max_s * 1000) {
        snprintf(why, n, "the job ran longer than job-max-duration (%d s)", max_s);
        return HUB_E_TOO_LARGE;
    }
    return HUB_OK;
}

/* Engine path: the daemon at docker-socket pulls and exports the image
 * into w; info filled as the registry path does (no manifest or platform:
 * the daemon chose them). Returns 0 or -1 with err (docker_engine.h). */
static int build_engine(docker_run *d, flist_writer *w, const char *image, const char *user,
                        const char *pass, oci_convert_info *info, hub_err *err)
{
    d->layer_id = calloc(ENGINE_LAYERS_MAX, sizeof *d->layer_id);
    d->layer_done = calloc(ENGINE_LAYERS_MAX, sizeof *d->layer_done);
    d->layer_total = calloc(ENGINE_LAYERS_MAX, sizeof *d->layer_total);
    d->layer_end = calloc(ENGINE_LAYERS_MAX, 1);
    if (!d->layer_id || !d->layer_done || !d->layer_total || !d->layer_end)
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    d->t_phase[OCI_PHASE_RESOLVING] = d->t_phase[OCI_PHASE_PULLING] = util_mono_ms();
    job_watch_progress(d->c->watch, P_PULL_LO, "Downloading layers [0.0 KB / 0.0 KB]");
    docker_engine_opts eo = {
        .socket = d->c->ws->cfg->docker_socket,
        .username = user,
        .password = pass,
        .pull_progress = on_engine_pull,
        .pull_ud = d,
        .export_progress = on_apply,
        .export_ud = d,
        .cancelled = on_cancel,
        .cancel_ud = d,
    };
    /* the export is the one "layer" applied: its progress is "applying" */
    d->applying = 0;
    d->engine = 1;
    docker_engine_info ei;
    int rc = docker_engine_convert(w, image, &eo, &ei, err);
    d->t_phase[OCI_PHASE_APPLYING] = d->t_phase[OCI_PHASE_PULLING];
    snprintf(info->ref, sizeof info->ref, "%s", ei.image);
    info->manifest_digest[0] = info->platform[0] = '\0';
    info->layers = d->n_layers;
    info->layers_cached = 0;
    info->bytes = d->total;
    log_info("job %s: engine %s API %s: %s%s%s", d->c->id, eo.socket, ei.api_version, ei.image,
             ei.pulled ? " (pulled" : " (present", ei.pulled && !ei.image_removed
             ? ", NOT removed)" : ")");
    if (!ei.container_removed && rc == 0)
        log_warn("job %s: the container of %s was not removed", d->c->id, ei.image);
    return rc;
}

/* One conversion attempt into the staging file. Adds the bytes it stored
 * to *stored. Returns 0 or -1 with err; *retryable = 1 when it failed
 * after the registry part (the content backend may be what failed). */
static int build_once(job_ctx *c, const jobmsg_docker *in, const char *user, const char *pass,
                      const stage *st, flist_stats *stats, oci_convert_info *info,
                      uint64_t *stored, int *retryable, hub_err *err)
{
    const hub_config *cfg = c->ws->cfg;
    *retryable = 0;
    flist_writer_opts o = {
        .threads = c->ws->engine_threads,
        .backend = &cfg->backend_internal,
    };
    if (job_build_limits(c, *stored, &o.limits, err) != 0)
        return -1;
    flist_writer *w = flist_writer_new(&o, err);
    if (!w)
        return -1;
    docker_run d = { .c = c };
    char memo_dir[4096], memo_backend[512];
    snprintf(memo_dir, sizeof memo_dir, "%s/results", cfg->docker_layer_cache);
    snprintf(memo_backend, sizeof memo_backend, "%d:%s:%d/%s", (int)cfg->backend_internal.kind,
             cfg->backend_internal.host, cfg->backend_internal.port,
             cfg->backend_internal.namespace_);
    oci_convert_opts co = {
        .registry = {
            .platform = in->platform,
            .username = user,
            .password = pass,
            .creds_file = cfg->docker_credentials_file,
            .insecure = cfg->docker_insecure_registries,
            .n_insecure = cfg->n_docker_insecure_registries,
            .ca_file = cfg->docker_ca_file,
            .cache_dir = cfg->docker_layer_cache,
            .max_image_size = cfg->docker_max_image_size,
            .parallel = cfg->docker_parallel_downloads,
            .progress = on_download,
            .progress_ud = &d,
            .cancelled = on_cancel,
            .cancel_ud = &d,
        },
        .phase = on_phase,
        .phase_ud = &d,
        .apply_progress = on_apply,
        .apply_progress_ud = &d,
        .memo_dir = memo_dir,
        .memo_backend = memo_backend,
    };
    int rc = 0;
    char *pub = backend_url_public_json(&cfg->backend_public);
    if (!pub)
        rc = hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    if (rc == 0)
        rc = flist_writer_meta(w, "backend", pub, err);
    free(pub);
    if (rc == 0 && in->engine)
        rc = build_engine(&d, w, in->image, user, pass, info, err);
    else if (rc == 0)
        rc = oci_convert_registry(w, in->image, &co, info, err);
    *retryable = d.applying;
    if (rc == 0) {
        hub_err ev;
        if (job_watch_event(c->watch, P_UPLOAD, "Uploading chunks", &ev) != 0)
            log_warn("job %s: event: %s", c->id, ev.msg);
        int64_t t_finish = util_mono_ms();
        rc = flist_writer_finish(w, st->path, stats, err);
        log_info("job %s: resolve %lld ms, pull %lld ms, apply %lld ms, finish %lld ms", c->id,
                 (long long)(d.t_phase[OCI_PHASE_PULLING] - d.t_phase[OCI_PHASE_RESOLVING]),
                 (long long)(d.t_phase[OCI_PHASE_APPLYING] - d.t_phase[OCI_PHASE_PULLING]),
                 (long long)(t_finish - d.t_phase[OCI_PHASE_APPLYING]),
                 (long long)(util_mono_ms() - t_finish));
    }
    *stored += flist_writer_stored(w);
    flist_writer_free(w);
    free(d.layer_done);
    free(d.layer_total);
    free(d.layer_end);
    free(d.layer_id);
    return rc;
}

static int docker_run_job(job_ctx *c, const jobmsg_docker *inp, const char *user, const char *pass,
                          json_t **result, json_t **final_event, hub_err *err);

void job_docker_evict(const hub_config *cfg, const char *why)
{
    layer_evict_stats st;
    hub_err err;
    if (layer_evict(cfg->docker_layer_cache, cfg->docker_layer_cache_max, &st, &err) != 0)
        log_warn("layer cache (%s): %s", why, err.msg);
    else if (st.removed)
        log_info("layer cache (%s): %zu of %zu files removed (%llu of %llu bytes; bound %llu)",
                 why, st.removed, st.files, (unsigned long long)st.removed_bytes,
                 (unsigned long long)st.bytes, (unsigned long long)cfg->docker_layer_cache_max);
}

int job_docker(job_ctx *c, json_t **result, json_t **final_event, hub_err *err)
{
    jobmsg_docker in;
    if (jobmsg_docker_parse(c->input, c->user, &in, err) != 0 ||
        repo_name_check(in.repository, "repository", err) != 0)
        return -1;
    char *user = NULL, *pass = NULL;
    if (in.credentials && job_creds_open(c->q, in.credentials, &user, &pass, err) != 0)
        return -1;
    int rc = docker_run_job(c, &in, user, pass, result, final_event, err);
    job_creds_free_str(user);
    job_creds_free_str(pass);
    /* the key goes with the job's end; a job another worker took over
     * still needs it there */
    if (in.credentials && rc != JOB_ABANDONED && !(rc != 0 && err->code == HUB_E_LOST))
        job_creds_forget(c->q, in.credentials);
    job_docker_evict(c->ws->cfg, c->id);
    return rc;
}

/* The job once its input is read: convert, publish, reply. */
static int docker_run_job(job_ctx *c, const jobmsg_docker *inp, const char *user, const char *pass,
                          json_t **result, json_t **final_event, hub_err *err)
{
    const jobmsg_docker in = *inp;
    hub_err ev;
    if (job_watch_event(c->watch, 0, "Initializing docker converter", &ev) != 0)
        log_warn("job %s: event: %s", c->id, ev.msg);
    char msg[600];
    snprintf(msg, sizeof msg, "Resolving docker image: %s", in.image);
    job_watch_progress(c->watch, P_RESOLVE, msg);
    stage st;
    if (stage_open(&st, c->ws->cfg, in.repository, in.name, c->id, err) != 0)
        return -1;
    flist_stats stats;
    oci_convert_info info;
    memset(&info, 0, sizeof info);
    uint64_t stored = 0;
    int rc, retryable = 0;
    for (int attempt = 1;; attempt++) {
        if (job_watch_lost(c->watch)) {
            rc = JOB_ABANDONED;
            break;
        }
        rc = build_once(c, &in, user, pass, &st, &stats, &info, &stored, &retryable, err);
        if (rc == 0 || !retryable || !job_backend_retry(c, attempt, err))
            break;
    }
    job_count_stored(c, stored);
    if (rc == 0 && (job_watch_lost(c->watch) || job_watch_confirm(c->watch, err) != 0)) {
        log_warn("job %s: %s; not publishing", c->id, err->msg);
        rc = JOB_ABANDONED;
    }
    if (rc == 0) {
        if (job_watch_event(c->watch, P_PUBLISH, "Publishing", &ev) != 0)
            log_warn("job %s: event: %s", c->id, ev.msg);
        rc = stage_commit(&st, err);
    }
    stage_close(&st);
    if (rc != 0)
        return rc;

    json_t *stats_obj = job_putdir_stats(&stats);
    if (!stats_obj)
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    if (job_watch_event(c->watch, 100, "Image ready !", &ev) != 0)
        log_warn("job %s: event: %s", c->id, ev.msg);
    *result = json_pack("{sOsssssssssIsI}", "name", stats_obj, "file", in.name, "image", info.ref,
                        "manifest", info.manifest_digest, "platform", info.platform,
                        "layers", (json_int_t)info.layers, "layers_cached",
                        (json_int_t)info.layers_cached);
    *final_event = json_pack("{sss{sssssOs{}}}", "status", "info", "info", "status", "success",
                             "file", in.name, "flist", stats_obj, "timing");
    json_decref(stats_obj);
    if (!*result || !*final_event) {
        json_decref(*result);
        json_decref(*final_event);
        *result = *final_event = NULL;
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    }
    log_info("job %s: %s/%s published from %s (%s, %zu layers, %zu cached): %llu files, "
             "%llu chunks uploaded", c->id, in.repository, in.name, info.ref, info.manifest_digest,
             info.layers, info.layers_cached, (unsigned long long)stats.regular,
             (unsigned long long)stats.chunks_uploaded);
    return 0;
}
