/* request.h - the life of an api_req beside its accessors (api.h): the
 * server daemon splits the path when a request starts and frees the
 * request when it completes. */
#ifndef API_REQUEST_H
#define API_REQUEST_H

#include "api.h"

/* Splits and decodes the path into r->path and r->segs (one trailing slash
 * ignored; a decoded NUL sets r->has_nul). Returns 0, or -1 when it has
 * too many segments or memory runs out (the server answers 404). */
int request_split_path(api_req *r, const char *url);

/* Frees r and what it holds (segments, body, upload spool unless kept,
 * its reference to a job wait). NULL ok. */
void request_free(api_req *r);

#endif
