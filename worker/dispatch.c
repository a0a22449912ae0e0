/* dispatch.c - a job to the function of its kind (dispatch.h). */
#include "dispatch.h"

int dispatch_job(job_ctx *c, json_t **result, json_t **final_event, hub_err *err)
{
    *result = NULL;
    *final_event = NULL;
    if (!json_is_object(c->input))
        return hub_err_setc(err, HUB_E_INVALID, "job input is not a JSON object");
    switch (c->kind) {
    case JOBMSG_UPLOAD:
        return job_upload(c, result, final_event, err);
    case JOBMSG_UPLOAD_FLIST:
        return job_upload_flist(c, result, final_event, err);
    case JOBMSG_MERGE:
        return job_merge(c, result, final_event, err);
    case JOBMSG_DOCKER:
        return job_docker(c, result, final_event, err);
    default:
        return hub_err_setc(err, HUB_E_INVALID, "job type \"%s\" is not supported by this worker",
                            jobmsg_kind_name(c->kind));
    }
}
