/* flist_replies.c - the replies computed from an flist (flist_replies.h). */
#include "flist_replies.h"

#include <stdlib.h>
#include <string.h>

#include "flist_json.h"

char *flist_reply_dump(const json_t *v, size_t *len)
{
    /* jansson without JSON_COMPACT separates with ", " and ": " like
     * Python's json.dumps; JSON_ENSURE_ASCII gives the \uXXXX escapes. */
    char *text = json_dumps(v, JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
    if (!text)
        return NULL;
    size_t n = strlen(text);
    char *out = realloc(text, n + 2);
    if (!out) {
        free(text);
        return NULL;
    }
    out[n] = '\n';
    out[n + 1] = '\0';
    if (len)
        *len = n + 1;
    return out;
}

/* Dumps v (consumed) or fails with "out of memory". */
static char *dump_take(json_t *v, size_t *len, hub_err *err)
{
    char *text = flist_reply_dump(v, len);
    json_decref(v);
    if (!text)
        hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    return text;
}

char *flist_reply_contents(flist *f, size_t *len, hub_err *err)
{
    int rc = 0;
    json_t *v = flist_json_find(f, "/", 0, &rc, err);
    if (!v)
        return NULL;
    return dump_take(v, len, err);
}

char *flist_reply_metadata(flist *f, const backend_url *public_backend, int *uses_public_backend,
                           size_t *len, hub_err *err)
{
    char **names = NULL;
    size_t n = 0;
    if (flist_meta_names(f, &names, &n, err) < 0)
        return NULL;
    json_t *o = json_object();
    if (!o) {
        flist_strv_free(names, n);
        hub_err_setc(err, HUB_E_NOMEM, "out of memory");
        return NULL;
    }
    int has_backend = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = 0;
        json_t *m = flist_json_metadata(f, names[i], &rc, err);
        json_t *val = m ? json_object_get(m, "value") : NULL;
        json_object_set(o, names[i], val ? val : json_null());
        json_decref(m);
        if (strcmp(names[i], "backend") == 0)
            has_backend = 1;
    }
    flist_strv_free(names, n);
    *uses_public_backend = !has_backend;
    if (!has_backend)
        json_object_set_new(o, "backend-forced",
                            json_pack("{s:s, s:i, s:s}", "host", public_backend->host,
                                      "port", public_backend->port,
                                      "namespace", public_backend->namespace_));
    return dump_take(o, len, err);
}
