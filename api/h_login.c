/* h_login.c - the ThreeFold Connect login (HUB-API.md §12.2) and tokens:
 * /login and /token redirect to the configured login server with a state
 * kept in a signed cookie (D26); the callbacks fetch the user's public key
 * from the login server (libcurl) and verify with auth.h; /callback_threebot
 * opens a signed web session (any instance accepts it, D33),
 * /callback_token mints an API token and shows it at /token/<token>.
 * The itsyou.online routes (/login-iyo, /_iyo_callback, §12.6) answer 410:
 * that service has been shut down. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "handlers.h"
#include "log.h"

#define STATE_COOKIE "hub-login-state"
#define SESSION_COOKIE "hub-session"
#define SESSION_TTL (7 * 24 * 3600)
#define IYO_GONE "itsyou.online login is not available: itsyou.online has been shut down. " \
                 "Log in with ThreeFold Connect (/login), or use an API token (/token)."

static enum MHD_Result plain(api_req *r, int status, const char *text)
{
    return api_text(r, status, "text/html; charset=utf-8", text, strlen(text));
}

static enum MHD_Result start_login(api_req *r, const char *callback)
{
    hub_err err = {0};
    char state[33], cookie_val[AUTH_COOKIE_MAX], cookie[AUTH_COOKIE_MAX + 128];
    auth_tfc_state_new(state);
    if (auth_cookie_sign(r->srv->auth, "state", state, 600, api_unix_now(), cookie_val, sizeof cookie_val,
                         &err) < 0)
        return plain(r, 500, err.msg);
    char *url = auth_tfc_login_url(r->srv->auth, r->srv->cfg.threebot_login_url, callback, state, &err);
    if (!url)
        return plain(r, 500, err.msg);
    snprintf(cookie, sizeof cookie, STATE_COOKIE "=%s; HttpOnly; Path=/; Max-Age=600; SameSite=Lax",
             cookie_val);
    enum MHD_Result ret = api_redirect(r, url, cookie);
    free(url);
    return ret;
}

/* HUB-API.md §12.6 makes the itsyou.online login optional, and the service
 * has been shut down: a clear refusal instead of a silent 404. */
enum MHD_Result h_iyo_gone(api_req *r)
{
    return plain(r, 410, IYO_GONE);
}

enum MHD_Result h_login(api_req *r)
{
    return start_login(r, "/callback_threebot");
}

enum MHD_Result h_login_token(api_req *r)
{
    return start_login(r, "/callback_token");
}

typedef struct membuf {
    char *p;
    size_t len;
} membuf;

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    membuf *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > 65536)
        return 0;
    char *np = realloc(b->p, b->len + n + 1);
    if (!np)
        return 0;
    memcpy(np + b->len, data, n);
    b->len += n;
    np[b->len] = '\0';
    b->p = np;
    return n;
}

/* GET <login>/api/users/<doubleName> -> publicKey (malloc'ed) or NULL. */
static char *fetch_public_key(api_server *s, const char *user)
{
    CURL *c = curl_easy_init();
    if (!c)
        return NULL;
    char *esc = curl_easy_escape(c, user, 0);
    char *url = NULL;
    membuf b = {NULL, 0};
    char *key = NULL;
    if (esc && asprintf(&url, "%s/api/users/%s", s->cfg.threebot_login_url, esc) >= 0) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        long code = 0;
        CURLcode rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        if (rc == CURLE_OK && code == 200 && b.p) {
            json_t *v = json_loads(b.p, 0, NULL);
            const char *pk = json_string_value(json_object_get(v, "publicKey"));
            if (pk)
                key = strdup(pk);
            json_decref(v);
        } else {
            log_warn("login server %s: %s (HTTP %ld)", url, curl_easy_strerror(rc), code);
        }
    }
    free(b.p);
    free(url);
    curl_free(esc);
    curl_easy_cleanup(c);
    return key;
}

/* Steps 1-8 of the callback. Returns 1 with out->user on success, else
 * replied (ret). */
static int verify_callback(api_req *r, auth_result *out, enum MHD_Result *ret)
{
    char error[1024], msg[1200];
    char *attempt = malloc(65536);
    if (!attempt) {
        *ret = api_page(r, 500);
        return 0;
    }
    if (api_query(r, "error", error, sizeof error)) {
        auth_tfc_error_message(error, msg, sizeof msg);
        *ret = plain(r, 400, msg);
        free(attempt);
        return 0;
    }
    if (!api_query(r, "signedAttempt", attempt, 65536)) {
        *ret = plain(r, 400, "Invalid request."); /* D25 */
        free(attempt);
        return 0;
    }
    char user[AUTH_USER_MAX + 1];
    if (auth_tfc_double_name(attempt, user, out) < 0) {
        *ret = plain(r, out->status, out->message);
        free(attempt);
        return 0;
    }
    char *pk = fetch_public_key(r->srv, user);
    if (!pk) {
        *ret = plain(r, 502, "Cannot reach the login server.");
        free(attempt);
        return 0;
    }
    char state[64] = "";
    const char *sc = api_cookie(r, STATE_COOKIE);
    hub_err err;
    if (!sc || auth_cookie_verify(r->srv->auth, "state", sc, api_unix_now(), state, sizeof state, &err) < 0)
        state[0] = '\0';
    int rc = auth_tfc_verify(r->srv->auth, attempt, pk, state, out);
    free(pk);
    free(attempt);
    if (rc < 0) {
        *ret = plain(r, out->status, out->message);
        return 0;
    }
    return 1;
}

enum MHD_Result h_callback_threebot(api_req *r)
{
    auth_result res;
    enum MHD_Result ret;
    memset(&res, 0, sizeof res);
    if (!verify_callback(r, &res, &ret))
        return ret;
    hub_err err = {0};
    char val[AUTH_COOKIE_MAX], cookie[AUTH_COOKIE_MAX + 128];
    if (auth_cookie_sign(r->srv->auth, "session", res.user, SESSION_TTL, api_unix_now(), val, sizeof val,
                         &err) < 0)
        return plain(r, 500, err.msg);
    snprintf(cookie, sizeof cookie, SESSION_COOKIE "=%s; HttpOnly; Path=/; Max-Age=%d; SameSite=Lax", val,
             SESSION_TTL);
    return api_redirect(r, "/", cookie);
}

enum MHD_Result h_callback_token(api_req *r)
{
    auth_result res;
    enum MHD_Result ret;
    memset(&res, 0, sizeof res);
    if (!verify_callback(r, &res, &ret))
        return ret;
    hub_err err = {0};
    char *token = auth_token_issue(r->srv->auth, res.user, api_unix_now(), &err);
    if (!token)
        return plain(r, 500, err.msg);
    char *loc = NULL;
    int n = asprintf(&loc, "/token/%s", token);
    free(token);
    if (n < 0)
        return api_page(r, 500);
    ret = api_redirect(r, loc, NULL);
    free(loc);
    return ret;
}



enum MHD_Result h_session(api_req *r)
{
    auth_result res;
    memset(&res, 0, sizeof res);
    if (auth_session_gate(r->srv->auth, api_cookie(r, SESSION_COOKIE), api_cookie(r, "active-user"),
                          api_unix_now(), &res) < 0)
        return api_error(r, 401, "no web session");
    return api_success(r, json_pack("{s:s}", "username", res.user));
}
