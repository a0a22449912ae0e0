/* job_creds.h - per-request registry credentials of a docker-convert job,
 * handed from the api to the worker without being stored in clear: the
 * api seals {"username", "password"} with a fresh random key
 * (crypto_secretbox) and puts only the ciphertext in the job's input; the
 * key goes into its own Redis key hub:secret:<ref> that expires (and that
 * the worker deletes when the job ends). Once the key is gone the
 * ciphertext is useless; the job status route never shows it.
 *
 * The sealed form in the job input: {"ref": "<32 hex>", "box": "<base64
 * of nonce || ciphertext>"}.
 */
#ifndef HUB_JOB_CREDS_H
#define HUB_JOB_CREDS_H

#include <jansson.h>

#include "hub_err.h"
#include "queue.h"

#define JOB_CREDS_KEY_PREFIX "hub:secret:"
#define JOB_CREDS_FIELD_MAX 1024   /* bytes of a user name or a password */

/* Seals the credentials, storing the key for ttl_s seconds. Returns the
 * sealed object (new reference), or NULL with err (HUB_E_INVALID for a
 * field over JOB_CREDS_FIELD_MAX or holding a NUL, the queue's errors). */
json_t *job_creds_seal(queue *q, const char *username, const char *password, int ttl_s,
                       hub_err *err);

/* Opens sealed credentials: *username and *password are new strings the
 * caller frees with job_creds_free_str (which wipes them). Returns 0, or
 * -1 with err: HUB_E_INVALID when the key expired or the box is damaged. */
int job_creds_open(queue *q, const json_t *sealed, char **username, char **password,
                   hub_err *err);

/* Deletes the key of sealed credentials (the job is over). Errors are
 * ignored: the key expires anyway. */
void job_creds_forget(queue *q, const json_t *sealed);

/* Wipes and frees a string of job_creds_open. NULL ok. */
void job_creds_free_str(char *s);

#endif
