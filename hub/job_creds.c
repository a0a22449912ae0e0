/* job_creds.c - sealed per-request registry credentials (job_creds.h). */
#include "job_creds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "queue_run.h"

#define REF_BYTES 16
#define REF_HEX (REF_BYTES * 2)
#define KEY_NAME_MAX (sizeof JOB_CREDS_KEY_PREFIX + REF_HEX + 1)
#define KEY_HEX (crypto_secretbox_KEYBYTES * 2)
#define BOX_TEXT_MAX (4 * JOB_CREDS_FIELD_MAX)

void job_creds_free_str(char *s)
{
    if (s) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}

/* "hub:secret:<ref>" for a valid ref (32 lower-case hex). */
static int key_name(const char *ref, char out[KEY_NAME_MAX])
{
    if (!ref || strlen(ref) != REF_HEX)
        return -1;
    for (const char *p = ref; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return -1;
    snprintf(out, KEY_NAME_MAX, "%s%s", JOB_CREDS_KEY_PREFIX, ref);
    return 0;
}

json_t *job_creds_seal(queue *q, const char *username, const char *password, int ttl_s,
                       hub_err *err)
{
    if (!username || !password || strlen(username) > JOB_CREDS_FIELD_MAX ||
        strlen(password) > JOB_CREDS_FIELD_MAX) {
        hub_err_setc(err, HUB_E_INVALID, "registry credentials: at most %d bytes each",
                     JOB_CREDS_FIELD_MAX);
        return NULL;
    }
    if (sodium_init() < 0) {
        hub_err_set(err, "libsodium initialisation failed");
        return NULL;
    }
    json_t *plain = json_pack("{ssss}", "username", username, "password", password);
    char *text = plain ? json_dumps(plain, JSON_COMPACT) : NULL;
    json_decref(plain);
    if (!text) {
        hub_err_setc(err, HUB_E_INVALID, "registry credentials: not valid UTF-8");
        return NULL;
    }
    size_t tl = strlen(text);
    size_t boxlen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + tl;
    unsigned char key[crypto_secretbox_KEYBYTES], ref[REF_BYTES];
    unsigned char *box = malloc(boxlen);
    size_t b64len = sodium_base64_ENCODED_LEN(boxlen, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64len);
    json_t *out = NULL;
    if (!box || !b64) {
        hub_err_setc(err, HUB_E_NOMEM, "out of memory");
        goto done;
    }
    randombytes_buf(key, sizeof key);
    randombytes_buf(ref, sizeof ref);
    randombytes_buf(box, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, (unsigned char *)text, tl, box, key);
    sodium_bin2base64(b64, b64len, box, boxlen, sodium_base64_VARIANT_ORIGINAL);
    char ref_hex[REF_HEX + 1], key_hex[KEY_HEX + 1], name[KEY_NAME_MAX], ttl[24];
    sodium_bin2hex(ref_hex, sizeof ref_hex, ref, sizeof ref);
    sodium_bin2hex(key_hex, sizeof key_hex, key, sizeof key);
    key_name(ref_hex, name);
    snprintf(ttl, sizeof ttl, "%d", ttl_s > 0 ? ttl_s : 1);
    const char *argv[] = {"SET", name, key_hex, "EX", ttl};
    redisReply *r = queue_run(q, err, 5, argv);
    sodium_memzero(key_hex, sizeof key_hex);
    if (!r)
        goto done;
    freeReplyObject(r);
    out = json_pack("{ssss}", "ref", ref_hex, "box", b64);
    if (!out)
        hub_err_setc(err, HUB_E_NOMEM, "out of memory");
done:
    sodium_memzero(key, sizeof key);
    sodium_memzero(text, tl);
    free(text);
    free(box);
    free(b64);
    return out;
}

int job_creds_open(queue *q, const json_t *sealed, char **username, char **password,
                   hub_err *err)
{
    *username = *password = NULL;
    const char *ref = json_string_value(json_object_get(sealed, "ref"));
    const char *b64 = json_string_value(json_object_get(sealed, "box"));
    char name[KEY_NAME_MAX];
    if (!b64 || key_name(ref, name) != 0 || strlen(b64) > BOX_TEXT_MAX)
        return hub_err_setc(err, HUB_E_INVALID, "job input: malformed registry credentials");
    const char *argv[] = {"GET", name};
    redisReply *r = queue_run(q, err, 2, argv);
    if (!r)
        return -1;
    unsigned char key[crypto_secretbox_KEYBYTES];
    size_t kl = 0;
    int ok = r->type == REDIS_REPLY_STRING && r->len == KEY_HEX &&
             sodium_hex2bin(key, sizeof key, r->str, r->len, NULL, &kl, NULL) == 0 &&
             kl == sizeof key;
    if (r->type == REDIS_REPLY_STRING)
        sodium_memzero(r->str, r->len);
    freeReplyObject(r);
    if (!ok)
        return hub_err_setc(err, HUB_E_INVALID, "the registry credentials of this job have "
                            "expired: submit the conversion again");
    size_t cap = strlen(b64), bl = 0;
    unsigned char *box = malloc(cap + 1);
    unsigned char *plain = malloc(cap + 1);
    int rc = -1;
    if (!box || !plain) {
        hub_err_setc(err, HUB_E_NOMEM, "out of memory");
        goto done;
    }
    if (sodium_base642bin(box, cap, b64, strlen(b64), NULL, &bl, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        bl < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES ||
        crypto_secretbox_open_easy(plain, box + crypto_secretbox_NONCEBYTES,
                                   bl - crypto_secretbox_NONCEBYTES, box, key) != 0) {
        hub_err_setc(err, HUB_E_INVALID, "job input: damaged registry credentials");
        goto done;
    }
    size_t pl = bl - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
    json_t *j = json_loadb((char *)plain, pl, 0, NULL);
    sodium_memzero(plain, pl);
    const char *u = json_string_value(json_object_get(j, "username"));
    const char *p = json_string_value(json_object_get(j, "password"));
    if (u && p) {
        *username = strdup(u);
        *password = strdup(p);
    }
    if (j) {   /* wipe jansson's copies */
        json_t *s;
        if ((s = json_object_get(j, "password")) && json_string_value(s))
            sodium_memzero((char *)json_string_value(s), json_string_length(s));
    }
    json_decref(j);
    if (!*username || !*password) {
        job_creds_free_str(*username);
        job_creds_free_str(*password);
        *username = *password = NULL;
        hub_err_setc(err, HUB_E_INVALID, "job input: damaged registry credentials");
        goto done;
    }
    rc = 0;
done:
    sodium_memzero(key, sizeof key);
    free(box);
    free(plain);
    return rc;
}

void job_creds_forget(queue *q, const json_t *sealed)
{
    char name[KEY_NAME_MAX];
    if (key_name(json_string_value(json_object_get(sealed, "ref")), name) != 0)
        return;
    const char *argv[] = {"DEL", name};
    hub_err err;
    redisReply *r = queue_run(q, &err, 2, argv);
    if (r)
        freeReplyObject(r);
}
