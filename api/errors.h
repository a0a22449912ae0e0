/* errors.h - the one place where the tree's status codes (hub_err.h)
 * become HTTP statuses. Handlers answer a failure with api_fail; nothing
 * below the api knows HTTP. */
#ifndef API_ERRORS_H
#define API_ERRORS_H

#include "api.h"

/* The HTTP status of a code: invalid 400, unauthorized 401, forbidden 403,
 * not found 404, exists 409, too large 413, unavailable 503, lost 409,
 * anything else (failed, out of memory, refused by a backend) 500. */
int api_status_of(hub_code code);

/* {"status": "error", "message": err->msg} with api_status_of(err->code). */
enum MHD_Result api_fail(api_req *r, const hub_err *err);

#endif
