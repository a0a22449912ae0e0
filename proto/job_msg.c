/* job_msg.c - the job kinds and the input JSON of each kind (job_msg.h). */
#include "job_msg.h"

#include <string.h>

/* The keys of the input objects. */
#define KEY_FILE "file"
#define KEY_FILENAME "filename"
#define KEY_NAME "name"
#define KEY_REPOSITORY "repository"
#define KEY_EXTENSION "extension"
#define KEY_METADATA "metadata"
#define KEY_SOURCES "sources"
#define KEY_IMAGE "image"
#define KEY_PLATFORM "platform"
#define KEY_CREDENTIALS "credentials"
#define KEY_PATH "path"
#define PATH_ENGINE "engine"
#define PATH_REGISTRY "registry"

static const char *const KIND_NAMES[JOBMSG_KIND_COUNT] = {
    [JOBMSG_UPLOAD] = "upload",
    [JOBMSG_UPLOAD_FLIST] = "upload-flist",
    [JOBMSG_MERGE] = "merge",
    [JOBMSG_DOCKER] = "docker-convert",
};

const char *jobmsg_kind_name(jobmsg_kind k)
{
    return (unsigned)k < JOBMSG_KIND_COUNT ? KIND_NAMES[k] : NULL;
}

int jobmsg_kind_parse(const char *name, jobmsg_kind *out, hub_err *err)
{
    for (unsigned k = 0; name && k < JOBMSG_KIND_COUNT; k++) {
        if (strcmp(name, KIND_NAMES[k]) == 0) {
            *out = (jobmsg_kind)k;
            return 0;
        }
    }
    return hub_err_setc(err, HUB_E_INVALID, "job type \"%s\" is not supported by this worker",
                        name ? name : "");
}

int jobmsg_meta_protected(const char *name)
{
    static const char *const protected_names[] = {
        "readme", "backend", "entrypoint", "environ", "port", "volume",
    };
    for (size_t i = 0; i < sizeof protected_names / sizeof protected_names[0]; i++)
        if (strcmp(name, protected_names[i]) == 0)
            return 1;
    return 0;
}

int jobmsg_spool_name_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n > 0 && n <= 255 && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* Sets key to a new string of value (skipped when value is NULL); returns 0
 * or -1 (invalid UTF-8, out of memory). */
static int set_str(json_t *o, const char *key, const char *value)
{
    if (!value)
        return 0;
    json_t *s = json_string(value);
    return s ? json_object_set_new(o, key, s) : -1;
}

json_t *jobmsg_upload_build(jobmsg_kind kind, const jobmsg_upload *in)
{
    json_t *o = json_object();
    if (!o || set_str(o, KEY_FILE, in->spool) || set_str(o, KEY_FILENAME, in->filename) ||
        set_str(o, KEY_NAME, in->name) || set_str(o, KEY_REPOSITORY, in->repository))
        goto fail;
    if (kind == JOBMSG_UPLOAD) {
        json_t *meta = in->metadata ? json_deep_copy(in->metadata) : json_object();
        if (set_str(o, KEY_EXTENSION, in->extension) || !meta ||
            json_object_set_new(o, KEY_METADATA, meta) != 0)
            goto fail;
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}

/* The string at key, or NULL (then err names the key) when absent or not a
 * string. */
static const char *get_str(const json_t *o, const char *key, hub_err *err)
{
    const char *v = json_string_value(json_object_get(o, key));
    if (!v)
        hub_err_setc(err, HUB_E_INVALID, "job input has no %s", key);
    return v;
}

/* The repository of a job: "repository", else the job's user. */
static const char *get_repository(const json_t *o, const char *user, hub_err *err)
{
    const char *r = jobmsg_repository(o, user);
    if (!r || !*r)
        hub_err_setc(err, HUB_E_INVALID, "job has no repository");
    return r && *r ? r : NULL;
}

int jobmsg_upload_parse(jobmsg_kind kind, const json_t *input, const char *user,
                        jobmsg_upload *out, hub_err *err)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(input))
        return hub_err_setc(err, HUB_E_INVALID, "job input is not a JSON object");
    if (!(out->repository = get_repository(input, user, err)) ||
        !(out->name = get_str(input, KEY_NAME, err)) ||
        !(out->spool = get_str(input, KEY_FILE, err)))
        return -1;
    out->filename = json_string_value(json_object_get(input, KEY_FILENAME));
    if (kind != JOBMSG_UPLOAD)
        return 0;
    out->extension = json_string_value(json_object_get(input, KEY_EXTENSION));
    json_t *meta = json_object_get(input, KEY_METADATA);
    if (meta && !json_is_object(meta))
        return hub_err_setc(err, HUB_E_INVALID, "job input: metadata is not an object");
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v) {
        if (!json_is_string(v))
            return hub_err_setc(err, HUB_E_INVALID, "job input: metadata %s is not a string", k);
    }
    out->metadata = meta;
    return 0;
}

json_t *jobmsg_merge_build(const jobmsg_merge *in)
{
    json_t *o = json_object();
    json_t *src = in->sources ? json_deep_copy(in->sources) : NULL;
    if (!o || !src || json_object_set_new(o, KEY_SOURCES, src) != 0 ||
        set_str(o, KEY_NAME, in->name) || set_str(o, KEY_REPOSITORY, in->repository)) {
        if (!o)
            json_decref(src);
        json_decref(o);
        return NULL;
    }
    return o;
}

int jobmsg_merge_parse(const json_t *input, const char *user, jobmsg_merge *out, hub_err *err)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(input))
        return hub_err_setc(err, HUB_E_INVALID, "job input is not a JSON object");
    if (!(out->repository = get_repository(input, user, err)))
        return -1;
    json_t *sources = json_object_get(input, KEY_SOURCES);
    if (!json_is_array(sources))
        return hub_err_setc(err, HUB_E_INVALID, "malformed json request");
    if (json_array_size(sources) == 0)
        return hub_err_setc(err, HUB_E_INVALID, "no source found");
    size_t i;
    json_t *el;
    json_array_foreach(sources, i, el) {
        const char *s = json_string_value(el);
        if (!s)
            return hub_err_setc(err, HUB_E_INVALID, "malformed json request");
        if (!strchr(s, '/'))
            return hub_err_setc(err, HUB_E_INVALID, "malformed source filename");
    }
    out->sources = sources;
    out->name = json_string_value(json_object_get(input, KEY_NAME));
    if (!out->name || !*out->name)
        return hub_err_setc(err, HUB_E_INVALID, "missing build (target) name");
    if (strchr(out->name, '/'))
        return hub_err_setc(err, HUB_E_INVALID, "build name not allowed");
    return 0;
}

json_t *jobmsg_docker_build(const jobmsg_docker *in)
{
    json_t *o = json_object();
    if (!o || set_str(o, KEY_IMAGE, in->image) || set_str(o, KEY_NAME, in->name) ||
        set_str(o, KEY_REPOSITORY, in->repository) || set_str(o, KEY_PLATFORM, in->platform) ||
        (in->credentials && json_object_set(o, KEY_CREDENTIALS, in->credentials) != 0) ||
        (in->engine && set_str(o, KEY_PATH, PATH_ENGINE))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int jobmsg_docker_parse(const json_t *input, const char *user, jobmsg_docker *out, hub_err *err)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(input))
        return hub_err_setc(err, HUB_E_INVALID, "job input is not a JSON object");
    if (!(out->repository = get_repository(input, user, err)) ||
        !(out->name = get_str(input, KEY_NAME, err)))
        return -1;
    out->image = json_string_value(json_object_get(input, KEY_IMAGE));
    if (!out->image || !*out->image)
        return hub_err_setc(err, HUB_E_INVALID, "missing docker image name");
    json_t *p = json_object_get(input, KEY_PLATFORM);
    if (p && !json_is_string(p))
        return hub_err_setc(err, HUB_E_INVALID, "job input: platform is not a string");
    out->platform = json_string_value(p);
    json_t *cr = json_object_get(input, KEY_CREDENTIALS);
    if (cr && !json_is_object(cr))
        return hub_err_setc(err, HUB_E_INVALID, "job input: credentials is not an object");
    out->credentials = cr;
    json_t *w = json_object_get(input, KEY_PATH);
    const char *path = json_string_value(w);
    if (w && (!path || (strcmp(path, PATH_ENGINE) != 0 && strcmp(path, PATH_REGISTRY) != 0)))
        return hub_err_setc(err, HUB_E_INVALID, "job input: path is not \"registry\" or "
                            "\"engine\"");
    out->engine = path && strcmp(path, PATH_ENGINE) == 0;
    return 0;
}

const char *jobmsg_repository(const json_t *input, const char *user)
{
    json_t *v = json_object_get(input, KEY_REPOSITORY);
    return v ? json_string_value(v) : user;
}

const char *jobmsg_spool(const json_t *input)
{
    return json_string_value(json_object_get(input, KEY_FILE));
}
