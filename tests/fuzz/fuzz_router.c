/* fuzz_router.c - libFuzzer target for the request path and the names in
 * it: request_split_path (split before percent-decoding, NUL detection,
 * the segment limit), router_match on every method with authentication on
 * and off (precedence, suffix variables, the Allow set), then what the
 * handlers do with the route's variables: the one name rule
 * (repo_name_check), N() (repo_flist_name), the reserved words; plus the
 * link-target cleaner (repo_clean_target) and the name rule on the raw
 * input. Oracles: a routed request has as many arguments as the route has
 * variables; a name the rule accepts has 1-255 bytes, no '/' or '\' and
 * no leading '.'; N() of an accepted name is accepted too and ends in
 * ".flist".
 *
 * Input: byte 0 picks the method (low 3 bits) and authentication (bit 3);
 * the rest is the URL path as libmicrohttpd hands it over (no query).
 * Corpus: tests/fuzz/corpus/router (one path per route of the table).
 */
#include "fuzz.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "repo.h"
#include "request.h"
#include "router.h"

static const char *const methods[8] = {"GET", "HEAD", "POST", "DELETE",
                                       "INFO", "OPTIONS", "PUT", "BREW"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    router_init();
    return 0;
}

static void check_name(const char *name)
{
    hub_err err;
    char out[REPO_NAME_MAX + 1];
    int ok = repo_name_check(name, "name", &err) == 0;
    size_t len = strlen(name);
    if (ok && (len < 1 || len > REPO_NAME_MAX || name[0] == '.' || strchr(name, '/') ||
               strchr(name, '\\')))
        abort();   /* the rule of repo.h, whatever the implementation */
    (void)repo_name_reserved(name);
    if (repo_flist_name(name, "name", out, &err) == 0) {
        size_t n = strlen(out);
        if (!ok || n < 6 || n > REPO_NAME_MAX || strcmp(out + n - 6, ".flist") != 0 ||
            repo_name_check(out, "name", &err) != 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *url = malloc(size);
    if (!url)
        return 0;
    memcpy(url, data + 1, size - 1);
    url[size - 1] = '\0';   /* MHD's URL is a C string: stops at a NUL */

    api_req *r = calloc(1, sizeof *r);
    if (!r) {
        free(url);
        return 0;
    }
    r->method = methods[data[0] & 7];
    int auth = (data[0] >> 3) & 1;
    unsigned allow = 0;
    if (request_split_path(r, url) == 0) {
        int rc = router_match(r, auth, &allow);
        char hdr[128];
        router_allow_header(allow, hdr, sizeof hdr);
        if (rc == 0) {
            if (!r->route || strcmp(r->method, "OPTIONS") == 0)
                abort();
            int vars = 0;
            for (int i = 0; i < r->route->nsegs; i++)
                vars += r->route->seg_lit[i] == NULL;
            if (r->nargs != vars)
                abort();
            for (int i = 0; i < r->nargs; i++)
                check_name(r->args[i]);
        } else if (rc != 404 && rc != 405) {
            abort();
        }
    }
    request_free(r);

    check_name(url);
    char *clean = repo_clean_target(url);
    if (clean)
        check_name(clean);
    free(clean);
    free(url);
    return 0;
}
