/* repo.h - the repository directory (HUB-API.md §11): the one name rule,
 * listings and the classification of entries, and every change the API makes
 * to it (links, cross-links, cross-tags, tags, rename, promote, delete).
 *
 * Safety rules (HUB-API.md §16 D1-D8, D15, D39, D43; ARCHITECTURE.md
 * "Decisions"):
 *  - every name from a request goes through repo_name_check (or the helpers
 *    built on it) before it touches the filesystem;
 *  - all paths are resolved relative to descriptors (*at() calls), never
 *    through the process working directory (D15);
 *  - the caller's own repository and tag directories are opened with
 *    O_NOFOLLOW (D2); reads of public content use openat2(RESOLVE_BENEATH),
 *    so a link can never lead a read outside the public directory (D4);
 *  - links are created under a temporary ".tmp-<random>" name and renamed
 *    into place, so a change is atomic and never writes through an existing
 *    link (D1); a regular file is never replaced by a link;
 *  - the repository directory's mtime is touched after each change (D43).
 *
 * Functions return 0 on success, or -1 with err holding the reply's message
 * (the original's text where the original has one) and its code: an invalid
 * name is HUB_E_INVALID, a missing repository, tag or entry HUB_E_NOT_FOUND,
 * a conflict (would overwrite, a loop, a directory in the way)
 * HUB_E_EXISTS, the original's one 401 HUB_E_UNAUTHORIZED, an I/O failure
 * HUB_E_FAILED with a message naming the operation. The api turns codes
 * into HTTP statuses (api/errors.c); this layer knows nothing of HTTP.
 */
#ifndef REPO_H
#define REPO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "hub_err.h"

#define REPO_NAME_MAX 255

/* ---------------- names ---------------- */

/* The one rule for repository, flist, tag and link names: 1-255 bytes of
 * valid UTF-8, no '/', '\', NUL or control characters (C0, DEL, C1), not
 * starting with '.'. `what` names the input in the message ("name",
 * "repository", "tag", ...). Returns 0, or -1 with err = "invalid <what>
 * \"<name, escaped>\": <reason>". */
int repo_name_check(const char *name, const char *what, hub_err *err);

/* N() of HUB-API.md §1 after the name rule: out = name, with ".flist"
 * appended unless it already ends so; the result must fit 255 bytes.
 * out has REPO_NAME_MAX + 1 bytes. Returns 0 or -1 with err. */
int repo_flist_name(const char *name, const char *what, char *out, hub_err *err);

/* 1 when name is a route word that cannot become a repository name (D23):
 * me, api, static, token, listen, search, upload, merge, login, ... */
int repo_name_reserved(const char *name);

/* clean_symlink of HUB-API.md §11.5: removes every "../", then replaces
 * every ".tag-" with "tags/". Returns a malloc'ed string or NULL. */
char *repo_clean_target(const char *link_text);

/* Formats a listing size: "%.2f KB" of bytes/1024 (§11.6) into out. */
void repo_format_size(uint64_t bytes, char *out, size_t n);

/* ---------------- the store ---------------- */

typedef struct repo_store repo_store;

/* Opens the public directory (which must exist). Returns NULL with err. */
repo_store *repo_store_open(const char *public_dir, hub_err *err);

/* Closes. NULL ok. */
void repo_store_close(repo_store *s);

/* The public directory's descriptor (owned by the store). */
int repo_store_fd(const repo_store *s);

/* ---------------- reading ---------------- */

/* 1 when <public>/<repo> is a directory (links followed, the original's
 * test), 0 otherwise (also for an invalid name). Fills *st when not NULL. */
int repo_exists(const repo_store *s, const char *repo, struct stat *st);

typedef enum repo_entry_type {
    REPO_ENTRY_REGULAR = 0,
    REPO_ENTRY_SYMLINK,
    REPO_ENTRY_TAGLINK,
    REPO_ENTRY_TAG,
} repo_entry_type;

/* "regular", "symlink", "taglink", "tag". */
const char *repo_entry_type_name(repo_entry_type t);

/* One listed entry (§5.4, §11.4). */
typedef struct repo_entry {
    char *name;            /* for tags: without ".tag-" */
    repo_entry_type type;
    uint64_t size;         /* bytes (tags: 0) */
    int64_t updated;       /* seconds */
    int64_t linktime;      /* links only */
    char *target;          /* links only: clean_symlink(link text) */
} repo_entry;

/* Lists <public>/<repo> (§5.4) in byte order. Skips names starting with '.'
 * except real .tag-<tag> directories (D39), and directories that are not
 * tags. Returns 0 with *out (free with repo_entries_free), or -1 with err
 * (HUB_E_NOT_FOUND when the repository is not a directory). */
int repo_list(const repo_store *s, const char *repo, repo_entry **out, size_t *n,
              hub_err *err);

/* Lists the tag <repo>/.tag-<tag> (§5.5): symlinks only, type "symlink",
 * target cleaned. Returns 0, or -1 with err (HUB_E_NOT_FOUND: repository or
 * tag missing). */
int repo_list_tag(const repo_store *s, const char *repo, const char *tag,
                  repo_entry **out, size_t *n, hub_err *err);

void repo_entries_free(repo_entry *e, size_t n);

/* One repository of /api/repositories (§5.1). */
typedef struct repo_info {
    char *name;
    int64_t updated;       /* lstat mtime */
} repo_info;

/* The repositories in byte order: directories after following links, hidden
 * names skipped (D39). Returns 0 with *out (free with repo_infos_free) or
 * -1 with err. A missing public directory gives an empty list. */
int repo_list_repositories(const repo_store *s, repo_info **out, size_t *n, hub_err *err);

void repo_infos_free(repo_info *r, size_t n);

/* The raw entry names of a repository for /api/flist (§5.2), with the same
 * hidden-name rule as repo_list (tag directories kept, other directories
 * kept as the original does). Free with repo_names_free. Returns 0 or -1
 * with err (HUB_E_NOT_FOUND). */
int repo_list_names(const repo_store *s, const char *repo, char ***out, size_t *n,
                    hub_err *err);

void repo_names_free(char **v, size_t n);

/* What /light, the downloads and the inspection routes need about one entry
 * <repo>/<name> (name already normalised, or a tag path). */
typedef struct repo_lookup {
    int is_link;           /* the entry itself is a symlink */
    struct stat lst;       /* lstat of the entry */
    int has_target;        /* the final target exists (links followed
                              within the public directory) */
    struct stat tst;       /* stat of the final target */
    char link_text[4096];  /* raw link text when is_link */
} repo_lookup;

/* Looks up <public>/<repo>/<name> (tag: when not NULL, the entry is
 * <repo>/.tag-<tag>/<name>). Returns 0 when the entry exists as a file or a
 * symlink (a dangling link counts); -1 with err HUB_E_NOT_FOUND when missing
 * ("source not found"; "user not found" when the repository is not a
 * directory) or HUB_E_INVALID for an invalid name. */
int repo_lookup_entry(const repo_store *s, const char *repo, const char *tag,
                      const char *name, repo_lookup *out, hub_err *err);

/* Opens the final target of <repo>[/.tag-<tag>]/<name> for reading,
 * following links but never leaving the public directory (RESOLVE_BENEATH).
 * Returns the descriptor (O_CLOEXEC) with *st filled, or -1 with err when it
 * is missing, dangling, escapes, or is not a regular file. */
int repo_open_target(const repo_store *s, const char *repo, const char *tag,
                     const char *name, struct stat *st, hub_err *err);

/* ---------------- changes (the caller's repository `me`) ----------------
 * `me` has passed authentication; it is still checked with the name rule.
 * Names are the raw route variables: these functions apply N() and the rule
 * themselves (with the messages of HUB-API.md §6). */

/* Creates <public>/<me> when missing (refusing reserved names). Returns 0,
 * or -1 with err: HUB_E_INVALID (invalid or reserved), HUB_E_EXISTS (a link
 * or not a directory is there), HUB_E_FAILED. */
int repo_ensure(repo_store *s, const char *me, hub_err *err);

/* §6.2 DELETE /api/flist/me/<name>. */
int repo_delete(repo_store *s, const char *me, const char *name, hub_err *err);

/* §6.3 link: M/N(link) -> N(source). D7: HUB_E_EXISTS when link == source
 * or the link would make a loop. */
int repo_link(repo_store *s, const char *me, const char *source, const char *linkname,
              hub_err *err);

/* §6.4 crosslink: M/N(link) -> ../<repo>/N(source). Creates M (D16). */
int repo_crosslink(repo_store *s, const char *me, const char *linkname, const char *repo,
                   const char *source, hub_err *err);

/* §6.5 crosstag: M/<link> -> ../<repo>/.tag-<tag>. Creates M (D16). */
int repo_crosstag(repo_store *s, const char *me, const char *linkname, const char *repo,
                  const char *tag, hub_err *err);

/* D24: removes the cross-tag link M/<link> (must be a link to a tag).
 * HUB_E_NOT_FOUND "source not found" when there is none. */
int repo_crosstag_delete(repo_store *s, const char *me, const char *linkname,
                         const char *repo, const char *tag, hub_err *err);

/* §6.6 tag add: M/.tag-<tag>/N(link) -> ../../<repo>/N(source). */
int repo_tag_add(repo_store *s, const char *me, const char *tag, const char *linkname,
                 const char *repo, const char *source, hub_err *err);

/* §6.6 tag delete (D8 fixed: only the tag entry is checked; when it points
 * elsewhere than <repo>/N(source) it is HUB_E_EXISTS). Removes the tag
 * directory when it becomes empty. */
int repo_tag_delete(repo_store *s, const char *me, const char *tag, const char *linkname,
                    const char *repo, const char *source, hub_err *err);

/* §6.7 rename (D6 fixed: HUB_E_EXISTS when the destination exists). */
int repo_rename(repo_store *s, const char *me, const char *source, const char *dest,
                hub_err *err);

/* §6.8 promote: copies the content of <repo>/N(source) (links followed
 * inside the public directory) to M/N(local) as a new regular file
 * (temporary file, fsync, rename: an existing link there is replaced, never
 * written through, D1). Fills the normalised names when not NULL. */
int repo_promote(repo_store *s, const char *me, const char *repo, const char *source,
                 const char *local, char *src_norm, char *local_norm, hub_err *err);

/* Opens <public>/<me> for writing (O_NOFOLLOW, created when missing):
 * returns the directory descriptor (caller closes) or -1 with err (as
 * repo_ensure). For publishing files (uploads, merge) with the *at()
 * calls. */
int repo_open_own(repo_store *s, const char *me, hub_err *err);

/* Touches the repository directory's mtime (D43). Errors are ignored. */
void repo_touch(repo_store *s, const char *me);

#endif
