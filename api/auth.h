/* auth.h - authentication of the hub's requests (HUB-API.md §12), as pure
 * functions: no HTTP, no sockets. The api feeds it header and cookie values
 * and turns the results into replies.
 *
 * What it covers:
 *  - the API gate of §12.4 (readonly, authentication off, hub tokens, JWTs,
 *    guest token), with the `active-user` cookie and virtual users (§12.5),
 *    fixing D28 (optional maximum token age), D29 (every request verified,
 *    no session for API calls) and D30 (guest token compared first);
 *  - hub-issued API tokens (§12.3): the original's exact format, so tokens
 *    the original minted keep working and ours work on the original;
 *  - itsyou.online-style JWTs (§12.6) through libjwt 1.10, with the header's
 *    `alg` checked against the configured keys BEFORE verification (libjwt
 *    trusts the header) and `exp`/`nbf`/`iat`/`aud` checked here (libjwt
 *    checks none of them);
 *  - signed cookie values (HMAC-SHA256, configured key) for web sessions and
 *    the login state, so any api instance accepts them (D33, D26);
 *  - the ThreeFold Connect login: redirect URL, callback verification
 *    (§12.2 steps 1-8, with D25, D26 and D27 fixed).
 *
 * An auth_ctx is immutable after auth_ctx_new: share it between threads.
 * Secrets are given as hex or base64 text (ARCHITECTURE.md "Interfaces").
 */
#ifndef AUTH_H
#define AUTH_H

#include <stddef.h>

#include "hub_err.h"

/* Seconds a hub token may claim to be issued in the future: another api
 * replica signed it with a clock slightly ahead. Expiries get no leeway. */
#define AUTH_REPLICA_SKEW_S 2

/* Longest user / repository name the module handles (bytes, without NUL). */
#define AUTH_USER_MAX 255

/* The user every request acts as when authentication is off (§12.1). */
#define AUTH_ADMINISTRATOR "Administrator"
/* The user of the guest token (§12.6). */
#define AUTH_GUEST "guest"

/* One public key for JWT verification. alg is the only algorithm a token
 * verified with this key may carry in its header: one of "ES256", "ES384",
 * "ES512", "RS256", "RS384", "RS512" (asymmetric only; "none" and the HS*
 * family are always refused). pem is a PEM public key ("-----BEGIN PUBLIC
 * KEY-----..."). itsyou.online tokens are ES384. */
typedef struct auth_jwt_key {
    const char *alg;
    const char *pem;
} auth_jwt_key;

/* One entry of `threebot-users-map`: virtual repository name -> the
 * threebot user allowed to act as it (§12.5). */
typedef struct auth_virtual_user {
    const char *name;
    const char *user;
} auth_virtual_user;

/* The configuration, as the api/worker configuration loader has it. All
 * strings are copied by auth_ctx_new; NULL and "" mean "not set". */
typedef struct auth_settings {
    int enabled;                  /* `authentication` (0: everyone is Administrator) */
    int readonly;                 /* `readonly`: the API gate answers 400 first */
    const char *token_seed;       /* `threebot-seed`: 32 bytes, hex (64 digits) or
                                     base64 (standard or URL-safe, padding optional).
                                     Required when enabled. */
    long long token_max_age;      /* seconds a hub token stays valid after its
                                     issued-at; 0 = forever (the original, D28) */
    const char *threebot_privatekey; /* `threebot-privatekey`: 32-byte X25519 key,
                                     hex or base64; needed only for the ThreeFold
                                     Connect login (auth_tfc_*) */
    const char *threebot_appid;   /* `threebot-appid` (the hub's host name) */
    const char *session_key;      /* key of the signed cookies, hex or base64, at
                                     least 32 bytes. NULL: derived from token_seed
                                     (BLAKE2b keyed, domain-separated), so all
                                     instances with one config agree. */
    const char *guest_token;      /* `guest-token`; NULL/"" = no guest access */
    const auth_jwt_key *jwt_keys; /* JWT verification keys (may be 0 of them: */
    size_t n_jwt_keys;            /*   then every JWT is refused "invalid token") */
    long long jwt_leeway;         /* seconds of clock skew allowed on exp/nbf/iat */
    const auth_virtual_user *users_map; /* `threebot-users-map` */
    size_t n_users_map;
    const char *const *official;  /* `official-repositories` (ignored when auth */
    size_t n_official;            /*   is off: then only Administrator, §12.1) */
} auth_settings;

typedef struct auth_ctx auth_ctx;

/* Validates and copies the settings (decodes the seed and keys, parses every
 * PEM key, checks every alg). Returns NULL with err naming the bad setting
 * ("threebot-seed: must be 32 bytes (64 hex digits or base64)", "jwt key 2:
 * alg HS256 is not allowed", ...). Free with auth_ctx_free. */
auth_ctx *auth_ctx_new(const auth_settings *s, hub_err *err);

/* Frees (wiping secrets). NULL ok. */
void auth_ctx_free(auth_ctx *a);

/* Is repo an official repository (§11.7)? With authentication off only
 * "Administrator" is. Returns 1 or 0. */
int auth_is_official(const auth_ctx *a, const char *repo);

/* How a request was authenticated. */
typedef enum auth_via {
    AUTH_VIA_NONE = 0,      /* refused */
    AUTH_VIA_DISABLED,      /* authentication off: Administrator */
    AUTH_VIA_HUB_TOKEN,     /* Ed25519 hub token (§12.3) */
    AUTH_VIA_JWT,           /* JWT verified with a configured key (§12.6) */
    AUTH_VIA_GUEST,         /* the guest token */
    AUTH_VIA_SESSION,       /* signed web session cookie */
} auth_via;

/* The outcome of a gate. On success status = 0 and message = NULL; on
 * refusal status is the HTTP status and message the exact text of the reply
 * (a static string; the api wraps it as F-JSON {"message","status":"error"}
 * for the API gate). */
typedef struct auth_result {
    int status;
    const char *message;
    auth_via via;
    char user[AUTH_USER_MAX + 1];     /* effective user = the repository "me" */
    char identity[AUTH_USER_MAX + 1]; /* who authenticated (token/JWT user), before
                                         active-user / virtual-user mapping */
    long long issued_at;              /* hub token: its issued-at; JWT: iat or 0 */
} auth_result;

/* The API gate of §12.4 for /api/flist/me... routes.
 *   authorization: the Authorization header value (NULL = absent);
 *   active_user:   the `active-user` cookie value (NULL = absent);
 *   now:           the current unix time (seconds).
 * Order: readonly -> 400 "readonly mode"; authentication off ->
 * Administrator; no/empty header -> 401 "no authorization provided";
 * "Bearer <guest token>" -> guest (D30, constant-time compare); header with
 * a "." -> JWT: no bearer token 401 "could not authenticate", bad JWT 403
 * "invalid token"; not "bearer <t>" (case-insensitive, one space) -> 400
 * "invalid authorization header"; bad hub token 401 "invalid signature";
 * hub token older than token_max_age (or issued more than jwt_leeway in the
 * future), or past its own expiry (auth_token_issue_until) -> 401 "token
 * expired" (new, D28). Then the active-user rule:
 * hub token -> the cookie if it is a virtual user mapped to the token's user;
 * JWT -> the cookie if it is one of the accounts (username + the third field
 * of each "a:b:c" scope); guest -> only "guest".
 * Returns 0 (authenticated, out filled) or -1 (refused, out->status and
 * out->message set). Never fails otherwise. */
int auth_api_gate(const auth_ctx *a, const char *authorization,
                  const char *active_user, long long now, auth_result *out);

/* Verifies a hub token (the text after "Bearer "), §12.3, with the max-age
 * rule and the token's own expiry (a third element, when present: an
 * integer, and now <= it + jwt_leeway). Returns 0 with out->identity = out->user = the token's user and
 * out->issued_at, or -1 with 401 "invalid signature" / "token expired". */
int auth_token_verify(const auth_ctx *a, const char *token, long long now,
                      auth_result *out);

/* Mints a hub token for user issued at `now`: URL-safe base64 with padding
 * of Ed25519-sig(m) || m, m = the E-JSON text ["<user>", <now>] (§12.3).
 * Returns a malloc'ed string (caller frees) or NULL with err (no seed
 * configured, empty or overlong user, allocation). */
char *auth_token_issue(const auth_ctx *a, const char *user, long long now,
                       hub_err *err);

/* As auth_token_issue, with an expiry: expires (unix seconds, > now) is
 * written as a third element, m = ["<user>", <now>, <expires>], and
 * auth_token_verify refuses the token after it ("token expired"), whatever
 * token_max_age says (which still applies to <now>). The original hub reads
 * element 0 only, so it accepts such a token without an expiry. expires = 0:
 * no expiry (same as auth_token_issue). NULL with err also when expires <=
 * now. */
char *auth_token_issue_until(const auth_ctx *a, const char *user, long long now,
                             long long expires, hub_err *err);

/* Verifies a JWT (no "Bearer ") against the configured keys: the header alg
 * must equal the alg of a configured key, the signature must verify with
 * that key, exp must be present and in the future, nbf/iat not in the future
 * (leeway applied), no aud claim, `username` a non-empty string, `scope`
 * absent or an array of strings. Returns 0 with out->identity/user =
 * username and via = AUTH_VIA_JWT, or -1 with 403 "invalid token". On
 * success, if accounts is not NULL it receives a malloc'ed NULL-terminated
 * array of malloc'ed account names (username first), freed with
 * auth_accounts_free. */
int auth_jwt_verify(const auth_ctx *a, const char *jwt, long long now,
                    auth_result *out, char ***accounts);

/* The building blocks of auth_jwt_verify, usable without an auth_ctx
 * (auth_jwt.c). auth_jwt_key_check: 0 when alg is allowed ("ES256",
 * "ES384", "ES512", "RS256", "RS384", "RS512") and pem parses as a public
 * key of that family (EC on the matching curve, RSA >= 2048 bits), else -1
 * with err. auth_jwt_check: the checks of auth_jwt_verify against keys[n];
 * on success 0 with user (AUTH_USER_MAX+1 bytes), *iat (0 when absent) and
 * *accounts as above (when not NULL); -1 otherwise, with a reason in err
 * (for logs; the client only ever sees "invalid token"). */
int auth_jwt_key_check(const char *alg, const char *pem, hub_err *err);
int auth_jwt_check(const char *jwt, const auth_jwt_key *keys, size_t n,
                   long long now, long long leeway,
                   char user[AUTH_USER_MAX + 1], long long *iat,
                   char ***accounts, hub_err *err);

/* Frees an accounts array of auth_jwt_verify. NULL ok. */
void auth_accounts_free(char **accounts);

/* Applies the threebot virtual-user rule (§12.5) to a user that came from a
 * hub token or (D32 fixed) a threebot web session: returns active_user when
 * it is a key of the users map whose value equals user, else user. The
 * returned pointer is one of the two arguments. */
const char *auth_virtual_user_apply(const auth_ctx *a, const char *user,
                                    const char *active_user);

/* ---- signed cookie values (web sessions, login state) ----
 * A value is base64url("<purpose-free payload>|<expiry>|<nonce>") "."
 * base64url(HMAC-SHA256(session key, purpose || 0x00 || payload-text)).
 * The purpose ("session", "state", ...) binds a value to its use, so a state
 * cookie is never accepted as a session. */

/* Longest signed value auth_cookie_sign produces for a 255-byte payload. */
#define AUTH_COOKIE_MAX 512

/* Signs value (1..AUTH_USER_MAX bytes, any bytes but NUL) for purpose, valid
 * until now + ttl seconds. Writes a NUL-terminated cookie-safe string
 * ([A-Za-z0-9_.-]) into out (size n >= AUTH_COOKIE_MAX). Returns 0 or -1 with
 * err. */
int auth_cookie_sign(const auth_ctx *a, const char *purpose, const char *value,
                     long long ttl, long long now, char *out, size_t n,
                     hub_err *err);

/* Verifies a cookie value of auth_cookie_sign (constant-time MAC compare)
 * for purpose and expiry. Returns 0 with the value in out (size n), or -1
 * with err ("bad signature", "expired", "malformed"). */
int auth_cookie_verify(const auth_ctx *a, const char *purpose,
                       const char *cookie, long long now, char *out, size_t n,
                       hub_err *err);

/* The web session gate of §12.8 steps 1-4 from the session cookie value
 * (NULL = none). Returns 0 with out->user (virtual-user rule applied with
 * active_user, D32) and via = AUTH_VIA_SESSION, or Administrator when
 * authentication is off; -1 when the api must redirect: out->status = 302
 * and out->message = "/readonly" or "/login-method". */
int auth_session_gate(const auth_ctx *a, const char *session_cookie,
                      const char *active_user, long long now,
                      auth_result *out);

/* ---- ThreeFold Connect login (§12.2) ---- */

/* A fresh login state: 32 random characters of [A-Za-z0-9] + NUL. */
void auth_tfc_state_new(char state[33]);

/* The login redirect: <login_url>/?appid=..&publickey=..&state=..
 * &redirecturl=<redirect_path>&scope=%7B%7D, form-encoded in the original's
 * order. login_url is e.g. "https://login.threefold.me" (no trailing "/").
 * Returns a malloc'ed string or NULL with err (no threebot private key
 * configured). */
char *auth_tfc_login_url(const auth_ctx *a, const char *login_url,
                         const char *redirect_path, const char *state,
                         hub_err *err);

/* Step 1: the reply text for an `error` query parameter:
 * "Authentication failed: <percent-encoded error>" (unreserved and "/"
 * kept). Writes into out (size n, truncating). */
void auth_tfc_error_message(const char *error, char *out, size_t n);

/* Steps 2-3: extracts doubleName from the `signedAttempt` query parameter
 * (JSON {"doubleName": <user>, "signedAttempt": <b64>}) so the api can fetch
 * the user's public key (GET <login>/api/users/<doubleName>, percent-encode
 * it in the URL). Returns 0, or -1 with out->status 400 and out->message
 * "Invalid request." (D25: no 500). double_name has AUTH_USER_MAX+1 bytes. */
int auth_tfc_double_name(const char *signed_attempt_param,
                         char double_name[AUTH_USER_MAX + 1],
                         auth_result *out);

/* Steps 5-8 with the user's Ed25519 public key (publicKey of the login
 * server's reply: standard base64 of 32 bytes) and the state this login
 * started with (from the signed state cookie; NULL or "" refuses, D26):
 * verifies the signature (400 "Unable to verify state signature, denied."),
 * the signed message's signedState equals expected_state and, when an appid
 * is configured, appId equals it (400 "Invalid state received. Cannot
 * authenticate request!"), decrypts data.ciphertext/data.nonce with the hub's
 * X25519 key (400 "Unable to decrypt payload, denied."), and when the
 * plaintext has a non-null email, requires email.verified to be true or a
 * non-empty string (400 "Email unverified, access denied.", D27). A missing
 * or malformed member gives 400 "Invalid request." (D25). Returns 0 with
 * out->user = out->identity = doubleName, or -1. */
int auth_tfc_verify(const auth_ctx *a, const char *signed_attempt_param,
                    const char *user_public_key_b64, const char *expected_state,
                    auth_result *out);

#endif
