/* upload.h - multipart/form-data request bodies streamed to a spool file in
 * the upload directory (never held in memory), with the size limit, the
 * first file part named "file" and the metadata-* form fields. */
#ifndef API_UPLOAD_H
#define API_UPLOAD_H

#include <stdint.h>

#include "api.h"

struct api_upload {
    struct MHD_PostProcessor *pp;
    int fd;                   /* spool file, -1 when none */
    char *spool_path;         /* absolute path of the spool file */
    int kept;                 /* handed to a job: do not unlink */
    int has_file;             /* a part named "file" with a filename param */
    char *filename;           /* its filename ("" allowed) */
    int in_file;              /* currently writing the first file part */
    int file_done;            /* the first file part ended */
    uint64_t bytes;           /* file bytes written */
    uint64_t body_bytes;      /* body bytes received */
    json_t *metadata;         /* {"key": "value"} of metadata-<key> fields */
    size_t meta_bytes;
    json_t *fields;           /* other small fields {"name": "value"} */
    int too_large;            /* the body passed max-upload-size */
    int bad;                  /* malformed or too many fields */
    char error[256];
};

/* Prepares r->upload for a multipart body: checks Content-Length against
 * the limit, opens the spool file. Returns 0, or -1 with err (code
 * HUB_E_TOO_LARGE, or a server failure). A body that is not multipart is
 * accepted and discarded (the handler answers "no file found"). */
int upload_begin(api_req *r, hub_err *err);

/* Feeds body bytes. Returns 0, or -1 with err: HUB_E_TOO_LARGE past
 * max-upload-size, HUB_E_INVALID for a malformed body or too many or too
 * large fields, another code for a server failure. */
int upload_feed(api_req *r, const char *data, size_t size, hub_err *err);

/* Ends the body (flushes, closes the spool file). Returns 0 or -1 with err. */
int upload_end(api_req *r, hub_err *err);

/* Removes the spool file now (a refused upload), before the reply goes
 * out. No-op when kept or already removed. NULL ok. */
void upload_discard(api_upload *u);

/* Frees (unlinks the spool file unless kept). NULL ok. */
void upload_free(api_upload *u);

/* A form field parser for small application/x-www-form-urlencoded or
 * multipart bodies already in memory (docker `image`): returns a malloc'ed
 * value or NULL. */
char *form_field(api_req *r, const char *name);

#endif
