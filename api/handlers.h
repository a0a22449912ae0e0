/* handlers.h - every route handler of flist-hub-api, grouped by file. The
 * route table (router.c) is the only place that maps URLs to them. */
#ifndef API_HANDLERS_H
#define API_HANDLERS_H

#include "api.h"

/* h_public.c: public read API (HUB-API.md §5) */
enum MHD_Result h_repositories(api_req *r);
enum MHD_Result h_flist_all(api_req *r);
enum MHD_Result h_fileslist(api_req *r);
enum MHD_Result h_repo_list(api_req *r);
enum MHD_Result h_tag_list(api_req *r);
enum MHD_Result h_inspect(api_req *r);
enum MHD_Result h_light(api_req *r);
enum MHD_Result h_taglink(api_req *r);
enum MHD_Result h_metadata(api_req *r);

/* h_files.c: downloads and text routes (§8) */
enum MHD_Result h_download(api_req *r);
enum MHD_Result h_download_tag(api_req *r);
enum MHD_Result h_md5(api_req *r);
enum MHD_Result h_txt(api_req *r);
enum MHD_Result h_json(api_req *r);

/* h_me.c: authenticated repository changes (§6.1-§6.8) */
enum MHD_Result h_me(api_req *r);
enum MHD_Result h_me_name(api_req *r);
enum MHD_Result h_me_link(api_req *r);
enum MHD_Result h_me_crosslink(api_req *r);
enum MHD_Result h_me_crosstag(api_req *r);
enum MHD_Result h_me_tag(api_req *r);
enum MHD_Result h_me_rename(api_req *r);
enum MHD_Result h_me_promote(api_req *r);

/* h_jobs.c: uploads, merge, docker (§6.9-§6.12), job status and events */
enum MHD_Result h_upload(api_req *r);
enum MHD_Result h_upload_flist(api_req *r);
enum MHD_Result h_merge(api_req *r);
enum MHD_Result h_docker(api_req *r);
enum MHD_Result h_job_status(api_req *r);
enum MHD_Result h_listen(api_req *r);

/* h_ops.c: operations */
enum MHD_Result h_healthz(api_req *r);
enum MHD_Result h_readyz(api_req *r);
enum MHD_Result h_metrics(api_req *r);
enum MHD_Result h_openapi(api_req *r);

/* h_login.c: ThreeFold Connect login and tokens (§12.2, §12.3) */
enum MHD_Result h_login(api_req *r);
enum MHD_Result h_login_token(api_req *r);
enum MHD_Result h_callback_threebot(api_req *r);
enum MHD_Result h_callback_token(api_req *r);
enum MHD_Result h_session(api_req *r);
/* /login-iyo and /_iyo_callback (§12.6): 410 with a plain-text message,
 * in every authentication mode (itsyou.online has been shut down). */
enum MHD_Result h_iyo_gone(api_req *r);

/* web_pages.c, web_forms.c, web_static.c: the web application (web.h) */
enum MHD_Result h_web_home(api_req *r);
enum MHD_Result h_web_search(api_req *r);
enum MHD_Result h_web_repo(api_req *r);
enum MHD_Result h_web_tag(api_req *r);
enum MHD_Result h_web_preview(api_req *r);
enum MHD_Result h_web_form(api_req *r);
enum MHD_Result h_web_upload(api_req *r);
enum MHD_Result h_web_upload_flist(api_req *r);
enum MHD_Result h_web_merge(api_req *r);
enum MHD_Result h_web_docker(api_req *r);
enum MHD_Result h_web_login_method(api_req *r);
enum MHD_Result h_web_readonly(api_req *r);
enum MHD_Result h_web_logout(api_req *r);
enum MHD_Result h_web_static(api_req *r);
enum MHD_Result h_api_search(api_req *r);
/* /token/<token> (§12.3): the token and a curl example */
enum MHD_Result h_token_page(api_req *r);

#endif
