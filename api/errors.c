/* errors.c - status codes to HTTP statuses (errors.h). */
#include "errors.h"

int api_status_of(hub_code code)
{
    switch (code) {
    case HUB_E_INVALID:
        return 400;
    case HUB_E_UNAUTHORIZED:
        return 401;
    case HUB_E_FORBIDDEN:
        return 403;
    case HUB_E_NOT_FOUND:
        return 404;
    case HUB_E_EXISTS:
    case HUB_E_LOST:
        return 409;
    case HUB_E_TOO_LARGE:
        return 413;
    case HUB_E_UNAVAILABLE:
        return 503;
    default:
        return 500;
    }
}

enum MHD_Result api_fail(api_req *r, const hub_err *err)
{
    return api_error(r, api_status_of(err->code), err->msg);
}
