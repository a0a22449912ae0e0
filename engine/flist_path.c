/* flist_path.c - cleaning of archive and directory entry names into the
 * writer's path form (flist_path_clean, declared in flist.h).
 *
 * The rule (ARCHITECTURE.md "Names and paths"): leading '/' and empty or "."
 * components are dropped, ".." removes the previous component, and a ".."
 * with nothing left to remove climbs above the root, which refuses the
 * entry. The result is relative, has no empty, "." or ".." component and no
 * leading or trailing '/'; the root itself is "".
 */
#include "flist.h"

#include <string.h>

/* Cleans `in` into `out`, which has room for strlen(in)+1 bytes (the result
 * is never longer than the input) and must not overlap `in`. Returns 0, or
 * -1 with "entry '<in>' climbs above the root" (out then holds an
 * unspecified prefix). */
int flist_path_clean(const char *in, char *out, hub_err *err)
{
    size_t len = strlen(in);
    size_t r = 0;   /* read position in in */
    size_t w = 0;   /* write position in out (length of the result) */

    while (r < len) {
        /* the component in[r, r + clen) */
        const char *slash = memchr(in + r, '/', len - r);
        size_t clen = slash ? (size_t)(slash - (in + r)) : len - r;

        if (clen == 0 || (clen == 1 && in[r] == '.')) {
            /* empty or ".": skipped */
        } else if (clen == 2 && in[r] == '.' && in[r + 1] == '.') {
            if (w == 0)
                return hub_err_setc(err, HUB_E_INVALID, "entry '%s' climbs above the root", in);
            /* drop the last component and its separator */
            while (w > 0 && out[w - 1] != '/')
                w--;
            if (w > 0)
                w--;
        } else {
            if (w > 0)
                out[w++] = '/';
            memcpy(out + w, in + r, clen);
            w += clen;
        }
        r += clen + 1;   /* past the component and its '/' */
    }
    out[w] = '\0';
    return 0;
}
