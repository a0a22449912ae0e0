/* flist_json.h - zflist's JSON shapes (FLIST-FORMAT.md §10.1) built from an
 * open flist, shared by the `flist` command and the api.
 *
 * Each builder returns a new jansson object (the "response" value, without
 * the {"success","error","response"} envelope) or NULL with err set; the
 * return code convention of flist.h applies through *rc when not NULL
 * (FLIST_ENOENT for a missing path). Key order equals zflist's, so
 * json_dumps(v, 0) prints exactly what zflist prints.
 */
#ifndef FLIST_JSON_H
#define FLIST_JSON_H

#include <jansson.h>

#include "flist.h"

/* {"content": [{"size","path"}...], "regular", "symlink", "directory",
 *  "special", "failure": failures, "fullsize"} from a walk of `path`. */
json_t *flist_json_find(flist *f, const char *path, uint64_t failures, int *rc, hub_err *err);

/* [{"name","type","size","user","uid","group","gid"}...] of a directory. */
json_t *flist_json_ls(flist *f, const char *path, int *rc, hub_err *err);

/* {"file","size","mode","user","uid","group","gid","created","modified",
 *  ["linkto"], ["device"], "chunks": [{"key","decipher"}...]} of one entry. */
json_t *flist_json_stat(flist *f, const char *path, int *rc, hub_err *err);

/* Without name: ["backend", ...]. With name: {"metadata": name, "value": V}
 * where V is parsed JSON when the text is an object or array, else the
 * string. */
json_t *flist_json_metadata(flist *f, const char *name, int *rc, hub_err *err);

/* {"content": ["<hex id>", ...]}: every chunk of every file, depth-first. */
json_t *flist_json_chunks(flist *f, int *rc, hub_err *err);

/* The zflist type word of an inode: "directory", "regular file", "symlink",
 * "unix socket", "block device", "character device", "fifo", "unknown". */
const char *flist_type_word(const flist_inode *ino);

/* Wraps a response: {"success": true, "error": null, "response": v}
 * (steals v). */
json_t *flist_json_envelope(json_t *response);

/* {"success": false, "error": {"function": fn, "message": msg},
 *  "response": {}} */
json_t *flist_json_error(const char *fn, const char *msg);

#endif
