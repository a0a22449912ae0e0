/* inspect.h - what the public routes compute from flist files, cached by
 * file identity (dev, ino, size, mtime): the MD5 of a file, the zflist
 * `find` JSON and the metadata object of an flist (engine, no process). */
#ifndef API_INSPECT_H
#define API_INSPECT_H

#include <sys/stat.h>

#include "api.h"

/* Lower-case hex MD5 of the open regular file fd (stat st) into out[33],
 * from the cache or computed (reads the whole file once). Returns 0 or -1
 * with err. The descriptor's offset is not used (pread). */
int inspect_md5(api_server *s, int fd, const struct stat *st, char out[33], hub_err *err);

/* Replies to GET /api/flist/<repo>/<name> (§5.6 GET) for repo and the raw
 * name (checks, 404 envelopes, contents from the engine). */
enum MHD_Result inspect_contents(api_req *r, const char *repo, const char *name);

/* Replies with the /light object (§5.7) for repo and the raw name. */
enum MHD_Result inspect_light(api_req *r, const char *repo, const char *name);

/* Replies with an E-JSON reply cached under key for identity ident when
 * present; returns 1 when it replied (ret set). */
int inspect_cached_reply(api_req *r, const char *key, const struct stat *ident_st, int64_t max_age_ms,
                         enum MHD_Result *ret);

/* Stores text as a shared response under key and replies with it. */
enum MHD_Result inspect_store_reply(api_req *r, const char *key, const struct stat *ident_st,
                                    int status, char *text, size_t len);

/* An envelope error for a refused name (400) or a lookup status. */
enum MHD_Result inspect_name_error(api_req *r, int status, const char *msg);

#endif
